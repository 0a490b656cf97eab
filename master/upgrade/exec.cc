#include "upgrade/exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "daemon_options.h"
#include "lifecycle/cgroup.h"
#include "rack/logging.h"
#include "rack/timer.h"
#include "rack/version.h"
#include "supervisor.h"
#include "upgrade/binary_check.h"
#include "upgrade/state.h"
#include "upgrade/state_check.h"

extern char** environ;

namespace rack::master::upgrade {

using json = nlohmann::json;

namespace {

int g_lock_fd = -1;

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t steady_ns() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

// What arrives during the exec waits in the kernel: blocked signals stay
// pending across execve(), and the new image unblocks them once it has
// handlers and every worker's pid (a SIGCHLD then reaps into the right slot).
sigset_t upgrade_signals() {
  sigset_t s;
  sigemptyset(&s);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&s, sig);
  return s;
}

void fail(uint64_t attempt, const std::string& error) {
  image().last = {{"attempt", attempt}, {"ok", false}, {"error", error}};
  spdlog::error("upgrade #{} failed: {}", attempt, error);
}

// The whole document: StateCodec's, and this image's own part.
json state_document(Supervisor& sup, std::vector<int>& fds, uint64_t attempt, const std::string& binary,
                    int64_t paused_at) {
  json state = StateCodec::save(sup, fds);
  state["attempt"] = attempt;
  state["binary"] = binary;
  state["from"] = version_line();
  state["image"] = {{"upgrades", image().upgrades}, {"attempts", image().attempts},
                    {"first_started_ms", image().first_started_ms}};
  state["fds"] = {{"lock", g_lock_fd}};
  fds.push_back(g_lock_fd);
  state["paused_at_ns"] = paused_at;
  state["check_ms"] = image().check_ms;
  return state;
}

// A memfd holding `doc`, or -1 with `error`.
int memfd_with(const std::string& doc, std::string& error) {
  int memfd = ::memfd_create("rackd-state", MFD_CLOEXEC);
  if (memfd < 0) return error = std::string("memfd_create: ") + std::strerror(errno), -1;
  if (::write(memfd, doc.data(), doc.size()) != static_cast<ssize_t>(doc.size())) {
    error = std::string("writing the state: ") + std::strerror(errno);
    ::close(memfd);
    return -1;
  }
  return memfd;
}

// The pre-flight: the new binary reads this moment's state in a child
// process (`--check-state`) and checks all of it. A binary that cannot
// take over (it refuses the state, crashes or exits at once) fails here,
// where failing costs nothing, rather than after the exec, where the
// workers would lose their rackd. Blocks the loop for the child's run.
bool preflight(Supervisor& sup, const std::string& binary, uint64_t attempt, std::string& error) {
  int64_t t0 = steady_ns();
  std::vector<int> fds;
  std::string doc = state_document(sup, fds, attempt, binary, t0).dump(-1, ' ', false, json::error_handler_t::replace);
  int memfd = memfd_with(doc, error);
  if (memfd < 0) return false;
  auto line = check_state_with(binary, memfd, error);
  ::close(memfd);
  image().check_ms = (steady_ns() - t0) / 1e6;
  if (!line) return false;
  spdlog::info("upgrade #{}: {} checked this state in {:.1f} ms: {}", attempt, binary, image().check_ms, *line);
  return true;
}

// Writes the state and execs. Returns only when execve failed, with
// everything as it was.
void exec_image(Supervisor& sup, const std::string& binary, uint64_t attempt) {
  int64_t paused_at = steady_ns();  // from here until the new image's first turn, nothing is dispatched
  image().pending = false;
  if (std::string why = StateCodec::busy(sup); !why.empty()) return fail(attempt, why);
  std::vector<int> fds;
  json state = state_document(sup, fds, attempt, binary, paused_at);
  std::string doc = state.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string error;
  int exe = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (exe < 0) return fail(attempt, std::string("open /proc/self/exe: ") + std::strerror(errno));
  int memfd = memfd_with(doc, error);
  if (memfd < 0) {
    ::close(exe);
    return fail(attempt, error);
  }
  spdlog::info("upgrade #{}: exec {} ({} bytes of state, {} descriptors kept)", attempt, binary, doc.size(), fds.size());
  spdlog::default_logger()->flush();

  fds.push_back(exe);
  fds.push_back(memfd);
  std::vector<std::pair<int, int>> flags;
  for (int fd : fds) {
    if (fd < 0) continue;
    int f = ::fcntl(fd, F_GETFD);
    if (f < 0) continue;
    flags.emplace_back(fd, f);
    ::fcntl(fd, F_SETFD, f & ~FD_CLOEXEC);
  }
  sigset_t block = upgrade_signals(), old;
  ::sigprocmask(SIG_BLOCK, &block, &old);
  std::string a0 = binary, a1 = "--adopt-state", a2 = std::to_string(memfd), a3 = "--previous-image",
              a4 = std::to_string(exe);
  char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), nullptr};
  ::execve(binary.c_str(), argv, environ);
  int e = errno;
  for (auto& [fd, f] : flags) ::fcntl(fd, F_SETFD, f);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  ::close(exe), ::close(memfd);
  fail(attempt, "execve " + binary + ": " + std::strerror(e) + "; this rackd carries on");
}

// Back to the image that wrote the state. Only the file descriptors
// matter to it, and nothing here touched them.
[[noreturn]] void rollback(int state_fd, int exe_fd, const std::string& why, const std::string& failed) {
  std::fprintf(stderr, "rackd: upgrade refused by the new image: %s\n", why.c_str());
  spdlog::error("upgrade: this image cannot take over ({}); going back to the previous one", why);
  spdlog::default_logger()->flush();
  if (exe_fd >= 0 && failed.empty()) {
    std::string a0 = "rackd", a1 = "--adopt-state", a2 = std::to_string(state_fd), a3 = "--previous-image",
                a4 = std::to_string(exe_fd), a5 = "--upgrade-failed", a6 = why;
    char* argv[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), a5.data(), a6.data(), nullptr};
    ::fexecve(exe_fd, argv, environ);
    std::fprintf(stderr, "rackd: cannot exec the previous image: %s\n", std::strerror(errno));
  }
  // Nothing left to run the workers: exiting lets the guardian end them.
  std::_Exit(1);
}

void init_logging(const json& args) {
  bool foreground = args.at("foreground").get<bool>();
  rack::log::Options opt;
  try {
    opt = rack::log::options_from_env(foreground || !::isatty(1));
  } catch (const std::exception&) {
  }
  if (!foreground) {
    if (!std::getenv("LOG_FORMAT")) opt.format = rack::log::Format::Json;
    opt.file = args.at("home").get<std::string>() + "/rackd.log";
  }
  opt.name = "rackd";
  rack::log::init(opt);
}

}  // namespace

ImageInfo& image() {
  static ImageInfo info{unix_ms(), unix_ms()};
  return info;
}

std::string version_line() {
  return std::string("rackd ") + kVersionLine + " reads state " + std::to_string(kStateVersion);
}

json status_json() {
  const ImageInfo& i = image();
  return {{"version", kVersion},
          {"revision", kRevision},
          {"started", i.started_ms / 1000.0},
          {"first_started", i.first_started_ms / 1000.0},
          {"upgrades", i.upgrades},
          {"last_upgrade", i.last}};
}

void set_lock_fd(int fd) { g_lock_fd = fd; }

std::string default_binary() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string path(buf, static_cast<std::size_t>(n));
  const std::string deleted = " (deleted)";
  if (path.size() > deleted.size() && path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0)
    path.resize(path.size() - deleted.size());
  return path;
}

uint64_t request(Supervisor& sup, std::string binary, std::string& error) {
  if (image().pending) return error = "an upgrade is already under way", 0;
  if (error = StateCodec::busy(sup); !error.empty()) return 0;
  if (binary.empty()) binary = default_binary();
  auto line = check_binary(binary, error);
  if (!line) return 0;
  uint64_t attempt = ++image().attempts;
  if (!preflight(sup, binary, attempt, error)) {
    error = "the new binary failed its check of the state, so rackd did not exec it: " + error;
    fail(attempt, error);
    return 0;
  }
  image().pending = true;
  spdlog::info("upgrade #{}: {} checked ({}); exec in a moment", attempt, binary, *line);
  // A few turns later, so the answer to rackctl leaves first.
  rack::after(sup.loop(), 50, [&sup, binary, attempt] { exec_image(sup, binary, attempt); });
  return attempt;
}

int resume(int state_fd, int exe_fd, const std::string& failed) {
  const char* refuse = std::getenv("RACK_TEST_REFUSE_STATE");  // tests: a new image that will not take over
  if (refuse && std::string_view(refuse) == "exit" && failed.empty()) {
    // An image that dies at once after the exec: with nobody left to run
    // them, the guardian ends every worker. The pre-flight keeps it from here.
    std::fprintf(stderr, "rackd: exiting at once (RACK_TEST_REFUSE_STATE=exit)\n");
    std::_Exit(1);
  }
  std::string error;
  auto state = read_state(state_fd, error);
  if (!state) rollback(state_fd, exe_fd, error, failed);
  if (refuse && std::string_view(refuse) == "version" && failed.empty())
    rollback(state_fd, exe_fd, "state version refused (RACK_TEST_REFUSE_STATE)", failed);
  const json& args = state->at("args");
  init_logging(args);
  std::string home = args.at("home").get<std::string>();
  // The same process in the same cgroup: the same directories, workers kept.
  spdlog::info("{}", cgroup::setup(home, cgroup::Leftovers::Keep));
  const json& n = state->at("notifier");
  std::optional<std::chrono::microseconds> watchdog;
  if (!n.at("watchdog_usec").is_null()) watchdog = std::chrono::microseconds(n.at("watchdog_usec").get<int64_t>());
  uv_loop_t* loop = uv_default_loop();
  std::string ignored;  // the first image refused a bad RACK_ADMIN; exec kept the environment
  Supervisor sup(loop, {home, args.at("foreground").get<bool>(), SystemdNotifier(n.at("socket").get<std::string>(), watchdog),
                        args.at("stdout_logs").get<bool>(), admin_from_environment(ignored)});
  try {
    StateCodec::adopt(sup, *state);
    if (refuse && std::string_view(refuse) == "adopt" && failed.empty())
      throw std::runtime_error("refused after adopting (RACK_TEST_REFUSE_STATE)");
  } catch (const std::exception& e) {
    rollback(state_fd, exe_fd, std::string("cannot adopt the state: ") + e.what(), failed);
  }
  set_lock_fd(state->at("fds").at("lock").get<int>());
  ImageInfo& info = image();
  const json& prev = state->at("image");
  uint64_t attempt = state->at("attempt").get<uint64_t>();
  info.first_started_ms = prev.at("first_started_ms").get<int64_t>();
  info.attempts = prev.at("attempts").get<uint64_t>();
  info.upgrades = prev.at("upgrades").get<uint64_t>() + (failed.empty() ? 1 : 0);
  info.check_ms = state->value("check_ms", 0.0);
  double paused_ms = (steady_ns() - state->at("paused_at_ns").get<int64_t>()) / 1e6;
  if (failed.empty())
    info.last = {{"attempt", attempt}, {"ok", true}, {"from", state->at("from")}, {"to", version_line()},
                 {"paused_ms", paused_ms}, {"check_ms", info.check_ms}};
  else
    info.last = {{"attempt", attempt}, {"ok", false}, {"error", "the new image refused the state: " + failed},
                 {"paused_ms", paused_ms}};
  ::close(state_fd);
  if (exe_fd >= 0) ::close(exe_fd);
  StateCodec::resume(sup);
  sigset_t s = upgrade_signals();
  ::sigprocmask(SIG_UNBLOCK, &s, nullptr);
  if (failed.empty())
    spdlog::info("upgrade #{}: {} took over from {} in {:.1f} ms; {} apps", attempt, version_line(),
                 state->at("from").get<std::string>(), paused_ms, sup.apps().size());
  else
    spdlog::error("upgrade #{} failed, previous image back after {:.1f} ms: {}", attempt, paused_ms, failed);
  int code = sup.run();
  cgroup::teardown();
  ::unlink((home + "/rackd.pid").c_str());
  return code;
}

}  // namespace rack::master::upgrade
