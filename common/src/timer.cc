#include <uv.h>

#include <functional>
#include <mutex>
#include <unordered_set>

#include "rack/timer.h"

namespace rack {

namespace {

struct Timer {
  uv_timer_t handle;
  std::function<void()> fn;
};

// The timers after() has started and not yet freed, so that close_handles()
// can tell them from other handles (whose `data` means something else) and
// free them. Touched only from loop threads; the lock is for the rare
// program with more than one loop.
std::mutex pending_mu;
std::unordered_set<const uv_handle_t*>& pending() {
  static std::unordered_set<const uv_handle_t*> set;
  return set;
}

void free_timer(uv_handle_t* h) {
  {
    std::lock_guard lock(pending_mu);
    pending().erase(h);
  }
  delete static_cast<Timer*>(h->data);
}

}  // namespace

void after(uv_loop_t* loop, uint64_t ms, std::function<void()> fn) {
  auto* t = new Timer{{}, std::move(fn)};
  uv_timer_init(loop, &t->handle);
  t->handle.data = t;
  {
    std::lock_guard lock(pending_mu);
    pending().insert(reinterpret_cast<uv_handle_t*>(&t->handle));
  }
  uv_timer_start(
      &t->handle,
      [](uv_timer_t* h) {
        auto* t = static_cast<Timer*>(h->data);
        // Take the callback out first: it may start another timer, and the
        // handle is already closing.
        std::function<void()> fn = std::move(t->fn);
        uv_close(reinterpret_cast<uv_handle_t*>(h), free_timer);
        fn();
      },
      ms, 0);
}

void close_handles(uv_loop_t* loop) {
  uv_walk(
      loop,
      [](uv_handle_t* h, void*) {
        if (uv_is_closing(h)) return;
        bool ours;
        {
          std::lock_guard lock(pending_mu);
          ours = pending().count(h) != 0;
        }
        uv_close(h, ours ? free_timer : nullptr);
      },
      nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
}

}  // namespace rack
