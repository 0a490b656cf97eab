// The keys that shape an app's traffic over time: `instances` (a count, or
// {min, max} for autoscaling), `scale:` (what autoscaling aims at) and
// `reload: {canary: ...}` (a reload that rolls back a bad release).
#include "config_loader.h"

namespace rack::config {

const char* to_string(ScaleMetric m) {
  switch (m) {
    case ScaleMetric::Busy: return "busy";
    case ScaleMetric::Queue: return "queue";
    case ScaleMetric::LatencyP95: return "latency_p95";
  }
  return "unknown";
}

}  // namespace rack::config

namespace rack::config::detail {

namespace {

constexpr std::string_view kCount = "an integer >= 1 or \"max\"";

unsigned count(Loader& l, const Field& f) {
  if (f.value.IsScalar() && f.value.Scalar() == "max") return usable_cpus();
  return static_cast<unsigned>(l.integer(f, 1, kCount, kMaxInstances));
}

// A finite number in [lo, hi] (hi inclusive unless `open_hi`).
double number(Loader& l, const Field& f, double lo, double hi, std::string_view what) {
  std::string s = l.text(f, what);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < lo || v > hi) l.expected(f, what);
  return v;
}

struct Range {
  unsigned min = 1, max = 1;
};

const std::vector<Key<Range>> kRangeKeys = {
    {"min", [](Loader& l, Range& r, const Field& f) { r.min = count(l, f); }},
    {"max", [](Loader& l, Range& r, const Field& f) { r.max = count(l, f); }},
};

const std::vector<Key<AutoscaleConfig>> kScaleKeys = {
    {"busy",
     [](Loader& l, AutoscaleConfig& s, const Field& f) {
       s.metric = ScaleMetric::Busy;
       s.target = number(l, f, 0.05, 1.0, "a fraction of time between 0.05 and 1, like 0.7");
     }},
    {"queue",
     [](Loader& l, AutoscaleConfig& s, const Field& f) {
       s.metric = ScaleMetric::Queue;
       s.target = static_cast<double>(l.integer(f, 1, "a number of waiting connections >= 1, like 10", 1u << 20));
     }},
    {"latency_p95",
     [](Loader& l, AutoscaleConfig& s, const Field& f) {
       s.metric = ScaleMetric::LatencyP95;
       s.target = std::chrono::duration<double>(l.duration(f, Loader::Zero::Refused)).count();
     }},
    {"up_after",
     [](Loader& l, AutoscaleConfig& s, const Field& f) { s.up_after = l.duration(f, Loader::Zero::Refused); }},
    {"cooldown",
     [](Loader& l, AutoscaleConfig& s, const Field& f) { s.cooldown = l.duration(f, Loader::Zero::Refused); }},
};

const std::vector<Key<CanaryConfig>> kCanaryKeys = {
    {"slots",
     [](Loader& l, CanaryConfig& c, const Field& f) {
       c.slots = static_cast<unsigned>(l.integer(f, 1, "an integer >= 1", kMaxInstances));
     }},
    {"watch",
     [](Loader& l, CanaryConfig& c, const Field& f) { c.watch = l.duration(f, Loader::Zero::Refused); }},
    {"max_error_ratio",
     [](Loader& l, CanaryConfig& c, const Field& f) {
       c.max_error_ratio = number(l, f, 0, 1, "a ratio between 0 and 1, like 0.05");
     }},
    {"max_latency_factor",
     [](Loader& l, CanaryConfig& c, const Field& f) {
       c.max_latency_factor = number(l, f, 1, 1e6, "a factor of at least 1, like 2");
     }},
};

const std::vector<Key<ReloadConfig>> kReloadKeys = {
    {"canary",
     [](Loader& l, ReloadConfig& r, const Field& f) {
       CanaryConfig c;
       l.read_map(f, c, kCanaryKeys);
       r.canary = c;
     }},
};

}  // namespace

void set_instances(Loader& l, AppConfig& a, const Field& f) {
  if (!f.value.IsMap()) {
    a.instances = count(l, f);
    return;
  }
  if (!f.value["min"] && !f.value["max"])
    l.fail(f, "expected an integer >= 1 or \"max\", got " + describe(f.value) +
                  " (a map is instances: {min: N, max: M}, for autoscaling)");
  Range r;
  Seen seen = l.read_map(f, r, kRangeKeys);
  if (!seen.has("min") || !seen.has("max")) l.expected(f, "instances: {min: N, max: M}, both given");
  if (!seen.ok("min") || !seen.ok("max")) return;
  if (r.max < r.min)
    l.fail(seen["max"], "max (" + std::to_string(r.max) + ") must not be below min (" + std::to_string(r.min) + ")");
  AutoscaleConfig s = a.autoscale.value_or(AutoscaleConfig{});
  s.min = r.min;
  s.max = r.max;
  a.autoscale = s;
  a.instances = r.min;
}

void set_scale(Loader& l, AppConfig& a, const Field& f) {
  AutoscaleConfig s = a.autoscale.value_or(AutoscaleConfig{});
  Seen seen = l.read_map(f, s, kScaleKeys);
  int targets = seen.has("busy") + seen.has("queue") + seen.has("latency_p95");
  if (targets > 1) l.fail(f, "scale takes one target: busy, queue or latency_p95, not " + std::to_string(targets));
  // Keep min/max if instances came first; else set_instances keeps these.
  if (a.autoscale) {
    s.min = a.autoscale->min;
    s.max = a.autoscale->max;
  }
  a.autoscale = s;
}

void set_reload(Loader& l, AppConfig& a, const Field& f) { l.read_map(f, a.reload, kReloadKeys); }

void check_traffic(Loader& l, AppConfig& a, const Seen& seen) {
  if (seen.has("scale") && seen.ok("scale") && seen.ok("instances") &&
      (!seen.has("instances") || !seen["instances"].value.IsMap())) {
    l.record(ConfigError(l.at(seen["scale"]),
                         "scale needs instances: {min: N, max: M} (a fixed instance count does not scale)"));
  }
  if (a.autoscale && a.protocol != Protocol::Rack && a.protocol != Protocol::Node &&
      a.autoscale->metric != ScaleMetric::Busy && seen.ok("protocol")) {
    l.record(ConfigError(l.at(seen.has("scale") ? seen["scale"] : seen["instances"]),
                         std::string("scale: ") + to_string(a.autoscale->metric) +
                             " needs connections handed out by rackd (protocol rack or node); protocol " +
                             to_string(a.protocol) + " can scale on busy only"));
  }
  if (a.reload.canary && seen.ok("instances") && seen.ok("reload")) {
    unsigned fewest = a.autoscale ? a.autoscale->min : a.instances;
    if (a.reload.canary->slots >= fewest)
      l.record(ConfigError(l.at(seen["reload"]),
                           "reload.canary.slots (" + std::to_string(a.reload.canary->slots) +
                               ") must be below the instances (" + std::to_string(fewest) +
                               "): a canary needs old workers to compare with and to roll back to"));
  }
}

}  // namespace rack::config::detail
