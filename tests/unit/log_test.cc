// Log capture: the line splitter and rotation policy as plain classes, and
// AppLog on a real uv loop writing real files in a temp directory.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "logs/app_log.h"
#include "logs/log_file.h"
#include "logs/log_reader.h"
#include "logs/rotated_files.h"
#include "logs/tail_mark.h"
#include "rack/offload.h"
#include "logs/rotation_policy.h"

using namespace rack::master;
using rack::config::LogConfig;
using rack::config::OnFull;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Piece {
  std::string text;
  bool continued;
};

std::vector<Piece> split(LineSplitter& s, std::vector<std::string> reads, bool finish = false) {
  std::vector<Piece> out;
  auto emit = [&](std::string_view l, bool c) { out.push_back({std::string(l), c}); };
  for (const auto& r : reads) s.feed(r, emit);
  if (finish) s.finish(emit);
  return out;
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

struct Fixture {
  std::string dir;
  uv_loop_t loop;
  LogStats stats;
  std::size_t fds_before = 0;

  Fixture() {
    char tmpl[] = "/tmp/rack-log-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = std::string(tmpl) + "/logs";  // missing: AppLog must create it
    uv_loop_init(&loop);
    fds_before = open_fds();  // after: the first loop creates libuv's global signal pipe
  }
  ~Fixture() {
    // Runs the outstanding sweep jobs and close callbacks; a handle left
    // open by AppLog would make uv_loop_close fail.
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(open_fds() == fds_before);  // no log file or temp file left open
    CHECK(uv_loop_close(&loop) == 0);
    fs::remove_all(fs::path(dir).parent_path());
  }

  // Runs the loop (ticking at least every 10 ms) until pred() or timeout.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s) {
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, [](uv_timer_t*) {}, 10, 10);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred() && std::chrono::steady_clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
    return pred();
  }
  void run_for(std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    run_until([&] { return std::chrono::steady_clock::now() >= until; }, d + 1s);
  }
};

LogConfig small_config(uint64_t max_size, bool compress, unsigned keep = 1000) {
  LogConfig c;
  c.max_size = max_size;
  c.compress = compress;
  c.keep = keep;
  return c;
}

// Plain or gzip: gzread passes plain files through.
std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  gzFile gz = gzopen(path.c_str(), "rb");
  if (gz == nullptr) return lines;
  std::string data;
  char buf[65536];
  int n;
  while ((n = gzread(gz, buf, sizeof buf)) > 0) data.append(buf, std::size_t(n));
  gzclose(gz);
  std::size_t at = 0;
  while (at < data.size()) {
    std::size_t nl = data.find('\n', at);
    REQUIRE(nl != std::string::npos);  // rackd always ends a line
    lines.push_back(data.substr(at, nl - at));
    at = nl + 1;
  }
  return lines;
}

// Every line of a stream, oldest rotated file first, the current file last.
std::vector<std::string> all_lines(const std::string& dir, const std::string& base) {
  auto rotated = list_rotated(dir, base);
  std::vector<std::string> lines;
  for (auto it = rotated.rbegin(); it != rotated.rend(); ++it) {
    auto part = read_lines(dir + "/" + it->name);
    lines.insert(lines.end(), part.begin(), part.end());
  }
  auto cur = read_lines(dir + "/" + base + ".log");
  lines.insert(lines.end(), cur.begin(), cur.end());
  return lines;
}

std::string body(const std::string& line) {
  auto p = parse_line_prefix(line);
  return p ? line.substr(p->length) : line;
}

std::string numbered(int slot, int n) {
  return "s=" + std::to_string(slot) + " n=" + std::to_string(n) + " " +
         std::string(std::size_t(n % 37), 'x') + "\n";
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

// The disk-full seam.
std::atomic<bool> g_disk_full{false};
ssize_t full_disk_write(int fd, const void* buf, size_t len) {
  if (g_disk_full) {
    errno = ENOSPC;
    return -1;
  }
  return ::write(fd, buf, len);
}
struct SeamGuard {
  explicit SeamGuard(LogWriteFn fn) { set_log_write_fn_for_test(fn); }
  ~SeamGuard() {
    set_log_write_fn_for_test(nullptr);
    g_disk_full = false;
  }
};

}  // namespace

TEST_CASE("log: LineSplitter joins partial lines across reads") {
  LineSplitter s;
  auto out = split(s, {"he", "llo\nwor", "ld\n\nlast"});
  REQUIRE(out.size() == 3);
  CHECK(out[0].text == "hello");
  CHECK(out[1].text == "world");
  CHECK(out[2].text == "");
  CHECK(s.pending() == 4);
  out = split(s, {}, true);
  REQUIRE(out.size() == 1);
  CHECK(out[0].text == "last");
  CHECK_FALSE(out[0].continued);
  CHECK(split(s, {}, true).empty());
}

TEST_CASE("log: count_lines counts every newline, at any length and alignment") {
  std::mt19937 rng(7);
  std::string data(70000, 'x');
  for (auto& c : data) {
    if (rng() % 50 == 0) c = '\n';
  }
  data.replace(0, 20, 20, '\n');  // a run of newlines, and one in the last byte
  data.back() = '\n';
  for (std::size_t start : {0, 1, 7, 15, 16, 33}) {
    for (std::size_t len : {0, 1, 15, 16, 17, 255 * 16, 255 * 16 + 5, 4096 * 16 + 3}) {
      if (start + len > data.size()) len = data.size() - start;
      std::string_view v = std::string_view(data).substr(start, len);
      CAPTURE(start);
      CAPTURE(len);
      CHECK(count_lines(v) == std::size_t(std::count(v.begin(), v.end(), '\n')));
    }
  }
  std::string_view all(data);
  CHECK(count_lines(all.substr(1)) == std::size_t(std::count(all.begin() + 1, all.end(), '\n')));
}

TEST_CASE("log: LineSplitter cuts lines longer than max_line and marks the pieces") {
  LineSplitter s(4);
  auto out = split(s, {"abcdefghij\n"});
  REQUIRE(out.size() == 3);
  CHECK((out[0].text == "abcd" && out[0].continued));
  CHECK((out[1].text == "efgh" && out[1].continued));
  CHECK((out[2].text == "ij" && !out[2].continued));

  // Exactly max_line bytes, newline in the next read: one whole line.
  out = split(s, {"wxyz", "\n"});
  REQUIRE(out.size() == 1);
  CHECK((out[0].text == "wxyz" && !out[0].continued));

  // A runaway writer without newlines: held back at most max_line bytes.
  out = split(s, {"12", "345", "6789"});
  CHECK(s.pending() <= 4);
  REQUIRE(out.size() == 2);
  CHECK((out[0].text == "1234" && out[0].continued));
  CHECK((out[1].text == "5678" && out[1].continued));
  out = split(s, {"\n"});
  REQUIRE(out.size() == 1);
  CHECK((out[0].text == "9" && !out[0].continued));
}

TEST_CASE("log: line prefix is ISO-8601 UTC with milliseconds and the slot") {
  SysTime t = std::chrono::sys_days(std::chrono::year(2026) / 11 / 22) + 3h + 20min + 59s + 123ms;
  std::string p;
  append_line_prefix(p, t, 3);
  CHECK(p == "2026-11-22T03:20:59.123Z [3] ");
  auto parsed = parse_line_prefix(p + "the line");
  REQUIRE(parsed);
  CHECK(parsed->time == t);
  CHECK(parsed->slot == 3);
  CHECK(parsed->length == p.size());
  CHECK_FALSE(parse_line_prefix("2026-11-22T03:20:59.123Z without slot"));
  CHECK_FALSE(parse_line_prefix("plain line"));
  CHECK_FALSE(parse_line_prefix("2026-13-22T03:20:59.123Z [1] bad month"));
}

TEST_CASE("log: rotated names sort by time and parse back") {
  SysTime t = std::chrono::sys_days(std::chrono::year(2026) / 11 / 22) + 3h + 20min + 59s + 123ms;
  CHECK(rotated_name("web.out", t, 0) == "web.out.2026-11-22T03-20-59.123Z.log");
  CHECK(rotated_name("web.out", t, 1) == "web.out.2026-11-22T03-20-59.123Z_1.log");
  // ls order = rotation order, also across compression and the counter.
  std::vector<std::string> names = {rotated_name("web.out", t, 0) + ".gz",
                                    rotated_name("web.out", t, 1),
                                    rotated_name("web.out", t + 1ms, 0)};
  CHECK(std::is_sorted(names.begin(), names.end()));

  auto f = parse_rotated("web.out", "web.out.2026-11-22T03-20-59.123Z_2.log.gz");
  REQUIRE(f);
  CHECK(f->time == t);
  CHECK(f->counter == 2);
  CHECK(f->compressed);
  CHECK_FALSE(parse_rotated("web.out", "web.out.log"));
  CHECK_FALSE(parse_rotated("web.out", "web.out.out.2026-11-22T03-20-59.123Z.log"));
  CHECK_FALSE(parse_rotated("web.out", "web.out.2026-11-22T03-20-59.123Z.log.gz.tmp.ab12CD"));
  CHECK_FALSE(parse_rotated("web", "web.out.2026-11-22T03-20-59.123Z.log"));
}

TEST_CASE("log: retention keeps the newest and drops what is past max_age") {
  SysTime now = std::chrono::sys_days(std::chrono::year(2026) / 11 / 22);
  std::vector<RotatedFile> files;
  for (int i = 0; i < 6; ++i) {
    SysTime t = now - std::chrono::hours(i * 10);
    files.push_back(*parse_rotated("a.out", rotated_name("a.out", t, 0) + (i % 2 ? ".gz" : "")));
  }
  // Compression interrupted: plain and .gz of the newest both exist. One rotation.
  files.push_back(*parse_rotated("a.out", rotated_name("a.out", now, 0) + ".gz"));

  auto names = [](std::vector<RotatedFile> v) {
    std::vector<std::string> n;
    for (auto& f : v) n.push_back(f.name);
    std::sort(n.begin(), n.end());
    return n;
  };
  auto doomed = select_expired(files, 4, std::nullopt, now);
  CHECK(doomed.size() == 2);  // the 5th and 6th rotation
  CHECK(names(doomed) == names({files[4], files[5]}));

  doomed = select_expired(files, 100, std::chrono::hours(25), now);  // 30h, 40h, 50h old
  CHECK(names(doomed) == names({files[3], files[4], files[5]}));

  doomed = select_expired(files, 0, std::nullopt, now);
  CHECK(doomed.size() == files.size());
}

TEST_CASE("log: four writers through rotation and compression: every line once, in order") {
  // With time off, the whole lines of a read take the bulk path (appended
  // as one block) after the end of a line held back from the read before;
  // with the time prefix, everything goes line by line.
  bool time = true;
  SUBCASE("time prefix") { time = true; }
  SUBCASE("no prefix") { time = false; }
  CAPTURE(time);
  Fixture f;
  constexpr int kSlots = 4, kLines = 50000;
  uint64_t max_size = 256 * 1024;
  {
    LogConfig cfg = small_config(max_size, true);
    cfg.time = time;
    AppLog log(&f.loop, "web", cfg, f.dir, f.stats);
    std::vector<LineSplitter> splitters(kSlots);
    std::vector<std::string> data(kSlots);
    std::vector<std::size_t> at(kSlots, 0);
    for (int s = 0; s < kSlots; ++s) {
      for (int n = 0; n < kLines; ++n) data[s] += numbered(s, n);
    }
    std::mt19937 rng(42);
    int left = kSlots, feeds = 0;
    while (left > 0) {
      int s = int(rng() % kSlots);
      if (at[s] == data[s].size()) continue;
      std::size_t len = std::min<std::size_t>(1 + rng() % 8192, data[s].size() - at[s]);
      if (rng() % 2 == 0) len = data[s].find('\n', at[s] + len - 1) + 1 - at[s];  // whole lines
      CHECK(log.feed(splitters[s], LogStream::Out, s, std::string_view(data[s]).substr(at[s], len)));
      at[s] += len;
      if (at[s] == data[s].size()) --left;
      if (++feeds % 64 == 0) uv_run(&f.loop, UV_RUN_NOWAIT);  // let sweeps complete meanwhile
    }
  }
  uv_run(&f.loop, UV_RUN_DEFAULT);  // until every compression is done

  auto rotated = list_rotated(f.dir, "web.out");
  CHECK(f.stats.rotations > 5);
  CHECK(rotated.size() == f.stats.rotations);
  for (const auto& r : rotated) CHECK(r.compressed);
  for (const auto& e : fs::directory_iterator(f.dir)) {
    CHECK(e.path().string().find(".tmp") == std::string::npos);
  }
  for (const auto& r : rotated) {  // size rotation: no file over max_size
    uint64_t bytes = 0;
    for (const auto& l : read_lines(f.dir + "/" + r.name)) bytes += l.size() + 1;
    CHECK(bytes <= max_size);
  }

  std::vector<int> next(kSlots, 0);
  auto lines = all_lines(f.dir, "web.out");
  CHECK(lines.size() == std::size_t(kSlots * kLines));
  bool ok = true;
  for (const auto& line : lines) {
    auto p = parse_line_prefix(line);
    if (time && !p) {
      ok = false;
      FAIL_CHECK("no prefix: " << line);
      break;
    }
    std::size_t text = time ? p->length : 0;
    int s = -1, n = -1;
    bool good = std::sscanf(line.c_str() + text, "s=%d n=%d", &s, &n) == 2 && s >= 0 && s < kSlots &&
                n == next[s] && (!time || s == p->slot) && line.substr(text) + "\n" == numbered(s, n);
    if (!good) {
      ok = false;
      FAIL_CHECK("unexpected line: " << line);
      break;
    }
    ++next[s];
  }
  CHECK(ok);
  for (int s = 0; s < kSlots; ++s) CHECK(next[s] == kLines);
  CHECK(f.stats.lines_written == uint64_t(kSlots * kLines));
  CHECK(f.stats.dropped_lines == 0);
  CHECK(f.stats.write_errors == 0);
}

TEST_CASE("log: keep and max_age delete old rotated files, a crash's leftovers are recovered") {
  Fixture f;
  fs::create_directories(f.dir);
  SysTime now = std::chrono::system_clock::now();
  auto p = [&](const std::string& name) { return f.dir + "/" + name; };
  std::string ancient = rotated_name("app.out", now - 24h * 400, 0);
  std::string r1 = rotated_name("app.out", now - 3h, 0);    // plain, never compressed
  std::string r2 = rotated_name("app.out", now - 2h, 0);    // plain + complete .gz
  std::string r3 = rotated_name("app.out", now - 1h, 0);
  write_file(p(ancient), "old\n");
  write_file(p(r1), "one\n");
  write_file(p(r2), "two\n");
  {
    gzFile gz = gzopen(p(r2 + ".gz").c_str(), "wb");
    gzputs(gz, "two\n");
    gzclose(gz);
  }
  write_file(p(r3), "three\n");
  std::string stale = r3 + ".gz.tmp.AbCdEf";
  write_file(p(stale), "torn");
  struct timespec old_times[2] = {{0, 0}, {0, 0}};  // the epoch: long stale
  utimensat(AT_FDCWD, p(stale).c_str(), old_times, 0);

  LogConfig cfg = small_config(0, true, 3);
  cfg.max_age = 24h;
  { AppLog log(&f.loop, "app", cfg, f.dir, f.stats); }
  uv_run(&f.loop, UV_RUN_DEFAULT);

  CHECK_FALSE(fs::exists(p(ancient)));  // past max_age
  CHECK_FALSE(fs::exists(p(stale)));
  CHECK_FALSE(fs::exists(p(r2)));       // its .gz was complete
  for (auto* name : {&r1, &r2, &r3}) {
    CHECK_FALSE(fs::exists(p(*name)));
    CHECK(read_lines(p(*name + ".gz")).size() == 1);
  }

  SUBCASE("keep bounds the rotations of a running app") {
    LogConfig two = small_config(1024, false, 2);
    {
      AppLog log(&f.loop, "app", two, f.dir, f.stats);
      LineSplitter s;
      for (int n = 0; n < 2000; ++n) log.feed(s, LogStream::Out, 0, numbered(0, n));
    }
    uv_run(&f.loop, UV_RUN_DEFAULT);
    auto left = list_rotated(f.dir, "app.out");
    CHECK(left.size() == 2);
    CHECK(f.stats.rotations > 10);
    // The survivors are the newest: the current file continues where they end.
    auto lines = all_lines(f.dir, "app.out");
    REQUIRE(!lines.empty());
    CHECK(body(lines.back()) == "s=0 n=1999 " + std::string(1999 % 37, 'x'));
  }
}

TEST_CASE("log: disk full with on_full block loses nothing and resumes the reader") {
  Fixture f;
  SeamGuard seam(full_disk_write);
  LogConfig cfg = small_config(0, false);
  cfg.buffer = 16 * 1024;
  std::string expected;
  int n = 0;
  {
    AppLog log(&f.loop, "app", cfg, f.dir, f.stats);
    LineSplitter s;
    g_disk_full = true;
    bool ok = true;
    while (ok && n < 100000) {
      std::string chunk;
      for (int i = 0; i < 20; ++i) chunk += numbered(1, n++);
      expected += chunk;
      ok = log.feed(s, LogStream::Err, 1, chunk);
    }
    REQUIRE_FALSE(ok);  // the caller must stop reading
    CHECK(log.pending_bytes() > cfg.buffer);
    bool resumed = false;
    log.when_writable([&] { resumed = true; });
    f.run_for(450ms);  // retries every 200 ms, all failing
    CHECK_FALSE(resumed);
    CHECK(f.stats.write_errors >= 2);

    g_disk_full = false;
    CHECK(f.run_until([&] { return resumed; }));
    CHECK(log.pending_bytes() == 0);
    std::string more = numbered(1, n++);
    expected += more;
    CHECK(log.feed(s, LogStream::Err, 1, more));
  }
  std::vector<std::string> want;
  for (std::size_t at = 0; at < expected.size();) {
    std::size_t nl = expected.find('\n', at);
    want.push_back(expected.substr(at, nl - at));
    at = nl + 1;
  }
  auto lines = read_lines(f.dir + "/app.err.log");
  REQUIRE(lines.size() == want.size());
  for (std::size_t i = 0; i < lines.size(); ++i) REQUIRE(body(lines[i]) == want[i]);
  CHECK(f.stats.dropped_lines == 0);
}

TEST_CASE("log: disk full with on_full drop drops whole lines and counts them exactly") {
  Fixture f;
  SeamGuard seam(full_disk_write);
  LogConfig cfg = small_config(0, false);
  cfg.on_full = OnFull::Drop;
  cfg.buffer = 4096;
  constexpr int kLines = 1000;
  {
    AppLog log(&f.loop, "app", cfg, f.dir, f.stats);
    LineSplitter s;
    g_disk_full = true;
    for (int n = 0; n < kLines; ++n) CHECK(log.feed(s, LogStream::Out, 0, numbered(0, n)));
    CHECK(log.pending_bytes() <= cfg.buffer + 200);
    CHECK(f.stats.dropped_lines > 0);
    g_disk_full = false;
    CHECK(f.run_until([&] { return log.pending_bytes() == 0; }));
    for (int n = kLines; n < kLines + 10; ++n) log.feed(s, LogStream::Out, 0, numbered(0, n));
  }
  auto lines = read_lines(f.dir + "/app.out.log");
  uint64_t kept = kLines - f.stats.dropped_lines;
  REQUIRE(lines.size() == kept + 10);
  // What was kept is the head of the burst (then the disk filled), then all
  // of the lines after recovery: whole lines, none torn.
  for (uint64_t i = 0; i < kept; ++i) CHECK(body(lines[i]) + "\n" == numbered(0, int(i)));
  for (int i = 0; i < 10; ++i) CHECK(body(lines[kept + i]) + "\n" == numbered(0, kLines + i));
}

TEST_CASE("log: partial writes and EINTR are retried without tearing a line") {
  Fixture f;
  static int calls = 0;
  SeamGuard seam([](int fd, const void* buf, size_t len) -> ssize_t {
    if (++calls % 3 == 0) {
      errno = EINTR;
      return -1;
    }
    return ::write(fd, buf, std::min<size_t>(len, 7));
  });
  {
    AppLog log(&f.loop, "app", small_config(2048, false), f.dir, f.stats);
    LineSplitter s;
    for (int n = 0; n < 500; ++n) log.feed(s, LogStream::Out, 2, numbered(2, n));
  }
  {
    // Many lines in one read, written 7 bytes at a time: each partial
    // write's lines are counted as written.
    LogConfig cfg = small_config(0, false);
    cfg.time = false;
    AppLog log(&f.loop, "bulk", cfg, f.dir, f.stats);
    LineSplitter s;
    std::string block;
    for (int n = 0; n < 100; ++n) block += numbered(2, n);
    log.feed(s, LogStream::Out, 2, block);
  }
  auto lines = all_lines(f.dir, "app.out");
  REQUIRE(lines.size() == 500);
  for (int n = 0; n < 500; ++n) CHECK(body(lines[n]) + "\n" == numbered(2, n));
  CHECK(all_lines(f.dir, "bulk.out").size() == 100);
  CHECK(f.stats.lines_written == 600);
  CHECK(f.stats.write_errors == 0);
  CHECK(f.stats.rotations > 0);
}

TEST_CASE("log: a write cut short inside a line, then flush or reopen, tears no line") {
  Fixture f;
  static std::atomic<long> budget{-1};  // bytes the disk still takes; -1 = any
  SeamGuard seam([](int fd, const void* buf, size_t len) -> ssize_t {
    long b = budget;
    if (b < 0) return ::write(fd, buf, len);
    if (b == 0) {
      errno = ENOSPC;
      return -1;
    }
    ssize_t n = ::write(fd, buf, std::min<size_t>(len, size_t(b)));
    if (n > 0) budget -= n;
    return n;
  });
  bool reopen = false;
  SUBCASE("flush") { reopen = false; }
  SUBCASE("reopen after an external rename") { reopen = true; }
  budget = -1;
  LogConfig cfg = small_config(0, false);
  cfg.time = false;
  AppLog log(&f.loop, "app", cfg, f.dir, f.stats);
  LineSplitter s;
  std::string path = log.path(LogStream::Out);
  log.feed(s, LogStream::Out, 0, "first whole line\n");
  budget = 10;
  log.feed(s, LogStream::Out, 0, "second line, cut after ten bytes\n");
  {
    std::ifstream in(path);
    REQUIRE(std::string(std::istreambuf_iterator<char>(in), {}) == "first whole line\nsecond lin");
  }
  if (reopen) {
    fs::rename(path, f.dir + "/moved.log");
    log.reopen();
  } else {
    log.flush();
  }
  budget = -1;  // space again
  CHECK(f.run_until([&] { return log.pending_bytes() == 0; }));
  log.feed(s, LogStream::Out, 0, "third\n");
  std::vector<std::string> now = {"second line, cut after ten bytes", "third"};
  CHECK(read_lines(path) == now);
  if (reopen) CHECK(read_lines(f.dir + "/moved.log") == std::vector<std::string>{"first whole line"});
}

TEST_CASE("log: reopen after an external rename, flush, and time off") {
  Fixture f;
  LogConfig cfg = small_config(0, false);
  cfg.time = false;
  AppLog log(&f.loop, "app", cfg, f.dir, f.stats);
  LineSplitter s;
  log.feed(s, LogStream::Out, 0, "one\ntwo\n");
  fs::rename(log.path(LogStream::Out), f.dir + "/moved.log");  // logrotate
  log.feed(s, LogStream::Out, 0, "three\n");  // still the open file
  log.reopen();
  log.feed(s, LogStream::Out, 0, "four\n");
  CHECK(read_lines(f.dir + "/moved.log") == std::vector<std::string>{"one", "two", "three"});
  CHECK(read_lines(log.path(LogStream::Out)) == std::vector<std::string>{"four"});

  log.flush();
  CHECK(fs::file_size(log.path(LogStream::Out)) == 0);
  log.feed(s, LogStream::Out, 0, "five\nsix, then EOF");
  log.finish(s, LogStream::Out, 0);
  CHECK(read_lines(log.path(LogStream::Out)) == std::vector<std::string>{"five", "six, then EOF"});
}

TEST_CASE("log: subscribers see every line in order across rotations") {
  Fixture f;
  AppLog log(&f.loop, "app", small_config(2048, false), f.dir, f.stats);
  std::vector<LogLine> seen;
  int brief = 0;
  uint64_t id = log.subscribe([&](const LogLine& l) { seen.push_back(l); });
  uint64_t quitter = 0;
  quitter = log.subscribe([&](const LogLine&) {
    if (++brief == 10) log.unsubscribe(quitter);  // from inside its own callback
  });
  LineSplitter s;
  auto before = std::chrono::system_clock::now();
  for (int n = 0; n < 500; ++n) log.feed(s, LogStream::Err, 7, numbered(7, n));
  CHECK(f.stats.rotations > 5);
  REQUIRE(seen.size() == 500);
  for (int n = 0; n < 500; ++n) {
    CHECK(seen[n].text + "\n" == numbered(7, n));
    CHECK(seen[n].slot == 7);
    CHECK(seen[n].stream == LogStream::Err);
    CHECK(seen[n].app == "app");
    CHECK(seen[n].time >= before);
  }
  CHECK(brief == 10);
  log.unsubscribe(id);
  log.feed(s, LogStream::Err, 7, "after\n");
  CHECK(seen.size() == 500);
}

TEST_CASE("log: tail reads back into the newest rotated file, plain or gzip") {
  Fixture f;
  auto before = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  bool compress = false;
  SUBCASE("plain") { compress = false; }
  SUBCASE("gzip") { compress = true; }
  {
    AppLog log(&f.loop, "app", small_config(4096, compress), f.dir, f.stats);
    LineSplitter s;
    for (int n = 0; n < 300; ++n) log.feed(s, LogStream::Out, n % 4, numbered(n % 4, n));
  }
  uv_run(&f.loop, UV_RUN_DEFAULT);
  // More than the current file holds, less than current + one rotated file.
  int want = int(read_lines(f.dir + "/app.out.log").size()) + 30;
  REQUIRE(f.stats.rotations > 2);
  auto lines = tail(f.dir, "app", LogStream::Out, std::size_t(want));
  REQUIRE(lines.size() == std::size_t(want));
  for (int i = 0; i < want; ++i) {
    int n = 300 - want + i;
    CHECK(lines[i].text + "\n" == numbered(n % 4, n));
    CHECK(lines[i].slot == n % 4);
    CHECK(lines[i].time >= before);
    CHECK(lines[i].time <= std::chrono::system_clock::now());
  }
  CHECK(tail(f.dir, "app", LogStream::Out, 3).back().text + "\n" == numbered(3, 299));
  CHECK(tail(f.dir, "app", LogStream::Err, 10).empty());
  CHECK(tail(f.dir, "nope", LogStream::Out, 10).empty());
}

TEST_CASE("log: tail reads back through as many rotated files as n needs, plain and gzip mixed") {
  Fixture f;
  {
    AppLog log(&f.loop, "app", small_config(2048, true), f.dir, f.stats);
    LineSplitter s;
    for (int n = 0; n < 400; ++n) log.feed(s, LogStream::Out, n % 4, numbered(n % 4, n));
  }
  uv_run(&f.loop, UV_RUN_DEFAULT);  // the sweep compresses the rotated files
  REQUIRE(f.stats.rotations > 5);
  // One more rotation, left uncompressed: the newest rotated file is plain.
  {
    AppLog log(&f.loop, "app", small_config(2048, false), f.dir, f.stats);
    LineSplitter s;
    for (int n = 400; n < 450; ++n) log.feed(s, LogStream::Out, n % 4, numbered(n % 4, n));
  }
  uv_run(&f.loop, UV_RUN_DEFAULT);
  for (std::size_t want : {std::size_t(449), std::size_t(450), std::size_t(5000)}) {
    auto lines = tail(f.dir, "app", LogStream::Out, want);
    std::size_t got = std::min<std::size_t>(want, 450);
    REQUIRE(lines.size() == got);
    for (std::size_t i = 0; i < got; ++i) {
      int n = int(450 - got + i);
      if (lines[i].text + "\n" != numbered(n % 4, n)) {
        FAIL_CHECK("line " << i << " of " << want << ": " << lines[i].text);
        break;
      }
    }
  }
}

TEST_CASE("log: a tail mark reads what was written before it, whatever is written, rotated and compressed after") {
  Fixture f;
  bool compress = false;
  SUBCASE("plain") { compress = false; }
  SUBCASE("gzip") { compress = true; }
  AppLog log(&f.loop, "app", small_config(4096, compress), f.dir, f.stats);
  LineSplitter s;
  for (int n = 0; n < 300; ++n) log.feed(s, LogStream::Out, 0, numbered(0, n));
  REQUIRE(f.stats.rotations > 2);
  // More than the current file holds, less than current + one rotated file.
  int want = int(read_lines(f.dir + "/app.out.log").size()) + 30;
  TailMark mark(f.dir, "app", LogStream::Out);
  // After the mark: the current file rotates twice (renamed, then
  // compressed), and its successors fill.
  uint64_t rotations = f.stats.rotations;
  for (int n = 300; n < 600; ++n) log.feed(s, LogStream::Out, 0, numbered(0, n));
  REQUIRE(f.stats.rotations >= rotations + 2);
  uv_run(&f.loop, UV_RUN_DEFAULT);  // every compression done
  auto lines = mark.read(std::size_t(want));
  REQUIRE(lines.size() == std::size_t(want));
  for (int i = 0; i < want; ++i) CHECK(lines[i].text + "\n" == numbered(0, 300 - want + i));
  // A mark with nothing to read.
  CHECK(TailMark(f.dir, "nope", LogStream::Out).read(10).empty());
}

TEST_CASE("log: a tail mark taken while the disk is full ends with the lines not written yet") {
  Fixture f;
  static std::atomic<int> cap{0};  // > 0: each write takes at most this many bytes, then the disk is full
  SeamGuard seam([](int fd, const void* buf, size_t len) -> ssize_t {
    if (g_disk_full) {
      errno = ENOSPC;
      return -1;
    }
    if (cap > 0) {
      g_disk_full = true;
      return ::write(fd, buf, std::min<size_t>(len, size_t(cap.load())));
    }
    return ::write(fd, buf, len);
  });
  LogConfig cfg = small_config(0, false);
  cfg.time = false;
  AppLog log(&f.loop, "app", cfg, f.dir, f.stats);
  LineSplitter s;
  for (int n = 0; n < 5; ++n) log.feed(s, LogStream::Out, 0, numbered(0, n));
  cap = 10;  // line 5 is cut after 10 bytes, then nothing goes
  for (int n = 5; n < 10; ++n) log.feed(s, LogStream::Out, 0, numbered(0, n));
  REQUIRE(log.pending_bytes() > 0);
  TailMark mark(f.dir, "app", LogStream::Out, nullptr, &log, 8);
  uint64_t in_file = 0;
  CHECK(log.unwritten(LogStream::Out, in_file, 2) == numbered(0, 8) + numbered(0, 9));
  CHECK(in_file == 0);
  CHECK(log.unwritten(LogStream::Out, in_file, 100) == numbered(0, 5) + numbered(0, 6) + numbered(0, 7) +
                                                           numbered(0, 8) + numbered(0, 9));
  CHECK(in_file == 10);
  cap = 0;
  g_disk_full = false;  // the disk recovers; more lines come
  for (int n = 10; n < 15; ++n) log.feed(s, LogStream::Out, 0, numbered(0, n));
  auto lines = mark.read(8);
  REQUIRE(lines.size() == 8);
  for (int i = 0; i < 8; ++i) CHECK(lines[i].text + "\n" == numbered(0, 2 + i));
  REQUIRE(f.run_until([&] { return log.pending_bytes() == 0; }));  // the retry writes the rest
  CHECK(all_lines(f.dir, "app.out").size() == 15);
}

TEST_CASE("log: list_rotated over one listing agrees with list_rotated of the directory, base by base") {
  Fixture f;
  fs::create_directories(f.dir);
  SysTime t0 = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  auto at = [&](int s) { return t0 + std::chrono::seconds(s); };
  for (const auto& name : {rotated_name("app.out", at(1), 0), rotated_name("app.out", at(2), 0) + ".gz",
                           rotated_name("app.out", at(3), 0) + ".gz", rotated_name("app.out", at(3), 0),
                           rotated_name("app.out", at(3), 1) + ".gz", rotated_name("app.out2", at(9), 0),
                           rotated_name("app.err", at(8), 0), std::string("app.out.log"),
                           rotated_name("app.out", at(7), 0) + ".gz.tmp.abc123"}) {
    write_file(f.dir + "/" + name, "x\n");
  }
  auto names = dir_names(f.dir);
  for (const std::string base : {"app.out", "app.err", "app.out2", "nope.out"}) {
    CAPTURE(base);
    auto listed = list_rotated(f.dir, base);
    auto from_names = list_rotated(names, base);
    REQUIRE(from_names.size() == listed.size());
    for (std::size_t i = 0; i < listed.size(); ++i) {
      CHECK(from_names[i].name == listed[i].name);
      CHECK(from_names[i].compressed == listed[i].compressed);
    }
  }
  CHECK(list_rotated(names, "app.out").front().name == rotated_name("app.out", at(3), 1) + ".gz");
}

TEST_CASE("log: tail of a big file reads only its end") {
  Fixture f;
  fs::create_directories(f.dir);
  std::string data;
  for (int n = 0; n < 400000; ++n) data += numbered(0, n);  // ~12 MB, many blocks
  data += "no newline at the end";
  write_file(f.dir + "/big.out.log", data);
  auto lines = tail(f.dir, "big", LogStream::Out, 100000);
  REQUIRE(lines.size() == 100000);
  CHECK(lines.front().text + "\n" == numbered(0, 300001));
  CHECK(lines.back().text == "no newline at the end");
  CHECK(lines.front().slot == -1);
  auto last = tail(f.dir, "big", LogStream::Out, 2);
  REQUIRE(last.size() == 2);
  CHECK(last[0].text + "\n" == numbered(0, 399999));
}

TEST_CASE("log: rotate_every is on the clock: the next multiple of the interval since the epoch, in UTC") {
  using std::chrono::milliseconds;
  const uint64_t day = 24 * 3600 * 1000, hour = 3600 * 1000;
  SysTime t = SysTime{} + std::chrono::seconds(1796017430) + milliseconds(250);
  CHECK(format_iso_ms(t) == "2026-11-30T05:43:50.250Z");
  CHECK(format_iso_ms(t + milliseconds(ms_until_boundary(t, day))) == "2026-12-01T00:00:00.000Z");
  CHECK(format_iso_ms(t + milliseconds(ms_until_boundary(t, hour))) == "2026-11-30T06:00:00.000Z");
  CHECK(format_iso_ms(t + milliseconds(ms_until_boundary(t, 15 * 60 * 1000))) == "2026-11-30T05:45:00.000Z");
  // On a boundary: a whole interval to the next one.
  SysTime midnight = SysTime{} + std::chrono::seconds(1796083200);
  CHECK(format_iso_ms(midnight) == "2026-12-01T00:00:00.000Z");
  CHECK(ms_until_boundary(midnight, day) == day);
  CHECK(ms_until_boundary(midnight - milliseconds(1), day) == 1);
}

TEST_CASE("log: the compression thread runs SCHED_IDLE at nice 19, the thread that started it keeps its priority") {
  int policy = -1, nice = 0, caller_policy = ::sched_getscheduler(0);
  std::thread t([&] {
    lower_this_thread_priority_for_housekeeping();
    policy = ::sched_getscheduler(0);  // 0: the calling thread
    nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  });
  t.join();
  CHECK(policy == SCHED_IDLE);
  CHECK(nice == 19);
  CHECK(::sched_getscheduler(0) == caller_policy);
}

TEST_CASE("log: rotated FIFOs are refused at once and do not hold libuv's thread pool") {
  // A rotated "file" that is a FIFO used to block its compression in
  // open() until a writer came, one pool thread each. It is opened
  // O_NONBLOCK now and refused as not a regular file: one per pool thread
  // (and one more), from apps that rotate together, and work offloaded
  // meanwhile (`rackctl logs`) still runs.
  Fixture f;
  REQUIRE(make_dirs(f.dir) == 0);
  const char* env = std::getenv("UV_THREADPOOL_SIZE");
  int stuck = (env && std::atoi(env) > 0 ? std::atoi(env) : 4) + 1;
  std::vector<std::string> fifos;
  for (int i = 0; i < stuck; ++i) {
    fifos.push_back(f.dir + "/" + rotated_name("app" + std::to_string(i) + ".out", SysTime{}, 0));
    REQUIRE(::mkfifo(fifos.back().c_str(), 0600) == 0);
  }
  std::vector<std::unique_ptr<AppLog>> logs;
  for (int i = 0; i < stuck; ++i) {
    logs.push_back(std::make_unique<AppLog>(&f.loop, "app" + std::to_string(i), small_config(0, true), f.dir, f.stats));
  }
  bool offloaded = false;
  rack::offload(&f.loop, [] { return 1; }, [&](int) { offloaded = true; });
  CHECK(f.run_until([&] { return offloaded; }, 3s));
  f.run_for(300ms);
  // Left as they are: nothing was compressed from them, nothing removed.
  for (int i = 0; i < stuck; ++i) {
    auto rotated = list_rotated(f.dir, "app" + std::to_string(i) + ".out");
    REQUIRE(rotated.size() == 1);
    CHECK_FALSE(rotated[0].compressed);
  }
}

TEST_CASE("log: rotate_every rotates a file with lines in it, not an empty one") {
  Fixture f;
  LogConfig cfg = small_config(0, false);
  cfg.rotate_every = 60ms;
  AppLog log(&f.loop, "app", cfg, f.dir, f.stats);
  LineSplitter s;
  log.feed(s, LogStream::Out, 0, "first\n");
  CHECK(f.run_until([&] { return f.stats.rotations == 1; }));
  f.run_for(200ms);  // nothing written meanwhile: no empty rotated files
  CHECK(f.stats.rotations == 1);
  log.feed(s, LogStream::Out, 0, "second\n");
  auto lines = all_lines(f.dir, "app.out");
  REQUIRE(lines.size() == 2);
  CHECK(body(lines[0]) == "first");
  CHECK(read_lines(log.path(LogStream::Out)).size() == 1);
}

// ---- log_dir: what rackd refuses to write through ---------------------------

#include <sys/stat.h>

#include "logs/log_dir.h"

TEST_CASE("log_dir: a dir others can write is unsafe unless sticky and ours") {
  struct stat st{};
  st.st_mode = S_IFDIR | 0755;
  st.st_uid = 0;
  CHECK(rack::master::unsafe_log_dir(st, 0).empty());
  CHECK_FALSE(rack::master::unsafe_log_dir(st, 1000).empty());  // someone else's
  st.st_mode = S_IFDIR | 0775;
  CHECK(rack::master::unsafe_log_dir(st, 0).find("mode 0775") != std::string::npos);
  st.st_mode = S_IFDIR | 01777;
  CHECK(rack::master::unsafe_log_dir(st, 0).empty());            // /tmp
  CHECK_FALSE(rack::master::unsafe_log_dir(st, 1000).empty());   // sticky, not ours
  st.st_mode = S_IFREG | 0700;
  CHECK(rack::master::unsafe_log_dir(st, 0) == "not a directory");
}

TEST_CASE("log_dir: open_log_file refuses symlinks and FIFOs and hard links and creates 0640") {
  char tmpl[] = "/tmp/rack-logdir-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  std::string dir = tmpl;
  std::string err;
  int dfd = rack::master::open_log_dir(dir, err);
  REQUIRE_MESSAGE(dfd >= 0, err);
  mode_t old = ::umask(0);
  int fd = rack::master::open_log_file(dfd, "a.log");
  ::umask(old);
  REQUIRE(fd >= 0);
  struct stat st;
  REQUIRE(::fstat(fd, &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  ::close(fd);
  REQUIRE(::symlink((dir + "/a.log").c_str(), (dir + "/link.log").c_str()) == 0);
  CHECK(rack::master::open_log_file(dfd, "link.log") == -ELOOP);
  REQUIRE(::mkfifo((dir + "/fifo.log").c_str(), 0600) == 0);
  int f = rack::master::open_log_file(dfd, "fifo.log");  // no reader: ENXIO, never a blocked loop
  CHECK(f < 0);
  REQUIRE(::link((dir + "/a.log").c_str(), (dir + "/hard.log").c_str()) == 0);
  CHECK(rack::master::open_log_file(dfd, "hard.log") == -EMLINK);
  ::close(dfd);
  for (const char* n : {"a.log", "link.log", "fifo.log", "hard.log"}) ::unlink((dir + "/" + n).c_str());
  ::rmdir(dir.c_str());
}
