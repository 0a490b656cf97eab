#include "rack/cpu_limit.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace rack::cpu {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

std::optional<long long> number(std::string_view s) {
  s = trim(s);
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "/a/b/c" -> "/a/b/c", "/a/b", "/a", "" : the cgroup and its ancestors.
std::vector<std::string> up_from(std::string path) {
  std::vector<std::string> out;
  while (!path.empty() && path.back() == '/') path.pop_back();
  for (;;) {
    out.push_back(path);
    if (path.empty()) break;
    path.resize(path.rfind('/'));
  }
  return out;
}

std::optional<double> v2_quota(std::string_view text) {
  text = trim(text);
  auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view quota = text.substr(0, space);
  if (quota == "max") return std::nullopt;
  auto q = number(quota), p = number(text.substr(space + 1));
  if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;
  return static_cast<double>(*q) / static_cast<double>(*p);
}

std::optional<double> tighter(std::optional<double> a, std::optional<double> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

}  // namespace

std::optional<double> cgroup_quota(const ReadFile& read, const std::string& root) {
  auto self = read("/proc/self/cgroup");
  if (!self) return std::nullopt;
  std::optional<double> best;
  std::istringstream lines(*self);
  for (std::string line; std::getline(lines, line);) {
    // hierarchy-ID:controller-list:path
    auto c1 = line.find(':'), c2 = line.find(':', c1 == std::string::npos ? 0 : c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::string path = line.substr(c2 + 1);
    if (line.compare(0, c1, "0") == 0 && controllers.empty()) {
      for (const auto& dir : up_from(path))
        if (auto text = read(root + dir + "/cpu.max")) best = tighter(best, v2_quota(*text));
      continue;
    }
    std::string list = "," + controllers + ",";
    if (list.find(",cpu,") == std::string::npos) continue;
    // v1: the cpu controller is mounted as cpu,cpuacct (Debian) or cpu.
    for (const std::string& mount : {controllers, std::string("cpu"), std::string("cpu,cpuacct")}) {
      bool found = false;
      for (const auto& dir : up_from(path)) {
        auto quota = read(root + "/" + mount + dir + "/cpu.cfs_quota_us");
        auto period = read(root + "/" + mount + dir + "/cpu.cfs_period_us");
        if (!quota || !period) continue;
        found = true;
        auto q = number(*quota), p = number(*period);
        if (q && p && *q > 0 && *p > 0) best = tighter(best, static_cast<double>(*q) / static_cast<double>(*p));
      }
      if (found) break;
    }
  }
  return best;
}

unsigned effective(unsigned affinity_cpus, std::optional<double> quota) {
  unsigned n = std::max(1u, affinity_cpus);
  if (quota && *quota > 0) n = std::min(n, static_cast<unsigned>(std::ceil(*quota - 1e-9)));
  return std::max(1u, n);
}

unsigned usable() {
  unsigned affinity = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) affinity = static_cast<unsigned>(CPU_COUNT(&set));
  if (affinity == 0) affinity = std::max(1u, std::thread::hardware_concurrency());
  ReadFile real = [](const std::string& path) -> std::optional<std::string> {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  return effective(affinity, cgroup_quota(real));
}

}  // namespace rack::cpu
