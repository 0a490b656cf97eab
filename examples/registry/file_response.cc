#include "file_response.h"

#include <unistd.h>

#include <cerrno>

#include "caching.h"
#include "content_type.h"

namespace registry {

namespace {

// The whole of a small file; false with errno on a read error.
bool read_whole(int fd, uint64_t size, std::string& out) {
  out.resize(size);
  std::size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, out.data() + got, size - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;  // shrank since fstat: send what there is
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return true;
}

FilePlan failed(int status, std::string message) {
  FilePlan p;
  p.status = status;
  p.message = std::move(message);
  return p;
}

}  // namespace

FilePlan plan_file_response(const Storage& storage, const FileQuery& q) {
  FilePlan p;
  Storage::Opened f = storage.open_file(q.path);
  if (f.fd < 0) {
    if (f.error == ENOENT) return failed(404, "no file at " + q.path.display());
    return failed(f.error == EACCES ? 403 : 500, "cannot open " + q.path.display() + ": " + errno_text(f.error));
  }
  ContentType type = content_type_for(q.path.segments.back());
  std::string etag = etag_for(f.st);
  p.size = static_cast<uint64_t>(f.st.st_size);
  p.headers = {{"ETag", etag},
               {"Last-Modified", http_date(f.st.st_mtim.tv_sec)},
               {"Cache-Control", std::string(kCacheControl)}};
  if (type.compressible) p.headers.push_back({"Vary", "Accept-Encoding"});

  if (none_match(q.if_none_match, etag)) {
    ::close(f.fd);
    p.status = 304;
    return p;
  }
  p.status = 200;
  p.headers.push_back({"Content-Type", std::string(type.mime)});
  p.headers.push_back({"X-Content-Type-Options", "nosniff"});
  p.coding = worth_compressing(type.compressible, p.size) ? q.accepted : Coding::Identity;
  if (p.coding != Coding::Identity) p.headers.push_back({"Content-Encoding", coding_name(p.coding)});

  if (p.size > kWholeBodyMaxBytes) {
    p.fd = f.fd;  // FileStream reads it; HEAD only needs the headers
    return p;
  }
  // Small: whole, so the answer has a Content-Length. HEAD too: its
  // Content-Length must be the one GET would send, compressed or not.
  bool ok = read_whole(f.fd, p.size, p.body);
  int err = errno;
  ::close(f.fd);
  if (!ok) return failed(500, "cannot read " + q.path.display() + ": " + errno_text(err));
  if (auto enc = make_encoder(p.coding)) {
    std::string out;
    if (!enc->update(p.body, out) || !enc->finish(out)) return failed(500, "cannot compress " + q.path.display());
    p.body = std::move(out);
  }
  return p;
}

}  // namespace registry
