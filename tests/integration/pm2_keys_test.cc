// PM2's restart keys under the real rackd: autorestart: false,
// stop_exit_codes, restart.delay; namespace in status; env_file; and all of
// them in `rackctl describe`.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "harness.h"

using namespace rack::test;

namespace {

// How many times `word` appears in an app's recent log lines.
size_t count_in_logs(Rack& rack, const std::string& app, const std::string& word) {
  std::string out = rack.ctl({"logs", app, "-n", "200"}).out;
  size_t n = 0;
  for (size_t at = out.find(word); at != std::string::npos; at = out.find(word, at + 1)) ++n;
  return n;
}

json worker0(Rack& rack, const std::string& app) {
  json a = rack.app(app);
  return a.contains("workers") && !a["workers"].empty() ? a["workers"][0] : json::object();
}

}  // namespace

TEST_CASE("pm2 keys: autorestart false and stop_exit_codes keep a worker down, others restart, restart runs it again") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml",
      "rack:\n  admin: 127.0.0.1:0\napps:\n"
      "  - {name: once, run: [sh, -c, 'echo ran-once; sleep 0.3; exit 1'], autorestart: false, namespace: jobs,\n"
      "     restart: {min_uptime: 100ms}}\n"
      "  - {name: done, run: [sh, -c, 'echo ran-done; sleep 0.3; exit 3'], stop_exit_codes: [0, 3],\n"
      "     restart: {min_uptime: 100ms}}\n"
      "  - {name: again, run: [sh, -c, 'echo ran-again; sleep 0.3; exit 1'], stop_exit_codes: [3],\n"
      "     restart: {min_uptime: 100ms}}\n");
  REQUIRE(rack.ctl({"start", eco, "--no-wait"}).exit_code == 0);
  REQUIRE(wait_until([&] { return worker0(rack, "once").value("state", "") == "errored"; }, 10s));
  REQUIRE(wait_until([&] { return worker0(rack, "done").value("state", "") == "errored"; }, 10s));
  CHECK(wait_until([&] { return worker0(rack, "again").value("restarts", 0) >= 2; }, 10s));
  CHECK(worker0(rack, "once")["last_exit"].get<std::string>().find("not restarted (autorestart: false)") != std::string::npos);
  CHECK(worker0(rack, "done")["last_exit"].get<std::string>().find("exit code 3 is in stop_exit_codes") !=
        std::string::npos);
  // Meant to stay down: stopped, not errored, and the probe agrees.
  CHECK(rack.app("once")["status"] == "stopped");
  CHECK(rack.app("once")["namespace"] == "jobs");
  CHECK(rack.app("done")["namespace"] == "default");
  std::this_thread::sleep_for(1s);  // long enough for several restarts, had there been any
  CHECK(count_in_logs(rack, "once", "ran-once") == 1);
  CHECK(count_in_logs(rack, "done", "ran-done") == 1);
  CHECK(worker0(rack, "once").value("restarts", -1) == 0);

  REQUIRE(rack.ctl({"restart", "once"}).exit_code == 0);
  CHECK(wait_until([&] { return count_in_logs(rack, "once", "ran-once") == 2; }, 10s));
}

TEST_CASE("pm2 keys: restart.delay spaces every restart out, env_file reaches the worker") {
  Rack rack;
  rack.write_file(".env", "# shared\nexport FROM_FILE=file-value\nOVERRIDDEN=file\n");
  std::string eco = rack.write_file(
      "eco.yaml",
      "rack:\n  admin: 127.0.0.1:0\napps:\n"
      "  - {name: slow, run: [sh, -c, 'echo start-slow; exit 1'], restart: {delay: 1s, max_restarts: 100}}\n"
      "  - {name: fast, run: [sh, -c, 'echo start-fast; exit 1'], restart: {max_restarts: 100}}\n"
      "  - name: envy\n    run: [sh, -c, 'echo \"v=$FROM_FILE o=$OVERRIDDEN\"; sleep 30']\n"
      "    env_file: .env\n    env: {OVERRIDDEN: env}\n");
  REQUIRE(rack.ctl({"start", eco, "--no-wait"}).exit_code == 0);
  std::this_thread::sleep_for(2500ms);
  // 2.5 s: with a 1 s delay at most 4 starts; the backoff (100 ms x 1.5)
  // gives 6 or more in the same time.
  size_t slow = count_in_logs(rack, "slow", "start-slow"), fast = count_in_logs(rack, "fast", "start-fast");
  CHECK_MESSAGE(slow >= 2, slow);
  CHECK_MESSAGE(slow <= 4, slow);
  CHECK_MESSAGE(fast > slow, "fast " << fast << " slow " << slow);
  CHECK(wait_until([&] { return count_in_logs(rack, "envy", "v=file-value o=env") == 1; }, 10s));
}

TEST_CASE("pm2 keys: cron_restart reloads at the schedule's times") {
  Rack rack;
  // Every 2 s (6 fields: seconds first), so the test sees two reloads.
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                                                    hello_app("cron", 1, "    cron_restart: '*/2 * * * * *'\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  uint64_t first = rack.app("cron")["generation"].get<uint64_t>();
  CHECK(wait_until([&] { return rack.app("cron")["generation"].get<uint64_t>() >= first + 2; }, 15s));
  CHECK(rack.wait_ready("cron", 1, 10s));
  // A bad schedule is a config error naming the field.
  auto r = rack.ctl({"start", rack.write_file("bad.yaml", "apps:\n" + hello_app("bad", 1, "    cron_restart: '0 25 * * *'\n"))});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("cron_restart: expected a cron schedule like \"0 3 * * *\": field 2 (hour): 25 is out of range 0-23") !=
        std::string::npos);
}

TEST_CASE("pm2 keys: watch reloads once after a change settles, ignores what watch.ignore names") {
  Rack rack;
  std::string src = rack.home() + "/src";
  std::filesystem::create_directories(src + "/lib");
  std::filesystem::create_directories(src + "/node_modules/dep");
  std::ofstream(src + "/lib/a.js") << "1\n";
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                      hello_app("watched", 1, "    watch: {paths: [" + src + "], ignore: [node_modules, '*.tmp'], delay: 300ms}\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  uint64_t first = rack.app("watched")["generation"].get<uint64_t>();
  auto generation = [&] { return rack.app("watched")["generation"].get<uint64_t>(); };
  std::ofstream(src + "/scratch.tmp") << "x\n";
  std::ofstream(src + "/node_modules/dep/index.js") << "x\n";
  std::this_thread::sleep_for(1200ms);
  CHECK(generation() == first);
  // Several writes in a burst: one reload.
  for (int i = 0; i < 5; ++i) std::ofstream(src + "/lib/a.js") << i << "\n";
  REQUIRE(wait_until([&] { return generation() == first + 1; }, 10s));
  std::this_thread::sleep_for(1000ms);
  CHECK(generation() == first + 1);
  REQUIRE(rack.wait_ready("watched", 1, 10s));
  // A directory made after the start is watched too.
  std::filesystem::create_directories(src + "/lib/new");
  REQUIRE(wait_until([&] { return generation() == first + 2; }, 10s));
  REQUIRE(rack.wait_ready("watched", 1, 10s));
  std::this_thread::sleep_for(500ms);
  std::ofstream(src + "/lib/new/b.js") << "b\n";
  CHECK(wait_until([&] { return generation() == first + 3; }, 10s));
}

TEST_CASE("pm2 keys: rackctl describe shows namespace, stop, restart keys, max_memory, cron, watch and each slot's use") {
  Rack rack;
  std::string src = rack.home() + "/src";
  std::filesystem::create_directories(src);
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                      hello_app("web", 2,
                                "    namespace: billing\n    stop_signal: SIGQUIT\n    autorestart: false\n"
                                "    stop_exit_codes: [0, 3]\n    restart: {delay: 250ms}\n    max_memory: 300M\n"
                                "    cron_restart: '0 3 * * *'\n    cron_tz: Europe/Berlin\n"
                                "    watch: {paths: [" + src + "], ignore: [node_modules], delay: 2s}\n") +
                      hello_app("plain", 1));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  // rackd samples /proc on its tick: wait for a memory figure.
  auto described = [&](const std::string& app) { return json::parse(rack.ctl({"describe", app, "--json"}).out); };
  REQUIRE(wait_until([&] { return described("web")["slots"][1].value("rss_bytes", 0) > 0; }, 10s));

  std::string out = rack.ctl({"describe", "web"}).out;
  CHECK_MESSAGE(out.find("namespace    billing\n") != std::string::npos, out);
  CHECK(out.find("stop         SIGQUIT, then SIGKILL after kill_timeout\n") != std::string::npos);
  CHECK(out.find("autorestart  no (autorestart: false); not after exit codes 0, 3 (stop_exit_codes)\n") != std::string::npos);
  CHECK(out.find(", delay 250ms before each\n") != std::string::npos);
  CHECK(out.find("max_memory   300.0mb (then replaced gracefully)\n") != std::string::npos);
  CHECK(out.find("cron_restart 0 3 * * * (Europe/Berlin): a graceful reload\n") != std::string::npos);
  CHECK(out.find("watch        " + src + "; ignore node_modules; delay 2s: a graceful reload\n") != std::string::npos);
  for (const char* slot : {"  0  pid ", "  1  pid "}) {
    auto at = out.find(slot);
    REQUIRE_MESSAGE(at != std::string::npos, out);
    std::string line = out.substr(at, out.find('\n', at) - at);
    CHECK_MESSAGE(line.find("ready  generation 1  restarts 0  up ") != std::string::npos, line);
    CHECK_MESSAGE(line.find("  cpu ") != std::string::npos, line);
    CHECK_MESSAGE(line.find("%  mem ") != std::string::npos, line);
  }

  json j = described("web");
  CHECK(j["namespace"] == "billing");
  CHECK(j["stop_signal"] == "SIGQUIT");
  CHECK(j["shutdown_with_message"] == false);
  CHECK(j["autorestart"] == false);
  CHECK(j["stop_exit_codes"] == json::array({0, 3}));
  CHECK(j["restart"]["delay_ms"] == 250);
  CHECK(j["max_memory"] == (300ull << 20));
  CHECK(j["cron_restart"] == json{{"schedule", "0 3 * * *"}, {"tz", "Europe/Berlin"}});
  CHECK(j["watch"] == json{{"paths", json::array({src})}, {"ignore", json::array({"node_modules"})}, {"delay_ms", 2000}});
  for (const json& s : j["slots"]) {
    CHECK(s["generation"] == 1);
    CHECK(s["cpu_percent"].is_number());
    CHECK(s["rss_bytes"].get<uint64_t>() > 0);
  }

  // The defaults are shown too, as such.
  j = described("plain");
  CHECK(j["namespace"] == "default");
  CHECK(j["stop_signal"] == "SIGTERM");  // SIGINT for node apps
  CHECK(j["autorestart"] == true);
  CHECK(j["stop_exit_codes"] == json::array());
  CHECK(j["restart"]["delay_ms"].is_null());
  CHECK(j["max_memory"].is_null());
  CHECK(j["cron_restart"].is_null());
  CHECK(j["watch"].is_null());
  out = rack.ctl({"describe", "plain"}).out;
  CHECK(out.find("autorestart  yes\n") != std::string::npos);
  CHECK(out.find("max_memory   none\n") != std::string::npos);
  CHECK(out.find("cron_restart none\n") != std::string::npos);
  CHECK(out.find("watch        off\n") != std::string::npos);
}
