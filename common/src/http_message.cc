// Request/response values and the response wire format.
#include "rack/http_message.h"

#include <cstdio>
#include <ctime>

#include "rack/logging.h"

namespace rack::http {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Header lines are built from handler data: never let CR/LF through.
void append_clean(std::string& out, std::string_view s) {
  for (char c : s) out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
}

bool is_framing_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection");
}

// "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", formatted at most once a second
// per thread: strftime per response would show up in benchmarks.
std::string_view date_line() {
  thread_local std::time_t cached_at = 0;
  thread_local char line[64];
  thread_local std::size_t len = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_at || len == 0) {
    std::tm tm;
    gmtime_r(&now, &tm);
    len = std::strftime(line, sizeof line, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    cached_at = now;
  }
  return {line, len};
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view find_header(const std::vector<Header>& headers, std::string_view name) {
  for (const Header& h : headers)
    if (iequals(h.name, name)) return h.value;
  return {};
}

std::string_view Request::param(std::string_view name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string_view{} : std::string_view{it->second};
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    std::size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    std::size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (percent_decode(key, true) != name) continue;
    return eq == std::string_view::npos ? std::string{} : percent_decode(pair.substr(eq + 1), true);
  }
  return std::nullopt;
}

Response& Response::set(std::string name, std::string value) {
  std::erase_if(headers, [&](const Header& h) { return iequals(h.name, name); });
  headers.push_back({std::move(name), std::move(value)});
  return *this;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = std::move(body);
  return r;
}

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
  r.body = std::move(body);
  return r;
}

Response Response::error(int status, std::string_view message) {
  return json(status, "{\"error\":\"" + log::json_escape(message) + "\"}\n");
}

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

bool status_allows_body(int status) {
  return !(status < 200 || status == 204 || status == 304);
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && c == '+') ? ' ' : c;
  }
  return out;
}

void split_target(std::string_view target, std::string& path, std::string& query) {
  std::string_view t = target;
  // absolute-form (proxies, some tools): "http://host:port/path?q"
  if (std::size_t scheme = t.find("://"); scheme != std::string_view::npos && t.front() != '/') {
    std::size_t slash = t.find('/', scheme + 3);
    t = slash == std::string_view::npos ? std::string_view{"/"} : t.substr(slash);
  }
  std::size_t q = t.find('?');
  path.assign(t.substr(0, q));
  if (std::size_t hash = path.find('#'); hash != std::string::npos) path.resize(hash);
  query.assign(q == std::string_view::npos ? std::string_view{} : t.substr(q + 1));
  if (path.empty()) path = "/";
}

void serialize_head(std::string& out, int status, const std::vector<Header>& headers,
                    const HeadOptions& o) {
  char line[64];
  int n = std::snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
  out.append(line, static_cast<std::size_t>(n));
  for (const Header& h : headers) {
    if (is_framing_header(h.name)) continue;
    append_clean(out, h.name);
    out += ": ";
    append_clean(out, h.value);
    out += "\r\n";
  }
  if (o.date) out += date_line();
  if (status_allows_body(status)) {
    if (o.framing == Framing::Length) {
      out += "Content-Length: ";
      out += std::to_string(o.content_length);
      out += "\r\n";
    } else if (o.framing == Framing::Chunked) {
      out += "Transfer-Encoding: chunked\r\n";
    }
  }
  if (!o.keep_alive)
    out += "Connection: close\r\n";
  else if (o.http10)
    out += "Connection: keep-alive\r\n";
  out += "\r\n";
}

std::string serialize_response(const Response& r, const ResponseOptions& o) {
  bool body = status_allows_body(r.status);
  std::string out;
  out.reserve(160 + r.headers.size() * 48 + (o.head_request || !body ? 0 : r.body.size()));
  serialize_head(out, r.status, r.headers,
                 {.framing = Framing::Length,
                  .content_length = r.body.size(),
                  .keep_alive = o.keep_alive,
                  .http10 = o.http10,
                  .date = o.date});
  if (body && !o.head_request) out += r.body;
  return out;
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  char size[24];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out.append(size, static_cast<std::size_t>(n));
  out += data;
  out += "\r\n";
}

}  // namespace rack::http
