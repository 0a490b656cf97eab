#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

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

// A bad message is dropped whole and the next one reads: SEQPACKET keeps
// boundaries. Over 64 KB used to be an Error (recvmsg cut it, the length
// check failed), on which rackd closed the worker's channel for good.
TEST_CASE("channel: oversized, short, empty and lying messages are Malformed and the channel stays in step") {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
  int size = 1 << 20;
  REQUIRE(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size) == 0);
  auto raw = [&](const std::string& bytes) { REQUIRE(::send(sv[0], bytes.data(), bytes.size(), 0) == (ssize_t)bytes.size()); };
  auto header = [](uint16_t type, uint32_t length) {
    channel::Header h{static_cast<channel::Type>(type), 0, length};
    return std::string(reinterpret_cast<const char*>(&h), sizeof h);
  };
  raw(header(105, 70000) + std::string(70000, 'x'));
  raw("abc");
  raw("");
  raw(header(102, 100) + "short");
  raw(header(105, channel::kMaxMessage) + std::string(channel::kMaxMessage, 'y'));  // the largest there is: fine
  CHECK(channel::send(sv[0], channel::Type::Pong, channel::encode_u64(9)) == channel::IoResult::Ok);

  channel::Message m;
  for (const char* why : {"over 65536 payload bytes", "a 3-byte message", "an empty message", "saying 100 payload bytes on 5"}) {
    REQUIRE(channel::recv(sv[1], m) == channel::IoResult::Malformed);
    CHECK_MESSAGE(m.error.find(why) != std::string::npos, m.error);
  }
  REQUIRE(channel::recv(sv[1], m) == channel::IoResult::Ok);
  CHECK(m.payload.size() == channel::kMaxMessage);
  REQUIRE(channel::recv(sv[1], m) == channel::IoResult::Ok);
  CHECK(m.type == channel::Type::Pong);
  CHECK(channel::decode_u64(m.payload) == 9u);
  CHECK(channel::recv(sv[1], m) == channel::IoResult::WouldBlock);
  // An empty message is not the end; a hang-up still is.
  ::close(sv[0]);
  CHECK(channel::recv(sv[1], m) == channel::IoResult::Closed);
  ::close(sv[1]);
}

TEST_CASE("channel: send refuses a payload over kMaxMessage instead of breaking the peer's channel") {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
  CHECK(channel::send(sv[0], channel::Type::MetricsRep, std::string(channel::kMaxMessage + 1, 'x')) ==
        channel::IoResult::Error);
  CHECK(errno == EMSGSIZE);
  channel::Message m;
  CHECK(channel::recv(sv[1], m) == channel::IoResult::WouldBlock);
  ::close(sv[0]);
  ::close(sv[1]);
}

// An empty Ack used to memcpy from a null vector's data() (UBSan:
// null pointer passed as argument declared nonnull).
TEST_CASE("channel: payload decoders take only their shapes, empty ones included") {
  CHECK(channel::decode_u64s("").empty());
  CHECK(channel::encode_u64s({}).empty());
  CHECK(channel::decode_u64s_exact("")->empty());
  CHECK_FALSE(channel::decode_u64s_exact("1234567").has_value());
  CHECK(channel::decode_u64s_exact(channel::encode_u64(5)) == std::vector<uint64_t>{5});

  CHECK_FALSE(channel::decode_load("").has_value());
  CHECK_FALSE(channel::decode_load(std::string(12, 'x')).has_value());
  auto old_load = channel::decode_load(channel::encode_u64(3));
  REQUIRE(old_load);
  CHECK(old_load->active == 3);
  CHECK_FALSE(old_load->received.has_value());
  std::vector<uint64_t> both = {4, 10};
  auto load = channel::decode_load(channel::encode_u64s(both));
  REQUIRE(load);
  CHECK(load->active == 4);
  CHECK(load->received == 10u);

  CHECK_FALSE(channel::decode_metrics_piece("1234567").has_value());
  std::string payload = channel::encode_u64(0) + "x 1\n";  // the piece's text points into it
  auto piece = channel::decode_metrics_piece(payload);
  REQUIRE(piece);
  CHECK(piece->seq == 0);
  CHECK(piece->text == "x 1\n");
}
