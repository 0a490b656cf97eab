// `rackctl start` waits until every slot of each app it started has a
// ready worker, or one of them failed to start (exited, or missed its
// ready_timeout: rackd then restarts it per the restart policy). On failure
// it names the app, the slot, the reason and the worker's last stderr
// lines, and start exits 1. `--no-wait` skips this.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rack::cli {

struct StartFailure {
  std::string app;
  int slot = -1;
  std::string reason;
};

// The verdict on one app's status object (GET /v1/status apps[]):
// nullopt while it is still coming up, a failure, or {app, -1, ""} when
// every slot is ready. Pure, for the unit test.
std::optional<StartFailure> start_verdict(const nlohmann::json& app);

// Polls until each of `apps` is ready or failed, or `deadline` passes.
// Prints each failure with its stderr tail. Returns kOk or kFailed.
int wait_for_start(const std::vector<std::string>& apps, std::chrono::milliseconds deadline);

}  // namespace rack::cli
