// Outside programs the observability tests run for real: Debian's
// prometheus, prometheus-alertmanager, chromium, tmux. Each is a Child the
// test owns (SIGTERM then SIGKILL when it goes out of scope; SIGKILL if
// the test binary dies), listening on a port chosen at run time.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include "harness.h"

namespace rack::test {

// A 1 MiB tmpfs mounted at a test's directory (created), for a real full
// disk; unmounted when it goes out of scope. mount() is empty when it
// cannot be mounted (not root): the test then says so and returns.
class SmallDisk {
 public:
  static std::unique_ptr<SmallDisk> mount(const std::string& dir);
  ~SmallDisk();
  // Writes <dir>/filler, 4 KiB blocks up to all but `free_kib` KiB of the
  // 1 MiB; remove it to make room again.
  void fill_leaving(std::size_t free_kib);
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

 private:
  explicit SmallDisk(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

struct HostPort {
  std::string host;
  int port = 0;
  std::pair<std::string, int> pair() const { return {host, port}; }
  std::string str() const { return host + ":" + std::to_string(port); }
};

// The path of a program in PATH (or /usr/bin, /usr/sbin); "" if absent.
std::string which(const std::string& name);
// Like which(), but its absence fails the test: scripts/install-deps
// installs every tool these tests use, and CI has them.
std::string required_tool(const std::string& name, const std::string& package);
int free_port();
// What a process's descriptors point at (/proc/<pid>/fd), and how many it
// has; none when it is gone. An entry that closes while it is read counts
// with an empty target.
std::vector<std::string> fd_targets(pid_t pid);
std::size_t fd_count(pid_t pid);
std::string url_encode(const std::string& s);
std::string read_text(const std::string& path);
// The code block after `<!-- tested: NAME -->` in docs/<doc> (the
// mechanism that keeps documented examples run as written); fails the test
// when there is none.
std::string doc_block(const std::string& doc, const std::string& name);
// `s` with every `from` replaced by `to`.
std::string with_replaced(std::string s, const std::string& from, const std::string& to);

class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log_path,
        const std::vector<std::string>& env = {});
  ~Child();
  Child(const Child&) = delete;
  pid_t pid() const { return pid_; }
  bool alive() const;

 private:
  pid_t pid_ = -1;
};

// A Prometheus server scraping `targets` every 500 ms, with `rule_files`.
class Prometheus {
 public:
  Prometheus(Rack& rack, const std::vector<HostPort>& targets, const std::vector<std::string>& rule_files = {},
             const std::string& alertmanager = "");
  HostPort at() const { return at_; }
  std::string log() const { return read_text(log_path_); }
  // An instant query: the API's data.result, or a json with "error".
  json query(const std::string& promql);
  // Waits until `promql` returns at least one series.
  bool wait_for(const std::string& promql, std::chrono::milliseconds timeout);

 private:
  HostPort at_;
  std::string log_path_;
  std::optional<Child> server_;
};

}  // namespace rack::test

namespace rack::test {

// A local HTTP receiver (Alertmanager's webhook): answers 200 to every
// POST and keeps the bodies.
class Webhook {
 public:
  Webhook();
  ~Webhook();
  Webhook(const Webhook&) = delete;
  std::string url(const std::string& path) const { return "http://" + at_.str() + path; }
  std::vector<std::string> bodies();

 private:
  void serve();
  HostPort at_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

}  // namespace rack::test
