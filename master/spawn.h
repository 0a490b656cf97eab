// Starting a worker process: fork + exec with the descriptors it expects.
//
// The child gets stdin from /dev/null, stdout and stderr as pipes that rackd
// reads, and optionally fd 3 (the rack channel, the node channel or the
// inherited listening socket). Every other descriptor is closed, signal
// dispositions and the mask are reset, and PR_SET_PDEATHSIG ties the child's
// life to rackd's.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace rack::master {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is an absolute path
  std::string cwd;
  std::map<std::string, std::string> env;  // added to (and overriding) rackd's environ
  int fd3 = -1;                            // -1: none
  bool set_listen_pid = false;             // LISTEN_PID=<child pid> (socket activation)
};

struct Spawned {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout (non-blocking, cloexec)
  int err = -1;  // read end of the child's stderr
};

// Returns 0 and fills `out`, or a negative errno (fork, pipe, or the
// child's exec/chdir failure, reported through a close-on-exec pipe).
// `what` names the failing step ("execve /usr/bin/x", "chdir /srv").
int spawn(const SpawnRequest& req, Spawned& out, std::string& what);

}  // namespace rack::master
