#include "logs/log_pipe.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace rack::master {

namespace {

std::size_t g_open = 0;  // pipes read and not at EOF (one loop: no lock)

struct PipeState {
  uv_pipe_t pipe;
  std::shared_ptr<AppLog> log;
  LineSplitter splitter;
  LogStream stream;
  int slot = 0;
  std::string buf;
  std::shared_ptr<PipeFlow> flow = std::make_shared<PipeFlow>();
};

void on_pipe_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b);

std::set<PipeState*> g_pipes;  // every pipe being read, for handover()

void free_pipe(uv_handle_t* h) {
  auto* ps = static_cast<PipeState*>(h->data);
  g_pipes.erase(ps);
  delete ps;
}

void resume_reading(PipeState* ps) {
  ps->flow->paused = false;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&ps->pipe),
                [](uv_handle_t* h, size_t, uv_buf_t* b) {
                  auto* ps = static_cast<PipeState*>(h->data);
                  ps->buf.resize(64 * 1024);
                  *b = uv_buf_init(ps->buf.data(), ps->buf.size());
                },
                on_pipe_read);
}

void on_pipe_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
  auto* ps = static_cast<PipeState*>(s->data);
  if (n > 0) {
    if (!ps->log->feed(ps->splitter, ps->stream, ps->slot, std::string_view(b->base, n))) {
      // Disk slow or full and on_full=block: stop reading, so the pipe
      // fills and the worker blocks in write() instead of losing lines.
      uv_read_stop(s);
      ps->flow->paused = true;
      ps->log->when_writable([ps] { resume_reading(ps); });
    }
    return;
  }
  if (n < 0) {
    // EOF or error: write the unterminated last line, if any, and let go.
    ps->log->finish(ps->splitter, ps->stream, ps->slot);
    ps->flow->fd = -1;
    ps->flow->paused = false;
    --g_open;
    uv_close(reinterpret_cast<uv_handle_t*>(s), free_pipe);
  }
}

}  // namespace

bool PipeFlow::held() const {
  if (!paused || fd < 0) return false;
  int unread = 0;
  return ::ioctl(fd, FIONREAD, &unread) == 0 && unread > 0;
}

std::shared_ptr<const PipeFlow> LogPipe::open(uv_loop_t* loop, int fd, std::shared_ptr<AppLog> log, LogStream stream,
                                              int slot) {
  return adopt(loop, Handover{fd, nullptr, stream, slot, {}}, std::move(log));
}

std::vector<LogPipe::Handover> LogPipe::handover() {
  std::vector<Handover> out;
  for (PipeState* ps : g_pipes) {
    uv_os_fd_t fd = -1;
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&ps->pipe)) ||
        uv_fileno(reinterpret_cast<uv_handle_t*>(&ps->pipe), &fd) != 0)
      continue;
    out.push_back({fd, ps->log.get(), ps->stream, ps->slot, ps->splitter.partial()});
  }
  return out;
}

std::shared_ptr<const PipeFlow> LogPipe::adopt(uv_loop_t* loop, const Handover& h, std::shared_ptr<AppLog> log) {
  int fd = h.fd;
  LogStream stream = h.stream;
  int slot = h.slot;
  // (): value-initialized. {} is copy-list-initialization, which clang
  // refuses for the member whose default constructor is explicit.
  auto* ps = new PipeState();
  std::shared_ptr<const PipeFlow> flow = ps->flow;
  ps->splitter.restore_partial(h.partial);
  g_pipes.insert(ps);
  ps->log = std::move(log);
  ps->stream = stream;
  ps->slot = slot;
  uv_pipe_init(loop, &ps->pipe, 0);
  ps->pipe.data = ps;
  if (uv_pipe_open(&ps->pipe, fd) != 0) {
    ::close(fd);
    uv_close(reinterpret_cast<uv_handle_t*>(&ps->pipe), free_pipe);
    return flow;
  }
  ps->flow->fd = fd;
  ++g_open;
  resume_reading(ps);
  return flow;
}

std::size_t LogPipe::open_count() { return g_open; }

}  // namespace rack::master
