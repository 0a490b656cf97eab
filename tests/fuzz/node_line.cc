// A node worker's channel as rackd reads it (node/protocol.h, no socket):
// bytes in pieces of any size, the line bound (512 bytes here, 4 MB in
// rackd), the fast newconn-answer path, the bounded JSON parse, and what
// each cluster message decides. Checks beyond "no crash": every answer is
// one line of valid JSON, answers only ever name connections that were
// handed over, and what waits for its newline stays under the bound.
// Input: byte 0 = the piece size (0 = all at once), the rest = the bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "node/protocol.h"

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

constexpr std::size_t kBound = 512;

class Fake : public rack::master::NodeProtocol {
 public:
  Fake() : NodeProtocol("api", {{"address", "127.0.0.1"}, {"family", "IPv4"}, {"port", 8080}}, kBound) {}
  std::set<uint64_t> handed{0, 1, 2};  // connections given and not answered
  int errors = 0;
  bool shut = false;
  std::size_t waiting() const { return inbuf_.size(); }

 protected:
  void reply(std::string line) override {
    if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1) fail("a reply is not one line");
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("cmd", "") != "NODE_CLUSTER") fail("a reply is not a cluster message: " + line);
  }
  void conn_answered(uint64_t seq, bool) override { handed.erase(seq); }
  void conn_lost() override {
    if (!handed.empty()) handed.erase(handed.begin());
  }
  void listening() override {}
  void user_message(const nlohmann::json& m) override { (void)m.dump(); }
  void protocol_error(const std::string& what) override {
    if (what.empty()) fail("a protocol error without a reason");
    ++errors;
  }
  bool closed() const override { return shut; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool once = (rack::fuzz::quiet_logs(), true);
  (void)once;
  if (size == 0) return 0;
  std::size_t piece = data[0] == 0 ? size : data[0];
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  Fake fake;
  while (!bytes.empty()) {
    std::string_view now = bytes.substr(0, piece);
    bytes.remove_prefix(now.size());
    fake.feed(now);
    if (fake.waiting() > kBound) fail("a partial line over the bound is kept");
  }
  if (!fake.server_key().empty() && fake.server_key().find('\n') != std::string::npos) fail("a newline in the key");
  return 0;
}
