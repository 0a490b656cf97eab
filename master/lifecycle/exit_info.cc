#include "lifecycle/exit_info.h"

#include <signal.h>
#include <sys/wait.h>

#include <cstring>

namespace rack::master {

std::string_view to_string(ExitCause c) {
  switch (c) {
    case ExitCause::Crash: return "crash";
    case ExitCause::SignalFromRackd: return "signal_from_rackd";
    case ExitCause::OutsideSignal: return "outside_signal";
    case ExitCause::OomSuspect: return "oom_suspect";
    case ExitCause::FailedExec: return "failed_exec";
    case ExitCause::NeverReady: return "never_ready";
    case ExitCause::Heartbeat: return "heartbeat";
    case ExitCause::MaxMemory: return "max_memory";
    case ExitCause::MaxRequests: return "max_requests";
    case ExitCause::ProtocolError: return "protocol_error";
    case ExitCause::Reload: return "reload";
    case ExitCause::Stop: return "stop";
  }
  return "unknown";
}

bool is_failure(ExitCause c) {
  switch (c) {
    case ExitCause::Crash:
    case ExitCause::OutsideSignal:
    case ExitCause::OomSuspect:
    case ExitCause::FailedExec:
    case ExitCause::NeverReady:
    case ExitCause::Heartbeat:
      return true;
    default:
      return false;
  }
}

std::string_view restart_reason(ExitCause c) {
  switch (c) {
    case ExitCause::OutsideSignal: return "killed";
    case ExitCause::OomSuspect: return "oom";
    case ExitCause::NeverReady: return "ready_timeout";
    case ExitCause::Heartbeat: return "heartbeat";
    case ExitCause::MaxMemory: return "memory";
    case ExitCause::MaxRequests: return "max_requests";
    case ExitCause::ProtocolError: return "protocol_error";
    default: return "crash";
  }
}

std::string ExitInfo::describe() const {
  if (cause == ExitCause::FailedExec && code < 0 && signal == 0) return "failed to start";
  if (signal == 0) return "exit code " + std::to_string(code);
  const char* abbrev = sigabbrev_np(signal);
  std::string s = "signal SIG" + std::string(abbrev ? abbrev : std::to_string(signal).c_str());
  if (signal == SIGKILL && rackd_killed) s += " (sent by rackd)";
  else if (signal == SIGKILL && oom == OomKills::None) s += " (not sent by rackd, no OOM kill meanwhile: killed from outside)";
  else if (signal == SIGKILL) s += " (not sent by rackd: possible OOM kill)";
  else if (cause == ExitCause::OutsideSignal) s += " (not sent by rackd)";
  if (core) s += ", core dumped";
  return s;
}

bool is_fault_signal(int sig) {
  switch (sig) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGABRT:
    case SIGSYS:
    case SIGTRAP:
      return true;
    default:
      return false;
  }
}

ExitInfo classify_exit(int st, std::optional<ExitCause> asked, KillStep step, std::chrono::milliseconds uptime,
                       OomKills oom) {
  ExitInfo e;
  e.uptime = uptime;
  e.oom = oom;
  e.rackd_killed = step == KillStep::Killed;
  if (WIFEXITED(st)) {
    e.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    e.signal = WTERMSIG(st);
    e.core = WCOREDUMP(st);
  }
  if (asked) {
    e.cause = *asked;
  } else if (e.signal == SIGKILL && !e.rackd_killed) {
    e.cause = oom == OomKills::None ? ExitCause::OutsideSignal : ExitCause::OomSuspect;
  } else if (e.signal != 0 && step == KillStep::None) {
    e.cause = is_fault_signal(e.signal) ? ExitCause::Crash : ExitCause::OutsideSignal;
  } else if (e.signal != 0) {
    e.cause = ExitCause::SignalFromRackd;
  } else {
    e.cause = ExitCause::Crash;
  }
  return e;
}

ExitInfo failed_exec() {
  ExitInfo e;
  e.cause = ExitCause::FailedExec;
  return e;
}

std::string describe_exit(int st, bool we_killed) {
  if (!WIFEXITED(st) && !WIFSIGNALED(st)) return "status " + std::to_string(st);
  return classify_exit(st, std::nullopt, we_killed ? KillStep::Killed : KillStep::None, {}).describe();
}

}  // namespace rack::master
