#include "node/protocol.h"

#include <spdlog/spdlog.h>

#include "rack/json.h"

namespace rack::master {

using json = nlohmann::json;

NodeProtocol::NodeProtocol(std::string app, json sockname, std::size_t max_line_bytes)
    : app_(std::move(app)), sockname_(std::move(sockname)), max_line_bytes_(max_line_bytes) {}

json NodeProtocol::cluster_message(json m) {
  m["cmd"] = "NODE_CLUSTER";
  m["seq"] = seq_++;
  return m;
}

void NodeProtocol::feed(std::string_view bytes) {
  // No newline is left in inbuf_ from earlier reads: search the new bytes
  // only, so a long line arriving in pieces is scanned once.
  std::size_t from = inbuf_.size();
  inbuf_.append(bytes);
  std::size_t start = 0, nl;
  while ((nl = inbuf_.find('\n', std::max(start, from))) != std::string::npos) {
    if (skipping_line_) skipping_line_ = false;  // the end of a line too long to keep
    else handle_line(std::string_view(inbuf_).substr(start, nl - start));
    if (closed()) return;
    start = nl + 1;
  }
  inbuf_.erase(0, start);
  if (skipping_line_) {
    inbuf_.clear();  // still inside the long line
  } else if (inbuf_.size() > max_line_bytes_) {
    // Skipped, not kept: the channel stays usable for the lines after it.
    protocol_error("a line over " + (max_line_bytes_ >= (1u << 20) ? std::to_string(max_line_bytes_ >> 20) + " MB"
                                                                    : std::to_string(max_line_bytes_) + " bytes") +
                   "; skipped to its end");
    skipping_line_ = true;
    inbuf_.clear();
    inbuf_.shrink_to_fit();
  }
}

namespace {

bool digits(std::string_view& s, uint64_t& out) {
  std::size_t i = 0;
  out = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9' && i < 19; ++i) out = out * 10 + static_cast<uint64_t>(s[i] - '0');
  s.remove_prefix(i);
  return i > 0;
}

bool skip(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

}  // namespace

bool parse_conn_answer(std::string_view line, uint64_t& ack, bool& accepted) {
  uint64_t seq = 0;
  if (!skip(line, R"({"cmd":"NODE_CLUSTER","ack":)") || !digits(line, ack)) return false;
  if (skip(line, R"(,"accepted":true)")) accepted = true;
  else if (skip(line, R"(,"accepted":false)")) accepted = false;
  else return false;
  return skip(line, R"(,"seq":)") && digits(line, seq) && line == "}";
}

bool parse_load_report(std::string_view line, uint64_t& active, uint64_t& received) {
  return skip(line, R"({"type":"rack:load","active":)") && digits(line, active) && skip(line, R"(,"received":)") &&
         digits(line, received) && line == "}";
}

void NodeProtocol::handle_line(std::string_view line) {
  if (line.empty()) return;
  // The two lines node sends for every connection skip the JSON parser.
  if (line == R"({"cmd":"NODE_HANDLE_ACK"})") return;
  uint64_t ack = 0;
  bool accepted = false;
  if (parse_conn_answer(line, ack, accepted)) return conn_answered(ack, accepted);
  if (uint64_t active = 0, received = 0; parse_load_report(line, active, received))
    return load_reported(active, received);
  std::string error;
  std::optional<json> parsed = json_input::parse(line, error);
  if (!parsed) {
    if (!warned_unparsable_)
      spdlog::warn("{}: node worker sent a line that is not usable JSON ({}); ignored, and so are any more", app_,
                   error);
    warned_unparsable_ = true;
    return;
  }
  const json& m = *parsed;
  std::string cmd = m.is_object() && m.contains("cmd") && m["cmd"].is_string() ? m["cmd"].get<std::string>() : "";
  if (cmd == "NODE_CLUSTER") return handle_cluster(m);
  if (cmd == "NODE_HANDLE_ACK") return;  // the handle arrived; the cluster answer follows
  if (cmd == "NODE_RACK_PONG") return pong();
  if (cmd == "NODE_HANDLE_NACK") {
    // The descriptor did not arrive (the worker is out of fds, say), so no
    // answer follows. Node handles messages in order and every earlier
    // connection is answered by now: it is the oldest unanswered one.
    spdlog::warn("{}: node worker could not receive a connection (NODE_HANDLE_NACK); handing it on", app_);
    return conn_lost();
  }
  if (cmd.rfind("NODE_", 0) == 0) {
    spdlog::debug("{}: node internal message {} ignored", app_, json_input::clip(cmd));
    return;
  }
  user_message(m);
}

void NodeProtocol::handle_cluster(const json& m) {
  // Answers to our newconn carry `ack` and `accepted`.
  if (m.contains("ack") && m.contains("accepted")) {
    uint64_t ack = m["ack"].is_number_unsigned() ? m["ack"].get<uint64_t>() : 0;
    if (!m["accepted"].is_boolean()) {
      // Not node's shape. The worker may already be serving the
      // connection: giving it to another worker could serve it twice.
      spdlog::warn("{}: node worker answered a connection with accepted={}; taken as accepted", app_,
                   json_input::excerpt(m["accepted"]));
      return conn_answered(ack, true);
    }
    return conn_answered(ack, m["accepted"].get<bool>());
  }
  std::string act = m.contains("act") && m["act"].is_string() ? m["act"].get<std::string>() : "";
  if (act == "online") return;
  if (act == "queryServer") return query_server(m);
  if (act == "listening") return listening();
  if (act == "close" && !key_.empty() && m.contains("key") && m["key"] == key_) {
    // The app closed its server: no more connections for this worker
    // (node would refuse each one). A later listen() asks again.
    spdlog::info("{}: node worker closed its server; it gets no more connections", app_);
    key_.clear();
    return;
  }
  if (act == "close" || act == "exitedAfterDisconnect") {
    spdlog::debug("{}: node worker says {}", app_, act);
    if (act == "exitedAfterDisconnect" && m.contains("seq")) reply(cluster_message({{"ack", m["seq"]}}).dump() + "\n");
    return;
  }
  spdlog::debug("{}: node cluster message act={} ignored", app_, json_input::clip(act));
}

void NodeProtocol::query_server(const json& m) {
  json reply_msg = {{"ack", m.value("seq", json(nullptr))}, {"errno", nullptr}, {"data", nullptr}};
  std::string address = m.contains("address") && m["address"].is_string() ? m["address"].get<std::string>() : "";
  std::string port = m.contains("port") ? m["port"].dump() : "";
  std::string key = address + ":" + port + ":" + (m.contains("addressType") ? m["addressType"].dump() : "") + ":" +
                    (m.contains("fd") ? m["fd"].dump() : "") + ":" + (m.contains("index") ? m["index"].dump() : "");
  std::string where = address + ":" + port;
  const json type = m.value("addressType", json(nullptr));
  if (!(type == 4 || type == 6)) {
    // Not a TCP server: a UDP socket (dgram in a cluster worker asks with
    // addressType "udp4"/"udp6"), a pipe or an fd (-1). Rack dispatches one
    // TCP address per app; refused with ENOTSUP, and the app's TCP server
    // can still come after it.
    spdlog::warn("{}: node worker asked for a non-TCP server (addressType {}, {}); Rack dispatches TCP only", app_,
                 json_input::excerpt(type), json_input::clip(where));
    reply_msg["errno"] = -95;
    reply_msg["key"] = key;
  } else if (key_.empty()) {
    // The app's first server gets the app's `listen` socket, whatever port
    // it asked for (listen(0) included): rackd owns the port. With no
    // `listen`, the app binds what the worker asks for (or shares the
    // listener an earlier worker asked for).
    json sockname = sockname_;
    if (int rc = bind_server(m, sockname); rc < 0) {
      reply_msg["errno"] = rc;
      reply_msg["key"] = key;
      reply(cluster_message(reply_msg).dump() + "\n");
      return;
    }
    key_ = key;
    newconn_prefix_ = R"({"cmd":"NODE_HANDLE","type":"net.Native","msg":{"act":"newconn","cmd":"NODE_CLUSTER","key":)" +
                      json(key).dump() + R"(,"seq":)";
    reply_msg["key"] = key;
    reply_msg["sockname"] = sockname;
    // node checks that the port it asked for is the one it got (or it
    // reports EADDRINUSE): answer with its own port, the app's view of
    // where it listens; listen(0) gets the real one.
    if (m.contains("port") && m["port"].is_number_integer() && m["port"].get<int>() > 0)
      reply_msg["sockname"]["port"] = m["port"];
  } else {
    // One listening socket per app. A second server (another port) is
    // refused with ENOTSUP so the app sees an 'error' event on listen().
    spdlog::warn("{}: node worker asked for a second server ({}); Rack serves one listen address per app", app_,
                 json_input::clip(where));
    reply_msg["errno"] = -95;
    reply_msg["key"] = key;
  }
  reply(cluster_message(reply_msg).dump() + "\n");
}

}  // namespace rack::master
