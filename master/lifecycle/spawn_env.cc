#include "lifecycle/spawn_env.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "dispatch/sockname.h"
#include "node/preload.h"

namespace rack::master {

namespace {

void add_common_env(const config::AppConfig& c, const WorkerIdentity& who, SpawnRequest& req) {
  req.argv = c.run;
  req.cwd = c.cwd;
  req.env = c.env;
  req.inherit_env = c.inherit_env;
  req.uid = c.uid;
  req.gid = c.gid;
  if (c.uid && c.gid) {
    int n = 64;
    req.groups.resize(n);
    if (::getgrouplist(c.user.c_str(), *c.gid, req.groups.data(), &n) < 0) {
      req.groups.resize(n);
      ::getgrouplist(c.user.c_str(), *c.gid, req.groups.data(), &n);
    }
    req.groups.resize(n);
    // What a login as that user would have, unless the app sets them.
    if (const passwd* pw = ::getpwuid(*c.uid)) {
      req.env.try_emplace("HOME", pw->pw_dir);
      req.env.try_emplace("USER", pw->pw_name);
      req.env.try_emplace("LOGNAME", pw->pw_name);
    }
  }
  req.env["RACK_APP"] = c.name;
  req.env["RACK_INSTANCE"] = std::to_string(who.slot);
  req.env["RACK_GENERATION"] = std::to_string(who.generation);
  req.env["RACK_DISPATCH"] = config::to_string(c.dispatch);  // least-connections: workers report each close
  if (!who.shm_path.empty()) req.env["RACK_SHM"] = who.shm_path;
  // Only least-connections reads the board; other workers are not asked
  // to write it.
  if (!who.busy_board.empty() && c.dispatch == config::Dispatch::LeastConnections) {
    req.env["RACK_BUSY_BOARD"] = who.busy_board;
    req.env["RACK_BUSY_ENTRY"] = std::to_string(who.busy_entry);
  }
  if (c.max_requests) {
    // Up to +10% jitter, so workers started together do not all recycle at once.
    uint64_t jitter = *c.max_requests / 10 ? static_cast<uint64_t>(std::rand()) % (*c.max_requests / 10 + 1) : 0;
    req.env["RACK_MAX_REQUESTS"] = std::to_string(*c.max_requests + jitter);
  }
}

int socket_pair(int type, int sv[2], std::string& error) {
  if (::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0) return 0;
  int e = errno;
  error = std::string("socketpair() failed: ") + std::strerror(e);
  return -e;
}

int plan_rack(const config::AppConfig& c, SpawnPlan& plan, std::string& error) {
  int sv[2];
  if (int rc = socket_pair(SOCK_SEQPACKET, sv, error); rc < 0) return rc;
  // Room for bursts of Conn messages without EAGAIN.
  int sz = 1 << 20;
  ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  plan.rack_channel = sv[0];
  plan.theirs = sv[1];
  plan.req.fd3 = sv[1];
  plan.req.env["RACK_CHANNEL_FD"] = "3";
  if (!c.metrics_path.empty()) plan.req.env["RACK_METRICS_PATH"] = c.metrics_path;
  return 0;
}

int plan_node(const config::AppConfig& c, const WorkerIdentity& who, int listen_fd, SpawnPlan& plan,
              std::string& error) {
  int sv[2];
  if (int rc = socket_pair(SOCK_STREAM, sv, error); rc < 0) return rc;
  plan.node_channel = sv[0];
  plan.theirs = sv[1];
  auto& env = plan.req.env;
  plan.req.fd3 = sv[1];
  env["NODE_CHANNEL_FD"] = "3";
  env["NODE_CHANNEL_SERIALIZATION_MODE"] = "json";
  env["NODE_UNIQUE_ID"] = std::to_string(static_cast<uint64_t>(who.id));
  env["NODE_APP_INSTANCE"] = std::to_string(who.slot);
  const char* inherited = c.inherit_env ? std::getenv("NODE_OPTIONS") : nullptr;
  auto own = c.env.find("NODE_OPTIONS");
  env["NODE_OPTIONS"] = node_preload::node_options(own != c.env.end() ? own->second : inherited ? inherited : "");
  // Many apps read PORT; give them the real one (the bound socket's, so
  // listen: 127.0.0.1:0 gives the port the kernel chose) unless the config sets it.
  if (!c.env.count("PORT") && c.listen) {
    auto bound = sockname(listen_fd);
    env["PORT"] = std::to_string(bound ? bound->port : c.listen->port);
  }
  // The preload turns this signal into the cluster's graceful disconnect.
  env["RACK_STOP_SIGNAL"] = std::string("SIG") + sigabbrev_np(config::stop_signal_of(c));
  // Only least-connections reads the preload's load reports: other apps
  // are spared a message per loop turn of a busy worker.
  if (c.dispatch == config::Dispatch::LeastConnections) env["RACK_LOAD_REPORTS"] = "1";
  return 0;
}

void plan_inherit(const config::AppConfig& c, int listen_fd, SpawnPlan& plan) {
  plan.req.fd3 = listen_fd;
  plan.req.env["LISTEN_FDS"] = "1";
  plan.req.env["LISTEN_FDNAMES"] = c.name;
  plan.req.set_listen_pid = true;
}

}  // namespace

void SpawnPlan::close_all() {
  for (int* fd : {&rack_channel, &node_channel, &theirs}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

int plan_spawn(const config::AppConfig& c, const WorkerIdentity& who, int listen_fd, SpawnPlan& plan,
               std::string& error) {
  add_common_env(c, who, plan.req);
  switch (c.protocol) {
    case config::Protocol::Rack: return plan_rack(c, plan, error);
    case config::Protocol::Node: return plan_node(c, who, listen_fd, plan, error);
    case config::Protocol::Inherit: plan_inherit(c, listen_fd, plan); return 0;
    case config::Protocol::None: return 0;
  }
  return 0;
}

}  // namespace rack::master
