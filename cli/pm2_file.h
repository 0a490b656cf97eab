// PM2's ecosystem files for `rackctl start|reload|convert`:
// ecosystem.config.js / .cjs (any *.config.js; evaluated by node in a child process: require,
// then JSON on stdout; rackd never runs JS), .json, and PM2's YAML shape.
//
//   std::string error;
//   auto yaml = pm2_ecosystem("ecosystem.config.js", "production", error);   // warnings on stderr
//   if (yaml) start(*yaml);   // $RACK_HOME/apps/pm2-ecosystem-1a2b3c4d.yaml
#pragma once

#include <optional>
#include <string>

namespace rack::cli {

// *.config.js/.cjs/.mjs (PM2's rule: server.js is a script to run), .json,
// or YAML in PM2's shape (apps with script:).
bool is_pm2_file(const std::string& path);

// Converts `path` (with env_<env_name> when not empty), prints the
// warnings on stderr, validates the result, and writes it to
// $RACK_HOME/apps/. Returns that file, or nullopt with `error`.
std::optional<std::string> pm2_ecosystem(const std::string& path, const std::string& env_name, std::string& error);

// `rackctl convert`: the equivalent ecosystem.yaml on stdout (or in
// `out_file`), paths as the PM2 file wrote them. Returns an exit code.
int pm2_convert(const std::string& path, const std::string& env_name, const std::string& out_file);

}  // namespace rack::cli
