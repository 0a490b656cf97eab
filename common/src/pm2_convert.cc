// PM2 app objects -> Rack apps, one handler per PM2 key (rack/pm2.h).
#include <grp.h>
#include <pwd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>
#include <map>

#include "rack/config.h"
#include "rack/cpu_limit.h"
#include "rack/date_format.h"
#include "rack/pm2.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace rack::pm2 {
namespace {

// What one app's conversion works on.
struct AppMap {
  const json& in;
  YAML::Node out;
  std::string where;  // "ecosystem.config.js: apps[0] (api)"
  const Options& opt;
  std::vector<std::string>& warnings;
  std::vector<std::string>& errors;
  std::map<std::string, std::string> env = {};  // env, then env_<name> over it
  bool cluster = false;
  std::string script = {};

  void warn(const std::string& key, const std::string& text) { warnings.push_back(where + ": " + key + ": " + text); }
  void error(const std::string& key, const std::string& text) { errors.push_back(where + ": " + key + ": " + text); }
};

// PM2 takes numbers and strings alike ("instances: '4'"); so does this.
std::optional<std::string> scalar(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number_unsigned()) return std::to_string(v.get<unsigned long long>());
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == static_cast<double>(static_cast<long long>(d))) return std::to_string(static_cast<long long>(d));
    return json(d).dump();
  }
  return std::nullopt;
}

std::string type_of(const json& v) { return v.is_null() ? "null" : v.type_name(); }

std::optional<std::string> text_of(AppMap& m, const std::string& key, const json& v) {
  auto s = scalar(v);
  if (!s) m.error(key, "expected a string or number, got " + type_of(v));
  return s;
}

std::optional<bool> bool_of(AppMap& m, const std::string& key, const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string() && (v == "true" || v == "false")) return v == "true";
  m.error(key, "expected true or false, got " + type_of(v) + (v.is_string() ? " \"" + v.get<std::string>() + "\"" : ""));
  return std::nullopt;
}

// A PM2 duration: a number is milliseconds; a string is what Rack reads.
std::optional<std::string> duration_of(AppMap& m, const std::string& key, const json& v) {
  if (v.is_number()) return scalar(v).value() + "ms";
  return text_of(m, key, v);
}

// A list of strings, or one string split like a shell would.
std::optional<std::vector<std::string>> words_of(AppMap& m, const std::string& key, const json& v) {
  std::vector<std::string> out;
  if (v.is_array()) {
    for (const json& e : v) {
      auto s = scalar(e);
      if (!s) {
        m.error(key, "expected a list of strings, got an element of type " + type_of(e));
        return std::nullopt;
      }
      out.push_back(*s);
    }
    return out;
  }
  auto s = text_of(m, key, v);
  if (!s) return std::nullopt;
  auto words = config::split_command(*s);
  if (!words) m.error(key, "unterminated quote in \"" + *s + "\"");
  return words;
}

std::string resolve(const Options& opt, const std::string& path) {
  if (opt.base_dir.empty() || path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(opt.base_dir) / path).lexically_normal().string();
}

void merge_env(AppMap& m, const std::string& key, const json& v) {
  if (!v.is_object()) {
    m.error(key, "expected an object of NAME: value, got " + type_of(v));
    return;
  }
  for (auto& [k, val] : v.items()) {
    if (auto s = scalar(val)) {
      m.env[k] = *s;
    } else if (val.is_null()) {
      m.env.erase(k);
    } else {
      // PM2 JSON-encodes objects into the variable; so does Rack, but say so.
      m.env[k] = val.dump();
      m.warn(key + "." + k, "an " + type_of(val) + " is passed as its JSON text");
    }
  }
}

unsigned cpus(const Options& opt) { return opt.cpus != 0 ? opt.cpus : rack::cpu::usable(); }

void set_instances(AppMap& m, const json& v) {
  auto s = scalar(v);
  if (!s) return m.error("instances", "expected a number or \"max\", got " + type_of(v));
  if (*s == "max" || *s == "0") {
    m.out["instances"] = "max";
    return;
  }
  long n = 0;
  try {
    n = std::stol(*s);
  } catch (const std::exception&) {
    return m.error("instances", "expected a number or \"max\", got \"" + *s + "\"");
  }
  if (n < 0) {
    // PM2: -1 is every CPU but one.
    long c = static_cast<long>(cpus(m.opt)) + n;
    m.warn("instances", *s + " (all CPUs but " + std::to_string(-n) + ") is " + std::to_string(std::max(1L, c)) +
                            " on this machine; the converted file says that number");
    n = std::max(1L, c);
  }
  m.out["instances"] = n;
}

using Handler = std::function<void(AppMap&, const std::string& key, const json& v)>;

void to_duration(AppMap& m, const char* rack_key, const std::string& key, const json& v) {
  if (auto d = duration_of(m, key, v)) m.out[rack_key] = *d;
}

void to_restart(AppMap& m, const char* rack_key, const std::string& key, const json& v, bool is_duration) {
  auto s = is_duration ? duration_of(m, key, v) : text_of(m, key, v);
  if (s) m.out["restart"][rack_key] = *s;
}

bool discarded(const json& v) { return v.is_string() && (v == "/dev/null" || v == "NULL"); }

bool logs_off(const AppMap& m) {
  bool disabled = m.in.contains("disable_logs") && m.in["disable_logs"] == true;
  bool both_null = m.in.contains("out_file") && discarded(m.in["out_file"]) && m.in.contains("error_file") &&
                   discarded(m.in["error_file"]);
  return disabled || both_null;
}

void set_log_file(AppMap& m, const std::string& key, const json& v, const char* stream) {
  auto s = text_of(m, key, v);
  if (!s) return;
  // No files at all is Rack's logs.dir: off; one stream alone it cannot drop.
  if (logs_off(m)) {
    m.out["logs"]["dir"] = "off";
    return;
  }
  if (discarded(v)) {
    m.warn(key, "Rack cannot drop one stream: both go to files (bound them with logs.max_size and logs.keep), or "
                "neither with disable_logs: true (logs.dir: off)");
    return;
  }
  fs::path p(resolve(m.opt, *s));
  std::string dir = p.parent_path().string();
  if (dir.empty()) dir = ".";
  YAML::Node logs = m.out["logs"];
  if (logs["dir"] && logs["dir"].as<std::string>() != dir) {
    m.warn(key, "out_file and error_file are in different directories; Rack uses one: " + logs["dir"].as<std::string>());
    return;
  }
  logs["dir"] = dir;
  m.warn(key, "Rack writes <dir>/<app>." + std::string(stream) + ".log: logs.dir is " + dir + " (the file name " +
                  p.filename().string() + " is not kept)");
}

// log_date_format is a moment.js format; logs.date_format is strftime-like.
// With a token that has no equivalent the key is left out (lines keep the
// ISO stamp) rather than written half-mapped.
void set_date_format(AppMap& m, const std::string& key, const json& v) {
  auto s = text_of(m, key, v);
  if (!s) return;
  std::vector<std::string> unmapped;
  std::string f = date_format::from_moment(*s, unmapped);
  if (unmapped.empty() && f.empty()) return;  // log_date_format: "": PM2's default stamp
  if (!unmapped.empty()) {
    std::string list;
    for (const std::string& t : unmapped) list += (list.empty() ? "" : ", ") + t;
    m.warn(key, "\"" + *s + "\": no logs.date_format equivalent for " + list +
                    " (Rack maps YYYY YY MM DD HH mm ss SSS Z ZZ and [text]); lines keep the ISO-8601 UTC time");
    return;
  }
  m.out["logs"]["date_format"] = f;
}

// PM2's uid/user and gid take a name or a number; Rack's user: and group:
// take a name, so a number is looked up on this machine.
void set_owner(AppMap& m, const std::string& key, const json& v, const char* rack_key) {
  auto s = text_of(m, key, v);
  if (!s) return;
  std::string name = *s;
  bool group = std::string_view(rack_key) == "group";
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
    unsigned long id = std::stoul(name.substr(0, 10));
    const char* found = nullptr;
    if (group) {
      if (const struct group* gr = ::getgrgid(static_cast<gid_t>(id))) found = gr->gr_name;
    } else if (const passwd* pw = ::getpwuid(static_cast<uid_t>(id))) {
      found = pw->pw_name;
    }
    if (!found)
      return m.error(key, "no " + std::string(group ? "group with gid " : "user with uid ") + name +
                              " on this machine (Rack's " + rack_key + ": takes a name)");
    name = found;
  }
  if (m.out[rack_key] && m.out[rack_key].as<std::string>() != name)
    return m.error(key, "says " + name + " but another key says " + m.out[rack_key].as<std::string>());
  m.out[rack_key] = name;
}

// watch: true | path | [paths], with ignore_watch and watch_delay beside it.
void set_watch(AppMap& m, const std::string& key, const json& v) {
  if (v.is_boolean() && !v.get<bool>()) return;
  YAML::Node w(YAML::NodeType::Map);
  if (v.is_boolean()) {
    w["paths"].push_back(".");
  } else if (auto paths = words_of(m, key, v.is_string() ? json::array({v}) : v)) {
    for (const std::string& p : *paths) w["paths"].push_back(resolve(m.opt, p));
  } else {
    return;
  }
  if (m.in.contains("ignore_watch")) {
    const json& ig = m.in["ignore_watch"];
    if (auto globs = words_of(m, "ignore_watch", ig.is_string() ? json::array({ig}) : ig))
      for (const std::string& g : *globs) w["ignore"].push_back(g);
  }
  if (m.in.contains("watch_delay"))
    if (auto d = duration_of(m, "watch_delay", m.in["watch_delay"])) w["delay"] = *d;
  m.out["watch"] = w;
}

const std::map<std::string, Handler>& handlers() {
  static const std::map<std::string, Handler> h = {
      {"name", [](AppMap& m, const std::string& k, const json& v) { if (auto s = text_of(m, k, v)) m.out["name"] = *s; }},
      {"script", [](AppMap&, const std::string&, const json&) {}},  // with args, in finish()
      {"args", [](AppMap&, const std::string&, const json&) {}},
      {"interpreter", [](AppMap&, const std::string&, const json&) {}},
      {"interpreter_args", [](AppMap&, const std::string&, const json&) {}},
      {"node_args", [](AppMap&, const std::string&, const json&) {}},
      {"exec_mode", [](AppMap&, const std::string&, const json&) {}},
      {"env", [](AppMap&, const std::string&, const json&) {}},
      {"cwd", [](AppMap& m, const std::string& k, const json& v) { if (auto s = text_of(m, k, v)) m.out["cwd"] = resolve(m.opt, *s); }},
      {"instances", [](AppMap& m, const std::string&, const json& v) { set_instances(m, v); }},
      {"max_memory_restart",
       [](AppMap& m, const std::string& k, const json& v) { if (auto s = text_of(m, k, v)) m.out["max_memory"] = *s; }},
      {"kill_timeout", [](AppMap& m, const std::string& k, const json& v) { to_duration(m, "kill_timeout", k, v); }},
      {"listen_timeout", [](AppMap& m, const std::string& k, const json& v) { to_duration(m, "ready_timeout", k, v); }},
      {"wait_ready", [](AppMap& m, const std::string& k, const json& v) { if (auto b = bool_of(m, k, v)) m.out["wait_ready"] = *b; }},
      {"shutdown_with_message",
       [](AppMap& m, const std::string& k, const json& v) { if (auto b = bool_of(m, k, v)) m.out["shutdown_with_message"] = *b; }},
      {"kill_signal", [](AppMap& m, const std::string& k, const json& v) { if (auto s = text_of(m, k, v)) m.out["stop_signal"] = *s; }},
      {"min_uptime", [](AppMap& m, const std::string& k, const json& v) { to_restart(m, "min_uptime", k, v, true); }},
      {"max_restarts", [](AppMap& m, const std::string& k, const json& v) { to_restart(m, "max_restarts", k, v, false); }},
      {"exp_backoff_restart_delay",
       [](AppMap& m, const std::string& k, const json& v) { to_restart(m, "backoff_initial", k, v, true); }},
      {"merge_logs", [](AppMap& m, const std::string& k, const json& v) {
         if (auto b = bool_of(m, k, v); b && !*b)
           m.warn(k, "Rack always writes one pair of files per app, with each line's slot in its prefix");
       }},
      {"out_file", [](AppMap& m, const std::string& k, const json& v) { set_log_file(m, k, v, "out"); }},
      {"error_file", [](AppMap& m, const std::string& k, const json& v) { set_log_file(m, k, v, "err"); }},
      {"disable_logs", [](AppMap& m, const std::string& k, const json& v) {
         if (auto b = bool_of(m, k, v); b && *b) m.out["logs"]["dir"] = "off";
       }},
      {"user", [](AppMap& m, const std::string& k, const json& v) { set_owner(m, k, v, "user"); }},
      {"uid", [](AppMap& m, const std::string& k, const json& v) { set_owner(m, k, v, "user"); }},
      {"gid", [](AppMap& m, const std::string& k, const json& v) { set_owner(m, k, v, "group"); }},
      {"time", [](AppMap& m, const std::string& k, const json& v) { if (auto b = bool_of(m, k, v)) m.out["logs"]["time"] = *b; }},
      {"log_date_format", [](AppMap& m, const std::string& k, const json& v) { set_date_format(m, k, v); }},
      {"restart_delay", [](AppMap& m, const std::string& k, const json& v) { to_restart(m, "delay", k, v, true); }},
      {"autorestart", [](AppMap& m, const std::string& k, const json& v) { if (auto b = bool_of(m, k, v)) m.out["autorestart"] = *b; }},
      {"stop_exit_codes", [](AppMap& m, const std::string& k, const json& v) {
         if (auto w = words_of(m, k, v.is_number() ? json::array({v}) : v)) m.out["stop_exit_codes"] = *w;
       }},
      {"namespace", [](AppMap& m, const std::string& k, const json& v) { if (auto s = text_of(m, k, v)) m.out["namespace"] = *s; }},
      {"cron_restart", [](AppMap& m, const std::string& k, const json& v) {
         if (auto s = text_of(m, k, v)) {
           m.out["cron_restart"] = *s;
           m.out["cron_tz"] = "local";  // PM2 reads the schedule in the machine's time zone
         }
       }},
      {"watch", set_watch},
      {"ignore_watch", [](AppMap&, const std::string&, const json&) {}},  // with watch
      {"watch_delay", [](AppMap&, const std::string&, const json&) {}},
      // Rack's own keys, accepted in a PM2 file: where cluster mode listens.
      {"listen", [](AppMap& m, const std::string& k, const json& v) { if (auto s = text_of(m, k, v)) m.out["listen"] = *s; }},
      {"protocol", [](AppMap& m, const std::string& k, const json& v) { if (auto s = text_of(m, k, v)) m.out["protocol"] = *s; }},
  };
  return h;
}

bool is_node(const AppMap& m, const std::vector<std::string>& interpreter) {
  if (!interpreter.empty()) return fs::path(interpreter[0]).filename() == "node";
  for (const char* ext : {".js", ".mjs", ".cjs"})
    if (m.script.ends_with(ext)) return true;
  return false;
}

// What runs, and how: script + args + interpreter, exec_mode, the port.
void finish(AppMap& m) {
  const json& in = m.in;
  if (!in.contains("script")) return m.error("script", "missing: PM2 needs it too (the file to run)");
  auto script = text_of(m, "script", in["script"]);
  if (!script) return;
  m.script = *script;
  if (!m.out["name"]) {
    // PM2 names an app after its script.
    std::string name;
    for (char ch : fs::path(*script).stem().string())
      name += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_') ? ch : '-';
    m.out["name"] = name.empty() ? "app" : name.substr(0, 64);
  }
  std::vector<std::string> run{*script};
  if (in.contains("args"))
    if (auto a = words_of(m, "args", in["args"])) run.insert(run.end(), a->begin(), a->end());
  m.out["run"] = run;
  m.out["run"].SetStyle(YAML::EmitterStyle::Flow);

  std::vector<std::string> interpreter;
  if (in.contains("interpreter"))
    if (auto s = text_of(m, "interpreter", in["interpreter"])) interpreter = {*s};
  const char* args_key = in.contains("interpreter_args") ? "interpreter_args" : in.contains("node_args") ? "node_args" : nullptr;
  if (args_key) {
    auto a = words_of(m, args_key, in[args_key]);
    if (a && !a->empty()) {
      if (interpreter.empty()) {
        std::string path = resolve(Options{.env_name = "", .base_dir = m.out["cwd"] ? m.out["cwd"].as<std::string>() : m.opt.base_dir, .cpus = 0}, *script);
        interpreter = config::script_interpreter(path);
        if (interpreter.empty()) interpreter = {"node"};
      }
      interpreter.insert(interpreter.end(), a->begin(), a->end());
    }
  }
  if (!interpreter.empty()) {
    std::string joined;
    for (const std::string& w : interpreter) joined += (joined.empty() ? "" : " ") + w;
    m.out["interpreter"] = joined;
  }

  std::string mode = in.contains("exec_mode") ? scalar(in["exec_mode"]).value_or("") : "";
  if (!mode.empty() && mode != "cluster" && mode != "cluster_mode" && mode != "fork" && mode != "fork_mode")
    m.error("exec_mode", "expected cluster or fork, got \"" + mode + "\"");
  bool many = m.out["instances"] && m.out["instances"].as<std::string>() != "1";
  m.cluster = mode == "cluster" || mode == "cluster_mode" || (mode.empty() && many);
  if (m.out["protocol"]) return;
  bool node = interpreter.empty() || interpreter[0] == "none" ? is_node(m, {}) : is_node(m, interpreter);
  if (!m.cluster) return;  // fork mode: protocol none, the app binds what it binds
  if (!m.out["listen"]) {
    auto port = m.env.find("PORT");
    if (port != m.env.end()) {
      m.out["listen"] = ":" + port->second;
    } else if (many && node) {
      // rackd binds what the app's server asks for, as node's cluster
      // primary (and PM2's cluster mode) does.
      m.out["protocol"] = "node";
      return;
    } else if (many) {
      return m.error("exec_mode", "cluster mode with several instances of a program that is not node needs the "
                                  "port rackd binds for them: set env.PORT, or add Rack's listen: HOST:PORT to "
                                  "this app");
    } else {
      return;  // one instance: fork mode does the same
    }
  }
  m.out["protocol"] = node ? "node" : "inherit";
}

YAML::Node convert_app(const json& in, const std::string& where, const Options& opt, std::vector<std::string>& warnings,
                       std::vector<std::string>& errors) {
  AppMap m{in, YAML::Node(YAML::NodeType::Map), where, opt, warnings, errors};
  if (in.contains("name")) handlers().at("name")(m, "name", in["name"]);
  m.out["run"] = YAML::Node(YAML::NodeType::Sequence);  // set in finish(); first after the name, as people write it
  if (in.contains("env")) merge_env(m, "env", in["env"]);
  if (!opt.env_name.empty()) {
    std::string key = "env_" + opt.env_name;
    if (in.contains(key)) merge_env(m, key, in[key]);
    else m.warn(key, "not in this app; --env " + opt.env_name + " uses env alone");
  }
  if (!opt.base_dir.empty() && !in.contains("cwd")) m.out["cwd"] = opt.base_dir;
  for (auto& [key, v] : in.items()) {
    if (key == "name" || key.starts_with("env_")) continue;
    auto h = handlers().find(key);
    if (h != handlers().end()) {
      h->second(m, key, v);
      continue;
    }
    std::string hint = unsupported_hint(key);
    m.warn(key, hint.empty() ? "not a PM2 key Rack knows; ignored" : "not supported by Rack, ignored: " + hint);
  }
  finish(m);
  if (!m.env.empty()) {
    YAML::Node env(YAML::NodeType::Map);
    for (auto& [k, v] : m.env) env[k] = v;
    m.out["env"] = env;
  }
  return m.out;
}

}  // namespace

bool looks_like_pm2_yaml(const json& value) {
  const json* apps = value.is_array() ? &value : value.is_object() && value.contains("apps") ? &value["apps"] : nullptr;
  if (!apps || !apps->is_array() || apps->empty()) return false;
  bool script = false;
  for (const json& a : *apps) {
    if (!a.is_object() || a.contains("run")) return false;
    script |= a.contains("script");
  }
  return script;
}

Conversion convert(const json& value, const std::string& source, const Options& options) {
  Conversion c;
  const json* apps = nullptr;
  if (value.is_array()) {
    apps = &value;
  } else if (value.is_object()) {
    for (auto& [key, v] : value.items()) {
      if (key == "apps" || key == "rack") continue;
      c.warnings.push_back(source + ": " + key + ": " +
                           (key == "deploy" ? "not supported by Rack, ignored: Rack does not deploy code; keep using "
                                              "your deploy tool, then rackctl reload"
                                            : "not a top-level PM2 key Rack knows; ignored"));
    }
    if (value.contains("apps")) apps = &value["apps"];
  }
  if (!apps || !apps->is_array()) {
    c.errors.push_back(source + ": expected an object with apps: [...] (or a list of apps), got " +
                       (apps ? type_of(*apps) : type_of(value)));
    return c;
  }
  if (apps->empty()) c.errors.push_back(source + ": apps is empty");
  YAML::Node root(YAML::NodeType::Map);
  if (value.is_object() && value.contains("rack")) root["rack"] = YAML::Load(value["rack"].dump());
  YAML::Node out_apps(YAML::NodeType::Sequence);
  for (std::size_t i = 0; i < apps->size(); ++i) {
    const json& in = (*apps)[i];
    std::string where = source + ": apps[" + std::to_string(i) + "]";
    if (!in.is_object()) {
      c.errors.push_back(where + ": expected an object, got " + type_of(in));
      continue;
    }
    if (in.contains("name") && in["name"].is_string()) where += " (" + in["name"].get<std::string>() + ")";
    YAML::Node app = convert_app(in, where, options, c.warnings, c.errors);
    if (app["name"]) c.names.push_back(app["name"].as<std::string>());
    out_apps.push_back(app);
  }
  root["apps"] = out_apps;
  YAML::Emitter e;
  e << root;
  c.yaml = std::string(e.c_str()) + "\n";
  return c;
}

}  // namespace rack::pm2
