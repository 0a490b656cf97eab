// PM2 ecosystem objects mapped to Rack's ecosystem.yaml (rack/pm2.h).
#include <doctest/doctest.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "rack/config.h"
#include "rack/pm2.h"

using json = nlohmann::json;
using namespace rack;

namespace {

bool has_warning(const pm2::Conversion& c, const std::string& part) {
  return std::any_of(c.warnings.begin(), c.warnings.end(), [&](auto& w) { return w.find(part) != std::string::npos; });
}

std::string all(const std::vector<std::string>& v) {
  std::string s;
  for (auto& e : v) s += e + "\n";
  return s;
}

}  // namespace

TEST_CASE("pm2: an ecosystem object maps key by key, env_<name> over env") {
  json eco = json::parse(R"({
    "apps": [{
      "name": "api", "script": "server.js", "args": "--port-from-env --verbose",
      "instances": 4, "exec_mode": "cluster", "interpreter_args": "--max-old-space-size=256",
      "env": {"NODE_ENV": "development", "PORT": 3000, "DEBUG": true},
      "env_production": {"NODE_ENV": "production", "PORT": 8080},
      "max_memory_restart": "300M", "kill_timeout": 3000, "listen_timeout": 8000,
      "wait_ready": true, "min_uptime": 2000, "max_restarts": 5, "exp_backoff_restart_delay": 150,
      "kill_signal": "SIGTERM", "merge_logs": true, "time": false, "shutdown_with_message": false
    }]})");
  auto c = pm2::convert(eco, "ecosystem.config.js", {.env_name = "production", .base_dir = "/srv/api", .cpus = 0});
  REQUIRE_MESSAGE(c.errors.empty(), all(c.errors));
  CHECK_MESSAGE(c.warnings.empty(), all(c.warnings));
  YAML::Node app = YAML::Load(c.yaml)["apps"][0];
  CHECK(app["name"].as<std::string>() == "api");
  CHECK(app["run"].as<std::vector<std::string>>() == std::vector<std::string>{"server.js", "--port-from-env", "--verbose"});
  CHECK(app["cwd"].as<std::string>() == "/srv/api");
  CHECK(app["interpreter"].as<std::string>() == "node --max-old-space-size=256");
  CHECK(app["instances"].as<int>() == 4);
  CHECK(app["protocol"].as<std::string>() == "node");
  CHECK(app["listen"].as<std::string>() == ":8080");  // the production PORT, where node's listen(PORT) binds
  CHECK(app["env"]["NODE_ENV"].as<std::string>() == "production");
  CHECK(app["env"]["DEBUG"].as<std::string>() == "true");
  CHECK(app["max_memory"].as<std::string>() == "300M");
  CHECK(app["kill_timeout"].as<std::string>() == "3000ms");
  CHECK(app["ready_timeout"].as<std::string>() == "8000ms");
  CHECK(app["wait_ready"].as<bool>());
  CHECK(app["restart"]["min_uptime"].as<std::string>() == "2000ms");
  CHECK(app["restart"]["max_restarts"].as<int>() == 5);
  CHECK(app["restart"]["backoff_initial"].as<std::string>() == "150ms");
  CHECK(app["stop_signal"].as<std::string>() == "SIGTERM");
  CHECK(app["logs"]["time"].as<bool>() == false);
  CHECK(c.names == std::vector<std::string>{"api"});
}

TEST_CASE("pm2: keys Rack does not take are warnings that name the key and what to use instead") {
  json eco = json::parse(R"({"apps": [{"name": "w", "script": "w.js", "pid_file": "/tmp/w.pid",
    "instance_var": "INSTANCE_ID", "source_map_support": true, "intances": 2}], "deploy": {"production": {}}})");
  auto c = pm2::convert(eco, "eco.js", {});
  CHECK(c.errors.empty());
  CHECK(has_warning(c, "eco.js: apps[0] (w): pid_file: not supported by Rack, ignored: Rack writes no pid files"));
  CHECK(has_warning(c, "instance_var: not supported by Rack, ignored: Rack sets NODE_APP_INSTANCE"));
  CHECK(has_warning(c, "source_map_support: not supported by Rack, ignored: use interpreter_args: --enable-source-maps"));
  CHECK(has_warning(c, "intances: not a PM2 key Rack knows; ignored"));
  CHECK(has_warning(c, "eco.js: deploy: not supported by Rack"));
  // The warning does not stop the app: fork mode, protocol none.
  YAML::Node app = YAML::Load(c.yaml)["apps"][0];
  CHECK_FALSE(app["protocol"]);
  CHECK_FALSE(app["listen"]);
}

TEST_CASE("pm2: --env with no env_<name> in an app says so") {
  json eco = json::parse(R"([{"script": "./bin/worker.js", "env": {"A": "1"}}])");
  auto c = pm2::convert(eco, "eco.json", {.env_name = "staging", .base_dir = "", .cpus = 0});
  CHECK(has_warning(c, "env_staging: not in this app; --env staging uses env alone"));
  YAML::Node app = YAML::Load(c.yaml)["apps"][0];
  CHECK(app["name"].as<std::string>() == "worker");  // PM2 names it after the script
  CHECK(app["env"]["A"].as<std::string>() == "1");
}

TEST_CASE("pm2: instances 0, max and -1, and cluster mode with and without a port") {
  auto one = [](const std::string& extra) {
    return pm2::convert(json::parse(R"({"apps":[{"name":"a","script":"a.js",)" + extra + "}]}"), "e.js", {.env_name = "", .base_dir = "", .cpus = 4});
  };
  CHECK(YAML::Load(one(R"("instances": 0, "env": {"PORT": 1})").yaml)["apps"][0]["instances"].as<std::string>() == "max");
  CHECK(YAML::Load(one(R"("instances": "max", "env": {"PORT": 1})").yaml)["apps"][0]["instances"].as<std::string>() == "max");
  auto minus = one(R"("instances": -1, "env": {"PORT": 1})");
  CHECK(YAML::Load(minus.yaml)["apps"][0]["instances"].as<int>() == 3);
  CHECK(has_warning(minus, "instances: -1 (all CPUs but 1) is 3 on this machine"));
  // A node app with no port: rackd binds what its server asks for.
  auto no_port = one(R"("instances": 2, "exec_mode": "cluster")");
  CHECK(no_port.errors.empty());
  YAML::Node no_port_app = YAML::Load(no_port.yaml)["apps"][0];
  CHECK(no_port_app["protocol"].as<std::string>() == "node");
  CHECK_FALSE(no_port_app["listen"]);
  // Any other program needs the port rackd binds and hands it (inherit).
  auto py = pm2::convert(json::parse(R"({"apps":[{"name":"a","script":"a.py","instances":2,"exec_mode":"cluster"}]})"),
                         "e.js", {.env_name = "", .base_dir = "", .cpus = 4});
  REQUIRE(py.errors.size() == 1);
  CHECK(py.errors[0].find("exec_mode: cluster mode with several instances of a program that is not node needs the port") !=
        std::string::npos);
  // Rack's own listen key in a PM2 file says where.
  auto listen = one(R"("instances": 2, "listen": "127.0.0.1:0")");
  CHECK(listen.errors.empty());
  CHECK(YAML::Load(listen.yaml)["apps"][0]["protocol"].as<std::string>() == "node");
  CHECK(one(R"("exec_mode": "cluser")").errors.at(0).find("exec_mode: expected cluster or fork") != std::string::npos);
}

TEST_CASE("pm2: wrong shapes are errors naming the app and key, never a crash") {
  CHECK(pm2::convert(json(42), "e.js", {}).errors.at(0) == "e.js: expected an object with apps: [...] (or a list of apps), got number");
  CHECK(pm2::convert(json::parse(R"({"apps": "x"})"), "e.js", {}).errors.at(0).find("got string") != std::string::npos);
  CHECK(pm2::convert(json::parse(R"({"apps": [7]})"), "e.js", {}).errors.at(0) == "e.js: apps[0]: expected an object, got number");
  auto c = pm2::convert(json::parse(R"({"apps": [{"name": "x", "env": [1], "wait_ready": "maybe", "args": {"a": 1}}]})"), "e.js", {});
  std::string errors = all(c.errors);
  CHECK(errors.find("e.js: apps[0] (x): script: missing") != std::string::npos);
  CHECK(errors.find("env: expected an object of NAME: value, got array") != std::string::npos);
  CHECK(errors.find("wait_ready: expected true or false, got string \"maybe\"") != std::string::npos);
}

TEST_CASE("pm2: PM2's YAML shape is told apart from Rack's") {
  CHECK(pm2::looks_like_pm2_yaml(json::parse(R"({"apps": [{"script": "a.js"}]})")));
  CHECK(pm2::looks_like_pm2_yaml(json::parse(R"([{"script": "a.js"}])")));
  CHECK_FALSE(pm2::looks_like_pm2_yaml(json::parse(R"({"apps": [{"run": "a.js"}]})")));
  CHECK_FALSE(pm2::looks_like_pm2_yaml(json::parse(R"({"apps": [{"name": "a", "script": "a.js", "run": "b"}]})")));
  CHECK_FALSE(pm2::looks_like_pm2_yaml(json::parse(R"({"rack": {}})")));
}

TEST_CASE("pm2: user/uid and gid become user: and group:, a number looked up by id") {
  // A script that exists, so the converted file also loads.
  auto one = [](const std::string& keys) {
    return pm2::convert(json::parse(R"({"apps":[{"name":"a","script":"hello.js",)" + keys + "}]}"), "e.js",
                        {.env_name = "", .base_dir = RACK_SOURCE_DIR "/tests/apps", .cpus = 0});
  };
  auto named = one(R"("user": "root", "gid": "root")");
  REQUIRE_MESSAGE(named.errors.empty(), all(named.errors));
  CHECK_MESSAGE(named.warnings.empty(), all(named.warnings));
  YAML::Node app = YAML::Load(named.yaml)["apps"][0];
  CHECK(app["user"].as<std::string>() == "root");
  CHECK(app["group"].as<std::string>() == "root");
  // PM2 also takes ids; Rack's keys take names, found on this machine.
  app = YAML::Load(one(R"("uid": 0, "gid": "0")").yaml)["apps"][0];
  CHECK(app["user"].as<std::string>() == "root");
  CHECK(app["group"].as<std::string>() == "root");
  CHECK(one(R"("uid": 4000000000)").errors.at(0) ==
        "e.js: apps[0] (a): uid: no user with uid 4000000000 on this machine (Rack's user: takes a name)");
  CHECK(one(R"("user": "root", "uid": "nobody")").errors.at(0).find("says root but another key says nobody") !=
        std::string::npos);
  // The converted file loads: user: and group: are Rack keys.
  auto eco = config::load_string(named.yaml, "/tmp/eco.yaml");
  CHECK(eco.apps.at(0).user == "root");
  CHECK(eco.apps.at(0).uid == 0u);
}

TEST_CASE("pm2: disable_logs, or both files /dev/null, is logs.dir: off, one /dev/null is a warning") {
  // A script that exists, so the converted file also loads.
  auto one = [](const std::string& keys) {
    return pm2::convert(json::parse(R"({"apps":[{"name":"a","script":"hello.js",)" + keys + "}]}"), "e.js",
                        {.env_name = "", .base_dir = RACK_SOURCE_DIR "/tests/apps", .cpus = 0});
  };
  for (const char* keys : {R"("disable_logs": true)", R"("disable_logs": true, "out_file": "/var/log/a.log")",
                           R"("out_file": "/dev/null", "error_file": "NULL")"}) {
    auto c = one(keys);
    CHECK_MESSAGE(c.warnings.empty(), keys << "\n" << all(c.warnings));
    YAML::Node app = YAML::Load(c.yaml)["apps"][0];
    CHECK_MESSAGE(app["logs"]["dir"].as<std::string>() == "off", keys);
    CHECK_FALSE(config::load_string(c.yaml, "/tmp/eco.yaml").apps.at(0).logs.files);
  }
  CHECK_FALSE(YAML::Load(one(R"("disable_logs": false)").yaml)["apps"][0]["logs"]);
  auto half = one(R"("out_file": "/dev/null")");
  CHECK(has_warning(half, "out_file: Rack cannot drop one stream"));
  CHECK_FALSE(YAML::Load(half.yaml)["apps"][0]["logs"]);
}
