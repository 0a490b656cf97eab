#include "upgrade/binary_check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>
#include <vector>

#include "upgrade/state.h"

namespace rack::master::upgrade {

namespace {

std::string read_head(const std::string& path, std::size_t n) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string buf(n, '\0');
  ssize_t got = ::read(fd, buf.data(), n);
  ::close(fd);
  buf.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  return buf;
}

uint16_t u16(const std::string& h, std::size_t off, bool little) {
  auto a = static_cast<unsigned char>(h[off]), b = static_cast<unsigned char>(h[off + 1]);
  return little ? static_cast<uint16_t>(a | b << 8) : static_cast<uint16_t>(a << 8 | b);
}

// Runs `path args...` with a deadline (stdout and stderr to one pipe,
// `keep_fd` inherited under its own number); its output, or nullopt with
// `error`. `what` names the command in errors.
std::optional<std::string> run_binary(const std::string& path, std::vector<std::string> args, int keep_fd,
                                      const std::string& what, std::string& error) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return error = std::string("pipe: ") + std::strerror(errno), std::nullopt;
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  args.insert(args.begin(), path);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls: rackd has threads (libuv's pool).
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(devnull, 0), ::dup2(p[1], 1), ::dup2(p[1], 2);
    if (keep_fd >= 0) ::fcntl(keep_fd, F_SETFD, 0);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(p[1]);
  if (devnull >= 0) ::close(devnull);
  if (pid < 0) {
    ::close(p[0]);
    error = std::string("fork: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{p[0], POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[512];
    ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() < 4096) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(p[0]);
  if (timed_out) ::kill(-pid, SIGKILL), ::kill(pid, SIGKILL);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return error = "`" + what + "` did not finish within 5 s", std::nullopt;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    while (!out.empty() && out.back() == '\n') out.pop_back();
    error = "`" + what + "` failed (" +
            (WIFEXITED(st) ? "exit code " + std::to_string(WEXITSTATUS(st))
                           : std::string("signal ") + std::to_string(WTERMSIG(st))) +
            ")" + (out.empty() ? "" : ": " + out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1));
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::string elf_mismatch(const std::string& h, const std::string& self) {
  if (h.size() < 20 || h.compare(0, 4, "\x7f" "ELF") != 0) return "not an ELF executable";
  if (self.size() < 20) return "";  // cannot compare with ourselves: let execve decide
  if (h[4] != self[4]) return h[4] == 1 ? "a 32-bit ELF file; rackd is 64-bit" : "an ELF file of another class";
  if (h[5] != self[5]) return "an ELF file of the other byte order";
  bool little = h[5] == 1;
  uint16_t type = u16(h, 16, little);
  if (type != 2 && type != 3) return "an ELF file that is not an executable (type " + std::to_string(type) + ")";
  uint16_t machine = u16(h, 18, little), ours = u16(self, 18, little);
  if (machine != ours)
    return "an ELF executable for another architecture (e_machine " + std::to_string(machine) + ", this machine " +
           std::to_string(ours) + ")";
  return "";
}

std::vector<int> state_versions_read(const std::string& line) {
  std::vector<int> out;
  auto at = line.find("reads state ");
  if (at == std::string::npos) return out;
  std::istringstream in(line.substr(at + 12));
  std::string list;
  in >> list;
  std::istringstream items(list);
  std::string item;
  while (std::getline(items, item, ',')) {
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (end && *end == '\0' && v > 0) out.push_back(static_cast<int>(v));
  }
  return out;
}

std::optional<std::string> check_binary(const std::string& path, std::string& error) {
  struct stat st {};
  if (path.empty() || path[0] != '/') return error = "\"" + path + "\": expected an absolute path", std::nullopt;
  if (::stat(path.c_str(), &st) != 0) return error = path + ": " + std::strerror(errno), std::nullopt;
  if (!S_ISREG(st.st_mode)) return error = path + ": not a regular file", std::nullopt;
  if (::access(path.c_str(), X_OK) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return error = path + ": not executable (mode " + mode + ")", std::nullopt;
  }
  if (std::string why = elf_mismatch(read_head(path, 64), read_head("/proc/self/exe", 64)); !why.empty())
    return error = path + ": " + why, std::nullopt;
  auto out = run_binary(path, {"--version"}, -1, path + " --version", error);
  if (!out) return std::nullopt;
  std::string line = out->substr(0, out->find('\n'));
  if (line.rfind("rackd ", 0) != 0)
    return error = path + ": `--version` printed \"" + line.substr(0, 80) + "\", not a rackd version", std::nullopt;
  auto reads = state_versions_read(line);
  if (std::find(reads.begin(), reads.end(), kStateVersion) == reads.end())
    return error = path + " (" + line + ") cannot read state version " + std::to_string(kStateVersion) +
                   " that this rackd writes",
           std::nullopt;
  return line;
}

}  // namespace rack::master::upgrade

namespace rack::master::upgrade {

std::optional<std::string> check_state_with(const std::string& path, int state_fd, std::string& error) {
  std::string what = path + " --check-state";
  auto out = run_binary(path, {"--check-state", std::to_string(state_fd)}, state_fd, what, error);
  if (!out) return std::nullopt;
  std::string line = out->substr(0, out->find('\n'));
  if (line.rfind("state ok", 0) != 0)
    return error = "`" + what + "` printed \"" + line.substr(0, 120) + "\", not \"state ok\"", std::nullopt;
  return line;
}

}  // namespace rack::master::upgrade
