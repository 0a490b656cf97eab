// `rackctl startup`: a systemd unit that starts rackd at boot and
// resurrects the apps `rackctl save` remembered, as `pm2 startup` does.
//
//   rackctl startup                  print the system unit (runs as you)
//   rackctl startup --install        write /etc/systemd/system/rack-<user>.service, enable it
//   rackctl startup --user --install ~/.config/systemd/user/rack.service (no root needed)
//   rackctl startup --as app         the system unit for user app (RACK_HOME ~app/.rack)
//   rackctl startup --install --unit-dir DIR   write into DIR only (no systemctl)
#pragma once

#include <string>

namespace rack::cli {

struct StartupOptions {
  bool user_unit = false;   // --user: a unit of the user's own systemd instance
  bool install = false;     // write it (and enable it unless unit_dir is given)
  std::string unit_dir;     // --unit-dir
  std::string as;           // --as USER (system unit only)
};

struct StartupUnit {
  std::string name;  // rack-<user>.service, or rack.service for --user
  std::string text;
  std::string user;  // User= ("" for --user units)
  std::string home;  // RACK_HOME
};

// The unit for this machine: absolute paths of the rackd and rackctl
// beside this rackctl, this PATH (so the apps' interpreters are found as
// they are now), RACK_HOME. error is set (and the unit empty) when --as
// names no user.
StartupUnit startup_unit(const StartupOptions& opt, std::string& error);

int cmd_startup(const StartupOptions& opt);

}  // namespace rack::cli
