// POST /v1/apps/<app|all>/<op> and DELETE /v1/apps/<app|all>: stop, delete,
// restart, reload (streamed), scale, loglevel.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "app/app.h"
#include "rack/http.h"

namespace rack::master {

class Supervisor;

namespace api {

void app_operation(Supervisor& sup, const std::string& target, const std::string& op, const nlohmann::json& body,
                   http::Responder res);

// Streams a reload's progress as JSON lines; the last line is its outcome.
ReloadObserver streaming_observer(http::Responder res);

}  // namespace api
}  // namespace rack::master
