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
  std::string error;
  busy_board_ = BusyBoardFile::create(shm_path_ + ".busy", keep_segments_, error);
  if (!busy_board_)
    spdlog::warn("{}: cannot create {}.busy: {}; least-connections counts connections only", cfg_->name, shm_path_,
                 error);
}

ManagedApp::SlotState::~SlotState() { close_handle(restart_timer); }

ManagedApp::~ManagedApp() {
  close_handle(reconcile_check_);
  close_handle(reconcile_idle_);
  close_handle(hold_timer_);
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
  raw->attach_busy_board(busy_board_.get());
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


void ManagedApp::on_ready_timeout(Worker& w) {
  w.fail_reason = "no ready signal within " + std::to_string(cfg_->ready_timeout.count()) + " ms";
  spdlog::warn("{} slot {}: pid {} failed to start: {}", name(), w.slot().index, w.pid(), w.fail_reason);
  w.kill_now(ExitCause::NeverReady);  // the exit goes through reap() → crash or reload failure
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

}  // namespace rack::master
