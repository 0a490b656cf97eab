// Issue 6: the Registry Server run by the real rackd — files, caching,
// compression, tokens, the shared rate limit, proxies, health, and publishes
// that survive kill -9.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <brotli/decode.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "harness.h"

using namespace rack::test;
using rack::http::Client;
using H = std::vector<rack::http::Header>;
namespace fs = std::filesystem;

namespace {

const std::string kWriter = "writer-token-0123456789abcdef";
const std::string kReader = "reader-token-0123456789abcdef";

std::string registry_app(const std::string& name, int instances, const std::string& storage,
                         const std::vector<std::string>& args = {}, const std::string& extra = "") {
  std::string run = "[" + bin("rack-registry") + ", --storage, " + storage;
  for (const std::string& a : args) run += ", \"" + a + "\"";
  run += "]";
  return "  - name: " + name + "\n    run: " + run + "\n    protocol: rack\n    listen: 127.0.0.1:0\n" +
         "    instances: " + std::to_string(instances) + "\n" + extra;
}

// A Rack home with a storage directory and an auth.json in it.
struct Registry {
  Rack rack;
  std::string storage = rack.home() + "/storage";
  std::string auth = rack.home() + "/auth.json";
  std::string host;
  int port = 0;

  Registry() {
    fs::create_directories(storage);
    std::ofstream(auth) << R"({"tokens":[{"name":"ci","token":")" << kWriter
                        << R"(","rights":["read","write"]},{"name":"mirror","token":")" << kReader
                        << R"(","rights":["read"]}]})";
    fs::permissions(auth, fs::perms::owner_read | fs::perms::owner_write);
  }
  // Starts `apps` (YAML list items) and waits until `app` has n ready workers.
  void start(const std::string& apps, const std::string& app, size_t n) {
    std::string eco = rack.write_file("eco.yaml", "rack:\n  admin: 127.0.0.1:0\napps:\n" + apps);
    auto r = rack.ctl({"start", eco});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    REQUIRE(rack.wait_ready(app, n));
    std::tie(host, port) = rack.address(app);
    REQUIRE(port > 0);
  }
  void write(const std::string& rel, const std::string& content) const {
    fs::create_directories(fs::path(storage + "/" + rel).parent_path());
    std::ofstream(storage + "/" + rel, std::ios::binary) << content;
  }
  Client client() const {
    auto c = Client::tcp(host, static_cast<uint16_t>(port));
    c.set_timeout(std::chrono::milliseconds(10000));
    return c;
  }
  Client::Result req(const std::string& method, const std::string& target, const std::string& body = "",
                     H headers = {}) const {
    auto c = client();
    headers.push_back({"Connection", "close"});
    return c.request(method, target, body, headers);
  }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string inflate_all(const std::string& in, int window_bits) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, window_bits) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[65536];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&z);
  CHECK(rc == Z_STREAM_END);
  return out;
}

std::string unbrotli(const std::string& in) {
  BrotliDecoderState* s = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  size_t avail_in = in.size();
  auto* next_in = reinterpret_cast<const uint8_t*>(in.data());
  std::string out;
  BrotliDecoderResult rc;
  do {
    uint8_t buf[65536];
    size_t avail_out = sizeof buf;
    uint8_t* next_out = buf;
    rc = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    out.append(reinterpret_cast<char*>(buf), sizeof buf - avail_out);
  } while (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT);
  BrotliDecoderDestroyInstance(s);
  CHECK(rc == BROTLI_DECODER_RESULT_SUCCESS);
  return out;
}

// Text that compresses, but not to nothing: lines with varying numbers.
std::string text_of(std::size_t bytes) {
  std::string s;
  for (uint64_t i = 0; s.size() < bytes; ++i) s += "registry line " + std::to_string(i * 2654435761u % 100000) + "\n";
  s.resize(bytes);
  return s;
}

// Bytes that do not compress and are not uniform (a torn file shows).
std::string noise_of(std::size_t bytes, uint32_t seed) {
  std::string s(bytes, '\0');
  uint32_t x = seed | 1;
  for (char& c : s) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

// A raw TCP connection, for requests the blocking client would not send
// the way we need them (slow bodies).
int connect_to(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

nlohmann::json body_json(const Client::Result& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

}  // namespace

TEST_CASE("registry: files with Cache-Control and ETag, 304 on If-None-Match, HEAD, large files streamed intact") {
  Registry reg;
  reg.write("hello.txt", "hello registry\n");
  std::string big = noise_of(3 << 20, 7);
  reg.write("dir/big.bin", big);
  reg.start(registry_app("web", 2, reg.storage, {}, "    metrics_path: /metrics\n"), "web", 2);

  auto r = reg.req("GET", "/hello.txt");
  REQUIRE(r.status == 200);
  CHECK(r.body == "hello registry\n");
  CHECK(r.header("Cache-Control") == "public, max-age=60");
  CHECK(r.header("Content-Type") == "text/plain; charset=utf-8");
  std::string etag(r.header("ETag"));
  CHECK(etag.starts_with("W/\""));
  CHECK(!r.header("Last-Modified").empty());

  // Both workers give the same validator, and honour it.
  for (int i = 0; i < 4; ++i) {
    auto c = reg.req("GET", "/hello.txt", "", {{"If-None-Match", etag}});
    CHECK(c.status == 304);
    CHECK(c.body.empty());
    CHECK(c.header("ETag") == etag);
    CHECK(c.header("Cache-Control") == "public, max-age=60");
  }
  CHECK(reg.req("GET", "/hello.txt", "", {{"If-None-Match", "W/\"stale\""}}).status == 200);
  CHECK(reg.req("GET", "/hello.txt", "", {{"If-None-Match", "\"a\", " + etag}}).status == 304);

  // A change of content changes the tag.
  std::this_thread::sleep_for(20ms);
  reg.write("hello.txt", "hello again\n");
  auto changed = reg.req("GET", "/hello.txt", "", {{"If-None-Match", etag}});
  CHECK(changed.status == 200);
  CHECK(changed.body == "hello again\n");
  CHECK(changed.header("ETag") != etag);

  auto head = reg.req("HEAD", "/hello.txt");
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == "12");
  CHECK(head.body.empty());

  auto g = reg.req("GET", "/dir/big.bin");
  REQUIRE(g.status == 200);
  CHECK(g.header("Transfer-Encoding") == "chunked");  // streamed, not read whole
  CHECK(g.header("Content-Type") == "application/octet-stream");
  CHECK(g.body.size() == big.size());
  CHECK(g.body == big);
  CHECK(reg.req("HEAD", "/dir/big.bin").status == 200);

  // A slow reader: the worker keeps at most a little of it in memory and
  // still delivers every byte.
  {
    auto c = reg.client();
    std::string got;
    std::size_t chunks = 0;
    auto s = c.stream("GET", "/dir/big.bin", "", {{"Connection", "close"}}, [&](std::string_view chunk) {
      got += chunk;
      if (++chunks % 16 == 0) std::this_thread::sleep_for(2ms);
      return true;
    });
    CHECK(s.status == 200);
    CHECK(got == big);
  }

  auto missing = reg.req("GET", "/nope.txt");
  CHECK(missing.status == 404);
  auto j = body_json(missing);
  CHECK(j["statusCode"] == 404);
  CHECK(j["error"] == "Not Found");
  CHECK(j["message"].get<std::string>().find("/nope.txt") != std::string::npos);
  CHECK(reg.req("GET", "/dir").status == 404);
  CHECK(reg.req("POST", "/hello.txt", "x").status == 405);

  auto index = reg.req("GET", "/");
  CHECK(index.status == 200);
  CHECK(body_json(index)["service"] == "rack-registry");

  // /metrics: the app's merged metrics (metrics_path), with the registry's own.
  auto m = reg.req("GET", "/metrics");
  CHECK(m.status == 200);
  CHECK(m.body.find("http_request_duration_seconds_count") != std::string::npos);
  CHECK(m.body.find("registry_sent_bytes_total") != std::string::npos);
  // The route label is the matched pattern, not the path: bounded cardinality.
  CHECK(metric_sample(m.body, R"(http_request_duration_seconds_count{app="web",method="GET",route="/*",status_code="404"})")
            .value_or(0) >= 2);  // /nope.txt and /dir
  CHECK(m.body.find("route=\"/nope.txt\"") == std::string::npos);
  CHECK(m.body.find("route=\"/dir/big.bin\"") == std::string::npos);
}

TEST_CASE("registry: br, gzip and deflate by Accept-Encoding with q-values, each decoding to the original") {
  Registry reg;
  std::string small = text_of(100 * 1024);  // read whole
  std::string large = text_of(2 << 20);     // streamed
  reg.write("small.txt", small);
  reg.write("large.json", large);
  reg.write("tiny.txt", "tiny\n");
  reg.write("image.png", noise_of(64 * 1024, 3));
  reg.start(registry_app("web", 2, reg.storage), "web", 2);

  struct Case {
    const char* accept;
    const char* expect;  // Content-Encoding
  };
  for (Case c : {Case{"br", "br"}, Case{"gzip", "gzip"}, Case{"deflate", "deflate"},
                 Case{"gzip;q=0.5, deflate;q=0.9, br;q=0.1", "deflate"}, Case{"gzip, br", "br"},
                 Case{"br;q=0, *;q=0.5", "gzip"}}) {
    for (const auto* name : {"/small.txt", "/large.json"}) {
      CAPTURE(c.accept);
      CAPTURE(name);
      auto r = reg.req("GET", name, "", {{"Accept-Encoding", c.accept}});
      REQUIRE(r.status == 200);
      CHECK(r.header("Content-Encoding") == c.expect);
      CHECK(r.header("Vary") == "Accept-Encoding");
      const std::string& original = std::string(name) == "/small.txt" ? small : large;
      CHECK(r.body.size() < original.size() / 3);
      std::string e = c.expect;
      std::string decoded = e == "br" ? unbrotli(r.body) : inflate_all(r.body, e == "gzip" ? 15 + 16 : 15);
      CHECK(decoded.size() == original.size());
      CHECK(decoded == original);
    }
  }
  auto plain = reg.req("GET", "/small.txt");
  CHECK(plain.header("Content-Encoding").empty());
  CHECK(plain.header("Vary") == "Accept-Encoding");
  CHECK(plain.body == small);
  CHECK(reg.req("GET", "/small.txt", "", {{"Accept-Encoding", "gzip;q=0"}}).header("Content-Encoding").empty());
  CHECK(reg.req("GET", "/tiny.txt", "", {{"Accept-Encoding", "br"}}).header("Content-Encoding").empty());
  auto png = reg.req("GET", "/image.png", "", {{"Accept-Encoding", "br, gzip"}});
  CHECK(png.header("Content-Encoding").empty());
  CHECK(png.header("Content-Type") == "image/png");
  // HEAD says what GET would send.
  auto head = reg.req("HEAD", "/small.txt", "", {{"Accept-Encoding", "gzip"}});
  CHECK(head.header("Content-Encoding") == "gzip");
  CHECK(head.body.empty());
}

TEST_CASE("registry: path traversal, encoded slashes, NUL bytes and symlinks out are refused") {
  Registry reg;
  reg.write("inside.txt", "inside\n");
  std::string outside = reg.rack.home() + "/outside";
  fs::create_directories(outside);
  std::ofstream(outside + "/secret.txt") << "TOP SECRET\n";
  fs::create_symlink(outside + "/secret.txt", reg.storage + "/abs-link");
  fs::create_symlink("../outside/secret.txt", reg.storage + "/rel-link");
  fs::create_symlink(outside, reg.storage + "/dir-link");
  fs::create_symlink("inside.txt", reg.storage + "/ok-link");
  reg.start(registry_app("web", 1, reg.storage, {"--auth", reg.auth}), "web", 1);

  for (const char* target : {"/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/%2E%2E%2Foutside%2Fsecret.txt",
                             "/x/../../outside/secret.txt", "//etc/passwd", "/%2Fetc%2Fpasswd", "/inside.txt%00.png",
                             "/abs-link", "/rel-link", "/dir-link/secret.txt", "/.tmp", "/./inside.txt",
                             "/inside.txt/..", "/..%5c..%5coutside"}) {
    CAPTURE(target);
    auto r = reg.req("GET", target);
    CHECK((r.status == 400 || r.status == 404));
    CHECK(r.body.find("SECRET") == std::string::npos);
    CHECK(body_json(r).contains("statusCode"));
  }
  CHECK(reg.req("GET", "/ok-link").body == "inside\n");  // a symlink that stays inside works

  // Writes cannot escape either.
  for (const char* target : {"/../outside/planted.txt", "/%2e%2e/outside/planted.txt", "/dir-link/planted.txt",
                             "/.tmp/planted", "/x%00y"}) {
    CAPTURE(target);
    auto r = reg.req("PUT", target, "planted", {{"x-registry-token", kWriter}});
    CHECK((r.status == 400 || r.status == 404 || r.status == 409));
  }
  CHECK_FALSE(fs::exists(outside + "/planted.txt"));
  CHECK(read_file(outside + "/secret.txt") == "TOP SECRET\n");
  CHECK(reg.req("DELETE", "/abs-link/..", "", {{"x-registry-token", kWriter}}).status == 400);
}

TEST_CASE("registry: token checks for PUT and DELETE (401, 403, 201, 200, 204) and the body limit (413)") {
  Registry reg;
  reg.start(registry_app("web", 2, reg.storage, {"--auth", reg.auth, "--max-body", "64K"}) +
                registry_app("ro", 1, reg.storage),
            "web", 2);
  REQUIRE(reg.rack.wait_ready("ro", 1));
  auto none = reg.req("PUT", "/pkg/a.txt", "v1");
  CHECK(none.status == 401);
  CHECK(none.header("WWW-Authenticate").find("Bearer") != std::string::npos);
  CHECK(body_json(none)["error"] == "Unauthorized");
  CHECK(reg.req("PUT", "/pkg/a.txt", "v1", {{"x-registry-token", "not-a-valid-token-at-all"}}).status == 401);
  auto ro = reg.req("PUT", "/pkg/a.txt", "v1", {{"x-registry-token", kReader}});
  CHECK(ro.status == 403);
  CHECK(body_json(ro)["error"] == "Forbidden");
  CHECK_FALSE(fs::exists(reg.storage + "/pkg/a.txt"));

  auto created = reg.req("PUT", "/pkg/a.txt", "v1", {{"x-registry-token", kWriter}});
  CHECK(created.status == 201);
  CHECK(body_json(created)["size"] == 2);
  CHECK(read_file(reg.storage + "/pkg/a.txt") == "v1");
  auto replaced = reg.req("PUT", "/pkg/a.txt", "version 2", {{"Authorization", "Bearer " + kWriter}});
  CHECK(replaced.status == 200);
  CHECK(reg.req("GET", "/pkg/a.txt").body == "version 2");
  CHECK(reg.req("GET", "/pkg/a.txt").header("ETag") == replaced.header("ETag"));

  CHECK(reg.req("DELETE", "/pkg/a.txt").status == 401);
  CHECK(reg.req("DELETE", "/pkg/a.txt", "", {{"x-registry-token", kReader}}).status == 403);
  CHECK(reg.req("DELETE", "/pkg/a.txt", "", {{"x-registry-token", kWriter}}).status == 204);
  CHECK(reg.req("GET", "/pkg/a.txt").status == 404);
  CHECK(reg.req("DELETE", "/pkg/a.txt", "", {{"x-registry-token", kWriter}}).status == 404);

  auto too_big = reg.req("PUT", "/big.bin", std::string(65 * 1024, 'x'), {{"x-registry-token", kWriter}});
  CHECK(too_big.status == 413);
  CHECK_FALSE(fs::exists(reg.storage + "/big.bin"));
  CHECK(reg.req("PUT", "/fits.bin", std::string(64 * 1024, 'x'), {{"x-registry-token", kWriter}}).status == 201);

  // Without --auth the registry is read-only, whatever the token.
  auto [host, port] = reg.rack.address("ro");
  auto c = Client::tcp(host, static_cast<uint16_t>(port));
  CHECK(c.request("PUT", "/x.txt", "x", {{"x-registry-token", kWriter}}).status == 403);
  CHECK(c.request("GET", "/fits.bin").status == 200);
}

TEST_CASE("registry: 1,200 requests a minute per client across 2 workers together, then 429 with Retry-After") {
  Registry reg;
  reg.write("a.txt", "a\n");
  reg.start(registry_app("web", 2, reg.storage), "web", 2);

  // Keep-alive connections; rackd deals them round-robin, so both workers
  // serve some (GET / says which).
  std::vector<Client> conns;
  std::set<int> slots;
  uint64_t ok = 0;
  for (int i = 0; i < 4; ++i) {
    conns.push_back(reg.client());
    auto r = conns.back().request("GET", "/");
    REQUIRE(r.status == 200);
    ++ok;
    slots.insert(body_json(r)["worker"]["slot"].get<int>());
  }
  REQUIRE(slots.size() == 2);
  uint64_t reconnects_before = 0;
  for (auto& c : conns) reconnects_before += c.connects();

  Client::Result refused;
  for (int i = 0; ok < 1300; ++i) {
    auto r = conns[i % 4].request("GET", "/a.txt");
    REQUIRE_MESSAGE(r.ok(), r.error_text);
    if (r.status == 429) {
      refused = r;
      break;
    }
    REQUIRE(r.status == 200);
    ++ok;
  }
  CHECK(ok == 1200);  // all workers together, not 1,200 each
  REQUIRE(refused.status == 429);
  std::string retry(refused.header("Retry-After"));
  REQUIRE(!retry.empty());
  int seconds = std::stoi(retry);
  CHECK(seconds >= 1);
  CHECK(seconds <= 60);
  CHECK(refused.body == R"({"statusCode":429,"error":"Too Many Requests","message":"Rate limit exceeded, retry in )" +
                            retry + R"(s"})");
  // Every worker, every connection: still refused.
  for (auto& c : conns) CHECK(c.request("GET", "/a.txt").status == 429);
  uint64_t reconnects_after = 0;
  for (auto& c : conns) reconnects_after += c.connects();
  CHECK(reconnects_after == reconnects_before);  // the same kept-alive connections throughout
  // Health checks are never throttled (load balancers must see the truth).
  CHECK(reg.req("GET", "/health").status == 200);
}

TEST_CASE("registry: X-Forwarded-For is honoured only from a trusted proxy") {
  Registry reg;
  reg.write("a.txt", "a\n");
  reg.start(registry_app("proxied", 1, reg.storage, {"--trusted-proxy", "127.0.0.1", "--rate-limit", "3"}) +
                registry_app("direct", 1, reg.storage, {"--rate-limit", "3"}),
            "proxied", 1);
  REQUIRE(reg.rack.wait_ready("direct", 1));

  // Behind the trusted proxy (us, 127.0.0.1): each forwarded client has its own budget.
  auto xff = [](const std::string& ip) { return H{{"X-Forwarded-For", ip}}; };
  for (int i = 0; i < 3; ++i) CHECK(reg.req("GET", "/a.txt", "", xff("198.51.100.1")).status == 200);
  CHECK(reg.req("GET", "/a.txt", "", xff("198.51.100.1")).status == 429);
  CHECK(reg.req("GET", "/a.txt", "", xff("203.0.113.5, 198.51.100.1")).status == 429);  // prepending does not help
  CHECK(reg.req("GET", "/a.txt", "", xff("198.51.100.2")).status == 200);
  CHECK(reg.req("GET", "/a.txt").status == 200);  // the proxy's own budget

  // Not trusted: the header is ignored; every forged address shares the peer's budget.
  auto [host, port] = reg.rack.address("direct");
  auto c = Client::tcp(host, static_cast<uint16_t>(port));
  for (int i = 0; i < 3; ++i) CHECK(c.request("GET", "/a.txt", "", xff("192.0.2." + std::to_string(i))).status == 200);
  auto r = c.request("GET", "/a.txt", "", xff("192.0.2.99"));
  CHECK(r.status == 429);
  CHECK(!r.header("Retry-After").empty());
}

TEST_CASE("registry: /health flips to 503 when the storage is removed and back to 200 when restored") {
  Registry reg;
  reg.write("a.txt", "a\n");
  reg.start(registry_app("web", 2, reg.storage), "web", 2);
  const std::string ok = R"({"status":"ok","checks":{"storage":{"status":"ok"}}})";
  const std::string err = R"({"status":"error","checks":{"storage":{"status":"error","error":"Storage health check failed: ENOENT: no such file or directory"}}})";
  // rackd's /health carries the same check of every ready worker as "web:storage".
  const auto admin = reg.rack.admin();
  const std::string rack_ok = R"({"status":"ok","checks":{"web":{"status":"ok"},"web:storage":{"status":"ok"}}})";
  auto rack_health = [&] { return http_get(admin, "/health"); };
  CHECK(wait_until([&] { return rack_health().body == rack_ok; }, 5s));
  for (int i = 0; i < 2; ++i) {  // each worker
    auto h = reg.req("GET", "/health");
    CHECK(h.status == 200);
    CHECK(h.body == ok);
  }
  fs::rename(reg.storage, reg.storage + ".away");
  for (int i = 0; i < 2; ++i) {
    auto h = reg.req("GET", "/health");
    CHECK(h.status == 503);
    CHECK(h.body == err);
    CHECK(h.header("Cache-Control") == "no-store");
  }
  CHECK(reg.req("GET", "/a.txt").status == 404);
  // Both workers' next rounds (about a second apart at most) report it.
  CHECK(wait_until([&] { return rack_health().body.find("failing in 2 of 2 workers") != std::string::npos; }, 5s));
  auto r = nlohmann::json::parse(rack_health().body);
  CHECK(r["status"] == "error");
  CHECK(r["checks"]["web"]["status"] == "ok");  // its workers are still ready
  CHECK(r["checks"]["web:storage"]["status"] == "error");
  std::string why = r["checks"]["web:storage"].value("error", "");
  CHECK_MESSAGE(why.find("Storage health check failed: ENOENT") == 0, why);
  CHECK_MESSAGE(why.find("failing in 2 of 2 workers") != std::string::npos, why);
  // Liveness is rackd's own loop: an app's outage leaves it up.
  auto live = http_get(admin, "/health/live");
  CHECK(live.status == 200);
  CHECK(json::parse(live.body)["status"] == "ok");
  fs::rename(reg.storage + ".away", reg.storage);
  for (int i = 0; i < 2; ++i) {
    auto h = reg.req("GET", "/health");
    CHECK(h.status == 200);
    CHECK(h.body == ok);
  }
  CHECK(reg.req("GET", "/a.txt").body == "a\n");
  CHECK(wait_until([&] { return rack_health().body == rack_ok; }, 5s));
}

TEST_CASE("registry: publishes are atomic: kill -9 mid-upload leaves the old file, readers never see a torn one") {
  Registry reg;
  std::string old_content = noise_of(1 << 20, 11);
  reg.write("pkg/app.bin", old_content);
  // A temp file of a worker that died earlier (no such pid): swept at start.
  reg.write(".tmp/upload-999999999-3", "torn leftovers");
  reg.start(registry_app("web", 1, reg.storage, {"--auth", reg.auth, "--max-body", "32M", "--rate-limit", "0"}), "web", 1);
  CHECK(wait_until([&] { return !fs::exists(reg.storage + "/.tmp/upload-999999999-3"); }, 5s));

  // A large PUT sent slowly; the worker is killed halfway through the body.
  pid_t victim = reg.rack.pids("web").at(0);
  const std::size_t total = 16 << 20;
  int fd = connect_to(reg.host, reg.port);
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, "PUT /pkg/app.bin HTTP/1.1\r\nHost: x\r\nx-registry-token: " + kWriter +
                           "\r\nContent-Length: " + std::to_string(total) + "\r\n\r\n"));
  std::string piece = noise_of(256 * 1024, 99);
  for (int i = 0; i < 32; ++i) {  // 8 MiB of 16
    REQUIRE(send_all(fd, piece));
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(::kill(victim, SIGKILL) == 0);
  ::close(fd);
  REQUIRE(wait_until([&] {
    auto p = reg.rack.pids("web");
    return p.size() == 1 && p[0] != victim;
  }, 15s));

  auto r = reg.req("GET", "/pkg/app.bin");
  CHECK(r.status == 200);
  CHECK(r.body.size() == old_content.size());
  CHECK(r.body == old_content);
  // Nothing half-written anywhere a reader (or an operator) would look.
  for (auto& e : fs::recursive_directory_iterator(reg.storage)) {
    if (!e.is_regular_file()) continue;
    std::string rel = fs::relative(e.path(), reg.storage).string();
    CHECK_MESSAGE(rel == "pkg/app.bin", "unexpected file " << rel);
  }

  // Readers during a stream of replacements see one whole version or the other.
  std::string va = noise_of(600 * 1024, 21), vb = noise_of(600 * 1024, 22);
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, torn{0};
  std::thread reader([&] {
    auto c = reg.client();
    while (!stop) {
      auto g = c.request("GET", "/pkg/app.bin");
      if (g.status != 200) continue;
      ++reads;
      if (g.body != va && g.body != vb && g.body != old_content) ++torn;
    }
  });
  for (int i = 0; i < 12; ++i) {
    auto p = reg.req("PUT", "/pkg/app.bin", i % 2 ? vb : va, {{"x-registry-token", kWriter}});
    CHECK(p.status == 200);
  }
  std::this_thread::sleep_for(100ms);
  stop = true;
  reader.join();
  CHECK(reads > 0);
  CHECK(torn == 0);
  CHECK(read_file(reg.storage + "/pkg/app.bin") == vb);
  for (auto& e : fs::directory_iterator(reg.storage + "/.tmp")) CHECK_MESSAGE(false, "temp file left: " << e.path());
}
