#include "status_table.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace rack::cli {

using json = nlohmann::json;

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1fgb", b / double(1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1fmb", b / double(1ull << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1fkb", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%llub", static_cast<unsigned long long>(b));
  return buf;
}

std::string human_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%.0fm", s / 60);
  else if (s < 86400) std::snprintf(buf, sizeof buf, "%.0fh", s / 3600);
  else std::snprintf(buf, sizeof buf, "%.0fD", s / 86400);
  return buf;
}

std::string render_status(const json& status) {
  std::vector<std::vector<std::string>> rows = {
      {"app", "status", "slot", "pid", "state", "↺", "gen", "uptime", "cpu", "mem", "listen"}};
  std::vector<std::string> notes;
  for (const auto& app : status.value("apps", json::array())) {
    std::string name = app.value("name", "?");
    std::string listen = app["listen"].is_string() ? app["listen"].get<std::string>() : "-";
    std::string app_status = app.value("status", "?");
    const auto& workers = app.value("workers", json::array());
    if (workers.empty()) {
      rows.push_back({name, app_status, "-", "-", "-", "-", "-", "-", "-", "-", listen});
      continue;
    }
    for (const auto& w : workers) {
      bool alive = w["pid"].is_number();
      rows.push_back({
          name,
          app_status,
          std::to_string(w.value("slot", 0)),
          alive ? std::to_string(w["pid"].get<long>()) : "-",
          w.value("state", "?"),
          std::to_string(w.value("restarts", 0)),
          std::to_string(w.value("generation", 0)),
          alive ? human_duration(w.value("uptime_s", 0.0)) : "-",
          alive ? [&] {
            char b[16];
            std::snprintf(b, sizeof b, "%.1f%%", w.value("cpu_percent", 0.0));
            return std::string(b);
          }()
                : "-",
          alive ? human_bytes(w.value("rss_bytes", uint64_t{0})) : "-",
          listen,
      });
      if (w.value("state", "") == "errored" && w.contains("last_exit"))
        notes.push_back(name + " slot " + std::to_string(w.value("slot", 0)) + ": " + w["last_exit"].get<std::string>());
    }
  }
  // Column widths count UTF-8 code points, not bytes (the ↺ header).
  auto width = [](const std::string& s) {
    return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  };
  std::vector<size_t> w(rows[0].size(), 0);
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  std::string out;
  for (auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out += std::string(w[i] - width(r[i]) + 2, ' ');
    }
    out += '\n';
  }
  for (auto& n : notes) out += n + "\n";
  return out;
}

}  // namespace rack::cli
