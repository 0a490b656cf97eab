// rackctl save keeps each app's resolved configuration, so resurrect works
// after the ecosystem file moved or changed, and says which it started.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "harness.h"

using namespace rack::test;
namespace fs = std::filesystem;

namespace {

// An app whose cwd is relative to its file: read again from anywhere else,
// the file would name another directory.
std::string site_app(const std::string& instances) {
  return "apps:\n  - name: web\n    run: [" + bin("rack-hello") +
         "]\n    cwd: ../site\n    protocol: rack\n    listen: 127.0.0.1:0\n    instances: " + instances +
         "\n    env: {GREETING: \"from the snapshot\"}\n    logs: {keep: 3}\n";
}

}  // namespace

TEST_CASE("save: resurrect starts the saved configuration after the file moved and rackd was killed") {
  Rack rack;
  fs::create_directories(rack.home() + "/conf");
  fs::create_directories(rack.home() + "/site");
  std::string eco = rack.write_file("conf/eco.yaml", site_app("2"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.ctl({"scale", "web", "3"}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 3));
  auto saved = rack.ctl({"save"});
  REQUIRE_MESSAGE(saved.exit_code == 0, saved.err);

  fs::create_directories(rack.home() + "/elsewhere/deeper");
  fs::rename(eco, rack.home() + "/elsewhere/deeper/eco.yaml");
  REQUIRE(rack.ctl({"kill"}).exit_code == 0);

  auto r = rack.ctl({"resurrect"});
  CHECK_MESSAGE(r.exit_code == 0, r.out, r.err);
  CHECK_MESSAGE(r.out.find("web: " + eco + " is gone; starting the configuration saved with it") != std::string::npos,
                r.out);
  REQUIRE(rack.wait_ready("web", 3));
  json app = rack.app("web");
  CHECK(app["instances"] == 3);
  // The workers run in the directory the original file meant.
  for (pid_t pid : rack.pids("web")) {
    std::error_code ec;
    CHECK(fs::read_symlink("/proc/" + std::to_string(pid) + "/cwd", ec) == fs::canonical(rack.home() + "/site"));
    std::ifstream env("/proc/" + std::to_string(pid) + "/environ");
    std::string text((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
    CHECK(text.find("GREETING=from the snapshot") != std::string::npos);
  }
  auto at = rack.address("web");
  CHECK(http_get(at, "/").status == 200);
}

TEST_CASE("save: resurrect says when the file changed since save, and starts what was saved") {
  Rack rack;
  fs::create_directories(rack.home() + "/conf");
  fs::create_directories(rack.home() + "/site");
  std::string eco = rack.write_file("conf/eco.yaml", site_app("2"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  REQUIRE(rack.ctl({"save"}).exit_code == 0);
  rack.write_file("conf/eco.yaml", site_app("1"));
  REQUIRE(rack.ctl({"kill"}).exit_code == 0);

  auto r = rack.ctl({"resurrect"});
  CHECK_MESSAGE(r.exit_code == 0, r.out, r.err);
  CHECK_MESSAGE(r.out.find("web: " + eco + " changed since it was saved") != std::string::npos, r.out);
  CHECK(r.out.find("rackctl reload " + eco) != std::string::npos);
  REQUIRE(rack.wait_ready("web", 2));
  CHECK(rack.app("web")["instances"] == 2);

  // Unchanged since save: the file itself, and nothing said.
  REQUIRE(rack.ctl({"save"}).exit_code == 0);
  REQUIRE(rack.ctl({"kill"}).exit_code == 0);
  r = rack.ctl({"resurrect"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("saved with it") == std::string::npos);
}
