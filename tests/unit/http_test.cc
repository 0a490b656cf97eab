// HTTP: the message format, the router, and the real server and client
// talking over loopback (the server's loop runs in a thread; the blocking
// client and raw sockets run in the test's).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "../../worker/src/request_log.h"
#include "rack/http.h"
#include "rack/http_client.h"
#include "rack/http_listener.h"
#include "rack/router.h"

using namespace rack;
using http::Client;
using http::Response;

namespace {

// Answers after `ms` on the loop (out of order with later requests).
void answer_later(uv_loop_t* loop, uint64_t ms, http::Responder res, Response r) {
  struct T {
    uv_timer_t timer;
    http::Responder res;
    Response r;
  };
  auto* t = new T{{}, std::move(res), std::move(r)};
  uv_timer_init(loop, &t->timer);
  t->timer.data = t;
  uv_timer_start(&t->timer, [](uv_timer_t* h) {
    auto* t = static_cast<T*>(h->data);
    t->res.send(std::move(t->r));
    uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* h) { delete static_cast<T*>(h->data); });
  }, ms, 0);
}

// /follow: a stream that never ends by itself (like `rackctl logs -f`).
std::atomic<int> g_follow_closed{0};
std::vector<http::Responder> g_followers;  // loop thread only

// The handler most tests use: a Router, so HEAD and 404 behave like a worker's.
http::Handler test_app(uv_loop_t* loop) {
  auto router = std::make_shared<Router>();
  router->add("GET", "/", [](http::Request&, http::Responder res) { res.send(Response::text(200, "hello")); });
  router->add("POST", "/echo", [](http::Request& req, http::Responder res) { res.send(Response::text(200, req.body)); });
  router->add("GET", "/slow/:ms", [loop](http::Request& req, http::Responder res) {
    answer_later(loop, std::stoul(std::string(req.param("ms"))), res, Response::text(200, "slow" + std::string(req.param("ms"))));
  });
  router->add("GET", "/stream", [](http::Request&, http::Responder res) {
    res.start_stream(200, {{"Content-Type", "text/plain"}});
    res.write("one ");
    res.write("two ");
    res.write("three");
    res.end();
  });
  router->add("GET", "/follow", [](http::Request&, http::Responder res) {
    res.start_stream(200);
    res.write("line 1\n");
    res.on_close([] { ++g_follow_closed; });
    g_followers.push_back(res);
  });
  router->add("GET", "/forget", [](http::Request&, http::Responder) {});
  router->add("GET", "/throw", [](http::Request&, http::Responder) { throw std::runtime_error("boom"); });
  return [router](http::Request& req, http::Responder res) { router->dispatch(req, std::move(res)); };
}

// test_app behind a Server + Listener (127.0.0.1:0 by default) whose loop
// runs in its own thread.
class LoopServer {
 public:
  explicit LoopServer(http::Limits limits = {}, std::string address = "127.0.0.1:0") {
    uv_loop_init(&loop);
    server = std::make_unique<http::Server>(&loop, test_app(&loop), limits);
    std::string error;
    listener = http::Listener::open(&loop, address, {}, [this](int fd) { server->adopt(fd); }, error);
    REQUIRE_MESSAGE(listener, error);
    port = listener->port();
    uv_async_init(&loop, &wake, [](uv_async_t* a) { static_cast<LoopServer*>(a->data)->run_tasks(); });
    wake.data = this;
    thread = std::thread([this] { uv_run(&loop, UV_RUN_DEFAULT); });
  }
  ~LoopServer() {
    call([this] {
      listener.reset();
      server.reset();
      uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
    });
    thread.join();
    uv_loop_close(&loop);
  }
  // Runs fn on the loop thread and waits for its result.
  template <typename F>
  auto call(F fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    {
      std::lock_guard lock(mu);
      tasks.emplace_back([&task] { task(); });
    }
    uv_async_send(&wake);
    return result.get();
  }

  uv_loop_t loop{};
  std::unique_ptr<http::Server> server;
  std::unique_ptr<http::Listener> listener;
  uint16_t port = 0;

 private:
  void run_tasks() {
    std::vector<std::function<void()>> now;
    {
      std::lock_guard lock(mu);
      now.swap(tasks);
    }
    for (auto& t : now) t();
  }
  uv_async_t wake{};
  std::mutex mu;
  std::vector<std::function<void()>> tasks;
  std::thread thread;
};

int connect_port(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  return fd;
}

void send_raw(int fd, std::string_view s) {
  REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
}

// Everything the server sends until it closes (or 3 s pass).
std::string read_until_close(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 3000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

int count_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (::readdir(d)) ++n;
  ::closedir(d);
  return n;
}

}  // namespace

TEST_CASE("http message: response framing and header hygiene") {
  Response r = Response::text(200, "hello");
  std::string wire = http::serialize_response(r, {.keep_alive = true, .date = false});
  CHECK(wire == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello");

  r.set("Content-Length", "999").set("X-Evil", "a\r\nSet-Cookie: x=1");
  wire = http::serialize_response(r, {.head_request = true, .keep_alive = false, .date = false});
  CHECK(wire.find("Content-Length: 5\r\n") != std::string::npos);  // ours, not the handler's
  CHECK(wire.find("999") == std::string::npos);
  CHECK(wire.find("X-Evil: a  Set-Cookie: x=1\r\n") != std::string::npos);  // no header splitting
  CHECK(wire.find("Connection: close\r\n") != std::string::npos);
  CHECK(wire.ends_with("\r\n\r\n"));  // HEAD: no body

  Response empty;
  empty.status = 204;
  wire = http::serialize_response(empty, {.http10 = true, .date = false});
  CHECK(wire == "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");

  std::string chunked;
  http::append_chunk(chunked, "hello world, twenty bytes");
  http::append_chunk(chunked, "");
  CHECK(chunked == "19\r\nhello world, twenty bytes\r\n");
  CHECK(Response::error(404, "no \"x\"").body == "{\"error\":\"no \\\"x\\\"\"}\n");
}

TEST_CASE("http message: targets, queries, headers") {
  http::Request req;
  req.target = "/a%20b/c?x=1&name=J%C3%B6rg+M&flag";
  http::split_target(req.target, req.path, req.query);
  CHECK(req.path == "/a%20b/c");
  CHECK(req.query == "x=1&name=J%C3%B6rg+M&flag");
  CHECK(req.query_param("name") == "Jörg M");
  CHECK(req.query_param("flag") == "");
  CHECK(!req.query_param("missing"));
  http::split_target("http://example.com:8080/p?q", req.path, req.query);
  CHECK(req.path == "/p");
  req.headers = {{"Content-Type", "text/plain"}};
  CHECK(req.header("content-TYPE") == "text/plain");
  CHECK(req.header("accept").empty());
  CHECK(http::parse_host_port("[::1]:80")->host == "::1");
  CHECK(http::parse_host_port(":8080")->port == 8080);
  CHECK(!http::parse_host_port("host:99999"));
  CHECK(!http::parse_host_port("nocolon"));
}

TEST_CASE("http router: params, wildcard, specificity, 404 and 405") {
  Router r;
  auto h = [](http::Request&, http::Responder) {};
  r.add("GET", "/users/:id", h);
  r.add("GET", "/users/me", h);
  r.add("DELETE", "/users/:id", h);
  r.add("GET", "/static/*", h);
  r.add("GET", "/static/app.js", h);
  r.add("GET", "/", h);

  auto m = r.match("GET", "/users/42");
  CHECK(m.status == 200);
  CHECK(m.route == "/users/:id");
  CHECK(m.params["id"] == "42");
  CHECK(r.match("GET", "/users/me").route == "/users/me");  // literal beats :param
  CHECK(r.match("GET", "/users/a%2Fb").params["id"] == "a/b");  // decoded, still one segment
  CHECK(r.match("GET", "/users/").status == 404);  // :param never matches empty
  CHECK(r.match("GET", "/static/css/site.css").params["*"] == "css/site.css");
  CHECK(r.match("GET", "/static/app.js").route == "/static/app.js");
  CHECK(r.match("GET", "/static").params["*"] == "");
  CHECK(r.match("HEAD", "/").status == 200);  // GET routes serve HEAD
  CHECK(r.match("GET", "/nope").status == 404);
  auto not_allowed = r.match("POST", "/users/7");
  CHECK(not_allowed.status == 405);
  CHECK(not_allowed.allow == "DELETE, GET, HEAD");
  CHECK_THROWS_AS(r.add("GET", "/a/*/b", h), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "no-slash", h), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "/:a/:a", h), std::invalid_argument);
}

TEST_CASE("http request log redacts credentials unless debugging") {
  std::vector<http::Header> hs = {{"Host", "x"}, {"Authorization", "Bearer s3cret"}, {"cookie", "sid=1"}};
  CHECK(worker::format_headers(hs, true) == "Host: x; Authorization: [REDACTED]; cookie: [REDACTED]");
  CHECK(worker::format_headers(hs, false).find("s3cret") != std::string::npos);
}

TEST_CASE("http server: keep-alive serves many requests on one connection") {
  LoopServer s;
  Client c = Client::tcp("127.0.0.1", s.port);
  for (int i = 0; i < 20; ++i) {
    auto r = c.request("GET", "/");
    REQUIRE(r.ok());
    CHECK(r.status == 200);
    CHECK(r.body == "hello");
  }
  auto echo = c.request("POST", "/echo", "payload");
  CHECK(echo.body == "payload");
  CHECK(c.connects() == 1);
  CHECK(s.call([&] { return s.server->requests_served(); }) == 21);
  CHECK(s.call([&] { return s.server->active_connections(); }) == 1);
}

TEST_CASE("http server: pipelined responses come back in request order") {
  LoopServer s;
  int fd = connect_port(s.port);
  // The first answer is produced last; the wire order must not change.
  send_raw(fd, "GET /slow/150 HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /slow/0 HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string all = read_until_close(fd);
  auto a = all.find("slow150"), b = all.find("slow0"), c = all.find("hello");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  REQUIRE(c != std::string::npos);
  CHECK(a < b);
  CHECK(b < c);
  CHECK(all.find("Connection: close") > b);
}

TEST_CASE("http server: chunked request body, HEAD, HTTP/1.0, Connection: close") {
  LoopServer s;

  int fd = connect_port(s.port);
  send_raw(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
  std::string r = read_until_close(fd);
  CHECK(r.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(r.ends_with("\r\n\r\nhello, world"));

  Client c = Client::tcp("127.0.0.1", s.port);
  auto head = c.request("HEAD", "/");
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == "5");
  CHECK(head.body.empty());
  CHECK(c.request("GET", "/").body == "hello");  // the HEAD left the connection usable
  CHECK(c.connects() == 1);

  fd = connect_port(s.port);
  send_raw(fd, "GET / HTTP/1.0\r\n\r\n");  // 1.0 without keep-alive: answer, then close
  r = read_until_close(fd);
  CHECK(r.find("Connection: close") != std::string::npos);
  CHECK(r.ends_with("hello"));
}

TEST_CASE("http server: limits answer 400, 408, 413, 431 and never crash") {
  http::Limits limits;
  limits.max_body_bytes = 1024;
  limits.max_header_bytes = 2048;
  limits.header_timeout_ms = 200;
  LoopServer s(limits);
  int before = s.call([&] { return static_cast<int>(s.server->active_connections()); });

  Client c = Client::tcp("127.0.0.1", s.port);
  CHECK(c.request("POST", "/echo", std::string(2000, 'x')).status == 413);
  CHECK(c.request("POST", "/echo", std::string(1000, 'x')).status == 200);

  int fd = connect_port(s.port);
  send_raw(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 3; ++i) send_raw(fd, "200\r\n" + std::string(512, 'y') + "\r\n");
  CHECK(read_until_close(fd).starts_with("HTTP/1.1 413 "));

  auto big = c.request("GET", "/", {}, {{"X-Big", std::string(4000, 'h')}});
  CHECK(big.status == 431);

  fd = connect_port(s.port);
  send_raw(fd, "GARBAGE\x01\x02 / HTTP/1.1\r\n\r\n");
  std::string r = read_until_close(fd);
  CHECK(r.starts_with("HTTP/1.1 400 Bad Request\r\n"));
  CHECK(r.find("Connection: close") != std::string::npos);

  fd = connect_port(s.port);
  send_raw(fd, "GET / HTTP/1.1\r\nHost: sl");  // and then nothing: a slow client
  CHECK(read_until_close(fd).starts_with("HTTP/1.1 408 "));

  // Handlers that forget to answer or throw still produce a response.
  CHECK(c.request("GET", "/forget").status == 500);
  CHECK(c.request("GET", "/throw").status == 500);
  CHECK(c.request("GET", "/missing").status == 404);
  CHECK(c.request("DELETE", "/").status == 405);

  Client fresh = Client::tcp("127.0.0.1", s.port);
  CHECK(fresh.request("GET", "/").status == 200);  // the server is still fine
  fresh.close();
  c.close();
  for (int i = 0; i < 100 && s.call([&] { return static_cast<int>(s.server->active_connections()); }) > before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(s.call([&] { return static_cast<int>(s.server->active_connections()); }) == before);
}

TEST_CASE("http server: a whole-request deadline cuts a body trickled in, and a connection cap answers 503") {
  http::Limits limits;
  limits.request_timeout_ms = 600;  // body_timeout (30 s) alone would never fire below
  limits.max_connections = 2;
  LoopServer s(limits);
  int slow = connect_port(s.port);
  send_raw(slow, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
  auto start = std::chrono::steady_clock::now();
  std::string got;
  for (int i = 0; i < 40 && got.empty(); ++i) {
    ::send(slow, "y", 1, MSG_NOSIGNAL);  // a byte every 100 ms: never silent for long
    pollfd p{slow, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char buf[512];
      ssize_t n = ::recv(slow, buf, sizeof buf, 0);
      if (n > 0) got.assign(buf, static_cast<size_t>(n));
    }
  }
  auto took = std::chrono::steady_clock::now() - start;
  CHECK_MESSAGE(got.starts_with("HTTP/1.1 408 "), got);
  CHECK(took < std::chrono::seconds(3));
  ::close(slow);
  for (int i = 0; i < 100 && s.call([&] { return s.server->active_connections(); }) > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));

  // Two idle connections fill the cap; the third is told 503, then room returns.
  int a = connect_port(s.port), b = connect_port(s.port);
  for (int i = 0; i < 100 && s.call([&] { return s.server->active_connections(); }) < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  int third = connect_port(s.port);
  send_raw(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string busy = read_until_close(third);
  CHECK_MESSAGE(busy.starts_with("HTTP/1.1 503 "), busy);
  CHECK(busy.find("too many connections (2)") != std::string::npos);
  CHECK(busy.find("Connection: close") != std::string::npos);
  ::close(a);
  ::close(b);
  for (int i = 0; i < 100 && s.call([&] { return s.server->active_connections(); }) > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(Client::tcp("127.0.0.1", s.port).request("GET", "/").status == 200);
}

TEST_CASE("http client: streaming, unix sockets, idle reuse and connect errors") {
  std::string path = "/tmp/rack-http-test-" + std::to_string(::getpid()) + ".sock";
  http::Limits limits;
  limits.idle_timeout_ms = 100;
  LoopServer s(limits, "unix:" + path);

  Client c = Client::unix_socket(path);
  std::string streamed;
  int chunks = 0;
  auto r = c.stream("GET", "/stream", {}, {}, [&](std::string_view chunk) {
    streamed += chunk;
    ++chunks;
    return true;
  });
  REQUIRE(r.ok());
  CHECK(r.header("Transfer-Encoding") == "chunked");
  CHECK(streamed == "one two three");
  CHECK(chunks >= 1);

  // The server closes the idle connection; the client notices and reconnects.
  CHECK(c.request("GET", "/").body == "hello");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto again = c.request("GET", "/");
  CHECK(again.ok());
  CHECK(again.body == "hello");
  CHECK(c.connects() == 2);

  // A follower that hangs up is noticed at once, not at the next write.
  Client follower = Client::unix_socket(path);
  auto f = follower.stream("GET", "/follow", {}, {}, [](std::string_view chunk) { return chunk != "line 1\n"; });
  CHECK(f.status == 200);
  for (int i = 0; i < 100 && g_follow_closed == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(g_follow_closed == 1);
  CHECK_FALSE(s.call([] { return g_followers.back().alive(); }));
  CHECK_FALSE(s.call([] { return g_followers.back().write("more"); }));
  s.call([] { g_followers.clear(); });

  auto missing = Client::unix_socket("/tmp/rack-no-such-dir/rackd.sock").request("GET", "/");
  CHECK(missing.error == Client::Error::Connect);
  CHECK(missing.error_text.find("No such file") != std::string::npos);
  int unused = ::socket(AF_INET, SOCK_STREAM, 0);  // bound, never listening: refused
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  REQUIRE(::bind(unused, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  REQUIRE(::getsockname(unused, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
  auto refused = Client::tcp("127.0.0.1", ntohs(sa.sin_port)).request("GET", "/");
  ::close(unused);
  CHECK(refused.error == Client::Error::Connect);
}

TEST_CASE("http server: drain hands idle connections back, says goodbye to busy ones") {
  std::vector<int> handed;
  bool done = false;
  LoopServer s;

  Client idle = Client::tcp("127.0.0.1", s.port);
  REQUIRE(idle.request("GET", "/").ok());  // now an idle keep-alive connection
  Client busy = Client::tcp("127.0.0.1", s.port);
  auto busy_result = std::async(std::launch::async, [&] { return busy.request("GET", "/slow/300"); });
  while (s.call([&] { return s.server->requests_served(); }) < 1 ||
         s.call([&] { return s.server->active_connections(); }) < 2)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the slow request is in flight

  s.call([&] {
    s.server->drain({.hand_back = [&](int fd) {
                       handed.push_back(::dup(fd));
                       return true;
                     },
                     .done = [&] { done = true; }});
  });
  CHECK(s.call([&] { return handed.size(); }) == 1);
  auto r = busy_result.get();
  CHECK(r.body == "slow300");
  CHECK(r.header("Connection") == "close");
  for (int i = 0; i < 100 && !s.call([&] { return done; }); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(s.call([&] { return done; }));

  // The handed-back fd is the idle client's socket: whoever gets it (rackd,
  // then another worker) answers that client's next request.
  REQUIRE(handed.size() == 1);
  std::thread other([fd = handed[0]] {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);  // libuv made it non-blocking
    std::string req = [&] {
      std::string got;
      char buf[1024];
      while (got.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
      return got;
    }();
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nreturned";
    ::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL);
    ::close(fd);
  });
  auto next = idle.request("GET", "/");
  other.join();
  CHECK(next.body == "returned");
  CHECK(idle.connects() == 1);
}

TEST_CASE("http server: no descriptor leaks across many connections") {
  {
    // libuv opens some descriptors once per process (the thread pool's
    // wakeup, the signal pipe): let them open before counting, since this
    // case can be the first in its process.
    LoopServer warm;
    Client c = Client::tcp("127.0.0.1", warm.port);
    CHECK(c.request("GET", "/slow/1").status == 200);
  }
  int before = count_fds();
  {
    LoopServer s;
    for (int i = 0; i < 50; ++i) {
      Client c = Client::tcp("127.0.0.1", s.port);
      CHECK(c.request("GET", i % 2 ? "/" : "/slow/1").status == 200);
    }
    int fd = connect_port(s.port);
    send_raw(fd, "GET / HTTP/1.1\r\n");  // left half-sent: closed by the server's destructor
    ::close(fd);
  }
  CHECK(count_fds() == before);
}
