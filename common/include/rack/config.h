// ecosystem.yaml: the typed configuration and its loader.
//
//   rack::config::Ecosystem eco = rack::config::load_file("ecosystem.yaml");
//   for (const auto& app : eco.apps) ...
//
// load_file() validates the whole file before returning: every error is a
// ConfigError whose what() reads
//   "ecosystem.yaml:7:14: apps[0].instances: expected an integer >= 1 or \"max\", got \"zero\""
// Unknown keys are errors with a did-you-mean. Nothing here touches the
// network or starts anything; binding the listen address is rackd's job, and
// it reports failures with the `listen` key's location (AppConfig::listen_at).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "rack/cron.h"

namespace rack::config {

using Duration = std::chrono::milliseconds;

// Where a value sits in the file, for error messages. line/column are 1-based.
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key_path;  // "apps[0].listen"
  std::string str() const;  // "file:line:column: key_path"
};

class ConfigError : public std::runtime_error {
 public:
  ConfigError(const Location& at, const std::string& what);
  explicit ConfigError(const std::string& what);  // no location (file unreadable)
  const Location& where() const { return at_; }

 private:
  Location at_;
};

enum class Protocol { Rack, Node, Inherit, None };
enum class Dispatch { RoundRobin, LeastConnections };
enum class OnFull { Block, Drop };
enum class Aggregation { Sum, Min, Max, Avg, First };
enum class ReadyMode { Auto, Notify, Http };

const char* to_string(Protocol p);
const char* to_string(Dispatch d);
const char* to_string(OnFull o);
const char* to_string(Aggregation a);

struct ListenAddr {
  std::string host;   // numeric IPv4 or IPv6 address ("127.0.0.1", "::1")
  uint16_t port = 0;  // 0 = any free port (tests)
  std::string str() const;  // "127.0.0.1:8080", "[::1]:8080"
};

struct RestartPolicy {
  Duration min_uptime{1000};
  unsigned max_restarts = 16;
  Duration backoff_initial{100};
  Duration backoff_max{15000};
  double backoff_factor = 1.5;
  Duration reset_after{30000};  // uptime after which the backoff starts over
  // PM2's restart_delay: every restart waits this long, healthy or not
  // (quick exits still count towards max_restarts). Unset: the backoff.
  std::optional<Duration> delay;
};

struct LogConfig {
  std::string dir;  // empty = $RACK_HOME/logs
  uint64_t max_size = 50ull * 1024 * 1024;
  unsigned keep = 5;
  bool compress = true;
  bool time = true;
  OnFull on_full = OnFull::Block;
  std::optional<Duration> rotate_every;
  std::optional<Duration> max_age;
  uint64_t buffer = 4ull * 1024 * 1024;  // per app, before on_full applies
  // The files' owner (from the app's user:/group:), when rackd is root.
  std::optional<uint32_t> owner_uid, owner_gid;
  // logs.dir: off: no files. Lines still reach `rackctl logs -f` and, under
  // rackd --no-daemon, rackd's stdout (master/logs/app_log.h).
  bool files = true;
  // With time: the stamp's format (rack/date_format.h), in local time;
  // empty: ISO-8601 UTC with milliseconds.
  std::string date_format;
};

// reload: {canary: {...}}: a reload first replaces `slots` slots, watches
// them for `watch`, and rolls them back when they do worse than the old
// generation by these margins (master/app/canary_verdict.h).
struct CanaryConfig {
  unsigned slots = 1;
  Duration watch{30000};
  double max_error_ratio = 0.05;     // 5xx ratio over the old generation's
  double max_latency_factor = 2.0;   // p95 latency, times the old generation's
};

struct ReloadConfig {
  std::optional<CanaryConfig> canary;  // set: every reload of the app is a canary reload
};

// instances: {min, max} with scale: {busy | queue | latency_p95}
// (master/app/autoscale.h decides).
enum class ScaleMetric { Busy, Queue, LatencyP95 };
const char* to_string(ScaleMetric m);

struct AutoscaleConfig {
  unsigned min = 1;
  unsigned max = 1;
  ScaleMetric metric = ScaleMetric::Busy;
  double target = 0.7;             // busy: fraction of time; queue: connections; latency_p95: seconds
  Duration up_after{3000};         // sustained overload before a worker is added
  Duration cooldown{30000};        // sustained underload, and time since the last change, before one goes
};

struct AppConfig {
  std::string name;
  std::vector<std::string> run;  // argv; run[0] resolved (see load_file)
  std::string cwd;               // absolute
  unsigned instances = 1;
  Protocol protocol = Protocol::None;
  std::optional<ListenAddr> listen;
  Dispatch dispatch = Dispatch::RoundRobin;
  std::map<std::string, std::string> env;
  // false: workers get only kMinimalEnv from rackd's environment (plus env
  // and Rack's own variables), not everything the first `rackctl start` had.
  bool inherit_env = true;
  Duration ready_timeout{5000};
  Duration kill_timeout{5000};
  Duration heartbeat_timeout{10000};
  RestartPolicy restart;
  std::optional<uint64_t> max_memory;     // bytes
  std::optional<uint64_t> max_requests;   // recycle after ~N requests
  unsigned parallel = 1;                  // slots replaced at once on reload
  std::size_t queue_size = 1024;          // connections waiting for a worker
  Duration queue_timeout{10000};
  std::string metrics_path;               // "" = app port does not serve /metrics
  std::map<std::string, Aggregation> gauges;  // per gauge name; default Sum
  ReadyMode ready = ReadyMode::Auto;      // inherit/none
  std::string ready_http_path;            // ReadyMode::Http
  // Put in front of run when run[0] is a script: unset = by extension, else
  // the shebang of a script that is not executable (script_interpreter());
  // empty = run it as is (`interpreter: none`).
  std::optional<std::vector<std::string>> interpreter;
  bool wait_ready = false;                // node: process.send('ready')
  bool shutdown_with_message = false;     // node: send 'shutdown' instead of the stop signal
  // What a drain or stop sends first; kill_timeout later SIGKILL follows.
  // 0 = the protocol's default (stop_signal_of()).
  int stop_signal = 0;
  // PM2's autorestart: false: a worker that exits on its own is not
  // restarted, and its slot stays down until restart or reload.
  bool autorestart = true;
  // PM2's stop_exit_codes: a worker that exits with one of these is not
  // restarted either. Exits by signal always restart.
  std::vector<int> stop_exit_codes;
  // PM2's namespace: a group of apps `stop|restart|reload|delete` can name.
  std::string ns = "default";
  // env_file (KEY=VALUE lines, read at load time); env wins over it.
  std::string env_file;
  // cron_restart: a graceful reload at these times ("" = none), in UTC or
  // the zone cron_tz names: local (rackd's TZ) or one like Europe/Berlin.
  std::string cron_restart;
  cron::Zone cron_zone = cron::Zone::utc();
  // watch: a change under these paths (files or directories, recursively)
  // reloads the app once `delay` has passed with no further change.
  struct Watch {
    std::vector<std::string> paths;   // absolute
    std::vector<std::string> ignore;  // globs, matched against each path component and the relative path
    Duration delay{1000};
  };
  std::optional<Watch> watch;
  // user:/group: the workers run as (setgroups, setgid, setuid in the
  // child; rackd must be root for that). Resolved at load, so a name this
  // machine does not know is a config error. group defaults to the user's
  // primary group. Unset: rackd's own.
  std::string user, group;
  std::optional<uint32_t> uid, gid;
  LogConfig logs;
  ReloadConfig reload;
  std::optional<AutoscaleConfig> autoscale;  // instances: {min, max}; instances starts at min

  Location at;         // the app's entry in `apps`
  Location listen_at;  // the `listen` key (for bind errors)
  Location run_at;     // the `run` key (for spawn errors)
};

struct RackSection {
  std::optional<ListenAddr> admin = ListenAddr{"127.0.0.1", 9650};  // nullopt = "off"
  Location admin_at;
  // On SIGTERM: /health fails at once, the apps keep serving this long (so
  // a load balancer or Kubernetes takes rackd out of rotation), then drain.
  Duration shutdown_delay{5000};
  // Enables the web dashboard's reload/restart/scale buttons; every such
  // request must carry it in X-Rack-Token. "" = the dashboard is read-only.
  std::string admin_token;
  // `rackd --no-daemon` only: when an app ends errored (every slot gave up
  // after max_restarts), stop every app and exit 3, so that the service
  // manager or container runtime, which sees only rackd, can restart or
  // report it. false: keep serving the other apps.
  bool exit_on_errored = true;
};

struct Ecosystem {
  std::string path;      // absolute path of the file
  RackSection rack;
  std::vector<AppConfig> apps;
};

// The interpreter a script needs. An executable file with a "#!" line
// needs none (the kernel reads it); else by extension: .js/.mjs/.cjs node,
// .py python3, .rb ruby, .sh bash; else, for a file that is not
// executable, the words of its "#!" line. Empty: run the file itself.
std::vector<std::string> script_interpreter(const std::string& script_path);

// True for a script node runs: one whose "#!" line names node
// (#!/usr/bin/node, #!/usr/bin/env node) if it is executable, else one
// script_interpreter() gives node (.js/.mjs/.cjs, or that "#!" line).
// script_interpreter() alone is empty for an executable file with a "#!"
// line, so it cannot tell.
bool is_node_script(const std::string& script_path);

// SIGINT for node apps (what PM2 sends, and what their shutdown hooks
// listen for), SIGTERM for the others; stop_signal overrides it.
int stop_signal_of(const AppConfig& app);
// "SIGINT", "INT", "sigint" -> SIGINT; nullopt for anything else.
std::optional<int> parse_signal(std::string_view text);

// The variables of an env_file: KEY=VALUE lines, `export ` allowed in
// front, # comments and blank lines skipped; 'single' quotes are literal,
// "double" quotes take \n \t \" \\ escapes; nothing is expanded.
// nullopt with `error` ("line 3: ...") for a line that is none of these.
std::optional<std::map<std::string, std::string>> parse_env_file(std::string_view text, std::string& error);

// The candidate at most 2 edits from `word` (did-you-mean for app names,
// commands and keys), if one is.
std::optional<std::string> did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

// An app name (and a namespace): 1 to 64 of [A-Za-z0-9_-]. What the
// control API and the admin listener accept in a path, taken literally.
bool valid_app_name(std::string_view s);
inline constexpr const char* kAppNameRule = "1 to 64 letters, digits, '-' or '_'";

// Parses and validates. `path` is used for messages and to resolve relative
// paths (cwd, run[0] containing '/'). Throws ConfigError.
Ecosystem load_file(const std::string& path);
Ecosystem load_string(std::string_view yaml, const std::string& path);

// The app as a one-app ecosystem file that loads back to the same
// AppConfig (up to locations): every value explicit, paths absolute, run[0]
// resolved (`interpreter: none`). `rackctl save` keeps it for resurrect.
std::string to_yaml(const AppConfig& app);

// "100ms", "5s", "2m", "1h", "1d"; a bare integer is milliseconds.
std::optional<Duration> parse_duration(std::string_view text);
// "512", "512K", "50M", "1G" (powers of 1024; "KB"/"MB"/"GB" accepted too).
std::optional<uint64_t> parse_size(std::string_view text);
// "127.0.0.1:8080", "[::1]:8080", "localhost:8080" (= 127.0.0.1), ":8080" (= 0.0.0.0).
std::optional<ListenAddr> parse_listen(std::string_view text);
// Splits like a POSIX shell would (quotes, backslashes), without expansion.
// Returns nullopt on an unterminated quote.
std::optional<std::vector<std::string>> split_command(std::string_view text);

}  // namespace rack::config
