// Bounds on rackd's own HTTP listeners: the control socket and the admin
// listener. Each client gets a whole-request deadline, so a body trickled
// a byte at a time cannot hold a connection for long, and each listener a
// connection cap, past which clients get 503 (the fd reserve,
// dispatch/fd_reserve.h, comes on top, for every listener).
#pragma once

#include <cstddef>
#include <cstdint>

#include "rack/http.h"

namespace rack::master::api {

inline constexpr uint64_t kRequestDeadlineMs = 10000;      // headers and body of one request → 408
inline constexpr std::size_t kMaxAdminConnections = 256;   // probes, scrapes, dashboards
inline constexpr std::size_t kMaxControlConnections = 128; // rackctl, logs -f followers
inline constexpr std::size_t kMaxRefusedPeers = 16;        // other uids, told 403

inline http::Limits listener_limits(std::size_t max_connections) {
  http::Limits l;
  l.request_timeout_ms = kRequestDeadlineMs;
  l.max_connections = max_connections;
  return l;
}

}  // namespace rack::master::api
