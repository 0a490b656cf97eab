#include <doctest/doctest.h>

#include <vector>

#include "app/reconcile.h"

using namespace rack::master;
using A = SlotAction;

namespace {

SlotView running(int i, uint64_t gen) { return {i, true, gen, true, false}; }
SlotView idle(int i, uint64_t gen) { return {i, true, gen, false, false}; }  // backoff or errored
SlotView replacing(int i, uint64_t gen) { return {i, true, gen, true, true}; }

std::vector<Action> run(const Desired& d, const std::vector<SlotView>& slots) { return reconcile(d, slots); }

}  // namespace

TEST_CASE("reconcile: a fresh app spawns every slot in order") {
  CHECK(run({.instances = 3}, {}) == std::vector<Action>{{A::Spawn, 0}, {A::Spawn, 1}, {A::Spawn, 2}});
  CHECK(run({.instances = 2}, {running(0, 1), running(1, 1)}).empty());
}

TEST_CASE("reconcile: a crashed worker in backoff is left to its restart timer") {
  CHECK(run({.instances = 2}, {running(0, 1), idle(1, 1)}).empty());
}

TEST_CASE("reconcile: an errored slot stays errored until a reload replaces it in place") {
  CHECK(run({.instances = 2}, {idle(0, 1), idle(1, 1)}).empty());
  Desired reload{.instances = 2, .parallel = 1, .generation = 2, .reloading = true};
  // Nothing to hand over, so the parallel bound does not apply.
  CHECK(run(reload, {idle(0, 1), idle(1, 1)}) ==
        std::vector<Action>{{A::ReplaceInPlace, 0}, {A::ReplaceInPlace, 1}});
}

TEST_CASE("reconcile: reload with parallel 1 replaces one slot at a time, in order") {
  Desired d{.instances = 3, .parallel = 1, .generation = 2, .reloading = true};
  CHECK(run(d, {running(0, 1), running(1, 1), running(2, 1)}) == std::vector<Action>{{A::SpawnReplacement, 0}});
  CHECK(run(d, {replacing(0, 1), running(1, 1), running(2, 1)}).empty());
  CHECK(run(d, {running(0, 2), running(1, 1), running(2, 1)}) == std::vector<Action>{{A::SpawnReplacement, 1}});
  CHECK(run(d, {running(0, 2), running(1, 2), running(2, 1)}) == std::vector<Action>{{A::SpawnReplacement, 2}});
  CHECK(run(d, {running(0, 2), running(1, 2), running(2, 2)}).empty());
}

TEST_CASE("reconcile: reload with parallel 2 keeps two replacements going") {
  Desired d{.instances = 3, .parallel = 2, .generation = 2, .reloading = true};
  CHECK(run(d, {running(0, 1), running(1, 1), running(2, 1)}) ==
        std::vector<Action>{{A::SpawnReplacement, 0}, {A::SpawnReplacement, 1}});
  CHECK(run(d, {replacing(0, 1), replacing(1, 1), running(2, 1)}).empty());
  CHECK(run(d, {running(0, 2), replacing(1, 1), running(2, 1)}) == std::vector<Action>{{A::SpawnReplacement, 2}});
}

TEST_CASE("reconcile: without a reload, older workers keep running") {
  Desired d{.instances = 2, .parallel = 1, .generation = 2, .reloading = false};
  CHECK(run(d, {running(0, 1), running(1, 1)}).empty());
}

TEST_CASE("reconcile: scale up spawns the new slots, scale down retires the highest first") {
  CHECK(run({.instances = 4}, {running(0, 1), running(1, 1)}) ==
        std::vector<Action>{{A::Spawn, 2}, {A::Spawn, 3}});
  CHECK(run({.instances = 2}, {running(3, 1), running(0, 1), running(2, 1), running(1, 1)}) ==
        std::vector<Action>{{A::Retire, 2}, {A::Retire, 3}});
  // A retired slot's replacement does not hold up the others' reload.
  Desired d{.instances = 1, .parallel = 1, .generation = 2, .reloading = true};
  CHECK(run(d, {running(0, 1), replacing(1, 1)}) ==
        std::vector<Action>{{A::Retire, 1}, {A::SpawnReplacement, 0}});
}

TEST_CASE("reconcile: a stopped app gets nothing, not even empty slots filled") {
  CHECK(run({.stopped = true, .instances = 2}, {}).empty());
  CHECK(run({.stopped = true, .instances = 1}, {running(0, 1), running(1, 1)}).empty());
}

TEST_CASE("reconcile: after a failed replacement the old generation is wanted again and nothing moves") {
  // finish_reload(false) set the generation back to what the old workers
  // run and ended the reload.
  Desired d{.instances = 2, .parallel = 1, .generation = 1, .reloading = false};
  CHECK(run(d, {running(0, 1), running(1, 1)}).empty());
  // The slot whose replacement failed has its old worker as current.
  CHECK(run(d, {running(0, 1), {1, false, 0, false, false}}) == std::vector<Action>{{A::Spawn, 1}});
}

TEST_CASE("crash restart: a serving worker that dies alone restarts now, however long its backoff") {
  using namespace std::chrono_literals;
  auto r = restart_after_crash({.backoff_delay = 800ms, .was_serving = true, .cause = ExitCause::Crash});
  CHECK(r.delay == 0ms);
  CHECK(r.hurried);
  CHECK_FALSE(r.start_failing);
  // Another worker still serves: the backoff is kept.
  r = restart_after_crash({.backoff_delay = 800ms, .was_serving = true, .other_attempt = true});
  CHECK(r.delay == 800ms);
  CHECK_FALSE(r.hurried);
  // The operator's restart.delay is always kept.
  r = restart_after_crash({.backoff_delay = 800ms, .was_serving = true, .fixed_delay = true});
  CHECK(r.delay == 800ms);
}

TEST_CASE("crash restart: a worker that fails its start marks the app failing and keeps its backoff") {
  using namespace std::chrono_literals;
  auto r = restart_after_crash({.backoff_delay = 400ms, .was_serving = false, .cause = ExitCause::NeverReady});
  CHECK(r.start_failing);
  CHECK(r.delay == 400ms);
  CHECK_FALSE(r.hurried);
  // Still failing: a later crash of a serving worker is hurried anyway.
  r = restart_after_crash({.backoff_delay = 400ms, .was_serving = true, .start_failing = true});
  CHECK(r.delay == 0ms);
  CHECK(r.start_failing);
}

TEST_CASE("crash restart: a start killed from outside says nothing about the app") {
  using namespace std::chrono_literals;
  auto r = restart_after_crash({.backoff_delay = 400ms, .was_serving = false, .cause = ExitCause::OutsideSignal});
  CHECK_FALSE(r.start_failing);
  CHECK(r.delay == 0ms);  // nothing else ready or starting
  CHECK(r.hurried);
  // No backoff to drop: not hurried.
  r = restart_after_crash({.backoff_delay = 0ms, .was_serving = true});
  CHECK_FALSE(r.hurried);
}
