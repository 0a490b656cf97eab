// What reloads an app on its own, PM2's way: cron_restart (a graceful
// reload at the schedule's times) and watch (a graceful reload once files
// under the watched paths stop changing for watch.delay).
//
//   AppTriggers t(loop, cfg, logs_dir, [&](const std::string& why) { app.reload(std::nullopt, {}); });
//
// The app owns one while it runs; destroying it closes every handle.
//
// Watching: libuv's fs events are inotify on Linux, which is not
// recursive, so every directory under a watched path gets its own handle
// (new directories are picked up as they appear), up to kMaxWatches.
// Paths matching watch.ignore, and the app's own log directory (a log line
// must not reload the app that wrote it), are not watched.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <string>

#include "rack/config.h"

namespace rack::master {

class AppTriggers {
 public:
  using Reload = std::function<void(const std::string& why)>;
  AppTriggers(uv_loop_t* loop, const config::AppConfig& cfg, std::string logs_dir, Reload reload);
  ~AppTriggers();
  AppTriggers(const AppTriggers&) = delete;
  AppTriggers& operator=(const AppTriggers&) = delete;

  static constexpr std::size_t kMaxWatches = 4096;
  std::size_t watched_directories() const { return watches_.size(); }

 private:
  void arm_cron();
  void on_cron();
  void watch_tree(const std::string& path);
  void add_watch(const std::string& path);
  void on_change(const std::string& dir, const char* name);
  bool ignored(const std::string& path) const;

  uv_loop_t* loop_;
  std::string app_;
  std::optional<cron::Schedule> schedule_;
  cron::Zone zone_;
  std::chrono::system_clock::time_point next_cron_{};
  uv_timer_t* cron_timer_ = nullptr;

  std::optional<config::AppConfig::Watch> watch_;
  std::string logs_dir_;
  std::map<std::string, uv_fs_event_t*> watches_;  // directory or file -> handle
  uv_timer_t* debounce_ = nullptr;
  std::string last_change_;
  bool warned_limit_ = false;
  Reload reload_;
};

}  // namespace rack::master
