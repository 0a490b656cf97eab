// rack-registry: a file registry on the Rack worker runtime, and the app
// the default ecosystem.yaml runs. What it serves is in registry.h; its
// flags in options.h; the operators' manual is docs/registry.md.
//
//   rack-registry --storage ./storage --auth /etc/rack-registry/auth.json --trusted-proxy 10.0.0.0/8
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include <rack/shared_table.h>
#include <rack/worker.h>

#include "auth.h"
#include "options.h"
#include "registry.h"
#include "storage.h"

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

// Under rackd: the app's segment, so every worker counts against the same
// limit. Without it (run alone, or rackd could not create one): per process.
std::unique_ptr<rack::SharedTable> open_rate_table() {
  std::string error;
  auto table = rack::SharedTable::from_env(error);
  if (table) return table;
  spdlog::warn("rate limit: {}; counting per worker instead of per app", error);
  return rack::SharedTable::open_private(rack::SharedTable::kDefaultPrivateBytes, error);
}

}  // namespace

int main(int argc, char** argv) {
  rack::App app(argc, argv);
  std::string error;
  auto options = registry::parse_options(app.args(), [](const char* name) { return std::getenv(name); }, error);
  if (!options) {
    std::fprintf(stderr, "rack-registry: %s\n%s", error.c_str(), registry::kUsage);
    return 2;
  }
  if (options->help) {
    std::fputs(registry::kUsage, stdout);
    return 0;
  }
  app.limits().max_body_bytes = options->max_body;

  std::unique_ptr<registry::Auth> auth;
  if (!options->auth_file.empty()) {
    auto loaded = registry::Auth::load(options->auth_file, error);
    if (!loaded) {
      spdlog::error("{}", error);
      return 2;
    }
    auth = std::make_unique<registry::Auth>(std::move(*loaded));
    struct stat st{};
    if (::stat(options->auth_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
      spdlog::warn("{} is readable by other users (mode {:o}): chmod 600 it", options->auth_file, st.st_mode & 0777);
  }

  auto table = open_rate_table();
  if (!table) {
    spdlog::error("rate limit: cannot create even a private table");
    return 1;
  }

  registry::Storage probe(options->storage);
  if (int err = probe.check(); err != 0)
    spdlog::warn("storage {}: {}; serving anyway, /health answers 503 until it is back", options->storage,
                 registry::errno_text(err));
  spdlog::info("rack-registry: storage {}, {}, rate limit {}/min per client ({}), trusted proxies: {}, max body {} bytes",
               options->storage,
               auth ? std::to_string(auth->tokens().size()) + " token(s) from " + options->auth_file
                    : std::string("read-only (no --auth)"),
               options->rate_limit, table->shared() ? "shared by all workers via " + table->path() : "this worker only",
               join(options->trusted_specs), options->max_body);

  auto reg = std::make_shared<registry::Registry>(app, std::move(*options), std::move(auth), std::move(table));
  reg->install();
  return app.run();
}
