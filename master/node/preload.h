// The preload every `protocol: node` worker runs (node_preload.js: drains
// without failing requests, answers prom-client's metrics request for apps
// without prom-client). The script is compiled into rackd, so an installed
// rackd needs no file beside it.
//
//   std::string err;
//   node_preload::install(home, err);         // once, at start-up
//   env["NODE_OPTIONS"] = node_preload::node_options(app_own_node_options);
#pragma once

#include <string>
#include <string_view>

namespace rack::master::node_preload {

// Writes the script to <home>/node/preload.js (atomically, 0644) and
// remembers where. False with `error` when it cannot: node workers then run
// without it (node's own drain, no answer to metrics requests).
bool install(const std::string& home, std::string& error);

// NODE_OPTIONS for a node worker: `--require "<preload>"` followed by the
// app's own options. Just the app's own when the preload is not installed.
std::string node_options(std::string_view app_own);

// The script itself.
std::string_view source();

}  // namespace rack::master::node_preload
