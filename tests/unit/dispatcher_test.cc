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

namespace {
const Clock::time_point t0 = Clock::now();
}

TEST_CASE("load count: a report that crossed a hand-over keeps counting that connection") {
  LoadCount busy, idle;
  busy.handed(t0);
  busy.reported(1, 1);  // holds one long request
  // rackd hands the idle worker a connection while the worker's report
  // "0 open, 0 received" is on its way: that connection is still counted.
  idle.handed(t0);
  idle.reported(0, 0);
  CHECK(idle.value() == 1);
  // The next report covers it; the connection has finished by then.
  idle.reported(0, 1);
  CHECK(idle.value() == 0);
  CHECK(busy.value() == 1);
  // A report without a received count covers everything handed so far.
  idle.handed(t0);
  idle.reported(0, std::nullopt);
  CHECK(idle.value() == 0);
  // A received count past what was handed cannot make the load negative.
  idle.reported(2, 99);
  CHECK(idle.value() == 2);
}

TEST_CASE("least-connections: a hand-over a node worker refused is not counted against it") {
  using namespace std::chrono_literals;
  LoadCount w;
  auto t = LoadCount::Clock::now();
  w.handed(t);
  w.handed(t + 1ms);
  w.refused();  // accepted:false: it went to another worker
  w.reported(1, 1);
  CHECK(w.value() == 1);
  CHECK_FALSE(w.waiting_since());  // nothing uncovered is left waiting
  // Never below what a report already covered.
  w.refused();
  CHECK(w.value() == 1);
  w.handed(t + 2ms);
  CHECK(w.value() == 2);
  CHECK(w.waiting_since() == t + 2ms);
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
    load[w].handed(t0);
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

TEST_CASE("least-connections: among equal loads, the worker whose unreported hand-over is youngest") {
  using namespace std::chrono_literals;
  Dispatcher d(rack::config::Dispatch::LeastConnections);
  // Both hold one connection. Worker 1 was handed its 8 ms ago and has not
  // reported since (its loop is in a long request); worker 2 was handed its
  // 0.1 ms ago. Round-robin would send every other connection to 1.
  std::vector<Candidate> ready = {{WorkerId{1}, 1, t0}, {WorkerId{2}, 1, t0 + 7900us}};
  for (int i = 0; i < 4; ++i) CHECK(*d.pick(ready) == WorkerId{2});
  // A worker whose hand-overs are all reported (it holds a keep-alive
  // connection it told rackd about) beats any that has one in flight.
  ready = {{WorkerId{1}, 1}, {WorkerId{2}, 1, t0 + 7900us}};
  for (int i = 0; i < 4; ++i) CHECK(*d.pick(ready) == WorkerId{1});
  // The load still comes first: age only breaks ties.
  ready = {{WorkerId{1}, 0, t0}, {WorkerId{2}, 1}};
  CHECK(*d.pick(ready) == WorkerId{1});
  // Still tied (none waiting, or the same time): round-robin as before.
  ready = {{WorkerId{1}, 1}, {WorkerId{2}, 1}, {WorkerId{3}, 1, t0}};
  auto a = *d.pick(ready), b = *d.pick(ready);
  CHECK(a != b);
  CHECK(a != WorkerId{3});
  CHECK(b != WorkerId{3});
}

TEST_CASE("load count: the oldest unreported hand-over's time, bounded memory") {
  using namespace std::chrono_literals;
  LoadCount c;
  CHECK_FALSE(c.waiting_since());
  c.handed(t0);
  c.handed(t0 + 1ms);
  CHECK(c.waiting_since() == t0);
  c.reported(1, 1);  // covers the first: the second is the oldest waiting
  CHECK(c.waiting_since() == t0 + 1ms);
  c.reported(2, 2);
  CHECK_FALSE(c.waiting_since());
  CHECK(c.value() == 2);
  // A worker that reports only now and then (round-robin: on pings) is
  // handed many: 64 are timed, the first untimed one stands for the rest.
  for (int i = 0; i < 100; ++i) c.handed(t0 + std::chrono::milliseconds(10 + i));
  CHECK(c.waiting_since() == t0 + 10ms);
  c.reported(0, 2 + 64);  // every timed one covered
  CHECK(c.waiting_since() == t0 + 74ms);
  c.reported(0, 2 + 99);
  CHECK(c.waiting_since() == t0 + 74ms);  // an upper bound on the age
  c.reported(0, 2 + 100);
  CHECK_FALSE(c.waiting_since());
  // Timing starts afresh once everything is covered.
  c.handed(t0 + 1s);
  CHECK(c.waiting_since() == t0 + 1s);
  c.reported(0, std::nullopt);
  CHECK_FALSE(c.waiting_since());
}

TEST_CASE("least-connections: short requests avoid a worker stuck in a long one at equal counts") {
  using namespace std::chrono_literals;
  // A simulation of the skew benchmark's failure: worker a spins on a
  // request it has not reported (no close yet); worker b serves short
  // requests, one of which is always in flight when the next arrives. Both
  // count 1 at every pick.
  Dispatcher d(rack::config::Dispatch::LeastConnections);
  LoadCount a, b;
  a.handed(t0);  // the long request, handed at t0
  Clock::time_point now = t0 + 1ms;
  b.handed(now);
  uint64_t b_received = 1;
  int to_a = 0;
  for (int i = 0; i < 10; ++i) {
    now += 200us;
    std::vector<Candidate> ready = {{WorkerId{1}, a.value(), a.waiting_since()},
                                    {WorkerId{2}, b.value(), b.waiting_since()}};
    REQUIRE(ready[0].load == ready[1].load);
    if (*d.pick(ready) == WorkerId{1}) {
      ++to_a;
      a.handed(now);
      continue;
    }
    b.handed(now);
    b.reported(0, b_received++);  // the previous one closed; this one is in flight
  }
  CHECK(to_a == 0);
}

TEST_CASE("least-connections: a worker busy in one handler is passed over while another is free") {
  using namespace std::chrono_literals;
  Dispatcher d(rack::config::Dispatch::LeastConnections);
  // Worker 1 holds one connection and has been in its handler for over a
  // millisecond (a CPU-heavy request); worker 2 holds three short ones.
  std::vector<Candidate> ready = {{WorkerId{1}, 1, std::nullopt, 1500ms}, {WorkerId{2}, 3, std::nullopt}};
  CHECK(ready[0].busy());
  CHECK_FALSE(ready[1].busy());
  for (int i = 0; i < 10; ++i) CHECK(*d.pick(ready) == WorkerId{2});
  // Both busy: the one in its handler the shortest time, whatever the
  // counts (a short handler held up by an overloaded host, beside a long one).
  ready[1].busy_for = 2ms;
  for (int i = 0; i < 4; ++i) CHECK(*d.pick(ready) == WorkerId{2});
  // ... unless the connection may be held in rackd: then none, to wait for
  // the first to come free. With one free, holding changes nothing.
  CHECK_FALSE(d.pick(ready, true).has_value());
  ready[0].busy_for = {};
  CHECK(*d.pick(ready, true) == WorkerId{1});
  // One busy, the other occupied (inside a short handler, or not yet
  // taking a connection handed to it): held too, for whichever frees first.
  ready[0].unacked = true;
  CHECK_FALSE(d.pick(ready, true).has_value());
  ready[0].unacked = false;
  ready[0].busy_for = 30us;
  CHECK_FALSE(d.pick(ready, true).has_value());
  ready[0].busy_for = 1500ms;
  // A lone worker leaves nothing to wait for.
  CHECK(*d.pick(std::span(ready).first(1), true) == WorkerId{1});
  // Round-robin ignores the board.
  Dispatcher rr(rack::config::Dispatch::RoundRobin);
  ready[1].busy_for = {};
  std::map<WorkerId, int> count;
  for (int i = 0; i < 10; ++i) count[*rr.pick(ready)]++;
  CHECK(count[WorkerId{1}] == 5);
}

TEST_CASE("busy board: an entry counts only for its own pid, past kBusyAfter, never from the future") {
  const int64_t ms = 1'000'000;
  CHECK(busy_at(42, 100 * ms, 42, 102 * ms));              // 2 ms in one handler
  CHECK_FALSE(busy_at(42, 100 * ms, 42, 100 * ms + ms / 2));  // 0.5 ms: a plain request
  CHECK_FALSE(busy_at(42, 0, 42, 102 * ms));               // waiting for events
  CHECK_FALSE(busy_at(41, 100 * ms, 42, 102 * ms));        // another process's entry
  CHECK_FALSE(busy_at(42, 200 * ms, 42, 102 * ms));        // a time ahead of now: not trusted
  CHECK_FALSE(busy_at(0, 100 * ms, 0, 102 * ms));          // no pid
}

TEST_CASE("least-connections holds a connection at most 500 ms, and never past half the queue timeout") {
  using namespace std::chrono_literals;
  CHECK(hold_at_most(10s) == 500ms);
  CHECK(hold_at_most(600ms) == 300ms);
  ConnQueue q(4, 2s);
  auto t0 = Clock::now();
  CHECK_FALSE(q.front_since().has_value());
  q.push_back(7, t0);
  q.push_back(8, t0 + 1ms);
  CHECK(*q.front_since() == t0);
  q.push_front(9, t0 + 5ms);  // given back by a worker: first in line, since now
  CHECK(*q.front_since() == t0 + 5ms);
}

TEST_CASE("least-connections: among equal loads, the worker inside its handler the shortest time") {
  using namespace std::chrono_literals;
  Dispatcher d(rack::config::Dispatch::LeastConnections);
  // Neither past kBusyAfter: worker 1 has run 600 µs into its request
  // (likely a long one starting), worker 2 30 µs (a plain one).
  std::vector<Candidate> ready = {{WorkerId{1}, 1, std::nullopt, 600us}, {WorkerId{2}, 1, std::nullopt, 30us}};
  for (int i = 0; i < 4; ++i) CHECK(*d.pick(ready) == WorkerId{2});
  // The count still comes first.
  ready[0].load = 0;
  CHECK(*d.pick(ready) == WorkerId{1});
}
