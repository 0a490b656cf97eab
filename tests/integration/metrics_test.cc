// Issue 5: merged Prometheus metrics and /health, scraped by real tools:
// promtool checks the real output, and a real Prometheus server scrapes
// rackd through a reload.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include <cstdio>

#include "harness.h"

using namespace rack::test;

namespace {

using Clock = std::chrono::steady_clock;

struct HostPort {
  std::string host;
  int port = 0;
};

HostPort split(const std::string& addr) {
  auto colon = addr.rfind(':');
  REQUIRE_MESSAGE(colon != std::string::npos, "not host:port: " << addr);
  return {addr.substr(0, colon), std::atoi(addr.c_str() + colon + 1)};
}

HostPort admin_of(Rack& rack) { return split(rack.status()["rackd"]["admin"].get<std::string>()); }

rack::http::Client::Result get(const HostPort& at, const std::string& path, std::chrono::milliseconds timeout = 5000ms) {
  auto c = rack::http::Client::tcp(at.host, static_cast<uint16_t>(at.port));
  c.set_timeout(timeout);
  return c.request("GET", path, "", {{"Connection", "close"}});
}

// The value of one exact sample line (name{labels}) in an exposition.
std::optional<double> sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

std::string which(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = std::string(path ? path : "") + ":/usr/bin:/usr/local/bin";
  std::istringstream in(dirs);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    std::string p = dir + "/" + name;
    if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// promtool and prometheus come from the Debian prometheus package, which
// scripts/install-deps installs and CI has: their absence is a failure.
std::string required_tool(const std::string& name) {
  std::string p = which(name);
  REQUIRE_MESSAGE(!p.empty(), name << " not found: install the Debian prometheus package (scripts/install-deps)");
  return p;
}

RunResult promtool_check(Rack& rack, const std::string& text, const std::string& file) {
  std::string path = rack.write_file(file, text);
  return run({"/bin/sh", "-c", required_tool("promtool") + " check metrics < " + path});
}

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

// A child process the test owns: SIGTERM, then SIGKILL, when it goes out
// of scope (and SIGKILL if the test binary itself dies).
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log_path) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int st = 0;
    if (!wait_until([&] { return ::waitpid(pid_, &st, WNOHANG) == pid_; }, 5s)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
    }
  }
  Child(const Child&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// An instant query against Prometheus's HTTP API: the single result's
// value, or nullopt when there is none.
std::optional<double> prom_query(const HostPort& prom, const std::string& q) {
  auto r = get(prom, "/api/v1/query?query=" + url_encode(q));
  if (r.status != 200) return std::nullopt;
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || j["status"] != "success") return std::nullopt;
  auto& result = j["data"]["result"];
  if (!result.is_array() || result.size() != 1) return std::nullopt;
  return std::stod(result[0]["value"][1].get<std::string>());
}

const std::string kCounter = R"(hello_requests_total{app="web"})";

// Scrapes /metrics in the background and records the merged counter.
class Scraper {
 public:
  explicit Scraper(HostPort admin) : admin_(std::move(admin)), thread_([this] { loop(); }) {}
  ~Scraper() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<double> values() {
    std::lock_guard<std::mutex> lock(mu_);
    return values_;
  }
  std::size_t failures() const { return failures_; }

 private:
  void loop() {
    while (!stop_) {
      auto r = get(admin_, "/metrics");
      auto v = r.status == 200 ? sample(r.body, kCounter) : std::nullopt;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (v)
          values_.push_back(*v);
        else if (r.status != 200 || !values_.empty())  // once there, the counter must stay there
          ++failures_;
      }
      std::this_thread::sleep_for(30ms);
    }
  }
  HostPort admin_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> failures_{0};
  std::mutex mu_;
  std::vector<double> values_;
  std::thread thread_;
};

// Sequential /count requests on fresh connections: round-robin spreads
// them over every worker. Returns how many were answered 200.
int count_requests(const HostPort& app, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += get(app, "/count").status == 200;
  return ok;
}

double scrape_counter(const HostPort& admin) {
  auto r = get(admin, "/metrics");
  return r.status == 200 ? sample(r.body, kCounter).value_or(-1) : -1;
}

}  // namespace

TEST_CASE("metrics: the merged counter never decreases across crash, reload and scale-down, and ends at the total served") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 4));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 4));
  auto [h, p] = rack.address("web");
  HostPort app{h, p}, admin = admin_of(rack);
  Scraper scraper(admin);
  double served = 0;

  served += count_requests(app, 100);
  CHECK(served == 100);
  // Every worker's latest count is in the merge before one of them dies:
  // a crash sends no final snapshot, so rackd keeps what it last scraped.
  REQUIRE(wait_until([&] { return scrape_counter(admin) == served; }, 10s));

  // Crash one worker: it is restarted in place and counts from zero.
  auto before = rack.pids("web");
  get(app, "/crash");
  REQUIRE(wait_until([&] {
    auto now = rack.pids("web");
    return now.size() == 4 && now != before;
  }, 15s));
  CHECK(scrape_counter(admin) == served);
  served += count_requests(app, 100);
  REQUIRE(wait_until([&] { return scrape_counter(admin) == served; }, 10s));

  // Reload all, then scale down to 2, under load on /count. Draining
  // workers send a final snapshot, so nothing they counted is lost.
  {
    Load load(app.host, app.port, Load::Mode::KeepAlive, 4, "/count");
    std::this_thread::sleep_for(300ms);
    auto r = rack.ctl({"reload", "web"});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    std::this_thread::sleep_for(300ms);
    CHECK(rack.ctl({"scale", "web", "2"}).exit_code == 0);
    CHECK(wait_until([&] { return rack.app("web")["workers"].size() == 2; }, 15s));
    std::this_thread::sleep_for(300ms);
    load.stop();
    CHECK_MESSAGE(load.failed() == 0, load.first_error());
    CHECK(load.ok() > 0);
    served += static_cast<double>(load.ok());
  }
  served += count_requests(app, 20);
  bool equal = wait_until([&] { return scrape_counter(admin) == served; }, 10s);
  CHECK_MESSAGE(equal, "merged " << scrape_counter(admin) << ", served " << served);

  scraper.stop();
  auto values = scraper.values();
  CHECK(values.size() > 20);
  CHECK(scraper.failures() == 0);
  for (std::size_t i = 1; i < values.size(); ++i)
    CHECK_MESSAGE(values[i] >= values[i - 1], "scrape " << i << ": " << values[i] << " after " << values[i - 1]);

  // The merged histogram counted the same requests (bucket +Inf = _count).
  auto text = get(admin, "/metrics").body;
  auto buckets = sample(text, R"(http_request_duration_seconds_bucket{app="web",method="GET",route="/count",status_code="200",le="+Inf"})");
  auto count = sample(text, R"(http_request_duration_seconds_count{app="web",method="GET",route="/count",status_code="200"})");
  REQUIRE(buckets);
  REQUIRE(count);
  CHECK(*buckets == *count);
  // The same requests, observed once each response was written (a crash may
  // lose the few observed after rackd's last look at that worker).
  CHECK(*count <= served);
  CHECK(*count >= 0.9 * served);
}

TEST_CASE("metrics: promtool check metrics passes on real output, admin and app port") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                      hello_app("web", 3, "    metrics_path: /metrics\n    gauges: {rack_event_loop_lag_seconds: max}\n") +
                      hello_app("api", 2) + "  - name: plain\n    run: [/bin/sleep, '1000']\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 3));
  REQUIRE(rack.wait_ready("api", 2));
  auto [h, p] = rack.address("web");
  HostPort web{h, p}, admin = admin_of(rack);
  auto [h2, p2] = rack.address("api");
  HostPort api{h2, p2};
  REQUIRE(count_requests(web, 30) == 30);
  // In the merge before a worker crashes (a crash sends no final snapshot).
  REQUIRE(wait_until([&] { return scrape_counter(admin) == 30; }, 10s));
  for (auto path : {"/", "/nope", "/sleep?ms=20", "/whoami"}) get(api, path);
  get(web, "/crash");  // a restart reason, and a retired process
  REQUIRE(rack.wait_ready("web", 3));
  REQUIRE(wait_until([&] { return rack.pids("plain").size() == 1; }, 5s));
  std::this_thread::sleep_for(1200ms);  // rackd samples /proc once a second

  auto r = get(admin, "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type").find("text/plain; version=0.0.4") == 0);
  auto check = promtool_check(rack, r.body, "admin.prom");
  CHECK_MESSAGE(check.exit_code == 0, check.out << check.err << "\n" << r.body);
  // What the issue lists is there.
  for (auto s : {R"(hello_requests_total{app="web"})", R"(rack_metrics_stale_workers{app="web"})",
                 R"(rack_workers{app="web",state="ready"})", R"(rack_worker_restarts_total{app="web",reason="crash"})",
                 R"(rack_connections_dispatched_total{app="api"})", R"(rack_dispatch_queue_depth{app="web"})",
                 R"(rack_reloads_total{app="web"})", R"(rack_log_bytes_total{app="web"})",
                 R"(rack_log_rotations_total{app="web"})", R"(rack_log_dropped_lines_total{app="web"})", R"(process_cpu_seconds_total{app="rackd"})",
                 R"(rack_event_loop_lag_seconds{app="web"})", R"(rack_event_loop_lag_seconds{app="web",worker="2"})"})
    CHECK_MESSAGE(sample(r.body, s), s);
  for (auto family : {"process_resident_memory_bytes{app=\"plain\",worker=\"0\"", "process_open_fds{app=\"web\"",
                      "process_start_time_seconds{app=\"api\"", "http_request_duration_seconds_bucket{app=\"api\""})
    CHECK_MESSAGE(r.body.find(family) != std::string::npos, family);
  CHECK(sample(r.body, R"(hello_requests_total{app="web"})") == 30);

  // metrics_path: the app's own port serves that app's merged metrics, and
  // only that app's, whichever worker takes the request.
  for (int i = 0; i < 3; ++i) {
    auto m = get(web, "/metrics");
    REQUIRE(m.status == 200);
    CHECK(sample(m.body, R"(hello_requests_total{app="web"})") == 30);
    CHECK(m.body.find("app=\"api\"") == std::string::npos);
    CHECK(m.body.find("app=\"rackd\"") == std::string::npos);
    if (i == 0) {
      auto c = promtool_check(rack, m.body, "app.prom");
      CHECK_MESSAGE(c.exit_code == 0, c.out << c.err << "\n" << m.body);
    }
  }
  CHECK(get(api, "/metrics").status == 404);  // api did not ask for it

  // The alerting rules shipped for these metrics load.
  auto rules = run({required_tool("promtool"), "check", "rules", std::string(RACK_SOURCE_DIR) + "/deploy/prometheus/rules.yml"});
  CHECK_MESSAGE(rules.exit_code == 0, rules.out << rules.err);
}

TEST_CASE("metrics: a hung worker does not hold up the scrape, it counts as stale with its last snapshot") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                                                    hello_app("web", 2, "    heartbeat_timeout: 30s\n    kill_timeout: 1s\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto [h, p] = rack.address("web");
  HostPort app{h, p}, admin = admin_of(rack);
  int served = count_requests(app, 10);
  REQUIRE(wait_until([&] { return scrape_counter(admin) == served; }, 10s));

  get(app, "/hang", 1000ms);  // the client gives up; the worker's loop stays blocked
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    auto r = get(admin, "/metrics");
    auto took = Clock::now() - t0;
    REQUIRE(r.status == 200);
    CHECK(took < 3s);  // the deadline is 200 ms; generous for a loaded machine
    CHECK(sample(r.body, R"(rack_metrics_stale_workers{app="web"})") == 1);
    CHECK(sample(r.body, kCounter) == served);
  }
}

TEST_CASE("metrics: a real Prometheus scrapes rackd through a reload and sees no counter reset") {
  std::string prometheus = required_tool("prometheus");
  Rack rack;
  // Each new worker takes 1.2 s to be ready, so a reload lasts several
  // seconds and Prometheus (every second) must scrape in the middle of it.
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n  - name: web\n    run: [" +
                                                    bin("rack-hello") + ", --ready-delay, '1200']\n" +
                                                    "    protocol: rack\n    listen: 127.0.0.1:0\n    instances: 4\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 4));
  auto [h, p] = rack.address("web");
  HostPort app{h, p}, admin = admin_of(rack);

  int port = free_port();
  std::string config = rack.write_file(
      "prometheus.yml",
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n"
      "scrape_configs:\n  - job_name: rack\n    static_configs:\n      - targets: ['" +
          admin.host + ":" + std::to_string(admin.port) + "']\n");
  std::string data = rack.home() + "/prometheus-data";
  Child server({prometheus, "--config.file=" + config, "--storage.tsdb.path=" + data,
                "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
               rack.home() + "/prometheus.log");
  HostPort prom{"127.0.0.1", port};
  auto log = [&] {
    std::ifstream f(rack.home() + "/prometheus.log");
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  REQUIRE_MESSAGE(wait_until([&] { return get(prom, "/-/ready", 1000ms).status == 200; }, 20s, 200ms), log());

  Load load(app.host, app.port, Load::Mode::KeepAlive, 2, "/count");
  auto samples_seen = [&] {
    return prom_query(prom, "count_over_time(" + kCounter + "[5m])").value_or(0);
  };
  REQUIRE_MESSAGE(wait_until([&] { return samples_seen() >= 3; }, 15s, 250ms), log());
  double before = samples_seen();
  // Two reloads back to back: every worker is replaced twice while
  // Prometheus scrapes once a second.
  auto unix_now = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  double reload_start = unix_now();
  for (int i = 0; i < 2; ++i) {
    auto r = rack.ctl({"reload", "web"});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
  }
  double reload_end = unix_now();
  REQUIRE(wait_until([&] { return samples_seen() >= before + 3; }, 15s, 250ms));
  // Scrapes landed while workers were being replaced, not only around it.
  CHECK(reload_end - reload_start >= 2.0);
  char during[160];
  std::snprintf(during, sizeof during, "count_over_time(%s[%dms] @ %.3f)", kCounter.c_str(),
                static_cast<int>((reload_end - reload_start) * 1000), reload_end);
  CHECK_MESSAGE(prom_query(prom, during).value_or(0) >= 2, during);
  load.stop();
  CHECK_MESSAGE(load.failed() == 0, load.first_error());

  CHECK(prom_query(prom, "up{job=\"rack\"}") == 1.0);
  CHECK(prom_query(prom, "resets(" + kCounter + "[5m])") == 0.0);
  CHECK(prom_query(prom, R"(sum(resets(http_request_duration_seconds_bucket{app="web"}[5m])))") == 0.0);
  auto rate = prom_query(prom, "rate(" + kCounter + "[5m])");
  REQUIRE(rate);
  CHECK(*rate > 0);
  CHECK(prom_query(prom, "rack_reloads_total{app=\"web\"}") == 2.0);
}

TEST_CASE("metrics: /health flips to 503 when an app meant to run has no ready worker, and back to 200") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 2));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  HostPort admin = admin_of(rack);

  auto health = [&] { return get(admin, "/health"); };
  auto r = health();
  CHECK(r.status == 200);
  CHECK(json::parse(r.body) == json::parse(R"({"status":"ok","checks":{"web":{"status":"ok"}}})"));

  // Stopped on purpose: reported, not failing (health_test.cc has more).
  REQUIRE(rack.ctl({"stop", "web"}).exit_code == 0);
  r = health();
  CHECK(r.status == 200);
  auto j = json::parse(r.body);
  CHECK(j["status"] == "ok");
  CHECK(j["checks"]["web"]["status"] == "stopped");

  REQUIRE(rack.ctl({"restart", "web"}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  CHECK(wait_until([&] { return health().status == 200; }, 5s));

  // An app whose workers never become ready makes rackd unhealthy, and
  // says which app and why; deleting it makes rackd healthy again.
  std::string mute = rack.write_file(
      "mute.yaml", "apps:\n  - name: mute\n    run: [" + bin("rack-hello") +
                       ", --never-ready]\n    protocol: rack\n    listen: 127.0.0.1:0\n    ready_timeout: 300ms\n"
                       "    restart: {max_restarts: 1, backoff_initial: 10ms, min_uptime: 2s}\n");
  REQUIRE(rack.ctl({"start", "--no-wait", mute}).exit_code == 0);
  r = health();
  CHECK(r.status == 503);
  j = json::parse(r.body);
  CHECK(j["checks"]["web"]["status"] == "ok");
  CHECK(j["checks"]["mute"]["status"] == "error");
  CHECK(j["checks"]["mute"]["error"].get<std::string>().find("no ready worker") != std::string::npos);
  REQUIRE(rack.ctl({"delete", "mute"}).exit_code == 0);
  CHECK(wait_until([&] { return health().status == 200; }, 5s));
}
