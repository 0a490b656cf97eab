#include "file_stream.h"

#include <unistd.h>

#include <cerrno>

#include <spdlog/spdlog.h>

#include "offload.h"
#include "storage.h"

namespace registry {

void FileStream::start(uv_loop_t* loop, rack::Responder res, int fd, uint64_t size, Coding coding,
                       std::vector<rack::Header> headers, bool head, prometheus::Counter* sent) {
  if (!res.start_stream(200, std::move(headers)) || head) {
    ::close(fd);
    res.end();
    return;
  }
  auto s = std::make_shared<FileStream>(loop, std::move(res), fd, size, coding, sent);
  s->read_next();
}

FileStream::FileStream(uv_loop_t* loop, rack::Responder res, int fd, uint64_t size, Coding coding,
                       prometheus::Counter* sent)
    : loop_(loop), res_(std::move(res)), fd_(fd), size_(size), encoder_(make_encoder(coding)), sent_(sent) {}

FileStream::~FileStream() {
  ::close(fd_);
  res_.end();  // a no-op when done already or the client is gone
}

FileStream::Chunk FileStream::read_chunk() {
  Chunk c;
  std::string buf(static_cast<std::size_t>(std::min<uint64_t>(kChunkBytes, size_ - offset_)), '\0');
  ssize_t n;
  do {
    n = ::pread(fd_, buf.data(), buf.size(), static_cast<off_t>(offset_));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    c.error = errno;
    return c;
  }
  buf.resize(static_cast<std::size_t>(n));
  offset_ += static_cast<uint64_t>(n);
  if (n == 0 && offset_ < size_) c.error = ENODATA;  // shrank under us
  c.last = offset_ >= size_ || n == 0;
  if (!encoder_) {
    c.data = std::move(buf);
    return c;
  }
  bool ok = encoder_->update(buf, c.data);
  if (ok && c.last) ok = encoder_->finish(c.data);
  if (!ok) c.error = EIO;
  return c;
}

void FileStream::read_next() {
  auto self = shared_from_this();
  offload(loop_, [self] { return self->read_chunk(); }, [self](Chunk c) { self->on_chunk(std::move(c)); });
}

void FileStream::on_chunk(Chunk c) {
  if (!res_.alive()) return;  // the client left: dropping `self` closes the file
  if (c.error != 0) {
    // Headers are gone already: all we can do is stop and say why.
    spdlog::warn("stream of {} bytes ended at {}: {}", size_, offset_,
                 c.error == ENODATA ? "the file shrank while being sent" : errno_text(c.error));
    return;
  }
  if (!c.data.empty()) {
    if (sent_) sent_->Increment(static_cast<double>(c.data.size()));
    if (!res_.write(c.data)) return;
  }
  if (c.last) return res_.end();
  wait_for_client();
}

void FileStream::wait_for_client() {
  if (!res_.alive()) return;
  if (res_.buffered_bytes() <= kHighWaterBytes - kChunkBytes) return read_next();
  auto self = shared_from_this();
  after(loop_, kPollMs, [self] { self->wait_for_client(); });
}

}  // namespace registry
