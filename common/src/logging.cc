#include "rack/logging.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace rack::log {

std::optional<spdlog::level::level_enum> parse_level(std::string_view t) {
  using namespace spdlog::level;
  if (t == "trace") return trace;
  if (t == "debug") return debug;
  if (t == "info") return info;
  if (t == "warn" || t == "warning") return warn;
  if (t == "error") return err;
  if (t == "fatal" || t == "critical") return critical;
  return std::nullopt;
}

const char* level_name(spdlog::level::level_enum l) {
  using namespace spdlog::level;
  switch (l) {
    case trace: return "trace";
    case debug: return "debug";
    case info: return "info";
    case warn: return "warn";
    case err: return "error";
    case critical: return "fatal";
    default: return "off";
  }
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  // Invalid UTF-8 would make the line invalid JSON for strict parsers:
  // replace any byte that is not part of a well-formed sequence.
  std::string clean;
  clean.reserve(out.size());
  for (size_t i = 0; i < out.size();) {
    unsigned char c = out[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= out.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(out[i + k]) >> 6) == 2;
    if (ok) {
      clean.append(out, i, len);
      i += len;
    } else {
      clean += "\\ufffd";
      i += 1;
    }
  }
  return clean;
}

namespace {

// {"time":"2026-11-22T03:20:59.123Z","level":"info","logger":"rackd","msg":"..."}
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& m, spdlog::memory_buf_t& dest) override {
    auto t = std::chrono::system_clock::to_time_t(m.time);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(m.time.time_since_epoch()).count() % 1000;
    std::tm tm;
    gmtime_r(&t, &tm);
    // strftime for the date (its width is fixed by the format), then the
    // milliseconds by hand: snprintf of seven ints may truncate (-Wformat-truncation).
    char ts[32];
    std::size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string line = "{\"time\":\"";
    line.append(ts, n);
    const char frac[] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                         static_cast<char>('0' + ms % 10), 'Z'};
    line.append(frac, sizeof frac);
    line += "\",\"level\":\"";
    line += level_name(m.level);
    line += "\",\"logger\":\"";
    line += json_escape(std::string_view(m.logger_name.data(), m.logger_name.size()));
    line += "\",\"pid\":";
    line += std::to_string(pid_);
    line += ",\"msg\":\"";
    line += json_escape(std::string_view(m.payload.data(), m.payload.size()));
    line += "\"}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }

 private:
  int pid_ = static_cast<int>(::getpid());
};

}  // namespace

Options options_from_env(bool default_json) {
  Options o;
  o.format = default_json ? Format::Json : Format::Pretty;
  if (const char* lv = std::getenv("LOG_LEVEL"); lv && *lv) {
    auto parsed = parse_level(lv);
    if (!parsed)
      throw std::invalid_argument(std::string("LOG_LEVEL: expected trace, debug, info, warn, error or fatal, got \"") +
                                  lv + "\"");
    o.level = *parsed;
  }
  if (const char* f = std::getenv("LOG_FORMAT"); f && *f) {
    std::string_view v(f);
    if (v == "json") o.format = Format::Json;
    else if (v == "pretty" || v == "text") o.format = Format::Pretty;
    else throw std::invalid_argument(std::string("LOG_FORMAT: expected json or pretty, got \"") + f + "\"");
  }
  return o;
}

namespace {
Options g_installed;  // what init() last installed, for reopen()
}  // namespace

bool reopen() {
  if (g_installed.file.empty()) return false;
  Options o = g_installed;
  init(o);
  return true;
}

void init(const Options& o) {
  g_installed = o;
  spdlog::sink_ptr sink;
  if (o.file.empty() && o.to_stdout)
    sink = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
  else if (o.file.empty())
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  else
  {
    // rackd.log rotates like the app logs: by size, keeping a few. It may
    // quote what clients and workers sent, so it is 0600 like the control
    // socket, and each file the sink opens after a rotation is made so
    // (fopen would give it the umask's 0644); rename keeps the mode.
    spdlog::file_event_handlers owner_only;
    owner_only.after_open = [](const spdlog::filename_t&, std::FILE* f) { ::fchmod(::fileno(f), 0600); };
    sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(o.file, o.max_file_bytes, o.keep_files, false,
                                                                  owner_only);
  }
  auto logger = std::make_shared<spdlog::logger>(o.name, sink);
  if (o.format == Format::Json)
    logger->set_formatter(std::make_unique<JsonFormatter>());
  else
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
  logger->set_level(o.level);
  logger->flush_on(o.flush_level);
  spdlog::set_default_logger(logger);
}

}  // namespace rack::log
