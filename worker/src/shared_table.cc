// rack::SharedTable: see the header for the layout and the races.
#include "rack/shared_table.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

namespace rack {

namespace {

constexpr uint32_t kMagic = 0x54534b52;  // "RKST"
constexpr uint32_t kVersion = 1;
constexpr uint32_t kStateZero = 0, kStateInitializing = 1, kStateReady = 2;

// FNV-1a, then murmur3's finalizer: FNV alone clusters under `% capacity`
// for keys that differ only in their last bytes (IP addresses).
uint64_t hash_key(std::string_view key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h == 0 ? 1 : h;  // 0 marks a slot never used
}

std::string errno_text(const char* what, const std::string& path) {
  return std::string(what) + "(" + path + "): " + std::strerror(errno);
}

}  // namespace

struct alignas(64) SharedTable::Header {
  uint32_t state;       // kState*, through std::atomic_ref
  uint32_t magic;
  uint32_t version;
  uint32_t entry_size;
  uint64_t capacity;
  uint64_t evictions;   // through std::atomic_ref
  pthread_mutex_t mutex;
};

struct SharedTable::Entry {
  uint64_t hash;           // 0: never used (a probe sequence ends here)
  uint64_t window_end_ms;  // <= now: expired, free for any key
  uint64_t count;
  uint8_t key_len;
  char key[kMaxKeyBytes];
};
static_assert(sizeof(SharedTable::Entry) == 64, "one cache line per entry");
static_assert(std::atomic_ref<uint32_t>::is_always_lock_free && std::atomic_ref<uint64_t>::is_always_lock_free,
              "atomics in shared memory must be lock-free to be shared between processes");

uint64_t SharedTable::now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// ---- opening -----------------------------------------------------------------

std::unique_ptr<SharedTable> SharedTable::from_env(std::string& error, std::size_t private_bytes) {
  if (const char* path = std::getenv("RACK_SHM"); path && *path) return open_file(path, error);
  return open_private(private_bytes, error);
}

std::unique_ptr<SharedTable> SharedTable::open_file(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    error = errno_text("open", path);
    return nullptr;
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    error = errno_text("fstat", path);
    ::close(fd);
    return nullptr;
  }
  auto bytes = static_cast<std::size_t>(st.st_size);
  void* base = bytes > 0 ? ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
  int saved = errno;
  ::close(fd);  // the mapping keeps the file
  if (base == MAP_FAILED) {
    errno = saved;
    error = bytes == 0 ? "shared segment " + path + " is empty" : errno_text("mmap", path);
    return nullptr;
  }
  auto t = attach(base, bytes, "shared segment " + path, error);
  if (!t) return nullptr;
  t->shared_ = true;
  t->path_ = path;
  return t;
}

std::unique_ptr<SharedTable> SharedTable::open_private(std::size_t bytes, std::string& error) {
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    error = std::string("mmap(private shared table): ") + std::strerror(errno);
    return nullptr;
  }
  return attach(base, bytes, "private shared table", error);
}

std::unique_ptr<SharedTable> SharedTable::attach(void* base, std::size_t bytes, std::string what, std::string& error) {
  std::unique_ptr<SharedTable> t(new SharedTable());
  t->base_ = base;  // unmapped by the destructor from here on
  t->bytes_ = bytes;
  if (bytes < sizeof(Header) + kMaxProbe * sizeof(Entry)) {
    error = what + " is too small (" + std::to_string(bytes) + " bytes)";
    return nullptr;
  }
  auto* h = static_cast<Header*>(base);
  std::atomic_ref<uint32_t> state(h->state);
  uint32_t expected = kStateZero;
  if (state.compare_exchange_strong(expected, kStateInitializing, std::memory_order_acq_rel)) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&h->mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
      state.store(kStateZero, std::memory_order_release);
      error = what + ": pthread_mutex_init: " + std::strerror(rc);
      return nullptr;
    }
    h->magic = kMagic;
    h->version = kVersion;
    h->entry_size = sizeof(Entry);
    h->capacity = (bytes - sizeof(Header)) / sizeof(Entry);
    std::atomic_ref<uint64_t>(h->evictions).store(0, std::memory_order_relaxed);
    state.store(kStateReady, std::memory_order_release);
  } else {
    // Another process is building it; it takes microseconds unless that
    // process died in between, which kInitWait bounds.
    auto deadline = std::chrono::steady_clock::now() + kInitWait;
    while (state.load(std::memory_order_acquire) != kStateReady) {
      if (std::chrono::steady_clock::now() > deadline) {
        error = what + " was left half-initialized by another process";
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  if (h->magic != kMagic || h->version != kVersion || h->entry_size != sizeof(Entry)) {
    error = what + " holds something other than a rack::SharedTable v" + std::to_string(kVersion);
    return nullptr;
  }
  if (h->capacity < kMaxProbe || sizeof(Header) + h->capacity * sizeof(Entry) > bytes) {
    error = what + " has a header that does not fit its size";
    return nullptr;
  }
  t->header_ = h;
  t->entries_ = reinterpret_cast<Entry*>(static_cast<char*>(base) + sizeof(Header));
  return t;
}

SharedTable::~SharedTable() {
  if (base_) ::munmap(base_, bytes_);
}

// ---- the table ---------------------------------------------------------------

bool SharedTable::lock() const {
  int rc = pthread_mutex_lock(&header_->mutex);
  if (rc == EOWNERDEAD) {
    // Its owner died inside the critical section; what it left is at worst
    // one key's count off by one (see the header).
    pthread_mutex_consistent(&header_->mutex);
    return true;
  }
  return rc == 0;
}

void SharedTable::unlock() const { pthread_mutex_unlock(&header_->mutex); }

SharedTable::Entry* SharedTable::find(uint64_t hash, std::string_view key, uint64_t now_ms, bool insert) const {
  std::size_t stored = std::min(key.size(), kMaxKeyBytes);
  uint64_t capacity = header_->capacity;
  uint64_t start = hash % capacity;
  Entry* reusable = nullptr;  // expired or never used: take it for a new key
  Entry* soonest = nullptr;   // live: evicted only when nothing is reusable
  for (std::size_t i = 0; i < kMaxProbe; ++i) {
    Entry* e = &entries_[(start + i) % capacity];
    if (e->hash == 0) {
      if (!reusable) reusable = e;
      break;  // keys are never removed, so the key is not further along
    }
    if (e->hash == hash && e->key_len == stored && std::memcmp(e->key, key.data(), stored) == 0) return e;
    if (e->window_end_ms <= now_ms) {
      if (!reusable) reusable = e;
    } else if (!soonest || e->window_end_ms < soonest->window_end_ms) {
      soonest = e;
    }
  }
  if (!insert) return nullptr;
  Entry* e = reusable;
  if (!e) {
    e = soonest;
    std::atomic_ref<uint64_t>(header_->evictions).fetch_add(1, std::memory_order_relaxed);
  }
  e->hash = hash;
  e->window_end_ms = 0;  // expired: the caller starts a window
  e->count = 0;
  e->key_len = static_cast<uint8_t>(stored);
  std::memcpy(e->key, key.data(), stored);
  return e;
}

SharedTable::Hit SharedTable::hit(std::string_view key, std::chrono::milliseconds window, uint64_t cost) {
  return hit_at(key, window, now_ms(), cost);
}

SharedTable::Hit SharedTable::hit_at(std::string_view key, std::chrono::milliseconds window, uint64_t now,
                                     uint64_t cost) {
  uint64_t hash = hash_key(key);
  uint64_t length = window.count() > 0 ? static_cast<uint64_t>(window.count()) : 1;
  if (!lock()) return Hit{0, std::chrono::milliseconds(length), false};
  Entry* e = find(hash, key, now, true);
  if (e->window_end_ms <= now) {
    e->window_end_ms = now + length;
    e->count = 0;
  }
  e->count += cost;
  Hit h{e->count, std::chrono::milliseconds(e->window_end_ms - now), true};
  unlock();
  return h;
}

SharedTable::Hit SharedTable::peek(std::string_view key) const { return peek_at(key, now_ms()); }

SharedTable::Hit SharedTable::peek_at(std::string_view key, uint64_t now) const {
  uint64_t hash = hash_key(key);
  if (!lock()) return Hit{0, std::chrono::milliseconds(0), false};
  Hit h;
  if (Entry* e = find(hash, key, now, false); e && e->window_end_ms > now)
    h = Hit{e->count, std::chrono::milliseconds(e->window_end_ms - now), true};
  unlock();
  return h;
}

std::size_t SharedTable::capacity() const { return static_cast<std::size_t>(header_->capacity); }

uint64_t SharedTable::evictions() const {
  return std::atomic_ref<uint64_t>(header_->evictions).load(std::memory_order_relaxed);
}

}  // namespace rack
