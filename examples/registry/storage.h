// The storage directory: which request paths name a file in it, opening
// them without ever leaving it, and publishing so that no reader sees half a
// file.
//
//   registry::PathCheck p = registry::parse_request_path("/docs/a%20b.txt");
//   // p.kind == PathKind::File, p.path.relative() == "docs/a b.txt"
//   registry::Storage storage("./storage");
//   registry::Storage::Opened f = storage.open_file(p.path);   // blocking: thread pool
//   registry::Storage::Published w = storage.publish(p.path, body);
//
// Paths. A request path is split on '/', each segment percent-decoded on its
// own; empty, "." and ".." segments, NUL and control bytes and encoded
// slashes are refused (400) before the file system is asked anything. Names
// starting with '.' are the registry's own (.tmp, where uploads are written)
// and the operators' (dotfiles): never served, never written.
//
// Opening. Every lookup starts from a fresh descriptor of the storage root
// (so a directory removed and put back is picked up) and resolves the rest
// with openat2(RESOLVE_BENEATH): a symlink that stays inside the storage
// works, one that leads out (absolute, or too many "..") fails with EXDEV,
// which is reported as "not found". Kernels without openat2 (before 5.6, or
// a seccomp filter that hides it) get a component-by-component walk with
// O_NOFOLLOW, which refuses every symlink. Writes never go through a
// symlink: each directory on the way is opened with RESOLVE_NO_SYMLINKS.
//
// Publishing. The body goes to .tmp/upload-<pid>-<n>, is fsynced, renamed
// over the target (rename(2) is atomic: readers see the old file or the new
// one), and the target's directory is fsynced so the new name survives a
// power cut. A worker killed before the rename leaves only its temp file,
// which the next worker to start removes (sweep_temp_files()). The storage
// must therefore be one file system: rename cannot cross mount points.
//
// Every method here blocks: call them on libuv's thread pool, never on the
// loop. They are safe to call from several threads at once.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace registry {

struct StoragePath {
  std::vector<std::string> segments;  // decoded; each a plain file name
  std::string relative() const;       // "docs/a b.txt"
  std::string display() const;        // "/docs/a b.txt" (for messages)
};

enum class PathKind {
  File,     // a path the registry may serve or write
  Invalid,  // malformed or an escape attempt: 400
  Hidden,   // a segment starts with '.': 404 for reads, 400 for writes
};

struct PathCheck {
  PathKind kind = PathKind::Invalid;
  std::string message;  // why, when not File
  StoragePath path;
};

PathCheck parse_request_path(std::string_view raw_path);

// "ENOENT: no such file or directory" (libuv's names and words, like Node's).
std::string errno_text(int err);

class Storage {
 public:
  explicit Storage(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }

  struct Opened {
    int fd = -1;      // owned by the caller; -1 on error
    int error = 0;    // errno: ENOENT (also for escapes and non-files), EACCES, …
    struct stat st {};
  };
  // A regular file, opened O_RDONLY.
  Opened open_file(const StoragePath& path) const;

  struct Published {
    int error = 0;          // errno of the step that failed
    std::string step;       // "rename", "fsync", … (for the log)
    bool created = false;   // no file was there before
    struct stat st {};      // the new file
  };
  Published publish(const StoragePath& path, std::string_view body) const;

  // 0, or errno (ENOENT: nothing there; EISDIR: a directory).
  int remove(const StoragePath& path) const;

  // 0 when the root is a directory we can list and enter, else errno.
  int check() const;

  // Removes .tmp/upload-* files of processes that no longer exist.
  std::size_t sweep_temp_files() const;

 private:
  int open_root(int& error) const;
  // Opens (creating when `create`) every directory of path but the last
  // segment, without following symlinks. Returns a descriptor or -1.
  int open_parent(const StoragePath& path, bool create, int& error) const;

  std::string root_;
};

}  // namespace registry
