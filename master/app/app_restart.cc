// ManagedApp's exits: reap() turns a worker's end into what follows for its
// slot. A failure of the slot's worker goes to crashed(): not restarted
// (autorestart, stop_exit_codes), errored (RestartBackoff gives up), or a
// restart now or after the backoff's delay on the slot's restart timer. A
// replacement that ends fails the reload; any other exit frees the slot.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "app/app.h"
#include "uv_handle.h"

namespace rack::master {

bool ManagedApp::reap(pid_t pid, int st) {
  Worker* w = nullptr;
  for (auto& [id, p] : workers_) {
    if (p->pid() == pid) {
      w = p.get();
      break;
    }
  }
  if (!w) return false;
  WorkerState was = w->state();
  w->process_exited(st);
  const ExitInfo& exit = w->exit_info();
  ++counters_.exits_by_cause[exit.cause];
  // Connections it never took go to someone else, ahead of new ones.
  auto unacked = w->take_unacked();
  for (auto it = unacked.rbegin(); it != unacked.rend(); ++it) enqueue(*it, true);
  counters_.connections_requeued += unacked.size();

  if (!w->fail_reason.empty()) w->last_exit += " (" + w->fail_reason + ")";
  auto sit = slots_.find(w->slot().index);
  SlotState* s = sit == slots_.end() ? nullptr : sit->second.get();
  if (s) s->last_exit = SlotExit{pid, w->last_exit, exit.cause, std::chrono::system_clock::now(), exit.uptime};
  bool current = s && s->current == w;
  bool replacement = s && s->replacement == w;
  auto level = !is_failure(exit.cause) && exit.code == 0 ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(level, "{} slot {}: pid {} ended with {} after {:.1f}s (was {}, {})", name(), w->slot().index, pid,
              w->last_exit, exit.uptime.count() / 1000.0, to_string(was), to_string(exit.cause));

  if (replacement) {
    s->replacement = nullptr;
    std::string why = w->fail_reason.empty() ? "exited with " + w->last_exit + " before it was ready" : w->fail_reason;
    int slot = w->slot().index;
    retire(*w);
    finish_reload(false, "slot " + std::to_string(slot) + ": replacement " + why, slot);
  } else if (current && is_failure(exit.cause)) {
    crashed(*s, *w, was == WorkerState::Ready ? WasServing::Yes : WasServing::No);
    canary_crashed(*w);
  } else {
    // Replaced, stopped or scaled down, or ended on purpose while still
    // the slot's current worker: the slot starts afresh.
    if (current) s->current = nullptr;
    retire(*w);
  }
  drain_queue();
  reconcile_soon();
  maybe_finish_stop();
  return true;
}

void ManagedApp::retire(Worker& w) {
  w.enter(WorkerState::Exited);
  workers_.erase(w.id());
}

void ManagedApp::crashed(SlotState& s, Worker& w, WasServing serving) {
  if (stopped_) {
    ++counters_.restarts_by_reason[std::string(restart_reason(w.exit_info().cause))];
    s.current = nullptr;
    retire(w);
    return;
  }
  if (std::string why = not_restarted_because(*cfg_, w.exit_info()); !why.empty()) {
    // Stays the slot's current record, with no process: reconcile leaves
    // it alone until a restart or reload, and the slot counts as done.
    w.enter(WorkerState::Errored);
    w.last_exit += "; not restarted (" + why + ")";
    w.not_restarted = true;
    spdlog::info("{} slot {}: {}", name(), w.slot().index, w.last_exit);
    return;
  }
  ++counters_.restarts_by_reason[std::string(restart_reason(w.exit_info().cause))];
  ExitCause cause = w.exit_info().cause;
  bool failed_start = cause == ExitCause::NeverReady || cause == ExitCause::FailedExec;
  auto decision = s.backoff.on_exit(w.exit_info().uptime, failed_start ? FailedStart::Yes : FailedStart::No);
  if (auto* give_up = std::get_if<GiveUp>(&decision)) {
    w.enter(WorkerState::Errored);
    w.last_exit = "errored after " + std::to_string(give_up->quick_exits) +
                  " quick exits or failed starts; last: " + w.last_exit;
    spdlog::error("{} slot {}: {}", name(), w.slot().index, w.last_exit);
    return;
  }
  CrashFacts facts{std::get<RestartAfter>(decision).delay, serving == WasServing::Yes, cause, start_failing_,
                   cfg_->restart.delay.has_value(), attempt_in_flight(&s)};
  CrashRestart plan = restart_after_crash(facts);
  start_failing_ = plan.start_failing;
  if (plan.hurried)
    spdlog::info("{} slot {}: no worker ready or starting: restarting now, not in {} ms", name(), w.slot().index,
                 facts.backoff_delay.count());
  schedule_restart(s, w, plan.delay);
}

bool ManagedApp::attempt_in_flight(const SlotState* except) const {
  return std::any_of(slots_.begin(), slots_.end(), [&](auto& p) {
    const SlotState& o = *p.second;
    if (&o == except) return false;
    for (Worker* w : {o.current, o.replacement}) {
      if (w && (w->state() == WorkerState::Ready || w->state() == WorkerState::Starting)) return true;
    }
    return false;
  });
}

void ManagedApp::schedule_restart(SlotState& s, Worker& w, Millis delay) {
  // A restart that could not spawn is in Backoff already.
  if (w.state() != WorkerState::Backoff) w.enter(WorkerState::Backoff);
  ++s.restarts;
  w.restarts = s.restarts;
  if (delay == Millis(0)) {
    // In this loop turn: not a turn later, behind whatever else is queued.
    if (s.restart_timer) uv_timer_stop(s.restart_timer);
    spdlog::info("{} slot {}: restarting now (restart #{})", name(), w.slot().index, s.restarts);
    start_process(w);
    return;
  }
  if (!s.restart_timer) {
    s.restart_timer = new_handle<uv_timer_t>(&s);
    uv_timer_init(ctx_.loop, s.restart_timer);
  }
  uv_timer_start(s.restart_timer, [](uv_timer_t* t) {
    auto* slot = static_cast<SlotState*>(t->data);
    if (!slot || slot->app->stopped_) return;
    Worker* w = slot->current;
    if (!w || w->state() != WorkerState::Backoff) return;
    slot->app->start_process(*w);
  }, static_cast<uint64_t>(delay.count()), 0);
  spdlog::info("{} slot {}: restarting in {} ms (restart #{})", name(), w.slot().index, delay.count(), s.restarts);
}

}  // namespace rack::master
