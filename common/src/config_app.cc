// An app's keys (one setter each) and the rules that involve more than one
// key. What `run` holds and how run[0] is found: config_run.cc.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "config_loader.h"

namespace rack::config {

bool valid_app_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

}  // namespace rack::config

namespace rack::config::detail {

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
    {"delay", [](Loader& l, RestartPolicy& r, const Field& f) { r.delay = l.duration(f); }},
};

const std::vector<Key<LogConfig>> kLogKeys = {
    {"dir",
     [](Loader& l, LogConfig& c, const Field& f) {
       // off (or false, no): no log files. A directory of that name is ./off.
       std::string s = l.text(f, "a directory, or off");
       c.files = !(s == "off" || s == "false" || s == "no");
       c.dir = c.files ? l.path_value(f).string() : "";
     }},
    {"max_size", [](Loader& l, LogConfig& c, const Field& f) { c.max_size = l.size(f); }},
    {"keep",
     [](Loader& l, LogConfig& c, const Field& f) {
       c.keep = static_cast<unsigned>(l.integer(f, 0, "an integer >= 0"));
     }},
    {"compress", [](Loader& l, LogConfig& c, const Field& f) { c.compress = l.boolean(f); }},
    {"time", [](Loader& l, LogConfig& c, const Field& f) { c.time = l.boolean(f); }},
    {"date_format", [](Loader& l, LogConfig& c, const Field& f) { c.date_format = l.date_format(f); }},
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

// Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_metric_name(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':';
  });
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

void set_stop_exit_codes(Loader& l, AppConfig& a, const Field& f) {
  constexpr std::string_view what = "an exit code 0-255, or a list of them";
  std::vector<Field> items;
  if (f.value.IsSequence()) {
    std::size_t i = 0;
    for (const auto& item : f.value) items.push_back(Field{"", item, item, f.path + "[" + std::to_string(i++) + "]"});
  } else {
    items.push_back(f);
  }
  for (const Field& e : items) a.stop_exit_codes.push_back(static_cast<int>(l.integer(e, 0, what, 255)));
}

const std::vector<Key<AppConfig::Watch>> kWatchKeys = {
    {"paths", [](Loader& l, AppConfig::Watch& w, const Field& f) { w.paths = l.strings(f, "a path or a list of paths"); }},
    {"ignore", [](Loader& l, AppConfig::Watch& w, const Field& f) { w.ignore = l.strings(f, "a glob or a list of globs"); }},
    {"delay", [](Loader& l, AppConfig::Watch& w, const Field& f) { w.delay = l.duration(f, Loader::Zero::Refused); }},
};

// watch: true (the app's cwd) | false | a path | [paths] | {paths, ignore, delay}.
// Relative paths are relative to cwd, resolved in check_app().
void set_watch(Loader& l, AppConfig& a, const Field& f) {
  AppConfig::Watch w;
  if (f.value.IsMap()) {
    l.read_map(f, w, kWatchKeys);
  } else if (f.value.IsScalar() && (f.value.Scalar() == "true" || f.value.Scalar() == "false")) {
    if (f.value.Scalar() == "false") return a.watch.reset();
  } else {
    w.paths = l.strings(f, "true, a path, a list of paths or {paths, ignore, delay}");
  }
  if (w.paths.empty()) w.paths.push_back(".");
  a.watch = std::move(w);
}

// env_file's variables under env's: env names what this app needs, the
// file what a deploy shares.
void read_env_file(Loader& l, AppConfig& a, const Field& f) {
  std::ifstream in(a.env_file);
  if (!in) l.fail(f, "cannot read " + in_quotes(a.env_file) + ": " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string error;
  auto vars = parse_env_file(text, error);
  if (!vars) l.fail(f, a.env_file + ": " + error);
  for (auto& [k, v] : *vars) a.env.emplace(k, v);
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

void set_user(Loader& l, AppConfig& a, const Field& f) {
  a.user = l.text(f, "a user name");
  const passwd* pw = a.user.empty() ? nullptr : ::getpwnam(a.user.c_str());
  if (!pw) l.fail(f, "no user named " + in_quotes(a.user) + " on this machine (getent passwd " + a.user + ")");
  a.uid = pw->pw_uid;
}

void set_group(Loader& l, AppConfig& a, const Field& f) {
  a.group = l.text(f, "a group name");
  const group* gr = a.group.empty() ? nullptr : ::getgrnam(a.group.c_str());
  if (!gr) l.fail(f, "no group named " + in_quotes(a.group) + " on this machine (getent group " + a.group + ")");
  a.gid = gr->gr_gid;
}

const std::vector<Key<AppConfig>> kAppKeys = {
    {"user", set_user},
    {"group", set_group},
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
    {"instances", set_instances},
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
    {"inherit_env", [](Loader& l, AppConfig& a, const Field& f) { a.inherit_env = l.boolean(f); }},
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
    {"max_memory",
     [](Loader& l, AppConfig& a, const Field& f) {
       a.max_memory = l.size(f);
       // A bare number is bytes: max_memory: 10 would replace every worker
       // as soon as it starts, forever. No runtime fits in under 1M.
       if (*a.max_memory < 1024 * 1024)
         l.fail(f, "max_memory " + in_quotes(f.value.Scalar()) + " is under 1M (a bare number is bytes); write e.g. 512M");
     }},
    {"interpreter",
     [](Loader& l, AppConfig& a, const Field& f) {
       std::string s = l.text(f, "an interpreter like node or python3, or none");
       auto words = split_command(s);
       if (!words || (words->empty())) l.expected(f, "an interpreter like node or python3, or none");
       a.interpreter = s == "none" ? std::vector<std::string>{} : *words;
     }},
    {"stop_signal",
     [](Loader& l, AppConfig& a, const Field& f) {
       std::string s = l.text(f, "a signal name like SIGINT");
       auto sig = parse_signal(s);
       if (!sig) l.expected(f, "a signal name like SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1 or SIGUSR2");
       a.stop_signal = *sig;
     }},
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
    {"autorestart", [](Loader& l, AppConfig& a, const Field& f) { a.autorestart = l.boolean(f); }},
    {"stop_exit_codes", set_stop_exit_codes},
    {"namespace",
     [](Loader& l, AppConfig& a, const Field& f) {
       a.ns = l.text(f, "a namespace");
       if (!valid_app_name(a.ns)) l.expected(f, "a namespace of 1 to 64 letters, digits, '-' or '_'");
     }},
    {"env_file", [](Loader& l, AppConfig& a, const Field& f) { a.env_file = l.path_value(f).string(); }},
    {"cron_restart",
     [](Loader& l, AppConfig& a, const Field& f) {
       std::string s = l.text(f, "a cron schedule like \"0 3 * * *\"");
       std::string why;
       if (!cron::Schedule::parse(s, why)) l.fail(f, "expected a cron schedule like \"0 3 * * *\": " + why);
       a.cron_restart = s;
     }},
    {"cron_tz",
     [](Loader& l, AppConfig& a, const Field& f) {
       std::string why;
       if (auto zone = cron::Zone::parse(l.text(f, "utc, local or a zone name"), why)) a.cron_zone = *zone;
       else l.fail(f, why);
     }},
    {"watch", set_watch},
    {"reload", set_reload},
    {"scale", set_scale},
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
  if (app.uid && !seen.has("group")) {
    if (const passwd* pw = ::getpwnam(app.user.c_str())) app.gid = pw->pw_gid;
  }
  app.logs.owner_uid = app.uid;
  app.logs.owner_gid = app.gid;

  if (!seen.has("protocol")) app.protocol = seen.has("listen") ? Protocol::Rack : Protocol::None;
  if (seen.ok("protocol")) {
    const std::string protocol = to_string(app.protocol);
    // A node app may leave it out: rackd then binds what the app's server
    // asks for, as node's own cluster primary does (node/channel.h).
    if (app.protocol != Protocol::None && app.protocol != Protocol::Node && !seen.has("listen")) {
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

  if (seen.has("env_file") && seen.ok("env_file")) attempt([&] { read_env_file(*this, app, seen["env_file"]); });
  if (app.watch && seen.ok("cwd")) {
    for (std::string& p : app.watch->paths) {
      fs::path abs = fs::path(p).is_relative() ? fs::path(app.cwd) / p : fs::path(p);
      std::error_code ec;
      if (!fs::exists(abs, ec))
        record(ConfigError(at(seen["watch"]), "watch: " + in_quotes(normal(abs).string()) + " does not exist"));
      p = normal(abs).string();
    }
  }

  check_traffic(*this, app, seen);
  if (seen.has("run") && seen.ok("run") && seen.ok("cwd") && seen.ok("protocol")) {
    attempt([&] { resolve_run(app, seen["run"]); });
  }
}

}  // namespace rack::config::detail
