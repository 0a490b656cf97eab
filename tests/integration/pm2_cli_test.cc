// PM2's command habits under rackctl: selection by several names, a
// namespace, /regex/; did-you-mean for names and commands; env, signal,
// reset, jlist.
#include <doctest/doctest.h>

#include "harness.h"

using namespace rack::test;

namespace {

std::string status_of(Rack& rack, const std::string& app) { return rack.app(app).value("status", ""); }

std::string eco_text(Rack& rack) {
  std::string mark = rack.home() + "/crashed-once";
  return "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("api-1", 1, "    namespace: web\n") +
         hello_app("api-2", 1, "    namespace: web\n") +
         "  - name: job\n    namespace: batch\n"
         "    run: [sh, -c, 'trap \"echo got-usr1\" USR1; test -f " + mark + " || { touch " + mark +
         "; exit 1; }; while true; do sleep 0.1; done']\n"
         "    restart: {min_uptime: 100ms}\n";
}

}  // namespace

TEST_CASE("pm2 cli: stop, restart and delete take several names, a namespace or /regex/, with did-you-mean") {
  Rack rack;
  // job fails its first start on purpose: --no-wait, then wait for the rest.
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", eco_text(rack)), "--no-wait"}).exit_code == 0);
  REQUIRE(rack.wait_ready("api-1", 1));
  REQUIRE(rack.wait_ready("api-2", 1));
  auto r = rack.ctl({"stop", "api-1", "job"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(status_of(rack, "api-1") == "stopped");
  CHECK(status_of(rack, "job") == "stopped");
  CHECK(status_of(rack, "api-2") == "online");

  r = rack.ctl({"restart", "web"});  // the namespace
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(rack.wait_ready("api-1", 1));
  CHECK(status_of(rack, "job") == "stopped");

  r = rack.ctl({"stop", "/^api-/"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(status_of(rack, "api-1") == "stopped");
  CHECK(status_of(rack, "api-2") == "stopped");

  r = rack.ctl({"stop", "apx-1"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("no app or namespace named \"apx-1\" (did you mean \"api-1\"?)") != std::string::npos);
  r = rack.ctl({"delete", "/(/"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("invalid regular expression /(/") != std::string::npos);
  r = rack.ctl({"delete", "/^zzz/"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("no app name matches /^zzz/") != std::string::npos);

  r = rack.ctl({"delete", "web"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(rack.status()["apps"].size() == 1);

  r = rack.ctl({"stpo", "job"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("unknown command \"stpo\" (did you mean \"stop\"?)") != std::string::npos);
}

TEST_CASE("pm2 cli: env, signal, reset and jlist") {
  Rack rack;
  // job fails its first start on purpose: --no-wait, then wait for the rest.
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", eco_text(rack)), "--no-wait"}).exit_code == 0);
  REQUIRE(rack.wait_ready("api-1", 1));
  REQUIRE(rack.wait_ready("api-2", 1));
  auto r = rack.ctl({"env", "api-1"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("RACK_APP=api-1\n") != std::string::npos);
  CHECK(r.out.find("RACK_INSTANCE=0\n") != std::string::npos);
  CHECK(rack.ctl({"env", "api-1", "3"}).exit_code == 1);

  // job crashed once at start, then runs.
  REQUIRE(wait_until([&] { return rack.app("job")["workers"][0].value("restarts", 0) == 1 && status_of(rack, "job") == "online"; }, 10s));
  r = rack.ctl({"signal", "SIGUSR1", "job:0"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(wait_until([&] { return rack.ctl({"logs", "job", "-n", "20"}).out.find("got-usr1") != std::string::npos; }, 10s));
  CHECK(rack.ctl({"signal", "SIGNOPE", "job"}).exit_code == 2);
  CHECK(rack.ctl({"signal", "USR1", "job:x"}).exit_code == 2);

  r = rack.ctl({"reset", "job"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(rack.app("job")["workers"][0]["restarts"] == 0);
  CHECK(status_of(rack, "job") == "online");

  r = rack.ctl({"jlist"});
  REQUIRE(r.exit_code == 0);
  auto j = json::parse(r.out);
  CHECK(j["apps"].size() == 3);
  CHECK(j["apps"][0].contains("namespace"));
}

TEST_CASE("pm2 cli: bash and zsh completion and the man page come from the command definitions") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web-api", 1))})
              .exit_code == 0);
  std::string script = rack.home() + "/rackctl.bash";
  auto r = run({"/bin/sh", "-c", bin("rackctl") + " completion bash > " + script});
  REQUIRE(r.exit_code == 0);
  // Complete as bash would: a command prefix, an option, an app name from rackd.
  auto complete = [&](const std::string& words, int cword) {
    return run({"/bin/bash", "-c", "export PATH=" + std::filesystem::path(bin("rackctl")).parent_path().string() +
                                       ":$PATH RACK_HOME=" + rack.home() + "; source " + script + "; COMP_WORDS=(" + words +
                                       "); COMP_CWORD=" + std::to_string(cword) + "; _rackctl; echo \"${COMPREPLY[*]}\""})
        .out;
  };
  CHECK(complete("rackctl conv", 1) == "convert\n");
  CHECK(complete("rackctl start --no", 2) == "--no-wait\n");
  CHECK(complete("rackctl reload web", 2) == "web-api\n");
  r = run({bin("rackctl"), "completion", "zsh"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.starts_with("#compdef rackctl"));
  CHECK(r.out.find("'convert:Print the ecosystem.yaml equivalent") != std::string::npos);
  CHECK(run({bin("rackctl"), "completion", "fish"}).exit_code == 2);

  r = run({bin("rackctl"), "man"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.starts_with(".TH RACKCTL 1"));
  for (const char* cmd : {"start", "convert", "jlist", "signal|sendSignal", "reset", "env", "monit"})
    CHECK_MESSAGE(r.out.find(".B " + std::string(cmd)) != std::string::npos, cmd);
  CHECK(r.out.find("\\-\\-env") != std::string::npos);
  // groff reads it without a warning.
  auto g = run({"/bin/sh", "-c", bin("rackctl") + " man | groff -man -Tutf8 -ww -z"});
  CHECK(g.exit_code == 0);
  CHECK_MESSAGE(g.err.empty(), g.err);
}
