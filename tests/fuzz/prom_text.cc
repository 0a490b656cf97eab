// The Prometheus text parser (what a rack worker reports in MetricsRep) and
// the merge of several workers' reports into what /metrics serves.
//
// Input: up to three worker reports separated by a line "#---". Each is
// parsed; those that parse are merged as workers of one app, one of them
// is retired (its counters move to the retired totals), and the merge is
// rendered again. (The rendered text is not re-read with parse_exposition:
// that parser reads worker reports and renames their app/worker labels to
// exported_*, so rackd's own output with both is not its input; promtool
// checks /metrics in the integration tests.)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/merge.h"
#include "metrics/text.h"

using namespace rack::master;

namespace {

// The text /metrics would serve (built, so every sample is formatted).
std::size_t render(const std::string& text) { return text.size(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> reports;
  while (reports.size() < 2) {
    std::size_t cut = in.find("\n#---\n");
    if (cut == std::string_view::npos) break;
    reports.push_back(in.substr(0, cut + 1));
    in.remove_prefix(cut + 6);
  }
  reports.push_back(in);

  MetricsMerge merge;
  std::string err;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    auto snap = parse_exposition(reports[i], err);
    bool ok = merge.report("web", ProcessKey{i + 1, static_cast<int64_t>(i)},
                           ProcessInfo{static_cast<int>(i), 1 + i % 2}, reports[i], err);
    if (ok != snap.has_value()) {
      std::fprintf(stderr, "report() and parse_exposition() disagree on report %zu\n", i);
      std::abort();
    }
  }
  std::map<std::string, rack::config::Aggregation> gauges;
  {
    Exposition out;
    merge.render("web", gauges, out);
    (void)render(out.str());
  }
  merge.retire("web", ProcessKey{1, 0});
  // The same report again from a restarted process: counters may have
  // gone back, which the merge must absorb.
  merge.report("web", ProcessKey{1, 99}, ProcessInfo{0, 2}, reports.back(), err);
  Exposition out;
  merge.render("web", gauges, out);
  (void)render(out.str());
  return 0;
}
