// Which interpreter runs a script: `run: app.py`, `rackctl start server.js`.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <optional>
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

std::string first_line(const std::string& path) {
  std::string first;
  std::ifstream in(path);
  if (in) std::getline(in, first);
  return first;
}

bool names_node(const std::string& word) {
  auto slash = word.rfind('/');
  std::string_view file = slash == std::string::npos ? std::string_view(word) : std::string_view(word).substr(slash + 1);
  return file == "node" || file == "nodejs";
}

}  // namespace

std::vector<std::string> script_interpreter(const std::string& script_path) {
  std::string first = first_line(script_path);
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

bool is_node_script(const std::string& script_path) {
  // What runs it: the "#!" line of an executable file (the kernel reads
  // it), else what script_interpreter() puts in front.
  std::string first = first_line(script_path);
  std::optional<std::vector<std::string>> words;
  if (first.starts_with("#!") && ::access(script_path.c_str(), X_OK) == 0)
    words = split_command(std::string_view(first).substr(2));
  else
    words = script_interpreter(script_path);
  if (!words || words->empty()) return false;
  if (names_node((*words)[0])) return true;
  if (!(*words)[0].ends_with("/env") && (*words)[0] != "env") return false;
  // env's options (-S, -i) and NAME=value come before the program.
  for (std::size_t i = 1; i < words->size(); ++i) {
    const std::string& w = (*words)[i];
    if (w.starts_with("-") || w.find('=') != std::string::npos) continue;
    return names_node(w);
  }
  return false;
}

}  // namespace rack::config
