// PM2's ecosystem files, mapped key by key to Rack's ecosystem.yaml.
//
//   rack::pm2::Options opt{.env_name = "production", .base_dir = "/srv/api"};
//   rack::pm2::Conversion c = rack::pm2::convert(value, "ecosystem.config.js", opt);
//   for (auto& w : c.warnings) std::cerr << w << "\n";   // keys Rack does not take
//   if (c.errors.empty()) write(c.yaml);                  // then config::load_string()
//
// `value` is what the file evaluates to (module.exports of a .js/.cjs file,
// which node evaluates in a child process of rackctl; rackd never runs JS),
// the object of a .json file, or PM2's YAML shape: {apps: [...]} or a bare
// list of apps. Every PM2 key is either mapped, accepted because Rack
// already behaves that way (merge_logs), or reported as a warning that
// names the key and what to use instead; none is dropped silently.
//
// The result is YAML for config::load_string(), which validates it like any
// other ecosystem file. Durations PM2 gives as numbers are milliseconds.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rack::pm2 {

struct Options {
  // `--env production`: env_production is merged over env.
  std::string env_name;
  // Paths (cwd, watch paths, log directories) are made absolute against this
  // directory (the PM2 file's), for a YAML file written elsewhere
  // ($RACK_HOME/apps). Empty: kept as written, for a YAML file that will sit
  // next to the PM2 file (`rackctl convert`).
  std::string base_dir;
  unsigned cpus = 0;  // for instances: -1 (all CPUs but one); 0 = detect
};

struct Conversion {
  std::string yaml;
  std::vector<std::string> warnings;  // "ecosystem.config.js: apps[0] (api): pid_file: ..."
  std::vector<std::string> errors;    // nothing can be started
  std::vector<std::string> names;     // the apps, in order
};

Conversion convert(const nlohmann::json& value, const std::string& source, const Options& options);

// True when a parsed YAML file has PM2's shape rather than Rack's: its apps
// say `script:` and none says `run:`.
bool looks_like_pm2_yaml(const nlohmann::json& value);

// What to use instead of a PM2 key Rack does not take ("" when unknown to
// PM2 too).
std::string unsupported_hint(const std::string& key);

}  // namespace rack::pm2
