// The rack channel as rackd receives a worker's messages: one datagram
// through a real SOCK_SEQPACKET socketpair into channel::recv (framing,
// MSG_TRUNC past 64 KB, an fd riding along), which must agree with the pure
// decode_frame, then the payload decoder of its type (Ack ids, Load,
// MetricsRep pieces, MergedMetricsReq seq, Health lines).
// Input: byte 0 = flags (bit 0: attach a descriptor), the rest = the datagram.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "rack/channel.h"

using namespace rack;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "%s\n", what);
  std::abort();
}

struct Pair {
  int sv[2] = {-1, -1};
  int pipe_fds[2] = {-1, -1};
  Pair() {
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0 || ::pipe(pipe_fds) != 0) fail("socketpair/pipe");
    int size = 1 << 20;
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
};

void decode_payload(const channel::Message& m) {
  switch (m.type) {
    case channel::Type::Ack:
      if (auto ids = channel::decode_u64s_exact(m.payload)) {
        if (ids->size() * 8 != m.payload.size() || channel::encode_u64s(*ids) != m.payload) fail("Ack ids round trip");
      }
      break;
    case channel::Type::Load:
      if (auto load = channel::decode_load(m.payload)) {
        if (m.payload.size() != (load->received ? 16u : 8u)) fail("Load of the wrong size accepted");
      }
      break;
    case channel::Type::MetricsRep:
    case channel::Type::MergedMetricsRep:
      if (auto piece = channel::decode_metrics_piece(m.payload)) {
        if (piece->text.size() + 8 != m.payload.size()) fail("metrics piece size");
      }
      break;
    case channel::Type::MergedMetricsReq:
      (void)channel::decode_u64(m.payload);
      break;
    case channel::Type::Health:
      if (auto checks = channel::decode_health(m.payload)) {
        if (checks->size() > m.payload.size()) fail("more checks than bytes");
        // What rackd keeps re-encodes to lines the decoder takes back.
        auto again = channel::decode_health(channel::encode_health(*checks));
        if (!again || again->size() != checks->size()) fail("Health round trip");
        for (size_t i = 0; i < checks->size(); ++i)
          if ((*again)[i].name != (*checks)[i].name) fail("Health names round trip");
      }
      break;
    default:
      (void)channel::type_name(m.type);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Pair pair;
  if (size == 0) return 0;
  bool with_fd = data[0] & 1;
  std::string_view datagram(reinterpret_cast<const char*>(data) + 1, size - 1);

  channel::Message pure;
  std::string why;
  bool truncated = datagram.size() > channel::kMaxMessage + sizeof(channel::Header);
  bool framed = channel::decode_frame(datagram, truncated, pure, why);
  if (!framed && why.empty()) fail("decode_frame refused without saying why");

  msghdr msg{};
  iovec iov{const_cast<char*>(datagram.data()), datagram.size()};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  channel::FdControl control;
  channel::attach_fd(msg, control, with_fd ? pair.pipe_fds[1] : -1);
  if (::sendmsg(pair.sv[0], &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != static_cast<ssize_t>(datagram.size()))
    return 0;  // too big for the socket buffer: not what a worker can send either

  channel::Message m;
  channel::IoResult r = channel::recv(pair.sv[1], m);
  if (framed) {
    if (r != channel::IoResult::Ok) fail("recv refused what decode_frame took");
    if (m.type != pure.type || m.flags != pure.flags || m.payload != pure.payload) fail("recv and decode_frame differ");
    if (with_fd != (m.fd >= 0)) fail("the descriptor got lost or invented");
    if (m.fd >= 0) ::close(m.fd);
    decode_payload(m);
  } else {
    if (r != channel::IoResult::Malformed) fail("recv took what decode_frame refused, or closed the channel");
    if (m.fd >= 0) fail("a malformed message's descriptor was kept");
    if (m.error.empty()) fail("Malformed without a reason");
  }
  // The channel is still in step: the next message reads as sent.
  if (channel::send(pair.sv[0], channel::Type::Pong, channel::encode_u64(7)) != channel::IoResult::Ok) fail("send");
  if (channel::recv(pair.sv[1], m) != channel::IoResult::Ok || m.type != channel::Type::Pong ||
      channel::decode_u64(m.payload) != 7u)
    fail("the channel is out of step after one message");
  return 0;
}
