#include "compression.h"

#include "header_text.h"

#if RACK_HAVE_BROTLI
#include <brotli/encode.h>
#endif
#include <zlib.h>

#include <array>
#include <charconv>
#include <optional>

#include <rack/http_message.h>

namespace registry {

namespace {

// RFC 9110 qvalue: "0", "0.5", "1", "1.000". nullopt when malformed.
std::optional<double> parse_q(std::string_view v) {
  if (v.empty() || v.size() > 5 || (v[0] != '0' && v[0] != '1')) return std::nullopt;
  if (v.size() > 1 && v[1] != '.') return std::nullopt;
  int thousandths = 0, scale = 100;
  for (std::size_t i = 2; i < v.size(); ++i, scale /= 10) {
    if (v[i] < '0' || v[i] > '9') return std::nullopt;
    thousandths += (v[i] - '0') * scale;
  }
  if (v[0] == '1' && thousandths != 0) return std::nullopt;
  return (v[0] == '1' ? 1000 : thousandths) / 1000.0;
}

class ZlibEncoder final : public Encoder {
 public:
  explicit ZlibEncoder(int window_bits) {
    ok_ = deflateInit2(&z_, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~ZlibEncoder() override {
    if (ok_) deflateEnd(&z_);
  }
  bool update(std::string_view in, std::string& out) override { return run(in, Z_NO_FLUSH, out); }
  bool finish(std::string& out) override { return run({}, Z_FINISH, out); }

 private:
  bool run(std::string_view in, int flush, std::string& out) {
    if (!ok_) return false;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    std::array<char, 16384> buf;
    for (;;) {
      z_.next_out = reinterpret_cast<Bytef*>(buf.data());
      z_.avail_out = static_cast<uInt>(buf.size());
      int rc = deflate(&z_, flush);
      if (rc == Z_STREAM_ERROR) return false;
      out.append(buf.data(), buf.size() - z_.avail_out);
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (z_.avail_in == 0 && z_.avail_out != 0)) return true;
      if (rc == Z_BUF_ERROR && z_.avail_out != 0) return flush != Z_FINISH;
    }
  }

  z_stream z_{};
  bool ok_ = false;
};

#if RACK_HAVE_BROTLI
class BrotliEncoder final : public Encoder {
 public:
  BrotliEncoder() : s_(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr)) {
    if (!s_) return;
    BrotliEncoderSetParameter(s_, BROTLI_PARAM_QUALITY, 5);
    BrotliEncoderSetParameter(s_, BROTLI_PARAM_LGWIN, 22);
  }
  ~BrotliEncoder() override {
    if (s_) BrotliEncoderDestroyInstance(s_);
  }
  bool update(std::string_view in, std::string& out) override { return run(in, BROTLI_OPERATION_PROCESS, out); }
  bool finish(std::string& out) override { return run({}, BROTLI_OPERATION_FINISH, out); }

 private:
  bool run(std::string_view in, BrotliEncoderOperation op, std::string& out) {
    if (!s_) return false;
    size_t avail_in = in.size();
    auto* next_in = reinterpret_cast<const uint8_t*>(in.data());
    for (;;) {
      size_t avail_out = 0;
      if (!BrotliEncoderCompressStream(s_, op, &avail_in, &next_in, &avail_out, nullptr, nullptr)) return false;
      size_t n = 0;  // 0: take all there is
      const uint8_t* p = BrotliEncoderTakeOutput(s_, &n);
      if (n > 0) out.append(reinterpret_cast<const char*>(p), n);
      bool done = op == BROTLI_OPERATION_FINISH ? BrotliEncoderIsFinished(s_) : avail_in == 0;
      if (done && !BrotliEncoderHasMoreOutput(s_)) return true;
    }
  }

  BrotliEncoderState* s_;
};
#endif

}  // namespace

const char* coding_name(Coding coding) {
  switch (coding) {
    case Coding::Brotli: return "br";
    case Coding::Gzip: return "gzip";
    case Coding::Deflate: return "deflate";
    case Coding::Identity: break;
  }
  return "";
}

Coding negotiate(std::string_view header) {
  // -1: not named in the header.
  double br = -1, gzip = -1, deflate = -1, identity = -1, star = -1;
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view item = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (item.empty()) continue;
    std::size_t semi = item.find(';');
    std::string_view name = trim(item.substr(0, semi));
    double q = 1;
    bool valid = true;
    while (semi != std::string_view::npos) {
      std::string_view rest = item.substr(semi + 1);
      semi = rest.find(';');
      std::string_view param = trim(rest.substr(0, semi));
      item = rest;
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        auto v = parse_q(trim(param.substr(2)));
        if (!v) valid = false;
        else q = *v;
      }
    }
    if (!valid) continue;  // a malformed weight: ignore the entry, not the header
    double* slot = rack::http::iequals(name, "br")                                             ? &br
                   : rack::http::iequals(name, "gzip") || rack::http::iequals(name, "x-gzip") ? &gzip
                   : rack::http::iequals(name, "deflate")                                     ? &deflate
                   : rack::http::iequals(name, "identity")                                    ? &identity
                   : name == "*"                                                              ? &star
                                                                                              : nullptr;
    if (slot && q > *slot) *slot = q;
  }
  auto effective = [star](double q) { return q >= 0 ? q : star >= 0 ? star : 0.0; };
  Coding best = Coding::Identity;
  double best_q = 0;
  for (auto [coding, q] : {std::pair{Coding::Brotli, br}, std::pair{Coding::Gzip, gzip}, std::pair{Coding::Deflate, deflate}}) {
    if (coding == Coding::Brotli && !kHaveBrotli) continue;  // built without libbrotli
    double e = effective(q);
    if (e > best_q) best = coding, best_q = e;
  }
  // Identity wins only when the client says it prefers it.
  if (best != Coding::Identity && identity > best_q) return Coding::Identity;
  return best;
}

bool worth_compressing(bool compressible_type, uint64_t size) { return compressible_type && size >= kMinCompressBytes; }

std::unique_ptr<Encoder> make_encoder(Coding coding) {
  switch (coding) {
#if RACK_HAVE_BROTLI
    case Coding::Brotli: return std::make_unique<BrotliEncoder>();
#else
    case Coding::Brotli: break;
#endif
    case Coding::Gzip: return std::make_unique<ZlibEncoder>(15 + 16);  // gzip wrapper
    case Coding::Deflate: return std::make_unique<ZlibEncoder>(15);    // "deflate" is the zlib format (RFC 9110 §8.4.1.2)
    case Coding::Identity: break;
  }
  return nullptr;
}

}  // namespace registry
