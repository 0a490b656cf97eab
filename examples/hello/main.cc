// rack-hello: the smallest useful Rack worker, and the test double for
// rackd's integration tests (crash, hang, slow start, never ready).
//
//   GET /          "hello\n"
//   GET /whoami    {"app":…,"slot":…,"pid":…,"generation":…}
//   GET /sleep?ms=N  "slept\n" after N ms (a timer: the loop stays free)
//   GET /spin?ms=N   "spun\n" after N ms of busy loop (the loop is busy: CPU-heavy requests)
//   GET /count     increments hello_requests_total
//   GET /crash     abort()            — tests crash restarts
//   GET /fail      500 "failed\n"     — tests 5xx metrics and alerts
//   GET /hang      blocks the loop    — tests heartbeat replacement
//   GET /print?lines=N  writes N lines of 80 bytes to stdout from the loop,
//                  blocking while the pipe is full — tests blocked on logs
//
// Flags (and env): --listen host:port (RACK_LISTEN), --never-ready
// (HELLO_NEVER_READY=1), --ready-delay MS (HELLO_READY_DELAY_MS),
// --exit-at-start (exit 1 at once), --series N (HELLO_SERIES: N dummy counter series),
// --error-rate R (HELLO_ERROR_RATE: answers 500 to that fraction of the
// requests to /, /whoami, /sleep and /spin, evenly spread: a bad release).
#include <unistd.h>

#include <chrono>
#include <charconv>
#include <cstdio>
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
  double error_rate = 0;  // fraction of requests answered 500
};

bool parse_rate(std::string_view s, double& out) {
  char* end = nullptr;
  std::string copy(s);
  out = std::strtod(copy.c_str(), &end);
  return !copy.empty() && end == copy.c_str() + copy.size() && out >= 0 && out <= 1;
}

// Answers 500 to `rate` of the calls, spread evenly (every other one at
// 0.5) so a short test sees the rate it asked for, not a random draw.
class ErrorInjector {
 public:
  explicit ErrorInjector(double rate) : rate_(rate) {}
  bool fail_next() {
    ++n_;
    auto due = static_cast<uint64_t>(static_cast<double>(n_) * rate_);
    if (due <= failed_) return false;
    failed_ = due;
    return true;
  }

 private:
  double rate_;
  uint64_t n_ = 0, failed_ = 0;
};

// /spin: burns the CPU for `ms`, as a CPU-heavy request would.
void spin_for(uint64_t ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  volatile uint64_t x = 0;
  while (std::chrono::steady_clock::now() < until)
    for (int i = 0; i < 1000; ++i) x = x + 1;
}

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
  if (const char* e = std::getenv("HELLO_ERROR_RATE"); e && !parse_rate(e, o.error_rate)) {
    std::fprintf(stderr, "rack-hello: HELLO_ERROR_RATE=\"%s\" is not a fraction between 0 and 1\n", e);
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
    } else if (a == "--error-rate" && i + 1 < args.size() && parse_rate(args[i + 1], o.error_rate)) {
      ++i;
    } else {
      std::fprintf(stderr, "rack-hello: unknown or incomplete argument \"%s\"\n"
                           "usage: rack-hello [--listen host:port] [--never-ready] [--ready-delay MS] [--exit-at-start] [--series N] [--error-rate R]\n",
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

  ErrorInjector errors(opt.error_rate);
  auto failed = [&errors](rack::Responder& res) {
    if (!errors.fail_next()) return false;
    res.send(rack::Response::error(500, "--error-rate"));
    return true;
  };

  app.get("/", [&failed](rack::Request&, rack::Responder res) {
    if (failed(res)) return;
    res.send(rack::Response::text(200, "hello\n"));
  });

  app.get("/whoami", [&app, &failed](rack::Request&, rack::Responder res) {
    if (failed(res)) return;
    const rack::WorkerInfo& i = app.info();
    nlohmann::json j = {{"app", i.app}, {"slot", i.slot}, {"pid", i.pid}, {"generation", i.generation}};
    res.send(rack::Response::json(200, j.dump() + "\n"));
  });

  app.get("/sleep", [&app, &failed](rack::Request& req, rack::Responder res) {
    uint64_t ms = 0;
    auto q = req.query_param("ms");
    if (q && !parse_ms(*q, ms)) return res.send(rack::Response::error(400, "ms must be a number"));
    if (failed(res)) return;
    rack::after(app.loop(), ms, [res]() mutable { res.send(rack::Response::text(200, "slept\n")); });
  });

  app.get("/spin", [&failed](rack::Request& req, rack::Responder res) {
    uint64_t ms = 0;
    auto q = req.query_param("ms");
    if (q && (!parse_ms(*q, ms) || ms > 60000)) return res.send(rack::Response::error(400, "ms must be a number up to 60000"));
    if (failed(res)) return;
    spin_for(ms);
    res.send(rack::Response::text(200, "spun\n"));
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

  app.get("/print", [](rack::Request& req, rack::Responder res) {
    uint64_t lines = 0;
    auto q = req.query_param("lines");
    if (!q || !parse_ms(*q, lines) || lines > 1000000)
      return res.send(rack::Response::error(400, "lines must be a number up to 1000000"));
    for (uint64_t i = 1; i <= lines; ++i) std::fprintf(stdout, "print %08llu %069d\n", static_cast<unsigned long long>(i), 0);
    std::fflush(stdout);
    res.send(rack::Response::text(200, "printed\n"));
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
