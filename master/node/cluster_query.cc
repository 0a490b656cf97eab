#include "node/cluster_query.h"

namespace rack::master::node_cluster {

using json = nlohmann::json;

std::optional<config::ListenAddr> requested_address(const json& query, std::string& why) {
  const json type = query.value("addressType", json(nullptr));
  if (!(type == 4 || type == 6)) {
    why = "not a TCP server (addressType " + type.dump() + ")";
    return std::nullopt;
  }
  const json port = query.value("port", json(nullptr));
  if (!port.is_number_integer() || port.get<int64_t>() < 0 || port.get<int64_t>() > 65535) {
    why = "port " + port.dump() + " is not a TCP port";
    return std::nullopt;
  }
  const json address = query.value("address", json(nullptr));
  if (!address.is_null() && !address.is_string()) {
    why = "address " + address.dump().substr(0, 64) + " is not a string";
    return std::nullopt;
  }
  std::string host = address.is_string() ? address.get<std::string>() : "";
  std::string p = std::to_string(port.get<int64_t>());
  // parse_listen normalises the host as the config does ("::0001" is "::1").
  auto addr = config::parse_listen(host.find(':') != std::string::npos ? "[" + host + "]:" + p : host + ":" + p);
  if (!addr) why = "address \"" + host.substr(0, 64) + "\" is not a numeric IPv4 or IPv6 address";
  return addr;
}

bool shares(const config::ListenAddr& asked, const config::ListenAddr& bound) {
  return asked.host == bound.host && (asked.port == 0 || asked.port == bound.port);
}

namespace {

bool skip(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

bool digits(std::string_view& s, uint64_t& out) {
  std::size_t i = 0;
  out = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9' && i < 19; ++i) out = out * 10 + static_cast<uint64_t>(s[i] - '0');
  s.remove_prefix(i);
  return i > 0;
}

}  // namespace

bool parse_load_report(std::string_view line, uint64_t& active, uint64_t& received) {
  return skip(line, R"({"type":"rack:load","active":)") && digits(line, active) && skip(line, R"(,"received":)") &&
         digits(line, received) && line == "}";
}

}  // namespace rack::master::node_cluster
