// The Registry Server's decisions without a server: Accept-Encoding
// negotiation, request-path safety, ETags, auth.json, client IPs behind
// proxies, the rate limiter's default, options; and the blocking storage
// operations against a temp directory.
#include <doctest/doctest.h>

#include <brotli/decode.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "auth.h"
#include "caching.h"
#include "client_ip.h"
#include "compression.h"
#include "content_type.h"
#include "file_response.h"
#include "options.h"
#include "rate_limit.h"
#include "storage.h"

using namespace registry;
namespace fs = std::filesystem;

namespace {

std::string inflate_all(const std::string& in, int window_bits) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, window_bits) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    REQUIRE((rc == Z_OK || rc == Z_STREAM_END));
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

std::string unbrotli(const std::string& in) {
  BrotliDecoderState* s = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  size_t avail_in = in.size();
  auto* next_in = reinterpret_cast<const uint8_t*>(in.data());
  std::string out;
  BrotliDecoderResult rc;
  do {
    uint8_t buf[16384];
    size_t avail_out = sizeof buf;
    uint8_t* next_out = buf;
    rc = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    out.append(reinterpret_cast<char*>(buf), sizeof buf - avail_out);
    REQUIRE(rc != BROTLI_DECODER_RESULT_ERROR);
  } while (rc != BROTLI_DECODER_RESULT_SUCCESS);
  BrotliDecoderDestroyInstance(s);
  return out;
}

std::string decode(Coding c, const std::string& body) {
  switch (c) {
    case Coding::Brotli: return unbrotli(body);
    case Coding::Gzip: return inflate_all(body, 15 + 16);
    case Coding::Deflate: return inflate_all(body, 15);
    case Coding::Identity: break;
  }
  return body;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/registry-unit-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const std::string& rel, const std::string& content) const {
    fs::create_directories((path / rel).parent_path());
    std::ofstream(path / rel, std::ios::binary) << content;
  }
  std::string read(const std::string& rel) const {
    std::ifstream in(path / rel, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

StoragePath sp(const std::string& raw) {
  PathCheck c = parse_request_path(raw);
  REQUIRE_MESSAGE(c.kind == PathKind::File, raw << ": " << c.message);
  return c.path;
}

Options parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  std::string error;
  auto o = parse_options(args, [&env](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  }, error);
  REQUIRE_MESSAGE(o.has_value(), error);
  return *o;
}

}  // namespace

TEST_CASE("registry: Accept-Encoding negotiation honours q-values and prefers br > gzip > deflate") {
  CHECK(negotiate("") == Coding::Identity);
  CHECK(negotiate("gzip") == Coding::Gzip);
  CHECK(negotiate("x-gzip") == Coding::Gzip);
  CHECK(negotiate("deflate") == Coding::Deflate);
  CHECK(negotiate("gzip, deflate, br") == Coding::Brotli);
  CHECK(negotiate("deflate, gzip") == Coding::Gzip);
  CHECK(negotiate("br;q=0.5, gzip;q=0.8") == Coding::Gzip);
  CHECK(negotiate("br;q=0.5, gzip;q=0.8, deflate;q=1.0") == Coding::Deflate);
  CHECK(negotiate("br;q=0, gzip") == Coding::Gzip);
  CHECK(negotiate("gzip;q=0") == Coding::Identity);
  CHECK(negotiate("*") == Coding::Brotli);
  CHECK(negotiate("*;q=0.1, br;q=0") == Coding::Gzip);
  CHECK(negotiate("identity") == Coding::Identity);
  CHECK(negotiate("identity;q=1, gzip;q=0.5") == Coding::Identity);
  CHECK(negotiate("identity;q=0.1, gzip;q=0.5") == Coding::Gzip);
  CHECK(negotiate("GZIP ; Q=0.5 , BR ; q=0.4") == Coding::Gzip);
  CHECK(negotiate("gzip;q=2, deflate") == Coding::Deflate);       // malformed q: entry ignored
  CHECK(negotiate("gzip;q=0.5x, br;q=abc") == Coding::Identity);
  CHECK(negotiate("compress, zstd") == Coding::Identity);          // nothing we speak
  CHECK(negotiate(" , ,gzip;level=9;q=0.3") == Coding::Gzip);      // extra params, empty items
  CHECK(std::string(coding_name(Coding::Brotli)) == "br");
}

TEST_CASE("registry: compression only for compressible types of at least 1 KiB, and every encoder round-trips") {
  CHECK(worth_compressing(true, 1024));
  CHECK_FALSE(worth_compressing(true, 1023));
  CHECK_FALSE(worth_compressing(false, 1 << 20));
  CHECK(content_type_for("a/b/notes.TXT").compressible);
  CHECK(content_type_for("x.json").mime == "application/json");
  CHECK_FALSE(content_type_for("photo.png").compressible);
  CHECK_FALSE(content_type_for("pkg.tar.gz").compressible);
  CHECK_FALSE(content_type_for("blob").compressible);
  CHECK(content_type_for(".bashrc").mime == "application/octet-stream");

  std::string input;
  for (int i = 0; i < 20000; ++i) input += "line " + std::to_string(i * 7919 % 1000) + " of the registry\n";
  for (Coding c : {Coding::Brotli, Coding::Gzip, Coding::Deflate}) {
    CAPTURE(coding_name(c));
    auto enc = make_encoder(c);
    std::string out;
    for (std::size_t at = 0; at < input.size(); at += 65536) REQUIRE(enc->update(std::string_view(input).substr(at, 65536), out));
    REQUIRE(enc->finish(out));
    CHECK(out.size() < input.size() / 4);
    CHECK(decode(c, out) == input);
  }
  CHECK(make_encoder(Coding::Identity) == nullptr);
}

TEST_CASE("registry: request paths cannot escape the storage") {
  auto kind = [](std::string_view p) { return parse_request_path(p).kind; };
  CHECK(sp("/hello.txt").relative() == "hello.txt");
  CHECK(sp("/a/b%20c/d.txt").relative() == "a/b c/d.txt");
  CHECK(sp("/a/b%20c/d.txt").display() == "/a/b c/d.txt");
  CHECK(sp("/%E2%9C%93.txt").segments.back() == "\xE2\x9C\x93.txt");
  for (std::string_view bad : {"/../etc/passwd", "/a/../../etc/passwd", "/%2e%2e/etc/passwd", "/%2E%2E%2Fetc%2Fpasswd",
                               "/a/%2e%2e/%2e%2e/x", "/./x", "//etc/passwd", "/%2Fetc/passwd", "/a//b", "/a/",
                               "/a%00.txt", "/a%0a.txt", "/a%zz", "/a%2", "", "etc/passwd", "/"}) {
    CAPTURE(bad);
    CHECK(kind(bad) == PathKind::Invalid);
  }
  CHECK(kind("/.tmp/upload-1-1") == PathKind::Hidden);
  CHECK(kind("/a/.git/config") == PathKind::Hidden);
  CHECK(kind("/..a") == PathKind::Hidden);
  CHECK(kind("/a..b") == PathKind::File);
  CHECK(kind("/" + std::string(256, 'x')) == PathKind::Invalid);
  CHECK(kind("/" + std::string(255, 'x')) == PathKind::File);
}

TEST_CASE("registry: ETag from size and mtime, If-None-Match uses the weak comparison") {
  std::string tag = etag_for(4096, 1700000000123456789);
  CHECK(tag == "W/\"1000-17979cfe3d85cd15\"");
  CHECK(etag_for(4096, 1700000000123456790) != tag);
  CHECK(etag_for(4097, 1700000000123456789) != tag);
  CHECK(none_match(tag, tag));
  CHECK(none_match("\"1000-17979cfe3d85cd15\"", tag));  // strong form of the same tag
  CHECK(none_match("\"other\", W/\"1000-17979cfe3d85cd15\"", tag));
  CHECK(none_match("*", tag));
  CHECK_FALSE(none_match("", tag));
  CHECK_FALSE(none_match("W/\"1000-17979cfe3d85cd16\"", tag));
  CHECK_FALSE(none_match("W/1000-17979cfe3d85cd15", tag));  // unquoted: malformed
  CHECK_FALSE(none_match("\"1000-17979cfe3d85cd15", tag));
  CHECK(http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST_CASE("registry: auth.json parsing is strict") {
  std::string error;
  auto a = Auth::parse(R"({"_comment":"demo","tokens":[
      {"name":"ci","token":"0123456789abcdef-ci","rights":["write"]},
      {"name":"reader","token":"0123456789abcdef-rd","rights":["read"]}]})", error);
  REQUIRE_MESSAGE(a.has_value(), error);
  CHECK(a->public_read());
  REQUIRE(a->tokens().size() == 2);
  CHECK(a->tokens()[0].write);
  CHECK(a->tokens()[0].read);  // write implies read
  CHECK_FALSE(a->tokens()[1].write);
  CHECK(a->find("0123456789abcdef-rd")->name == "reader");
  CHECK(a->find("0123456789abcdef-r") == nullptr);
  CHECK(a->find("") == nullptr);

  struct Bad {
    const char* json;
    const char* expect;
  };
  for (Bad b : {Bad{"[", "not valid JSON"}, Bad{"[]", "expected an object"},
                Bad{R"({"tokenz":[]})", "unknown key \"tokenz\""},
                Bad{R"({"public_read":"yes"})", "public_read"},
                Bad{R"({"tokens":[{"name":"a","token":"short","rights":["read"]}]})", "at least 16"},
                Bad{R"({"tokens":[{"name":"a","token":"0123456789abcdef","rights":["admin"]}]})", "tokens[0].rights"},
                Bad{R"({"tokens":[{"name":"a","token":"0123456789abcdef","rights":[]}]})", "must include"},
                Bad{R"({"tokens":[{"token":"0123456789abcdef","rights":["read"]}]})", "name is required"},
                Bad{R"({"tokens":[{"name":"a","token":"0123456789abcdef","rights":["read"],"role":1}]})", "unknown key \"role\""},
                Bad{R"({"tokens":[{"name":"a","token":"0123456789abcdef","rights":["read"]},
                                  {"name":"b","token":"0123456789abcdef","rights":["write"]}]})", "used twice"}}) {
    CAPTURE(b.json);
    error.clear();
    CHECK_FALSE(Auth::parse(b.json, error).has_value());
    CHECK_MESSAGE(error.find(b.expect) != std::string::npos, error);
  }

  // The example file shipped with the registry parses.
  error.clear();
  CHECK_MESSAGE(Auth::load(std::string(RACK_SOURCE_DIR) + "/examples/registry/auth.example.json", error).has_value(), error);
}

TEST_CASE("registry: token checks give 401 without or with an unknown token, 403 without the right") {
  std::string error;
  auto a = Auth::parse(R"({"public_read":false,"tokens":[
      {"name":"ci","token":"0123456789abcdef-ci","rights":["write"]},
      {"name":"reader","token":"0123456789abcdef-rd","rights":["read"]}]})", error);
  REQUIRE(a);
  using H = std::vector<rack::Header>;
  CHECK(authorize(&*a, {}, Right::Write).status == 401);
  CHECK(authorize(&*a, H{{"x-registry-token", "nope-nope-nope-nope"}}, Right::Write).status == 401);
  CHECK(authorize(&*a, H{{"X-Registry-Token", "0123456789abcdef-rd"}}, Right::Write).status == 403);
  CHECK(authorize(&*a, H{{"Authorization", "Bearer 0123456789abcdef-ci"}}, Right::Write).status == 0);
  CHECK(authorize(&*a, H{{"authorization", "bearer  0123456789abcdef-ci "}}, Right::Write).status == 0);
  CHECK(authorize(&*a, H{{"Authorization", "Basic 0123456789abcdef-ci"}}, Right::Write).status == 401);
  CHECK(authorize(&*a, H{{"Authorization", "Bearer 0123456789abcdef-rd"}}, Right::Read).status == 0);
  CHECK(authorize(&*a, {}, Right::Read).status == 401);  // public_read: false
  CHECK(authorize(nullptr, {}, Right::Read).status == 0);
  CHECK(authorize(nullptr, H{{"x-registry-token", "0123456789abcdef-ci"}}, Right::Write).status == 403);  // read-only
  CHECK(presented_token(H{{"x-registry-token", "t1"}, {"Authorization", "Bearer t2"}}) == "t1");
}

TEST_CASE("registry: X-Forwarded-For is believed only from trusted proxies") {
  TrustedProxies none;
  TrustedProxies proxies;
  std::string error;
  REQUIRE(proxies.add("127.0.0.1", error));
  REQUIRE(proxies.add("10.0.0.0/8", error));
  REQUIRE(proxies.add("fd00::/8", error));
  CHECK_FALSE(proxies.add("10.0.0.0/33", error));
  CHECK_FALSE(proxies.add("not-an-ip", error));
  CHECK_FALSE(proxies.add("10.0.0.0/x", error));

  using H = std::vector<rack::Header>;
  H xff = {{"X-Forwarded-For", "203.0.113.9"}};
  CHECK(client_ip("127.0.0.1", xff, none) == "127.0.0.1");       // nobody trusted: forged header ignored
  CHECK(client_ip("192.0.2.1", xff, proxies) == "192.0.2.1");    // peer is not a proxy
  CHECK(client_ip("127.0.0.1", xff, proxies) == "203.0.113.9");
  CHECK(client_ip("127.0.0.1", {}, proxies) == "127.0.0.1");     // a proxy's own request
  // Rightmost untrusted hop: the client cannot choose it by prepending.
  CHECK(client_ip("127.0.0.1", H{{"x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.1.2.3"}}, proxies) == "203.0.113.9");
  CHECK(client_ip("127.0.0.1", H{{"x-forwarded-for", "1.1.1.1"}, {"X-Forwarded-For", "10.0.0.2"}}, proxies) == "1.1.1.1");
  CHECK(client_ip("127.0.0.1", H{{"x-forwarded-for", "10.0.0.9, 10.0.0.2"}}, proxies) == "10.0.0.9");  // all trusted
  CHECK(client_ip("127.0.0.1", H{{"x-forwarded-for", "1.1.1.1, garbage"}}, proxies) == "127.0.0.1");
  CHECK(client_ip("127.0.0.1", H{{"x-forwarded-for", "2001:db8::1"}}, proxies) == "2001:db8::1");
  CHECK(client_ip("fd12::5", H{{"x-forwarded-for", "::ffff:198.51.100.7"}}, proxies) == "198.51.100.7");
  CHECK(client_ip("", xff, proxies) == "");  // unix socket peer

  CHECK(rate_limit_key("203.0.113.9") == "203.0.113.9");
  CHECK(rate_limit_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
  CHECK(rate_limit_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64");
}

TEST_CASE("registry: the rate limiter allows 1,200 requests a minute by default, then 429 with Retry-After") {
  std::string error;
  auto table = rack::SharedTable::open_private(1 << 20, error);
  REQUIRE_MESSAGE(table, error);
  RateLimiter limiter(*table);
  CHECK(limiter.limit() == 1200);
  const uint64_t t0 = 5'000'000;
  for (int i = 1; i <= 1200; ++i) {
    auto d = limiter.check_at("198.51.100.1", t0 + static_cast<uint64_t>(i) * 10);  // 12 s for all of them
    REQUIRE_MESSAGE(d.allowed, "request " << i);
  }
  auto d = limiter.check_at("198.51.100.1", t0 + 12'010);
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after_s == 48);  // the window opened at t0 + 10
  CHECK(limiter.check_at("198.51.100.2", t0 + 12'010).allowed);  // another client
  CHECK_FALSE(limiter.check_at("198.51.100.1", t0 + 60'009).allowed);
  CHECK(limiter.check_at("198.51.100.1", t0 + 60'009).retry_after_s == 1);
  CHECK(limiter.check_at("198.51.100.1", t0 + 60'010).allowed);  // a new window

  rack::Response r = too_many_requests(d);
  CHECK(r.status == 429);
  CHECK(r.header("Retry-After") == "48");
  CHECK(r.body == R"({"statusCode":429,"error":"Too Many Requests","message":"Rate limit exceeded, retry in 48s"})");

  RateLimiter off(*table, 0);
  for (int i = 0; i < 5000; ++i) REQUIRE(off.check_at("198.51.100.1", t0).allowed);
}

TEST_CASE("registry: options from flags and environment") {
  Options d = parse({});
  CHECK(d.storage == "./storage");
  CHECK(d.rate_limit == 1200);
  CHECK(d.max_body == 8u << 20);
  CHECK(d.auth_file.empty());
  CHECK(d.trusted.empty());

  Options o = parse({"--storage", "/srv/files", "--auth=/etc/a.json", "--trusted-proxy", "127.0.0.1",
                     "--trusted-proxy=10.0.0.0/8", "--rate-limit", "50", "--max-body", "512K"},
                    {{"TRUSTED_PROXIES", "192.0.2.1"}, {"RATE_LIMIT", "7"}});
  CHECK(o.storage == "/srv/files");
  CHECK(o.auth_file == "/etc/a.json");
  CHECK(o.trusted_specs == std::vector<std::string>{"127.0.0.1", "10.0.0.0/8"});  // flags replace the variable
  CHECK(o.rate_limit == 50);
  CHECK(o.max_body == 512u * 1024);

  Options e = parse({}, {{"TRUSTED_PROXIES", "192.0.2.1, 10.0.0.0/8"}, {"REGISTRY_STORAGE", "/data"}, {"MAX_BODY", "1G"}});
  CHECK(e.trusted_specs.size() == 2);
  CHECK(e.storage == "/data");
  CHECK(e.max_body == 1ull << 30);

  std::string error;
  auto none = [](const char*) -> const char* { return nullptr; };
  CHECK_FALSE(parse_options({"--rate-limit", "lots"}, none, error));
  CHECK_FALSE(parse_options({"--max-body", "big"}, none, error));
  CHECK_FALSE(parse_options({"--trusted-proxy", "proxy.example"}, none, error));
  CHECK_FALSE(parse_options({"--storage"}, none, error));
  CHECK_FALSE(parse_options({"--bogus", "x"}, none, error));
  CHECK(error.find("--bogus") != std::string::npos);
  CHECK_FALSE(parse_options({"stray"}, none, error));
}

TEST_CASE("registry: storage opens files only inside it, through symlinks that stay inside") {
  TempDir outside;
  outside.write("secret.txt", "secret");
  TempDir t;
  Storage s(t.path.string());
  t.write("a/file.txt", "inside");
  fs::create_symlink(outside.path / "secret.txt", t.path / "abs-link");
  fs::create_symlink("../../" + outside.path.filename().string() + "/secret.txt", t.path / "a" / "rel-link");
  fs::create_symlink(outside.path, t.path / "dir-link");
  fs::create_symlink("a/file.txt", t.path / "in-link");
  ::mkfifo((t.path / "fifo").c_str(), 0600);

  auto opened = [&](const std::string& raw) {
    Storage::Opened o = s.open_file(sp(raw));
    if (o.fd >= 0) ::close(o.fd);
    return o;
  };
  CHECK(opened("/a/file.txt").error == 0);
  CHECK(opened("/a/file.txt").st.st_size == 6);
  CHECK(opened("/abs-link").error == ENOENT);
  CHECK(opened("/a/rel-link").error == ENOENT);
  CHECK(opened("/dir-link/secret.txt").error == ENOENT);
  CHECK(opened("/in-link").error == 0);
  CHECK(opened("/a").error == ENOENT);      // a directory is not a file
  CHECK(opened("/fifo").error == ENOENT);   // and does not block the thread
  CHECK(opened("/missing").error == ENOENT);
  CHECK(opened("/a/file.txt/x").error == ENOENT);

  Storage gone((t.path / "nope").string());
  CHECK(gone.open_file(sp("/a/file.txt")).error == ENOENT);
  CHECK(gone.check() == ENOENT);
  CHECK(errno_text(ENOENT) == "ENOENT: no such file or directory");
  CHECK(s.check() == 0);
  CHECK(Storage((t.path / "a" / "file.txt").string()).check() == ENOTDIR);
}

TEST_CASE("registry: publish replaces atomically and leaves no temp file, remove, sweep of dead uploads") {
  TempDir t;
  Storage s(t.path.string());
  auto p = s.publish(sp("/pkg/v1/app.tgz"), "first");
  REQUIRE_MESSAGE(p.error == 0, p.step << ": " << errno_text(p.error));
  CHECK(p.created);
  CHECK(p.st.st_size == 5);
  CHECK(t.read("pkg/v1/app.tgz") == "first");
  auto before = fs::status(t.path / "pkg/v1/app.tgz");
  (void)before;

  p = s.publish(sp("/pkg/v1/app.tgz"), "second version");
  REQUIRE(p.error == 0);
  CHECK_FALSE(p.created);
  CHECK(t.read("pkg/v1/app.tgz") == "second version");
  CHECK(fs::is_empty(t.path / ".tmp"));

  CHECK(s.publish(sp("/pkg/v1"), "x").error == EISDIR);
  CHECK(s.publish(sp("/pkg/v1/app.tgz/inner"), "x").error == ENOTDIR);
  fs::create_symlink("/tmp", t.path / "out");
  CHECK(s.publish(sp("/out/escape.txt"), "x").error == ELOOP);
  CHECK_FALSE(fs::exists("/tmp/escape.txt"));
  CHECK(fs::is_empty(t.path / ".tmp"));

  CHECK(s.remove(sp("/pkg/v1/app.tgz")) == 0);
  CHECK_FALSE(fs::exists(t.path / "pkg/v1/app.tgz"));
  CHECK(s.remove(sp("/pkg/v1/app.tgz")) == ENOENT);
  CHECK(s.remove(sp("/nothing/here")) == ENOENT);
  CHECK(s.remove(sp("/pkg")) == EISDIR);

  // An upload of a process that died (a pid that cannot exist) is swept; a
  // live process's is not.
  t.write(".tmp/upload-999999999-0", "torn");
  t.write(".tmp/upload-" + std::to_string(::getpid()) + "-77", "in progress");
  t.write(".tmp/unrelated", "kept");
  CHECK(s.sweep_temp_files() == 1);
  CHECK_FALSE(fs::exists(t.path / ".tmp/upload-999999999-0"));
  CHECK(fs::exists(t.path / ".tmp/unrelated"));
}

TEST_CASE("registry: file responses: 304 on a matching ETag, compression of small text, streaming of large files") {
  TempDir t;
  Storage s(t.path.string());
  std::string text;
  while (text.size() < 4000) text += "registry text line\n";
  t.write("notes.txt", text);
  t.write("tiny.txt", "hi\n");
  t.write("big.bin", std::string(kWholeBodyMaxBytes + 1, 'x'));

  FilePlan p = plan_file_response(s, {sp("/notes.txt"), "", Coding::Gzip, false});
  REQUIRE(p.status == 200);
  CHECK(p.fd < 0);
  CHECK(p.coding == Coding::Gzip);
  CHECK(decode(Coding::Gzip, p.body) == text);
  std::map<std::string, std::string> h;
  for (auto& x : p.headers) h[x.name] = x.value;
  CHECK(h["Content-Encoding"] == "gzip");
  CHECK(h["Vary"] == "Accept-Encoding");
  CHECK(h["Cache-Control"] == "public, max-age=60");
  CHECK(h["Content-Type"] == "text/plain; charset=utf-8");
  REQUIRE(h.count("ETag"));

  FilePlan again = plan_file_response(s, {sp("/notes.txt"), h["ETag"], Coding::Gzip, false});
  CHECK(again.status == 304);
  CHECK(again.body.empty());

  FilePlan tiny = plan_file_response(s, {sp("/tiny.txt"), "", Coding::Brotli, false});
  CHECK(tiny.coding == Coding::Identity);
  CHECK(tiny.body == "hi\n");

  FilePlan big = plan_file_response(s, {sp("/big.bin"), "", Coding::Brotli, false});
  CHECK(big.status == 200);
  CHECK(big.fd >= 0);
  CHECK(big.coding == Coding::Identity);  // unknown type: not compressed
  CHECK(big.body.empty());
  if (big.fd >= 0) ::close(big.fd);

  CHECK(plan_file_response(s, {sp("/missing.txt"), "", Coding::Identity, false}).status == 404);
}
