#include "dispatch/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "dispatch/sockname.h"
#include "uv_handle.h"

namespace rack::master {

Listener::Listener(uv_loop_t* loop, OnAccept on_accept) : loop_(loop), on_accept_(std::move(on_accept)) {}

Listener::~Listener() { close(); }

int Listener::bind(const config::ListenAddr& addr, std::string& error) {
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  if (addr.host.find(':') != std::string::npos) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = family = AF_INET6;
    s6->sin6_port = htons(addr.port);
    if (inet_pton(AF_INET6, addr.host.c_str(), &s6->sin6_addr) != 1) {
      error = "not an IPv6 address: " + addr.host;
      return -EINVAL;
    }
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = family = AF_INET;
    s4->sin_port = htons(addr.port);
    if (inet_pton(AF_INET, addr.host.c_str(), &s4->sin_addr) != 1) {
      error = "not an IPv4 address: " + addr.host;
      return -EINVAL;
    }
    len = sizeof *s4;
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket() failed: ") + std::strerror(errno);
    return -errno;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 4096) != 0) {
    int e = errno;
    error = "cannot listen on " + addr.str() + ": " + std::strerror(e);
    ::close(fd);
    return -e;
  }
  fd_ = fd;
  poll_ = new_handle<uv_poll_t>(this);
  uv_poll_init(loop_, poll_, fd_);
  resume();
  return 0;
}

int Listener::bind_unix(const std::string& path, std::string& error) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) {
    error = "socket path too long: " + path;
    return -ENAMETOOLONG;
  }
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket() failed: ") + std::strerror(errno);
    return -errno;
  }
  ::unlink(path.c_str());
  // Create it 0600 from the start: a chmod after bind would leave a window
  // in which another user could connect.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
  ::umask(old);
  if (rc != 0 || ::listen(fd, 128) != 0) {
    int e = errno;
    error = "cannot listen on " + path + ": " + std::strerror(e);
    ::close(fd);
    return -e;
  }
  fd_ = fd;
  poll_ = new_handle<uv_poll_t>(this);
  uv_poll_init(loop_, poll_, fd_);
  resume();
  return 0;
}

void Listener::close() {
  close_handle(retry_);
  close_handle(poll_);
  backing_off_ = false;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Listener::pause() {
  paused_ = true;
  update();
}

void Listener::resume() {
  paused_ = false;
  update();
}

// Two reasons to stop accepting, each lifted on its own: the owner's resume
// does not cut the EMFILE back-off short, and the back-off's end does not
// override a full queue.
void Listener::update() {
  bool want = poll_ && !paused_ && !backing_off_;
  if (want == polling()) return;
  if (!want) {
    if (poll_) uv_poll_stop(poll_);
    return;
  }
  uv_poll_start(poll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
    if (auto* self = static_cast<Listener*>(h->data); self && status == 0) self->on_readable();
  });
}

void Listener::on_readable() {
  // A bounded batch per wakeup keeps the loop responsive to workers and
  // the control socket under a connection flood.
  for (int i = 0; i < 128 && fd_ >= 0 && polling(); ++i) {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EMFILE || errno == ENFILE) {
        spdlog::error("accept() failed: {}; pausing accepts for 100 ms", std::strerror(errno));
        backing_off_ = true;
        update();
        if (!retry_) {
          retry_ = new_handle<uv_timer_t>(this);
          uv_timer_init(loop_, retry_);
        }
        uv_timer_start(retry_, [](uv_timer_t* t) {
          if (auto* self = static_cast<Listener*>(t->data)) {
            self->backing_off_ = false;
            self->update();
          }
        }, 100, 0);
        return;
      }
      spdlog::warn("accept() failed: {}", std::strerror(errno));
      return;
    }
    on_accept_(c);
  }
}

long Listener::peer_uid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
  return static_cast<long>(cred.uid);
}

std::string Listener::bound_address() const { return format_address(sockname(fd_)); }

}  // namespace rack::master
