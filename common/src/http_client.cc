// Blocking HTTP/1.1 client over a non-blocking socket + poll(2), so every
// wait has a deadline. Responses are parsed with llhttp in response mode.
#include "rack/http_client.h"

#include <llhttp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>
#include <thread>
#include <utility>

namespace rack::http {

namespace {

using Clock = std::chrono::steady_clock;

// -1 = wait forever (no deadline), else milliseconds left (0 = expired).
int remaining_ms(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on fd. 1 ready, 0 timed out, -1 error (errno).
int wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    int ms = remaining_ms(deadline);
    if (ms == 0) return 0;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, ms);
    if (n >= 0) return n > 0 ? 1 : 0;
    if (errno != EINTR) return -1;
  }
}

struct ParseState {
  Client::Result* result = nullptr;
  const Client::ChunkFn* on_chunk = nullptr;
  bool head = false;
  bool done = false;
  bool stopped = false;     // on_chunk returned false
  bool keep_alive = false;
  std::string field, value;
  std::exception_ptr error;  // thrown by on_chunk; rethrown outside llhttp's C frames
};

ParseState& st(llhttp_t* p) { return *static_cast<ParseState*>(p->data); }

const llhttp_settings_t* response_settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = [](llhttp_t* p) {
      st(p).result->headers.clear();
      st(p).result->body.clear();
      return 0;
    };
    s.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      st(p).field.append(at, n);
      return 0;
    };
    s.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      st(p).value.append(at, n);
      return 0;
    };
    s.on_header_value_complete = [](llhttp_t* p) {
      ParseState& s = st(p);
      while (!s.value.empty() && (s.value.back() == ' ' || s.value.back() == '\t')) s.value.pop_back();
      s.result->headers.push_back({std::move(s.field), std::move(s.value)});
      s.field.clear();
      s.value.clear();
      return 0;
    };
    s.on_headers_complete = [](llhttp_t* p) {
      st(p).result->status = p->status_code;
      return st(p).head ? 1 : 0;  // 1: a response to HEAD has no body, whatever it declares
    };
    s.on_body = [](llhttp_t* p, const char* at, size_t n) {
      ParseState& s = st(p);
      if (!s.on_chunk || p->status_code < 200) {
        s.result->body.append(at, n);
        return 0;
      }
      try {
        if ((*s.on_chunk)(std::string_view(at, n))) return 0;
      } catch (...) {
        s.error = std::current_exception();
      }
      s.stopped = true;
      return -1;
    };
    s.on_message_complete = [](llhttp_t* p) {
      ParseState& s = st(p);
      if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101)
        return 0;  // interim (100 Continue): the real response follows
      s.done = true;
      s.keep_alive = llhttp_should_keep_alive(p) != 0;
      return static_cast<int>(HPE_PAUSED);  // stop here: nothing after it belongs to us
    };
    return s;
  }();
  return &settings;
}

std::string sys_error(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// Why a request could not be sent whole. may_retry: nothing of it went out.
struct SendFailure {
  Client::Error error;
  std::string text;
  bool may_retry;
};

std::optional<SendFailure> send_all(int fd, const std::string& wire, Clock::time_point deadline) {
  for (size_t sent = 0; sent < wire.size();) {
    ssize_t n = ::send(fd, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int ready = wait_for(fd, POLLOUT, deadline);
      if (ready == 0) return SendFailure{Client::Error::Timeout, "timed out sending the request", false};
      if (ready < 0) return SendFailure{Client::Error::Io, sys_error("poll", errno), false};
      continue;
    }
    return SendFailure{Client::Error::Io, sys_error("send", errno), sent == 0};
  }
  return std::nullopt;
}

}  // namespace

Client Client::unix_socket(std::string path) {
  Client c;
  c.unix_ = true;
  c.path_ = std::move(path);
  return c;
}

Client Client::tcp(std::string host, uint16_t port) {
  Client c;
  c.host_ = std::move(host);
  c.port_ = port;
  return c;
}

Client::Client(Client&& o) noexcept { *this = std::move(o); }

Client& Client::operator=(Client&& o) noexcept {
  if (this != &o) {
    close();
    unix_ = o.unix_;
    path_ = std::move(o.path_);
    host_ = std::move(o.host_);
    port_ = o.port_;
    timeout_ = o.timeout_;
    fd_ = std::exchange(o.fd_, -1);
    connects_ = o.connects_;
  }
  return *this;
}

Client::~Client() { close(); }

void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Client::connect(Clock::time_point deadline, Result& r) {
  std::string where = unix_ ? path_ : host_ + ":" + std::to_string(port_);
  auto fail = [&](int err) {
    r.error = err == ETIMEDOUT ? Error::Timeout : Error::Connect;
    r.error_text = sys_error("connect(" + where + ")", err);
    close();
    return false;
  };
  if (unix_) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path_.size() >= sizeof sa.sun_path) return fail(ENAMETOOLONG);
    std::memcpy(sa.sun_path, path_.data(), path_.size());
    for (;;) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd_ < 0) return fail(errno);
      if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) break;
      int err = errno;
      // A full backlog on a unix socket is EAGAIN, not a wait: try again.
      if (err != EAGAIN || remaining_ms(deadline) == 0) return fail(err == EAGAIN ? ETIMEDOUT : err);
      close();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ++connects_;
    return true;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(port_);
  if (int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &res); rc != 0) {
    r.error = Error::Connect;
    r.error_text = "resolve(" + host_ + "): " + ::gai_strerror(rc);
    return false;
  }
  int err = ECONNREFUSED;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd_ = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd_ < 0) {
      err = errno;
      continue;
    }
    if (::connect(fd_, ai->ai_addr, ai->ai_addrlen) == 0) break;
    err = errno;
    if (err == EINPROGRESS) {
      int ready = wait_for(fd_, POLLOUT, deadline);
      socklen_t len = sizeof err;
      if (ready == 1 && ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) break;
      if (ready == 0) err = ETIMEDOUT;
    }
    close();
  }
  ::freeaddrinfo(res);
  if (fd_ < 0) return fail(err);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ++connects_;
  return true;
}

Client::Result Client::request(std::string_view method, std::string_view target, std::string_view body,
                               const std::vector<Header>& headers) {
  return run(method, target, body, headers, nullptr);
}

Client::Result Client::stream(std::string_view method, std::string_view target, std::string_view body,
                              const std::vector<Header>& headers, const ChunkFn& on_chunk) {
  return run(method, target, body, headers, &on_chunk);
}

Client::Result Client::run(std::string_view method, std::string_view target, std::string_view body,
                           const std::vector<Header>& headers, const ChunkFn* on_chunk) {
  std::string wire;
  wire.reserve(128 + body.size());
  wire.append(method).append(" ").append(target.empty() ? "/" : target).append(" HTTP/1.1\r\n");
  if (find_header(headers, "Host").empty()) {
    // Over the unix socket the name is arbitrary; "rack" matches the
    // documented curl --unix-socket http://rack/... form.
    bool v6 = host_.find(':') != std::string::npos;
    wire += unix_ ? "Host: rack\r\n"
                  : "Host: " + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_) + "\r\n";
  }
  if (find_header(headers, "User-Agent").empty()) wire += "User-Agent: rack-client\r\n";
  for (const Header& h : headers) {
    if (iequals(h.name, "Content-Length")) continue;
    wire.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
    wire += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  wire += "\r\n";
  wire += body;

  bool retry = false;
  Result r = attempt(wire, method == "HEAD", on_chunk, retry);
  if (retry) r = attempt(wire, method == "HEAD", on_chunk, retry);
  return r;
}

Client::Result Client::attempt(const std::string& wire, bool head, const ChunkFn* on_chunk, bool& retry) {
  Result r;
  auto deadline = Clock::now() + timeout_;
  bool reused = fd_ >= 0;
  retry = false;
  if (!reused && !connect(deadline, r)) return r;

  auto io_fail = [&](Error e, std::string text, bool may_retry) {
    r.error = e;
    r.error_text = std::move(text);
    close();
    // The server may close an idle keep-alive connection just as we reuse
    // it: then nothing of ours was processed and one retry is safe.
    retry = may_retry && reused;
    return r;
  };

  if (auto f = send_all(fd_, wire, deadline)) return io_fail(f->error, std::move(f->text), f->may_retry);

  ParseState state;
  state.result = &r;
  state.on_chunk = on_chunk;
  state.head = head;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_RESPONSE, response_settings());
  parser.data = &state;
  bool got_bytes = false;
  char buf[64 * 1024];
  while (!state.done) {
    // A stream's body may be silent for hours (logs -f): the deadline only
    // covers getting the response head.
    bool body_streaming = on_chunk && r.status >= 200;
    int ready = wait_for(fd_, POLLIN, body_streaming ? Clock::time_point::max() : deadline);
    if (ready == 0) return io_fail(Error::Timeout, "timed out waiting for the response", false);
    if (ready < 0) return io_fail(Error::Io, sys_error("poll", errno), false);
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return io_fail(Error::Io, sys_error("recv", errno), !got_bytes);
    }
    if (n == 0) {
      if (!got_bytes) return io_fail(Error::Io, "connection closed before a response", true);
      // A body delimited by the close is complete now; anything else is cut short.
      if (llhttp_finish(&parser) == HPE_OK && state.done) break;
      if (state.done) break;
      return io_fail(Error::Io, "connection closed before the response was complete", false);
    }
    got_bytes = true;
    llhttp_errno_t err = llhttp_execute(&parser, buf, static_cast<size_t>(n));
    if (state.error) {
      close();
      std::rethrow_exception(state.error);
    }
    if (state.stopped) {
      close();  // the rest of the body is still coming: this connection is spent
      return r;
    }
    if (err == HPE_PAUSED) {
      const char* pos = llhttp_get_error_pos(&parser);
      // Bytes after the response we asked for: the connection is out of step.
      if (pos && pos < buf + n) state.keep_alive = false;
      break;
    }
    if (err != HPE_OK)
      return io_fail(Error::Protocol, std::string("bad response: ") + llhttp_get_error_reason(&parser), false);
  }
  if (!state.keep_alive) close();
  return r;
}

}  // namespace rack::http
