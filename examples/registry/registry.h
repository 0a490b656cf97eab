// The Registry Server's routes, wired onto a rack::App:
//
//   GET  /               what this is (JSON)
//   GET  /health         200 {"status":"ok",...} or 503 naming the storage error
//   GET  /metrics        the app's metrics merged by rackd (metrics_path: /metrics),
//                        else this worker's own
//   GET  /<path>         a stored file (HEAD too), conditional, compressed
//   PUT  /<path>         publish (token with write right), atomically
//   DELETE /<path>       remove (token with write right)
//
// Every route but /health and /metrics counts against the client's rate
// limit first, so a refused client costs a hash lookup and nothing else.
// Load balancers and Prometheus are therefore never throttled.
//
// The handlers only parse, decide and answer; file system work runs on
// libuv's thread pool (offload.h), so a slow disk never stalls the loop
// that also answers rackd's heartbeats.
#pragma once

#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <rack/shared_table.h>
#include <rack/worker.h>

#include "auth.h"
#include "options.h"
#include "rate_limit.h"
#include "storage.h"

namespace registry {

class Registry : public std::enable_shared_from_this<Registry> {
 public:
  // `auth` nullptr: read-only. `table` holds the rate-limit counters.
  // Create it with std::make_shared: routes and thread-pool jobs keep it
  // alive until the App (and its loop) is gone.
  Registry(rack::App& app, Options options, std::unique_ptr<Auth> auth, std::unique_ptr<rack::SharedTable> table);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Adds the routes and queues the startup sweep of dead uploads.
  void install();

 private:
  // Rate limit: false (after answering 429) when the client is over it.
  bool admit(rack::Request& req, rack::Responder& res);
  rack::Handler limited(void (Registry::*handler)(rack::Request&, rack::Responder));

  void index(rack::Request& req, rack::Responder res);
  void health(rack::Request& req, rack::Responder res);
  void metrics(rack::Request& req, rack::Responder res);
  void get_file(rack::Request& req, rack::Responder res);
  void put_file(rack::Request& req, rack::Responder res);
  void delete_file(rack::Request& req, rack::Responder res);
  void not_allowed(rack::Request& req, rack::Responder res);

  rack::App& app_;
  Options options_;
  std::unique_ptr<Auth> auth_;
  std::unique_ptr<rack::SharedTable> table_;
  RateLimiter limiter_;
  std::shared_ptr<const Storage> storage_;  // shared with thread-pool jobs

  prometheus::Counter& rate_limited_;
  prometheus::Counter& limiter_degraded_;
  prometheus::Family<prometheus::Counter>& sent_bytes_;
  prometheus::Counter& published_created_;
  prometheus::Counter& published_replaced_;
  prometheus::Counter& deleted_;
};

}  // namespace registry
