#include "tools.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

namespace rack::test {

std::unique_ptr<SmallDisk> SmallDisk::mount(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (::geteuid() != 0 || ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=1m") != 0) return nullptr;
  return std::unique_ptr<SmallDisk>(new SmallDisk(dir));
}

SmallDisk::~SmallDisk() { ::umount2(dir_.c_str(), MNT_DETACH); }

void SmallDisk::fill_leaving(std::size_t free_kib) {
  std::ofstream filler(dir_ + "/filler");
  std::string block(4096, 'x');
  for (std::size_t i = 0; i < (1024 - free_kib) * 1024 / 4096; ++i) filler << block;
}

std::string which(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream in(std::string(path ? path : "") + ":/usr/bin:/usr/sbin:/usr/local/bin");
  std::string dir;
  while (std::getline(in, dir, ':')) {
    std::string p = dir + "/" + name;
    if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

std::string required_tool(const std::string& name, const std::string& package) {
  std::string p = which(name);
  REQUIRE_MESSAGE(!p.empty(), name << " not found: install the Debian " << package << " package (scripts/install-deps)");
  return p;
}

std::vector<std::string> fd_targets(pid_t pid) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::error_code link_ec;
    out.push_back(std::filesystem::read_symlink(it->path(), link_ec).string());
  }
  return out;
}

std::size_t fd_count(pid_t pid) { return fd_targets(pid).size(); }

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string doc_block(const std::string& doc, const std::string& name) {
  std::string text = read_text(std::string(RACK_SOURCE_DIR) + "/docs/" + doc);
  auto at = text.find("<!-- tested: " + name + " -->");
  REQUIRE_MESSAGE(at != std::string::npos, "docs/" << doc << " has no block " << name);
  auto open = text.find("```", at);
  auto start = text.find('\n', open) + 1;
  auto end = text.find("```", start);
  return text.substr(start, end - start);
}

std::string with_replaced(std::string s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

Child::Child(const std::vector<std::string>& argv, const std::string& log_path, const std::vector<std::string>& env) {
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setpgid(0, 0);  // its own group: the destructor ends what it starts too (chromium's helpers)
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log, 1);
    ::dup2(log, 2);
    for (auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

bool Child::alive() const {
  int st = 0;
  return pid_ > 0 && ::waitpid(pid_, &st, WNOHANG) == 0;
}

Child::~Child() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGTERM);
  int st = 0;
  if (!wait_until([&] { return ::waitpid(pid_, &st, WNOHANG) == pid_; }, 5s)) {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, &st, 0);
  }
  ::kill(-pid_, SIGKILL);  // helpers left in the group
}

Prometheus::Prometheus(Rack& rack, const std::vector<HostPort>& targets, const std::vector<std::string>& rule_files,
                       const std::string& alertmanager) {
  std::string bin = required_tool("prometheus", "prometheus");
  at_ = {"127.0.0.1", free_port()};
  std::string cfg = "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n  evaluation_interval: 500ms\n";
  if (!rule_files.empty()) {
    cfg += "rule_files:\n";
    for (auto& f : rule_files) cfg += "  - " + f + "\n";
  }
  if (!alertmanager.empty())
    cfg += "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['" + alertmanager + "']\n";
  cfg += "scrape_configs:\n  - job_name: rack\n    static_configs:\n      - targets: [";
  for (std::size_t i = 0; i < targets.size(); ++i) cfg += (i ? ", '" : "'") + targets[i].str() + "'";
  cfg += "]\n";
  std::string config = rack.write_file("prometheus.yml", cfg);
  log_path_ = rack.home() + "/prometheus.log";
  server_.emplace(std::vector<std::string>{bin, "--config.file=" + config,
                                           "--storage.tsdb.path=" + rack.home() + "/prometheus-data",
                                           "--web.listen-address=" + at_.str(), "--log.level=warn"},
                  log_path_);
  REQUIRE_MESSAGE(wait_until([&] { return http_get(at_.pair(), "/-/ready", 1s).status == 200; }, 30s, 200ms), log());
}

json Prometheus::query(const std::string& promql) {
  auto r = http_get(at_.pair(), "/api/v1/query?query=" + url_encode(promql), 10s);
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return json{{"error", "HTTP " + std::to_string(r.status) + ": " + r.body}};
  if (j.value("status", "") != "success") return json{{"error", j.value("error", r.body)}};
  return j["data"]["result"];
}

bool Prometheus::wait_for(const std::string& promql, std::chrono::milliseconds timeout) {
  return wait_until([&] {
    auto r = query(promql);
    return r.is_array() && !r.empty();
  }, timeout, 250ms);
}

}  // namespace rack::test

namespace rack::test {

Webhook::Webhook() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd_, 16) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  at_ = {"127.0.0.1", ntohs(a.sin_port)};
  thread_ = std::thread([this] { serve(); });
}

Webhook::~Webhook() {
  stop_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

std::vector<std::string> Webhook::bodies() {
  std::lock_guard<std::mutex> lock(mu_);
  return bodies_;
}

// One request per connection, read to its Content-Length (bounded).
void Webhook::serve() {
  while (!stop_) {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{2, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string in;
    char buf[8192];
    std::size_t want = std::string::npos;
    while (in.size() < (4u << 20)) {
      auto head_end = in.find("\r\n\r\n");
      if (head_end != std::string::npos && want == std::string::npos) {
        std::string head = in.substr(0, head_end);
        for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        auto cl = head.find("content-length:");
        want = head_end + 4 + (cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15)));
      }
      if (want != std::string::npos && in.size() >= want) break;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
    auto head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      std::lock_guard<std::mutex> lock(mu_);
      bodies_.push_back(in.substr(head_end + 4));
    }
    const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    ::send(c, ok, sizeof ok - 1, MSG_NOSIGNAL);
    ::close(c);
  }
}

}  // namespace rack::test
