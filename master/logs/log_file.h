// One stream's files on disk: the current file with the bytes waiting to be
// written to it (LogFile, used on the loop), and the sweep of its rotated
// siblings (sweep_rotated, run on libuv's thread pool).
//
//   LogFile f(dir, "web.out", stats);
//   f.append(prefix, line, "");                 // buffered; may start a new file
//   LogFile::Result r = f.drain(max_size);      // write(2) what is buffered
//   if (r.error) { retry later; nothing is lost }
//
// The buffer is a queue of segments. A segment flagged rotate_first starts a
// new file: when the writer reaches it, the current file is renamed and a new
// one opened before its bytes go out. So the point of rotation is fixed when
// a line is accepted, and a write error (disk full) in front of it just
// delays both the bytes and the rotation, never reorders them.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "logs/app_log.h"
#include "logs/rotation_policy.h"

namespace rack::master {

// mkdir -p. Returns 0 or an errno.
int make_dirs(const std::string& dir);

class LogFile {
 public:
  LogFile(std::string dir, std::string base, LogStats& stats);
  ~LogFile();  // closes the fd; writes nothing (AppLog decides about pending bytes)
  // The app's user:/group:: each file opened is chowned to them (when
  // rackd is root), so the app's user can read its own logs.
  void set_owner(std::optional<uint32_t> uid, std::optional<uint32_t> gid);
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& base() const { return base_; }  // "web.out"
  std::string name() const { return base_ + ".log"; }
  uint64_t pending() const { return pending_; }

  // Buffers prefix + text + suffix + '\n'. If max_size would be exceeded the
  // line starts a new file (see rotation_policy.h).
  void append(std::string_view prefix, std::string_view text, std::string_view suffix,
              uint64_t max_size);
  // Buffers `block`: `lines` whole lines, each ending in '\n', as append()
  // would one by one, when none of them starts a new file. Returns false
  // (and buffers nothing) when one would: the caller then goes line by line.
  bool append_block(std::string_view block, uint64_t lines, uint64_t max_size);
  // rotate_every: the next line goes to a new file, unless the file it would
  // go to is still empty.
  void mark_rotation();

  struct Result {
    int error = 0;             // errno of the failed call, 0 if all written
    const char* op = nullptr;  // "writing", "opening"
    unsigned rotations = 0;
  };
  // What is not in the file yet (the disk is failing): the last `max_lines`
  // buffered lines. When that reaches back to the line the file ends
  // inside, that line is taken whole, and `in_file` says how many of its
  // first bytes the file has.
  std::string unwritten(uint64_t& in_file, std::size_t max_lines) const;

  // Writes as much as possible; stops at the first error. Rotates at the
  // marked points (a failed rename is logged and the file kept).
  Result drain();

  // Closes the fd; the next drain opens path() afresh (after an external
  // rename). Returns 0 or the errno of opening it now.
  int reopen();
  // Empties the current file (rackctl flush). Bytes still buffered stay and
  // go to the emptied file, as does a pending rotation's content.
  int truncate();
  // Moves to another directory: closes; the next drain opens there.
  void set_dir(std::string dir);

 private:
  struct Segment {
    std::string data;
    std::size_t off = 0;        // bytes of data already written
    uint64_t lines = 0;         // newlines in data
    uint64_t lines_done = 0;    // of those, already counted as written
    bool rotate_first = false;
  };

  int open_dir();  // dirfd_, checked with open_log_dir (log_dir.h)
  int open_current();
  bool rotate();
  uint64_t bytes_after_last_mark() const;
  // A write that stopped inside a line (disk full) left its head in the
  // file: the line starts over, so that it is written whole wherever the
  // next write goes. Returns the length of that head, 0 if none.
  std::size_t restart_partial_line();

  std::string dir_;
  std::string base_;
  std::string path_;
  LogStats& stats_;
  void chown_to_owner(int fd);
  int fd_ = -1;
  std::optional<uint32_t> owner_uid_, owner_gid_;
  int dirfd_ = -1;          // dir_, opened once; every name is resolved in it
  std::string dir_error_;   // why dir_ was refused, said once
  uint64_t file_size_ = 0;   // bytes in the file fd_ refers to
  uint64_t tail_size_ = 0;   // bytes the newest target file will hold once drained
  uint64_t pending_ = 0;     // unwritten bytes, all segments
  std::deque<Segment> segs_;
  SysTime last_rotation_{};
};

// Housekeeping for one stream's rotated files, run on the thread pool: drops
// leftovers of interrupted compressions, deletes what select_expired picks,
// then gzips the rest when `compress`. Touches only the file system and its
// arguments. Returns messages for the loop to log.
struct SweepResult {
  std::vector<std::string> warnings;
  unsigned compressed = 0;
  unsigned deleted = 0;
};
void sweep_rotated(const std::string& dir, const std::string& base, unsigned keep,
                   std::optional<config::Duration> max_age, bool compress, SysTime now,
                   SweepResult& out);
// The same in an open, already checked directory.
void sweep_rotated_at(int dirfd, const std::string& dir, const std::string& base, unsigned keep,
                      std::optional<config::Duration> max_age, bool compress, SysTime now, SweepResult& out);

// The calling thread only (on Linux, scheduling policy, nice and ioprio are
// per thread): SCHED_IDLE and the lowest best-effort I/O priority, lower
// still than Debian's logrotate.service (Nice=19, IOSchedulingPriority=7).
// SCHED_IDLE rather than nice 19, because nice only weighs a thread against
// the others of its autogroup (rackd's session), not against the apps in
// theirs, and because the scheduler counts a CPU that runs only SCHED_IDLE
// work as idle: a woken loop or app is placed there and preempts the
// compression at once, instead of queueing behind another busy thread.
// Failures are ignored: the work then runs at nice 19, or at normal priority.
void lower_this_thread_priority_for_housekeeping();

// Rotated files of `base` in `dir`, newest first.
std::vector<RotatedFile> list_rotated(const std::string& dir, const std::string& base);
// The same for many bases with one read of the directory: `names` are
// dir_names(dir), sorted.
std::vector<std::string> dir_names(const std::string& dir);
std::vector<RotatedFile> list_rotated(const std::vector<std::string>& names, const std::string& base);

// The last n lines of a plain file, read backwards from its end, oldest
// first; of a ".gz", by inflating it whole. Missing file: empty.
std::vector<std::string> last_lines(const std::string& path, std::size_t n);
// The same of the first `end` bytes of an open file (the fd stays open).
std::vector<std::string> last_lines(int fd, uint64_t end, std::size_t n);
// Appends the lines of `data` (without their '\n'; a last one without it too).
void split_lines(std::string_view data, std::vector<std::string>& lines);
std::vector<std::string> last_lines_gz(const std::string& path, std::size_t n);

}  // namespace rack::master
