// The config loader: ecosystem.yaml text → a validated Ecosystem, or a
// ConfigError naming file, line and key. Anything else escaping (a
// YAML::Exception, std::out_of_range, a crash) is a bug: rackctl would die
// of a typo instead of explaining it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

#include "rack/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  try {
    rack::config::Ecosystem eco = rack::config::load_string(yaml, "/nonexistent/fuzz/ecosystem.yaml");
    // What a valid config leads to, used as rackd uses it.
    for (const auto& app : eco.apps) (void)rack::config::stop_signal_of(app);
  } catch (const rack::config::ConfigError& e) {
    if (std::string_view(e.what()).empty()) {
      std::fprintf(stderr, "a ConfigError with no message\n");
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "load_string threw %s, not ConfigError: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}
