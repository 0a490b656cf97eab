// A table of windowed counters in shared memory, shared by every worker of
// an app: per-client rate limits, quotas, "seen recently" flags.
//
//   #include <rack/shared_table.h>
//
//   std::string error;
//   // Under rackd: the app's segment (RACK_SHM), so all its workers count
//   // together, across reloads. Alone: a private segment for this process
//   // (and any children it forks afterwards).
//   std::unique_ptr<rack::SharedTable> table = rack::SharedTable::from_env(error);
//   if (!table) { spdlog::error("{}", error); return 1; }
//
//   app.get("/api/*", [&table](rack::Request& req, rack::Responder res) {
//     rack::SharedTable::Hit hit = table->hit(req.peer_ip, std::chrono::minutes(1));
//     if (hit.count > 100) {
//       auto r = rack::Response::error(429, "slow down");
//       r.set("Retry-After", std::to_string((hit.resets_in.count() + 999) / 1000));
//       return res.send(std::move(r));
//     }
//     res.send(rack::Response::text(200, "ok\n"));
//   });
//
// Each key (up to kMaxKeyBytes; longer keys are told apart by their first
// kMaxKeyBytes bytes and a 64-bit hash of the whole) owns a fixed window that
// starts at its first hit: hit() adds to the count until the window is over,
// then the next hit starts a new window at 1. Times come from CLOCK_MONOTONIC,
// which every process on the host shares.
//
// Layout: a header (magic, version, state, a process-shared robust mutex)
// followed by 64-byte entries in one open-addressing hash table (linear
// probing, at most kMaxProbe slots per key). Expired entries are reused in
// place; when every slot a key may use holds a live window, the one that ends
// soonest is evicted (counted in evictions()), so a full table forgets the
// least, never refuses. Capacity is fixed by the segment size: rackd's 4 MiB
// holds about 65,000 keys.
//
// Races, and why they are harmless:
//  * The segment starts zeroed. The first process to map it moves `state`
//    from 0 to 1 with a CAS, builds the mutex and the header, then publishes
//    2; the others wait (at most kInitWait) until they read 2.
//  * A worker killed while holding the mutex (kill -9, OOM) leaves it
//    "owner dead": the next locker marks it consistent and carries on. The
//    dead worker's last update may be half applied, which can only be off
//    by one count for one key.
//  * The counter is read and written only under the mutex; the critical
//    section is a hash and a few probes (no system call unless contended).
//
// One segment holds one table: two tables in one app need two segments
// (open_file() on files of their own).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace rack {

class SharedTable {
 public:
  static constexpr std::size_t kMaxKeyBytes = 39;
  static constexpr std::size_t kMaxProbe = 32;
  static constexpr std::chrono::milliseconds kInitWait{2000};
  static constexpr std::size_t kDefaultPrivateBytes = 4u << 20;

  // RACK_SHM when it is set (rackd's per-app segment), else open_private().
  static std::unique_ptr<SharedTable> from_env(std::string& error,
                                               std::size_t private_bytes = kDefaultPrivateBytes);
  // An existing file (zeroed, or holding a table already), mapped shared.
  static std::unique_ptr<SharedTable> open_file(const std::string& path, std::string& error);
  // Anonymous shared memory: this process and children forked later.
  static std::unique_ptr<SharedTable> open_private(std::size_t bytes, std::string& error);

  ~SharedTable();
  SharedTable(const SharedTable&) = delete;
  SharedTable& operator=(const SharedTable&) = delete;

  struct Hit {
    uint64_t count = 0;                   // in the current window, this hit included
    std::chrono::milliseconds resets_in{0};  // until the window ends (> 0)
    bool ok = true;                       // false: the lock was unusable; count is 0
  };

  // Adds `cost` to the key's count in its current window (starting a window
  // of length `window` if it has none) and returns the new count.
  Hit hit(std::string_view key, std::chrono::milliseconds window, uint64_t cost = 1);
  Hit hit_at(std::string_view key, std::chrono::milliseconds window, uint64_t now_ms, uint64_t cost = 1);

  // The key's count in its current window without adding (0 if none).
  Hit peek(std::string_view key) const;
  Hit peek_at(std::string_view key, uint64_t now_ms) const;

  std::size_t capacity() const;
  uint64_t evictions() const;
  bool shared() const { return shared_; }         // true: a file other processes may map
  const std::string& path() const { return path_; }  // "" for a private segment

  static uint64_t now_ms();  // CLOCK_MONOTONIC

  struct Header;
  struct Entry;

 private:
  SharedTable() = default;
  static std::unique_ptr<SharedTable> attach(void* base, std::size_t bytes, std::string what, std::string& error);
  bool lock() const;
  void unlock() const;
  Entry* find(uint64_t hash, std::string_view key, uint64_t now_ms, bool insert) const;

  void* base_ = nullptr;
  std::size_t bytes_ = 0;
  Header* header_ = nullptr;
  Entry* entries_ = nullptr;
  bool shared_ = false;
  std::string path_;
};

}  // namespace rack
