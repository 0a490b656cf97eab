// Splitting a pipe's bytes into lines: the pure part of log capture.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace rack::master {

// Splits one pipe's bytes into whole lines. A line longer than `max_line`
// without a newline is emitted in pieces of max_line bytes, each marked as
// continued, so one runaway writer cannot make rackd buffer without bound.
// A line of exactly max_line bytes is not cut: the splitter waits for the
// next byte to know whether it is the newline.
class LineSplitter {
 public:
  using Emit = std::function<void(std::string_view line, bool continued)>;
  explicit LineSplitter(std::size_t max_line = 64 * 1024);
  // Calls emit(line, truncated) for each complete line in `bytes` (without
  // the newline); keeps the partial tail for the next call.
  void feed(std::string_view bytes, const std::function<void(std::string_view, bool continued)>& emit);
  // The pipe closed: emits the partial tail, if any.
  void finish(const std::function<void(std::string_view, bool continued)>& emit);
  // Bytes held back waiting for a newline (at most max_line).
  std::size_t pending() const { return partial_.size(); }
  std::size_t max_line() const { return max_line_; }
  // The partial tail itself, and putting one back (a new rackd image takes
  // over the pipe: upgrade/state.h).
  const std::string& partial() const { return partial_; }
  void restore_partial(std::string tail) { partial_ = std::move(tail); }

 private:
  void take_partial(std::string_view bytes, const Emit& emit);

  std::string partial_;
  std::size_t max_line_;
};

// The newlines in `bytes`, counted 16 bytes at a time.
std::size_t count_lines(std::string_view bytes);

}  // namespace rack::master
