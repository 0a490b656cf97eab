// How a worker is made to go: drain (graceful), terminate, abort (stuck),
// kill. Each starts a step of the kill escalation (escalation.h); the kill
// timer takes it on to the next step until the process exits.
#include <signal.h>

#include <spdlog/spdlog.h>

#include "lifecycle/cgroup.h"
#include "lifecycle/worker.h"
#include "metrics/prom_client.h"
#include "uv_handle.h"

namespace rack::master {

using channel::Type;

void Worker::signal(int sig, const char* why) {
  if (pid_ <= 0 || !life_.has_process()) return;
  spdlog::info("{} slot {}: sending SIG{} to pid {} ({})", cfg_->name, slot_.index, sigabbrev_np(sig), pid_,
               why);
  ::kill(-pid_, sig);  // the worker leads its group: the whole tree (guardian.h)
  // What left the group (setsid) is still in the worker's cgroup (cgroup.h).
  if (sig == SIGKILL) cgroup::kill(pid_);
}

void Worker::escalate(const KillOrder& kill) {
  kill_step_ = kill.step;
  if (kill.signal) signal(kill.signal, kill.why);
  auto next = next_kill(kill.step, cfg_->kill_timeout);
  if (!next) {
    if (kill_timer_) uv_timer_stop(kill_timer_);
    return;
  }
  if (!kill_timer_) {
    kill_timer_ = new_handle<uv_timer_t>(this);
    uv_timer_init(loop_, kill_timer_);
  }
  uv_timer_start(kill_timer_, [](uv_timer_t* t) {
    if (auto* self = static_cast<Worker*>(t->data)) self->on_kill_timer();
  }, static_cast<uint64_t>(next->after.count()), 0);
}

void Worker::on_kill_timer() {
  if (!life_.has_process()) return;
  auto next = next_kill(kill_step_, cfg_->kill_timeout);
  if (!next) return;
  enter(WorkerState::Stopping, {next->step, next->signal, "kill_timeout passed"});
}

void Worker::drain(ExitCause why) {
  if (!life_.has_process() || life_.leaving()) return;
  asked_ = why;
  const KillOrder by_signal{KillStep::Terminated, config::stop_signal_of(*cfg_), "drain"};
  const KillOrder by_message{KillStep::Asked, 0, "drain"};
  if (cfg_->protocol == config::Protocol::Rack && rack_ && rack_->open()) {
    send(Type::Drain, {});
    enter(WorkerState::Draining, by_message);
  } else if (node_ && node_->open()) {
    // node's cluster worker closes its servers and exits once the last
    // request is done (node/preload.js keeps idle keep-alive connections
    // until their next response says Connection: close).
    // A snapshot now, in case the worker dies draining; the preload sends
    // the final one (after the last request) before it lets go of the channel.
    node_->send(prom_client::request(0));
    // PM2's shutdown hooks: process.on('SIGINT') or the 'shutdown' message.
    // The preload turns the stop signal into the cluster's disconnect, so
    // an app with no handler of its own still drains gracefully.
    if (cfg_->shutdown_with_message) node_->send("shutdown");
    enter(WorkerState::Draining, cfg_->shutdown_with_message ? by_message : by_signal);
  } else {
    enter(WorkerState::Draining, by_signal);
  }
}

void Worker::terminate(ExitCause why) {
  if (!life_.has_process()) return;
  asked_ = why;
  enter(WorkerState::Stopping, {KillStep::Terminated, config::stop_signal_of(*cfg_), "stop"});
}

void Worker::abort_stuck() {
  if (!life_.has_process()) return;
  asked_ = ExitCause::Heartbeat;
  enter(WorkerState::Stopping, {KillStep::Aborted, SIGABRT, "event loop stuck: no heartbeat"});
}

void Worker::kill_now(ExitCause why) {
  if (!life_.has_process()) return;
  asked_ = why;
  enter(WorkerState::Stopping, {KillStep::Killed, SIGKILL, fail_reason.empty() ? "kill" : fail_reason.c_str()});
}

}  // namespace rack::master
