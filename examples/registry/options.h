// rack-registry's command line and environment. Flags win over variables.
//
//   --storage DIR         REGISTRY_STORAGE    ./storage
//   --auth FILE           REGISTRY_AUTH       none: read-only
//   --trusted-proxy IP    TRUSTED_PROXIES     none (flag repeatable; variable comma-separated; CIDR allowed)
//   --rate-limit N        RATE_LIMIT          1200 requests per minute per client; 0 = off
//   --max-body SIZE       MAX_BODY            8M (512K, 50M, 1G; larger PUTs get 413)
//
// Every flag also takes the --flag=value form. --listen is the runtime's.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "client_ip.h"

namespace registry {

struct Options {
  std::string storage = "./storage";
  std::string auth_file;                   // "" = no writes
  std::vector<std::string> trusted_specs;  // as given, for the startup log
  TrustedProxies trusted;
  uint64_t rate_limit = 1200;
  uint64_t max_body = 8ull << 20;
  bool help = false;
};

extern const char* const kUsage;

using Getenv = std::function<const char*(const char*)>;

// nullopt with `error` set on a usage error.
std::optional<Options> parse_options(const std::vector<std::string>& args, const Getenv& getenv, std::string& error);

}  // namespace registry
