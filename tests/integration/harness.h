// Integration test harness: the real rackd and rackctl, a temp RACK_HOME,
// ports chosen by the kernel (listen: 127.0.0.1:0, read back from status),
// and real signals. Everything a test starts is stopped by its Rack's
// destructor, including on assertion failure.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "rack/http_client.h"

namespace rack::test {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string bin(const std::string& name);  // build/bin/<name>

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a program to completion with a deadline, capturing output.
RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
              std::chrono::milliseconds timeout = 60s);

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = 20ms);

bool pid_alive(pid_t pid);

// What rackd's RSS may reach beyond a normal build's under ASan: shadow
// memory, redzones and the quarantine of freed blocks (which run() caps at
// 16 MB). 0 in a normal build.
std::size_t sanitizer_rss_allowance();

// A temp RACK_HOME with its own rackd.
class Rack {
 public:
  Rack();
  ~Rack();
  Rack(const Rack&) = delete;

  const std::string& home() const { return home_; }
  // Writes `yaml` to <home>/<name> and returns its path.
  std::string write_file(const std::string& name, const std::string& content);
  RunResult ctl(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 60s);
  json status();                 // rackctl status --json (or {} if unreachable)
  json app(const std::string& name);
  std::vector<pid_t> pids(const std::string& app, const char* state = "ready");
  // "127.0.0.1:<port>" of an app, read from status.
  std::pair<std::string, int> address(const std::string& app);
  // rackd's admin listener (rack.admin), read from status.
  std::pair<std::string, int> admin();
  bool wait_ready(const std::string& app, size_t n, std::chrono::milliseconds timeout = 15s);
  pid_t rackd_pid();

 private:
  std::string home_;
};

// GET with Connection: close on a fresh connection.
rack::http::Client::Result http_get(const std::pair<std::string, int>& at, const std::string& path,
                                    std::chrono::milliseconds timeout = 5s);
// The value of one exact sample line (`name{labels}`) of a Prometheus
// exposition, if present.
std::optional<double> metric_sample(const std::string& text, const std::string& series);

// A minimal ecosystem of rack-hello workers.
std::string hello_app(const std::string& name, int instances, const std::string& extra = "");

// Constant load from a few client threads, counting every failure.
class Load {
 public:
  enum class Mode { KeepAlive, Close };
  // A failed request: when it was sent and when it failed, for checks that
  // a failure overlapped some event (a kill).
  struct Failure {
    std::chrono::steady_clock::time_point start, end;
    std::string error;
  };
  static constexpr std::size_t kMaxFailures = 100000;  // kept; failed() counts on
  Load(std::string host, int port, Mode mode, int connections, std::string path = "/");
  ~Load();
  void stop();
  uint64_t ok() const { return ok_; }
  uint64_t failed() const { return failed_; }
  uint64_t non2xx() const { return non2xx_; }
  // Keep-alive mode: connections the server closed without saying
  // "Connection: close" first (the client had to reconnect silently).
  uint64_t silent_closes() const { return silent_closes_; }
  std::string first_error() const;
  // The failed requests (the first kMaxFailures), in the order they ended.
  std::vector<Failure> failures() const;

 private:
  void loop(int id);
  std::string host_;
  int port_;
  Mode mode_;
  std::string path_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ok_{0}, failed_{0}, non2xx_{0}, silent_closes_{0};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::string first_error_;
  std::vector<Failure> failures_;
};

// Keep-alive and Connection: close load at once, for "nothing fails while
// ..." checks. finish() lets the load run 300 ms more, stops it, and checks
// that no request failed and both kinds were answered: with a 2xx, or with
// any status when `any_status` (a path the app answers 404).
struct BothLoads {
  BothLoads(const std::string& host, int port, int connections = 4, const std::string& path = "/");
  void finish(bool any_status = false);
  Load ka, close;
};

}  // namespace rack::test
