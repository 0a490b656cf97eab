#include "app/canary.h"

#include <spdlog/spdlog.h>

#include "metrics/text.h"
#include "uv_handle.h"

namespace rack::master {

using SteadyClock = std::chrono::steady_clock;

namespace {

// Sequence numbers of the watch's own requests, apart from the metrics
// endpoint's (answers are not matched by it; they only must not be 0,
// which marks a final snapshot).
constexpr uint64_t kSeqBase = uint64_t{1} << 62;

bool has_request_metrics(const config::AppConfig& cfg) {
  return cfg.protocol == config::Protocol::Rack || cfg.protocol == config::Protocol::Node;
}

}  // namespace

CanaryWatch::CanaryWatch(uv_loop_t* loop, std::string app, config::CanaryConfig cfg, uint64_t old_generation,
                         uint64_t new_generation, Hooks hooks)
    : loop_(loop), app_(std::move(app)), cfg_(cfg), old_gen_(old_generation), new_gen_(new_generation),
      hooks_(std::move(hooks)) {}

CanaryWatch::~CanaryWatch() { close_handle(timer_); }

void CanaryWatch::start() {
  began_ = last_progress_ = SteadyClock::now();
  timer_ = new_handle<uv_timer_t>(this);
  uv_timer_init(loop_, timer_);
  uv_timer_start(timer_, [](uv_timer_t* t) {
    if (auto* self = static_cast<CanaryWatch*>(t->data)) self->on_timer();
  }, static_cast<uint64_t>(kSampleEvery.count()), static_cast<uint64_t>(kSampleEvery.count()));
  sample();
  spdlog::info("{}: canary: generation {} in {} slot(s), watching for {} ms", app_, new_gen_, cfg_.slots,
               cfg_.watch.count());
}

void CanaryWatch::sample() {
  for (Worker* w : hooks_.workers()) {
    if (!has_request_metrics(w->cfg()) || !w->lifecycle().in_rotation()) continue;
    w->request_metrics(kSeqBase + ++seq_);
  }
}

void CanaryWatch::on_timer() {
  if (done_) return;
  auto now = SteadyClock::now();
  if (ending_) return finish();  // kFinalWait is over
  if (now - began_ >= cfg_.watch) {
    ending_ = true;
    sample();
    uv_timer_start(timer_, [](uv_timer_t* t) {
      if (auto* self = static_cast<CanaryWatch*>(t->data)) self->finish();
    }, static_cast<uint64_t>(kFinalWait.count()), 0);
    return;
  }
  sample();
  auto every = std::min<SteadyClock::duration>(std::chrono::seconds(5), cfg_.watch / 3);
  if (now - last_progress_ >= every && hooks_.progress) {
    last_progress_ = now;
    auto s = std::chrono::duration_cast<std::chrono::seconds>(now - began_).count();
    hooks_.progress("reload " + app_ + ": canary " + std::to_string(s) + "s/" +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(cfg_.watch).count()) +
                    "s: " + summary());
  }
}

void CanaryWatch::on_metrics(Worker& w, std::string_view text) {
  if (done_) return;
  std::string err;
  auto snap = parse_exposition(text, err, {.only = kRequestHistogram});  // the rest is not read
  if (!snap) return;
  RequestStats stats = request_stats(*snap);
  // The rack runtime always has the histogram; it is only absent from the
  // text until the first request.
  if (w.cfg().protocol == config::Protocol::Rack) stats.present = true;
  Key key{static_cast<uint64_t>(w.id()),
          std::chrono::duration_cast<std::chrono::nanoseconds>(w.started_at().time_since_epoch()).count()};
  // A draining worker's last snapshot (the old one of a canary slot) is
  // not traffic of the watch.
  if (!procs_.count(key) && !w.lifecycle().in_rotation()) return;
  auto [it, fresh] = procs_.try_emplace(key);
  Process& p = it->second;
  p.generation = w.generation();
  // The new generation's processes started for this reload: everything
  // they counted is canary traffic. An old one counts from the watch on.
  if (fresh && p.generation < new_gen_) p.first = stats;
  p.last = std::move(stats);
}

void CanaryWatch::on_crash(Worker& w) {
  if (done_) return;
  ++crashes_;
  spdlog::warn("{}: canary: slot {} pid {} of generation {} failed during the watch", app_, w.slot().index, w.pid(),
               w.generation());
  finish();
}

GenerationFigures CanaryWatch::figures(bool canary) const {
  GenerationFigures g;
  g.generation = canary ? new_gen_ : old_gen_;
  for (auto& [key, p] : procs_) {
    if ((p.generation >= new_gen_) != canary) continue;
    ++g.workers;
    if (!canary && !p.first) continue;
    g.requests += p.first ? p.last.since(*p.first) : p.last;
  }
  if (canary) {
    g.crashes = crashes_;
    g.not_ready = hooks_.not_ready ? hooks_.not_ready() : 0;
  }
  return g;
}

std::string CanaryWatch::summary() const {
  auto line = [](const char* who, const GenerationFigures& g) {
    return std::string(who) + " " + std::to_string(static_cast<uint64_t>(g.requests.requests)) + " requests, " +
           std::to_string(static_cast<uint64_t>(g.requests.errors)) + " 5xx";
  };
  return line("new", figures(true)) + "; old " + line("", figures(false)).substr(1);
}

void CanaryWatch::finish() {
  if (done_) return;
  done_ = true;
  uv_timer_stop(timer_);
  GenerationFigures canary = figures(true), old = figures(false);
  CanaryVerdict v = judge_canary({cfg_.max_error_ratio, cfg_.max_latency_factor}, old, canary);
  bool metrics = false;
  for (Worker* w : hooks_.workers()) metrics |= has_request_metrics(w->cfg());
  if (!metrics && !v.judged_by_metrics) {
    std::string protocol;
    for (Worker* w : hooks_.workers()) protocol = config::to_string(w->cfg().protocol);
    v.note = "protocol " + protocol + " has no request metrics: judged by crashes and readiness only";
  }
  auto level = v.outcome == CanaryOutcome::Pass ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(level, "{}: canary {}", app_, v.text());
  auto done = std::move(hooks_.done);
  if (done) done(std::move(v));
}

}  // namespace rack::master
