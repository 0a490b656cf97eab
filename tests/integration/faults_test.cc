// Fault semantics: app status from the slots, process trees, availability
// while workers die, stalls. Real rackd, real signals.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <string>

#include "harness.h"

using namespace rack::test;

TEST_CASE("faults: app status is online, degraded, errored and stopped as the slots are") {
  Rack rack;
  std::string quick = "    restart: {min_uptime: 1s, max_restarts: 2, backoff_initial: 10ms}\n";
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("good", 2) +
                      "  - name: bad\n    run: [" + bin("rack-hello") + ", --exit-at-start]\n    protocol: rack\n" +
                      "    listen: 127.0.0.1:0\n    instances: 2\n" + quick);
  rack.ctl({"start", eco});
  REQUIRE(rack.wait_ready("good", 2));
  CHECK(wait_until([&] { return rack.app("good")["status"] == "online"; }, 5s));
  // Every slot of `bad` exits at start: more than max_restarts quick exits each.
  CHECK(wait_until([&] { return rack.app("bad")["status"] == "errored"; }, 10s));

  // Slot 1 of `half` exits at start, slot 0 serves.
  std::string half = rack.write_file(
      "half.yaml", "apps:\n  - name: half\n    run: [/bin/sh, -c, 'test \"$RACK_INSTANCE\" = 1 && exit 3; exec " +
                       bin("rack-hello") + "']\n    protocol: rack\n    listen: 127.0.0.1:0\n    instances: 2\n" + quick);
  rack.ctl({"start", half});
  CHECK(wait_until([&] { return rack.app("half")["status"] == "degraded"; }, 10s));
  CHECK(rack.pids("half").size() == 1);

  CHECK(rack.ctl({"stop", "good"}).exit_code == 0);
  CHECK(rack.app("good")["status"] == "stopped");
  auto table = rack.ctl({"ls"}).out;
  // Each row names its app, then the app's status.
  CHECK(table.find("\nbad   errored ") != std::string::npos);
  CHECK(table.find("\nhalf  degraded ") != std::string::npos);
  CHECK(table.find("\ngood  stopped ") != std::string::npos);
}
