// When rackd pings a rack or node worker. Every ping costs two or three
// channel messages (Ping, the worker's Pong, and Load if its load changed),
// and each wakes the worker: at 400 idle workers the pings were a third of
// rackd's idle CPU. A worker that answered less than a quarter of its
// heartbeat_timeout ago (at least 1 s) is not pinged again: a ping every
// 2.5 s at the default 10 s timeout. One that has not answered since is
// pinged at every 250 ms tick until it is judged, so a stuck worker still
// gets a dozen pings or more to answer. A timeout under 4 s pings every
// tick.
// Pure.
#pragma once

#include <chrono>

namespace rack::master {

inline bool ping_due(std::chrono::steady_clock::duration since_pong, std::chrono::milliseconds heartbeat_timeout) {
  if (heartbeat_timeout < std::chrono::seconds(4)) return true;
  return since_pong >= heartbeat_timeout / 4;
}

}  // namespace rack::master
