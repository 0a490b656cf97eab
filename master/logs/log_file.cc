// The current log file of a stream and the housekeeping of its rotated
// siblings. LogFile runs on the loop; sweep_rotated and the readers run
// wherever the caller puts them and share nothing with LogFile.
#include "logs/log_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>

#include <spdlog/spdlog.h>

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

// A ".gz.tmp.*" file this old belongs to no running compression (one takes
// seconds); it is what a crash left behind.
constexpr auto kStaleTmp = std::chrono::minutes(10);

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

}  // namespace

void set_log_write_fn_for_test(LogWriteFn fn) { g_write_fn.store(fn, std::memory_order_relaxed); }

int make_dirs(const std::string& dir) {
  if (dir.empty()) return 0;
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return errno;
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
}

int LogFile::open_current() {
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0 && errno == ENOENT && make_dirs(dir_) == 0) {
    fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  if (fd < 0) return errno;
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
  std::string to;
  for (unsigned counter = 0;; ++counter) {
    to = dir_ + "/" + rotated_name(base_, now, counter);
    if (!exists(to) && !exists(to + ".gz")) break;
  }
  if (::rename(path_.c_str(), to.c_str()) != 0) {
    if (errno != ENOENT) {
      spdlog::warn("rotating {} failed: rename to {}: {}; writing on to it", path_, to,
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

int LogFile::reopen() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  return open_current();
}

int LogFile::truncate() {
  int rc = fd_ >= 0 ? ::ftruncate(fd_, 0) : ::truncate(path_.c_str(), 0);
  if (rc != 0 && errno != ENOENT) return errno;
  // O_APPEND: the next write lands at offset 0 of the emptied file.
  file_size_ = 0;
  for (Segment& s : segs_) s.rotate_first = false;
  tail_size_ = bytes_after_last_mark();
  return 0;
}

void LogFile::set_dir(std::string dir) {
  dir_ = std::move(dir);
  path_ = dir_ + "/" + base_ + ".log";
  reopen();
}

// ---- rotated files (thread pool) -----------------------------------------

namespace {

struct DirScan {
  std::vector<RotatedFile> rotated;
  std::vector<std::string> tmp;  // "<base>.<stamp>.log.gz.tmp.XXXXXX"
};

DirScan scan(const std::string& dir, const std::string& base) {
  DirScan out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  std::string tmp_prefix = base + ".";
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (auto f = parse_rotated(base, name)) {
      out.rotated.push_back(std::move(*f));
    } else if (name.starts_with(tmp_prefix) && name.find(".log.gz.tmp.") != std::string_view::npos) {
      out.tmp.emplace_back(name);
    }
  }
  ::closedir(d);
  sort_newest_first(out.rotated);
  return out;
}

// gzip `path` to `path`.gz. Written to a unique temp name, fsynced, renamed,
// and only then is the plain file unlinked: a crash at any point leaves the
// plain file or a complete .gz, never a torn .gz alone. The unique name keeps
// two sweeps of the same file (an old and a new AppLog after a reload) from
// writing into one temp file.
int compress_file(const std::string& path, std::string& err) {
  int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) return 0;  // another sweep got there first
    err = "open " + path + ": " + std::strerror(errno);
    return -1;
  }
  struct stat st;
  ::fstat(in, &st);
  std::string tmp = path + ".gz.tmp.XXXXXX";
  int out = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (out < 0) {
    err = "create " + tmp + ": " + std::strerror(errno);
    ::close(in);
    return -1;
  }
  ::fchmod(out, 0644);
  int gz_fd = ::dup(out);
  gzFile gz = gz_fd >= 0 ? ::gzdopen(gz_fd, "wb6") : nullptr;
  bool ok = gz != nullptr;
  if (!ok && gz_fd >= 0) ::close(gz_fd);
  if (ok) ::gzbuffer(gz, 256 * 1024);
  std::vector<char> buf(256 * 1024);
  while (ok) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = "read " + path + ": " + std::strerror(errno);
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    if (::gzwrite(gz, buf.data(), unsigned(n)) != int(n)) {
      err = "gzwrite " + tmp + " failed";
      ok = false;
    }
  }
  if (gz != nullptr && ::gzclose(gz) != Z_OK && ok) {
    err = "gzclose " + tmp + " failed (disk full?)";
    ok = false;
  }
  if (ok && ::fsync(out) != 0) {
    err = "fsync " + tmp + ": " + std::strerror(errno);
    ok = false;
  }
  if (ok) {
    struct timespec times[2] = {st.st_atim, st.st_mtim};  // ls -l shows the last line's time
    ::futimens(out, times);
  }
  ::close(out);
  ::close(in);
  if (ok && ::rename(tmp.c_str(), (path + ".gz").c_str()) != 0) {
    err = "rename " + tmp + ": " + std::strerror(errno);
    ok = false;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return -1;
  }
  ::unlink(path.c_str());
  return 1;
}

}  // namespace

std::vector<RotatedFile> list_rotated(const std::string& dir, const std::string& base) {
  return scan(dir, base).rotated;
}

std::vector<std::string> dir_names(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<RotatedFile> list_rotated(const std::vector<std::string>& names, const std::string& base) {
  std::string prefix = base + ".";
  std::vector<RotatedFile> rotated;
  for (auto it = std::lower_bound(names.begin(), names.end(), prefix); it != names.end() && it->starts_with(prefix);
       ++it) {
    if (auto f = parse_rotated(base, *it)) rotated.push_back(std::move(*f));
  }
  sort_newest_first(rotated);
  return rotated;
}

void lower_this_thread_priority_for_housekeeping() {
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  sched_param none{};
  ::pthread_setschedparam(::pthread_self(), SCHED_IDLE, &none);
  constexpr int kWhoProcess = 1, kClassBestEffort = 2, kClassShift = 13;
  ::syscall(SYS_ioprio_set, kWhoProcess, 0, (kClassBestEffort << kClassShift) | 7);
}

void sweep_rotated(const std::string& dir, const std::string& base, unsigned keep,
                   std::optional<config::Duration> max_age, bool compress, SysTime now,
                   SweepResult& out) {
  DirScan found = scan(dir, base);
  for (const std::string& name : found.tmp) {
    std::string p = dir + "/" + name;
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) continue;
    auto mtime = SysTime(std::chrono::seconds(st.st_mtim.tv_sec));
    if (now - mtime > kStaleTmp) ::unlink(p.c_str());
  }

  std::set<std::string> gone;
  for (const RotatedFile& f : select_expired(found.rotated, keep, max_age, now)) {
    std::string p = dir + "/" + f.name;
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
      out.warnings.push_back("deleting " + p + " failed: " + std::strerror(errno));
      continue;
    }
    gone.insert(f.name);
    ++out.deleted;
  }
  if (!compress) return;

  std::set<std::string> names;
  for (const RotatedFile& f : found.rotated) names.insert(f.name);
  for (const RotatedFile& f : found.rotated) {
    if (f.compressed || gone.count(f.name)) continue;
    std::string p = dir + "/" + f.name;
    if (names.count(f.name + ".gz")) {
      // A complete .gz is only ever renamed into place, so the plain file is
      // what a crash between rename and unlink left: the .gz wins.
      ::unlink(p.c_str());
      continue;
    }
    std::string err;
    int rc = compress_file(p, err);
    if (rc < 0) out.warnings.push_back("compressing " + p + " failed: " + err);
    if (rc > 0) ++out.compressed;
  }
}

// ---- reading back (rackctl logs -n) ----------------------------------------

void split_lines(std::string_view data, std::vector<std::string>& lines) {
  while (!data.empty()) {
    std::size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      lines.emplace_back(data);
      return;
    }
    lines.emplace_back(data.substr(0, nl));
    data.remove_prefix(nl + 1);
  }
}

std::vector<std::string> last_lines(const std::string& path, std::size_t n) {
  if (n == 0) return {};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  struct stat st;
  std::vector<std::string> lines = last_lines(fd, ::fstat(fd, &st) == 0 ? uint64_t(st.st_size) : 0, n);
  ::close(fd);
  return lines;
}

std::vector<std::string> last_lines(int fd, uint64_t end, std::size_t n) {
  std::vector<std::string> lines;
  if (n == 0) return lines;
  off_t pos = off_t(end);
  // Read blocks backwards until the data holds n full lines after its first
  // newline (the bytes before it may be the end of an earlier line).
  std::string data;
  std::size_t block = 64 * 1024;
  std::size_t newlines = 0;  // in data, not counting a final one at EOF
  while (pos > 0) {
    std::size_t len = std::min<std::size_t>(block, std::size_t(pos));
    std::string chunk(len, '\0');
    ssize_t got = ::pread(fd, chunk.data(), len, pos - off_t(len));
    if (got != ssize_t(len)) break;
    pos -= off_t(len);
    bool at_eof = data.empty();
    newlines += std::size_t(std::count(chunk.begin(), chunk.end(), '\n'));
    if (at_eof && chunk.back() == '\n') --newlines;
    data.insert(0, chunk);
    if (newlines >= n) break;
    block = std::min<std::size_t>(block * 2, 8 << 20);
  }
  std::string_view view = data;
  if (pos > 0) view.remove_prefix(view.find('\n') + 1);  // drop the cut line
  split_lines(view, lines);
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - std::ptrdiff_t(n));
  return lines;
}

std::vector<std::string> last_lines_gz(const std::string& path, std::size_t n) {
  std::vector<std::string> lines;
  if (n == 0) return lines;
  gzFile gz = ::gzopen(path.c_str(), "rb");
  if (gz == nullptr) return lines;
  std::deque<std::string> ring;
  std::string partial;
  std::vector<char> buf(256 * 1024);
  int got;
  while ((got = ::gzread(gz, buf.data(), unsigned(buf.size()))) > 0) {
    std::string_view data(buf.data(), std::size_t(got));
    while (!data.empty()) {
      std::size_t nl = data.find('\n');
      if (nl == std::string_view::npos) {
        partial.append(data);
        break;
      }
      partial.append(data.substr(0, nl));
      data.remove_prefix(nl + 1);
      ring.push_back(std::move(partial));
      partial.clear();
      if (ring.size() > n) ring.pop_front();
    }
  }
  ::gzclose(gz);
  if (!partial.empty()) ring.push_back(std::move(partial));
  if (ring.size() > n) ring.pop_front();
  lines.assign(std::make_move_iterator(ring.begin()), std::make_move_iterator(ring.end()));
  return lines;
}

}  // namespace rack::master
