// rackctl startup: the unit it writes passes systemd-analyze verify, names
// this machine's binaries and RACK_HOME, and resurrects at boot.
#include <doctest/doctest.h>

#include <filesystem>

#include "tools.h"

using namespace rack::test;

TEST_CASE("startup: rackctl startup --install writes a unit that systemd-analyze verify accepts") {
  std::string analyze = required_tool("systemd-analyze", "systemd");
  Rack rack;
  std::string dir = rack.home() + "/units";
  auto r = rack.ctl({"startup", "--install", "--unit-dir", dir});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::string unit = dir + "/rack-root.service";
  if (!std::filesystem::exists(unit)) {  // not root: rack-<name>.service
    for (auto& e : std::filesystem::directory_iterator(dir)) unit = e.path().string();
  }
  CHECK(r.out.find("wrote " + unit) != std::string::npos);
  std::string text = read_text(unit);
  CHECK(text.find("Type=notify") != std::string::npos);
  CHECK(text.find("Environment=\"RACK_HOME=" + rack.home() + "\"") != std::string::npos);
  CHECK(text.find("ExecStart=" + bin("rackd") + " --no-daemon --no-stdout-logs --home \"" + rack.home() + "\"") !=
        std::string::npos);
  CHECK(text.find("ExecStartPost=-" + bin("rackctl") + " resurrect") != std::string::npos);
  CHECK(text.find("WantedBy=multi-user.target") != std::string::npos);
  auto v = run({analyze, "verify", unit}, {}, 30s);
  CHECK_MESSAGE(v.exit_code == 0, v.out, v.err);
  CHECK_MESSAGE(v.err.find(unit) == std::string::npos, v.err);  // no warning about the unit itself

  // --user: no User=, started with the user's session.
  auto u = rack.ctl({"startup", "--user"});
  REQUIRE(u.exit_code == 0);
  CHECK(u.out.find("User=") == std::string::npos);
  CHECK(u.out.find("WantedBy=default.target") != std::string::npos);
  std::string user_unit = rack.write_file("rack.service", u.out);
  v = run({analyze, "verify", user_unit}, {}, 30s);
  CHECK_MESSAGE(v.exit_code == 0, v.out, v.err);

  // A user that does not exist is a usage error, and nothing is written.
  auto bad = rack.ctl({"startup", "--as", "no-such-user-here", "--install", "--unit-dir", rack.home() + "/none"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("no user named \"no-such-user-here\"") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(rack.home() + "/none"));
}
