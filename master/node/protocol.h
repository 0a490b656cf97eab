// What a node worker's channel bytes mean, with no socket and no event loop:
// line splitting with its bound, the JSON parse, and what each of node's
// cluster messages asks rackd to do. NodeChannel (channel.h) is the libuv
// glue around it: it feeds what it reads and carries out the decisions
// through the virtual hooks below. The exchanges are listed in channel.h.
// tests/fuzz/node_line.cc feeds it arbitrary bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace rack::master {

// node's answer to a newconn, as node 20 writes it:
//   {"cmd":"NODE_CLUSTER","ack":17,"accepted":true,"seq":3}
// recognised without a JSON parse (one comes per connection). False for any
// other shape, which then goes through the JSON parser.
bool parse_conn_answer(std::string_view line, uint64_t& ack, bool& accepted);

// The preload's report of a worker's connections, as JSON.stringify
// writes it: {"type":"rack:load","active":N,"received":M}. Recognised
// without a JSON parse too (one can come per loop turn of a busy worker);
// false for any other line.
bool parse_load_report(std::string_view line, uint64_t& active, uint64_t& received);

class NodeProtocol {
 public:
  static constexpr std::size_t kMaxLineBytes = 4u << 20;  // a prom-client answer fits with room to spare

  // `sockname` is the app's listening address as node reports it:
  // {"address":"127.0.0.1","family":"IPv4","port":8080}. The line bound is
  // a parameter for tests and the fuzzer only.
  NodeProtocol(std::string app, nlohmann::json sockname, std::size_t max_line_bytes = kMaxLineBytes);
  virtual ~NodeProtocol() = default;
  NodeProtocol(const NodeProtocol&) = delete;
  NodeProtocol& operator=(const NodeProtocol&) = delete;

  // Bytes as read from the channel: every complete line is handled, in
  // order, until closed() turns true. A partial line waits for the rest; a
  // line over kMaxLineBytes is skipped to its newline (one protocol_error).
  void feed(std::string_view bytes);

  // The server key node asked for first ("" before that, and after node
  // closed that server): connections go to it.
  const std::string& server_key() const { return key_; }

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 protected:
  // What the lines ask of the glue.
  virtual void reply(std::string line) = 0;  // one line, "\n" included
  virtual void conn_answered(uint64_t seq, bool accepted) = 0;
  // NODE_HANDLE_NACK: the descriptor of the oldest unanswered connection
  // did not arrive; no answer for it follows.
  virtual void conn_lost() = 0;
  virtual void listening() = 0;
  virtual void user_message(const nlohmann::json& m) = 0;
  virtual void protocol_error(const std::string& what) = 0;
  virtual bool closed() const = 0;
  // The preload's {"type":"rack:load","active","received"} (least-connections).
  virtual void load_reported(uint64_t /*active*/, uint64_t /*received*/) {}
  // {cmd:NODE_RACK_PONG}: the worker's event loop answered a ping.
  virtual void pong() {}
  // The first TCP server a worker asks for (queryServer), for an app with
  // no `listen`: the app binds it, as node's own primary does. 0 with
  // `sockname` set to where it listens, or a negative errno for the
  // worker's listen() to fail with. An app with `listen` keeps `sockname`.
  virtual int bind_server(const nlohmann::json& /*query*/, nlohmann::json& /*sockname*/) { return 0; }

  // `m` with cmd NODE_CLUSTER and the next seq.
  nlohmann::json cluster_message(nlohmann::json m);

  std::string app_;
  nlohmann::json sockname_;
  std::size_t max_line_bytes_;
  std::string inbuf_;
  bool skipping_line_ = false;  // inside a line over kMaxLineBytes: dropped up to its newline
  uint64_t seq_ = 0;
  std::string key_;             // the first server the worker asked for: where connections go
  std::string newconn_prefix_;  // a newconn line up to its seq
  bool warned_unparsable_ = false;

 private:
  void handle_line(std::string_view line);
  void handle_cluster(const nlohmann::json& m);
  void query_server(const nlohmann::json& m);
};

}  // namespace rack::master
