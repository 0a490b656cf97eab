#include <signal.h>
#include <sys/wait.h>

#include <doctest/doctest.h>

#include "lifecycle/exit_info.h"

using namespace rack::master;
using namespace std::chrono_literals;

namespace {

// Wait statuses as waitpid() reports them.
int exited(int code) { return (code & 0xff) << 8; }
int killed(int sig, bool core = false) { return sig | (core ? 0x80 : 0); }

ExitInfo unasked(int st, KillStep step = KillStep::None) { return classify_exit(st, std::nullopt, step, 1500ms); }

}  // namespace

TEST_CASE("exit: an unasked exit is a crash, whatever the code") {
  auto e = unasked(exited(1));
  CHECK(e.cause == ExitCause::Crash);
  CHECK(e.code == 1);
  CHECK(e.signal == 0);
  CHECK(e.uptime == 1500ms);
  CHECK(e.describe() == "exit code 1");
  CHECK(unasked(exited(0)).cause == ExitCause::Crash);
  CHECK(is_failure(ExitCause::Crash));
  CHECK(restart_reason(ExitCause::Crash) == "crash");
}

TEST_CASE("exit: a SIGKILL rackd did not send is an OOM suspect, one it sent is not") {
  auto oom = unasked(killed(SIGKILL));
  CHECK(oom.cause == ExitCause::OomSuspect);
  CHECK(oom.describe() == "signal SIGKILL (not sent by rackd: possible OOM kill)");
  CHECK(is_failure(oom.cause));
  auto ours = classify_exit(killed(SIGKILL), ExitCause::NeverReady, KillStep::Killed, 0ms);
  CHECK(ours.cause == ExitCause::NeverReady);
  CHECK(ours.describe() == "signal SIGKILL (sent by rackd)");
  CHECK(restart_reason(ours.cause) == "ready_timeout");
}

TEST_CASE("exit: a fault signal is the worker's own crash, another signal from outside is an outside kill") {
  auto segv = unasked(killed(SIGSEGV, true));
  CHECK(segv.cause == ExitCause::Crash);
  CHECK(segv.core);
  CHECK(segv.describe() == "signal SIGSEGV, core dumped");
  CHECK(restart_reason(segv.cause) == "crash");
  CHECK(unasked(killed(SIGABRT)).cause == ExitCause::Crash);
  auto term = unasked(killed(SIGTERM));
  CHECK(term.cause == ExitCause::OutsideSignal);
  CHECK(term.describe() == "signal SIGTERM (not sent by rackd)");
  CHECK(restart_reason(term.cause) == "killed");
  // rackd's escalation without a recorded reason: its own signal.
  CHECK(unasked(killed(SIGTERM), KillStep::Terminated).cause == ExitCause::SignalFromRackd);
}

TEST_CASE("exit: a SIGKILL from outside is a kill when no OOM kill happened meanwhile, else an OOM suspect") {
  auto outside = classify_exit(killed(SIGKILL), std::nullopt, KillStep::None, 1500ms, OomKills::None);
  CHECK(outside.cause == ExitCause::OutsideSignal);
  CHECK(outside.describe() == "signal SIGKILL (not sent by rackd, no OOM kill meanwhile: killed from outside)");
  CHECK(restart_reason(outside.cause) == "killed");
  auto oom = classify_exit(killed(SIGKILL), std::nullopt, KillStep::None, 1500ms, OomKills::Some);
  CHECK(oom.cause == ExitCause::OomSuspect);
  CHECK(restart_reason(oom.cause) == "oom");
  // Only a SIGKILL is an OOM suspect.
  CHECK(classify_exit(killed(SIGTERM), std::nullopt, KillStep::None, 1500ms, OomKills::Some).cause ==
        ExitCause::OutsideSignal);
}

TEST_CASE("exit: rackd's reason wins over the status, and decides failure or intent") {
  for (ExitCause c : {ExitCause::Stop, ExitCause::Reload, ExitCause::MaxMemory, ExitCause::MaxRequests,
                      ExitCause::SignalFromRackd}) {
    auto e = classify_exit(exited(0), c, KillStep::Asked, 10ms);
    CHECK(e.cause == c);
    CHECK_FALSE(is_failure(c));
  }
  CHECK(classify_exit(killed(SIGABRT, true), ExitCause::Heartbeat, KillStep::Aborted, 1ms).cause ==
        ExitCause::Heartbeat);
  CHECK(is_failure(ExitCause::Heartbeat));
  CHECK(is_failure(ExitCause::NeverReady));
  CHECK(restart_reason(ExitCause::Heartbeat) == "heartbeat");
  CHECK(restart_reason(ExitCause::MaxMemory) == "memory");
  CHECK(restart_reason(ExitCause::MaxRequests) == "max_requests");
  CHECK(restart_reason(ExitCause::ProtocolError) == "protocol_error");
  CHECK(to_string(ExitCause::ProtocolError) == "protocol_error");
  CHECK_FALSE(is_failure(ExitCause::ProtocolError));
}

TEST_CASE("exit: a start that failed is a failure with no uptime") {
  auto e = failed_exec();
  CHECK(e.cause == ExitCause::FailedExec);
  CHECK(is_failure(e.cause));
  CHECK(e.uptime == 0ms);
  CHECK(restart_reason(e.cause) == "crash");
  CHECK(to_string(e.cause) == "failed_exec");
}
