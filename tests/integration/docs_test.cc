// The examples of docs/pm2-migration.md and docs/node.md that are not PM2
// files, run as written (the blocks after `<!-- tested: NAME -->`; the PM2
// files are pm2_ecosystem_test.cc's): the commands that start what a PM2
// user has, a node app's ecosystem.yaml, gunicorn under protocol: inherit.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.h"
#include "tools.h"

using namespace rack::test;
namespace fs = std::filesystem;

namespace {

// `line` run by sh in `dir`, with rackctl on PATH, as a user types it.
RunResult sh_in(Rack& rack, const std::string& dir, const std::string& line) {
  std::string bin_dir = fs::path(bin("rackctl")).parent_path().string();
  return run({"/bin/sh", "-c", "cd " + dir + " && export RACK_HOME=" + rack.home() + " PATH=" + bin_dir + ":$PATH && " + line});
}

// Rack's own ecosystem first, so rackd's admin listener is on a free port.
void start_rackd(Rack& rack) {
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("hello", 1))})
              .exit_code == 0);
}

std::vector<std::string> lines_of(const std::string& block) {
  std::vector<std::string> out;
  std::istringstream in(block);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

// A node server that answers with its argv.
constexpr const char* kArgvServer =
    "const http = require('http');\n"
    "http.createServer((req, res) => res.end(JSON.stringify(process.argv.slice(2))))"
    ".listen(Number(process.env.PORT));\n";

// A WSGI app for gunicorn's `app:app`.
constexpr const char* kWsgiApp =
    "import os\n\n"
    "def app(environ, start_response):\n"
    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
    "    return [f'hello from gunicorn {os.getpid()}\\n'.encode()]\n";

bool have_gunicorn() {
  if (!which("gunicorn").empty()) return true;
  MESSAGE("gunicorn is not installed (scripts/install-deps --test installs it): the documented gunicorn example "
          "was not run");
  return false;
}

// A doc's inherit-mode gunicorn app (`name: py`): two slots on one socket
// that rackd passes as fd 3, gunicorn with no --bind. Up, answering, and a
// reload replaces both without a crash loop.
void run_gunicorn_block(const std::string& doc, const std::string& name) {
  Rack rack;
  start_rackd(rack);
  std::string dir = rack.home() + "/pyproj";
  fs::create_directories(dir);
  std::ofstream(dir + "/app.py") << kWsgiApp;
  int port = free_port();
  std::string block = with_replaced(doc_block(doc, name), "8000", std::to_string(port));
  auto r = sh_in(rack, dir, "rackctl start " + rack.write_file("pyproj/ecosystem.yaml", "apps:\n" + block));
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  REQUIRE(rack.wait_ready("py", 2, 30s));
  auto res = http_get({"127.0.0.1", port}, "/");
  CHECK(res.status == 200);
  CHECK(res.body.starts_with("hello from gunicorn "));
  auto before = rack.pids("py");
  r = rack.ctl({"reload", "py"});
  CHECK_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(rack.wait_ready("py", 2, 30s));
  CHECK(http_get({"127.0.0.1", port}, "/").status == 200);
  json app = rack.app("py");  // held: a range-for over a temporary's member dangles
  for (const auto& w : app["workers"]) CHECK_MESSAGE(w["restarts"] == 0, rack.ctl({"logs", "py"}).out);
  CHECK(rack.pids("py", "ready") != before);
}

}  // namespace

TEST_CASE("pm2 docs: the start commands of docs/pm2-migration.md run as written, -- --flag included") {
  Rack rack;
  start_rackd(rack);
  std::string dir = rack.home() + "/proj";
  fs::create_directories(dir + "/src");
  int eco_port = free_port(), script_port = free_port();
  std::ofstream(dir + "/src/server.js") << doc_block("pm2-migration.md", "src/server.js");
  std::ofstream(dir + "/ecosystem.config.js")
      << with_replaced(doc_block("pm2-migration.md", "ecosystem.config.js"), "3000", std::to_string(eco_port));
  std::ofstream(dir + "/server.js") << kArgvServer;
  auto lines = lines_of(with_replaced(doc_block("pm2-migration.md", "start what you have"), "3000", std::to_string(script_port)));
  REQUIRE(lines.size() == 3);
  auto answer = [&](int port) { return http_get({"127.0.0.1", port}, "/").body; };

  // rackctl start ecosystem.config.js --env production
  auto r = sh_in(rack, dir, lines[0]);
  REQUIRE_MESSAGE(r.exit_code == 0, lines[0] << "\n" << r.out << r.err);
  REQUIRE(rack.wait_ready("api", 2, 20s));
  CHECK(answer(eco_port) == "hello from production\n");
  REQUIRE(rack.ctl({"delete", "api"}).exit_code == 0);

  // rackctl start: finds ecosystem.config.js, with its env (development).
  r = sh_in(rack, dir, lines[1]);
  REQUIRE_MESSAGE(r.exit_code == 0, lines[1] << "\n" << r.out << r.err);
  REQUIRE(rack.wait_ready("api", 2, 20s));
  CHECK(answer(eco_port) == "hello from development\n");
  REQUIRE(rack.ctl({"delete", "api"}).exit_code == 0);

  // rackctl start server.js -i 4 --name api --listen :PORT -- --flag
  r = sh_in(rack, dir, lines[2]);
  REQUIRE_MESSAGE(r.exit_code == 0, lines[2] << "\n" << r.out << r.err);
  REQUIRE(rack.wait_ready("api", 4, 30s));
  CHECK(rack.app("api")["protocol"] == "node");
  CHECK(answer(script_port) == R"(["--flag"])");
}

TEST_CASE("pm2 docs: the gunicorn example of docs/pm2-migration.md serves from two slots and reloads") {
  if (!have_gunicorn()) return;
  run_gunicorn_block("pm2-migration.md", "gunicorn");
}

TEST_CASE("node docs: the first example of docs/node.md runs a node app in four slots") {
  Rack rack;
  start_rackd(rack);
  std::string dir = rack.home() + "/srv-api";
  fs::create_directories(dir);
  std::ofstream(dir + "/server.js") << kArgvServer;
  int port = free_port();
  std::string block = with_replaced(with_replaced(doc_block("node.md", "node app"), "/srv/api", dir), "3000",
                                  std::to_string(port));
  auto r = sh_in(rack, dir, "rackctl start " + rack.write_file("node-app.yaml", block));
  REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
  REQUIRE(rack.wait_ready("api", 4, 30s));
  CHECK(rack.app("api")["protocol"] == "node");
  auto res = http_get({"127.0.0.1", port}, "/");
  CHECK(res.status == 200);
  CHECK(res.body == "[]");
}

TEST_CASE("node docs: the socket activation example of docs/node.md runs gunicorn in two slots") {
  if (!have_gunicorn()) return;
  run_gunicorn_block("node.md", "inherit");
}
