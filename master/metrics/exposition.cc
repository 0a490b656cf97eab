// The writing half of text.h: values, label pairs, and Exposition.
#include <charconv>
#include <cmath>

#include "metrics/text.h"

namespace rack::master {

// ---- formatting ---------------------------------------------------------------

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(ec == std::errc() ? std::string_view(buf, static_cast<std::size_t>(end - buf)) : "NaN");
  }
}

std::string format_value(double v) {
  std::string out;
  append_value(out, v);
  return out;
}

void append_escaped(std::string& out, std::string_view v, bool quote_too) {
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quote_too) out += "\\\"";
    else out += c;
  }
}

std::string label_pair(std::string_view name, std::string_view value) {
  std::string out(name);
  out += "=\"";
  append_escaped(out, value, true);
  out += '"';
  return out;
}

// ---- Exposition ---------------------------------------------------------------

void Exposition::Family::sample(std::string_view suffix, std::string_view labels, double value) {
  body_ += name_;
  body_ += suffix;
  if (!labels.empty()) {
    body_ += '{';
    body_ += labels;
    body_ += '}';
  }
  body_ += ' ';
  append_value(body_, value);
  body_ += '\n';
  ++samples_;
}

void Exposition::Family::append(std::string_view lines, std::size_t samples) {
  body_ += lines;
  samples_ += samples;
}

Exposition::Family* Exposition::family(std::string_view name, MetricType type, std::string_view help,
                                       bool exclusive) {
  auto it = by_name_.find(std::string(name));
  if (it != by_name_.end()) {
    Family* f = it->second;
    if (f->exclusive_ || exclusive || f->type_ != type) return nullptr;
    return f;
  }
  auto f = std::make_unique<Family>();
  f->name_ = std::string(name);
  f->type_ = type;
  f->exclusive_ = exclusive;
  f->help_ = help.empty() ? std::string("Merged from the workers of each app.") : std::string(help);
  Family* raw = f.get();
  by_name_.emplace(raw->name_, raw);
  order_.push_back(std::move(f));
  return raw;
}

std::string Exposition::str() const {
  std::size_t size = 0;
  for (auto& f : order_) size += f->body_.size() + f->help_.size() + 2 * f->name_.size() + 32;
  std::string out;
  out.reserve(size);
  for (auto& f : order_) {
    out += "# HELP ";
    out += f->name_;
    out += ' ';
    append_escaped(out, f->help_, false);
    out += "\n# TYPE ";
    out += f->name_;
    out += ' ';
    out += to_string(f->type_);
    out += '\n';
    out += f->body_;
  }
  return out;
}

}  // namespace rack::master
