// Which interpreter runs a script: `run: app.py`, `rackctl start server.js`.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "rack/config.h"

namespace rack::config {

namespace {

struct ByExtension {
  std::string_view extension;
  const char* interpreter;
};

constexpr ByExtension kByExtension[] = {
    {".js", "node"}, {".mjs", "node"}, {".cjs", "node"}, {".py", "python3"}, {".rb", "ruby"}, {".sh", "bash"},
};

}  // namespace

std::vector<std::string> script_interpreter(const std::string& script_path) {
  std::string first;
  {
    std::ifstream in(script_path);
    if (in) std::getline(in, first);
  }
  const bool shebang = first.starts_with("#!");
  // An executable file with a "#!" line is run as is: the kernel reads it.
  if (shebang && ::access(script_path.c_str(), X_OK) == 0) return {};
  for (const ByExtension& e : kByExtension) {
    if (script_path.size() > e.extension.size() && script_path.ends_with(e.extension)) return {e.interpreter};
  }
  if (!shebang || ::access(script_path.c_str(), X_OK) == 0) return {};
  auto words = split_command(std::string_view(first).substr(2));
  return words ? *words : std::vector<std::string>{};
}

}  // namespace rack::config
