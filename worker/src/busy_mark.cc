#include "busy_mark.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <spdlog/spdlog.h>

namespace rack::worker {

std::unique_ptr<BusyMark> BusyMark::from_environment(uv_loop_t* loop) {
  const char* path = std::getenv("RACK_BUSY_BOARD");
  const char* index_text = std::getenv("RACK_BUSY_ENTRY");
  if (!path || !*path || !index_text) return nullptr;
  std::size_t index = 0;
  std::string_view t(index_text);
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), index);
  if (ec != std::errc{} || end != t.data() + t.size() || index >= busy_board::kEntries) {
    spdlog::warn("RACK_BUSY_ENTRY={} is not an entry of the busy board; least-connections counts connections only",
                 index_text);
    return nullptr;
  }
  int fd = ::open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  void* map = MAP_FAILED;
  struct stat st {};
  if (fd >= 0 && ::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) >= busy_board::kBytes)
    map = ::mmap(nullptr, busy_board::kBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int e = errno;
  if (fd >= 0) ::close(fd);
  if (map == MAP_FAILED) {
    spdlog::warn("cannot map the busy board {}: {}; least-connections counts connections only", path,
                 fd < 0 || map == MAP_FAILED ? std::strerror(e) : "too small");
    return nullptr;
  }
  auto* entry = static_cast<busy_board::Entry*>(map) + index;
  return std::unique_ptr<BusyMark>(new BusyMark(map, entry, loop));
}

BusyMark::BusyMark(void* map, busy_board::Entry* entry, uv_loop_t* loop) : map_(map), entry_(entry) {
  entry_->busy_since_ns.store(0, std::memory_order_relaxed);
  entry_->pid.store(static_cast<int32_t>(::getpid()), std::memory_order_relaxed);
  prepare_ = new uv_prepare_t;
  uv_prepare_init(loop, prepare_);
  prepare_->data = this;
  // Before the loop waits for events: no handler is running.
  uv_prepare_start(prepare_, [](uv_prepare_t* h) {
    static_cast<BusyMark*>(h->data)->leave_handler();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(prepare_));
}

BusyMark::~BusyMark() {
  entry_->busy_since_ns.store(0, std::memory_order_relaxed);
  uv_close(reinterpret_cast<uv_handle_t*>(prepare_), [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
  ::munmap(map_, busy_board::kBytes);
}

int64_t BusyMark::now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace rack::worker
