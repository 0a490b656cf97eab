#include <signal.h>

#include <doctest/doctest.h>

#include "lifecycle/escalation.h"

using namespace rack::master;
using namespace std::chrono_literals;

TEST_CASE("escalation: a drained worker gets SIGTERM after kill_timeout, then SIGKILL") {
  auto term = next_kill(KillStep::Asked, 5000ms);
  REQUIRE(term);
  CHECK(term->step == KillStep::Terminated);
  CHECK(term->signal == SIGTERM);
  CHECK(term->after == 5000ms);
  auto kill = next_kill(term->step, 5000ms);
  REQUIRE(kill);
  CHECK(kill->step == KillStep::Killed);
  CHECK(kill->signal == SIGKILL);
  CHECK(kill->after == 5000ms);
  CHECK_FALSE(next_kill(kill->step, 5000ms));
}

TEST_CASE("escalation: a stuck worker gets SIGKILL a short grace after SIGABRT, whatever kill_timeout is") {
  auto kill = next_kill(KillStep::Aborted, 60000ms);
  REQUIRE(kill);
  CHECK(kill->step == KillStep::Killed);
  CHECK(kill->signal == SIGKILL);
  CHECK(kill->after == kAbortGrace);
}

TEST_CASE("escalation: nothing follows when nothing was asked") {
  CHECK_FALSE(next_kill(KillStep::None, 1000ms));
}
