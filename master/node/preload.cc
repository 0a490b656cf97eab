#include "node/preload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "node/preload_js.h"  // generated from node_preload.js: kNodePreloadJs

namespace rack::master::node_preload {

namespace {

std::string& installed_path() {
  static std::string path;
  return path;
}

}  // namespace

std::string_view source() { return kNodePreloadJs; }

bool install(const std::string& home, std::string& error) {
  std::error_code ec;
  std::string dir = home + "/node";
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = "cannot create " + dir + ": " + ec.message();
    return false;
  }
  std::string path = dir + "/preload.js";
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot write " + tmp + ": " + std::strerror(errno);
    return false;
  }
  std::string_view js = source();
  std::size_t off = 0;
  while (off < js.size()) {
    ssize_t n = ::write(fd, js.data() + off, js.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, 0644);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  installed_path() = path;
  return true;
}

std::string node_options(std::string_view app_own) {
  const std::string& path = installed_path();
  if (path.empty()) return std::string(app_own);
  // NODE_OPTIONS splits on spaces; double quotes keep a path with spaces
  // whole, and backslash escapes a quote or backslash inside them.
  std::string quoted = "\"";
  for (char c : path) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += '"';
  std::string out = "--require " + quoted;
  if (!app_own.empty()) out.append(" ").append(app_own);
  return out;
}

}  // namespace rack::master::node_preload
