// The cost of merging the workers' metrics, as rackd pays it at every
// scrape: each of N workers reports its exposition text (M counter series
// like `rack-hello --series M`, plus the request histogram and a few
// gauges, as prometheus-cpp writes them), then the app is rendered. Prints
// the CPU time per scrape (process CPU clock), the first scrape (which
// parses everything) apart from the steady ones. No network, no rackd.
//
//   rack-bench-merge --workers 16 --series 1000 [--scrapes 50] [--static]
//
// By default every value changes between scrapes (counters count on,
// gauges move): the cost when the workers are busy. --static reports the
// same text each time (an idle host).
// Under callgrind the instruction counts are stable on a shared machine:
//   valgrind --tool=callgrind build/bin/rack-bench-merge --scrapes 5
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/merge.h"

using namespace rack::master;

namespace {

struct Options {
  int workers = 16;
  int series = 1000;
  int scrapes = 50;
  bool fixed = false;
  const char* dump = nullptr;  // writes the last body there (to compare builds)
};

double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

void append_number(std::string& out, double v) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.17g", v);
  out.append(buf, static_cast<std::size_t>(n));
}

// One worker's text at `round`: what prometheus-cpp's TextSerializer writes.
std::string worker_text(int worker, int series, int round, bool fixed) {
  const int r = fixed ? 0 : round;
  std::string t;
  t.reserve(static_cast<std::size_t>(series) * 48 + 4096);
  t += "# HELP hello_dummy_total Dummy series for benchmarks.\n# TYPE hello_dummy_total counter\n";
  for (int i = 0; i < series; ++i) {
    t += "hello_dummy_total{series=\"";
    t += std::to_string(i);
    t += "\"} ";
    append_number(t, i + r * (i % 7));
    t += '\n';
  }
  static const char* kLe[] = {"0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "+Inf"};
  t += "# HELP http_request_duration_seconds Request duration.\n# TYPE http_request_duration_seconds histogram\n";
  for (const char* route : {"/", "/count", "/whoami", "/sleep"}) {
    std::string labels = std::string("method=\"GET\",route=\"") + route + "\",status_code=\"200\"";
    double n = 100 + r * 10;
    for (int b = 0; b < 10; ++b) {
      t += "http_request_duration_seconds_bucket{" + labels + ",le=\"" + kLe[b] + "\"} ";
      append_number(t, b < 2 ? 0 : n * (b + 1) / 10);
      t += '\n';
    }
    t += "http_request_duration_seconds_sum{" + labels + "} ";
    append_number(t, n * 0.0123456);
    t += "\nhttp_request_duration_seconds_count{" + labels + "} ";
    append_number(t, n);
    t += '\n';
  }
  t += "# HELP rack_http_connections Connections held.\n# TYPE rack_http_connections gauge\nrack_http_connections ";
  append_number(t, (worker + r) % 5);
  t += "\n# HELP rack_event_loop_lag_seconds Event loop lag.\n# TYPE rack_event_loop_lag_seconds gauge\n"
       "rack_event_loop_lag_seconds ";
  append_number(t, 0.000123 * (1 + (worker * 31 + r) % 17));
  t += '\n';
  return t;
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto num = [&](int& into) {
      if (i + 1 >= argc) return false;
      into = std::atoi(argv[++i]);
      return into > 0;
    };
    if (a == "--workers" ? !num(o.workers) : a == "--series" ? !num(o.series) : a == "--scrapes" ? !num(o.scrapes) : false)
      return false;
    if (a == "--static") o.fixed = true;
    else if (a == "--dump" && i + 1 < argc) o.dump = argv[++i];
    else if (a != "--workers" && a != "--series" && a != "--scrapes") return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, o)) {
    std::fprintf(stderr, "usage: rack-bench-merge [--workers N] [--series M] [--scrapes K] [--static] [--dump FILE]\n");
    return 2;
  }
  // Texts made outside the clock: generating them is not rackd's cost.
  std::vector<std::string> texts;
  for (int w = 0; w < o.workers; ++w) texts.push_back(worker_text(w, o.series, 0, o.fixed));
  MetricsMerge merge;
  std::string err;
  std::size_t bytes = 0, in_bytes = 0;
  double first = 0, steady = 0, report_ms = 0;
  for (int s = 0; s <= o.scrapes; ++s) {
    double t0 = cpu_ms();
    for (int w = 0; w < o.workers; ++w) {
      const std::string& text = texts[static_cast<std::size_t>(w)];
      if (!merge.report("web", {static_cast<uint64_t>(w + 1), 0}, {w, 1}, text, err)) {
        std::fprintf(stderr, "report: %s\n", err.c_str());
        return 1;
      }
      in_bytes += s == 0 ? text.size() : 0;
    }
    double t1 = cpu_ms();
    Exposition ex;
    merge.render("web", {}, ex);
    std::string body = ex.str();
    double t2 = cpu_ms();
    bytes = body.size();
    if (o.dump && s == o.scrapes) {
      if (FILE* f = std::fopen(o.dump, "w")) {
        std::fwrite(body.data(), 1, body.size(), f);
        std::fclose(f);
      }
    }
    if (s == 0) first = t2 - t0;
    else {
      steady += t2 - t0;
      report_ms += t1 - t0;
    }
    if (!o.fixed) {
      // The next scrape's texts: counters counted on.
      for (int w = 0; w < o.workers; ++w) texts[static_cast<std::size_t>(w)] = worker_text(w, o.series, s + 1, false);
    }
  }
  std::printf(
      "{\"workers\": %d, \"series_per_worker\": %d, \"changing\": %s, \"scrapes\": %d, \"input_bytes\": %zu, "
      "\"output_bytes\": %zu, \"first_scrape_cpu_ms\": %.3f, \"cpu_ms_per_scrape\": %.3f, \"report_cpu_ms_per_scrape\": %.3f}\n",
      o.workers, o.series, o.fixed ? "false" : "true", o.scrapes, in_bytes, bytes, first, steady / o.scrapes,
      report_ms / o.scrapes);
  return 0;
}
