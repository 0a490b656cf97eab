// The small value parsers behind ecosystem.yaml (durations, sizes, listen
// addresses, commands) and the printable names of the config enums. They know
// nothing about YAML, so the loader and rackctl's argument parsing share them.
#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "rack/config.h"

namespace rack::config {

std::string Location::str() const {
  std::string out = file;
  // Line 0 means "no position": a default the file never spelled out.
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  if (!key_path.empty()) out += ": " + key_path;
  return out;
}

ConfigError::ConfigError(const Location& at, const std::string& what)
    : std::runtime_error(at.str() + ": " + what), at_(at) {}

ConfigError::ConfigError(const std::string& what) : std::runtime_error(what) {}

const char* to_string(Protocol p) {
  switch (p) {
    case Protocol::Rack: return "rack";
    case Protocol::Node: return "node";
    case Protocol::Inherit: return "inherit";
    case Protocol::None: return "none";
  }
  return "?";
}

const char* to_string(Dispatch d) {
  switch (d) {
    case Dispatch::RoundRobin: return "round-robin";
    case Dispatch::LeastConnections: return "least-connections";
  }
  return "?";
}

const char* to_string(OnFull o) {
  switch (o) {
    case OnFull::Block: return "block";
    case OnFull::Drop: return "drop";
  }
  return "?";
}

const char* to_string(Aggregation a) {
  switch (a) {
    case Aggregation::Sum: return "sum";
    case Aggregation::Min: return "min";
    case Aggregation::Max: return "max";
    case Aggregation::Avg: return "avg";
    case Aggregation::First: return "first";
  }
  return "?";
}

std::string ListenAddr::str() const {
  // IPv6 needs brackets, or the port would read as one more address group.
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

// "12" or "1.5" at the front of `text`: the number and how many chars it used.
// Signs, exponents and a bare "." are refused: nobody means them in a config.
struct Number {
  double value = 0;
  bool fractional = false;
  std::size_t length = 0;
};

std::optional<Number> leading_number(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  if (i == 0) return std::nullopt;
  bool fractional = false;
  if (i < text.size() && text[i] == '.') {
    std::size_t digits = i + 1;
    while (digits < text.size() && is_digit(text[digits])) ++digits;
    if (digits == i + 1) return std::nullopt;  // "1." or "1.s"
    i = digits;
    fractional = true;
  }
  Number n;
  auto [end, ec] = std::from_chars(text.data(), text.data() + i, n.value);
  if (ec != std::errc() || end != text.data() + i || !std::isfinite(n.value)) return std::nullopt;
  n.fractional = fractional;
  n.length = i;
  return n;
}

// Integers are parsed exactly; doubles lose precision past 2^53, which matters
// for sizes in bytes.
std::optional<uint64_t> exact_integer(std::string_view digits) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return v;
}

std::optional<uint64_t> scaled(std::string_view text, const Number& n, uint64_t unit) {
  if (!n.fractional) {
    auto v = exact_integer(text.substr(0, n.length));
    if (!v || (unit != 0 && *v > std::numeric_limits<uint64_t>::max() / unit)) return std::nullopt;
    return *v * unit;
  }
  double v = std::round(n.value * static_cast<double>(unit));
  // 2^63 keeps the result representable both as uint64_t and as a signed
  // chrono count.
  if (!(v < 9.2e18)) return std::nullopt;
  return static_cast<uint64_t>(v);
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  auto n = leading_number(text);
  if (!n) return std::nullopt;
  std::string_view unit = text.substr(n->length);
  uint64_t ms_per_unit = 0;
  if (unit.empty() || unit == "ms") {
    ms_per_unit = 1;
  } else if (unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "m") {
    ms_per_unit = 60 * 1000;
  } else if (unit == "h") {
    ms_per_unit = 60 * 60 * 1000;
  } else if (unit == "d") {
    ms_per_unit = 24 * 60 * 60 * 1000;
  } else {
    return std::nullopt;
  }
  // "1.5" alone would be 1.5 ms, which is surely a forgotten unit.
  if (unit.empty() && n->fractional) return std::nullopt;
  auto ms = scaled(text, *n, ms_per_unit);
  if (!ms || *ms > static_cast<uint64_t>(std::numeric_limits<Duration::rep>::max())) {
    return std::nullopt;
  }
  return Duration{static_cast<Duration::rep>(*ms)};
}

std::optional<uint64_t> parse_size(std::string_view text) {
  auto n = leading_number(text);
  if (!n) return std::nullopt;
  std::string unit = lowercase(text.substr(n->length));
  // "50M", "50MB" and "50MiB" all mean 50 * 2^20: in a config file nobody
  // wants the difference between 10^6 and 2^20 to matter.
  if (unit.size() == 3 && unit.substr(1) == "ib") unit.resize(1);
  if (unit.size() == 2 && unit[1] == 'b') unit.resize(1);
  uint64_t multiplier = 0;
  if (unit.empty() || unit == "b") {
    multiplier = 1;
  } else if (unit == "k") {
    multiplier = 1ull << 10;
  } else if (unit == "m") {
    multiplier = 1ull << 20;
  } else if (unit == "g") {
    multiplier = 1ull << 30;
  } else if (unit == "t") {
    multiplier = 1ull << 40;
  } else {
    return std::nullopt;
  }
  if (multiplier == 1 && n->fractional) return std::nullopt;  // half a byte
  return scaled(text, *n, multiplier);
}

std::optional<ListenAddr> parse_listen(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    // Brackets are for IPv6 only; "[127.0.0.1]:80" is a typo worth refusing.
    if (host.find(':') == std::string_view::npos) return std::nullopt;
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // An unbracketed IPv6 address is ambiguous: is "::1:80" port 80?
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }

  if (port.empty() || port.size() > 5) return std::nullopt;
  for (char c : port) {
    if (!is_digit(c)) return std::nullopt;
  }
  auto port_number = exact_integer(port);
  if (!port_number || *port_number > 65535) return std::nullopt;

  ListenAddr addr;
  addr.port = static_cast<uint16_t>(*port_number);
  if (host.empty() || host == "*") {
    addr.host = "0.0.0.0";
  } else if (lowercase(host) == "localhost") {
    addr.host = "127.0.0.1";
  } else {
    // Only numeric addresses: resolving names here would make loading the
    // config depend on DNS. Normalising through inet_ntop makes equal
    // addresses compare equal ("::0001" vs "::1").
    std::string h(host);
    int family = h.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(family, h.c_str(), buf) != 1) return std::nullopt;
    char printable[INET6_ADDRSTRLEN];
    if (inet_ntop(family, buf, printable, sizeof printable) == nullptr) return std::nullopt;
    addr.host = printable;
  }
  return addr;
}

std::optional<std::vector<std::string>> split_command(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  // Separate from `word.empty()`, so '' and "" still make an (empty) argument.
  bool in_word = false;
  std::size_t i = 0;

  auto finish_word = [&] {
    if (in_word) words.push_back(std::move(word));
    word.clear();
    in_word = false;
  };

  while (i < text.size()) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      finish_word();
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= text.size()) return std::nullopt;  // the shell would wait for more
      if (text[i + 1] != '\n') {  // backslash-newline joins lines and adds nothing
        word += text[i + 1];
        in_word = true;
      }
      i += 2;
    } else if (c == '\'') {
      // Inside single quotes every character is literal, backslash included.
      std::size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) return std::nullopt;
      word.append(text.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      in_word = true;
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char d = text[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        // POSIX: inside double quotes a backslash only escapes these; before
        // any other character it is kept ("C:\dir" stays as written).
        if (d == '\\' && i + 1 < text.size()) {
          char next = text[i + 1];
          if (next == '"' || next == '\\' || next == '$' || next == '`') {
            word += next;
            i += 2;
            continue;
          }
          if (next == '\n') {
            i += 2;
            continue;
          }
        }
        word += d;
        ++i;
      }
      if (!closed) return std::nullopt;
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  finish_word();
  return words;
}

}  // namespace rack::config
