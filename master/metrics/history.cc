#include "metrics/history.h"

namespace rack::master {

void ResourceHistory::record(const std::string& app, int slot, double t, double cpu_percent, uint64_t rss_bytes) {
  Ring& r = rings_[{app, slot}];
  ResourcePoint p{t, cpu_percent, rss_bytes};
  if (r.buf.size() < capacity_) {
    r.buf.push_back(p);
  } else {
    r.buf[r.next] = p;
  }
  r.next = (r.next + 1) % capacity_;
}

void ResourceHistory::keep_only(const std::set<std::pair<std::string, int>>& live) {
  std::erase_if(rings_, [&](const auto& e) { return !live.count(e.first); });
}

std::vector<ResourcePoint> ResourceHistory::points(const std::string& app, int slot) const {
  auto it = rings_.find({app, slot});
  if (it == rings_.end()) return {};
  const Ring& r = it->second;
  if (r.buf.size() < capacity_) return r.buf;
  std::vector<ResourcePoint> out(r.buf.begin() + static_cast<long>(r.next), r.buf.end());
  out.insert(out.end(), r.buf.begin(), r.buf.begin() + static_cast<long>(r.next));
  return out;
}

}  // namespace rack::master
