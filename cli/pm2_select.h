// Which apps a command means, PM2's way:
//   rackctl stop api worker        several names
//   rackctl restart billing        a namespace (every app with namespace: billing)
//   rackctl reload all             every app
//   rackctl delete '/^api-/'       a regular expression over the names
//
//   auto s = select_apps({"api", "/^job-/"}, status["apps"]);
//   if (!s.error.empty()) fail(s.error);   // `no app or namespace "apx" (did you mean "api"?)`
//   for (auto& name : s.apps) ...
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rack::cli {

struct Selection {
  std::vector<std::string> apps;  // in the order named, each once
  std::string error;              // "" when every target matched something
};

// `apps`: GET /v1/status's apps (name, namespace).
Selection select_apps(const std::vector<std::string>& targets, const nlohmann::json& apps);

}  // namespace rack::cli
