#include "rack/json.h"

namespace rack::json_input {

std::size_t nesting_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return limit + 1;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::optional<nlohmann::json> parse(std::string_view text, std::string& error, std::size_t max_depth) {
  // The scan runs before the parser builds anything, so a deep document
  // costs one pass over its bytes and no allocation.
  if (nesting_depth(text, max_depth) > max_depth) {
    error = "nested deeper than " + std::to_string(max_depth) + " levels";
    return std::nullopt;
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 2:
    // syntax error ..." : the part after the bracketed id is the message.
    std::string what = e.what();
    auto close = what.find("] ");
    error = close == std::string::npos ? what : what.substr(close + 2);
    if (error.size() > 200) error = error.substr(0, 200) + "...";
    return std::nullopt;
  }
}

std::string excerpt(const nlohmann::json& j, std::size_t max) {
  // dump() of a value parse() accepted recurses at most kMaxDepth deep; the
  // text may still be megabytes, so it is cut.
  return clip(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), max);
}

std::string clip(std::string_view text, std::size_t max) {
  if (text.size() <= max) return std::string(text);
  return std::string(text.substr(0, max)) + "...";
}

const char* type_name(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::string: return "string";
    case nlohmann::json::value_t::boolean: return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: return "number";
    case nlohmann::json::value_t::array: return "array";
    case nlohmann::json::value_t::object: return "object";
    case nlohmann::json::value_t::null: return "null";
    default: return "binary";
  }
}

}  // namespace rack::json_input
