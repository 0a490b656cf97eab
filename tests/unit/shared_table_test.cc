// rack::SharedTable: windows, eviction, and sharing between real processes
// (forked children hitting the same segment, one of them killed mid-work).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "rack/shared_table.h"

using rack::SharedTable;
using namespace std::chrono_literals;

namespace {

// A zeroed file the size rackd makes, like RACK_SHM.
struct SegmentFile {
  std::string path;
  explicit SegmentFile(std::size_t bytes = 4u << 20) {
    char tmpl[] = "/tmp/rack-shm-test-XXXXXX";
    int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, static_cast<off_t>(bytes)) == 0);
    ::close(fd);
    path = tmpl;
  }
  ~SegmentFile() { ::unlink(path.c_str()); }
};

int wait_exit(pid_t pid) {
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace

TEST_CASE("shared table: counts per key in a fixed window that starts at the first hit") {
  std::string error;
  auto t = SharedTable::open_private(1 << 20, error);
  REQUIRE_MESSAGE(t, error);
  CHECK_FALSE(t->shared());
  CHECK(t->capacity() > 16000);

  const uint64_t t0 = 1'000'000;
  auto h = t->hit_at("10.0.0.1", 1min, t0);
  CHECK(h.ok);
  CHECK(h.count == 1);
  CHECK(h.resets_in == 60s);
  CHECK(t->hit_at("10.0.0.1", 1min, t0 + 1000).count == 2);
  CHECK(t->hit_at("10.0.0.1", 1min, t0 + 2000, 5).count == 7);  // cost
  CHECK(t->hit_at("10.0.0.2", 1min, t0 + 2000).count == 1);
  CHECK(t->peek_at("10.0.0.1", t0 + 30000).count == 7);
  CHECK(t->peek_at("10.0.0.1", t0 + 30000).resets_in == 30s);
  CHECK(t->peek_at("10.0.0.3", t0).count == 0);
  auto next = t->hit_at("10.0.0.1", 1min, t0 + 60000);  // the window is over: a new one
  CHECK(next.count == 1);
  CHECK(next.resets_in == 60s);
  CHECK(t->peek_at("10.0.0.1", t0 + 200000).count == 0);

  // Long keys are told apart by their hash when their first 39 bytes agree.
  std::string a(60, 'k'), b(60, 'k');
  b.back() = 'j';
  CHECK(t->hit_at(a, 1min, t0).count == 1);
  CHECK(t->hit_at(b, 1min, t0).count == 1);
  CHECK(t->hit_at(a, 1min, t0).count == 2);
}

TEST_CASE("shared table: a full table evicts the window that ends soonest and reuses expired slots") {
  std::string error;
  auto t = SharedTable::open_private(8192, error);  // about 126 entries
  REQUIRE_MESSAGE(t, error);
  std::size_t cap = t->capacity();
  const uint64_t t0 = 1'000'000;
  for (std::size_t i = 0; i < cap * 3; ++i) {
    auto h = t->hit_at("client-" + std::to_string(i), 1min, t0 + i);
    REQUIRE(h.ok);
    CHECK(h.count == 1);
  }
  CHECK(t->evictions() > 0);
  uint64_t evicted = t->evictions();
  // The oldest windows went first; the newest key is still counted.
  CHECK(t->peek_at("client-" + std::to_string(cap * 3 - 1), t0 + cap * 3).count == 1);
  CHECK(t->hit_at("client-" + std::to_string(cap * 3 - 1), 1min, t0 + cap * 3).count == 2);
  // Later, everything has expired: new keys take expired slots, no eviction.
  for (std::size_t i = 0; i < cap / 2; ++i) t->hit_at("late-" + std::to_string(i), 1min, t0 + 120000 + i);
  CHECK(t->evictions() == evicted);
}

TEST_CASE("shared table: a zeroed file is set up once and shared by processes that open it") {
  SegmentFile seg;
  std::string error;
  auto parent = SharedTable::open_file(seg.path, error);
  REQUIRE_MESSAGE(parent, error);
  CHECK(parent->shared());
  CHECK(parent->path() == seg.path);

  // 4 children, started at once (so they also race the attach), 500 hits each.
  std::vector<pid_t> kids;
  for (int k = 0; k < 4; ++k) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::string e;
      auto t = SharedTable::open_file(seg.path, e);
      if (!t) ::_exit(3);
      for (int i = 0; i < 500; ++i)
        if (!t->hit("203.0.113.7", 10min).ok) ::_exit(4);
      ::_exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) CHECK(wait_exit(k) == 0);
  CHECK(parent->peek("203.0.113.7").count == 2000);  // not one lost

  // RACK_SHM selects the file.
  ::setenv("RACK_SHM", seg.path.c_str(), 1);
  auto via_env = SharedTable::from_env(error);
  ::unsetenv("RACK_SHM");
  REQUIRE(via_env);
  CHECK(via_env->hit("203.0.113.7", 10min).count == 2001);

  // Something else in the file: refused, not overwritten.
  SegmentFile other(65536);
  int fd = ::open(other.path.c_str(), O_WRONLY);
  REQUIRE(::write(fd, "\x02\0\0\0junk", 8) == 8);
  ::close(fd);
  CHECK_FALSE(SharedTable::open_file(other.path, error));
  CHECK(error.find("something other") != std::string::npos);
  CHECK_FALSE(SharedTable::open_file("/nonexistent/rack-shm", error));
  SegmentFile tiny(100);
  CHECK_FALSE(SharedTable::open_file(tiny.path, error));
  CHECK(error.find("too small") != std::string::npos);
}

TEST_CASE("shared table: a process killed while using the table does not wedge the others") {
  SegmentFile seg;
  std::string error;
  auto t = SharedTable::open_file(seg.path, error);
  REQUIRE(t);
  // Each child hammers the lock and is SIGKILLed at a random point; some
  // die holding it. The robust mutex hands it on; every hit stays usable.
  for (int round = 0; round < 5; ++round) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::string e;
      auto c = SharedTable::open_file(seg.path, e);
      for (;;) c->hit("victim", 10min);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + round * 7));
    ::kill(pid, SIGKILL);
    CHECK(wait_exit(pid) == 128 + SIGKILL);
    auto before = t->peek("victim").count;
    auto h = t->hit("victim", 10min);
    CHECK(h.ok);
    CHECK(h.count >= before + 1);
  }
}
