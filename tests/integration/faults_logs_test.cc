// Loose ends of the logs under faults: the last lines of workers ending
// with rackd, rackd.log under an external logrotate, `logs -n` reaching
// back through every rotated file it needs, a line cut short by a full
// disk across flush and reload-logs. Real rackd, temp RACK_HOME.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "tools.h"

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

namespace {

// The file ends inside a line (a write cut short by the full disk) and has
// stopped growing.
bool ends_cut_short(const std::string& path) {
  std::string before = read(path);
  std::this_thread::sleep_for(200ms);
  std::string now = read(path);
  return !now.empty() && now == before && now.back() != '\n';
}

}  // namespace

TEST_CASE("faults: a line cut short by a full disk is written whole after rackctl flush, and after a move and reload-logs") {
  Rack rack;
  std::string mnt = rack.home() + "/small";
  auto disk = SmallDisk::mount(mnt);
  if (!disk) {
    MESSAGE("cannot mount a tmpfs here (needs root); LogFile's partial-line restart is covered by log_test.cc");
    return;
  }
  disk->fill_leaving(32);  // about a hundred lines, then a write stops inside one
  // 1000 lines "NNNNN 000…000 NNNNN" of 303 bytes: tmpfs fills by the 4 KiB
  // page, which 303 never divides, so each full disk cuts a line.
  std::string done = rack.home() + "/done";
  std::string eco = "rack:\n  admin: off\napps:\n  - name: cut\n    run: [/bin/sh, -c, 'pad=$(printf %0290d 0); "
                    "i=0; while [ $i -lt 1000 ]; do printf \"%05d %s %05d\\n\" $i $pad $i; i=$((i+1)); done; touch " +
                    done + "; exec sleep 1000']\n    protocol: none\n"
                    "    logs: {dir: " + mnt + ", max_size: 100M, compress: false, time: false, buffer: 64K}\n";
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", eco)}).exit_code == 0);
  std::string log = mnt + "/cut.out.log";
  REQUIRE(wait_until([&] { return ends_cut_short(log); }, 15s));
  // flush empties the file: the head of the cut line is gone with it, so
  // the line starts over at offset 0 (not its tail alone), and fills the
  // disk again up to another cut.
  REQUIRE(rack.ctl({"flush", "cut"}).exit_code == 0);
  CHECK(wait_until([&] { return ends_cut_short(log); }, 15s));
  // logrotate moves the file, reload-logs reopens it: the head of the cut
  // line comes off the moved file, and the line goes whole to the new one.
  fs::rename(log, log + ".1");
  REQUIRE(rack.ctl({"reload-logs"}).exit_code == 0);
  CHECK(wait_until([&] { return fs::exists(log); }, 5s));
  std::this_thread::sleep_for(300ms);
  fs::remove(mnt + "/filler");  // space returns
  REQUIRE(wait_until([&] { return fs::exists(done); }, 30s));
  REQUIRE(wait_until([&] {
    std::string t = read(log);
    return t.size() >= 6 && t.compare(t.size() - 6, 6, "00999\n") == 0;
  }, 10s));

  // Every line whole, in order, none twice, from the first after the
  // flush, through the moved file, to the last.
  std::string moved = read(log + ".1");
  CHECK(!moved.empty());
  CHECK(moved.back() == '\n');  // or a head left there would join its tail below
  std::istringstream in(moved + read(log));
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  REQUIRE(lines.size() > 100);
  const std::string pad(290, '0');
  long expect = -1;
  int bad = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    bool whole = l.size() == 302 && l.compare(0, 5, l, 297, 5) == 0 && l.compare(5, 292, " " + pad + " ") == 0 &&
                 l.find_first_not_of("0123456789", 0) == 5;
    long k = whole ? std::strtol(l.c_str(), nullptr, 10) : -1;
    if (whole && (expect < 0 || k == expect)) {
      expect = k + 1;
      continue;
    }
    if (++bad <= 3) FAIL_CHECK("line " << i << " (after " << expect - 1 << ") is not whole or out of order: \"" << l.substr(0, 40)
                                      << "…\" (" << l.size() << " bytes)");
  }
  CHECK(bad == 0);
  CHECK(expect == 1000);
}
