// Blocking work off the event loop, and one-shot timers, for handlers that
// answer later. Both keep what they capture alive until they have run.
//
//   registry::offload(loop,
//       [path] { return storage.open_file(path); },        // libuv's thread pool
//       [res](Storage::Opened o) mutable { ... res.send(...); });  // back on the loop
//
//   registry::after(loop, 2, [self] { self->resume(); });  // in 2 ms, on the loop
#pragma once

#include "rack/worker.h"

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace registry {

template <typename Work, typename Done>
void offload(uv_loop_t* loop, Work work, Done done) {
  using Result = std::invoke_result_t<Work&>;
  struct Job {
    uv_work_t req;
    Work work;
    Done done;
    std::optional<Result> result;
  };
  auto* job = new Job{{}, std::move(work), std::move(done), std::nullopt};
  job->req.data = job;
  int rc = uv_queue_work(
      loop, &job->req, [](uv_work_t* r) { static_cast<Job*>(r->data)->result.emplace(static_cast<Job*>(r->data)->work()); },
      [](uv_work_t* r, int) {
        std::unique_ptr<Job> j(static_cast<Job*>(r->data));
        // Nothing here cancels work (uv_cancel), so a result is always there.
        if (j->result) j->done(std::move(*j->result));
      });
  if (rc != 0) {  // only for invalid arguments; do it here rather than lose it
    std::unique_ptr<Job> j(job);
    j->done(j->work());
  }
}

using rack::after;  // one-shot timer, from the worker runtime

}  // namespace registry
