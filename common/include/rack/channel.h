// The master ⇄ worker channel for `protocol: rack`.
//
// Transport
//   An AF_UNIX SOCK_SEQPACKET socketpair created by rackd before it forks a
//   worker; the worker's end is fd 3 (RACK_CHANNEL_FD=3). SEQPACKET keeps
//   message boundaries, so a message is exactly one sendmsg/recvmsg and a
//   passed fd always arrives with the message it belongs to. Both ends are
//   non-blocking.
//
// Framing
//   Every message starts with a fixed 8-byte Header (host byte order: both
//   ends are on one machine), followed by `length` bytes of payload.
//   A message is at most kMaxMessage bytes; larger payloads (metrics
//   snapshots) are split into several messages of the same type with
//   kFlagMore set on all but the last.
//
// Exchanges (who starts → who answers)
//   rackd  → worker  Conn{id}+fd       a client connection; the worker must
//                                      answer with Ack{id} as soon as it has
//                                      the fd, before reading from it. Until
//                                      the Ack, rackd keeps its own copy of
//                                      the fd and re-dispatches it elsewhere
//                                      if the worker dies. Acks may batch ids.
//   worker → rackd   Ready             setup done, put me in rotation.
//   rackd  → worker  Ping{seq}         heartbeat; worker answers Pong{seq}
//                                      from its event loop (a stuck loop
//                                      does not answer).
//   worker → rackd   Load{active, received}
//                                      connections the worker holds now and
//                                      how many Conn it has taken in all;
//                                      sent with Pong, and (least-connections,
//                                      RACK_DISPATCH) once per loop turn in
//                                      which a connection closed. rackd also
//                                      takes the older Load{active}.
//   rackd  → worker  Drain             stop taking connections, finish
//                                      in-flight requests, then exit 0.
//   worker → rackd   ConnReturn{}+fd   during drain: an idle keep-alive
//                                      connection (nothing buffered, no
//                                      request in flight) handed back to be
//                                      given to another worker.
//   rackd  → worker  MetricsReq{seq}   worker answers MetricsRep{seq} with
//                                      its registry in Prometheus text
//                                      format (possibly split, kFlagMore).
//   worker → rackd   MetricsRep        also sent unasked, once, when a
//                                      draining worker is about to exit (its
//                                      final snapshot).
//   rackd  → worker  LogLevel{level}   change the runtime log level.
//   worker → rackd   MergedMetricsReq{seq}
//                                      the app's merged metrics, for an app
//                                      that serves them on its own port
//                                      (metrics_path; the worker learns the
//                                      path from RACK_METRICS_PATH). rackd
//                                      answers MergedMetricsRep: payload =
//                                      u64 seq + a piece of the text, split
//                                      with kFlagMore like MetricsRep, once
//                                      its collection round ends (bounded by
//                                      its deadline, so it always answers).
//
//   worker → rackd   Recycle           the worker reached RACK_MAX_REQUESTS:
//                                      rackd replaces it as in a reload (new
//                                      worker ready first, then Drain).
//   worker → rackd   Health            the results of the app's own health
//                                      checks (App::health_check), sent after
//                                      each round; a worker runs a round when
//                                      it starts and then at most once per
//                                      kHealthEvery, paced by Ping. Payload:
//                                      encode_health. rackd shows them in
//                                      GET /health as "<app>:<check>".
//
// Bad messages
//   A datagram shorter than a Header, one whose `length` is not the bytes
//   that follow it, and one over kMaxMessage + header bytes (the receive
//   buffer cuts it: MSG_TRUNC) are malformed: recv() discards it whole and
//   returns Malformed, and the next recv() reads the next message (SEQPACKET
//   keeps boundaries, so one bad message never desynchronises the stream).
//   The channel stays open. Types the receiver does not know, and payloads
//   of the wrong shape for their type, are bad too. rackd counts each bad
//   message from a worker as one protocol error (logged once per worker);
//   at Worker::kMaxProtocolErrors (32) the worker is replaced gracefully,
//   with restart reason protocol_error. A worker runtime drops a bad message
//   from rackd with a warning (logged once).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rack::channel {

inline constexpr std::size_t kMaxMessage = 64 * 1024;

enum class Type : uint16_t {
  // rackd → worker
  Conn = 1,
  Ping = 2,
  Drain = 3,
  MetricsReq = 4,
  LogLevel = 5,
  MergedMetricsRep = 6,
  // worker → rackd
  Ready = 100,
  Ack = 101,
  Pong = 102,
  Load = 103,
  ConnReturn = 104,
  MetricsRep = 105,
  MergedMetricsReq = 106,
  Recycle = 107,
  Health = 108,
};

inline constexpr uint16_t kFlagMore = 1;

struct Header {
  Type type;
  uint16_t flags;
  uint32_t length;  // payload bytes after the header
};
static_assert(sizeof(Header) == 8);

const char* type_name(Type t);

// One received message. `fd` is -1 unless the message carried a descriptor.
struct Message {
  Type type{};
  uint16_t flags = 0;
  std::string payload;
  int fd = -1;
  std::string error;  // what was wrong, when recv() returned Malformed
};

// Malformed: one bad message was received and discarded (Message::error
// says why); the channel is still usable.
enum class IoResult { Ok, WouldBlock, Closed, Error, Malformed };

// Sends one message, optionally with one fd (SCM_RIGHTS). Never blocks.
// On WouldBlock nothing was sent; the caller queues and retries when writable.
// A payload over kMaxMessage is not sent: Error, errno EMSGSIZE.
IoResult send(int sock, Type type, std::string_view payload, int fd = -1,
              uint16_t flags = 0);

// Receives one message. On Error, errno is preserved. On Malformed the
// message is dropped (with any fd it carried) and out.error says why.
IoResult recv(int sock, Message& out);

// The framing check recv() applies to one datagram: false with `error` when
// it is shorter than a Header, its length field disagrees with the bytes
// that follow, or it was `truncated` by the receive buffer. On success sets
// out.type, out.flags and out.payload.
bool decode_frame(std::string_view datagram, bool truncated, Message& out, std::string& error);

// SCM_RIGHTS plumbing, shared with rackd's node channel (JSON lines over a
// stream socket), which passes fds the same way.
struct FdControl {
  alignas(cmsghdr) char buf[CMSG_SPACE(sizeof(int))];
};
// Attaches `fd` to `msg` (no-op when fd < 0). `control` must outlive sendmsg.
void attach_fd(msghdr& msg, FdControl& control, int fd);
// Returns the first fd a received message carried (-1 if none) and closes
// any others, so a misbehaving peer cannot leak descriptors into us.
int take_fd(msghdr& msg);
// recvmsg(MSG_DONTWAIT | MSG_CMSG_CLOEXEC), retried on EINTR and past the
// ECONNRESET that AF_UNIX reports once when the peer closed with our
// messages unread: it comes ahead of what the peer sent before closing (a
// worker's final metrics snapshot, its ConnReturns), which is read instead.
// -1 with errno otherwise.
ssize_t recv_msg(int sock, msghdr& msg);

// Payload helpers for the fixed binary payloads (ids and counters are u64).
std::string encode_u64s(std::span<const uint64_t> values);
std::vector<uint64_t> decode_u64s(std::string_view payload);
std::string encode_u64(uint64_t v);
std::optional<uint64_t> decode_u64(std::string_view payload);
// Exactly whole u64s (an Ack's ids): nullopt when the size is not a
// multiple of 8.
std::optional<std::vector<uint64_t>> decode_u64s_exact(std::string_view payload);

// Load: {active} (older workers) or {active, received}.
struct LoadReport {
  uint64_t active = 0;
  std::optional<uint64_t> received;
};
std::optional<LoadReport> decode_load(std::string_view payload);

// MetricsRep and MergedMetricsRep: u64 seq, then a piece of the text.
struct MetricsPiece {
  uint64_t seq = 0;
  std::string_view text;
};
std::optional<MetricsPiece> decode_metrics_piece(std::string_view payload);

// Health payload: one "name\terror\n" line per check, error empty when the
// check passed. Names are 1–64 of [A-Za-z0-9_.-] (valid_check_name); an
// error has tabs and line breaks turned into spaces and is cut at
// kMaxCheckError bytes, so any text the app gives fits the framing.
inline constexpr std::size_t kMaxCheckName = 64;
inline constexpr std::size_t kMaxCheckError = 1024;
inline constexpr std::size_t kMaxChecks = 32;  // per worker: a Health message always fits kMaxMessage
static_assert(kMaxChecks * (kMaxCheckName + kMaxCheckError + 2) <= kMaxMessage);
struct CheckResult {
  std::string name;
  std::string error;  // "" = passed
  bool operator==(const CheckResult&) const = default;
};
bool valid_check_name(std::string_view name);
std::string encode_health(std::span<const CheckResult> checks);
// nullopt when any line is malformed (no tab, bad name, missing final \n).
std::optional<std::vector<CheckResult>> decode_health(std::string_view payload);

}  // namespace rack::channel
