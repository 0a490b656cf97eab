// Every app line also on rackd's own stdout, for `rackd --no-daemon` in a
// container (kubectl logs, docker logs, journald), as pm2-runtime does:
//
//   StdoutSink sink(1, StdoutSink::Format::Json);
//   app.log()->subscribe([&](const LogLine& l) { sink.write(l); });
//
// Json: {"time":"2026-11-22T03:20:59.123Z","app":"web","slot":0,"stream":"out","line":"..."}
// Pretty (LOG_FORMAT=pretty): 2026-11-22T03:20:59.123Z web[0] out | ...
// (the time as the app's logs.date_format has it, when set with time: true;
// Json keeps the ISO time, for machines).
//
// The loop only formats and queues; a thread of its own does the blocking
// write(2), so a slow reader of the pipe (a container runtime under load)
// never stalls dispatch. Past `max_pending` bytes queued, lines are
// dropped and counted (dropped()), and a line saying how many goes out when
// there is room again: stdout is a copy, the log files stay complete.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "logs/app_log.h"

namespace rack::master {

class StdoutSink {
 public:
  enum class Format { Json, Pretty };
  StdoutSink(int fd, Format format, std::size_t max_pending = 8u << 20);
  ~StdoutSink();  // writes what is queued, then joins
  StdoutSink(const StdoutSink&) = delete;
  StdoutSink& operator=(const StdoutSink&) = delete;

  void write(const LogLine& line);
  uint64_t dropped() const;

  // The line as written (without the newline): for tests.
  static std::string format(const LogLine& line, Format format);

  friend class StateCodec;  // upgrade/state.h: carries the queue across exec

 private:
  void run();

  int fd_;
  Format format_;
  std::size_t max_pending_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string queue_;
  uint64_t dropped_ = 0;
  uint64_t dropped_unreported_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace rack::master
