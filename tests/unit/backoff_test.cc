#include <doctest/doctest.h>

#include <variant>

#include "lifecycle/backoff.h"

using namespace rack::master;
using namespace std::chrono_literals;

TEST_CASE("backoff grows by 1.5x over quick exits up to the max, and a healthy run restarts at once") {
  rack::config::RestartPolicy p;  // 100ms x1.5 up to 15s, min_uptime 1s, 16 restarts
  p.max_restarts = 100;
  RestartBackoff b(p);
  std::vector<long> delays;
  for (int i = 0; i < 5; ++i) {
    auto d = b.on_exit(10ms);
    REQUIRE(std::holds_alternative<RestartAfter>(d));
    delays.push_back(std::get<RestartAfter>(d).delay.count());
  }
  CHECK(delays == std::vector<long>{100, 150, 225, 337, 505});
  for (int i = 0; i < 30; ++i) b.on_exit(10ms);
  CHECK(std::get<RestartAfter>(b.on_exit(10ms)).delay == 15s);
  // Lived past min_uptime: at once, and the next quick exit starts over.
  for (int i = 0; i < 5; ++i) CHECK(std::get<RestartAfter>(b.on_exit(2s)).delay == 0ms);
  CHECK(std::get<RestartAfter>(b.on_exit(10ms)).delay == 100ms);
}

TEST_CASE("backoff: a failed start is a quick exit however long it waited") {
  rack::config::RestartPolicy p;
  p.max_restarts = 2;
  RestartBackoff b(p);
  // ready_timeout 5s > min_uptime 1s: before, this restarted forever.
  CHECK(std::holds_alternative<RestartAfter>(b.on_exit(5s, FailedStart::Yes)));
  CHECK(std::holds_alternative<RestartAfter>(b.on_exit(5s, FailedStart::Yes)));
  CHECK(std::holds_alternative<GiveUp>(b.on_exit(5s, FailedStart::Yes)));
}

TEST_CASE("backoff gives up after more than max_restarts quick exits") {
  rack::config::RestartPolicy p;
  p.max_restarts = 3;
  RestartBackoff b(p);
  for (int i = 0; i < 3; ++i) CHECK(std::holds_alternative<RestartAfter>(b.on_exit(10ms)));
  auto d = b.on_exit(10ms);
  REQUIRE(std::holds_alternative<GiveUp>(d));
  CHECK(std::get<GiveUp>(d).quick_exits == 4);
}

TEST_CASE("backoff: an exit after min_uptime breaks the quick-exit streak") {
  rack::config::RestartPolicy p;
  p.max_restarts = 2;
  RestartBackoff b(p);
  b.on_exit(10ms);
  b.on_exit(10ms);
  b.on_exit(5s);
  CHECK(std::holds_alternative<RestartAfter>(b.on_exit(10ms)));
  CHECK(std::holds_alternative<RestartAfter>(b.on_exit(10ms)));
  CHECK(std::holds_alternative<GiveUp>(b.on_exit(10ms)));
}
