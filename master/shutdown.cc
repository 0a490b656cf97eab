// How rackd ends: every app stopped gracefully, then the last lines of
// their pipes read, then the loop ends with the exit code.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "logs/log_pipe.h"
#include "rack/timer.h"
#include "supervisor.h"

namespace rack::master {

void Supervisor::shutdown_after_delay() {
  draining_soon_ = true;
  auto delay = static_cast<uint64_t>(shutdown_delay_.count());
  spdlog::info("SIGTERM: /health fails now; apps keep serving for {} ms (rack.shutdown_delay), then drain", delay);
  opt_.notifier.send("STOPPING=1\nSTATUS=leaving rotation (shutdown_delay)");
  if (delay == 0) return shutdown(0);
  rack::after(loop_, delay, [this] { shutdown(0); });
}

void Supervisor::shutdown(int exit_code) {
  if (shutting_down_) return;
  shutting_down_ = true;
  exit_code_ = exit_code;
  opt_.notifier.send("STOPPING=1\nSTATUS=stopping " + std::to_string(apps_.size()) + " apps");
  auto remaining = std::make_shared<size_t>(apps_.size() + 1);
  auto finish = [this, remaining] {
    if (--*remaining > 0) return;
    spdlog::info("all apps stopped; rackd exits");
    if (control_) control_->close();
    if (admin_) admin_->close();
    if (control_http_) control_http_->close_all();
    if (refuse_http_) refuse_http_->close_all();
    if (admin_http_) admin_http_->close_all();
    ::unlink((opt_.home + "/rackd.sock").c_str());
    stop_after_final_drain(Clock::now() + kFinalDrain);
  };
  for (auto& [name, app] : apps_) app->stop(finish);
  finish();
}

// Every worker has exited, but what it wrote last may still sit in its
// pipes: the loop runs on until each pipe is at EOF, so those lines reach
// the files (and in-flight control answers, `rackctl kill`'s, go out).
// Bounded: a pipe that a process out of the group keeps open, or that a
// full disk holds (on_full: block), does not keep rackd from exiting.
void Supervisor::stop_after_final_drain(Clock::time_point deadline) {
  if (LogPipe::open_count() == 0 || Clock::now() >= deadline) {
    if (LogPipe::open_count() > 0)
      spdlog::warn("{} worker output pipe(s) still open after {} ms; rackd exits without their last lines",
                   LogPipe::open_count(), kFinalDrain.count());
    uv_stop(loop_);
    return;
  }
  rack::after(loop_, 10, [this, deadline] { stop_after_final_drain(deadline); });
}

}  // namespace rack::master
