// What a file is, from its name: the Content-Type to send and whether
// compressing it pays (text does; images, archives and fonts already are).
#pragma once

#include <string_view>

namespace registry {

struct ContentType {
  std::string_view mime;  // "text/plain; charset=utf-8"; application/octet-stream when unknown
  bool compressible;      // false for unknown types: they may be compressed already
};

ContentType content_type_for(std::string_view file_name);

}  // namespace registry
