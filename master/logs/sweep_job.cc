#include "logs/sweep_job.h"

#include <system_error>
#include <thread>

#include <spdlog/spdlog.h>

namespace rack::master {

namespace {

// The sweep's thread (or the pool).
void sweep(SweepJob& j) {
  for (std::size_t i = 0; i < 2; ++i) {
    sweep_rotated(j.dir, j.bases[i], j.keep, j.max_age, j.compress, j.now, j.results[i]);
  }
}

// Loop.
void after_sweep(SweepJob* job) {
  std::unique_ptr<SweepJob> j(job);
  for (SweepResult& r : j->results) {
    for (const std::string& w : r.warnings) spdlog::warn("{}", w);
    if (r.compressed + r.deleted > 0) {
      spdlog::debug("log sweep in {}: {} compressed, {} deleted", j->dir, r.compressed, r.deleted);
    }
    r = SweepResult{};
  }
  SweepAlive& alive = *j->alive;
  alive.running = false;
  if (!alive.again) return;
  alive.again = false;
  if (alive.reschedule) {
    alive.reschedule();  // with the current config
  } else {
    j->now = std::chrono::system_clock::now();  // the AppLog is gone: once more with its last config
    launch_sweep(j.release());
  }
}

}  // namespace

// The sweep runs on a thread of its own at the lowest priority: zlib
// level 6 compresses on the order of 100 MB/s, so every rotated file is up
// to a CPU-second of work, and at normal priority that competes with the
// loop reading the pipes and with the apps themselves; on a small machine
// it is what makes a burst of output slow (a log burst rotates often).
// Housekeeping can wait for idle CPU. Not on libuv's pool: on a busy
// machine a SCHED_IDLE sweep can take minutes, and apps that rotate
// together (rotate_every: 1d, at midnight) would hold every pool thread
// meanwhile, stalling `rackctl logs` behind them; and an unprivileged
// pool thread could not raise its priority again (RLIMIT_NICE).
void launch_sweep(SweepJob* job) {
  job->alive->running = true;
  uv_async_init(job->loop, &job->async, [](uv_async_t* a) {
    uv_close(reinterpret_cast<uv_handle_t*>(a), [](uv_handle_t* h) { after_sweep(static_cast<SweepJob*>(h->data)); });
  });
  job->async.data = job;
  try {
    // Detached: if rackd exits first, the sweep just stops (the next
    // start recovers what it left).
    std::thread([job] {
      lower_this_thread_priority_for_housekeeping();
      sweep(*job);
      uv_async_send(&job->async);
    }).detach();
    return;
  } catch (const std::system_error&) {
  }
  // No thread to be had: on the pool, at normal priority, as before.
  uv_close(reinterpret_cast<uv_handle_t*>(&job->async), [](uv_handle_t* h) {
    auto* job = static_cast<SweepJob*>(h->data);
    job->req.data = job;
    int rc = uv_queue_work(job->loop, &job->req, [](uv_work_t* r) { sweep(*static_cast<SweepJob*>(r->data)); },
                           [](uv_work_t* r, int) { after_sweep(static_cast<SweepJob*>(r->data)); });
    if (rc != 0) {
      spdlog::warn("queueing the log sweep of {} failed: {}", job->dir, uv_strerror(rc));
      after_sweep(job);
    }
  });
}

}  // namespace rack::master
