#include "api/reply.h"

#include "rack/config.h"
#include "rack/json.h"

namespace rack::master::api {

using json = nlohmann::json;

std::string text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

http::Response error(int status, const std::string& message) {
  return http::Response::json(status, text(json{{"error", message}}));
}

http::Response ok(json extra) {
  extra["ok"] = true;
  return http::Response::json(200, extra.dump());
}

std::string got(const json& j) {
  std::string type = json_input::type_name(j);
  if (j.is_array() || j.is_object() || j.is_null()) return type;
  return type + " " + json_input::excerpt(j, 60);
}

std::string query_param(const std::string& query, const std::string& key) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string part = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = part.find('=');
    if (part.substr(0, eq) == key) return eq == std::string::npos ? "" : part.substr(eq + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

std::string app_name_error(std::string_view name) {
  if (config::valid_app_name(name)) return "";
  return "app name " + text(json(std::string(name))) + ": expected " + config::kAppNameRule +
         " (the path is taken literally, not percent-decoded)";
}

}  // namespace rack::master::api
