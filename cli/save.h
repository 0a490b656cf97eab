// `rackctl save` and `rackctl resurrect` ($RACK_HOME/dump.json: saved_apps.h).
#pragma once

namespace rack::cli {

int cmd_save();
int cmd_resurrect();

}  // namespace rack::cli
