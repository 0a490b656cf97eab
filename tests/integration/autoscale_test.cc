// Autoscaling between instances.min and max under real load.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "harness.h"

using namespace rack::test;

namespace {

std::string scaled_app(const std::string& scale) {
  return "rack:\n  admin: off\napps:\n  - name: web\n    run: [" + bin("rack-hello") +
         "]\n    protocol: rack\n    listen: 127.0.0.1:0\n    instances: {min: 1, max: 3}\n    scale: " + scale + "\n";
}

unsigned instances(Rack& rack) { return rack.app("web").value("instances", 0u); }

std::string rackd_log(Rack& rack) {
  std::ifstream f(rack.home() + "/rackd.log");
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("autoscale: CPU-heavy load scales up within seconds, and idle scales back down to min after the cooldown") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", scaled_app("{busy: 0.5, up_after: 1s, cooldown: 3s}"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  REQUIRE(rack.wait_ready("web", 1));
  CHECK(instances(rack) == 1);
  json a = rack.app("web")["autoscale"];
  CHECK(a["min"] == 1);
  CHECK(a["max"] == 3);
  CHECK(a["metric"] == "busy");
  auto [host, port] = rack.address("web");
  {
    // Every request a 20 ms busy loop: the one worker is on CPU all the time.
    Load load(host, port, Load::Mode::KeepAlive, 4, "/spin?ms=20");
    CHECK_MESSAGE(wait_until([&] { return instances(rack) >= 2; }, 15s, 200ms), "no scale-up: " << rack.app("web"));
    CHECK(rack.wait_ready("web", instances(rack)));
    // Never past max, however long the load lasts.
    std::this_thread::sleep_for(3s);
    CHECK(instances(rack) <= 3);
    load.stop();
    CHECK_MESSAGE(load.failed() == 0, load.first_error());
  }
  // Idle: one worker at a time, each after the 3 s cooldown, down to min.
  CHECK_MESSAGE(wait_until([&] { return instances(rack) == 1; }, 30s, 200ms), "no scale-down: " << rack.app("web"));
  CHECK(wait_until([&] { return rack.pids("web").size() == 1; }, 10s));
  std::this_thread::sleep_for(5s);
  CHECK(instances(rack) == 1);  // min holds
  std::string log = rackd_log(rack);
  CHECK_MESSAGE(log.find("autoscale up from 1 to") != std::string::npos, log);
  CHECK(log.find("autoscale down from 2 to 1") != std::string::npos);
}

TEST_CASE("autoscale: rackctl scale is a manual override until scale auto") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", scaled_app("{busy: 0.7, cooldown: 1s}"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 1));
  auto s = rack.ctl({"scale", "web", "3"});
  REQUIRE_MESSAGE(s.exit_code == 0, s.err);
  REQUIRE(rack.wait_ready("web", 3));
  CHECK(rack.app("web")["autoscale"]["manual_override"] == true);
  // Idle, with a 1 s cooldown: the override holds.
  std::this_thread::sleep_for(4s);
  CHECK(instances(rack) == 3);
  auto back = rack.ctl({"scale", "web", "auto"});
  CHECK_MESSAGE(back.exit_code == 0, back.err);
  CHECK(rack.app("web")["autoscale"]["manual_override"] == false);
  CHECK_MESSAGE(wait_until([&] { return instances(rack) == 1; }, 20s, 200ms), rack.app("web"));
}

TEST_CASE("autoscale: scale auto on an app without instances {min, max} is refused") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 2));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto r = rack.ctl({"scale", "web", "auto"});
  CHECK(r.exit_code != 0);
  CHECK_MESSAGE(r.err.find("has no instances: {min, max}") != std::string::npos, r.err);
  CHECK(instances(rack) == 2);
}
