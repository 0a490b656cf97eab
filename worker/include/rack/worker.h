// The Rack worker runtime: write an HTTP app, get supervision for free.
//
//   #include <rack/worker.h>
//
//   int main(int argc, char** argv) {
//     rack::App app(argc, argv);  // reads --listen, RACK_* and LOG_* from the environment
//
//     app.get("/", [](rack::Request&, rack::Responder res) {
//       res.send(rack::Response::text(200, "hello\n"));
//     });
//     app.get("/users/:id", [](rack::Request& req, rack::Responder res) {
//       res.send(rack::Response::json(200, "{\"id\":\"" + std::string(req.param("id")) + "\"}"));
//     });
//     app.post("/files/*", [](rack::Request& req, rack::Responder res) {
//       // req.param("*") is the rest of the path; req.body the (de-chunked) body.
//       res.send(rack::Response::text(201, "stored " + std::to_string(req.body.size()) + " bytes\n"));
//     });
//
//     // Answer later without blocking the loop: keep the Responder.
//     app.get("/slow", [&app](rack::Request&, rack::Responder res) {
//       rack::after(app.loop(), 100, [res]() mutable { res.send(rack::Response::text(200, "done\n")); });
//     });
//
//     // Your own metrics land next to the built-in ones in rackd's /metrics.
//     auto& hits = prometheus::BuildCounter().Name("myapp_hits_total").Help("Hits.")
//                      .Register(app.metrics()).Add({});
//     app.get("/hit", [&hits](rack::Request&, rack::Responder res) {
//       hits.Increment();
//       res.send(rack::Response::text(200, "ok\n"));
//     });
//
//     return app.run();  // serves until drained (reload/stop) or signalled
//   }
//
// Under rackd (`protocol: rack`) the worker receives connections over the
// channel on fd 3 (RACK_CHANNEL_FD) and never listens itself. Alone it
// listens on --listen host:port (or RACK_LISTEN) with SO_REUSEPORT, so
// several copies can share a port. SIGTERM or SIGINT: drain gracefully (a
// second one: close everything now).
//
// Routing: ":name" matches one path segment, a final "*" the rest of the
// path. The most specific pattern wins (literal > :param > *), then the
// first registered. HEAD is served by GET routes. No match: 404 JSON; the
// path matches but not the method: 405 with Allow.
//
// Readiness: run() reports Ready once listening/connected. An app that must
// warm up first calls defer_ready() before run() and ready() when done.
//
// Health: rackd's GET /health says whether each app has ready workers. An
// app adds checks of its own with health_check(); they appear there as
// "<app>:<name>" and turn /health into a 503 while they fail in any ready
// worker:
//
//     app.health_check("storage", [&](rack::App::HealthDone done) {
//       // blocking I/O belongs off the loop (uv_queue_work), then done() on it
//       done(std::filesystem::is_directory(dir) ? "" : dir + " is not a directory");
//     });
//
// Under rackd a worker runs its checks when it starts and then about once a
// second; a check answers by calling done("") when healthy or done(error)
// — at once, or later from the loop. One that has not answered within 5 s,
// or throws, counts as failed. Checks only report: a failing check does not
// take the worker out of rotation. Run alone, checks are not run.
//
// Built-in metrics: http_request_duration_seconds{method,route,status_code}
// (route = the matched pattern, "unmatched" otherwise) and
// rack_event_loop_lag_seconds. Under rackd with `metrics_path` set, GET on
// that path answers the app's metrics merged over all its workers (rackd
// merges them; a route of the app's own for that path takes precedence).
// Every request is logged at info (method,
// target, status, milliseconds) to stdout; credentials in headers are shown
// as [REDACTED] unless LOG_LEVEL is debug or trace.
//
// Everything runs on one libuv loop (app.loop()). Handlers must not block it:
// a blocked loop stops answering rackd's heartbeats and gets replaced.
#pragma once

#include <functional>

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "rack/http.h"
#include "rack/timer.h"  // rack::after: answer later without blocking the loop
#include "rack/router.h"

namespace rack {

using Request = http::Request;
using Response = http::Response;
using Responder = http::Responder;
using Header = http::Header;
using Handler = http::Handler;

struct WorkerInfo {
  std::string app;           // RACK_APP; the program name when run alone
  uint32_t slot = 0;         // RACK_INSTANCE
  uint64_t generation = 0;   // RACK_GENERATION
  pid_t pid = 0;
  bool supervised = false;   // true when connections come from rackd
};

class App {
 public:
  // Consumes --listen ADDR / --listen=ADDR from argv; everything else is left
  // for the app in args(). Sets up logging (LOG_LEVEL, LOG_FORMAT; JSON
  // unless stdout is a terminal).
  App(int argc, char** argv);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  App& get(std::string pattern, Handler handler);
  App& post(std::string pattern, Handler handler);
  App& put(std::string pattern, Handler handler);
  App& patch(std::string pattern, Handler handler);
  App& del(std::string pattern, Handler handler);
  // Any method ("OPTIONS", …). Throws std::invalid_argument on a bad pattern.
  App& route(std::string method, std::string pattern, Handler handler);

  uv_loop_t* loop();
  const WorkerInfo& info() const;
  prometheus::Registry& metrics();
  std::string metrics_text() const;  // the registry in Prometheus text format
  http::Limits& limits();            // adjust before run()
  const std::vector<std::string>& args() const;

  // The app's own health checks (see "Health" above). Names: 1-64 of
  // [A-Za-z0-9_.-], unique; at most 32 checks; an error text is cut at
  // 1 KiB. Throws std::invalid_argument otherwise.
  using HealthDone = std::function<void(std::string error)>;
  App& health_check(std::string name, std::function<void(HealthDone done)> check);
  // The same for a check that answers at once: returns "" when healthy.
  App& health_check(std::string name, std::function<std::string()> check);

  void defer_ready();  // before run(): do not report Ready by itself
  void ready();        // report Ready now (or as soon as run() starts)
  void stop();         // drain and exit, as on SIGTERM

  // Serves until drained. 0 after a clean drain; 1 if the channel or the
  // listen address cannot be used; 2 on a usage error (no --listen alone).
  int run();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rack
