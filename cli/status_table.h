// `rackctl status`: the PM2 `ls` table, one row per worker.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace rack::cli {

std::string render_status(const nlohmann::json& status);
std::string human_bytes(uint64_t bytes);
std::string human_duration(double seconds);

}  // namespace rack::cli
