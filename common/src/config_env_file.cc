// env_file: the dotenv lines deploys share (DATABASE_URL=...). What the
// common dotenv readers agree on, and nothing they disagree on: no
// variable expansion, no multi-line values.
#include <string>

#include "rack/config.h"

namespace rack::config {
namespace {

bool name_char(char c, bool first) {
  return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The value after '=': quoted, or bare up to a " #" comment.
std::optional<std::string> value_of(std::string_view v, std::string& why) {
  v = trim(v);
  if (v.empty()) return std::string();
  char q = v.front();
  if (q != '"' && q != '\'') {
    auto hash = v.find(" #");
    return std::string(trim(v.substr(0, hash)));
  }
  std::string out;
  std::size_t i = 1;
  for (; i < v.size() && v[i] != q; ++i) {
    if (q == '"' && v[i] == '\\' && i + 1 < v.size()) {
      char e = v[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
    } else {
      out += v[i];
    }
  }
  if (i >= v.size()) return why = "unterminated " + std::string(1, q) + " quote", std::nullopt;
  std::string_view rest = trim(v.substr(i + 1));
  if (!rest.empty() && rest.front() != '#') return why = "text after the closing quote", std::nullopt;
  return out;
}

}  // namespace

std::optional<std::map<std::string, std::string>> parse_env_file(std::string_view text, std::string& error) {
  std::map<std::string, std::string> vars;
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    if (line.starts_with("export ")) line = trim(line.substr(7));
    auto eq = line.find('=');
    std::string_view name = trim(line.substr(0, eq));
    bool valid = eq != std::string_view::npos && !name.empty();
    for (std::size_t i = 0; valid && i < name.size(); ++i) valid = name_char(name[i], i == 0);
    std::string why;
    if (!valid) why = "expected NAME=value (NAME of letters, digits and _), got \"" + std::string(line.substr(0, 60)) + "\"";
    std::optional<std::string> value;
    if (valid) value = value_of(line.substr(eq + 1), why);
    if (!value) {
      error = "line " + std::to_string(line_no) + ": " + why;
      return std::nullopt;
    }
    vars[std::string(name)] = *value;
  }
  return vars;
}

}  // namespace rack::config
