// An app's log files: <dir>/<app>.out.log and <app>.err.log.
//
// rackd reads every worker's stdout/stderr pipe and feeds the bytes here:
//
//   AppLog log(loop, "web", cfg.logs, "/home/me/.rack/logs", stats);
//   LineSplitter& out = ...;  // one per pipe, owned by the worker
//   bool ok = log.feed(splitter, LogStream::Out, slot, bytes);
//   if (!ok) { stop reading this pipe; log.when_writable([]{ resume reading; }); }
//   on EOF: log.finish(splitter, LogStream::Out, slot);   // the unterminated last line
//
// rackd is the only writer, so rotation is rename + reopen (never copy +
// truncate): nothing written in between can be lost. Compression and
// deletion of old files run on libuv's thread pool, never on the loop.
//
// On disk, with cfg.time on:
//   2026-11-22T03:20:59.123Z [3] the line
// (the time rackd read the line, UTC, and the worker's slot; cfg.date_format
// gives the time another shape, in local time). A piece of a
// line cut at max_line ends with " [continued]"; the next line holds the rest.
// Rotated files: web.out.2026-11-22T03-20-59.123Z.log, then ".log.gz" once
// compressed; a second rotation within one millisecond gets "_1" before ".log".
//
// With logs.dir: off (cfg.files false) there are no files: each line goes
// only to the subscribers and the no-files sink, never blocks the pipe,
// and is gone when nobody takes it.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "logs/line_splitter.h"
#include "rack/config.h"

namespace rack::master {

enum class LogStream { Out, Err };

// Counters rackd exports as rack_* metrics. Owned by the caller, shared by
// every AppLog of the daemon.
struct LogStats {
  uint64_t bytes_written = 0;  // that write(2) accepted
  uint64_t lines_written = 0;  // whose newline write(2) accepted
  uint64_t rotations = 0;      // successful renames
  uint64_t dropped_lines = 0;  // on_full Drop, whole lines
  uint64_t write_errors = 0;   // failed write/open calls, retries included (every 200 ms)
};


// A line as `rackctl logs` shows it.
struct LogLine {
  std::string app;
  int slot = -1;
  LogStream stream = LogStream::Out;
  std::chrono::system_clock::time_point time;
  std::string text;
  // The app's logs.date_format when it has one and time: true; refers to
  // its config, so valid only while a subscriber is being called.
  std::string_view date_format;
};

class AppLog {
 public:
  AppLog(uv_loop_t* loop, std::string app, config::LogConfig cfg, std::string dir, LogStats& stats);
  ~AppLog();
  AppLog(const AppLog&) = delete;
  AppLog& operator=(const AppLog&) = delete;

  // Splits `bytes` with `splitter` and appends each line (prefixed with an
  // ISO-8601 time and the slot when cfg.time). Returns false when the
  // in-memory buffer is over cfg.buffer and on_full is Block: the caller must
  // stop reading that pipe until when_writable() fires. With on_full Drop it
  // always returns true and counts dropped lines instead.
  bool feed(LineSplitter& splitter, LogStream stream, int slot, std::string_view bytes);
  // The pipe closed (EOF): appends the splitter's partial last line, if any.
  void finish(LineSplitter& splitter, LogStream stream, int slot);
  void when_writable(std::function<void()> resume);

  void reopen();    // rackctl reload-logs, SIGUSR1
  void flush();     // rackctl flush: empty the current files
  // Reload with a new config. Keeps the current directory unless cfg.dir is
  // set; the overload moves to `dir` (the resolved cfg.dir) either way.
  void set_config(const config::LogConfig& cfg);
  void set_config(const config::LogConfig& cfg, std::string dir);

  // Bytes accepted but not yet written, both streams (what cfg.buffer bounds).
  uint64_t pending_bytes() const;
  // LogFile::unwritten() of one stream.
  std::string unwritten(LogStream stream, uint64_t& in_file, std::size_t max_lines) const;

  std::string path(LogStream s) const;  // "" without files
  bool has_files() const;               // false: logs.dir: off
  // The stamp format its lines are written with ("" for the ISO one).
  std::string date_format() const;

  // Every line appended is also given to each subscriber (rackctl logs -f).
  using Subscriber = std::function<void(const LogLine&)>;
  uint64_t subscribe(Subscriber s);
  void unsubscribe(uint64_t id);
  // With logs.dir: off, every line also goes to `s` (rackd's stdout under
  // --no-daemon, when stdout does not get every app's lines anyway).
  void set_no_files_sink(Subscriber s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Test seam: every write(2) to a log file goes through this function, so a
// test can make it fail with ENOSPC (return -1, errno = ENOSPC) and then
// succeed again. nullptr restores ::write. Not for production use; it is
// process-wide and not synchronised with writes in progress.
using LogWriteFn = ssize_t (*)(int fd, const void* buf, size_t len);
void set_log_write_fn_for_test(LogWriteFn fn);

}  // namespace rack::master
