// One-shot timers on a libuv loop, for rackd and the worker runtime.
//
//   rack::after(loop, 100, [res]() mutable { res.send(...); });  // answer later
//   rack::after(loop, 0, [this] { apps_.erase(name); });         // next loop turn
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>

namespace rack {

// Runs `fn` once, `ms` from now, on `loop`'s thread. The timer frees itself.
void after(uv_loop_t* loop, uint64_t ms, std::function<void()> fn);

// At the end of a loop's life: closes every handle still open on `loop`
// (what an app left running) and runs the loop until they are closed.
// Timers from after() that have not fired are freed without running.
void close_handles(uv_loop_t* loop);

}  // namespace rack
