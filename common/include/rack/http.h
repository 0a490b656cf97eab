// The HTTP/1.1 server shared by rackd (control API on a unix socket, admin
// listener on TCP) and the worker runtime. libuv for I/O, llhttp to parse.
//
//   rack::http::Server server(loop, [](rack::http::Request& req, rack::http::Responder res) {
//     if (req.path == "/health") return res.send(rack::http::Response::json(200, R"({"status":"ok"})"));
//     res.send(rack::http::Response::error(404, "not found"));
//   });
//   // whoever accepts (rack::http::Listener, rackd's dispatcher, the channel)
//   // hands the connected socket over; the server owns it from then on:
//   server.adopt(fd);
//
// Answering later. A Responder is a cheap handle on one exchange; keep a copy
// and answer from a timer or another callback. The Request& given to the
// handler stays valid as long as any copy of its Responder exists.
//
//   server handler: auto* t = new Timer{res}; uv_timer_start(&t->timer, ..., 100, 0);
//   later:          t->res.send(Response::text(200, "slept\n"));
//
// If the last copy of a Responder is dropped without an answer, the client
// gets a 500 (a forgotten request must not hang the connection). Dropping it
// mid-stream ends the stream.
//
// Streaming (chunked; `rackctl logs -f`, reload progress):
//
//   res.start_stream(200, {{"Content-Type", "text/plain"}});
//   res.write("line 1\n");   // false once the client is gone
//   res.end();
//   res.on_close([] { /* client went away before the end: stop producing */ });
//
// Protocol: keep-alive, pipelining (responses go out in request order even
// when handlers answer out of order), chunked request bodies, HEAD,
// Expect: 100-continue, HTTP/1.0 (closes unless keep-alive was asked for).
// Errors the server answers itself, then closes: 400 unparsable request,
// 408 headers or body too slow, 413 body too large, 414/431 target/headers
// too large. Upgrade/CONNECT are not supported: the request is handed to the
// handler like any other and the connection closes after the answer.
//
// Single-threaded: every call, including Responder calls, must be made on the
// loop's thread. The constructor sets SIGPIPE to SIG_IGN for the process:
// libuv writes with write(2), and a peer that resets would otherwise kill us.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rack/http_message.h"

namespace rack::http {

struct Limits {
  std::size_t max_header_bytes = 16 * 1024;  // request line + headers → 414/431
  std::size_t max_body_bytes = 1 << 20;      // declared or de-chunked → 413
  uint64_t header_timeout_ms = 10000;        // a request's headers, from its first byte → 408
  uint64_t body_timeout_ms = 30000;          // silence while a body is incomplete → 408
  uint64_t idle_timeout_ms = 5000;           // keep-alive with nothing in flight → close
  std::size_t max_pipelined = 32;            // requests in flight per connection before we stop reading
  std::size_t max_write_buffer = 1 << 20;    // unsent response bytes before we stop reading
  uint64_t linger_ms = 2000;                 // after our FIN, drain the client's bytes this long
  // 0 = none. A whole request, headers and body, from its first byte (the
  // first request: from accept) → 408, however steadily it trickles in.
  uint64_t request_timeout_ms = 0;
  // 0 = none. Past it a new connection gets 503 to its first request and
  // is closed; past it by another max_connections / 8 + 8 (those waiting
  // to be told) it is closed unread.
  std::size_t max_connections = 0;
};

namespace detail {
struct Exchange;
struct ResponderToken;
struct ServerState;
}  // namespace detail

class Responder {
 public:
  Responder() = default;
  explicit Responder(std::shared_ptr<detail::ResponderToken> token) : token_(std::move(token)) {}

  // The whole response. Only the first send()/start_stream() counts; a no-op
  // once the connection is gone.
  void send(Response response);

  // Chunked streaming (HTTP/1.0 peers: raw body, closed at the end).
  bool start_stream(int status, std::vector<Header> headers = {});
  bool write(std::string_view data);  // false when the client is gone
  void end();

  bool alive() const;       // the connection can still carry this response
  bool responded() const;   // send() or start_stream() was called
  // Response bytes queued for this connection and not yet taken by the
  // kernel; a producer that streams should pause when it grows.
  std::size_t buffered_bytes() const;
  // Runs once if the connection goes away before the response is complete
  // (at once if it already has). Not run after a normal completion.
  void on_close(std::function<void()> fn);

 private:
  std::shared_ptr<detail::ResponderToken> token_;
};

using Handler = std::function<void(Request&, Responder)>;

// Called when a response has been handed to the socket completely (also for
// the errors the server answers itself; then request.method may be empty).
// `duration` runs from the end of the request's headers.
using CompletionHook =
    std::function<void(const Request& request, int status, std::chrono::nanoseconds duration)>;

// Worker drain (DESIGN.md "Reload").
struct DrainHooks {
  // An idle keep-alive connection: nothing in flight, nothing buffered from
  // the client, reading stopped. Give it to someone else (rackd) — the
  // server closes its own descriptor right after this returns, so dup() it
  // if it is needed later. Unset, or returning false: the connection is just
  // closed. Also used for connections adopted after drain() began.
  std::function<bool(int fd)> hand_back;
  // No connection left. May run before drain() returns.
  std::function<void()> done;
};

class Server {
 public:
  Server(uv_loop_t* loop, Handler handler, Limits limits = {});
  ~Server();  // closes every connection at once
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Takes ownership of a connected stream socket (TCP or AF_UNIX
  // SOCK_STREAM), whatever happens: false (and fd closed or handed back)
  // when it cannot be served.
  bool adopt(int fd);

  void on_complete(CompletionHook hook);
  // After a connection is gone (active_connections() already counts it out).
  void on_connection_closed(std::function<void()> hook);

  // Stops taking connections: in-flight requests finish; responses written
  // from now on carry "Connection: close"; idle keep-alive connections go
  // to hooks.hand_back; hooks.done runs when none is left.
  void drain(DrainHooks hooks);
  bool draining() const;

  // Closes every connection now (in-flight responses are lost).
  void close_all();

  std::size_t active_connections() const;
  uint64_t requests_served() const;
  const Limits& limits() const;
  uv_loop_t* loop() const;

 private:
  std::unique_ptr<detail::ServerState> state_;
};

}  // namespace rack::http
