// The HTTP/1.1 request side of rack::http::Server (llhttp, framing, limits,
// pipelining, keep-alive), the parser every listener shares: the worker
// runtime, the control API and the admin listener. The input is what a
// client sends on a real socketpair, then it half-closes; the server parses
// and answers until the connection ends. Small limits put the 413/414/431
// paths within reach of short inputs.
//
// Handlers by path: /later answers after the bytes are in (out of order
// with pipelining), /stream answers chunked, /drop forgets the request
// (the server must answer 500), anything else answers at once.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "rack/http.h"

using namespace rack::http;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  rack::fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rack::fuzz::Loop loop;
  {
    std::vector<Responder> later;
    Limits limits;
    limits.max_header_bytes = 512;
    limits.max_body_bytes = 1024;
    limits.max_pipelined = 4;
    Server server(loop.get(), [&](Request& req, Responder res) {
      if (req.path == "/later") return later.push_back(std::move(res));
      if (req.path == "/drop") return;
      if (req.path == "/stream") {
        res.start_stream(200, {{"Content-Type", "text/plain"}});
        res.write(req.body);
        res.write(std::string(req.header("X-Echo")));
        return res.end();
      }
      std::string body = req.method + " " + req.path + " " + req.query + " " +
                         req.query_param("a").value_or("-") + " " + percent_decode(req.path, false) + " " +
                         std::to_string(req.headers.size()) + " " + std::to_string(req.body.size());
      Response r = Response::text(200, body);
      r.set("X-Echo", std::string(req.header("X-Echo")));
      res.send(std::move(r));
    }, limits);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return 0;
    server.adopt(sv[0]);
    char buf[65536];
    size_t off = 0;
    for (int turn = 0; turn < 64 && server.active_connections() > 0; ++turn) {
      if (off < size) {
        ssize_t n = ::send(sv[1], data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) off += static_cast<size_t>(n);
        if (off == size) ::shutdown(sv[1], SHUT_WR);
      }
      while (::recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) > 0) {
      }
      loop.turns(1);
      if (off == size && !later.empty()) {
        for (auto& r : later) r.send(Response::json(201, R"({"later":true})"));
        later.clear();
      }
    }
    later.clear();
    ::close(sv[1]);
  }
  return 0;
}
