// Worker end of the channel. Sends never block: when the socket is full the
// message (with a dup of its fd) waits in queue_ and goes out, in order,
// when the poll reports the socket writable.
#include "channel_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "rack/logging.h"

namespace rack::worker {

using channel::IoResult;
using channel::Type;

namespace {
// Messages read per wakeup: bounded so a flood of Conn cannot starve the
// connections already being served, large enough to batch acks well.
constexpr int kReadBatch = 256;
}  // namespace

ChannelClient::ChannelClient(uv_loop_t* loop, int fd, Handlers handlers)
    : loop_(loop), fd_(fd), handlers_(std::move(handlers)) {}

ChannelClient::~ChannelClient() {
  for (Outgoing& o : queue_)
    if (o.fd >= 0) ::close(o.fd);
  if (poll_) {
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), on_closed);
    poll_ = nullptr;
  }
  if (load_idle_) {
    uv_close(reinterpret_cast<uv_handle_t*>(load_idle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
    load_idle_ = nullptr;
  }
  if (fd_ >= 0) ::close(fd_);  // rackd sees EOF: we are gone
}

void ChannelClient::on_closed(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

bool ChannelClient::start(std::string& error) {
  poll_ = new uv_poll_t;
  if (int rc = uv_poll_init(loop_, poll_, fd_); rc != 0) {
    error = "channel fd " + std::to_string(fd_) + ": uv_poll_init: " + uv_strerror(rc);
    delete poll_;
    poll_ = nullptr;
    return false;
  }
  poll_->data = this;
  update_poll();
  return true;
}

void ChannelClient::update_poll() {
  if (!poll_ || lost_) return;
  int events = UV_READABLE | (queue_.empty() ? 0 : UV_WRITABLE);
  uv_poll_start(poll_, events, on_poll);
}

void ChannelClient::on_poll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<ChannelClient*>(handle->data);
  if (status < 0) return self->lost(std::string("channel poll: ") + uv_strerror(status));
  if (events & UV_WRITABLE) self->flush_queue();
  if ((events & UV_READABLE) && !self->lost_) self->read_batch();
}

void ChannelClient::lost(std::string why) {
  if (lost_) return;
  lost_ = true;
  if (poll_) uv_poll_stop(poll_);
  if (handlers_.on_lost) handlers_.on_lost(std::move(why));
}

void ChannelClient::send_load() {
  // {active, received}: rackd adds the connections it handed beyond
  // `received` (still on their way) to `active` (dispatch/load_count.h).
  // What rackd already has is not sent again: a ping of an idle worker
  // costs rackd the Pong only.
  std::array<uint64_t, 2> v = {handlers_.load ? handlers_.load() : 0, received_};
  if (last_load_ == v) return;
  last_load_ = v;
  send(Type::Load, channel::encode_u64s(v));
}

void ChannelClient::load_changed() {
  if (lost_) return;
  if (!load_idle_) {
    load_idle_ = new uv_idle_t;
    uv_idle_init(loop_, load_idle_);
    load_idle_->data = this;
  }
  // An idle handle runs before the loop next blocks in poll, after this
  // turn's close callbacks (a check handle would wait for the next event).
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(load_idle_))) uv_idle_start(load_idle_, on_load_idle);
}

void ChannelClient::on_load_idle(uv_idle_t* handle) {
  auto* self = static_cast<ChannelClient*>(handle->data);
  uv_idle_stop(handle);
  if (!self->lost_) self->send_load();
}

void ChannelClient::read_batch() {
  std::vector<uint64_t> acks;
  for (int i = 0; i < kReadBatch && !lost_; ++i) {
    channel::Message m;
    IoResult r = channel::recv(fd_, m);
    if (r == IoResult::WouldBlock) break;
    if (r == IoResult::Closed) return lost("rackd closed the channel");
    if (r == IoResult::Error) return lost(std::string("channel recv: ") + std::strerror(errno));
    if (r == IoResult::Malformed) {
      // Dropped whole; the next message reads fine (rack/channel.h).
      if (!warned_malformed_) spdlog::warn("channel: a malformed message from rackd dropped: {} (logged once)", m.error);
      warned_malformed_ = true;
      continue;
    }
    if (m.type == Type::Conn) {
      auto id = channel::decode_u64(m.payload);
      if (!id || m.fd < 0) {
        spdlog::warn("channel: malformed Conn ({} payload bytes, fd {}); ignored", m.payload.size(), m.fd);
        if (m.fd >= 0) ::close(m.fd);
        continue;
      }
      // Adopting only registers the fd with the loop; nothing is read
      // before this callback returns, so the Ack below still precedes it.
      handlers_.on_conn(*id, m.fd);
      ++received_;
      acks.push_back(*id);
      continue;
    }
    // Whatever follows a Conn (a Drain especially) must find it acknowledged.
    send_acks(acks);
    handle(m);
  }
  send_acks(acks);
}

void ChannelClient::send_acks(std::vector<uint64_t>& acks) {
  if (acks.empty() || lost_) return;
  send(Type::Ack, channel::encode_u64s(acks));
  acks.clear();
  if (handlers_.after_ack) handlers_.after_ack();
}

void ChannelClient::handle(channel::Message& m) {
  if (m.fd >= 0) {  // only Conn carries a descriptor
    spdlog::warn("channel: {} arrived with fd {}; closed it", channel::type_name(m.type), m.fd);
    ::close(m.fd);
    m.fd = -1;
  }
  switch (m.type) {
    case Type::Ping:
      // Echo the payload (the seq) whatever it is: rackd matches it.
      send(Type::Pong, m.payload);
      send_load();
      if (handlers_.on_ping) handlers_.on_ping();
      break;
    case Type::Drain:
      if (handlers_.on_drain) handlers_.on_drain();
      break;
    case Type::MetricsReq:
      if (auto seq = channel::decode_u64(m.payload))
        send_metrics(*seq);
      else
        spdlog::warn("channel: MetricsReq with a {}-byte payload; expected 8", m.payload.size());
      break;
    case Type::LogLevel:
      if (auto level = log::parse_level(m.payload)) {
        spdlog::set_level(*level);
        spdlog::info("log level set to {} by rackd", log::level_name(*level));
      } else {
        spdlog::warn("channel: LogLevel \"{}\" is not a level; ignored", log::json_escape(m.payload));
      }
      break;
    case Type::MergedMetricsRep:
      if (m.payload.size() >= sizeof(uint64_t)) {
        uint64_t seq = channel::decode_u64(std::string_view(m.payload).substr(0, sizeof(uint64_t))).value_or(0);
        merged_buf_.append(m.payload, sizeof(uint64_t));
        if (!(m.flags & channel::kFlagMore)) {
          std::string text = std::move(merged_buf_);
          merged_buf_.clear();
          if (handlers_.on_merged_metrics) handlers_.on_merged_metrics(seq, std::move(text));
        }
      }
      break;
    default:
      if (unknown_seen_.insert(static_cast<uint16_t>(m.type)).second)
        spdlog::warn("channel: ignoring message type {} ({}); logged once",
                     static_cast<unsigned>(m.type), channel::type_name(m.type));
      break;
  }
}

bool ChannelClient::send(Type type, std::string payload, int fd, uint16_t flags) {
  if (lost_) return false;
  if (queue_.empty()) {
    IoResult r = channel::send(fd_, type, payload, fd, flags);
    if (r == IoResult::Ok) return true;
    if (r != IoResult::WouldBlock) {
      lost(std::string("channel send: ") + std::strerror(errno));
      return false;
    }
  }
  int own = -1;
  if (fd >= 0 && (own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
    spdlog::error("channel: dup(fd {}) for a queued {}: {}", fd, channel::type_name(type), std::strerror(errno));
    return false;
  }
  queue_.push_back({type, std::move(payload), own, flags});
  update_poll();
  return true;
}

void ChannelClient::flush_queue() {
  while (!queue_.empty() && !lost_) {
    Outgoing& o = queue_.front();
    IoResult r = channel::send(fd_, o.type, o.payload, o.fd, o.flags);
    if (r == IoResult::WouldBlock) break;
    if (r != IoResult::Ok) return lost(std::string("channel send: ") + std::strerror(errno));
    if (o.fd >= 0) ::close(o.fd);
    queue_.pop_front();
  }
  update_poll();
  if (queue_.empty()) {
    auto callbacks = std::move(flushed_);
    flushed_.clear();
    for (auto& fn : callbacks) fn();
  }
}

void ChannelClient::when_flushed(std::function<void()> fn) {
  if (queue_.empty() || lost_)
    fn();
  else
    flushed_.push_back(std::move(fn));
}

void ChannelClient::send_ready() { send(Type::Ready, {}); }

void ChannelClient::send_recycle() { send(Type::Recycle, {}); }

void ChannelClient::send_health(std::string payload) { send(Type::Health, std::move(payload)); }

bool ChannelClient::send_conn_return(int fd) { return send(Type::ConnReturn, {}, fd); }

void ChannelClient::request_merged_metrics(uint64_t seq) {
  send(Type::MergedMetricsReq, channel::encode_u64(seq));
}

void ChannelClient::send_metrics(uint64_t seq) {
  std::string text = handlers_.metrics_text ? handlers_.metrics_text() : std::string();
  const std::size_t per = kMetricsChunk - sizeof(uint64_t);
  std::size_t off = 0;
  do {
    std::size_t n = std::min(per, text.size() - off);
    std::string payload = channel::encode_u64(seq);
    payload.append(text, off, n);
    off += n;
    send(Type::MetricsRep, std::move(payload), -1, off < text.size() ? channel::kFlagMore : 0);
  } while (off < text.size());
}

}  // namespace rack::worker
