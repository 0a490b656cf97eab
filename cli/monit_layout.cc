// The screen of `rackctl monit` as lines: a title, the app/worker table,
// the log pane of the selected app, and a bottom line for keys, prompts and
// results. Columns are dropped, least useful first, until a row fits the
// terminal; bars appear only when there is room left for them.
#include <algorithm>
#include <cstdio>

#include "monit_model.h"
#include "status_table.h"

namespace rack::cli::monit {

namespace {

enum ColId { kName, kState, kPid, kCpu, kMem, kRestarts, kUptime, kReqs, kP95, kInfo, kCols };

struct Col {
  const char* header;
  int width;
  int priority;  // lower is kept longer
  bool right;
};

constexpr int kBarMax = 22, kBarMin = 6;
constexpr const char* kKeys = "up/down app  r reload  R restart  s scale  l logs  q quit";

// Code points, not bytes: names are ASCII but exit reasons and paths need not be.
size_t width_of(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string fit(const std::string& s, size_t cols) {
  if (width_of(s) <= cols) return s;
  std::string out;
  size_t n = 0;
  for (char c : s) {
    if ((c & 0xC0) != 0x80 && n++ == cols) break;
    out += c;
  }
  return out;
}

std::string cell(const std::string& s, const Col& c) {
  std::string t = fit(s, c.width);
  std::string pad(c.width - width_of(t), ' ');
  return c.right ? pad + t : t + pad;
}

std::string bar(double fraction, int width) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  int inner = width - 2, filled = static_cast<int>(fraction * inner + 0.5);
  return "[" + std::string(filled, '|') + std::string(inner - filled, ' ') + "]";
}

std::string percent(double p) {
  char b[16];
  std::snprintf(b, sizeof b, "%.1f%%", p);
  return b;
}

std::string seconds(double s) {
  char b[16];
  if (s < 0.01) std::snprintf(b, sizeof b, "%.1fms", s * 1000);
  else if (s < 1) std::snprintf(b, sizeof b, "%.0fms", s * 1000);
  else std::snprintf(b, sizeof b, "%.2fs", s);
  return b;
}

std::string rate(double per_s) {
  char b[16];
  std::snprintf(b, sizeof b, per_s < 10 ? "%.1f" : "%.0f", per_s);
  return b;
}

// Which columns fit, and how wide the two bars can be (0: none).
struct Columns {
  Col cols[kCols];
  bool shown[kCols] = {};
  int bar = 0;
};

Columns choose_columns(const Snapshot& snap, int width) {
  int name_w = 6;
  for (const AppRow& a : snap.apps) name_w = std::max<int>(name_w, static_cast<int>(width_of(a.name)) + 1);
  Columns c{{{"app", std::min(name_w, 24), 0, false},
             {"state", 9, 1, false},
             {"pid", 8, 6, true},
             {"cpu", 7, 2, true},
             {"mem", 9, 3, true},
             {"restarts", 9, 5, true},
             {"uptime", 7, 8, true},
             {"req/s", 8, 4, true},
             {"p95", 8, 7, true},
             {"", 0, 9, false}}};
  c.cols[kInfo].width = 0;
  int order[kCols];
  for (int i = 0; i < kCols; ++i) order[i] = i;
  std::sort(order, order + kCols, [&](int a, int b) { return c.cols[a].priority < c.cols[b].priority; });
  int used = 0;
  for (int i : order) {
    if (i == kInfo) continue;
    int w = c.cols[i].width + (used ? 1 : 0);
    if (used + w > width) break;  // keep the order of importance strict
    used += w;
    c.shown[i] = true;
  }
  int spare = width - used;
  if (c.shown[kCpu] && c.shown[kMem] && spare >= 2 * (kBarMin + 1)) c.bar = std::min(kBarMax, spare / 2 - 1);
  c.shown[kInfo] = true;
  c.cols[kInfo].width = std::max(0, width - used - (c.bar ? 2 * (c.bar + 1) : 0) - 1);
  return c;
}

std::string row_text(const Columns& c, const std::string (&cells)[kCols], const std::string& cpu_bar,
                     const std::string& mem_bar) {
  std::string out;
  for (int i = 0; i < kCols; ++i) {
    if (!c.shown[i] || (i == kInfo && c.cols[i].width == 0)) continue;
    if (!out.empty()) out += ' ';
    out += cell(cells[i], c.cols[i]);
    if (c.bar && i == kCpu) out += ' ' + (cpu_bar.empty() ? std::string(c.bar, ' ') : cpu_bar);
    if (c.bar && i == kMem) out += ' ' + (mem_bar.empty() ? std::string(c.bar, ' ') : mem_bar);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool bad_status(const std::string& s) { return s == "errored" || s == "down" || s == "backoff" || s == "degraded"; }

void app_lines(const AppRow& a, bool selected, const Columns& c, uint64_t mem_total,
               std::vector<ScreenLine>& out) {
  double cpu = 0;
  uint64_t mem = 0;
  long restarts = 0, ready = 0;
  for (const WorkerRow& w : a.workers) {
    cpu += w.cpu_percent;
    mem += w.rss_bytes;
    restarts += w.restarts;
    ready += w.state == "ready";
  }
  std::string cells[kCols];
  cells[kName] = (selected ? ">" : " ") + a.name;
  cells[kState] = a.status;
  cells[kCpu] = percent(cpu);
  cells[kMem] = human_bytes(mem);
  cells[kRestarts] = std::to_string(restarts);
  cells[kReqs] = a.requests ? rate(a.requests->per_s) : "-";
  cells[kP95] = a.requests && a.requests->p95_s ? seconds(*a.requests->p95_s) : "-";
  cells[kInfo] = std::to_string(ready) + "/" + std::to_string(a.instances) + " ready" +
                 (a.reloading ? ", reloading" : "") + (a.listen.empty() ? "" : "  " + a.listen);
  Style style = selected ? Style::Selected : bad_status(a.status) ? Style::Bad : Style::Normal;
  out.push_back({row_text(c, cells, "", ""), style});
  for (const WorkerRow& w : a.workers) {
    std::string wc[kCols];
    wc[kName] = "  #" + std::to_string(w.slot);
    wc[kState] = w.state;
    wc[kPid] = w.pid ? std::to_string(*w.pid) : "-";
    wc[kCpu] = w.pid ? percent(w.cpu_percent) : "-";
    wc[kMem] = w.pid ? human_bytes(w.rss_bytes) : "-";
    wc[kRestarts] = std::to_string(w.restarts);
    wc[kUptime] = w.pid ? human_duration(w.uptime_s) : "-";
    wc[kInfo] = w.last_exit.empty() ? "" : "last exit: " + w.last_exit;
    std::string cpu_bar = c.bar && w.pid ? bar(w.cpu_percent / 100, c.bar) : "";
    std::string mem_bar = c.bar && w.pid && mem_total ? bar(double(w.rss_bytes) / double(mem_total), c.bar) : "";
    bool bad = w.state == "errored" || w.state == "backoff";
    out.push_back({row_text(c, wc, cpu_bar, mem_bar), bad ? Style::Bad : Style::Dim});
  }
}

std::vector<ScreenLine> unreachable_screen(const View& view, int cols, int rows) {
  std::vector<ScreenLine> out;
  out.push_back({fit(" rack monit", cols), Style::Title});
  out.push_back({"", Style::Normal});
  out.push_back({fit(" rackd is not running: " + view.unreachable, cols), Style::Bad});
  out.push_back({fit(" monit tries again every second; start it with rackctl start, or press q", cols),
                 Style::Normal});
  while (static_cast<int>(out.size()) < rows - 1) out.push_back({"", Style::Normal});
  out.push_back({fit(kKeys, cols), Style::Dim});
  out.resize(rows);
  return out;
}

}  // namespace

std::vector<ScreenLine> layout(const Snapshot& snap, const View& view, int cols, int rows) {
  if (rows <= 0 || cols <= 0) return {};
  if (cols < 24 || rows < 6) {
    std::vector<ScreenLine> out(rows);
    out[0] = {fit("terminal too small", cols), Style::Bad};
    if (rows > 1) out[1] = {fit("q quits", cols), Style::Normal};
    return out;
  }
  if (!view.unreachable.empty()) return unreachable_screen(view, cols, rows);

  std::vector<ScreenLine> out;
  std::string title = " rack monit  rackd " + std::to_string(snap.rackd_pid) + "  " + view.clock + "  " + snap.home;
  out.push_back({fit(title, cols), Style::Title});

  Columns c = choose_columns(snap, cols);
  std::vector<ScreenLine> table;
  size_t sel_first = 0, sel_end = 0;
  for (size_t i = 0; i < snap.apps.size(); ++i) {
    if (i == view.selected) sel_first = table.size();
    app_lines(snap.apps[i], i == view.selected, c, view.mem_total, table);
    if (i == view.selected) sel_end = table.size();
  }
  if (snap.apps.empty()) table.push_back({fit(" no apps: rackctl start ecosystem.yaml", cols), Style::Dim});

  int body = rows - 2;  // between the title and the bottom line
  int log_rows = 0, table_rows = 0;
  if (view.logs_full) {
    log_rows = body;
  } else {
    int wanted = 1 + static_cast<int>(table.size());
    table_rows = std::min(wanted, std::max(3, body * 3 / 5));
    log_rows = body - table_rows;
    if (log_rows < 2) table_rows = body, log_rows = 0;
  }
  if (table_rows > 0) {
    std::string cells[kCols];
    for (int i = 0; i < kCols; ++i) cells[i] = c.cols[i].header;
    cells[kName] = " " + cells[kName];
    out.push_back({row_text(c, cells, c.bar ? std::string(c.bar, ' ') : "", ""), Style::Header});
    int shown = table_rows - 1;
    // Keep the selected app (and as many of its workers as fit) in view.
    int offset = std::max(0, std::min<int>(sel_first, static_cast<int>(sel_end) - shown));
    for (int i = 0; i < shown; ++i) {
      size_t at = static_cast<size_t>(offset + i);
      out.push_back(at < table.size() ? table[at] : ScreenLine{"", Style::Normal});
    }
  }
  if (log_rows > 0) {
    std::string name = view.selected < snap.apps.size() ? snap.apps[view.selected].name : "";
    std::string head = "-- logs: " + (name.empty() ? std::string("no app") : name) + " " +
                       (view.logs_full ? "(l: back to the table) " : "(l: full screen) ");
    head += std::string(cols > static_cast<int>(width_of(head)) ? cols - width_of(head) : 0, '-');
    out.push_back({fit(head, cols), Style::Header});
    int lines = log_rows - 1;
    size_t n = view.log_lines.size();
    size_t first = n > static_cast<size_t>(lines) ? n - lines : 0;
    for (int i = 0; i < lines; ++i) {
      size_t at = first + i;
      out.push_back(at < n ? ScreenLine{view.log_lines[at], Style::Normal} : ScreenLine{"", Style::Normal});
    }
  }
  if (!view.message.empty()) out.push_back({fit(view.message, cols), view.prompt ? Style::Prompt : Style::Normal});
  else out.push_back({fit(kKeys, cols), Style::Dim});
  out.resize(rows);
  return out;
}

}  // namespace rack::cli::monit
