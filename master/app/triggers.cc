#include "app/triggers.h"

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "uv_handle.h"

namespace fs = std::filesystem;

namespace rack::master {
namespace {

// The cron timer wakes at least this often, so a changed wall clock (NTP
// step, suspend) moves the next reload no later than this.
constexpr auto kCronRecheck = std::chrono::seconds(60);

}  // namespace

AppTriggers::AppTriggers(uv_loop_t* loop, const config::AppConfig& cfg, std::string logs_dir, Reload reload)
    : loop_(loop), app_(cfg.name), zone_(cfg.cron_zone), watch_(cfg.watch), logs_dir_(std::move(logs_dir)),
      reload_(std::move(reload)) {
  if (!cfg.cron_restart.empty()) {
    std::string error;
    schedule_ = cron::Schedule::parse(cfg.cron_restart, error);  // validated at load
    if (schedule_) {
      cron_timer_ = new_handle<uv_timer_t>(this);
      uv_timer_init(loop_, cron_timer_);
      arm_cron();
    }
  }
  if (watch_) {
    debounce_ = new_handle<uv_timer_t>(this);
    uv_timer_init(loop_, debounce_);
    for (const std::string& p : watch_->paths) watch_tree(p);
    spdlog::info("{}: watching {} path(s), {} directories, reload {} ms after the last change", app_,
                 watch_->paths.size(), watches_.size(), watch_->delay.count());
  }
}

AppTriggers::~AppTriggers() {
  close_handle(cron_timer_);
  close_handle(debounce_);
  for (auto& [path, h] : watches_) close_handle(h);
}

// ---- cron_restart

void AppTriggers::arm_cron() {
  auto now = std::chrono::system_clock::now();
  if (next_cron_ <= now) {
    auto next = schedule_->next_after(now, zone_);
    if (!next) {
      spdlog::warn("{}: cron_restart never comes again; no more cron reloads", app_);
      return;
    }
    next_cron_ = *next;
  }
  auto wait = std::min<std::chrono::milliseconds>(
      std::chrono::duration_cast<std::chrono::milliseconds>(next_cron_ - now) + std::chrono::milliseconds(1),
      kCronRecheck);
  uv_timer_start(cron_timer_, [](uv_timer_t* t) {
    if (auto* self = static_cast<AppTriggers*>(t->data)) self->on_cron();
  }, static_cast<uint64_t>(std::max<int64_t>(wait.count(), 1)), 0);
}

void AppTriggers::on_cron() {
  if (std::chrono::system_clock::now() >= next_cron_) {
    next_cron_ = {};
    spdlog::info("{}: cron_restart: reloading", app_);
    reload_("cron_restart");
  }
  arm_cron();
}

// ---- watch

bool AppTriggers::ignored(const std::string& path) const {
  if (!logs_dir_.empty() && (path == logs_dir_ || path.starts_with(logs_dir_ + "/"))) return true;
  for (const std::string& root : watch_->paths) {
    if (path != root && !path.starts_with(root + "/")) continue;
    std::string rel = path == root ? fs::path(path).filename().string() : path.substr(root.size() + 1);
    for (const std::string& glob : watch_->ignore) {
      if (fnmatch(glob.c_str(), rel.c_str(), 0) == 0) return true;
      // node_modules ignores node_modules/x/y too; *.log any file's name.
      for (const auto& part : fs::path(rel))
        if (fnmatch(glob.c_str(), part.c_str(), 0) == 0) return true;
    }
  }
  return false;
}

void AppTriggers::watch_tree(const std::string& path) {
  if (ignored(path)) return;
  std::error_code ec;
  add_watch(path);
  if (!fs::is_directory(path, ec)) return;
  auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    if (ignored(it->path().string())) {
      it.disable_recursion_pending();
      continue;
    }
    add_watch(it->path().string());
  }
}

void AppTriggers::add_watch(const std::string& path) {
  if (watches_.count(path)) return;
  if (watches_.size() >= kMaxWatches) {
    if (!warned_limit_) spdlog::warn("{}: watch: more than {} directories; {} and later ones are not watched (add "
                                     "them to watch.ignore)", app_, kMaxWatches, path);
    warned_limit_ = true;
    return;
  }
  auto* h = new_handle<uv_fs_event_t>(this);
  uv_fs_event_init(loop_, h);
  int rc = uv_fs_event_start(h, [](uv_fs_event_t* e, const char* name, int, int status) {
    auto* self = static_cast<AppTriggers*>(e->data);
    if (!self || status < 0) return;
    char dir[4096];
    size_t len = sizeof dir;
    if (uv_fs_event_getpath(e, dir, &len) != 0) return;
    self->on_change(std::string(dir, len), name);
  }, path.c_str(), 0);
  if (rc != 0) {
    // ENOSPC: fs.inotify.max_user_watches is used up.
    spdlog::warn("{}: watch: cannot watch {}: {}", app_, path, uv_strerror(rc));
    close_handle(h);
    return;
  }
  watches_[path] = h;
}

void AppTriggers::on_change(const std::string& dir, const char* name) {
  std::error_code ec;
  std::string path = name && *name && fs::is_directory(dir, ec) ? (fs::path(dir) / name).string() : dir;
  if (ignored(path)) return;
  if (fs::is_directory(path, ec) && !watches_.count(path)) watch_tree(path);  // a new directory
  last_change_ = path;
  // Debounced: a deploy that writes a hundred files reloads once.
  uv_timer_start(debounce_, [](uv_timer_t* t) {
    auto* self = static_cast<AppTriggers*>(t->data);
    if (!self) return;
    spdlog::info("{}: watch: {} changed: reloading", self->app_, self->last_change_);
    self->reload_("watch: " + self->last_change_ + " changed");
  }, static_cast<uint64_t>(watch_->delay.count()), 0);
}

}  // namespace rack::master
