// Paths as rackctl passes them to rackd, which runs in another directory.
#pragma once

#include <filesystem>
#include <string>

namespace rack::cli {

// `path` made absolute against the current directory and normalised; as it
// is when that fails.
inline std::string absolute(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

}  // namespace rack::cli
