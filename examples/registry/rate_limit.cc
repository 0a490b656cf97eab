#include "rate_limit.h"

#include <algorithm>

#include "errors.h"

namespace registry {

RateLimiter::Decision RateLimiter::check_at(std::string_view key, uint64_t now_ms) {
  Decision d;
  d.limit = limit_;
  if (limit_ == 0) return d;
  rack::SharedTable::Hit hit = table_.hit_at(key, window_, now_ms);
  if (!hit.ok) {
    d.degraded = true;
    return d;
  }
  d.count = hit.count;
  if (hit.count <= limit_) return d;
  d.allowed = false;
  d.retry_after_s = std::max<uint64_t>(1, (static_cast<uint64_t>(hit.resets_in.count()) + 999) / 1000);
  return d;
}

rack::Response too_many_requests(const RateLimiter::Decision& d) {
  rack::Response r = error_response(429, "Rate limit exceeded, retry in " + std::to_string(d.retry_after_s) + "s");
  r.set("Retry-After", std::to_string(d.retry_after_s));
  r.set("X-RateLimit-Limit", std::to_string(d.limit));
  r.set("X-RateLimit-Remaining", "0");
  r.set("X-RateLimit-Reset", std::to_string(d.retry_after_s));
  return r;
}

}  // namespace registry
