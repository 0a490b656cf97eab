// Config keys PM2 users bring with them: stop_signal, and max_memory's units.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "rack/config.h"

using namespace rack::config;

namespace {

std::string what_of(const std::string& yaml) {
  try {
    load_string(yaml, "/tmp/eco.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("expected a ConfigError for:\n" << yaml);
  return "";
}

}  // namespace

TEST_CASE("config: stop_signal defaults to SIGINT for node, SIGTERM otherwise, and can be set") {
  auto eco = load_string(
      "apps:\n  - {name: n, run: [sh], protocol: node, listen: '127.0.0.1:0'}\n"
      "  - {name: s, run: [sh]}\n  - {name: q, run: [sh], stop_signal: quit}\n"
      "  - {name: t, run: [sh], protocol: node, listen: '127.0.0.1:0', stop_signal: SIGTERM}\n",
      "/tmp/eco.yaml");
  CHECK(stop_signal_of(eco.apps[0]) == SIGINT);
  CHECK(stop_signal_of(eco.apps[1]) == SIGTERM);
  CHECK(stop_signal_of(eco.apps[2]) == SIGQUIT);
  CHECK(stop_signal_of(eco.apps[3]) == SIGTERM);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], stop_signal: SIGKILL}\n")
            .find("apps[0].stop_signal: expected a signal name like SIGINT") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], stop_signal: 15}\n").find("got \"15\"") != std::string::npos);
  CHECK(parse_signal("SIGUSR2") == SIGUSR2);
  CHECK(parse_signal("hup") == SIGHUP);
  CHECK_FALSE(parse_signal("SIGSTOP"));
  CHECK_FALSE(parse_signal(""));
}

TEST_CASE("config: max_memory with no unit is bytes, and under 1M is refused as a likely mistake") {
  CHECK(what_of("apps:\n  - {name: a, run: [sh], max_memory: 10}\n") ==
        "/tmp/eco.yaml:2:38: apps[0].max_memory: max_memory \"10\" is under 1M (a bare number is bytes); "
        "write e.g. 512M");
  CHECK(what_of("apps:\n  - {name: a, run: [sh], max_memory: 900K}\n").find("under 1M") != std::string::npos);
  auto eco = load_string("apps:\n  - {name: a, run: [sh], max_memory: 1048576}\n", "/tmp/eco.yaml");
  CHECK(eco.apps[0].max_memory == 1048576u);
}

namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/rack-interp-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text, bool executable = false) {
    std::string p = path + "/" + name;
    std::ofstream(p) << text;
    if (executable) std::filesystem::permissions(p, std::filesystem::perms::owner_all);
    return p;
  }
  std::string path;
};

}  // namespace

TEST_CASE("config: a script in run gets its interpreter by extension, shebang or interpreter:") {
  TempDir d;
  d.write("server.js", "");
  d.write("app.py", "");
  d.write("tool", "#!/usr/bin/env ruby -w\n");
  d.write("bin-server", "#!/bin/sh\n", /*executable=*/true);
  std::string cwd = "    cwd: " + d.path + "\n";
  auto eco = load_string("apps:\n  - name: js\n    run: server.js --flag\n" + cwd +
                             "  - name: py\n    run: app.py\n" + cwd +
                             "  - name: shebang\n    run: ./tool x\n" + cwd +
                             "  - name: exe\n    run: ./bin-server\n" + cwd +
                             "  - name: over\n    run: server.js\n    interpreter: sh\n" + cwd +
                             "  - name: asis\n    run: [sh, server.js]\n    interpreter: none\n" + cwd,
                         d.path + "/eco.yaml");
  auto run_of = [&](int i) -> const std::vector<std::string>& { return eco.apps[i].run; };
  CHECK(std::filesystem::path(run_of(0)[0]).filename() == "node");
  CHECK(std::vector<std::string>(run_of(0).begin() + 1, run_of(0).end()) ==
        std::vector<std::string>{"server.js", "--flag"});
  CHECK(std::filesystem::path(run_of(1)[0]).filename() == "python3");
  CHECK(run_of(1)[1] == "app.py");
  // Not executable: what its "#!" line says (env, ruby -w), then the script.
  CHECK(std::filesystem::path(run_of(2)[0]).filename() == "env");
  CHECK(std::vector<std::string>(run_of(2).begin() + 1, run_of(2).end()) ==
        std::vector<std::string>{"ruby", "-w", "./tool", "x"});
  // Executable: run as is; the kernel reads the "#!".
  CHECK(run_of(3) == std::vector<std::string>{d.path + "/bin-server"});
  CHECK(std::filesystem::path(run_of(4)[0]).filename() == "sh");
  CHECK(run_of(4)[1] == "server.js");
  CHECK(std::filesystem::path(run_of(5)[0]).filename() == "sh");
  CHECK(run_of(5).size() == 2);

  // A missing script is named with where it was looked for.
  CHECK(what_of("apps:\n  - name: a\n    run: gone.py\n" + cwd).find("script \"gone.py\" not found (looked for " +
                                                                  d.path + "/gone.py)") != std::string::npos);
  CHECK(script_interpreter("x.rb") == std::vector<std::string>{"ruby"});
  CHECK(script_interpreter("x.sh") == std::vector<std::string>{"bash"});
  CHECK(script_interpreter("/nonexistent/file").empty());
}
