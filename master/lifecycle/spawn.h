// Starting a worker process: fork + exec with the descriptors it expects.
//
// The child gets stdin from /dev/null, stdout and stderr as pipes that rackd
// reads, and optionally fd 3 (the rack channel, the node channel or the
// inherited listening socket). Every other descriptor is closed, signal
// dispositions and the mask are reset, and PR_SET_PDEATHSIG ties the child's
// life to rackd's. The child leads a new process group, given to the
// guardian (guardian.h), which ends it if rackd dies.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rack::master {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is an absolute path
  std::string cwd;
  std::map<std::string, std::string> env;  // added to (and overriding) rackd's environ
  // false (inherit_env: false): of rackd's environ only what
  // inherited_env_allowed() names is passed.
  bool inherit_env = true;
  int fd3 = -1;                            // -1: none
  bool set_listen_pid = false;             // LISTEN_PID=<child pid> (socket activation)
  // The app's user:/group: the child calls setgroups(groups), setgid,
  // setuid before chdir and exec (groups found before fork: getgrouplist
  // is not async-signal-safe).
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::vector<gid_t> groups;
};

struct Spawned {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout (non-blocking, cloexec)
  int err = -1;  // read end of the child's stderr
};

// Returns 0 and fills `out`, or a negative errno (fork, pipe, or the
// child's exec/chdir failure, reported through a close-on-exec pipe).
// `what` names the failing step ("execve /usr/bin/x", "chdir /srv").
// With inherit_env: false, the variables of rackd's own environment a worker
// still gets: PATH, HOME, USER, LOGNAME, SHELL, TMPDIR, TZ, LANG, LANGUAGE
// and LC_* (docs/configuration.md). PATH is set to a default when rackd has none.
bool inherited_env_allowed(std::string_view name);
inline constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

int spawn(const SpawnRequest& req, Spawned& out, std::string& what);

// Called once, on the loop thread, before anything is spawned. When rackd
// was started with the default scheduling policy (SCHED_OTHER), the loop
// thread switches to SCHED_BATCH: woken by a new connection, it no longer
// preempts the worker or client running on that CPU, and hands over in one
// turn the connections that arrived meanwhile. On 2 busy cores that is 15%
// more Connection: close throughput (docs/BENCHMARKS.md), for at most one
// scheduler slice of extra wait when every CPU is busy. Workers still start
// with the policy rackd was started with. RACK_SCHED_BATCH=0 opts out, and a
// policy set from outside (chrt, systemd's CPUSchedulingPolicy=) is kept.
// Returns a line for the log.
std::string adopt_batch_scheduling();
// Whether adopt_batch_scheduling() switched rackd to SCHED_BATCH (so that
// children reset it); carried across an upgrade's exec, where the policy
// stays but would look set from outside.
bool resets_scheduling();
void set_resets_scheduling(bool on);

// rackd holds about three descriptors per worker (its channel, the stdout
// and stderr pipes) plus a few per app: 400 workers need about 1,500,
// past the soft RLIMIT_NOFILE of 1024 most systems start a service with.
// The soft limit rackd should raise itself to: the hard limit, at most
// kNofileCap (a larger table costs memory for nothing); nullopt when the
// soft limit is already there. Pure.
inline constexpr uint64_t kNofileCap = 1u << 20;
std::optional<uint64_t> nofile_target(uint64_t soft, uint64_t hard);
// Called once, before anything is spawned: raises rackd's soft limit
// (nofile_target); workers start with the soft limit rackd was started
// with, as they would without Rack (a program using select() breaks on
// descriptors past 1023). Returns a line for the log.
std::string raise_nofile();

}  // namespace rack::master
