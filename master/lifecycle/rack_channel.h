// rackd's end of a rack worker's channel (framing and message types in
// rack/channel.h): polling, an ordered outbox for when the socket is full,
// and bounded reads. What the messages mean is the Worker's business.
//
// Bounds, so a worker that never reads its end cannot grow rackd: past
// kReadPauseBytes queued for it, rackd stops reading from it (what it asks
// for would only queue more; its Pongs stop too, so the heartbeat replaces
// it), and send() refuses past kMaxOutboxBytes.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "rack/channel.h"

namespace rack::master {

class RackChannel {
 public:
  static constexpr std::size_t kReadPauseBytes = 1u << 20;
  static constexpr std::size_t kMaxOutboxBytes = 4u << 20;

  struct Events {
    // One message. A descriptor it carries is closed afterwards unless the
    // handler takes it (sets m.fd = -1). The handler may close the channel.
    std::function<void(channel::Message& m)> message;
    // The outbox emptied: give() may hand connections again.
    std::function<void()> drained;
    // A malformed message (rack/channel.h, "Bad messages") was dropped; the
    // channel stays open and reading goes on.
    std::function<void(const std::string& what)> malformed;
  };

  // Takes `fd` (non-blocking SOCK_SEQPACKET) and starts reading.
  RackChannel(uv_loop_t* loop, int fd, Events events);
  ~RackChannel();
  RackChannel(const RackChannel&) = delete;
  RackChannel& operator=(const RackChannel&) = delete;

  bool open() const { return fd_ >= 0; }
  bool outbox_empty() const { return outbox_.empty(); }
  std::size_t outbox_bytes() const { return outbox_bytes_; }

  // Sends now, or queues in order when the socket is full (the fd is dup'ed
  // for the queue). False when the channel is closed or broken, or when
  // kMaxOutboxBytes are already queued (the message is dropped).
  bool send(channel::Type type, std::string_view payload, int fd = -1, uint16_t flags = 0);
  // Conn messages are never queued: when the worker is behind, the
  // dispatcher should try someone else. WouldBlock when anything is queued
  // or the socket is full (then `drained` fires once there is room).
  channel::IoResult send_conn(uint64_t conn_id, int fd);

  // Reads up to `max_messages` (bounded so one chatty worker cannot starve
  // the loop). At EOF the channel closes: the worker is exiting.
  void read(unsigned max_messages = 256);
  void close();

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  void on_event(int status, int events);
  // Readable unless reads are paused (outbox over kReadPauseBytes);
  // writable while waiting for room.
  void watch(bool writable);
  bool reads_paused() const { return outbox_bytes_ > kReadPauseBytes; }
  void queue(channel::Type type, std::string_view payload, int fd, uint16_t flags);
  void flush();

  struct Outgoing {
    channel::Type type;
    std::string payload;
    int fd;
    uint16_t flags = 0;
  };

  uv_loop_t* loop_;
  int fd_;
  Events events_;
  uv_poll_t* poll_ = nullptr;
  int watching_ = 0;  // the UV_* events polled now
  std::deque<Outgoing> outbox_;
  std::size_t outbox_bytes_ = 0;
};

}  // namespace rack::master
