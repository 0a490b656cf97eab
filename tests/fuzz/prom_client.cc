// prom-client's cluster answer (a node worker's prom-client:getMetricsRes
// line) as rackd reads it: bounded JSON parse, the shape check, and the
// conversion to the text format, then the merge. A conversion the merge
// refuses must say why (rackd logs it and keeps the worker's last report).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "metrics/merge.h"
#include "metrics/prom_client.h"
#include "metrics/text.h"
#include "rack/json.h"

using namespace rack::master;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  std::string err;
  auto m = rack::json_input::parse(line, err);
  if (!m) return 0;
  (void)prom_client::is_response(*m);
  auto text = prom_client::to_exposition(*m, err);
  if (!text) return 0;
  MetricsMerge merge;
  err.clear();
  if (!merge.report("api", ProcessKey{1, 1}, ProcessInfo{0, 1}, *text, err) && err.empty()) {
    std::fprintf(stderr, "the merge refused a report without saying why\n---\n%s\n", text->c_str());
    std::abort();
  }
  Exposition out;
  merge.render("api", {}, out);
  return 0;
}
