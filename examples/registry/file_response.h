// GET/HEAD of a stored file, decided on the thread pool: open it safely,
// answer 304 when the client's copy is current, pick the Content-Encoding,
// and either read (and compress) a small file whole or hand a large one's
// descriptor to FileStream.
//
//   FileQuery q{path, std::string(req.header("If-None-Match")), negotiate(req.header("Accept-Encoding")), head};
//   offload(loop, [&storage, q] { return plan_file_response(storage, q); }, ...);
//
// Headers on 200 and 304: ETag, Last-Modified, Cache-Control: public,
// max-age=60, Vary: Accept-Encoding (for types we may compress, whether or
// not this answer is compressed: a cache must not give gzip to a client that
// did not ask for it), X-Content-Type-Options: nosniff.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <rack/worker.h>

#include "compression.h"
#include "storage.h"

namespace registry {

// Bodies up to this size are read whole and sent with a Content-Length;
// larger ones are streamed (chunked) a chunk at a time.
inline constexpr uint64_t kWholeBodyMaxBytes = 256 * 1024;

struct FileQuery {
  StoragePath path;
  std::string if_none_match;
  Coding accepted = Coding::Identity;  // negotiate(Accept-Encoding)
  bool head = false;
};

struct FilePlan {
  int status = 500;
  std::string message;               // for errors
  std::vector<rack::Header> headers;
  std::string body;                  // 200, not streamed
  int fd = -1;                       // 200, streamed: the open file (the plan's owner closes it)
  uint64_t size = 0;                 // of the file
  Coding coding = Coding::Identity;  // of the body
};

// Blocking.
FilePlan plan_file_response(const Storage& storage, const FileQuery& query);

}  // namespace registry
