#include <doctest/doctest.h>

#include <variant>

#include "lifecycle/backoff.h"

using namespace rack::master;
using namespace std::chrono_literals;

TEST_CASE("backoff grows by 1.5x up to the max and resets after long uptime") {
  rack::config::RestartPolicy p;  // 100ms x1.5 up to 15s, min_uptime 1s, 16 restarts
  RestartBackoff b(p);
  std::vector<long> delays;
  for (int i = 0; i < 5; ++i) {
    auto d = b.on_exit(2s);  // lived past min_uptime: never gives up
    REQUIRE(std::holds_alternative<RestartAfter>(d));
    delays.push_back(std::get<RestartAfter>(d).delay.count());
  }
  CHECK(delays == std::vector<long>{100, 150, 225, 337, 505});
  for (int i = 0; i < 30; ++i) b.on_exit(2s);
  CHECK(std::get<RestartAfter>(b.on_exit(2s)).delay == 15s);
  CHECK(std::get<RestartAfter>(b.on_exit(31s)).delay == 100ms);
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
