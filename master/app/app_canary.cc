// ManagedApp's side of a canary reload (the watch is app/canary.h, the decision
// app/canary_verdict.h):
//
//   Replacing    reconcile() replaces only slots below cfg.slots
//   Watching     every canary slot runs a ready new worker; CanaryWatch
//                counts what each generation serves for cfg.watch
//   Passed       replace_below lifts: the other slots follow as in any reload
//   RollingBack  the canary slots get workers of the old generation and the
//                old config, beside the canary ones, which drain once those
//                are ready; then the reload ends failed with the verdict.
//
// Old workers outside the canary slots are never touched, so they serve
// throughout whatever the verdict.
#include <spdlog/spdlog.h>

#include "app/app.h"
#include "app/canary.h"
#include "uv_handle.h"

namespace rack::master {

std::unique_ptr<CanaryRun> ManagedApp::canary_plan(const ReloadOptions& options) const {
  if (options.canary == ReloadOptions::Canary::Off) return nullptr;
  std::optional<config::CanaryConfig> cfg = cfg_->reload.canary;
  if (!cfg && options.canary == ReloadOptions::Canary::On) cfg = config::CanaryConfig{};
  if (!cfg) return nullptr;
  if (options.watch) cfg->watch = *options.watch;
  if (cfg->slots >= cfg_->instances) {
    spdlog::warn("{}: no canary: {} canary slot(s) would leave no old worker of {} to compare with; plain reload",
                 name(), cfg->slots, cfg_->instances);
    return nullptr;
  }
  auto run = std::make_unique<CanaryRun>();
  run->cfg = *cfg;
  run->new_generation = generation_;
  run->old_generation = generation_ - 1;
  return run;
}

int ManagedApp::canary_replace_below() const {
  if (!reload_ || !reload_->canary || reload_->canary->phase == CanaryRun::Phase::Passed)
    return std::numeric_limits<int>::max();
  return static_cast<int>(reload_->canary->cfg.slots);
}

bool ManagedApp::canary_rolling_back() const {
  return reload_ && reload_->canary && reload_->canary->phase == CanaryRun::Phase::RollingBack;
}

void ManagedApp::canary_metrics(Worker& w, const std::string& text) {
  if (reload_ && reload_->canary && reload_->canary->watch) reload_->canary->watch->on_metrics(w, text);
}

void ManagedApp::canary_crashed(Worker& w) {
  if (!reload_ || !reload_->canary || reload_->canary->phase != CanaryRun::Phase::Watching) return;
  if (w.generation() >= reload_->canary->new_generation) reload_->canary->watch->on_crash(w);
}

// Canary slots whose current worker is not a ready one of `generation`.
unsigned ManagedApp::canary_missing(unsigned below, uint64_t generation) const {
  unsigned n = 0;
  for (unsigned i = 0; i < below; ++i) {
    auto it = slots_.find(static_cast<int>(i));
    Worker* w = it == slots_.end() ? nullptr : it->second->current;
    if (!w || w->generation() != generation || !w->lifecycle().in_rotation()) ++n;
  }
  return n;
}

bool ManagedApp::canary_on_ready() {
  if (!reload_ || !reload_->canary) return false;
  CanaryRun& c = *reload_->canary;
  switch (c.phase) {
    case CanaryRun::Phase::Replacing:
      if (canary_missing(c.cfg.slots, c.new_generation) == 0) canary_watch();
      return true;
    case CanaryRun::Phase::Watching:
      return true;
    case CanaryRun::Phase::RollingBack:
      if (canary_missing(c.cfg.slots, c.old_generation) == 0)
        finish_reload(false, "canary " + c.verdict + "; rolled back to generation " + std::to_string(c.old_generation),
                      -1);
      return true;
    case CanaryRun::Phase::Passed:
      return false;
  }
  return false;
}

void ManagedApp::canary_watch() {
  CanaryRun& c = *reload_->canary;
  c.phase = CanaryRun::Phase::Watching;
  CanaryWatch::Hooks hooks;
  hooks.workers = [this] { return workers(); };
  hooks.not_ready = [this] { return canary_missing(reload_->canary->cfg.slots, reload_->canary->new_generation); };
  hooks.progress = [this](const std::string& line) {
    if (reload_ && reload_->observer.progress) reload_->observer.progress(line);
  };
  hooks.done = [this](CanaryVerdict v) { canary_judged(std::move(v)); };
  c.watch = std::make_unique<CanaryWatch>(ctx_.loop, name(), c.cfg, c.old_generation, c.new_generation,
                                          std::move(hooks));
  if (reload_->observer.progress)
    reload_->observer.progress("reload " + name() + ": canary: " + std::to_string(c.cfg.slots) + " of " +
                               std::to_string(cfg_->instances) + " slots run generation " +
                               std::to_string(c.new_generation) + "; watching for " +
                               fmt::format("{:g}s", c.cfg.watch.count() / 1000.0));
  c.watch->start();
}

void ManagedApp::canary_judged(CanaryVerdict v) {
  CanaryRun& c = *reload_->canary;
  c.verdict = v.text();
  if (v.outcome == CanaryOutcome::Pass) {
    if (reload_->observer.progress) reload_->observer.progress("reload " + name() + ": canary " + c.verdict);
    ++counters_.canary_passed;
    c.phase = CanaryRun::Phase::Passed;
    reconcile_soon();
    // With every slot a canary already (nothing left to replace), the
    // reload is done now.
    maybe_finish_reload();
    return;
  }
  ++counters_.canary_failed;
  c.phase = CanaryRun::Phase::RollingBack;
  if (previous_cfg_) cfg_ = previous_cfg_;
  generation_ = c.old_generation;
  std::string back = "canary failed: rolling slot" + std::string(c.cfg.slots > 1 ? "s 0-" : " ") +
                     std::to_string(c.cfg.slots - 1) + " back to generation " + std::to_string(c.old_generation);
  spdlog::warn("{}: {}", name(), back);
  if (reload_->observer.progress) reload_->observer.progress("reload " + name() + ": " + back);
  for (unsigned i = 0; i < c.cfg.slots; ++i) {
    auto it = slots_.find(static_cast<int>(i));
    if (it != slots_.end()) canary_roll_back(*it->second, c.old_generation);
  }
  canary_on_ready();  // nothing to roll back: ends now
}

// The slot gets a worker of `generation` with the (restored) config. A
// ready canary worker keeps serving until its replacement is ready (as in
// any reload); one that is not ready (crashed, restarting) goes at once.
void ManagedApp::canary_roll_back(SlotState& s, uint64_t generation) {
  Worker* cur = s.current;
  if (!cur || cur->generation() == generation) return;
  if (s.replacement) {
    s.replacement->kill_now(ExitCause::SignalFromRackd);
    s.replacement = nullptr;
  }
  Slot slot{s.index};
  if (cur->lifecycle().in_rotation()) {
    s.replacement = new_worker(slot, generation);
    start_process(*s.replacement);
    return;
  }
  close_handle(s.restart_timer);
  if (cur->lifecycle().has_process()) cur->kill_now(ExitCause::SignalFromRackd);
  else forget(*cur);
  s.current = new_worker(slot, generation);
  start_process(*s.current);
}

}  // namespace rack::master
