// Logging for rackd and the worker runtime (spdlog underneath).
//
//   rack::log::Options opt = rack::log::options_from_env();  // LOG_LEVEL, LOG_FORMAT
//   rack::log::init(opt);
//   spdlog::info("worker {} ready", pid);
//
// Format "json" writes one JSON object a line ({"time","level","msg",...});
// messages are escaped so the line stays valid whatever they contain.
// Format "pretty" is for humans at a terminal.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace rack::log {

enum class Format { Pretty, Json };

struct Options {
  spdlog::level::level_enum level = spdlog::level::info;
  Format format = Format::Pretty;
  std::string file;        // empty = stderr (or stdout, below)
  std::size_t max_file_bytes = 50u << 20;  // rotate `file` at this size
  std::size_t keep_files = 5;              // rotated files kept (file.1.log ...)
  std::string name = "rack";
  // Workers log to stdout: rackd captures it into <app>.out.log.
  bool to_stdout = false;
  // Lines at or above this level are flushed at once. Below it they wait in
  // the stdio buffer until spdlog::flush() (a worker flushes on a short
  // timer so a request log line does not cost a write(2) per request).
  spdlog::level::level_enum flush_level = spdlog::level::trace;
};

// trace, debug, info, warn (warning), error, fatal (critical). nullopt otherwise.
std::optional<spdlog::level::level_enum> parse_level(std::string_view text);
const char* level_name(spdlog::level::level_enum level);

// Reads LOG_LEVEL and LOG_FORMAT. `default_json` applies when LOG_FORMAT is
// unset. Throws std::invalid_argument naming the variable on a bad value.
Options options_from_env(bool default_json);

// Installs the default logger. Safe to call again (e.g. to reopen the file).
void init(const Options& options);
// Reopens Options::file of the last init() (after an external logrotate
// moved it: reload-logs, SIGUSR1): the sink opens the path afresh, 0600.
// Returns false when that init() wrote to stderr or stdout (nothing to do).
bool reopen();

// Escapes `s` for inclusion in a JSON string (no surrounding quotes).
std::string json_escape(std::string_view s);

}  // namespace rack::log
