// LineSplitter: one per pipe, so a line is assembled only from its own
// writer's bytes and two workers' lines never interleave mid-line.
#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "logs/line_splitter.h"

namespace rack::master {

std::size_t count_lines(std::string_view bytes) {
  const char* p = bytes.data();
  std::size_t n = bytes.size(), count = 0;
#if defined(__SSE2__)
  // 16 bytes at a time: each compare adds 1 to a byte counter per newline,
  // and the byte counters are summed before they can overflow (255 rounds).
  const __m128i nl = _mm_set1_epi8('\n');
  while (n >= 16) {
    std::size_t rounds = std::min<std::size_t>(n / 16, 255);
    __m128i counters = _mm_setzero_si128();
    for (std::size_t i = 0; i < rounds; ++i, p += 16) {
      __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      counters = _mm_sub_epi8(counters, _mm_cmpeq_epi8(chunk, nl));
    }
    __m128i sums = _mm_sad_epu8(counters, _mm_setzero_si128());
    count += std::size_t(_mm_cvtsi128_si64(sums)) + std::size_t(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
    n -= rounds * 16;
  }
#endif
  for (; n > 0; --n) count += *p++ == '\n';
  return count;
}

LineSplitter::LineSplitter(std::size_t max_line) : max_line_(std::max<std::size_t>(max_line, 1)) {}

// Appends newline-free bytes to the held-back tail. The tail is emitted as a
// continued piece only once it is full *and* more bytes follow: a line of
// exactly max_line bytes whose newline arrives in the next read stays whole.
void LineSplitter::take_partial(std::string_view bytes, const Emit& emit) {
  while (!bytes.empty()) {
    if (partial_.size() == max_line_) {
      emit(partial_, true);
      partial_.clear();
    }
    std::size_t n = std::min(max_line_ - partial_.size(), bytes.size());
    partial_.append(bytes.data(), n);
    bytes.remove_prefix(n);
  }
}

void LineSplitter::feed(std::string_view bytes,
                        const std::function<void(std::string_view, bool continued)>& emit) {
  while (!bytes.empty()) {
    const void* nl = std::memchr(bytes.data(), '\n', bytes.size());
    if (nl == nullptr) {
      take_partial(bytes, emit);
      return;
    }
    std::size_t len = std::size_t(static_cast<const char*>(nl) - bytes.data());
    std::string_view line = bytes.substr(0, len);
    bytes.remove_prefix(len + 1);
    if (partial_.empty()) {
      // The common case: the whole line is in this read; emit it in place.
      while (line.size() > max_line_) {
        emit(line.substr(0, max_line_), true);
        line.remove_prefix(max_line_);
      }
      emit(line, false);
    } else {
      take_partial(line, emit);
      emit(partial_, false);
      partial_.clear();
    }
  }
}

void LineSplitter::finish(const std::function<void(std::string_view, bool continued)>& emit) {
  if (partial_.empty()) return;
  emit(partial_, false);
  partial_.clear();
}

}  // namespace rack::master
