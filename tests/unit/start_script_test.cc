// `rackctl start <script>`: which protocol the one-app ecosystem file gets
// (cli/start_script.h), and which scripts are node's (config::is_node_script).
#include <doctest/doctest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include <yaml-cpp/yaml.h>

#include "rack/config.h"
#include "start_script.h"

namespace fs = std::filesystem;

namespace {

struct ScriptDir {
  ScriptDir() {
    char tmpl[] = "/tmp/rack-start-script-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~ScriptDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& text, bool executable) {
    std::string p = path + "/" + name;
    std::ofstream(p) << text;
    fs::permissions(p, executable ? fs::perms::owner_all : fs::perms::owner_read | fs::perms::owner_write);
    return p;
  }
  std::string path;
};

// The protocol `rackctl start <script> -i <instances> [--listen]` writes.
std::string protocol_of(const std::string& script, const std::string& instances, const std::string& listen = "") {
  rack::cli::ScriptStart s;
  s.script = script;
  s.instances = instances;
  s.listen = listen;
  std::string error;
  auto yaml = rack::cli::script_ecosystem(s, fs::path(script).parent_path().string(), error);
  REQUIRE_MESSAGE(yaml, error);
  return YAML::Load(*yaml)["apps"][0]["protocol"].as<std::string>();
}

constexpr const char* kNodeServer = "#!/usr/bin/env node\nrequire('http').createServer().listen(3000);\n";

}  // namespace

TEST_CASE("rackctl start: a node script is started as node whether it is executable or not") {
  ScriptDir d;
  // The same file with and without chmod +x: the kernel runs the
  // executable one by its "#!", but node is what runs it either way.
  std::string plain = d.write("plain.js", kNodeServer, false);
  std::string exe = d.write("exe.js", kNodeServer, true);
  std::string bare = d.write("server", kNodeServer, true);  // no extension: the "#!" says node
  std::string direct = d.write("direct", "#!/usr/bin/node --max-old-space-size=64\n", true);
  for (const std::string& script : {plain, exe, bare, direct}) {
    CAPTURE(script);
    CHECK(protocol_of(script, "2") == "node");
    CHECK(protocol_of(script, "1", "127.0.0.1:0") == "node");
    CHECK(protocol_of(script, "1") == "none");  // one instance, no --listen: fork mode
  }
  // Not node: inherit with --listen, none without.
  std::string sh = d.write("serve", "#!/bin/sh\nexec python3 -m http.server\n", true);
  std::string py = d.write("app.py", "print('hi')\n", false);
  for (const std::string& script : {sh, py}) {
    CAPTURE(script);
    CHECK(protocol_of(script, "2", "127.0.0.1:0") == "inherit");
    CHECK(protocol_of(script, "2") == "none");
  }
}

TEST_CASE("config: is_node_script: an executable's #! line, else .js/.mjs/.cjs or a #! line naming node") {
  using rack::config::is_node_script;
  ScriptDir d;
  CHECK(is_node_script(d.write("a.mjs", "", false)));
  CHECK(is_node_script(d.write("a.cjs", "", true)));
  CHECK(is_node_script(d.path + "/not-there.js"));  // by name alone
  CHECK(is_node_script(d.write("env-node", "#!/usr/bin/env node\n", true)));
  CHECK(is_node_script(d.write("env-s", "#!/usr/bin/env -S NODE_ENV=production node --trace-warnings\n", true)));
  CHECK(is_node_script(d.write("nodejs", "#!/usr/bin/nodejs\n", false)));
  CHECK(is_node_script(d.write("x.py", "#!/usr/bin/env node\n", true)));  // executable: the kernel runs the "#!"
  CHECK_FALSE(is_node_script(d.write("y.py", "#!/usr/bin/env node\n", false)));  // else the extension decides
  CHECK_FALSE(is_node_script(d.write("env-python", "#!/usr/bin/env python3\n", true)));
  CHECK_FALSE(is_node_script(d.write("nodemon-ish", "#!/usr/bin/env nodemon\n", true)));
  CHECK_FALSE(is_node_script(d.write("no-shebang", "node\n", true)));
  CHECK_FALSE(is_node_script(d.path + "/missing"));
}
