#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include "rack/channel.h"

using namespace rack;

TEST_CASE("channel carries framed messages and an fd over SOCK_SEQPACKET") {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
  int p[2];
  REQUIRE(pipe(p) == 0);
  std::vector<uint64_t> ids = {1, 2, 99};
  CHECK(channel::send(sv[0], channel::Type::Ack, channel::encode_u64s(ids)) == channel::IoResult::Ok);
  CHECK(channel::send(sv[0], channel::Type::Conn, channel::encode_u64(7), p[1]) == channel::IoResult::Ok);
  channel::Message m;
  REQUIRE(channel::recv(sv[1], m) == channel::IoResult::Ok);
  CHECK(m.type == channel::Type::Ack);
  CHECK(channel::decode_u64s(m.payload) == ids);
  CHECK(m.fd == -1);
  REQUIRE(channel::recv(sv[1], m) == channel::IoResult::Ok);
  CHECK(m.type == channel::Type::Conn);
  CHECK(*channel::decode_u64(m.payload) == 7);
  REQUIRE(m.fd >= 0);
  CHECK(write(m.fd, "x", 1) == 1);  // the passed fd is the pipe's write end
  char c;
  CHECK(read(p[0], &c, 1) == 1);
  CHECK(channel::recv(sv[1], m) == channel::IoResult::WouldBlock);
  close(sv[0]);
  CHECK(channel::recv(sv[1], m) == channel::IoResult::Closed);
  close(m.fd);
  close(sv[1]);
  close(p[0]);
  close(p[1]);
}

TEST_CASE("channel: what a peer sent before closing with our messages unread is still read") {
  // A worker that exits with a Ping from rackd unread: AF_UNIX reports
  // ECONNRESET once, ahead of the worker's last messages (its final
  // metrics snapshot), which used to be dropped with it.
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
  CHECK(channel::send(sv[1], channel::Type::Ping, channel::encode_u64(1)) == channel::IoResult::Ok);  // never read
  CHECK(channel::send(sv[0], channel::Type::MetricsRep, channel::encode_u64(0) + "final") == channel::IoResult::Ok);
  ::close(sv[0]);
  channel::Message m;
  REQUIRE(channel::recv(sv[1], m) == channel::IoResult::Ok);
  CHECK(m.type == channel::Type::MetricsRep);
  CHECK(m.payload.substr(8) == "final");
  CHECK(channel::recv(sv[1], m) == channel::IoResult::Closed);
  ::close(sv[1]);
}
