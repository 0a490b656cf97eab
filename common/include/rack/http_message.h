// HTTP/1.1 messages as values: what a handler reads and what it answers,
// and the wire format the server and the client share.
//
//   rack::http::Response r = rack::http::Response::json(200, R"({"ok":true})");
//   r.set("Cache-Control", "no-store");
//   std::string wire = rack::http::serialize_response(r, {.keep_alive = true});
//
// The server owns framing: Content-Length, Transfer-Encoding and Connection
// are computed from the exchange, so a handler's own values for those three
// are dropped (except "Connection: close", which the server honours).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rack::http {

struct Header {
  std::string name;
  std::string value;
};

// ASCII case-insensitive comparison (header names, tokens).
bool iequals(std::string_view a, std::string_view b);

// Value of the first header called `name` (any case); "" when absent.
std::string_view find_header(const std::vector<Header>& headers, std::string_view name);

struct Request {
  std::string method;          // "GET"
  std::string target;          // as sent: "/users/7?full=1"
  std::string path;            // "/users/7" (still percent-encoded)
  std::string query;           // "full=1" (without '?')
  int version_minor = 1;       // HTTP/1.<minor>
  std::vector<Header> headers;
  std::string body;            // de-chunked
  bool keep_alive = true;      // what the client asked for
  std::string peer_ip;         // "" for unix-socket peers
  std::map<std::string, std::string, std::less<>> params;  // set by the router
  std::string route;           // pattern the router matched; "" = none

  std::string_view header(std::string_view name) const { return find_header(headers, name); }
  // Route parameter (":id" → "id", trailing "*" → "*"); "" when absent.
  std::string_view param(std::string_view name) const;
  // First `name=value` in the query string, percent-decoded ('+' is a space).
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<Header> headers;
  std::string body;

  // Replaces any header of that name (any case).
  Response& set(std::string name, std::string value);
  std::string_view header(std::string_view name) const { return find_header(headers, name); }

  static Response json(int status, std::string body);
  static Response text(int status, std::string body);
  // {"error":"<message>"} — the body every Rack component uses for failures.
  static Response error(int status, std::string_view message);
};

// "OK", "Not Found", …; "Unknown" for codes without a registered phrase.
const char* reason_phrase(int status);

// 1xx, 204 and 304 responses never carry a body (RFC 9110 §6.4.1).
bool status_allows_body(int status);

std::string percent_decode(std::string_view s, bool plus_is_space);

// Splits an origin-form or absolute-form request target into path and query.
// "*" (OPTIONS *) stays "*".
void split_target(std::string_view target, std::string& path, std::string& query);

// How the body of a response is delimited on the wire.
enum class Framing { Length, Chunked, UntilClose };

struct HeadOptions {
  Framing framing = Framing::Length;
  std::size_t content_length = 0;  // for Framing::Length
  bool keep_alive = true;          // false → "Connection: close"
  bool http10 = false;             // HTTP/1.0 peer: keep-alive must be announced
  bool date = true;                // add a Date header
};

// Appends the status line and headers (ending with the blank line) to `out`.
// CR and LF inside names or values are replaced by spaces: a handler cannot
// split a response by echoing client input into a header.
void serialize_head(std::string& out, int status, const std::vector<Header>& headers,
                    const HeadOptions& options);

struct ResponseOptions {
  bool head_request = false;  // HEAD: headers (with the GET length) but no body
  bool keep_alive = true;
  bool http10 = false;
  bool date = true;
};

std::string serialize_response(const Response& response, const ResponseOptions& options);

// One chunk of a chunked body. Empty data appends nothing: an empty chunk
// would end the body.
void append_chunk(std::string& out, std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace rack::http
