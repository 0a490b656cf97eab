// The rotated siblings of a stream's current file: listing them, and the
// sweep (delete what is expired, gzip the rest) that runs off the loop and
// shares nothing with LogFile.
#include "logs/rotated_files.h"

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
#include <cerrno>
#include <cstring>
#include <random>
#include <set>

#include "logs/log_dir.h"

namespace rack::master {

namespace {

// A ".gz.tmp.*" file this old belongs to no running compression (one takes
// seconds); it is what a crash left behind.
constexpr auto kStaleTmp = std::chrono::minutes(10);


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

}  // namespace rack::master
