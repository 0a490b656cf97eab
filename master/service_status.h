// What rackd tells its own supervisor (systemd's STATUS=, READY=1) about
// the apps as a whole: each app's status (app/app_status.h), counted.
#pragma once

#include <string>
#include <vector>

namespace rack::master {

class ManagedApp;

// True while some app meant to run has a worker still in its first start
// (state starting): rackd is not ready for systemd until each has either
// become ready or failed once.
bool any_starting(const std::vector<ManagedApp*>& apps);

// "2 apps: 1 online, 1 degraded" (the STATUS= line).
std::string status_line(const std::vector<ManagedApp*>& apps);

}  // namespace rack::master
