// The ecosystem.yaml loader's insides, shared by its files (not installed):
//
//   config.cc         load_string, load_file, the top level (rack:, apps:)
//   config_app.cc     an app's keys, cross-key rules, run[0] lookup
//   config_loader.cc  Loader: walking maps (merge keys, unknown and
//                     duplicate keys), collecting and reporting errors
//   config_hints.cc   did-you-mean, PM2 key names, describing values
//   config_units.cc   durations, sizes, listen addresses
//
// The loader walks the YAML tree once, with one small setter per key (the
// tables in config_app.cc), and records every problem instead of stopping at
// the first: a user fixing a config wants to see all of its mistakes at once.
// Cross-key rules (listen vs protocol, run[0] lookup) run after an app's keys
// are read, and only on keys that parsed, so one typo does not cascade.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "rack/config.h"
#include "rack/date_format.h"

namespace rack::config::detail {

namespace fs = std::filesystem;

inline constexpr std::size_t kMaxFileBytes = 16u << 20;
inline constexpr std::size_t kMaxReportedErrors = 20;
inline constexpr uint64_t kMaxInstances = 4096;
inline constexpr int kMaxMergeDepth = 16;

// ---- config_hints.cc

// The candidate at most 2 edits from `word` (a swapped pair counts as one).
std::optional<std::string_view> closest(std::string_view word, const std::vector<std::string_view>& candidates);
// PM2 key names people will carry over, and where Rack keeps that setting.
std::optional<std::string_view> pm2_equivalent(std::string_view key);
// "\"text\"", cut at 60 characters.
std::string in_quotes(std::string_view s);
// What a node holds, for "expected X, got Y".
std::string describe(const YAML::Node& n);

template <class E>
std::string names_of(std::initializer_list<E> values) {
  std::string out;
  for (E v : values) {
    if (!out.empty()) out += ", ";
    out += to_string(v);
  }
  return out;
}


// ---- config_loader.cc: the running system

// The directory of the running binary, so `run: [rack-hello]` finds the
// examples built next to rackd without anyone editing PATH.
std::string own_directory();
// CPUs this process may run on: respects taskset and cpusets, which
// hardware_concurrency() does not.
unsigned usable_cpus();
bool is_executable_file(const fs::path& p);
// Lexically normal, without a trailing slash.
fs::path normal(const fs::path& p);

// ---- config_app.cc

using rack::config::valid_app_name;

// ---- config_traffic.cc: instances (a count or {min, max}), scale:, reload:

struct Field;
class Loader;
struct Seen;
void set_instances(Loader& l, AppConfig& a, const Field& f);
void set_scale(Loader& l, AppConfig& a, const Field& f);
void set_reload(Loader& l, AppConfig& a, const Field& f);
// scale: needs instances: {min, max}; canary slots below the instances.
void check_traffic(Loader& l, AppConfig& a, const Seen& seen);

// ---- config_run.cc: run: as a list or a string (resolve_run is a Loader member)
void set_run(Loader& l, AppConfig& a, const Field& f);

// One `key: value` entry, or a list element / app entry (then key is empty and
// key_node is the value itself).
struct Field {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
  std::string path;  // "apps[0].restart.min_uptime"
};

// Which keys a map gave, and which of them failed to parse: cross-key rules
// skip failed keys so they report the real mistake only once.
struct Seen {
  std::map<std::string, Field> given;
  std::set<std::string> bad;
  bool has(const std::string& k) const { return given.count(k) != 0; }
  bool ok(const std::string& k) const { return bad.count(k) == 0; }
  const Field& operator[](const std::string& k) const { return given.at(k); }
};

class Loader;

template <class T>
struct Key {
  std::string_view name;
  void (*set)(Loader&, T&, const Field&);
};

class Loader {
 public:
  explicit Loader(std::string file)
      : file_(std::move(file)), dir_(normal(fs::absolute(file_).parent_path())) {}

  Ecosystem load(const YAML::Node& root);

  // --- locations and errors

  Location at(const YAML::Node& n, const std::string& path) const {
    const YAML::Mark m = n.Mark();
    if (m.line < 0) return Location{file_, 0, 0, path};
    return Location{file_, m.line + 1, m.column + 1, path};
  }

  // An empty value (`key:`) has no text of its own, and yaml-cpp marks it at
  // the start of the next line; point at the key instead.
  Location at(const Field& f) const {
    return at(f.value.IsNull() ? f.key_node : f.value, f.path);
  }

  [[noreturn]] void fail(const Field& f, const std::string& message) const {
    throw ConfigError(at(f), message);
  }

  [[noreturn]] void expected(const Field& f, std::string_view what) const {
    fail(f, "expected " + std::string(what) + ", got " + describe(f.value));
  }

  void record(const ConfigError& e) { errors_.push_back(e); }

  // Runs one step; a ConfigError is recorded and loading carries on.
  template <class F>
  bool attempt(F&& step) {
    try {
      step();
      return true;
    } catch (const ConfigError& e) {
      record(e);
      return false;
    }
  }

  // --- typed values

  std::string text(const Field& f, std::string_view what = "a string") const {
    if (!f.value.IsScalar()) expected(f, what);
    return f.value.Scalar();
  }

  // One string, or a list of them.
  std::vector<std::string> strings(const Field& f, std::string_view what) const {
    std::vector<std::string> out;
    if (!f.value.IsSequence()) {
      out.push_back(text(f, what));
      return out;
    }
    std::size_t i = 0;
    for (const auto& item : f.value) out.push_back(text(Field{"", item, item, f.path + "[" + std::to_string(i++) + "]"}, what));
    return out;
  }

  uint64_t integer(const Field& f, uint64_t min, std::string_view what,
                   uint64_t max = std::numeric_limits<unsigned>::max()) const {
    std::string s = text(f, what);
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    bool all_digits = !s.empty() && end == s.data() + s.size();
    if (all_digits && (ec == std::errc::result_out_of_range || v > max)) {
      fail(f, "expected at most " + std::to_string(max) + ", got " + in_quotes(s));
    }
    if (!all_digits || ec != std::errc() || v < min) expected(f, what);
    return v;
  }

  double number_above_one(const Field& f) const {
    constexpr std::string_view what = "a number above 1.0 like 1.5";
    std::string s = text(f, what);
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v <= 1.0) {
      expected(f, what);
    }
    return v;
  }

  bool boolean(const Field& f) const {
    std::string s = text(f, "true or false");
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    expected(f, "true or false");
  }

  enum class Zero { Allowed, Refused };

  Duration duration(const Field& f, Zero zero = Zero::Allowed) const {
    constexpr std::string_view what = "a duration like 100ms, 5s or 2m";
    auto d = parse_duration(text(f, what));
    if (!d) expected(f, what);
    if (zero == Zero::Refused && d->count() == 0) expected(f, "a duration above 0 like 100ms, 5s or 2m");
    return *d;
  }

  // logs.date_format: refused here when it could not be read back.
  std::string date_format(const Field& f) const {
    std::string s = text(f, "a format like \"%Y-%m-%d %H:%M:%S\"");
    if (std::string why = rack::date_format::check(s); !why.empty()) fail(f, why);
    return s;
  }

  uint64_t size(const Field& f) const {
    constexpr std::string_view what = "a size like 512K, 50M or 1G";
    auto s = parse_size(text(f, what));
    if (!s) expected(f, what);
    if (*s == 0) expected(f, "a size above 0 like 512K, 50M or 1G");
    return *s;
  }

  template <class E>
  E choice(const Field& f, std::initializer_list<E> values) const {
    std::string what = "one of " + names_of(values);
    std::string s = text(f, what);
    std::vector<std::string_view> names;
    for (E v : values) {
      if (s == to_string(v)) return v;
      names.push_back(to_string(v));
    }
    std::string message = "expected " + what + ", got " + in_quotes(s);
    if (auto near = closest(s, names)) message += " (did you mean \"" + std::string(*near) + "\"?)";
    fail(f, message);
  }

  // An absolute path; relative ones are relative to the ecosystem file, so
  // the file behaves the same whichever directory rackctl was started from.
  fs::path path_value(const Field& f) const {
    std::string s = text(f, "a path");
    if (s.empty()) expected(f, "a path");
    fs::path p(s);
    if (s == "~" || s.rfind("~/", 0) == 0) {
      const char* home = std::getenv("HOME");
      if (home == nullptr || *home == '\0') fail(f, "cannot expand ~: HOME is not set");
      p = fs::path(home) / s.substr(std::min<std::size_t>(2, s.size()));
    }
    if (p.is_relative()) p = dir_ / p;
    return normal(p);
  }

  // --- maps

  // The entries of a map, with YAML merge keys (`<<: *defaults`) applied,
  // unknown and duplicate keys recorded as errors. An empty value counts as an
  // empty map, so `restart:` alone means "defaults". `known` null = any key.
  std::vector<Field> fields(const Field& f, const std::vector<std::string_view>* known) {
    if (f.value.IsNull()) return {};
    if (!f.value.IsMap()) expected(f, "a map of settings (key: value)");
    std::vector<Field> out = entries(f.value, f.path, 0);
    if (known == nullptr) return out;
    std::vector<Field> accepted;
    for (Field& e : out) {
      // docker-compose's convention: top-level x-* keys are ignored, so they
      // can hold anchors (x-defaults: &defaults) that apps merge with <<.
      if (f.path.empty() && e.key.rfind("x-", 0) == 0) continue;
      if (std::find(known->begin(), known->end(), e.key) != known->end()) {
        accepted.push_back(std::move(e));
      } else {
        record(ConfigError(at(e.key_node, e.path), unknown_key_message(e.key, *known)));
      }
    }
    return accepted;
  }

  template <class T>
  Seen read_map(const Field& f, T& target, const std::vector<Key<T>>& keys) {
    std::vector<std::string_view> names;
    for (const Key<T>& k : keys) names.push_back(k.name);
    Seen seen;
    for (const Field& e : fields(f, &names)) {
      seen.given.emplace(e.key, e);
      auto key = std::find_if(keys.begin(), keys.end(), [&](const Key<T>& k) { return k.name == e.key; });
      if (!attempt([&] { key->set(*this, target, e); })) seen.bad.insert(e.key);
    }
    return seen;
  }

  AppConfig read_app(const Field& entry);
  void check_app(AppConfig& app, const Field& entry, const Seen& seen);
  void resolve_run(AppConfig& app, const Field& run);
  [[noreturn]] void throw_errors();

  const std::string& file() const { return file_; }
  const fs::path& dir() const { return dir_; }
  bool failed() const { return !errors_.empty(); }

 private:
  std::vector<Field> entries(const YAML::Node& map, const std::string& path, int depth);
  static std::string unknown_key_message(const std::string& key,
                                         const std::vector<std::string_view>& known);

  std::string file_;
  fs::path dir_;
  std::vector<ConfigError> errors_;
};


}  // namespace rack::config::detail
