// What ManagedApp says about itself: status() for `rackctl list` and
// /v1/status, app_status(), and health_error() and app_checks() for
// /health. The detailed answer, describe(), is app/app_describe.cc.
#include <algorithm>
#include <cmath>

#include "app/app.h"

namespace rack::master {

using json = nlohmann::json;

AppStatus ManagedApp::app_status() const {
  std::vector<WorkerState> slots;
  slots.reserve(cfg_->instances);
  unsigned done = 0;
  for (unsigned i = 0; i < cfg_->instances; ++i) {
    auto it = slots_.find(static_cast<int>(i));
    Worker* w = it == slots_.end() ? nullptr : it->second->current;
    slots.push_back(w ? w->state() : WorkerState::Starting);
    done += w && w->not_restarted;
  }
  // Every worker ended and was meant to stay down (autorestart: false).
  if (done > 0 && done == cfg_->instances) return AppStatus::Stopped;
  return master::app_status(stopped_ ? Stopped::Yes : Stopped::No, slots);
}

std::string ManagedApp::health_error() const {
  if (stopped_) return "stopped";
  std::size_t ready = ready_workers();
  if (ready == 0) {
    for (auto& [i, s] : slots_) {
      if (s->current && s->current->state() == WorkerState::Errored) return "no ready worker: " + s->current->last_exit;
    }
    return "no ready worker";
  }
  return "";
}

std::map<std::string, std::string> ManagedApp::app_checks() const {
  struct Tally {
    std::size_t failing = 0, seen = 0;
    std::string first;
  };
  std::map<std::string, Tally> tally;
  for (auto& [id, w] : workers_) {
    if (!w->lifecycle().in_rotation()) continue;
    for (const channel::CheckResult& c : w->health_checks()) {
      Tally& t = tally[c.name];
      ++t.seen;
      if (c.error.empty()) continue;
      if (t.failing++ == 0)
        t.first = c.error + " (slot " + std::to_string(w->slot().index) + ", pid " + std::to_string(w->pid());
    }
  }
  std::map<std::string, std::string> out;
  for (auto& [name, t] : tally) {
    std::string& error = out[name];
    if (t.failing == 0) continue;
    error = std::move(t.first);
    if (t.seen > 1) error += "; failing in " + std::to_string(t.failing) + " of " + std::to_string(t.seen) + " workers";
    error += ")";
  }
  return out;
}

json ManagedApp::status() const {
  json workers = json::array();
  for (auto& [id, w] : workers_) {
    json j = {
        {"slot", w->slot().index},
        {"pid", w->pid() > 0 ? json(w->pid()) : json(nullptr)},
        {"state", std::string(to_string(w->state()))},
        {"restarts", w->restarts},
        {"generation", w->generation()},
        {"uptime_s", std::round(w->uptime_s() * 10) / 10},
        {"cpu_percent", std::round(w->cpu_percent() * 10) / 10},
        {"rss_bytes", w->proc() && w->lifecycle().has_process() ? w->proc()->rss_bytes : 0},
    };
    if (!w->last_exit.empty()) {
      j["last_exit"] = w->last_exit;
      j["last_exit_cause"] = std::string(to_string(w->exit_info().cause));  // crash, outside_signal, oom_suspect, ...
    }
    if (w->blocked_on_logs()) j["blocked_on_logs"] = true;
    workers.push_back(std::move(j));
  }
  std::sort(workers.begin(), workers.end(), [](const json& a, const json& b) {
    auto ka = std::make_pair(a["slot"].get<int>(), a["generation"].get<uint64_t>());
    auto kb = std::make_pair(b["slot"].get<int>(), b["generation"].get<uint64_t>());
    return ka < kb;
  });
  json app = {
      {"name", cfg_->name},
      {"namespace", cfg_->ns},
      {"protocol", config::to_string(cfg_->protocol)},
      {"listen", listener_.fd() >= 0 ? json(listener_.bound_address()) : (cfg_->listen ? json(cfg_->listen->str()) : json(nullptr))},
      {"instances", cfg_->instances},
      {"status", std::string(to_string(app_status()))},
      {"reloading", reload_.has_value()},
      {"generation", generation_},
      {"file", cfg_->at.file},
      {"queue", queue_.size()},
      {"restart_reasons", counters_.restarts_by_reason},
      {"workers", std::move(workers)},
  };
  if (cfg_->autoscale) app["autoscale"] = autoscale_status();
  return app;
}

}  // namespace rack::master
