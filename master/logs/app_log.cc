// AppLog: the libuv glue around two LogFiles (out, err). Everything here runs
// on the loop thread except the sweep job's work function, which only sees
// its own copies (see sweep_job.h).
//
// Flow of a line: feed() -> LineSplitter -> Impl::append (prefix, back-
// pressure, subscribers) -> LogFile buffer -> one write(2) at the end of the
// feed() call. Writing on the loop is fine for a local file; batching per
// read keeps it at one syscall per pipe read instead of one per line.
#include "logs/app_log.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "logs/log_dir.h"
#include "logs/log_file.h"
#include "logs/rotation_policy.h"
#include "logs/sweep_job.h"

namespace rack::master {
namespace {

using std::chrono::system_clock;

constexpr std::string_view kContinued = " [continued]";
constexpr uint64_t kRetryMs = 200;

uint64_t to_ms(config::Duration d) { return uint64_t(std::max<int64_t>(d.count(), 1)); }

}  // namespace

struct AppLog::Impl {
  // A uv timer whose memory lives until libuv's close callback, which runs
  // after the AppLog that owned it may be gone.
  struct Timer {
    uv_timer_t* h = nullptr;

    void init(uv_loop_t* loop, void* owner) {
      h = new uv_timer_t;
      uv_timer_init(loop, h);
      h->data = owner;
    }
    void close() {
      if (h == nullptr) return;
      uv_close(reinterpret_cast<uv_handle_t*>(h),
               [](uv_handle_t* x) { delete reinterpret_cast<uv_timer_t*>(x); });
      h = nullptr;
    }
  };

  struct Stream {
    LogStream which;
    std::unique_ptr<LogFile> file;
    bool failing = false;
    uint64_t episode_errors = 0;
  };

  uv_loop_t* loop;
  std::string app;
  config::LogConfig cfg;
  std::string dir;
  LogStats& stats;
  std::array<Stream, 2> streams;
  std::shared_ptr<SweepAlive> alive;

  Timer retry, rotate, age, wake;
  std::vector<std::function<void()>> waiters;
  uint64_t dropped_in_episode = 0;

  std::vector<std::pair<uint64_t, std::shared_ptr<Subscriber>>> subscribers;
  Subscriber no_files_sink;  // logs.dir: off: where lines go besides subscribers
  uint64_t next_subscriber = 1;
  int delivering = 0;
  bool subscribers_dirty = false;

  std::string prefix;  // this feed()'s "<time> [slot] "

  Impl(uv_loop_t* l, std::string a, config::LogConfig c, std::string d, LogStats& s)
      : loop(l), app(std::move(a)), cfg(std::move(c)), dir(std::move(d)), stats(s),
        alive(std::make_shared<SweepAlive>()) {
    streams[0].which = LogStream::Out;
    streams[1].which = LogStream::Err;
    if (cfg.files) open_files();
    retry.init(loop, this);
    rotate.init(loop, this);
    age.init(loop, this);
    wake.init(loop, this);
    start_periodic_timers();
    alive->reschedule = [this] { schedule_sweep(); };
    // Also the crash recovery: compresses what an earlier rackd rotated but
    // did not get to compress, and removes its temp files.
    schedule_sweep();
  }

  ~Impl() {
    close_files("at shutdown");
    alive->reschedule = nullptr;
    retry.close();
    rotate.close();
    age.close();
    wake.close();
  }

  Stream& stream(LogStream s) { return streams[s == LogStream::Out ? 0 : 1]; }
  bool files() const { return streams[0].file != nullptr; }
  uint64_t pending() const { return files() ? streams[0].file->pending() + streams[1].file->pending() : 0; }

  void open_files() {
    if (int e = make_dirs(dir)) {
      spdlog::warn("creating log directory {} failed: {}", dir, std::strerror(e));
    }
    for (Stream& st : streams) {
      st.file = std::make_unique<LogFile>(dir, app + (st.which == LogStream::Out ? ".out" : ".err"), stats);
      st.file->set_owner(cfg.owner_uid, cfg.owner_gid);
    }
  }

  // Writes what is buffered (a last attempt: a failing disk loses it) and
  // closes the files: rackd stopping, or a reload to logs.dir: off.
  void close_files(const char* when) {
    for (Stream& st : streams) {
      if (!st.file) continue;
      LogFile::Result r = st.file->drain();
      if (r.rotations > 0) schedule_sweep();
      if (r.error) {
        spdlog::error("{} {} failed {}: {}; {} bytes lost", r.op, st.file->name(), when,
                      std::strerror(r.error), st.file->pending());
      }
      st.file.reset();
      st.failing = false;
    }
  }

  void start_periodic_timers() {
    uv_timer_stop(rotate.h);
    uv_timer_stop(age.h);
    if (!files()) return;
    if (cfg.rotate_every) arm_rotate_timer(ms_until_boundary(system_clock::now(), to_ms(*cfg.rotate_every)));
    if (cfg.max_age) {
      // Deleting up to a quarter of max_age late is fine; at most hourly.
      uint64_t every = std::clamp<uint64_t>(to_ms(*cfg.max_age) / 4, 1000, 3600 * 1000);
      uv_timer_start(age.h, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->schedule_sweep(); },
                     every, every);
      uv_unref(reinterpret_cast<uv_handle_t*>(age.h));
    }
  }

  // The common case of feed() without per-line work: no prefix, nobody
  // following, no line to cut and no rotation inside this read. Buffers
  // every complete line of `bytes` (which starts at a line's start) as one
  // block and returns its length; 0 means "go line by line" (and nothing
  // was taken). The per-line path costs a std::function call and four
  // appends per line, which at a few million lines/s is a good part of the
  // loop's time.
  std::size_t take_whole_lines(const LineSplitter& splitter, LogStream which, std::string_view bytes) {
    Stream& st = stream(which);
    if (cfg.time || !subscribers.empty() || st.failing || dropped_in_episode > 0) return 0;
    const void* last = ::memrchr(bytes.data(), '\n', bytes.size());
    if (last == nullptr) return 0;
    const char* begin = bytes.data();
    const char* end = static_cast<const char*>(last) + 1;
    std::size_t len = std::size_t(end - begin);
    if (!files()) return no_files_sink ? 0 : len;  // logs.dir: off and nobody reading: gone
    if (pending() + len > cfg.buffer) return 0;  // on_full applies: line by line
    uint64_t lines = 0;
    if (len <= splitter.max_line()) {
      lines = count_lines(std::string_view(begin, len));  // no line can be too long
    } else {
      for (const char* p = begin; p < end; ++lines) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', std::size_t(end - p)));
        if (std::size_t(nl - p) > splitter.max_line()) return 0;  // to be cut into pieces
        p = nl + 1;
      }
    }
    return st.file->append_block(bytes.substr(0, len), lines, cfg.max_size) ? len : 0;
  }

  // feed() and finish(): `split` calls emit for each line of one read.
  template <typename Split>
  bool take(LogStream which, int slot, const Split& split) {
    Stream& st = stream(which);
    // One time for the whole read: it is when rackd read these lines, and
    // formatting it once instead of per line matters at 500k lines/s.
    SysTime now = system_clock::now();
    prefix.clear();
    if (cfg.time) append_line_prefix(prefix, now, slot, cfg.date_format);
    split([&](std::string_view line, bool continued) { append(st, slot, now, line, continued); });
    if (files() && !st.failing) drain(st);
    return cfg.on_full != config::OnFull::Block || pending() <= cfg.buffer;
  }

  void append(Stream& st, int slot, SysTime now, std::string_view line, bool continued) {
    std::string_view suffix = continued ? kContinued : std::string_view();
    uint64_t len = prefix.size() + line.size() + suffix.size() + 1;
    if (!files()) {
      if (!subscribers.empty() || no_files_sink) deliver(st.which, slot, now, line, suffix);
      return;
    }
    if (pending() > 0 && pending() + len > cfg.buffer) {
      // Over the bound within one read: write what we have first if the
      // disk lets us, so a healthy disk never drops or blocks.
      if (!st.failing) drain(st);
      if (cfg.on_full == config::OnFull::Drop && pending() > 0 && pending() + len > cfg.buffer) {
        ++stats.dropped_lines;
        if (dropped_in_episode++ == 0) {
          spdlog::warn("log buffer of {} full ({} bytes); dropping lines", app, pending());
        }
        return;
      }
    }
    if (dropped_in_episode > 0) {
      spdlog::info("log buffer of {} has room again; {} lines were dropped", app,
                   dropped_in_episode);
      dropped_in_episode = 0;
    }
    st.file->append(prefix, line, suffix, cfg.max_size);
    if (!subscribers.empty()) deliver(st.which, slot, now, line, suffix);
  }

  void deliver(LogStream which, int slot, SysTime now, std::string_view line,
               std::string_view suffix) {
    LogLine ll{app, slot, which, now, std::string(line), cfg.time ? cfg.date_format : std::string_view()};
    ll.text.append(suffix);
    // By index, calling through a copied shared_ptr: a subscriber may
    // subscribe (reallocating the vector) or unsubscribe (nulling its entry,
    // erased below) from inside its callback.
    ++delivering;
    for (std::size_t i = 0; i < subscribers.size(); ++i) {
      if (std::shared_ptr<Subscriber> s = subscribers[i].second) (*s)(ll);
    }
    if (!files() && no_files_sink) no_files_sink(ll);
    if (--delivering == 0 && subscribers_dirty) {
      std::erase_if(subscribers, [](const auto& e) { return e.second == nullptr; });
      subscribers_dirty = false;
    }
  }

  void drain(Stream& st) {
    LogFile::Result r = st.file->drain();
    if (r.rotations > 0) schedule_sweep();
    if (r.error) {
      ++stats.write_errors;
      ++st.episode_errors;
      if (!st.failing) {
        st.failing = true;
        spdlog::warn("{} {} failed: {}; buffering ({} bytes)", r.op, st.file->name(),
                     std::strerror(r.error), pending());
      }
      if (!uv_is_active(reinterpret_cast<uv_handle_t*>(retry.h))) {
        uv_timer_start(retry.h, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->on_retry(); },
                       kRetryMs, kRetryMs);
      }
    } else if (st.failing) {
      st.failing = false;
      spdlog::info("writing {} resumed after {} failed attempts", st.file->name(),
                   st.episode_errors);
      st.episode_errors = 0;
    }
    maybe_wake();
  }

  void on_retry() {
    for (Stream& st : streams) {
      if (st.failing) drain(st);
    }
    if (!streams[0].failing && !streams[1].failing) uv_timer_stop(retry.h);
  }

  // One-shot, re-armed from the wall clock each time, so rotations stay on
  // the boundaries (the loop's timers run on the monotonic clock).
  void arm_rotate_timer(uint64_t ms) {
    uv_timer_start(rotate.h, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->on_rotate_timer(); }, ms, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(rotate.h));  // housekeeping keeps no loop alive
  }

  void on_rotate_timer() {
    if (cfg.rotate_every) {
      // From half an interval ahead: a timer that fires a moment before
      // the boundary does not fire again right after it.
      uint64_t every = to_ms(*cfg.rotate_every);
      arm_rotate_timer(ms_until_boundary(system_clock::now() + std::chrono::milliseconds(every / 2), every) +
                       every / 2);
    }
    for (Stream& st : streams) {
      st.file->mark_rotation();
      if (!st.failing) drain(st);
    }
  }

  // Resumes blocked readers from the next loop iteration, not from inside
  // feed() or a drain, so a caller's resume callback never re-enters us.
  void maybe_wake() {
    if (waiters.empty() || pending() > cfg.buffer / 2) return;
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(wake.h))) return;
    uv_timer_start(wake.h, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->on_wake(); }, 0, 0);
  }

  void on_wake() {
    if (pending() > cfg.buffer / 2) return;  // filled up again; a later drain wakes them
    std::vector<std::function<void()>> ready;
    ready.swap(waiters);
    // A callback may destroy this AppLog: touch nothing of it from here on.
    for (auto& resume : ready) resume();
  }

  void schedule_sweep() {
    if (!files()) return;
    if (alive->running) {
      alive->again = true;  // coalesced: the running job's completion starts one more
      return;
    }
    launch_sweep(new SweepJob{{}, loop, alive, dir, {app + ".out", app + ".err"}, cfg.keep,
                        cfg.max_age, cfg.compress, system_clock::now(), {}});
  }
};

AppLog::AppLog(uv_loop_t* loop, std::string app, config::LogConfig cfg, std::string dir,
               LogStats& stats)
    : impl_(std::make_unique<Impl>(loop, std::move(app), std::move(cfg), std::move(dir), stats)) {}

AppLog::~AppLog() = default;

bool AppLog::feed(LineSplitter& splitter, LogStream stream, int slot, std::string_view bytes) {
  // The end of a line held back from the last read goes through the
  // splitter; then whole lines in bulk when nothing needs them one by one;
  // the rest (a partial last line, or everything) through the splitter
  // again. take() then writes what was buffered and reports back-pressure.
  return impl_->take(stream, slot, [&](const LineSplitter::Emit& emit) {
    if (splitter.pending() > 0) {
      const void* nl = std::memchr(bytes.data(), '\n', bytes.size());
      std::size_t head = nl ? std::size_t(static_cast<const char*>(nl) - bytes.data()) + 1 : bytes.size();
      splitter.feed(bytes.substr(0, head), emit);
      bytes.remove_prefix(head);
    }
    bytes.remove_prefix(impl_->take_whole_lines(splitter, stream, bytes));
    splitter.feed(bytes, emit);
  });
}

void AppLog::finish(LineSplitter& splitter, LogStream stream, int slot) {
  impl_->take(stream, slot, [&](const LineSplitter::Emit& emit) { splitter.finish(emit); });
}

std::string AppLog::unwritten(LogStream stream, uint64_t& in_file, std::size_t max_lines) const {
  in_file = 0;
  const auto& file = impl_->stream(stream).file;
  return file ? file->unwritten(in_file, max_lines) : std::string();
}

void AppLog::when_writable(std::function<void()> resume) {
  impl_->waiters.push_back(std::move(resume));
  impl_->maybe_wake();
}

void AppLog::reopen() {
  if (!impl_->files()) return;
  for (Impl::Stream& st : impl_->streams) {
    // What was read before the signal still belongs in the old file.
    if (!st.failing) impl_->drain(st);
    if (int e = st.file->reopen()) {
      spdlog::warn("reopening {} failed: {}", st.file->path(), std::strerror(e));
    }
  }
  spdlog::info("reopened the log files of {}", impl_->app);
}

void AppLog::flush() {
  if (!impl_->files()) return;
  for (Impl::Stream& st : impl_->streams) {
    if (int e = st.file->truncate()) {
      spdlog::warn("emptying {} failed: {}", st.file->path(), std::strerror(e));
    }
  }
}

void AppLog::set_config(const config::LogConfig& cfg) {
  set_config(cfg, cfg.dir.empty() ? impl_->dir : cfg.dir);
}

void AppLog::set_config(const config::LogConfig& cfg, std::string dir) {
  Impl& m = *impl_;
  if (!cfg.files) {
    m.close_files("as logs.dir became off");
    m.dir = std::move(dir);
  } else if (!m.files()) {
    m.dir = std::move(dir);
    m.cfg = cfg;
    m.open_files();
  } else if (dir != m.dir) {
    for (Impl::Stream& st : m.streams) {
      if (!st.failing) m.drain(st);  // lines read so far go to the old directory
    }
    if (int e = make_dirs(dir)) {
      spdlog::warn("creating log directory {} failed: {}", dir, std::strerror(e));
    }
    m.dir = std::move(dir);
    for (Impl::Stream& st : m.streams) st.file->set_dir(m.dir);
  }
  m.cfg = cfg;
  for (Impl::Stream& st : m.streams)
    if (st.file) st.file->set_owner(cfg.owner_uid, cfg.owner_gid);
  m.start_periodic_timers();
  m.schedule_sweep();  // keep, max_age or compress may have changed
  m.maybe_wake();      // the buffer may have grown
}

uint64_t AppLog::pending_bytes() const { return impl_->pending(); }

std::string AppLog::path(LogStream s) const {
  const auto& file = impl_->stream(s).file;
  return file ? file->path() : std::string();
}

bool AppLog::has_files() const { return impl_->files(); }

std::string AppLog::date_format() const { return impl_->cfg.time ? impl_->cfg.date_format : std::string(); }

void AppLog::set_no_files_sink(Subscriber s) { impl_->no_files_sink = std::move(s); }

uint64_t AppLog::subscribe(Subscriber s) {
  uint64_t id = impl_->next_subscriber++;
  impl_->subscribers.emplace_back(id, std::make_shared<Subscriber>(std::move(s)));
  return id;
}

void AppLog::unsubscribe(uint64_t id) {
  Impl& m = *impl_;
  for (auto& entry : m.subscribers) {
    if (entry.first == id) entry.second = nullptr;
  }
  if (m.delivering > 0) {
    m.subscribers_dirty = true;
  } else {
    std::erase_if(m.subscribers, [](const auto& e) { return e.second == nullptr; });
  }
}

}  // namespace rack::master
