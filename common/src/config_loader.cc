#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "config_loader.h"
#include "rack/cpu_limit.h"

namespace rack::config::detail {

// The running system: where to look for programs and how many CPUs there are

// The directory of the running binary, so `run: [rack-hello]` finds the
// examples built next to rackd without anyone editing PATH.
std::string own_directory() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  return fs::path(std::string(buf, static_cast<std::size_t>(n))).parent_path().string();
}

// CPUs this process may run on: taskset and cpusets (which
// hardware_concurrency() ignores), capped by the cgroup's CPU quota.
unsigned usable_cpus() { return rack::cpu::usable(); }

bool is_executable_file(const fs::path& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

fs::path normal(const fs::path& p) {
  fs::path out = p.lexically_normal();
  // "/srv/app/" and "/srv/app" are one directory; keep one spelling.
  if (out.has_relative_path() && !out.has_filename()) out = out.parent_path();
  return out;
}


std::vector<Field> Loader::entries(const YAML::Node& map, const std::string& path, int depth) {
  std::vector<Field> own;
  std::vector<Field> merged;
  auto contains = [](const std::vector<Field>& v, const std::string& key) {
    return std::any_of(v.begin(), v.end(), [&](const Field& e) { return e.key == key; });
  };
  for (const auto& kv : map) {
    const YAML::Node& key = kv.first;
    std::string prefix = path.empty() ? "" : path + ".";
    if (!key.IsScalar()) {
      record(ConfigError(at(key, path), "expected a key name, got " + describe(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    if (name == "<<") {
      // yaml-cpp leaves merge keys to us. Keys written out in the map win over
      // merged ones, and earlier merge sources win over later ones.
      const YAML::Node& source = kv.second;
      std::vector<YAML::Node> sources;
      if (source.IsMap()) {
        sources.push_back(source);
      } else if (source.IsSequence()) {
        for (const auto& s : source) sources.push_back(s);
      }
      if (sources.empty() || depth >= kMaxMergeDepth ||
          std::any_of(sources.begin(), sources.end(), [](const YAML::Node& s) { return !s.IsMap(); })) {
        record(ConfigError(at(key, path), "expected a merge of maps (<<: *defaults), got " + describe(source)));
        continue;
      }
      for (const YAML::Node& s : sources) {
        for (Field& e : entries(s, path, depth + 1)) {
          if (!contains(merged, e.key)) merged.push_back(std::move(e));
        }
      }
      continue;
    }
    Field e{name, key, kv.second, prefix + name};
    auto first = std::find_if(own.begin(), own.end(), [&](const Field& o) { return o.key == name; });
    if (first != own.end()) {
      record(ConfigError(at(key, e.path), "duplicate key " + in_quotes(name) + " (first set at line " +
                                              std::to_string(at(first->key_node, "").line) + ")"));
      continue;
    }
    own.push_back(std::move(e));
  }
  for (Field& e : merged) {
    if (!contains(own, e.key)) own.push_back(std::move(e));
  }
  return own;
}

std::string Loader::unknown_key_message(const std::string& key,
                                        const std::vector<std::string_view>& known) {
  std::string message = "unknown key " + in_quotes(key);
  // The PM2 name first ("cmd" is one letter from "cwd" but means "run"), and
  // only where it would sit, i.e. among an app's keys.
  std::optional<std::string_view> hint = pm2_equivalent(key);
  if (hint && std::find(known.begin(), known.end(), hint->substr(0, hint->find('.'))) == known.end()) {
    hint = std::nullopt;
  }
  if (!hint) hint = closest(key, known);
  if (hint) message += " (did you mean \"" + std::string(*hint) + "\"?)";
  if (!hint && std::find(known.begin(), known.end(), "apps") != known.end()) {
    message += " (top-level keys are rack and apps; start a key with x- to hold YAML anchors)";
  }
  return message;
}

void Loader::throw_errors() {
  // Report in file order; errors without a position (line 0) go last.
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    auto key = [](const Location& l) { return std::pair(l.line == 0 ? INT32_MAX : l.line, l.column); };
    return key(a.where()) < key(b.where());
  });
  if (errors_.size() == 1) throw errors_.front();
  // One error per line, each complete; where() is the first one's.
  const ConfigError& first = errors_.front();
  std::string full = first.what();
  std::string prefix = first.where().str() + ": ";
  std::string message = full.rfind(prefix, 0) == 0 ? full.substr(prefix.size()) : full;
  std::size_t shown = std::min(errors_.size(), kMaxReportedErrors);
  for (std::size_t i = 1; i < shown; ++i) message += "\n" + std::string(errors_[i].what());
  if (errors_.size() > shown) {
    message += "\n... and " + std::to_string(errors_.size() - shown) + " more errors";
  }
  throw ConfigError(first.where(), message);
}

}  // namespace rack::config::detail
