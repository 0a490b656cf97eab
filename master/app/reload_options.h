// How a reload runs, as the control API's body asks for it (no event loop:
// api/control_request.h checks it before anything runs).
#pragma once

#include <optional>

#include "rack/config.h"

namespace rack::master {

struct ReloadOptions {
  // AsConfigured: a canary reload when the app's (new) config has
  // reload.canary; On: also without it, with the defaults; Off: never.
  enum class Canary { AsConfigured, On, Off } canary = Canary::AsConfigured;
  std::optional<config::Duration> watch;  // overrides reload.canary.watch
};

}  // namespace rack::master
