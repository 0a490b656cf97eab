// The PM2 commands rackctl adds: env, signal (PM2's sendSignal), reset and
// jlist, and the did-you-mean for a mistyped command.
#include "pm2_commands.h"

#include <signal.h>

#include <cstring>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "client.h"
#include "pm2_select.h"
#include "rack/config.h"

using json = nlohmann::json;

namespace rack::cli {
namespace {

// The app's entry in GET /v1/status, or nullopt after saying why.
std::optional<json> find_app(const std::string& name, int& rc) {
  Answer a = call("GET", "/v1/status");
  if (a.exit != kOk) return rc = a.exit, std::nullopt;
  Selection s = select_apps({name}, a.body["apps"]);
  if (!s.error.empty() || s.apps.size() != 1) {
    std::fprintf(stderr, "rackctl: %s\n", s.error.empty() ? ("\"" + name + "\" names more than one app").c_str() : s.error.c_str());
    return rc = kFailed, std::nullopt;
  }
  for (const json& app : a.body["apps"])
    if (app["name"] == s.apps[0]) return app;
  return rc = kFailed, std::nullopt;
}

// Workers with a process, of `slot` (-1: every slot), newest generation first.
std::vector<json> live_workers(const json& app, int slot) {
  std::vector<json> out;
  for (const json& w : app["workers"])
    if (w["pid"].is_number_integer() && (slot < 0 || w.value("slot", -1) == slot)) out.push_back(w);
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) { return a["generation"] > b["generation"]; });
  return out;
}

int cmd_env(const std::string& name, int slot) {
  int rc = kOk;
  auto app = find_app(name, rc);
  if (!app) return rc;
  auto workers = live_workers(*app, slot);
  if (workers.empty()) {
    std::fprintf(stderr, "rackctl: %s has no running worker in slot %d\n", name.c_str(), slot);
    return kFailed;
  }
  int pid = workers[0]["pid"].get<int>();
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && all.empty()) {
    std::fprintf(stderr, "rackctl: cannot read the environment of pid %d: %s\n", pid, std::strerror(errno));
    return kFailed;
  }
  std::vector<std::string> vars;
  for (std::size_t start = 0; start < all.size();) {
    std::size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    if (end > start) vars.push_back(all.substr(start, end - start));
    start = end + 1;
  }
  std::sort(vars.begin(), vars.end());
  for (const std::string& v : vars) std::cout << v << "\n";
  return kOk;
}

// Any signal by name: stop_signal's set, and the ones an operator may
// want to send by hand.
std::optional<int> signal_by_name(const std::string& text) {
  if (auto s = config::parse_signal(text)) return s;
  std::string up;
  for (char c : text) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up.starts_with("SIG")) up.erase(0, 3);
  static const std::pair<const char*, int> kMore[] = {{"KILL", SIGKILL}, {"STOP", SIGSTOP}, {"CONT", SIGCONT},
                                                      {"ALRM", SIGALRM}, {"PIPE", SIGPIPE}, {"TSTP", SIGTSTP}};
  for (auto& [n, s] : kMore)
    if (up == n) return s;
  return std::nullopt;
}

int cmd_signal(const std::string& sig_name, const std::string& target) {
  auto sig = signal_by_name(sig_name);
  if (!sig) {
    std::fprintf(stderr, "rackctl: signal: unknown signal \"%s\" (e.g. SIGUSR2, SIGHUP, SIGINT)\n", sig_name.c_str());
    return kUsage;
  }
  std::string name = target;
  int slot = -1;
  if (auto colon = target.rfind(':'); colon != std::string::npos) {
    name = target.substr(0, colon);
    try {
      slot = std::stoi(target.substr(colon + 1));
    } catch (const std::exception&) {
      std::fprintf(stderr, "rackctl: signal: expected app or app:slot, got \"%s\"\n", target.c_str());
      return kUsage;
    }
  }
  int rc = kOk;
  auto app = find_app(name, rc);
  if (!app) return rc;
  auto workers = live_workers(*app, slot);
  if (workers.empty()) {
    std::fprintf(stderr, "rackctl: %s has no running worker%s\n", name.c_str(),
                 slot >= 0 ? (" in slot " + std::to_string(slot)).c_str() : "");
    return kFailed;
  }
  for (const json& w : workers) {
    int pid = w["pid"].get<int>();
    if (::kill(pid, *sig) != 0) {
      std::fprintf(stderr, "rackctl: kill(%d, %s): %s\n", pid, sig_name.c_str(), std::strerror(errno));
      rc = kFailed;
      continue;
    }
    std::cout << "sent " << strsignal(*sig) << " to " << name << "[" << w.value("slot", -1) << "] pid " << pid << "\n";
  }
  return rc;
}

}  // namespace

void add_pm2_commands(CLI::App& cli, int& rc) {
  static std::string app, sig, target;
  static int slot = 0;
  auto* env = cli.add_subcommand("env", "Print the environment of an app's worker (slot 0 by default)");
  env->add_option("app", app, "app name")->required();
  env->add_option("slot", slot, "the worker's slot")->capture_default_str()->check(CLI::NonNegativeNumber);
  env->callback([&rc] { rc = cmd_env(app, slot); });

  auto* s = cli.add_subcommand("signal", "Send a signal to an app's workers, or to one slot (app:slot)")->alias("sendSignal");
  s->add_option("signal", sig, "SIGUSR2, SIGHUP, ...")->required();
  s->add_option("target", target, "app or app:slot")->required();
  s->callback([&rc] { rc = cmd_signal(sig, target); });

  static std::vector<std::string> reset_targets;
  auto* reset = cli.add_subcommand("reset", "Set the restart counts of apps back to 0");
  reset->add_option("app", reset_targets, "app names, a namespace, all or /regex/")->required();
  reset->callback([&rc] {
    Answer a = call("GET", "/v1/status");
    if (a.exit != kOk) return void(rc = a.exit);
    Selection sel = select_apps(reset_targets, a.body["apps"]);
    if (!sel.error.empty()) {
      std::fprintf(stderr, "rackctl: %s\n", sel.error.c_str());
      return void(rc = kFailed);
    }
    for (const std::string& n : sel.apps) {
      Answer r = call("POST", "/v1/apps/" + n + "/reset");
      if (r.exit != kOk) rc = std::max(rc, r.exit);
      else std::cout << "reset " << n << ": done\n";
    }
  });

  cli.add_subcommand("jlist", "Print GET /v1/status as JSON (status --json)")->callback([&rc] {
    Answer a = call("GET", "/v1/status");
    rc = a.exit;
    if (rc == kOk) std::cout << a.body.dump() << "\n";
  });
}

std::optional<std::string> unknown_command(const CLI::App& cli, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return std::nullopt;
  std::string word = argv[1];
  std::vector<std::string> names;
  for (const CLI::App* sub : cli.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->check_name(word)) return std::nullopt;
    names.push_back(sub->get_name());
    for (const std::string& a : sub->get_aliases()) names.push_back(a);
  }
  auto near = config::did_you_mean(word, names);
  return "unknown command \"" + word + "\"" + (near ? " (did you mean \"" + *near + "\"?)" : "") +
         "; rackctl --help lists them";
}

}  // namespace rack::cli
