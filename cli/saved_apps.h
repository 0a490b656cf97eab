// $RACK_HOME/dump.json: the app list `rackctl save` writes and `rackctl
// resurrect` starts again. The file is outside input (edited by hand,
// truncated by a full disk), so it is checked whole before anything starts:
//
//   [{"name": "web", "file": "/srv/eco.yaml", "instances": 2, "stopped": false,
//     "config": "apps:\n  - name: web\n ...", "file_digest": "fnv1a64:..."}]
//
// `config` is the app's resolved configuration as rackd ran it
// (config::to_yaml), so resurrect works when the file has moved or
// changed; `file_digest` is the file's content when saved, to tell.
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
  std::string config;       // "" in dumps written before snapshots
  std::string file_digest;  // "" when the file could not be read at save
};

// "fnv1a64:<16 hex digits>" of a text: stable across builds and machines.
std::string content_digest(std::string_view text);

// The apps of a dump.json text, or nullopt with `error` naming the entry
// and field that is wrong and what it got.
std::optional<std::vector<SavedApp>> parse_saved_apps(std::string_view text, std::string& error);

nlohmann::json saved_apps_json(const std::vector<SavedApp>& apps);

}  // namespace rack::cli
