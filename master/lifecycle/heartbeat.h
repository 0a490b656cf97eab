// When rackd pings a rack worker. Every ping costs three channel messages
// (Ping, and the worker's Pong and Load): with 400 workers pinged at every
// 250 ms tick that was 4,800 messages a second of rackd's idle CPU. A
// worker that answered less than 750 ms ago is not pinged again, so one
// ping a second or so; a heartbeat_timeout of 4 s or more (the default is
// 10 s) still gets at least four pings to answer before it is judged. A
// shorter timeout keeps a ping every tick. Pure.
#pragma once

#include <chrono>

namespace rack::master {

inline constexpr std::chrono::milliseconds kPingQuiet{750};

inline bool ping_due(std::chrono::steady_clock::duration since_pong, std::chrono::milliseconds heartbeat_timeout) {
  return heartbeat_timeout < std::chrono::seconds(4) || since_pong >= kPingQuiet;
}

}  // namespace rack::master
