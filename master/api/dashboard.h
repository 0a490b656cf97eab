// The web dashboard at GET / on the admin listener: every app and worker
// (state, pid, uptime, restarts and the last exit), CPU and memory
// sparklines over the last 10 minutes from rackd's own ring buffer
// (metrics/history.h; no Prometheus needed), reload progress, and a live
// log tail of one app. The page (dashboard.html/.css/.js) is compiled into
// rackd; nothing is fetched from anywhere else, at build or run time.
//
//   GET  /                         the page
//   GET  /dashboard.js, .css       its script and style
//   GET  /dashboard/state          {"rackd","apps","history","actions"}
//   GET  /dashboard/events         server-sent events: `state` every second
//                                  (history every 5 s)
//   GET  /dashboard/logs?app=NAME  server-sent events: `line` per log line,
//                                  the last 50 first
//   POST /dashboard/apps/<app>/reload|restart|scale   (scale: {"instances":"3"})
//
// Read-only unless rack.admin_token is set; then the POSTs need it in
// X-Rack-Token. A custom header is what makes them CSRF-safe: a page of
// another origin cannot send one without a CORS preflight, which rackd
// never grants; a request whose Origin is not this listener is refused
// as well. The page sets everything it shows with textContent, and the
// responses carry a Content-Security-Policy allowing only this origin.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/history.h"
#include "rack/http.h"

namespace rack::master {

class Supervisor;

class Dashboard {
 public:
  static constexpr std::size_t kMaxBuffered = 1u << 20;  // a stream further behind is ended (EventSource reconnects)

  Dashboard(Supervisor& sup, std::string admin_token);
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Answers the request if it is the dashboard's; false leaves it alone.
  bool serve(http::Request& req, http::Responder& res);

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  void every_second();
  void sample(double now);
  nlohmann::json state(bool with_history);
  void serve_events(http::Responder res);
  void serve_logs(http::Request& req, http::Responder res);
  void serve_action(http::Request& req, http::Responder res);

  Supervisor& sup_;
  std::string token_;
  ResourceHistory history_;
  uv_timer_t* timer_ = nullptr;
  unsigned seconds_ = 0;
  std::vector<http::Responder> streams_;
};

}  // namespace rack::master
