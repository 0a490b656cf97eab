// ecosystem.yaml loading: what a user sees for valid files and for mistakes.
#include <doctest/doctest.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "rack/config.h"

namespace fs = std::filesystem;
using namespace rack::config;
using namespace std::chrono_literals;

namespace {

// A scratch directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/rack-config-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }

  fs::path write(const std::string& name, const std::string& content, fs::perms mode = fs::perms::owner_read |
                                                                                        fs::perms::owner_write) {
    fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    fs::permissions(p, mode);
    return p;
  }

  fs::path executable(const std::string& name) { return write(name, "#!/bin/sh\nexit 0\n", fs::perms::owner_all); }

  fs::path mkdir(const std::string& name) {
    fs::create_directories(path_ / name);
    return path_ / name;
  }

 private:
  fs::path path_;
};

// Sets PATH for one test and puts the old value back.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    if (const char* old = std::getenv("PATH")) old_ = old;
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() {
    if (old_) {
      ::setenv("PATH", old_->c_str(), 1);
    } else {
      ::unsetenv("PATH");
    }
  }

 private:
  std::optional<std::string> old_;
};

// Loads text that must fail and returns the error the user would read.
ConfigError error_of(const std::string& yaml, const std::string& path = "/tmp/eco.yaml") {
  try {
    load_string(yaml, path);
  } catch (const ConfigError& e) {
    return e;
  }
  FAIL("expected a ConfigError for:\n" << yaml);
  return ConfigError("unreachable");
}

std::string what_of(const std::string& yaml) { return error_of(yaml).what(); }

// `sh` exists on every machine the tests run on, so apps can use it as run.
const char* kMinimal = "apps:\n  - name: web\n    run: [sh]\n";

}  // namespace

TEST_CASE("config: a full ecosystem file loads with every key") {
  TempDir dir;
  dir.mkdir("app/bin");
  dir.executable("app/bin/server");
  fs::path file = dir.write("ecosystem.yaml", R"(rack:
  admin: "[::1]:9700"
apps:
  - name: web-1
    run: [./bin/server, --port, "8080", --flag]
    cwd: app
    instances: 3
    protocol: rack
    listen: 127.0.0.1:8080
    dispatch: least-connections
    env: {LOG_LEVEL: info, PORT: 8080, DEBUG: true, RATIO: 0.5}
    ready_timeout: 2s
    kill_timeout: 1500ms
    heartbeat_timeout: 1m
    restart:
      min_uptime: 2s
      max_restarts: 4
      backoff_initial: 50ms
      backoff_max: 1.5s
      backoff_factor: 2
      reset_after: 1h
    max_memory: 512M
    max_requests: 10000
    parallel: 2
    queue: {size: 0, timeout: 3s}
    metrics_path: /metrics
    gauges: {inflight: max, "app:temp_celsius": avg}
    logs:
      dir: logs
      max_size: 10MB
      keep: 0
      compress: false
      time: no
      on_full: drop
      rotate_every: 1d
      max_age: 7d
      buffer: 1m
  - name: worker
    run: [sh, -c, "sleep 1"]
    protocol: inherit
    listen: :9000
    ready: {http: /healthz}
  - name: api
    run: [sh]
    protocol: node
    listen: "[::]:0"
    wait_ready: true
    shutdown_with_message: yes
  - name: cron
    run: [sh]
    ready: notify
)");

  Ecosystem eco = load_file(file.string());
  CHECK(eco.path == file.string());
  REQUIRE(eco.rack.admin.has_value());
  CHECK(eco.rack.admin->str() == "[::1]:9700");
  CHECK(eco.rack.admin_at.line == 2);
  CHECK(eco.rack.admin_at.key_path == "rack.admin");
  REQUIRE(eco.apps.size() == 4);

  const AppConfig& web = eco.apps[0];
  CHECK(web.name == "web-1");
  CHECK(web.run == std::vector<std::string>{(dir.path() / "app/bin/server").string(), "--port", "8080", "--flag"});
  CHECK(web.cwd == (dir.path() / "app").string());
  CHECK(web.instances == 3);
  CHECK(web.protocol == Protocol::Rack);
  REQUIRE(web.listen.has_value());
  CHECK(web.listen->host == "127.0.0.1");
  CHECK(web.listen->port == 8080);
  CHECK(web.dispatch == Dispatch::LeastConnections);
  CHECK(web.env == std::map<std::string, std::string>{
                       {"LOG_LEVEL", "info"}, {"PORT", "8080"}, {"DEBUG", "true"}, {"RATIO", "0.5"}});
  CHECK(web.ready_timeout == 2s);
  CHECK(web.kill_timeout == 1500ms);
  CHECK(web.heartbeat_timeout == 1min);
  CHECK(web.restart.min_uptime == 2s);
  CHECK(web.restart.max_restarts == 4);
  CHECK(web.restart.backoff_initial == 50ms);
  CHECK(web.restart.backoff_max == 1500ms);
  CHECK(web.restart.backoff_factor == doctest::Approx(2.0));
  CHECK(web.restart.reset_after == 1h);
  CHECK(web.max_memory == 512ull << 20);
  CHECK(web.max_requests == 10000u);
  CHECK(web.parallel == 2);
  CHECK(web.queue_size == 0);
  CHECK(web.queue_timeout == 3s);
  CHECK(web.metrics_path == "/metrics");
  CHECK(web.gauges == std::map<std::string, Aggregation>{{"inflight", Aggregation::Max},
                                                         {"app:temp_celsius", Aggregation::Avg}});
  CHECK(web.logs.dir == (dir.path() / "logs").string());
  CHECK(web.logs.max_size == 10ull << 20);
  CHECK(web.logs.keep == 0);
  CHECK_FALSE(web.logs.compress);
  CHECK_FALSE(web.logs.time);
  CHECK(web.logs.on_full == OnFull::Drop);
  CHECK(web.logs.rotate_every == Duration{24h});
  CHECK(web.logs.max_age == Duration{7 * 24h});
  CHECK(web.logs.buffer == 1ull << 20);
  CHECK(web.at.str() == file.string() + ":4:5: apps[0]");
  CHECK(web.run_at.str() == file.string() + ":5:10: apps[0].run");
  CHECK(web.listen_at.str() == file.string() + ":9:13: apps[0].listen");

  const AppConfig& worker = eco.apps[1];
  CHECK(worker.protocol == Protocol::Inherit);
  CHECK(worker.listen->str() == "0.0.0.0:9000");
  CHECK(worker.ready == ReadyMode::Http);
  CHECK(worker.ready_http_path == "/healthz");
  CHECK(worker.run.size() == 3);
  CHECK(worker.run[2] == "sleep 1");

  const AppConfig& api = eco.apps[2];
  CHECK(api.protocol == Protocol::Node);
  CHECK(api.listen->str() == "[::]:0");
  CHECK(api.wait_ready);
  CHECK(api.shutdown_with_message);

  CHECK(eco.apps[3].ready == ReadyMode::Notify);
}

TEST_CASE("config: defaults for a minimal app") {
  Ecosystem eco = load_string(kMinimal, "/tmp/some/eco.yaml");
  CHECK(eco.path == "/tmp/some/eco.yaml");
  REQUIRE(eco.rack.admin.has_value());
  CHECK(eco.rack.admin->str() == "127.0.0.1:9650");
  CHECK(eco.rack.admin_at.str() == "/tmp/some/eco.yaml: rack.admin");
  REQUIRE(eco.apps.size() == 1);
  const AppConfig& app = eco.apps[0];
  CHECK(app.cwd == "/tmp/some");  // the ecosystem file's directory
  CHECK(app.instances == 1);
  CHECK(app.protocol == Protocol::None);
  CHECK_FALSE(app.listen.has_value());
  CHECK(app.dispatch == Dispatch::RoundRobin);
  CHECK(app.env.empty());
  CHECK(app.inherit_env);
  CHECK(app.ready_timeout == 5s);
  CHECK(app.kill_timeout == 5s);
  CHECK(app.heartbeat_timeout == 10s);
  CHECK(app.restart.min_uptime == 1s);
  CHECK(app.restart.max_restarts == 16);
  CHECK(app.restart.backoff_initial == 100ms);
  CHECK(app.restart.backoff_max == 15s);
  CHECK(app.restart.backoff_factor == doctest::Approx(1.5));
  CHECK(app.restart.reset_after == 30s);
  CHECK_FALSE(app.max_memory.has_value());
  CHECK_FALSE(app.max_requests.has_value());
  CHECK(app.parallel == 1);
  CHECK(app.queue_size == 1024);
  CHECK(app.queue_timeout == 10s);
  CHECK(app.metrics_path.empty());
  CHECK(app.ready == ReadyMode::Auto);
  CHECK(app.logs.dir.empty());
  CHECK(app.logs.files);
  CHECK(app.logs.max_size == 50ull << 20);
  CHECK(app.logs.keep == 5);
  CHECK(app.logs.compress);
  CHECK(app.logs.time);
  CHECK(app.logs.on_full == OnFull::Block);
  CHECK_FALSE(app.logs.rotate_every.has_value());
  CHECK(fs::path(app.run[0]).is_absolute());
  CHECK(fs::path(app.run[0]).filename() == "sh");
  // Without a listen key, listen_at still says where to look.
  CHECK(app.listen_at.str() == "/tmp/some/eco.yaml:2:5: apps[0].listen");
}

TEST_CASE("config: listen alone means protocol rack, admin can be turned off") {
  Ecosystem eco = load_string("rack: {admin: off}\napps:\n  - {name: a, run: [sh], listen: localhost:0}\n",
                              "/tmp/eco.yaml");
  CHECK_FALSE(eco.rack.admin.has_value());
  CHECK(eco.apps[0].protocol == Protocol::Rack);
  CHECK(eco.apps[0].listen->str() == "127.0.0.1:0");
}

TEST_CASE("config: YAML syntax errors name the line and column") {
  ConfigError e = error_of("apps:\n  - name: web\n    run: [sh\n    cwd: .\n");
  CHECK(e.where().file == "/tmp/eco.yaml");
  CHECK(e.where().line == 4);
  CHECK(std::string(e.what()).rfind("/tmp/eco.yaml:4:", 0) == 0);
  CHECK(std::string(e.what()).find("invalid YAML") != std::string::npos);

  // Left open: reported where the file ends, on a line the user can see.
  CHECK(what_of("apps:\n  - name: web\n    run: [x\n\n") ==
        "/tmp/eco.yaml:3:12: invalid YAML: end of sequence flow not found");
  CHECK(what_of("apps:\n  - name: web\n    run: [x") ==
        "/tmp/eco.yaml:3:12: invalid YAML: end of sequence flow not found");
  CHECK(what_of("apps: b: c\n") == "/tmp/eco.yaml:1:8: invalid YAML: illegal map value");
  CHECK(what_of("apps:\n\t- name: x\n").find("/tmp/eco.yaml:2:") == 0);  // a tab
  CHECK(what_of("apps: " + std::string(100000, '[')).find("invalid YAML: nested too deeply") != std::string::npos);
}

TEST_CASE("config: unknown keys are errors with a did-you-mean") {
  CHECK(what_of("apps:\n  - name: web\n    run: [sh]\n    instnces: 2\n") ==
        "/tmp/eco.yaml:4:5: apps[0].instnces: unknown key \"instnces\" (did you mean \"instances\"?)");
  CHECK(what_of("apps:\n  - name: web\n    run: [sh]\n    restart: {max_restart: 3}\n") ==
        "/tmp/eco.yaml:4:15: apps[0].restart.max_restart: unknown key \"max_restart\" "
        "(did you mean \"max_restarts\"?)");
  CHECK(what_of("rack: {admn: off}\napps:\n  - {name: a, run: [sh]}\n") ==
        "/tmp/eco.yaml:1:8: rack.admn: unknown key \"admn\" (did you mean \"admin\"?)");
  CHECK(what_of("app:\n  - {name: a, run: [sh]}\n").find("unknown key \"app\" (did you mean \"apps\"?)") !=
        std::string::npos);
  // Nothing close: no guess.
  CHECK(what_of("apps:\n  - {name: a, run: [sh], colour: red}\n") ==
        "/tmp/eco.yaml:2:26: apps[0].colour: unknown key \"colour\"");
  // PM2 names point at Rack's.
  CHECK(what_of("apps:\n  - {name: a, script: app.js}\n").find("unknown key \"script\" (did you mean \"run\"?)") !=
        std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], max_restarts: 3}\n")
            .find("(did you mean \"restart.max_restarts\"?)") != std::string::npos);
  // Keys inside logs and queue are checked too.
  CHECK(what_of("apps:\n  - {name: a, run: [sh], logs: {max_sise: 1M}}\n").find("did you mean \"max_size\"") !=
        std::string::npos);
}

TEST_CASE("config: values of the wrong type are errors, never crashes") {
  CHECK(what_of("apps:\n  - name: web\n    run: [sh]\n    instances: zero\n") ==
        "/tmp/eco.yaml:4:16: apps[0].instances: expected an integer >= 1 or \"max\", got \"zero\"");
  CHECK(what_of("apps:\n  - name: web\n    run: [sh]\n    instances: 0\n").find("expected an integer >= 1") !=
        std::string::npos);
  CHECK(what_of("apps:\n  - name: web\n    run: [sh]\n    instances: {n: 2}\n")
            .find("apps[0].instances: expected an integer >= 1 or \"max\", got a map") != std::string::npos);
  CHECK(what_of("apps:\n  - name: [web]\n    run: [sh]\n").find("apps[0].name: expected a name, got a list") !=
        std::string::npos);
  // An empty value points at its key (line 3), not at the next line.
  CHECK(what_of("apps:\n  - name: web\n    kill_timeout:\n    run: [sh]\n") ==
        "/tmp/eco.yaml:3:5: apps[0].kill_timeout: expected a duration like 100ms, 5s or 2m, got an empty value");
  CHECK(what_of("apps:\n  - {name: a, run: [sh], restart: fast}\n")
            .find("apps[0].restart: expected a map of settings (key: value), got \"fast\"") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh, [x]]}\n").find("apps[0].run[1]: expected a string") !=
        std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], env: {A: [1]}}\n").find("apps[0].env.A: expected a string") !=
        std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], wait_ready: maybe}\n").find("expected true or false") !=
        std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], protocol: htp, listen: :1}\n")
            .find("expected one of rack, node, inherit, none, got \"htp\"") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], dispatch: round_robin, listen: :1}\n")
            .find("(did you mean \"round-robin\"?)") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], restart: {backoff_factor: 1}}\n")
            .find("expected a number above 1.0 like 1.5, got \"1\"") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], metrics_path: metrics, listen: :1}\n")
            .find("expected a path like /metrics") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], gauges: {x: median}}\n")
            .find("expected one of sum, min, max, avg, first") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], ready: soon}\n")
            .find("expected auto, notify or {http: /path}") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], listen: 8080}\n")
            .find("(write \":8080\" for all interfaces") != std::string::npos);
  CHECK(what_of("rack: {admin: nowhere}\napps:\n  - {name: a, run: [sh]}\n")
            .find("rack.admin: expected host:port like 127.0.0.1:9650, or off") != std::string::npos);

  // The top level itself.
  CHECK(what_of("") == "/tmp/eco.yaml:1:1: the file is empty; expected a map with an apps: list");
  CHECK(what_of("- a\n- b\n").find("expected a map with rack: and apps:") != std::string::npos);
  CHECK(what_of("rack: {}\n") == "/tmp/eco.yaml:1:1: apps: missing required key \"apps\" (the list of apps to run)");
  CHECK(what_of("apps: []\n").find("apps: expected at least one app, got an empty list") != std::string::npos);
  CHECK(what_of("apps: {web: {run: [sh]}}\n").find("apps: expected a list of apps") != std::string::npos);
  CHECK(what_of("apps:\n  - just-a-name\n").find("apps[0]: expected an app") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], {x: 1}: 2}\n").find("expected a key name, got a map") !=
        std::string::npos);
  CHECK(what_of(std::string(kMinimal) + "---\napps: []\n").find("expected one YAML document, found 2") !=
        std::string::npos);
}

TEST_CASE("config: input on which yaml-cpp's LoadAll never returns gets an error at once") {
  // Found by tests/fuzz/config: yaml-cpp 0.7's LoadAll looped forever on
  // these, allocating (rackctl start hung, growing to gigabytes).
  for (std::string text : {std::string(",\n"), std::string("# Thapps:\n , - na\xc1me: \"b*e default :\nRaq"),
                           std::string("apps: [ ]\n,\n")}) {
    std::string what = what_of(text);
    CHECK_MESSAGE(what.rfind("/tmp/eco.yaml:", 0) == 0, what);
  }
  // A stream of many documents is still counted, not loaded.
  std::string many;
  for (int i = 0; i < 40; ++i) many += "apps: []\n---\n";
  CHECK(what_of(many).find("expected one YAML document, found 16 or more") != std::string::npos);
}

TEST_CASE("config: inherit_env is true or false and says so otherwise") {
  CHECK_FALSE(load_string("apps:\n  - {name: a, run: [sh], inherit_env: false}\n", "/tmp/e.yaml").apps[0].inherit_env);
  CHECK(load_string("apps:\n  - {name: a, run: [sh], inherit_env: yes}\n", "/tmp/e.yaml").apps[0].inherit_env);
  std::string why = what_of("apps:\n  - {name: a, run: [sh], inherit_env: [PATH]}\n");
  CHECK_MESSAGE(why.find("apps[0].inherit_env") != std::string::npos, why);
  CHECK_MESSAGE(why.find("expected true or false") != std::string::npos, why);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], inherit_env: sometimes}\n").find("expected true or false") !=
        std::string::npos);
}

TEST_CASE("config: run and name are required") {
  CHECK(what_of("apps:\n  - name: web\n    instances: 2\n") ==
        "/tmp/eco.yaml:2:5: apps[0].run: missing required key \"run\" (the command, e.g. run: [node, app.js])");
  CHECK(what_of("apps:\n  - run: [sh]\n").find("apps[0].name: missing required key \"name\"") !=
        std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: []}\n").find("got an empty command") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: \"  \"}\n").find("got an empty command") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: ['', x]}\n").find("the program name") != std::string::npos);
}

TEST_CASE("config: app names are checked and unique") {
  std::string what = what_of(
      "apps:\n"
      "  - name: web\n"
      "    run: [sh]\n"
      "  - name: api\n"
      "    run: [sh]\n"
      "  - name: web\n"
      "    run: [sh]\n");
  // Located at the duplicate, and naming the first.
  CHECK(what == "/tmp/eco.yaml:6:11: apps[2].name: duplicate app name \"web\" (first defined at line 2)");

  CHECK(what_of("apps:\n  - {name: my app, run: [sh]}\n") ==
        "/tmp/eco.yaml:2:12: apps[0].name: expected a name of 1 to 64 letters, digits, '-' or '_', "
        "got \"my app\"");
  CHECK(what_of("apps:\n  - {name: '', run: [sh]}\n").find("expected a name of 1 to 64") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: " + std::string(65, 'a') + ", run: [sh]}\n").find("expected a name") !=
        std::string::npos);
  CHECK_NOTHROW(load_string("apps:\n  - {name: " + std::string(64, 'a') + ", run: [sh]}\n", "/tmp/eco.yaml"));
}

TEST_CASE("config: listen is required for rack and inherit, optional for node, refused for none") {
  CHECK(what_of("apps:\n  - name: web\n    run: [sh]\n    protocol: rack\n") ==
        "/tmp/eco.yaml:4:15: apps[0].protocol: protocol rack needs listen: host:port, e.g. listen: "
        "127.0.0.1:8080");
  // node: rackd binds what the app's server asks for (queryServer).
  auto node = load_string("apps:\n  - {name: a, run: [sh], protocol: node}\n", "/tmp/eco.yaml");
  CHECK(node.apps.at(0).protocol == rack::config::Protocol::Node);
  CHECK_FALSE(node.apps.at(0).listen.has_value());
  CHECK(what_of("apps:\n  - {name: a, run: [sh], protocol: inherit}\n").find("protocol inherit needs listen") !=
        std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], protocol: none, listen: :80}\n")
            .find("apps[0].listen: listen is not used with protocol none") != std::string::npos);
  // Keys that would be silently ignored under the protocol.
  CHECK(what_of("apps:\n  - {name: a, run: [sh], wait_ready: true}\n")
            .find("apps[0].wait_ready: wait_ready does not apply to protocol none") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], listen: :1, ready: notify}\n")
            .find("ready does not apply to protocol rack") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], protocol: inherit, listen: :1, dispatch: round-robin}\n")
            .find("dispatch does not apply to protocol inherit") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], protocol: node, listen: :1, metrics_path: /metrics}\n")
            .find("metrics_path does not apply to protocol node (the rack worker runtime serves it") !=
        std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], protocol: inherit, listen: :1, metrics_path: /metrics}\n")
            .find("metrics_path does not apply to protocol inherit") != std::string::npos);
}

TEST_CASE("config: run[0] is resolved to an absolute executable") {
  TempDir dir;
  fs::path bin = dir.mkdir("bin");
  dir.executable("bin/tool");
  dir.executable("bin/node");
  dir.write("bin/plain", "not executable\n");
  dir.mkdir("app");
  dir.executable("app/start.sh");
  fs::path file = dir.path() / "eco.yaml";
  ScopedPath path(bin.string());

  SUBCASE("a bare name is looked up in PATH") {
    auto eco = load_string("apps:\n  - {name: a, run: tool --x}\n", file.string());
    CHECK(eco.apps[0].run == std::vector<std::string>{(bin / "tool").string(), "--x"});
  }
  SUBCASE("a path with a slash is relative to cwd") {
    auto eco = load_string("apps:\n  - {name: a, run: [./start.sh], cwd: app}\n", file.string());
    CHECK(eco.apps[0].run[0] == (dir.path() / "app/start.sh").string());
  }
  SUBCASE("node apps may name just the script") {
    dir.write("server.mjs", "");
    auto eco = load_string("apps:\n  - {name: a, run: server.mjs, protocol: node, listen: :0}\n", file.string());
    CHECK(eco.apps[0].run == std::vector<std::string>{(bin / "node").string(), "server.mjs"});
  }
  SUBCASE("an unknown program is an error at run") {
    std::string what = what_of("apps:\n  - name: a\n    run: [no-such-tool, x]\n");
    CHECK(what.rfind("/tmp/eco.yaml:3:10: apps[0].run: executable \"no-such-tool\" not found (searched PATH and ",
                     0) == 0);
  }
  SUBCASE("a file that is not executable is not taken") {
    CHECK(what_of("apps:\n  - {name: a, run: [plain]}\n").find("executable \"plain\" not found") !=
          std::string::npos);
    ConfigError e = error_of("apps:\n  - {name: a, run: [bin/plain]}\n", file.string());
    CHECK(std::string(e.what()).find("is not executable") != std::string::npos);
    e = error_of("apps:\n  - {name: a, run: [./missing]}\n", file.string());
    CHECK(std::string(e.what()).find("executable \"./missing\" not found (looked for " +
                                     (dir.path() / "missing").string() + ")") != std::string::npos);
    e = error_of("apps:\n  - {name: a, run: [./app]}\n", file.string());
    CHECK(std::string(e.what()).find("is a directory") != std::string::npos);
  }
}

TEST_CASE("config: run[0] is also found next to the running binary") {
  // rackd in build/bin finds rack-hello in build/bin with no PATH set up.
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  REQUIRE(n > 0);
  fs::path own_dir = fs::path(std::string(buf, static_cast<std::size_t>(n))).parent_path();
  fs::path helper = own_dir / ("rack-config-test-helper-" + std::to_string(::getpid()));
  {
    std::ofstream out(helper);
    if (!out) return;  // read-only install: nothing to show here
    out << "#!/bin/sh\n";
  }
  fs::permissions(helper, fs::perms::owner_all);
  ScopedPath path("/nonexistent");
  std::string yaml = "apps:\n  - {name: a, run: [" + helper.filename().string() + "]}\n";
  std::optional<Ecosystem> eco;
  std::string error;
  try {
    eco = load_string(yaml, "/tmp/eco.yaml");
  } catch (const ConfigError& e) {
    error = e.what();
  }
  fs::remove(helper);
  REQUIRE_MESSAGE(eco.has_value(), error);
  CHECK(eco->apps[0].run[0] == helper.string());
}

TEST_CASE("config: a string run is split like a shell, never run by one") {
  auto eco = load_string(R"(apps:
  - name: a
    run: sh -c 'echo "hi there" $HOME' "a b" c\ d
)",
                         "/tmp/eco.yaml");
  CHECK(eco.apps[0].run.size() == 5);
  CHECK(eco.apps[0].run[1] == "-c");
  CHECK(eco.apps[0].run[2] == "echo \"hi there\" $HOME");
  CHECK(eco.apps[0].run[3] == "a b");
  CHECK(eco.apps[0].run[4] == "c d");

  CHECK(what_of("apps:\n  - {name: a, run: \"sh -c 'oops\"}\n")
            .find("apps[0].run: unterminated quote or trailing backslash in \"sh -c 'oops\"") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: sh app.sh | tee log}\n")
            .find("run is not given to a shell, so \"|\" would reach the program") != std::string::npos);
  // In the list form "|" is an ordinary argument.
  CHECK_NOTHROW(load_string("apps:\n  - {name: a, run: [sh, '|']}\n", "/tmp/eco.yaml"));
}

TEST_CASE("config: instances max means one per usable CPU") {
  auto eco = load_string("apps:\n  - {name: a, run: [sh], instances: max}\n", "/tmp/eco.yaml");
  cpu_set_t set;
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  CHECK(eco.apps[0].instances == static_cast<unsigned>(CPU_COUNT(&set)));
  CHECK(eco.apps[0].instances >= 1);
  CHECK(eco.apps[0].instances <= std::max(1u, std::thread::hardware_concurrency()));

  CHECK(what_of("apps:\n  - {name: a, run: [sh], instances: 100000}\n")
            .find("apps[0].instances: expected at most 4096, got \"100000\"") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], instances: -1}\n").find("expected an integer >= 1") !=
        std::string::npos);
}

TEST_CASE("config: cwd resolves against the ecosystem file, not the process") {
  TempDir dir;
  dir.mkdir("conf/srv/app");
  dir.write("conf/not-a-dir", "");
  fs::path file = dir.path() / "conf/eco.yaml";

  auto eco = load_string("apps:\n  - {name: a, run: [sh], cwd: srv/./app/}\n", file.string());
  CHECK(eco.apps[0].cwd == (dir.path() / "conf/srv/app").string());
  eco = load_string("apps:\n  - {name: a, run: [sh], cwd: ..}\n", file.string());
  CHECK(eco.apps[0].cwd == dir.path().string());
  eco = load_string("apps:\n  - {name: a, run: [sh], cwd: /tmp}\n", file.string());
  CHECK(eco.apps[0].cwd == "/tmp");

  ConfigError e = error_of("apps:\n  - {name: a, run: [sh], cwd: missing}\n", file.string());
  CHECK(std::string(e.what()) == file.string() + ":2:31: apps[0].cwd: directory \"" +
                                     (dir.path() / "conf/missing").string() + "\" does not exist");
  e = error_of("apps:\n  - {name: a, run: [sh], cwd: not-a-dir}\n", file.string());
  CHECK(std::string(e.what()).find("is not a directory") != std::string::npos);
}

TEST_CASE("config: bad durations and sizes say what was expected") {
  CHECK(what_of("apps:\n  - name: a\n    run: [sh]\n    restart:\n      min_uptime: fast\n") ==
        "/tmp/eco.yaml:5:19: apps[0].restart.min_uptime: expected a duration like 100ms, 5s or 2m, got \"fast\"");
  CHECK(what_of("apps:\n  - {name: a, run: [sh], ready_timeout: 0}\n")
            .find("expected a duration above 0 like 100ms, 5s or 2m, got \"0\"") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], max_memory: 5X}\n") ==
        "/tmp/eco.yaml:2:38: apps[0].max_memory: expected a size like 512K, 50M or 1G, got \"5X\"");
  CHECK(what_of("apps:\n  - {name: a, run: [sh], logs: {max_size: -1}}\n")
            .find("apps[0].logs.max_size: expected a size like") != std::string::npos);
  CHECK(what_of("apps:\n  - {name: a, run: [sh], restart: {backoff_initial: 20s}}\n")
            .find("backoff_max (15000ms) must not be below backoff_initial (20000ms)") != std::string::npos);
}

TEST_CASE("config: all mistakes are reported at once, in file order") {
  ConfigError e = error_of(
      "apps:\n"
      "  - name: web\n"
      "    run: [sh]\n"
      "    instances: lots\n"
      "  - name: web\n"
      "    run: [sh]\n"
      "    kill_timout: 1s\n");
  CHECK(e.where().line == 4);
  CHECK(std::string(e.what()) ==
        "/tmp/eco.yaml:4:16: apps[0].instances: expected an integer >= 1 or \"max\", got \"lots\"\n"
        "/tmp/eco.yaml:5:11: apps[1].name: duplicate app name \"web\" (first defined at line 2)\n"
        "/tmp/eco.yaml:7:5: apps[1].kill_timout: unknown key \"kill_timout\" (did you mean \"kill_timeout\"?)");
}

TEST_CASE("config: anchors under x- keys can be merged into apps") {
  auto eco = load_string(R"(x-defaults: &defaults
  run: [sh]
  instances: 2
  restart: {max_restarts: 3}
apps:
  - <<: *defaults
    name: a
  - <<: *defaults
    name: b
    instances: 5
)",
                         "/tmp/eco.yaml");
  REQUIRE(eco.apps.size() == 2);
  CHECK(eco.apps[0].instances == 2);
  CHECK(eco.apps[0].restart.max_restarts == 3);
  CHECK(eco.apps[1].instances == 5);  // written out beats merged
  CHECK(what_of("apps:\n  - name: a\n    run: [sh]\n    run: [ls]\n") ==
        "/tmp/eco.yaml:4:5: apps[0].run: duplicate key \"run\" (first set at line 3)");
  CHECK(what_of("defaults: {}\napps:\n  - {name: a, run: [sh]}\n").find("start a key with x-") != std::string::npos);
}

TEST_CASE("config: load_file reads the file and names it when it cannot") {
  TempDir dir;
  fs::path file = dir.write("eco.yaml", kMinimal);
  CHECK(load_file(file.string()).apps.at(0).name == "web");

  fs::path missing = dir.path() / "missing.yaml";
  try {
    load_file(missing.string());
    FAIL("loaded a missing file");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == "cannot read " + missing.string() + ": No such file or directory");
  }
  CHECK_THROWS_WITH_AS(load_file(dir.path().string()), ("cannot read " + dir.path().string() + ": Is a directory").c_str(),
                       ConfigError);
  fs::path bad = dir.write("bad.yaml", "apps:\n  - name: web\n    run: [sh]\n    listen: nope\n");
  CHECK_THROWS_WITH_AS(load_file(bad.string()),
                       (bad.string() + ":4:13: apps[0].listen: expected host:port like 127.0.0.1:8080, [::1]:8080 or "
                                       ":8080, got \"nope\"")
                           .c_str(),
                       ConfigError);
}

TEST_CASE("config: mangled files give ConfigError and nothing else") {
  const std::string good = R"(rack: {admin: "127.0.0.1:9650"}
apps:
  - name: web
    run: [sh, -c, "exit 0"]
    listen: 127.0.0.1:8080
    env: {A: 1}
    restart: {min_uptime: 1s, backoff_factor: 1.5}
    logs: {max_size: 1M, on_full: drop}
    ready_timeout: 5s
)";
  const std::string alphabet = " :-[]{}\n\"'&*!|>#,?%@`\\\t0aZ<";
  std::mt19937 rng(42);
  for (int i = 0; i < 3000; ++i) {
    std::string text = good;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      std::size_t pos = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: text.erase(pos, 1 + rng() % 8); break;
        default: text.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
      }
      if (text.empty()) text = "x";
    }
    try {
      load_string(text, "/tmp/eco.yaml");
    } catch (const ConfigError&) {
    } catch (const std::exception& e) {
      FAIL("non-ConfigError " << e.what() << " for:\n" << text);
    }
  }
  for (const char* text : {"~", "null", "apps: ~", "apps: [~]", "apps: [[]]", "apps:\n  - name: ~\n    run: ~\n",
                           "apps:\n  - {name: a, run: [sh], env: ~, restart: ~, logs: ~}\n", "&a [*a]", "*x",
                           "apps: !!binary aGk=", "{? : }", "apps:\n  - <<: 5\n", "apps:\n  - <<: [1]\n"}) {
    try {
      load_string(text, "/tmp/eco.yaml");
    } catch (const ConfigError&) {
    } catch (const std::exception& e) {
      FAIL("non-ConfigError " << e.what() << " for:\n" << text);
    }
  }
}

// --------------------------------------------------------------------------
// The value parsers

TEST_CASE("config units: durations") {
  CHECK(parse_duration("100ms") == 100ms);
  CHECK(parse_duration("5s") == 5s);
  CHECK(parse_duration("2m") == 2min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("1d") == 24h);
  CHECK(parse_duration("250") == 250ms);
  CHECK(parse_duration("0") == 0ms);
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("0.1s") == 100ms);
  CHECK(parse_duration("2.5m") == 150s);
  for (const char* bad : {"", "s", "-5s", "+5s", "5 s", "5sec", "5S", "1.5", ".5s", "1.s", "1e3ms", "fast",
                          "99999999999999999999d", "999999999999999d", "5s5"}) {
    CHECK_MESSAGE(!parse_duration(bad), bad);
  }
}

TEST_CASE("config units: sizes") {
  CHECK(parse_size("512") == 512u);
  CHECK(parse_size("512K") == 512u << 10);
  CHECK(parse_size("512k") == 512u << 10);
  CHECK(parse_size("50M") == 50ull << 20);
  CHECK(parse_size("50mb") == 50ull << 20);
  CHECK(parse_size("50MiB") == 50ull << 20);
  CHECK(parse_size("1G") == 1ull << 30);
  CHECK(parse_size("1GB") == 1ull << 30);
  CHECK(parse_size("2T") == 2ull << 40);
  CHECK(parse_size("1.5K") == 1536u);
  CHECK(parse_size("100B") == 100u);
  CHECK(parse_size("18446744073709551615") == UINT64_MAX);
  for (const char* bad : {"", "M", "-1", "1.5", "5X", "5 M", "1e3", "99999999999999999999", "20000000000G"}) {
    CHECK_MESSAGE(!parse_size(bad), bad);
  }
}

TEST_CASE("config units: listen addresses") {
  auto check = [](std::string_view text, const char* host, uint16_t port) {
    auto a = parse_listen(text);
    REQUIRE_MESSAGE(a.has_value(), text);
    CHECK(a->host == host);
    CHECK(a->port == port);
  };
  check("127.0.0.1:8080", "127.0.0.1", 8080);
  check("[::1]:8080", "::1", 8080);
  check("[::]:0", "::", 0);
  check("[0:0::1]:80", "::1", 80);
  check("localhost:8080", "127.0.0.1", 8080);
  check(":8080", "0.0.0.0", 8080);
  check("*:65535", "0.0.0.0", 65535);
  for (const char* bad : {"", "8080", ":", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x",
                          "::1:8080", "[::1]8080", "[::1", "[127.0.0.1]:80", "example.com:80", "1.2.3:80",
                          "256.0.0.1:80", "127.0.0.1:+80", "127.0.0.1:0080800"}) {
    CHECK_MESSAGE(!parse_listen(bad), bad);
  }
  CHECK(ListenAddr{"127.0.0.1", 8080}.str() == "127.0.0.1:8080");
  CHECK(ListenAddr{"::1", 8080}.str() == "[::1]:8080");
}

TEST_CASE("config units: command splitting") {
  using Words = std::vector<std::string>;
  CHECK(split_command("node  app.js\t--port 80") == Words{"node", "app.js", "--port", "80"});
  CHECK(split_command("") == Words{});
  CHECK(split_command("   ") == Words{});
  CHECK(split_command("a 'b c' \"d e\"") == Words{"a", "b c", "d e"});
  CHECK(split_command("a '' \"\"") == Words{"a", "", ""});
  CHECK(split_command("x'y'\"z\"") == Words{"xyz"});
  CHECK(split_command(R"('it\s' "a\"b\\c\$d\e")") == Words{R"(it\s)", R"(a"b\c$d\e)"});
  CHECK(split_command(R"(a\ b \'c)") == Words{"a b", "'c"});
  CHECK(split_command("a \\\nb") == Words{"a", "b"});
  CHECK(split_command("echo $HOME *.js ~") == Words{"echo", "$HOME", "*.js", "~"});  // no expansion
  CHECK_FALSE(split_command("a 'b").has_value());
  CHECK_FALSE(split_command("a \"b").has_value());
  CHECK_FALSE(split_command("a \"b\\\"").has_value());
  CHECK_FALSE(split_command("a\\").has_value());
}

TEST_CASE("config units: locations, errors and enum names") {
  Location at{"eco.yaml", 7, 14, "apps[0].instances"};
  CHECK(at.str() == "eco.yaml:7:14: apps[0].instances");
  ConfigError e(at, "expected an integer >= 1 or \"max\", got \"zero\"");
  CHECK(std::string(e.what()) == "eco.yaml:7:14: apps[0].instances: expected an integer >= 1 or \"max\", got \"zero\"");
  CHECK(e.where().line == 7);
  CHECK(std::string(ConfigError("cannot read x").what()) == "cannot read x");

  CHECK(std::string(to_string(Protocol::Rack)) == "rack");
  CHECK(std::string(to_string(Protocol::Node)) == "node");
  CHECK(std::string(to_string(Protocol::Inherit)) == "inherit");
  CHECK(std::string(to_string(Protocol::None)) == "none");
  CHECK(std::string(to_string(Dispatch::RoundRobin)) == "round-robin");
  CHECK(std::string(to_string(Dispatch::LeastConnections)) == "least-connections");
  CHECK(std::string(to_string(OnFull::Block)) == "block");
  CHECK(std::string(to_string(OnFull::Drop)) == "drop");
  CHECK(std::string(to_string(Aggregation::Sum)) == "sum");
  CHECK(std::string(to_string(Aggregation::First)) == "first");
}

TEST_CASE("config: rack.admin_token is a visible token of 16+ characters, never echoed in the error") {
  Ecosystem eco = load_string("rack: {admin_token: 0123456789abcdef-xyz}\napps:\n  - {name: a, run: [sh]}\n", "/tmp/eco.yaml");
  CHECK(eco.rack.admin_token == "0123456789abcdef-xyz");
  CHECK(load_string("apps:\n  - {name: a, run: [sh]}\n", "/tmp/eco.yaml").rack.admin_token.empty());
  std::string short_one = what_of("rack: {admin_token: sekrit}\napps:\n  - {name: a, run: [sh]}\n");
  CHECK(short_one.find("rack.admin_token") != std::string::npos);
  CHECK(short_one.find("got 6 characters") != std::string::npos);
  CHECK(short_one.find("sekrit") == std::string::npos);
  CHECK(what_of("rack: {admin_token: 'has a space in it ok'}\napps:\n  - {name: a, run: [sh]}\n")
            .find("with a space or control character") != std::string::npos);
}

TEST_CASE("config: logs.dir: off (or false) means no log files, and ./off is a directory") {
  for (const char* v : {"off", "false", "no", "\"off\""}) {
    Ecosystem eco = load_string(std::string("apps:\n  - {name: a, run: [sh], logs: {dir: ") + v + "}}\n",
                                "/tmp/some/eco.yaml");
    CHECK_MESSAGE(!eco.apps[0].logs.files, v);
    CHECK_MESSAGE(eco.apps[0].logs.dir.empty(), v);
  }
  Ecosystem eco = load_string("apps:\n  - {name: a, run: [sh], logs: {dir: ./off}}\n", "/tmp/some/eco.yaml");
  CHECK(eco.apps[0].logs.files);
  CHECK(eco.apps[0].logs.dir == "/tmp/some/off");
  CHECK(what_of("apps:\n  - {name: a, run: [sh], logs: {dir: [a]}}\n").find("expected a directory, or off") !=
        std::string::npos);
}
