#include "upgrade/config_json.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace rack::master::upgrade {

using json = nlohmann::json;

#if defined(__x86_64__) && defined(__GLIBCXX__)
// A field added to AppConfig must travel in the state, or an upgrade
// silently resets it to its default: carry it in to_json() and
// app_config_from_json() (and bump kStateVersion), then update the size.
static_assert(sizeof(config::AppConfig) == 1296, "AppConfig changed: carry the new field in master/upgrade/config_json.cc");
#endif

namespace {

json loc(const config::Location& l) { return {l.file, l.line, l.column, l.key_path}; }
config::Location loc_from(const json& j) {
  return {j.at(0).get<std::string>(), j.at(1).get<int>(), j.at(2).get<int>(), j.at(3).get<std::string>()};
}
json ms(config::Duration d) { return d.count(); }
config::Duration ms_from(const json& j) { return config::Duration(j.get<int64_t>()); }
template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}
json opt_ms(const std::optional<config::Duration>& v) { return v ? json(v->count()) : json(nullptr); }
std::optional<config::Duration> opt_ms_from(const json& j) {
  if (j.is_null()) return std::nullopt;
  return ms_from(j);
}
template <class T>
std::optional<T> opt_from(const json& j) {
  if (j.is_null()) return std::nullopt;
  return j.get<T>();
}

json logs_json(const config::LogConfig& l) {
  return {{"dir", l.dir},          {"files", l.files},               {"max_size", l.max_size},         {"keep", l.keep},
          {"compress", l.compress}, {"time", l.time},                 {"on_full", static_cast<int>(l.on_full)},
          {"rotate_every", opt_ms(l.rotate_every)}, {"max_age", opt_ms(l.max_age)}, {"buffer", l.buffer},
          {"owner_uid", opt(l.owner_uid)}, {"owner_gid", opt(l.owner_gid)}, {"date_format", l.date_format}};
}

json canary_json(const std::optional<config::CanaryConfig>& c) {
  if (!c) return nullptr;
  return {c->slots, ms(c->watch), c->max_error_ratio, c->max_latency_factor};
}

std::optional<config::CanaryConfig> canary_from(const json& j) {
  if (j.is_null()) return std::nullopt;
  return config::CanaryConfig{j.at(0).get<unsigned>(), ms_from(j.at(1)), j.at(2).get<double>(), j.at(3).get<double>()};
}

json autoscale_json(const std::optional<config::AutoscaleConfig>& a) {
  if (!a) return nullptr;
  return {a->min, a->max, static_cast<int>(a->metric), a->target, ms(a->up_after), ms(a->cooldown)};
}

std::optional<config::AutoscaleConfig> autoscale_from(const json& j) {
  if (j.is_null()) return std::nullopt;
  return config::AutoscaleConfig{j.at(0).get<unsigned>(), j.at(1).get<unsigned>(),
                                 static_cast<config::ScaleMetric>(j.at(2).get<int>()), j.at(3).get<double>(),
                                 ms_from(j.at(4)), ms_from(j.at(5))};
}

config::LogConfig logs_from(const json& j) {
  config::LogConfig l;
  l.dir = j.at("dir").get<std::string>();
  l.files = j.value("files", true);  // absent: state from a rackd before logs.dir: off
  l.max_size = j.at("max_size").get<uint64_t>();
  l.keep = j.at("keep").get<unsigned>();
  l.compress = j.at("compress").get<bool>();
  l.time = j.at("time").get<bool>();
  l.date_format = j.value("date_format", "");  // absent: state from a rackd before logs.date_format
  l.on_full = static_cast<config::OnFull>(j.at("on_full").get<int>());
  l.rotate_every = opt_ms_from(j.at("rotate_every"));
  l.max_age = opt_ms_from(j.at("max_age"));
  l.buffer = j.at("buffer").get<uint64_t>();
  l.owner_uid = opt_from<uint32_t>(j.at("owner_uid"));
  l.owner_gid = opt_from<uint32_t>(j.at("owner_gid"));
  return l;
}

// JSON has no infinities or NaN (nlohmann writes them as null); histogram
// buckets end at +Inf.
json num(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
}
double num_from(const json& j) {
  if (j.is_number()) return j.get<double>();
  const std::string& s = j.get_ref<const std::string&>();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  return s == "+Inf" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
}

}  // namespace

json to_json(const config::AppConfig& c) {
  const auto& r = c.restart;
  json gauges = json::object();
  for (auto& [name, a] : c.gauges) gauges[name] = static_cast<int>(a);
  return {
      {"name", c.name},
      {"run", c.run},
      {"cwd", c.cwd},
      {"instances", c.instances},
      {"protocol", static_cast<int>(c.protocol)},
      {"listen", c.listen ? json{c.listen->host, c.listen->port} : json(nullptr)},
      {"dispatch", static_cast<int>(c.dispatch)},
      {"env", c.env},
      {"ready_timeout", ms(c.ready_timeout)},
      {"kill_timeout", ms(c.kill_timeout)},
      {"heartbeat_timeout", ms(c.heartbeat_timeout)},
      {"restart", {ms(r.min_uptime), r.max_restarts, ms(r.backoff_initial), ms(r.backoff_max), r.backoff_factor,
                   ms(r.reset_after), opt_ms(r.delay)}},
      {"max_memory", opt(c.max_memory)},
      {"max_requests", opt(c.max_requests)},
      {"parallel", c.parallel},
      {"queue_size", c.queue_size},
      {"queue_timeout", ms(c.queue_timeout)},
      {"metrics_path", c.metrics_path},
      {"gauges", gauges},
      {"ready", static_cast<int>(c.ready)},
      {"ready_http_path", c.ready_http_path},
      {"interpreter", opt(c.interpreter)},
      {"wait_ready", c.wait_ready},
      {"shutdown_with_message", c.shutdown_with_message},
      {"stop_signal", c.stop_signal},
      {"autorestart", c.autorestart},
      {"stop_exit_codes", c.stop_exit_codes},
      {"namespace", c.ns},
      {"env_file", c.env_file},
      {"cron_restart", c.cron_restart},
      {"cron_zone", c.cron_zone == cron::Zone::local() ? 1 : 0},  // what an image before cron_tz names reads
      {"cron_tz", c.cron_zone.name()},
      {"watch", c.watch ? json{c.watch->paths, c.watch->ignore, ms(c.watch->delay)} : json(nullptr)},
      {"inherit_env", c.inherit_env},
      {"user", c.user},
      {"group", c.group},
      {"uid", opt(c.uid)},
      {"gid", opt(c.gid)},
      {"canary", canary_json(c.reload.canary)},
      {"autoscale", autoscale_json(c.autoscale)},
      {"logs", logs_json(c.logs)},
      {"at", loc(c.at)},
      {"listen_at", loc(c.listen_at)},
      {"run_at", loc(c.run_at)},
  };
}

config::AppConfig app_config_from_json(const json& j) {
  config::AppConfig c;
  c.name = j.at("name").get<std::string>();
  c.run = j.at("run").get<std::vector<std::string>>();
  c.cwd = j.at("cwd").get<std::string>();
  c.instances = j.at("instances").get<unsigned>();
  c.protocol = static_cast<config::Protocol>(j.at("protocol").get<int>());
  if (const json& l = j.at("listen"); !l.is_null()) c.listen = config::ListenAddr{l.at(0).get<std::string>(), l.at(1).get<uint16_t>()};
  c.dispatch = static_cast<config::Dispatch>(j.at("dispatch").get<int>());
  c.env = j.at("env").get<std::map<std::string, std::string>>();
  c.ready_timeout = ms_from(j.at("ready_timeout"));
  c.kill_timeout = ms_from(j.at("kill_timeout"));
  c.heartbeat_timeout = ms_from(j.at("heartbeat_timeout"));
  const json& r = j.at("restart");
  c.restart = {ms_from(r.at(0)), r.at(1).get<unsigned>(), ms_from(r.at(2)), ms_from(r.at(3)), r.at(4).get<double>(),
               ms_from(r.at(5)), opt_ms_from(r.at(6))};
  c.max_memory = opt_from<uint64_t>(j.at("max_memory"));
  c.max_requests = opt_from<uint64_t>(j.at("max_requests"));
  c.parallel = j.at("parallel").get<unsigned>();
  c.queue_size = j.at("queue_size").get<std::size_t>();
  c.queue_timeout = ms_from(j.at("queue_timeout"));
  c.metrics_path = j.at("metrics_path").get<std::string>();
  for (auto& [name, a] : j.at("gauges").items()) c.gauges[name] = static_cast<config::Aggregation>(a.get<int>());
  c.ready = static_cast<config::ReadyMode>(j.at("ready").get<int>());
  c.ready_http_path = j.at("ready_http_path").get<std::string>();
  c.interpreter = opt_from<std::vector<std::string>>(j.at("interpreter"));
  c.wait_ready = j.at("wait_ready").get<bool>();
  c.shutdown_with_message = j.at("shutdown_with_message").get<bool>();
  c.stop_signal = j.at("stop_signal").get<int>();
  c.autorestart = j.at("autorestart").get<bool>();
  c.stop_exit_codes = j.at("stop_exit_codes").get<std::vector<int>>();
  c.ns = j.at("namespace").get<std::string>();
  c.env_file = j.at("env_file").get<std::string>();
  c.cron_restart = j.at("cron_restart").get<std::string>();
  c.cron_zone = j.at("cron_zone").get<int>() == 1 ? cron::Zone::local() : cron::Zone::utc();
  if (j.contains("cron_tz")) {
    std::string why;
    auto zone = cron::Zone::parse(j.at("cron_tz").get<std::string>(), why);
    if (!zone) throw std::runtime_error("cron_tz: " + why);
    c.cron_zone = *zone;
  }
  if (const json& w = j.at("watch"); !w.is_null())
    c.watch = config::AppConfig::Watch{w.at(0).get<std::vector<std::string>>(), w.at(1).get<std::vector<std::string>>(),
                                       ms_from(w.at(2))};
  c.inherit_env = j.at("inherit_env").get<bool>();
  c.user = j.at("user").get<std::string>();
  c.group = j.at("group").get<std::string>();
  c.uid = opt_from<uint32_t>(j.at("uid"));
  c.gid = opt_from<uint32_t>(j.at("gid"));
  c.reload.canary = canary_from(j.at("canary"));
  c.autoscale = autoscale_from(j.at("autoscale"));
  c.logs = logs_from(j.at("logs"));
  c.at = loc_from(j.at("at"));
  c.listen_at = loc_from(j.at("listen_at"));
  c.run_at = loc_from(j.at("run_at"));
  return c;
}

json to_json(const MetricSnapshot& s) {
  json out = json::object();
  for (auto& [name, f] : s) {
    json series = json::object();
    for (auto& [labels, p] : f.series) {
      json buckets = json::array();
      for (auto& [le, n] : p.buckets) buckets.push_back({num(le), num(n)});
      series[labels] = {num(p.value), std::move(buckets), num(p.sum), num(p.count)};
    }
    out[name] = {static_cast<int>(f.type), f.help, std::move(series)};
  }
  return out;
}

MetricSnapshot snapshot_from_json(const json& j) {
  MetricSnapshot s;
  for (auto& [name, f] : j.items()) {
    MetricFamily fam;
    fam.type = static_cast<MetricType>(f.at(0).get<int>());
    fam.help = f.at(1).get<std::string>();
    for (auto& [labels, p] : f.at(2).items()) {
      MetricPoint pt;
      pt.value = num_from(p.at(0));
      for (const json& b : p.at(1)) pt.buckets.emplace_back(num_from(b.at(0)), num_from(b.at(1)));
      pt.sum = num_from(p.at(2));
      pt.count = num_from(p.at(3));
      fam.series.emplace(labels, std::move(pt));
    }
    s.emplace(name, std::move(fam));
  }
  return s;
}

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string unhex(std::string_view text) {
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw std::invalid_argument("not a hex digit");
  };
  if (text.size() % 2) throw std::invalid_argument("odd hex length");
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) out.push_back(static_cast<char>(val(text[i]) * 16 + val(text[i + 1])));
  return out;
}

}  // namespace rack::master::upgrade
