#include "metrics/rack_families.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>

#include "app/app.h"
#include "dispatch/fd_reserve.h"
#include "lifecycle/proc_stats.h"
#include "app/app_status.h"

namespace rack::master {

namespace {


Exposition::Family* own(Exposition& ex, const char* name, MetricType type, const char* help) {
  return ex.family(name, type, help, true);
}

std::string app_l(const ManagedApp* a) { return label_pair("app", a->name()); }

void render_states(const std::vector<ManagedApp*>& apps, Exposition& ex) {
  auto* workers = own(ex, "rack_workers", MetricType::Gauge, "Workers by app and lifecycle state.");
  auto* status = own(ex, "rack_app_status", MetricType::Gauge,
                     "1 for the app's current status (online, degraded, down, errored, stopped), 0 for the others.");
  auto* instances = own(ex, "rack_app_instances", MetricType::Gauge, "Workers the app is configured to run.");
  for (ManagedApp* a : apps) {
    std::map<std::string, int> by_state;
    for (auto s : {"starting", "ready", "draining", "stopping", "backoff", "errored"}) by_state[s] = 0;
    for (Worker* w : a->workers()) {
      auto s = std::string(to_string(w->state()));
      if (by_state.count(s)) by_state[s]++;
    }
    for (auto& [s, n] : by_state) workers->sample(app_l(a) + "," + label_pair("state", s), n);
    AppStatus now = a->app_status();
    for (AppStatus s : {AppStatus::Online, AppStatus::Degraded, AppStatus::Down, AppStatus::Errored, AppStatus::Stopped})
      status->sample(app_l(a) + "," + label_pair("status", to_string(s)), s == now ? 1 : 0);
    instances->sample(app_l(a), a->stopped() ? 0 : a->cfg().instances);
  }
}

// What the CPU and memory alerts divide by: the CPUs an app's workers can
// use together (one each, at most the host's), and the memory a worker may
// use (max_memory, else the cgroup limit rackd and its workers share).
void render_limits(const std::vector<ManagedApp*>& apps, Exposition& ex) {
  auto* cpus = own(ex, "rack_app_cpus", MetricType::Gauge,
                   "CPUs the app's workers can use together: min(instances, CPUs rackd may run on).");
  auto* mem = own(ex, "rack_worker_memory_limit_bytes", MetricType::Gauge,
                  "Memory one worker may use: the app's max_memory, else the cgroup limit (absent when neither is set).");
  unsigned host = usable_cpus();
  std::optional<uint64_t> cgroup = cgroup_memory_limit();
  for (ManagedApp* a : apps) {
    cpus->sample(app_l(a), std::min(std::max(a->cfg().instances, 1u), host));
    auto limit = a->cfg().max_memory ? std::optional<uint64_t>(*a->cfg().max_memory) : cgroup;
    if (limit) mem->sample(app_l(a), static_cast<double>(*limit));
  }
}

// The filesystem under each app's logs: a full disk blocks (or, with
// on_full: drop, loses) the app's output.
void render_log_volume(const std::vector<ManagedApp*>& apps, Exposition& ex) {
  auto* size = own(ex, "rack_log_filesystem_size_bytes", MetricType::Gauge,
                   "Size of the filesystem holding the app's log files.");
  auto* avail = own(ex, "rack_log_filesystem_avail_bytes", MetricType::Gauge,
                    "Bytes of that filesystem unprivileged writers can still use.");
  for (ManagedApp* a : apps) {
    auto log = a->log();
    if (!log) continue;
    std::string path = log->path(LogStream::Out);
    std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
    struct statvfs v{};
    if (dir.empty() || ::statvfs(dir.c_str(), &v) != 0) continue;
    size->sample(app_l(a), static_cast<double>(v.f_blocks) * v.f_frsize);
    avail->sample(app_l(a), static_cast<double>(v.f_bavail) * v.f_frsize);
  }
}

void render_counts(const std::vector<ManagedApp*>& apps, Exposition& ex) {
  auto* restarts = own(ex, "rack_worker_restarts_total", MetricType::Counter, "Worker restarts by reason.");
  for (ManagedApp* a : apps)
    for (auto& [reason, n] : a->counters().restarts_by_reason)
      restarts->sample(app_l(a) + "," + label_pair("reason", reason), static_cast<double>(n));
  auto* exits = own(ex, "rack_worker_exits_total", MetricType::Counter,
                    "Worker processes that ended, by cause (crash, oom_suspect, reload, stop, ...).");
  for (ManagedApp* a : apps)
    for (auto& [cause, n] : a->counters().exits_by_cause)
      exits->sample(app_l(a) + "," + label_pair("cause", std::string(to_string(cause))), static_cast<double>(n));
  own(ex, "rack_illegal_transitions_total", MetricType::Counter,
      "Worker state transitions rackd refused: a bug in rackd when not 0.")
      ->sample("", static_cast<double>(illegal_transitions()));
  own(ex, "rack_fd_reserve_pauses_total", MetricType::Counter,
      "100 ms pauses of accepting, to keep descriptors free for respawns and log rotation.")
      ->sample("", static_cast<double>(fd_reserve::pauses()));
  // Each family reads one field of the app's counters or log stats, or
  // one of its gauges.
  struct PerApp {
    const char* name;
    MetricType type;
    const char* help;
    uint64_t AppCounters::*counter = nullptr;
    uint64_t LogStats::*log = nullptr;
    std::size_t (ManagedApp::*gauge)() const = nullptr;

    double value(const ManagedApp* a) const {
      if (counter) return static_cast<double>(a->counters().*counter);
      if (log) return static_cast<double>(a->log_stats().*log);
      return static_cast<double>((a->*gauge)());
    }
  };
  using C = AppCounters;
  using L = LogStats;
  using M = ManagedApp;
  constexpr auto kCounter = MetricType::Counter;
  const PerApp per_app[] = {
      {"rack_connections_dispatched_total", kCounter, "Connections handed to workers.", &C::connections_dispatched},
      {"rack_connections_requeued_total", kCounter,
       "Connections given back (worker died before taking them, or idle keep-alive during drain).",
       &C::connections_requeued},
      {"rack_connections_expired_total", kCounter, "Queued connections closed after queue_timeout.",
       &C::connections_expired},
      {"rack_connections_held_total", kCounter,
       "Connections rackd held because every worker was busy in a handler (least-connections).",
       &C::connections_held},
      {"rack_dispatch_queue_depth", MetricType::Gauge, "Connections waiting for a ready worker.", {}, {},
       &M::queue_depth},
      {"rack_worker_protocol_errors_total", kCounter,
       "Channel messages from workers rackd refused (bad returned fds, oversized snapshots, ...).",
       &C::protocol_errors},
      {"rack_reloads_total", kCounter, "Reloads started.", &C::reloads},
      {"rack_reloads_failed_total", kCounter, "Reloads that stopped because a replacement failed.", &C::reloads_failed},
      {"rack_canary_passed_total", kCounter, "Canary reloads whose canary passed the watch.", &C::canary_passed},
      {"rack_canary_rolled_back_total", kCounter,
       "Canary reloads rolled back: the canary did worse than the old generation, crashed or was not ready.",
       &C::canary_failed},
      {"rack_autoscale_ups_total", kCounter, "Times autoscaling added workers.", &C::scale_ups},
      {"rack_autoscale_downs_total", kCounter, "Times autoscaling took a worker away (it drained).", &C::scale_downs},
      {"rack_log_bytes_total", kCounter, "Bytes written to the app's log files.", {}, &L::bytes_written},
      {"rack_log_lines_total", kCounter, "Lines written to the app's log files.", {}, &L::lines_written},
      {"rack_log_rotations_total", kCounter, "Rotations of the app's log files.", {}, &L::rotations},
      {"rack_log_dropped_lines_total", kCounter, "Lines dropped with logs.on_full: drop.", {}, &L::dropped_lines},
      {"rack_log_write_errors_total", kCounter, "Failed writes to the app's log files (retried).", {},
       &L::write_errors},
      {"rack_workers_blocked_on_logs", MetricType::Gauge,
       "Workers blocked writing output rackd does not read yet (on_full: block, log disk slow or full).", {}, {},
       &M::blocked_on_logs},
  };
  for (auto& p : per_app) {
    auto* f = own(ex, p.name, p.type, p.help);
    for (ManagedApp* a : apps) f->sample(app_l(a), p.value(a));
  }
}

// /proc figures of every worker of every protocol, and of rackd itself
// (app="rackd", no worker label). A slot's worker restarted after a crash
// keeps slot and generation, so the pid tells processes apart.
void render_proc(const std::vector<ManagedApp*>& apps, bool with_rackd_process, Exposition& ex) {
  struct Row {
    std::string labels;
    ProcSample s;
  };
  std::vector<Row> rows;
  for (ManagedApp* a : apps) {
    for (Worker* w : a->workers()) {
      if (!w->proc() || !has_live_process(*w)) continue;
      rows.push_back({app_l(a) + "," + label_pair("worker", std::to_string(w->slot().index)) + "," +
                          label_pair("generation", std::to_string(w->generation())) + "," +
                          label_pair("pid", std::to_string(w->pid())),
                      *w->proc()});
    }
  }
  if (with_rackd_process)
    if (auto self = read_proc(::getpid())) rows.push_back({label_pair("app", "rackd"), *self});
  auto* cpu = own(ex, "process_cpu_seconds_total", MetricType::Counter, "User and system CPU time, in seconds.");
  auto* user = own(ex, "process_cpu_user_seconds_total", MetricType::Counter, "User CPU time, in seconds.");
  auto* sys = own(ex, "process_cpu_system_seconds_total", MetricType::Counter, "System CPU time, in seconds.");
  auto* rss = own(ex, "process_resident_memory_bytes", MetricType::Gauge, "Resident memory, in bytes.");
  auto* fds = own(ex, "process_open_fds", MetricType::Gauge, "Open file descriptors.");
  auto* start = own(ex, "process_start_time_seconds", MetricType::Gauge, "Start time since the epoch, in seconds.");
  for (auto& r : rows) {
    cpu->sample(r.labels, r.s.cpu_seconds);
    user->sample(r.labels, r.s.cpu_user_seconds);
    sys->sample(r.labels, r.s.cpu_system_seconds);
    rss->sample(r.labels, static_cast<double>(r.s.rss_bytes));
    fds->sample(r.labels, static_cast<double>(r.s.open_fds));
    start->sample(r.labels, r.s.start_time_s);
  }
}

}  // namespace

void render_rack_families(const std::vector<ManagedApp*>& apps, bool with_rackd_process, Exposition& ex) {
  render_states(apps, ex);
  render_counts(apps, ex);
  render_limits(apps, ex);
  render_log_volume(apps, ex);
  render_proc(apps, with_rackd_process, ex);
}

}  // namespace rack::master
