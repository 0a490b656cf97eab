// libuv handles that rackd objects own by pointer.
//
// A handle must stay allocated until its close callback has run, which is
// after the owning object may be gone. So handles are heap-allocated, their
// `data` cleared when the owner lets go, and freed by the close callback:
// a callback that fires in between sees data == nullptr and does nothing.
#pragma once

#include <uv.h>

#include <cstdlib>
#include <new>

namespace rack::master {

template <class H>
H* new_handle(void* owner) {
  auto* h = static_cast<H*>(std::calloc(1, sizeof(H)));
  if (!h) throw std::bad_alloc();
  h->data = owner;
  return h;
}

template <class H>
void close_handle(H*& h) {
  if (!h) return;
  auto* base = reinterpret_cast<uv_handle_t*>(h);
  base->data = nullptr;
  if (!uv_is_closing(base)) uv_close(base, [](uv_handle_t* x) { std::free(x); });
  h = nullptr;
}

// Polls `h` for readable, and for writable too while `writable`, calling
// uv_poll_start only when that interest changes or the poll is stopped: it
// re-registers the fd with epoll even when nothing changes (once per
// connection handed over, otherwise). `writable_now` keeps the interest.
inline void poll_readable(uv_poll_t* h, bool& writable_now, bool writable, uv_poll_cb cb) {
  if (!h || (writable == writable_now && uv_is_active(reinterpret_cast<uv_handle_t*>(h)))) return;
  writable_now = writable;
  uv_poll_start(h, writable ? UV_READABLE | UV_WRITABLE : UV_READABLE, cb);
}

}  // namespace rack::master
