#include <doctest/doctest.h>

#include <unistd.h>

#include "lifecycle/guardian.h"
#include "lifecycle/proc_stats.h"

using namespace rack::master;

TEST_CASE("guardian: the worker-groups file keeps well-formed lines and drops the rest") {
  auto g = guardian::parse_groups("4242 100 987654\n\ngarbage\n1 100 5\n-3 100 5\n77 0 5\n12 13 14 15\n99 98 97");
  REQUIRE(g.size() == 2);
  CHECK(g[0].pgid == 4242);
  CHECK(g[0].session == 100);
  CHECK(g[0].start_ticks == 987654);
  CHECK(g[1].pgid == 99);  // a last line without a newline still counts
}

TEST_CASE("proc: identity of this process, and a group's figures summed") {
  auto me = read_identity(::getpid());
  REQUIRE(me);
  CHECK(me->pid == ::getpid());
  CHECK(me->ppid == ::getppid());
  CHECK(me->pgrp == ::getpgrp());
  CHECK(me->session == ::getsid(0));
  CHECK(me->start_ticks > 0);
  auto group = read_proc_group(::getpgrp());
  REQUIRE(group);
  auto alone = read_proc(::getpid());
  REQUIRE(alone);
  CHECK(group->rss_bytes >= alone->rss_bytes);
  CHECK_FALSE(read_proc_group(0x3ffffe));  // no such group
}
