// The upgrade itself: asking for one, the old image's execve(), and the
// new image's start from the state (or its way back to the old image).
//
//   old image                                  new image
//   request(): busy? check_binary()            
//   (next turns: the 202 reaches rackctl)
//   exec_image(): save() → memfd,
//   FD_CLOEXEC off, signals blocked,
//   execve(binary, --adopt-state M            resume(): version? adopt() →
//          --previous-image E)    ─────────►  resume(), signals unblocked, run()
//   execve failed: all as before,             refused or failed: fexecve(E,
//   last_upgrade says why                       --upgrade-failed why) → the old
//                                               image's resume() takes it back
#pragma once

#include <cstdint>
#include <string>

namespace rack::master {
class Supervisor;
}

namespace rack::master::upgrade {

// The RACK_HOME lock's fd (main.cc), kept across the exec so the flock
// never lapses.
void set_lock_fd(int fd);

// rackd's own binary as the file system names it now (after a package
// replaced it: the new file at the same path).
std::string default_binary();

// Checks and schedules an upgrade to `binary` ("" = default_binary()).
// Returns the attempt number, or 0 with `error` (nothing changes).
uint64_t request(Supervisor& sup, std::string binary, std::string& error);

// The new image, from main(): `rackd --adopt-state M --previous-image E
// [--upgrade-failed why]`. Returns rackd's exit code.
int resume(int state_fd, int previous_exe_fd, const std::string& failed);

}  // namespace rack::master::upgrade
