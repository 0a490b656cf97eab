#include "upgrade/state_check.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <string_view>

#include "upgrade/config_json.h"
#include "upgrade/state.h"

namespace rack::master::upgrade {

using json = nlohmann::json;

namespace {

// The reads of adopt_worker(), on nothing.
void check_worker(const json& j, std::set<uint64_t>& ids) {
  ids.insert(j.at("id").get<uint64_t>());
  if (!j.at("cfg").is_null()) (void)app_config_from_json(j.at("cfg"));
  for (const char* k : {"slot", "state", "kill_step"}) (void)j.at(k).get<int>();
  for (const char* k : {"generation", "dispatched", "ping_seq", "notify_seq"}) (void)j.at(k).get<uint64_t>();
  for (const char* k : {"started_at", "last_pong"}) (void)j.at(k).get<int64_t>();
  (void)j.at("pid").get<int>();
  (void)j.at("fresh").get<bool>();
  (void)j.at("restarts").get<unsigned>();
  for (const char* k : {"last_exit", "fail_reason", "shm_path"}) (void)j.at(k).get<std::string>();
  for (const char* k : {"asked", "ready_due", "kill_due"})
    if (!j.at(k).is_null()) (void)j.at(k).get<int64_t>();
  for (int i = 0; i < 3; ++i) (void)j.at("load").at(i).get<uint64_t>();
  (void)unhex(j.at("metrics_buf").get<std::string>());
  for (const json& u : j.at("unacked")) (void)u.at(0).get<uint64_t>(), (void)u.at(1).get<int>();
  if (const json& r = j.at("rack"); !r.is_null()) {
    (void)r.at("fd").get<int>();
    for (const json& o : r.at("outbox"))
      (void)o.at(0).get<int>(), (void)unhex(o.at(1).get<std::string>()), (void)o.at(2).get<int>(),
          (void)o.at(3).get<uint16_t>();
  }
  if (const json& n = j.at("node"); !n.is_null()) {
    (void)n.at("fd").get<int>();
    (void)unhex(n.at("inbuf").get<std::string>());
    for (const json& o : n.at("outbox")) (void)unhex(o.at(0).get<std::string>()), (void)o.at(1).get<int>();
    for (const char* k : {"seq", "refusing_until"}) (void)n.at(k).get<uint64_t>();
    for (const char* k : {"key", "newconn_prefix"}) (void)n.at(k).get<std::string>();
    for (const json& u : n.at("unanswered")) (void)u.at(0).get<uint64_t>(), (void)u.at(1).get<int>();
    (void)n.at("warned_unparsable").get<bool>();
  }
  if (const json& n = j.at("notify"); !n.is_null()) (void)n.at("fd").get<int>(), (void)n.at("address").get<std::string>();
}

// The reads of adopt_app() and adopt_slots().
std::string check_app(const json& j, std::size_t& workers) {
  std::string name = app_config_from_json(j.at("cfg")).name;
  (void)j.at("listener").get<int>();
  (void)j.at("listener_paused").get<bool>();
  for (const char* k : {"generation", "next_worker_id"}) (void)j.at(k).get<uint64_t>();
  (void)j.at("stopped").get<bool>();
  (void)j.at("log_level").get<std::string>();
  const json& c = j.at("counters");
  for (const char* k : {"dispatched", "requeued", "expired", "reloads", "reloads_failed"}) (void)c.at(k).get<uint64_t>();
  (void)c.at("restarts_by_reason").get<std::map<std::string, uint64_t>>();
  for (const json& e : c.at("exits_by_cause")) (void)e.at(0).get<int>(), (void)e.at(1).get<uint64_t>();
  for (const json& q : j.at("queue")) (void)q.at(0).get<int>(), (void)q.at(1).get<int64_t>();
  std::set<uint64_t> ids;
  for (const json& w : j.at("workers")) check_worker(w, ids), ++workers;
  for (const json& s : j.at("slots")) {
    int index = s.at("index").get<int>();
    if (const json& cur = s.at("current"); !cur.is_null() && !ids.count(cur.get<uint64_t>()))
      throw std::runtime_error(name + " slot " + std::to_string(index) + ": no such worker");
    (void)s.at("restarts").get<unsigned>();
    (void)s.at("backoff").at(0).get<int64_t>(), (void)s.at("backoff").at(1).get<unsigned>();
    for (const char* k : {"restart_due", "replace_for"})
      if (!s.at(k).is_null()) (void)s.at(k).get<int64_t>();
  }
  return name;
}

// The reads of adopt_supervisor(), adopt_metrics() and adopt().
void check_rest(const json& state, const std::set<std::string>& apps) {
  const json& g = state.at("guardian");
  (void)g.at("fd").get<int>(), (void)g.at("pid").get<int>();
  for (const json& gr : g.at("groups")) (void)gr.at(0).get<int>(), (void)gr.at(1).get<int>(), (void)gr.at(2).get<unsigned long long>();
  (void)state.at("sched_reset").get<bool>();
  const json& s = state.at("supervisor");
  for (const char* k : {"control", "admin"}) (void)s.at(k).get<int>();
  for (const char* k : {"admin_token", "last_status"}) (void)s.at(k).get<std::string>();
  for (const char* k : {"admin_decided", "ready_armed", "ready_sent"}) (void)s.at(k).get<bool>();
  (void)s.at("shutdown_delay").get<int64_t>(), (void)s.at("ticks").get<unsigned>();
  for (auto& [name, st] : s.at("log_stats").items())
    for (int i = 0; i < 5; ++i) (void)st.at(i).get<uint64_t>();
  for (const json& p : state.at("pipes")) {
    if (!apps.count(p.at("app").get<std::string>())) throw std::runtime_error("a log pipe of an unknown app");
    (void)p.at("fd").get<int>(), (void)p.at("stream").get<int>(), (void)p.at("slot").get<int>();
    (void)unhex(p.at("partial").get<std::string>());
  }
  const json& m = state.at("metrics");
  for (auto& [app, st] : m.at("apps").items()) {
    (void)snapshot_from_json(st.at("retired"));
    for (const json& p : st.at("live"))
      (void)p.at(0).get<uint64_t>(), (void)p.at(1).get<int64_t>(), (void)p.at(2).get<int>(),
          (void)p.at(3).get<uint64_t>(), (void)snapshot_from_json(p.at(4));
  }
  (void)m.at("parse_errors").get<std::map<std::string, uint64_t>>();
  (void)unhex(state.at("stdout_pending").get<std::string>());
  if (state.contains("journals")) {
    const json& js = state.at("journals");
    (void)js.at("seq").get<uint64_t>();
    for (const json& a : js.at("apps")) {
      if (!apps.count(a.at("app").get<std::string>())) throw std::runtime_error("a log journal of an unknown app");
      for (const char* k : {"since", "dropped_upto"}) (void)a.at(k).get<uint64_t>();
      for (const json& l : a.at("lines"))
        (void)l.at(0).get<uint64_t>(), (void)l.at(1).get<int>(), (void)l.at(2).get<int>(), (void)l.at(3).get<int64_t>(),
            (void)unhex(l.at(4).get<std::string>());
    }
  }
  (void)state.at("fds").at("lock").get<int>();
  (void)state.at("attempt").get<uint64_t>();
  (void)state.at("paused_at_ns").get<int64_t>();
}

}  // namespace

std::optional<json> read_state(int fd, std::string& error) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return error = std::string("state fd: ") + std::strerror(errno), std::nullopt;
  std::string doc(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < doc.size()) {
    ssize_t n = ::pread(fd, doc.data() + got, doc.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return error = "state fd: short read", std::nullopt;
    got += static_cast<std::size_t>(n);
  }
  json j = json::parse(doc, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return error = "the state is not a JSON object", std::nullopt;
  if (j.value("format", "") != "rackd-state") return error = "the state is not rackd's", std::nullopt;
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() != kStateVersion)
    return error = "state version " + (j.contains("version") ? j["version"].dump() : std::string("(none)")) +
                   ", this image reads " + std::to_string(kStateVersion),
           std::nullopt;
  return j;
}

std::string check_state(const json& state, std::size_t& apps, std::size_t& workers) {
  try {
    const json& args = state.at("args");
    (void)args.at("home").get<std::string>(), (void)args.at("foreground").get<bool>(),
        (void)args.at("stdout_logs").get<bool>();
    const json& n = state.at("notifier");
    (void)n.at("socket").get<std::string>();
    if (!n.at("watchdog_usec").is_null()) (void)n.at("watchdog_usec").get<int64_t>();
    const json& image = state.at("image");
    for (const char* k : {"upgrades", "attempts"}) (void)image.at(k).get<uint64_t>();
    (void)image.at("first_started_ms").get<int64_t>();
    std::set<std::string> names;
    for (const json& a : state.at("apps")) {
      std::string name = check_app(a, workers);
      if (!names.insert(name).second) throw std::runtime_error("app " + name + " twice");
      ++apps;
    }
    check_rest(state, names);
  } catch (const std::exception& e) {
    return std::string("cannot adopt the state: ") + e.what();
  }
  return "";
}

int check_state_main(int fd) {
  // Tests: a new image that dies at once, before it has checked anything.
  if (const char* e = std::getenv("RACK_TEST_REFUSE_STATE"); e && std::string_view(e) == "exit") {
    std::fprintf(stderr, "rackd: exiting at once (RACK_TEST_REFUSE_STATE=exit)\n");
    std::_Exit(1);
  }
  std::string error;
  auto state = read_state(fd, error);
  std::size_t apps = 0, workers = 0;
  if (state) error = check_state(*state, apps, workers);
  if (!error.empty()) {
    std::fprintf(stderr, "rackd: %s\n", error.c_str());
    return 1;
  }
  std::printf("state ok: %zu apps, %zu workers (%s)\n", apps, workers, version_line().c_str());
  return 0;
}

}  // namespace rack::master::upgrade
