// One HTTP/1.1 connection: read → llhttp → dispatch → ordered writes → close.
//
// Life of a connection
//   Open     reading and parsing; requests go into `pipeline_` in arrival
//            order and to the handler at once. Responses may be produced in
//            any order; only the front exchange writes, the others keep their
//            bytes in Exchange::out until they reach the front.
//   Closing  we decided to close after a response: FIN sent (uv_shutdown),
//            the client's remaining bytes are read and dropped until it
//            closes too or linger_ms passes. Closing at once with unread
//            bytes would make the kernel answer with RST, which can destroy
//            the response before the client has read it (a 413 especially).
//   Closed   handles closing; the object deletes itself when both are.
//
// Reading stops (back-pressure) when the pipeline is full, when unsent
// response bytes pile up, after a request that ends the connection, and
// during drain until the connection is known not to be idle.
#include "http_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

namespace rack::http::detail {

namespace {

struct WriteReq {
  uv_write_t req;
  Connection* conn;
  std::string data;
};

std::string peer_ip_of(int fd) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return {};
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&a)->sin_addr, buf, sizeof buf);
  } else if (a.ss_family == AF_INET6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&a);
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
      ::inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], buf, sizeof buf);
    else
      ::inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

}  // namespace

// ---- setup and teardown ----------------------------------------------------

void Connection::start(ServerState* server, int fd, bool refuse) {
  auto* c = new Connection(server);
  c->refuse_ = refuse;
  server->connections.insert(c);
  c->open(fd);
}

void Connection::open(int fd) {
  uv_loop_t* loop = server_->loop;
  opened_ms_ = uv_now(loop);
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  ++open_handles_;

  sockaddr_storage addr{};
  socklen_t alen = sizeof addr;
  int type = 0;
  socklen_t tlen = sizeof type;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0 ||
      ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM) {
    spdlog::warn("http: refusing fd {}: not a connected stream socket", fd);
    ::close(fd);
    abort();
    return;
  }
  int rc;
  if (addr.ss_family == AF_UNIX) {
    uv_pipe_init(loop, &io_.pipe, 0);
    io_.handle.data = this;
    ++open_handles_;
    io_open_ = true;
    rc = uv_pipe_open(&io_.pipe, fd);
  } else {
    uv_tcp_init(loop, &io_.tcp);
    io_.handle.data = this;
    ++open_handles_;
    io_open_ = true;
    rc = uv_tcp_open(&io_.tcp, fd);
    if (rc == 0) {
      // Responses are written whole; Nagle would only delay the last segment.
      uv_tcp_nodelay(&io_.tcp, 1);
      peer_ip_ = peer_ip_of(fd);
    }
  }
  if (rc != 0) {
    spdlog::warn("http: cannot serve fd {}: {}", fd, uv_strerror(rc));
    ::close(fd);  // the handle did not take it
    abort();
    return;
  }
  init_parser();
  update_reading();
  arm_timer();
}

void Connection::abort() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  reading_ = false;
  current_.reset();
  pending_in_.clear();
  abandon_pipeline();
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_)))
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_handle_closed);
  if (io_open_ && !uv_is_closing(&io_.handle)) uv_close(&io_.handle, on_handle_closed);
}

void Connection::abandon_pipeline() {
  // Mark every unanswered exchange dead before running any hook: a hook may
  // drop the last Responder, and its destructor must then see no connection.
  auto pending = std::move(pipeline_);
  pipeline_.clear();
  for (auto& ex : pending) ex->conn = nullptr;
  for (auto& ex : pending) {
    for (auto& hook : std::exchange(ex->close_hooks, {})) {
      try {
        hook();
      } catch (const std::exception& e) {
        spdlog::error("http: on_close hook threw: {}", e.what());
      }
    }
  }
}

void Connection::on_handle_closed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  if (--c->open_handles_ > 0) return;
  if (c->server_) c->server_->connection_closed(c);
  delete c;
}

void Connection::close_gracefully() {
  if (state_ != State::Open) return;
  // Only exchanges behind a "Connection: close" response can still be here;
  // they will never be answered.
  abandon_pipeline();
  if (state_ != State::Open) return;
  state_ = State::Closing;
  no_more_requests_ = true;
  current_.reset();
  pending_in_.clear();
  uv_timer_start(&timer_, on_timer, server_ ? server_->limits.linger_ms : 0, 0);
  shutdown_req_.data = this;
  if (uv_shutdown(&shutdown_req_, &io_.stream, on_shutdown) != 0) abort();
}

void Connection::on_shutdown(uv_shutdown_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  if (status == UV_ECANCELED || c->state_ == State::Closed) return;
  if (status < 0 || c->read_eof_) return c->abort();
  if (!c->reading_ && uv_read_start(&c->io_.stream, on_alloc, on_read) == 0) c->reading_ = true;
}

void Connection::hand_back() {
  if (reading_) {
    uv_read_stop(&io_.stream);
    reading_ = false;
  }
  uv_os_fd_t fd = -1;
  bool handed = uv_fileno(&io_.handle, &fd) == 0 && server_ && server_->hand_back(fd);
  spdlog::debug("http: idle connection fd {} {}", fd, handed ? "handed back" : "closed (drain)");
  abort();
}

void Connection::begin_drain() {
  if (state_ != State::Open) return;
  // Stop reading first, then look: once reading is off nothing new can land
  // in our buffers, so "idle" stays true until the fd has left.
  if (reading_) {
    uv_read_stop(&io_.stream);
    reading_ = false;
  }
  if (idle()) return hand_back();
  update_reading();
}

bool Connection::idle() const {
  return state_ == State::Open && pipeline_.empty() && !in_message_ && pending_in_.empty() &&
         write_queue_bytes() == 0 && !read_eof_;
}

// ---- reading ---------------------------------------------------------------

void Connection::update_reading() {
  if (state_ != State::Open || !server_) return;
  const Limits& l = server_->limits;
  bool want = !no_more_requests_ && !read_eof_ && pending_in_.empty() &&
              pipeline_.size() < l.max_pipelined && write_queue_bytes() <= l.max_write_buffer;
  if (want && !reading_) {
    if (uv_read_start(&io_.stream, on_alloc, on_read) == 0) reading_ = true;
  } else if (!want && reading_) {
    uv_read_stop(&io_.stream);
    reading_ = false;
  }
}

void Connection::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(h->data);
  static thread_local char spare[4096];  // only after the server is gone
  if (c->server_)
    *buf = uv_buf_init(c->server_->read_buffer.data(), c->server_->read_buffer.size());
  else
    *buf = uv_buf_init(spare, sizeof spare);
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (c->state_ == State::Closing) {
    if (nread < 0) c->abort();  // the client closed too: done lingering
    return;
  }
  if (c->state_ != State::Open || nread == 0) return;
  if (nread > 0) {
    c->feed(buf->base, static_cast<size_t>(nread));
    if (c->state_ == State::Open) {
      c->update_reading();
      c->arm_timer();
    }
    return;
  }
  if (nread != UV_EOF) return c->abort();
  // EOF may be a half-close: a client that sent its requests and shut down
  // its side still gets the answers. A partial request can never finish.
  // A stream (logs -f) has no end to wait for: its client left, and the
  // producer learns it now through on_close rather than at its next write.
  c->read_eof_ = true;
  c->update_reading();
  bool streaming = std::any_of(c->pipeline_.begin(), c->pipeline_.end(),
                               [](const auto& ex) { return ex->phase == Exchange::Phase::Streaming; });
  if (c->in_message_ || c->pipeline_.empty() || streaming) c->abort();
}

void Connection::resume() {
  if (state_ != State::Open || !server_) return;
  const Limits& l = server_->limits;
  if (!pending_in_.empty() && !no_more_requests_ && pipeline_.size() < l.max_pipelined &&
      write_queue_bytes() <= l.max_write_buffer) {
    std::string data = std::move(pending_in_);
    pending_in_.clear();
    feed(data.data(), data.size());
  }
  update_reading();
  arm_timer();
}

bool Connection::decide_close(const Exchange& ex, bool handler_asked_close) const {
  if (!ex.request.keep_alive || force_close_ || handler_asked_close) return true;
  // Draining: the last answer we owe this client says goodbye. Not while a
  // further request is half-read: it would be lost; it says goodbye itself.
  return server_ && server_->draining && !in_message_ && pipeline_.back().get() == &ex;
}

void Connection::respond(Exchange& ex, Response&& r) {
  if (ex.phase != Exchange::Phase::Waiting || ex.conn != this || state_ == State::Closed) return;
  ex.status = r.status;
  ex.close_after = decide_close(ex, iequals(r.header("Connection"), "close"));
  if (ex.close_after) no_more_requests_ = true;
  ex.phase = Exchange::Phase::Done;
  emit(ex, serialize_response(r, {.head_request = ex.head,
                                  .keep_alive = !ex.close_after,
                                  .http10 = ex.request.version_minor == 0}));
}

bool Connection::start_stream(Exchange& ex, int status, std::vector<Header>&& headers) {
  if (ex.phase != Exchange::Phase::Waiting || ex.conn != this || state_ == State::Closed) return false;
  bool http10 = ex.request.version_minor == 0;
  bool has_body = status_allows_body(status);
  ex.status = status;
  ex.chunked = has_body && !http10;
  ex.body_allowed = has_body && !ex.head;
  Framing framing = !has_body ? Framing::Length : http10 ? Framing::UntilClose : Framing::Chunked;
  // Without chunked encoding only the close can mark the end of the body.
  ex.close_after = decide_close(ex, iequals(find_header(headers, "Connection"), "close")) ||
                   (framing == Framing::UntilClose && ex.body_allowed);
  if (ex.close_after) no_more_requests_ = true;
  ex.phase = Exchange::Phase::Streaming;
  std::string out;
  serialize_head(out, status, headers, {.framing = framing, .keep_alive = !ex.close_after, .http10 = http10});
  emit(ex, std::move(out));
  return state_ != State::Closed;
}

bool Connection::write_stream(Exchange& ex, std::string_view data) {
  if (ex.phase != Exchange::Phase::Streaming || ex.conn != this || state_ == State::Closed) return false;
  if (!ex.body_allowed || data.empty()) return true;
  std::string out;
  if (ex.chunked)
    append_chunk(out, data);
  else
    out.assign(data);
  emit(ex, std::move(out));
  return state_ != State::Closed;
}

void Connection::end_stream(Exchange& ex) {
  if (ex.phase != Exchange::Phase::Streaming || ex.conn != this) return;
  ex.phase = Exchange::Phase::Done;
  emit(ex, ex.chunked && ex.body_allowed ? std::string(kLastChunk) : std::string());
}

void Connection::emit(Exchange& ex, std::string&& bytes) {
  if (ex.out.empty())
    ex.out = std::move(bytes);
  else
    ex.out += bytes;
  if (!pipeline_.empty() && pipeline_.front().get() == &ex) flush();
}

void Connection::flush() {
  while (state_ == State::Open && !pipeline_.empty()) {
    Exchange& ex = *pipeline_.front();
    if (!ex.out.empty()) {
      write_bytes(std::exchange(ex.out, {}));
      if (state_ != State::Open) return;
    }
    if (ex.phase != Exchange::Phase::Done) return;
    std::shared_ptr<Exchange> done = std::move(pipeline_.front());
    pipeline_.pop_front();
    done->conn = nullptr;
    done->close_hooks.clear();
    if (server_) {
      ++server_->served;
      if (server_->on_complete) {
        try {
          server_->on_complete(done->request, done->status,
                               std::chrono::nanoseconds(uv_hrtime() - done->started_ns));
        } catch (const std::exception& e) {
          spdlog::error("http: completion hook threw: {}", e.what());
        }
      }
    }
    if (done->close_after) return close_gracefully();
  }
  if (state_ != State::Open || !pipeline_.empty()) return;
  if (read_eof_) return close_gracefully();
  if (server_ && server_->draining && idle()) return hand_back();
  resume();
}

void Connection::write_bytes(std::string&& bytes) {
  if (state_ == State::Closed || bytes.empty()) return;
  // Most responses fit in the socket buffer: write them now and skip the
  // request allocation. Only with nothing queued, or bytes would reorder.
  if (uv_stream_get_write_queue_size(&io_.stream) == 0) {
    uv_buf_t b = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
    int n = uv_try_write(&io_.stream, &b, 1);
    if (n == static_cast<int>(bytes.size())) return;
    if (n > 0) {
      bytes.erase(0, static_cast<size_t>(n));
    } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
      spdlog::debug("http: write failed: {}", uv_strerror(n));
      return abort();
    }
  }
  auto* w = new WriteReq{{}, this, std::move(bytes)};
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  if (int rc = uv_write(&w->req, &io_.stream, &b, 1, on_write); rc != 0) {
    delete w;
    spdlog::debug("http: write failed: {}", uv_strerror(rc));
    abort();
  }
}

void Connection::on_write(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  Connection* c = w->conn;
  delete w;
  if (status == UV_ECANCELED || c->state_ != State::Open) return;
  if (status < 0) return c->abort();
  if (c->pipeline_.empty() && c->server_ && c->server_->draining && c->idle()) return c->hand_back();
  c->resume();  // back-pressure may have stopped reading
}

std::size_t Connection::write_queue_bytes() const {
  return state_ == State::Closed ? 0 : uv_stream_get_write_queue_size(&io_.stream);
}

// ---- timers ----------------------------------------------------------------

void Connection::arm_timer() {
  if (state_ != State::Open || !server_) return;
  const Limits& l = server_->limits;
  uint64_t now = uv_now(server_->loop);
  uint64_t ms;
  if (in_message_ && !headers_done_) {
    ms = header_deadline_ms_ > now ? header_deadline_ms_ - now : 0;
  } else if (in_message_) {
    ms = l.body_timeout_ms;
  } else if (pipeline_.empty()) {
    uint64_t first_deadline = opened_ms_ + l.header_timeout_ms;
    ms = served_any_ ? l.idle_timeout_ms : (first_deadline > now ? first_deadline - now : 0);
  } else {
    uv_timer_stop(&timer_);  // waiting for the handler: its business, not ours
    return;
  }
  if (in_message_ && request_deadline_ms_ != 0)
    ms = std::min(ms, request_deadline_ms_ > now ? request_deadline_ms_ - now : 0);
  uv_timer_start(&timer_, on_timer, ms, 0);
}

void Connection::on_timer(uv_timer_t* t) {
  auto* c = static_cast<Connection*>(t->data);
  if (c->state_ == State::Closing) return c->abort();  // linger is over
  if (c->state_ != State::Open) return;
  if (c->in_message_) return c->fail(408, "request timeout");
  if (c->pipeline_.empty()) c->close_gracefully();  // idle keep-alive, or never sent a request
}
}  // namespace rack::http::detail
