#include "lifecycle/worker.h"

#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include <spdlog/spdlog.h>

#include "rack/timer.h"
#include "node/preload.h"
#include "metrics/prom_client.h"
#include "lifecycle/spawn.h"
#include "uv_handle.h"

namespace rack::master {

using channel::IoResult;
using channel::Type;
using SteadyClock = std::chrono::steady_clock;

std::string describe_exit(int st, bool we_killed) {
  if (WIFEXITED(st)) return "exit code " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    const char* abbrev = sigabbrev_np(sig);
    std::string s = "signal SIG" + std::string(abbrev ? abbrev : std::to_string(sig).c_str());
    if (sig == SIGKILL) s += we_killed ? " (sent by rackd)" : " (not sent by rackd: possible OOM kill)";
    if (WCOREDUMP(st)) s += ", core dumped";
    return s;
  }
  return "status " + std::to_string(st);
}

Worker::Worker(uv_loop_t* loop, WorkerEvents& events, WorkerId id, Slot slot, uint64_t generation,
               std::shared_ptr<const config::AppConfig> cfg)
    : loop_(loop), events_(events), id_(id), slot_(slot), generation_(generation), cfg_(std::move(cfg)) {}

Worker::~Worker() {
  close_handle(notify_poll_);
  if (notify_fd_ >= 0) ::close(notify_fd_);
  node_.reset();
  probe_.reset();
  close_handle(ready_timer_);
  close_handle(kill_timer_);
  close_channel();
  for (auto& [id, fd] : unacked_) ::close(fd);
}

double Worker::uptime_s() const {
  if (!life_.has_process()) return 0;
  return std::chrono::duration<double>(SteadyClock::now() - started_at_).count();
}

int Worker::start(int listen_fd, std::shared_ptr<AppLog> log, std::string& error) {
  const auto& c = *cfg_;
  SpawnRequest req;
  req.argv = c.run;
  req.cwd = c.cwd;
  req.env = c.env;
  req.env["RACK_APP"] = c.name;
  req.env["RACK_INSTANCE"] = std::to_string(slot_.index);
  req.env["RACK_GENERATION"] = std::to_string(generation_);
  if (!shm_path.empty()) req.env["RACK_SHM"] = shm_path;
  if (c.max_requests) {
    // Up to +10% jitter, so workers started together do not all recycle at once.
    uint64_t jitter = *c.max_requests / 10 ? static_cast<uint64_t>(std::rand()) % (*c.max_requests / 10 + 1) : 0;
    req.env["RACK_MAX_REQUESTS"] = std::to_string(*c.max_requests + jitter);
  }
  int theirs = -1;
  if (c.protocol == config::Protocol::Rack) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
      error = std::string("socketpair() failed: ") + std::strerror(errno);
      return -errno;
    }
    // Room for bursts of Conn messages without EAGAIN.
    int sz = 1 << 20;
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    channel_fd_ = sv[0];
    theirs = sv[1];
    req.fd3 = theirs;
    req.env["RACK_CHANNEL_FD"] = "3";
  } else if (c.protocol == config::Protocol::Inherit) {
    req.fd3 = listen_fd;
    req.env["LISTEN_FDS"] = "1";
    req.env["LISTEN_FDNAMES"] = c.name;
    req.set_listen_pid = true;
  }
  int node_ours = -1;
  if (c.protocol == config::Protocol::Node) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
      error = std::string("socketpair() failed: ") + std::strerror(errno);
      return -errno;
    }
    node_ours = sv[0];
    theirs = sv[1];
    req.fd3 = theirs;
    req.env["NODE_CHANNEL_FD"] = "3";
    req.env["NODE_CHANNEL_SERIALIZATION_MODE"] = "json";
    req.env["NODE_UNIQUE_ID"] = std::to_string(static_cast<uint64_t>(id_));
    req.env["NODE_APP_INSTANCE"] = std::to_string(slot_.index);
    const char* inherited = std::getenv("NODE_OPTIONS");
    auto own = c.env.find("NODE_OPTIONS");
    req.env["NODE_OPTIONS"] = node_preload::node_options(own != c.env.end() ? own->second : inherited ? inherited : "");
    // Many apps read PORT; give them the real one unless the config sets it.
    if (!c.env.count("PORT") && c.listen) req.env["PORT"] = std::to_string(c.listen->port ? c.listen->port : 0);
  }
  if (c.ready == config::ReadyMode::Notify) open_notify_socket(req.env);
  if (c.protocol == config::Protocol::Rack && !c.metrics_path.empty()) req.env["RACK_METRICS_PATH"] = c.metrics_path;

  Spawned sp;
  std::string what;
  int rc = spawn(req, sp, what);
  if (theirs >= 0) ::close(theirs);
  if (rc < 0) {
    close_channel();
    if (node_ours >= 0) ::close(node_ours);
    error = what + " failed: " + std::strerror(-rc);
    return rc;
  }
  if (node_ours >= 0) {
    NodeChannel::Events ev;
    ev.listening = [this] {
      if (!cfg_->wait_ready) mark_ready("listening");
    };
    ev.user_message = [this](const nlohmann::json& m) {
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
      spdlog::debug("{} slot {}: message from pid {}: {}", cfg_->name, slot_.index, pid_, m.dump());
    };
    ev.conn_result = [this](int fd, bool accepted) {
      if (accepted) {
        ::close(fd);
        events_.on_capacity(*this);
      } else {
        events_.on_conn_returned(*this, fd);
      }
    };
    node_ = std::make_unique<NodeChannel>(loop_, node_ours, c.name, node_sockname(listen_fd), std::move(ev));
  }
  pid_ = sp.pid;
  started_at_ = SteadyClock::now();
  last_pong_ = started_at_;
  reported_load_ = handed_since_report_ = 0;
  exited_ = false;
  proc_.reset();
  fail_reason.clear();
  if (life_.state() != WorkerState::Starting && !life_.go(WorkerState::Starting))
    spdlog::error("{} slot {}: bad transition {} -> starting", c.name, slot_.index, to_string(life_.state()));
  LogPipe::open(loop_, sp.out, log, LogStream::Out, slot_);
  LogPipe::open(loop_, sp.err, log, LogStream::Err, slot_);

  if (channel_fd_ >= 0) {
    channel_poll_ = new_handle<uv_poll_t>(this);
    uv_poll_init(loop_, channel_poll_, channel_fd_);
    watch_channel(false);
  }

  // Readiness: rack workers say Ready; other protocols count as ready once
  // they have stayed up for min_uptime (DESIGN.md), so the "ready timer"
  // is the success path for them and the failure path for rack.
  if (!ready_timer_) {
    ready_timer_ = new_handle<uv_timer_t>(this);
    uv_timer_init(loop_, ready_timer_);
  }
  bool signals_ready = c.protocol == config::Protocol::Rack || c.protocol == config::Protocol::Node ||
                       c.ready == config::ReadyMode::Notify || c.ready == config::ReadyMode::Http;
  if (c.ready == config::ReadyMode::Http && c.listen) {
    config::ListenAddr target = *c.listen;
    if (listen_fd >= 0) {
      auto sn = node_sockname(listen_fd);  // the bound port, when listen used port 0
      if (sn.is_object()) target.port = sn["port"].get<uint16_t>();
    }
    probe_ = std::make_unique<HttpProbe>(loop_, target, c.ready_http_path, [this] { mark_ready("HTTP probe answered 2xx"); });
  }
  auto wait = signals_ready ? c.ready_timeout : std::min(c.restart.min_uptime, c.ready_timeout);
  uv_timer_start(ready_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<Worker*>(t->data);
    if (!self || self->state() != WorkerState::Starting) return;
    const auto& c = self->cfg();
    bool signals = c.protocol == config::Protocol::Rack || c.protocol == config::Protocol::Node ||
                   c.ready == config::ReadyMode::Notify || c.ready == config::ReadyMode::Http;
    if (signals) self->events_.on_ready_timeout(*self);
    else self->mark_ready("alive for min_uptime");
  }, static_cast<uint64_t>(wait.count()), 0);
  spdlog::info("{} slot {}: started pid {} (generation {})", c.name, slot_.index, pid_, generation_);
  return 0;
}

bool Worker::send(Type type, std::string_view payload, int fd, uint16_t flags) {
  if (channel_fd_ < 0) return false;
  if (!outbox_.empty()) {
    // Keep order: once something is queued, everything queues behind it.
    outbox_.push_back({type, std::string(payload), fd >= 0 ? ::dup(fd) : -1, flags});
    return true;
  }
  switch (channel::send(channel_fd_, type, payload, fd, flags)) {
    case IoResult::Ok:
      return true;
    case IoResult::WouldBlock:
      outbox_.push_back({type, std::string(payload), fd >= 0 ? ::dup(fd) : -1, flags});
      watch_channel(true);
      return true;
    case IoResult::Closed:
    case IoResult::Error:
      return false;
  }
  return false;
}

void Worker::mark_ready(const char* how) {
  if (life_.state() != WorkerState::Starting || !life_.go(WorkerState::Ready)) return;
  // Not from inside the probe's own callback: destroy it on the next turn.
  if (probe_) {
    std::shared_ptr<HttpProbe> doomed(probe_.release());
    rack::after(loop_, 0, [doomed] {});
  }
  if (ready_timer_) uv_timer_stop(ready_timer_);
  spdlog::info("{} slot {}: pid {} ready after {:.0f} ms ({})", cfg_->name, slot_.index, pid_, uptime_s() * 1000,
               how);
  events_.on_ready(*this);
}

bool Worker::give(int fd) {
  if (exited_) return false;
  if (node_) {
    if (!life_.in_rotation() || !node_->give(fd)) return false;
    ++handed_since_report_;
    ++dispatched_;
    return true;
  }
  if (channel_fd_ < 0 || !life_.in_rotation()) return false;
  // Connections are not queued in the outbox: if the channel is full the
  // worker is behind, and the dispatcher should try someone else.
  if (!outbox_.empty()) return false;
  static uint64_t next_conn_id = 1;
  uint64_t id = next_conn_id++;
  auto r = channel::send(channel_fd_, Type::Conn, channel::encode_u64(id), fd);
  // Full: told when it has room again (flush_outbox → on_capacity).
  if (r == IoResult::WouldBlock) watch_channel(true);
  if (r != IoResult::Ok) return false;
  unacked_.emplace(id, fd);
  ++handed_since_report_;
  ++dispatched_;
  return true;
}

std::vector<int> Worker::take_unacked() {
  std::vector<int> fds;
  fds.reserve(unacked_.size());
  for (auto& [id, fd] : unacked_) fds.push_back(fd);
  unacked_.clear();
  if (node_) {
    for (int fd : node_->take_unanswered()) fds.push_back(fd);
  }
  return fds;
}

void Worker::flush_outbox() {
  while (!outbox_.empty()) {
    auto& m = outbox_.front();
    auto r = channel::send(channel_fd_, m.type, m.payload, m.fd, m.flags);
    if (r == IoResult::WouldBlock) return;
    if (m.fd >= 0) ::close(m.fd);
    outbox_.pop_front();
    if (r != IoResult::Ok) break;
  }
  watch_channel(false);
  if (outbox_.empty()) events_.on_capacity(*this);  // give() refuses while anything is queued
}

void Worker::watch_channel(bool writable) {
  poll_readable(channel_poll_, watching_writable_, writable, [](uv_poll_t* h, int status, int events) {
    if (auto* self = static_cast<Worker*>(h->data)) self->on_channel_event(status, events);
  });
}

void Worker::on_channel_event(int status, int events) {
  if (status < 0) {
    // POLLERR (libuv says UV_EBADF): the worker closed with our messages
    // unread. What it sent before is still queued: read it, then close.
    if (channel_fd_ >= 0) read_channel(~0u);
    close_channel();
    return;
  }
  if (events & UV_WRITABLE) flush_outbox();
  if (events & UV_READABLE) read_channel();
}

void Worker::read_channel(unsigned max_messages) {
  channel::Message m;
  // Bounded per callback so one chatty worker cannot starve the loop.
  for (unsigned i = 0; i < max_messages && channel_fd_ >= 0; ++i) {
    auto r = channel::recv(channel_fd_, m);
    if (r == IoResult::WouldBlock) return;
    if (r != IoResult::Ok) {
      // EOF: the worker is exiting; the reaper will tell us how.
      close_channel();
      return;
    }
    switch (m.type) {
      case Type::Ready:
        mark_ready("Ready message");
        break;
      case Type::Ack:
        for (uint64_t id : channel::decode_u64s(m.payload)) {
          if (auto it = unacked_.find(id); it != unacked_.end()) {
            ::close(it->second);
            unacked_.erase(it);
          }
        }
        break;
      case Type::Pong:
        last_pong_ = SteadyClock::now();
        break;
      case Type::Load:
        if (auto v = channel::decode_u64(m.payload)) {
          reported_load_ = *v;
          handed_since_report_ = 0;
        }
        break;
      case Type::ConnReturn:
        if (m.fd >= 0) {
          events_.on_conn_returned(*this, m.fd);
          m.fd = -1;
        }
        break;
      case Type::MetricsRep: {
        // First 8 bytes: the request's seq (0 = the final snapshot of a
        // draining worker); then a piece of the text exposition.
        std::string_view p = m.payload;
        uint64_t seq = p.size() >= 8 ? channel::decode_u64(p.substr(0, 8)).value_or(0) : 0;
        if (p.size() >= 8) metrics_buf_.append(p.substr(8));
        if (!(m.flags & channel::kFlagMore)) {
          events_.on_metrics(*this, std::move(metrics_buf_), {}, seq == 0);
          metrics_buf_.clear();
        }
        break;
      }
      case Type::MergedMetricsReq:
        if (auto seq = channel::decode_u64(m.payload)) events_.on_merged_metrics_request(*this, *seq);
        break;
      case Type::Recycle:
        events_.on_recycle(*this);
        break;
      case Type::Health:
        if (auto checks = channel::decode_health(m.payload))
          health_checks_ = std::move(*checks);
        else
          spdlog::warn("{} slot {}: malformed Health message ({} bytes), ignored", cfg_->name, slot_.index,
                       m.payload.size());
        break;
      default:
        spdlog::warn("{} slot {}: unknown channel message type {} ({} bytes), ignored", cfg_->name,
                     slot_.index, static_cast<unsigned>(m.type), m.payload.size());
    }
    if (m.fd >= 0) ::close(m.fd);  // a descriptor on a message that carries none
    m.fd = -1;
  }
}

void Worker::close_channel() {
  close_handle(channel_poll_);
  for (auto& m : outbox_) {
    if (m.fd >= 0) ::close(m.fd);
  }
  outbox_.clear();
  if (channel_fd_ >= 0) ::close(channel_fd_);
  channel_fd_ = -1;
}

void Worker::signal(int sig, const char* why) {
  if (pid_ <= 0 || !life_.has_process()) return;
  spdlog::info("{} slot {}: sending SIG{} to pid {} ({})", cfg_->name, slot_.index, sigabbrev_np(sig), pid_,
               why);
  if (sig == SIGKILL) sent_sigkill_ = true;
  ::kill(pid_, sig);
}

void Worker::arm_kill_timer(std::chrono::milliseconds after, int sig, bool then_kill) {
  if (!kill_timer_) {
    kill_timer_ = new_handle<uv_timer_t>(this);
    uv_timer_init(loop_, kill_timer_);
  }
  next_signal_ = then_kill ? sig : -sig;  // negative: last step, no further escalation
  uv_timer_start(kill_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<Worker*>(t->data);
    if (!self || !self->life_.has_process()) return;
    int sig = self->next_signal_ > 0 ? self->next_signal_ : -self->next_signal_;
    bool more = self->next_signal_ > 0 && sig != SIGKILL;
    if (self->life_.state() == WorkerState::Draining) self->life_.go(WorkerState::Stopping);
    self->signal(sig, "kill_timeout passed");
    if (more) self->arm_kill_timer(self->cfg_->kill_timeout, SIGKILL, false);
  }, static_cast<uint64_t>(after.count()), 0);
}

void Worker::drain() {
  if (!life_.has_process() || life_.leaving()) return;
  if (ready_timer_) uv_timer_stop(ready_timer_);
  if (cfg_->protocol == config::Protocol::Rack && channel_fd_ >= 0) {
    life_.go(WorkerState::Draining);
    send(Type::Drain, {});
    arm_kill_timer(cfg_->kill_timeout, SIGTERM, true);
  } else if (node_ && node_->open()) {
    // node's cluster worker closes its servers and exits once the last
    // request is done (node_preload.js keeps idle keep-alive connections
    // until their next response says Connection: close).
    life_.go(WorkerState::Draining);
    // Its final metrics snapshot: node answers before it handles the
    // disconnect that follows (messages are handled in order).
    node_->send(prom_client::request(0));
    if (cfg_->shutdown_with_message) node_->send("shutdown");
    else node_->disconnect();
    arm_kill_timer(cfg_->kill_timeout, SIGTERM, true);
  } else {
    life_.go(WorkerState::Draining);
    signal(SIGTERM, "drain");
    arm_kill_timer(cfg_->kill_timeout, SIGKILL, false);
  }
}

void Worker::terminate() {
  if (!life_.has_process()) return;
  if (ready_timer_) uv_timer_stop(ready_timer_);
  if (life_.state() != WorkerState::Stopping) {
    if (life_.state() != WorkerState::Draining) life_.go(WorkerState::Draining);
    life_.go(WorkerState::Stopping);
  }
  signal(SIGTERM, "stop");
  arm_kill_timer(cfg_->kill_timeout, SIGKILL, false);
}

void Worker::abort_stuck() {
  if (!life_.has_process()) return;
  if (ready_timer_) uv_timer_stop(ready_timer_);
  if (life_.state() == WorkerState::Ready || life_.state() == WorkerState::Starting) life_.go(WorkerState::Stopping);
  else if (life_.state() == WorkerState::Draining) life_.go(WorkerState::Stopping);
  signal(SIGABRT, "event loop stuck: no heartbeat");
  arm_kill_timer(std::chrono::milliseconds(1000), SIGKILL, false);
}

void Worker::kill_now() {
  if (ready_timer_) uv_timer_stop(ready_timer_);
  signal(SIGKILL, fail_reason.empty() ? "kill" : fail_reason.c_str());
}

void Worker::process_exited(int wait_status) {
  exited_ = true;  // what the reads below set off (a drained queue) must not give it more
  last_wait_status = wait_status;
  last_exit = describe_exit(wait_status, sent_sigkill_);
  sent_sigkill_ = false;
  if (ready_timer_) uv_timer_stop(ready_timer_);
  if (kill_timer_) uv_timer_stop(kill_timer_);
  // Read all the worker said before it died: a final metrics snapshot, and
  // Acks and ConnReturns, so no connection it took goes to another worker
  // and none it handed back is dropped. The peer is gone: this ends.
  if (channel_fd_ >= 0) read_channel(~0u);
  close_channel();
  if (node_) {
    // Connections node never answered for go back to the dispatcher.
    uint64_t k = ~0ull;
    for (int fd : node_->take_unanswered()) unacked_.emplace(k--, fd);
    node_.reset();
  }
  close_handle(notify_poll_);
  if (notify_fd_ >= 0) ::close(notify_fd_);
  notify_fd_ = -1;
  probe_.reset();
  health_checks_.clear();
  pid_ = -1;
}

void Worker::ping() {
  if (cfg_->protocol != config::Protocol::Rack || channel_fd_ < 0) return;
  send(Type::Ping, channel::encode_u64(++ping_seq_));
}

void Worker::request_metrics(uint64_t seq) {
  if (cfg_->protocol == config::Protocol::Rack) send(Type::MetricsReq, channel::encode_u64(seq));
  else if (node_ && node_->open()) node_->send(prom_client::request(seq));
}

void Worker::send_merged_metrics(uint64_t seq, std::string_view text) {
  // Same framing as the worker's MetricsRep: u64 seq + a piece of the text,
  // kFlagMore on all but the last piece.
  const std::size_t per = channel::kMaxMessage - 16 - sizeof(uint64_t);
  std::size_t off = 0;
  do {
    std::size_t n = std::min(per, text.size() - off);
    std::string payload = channel::encode_u64(seq);
    payload.append(text.substr(off, n));
    off += n;
    if (!send(Type::MergedMetricsRep, payload, -1, off < text.size() ? channel::kFlagMore : 0)) return;
  } while (off < text.size());
}

void Worker::set_log_level(const std::string& level) {
  if (cfg_->protocol == config::Protocol::Rack) send(Type::LogLevel, level);
}

void Worker::sample_proc(SteadyClock::time_point now) {
  if (pid_ <= 0) return;
  auto s = read_proc(pid_);
  if (!s) return;
  if (proc_) {
    double wall = std::chrono::duration<double>(now - sampled_at_).count();
    cpu_percent_ = master::cpu_percent(*proc_, *s, wall);
  }
  proc_ = s;
  sampled_at_ = now;
}

// ---- sd_notify readiness ----------------------------------------------------

// An abstract-namespace datagram socket per worker: nothing on disk to clean
// up, and the sender is known by which socket the datagram arrived on.
void Worker::open_notify_socket(std::map<std::string, std::string>& env) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  std::string name = "rack-notify-" + std::to_string(::getpid()) + "-" + std::to_string(static_cast<uint64_t>(id_)) +
                     "-" + std::to_string(++ping_seq_);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path + 1, name.data(), name.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  // The abstract namespace has no file permissions: any local process
  // could send to it. SO_PASSCRED makes the kernel attach the sender's pid,
  // so read_notify() believes only the worker and its descendants (systemd's
  // NotifyAccess, roughly).
  int on = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&sun), len) != 0) {
    spdlog::warn("{} slot {}: cannot bind the notify socket: {}", cfg_->name, slot_.index, std::strerror(errno));
    ::close(fd);
    return;
  }
  close_handle(notify_poll_);
  if (notify_fd_ >= 0) ::close(notify_fd_);
  notify_fd_ = fd;
  env["NOTIFY_SOCKET"] = "@" + name;
  notify_poll_ = new_handle<uv_poll_t>(this);
  uv_poll_init(loop_, notify_poll_, notify_fd_);
  uv_poll_start(notify_poll_, UV_READABLE, [](uv_poll_t* h, int status, int) {
    if (auto* self = static_cast<Worker*>(h->data); self && status == 0) self->read_notify();
  });
}

namespace {

// True when `pid` is `ancestor`, in its process group (rackd makes every
// worker a group leader) or descends from it (a worker started through a
// shell that forks, say). Reads /proc/<pid>/stat up the chain. A sender
// that has already exited cannot be told apart from a stranger: it is not
// believed (systemd-notify --no-block can lose that race; without it,
// systemd-notify waits until rackd has read the message).
bool is_same_or_descendant(pid_t pid, pid_t ancestor) {
  if (pid == ancestor || ::getpgid(pid) == ancestor) return true;
  for (int hops = 0; hops < 32 && pid > 1; ++hops) {
    if (pid == ancestor) return true;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::size_t close = text.rfind(')');  // comm may hold spaces and parentheses
    if (close == std::string::npos) return false;
    char state = 0;
    long ppid = 0;
    if (std::sscanf(text.c_str() + close + 1, " %c %ld", &state, &ppid) != 2) return false;
    pid = static_cast<pid_t>(ppid);
  }
  return false;
}

}  // namespace

void Worker::read_notify() {
  char buf[4096];
  for (;;) {
    iovec iov{buf, sizeof buf};
    // Room for the credentials and some fds (FDSTORE=1, or the pipe of
    // sd_notify_barrier) for us to close; the kernel closes any beyond.
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(16 * sizeof(int))];
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(notify_fd_, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0) return;
    // sd_notify may carry fds (FDSTORE=1); Rack keeps none of them.
    if (int fd = channel::take_fd(mh); fd >= 0) ::close(fd);
    pid_t sender = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        sender = cred.pid;
      }
    }
    if (pid_ <= 0 || sender <= 0 || !is_same_or_descendant(sender, pid_)) {
      if (std::exchange(foreign_notify_logged_, true)) continue;  // once per worker: no log flooding
      spdlog::warn("{} slot {}: ignored a notify message from pid {}, not the worker (pid {}) or its child",
                   cfg_->name, slot_.index, sender, pid_);
      continue;
    }
    std::string_view msg(buf, static_cast<size_t>(n));
    // Newline-separated assignments; READY=1 is the one that matters.
    size_t pos = 0;
    while (pos < msg.size()) {
      size_t nl = msg.find('\n', pos);
      std::string_view kv = msg.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      if (kv == "READY=1") mark_ready("sd_notify READY=1");
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
  }
}

nlohmann::json node_sockname(int listen_fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (listen_fd < 0 || ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return nullptr;
  char host[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
    return {{"address", host}, {"family", "IPv6"}, {"port", ntohs(s6->sin6_port)}};
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
  return {{"address", host}, {"family", "IPv4"}, {"port", ntohs(s4->sin_port)}};
}

// ---- LogPipe ----------------------------------------------------------------

namespace {

struct PipeState {
  uv_pipe_t pipe;
  std::shared_ptr<AppLog> log;
  LineSplitter splitter;
  LogStream stream;
  Slot slot;
  std::string buf;
};

void on_pipe_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b);

void resume_reading(PipeState* ps) {
  uv_read_start(reinterpret_cast<uv_stream_t*>(&ps->pipe),
                [](uv_handle_t* h, size_t, uv_buf_t* b) {
                  auto* ps = static_cast<PipeState*>(h->data);
                  ps->buf.resize(64 * 1024);
                  *b = uv_buf_init(ps->buf.data(), ps->buf.size());
                },
                on_pipe_read);
}

void on_pipe_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
  auto* ps = static_cast<PipeState*>(s->data);
  if (n > 0) {
    if (!ps->log->feed(ps->splitter, ps->stream, ps->slot.index, std::string_view(b->base, n))) {
      // Disk slow or full and on_full=block: stop reading, so the pipe
      // fills and the worker blocks in write() instead of losing lines.
      uv_read_stop(s);
      ps->log->when_writable([ps] { resume_reading(ps); });
    }
    return;
  }
  if (n < 0) {
    // EOF or error: write the unterminated last line, if any, and let go.
    ps->log->finish(ps->splitter, ps->stream, ps->slot.index);
    uv_close(reinterpret_cast<uv_handle_t*>(s), [](uv_handle_t* h) { delete static_cast<PipeState*>(h->data); });
  }
}

}  // namespace

void LogPipe::open(uv_loop_t* loop, int fd, std::shared_ptr<AppLog> log, LogStream stream, Slot slot) {
  auto* ps = new PipeState{};
  ps->log = std::move(log);
  ps->stream = stream;
  ps->slot = slot;
  uv_pipe_init(loop, &ps->pipe, 0);
  ps->pipe.data = ps;
  if (uv_pipe_open(&ps->pipe, fd) != 0) {
    ::close(fd);
    uv_close(reinterpret_cast<uv_handle_t*>(&ps->pipe), [](uv_handle_t* h) { delete static_cast<PipeState*>(h->data); });
    return;
  }
  resume_reading(ps);
}

}  // namespace rack::master
