#include "dispatch/sockname.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace rack::master {

std::optional<SockName> sockname(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  char host[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
    return SockName{host, ntohs(s6->sin6_port), true};
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
  return SockName{host, ntohs(s4->sin_port), false};
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
