// A listening socket on the libuv loop that hands each accepted connection
// (a connected, non-blocking, close-on-exec fd) to a callback — usually
// rack::http::Server::adopt, or rackd's dispatcher.
//
//   std::string error;
//   auto listener = rack::http::Listener::open(loop, "127.0.0.1:8080",
//       {.reuse_port = true}, [&](int fd) { server.adopt(fd); }, error);
//   if (!listener) { spdlog::error("{}", error); return 1; }
//
// Addresses: "host:port", "[v6]:port", ":port" (all interfaces), or
// "unix:/path" (a unix stream socket, created with `unix_mode`; the path must
// not exist). Port 0 picks a free port; port() tells which.
//
// We accept with accept4() from a uv_poll rather than uv_listen/uv_accept:
// the fd must leave the loop as a plain descriptor (into a Server or down
// the channel to a worker), and libuv's handles would own it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rack::http {

struct HostPort {
  std::string host;  // "" = all interfaces
  uint16_t port = 0;
};

// "127.0.0.1:8080", "[::1]:80", ":8080", "localhost:0". nullopt when malformed.
std::optional<HostPort> parse_host_port(std::string_view text);

class Listener {
 public:
  struct Options {
    int backlog = 511;
    bool reuse_port = false;     // SO_REUSEPORT: several processes share the port
    unsigned unix_mode = 0600;   // permission bits of a unix socket path
  };
  using OnAccept = std::function<void(int fd)>;

  // nullptr and `error` set ("bind(127.0.0.1:80): Permission denied") on failure.
  static std::unique_ptr<Listener> open(uv_loop_t* loop, std::string_view address,
                                        Options options, OnAccept on_accept, std::string& error);
  ~Listener();  // closes the socket (and unlinks a unix path it created)
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void pause();   // stop accepting; the kernel backlog holds new clients
  void resume();
  void close();   // stop for good; idempotent

  uint16_t port() const { return port_; }   // TCP: the bound port
  int fd() const { return fd_; }
  const std::string& address() const { return address_; }

  struct Handles;  // libuv handles; heap-allocated so they outlive us until closed

 private:
  Listener() = default;
  static void on_poll(uv_poll_t* handle, int status, int events);
  static void on_retry(uv_timer_t* timer);
  void accept_some();

  Handles* handles_ = nullptr;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::string address_;
  std::string unix_path_;
  bool paused_ = false;
  OnAccept on_accept_;
};

}  // namespace rack::http
