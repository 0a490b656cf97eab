// How a worker process ended, as a value (folly's ProcessReturnCode): the
// wait status, and why — rackd's own reason when rackd asked it to go,
// else what the status says. Restart decisions, restart metrics and the
// log line all come from it, never from log text.
//
//   ExitInfo e = classify_exit(status, /*asked=*/std::nullopt, KillStep::None, 1200ms);
//   e.cause == ExitCause::Crash;  e.describe() == "exit code 1"
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "lifecycle/escalation.h"

namespace rack::master {

enum class ExitCause {
  Crash,            // ended on its own, unasked: an exit code, or a fault signal (SIGSEGV, SIGABRT, ...)
  SignalFromRackd,  // rackd ended it for none of the reasons below (restart, an aborted replacement)
  OutsideSignal,    // killed by a signal rackd did not send (kill -9 with no OOM kill meanwhile, SIGTERM, ...)
  OomSuspect,       // SIGKILL rackd did not send while the kernel OOM-killed (or OOM kills are unknown)
  FailedExec,       // never ran: fork, exec, chdir or a channel failed
  NeverReady,       // no ready signal within ready_timeout
  Heartbeat,        // its event loop stopped answering
  MaxMemory,        // replaced for rss over max_memory
  MaxRequests,      // replaced after max_requests (it asked)
  ProtocolError,    // replaced for sending kMaxProtocolErrors bad channel messages
  Reload,           // replaced by a reload
  Stop,             // stopped: rackctl stop, delete, scale down, rackd shutting down
};

std::string_view to_string(ExitCause c);

// The causes after which the slot restarts the same worker (backoff,
// errored after too many quick ones); the others are ends rackd wanted.
bool is_failure(ExitCause c);

// The `reason` label of rack_worker_restarts_total (and restart_reasons in
// status) for a restart this exit causes: crash (the worker's own doing),
// killed (a signal from outside), oom, ready_timeout, heartbeat, memory,
// max_requests, protocol_error.
std::string_view restart_reason(ExitCause c);

// The signals a process gets from its own faults (SIGSEGV, SIGBUS, SIGILL,
// SIGFPE, SIGABRT, SIGSYS, SIGTRAP): a death by one of them is a crash,
// not something done to it.
bool is_fault_signal(int sig);

// Whether the kernel OOM-killed anything during a worker's life.
enum class OomKills { Unknown, None, Some };

struct ExitInfo {
  ExitCause cause = ExitCause::Crash;
  int code = -1;     // exit code, or -1 when killed by a signal
  int signal = 0;    // the signal that ended it, or 0
  bool core = false;
  bool rackd_killed = false;  // rackd sent the SIGKILL
  OomKills oom = OomKills::Unknown;
  std::chrono::milliseconds uptime{0};

  // "exit code 1", "signal SIGKILL (not sent by rackd: possible OOM kill)".
  std::string describe() const;
};

// `asked`: why rackd asked it to go, if it did. `step`: how far the kill
// escalation went (Killed: rackd sent SIGKILL). `oom`: a SIGKILL rackd did
// not send is an OOM suspect unless no OOM kill happened meanwhile.
ExitInfo classify_exit(int wait_status, std::optional<ExitCause> asked, KillStep step,
                       std::chrono::milliseconds uptime, OomKills oom = OomKills::Unknown);

// A start that failed before the process ran.
ExitInfo failed_exec();

// Why a worker ended, for status and the log line that says so.
// `we_killed`: rackd sent the SIGKILL itself, so it is not a possible OOM.
std::string describe_exit(int wait_status, bool we_killed = false);

}  // namespace rack::master
