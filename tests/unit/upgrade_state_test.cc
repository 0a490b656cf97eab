// The pure parts of rackd's upgrade (master/upgrade/): the config and
// metrics codecs of the state, and the binary checks.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "upgrade/binary_check.h"
#include "upgrade/config_json.h"
#include "upgrade/state.h"

using namespace rack;
using namespace rack::master;
using nlohmann::json;

namespace {

// Every field away from its default, so a field the codec forgets shows.
config::AppConfig unusual() {
  config::AppConfig c;
  c.name = "web";
  c.run = {"/usr/bin/app", "--flag", "a b"};
  c.cwd = "/srv/web";
  c.instances = 7;
  c.protocol = config::Protocol::Node;
  c.listen = config::ListenAddr{"::1", 8443};
  c.dispatch = config::Dispatch::LeastConnections;
  c.env = {{"A", "1"}, {"B", "two words"}};
  c.ready_timeout = config::Duration(1234);
  c.kill_timeout = config::Duration(2345);
  c.heartbeat_timeout = config::Duration(3456);
  c.restart = {config::Duration(11), 3, config::Duration(22), config::Duration(33), 2.5, config::Duration(44), std::nullopt};
  c.max_memory = 512ull << 20;
  c.max_requests = 99;
  c.parallel = 2;
  c.queue_size = 17;
  c.queue_timeout = config::Duration(555);
  c.metrics_path = "/metrics";
  c.gauges = {{"lag", config::Aggregation::Max}, {"conns", config::Aggregation::Avg}};
  c.ready = config::ReadyMode::Http;
  c.ready_http_path = "/ready";
  c.interpreter = std::vector<std::string>{"python3", "-u"};
  c.wait_ready = true;
  c.shutdown_with_message = true;
  c.stop_signal = 10;
  c.restart.delay = config::Duration(250);
  c.autorestart = false;
  c.stop_exit_codes = {0, 3};
  c.ns = "shop";
  c.env_file = "/srv/web/.env";
  c.cron_restart = "0 3 * * *";
  c.cron_zone = cron::Zone::local();
  c.watch = config::AppConfig::Watch{{"/srv/web/src"}, {"*.tmp"}, config::Duration(1500)};
  c.logs = {"/var/log/web", 1234567, 9, false, false, config::OnFull::Drop, config::Duration(60000),
            config::Duration(86400000), 777, 1001u, 1002u, false, "%F %T.%L %z"};
  c.inherit_env = false;
  c.user = "web";
  c.group = "www";
  c.uid = 1001;
  c.gid = 1002;
  c.reload.canary = config::CanaryConfig{2, config::Duration(4000), 0.1, 3.0};
  c.autoscale = config::AutoscaleConfig{2, 16, config::ScaleMetric::Queue, 10, config::Duration(2000),
                                        config::Duration(9000)};
  c.at = {"/etc/eco.yaml", 3, 5, "apps[0]"};
  c.listen_at = {"/etc/eco.yaml", 7, 13, "apps[0].listen"};
  c.run_at = {"/etc/eco.yaml", 4, 10, "apps[0].run"};
  return c;
}

std::string head_of(const char* path) {
  std::ifstream f(path, std::ios::binary);
  std::string h(64, '\0');
  f.read(h.data(), 64);
  h.resize(static_cast<std::size_t>(f.gcount()));
  return h;
}

}  // namespace

TEST_CASE("upgrade state: an app config survives the round trip, every field") {
  config::AppConfig c = unusual();
  json once = upgrade::to_json(c);
  config::AppConfig back = upgrade::app_config_from_json(json::parse(once.dump()));
  CHECK(upgrade::to_json(back) == once);
  CHECK(back.listen->host == "::1");
  CHECK(back.restart.backoff_factor == 2.5);
  CHECK(back.logs.on_full == config::OnFull::Drop);
  CHECK(back.interpreter->at(1) == "-u");
  CHECK(back.watch->ignore.at(0) == "*.tmp");
  CHECK(*back.restart.delay == config::Duration(250));
  CHECK(back.cron_zone == cron::Zone::local());
  CHECK(!back.inherit_env);
  CHECK(back.user == "web");
  CHECK(*back.gid == 1002);
  CHECK(*back.logs.owner_uid == 1001);
  CHECK(!back.logs.files);
  CHECK(back.logs.date_format == "%F %T.%L %z");
  CHECK(back.reload.canary->slots == 2);
  CHECK(back.reload.canary->max_latency_factor == 3.0);
  CHECK(back.autoscale->max == 16);
  CHECK(back.autoscale->metric == config::ScaleMetric::Queue);
  CHECK(back.autoscale->cooldown == config::Duration(9000));
  // Unset optionals stay unset.
  config::AppConfig plain;
  plain.name = "p";
  auto p = upgrade::app_config_from_json(upgrade::to_json(plain));
  CHECK(!p.listen);
  CHECK(!p.max_memory);
  CHECK(!p.interpreter);
  CHECK(!p.logs.rotate_every);
  CHECK(!p.watch);
  CHECK(!p.restart.delay);
  CHECK(!p.reload.canary);
  CHECK(!p.autoscale);
  CHECK(!p.uid);
  CHECK(p.inherit_env);
  CHECK(p.logs.files);
  CHECK(p.logs.date_format.empty());
}

TEST_CASE("upgrade state: a missing field is an error, not a default") {
  json j = upgrade::to_json(unusual());
  j.erase("kill_timeout");
  CHECK_THROWS(upgrade::app_config_from_json(j));
}

TEST_CASE("upgrade state: metric snapshots keep +Inf buckets and NaN") {
  std::string err;
  auto snap = parse_exposition(
      "# TYPE d histogram\nd_bucket{le=\"0.1\"} 1\nd_bucket{le=\"+Inf\"} 3\nd_sum 0.7\nd_count 3\n"
      "# TYPE g gauge\ng NaN\n# TYPE c counter\nc_total{a=\"x\"} 12\n",
      err);
  REQUIRE_MESSAGE(snap, err);
  MetricSnapshot back = upgrade::snapshot_from_json(json::parse(upgrade::to_json(*snap).dump()));
  REQUIRE(back.count("d"));
  const MetricPoint& d = back.at("d").series.begin()->second;
  REQUIRE(d.buckets.size() == 2);
  CHECK(std::isinf(d.buckets[1].first));
  CHECK(d.buckets[1].second == 3);
  CHECK(d.count == 3);
  CHECK(std::isnan(back.at("g").series.begin()->second.value));
  CHECK(upgrade::to_json(back) == upgrade::to_json(*snap));
}

TEST_CASE("upgrade state: hex is lossless for any byte, and refuses garbage") {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  CHECK(upgrade::unhex(upgrade::hex(bytes)) == bytes);
  CHECK_THROWS(upgrade::unhex("abc"));
  CHECK_THROWS(upgrade::unhex("zz"));
}

TEST_CASE("upgrade binary check: ELF class, byte order and machine are compared with rackd's own") {
  std::string self = head_of("/proc/self/exe");
  REQUIRE(self.size() >= 20);
  CHECK(upgrade::elf_mismatch(self, self) == "");
  CHECK(upgrade::elf_mismatch("#!/bin/sh\nexit 0\n", self) == "not an ELF executable");
  CHECK(upgrade::elf_mismatch("", self) == "not an ELF executable");
  std::string other = self;
  other[18] = static_cast<char>(other[18] ^ 0x7f);  // e_machine
  CHECK(upgrade::elf_mismatch(other, self).find("another architecture") != std::string::npos);
  std::string thirty_two = self;
  thirty_two[4] = 1;  // ELFCLASS32
  CHECK(upgrade::elf_mismatch(thirty_two, self).find("32-bit") != std::string::npos);
  std::string object = self;
  object[16] = 1, object[17] = 0;  // ET_REL, little-endian
  if (self[5] == 1) CHECK(upgrade::elf_mismatch(object, self).find("not an executable") != std::string::npos);
}

TEST_CASE("upgrade binary check: the state versions a --version line reads") {
  CHECK(upgrade::state_versions_read(upgrade::version_line()) == std::vector<int>{upgrade::kStateVersion});
  CHECK(upgrade::state_versions_read("rackd 0.3.0 (git x) reads state 1,2,3") == std::vector<int>{1, 2, 3});
  CHECK(upgrade::state_versions_read("rackd 0.0.9 (git x)").empty());
  CHECK(upgrade::state_versions_read("rackd x reads state junk").empty());
  CHECK(upgrade::version_line().rfind("rackd ", 0) == 0);
}

TEST_CASE("upgrade binary check: relative, missing and non-executable paths are refused with the reason") {
  std::string err;
  CHECK(!upgrade::check_binary("rackd", err));
  CHECK(err.find("absolute") != std::string::npos);
  CHECK(!upgrade::check_binary("/nonexistent/rackd", err));
  CHECK(err.find("No such file") != std::string::npos);
  char tmpl[] = "/tmp/rack-upgrade-test-XXXXXX";
  int fd = ::mkstemp(tmpl);
  REQUIRE(fd >= 0);
  ::fchmod(fd, 0644);
  ::close(fd);
  CHECK(!upgrade::check_binary(tmpl, err));
  ::unlink(tmpl);
  CHECK(err.find("not executable") != std::string::npos);
  CHECK(!upgrade::check_binary("/tmp", err));
  CHECK(err.find("not a regular file") != std::string::npos);
}
