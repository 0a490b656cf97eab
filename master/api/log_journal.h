// `rackctl logs -f` across an upgrade (and any reconnect): while an app's
// log is followed, every line it delivers gets a sequence number and is
// kept in a bounded journal, so a follower whose connection closed (the
// exec of `rackctl upgrade` closes every control connection) can come
// back with the last number it printed and get exactly the lines after it.
//
//   stream:   ... {"cursor":"R.S"} {"seq":S+1, "line":...} {"seq":S+2, ...}
//   resume:   GET /v1/logs?follow=1&n=0&after=R.S+2  →  S+3, S+4, ... then live
//
// Sequence numbers are one counter for all apps, so one cursor covers a
// follower of several apps and lines keep their order across apps. R names
// the rackd (its pid and first start), which an upgrade keeps: a cursor of
// another rackd is not resumed. The journal lives as long as the app is
// followed and kGrace after (an upgrade starts the grace over), and travels
// in the upgrade's state (save()/adopt()).
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logs/app_log.h"

namespace rack::master::api {

struct SeqLine {
  uint64_t seq = 0;
  LogLine line;
};

// Where a resumed follower stands with one app: the lines after its cursor,
// and whether the journal holds all of them.
struct Resumed {
  std::vector<SeqLine> lines;
  bool complete = true;  // false: some lines after the cursor were not kept
};

class LogJournals {
 public:
  // Per app, lines kept for followers to resume from: about this many bytes.
  static constexpr std::size_t kMaxBytes = 1u << 20;
  static constexpr uint64_t kGraceMs = 30000;

  static LogJournals& get();  // rackd's

  // "R" of a cursor "R.S": this rackd, across upgrades.
  std::string run() const;
  uint64_t last_seq() const { return seq_; }

  using Sink = std::function<void(const SeqLine&)>;
  // A follower of `log`'s app: gets every line after this call, numbered.
  // Returns an id for unfollow().
  uint64_t follow(uv_loop_t* loop, const std::shared_ptr<AppLog>& log, Sink sink);
  void unfollow(uint64_t id);

  // The lines of `log`'s app after `seq` (cursor of run()).
  Resumed since(const AppLog* log, uint64_t seq) const;

  // The upgrade's state: every journal of an app in `owners` (AppLog →
  // app name), and the counter.
  nlohmann::json save(const std::map<const AppLog*, std::string>& owners) const;
  // The new image, before any line is read: journals for the apps named,
  // recording again (each with a fresh grace), from `logs` (name → log).
  void adopt(uv_loop_t* loop, const nlohmann::json& j,
             const std::function<std::shared_ptr<AppLog>(const std::string&)>& log_of);

 private:
  struct Journal {
    // Weak: the journal never keeps a deleted app's log (and its files)
    // alive; a follower does, while it follows.
    std::weak_ptr<AppLog> log;
    uv_loop_t* loop = nullptr;
    uint64_t subscription = 0;
    uint64_t since = 0;         // recording every line with a greater seq
    uint64_t dropped_upto = 0;  // lines up to this seq were let go (kMaxBytes)
    std::deque<SeqLine> lines;
    std::size_t bytes = 0;
    std::map<uint64_t, Sink> sinks;
    uint64_t idle_since_ms = 0;  // no follower since (steady ms), 0 while followed
  };
  Journal& open(uv_loop_t* loop, const std::shared_ptr<AppLog>& log, uint64_t since);
  void record(Journal& j, const LogLine& l);
  void expire_later(uv_loop_t* loop, const AppLog* log);

  uint64_t seq_ = 0;
  uint64_t next_id_ = 1;
  std::map<const AppLog*, Journal> journals_;
  std::map<uint64_t, const AppLog*> followers_;
};

}  // namespace rack::master::api
