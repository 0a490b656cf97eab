// Blocking work off the event loop, and one-shot timers, for handlers that
// answer later. Both keep what they capture alive until they have run.
//
//   registry::offload(loop,
//       [path] { return storage.open_file(path); },        // libuv's thread pool
//       [res](Storage::Opened o) mutable { ... res.send(...); });  // back on the loop
//
//   registry::after(loop, 2, [self] { self->resume(); });  // in 2 ms, on the loop
#pragma once

#include "rack/offload.h"
#include "rack/worker.h"

namespace registry {

using rack::offload;  // thread pool, then back on the loop (rack/offload.h)
using rack::after;    // one-shot timer, from the worker runtime

}  // namespace registry
