// Collecting ahead of a steady scraper. Prometheus scrapes a target at a
// fixed interval (scrape_interval, at a fixed offset), so after three
// scrapes a steady interval apart rackd knows when the next one comes. It
// starts that scrape's collection (asking every worker, merging, rendering)
// a little before, and the scrape is answered at once from the result, at
// most kMaxAge old. A scrape with no such answer waiting (the first ones,
// an irregular or a second scraper, a collection that took too long) is
// collected then, as before: its figures are exact as of the scrape.
//
//   ScrapeCadence c;
//   c.scraped(t0); c.scraped(t0 + 15s); c.scraped(t0 + 30s);
//   c.prefetch_at(40ms);  // t0 + 45s - 100 ms: collect then
//
// Pure: the caller gives every time.
#pragma once

#include <array>
#include <chrono>
#include <optional>

namespace rack::master {

class ScrapeCadence {
 public:
  using Clock = std::chrono::steady_clock;
  // Shorter intervals are a script or a test polling, not a scraper (the
  // shortest scrape_interval people set is 1 s): no collection ahead.
  static constexpr std::chrono::milliseconds kMinInterval{500};
  // The oldest a collected answer may be when it serves a scrape.
  static constexpr std::chrono::milliseconds kMaxAge{250};

  // A scrape arrived.
  void scraped(Clock::time_point at);
  // When to start collecting for the next scrape, given how long the last
  // collection took; nullopt unless the last three scrapes came a steady
  // interval apart (within a tenth of it).
  std::optional<Clock::time_point> prefetch_at(std::chrono::milliseconds collect_time) const;
  // Whether an answer collected at `collected` may serve a scrape at `now`.
  static bool fresh(Clock::time_point collected, Clock::time_point now) {
    return collected <= now && now - collected <= kMaxAge;
  }

 private:
  std::array<Clock::time_point, 3> last_{};  // oldest first
  int seen_ = 0;
};

}  // namespace rack::master
