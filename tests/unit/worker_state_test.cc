#include <doctest/doctest.h>

#include "lifecycle/worker_state.h"

using namespace rack::master;
using S = WorkerState;

TEST_CASE("worker lifecycle follows the machine and refuses other transitions") {
  Lifecycle l;
  CHECK(l.state() == S::Starting);
  CHECK(l.has_process());
  CHECK_FALSE(l.in_rotation());
  CHECK(l.go(S::Ready));
  CHECK(l.in_rotation());
  CHECK_FALSE(l.go(S::Starting));  // a ready worker is never "starting" again
  CHECK(l.state() == S::Ready);
  CHECK(l.go(S::Draining));
  CHECK(l.leaving());
  CHECK_FALSE(l.go(S::Ready));  // out of rotation for good
  CHECK(l.go(S::Stopping));
  CHECK(l.go(S::Exited));
  CHECK_FALSE(l.has_process());
  CHECK_FALSE(l.go(S::Starting));  // exited is terminal
}

TEST_CASE("worker lifecycle: crash loop to errored and a user restart") {
  Lifecycle l;
  CHECK(l.go(S::Backoff));
  CHECK_FALSE(l.has_process());
  CHECK(l.go(S::Starting));
  CHECK(l.go(S::Errored));
  CHECK_FALSE(l.go(S::Ready));
  CHECK(l.go(S::Starting));
  CHECK(to_string(l.state()) == "starting");
}

TEST_CASE("worker lifecycle: a restart from backoff that cannot spawn may give up") {
  Lifecycle l;
  CHECK(l.go(S::Backoff));
  CHECK(l.go(S::Errored));
}

TEST_CASE("worker lifecycle: a refused transition is counted for rack_illegal_transitions_total") {
  Lifecycle l;
  uint64_t before = illegal_transitions();
  CHECK(l.go(S::Ready));
  CHECK(illegal_transitions() == before);
  CHECK_FALSE(l.go(S::Starting));
  CHECK(illegal_transitions() == before + 1);
  CHECK(l.state() == S::Ready);
}
