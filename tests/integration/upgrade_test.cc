// rackctl upgrade / SIGUSR2: rackd re-execs in place (same pid), every
// worker and listener is taken over, and a failed upgrade changes nothing.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "harness.h"

using namespace rack::test;

namespace {

std::set<pid_t> as_set(const std::vector<pid_t>& v) { return {v.begin(), v.end()}; }

// A copy of build/bin/rackd elsewhere: "a different binary" to upgrade to.
std::string copy_rackd(Rack& rack, const std::string& name = "rackd-next") {
  std::string path = rack.home() + "/" + name;
  std::filesystem::copy_file(bin("rackd"), path, std::filesystem::copy_options::overwrite_existing);
  ::chmod(path.c_str(), 0755);
  return path;
}

// Every request the app's workers counted (the merged counter of all routes).
double requests_counted(Rack& rack, const std::string& app) {
  auto r = http_get(rack.admin(), "/metrics");
  if (r.status != 200) return -1;
  std::istringstream in(r.body);
  std::string prefix = "http_request_duration_seconds_count{app=\"" + app + "\"";
  double sum = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    sum += std::strtod(line.substr(line.rfind(' ') + 1).c_str(), nullptr);
  }
  return sum;
}

std::string eco_with_admin(Rack& rack, int instances) {
  return rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + hello_app("web", instances));
}

json rackd_info(Rack& rack) { return rack.status().value("rackd", json::object()); }

// /metrics every ~20 ms on its own thread: every value of the merged
// request counter that could be read (a scrape in flight at the exec is
// closed with the admin connection; it is skipped, not a value).
class CounterSampler {
 public:
  CounterSampler(Rack& rack, std::string app) : rack_(rack), app_(std::move(app)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        if (double v = requests_counted(rack_, app_); v >= 0) {
          std::lock_guard lock(mu_);
          values_.push_back(v);
        }
        std::this_thread::sleep_for(20ms);
      }
    });
  }
  ~CounterSampler() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<double> values() {
    std::lock_guard lock(mu_);
    return values_;
  }

 private:
  Rack& rack_;
  std::string app_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<double> values_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("upgrade: under keep-alive and close load, same pid and workers, no failed request") {
  Rack rack;
  REQUIRE(rack.ctl({"start", eco_with_admin(rack, 2)}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto [host, port] = rack.address("web");
  pid_t rackd = rack.rackd_pid();
  auto workers = as_set(rack.pids("web"));
  json before = rackd_info(rack);
  CHECK(before["upgrades"] == 0);
  std::string next = copy_rackd(rack);

  BothLoads loads(host, port);
  std::this_thread::sleep_for(300ms);
  CounterSampler sampler(rack, "web");
  std::this_thread::sleep_for(400ms);
  auto r = rack.ctl({"upgrade", "--binary", next});
  CHECK_MESSAGE(r.exit_code == 0, r.out, r.err);
  CHECK_MESSAGE(r.out.find("rackd upgraded") != std::string::npos, r.out);
  std::this_thread::sleep_for(600ms);
  // A scrape under this load takes longer than 20 ms (more under ASan): go
  // on until the counter was read at least 8 times.
  CHECK(wait_until([&] { return sampler.values().size() >= 8; }, 10s));
  sampler.stop();
  loads.finish();

  json after = rackd_info(rack);
  CHECK(after["pid"] == rackd);
  CHECK(rack.rackd_pid() == rackd);
  CHECK(after["upgrades"] == 1);
  CHECK(after["started"].get<double>() > before["started"].get<double>());
  CHECK(after["last_upgrade"]["ok"] == true);
  CHECK(as_set(rack.pids("web")) == workers);
  // Merged counters carried over: sampled every ~20 ms through the
  // upgrade, the request counter never goes down, and ends higher.
  std::vector<double> seen = sampler.values();
  REQUIRE(seen.size() >= 8);
  CHECK(seen.front() > 0);
  for (std::size_t i = 1; i < seen.size(); ++i)
    CHECK_MESSAGE(seen[i] >= seen[i - 1], "sample ", i, " of ", seen.size(), ": ", seen[i - 1], " -> ", seen[i]);
  CHECK(seen.back() > seen.front());
  // The new image runs from the other file.
  CHECK(std::filesystem::read_symlink("/proc/" + std::to_string(rackd) + "/exe") == next);
}

// Workers adopted across an upgrade keep the listener their returned
// connections are checked against: a reload afterwards, under keep-alive
// load, hands idle connections back to rackd, and none may be refused.
TEST_CASE("upgrade: a reload afterwards takes back the old workers' idle connections") {
  Rack rack;
  REQUIRE(rack.ctl({"start", eco_with_admin(rack, 2)}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto [host, port] = rack.address("web");
  auto r = rack.ctl({"upgrade", "--binary", copy_rackd(rack)});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out, r.err);

  BothLoads loads(host, port, 8);
  std::this_thread::sleep_for(300ms);
  auto reload = rack.ctl({"reload", "web"});
  CHECK_MESSAGE(reload.exit_code == 0, reload.out, reload.err);
  loads.finish();
  auto m = http_get(rack.admin(), "/metrics");
  REQUIRE(m.status == 200);
  CHECK(metric_sample(m.body, "rack_connections_requeued_total{app=\"web\"}").value_or(-1) > 0);
  CHECK(metric_sample(m.body, "rack_worker_protocol_errors_total{app=\"web\"}").value_or(-1) == 0);
}

TEST_CASE("upgrade: SIGUSR2 re-execs rackd's own binary, and a worker killed afterwards is restarted") {
  Rack rack;
  REQUIRE(rack.ctl({"start", eco_with_admin(rack, 2)}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  pid_t rackd = rack.rackd_pid();
  auto workers = rack.pids("web");
  REQUIRE(::kill(rackd, SIGUSR2) == 0);
  CHECK(wait_until([&] { return rackd_info(rack).value("upgrades", 0) == 1; }, 10s));
  CHECK(rack.rackd_pid() == rackd);
  CHECK(as_set(rack.pids("web")) == as_set(workers));

  // The new image knows its children: a crash is seen, attributed to the
  // slot, and restarted.
  REQUIRE(::kill(workers[0], SIGKILL) == 0);
  CHECK(wait_until([&] {
    auto now = rack.pids("web");
    return now.size() == 2 && as_set(now).count(workers[0]) == 0;
  }, 15s));
  json now = rack.app("web")["workers"];
  int restarts = 0;
  for (auto& w : now) restarts += w["restarts"].get<int>();
  CHECK_MESSAGE(restarts == 1, now.dump());
  auto [host, port] = rack.address("web");
  CHECK(http_get({host, port}, "/").status == 200);
}

TEST_CASE("upgrade: a missing, non-executable or foreign binary is refused, exit 1, nothing changes") {
  Rack rack;
  REQUIRE(rack.ctl({"start", eco_with_admin(rack, 2)}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  auto [host, port] = rack.address("web");
  pid_t rackd = rack.rackd_pid();
  auto workers = as_set(rack.pids("web"));
  std::string plain = rack.write_file("not-executable", "not a program\n");
  std::string script = rack.write_file("script.sh", "#!/bin/sh\nexit 0\n");
  ::chmod(script.c_str(), 0755);
  struct Case {
    std::string binary, expect;
  };
  std::vector<Case> cases = {
      {rack.home() + "/missing", "No such file"},
      {plain, "not executable"},
      {script, "not an ELF"},
      {"/bin/true", "not a rackd version"},
  };
  BothLoads loads(host, port);
  for (const auto& c : cases) {
    auto r = rack.ctl({"upgrade", "--binary", c.binary});
    CHECK_MESSAGE(r.exit_code == 1, c.binary);
    CHECK_MESSAGE(r.err.find(c.expect) != std::string::npos, r.err);
  }
  loads.finish();
  CHECK(rack.rackd_pid() == rackd);
  CHECK(as_set(rack.pids("web")) == workers);
  CHECK(rackd_info(rack)["upgrades"] == 0);
}

namespace {

void refused_state_gives_it_back(const char* how) {
  ::setenv("RACK_TEST_REFUSE_STATE", how, 1);  // rackd inherits it through rackctl
  Rack rack;
  REQUIRE(rack.ctl({"start", eco_with_admin(rack, 2)}).exit_code == 0);
  ::unsetenv("RACK_TEST_REFUSE_STATE");
  REQUIRE(rack.wait_ready("web", 2));
  auto [host, port] = rack.address("web");
  pid_t rackd = rack.rackd_pid();
  auto workers = as_set(rack.pids("web"));
  std::string next = copy_rackd(rack);

  BothLoads loads(host, port);
  std::this_thread::sleep_for(200ms);
  auto r = rack.ctl({"upgrade", "--binary", next});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("refused") != std::string::npos, r.err);
  loads.finish();
  json info = rackd_info(rack);
  CHECK(info["pid"] == rackd);
  CHECK(info["upgrades"] == 0);
  CHECK(info["last_upgrade"]["ok"] == false);
  CHECK(as_set(rack.pids("web")) == workers);
  // The previous image is back: running from the original binary.
  CHECK(std::filesystem::read_symlink("/proc/" + std::to_string(rackd) + "/exe") == bin("rackd"));
}

}  // namespace

TEST_CASE("upgrade: a new image that refuses the state version hands it back to the old one") {
  refused_state_gives_it_back("version");
}

TEST_CASE("upgrade: a new image that fails after adopting hands everything back") {
  refused_state_gives_it_back("adopt");
}

TEST_CASE("upgrade: a new image that would exit at once fails its pre-flight check, and nothing changes") {
  // RACK_TEST_REFUSE_STATE=exit: the image _exits(1) in `--check-state` and
  // right after the exec alike; without the pre-flight, the exec would
  // leave the workers without a rackd, and the guardian would end them.
  ::setenv("RACK_TEST_REFUSE_STATE", "exit", 1);
  Rack rack;
  REQUIRE(rack.ctl({"start", eco_with_admin(rack, 2)}).exit_code == 0);
  ::unsetenv("RACK_TEST_REFUSE_STATE");
  REQUIRE(rack.wait_ready("web", 2));
  auto [host, port] = rack.address("web");
  pid_t rackd = rack.rackd_pid();
  auto workers = as_set(rack.pids("web"));
  std::string next = copy_rackd(rack);

  BothLoads loads(host, port);
  std::this_thread::sleep_for(200ms);
  auto r = rack.ctl({"upgrade", "--binary", next});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("failed its check of the state") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find("exit code 1") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find("RACK_TEST_REFUSE_STATE=exit") != std::string::npos, r.err);
  std::this_thread::sleep_for(300ms);
  loads.finish();
  json info = rackd_info(rack);
  CHECK(info["pid"] == rackd);
  CHECK(info["upgrades"] == 0);
  CHECK(info["last_upgrade"]["ok"] == false);
  CHECK(as_set(rack.pids("web")) == workers);
  for (pid_t p : workers) CHECK(pid_alive(p));
  CHECK(std::filesystem::read_symlink("/proc/" + std::to_string(rackd) + "/exe") == bin("rackd"));
  CHECK(http_get({host, port}, "/").status == 200);
}

TEST_CASE("upgrade: kill -9 of rackd during the upgrade leaves no worker behind") {
  Rack rack;
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 3))})
              .exit_code == 0);
  REQUIRE(rack.wait_ready("web", 3));
  pid_t rackd = rack.rackd_pid();
  auto workers = rack.pids("web");
  REQUIRE(::kill(rackd, SIGUSR2) == 0);
  // The exec comes 50 ms after the request: kill around it.
  std::this_thread::sleep_for(55ms);
  REQUIRE(::kill(rackd, SIGKILL) == 0);
  CHECK(wait_until([&] { return !pid_alive(rackd); }, 5s));
  for (pid_t p : workers) CHECK_MESSAGE(wait_until([&] { return !pid_alive(p); }, 5s), "worker ", p, " outlived rackd");
}

TEST_CASE("upgrade: node, inherit and none apps are taken over too, under load") {
  Rack rack;
  std::string apps = std::string(RACK_SOURCE_DIR) + "/tests/apps";
  std::string eco = "rack:\n  admin: off\napps:\n"
                    "  - name: api\n    run: hello.js\n    cwd: " + apps +
                    "\n    protocol: node\n    listen: 127.0.0.1:0\n    instances: 2\n"
                    "  - name: sock\n    run: [python3, inherit.py]\n    cwd: " + apps +
                    "\n    protocol: inherit\n    listen: 127.0.0.1:0\n    instances: 1\n"
                    "  - name: bg\n    run: [sleep, '1000']\n    protocol: none\n";
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", eco)}).exit_code == 0);
  REQUIRE(rack.wait_ready("api", 2, 30s));
  REQUIRE(rack.wait_ready("sock", 1));
  REQUIRE(rack.wait_ready("bg", 1));
  std::map<std::string, std::set<pid_t>> before;
  for (const char* a : {"api", "sock", "bg"}) before[a] = as_set(rack.pids(a));
  auto [host, port] = rack.address("api");
  auto [shost, sport] = rack.address("sock");
  std::string next = copy_rackd(rack);

  BothLoads node_load(host, port, 2);
  Load inherit_load(shost, sport, Load::Mode::Close, 2);
  std::this_thread::sleep_for(300ms);
  auto r = rack.ctl({"upgrade", "--binary", next});
  CHECK_MESSAGE(r.exit_code == 0, r.out, r.err);
  std::this_thread::sleep_for(300ms);
  node_load.finish();
  inherit_load.stop();
  CHECK_MESSAGE(inherit_load.failed() == 0, inherit_load.first_error());
  CHECK(inherit_load.ok() > 0);
  for (const char* a : {"api", "sock", "bg"}) CHECK_MESSAGE(as_set(rack.pids(a)) == before[a], a);
}

TEST_CASE("upgrade: refused while a canary reload watches, accepted once it is done") {
  Rack rack;
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("web", 2, "    reload: {canary: {watch: 3s}}\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 2));
  pid_t rackd = rack.rackd_pid();
  std::string next = copy_rackd(rack);
  RunResult reload;
  std::thread t([&] { reload = rack.ctl({"reload", "web"}); });
  // The canary (generation 2) is ready and watched: the reload is running.
  bool watching = wait_until([&] {
    json app = rack.app("web");
    for (auto& w : app["workers"])
      if (w["generation"] == 2 && w["state"] == "ready") return true;
    return false;
  }, 15s);
  RunResult during = rack.ctl({"upgrade", "--binary", next});
  t.join();
  REQUIRE(watching);
  CHECK(during.exit_code == 1);
  CHECK_MESSAGE(during.err.find("web is reloading") != std::string::npos, during.err);
  CHECK_MESSAGE(reload.exit_code == 0, reload.out, reload.err);
  CHECK(rackd_info(rack)["upgrades"] == 0);
  auto workers = as_set(rack.pids("web"));
  auto after = rack.ctl({"upgrade", "--binary", next});
  CHECK_MESSAGE(after.exit_code == 0, after.out, after.err);
  CHECK(rack.rackd_pid() == rackd);
  CHECK(rackd_info(rack)["upgrades"] == 1);
  CHECK(as_set(rack.pids("web")) == workers);
}

namespace {

// A stand-in for rackd on RACK_HOME's socket that says it is another
// build: rackctl's side of the version check, against a rackd that
// really reports a different version.
constexpr const char* kOtherRackd = R"(
import json, os, socket, sys
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1])
srv.listen(16)
me = {"pid": os.getpid(), "version": "0.0.9", "revision": "feedfacecafe"}
while True:
    c, _ = srv.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        d = c.recv(4096)
        if not d:
            break
        data += d
    target = data.split(b" ")[1].decode() if data.count(b" ") >= 2 else "/"
    status = b"200 OK"
    if target.startswith("/v1/status"):
        body = {"apps": [], "rackd": me}
    elif target.startswith("/v1/upgrade"):
        status, body = b"409 Conflict", {"error": "not this one"}
    else:
        body = dict(me, ok=True)
    b = json.dumps(body).encode()
    c.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
              b"Connection: close\r\n\r\n" % len(b) + b)
    c.close()
)";

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("upgrade: rackctl warns once per run when rackd is another version or revision") {
  Rack rack;
  REQUIRE(rack.ctl({"start", eco_with_admin(rack, 1)}).exit_code == 0);
  REQUIRE(rack.wait_ready("web", 1));
  // The same build: rackd reports rackctl's own version and revision.
  json ping = json::parse(rack.ctl({"status", "--json"}).out, nullptr, false);
  std::string ours = run({bin("rackctl"), "--version"}).out;
  REQUIRE(ping.is_object());
  std::string revision = ping["rackd"].value("revision", "");
  CHECK(ours.find(ping["rackd"].value("version", "?")) != std::string::npos);
  if (!revision.empty()) CHECK_MESSAGE(ours.find(revision) != std::string::npos, ours);
  for (auto args : std::vector<std::vector<std::string>>{{"status"}, {"ping"}, {"logs", "web", "-n", "1"}}) {
    auto r = rack.ctl(args);
    CHECK_MESSAGE(r.err.find("warning") == std::string::npos, args[0], ": ", r.err);
  }
  REQUIRE(rack.ctl({"kill"}).exit_code == 0);

  std::string sock = rack.home() + "/rackd.sock";
  std::string script = rack.write_file("other_rackd.py", kOtherRackd);
  pid_t other = ::fork();
  if (other == 0) {
    ::execlp("python3", "python3", script.c_str(), sock.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  REQUIRE(other > 0);
  CHECK(wait_until([&] { return std::filesystem::exists(sock); }, 5s));
  const std::string warning = "warning: rackd runs 0.0.9 (git feedfacecafe), this rackctl is ";
  for (auto args : std::vector<std::vector<std::string>>{{"ping"}, {"status"}, {"logs", "-n", "1"}}) {
    auto r = rack.ctl(args);
    CHECK_MESSAGE(r.exit_code == 0, args[0], ": ", r.err);
    CHECK_MESSAGE(count_of(r.err, warning) == 1, args[0], ": ", r.err);
    CHECK_MESSAGE(r.err.find("rackctl upgrade") != std::string::npos, r.err);
  }
  // `rackctl upgrade` is the remedy: it does not warn.
  auto upgrade = rack.ctl({"upgrade"});
  CHECK(upgrade.exit_code == 1);
  CHECK_MESSAGE(count_of(upgrade.err, warning) == 0, upgrade.err);
  ::kill(other, SIGKILL);
  ::waitpid(other, nullptr, 0);
  std::filesystem::remove(sock);
}
