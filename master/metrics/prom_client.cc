#include "metrics/prom_client.h"

#include <cmath>
#include <limits>
#include <set>

#include "metrics/text.h"
#include "rack/json.h"

namespace rack::master::prom_client {

using json = nlohmann::json;

namespace {

bool valid_type(const std::string& t) {
  return t == "counter" || t == "gauge" || t == "histogram" || t == "summary" || t == "untyped";
}

std::string help_text(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// A label value as prom-client writes it: strings as they are, numbers in
// JavaScript's shortest form (le="0.005"), booleans as true/false.
std::optional<std::string> label_value(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
    return format_value(d);
  }
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return std::nullopt;
}

}  // namespace

json request(uint64_t id) { return {{"type", kRequest}, {"requestId", id}}; }

bool is_response(const json& m) {
  return m.is_object() && m.contains("type") && m["type"].is_string() && m["type"].get<std::string>() == kResponse;
}

std::optional<std::string> to_exposition(const json& answer, std::string& error) {
  if (!is_response(answer)) {
    error = "not a prom-client:getMetricsRes message";
    return std::nullopt;
  }
  if (answer.contains("error")) {
    error = "prom-client reported: " + (answer["error"].is_string() ? answer["error"].get<std::string>()
                                                                     : json_input::excerpt(answer["error"]));
    return std::nullopt;
  }
  if (!answer.contains("metrics") || !answer["metrics"].is_array()) {
    error = "no `metrics` array";
    return std::nullopt;
  }
  std::string out;
  std::set<std::string> seen;  // a name in two registries: the first wins, as in prom-client's merge
  std::size_t r = 0;
  for (const json& registry : answer["metrics"]) {
    if (!registry.is_array()) {
      error = "metrics[" + std::to_string(r) + "] is not an array";
      return std::nullopt;
    }
    std::size_t m = 0;
    for (const json& metric : registry) {
      std::string where = "metrics[" + std::to_string(r) + "][" + std::to_string(m++) + "]";
      if (!metric.is_object() || !metric.contains("name") || !metric["name"].is_string() ||
          !metric.contains("values") || !metric["values"].is_array()) {
        error = where + ": expected {name, values}";
        return std::nullopt;
      }
      std::string name = metric["name"].get<std::string>();
      if (!seen.insert(name).second) continue;
      std::string type = metric.contains("type") && metric["type"].is_string() ? metric["type"].get<std::string>() : "";
      if (!valid_type(type)) type = "untyped";
      std::string help = metric.contains("help") && metric["help"].is_string() ? metric["help"].get<std::string>() : "";
      out += "# HELP " + name + " " + help_text(help) + "\n# TYPE " + name + " " + type + "\n";
      for (const json& v : metric["values"]) {
        if (!v.is_object()) {
          error = where + " (" + name + "): a value is not an object";
          return std::nullopt;
        }
        std::string sample = v.contains("metricName") && v["metricName"].is_string() ? v["metricName"].get<std::string>()
                                                                                     : name;
        std::string labels;
        if (v.contains("labels") && v["labels"].is_object()) {
          for (auto& [k, lv] : v["labels"].items()) {
            auto text = label_value(lv);
            if (!text) continue;  // undefined/null labels are left out, as prom-client does
            if (!labels.empty()) labels += ',';
            labels += label_pair(k, *text);
          }
        }
        double value = std::numeric_limits<double>::quiet_NaN();
        if (v.contains("value") && v["value"].is_number()) value = v["value"].get<double>();
        out += sample;
        if (!labels.empty()) out += "{" + labels + "}";
        out += " " + format_value(value) + "\n";
      }
    }
    ++r;
  }
  return out;
}

}  // namespace rack::master::prom_client
