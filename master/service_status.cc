#include "service_status.h"

#include <map>

#include "app/app.h"

namespace rack::master {

bool any_starting(const std::vector<ManagedApp*>& apps) {
  for (ManagedApp* a : apps) {
    if (a->stopped()) continue;
    // Slots are filled one reconcile pass at a time: a slot with no worker yet is starting too.
    if (a->workers().size() < a->cfg().instances) return true;
    for (Worker* w : a->workers())
      if (w->state() == WorkerState::Starting) return true;
  }
  return false;
}

std::string status_line(const std::vector<ManagedApp*>& apps) {
  std::map<AppStatus, int> n;
  for (ManagedApp* a : apps) n[a->app_status()]++;
  std::string out = std::to_string(apps.size()) + (apps.size() == 1 ? " app" : " apps");
  const char* sep = ": ";
  for (auto s : {AppStatus::Online, AppStatus::Degraded, AppStatus::Down, AppStatus::Errored, AppStatus::Stopped}) {
    if (!n[s]) continue;
    out += sep + std::to_string(n[s]) + " " + std::string(to_string(s));
    sep = ", ";
  }
  return out;
}

}  // namespace rack::master
