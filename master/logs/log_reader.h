// The last lines of a log file, plain or ".gz", for `rackctl logs -n`.
//
//   std::vector<std::string> lines = last_lines(dir + "/web.out.log", 100);
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rack::master {

// The last n lines of a plain file, read backwards from its end, oldest
// first; of a ".gz", by inflating it whole. Missing file: empty.
std::vector<std::string> last_lines(const std::string& path, std::size_t n);
// The same of the first `end` bytes of an open file (the fd stays open).
std::vector<std::string> last_lines(int fd, uint64_t end, std::size_t n);
// Appends the lines of `data` (without their '\n'; a last one without it too).
void split_lines(std::string_view data, std::vector<std::string>& lines);
std::vector<std::string> last_lines_gz(const std::string& path, std::size_t n);

}  // namespace rack::master
