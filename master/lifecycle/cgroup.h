// A worker's whole tree in a cgroup v2, where rackd can create one.
//
// A process group (guardian.h) misses what leaves it: a descendant that
// calls setsid() or setpgid(), as a daemonizing program does. A cgroup
// keeps every descendant, whatever it does. So at start rackd looks for
// the cgroup2 mount (/proc/self/mountinfo) and its own cgroup
// (/proc/self/cgroup, "0::<path>"), and creates in it
//
//   <rackd's cgroup>/rack-<hash of RACK_HOME>/     one per RACK_HOME
//                                       w<pid>/    one per worker process
//
// Each worker joins w<its pid> between fork and exec: the child makes the
// directory and writes 0 to its cgroup.procs itself (plain syscalls, safe
// after fork), so the path follows from the pid and needs no bookkeeping,
// not even across an upgrade's exec. Then:
//   - the SIGKILL step of every escalation also writes w<pid>/cgroup.kill;
//   - when the leader is reaped, what it left is killed the same way and
//     the directory removed (retried from the tick while they die);
//   - when rackd dies, the guardian writes rack-<hash>/cgroup.kill: every
//     worker's tree at once;
//   - a fresh rackd with the same RACK_HOME kills what a dead one left in
//     rack-<hash> before it starts anything (only processes rackd itself
//     put there: never a foreign one).
// rackd creates no controllers (nothing in cgroup.subtree_control): only
// membership and cgroup.kill are used.
//
// Not available (then process groups alone, said at start and as
// `containment` in status and describe): no cgroup2 mounted, rackd's
// cgroup not writable by its user (not root, no systemd Delegate=), or no
// cgroup.kill (Linux < 5.14). RACK_CGROUP=off chooses process groups.
//
//   std::string line = cgroup::setup(home, cgroup::Leftovers::End);
//   // in the child, after fork: cgroup::join_self();
//   cgroup::kill(pid);  cgroup::ended(pid);  cgroup::sweep();
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace rack::master::cgroup {

// Where the cgroup2 hierarchy is mounted, from /proc/self/mountinfo
// ("… <root> <mount point> … - cgroup2 …"); the mount's root too.
struct Mount {
  std::string point;
  std::string root;
};
std::optional<Mount> find_mount(std::string_view mountinfo);
// The process's cgroup v2 path from /proc/<pid>/cgroup (the "0::" line).
std::optional<std::string> own_path(std::string_view proc_cgroup);
// rack-<16 hex digits>: FNV-1a of the RACK_HOME path.
std::string dir_name(std::string_view home);

enum class Leftovers { End, Keep };  // a fresh start ends them; an upgrade's exec keeps its own workers
// Decides and prepares. Returns a line for rackd's log.
std::string setup(const std::string& home, Leftovers leftovers);
bool enabled();
const std::string& base();  // the rack-<hash> directory; "" when not enabled

// In the child between fork and exec: make w<pid> and move there. Only
// async-signal-safe calls; a failure leaves the child in rackd's cgroup
// (its process group still holds it).
void join_self();
// In rackd right after fork: w<pid> belongs to the new process, even if a
// dead worker of the same pid left it to be removed.
void started(pid_t pid);
// SIGKILL to every process in w<pid> (cgroup.kill); false when it has none.
bool kill(pid_t pid);
// The leader was reaped: the rest of w<pid> is killed and the directory
// removed, now or from sweep() once the processes are gone.
void ended(pid_t pid);
void sweep();
// rackd exits cleanly (every worker gone): the directories go too.
void teardown();
// A descriptor on rack-<hash>/cgroup.kill for the guardian, -1 without.
int open_kill_all();

}  // namespace rack::master::cgroup
