// JSON that comes from outside rackd: control API bodies, node channel
// lines, prom-client answers, dump.json. nlohmann's parser is iterative, but
// dump(), comparisons and copies recurse once per nesting level, so a
// 90,000-deep array from a client would end rackd on the stack. Everything
// from outside is parsed here, with a depth bound, and errors are values.
//
//   std::string err;
//   std::optional<nlohmann::json> body = rack::json_input::parse(text, err);
//   if (!body) return reply(400, "body: " + err);   // "nested deeper than 64 levels"
//   spdlog::warn("odd answer: {}", rack::json_input::excerpt(*body));  // bounded
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace rack::json_input {

constexpr std::size_t kMaxDepth = 64;

// The value of `text`, or nullopt with `error` saying what is wrong (not
// JSON at which byte, or too deep). Never throws.
std::optional<nlohmann::json> parse(std::string_view text, std::string& error,
                                    std::size_t max_depth = kMaxDepth);

// How deep `text` nests arrays and objects (brackets inside strings do not
// count). Stops counting past `limit`: returns limit + 1 then.
std::size_t nesting_depth(std::string_view text, std::size_t limit);

// At most `max` bytes of `j` as JSON text, "..." appended when cut: what a
// log line or an error message may quote of an outside value. Invalid UTF-8
// is replaced, never thrown about.
std::string excerpt(const nlohmann::json& j, std::size_t max = 120);

// The same for text that came from outside (a key built of its values).
std::string clip(std::string_view text, std::size_t max = 120);

// "string", "number", "boolean", "array", "object", "null": what an error
// says it got instead of what it expected.
const char* type_name(const nlohmann::json& j);

}  // namespace rack::json_input
