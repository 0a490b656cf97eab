// The current log file of a stream: its buffer of segments, the write(2)
// calls, rename + reopen at the marked points. Runs on the loop.
#include "logs/log_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "logs/log_dir.h"

namespace rack::master {
namespace {

std::atomic<LogWriteFn> g_write_fn{nullptr};

ssize_t write_some(int fd, const char* p, std::size_t len) {
  LogWriteFn fn = g_write_fn.load(std::memory_order_relaxed);
  return fn ? fn(fd, p, len) : ::write(fd, p, len);
}

// A segment bigger than this is not kept around for reuse once drained: it
// only grew during an outage, and its memory should go back.
constexpr std::size_t kKeepCapacity = 1 << 20;

bool exists_at(int dirfd, const std::string& name) {
  return ::faccessat(dirfd, name.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

}  // namespace

void set_log_write_fn_for_test(LogWriteFn fn) { g_write_fn.store(fn, std::memory_order_relaxed); }

int make_dirs(const std::string& dir) {
  if (dir.empty()) return 0;
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), kLogDirMode) != 0 && errno != EEXIST) return errno;
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

// ---- LogFile ---------------------------------------------------------------

LogFile::LogFile(std::string dir, std::string base, LogStats& stats)
    : dir_(std::move(dir)), base_(std::move(base)), path_(dir_ + "/" + base_ + ".log"),
      stats_(stats) {
  // Opened eagerly so `rackctl logs` finds the file and size rotation counts
  // what an earlier rackd left in it. A failure shows up at the first drain.
  open_current();
}

LogFile::~LogFile() {
  if (fd_ >= 0) ::close(fd_);
  if (dirfd_ >= 0) ::close(dirfd_);
}

int LogFile::open_dir() {
  if (dirfd_ >= 0) return 0;
  std::string error;
  dirfd_ = open_log_dir(dir_, error);
  if (dirfd_ >= 0) {
    dir_error_.clear();
    return 0;
  }
  // Said once per cause: drain() retries this every few hundred ms.
  if (error != dir_error_) spdlog::error("{}: {}; its lines are buffered, then held back", name(), error);
  dir_error_ = error;
  return EACCES;
}

void LogFile::set_owner(std::optional<uint32_t> uid, std::optional<uint32_t> gid) {
  owner_uid_ = uid;
  owner_gid_ = gid;
  if (fd_ >= 0) chown_to_owner(fd_);
}

void LogFile::chown_to_owner(int fd) {
  if ((!owner_uid_ && !owner_gid_) || ::geteuid() != 0) return;
  if (::fchown(fd, owner_uid_ ? *owner_uid_ : uid_t(-1), owner_gid_ ? *owner_gid_ : gid_t(-1)) != 0)
    spdlog::warn("{}: chown to the app's user failed: {}", name(), std::strerror(errno));
}

int LogFile::open_current() {
  if (int e = open_dir()) return e;
  int fd = open_log_file(dirfd_, name());
  if (fd == -ENOENT) {
    // The directory was removed under us: start again from its path.
    ::close(dirfd_);
    dirfd_ = -1;
    if (int e = open_dir()) return e;
    fd = open_log_file(dirfd_, name());
  }
  if (fd < 0) return -fd;
  chown_to_owner(fd);
  struct stat st;
  file_size_ = ::fstat(fd, &st) == 0 ? uint64_t(st.st_size) : 0;
  fd_ = fd;
  tail_size_ = bytes_after_last_mark();
  return 0;
}

// What the newest target file will hold once everything is written: the
// bytes after the last rotation mark, plus the current file if no mark is
// pending.
uint64_t LogFile::bytes_after_last_mark() const {
  uint64_t bytes = 0;
  for (auto it = segs_.rbegin(); it != segs_.rend(); ++it) {
    bytes += it->data.size() - it->off;
    if (it->rotate_first) return bytes;
  }
  return file_size_ + bytes;
}

void LogFile::append(std::string_view prefix, std::string_view text, std::string_view suffix,
                     uint64_t max_size) {
  uint64_t len = prefix.size() + text.size() + suffix.size() + 1;
  if (segs_.empty()) segs_.emplace_back();
  if (starts_new_file(tail_size_, len, max_size)) mark_rotation();
  Segment& s = segs_.back();
  s.data.append(prefix).append(text).append(suffix).push_back('\n');
  ++s.lines;
  pending_ += len;
  tail_size_ += len;
}

bool LogFile::append_block(std::string_view block, uint64_t lines, uint64_t max_size) {
  // No line starts a new file iff the whole block fits (starts_new_file is
  // false for every line exactly when tail + block <= max_size).
  if (max_size > 0 && tail_size_ + block.size() > max_size) return false;
  if (segs_.empty()) segs_.emplace_back();
  Segment& s = segs_.back();
  s.data.append(block);
  s.lines += lines;
  pending_ += block.size();
  tail_size_ += block.size();
  return true;
}

void LogFile::mark_rotation() {
  if (tail_size_ == 0) return;
  if (!segs_.empty() && segs_.back().data.empty()) {
    segs_.back().rotate_first = true;
  } else {
    segs_.push_back(Segment{{}, 0, 0, 0, true});
  }
  tail_size_ = 0;
}

// Rename + reopen. Only rackd writes here, so nothing can land in the old
// file between the rename and the close.
bool LogFile::rotate() {
  SysTime now = std::chrono::system_clock::now();
  if (open_dir() != 0) return false;  // said by open_dir; the next drain retries
  std::string to;
  for (unsigned counter = 0;; ++counter) {
    to = rotated_name(base_, now, counter);
    if (!exists_at(dirfd_, to) && !exists_at(dirfd_, to + ".gz")) break;
  }
  // Renamed within the directory fd the file was opened in: a directory
  // swapped for a symlink since cannot redirect it.
  if (::renameat(dirfd_, name().c_str(), dirfd_, to.c_str()) != 0) {
    if (errno != ENOENT) {
      spdlog::warn("rotating {} failed: rename to {}/{}: {}; writing on to it", path_, dir_, to,
                   std::strerror(errno));
      return false;
    }
    // Someone removed the file: nothing to rotate, start a fresh one.
    to.clear();
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  file_size_ = 0;
  open_current();  // a failure is retried (and reported) by drain()
  if (to.empty()) return false;
  ++stats_.rotations;
  return true;
}

LogFile::Result LogFile::drain() {
  Result r;
  while (!segs_.empty()) {
    Segment& s = segs_.front();
    if (s.rotate_first) {
      s.rotate_first = false;  // a failed rename is not retried per line
      if (rotate()) ++r.rotations;
    }
    if (fd_ < 0) {
      if (int e = open_current()) {
        r.error = e;
        r.op = "opening";
        return r;
      }
    }
    while (s.off < s.data.size()) {
      const char* p = s.data.data() + s.off;
      ssize_t n = write_some(fd_, p, s.data.size() - s.off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        r.error = n < 0 ? errno : EIO;  // 0 for a non-empty write: treat as I/O error
        r.op = "writing";
        return r;
      }
      stats_.bytes_written += uint64_t(n);
      file_size_ += uint64_t(n);
      pending_ -= uint64_t(n);
      s.off += std::size_t(n);
      // Lines are counted per segment; only a partial write needs a scan
      // (a per-byte count of everything written cost 15% of the loop).
      if (s.off < s.data.size()) {
        uint64_t done = count_lines(std::string_view(p, std::size_t(n)));
        s.lines_done += done;
        stats_.lines_written += done;
      }
    }
    stats_.lines_written += s.lines - s.lines_done;
    if (segs_.size() > 1) {
      segs_.pop_front();
    } else if (s.data.capacity() > kKeepCapacity) {
      segs_.clear();
    } else {
      s.data.clear();  // keep the capacity: the next feed() appends here
      s.off = 0;
      s.lines = s.lines_done = 0;
      break;
    }
  }
  return r;
}

std::string LogFile::unwritten(uint64_t& in_file, std::size_t max_lines) const {
  in_file = 0;
  std::vector<std::string_view> parts;  // newest first
  std::size_t lines = 0;
  for (std::size_t i = segs_.size(); i-- > 0 && lines < max_lines;) {
    const Segment& s = segs_[i];
    std::size_t from = s.off, head = 0;
    if (i == 0 && from > 0) {  // a segment starts at a line's start
      std::size_t nl = s.data.rfind('\n', from - 1);
      std::size_t start = nl == std::string::npos ? 0 : nl + 1;
      head = from - start;
      from = start;
    }
    // Whole lines (each ends in '\n'), from the end, as many as still wanted.
    std::string_view v(s.data.data() + from, s.data.size() - from);
    std::size_t begin = v.size();
    while (begin > 0 && lines < max_lines) {
      std::size_t prev = begin > 1 ? v.rfind('\n', begin - 2) : std::string_view::npos;
      begin = prev == std::string_view::npos ? 0 : prev + 1;
      ++lines;
    }
    if (i == 0 && begin == 0) in_file = head;
    parts.push_back(v.substr(begin));
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out.append(*it);
  return out;
}

std::size_t LogFile::restart_partial_line() {
  if (segs_.empty()) return 0;
  Segment& s = segs_.front();
  if (s.off == 0 || s.data[s.off - 1] == '\n') return 0;
  std::size_t nl = s.data.rfind('\n', s.off - 1);
  std::size_t start = nl == std::string::npos ? 0 : nl + 1;  // a segment starts at a line's start
  std::size_t head = s.off - start;
  s.off = start;
  pending_ += head;
  file_size_ -= std::min<uint64_t>(file_size_, head);
  return head;
}

int LogFile::reopen() {
  if (fd_ >= 0) {
    // The old file keeps whole lines only: the head of a line cut short
    // by a failed write comes off it, and the line goes to the new file.
    struct stat st;
    if (std::size_t head = restart_partial_line(); head > 0 && ::fstat(fd_, &st) == 0 && uint64_t(st.st_size) >= head)
      (void)!::ftruncate(fd_, st.st_size - off_t(head));
    ::close(fd_);
  }
  fd_ = -1;
  // The directory too: an external logrotate may have moved it.
  if (dirfd_ >= 0) ::close(dirfd_);
  dirfd_ = -1;
  return open_current();
}

int LogFile::truncate() {
  // Only ever the file rackd opened (O_NOFOLLOW): truncate(path) would
  // empty whatever a planted symlink points to.
  if (fd_ < 0) {
    if (int e = open_current(); e != 0 && e != ENOENT) return e;
  }
  if (fd_ >= 0 && ::ftruncate(fd_, 0) != 0) return errno;
  // O_APPEND: the next write lands at offset 0 of the emptied file. A
  // line whose head was in it is written again whole, not its tail alone.
  restart_partial_line();
  file_size_ = 0;
  for (Segment& s : segs_) s.rotate_first = false;
  tail_size_ = bytes_after_last_mark();
  return 0;
}

void LogFile::set_dir(std::string dir) {
  dir_ = std::move(dir);
  if (dirfd_ >= 0) ::close(dirfd_);
  dirfd_ = -1;
  path_ = dir_ + "/" + base_ + ".log";
  reopen();
}

}  // namespace rack::master
