// The request side of a connection: bytes → llhttp → Request → handler.
//
// Limits are enforced inside the callbacks, before memory is spent: target
// and header bytes are counted as they arrive (414/431), a declared
// Content-Length is checked at the end of the headers and a de-chunked body
// as it grows (413). A callback records the status in fail_status_ and
// returns -1; feed() then answers it once llhttp has returned.
//
// Handlers run inside on_message_complete, i.e. inside llhttp_execute. They
// may answer, close or even destroy the server right there, so every path
// back into llhttp checks that the connection is still open and pauses the
// parser (HPE_PAUSED) otherwise.
#include <spdlog/spdlog.h>

#include "http_connection.h"

namespace rack::http::detail {

namespace {

Connection* self(llhttp_t* p) { return static_cast<Connection*>(p->data); }

}  // namespace

struct ParserCallbacks {
  static int message_begin(llhttp_t* p) { return self(p)->on_message_begin(); }
  static int url(llhttp_t* p, const char* at, size_t n) { return self(p)->on_url(at, n); }
  static int field(llhttp_t* p, const char* at, size_t n) { return self(p)->on_header_field(at, n); }
  static int value(llhttp_t* p, const char* at, size_t n) { return self(p)->on_header_value(at, n); }
  static int value_complete(llhttp_t* p) {
    self(p)->finish_header();
    return 0;
  }
  static int headers_complete(llhttp_t* p) { return self(p)->on_headers_complete(); }
  static int body(llhttp_t* p, const char* at, size_t n) { return self(p)->on_body(at, n); }
  static int message_complete(llhttp_t* p) { return self(p)->on_message_complete(); }

  static const llhttp_settings_t* get() {
    static const llhttp_settings_t settings = [] {
      llhttp_settings_t s;
      llhttp_settings_init(&s);
      s.on_message_begin = message_begin;
      s.on_url = url;
      s.on_header_field = field;
      s.on_header_value = value;
      s.on_header_value_complete = value_complete;
      s.on_headers_complete = headers_complete;
      s.on_body = body;
      s.on_message_complete = message_complete;
      return s;
    }();
    return &settings;
  }
};
void Connection::init_parser() {
  llhttp_init(&parser_, HTTP_REQUEST, ParserCallbacks::get());
  parser_.data = this;
}

void Connection::feed(const char* data, size_t len) {
  if (state_ != State::Open || no_more_requests_) return;
  llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  if (state_ != State::Open) return;
  if (err == HPE_OK) return;
  if (err == HPE_PAUSED) {
    // We paused in on_message_complete (pipeline full, write back-pressure,
    // or a request that ends the connection). Keep the rest for later.
    const char* pos = llhttp_get_error_pos(&parser_);
    llhttp_resume(&parser_);
    if (!no_more_requests_ && pos && pos >= data && pos < data + len)
      pending_in_.assign(pos, static_cast<size_t>(data + len - pos));
    return;
  }
  if (err == HPE_PAUSED_UPGRADE) {
    no_more_requests_ = true;  // the bytes after it are another protocol
    return;
  }
  if (fail_status_ == 413)
    fail(413, "request body larger than " + std::to_string(server_->limits.max_body_bytes) + " bytes");
  else if (fail_status_ == 414)
    fail(414, "request target too long");
  else if (fail_status_ == 431)
    fail(431, "request headers larger than " + std::to_string(server_->limits.max_header_bytes) + " bytes");
  else
    fail(400, std::string("bad request: ") + llhttp_get_error_reason(&parser_));
}

// ---- parser callbacks ------------------------------------------------------

int Connection::on_message_begin() {
  in_message_ = true;
  headers_done_ = false;
  field_.clear();
  value_.clear();
  header_bytes_ = 0;
  fail_status_ = 0;
  current_ = std::make_shared<Exchange>();
  current_->conn = this;
  current_->request.peer_ip = peer_ip_;
  // The first request's clock starts at accept: a client that connects and
  // then trickles bytes must not get two header timeouts.
  uint64_t from = served_any_ ? uv_now(server_->loop) : opened_ms_;
  header_deadline_ms_ = from + server_->limits.header_timeout_ms;
  uint64_t whole = server_->limits.request_timeout_ms;
  request_deadline_ms_ = whole ? from + whole : 0;
  return 0;
}

bool Connection::count_header_bytes(size_t len, int status) {
  header_bytes_ += len;
  if (header_bytes_ <= server_->limits.max_header_bytes) return true;
  fail_status_ = status;
  return false;
}

int Connection::on_url(const char* at, size_t len) {
  if (!current_) return -1;
  if (!count_header_bytes(len, 414)) return -1;
  current_->request.target.append(at, len);
  return 0;
}

int Connection::on_header_field(const char* at, size_t len) {
  if (!current_) return -1;
  if (!count_header_bytes(len + 4, 431)) return -1;  // +4: ": " and CRLF
  if (!headers_done_) field_.append(at, len);      // trailers are dropped
  return 0;
}

int Connection::on_header_value(const char* at, size_t len) {
  if (!current_) return -1;
  if (!count_header_bytes(len, 431)) return -1;
  if (!headers_done_) value_.append(at, len);
  return 0;
}

void Connection::finish_header() {
  if (headers_done_ || !current_) return;
  while (!value_.empty() && (value_.back() == ' ' || value_.back() == '\t')) value_.pop_back();
  current_->request.headers.push_back({std::move(field_), std::move(value_)});
  field_.clear();
  value_.clear();
}

int Connection::on_headers_complete() {
  if (!current_) return -1;
  headers_done_ = true;
  Exchange& ex = *current_;
  Request& r = ex.request;
  r.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
  r.version_minor = parser_.http_major == 1 ? parser_.http_minor : 0;
  split_target(r.target, r.path, r.query);
  ex.head = parser_.method == HTTP_HEAD;
  ex.started_ns = uv_hrtime();
  const Limits& l = server_->limits;
  if (parser_.content_length > l.max_body_bytes) {
    fail_status_ = 413;
    return -1;
  }
  if (parser_.content_length > 0) r.body.reserve(parser_.content_length);
  // curl and others wait up to a second for this before sending a body.
  // Only when nothing is queued ahead of it: interim responses obey request
  // order like any other bytes.
  if (r.version_minor >= 1 && pipeline_.empty() && iequals(r.header("Expect"), "100-continue"))
    write_bytes("HTTP/1.1 100 Continue\r\n\r\n");
  // The write can fail and close us (peer reset): llhttp must not go on
  // into the body of a request that no longer exists.
  return state_ == State::Open ? 0 : static_cast<int>(HPE_PAUSED);
}

int Connection::on_body(const char* at, size_t len) {
  if (!current_) return -1;
  std::string& body = current_->request.body;
  if (body.size() + len > server_->limits.max_body_bytes) {
    fail_status_ = 413;
    return -1;
  }
  body.append(at, len);
  return 0;
}

int Connection::on_message_complete() {
  if (!current_) return -1;
  std::shared_ptr<Exchange> ex = std::move(current_);
  in_message_ = false;
  ex->request.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
  if (parser_.upgrade) {
    force_close_ = true;
    ex->request.keep_alive = false;
  }
  if (!ex->request.keep_alive) no_more_requests_ = true;
  served_any_ = true;
  dispatch(std::move(ex));
  if (state_ != State::Open || no_more_requests_ || !server_) return HPE_PAUSED;
  const Limits& l = server_->limits;
  if (pipeline_.size() >= l.max_pipelined || write_queue_bytes() > l.max_write_buffer) return HPE_PAUSED;
  return 0;
}

// ---- dispatch and responses ------------------------------------------------

void Connection::dispatch(std::shared_ptr<Exchange> ex) {
  pipeline_.push_back(ex);
  Exchange& e = *ex;
  // Our own copy lives through the call, so a throwing handler's unwinding
  // does not look like "dropped without an answer".
  Responder res(std::make_shared<ResponderToken>(std::move(ex)));
  if (refuse_) {
    no_more_requests_ = true;
    Response busy = Response::error(503, "too many connections (" + std::to_string(server_->limits.max_connections) +
                                             "); try again shortly");
    busy.set("Connection", "close");
    busy.set("Retry-After", "1");
    return res.send(std::move(busy));
  }
  if (!server_->handler) return res.send(Response::error(500, "no handler"));
  try {
    server_->handler(e.request, res);
  } catch (const std::exception& err) {
    spdlog::error("http: handler for {} {} threw: {}", e.request.method, e.request.path, err.what());
    if (e.conn == this) respond(e, Response::error(500, "internal error"));
  } catch (...) {
    spdlog::error("http: handler for {} {} threw", e.request.method, e.request.path);
    if (e.conn == this) respond(e, Response::error(500, "internal error"));
  }
}

void Connection::fail(int status, std::string_view message) {
  no_more_requests_ = true;
  force_close_ = true;
  std::shared_ptr<Exchange> ex = current_ ? std::move(current_) : std::make_shared<Exchange>();
  in_message_ = false;
  ex->conn = this;
  ex->request.keep_alive = false;
  ex->request.peer_ip = peer_ip_;
  if (ex->started_ns == 0) ex->started_ns = uv_hrtime();
  pipeline_.push_back(ex);
  respond(*ex, Response::error(status, message));
  update_reading();
}
}  // namespace rack::http::detail
