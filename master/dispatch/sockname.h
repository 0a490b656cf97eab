// The address a socket is bound to (getsockname), in the forms rackd shows:
// "host:port" / "[v6]:port" for status and logs, and the object node's
// server.address() returns for the cluster protocol.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace rack::master {

struct SockName {
  std::string host;  // numeric
  uint16_t port = 0;
  bool v6 = false;
};

// std::nullopt for fd < 0 or a socket getsockname() cannot name (AF_UNIX
// names come out with an empty host: they are never shown).
std::optional<SockName> sockname(int fd);

// Why `fd`, which a worker hands back as an idle client connection
// (ConnReturn), is not one: "" when it is a connected TCP socket accepted on
// `listener` (same port, and same host unless the listener is on all
// interfaces), else what it is instead ("a pipe", "not connected",
// "accepted on 127.0.0.1:9000, not 127.0.0.1:8080"). A worker can only
// return what rackd gave it; anything else is closed, never dispatched.
std::string returned_conn_problem(int fd, const SockName& listener);

// "127.0.0.1:8080", "[::1]:8080"; "" for nullopt.
std::string format_address(const std::optional<SockName>& name);

// {"address","family","port"} as node's getsockname() reports it; null for nullopt.
nlohmann::json node_address(const std::optional<SockName>& name);

}  // namespace rack::master
