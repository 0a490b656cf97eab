// Per-app user:/group:: workers run as that user (rackd is root here), the
// app's log files are theirs, and the errors when it cannot be.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tools.h"

using namespace rack::test;

namespace {

std::string status_line(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return line;
  return "";
}

const char* kIdsApp = "    run: [/bin/sh, -c, 'echo ids $(id -u) $(id -g) $(id -G) home=$HOME; exec sleep 100']\n";

}  // namespace

TEST_CASE("user: workers of an app with user: nobody run as nobody, and its log files are nobody's") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: rackd must be root to change user (this test runs as uid " << ::geteuid() << ")");
    return;
  }
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", std::string("apps:\n  - name: low\n") + kIdsApp +
                                                    "    user: nobody\n    group: nogroup\n    cwd: /\n"
                                                    "  - name: same\n" + kIdsApp);
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out, r.err);
  auto pids = rack.pids("low");
  REQUIRE(pids.size() == 1);
  CHECK(status_line(pids[0], "Uid") == "Uid:\t65534\t65534\t65534\t65534");
  CHECK(status_line(pids[0], "Gid") == "Gid:\t65534\t65534\t65534\t65534");
  CHECK(status_line(pids[0], "Groups").find("0") == std::string::npos);  // root's groups are gone
  CHECK(status_line(rack.pids("same")[0], "Uid").find("\t0\t") != std::string::npos);
  std::string out = rack.home() + "/logs/low.out.log";
  REQUIRE(wait_until([&] { return read_text(out).find("ids 65534 65534 65534") != std::string::npos; }, 10s));
  CHECK(read_text(out).find("home=/nonexistent") != std::string::npos);
  struct stat st {};
  REQUIRE(::stat(out.c_str(), &st) == 0);
  CHECK(st.st_uid == 65534);
  CHECK(st.st_gid == 65534);
  REQUIRE(::stat((rack.home() + "/logs/same.out.log").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);
}

TEST_CASE("user: a user or group this machine lacks is a config error, and a non-root rackd says it cannot") {
  Rack rack;
  std::string bad = rack.write_file("bad.yaml", std::string("apps:\n  - name: low\n") + kIdsApp +
                                                    "    user: no-such-user-xyz\n");
  auto r = rack.ctl({"start", bad});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("apps[0].user: no user named \"no-such-user-xyz\" on this machine") != std::string::npos, r.err);
  std::string badg = rack.write_file("badg.yaml", std::string("apps:\n  - name: low\n") + kIdsApp +
                                                      "    group: no-such-group-xyz\n");
  r = rack.ctl({"start", badg});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("no group named \"no-such-group-xyz\"") != std::string::npos, r.err);
  CHECK_FALSE(std::filesystem::exists(rack.home() + "/rackd.sock"));  // nothing started

  if (::geteuid() != 0) return;  // the rest plays a rackd that is not root
  std::string setpriv = required_tool("setpriv", "util-linux");
  std::string eco = rack.write_file("eco.yaml", std::string("apps:\n  - name: low\n") + kIdsApp + "    user: root\n");
  REQUIRE(::chown(rack.home().c_str(), 65534, 65534) == 0);
  REQUIRE(::chown(eco.c_str(), 65534, 65534) == 0);
  std::vector<std::string> as_nobody = {setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"};
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = as_nobody;
    argv.push_back(bin("rackctl"));
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, {"RACK_HOME=" + rack.home(), "HOME=/nonexistent"}, 30s);
  };
  r = ctl({"start", eco});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("rackd runs as uid 65534, not root, so it cannot start workers as user \"root\"") !=
                    std::string::npos, r.err);
  // rackd is fine and runs nothing.
  auto s = ctl({"status", "--json"});
  CHECK(s.exit_code == 0);
  CHECK(s.out.find("\"apps\":[]") != std::string::npos);
  ctl({"kill"});
}
