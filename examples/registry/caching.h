// HTTP caching of stored files: validators (ETag, Last-Modified) and the
// conditional GET that answers 304 instead of the bytes.
//
//   std::string tag = registry::etag_for(st);            // W/"1a2b-17f0c3e5a1b2c3d4"
//   if (registry::none_match(req.header("If-None-Match"), tag)) → 304
//
// The ETag is weak and made of the file's size and modification time (in
// nanoseconds), like Express's: cheap (no hashing), and a publish always
// changes it because it creates a new file. Weak, because the same tag
// stands for every Content-Encoding of the file.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace registry {

inline constexpr std::string_view kCacheControl = "public, max-age=60";

std::string etag_for(uint64_t size, int64_t mtime_ns);
std::string etag_for(const struct stat& st);

// If-None-Match with the weak comparison (RFC 9110 §13.1.2): true when the
// header lists `etag` (with or without W/) or is "*".
bool none_match(std::string_view if_none_match, std::string_view etag);

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::string http_date(std::time_t t);

}  // namespace registry
