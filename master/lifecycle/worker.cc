#include "lifecycle/worker.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "dispatch/sockname.h"
#include "lifecycle/spawn.h"
#include "logs/log_pipe.h"
#include "metrics/prom_client.h"
#include "rack/json.h"
#include "rack/timer.h"
#include "uv_handle.h"

namespace rack::master {

using channel::IoResult;
using channel::Type;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Rack and node workers say when they are ready, and so do apps with
// `ready: notify` or `ready: {http}`; the others count as ready once they
// have stayed up for min_uptime (DESIGN.md).
bool signals_ready(const config::AppConfig& c) {
  return c.protocol == config::Protocol::Rack || c.protocol == config::Protocol::Node ||
         c.ready == config::ReadyMode::Notify || c.ready == config::ReadyMode::Http;
}

}  // namespace

Worker::Worker(uv_loop_t* loop, WorkerEvents& events, WorkerId id, Slot slot, uint64_t generation,
               std::shared_ptr<const config::AppConfig> cfg)
    : loop_(loop), events_(events), id_(id), slot_(slot), generation_(generation), cfg_(std::move(cfg)) {}

Worker::~Worker() {
  notify_.reset();
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
  SpawnPlan plan;
  if (int rc = open_channels(listen_fd, error, plan); rc < 0) return rc;
  Spawned sp;
  std::string what;
  int rc = spawn(plan.req, sp, what);
  if (plan.theirs >= 0) ::close(std::exchange(plan.theirs, -1));
  if (rc < 0) {
    plan.close_all();
    notify_.reset();
    error = what + " failed: " + std::strerror(-rc);
    return rc;
  }
  if (plan.rack_channel >= 0) {
    rack_ = std::make_unique<RackChannel>(loop_, std::exchange(plan.rack_channel, -1), rack_events());
  }
  if (plan.node_channel >= 0) attach_node(std::exchange(plan.node_channel, -1), listen_fd);
  listen_addr_ = sockname(listen_fd);
  merged_pending_ = 0;
  metrics_buf_.clear();
  metrics_overflow_ = false;
  pid_ = sp.pid;
  started_at_ = SteadyClock::now();
  oom_kills_at_start_ = oom_kills();
  last_pong_ = started_at_;
  answers_pings_ = false;
  node_ping_pending_ = false;
  load_ = LoadCount{};
  exited_ = false;
  asked_.reset();
  proc_.reset();
  fail_reason.clear();
  out_flow_ = LogPipe::open(loop_, sp.out, log, LogStream::Out, slot_.index);
  err_flow_ = LogPipe::open(loop_, sp.err, log, LogStream::Err, slot_.index);
  enter(WorkerState::Starting);
  spdlog::info("{} slot {}: started pid {} (generation {})", c.name, slot_.index, pid_, generation_);
  return 0;
}

// The environment and fd 3 for the protocol, and the sd_notify socket when
// the app signals readiness that way.
int Worker::open_channels(int listen_fd, std::string& error, SpawnPlan& plan) {
  WorkerIdentity who{id_, slot_.index, generation_, shm_path, busy_board_ ? busy_board_->path() : std::string(),
                     busy_board::entry_of(slot_.index, generation_)};
  if (int rc = plan_spawn(*cfg_, who, listen_fd, plan, error); rc < 0) return rc;
  notify_.reset();
  if (cfg_->ready == config::ReadyMode::Notify) {
    std::string name = "rack-notify-" + std::to_string(::getpid()) + "-" + std::to_string(static_cast<uint64_t>(id_)) +
                       "-" + std::to_string(++notify_seq_);
    notify_ = NotifySocket::open(
        loop_, name, cfg_->name + " slot " + std::to_string(slot_.index), [this] { return pid_; },
        [this] { mark_ready("sd_notify READY=1"); });
    if (notify_) plan.req.env["NOTIFY_SOCKET"] = notify_->address();
  }
  return 0;
}

// ready: {http: path}: the probe polls the app's address until it answers.
void Worker::arm_readiness() {
  const auto& c = *cfg_;
  if (c.ready != config::ReadyMode::Http || !c.listen) return;
  config::ListenAddr target = *c.listen;
  // The bound port, when listen used port 0.
  if (listen_addr_) target.port = listen_addr_->port;
  probe_ = std::make_unique<HttpProbe>(loop_, target, c.ready_http_path, [this] { mark_ready("HTTP probe answered 2xx"); });
}

// The ready timer is the failure path for workers that signal readiness
// (no signal within ready_timeout) and the success path for the others
// (alive for min_uptime).
void Worker::arm_ready_timer() {
  const auto& c = *cfg_;
  if (!ready_timer_) {
    ready_timer_ = new_handle<uv_timer_t>(this);
    uv_timer_init(loop_, ready_timer_);
  }
  auto wait = signals_ready(c) ? c.ready_timeout : std::min(c.restart.min_uptime, c.ready_timeout);
  ready_due_at_ = SteadyClock::now() + wait;
  uv_timer_start(ready_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<Worker*>(t->data);
    if (!self || self->state() != WorkerState::Starting) return;
    // Fired on SIGCONT before the tick saw the stall? Then the stall moved
    // this deadline (after_stall re-armed the timer): not judged yet.
    loop_stall::check();
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(t))) return;
    if (signals_ready(self->cfg())) self->events_.on_ready_timeout(*self);
    else self->mark_ready("alive for min_uptime");
  }, static_cast<uint64_t>(wait.count()), 0);
}

bool Worker::enter(WorkerState to, KillOrder kill) {
  WorkerState from = life_.state();
  bool first_start = fresh_ && from == WorkerState::Starting && to == WorkerState::Starting;
  // A further kill step for a process that is already being stopped.
  bool next_step = from == WorkerState::Stopping && to == WorkerState::Stopping && kill.step != KillStep::None;
  if (!first_start && !next_step && !life_.go(to)) {
    spdlog::error("{} slot {}: refused transition {} -> {} (a bug in rackd)", cfg_->name, slot_.index,
                  to_string(from), to_string(to));
    return false;
  }
  fresh_ = false;
  auto stop = [](uv_timer_t* t) {
    if (t) uv_timer_stop(t);
  };
  switch (to) {
    case WorkerState::Starting:
      kill_step_ = KillStep::None;
      arm_readiness();
      arm_ready_timer();
      break;
    case WorkerState::Ready:
      stop(ready_timer_);
      // Pinged from now on: however long the start took, the first
      // heartbeat_timeout counts from here.
      last_pong_ = SteadyClock::now();
      // Not from inside the probe's own callback: destroy it on the next turn.
      if (probe_) {
        std::shared_ptr<HttpProbe> doomed(probe_.release());
        rack::after(loop_, 0, [doomed] {});
      }
      break;
    case WorkerState::Draining:
    case WorkerState::Stopping:
      stop(ready_timer_);
      if (kill.step != KillStep::None) escalate(kill);
      break;
    case WorkerState::Backoff:
    case WorkerState::Errored:
    case WorkerState::Exited:
      stop(ready_timer_);
      stop(kill_timer_);
      kill_step_ = KillStep::None;
      break;
  }
  return true;
}

void Worker::mark_ready(const char* how) {
  if (life_.state() != WorkerState::Starting || !enter(WorkerState::Ready)) return;
  spdlog::info("{} slot {}: pid {} ready after {:.0f} ms ({})", cfg_->name, slot_.index, pid_, uptime_s() * 1000,
               how);
  events_.on_ready(*this);
}

void Worker::attach_busy_board(const BusyBoardFile* board) {
  busy_board_ = board;
  busy_entry_ = board ? board->entry(busy_board::entry_of(slot_.index, generation_)) : nullptr;
}

std::chrono::nanoseconds Worker::busy_for(SteadyClock::time_point now) const {
  if (!busy_entry_ || pid_ <= 0) return {};
  int32_t pid = busy_entry_->pid.load(std::memory_order_relaxed);
  int64_t since = busy_entry_->busy_since_ns.load(std::memory_order_relaxed);
  return busy_for_at(pid, since, static_cast<int32_t>(pid_),
                     std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
}

bool Worker::give(int fd) {
  if (exited_) return false;
  if (node_) {
    if (!life_.in_rotation() || !node_->give(fd)) return false;
    load_.handed(SteadyClock::now());
    ++dispatched_;
    return true;
  }
  if (!rack_ || !rack_->open() || !life_.in_rotation()) return false;
  uint64_t id = next_conn_id_++;
  if (rack_->send_conn(id, fd) != IoResult::Ok) return false;
  unacked_.emplace(id, fd);
  load_.handed(SteadyClock::now());
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

bool Worker::send(Type type, std::string_view payload, int fd, uint16_t flags) {
  return rack_ && rack_->send(type, payload, fd, flags);
}

void Worker::close_channel() {
  if (rack_) rack_->close();
}

RackChannel::Events Worker::rack_events() {
  RackChannel::Events ev;
  ev.message = [this](channel::Message& m) { on_rack_message(m); };
  ev.drained = [this] { events_.on_capacity(*this); };  // give() refuses while anything is queued
  ev.malformed = [this](const std::string& what) { protocol_error(what); };
  return ev;
}

// Every message of the wrong shape is a protocol error (rack/channel.h, "Bad
// messages"): counted, logged once per worker, and 32 replace the worker.
void Worker::on_rack_message(channel::Message& m) {
  if (m.fd >= 0 && m.type != Type::ConnReturn) {
    ::close(std::exchange(m.fd, -1));
    return protocol_error(std::string("a descriptor on a ") + channel::type_name(m.type) + " message");
  }
  auto bad_size = [&] {
    protocol_error(std::string(channel::type_name(m.type)) + " with a " + std::to_string(m.payload.size()) +
                   "-byte payload");
  };
  switch (m.type) {
    case Type::Ready:
      mark_ready("Ready message");
      break;
    case Type::Ack: {
      auto ids = channel::decode_u64s_exact(m.payload);
      if (!ids) return bad_size();
      for (uint64_t id : *ids) {
        if (auto it = unacked_.find(id); it != unacked_.end()) {
          ::close(it->second);
          unacked_.erase(it);
        }
      }
      events_.on_capacity(*this);  // a connection held for a taken worker may go now
      break;
    }
    case Type::Pong:
      last_pong_ = SteadyClock::now();
      break;
    case Type::Load:
      if (auto load = channel::decode_load(m.payload)) {
        load_.reported(load->active, load->received);
        events_.on_capacity(*this);  // sent as a connection closed: the worker may be free
      } else {
        bad_size();
      }
      break;
    case Type::ConnReturn:
      on_conn_return(m);
      break;
    case Type::MetricsRep:
      on_metrics_piece(m);
      break;
    case Type::MergedMetricsReq:
      on_merged_metrics_request(m);
      break;
    case Type::Recycle:
      events_.on_recycle(*this);
      break;
    case Type::Health:
      if (auto checks = channel::decode_health(m.payload)) health_checks_ = std::move(*checks);
      else protocol_error("a malformed Health message (" + std::to_string(m.payload.size()) + " bytes)");
      break;
    default:
      // A newer runtime may send what this rackd does not know, on every
      // turn of its loop: each one counts, so a flood gets it replaced.
      protocol_error("unknown message type " + std::to_string(static_cast<unsigned>(m.type)) + " (" +
                     std::to_string(m.payload.size()) + " bytes)");
  }
}

void Worker::protocol_error(const std::string& what) {
  if (++protocol_errors_ == 1)
    spdlog::warn("{} slot {}: pid {} sent a bad channel message, refused: {} (more are counted in "
                 "rack_worker_protocol_errors_total, not logged; {} replace the worker)",
                 cfg_->name, slot_.index, pid_, what, kMaxProtocolErrors);
  events_.on_protocol_error(*this);
}

// A worker can only give back what it was given: a connected TCP socket
// accepted on this app's listener, and no more of them than it received.
// Anything else (a pipe, a directory, a socket of its own) would be handed
// to another worker or held by rackd: closed and refused.
void Worker::on_conn_return(channel::Message& m) {
  if (m.fd < 0) return protocol_error("ConnReturn without a descriptor");
  int fd = std::exchange(m.fd, -1);
  std::string problem = listen_addr_ ? returned_conn_problem(fd, *listen_addr_) : "the app has no listener";
  if (problem.empty() && returned_ >= dispatched_)
    problem = "more connections returned than the " + std::to_string(dispatched_) + " given";
  if (!problem.empty()) {
    ::close(fd);
    return protocol_error("ConnReturn: " + problem);
  }
  ++returned_;
  events_.on_conn_returned(*this, fd);
}

void Worker::on_merged_metrics_request(const channel::Message& m) {
  auto seq = channel::decode_u64(m.payload);
  if (!seq) return protocol_error("MergedMetricsReq with a " + std::to_string(m.payload.size()) + "-byte payload");
  // Each is answered when a collection round ends; a worker asking faster
  // than that would only queue copies of the same text for itself.
  if (merged_pending_ >= kMaxMergedPending)
    return protocol_error("more than " + std::to_string(kMaxMergedPending) + " MergedMetricsReq unanswered");
  ++merged_pending_;
  events_.on_merged_metrics_request(*this, *seq);
}

// First 8 bytes: the request's seq (0 = the final snapshot of a draining
// worker); then a piece of the text exposition.
void Worker::on_metrics_piece(const channel::Message& m) {
  auto piece = channel::decode_metrics_piece(m.payload);
  if (!piece) return protocol_error("MetricsRep with a " + std::to_string(m.payload.size()) + "-byte payload");
  bool last = !(m.flags & channel::kFlagMore);
  if (!metrics_overflow_ && metrics_buf_.size() + piece->text.size() > kMaxMetricsSnapshot) {
    // Skipped up to its last piece; the snapshot before it stays in use.
    metrics_overflow_ = true;
    metrics_buf_.clear();
    metrics_buf_.shrink_to_fit();
    protocol_error("a metrics snapshot over " + std::to_string(kMaxMetricsSnapshot >> 20) + " MB");
  }
  if (metrics_overflow_) {
    if (last) metrics_overflow_ = false;
    return;
  }
  metrics_buf_.append(piece->text);
  if (last) {
    events_.on_metrics(*this, std::move(metrics_buf_), {}, piece->seq == 0);
    metrics_buf_.clear();
  }
}

void Worker::process_exited(int wait_status) {
  exited_ = true;  // what the reads below set off (a drained queue) must not give it more
  auto uptime = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(uptime_s()));
  // A SIGKILL rackd did not send: an OOM kill, unless the kernel's count
  // of them did not move while the worker ran (then someone killed it).
  OomKills oom = OomKills::Unknown;
  if (WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL && oom_kills_at_start_) {
    if (auto now = oom_kills()) oom = *now > *oom_kills_at_start_ ? OomKills::Some : OomKills::None;
  }
  exit_ = classify_exit(wait_status, asked_, kill_step_, uptime, oom);
  last_exit = exit_.describe();
  // Read all the worker said before it died: a final metrics snapshot, and
  // Acks and ConnReturns, so no connection it took goes to another worker
  // and none it handed back is dropped. The peer is gone: this ends.
  if (rack_ && rack_->open()) rack_->read(~0u);
  close_channel();
  if (node_) {
    // Connections node never answered for go back to the dispatcher.
    uint64_t k = ~0ull;
    for (int fd : node_->take_unanswered()) unacked_.emplace(k--, fd);
    node_.reset();
  }
  notify_.reset();
  probe_.reset();
  health_checks_.clear();
  pid_ = -1;
}

bool Worker::blocked_on_logs() const {
  return life_.has_process() && ((out_flow_ && out_flow_->held()) || (err_flow_ && err_flow_->held()));
}

void Worker::ping() {
  if (cfg_->protocol == config::Protocol::Rack && rack_ && rack_->open()) {
    send(Type::Ping, channel::encode_u64(++ping_seq_));
  } else if (node_ && node_->open() && !node_ping_pending_) {
    // One at a time: a stuck worker reads none, and pings queued behind
    // the first would only fill the channel (NodeChannel::kMaxOutboxBytes).
    node_->ping(++ping_seq_);
    node_ping_pending_ = true;
  }
}

bool Worker::judged_by_heartbeat() const {
  if (cfg_->protocol == config::Protocol::Rack) return true;
  return cfg_->protocol == config::Protocol::Node && answers_pings_;
}

void Worker::after_stall(const Stall& s) {
  last_pong_ = s.ended;
  // A deadline that fell before the stall began had its turn to fire.
  if (life_.state() != WorkerState::Starting || !ready_timer_ || ready_due_at_ <= s.began) return;
  ready_due_at_ += s.length();
  auto left = std::chrono::ceil<std::chrono::milliseconds>(std::max(ready_due_at_ - s.ended, SteadyClock::duration{}));
  uv_timer_start(ready_timer_, ready_timer_->timer_cb, static_cast<uint64_t>(left.count()), 0);
}

void Worker::request_metrics(uint64_t seq) {
  if (cfg_->protocol == config::Protocol::Rack) send(Type::MetricsReq, channel::encode_u64(seq));
  else if (node_ && node_->open()) node_->send(prom_client::request(seq));
}

void Worker::send_merged_metrics(uint64_t seq, std::string_view text) {
  if (merged_pending_ > 0) --merged_pending_;
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

// node: a message the preload turns into process.env.LOG_LEVEL and a
// process 'rack:loglevel' event (docs/node.md).
void Worker::set_log_level(const std::string& level) {
  if (cfg_->protocol == config::Protocol::Rack) send(Type::LogLevel, level);
  else if (node_ && node_->open()) node_->send({{"type", "rack:loglevel"}, {"level", level}});
}

// Once a second from the tick. The open descriptors are counted every
// kFdsEvery-th sample only: a directory read per process is most of an idle
// rackd's /proc cost, for a gauge scraped every 15 s or so.
void Worker::sample_proc(SteadyClock::time_point now, const ProcGroups& groups) {
  if (pid_ <= 0) return;
  constexpr unsigned kFdsEvery = 10;
  bool fds_due = !proc_ || ++samples_since_fds_ >= kFdsEvery;
  auto s = group_sample(groups, pid_, fds_due);  // the whole tree: a master and the workers it forked
  if (!s) return;
  if (fds_due) samples_since_fds_ = 0;
  else s->open_fds = proc_->open_fds;
  if (proc_) {
    double wall = std::chrono::duration<double>(now - sampled_at_).count();
    cpu_percent_ = master::cpu_percent(*proc_, *s, wall);
  }
  proc_ = s;
  sampled_at_ = now;
}

}  // namespace rack::master
