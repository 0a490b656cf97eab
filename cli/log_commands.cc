// rackctl's log commands: logs (the last lines, or -f to follow), flush,
// reload-logs, and loglevel for an app's workers.
#include "log_commands.h"

#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>

#include <nlohmann/json.hpp>

#include "client.h"
#include "rack/http_client.h"
#include "rack/logging.h"

using json = nlohmann::json;

namespace rack::cli {
namespace {

// "12-07 03:20:59.123 ": the line's time in local time, short enough to
// leave room for the line; "" for a line read without a time (time: false).
std::string local_time_prefix(const json& j) {
  int64_t ms = j.value("time_ms", int64_t(0));
  if (ms <= 0) return "";
  time_t secs = time_t(ms / 1000);
  struct tm tm{};
  if (::localtime_r(&secs, &tm) == nullptr) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d-%02d %02d:%02d:%02d.%03d ", tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                tm.tm_sec, int(ms % 1000));
  return buf;
}

void print_log_line(const json& j, bool as_json) {
  if (j.contains("notice") && !j.contains("line")) {  // an app with no log files (logs.dir: off)
    std::cout.flush();
    std::fprintf(stderr, "rackctl: %s\n", j.value("notice", "").c_str());
    return;
  }
  if (as_json) {
    std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    return;
  }
  std::string app = j.value("app", "?");
  int slot = j.value("slot", -1);
  std::string stream = j.value("stream", "out");
  std::cout << local_time_prefix(j) << app << (slot >= 0 ? "[" + std::to_string(slot) + "]" : "") << (stream == "err" ? " err" : "")
            << " | " << j.value("line", "") << "\n";
}

// Where a follower stands: the cursor rackd gave it, moved on by each line.
struct Cursor {
  std::string run;
  uint64_t seq = 0;
  bool valid() const { return !run.empty(); }
  std::string text() const { return run + "." + std::to_string(seq); }
};

// One follow request: lines to on_line. Quiet: the caller reports.
http::Client::Result follow_once(const std::string& target, const std::function<void(const json&)>& on_line) {
  auto client = http::Client::unix_socket(socket_path());
  client.set_timeout(std::chrono::hours(24));
  std::string buf;
  auto r = client.stream("GET", target, "", {}, [&](std::string_view chunk) {
    buf.append(chunk);
    for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
      json j = json::parse(buf.substr(0, nl), nullptr, false);
      buf.erase(0, nl + 1);
      if (j.is_object()) on_line(j);
    }
    return true;
  });
  if (r.status != 200) r.body += buf;
  return r;
}

// `rackctl logs -f`: follows until interrupted. When rackd closes the
// stream while it still runs (the exec of `rackctl upgrade` closes every
// control connection), the follower comes back with its cursor and goes
// on from the line after its last one: nothing lost, nothing twice
// (rackd's log journal, master/api/log_journal.h).
int follow_logs(const std::string& selection, long n, bool as_json) {
  check_version_once();
  Cursor cursor;
  bool let_go = false;
  int lines = 0, empty_returns = 0;
  auto on_line = [&](const json& j) {
    ++lines;
    if (j.contains("cursor") && j["cursor"].is_string()) {  // where the stream starts
      std::string c = j["cursor"].get<std::string>();
      auto dot = c.rfind('.');
      if (dot != std::string::npos) cursor = {c.substr(0, dot), std::strtoull(c.c_str() + dot + 1, nullptr, 10)};
      return;
    }
    if (j.contains("error") && !j.contains("line")) {  // rackd ended the stream (this client fell behind)
      std::cout.flush();
      std::fprintf(stderr, "rackctl: %s\n", j["error"].is_string() ? j["error"].get<std::string>().c_str() : j.dump().c_str());
      let_go = true;
      return;
    }
    if (j.contains("seq") && j["seq"].is_number_unsigned()) cursor.seq = j["seq"].get<uint64_t>();
    print_log_line(j, as_json);
    std::cout.flush();
  };
  for (int attempt = 0;; ++attempt) {
    // Coming back: n=0, so a rackd that does not know `after` repeats nothing.
    std::string target = "/v1/logs?follow=1" + selection +
                         (attempt == 0 ? "&n=" + std::to_string(n) : "&n=0&after=" + cursor.text());
    lines = 0;
    auto r = follow_once(target, on_line);
    if (let_go) return kFailed;
    bool connected = r.error == http::Client::Error::None || r.error == http::Client::Error::Io;
    if (connected && r.status != 200 && r.status != 0) {
      json j = json::parse(r.body, nullptr, false);
      std::string why = j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : r.body;
      if (attempt > 0 && r.status == 409) return kOk;  // rackd is shutting down: the stream is over
      std::fprintf(stderr, "rackctl: %s\n", why.c_str());
      return r.status == 400 ? kUsage : kFailed;
    }
    if (r.error == http::Client::Error::Connect) {
      if (attempt == 0) {
        std::fprintf(stderr, "rackctl: rackd is not reachable at %s: %s\n", socket_path().c_str(), r.error_text.c_str());
        return kUnreachable;
      }
      return kOk;  // rackd is gone: so is its log stream
    }
    // The stream ended: come back if rackd is still there (an upgrade:
    // the new connection waits in the socket's backlog for the new image).
    if (!cursor.valid() || !daemon_running()) return kOk;
    // A rackd that keeps closing the stream at once: not an upgrade.
    empty_returns = lines == 0 ? empty_returns + 1 : 0;
    if (empty_returns >= 3) {
      std::fprintf(stderr, "rackctl: rackd keeps closing the log stream; giving up\n");
      return kFailed;
    }
  }
}

int cmd_logs(const std::string& app, long n, bool follow, bool err_only, bool out_only, bool as_json) {
  std::string selection;
  if (!app.empty()) selection += "&app=" + app;
  if (err_only) selection += "&stream=err";
  if (out_only) selection += "&stream=out";
  std::string q = "/v1/logs?n=" + std::to_string(n) + selection;
  if (!follow) {
    check_version_once();
    auto client = rack::http::Client::unix_socket(socket_path());
    auto r = client.request("GET", q, "", {});
    if (r.error != rack::http::Client::Error::None) {
      std::fprintf(stderr, "rackctl: rackd is not reachable at %s: %s\n", socket_path().c_str(), r.error_text.c_str());
      return r.error == rack::http::Client::Error::Connect ? kUnreachable : kFailed;
    }
    if (r.status != 200) {
      json j = json::parse(r.body, nullptr, false);
      std::fprintf(stderr, "rackctl: %s\n", j.is_object() ? j.value("error", r.body).c_str() : r.body.c_str());
      return r.status == 400 ? kUsage : kFailed;
    }
    size_t pos = 0, nl;
    while ((nl = r.body.find('\n', pos)) != std::string::npos) {
      json j = json::parse(r.body.substr(pos, nl - pos), nullptr, false);
      pos = nl + 1;
      if (!j.is_discarded()) print_log_line(j, as_json);
    }
    return kOk;
  }
  return follow_logs(selection, n, as_json);
}

// What the options of these commands are parsed into (see add_log_commands).
std::string logs_app;
long logs_n = 15;
bool follow = false, err_only = false, out_only = false, logs_json = false;
std::string flush_app;
std::string loglevel_app, level;

}  // namespace

void add_log_commands(CLI::App& cli, int& rc) {
  auto* logs = cli.add_subcommand("logs", "Show the last lines of app logs, or follow them");
  logs->add_option("app", logs_app, "app name (default: all)");
  logs->add_option("-n,--lines", logs_n, "lines to show")->capture_default_str()->check(CLI::NonNegativeNumber);
  logs->add_flag("-f,--follow", follow, "stream new lines");
  auto* e = logs->add_flag("--err", err_only, "stderr only");
  auto* o = logs->add_flag("--out", out_only, "stdout only");
  e->excludes(o);
  logs->add_flag("--json", logs_json, "one JSON object per line");
  logs->callback([&rc] { rc = cmd_logs(logs_app, logs_n, follow, err_only, out_only, logs_json); });

  auto* flush = cli.add_subcommand("flush", "Empty the current log files");
  flush->add_option("app", flush_app);
  flush->callback([&rc] { rc = call("POST", "/v1/logs/flush" + (flush_app.empty() ? "" : "?app=" + flush_app)).exit; });

  cli.add_subcommand("reload-logs", "Reopen all log files (after an external logrotate)")->callback([&rc] {
    rc = call("POST", "/v1/logs/reopen").exit;
  });

  auto* loglevel = cli.add_subcommand("loglevel", "Change the log level of an app's workers at runtime");
  loglevel->add_option("app", loglevel_app)->required();
  loglevel->add_option("level", level, "trace, debug, info, warn, error or fatal")->required();
  loglevel->callback([&rc] {
    if (!rack::log::parse_level(level)) {
      std::fprintf(stderr, "rackctl: level: expected trace, debug, info, warn, error or fatal, got \"%s\"\n", level.c_str());
      rc = kUsage;
      return;
    }
    rc = call("POST", "/v1/apps/" + loglevel_app + "/loglevel", {{"level", level}}).exit;
  });
}

}  // namespace rack::cli
