// One info line per request, written by the worker after the response.
// Internal to rack_worker (tests include it directly).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "rack/http_message.h"

namespace rack::worker {

// authorization, proxy-authorization, cookie, set-cookie, x-registry-token.
bool is_sensitive_header(std::string_view name);

// "Host: a; Authorization: [REDACTED]" — sensitive values replaced when `redact`.
std::string format_headers(const std::vector<http::Header>& headers, bool redact);

// "GET /users/7 200 0.42ms 127.0.0.1". Headers are added at debug and trace
// (in full: those levels are an explicit choice to see everything) and for
// 4xx/5xx answers at info (redacted), where they help explain the failure.
// Costs one level check when info is off.
void log_request(const http::Request& request, int status, std::chrono::nanoseconds duration);

}  // namespace rack::worker
