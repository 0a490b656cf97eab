// ManagedApp's reloads and graceful replacements: reload() raises the
// desired generation and reconcile() replaces the slots' workers, `parallel`
// at a time (the canary's part is app/app_canary.cc); finish_reload() ends
// it, and a failed one goes back to the config the old workers run.
// recycle() replaces one slot's worker gracefully (max_memory,
// max_requests, protocol errors).
#include <algorithm>

#include <spdlog/spdlog.h>

#include "app/app.h"
#include "app/canary.h"

namespace rack::master {

void ManagedApp::maybe_finish_reload() {
  if (!reload_) return;
  bool all_new = std::all_of(slots_.begin(), slots_.end(), [&](auto& p) {
    return p.second->current && p.second->current->generation() >= generation_ &&
           p.second->current->lifecycle().in_rotation();
  });
  if (all_new) finish_reload(true, "", -1);
}

void ManagedApp::reload(std::optional<config::AppConfig> next, ReloadObserver observer, ReloadOptions options) {
  if (reload_) finish_reload(false, "superseded by a newer reload", -1);
  if (stopped_) {
    if (observer.done) observer.done(false, name() + " is stopped; use start or restart", -1);
    return;
  }
  previous_cfg_ = cfg_;
  if (next) autoscale_keep(*next);
  if (next) {
    cfg_ = std::make_shared<const config::AppConfig>(std::move(*next));
    dispatcher_.set_policy(cfg_->dispatch);
    queue_.configure(cfg_->queue_size, cfg_->queue_timeout);
    log_->set_config(cfg_->logs);
    arm_triggers();
  }
  ++generation_;
  ++counters_.reloads;
  reload_ = Reload{std::move(observer), cfg_->instances, 0, canary_plan(options)};
  spdlog::info("{}: reload to generation {} ({} slots, {} at a time)", name(), generation_, cfg_->instances,
               cfg_->parallel);
  reload_progress();
  reconcile_soon();
}

void ManagedApp::reload_progress() {
  if (!reload_ || !reload_->observer.progress) return;
  reload_->observer.progress("reload " + name() + ": " + std::to_string(reload_->replaced) + "/" +
                             std::to_string(reload_->total) + " replaced");
}

void ManagedApp::finish_reload(bool ok, const std::string& error, int slot) {
  if (!reload_) return;
  auto r = std::move(*reload_);
  reload_.reset();
  if (!ok) {
    ++counters_.reloads_failed;
    // The old workers keep serving: stop asking for the new generation, and
    // go back to the config they run with, so a crash restarts them as
    // they were rather than with the config that failed.
    uint64_t keep = 0;
    for (auto& [i, s] : slots_) {
      if (s->current) keep = std::max(keep, s->current->generation());
      if (s->replacement) {
        Worker* w = s->replacement;
        s->replacement = nullptr;
        w->kill_now(ExitCause::SignalFromRackd);
      }
    }
    if (previous_cfg_ && slot >= 0 && previous_cfg_ != cfg_) {
      cfg_ = previous_cfg_;
      arm_triggers();
    }
    if (keep) generation_ = keep;
    spdlog::error("{}: reload failed: {}", name(), error);
  } else {
    spdlog::info("{}: reload done, generation {}", name(), generation_);
  }
  previous_cfg_.reset();
  if (r.observer.done) r.observer.done(ok, error, slot);
}

void ManagedApp::recycle(Slot slot, const std::string& why, ExitCause cause) {
  auto it = slots_.find(slot.index);
  if (it == slots_.end() || it->second->replacement || stopped_) return;
  spdlog::warn("{} slot {}: replacing worker gracefully: {}", name(), slot.index, why);
  ++counters_.restarts_by_reason[std::string(restart_reason(cause))];
  SlotState& s = *it->second;
  s.replace_for = cause;
  s.replacement = new_worker(slot, s.current ? s.current->generation() : generation_);
  start_process(*s.replacement);
}

}  // namespace rack::master
