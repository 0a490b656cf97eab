// One stream's current file on disk with the bytes waiting to be written to
// it, used on the loop. Its rotated siblings: rotated_files.h; reading lines
// back: log_reader.h.
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

}  // namespace rack::master
