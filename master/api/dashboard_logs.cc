// GET /dashboard/logs?app=NAME: the dashboard's live log tail, as
// server-sent events. The last lines are marked and the app's log is
// subscribed to in the same loop turn (as `rackctl logs -f` does), so no
// line falls between the tail and the stream; the tail is read off the
// loop. A reader that falls kMaxBuffered behind is let go; the browser's
// EventSource reconnects and starts again from a fresh tail.
#include <algorithm>

#include "api/dashboard.h"
#include "app/app.h"
#include "logs/rotated_files.h"
#include "logs/tail_mark.h"
#include "rack/offload.h"
#include "supervisor.h"

namespace rack::master {

using json = nlohmann::json;

namespace {

constexpr std::size_t kTailLines = 50;

std::string line_event(const LogLine& l) {
  auto t = std::chrono::duration_cast<std::chrono::milliseconds>(l.time.time_since_epoch()).count();
  json j = {{"slot", l.slot}, {"stream", l.stream == LogStream::Out ? "out" : "err"}, {"time_ms", t}, {"line", l.text}};
  return "event: line\ndata: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace

void Dashboard::serve_logs(http::Request& req, http::Responder res) {
  auto name = req.query_param("app");
  ManagedApp* app = name ? sup_.find(*name) : nullptr;
  if (!app || !app->log()) {
    http::Response r = http::Response::json(404, json{{"error", "no app named " + name.value_or("")}}.dump());
    return res.send(std::move(r));
  }
  std::shared_ptr<AppLog> log = app->log();
  std::string path = log->path(LogStream::Out);
  std::string dir = path.substr(0, path.rfind('/'));
  std::vector<std::string> names = dir_names(dir);
  std::vector<TailMark> marks;  // none with logs.dir: off: only lines from now on
  if (log->has_files())
    for (LogStream s : {LogStream::Out, LogStream::Err}) marks.emplace_back(dir, app->name(), s, &names, log.get(), kTailLines);

  if (!res.start_stream(200, {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-store"}})) return;
  struct Follow {
    bool tail_sent = false;
    std::string early;  // lines that came while the tail was read
    uint64_t id = 0;
    std::shared_ptr<AppLog> log;
  };
  auto st = std::make_shared<Follow>();
  st->log = log;
  auto unsubscribe = [st] {
    if (st->log) st->log->unsubscribe(st->id);
    st->log.reset();
  };
  st->id = log->subscribe([res, st, unsubscribe](const LogLine& l) mutable {
    std::string msg = line_event(l);
    std::size_t behind = res.buffered_bytes() + st->early.size();
    if (!res.alive() || behind > kMaxBuffered) {
      res.end();
      unsubscribe();
      return;
    }
    if (st->tail_sent) res.write(msg);
    else st->early += msg;
  });
  res.on_close(unsubscribe);
  auto read_tail = [marks = std::move(marks)] {
    std::vector<LogLine> lines;
    for (const TailMark& m : marks)
      for (auto& l : m.read(kTailLines)) lines.push_back(std::move(l));
    std::stable_sort(lines.begin(), lines.end(), [](const LogLine& a, const LogLine& b) { return a.time < b.time; });
    if (lines.size() > kTailLines) lines.erase(lines.begin(), lines.end() - static_cast<long>(kTailLines));
    std::string body;
    for (auto& l : lines) body += line_event(l);
    return body;
  };
  offload(sup_.loop(), std::move(read_tail), [res, st](std::string body) mutable {
    st->tail_sent = true;
    body += std::exchange(st->early, {});
    if (!body.empty()) res.write(body);
  });
}

}  // namespace rack::master
