#include "content_type.h"

#include <array>
#include <utility>

#include <rack/http_message.h>

namespace registry {

namespace {

struct Known {
  std::string_view ext;
  ContentType type;
};

constexpr std::array kTypes = {
    Known{"txt", {"text/plain; charset=utf-8", true}},
    Known{"md", {"text/markdown; charset=utf-8", true}},
    Known{"html", {"text/html; charset=utf-8", true}},
    Known{"htm", {"text/html; charset=utf-8", true}},
    Known{"css", {"text/css; charset=utf-8", true}},
    Known{"csv", {"text/csv; charset=utf-8", true}},
    Known{"js", {"text/javascript; charset=utf-8", true}},
    Known{"mjs", {"text/javascript; charset=utf-8", true}},
    Known{"json", {"application/json", true}},
    Known{"map", {"application/json", true}},
    Known{"xml", {"application/xml", true}},
    Known{"svg", {"image/svg+xml", true}},
    Known{"yaml", {"application/yaml", true}},
    Known{"yml", {"application/yaml", true}},
    Known{"toml", {"application/toml", true}},
    Known{"wasm", {"application/wasm", true}},
    Known{"tar", {"application/x-tar", true}},
    Known{"log", {"text/plain; charset=utf-8", true}},
    // Compressed already: encoding again costs CPU and saves nothing.
    Known{"png", {"image/png", false}},
    Known{"jpg", {"image/jpeg", false}},
    Known{"jpeg", {"image/jpeg", false}},
    Known{"gif", {"image/gif", false}},
    Known{"webp", {"image/webp", false}},
    Known{"avif", {"image/avif", false}},
    Known{"ico", {"image/vnd.microsoft.icon", true}},
    Known{"woff", {"font/woff", false}},
    Known{"woff2", {"font/woff2", false}},
    Known{"pdf", {"application/pdf", false}},
    Known{"zip", {"application/zip", false}},
    Known{"gz", {"application/gzip", false}},
    Known{"tgz", {"application/gzip", false}},
    Known{"br", {"application/x-brotli", false}},
    Known{"zst", {"application/zstd", false}},
    Known{"xz", {"application/x-xz", false}},
    Known{"bz2", {"application/x-bzip2", false}},
    Known{"7z", {"application/x-7z-compressed", false}},
    Known{"mp4", {"video/mp4", false}},
    Known{"webm", {"video/webm", false}},
    Known{"mp3", {"audio/mpeg", false}},
};

}  // namespace

ContentType content_type_for(std::string_view name) {
  if (auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  auto dot = name.rfind('.');
  if (dot != std::string_view::npos && dot > 0) {
    std::string_view ext = name.substr(dot + 1);
    for (const Known& k : kTypes)
      if (rack::http::iequals(k.ext, ext)) return k.type;
  }
  return {"application/octet-stream", false};
}

}  // namespace registry
