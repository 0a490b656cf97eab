#include "options.h"

#include <charconv>

#include <rack/config.h>

namespace registry {

const char* const kUsage =
    "usage: rack-registry [--storage DIR] [--auth FILE] [--trusted-proxy IP[/BITS]]...\n"
    "                     [--rate-limit N] [--max-body SIZE] [--listen HOST:PORT]\n"
    "  --storage DIR          files served and published (REGISTRY_STORAGE; default ./storage)\n"
    "  --auth FILE            auth.json with write tokens (REGISTRY_AUTH; default: read-only)\n"
    "  --trusted-proxy IP     believe X-Forwarded-For from this proxy; repeatable, CIDR ok\n"
    "                         (TRUSTED_PROXIES=ip,ip,...)\n"
    "  --rate-limit N         requests per minute per client, all workers together\n"
    "                         (RATE_LIMIT; default 1200; 0 = no limit)\n"
    "  --max-body SIZE        largest PUT body: 512K, 50M, 1G (MAX_BODY; default 8M)\n"
    "  --listen HOST:PORT     when run without rackd\n";

namespace {

bool set_trusted(Options& o, std::string_view list, std::string& error) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    std::string_view one = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (one.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (!o.trusted.add(one, error)) return false;
    o.trusted_specs.emplace_back(one);
  }
  return true;
}

bool set_value(Options& o, std::string_view name, std::string_view value, std::string& error) {
  if (name == "storage") {
    if (value.empty()) return error = "--storage needs a directory", false;
    o.storage = value;
  } else if (name == "auth") {
    o.auth_file = value;
  } else if (name == "trusted-proxy") {
    return set_trusted(o, value, error);
  } else if (name == "rate-limit") {
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), o.rate_limit);
    if (value.empty() || ec != std::errc{} || p != value.data() + value.size())
      return error = "--rate-limit: \"" + std::string(value) + "\" is not a number of requests per minute", false;
  } else if (name == "max-body") {
    auto size = rack::config::parse_size(value);
    if (!size || *size == 0) return error = "--max-body: \"" + std::string(value) + "\" is not a size like 512K or 50M", false;
    o.max_body = *size;
  } else {
    return error = "unknown option --" + std::string(name), false;
  }
  return true;
}

}  // namespace

std::optional<Options> parse_options(const std::vector<std::string>& args, const Getenv& getenv, std::string& error) {
  Options o;
  struct EnvVar {
    const char* var;
    const char* flag;
  };
  for (EnvVar e : {EnvVar{"REGISTRY_STORAGE", "storage"}, EnvVar{"REGISTRY_AUTH", "auth"},
                   EnvVar{"TRUSTED_PROXIES", "trusted-proxy"}, EnvVar{"RATE_LIMIT", "rate-limit"},
                   EnvVar{"MAX_BODY", "max-body"}}) {
    const char* v = getenv(e.var);
    if (v && *v && !set_value(o, e.flag, v, error)) return error = std::string(e.var) + ": " + error, std::nullopt;
  }
  bool flag_proxies = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--help" || a == "-h") {
      o.help = true;
      continue;
    }
    if (!a.starts_with("--")) return error = "unexpected argument \"" + std::string(a) + "\"", std::nullopt;
    a.remove_prefix(2);
    std::string_view name = a, value;
    auto eq = a.find('=');
    if (eq != std::string_view::npos) name = a.substr(0, eq);
    if (name != "storage" && name != "auth" && name != "trusted-proxy" && name != "rate-limit" && name != "max-body")
      return error = "unknown option --" + std::string(name), std::nullopt;
    if (eq != std::string_view::npos) {
      value = a.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return error = "--" + std::string(name) + " needs a value", std::nullopt;
    }
    // The first --trusted-proxy replaces TRUSTED_PROXIES instead of adding to it.
    if (name == "trusted-proxy" && !flag_proxies) {
      flag_proxies = true;
      o.trusted = TrustedProxies();
      o.trusted_specs.clear();
    }
    if (!set_value(o, name, value, error)) return std::nullopt;
  }
  return o;
}

}  // namespace registry
