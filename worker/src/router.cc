// Route table: linear scan with a specificity order. Apps have tens of
// routes, not thousands; a scan over pre-split patterns is faster than it
// needs to be and obviously correct.
#include "rack/router.h"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace rack {

namespace {

// "/a/b%20c/" → {"a", "b c", ""}; "/" → {""}.
std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  for (;;) {
    std::size_t slash = path.find('/');
    out.push_back(http::percent_decode(path.substr(0, slash), false));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool method_matches(std::string_view route_method, std::string_view method) {
  return route_method == method || (method == "HEAD" && route_method == "GET");
}

}  // namespace

void Router::add(std::string method, std::string pattern, http::Handler handler) {
  auto bad = [&](const char* why) {
    return std::invalid_argument("route \"" + pattern + "\": " + why);
  };
  if (pattern.empty() || pattern.front() != '/') throw bad("must start with '/'");
  if (method.empty()) throw bad("empty method");
  if (!handler) throw bad("no handler");
  Route r{std::move(method), pattern, {}, std::move(handler)};
  std::string_view rest(pattern);
  rest.remove_prefix(1);
  std::set<std::string, std::less<>> names;
  for (;;) {
    std::size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    bool last = slash == std::string_view::npos;
    if (seg == "*") {
      if (!last) throw bad("'*' must be the last segment");
      r.segments.push_back({Kind::Wildcard, "*"});
    } else if (!seg.empty() && seg.front() == ':') {
      if (seg.size() == 1) throw bad("a ':' parameter needs a name");
      if (!names.insert(std::string(seg.substr(1))).second) throw bad("parameter name used twice");
      r.segments.push_back({Kind::Param, std::string(seg.substr(1))});
    } else {
      r.segments.push_back({Kind::Literal, std::string(seg)});
    }
    if (last) break;
    rest.remove_prefix(slash + 1);
  }
  routes_.push_back(std::move(r));
}

bool Router::matches(const Route& r, const std::vector<std::string>& path,
                     std::map<std::string, std::string, std::less<>>* params) {
  std::size_t i = 0;
  for (; i < r.segments.size(); ++i) {
    const Segment& s = r.segments[i];
    if (s.kind == Kind::Wildcard) {
      if (params) {
        std::string rest;
        for (std::size_t k = i; k < path.size(); ++k) {
          if (k > i) rest += '/';
          rest += path[k];
        }
        (*params)["*"] = std::move(rest);
      }
      return true;
    }
    if (i >= path.size()) return false;
    if (s.kind == Kind::Literal && s.text != path[i]) return false;
    if (s.kind == Kind::Param) {
      if (path[i].empty()) return false;
      if (params) (*params)[s.text] = path[i];
    }
  }
  return i == path.size();
}

bool Router::more_specific(const Route& a, const Route& b) {
  // Rank per position; a pattern that has ended is more specific than a
  // wildcard still matching (they can only both match if that is "*").
  auto rank = [](const Route& r, std::size_t i) {
    if (i >= r.segments.size()) return 3;
    switch (r.segments[i].kind) {
      case Kind::Literal: return 2;
      case Kind::Param: return 1;
      case Kind::Wildcard: return 0;
    }
    return 0;
  };
  std::size_t n = std::max(a.segments.size(), b.segments.size());
  for (std::size_t i = 0; i < n; ++i) {
    int ra = rank(a, i), rb = rank(b, i);
    if (ra != rb) return ra > rb;
  }
  return false;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match m;
  std::vector<std::string> segs = split_path(path);
  const Route* best = nullptr;
  std::set<std::string> allowed;
  const Route* path_match = nullptr;
  for (const Route& r : routes_) {
    if (!matches(r, segs, nullptr)) continue;
    if (!method_matches(r.method, method)) {
      allowed.insert(r.method);
      if (r.method == "GET") allowed.insert("HEAD");
      if (!path_match || more_specific(r, *path_match)) path_match = &r;
      continue;
    }
    if (!best || more_specific(r, *best)) best = &r;
  }
  if (best) {
    m.status = 200;
    m.handler = &best->handler;
    m.route = best->pattern;
    matches(*best, segs, &m.params);
    return m;
  }
  if (path_match) {
    m.status = 405;
    m.route = path_match->pattern;
    for (const std::string& a : allowed) m.allow += (m.allow.empty() ? "" : ", ") + a;
  }
  return m;
}

void Router::dispatch(http::Request& req, http::Responder res) const {
  Match m = match(req.method, req.path);
  if (m.status == 404) {
    req.route.clear();
    return res.send(http::Response::error(404, "no route for " + req.method + " " + req.path));
  }
  req.route = m.route;
  if (m.status == 405) {
    http::Response r = http::Response::error(405, "method " + req.method + " not allowed for " + req.path);
    r.set("Allow", m.allow);
    return res.send(std::move(r));
  }
  req.params = std::move(m.params);
  (*m.handler)(req, std::move(res));
}

}  // namespace rack
