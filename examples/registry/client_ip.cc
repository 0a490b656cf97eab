#include "client_ip.h"

#include "header_text.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace registry {

namespace {

constexpr IpBytes kV4Prefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};

bool is_v4(const IpBytes& ip) { return std::memcmp(ip.data(), kV4Prefix.data(), 12) == 0; }

bool prefix_equal(const IpBytes& a, const IpBytes& b, int bits) {
  int full = bits / 8, rest = bits % 8;
  if (std::memcmp(a.data(), b.data(), static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

std::optional<IpBytes> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpBytes ip{};
  if (::inet_pton(AF_INET, buf, ip.data() + 12) == 1) {
    std::memcpy(ip.data(), kV4Prefix.data(), 12);
    return ip;
  }
  if (::inet_pton(AF_INET6, buf, ip.data()) == 1) return ip;
  return std::nullopt;
}

std::string format_ip(const IpBytes& ip) {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4(ip))
    ::inet_ntop(AF_INET, ip.data() + 12, buf, sizeof buf);
  else
    ::inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
  return buf;
}

bool TrustedProxies::add(std::string_view spec, std::string& error) {
  spec = trim(spec);
  std::string_view addr = spec;
  int prefix = -1;
  if (auto slash = spec.find('/'); slash != std::string_view::npos) {
    addr = spec.substr(0, slash);
    std::string_view bits = spec.substr(slash + 1);
    auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    if (ec != std::errc{} || p != bits.data() + bits.size() || prefix < 0) {
      error = "\"" + std::string(spec) + "\": the prefix length must be a number";
      return false;
    }
  }
  auto ip = parse_ip(addr);
  if (!ip) {
    error = "\"" + std::string(spec) + "\" is not an IP address or CIDR block";
    return false;
  }
  int max = is_v4(*ip) ? 32 : 128;
  if (prefix > max) {
    error = "\"" + std::string(spec) + "\": prefix longer than " + std::to_string(max) + " bits";
    return false;
  }
  if (prefix < 0) prefix = max;
  nets_.push_back({*ip, is_v4(*ip) ? 96 + prefix : prefix});
  return true;
}

bool TrustedProxies::contains(const IpBytes& ip) const {
  for (const Net& n : nets_)
    if (prefix_equal(n.addr, ip, n.prefix)) return true;
  return false;
}

std::string client_ip(std::string_view peer_ip, const std::vector<rack::Header>& headers,
                      const TrustedProxies& trusted) {
  auto peer = parse_ip(peer_ip);
  if (!peer) return std::string(peer_ip);  // a unix-socket peer: "" (or something we cannot judge)
  if (!trusted.contains(*peer)) return format_ip(*peer);
  std::vector<std::string_view> hops;
  for (const rack::Header& h : headers) {
    if (!rack::http::iequals(h.name, "x-forwarded-for")) continue;
    std::string_view v = h.value;
    while (true) {
      std::size_t comma = v.find(',');
      hops.push_back(trim(v.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  IpBytes current = *peer;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    auto hop = parse_ip(*it);
    if (!hop) break;
    current = *hop;
    if (!trusted.contains(current)) break;
  }
  return format_ip(current);
}

std::string rate_limit_key(std::string_view text) {
  auto ip = parse_ip(text);
  if (!ip) return std::string(text);
  if (is_v4(*ip)) return format_ip(*ip);
  IpBytes net = *ip;
  std::memset(net.data() + 8, 0, 8);
  return format_ip(net) + "/64";
}

}  // namespace registry
