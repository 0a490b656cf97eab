// Reloads several apps one after the other, so at most one app is
// mid-reload at a time, and stops at the first failure: `rackctl reload
// all` and a changed ecosystem (POST /v1/reload) both go through it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "app/app.h"

namespace rack::master {

struct ReloadStep {
  std::string app;
  std::optional<config::AppConfig> next;  // the config the new workers get; none: the same
  ReloadOptions options;
};

// `find` looks each app up when its turn comes (an app deleted meanwhile
// is skipped). `obs` gets every app's progress, then one done: ok after
// the last app, or the first failure.
void reload_in_sequence(std::function<ManagedApp*(const std::string&)> find, std::vector<ReloadStep> steps,
                        ReloadObserver obs);

}  // namespace rack::master
