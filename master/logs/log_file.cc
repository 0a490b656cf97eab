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
#include <random>
#include <set>

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

// A ".gz.tmp.*" file this old belongs to no running compression (one takes
// seconds); it is what a crash left behind.
constexpr auto kStaleTmp = std::chrono::minutes(10);

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

// ---- rotated files (thread pool) -----------------------------------------

namespace {

struct DirScan {
  std::vector<RotatedFile> rotated;
  std::vector<std::string> tmp;  // "<base>.<stamp>.log.gz.tmp.XXXXXX"
};

DirScan scan(int dirfd, const std::string& base) {
  DirScan out;
  int copy = ::dup(dirfd);  // closedir closes the fd it was given
  DIR* d = copy >= 0 ? ::fdopendir(copy) : nullptr;
  if (d == nullptr) {
    if (copy >= 0) ::close(copy);
    return out;
  }
  ::rewinddir(d);
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
// A fresh "<name>.gz.tmp.XXXXXX" in dirfd, created O_EXCL (a planted
// symlink of that name is not followed) with `mode`. -1 on error.
int create_temp_at(int dirfd, const std::string& name, mode_t mode, std::string& tmp) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint64_t r = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
    tmp = name + ".gz.tmp.";
    for (int i = 0; i < 6; ++i, r /= 62) tmp += kChars[r % 62];
    int fd = ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;
}

int compress_file(int dirfd, const std::string& dir, const std::string& name, std::string& err) {
  std::string path = dir + "/" + name;
  int in = ::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (in < 0) {
    if (errno == ENOENT) return 0;  // another sweep got there first
    err = "open " + path + ": " + std::strerror(errno);
    return -1;
  }
  struct stat st;
  if (::fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
    err = "open " + path + ": not a regular file";
    ::close(in);
    return -1;
  }
  std::string tmp_name;
  int out = create_temp_at(dirfd, name, st.st_mode & 0777, tmp_name);
  std::string tmp = dir + "/" + tmp_name;
  if (out < 0) {
    err = "create " + tmp + ": " + std::strerror(errno);
    ::close(in);
    return -1;
  }
  ::fchmod(out, st.st_mode & 0777);  // the rotated file's mode, not the umask's
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
  if (ok && ::renameat(dirfd, tmp_name.c_str(), dirfd, (name + ".gz").c_str()) != 0) {
    err = "rename " + tmp + ": " + std::strerror(errno);
    ok = false;
  }
  if (!ok) {
    ::unlinkat(dirfd, tmp_name.c_str(), 0);
    return -1;
  }
  ::unlinkat(dirfd, name.c_str(), 0);
  return 1;
}

}  // namespace

std::vector<RotatedFile> list_rotated(const std::string& dir, const std::string& base) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return {};
  auto rotated = scan(fd, base).rotated;
  ::close(fd);
  return rotated;
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
  // Every name is resolved in one checked directory fd: what is removed or
  // compressed is in the directory rackd writes, whatever links are planted.
  int dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) return;  // nothing was ever written there
  struct stat dst;
  if (::fstat(dirfd, &dst) != 0 || !unsafe_log_dir(dst, ::geteuid()).empty()) {
    ::close(dirfd);  // LogFile says why it does not write there
    return;
  }
  sweep_rotated_at(dirfd, dir, base, keep, max_age, compress, now, out);
  ::close(dirfd);
}

void sweep_rotated_at(int dirfd, const std::string& dir, const std::string& base, unsigned keep,
                      std::optional<config::Duration> max_age, bool compress, SysTime now, SweepResult& out) {
  DirScan found = scan(dirfd, base);
  for (const std::string& name : found.tmp) {
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    auto mtime = SysTime(std::chrono::seconds(st.st_mtim.tv_sec));
    if (now - mtime > kStaleTmp) ::unlinkat(dirfd, name.c_str(), 0);
  }

  std::set<std::string> gone;
  for (const RotatedFile& f : select_expired(found.rotated, keep, max_age, now)) {
    std::string p = dir + "/" + f.name;
    if (::unlinkat(dirfd, f.name.c_str(), 0) != 0 && errno != ENOENT) {
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
      ::unlinkat(dirfd, f.name.c_str(), 0);
      continue;
    }
    std::string err;
    int rc = compress_file(dirfd, dir, f.name, err);
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
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  gzFile gz = fd >= 0 ? ::gzdopen(fd, "rb") : nullptr;
  if (gz == nullptr) {
    if (fd >= 0) ::close(fd);
    return lines;
  }
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
