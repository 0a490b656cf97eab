// At most `limit` requests per client per minute, counted over every worker
// of the app together in a rack::SharedTable (rackd's RACK_SHM segment).
//
//   registry::RateLimiter limiter(*table);            // 1,200 a minute
//   auto d = limiter.check(registry::rate_limit_key(ip));
//   if (!d.allowed) return res.send(registry::too_many_requests(d));
//
// Fixed window per client, starting at its first request: request 1,201
// inside that minute gets 429 with Retry-After = the seconds left in it.
// Refused requests count too, so hammering does not shorten the wait.
// If the table's lock is unusable the request is let through (a broken
// limiter must not take the registry down); the caller can log it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include <rack/shared_table.h>
#include <rack/worker.h>

namespace registry {

class RateLimiter {
 public:
  static constexpr uint64_t kDefaultLimit = 1200;
  static constexpr std::chrono::milliseconds kWindow{60000};

  // limit 0: no limit.
  explicit RateLimiter(rack::SharedTable& table, uint64_t limit = kDefaultLimit,
                       std::chrono::milliseconds window = kWindow)
      : table_(table), limit_(limit), window_(window) {}

  struct Decision {
    bool allowed = true;
    bool degraded = false;        // the table could not be used; allowed anyway
    uint64_t count = 0;           // this client's requests in the window, this one included
    uint64_t limit = 0;
    uint64_t retry_after_s = 0;   // when refused: whole seconds until the window ends (>= 1)
  };
  Decision check(std::string_view key) { return check_at(key, rack::SharedTable::now_ms()); }
  Decision check_at(std::string_view key, uint64_t now_ms);

  uint64_t limit() const { return limit_; }

 private:
  rack::SharedTable& table_;
  uint64_t limit_;
  std::chrono::milliseconds window_;
};

// 429, Retry-After, and {"statusCode":429,"error":"Too Many Requests",
// "message":"Rate limit exceeded, retry in 42s"}.
rack::Response too_many_requests(const RateLimiter::Decision& d);

}  // namespace registry
