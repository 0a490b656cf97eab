// Small text helpers the registry's header parsers share.
#pragma once

#include <string_view>

namespace registry {

// `s` without the spaces and tabs (HTTP's OWS) around it.
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace registry
