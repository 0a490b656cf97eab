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

}  // namespace rack::master::node_cluster
