#include "errors.h"

#include <nlohmann/json.hpp>

namespace registry {

rack::Response error_response(int status, std::string_view message) {
  nlohmann::ordered_json body = {{"statusCode", status}, {"error", rack::http::reason_phrase(status)}, {"message", message}};
  rack::Response r = rack::Response::json(status, body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  r.set("Cache-Control", "no-store");
  return r;
}

}  // namespace registry
