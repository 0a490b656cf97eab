// Listening sockets: bind, listen, accept4 from a uv_poll.
#include "rack/http_listener.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <spdlog/spdlog.h>

namespace rack::http {

struct Listener::Handles {
  uv_poll_t poll;
  uv_timer_t retry;
  int open = 0;
  dev_t unix_dev = 0;
  ino_t unix_ino = 0;
};

namespace {

constexpr int kAcceptBatch = 64;      // per wakeup, so one busy listener cannot starve the loop
constexpr uint64_t kRetryMs = 100;    // after EMFILE and friends

std::string errno_text(const char* call, std::string_view address, int err) {
  return std::string(call) + "(" + std::string(address) + "): " + std::strerror(err);
}

int open_unix(std::string_view path, const Listener::Options& o, std::string& error, struct stat& st) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path) {
    error = "unix socket path \"" + std::string(path) + "\" is empty or longer than " +
            std::to_string(sizeof sa.sun_path - 1) + " bytes";
    return -1;
  }
  std::memcpy(sa.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket", path, errno);
    return -1;
  }
  // bind() then chmod(): in between the socket has the umask's mode, so keep
  // it in a directory only its owner can enter ($RACK_HOME is 0700).
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    error = errno_text("bind", path, errno);
    ::close(fd);
    return -1;
  }
  std::string p(path);
  if (::chmod(p.c_str(), o.unix_mode) != 0 || ::stat(p.c_str(), &st) != 0 ||
      ::listen(fd, o.backlog) != 0) {
    error = errno_text("listen", path, errno);
    ::unlink(p.c_str());
    ::close(fd);
    return -1;
  }
  return fd;
}

int open_tcp(const HostPort& hp, std::string_view address, const Listener::Options& o,
             std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(hp.port);
  const char* host = hp.host.empty() ? "0.0.0.0" : hp.host.c_str();
  if (int rc = ::getaddrinfo(host, port.c_str(), &hints, &res); rc != 0) {
    error = "resolve(" + std::string(address) + "): " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  int err = 0;
  for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (o.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      err = errno;
      ::close(fd);
      fd = -1;
      continue;
    }
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, o.backlog) != 0) {
      err = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0) error = errno_text("bind", address, err ? err : EADDRNOTAVAIL);
  return fd;
}

uint16_t bound_port(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port);
  return 0;
}

void on_handle_closed(uv_handle_t* h) {
  auto* handles = static_cast<Listener::Handles*>(h->data);
  if (--handles->open == 0) delete handles;
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
  HostPort hp;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    hp.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) return std::nullopt;  // bare IPv6 needs brackets
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535)
    return std::nullopt;
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

std::unique_ptr<Listener> Listener::open(uv_loop_t* loop, std::string_view address, Options options,
                                         OnAccept on_accept, std::string& error) {
  std::unique_ptr<Listener> l(new Listener());
  l->address_ = std::string(address);
  l->on_accept_ = std::move(on_accept);
  struct stat st{};
  if (address.starts_with("unix:")) {
    l->unix_path_ = std::string(address.substr(5));
    l->fd_ = open_unix(l->unix_path_, options, error, st);
  } else {
    auto hp = parse_host_port(address);
    if (!hp) {
      error = "listen address \"" + std::string(address) + "\": expected host:port, [v6]:port, :port or unix:/path";
      return nullptr;
    }
    l->fd_ = open_tcp(*hp, address, options, error);
    if (l->fd_ >= 0) l->port_ = bound_port(l->fd_);
  }
  if (l->fd_ < 0) return nullptr;

  l->handles_ = new Handles();
  l->handles_->unix_dev = st.st_dev;
  l->handles_->unix_ino = st.st_ino;
  uv_timer_init(loop, &l->handles_->retry);
  l->handles_->retry.data = l.get();
  ++l->handles_->open;
  if (int rc = uv_poll_init(loop, &l->handles_->poll, l->fd_); rc != 0) {
    error = "uv_poll_init(" + std::string(address) + "): " + uv_strerror(rc);
    return nullptr;  // the destructor closes what was opened
  }
  l->handles_->poll.data = l.get();
  ++l->handles_->open;
  l->resume();
  return l;
}

Listener::~Listener() { close(); }

void Listener::close() {
  if (handles_) {
    // From here the callbacks run with `data` pointing at the Handles,
    // never at this (possibly destroyed) Listener.
    Handles* h = handles_;
    handles_ = nullptr;
    uv_handle_t* handles[] = {reinterpret_cast<uv_handle_t*>(&h->retry),
                              reinterpret_cast<uv_handle_t*>(&h->poll)};
    int count = h->open;
    struct stat st{};
    if (!unix_path_.empty() && ::stat(unix_path_.c_str(), &st) == 0 && st.st_dev == h->unix_dev &&
        st.st_ino == h->unix_ino)
      ::unlink(unix_path_.c_str());  // only if it is still ours, not a newer rackd's
    for (int i = 0; i < count; ++i) {
      handles[i]->data = h;
      uv_close(handles[i], on_handle_closed);
    }
  }
  if (fd_ >= 0) {
    ::close(fd_);  // uv_close(poll) already took it out of epoll
    fd_ = -1;
  }
}

void Listener::pause() {
  paused_ = true;
  if (handles_ && handles_->open == 2) uv_poll_stop(&handles_->poll);
}

void Listener::resume() {
  paused_ = false;
  if (handles_ && handles_->open == 2) uv_poll_start(&handles_->poll, UV_READABLE, on_poll);
}

void Listener::on_poll(uv_poll_t* handle, int status, int) {
  auto* l = static_cast<Listener*>(handle->data);
  if (status < 0) {
    spdlog::error("listener {}: poll: {}", l->address_, uv_strerror(status));
    return;
  }
  l->accept_some();
}

void Listener::on_retry(uv_timer_t* timer) {
  auto* l = static_cast<Listener*>(timer->data);
  if (!l->paused_ && l->handles_) uv_poll_start(&l->handles_->poll, UV_READABLE, on_poll);
}

void Listener::accept_some() {
  for (int i = 0; i < kAcceptBatch && fd_ >= 0 && !paused_; ++i) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      on_accept_(fd);  // may close or pause us
      continue;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM) continue;
    // Out of descriptors or memory: the socket stays readable, so polling
    // on would spin. Back off and let the kernel backlog hold clients.
    spdlog::error("listener {}: accept4: {}; retrying in {} ms", address_, std::strerror(err), kRetryMs);
    if (handles_) {
      uv_poll_stop(&handles_->poll);
      uv_timer_start(&handles_->retry, on_retry, kRetryMs, 0);
    }
    return;
  }
}

}  // namespace rack::http
