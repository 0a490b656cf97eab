// `rackctl monit`: the terminal UI. One thread polls the terminal and a wake
// pipe, and once a second asks rackd for its status, the selected app's last
// log lines, and (every other second) /metrics for request rates. Nothing
// else runs between refreshes, so idle it costs a few requests a second, not
// a busy loop (PM2's monit burns a CPU: pm2#2793). ncurses sends only what
// changed on the screen.
//
// The terminal is restored on every way out: q, Ctrl-C, SIGTERM, SIGHUP
// (the terminal went away), and exceptions.
#include "monit.h"

#include <curses.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <clocale>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <cwchar>
#include <fstream>

#include "client.h"
#include "monit_actions.h"
#include "monit_model.h"
#include "rack/http_client.h"

namespace rack::cli {

namespace {

using namespace monit;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kRefreshEvery = std::chrono::seconds(1);
constexpr auto kMetricsEvery = std::chrono::seconds(2);
constexpr auto kRequestTimeout = std::chrono::milliseconds(1500);
constexpr int kLogLines = 200;

volatile std::sig_atomic_t g_quit = 0;
void on_quit_signal(int) { g_quit = 1; }

uint64_t host_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemTotal:") return kb * 1024;
    in.ignore(256, '\n');
  }
  return 0;
}

double seconds_now() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

// What rackd says, fetched over one kept-alive connection.
class Source {
 public:
  Source() : client_(http::Client::unix_socket(socket_path())) { client_.set_timeout(kRequestTimeout); }

  // Refreshes `snap`; on failure says why in `unreachable`.
  void refresh(Snapshot& snap, View& view, bool with_metrics) {
    auto r = client_.request("GET", "/v1/status");
    if (!r.ok() || r.status != 200) {
      client_.close();
      view.unreachable = !r.ok() ? r.error_text : "GET /v1/status answered HTTP " + std::to_string(r.status);
      view.log_lines.clear();
      return;
    }
    view.unreachable.clear();
    json j = json::parse(r.body, nullptr, false);
    std::map<std::string, std::optional<RequestRates>> rates;
    for (auto& a : snap.apps) rates[a.name] = a.requests;
    snap = parse_snapshot(j);
    if (with_metrics) sample_metrics();
    for (auto& a : snap.apps) {
      if (with_metrics) {
        auto now = last_.apps.find(a.name), before = previous_.apps.find(a.name);
        if (now != last_.apps.end() && before != previous_.apps.end() && previous_.at_s > 0)
          a.requests = request_rates(before->second, now->second, last_.at_s - previous_.at_s);
      } else {
        a.requests = rates[a.name];
      }
    }
    if (view.selected >= snap.apps.size()) view.selected = snap.apps.empty() ? 0 : snap.apps.size() - 1;
    fetch_logs(snap, view);
  }

 private:
  void sample_metrics() {
    auto r = client_.request("GET", "/v1/metrics");
    if (!r.ok() || r.status != 200) return;
    previous_ = std::move(last_);
    last_ = parse_request_sample(r.body, seconds_now());
  }

  void fetch_logs(const Snapshot& snap, View& view) {
    if (snap.apps.empty()) return view.log_lines.clear();
    const std::string& app = snap.apps[view.selected].name;
    auto r = client_.request("GET", "/v1/logs?app=" + app + "&n=" + std::to_string(kLogLines));
    view.log_lines.clear();
    if (!r.ok()) return client_.close();
    if (r.status != 200) {
      json j = json::parse(r.body, nullptr, false);
      view.log_lines.push_back(j.is_object() && j.contains("error") ? "(" + j.value("error", "") + ")" : "");
      return;
    }
    size_t pos = 0, nl;
    while ((nl = r.body.find('\n', pos)) != std::string::npos) {
      json line = json::parse(r.body.substr(pos, nl - pos), nullptr, false);
      pos = nl + 1;
      if (!line.is_discarded()) view.log_lines.push_back(log_line_text(line));
    }
  }

  http::Client client_;
  RequestSample previous_, last_;
};

// ---- painting ----------------------------------------------------------------

enum Pair : short { kTitle = 1, kBad, kPrompt };

void init_colors() {
  if (!has_colors()) return;
  start_color();
  use_default_colors();
  init_pair(kTitle, COLOR_BLACK, COLOR_CYAN);
  init_pair(kBad, COLOR_RED, -1);
  init_pair(kPrompt, COLOR_YELLOW, -1);
}

attr_t attribute(Style s) {
  bool color = has_colors();
  switch (s) {
    case Style::Title: return color ? COLOR_PAIR(kTitle) | A_BOLD : A_REVERSE;
    case Style::Header: return A_BOLD | A_UNDERLINE;
    case Style::Selected: return A_REVERSE | A_BOLD;
    case Style::Bad: return color ? COLOR_PAIR(kBad) | A_BOLD : A_BOLD;
    case Style::Dim: return A_NORMAL;
    case Style::Prompt: return color ? COLOR_PAIR(kPrompt) | A_BOLD : A_BOLD;
    case Style::Normal: break;
  }
  return A_NORMAL;
}

// The characters of `text` that fit in `cols` columns. Control characters
// (an app printing escape sequences) and bytes that are not text in this
// locale show as '?': a log line never reaches the terminal as a command.
std::wstring fit_wide(const std::string& text, int cols) {
  std::wstring out;
  std::mbstate_t st{};
  int used = 0;
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    wchar_t wc = 0;
    size_t n = std::mbrtowc(&wc, p, left, &st);
    if (n == static_cast<size_t>(-1) || n == static_cast<size_t>(-2) || n == 0) {
      st = {};
      wc = L'?';
      n = 1;
    }
    int w = ::wcwidth(wc);
    if (w < 0) wc = L'?', w = 1;
    if (used + w > cols) break;
    out += wc;
    used += w;
    p += n;
    left -= n;
  }
  return out;
}

void paint(const std::vector<ScreenLine>& lines, int cols) {
  for (size_t i = 0; i < lines.size(); ++i) {
    move(static_cast<int>(i), 0);
    clrtoeol();
    attr_t a = attribute(lines[i].style);
    // The title and the selected row are painted full width.
    bool full = lines[i].style == Style::Title || lines[i].style == Style::Selected;
    // Never the last column of the last line: that would scroll the screen.
    int room = i + 1 == lines.size() ? cols - 1 : cols;
    std::wstring text = fit_wide(lines[i].text, room);
    if (full) text.resize(std::max<size_t>(text.size(), static_cast<size_t>(room)), L' ');
    attrset(a);
    addnwstr(text.c_str(), static_cast<int>(text.size()));
    attrset(A_NORMAL);
  }
  refresh();
}

std::string clock_text() {
  std::time_t t = std::time(nullptr);
  char b[16];
  std::strftime(b, sizeof b, "%H:%M:%S", std::localtime(&t));
  return b;
}

// ---- input ----------------------------------------------------------------------

enum class Mode { Normal, Scale, ConfirmRestart };

struct Ui {
  Snapshot snap;
  View view;
  Mode mode = Mode::Normal;
  std::string input;
  bool refresh_now = false;
  bool quit = false;
};

std::string selected_app(const Ui& ui) {
  return ui.view.selected < ui.snap.apps.size() ? ui.snap.apps[ui.view.selected].name : "";
}

void start_action(Ui& ui, Actions& actions, const std::string& op, const std::string& arg = "") {
  std::string app = selected_app(ui);
  if (app.empty()) {
    ui.view.message = "no app selected";
    return;
  }
  if (!actions.start(app, op, arg)) ui.view.message = "busy: wait for the running operation to finish";
  else ui.view.message = actions.take_message();
}

void key_in_prompt(Ui& ui, Actions& actions, int ch) {
  if (ui.mode == Mode::ConfirmRestart) {
    ui.mode = Mode::Normal;
    ui.view.prompt = false;
    ui.view.message.clear();
    if (ch == 'y' || ch == 'Y') start_action(ui, actions, "restart");
    return;
  }
  if (ch == 27) {  // Esc
    ui.mode = Mode::Normal;
    ui.view.prompt = false;
    ui.view.message.clear();
    return;
  }
  if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
    ui.mode = Mode::Normal;
    ui.view.prompt = false;
    if (ui.input.empty()) ui.view.message.clear();
    else start_action(ui, actions, "scale", ui.input);
    return;
  }
  if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && !ui.input.empty()) ui.input.pop_back();
  else if (((ch >= '0' && ch <= '9') || ((ch == '+' || ch == '-') && ui.input.empty()) ||
            (ch >= 'a' && ch <= 'z' && ui.input.size() < 3)) && ui.input.size() < 8)
    ui.input += static_cast<char>(ch);  // n, +n, -n or "max"
  ui.view.message = "scale " + selected_app(ui) + " to (n, +n, -n, max; Enter, Esc): " + ui.input;
}

void key(Ui& ui, Actions& actions, int ch) {
  if (ui.mode != Mode::Normal) return key_in_prompt(ui, actions, ch);
  size_t n = ui.snap.apps.size();
  switch (ch) {
    case 'q': case 'Q': ui.quit = true; return;
    case KEY_UP: case 'k':
      if (ui.view.selected > 0) --ui.view.selected, ui.refresh_now = true;
      return;
    case KEY_DOWN: case 'j':
      if (ui.view.selected + 1 < n) ++ui.view.selected, ui.refresh_now = true;
      return;
    case 'l': case 'L': ui.view.logs_full = !ui.view.logs_full; return;
    case 'r': start_action(ui, actions, "reload"); return;
    case 'R':
      if (selected_app(ui).empty()) return;
      ui.mode = Mode::ConfirmRestart;
      ui.view.prompt = true;
      ui.view.message = "restart " + selected_app(ui) + "? Its workers are killed and started again. [y/N]";
      return;
    case 's':
      if (selected_app(ui).empty()) return;
      ui.mode = Mode::Scale;
      ui.input.clear();
      ui.view.prompt = true;
      ui.view.message = "scale " + selected_app(ui) + " to (n, +n, -n, max; Enter, Esc): ";
      return;
    default:
      if (!actions.busy()) ui.view.message.clear();
  }
}

void install_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_quit_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns at once
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(sig, &sa, nullptr);
}

int loop(SCREEN* screen, int wake_rd, int wake_wr) {
  (void)screen;
  Actions actions(wake_wr);
  Source source;
  Ui ui;
  ui.view.mem_total = host_memory();
  auto next_refresh = Clock::now(), next_metrics = Clock::now();
  while (!ui.quit && !g_quit) {
    auto now = Clock::now();
    if (now >= next_refresh || ui.refresh_now) {
      bool metrics = now >= next_metrics;
      if (metrics) next_metrics = now + kMetricsEvery;
      source.refresh(ui.snap, ui.view, metrics);
      ui.view.clock = clock_text();
      next_refresh = Clock::now() + kRefreshEvery;
      ui.refresh_now = false;
    }
    int cols = COLS, rows = LINES;
    paint(layout(ui.snap, ui.view, cols, rows), cols);

    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_refresh - Clock::now()).count();
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_rd, POLLIN, 0}};
    int rc = ::poll(fds, 2, static_cast<int>(std::max<long long>(0, wait)));
    if (rc > 0 && (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))) break;  // the terminal is gone
    if (rc > 0 && (fds[1].revents & POLLIN)) {
      char buf[64];
      while (::read(wake_rd, buf, sizeof buf) > 0) {
      }
      std::string m = actions.take_message();
      if (!m.empty() && ui.mode == Mode::Normal) ui.view.message = m;
      ui.refresh_now = true;  // show what the operation changed
    }
    // Keys, and KEY_RESIZE after a SIGWINCH (which also interrupted poll).
    for (int ch; (ch = getch()) != ERR;) {
      if (ch == KEY_RESIZE) continue;  // ncurses has resized stdscr: the next paint fits
      key(ui, actions, ch);
    }
  }
  return kOk;
}

}  // namespace

int run_monit() {
  if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
    std::fprintf(stderr, "rackctl monit: needs a terminal (stdin and stdout); use rackctl status or logs -f\n");
    return kUsage;
  }
  std::setlocale(LC_ALL, "");
  install_signals();
  SCREEN* screen = newterm(nullptr, stdout, stdin);
  if (!screen) {
    std::fprintf(stderr, "rackctl monit: cannot use the terminal (TERM=%s)\n",
                 std::getenv("TERM") ? std::getenv("TERM") : "");
    return kUsage;
  }
  int wake[2];
  if (::pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    endwin();
    delscreen(screen);
    std::perror("rackctl monit: pipe2");
    return kFailed;
  }
  cbreak();
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  nodelay(stdscr, TRUE);
  set_escdelay(25);
  curs_set(0);
  init_colors();
  int rc = kFailed;
  try {
    rc = loop(screen, wake[0], wake[1]);
  } catch (const std::exception& e) {
    endwin();
    std::fprintf(stderr, "rackctl monit: %s\n", e.what());
    return kFailed;
  }
  endwin();
  delscreen(screen);
  // wake[] stays open: a detached operation may still write to it.
  return rc;
}

}  // namespace rack::cli
