#include <doctest/doctest.h>

#include <map>

#include "dispatch/dispatcher.h"
#include "dispatch/load_count.h"

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

TEST_CASE("load count: a report that crossed a hand-over keeps counting that connection") {
  LoadCount busy, idle;
  busy.handed();
  busy.reported(1, 1);  // holds one long request
  // rackd hands the idle worker a connection while the worker's report
  // "0 open, 0 received" is on its way: that connection is still counted.
  idle.handed();
  idle.reported(0, 0);
  CHECK(idle.value() == 1);
  // The next report covers it; the connection has finished by then.
  idle.reported(0, 1);
  CHECK(idle.value() == 0);
  CHECK(busy.value() == 1);
  // A report without a received count covers everything handed so far.
  idle.handed();
  idle.reported(0, std::nullopt);
  CHECK(idle.value() == 0);
  // A received count past what was handed cannot make the load negative.
  idle.reported(2, 99);
  CHECK(idle.value() == 2);
}

TEST_CASE("least-connections: 10 of 10 short requests go to the idle worker while the other holds a slow one") {
  Dispatcher d(rack::config::Dispatch::LeastConnections);
  std::map<WorkerId, LoadCount> load;
  std::map<WorkerId, int> open, received;
  const WorkerId a{1}, b{2};
  auto candidates = [&] {
    return std::vector<Candidate>{{a, load[a].value()}, {b, load[b].value()}};
  };
  auto hand = [&] {
    WorkerId w = *d.pick(candidates());
    load[w].handed();
    ++open[w];
    ++received[w];
    return w;
  };
  WorkerId slow = hand();  // a slow request: stays open throughout
  load[slow].reported(open[slow], received[slow]);
  WorkerId other = slow == a ? b : a;
  int to_other = 0;
  for (int i = 0; i < 10; ++i) {
    WorkerId w = hand();
    if (w == other) ++to_other;
    // The request finishes and the worker reports the close, as a
    // least-connections worker does once per loop turn.
    --open[w];
    load[w].reported(open[w], received[w]);
  }
  CHECK(to_other == 10);
}
