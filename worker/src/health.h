// The app's own health checks (App::health_check), run in rounds: every
// check is started, each answers through its callback (at once, or later on
// the loop), and when all have answered — or kTimeoutMs has passed — the
// round's results go to the caller. A check that throws, or answers after
// its round ended, cannot disturb a round. Internal to rack_worker.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rack/channel.h"

namespace rack::worker {

class HealthChecks {
 public:
  using Done = std::function<void(std::string error)>;
  using Check = std::function<void(Done done)>;
  using Report = std::function<void(std::vector<channel::CheckResult>)>;
  static constexpr uint64_t kTimeoutMs = 5000;

  explicit HealthChecks(uv_loop_t* loop, uint64_t timeout_ms = kTimeoutMs) : loop_(loop), timeout_ms_(timeout_ms) {}

  // Throws std::invalid_argument on a bad or repeated name.
  void add(std::string name, Check check);
  bool empty() const { return checks_.empty(); }
  bool running() const { return static_cast<bool>(round_); }

  // Starts a round unless one is running. `report` runs once, on the loop.
  void run(Report report);

 private:
  struct Round;
  void finish(const std::shared_ptr<Round>& round);

  uv_loop_t* loop_;
  uint64_t timeout_ms_;
  std::vector<std::pair<std::string, Check>> checks_;
  std::shared_ptr<Round> round_;
};

}  // namespace rack::worker
