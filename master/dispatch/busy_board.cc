#include "dispatch/busy_board.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rack::master {

std::unique_ptr<BusyBoardFile> BusyBoardFile::create(const std::string& path, bool keep_contents, std::string& error) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | (keep_contents ? 0 : O_TRUNC) | O_CLOEXEC, 0600);
  void* map = MAP_FAILED;
  if (fd >= 0 && ::ftruncate(fd, static_cast<off_t>(busy_board::kBytes)) == 0)
    map = ::mmap(nullptr, busy_board::kBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int e = errno;
  if (fd >= 0) ::close(fd);
  if (map == MAP_FAILED) {
    error = std::strerror(e);
    ::unlink(path.c_str());
    return nullptr;
  }
  return std::unique_ptr<BusyBoardFile>(new BusyBoardFile(path, map));
}

BusyBoardFile::~BusyBoardFile() {
  ::munmap(map_, busy_board::kBytes);
  ::unlink(path_.c_str());
}

const busy_board::Entry* BusyBoardFile::entry(std::size_t index) const {
  if (index >= busy_board::kEntries) return nullptr;
  return static_cast<const busy_board::Entry*>(map_) + index;
}

}  // namespace rack::master
