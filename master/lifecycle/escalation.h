// How rackd makes a worker process go, one explicit step after another
// (gunicorn and nginx: graceful first, a deadline, then SIGKILL):
//
//   Asked ──kill_timeout──► Terminated ──kill_timeout──► Killed
//   (Drain message, node disconnect)  (SIGTERM)           (SIGKILL)
//   Aborted ──abort_grace──► Killed
//   (SIGABRT: a stuck worker may leave a core)
//
// The kill timer fires at most once per step; each step knows the next.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace rack::master {

enum class KillStep {
  None,        // nothing asked of the process
  Asked,       // asked to finish and exit (Drain, node disconnect/shutdown)
  Terminated,  // SIGTERM sent
  Aborted,     // SIGABRT sent (stuck event loop)
  Killed,      // SIGKILL sent: nothing follows
};

std::string_view to_string(KillStep s);

// A step of the escalation to begin: `signal` now (0: only a message was
// sent, as Drain), and the kill timer for the next step. `why` is logged.
struct KillOrder {
  KillStep step = KillStep::None;
  int signal = 0;
  const char* why = "";
};

// Time a stuck worker gets to write its core after SIGABRT.
inline constexpr std::chrono::milliseconds kAbortGrace{1000};

struct NextKill {
  KillStep step;  // the step the signal begins
  int signal;     // SIGTERM or SIGKILL
  std::chrono::milliseconds after;  // how long after `from` began
};

// What follows `from` when the process has not exited in time; nullopt
// when nothing does (None, Killed).
std::optional<NextKill> next_kill(KillStep from, std::chrono::milliseconds kill_timeout);

}  // namespace rack::master
