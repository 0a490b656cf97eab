// Sends a large file as a chunked stream without holding it in memory:
// 64 KiB at a time is read (and compressed, when asked) on libuv's thread
// pool, written to the client, and the next chunk is read only once the
// client has taken most of what is queued (Responder::buffered_bytes()).
// A slow client therefore costs at most ~kHighWaterBytes of memory, and a
// client that goes away stops the reading at the next step.
//
//   FileStream::start(loop, std::move(res), fd, size, Coding::Gzip, headers, head, &sent_bytes);
//
// The stream owns `fd` from then on. A file that shrinks while it is being
// sent ends early; chunked framing cannot say so, which the log does.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <rack/worker.h>

#include "compression.h"

namespace registry {

class FileStream : public std::enable_shared_from_this<FileStream> {
 public:
  static constexpr std::size_t kChunkBytes = 64 * 1024;
  static constexpr std::size_t kHighWaterBytes = 256 * 1024;
  static constexpr uint64_t kPollMs = 2;  // how often a paused stream looks again

  // `sent` (optional) counts body bytes handed to the connection.
  static void start(uv_loop_t* loop, rack::Responder res, int fd, uint64_t size, Coding coding,
                    std::vector<rack::Header> headers, bool head, prometheus::Counter* sent);

  FileStream(uv_loop_t* loop, rack::Responder res, int fd, uint64_t size, Coding coding,
             prometheus::Counter* sent);
  ~FileStream();

 private:
  struct Chunk {
    std::string data;
    bool last = false;
    int error = 0;
  };
  Chunk read_chunk();        // thread pool
  void read_next();          // loop
  void on_chunk(Chunk c);    // loop
  void wait_for_client();    // loop

  uv_loop_t* loop_;
  rack::Responder res_;
  int fd_;
  uint64_t size_;
  uint64_t offset_ = 0;  // touched by the pool job only while one is in flight
  std::unique_ptr<Encoder> encoder_;
  prometheus::Counter* sent_;
};

}  // namespace registry
