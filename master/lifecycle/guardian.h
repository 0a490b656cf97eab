// A worker is its whole process tree: every worker leads its own process
// group (spawn.cc), every signal rackd sends goes to the group, and when the
// leader ends the rest of the group is ended with it.
//
// That must also hold when rackd itself dies by SIGKILL. PR_SET_PDEATHSIG
// reaches only rackd's direct children, and a subreaper dies with rackd, so
// a small guardian process is forked at startup. rackd keeps the write end
// of a pipe to it and tells it which groups exist; when that end closes
// (rackd exited, however it died) the guardian SIGKILLs every group still
// listed and exits. It holds no other descriptor (not the RACK_HOME lock:
// a new rackd can start at once) and ignores SIGINT/SIGTERM/SIGHUP, which
// a terminal or a service manager sends to rackd's whole group: rackd stops
// the workers in order, then its exit ends the guardian.
//
// When the guardian cannot help (it was killed too), the groups are also
// listed in $RACK_HOME/worker-groups: "<pgid> <session> <start ticks>" per
// line. The next rackd ends, before it starts anything, every process of
// such a group that is in the same session and started no earlier than the
// group's leader did; a pid reused by another program fails that check and
// is left alone.
//
// A descendant that leaves the group (setsid, setpgid: a daemonizing
// program) is out of a group's reach; where rackd can create cgroups each
// worker is also in a cgroup of its own (cgroup.h), which holds it, and
// the guardian kills them all with one cgroup.kill. containment() says
// which, in the log, in status and in describe.
//
//   guardian::start(home);          // once, before any worker is spawned
//   guardian::watch(pid);           // after spawn(): pid leads a new group
//   guardian::reaped(pid);          // from the SIGCHLD handler
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace rack::master::guardian {

// One line of $RACK_HOME/worker-groups.
struct Group {
  pid_t pgid = 0;
  pid_t session = 0;
  unsigned long long start_ticks = 0;  // the leader's, /proc/<pid>/stat field 22
};

// Forks the guardian. Returns a line for rackd's log.
std::string start(const std::string& home);
// The guardian's pid, -1 if it could not be started.
pid_t pid();
// "cgroup" or "process-group": how a worker's tree is contained (status, describe).
const char* containment();

void watch(pid_t pgid);

// Across an upgrade's exec: the guardian stays rackd's child and keeps
// reading the same pipe, whose write end the new image takes over.
struct Handover {
  int fd = -1;
  pid_t pid = -1;
  std::vector<Group> groups;
};
Handover handover();
void adopt(const std::string& home, const Handover& h);
// `pid` was reaped. When it led a watched group, whatever is left of the
// group is SIGKILLed and the group forgotten. Returns true when it did.
bool reaped(pid_t pid);

std::vector<Group> parse_groups(const std::string& text);
// Ends what is left of the groups a dead rackd listed in `home`, checking
// each process as above, and removes the file. Returns a line for the log,
// or "" when there was nothing.
std::string end_leftovers(const std::string& home);

}  // namespace rack::master::guardian
