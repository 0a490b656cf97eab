#include "lifecycle/notify_socket.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include "rack/channel.h"
#include "uv_handle.h"

namespace rack::master {

namespace {

// True when `pid` is `ancestor`, in its process group (rackd makes every
// worker a group leader) or descends from it (a worker started through a
// shell that forks, say). Reads /proc/<pid>/stat up the chain. A sender
// that has already exited cannot be told apart from a stranger: it is not
// believed (systemd-notify --no-block can lose that race; without it,
// systemd-notify waits until rackd has read the message).
bool is_same_or_descendant(pid_t pid, pid_t ancestor) {
  if (pid == ancestor || ::getpgid(pid) == ancestor) return true;
  for (int hops = 0; hops < 32 && pid > 1; ++hops) {
    if (pid == ancestor) return true;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::size_t close = text.rfind(')');  // comm may hold spaces and parentheses
    if (close == std::string::npos) return false;
    char state = 0;
    long ppid = 0;
    if (std::sscanf(text.c_str() + close + 1, " %c %ld", &state, &ppid) != 2) return false;
    pid = static_cast<pid_t>(ppid);
  }
  return false;
}

// Newline-separated assignments; READY=1 is the one that matters.
bool says_ready(std::string_view msg) {
  size_t pos = 0;
  while (pos < msg.size()) {
    size_t nl = msg.find('\n', pos);
    std::string_view kv = msg.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (kv == "READY=1") return true;
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return false;
}

pid_t sender_pid(msghdr& mh) {
  pid_t sender = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
      ucred cred;
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      sender = cred.pid;
    }
  }
  return sender;
}

}  // namespace

std::unique_ptr<NotifySocket> NotifySocket::open(uv_loop_t* loop, const std::string& name, std::string who,
                                                 std::function<pid_t()> worker_pid, std::function<void()> on_ready) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path + 1, name.data(), std::min(name.size(), sizeof sun.sun_path - 1));
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  // The abstract namespace has no file permissions: any local process
  // could send to it. SO_PASSCRED makes the kernel attach the sender's pid,
  // so read() believes only the worker and its descendants (systemd's
  // NotifyAccess, roughly).
  int on = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&sun), len) != 0) {
    spdlog::warn("{}: cannot bind the notify socket: {}", who, std::strerror(errno));
    ::close(fd);
    return nullptr;
  }
  std::unique_ptr<NotifySocket> s(new NotifySocket());
  s->fd_ = fd;
  s->address_ = "@" + name;
  s->who_ = std::move(who);
  s->worker_pid_ = std::move(worker_pid);
  s->on_ready_ = std::move(on_ready);
  s->poll_ = new_handle<uv_poll_t>(s.get());
  uv_poll_init(loop, s->poll_, fd);
  uv_poll_start(s->poll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
    if (auto* self = static_cast<NotifySocket*>(h->data); self && status == 0) self->read();
  });
  return s;
}

NotifySocket::~NotifySocket() {
  close_handle(poll_);
  if (fd_ >= 0) ::close(fd_);
}

void NotifySocket::read() {
  char buf[4096];
  for (;;) {
    iovec iov{buf, sizeof buf};
    // Room for the credentials and some fds (FDSTORE=1, or the pipe of
    // sd_notify_barrier) for us to close; the kernel closes any beyond.
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(16 * sizeof(int))];
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0) return;
    // sd_notify may carry fds (FDSTORE=1); Rack keeps none of them.
    if (int fd = channel::take_fd(mh); fd >= 0) ::close(fd);
    pid_t sender = sender_pid(mh);
    pid_t worker = worker_pid_();
    if (worker <= 0 || sender <= 0 || !is_same_or_descendant(sender, worker)) {
      if (std::exchange(foreign_logged_, true)) continue;  // once per worker: no log flooding
      spdlog::warn("{}: ignored a notify message from pid {}, not the worker (pid {}) or its child", who_, sender,
                   worker);
      continue;
    }
    // on_ready may close this socket: nothing of it is touched afterwards.
    if (says_ready(std::string_view(buf, static_cast<size_t>(n)))) {
      on_ready_();
      return;
    }
  }
}

}  // namespace rack::master
