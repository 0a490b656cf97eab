// An app's listening socket, owned by rackd for the app's whole life so
// reloads never close it. Accepts in batches and hands each fd on.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "dispatch/fd_reserve.h"
#include "rack/config.h"

namespace rack::master {

class Listener {
 public:
  using OnAccept = std::function<void(int fd)>;
  Listener(uv_loop_t* loop, OnAccept on_accept);
  ~Listener();

  // Binds and listens. Returns 0 or a negative errno; `error` says what failed.
  int bind(const config::ListenAddr& addr, std::string& error);
  // Takes a listening socket bound before (by this rackd before it exec'd
  // a new image: upgrade/state.h) and polls it, unless `paused`.
  void adopt(int fd, bool paused);
  // A unix stream socket at `path`, created with mode 0600.
  int bind_unix(const std::string& path, std::string& error);
  void close();

  // Accepting stops while rackd's own queue is full: the kernel backlog
  // then holds new connections.
  void pause();
  void resume();
  bool paused() const { return paused_; }
  // How the listener names itself in the fd reserve's log line, and the
  // share of the reserve it leaves free (dispatch/fd_reserve.h): 1 all of
  // it, 2 half (the control socket).
  void reserve_share(const char* what, int divisor) {
    what_ = what;
    reserve_divisor_ = divisor;
  }

  int fd() const { return fd_; }
  std::string bound_address() const;  // actual address (port 0 resolved)

  // The uid of a unix-socket peer (SO_PEERCRED), or -1.
  static long peer_uid(int fd);

 private:
  int adopt(int fd);  // starts polling a listening fd; passes a negative errno on
  void on_readable();
  void update();  // polls while neither paused nor backing off
  bool polling() const { return poll_ && uv_is_active(reinterpret_cast<const uv_handle_t*>(poll_)); }

  uv_loop_t* loop_;
  OnAccept on_accept_;
  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* retry_ = nullptr;  // ends the EMFILE back-off
  bool paused_ = false;           // by the owner (its queue is full)
  bool backing_off_ = false;      // after EMFILE/ENFILE, for 100 ms
  const char* what_ = "listener";
  int reserve_divisor_ = 1;
  int keep() const { return fd_reserve::reserve() / reserve_divisor_; }
  void back_off();  // 100 ms without accepting
};

}  // namespace rack::master
