// Hostile input: what a client, a worker or a file in RACK_HOME sends must
// get a clear error, never crash rackd, and never harm what runs.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "harness.h"

using namespace rack::test;

namespace {

std::string apps_dir() { return std::string(RACK_SOURCE_DIR) + "/tests/apps"; }

std::string fake_node(const std::string& name, const std::string& args) {
  return "  - name: " + name + "\n    run: [python3, fake_node.py, " + args + "]\n    cwd: " + apps_dir() +
         "\n    protocol: node\n    listen: 127.0.0.1:0\n    ready_timeout: 10s\n";
}

}  // namespace

TEST_CASE("hostile: a node worker's 200 KB line of nested arrays is refused and rackd and the worker carry on") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 1) +
                                                    fake_node("deep", "deep, '100000'"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  pid_t rackd = rack.rackd_pid();
  // The worker writes the deep lines first, then "listening": it becomes
  // ready only if rackd read past them.
  REQUIRE(rack.wait_ready("deep", 1));
  CHECK(pid_alive(rackd));
  CHECK(rack.wait_ready("web", 1));
  std::ifstream log(rack.home() + "/rackd.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(text.find("nested deeper than 64 levels") != std::string::npos);
  // The line is never quoted whole into the log.
  CHECK(text.find("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[") == std::string::npos);
}

TEST_CASE("hostile: rackctl resurrect on a malformed dump.json says what is wrong and exits 2") {
  Rack rack;
  struct Case {
    const char* dump;
    const char* says;
  } cases[] = {
      {"[1]", "entry 0: expected an object, got number"},
      {"{\"name\":\"web\"}", "expected a list of saved apps, got object"},
      {"[{\"name\":\"web\",\"file\":7}]", "entry 0: file: expected a non-empty string, got 7 (number)"},
      {"[{\"name\":\"web\",\"file\":\"/x.yaml\",\"instances\":\"two\"}]", "instances: expected a whole number >= 1"},
      {"[{\"name\":\"web\",\"file\":\"/x.yaml\",\"stopped\":1}]", "stopped: expected true or false, got number"},
      {"[{\"file\":\"/x.yaml\"}]", "entry 0: name: missing"},
      {"[{\"name\":\"web\",", "parse error"},
  };
  for (const Case& c : cases) {
    rack.write_file("dump.json", c.dump);
    auto r = rack.ctl({"resurrect"});
    CHECK_MESSAGE(r.exit_code == 2, std::string(c.dump) << " -> exit " << r.exit_code << ": " << r.err);
    CHECK_MESSAGE(r.err.find(c.says) != std::string::npos, std::string(c.dump) << " -> " << r.err);
  }
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  rack.write_file("dump.json", deep);
  auto r = rack.ctl({"resurrect"});
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("nested deeper than 64 levels") != std::string::npos, r.err);
  // Nothing was started for a file that is wrong.
  CHECK_FALSE(std::filesystem::exists(rack.home() + "/rackd.sock"));
}

namespace {

rack::http::Client::Result control(Rack& rack, const std::string& method, const std::string& path,
                                   const std::string& body = "") {
  auto c = rack::http::Client::unix_socket(rack.home() + "/rackd.sock");
  c.set_timeout(10s);
  return c.request(method, path, body, {{"Content-Type", "application/json"}});
}

}  // namespace

TEST_CASE("hostile: control API bodies nested 90000 deep or of the wrong type get a 400 that says why") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 1));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  pid_t rackd = rack.rackd_pid();
  std::string deep = std::string(90000, '[') + std::string(90000, ']');
  for (const char* path : {"/v1/start", "/v1/reload"}) {
    auto r = control(rack, "POST", path, "{\"file\":\"" + eco + "\",\"only\":" + deep + "}");
    CHECK_MESSAGE(r.status == 400, path << ": " << r.error_text);
    CHECK_MESSAGE(r.body.find("nested deeper than 64 levels") != std::string::npos, r.body);
  }
  struct Case {
    std::string method, path, body, says;
  } cases[] = {
      {"POST", "/v1/start", "{\"file\":7}", "file: expected a path (a string), got number 7"},
      {"POST", "/v1/start", "{\"file\":\"" + eco + "\",\"only\":[1]}", "only: expected an app name (a string), got array"},
      {"POST", "/v1/start", "[1,2]", "body: expected a JSON object, got array"},
      {"POST", "/v1/start", "{\"file\":\"" + eco + "\\u0000.x\"}", "file: the path contains a NUL byte"},
      {"POST", "/v1/apps/web/scale", "{\"instances\":true}", "instances: expected a number, +N or -N, got boolean true"},
      {"POST", "/v1/apps/web/loglevel", "{\"level\":{}}", "level: expected trace, debug, info, warn, error or fatal, got object"},
      {"GET", "/v1/logs?stream=../../etc/passwd", "", "stream: expected out or err, got \\\"../../etc/passwd\\\""},
      {"GET", "/v1/apps/web%00/x", "", "the request path contains a NUL byte"},
      {"GET", "/v1/apps/w%2Eb", "", "app name \\\"w%2Eb\\\": expected 1 to 64 letters, digits, '-' or '_'"},
      {"POST", "/v1/apps/" + std::string(65, 'a') + "/stop", "", "expected 1 to 64 letters"},
      {"DELETE", "/v1/apps/", "", "app name \\\"\\\": expected 1 to 64"},
      {"POST", "/v1/logs/flush?app=we/b", "", "app name \\\"we/b\\\": expected 1 to 64"},
  };
  for (const Case& c : cases) {
    auto r = control(rack, c.method, c.path, c.body);
    CHECK_MESSAGE(r.status == 400, c.path << " " << c.body << " -> " << r.status << " " << r.body);
    CHECK_MESSAGE(r.body.find(c.says) != std::string::npos, c.path << " " << c.body << " -> " << r.body);
  }
  CHECK(pid_alive(rackd));
  CHECK(rack.wait_ready("web", 1));
}

namespace {

std::string env_app(const std::string& name, const std::string& out, const std::string& extra) {
  return "  - name: " + name + "\n    run: [sh, -c, 'env > " + out + "; exec sleep 600']\n    env: {APP_OWN: set}\n" +
         extra;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool has_var(const std::string& env, const std::string& name) {
  return env.rfind(name + "=", 0) == 0 || env.find("\n" + name + "=") != std::string::npos;
}

}  // namespace

TEST_CASE("hostile: inherit_env false gives workers the minimal environment, env and Rack's own variables") {
  // rackd inherits this from the rackctl that starts it, as a secret in
  // the shell of whoever first ran `rackctl start` would be.
  ::setenv("SHELL_SECRET_TOKEN", "hunter2", 1);
  ::setenv("LC_TIME", "C", 1);
  Rack rack;
  std::string all = rack.home() + "/all.env", minimal = rack.home() + "/minimal.env";
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + env_app("all", all, "") +
                                                    env_app("minimal", minimal, "    inherit_env: false\n"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  REQUIRE(wait_until([&] { return read_file(all).find("RACK_APP=") != std::string::npos &&
                                  read_file(minimal).find("RACK_APP=") != std::string::npos; }, 15s));
  std::string a = read_file(all), m = read_file(minimal);
  CHECK(has_var(a, "SHELL_SECRET_TOKEN"));  // the default is PM2's: everything
  CHECK_FALSE_MESSAGE(has_var(m, "SHELL_SECRET_TOKEN"), m);
  for (const char* name : {"PATH", "HOME", "LC_TIME", "APP_OWN", "RACK_APP", "RACK_INSTANCE", "RACK_GENERATION"})
    CHECK_MESSAGE(has_var(m, name), name << " missing from\n" << m);
  CHECK(m.find("RACK_APP=minimal") != std::string::npos);
  // Nothing outside the documented set: every line is one of them.
  std::istringstream lines(m);
  for (std::string line; std::getline(lines, line);) {
    std::string name = line.substr(0, line.find('='));
    bool documented = name == "PATH" || name == "HOME" || name == "USER" || name == "LOGNAME" || name == "SHELL" ||
                      name == "TMPDIR" || name == "TZ" || name == "LANG" || name == "LANGUAGE" ||
                      name.rfind("LC_", 0) == 0 || name == "APP_OWN" || name.rfind("RACK_", 0) == 0 ||
                      name == "PWD" || name == "SHLVL" || name == "_";  // the last three: set by sh itself
    CHECK_MESSAGE(documented, "undocumented variable " << name);
  }
}

TEST_CASE("hostile: a node worker's 64 MB line is skipped and counted, and the worker is served after it") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                                                    fake_node("long", "long, '67108864'"));
  auto r = rack.ctl({"start", eco});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  // "listening" comes after the line: ready only if rackd read on past it.
  REQUIRE(rack.wait_ready("long", 1));
  auto m = http_get(rack.admin(), "/metrics");
  CHECK(metric_sample(m.body, "rack_worker_protocol_errors_total{app=\"long\"}").value_or(0) == 1);
  std::string log = read_file(rack.home() + "/rackd.log");
  CHECK(log.find("a line over 4 MB; skipped to its end") != std::string::npos);
  CHECK(log.size() < (64u << 10));
}
