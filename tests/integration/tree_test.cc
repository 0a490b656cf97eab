// A worker is its whole process tree: `sh -c "sleep A & sleep B & wait"`
// leaves nothing behind after stop, restart, rackctl kill, kill -9 of rackd,
// or kill -9 of rackd and its guardian followed by the next start. Where
// rackd can create cgroups, neither does a descendant that left the
// worker's process group (setsid).
#include <doctest/doctest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>
#include <iterator>
#include <string>

#include "harness.h"

using namespace rack::test;

namespace {

// Live processes whose command line is exactly `argv` (a zombie has none).
std::vector<pid_t> procs_running(const std::vector<std::string>& argv) {
  std::string want;
  for (auto& a : argv) want += a + '\0';
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    // open/read: a process that ends between the two makes read() fail
    // with ESRCH, which a std::ifstream turns into an exception.
    int fd = ::open(("/proc/" + std::to_string(pid) + "/cmdline").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (n > 0 && std::string(buf, static_cast<std::size_t>(n)) == want) out.push_back(pid);
  }
  closedir(d);
  return out;
}

pid_t parent_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(f, stat);
  auto p = stat.rfind(')');  // "pid (comm) state ppid ..."
  return p == std::string::npos ? -1 : static_cast<pid_t>(std::atoi(stat.c_str() + p + 4));
}

// Two sleeps with arguments no other test uses.
struct Tree {
  std::string a, b;
  Tree(int tag) {
    std::string base = std::to_string(100000 + (getpid() % 9000) * 10 + tag);
    a = base + "1", b = base + "2";
  }
  std::string app(const std::string& name) const {
    return "  - name: " + name + "\n    run: [/bin/sh, -c, 'sleep " + a + " & sleep " + b +
           " & wait']\n    protocol: none\n    kill_timeout: 2s\n";
  }
  size_t alive() const { return procs_running({"sleep", a}).size() + procs_running({"sleep", b}).size(); }
  std::vector<pid_t> pids() const {
    auto out = procs_running({"sleep", a});
    for (pid_t p : procs_running({"sleep", b})) out.push_back(p);
    return out;
  }
  // Leaves nothing behind if the test fails.
  ~Tree() {
    for (auto& s : {a, b})
      for (pid_t p : procs_running({"sleep", s})) kill(p, SIGKILL);
  }
};

std::string eco_of(Rack& rack, const Tree& t) {
  return rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + t.app("tree"));
}

}  // namespace

TEST_CASE("tree: stop and restart end every process of the worker's group") {
  Rack rack;
  Tree t(1);
  REQUIRE(rack.ctl({"start", eco_of(rack, t)}).exit_code == 0);
  REQUIRE(wait_until([&] { return t.alive() == 2; }, 5s));
  auto first = procs_running({"sleep", t.a});
  CHECK(rack.ctl({"restart", "tree"}).exit_code == 0);
  // The old sleeps end; the new worker starts its own pair.
  CHECK(wait_until([&] {
    auto now = procs_running({"sleep", t.a});
    return t.alive() == 2 && !now.empty() && now != first;
  }, 5s));
  CHECK(rack.ctl({"stop", "tree"}).exit_code == 0);
  CHECK(wait_until([&] { return t.alive() == 0; }, 3s));
}

TEST_CASE("tree: reload ends the old worker's whole group, and only the new worker's children run") {
  Rack rack;
  Tree t(8);
  REQUIRE(rack.ctl({"start", eco_of(rack, t)}).exit_code == 0);
  REQUIRE(wait_until([&] { return t.alive() == 2 && rack.pids("tree").size() == 1; }, 5s));
  pid_t old_worker = rack.pids("tree")[0];
  std::vector<pid_t> old_sleeps = t.pids();
  for (pid_t p : old_sleeps) REQUIRE(parent_of(p) == old_worker);
  auto r = rack.ctl({"reload", "tree"});
  CHECK_MESSAGE(r.exit_code == 0, r.out << r.err);
  CHECK(wait_until([&] {
    for (pid_t p : old_sleeps)
      if (pid_alive(p)) return false;
    return t.alive() == 2;
  }, 5s));
  std::vector<pid_t> workers = rack.pids("tree");
  REQUIRE(workers.size() == 1);
  CHECK(workers[0] != old_worker);
  CHECK(!pid_alive(old_worker));
  // Exactly one pair runs, and it is the new worker's.
  std::vector<pid_t> now = t.pids();
  CHECK(now.size() == 2);
  for (pid_t p : now) CHECK(parent_of(p) == workers[0]);
}

TEST_CASE("tree: rackctl kill ends the whole tree") {
  Rack rack;
  Tree t(2);
  REQUIRE(rack.ctl({"start", eco_of(rack, t)}).exit_code == 0);
  REQUIRE(wait_until([&] { return t.alive() == 2; }, 5s));
  CHECK(rack.ctl({"kill"}).exit_code == 0);
  CHECK(wait_until([&] { return t.alive() == 0; }, 3s));
}

TEST_CASE("tree: kill -9 of rackd leaves no descendant of a worker 2 s later") {
  Rack rack;
  Tree t(3);
  REQUIRE(rack.ctl({"start", eco_of(rack, t)}).exit_code == 0);
  REQUIRE(wait_until([&] { return t.alive() == 2; }, 5s));
  auto st = rack.status();
  CHECK((st["rackd"]["containment"] == "process-group" || st["rackd"]["containment"] == "cgroup"));
  CHECK(st["rackd"]["guardian"].is_number());
  pid_t rackd = rack.rackd_pid();
  REQUIRE(kill(rackd, SIGKILL) == 0);
  CHECK(wait_until([&] { return t.alive() == 0; }, 2s));
}

TEST_CASE("tree: the next start ends what a rackd killed with its guardian left, and nothing foreign") {
  Rack rack;
  Tree t(4);
  REQUIRE(rack.ctl({"start", eco_of(rack, t)}).exit_code == 0);
  REQUIRE(wait_until([&] { return t.alive() == 2; }, 5s));
  auto st = rack.status();
  REQUIRE(st["rackd"]["guardian"].is_number());
  pid_t guardian = st["rackd"]["guardian"].get<pid_t>();
  pid_t rackd = rack.rackd_pid();
  REQUIRE(kill(guardian, SIGSTOP) == 0);  // stopped, so it cannot act on rackd's death
  REQUIRE(kill(rackd, SIGKILL) == 0);
  REQUIRE(wait_until([&] { return !pid_alive(rackd); }, 2s));
  kill(guardian, SIGKILL);
  std::this_thread::sleep_for(300ms);
  REQUIRE(t.alive() == 2);  // orphans now: only the list in RACK_HOME knows them

  // A process of ours that a garbled or stale line names must survive: a
  // wrong start time for a live leader, and lines that are not numbers.
  pid_t foreign = fork();
  if (foreign == 0) {
    setpgid(0, 0);
    execl("/bin/sleep", "sleep", "30", nullptr);
    _exit(127);
  }
  std::this_thread::sleep_for(100ms);
  {
    std::ofstream f(rack.home() + "/worker-groups", std::ios::app);
    f << foreign << " " << getsid(0) << " 1\n" << "garbage line\n-5 3 4\n";
  }
  REQUIRE(rack.ctl({"start", eco_of(rack, t)}).exit_code == 0);  // a new rackd
  // The old pair ends; the new worker starts a new pair.
  CHECK(wait_until([&] { return t.alive() == 2 && rack.status()["rackd"]["pid"] != rackd; }, 5s));
  std::ifstream log(rack.home() + "/rackd.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK_MESSAGE(text.find("ended 2 leftover process(es)") != std::string::npos, text);
  CHECK(pid_alive(foreign));
  kill(foreign, SIGKILL);
  waitpid(foreign, nullptr, 0);
}

namespace {

// A shell whose child holds 64 MiB (the shell itself is about 1 MiB).
std::string fat_app(const std::string& name, const Tree& t, const std::string& extra = "") {
  return "  - name: " + name + "\n    run: [/bin/sh, -c, 'python3 -c \"import time; b = bytearray(64 << 20); time.sleep(" +
         t.a + ")\" & wait']\n    protocol: none\n" + extra;
}

}  // namespace

TEST_CASE("tree: rss and cpu count every process of the worker's group") {
  Rack rack;
  Tree t(5);
  // `busy`: a shell that waits on two children looping on the CPU.
  std::string eco = rack.write_file(
      "eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + fat_app("fat", t) +
                      "  - name: busy\n    run: [/bin/sh, -c, 'while :; do :; done & while :; do :; done & wait']\n"
                      "    protocol: none\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  CHECK(wait_until([&] {
    auto w = rack.app("fat")["workers"];
    return !w.empty() && w[0].value("rss_bytes", uint64_t{0}) >= (60u << 20);
  }, 10s));
  // The same figure in /metrics: process_resident_memory_bytes{app="fat",worker="0",generation,pid}.
  std::string series = R"(process_resident_memory_bytes{app="fat",worker="0",)";
  double metric_rss = 0;
  CHECK(wait_until([&] {
    auto r = http_get(rack.admin(), "/metrics");
    std::istringstream in(r.body);
    for (std::string line; std::getline(in, line);)
      if (line.rfind(series, 0) == 0) metric_rss = std::stod(line.substr(line.rfind(' ') + 1));
    return metric_rss >= (60u << 20);
  }, 10s, 200ms));
  CAPTURE(metric_rss);
  // The shell sleeps in wait(); its children use up to two CPUs. Any
  // one-second sample over 50% will do on a loaded machine.
  double cpu = 0;
  CHECK(wait_until([&] {
    auto w = rack.app("busy")["workers"];
    if (!w.empty()) cpu = std::max(cpu, w[0].value("cpu_percent", 0.0));
    return cpu > 50;
  }, 10s, 200ms));
  CAPTURE(cpu);
  rack.ctl({"stop", "busy"});
}

TEST_CASE("tree: max_memory counts the worker's children: one over it has the worker replaced, cause max_memory") {
  Rack rack;
  Tree t(9);
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + fat_app("fat", t, "    max_memory: 32M\n"));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(wait_until([&] { return rack.pids("fat").size() == 1; }, 10s));
  pid_t first = rack.pids("fat")[0];
  json slot;
  CHECK(wait_until([&] {
    auto r = rack.ctl({"describe", "fat", "--json"});
    json d = json::parse(r.out, nullptr, false);
    if (d.is_discarded() || !d.contains("slots") || d["slots"].empty()) return false;
    slot = d["slots"][0];
    return slot["last_exit"].is_object() && slot["last_exit"]["pid"] == first;
  }, 15s, 200ms));
  CAPTURE(slot.dump());
  CHECK(slot["last_exit"]["cause"] == "max_memory");
  CHECK(rack.app("fat")["restart_reasons"].value("memory", 0) >= 1);
  // It was replaced, not restarted after a crash: nothing counts as one.
  CHECK(rack.app("fat")["restart_reasons"].value("crash", 0) == 0);
}

namespace {

// `setsid sleep A` leaves the worker's process group and session: only a
// cgroup still holds it.
std::string setsid_app(const Tree& t) {
  return "  - name: tree\n    run: [/bin/sh, -c, 'setsid sleep " + t.a + " & sleep " + t.b +
         " & wait']\n    protocol: none\n    kill_timeout: 2s\n";
}

// Whether this rackd contains workers in cgroups; says why the test stops when not.
bool in_cgroups(Rack& rack) {
  auto c = rack.status()["rackd"]["containment"];
  if (c == "cgroup") return true;
  MESSAGE("rackd cannot create cgroups here (containment " << c.dump() << "): a setsid() descendant is out of reach");
  return false;
}

}  // namespace

TEST_CASE("tree: with cgroups, stop ends a descendant that left the worker's process group") {
  Rack rack;
  Tree t(6);
  REQUIRE(rack.ctl({"start", rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + setsid_app(t))}).exit_code == 0);
  REQUIRE(wait_until([&] { return t.alive() == 2; }, 5s));
  if (!in_cgroups(rack)) return;
  CHECK(rack.app("tree")["workers"].size() == 1);
  CHECK(rack.ctl({"stop", "tree"}).exit_code == 0);
  CHECK(wait_until([&] { return t.alive() == 0; }, 3s));
  std::ifstream log(rack.home() + "/rackd.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(text.find("one cgroup per worker under") != std::string::npos);
  CHECK(text.find("cgroup.kill to what was left in its cgroup") != std::string::npos);
}

TEST_CASE("tree: with cgroups, kill -9 of rackd ends a setsid() descendant within 2 s, and the next start one left behind") {
  Rack rack;
  Tree t(7);
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + setsid_app(t));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(wait_until([&] { return t.alive() == 2; }, 5s));
  if (!in_cgroups(rack)) return;
  CHECK(rack.ctl({"describe", "tree"}).out.find("cgroup (every worker in one of its own") != std::string::npos);
  REQUIRE(kill(rack.rackd_pid(), SIGKILL) == 0);
  CHECK(wait_until([&] { return t.alive() == 0; }, 2s));

  // Now with the guardian stopped as well: the next rackd of this
  // RACK_HOME finds the setsid() sleep in its cgroup and ends it.
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(wait_until([&] { return t.alive() == 2; }, 5s));
  pid_t guardian = rack.status()["rackd"]["guardian"].get<pid_t>();
  pid_t rackd = rack.rackd_pid();
  REQUIRE(kill(guardian, SIGSTOP) == 0);
  REQUIRE(kill(rackd, SIGKILL) == 0);
  REQUIRE(wait_until([&] { return !pid_alive(rackd); }, 2s));
  kill(guardian, SIGKILL);
  std::this_thread::sleep_for(300ms);
  REQUIRE(t.alive() >= 1);  // the setsid() sleep at least: out of every group
  auto a = procs_running({"sleep", t.a});
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  CHECK(wait_until([&] {
    auto now = procs_running({"sleep", t.a});
    for (pid_t p : a)
      if (std::find(now.begin(), now.end(), p) != now.end()) return false;
    return true;
  }, 3s));
  std::ifstream log(rack.home() + "/rackd.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(text.find("killed what a previous rackd left in it") != std::string::npos);
}
