// The listening sockets rackd binds for apps and the control socket, and the
// one formatter of their addresses (status, logs, node's server.address()).
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "dispatch/listener.h"
#include "dispatch/sockname.h"

using rack::master::format_address;
using rack::master::Listener;
using rack::master::node_address;
using rack::master::sockname;

namespace {

struct Loop {
  uv_loop_t loop;
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);  // let closed handles finish
    uv_loop_close(&loop);
  }
};

std::string listen_and_name(uv_loop_t* loop, const std::string& host, std::string& error, int& rc) {
  Listener l(loop, [](int fd) { ::close(fd); });
  rc = l.bind({host, 0}, error);
  return rc == 0 ? l.bound_address() : "";
}

}  // namespace

TEST_CASE("listener: IPv4 and IPv6 binds name their real port in one format") {
  Loop l;
  std::string error;
  int rc = 0;
  std::string v4 = listen_and_name(&l.loop, "127.0.0.1", error, rc);
  REQUIRE_MESSAGE(rc == 0, error);
  CHECK(v4.rfind("127.0.0.1:", 0) == 0);
  CHECK(std::atoi(v4.c_str() + 10) > 0);  // port 0 resolved

  std::string v6 = listen_and_name(&l.loop, "::1", error, rc);
  if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) return;  // no IPv6 loopback here
  REQUIRE_MESSAGE(rc == 0, error);
  CHECK(v6.rfind("[::1]:", 0) == 0);
  CHECK(std::atoi(v6.c_str() + 6) > 0);
}

TEST_CASE("listener: a host that is not a numeric address is refused by name, never looked up") {
  Loop l;
  for (const char* host : {"localhost", "256.0.0.1", "::g", "", "127.0.0.1 "}) {
    std::string error;
    int rc = 0;
    listen_and_name(&l.loop, host, error, rc);
    CHECK_MESSAGE(rc == -EINVAL, host);
    CHECK(error == std::string("not an IPv4 or IPv6 address: ") + host);
  }
}

TEST_CASE("listener: a port in use is an error naming the address") {
  Loop l;
  Listener first(&l.loop, [](int fd) { ::close(fd); });
  std::string error;
  REQUIRE(first.bind({"127.0.0.1", 0}, error) == 0);
  auto port = sockname(first.fd())->port;
  Listener second(&l.loop, [](int fd) { ::close(fd); });
  CHECK(second.bind({"127.0.0.1", port}, error) == -EADDRINUSE);
  CHECK(error == "cannot listen on 127.0.0.1:" + std::to_string(port) + ": Address already in use");
}

TEST_CASE("listener: the control socket is created 0600") {
  Loop l;
  char dir[] = "/tmp/rack-listener-XXXXXX";
  REQUIRE(::mkdtemp(dir));
  std::string path = std::string(dir) + "/s.sock";
  {
    Listener u(&l.loop, [](int fd) { ::close(fd); });
    std::string error;
    REQUIRE_MESSAGE(u.bind_unix(path, error) == 0, error);
    struct stat st{};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(sockname(u.fd())->host.empty());  // unix names are never shown
  }
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST_CASE("sockname: node's server.address() object and the closed-socket case") {
  Loop l;
  Listener v4(&l.loop, [](int fd) { ::close(fd); });
  std::string error;
  REQUIRE(v4.bind({"127.0.0.1", 0}, error) == 0);
  auto j = node_address(sockname(v4.fd()));
  CHECK(j["address"] == "127.0.0.1");
  CHECK(j["family"] == "IPv4");
  CHECK(j["port"].get<int>() == sockname(v4.fd())->port);
  CHECK(node_address(sockname(-1)).is_null());
  CHECK(format_address(sockname(-1)) == "");
}
