// ManagedApp::describe(): one app in detail, for `rackctl describe` and
// GET /v1/apps/<name>. Environment values are left out on purpose: they
// often hold secrets, and the answer is shown on terminals and pasted into
// tickets; the keys say enough to check that a variable is set.
#include <string.h>
#include <time.h>

#include <cmath>

#include "app/app.h"
#include "lifecycle/guardian.h"

namespace rack::master {

using json = nlohmann::json;

namespace {

std::string utc(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double seconds(Millis d) { return std::round(static_cast<double>(d.count()) / 100.0) / 10.0; }

json restart_policy(const config::AppConfig& c) {
  const config::RestartPolicy& r = c.restart;
  return {{"min_uptime_ms", r.min_uptime.count()},         {"max_restarts", r.max_restarts},
          {"backoff_initial_ms", r.backoff_initial.count()}, {"backoff_max_ms", r.backoff_max.count()},
          {"backoff_factor", r.backoff_factor},              {"reset_after_ms", r.reset_after.count()},
          {"ready_timeout_ms", c.ready_timeout.count()},     {"kill_timeout_ms", c.kill_timeout.count()},
          {"heartbeat_timeout_ms", c.heartbeat_timeout.count()},
          {"delay_ms", r.delay ? json(r.delay->count()) : json(nullptr)}};
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : std::to_string(sig);
}

// What stops a worker and what brings it back: the keys a PM2 user looks
// for in `pm2 describe`. Unset ones are null, never left out.
void add_policy(json& d, const config::AppConfig& c) {
  d["stop_signal"] = signal_name(config::stop_signal_of(c));
  d["shutdown_with_message"] = c.shutdown_with_message;
  d["autorestart"] = c.autorestart;
  d["stop_exit_codes"] = c.stop_exit_codes;
  d["max_memory"] = c.max_memory ? json(*c.max_memory) : json(nullptr);
  d["cron_restart"] =
      c.cron_restart.empty() ? json(nullptr) : json{{"schedule", c.cron_restart}, {"tz", c.cron_zone.name()}};
  d["watch"] = c.watch ? json{{"paths", c.watch->paths}, {"ignore", c.watch->ignore}, {"delay_ms", c.watch->delay.count()}}
                       : json(nullptr);
}

}  // namespace

json ManagedApp::describe() const {
  json d = status();
  d.erase("workers");
  d["command"] = cfg_->run;
  d["cwd"] = cfg_->cwd;
  json keys = json::array();
  for (const auto& [k, v] : cfg_->env) keys.push_back(k);  // std::map: sorted
  d["env_keys"] = std::move(keys);
  d["logs"] = {{"files", log_->has_files()}, {"out", log_->path(LogStream::Out)},
               {"err", log_->path(LogStream::Err)}, {"on_full", config::to_string(cfg_->logs.on_full)}};
  d["restart"] = restart_policy(*cfg_);
  add_policy(d, *cfg_);
  d["containment"] = guardian::containment();
  auto now = std::chrono::system_clock::now();
  json slots = json::array();
  for (unsigned i = 0; i < cfg_->instances; ++i) {
    auto it = slots_.find(static_cast<int>(i));
    const SlotState* s = it == slots_.end() ? nullptr : it->second.get();
    const Worker* w = s ? s->current : nullptr;
    const bool running = w && w->lifecycle().has_process();
    json j = {{"slot", i},
              {"pid", running ? json(w->pid()) : json(nullptr)},
              {"state", w ? std::string(to_string(w->state())) : "starting"},
              {"generation", w ? json(w->generation()) : json(nullptr)},
              {"restarts", s ? s->restarts : 0},
              {"uptime_s", running ? std::round(w->uptime_s() * 10) / 10 : 0.0},
              {"cpu_percent", running ? std::round(w->cpu_percent() * 10) / 10 : 0.0},
              {"rss_bytes", running && w->proc() ? w->proc()->rss_bytes : 0}};
    if (s && s->last_exit) {
      const SlotExit& e = *s->last_exit;
      j["last_exit"] = {{"pid", e.pid > 0 ? json(e.pid) : json(nullptr)},
                        {"what", e.what},
                        {"cause", std::string(to_string(e.cause))},
                        {"at", utc(e.at)},
                        {"ago_s", seconds(std::chrono::duration_cast<Millis>(now - e.at))},
                        {"uptime_s", seconds(e.uptime)}};
    } else {
      j["last_exit"] = nullptr;
    }
    slots.push_back(std::move(j));
  }
  d["slots"] = std::move(slots);
  return d;
}

}  // namespace rack::master
