#include "app/app_status.h"

#include <algorithm>

namespace rack::master {

std::string_view to_string(AppStatus s) {
  switch (s) {
    case AppStatus::Online: return "online";
    case AppStatus::Degraded: return "degraded";
    case AppStatus::Down: return "down";
    case AppStatus::Errored: return "errored";
    case AppStatus::Stopped: return "stopped";
  }
  return "unknown";
}

std::optional<AppStatus> parse_app_status(std::string_view s) {
  for (AppStatus a : {AppStatus::Online, AppStatus::Degraded, AppStatus::Down, AppStatus::Errored, AppStatus::Stopped})
    if (to_string(a) == s) return a;
  return std::nullopt;
}

AppStatus app_status(Stopped stopped, std::span<const WorkerState> slots) {
  if (stopped == Stopped::Yes) return AppStatus::Stopped;
  auto ready = std::count(slots.begin(), slots.end(), WorkerState::Ready);
  // An app asked to run no slot has nothing missing.
  if (ready == static_cast<long>(slots.size())) return AppStatus::Online;
  if (ready > 0) return AppStatus::Degraded;
  bool all_gave_up = std::all_of(slots.begin(), slots.end(), [](WorkerState s) { return s == WorkerState::Errored; });
  return all_gave_up ? AppStatus::Errored : AppStatus::Down;
}

}  // namespace rack::master
