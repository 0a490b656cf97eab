// Before rackd execs another binary in its place, the checks that can fail
// without harm: after a successful execve there is no going back to this
// image except through the new one (state.h, rollback).
//
//   std::string err;
//   auto line = upgrade::check_binary("/usr/bin/rackd", err);
//   if (!line) refuse(err);   // "/usr/bin/rackd: not executable (mode 0644)"
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rack::master::upgrade {

// The path exists and is a regular file rackd may execute; it is an ELF
// executable of this machine's class, byte order and architecture; and
// `path --version` exits 0 within 5 s printing "rackd <version> ... reads
// state <list>" with our kStateVersion in the list. Returns that line, or
// nullopt with `error` naming the path and what was wrong.
std::optional<std::string> check_binary(const std::string& path, std::string& error);

// The pre-flight: `path --check-state FD` reads the state document in
// `state_fd` (a memfd) as the new image would, and checks every part of it
// without adopting anything (state_check.h). Returns its "state ok ..."
// line, or nullopt with `error`: what it printed when it refused, crashed
// or exited at once, as the real exec would have.
std::optional<std::string> check_state_with(const std::string& path, int state_fd, std::string& error);

// The ELF part alone: "" when `header` (the file's first bytes) is an
// executable for the same machine as `self` (rackd's own first bytes).
std::string elf_mismatch(const std::string& header, const std::string& self);

// The state versions a `--version` line says it reads ("reads state 1,2").
std::vector<int> state_versions_read(const std::string& version_line);

}  // namespace rack::master::upgrade
