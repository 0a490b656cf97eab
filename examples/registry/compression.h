// Content-Encoding: which coding a client accepts (RFC 9110 §12.5.3), and
// streaming encoders for br (libbrotli), gzip and deflate (zlib).
//
//   registry::Coding c = registry::negotiate("gzip;q=0.8, br");  // Coding::Brotli
//   auto enc = registry::make_encoder(c);
//   std::string out;
//   enc->update(chunk1, out);
//   enc->update(chunk2, out);
//   enc->finish(out);  // out is now the whole encoded body
//
// Encoders are not thread-safe, but may move between threads (the registry
// feeds one from successive thread-pool jobs, one at a time).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace registry {

enum class Coding { Identity, Brotli, Gzip, Deflate };

// Built with libbrotli (RACK_WITH_BROTLI, the default). Without it, br is
// never negotiated and make_encoder(Coding::Brotli) is nullptr.
#if RACK_HAVE_BROTLI
inline constexpr bool kHaveBrotli = true;
#else
inline constexpr bool kHaveBrotli = false;
#endif

// "br", "gzip", "deflate"; "" for Identity.
const char* coding_name(Coding coding);

// The best coding the header allows: highest q first, then br > gzip >
// deflate. "*" stands for every coding not named; "x-gzip" is gzip. An
// absent or empty header means identity. When identity is refused too and
// nothing else is acceptable, identity is still the answer (RFC 9110 allows
// ignoring the header rather than answering 406).
Coding negotiate(std::string_view accept_encoding);

// Whether encoding is worth it: compressible types of at least kMinCompressBytes.
inline constexpr uint64_t kMinCompressBytes = 1024;
bool worth_compressing(bool compressible_type, uint64_t size);

class Encoder {
 public:
  virtual ~Encoder() = default;
  // Appends whatever output is ready. False on an encoder error.
  virtual bool update(std::string_view in, std::string& out) = 0;
  // Flushes the rest and ends the stream.
  virtual bool finish(std::string& out) = 0;
};

// nullptr for Identity. Levels: brotli 5, zlib 6 — on-the-fly speed with most
// of the size win (brotli's default of 11 is for precompressed assets).
std::unique_ptr<Encoder> make_encoder(Coding coding);

}  // namespace registry
