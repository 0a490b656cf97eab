#include <doctest/doctest.h>

#include <map>

#include "dispatch/dispatcher.h"

using namespace rack::master;

TEST_CASE("round-robin gives equal shares and survives membership changes") {
  Dispatcher d(rack::config::Dispatch::RoundRobin);
  std::vector<Candidate> ready = {{WorkerId{3}}, {WorkerId{1}}, {WorkerId{2}}, {WorkerId{4}}};
  std::map<WorkerId, int> count;
  for (int i = 0; i < 400; ++i) count[*d.pick(ready)]++;
  for (auto& [id, n] : count) CHECK(n == 100);
  // Worker 2 leaves, 7 joins: the cycle continues without favouring anyone.
  ready = {{WorkerId{1}}, {WorkerId{3}}, {WorkerId{4}}, {WorkerId{7}}};
  count.clear();
  for (int i = 0; i < 400; ++i) count[*d.pick(ready)]++;
  for (auto& [id, n] : count) CHECK(n == 100);
  CHECK_FALSE(d.pick({}).has_value());
}

TEST_CASE("least-connections picks the least loaded, ties round-robin") {
  Dispatcher d(rack::config::Dispatch::LeastConnections);
  std::vector<Candidate> ready = {{WorkerId{1}, 5}, {WorkerId{2}, 1}, {WorkerId{3}, 9}};
  CHECK(*d.pick(ready) == WorkerId{2});
  ready = {{WorkerId{1}, 0}, {WorkerId{2}, 0}};
  auto a = *d.pick(ready), b = *d.pick(ready);
  CHECK(a != b);
}

TEST_CASE("connection queue is bounded and expires by deadline") {
  using namespace std::chrono_literals;
  ConnQueue q(2, 100ms);
  auto t0 = Clock::now();
  q.push_back(10, t0);
  CHECK_FALSE(q.full());
  q.push_back(11, t0 + 50ms);
  CHECK(q.full());
  CHECK(q.expire(t0 + 120ms) == std::vector<int>{10});
  q.push_front(12, t0 + 120ms);
  CHECK(*q.pop() == 12);
  CHECK(*q.pop() == 11);
  CHECK(q.empty());
}
