#include "describe.h"

#include <cstdio>
#include <functional>

#include "status_table.h"

namespace rack::cli {

using json = nlohmann::json;

namespace {

std::string str(const json& j, const char* key, const char* none = "-") {
  if (!j.contains(key) || j[key].is_null()) return none;
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

std::string ms(const json& j, const char* key) {
  long long v = j.value(key, 0LL);
  return v % 1000 == 0 ? std::to_string(v / 1000) + "s" : std::to_string(v) + "ms";
}

// argv as a shell would need it typed: words with spaces or quotes quoted.
std::string command_line(const json& argv) {
  std::string out;
  for (const auto& a : argv) {
    std::string s = a.is_string() ? a.get<std::string>() : a.dump();
    bool plain = !s.empty() && s.find_first_of(" \t\n'\"\\$`") == std::string::npos;
    if (!out.empty()) out += ' ';
    if (plain) {
      out += s;
      continue;
    }
    out += '\'';
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

std::string join(const json& list) {
  std::string out;
  for (const auto& k : list) out += (out.empty() ? "" : ", ") + (k.is_string() ? k.get<std::string>() : k.dump());
  return out.empty() ? "(none)" : out;
}

std::string slot_line(const json& s) {
  std::string line = "  " + str(s, "slot") + "  pid " + str(s, "pid") + "  " + str(s, "state") + "  generation " +
                     str(s, "generation") + "  restarts " + str(s, "restarts");
  if (s["pid"].is_number()) {
    char cpu[32];
    std::snprintf(cpu, sizeof cpu, "%.1f%%", s.value("cpu_percent", 0.0));
    line += "  up " + human_duration(s.value("uptime_s", 0.0)) + "  cpu " + cpu + "  mem " +
            human_bytes(s.value("rss_bytes", uint64_t{0}));
  }
  const json e = s.value("last_exit", json());
  if (!e.is_object()) return line + "  last exit: none\n";
  line += "\n      last exit: " + str(e, "what") + " [" + str(e, "cause") + "]";
  if (e["pid"].is_number()) line += ", pid " + str(e, "pid");
  line += ", after " + human_duration(e.value("uptime_s", 0.0)) + ", " + human_duration(e.value("ago_s", 0.0)) +
          " ago (" + str(e, "at") + ")\n";
  return line;
}

// stop_signal, autorestart and stop_exit_codes, max_memory, cron_restart, watch.
void policy_rows(const json& app, const std::function<void(const char*, const std::string&)>& row) {
  row("stop", app.value("shutdown_with_message", false)
                  ? "the 'shutdown' message (shutdown_with_message), then SIGKILL after kill_timeout"
                  : str(app, "stop_signal") + ", then SIGKILL after kill_timeout");
  std::string again = app.value("autorestart", true) ? "yes" : "no (autorestart: false)";
  const json codes = app.value("stop_exit_codes", json::array());
  if (!codes.empty()) again += "; not after exit codes " + join(codes) + " (stop_exit_codes)";
  row("autorestart", again);
  const json mem = app.value("max_memory", json());
  row("max_memory", mem.is_number() ? human_bytes(mem.get<uint64_t>()) + " (then replaced gracefully)" : "none");
  const json cron = app.value("cron_restart", json());
  row("cron_restart", cron.is_object() ? str(cron, "schedule") + " (" + str(cron, "tz") + "): a graceful reload" : "none");
  const json watch = app.value("watch", json());
  if (watch.is_object())
    row("watch", join(watch.value("paths", json::array())) + "; ignore " + join(watch.value("ignore", json::array())) +
                     "; delay " + ms(watch, "delay_ms") + ": a graceful reload");
  else
    row("watch", "off");
}

}  // namespace

std::string render_describe(const json& app) {
  const json r = app.value("restart", json::object());
  const json logs = app.value("logs", json::object());
  std::string out;
  auto row = [&](const char* k, const std::string& v) {
    char key[16];
    std::snprintf(key, sizeof key, "%-12s", k);
    out += std::string(key) + " " + v + "\n";
  };
  row("name", str(app, "name"));
  row("namespace", str(app, "namespace"));
  row("status", str(app, "status"));
  row("protocol", str(app, "protocol"));
  row("listen", str(app, "listen"));
  row("instances", str(app, "instances"));
  row("file", str(app, "file"));
  row("command", command_line(app.value("command", json::array())));
  row("cwd", str(app, "cwd"));
  row("env keys", join(app.value("env_keys", json::array())));
  if (logs.value("files", true))
    row("logs", "out " + str(logs, "out") + "\n             err " + str(logs, "err") + "\n             on_full " +
                    str(logs, "on_full"));
  else
    row("logs", "off: no log files (logs.dir: off)");
  row("restart", "min_uptime " + ms(r, "min_uptime_ms") + ", max_restarts " + str(r, "max_restarts") + ", backoff " +
                     ms(r, "backoff_initial_ms") + " x" + str(r, "backoff_factor") + " up to " +
                     ms(r, "backoff_max_ms") + ", reset after " + ms(r, "reset_after_ms") + " up" +
                     (r.value("delay_ms", json()).is_number() ? ", delay " + ms(r, "delay_ms") + " before each" : ""));
  row("timeouts", "ready " + ms(r, "ready_timeout_ms") + ", kill " + ms(r, "kill_timeout_ms") + ", heartbeat " +
                      ms(r, "heartbeat_timeout_ms"));
  policy_rows(app, row);
  std::string c = str(app, "containment");
  row("containment", c == "process-group" ? c + " (every worker leads its own; each signal reaches all of it)"
                     : c == "cgroup"      ? c + " (every worker in one of its own, and leading its process group: each "
                                                "signal reaches the group, SIGKILL the whole cgroup, setsid() included)"
                                          : c);
  std::string reasons;
  const json reasons_by = app.value("restart_reasons", json::object());
  for (const auto& [why, n] : reasons_by.items())
    reasons += (reasons.empty() ? "" : ", ") + why + " " + n.dump();
  row("restarts", reasons.empty() ? "none" : reasons);
  out += "slots:\n";
  const json slots = app.value("slots", json::array());
  for (const auto& s : slots) out += slot_line(s);
  return out;
}

}  // namespace rack::cli
