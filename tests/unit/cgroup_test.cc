#include <doctest/doctest.h>

#include "lifecycle/cgroup.h"

using namespace rack::master;

TEST_CASE("cgroup: the cgroup2 mount is found among v1 ones, with its root") {
  const char* hybrid =
      "25 30 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "35 25 0:32 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n";
  auto m = cgroup::find_mount(hybrid);
  REQUIRE(m);
  CHECK(m->point == "/sys/fs/cgroup/unified");
  CHECK(m->root == "/");
  auto ns = cgroup::find_mount("40 30 0:35 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n");
  REQUIRE(ns);
  CHECK(ns->root == "/docker/abc");
  CHECK_FALSE(cgroup::find_mount("26 25 0:23 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"));
  CHECK_FALSE(cgroup::find_mount("garbage\n\n - \n"));
}

TEST_CASE("cgroup: rackd's own v2 path is the 0:: line") {
  CHECK(cgroup::own_path("4:memory:/x\n0::/system.slice/rackd.service\n") == "/system.slice/rackd.service");
  CHECK(cgroup::own_path("0::/\n") == "/");
  CHECK_FALSE(cgroup::own_path("4:memory:/x\n1:name=systemd:/\n"));
}

TEST_CASE("cgroup: one directory name per RACK_HOME, stable across runs") {
  CHECK(cgroup::dir_name("/var/lib/rack") == cgroup::dir_name("/var/lib/rack"));
  CHECK(cgroup::dir_name("/var/lib/rack") != cgroup::dir_name("/var/lib/rack2"));
  CHECK(cgroup::dir_name("/x").size() == 21);
  CHECK(cgroup::dir_name("/x").starts_with("rack-"));
}
