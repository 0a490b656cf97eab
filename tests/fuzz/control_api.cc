// The control API's request check (api/control_request.h) with no socket
// and no Supervisor: a method, a path with its query, and a body, routed
// and validated as serve_control does before it touches anything. Covered:
// the body's bounded JSON parse, the NUL checks, the routing table, app
// names in paths, and each route's fields (start/reload file and only,
// reload options, upgrade binary, logs flush app). Not covered: what the
// Supervisor then does (loading the named file, app operations, the logs
// query, which logs_api.cc checks against the running apps).
// Input: "METHOD\nTARGET\nBODY", TARGET split at '?' into path and query.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "api/control_request.h"
#include "api/reply.h"
#include "fuzz_support.h"

using namespace rack::master;

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

std::string_view take_line(std::string_view& s) {
  std::size_t nl = s.find('\n');
  std::string_view line = s.substr(0, nl);
  s.remove_prefix(nl == std::string_view::npos ? s.size() : nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool once = (rack::fuzz::quiet_logs(), true);
  (void)once;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  rack::http::Request req;
  req.method = std::string(take_line(in));
  std::string target(take_line(in));
  req.target = target;
  std::size_t q = target.find('?');
  req.path = target.substr(0, q);
  req.query = q == std::string::npos ? "" : target.substr(q + 1);
  req.body = std::string(in);

  auto parsed = api::parse_control_request(req);
  if (auto* answer = std::get_if<rack::http::Response>(&parsed)) {
    if (answer->status != 400 && answer->status != 404) fail("status " + std::to_string(answer->status));
    auto j = nlohmann::json::parse(answer->body, nullptr, false);
    if (j.is_discarded() || !j.contains("error") || !j["error"].is_string() || j["error"].get<std::string>().empty())
      fail("an error answer without a message: " + answer->body);
    return 0;
  }
  const auto& r = std::get<api::ControlRequest>(parsed);
  if (!r.body.is_object()) fail("a body that is not an object got through");
  if (req.path.find('\0') != std::string::npos || req.path.find("%00") != std::string::npos)
    fail("a path with a NUL got through");
  switch (r.route) {
    case api::Route::Start:
    case api::Route::Reload:
      if (r.file.empty() && !r.body.contains("file")) fail("start without a file");
      if (r.file.find('\0') != std::string::npos) fail("a file with a NUL got through");
      break;
    case api::Route::Upgrade:
      if (r.binary.find('\0') != std::string::npos) fail("a binary with a NUL got through");
      break;
    case api::Route::LogsFlush:
      if (!r.log_app.empty() && !api::app_name_error(r.log_app).empty()) fail("a bad app name got through");
      break;
    case api::Route::AppDescribe:
    case api::Route::AppDelete:
    case api::Route::AppOp:
      if (!api::app_name_error(r.target).empty()) fail("a bad app name got through: " + r.target);
      if (r.route == api::Route::AppOp && r.op.empty()) fail("an app operation without an op");
      break;
    default:
      break;
  }
  return 0;
}
