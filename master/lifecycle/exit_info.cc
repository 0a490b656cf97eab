#include "lifecycle/exit_info.h"

#include <signal.h>
#include <sys/wait.h>

#include <cstring>

namespace rack::master {

std::string describe_exit(int st, bool we_killed) {
  if (WIFEXITED(st)) return "exit code " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    const char* abbrev = sigabbrev_np(sig);
    std::string s = "signal SIG" + std::string(abbrev ? abbrev : std::to_string(sig).c_str());
    if (sig == SIGKILL) s += we_killed ? " (sent by rackd)" : " (not sent by rackd: possible OOM kill)";
    if (WCOREDUMP(st)) s += ", core dumped";
    return s;
  }
  return "status " + std::to_string(st);
}

}  // namespace rack::master
