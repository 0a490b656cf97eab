#include "api/control_api.h"

#include <unistd.h>

#include <charconv>
#include <map>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "logs/log_file.h"
#include "rack/logging.h"
#include "rack/offload.h"
#include "supervisor.h"

namespace rack::master {

using json = nlohmann::json;

namespace {

// `rackctl logs -n`: the lines are read (a .gz inflated) and sent in one body.
constexpr std::size_t kMaxTailLines = 100000;
// Log lines queued for a `logs -f` client that does not read, before rackd
// ends its stream rather than keep them all.
constexpr std::size_t kMaxFollowBacklog = 4u << 20;
// Lines that arrive while a follower's tail is read (a .gz inflated, or the
// pool busy) wait for it; the follower cannot be slow yet, but they are
// bounded all the same.
constexpr std::size_t kMaxFollowEarly = 32u << 20;

// Every JSON rackd sends: messages and log lines may carry bytes that are
// not UTF-8 (a path, an app's output), and the strict dump would throw.
std::string text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

http::Response error(int status, const std::string& message) {
  return http::Response::json(status, text(json{{"error", message}}));
}

http::Response ok(json extra = json::object()) {
  extra["ok"] = true;
  return http::Response::json(200, extra.dump());
}

// Loads an ecosystem named in a request body. rackd re-validates even
// though rackctl already did: the file may have changed in between, and
// other clients speak to this API too.
std::optional<config::Ecosystem> load_ecosystem(const json& body, http::Responder& res) {
  if (!body.contains("file") || !body["file"].is_string()) {
    res.send(error(400, "body must name the ecosystem file: {\"file\":\"/abs/path.yaml\"}"));
    return std::nullopt;
  }
  try {
    return config::load_file(body["file"].get<std::string>());
  } catch (const config::ConfigError& e) {
    res.send(error(400, e.what()));
    return std::nullopt;
  }
}

std::string str_field(const json& body, const char* key) {
  return body.contains(key) && body[key].is_string() ? body[key].get<std::string>() : "";
}

// `only`: one app of the file, or all of them when absent. Any other type
// is an error, not "all".
bool only_field(const json& body, std::string& only, http::Responder& res) {
  if (body.contains("only") && !body["only"].is_string() && !body["only"].is_null()) {
    res.send(error(400, "only: expected an app name (a string), got " + body["only"].dump()));
    return false;
  }
  only = str_field(body, "only");
  return true;
}

// Runs a reload and streams its progress as JSON lines.
ReloadObserver streaming_observer(http::Responder res) {
  res.start_stream(200, {{"Content-Type", "application/x-ndjson"}});
  ReloadObserver obs;
  obs.progress = [res](const std::string& line) mutable { res.write(text(json{{"progress", line}}) + "\n"); };
  obs.done = [res](bool ok, const std::string& err, int slot) mutable {
    json j = {{"ok", ok}};
    if (!ok) {
      j["error"] = err;
      if (slot >= 0) j["slot"] = slot;
    }
    res.write(text(j) + "\n");
    res.end();
  };
  return obs;
}

void app_operation(Supervisor& sup, const std::string& target, const std::string& op, const json& body,
                   http::Responder res) {
  std::vector<App*> apps;
  if (target == "all") {
    apps = sup.apps();
  } else if (App* a = sup.find(target)) {
    apps.push_back(a);
  } else {
    res.send(error(404, "no app named \"" + target + "\""));
    return;
  }
  if (op == "stop" || op == "delete") {
    // Answer once every app has no process left (+1: the loop below may
    // finish synchronously for apps that have nothing running).
    auto left = std::make_shared<size_t>(apps.size() + 1);
    auto done = [res, left]() mutable {
      if (--*left == 0) res.send(ok());
    };
    std::vector<std::string> names;
    for (App* a : apps) names.push_back(a->name());
    for (auto& n : names) {
      if (op == "stop") sup.find(n)->stop(done);
      else sup.remove(n, done);
    }
    done();
  } else if (op == "restart") {
    for (App* a : apps) a->restart();
    res.send(ok());
  } else if (op == "reload") {
    // Apps reload one after the other; the stream ends with the first
    // failure or after the last app.
    auto obs = streaming_observer(res);
    auto names = std::make_shared<std::vector<std::string>>();
    for (App* a : apps) names->push_back(a->name());
    auto step = std::make_shared<std::function<void(size_t)>>();
    *step = [&sup, names, obs, step](size_t i) {
      if (i >= names->size()) {
        obs.done(true, "", -1);
        *step = nullptr;
        return;
      }
      App* a = sup.find((*names)[i]);
      if (!a) return (*step)(i + 1);
      ReloadObserver inner{obs.progress, [obs, step, i](bool ok, const std::string& err, int slot) {
                             if (!ok) {
                               obs.done(false, err, slot);
                               *step = nullptr;
                               return;
                             }
                             (*step)(i + 1);
                           }};
      a->reload(std::nullopt, inner);
    };
    (*step)(0);
  } else if (op == "scale") {
    if (apps.size() != 1) return res.send(error(400, "scale takes one app name, not \"all\""));
    std::string v = body.contains("instances") && body["instances"].is_string() ? body["instances"].get<std::string>()
                    : body.contains("instances") && body["instances"].is_number_integer()
                        ? std::to_string(body["instances"].get<long>())
                        : "";
    long n = 0;
    bool relative = !v.empty() && (v[0] == '+' || v[0] == '-');
    const char* b = v.data() + (v.size() && v[0] == '+' ? 1 : 0);
    auto [p, ec] = std::from_chars(b, v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size())
      return res.send(error(400, "instances: expected a number, +N or -N, got \"" + v + "\""));
    long target_n = relative ? static_cast<long>(apps[0]->cfg().instances) + n : n;
    if (target_n < 1 || target_n > 1024)
      return res.send(error(400, "instances: the result must be between 1 and 1024, got " + std::to_string(target_n)));
    apps[0]->scale(static_cast<unsigned>(target_n));
    res.send(ok({{"instances", target_n}}));
  } else if (op == "loglevel") {
    std::string level = str_field(body, "level");
    if (!log::parse_level(level))
      return res.send(error(400, "level: expected trace, debug, info, warn, error or fatal, got \"" + level + "\""));
    for (App* a : apps) a->set_log_level(level);
    res.send(ok());
  } else {
    res.send(error(404, "unknown operation \"" + op + "\""));
  }
}

std::string query_param(const std::string& query, const std::string& key) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string part = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = part.find('=');
    if (part.substr(0, eq) == key) return eq == std::string::npos ? "" : part.substr(eq + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

json line_json(const LogLine& l) {
  auto t = std::chrono::duration_cast<std::chrono::milliseconds>(l.time.time_since_epoch()).count();
  return {{"app", l.app}, {"slot", l.slot}, {"stream", l.stream == LogStream::Out ? "out" : "err"},
          {"time_ms", t}, {"line", l.text}};
}

void serve_logs(Supervisor& sup, http::Request& req, http::Responder res) {
  std::string app = query_param(req.query, "app");
  std::string stream = query_param(req.query, "stream");
  std::string n_text = query_param(req.query, "n");
  bool follow = query_param(req.query, "follow") == "1";
  size_t n = 15;
  if (!n_text.empty()) {
    auto [p, ec] = std::from_chars(n_text.data(), n_text.data() + n_text.size(), n);
    if (ec != std::errc() || p != n_text.data() + n_text.size())
      return res.send(error(400, "n: expected a number, got \"" + n_text + "\""));
    // Lines are read (a .gz inflated) and answered in one body: bounded.
    if (n > kMaxTailLines)
      return res.send(error(400, "n: at most " + std::to_string(kMaxTailLines) + " lines, got " + n_text +
                                     " (read the files in the logs directory for more)"));
  }
  std::vector<App*> apps;
  if (app.empty()) apps = sup.apps();
  else if (App* a = sup.find(app)) apps.push_back(a);
  else return res.send(error(404, "no app named \"" + app + "\""));
  bool want_out = stream != "err", want_err = stream != "out";

  // What to read: the newest file of each stream, and the newest rotated
  // one before it if it has fewer than n lines (a .gz is inflated to read
  // it), on the thread pool: dispatch never waits for `rackctl logs`.
  struct Source {
    std::string dir, app;
    LogStream stream;
    std::shared_ptr<AppLog> log;
  };
  std::vector<Source> sources;
  for (App* a : apps) {
    std::string dir = a->cfg().logs.dir.empty() ? sup.options().home + "/logs" : a->cfg().logs.dir;
    for (auto s : {LogStream::Out, LogStream::Err})
      if ((s == LogStream::Out && want_out) || (s == LogStream::Err && want_err)) sources.push_back({dir, a->name(), s, a->log()});
  }
  auto merge = [n](std::vector<LogLine> lines) {
    std::stable_sort(lines.begin(), lines.end(), [](const LogLine& a, const LogLine& b) { return a.time < b.time; });
    if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<long>(n));
    std::string body;
    for (auto& l : lines) body += text(line_json(l)) + "\n";
    return body;
  };
  if (!follow) {
    auto read_tail = [sources = std::move(sources), n, merge] {
      std::vector<LogLine> lines;
      for (const Source& src : sources) {
        for (auto& l : tail(src.dir, src.app, src.stream, n)) lines.push_back(std::move(l));
      }
      return merge(std::move(lines));
    };
    return offload(sup.loop(), std::move(read_tail), [res](std::string body) mutable {
      http::Response r = http::Response::json(200, std::move(body));
      r.set("Content-Type", "application/x-ndjson");
      res.send(std::move(r));
    });
  }
  // A follower subscribes in this loop turn, and the tail is marked in it
  // too (each current file opened, one listing per directory): no line
  // falls between the tail and the stream, and none is in both.
  std::map<std::string, std::vector<std::string>> listings;
  std::vector<TailMark> marks;
  for (const Source& src : sources) {
    auto [it, fresh] = listings.try_emplace(src.dir);
    if (fresh) it->second = dir_names(src.dir);
    marks.emplace_back(src.dir, src.app, src.stream, &it->second, src.log.get(), n);
  }
  auto read_tail = [marks = std::move(marks), n, merge] {
    std::vector<LogLine> lines;
    for (const TailMark& mark : marks) {
      for (auto& l : mark.read(n)) lines.push_back(std::move(l));
    }
    return merge(std::move(lines));
  };
  // Follow: lines that arrive while the tail is read wait here, behind it.
  struct Follow {
    bool tail_sent = false;
    bool let_go = false;  // too slow while the tail was read: end after it
    std::string early;
    std::size_t allowed = kMaxFollowBacklog;  // unread bytes: the tail's, and this many more
  };
  auto follow_state = std::make_shared<Follow>();
  res.start_stream(200, {{"Content-Type", "application/x-ndjson"}});
  // Subscribe to every selected app's log until the client leaves.
  auto subs = std::make_shared<std::vector<std::pair<std::shared_ptr<AppLog>, uint64_t>>>();
  auto unsubscribe = [subs] {
    for (auto& [log, id] : *subs) log->unsubscribe(id);
    subs->clear();
  };
  for (App* a : apps) {
    auto log = a->log();
    uint64_t id = log->subscribe([res, want_out, want_err, unsubscribe, follow_state](const LogLine& l) mutable {
      if ((l.stream == LogStream::Out && !want_out) || (l.stream == LogStream::Err && !want_err)) return;
      std::size_t backlog = res.buffered_bytes() + follow_state->early.size();
      if (backlog > (follow_state->tail_sent ? follow_state->allowed : kMaxFollowEarly)) {
        // The follower does not read (stopped, or a pipe nobody drains):
        // rackd would keep every line for it. It is told, and let go.
        std::string why = text(json{{"error", "follower too slow: " + std::to_string(backlog) +
                                                  " bytes of log lines unread; stream ended (follow again to resume)"}}) +
                          "\n";
        if (follow_state->tail_sent) {
          res.write(why);
          res.end();
        } else {
          follow_state->early = std::move(why);  // after the tail, then the end
          follow_state->let_go = true;
        }
        unsubscribe();
        return;
      }
      if (follow_state->tail_sent) {
        res.write(text(line_json(l)) + "\n");
      } else {
        follow_state->early += text(line_json(l)) + "\n";
      }
    });
    subs->emplace_back(log, id);
  }
  res.on_close(unsubscribe);
  offload(sup.loop(), std::move(read_tail), [res, follow_state](std::string body) mutable {
    follow_state->tail_sent = true;
    // What piled up meanwhile is sent now: unread, it is not the follower's fault.
    follow_state->allowed += body.size() + follow_state->early.size();
    body += std::exchange(follow_state->early, {});
    if (!body.empty()) res.write(body);
    if (follow_state->let_go) res.end();
  });
}

}  // namespace

void serve_control(Supervisor& sup, http::Request& req, http::Responder res) {
  json body = json::object();
  if (!req.body.empty()) {
    body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return res.send(error(400, "body is not a JSON object"));
  }
  const std::string& m = req.method;
  const std::string& p = req.path;
  if (sup.shutting_down() && p != "/v1/ping" && p != "/v1/status")
    return res.send(error(409, "rackd is shutting down"));

  if (m == "GET" && p == "/v1/ping") {
    return res.send(ok({{"pid", ::getpid()}, {"version", "0.1.0"}}));
  }
  if (m == "GET" && p == "/v1/status") {
    return res.send(http::Response::json(200, sup.status().dump()));
  }
  if (m == "POST" && p == "/v1/start") {
    std::string only;
    if (!only_field(body, only, res)) return;
    auto eco = load_ecosystem(body, res);
    if (!eco) return;
    auto r = sup.start(*eco, only);
    if (!r.error.empty()) return res.send(error(400, r.error));
    return res.send(ok({{"started", r.started}, {"already_running", r.already_running}}));
  }
  if (m == "POST" && p == "/v1/reload") {
    std::string only;
    if (!only_field(body, only, res)) return;
    auto eco = load_ecosystem(body, res);
    if (!eco) return;
    return sup.reload_ecosystem(*eco, only, streaming_observer(res));
  }
  if (m == "POST" && p == "/v1/kill") {
    res.send(ok());
    sup.shutdown(0);
    return;
  }
  if (m == "GET" && p == "/v1/logs") return serve_logs(sup, req, res);
  if (m == "POST" && p == "/v1/logs/reopen") {
    sup.reopen_logs();
    return res.send(ok());
  }
  if (m == "POST" && p == "/v1/logs/flush") {
    std::string app = query_param(req.query, "app");
    for (App* a : sup.apps()) {
      if (app.empty() || a->name() == app) a->log()->flush();
    }
    if (!app.empty() && !sup.find(app)) return res.send(error(404, "no app named \"" + app + "\""));
    return res.send(ok());
  }
  const std::string prefix = "/v1/apps/";
  if (p.rfind(prefix, 0) == 0) {
    std::string rest = p.substr(prefix.size());
    size_t slash = rest.find('/');
    std::string target = rest.substr(0, slash);
    std::string op = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (m == "DELETE" && op.empty()) return app_operation(sup, target, "delete", body, res);
    if (m == "POST" && !op.empty()) return app_operation(sup, target, op, body, res);
  }
  res.send(error(404, "no such endpoint: " + m + " " + p));
}

}  // namespace rack::master
