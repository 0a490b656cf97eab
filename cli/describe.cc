#include "describe.h"

#include <cstdio>

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
  std::string line = "  " + str(s, "slot") + "  pid " + str(s, "pid") + "  " + str(s, "state") + "  restarts " +
                     str(s, "restarts");
  if (s["pid"].is_number()) line += "  up " + human_duration(s.value("uptime_s", 0.0));
  const json e = s.value("last_exit", json());
  if (!e.is_object()) return line + "  last exit: none\n";
  line += "\n      last exit: " + str(e, "what") + " [" + str(e, "cause") + "]";
  if (e["pid"].is_number()) line += ", pid " + str(e, "pid");
  line += ", after " + human_duration(e.value("uptime_s", 0.0)) + ", " + human_duration(e.value("ago_s", 0.0)) +
          " ago (" + str(e, "at") + ")\n";
  return line;
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
                     ms(r, "backoff_max_ms") + ", reset after " + ms(r, "reset_after_ms") + " up");
  row("timeouts", "ready " + ms(r, "ready_timeout_ms") + ", kill " + ms(r, "kill_timeout_ms") + ", heartbeat " +
                      ms(r, "heartbeat_timeout_ms"));
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
