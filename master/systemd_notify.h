// rackd's side of systemd's notify protocol (sd_notify(3)), written out
// rather than linked: a datagram of "KEY=value\n" lines to $NOTIFY_SOCKET.
// No libsystemd, and nothing to do when the variable is absent (not under
// systemd, or Type=simple).
//
//   SystemdNotifier n = SystemdNotifier::from_environment();  // unsets the variables
//   n.send("READY=1\nSTATUS=2 apps online");
//   if (n.watchdog()) ... ping every n.watchdog_interval() with n.send("WATCHDOG=1")
//
// The variables are removed from rackd's environment, as
// sd_notify(unset_environment=1) does, so that workers never talk to
// systemd in rackd's name (an app that wants `ready: notify` gets a
// socket of rackd's own).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace rack::master {

class SystemdNotifier {
 public:
  static SystemdNotifier from_environment();
  // For tests: a socket path ("@name" = abstract) and the watchdog period.
  SystemdNotifier(std::string socket, std::optional<std::chrono::microseconds> watchdog);
  SystemdNotifier() = default;

  bool enabled() const { return !socket_.empty(); }
  const std::string& socket() const { return socket_; }  // "" when not enabled
  // WATCHDOG_USEC, when set for this process (WATCHDOG_PID absent or ours).
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }
  // How often to ping: half the watchdog period, as sd_watchdog_enabled(3) advises.
  std::chrono::milliseconds watchdog_interval() const;

  // Sends one datagram. Returns 0 or a negative errno; a no-op returning 0
  // when not enabled. Never blocks (MSG_DONTWAIT): a full socket buffer
  // loses a status line, never stalls the loop.
  int send(const std::string& state) const;

  // "RELOADING=1\nMONOTONIC_USEC=<now>": systemd 253+ needs the timestamp
  // to match the reload to the request.
  static std::string reloading_message();

 private:
  std::string socket_;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace rack::master
