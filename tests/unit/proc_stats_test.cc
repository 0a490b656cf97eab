#include <doctest/doctest.h>

#include <unistd.h>

#include <vector>

#include "lifecycle/proc_stats.h"
#include "lifecycle/heartbeat.h"
#include "lifecycle/spawn.h"

using namespace rack::master;

namespace {

ProcEntry entry(pid_t pid, pid_t pgrp, double cpu, uint64_t rss, double start) {
  ProcEntry e;
  e.pid = pid;
  e.pgrp = pgrp;
  e.sample.cpu_seconds = cpu;
  e.sample.cpu_user_seconds = cpu;
  e.sample.rss_bytes = rss;
  e.sample.start_time_s = start;
  return e;
}

}  // namespace

TEST_CASE("proc: a stat line parses from the command name's ')' on") {
  // pid 4242 "(a) b)": the name holds a space and a ')'; the caller hands
  // the text from the last ')'.
  const char* line = ") S 1 4200 4200 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1000 12345678 300";
  auto e = parse_stat(4242, line, 100, 4096, 1'700'000'000);
  REQUIRE(e);
  CHECK(e->pid == 4242);
  CHECK(e->pgrp == 4200);
  CHECK(e->sample.cpu_user_seconds == doctest::Approx(2.5));
  CHECK(e->sample.cpu_system_seconds == doctest::Approx(0.5));
  CHECK(e->sample.cpu_seconds == doctest::Approx(3.0));
  CHECK(e->sample.rss_bytes == 300u * 4096);
  CHECK(e->sample.start_time_s == doctest::Approx(1'700'000'010));
  CHECK_FALSE(parse_stat(1, ") S 1 2", 100, 4096, 0));  // cut short
  CHECK_FALSE(parse_stat(1, "", 100, 4096, 0));
  CHECK_FALSE(parse_stat(1, "S 1 4200", 100, 4096, 0));  // not from the ')'
}

TEST_CASE("proc: one scan's entries summed per process group, leader's start time") {
  std::vector<ProcEntry> scan = {
      entry(100, 100, 1.0, 1000, 50),  // a worker (group leader)
      entry(101, 100, 0.5, 500, 60),   // a process it forked, same group
      entry(200, 200, 2.0, 2000, 70),  // another worker
      entry(300, 1, 9.0, 9000, 80),    // the rest of the host
      entry(301, 1, 1.0, 1000, 90),
  };
  auto groups = aggregate_groups(scan);
  REQUIRE(groups.count(100));
  CHECK(groups.at(100).sample.cpu_seconds == doctest::Approx(1.5));
  CHECK(groups.at(100).sample.rss_bytes == 1500);
  CHECK(groups.at(100).sample.start_time_s == 50);
  CHECK(groups.at(100).members == std::vector<pid_t>{100, 101});
  CHECK(groups.at(200).sample.rss_bytes == 2000);
  CHECK(groups.at(1).sample.start_time_s == 0);  // its leader was not in the scan
  CHECK(groups.size() == 3);
  CHECK_FALSE(group_sample(groups, 999));  // no process left in the group
}

TEST_CASE("proc: a real scan finds this process's group, with its descriptors") {
  auto groups = aggregate_groups(scan_proc());
  auto mine = group_sample(groups, ::getpgrp());
  REQUIRE(mine);
  auto alone = read_proc(::getpid());
  REQUIRE(alone);
  CHECK(mine->rss_bytes >= alone->rss_bytes);
  CHECK(mine->open_fds >= 3);  // at least stdin, stdout, stderr of this process
  CHECK(read_proc_group(::getpgrp()).has_value());
}

TEST_CASE("nofile: rackd raises its soft limit to the hard one, capped") {
  CHECK(nofile_target(1024, 524288) == 524288u);
  CHECK(nofile_target(1024, 1ull << 40) == kNofileCap);  // "unlimited" hard limits
  CHECK_FALSE(nofile_target(20000, 20000));               // already there
  CHECK_FALSE(nofile_target(kNofileCap * 2, kNofileCap * 4));  // never lowered
}

TEST_CASE("heartbeat: a worker heard from lately is not pinged again, unless its timeout is short") {
  using namespace std::chrono_literals;
  CHECK_FALSE(ping_due(250ms, 10s));
  CHECK_FALSE(ping_due(500ms, 10s));
  CHECK_FALSE(ping_due(750ms, 10s));
  CHECK(ping_due(2500ms, 10s));  // a quarter of the timeout: every 2.5 s
  CHECK(ping_due(1s, 4s));
  CHECK_FALSE(ping_due(750ms, 4s));
  CHECK(ping_due(9s, 10s));     // silent: pinged at every tick until judged
  CHECK(ping_due(0ms, 3s));     // a short timeout keeps a ping every tick
}
