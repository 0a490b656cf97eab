// One app's merged exposition as a recipe (MetricsMerge's cache): each
// merged sample's text up to its value, ready-made, and which of the
// processes' values (and the retired totals) make its value. Working out
// the merge (union of label sets and buckets, newest process per slot,
// `app`/`worker` labels) happens once, when the app's series change;
// rendering then adds numbers and formats only the families whose values
// moved since the last render.
//
// The plan points into the snapshots it was built from: values may change
// in place, but a series added or removed (a new snapshot, a retired
// process) needs a new plan. The rules it applies are MetricsMerge's
// (merge.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/text.h"
#include "rack/config.h"

namespace rack::master {

struct ProcessInfo {
  int slot = 0;
  uint64_t generation = 0;
};

class MergePlan {
 public:
  struct Part {
    ProcessInfo info;
    const MetricSnapshot* snapshot;
  };
  // `live`: the live processes in ProcessKey order.
  MergePlan(std::string_view app, const std::vector<Part>& live, const MetricSnapshot& retired,
            const std::map<std::string, config::Aggregation>& gauges);

  const std::map<std::string, config::Aggregation>& gauges() const { return gauges_; }
  // Adds the app's families to `out`; see MetricsMerge::render.
  void render(Exposition& out, std::size_t* skipped);

 private:
  struct Sample {
    std::string head;  // name, suffix and {labels}, and the space before the value
    uint32_t first = 0, count = 0;  // its values: refs_[first, first + count)
    config::Aggregation fold = config::Aggregation::Sum;
  };
  struct Family {
    std::string name;
    MetricType type = MetricType::Untyped;
    std::string help;
    std::vector<Sample> samples;
    bool rendered = false;
    std::vector<double> values;  // at the last render
    std::string lines;           // the samples formatted then
  };
  class Builder;

  double value(const Sample& s) const;

  std::vector<const double*> refs_;
  std::vector<Family> families_;
  std::map<std::string, config::Aggregation> gauges_;
  std::vector<double> scratch_;
};

}  // namespace rack::master
