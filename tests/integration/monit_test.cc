// `rackctl monit` in a real terminal: tmux runs it in a detached session of
// a fixed size, send-keys drives it and capture-pane reads the screen, as a
// person would see it. rackd is real, and is killed under it.
#include <doctest/doctest.h>

#include <signal.h>

#include "tools.h"

using namespace rack::test;

namespace {

// A tmux server of the test's own (its socket in the temp RACK_HOME), ended
// with everything in it when the test ends, however it ends.
class Tmux {
 public:
  Tmux(const std::string& socket) : tmux_(required_tool("tmux", "tmux")), socket_(socket) {}
  ~Tmux() { cmd({"kill-server"}); }
  RunResult cmd(std::vector<std::string> args) {
    args.insert(args.begin(), {tmux_, "-S", socket_, "-f", "/dev/null"});
    return run(args, {}, 10s);
  }
  std::string screen() { return cmd({"capture-pane", "-p", "-t", "monit"}).out; }
  // Waits until the screen holds `text`; the last screen is in `last`.
  bool wait_for(const std::string& text, std::string& last, std::chrono::milliseconds timeout = 15s) {
    return wait_until([&] { return (last = screen()).find(text) != std::string::npos; }, timeout, 100ms);
  }
  void keys(const std::vector<std::string>& keys) {
    std::vector<std::string> args = {"send-keys", "-t", "monit"};
    args.insert(args.end(), keys.begin(), keys.end());
    REQUIRE(cmd(args).exit_code == 0);
  }

 private:
  std::string tmux_, socket_;
};

std::vector<std::string> ready_pids(Rack& rack, const std::string& app) {
  std::vector<std::string> out;
  for (pid_t p : rack.pids(app)) out.push_back(std::to_string(p));
  return out;
}

bool shows_all(const std::string& screen, const std::vector<std::string>& words) {
  for (auto& w : words)
    if (screen.find(w) == std::string::npos) return false;
  return true;
}

}  // namespace

TEST_CASE("monit: tmux shows apps and workers live, keys scale and reload, rackd's death is said, q restores") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: off\napps:\n" + hello_app("api", 2) +
                                                    "  - name: ticker\n    run: [/bin/sh, -c, 'i=0; while :; do "
                                                    "i=$((i+1)); echo tick-$i; sleep 0.2; done']\n");
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  REQUIRE(rack.wait_ready("api", 2));
  auto at = rack.address("api");
  BothLoads load(at.first, at.second, 2);

  Tmux tmux(rack.home() + "/tmux.sock");
  // After monit, the shell says how it ended and stays, so the screen that
  // monit left behind can be read.
  std::string command = "env RACK_HOME=" + rack.home() + " " + bin("rackctl") +
                        " monit; echo monit exited $?; sleep 120";
  REQUIRE(tmux.cmd({"new-session", "-d", "-s", "monit", "-x", "120", "-y", "32", command}).exit_code == 0);

  std::string screen;
  auto pids = ready_pids(rack, "api");
  REQUIRE(pids.size() == 2);
  std::vector<std::string> want = {"rack monit", "api", "online", "ticker", "#0", "#1", "req/s", "p95", pids[0], pids[1]};
  CHECK_MESSAGE(wait_until([&] { return shows_all(screen = tmux.screen(), want); }, 15s, 100ms), screen);
  // Requests are counted: api's req/s is a number, not "-", once two
  // metrics samples are in.
  CHECK_MESSAGE(wait_until([&] {
    screen = tmux.screen();
    auto line = screen.substr(screen.find(">api"), screen.find('\n', screen.find(">api")) - screen.find(">api"));
    return line.find(" - ") == std::string::npos && line.find("ms") != std::string::npos;
  }, 15s, 200ms), screen);
  // The log pane follows the selected app: down selects ticker.
  tmux.keys({"Down"});
  CHECK_MESSAGE(tmux.wait_for("logs: ticker", screen), screen);
  CHECK_MESSAGE(tmux.wait_for("tick-", screen), screen);
  tmux.keys({"Up"});
  CHECK_MESSAGE(tmux.wait_for("logs: api", screen), screen);

  // s: scale api to 3; the third worker appears on the screen.
  tmux.keys({"s"});
  CHECK_MESSAGE(tmux.wait_for("scale api to", screen), screen);
  tmux.keys({"3", "Enter"});
  CHECK_MESSAGE(tmux.wait_for("scale api: 3 instances", screen), screen);
  REQUIRE(rack.wait_ready("api", 3));
  CHECK_MESSAGE(tmux.wait_for("#2", screen), screen);

  // r: reload api; every worker is replaced and the new pids are shown.
  auto before = ready_pids(rack, "api");
  tmux.keys({"r"});
  CHECK_MESSAGE(tmux.wait_for("reload api: done", screen, 30s), screen);
  auto after = ready_pids(rack, "api");
  REQUIRE(after.size() == 3);
  for (auto& p : before) CHECK(std::find(after.begin(), after.end(), p) == after.end());
  CHECK_MESSAGE(wait_until([&] { return shows_all(screen = tmux.screen(), after); }, 10s, 100ms), screen);
  load.finish();

  // A narrow terminal drops columns, never the app names; a tiny one says so.
  REQUIRE(tmux.cmd({"resize-window", "-t", "monit", "-x", "40", "-y", "12"}).exit_code == 0);
  CHECK_MESSAGE(wait_until([&] {
    screen = tmux.screen();
    std::string header = screen.substr(screen.find('\n') + 1, screen.find('\n', screen.find('\n') + 1) - screen.find('\n') - 1);
    return screen.find(">api") != std::string::npos && header.find("state") != std::string::npos &&
           header.find("pid") == std::string::npos;
  }, 10s, 100ms), screen);
  for (size_t pos = 0, nl; (nl = screen.find('\n', pos)) != std::string::npos; pos = nl + 1)
    CHECK(nl - pos <= 40);
  REQUIRE(tmux.cmd({"resize-window", "-t", "monit", "-x", "20", "-y", "4"}).exit_code == 0);
  CHECK_MESSAGE(tmux.wait_for("too small", screen), screen);
  REQUIRE(tmux.cmd({"resize-window", "-t", "monit", "-x", "120", "-y", "32"}).exit_code == 0);
  CHECK_MESSAGE(tmux.wait_for("ticker", screen), screen);

  // rackd dies: monit says so, keeps running, and comes back with rackd.
  pid_t rackd = rack.rackd_pid();
  REQUIRE(rackd > 0);
  REQUIRE(kill(rackd, SIGKILL) == 0);
  CHECK_MESSAGE(tmux.wait_for("rackd is not running", screen), screen);
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  CHECK_MESSAGE(wait_until([&] {
    screen = tmux.screen();
    return screen.find("not running") == std::string::npos && screen.find("online") != std::string::npos;
  }, 15s, 100ms), screen);

  // q: monit exits 0 and the terminal is the shell's again (monit's screen
  // gone, the cursor shown, no alternate screen).
  tmux.keys({"q"});
  CHECK_MESSAGE(tmux.wait_for("monit exited 0", screen), screen);
  CHECK(screen.find("rack monit") == std::string::npos);
  auto flags = tmux.cmd({"display-message", "-p", "-t", "monit", "#{alternate_on} #{cursor_flag}"});
  CHECK(flags.out == "0 1\n");
}

TEST_CASE("monit: Ctrl-C restores the terminal, and without a terminal monit says it needs one") {
  Rack rack;
  std::string eco = rack.write_file("eco.yaml", "apps:\n" + hello_app("web", 1));
  REQUIRE(rack.ctl({"start", eco}).exit_code == 0);
  auto r = rack.ctl({"monit"});  // the harness gives it /dev/null and pipes
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("needs a terminal") != std::string::npos);

  Tmux tmux(rack.home() + "/tmux.sock");
  std::string command = "env RACK_HOME=" + rack.home() + " " + bin("rackctl") +
                        " monit; echo monit exited $?; sleep 120";
  REQUIRE(tmux.cmd({"new-session", "-d", "-s", "monit", "-x", "80", "-y", "24", command}).exit_code == 0);
  std::string screen;
  CHECK_MESSAGE(tmux.wait_for("online", screen), screen);
  tmux.keys({"C-c"});
  CHECK_MESSAGE(tmux.wait_for("monit exited 0", screen), screen);
  auto flags = tmux.cmd({"display-message", "-p", "-t", "monit", "#{alternate_on} #{cursor_flag}"});
  CHECK(flags.out == "0 1\n");
}
