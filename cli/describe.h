// `rackctl describe <app>`: what GET /v1/apps/<app> returns, for people.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace rack::cli {

std::string render_describe(const nlohmann::json& app);

}  // namespace rack::cli
