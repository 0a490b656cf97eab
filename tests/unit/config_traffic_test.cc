// ecosystem.yaml: instances {min, max}, scale:, reload: {canary: ...}.
#include <doctest/doctest.h>

#include <string>

#include "rack/config.h"

using namespace rack::config;

namespace {

AppConfig app_of(const std::string& keys) {
  Ecosystem eco =
      load_string("apps:\n  - name: web\n    run: [sh]\n    listen: 127.0.0.1:0\n" + keys, "/tmp/eco.yaml");
  REQUIRE(eco.apps.size() == 1);
  return eco.apps[0];
}

std::string error_of(const std::string& keys) {
  try {
    app_of(keys);
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("expected a ConfigError for:\n" << keys);
  return "";
}

}  // namespace

TEST_CASE("config traffic: reload.canary with every key, and its defaults") {
  AppConfig a = app_of(
      "    instances: 4\n"
      "    reload: {canary: {slots: 2, watch: 10s, max_error_ratio: 0.1, max_latency_factor: 3}}\n");
  REQUIRE(a.reload.canary);
  CHECK(a.reload.canary->slots == 2);
  CHECK(a.reload.canary->watch == Duration(10000));
  CHECK(a.reload.canary->max_error_ratio == doctest::Approx(0.1));
  CHECK(a.reload.canary->max_latency_factor == doctest::Approx(3));
  AppConfig d = app_of("    instances: 2\n    reload: {canary: {}}\n");
  REQUIRE(d.reload.canary);
  CHECK(d.reload.canary->slots == 1);
  CHECK(d.reload.canary->watch == Duration(30000));
  CHECK(d.reload.canary->max_error_ratio == doctest::Approx(0.05));
  CHECK(d.reload.canary->max_latency_factor == doctest::Approx(2));
  CHECK_FALSE(app_of("    instances: 2\n").reload.canary);
}

TEST_CASE("config traffic: bad canary values name the key and what was expected") {
  CHECK(error_of("    instances: 4\n    reload: {canary: {max_error_ratio: 1.5}}\n")
            .find("apps[0].reload.canary.max_error_ratio: expected a ratio between 0 and 1") != std::string::npos);
  CHECK(error_of("    instances: 4\n    reload: {canary: {max_latency_factor: 0.5}}\n")
            .find("expected a factor of at least 1") != std::string::npos);
  CHECK(error_of("    instances: 4\n    reload: {canary: {watch: 0s}}\n").find("a duration above 0") !=
        std::string::npos);
  CHECK(error_of("    instances: 4\n    reload: {canary: {slot: 1}}\n").find("did you mean \"slots\"") !=
        std::string::npos);
  // A canary of every slot has nothing to compare with or roll back to.
  CHECK(error_of("    instances: 2\n    reload: {canary: {slots: 2}}\n")
            .find("reload.canary.slots (2) must be below the instances (2)") != std::string::npos);
}

TEST_CASE("config traffic: instances {min, max} starts at min and scales on busy 0.7 by default") {
  AppConfig a = app_of("    instances: {min: 2, max: 16}\n");
  REQUIRE(a.autoscale);
  CHECK(a.instances == 2);
  CHECK(a.autoscale->min == 2);
  CHECK(a.autoscale->max == 16);
  CHECK(a.autoscale->metric == ScaleMetric::Busy);
  CHECK(a.autoscale->target == doctest::Approx(0.7));
  CHECK_FALSE(app_of("    instances: 3\n").autoscale);
}

TEST_CASE("config traffic: scale targets busy, queue and latency_p95, with cooldowns") {
  AppConfig q = app_of("    scale: {queue: 10, up_after: 1s, cooldown: 5s}\n    instances: {min: 1, max: 4}\n");
  REQUIRE(q.autoscale);
  CHECK(q.autoscale->metric == ScaleMetric::Queue);
  CHECK(q.autoscale->target == 10);
  CHECK(q.autoscale->up_after == Duration(1000));
  CHECK(q.autoscale->cooldown == Duration(5000));
  CHECK(q.autoscale->min == 1);
  CHECK(q.autoscale->max == 4);
  AppConfig l = app_of("    instances: {min: 1, max: 4}\n    scale: {latency_p95: 100ms}\n");
  CHECK(l.autoscale->metric == ScaleMetric::LatencyP95);
  CHECK(l.autoscale->target == doctest::Approx(0.1));
  CHECK(app_of("    instances: {min: 1, max: 4}\n    scale: {busy: 0.5}\n").autoscale->target == doctest::Approx(0.5));
}

TEST_CASE("config traffic: bad instance ranges and scale targets are errors") {
  CHECK(error_of("    instances: {min: 4, max: 2}\n").find("max (2) must not be below min (4)") != std::string::npos);
  CHECK(error_of("    instances: {min: 2}\n").find("instances: {min: N, max: M}, both given") != std::string::npos);
  CHECK(error_of("    instances: {min: 0, max: 2}\n").find("apps[0].instances.min: expected an integer >= 1") !=
        std::string::npos);
  CHECK(error_of("    instances: 2\n    scale: {busy: 0.7}\n").find("scale needs instances: {min: N, max: M}") !=
        std::string::npos);
  CHECK(error_of("    instances: {min: 1, max: 2}\n    scale: {busy: 0.7, queue: 3}\n")
            .find("scale takes one target") != std::string::npos);
  CHECK(error_of("    instances: {min: 1, max: 2}\n    scale: {busy: 7}\n").find("a fraction of time between") !=
        std::string::npos);
  CHECK(error_of("    instances: {min: 1, max: 2}\n    scale: {latency_p59: 1s}\n").find("did you mean") !=
        std::string::npos);
}
