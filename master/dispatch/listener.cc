#include "dispatch/listener.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "dispatch/fd_reserve.h"
#include "dispatch/sockname.h"
#include "uv_handle.h"

namespace rack::master {

Listener::Listener(uv_loop_t* loop, OnAccept on_accept) : loop_(loop), on_accept_(std::move(on_accept)) {}

Listener::~Listener() { close(); }

namespace {

// socket(), bind(), listen(): the listening fd, or a negative errno with
// `error` naming `what`. A unix socket is created 0600 from the start: a
// chmod after bind would leave a window in which another user could connect.
int open_listening(const sockaddr* sa, socklen_t len, int backlog, const std::string& what, std::string& error) {
  int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket() failed: ") + std::strerror(errno);
    return -errno;
  }
  bool local = sa->sa_family == AF_UNIX;
  int one = 1;
  if (!local) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  mode_t old = local ? ::umask(0177) : 0;
  int rc = ::bind(fd, sa, len);
  if (local) ::umask(old);
  if (rc != 0 || ::listen(fd, backlog) != 0) {
    int e = errno;
    error = "cannot listen on " + what + ": " + std::strerror(e);
    ::close(fd);
    return -e;
  }
  return fd;
}

}  // namespace

int Listener::bind(const config::ListenAddr& addr, std::string& error) {
  // Numeric only (config validation normalised the host): never a DNS lookup.
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(addr.host.c_str(), std::to_string(addr.port).c_str(), &hints, &res) != 0 || !res) {
    error = "not an IPv4 or IPv6 address: " + addr.host;
    return -EINVAL;
  }
  int fd = open_listening(res->ai_addr, res->ai_addrlen, 4096, addr.str(), error);
  ::freeaddrinfo(res);
  return adopt(fd);
}

void Listener::adopt(int fd, bool paused) {
  fd_ = fd;
  poll_ = new_handle<uv_poll_t>(this);
  uv_poll_init(loop_, poll_, fd_);
  paused_ = paused;
  update();
}

int Listener::bind_unix(const std::string& path, std::string& error) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) {
    error = "socket path too long: " + path;
    return -ENAMETOOLONG;
  }
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  return adopt(open_listening(reinterpret_cast<sockaddr*>(&sun), sizeof sun, 128, path, error));
}

int Listener::adopt(int fd) {
  if (fd < 0) return fd;
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
  if (!fd_reserve::has_room(keep())) {
    fd_reserve::note_pause(what_);
    return back_off();
  }
  for (int i = 0; i < 128 && fd_ >= 0 && polling(); ++i) {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EMFILE || errno == ENFILE) {
        spdlog::error("accept() failed: {}; pausing accepts for 100 ms", std::strerror(errno));
        return back_off();
      }
      spdlog::warn("accept() failed: {}", std::strerror(errno));
      return;
    }
    on_accept_(c);
    // That one came out of the reserve: it is served, the next ones wait.
    if (!fd_reserve::room_for(c, keep())) {
      fd_reserve::note_pause(what_);
      return back_off();
    }
  }
}

// Stops accepting for 100 ms: the kernel backlog holds new clients.
void Listener::back_off() {
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
}

long Listener::peer_uid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
  return static_cast<long>(cred.uid);
}

std::string Listener::bound_address() const { return format_address(sockname(fd_)); }

}  // namespace rack::master
