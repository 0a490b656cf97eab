// Reading a stream's lines back from its files, for `rackctl logs -n`:
// plain files backwards from their end, ".gz" ones inflated whole.
#include "logs/log_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <deque>
#include <utility>

namespace rack::master {

namespace {

// Emits each '\n'-terminated line of `data`, without its '\n', with
// `partial` (the unterminated end of the data before) in front of the
// first. What follows the last '\n' is left in `partial`.
template <typename Emit>
void take_lines(std::string_view data, std::string& partial, const Emit& emit) {
  for (std::size_t nl; (nl = data.find('\n')) != std::string_view::npos; data.remove_prefix(nl + 1)) {
    if (partial.empty()) {
      emit(std::string(data.substr(0, nl)));
    } else {
      partial.append(data.substr(0, nl));
      emit(std::move(partial));
      partial.clear();
    }
  }
  partial.append(data);
}

}  // namespace

void split_lines(std::string_view data, std::vector<std::string>& lines) {
  std::string partial;
  take_lines(data, partial, [&](std::string&& line) { lines.push_back(std::move(line)); });
  if (!partial.empty()) lines.push_back(std::move(partial));
}

std::vector<std::string> last_lines(const std::string& path, std::size_t n) {
  if (n == 0) return {};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return {};
  struct stat st;
  std::vector<std::string> lines = last_lines(fd, ::fstat(fd, &st) == 0 ? uint64_t(st.st_size) : 0, n);
  ::close(fd);
  return lines;
}

std::vector<std::string> last_lines(int fd, uint64_t end, std::size_t n) {
  std::vector<std::string> lines;
  if (n == 0) return lines;
  off_t pos = off_t(end);
  // Read blocks backwards until the data holds n full lines after its first
  // newline (the bytes before it may be the end of an earlier line).
  std::string data;
  std::size_t block = 64 * 1024;
  std::size_t newlines = 0;  // in data, not counting a final one at EOF
  while (pos > 0) {
    std::size_t len = std::min<std::size_t>(block, std::size_t(pos));
    std::string chunk(len, '\0');
    ssize_t got = ::pread(fd, chunk.data(), len, pos - off_t(len));
    if (got != ssize_t(len)) break;
    pos -= off_t(len);
    bool at_eof = data.empty();
    newlines += std::size_t(std::count(chunk.begin(), chunk.end(), '\n'));
    if (at_eof && chunk.back() == '\n') --newlines;
    data.insert(0, chunk);
    if (newlines >= n) break;
    block = std::min<std::size_t>(block * 2, 8 << 20);
  }
  std::string_view view = data;
  if (pos > 0) view.remove_prefix(view.find('\n') + 1);  // drop the cut line
  split_lines(view, lines);
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - std::ptrdiff_t(n));
  return lines;
}

std::vector<std::string> last_lines_gz(const std::string& path, std::size_t n) {
  std::vector<std::string> lines;
  if (n == 0) return lines;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  gzFile gz = fd >= 0 ? ::gzdopen(fd, "rb") : nullptr;
  if (gz == nullptr) {
    if (fd >= 0) ::close(fd);
    return lines;
  }
  std::deque<std::string> ring;
  std::string partial;
  std::vector<char> buf(256 * 1024);
  int got;
  while ((got = ::gzread(gz, buf.data(), unsigned(buf.size()))) > 0) {
    take_lines(std::string_view(buf.data(), std::size_t(got)), partial, [&](std::string&& line) {
      ring.push_back(std::move(line));
      if (ring.size() > n) ring.pop_front();
    });
  }
  ::gzclose(gz);
  if (!partial.empty()) ring.push_back(std::move(partial));
  if (ring.size() > n) ring.pop_front();
  lines.assign(std::make_move_iterator(ring.begin()), std::make_move_iterator(ring.end()));
  return lines;
}

}  // namespace rack::master
