// Loose ends of the logs under faults: the last lines of workers ending
// with rackd, rackd.log under an external logrotate, `logs -n` reaching
// back through every rotated file it needs. Real rackd, temp RACK_HOME.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>

#include "harness.h"

using namespace rack::test;
namespace fs = std::filesystem;

namespace {

std::string read(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("faults: at rackd stop the pipes are drained: the last lines of exiting workers are in the files") {
  Rack rack;
  // On SIGTERM each worker writes 3000 lines, then one without a newline,
  // and exits at once. That last piece reaches rackd with the exit or just
  // after it (the pipe's EOF comes in a later loop turn): rackd must read
  // every pipe to its end before it exits. Three rounds, each a new rackd.
  std::string eco = rack.write_file(
      "eco.yaml",
      "rack:\n  admin: off\napps:\n  - name: bye\n    instances: 4\n    run: [/bin/sh, -c, "
      "'trap ''i=0; while [ $i -lt 3000 ]; do echo bye-$RACK_INSTANCE-$i; i=$((i+1)); done; "
      "printf last-$RACK_INSTANCE; exit 0'' TERM; echo up; while :; do sleep 0.05; done']\n"
      "    logs: {time: false}\n");
  std::string out = rack.home() + "/logs/bye.out.log";
  for (int round = 0; round < 3; ++round) {
    std::filesystem::remove(out);
    REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
    REQUIRE(wait_until([&] { return read(out).find("up\nup\nup\nup\n") != std::string::npos; }, 10s));
    pid_t rackd = rack.rackd_pid();
    REQUIRE(rack.ctl({"kill"}).exit_code == 0);
    REQUIRE(wait_until([&] { return !pid_alive(rackd); }, 20s));
    std::string text = read(out);
    for (int slot = 0; slot < 4; ++slot) {
      for (std::string line : {"bye-" + std::to_string(slot) + "-2999", "last-" + std::to_string(slot)})
        CHECK_MESSAGE(text.find("\n" + line + "\n") != std::string::npos, "round " << round << ": no line " << line);
    }
  }
}

TEST_CASE("faults: rackd.log is reopened on reload-logs and SIGUSR1 after an external move, and stays 0600") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("a.yaml", "rack:\n  admin: off\napps:\n" + hello_app("a", 1))}).exit_code == 0);
  std::string log = rack.home() + "/rackd.log";
  fs::rename(log, log + ".1");
  REQUIRE(rack.ctl({"reload-logs"}).exit_code == 0);
  REQUIRE(rack.ctl({"start", rack.write_file("b.yaml", "apps:\n" + hello_app("b", 1))}).exit_code == 0);
  CHECK(wait_until([&] { return read(log).find("b slot 0: started pid") != std::string::npos; }, 5s));
  CHECK(read(log + ".1").find("b slot 0") == std::string::npos);
  struct stat st {};
  REQUIRE(stat(log.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  fs::rename(log, log + ".2");
  REQUIRE(kill(rack.rackd_pid(), SIGUSR1) == 0);
  CHECK(wait_until([&] { return fs::exists(log); }, 5s));
  REQUIRE(rack.ctl({"start", rack.write_file("c.yaml", "apps:\n" + hello_app("c", 1))}).exit_code == 0);
  CHECK(wait_until([&] { return read(log).find("c slot 0: started pid") != std::string::npos; }, 5s));
  CHECK(read(log + ".2").find("c slot 0") == std::string::npos);
  REQUIRE(stat(log.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("faults: rackd.log rotated by size: every file, the rotated ones too, stays 0600") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("a.yaml", "rack:\n  admin: off\napps:\n" + hello_app("a", 1))}).exit_code == 0);
  std::string log = rack.home() + "/rackd.log";
  std::string rotated = rack.home() + "/rackd.1.log";  // spdlog's name for the newest rotation
  auto mode = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? int(st.st_mode & 0777) : -1;
  };
  // rackd.log rotates at 50 MiB. A sparse file of that size costs no disk:
  // reload-logs reopens it, reads its size, and the next line rotates.
  // Twice, so that rackd.1.log is a file the rotating sink created itself
  // (the first rotation renames the file rackd's daemonize() made).
  for (const char* app : {"b", "c"}) {
    fs::resize_file(log, 50u << 20);
    REQUIRE(rack.ctl({"reload-logs"}).exit_code == 0);
    REQUIRE(rack.ctl({"start", rack.write_file(std::string(app) + ".yaml", "apps:\n" + hello_app(app, 1))}).exit_code == 0);
    std::string started = std::string(app) + " slot 0: started pid";
    CHECK(wait_until([&] { return read(log).find(started) != std::string::npos; }, 5s));
    REQUIRE(fs::exists(rotated));
    CHECK(fs::file_size(rotated) >= (50u << 20));
    CHECK(mode(log) == 0600);
    CHECK(mode(rotated) == 0600);
  }
}

TEST_CASE("faults: rackctl logs -n 3000 reads back through as many rotated files as it needs") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n" +
                      hello_app("chatty", 1, "    logs: {max_size: 64K, keep: 20, compress: true}\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  auto r = http_get(rack.address("chatty"), "/print?lines=4266", 30s);
  REQUIRE(r.status == 200);
  std::string dir = rack.home() + "/logs";
  auto printed = [&] {
    auto l = rack.ctl({"logs", "chatty", "--out", "-n", "20"}).out;
    return l.find("print 00004266") != std::string::npos;
  };
  REQUIRE(wait_until(printed, 10s));
  int rotated = 0;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("chatty.out.", 0) == 0 && e.path().filename() != "chatty.out.log") ++rotated;
  CHECK(rotated >= 4);  // 4266 lines of ~110 bytes at 64K a file

  auto logs = rack.ctl({"logs", "chatty", "--out", "-n", "3000"});
  REQUIRE(logs.exit_code == 0);
  std::istringstream in(logs.out);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  CHECK(lines.size() == 3000);
  // The print lines among them are the last ones, consecutive, ending at 4266.
  std::vector<long> numbers;
  for (auto& l : lines) {
    auto at = l.find("print ");
    if (at != std::string::npos) numbers.push_back(std::stol(l.substr(at + 6, 8)));
  }
  REQUIRE(numbers.size() >= 2990);
  CHECK(numbers.back() == 4266);
  for (size_t i = 1; i < numbers.size(); ++i) {
    if (numbers[i] != numbers[i - 1] + 1) {
      FAIL_CHECK("line " << numbers[i - 1] << " is followed by " << numbers[i]);
      break;
    }
  }
}
