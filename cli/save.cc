#include "save.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "client.h"
#include "saved_apps.h"
#include "status_table.h"

namespace rack::cli {

using json = nlohmann::json;

namespace {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `text` to `path` whole: a temp file renamed over it, so a full
// disk leaves the old file, never half of a new one.
bool write_atomically(const std::string& path, const std::string& text, std::string& error) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      error = "cannot write " + tmp;
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) error = "cannot rename " + tmp + " to " + path + ": " + ec.message();
  return !ec;
}

// The ecosystem file resurrect starts an app from: the original when it
// is still what was saved, else the snapshot, written under
// $RACK_HOME/snapshots/ (and says which, and why).
std::optional<std::string> source_for(const SavedApp& e) {
  std::optional<std::string> now = read_text(e.file);
  if (e.config.empty()) return e.file;  // a dump from before snapshots: the file or nothing
  if (now && content_digest(*now) == e.file_digest) return e.file;
  std::cout << e.name << ": " << e.file
            << (now ? " changed since it was saved" : " is gone") << "; starting the configuration saved with it"
            << (now ? " (rackctl reload " + e.file + " applies the file)" : "") << "\n";
  std::string dir = rack_home() + "/snapshots";
  ::mkdir(dir.c_str(), 0700);
  std::string path = dir + "/" + e.name + ".yaml", error;
  if (!write_atomically(path, e.config, error)) {
    std::fprintf(stderr, "rackctl: %s: %s\n", e.name.c_str(), error.c_str());
    return std::nullopt;
  }
  return path;
}

}  // namespace

int cmd_save() {
  Answer a = call("GET", "/v1/status");
  if (a.exit != kOk) return a.exit;
  Answer c = call("GET", "/v1/config");
  if (c.exit != kOk) return c.exit;
  std::map<std::string, std::string> configs;
  for (auto& app : c.body.value("apps", json::array()))
    if (app.is_object() && app["name"].is_string() && app["config"].is_string())
      configs[app["name"].get<std::string>()] = app["config"].get<std::string>();
  std::vector<SavedApp> apps;
  std::map<std::string, std::string> digests;
  for (auto& app : a.body["apps"]) {
    if (!app.contains("file") || !app["file"].is_string() || !app["name"].is_string()) continue;
    SavedApp s{app["name"].get<std::string>(), app["file"].get<std::string>(), std::nullopt,
               app.value("status", "") == "stopped", "", ""};
    if (app.contains("instances") && app["instances"].is_number_integer()) s.instances = app["instances"].get<long>();
    s.config = configs[s.name];
    if (!digests.count(s.file)) {
      auto text = read_text(s.file);
      digests[s.file] = text ? content_digest(*text) : "";
    }
    s.file_digest = digests[s.file];
    apps.push_back(std::move(s));
  }
  std::string path = rack_home() + "/dump.json", error;
  if (!write_atomically(path, saved_apps_json(apps).dump(2) + "\n", error)) {
    std::fprintf(stderr, "rackctl: save: %s\n", error.c_str());
    return kFailed;
  }
  std::cout << "saved " << apps.size() << " app(s) to " << path << " (with their configuration)\n";
  return kOk;
}

int cmd_resurrect() {
  std::string path = rack_home() + "/dump.json";
  std::optional<std::string> text = read_text(path);
  if (!text) {
    std::fprintf(stderr, "rackctl: nothing to resurrect: %s does not exist (run rackctl save first)\n", path.c_str());
    return kFailed;
  }
  std::string error;
  auto apps = parse_saved_apps(*text, error);
  if (!apps) {
    std::fprintf(stderr, "rackctl: %s is not a saved app list: %s\n", path.c_str(), error.c_str());
    return kUsage;
  }
  if (int rc = ensure_daemon(); rc != kOk) return rc;
  int worst = kOk;
  for (const SavedApp& e : *apps) {
    if (e.stopped) continue;
    std::optional<std::string> file = source_for(e);
    if (!file) {
      worst = std::max<int>(worst, kFailed);
      continue;
    }
    Answer a = call("POST", "/v1/start", {{"file", *file}, {"only", e.name}});
    if (a.exit != kOk) {
      worst = std::max(worst, a.exit);
      continue;
    }
    if (e.instances) call("POST", "/v1/apps/" + e.name + "/scale", {{"instances", *e.instances}});
  }
  Answer s = call("GET", "/v1/status");
  if (s.exit == kOk) std::cout << render_status(s.body);
  return worst;
}

}  // namespace rack::cli
