// Text for a man page (roff), escaped: rackctl.1 and rackd.8 are both
// generated from their CLI definitions (cli/cli_docs.cc, master/daemon_options.cc).
//
//   out << ".TP\n.B " << rack::roff("--home") << "\n" << rack::roff(description) << "\n";
#pragma once

#include <string>

namespace rack {

// Every '\' and '-' escaped, and a leading '.' or '\'' kept from being read
// as a request.
inline std::string roff(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

}  // namespace rack
