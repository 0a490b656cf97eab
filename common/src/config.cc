// Loads ecosystem.yaml into rack::config::Ecosystem.
//
// The loader walks the YAML tree once, with one small setter per key (the
// tables below), and records every problem instead of stopping at the first:
// a user fixing a config wants to see all of its mistakes at once. Cross-key
// rules (listen vs protocol, run[0] lookup) run after an app's keys are read,
// and only on keys that parsed, so one typo does not cascade into noise.
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "rack/config.h"

namespace rack::config {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxFileBytes = 16u << 20;
constexpr std::size_t kMaxReportedErrors = 20;
constexpr uint64_t kMaxInstances = 4096;
constexpr int kMaxMergeDepth = 16;

// ---------------------------------------------------------------------------
// Did-you-mean

// Optimal string alignment distance, case-insensitive: a swapped pair of
// letters ("intsances") counts as one edit, as people type.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  auto low = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = low(a[i - 1]) == low(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && low(a[i - 1]) == low(b[j - 2]) && low(a[i - 2]) == low(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::optional<std::string_view> closest(std::string_view word,
                                        const std::vector<std::string_view>& candidates) {
  std::optional<std::string_view> best;
  std::size_t best_distance = 3;  // further than 2 edits is another word, not a typo
  for (std::string_view c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_distance && d < c.size()) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

// PM2 key names people will carry over, and where Rack keeps that setting.
std::optional<std::string_view> pm2_equivalent(std::string_view key) {
  static const std::map<std::string_view, std::string_view> kPm2 = {
      {"script", "run"},
      {"args", "run"},
      {"cmd", "run"},
      {"command", "run"},
      {"exec_mode", "protocol"},
      {"port", "listen"},
      {"max_memory_restart", "max_memory"},
      {"listen_timeout", "ready_timeout"},
      {"min_uptime", "restart.min_uptime"},
      {"max_restarts", "restart.max_restarts"},
      {"restart_delay", "restart.backoff_initial"},
      {"exp_backoff_restart_delay", "restart.backoff_initial"},
      {"out_file", "logs.dir"},
      {"error_file", "logs.dir"},
  };
  auto it = kPm2.find(key);
  if (it == kPm2.end()) return std::nullopt;
  return it->second;
}

// ---------------------------------------------------------------------------
// Describing what the file said

std::string in_quotes(std::string_view s) {
  constexpr std::size_t kMax = 60;
  if (s.size() > kMax) return "\"" + std::string(s.substr(0, kMax)) + "...\"";
  return "\"" + std::string(s) + "\"";
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: return in_quotes(n.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "an empty value";
  }
}

template <class E>
std::string names_of(std::initializer_list<E> values) {
  std::string out;
  for (E v : values) {
    if (!out.empty()) out += ", ";
    out += to_string(v);
  }
  return out;
}

// ---------------------------------------------------------------------------
// The running system: where to look for programs and how many CPUs there are

// The directory of the running binary, so `run: [rack-hello]` finds the
// examples built next to rackd without anyone editing PATH.
std::string own_directory() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  return fs::path(std::string(buf, static_cast<std::size_t>(n))).parent_path().string();
}

// CPUs this process may run on: respects taskset and cpusets, which
// hardware_concurrency() does not.
unsigned usable_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

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

// ---------------------------------------------------------------------------
// The loader

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

// ---------------------------------------------------------------------------
// Sections

const std::vector<Key<RestartPolicy>> kRestartKeys = {
    {"min_uptime", [](Loader& l, RestartPolicy& r, const Field& f) { r.min_uptime = l.duration(f); }},
    {"max_restarts",
     [](Loader& l, RestartPolicy& r, const Field& f) {
       r.max_restarts = static_cast<unsigned>(l.integer(f, 0, "an integer >= 0"));
     }},
    {"backoff_initial",
     [](Loader& l, RestartPolicy& r, const Field& f) {
       r.backoff_initial = l.duration(f, Loader::Zero::Refused);
     }},
    {"backoff_max",
     [](Loader& l, RestartPolicy& r, const Field& f) {
       r.backoff_max = l.duration(f, Loader::Zero::Refused);
     }},
    {"backoff_factor",
     [](Loader& l, RestartPolicy& r, const Field& f) { r.backoff_factor = l.number_above_one(f); }},
    {"reset_after", [](Loader& l, RestartPolicy& r, const Field& f) { r.reset_after = l.duration(f); }},
};

const std::vector<Key<LogConfig>> kLogKeys = {
    {"dir", [](Loader& l, LogConfig& c, const Field& f) { c.dir = l.path_value(f).string(); }},
    {"max_size", [](Loader& l, LogConfig& c, const Field& f) { c.max_size = l.size(f); }},
    {"keep",
     [](Loader& l, LogConfig& c, const Field& f) {
       c.keep = static_cast<unsigned>(l.integer(f, 0, "an integer >= 0"));
     }},
    {"compress", [](Loader& l, LogConfig& c, const Field& f) { c.compress = l.boolean(f); }},
    {"time", [](Loader& l, LogConfig& c, const Field& f) { c.time = l.boolean(f); }},
    {"on_full",
     [](Loader& l, LogConfig& c, const Field& f) {
       c.on_full = l.choice(f, {OnFull::Block, OnFull::Drop});
     }},
    {"rotate_every",
     [](Loader& l, LogConfig& c, const Field& f) {
       c.rotate_every = l.duration(f, Loader::Zero::Refused);
     }},
    {"max_age",
     [](Loader& l, LogConfig& c, const Field& f) { c.max_age = l.duration(f, Loader::Zero::Refused); }},
    {"buffer", [](Loader& l, LogConfig& c, const Field& f) { c.buffer = l.size(f); }},
};

const std::vector<Key<AppConfig>> kQueueKeys = {
    {"size",
     [](Loader& l, AppConfig& a, const Field& f) {
       a.queue_size = l.integer(f, 0, "an integer >= 0", std::numeric_limits<uint32_t>::max());
     }},
    {"timeout",
     [](Loader& l, AppConfig& a, const Field& f) { a.queue_timeout = l.duration(f, Loader::Zero::Refused); }},
};

const std::vector<Key<AppConfig>> kReadyKeys = {
    {"http",
     [](Loader& l, AppConfig& a, const Field& f) {
       std::string p = l.text(f, "a path like /health");
       if (p.empty() || p.front() != '/') l.expected(f, "a path like /health");
       a.ready = ReadyMode::Http;
       a.ready_http_path = p;
     }},
};

bool valid_app_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

// Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_metric_name(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':';
  });
}

constexpr std::string_view kCommand = "a command: a list like [node, app.js] or a string";

void set_run(Loader& l, AppConfig& a, const Field& f) {
  std::vector<std::string> argv;
  if (f.value.IsSequence()) {
    std::size_t i = 0;
    for (const auto& item : f.value) {
      Field arg{"", item, item, f.path + "[" + std::to_string(i++) + "]"};
      argv.push_back(l.text(arg, "a string (one argument)"));
    }
  } else if (f.value.IsScalar()) {
    auto words = split_command(f.value.Scalar());
    if (!words) l.fail(f, "unterminated quote or trailing backslash in " + in_quotes(f.value.Scalar()));
    // The string is split, never run by a shell: a pipe or && would silently
    // become an argument.
    for (const std::string& w : *words) {
      if (w == "|" || w == "||" || w == "&&" || w == ";" || w == "&" || w == ">" || w == ">>" ||
          w == "<" || w == "2>&1") {
        l.fail(f, "run is not given to a shell, so " + in_quotes(w) +
                      " would reach the program as an argument; write run: [sh, -c, \"...\"] "
                      "if you need a shell, or use the list form");
      }
    }
    argv = std::move(*words);
  } else {
    l.expected(f, kCommand);
  }
  if (argv.empty()) l.fail(f, "expected " + std::string(kCommand) + ", got an empty command");
  if (argv[0].empty()) l.fail(f, "the program name (the first word of run) is empty");
  a.run = std::move(argv);
}

void set_listen(Loader& l, AppConfig& a, const Field& f) {
  constexpr std::string_view what = "host:port like 127.0.0.1:8080, [::1]:8080 or :8080";
  std::string s = l.text(f, what);
  a.listen = parse_listen(s);
  if (a.listen) return;
  std::string message = "expected " + std::string(what) + ", got " + in_quotes(s);
  if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    message += " (write \":" + s + "\" for all interfaces or \"127.0.0.1:" + s + "\" for this host only)";
  }
  l.fail(f, message);
}

void set_env(Loader& l, AppConfig& a, const Field& f) {
  for (const Field& e : l.fields(f, nullptr)) {
    l.attempt([&] {
      if (e.key.empty() || e.key.find('=') != std::string::npos) {
        l.fail(e, "environment variable names cannot be empty or contain '=', got " + in_quotes(e.key));
      }
      // Numbers and booleans arrive as the text the user wrote: PORT: 8080 is "8080".
      a.env[e.key] = l.text(e, "a string, number or boolean");
    });
  }
}

void set_gauges(Loader& l, AppConfig& a, const Field& f) {
  for (const Field& e : l.fields(f, nullptr)) {
    l.attempt([&] {
      if (!valid_metric_name(e.key)) {
        throw ConfigError(l.at(e.key_node, e.path),
                          "expected a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got " + in_quotes(e.key));
      }
      a.gauges[e.key] = l.choice(e, {Aggregation::Sum, Aggregation::Min, Aggregation::Max,
                                     Aggregation::Avg, Aggregation::First});
    });
  }
}

void set_ready(Loader& l, AppConfig& a, const Field& f) {
  constexpr std::string_view what = "auto, notify or {http: /path}";
  if (f.value.IsMap()) {
    Seen seen = l.read_map(f, a, kReadyKeys);
    if (!seen.has("http")) l.expected(f, what);
    return;
  }
  std::string s = l.text(f, what);
  if (s == "auto") {
    a.ready = ReadyMode::Auto;
  } else if (s == "notify") {
    a.ready = ReadyMode::Notify;
  } else {
    l.expected(f, what);
  }
}

const std::vector<Key<AppConfig>> kAppKeys = {
    {"name",
     [](Loader& l, AppConfig& a, const Field& f) {
       a.name = l.text(f, "a name");
       if (!valid_app_name(a.name)) l.expected(f, "a name of 1 to 64 letters, digits, '-' or '_'");
     }},
    {"run", set_run},
    {"cwd",
     [](Loader& l, AppConfig& a, const Field& f) {
       fs::path dir = l.path_value(f);
       std::error_code ec;
       auto status = fs::status(dir, ec);
       if (!fs::exists(status)) l.fail(f, "directory " + in_quotes(dir.string()) + " does not exist");
       if (!fs::is_directory(status)) l.fail(f, in_quotes(dir.string()) + " is not a directory");
       a.cwd = dir.string();
     }},
    {"instances",
     [](Loader& l, AppConfig& a, const Field& f) {
       constexpr std::string_view what = "an integer >= 1 or \"max\"";
       if (f.value.IsScalar() && f.value.Scalar() == "max") {
         a.instances = usable_cpus();
       } else {
         a.instances = static_cast<unsigned>(l.integer(f, 1, what, kMaxInstances));
       }
     }},
    {"protocol",
     [](Loader& l, AppConfig& a, const Field& f) {
       a.protocol = l.choice(f, {Protocol::Rack, Protocol::Node, Protocol::Inherit, Protocol::None});
     }},
    {"listen", set_listen},
    {"dispatch",
     [](Loader& l, AppConfig& a, const Field& f) {
       a.dispatch = l.choice(f, {Dispatch::RoundRobin, Dispatch::LeastConnections});
     }},
    {"env", set_env},
    {"ready_timeout",
     [](Loader& l, AppConfig& a, const Field& f) { a.ready_timeout = l.duration(f, Loader::Zero::Refused); }},
    {"kill_timeout", [](Loader& l, AppConfig& a, const Field& f) { a.kill_timeout = l.duration(f); }},
    {"heartbeat_timeout",
     [](Loader& l, AppConfig& a, const Field& f) {
       a.heartbeat_timeout = l.duration(f, Loader::Zero::Refused);
     }},
    {"restart",
     [](Loader& l, AppConfig& a, const Field& f) {
       Seen seen = l.read_map(f, a.restart, kRestartKeys);
       if (seen.ok("backoff_initial") && seen.ok("backoff_max") &&
           a.restart.backoff_max < a.restart.backoff_initial) {
         const Field& where = seen.has("backoff_max") ? seen["backoff_max"] : seen["backoff_initial"];
         l.fail(where, "backoff_max (" + std::to_string(a.restart.backoff_max.count()) +
                           "ms) must not be below backoff_initial (" +
                           std::to_string(a.restart.backoff_initial.count()) + "ms)");
       }
     }},
    {"max_memory", [](Loader& l, AppConfig& a, const Field& f) { a.max_memory = l.size(f); }},
    {"max_requests",
     [](Loader& l, AppConfig& a, const Field& f) {
       a.max_requests = l.integer(f, 1, "an integer >= 1", std::numeric_limits<uint64_t>::max());
     }},
    {"parallel",
     [](Loader& l, AppConfig& a, const Field& f) {
       a.parallel = static_cast<unsigned>(l.integer(f, 1, "an integer >= 1", kMaxInstances));
     }},
    {"queue", [](Loader& l, AppConfig& a, const Field& f) { l.read_map(f, a, kQueueKeys); }},
    {"metrics_path",
     [](Loader& l, AppConfig& a, const Field& f) {
       a.metrics_path = l.text(f, "a path like /metrics");
       if (a.metrics_path.empty() || a.metrics_path.front() != '/') l.expected(f, "a path like /metrics");
     }},
    {"gauges", set_gauges},
    {"ready", set_ready},
    {"wait_ready", [](Loader& l, AppConfig& a, const Field& f) { a.wait_ready = l.boolean(f); }},
    {"shutdown_with_message",
     [](Loader& l, AppConfig& a, const Field& f) { a.shutdown_with_message = l.boolean(f); }},
    {"logs", [](Loader& l, AppConfig& a, const Field& f) { l.read_map(f, a.logs, kLogKeys); }},
};

// ---------------------------------------------------------------------------
// Apps

AppConfig Loader::read_app(const Field& entry) {
  AppConfig app;
  app.at = at(entry.value, entry.path);
  if (!entry.value.IsMap()) expected(entry, "an app (a map with name:, run: and more)");
  Seen seen = read_map(entry, app, kAppKeys);
  check_app(app, entry, seen);
  return app;
}

// Rules that involve more than one key, and the defaults that depend on them.
void Loader::check_app(AppConfig& app, const Field& entry, const Seen& seen) {
  auto missing = [&](const std::string& key, const std::string& hint) {
    Location where = app.at;
    where.key_path = entry.path + "." + key;
    record(ConfigError(where, "missing required key " + in_quotes(key) + " (" + hint + ")"));
  };
  if (!seen.has("name")) missing("name", "a unique name like web");
  if (!seen.has("run")) missing("run", "the command, e.g. run: [node, app.js]");

  auto key_location = [&](const std::string& key) {
    if (seen.has(key)) return at(seen[key]);
    Location where = app.at;
    where.key_path = entry.path + "." + key;
    return where;
  };
  app.listen_at = key_location("listen");
  app.run_at = key_location("run");
  if (!seen.has("cwd")) app.cwd = dir().string();

  if (!seen.has("protocol")) app.protocol = seen.has("listen") ? Protocol::Rack : Protocol::None;
  if (seen.ok("protocol")) {
    const std::string protocol = to_string(app.protocol);
    if (app.protocol != Protocol::None && !seen.has("listen")) {
      record(ConfigError(key_location("protocol"),
                         "protocol " + protocol + " needs listen: host:port, e.g. listen: 127.0.0.1:8080"));
    }
    if (app.protocol == Protocol::None && seen.has("listen")) {
      record(ConfigError(app.listen_at,
                         "listen is not used with protocol none (rackd binds sockets only for rack, "
                         "node and inherit)"));
    }
    // Keys that would be silently ignored under this protocol are mistakes.
    auto only_for = [&](const std::string& key, bool applies, const std::string& why) {
      if (seen.has(key) && seen.ok(key) && !applies) {
        record(ConfigError(at(seen[key]), key + " does not apply to protocol " + protocol + " (" + why + ")"));
      }
    };
    const bool has_port = app.protocol != Protocol::None;
    only_for("dispatch", app.protocol == Protocol::Rack || app.protocol == Protocol::Node,
             "only rack and node connections are handed out by rackd");
    only_for("ready", app.protocol == Protocol::Inherit || app.protocol == Protocol::None,
             "rack and node workers report ready themselves; for node see wait_ready");
    only_for("wait_ready", app.protocol == Protocol::Node, "it is for node apps");
    only_for("shutdown_with_message", app.protocol == Protocol::Node, "it is for node apps");
    only_for("metrics_path", app.protocol == Protocol::Rack,
             "the rack worker runtime serves it; scrape rackd's admin /metrics for the other protocols");
    if (seen.has("ready") && seen.ok("ready") && app.ready == ReadyMode::Http && !has_port) {
      record(ConfigError(at(seen["ready"]), "ready: {http: ...} needs the app to have a listen address"));
    }
  }

  if (seen.has("run") && seen.ok("run") && seen.ok("cwd") && seen.ok("protocol")) {
    attempt([&] { resolve_run(app, seen["run"]); });
  }
}

// Resolves run[0] now rather than at spawn time, so `rackctl start` says
// "not found" with a line number instead of a worker dying in a loop.
void Loader::resolve_run(AppConfig& app, const Field& run) {
  auto ends_with = [](const std::string& s, std::string_view suffix) {
    return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  // PM2 habit: `run: server.js` for a node app means `node server.js`.
  if (app.protocol == Protocol::Node && app.run.size() == 1 &&
      (ends_with(app.run[0], ".js") || ends_with(app.run[0], ".mjs") || ends_with(app.run[0], ".cjs"))) {
    app.run.insert(app.run.begin(), "node");
  }

  const std::string program = app.run[0];
  if (program.find('/') != std::string::npos) {
    fs::path p(program);
    if (p.is_relative()) p = fs::path(app.cwd) / p;
    p = normal(p);
    std::error_code ec;
    if (!fs::exists(p, ec)) fail(run, "executable " + in_quotes(program) + " not found (looked for " + p.string() + ")");
    if (fs::is_directory(p, ec)) fail(run, in_quotes(p.string()) + " is a directory, not an executable");
    if (!is_executable_file(p)) fail(run, in_quotes(p.string()) + " is not executable (chmod +x?)");
    app.run[0] = p.string();
    return;
  }

  // Like execvp; an unset PATH gets the same default glibc uses. Empty PATH
  // entries (meaning ".") are skipped: which directory "." is depends on who
  // started rackd.
  const char* env_path = std::getenv("PATH");
  std::string search = env_path != nullptr ? env_path : "/usr/local/bin:/usr/bin:/bin";
  std::vector<fs::path> dirs;
  for (std::size_t start = 0; start <= search.size();) {
    std::size_t end = search.find(':', start);
    if (end == std::string::npos) end = search.size();
    if (end > start) dirs.emplace_back(search.substr(start, end - start));
    start = end + 1;
  }
  static const std::string own_dir = own_directory();
  if (!own_dir.empty()) dirs.emplace_back(own_dir);
  for (const fs::path& d : dirs) {
    fs::path candidate = d / program;
    if (is_executable_file(candidate)) {
      app.run[0] = normal(fs::absolute(candidate)).string();
      return;
    }
  }
  fail(run, "executable " + in_quotes(program) + " not found (searched PATH and " +
                (own_dir.empty() ? std::string("rackd's directory") : own_dir) + ")");
}

// ---------------------------------------------------------------------------
// The top level

const std::vector<Key<RackSection>> kRackKeys = {
    {"admin",
     [](Loader& l, RackSection& r, const Field& f) {
       constexpr std::string_view what = "host:port like 127.0.0.1:9650, or off";
       std::string s = l.text(f, what);
       r.admin_at = l.at(f);
       if (s == "off" || s == "false" || s == "no") {
         r.admin = std::nullopt;
         return;
       }
       r.admin = parse_listen(s);
       if (!r.admin) l.expected(f, what);
     }},
};

const std::vector<Key<Ecosystem>> kTopKeys = {
    {"rack", [](Loader& l, Ecosystem& e, const Field& f) { l.read_map(f, e.rack, kRackKeys); }},
    {"apps",
     [](Loader& l, Ecosystem& e, const Field& f) {
       if (!f.value.IsSequence()) l.expected(f, "a list of apps (each starting with \"- name:\")");
       if (f.value.size() == 0) l.fail(f, "expected at least one app, got an empty list");
       std::map<std::string, int> first_line;  // name -> line of its first definition
       std::size_t i = 0;
       for (const auto& item : f.value) {
         Field entry{"", item, item, "apps[" + std::to_string(i++) + "]"};
         l.attempt([&] {
           AppConfig app = l.read_app(entry);
           if (!app.name.empty() && valid_app_name(app.name)) {
             auto [it, inserted] = first_line.emplace(app.name, app.at.line);
             if (!inserted) {
               Location where = app.at;
               where.key_path = entry.path + ".name";
               if (const YAML::Node name = entry.value["name"]) where = l.at(name, where.key_path);
               l.record(ConfigError(where, "duplicate app name " + in_quotes(app.name) +
                                               " (first defined at line " + std::to_string(it->second) + ")"));
             }
           }
           e.apps.push_back(std::move(app));
         });
       }
     }},
};

Ecosystem Loader::load(const YAML::Node& root) {
  Ecosystem eco;
  eco.path = normal(fs::absolute(file_)).string();
  eco.rack.admin_at = Location{file_, 0, 0, "rack.admin"};

  Field doc{"", root, root, ""};
  if (!root.IsDefined() || root.IsNull()) {
    throw ConfigError(Location{file_, 1, 1, ""}, "the file is empty; expected a map with an apps: list");
  }
  if (!root.IsMap()) expected(doc, "a map with rack: and apps: at the top level");
  Seen seen = read_map(doc, eco, kTopKeys);
  if (!seen.has("apps")) {
    record(ConfigError(at(root, "apps"), "missing required key \"apps\" (the list of apps to run)"));
  }
  if (failed()) throw_errors();
  return eco;
}

}  // namespace

Ecosystem load_string(std::string_view yaml, const std::string& path) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    Location where{path, 0, 0, ""};
    if (e.mark.line >= 0) {
      where.line = e.mark.line + 1;
      where.column = e.mark.column + 1;
    }
    if (e.mark.pos >= 0 && static_cast<std::size_t>(e.mark.pos) >= yaml.size()) {
      // Something left open ("run: [x") is reported at end of input, which
      // after the final newline is a line the user cannot see. Point at the
      // end of the last line that has text instead.
      std::size_t end = yaml.find_last_not_of(" \t\r\n");
      if (end != std::string_view::npos) {
        std::size_t start = yaml.rfind('\n', end);
        start = start == std::string_view::npos ? 0 : start + 1;
        where.line = static_cast<int>(std::count(yaml.begin(), yaml.begin() + static_cast<long>(start), '\n')) + 1;
        where.column = static_cast<int>(end - start) + 2;
      }
    }
    // yaml-cpp's depth guard reports itself as "bad file"; say what it means.
    bool too_deep = dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr;
    throw ConfigError(where, "invalid YAML: " + (too_deep ? std::string("nested too deeply") : e.msg));
  } catch (const YAML::Exception& e) {
    throw ConfigError(Location{path, 0, 0, ""}, std::string("invalid YAML: ") + e.what());
  }
  if (docs.size() > 1) {
    const YAML::Mark m = docs[1].Mark();
    throw ConfigError(Location{path, m.line + 1, m.column + 1, ""},
                      "expected one YAML document, found " + std::to_string(docs.size()) +
                          " (remove the extra ---)");
  }

  try {
    Loader loader(path);
    return loader.load(docs.empty() ? YAML::Node() : docs.front());
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    // A safety net: a wrong-typed node must never escape as a YAML exception.
    throw ConfigError(Location{path, 0, 0, ""}, std::string("cannot load: ") + e.what());
  }
}

Ecosystem load_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ConfigError("cannot read " + path + ": " + std::strerror(errno));
  std::string data;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw ConfigError("cannot read " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxFileBytes) {
      ::close(fd);
      throw ConfigError("cannot read " + path + ": larger than 16 MiB, not an ecosystem file");
    }
  }
  ::close(fd);
  return load_string(data, path);
}

}  // namespace rack::config
