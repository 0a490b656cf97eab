// Issue 4: every line of every worker captured once, in order, across
// rotation and compression; disk full; logs -f across rotation; redaction
// and runtime log levels.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "harness.h"
#include "tools.h"

using namespace rack::test;
namespace fs = std::filesystem;

namespace {

// Lines of <dir>/<base>.log and its rotated files (<base>.<stamp>.log[.gz]),
// oldest first. Rotated names sort by time.
std::vector<std::string> read_all_lines(const std::string& dir, const std::string& base, int* rotated_count = nullptr) {
  std::vector<std::string> rotated;
  for (auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename();
    if (n.rfind(base + ".", 0) == 0 && n != base + ".log" && n.find(".tmp") == std::string::npos) rotated.push_back(n);
  }
  std::sort(rotated.begin(), rotated.end());
  if (rotated_count) *rotated_count = static_cast<int>(rotated.size());
  rotated.push_back(base + ".log");
  std::vector<std::string> lines;
  for (auto& n : rotated) {
    std::string path = dir + "/" + n, content;
    if (n.ends_with(".gz")) {
      gzFile g = gzopen(path.c_str(), "rb");
      REQUIRE(g);
      char buf[1 << 16];
      int k;
      while ((k = gzread(g, buf, sizeof buf)) > 0) content.append(buf, k);
      gzclose(g);
    } else {
      std::ifstream f(path);
      content.assign(std::istreambuf_iterator<char>(f), {});
    }
    std::istringstream in(content);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  return lines;
}

// `rackctl logs APP -f -n 0` (with --json when `json`) in a child process;
// its stdout is `out`. The caller stops it (SIGTERM) and closes `out`.
pid_t follow(Rack& rack, const std::string& app, bool json, int& out, const char* n = "0") {
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("RACK_HOME", rack.home().c_str(), 1);
    dup2(p[1], 1);
    close(p[0]);
    execl(bin("rackctl").c_str(), "rackctl", "logs", app.c_str(), "-f", "-n", n, json ? "--json" : nullptr, nullptr);
    _exit(127);
  }
  close(p[1]);
  out = p[0];
  return pid;
}

// "2026-11-22T03:20:59.123Z [3] text" → "text" (with logs.time on).
std::string strip_prefix(const std::string& line) {
  auto p = line.find("] ");
  return p == std::string::npos ? line : line.substr(p + 2);
}

// Reads a `rackctl logs -f --json` follower's output until enough(seen) or
// 60 s: seen counts each "<slot> <k>" line by k. The follower being let go
// (an error line) fails the test.
std::map<long, int> read_followed(int out, const std::function<bool(const std::map<long, int>&)>& enough) {
  std::string buf;
  std::map<long, int> seen;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  fcntl(out, F_SETFL, O_NONBLOCK);
  while (!enough(seen) && std::chrono::steady_clock::now() < deadline) {
    char chunk[65536];
    ssize_t n = read(out, chunk, sizeof chunk);
    if (n <= 0) {
      std::this_thread::sleep_for(20ms);
      continue;
    }
    buf.append(chunk, n);
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      auto j = nlohmann::json::parse(buf.substr(0, nl), nullptr, false);
      buf.erase(0, nl + 1);
      if (j.is_discarded()) continue;
      if (j.contains("error")) FAIL_CHECK("the follower was let go: " << j.dump());
      std::istringstream in(strip_prefix(j.value("line", "")));
      int slot;
      long k;
      if (in >> slot >> k) seen[k]++;
    }
  }
  return seen;
}

uint64_t scrape_counter(Rack& rack, const std::string& name) {
  std::string admin = rack.status()["rackd"]["admin"].get<std::string>();
  auto colon = admin.rfind(':');
  auto c = rack::http::Client::tcp(admin.substr(0, colon), std::stoi(admin.substr(colon + 1)));
  auto r = c.request("GET", "/metrics");
  std::istringstream in(r.body);
  std::string line;
  uint64_t total = 0;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) == 0 && (line.size() > name.size() && (line[name.size()] == ' ' || line[name.size()] == '{')))
      total += static_cast<uint64_t>(std::stod(line.substr(line.rfind(' ') + 1)));
  }
  return total;
}

// A producer: waits for `trigger` (if given), prints `count` numbered lines
// "<slot> <n>" as fast as it can, touches <done>/<slot>, then idles.
std::string producer(const std::string& name, int instances, int count, const std::string& done,
                     const std::string& trigger, const std::string& logs) {
  std::string wait = trigger.empty() ? "" : "while [ ! -e " + trigger + " ]; do sleep 0.05; done; ";
  return "  - name: " + name + "\n    run: [/bin/sh, -c, '" + wait + "seq -f \"$RACK_INSTANCE %.0f\" 1 " +
         std::to_string(count) + "; touch " + done + "/$RACK_INSTANCE; exec sleep 1000']\n    instances: " +
         std::to_string(instances) + "\n    restart: {min_uptime: 100ms}\n    logs: " + logs + "\n";
}

bool all_done(const std::string& dir, int n) {
  int k = 0;
  for (int i = 0; i < n; ++i) k += fs::exists(dir + "/" + std::to_string(i));
  return k == n;
}

// rackd has written everything it read once the files stop changing and no
// rotated file is still waiting for compression.
void wait_quiet(const std::string& dir, const std::string& base, bool compress) {
  uintmax_t last = ~0ull;
  wait_until([&] {
    uintmax_t total = 0;
    bool pending = false;
    for (auto& e : fs::directory_iterator(dir)) {
      std::string n = e.path().filename();
      if (n.rfind(base, 0) != 0) continue;
      std::error_code gone;  // a compression's .tmp file can vanish meanwhile
      uintmax_t size = e.file_size(gone);
      if (!gone) total += size;
      if (compress && n != base + ".log" && !n.ends_with(".gz")) pending = true;
    }
    bool quiet = total == last && !pending;
    last = total;
    return quiet;
  }, 60s, 500ms);
}

}  // namespace

TEST_CASE("logs: 4 workers x 250,000 lines, rotation at 1M with gzip: every line once, in order") {
  Rack rack;
  std::string done = rack.home() + "/done";
  fs::create_directories(done);
  std::string eco = "rack:\n  admin: off\napps:\n" +
                    producer("burst", 4, 250000, done, "", "{max_size: 1M, keep: 1000, compress: true, time: true}");
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", eco)}).exit_code == 0);
  REQUIRE(wait_until([&] { return all_done(done, 4); }, 120s, 100ms));
  std::string dir = rack.home() + "/logs";
  wait_quiet(dir, "burst.out", true);
  int rotated = 0;
  auto lines = read_all_lines(dir, "burst.out", &rotated);
  CHECK(rotated > 10);
  std::map<int, long> next;  // slot → next expected number
  for (int s = 0; s < 4; ++s) next[s] = 1;
  long bad = 0;
  for (auto& raw : lines) {
    std::istringstream in(strip_prefix(raw));
    int slot;
    long n;
    if (!(in >> slot >> n) || !next.count(slot) || next[slot] != n) {
      if (++bad <= 5) MESSAGE("unexpected line: " << raw);
      continue;
    }
    ++next[slot];
  }
  CHECK(bad == 0);
  for (auto& kv : next) CHECK_MESSAGE(kv.second == 250001, "slot " << kv.first << " stopped at " << kv.second - 1);
  CHECK(lines.size() == 1000000);
}

TEST_CASE("logs: rackctl logs -f started before a rotation sees every line across it") {
  Rack rack;
  std::string done = rack.home() + "/done", trigger = rack.home() + "/go";
  fs::create_directories(done);
  std::string eco = "rack:\n  admin: off\napps:\n" +
                    producer("chat", 1, 20000, done, trigger, "{max_size: 64K, keep: 100, compress: false, time: true}");
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", eco)}).exit_code == 0);
  REQUIRE(wait_until([&] { return rack.pids("chat").size() == 1; }, 10s));

  int out = -1;
  pid_t follower = follow(rack, "chat", true, out);
  std::this_thread::sleep_for(300ms);  // the follower is subscribed
  std::ofstream(trigger) << "go";
  auto seen = read_followed(out, [](const std::map<long, int>& seen) { return seen.size() >= 20000; });
  kill(follower, SIGTERM);
  waitpid(follower, nullptr, 0);
  close(out);
  int rotated = 0;
  read_all_lines(rack.home() + "/logs", "chat.out", &rotated);
  CHECK(rotated >= 3);  // 20,000 lines of ~35 bytes at 64K per file
  CHECK(seen.size() == 20000);
  for (auto& kv : seen) CHECK_MESSAGE(kv.second == 1, "line " << kv.first << " seen " << kv.second << " times");
}

TEST_CASE("logs: a follower started mid-stream with a long tail sees every line from its tail on, once") {
  // The tail is read off the loop while lines keep coming and files rotate
  // and compress: nothing between the tail and the stream is lost or shown
  // twice.
  Rack rack;
  const int total = 100000;  // at most 25,000 lines/s: this test's reader keeps up, under ASan too
  std::string eco = "rack:\n  admin: off\napps:\n  - name: flow\n    run: [/bin/sh, -c, 'awk \"BEGIN { for (i = 1; i <= " +
                    std::to_string(total) +
                    "; i++) { print 0, i; if (i % 1000 == 0) { fflush(); system(\\\"sleep 0.04\\\") } } }\"; exec sleep 1000']\n    logs: {max_size: 128K, keep: 100, compress: true, time: false}\n";
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", eco)}).exit_code == 0);
  int rotated = 0;
  REQUIRE(wait_until([&] {
    read_all_lines(rack.home() + "/logs", "flow.out", &rotated);
    return rotated >= 2;
  }, 20s, 20ms));
  int out = -1;
  // -n reads back through every rotated file it needs: a tail shorter
  // than what is written by now (at least two files), still across files.
  pid_t follower = follow(rack, "flow", true, out, "20000");
  auto seen = read_followed(out, [&](const std::map<long, int>& seen) { return seen.contains(total); });
  kill(follower, SIGTERM);
  waitpid(follower, nullptr, 0);
  close(out);
  REQUIRE(!seen.empty());
  long first = seen.begin()->first;
  CHECK(first > 1);  // a tail: the files hold fewer lines than the whole run
  CHECK(seen.rbegin()->first == total);
  CHECK(seen.size() == std::size_t(total - first + 1));  // no gap
  for (auto& kv : seen) CHECK_MESSAGE(kv.second == 1, "line " << kv.first << " seen " << kv.second << " times");
}

TEST_CASE("logs: a follower that stops reading is let go with an error, the app loses no line, -n is bounded") {
  Rack rack;
  std::string done = rack.home() + "/done", trigger = rack.home() + "/go";
  fs::create_directories(done);
  const int kLines = 300000;  // ~25 MB of follow stream: far past rackd's 4 MiB for one follower
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" +
                                                           producer("flood", 1, kLines, done, trigger, "{compress: false}"))})
              .exit_code == 0);
  REQUIRE(wait_until([&] { return rack.pids("flood").size() == 1; }, 10s));

  auto c = rack::http::Client::unix_socket(rack.home() + "/rackd.sock");
  std::string got;
  bool first = true;
  auto start = std::chrono::steady_clock::now();
  std::thread go([&] {
    std::this_thread::sleep_for(300ms);
    std::ofstream(trigger) << "go";
  });
  auto r = c.stream("GET", "/v1/logs?follow=1&app=flood&n=0", "", {}, [&](std::string_view chunk) {
    if (first) {
      first = false;
      std::this_thread::sleep_for(3s);  // a follower that does not read, while the app floods
    }
    got.append(chunk);
    return std::chrono::steady_clock::now() - start < 20s;  // without the limit the stream never ends
  });
  go.join();
  CHECK(r.error == rack::http::Client::Error::None);
  CHECK(got.find("follower too slow") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 20s);

  REQUIRE(wait_until([&] { return all_done(done, 1); }, 30s));
  wait_quiet(rack.home() + "/logs", "flood.out", false);
  CHECK(read_all_lines(rack.home() + "/logs", "flood.out").size() == kLines);

  auto many = rack.ctl({"logs", "flood", "-n", "1000000"});
  CHECK(many.exit_code == 2);
  CHECK(many.err.find("at most 100000") != std::string::npos);
  CHECK(rack.ctl({"logs", "flood", "-n", "100000"}).exit_code == 0);
}

TEST_CASE("logs: a follower keeps following an app that is deleted and started again (one log per app name)") {
  Rack rack;
  auto ticker = [](const std::string& word) {
    return "rack:\n  admin: off\napps:\n  - name: chat\n    run: [/bin/sh, -c, 'while :; do echo " + word +
           "; sleep 0.05; done']\n    logs: {rotate_every: 1s, compress: false}\n";
  };
  REQUIRE(rack.ctl({"start", rack.write_file("one.yaml", ticker("first"))}).exit_code == 0);
  REQUIRE(wait_until([&] { return rack.pids("chat").size() == 1; }, 10s));

  int out = -1;
  pid_t follower = follow(rack, "chat", false, out);
  fcntl(out, F_SETFL, O_NONBLOCK);
  std::string seen;
  auto saw = [&](const std::string& what) {
    return wait_until([&] {
      char chunk[4096];
      ssize_t n;
      while ((n = read(out, chunk, sizeof chunk)) > 0) seen.append(chunk, n);
      return seen.find(what) != std::string::npos;
    }, 5s);
  };
  CHECK(saw("first"));
  REQUIRE(rack.ctl({"delete", "chat"}).exit_code == 0);
  REQUIRE(rack.ctl({"start", rack.write_file("two.yaml", ticker("second"))}).exit_code == 0);
  CHECK(saw("second"));
  // Rotations every second: the follower's log and the new app's are one,
  // so no rotation moves the file from under the other (lines lost).
  std::this_thread::sleep_for(2500ms);
  kill(follower, SIGTERM);
  waitpid(follower, nullptr, 0);
  close(out);
  int rotated = 0;
  auto lines = read_all_lines(rack.home() + "/logs", "chat.out", &rotated);
  CHECK(rotated >= 2);
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return strip_prefix(l) == "second"; }) >= 40);
}

TEST_CASE("logs: disk full blocks the writer without losing a line, on_full: drop counts exactly") {
  Rack rack;
  std::string mnt = rack.home() + "/small";
  auto disk = SmallDisk::mount(mnt);
  if (!disk) {
    MESSAGE("cannot mount a tmpfs here; the disk-full path is covered by the unit test seam (log_test.cc)");
    return;
  }
  // Leave ~64 KiB free: the 400 KiB the producers write cannot fit until
  // the filler is removed.
  disk->fill_leaving(16);
  std::string done = rack.home() + "/done";
  fs::create_directories(done);
  std::string eco = "rack:\n  admin: 127.0.0.1:0\napps:\n" +
                    producer("full", 1, 40000, done, "",
                             "{dir: " + mnt + ", max_size: 100M, compress: false, time: false, buffer: 64K}") +
                    producer("lossy", 1, 40000, done + "/lossy", "",
                             "{dir: " + mnt + ", max_size: 100M, compress: false, time: false, buffer: 64K, on_full: drop}");
  fs::create_directories(done + "/lossy");
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", eco)}).exit_code == 0);
  pid_t rackd = rack.rackd_pid();
  // The blocking producer cannot finish while the disk is full; the
  // dropping one can.
  CHECK(wait_until([&] { return all_done(done + "/lossy", 1); }, 20s));
  std::this_thread::sleep_for(1s);
  CHECK_FALSE(all_done(done, 1));
  CHECK(pid_alive(rackd));
  uint64_t dropped = scrape_counter(rack, R"(rack_log_dropped_lines_total{app="lossy"})");
  CHECK(dropped > 0);
  CHECK(scrape_counter(rack, R"(rack_log_dropped_lines_total{app="full"})") == 0);  // blocked, not dropped
  fs::remove(mnt + "/filler");  // space returns
  CHECK(wait_until([&] { return all_done(done, 1); }, 30s));
  wait_quiet(mnt, "full.out", false);
  auto lines = read_all_lines(mnt, "full.out");
  REQUIRE(lines.size() == 40000);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] != "0 " + std::to_string(i + 1)) {
      FAIL_CHECK("line " << i << " is \"" << lines[i] << "\"");
      break;
    }
  }
  wait_quiet(mnt, "lossy.out", false);
  auto lossy = read_all_lines(mnt, "lossy.out");
  CHECK(lossy.size() + scrape_counter(rack, R"(rack_log_dropped_lines_total{app="lossy"})") == 40000);
  CHECK(pid_alive(rackd));
  rack.ctl({"kill"});
}

TEST_CASE("logs: sensitive headers are redacted at info and shown after loglevel debug") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" +
                                                           hello_app("web", 2, "    env: {LOG_LEVEL: info}\n"))})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto [host, port] = rack.address("web");
  auto ask = [&, host = host, port = port](const std::string& secret) {
    for (int i = 0; i < 2; ++i) {  // both workers
      auto c = rack::http::Client::tcp(host, port);
      c.request("GET", "/no-such-page", "", {{"Authorization", "Bearer " + secret}, {"Connection", "close"}});
    }
  };
  std::string out_log = rack.home() + "/logs/web.out.log";
  auto contents = [&] {
    std::ifstream f(out_log);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  ask("SECRET-AT-INFO");
  CHECK(wait_until([&] { return contents().find("/no-such-page") != std::string::npos; }, 5s));
  CHECK(contents().find("[REDACTED]") != std::string::npos);
  CHECK(contents().find("SECRET-AT-INFO") == std::string::npos);

  CHECK(rack.ctl({"loglevel", "web", "debug"}).exit_code == 0);
  std::this_thread::sleep_for(200ms);
  ask("SECRET-AT-DEBUG");
  CHECK(wait_until([&] { return contents().find("SECRET-AT-DEBUG") != std::string::npos; }, 5s));
  CHECK(rack.ctl({"loglevel", "web", "loud"}).exit_code == 2);
}

TEST_CASE("logs: flush empties the files and reload-logs reopens them after an external move") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 1))}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 1));
  auto [host, port] = rack.address("web");
  std::string log = rack.home() + "/logs/web.out.log";
  auto c = rack::http::Client::tcp(host, port);
  c.request("GET", "/");
  CHECK(wait_until([&] { return fs::file_size(log) > 0; }, 5s));
  CHECK(rack.ctl({"flush", "web"}).exit_code == 0);
  CHECK(fs::file_size(log) == 0);
  fs::rename(log, log + ".moved");
  CHECK(rack.ctl({"reload-logs"}).exit_code == 0);
  c.request("GET", "/");
  CHECK(wait_until([&] { return fs::exists(log) && fs::file_size(log) > 0; }, 5s));
}

namespace {

// "MM-DD HH:MM:SS.mmm " at the start of a human `rackctl logs` line: its hour.
std::optional<int> shown_hour(const std::string& line) {
  if (line.size() < 19 || line[2] != '-' || line[5] != ' ' || line[8] != ':' || line[14] != '.' || line[18] != ' ')
    return std::nullopt;
  return std::stoi(line.substr(6, 2));
}

std::string line_with(const std::string& out, const std::string& what) {
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);)
    if (l.find(what) != std::string::npos) return l;
  return "";
}

}  // namespace

TEST_CASE("logs: rackctl logs shows each line's time in local time, --json keeps time_ms") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n  - name: clock\n    run: [/bin/sh, -c, 'echo clock-marker; exec sleep 1000']\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  auto logs_in = [&](const std::string& tz, bool json) {
    std::vector<std::string> argv = {bin("rackctl"), "logs", "clock", "-n", "5"};
    if (json) argv.push_back("--json");
    return run(argv, {"RACK_HOME=" + rack.home(), "TZ=" + tz});
  };
  REQUIRE(wait_until([&] { return logs_in("UTC0", false).out.find("clock-marker") != std::string::npos; }, 10s));
  std::string utc = line_with(logs_in("UTC0", false).out, "clock-marker");
  std::string plus5 = line_with(logs_in("XYZ-5", false).out, "clock-marker");  // POSIX: 5 hours east of UTC
  INFO((utc + "\n" + plus5));
  REQUIRE(shown_hour(utc));
  REQUIRE(shown_hour(plus5));
  CHECK(*shown_hour(plus5) == (*shown_hour(utc) + 5) % 24);
  CHECK(utc.substr(19) == "clock[0] | clock-marker");
  CHECK(utc.substr(8, 11) == plus5.substr(8, 11));  // minutes, seconds, milliseconds

  std::string j = line_with(logs_in("XYZ-5", true).out, "clock-marker");
  REQUIRE(!j.empty());
  json parsed = json::parse(j);
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(std::llabs(parsed.at("time_ms").get<long long>() - now_ms) < 60'000);
  CHECK(parsed.at("line") == "clock-marker");
}

TEST_CASE("logs: logs.date_format sets the stamp in the file, rackctl logs still reads time and slot from it") {
  // rackd writes local time: give it (and rackctl) a zone that is not UTC.
  const char* old_tz = std::getenv("TZ");
  std::string saved = old_tz ? old_tz : "";
  ::setenv("TZ", "XYZ-5", 1);
  ::tzset();  // localtime_r below need not read TZ again by itself
  struct Restore {
    bool had;
    std::string tz;
    ~Restore() {
      had ? ::setenv("TZ", tz.c_str(), 1) : ::unsetenv("TZ");
      ::tzset();
    }
  } restore{old_tz != nullptr, saved};
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n  - name: stamped\n    instances: 2\n"
                  "    run: [/bin/sh, -c, 'echo stamp-marker-$RACK_INSTANCE; exec sleep 1000']\n"
                  "    logs: {date_format: \"%Y-%m-%d %H:%M:%S.%L %z\"}\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  std::string log = rack.home() + "/logs/stamped.out.log";
  auto file = [&] {
    std::ifstream f(log);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  REQUIRE(wait_until([&] { return file().find("stamp-marker-1") != std::string::npos; }, 10s));
  std::string line = line_with(file(), "stamp-marker-1");
  INFO(line);
  // "2026-12-07 08:20:59.123 +0500 [1] stamp-marker-1"
  REQUIRE(line.size() == 48);
  CHECK(line.substr(23) == " +0500 [1] stamp-marker-1");
  time_t now = ::time(nullptr);
  struct tm local {};
  ::localtime_r(&now, &local);  // TZ=XYZ-5 here too
  char today[16];
  std::strftime(today, sizeof today, "%Y-%m-%d", &local);
  CHECK((line.substr(0, 10) == today || local.tm_hour == 0));  // written just before midnight: yesterday

  auto ctl = rack.ctl({"logs", "stamped", "--json", "-n", "10"});
  std::string j = line_with(ctl.out, "stamp-marker-1");
  REQUIRE(!j.empty());
  json parsed = json::parse(j);
  CHECK(parsed.at("slot") == 1);
  CHECK(parsed.at("line") == "stamp-marker-1");
  CHECK(std::llabs(parsed.at("time_ms").get<long long>() / 1000 - static_cast<long long>(now)) < 60);

  // A format that cannot be read back is refused when the file is loaded.
  std::string bad = rack.write_file(
      "bad.yaml", "apps:\n  - name: bad\n    run: [/bin/sh, -c, 'exec sleep 1000']\n    logs: {date_format: \"%Y %b\"}\n");
  auto refused = rack.ctl({"start", bad});
  CHECK(refused.exit_code != 0);
  CHECK(refused.err.find("%b is not a conversion logs.date_format can write and read back") != std::string::npos);
}
