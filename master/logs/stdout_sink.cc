#include "logs/stdout_sink.h"

#include <unistd.h>

#include <cerrno>

#include <nlohmann/json.hpp>

#include "logs/rotation_policy.h"
#include "rack/date_format.h"

namespace rack::master {

StdoutSink::StdoutSink(int fd, Format format, std::size_t max_pending)
    : fd_(fd), format_(format), max_pending_(max_pending), thread_([this] { run(); }) {}

StdoutSink::~StdoutSink() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

std::string StdoutSink::format(const LogLine& l, Format format) {
  const char* stream = l.stream == LogStream::Out ? "out" : "err";
  if (format == Format::Pretty) {
    std::string time;
    if (l.date_format.empty()) time = format_iso_ms(l.time);
    else date_format::append(time, l.date_format, l.time);
    return time + " " + l.app + "[" + (l.slot < 0 ? "-" : std::to_string(l.slot)) + "] " + stream +
           " | " + l.text;
  }
  nlohmann::ordered_json j = {{"time", format_iso_ms(l.time)}, {"app", l.app}, {"slot", l.slot},
                              {"stream", stream}, {"line", l.text}};
  // An app's output need not be UTF-8: replace what is not.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void StdoutSink::write(const LogLine& line) {
  std::string text = format(line, format_);
  {
    std::lock_guard lock(mu_);
    if (queue_.size() + text.size() + 1 > max_pending_) {
      ++dropped_;
      ++dropped_unreported_;
      return;
    }
    if (dropped_unreported_ > 0) {
      LogLine note{"rackd", -1, LogStream::Err, line.time,
                   "stdout: " + std::to_string(dropped_unreported_) +
                       " app lines not copied here (the reader was slow); the log files have them",
                   {}};
      queue_ += format(note, format_) + "\n";
      dropped_unreported_ = 0;
    }
    queue_ += text;
    queue_ += '\n';
  }
  cv_.notify_one();
}

uint64_t StdoutSink::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void StdoutSink::run() {
  std::string out;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty() && stop_) return;
      out.swap(queue_);
    }
    std::size_t off = 0;
    while (off < out.size()) {
      ssize_t n = ::write(fd_, out.data() + off, out.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // stdout closed or broken: nothing else to do with these lines
      off += static_cast<std::size_t>(n);
    }
    out.clear();
  }
}

}  // namespace rack::master
