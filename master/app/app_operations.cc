// ManagedApp's user operations besides reload (app/app_reload.cc): stop,
// restart, reset, scale and the workers' log level.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "app/app.h"
#include "uv_handle.h"

namespace rack::master {

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

}  // namespace rack::master
