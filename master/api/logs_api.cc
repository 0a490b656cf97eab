#include "api/logs_api.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

#include "api/reply.h"
#include "rack/json.h"
#include "logs/rotated_files.h"
#include "logs/tail_mark.h"
#include "rack/offload.h"
#include "supervisor.h"

namespace rack::master::api {

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

struct LogsQuery {
  std::vector<ManagedApp*> apps;
  bool want_out = true, want_err = true;
  size_t n = 15;
  bool follow = false;

  bool wants(LogStream s) const { return s == LogStream::Out ? want_out : want_err; }
};

// One file set to read: an app's stream in its logs directory.
struct Source {
  std::string dir, app;
  LogStream stream;
  std::shared_ptr<AppLog> log;
  std::string date_format;  // the log's, taken on the loop
};

json line_json(const LogLine& l) {
  auto t = std::chrono::duration_cast<std::chrono::milliseconds>(l.time.time_since_epoch()).count();
  return {{"app", l.app}, {"slot", l.slot}, {"stream", l.stream == LogStream::Out ? "out" : "err"},
          {"time_ms", t}, {"line", l.text}};
}

// Fills `q`, or answers the client with what was wrong and returns false.
bool parse_query(Supervisor& sup, const http::Request& req, LogsQuery& q, http::Responder& res) {
  std::string app = query_param(req.query, "app");
  std::string stream = query_param(req.query, "stream");
  std::string n_text = query_param(req.query, "n");
  q.follow = query_param(req.query, "follow") == "1";
  if (!stream.empty() && stream != "out" && stream != "err") {
    res.send(error(400, "stream: expected out or err, got \"" + json_input::clip(stream, 60) + "\""));
    return false;
  }
  if (!n_text.empty()) {
    auto [p, ec] = std::from_chars(n_text.data(), n_text.data() + n_text.size(), q.n);
    if (ec != std::errc() || p != n_text.data() + n_text.size()) {
      res.send(error(400, "n: expected a number, got \"" + n_text + "\""));
      return false;
    }
    // Lines are read (a .gz inflated) and answered in one body: bounded.
    if (q.n > kMaxTailLines) {
      res.send(error(400, "n: at most " + std::to_string(kMaxTailLines) + " lines, got " + n_text +
                              " (read the files in the logs directory for more)"));
      return false;
    }
  }
  if (app.empty()) {
    q.apps = sup.apps();
  } else if (ManagedApp* a = sup.find(app)) {
    q.apps.push_back(a);
  } else {
    res.send(error(404, "no app named \"" + app + "\""));
    return false;
  }
  q.want_out = stream != "err";
  q.want_err = stream != "out";
  return true;
}

// logs.dir: off: what `rackctl logs` says instead of a tail.
std::string no_files_notice(const Supervisor& sup, const std::string& app, bool follow) {
  std::string s = app + " has no log files (logs.dir: off)";
  if (follow) return s + ": following its lines from now on";
  if (sup.options().foreground)
    return s + ": its lines go to rackd's stdout (the journal under systemd, kubectl logs in a pod); `rackctl logs " +
           app + " -f` follows them from now on";
  return s + " and rackd runs as a daemon, so its lines are not kept; `rackctl logs " + app +
         " -f` shows them from now on";
}

// One {"notice": ...} line per selected app without files, to go first.
std::string notices(const Supervisor& sup, const LogsQuery& q) {
  std::string body;
  for (ManagedApp* a : q.apps)
    if (!a->log()->has_files()) body += text(json{{"notice", no_files_notice(sup, a->name(), q.follow)}}) + "\n";
  return body;
}

std::vector<Source> sources_of(Supervisor& sup, const LogsQuery& q) {
  std::vector<Source> sources;
  for (ManagedApp* a : q.apps) {
    if (!a->log()->has_files()) continue;
    std::string dir = a->cfg().logs.dir.empty() ? sup.options().home + "/logs" : a->cfg().logs.dir;
    for (auto s : {LogStream::Out, LogStream::Err})
      if (q.wants(s)) sources.push_back({dir, a->name(), s, a->log(), a->log()->date_format()});
  }
  return sources;
}

// The last n of `lines` by time, as the JSON-lines body.
std::string newest_lines(std::vector<LogLine> lines, size_t n) {
  std::stable_sort(lines.begin(), lines.end(), [](const LogLine& a, const LogLine& b) { return a.time < b.time; });
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<long>(n));
  std::string body;
  for (auto& l : lines) body += text(line_json(l)) + "\n";
  return body;
}

// The newest file of each stream, and the newest rotated one before it if
// it has fewer than n lines.
void serve_tail(Supervisor& sup, std::vector<Source> sources, size_t n, std::string first, http::Responder res) {
  auto read_tail = [sources = std::move(sources), n, first = std::move(first)] {
    std::vector<LogLine> lines;
    for (const Source& src : sources) {
      for (auto& l : tail(src.dir, src.app, src.stream, n, src.date_format)) lines.push_back(std::move(l));
    }
    return first + newest_lines(std::move(lines), n);
  };
  offload(sup.loop(), std::move(read_tail), [res](std::string body) mutable {
    http::Response r = http::Response::json(200, std::move(body));
    r.set("Content-Type", "application/x-ndjson");
    res.send(std::move(r));
  });
}

// A follower's stream: lines that arrive while its tail is read wait in
// `early`, behind it.
struct Follow {
  http::Responder res;
  bool tail_sent = false;
  bool let_go = false;  // too slow while the tail was read: end after it
  std::string early;
  std::size_t allowed = kMaxFollowBacklog;  // unread bytes: the tail's, and this many more
  std::vector<std::pair<std::shared_ptr<AppLog>, uint64_t>> subs;

  explicit Follow(http::Responder r) : res(std::move(r)) {}

  void unsubscribe() {
    for (auto& [log, id] : subs) log->unsubscribe(id);
    subs.clear();
  }

  void line(const LogLine& l) {
    std::size_t backlog = res.buffered_bytes() + early.size();
    if (backlog > (tail_sent ? allowed : kMaxFollowEarly)) return too_slow(backlog);
    if (tail_sent) res.write(text(line_json(l)) + "\n");
    else early += text(line_json(l)) + "\n";
  }

  // The follower does not read (stopped, or a pipe nobody drains): rackd
  // would keep every line for it. It is told, and let go.
  void too_slow(std::size_t backlog) {
    std::string why = text(json{{"error", "follower too slow: " + std::to_string(backlog) +
                                              " bytes of log lines unread; stream ended (follow again to resume)"}}) +
                      "\n";
    if (tail_sent) {
      res.write(why);
      res.end();
    } else {
      early = std::move(why);  // after the tail, then the end
      let_go = true;
    }
    unsubscribe();
  }

  void tail_read(std::string body) {
    tail_sent = true;
    // What piled up meanwhile is sent now: unread, it is not the follower's fault.
    allowed += body.size() + early.size();
    body += std::exchange(early, {});
    if (!body.empty()) res.write(body);
    if (let_go) res.end();
  }
};

void serve_follow(Supervisor& sup, const LogsQuery& q, const std::vector<Source>& sources, http::Responder res) {
  // A follower subscribes in this loop turn, and the tail is marked in it
  // too (each current file opened, one listing per directory): no line
  // falls between the tail and the stream, and none is in both.
  std::map<std::string, std::vector<std::string>> listings;
  std::vector<TailMark> marks;
  for (const Source& src : sources) {
    auto [it, fresh] = listings.try_emplace(src.dir);
    if (fresh) it->second = dir_names(src.dir);
    marks.emplace_back(src.dir, src.app, src.stream, &it->second, src.log.get(), q.n);
  }
  auto read_tail = [marks = std::move(marks), n = q.n] {
    std::vector<LogLine> lines;
    for (const TailMark& mark : marks) {
      for (auto& l : mark.read(n)) lines.push_back(std::move(l));
    }
    return newest_lines(std::move(lines), n);
  };
  res.start_stream(200, {{"Content-Type", "application/x-ndjson"}});
  auto follow = std::make_shared<Follow>(res);
  // Subscribe to every selected app's log until the client leaves.
  for (ManagedApp* a : q.apps) {
    auto log = a->log();
    uint64_t id = log->subscribe([follow, q_out = q.want_out, q_err = q.want_err](const LogLine& l) {
      if (l.stream == LogStream::Out ? !q_out : !q_err) return;
      follow->line(l);
    });
    follow->subs.emplace_back(log, id);
  }
  res.on_close([follow] { follow->unsubscribe(); });
  offload(sup.loop(), std::move(read_tail),
          [follow, first = notices(sup, q)](std::string body) { follow->tail_read(first + body); });
}

}  // namespace

void serve_logs(Supervisor& sup, http::Request& req, http::Responder res) {
  LogsQuery q;
  if (!parse_query(sup, req, q, res)) return;
  // One app named, no files, no -f: nothing to show, and the answer says why.
  if (!q.follow && q.apps.size() == 1 && !query_param(req.query, "app").empty() && !q.apps[0]->log()->has_files())
    return res.send(error(409, no_files_notice(sup, q.apps[0]->name(), false)));
  auto sources = sources_of(sup, q);
  if (!q.follow) return serve_tail(sup, std::move(sources), q.n, notices(sup, q), std::move(res));
  serve_follow(sup, q, sources, std::move(res));
}

}  // namespace rack::master::api
