#include "status_table.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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

TableStyle table_style() {
  TableStyle s;
  if (!::isatty(STDOUT_FILENO)) return s;
  const char* no_color = std::getenv("NO_COLOR");
  s.color = no_color == nullptr || *no_color == '\0';
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) s.columns = ws.ws_col;
  else if (const char* c = std::getenv("COLUMNS")) s.columns = std::strtoul(c, nullptr, 10);
  return s;
}

namespace {

// Code points, not bytes (the ↺ header, "…").
std::size_t width(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string cut(const std::string& s, std::size_t max) {
  if (width(s) <= max) return s;
  std::string out;
  std::size_t n = 0;
  for (char c : s) {
    if ((c & 0xC0) != 0x80 && ++n > max - 1) break;
    out += c;
  }
  return out + "…";
}

// Green for serving, yellow for on the way, red for trouble, dim for stopped.
const char* color_of(const std::string& word) {
  if (word == "online" || word == "ready") return "\033[32m";
  if (word == "degraded" || word == "starting" || word == "draining" || word == "stopping") return "\033[33m";
  if (word == "down" || word == "errored" || word == "backoff") return "\033[31m";
  if (word == "stopped" || word == "exited") return "\033[2m";
  return nullptr;
}

// Cuts the widest of the app (0) and listen (last) columns until a row fits.
void fit(std::vector<std::vector<std::string>>& rows, std::vector<size_t>& w, std::size_t columns) {
  constexpr std::size_t kMin = 8;
  auto total = [&] {
    std::size_t t = 0;
    for (size_t x : w) t += x + 2;
    return t - 2;
  };
  const size_t last = w.size() - 1;
  while (columns > 0 && total() > columns && (w[0] > kMin || w[last] > kMin)) {
    size_t i = w[0] >= w[last] ? 0 : last;
    --w[i];
  }
  for (auto& r : rows) {
    r[0] = cut(r[0], w[0]);
    r[last] = cut(r[last], w[last]);
  }
}

}  // namespace

std::string render_status(const json& status, const TableStyle& style) {
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
      if (w.value("blocked_on_logs", false))
        notes.push_back(name + " slot " + std::to_string(w.value("slot", 0)) +
                        ": blocked on logs (rackd holds its output: the log disk is slow or full)");
      if (w.value("state", "") == "errored" && w.contains("last_exit"))
        notes.push_back(name + " slot " + std::to_string(w.value("slot", 0)) + ": " + w["last_exit"].get<std::string>());
    }
  }
  std::vector<size_t> w(rows[0].size(), 0);
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  fit(rows, w, style.columns);
  std::string out;
  for (size_t row = 0; row < rows.size(); ++row) {
    auto& r = rows[row];
    for (size_t i = 0; i < r.size(); ++i) {
      const char* c = style.color && row > 0 && (i == 1 || i == 4) ? color_of(r[i]) : nullptr;
      out += c ? c + r[i] + "\033[0m" : r[i];
      if (i + 1 < r.size()) out += std::string(w[i] - width(r[i]) + 2, ' ');
    }
    out += '\n';
  }
  for (auto& n : notes) out += n + "\n";
  return out;
}

}  // namespace rack::cli
