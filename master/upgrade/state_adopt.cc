// StateCodec, the new image's half: the same objects around the same
// descriptors. Nothing here sends, closes or kills (state.h): a failure
// part-way leaves the workers untouched for the previous image.
#include <uv.h>

#include <type_traits>

#include <spdlog/spdlog.h>

#include "api/dashboard.h"
#include "api/log_journal.h"
#include "app/app.h"
#include "dispatch/sockname.h"
#include "lifecycle/guardian.h"
#include "lifecycle/spawn.h"
#include "logs/log_pipe.h"
#include "logs/stdout_sink.h"
#include "metrics/endpoint.h"
#include "supervisor.h"
#include "upgrade/config_json.h"
#include "upgrade/state.h"
#include "uv_handle.h"

namespace rack::master {

using json = nlohmann::json;
using upgrade::unhex;

namespace {

using SteadyClock = std::chrono::steady_clock;

SteadyClock::time_point at(const json& j) { return SteadyClock::time_point(SteadyClock::duration(j.get<int64_t>())); }

template <class E>
std::optional<E> opt_enum(const json& j) {
  if (j.is_null()) return std::nullopt;
  return static_cast<E>(j.get<int>());
}

// Restarts a timer that arm_*() set up, with the time it had left.
void restart_with(uv_timer_t* t, const json& due) {
  if (t && !due.is_null()) uv_timer_start(t, t->timer_cb, due.get<uint64_t>(), 0);
}

}  // namespace

void StateCodec::adopt_worker(ManagedApp& app, int listen_fd, const json& j) {
  WorkerId id{j.at("id").get<uint64_t>()};
  auto cfg = j.at("cfg").is_null() ? app.cfg_
                                   : std::make_shared<const config::AppConfig>(upgrade::app_config_from_json(j.at("cfg")));
  auto owned = std::make_unique<Worker>(app.ctx_.loop, app, id, Slot{j.at("slot").get<int>()},
                                        j.at("generation").get<uint64_t>(), cfg);
  Worker& w = *owned;
  worker_plain_fields(w, [&](const char* key, auto& field) { field = j.at(key).get<std::decay_t<decltype(field)>>(); });
  w.life_.restore(static_cast<WorkerState>(j.at("state").get<int>()));
  w.listen_addr_ = sockname(listen_fd);  // what returned connections are checked against
  w.attach_busy_board(app.busy_board_.get());  // the same file, mapped again
  w.asked_ = opt_enum<ExitCause>(j.at("asked"));
  w.kill_step_ = static_cast<KillStep>(j.at("kill_step").get<int>());
  w.started_at_ = at(j.at("started_at"));
  w.last_pong_ = at(j.at("last_pong"));
  const json& load = j.at("load");
  w.load_.handed_ = load.at(0).get<uint64_t>();
  w.load_.active_ = load.at(1).get<uint64_t>();
  w.load_.covered_ = load.at(2).get<uint64_t>();
  w.metrics_buf_ = unhex(j.at("metrics_buf").get<std::string>());
  for (const json& u : j.at("unacked")) w.unacked_.emplace(u.at(0).get<uint64_t>(), u.at(1).get<int>());

  if (const json& r = j.at("rack"); !r.is_null()) {
    w.rack_ = std::make_unique<RackChannel>(app.ctx_.loop, r.at("fd").get<int>(), w.rack_events());
    for (const json& o : r.at("outbox"))
      w.rack_->outbox_.push_back({static_cast<channel::Type>(o.at(0).get<int>()), unhex(o.at(1).get<std::string>()),
                                  o.at(2).get<int>(), o.at(3).get<uint16_t>()});
    if (!w.rack_->outbox_.empty()) w.rack_->watch(true);
  }
  if (const json& n = j.at("node"); !n.is_null()) {
    w.attach_node(n.at("fd").get<int>(), listen_fd);
    NodeChannel& c = *w.node_;
    c.inbuf_ = unhex(n.at("inbuf").get<std::string>());
    for (const json& o : n.at("outbox")) c.outbox_.push_back({unhex(o.at(0).get<std::string>()), 0, o.at(1).get<int>()});
    c.seq_ = n.at("seq").get<uint64_t>();
    c.key_ = n.at("key").get<std::string>();
    c.newconn_prefix_ = n.at("newconn_prefix").get<std::string>();
    for (const json& u : n.at("unanswered")) c.unanswered_.emplace(u.at(0).get<uint64_t>(), u.at(1).get<int>());
    c.refusing_until_ = n.at("refusing_until").get<uint64_t>();
    c.warned_unparsable_ = n.at("warned_unparsable").get<bool>();
    if (!c.outbox_.empty()) c.watch(true);
  }
  if (const json& n = j.at("notify"); !n.is_null()) {
    std::unique_ptr<NotifySocket> s(new NotifySocket());
    s->fd_ = n.at("fd").get<int>();
    s->address_ = n.at("address").get<std::string>();
    s->who_ = cfg->name + " slot " + std::to_string(w.slot_.index);
    s->worker_pid_ = [&w] { return w.pid_; };
    s->on_ready_ = [&w] { w.mark_ready("sd_notify READY=1"); };
    s->poll_ = new_handle<uv_poll_t>(s.get());
    uv_poll_init(app.ctx_.loop, s->poll_, s->fd_);
    uv_poll_start(s->poll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
      if (auto* self = static_cast<NotifySocket*>(h->data); self && status == 0) self->read();
    });
    w.notify_ = std::move(s);
  }
  if (w.life_.state() == WorkerState::Starting) {
    w.arm_readiness();  // ready: {http}: the probe starts over
    w.arm_ready_timer();
    restart_with(w.ready_timer_, j.at("ready_due"));
    if (const json& due = j.at("ready_due"); !due.is_null()) w.ready_due_at_ = SteadyClock::now() + Millis(due.get<uint64_t>());
  }
  if (!j.at("kill_due").is_null()) {
    w.kill_timer_ = new_handle<uv_timer_t>(&w);
    uv_timer_init(app.ctx_.loop, w.kill_timer_);
    uv_timer_start(w.kill_timer_, [](uv_timer_t* t) {
      if (auto* self = static_cast<Worker*>(t->data)) self->on_kill_timer();
    }, j.at("kill_due").get<uint64_t>(), 0);
  }
  app.workers_.emplace(id, std::move(owned));
}

void StateCodec::adopt_slots(ManagedApp& app, const json& slots) {
  for (const json& j : slots) {
    int index = j.at("index").get<int>();
    auto s = std::make_unique<ManagedApp::SlotState>(&app, index, app.cfg_->restart);
    if (const json& cur = j.at("current"); !cur.is_null()) {
      auto it = app.workers_.find(WorkerId{cur.get<uint64_t>()});
      if (it == app.workers_.end()) throw std::runtime_error("slot " + std::to_string(index) + ": no such worker");
      s->current = it->second.get();
    }
    s->restarts = j.at("restarts").get<unsigned>();
    s->backoff.next_delay_ = Millis(j.at("backoff").at(0).get<int64_t>());
    s->backoff.quick_exits_ = j.at("backoff").at(1).get<unsigned>();
    s->replace_for = opt_enum<ExitCause>(j.at("replace_for"));
    if (const json& due = j.at("restart_due"); !due.is_null()) {
      // As ManagedApp::schedule_restart() arms it.
      s->restart_timer = new_handle<uv_timer_t>(s.get());
      uv_timer_init(app.ctx_.loop, s->restart_timer);
      uv_timer_start(s->restart_timer, [](uv_timer_t* t) {
        auto* slot = static_cast<ManagedApp::SlotState*>(t->data);
        if (!slot || slot->app->stopped_) return;
        Worker* w = slot->current;
        if (!w || w->state() != WorkerState::Backoff) return;
        slot->app->start_process(*w);
      }, due.get<uint64_t>(), 0);
    }
    app.slots_[index] = std::move(s);
  }
}

void StateCodec::adopt_app(Supervisor& sup, const json& j) {
  config::AppConfig cfg = upgrade::app_config_from_json(j.at("cfg"));
  std::string name = cfg.name;
  AppContext ctx{sup.loop_, sup.opt_.home + "/logs", &sup.log_stats_[name], &sup.app_logs_[name]};
  ManagedApp::keep_segments_ = true;
  auto app = std::make_unique<ManagedApp>(ctx, std::move(cfg));
  ManagedApp::keep_segments_ = false;
  if (int fd = j.at("listener").get<int>(); fd >= 0) app->listener_.adopt(fd, j.at("listener_paused").get<bool>());
  app->generation_ = j.at("generation").get<uint64_t>();
  app->next_worker_id_ = j.at("next_worker_id").get<uint64_t>();
  app->stopped_ = j.at("stopped").get<bool>();
  app->log_level_ = j.at("log_level").get<std::string>();
  const json& c = j.at("counters");
  AppCounters& k = app->counters_;
  k.connections_dispatched = c.at("dispatched").get<uint64_t>();
  k.connections_requeued = c.at("requeued").get<uint64_t>();
  k.connections_expired = c.at("expired").get<uint64_t>();
  k.connections_held = c.value("held", uint64_t{0});  // absent from an older rackd's state
  k.reloads = c.at("reloads").get<uint64_t>();
  k.reloads_failed = c.at("reloads_failed").get<uint64_t>();
  k.restarts_by_reason = c.at("restarts_by_reason").get<std::map<std::string, uint64_t>>();
  for (const json& e : c.at("exits_by_cause")) k.exits_by_cause[static_cast<ExitCause>(e.at(0).get<int>())] = e.at(1).get<uint64_t>();
  for (const json& q : j.at("queue")) app->queue_.items_.push_back({q.at(0).get<int>(), at(q.at(1))});
  for (const json& w : j.at("workers")) adopt_worker(*app, app->listener_.fd(), w);
  adopt_slots(*app, j.at("slots"));
  app->arm_triggers();  // cron_restart and watch start over (inotify from now)

  ManagedApp* raw = app.get();
  sup.apps_[name] = std::move(app);
  sup.feed_stdout(*raw);
  sup.metrics_->attach(*raw);
}

void StateCodec::adopt_supervisor(Supervisor& sup, const json& j) {
  if (int fd = j.at("control").get<int>(); fd >= 0) {
    sup.make_control();
    sup.control_->adopt(fd, false);
  }
  if (int fd = j.at("admin").get<int>(); fd >= 0) {
    sup.make_admin();
    sup.admin_->adopt(fd, false);
    sup.dashboard_ = std::make_unique<Dashboard>(sup, j.at("admin_token").get<std::string>());
  }
  sup.admin_decided_ = j.at("admin_decided").get<bool>();
  sup.shutdown_delay_ = config::Duration(j.at("shutdown_delay").get<int64_t>());
  sup.ready_armed_ = j.at("ready_armed").get<bool>();
  sup.ready_sent_ = j.at("ready_sent").get<bool>();
  sup.last_status_ = j.at("last_status").get<std::string>();
  sup.ticks_ = j.at("ticks").get<unsigned>();
  for (auto& [name, s] : j.at("log_stats").items())
    sup.log_stats_[name] = {s.at(0).get<uint64_t>(), s.at(1).get<uint64_t>(), s.at(2).get<uint64_t>(),
                            s.at(3).get<uint64_t>(), s.at(4).get<uint64_t>()};
}

void StateCodec::adopt_metrics(Supervisor& sup, const json& j) {
  auto& merge = sup.metrics_->merge_;
  for (auto& [app, st] : j.at("apps").items()) {
    auto& a = merge.apps_[app];
    a.retired = upgrade::snapshot_from_json(st.at("retired"));
    for (const json& p : st.at("live")) {
      ProcessKey key{p.at(0).get<uint64_t>(), p.at(1).get<int64_t>()};
      a.live[key] = {{p.at(2).get<int>(), p.at(3).get<uint64_t>()}, upgrade::snapshot_from_json(p.at(4))};
    }
  }
  sup.metrics_->parse_errors_ = j.at("parse_errors").get<std::map<std::string, uint64_t>>();
}

void StateCodec::adopt(Supervisor& sup, const json& state) {
  const json& g = state.at("guardian");
  guardian::Handover h{g.at("fd").get<int>(), g.at("pid").get<pid_t>(), {}};
  for (const json& gr : g.at("groups"))
    h.groups.push_back({gr.at(0).get<pid_t>(), gr.at(1).get<pid_t>(), gr.at(2).get<unsigned long long>()});
  guardian::adopt(sup.opt_.home, h);
  set_resets_scheduling(state.at("sched_reset").get<bool>());
  adopt_supervisor(sup, state.at("supervisor"));
  for (const json& a : state.at("apps")) adopt_app(sup, a);
  for (const json& p : state.at("pipes")) {
    ManagedApp* app = sup.find(p.at("app").get<std::string>());
    if (!app) throw std::runtime_error("a log pipe of an unknown app");
    LogPipe::adopt(sup.loop_,
                   {p.at("fd").get<int>(), nullptr, static_cast<LogStream>(p.at("stream").get<int>()),
                    p.at("slot").get<int>(), unhex(p.at("partial").get<std::string>())},
                   app->log());
  }
  adopt_metrics(sup, state.at("metrics"));
  // `rackctl logs -f` followers reconnect and resume from these (optional:
  // images before them wrote none).
  if (state.contains("journals"))
    api::LogJournals::get().adopt(sup.loop_, state.at("journals"), [&sup](const std::string& name) {
      ManagedApp* app = sup.find(name);
      return app ? app->log() : nullptr;
    });
  if (std::string pending = unhex(state.at("stdout_pending").get<std::string>()); !pending.empty() && sup.stdout_sink_) {
    {
      std::lock_guard lock(sup.stdout_sink_->mu_);
      sup.stdout_sink_->queue_.insert(0, pending);
    }
    sup.stdout_sink_->cv_.notify_one();
  }
}

void StateCodec::resume(Supervisor& sup) {
  // SIGCHLD was blocked across the exec; what exited meanwhile is reaped
  // here and goes the usual way (crash → backoff, drained → retired).
  sup.handle_chld();
  for (auto& [name, app] : sup.apps_) {
    app->drain_queue();
    app->reconcile_soon();
  }
  sup.notify_state();
}

}  // namespace rack::master
