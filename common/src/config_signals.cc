// Signal names in ecosystem files (stop_signal) and on the command line.
#include <csignal>
#include <cctype>
#include <string>

#include "rack/config.h"

namespace rack::config {

namespace {

struct NamedSignal {
  const char* name;
  int number;
};

// The signals an app can reasonably be asked to stop with. SIGKILL and
// SIGSTOP are left out: they cannot be handled, so there is nothing to wait
// kill_timeout for.
constexpr NamedSignal kSignals[] = {
    {"INT", SIGINT},   {"TERM", SIGTERM}, {"QUIT", SIGQUIT}, {"HUP", SIGHUP},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH},
};

}  // namespace

std::optional<int> parse_signal(std::string_view text) {
  std::string upper;
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view name = upper;
  if (name.starts_with("SIG")) name.remove_prefix(3);
  for (const NamedSignal& s : kSignals)
    if (name == s.name) return s.number;
  return std::nullopt;
}

int stop_signal_of(const AppConfig& app) {
  if (app.stop_signal != 0) return app.stop_signal;
  return app.protocol == Protocol::Node ? SIGINT : SIGTERM;
}

}  // namespace rack::config
