// The decisions of the node cluster channel that need no socket: what a
// worker's queryServer asks for, whether it may share the listener rackd
// already bound for the app.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "rack/config.h"

namespace rack::master::node_cluster {

// The TCP address a queryServer message asks for ({address, port,
// addressType: 4|6}, node 20's lib/internal/cluster/child.js). A null or
// empty address is server.listen(port) with no host: every IPv4 interface,
// 0.0.0.0, as `listen: :PORT` means in an ecosystem file. nullopt with
// `why` for anything else (a UDP socket, a pipe, a port out of range).
std::optional<config::ListenAddr> requested_address(const nlohmann::json& query, std::string& why);

// Whether a worker asking for `asked` can share the listener bound at
// `bound`, as node's own primary shares one handle between workers that
// ask for the same address: same host, and the same port or port 0 ("any
// port": a later listen(0) gets the port the first one got).
bool shares(const config::ListenAddr& asked, const config::ListenAddr& bound);

}  // namespace rack::master::node_cluster
