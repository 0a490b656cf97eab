#include "lifecycle/rack_channel.h"

#include <unistd.h>

#include <utility>

#include "uv_handle.h"

namespace rack::master {

using channel::IoResult;
using channel::Type;

RackChannel::RackChannel(uv_loop_t* loop, int fd, Events events) : loop_(loop), fd_(fd), events_(std::move(events)) {
  poll_ = new_handle<uv_poll_t>(this);
  uv_poll_init(loop_, poll_, fd_);
  watch(false);
}

RackChannel::~RackChannel() { close(); }

bool RackChannel::send(Type type, std::string_view payload, int fd, uint16_t flags) {
  if (fd_ < 0) return false;
  if (!outbox_.empty()) {
    // Keep order: once something is queued, everything queues behind it.
    if (outbox_bytes_ + payload.size() > kMaxOutboxBytes) return false;
    queue(type, payload, fd, flags);
    return true;
  }
  switch (channel::send(fd_, type, payload, fd, flags)) {
    case IoResult::Ok:
      return true;
    case IoResult::WouldBlock:
      queue(type, payload, fd, flags);
      return true;
    case IoResult::Closed:
    case IoResult::Error:
    case IoResult::Malformed:  // recv() only
      return false;
  }
  return false;
}

void RackChannel::queue(Type type, std::string_view payload, int fd, uint16_t flags) {
  outbox_.push_back({type, std::string(payload), fd >= 0 ? ::dup(fd) : -1, flags});
  outbox_bytes_ += sizeof(channel::Header) + payload.size();
  watch(true);
}

IoResult RackChannel::send_conn(uint64_t conn_id, int fd) {
  if (fd_ < 0) return IoResult::Closed;
  if (!outbox_.empty()) return IoResult::WouldBlock;
  auto r = channel::send(fd_, Type::Conn, channel::encode_u64(conn_id), fd);
  // Full: told when it has room again (flush → drained).
  if (r == IoResult::WouldBlock) watch(true);
  return r;
}

void RackChannel::flush() {
  while (!outbox_.empty()) {
    auto& m = outbox_.front();
    auto r = channel::send(fd_, m.type, m.payload, m.fd, m.flags);
    if (r == IoResult::WouldBlock) return watch(true);  // reads resume once under kReadPauseBytes
    if (m.fd >= 0) ::close(m.fd);
    outbox_bytes_ -= sizeof(channel::Header) + m.payload.size();
    outbox_.pop_front();
    if (r != IoResult::Ok) break;
  }
  watch(false);
  if (outbox_.empty() && events_.drained) events_.drained();
}

void RackChannel::watch(bool writable) {
  int want = (reads_paused() ? 0 : UV_READABLE) | (writable ? UV_WRITABLE : 0);
  if (!poll_ || (want == watching_ && uv_is_active(reinterpret_cast<uv_handle_t*>(poll_)))) return;
  watching_ = want;
  if (want == 0) {
    uv_poll_stop(poll_);
    return;
  }
  uv_poll_start(poll_, want, [](uv_poll_t* h, int status, int events) {
    if (auto* self = static_cast<RackChannel*>(h->data)) self->on_event(status, events);
  });
}

void RackChannel::on_event(int status, int events) {
  if (status < 0) {
    // POLLERR (libuv says UV_EBADF): the worker closed with our messages
    // unread. What it sent before is still queued: read it, then close.
    if (fd_ >= 0) read(~0u);
    close();
    return;
  }
  if (events & UV_WRITABLE) flush();
  if (events & UV_READABLE) read();
}

void RackChannel::read(unsigned max_messages) {
  channel::Message m;
  // While paused, only the reads of a worker that is gone (process_exited,
  // POLLERR: max_messages = ~0u) go on: what it sent is finite then.
  for (unsigned i = 0; i < max_messages && fd_ >= 0 && (!reads_paused() || max_messages == ~0u); ++i) {
    auto r = channel::recv(fd_, m);
    if (r == IoResult::WouldBlock) return;
    if (r == IoResult::Malformed) {
      if (events_.malformed) events_.malformed(m.error);
      continue;
    }
    if (r != IoResult::Ok) {
      // EOF: the worker is exiting; the reaper will tell us how.
      close();
      return;
    }
    events_.message(m);
    if (m.fd >= 0) ::close(m.fd);  // a descriptor on a message that carries none
    m.fd = -1;
  }
}

void RackChannel::close() {
  close_handle(poll_);
  for (auto& m : outbox_) {
    if (m.fd >= 0) ::close(m.fd);
  }
  outbox_.clear();
  outbox_bytes_ = 0;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace rack::master
