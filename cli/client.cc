#include "client.h"

#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "rack/version.h"

namespace rack::cli {

using json = nlohmann::json;

std::string rack_home() {
  const char* env = std::getenv("RACK_HOME");
  if (env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.rack";
}

std::string socket_path() { return rack_home() + "/rackd.sock"; }

namespace {

int exit_for_status(int status) {
  if (status >= 200 && status < 300) return kOk;
  if (status == 400) return kUsage;
  return kFailed;
}

bool g_version_checked = false;

void warn_version_skew(const std::string& ping_body) {
  json j = json::parse(ping_body, nullptr, false);
  if (!j.is_object()) return;
  if (std::string w = version_skew(j, kVersion, kRevision); !w.empty()) std::fprintf(stderr, "rackctl: warning: %s\n", w.c_str());
}

void print_unreachable(const http::Client::Result& r) {
  std::fprintf(stderr, "rackctl: rackd is not reachable at %s: %s\n", socket_path().c_str(), r.error_text.c_str());
}

}  // namespace

std::string version_skew(const json& rackd, std::string_view version, std::string_view revision) {
  auto field = [&](const char* key) {
    return rackd.contains(key) && rackd[key].is_string() ? rackd[key].get<std::string>() : std::string();
  };
  std::string theirs = field("version"), their_rev = field("revision");
  if (theirs.empty()) return "";
  bool same = theirs == version && (their_rev.empty() || revision.empty() || their_rev == revision);
  if (same) return "";
  auto line = [](std::string_view v, std::string_view rev) {
    return std::string(v) + (rev.empty() ? "" : " (git " + std::string(rev) + ")");
  };
  return "rackd runs " + line(theirs, their_rev) + ", this rackctl is " + line(version, revision) +
         "; `rackctl upgrade` re-execs rackd from the binary at its path";
}

void skip_version_check() { g_version_checked = true; }

void check_version_once() {
  if (g_version_checked) return;
  g_version_checked = true;
  auto client = http::Client::unix_socket(socket_path());
  client.set_timeout(std::chrono::milliseconds(2000));
  auto r = client.request("GET", "/v1/ping", "", {});
  if (r.error == http::Client::Error::None && r.status == 200) warn_version_skew(r.body);
}

Answer call(const std::string& method, const std::string& target, const json& body) {
  check_version_once();
  auto client = http::Client::unix_socket(socket_path());
  std::string payload = body.is_null() ? "" : body.dump();
  auto r = client.request(method, target, payload, {{"Content-Type", "application/json"}});
  Answer a;
  if (r.error != http::Client::Error::None) {
    if (r.error == http::Client::Error::Connect) print_unreachable(r);
    else std::fprintf(stderr, "rackctl: talking to rackd failed: %s\n", r.error_text.c_str());
    a.exit = r.error == http::Client::Error::Connect ? kUnreachable : kFailed;
    a.body = json{{"error", r.error_text}};
    return a;
  }
  a.status = r.status;
  a.body = json::parse(r.body, nullptr, false);
  if (a.body.is_discarded()) a.body = json{{"error", r.body}};
  a.exit = exit_for_status(r.status);
  if (a.exit != kOk && a.body.contains("error") && a.body["error"].is_string())
    std::fprintf(stderr, "rackctl: %s\n", a.body["error"].get<std::string>().c_str());
  return a;
}

int call_stream(const std::string& method, const std::string& target, const json& body,
                const std::function<void(const json&)>& on_line) {
  check_version_once();
  auto client = http::Client::unix_socket(socket_path());
  client.set_timeout(std::chrono::hours(24));  // reloads and `logs -f` take as long as they take
  std::string buf;
  json last;
  auto r = client.stream(method, target, body.is_null() ? "" : body.dump(), {{"Content-Type", "application/json"}},
                         [&](std::string_view chunk) {
                           buf.append(chunk);
                           size_t nl;
                           while ((nl = buf.find('\n')) != std::string::npos) {
                             json j = json::parse(buf.substr(0, nl), nullptr, false);
                             buf.erase(0, nl + 1);
                             if (j.is_discarded()) continue;
                             last = j;
                             on_line(j);
                           }
                           return true;
                         });
  if (r.error != http::Client::Error::None) {
    if (r.error == http::Client::Error::Connect) {
      print_unreachable(r);
      return kUnreachable;
    }
    std::fprintf(stderr, "rackctl: talking to rackd failed: %s\n", r.error_text.c_str());
    return kFailed;
  }
  if (r.status != 200) {
    json j = json::parse(r.body + buf, nullptr, false);
    if (!j.is_discarded() && j.contains("error")) std::fprintf(stderr, "rackctl: %s\n", j["error"].get<std::string>().c_str());
    return exit_for_status(r.status);
  }
  if (last.is_object() && last.contains("ok") && last["ok"] == false) return kFailed;
  return kOk;
}

bool daemon_running() {
  auto client = http::Client::unix_socket(socket_path());
  client.set_timeout(std::chrono::milliseconds(2000));
  auto r = client.request("GET", "/v1/ping", "", {});
  bool up = r.error == http::Client::Error::None && r.status == 200;
  if (up && !g_version_checked) {
    g_version_checked = true;
    warn_version_skew(r.body);
  }
  return up;
}

namespace {

std::string find_rackd() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    auto candidate = std::filesystem::path(self).parent_path() / "rackd";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "rackd";  // from PATH
}

}  // namespace

int ensure_daemon() {
  if (daemon_running()) return kOk;
  std::string rackd = find_rackd();
  std::string home = rack_home();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp(rackd.c_str(), rackd.c_str(), "--home", home.c_str(), static_cast<char*>(nullptr));
    std::fprintf(stderr, "rackctl: cannot run %s: %s\n", rackd.c_str(), std::strerror(errno));
    _exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);  // rackd detaches and exits once it is serving
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    std::fprintf(stderr, "rackctl: rackd failed to start (see %s/rackd.log)\n", home.c_str());
    return kFailed;
  }
  for (int i = 0; i < 50; ++i) {
    if (daemon_running()) return kOk;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr, "rackctl: rackd started but does not answer on %s\n", socket_path().c_str());
  return kUnreachable;
}

}  // namespace rack::cli
