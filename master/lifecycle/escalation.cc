#include "lifecycle/escalation.h"

#include <signal.h>

namespace rack::master {

std::string_view to_string(KillStep s) {
  switch (s) {
    case KillStep::None: return "none";
    case KillStep::Asked: return "asked";
    case KillStep::Terminated: return "terminated";
    case KillStep::Aborted: return "aborted";
    case KillStep::Killed: return "killed";
  }
  return "unknown";
}

std::optional<NextKill> next_kill(KillStep from, std::chrono::milliseconds kill_timeout) {
  switch (from) {
    case KillStep::Asked: return NextKill{KillStep::Terminated, SIGTERM, kill_timeout};
    case KillStep::Terminated: return NextKill{KillStep::Killed, SIGKILL, kill_timeout};
    case KillStep::Aborted: return NextKill{KillStep::Killed, SIGKILL, kAbortGrace};
    case KillStep::None:
    case KillStep::Killed: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace rack::master
