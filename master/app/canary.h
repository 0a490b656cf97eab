// The watch of a canary reload: while the first `slots` slots run the new
// generation beside the old one, ask every worker of the app for its
// request metrics once a second, count what each generation served since
// the watch began, and at the end hand the figures to judge_canary()
// (app/canary_verdict.h). ManagedApp::reload starts it; ManagedApp rolls back or goes on.
//
//   CanaryWatch watch(loop, "web", cfg.reload.canary, /*old*/ 1, /*new*/ 2, hooks);
//   watch.start();                 // baseline request to every worker
//   // ManagedApp::on_metrics → watch.on_metrics(w, text)
//   // ManagedApp::reap (a canary process failed) → watch.on_crash(w): verdict now
//   // after `watch`: one last request, answers for up to kFinalWait, hooks.done(verdict)
//
// Why its own requests and not the /metrics collection: that one runs when
// Prometheus scrapes (or every 5 s), too seldom for a watch of a few
// seconds. The answers go on to the metrics aggregator as usual.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/canary_verdict.h"
#include "lifecycle/worker.h"
#include "rack/config.h"

namespace rack::master {

class CanaryWatch {
 public:
  static constexpr std::chrono::milliseconds kSampleEvery{1000};
  static constexpr std::chrono::milliseconds kFinalWait{1000};

  struct Hooks {
    std::function<std::vector<Worker*>()> workers;  // the app's workers now
    std::function<unsigned()> not_ready;            // canary slots without a ready new worker
    std::function<void(const std::string&)> progress;
    std::function<void(CanaryVerdict)> done;        // once; the watch may be destroyed in it
  };

  CanaryWatch(uv_loop_t* loop, std::string app, config::CanaryConfig cfg, uint64_t old_generation,
              uint64_t new_generation, Hooks hooks);
  ~CanaryWatch();
  CanaryWatch(const CanaryWatch&) = delete;
  CanaryWatch& operator=(const CanaryWatch&) = delete;

  void start();
  void on_metrics(Worker& w, std::string_view text);
  // A process of the new generation ended with a failure.
  void on_crash(Worker& w);

 private:
  struct Process {
    uint64_t generation = 0;
    std::optional<RequestStats> first;  // old generation: at the start of the watch
    RequestStats last;
  };
  using Key = std::pair<uint64_t, int64_t>;  // worker record, process start

  void sample();
  void on_timer();
  void finish();
  GenerationFigures figures(bool canary) const;
  std::string summary() const;

  uv_loop_t* loop_;
  std::string app_;
  config::CanaryConfig cfg_;
  uint64_t old_gen_, new_gen_;
  Hooks hooks_;
  uv_timer_t* timer_ = nullptr;
  std::chrono::steady_clock::time_point began_{}, last_progress_{};
  std::map<Key, Process> procs_;
  unsigned crashes_ = 0;
  bool ending_ = false;  // the final request is out
  bool done_ = false;
  uint64_t seq_ = 0;
};

// A canary reload's state, kept by ManagedApp's Reload.
struct CanaryRun {
  enum class Phase {
    Replacing,    // the canary slots get their new workers
    Watching,     // CanaryWatch runs; nothing else is replaced
    RollingBack,  // failed: the canary slots get the old generation again
    Passed,       // the other slots follow, `parallel` at a time
  };
  config::CanaryConfig cfg;
  uint64_t old_generation = 0;
  uint64_t new_generation = 0;
  Phase phase = Phase::Replacing;
  std::unique_ptr<CanaryWatch> watch;
  std::string verdict;  // the judged verdict's text
};

}  // namespace rack::master
