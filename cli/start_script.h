// `rackctl start server.js -i 4 --name api --listen :3000 -- --flag`:
// PM2's way to start a script without writing an ecosystem file.
//
// rackctl writes the one-app ecosystem file the flags describe to
// $RACK_HOME/apps/<name>.yaml and starts that, so the app is validated like
// any other, and `save`/`resurrect` and `reload` find it again.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rack::cli {

struct ScriptStart {
  std::string script;            // as typed: server.js, ./bin/server, app.py
  std::string name;              // "" = the script's file name without extension
  std::string instances = "1";   // n or "max"
  std::string listen;            // "" = none (the app listens by itself; one instance)
  std::string protocol;          // "" = node for a node script with listen or -i > 1, inherit for others with listen
  std::string interpreter;       // "" = by extension or shebang
  std::vector<std::string> env;  // K=V
  std::vector<std::string> args; // after --
};

// True for what names an ecosystem file rather than a script to run.
bool is_ecosystem_file(const std::string& arg);

// The ecosystem YAML for `s`, run from `cwd` (absolute). nullopt with
// `error` for bad flags (an env entry without '=', a name that cannot be one).
std::optional<std::string> script_ecosystem(const ScriptStart& s, const std::string& cwd, std::string& error);

// Writes it to $RACK_HOME/apps/<name>.yaml; returns that path, or nullopt with `error`.
std::optional<std::string> write_script_ecosystem(const ScriptStart& s, std::string& error);

// The app name script_ecosystem() uses.
std::string script_app_name(const ScriptStart& s);

}  // namespace rack::cli
