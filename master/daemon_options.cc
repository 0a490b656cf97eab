// rackd's options, and the text around them that --help and rackd.8 share:
// the environment, the signals and the exit codes.
#include "daemon_options.h"

#include <cstdlib>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "rack/roff.h"
#include "upgrade/state.h"

namespace rack::master {
namespace {

struct Entry {
  const char* name;
  const char* text;
};

constexpr Entry kEnvironment[] = {
    {"RACK_HOME", "rackd's directory: control socket, pid file, logs (default ~/.rack; --home wins)."},
    {"RACK_STDOUT_LOGS", "off, 0 or no: as --no-stdout-logs."},
    {"RACK_ADMIN", "host:port or off: the admin listener for an ecosystem whose rack.admin is unset "
                   "(default 127.0.0.1:9650). A port of 0 takes a free one; rackctl status shows it."},
    {"LOG_LEVEL", "rackd's own log level: trace, debug, info, warn, error or fatal (default info)."},
    {"LOG_FORMAT", "rackd's own lines and the app lines on stdout: json or pretty (default json when not a TTY)."},
    {"NOTIFY_SOCKET", "set by systemd (Type=notify): rackd sends READY=1, RELOADING=1, STOPPING=1 and STATUS=."},
    {"WATCHDOG_USEC", "set by systemd (WatchdogSec=): rackd sends WATCHDOG=1 from its loop."},
};

constexpr Entry kSignals[] = {
    {"SIGTERM, SIGINT", "fail /health, keep serving for rack.shutdown_delay, drain the apps, exit 0."},
    {"SIGHUP, SIGUSR1", "reopen the log files (after logrotate moved them)."},
    {"SIGUSR2", "upgrade: exec the rackd binary now on disk, keeping every worker and socket."},
};

constexpr Entry kExitCodes[] = {
    {"0", "stopped cleanly (SIGTERM, SIGINT, rackctl kill)."},
    {"1", "could not run: another rackd owns RACK_HOME, or the control socket could not be opened."},
    {"2", "usage or configuration error, or an app could not start (a bind error)."},
    {"3", "with --no-daemon, an app ended errored: every slot gave up (rack.exit_on_errored)."},
};

constexpr const char* kDescription =
    "rackd runs the apps of an ecosystem file as workers behind sockets it owns, restarts them when they fail, "
    "reloads them without dropping a connection, captures their logs and serves their merged Prometheus metrics. "
    "rackctl starts it on demand and drives it over $RACK_HOME/rackd.sock; run it yourself under systemd or in a "
    "container, with --no-daemon.";

void define(CLI::App& cli, DaemonArgs& a, bool& man) {
  cli.add_flag("-n,--no-daemon", a.foreground,
               "Stay in the foreground (systemd, containers): rackd's log on stderr, the apps' lines on stdout");
  cli.add_flag_callback("--no-stdout-logs", [&a] { a.stdout_logs = false; },
               "With --no-daemon: leave the apps' lines out of stdout (they still go to the log files)");
  cli.add_option("--home", a.home, "rackd's directory (default $RACK_HOME, else ~/.rack)")->type_name("DIR");
  cli.add_option("ecosystem", a.ecosystem, "Start the apps of this ecosystem file (as rackctl start FILE)")
      ->type_name("FILE");
  cli.set_version_flag("--version", [] { return upgrade::version_line(); }, "Print the version and exit");
  // What `rackctl upgrade` execs (upgrade/exec.h), and the build's man page: not for people.
  cli.add_option("--adopt-state", a.adopt_state)->check(CLI::Range(0, (1 << 20) - 1))->group("");
  cli.add_option("--previous-image", a.previous_image)->check(CLI::Range(0, (1 << 20) - 1))->group("");
  cli.add_option("--check-state", a.check_state)->check(CLI::Range(0, (1 << 20) - 1))->group("");
  cli.add_option("--upgrade-failed", a.upgrade_failed)->group("");
  cli.add_flag("--man", man)->group("");
  std::string footer = "\nEnvironment:\n";
  for (const Entry& e : kEnvironment) footer += "  " + std::string(e.name) + "  " + e.text + "\n";
  footer += "\nExit codes:\n";
  for (const Entry& e : kExitCodes) footer += "  " + std::string(e.name) + "  " + e.text + "\n";
  cli.footer(footer + "\nSee rackd(8) and rackctl(1).");
}

std::unique_ptr<CLI::App> make_cli(DaemonArgs& a, bool& man) {
  auto cli = std::make_unique<CLI::App>("rackd: the Rack process supervisor daemon", "rackd");
  define(*cli, a, man);
  return cli;
}

void section(std::ostringstream& o, const char* title, const auto& entries) {
  o << ".SH " << title << "\n";
  for (const Entry& e : entries) o << ".TP\n.B " << roff(e.name) << "\n" << roff(e.text) << "\n";
}

std::string from_environment(const DaemonArgs& a) {
  if (!a.home.empty()) return a.home;
  const char* env = std::getenv("RACK_HOME");
  const char* home = std::getenv("HOME");
  return env && *env ? env : std::string(home ? home : "/tmp") + "/.rack";
}

}  // namespace

std::optional<int> parse_daemon_args(int argc, const char* const* argv, DaemonArgs& args, std::ostream& out,
                                     std::ostream& err) {
  bool man = false;
  auto cli = make_cli(args, man);
  try {
    cli->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return cli->exit(e, out, err);  // --help, --version
    err << "rackd: " << e.what() << "\nusage: rackd [--no-daemon [--no-stdout-logs]] [--home DIR] [ecosystem.yaml]"
        << " (rackd --help)\n";
    return 2;
  }
  if (man) {
    out << daemon_man_page();
    return 0;
  }
  if (const char* e = std::getenv("RACK_STDOUT_LOGS")) {
    std::string_view v(e);
    if (v == "off" || v == "0" || v == "no") args.stdout_logs = false;
  }
  std::string bad;
  args.admin = admin_from_environment(bad);
  if (!bad.empty()) {
    err << "rackd: " << bad << "\n";
    return 2;
  }
  args.home = from_environment(args);
  return std::nullopt;
}

std::optional<std::optional<config::ListenAddr>> admin_from_environment(std::string& error) {
  const char* e = std::getenv("RACK_ADMIN");
  if (!e || !*e) return std::nullopt;
  std::string_view v(e);
  if (v == "off") return std::optional<config::ListenAddr>{};
  if (auto at = config::parse_listen(v)) return at;
  error = "RACK_ADMIN: expected host:port like 127.0.0.1:9650, or off; got \"" + std::string(v) + "\"";
  return std::nullopt;
}

std::string daemon_man_page() {
  DaemonArgs a;
  bool man = false;
  auto cli = make_cli(a, man);
  std::ostringstream o;
  o << ".TH RACKD 8 \"\" \"Rack\" \"System Administration\"\n.SH NAME\nrackd \\- the Rack process supervisor daemon\n"
       ".SH SYNOPSIS\n.B rackd\n[\\fIoptions\\fR] [\\fIecosystem.yaml\\fR]\n.SH DESCRIPTION\n"
    << roff(kDescription) << "\n.SH OPTIONS\n";
  for (const CLI::Option* opt : cli->get_options()) {
    if (opt->get_group().empty() || opt->get_positional()) continue;
    std::string names;
    for (const std::string& s : opt->get_snames()) names += "-" + s + ", ";
    for (const std::string& l : opt->get_lnames()) names += "--" + l;
    o << ".TP\n.B " << roff(names);
    if (opt->get_type_size() != 0) o << " \\fI" << roff(opt->get_type_name()) << "\\fR";
    o << "\n" << roff(opt->get_description()) << "\n";
  }
  o << ".TP\n.I ecosystem.yaml\n" << roff(cli->get_option("ecosystem")->get_description()) << "\n";
  section(o, "ENVIRONMENT", kEnvironment);
  section(o, "SIGNALS", kSignals);
  section(o, "EXIT STATUS", kExitCodes);
  o << ".SH FILES\n.TP\n.I $RACK_HOME/rackd.sock\nthe control socket rackctl talks to.\n"
       ".TP\n.I $RACK_HOME/rackd.pid\nrackd's pid, locked while it runs: one rackd per RACK_HOME.\n"
       ".TP\n.I $RACK_HOME/rackd.log\nrackd's own log when it runs detached.\n"
       ".TP\n.I $RACK_HOME/logs/\nthe apps' \\fIapp\\fR.out.log and \\fIapp\\fR.err.log (logs.dir).\n"
       ".SH SEE ALSO\n.BR rackctl (1),\n/usr/share/doc/rack/deploy.md\n";
  return o.str();
}

}  // namespace rack::master
