#include "start_wait.h"

#include <iostream>
#include <thread>

#include "client.h"

namespace rack::cli {

using json = nlohmann::json;

std::optional<StartFailure> start_verdict(const json& app) {
  std::string name = app.value("name", "?");
  if (app.value("status", "") == "stopped") return StartFailure{name, -1, "stopped before it was ready"};
  unsigned want = app.value("instances", 0u);
  unsigned ready = 0;
  for (const auto& w : app.value("workers", json::array())) {
    std::string state = w.value("state", "");
    int slot = w.value("slot", -1);
    // A slot that restarted once failed its first start: that is the
    // answer, even if a later attempt may succeed.
    if (state == "backoff" || state == "errored" || w.value("restarts", 0) > 0) {
      std::string reason = w.contains("last_exit") && w["last_exit"].is_string() ? w["last_exit"].get<std::string>()
                                                                                 : "it ended before it was ready";
      return StartFailure{name, slot, reason};
    }
    if (state == "ready" && slot >= 0 && static_cast<unsigned>(slot) < want) ++ready;
  }
  if (ready >= want) return StartFailure{name, -1, ""};
  return std::nullopt;
}

namespace {

// The slot's last lines on stderr, from rackd's log files.
std::vector<std::string> stderr_tail(const std::string& app, int slot, size_t n) {
  std::vector<std::string> lines;
  call_stream("GET", "/v1/logs?app=" + app + "&stream=err&n=200", nullptr, [&](const json& j) {
    if (j.value("slot", -2) == slot && j.contains("line")) lines.push_back(j["line"].get<std::string>());
  });
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<long>(n));
  return lines;
}

}  // namespace

int wait_for_start(const std::vector<std::string>& apps, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  std::vector<std::string> pending = apps;
  std::vector<StartFailure> failed;
  while (!pending.empty()) {
    Answer s = call("GET", "/v1/status");
    if (s.exit != kOk) return s.exit;
    std::vector<std::string> still;
    for (const auto& name : pending) {
      std::optional<StartFailure> v;
      for (const auto& app : s.body.value("apps", json::array()))
        if (app.value("name", "") == name) v = start_verdict(app);
      if (!v) still.push_back(name);
      else if (!v->reason.empty()) failed.push_back(*v);
    }
    pending = std::move(still);
    if (pending.empty()) break;
    if (std::chrono::steady_clock::now() > until) {
      for (auto& n : pending) failed.push_back({n, -1, "not every slot ready within " +
                                                          std::to_string(deadline.count() / 1000) + " s"});
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const auto& f : failed) {
    std::cerr << "rackctl: " << f.app;
    if (f.slot >= 0) std::cerr << " slot " << f.slot;
    std::cerr << " failed to start: " << f.reason << "\n";
    if (f.slot >= 0) {
      auto tail = stderr_tail(f.app, f.slot, 5);
      if (!tail.empty()) std::cerr << "  last lines on stderr:\n";
      for (auto& l : tail) std::cerr << "    " << l << "\n";
    }
  }
  if (!failed.empty()) std::cerr << "rackctl: rackd keeps restarting failed slots per their restart policy; see rackctl describe\n";
  return failed.empty() ? kOk : kFailed;
}

}  // namespace rack::cli
