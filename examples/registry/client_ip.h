// Which client a request comes from, for the rate limit and the logs.
//
//   registry::TrustedProxies proxies;
//   proxies.add("10.0.0.0/8", error);
//   std::string ip = registry::client_ip(req.peer_ip, req.headers, proxies);
//
// X-Forwarded-For is believed only when the direct peer is a trusted proxy:
// anyone else could write any address there and get a fresh rate-limit
// bucket per request. Then the list is read from the right (the entry our
// proxy added) leftwards, skipping trusted proxies; the first untrusted
// address is the client. A malformed entry stops the walk (what is left of
// it cannot be trusted): the last address we could vouch for is used.
// All headers of that name count, in order, as one list.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rack/worker.h>

namespace registry {

using IpBytes = std::array<uint8_t, 16>;  // IPv4 as ::ffff:a.b.c.d

std::optional<IpBytes> parse_ip(std::string_view text);
// Canonical text: IPv4 dotted, IPv6 as inet_ntop writes it.
std::string format_ip(const IpBytes& ip);

class TrustedProxies {
 public:
  // "127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"; false with a reason otherwise.
  bool add(std::string_view spec, std::string& error);
  bool contains(const IpBytes& ip) const;
  bool empty() const { return nets_.empty(); }

 private:
  struct Net {
    IpBytes addr;
    int prefix;  // over the 128 bits (IPv4 /n is 96 + n)
  };
  std::vector<Net> nets_;
};

std::string client_ip(std::string_view peer_ip, const std::vector<rack::Header>& headers,
                      const TrustedProxies& trusted);

// The rate-limit bucket of an address: IPv4 as is; IPv6 by its /64, the
// smallest block a single customer is normally given (one host can use all
// 2^64 addresses in it).
std::string rate_limit_key(std::string_view ip);

}  // namespace registry
