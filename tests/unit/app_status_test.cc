#include <doctest/doctest.h>

#include <vector>

#include "app/app_status.h"

using namespace rack::master;
using S = WorkerState;

namespace {
AppStatus of(std::vector<S> slots, Stopped stopped = Stopped::No) { return app_status(stopped, slots); }
}  // namespace

TEST_CASE("app status: online, degraded, down and errored follow the slots") {
  CHECK(of({S::Ready, S::Ready}) == AppStatus::Online);
  CHECK(of({S::Ready, S::Backoff}) == AppStatus::Degraded);
  CHECK(of({S::Ready, S::Errored}) == AppStatus::Degraded);  // one slot gave up, the other serves
  CHECK(of({S::Starting, S::Starting}) == AppStatus::Down);
  CHECK(of({S::Backoff, S::Errored}) == AppStatus::Down);    // still trying one of them
  CHECK(of({S::Stopping, S::Backoff}) == AppStatus::Down);   // a stuck worker being replaced
  CHECK(of({S::Errored, S::Errored}) == AppStatus::Errored);
  CHECK(of({S::Errored}) == AppStatus::Errored);
}

TEST_CASE("app status: stopped wins over whatever the slots hold") {
  CHECK(of({S::Ready}, Stopped::Yes) == AppStatus::Stopped);
  CHECK(of({}, Stopped::Yes) == AppStatus::Stopped);
  CHECK(of({}) == AppStatus::Online);
}

TEST_CASE("app status: names round-trip, and only online or stopped is healthy") {
  for (AppStatus a : {AppStatus::Online, AppStatus::Degraded, AppStatus::Down, AppStatus::Errored, AppStatus::Stopped})
    CHECK(parse_app_status(to_string(a)) == a);
  CHECK_FALSE(parse_app_status("reloading"));
  CHECK(healthy(AppStatus::Online));
  CHECK(healthy(AppStatus::Stopped));
  CHECK_FALSE(healthy(AppStatus::Degraded));
  CHECK_FALSE(healthy(AppStatus::Down));
  CHECK_FALSE(healthy(AppStatus::Errored));
}
