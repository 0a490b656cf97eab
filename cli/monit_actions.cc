#include "monit_actions.h"

#include <unistd.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "client.h"
#include "rack/http_client.h"

namespace rack::cli::monit {

using json = nlohmann::json;

namespace {

std::string error_of(const http::Client::Result& r, const std::string& body) {
  if (!r.ok()) return r.error == http::Client::Error::Connect ? "rackd is not running" : r.error_text;
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  return "HTTP " + std::to_string(r.status);
}

// POST /v1/apps/<app>/reload streams JSON lines: {"progress":…} then
// {"ok":true|false,"error":…}.
template <typename Post>
void run_reload(const std::string& app, Post post) {
  auto client = http::Client::unix_socket(socket_path());
  client.set_timeout(std::chrono::hours(24));
  std::string buf, failure;
  bool ok = false;
  auto r = client.stream("POST", "/v1/apps/" + app + "/reload", "", {}, [&](std::string_view chunk) {
    buf.append(chunk);
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      json j = json::parse(buf.substr(0, nl), nullptr, false);
      buf.erase(0, nl + 1);
      if (!j.is_object()) continue;
      if (j.contains("progress") && j["progress"].is_string()) post(j["progress"].get<std::string>(), false);
      if (j.contains("ok")) {
        ok = j["ok"] == true;
        if (!ok) failure = j.value("error", "unknown error");
      }
    }
    return true;
  });
  if (!r.ok() || r.status != 200) return post("reload " + app + " failed: " + error_of(r, buf), true);
  post(ok ? "reload " + app + ": done" : "reload " + app + " failed: " + failure, true);
}

template <typename Post>
void run_request(const std::string& app, const std::string& op, const std::string& argument, Post post) {
  auto client = http::Client::unix_socket(socket_path());
  client.set_timeout(std::chrono::seconds(60));
  std::string body = op == "scale" ? json{{"instances", argument}}.dump() : "";
  auto r = client.request("POST", "/v1/apps/" + app + "/" + op, body, {{"Content-Type", "application/json"}});
  if (!r.ok() || r.status != 200) return post(op + " " + app + " failed: " + error_of(r, r.body), true);
  if (op == "scale") {
    json j = json::parse(r.body, nullptr, false);
    long n = j.is_object() && j.contains("instances") && j["instances"].is_number() ? j["instances"].get<long>() : 0;
    return post("scale " + app + ": " + std::to_string(n) + " instances", true);
  }
  post(op + " " + app + ": done", true);
}

}  // namespace

void Actions::State::post(const std::string& m, bool done) {
  {
    std::lock_guard lock(mu);
    message = m;
    if (done) busy = false;
  }
  char b = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd, &b, 1);  // a full pipe already wakes the loop
}

Actions::Actions(int wake_fd) : state_(std::make_shared<State>()) { state_->wake_fd = wake_fd; }

bool Actions::start(const std::string& app, const std::string& op, const std::string& argument) {
  {
    std::lock_guard lock(state_->mu);
    if (state_->busy) return false;
    state_->busy = true;
    state_->message = op + " " + app + " ...";
  }
  // Detached: quitting monit must not wait for a reload; the thread keeps
  // the state alive, and the process ending ends it.
  std::thread([state = state_, app, op, argument] {
    auto post = [&](const std::string& m, bool done) { state->post(m, done); };
    if (op == "reload") run_reload(app, post);
    else run_request(app, op, argument, post);
  }).detach();
  return true;
}

bool Actions::busy() const {
  std::lock_guard lock(state_->mu);
  return state_->busy;
}

std::string Actions::take_message() {
  std::lock_guard lock(state_->mu);
  return std::exchange(state_->message, "");
}

}  // namespace rack::cli::monit
