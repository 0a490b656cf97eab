// rackd's command line (master/daemon_options.h): parsed, --help and rackd.8 all
// from one definition.
#include <doctest/doctest.h>

#include <cstdlib>
#include <sstream>
#include <vector>

#include "daemon_options.h"

using rack::master::DaemonArgs;

namespace {

struct Run {
  std::optional<int> exit;
  DaemonArgs args;
  std::string out, err;
};

Run run(std::vector<const char*> argv) {
  argv.insert(argv.begin(), "rackd");
  Run r;
  std::ostringstream out, err;
  r.exit = rack::master::parse_daemon_args(static_cast<int>(argv.size()), argv.data(), r.args, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace

TEST_CASE("rackd options: the forms rackctl, systemd and an upgrade use") {
  ::unsetenv("RACK_STDOUT_LOGS");
  auto r = run({"--no-daemon", "--home", "/srv/rack", "/etc/rack/ecosystem.yaml"});
  CHECK_FALSE(r.exit);
  CHECK(r.args.foreground);
  CHECK(r.args.stdout_logs);
  CHECK(r.args.home == "/srv/rack");
  CHECK(r.args.ecosystem == "/etc/rack/ecosystem.yaml");
  r = run({"eco.yaml", "-n", "--no-stdout-logs"});
  CHECK(r.args.foreground);
  CHECK_FALSE(r.args.stdout_logs);
  r = run({"--adopt-state", "5", "--previous-image", "6", "--upgrade-failed", "why"});
  CHECK_FALSE(r.exit);
  CHECK(r.args.adopt_state == 5);
  CHECK(r.args.previous_image == 6);
  CHECK(r.args.upgrade_failed == "why");
  ::setenv("RACK_HOME", "/tmp/from-env", 1);
  ::setenv("RACK_STDOUT_LOGS", "off", 1);
  r = run({"-n"});
  CHECK(r.args.home == "/tmp/from-env");
  CHECK_FALSE(r.args.stdout_logs);
  ::unsetenv("RACK_HOME");
  ::unsetenv("RACK_STDOUT_LOGS");
}

TEST_CASE("rackd options: a usage error exits 2 naming it, --help, --version and --man exit 0") {
  auto r = run({"--frobnicate"});
  CHECK(r.exit == 2);
  CHECK(r.err.find("rackd: ") == 0);
  CHECK(r.err.find("--frobnicate") != std::string::npos);
  CHECK(run({"a.yaml", "b.yaml"}).exit == 2);
  CHECK(run({"--adopt-state", "x"}).exit == 2);
  CHECK(run({"--home"}).exit == 2);

  r = run({"--version"});
  CHECK(r.exit == 0);
  CHECK(r.out.find("rackd") != std::string::npos);
  r = run({"--help"});
  CHECK(r.exit == 0);
  for (const char* shown : {"--no-daemon", "--no-stdout-logs", "--home", "--version", "RACK_HOME", "Exit codes"})
    CHECK_MESSAGE(r.out.find(shown) != std::string::npos, shown << " not in\n" << r.out);
  // What an upgrade execs is not for people.
  CHECK(r.out.find("--adopt-state") == std::string::npos);
  CHECK(r.out.find("--man") == std::string::npos);
  r = run({"--man"});
  CHECK(r.exit == 0);
  CHECK(r.out == rack::master::daemon_man_page());
}

TEST_CASE("rackd options: rackd.8 documents every option --help shows") {
  std::string man = rack::master::daemon_man_page();
  CHECK(man.starts_with(".TH RACKD 8 "));
  for (const char* option : {"\\-n, \\-\\-no\\-daemon", "\\-\\-no\\-stdout\\-logs", "\\-\\-home \\fIDIR\\fR", "\\-\\-version",
                             "ecosystem.yaml"})
    CHECK_MESSAGE(man.find(option) != std::string::npos, option << " not in\n" << man);
  for (const char* section : {".SH OPTIONS", ".SH ENVIRONMENT", ".SH SIGNALS", ".SH EXIT STATUS", ".SH FILES",
                              ".SH SEE ALSO\n.BR rackctl (1)"})
    CHECK_MESSAGE(man.find(section) != std::string::npos, section);
  CHECK(man.find("adopt") == std::string::npos);
}

TEST_CASE("rackd options: RACK_ADMIN is the admin listener an ecosystem leaves unset, and a bad one exits 2") {
  ::setenv("RACK_ADMIN", "127.0.0.1:0", 1);
  auto r = run({"-n"});
  CHECK_FALSE(r.exit);
  REQUIRE(r.args.admin);
  REQUIRE(*r.args.admin);
  CHECK((*r.args.admin)->str() == "127.0.0.1:0");
  ::setenv("RACK_ADMIN", "off", 1);
  r = run({"-n"});
  REQUIRE(r.args.admin);
  CHECK_FALSE(*r.args.admin);
  ::setenv("RACK_ADMIN", "nowhere", 1);
  r = run({"-n"});
  CHECK(r.exit == 2);
  CHECK(r.err.find("RACK_ADMIN: expected host:port") != std::string::npos);
  CHECK(r.err.find("\"nowhere\"") != std::string::npos);
  ::unsetenv("RACK_ADMIN");
  CHECK_FALSE(run({"-n"}).args.admin);
}
