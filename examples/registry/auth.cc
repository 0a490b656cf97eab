#include "auth.h"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace registry {

namespace {

constexpr std::size_t kMinTokenBytes = 16;

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() != b.size();
  for (std::size_t i = 0; i < b.size(); ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ b[i]);
  return diff == 0;
}

bool is_comment(const std::string& key) { return !key.empty() && key[0] == '_'; }

}  // namespace

std::optional<Auth> Auth::parse(std::string_view text, std::string& error) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return error = "not valid JSON", std::nullopt;
  if (!j.is_object()) return error = "expected an object with \"tokens\"", std::nullopt;
  Auth a;
  std::set<std::string> seen;
  for (auto& [key, value] : j.items()) {
    if (is_comment(key)) continue;
    if (key == "public_read") {
      if (!value.is_boolean()) return error = "\"public_read\" must be true or false", std::nullopt;
      a.public_read_ = value.get<bool>();
    } else if (key == "tokens") {
      if (!value.is_array()) return error = "\"tokens\" must be an array", std::nullopt;
      for (std::size_t i = 0; i < value.size(); ++i) {
        const nlohmann::json& t = value[i];
        std::string where = "tokens[" + std::to_string(i) + "]";
        if (!t.is_object()) return error = where + " must be an object", std::nullopt;
        Token tok;
        for (auto& [k, v] : t.items()) {
          if (is_comment(k)) continue;
          if (k == "name" && v.is_string()) {
            tok.name = v.get<std::string>();
          } else if (k == "token" && v.is_string()) {
            tok.secret = v.get<std::string>();
          } else if (k == "rights" && v.is_array()) {
            for (auto& r : v) {
              if (r == "read") tok.read = true;
              else if (r == "write") tok.write = tok.read = true;
              else return error = where + ".rights: expected \"read\" or \"write\", got " + r.dump(), std::nullopt;
            }
          } else if (k == "name" || k == "token" || k == "rights") {
            return error = where + "." + k + (k == "rights" ? " must be an array" : " must be a string"), std::nullopt;
          } else {
            return error = where + ": unknown key \"" + k + "\" (expected name, token, rights)", std::nullopt;
          }
        }
        if (tok.name.empty()) return error = where + ".name is required", std::nullopt;
        if (tok.secret.size() < kMinTokenBytes)
          return error = where + ".token must be at least 16 characters", std::nullopt;
        if (!tok.read) return error = where + ".rights must include \"read\" or \"write\"", std::nullopt;
        if (!seen.insert(tok.secret).second) return error = where + ".token is used twice", std::nullopt;
        a.tokens_.push_back(std::move(tok));
      }
    } else {
      return error = "unknown key \"" + key + "\" (expected public_read, tokens)", std::nullopt;
    }
  }
  return a;
}

std::optional<Auth> Auth::load(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) return error = path + ": cannot read", std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  auto a = parse(ss.str(), error);
  if (!a) error = path + ": " + error;
  return a;
}

const Token* Auth::find(std::string_view presented) const {
  const Token* found = nullptr;
  for (const Token& t : tokens_)  // no early exit: the time taken says nothing about which token
    if (constant_time_equal(presented, t.secret) && !found) found = &t;
  return found;
}

std::string_view presented_token(const std::vector<rack::Header>& headers) {
  if (std::string_view t = rack::http::find_header(headers, "x-registry-token"); !t.empty()) return t;
  std::string_view a = rack::http::find_header(headers, "authorization");
  if (a.size() > 7 && rack::http::iequals(a.substr(0, 7), "bearer ")) {
    a.remove_prefix(7);
    while (!a.empty() && a.front() == ' ') a.remove_prefix(1);
    while (!a.empty() && a.back() == ' ') a.remove_suffix(1);
    return a;
  }
  return {};
}

AuthResult authorize(const Auth* auth, const std::vector<rack::Header>& headers, Right needed) {
  if (needed == Right::Read && (!auth || auth->public_read())) return {};
  if (!auth) return {403, "this registry is read-only (started without --auth)"};
  std::string_view presented = presented_token(headers);
  if (presented.empty()) return {401, "a token is required: send x-registry-token or Authorization: Bearer"};
  const Token* t = auth->find(presented);
  if (!t) return {401, "invalid token"};
  bool allowed = needed == Right::Write ? t->write : t->read;
  if (!allowed)
    return {403, std::string("token \"") + t->name + "\" has no " + (needed == Right::Write ? "write" : "read") + " right", t};
  return {0, "", t};
}

}  // namespace registry
