#include "dispatch/sockname.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>

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

namespace {

const char* file_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a socket";
}

int sockopt(int fd, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  return ::getsockopt(fd, SOL_SOCKET, name, &v, &len) == 0 ? v : -1;
}

}  // namespace

std::string returned_conn_problem(int fd, const SockName& listener) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return "not an open descriptor";
  if (!S_ISSOCK(st.st_mode)) return file_kind(st.st_mode);
  int domain = sockopt(fd, SO_DOMAIN);
  if (domain != AF_INET && domain != AF_INET6) return domain == AF_UNIX ? "a unix socket" : "not an IP socket";
  if (sockopt(fd, SO_TYPE) != SOCK_STREAM) return "not a TCP socket";
  if (sockopt(fd, SO_ACCEPTCONN) == 1) return "a listening socket";
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return "not connected";
  auto local = sockname(fd);
  bool any_host = listener.host == "0.0.0.0" || listener.host == "::";
  if (!local || local->port != listener.port || (!any_host && local->host != listener.host))
    return "accepted on " + format_address(local) + ", not " + format_address(listener);
  return "";
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
