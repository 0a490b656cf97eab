// An app's resolved configuration written back as an ecosystem file
// (`rackctl save` keeps it, so `resurrect` needs neither the original file
// nor the files and PATH it referred to). Every value is explicit: paths
// absolute, run[0] resolved with its interpreter in front (hence
// `interpreter: none`), durations in ms, sizes in bytes.
#include <string.h>

#include <yaml-cpp/yaml.h>

#include "rack/config.h"

namespace rack::config {

namespace {

std::string ms(Duration d) { return std::to_string(d.count()) + "ms"; }

const char* ready_mode(ReadyMode r) { return r == ReadyMode::Notify ? "notify" : "auto"; }

void emit_restart(YAML::Emitter& out, const RestartPolicy& r) {
  out << YAML::Key << "restart" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "min_uptime" << YAML::Value << ms(r.min_uptime);
  out << YAML::Key << "max_restarts" << YAML::Value << r.max_restarts;
  out << YAML::Key << "backoff_initial" << YAML::Value << ms(r.backoff_initial);
  out << YAML::Key << "backoff_max" << YAML::Value << ms(r.backoff_max);
  out << YAML::Key << "backoff_factor" << YAML::Value << r.backoff_factor;
  out << YAML::Key << "reset_after" << YAML::Value << ms(r.reset_after);
  if (r.delay) out << YAML::Key << "delay" << YAML::Value << ms(*r.delay);
  out << YAML::EndMap;
}

void emit_logs(YAML::Emitter& out, const LogConfig& c) {
  out << YAML::Key << "logs" << YAML::Value << YAML::BeginMap;
  if (!c.files) out << YAML::Key << "dir" << YAML::Value << "off";
  else if (!c.dir.empty()) out << YAML::Key << "dir" << YAML::Value << c.dir;
  out << YAML::Key << "max_size" << YAML::Value << c.max_size;
  out << YAML::Key << "keep" << YAML::Value << c.keep;
  out << YAML::Key << "compress" << YAML::Value << c.compress;
  out << YAML::Key << "time" << YAML::Value << c.time;
  if (!c.date_format.empty()) out << YAML::Key << "date_format" << YAML::Value << c.date_format;
  out << YAML::Key << "on_full" << YAML::Value << to_string(c.on_full);
  if (c.rotate_every) out << YAML::Key << "rotate_every" << YAML::Value << ms(*c.rotate_every);
  if (c.max_age) out << YAML::Key << "max_age" << YAML::Value << ms(*c.max_age);
  out << YAML::Key << "buffer" << YAML::Value << c.buffer;
  out << YAML::EndMap;
}

// The keys the loader accepts only for some protocols.
void emit_protocol_keys(YAML::Emitter& out, const AppConfig& a) {
  if (a.protocol == Protocol::Rack || a.protocol == Protocol::Node)
    out << YAML::Key << "dispatch" << YAML::Value << to_string(a.dispatch);
  if (a.protocol == Protocol::Inherit || a.protocol == Protocol::None) {
    out << YAML::Key << "ready" << YAML::Value;
    if (a.ready == ReadyMode::Http) out << YAML::BeginMap << YAML::Key << "http" << YAML::Value << a.ready_http_path << YAML::EndMap;
    else out << ready_mode(a.ready);
  }
  if (a.protocol == Protocol::Node) {
    out << YAML::Key << "wait_ready" << YAML::Value << a.wait_ready;
    out << YAML::Key << "shutdown_with_message" << YAML::Value << a.shutdown_with_message;
  }
  if (a.protocol == Protocol::Rack && !a.metrics_path.empty())
    out << YAML::Key << "metrics_path" << YAML::Value << a.metrics_path;
}

// PM2's keys. env_file is not one of them: its variables are in env already.
void emit_pm2_keys(YAML::Emitter& out, const AppConfig& a) {
  out << YAML::Key << "autorestart" << YAML::Value << a.autorestart;
  if (!a.stop_exit_codes.empty()) out << YAML::Key << "stop_exit_codes" << YAML::Value << YAML::Flow << a.stop_exit_codes;
  out << YAML::Key << "namespace" << YAML::Value << a.ns;
  if (!a.cron_restart.empty()) {
    out << YAML::Key << "cron_restart" << YAML::Value << a.cron_restart;
    out << YAML::Key << "cron_tz" << YAML::Value << a.cron_zone.name();
  }
  if (a.watch) {
    out << YAML::Key << "watch" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "paths" << YAML::Value << a.watch->paths;
    if (!a.watch->ignore.empty()) out << YAML::Key << "ignore" << YAML::Value << a.watch->ignore;
    out << YAML::Key << "delay" << YAML::Value << ms(a.watch->delay);
    out << YAML::EndMap;
  }
}

void emit_app(YAML::Emitter& out, const AppConfig& a) {
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << a.name;
  out << YAML::Key << "run" << YAML::Value << YAML::Flow << a.run;
  out << YAML::Key << "interpreter" << YAML::Value << "none";  // run[0] is resolved already
  out << YAML::Key << "cwd" << YAML::Value << a.cwd;
  out << YAML::Key << "instances" << YAML::Value << a.instances;
  if (!a.user.empty()) out << YAML::Key << "user" << YAML::Value << a.user;
  if (!a.group.empty()) out << YAML::Key << "group" << YAML::Value << a.group;
  out << YAML::Key << "protocol" << YAML::Value << to_string(a.protocol);
  if (a.listen) out << YAML::Key << "listen" << YAML::Value << a.listen->str();
  emit_protocol_keys(out, a);
  out << YAML::Key << "env" << YAML::Value << YAML::BeginMap;
  for (auto& [k, v] : a.env) out << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
  out << YAML::EndMap;
  out << YAML::Key << "inherit_env" << YAML::Value << a.inherit_env;
  out << YAML::Key << "ready_timeout" << YAML::Value << ms(a.ready_timeout);
  out << YAML::Key << "kill_timeout" << YAML::Value << ms(a.kill_timeout);
  out << YAML::Key << "heartbeat_timeout" << YAML::Value << ms(a.heartbeat_timeout);
  if (a.stop_signal != 0) {
    const char* abbrev = ::sigabbrev_np(a.stop_signal);
    if (abbrev) out << YAML::Key << "stop_signal" << YAML::Value << std::string("SIG") + abbrev;
  }
  emit_restart(out, a.restart);
  if (a.max_memory) out << YAML::Key << "max_memory" << YAML::Value << *a.max_memory;
  if (a.max_requests) out << YAML::Key << "max_requests" << YAML::Value << *a.max_requests;
  out << YAML::Key << "parallel" << YAML::Value << a.parallel;
  out << YAML::Key << "queue" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "size" << YAML::Value << a.queue_size;
  out << YAML::Key << "timeout" << YAML::Value << ms(a.queue_timeout);
  out << YAML::EndMap;
  if (!a.gauges.empty()) {
    out << YAML::Key << "gauges" << YAML::Value << YAML::BeginMap;
    for (auto& [k, v] : a.gauges) out << YAML::Key << k << YAML::Value << to_string(v);
    out << YAML::EndMap;
  }
  emit_logs(out, a.logs);
  emit_pm2_keys(out, a);
  out << YAML::EndMap;
}

}  // namespace

std::string to_yaml(const AppConfig& app) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "apps" << YAML::Value << YAML::BeginSeq;
  emit_app(out, app);
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace rack::config
