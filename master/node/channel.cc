#include "node/channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "node/cluster_query.h"
#include "rack/channel.h"
#include "rack/json.h"
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
    : loop_(loop), fd_(fd), app_(std::move(app)), sockname_(std::move(sockname)), events_(std::move(events)) {
  poll_ = new_handle<uv_poll_t>(this);
  uv_poll_init(loop_, poll_, fd_);
  watch(false);
}

NodeChannel::~NodeChannel() {
  events_ = {};  // the owner is going away: no callbacks from here on
  close();
  for (auto& [seq, fd] : unanswered_) ::close(fd);
}

json NodeChannel::cluster_message(json m) {
  m["cmd"] = "NODE_CLUSTER";
  m["seq"] = seq_++;
  return m;
}

bool NodeChannel::give(int fd) {
  if (fd_ < 0 || key_.empty() || unanswered_.size() >= kMaxInFlight) return false;
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
      close();
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
  if (fd_ < 0) return;
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
      close();
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
    inbuf_.append(buf, static_cast<size_t>(n));
    size_t start = 0, nl;
    while ((nl = inbuf_.find('\n', start)) != std::string::npos) {
      if (skipping_line_) skipping_line_ = false;  // the end of a line too long to keep
      else handle_line(std::string_view(inbuf_).substr(start, nl - start));
      if (fd_ < 0) return;
      start = nl + 1;
    }
    inbuf_.erase(0, start);
    if (skipping_line_) {
      inbuf_.clear();  // still inside the long line
    } else if (inbuf_.size() > kMaxLineBytes) {
      // Skipped, not kept: the channel stays usable for the lines after it.
      if (events_.protocol_error)
        events_.protocol_error("a line over " + std::to_string(kMaxLineBytes >> 20) + " MB; skipped to its end");
      skipping_line_ = true;
      inbuf_.clear();
      inbuf_.shrink_to_fit();
    }
  }
}

namespace {

bool digits(std::string_view& s, uint64_t& out) {
  std::size_t i = 0;
  out = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9' && i < 19; ++i) out = out * 10 + static_cast<uint64_t>(s[i] - '0');
  s.remove_prefix(i);
  return i > 0;
}

bool skip(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

}  // namespace

bool parse_conn_answer(std::string_view line, uint64_t& ack, bool& accepted) {
  uint64_t seq = 0;
  if (!skip(line, R"({"cmd":"NODE_CLUSTER","ack":)") || !digits(line, ack)) return false;
  if (skip(line, R"(,"accepted":true)")) accepted = true;
  else if (skip(line, R"(,"accepted":false)")) accepted = false;
  else return false;
  return skip(line, R"(,"seq":)") && digits(line, seq) && line == "}";
}

void NodeChannel::handle_line(std::string_view line) {
  if (line.empty()) return;
  // The two lines node sends for every connection skip the JSON parser.
  if (line == R"({"cmd":"NODE_HANDLE_ACK"})") return;
  uint64_t ack = 0;
  bool accepted = false;
  if (parse_conn_answer(line, ack, accepted)) return conn_answered(ack, accepted);
  if (uint64_t active = 0, received = 0; node_cluster::parse_load_report(line, active, received)) {
    if (events_.load) events_.load(active, received);
    return;
  }
  std::string error;
  std::optional<json> parsed = json_input::parse(line, error);
  if (!parsed) {
    if (!warned_unparsable_)
      spdlog::warn("{}: node worker sent a line that is not usable JSON ({}); ignored, and so are any more", app_,
                   error);
    warned_unparsable_ = true;
    return;
  }
  const json& m = *parsed;
  std::string cmd = m.is_object() && m.contains("cmd") && m["cmd"].is_string() ? m["cmd"].get<std::string>() : "";
  if (cmd == "NODE_CLUSTER") return handle_cluster(m);
  if (cmd == "NODE_HANDLE_ACK") return;  // the handle arrived; the cluster answer follows
  if (cmd == "NODE_RACK_PONG") {
    if (events_.pong) events_.pong();
    return;
  }
  if (cmd == "NODE_HANDLE_NACK") {
    // The descriptor did not arrive (the worker is out of fds, say), so no
    // answer follows. Node handles messages in order and every earlier
    // connection is answered by now: it is the oldest unanswered one. Give
    // it to someone else.
    spdlog::warn("{}: node worker could not receive a connection (NODE_HANDLE_NACK); handing it on", app_);
    auto oldest = std::min_element(unanswered_.begin(), unanswered_.end(),
                                   [](const auto& a, const auto& b) { return a.first < b.first; });
    if (oldest != unanswered_.end()) conn_answered(oldest->first, false);
    return;
  }
  if (cmd.rfind("NODE_", 0) == 0) {
    spdlog::debug("{}: node internal message {} ignored", app_, cmd);
    return;
  }
  if (events_.user_message) events_.user_message(m);
}

// {act: queryServer}: which server the worker's listen() gets, answered
// with {ack, errno, key, sockname}.
void NodeChannel::query_server(const json& m) {
  json reply = {{"ack", m.value("seq", json(nullptr))}, {"errno", nullptr}, {"data", nullptr}};
  std::string address = m.contains("address") && m["address"].is_string() ? m["address"].get<std::string>() : "";
  std::string port = m.contains("port") ? m["port"].dump() : "";
  std::string key = address + ":" + port + ":" + (m.contains("addressType") ? m["addressType"].dump() : "") + ":" +
                    (m.contains("fd") ? m["fd"].dump() : "") + ":" + (m.contains("index") ? m["index"].dump() : "");
  std::string where = address + ":" + port;
  const json type = m.value("addressType", json(nullptr));
  if (!(type == 4 || type == 6)) {
    // Not a TCP server: a UDP socket (dgram in a cluster worker asks
    // with addressType "udp4"/"udp6"), a pipe or an fd (-1). Rack
    // dispatches one TCP address per app; refused with ENOTSUP, and the
    // app's TCP server can still come after it.
    spdlog::warn("{}: node worker asked for a non-TCP server (addressType {}, {}); Rack dispatches TCP only",
                 app_, json_input::excerpt(type), json_input::clip(where));
    reply["errno"] = -95;
    reply["key"] = key;
  } else if (key_.empty()) {
    // The app's first server gets the app's `listen` socket, whatever
    // port it asked for (listen(0) included): rackd owns the port. With
    // no `listen`, the app binds what the worker asks for (or shares
    // the listener an earlier worker asked for).
    json sockname = sockname_;
    if (events_.server) {
      if (int rc = events_.server(m, sockname); rc < 0) {
        reply["errno"] = rc;
        reply["key"] = key;
        write(cluster_message(reply).dump() + "\n");
        return;
      }
    }
    key_ = key;
    newconn_prefix_ = R"({"cmd":"NODE_HANDLE","type":"net.Native","msg":{"act":"newconn","cmd":"NODE_CLUSTER","key":)" +
                      json(key).dump() + R"(,"seq":)";
    reply["key"] = key;
    reply["sockname"] = sockname;
    // node checks that the port it asked for is the one it got (or it
    // reports EADDRINUSE): answer with its own port, the app's view of
    // where it listens; listen(0) gets the real one.
    if (m.contains("port") && m["port"].is_number_integer() && m["port"].get<int>() > 0)
      reply["sockname"]["port"] = m["port"];
  } else {
    // One listening socket per app. A second server (another port) is
    // refused with ENOTSUP so the app sees an 'error' event on listen().
    spdlog::warn("{}: node worker asked for a second server ({}); Rack serves one listen address per app",
                 app_, json_input::clip(where));
    reply["errno"] = -95;
    reply["key"] = key;
  }
  write(cluster_message(reply).dump() + "\n");
}

void NodeChannel::handle_cluster(const json& m) {
  // Answers to our newconn carry `ack` and `accepted`.
  if (m.contains("ack") && m.contains("accepted")) {
    uint64_t ack = m["ack"].is_number_unsigned() ? m["ack"].get<uint64_t>() : 0;
    if (!m["accepted"].is_boolean()) {
      // Not node's shape. The worker may already be serving the
      // connection: giving it to another worker could serve it twice.
      spdlog::warn("{}: node worker answered a connection with accepted={}; taken as accepted", app_,
                   json_input::excerpt(m["accepted"]));
      return conn_answered(ack, true);
    }
    return conn_answered(ack, m["accepted"].get<bool>());
  }
  std::string act = m.contains("act") && m["act"].is_string() ? m["act"].get<std::string>() : "";
  if (act == "online") return;
  if (act == "queryServer") return query_server(m);
  if (act == "listening") {
    if (events_.listening) events_.listening();
    return;
  }
  if (act == "close" && !key_.empty() && m.contains("key") && m["key"] == key_) {
    // The app closed its server: no more connections for this worker
    // (node would refuse each one). A later listen() asks again.
    spdlog::info("{}: node worker closed its server; it gets no more connections", app_);
    key_.clear();
    return;
  }
  if (act == "close" || act == "exitedAfterDisconnect") {
    spdlog::debug("{}: node worker says {}", app_, act);
    if (act == "exitedAfterDisconnect" && m.contains("seq"))
      write(cluster_message({{"ack", m["seq"]}}).dump() + "\n");
    return;
  }
  spdlog::debug("{}: node cluster message act={} ignored", app_, act);
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
  for (auto& o : outbox_)
    if (o.fd >= 0) ::close(o.fd);
  outbox_.clear();
  outbox_bytes_ = 0;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    if (events_.closed) events_.closed();
  }
}

}  // namespace rack::master
