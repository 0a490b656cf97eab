// rack::App: wires the router, the HTTP server, the metrics and one source
// of connections — rackd's channel (supervised) or a listening socket
// (standalone) — onto one libuv loop, and runs the worker's side of drain.
//
// Phases: Setup (routes being added) → Serving → Draining (no new
// connections; idle ones handed back) → Exiting (final metrics snapshot
// being flushed to rackd) → run() returns.
#include "rack/worker.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <map>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "busy_mark.h"
#include "channel_client.h"
#include "health.h"
#include "metrics.h"
#include "rack/http_listener.h"
#include "rack/timer.h"
#include "rack/logging.h"
#include "request_log.h"

namespace rack {

namespace {

constexpr uint64_t kLogFlushMs = 100;
constexpr uint64_t kDrainTimeoutMs = 30000;
// metrics_path: rackd answers within its collection deadline; this only
// bounds a request whose answer can no longer come.
constexpr uint64_t kMergedMetricsTimeoutMs = 5000;
// Health check rounds start at most this often (paced by rackd's Ping).
constexpr auto kHealthEvery = std::chrono::seconds(1);

template <typename T>
bool parse_uint(const char* text, T& out) {
  if (!text || !*text) return false;
  const char* end = text + std::char_traits<char>::length(text);
  auto [p, ec] = std::from_chars(text, end, out);
  return ec == std::errc{} && p == end;
}

std::string program_name(const char* argv0) {
  std::string_view s = argv0 ? argv0 : "rack-worker";
  if (auto slash = s.rfind('/'); slash != std::string_view::npos) s.remove_prefix(slash + 1);
  return std::string(s);
}

}  // namespace

struct App::Impl {
  enum class Phase { Setup, Serving, Draining, Exiting };

  uv_loop_t loop{};
  WorkerInfo info;
  std::vector<std::string> args;
  std::string listen;
  int channel_fd = -1;
  std::string setup_error;  // found by the constructor, reported by run()
  Router router;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<worker::BuiltinMetrics> builtin = std::make_unique<worker::BuiltinMetrics>(*registry);
  http::Limits limits;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<http::Listener> listener;
  std::unique_ptr<worker::ChannelClient> channel;
  std::unique_ptr<worker::BusyMark> busy;  // least-connections: the busy board entry
  worker::HealthChecks health{&loop};
  std::chrono::steady_clock::time_point health_started{};
  std::vector<int> to_return;  // Conn that arrived during drain; returned after their Ack
  Phase phase = Phase::Setup;
  bool ready_deferred = false, ready_wanted = false, ready_sent = false;
  uv_signal_t sigterm{}, sigint{};
  uv_timer_t flush_timer{}, drain_timer{};
  bool handles_open = false;
  // metrics_path (RACK_METRICS_PATH): GETs waiting for rackd's merged text.
  struct MergedWait {
    uv_timer_t timer;
    Impl* impl;
    uint64_t seq;
    Responder res;
  };
  std::string metrics_path;
  uint64_t max_requests = 0;  // RACK_MAX_REQUESTS; 0 = no limit
  uint64_t completed = 0;
  bool recycle_asked = false;
  uint64_t merged_seq = 0;
  std::map<uint64_t, MergedWait*> merged_waiting;
  bool torn_down = false;
  int exit_code = 0;

  void read_environment(int argc, char** argv);
  int start_channel();
  int start_listener();
  void send_ready();
  void run_health_checks();
  void on_signal(int signum);
  void begin_drain(const char* why);
  void finish_drain();
  void teardown();
  void serve_merged_metrics(Responder res);
  void answer_merged(uint64_t seq, Response response);
};

// ---- construction ------------------------------------------------------------

void App::Impl::read_environment(int argc, char** argv) {
  info.pid = ::getpid();
  const char* app = std::getenv("RACK_APP");
  info.app = app && *app ? app : program_name(argc > 0 ? argv[0] : nullptr);

  log::Options opt;
  try {
    opt = log::options_from_env(!::isatty(STDOUT_FILENO));
  } catch (const std::invalid_argument& e) {
    opt.format = ::isatty(STDOUT_FILENO) ? log::Format::Pretty : log::Format::Json;
    std::fprintf(stderr, "%s; using info\n", e.what());
  }
  opt.to_stdout = true;
  opt.name = info.app;
  opt.flush_level = spdlog::level::warn;  // info lines: flushed by flush_timer
  log::init(opt);

  if (const char* s = std::getenv("RACK_INSTANCE"); s && !parse_uint(s, info.slot))
    spdlog::warn("RACK_INSTANCE=\"{}\" is not a slot number; using 0", s);
  if (const char* g = std::getenv("RACK_GENERATION"); g && !parse_uint(g, info.generation))
    spdlog::warn("RACK_GENERATION=\"{}\" is not a number; using 0", g);

  if (const char* c = std::getenv("RACK_CHANNEL_FD"); c && *c) {
    struct stat st{};
    if (!parse_uint(c, channel_fd) || ::fstat(channel_fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
      setup_error = std::string("RACK_CHANNEL_FD=") + c + " is not an open socket";
      channel_fd = -1;
    } else {
      // Neither our children nor a nested runtime may take rackd's channel.
      ::fcntl(channel_fd, F_SETFD, FD_CLOEXEC);
      ::unsetenv("RACK_CHANNEL_FD");
      info.supervised = true;
    }
  }

  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--listen") {
      if (i + 1 >= argc) {
        setup_error = "--listen needs an address (host:port)";
        break;
      }
      listen = argv[++i];
    } else if (a.starts_with("--listen=")) {
      listen = std::string(a.substr(9));
    } else {
      args.emplace_back(a);
    }
  }
  if (const char* l = std::getenv("RACK_LISTEN"); listen.empty() && l) listen = l;
  if (const char* p = std::getenv("RACK_METRICS_PATH"); p && *p == '/') metrics_path = p;
  if (const char* p = std::getenv("RACK_MAX_REQUESTS"); p && *p) max_requests = std::strtoull(p, nullptr, 10);
}

App::App(int argc, char** argv) : impl_(std::make_unique<Impl>()) {
  if (int rc = uv_loop_init(&impl_->loop); rc != 0)
    throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  impl_->read_environment(argc, argv);
}

App::~App() {
  impl_->teardown();
  // Close what the app left open (its timers, say) so the loop can close.
  rack::close_handles(&impl_->loop);
  uv_loop_close(&impl_->loop);
}

App& App::get(std::string p, Handler h) { return route("GET", std::move(p), std::move(h)); }
App& App::post(std::string p, Handler h) { return route("POST", std::move(p), std::move(h)); }
App& App::put(std::string p, Handler h) { return route("PUT", std::move(p), std::move(h)); }
App& App::patch(std::string p, Handler h) { return route("PATCH", std::move(p), std::move(h)); }
App& App::del(std::string p, Handler h) { return route("DELETE", std::move(p), std::move(h)); }

App& App::route(std::string method, std::string pattern, Handler handler) {
  impl_->router.add(std::move(method), std::move(pattern), std::move(handler));
  return *this;
}

uv_loop_t* App::loop() { return &impl_->loop; }
const WorkerInfo& App::info() const { return impl_->info; }
prometheus::Registry& App::metrics() { return *impl_->registry; }
std::string App::metrics_text() const { return worker::metrics_text(*impl_->registry); }
http::Limits& App::limits() { return impl_->limits; }
const std::vector<std::string>& App::args() const { return impl_->args; }

App& App::health_check(std::string name, std::function<void(HealthDone done)> check) {
  impl_->health.add(std::move(name), std::move(check));
  return *this;
}

App& App::health_check(std::string name, std::function<std::string()> check) {
  if (!check) throw std::invalid_argument("health check \"" + name + "\" has no function");
  return health_check(std::move(name), [check = std::move(check)](HealthDone done) { done(check()); });
}

void App::defer_ready() { impl_->ready_deferred = true; }

void App::ready() {
  if (impl_->phase == Impl::Phase::Setup)
    impl_->ready_wanted = true;
  else if (impl_->phase == Impl::Phase::Serving)
    impl_->send_ready();
}

void App::stop() { impl_->begin_drain("stop()"); }

// ---- running -----------------------------------------------------------------

int App::run() {
  Impl& m = *impl_;
  if (m.phase != Impl::Phase::Setup || m.torn_down) {
    spdlog::error("App::run() called twice");
    return 1;
  }
  if (!m.setup_error.empty()) {
    spdlog::error("{}", m.setup_error);
    return 2;
  }
  // After the app's own routes, so an app that serves metrics_path itself wins.
  if (m.info.supervised && !m.metrics_path.empty())
    m.router.add("GET", m.metrics_path, [&m](Request&, Responder res) { m.serve_merged_metrics(std::move(res)); });
  m.busy = worker::BusyMark::from_environment(&m.loop);
  m.server = std::make_unique<http::Server>(
      &m.loop,
      [&m](Request& req, Responder res) {
        if (m.busy) m.busy->enter_handler();
        m.router.dispatch(req, std::move(res));
      },
      m.limits);
  m.server->on_complete([&m](const Request& req, int status, std::chrono::nanoseconds d) {
    m.builtin->observe(req.method, req.route, status, static_cast<double>(d.count()) / 1e9);
    worker::log_request(req, status, d);
    // max_requests: rackd chose the limit (with jitter, so workers do not
    // all recycle at once) and replaces us gracefully when asked.
    if (m.max_requests && !m.recycle_asked && m.channel && ++m.completed >= m.max_requests) {
      m.recycle_asked = true;
      spdlog::info("served {} requests (max_requests): asking rackd for a replacement", m.max_requests);
      m.channel->send_recycle();
    }
  });
  m.builtin->start(&m.loop, [&m] { return m.server ? m.server->active_connections() : 0; });
  // least-connections: rackd must see a connection end before it picks the
  // next worker, not at the next heartbeat. Round-robin ignores the count,
  // so its workers do not pay a message per connection for it.
  if (const char* d = std::getenv("RACK_DISPATCH"); d && std::string_view(d) == "least-connections")
    m.server->on_connection_closed([&m] {
      // A close callback runs after the loop's handlers: none is running,
      // and the board must say so before the report that wakes rackd.
      if (m.busy) m.busy->leave_handler();
      if (m.channel) m.channel->load_changed();
    });

  uv_signal_init(&m.loop, &m.sigterm);
  uv_signal_init(&m.loop, &m.sigint);
  uv_timer_init(&m.loop, &m.flush_timer);
  uv_timer_init(&m.loop, &m.drain_timer);
  m.handles_open = true;
  for (uv_signal_t* s : {&m.sigterm, &m.sigint}) {
    s->data = &m;
    uv_unref(reinterpret_cast<uv_handle_t*>(s));
  }
  uv_signal_start(&m.sigterm, [](uv_signal_t* s, int sig) { static_cast<Impl*>(s->data)->on_signal(sig); }, SIGTERM);
  uv_signal_start(&m.sigint, [](uv_signal_t* s, int sig) { static_cast<Impl*>(s->data)->on_signal(sig); }, SIGINT);
  uv_timer_start(&m.flush_timer, [](uv_timer_t*) { spdlog::default_logger_raw()->flush(); }, kLogFlushMs, kLogFlushMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(&m.flush_timer));
  m.drain_timer.data = &m;

  int rc = m.channel_fd >= 0 ? m.start_channel() : m.start_listener();
  if (rc != 0) {
    m.teardown();
    return rc;
  }
  m.phase = Impl::Phase::Serving;
  if (!m.ready_deferred || m.ready_wanted) m.send_ready();
  uv_run(&m.loop, UV_RUN_DEFAULT);
  m.teardown();
  return m.exit_code;
}

int App::Impl::start_channel() {
  worker::ChannelClient::Handlers h;
  h.on_conn = [this](uint64_t, int fd) {
    if (phase == Phase::Serving)
      server->adopt(fd);
    else
      to_return.push_back(fd);  // raced with Drain: goes back once acknowledged
  };
  h.after_ack = [this] {
    for (int fd : to_return) {
      channel->send_conn_return(fd);
      ::close(fd);
    }
    to_return.clear();
  };
  h.on_drain = [this] { begin_drain("rackd asked"); };
  h.metrics_text = [this] { return worker::metrics_text(*registry); };
  h.load = [this] { return static_cast<uint64_t>(server->active_connections()); };
  h.on_ping = [this] { run_health_checks(); };
  h.on_merged_metrics = [this](uint64_t seq, std::string text) {
    Response r = Response::text(200, std::move(text));
    r.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    answer_merged(seq, std::move(r));
  };
  h.on_lost = [](std::string why) {
    // Nobody is left to hand us work, read our logs or stop us: go now,
    // without waiting for requests (their clients were rackd's to begin with).
    spdlog::info("{}; exiting", why);
    spdlog::default_logger_raw()->flush();
    std::fflush(nullptr);
    std::_Exit(0);
  };
  channel = std::make_unique<worker::ChannelClient>(&loop, channel_fd, std::move(h));
  channel_fd = -1;  // the client owns it now
  std::string error;
  if (!channel->start(error)) {
    spdlog::error("{}", error);
    return 1;
  }
  run_health_checks();  // the first results are there soon after Ready
  return 0;
}

void App::Impl::run_health_checks() {
  auto now = std::chrono::steady_clock::now();
  if (health.empty() || health.running() || phase == Phase::Exiting || now - health_started < kHealthEvery) return;
  health_started = now;
  health.run([this](std::vector<channel::CheckResult> results) {
    if (channel) channel->send_health(channel::encode_health(results));
  });
}

int App::Impl::start_listener() {
  if (listen.empty()) {
    spdlog::error("no address to listen on: pass --listen host:port or set RACK_LISTEN (or run under rackd)");
    return 2;
  }
  std::string error;
  listener = http::Listener::open(&loop, listen, {.reuse_port = true}, [this](int fd) { server->adopt(fd); }, error);
  if (!listener) {
    spdlog::error("{}", error);
    return 1;
  }
  spdlog::info("listening on {} (port {}, SO_REUSEPORT)", listen, listener->port());
  return 0;
}

void App::Impl::send_ready() {
  if (ready_sent) return;
  ready_sent = true;
  if (channel) channel->send_ready();
  spdlog::info("ready: app {} slot {} generation {} pid {}", info.app, info.slot, info.generation, info.pid);
}

// ---- metrics_path ------------------------------------------------------------

// rackd is not in the data path: ask it over the channel for the app's
// merged metrics and answer when they come.
void App::Impl::serve_merged_metrics(Responder res) {
  if (!channel) return res.send(Response::error(503, "metrics are merged by rackd; not supervised"));
  auto* w = new MergedWait{{}, this, ++merged_seq, std::move(res)};
  uv_timer_init(&loop, &w->timer);
  w->timer.data = w;
  merged_waiting[w->seq] = w;
  uv_timer_start(&w->timer, [](uv_timer_t* t) {
    auto* w = static_cast<MergedWait*>(t->data);
    w->impl->answer_merged(w->seq, Response::error(504, "rackd did not answer with the merged metrics"));
  }, kMergedMetricsTimeoutMs, 0);
  channel->request_merged_metrics(w->seq);
}

void App::Impl::answer_merged(uint64_t seq, Response response) {
  auto it = merged_waiting.find(seq);
  if (it == merged_waiting.end()) return;  // timed out already
  MergedWait* w = it->second;
  merged_waiting.erase(it);
  w->res.send(std::move(response));
  uv_close(reinterpret_cast<uv_handle_t*>(&w->timer), [](uv_handle_t* h) { delete static_cast<MergedWait*>(h->data); });
}

// ---- drain -------------------------------------------------------------------

void App::Impl::on_signal(int signum) {
  const char* name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
  if (phase == Phase::Serving) return begin_drain(name);
  // Asked again while draining: whoever sent it (rackd's kill_timeout, an
  // impatient operator) wants us gone. Drop the stragglers; the drain then
  // completes and the final metrics still go out.
  if (phase == Phase::Draining) {
    spdlog::warn("{} while draining: closing {} connections now", name, server->active_connections());
    server->close_all();
  } else if (phase == Phase::Exiting) {
    uv_stop(&loop);
  }
}

void App::Impl::begin_drain(const char* why) {
  if (phase != Phase::Serving) return;
  phase = Phase::Draining;
  spdlog::info("draining ({}): {} connections open", why, server->active_connections());
  if (listener) listener->close();
  uv_timer_start(
      &drain_timer,
      [](uv_timer_t* t) {
        auto* m = static_cast<Impl*>(t->data);
        spdlog::warn("drain took over {} ms: closing {} connections", kDrainTimeoutMs,
                     m->server->active_connections());
        m->server->close_all();
      },
      kDrainTimeoutMs, 0);
  http::DrainHooks hooks;
  hooks.hand_back = [this](int fd) { return channel && channel->send_conn_return(fd); };
  hooks.done = [this] { finish_drain(); };
  server->drain(std::move(hooks));
}

void App::Impl::finish_drain() {
  if (phase != Phase::Draining) return;
  phase = Phase::Exiting;
  uv_timer_stop(&drain_timer);
  spdlog::info("drained: {} requests served; exiting", server->requests_served());
  if (!channel) return uv_stop(&loop);
  channel->send_metrics(0);  // the final snapshot: rackd keeps our counts
  channel->when_flushed([this] { uv_stop(&loop); });
}

void App::Impl::teardown() {
  if (torn_down) return;
  torn_down = true;
  listener.reset();
  server.reset();  // closes any connection still open
  channel.reset();  // closes the channel: rackd sees us go
  if (channel_fd >= 0) ::close(channel_fd);
  for (int fd : to_return) ::close(fd);
  to_return.clear();
  while (!merged_waiting.empty()) answer_merged(merged_waiting.begin()->first, Response::error(503, "exiting"));
  builtin->stop();
  busy.reset();
  if (handles_open) {
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&sigterm), reinterpret_cast<uv_handle_t*>(&sigint),
                           reinterpret_cast<uv_handle_t*>(&flush_timer),
                           reinterpret_cast<uv_handle_t*>(&drain_timer)})
      uv_close(h, nullptr);
    handles_open = false;
  }
  uv_run(&loop, UV_RUN_NOWAIT);  // let close callbacks run
  spdlog::default_logger_raw()->flush();
}

}  // namespace rack
