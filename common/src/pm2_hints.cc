// PM2 keys Rack does not take, and what to use instead. A key listed here
// gets a warning naming it; a key PM2 does not know either gets a warning
// too (a typo in a PM2 file is a typo under Rack as well).
#include <map>
#include <string_view>

#include "rack/pm2.h"

namespace rack::pm2 {

std::string unsupported_hint(const std::string& key) {
  static const std::map<std::string_view, std::string_view> kHints = {
      {"instance_var", "Rack sets NODE_APP_INSTANCE and RACK_INSTANCE (the slot); read one of those"},
      {"increment_var", "not supported: give each instance its slot from NODE_APP_INSTANCE or RACK_INSTANCE"},
      {"source_map_support", "use interpreter_args: --enable-source-maps"},
      {"pid_file", "Rack writes no pid files; `rackctl jlist` lists every worker's pid"},
      {"log_type", "log files are plain lines; `rackctl logs --json` prints JSON"},
      {"log_file", "Rack writes <app>.out.log and <app>.err.log only; `rackctl logs <app>` shows both"},
      {"combine_logs", "Rack always writes one pair of files per app (merge_logs is Rack's behaviour)"},
      {"vizion", "Rack keeps no version metadata"},
      {"post_update", "Rack does not pull code; run the commands in your deploy step"},
      {"force", "Rack never starts an app twice; use rackctl reload or restart"},
      {"autostart", "not supported: leave the app out and start it with rackctl start --only <app>"},
      {"treekill", "Rack always ends a worker's whole process group"},
      {"pmx", "PM2.io monitoring: Rack serves Prometheus metrics at the admin listener's /metrics"},
      {"automation", "PM2.io monitoring: Rack serves Prometheus metrics at the admin listener's /metrics"},
      {"trace", "PM2.io tracing is not supported"},
      {"disable_trace", "PM2.io tracing is not supported"},
      {"deep_monitoring", "PM2.io monitoring: Rack serves Prometheus metrics at the admin listener's /metrics"},
      {"filter_env", "not supported: workers get rackd's environment plus env"},
      {"append_env_name", "not supported: name the apps yourself"},
      {"windowsHide", "Windows only; ignored"},
      {"wait_ready_timeout", "use listen_timeout"},
      {"port", "use env.PORT (or listen: HOST:PORT): rackd binds it for cluster mode"},
      {"max_memory", "PM2 calls it max_memory_restart"},
      {"node_version", "not supported: set interpreter to the node binary you want"},
      {"exec_interpreter", "use interpreter"},
      {"container", "not supported: see docs/deploy.md for containers"},
  };
  auto it = kHints.find(key);
  return it == kHints.end() ? std::string() : std::string(it->second);
}

}  // namespace rack::pm2
