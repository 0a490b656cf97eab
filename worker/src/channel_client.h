// Worker end of the rackd channel (protocol in rack/channel.h): reads
// messages from the SEQPACKET socket with a uv_poll, answers the exchanges
// the worker owns (Ping → Pong + Load, MetricsReq → MetricsRep, LogLevel)
// and hands the rest (connections, drain, channel loss) to the App.
// Internal to rack_worker.
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rack/channel.h"

namespace rack::worker {

class ChannelClient {
 public:
  struct Handlers {
    // A connection from rackd. Called before it is acknowledged; the Ack
    // for every connection of one wakeup goes out as one message after.
    std::function<void(uint64_t id, int fd)> on_conn;
    // After that batch Ack was sent (Conn handed back during drain must
    // follow its Ack).
    std::function<void()> after_ack;
    std::function<void()> on_drain;
    std::function<std::string()> metrics_text;
    std::function<uint64_t()> load;  // connections held now
    std::function<void()> on_ping;   // after Pong + Load: paces the health checks
    // rackd's answer to request_merged_metrics (reassembled).
    std::function<void(uint64_t seq, std::string text)> on_merged_metrics;
    // EOF or error on the channel: rackd is gone.
    std::function<void(std::string why)> on_lost;
  };

  ChannelClient(uv_loop_t* loop, int fd, Handlers handlers);
  ~ChannelClient();
  ChannelClient(const ChannelClient&) = delete;
  ChannelClient& operator=(const ChannelClient&) = delete;

  bool start(std::string& error);

  void send_ready();
  // The worker's open connections changed: a Load report goes out once the
  // loop has run the rest of this turn's callbacks (several closes in one
  // turn make one report). For least-connections, where rackd needs to see
  // a finished connection before it picks the next worker.
  void load_changed();
  void send_recycle();  // max_requests reached: ask rackd for a graceful replacement
  void send_health(std::string payload);  // channel::encode_health
  // Sends ConnReturn carrying fd. The caller may close fd on return (a
  // queued message holds its own dup). False if it could not be sent.
  bool send_conn_return(int fd);
  // MetricsRep{seq} in chunks: payload = u64 seq + text, kFlagMore on all
  // but the last. seq 0 = the final snapshot of a draining worker.
  void send_metrics(uint64_t seq);
  // MergedMetricsReq{seq}: the app's merged metrics, for metrics_path.
  void request_merged_metrics(uint64_t seq);

  // Runs `fn` once nothing is waiting to be written (at once if so now).
  void when_flushed(std::function<void()> fn);

  static constexpr std::size_t kMetricsChunk = channel::kMaxMessage - 16;

 private:
  struct Outgoing {
    channel::Type type;
    std::string payload;
    int fd;  // owned dup, or -1
    uint16_t flags;
  };

  static void on_poll(uv_poll_t* handle, int status, int events);
  static void on_closed(uv_handle_t* handle);
  void read_batch();
  void handle(channel::Message& m);
  void send_acks(std::vector<uint64_t>& acks);
  bool send(channel::Type type, std::string payload, int fd = -1, uint16_t flags = 0);
  void flush_queue();
  void update_poll();
  void lost(std::string why);
  void send_load();
  static void on_load_idle(uv_idle_t* handle);

  uv_loop_t* loop_;
  int fd_;
  Handlers handlers_;
  uv_poll_t* poll_ = nullptr;  // heap: closed asynchronously
  std::deque<Outgoing> queue_;
  std::vector<std::function<void()>> flushed_;
  std::set<uint16_t> unknown_seen_;
  std::string merged_buf_;  // MergedMetricsRep pieces (kFlagMore)
  bool lost_ = false;
  bool warned_malformed_ = false;
  uint64_t received_ = 0;              // Conn messages taken, reported with Load
  std::optional<std::array<uint64_t, 2>> last_load_;  // the last Load sent
  uv_idle_t* load_idle_ = nullptr;     // heap: closed asynchronously
};

}  // namespace rack::worker
