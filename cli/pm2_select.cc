#include "pm2_select.h"

#include <algorithm>
#include <regex>
#include <set>

#include "rack/config.h"

using json = nlohmann::json;

namespace rack::cli {

Selection select_apps(const std::vector<std::string>& targets, const json& apps) {
  Selection out;
  std::vector<std::string> names, namespaces;
  for (const json& a : apps) {
    if (!a.is_object() || !a.contains("name") || !a["name"].is_string()) continue;
    names.push_back(a["name"].get<std::string>());
    std::string ns = a.value("namespace", "default");
    if (std::find(namespaces.begin(), namespaces.end(), ns) == namespaces.end()) namespaces.push_back(ns);
  }
  std::set<std::string> taken;
  auto take = [&](const std::string& n) {
    if (taken.insert(n).second) out.apps.push_back(n);
  };
  for (const std::string& t : targets) {
    bool matched = false;
    if (t == "all") {
      for (auto& n : names) take(n);
      matched = true;
    } else if (t.size() >= 2 && t.front() == '/' && t.back() == '/') {
      try {
        std::regex re(t.substr(1, t.size() - 2), std::regex::ECMAScript);
        for (auto& n : names)
          if (std::regex_search(n, re)) take(n), matched = true;
      } catch (const std::regex_error& e) {
        out.error = "invalid regular expression " + t + ": " + e.what();
        return out;
      }
      if (!matched) out.error = "no app name matches " + t;
    } else if (std::find(names.begin(), names.end(), t) != names.end()) {
      take(t);
      matched = true;
    } else {
      for (const json& a : apps)
        if (a.is_object() && a.value("namespace", "default") == t && a.contains("name")) take(a["name"].get<std::string>()), matched = true;
      if (!matched) {
        std::vector<std::string> both = names;
        both.insert(both.end(), namespaces.begin(), namespaces.end());
        auto near = config::did_you_mean(t, both);
        out.error = "no app or namespace named \"" + t + "\"" + (near ? " (did you mean \"" + *near + "\"?)" : "");
      }
    }
    if (!out.error.empty()) return out;
  }
  return out;
}

}  // namespace rack::cli
