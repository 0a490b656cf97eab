#include "metrics/scrape_cadence.h"

#include <algorithm>

namespace rack::master {

void ScrapeCadence::scraped(Clock::time_point at) {
  last_[0] = last_[1];
  last_[1] = last_[2];
  last_[2] = at;
  seen_ = std::min(seen_ + 1, 3);
}

std::optional<ScrapeCadence::Clock::time_point> ScrapeCadence::prefetch_at(std::chrono::milliseconds collect_time) const {
  if (seen_ < 3) return std::nullopt;
  auto earlier = last_[1] - last_[0], later = last_[2] - last_[1];
  if (earlier < kMinInterval || later < kMinInterval) return std::nullopt;
  auto gap = later > earlier ? later - earlier : earlier - later;
  if (gap * 10 > later) return std::nullopt;
  // Ahead by twice the last collection and 20 ms, so that it is done when
  // the scrape comes, and no more than kMaxAge allows.
  auto lead = std::clamp<std::chrono::milliseconds>(collect_time * 2 + std::chrono::milliseconds(20),
                                                    std::chrono::milliseconds(50), kMaxAge / 2);
  return last_[2] + later - lead;
}

}  // namespace rack::master
