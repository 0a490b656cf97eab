#include "request_log.h"

#include <spdlog/spdlog.h>

namespace rack::worker {

bool is_sensitive_header(std::string_view name) {
  return http::iequals(name, "authorization") || http::iequals(name, "proxy-authorization") ||
         http::iequals(name, "cookie") || http::iequals(name, "set-cookie") ||
         http::iequals(name, "x-registry-token");
}

std::string format_headers(const std::vector<http::Header>& headers, bool redact) {
  std::string out;
  for (const http::Header& h : headers) {
    if (!out.empty()) out += "; ";
    out += h.name;
    out += ": ";
    out += redact && is_sensitive_header(h.name) ? std::string_view("[REDACTED]") : std::string_view(h.value);
  }
  return out;
}

void log_request(const http::Request& req, int status, std::chrono::nanoseconds duration) {
  spdlog::logger* logger = spdlog::default_logger_raw();
  spdlog::level::level_enum level = logger->level();
  if (level > spdlog::level::info) return;
  double ms = static_cast<double>(duration.count()) / 1e6;
  std::string_view method = req.method.empty() ? std::string_view("-") : std::string_view(req.method);
  std::string_view target = req.target.empty() ? std::string_view("-") : std::string_view(req.target);
  std::string_view peer = req.peer_ip.empty() ? std::string_view("-") : std::string_view(req.peer_ip);
  bool verbose = level <= spdlog::level::debug;
  if (verbose || status >= 400)
    logger->info("{} {} {} {:.2f}ms {} headers: {}", method, target, status, ms, peer,
                 format_headers(req.headers, !verbose));
  else
    logger->info("{} {} {} {:.2f}ms {}", method, target, status, ms, peer);
}

}  // namespace rack::worker
