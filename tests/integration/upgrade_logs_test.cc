// `rackctl logs -f` across `rackctl upgrade`: the exec closes the
// follower's connection; rackctl comes back with its cursor and rackd's
// log journal (carried in the upgrade's state) gives it the lines after
// its last one. Every line once, in the follower's output and in the files.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "harness.h"

using namespace rack::test;

namespace {

// `rackctl logs APP -f -n 0 --json` in a child process; its stdout is `out`.
pid_t follow(Rack& rack, const std::string& app, int& out) {
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("RACK_HOME", rack.home().c_str(), 1);
    dup2(p[1], 1);
    close(p[0]);
    execl(bin("rackctl").c_str(), "rackctl", "logs", app.c_str(), "-f", "-n", "0", "--json", nullptr);
    _exit(127);
  }
  close(p[1]);
  out = p[0];
  return pid;
}

// Reads the follower's output until `want` distinct numbered lines or 60 s
// ("0 <k>" lines, counted by k), then a little longer, so that a line
// shown twice at the very end would be seen. A notice or error (a gap the
// journal could not fill, the follower let go) fails the test.
std::map<long, int> read_followed(int out, std::size_t want) {
  std::string buf;
  std::map<long, int> seen;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  std::optional<std::chrono::steady_clock::time_point> settle;
  fcntl(out, F_SETFL, O_NONBLOCK);
  while (std::chrono::steady_clock::now() < (settle ? *settle : deadline)) {
    if (!settle && seen.size() >= want) settle = std::chrono::steady_clock::now() + 500ms;
    char chunk[65536];
    ssize_t n = read(out, chunk, sizeof chunk);
    if (n <= 0) {
      std::this_thread::sleep_for(20ms);
      continue;
    }
    buf.append(chunk, n);
    for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
      auto j = nlohmann::json::parse(buf.substr(0, nl), nullptr, false);
      buf.erase(0, nl + 1);
      if (j.is_discarded()) continue;
      if (j.contains("error") || j.contains("notice")) FAIL_CHECK("the follower says: " << j.dump());
      std::istringstream in(j.value("line", ""));
      int slot;
      long k;
      if (in >> slot >> k) seen[k]++;
    }
  }
  return seen;
}

std::map<long, int> file_lines(const std::string& path) {
  std::ifstream f(path);
  std::map<long, int> seen;
  for (std::string line; std::getline(f, line);) {
    std::istringstream in(line);
    int slot;
    long k;
    if (in >> slot >> k) seen[k]++;
  }
  return seen;
}

void check_once(const std::map<long, int>& seen, long total, const char* where) {
  CHECK_MESSAGE(seen.size() == std::size_t(total), where, ": ", seen.size(), " of ", total, " lines");
  if (!seen.empty()) CHECK_MESSAGE(seen.rbegin()->first == total, where);
  int twice = 0;
  for (auto& [k, n] : seen)
    if (n != 1 && twice++ < 5) FAIL_CHECK(where << ": line " << k << " " << n << " times");
  CHECK_MESSAGE(twice == 0, where, ": ", twice, " lines more than once");
}

}  // namespace

TEST_CASE("upgrade: a logs -f follower sees every line once through two upgrades, and so do the files") {
  Rack rack;
  const long total = 20000;
  std::string go = rack.home() + "/go";
  // ~10,000 lines/s once `go` exists: the upgrades happen mid-stream.
  std::string eco = "rack:\n  admin: off\napps:\n  - name: chat\n    run: [/bin/sh, -c, 'while [ ! -e " + go +
                    " ]; do sleep 0.02; done; awk \"BEGIN { for (i = 1; i <= " + std::to_string(total) +
                    "; i++) { print 0, i; if (i % 200 == 0) { fflush(); system(\\\"sleep 0.02\\\") } } }\"; exec sleep "
                    "1000']\n    protocol: none\n    logs: {time: false}\n";
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", eco)}).exit_code == 0);
  REQUIRE(rack.wait_ready("chat", 1));
  pid_t rackd = rack.rackd_pid();
  std::string next = rack.home() + "/rackd-next";
  std::filesystem::copy_file(bin("rackd"), next);
  ::chmod(next.c_str(), 0755);

  int out = -1;
  pid_t follower = follow(rack, "chat", out);
  std::this_thread::sleep_for(300ms);  // the follower is subscribed
  std::ofstream(go) << "go";
  std::this_thread::sleep_for(400ms);
  auto first = rack.ctl({"upgrade", "--binary", next});
  CHECK_MESSAGE(first.exit_code == 0, first.out, first.err);
  std::this_thread::sleep_for(300ms);
  auto second = rack.ctl({"upgrade"});  // its own binary again
  CHECK_MESSAGE(second.exit_code == 0, second.out, second.err);
  auto seen = read_followed(out, total);
  CHECK(pid_alive(follower));  // it came back, rather than ending with the connection
  kill(follower, SIGTERM);
  waitpid(follower, nullptr, 0);
  close(out);

  CHECK(rack.rackd_pid() == rackd);
  CHECK(rack.status()["rackd"]["upgrades"] == 2);
  check_once(seen, total, "follower");
  check_once(file_lines(rack.home() + "/logs/chat.out.log"), total, "chat.out.log");
}

TEST_CASE("upgrade: a follower's cursor from another rackd is not resumed, and a bad one is refused") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 1))}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 1));
  auto c = rack::http::Client::unix_socket(rack.home() + "/rackd.sock");
  auto bad = c.request("GET", "/v1/logs?app=web&follow=1&after=nonsense");
  CHECK(bad.status == 400);
  CHECK_MESSAGE(bad.body.find("after: expected a cursor") != std::string::npos, bad.body);
  // A cursor of another rackd run: a notice, then the stream from now.
  std::string got;
  auto other = rack::http::Client::unix_socket(rack.home() + "/rackd.sock");
  other.set_timeout(3s);
  other.stream("GET", "/v1/logs?app=web&follow=1&n=0&after=1-2.3", "", {}, [&](std::string_view chunk) {
    got.append(chunk);
    return got.find("cursor") == std::string::npos;
  });
  CHECK_MESSAGE(got.find("rackd was restarted") != std::string::npos, got);
  CHECK_MESSAGE(got.find("\"cursor\"") != std::string::npos, got);
}
