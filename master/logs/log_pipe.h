// Reads one of a worker's output pipes into its app's log.
#pragma once

#include <uv.h>

#include <memory>

#include "logs/app_log.h"

namespace rack::master {

// Lives until the pipe reaches EOF, which may be after the worker record is
// gone (a grandchild may still hold the pipe). When the log cannot take more
// (disk slow or full, on_full: block) reading stops until it can, so the
// writer blocks instead of losing lines.
class LogPipe {
 public:
  // Takes `fd`. `slot` is the worker's slot index, for the line prefix.
  static void open(uv_loop_t* loop, int fd, std::shared_ptr<AppLog> log, LogStream stream, int slot);
};

}  // namespace rack::master
