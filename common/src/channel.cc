#include "rack/channel.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace rack::channel {

const char* type_name(Type t) {
  switch (t) {
    case Type::Conn: return "Conn";
    case Type::Ping: return "Ping";
    case Type::Drain: return "Drain";
    case Type::MetricsReq: return "MetricsReq";
    case Type::LogLevel: return "LogLevel";
    case Type::Ready: return "Ready";
    case Type::Ack: return "Ack";
    case Type::Pong: return "Pong";
    case Type::Load: return "Load";
    case Type::ConnReturn: return "ConnReturn";
    case Type::MetricsRep: return "MetricsRep";
    case Type::MergedMetricsReq: return "MergedMetricsReq";
    case Type::MergedMetricsRep: return "MergedMetricsRep";
    case Type::Recycle: return "Recycle";
    case Type::Health: return "Health";
  }
  return "unknown";
}

IoResult send(int sock, Type type, std::string_view payload, int fd, uint16_t flags) {
  if (payload.size() > kMaxMessage) {
    errno = EMSGSIZE;
    return IoResult::Error;
  }
  Header h{type, flags, static_cast<uint32_t>(payload.size())};
  iovec iov[2] = {{&h, sizeof h}, {const_cast<char*>(payload.data()), payload.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = payload.empty() ? 1 : 2;
  FdControl control;
  attach_fd(msg, control, fd);
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return IoResult::Ok;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return IoResult::WouldBlock;
    if (errno == EPIPE || errno == ECONNRESET) return IoResult::Closed;
    return IoResult::Error;
  }
}

bool decode_frame(std::string_view datagram, bool truncated, Message& out, std::string& error) {
  if (truncated) {
    error = "a message over " + std::to_string(kMaxMessage) + " payload bytes (cut by the receiver)";
    return false;
  }
  if (datagram.size() < sizeof(Header)) {
    error = "a " + std::to_string(datagram.size()) + "-byte message, shorter than its " +
            std::to_string(sizeof(Header)) + "-byte header";
    return false;
  }
  Header h;
  std::memcpy(&h, datagram.data(), sizeof h);
  std::size_t avail = datagram.size() - sizeof h;
  if (h.length != avail) {
    error = "a header saying " + std::to_string(h.length) + " payload bytes on " + std::to_string(avail);
    return false;
  }
  out.type = h.type;
  out.flags = h.flags;
  out.payload.assign(datagram.data() + sizeof h, avail);
  return true;
}

IoResult recv(int sock, Message& out) {
  // One byte more than the largest message: a bigger one shows as MSG_TRUNC
  // (the kernel drops the rest of that datagram, not the next one).
  static thread_local std::string buf(kMaxMessage + sizeof(Header) + 1, '\0');
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = recv_msg(sock, msg);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::WouldBlock;
    if (errno == ECONNRESET) return IoResult::Closed;
    return IoResult::Error;
  }
  out.fd = take_fd(msg);
  out.error.clear();
  if (n == 0) {
    if (out.fd >= 0) { ::close(out.fd); out.fd = -1; }
    // 0 is also an empty datagram, which a peer can send: only a peer that
    // hung up (RCV_SHUTDOWN shows as POLLRDHUP) is the end.
    pollfd p{sock, POLLRDHUP, 0};
    int ready = ::poll(&p, 1, 0);
    if (ready < 0 || (ready > 0 && (p.revents & (POLLRDHUP | POLLHUP)))) return IoResult::Closed;
    out.payload.clear();
    out.error = "an empty message, shorter than its " + std::to_string(sizeof(Header)) + "-byte header";
    return IoResult::Malformed;
  }
  bool truncated = (msg.msg_flags & MSG_TRUNC) || static_cast<size_t>(n) > kMaxMessage + sizeof(Header);
  if (!decode_frame(std::string_view(buf.data(), static_cast<size_t>(n)), truncated, out, out.error)) {
    if (out.fd >= 0) { ::close(out.fd); out.fd = -1; }
    out.payload.clear();
    return IoResult::Malformed;
  }
  return IoResult::Ok;
}

void attach_fd(msghdr& msg, FdControl& control, int fd) {
  if (fd < 0) return;
  std::memset(control.buf, 0, sizeof control.buf);
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
}

ssize_t recv_msg(int sock, msghdr& msg) {
  bool reset = false;
  for (;;) {
    ssize_t n = ::recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET && !reset) {
      reset = true;
      continue;
    }
    return -1;
  }
}

int take_fd(msghdr& msg) {
  int first = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (first < 0) first = fd;
      else ::close(fd);
    }
  }
  return first;
}

std::string encode_u64s(std::span<const uint64_t> values) {
  std::string s(values.size() * sizeof(uint64_t), '\0');
  if (!s.empty()) std::memcpy(s.data(), values.data(), s.size());  // data() of an empty span may be null
  return s;
}

std::vector<uint64_t> decode_u64s(std::string_view payload) {
  std::vector<uint64_t> v(payload.size() / sizeof(uint64_t));
  if (!v.empty()) std::memcpy(v.data(), payload.data(), v.size() * sizeof(uint64_t));
  return v;
}

std::string encode_u64(uint64_t v) { return encode_u64s(std::span<const uint64_t>(&v, 1)); }

std::optional<uint64_t> decode_u64(std::string_view payload) {
  if (payload.size() != sizeof(uint64_t)) return std::nullopt;
  uint64_t v;
  std::memcpy(&v, payload.data(), sizeof v);
  return v;
}

std::optional<std::vector<uint64_t>> decode_u64s_exact(std::string_view payload) {
  if (payload.size() % sizeof(uint64_t) != 0) return std::nullopt;
  return decode_u64s(payload);
}

std::optional<LoadReport> decode_load(std::string_view payload) {
  if (auto v = decode_u64(payload)) return LoadReport{*v, std::nullopt};
  if (payload.size() != 2 * sizeof(uint64_t)) return std::nullopt;
  auto vs = decode_u64s(payload);
  return LoadReport{vs[0], vs[1]};
}

std::optional<MetricsPiece> decode_metrics_piece(std::string_view payload) {
  if (payload.size() < sizeof(uint64_t)) return std::nullopt;
  return MetricsPiece{*decode_u64(payload.substr(0, sizeof(uint64_t))), payload.substr(sizeof(uint64_t))};
}

bool valid_check_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxCheckName) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string encode_health(std::span<const CheckResult> checks) {
  std::string out;
  for (const CheckResult& c : checks) {
    out += c.name;
    out += '\t';
    std::string_view error = std::string_view(c.error).substr(0, kMaxCheckError);
    for (char ch : error) out += (ch == '\t' || ch == '\n' || ch == '\r') ? ' ' : ch;
    out += '\n';
  }
  return out;
}

std::optional<std::vector<CheckResult>> decode_health(std::string_view payload) {
  std::vector<CheckResult> checks;
  while (!payload.empty()) {
    std::size_t nl = payload.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    std::string_view line = payload.substr(0, nl);
    payload.remove_prefix(nl + 1);
    std::size_t tab = line.find('\t');
    if (tab == std::string_view::npos || !valid_check_name(line.substr(0, tab))) return std::nullopt;
    std::string_view error = line.substr(tab + 1);
    if (error.size() > kMaxCheckError) return std::nullopt;
    checks.push_back({std::string(line.substr(0, tab)), std::string(error)});
  }
  return checks;
}

}  // namespace rack::channel
