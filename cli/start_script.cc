#include "start_script.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <yaml-cpp/yaml.h>

#include "client.h"
#include "rack/config.h"

namespace fs = std::filesystem;

namespace rack::cli {

bool is_ecosystem_file(const std::string& arg) {
  for (const char* ext : {".yaml", ".yml"})
    if (arg.ends_with(ext)) return true;
  return false;
}

std::string script_app_name(const ScriptStart& s) {
  if (!s.name.empty()) return s.name;
  std::string stem = fs::path(s.script).stem().string();
  std::string out;
  for (char c : stem) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '-';
  if (out.empty()) out = "app";
  return out.substr(0, 64);
}

namespace {

bool is_node_script(const ScriptStart& s) {
  if (!s.interpreter.empty()) {
    auto words = config::split_command(s.interpreter);  // "node --max-old-space-size=256"
    return words && !words->empty() && fs::path((*words)[0]).filename() == "node";
  }
  return config::is_node_script(s.script);
}

}  // namespace

std::optional<std::string> script_ecosystem(const ScriptStart& s, const std::string& cwd, std::string& error) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "apps" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << script_app_name(s);
  // run[0] as typed: the loader resolves it against cwd and picks the
  // interpreter, with the file and line of this file in any error.
  std::string script = s.script.find('/') == std::string::npos && fs::exists(fs::path(cwd) / s.script)
                           ? "./" + s.script
                           : s.script;
  out << YAML::Key << "run" << YAML::Value << YAML::Flow << YAML::BeginSeq << script;
  for (const std::string& a : s.args) out << a;
  out << YAML::EndSeq;
  out << YAML::Key << "cwd" << YAML::Value << cwd;
  out << YAML::Key << "instances" << YAML::Value << s.instances;
  std::string protocol = s.protocol;
  // Several instances of a node script with no --listen: protocol node
  // without listen, so rackd binds what the app's server asks for and
  // shares it between the instances, like PM2's cluster mode.
  if (protocol.empty() && s.listen.empty() && s.instances != "1" && is_node_script(s)) protocol = "node";
  if (protocol.empty()) protocol = s.listen.empty() ? "none" : is_node_script(s) ? "node" : "inherit";
  out << YAML::Key << "protocol" << YAML::Value << protocol;
  if (!s.listen.empty()) out << YAML::Key << "listen" << YAML::Value << s.listen;
  if (!s.interpreter.empty()) out << YAML::Key << "interpreter" << YAML::Value << s.interpreter;
  if (!s.env.empty()) {
    out << YAML::Key << "env" << YAML::Value << YAML::BeginMap;
    for (const std::string& kv : s.env) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        error = "--env-var: expected NAME=VALUE, got \"" + kv + "\"";
        return std::nullopt;
      }
      out << YAML::Key << kv.substr(0, eq) << YAML::Value << YAML::DoubleQuoted << kv.substr(eq + 1);
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::optional<std::string> write_script_ecosystem(const ScriptStart& s, std::string& error) {
  std::error_code ec;
  std::string cwd = fs::current_path(ec).string();
  auto yaml = script_ecosystem(s, cwd, error);
  if (!yaml) return std::nullopt;
  fs::path dir = fs::path(rack_home()) / "apps";
  fs::create_directories(dir, ec);
  fs::path file = dir / (script_app_name(s) + ".yaml");
  fs::path tmp = file;
  tmp += ".tmp";
  {
    std::ofstream f(tmp);
    f << "# Written by rackctl start " << s.script << "; edit it and `rackctl reload " << file.string()
      << "`.\n" << *yaml;
    if (!f) {
      error = "cannot write " + tmp.string();
      return std::nullopt;
    }
  }
  fs::rename(tmp, file, ec);
  if (ec) {
    error = "cannot write " + file.string() + ": " + ec.message();
    return std::nullopt;
  }
  return file.string();
}

}  // namespace rack::cli
