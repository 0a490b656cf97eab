// The resolved AppConfig and parsed metric snapshots as JSON, for the
// state a rackd image hands to the next one across exec (upgrade/state.h).
// Both sides run this code from the same state version, so enums travel as
// their integer values; a change of any of these shapes bumps kStateVersion.
#pragma once

#include <nlohmann/json.hpp>

#include "metrics/text.h"
#include "rack/config.h"

namespace rack::master::upgrade {

nlohmann::json to_json(const config::AppConfig& c);
// Throws nlohmann::json::exception on a missing or mistyped field.
config::AppConfig app_config_from_json(const nlohmann::json& j);

nlohmann::json to_json(const MetricSnapshot& s);
MetricSnapshot snapshot_from_json(const nlohmann::json& j);

// Bytes that are not UTF-8 (log line fragments, channel payloads) as hex.
std::string hex(std::string_view bytes);
std::string unhex(std::string_view text);  // throws std::invalid_argument

}  // namespace rack::master::upgrade
