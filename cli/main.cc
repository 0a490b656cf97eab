// rackctl — drive rackd. PM2 users should feel at home:
//   rackctl start [ecosystem.yaml] [--only app]   rackctl status|ls [--json]
//   rackctl stop|restart|reload|delete <app|all>  rackctl reload ecosystem.yaml
//   rackctl scale <app> <n|+n|-n>                 rackctl logs [app] [-n N] [-f]
//   rackctl ping | kill | save | resurrect | describe <app> | flush [app]
//   rackctl reload-logs | loglevel <app> <level> | monit
//   rackctl upgrade [--binary PATH]               rackctl --version
// Exit codes: 0 done, 1 the operation failed, 2 usage or config error,
// 3 rackd not reachable.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli_docs.h"
#include "client.h"
#include "describe.h"
#include "monit.h"
#include "pm2_commands.h"
#include "pm2_file.h"
#include "pm2_select.h"
#include "rack/config.h"
#include "rack/logging.h"
#include "rack/version.h"
#include "save.h"
#include "startup.h"
#include "start_script.h"
#include "start_wait.h"
#include "status_table.h"
#include "upgrade_cmd.h"
#include "rack/version.h"

using json = nlohmann::json;
using namespace rack::cli;

namespace {

std::string absolute(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

// Validates locally first: config errors are reported (exit 2) before
// rackd is even started, and nothing changes.
int check_config(const std::string& file, const std::string& only) {
  try {
    auto eco = rack::config::load_file(file);
    if (!only.empty() && std::none_of(eco.apps.begin(), eco.apps.end(), [&](auto& a) { return a.name == only; })) {
      std::fprintf(stderr, "rackctl: %s has no app named \"%s\"\n", file.c_str(), only.c_str());
      return kUsage;
    }
  } catch (const rack::config::ConfigError& e) {
    std::fprintf(stderr, "rackctl: %s\n", e.what());
    return kUsage;
  }
  return kOk;
}

int print_status(bool as_json) {
  Answer a = call("GET", "/v1/status");
  if (a.exit != kOk) return a.exit;
  warn_version_skew(a.body);
  if (as_json) std::cout << a.body.dump() << "\n";
  else std::cout << render_status(a.body, table_style());
  return kOk;
}

bool looks_like_file(const std::string& s) {
  return s.ends_with(".yaml") || s.ends_with(".yml") || s.find('/') != std::string::npos;
}

int progress_stream(const std::string& target, const json& body) {
  return call_stream("POST", target, body, [](const json& j) {
    if (j.contains("progress")) std::cout << j["progress"].get<std::string>() << std::endl;
    else if (j.contains("ok") && j["ok"] == false)
      std::cerr << "rackctl: reload failed: " << j.value("error", "unknown error") << std::endl;
  });
}

int cmd_start(const std::string& file_arg, const std::string& only, bool no_wait) {
  std::string file = absolute(file_arg);
  if (int rc = check_config(file, only); rc != kOk) return rc;
  // The longest ready_timeout of the file, plus room for rackd to notice.
  std::chrono::milliseconds deadline{10000};
  try {
    for (const auto& app : rack::config::load_file(file).apps)
      deadline = std::max(deadline, std::chrono::duration_cast<std::chrono::milliseconds>(app.ready_timeout) +
                                        std::chrono::milliseconds(5000));
  } catch (const rack::config::ConfigError&) {
  }
  if (int rc = ensure_daemon(); rc != kOk) return rc;
  Answer a = call("POST", "/v1/start", {{"file", file}, {"only", only}});
  if (a.exit != kOk) return a.exit;
  for (auto& n : a.body.value("already_running", json::array()))
    std::cout << n.get<std::string>() << ": already running (use reload or restart)\n";
  std::vector<std::string> started;
  for (auto& n : a.body.value("started", json::array())) started.push_back(n.get<std::string>());
  if (!no_wait) {
    int rc = wait_for_start(started, deadline);
    print_status(false);
    return rc;
  }
  // --no-wait: briefly (up to 3 s), so the table says more than "starting".
  for (int i = 0; i < 30; ++i) {
    Answer s = call("GET", "/v1/status");
    if (s.exit != kOk) break;
    bool settled = true;
    for (auto& app : s.body["apps"])
      for (auto& w : app["workers"]) settled &= w["state"] != "starting";
    if (settled) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return print_status(false);
}

// Reload flags: --canary, --no-canary, --watch 30s (with --canary or a
// configured canary). Set by the reload subcommand, read by every reload.
struct ReloadFlags {
  bool canary = false;
  bool no_canary = false;
  std::string watch;
};
ReloadFlags reload_flags;

// The reload body's canary fields, or a usage error (kUsage) with the reason printed.
int reload_body(json& body) {
  const ReloadFlags& f = reload_flags;
  if (f.canary && f.no_canary) {
    std::fprintf(stderr, "rackctl: --canary and --no-canary exclude each other\n");
    return kUsage;
  }
  if (f.canary) body["canary"] = true;
  if (f.no_canary) body["canary"] = false;
  if (!f.watch.empty()) {
    auto d = rack::config::parse_duration(f.watch);
    if (!d || d->count() <= 0) {
      std::fprintf(stderr, "rackctl: --watch: expected a duration above 0 like 30s, got \"%s\"\n", f.watch.c_str());
      return kUsage;
    }
    if (f.no_canary) {
      std::fprintf(stderr, "rackctl: --watch is for canary reloads, not with --no-canary\n");
      return kUsage;
    }
    body["watch"] = f.watch;
  }
  return kOk;
}

int cmd_app_op(const std::string& op, const std::string& target, const std::string& env_name = "", bool show = true) {
  if (op == "reload") {
    json body = json::object();
    if (int rc = reload_body(body); rc != kOk) return rc;
    if (is_pm2_file(target)) {
      std::string error;
      auto file = pm2_ecosystem(target, env_name, error);
      if (!file) {
        std::fprintf(stderr, "rackctl: %s\n", error.c_str());
        return kUsage;
      }
      body["file"] = *file;
      return progress_stream("/v1/reload", body);
    }
    if (looks_like_file(target)) {
      std::string file = absolute(target);
      if (int rc = check_config(file, ""); rc != kOk) return rc;
      body["file"] = file;
      return progress_stream("/v1/reload", body);
    }
    return progress_stream("/v1/apps/" + target + "/reload", body);
  }
  Answer a = op == "delete" ? call("DELETE", "/v1/apps/" + target) : call("POST", "/v1/apps/" + target + "/" + op);
  if (a.exit != kOk) return a.exit;
  std::cout << op << " " << target << ": done\n";
  return show ? print_status(false) : kOk;
}

// PM2's selection: several names, a namespace, all, /regex/ (pm2_select.h).
int cmd_selected(const std::string& op, const std::vector<std::string>& targets, const std::string& env_name) {
  const std::string& first = targets[0];
  if (targets.size() == 1 && (first == "all" || (op == "reload" && (is_pm2_file(first) || looks_like_file(first)))))
    return cmd_app_op(op, first, env_name);
  Answer a = call("GET", "/v1/status");
  if (a.exit != kOk) return a.exit;
  Selection sel = select_apps(targets, a.body["apps"]);
  if (!sel.error.empty()) {
    std::fprintf(stderr, "rackctl: %s %s\n", op.c_str(), sel.error.c_str());
    return kFailed;
  }
  int worst = kOk;
  for (const std::string& name : sel.apps) worst = std::max(worst, cmd_app_op(op, name, env_name, false));
  print_status(false);
  return worst;
}

void print_log_line(const json& j, bool as_json) {
  if (as_json) {
    std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    return;
  }
  std::string app = j.value("app", "?");
  int slot = j.value("slot", -1);
  std::string stream = j.value("stream", "out");
  std::cout << app << (slot >= 0 ? "[" + std::to_string(slot) + "]" : "") << (stream == "err" ? " err" : "")
            << " | " << j.value("line", "") << "\n";
}

int cmd_logs(const std::string& app, long n, bool follow, bool err_only, bool out_only, bool as_json) {
  std::string q = "/v1/logs?n=" + std::to_string(n);
  if (!app.empty()) q += "&app=" + app;
  if (err_only) q += "&stream=err";
  if (out_only) q += "&stream=out";
  if (!follow) {
    auto client = rack::http::Client::unix_socket(socket_path());
    auto r = client.request("GET", q, "", {});
    if (r.error != rack::http::Client::Error::None) {
      std::fprintf(stderr, "rackctl: rackd is not reachable at %s: %s\n", socket_path().c_str(), r.error_text.c_str());
      return r.error == rack::http::Client::Error::Connect ? kUnreachable : kFailed;
    }
    if (r.status != 200) {
      json j = json::parse(r.body, nullptr, false);
      std::fprintf(stderr, "rackctl: %s\n", j.is_object() ? j.value("error", r.body).c_str() : r.body.c_str());
      return r.status == 400 ? kUsage : kFailed;
    }
    size_t pos = 0, nl;
    while ((nl = r.body.find('\n', pos)) != std::string::npos) {
      json j = json::parse(r.body.substr(pos, nl - pos), nullptr, false);
      pos = nl + 1;
      if (!j.is_discarded()) print_log_line(j, as_json);
    }
    return kOk;
  }
  bool ended = false;
  int rc = call_stream("GET", q + "&follow=1", nullptr, [&](const json& j) {
    if (j.contains("error") && !j.contains("line")) {  // rackd ended the stream (this client fell behind)
      std::cout.flush();
      std::fprintf(stderr, "rackctl: %s\n", j["error"].is_string() ? j["error"].get<std::string>().c_str() : j.dump().c_str());
      ended = true;
      return;
    }
    print_log_line(j, as_json);
    std::cout.flush();
  });
  return ended && rc == kOk ? kFailed : rc;
}

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"rackctl: drive the Rack process supervisor (rackd)"};
  cli.require_subcommand(1);
  cli.set_help_all_flag("--help-all");
  cli.set_version_flag("--version", std::string("rackctl ") + rack::kVersionLine, "Print the version and exit");
  int rc = kOk;

  std::string file = "ecosystem.yaml", only;
  auto* start = cli.add_subcommand("start", "Start the apps of an ecosystem file (starts rackd if needed)");
  ScriptStart script;
  start->add_option("file", file, "ecosystem file, or a script to run (server.js, app.py, ./bin/server)")
      ->capture_default_str();
  start->allow_extras();  // a script's arguments, after --
  start->add_option("--only", only, "start only this app");
  bool no_wait = false;
  start->add_flag("--no-wait", no_wait, "do not wait for every slot to be ready (exit 0 once rackd accepted it)");
  start->add_option("-i,--instances", script.instances, "a script: workers, n or max")->capture_default_str();
  start->add_option("--name", script.name, "a script: the app's name (default: the file name)");
  start->add_option("--listen", script.listen, "a script: the HOST:PORT rackd binds for it");
  start->add_option("--env-var", script.env, "a script: NAME=VALUE in its environment (repeatable)");
  start->add_option("--interpreter", script.interpreter, "a script: run it with this (default: by extension)");
  std::string pm2_env;
  start->add_option("--env", pm2_env, "a PM2 ecosystem file: merge env_<name> over env");
  start->add_option("--protocol", script.protocol, "a script: node, inherit, rack or none (default: node for "
                                                   "node scripts with --listen, else inherit with --listen, none without)");
  start->callback([&] {
    // PM2's habit: a bare `start` finds ecosystem.config.js.
    if (file == "ecosystem.yaml" && !std::filesystem::exists(file))
      for (const char* f : {"ecosystem.config.js", "ecosystem.config.cjs"})
        if (std::filesystem::exists(f)) file = f;
    if (is_pm2_file(file)) {
      std::string error;
      auto written = pm2_ecosystem(file, pm2_env, error);
      if (!written) {
        std::fprintf(stderr, "rackctl: %s\n", error.c_str());
        rc = kUsage;
        return;
      }
      rc = cmd_start(*written, only, no_wait);
      return;
    }
    if (!pm2_env.empty()) {
      std::fprintf(stderr, "rackctl: start: --env is for PM2 ecosystem files (ecosystem.config.js)\n");
      rc = kUsage;
      return;
    }
    if (is_ecosystem_file(file) || file == "ecosystem.yaml") {
      if (!start->remaining().empty()) {
        std::fprintf(stderr, "rackctl: start %s: unexpected argument \"%s\" (arguments are for a script)\n",
                     file.c_str(), start->remaining()[0].c_str());
        rc = kUsage;
        return;
      }
      rc = cmd_start(file, only, no_wait);
      return;
    }
    script.script = file;
    script.args = start->remaining();
    std::string error;
    auto written = write_script_ecosystem(script, error);
    if (!written) {
      std::fprintf(stderr, "rackctl: %s\n", error.c_str());
      rc = kUsage;
      return;
    }
    rc = cmd_start(*written, script_app_name(script), no_wait);
  });

  std::string target;
  std::vector<std::string> targets;
  for (auto op : {"stop", "restart", "reload", "delete"}) {
    const char* help = std::string(op) == "reload" ? "Replace workers one by one without dropping a request "
                                                     "(an app, all, or an ecosystem file to apply)"
                       : std::string(op) == "restart" ? "Kill and start workers (not graceful)"
                       : std::string(op) == "stop"    ? "Drain and stop an app's workers"
                                                      : "Stop an app and forget it";
    auto* sc = cli.add_subcommand(op, help);
    sc->add_option("app", targets, "app names, a namespace, all or /regex/")->required();
    if (std::string(op) == "delete") sc->alias("del");
    if (std::string(op) == "reload") sc->add_option("--env", pm2_env, "a PM2 ecosystem file: merge env_<name> over env");
    if (std::string(op) == "reload") {
      sc->add_flag("--canary", reload_flags.canary,
                   "Replace reload.canary.slots (default 1) first, watch them, roll back if they do worse");
      sc->add_flag("--no-canary", reload_flags.no_canary, "A plain reload even if the app configures a canary");
      sc->add_option("--watch", reload_flags.watch, "How long the canary is watched (default 30s)");
    }
    std::string name = op;
    sc->callback([&, name] { rc = cmd_selected(name, targets, pm2_env); });
  }

  std::string convert_out;
  auto* convert = cli.add_subcommand("convert", "Print the ecosystem.yaml equivalent to a PM2 ecosystem file");
  convert->add_option("file", file, "ecosystem.config.js, .cjs, .json or PM2's YAML")->required();
  convert->add_option("--env", pm2_env, "merge env_<name> over env");
  convert->add_option("-o,--output", convert_out, "write it here instead of stdout");
  convert->callback([&] { rc = pm2_convert(file, pm2_env, convert_out); });

  std::string scale_n;
  auto* scale = cli.add_subcommand("scale", "Set the number of workers: n, +n or -n (auto: back to autoscaling)");
  scale->add_option("app", target)->required();
  scale->add_option("n", scale_n)->required();
  scale->callback([&] {
    Answer a = call("POST", "/v1/apps/" + target + "/scale", {{"instances", scale_n}});
    rc = a.exit;
    if (rc == kOk) {
      std::cout << "scale " << target << ": " << a.body.value("instances", 0) << " instances\n";
      rc = print_status(false);
    }
  });

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

  std::string logs_app;
  long logs_n = 15;
  bool follow = false, err_only = false, out_only = false, logs_json = false;
  auto* logs = cli.add_subcommand("logs", "Show the last lines of app logs, or follow them");
  logs->add_option("app", logs_app, "app name (default: all)");
  logs->add_option("-n,--lines", logs_n, "lines to show")->capture_default_str()->check(CLI::NonNegativeNumber);
  logs->add_flag("-f,--follow", follow, "stream new lines");
  auto* e = logs->add_flag("--err", err_only, "stderr only");
  auto* o = logs->add_flag("--out", out_only, "stdout only");
  e->excludes(o);
  logs->add_flag("--json", logs_json, "one JSON object per line");
  logs->callback([&] { rc = cmd_logs(logs_app, logs_n, follow, err_only, out_only, logs_json); });

  std::string flush_app;
  auto* flush = cli.add_subcommand("flush", "Empty the current log files");
  flush->add_option("app", flush_app);
  flush->callback([&] { rc = call("POST", "/v1/logs/flush" + (flush_app.empty() ? "" : "?app=" + flush_app)).exit; });

  cli.add_subcommand("reload-logs", "Reopen all log files (after an external logrotate)")->callback([&] {
    rc = call("POST", "/v1/logs/reopen").exit;
  });

  std::string level;
  auto* loglevel = cli.add_subcommand("loglevel", "Change the log level of an app's workers at runtime");
  loglevel->add_option("app", target)->required();
  loglevel->add_option("level", level, "trace, debug, info, warn, error or fatal")->required();
  loglevel->callback([&] {
    if (!rack::log::parse_level(level)) {
      std::fprintf(stderr, "rackctl: level: expected trace, debug, info, warn, error or fatal, got \"%s\"\n", level.c_str());
      rc = kUsage;
      return;
    }
    rc = call("POST", "/v1/apps/" + target + "/loglevel", {{"level", level}}).exit;
  });

  cli.add_subcommand("ping", "Check that rackd answers")->callback([&] {
    Answer a = call("GET", "/v1/ping");
    rc = a.exit;
    if (rc == kOk) std::cout << "pong (rackd pid " << a.body.value("pid", 0) << ")\n";
  });
  StartupOptions startup_opt;
  auto* startup = cli.add_subcommand("startup", "Print or install a systemd unit that starts rackd at boot and resurrects");
  startup->add_flag("--user", startup_opt.user_unit, "a unit of your own systemd instance (systemctl --user)");
  startup->add_flag("--install", startup_opt.install, "write the unit and enable it (default: print it)");
  startup->add_option("--unit-dir", startup_opt.unit_dir, "with --install: write here, do not run systemctl");
  startup->add_option("--as", startup_opt.as, "the system unit runs as this user (RACK_HOME ~USER/.rack)");
  startup->callback([&] { rc = cmd_startup(startup_opt); });
  cli.add_subcommand("monit", "Watch apps and workers live in the terminal (q quits)")->callback([&] {
    rc = run_monit();
  });
  std::string upgrade_binary;
  auto* upgrade = cli.add_subcommand("upgrade", "Re-exec rackd in place (same pid, workers kept)");
  upgrade->add_option("--binary", upgrade_binary, "the new rackd (default: the file at rackd's own path)");
  upgrade->callback([&] { rc = cmd_upgrade(upgrade_binary); });
  cli.add_subcommand("kill", "Stop every app and rackd")->callback([&] { rc = cmd_kill(); });
  cli.add_subcommand("save", "Remember the running apps for resurrect")->callback([&] { rc = cmd_save(); });
  cli.add_subcommand("resurrect", "Start the apps remembered by save")->callback([&] { rc = cmd_resurrect(); });

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
