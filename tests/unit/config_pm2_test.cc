// Config keys PM2 users bring with them: stop_signal, and max_memory's units.
#include <doctest/doctest.h>

#include <csignal>

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
