// Readiness by sd_notify (`ready: notify`): rackd plays systemd's part. Each
// worker gets its own datagram socket in NOTIFY_SOCKET, and READY=1 from the
// worker (or a process it started) makes it ready.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

namespace rack::master {

class NotifySocket {
 public:
  // Binds `@name` in the abstract namespace: nothing on disk to clean up,
  // and the sender is known by which socket the datagram arrived on.
  // `worker_pid` says who may send (it and its descendants); `who` names the
  // worker in log lines. Returns nullptr, logged, when the socket cannot be
  // made: the worker then never signals ready and fails its start.
  static std::unique_ptr<NotifySocket> open(uv_loop_t* loop, const std::string& name, std::string who,
                                            std::function<pid_t()> worker_pid, std::function<void()> on_ready);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The NOTIFY_SOCKET value: "@" + name.
  const std::string& address() const { return address_; }

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  NotifySocket() = default;
  void read();

  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  std::string address_;
  std::string who_;
  std::function<pid_t()> worker_pid_;
  std::function<void()> on_ready_;
  bool foreign_logged_ = false;
};

}  // namespace rack::master
