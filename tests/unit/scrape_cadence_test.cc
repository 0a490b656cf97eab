#include <doctest/doctest.h>

#include "metrics/scrape_cadence.h"

using namespace rack::master;
using namespace std::chrono_literals;

TEST_CASE("scrape cadence: three scrapes a steady interval apart set the next collection") {
  ScrapeCadence c;
  auto t0 = ScrapeCadence::Clock::time_point{} + 1000s;
  c.scraped(t0);
  CHECK_FALSE(c.prefetch_at(10ms));
  c.scraped(t0 + 15s);
  CHECK_FALSE(c.prefetch_at(10ms));  // two scrapes are one interval: not yet a cadence
  c.scraped(t0 + 30s + 200ms);       // 15.2 s: within a tenth of 15 s
  auto at = c.prefetch_at(10ms);
  REQUIRE(at);
  CHECK(*at == t0 + 30s + 200ms + 15200ms - 50ms);  // the least lead, 50 ms
  // A slow collection is started earlier, up to half the age allowed.
  CHECK(*c.prefetch_at(40ms) == t0 + 30s + 200ms + 15200ms - 100ms);
  CHECK(*c.prefetch_at(500ms) == t0 + 30s + 200ms + 15200ms - ScrapeCadence::kMaxAge / 2);
}

TEST_CASE("scrape cadence: irregular or fast scrapes are collected when they come") {
  ScrapeCadence c;
  auto t0 = ScrapeCadence::Clock::time_point{} + 1000s;
  c.scraped(t0);
  c.scraped(t0 + 10s);
  c.scraped(t0 + 15s);  // 10 s then 5 s: a second scraper, or a person
  CHECK_FALSE(c.prefetch_at(10ms));
  ScrapeCadence fast;
  fast.scraped(t0);
  fast.scraped(t0 + 200ms);
  fast.scraped(t0 + 400ms);  // steady, but under kMinInterval
  CHECK_FALSE(fast.prefetch_at(10ms));
  // The cadence is the last three: it recovers once steady again.
  c.scraped(t0 + 20s);
  c.scraped(t0 + 25s);
  CHECK(c.prefetch_at(10ms));
}

TEST_CASE("scrape cadence: an answer serves a scrape only up to kMaxAge after its collection") {
  auto t = ScrapeCadence::Clock::time_point{} + 1000s;
  CHECK(ScrapeCadence::fresh(t, t + 100ms));
  CHECK(ScrapeCadence::fresh(t, t + ScrapeCadence::kMaxAge));
  CHECK_FALSE(ScrapeCadence::fresh(t, t + ScrapeCadence::kMaxAge + 1ms));
  CHECK_FALSE(ScrapeCadence::fresh(t + 1ms, t));  // collected after the scrape: not this one's
}
