// The app's own health checks: the payload that carries them to rackd, and
// the worker's rounds (sync, async, late, throwing and silent checks).
#include <doctest/doctest.h>

#include <uv.h>

#include <memory>
#include <optional>
#include <stdexcept>

#include "health.h"
#include "rack/channel.h"
#include "rack/timer.h"

using rack::channel::CheckResult;
using rack::worker::HealthChecks;

TEST_CASE("health payload: round trip, errors are flattened and capped, malformed payloads refused") {
  std::vector<CheckResult> in = {{"storage", ""}, {"db.primary", "connect: refused\n\tretrying"},
                                 {"big", std::string(5000, 'x')}};
  auto out = rack::channel::decode_health(rack::channel::encode_health(in));
  REQUIRE(out);
  REQUIRE(out->size() == 3);
  CHECK((*out)[0] == CheckResult{"storage", ""});
  CHECK((*out)[1] == CheckResult{"db.primary", "connect: refused  retrying"});
  CHECK((*out)[2].error.size() == rack::channel::kMaxCheckError);
  CHECK(rack::channel::decode_health("")->empty());

  for (const char* bad : {"storage", "storage\n", "sto rage\tx\n", "\tx\n", "a\tb\nc", "a\tok\nb\n"})
    CHECK_MESSAGE(!rack::channel::decode_health(bad), bad);
  CHECK(!rack::channel::decode_health(std::string(65, 'n') + "\t\n"));
  CHECK(!rack::channel::decode_health("a\t" + std::string(rack::channel::kMaxCheckError + 1, 'e') + "\n"));

  CHECK(rack::channel::valid_check_name("a-b_c.9"));
  CHECK_FALSE(rack::channel::valid_check_name(""));
  CHECK_FALSE(rack::channel::valid_check_name("a:b"));
  CHECK_FALSE(rack::channel::valid_check_name("é"));
}

namespace {

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
};

}  // namespace

TEST_CASE("health checks: a round reports every check once all have answered, at once or later") {
  Loop l;
  HealthChecks checks(&l.loop, 2000);
  CHECK(checks.empty());
  checks.add("sync", [](HealthChecks::Done done) { done(""); });
  checks.add("later", [&](HealthChecks::Done done) { rack::after(&l.loop, 20, [done] { done("disk gone"); }); });
  CHECK_THROWS_AS(checks.add("sync", [](HealthChecks::Done d) { d(""); }), std::invalid_argument);
  CHECK_THROWS_AS(checks.add("bad name", [](HealthChecks::Done d) { d(""); }), std::invalid_argument);
  CHECK_THROWS_AS(checks.add("empty", HealthChecks::Check{}), std::invalid_argument);

  std::optional<std::vector<CheckResult>> got;
  int reports = 0;
  checks.run([&](std::vector<CheckResult> r) {
    ++reports;
    got = std::move(r);
  });
  CHECK(checks.running());
  checks.run([&](std::vector<CheckResult>) { FAIL("a second round while one runs"); });
  CHECK(!got);  // "later" has not answered yet
  uv_run(&l.loop, UV_RUN_DEFAULT);  // the 20 ms check, then the 2 s guard expires harmlessly
  CHECK(reports == 1);
  REQUIRE(got);
  CHECK(*got == std::vector<CheckResult>{{"sync", ""}, {"later", "disk gone"}});
  CHECK(!checks.running());
}

TEST_CASE("health checks: silent checks fail at the deadline, throwing ones fail, late or repeated answers are ignored") {
  Loop l;
  HealthChecks checks(&l.loop, 50);
  HealthChecks::Done kept;
  checks.add("silent", [&](HealthChecks::Done done) { kept = done; });
  checks.add("throws", [](HealthChecks::Done) { throw std::runtime_error("boom"); });
  checks.add("twice", [](HealthChecks::Done done) {
    done("");
    done("changed its mind");
  });
  std::vector<std::vector<CheckResult>> rounds;
  checks.run([&](std::vector<CheckResult> r) { rounds.push_back(std::move(r)); });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  REQUIRE(rounds.size() == 1);
  CHECK(rounds[0] == std::vector<CheckResult>{{"silent", "did not answer within 50 ms"},
                                              {"throws", "threw: boom"},
                                              {"twice", ""}});
  HealthChecks::Done first = kept;
  first("too late");  // the round is over: nothing happens
  CHECK(rounds.size() == 1);

  // The next round is independent of the last one's stragglers.
  checks.run([&](std::vector<CheckResult> r) { rounds.push_back(std::move(r)); });
  first("");  // an answer of the old round
  uv_run(&l.loop, UV_RUN_DEFAULT);
  REQUIRE(rounds.size() == 2);
  CHECK(rounds[1][0].error == "did not answer within 50 ms");
  kept("");  // this round's own answer, once it is over: ignored too
  CHECK(rounds.size() == 2);
}

TEST_CASE("health checks: with none registered a round reports an empty list at once") {
  Loop l;
  HealthChecks checks(&l.loop);
  bool reported = false;
  checks.run([&](std::vector<CheckResult> r) {
    reported = true;
    CHECK(r.empty());
  });
  CHECK(reported);
  CHECK(!checks.running());
}

TEST_CASE("health checks: at most kMaxChecks, so a Health message always fits the channel, adding one mid-round is safe") {
  Loop l;
  HealthChecks checks(&l.loop, 50);
  for (std::size_t i = 0; i + 1 < rack::channel::kMaxChecks; ++i)
    checks.add("c" + std::to_string(i), [](HealthChecks::Done done) { done(std::string(5000, 'e')); });
  // The last one registers another check while the round runs: that one
  // joins from the next round on.
  checks.add("adder", [&](HealthChecks::Done done) {
    CHECK_THROWS_AS(checks.add("late", [](HealthChecks::Done d) { d(""); }), std::invalid_argument);  // full
    done("");
  });
  CHECK_THROWS_AS(checks.add("one-too-many", [](HealthChecks::Done d) { d(""); }), std::invalid_argument);
  std::optional<std::vector<CheckResult>> got;
  checks.run([&](std::vector<CheckResult> r) { got = std::move(r); });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  REQUIRE(got);
  CHECK(got->size() == rack::channel::kMaxChecks);
  std::string payload = rack::channel::encode_health(*got);
  CHECK(payload.size() <= rack::channel::kMaxMessage);
  CHECK(rack::channel::decode_health(payload)->size() == rack::channel::kMaxChecks);
}

TEST_CASE("health checks: a check that registers another during a round does not disturb it") {
  Loop l;
  HealthChecks checks(&l.loop, 50);
  checks.add("first", [&](HealthChecks::Done done) {
    if (!checks.running()) return done("");
    static bool added = false;
    if (!added) {
      added = true;
      for (int i = 0; i < 8; ++i)  // enough to move the vector's storage
        checks.add("extra" + std::to_string(i), [](HealthChecks::Done d) { d(""); });
    }
    done("");
  });
  checks.add("second", [](HealthChecks::Done done) { done("second ran"); });
  std::vector<std::vector<CheckResult>> rounds;
  checks.run([&](std::vector<CheckResult> r) { rounds.push_back(std::move(r)); });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  REQUIRE(rounds.size() == 1);
  CHECK(rounds[0] == std::vector<CheckResult>{{"first", ""}, {"second", "second ran"}});
  checks.run([&](std::vector<CheckResult> r) { rounds.push_back(std::move(r)); });
  uv_run(&l.loop, UV_RUN_DEFAULT);
  REQUIRE(rounds.size() == 2);
  CHECK(rounds[1].size() == 10);  // the added ones join the next round
}

TEST_CASE("timers: close_handles frees a pending after() without running it, and the loop closes") {
  // A worker that exits while a health round's 5 s guard is pending: its
  // App closes every handle, and the timer's memory must go with it.
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto alive = std::make_shared<int>(0);
  std::weak_ptr<int> watch = alive;
  bool ran = false;
  rack::after(&loop, 60000, [alive, &ran] { ran = true; });
  alive.reset();
  CHECK(!watch.expired());  // held by the pending timer
  uv_timer_t other;  // a handle of the app's own, closed too
  uv_timer_init(&loop, &other);
  uv_timer_start(&other, [](uv_timer_t*) {}, 60000, 0);
  rack::close_handles(&loop);
  CHECK(watch.expired());
  CHECK(!ran);
  CHECK(uv_loop_close(&loop) == 0);
}
