// rackctl's commands that start and change apps: start (an ecosystem file,
// a PM2 one, or a script), stop, restart, reload (with the canary flags),
// delete, convert and scale, and the status table printed after them.
#include "app_commands.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "client.h"
#include "paths.h"
#include "pm2_file.h"
#include "pm2_select.h"
#include "rack/config.h"
#include "start_script.h"
#include "start_wait.h"
#include "status_table.h"

using json = nlohmann::json;

namespace rack::cli {
namespace {

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

// What the options of these commands are parsed into: it outlives
// add_start_command() and add_app_commands(), up to the callback.
std::string file = "ecosystem.yaml", only;  // start, convert
std::string pm2_env;                        // start, reload, convert
ScriptStart script;
bool no_wait = false;
std::vector<std::string> targets;
std::string convert_out, scale_app, scale_n;

}  // namespace

int print_status(bool as_json) {
  Answer a = call("GET", "/v1/status");
  if (a.exit != kOk) return a.exit;
  if (as_json) std::cout << a.body.dump() << "\n";
  else std::cout << render_status(a.body, table_style());
  return kOk;
}

void add_start_command(CLI::App& cli, int& rc) {
  auto* start = cli.add_subcommand("start", "Start the apps of an ecosystem file (starts rackd if needed)");
  start->add_option("file", file, "ecosystem file, or a script to run (server.js, app.py, ./bin/server)")
      ->capture_default_str();
  // A script's arguments, after `--`. A positional of any length keeps
  // `--` inside `start`: with none left to fill, CLI11 hands `--` and what
  // follows back to rackctl itself, which refuses them.
  start->add_option("args", script.args, "a script: its arguments, after -- (start server.js -- --flag)")
      ->expected(-1);
  start->add_option("--only", only, "start only this app");
  start->add_flag("--no-wait", no_wait, "do not wait for every slot to be ready (exit 0 once rackd accepted it)");
  start->add_option("-i,--instances", script.instances, "a script: workers, n or max")->capture_default_str();
  start->add_option("--name", script.name, "a script: the app's name (default: the file name)");
  start->add_option("--listen", script.listen,
                    "a script: the HOST:PORT rackd binds for it (a node script with -i > 1 may leave it out: "
                    "rackd binds what its server asks for)");
  // One value per --env-var: a list of any length would take a following
  // `--` as its own end, and what comes after it as rackctl's options.
  start->add_option("--env-var", script.env, "a script: NAME=VALUE in its environment (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  start->add_option("--interpreter", script.interpreter, "a script: run it with this (default: by extension)");
  start->add_option("--env", pm2_env, "a PM2 ecosystem file: merge env_<name> over env");
  start->add_option("--protocol", script.protocol, "a script: node, inherit, rack or none (default: node for "
                                                   "node scripts with --listen or -i > 1, else inherit with --listen, none without)");
  start->callback([&rc] {
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
      if (!script.args.empty()) {
        std::fprintf(stderr, "rackctl: start %s: unexpected argument \"%s\" (arguments are for a script)\n",
                     file.c_str(), script.args[0].c_str());
        rc = kUsage;
        return;
      }
      rc = cmd_start(file, only, no_wait);
      return;
    }
    script.script = file;
    std::string error;
    auto written = write_script_ecosystem(script, error);
    if (!written) {
      std::fprintf(stderr, "rackctl: %s\n", error.c_str());
      rc = kUsage;
      return;
    }
    rc = cmd_start(*written, script_app_name(script), no_wait);
  });
}

void add_app_commands(CLI::App& cli, int& rc) {
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
    sc->callback([&rc, name] { rc = cmd_selected(name, targets, pm2_env); });
  }

  auto* convert = cli.add_subcommand("convert", "Print the ecosystem.yaml equivalent to a PM2 ecosystem file");
  convert->add_option("file", file, "ecosystem.config.js, .cjs, .json or PM2's YAML")->required();
  convert->add_option("--env", pm2_env, "merge env_<name> over env");
  convert->add_option("-o,--output", convert_out, "write it here instead of stdout");
  convert->callback([&rc] { rc = pm2_convert(file, pm2_env, convert_out); });

  auto* scale = cli.add_subcommand("scale", "Set the number of workers: n, +n or -n (auto: back to autoscaling)");
  scale->add_option("app", scale_app)->required();
  scale->add_option("n", scale_n)->required();
  scale->callback([&rc] {
    Answer a = call("POST", "/v1/apps/" + scale_app + "/scale", {{"instances", scale_n}});
    rc = a.exit;
    if (rc == kOk) {
      std::cout << "scale " << scale_app << ": " << a.body.value("instances", 0) << " instances\n";
      rc = print_status(false);
    }
  });
}

}  // namespace rack::cli
