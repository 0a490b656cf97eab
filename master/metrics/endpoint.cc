#include "metrics/endpoint.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "app/app.h"
#include "metrics/rack_families.h"
#include "supervisor.h"
#include "uv_handle.h"

namespace rack::master {

using SteadyClock = std::chrono::steady_clock;

namespace {

// A request nobody answered for this long is sent again (the answer may
// have been lost with a channel that was closing).
constexpr auto kAskAgainAfter = std::chrono::seconds(5);

ProcessKey key_of(const Worker& w) {
  return {static_cast<uint64_t>(w.id()),
          std::chrono::duration_cast<std::chrono::nanoseconds>(w.started_at().time_since_epoch()).count()};
}


// Workers rackd can ask for metrics: rack workers, and node workers
// (prom-client's cluster request; answered empty by Rack's preload when the
// app does not use prom-client).
bool reports_metrics(const Worker& w) {
  return w.cfg().protocol == config::Protocol::Rack || w.cfg().protocol == config::Protocol::Node;
}

http::Response text_response(std::string body, std::chrono::steady_clock::duration age = {}) {
  http::Response res = http::Response::text(200, std::move(body));
  res.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  res.set("X-Rack-Metrics-Age-Ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(age).count()));
  return res;
}

}  // namespace

MetricsEndpoint::MetricsEndpoint(Supervisor& sup, std::chrono::milliseconds deadline)
    : sup_(sup), deadline_(deadline) {
  background_ = new_handle<uv_timer_t>(this);
  uv_timer_init(sup_.loop(), background_);
  uv_unref(reinterpret_cast<uv_handle_t*>(background_));
  auto every = static_cast<uint64_t>(std::chrono::milliseconds(kBackgroundEvery).count());
  uv_timer_start(background_, [](uv_timer_t* t) {
    auto* self = static_cast<MetricsEndpoint*>(t->data);
    if (!self || self->collecting_ || SteadyClock::now() - self->started_ < kBackgroundEvery) return;
    self->collect([] {});
  }, every, every);
}

MetricsEndpoint::~MetricsEndpoint() {
  close_handle(timer_);
  close_handle(background_);
  close_handle(ahead_timer_);
}

void MetricsEndpoint::attach(ManagedApp& app) {
  ManagedApp* a = &app;  // the ManagedApp owns these callbacks, so it outlives every call
  app.on_worker_metrics = [this, a](Worker& w, std::string text, std::string error, bool final) {
    on_worker_metrics(*a, w, std::move(text), std::move(error), final);
  };
  app.on_worker_merged_metrics_request = [this, a](Worker& w, uint64_t seq) { on_merged_request(*a, w, seq); };
}

void MetricsEndpoint::serve(http::Responder res) {
  auto now = SteadyClock::now();
  cadence_.scraped(now);
  if (ahead_ && ScrapeCadence::fresh(ahead_->collected, now)) {
    res.send(text_response(std::move(ahead_->text), now - ahead_->collected));
    ahead_.reset();
    return plan_ahead();
  }
  ahead_.reset();
  collect([this, res]() mutable {
    res.send(text_response(render(nullptr)));
    plan_ahead();
  });
}

void MetricsEndpoint::plan_ahead() {
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(last_collect_s_));
  auto at = cadence_.prefetch_at(took);
  if (!at) {
    if (ahead_timer_) uv_timer_stop(ahead_timer_);
    return;
  }
  if (!ahead_timer_) {
    ahead_timer_ = new_handle<uv_timer_t>(this);
    uv_timer_init(sup_.loop(), ahead_timer_);
    uv_unref(reinterpret_cast<uv_handle_t*>(ahead_timer_));
  }
  auto wait = std::max<SteadyClock::duration>(*at - SteadyClock::now(), SteadyClock::duration::zero());
  uv_timer_start(ahead_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<MetricsEndpoint*>(t->data);
    if (!self) return;
    self->collect([self] { self->ahead_ = Ahead{SteadyClock::now(), self->render(nullptr)}; });
  }, static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()), 0);
}

// ---- collection ---------------------------------------------------------------

void MetricsEndpoint::collect(std::function<void()> done) {
  pending_.push_back(std::move(done));
  if (collecting_) return;  // join the round in flight
  collecting_ = true;
  started_ = SteadyClock::now();
  ++seq_;  // never 0: seq 0 marks a worker's unasked final snapshot
  waiting_.clear();
  forget_deleted();
  for (ManagedApp* a : sup_.apps()) {
    sync(*a);
    for (Worker* w : a->workers()) {
      if (!reports_metrics(*w) || !has_live_process(*w)) continue;
      Id id{a->name(), key_of(*w)};
      auto asked = asked_.find(id);
      if (asked == asked_.end() || started_ - asked->second > kAskAgainAfter) {
        w->request_metrics(seq_);
        asked_[id] = started_;
      }
      waiting_.insert(std::move(id));
    }
  }
  if (!timer_) {
    timer_ = new_handle<uv_timer_t>(this);
    uv_timer_init(sup_.loop(), timer_);
  }
  // Answer on a loop turn of its own even when nobody is asked, so that
  // scrape callbacks never run inside the caller's stack.
  auto wait = waiting_.empty() ? 0 : static_cast<uint64_t>(deadline_.count());
  uv_timer_start(timer_, [](uv_timer_t* t) {
    if (auto* self = static_cast<MetricsEndpoint*>(t->data)) self->finish();
  }, wait, 0);
}

void MetricsEndpoint::finish() {
  if (!collecting_) return;
  collecting_ = false;
  uv_timer_stop(timer_);
  last_collect_s_ = std::chrono::duration<double>(SteadyClock::now() - started_).count();
  stale_.clear();
  for (auto& [app, key] : waiting_) ++stale_[app];
  waiting_.clear();
  auto callbacks = std::move(pending_);
  pending_.clear();
  for (auto& cb : callbacks) cb();
}

void MetricsEndpoint::on_worker_metrics(ManagedApp& app, Worker& w, std::string text, std::string error, bool final) {
  Id id{app.name(), key_of(w)};
  asked_.erase(id);
  // `error`: the worker had none to give; else report() says why it does not parse.
  bool usable = error.empty() && merge_.report(app.name(), id.second, {w.slot().index, w.generation()}, text, error);
  if (!usable) {
    // Counted every time; said once per process (it would say it at every
    // collection otherwise).
    ++parse_errors_[app.name()];
    if (warned_.insert(id).second)
      spdlog::warn("{} slot {}: pid {} sent no usable metrics ({}); keeping its previous snapshot; "
                   "rack_metrics_parse_errors_total counts further ones",
                   app.name(), w.slot().index, w.pid(), error);
  }
  if (final)
    spdlog::debug("{} slot {}: pid {} sent its final metrics snapshot", app.name(), w.slot().index, w.pid());
  if (collecting_ && waiting_.erase(id) && waiting_.empty()) {
    // Everyone answered: finish on the next loop turn, outside the
    // worker's channel callback.
    uv_timer_start(timer_, [](uv_timer_t* t) {
      if (auto* self = static_cast<MetricsEndpoint*>(t->data)) self->finish();
    }, 0, 0);
  }
}

void MetricsEndpoint::on_merged_request(ManagedApp& app, Worker& w, uint64_t seq) {
  // The worker may be gone by the time the collection ends: find it again.
  std::string name = app.name();
  WorkerId wid = w.id();
  ProcessKey key = key_of(w);
  collect([this, name, wid, key, seq] {
    ManagedApp* a = sup_.find(name);
    if (!a) return;
    for (Worker* x : a->workers()) {
      if (x->id() == wid && key_of(*x) == key && has_live_process(*x)) {
        x->send_merged_metrics(seq, render(&name));
        return;
      }
    }
  });
}

// ---- rendering ----------------------------------------------------------------

void MetricsEndpoint::sync(ManagedApp& app) {
  std::set<ProcessKey> live;
  for (Worker* w : app.workers())
    if (has_live_process(*w)) live.insert(key_of(*w));
  merge_.retire_except(app.name(), live);
  std::erase_if(asked_, [&](const auto& e) { return e.first.first == app.name() && !live.count(e.first.second); });
  std::erase_if(warned_, [&](const Id& id) { return id.first == app.name() && !live.count(id.second); });
}

void MetricsEndpoint::forget_deleted() {
  std::set<std::string> known;
  for (ManagedApp* a : sup_.apps()) known.insert(a->name());
  for (auto& name : merge_.apps())
    if (!known.count(name)) merge_.forget(name);
  std::erase_if(asked_, [&](const auto& e) { return !known.count(e.first.first); });
  std::erase_if(warned_, [&](const Id& id) { return !known.count(id.first); });
  std::erase_if(stale_, [&](const auto& e) { return !known.count(e.first); });
  std::erase_if(parse_errors_, [&](const auto& e) { return !known.count(e.first); });
}

std::string MetricsEndpoint::render(const std::string* only) {
  std::vector<ManagedApp*> apps;
  for (ManagedApp* a : sup_.apps())
    if (!only || a->name() == *only) apps.push_back(a);

  Exposition ex;
  render_rack_families(apps, only == nullptr, ex);
  auto* stale = ex.family("rack_metrics_stale_workers", MetricType::Gauge,
                          "Workers that did not answer the last metrics collection in time; their last snapshot was used.",
                          true);
  auto* errors = ex.family("rack_metrics_parse_errors_total", MetricType::Counter,
                           "Worker metrics snapshots rackd could not parse (the previous one was kept).", true);
  for (ManagedApp* a : apps) {
    auto s = stale_.find(a->name());
    stale->sample(label_pair("app", a->name()), s == stale_.end() ? 0 : static_cast<double>(s->second));
    auto e = parse_errors_.find(a->name());
    errors->sample(label_pair("app", a->name()), e == parse_errors_.end() ? 0 : static_cast<double>(e->second));
  }
  if (!only)
    ex.family("rack_metrics_collect_seconds", MetricType::Gauge,
              "How long the last collection of worker metrics took (bounded by its deadline).", true)
        ->sample("", last_collect_s_);

  for (ManagedApp* a : apps) {
    sync(*a);
    std::size_t skipped = 0;
    merge_.render(a->name(), a->cfg().gauges, ex, &skipped);
    if (skipped && skipped_logged_.insert(a->name()).second)
      spdlog::warn("{}: {} metric families of its workers clash with rackd's own or another app's (same name, "
                   "other type) and are left out of /metrics",
                   a->name(), skipped);
  }
  return ex.str();
}

}  // namespace rack::master
