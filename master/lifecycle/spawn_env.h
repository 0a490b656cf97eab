// What a worker process is started with, per protocol (DESIGN.md): argv,
// cwd, the environment rackd adds, and fd 3 — the rack channel, the node
// cluster channel or the inherited listening socket.
#pragma once

#include <cstdint>
#include <string>

#include "dispatch/dispatcher.h"
#include "lifecycle/spawn.h"
#include "rack/config.h"

namespace rack::master {

struct WorkerIdentity {
  WorkerId id{};
  int slot = 0;
  uint64_t generation = 0;
  std::string shm_path;  // the app's shared segment (RACK_SHM), or ""
  std::string busy_board;  // the app's busy board file (RACK_BUSY_BOARD), or ""
  std::size_t busy_entry = 0;  // the entry this worker writes (RACK_BUSY_ENTRY)
};

struct SpawnPlan {
  SpawnRequest req;
  int rack_channel = -1;  // rackd's end of the rack channel (SOCK_SEQPACKET)
  int node_channel = -1;  // rackd's end of the node channel (SOCK_STREAM)
  int theirs = -1;        // the worker's end, its fd 3: close it once spawned

  // Closes every end still held (after a failed spawn).
  void close_all();
};

// Fills `plan` for one start of a worker of `c`. `listen_fd` is the app's
// socket (protocol inherit passes it as fd 3). Returns 0, or a negative
// errno with `error` set when a channel cannot be made.
int plan_spawn(const config::AppConfig& c, const WorkerIdentity& who, int listen_fd, SpawnPlan& plan,
               std::string& error);

}  // namespace rack::master
