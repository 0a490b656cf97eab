#include "app/app.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "app/canary.h"
#include "rack/timer.h"
#include "uv_handle.h"

namespace rack::master {

using json = nlohmann::json;


ManagedApp::ManagedApp(AppContext ctx, config::AppConfig cfg)
    : ctx_(ctx),
      cfg_(std::make_shared<const config::AppConfig>(std::move(cfg))),
      listener_(ctx.loop, [this](int fd) { on_accept(fd); }),
      dispatcher_(cfg_->dispatch),
      queue_(cfg_->queue_size, cfg_->queue_timeout) {
  std::string dir = cfg_->logs.dir.empty() ? ctx_.logs_dir : cfg_->logs.dir;
  if (ctx_.log && (log_ = ctx_.log->lock())) {
    log_->set_config(cfg_->logs, dir);
  } else {
    log_ = std::make_shared<AppLog>(ctx_.loop, cfg_->name, cfg_->logs, dir, *ctx_.log_stats);
    if (ctx_.log) *ctx_.log = log_;
  }
  create_shared_segment();
  open_reconcile_handles();
}

// One zeroed shared-memory file per app, for state every worker of the app
// shares (the registry's rate limit, for one). It outlives reloads, because
// the ManagedApp does; workers find it through RACK_SHM.
void ManagedApp::create_shared_segment() {
  shm_path_ = "/dev/shm/rack-" + std::to_string(::getuid()) + "-" + std::to_string(::getpid()) + "-" + cfg_->name;
  int fd = ::open(shm_path_.c_str(), O_RDWR | O_CREAT | (keep_segments_ ? 0 : O_TRUNC) | O_CLOEXEC, 0600);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(kSharedSegmentBytes)) != 0) {
    spdlog::warn("{}: cannot create {}: {}; workers get no shared segment", cfg_->name, shm_path_,
                 std::strerror(errno));
    if (fd >= 0) ::close(fd);
    ::unlink(shm_path_.c_str());
    shm_path_.clear();
    return;
  }
  ::close(fd);
}

ManagedApp::SlotState::~SlotState() { close_handle(restart_timer); }

ManagedApp::~ManagedApp() {
  close_handle(reconcile_check_);
  close_handle(reconcile_idle_);
  if (!shm_path_.empty()) ::unlink(shm_path_.c_str());
  for (int fd : queue_.take_all()) ::close(fd);
  for (auto& [id, w] : workers_) {
    if (w->pid() > 0) ::kill(-w->pid(), SIGKILL);  // its whole process group
  }
}

int ManagedApp::bind(std::string& error) {
  if (!cfg_->listen || cfg_->protocol == config::Protocol::None) return 0;
  if (listener_.fd() >= 0) return 0;
  int rc = listener_.bind(*cfg_->listen, error);
  // inherit: the workers accept on the socket themselves; rackd only keeps
  // it open (so reloads never close it) and must not accept from it.
  if (rc == 0 && !dispatches()) listener_.pause();
  return rc;
}

void ManagedApp::start() {
  stopped_ = false;
  arm_triggers();
  reconcile_soon();
}

// cron_restart and watch reload the app gracefully; never over a reload
// already running (an operator's, or the previous trigger's).
void ManagedApp::arm_triggers() {
  triggers_.reset();
  if (stopped_ || (cfg_->cron_restart.empty() && !cfg_->watch)) return;
  std::string logs = cfg_->logs.dir.empty() ? ctx_.logs_dir : cfg_->logs.dir;
  triggers_ = std::make_unique<AppTriggers>(ctx_.loop, *cfg_, logs, [this](const std::string& why) {
    if (reload_ || stopped_) {
      spdlog::info("{}: {}: no reload, {}", name(), why, stopped_ ? "the app is stopped" : "a reload is running");
      return;
    }
    reload(std::nullopt, ReloadObserver{});
  });
}

bool ManagedApp::has_processes() const {
  return std::any_of(workers_.begin(), workers_.end(), [](auto& p) { return p.second->lifecycle().has_process(); });
}

std::size_t ManagedApp::ready_workers() const {
  return std::count_if(workers_.begin(), workers_.end(), [](auto& p) { return p.second->lifecycle().in_rotation(); });
}

AppStatus ManagedApp::app_status() const {
  std::vector<WorkerState> slots;
  slots.reserve(cfg_->instances);
  unsigned done = 0;
  for (unsigned i = 0; i < cfg_->instances; ++i) {
    auto it = slots_.find(static_cast<int>(i));
    Worker* w = it == slots_.end() ? nullptr : it->second->current;
    slots.push_back(w ? w->state() : WorkerState::Starting);
    done += w && w->not_restarted;
  }
  // Every worker ended and was meant to stay down (autorestart: false).
  if (done > 0 && done == cfg_->instances) return AppStatus::Stopped;
  return master::app_status(stopped_ ? Stopped::Yes : Stopped::No, slots);
}

const std::vector<Worker*> ManagedApp::workers() const {
  std::vector<Worker*> out;
  for (auto& [id, w] : workers_) out.push_back(w.get());
  return out;
}

// ---- the reconciliation loop ------------------------------------------------

// Every change of the desired state (start, crash, reload, scale, a worker
// ready or gone) marks the app dirty; the check handle runs manage() once at
// the end of that loop turn, however many changes the turn made. The idle
// handle, while dirty, keeps the loop from blocking in poll in case the mark
// came after this turn's check callbacks had run.
void ManagedApp::open_reconcile_handles() {
  reconcile_check_ = new_handle<uv_check_t>(this);
  uv_check_init(ctx_.loop, reconcile_check_);
  uv_check_start(reconcile_check_, [](uv_check_t* h) {
    if (auto* app = static_cast<ManagedApp*>(h->data); app && app->dirty_) app->manage();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(reconcile_check_));
  reconcile_idle_ = new_handle<uv_idle_t>(this);
  uv_idle_init(ctx_.loop, reconcile_idle_);
}

void ManagedApp::reconcile_soon() {
  if (dirty_) return;
  dirty_ = true;
  if (reconcile_idle_) uv_idle_start(reconcile_idle_, [](uv_idle_t*) {});
}

void ManagedApp::manage() {
  dirty_ = false;
  if (reconcile_idle_) uv_idle_stop(reconcile_idle_);
  std::vector<SlotView> views;
  views.reserve(slots_.size());
  for (auto& [i, s] : slots_) {
    Worker* c = s->current;
    views.push_back({i, c != nullptr, c ? c->generation() : 0, c && c->lifecycle().has_process(), s->replacement != nullptr});
  }
  Desired want{stopped_, cfg_->instances, cfg_->parallel, generation_, reload_.has_value(), canary_replace_below()};
  for (const Action& a : reconcile(want, views)) apply(a);
}

// An action decided at the start of the pass may be moot by the time it is
// applied: a start that failed at once can end the reload (finish_reload).
void ManagedApp::apply(const Action& a) {
  Slot slot{a.slot};
  if (a.action == SlotAction::Retire) return retire_slot(a.slot);
  auto& sp = slots_[a.slot];
  if (!sp) sp = std::make_unique<SlotState>(this, a.slot, cfg_->restart);
  SlotState& s = *sp;
  switch (a.action) {
    case SlotAction::Spawn:
      if (s.current) return;
      s.current = new_worker(slot, generation_);
      start_process(*s.current);
      return;
    case SlotAction::ReplaceInPlace:
      if (!reload_ || !s.current || s.current->lifecycle().has_process()) return;
      close_handle(s.restart_timer);
      forget(*s.current);
      s.current = new_worker(slot, generation_);
      start_process(*s.current);
      return;
    case SlotAction::SpawnReplacement:
      if (!reload_ || s.replacement) return;
      s.replacement = new_worker(slot, generation_);
      start_process(*s.replacement);
      return;
    case SlotAction::Retire:
      return;
  }
}

// Scale down: the slot's workers drain, and the slot goes.
void ManagedApp::retire_slot(int index) {
  auto it = slots_.find(index);
  if (it == slots_.end()) return;
  SlotState& s = *it->second;
  for (Worker* w : {s.current, s.replacement}) {
    if (!w) continue;
    if (w->lifecycle().has_process()) w->drain(ExitCause::Stop);
    else forget(*w);
  }
  close_handle(s.restart_timer);
  slots_.erase(it);
}

Worker* ManagedApp::new_worker(Slot slot, uint64_t generation) {
  WorkerId id{next_worker_id_++};
  auto w = std::make_unique<Worker>(ctx_.loop, *this, id, slot, generation, cfg_);
  Worker* raw = w.get();
  workers_.emplace(id, std::move(w));
  raw->restarts = slots_[slot.index]->restarts;
  raw->shm_path = shm_path_;
  return raw;
}

// A worker with no process leaves the table.
void ManagedApp::forget(Worker& w) {
  w.enter(WorkerState::Exited);
  workers_.erase(w.id());
}

bool ManagedApp::start_process(Worker& w) {
  std::string error;
  if (w.start(listener_.fd(), log_, error) == 0) {
    if (!log_level_.empty()) w.set_log_level(log_level_);
    return true;
  }
  spdlog::error("{} slot {}: cannot start worker: {}", name(), w.slot().index, error);
  w.last_exit = error;
  w.fail_reason = error;
  w.record_failed_start();
  start_failed(w);
  return false;
}

// Like an exit at once: a replacement ends the reload, a slot's worker
// takes the crash path (backoff or errored).
void ManagedApp::start_failed(Worker& w) {
  auto sit = slots_.find(w.slot().index);
  if (sit == slots_.end()) return;
  SlotState& s = *sit->second;
  s.last_exit = SlotExit{0, w.last_exit, ExitCause::FailedExec, std::chrono::system_clock::now(), Millis(0)};
  if (s.replacement == &w) {
    s.replacement = nullptr;
    std::string err = "slot " + std::to_string(w.slot().index) + ": " + w.fail_reason;
    int slot = w.slot().index;
    forget(w);
    finish_reload(false, err, slot);
    return;
  }
  if (s.current == &w) crashed(s, w);
}

// ---- worker events ----------------------------------------------------------

void ManagedApp::on_ready(Worker& w) {
  start_failing_ = false;
  auto sit = slots_.find(w.slot().index);
  if (sit != slots_.end() && sit->second->replacement == &w) {
    SlotState& s = *sit->second;
    Worker* old = s.current;
    s.current = &w;
    s.replacement = nullptr;
    // The new worker is in rotation before the old one leaves it, so there
    // is never a moment with fewer ready workers than before.
    ExitCause why = s.replace_for.value_or(ExitCause::Reload);
    s.replace_for.reset();
    if (old) {
      if (old->lifecycle().has_process()) {
        old->drain(why);
      } else {
        old->enter(WorkerState::Exited);
        workers_.erase(old->id());
      }
    }
    if (reload_ && !canary_rolling_back()) {
      ++reload_->replaced;
      reload_progress();
    }
  }
  drain_queue();
  reconcile_soon();
  if (reload_ && canary_on_ready()) return;
  maybe_finish_reload();
}

void ManagedApp::maybe_finish_reload() {
  if (!reload_) return;
  bool all_new = std::all_of(slots_.begin(), slots_.end(), [&](auto& p) {
    return p.second->current && p.second->current->generation() >= generation_ &&
           p.second->current->lifecycle().in_rotation();
  });
  if (all_new) finish_reload(true, "", -1);
}

void ManagedApp::on_ready_timeout(Worker& w) {
  w.fail_reason = "no ready signal within " + std::to_string(cfg_->ready_timeout.count()) + " ms";
  spdlog::warn("{} slot {}: pid {} failed to start: {}", name(), w.slot().index, w.pid(), w.fail_reason);
  w.kill_now(ExitCause::NeverReady);  // the exit goes through reap() → crash or reload failure
}

void ManagedApp::on_conn_returned(Worker& w, int fd) {
  ++counters_.connections_requeued;
  enqueue(fd, true);
  drain_queue();
}

void ManagedApp::on_capacity(Worker&) {
  // Without this, connections queued while every worker was full would
  // wait for an unrelated event (a worker starting or ending) or expire,
  // and every new one would queue behind them.
  if (!queue_.empty()) drain_queue();
}

void ManagedApp::on_recycle(Worker& w) {
  auto it = slots_.find(w.slot().index);
  if (it == slots_.end() || it->second->current != &w) return;
  recycle(w.slot(), "max_requests reached", ExitCause::MaxRequests);
}

// A worker that keeps sending what rackd refuses is buggy or hostile: it
// is replaced the graceful way, once (the replacement starts clean).
void ManagedApp::on_protocol_error(Worker& w) {
  ++counters_.protocol_errors;
  auto it = slots_.find(w.slot().index);
  if (w.protocol_errors() != Worker::kMaxProtocolErrors || it == slots_.end() || it->second->current != &w) return;
  recycle(w.slot(), std::to_string(Worker::kMaxProtocolErrors) + " bad channel messages", ExitCause::ProtocolError);
}

void ManagedApp::on_metrics(Worker& w, std::string text, std::string error, bool final) {
  if (error.empty()) {
    canary_metrics(w, text);
    autoscale_metrics(w, text);
  }
  if (on_worker_metrics) on_worker_metrics(w, std::move(text), std::move(error), final);
}

void ManagedApp::on_merged_metrics_request(Worker& w, uint64_t seq) {
  if (on_worker_merged_metrics_request) on_worker_merged_metrics_request(w, seq);
  else w.send_merged_metrics(seq, "");
}

// ---- exits ------------------------------------------------------------------

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
  Millis delay = std::get<RestartAfter>(decision).delay;
  // A worker that failed before it was ready, by its own doing (an exit,
  // a fault, no ready signal, an OOM kill), says the app cannot start now:
  // backoff applies until some worker is ready again. One killed from
  // outside while it started says nothing about the app.
  if (serving == WasServing::No && cause != ExitCause::OutsideSignal) start_failing_ = true;
  // Never every slot of a healthy app in backoff at once: when a worker
  // dies and no other worker is ready or starting, it restarts now, if it
  // was serving or the app's starts do not fail by themselves. Its quick
  // exit still counts, so a worker that dies soon after every start still
  // ends errored; a crash loop at start keeps its backoff.
  if (delay > Millis(0) && (serving == WasServing::Yes || !start_failing_) && !cfg_->restart.delay &&
      !attempt_in_flight(&s)) {
    spdlog::info("{} slot {}: no worker ready or starting: restarting now, not in {} ms", name(), w.slot().index,
                 delay.count());
    delay = Millis(0);
  }
  schedule_restart(s, w, delay);
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

// ---- user operations --------------------------------------------------------

void ManagedApp::stop(std::function<void()> done) {
  if (done) stop_waiters_.push_back(std::move(done));
  stopped_ = true;
  triggers_.reset();
  finish_reload(false, "the app was stopped", -1);
  listener_.close();
  for (int fd : queue_.take_all()) ::close(fd);
  for (auto& [i, s] : slots_) {
    close_handle(s->restart_timer);
    s->current = s->replacement = nullptr;
  }
  slots_.clear();
  std::vector<WorkerId> gone;
  for (auto& [id, w] : workers_) {
    if (w->lifecycle().has_process()) w->drain(ExitCause::Stop);
    else gone.push_back(id);
  }
  for (auto id : gone) {
    workers_[id]->enter(WorkerState::Exited);
    workers_.erase(id);
  }
  maybe_finish_stop();
}

void ManagedApp::maybe_finish_stop() {
  if (!stopped_ || has_processes() || stop_waiters_.empty()) return;
  auto waiters = std::move(stop_waiters_);
  stop_waiters_.clear();
  for (auto& f : waiters) f();
}

void ManagedApp::restart() {
  finish_reload(false, "superseded by restart", -1);
  ++generation_;
  for (auto& [i, s] : slots_) {
    close_handle(s->restart_timer);
    s->backoff.reset();
    s->restarts = 0;
    for (Worker* w : {s->current, s->replacement}) {
      if (!w) continue;
      if (w->lifecycle().has_process()) {
        w->terminate(ExitCause::SignalFromRackd);
      } else {
        w->enter(WorkerState::Exited);
        workers_.erase(w->id());
      }
    }
    s->current = s->replacement = nullptr;
  }
  if (stopped_) {
    std::string err;
    if (bind(err) != 0) {
      spdlog::error("{}: {}", name(), err);
      return;
    }
    stopped_ = false;
    arm_triggers();
  }
  reconcile_soon();
}

void ManagedApp::reset_restarts() {
  for (auto& [i, s] : slots_) {
    s->restarts = 0;
    s->backoff.reset();
    for (Worker* w : {s->current, s->replacement})
      if (w) w->restarts = 0;
  }
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

void ManagedApp::scale(unsigned instances, ScaleBy by) {
  if (by == ScaleBy::User && cfg_->autoscale) {
    autoscale_override_ = true;
    spdlog::info("{}: manual scale: autoscaling stops until `rackctl scale {} auto`", name(), name());
  }
  auto next = std::make_shared<config::AppConfig>(*cfg_);
  next->instances = instances;
  cfg_ = next;
  spdlog::info("{}: scale to {} instances", name(), instances);
  reconcile_soon();
}

void ManagedApp::set_log_level(const std::string& level) {
  log_level_ = level;
  for (auto& [id, w] : workers_) w->set_log_level(level);
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

// ---- periodic checks --------------------------------------------------------

void ManagedApp::tick(Clock::time_point now, bool sample_proc) {
  for (int fd : queue_.expire(now)) {
    ++counters_.connections_expired;
    ::close(fd);
  }
  // A worker says when it has room again (on_capacity); this catches a
  // refusal no event follows (the kernel's limit on descriptors in flight),
  // and resumes the listener once expiry made room.
  drain_queue();
  if (sample_proc) {
    for (auto& [id, w] : workers_) w->sample_proc(now);
  }
  check_heartbeats(now);
  if (sample_proc && cfg_->max_memory) {
    for (auto& [i, s] : slots_) {
      Worker* w = s->current;
      if (w && w->lifecycle().in_rotation() && !s->replacement && w->proc() && w->proc()->rss_bytes > *cfg_->max_memory)
        recycle(w->slot(), "rss " + std::to_string(w->proc()->rss_bytes) + " bytes over max_memory", ExitCause::MaxMemory);
    }
  }
  autoscale_tick(now, sample_proc);
}

// A worker in rotation that has not answered a ping for heartbeat_timeout
// has a stuck event loop: it is aborted (a core) and replaced. One whose
// output rackd holds (blocked on logs) cannot answer and is not judged:
// its deadline starts over, and starts over again once rackd reads on.
void ManagedApp::check_heartbeats(Clock::time_point now) {
  std::vector<Worker*> stuck;
  for (auto& [id, w] : workers_) {
    if (cfg_->protocol != config::Protocol::Rack || !w->lifecycle().in_rotation()) continue;
    if (w->blocked_on_logs()) w->restart_heartbeat(now);
    else if (now - w->last_pong() > w->cfg().heartbeat_timeout) stuck.push_back(w.get());
    else w->ping();
  }
  for (Worker* w : stuck) {
    w->fail_reason = "heartbeat timeout: no answer for " + std::to_string(w->cfg().heartbeat_timeout.count()) + " ms";
    spdlog::warn("{} slot {}: pid {} {}", name(), w->slot().index, w->pid(), w->fail_reason);
    w->abort_stuck();
  }
}

void ManagedApp::restart_heartbeats(Clock::time_point now) {
  for (auto& [id, w] : workers_) w->restart_heartbeat(now);
}

std::size_t ManagedApp::blocked_on_logs() const {
  return std::count_if(workers_.begin(), workers_.end(), [](auto& p) { return p.second->blocked_on_logs(); });
}

// ---- dispatch -----------------------------------------------------------------

void ManagedApp::on_accept(int fd) {
  if (!queue_.empty() || !hand(fd)) enqueue(fd, false);
}

bool ManagedApp::hand(int fd) {
  candidates_.clear();
  for (auto& [i, s] : slots_) {
    Worker* w = s->current;
    if (w && w->lifecycle().in_rotation()) candidates_.push_back({w->id(), w->load()});
  }
  while (!candidates_.empty()) {
    auto pick = dispatcher_.pick(candidates_);
    auto it = workers_.find(*pick);
    if (it != workers_.end() && it->second->give(fd)) {
      ++counters_.connections_dispatched;
      return true;
    }
    std::erase_if(candidates_, [&](const Candidate& c) { return c.id == *pick; });
  }
  return false;
}

void ManagedApp::enqueue(int fd, bool front) {
  if (stopped_) {
    ::close(fd);
    return;
  }
  if (front) queue_.push_front(fd, Clock::now());
  else queue_.push_back(fd, Clock::now());
  if (queue_.full()) listener_.pause();
}

void ManagedApp::drain_queue() {
  // Popped only once handed: one that stays keeps its deadline.
  while (auto fd = queue_.front()) {
    if (!hand(*fd)) break;
    queue_.pop();
  }
  // `queue_size: 0` is always full: resume once it is empty.
  if ((!queue_.full() || queue_.empty()) && listener_.paused() && !stopped_ && dispatches()) listener_.resume();
}

// ---- status -------------------------------------------------------------------

std::string ManagedApp::health_error() const {
  if (stopped_) return "stopped";
  std::size_t ready = ready_workers();
  if (ready == 0) {
    for (auto& [i, s] : slots_) {
      if (s->current && s->current->state() == WorkerState::Errored) return "no ready worker: " + s->current->last_exit;
    }
    return "no ready worker";
  }
  return "";
}

std::map<std::string, std::string> ManagedApp::app_checks() const {
  struct Tally {
    std::size_t failing = 0, seen = 0;
    std::string first;
  };
  std::map<std::string, Tally> tally;
  for (auto& [id, w] : workers_) {
    if (!w->lifecycle().in_rotation()) continue;
    for (const channel::CheckResult& c : w->health_checks()) {
      Tally& t = tally[c.name];
      ++t.seen;
      if (c.error.empty()) continue;
      if (t.failing++ == 0)
        t.first = c.error + " (slot " + std::to_string(w->slot().index) + ", pid " + std::to_string(w->pid());
    }
  }
  std::map<std::string, std::string> out;
  for (auto& [name, t] : tally) {
    std::string& error = out[name];
    if (t.failing == 0) continue;
    error = std::move(t.first);
    if (t.seen > 1) error += "; failing in " + std::to_string(t.failing) + " of " + std::to_string(t.seen) + " workers";
    error += ")";
  }
  return out;
}

json ManagedApp::status() const {
  json workers = json::array();
  for (auto& [id, w] : workers_) {
    json j = {
        {"slot", w->slot().index},
        {"pid", w->pid() > 0 ? json(w->pid()) : json(nullptr)},
        {"state", std::string(to_string(w->state()))},
        {"restarts", w->restarts},
        {"generation", w->generation()},
        {"uptime_s", std::round(w->uptime_s() * 10) / 10},
        {"cpu_percent", std::round(w->cpu_percent() * 10) / 10},
        {"rss_bytes", w->proc() && w->lifecycle().has_process() ? w->proc()->rss_bytes : 0},
    };
    if (!w->last_exit.empty()) {
      j["last_exit"] = w->last_exit;
      j["last_exit_cause"] = std::string(to_string(w->exit_info().cause));  // crash, outside_signal, oom_suspect, ...
    }
    if (w->blocked_on_logs()) j["blocked_on_logs"] = true;
    workers.push_back(std::move(j));
  }
  std::sort(workers.begin(), workers.end(), [](const json& a, const json& b) {
    auto ka = std::make_pair(a["slot"].get<int>(), a["generation"].get<uint64_t>());
    auto kb = std::make_pair(b["slot"].get<int>(), b["generation"].get<uint64_t>());
    return ka < kb;
  });
  json app = {
      {"name", cfg_->name},
      {"namespace", cfg_->ns},
      {"protocol", config::to_string(cfg_->protocol)},
      {"listen", listener_.fd() >= 0 ? json(listener_.bound_address()) : (cfg_->listen ? json(cfg_->listen->str()) : json(nullptr))},
      {"instances", cfg_->instances},
      {"status", std::string(to_string(app_status()))},
      {"reloading", reload_.has_value()},
      {"generation", generation_},
      {"file", cfg_->at.file},
      {"queue", queue_.size()},
      {"restart_reasons", counters_.restarts_by_reason},
      {"workers", std::move(workers)},
  };
  if (cfg_->autoscale) app["autoscale"] = autoscale_status();
  return app;
}

}  // namespace rack::master
