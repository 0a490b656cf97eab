// Blocking work off a libuv loop: `work` runs on libuv's thread pool, then
// `done(result)` on the loop's thread. The job keeps what both capture
// alive until `done` has run. For rackd and the worker runtime alike.
//
//   rack::offload(loop,
//       [path] { return read_whole(path); },                  // thread pool
//       [res](std::string text) mutable { res.send(...); });  // back on the loop
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace rack {

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

}  // namespace rack
