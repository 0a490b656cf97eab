// Reads one of a worker's output pipes into its app's log.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "logs/app_log.h"

namespace rack::master {

// Lives until the pipe reaches EOF, which may be after the worker record is
// gone (a grandchild may still hold the pipe). When the log cannot take more
// (disk slow or full, on_full: block) reading stops until it can, so the
// writer blocks instead of losing lines.
//
// The worker asks PipeFlow whether it is held: rackd stopped reading and the
// writer has bytes waiting in the pipe, so it is blocked in write() or soon
// will be. Such a worker is not judged by its heartbeat (it cannot answer
// while rackd holds its output) and is shown as blocked on logs.
struct PipeFlow {
  bool paused = false;  // rackd stopped reading (on_full: block, log over its buffer)
  int fd = -1;          // the read end while open, else -1
  bool held() const;
};

class LogPipe {
 public:
  // Takes `fd`. `slot` is the worker's slot index, for the line prefix.
  static std::shared_ptr<const PipeFlow> open(uv_loop_t* loop, int fd, std::shared_ptr<AppLog> log, LogStream stream,
                                              int slot);
  // Pipes not at EOF yet. rackd's shutdown runs the loop until this is 0
  // (or a deadline passes), so the last lines of workers that just exited
  // reach the files rather than die in the pipes with rackd.
  static std::size_t open_count();

  // Across an upgrade's exec (upgrade/state.h): every pipe still read, with
  // the line it is in the middle of, and taking one over in the new image.
  struct Handover {
    int fd = -1;
    const AppLog* log = nullptr;
    LogStream stream = LogStream::Out;
    int slot = 0;
    std::string partial;
  };
  static std::vector<Handover> handover();
  static std::shared_ptr<const PipeFlow> adopt(uv_loop_t* loop, const Handover& h, std::shared_ptr<AppLog> log);
};

}  // namespace rack::master
