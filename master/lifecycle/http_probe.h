// Readiness by HTTP probe (`ready: {http: /health}` for inherit apps):
// GET the path on the app's address every 100 ms until it answers 2xx.
//
// With protocol inherit every worker accepts on the same socket, so a probe
// may be answered by another, already ready worker: it proves the address is
// served, not that this worker is. Use `ready: notify` for per-worker
// readiness. Connections are never lost either way: the socket and its
// backlog stay open across reloads.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "rack/config.h"

namespace rack::master {

class HttpProbe {
 public:
  HttpProbe(uv_loop_t* loop, config::ListenAddr addr, std::string path, std::function<void()> on_ok);
  ~HttpProbe();
  HttpProbe(const HttpProbe&) = delete;
  HttpProbe& operator=(const HttpProbe&) = delete;

 private:
  struct Attempt;
  void try_once();
  void finished(bool ok);

  uv_loop_t* loop_;
  config::ListenAddr addr_;
  std::string path_;
  std::function<void()> on_ok_;
  uv_timer_t* timer_ = nullptr;
  Attempt* attempt_ = nullptr;  // in flight; owned by libuv callbacks until closed
  bool done_ = false;
};

}  // namespace rack::master
