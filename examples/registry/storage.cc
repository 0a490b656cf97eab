// Storage: see storage.h for the rules and the races.
#include "storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

namespace registry {

namespace {

constexpr std::size_t kMaxSegmentBytes = 255;  // NAME_MAX
constexpr std::size_t kMaxPathBytes = 1024;
constexpr const char* kTempDir = ".tmp";
constexpr std::string_view kTempPrefix = "upload-";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict: a '%' not followed by two hex digits is an error, not a literal.
bool decode_segment(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

PathCheck refuse(PathKind kind, std::string message) {
  PathCheck c;
  c.kind = kind;
  c.message = std::move(message);
  return c;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_;
};

std::atomic<bool> g_no_openat2{false};

// Symlinks: Inside follows those that stay beneath `dirfd`; None refuses all.
enum class Symlinks { Inside, None };

// Fallback for kernels without openat2: one component at a time, refusing
// every symlink (stricter than Inside, never looser).
int walk_nofollow(int dirfd, const std::string& rel, int flags) {
  Fd cur(::dup(dirfd));
  if (!cur) return -1;
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = rel.find('/', start);
    std::string seg = rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (slash == std::string::npos) return ::openat(cur.get(), seg.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0);
    int next = ::openat(cur.get(), seg.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return -1;
    cur.reset(next);
    start = slash + 1;
  }
}

// openat(dirfd, rel) that cannot leave dirfd. -1 with errno on failure.
int open_beneath(int dirfd, const std::string& rel, int flags, Symlinks symlinks) {
  if (!g_no_openat2.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    if (symlinks == Symlinks::None) how.resolve |= RESOLVE_NO_SYMLINKS;
    long fd = ::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != ENOSYS) return -1;
    g_no_openat2.store(true, std::memory_order_relaxed);
  }
  return walk_nofollow(dirfd, rel, flags);
}

// Lookups that fail because the path leads out of the storage, through a
// symlink we refuse, or through a file used as a directory, all mean "there
// is no such file in the storage".
int as_not_found(int err) {
  return err == EXDEV || err == ELOOP || err == ENOTDIR || err == ENAMETOOLONG ? ENOENT : err;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::atomic<uint64_t> g_upload_seq{0};

}  // namespace

// ---- paths -------------------------------------------------------------------

std::string StoragePath::relative() const {
  std::string out;
  for (const std::string& s : segments) {
    if (!out.empty()) out += '/';
    out += s;
  }
  return out;
}

std::string StoragePath::display() const { return "/" + relative(); }

PathCheck parse_request_path(std::string_view raw) {
  if (raw.empty() || raw.front() != '/') return refuse(PathKind::Invalid, "the path must start with '/'");
  if (raw.size() > kMaxPathBytes) return refuse(PathKind::Invalid, "the path is longer than 1024 bytes");
  raw.remove_prefix(1);
  PathCheck c;
  bool hidden = false;
  std::string seg;
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = raw.find('/', start);
    std::string_view enc = raw.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (enc.empty()) return refuse(PathKind::Invalid, "empty path segment");
    if (!decode_segment(enc, seg)) return refuse(PathKind::Invalid, "malformed percent-encoding in the path");
    if (seg == "." || seg == "..") return refuse(PathKind::Invalid, "'.' and '..' are not allowed in paths");
    for (char ch : seg) {
      auto u = static_cast<unsigned char>(ch);
      if (u == 0) return refuse(PathKind::Invalid, "NUL byte in the path");
      if (ch == '/') return refuse(PathKind::Invalid, "encoded '/' in a path segment");
      if (u < 0x20 || u == 0x7f) return refuse(PathKind::Invalid, "control character in the path");
    }
    if (seg.size() > kMaxSegmentBytes) return refuse(PathKind::Invalid, "a path segment is longer than 255 bytes");
    if (seg.front() == '.') hidden = true;
    c.path.segments.push_back(seg);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (hidden) {
    PathCheck h = refuse(PathKind::Hidden, "names starting with '.' are reserved");
    h.path = std::move(c.path);
    return h;
  }
  c.kind = PathKind::File;
  return c;
}

std::string errno_text(int err) { return std::string(uv_err_name(-err)) + ": " + uv_strerror(-err); }

// ---- reading -----------------------------------------------------------------

int Storage::open_root(int& error) const {
  int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) error = errno;
  return fd;
}

Storage::Opened Storage::open_file(const StoragePath& path) const {
  Opened o;
  Fd root(open_root(o.error));
  if (!root) return o;
  // O_NONBLOCK: opening a FIFO someone left in the storage must not hang a
  // thread-pool thread; it is refused below as not a regular file.
  Fd fd(open_beneath(root.get(), path.relative(), O_RDONLY | O_NONBLOCK, Symlinks::Inside));
  if (!fd) {
    o.error = as_not_found(errno);
    return o;
  }
  if (::fstat(fd.get(), &o.st) != 0) {
    o.error = errno;
    return o;
  }
  if (!S_ISREG(o.st.st_mode)) {
    o.error = ENOENT;  // directories, devices, sockets: not files we serve
    return o;
  }
  int fl = ::fcntl(fd.get(), F_GETFL);
  if (fl >= 0) ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK);
  o.fd = fd.release();
  return o;
}

int Storage::check() const {
  struct stat st{};
  if (::stat(root_.c_str(), &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;
  if (::access(root_.c_str(), R_OK | X_OK) != 0) return errno;
  return 0;
}

// ---- writing -----------------------------------------------------------------

int Storage::open_parent(const StoragePath& path, bool create, int& error) const {
  Fd cur(open_root(error));
  if (!cur) return -1;
  for (std::size_t i = 0; i + 1 < path.segments.size(); ++i) {
    const std::string& seg = path.segments[i];
    int next = open_beneath(cur.get(), seg, O_RDONLY | O_DIRECTORY, Symlinks::None);
    if (next < 0 && errno == ENOENT && create) {
      if (::mkdirat(cur.get(), seg.c_str(), 0755) == 0)
        ::fsync(cur.get());  // the new directory's name is as durable as the file's
      else if (errno != EEXIST)
        return error = errno, -1;
      next = open_beneath(cur.get(), seg, O_RDONLY | O_DIRECTORY, Symlinks::None);
    }
    if (next < 0) return error = errno, -1;
    cur.reset(next);
  }
  return cur.release();
}

Storage::Published Storage::publish(const StoragePath& path, std::string_view body) const {
  Published p;
  auto fail = [&p](const char* step, int err) -> Published& {
    p.step = step;
    p.error = err;
    return p;
  };
  int err = 0;
  Fd parent(open_parent(path, true, err));
  if (!parent) return fail("open directory", err);
  Fd root(open_root(err));
  if (!root) return fail("open storage", err);
  if (::mkdirat(root.get(), kTempDir, 0700) != 0 && errno != EEXIST) return fail("mkdir .tmp", errno);
  Fd tmpdir(open_beneath(root.get(), kTempDir, O_RDONLY | O_DIRECTORY, Symlinks::None));
  if (!tmpdir) return fail("open .tmp", errno);

  std::string tmp = std::string(kTempPrefix) + std::to_string(::getpid()) + "-" +
                    std::to_string(g_upload_seq.fetch_add(1, std::memory_order_relaxed));
  Fd out(::openat(tmpdir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!out) return fail("create temp file", errno);
  auto discard = [&] { ::unlinkat(tmpdir.get(), tmp.c_str(), 0); };
  if (!write_all(out.get(), body)) return discard(), fail("write", errno);
  if (::fsync(out.get()) != 0) return discard(), fail("fsync", errno);
  if (::close(out.release()) != 0) return discard(), fail("close", errno);

  const std::string& name = path.segments.back();
  struct stat before{};
  p.created = ::fstatat(parent.get(), name.c_str(), &before, AT_SYMLINK_NOFOLLOW) != 0;
  if (!p.created && S_ISDIR(before.st_mode)) return discard(), fail("rename", EISDIR);
  if (::renameat(tmpdir.get(), tmp.c_str(), parent.get(), name.c_str()) != 0) return discard(), fail("rename", errno);
  // From here the file is published; the fsync makes the rename itself
  // durable. Its failure is reported, but readers already see the new file.
  if (::fsync(parent.get()) != 0) return fail("fsync directory", errno);
  if (::fstatat(parent.get(), name.c_str(), &p.st, AT_SYMLINK_NOFOLLOW) != 0) return fail("stat", errno);
  return p;
}

int Storage::remove(const StoragePath& path) const {
  int err = 0;
  Fd parent(open_parent(path, false, err));
  if (!parent) return as_not_found(err);
  if (::unlinkat(parent.get(), path.segments.back().c_str(), 0) != 0) return errno == EPERM ? EISDIR : errno;
  ::fsync(parent.get());
  return 0;
}

std::size_t Storage::sweep_temp_files() const {
  int err = 0;
  Fd root(open_root(err));
  if (!root) return 0;
  int fd = open_beneath(root.get(), kTempDir, O_RDONLY | O_DIRECTORY, Symlinks::None);
  if (fd < 0) return 0;
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return 0;
  }
  std::size_t removed = 0;
  while (dirent* e = ::readdir(dir)) {
    std::string_view name = e->d_name;
    if (!name.starts_with(kTempPrefix)) continue;
    std::string_view rest = name.substr(kTempPrefix.size());
    pid_t pid = 0;
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
    if (ec != std::errc{} || p == rest.data() + rest.size() || *p != '-' || pid <= 0) continue;
    // Still running (or not ours to signal): its upload may be in progress.
    if (::kill(pid, 0) == 0 || errno == EPERM) continue;
    if (::unlinkat(::dirfd(dir), e->d_name, 0) == 0) ++removed;
  }
  ::closedir(dir);
  return removed;
}

}  // namespace registry
