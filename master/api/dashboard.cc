#include "api/dashboard.h"

#include <chrono>
#include <set>

#include <spdlog/spdlog.h>

#include "api/control_api.h"
#include "api/dashboard_page.h"  // generated from dashboard.html/.css/.js
#include "app/app.h"
#include "supervisor.h"
#include "uv_handle.h"

namespace rack::master {

using json = nlohmann::json;

namespace {

constexpr unsigned kSampleEverySeconds = 5;  // 120 points = 10 minutes

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Every answer: only this origin may load or frame anything.
void secure(http::Response& r) {
  r.set("Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
  r.set("X-Content-Type-Options", "nosniff");
  r.set("Referrer-Policy", "no-referrer");
  r.set("Cache-Control", "no-store");
}

http::Response asset(const char* type, const char* body) {
  http::Response r = http::Response::text(200, body);
  r.set("Content-Type", type);
  secure(r);
  return r;
}

http::Response json_error(int status, const std::string& message) {
  http::Response r = http::Response::json(status, json{{"error", message}}.dump());
  secure(r);
  return r;
}

std::vector<http::Header> event_stream_headers() {
  return {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}};
}

std::string event(const char* name, const json& data) {
  return std::string("event: ") + name + "\ndata: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

// Compares without stopping at the first difference, so the time taken
// does not tell how much of a guess was right.
bool same_token(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < b.size(); ++i) diff |= static_cast<unsigned char>(b[i] ^ (i < a.size() ? a[i] : 0));
  return diff == 0;
}

}  // namespace

Dashboard::Dashboard(Supervisor& sup, std::string admin_token) : sup_(sup), token_(std::move(admin_token)) {
  timer_ = new_handle<uv_timer_t>(this);
  uv_timer_init(sup_.loop(), timer_);
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
  uv_timer_start(timer_, [](uv_timer_t* t) {
    if (auto* self = static_cast<Dashboard*>(t->data)) self->every_second();
  }, 0, 1000);
}

Dashboard::~Dashboard() {
  for (auto& s : streams_) s.end();
  close_handle(timer_);
}

bool Dashboard::serve(http::Request& req, http::Responder& res) {
  const std::string& p = req.path;
  bool get = req.method == "GET" || req.method == "HEAD";
  if (get && p == "/") {
    res.send(asset("text/html; charset=utf-8", dashboard_page::kHtml));
  } else if (get && p == "/dashboard.js") {
    res.send(asset("text/javascript; charset=utf-8", dashboard_page::kJs));
  } else if (get && p == "/dashboard.css") {
    res.send(asset("text/css; charset=utf-8", dashboard_page::kCss));
  } else if (get && p == "/dashboard/state") {
    http::Response r = http::Response::json(200, state(true).dump(-1, ' ', false, json::error_handler_t::replace));
    secure(r);
    res.send(std::move(r));
  } else if (get && p == "/dashboard/events") {
    serve_events(std::move(res));
  } else if (get && p == "/dashboard/logs") {
    serve_logs(req, std::move(res));
  } else if (p.rfind("/dashboard/apps/", 0) == 0) {
    if (req.method != "POST") res.send(json_error(405, "use POST"));
    else serve_action(req, std::move(res));
  } else {
    return false;
  }
  return true;
}

void Dashboard::every_second() {
  double now = unix_now();
  if (seconds_++ % kSampleEverySeconds == 0) sample(now);
  std::erase_if(streams_, [](const http::Responder& s) { return !s.alive(); });
  if (streams_.empty()) return;
  bool with_history = seconds_ % kSampleEverySeconds == 1;  // right after a sample
  std::string msg = event("state", state(with_history));
  for (auto& s : streams_) {
    // A reader this far behind would make rackd hold everything for it.
    if (s.buffered_bytes() > kMaxBuffered || !s.write(msg)) s.end();
  }
}

void Dashboard::sample(double now) {
  std::set<std::pair<std::string, int>> live;
  for (ManagedApp* a : sup_.apps()) {
    for (Worker* w : a->workers()) {
      if (w->pid() <= 0 || !w->lifecycle().has_process()) continue;
      // During a reload two processes share a slot: the newer one's line.
      auto key = std::make_pair(a->name(), w->slot().index);
      if (live.count(key)) continue;
      live.insert(key);
      history_.record(a->name(), w->slot().index, now, w->cpu_percent(), w->proc() ? w->proc()->rss_bytes : 0);
    }
  }
  // Slots that are gone (scale-down, delete) are forgotten; a slot whose
  // worker is between crash and restart keeps its line.
  std::set<std::pair<std::string, int>> known;
  for (ManagedApp* a : sup_.apps())
    for (unsigned i = 0; i < std::max(a->cfg().instances, 1u); ++i) known.insert({a->name(), static_cast<int>(i)});
  history_.keep_only(known);
}

json Dashboard::state(bool with_history) {
  json j = sup_.status();
  j["actions"] = !token_.empty();
  j["time"] = unix_now();
  if (with_history) {
    json h = json::object();
    for (ManagedApp* a : sup_.apps()) {
      for (unsigned i = 0; i < std::max(a->cfg().instances, 1u); ++i) {
        json pts = json::array();
        for (auto& p : history_.points(a->name(), static_cast<int>(i))) pts.push_back({p.t, p.cpu_percent, p.rss_bytes});
        if (!pts.empty()) h[a->name() + "/" + std::to_string(i)] = std::move(pts);
      }
    }
    j["history"] = std::move(h);
  }
  return j;
}

void Dashboard::serve_events(http::Responder res) {
  if (!res.start_stream(200, event_stream_headers())) return;
  res.write(event("state", state(true)));
  streams_.push_back(std::move(res));
}

void Dashboard::serve_action(http::Request& req, http::Responder res) {
  if (token_.empty())
    return res.send(json_error(403, "the dashboard is read-only: set rack.admin_token to enable its buttons"));
  if (!same_token(req.header("X-Rack-Token"), token_)) return res.send(json_error(401, "wrong or missing X-Rack-Token"));
  // Defense in depth: a browser on another origin says so.
  std::string_view origin = req.header("Origin");
  std::string self = "http://" + std::string(req.header("Host"));
  if (!origin.empty() && origin != self) return res.send(json_error(403, "cross-origin request refused"));
  std::string rest = req.path.substr(std::string("/dashboard/apps/").size());
  auto slash = rest.find('/');
  std::string op = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (op != "reload" && op != "restart" && op != "scale")
    return res.send(json_error(404, "no such action: " + op + " (reload, restart, scale)"));
  spdlog::info("dashboard: {} {} from {}", op, rest.substr(0, slash), req.peer_ip);
  // The control API does the work, with its own checks and answers.
  http::Request control = req;
  control.path = "/v1/apps/" + rest;
  control.target = control.path;
  serve_control(sup_, control, std::move(res));
}

}  // namespace rack::master
