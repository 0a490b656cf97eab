// The answers every control API route gives, and its query-string reader.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "rack/http_message.h"

namespace rack::master::api {

// Every JSON rackd sends: messages and log lines may carry bytes that are
// not UTF-8 (a path, an app's output), and the strict dump would throw.
std::string text(const nlohmann::json& j);

// {"error": message} with `status` (400: rackctl exits 2; 404, 409: 1).
http::Response error(int status, const std::string& message);
// {"ok": true, ...extra}.
http::Response ok(nlohmann::json extra = nlohmann::json::object());

// What a client sent where something else was expected, for "expected X,
// got <this>": its type, and its value when short ("number 7", "array").
std::string got(const nlohmann::json& j);

// The value of `key` in "a=1&b=2", "" when absent. No percent-decoding:
// rackctl sends app names ([A-Za-z0-9_-]) and numbers.
std::string query_param(const std::string& query, const std::string& key);

// "" when `name` is an app name (rack::config::valid_app_name), else the
// message for a 400 naming it and the rule. A path is taken literally: no
// percent-decoding, so "web%00" (an embedded NUL) is refused, never
// truncated to "web".
std::string app_name_error(std::string_view name);

}  // namespace rack::master::api
