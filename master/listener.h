// An app's listening socket, owned by rackd for the app's whole life so
// reloads never close it. Accepts in batches and hands each fd on.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "rack/config.h"

namespace rack::master {

class Listener {
 public:
  using OnAccept = std::function<void(int fd)>;
  Listener(uv_loop_t* loop, OnAccept on_accept);
  ~Listener();

  // Binds and listens. Returns 0 or a negative errno; `error` says what failed.
  int bind(const config::ListenAddr& addr, std::string& error);
  // A unix stream socket at `path`, mode 0600, that only accepts peers of
  // our own uid (SO_PEERCRED): anyone else is answered 403 and closed.
  int bind_unix(const std::string& path, std::string& error);
  void close();

  // Accepting stops while rackd's own queue is full: the kernel backlog
  // then holds new connections.
  void pause();
  void resume();
  bool paused() const { return paused_; }

  int fd() const { return fd_; }
  std::string bound_address() const;  // actual address (port 0 resolved)

 private:
  void on_readable();

  uv_loop_t* loop_;
  OnAccept on_accept_;
  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  bool paused_ = false;
  bool same_uid_only_ = false;
};

}  // namespace rack::master
