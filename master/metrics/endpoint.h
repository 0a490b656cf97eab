// /metrics: collects every live rack worker's registry over its channel,
// merges them (MetricsMerge) and serves the result with rackd's own rack_*
// and /proc families — on the admin listener, and on an app's own port when
// the app sets metrics_path (its workers ask rackd over the channel:
// MergedMetricsReq/Rep in rack/channel.h).
//
// A scrape never waits on a slow worker. A collection sends MetricsReq to
// every live rack worker (and prom-client's cluster request to every node
// worker: prom_client.h) and ends when all have answered or after the
// deadline (200 ms); a worker that has not answered by then contributes its
// last snapshot and is counted in rack_metrics_stale_workers. A scrape that
// arrives while a collection runs joins it, so concurrent scrapers cost one
// round of requests, and a worker that has not answered the previous
// request is not asked again (its answer still counts when it comes).
//
// A scraper that comes back at a steady interval (Prometheus) is answered
// from a collection started just before it came (scrape_cadence.h), at
// most 250 ms old; the X-Rack-Metrics-Age-Ms header says how old. Others
// are collected when they come.
//
// A crashed worker sends no final snapshot: what it counted since rackd
// last heard from it is lost. So rackd also collects by itself every
// kBackgroundEvery when nobody has scraped, which bounds that loss even
// when Prometheus scrapes rarely or not at all.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "metrics/merge.h"
#include "metrics/scrape_cadence.h"
#include "rack/http.h"

namespace rack::master {

class ManagedApp;
class Supervisor;
class Worker;

class MetricsEndpoint {
 public:
  static constexpr std::chrono::milliseconds kDefaultDeadline{200};
  static constexpr std::chrono::seconds kBackgroundEvery{5};

  explicit MetricsEndpoint(Supervisor& sup, std::chrono::milliseconds deadline = kDefaultDeadline);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // Takes the app's worker metrics and merged-metrics requests.
  void attach(ManagedApp& app);
  // GET /metrics on the admin listener: every app, and rackd itself.
  void serve(http::Responder res);

  friend class StateCodec;  // upgrade/state.h: carries this across exec

 private:
  using Id = std::pair<std::string, ProcessKey>;  // app, process

  void collect(std::function<void()> done);
  // Arms the collection ahead of the next scrape, if scrapes are steady.
  void plan_ahead();
  void finish();
  void on_worker_metrics(ManagedApp& app, Worker& w, std::string text, std::string error, bool final);
  void on_merged_request(ManagedApp& app, Worker& w, uint64_t seq);
  // The exposition of every app (only == nullptr) or of one app.
  std::string render(const std::string* only);
  void sync(ManagedApp& app);  // retire the processes that are gone
  void forget_deleted();  // drop the state of deleted apps

  Supervisor& sup_;
  std::chrono::milliseconds deadline_;
  MetricsMerge merge_;
  uv_timer_t* timer_ = nullptr;       // the collection's deadline
  uv_timer_t* background_ = nullptr;  // collects when nobody scrapes
  uv_timer_t* ahead_timer_ = nullptr;  // collects ahead of a steady scraper
  ScrapeCadence cadence_;
  struct Ahead {
    std::chrono::steady_clock::time_point collected;
    std::string text;
  };
  std::optional<Ahead> ahead_;  // the next scrape's answer, collected ahead

  bool collecting_ = false;
  uint64_t seq_ = 0;
  std::chrono::steady_clock::time_point started_{};
  std::set<Id> waiting_;                                           // this collection
  std::map<Id, std::chrono::steady_clock::time_point> asked_;      // requests not answered yet
  std::set<Id> warned_;                                            // processes whose bad answer was logged
  std::vector<std::function<void()>> pending_;                     // scrapes to answer
  std::map<std::string, std::size_t> stale_;                      // per app, last collection
  std::map<std::string, uint64_t> parse_errors_;
  double last_collect_s_ = 0;
  std::set<std::string> skipped_logged_;
};

}  // namespace rack::master
