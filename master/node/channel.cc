#include "node/channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "rack/channel.h"
#include "uv_handle.h"

namespace rack::master {

using json = nlohmann::json;

namespace {

// Connections in flight (handed, not yet answered) per worker before give()
// says "busy". node's own primary sends one and waits for the answer; two
// keep the worker from idling for that round trip. Deeper is slower: a
// connection queued in one busy worker's channel waits there while another
// worker may be free, where in rackd's queue it goes to whichever answers
// first. Measured with 2 workers and 32 clients, Connection: close: 64 in
// flight 10.4k conn/s, 8: 11.1k, 4: 12.1k, 2: 13.0k (medians of 5 rounds
// interleaved); with 4 or 400 clients, and keep-alive, no difference.
constexpr std::size_t kMaxInFlight = 2;

}  // namespace

NodeChannel::NodeChannel(uv_loop_t* loop, int fd, std::string app, json sockname, Events events)
    : NodeProtocol(std::move(app), std::move(sockname)), loop_(loop), fd_(fd), events_(std::move(events)) {
  poll_ = new_handle<uv_poll_t>(this);
  uv_poll_init(loop_, poll_, fd_);
  watch(false);
}

NodeChannel::~NodeChannel() {
  events_ = {};  // the owner is going away: no callbacks from here on
  close();
  for (auto& [seq, fd] : unanswered_) ::close(fd);
}

bool NodeChannel::give(int fd) {
  if (fd_ < 0 || writes_stopped_ || key_.empty() || unanswered_.size() >= kMaxInFlight) return false;
  if (refusing_until_ != 0) {
    if (uv_now(loop_) < refusing_until_) return false;
    refusing_until_ = 0;
  }
  // The hot path: the line is put together by hand, not through a json
  // object (same text as cluster_message() would give).
  uint64_t seq = seq_++;
  std::string line = newconn_prefix_;
  line += std::to_string(seq);
  line += "}}\n";
  if (outbox_.empty()) {
    // The channel is idle (the common case): send now with rackd's own fd.
    // SCM_RIGHTS takes its own reference in the kernel, so the dup (and
    // its close after sending) that a queued line needs is two syscalls
    // per connection for nothing.
    ssize_t n = send_some(line, fd);
    if (n == static_cast<ssize_t>(line.size())) {
      unanswered_.emplace(seq, fd);
      return true;
    }
    if (n > 0) {
      // The fd went with the first byte; the rest of the line follows.
      outbox_.push_back({line.substr(static_cast<std::size_t>(n)), 0, -1});
      outbox_bytes_ += outbox_.back().data.size();
      watch(true);
      unanswered_.emplace(seq, fd);
      return true;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      stop_writing();
      return false;
    }
  }
  // Behind other lines, or the socket is full: queued with a dup of the fd
  // (ours may be closed before the line goes), sent when writable.
  int copy = ::dup(fd);
  if (copy < 0) return false;
  outbox_bytes_ += line.size();  // not refused for size: kMaxInFlight bounds these
  outbox_.push_back({std::move(line), 0, copy});
  watch(true);
  unanswered_.emplace(seq, fd);
  return true;
}

std::vector<int> NodeChannel::take_unanswered() {
  if (fd_ >= 0) read(~0u);  // the worker is gone: what it sent is finite
  std::vector<int> out;
  for (auto& [seq, fd] : unanswered_) out.push_back(fd);
  unanswered_.clear();
  return out;
}

void NodeChannel::send(const json& message) {
  if (fd_ >= 0) write(message.dump() + "\n");
}

void NodeChannel::ping(uint64_t seq) {
  write(R"({"cmd":"NODE_RACK_PING","seq":)" + std::to_string(seq) + "}\n");
}

void NodeChannel::write(std::string line) {
  if (fd_ < 0 || writes_stopped_) return;
  if (outbox_bytes_ + line.size() > kMaxOutboxBytes) {
    if (events_.protocol_error)
      events_.protocol_error("it does not read its channel: " + std::to_string(outbox_bytes_) +
                             " bytes wait for it; a message to it dropped");
    return;
  }
  outbox_bytes_ += line.size();
  outbox_.push_back({std::move(line), 0, -1});
  if (outbox_.size() == 1) flush();
}

// One sendmsg of `data`, with `fd` attached when >= 0. EINTR is retried.
ssize_t NodeChannel::send_some(std::string_view data, int fd) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  channel::FdControl control;
  channel::attach_fd(msg, control, fd);
  ssize_t n;
  do {
    n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return n;
}

void NodeChannel::flush() {
  while (!outbox_.empty() && fd_ >= 0) {
    Out& o = outbox_.front();
    ssize_t n = send_some(std::string_view(o.data).substr(o.offset), o.fd);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return watch(true);
      stop_writing();
      return;
    }
    // The fd went with the first byte that was sent; the rest of the line
    // follows without it.
    if (o.fd >= 0) {
      ::close(o.fd);
      o.fd = -1;
    }
    o.offset += static_cast<std::size_t>(n);
    outbox_bytes_ -= static_cast<std::size_t>(n);
    if (o.offset == o.data.size()) outbox_.pop_front();
  }
  watch(false);
}

// The worker closed its end (EPIPE, ECONNRESET: it is exiting). Nothing
// more goes to it, but what it wrote before (its final metrics snapshot,
// connection answers) may still wait unread behind the line being handled:
// the channel stays open for reading and closes at its end of file.
void NodeChannel::stop_writing() {
  writes_stopped_ = true;
  drop_outbox();
  watch(false);
}

void NodeChannel::drop_outbox() {
  for (auto& o : outbox_)
    if (o.fd >= 0) ::close(o.fd);
  outbox_.clear();
  outbox_bytes_ = 0;
}

void NodeChannel::watch(bool writable) {
  poll_readable(poll_, watching_writable_, writable, [](uv_poll_t* h, int status, int events) {
    if (auto* self = static_cast<NodeChannel*>(h->data)) self->on_event(status, events);
  });
}

void NodeChannel::on_event(int status, int events) {
  if (status < 0) {
    // POLLERR: node closed with our messages unread; what it sent before
    // (answers, its final metrics) is still queued behind the error.
    read(~0u);
    close();
    return;
  }
  if (events & UV_WRITABLE) flush();
  if (events & UV_READABLE) read();
}

void NodeChannel::read(unsigned max_reads) {
  char buf[65536];
  for (unsigned i = 0; i < max_reads && fd_ >= 0; ++i) {
    // node never sends us descriptors; recvmsg with MSG_CMSG_CLOEXEC would
    // only matter if it did, and a stray one is closed below.
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = channel::recv_msg(fd_, msg);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      close();
      return;
    }
    if (int stray = channel::take_fd(msg); stray >= 0) ::close(stray);
    if (n == 0) {
      close();
      return;
    }
    feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

void NodeChannel::conn_lost() {
  auto oldest = std::min_element(unanswered_.begin(), unanswered_.end(),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
  if (oldest != unanswered_.end()) conn_answered(oldest->first, false);
}

void NodeChannel::conn_answered(uint64_t seq, bool accepted) {
  auto it = unanswered_.find(seq);
  if (it == unanswered_.end()) return;
  int fd = it->second;
  unanswered_.erase(it);
  if (!accepted) refusing_until_ = uv_now(loop_) + 100;
  if (events_.conn_result) events_.conn_result(fd, accepted);
}

void NodeChannel::close() {
  close_handle(poll_);
  drop_outbox();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    if (events_.closed) events_.closed();
  }
}

}  // namespace rack::master
