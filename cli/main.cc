// rackctl — drive rackd. PM2 users should feel at home:
//   rackctl start [ecosystem.yaml] [--only app]   rackctl status|ls [--json]
//   rackctl stop|restart|reload|delete <app|all>  rackctl reload ecosystem.yaml
//   rackctl scale <app> <n|+n|-n>                 rackctl logs [app] [-n N] [-f]
//   rackctl ping | kill | save | resurrect | describe <app> | flush [app]
//   rackctl reload-logs | loglevel <app> <level> | monit
//   rackctl upgrade [--binary PATH]               rackctl --version
// Exit codes: 0 done, 1 the operation failed, 2 usage or config error,
// 3 rackd not reachable.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "app_commands.h"
#include "cli_docs.h"
#include "client.h"
#include "describe.h"
#include "log_commands.h"
#include "monit.h"
#include "pm2_commands.h"
#include "rack/version.h"
#include "save.h"
#include "startup.h"
#include "upgrade_cmd.h"

using json = nlohmann::json;
using namespace rack::cli;

namespace {

int cmd_kill() {
  if (!daemon_running()) {
    std::cout << "rackd is not running\n";
    return kOk;
  }
  std::string pidfile = rack_home() + "/rackd.pid";
  Answer a = call("POST", "/v1/kill");
  if (a.exit != kOk) return a.exit;
  // Wait for rackd to be gone, so a following `start` gets a fresh daemon.
  for (int i = 0; i < 600; ++i) {
    if (!std::filesystem::exists(rack_home() + "/rackd.sock")) {
      std::cout << "rackd stopped\n";
      return kOk;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fprintf(stderr, "rackctl: rackd did not exit within 30 s\n");
  return kFailed;
}

int cmd_describe(const std::string& name, bool as_json) {
  Answer a = call("GET", "/v1/apps/" + name);
  if (a.exit != kOk) return a.exit;
  if (as_json) std::cout << a.body.dump() << "\n";
  else std::cout << render_describe(a.body);
  return kOk;
}

// ping, startup, monit, upgrade, kill, save, resurrect: rackd itself and
// the saved app list. The callbacks set `rc` to the exit code.
void add_daemon_commands(CLI::App& cli, int& rc) {
  cli.add_subcommand("ping", "Check that rackd answers")->callback([&rc] {
    Answer a = call("GET", "/v1/ping");
    rc = a.exit;
    if (rc == kOk) std::cout << "pong (rackd pid " << a.body.value("pid", 0) << ")\n";
  });
  static StartupOptions startup_opt;
  auto* startup = cli.add_subcommand("startup", "Print or install a systemd unit that starts rackd at boot and resurrects");
  startup->add_flag("--user", startup_opt.user_unit, "a unit of your own systemd instance (systemctl --user)");
  startup->add_flag("--install", startup_opt.install, "write the unit and enable it (default: print it)");
  startup->add_option("--unit-dir", startup_opt.unit_dir, "with --install: write here, do not run systemctl");
  startup->add_option("--as", startup_opt.as, "the system unit runs as this user (RACK_HOME ~USER/.rack)");
  startup->callback([&rc] { rc = cmd_startup(startup_opt); });
  cli.add_subcommand("monit", "Watch apps and workers live in the terminal (q quits)")->callback([&rc] {
    rc = run_monit();
  });
  static std::string upgrade_binary;
  auto* upgrade = cli.add_subcommand("upgrade", "Re-exec rackd in place (same pid, workers kept)");
  upgrade->add_option("--binary", upgrade_binary, "the new rackd (default: the file at rackd's own path)");
  upgrade->callback([&rc] {
    skip_version_check();
    rc = cmd_upgrade(upgrade_binary);
  });
  cli.add_subcommand("kill", "Stop every app and rackd")->callback([&rc] { rc = cmd_kill(); });
  cli.add_subcommand("save", "Remember the running apps for resurrect")->callback([&rc] { rc = cmd_save(); });
  cli.add_subcommand("resurrect", "Start the apps remembered by save")->callback([&rc] { rc = cmd_resurrect(); });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"rackctl: drive the Rack process supervisor (rackd)"};
  cli.require_subcommand(1);
  cli.set_help_all_flag("--help-all");
  cli.set_version_flag("--version", std::string("rackctl ") + rack::kVersionLine, "Print the version and exit");
  int rc = kOk;

  add_start_command(cli, rc);
  add_app_commands(cli, rc);

  bool as_json = false;
  auto* status = cli.add_subcommand("status", "Show apps and workers")->alias("ls")->alias("list");
  status->add_flag("--json", as_json, "print GET /v1/status as is");
  status->callback([&] { rc = print_status(as_json); });

  std::string describe_app;
  auto* describe = cli.add_subcommand("describe", "Show one app in detail");
  bool describe_json = false;
  describe->add_option("app", describe_app)->required();
  describe->add_flag("--json", describe_json, "Print GET /v1/apps/<app> as is");
  describe->callback([&] { rc = cmd_describe(describe_app, describe_json); });

  add_log_commands(cli, rc);
  add_daemon_commands(cli, rc);

  add_pm2_commands(cli, rc);
  add_doc_commands(cli, rc);  // last: it describes every command above
  if (auto unknown = unknown_command(cli, argc, argv)) {
    std::fprintf(stderr, "rackctl: %s\n", unknown->c_str());
    return kUsage;
  }
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return kUsage;
  }
  return rc;
}
