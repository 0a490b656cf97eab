// Reading the state document, and the pre-flight check of it: what
// `rackd --check-state FD` runs in a child of the old image before the
// exec (upgrade/exec.cc), so that a new binary that cannot take the state
// over fails there, while every worker still has a rackd.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace rack::master::upgrade {

// The document in `fd` (a memfd), its "format" and "version" checked.
// nullopt with `error` when it is not one this image reads.
std::optional<nlohmann::json> read_state(int fd, std::string& error);

// Every field StateCodec::adopt() reads, read the same way (present, of its
// type, app configs and metric snapshots parsed, hex decoded, slots naming
// workers that exist, pipes naming apps that exist), without creating or
// touching anything. "" when adopt() would find nothing wrong with it,
// else what is wrong. Counts what it saw in `apps` and `workers`.
std::string check_state(const nlohmann::json& state, std::size_t& apps, std::size_t& workers);

// `rackd --check-state FD`: prints "state ok: ..." and returns 0, or the
// reason on stderr and 1.
int check_state_main(int fd);

}  // namespace rack::master::upgrade
