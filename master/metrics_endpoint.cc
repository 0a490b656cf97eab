// /metrics on the admin listener: rackd's own rack_* families and the
// /proc figures of every worker. (Merging the workers' own registries is
// metrics_merge.cc's job.)
#include <unistd.h>

#include <sstream>

#include "control_api.h"
#include "proc_stats.h"
#include "supervisor.h"

namespace rack::master {

namespace {

// Writes one family: HELP and TYPE once, then its samples, so the output
// keeps each family contiguous as the text format requires.
class Family {
 public:
  Family(std::ostringstream& out, const char* name, const char* type, const char* help) : out_(out), name_(name) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void sample(const std::string& labels, double v) {
    out_ << name_;
    if (!labels.empty()) out_ << '{' << labels << '}';
    out_ << ' ' << v << '\n';
  }

 private:
  std::ostringstream& out_;
  const char* name_;
};

std::string label(const char* k, const std::string& v) {
  std::string out = k;
  out += "=\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out + '"';
}

}  // namespace

http::Response metrics_response(Supervisor& sup) {
  std::ostringstream o;
  o.precision(17);
  auto apps = sup.apps();
  {
    Family f(o, "rack_workers", "gauge", "Workers by app and lifecycle state.");
    for (App* a : apps) {
      std::map<std::string, int> by_state;
      for (auto s : {"starting", "ready", "draining", "stopping", "backoff", "errored"}) by_state[s] = 0;
      for (Worker* w : a->workers()) by_state[std::string(to_string(w->state()))]++;
      for (auto& [s, n] : by_state) f.sample(label("app", a->name()) + "," + label("state", s), n);
    }
  }
  {
    Family f(o, "rack_worker_restarts_total", "counter", "Worker restarts by reason.");
    for (App* a : apps) {
      for (auto& [reason, n] : a->counters().restarts_by_reason)
        f.sample(label("app", a->name()) + "," + label("reason", reason), static_cast<double>(n));
    }
  }
  {
    Family f(o, "rack_connections_dispatched_total", "counter", "Connections handed to workers.");
    for (App* a : apps) f.sample(label("app", a->name()), static_cast<double>(a->counters().connections_dispatched));
  }
  {
    Family f(o, "rack_connections_requeued_total", "counter",
             "Connections given back (worker died before taking them, or idle keep-alive during drain).");
    for (App* a : apps) f.sample(label("app", a->name()), static_cast<double>(a->counters().connections_requeued));
  }
  {
    Family f(o, "rack_connections_expired_total", "counter", "Queued connections closed after queue_timeout.");
    for (App* a : apps) f.sample(label("app", a->name()), static_cast<double>(a->counters().connections_expired));
  }
  {
    Family f(o, "rack_dispatch_queue_depth", "gauge", "Connections waiting for a ready worker.");
    for (App* a : apps) f.sample(label("app", a->name()), static_cast<double>(a->queue_depth()));
  }
  {
    Family f(o, "rack_reloads_total", "counter", "Reloads started.");
    for (App* a : apps) f.sample(label("app", a->name()), static_cast<double>(a->counters().reloads));
  }
  {
    Family f(o, "rack_reloads_failed_total", "counter", "Reloads that stopped because a replacement failed.");
    for (App* a : apps) f.sample(label("app", a->name()), static_cast<double>(a->counters().reloads_failed));
  }
  const LogStats& ls = sup.log_stats();
  Family(o, "rack_log_bytes_total", "counter", "Bytes written to app log files.").sample("", ls.bytes_written);
  Family(o, "rack_log_lines_total", "counter", "Lines written to app log files.").sample("", ls.lines_written);
  Family(o, "rack_log_rotations_total", "counter", "Log file rotations.").sample("", ls.rotations);
  Family(o, "rack_log_dropped_lines_total", "counter", "Lines dropped with logs.on_full: drop.")
      .sample("", ls.dropped_lines);
  Family(o, "rack_log_write_errors_total", "counter", "Failed writes to log files (retried).")
      .sample("", ls.write_errors);

  // /proc figures: per worker, and rackd itself (no app label).
  struct Row { std::string labels; ProcSample s; };
  std::vector<Row> rows;
  for (App* a : apps) {
    for (Worker* w : a->workers()) {
      if (w->proc() && w->lifecycle().has_process())
        rows.push_back({label("app", a->name()) + "," + label("worker", std::to_string(w->slot().index)) + "," +
                            label("generation", std::to_string(w->generation())),
                        *w->proc()});
    }
  }
  if (auto self = read_proc(::getpid())) rows.push_back({label("app", "rackd"), *self});
  {
    Family f(o, "process_cpu_seconds_total", "counter", "User and system CPU time.");
    for (auto& r : rows) f.sample(r.labels, r.s.cpu_seconds);
  }
  {
    Family f(o, "process_resident_memory_bytes", "gauge", "Resident memory.");
    for (auto& r : rows) f.sample(r.labels, static_cast<double>(r.s.rss_bytes));
  }
  {
    Family f(o, "process_open_fds", "gauge", "Open file descriptors.");
    for (auto& r : rows) f.sample(r.labels, static_cast<double>(r.s.open_fds));
  }
  {
    Family f(o, "process_start_time_seconds", "gauge", "Start time since the epoch.");
    for (auto& r : rows) f.sample(r.labels, r.s.start_time_s);
  }
  http::Response res = http::Response::text(200, o.str());
  res.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  return res;
}

}  // namespace rack::master
