// Hostile rack workers (tests/apps/hostile_rack.py): what one worker sends
// on its channel must not grow rackd's descriptors, memory or log, and must
// not harm the other apps.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "harness.h"
#include "tools.h"

using namespace rack::test;

namespace {

std::string hostile(const std::string& name, const std::string& mode, const std::string& extra = "") {
  return "  - name: " + name + "\n    run: [python3, hostile_rack.py, " + mode + "]\n    cwd: " +
         std::string(RACK_SOURCE_DIR) + "/tests/apps\n    protocol: rack\n    listen: 127.0.0.1:0\n" +
         "    kill_timeout: 1s\n" + extra;
}

uint64_t rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

uint64_t file_size(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

double metric(Rack& rack, const std::string& series) {
  auto r = http_get(rack.admin(), "/metrics");
  return metric_sample(r.body, series).value_or(-1);
}

// Samples rackd while the hostile apps run for `d`: the most descriptors
// and the most memory it held.
struct Peak {
  std::size_t fds = 0;
  uint64_t rss = 0;
};
Peak watch(pid_t rackd, std::chrono::milliseconds d) {
  Peak p;
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
    p.fds = std::max(p.fds, fd_count(rackd));
    p.rss = std::max(p.rss, rss_bytes(rackd));
    std::this_thread::sleep_for(50ms);
  }
  return p;
}

}  // namespace

TEST_CASE("hostile: ConnReturn with pipes, directories and foreign sockets is closed, counted, and the worker replaced") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 1) +
                                                    hostile("evil", "fds"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  pid_t rackd = rack.rackd_pid();
  std::size_t before = fd_count(rackd);
  Peak peak = watch(rackd, 4s);
  // Five descriptors a round, thousands of rounds: each is closed at once.
  CHECK_MESSAGE(peak.fds < before + 64, "rackd held " << peak.fds << " fds, " << before << " before");
  CHECK(metric(rack, "rack_worker_protocol_errors_total{app=\"evil\"}") >= 32);
  CHECK(wait_until([&] { return metric(rack, "rack_worker_restarts_total{app=\"evil\",reason=\"protocol_error\"}") >= 1; },
                   10s));
  auto web = http_get(rack.address("web"), "/");
  CHECK_MESSAGE(web.status == 200, web.error_text);
  // One line per worker process, not one per message: each evil process
  // sends thousands, and is logged at most once (its start line comes first).
  std::string log = read_all(rack.home() + "/rackd.log");
  size_t bad = count(log, "sent a bad channel message");
  size_t started = count(log, "evil slot 0: started pid");
  CHECK(bad >= 1);
  CHECK_MESSAGE(bad <= started, bad << " bad-message lines for " << started << " processes\n" << log.substr(0, 2000));
  CHECK(log.find("ConnReturn: a pipe") != std::string::npos);
  CHECK(log.find("replacing worker gracefully: 32 bad channel messages") != std::string::npos);
  CHECK(pid_alive(rackd));
}

TEST_CASE("hostile: endless metrics pieces are cut at 8 MB") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 1) +
                                                    hostile("endless", "metrics"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  pid_t rackd = rack.rackd_pid();
  Peak peak = watch(rackd, 4s);
  // Metrics pieces of 64 KB, never a last one: at most kMaxMetricsSnapshot (8 MB) held.
  CHECK_MESSAGE(peak.rss < (96u << 20) + sanitizer_rss_allowance(), "rackd RSS reached " << peak.rss);
  std::string log = read_all(rack.home() + "/rackd.log");
  CHECK(log.find("a metrics snapshot over 8 MB") != std::string::npos);
  CHECK(metric(rack, "rack_worker_protocol_errors_total{app=\"endless\"}") >= 1);
  auto web = http_get(rack.address("web"), "/");
  CHECK_MESSAGE(web.status == 200, web.error_text);
}

// Each unknown type is a protocol error: a flood of them gets the worker
// replaced like any other bad message, and rackd.log gets one line per
// worker process, not one per message.
TEST_CASE("hostile: a flood of unknown message types is counted and gets the worker replaced") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 1) +
                                                    hostile("unknown", "unknown"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  uint64_t log_before = file_size(rack.home() + "/rackd.log");
  CHECK(wait_until(
      [&] { return metric(rack, "rack_worker_restarts_total{app=\"unknown\",reason=\"protocol_error\"}") >= 1; },
      10s));
  CHECK(metric(rack, "rack_worker_protocol_errors_total{app=\"unknown\"}") >= 32);
  uint64_t grown = file_size(rack.home() + "/rackd.log") - log_before;
  CHECK_MESSAGE(grown < (64u << 10), "rackd.log grew " << grown << " bytes");
  std::string log = read_all(rack.home() + "/rackd.log");
  CHECK(log.find("unknown message type 999 (100 bytes)") != std::string::npos);
  size_t bad = count(log, "sent a bad channel message");
  size_t started = count(log, "unknown slot 0: started pid");
  CHECK_MESSAGE(bad <= started, bad << " bad-message lines for " << started << " processes");
  auto web = http_get(rack.address("web"), "/");
  CHECK_MESSAGE(web.status == 200, web.error_text);
  CHECK(pid_alive(rack.rackd_pid()));
}

// Over 64 KB, a message used to break the channel for good (recvmsg cut it,
// the length check failed, the channel was closed) and only the heartbeat,
// much later, replaced the worker. Now each is one protocol error.
TEST_CASE("hostile: messages over 64 KB are protocol errors, a stream of them gets the worker replaced") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 1) +
                                                    hostile("big", "oversized", "    heartbeat_timeout: 60s\n"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(wait_until(
      [&] { return metric(rack, "rack_worker_restarts_total{app=\"big\",reason=\"protocol_error\"}") >= 1; }, 10s));
  CHECK(metric(rack, "rack_worker_protocol_errors_total{app=\"big\"}") >= 32);
  std::string log = read_all(rack.home() + "/rackd.log");
  CHECK(log.find("a message over 65536 payload bytes") != std::string::npos);
  CHECK(log.find("replacing worker gracefully: 32 bad channel messages") != std::string::npos);
  auto web = http_get(rack.address("web"), "/");
  CHECK_MESSAGE(web.status == 200, web.error_text);
}

TEST_CASE("hostile: after a few malformed messages the channel still works and the worker stays") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hostile("odd", "bad_once", "    heartbeat_timeout: 2s\n"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  REQUIRE(rack.wait_ready("odd", 1));
  auto first = rack.pids("odd");
  REQUIRE(first.size() == 1);
  // Three heartbeat timeouts: a broken channel (no Pong) would have had the
  // worker replaced by now.
  std::this_thread::sleep_for(6s);
  CHECK(metric(rack, "rack_worker_protocol_errors_total{app=\"odd\"}") == 3);
  CHECK(metric(rack, "rack_worker_restarts_total{app=\"odd\",reason=\"heartbeat\"}") <= 0);
  CHECK(rack.pids("odd") == first);
  std::string log = read_all(rack.home() + "/rackd.log");
  CHECK(log.find("a message over 65536 payload bytes") != std::string::npos);
}

TEST_CASE("hostile: a rack worker that never reads its channel cannot grow rackd") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", 1) +
                      hostile("deaf", "deaf", "    heartbeat_timeout: 30s\n    metrics_path: /metrics\n"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  pid_t rackd = rack.rackd_pid();
  Peak peak = watch(rackd, 4s);
  CHECK_MESSAGE(peak.rss < (96u << 20) + sanitizer_rss_allowance(), "rackd RSS reached " << peak.rss);
  CHECK(metric(rack, "rack_worker_protocol_errors_total{app=\"deaf\"}") >= 1);
  auto web = http_get(rack.address("web"), "/");
  CHECK_MESSAGE(web.status == 200, web.error_text);
  // Deleted, it leaves nothing behind in rackd.
  CHECK(rack.ctl({"delete", "deaf"}).exit_code == 0);
  CHECK(wait_until([&] { return rss_bytes(rackd) < (96u << 20) + sanitizer_rss_allowance(); }, 5s));
}
