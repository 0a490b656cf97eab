// The directory rackd writes app logs in, and how it opens files there.
//
// rackd often runs as root while logs.dir may be writable by an app's
// user. Everything is opened relative to a directory fd with O_NOFOLLOW, so
// a symlink planted as <app>.out.log is refused rather than followed (root
// would append to, create or, on `rackctl flush`, truncate whatever it
// points to), and a directory that other users can write is refused
// outright unless it is sticky and ours (like /tmp: only we can rename or
// remove our files there).
//
//   std::string error;
//   int dir = open_log_dir("/var/log/rack", error);   // -1: error says why
//   int fd = open_log_file(dir, "web.out.log");       // -errno; ELOOP for a symlink
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>

namespace rack::master {

constexpr mode_t kLogFileMode = 0640;  // rotated and compressed files keep it
constexpr mode_t kLogDirMode = 0750;

// Why rackd (effective uid `me`) must not write logs in a directory with
// these attributes, or "" when it may.
std::string unsafe_log_dir(const struct stat& st, uid_t me);

// Creates `dir` (and its parents, kLogDirMode) if missing, opens it
// O_DIRECTORY|O_CLOEXEC and checks it with unsafe_log_dir. Returns the fd,
// or -1 with `error` naming the directory and the reason.
int open_log_dir(const std::string& dir, std::string& error);

// Opens `name` in `dirfd` for appending, created kLogFileMode: never
// through a symlink, never a FIFO or device (O_NONBLOCK, so a planted FIFO
// cannot block the loop), never a file with other hard links. Returns the
// fd or -errno.
int open_log_file(int dirfd, const std::string& name);

// Opens `name` in `dir` for reading, never through a symlink. -1 on error.
int open_log_for_reading(const std::string& dir, const std::string& name);

}  // namespace rack::master
