// StateCodec, the old image's half: everything rackd holds, as JSON.
#include <uv.h>

#include <spdlog/spdlog.h>

#include "api/dashboard.h"
#include "api/log_journal.h"
#include "app/app.h"
#include "lifecycle/guardian.h"
#include "lifecycle/spawn.h"
#include "logs/log_pipe.h"
#include "logs/stdout_sink.h"
#include "metrics/endpoint.h"
#include "supervisor.h"
#include "upgrade/config_json.h"
#include "upgrade/state.h"

namespace rack::master {

using json = nlohmann::json;
using upgrade::hex;
using upgrade::to_json;

namespace {

int64_t ticks(std::chrono::steady_clock::time_point t) { return t.time_since_epoch().count(); }

// A running timer as the milliseconds it has left; null when not running.
json due(uv_timer_t* t) {
  if (!t || !uv_is_active(reinterpret_cast<uv_handle_t*>(t))) return nullptr;
  return uv_timer_get_due_in(t);
}

template <class E>
json opt_enum(const std::optional<E>& v) {
  return v ? json(static_cast<int>(*v)) : json(nullptr);
}

json keep(int fd, std::vector<int>& fds) {
  if (fd >= 0) fds.push_back(fd);
  return fd;
}

}  // namespace

std::string StateCodec::busy(Supervisor& sup) {
  if (sup.shutting_down_ || sup.draining_soon_) return "rackd is shutting down";
  for (auto& [name, app] : sup.apps_) {
    // Lines the disk has not taken (it is failing) would have to travel in
    // the state; rather wait until they are written.
    if (uint64_t n = app->log()->pending_bytes(); n > 0)
      return name + "'s log holds " + std::to_string(n) + " bytes not yet written (is the disk failing?); try again once they are";
    if (app->reload_) return name + " is reloading; upgrade once the reload is done";
    if (!app->stop_waiters_.empty()) return name + " is stopping; upgrade once it has stopped";
    for (auto& [i, s] : app->slots_)
      if (s->replacement) return name + " slot " + std::to_string(i) + " is being replaced; try again in a moment";
  }
  return "";
}

json StateCodec::save_worker(const ManagedApp& app, Worker& w, std::vector<int>& fds) {
  json j = {
      {"id", static_cast<uint64_t>(w.id_)},
      {"slot", w.slot_.index},
      {"generation", w.generation_},
      {"cfg", w.cfg_ == app.cfg_ ? json(nullptr) : to_json(*w.cfg_)},
      {"state", static_cast<int>(w.life_.state())},
      {"asked", opt_enum(w.asked_)},
      {"kill_step", static_cast<int>(w.kill_step_)},
      {"kill_due", due(w.kill_timer_)},
      {"ready_due", due(w.ready_timer_)},
      {"started_at", ticks(w.started_at_)},
      {"last_pong", ticks(w.last_pong_)},
      {"load", {w.load_.handed_, w.load_.active_, w.load_.covered_}},
      {"metrics_buf", hex(w.metrics_buf_)},
  };
  worker_plain_fields(w, [&](const char* key, const auto& field) { j[key] = field; });
  json unacked = json::array();
  for (auto& [id, fd] : w.unacked_) unacked.push_back({id, keep(fd, fds)});
  j["unacked"] = std::move(unacked);
  j["rack"] = nullptr;
  if (w.rack_ && w.rack_->open()) {
    json out = json::array();
    for (auto& o : w.rack_->outbox_) out.push_back({static_cast<int>(o.type), hex(o.payload), keep(o.fd, fds), o.flags});
    j["rack"] = {{"fd", keep(w.rack_->fd_, fds)}, {"outbox", std::move(out)}};
  }
  j["node"] = nullptr;
  if (w.node_ && w.node_->open()) {
    const NodeChannel& n = *w.node_;
    json out = json::array();
    for (auto& o : n.outbox_) out.push_back({hex(std::string_view(o.data).substr(o.offset)), keep(o.fd, fds)});
    json unanswered = json::array();
    for (auto& [seq, fd] : n.unanswered_) unanswered.push_back({seq, keep(fd, fds)});
    j["node"] = {{"fd", keep(n.fd_, fds)},      {"inbuf", hex(n.inbuf_)},
                 {"outbox", std::move(out)},     {"seq", n.seq_},
                 {"key", n.key_},                {"newconn_prefix", n.newconn_prefix_},
                 {"unanswered", std::move(unanswered)}, {"refusing_until", n.refusing_until_},
                 {"warned_unparsable", n.warned_unparsable_}};
  }
  j["notify"] = nullptr;
  if (w.notify_) j["notify"] = {{"fd", keep(w.notify_->fd_, fds)}, {"address", w.notify_->address_}};
  return j;
}

json StateCodec::save_app(ManagedApp& app, std::vector<int>& fds) {
  const AppCounters& c = app.counters_;
  json exits = json::array();
  for (auto& [cause, n] : c.exits_by_cause) exits.push_back({static_cast<int>(cause), n});
  json queue = json::array();
  for (auto& item : app.queue_.items_) queue.push_back({keep(item.fd, fds), ticks(item.deadline)});
  json slots = json::array();
  for (auto& [i, s] : app.slots_) {
    slots.push_back({{"index", i},
                     {"current", s->current ? json(static_cast<uint64_t>(s->current->id())) : json(nullptr)},
                     {"restarts", s->restarts},
                     {"backoff", {s->backoff.next_delay_.count(), s->backoff.quick_exits_}},
                     {"restart_due", due(s->restart_timer)},
                     {"replace_for", opt_enum(s->replace_for)}});
  }
  json workers = json::array();
  for (auto& [id, w] : app.workers_) workers.push_back(save_worker(app, *w, fds));
  return {
      {"cfg", to_json(*app.cfg_)},
      {"listener", keep(app.listener_.fd(), fds)},
      {"listener_paused", app.listener_.paused()},
      {"generation", app.generation_},
      {"next_worker_id", app.next_worker_id_},
      {"stopped", app.stopped_},
      {"log_level", app.log_level_},
      {"counters",
       {{"dispatched", c.connections_dispatched},
        {"requeued", c.connections_requeued},
        {"expired", c.connections_expired},
        {"held", c.connections_held},
        {"reloads", c.reloads},
        {"reloads_failed", c.reloads_failed},
        {"restarts_by_reason", c.restarts_by_reason},
        {"exits_by_cause", std::move(exits)}}},
      {"queue", std::move(queue)},
      {"slots", std::move(slots)},
      {"workers", std::move(workers)},
  };
}

json StateCodec::save_supervisor(Supervisor& sup, std::vector<int>& fds) {
  json stats = json::object();
  for (auto& [name, s] : sup.log_stats_)
    stats[name] = {s.bytes_written, s.lines_written, s.rotations, s.dropped_lines, s.write_errors};
  return {
      {"control", keep(sup.control_ ? sup.control_->fd() : -1, fds)},
      {"admin", keep(sup.admin_ ? sup.admin_->fd() : -1, fds)},
      {"admin_token", sup.dashboard_ ? sup.dashboard_->token_ : ""},
      {"admin_decided", sup.admin_decided_},
      {"shutdown_delay", sup.shutdown_delay_.count()},
      {"ready_armed", sup.ready_armed_},
      {"ready_sent", sup.ready_sent_},
      {"last_status", sup.last_status_},
      {"ticks", sup.ticks_},
      {"log_stats", std::move(stats)},
  };
}

json StateCodec::save_metrics(Supervisor& sup) {
  json out = json::object();
  for (auto& [app, st] : sup.metrics_->merge_.apps_) {
    json live = json::array();
    for (auto& [key, p] : st.live)
      live.push_back({key.worker, key.started, p.info.slot, p.info.generation, to_json(p.snapshot)});
    out[app] = {{"retired", to_json(st.retired)}, {"live", std::move(live)}};
  }
  return {{"apps", std::move(out)}, {"parse_errors", sup.metrics_->parse_errors_}};
}

// What the --no-daemon stdout copy has queued: the new image writes it
// first. Taken, not waited for: a stalled reader must not hold up the exec.
std::string StateCodec::stdout_pending(Supervisor& sup) {
  if (!sup.stdout_sink_) return "";
  std::lock_guard lock(sup.stdout_sink_->mu_);
  return sup.stdout_sink_->queue_;
}

json StateCodec::save(Supervisor& sup, std::vector<int>& fds) {
  json apps = json::array();
  std::map<const AppLog*, std::string> log_owner;
  for (auto& [name, app] : sup.apps_) {
    apps.push_back(save_app(*app, fds));
    log_owner[app->log_.get()] = name;
  }
  json pipes = json::array();
  for (const LogPipe::Handover& p : LogPipe::handover()) {
    auto owner = log_owner.find(p.log);
    // The AppLog of a deleted app, still read because a process it left
    // holds the pipe: nobody in the new image writes that log.
    if (owner == log_owner.end()) continue;
    pipes.push_back({{"app", owner->second},
                     {"fd", keep(p.fd, fds)},
                     {"stream", static_cast<int>(p.stream)},
                     {"slot", p.slot},
                     {"partial", hex(p.partial)}});
  }
  guardian::Handover g = guardian::handover();
  json groups = json::array();
  for (const auto& gr : g.groups) groups.push_back({gr.pgid, gr.session, gr.start_ticks});
  const SystemdNotifier& n = sup.opt_.notifier;
  return {
      {"format", "rackd-state"},
      {"version", upgrade::kStateVersion},
      {"args", {{"home", sup.opt_.home}, {"foreground", sup.opt_.foreground}, {"stdout_logs", sup.opt_.stdout_logs}}},
      {"notifier", {{"socket", n.socket()}, {"watchdog_usec", n.watchdog() ? json(n.watchdog()->count()) : json(nullptr)}}},
      {"sched_reset", resets_scheduling()},
      {"guardian", {{"fd", keep(g.fd, fds)}, {"pid", g.pid}, {"groups", std::move(groups)}}},
      {"supervisor", save_supervisor(sup, fds)},
      {"apps", std::move(apps)},
      {"pipes", std::move(pipes)},
      {"metrics", save_metrics(sup)},
      {"stdout_pending", hex(stdout_pending(sup))},
      {"journals", api::LogJournals::get().save(log_owner)},
  };
}

}  // namespace rack::master
