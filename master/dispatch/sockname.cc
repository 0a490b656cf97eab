#include "dispatch/sockname.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cstdlib>

namespace rack::master {

std::optional<SockName> sockname(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  char host[NI_MAXHOST] = "";
  char port[NI_MAXSERV] = "0";
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return SockName{};
  return SockName{host, static_cast<uint16_t>(std::atoi(port)), ss.ss_family == AF_INET6};
}

std::string format_address(const std::optional<SockName>& n) {
  if (!n) return "";
  std::string port = std::to_string(n->port);
  return n->v6 ? "[" + n->host + "]:" + port : n->host + ":" + port;
}

nlohmann::json node_address(const std::optional<SockName>& n) {
  if (!n) return nullptr;
  return {{"address", n->host}, {"family", n->v6 ? "IPv6" : "IPv4"}, {"port", n->port}};
}

}  // namespace rack::master
