// The operations `rackctl monit` starts from a key (reload, restart, scale).
// A reload takes as long as its slots take to become ready, so each runs on
// its own thread with its own connection, and the screen keeps refreshing:
// the thread leaves its progress and result in `message` and writes a byte
// to `wake_fd`, which the terminal loop polls. One operation at a time.
#pragma once

#include <memory>
#include <mutex>
#include <string>

namespace rack::cli::monit {

class Actions {
 public:
  explicit Actions(int wake_fd);
  // False (and nothing started) while another operation runs.
  bool start(const std::string& app, const std::string& op, const std::string& argument = "");
  bool busy() const;
  // The latest progress or result; "" once taken.
  std::string take_message();

 private:
  struct State {
    mutable std::mutex mu;
    bool busy = false;
    std::string message;
    int wake_fd = -1;
    void post(const std::string& m, bool done);
  };
  std::shared_ptr<State> state_;
};

}  // namespace rack::cli::monit
