// rackd as the Node.js cluster primary, for unmodified `protocol: node`
// workers (node 20's lib/internal/cluster/child.js on the other end).
//
// Transport: an AF_UNIX SOCK_STREAM socketpair on the worker's fd 3
// (NODE_CHANNEL_FD=3, NODE_CHANNEL_SERIALIZATION_MODE=json): one JSON value
// per line. A passed fd travels with its own sendmsg; the kernel never
// coalesces SCM_RIGHTS messages, so node pairs each fd with its line.
//
// Exchanges (who starts → answer):
//   worker  {cmd:NODE_CLUSTER, act:online}            — nothing
//   worker  {…, act:queryServer, address, port, seq}  → {…, ack:seq, errno:null,
//            key, data:null, sockname:{address,family,port}}   (round-robin: no handle)
//            (an app with no `listen`: the first worker's address is bound
//             then, and later workers asking for it share that listener)
//   worker  {…, act:listening, port}                  — ready (unless wait_ready)
//   rackd   {cmd:NODE_HANDLE, type:net.Native, msg:{cmd:NODE_CLUSTER, act:newconn,
//            key, seq}} + fd                          → {cmd:NODE_HANDLE_ACK}, then
//                                                       {…, ack:seq, accepted:bool}
//                                                       accepted:false (server closing or
//                                                       at maxConnections): the fd goes
//                                                       elsewhere, no more for 100 ms;
//                                                       {cmd:NODE_HANDLE_NACK} (fd lost):
//                                                       the oldest unanswered goes elsewhere,
//                                                       with the same pause
//   (a drain starts with the stop signal, SIGINT; Rack's preload,
//    preload.js, turns it into the cluster's worker.disconnect(), and
//    keeps node >= 19 from destroying idle keep-alive sockets meanwhile)
//   rackd   {type:prom-client:getMetricsReq, requestId} → {type:…Res, requestId,
//            metrics} (prom_client.h; a user message as far as node is concerned)
//   worker  {…, act:close, key}: its server closed; no more connections for it
//   worker  {…, act:exitedAfterDisconnect, seq}       → {…, ack:seq}; it closes the
//                                                       channel after its final
//                                                       metrics snapshot
//   worker  {type:rack:load, active, received}        — the preload's connection
//                                                       count (least-connections)
//   rackd   {cmd:NODE_RACK_PING, seq}                 → {cmd:NODE_RACK_PONG, seq}, from
//                                                       the worker's event loop (preload.js),
//                                                       which also sends one, seq 0, as it
//                                                       loads. NODE_* messages are node's
//                                                       internal ones: the app never sees them
//   worker  anything without cmd NODE_*: the app's own process.send(); "ready"
//            counts as ready with wait_ready, the rest is logged at debug.
//
// Bounds: a line longer than kMaxLineBytes is skipped to its newline, and
// no more than kMaxOutboxBytes wait for a worker that does not read its
// end (more is dropped). Each is a protocol error (Events::protocol_error).
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "node/protocol.h"

namespace rack::master {

// The libuv glue: reads into NodeProtocol::feed, carries out what it
// decides, and owns the connections handed over.
class NodeChannel : public NodeProtocol {
 public:
  static constexpr std::size_t kMaxOutboxBytes = 1u << 20;  // thousands of answers and requests

  struct Events {
    std::function<void()> listening;
    std::function<void(const nlohmann::json&)> user_message;
    std::function<void(int fd, bool accepted)> conn_result;  // fd is rackd's copy
    std::function<void()> closed;
    std::function<void(const std::string& what)> protocol_error;
    // Set for an app with no `listen`: the first server a worker asks for
    // (queryServer) is bound by the app, as node's own primary does. 0 with
    // the listener's `sockname`, or a negative errno for the worker's
    // listen() to fail with.
    std::function<int(const nlohmann::json& query, nlohmann::json& sockname)> server;
    // The preload's {"type":"rack:load","active","received"} (least-connections).
    std::function<void(uint64_t active, uint64_t received)> load;
    std::function<void()> pong;  // the worker's loop answered a ping
  };

  // `sockname` is the app's listening address as node reports it:
  // {"address":"127.0.0.1","family":"IPv4","port":8080}.
  NodeChannel(uv_loop_t* loop, int fd, std::string app, nlohmann::json sockname, Events events);
  ~NodeChannel() override;

  // Hands a connection over. Returns false when the channel is gone or too
  // many handles are in flight; the caller keeps the fd.
  bool give(int fd);
  // Connections given and not yet answered: for re-dispatch when the worker
  // dies. Reads whatever answers are still in the socket first, so a
  // connection the worker took is never given to another.
  std::vector<int> take_unanswered();
  std::size_t in_flight() const { return unanswered_.size(); }
  std::size_t outbox_bytes() const { return outbox_bytes_; }

  void send(const nlohmann::json& message);  // e.g. "shutdown", prom-client requests
  void ping(uint64_t seq);                   // heartbeat: {cmd:NODE_RACK_PING, seq}

  bool open() const { return fd_ >= 0; }

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  // NodeProtocol's decisions.
  void reply(std::string line) override { write(std::move(line)); }
  void conn_answered(uint64_t seq, bool accepted) override;
  void conn_lost() override;
  void listening() override {
    if (events_.listening) events_.listening();
  }
  void user_message(const nlohmann::json& m) override {
    if (events_.user_message) events_.user_message(m);
  }
  void protocol_error(const std::string& what) override {
    if (events_.protocol_error) events_.protocol_error(what);
  }
  bool closed() const override { return fd_ < 0; }
  void load_reported(uint64_t active, uint64_t received) override {
    if (events_.load) events_.load(active, received);
  }
  void pong() override {
    if (events_.pong) events_.pong();
  }
  int bind_server(const nlohmann::json& query, nlohmann::json& sockname) override {
    return events_.server ? events_.server(query, sockname) : 0;
  }

  void on_event(int status, int events);
  void read(unsigned max_reads = 16);
  void write(std::string line);  // a line with no fd
  ssize_t send_some(std::string_view data, int fd);
  void flush();
  void watch(bool writable);
  void stop_writing();
  void drop_outbox();  // the queued lines, and the fds they carry
  void close();

  uv_loop_t* loop_;
  int fd_;
  uv_poll_t* poll_ = nullptr;
  Events events_;
  struct Out {
    std::string data;
    std::size_t offset;
    int fd;  // sent with the first byte; -1 none; closed by us after sending (a dup)
  };
  std::deque<Out> outbox_;
  std::size_t outbox_bytes_ = 0;  // unsent bytes in outbox_
  std::unordered_map<uint64_t, int> unanswered_;  // newconn seq → rackd's fd
  // After node refuses a connection (accepted: false: its server is at
  // maxConnections, or closing), give() refuses until then (uv_now ms), so a
  // refused connection goes to another worker or waits, instead of
  // bouncing between rackd and this worker at full speed.
  uint64_t refusing_until_ = 0;
  bool watching_writable_ = false;
  bool writes_stopped_ = false;  // a write failed: the worker is going (stop_writing)
};

}  // namespace rack::master
