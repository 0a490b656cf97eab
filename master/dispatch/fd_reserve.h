// Descriptors rackd keeps free for its own work whatever its clients do:
// spawning a worker takes about eight at once (a socketpair, the stdout and
// stderr pipes, the exec report pipe, a notify socket), a log rotation or
// `rackctl logs` two or three. A listener (apps, admin, control) stops
// accepting for 100 ms when fewer than reserve() descriptors are free, as
// it does at EMFILE: the kernel backlog holds new clients meanwhile, and
// respawns and rotations keep working at the limit.
//
// Descriptors are allocated lowest first, so a fresh fd numbered n means
// 0..n-1 are all in use: n >= RLIMIT_NOFILE - keep leaves fewer than keep
// free. has_room() probes once per accept batch (a dup and a close);
// room_for() checks each accepted fd with one comparison.
#pragma once

#include <cstdint>

namespace rack::master::fd_reserve {

inline constexpr int kReserved = 64;

// Re-reads RLIMIT_NOFILE (soft): at startup, then from the periodic tick,
// since `prlimit --pid` may change it under a running rackd.
void refresh();
// kReserved, or an eighth of a limit below 512 (a tight limit still
// leaves most of itself to clients).
int reserve();
// False when a new descriptor would lie within `keep` of the limit. The
// control socket keeps only half the reserve, so `rackctl` still works
// when the admin port is flooded into it.
bool has_room(int keep);
bool room_for(int accepted_fd, int keep);
// A listener stopped accepting for the reserve (counted, logged at most
// every 10 s).
void note_pause(const char* listener);
uint64_t pauses();

}  // namespace rack::master::fd_reserve
