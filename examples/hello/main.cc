// rack-hello: the smallest useful Rack worker, and the test double for
// rackd's integration tests (crash, hang, slow start, never ready).
//
//   GET /          "hello\n"
//   GET /whoami    {"app":…,"slot":…,"pid":…,"generation":…}
//   GET /sleep?ms=N  "slept\n" after N ms (a timer: the loop stays free)
//   GET /count     increments hello_requests_total
//   GET /crash     abort()            — tests crash restarts
//   GET /fail      500 "failed\n"     — tests 5xx metrics and alerts
//   GET /hang      blocks the loop    — tests heartbeat replacement
//
// Flags (and env): --listen host:port (RACK_LISTEN), --never-ready
// (HELLO_NEVER_READY=1), --ready-delay MS (HELLO_READY_DELAY_MS),
// --exit-at-start (exit 1 at once), --series N (HELLO_SERIES: N dummy counter series).
#include <unistd.h>

#include <chrono>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <rack/worker.h>

namespace {

struct Options {
  bool never_ready = false;
  bool exit_at_start = false;
  uint64_t ready_delay_ms = 0;
  uint64_t series = 0;  // dummy metric series, for the scrape benchmark
};

bool parse_ms(std::string_view s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
}

// Returns false (after printing why) on a usage error.
bool parse_options(const std::vector<std::string>& args, Options& o) {
  if (const char* e = std::getenv("HELLO_NEVER_READY"); e && std::strcmp(e, "1") == 0) o.never_ready = true;
  if (const char* e = std::getenv("HELLO_SERIES"); e && !parse_ms(e, o.series)) {
    std::fprintf(stderr, "rack-hello: HELLO_SERIES=\"%s\" is not a number\n", e);
    return false;
  }
  if (const char* e = std::getenv("HELLO_READY_DELAY_MS"); e && !parse_ms(e, o.ready_delay_ms)) {
    std::fprintf(stderr, "rack-hello: HELLO_READY_DELAY_MS=\"%s\" is not a number of milliseconds\n", e);
    return false;
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--never-ready") {
      o.never_ready = true;
    } else if (a == "--exit-at-start") {
      o.exit_at_start = true;
    } else if (a == "--ready-delay" && i + 1 < args.size() && parse_ms(args[i + 1], o.ready_delay_ms)) {
      ++i;
    } else if (a == "--series" && i + 1 < args.size() && parse_ms(args[i + 1], o.series)) {
      ++i;
    } else {
      std::fprintf(stderr, "rack-hello: unknown or incomplete argument \"%s\"\n"
                           "usage: rack-hello [--listen host:port] [--never-ready] [--ready-delay MS] [--exit-at-start] [--series N]\n",
                   a.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  rack::App app(argc, argv);
  Options opt;
  if (!parse_options(app.args(), opt)) return 2;
  if (opt.exit_at_start) {
    spdlog::error("--exit-at-start: exiting with status 1");
    return 1;
  }

  // --series N: N extra counter series, so a scrape benchmark can measure
  // merging a realistic registry (16 workers x 1,000 series).
  if (opt.series > 0) {
    auto& family = prometheus::BuildCounter().Name("hello_dummy_total").Help("Dummy series for benchmarks.").Register(app.metrics());
    for (uint64_t i = 0; i < opt.series; ++i) family.Add({{"series", std::to_string(i)}}).Increment(static_cast<double>(i));
  }

  auto& hello_requests = prometheus::BuildCounter()
                             .Name("hello_requests_total")
                             .Help("Requests to /count.")
                             .Register(app.metrics())
                             .Add({});

  app.get("/", [](rack::Request&, rack::Responder res) { res.send(rack::Response::text(200, "hello\n")); });

  app.get("/whoami", [&app](rack::Request&, rack::Responder res) {
    const rack::WorkerInfo& i = app.info();
    nlohmann::json j = {{"app", i.app}, {"slot", i.slot}, {"pid", i.pid}, {"generation", i.generation}};
    res.send(rack::Response::json(200, j.dump() + "\n"));
  });

  app.get("/sleep", [&app](rack::Request& req, rack::Responder res) {
    uint64_t ms = 0;
    auto q = req.query_param("ms");
    if (q && !parse_ms(*q, ms)) return res.send(rack::Response::error(400, "ms must be a number"));
    rack::after(app.loop(), ms, [res]() mutable { res.send(rack::Response::text(200, "slept\n")); });
  });

  app.get("/count", [&hello_requests](rack::Request&, rack::Responder res) {
    hello_requests.Increment();
    res.send(rack::Response::text(200, std::to_string(static_cast<uint64_t>(hello_requests.Value())) + "\n"));
  });

  app.get("/fail", [](rack::Request&, rack::Responder res) { res.send(rack::Response::text(500, "failed\n")); });
  app.get("/crash", [](rack::Request&, rack::Responder) {
    spdlog::error("/crash: aborting");
    spdlog::default_logger_raw()->flush();
    std::abort();
  });

  app.get("/hang", [](rack::Request&, rack::Responder) {
    spdlog::warn("/hang: blocking the event loop forever");
    spdlog::default_logger_raw()->flush();
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  });

  if (opt.never_ready) {
    app.defer_ready();  // and never call ready(): rackd's ready_timeout must fire
  } else if (opt.ready_delay_ms > 0) {
    app.defer_ready();
    rack::after(app.loop(), opt.ready_delay_ms, [&app] { app.ready(); });
  }
  return app.run();
}
