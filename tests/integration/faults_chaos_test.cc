// Availability while workers die: kill -9 of a random worker every 500 ms
// for 20 s under load. Real rackd, real signals; the figures it prints are
// the ones in the report.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "tools.h"

using namespace rack::test;

namespace {

// The /proc/<pid>/stat files rackd holds open: one per worker process once
// the /proc scan (once a second) has seen it (ProcScanner).
std::size_t stat_files(pid_t pid) {
  auto fds = fd_targets(pid);
  return std::count_if(fds.begin(), fds.end(),
                       [](const std::string& t) { return t.rfind("/proc/", 0) == 0 && t.ends_with("/stat"); });
}

// GET /v1/status over the control socket every 50 ms: how many samples
// had a ready worker of `app`.
class ReadySampler {
 public:
  ReadySampler(const std::string& home, std::string app) : app_(std::move(app)) {
    thread_ = std::thread([this, sock = home + "/rackd.sock"] {
      auto next = std::chrono::steady_clock::now();
      while (!stop_) {
        next += 50ms;
        auto c = rack::http::Client::unix_socket(sock);
        auto r = c.request("GET", "/v1/status");
        bool ready = false;
        if (r.ok() && r.status == 200) {
          json j = json::parse(r.body, nullptr, false);
          if (!j.is_discarded())
            for (auto& a : j["apps"])
              if (a["name"] == app_)
                for (auto& w : a["workers"]) ready = ready || w["state"] == "ready";
        }
        ++samples_;
        if (ready) ++ready_;
        std::this_thread::sleep_until(next);
      }
    });
  }
  ~ReadySampler() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t samples() const { return samples_; }
  uint64_t ready() const { return ready_; }

 private:
  std::string app_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> samples_{0}, ready_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("faults: chaos: kill -9 of a random worker every 500 ms for 20 s under load keeps a worker ready") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 4));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 4));
  pid_t rackd = rack.rackd_pid();
  // The baseline holds the 4 workers' stat files, as the end will.
  REQUIRE(wait_until([&] { return stat_files(rackd) == 4; }, 5s));
  std::this_thread::sleep_for(300ms);
  std::size_t fds_before = fd_count(rackd);
  auto [host, port] = rack.address("web");
  constexpr int kKeepAlive = 4, kClose = 2;
  Load ka(host, port, Load::Mode::KeepAlive, kKeepAlive);
  Load close(host, port, Load::Mode::Close, kClose);
  ReadySampler sampler(rack.home(), "web");

  std::mt19937 rng(std::random_device{}());
  int kills = 0;
  std::vector<std::chrono::steady_clock::time_point> kill_times;  // just before each kill()
  auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    auto next = std::chrono::steady_clock::now() + 500ms;
    std::vector<pid_t> alive;
    json workers = rack.app("web")["workers"];
    for (auto& w : workers)
      if (w["pid"].is_number()) alive.push_back(w["pid"].get<pid_t>());
    if (!alive.empty()) {
      pid_t victim = alive[std::uniform_int_distribution<std::size_t>(0, alive.size() - 1)(rng)];
      auto at = std::chrono::steady_clock::now();
      if (kill(victim, SIGKILL) == 0) {
        ++kills;
        kill_times.push_back(at);
      }
    }
    std::this_thread::sleep_until(next);
  }
  auto last_kill = std::chrono::steady_clock::now();
  bool all_ready = rack.wait_ready("web", 4, 10s);
  double recovery_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_kill).count();
  sampler.stop();
  ka.stop();
  close.stop();

  double ready_share = sampler.samples() ? double(sampler.ready()) / double(sampler.samples()) : 0;
  uint64_t failed = ka.failed() + close.failed();
  MESSAGE("chaos: " << kills << " kills; " << sampler.ready() << "/" << sampler.samples() << " status samples ("
                    << ready_share * 100 << "%) had a ready worker; requests ok " << ka.ok() + close.ok()
                    << ", failed " << failed << ", non-2xx " << ka.non2xx() + close.non2xx()
                    << "; all 4 slots ready " << recovery_s << " s after the last kill; restart_reasons "
                    << rack.app("web")["restart_reasons"].dump() << "; first error: " << ka.first_error() << " | "
                    << close.first_error());
  CHECK(kills >= 35);
  CHECK(sampler.samples() >= 200);
  CHECK(ready_share >= 0.95);
  // A kill fails at most the requests in flight on the killed worker: at
  // most one per client connection. None is answered with an error.
  CHECK(failed <= uint64_t(kills) * (kKeepAlive + kClose));
  // And only a request in flight at a kill fails: each failure's interval,
  // from sending to the error, holds a kill (50 ms either side for the
  // kernel to tear the process down and for the scheduler on a busy host).
  // A request sent after a kill on a connection the dead worker held is
  // retried by the client on a new one, as any HTTP client does.
  constexpr auto kMargin = 50ms;
  std::size_t failures = 0, outside = 0;
  std::string first_outside;
  for (const Load* l : {&ka, &close}) {
    for (const Load::Failure& f : l->failures()) {
      ++failures;
      bool at_a_kill = std::any_of(kill_times.begin(), kill_times.end(), [&](auto k) {
        return k >= f.start - kMargin && k <= f.end + kMargin;
      });
      if (at_a_kill) continue;
      if (++outside == 1) {
        auto origin = kill_times.empty() ? f.start : kill_times.front();
        auto ms = [&](auto t) { return std::chrono::duration_cast<std::chrono::milliseconds>(t - origin).count(); };
        first_outside = "sent at " + std::to_string(ms(f.start)) + " ms, failed at " + std::to_string(ms(f.end)) +
                        " ms after the first kill: " + f.error;
      }
    }
  }
  CHECK(failures == failed);  // every failure was recorded
  CHECK_MESSAGE(outside == 0, outside << " of " << failures << " failed requests had no kill in flight; first: "
                                      << first_outside);
  CHECK(ka.non2xx() + close.non2xx() == 0);
  CHECK(ka.ok() + close.ok() > 1000);
  CHECK(all_ready);
  CHECK(recovery_s < 5);
  CHECK(rack.app("web")["status"] == "online");
  // Nothing of the dead workers stays open in rackd: channels, pipes, fds
  // it kept for connections it had handed over.
  CHECK_MESSAGE(wait_until([&] { return fd_count(rackd) <= fds_before; }, 5s),
                "rackd has " << fd_count(rackd) << " fds, " << fds_before << " before");
}
