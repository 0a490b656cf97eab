// instances: max under a cgroup CPU quota (rack/cpu_limit.h), with fake files.
#include <doctest/doctest.h>

#include <map>

#include "rack/cpu_limit.h"

using rack::cpu::cgroup_quota;
using rack::cpu::effective;

namespace {

struct Files {
  std::map<std::string, std::string> m;
  rack::cpu::ReadFile reader() const {
    return [this](const std::string& p) -> std::optional<std::string> {
      auto it = m.find(p);
      if (it == m.end()) return std::nullopt;
      return it->second;
    };
  }
};

}  // namespace

TEST_CASE("cpu limit: cgroup v2 cpu.max gives the quota in CPUs, max means none") {
  Files f{{{"/proc/self/cgroup", "0::/kubepods/pod1/c1\n"},
           {"/sys/fs/cgroup/kubepods/pod1/c1/cpu.max", "250000 100000\n"}}};
  CHECK(cgroup_quota(f.reader()) == doctest::Approx(2.5));
  CHECK(effective(64, 2.5) == 3);
  CHECK(effective(2, 2.5) == 2);  // affinity is tighter

  f.m["/sys/fs/cgroup/kubepods/pod1/c1/cpu.max"] = "max 100000\n";
  CHECK(!cgroup_quota(f.reader()));
  CHECK(effective(64, std::nullopt) == 64);
}

TEST_CASE("cpu limit: an ancestor's tighter cpu.max wins, and a container's own root counts") {
  Files f{{{"/proc/self/cgroup", "0::/a/b\n"},
           {"/sys/fs/cgroup/a/b/cpu.max", "400000 100000"},
           {"/sys/fs/cgroup/a/cpu.max", "150000 100000"},
           {"/sys/fs/cgroup/cpu.max", "max 100000"}}};
  CHECK(cgroup_quota(f.reader()) == doctest::Approx(1.5));
  CHECK(effective(8, cgroup_quota(f.reader())) == 2);

  // Inside a cgroup namespace the path is "/": cpu.max at the root.
  Files ns{{{"/proc/self/cgroup", "0::/\n"}, {"/sys/fs/cgroup/cpu.max", "50000 100000\n"}}};
  CHECK(cgroup_quota(ns.reader()) == doctest::Approx(0.5));
  CHECK(effective(4, cgroup_quota(ns.reader())) == 1);  // never 0 workers
}

TEST_CASE("cpu limit: cgroup v1 cfs quota and period, -1 is no quota") {
  Files f{{{"/proc/self/cgroup", "12:memory:/docker/x\n4:cpu,cpuacct:/docker/x\n1:name=systemd:/docker/x\n"},
           {"/sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us", "300000\n"},
           {"/sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_period_us", "100000\n"}}};
  CHECK(cgroup_quota(f.reader()) == doctest::Approx(3.0));
  CHECK(effective(16, cgroup_quota(f.reader())) == 3);
  f.m["/sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us"] = "-1\n";
  CHECK(!cgroup_quota(f.reader()));
}

TEST_CASE("cpu limit: garbage, missing and empty files mean no quota, never a crash") {
  CHECK(!cgroup_quota(Files{}.reader()));
  for (std::string bad : {"", "garbage", "100000", "-5 100000", "100000 0", "abc 100000", "max", "1e5 1e5"}) {
    CAPTURE(bad);
    Files f{{{"/proc/self/cgroup", "0::/x\n"}, {"/sys/fs/cgroup/x/cpu.max", bad}}};
    CHECK(!cgroup_quota(f.reader()));
  }
  Files junk{{{"/proc/self/cgroup", "no colons here\n::\n"}}};
  CHECK(!cgroup_quota(junk.reader()));
}
