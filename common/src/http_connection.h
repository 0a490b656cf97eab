// Internal to the HTTP server: one connection, its exchanges, and the state
// the Server shares with them. Not installed; include only from http_*.cc.
#pragma once

#include <llhttp.h>
#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "rack/http.h"

namespace rack::http::detail {

class Connection;

// One request and its response. Owned jointly by the connection's pipeline
// (until the response is handed to the socket) and by the Responder token.
struct Exchange {
  enum class Phase { Waiting, Streaming, Done };

  Connection* conn = nullptr;  // null once this exchange can no longer be answered
  Request request;
  uint64_t started_ns = 0;     // uv_hrtime() at the end of the headers
  Phase phase = Phase::Waiting;
  int status = 0;
  bool head = false;           // HEAD: the body is computed but never sent
  bool body_allowed = true;    // false for 1xx/204/304 and HEAD
  bool chunked = false;
  bool close_after = false;    // decided when the head is serialized
  std::string out;             // serialized bytes not yet given to the socket
  std::vector<std::function<void()>> close_hooks;
};

// What Responder copies share. Its destructor is how we notice that every
// copy is gone: an unanswered exchange then gets a 500, a stream is ended.
struct ResponderToken {
  explicit ResponderToken(std::shared_ptr<Exchange> e) : ex(std::move(e)) {}
  ~ResponderToken();
  std::shared_ptr<Exchange> ex;
};

struct ServerState {
  uv_loop_t* loop;
  Handler handler;
  Limits limits;
  CompletionHook on_complete;
  std::function<void()> on_connection_closed;
  std::unordered_set<Connection*> connections;  // until each one's handles are closed
  uint64_t served = 0;
  bool draining = false;
  bool drain_done_called = false;
  DrainHooks drain_hooks;
  // One read buffer for every connection: a read callback consumes its
  // bytes before the loop allocates for the next one.
  std::vector<char> read_buffer = std::vector<char>(64 * 1024);

  void connection_closed(Connection* c);
  void maybe_finish_drain();
  bool hand_back(int fd);
};

class Connection {
 public:
  // Starts serving `fd` (ownership passes in all cases). The object deletes
  // itself once its handles are closed.
  // `refuse`: over Limits::max_connections: every request gets a 503.
  static void start(ServerState* server, int fd, bool refuse = false);

  // Responder side.
  void respond(Exchange& ex, Response&& response);
  bool start_stream(Exchange& ex, int status, std::vector<Header>&& headers);
  bool write_stream(Exchange& ex, std::string_view data);
  void end_stream(Exchange& ex);
  std::size_t write_queue_bytes() const;

  // Server side.
  void begin_drain();
  void abort();                  // close now; unanswered exchanges are told
  void detach_server() { server_ = nullptr; }

 private:
  enum class State { Open, Closing, Closed };

  explicit Connection(ServerState* server) : server_(server) {}
  void open(int fd);

  // Request parsing (http_request_parser.cc); llhttp's static callbacks
  // in ParserCallbacks forward to these members.
  friend struct ParserCallbacks;
  void init_parser();
  int on_message_begin();
  int on_url(const char* at, size_t len);
  int on_header_field(const char* at, size_t len);
  int on_header_value(const char* at, size_t len);
  int on_headers_complete();
  int on_body(const char* at, size_t len);
  int on_message_complete();
  bool count_header_bytes(size_t len, int status);
  void finish_header();

  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_timer(uv_timer_t* t);
  static void on_handle_closed(uv_handle_t* h);

  void feed(const char* data, size_t len);
  void dispatch(std::shared_ptr<Exchange> ex);
  void fail(int status, std::string_view message);
  void emit(Exchange& ex, std::string&& bytes);
  void flush();
  void write_bytes(std::string&& bytes);
  bool decide_close(const Exchange& ex, bool handler_asked_close) const;
  void resume();
  bool idle() const;
  void hand_back();
  void update_reading();
  void arm_timer();
  void close_gracefully();
  void abandon_pipeline();  // unanswered exchanges: mark dead, run on_close hooks

  ServerState* server_;
  State state_ = State::Open;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } io_{};
  uv_timer_t timer_{};
  uv_shutdown_t shutdown_req_{};
  int open_handles_ = 0;
  bool io_open_ = false;  // io_ was initialised (and must be closed)
  bool reading_ = false;
  std::string peer_ip_;
  uint64_t opened_ms_ = 0;

  llhttp_t parser_{};
  std::shared_ptr<Exchange> current_;  // being parsed
  bool in_message_ = false;
  bool headers_done_ = false;
  bool in_header_value_ = false;
  std::string field_, value_;
  size_t header_bytes_ = 0;
  uint64_t header_deadline_ms_ = 0;
  uint64_t request_deadline_ms_ = 0;  // Limits::request_timeout_ms; 0 = none
  bool refuse_ = false;
  int fail_status_ = 0;                // chosen inside a parser callback
  bool served_any_ = false;

  std::deque<std::shared_ptr<Exchange>> pipeline_;  // dispatched, in request order
  std::string pending_in_;      // bytes after a parser pause, parsed on resume
  bool no_more_requests_ = false;  // a close was decided: parse nothing further
  bool force_close_ = false;       // protocol error or upgrade: close after answers
  bool read_eof_ = false;
};

}  // namespace rack::http::detail
