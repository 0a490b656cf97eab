#include "caching.h"

#include <cstdio>

namespace registry {

namespace {

// The opaque part of an entity-tag: W/"x" and "x" both give x.
std::string_view opaque(std::string_view tag) {
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
  return tag;
}

}  // namespace

std::string etag_for(uint64_t size, int64_t mtime_ns) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "W/\"%llx-%llx\"", static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(mtime_ns));
  return buf;
}

std::string etag_for(const struct stat& st) {
  int64_t ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return etag_for(static_cast<uint64_t>(st.st_size), ns);
}

bool none_match(std::string_view header, std::string_view etag) {
  std::string_view want = opaque(etag);
  std::size_t i = 0;
  while (i < header.size()) {
    char c = header[i];
    if (c == ' ' || c == '\t' || c == ',') {
      ++i;
      continue;
    }
    if (c == '*') return true;
    std::size_t start = i;
    if (header.compare(i, 2, "W/") == 0) i += 2;
    if (i >= header.size() || header[i] != '"') return false;  // malformed: no match, serve the file
    std::size_t close = header.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    if (opaque(header.substr(start, close + 1 - start)) == want) return true;
    i = close + 1;
  }
  return false;
}

std::string http_date(std::time_t t) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace registry
