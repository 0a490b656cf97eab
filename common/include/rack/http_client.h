// A small blocking HTTP/1.1 client: rackctl → rackd, tests, load generators.
//
//   auto c = rack::http::Client::unix_socket(home + "/rackd.sock");
//   rack::http::Client::Result r = c.request("GET", "/v1/status");
//   if (r.error == rack::http::Client::Error::Connect) return 3;  // rackd not running
//   if (!r.ok()) { std::cerr << r.error_text << "\n"; return 1; }
//   std::cout << r.status << " " << r.body;
//
//   // One connection, many requests (kept alive while the server allows):
//   auto t = rack::http::Client::tcp("127.0.0.1", 8080);
//   for (int i = 0; i < 1000; ++i) t.request("GET", "/");
//
//   // Streaming (`rackctl logs -f`): body chunks as they arrive; return
//   // false to stop (the connection is then closed).
//   c.stream("GET", "/v1/logs?follow=1", {}, {}, [](std::string_view chunk) {
//     std::cout << chunk << std::flush;
//     return true;
//   });
//
// The timeout bounds connecting and each request as a whole; for stream()
// it bounds connecting and the response head, not the (endless) body.
// A request on a reused connection that the server closed while it sat idle
// is retried once on a fresh connection if no byte of an answer arrived.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "rack/http_message.h"

namespace rack::http {

class Client {
 public:
  enum class Error {
    None,
    Connect,   // nothing listening / no such socket / refused: "server not running"
    Io,        // connected, then a read or write failed or the peer closed early
    Timeout,
    Protocol,  // the peer's bytes are not a valid HTTP response
  };

  struct Result {
    Error error = Error::None;
    std::string error_text;  // "connect(/home/u/.rack/rackd.sock): No such file or directory"
    int status = 0;
    std::vector<Header> headers;
    std::string body;        // empty for stream()

    bool ok() const { return error == Error::None; }
    std::string_view header(std::string_view name) const { return find_header(headers, name); }
  };

  static Client unix_socket(std::string path);
  static Client tcp(std::string host, uint16_t port);

  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  // Content-Length is sent whenever there is a body (or the method is POST,
  // PUT or PATCH); Host and User-Agent unless given in `headers`.
  Result request(std::string_view method, std::string_view target, std::string_view body = {},
                 const std::vector<Header>& headers = {});

  using ChunkFn = std::function<bool(std::string_view chunk)>;
  Result stream(std::string_view method, std::string_view target, std::string_view body,
                const std::vector<Header>& headers, const ChunkFn& on_chunk);

  void close();                     // drop the kept-alive connection, if any
  bool connected() const { return fd_ >= 0; }
  uint64_t connects() const { return connects_; }  // sockets opened so far (tests check reuse)

 private:
  Client() = default;
  Result run(std::string_view method, std::string_view target, std::string_view body,
             const std::vector<Header>& headers, const ChunkFn* on_chunk);
  Result attempt(const std::string& wire, bool head, const ChunkFn* on_chunk, bool& retry);
  bool connect(std::chrono::steady_clock::time_point deadline, Result& r);

  bool unix_ = false;
  std::string path_;  // unix socket
  std::string host_;  // tcp
  uint16_t port_ = 0;
  std::chrono::milliseconds timeout_{10000};
  int fd_ = -1;
  uint64_t connects_ = 0;
};

}  // namespace rack::http
