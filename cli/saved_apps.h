// $RACK_HOME/dump.json: the app list `rackctl save` writes and `rackctl
// resurrect` starts again. The file is outside input (edited by hand,
// truncated by a full disk), so it is checked whole before anything starts:
//
//   [{"name": "web", "file": "/srv/eco.yaml", "instances": 2, "stopped": false}]
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace rack::cli {

struct SavedApp {
  std::string name;
  std::string file;
  std::optional<long> instances;  // absent: as the file says
  bool stopped = false;
};

// The apps of a dump.json text, or nullopt with `error` naming the entry
// and field that is wrong and what it got.
std::optional<std::vector<SavedApp>> parse_saved_apps(std::string_view text, std::string& error);

nlohmann::json saved_apps_json(const std::vector<SavedApp>& apps);

}  // namespace rack::cli
