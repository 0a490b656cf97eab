// The end of a stream's log for `rackctl logs -n`, marked at one instant:
//
//   TailMark mark(dir, "web", LogStream::Out);   // on the loop
//   std::vector<LogLine> lines = mark.read(100);  // anywhere, later
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "logs/app_log.h"

namespace rack::master {

// The end of one stream's log as it is now, for `rackctl logs -n`: taken on
// the loop (an open() and a directory listing), read later off the loop. It
// holds the current file open and remembers its length and the newest
// rotated file, so read() gives exactly the lines written before the mark,
// whatever is written, rotated or compressed meanwhile: `rackctl logs -f`
// subscribes in the loop turn it marks in, and no line is missed or shown
// twice, while the reading (a ".gz" inflated) keeps off the loop.
class TailMark {
 public:
  // `names`: dir_names(dir), when one listing serves many marks. `log`:
  // the app's log, whose last `max_lines` lines not yet written (a failing
  // disk) end the tail, and whose date_format() its stamps are read with.
  // `date_format`: that format when there is no `log`.
  TailMark(const std::string& dir, const std::string& app, LogStream stream,
           const std::vector<std::string>* names = nullptr, const AppLog* log = nullptr,
           std::size_t max_lines = 0, std::string date_format = {});
  TailMark(TailMark&& other) noexcept;
  TailMark& operator=(TailMark&&) = delete;
  ~TailMark();

  // The last `n` lines of the current file and, while that holds fewer,
  // of the rotated ones, newest first (plain or ".gz"), as many as `n`
  // needs. Lines carry the time and slot
  // parsed from their prefix when there is one. A plain file is read
  // backwards from its end; a ".gz" is inflated from its start.
  std::vector<LogLine> read(std::size_t n) const;

 private:
  std::string dir_, app_, base_;
  LogStream stream_;
  int fd_ = -1;            // the current file at the mark (renamed since, maybe)
  uint64_t size_ = 0;      // its length then
  struct Rotated {
    std::string name;  // without ".gz"
    bool gz = false;
  };
  std::vector<Rotated> rotated_;  // the rotated files then, newest first
  std::string unwritten_;  // lines buffered then, not in the file
  std::string date_format_;  // logs.date_format the lines were written with
};

// TailMark(dir, app, stream).read(n): marks and reads at once.
std::vector<LogLine> tail(const std::string& dir, const std::string& app, LogStream stream, std::size_t n,
                          const std::string& date_format = {});

}  // namespace rack::master
