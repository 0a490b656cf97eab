#include "upgrade_cmd.h"

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "client.h"
#include "rack/http_client.h"
#include "rack/version.h"

namespace rack::cli {

using json = nlohmann::json;

namespace {

// GET /v1/status without complaints: during the exec the socket's backlog
// holds the request until the new image accepts it.
std::optional<json> quiet_status() {
  auto client = http::Client::unix_socket(socket_path());
  auto r = client.request("GET", "/v1/status", "", {});
  if (r.error != http::Client::Error::None || r.status != 200) return std::nullopt;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("rackd")) return std::nullopt;
  return j;
}

std::size_t worker_count(const json& status) {
  std::size_t n = 0;
  for (const json& a : status.value("apps", json::array())) n += a.value("workers", json::array()).size();
  return n;
}

}  // namespace

int cmd_upgrade(const std::string& binary) {
  json body = json::object();
  if (!binary.empty()) {
    std::error_code ec;
    auto abs = std::filesystem::absolute(binary, ec);
    body["binary"] = ec ? binary : abs.lexically_normal().string();
  }
  Answer a = call("POST", "/v1/upgrade", body);
  if (a.exit != kOk) return a.exit == kUsage ? kUsage : a.exit;
  uint64_t attempt = a.body.value("attempt", 0ull);
  long pid = a.body.value("pid", 0L);
  std::cout << "upgrade #" << attempt << ": rackd pid " << pid << " execs "
            << (binary.empty() ? std::string("its own binary") : body["binary"].get<std::string>()) << "\n";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto st = quiet_status();
    if (!st && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::fprintf(stderr, "rackctl: rackd (pid %ld) died during the upgrade; see %s/rackd.log\n", pid,
                   rack_home().c_str());
      return kFailed;
    }
    if (!st) continue;
    const json& r = (*st)["rackd"];
    const json& last = r.value("last_upgrade", json(nullptr));
    if (!last.is_object() || last.value("attempt", 0ull) < attempt) continue;
    if (r.value("pid", 0L) != pid) {
      std::fprintf(stderr, "rackctl: rackd now has pid %ld, not %ld\n", r.value("pid", 0L), pid);
      return kFailed;
    }
    if (!last.value("ok", false)) {
      std::fprintf(stderr, "rackctl: upgrade failed: %s\n", last.value("error", std::string("unknown")).c_str());
      std::fprintf(stderr, "rackctl: rackd pid %ld carries on with %zu workers, as before\n", pid, worker_count(*st));
      return kFailed;
    }
    std::printf("rackd upgraded: %s (pid %ld, %zu workers kept, dispatch paused %.1f ms, upgrades %llu)\n",
                r.value("version", std::string("?")).c_str(), pid, worker_count(*st), last.value("paused_ms", 0.0),
                static_cast<unsigned long long>(r.value("upgrades", 0ull)));
    return kOk;
  }
  if (!daemon_running()) {
    std::fprintf(stderr, "rackctl: rackd is gone after the upgrade (see %s/rackd.log)\n", rack_home().c_str());
    return kFailed;
  }
  std::fprintf(stderr, "rackctl: no outcome of upgrade #%llu within 60 s\n", static_cast<unsigned long long>(attempt));
  return kFailed;
}

}  // namespace rack::cli
