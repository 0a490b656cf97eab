#include "metrics/text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

namespace rack::master {

const char* to_string(MetricType t) {
  switch (t) {
    case MetricType::Counter: return "counter";
    case MetricType::Gauge: return "gauge";
    case MetricType::Histogram: return "histogram";
    case MetricType::Summary: return "summary";
    case MetricType::Untyped: return "untyped";
  }
  return "untyped";
}

// ---- parsing ------------------------------------------------------------------

namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
bool blank(char c) { return c == ' ' || c == '\t'; }

std::optional<double> parse_double(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);  // "+Inf"; from_chars takes no '+'
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// The format's escapes are \\, \n and (in label values) \". Anything else
// keeps its backslash: prometheus-cpp writes HELP text unescaped.
void unescape_one(char next, std::string& out) {
  if (next == 'n') out += '\n';
  else if (next == '\\' || next == '"') out += next;
  else (out += '\\') += next;
}

std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) unescape_one(s[++i], out);
    else out += s[i];
  }
  return out;
}

std::optional<MetricType> parse_type(std::string_view t) {
  if (t == "counter") return MetricType::Counter;
  if (t == "gauge") return MetricType::Gauge;
  if (t == "histogram") return MetricType::Histogram;
  if (t == "summary") return MetricType::Summary;
  if (t == "untyped") return MetricType::Untyped;
  return std::nullopt;
}

class Parser {
 public:
  Parser(std::string_view text, std::string& error, const ParseOptions& options)
      : text_(text), error_(error), only_(options.only), map_(options.lines) {}

  std::optional<MetricSnapshot> run() {
    std::size_t pos = 0;
    if (map_) *map_ = {};
    while (pos <= text_.size()) {
      std::size_t nl = text_.find('\n', pos);
      std::string_view line = text_.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      ++line_no_;
      raw_ = line;
      if (map_) map_->lines.push_back({static_cast<uint32_t>(line.size())});
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!this->line(line)) return std::nullopt;
      if (map_) map_->keys += raw_.substr(0, map_->lines.back().key_bytes);
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
    // A family announced by HELP/TYPE but without samples has nothing to merge.
    std::erase_if(out_, [](const auto& f) { return f.second.series.empty(); });
    // Buckets in order and ending with +Inf, whatever order they came in.
    for (auto& [name, fam] : out_) {
      if (fam.type != MetricType::Histogram && fam.type != MetricType::Summary) continue;
      for (auto& [key, p] : fam.series) {
        // A bound given twice: the later line wins, like any other sample.
        std::stable_sort(p.buckets.begin(), p.buckets.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        std::vector<std::pair<double, double>> unique;
        unique.reserve(p.buckets.size());
        for (auto& b : p.buckets) {
          if (!unique.empty() && unique.back().first == b.first) unique.back() = b;
          else unique.push_back(b);
        }
        p.buckets = std::move(unique);
        if (fam.type == MetricType::Histogram &&
            (p.buckets.empty() || !std::isinf(p.buckets.back().first))) {
          p.buckets.emplace_back(std::numeric_limits<double>::infinity(), p.count);
          derived_ = true;
        }
      }
    }
    if (map_) resolve_targets();
    return std::move(out_);
  }

 private:
  bool fail(const std::string& what) {
    error_ = "line " + std::to_string(line_no_) + ": " + what;
    return false;
  }

  bool line(std::string_view l) {
    std::size_t i = 0;
    while (i < l.size() && blank(l[i])) ++i;
    l.remove_prefix(i);
    if (l.empty()) return true;
    if (l.front() == '#') return comment(l);
    return sample(l);
  }

  // "# HELP name text" and "# TYPE name type"; any other comment is ignored.
  bool comment(std::string_view l) {
    l.remove_prefix(1);
    while (!l.empty() && blank(l.front())) l.remove_prefix(1);
    bool help = l.starts_with("HELP") && (l.size() == 4 || blank(l[4]));
    bool type = l.starts_with("TYPE") && (l.size() == 4 || blank(l[4]));
    if (!help && !type) return true;
    l.remove_prefix(4);
    while (!l.empty() && blank(l.front())) l.remove_prefix(1);
    std::size_t n = 0;
    while (n < l.size() && name_char(l[n])) ++n;
    if (n == 0 || !name_start(l[0])) return fail("expected a metric name after # " + std::string(help ? "HELP" : "TYPE"));
    std::string name(l.substr(0, n));
    if (!name.starts_with(only_)) return true;
    l.remove_prefix(n);
    while (!l.empty() && blank(l.front())) l.remove_prefix(1);
    if (help) {
      out_[name].help = unescape(l);
      return true;
    }
    while (!l.empty() && blank(l.back())) l.remove_suffix(1);
    auto t = parse_type(l);
    if (!t) return fail("unknown metric type \"" + std::string(l) + "\"");
    MetricFamily& f = out_[name];
    if (!f.series.empty() && f.type != *t) return fail("TYPE of " + name + " after its samples");
    f.type = *t;
    typed_.insert(name);
    last_ = {};  // a TYPE line can change where the next samples belong
    return true;
  }

  // name{labels} value [timestamp]
  bool sample(std::string_view l) {
    std::size_t n = 0;
    while (n < l.size() && name_char(l[n])) ++n;
    if (n == 0 || !name_start(l[0])) return fail("expected a metric name");
    std::string_view name = l.substr(0, n);
    if (!name.starts_with(only_)) return true;
    l.remove_prefix(n);
    while (!l.empty() && blank(l.front())) l.remove_prefix(1);
    labels_.clear();
    if (!l.empty() && l.front() == '{') {
      l.remove_prefix(1);
      if (!parse_labels(l)) return false;
    }
    while (!l.empty() && blank(l.front())) l.remove_prefix(1);
    if (map_) map_->lines.back().key_bytes = static_cast<uint32_t>(l.data() - raw_.data());
    std::size_t v = 0;
    while (v < l.size() && !blank(l[v])) ++v;
    auto value = parse_double(l.substr(0, v));
    if (!value) return fail("expected a value for " + std::string(name) + ", got \"" + std::string(l.substr(0, v)) + "\"");
    // A timestamp may follow; merged output carries none.
    return add(name, *value);
  }

  bool parse_labels(std::string_view& l) {
    for (;;) {
      while (!l.empty() && blank(l.front())) l.remove_prefix(1);
      if (l.empty()) return fail("unterminated label set");
      if (l.front() == '}') {
        l.remove_prefix(1);
        return true;
      }
      std::size_t n = 0;
      while (n < l.size() && name_char(l[n]) && l[n] != ':') ++n;
      if (n == 0) return fail("expected a label name");
      std::string_view lname = l.substr(0, n);
      l.remove_prefix(n);
      while (!l.empty() && blank(l.front())) l.remove_prefix(1);
      if (l.size() < 2 || l[0] != '=') return fail("expected '=' after label " + std::string(lname));
      l.remove_prefix(1);
      while (!l.empty() && blank(l.front())) l.remove_prefix(1);
      if (l.empty() || l.front() != '"') return fail("expected a quoted value for label " + std::string(lname));
      l.remove_prefix(1);
      std::size_t i = 0;
      bool plain = true;
      while (i < l.size() && l[i] != '"') {
        if (l[i] == '\\') {
          plain = false;
          ++i;
        }
        ++i;
      }
      if (i >= l.size()) return fail("unterminated value of label " + std::string(lname));
      labels_.push_back({lname, l.substr(0, i), plain});
      l.remove_prefix(i + 1);
      while (!l.empty() && blank(l.front())) l.remove_prefix(1);
      if (!l.empty() && l.front() == ',') l.remove_prefix(1);
    }
  }

  // A label as written: name and the text between its quotes. `plain`: no
  // backslash, so the raw text is both the value and its canonical form.
  struct Label {
    std::string_view name;
    std::string_view raw;
    bool plain;
    std::string_view key_name() const {
      // A worker's own app/worker labels would clash with the ones rackd adds.
      if (name == "app") return "exported_app";
      if (name == "worker") return "exported_worker";
      return name;
    }
    std::string value() const { return plain ? std::string(raw) : unescape(raw); }
  };

  // Takes `special` (le or quantile) out of the labels; builds the key.
  bool key(const char* special, std::string& key, std::optional<double>* special_value) {
    rest_.clear();
    for (const Label& lb : labels_) {
      if (special && lb.name == special) {
        auto d = parse_double(lb.raw);
        if (!d || std::isnan(*d)) return fail(std::string(special) + "=\"" + std::string(lb.raw) + "\" is not a number");
        *special_value = d;
        continue;
      }
      rest_.push_back(&lb);
    }
    auto by_name = [](const Label* a, const Label* b) { return a->key_name() < b->key_name(); };
    if (!std::is_sorted(rest_.begin(), rest_.end(), by_name)) std::sort(rest_.begin(), rest_.end(), by_name);
    key.clear();
    for (std::size_t i = 0; i < rest_.size(); ++i) {
      const Label& lb = *rest_[i];
      if (i > 0 && lb.key_name() == rest_[i - 1]->key_name())
        return fail("label " + std::string(lb.name) + " given twice");
      if (i) key += ',';
      key += lb.key_name();
      key += "=\"";
      if (lb.plain) key += lb.raw;
      else append_escaped(key, lb.value(), true);
      key += '"';
    }
    return true;
  }

  // Which family a sample name belongs to, and as which part.
  enum class Part { Value, Quantile, Bucket, Sum, Count };
  struct Resolved {
    MetricFamily* family = nullptr;
    Part part = Part::Value;
  };
  // Where a line's value went (the bucket by its bound: they are sorted last).
  struct Target {
    std::size_t line;
    const MetricFamily* family;
    MetricPoint* point;
    Part part;
    double special;
  };

  Resolved resolve(std::string_view name) {
    auto it = out_.find(name);
    if (it != out_.end() && (typed_.count(it->first) || !it->second.series.empty())) {
      MetricType t = it->second.type;
      return {&it->second, t == MetricType::Summary ? Part::Quantile : Part::Value};
    }
    for (auto [suffix, part] : {std::pair{std::string_view("_bucket"), Part::Bucket},
                                std::pair{std::string_view("_sum"), Part::Sum},
                                std::pair{std::string_view("_count"), Part::Count}}) {
      if (!name.ends_with(suffix)) continue;
      auto base = out_.find(name.substr(0, name.size() - suffix.size()));
      if (base == out_.end() || !typed_.count(base->first)) continue;
      MetricType t = base->second.type;
      if (t == MetricType::Histogram || (t == MetricType::Summary && part != Part::Bucket)) return {&base->second, part};
    }
    // No TYPE line: an untyped family of its own.
    MetricFamily& f = out_[std::string(name)];
    f.type = MetricType::Untyped;
    return {&f, Part::Value};
  }

  // The series `k` of `f`. A histogram's lines repeat one label set, and
  // registries list label sets in order, so both cases skip the tree walk.
  MetricPoint& point(MetricFamily& f, const std::string& k, Part part, double special = 0) {
    auto& s = f.series;
    if (last_point_family_ != &f || last_point_->first != k) {
      if (!s.empty() && std::prev(s.end())->first < k) last_point_ = s.emplace_hint(s.end(), k, MetricPoint{});
      else last_point_ = s.try_emplace(k).first;
      last_point_family_ = &f;
    }
    if (map_) targets_.push_back({map_->lines.size() - 1, &f, &last_point_->second, part, special});
    return last_point_->second;
  }

  // Where each sample line's value went, now that the buckets are sorted.
  void resolve_targets() {
    for (const Target& t : targets_) {
      LineMap::Line& line = map_->lines[t.line];
      MetricPoint& p = *t.point;
      line.grows = t.part != Part::Value || t.family->type == MetricType::Counter;
      switch (t.part) {
        case Part::Value: line.target = &p.value; break;
        case Part::Sum:  // a _sum may go down: negative observations
          line.target = &p.sum;
          line.grows = false;
          break;
        case Part::Count: line.target = &p.count; break;
        case Part::Quantile:
        case Part::Bucket: {
          auto b = std::lower_bound(p.buckets.begin(), p.buckets.end(), t.special,
                                    [](const auto& x, double le) { return x.first < le; });
          line.target = &b->second;
          line.grows = t.part == Part::Bucket;
          break;
        }
      }
    }
    map_->usable = !derived_;
  }

  bool add(std::string_view name, double value) {
    // Consecutive samples nearly always belong to one family.
    if (name != last_name_ || !last_.family) {
      last_ = resolve(name);
      last_name_.assign(name);
    }
    MetricFamily& f = *last_.family;
    std::string& k = key_;
    std::optional<double> special;
    switch (last_.part) {
      case Part::Value:
        if (f.type == MetricType::Histogram)
          return fail(std::string(name) + " is a histogram: expected _bucket, _sum or _count");
        if (!key(nullptr, k, nullptr)) return false;
        point(f, k, Part::Value).value = value;
        return true;
      case Part::Quantile:
        if (!key("quantile", k, &special)) return false;
        if (!special) return fail(std::string(name) + " is a summary: its samples need a quantile label");
        point(f, k, Part::Quantile, *special).buckets.emplace_back(*special, value);
        return true;
      case Part::Bucket:
        if (!key("le", k, &special)) return false;
        if (!special) return fail(std::string(name) + " needs an le label");
        point(f, k, Part::Bucket, *special).buckets.emplace_back(*special, value);
        return true;
      case Part::Sum:
        if (!key(nullptr, k, nullptr)) return false;
        point(f, k, Part::Sum).sum = value;
        return true;
      case Part::Count:
        if (!key(nullptr, k, nullptr)) return false;
        point(f, k, Part::Count).count = value;
        return true;
    }
    return true;
  }

  std::string_view text_;
  std::string& error_;
  std::size_t line_no_ = 0;
  MetricSnapshot out_;
  std::set<std::string, std::less<>> typed_;
  std::vector<Label> labels_;
  std::vector<const Label*> rest_;
  std::string key_;
  std::string last_name_;
  Resolved last_;
  MetricFamily* last_point_family_ = nullptr;
  std::map<std::string, MetricPoint>::iterator last_point_;
  std::string_view only_;
  LineMap* map_;
  std::string_view raw_;  // the line being parsed, as it is in the text
  std::vector<Target> targets_;
  bool derived_ = false;  // a value made of other lines' values (a missing +Inf bucket)
};

}  // namespace

std::optional<MetricSnapshot> parse_exposition(std::string_view text, std::string& error,
                                               const ParseOptions& options) {
  return Parser(text, error, options).run();
}

bool read_values(const LineMap& map, std::string_view text, std::vector<double>& values) {
  values.clear();
  std::size_t pos = 0, key_at = 0;
  for (std::size_t i = 0; i < map.lines.size(); ++i) {
    if (pos > text.size()) return false;
    std::size_t nl = text.find('\n', pos);
    std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view raw = text.substr(pos, end - pos);
    const LineMap::Line& line = map.lines[i];
    std::string_view key(map.keys.data() + key_at, line.key_bytes);
    key_at += line.key_bytes;
    if (!raw.starts_with(key)) return false;
    if (!line.target) {
      if (raw.size() != key.size()) return false;
    } else {
      if (raw.ends_with('\r')) raw.remove_suffix(1);
      std::size_t v = key.size();
      while (v < raw.size() && !blank(raw[v])) ++v;
      auto value = parse_double(raw.substr(key.size(), v - key.size()));
      if (!value) return false;
      values.push_back(*value);
    }
    // As many lines as the map: the last one ends the text.
    if ((nl == std::string_view::npos) != (i + 1 == map.lines.size())) return false;
    pos = end + 1;
  }
  return true;
}

}  // namespace rack::master
