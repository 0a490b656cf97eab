#include "api/log_journal.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "rack/timer.h"
#include "upgrade/config_json.h"
#include "upgrade/state.h"

namespace rack::master::api {

using json = nlohmann::json;

namespace {

uint64_t steady_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// What a kept line costs, roughly: its text and the LogLine around it.
std::size_t cost(const LogLine& l) { return l.text.size() + l.app.size() + 96; }

}  // namespace

LogJournals& LogJournals::get() {
  // Never destroyed: at exit the loop is gone, and nothing here needs closing.
  static auto* journals = new LogJournals;
  return *journals;
}

std::string LogJournals::run() const {
  return std::to_string(::getpid()) + "-" + std::to_string(upgrade::image().first_started_ms);
}

LogJournals::Journal& LogJournals::open(uv_loop_t* loop, const std::shared_ptr<AppLog>& log, uint64_t since) {
  const AppLog* key = log.get();
  auto it = journals_.find(key);
  if (it != journals_.end() && it->second.log.expired()) {
    journals_.erase(it);  // a log that died, and its address is in use again
    it = journals_.end();
  }
  if (it != journals_.end()) return it->second;
  Journal& j = journals_[key];
  j.log = log;
  j.loop = loop;
  j.since = since;
  j.dropped_upto = 0;
  j.subscription = log->subscribe([this, key](const LogLine& l) {
    if (auto found = journals_.find(key); found != journals_.end()) record(found->second, l);
  });
  return j;
}

void LogJournals::record(Journal& j, const LogLine& l) {
  SeqLine s{++seq_, l};
  s.line.date_format = {};  // a view into the app's config, valid only during the call
  j.bytes += cost(l);
  j.lines.push_back(s);
  while (j.bytes > kMaxBytes && j.lines.size() > 1) {
    j.dropped_upto = j.lines.front().seq;
    j.bytes -= cost(j.lines.front().line);
    j.lines.pop_front();
  }
  // By id, looked up each time: a sink may unfollow (itself or another)
  // while it runs.
  std::vector<uint64_t> ids;
  ids.reserve(j.sinks.size());
  for (auto& [id, sink] : j.sinks) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = j.sinks.find(id);
    if (it == j.sinks.end()) continue;
    Sink sink = it->second;
    sink(s);
  }
}

uint64_t LogJournals::follow(uv_loop_t* loop, const std::shared_ptr<AppLog>& log, Sink sink) {
  Journal& j = open(loop, log, seq_);
  uint64_t id = next_id_++;
  j.sinks.emplace(id, std::move(sink));
  j.idle_since_ms = 0;
  followers_[id] = log.get();
  return id;
}

void LogJournals::unfollow(uint64_t id) {
  auto f = followers_.find(id);
  if (f == followers_.end()) return;
  const AppLog* key = f->second;
  followers_.erase(f);
  auto it = journals_.find(key);
  if (it == journals_.end()) return;
  Journal& j = it->second;
  j.sinks.erase(id);
  if (!j.sinks.empty()) return;
  j.idle_since_ms = steady_ms();
  expire_later(j.loop, key);
}

void LogJournals::expire_later(uv_loop_t* loop, const AppLog* key) {
  rack::after(loop, kGraceMs, [this, key] {
    auto it = journals_.find(key);
    if (it == journals_.end()) return;
    Journal& j = it->second;
    // Followed again, or idle for less than the grace (a later unfollow's
    // timer decides then).
    if (!j.sinks.empty() || j.idle_since_ms == 0 || steady_ms() - j.idle_since_ms < kGraceMs) return;
    if (auto log = j.log.lock()) log->unsubscribe(j.subscription);
    journals_.erase(it);
  });
}

Resumed LogJournals::since(const AppLog* log, uint64_t seq) const {
  Resumed r;
  auto it = journals_.find(log);
  if (it == journals_.end() || it->second.log.expired()) {
    r.complete = false;
    return r;
  }
  const Journal& j = it->second;
  r.complete = j.since <= seq && j.dropped_upto <= seq;
  auto first = std::upper_bound(j.lines.begin(), j.lines.end(), seq,
                                [](uint64_t s, const SeqLine& l) { return s < l.seq; });
  r.lines.assign(first, j.lines.end());
  return r;
}

json LogJournals::save(const std::map<const AppLog*, std::string>& owners) const {
  json apps = json::array();
  for (auto& [key, j] : journals_) {
    auto owner = owners.find(key);
    if (owner == owners.end() || j.log.expired()) continue;
    json lines = json::array();
    for (const SeqLine& s : j.lines) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(s.line.time.time_since_epoch()).count();
      lines.push_back({s.seq, s.line.slot, static_cast<int>(s.line.stream), ms, upgrade::hex(s.line.text)});
    }
    apps.push_back({{"app", owner->second}, {"since", j.since}, {"dropped_upto", j.dropped_upto},
                    {"lines", std::move(lines)}});
  }
  return {{"seq", seq_}, {"apps", std::move(apps)}};
}

void LogJournals::adopt(uv_loop_t* loop, const json& state,
                        const std::function<std::shared_ptr<AppLog>(const std::string&)>& log_of) {
  seq_ = state.at("seq").get<uint64_t>();
  for (const json& a : state.at("apps")) {
    std::string app = a.at("app").get<std::string>();
    std::shared_ptr<AppLog> log = log_of(app);
    if (!log) throw std::runtime_error("a log journal of an unknown app");
    Journal& j = open(loop, log, a.at("since").get<uint64_t>());
    j.dropped_upto = a.at("dropped_upto").get<uint64_t>();
    for (const json& l : a.at("lines")) {
      SeqLine s;
      s.seq = l.at(0).get<uint64_t>();
      s.line.app = app;
      s.line.slot = l.at(1).get<int>();
      s.line.stream = static_cast<LogStream>(l.at(2).get<int>());
      s.line.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(l.at(3).get<int64_t>()));
      s.line.text = upgrade::unhex(l.at(4).get<std::string>());
      j.bytes += cost(s.line);
      j.lines.push_back(std::move(s));
    }
    // Its followers come back (or not) from now on.
    j.idle_since_ms = steady_ms();
    expire_later(loop, log.get());
  }
}

}  // namespace rack::master::api
