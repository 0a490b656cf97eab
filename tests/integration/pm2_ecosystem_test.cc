// PM2's own ecosystem files under Rack: ecosystem.config.js evaluated by
// node, .json, PM2's YAML shape, `--env <name>`, warnings for keys Rack
// does not take, and `rackctl convert`.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "harness.h"
#include "tools.h"

using namespace rack::test;
namespace fs = std::filesystem;

namespace {

// rackctl run from `dir`, as a PM2 user types it.
RunResult ctl_in(Rack& rack, const std::string& dir, const std::string& args) {
  return run({"/bin/sh", "-c", "cd " + dir + " && RACK_HOME=" + rack.home() + " " + bin("rackctl") + " " + args});
}

// A project with a node server that reports its environment.
std::string project(Rack& rack) {
  std::string dir = rack.home() + "/proj";
  fs::create_directories(dir + "/src");
  std::ofstream(dir + "/src/server.js")
      << "const http = require('http');\n"
         "http.createServer((req, res) => res.end(JSON.stringify({greeting: process.env.GREETING, "
         "env: process.env.NODE_ENV, argv: process.argv.slice(2), cwd: process.cwd()})))"
         ".listen(Number(process.env.PORT));\n";
  return dir;
}

// Rack's own ecosystem first, so rackd's admin listener is on a free port.
void start_rackd(Rack& rack) {
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("hello", 1))})
              .exit_code == 0);
}

}  // namespace

TEST_CASE("pm2: rackctl start ecosystem.config.js --env production, unchanged, from another directory") {
  Rack rack;
  start_rackd(rack);
  std::string dir = project(rack);
  int port = free_port();
  // What PM2 users write: computed values, a require, console output while
  // it loads, env_production, and keys Rack does not take.
  std::ofstream(dir + "/ecosystem.config.js")
      << "const path = require('path');\n"
         "console.log('loading the config');\n"
         "module.exports = {\n"
         "  apps: [{\n"
         "    name: 'api',\n"
         "    script: path.join('src', 'server.js'),\n"
         "    args: ['--mode', 'pm2'],\n"
         "    instances: 2,\n"
         "    exec_mode: 'cluster',\n"
         "    kill_timeout: 3000,\n"
         "    pid_file: '/tmp/api.pid',\n"
         "    env: { NODE_ENV: 'development', GREETING: 'dev', PORT: " << port << " },\n"
         "    env_production: { NODE_ENV: 'production', GREETING: 'prod' },\n"
         "  }],\n"
         "  deploy: { production: { user: 'node' } },\n"
         "};\n";
  auto r = ctl_in(rack, rack.home(), "start proj/ecosystem.config.js --env production");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(r.err.find("warning: ecosystem.config.js: apps[0] (api): pid_file: not supported by Rack") != std::string::npos);
  CHECK(r.err.find("warning: ecosystem.config.js: deploy:") != std::string::npos);
  CHECK(r.err.find("loading the config") != std::string::npos);  // the file's own output, shown, not parsed
  REQUIRE(rack.wait_ready("api", 2, 20s));
  auto app = rack.app("api");
  CHECK(app["protocol"] == "node");
  CHECK(app["instances"] == 2);
  auto body = nlohmann::json::parse(http_get({"127.0.0.1", port}, "/").body);
  CHECK(body["greeting"] == "prod");
  CHECK(body["env"] == "production");
  CHECK(body["argv"] == nlohmann::json::array({"--mode", "pm2"}));
  CHECK(fs::equivalent(body["cwd"].get<std::string>(), dir));  // cwd: the PM2 file's directory

  // reload with the other environment: the same file, env alone.
  r = ctl_in(rack, dir, "reload ecosystem.config.js");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(wait_until([&] {
    auto res = http_get({"127.0.0.1", port}, "/");
    return res.status == 200 && nlohmann::json::parse(res.body, nullptr, false).value("greeting", "") == "dev";
  }, 20s));
}

TEST_CASE("pm2: a PM2 file that node cannot evaluate, or that maps to nothing runnable, starts nothing") {
  Rack rack;
  start_rackd(rack);
  std::string dir = project(rack);
  std::ofstream(dir + "/bad.config.js") << "module.exports = { apps: [ { name: 'x', script: 'src/server.js' } ;\n";
  auto r = ctl_in(rack, dir, "start bad.config.js");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("bad.config.js: node could not evaluate it") != std::string::npos);
  CHECK(r.err.find("SyntaxError") != std::string::npos);

  std::ofstream(dir + "/throws.config.js") << "throw new Error('no DATABASE_URL');\n";
  r = ctl_in(rack, dir, "start throws.config.js");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no DATABASE_URL") != std::string::npos);

  // Cluster mode with no port is fine for node (rackd binds what the app
  // asks for), not for a program rackd must hand a bound socket.
  std::ofstream(dir + "/cluster.config.js") << "module.exports = {apps: [{name: 'c', script: 'src/worker.py', instances: 4}]};\n";
  r = ctl_in(rack, dir, "start cluster.config.js");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("apps[0] (c): exec_mode: cluster mode with several instances of a program that is not node needs "
                   "the port") != std::string::npos);

  // Maps, but the loader refuses it: the message names the PM2 file.
  std::ofstream(dir + "/missing.config.js") << "module.exports = {apps: [{name: 'm', script: 'nope.js'}]};\n";
  r = ctl_in(rack, dir, "start missing.config.js");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("missing.config.js") != std::string::npos);
  CHECK(r.err.find("script \"nope.js\" not found") != std::string::npos);
  CHECK(rack.status()["apps"].size() == 1);  // only hello
}

TEST_CASE("pm2: .json and PM2's YAML shape start too, and rackctl convert prints the ecosystem.yaml") {
  Rack rack;
  start_rackd(rack);
  std::string dir = project(rack);
  std::ofstream(dir + "/ecosystem.json")
      << R"({"apps": [{"name": "fromjson", "script": "src/server.js", "env": {"PORT": )" << free_port()
      << R"(, "GREETING": "json"}, "max_memory_restart": "200M"}]})";
  auto r = ctl_in(rack, dir, "start ecosystem.json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(rack.wait_ready("fromjson", 1, 20s));

  std::ofstream(dir + "/process.yml") << "apps:\n  - name: fromyaml\n    script: src/server.js\n    env:\n      PORT: "
                                      << free_port() << "\n";
  r = ctl_in(rack, dir, "start process.yml");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(rack.wait_ready("fromyaml", 1, 20s));

  // convert: stdout is an ecosystem.yaml that rackctl starts as it is.
  r = ctl_in(rack, dir, "convert ecosystem.json --output rack.yaml");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::string yaml = read_text(dir + "/rack.yaml");
  CHECK(yaml.find("max_memory: 200M") != std::string::npos);
  CHECK(yaml.find("run: [src/server.js]") != std::string::npos);
  r = ctl_in(rack, dir, "convert ecosystem.json");
  CHECK(r.exit_code == 0);
  CHECK(r.out == yaml);
  r = ctl_in(rack, dir, "delete fromjson");
  REQUIRE(r.exit_code == 0);
  r = ctl_in(rack, dir, "start rack.yaml");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(rack.wait_ready("fromjson", 1, 20s));
  r = ctl_in(rack, dir, "convert nothere.config.js");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("nothere.config.js: no such file") != std::string::npos);
}

TEST_CASE("pm2: the examples of docs/pm2-migration.md run as written") {
  Rack rack;
  start_rackd(rack);
  std::string dir = rack.home() + "/docproj";
  fs::create_directories(dir + "/src");
  std::string port = std::to_string(free_port());
  std::ofstream(dir + "/src/server.js") << doc_block("pm2-migration.md", "src/server.js");
  std::ofstream(dir + "/ecosystem.config.js") << with_replaced(doc_block("pm2-migration.md", "ecosystem.config.js"), "3000", port);
  auto r = ctl_in(rack, dir, "start ecosystem.config.js --env production");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK_MESSAGE(r.err.find("warning") == std::string::npos, r.err);  // every key of the example maps
  REQUIRE(rack.wait_ready("api", 2, 20s));
  CHECK(rack.app("api")["protocol"] == "node");
  CHECK(http_get({"127.0.0.1", std::stoi(port)}, "/").body == "hello from production\n");

  r = ctl_in(rack, dir, "convert ecosystem.config.js --env production");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out == with_replaced(doc_block("pm2-migration.md", "convert --env production"), "3000", port));
}

TEST_CASE("pm2: the Express example of docs/pm2-migration.md serves env_production, counts exactly, runs its SIGINT hook") {
  std::string apps = std::string(RACK_SOURCE_DIR) + "/tests/apps";
  if (!fs::exists(apps + "/node_modules/express") || !fs::exists(apps + "/node_modules/prom-client"))
    FAIL("tests/apps/node_modules is missing: run `npm install` in tests/apps (scripts/test does)");
  // The documented app is the one the other PM2 tests run.
  CHECK(doc_block("pm2-migration.md", "app.js") == read_text(apps + "/pm2_express.js"));
  Rack rack;
  start_rackd(rack);
  std::string dir = rack.home() + "/shop";
  fs::create_directories(dir);
  fs::create_directory_symlink(apps + "/node_modules", dir + "/node_modules");  // the project's npm install
  std::ofstream(dir + "/app.js") << doc_block("pm2-migration.md", "app.js");
  int port = free_port();
  std::ofstream(dir + "/ecosystem.config.js")
      << with_replaced(doc_block("pm2-migration.md", "shop ecosystem.config.js"), "3000", std::to_string(port));
  auto r = ctl_in(rack, dir, "start ecosystem.config.js --env production");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK_MESSAGE(r.err.find("warning") == std::string::npos, r.err);
  REQUIRE(rack.wait_ready("shop", 2, 30s));
  auto at = std::make_pair(std::string("127.0.0.1"), port);
  auto body = nlohmann::json::parse(http_get(at, "/").body);
  CHECK(body["greeting"] == "hello from production");  // env_production over env
  CHECK(body["port"] == std::to_string(port));

  // 99 more requests, no scrape, a reload: the merged counter says 100.
  for (int i = 0; i < 99; ++i) REQUIRE(http_get(at, "/").status == 200);
  auto before = rack.pids("shop");
  r = ctl_in(rack, dir, "reload shop");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  const std::string series = R"(app_requests_total{app="shop",route="/"})";
  auto metrics = http_get(rack.admin(), "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metric_sample(metrics.body, series) == 100);

  // stop: each worker's process.on('SIGINT') closes its pool (CLEANUP_DIR: '.').
  auto closed = [&](pid_t pid) { return fs::exists(dir + "/closed." + std::to_string(pid)); };
  for (pid_t p : before) CHECK_MESSAGE(wait_until([&] { return closed(p); }, 10s), "reload: no SIGINT hook in " << p);
  auto last = rack.pids("shop");
  REQUIRE(last.size() == 2);
  r = ctl_in(rack, dir, "stop shop");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  for (pid_t p : last) CHECK_MESSAGE(wait_until([&] { return closed(p); }, 10s), "stop: no SIGINT hook in " << p);
}
