// What the libFuzzer targets share: a fresh libuv loop per input, with a
// check at the end that the code under test closed every handle it opened
// (a handle left open is a leak the fuzzer would repeat millions of times),
// and logging that formats everything and writes nothing.
#pragma once

#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

namespace rack::fuzz {

// Every log line is still built (its arguments evaluated, its format
// applied: a bad format string or a throwing argument shows), then dropped.
inline void quiet_logs() {
  auto logger = std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    for (int i = 0; i < 4; ++i) uv_run(&loop, UV_RUN_NOWAIT);
    if (uv_loop_close(&loop) != 0) {
      uv_print_all_handles(&loop, stderr);
      std::fprintf(stderr, "handles left open on the loop\n");
      std::abort();
    }
  }
  void turns(int n) {
    for (int i = 0; i < n; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  }
  uv_loop_t* get() { return &loop; }
};

}  // namespace rack::fuzz
