#include <doctest/doctest.h>

#include "lifecycle/loop_stall.h"

using namespace rack::master;
using namespace std::chrono_literals;

TEST_CASE("loop stall: a gap past the limit is reported once, with its bounds, ticks are not") {
  StallDetector d(1500ms);
  auto t0 = std::chrono::steady_clock::time_point{} + 100s;
  CHECK_FALSE(d.ran(t0));  // the first turn has nothing before it
  CHECK_FALSE(d.ran(t0 + 250ms));
  CHECK_FALSE(d.ran(t0 + 1750ms));  // exactly the limit: not a stall
  auto s = d.ran(t0 + 13750ms);     // stopped for 12 s
  REQUIRE(s);
  CHECK(s->began == t0 + 1750ms);
  CHECK(s->ended == t0 + 13750ms);
  CHECK(s->length() == 12s);
  // The next caller (the tick after the ready timer that saw it) sees none.
  CHECK_FALSE(d.ran(t0 + 13760ms));
  CHECK_FALSE(d.ran(t0 + 13755ms));  // a clock read earlier, delivered late
  CHECK_FALSE(d.ran(t0 + 14000ms));
}

TEST_CASE("loop stall: check() reports to the handler once per stall") {
  int seen = 0;
  std::chrono::steady_clock::duration length{};
  loop_stall::on_stall([&](const Stall& s) {
    ++seen;
    length = s.length();
  });
  auto t0 = std::chrono::steady_clock::now() + 1000s;  // after any turn another test recorded
  loop_stall::check(t0);
  loop_stall::check(t0 + 200ms);
  CHECK(seen == 0);
  loop_stall::check(t0 + 5200ms);
  loop_stall::check(t0 + 5300ms);
  CHECK(seen == 1);
  CHECK(length == 5s);
  loop_stall::on_stall({});
  loop_stall::check(t0 + 20s);
  CHECK(seen == 1);
}
