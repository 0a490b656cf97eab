// rackd --no-daemon in a container: every app line on rackd's own stdout.
#include <doctest/doctest.h>

#include <fcntl.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

using namespace rack::test;

namespace {

// Runs rackd --no-daemon with stdout to a pipe until `lines` lines came or
// 10 s passed, then SIGTERM; returns what it wrote to stdout.
std::string stdout_of(Rack& rack, const std::string& eco, const std::vector<std::string>& env, size_t lines) {
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("RACK_HOME", rack.home().c_str(), 1);
    for (auto& e : env) putenv(const_cast<char*>(e.c_str()));
    dup2(p[1], 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    close(p[0]);
    execl(bin("rackd").c_str(), "rackd", "--no-daemon", eco.c_str(), nullptr);
    _exit(127);
  }
  close(p[1]);
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  std::string out;
  wait_until([&] {
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return static_cast<size_t>(std::count(out.begin(), out.end(), '\n')) >= lines;
  }, 10s);
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  close(p[0]);
  return out;
}

const char* kApp =
    "rack:\n  admin: off\n  shutdown_delay: 0s\napps:\n"
    "  - name: talk\n    run: [/bin/sh, -c, 'echo hello out; echo oops err >&2; exec sleep 100']\n";

}  // namespace

TEST_CASE("container: rackd --no-daemon writes every app line to stdout as JSON lines with app, slot, stream and time") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", kApp);
  std::string out = stdout_of(rack, eco, {}, 2);
  std::vector<json> lines;
  size_t start = 0;
  for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(json::parse(out.substr(start, nl - start)));
  REQUIRE(lines.size() >= 2);
  bool saw_out = false, saw_err = false;
  for (auto& l : lines) {
    CHECK(l["app"] == "talk");
    CHECK(l["slot"] == 0);
    CHECK(l["time"].get<std::string>().size() == 24);  // 2026-11-22T03:20:59.123Z
    if (l["stream"] == "out" && l["line"] == "hello out") saw_out = true;
    if (l["stream"] == "err" && l["line"] == "oops err") saw_err = true;
  }
  CHECK(saw_out);
  CHECK(saw_err);
  // The log files have them too: stdout is a copy.
  std::ifstream file(rack.home() + "/logs/talk.out.log");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  CHECK(text.find("hello out") != std::string::npos);
}

TEST_CASE("container: LOG_FORMAT=pretty prefixes the lines, and RACK_STDOUT_LOGS=off leaves stdout to rackd") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", kApp);
  std::string pretty = stdout_of(rack, eco, {"LOG_FORMAT=pretty"}, 2);
  CHECK(pretty.find(" talk[0] out | hello out\n") != std::string::npos);
  CHECK(pretty.find(" talk[0] err | oops err\n") != std::string::npos);

  Rack quiet;
  std::string eco2 = quiet.write_file("eco.yaml", kApp);
  std::string none = stdout_of(quiet, eco2, {"RACK_STDOUT_LOGS=off"}, 1);  // nothing comes: waits 10 s
  CHECK(none.find("hello out") == std::string::npos);
}

TEST_CASE("container: an app with logs.dir: off has no files, and its lines on stdout even with RACK_STDOUT_LOGS=off") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", std::string(kApp) +
                                                    "  - name: nofiles\n    logs: {dir: off}\n"
                                                    "    run: [/bin/sh, -c, 'echo only here; echo bad here >&2; exec sleep 100']\n");
  std::string out = stdout_of(rack, eco, {"RACK_STDOUT_LOGS=off"}, 2);
  CHECK(out.find("\"app\":\"nofiles\"") != std::string::npos);
  CHECK(out.find("only here") != std::string::npos);
  CHECK(out.find("bad here") != std::string::npos);
  CHECK(out.find("hello out") == std::string::npos);  // talk has files, and the copy is off
  CHECK(access((rack.home() + "/logs/talk.out.log").c_str(), F_OK) == 0);
  CHECK(access((rack.home() + "/logs/nofiles.out.log").c_str(), F_OK) != 0);
  CHECK(access((rack.home() + "/logs/nofiles.err.log").c_str(), F_OK) != 0);
}

TEST_CASE("logs: rackctl logs says an app with logs.dir: off has no log files, and -f still follows it") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml",
                                    "rack: {admin: off}\napps:\n"
                                    "  - name: nofiles\n    logs: {dir: off}\n"
                                    "    run: [/bin/sh, -c, 'echo first; sleep 1; while true; do echo tick; sleep 0.2; done']\n");
  RunResult s = rack.ctl({"start", eco});
  REQUIRE(s.exit_code == 0);
  RunResult one = rack.ctl({"logs", "nofiles"});
  CHECK(one.exit_code == 1);
  CHECK(one.err.find("nofiles has no log files (logs.dir: off)") != std::string::npos);
  CHECK(one.err.find("-f") != std::string::npos);
  RunResult all = rack.ctl({"logs"});
  CHECK(all.exit_code == 0);
  CHECK(all.err.find("nofiles has no log files") != std::string::npos);
  CHECK(rack.ctl({"describe", "nofiles"}).out.find("off: no log files") != std::string::npos);
  CHECK(access((rack.home() + "/logs/nofiles.out.log").c_str(), F_OK) != 0);
  // Live lines still reach a follower.
  RunResult f = run({bin("rackctl"), "logs", "nofiles", "-f"}, {"RACK_HOME=" + rack.home()}, 3s);
  CHECK(f.out.find("nofiles[0] | tick") != std::string::npos);
  CHECK(f.err.find("following its lines from now on") != std::string::npos);
  // A reload onto files gives it files again.
  rack.write_file("eco.yaml", "rack: {admin: off}\napps:\n"
                              "  - name: nofiles\n"
                              "    run: [/bin/sh, -c, 'echo first; sleep 1; while true; do echo tick; sleep 0.2; done']\n");
  REQUIRE(rack.ctl({"reload", eco}).exit_code == 0);
  CHECK(wait_until([&] { return rack.ctl({"logs", "nofiles"}).out.find("tick") != std::string::npos; }, 10s));
}
