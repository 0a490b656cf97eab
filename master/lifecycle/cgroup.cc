#include "lifecycle/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

namespace rack::master::cgroup {

namespace {

std::string g_base;
// The same path for the child after fork, which may not allocate.
char g_base_c[4096];
bool g_enabled = false;
std::set<pid_t> g_pending;  // w<pid> directories to remove once empty

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string worker_dir(pid_t pid) { return g_base + "/w" + std::to_string(pid); }

bool write_file(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

bool populated(const std::string& dir) {
  return read_all(dir + "/cgroup.events").find("populated 1") != std::string::npos;
}

// Removes the empty w* directories under the base (a dead rackd's).
void remove_children() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(g_base, ec))
    if (e.is_directory() && e.path().filename().string().starts_with("w")) ::rmdir(e.path().c_str());
}

}  // namespace

std::optional<Mount> find_mount(std::string_view mountinfo) {
  std::istringstream in{std::string(mountinfo)};
  for (std::string line; std::getline(in, line);) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream after(line.substr(dash + 3));
    std::string fstype;
    after >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream before(line.substr(0, dash));
    std::string id, parent, devno, root, point;
    if (!(before >> id >> parent >> devno >> root >> point)) continue;
    return Mount{point, root};
  }
  return std::nullopt;
}

std::optional<std::string> own_path(std::string_view proc_cgroup) {
  std::istringstream in{std::string(proc_cgroup)};
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("0::")) return line.substr(3);
  return std::nullopt;
}

std::string dir_name(std::string_view home) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : home) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char out[32];
  std::snprintf(out, sizeof out, "rack-%016llx", static_cast<unsigned long long>(h));
  return out;
}

std::string setup(const std::string& home, Leftovers leftovers) {
  const char* kFallback = "; process groups only (guardian.h)";
  if (const char* e = std::getenv("RACK_CGROUP"); e && std::string_view(e) == "off")
    return std::string("cgroup: RACK_CGROUP=off") + kFallback;
  auto mount = find_mount(read_all("/proc/self/mountinfo"));
  if (!mount) return std::string("cgroup: no cgroup2 mounted") + kFallback;
  auto own = own_path(read_all("/proc/self/cgroup"));
  if (!own) return std::string("cgroup: rackd is in no cgroup v2 (/proc/self/cgroup)") + kFallback;
  // The path is relative to the hierarchy's root; the mount may show a subtree of it.
  std::string rel = *own;
  if (mount->root != "/") {
    if (!rel.starts_with(mount->root)) return "cgroup: rackd's cgroup " + rel + " is outside the mount" + kFallback;
    rel = rel.substr(mount->root.size());
  }
  std::string base = mount->point + (rel == "/" ? "" : rel) + "/" + dir_name(std::filesystem::absolute(home).string());
  if (base.size() + 32 >= sizeof g_base_c) return "cgroup: path too long" + std::string(kFallback);
  if (::mkdir(base.c_str(), 0755) != 0 && errno != EEXIST)
    return "cgroup: cannot create " + base + " (" + std::strerror(errno) + ")" + kFallback;
  if (::access((base + "/cgroup.kill").c_str(), W_OK) != 0)
    return "cgroup: " + base + "/cgroup.kill not writable (" + std::strerror(errno) + ", Linux >= 5.14 has it)" +
           kFallback;
  g_base = base;
  std::memcpy(g_base_c, base.c_str(), base.size() + 1);
  g_enabled = true;
  std::string line = "process trees: one cgroup per worker under " + base;
  if (leftovers == Leftovers::End && populated(base)) {
    // Only processes a rackd of this RACK_HOME put there.
    write_file(base + "/cgroup.kill", "1");
    line += "; killed what a previous rackd left in it";
  }
  remove_children();
  return line;
}

bool enabled() { return g_enabled; }
const std::string& base() { return g_base; }

void join_self() {
  if (!g_enabled) return;
  char path[sizeof g_base_c + 48];
  std::size_t n = std::strlen(g_base_c);
  std::memcpy(path, g_base_c, n);
  path[n++] = '/';
  path[n++] = 'w';
  // The pid by hand: snprintf is not async-signal-safe.
  char digits[16];
  int d = 0;
  for (pid_t p = ::getpid(); p > 0; p /= 10) digits[d++] = static_cast<char>('0' + p % 10);
  while (d > 0) path[n++] = digits[--d];
  path[n] = '\0';
  if (::mkdir(path, 0755) != 0 && errno != EEXIST) return;
  std::memcpy(path + n, "/cgroup.procs", 14);
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)!::write(fd, "0", 1);
  ::close(fd);
}

void started(pid_t pid) { g_pending.erase(pid); }

bool kill(pid_t pid) {
  if (!g_enabled || pid <= 0) return false;
  std::string dir = worker_dir(pid);
  if (!populated(dir)) return false;
  return write_file(dir + "/cgroup.kill", "1");
}

void ended(pid_t pid) {
  if (!g_enabled || pid <= 0) return;
  if (kill(pid)) spdlog::info("pid {} ended; cgroup.kill to what was left in its cgroup", pid);
  g_pending.insert(pid);
  sweep();
}

void sweep() {
  for (auto it = g_pending.begin(); it != g_pending.end();) {
    std::string dir = worker_dir(*it);
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) {
      it = g_pending.erase(it);
    } else {
      if (errno == EBUSY && populated(dir)) write_file(dir + "/cgroup.kill", "1");
      ++it;
    }
  }
}

void teardown() {
  if (!g_enabled) return;
  sweep();
  remove_children();
  ::rmdir(g_base.c_str());
}

int open_kill_all() {
  if (!g_enabled) return -1;
  return ::open((g_base + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
}

}  // namespace rack::master::cgroup
