#include "logs/log_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "logs/log_file.h"

namespace rack::master {

std::string unsafe_log_dir(const struct stat& st, uid_t me) {
  if (!S_ISDIR(st.st_mode)) return "not a directory";
  // Who besides us can create, rename or remove entries here: its owner,
  // its group (when the group may write) and everyone (when others may).
  bool others_write = st.st_uid != me || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  if (!others_write) return "";
  if ((st.st_mode & S_ISVTX) && st.st_uid == me) return "";  // sticky and ours: like /tmp
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return std::string("other users can write in it (mode ") + mode + ", owner uid " + std::to_string(st.st_uid) +
         "; rackd runs as uid " + std::to_string(me) +
         "): use a directory only rackd's user can write, or make it sticky (chmod +t) and owned by that user";
}

int open_log_dir(const std::string& dir, std::string& error) {
  if (int e = make_dirs(dir)) {
    error = "creating log directory " + dir + " failed: " + std::strerror(e);
    return -1;
  }
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error = "opening log directory " + dir + " failed: " + std::strerror(errno);
    return -1;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    error = "stat of log directory " + dir + " failed: " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (std::string why = unsafe_log_dir(st, ::geteuid()); !why.empty()) {
    error = "log directory " + dir + " refused: " + why;
    ::close(fd);
    return -1;
  }
  return fd;
}

int open_log_file(int dirfd, const std::string& name) {
  int fd = ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                    kLogFileMode);
  if (fd < 0) return -errno;
  struct stat st;
  int err = 0;
  if (::fstat(fd, &st) != 0) err = errno;
  else if (!S_ISREG(st.st_mode)) err = EINVAL;  // a FIFO, socket or device planted in its place
  else if (st.st_nlink > 1) err = EMLINK;       // a hard link to someone else's file
  if (err == 0 && ::fcntl(fd, F_SETFL, O_APPEND) != 0) err = errno;
  if (err != 0) {
    ::close(fd);
    return -err;
  }
  return fd;
}

int open_log_for_reading(const std::string& dir, const std::string& name) {
  return ::open((dir + "/" + name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

}  // namespace rack::master
