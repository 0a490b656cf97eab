#include <uv.h>

#include <functional>

#include "rack/timer.h"

namespace rack {

void after(uv_loop_t* loop, uint64_t ms, std::function<void()> fn) {
  struct Timer {
    uv_timer_t handle;
    std::function<void()> fn;
  };
  auto* t = new Timer{{}, std::move(fn)};
  uv_timer_init(loop, &t->handle);
  t->handle.data = t;
  uv_timer_start(
      &t->handle,
      [](uv_timer_t* h) {
        auto* t = static_cast<Timer*>(h->data);
        // Take the callback out first: it may start another timer, and the
        // handle is already closing.
        std::function<void()> fn = std::move(t->fn);
        uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
        fn();
      },
      ms, 0);
}

}  // namespace rack
