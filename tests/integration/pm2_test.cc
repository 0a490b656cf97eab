// PM2 habits under Rack: a node app's shutdown hooks and final metrics,
// scripts started without an ecosystem file, and PM2's own ecosystem files.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "harness.h"
#include "tools.h"

using namespace rack::test;
namespace fs = std::filesystem;

namespace {

std::string apps_dir() { return std::string(RACK_SOURCE_DIR) + "/tests/apps"; }

void need_node_modules() {
  if (!fs::exists(apps_dir() + "/node_modules/express"))
    FAIL("tests/apps/node_modules is missing: run `npm install` in tests/apps (scripts/test does)");
}

// The PM2-style Express app (tests/apps/pm2_express.js) as a Rack app.
std::string express_eco(const std::string& cleanup_dir, int instances) {
  return "rack:\n  admin: 127.0.0.1:0\napps:\n  - name: api\n    run: pm2_express.js\n    cwd: " + apps_dir() +
         "\n    protocol: node\n    listen: 127.0.0.1:0\n    wait_ready: true\n    ready_timeout: 30s\n    instances: " +
         std::to_string(instances) + "\n    env: {CLEANUP_DIR: " + cleanup_dir + "}\n";
}

std::set<pid_t> closed_pools(const std::string& dir) {
  std::set<pid_t> out;
  for (auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.starts_with("closed.")) out.insert(std::stoi(n.substr(7)));
  }
  return out;
}

}  // namespace

TEST_CASE("pm2: a node worker's counts since the last scrape reach rackd on reload, exactly") {
  need_node_modules();
  Rack rack;
  std::string cleanup = rack.home() + "/cleanup";
  fs::create_directories(cleanup);
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", express_eco(cleanup, 2))}).exit_code == 0);
  REQUIRE(rack.wait_ready("api", 2, 20s));
  auto at = rack.address("api");
  auto admin = rack.admin();
  const std::string series = R"(app_requests_total{app="api",route="/"})";
  auto merged = [&]() -> double {
    auto r = http_get(admin, "/metrics");
    return r.status == 200 ? metric_sample(r.body, series).value_or(0) : -1;
  };
  // 100 requests and no scrape in between: only the drained workers' final
  // snapshots can carry them.
  for (int i = 0; i < 100; ++i) REQUIRE(http_get(at, "/").status == 200);
  auto r = rack.ctl({"reload", "api"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(merged() == 100);

  // Under load: not one request fails, and the merged counter is exactly
  // what the clients were answered.
  {
    BothLoads load(at.first, at.second, 4, "/");
    auto r2 = rack.ctl({"reload", "api"});
    CHECK_MESSAGE(r2.exit_code == 0, r2.out << r2.err);
    load.finish();
    double served = 100 + load.ka.ok() + load.close.ok();
    // The last workers' counts arrive with the next scrape.
    CHECK_MESSAGE(wait_until([&] { return merged() == served; }, 10s), "merged " << merged() << " served " << served);
  }
}

TEST_CASE("pm2: process.on('SIGINT') cleanup runs on reload, scale-down and stop") {
  need_node_modules();
  Rack rack;
  std::string cleanup = rack.home() + "/cleanup";
  fs::create_directories(cleanup);
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", express_eco(cleanup, 2))}).exit_code == 0);
  REQUIRE(rack.wait_ready("api", 2, 20s));
  // PORT is the port rackd bound, not the 0 of listen: 127.0.0.1:0.
  auto at = rack.address("api");
  auto body = nlohmann::json::parse(http_get(at, "/").body);
  CHECK(body["port"] == std::to_string(at.second));

  auto first = rack.pids("api");
  REQUIRE(rack.ctl({"reload", "api"}).exit_code == 0);
  REQUIRE(wait_until([&] { return closed_pools(cleanup).size() == 2; }, 10s));
  for (pid_t p : first) CHECK(closed_pools(cleanup).count(p) == 1);

  auto second = rack.pids("api");
  REQUIRE(second.size() == 2);
  REQUIRE(rack.ctl({"scale", "api", "1"}).exit_code == 0);
  REQUIRE(wait_until([&] { return closed_pools(cleanup).size() == 3; }, 10s));

  auto last = rack.pids("api");
  REQUIRE(last.size() == 1);
  REQUIRE(rack.ctl({"stop", "api"}).exit_code == 0);
  REQUIRE(wait_until([&] { return closed_pools(cleanup).count(last[0]) == 1; }, 10s));
  CHECK(closed_pools(cleanup).size() == 4);
}

TEST_CASE("pm2: rackctl start server.js -i 2 --name --listen --env-var -- args, and start app.py") {
  Rack rack;
  // An ecosystem first, so rackd's admin listener is on a free port.
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("hello", 1))}).exit_code == 0);
  std::string dir = rack.home() + "/proj";
  fs::create_directories(dir);
  std::ofstream(dir + "/server.js") << "const http = require('http');\n"
                                       "http.createServer((req, res) => res.end(JSON.stringify({argv: process.argv.slice(2), "
                                       "greeting: process.env.GREETING, slot: process.env.NODE_APP_INSTANCE})))"
                                       ".listen(Number(process.env.PORT));\n";
  auto r = run({"/bin/sh", "-c", "cd " + dir + " && RACK_HOME=" + rack.home() + " " + bin("rackctl") +
                                     " start server.js -i 2 --name api --listen 127.0.0.1:0 --env-var GREETING=hi"
                                     " -- --flag value"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  REQUIRE(rack.wait_ready("api", 2, 20s));
  CHECK(rack.app("api")["protocol"] == "node");
  auto body = nlohmann::json::parse(http_get(rack.address("api"), "/").body);
  CHECK(body["argv"] == nlohmann::json::array({"--flag", "value"}));
  CHECK(body["greeting"] == "hi");

  // A python script: its interpreter by extension, no --listen: fork mode.
  std::ofstream(dir + "/app.py") << "import time\nprint('py up', flush=True)\ntime.sleep(60)\n";
  r = run({"/bin/sh", "-c", "cd " + dir + " && RACK_HOME=" + rack.home() + " " + bin("rackctl") + " start app.py"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(wait_until([&] { return rack.ctl({"logs", "app", "-n", "5"}).out.find("py up") != std::string::npos; }, 10s));
  CHECK(rack.app("app")["protocol"] == "none");

  // -i 2 with no --listen: cluster mode on the port the app asks for.
  int port = free_port();
  r = run({"/bin/sh", "-c", "cd " + dir + " && RACK_HOME=" + rack.home() + " " + bin("rackctl") +
                                " start server.js -i 2 --name two --env-var PORT=" + std::to_string(port)});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  REQUIRE(rack.wait_ready("two", 2, 20s));
  CHECK(rack.app("two")["protocol"] == "node");
  CHECK(rack.app("two")["listen"] == "0.0.0.0:" + std::to_string(port));
  CHECK(http_get({"127.0.0.1", port}, "/").status == 200);

  // Mistakes are usage errors that start nothing.
  r = run({"/bin/sh", "-c", "cd " + dir + " && RACK_HOME=" + rack.home() + " " + bin("rackctl") + " start missing.py"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("script \"missing.py\" not found") != std::string::npos);
}

TEST_CASE("pm2: rackctl start <script> -- args passes them on with no --env-var before the --") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("hello", 1))}).exit_code == 0);
  std::string dir = rack.home() + "/proj";
  fs::create_directories(dir + "/bin");
  std::ofstream(dir + "/exe.js") << "const http = require('http');\n"
                                    "http.createServer((req, res) => res.end(JSON.stringify(process.argv.slice(2))))"
                                    ".listen(Number(process.env.PORT));\n";
  auto start = [&](const std::string& args) {
    return run({"/bin/sh", "-c", "cd " + dir + " && RACK_HOME=" + rack.home() + " " + bin("rackctl") + " start " + args});
  };
  // As docs/pm2-migration.md writes it: the options, then -- and the app's own.
  auto r = start("exe.js -i 2 --name api --listen 127.0.0.1:0 -- --flag value");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  REQUIRE(rack.wait_ready("api", 2, 20s));
  CHECK(nlohmann::json::parse(http_get(rack.address("api"), "/").body) == nlohmann::json::array({"--flag", "value"}));

  // An executable of any kind; rackctl's own options after -- are the app's.
  std::ofstream(dir + "/bin/server") << "#!/bin/sh\necho \"server args: $*\"\nexec sleep 60\n";
  fs::permissions(dir + "/bin/server", fs::perms::owner_all);
  r = start("./bin/server -- a b");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(wait_until([&] { return rack.ctl({"logs", "server", "-n", "5"}).out.find("server args: a b") != std::string::npos; }, 10s));
  r = start("./bin/server --name opts --env-var A=1 -- -i 3 --name x");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(wait_until([&] { return rack.ctl({"logs", "opts", "-n", "5"}).out.find("server args: -i 3 --name x") != std::string::npos; }, 10s));
  CHECK(rack.app("opts")["instances"] == 1);

  // An ecosystem file takes no arguments; an unknown option is not passed on.
  r = start(rack.home() + "/eco.yaml -- x");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("unexpected argument \"x\"") != std::string::npos);
  r = start("./bin/server --bogus");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--bogus") != std::string::npos);
}

TEST_CASE("pm2: shutdown_with_message: true runs the app's 'shutdown' message handler on reload and stop, no signal") {
  Rack rack;
  std::string marks = rack.home() + "/marks";
  fs::create_directories(marks);
  // PM2's hook for platforms without signals: process.on('message') for
  // 'shutdown'. A SIGINT (the default stop signal) would leave its own mark.
  std::string app = rack.write_file("bye.js", R"(const fs = require('fs');
const http = require('http');
const mark = (what) => fs.writeFileSync(`${process.env.MARK_DIR}/${what}.${process.pid}`, what + '\n');
const server = http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT));
process.on('message', (message) => {
  if (message !== 'shutdown') return;
  mark('shutdown');
  server.close(() => process.exit(0));
});
process.on('SIGINT', () => mark('sigint'));
)");
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml",
                                              "rack:\n  admin: 127.0.0.1:0\napps:\n  - name: bye\n    run: " + app +
                                                  "\n    protocol: node\n    listen: 127.0.0.1:0\n    instances: 2\n"
                                                  "    shutdown_with_message: true\n    kill_timeout: 10s\n"
                                                  "    env: {MARK_DIR: " + marks + "}\n")})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("bye", 2, 20s));
  auto marked = [&](const std::string& what, pid_t pid) {
    return fs::exists(marks + "/" + what + "." + std::to_string(pid));
  };
  auto first = rack.pids("bye");
  REQUIRE(first.size() == 2);
  auto r = rack.ctl({"reload", "bye"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  // Well before kill_timeout, which would send SIGINT next.
  for (pid_t p : first) CHECK_MESSAGE(wait_until([&] { return marked("shutdown", p); }, 5s), "reload: no 'shutdown' in " << p);

  auto second = rack.pids("bye", "ready");  // the old ones may still be listed, exiting
  REQUIRE(second.size() == 2);
  r = rack.ctl({"stop", "bye"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  for (pid_t p : second) {
    CHECK_MESSAGE(wait_until([&] { return marked("shutdown", p); }, 5s), "stop: no 'shutdown' in " << p);
    CHECK(wait_until([&] { return !pid_alive(p); }, 5s));
  }
  for (pid_t p : first) CHECK_FALSE(marked("sigint", p));
  for (pid_t p : second) CHECK_FALSE(marked("sigint", p));
}
