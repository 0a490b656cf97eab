// rack::http::Server and Responder: the public face of the connections in
// http_connection.cc. The server itself owns no libuv handle — only its
// connections do — so it can be created and destroyed at any time on the
// loop thread.
#include <csignal>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "http_connection.h"

namespace rack::http {

using detail::Exchange;

// ---- Responder -------------------------------------------------------------

void Responder::send(Response response) {
  if (!token_) return;
  Exchange& ex = *token_->ex;
  if (ex.conn) ex.conn->respond(ex, std::move(response));
}

bool Responder::start_stream(int status, std::vector<Header> headers) {
  if (!token_) return false;
  Exchange& ex = *token_->ex;
  return ex.conn && ex.conn->start_stream(ex, status, std::move(headers));
}

bool Responder::write(std::string_view data) {
  if (!token_) return false;
  Exchange& ex = *token_->ex;
  return ex.conn && ex.conn->write_stream(ex, data);
}

void Responder::end() {
  if (!token_) return;
  Exchange& ex = *token_->ex;
  if (ex.conn) ex.conn->end_stream(ex);
}

bool Responder::alive() const { return token_ && token_->ex->conn != nullptr; }

bool Responder::responded() const {
  return token_ && token_->ex->phase != Exchange::Phase::Waiting;
}

std::size_t Responder::buffered_bytes() const {
  if (!token_ || !token_->ex->conn) return 0;
  const Exchange& ex = *token_->ex;
  return ex.out.size() + ex.conn->write_queue_bytes();
}

void Responder::on_close(std::function<void()> fn) {
  if (!token_ || !fn) return;
  Exchange& ex = *token_->ex;
  if (ex.conn)
    ex.close_hooks.push_back(std::move(fn));
  else if (ex.phase != Exchange::Phase::Done)
    fn();  // already gone: the caller's cleanup must still run
}

namespace detail {

ResponderToken::~ResponderToken() {
  if (!ex || !ex->conn) return;
  try {
    if (ex->phase == Exchange::Phase::Waiting) {
      spdlog::warn("http: {} {}: handler dropped the request without answering; sent 500",
                   ex->request.method, ex->request.path);
      ex->conn->respond(*ex, Response::error(500, "the handler did not answer"));
    } else if (ex->phase == Exchange::Phase::Streaming) {
      ex->conn->end_stream(*ex);
    }
  } catch (...) {
    // A destructor must not throw; the connection will time out or close.
  }
}

// ---- ServerState -----------------------------------------------------------

void ServerState::connection_closed(Connection* c) {
  connections.erase(c);
  if (on_connection_closed) on_connection_closed();
  maybe_finish_drain();
}

void ServerState::maybe_finish_drain() {
  if (!draining || drain_done_called || !connections.empty()) return;
  drain_done_called = true;
  if (drain_hooks.done) drain_hooks.done();
}

bool ServerState::hand_back(int fd) {
  if (!drain_hooks.hand_back) return false;
  try {
    return drain_hooks.hand_back(fd);
  } catch (const std::exception& e) {
    spdlog::error("http: hand_back hook threw: {}", e.what());
    return false;
  }
}

}  // namespace detail

// ---- Server ----------------------------------------------------------------

Server::Server(uv_loop_t* loop, Handler handler, Limits limits)
    : state_(std::make_unique<detail::ServerState>()) {
  state_->loop = loop;
  state_->handler = std::move(handler);
  state_->limits = limits;
  // libuv writes to sockets with write(2), not send(MSG_NOSIGNAL): a peer
  // that resets mid-response would raise SIGPIPE and kill the process.
  std::signal(SIGPIPE, SIG_IGN);
}

Server::~Server() {
  close_all();
  // Close callbacks run on a later loop turn; they must not reach back here.
  for (detail::Connection* c : state_->connections) c->detach_server();
}

bool Server::adopt(int fd) {
  if (fd < 0) return false;
  if (state_->draining) {
    // Raced with drain() (a connection already on its way to us): it is
    // fresh and unread, so it can go straight back.
    bool handed = state_->hand_back(fd);
    ::close(fd);
    spdlog::debug("http: fd {} adopted while draining: {}", fd, handed ? "handed back" : "closed");
    return false;
  }
  const Limits& l = state_->limits;
  std::size_t open = state_->connections.size();
  bool refuse = l.max_connections != 0 && open >= l.max_connections;
  if (refuse && open >= l.max_connections + l.max_connections / 8 + 8) {
    ::close(fd);  // even the 503 would cost more than we give
    return false;
  }
  detail::Connection::start(state_.get(), fd, refuse);
  return true;
}

void Server::on_complete(CompletionHook hook) { state_->on_complete = std::move(hook); }
void Server::on_connection_closed(std::function<void()> hook) { state_->on_connection_closed = std::move(hook); }

void Server::drain(DrainHooks hooks) {
  if (state_->draining) return;
  state_->draining = true;
  state_->drain_hooks = std::move(hooks);
  // Copy: handing back closes connections, and a resumed parse could run a
  // handler that adopts a new one.
  std::vector<detail::Connection*> conns(state_->connections.begin(), state_->connections.end());
  for (detail::Connection* c : conns)
    if (state_->connections.count(c)) c->begin_drain();
  state_->maybe_finish_drain();
}

bool Server::draining() const { return state_->draining; }

void Server::close_all() {
  std::vector<detail::Connection*> conns(state_->connections.begin(), state_->connections.end());
  for (detail::Connection* c : conns)
    if (state_->connections.count(c)) c->abort();
}

std::size_t Server::active_connections() const { return state_->connections.size(); }
uint64_t Server::requests_served() const { return state_->served; }
const Limits& Server::limits() const { return state_->limits; }
uv_loop_t* Server::loop() const { return state_->loop; }

}  // namespace rack::http
