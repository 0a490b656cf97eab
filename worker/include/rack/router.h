// Method + path pattern → handler. Pure: no I/O, tested without sockets.
//
//   rack::Router r;
//   r.add("GET", "/users/:id", show_user);
//   r.add("GET", "/static/*", serve_file);
//   rack::Router::Match m = r.match("GET", "/users/7");
//   // m.status == 200, m.route == "/users/:id", m.params["id"] == "7"
//
// Patterns start with '/'. ":name" matches exactly one non-empty segment;
// "*" as the last segment matches the rest of the path (possibly empty) and
// is stored as param "*". Path segments are percent-decoded before matching,
// so "%2F" never creates a segment. Among matching patterns the most
// specific wins, segment by segment (literal > :param > *), then the first
// registered. HEAD also matches GET routes.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "rack/http.h"

namespace rack {

class Router {
 public:
  // Throws std::invalid_argument naming the pattern when it is malformed.
  void add(std::string method, std::string pattern, http::Handler handler);

  struct Match {
    int status = 404;                // 200, 404 or 405
    const http::Handler* handler = nullptr;
    std::string route;               // the matched pattern (200 and 405)
    std::map<std::string, std::string, std::less<>> params;
    std::string allow;               // 405: "GET, HEAD, POST"
  };
  Match match(std::string_view method, std::string_view path) const;

  // Matches req.method/req.path, fills req.params and req.route, and calls
  // the handler, or answers 404/405 with a JSON error.
  void dispatch(http::Request& req, http::Responder res) const;

  std::size_t size() const { return routes_.size(); }

 private:
  enum class Kind { Literal, Param, Wildcard };
  struct Segment {
    Kind kind;
    std::string text;  // literal text or param name
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    http::Handler handler;
  };
  static bool matches(const Route& r, const std::vector<std::string>& path,
                      std::map<std::string, std::string, std::less<>>* params);
  static bool more_specific(const Route& a, const Route& b);

  std::vector<Route> routes_;
};

}  // namespace rack
