// What a worker may hand back with ConnReturn: only a connected TCP socket
// accepted on its app's listener (dispatch/sockname.h).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dispatch/sockname.h"

using rack::master::returned_conn_problem;
using rack::master::sockname;

namespace {

int tcp_listener() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  return fd;
}

// A client connection to `listener` and the server side accept() gives.
std::pair<int, int> connection_to(int listener) {
  auto at = sockname(listener);
  int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(at->port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  int s = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE(s >= 0);
  return {c, s};
}

}  // namespace

TEST_CASE("conn return: only a connection accepted on the app's own listener is taken back") {
  int app = tcp_listener(), other = tcp_listener();
  auto addr = *sockname(app);
  auto [client, served] = connection_to(app);
  CHECK(returned_conn_problem(served, addr) == "");
  // The client's end of the same connection has the peer's port as its own.
  CHECK(returned_conn_problem(client, addr).find("accepted on 127.0.0.1:") == 0);
  auto [client2, served2] = connection_to(other);
  CHECK(returned_conn_problem(served2, addr) ==
        "accepted on " + rack::master::format_address(sockname(other)) + ", not " + rack::master::format_address(addr));
  // A listener on all interfaces takes connections accepted on any address.
  rack::master::SockName any{"0.0.0.0", addr.port, false};
  CHECK(returned_conn_problem(served, any) == "");

  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  CHECK(returned_conn_problem(p[0], addr) == "a pipe");
  int dir = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK(returned_conn_problem(dir, addr) == "a directory");
  int file = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  CHECK(returned_conn_problem(file, addr) == "a regular file");
  int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(returned_conn_problem(udp, addr) == "not a TCP socket");
  int unconnected = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(returned_conn_problem(unconnected, addr) == "not connected");
  CHECK(returned_conn_problem(app, addr) == "a listening socket");
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  CHECK(returned_conn_problem(sv[0], addr) == "a unix socket");
  CHECK(returned_conn_problem(-1, addr) == "not an open descriptor");
  for (int fd : {app, other, client, served, client2, served2, p[0], p[1], dir, file, udp, unconnected, sv[0], sv[1]})
    ::close(fd);
}
