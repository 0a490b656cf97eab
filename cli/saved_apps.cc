#include "saved_apps.h"

#include <cstdio>

#include "rack/json.h"

namespace rack::cli {

using json = nlohmann::json;

namespace {

// Checks one entry; "" when it is well formed.
std::string check_entry(const json& e) {
  if (!e.is_object()) return std::string("expected an object, got ") + json_input::type_name(e);
  for (const char* key : {"name", "file"}) {
    if (!e.contains(key)) return std::string(key) + ": missing";
    if (!e[key].is_string() || e[key].get_ref<const std::string&>().empty())
      return std::string(key) + ": expected a non-empty string, got " + json_input::excerpt(e[key], 60) + " (" +
             json_input::type_name(e[key]) + ")";
  }
  if (e.contains("instances") && !e["instances"].is_null() &&
      !(e["instances"].is_number_integer() && e["instances"].get<long>() >= 1))
    return "instances: expected a whole number >= 1, got " + json_input::excerpt(e["instances"], 60) + " (" +
           json_input::type_name(e["instances"]) + ")";
  for (const char* key : {"config", "file_digest"})
    if (e.contains(key) && !e[key].is_string())
      return std::string(key) + ": expected a string, got " + json_input::type_name(e[key]);
  if (e.contains("stopped") && !e["stopped"].is_boolean())
    return std::string("stopped: expected true or false, got ") + json_input::type_name(e["stopped"]);
  return "";
}

}  // namespace

std::string content_digest(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::optional<std::vector<SavedApp>> parse_saved_apps(std::string_view text, std::string& error) {
  std::optional<json> dump = json_input::parse(text, error);
  if (!dump) return std::nullopt;
  if (!dump->is_array()) {
    error = std::string("expected a list of saved apps, got ") + json_input::type_name(*dump);
    return std::nullopt;
  }
  std::vector<SavedApp> apps;
  for (std::size_t i = 0; i < dump->size(); ++i) {
    const json& e = (*dump)[i];
    if (std::string why = check_entry(e); !why.empty()) {
      error = "entry " + std::to_string(i) + ": " + why;
      return std::nullopt;
    }
    SavedApp a{e["name"].get<std::string>(), e["file"].get<std::string>(), std::nullopt,
               e.value("stopped", false), "", ""};
    if (e.contains("instances") && !e["instances"].is_null()) a.instances = e["instances"].get<long>();
    a.config = e.value("config", "");
    a.file_digest = e.value("file_digest", "");
    apps.push_back(std::move(a));
  }
  return apps;
}

json saved_apps_json(const std::vector<SavedApp>& apps) {
  json out = json::array();
  for (const SavedApp& a : apps) {
    json e = {{"name", a.name}, {"file", a.file}, {"stopped", a.stopped}};
    if (a.instances) e["instances"] = *a.instances;
    if (!a.config.empty()) e["config"] = a.config;
    if (!a.file_digest.empty()) e["file_digest"] = a.file_digest;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace rack::cli
