// The node side of a worker: its channel's events (node's cluster
// protocol, heartbeats, load reports) and the app's own messages.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "dispatch/sockname.h"
#include "lifecycle/worker.h"
#include "metrics/prom_client.h"
#include "rack/json.h"

namespace rack::master {

using SteadyClock = std::chrono::steady_clock;

void Worker::attach_node(int fd, int listen_fd) {
  NodeChannel::Events ev;
  ev.listening = [this] {
    if (!cfg_->wait_ready) mark_ready("listening");
  };
  ev.user_message = [this](const nlohmann::json& m) { on_node_message(m); };
  ev.conn_result = [this](int fd, bool accepted) {
    if (accepted) {
      ::close(fd);
      events_.on_capacity(*this);
    } else {
      load_.refused();
      events_.on_conn_returned(*this, fd);
    }
  };
  ev.protocol_error = [this](const std::string& what) { protocol_error(what); };
  ev.load = [this](uint64_t active, uint64_t received) { load_.reported(active, received); };
  if (!cfg_->listen)
    ev.server = [this](const nlohmann::json& query, nlohmann::json& sockname) {
      return events_.on_node_server(*this, query, sockname);
    };
  ev.pong = [this] {
    last_pong_ = SteadyClock::now();
    answers_pings_ = true;
    node_ping_pending_ = false;
  };
  node_ = std::make_unique<NodeChannel>(loop_, fd, cfg_->name, node_address(sockname(listen_fd)), std::move(ev));
}

void Worker::on_node_message(const nlohmann::json& m) {
  if (m.is_string() && m.get<std::string>() == "ready" && cfg_->wait_ready) {
    mark_ready("process.send('ready')");
    return;
  }
  if (prom_client::is_response(m)) {
    std::string err;
    auto text = prom_client::to_exposition(m, err);
    if (!text && err.empty()) err = "no metrics";
    events_.on_metrics(*this, text ? std::move(*text) : std::string(), text ? std::string() : err,
                       life_.state() == WorkerState::Draining);
    return;
  }
  // Only built when debug is on, and cut: the message is the app's.
  if (spdlog::should_log(spdlog::level::debug))
    spdlog::debug("{} slot {}: message from pid {}: {}", cfg_->name, slot_.index, pid_, json_input::excerpt(m));
}

}  // namespace rack::master
