// TailMark: the end of a stream's log, marked on the loop and read off it.
#include "logs/tail_mark.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "logs/log_dir.h"
#include "logs/log_reader.h"
#include "logs/rotated_files.h"

namespace rack::master {

TailMark::TailMark(const std::string& dir, const std::string& app, LogStream stream,
                   const std::vector<std::string>* names, const AppLog* log, std::size_t max_lines,
                   std::string date_format)
    : dir_(dir), app_(app), base_(app + (stream == LogStream::Out ? ".out" : ".err")), stream_(stream),
      date_format_(log ? log->date_format() : std::move(date_format)) {
  fd_ = open_log_for_reading(dir_, base_ + ".log");
  struct stat st;
  if (fd_ >= 0 && ::fstat(fd_, &st) == 0) size_ = uint64_t(st.st_size);
  if (log) {
    uint64_t in_file = 0;
    unwritten_ = log->unwritten(stream, in_file, max_lines);
    size_ -= std::min(size_, in_file);  // that line is read whole from unwritten_
  }
  std::vector<RotatedFile> rotated = names ? list_rotated(*names, base_) : list_rotated(dir_, base_);
  for (RotatedFile& r : rotated) {  // newest first; the plain file when both exist
    bool gz = r.compressed;
    if (gz) r.name.resize(r.name.size() - 3);  // ".gz"
    rotated_.push_back({std::move(r.name), gz});
  }
}

TailMark::TailMark(TailMark&& other) noexcept
    : dir_(std::move(other.dir_)),
      app_(std::move(other.app_)),
      base_(std::move(other.base_)),
      stream_(other.stream_),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      rotated_(std::move(other.rotated_)),
      unwritten_(std::move(other.unwritten_)),
      date_format_(std::move(other.date_format_)) {}

TailMark::~TailMark() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<LogLine> TailMark::read(std::size_t n) const {
  std::vector<std::string> fresh;  // the newest: not in the file yet
  split_lines(unwritten_, fresh);
  if (fresh.size() > n) fresh.erase(fresh.begin(), fresh.end() - std::ptrdiff_t(n));
  n -= fresh.size();
  std::vector<std::string> lines = fd_ >= 0 ? last_lines(fd_, size_, n) : std::vector<std::string>{};
  // Back through the rotated files until n lines are found. Races: a
  // sweep may have compressed a plain one since the mark (read the ".gz"),
  // or deleted an old one past `keep` (the tail ends there).
  for (const Rotated& r : rotated_) {
    if (lines.size() >= n) break;
    std::string p = dir_ + "/" + r.name;
    std::size_t want = n - lines.size();
    std::vector<std::string> older = r.gz ? std::vector<std::string>{} : last_lines(p, want);
    if (older.empty()) older = last_lines_gz(p + ".gz", want);
    lines.insert(lines.begin(), std::make_move_iterator(older.begin()), std::make_move_iterator(older.end()));
  }
  lines.insert(lines.end(), std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()));
  std::vector<LogLine> out;
  out.reserve(lines.size());
  for (std::string& text : lines) {
    LogLine ll;
    ll.app = app_;
    ll.stream = stream_;
    if (auto p = parse_line_prefix(text, date_format_)) {
      ll.time = p->time;
      ll.slot = p->slot;
      ll.text = text.substr(p->length);
    } else {
      ll.text = std::move(text);
    }
    out.push_back(std::move(ll));
  }
  return out;
}

std::vector<LogLine> tail(const std::string& dir, const std::string& app, LogStream stream, std::size_t n,
                          const std::string& date_format) {
  return TailMark(dir, app, stream, nullptr, nullptr, 0, date_format).read(n);
}

}  // namespace rack::master
