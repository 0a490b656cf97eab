#include "api/logs_api.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

#include "api/log_journal.h"
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
  // after=R.S: a follower coming back (log_journal.h); resume.run empty if not.
  struct {
    std::string run;
    uint64_t seq = 0;
  } resume;

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

// A followed line: with its number, which the follower sends back to resume.
std::string seq_line_text(const SeqLine& s) {
  json j = line_json(s.line);
  j["seq"] = s.seq;
  return text(j) + "\n";
}

std::string cursor_line(uint64_t seq) {
  return text(json{{"cursor", LogJournals::get().run() + "." + std::to_string(seq)}}) + "\n";
}

// "R.S" (R: a rackd run, which may hold dots' neighbours but no dot at the
// end; S: a number). False when it is not one.
bool parse_after(const std::string& after, LogsQuery& q) {
  auto dot = after.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == after.size()) return false;
  const char* b = after.data() + dot + 1;
  const char* e = after.data() + after.size();
  auto [p, ec] = std::from_chars(b, e, q.resume.seq);
  if (ec != std::errc() || p != e) return false;
  q.resume.run = after.substr(0, dot);
  return true;
}

// Fills `q`, or answers the client with what was wrong and returns false.
bool parse_query(Supervisor& sup, const http::Request& req, LogsQuery& q, http::Responder& res) {
  std::string app = query_param(req.query, "app");
  std::string stream = query_param(req.query, "stream");
  std::string n_text = query_param(req.query, "n");
  q.follow = query_param(req.query, "follow") == "1";
  if (std::string after = query_param(req.query, "after"); !after.empty() && !parse_after(after, q)) {
    res.send(error(400, "after: expected a cursor of `rackctl logs -f` (RUN.SEQ), got \"" +
                            json_input::clip(after, 60) + "\""));
    return false;
  }
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
  std::vector<std::shared_ptr<AppLog>> logs;  // kept while followed, as the files they write
  std::vector<uint64_t> subs;                 // LogJournals::follow() ids

  explicit Follow(http::Responder r) : res(std::move(r)) {}

  void unsubscribe() {
    for (uint64_t id : subs) LogJournals::get().unfollow(id);
    subs.clear();
  }

  void line(const SeqLine& l) {
    std::size_t backlog = res.buffered_bytes() + early.size();
    if (backlog > (tail_sent ? allowed : kMaxFollowEarly)) return too_slow(backlog);
    if (tail_sent) res.write(seq_line_text(l));
    else early += seq_line_text(l);
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

// Every selected app's journal feeds the follower until the client leaves.
std::shared_ptr<Follow> subscribe(Supervisor& sup, const LogsQuery& q, http::Responder& res) {
  auto follow = std::make_shared<Follow>(res);
  for (ManagedApp* a : q.apps) {
    auto log = a->log();
    follow->logs.push_back(log);
    follow->subs.push_back(LogJournals::get().follow(sup.loop(), log, [follow, q_out = q.want_out, q_err = q.want_err](const SeqLine& l) {
      if (l.line.stream == LogStream::Out ? !q_out : !q_err) return;
      follow->line(l);
    }));
  }
  res.on_close([follow] { follow->unsubscribe(); });
  return follow;
}

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
  auto follow = subscribe(sup, q, res);
  // The tail holds the lines up to this number; the stream, those after it.
  std::string first = notices(sup, q) + cursor_line(LogJournals::get().last_seq());
  offload(sup.loop(), std::move(read_tail),
          [follow, first = std::move(first)](std::string body) { follow->tail_read(first + body); });
}

// A follower coming back with its cursor: no tail, the lines after the
// cursor that the journals kept, then the stream; all in this loop turn.
void serve_resume(Supervisor& sup, const LogsQuery& q, http::Responder res) {
  LogJournals& journals = LogJournals::get();
  std::string head;
  std::vector<SeqLine> lines;
  if (q.resume.run != journals.run()) {
    head = text(json{{"notice", "rackd was restarted since this follower's last line: lines in between are only in "
                                "the log files (rackctl logs -n)"}}) +
           "\n";
  } else {
    for (ManagedApp* a : q.apps) {
      Resumed r = journals.since(a->log().get(), q.resume.seq);
      if (!r.complete)
        head += text(json{{"notice", a->name() + ": some lines after this follower's last one were not kept for it; "
                                                  "they are in the log files (rackctl logs -n)"}}) +
                "\n";
      for (auto& l : r.lines)
        if (q.wants(l.line.stream)) lines.push_back(std::move(l));
    }
  }
  std::sort(lines.begin(), lines.end(), [](const SeqLine& a, const SeqLine& b) { return a.seq < b.seq; });
  uint64_t cursor = q.resume.run == journals.run() ? q.resume.seq : journals.last_seq();
  res.start_stream(200, {{"Content-Type", "application/x-ndjson"}});
  auto follow = subscribe(sup, q, res);
  std::string body = head + cursor_line(cursor);
  for (const SeqLine& l : lines) body += seq_line_text(l);
  follow->tail_read(std::move(body));
}

}  // namespace

void serve_logs(Supervisor& sup, http::Request& req, http::Responder res) {
  LogsQuery q;
  if (!parse_query(sup, req, q, res)) return;
  // One app named, no files, no -f: nothing to show, and the answer says why.
  if (!q.follow && q.apps.size() == 1 && !query_param(req.query, "app").empty() && !q.apps[0]->log()->has_files())
    return res.send(error(409, no_files_notice(sup, q.apps[0]->name(), false)));
  if (q.follow && !q.resume.run.empty()) return serve_resume(sup, q, std::move(res));
  auto sources = sources_of(sup, q);
  if (!q.follow) return serve_tail(sup, std::move(sources), q.n, notices(sup, q), std::move(res));
  serve_follow(sup, q, sources, std::move(res));
}

}  // namespace rack::master::api
