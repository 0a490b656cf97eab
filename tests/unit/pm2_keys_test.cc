// PM2's restart and environment keys as Rack config: restart.delay,
// autorestart, stop_exit_codes, namespace, env_file.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "lifecycle/backoff.h"
#include "rack/config.h"

using namespace rack;
using namespace rack::config;
using namespace std::chrono_literals;

namespace {

std::string what_of(const std::string& yaml, const std::string& path = "/tmp/eco.yaml") {
  try {
    load_string(yaml, path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("expected a ConfigError for:\n" << yaml);
  return "";
}

master::ExitInfo exited(int code, master::ExitCause cause = master::ExitCause::Crash) {
  master::ExitInfo e;
  e.cause = cause;
  e.code = code;
  return e;
}

}  // namespace

TEST_CASE("pm2 keys: autorestart and stop_exit_codes decide whether an exit restarts") {
  auto eco = load_string("apps:\n  - {name: a, run: [sh], autorestart: false}\n"
                         "  - {name: b, run: [sh], stop_exit_codes: [0, 3]}\n  - {name: c, run: [sh], stop_exit_codes: 0}\n"
                         "  - {name: d, run: [sh]}\n",
                         "/tmp/eco.yaml");
  using master::ExitCause;
  CHECK(master::not_restarted_because(eco.apps[0], exited(1)) == "autorestart: false");
  CHECK(master::not_restarted_because(eco.apps[0], exited(-1, ExitCause::OutsideSignal)) == "autorestart: false");
  // rackd's own replacements are not the app's exits.
  CHECK(master::not_restarted_because(eco.apps[0], exited(-1, ExitCause::Heartbeat)) == "");
  CHECK(master::not_restarted_because(eco.apps[1], exited(3)) == "exit code 3 is in stop_exit_codes");
  CHECK(master::not_restarted_because(eco.apps[1], exited(1)) == "");
  CHECK(master::not_restarted_because(eco.apps[1], exited(-1, ExitCause::OutsideSignal)) == "");
  CHECK(eco.apps[2].stop_exit_codes == std::vector<int>{0});
  CHECK(master::not_restarted_because(eco.apps[3], exited(0)) == "");
  CHECK(what_of("apps:\n  - {name: a, run: [sh], stop_exit_codes: [0, 256]}\n")
            .find("apps[0].stop_exit_codes[1]: expected at most 255") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], autorestart: sometimes}\n")
            .find("apps[0].autorestart: expected true or false") != std::string::npos);
}

TEST_CASE("pm2 keys: restart.delay is a fixed wait before every restart, and quick exits still give up") {
  RestartPolicy p;
  p.delay = 700ms;
  p.max_restarts = 2;
  master::RestartBackoff b(p);
  auto delay = [](master::RestartDecision d) { return std::get<master::RestartAfter>(d).delay; };
  CHECK(delay(b.on_exit(5s)) == 700ms);  // healthy: still waits, as PM2's restart_delay does
  CHECK(delay(b.on_exit(10ms)) == 700ms);
  CHECK(delay(b.on_exit(10ms)) == 700ms);
  CHECK(std::holds_alternative<master::GiveUp>(b.on_exit(10ms)));
  auto eco = load_string("apps:\n  - {name: a, run: [sh], restart: {delay: 2s}}\n", "/tmp/eco.yaml");
  CHECK(eco.apps[0].restart.delay == 2000ms);
}

TEST_CASE("pm2 keys: namespace names a group, and is checked like a name") {
  auto eco = load_string("apps:\n  - {name: a, run: [sh], namespace: billing}\n  - {name: b, run: [sh]}\n", "/tmp/eco.yaml");
  CHECK(eco.apps[0].ns == "billing");
  CHECK(eco.apps[1].ns == "default");
  CHECK(what_of("apps:\n  - {name: a, run: [sh], namespace: 'a b'}\n").find("apps[0].namespace: expected a namespace") !=
        std::string::npos);
}

TEST_CASE("pm2 keys: env_file lines, quotes and comments, env wins over it, bad lines name the line") {
  std::string error;
  auto vars = parse_env_file("# deploy\nexport DB=postgres://x\nQ=\"a b\\n\" # c\nS='$HOME \\n'\nE=\nBARE=x #y\n\n", error);
  REQUIRE_MESSAGE(vars, error);
  CHECK(vars->at("DB") == "postgres://x");
  CHECK(vars->at("Q") == "a b\n");
  CHECK(vars->at("S") == "$HOME \\n");
  CHECK(vars->at("E") == "");
  CHECK(vars->at("BARE") == "x");
  CHECK_FALSE(parse_env_file("A=1\nnot a line\n", error));
  CHECK(error.starts_with("line 2: expected NAME=value"));
  CHECK_FALSE(parse_env_file("A=\"open\n", error));
  CHECK(error == "line 1: unterminated \" quote");

  char dir_template[] = "/tmp/rack-envfile-XXXXXX";
  REQUIRE(mkdtemp(dir_template));
  std::string dir = dir_template;
  std::ofstream(dir + "/.env") << "A=from-file\nB=from-file\n";
  auto eco = load_string("apps:\n  - {name: a, run: [sh], env_file: .env, env: {B: from-env}}\n", dir + "/eco.yaml");
  CHECK(eco.apps[0].env.at("A") == "from-file");
  CHECK(eco.apps[0].env.at("B") == "from-env");
  CHECK(what_of("apps:\n  - {name: a, run: [sh], env_file: missing.env}\n", dir + "/eco.yaml")
            .find("apps[0].env_file: cannot read \"" + dir + "/missing.env\"") != std::string::npos);
  std::ofstream(dir + "/bad.env") << "OK=1\n2X=y\n";
  CHECK(what_of("apps:\n  - {name: a, run: [sh], env_file: bad.env}\n", dir + "/eco.yaml")
            .find(dir + "/bad.env: line 2: expected NAME=value") != std::string::npos);
  std::filesystem::remove_all(dir);
}
