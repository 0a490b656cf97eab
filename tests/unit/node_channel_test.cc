// The newconn answer node sends once per connection, read without a JSON
// parse. The accepted line is what node 20 writes (seen with strace).
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "node/channel.h"

using rack::master::parse_conn_answer;

TEST_CASE("node channel: newconn answers are read without the JSON parser, anything else is left to it") {
  uint64_t ack = 0;
  bool accepted = false;
  REQUIRE(parse_conn_answer(R"({"cmd":"NODE_CLUSTER","ack":17,"accepted":true,"seq":3})", ack, accepted));
  CHECK(ack == 17);
  CHECK(accepted);
  REQUIRE(parse_conn_answer(R"({"cmd":"NODE_CLUSTER","ack":0,"accepted":false,"seq":12345})", ack, accepted));
  CHECK(ack == 0);
  CHECK_FALSE(accepted);

  for (const char* other : {
           R"({"cmd":"NODE_HANDLE_ACK"})",
           R"({"cmd":"NODE_CLUSTER","act":"listening","port":80,"seq":2})",
           R"({"cmd":"NODE_CLUSTER","ack":,"accepted":true,"seq":3})",
           R"({"cmd":"NODE_CLUSTER","ack":1,"accepted":"yes","seq":3})",
           R"({"cmd":"NODE_CLUSTER","ack":1,"accepted":true,"seq":3,"extra":1})",
           R"({"cmd":"NODE_CLUSTER","ack":1,"accepted":true,"seq":3)",
           R"({"cmd":"NODE_CLUSTER","ack":99999999999999999999999,"accepted":true,"seq":3})",
           R"({"ack":1,"accepted":true,"cmd":"NODE_CLUSTER","seq":3})",  // other key order: the parser's job
           "",
       }) {
    CHECK_MESSAGE(!parse_conn_answer(other, ack, accepted), other);
  }
}

// ---- NodeChannel against a fake node worker on a socketpair ------------------

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <nlohmann/json.hpp>

namespace {

struct FakeWorker {
  uv_loop_t loop{};
  int sv[2] = {-1, -1};
  std::unique_ptr<rack::master::NodeChannel> ch;
  std::vector<std::pair<int, bool>> results;
  int listening = 0;
  std::vector<std::string> errors;

  explicit FakeWorker(const std::function<void(rack::master::NodeChannel::Events&)>& more = {}) {
    uv_loop_init(&loop);
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    rack::master::NodeChannel::Events ev;
    ev.conn_result = [this](int fd, bool accepted) { results.emplace_back(fd, accepted); };
    ev.listening = [this] { ++listening; };
    ev.protocol_error = [this](const std::string& what) { errors.push_back(what); };
    if (more) more(ev);
    ch = std::make_unique<rack::master::NodeChannel>(
        &loop, sv[0], "api", nlohmann::json{{"address", "127.0.0.1"}, {"family", "IPv4"}, {"port", 8080}}, ev);
  }
  ~FakeWorker() {
    ch.reset();
    ::close(sv[1]);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  // What the worker writes; then rackd's loop runs a few turns.
  void say(const std::string& line) {
    std::string l = line + "\n";
    REQUIRE(::write(sv[1], l.data(), l.size()) == static_cast<ssize_t>(l.size()));
    for (int i = 0; i < 5; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  }
  // The next line rackd wrote to the worker, with the fd it carried (if any).
  nlohmann::json hear(int* fd = nullptr) {
    std::string line;
    char c;
    while (true) {
      char control[CMSG_SPACE(sizeof(int))];
      iovec iov{&c, 1};
      msghdr mh{};
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      mh.msg_control = control;
      mh.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(sv[1], &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n != 1) return nullptr;
      if (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm && cm->cmsg_type == SCM_RIGHTS && fd)
        std::memcpy(fd, CMSG_DATA(cm), sizeof(int));
      if (c == '\n') return nlohmann::json::parse(line);
      line += c;
    }
  }
};

std::string query(int seq, const std::string& address_type, int port = 8080) {
  return R"({"cmd":"NODE_CLUSTER","act":"queryServer","address":"127.0.0.1","port":)" + std::to_string(port) +
         R"(,"addressType":)" + address_type + R"(,"fd":null,"index":0,"seq":)" + std::to_string(seq) + "}";
}

}  // namespace

TEST_CASE("node channel: queryServer: the first TCP server gets the app's socket, UDP and a second server get ENOTSUP") {
  FakeWorker w;
  // A dgram socket first (node asks with addressType "udp4"): refused, and
  // it must not take the app's socket from the HTTP server after it.
  w.say(query(1, R"("udp4")", 5353));
  auto r = w.hear();
  REQUIRE(r.is_object());
  CHECK(r["ack"] == 1);
  CHECK(r["errno"] == -95);
  CHECK(!w.ch->give(-1));  // no server yet: nothing to give connections to

  w.say(query(2, "4", 3000));
  r = w.hear();
  REQUIRE(r.is_object());
  CHECK(r["ack"] == 2);
  CHECK(r["errno"].is_null());
  CHECK(r["sockname"]["port"] == 3000);  // the port it asked for: node checks it
  CHECK(r["sockname"]["address"] == "127.0.0.1");
  const auto key = r["key"];

  w.say(query(3, "4", 3001));  // a second port
  r = w.hear();
  CHECK(r["errno"] == -95);

  w.say(R"({"cmd":"NODE_CLUSTER","act":"listening","seq":4})");
  CHECK(w.listening == 1);

  // A connection goes out as NODE_HANDLE newconn with the app's key and a fd;
  // node's answer (either key order) settles it.
  int sv2[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2) == 0);
  REQUIRE(w.ch->give(sv2[0]));
  int got = -1;
  r = w.hear(&got);
  REQUIRE(r.is_object());
  CHECK(r["cmd"] == "NODE_HANDLE");
  CHECK(r["msg"]["act"] == "newconn");
  CHECK(r["msg"]["key"] == key);
  CHECK(got >= 0);
  if (got >= 0) ::close(got);
  CHECK(w.ch->in_flight() == 1);
  uint64_t seq = r["msg"]["seq"];
  w.say(R"({"cmd":"NODE_CLUSTER","ack":)" + std::to_string(seq) + R"(,"accepted":true,"seq":5})");
  REQUIRE(w.results.size() == 1);
  CHECK(w.results[0] == std::make_pair(sv2[0], true));

  // A non-boolean `accepted` is taken as accepted (the worker may be serving it).
  REQUIRE(w.ch->give(sv2[1]));
  got = -1;
  r = w.hear(&got);
  CHECK(got >= 0);
  if (got >= 0) ::close(got);
  seq = r["msg"]["seq"];
  w.say(R"({"accepted":"yes","ack":)" + std::to_string(seq) + R"(,"cmd":"NODE_CLUSTER","seq":6})");
  REQUIRE(w.results.size() == 2);
  CHECK(w.results[1] == std::make_pair(sv2[1], true));
  ::close(sv2[0]);
  ::close(sv2[1]);

  // Junk is not fatal: the channel stays open.
  w.say("{not json");
  w.say(R"({"cmd":"NODE_CLUSTER","act":42})");
  CHECK(w.ch->open());
}

TEST_CASE("node channel: a NACK hands the oldest connection on, a refusal pauses the worker, a closed server gets none") {
  FakeWorker w;
  w.say(query(1, "4", 3000));
  auto key = w.hear()["key"];
  auto give_one = [&](int fd) {
    REQUIRE(w.ch->give(fd));
    int got = -1;
    auto r = w.hear(&got);
    if (got >= 0) ::close(got);
    return r["msg"]["seq"].get<uint64_t>();
  };
  int a[2], b[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) == 0);
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) == 0);

  // The descriptor did not arrive: node NACKs and never answers it. It is
  // the oldest unanswered one, and it comes back to be given elsewhere.
  give_one(a[0]);
  uint64_t second = give_one(a[1]);
  w.say(R"({"cmd":"NODE_HANDLE_NACK"})");
  REQUIRE(w.results.size() == 1);
  CHECK(w.results[0] == std::make_pair(a[0], false));
  CHECK(w.ch->in_flight() == 1);
  w.say(R"({"cmd":"NODE_CLUSTER","ack":)" + std::to_string(second) + R"(,"accepted":true,"seq":2})");
  CHECK(w.results.back() == std::make_pair(a[1], true));

  CHECK_FALSE(w.ch->give(b[0]));  // a worker out of descriptors gets a pause too

  // accepted: false (maxConnections): back to rackd, and no more for a moment.
  uv_sleep(120);
  uv_update_time(&w.loop);
  uint64_t s = give_one(b[0]);
  w.say(R"({"cmd":"NODE_CLUSTER","ack":)" + std::to_string(s) + R"(,"accepted":false,"seq":3})");
  CHECK(w.results.back() == std::make_pair(b[0], false));
  CHECK_FALSE(w.ch->give(b[1]));
  uv_sleep(120);
  uv_update_time(&w.loop);
  s = give_one(b[1]);  // 100 ms later it takes connections again
  w.say(R"({"cmd":"NODE_CLUSTER","ack":)" + std::to_string(s) + R"(,"accepted":true,"seq":4})");

  // The app closed its server (server.close()): nothing more goes to it,
  // until it listens again.
  w.say(R"({"cmd":"NODE_CLUSTER","act":"close","key":)" + key.dump() + R"(,"seq":5})");
  CHECK_FALSE(w.ch->give(b[0]));
  w.say(query(6, "4", 3000));
  CHECK(w.hear()["errno"].is_null());
  CHECK(w.ch->give(b[0]));
  for (int fd : {a[0], a[1], b[0], b[1]}) ::close(fd);
}

TEST_CASE("node channel: a line over 4 MB is skipped to its newline and counted once, and the next line is read") {
  FakeWorker w;
  ::fcntl(w.sv[1], F_SETFL, O_NONBLOCK);
  std::string junk(rack::master::NodeChannel::kMaxLineBytes * 3, 'x');
  std::size_t off = 0;
  while (off < junk.size()) {
    ssize_t n = ::write(w.sv[1], junk.data() + off, junk.size() - off);
    if (n > 0) off += static_cast<std::size_t>(n);
    uv_run(&w.loop, UV_RUN_NOWAIT);
  }
  w.say(R"(tail of the long line"})");
  w.say(R"({"cmd":"NODE_CLUSTER","act":"listening","seq":1})");
  CHECK(w.listening == 1);
  REQUIRE(w.errors.size() == 1);
  CHECK(w.errors[0] == "a line over 4 MB; skipped to its end");
  CHECK(w.ch->open());
}

TEST_CASE("node channel: a worker that never reads gets at most 1 MB queued for it") {
  FakeWorker w;
  // queryServer answers pile up: the worker sends and never reads.
  std::string burst;
  for (int i = 0; i < 200; ++i) burst += query(i, "4") + "\n";
  ::fcntl(w.sv[1], F_SETFL, O_NONBLOCK);
  for (int round = 0; round < 100; ++round) {
    (void)!::write(w.sv[1], burst.data(), burst.size());
    for (int i = 0; i < 3; ++i) uv_run(&w.loop, UV_RUN_NOWAIT);
    CHECK(w.ch->outbox_bytes() <= rack::master::NodeChannel::kMaxOutboxBytes);
  }
  CHECK(w.ch->outbox_bytes() > rack::master::NodeChannel::kMaxOutboxBytes / 2);
  REQUIRE_FALSE(w.errors.empty());
  CHECK(w.errors[0].find("it does not read its channel") == 0);
  CHECK(w.ch->open());
}

TEST_CASE("node channel: a worker gone while rackd answers it still has every line it sent before read") {
  std::vector<nlohmann::json> messages;
  FakeWorker w([&](rack::master::NodeChannel::Events& ev) {
    ev.user_message = [&](const nlohmann::json& m) { messages.push_back(m); };
  });
  // The worker exits: rackd's ack to its exitedAfterDisconnect meets a
  // closed socket (EPIPE), and its final metrics snapshot, written right
  // after, waits behind that line.
  REQUIRE(::shutdown(w.sv[1], SHUT_RD) == 0);
  std::string lines = R"({"cmd":"NODE_CLUSTER","act":"exitedAfterDisconnect","seq":7})" "\n"
                      R"({"type":"prom-client:getMetricsRes","requestId":0,"metrics":[]})" "\n";
  REQUIRE(::write(w.sv[1], lines.data(), lines.size()) == static_cast<ssize_t>(lines.size()));
  ::close(w.sv[1]);
  w.sv[1] = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // for the destructor
  for (int i = 0; i < 5; ++i) uv_run(&w.loop, UV_RUN_NOWAIT);
  REQUIRE(messages.size() == 1);
  CHECK(messages[0]["requestId"] == 0);
  CHECK_FALSE(w.ch->open());  // closed at its end of file
  int fd[2];
  REQUIRE(::pipe2(fd, O_CLOEXEC) == 0);
  CHECK_FALSE(w.ch->give(fd[0]));
  ::close(fd[0]);
  ::close(fd[1]);
}

// ---- an app with no listen: the worker's queryServer decides -----------------

#include "node/cluster_query.h"

namespace nc = rack::master::node_cluster;

TEST_CASE("node cluster: queryServer's address as a listen address, and which requests share a listener") {
  std::string why;
  auto a = nc::requested_address(nlohmann::json::parse(R"({"address":null,"port":3000,"addressType":4})"), why);
  REQUIRE(a);
  CHECK(a->str() == "0.0.0.0:3000");  // listen(port): every interface, as `listen: :3000`
  a = nc::requested_address(nlohmann::json::parse(R"({"address":"::0001","port":0,"addressType":6})"), why);
  REQUIRE(a);
  CHECK(a->str() == "[::1]:0");  // normalised as the config's
  CHECK_FALSE(nc::requested_address(nlohmann::json::parse(R"({"address":"127.0.0.1","port":53,"addressType":"udp4"})"), why));
  CHECK(why.find("not a TCP server") != std::string::npos);
  CHECK_FALSE(nc::requested_address(nlohmann::json::parse(R"({"address":"127.0.0.1","port":70000,"addressType":4})"), why));
  CHECK(why == "port 70000 is not a TCP port");
  CHECK_FALSE(nc::requested_address(nlohmann::json::parse(R"({"address":"example.com","port":80,"addressType":4})"), why));
  CHECK(why.find("not a numeric IPv4 or IPv6 address") != std::string::npos);
  CHECK_FALSE(nc::requested_address(nlohmann::json::parse(R"({"address":[1],"port":80,"addressType":4})"), why));

  rack::config::ListenAddr bound{"127.0.0.1", 3000};
  CHECK(nc::shares({"127.0.0.1", 3000}, bound));
  CHECK(nc::shares({"127.0.0.1", 0}, bound));  // listen(0) again: the port the first one got
  CHECK_FALSE(nc::shares({"127.0.0.1", 3001}, bound));
  CHECK_FALSE(nc::shares({"0.0.0.0", 3000}, bound));
}

TEST_CASE("node channel: with no listen the app binds what queryServer asks for, and its error reaches listen()") {
  std::vector<nlohmann::json> asked;
  int answer = 0;
  FakeWorker w([&](rack::master::NodeChannel::Events& ev) {
    ev.server = [&](const nlohmann::json& q, nlohmann::json& sockname) {
      asked.push_back(q);
      if (answer < 0) return answer;
      sockname = {{"address", "0.0.0.0"}, {"family", "IPv4"}, {"port", 3000}};
      return 0;
    };
  });
  answer = -98;  // EADDRINUSE: node's listen() emits it as 'error'
  w.say(query(1, "4", 3000));
  auto r = w.hear();
  REQUIRE(r.is_object());
  CHECK(r["errno"] == -98);
  CHECK(!w.ch->give(-1));  // still no server

  answer = 0;
  w.say(query(2, "4", 3000));
  r = w.hear();
  REQUIRE(r.is_object());
  CHECK(r["errno"].is_null());
  CHECK(r["sockname"]["address"] == "0.0.0.0");  // the listener's, not the channel's default
  CHECK(r["sockname"]["port"] == 3000);
  REQUIRE(asked.size() == 2);
  CHECK(asked[1]["port"] == 3000);
}

TEST_CASE("node channel: the preload's load reports are read without the JSON parser") {
  std::vector<std::pair<uint64_t, uint64_t>> loads;
  FakeWorker w([&](rack::master::NodeChannel::Events& ev) {
    ev.load = [&](uint64_t active, uint64_t received) { loads.emplace_back(active, received); };
  });
  w.say(R"({"type":"rack:load","active":2,"received":7})");
  REQUIRE(loads.size() == 1);
  CHECK(loads[0] == std::make_pair(uint64_t{2}, uint64_t{7}));
  uint64_t a = 0, b = 0;
  CHECK_FALSE(rack::master::parse_load_report(R"({"type":"rack:load","active":-1,"received":7})", a, b));
  CHECK_FALSE(rack::master::parse_load_report(R"({"type":"rack:load","active":1})", a, b));
  CHECK_FALSE(rack::master::parse_load_report(R"({"type":"rack:load","active":1,"received":2,"x":3})", a, b));
  w.say(R"({"type":"rack:load","active":"x"})");  // the app's own message, left to the parser
  CHECK(loads.size() == 1);
  CHECK(w.ch->open());
}

// ---- NodeProtocol alone: bytes in, decisions out, no socket ------------------

namespace {

struct Decisions : rack::master::NodeProtocol {
  Decisions() : NodeProtocol("api", {{"address", "127.0.0.1"}, {"family", "IPv4"}, {"port", 8080}}, 64) {}
  std::vector<std::string> replies, errors;
  std::vector<std::pair<uint64_t, bool>> answers;
  int lost = 0, listens = 0;
  void reply(std::string line) override { replies.push_back(std::move(line)); }
  void conn_answered(uint64_t seq, bool accepted) override { answers.emplace_back(seq, accepted); }
  void conn_lost() override { ++lost; }
  void listening() override { ++listens; }
  void user_message(const nlohmann::json&) override {}
  void protocol_error(const std::string& what) override { errors.push_back(what); }
  bool closed() const override { return false; }
};

}  // namespace

TEST_CASE("node protocol: lines split across reads are whole again, a line over the bound is skipped to its end") {
  Decisions d;
  std::string bytes = R"({"cmd":"NODE_CLUSTER","ack":4,"accepted":true,"seq":1})" "\n" R"({"cmd":"NODE_HANDLE_NACK"})" "\n";
  for (char c : bytes) d.feed(std::string_view(&c, 1));  // one byte per read
  CHECK(d.answers == std::vector<std::pair<uint64_t, bool>>{{4, true}});
  CHECK(d.lost == 1);

  d.feed(std::string(50, 'x'));
  CHECK(d.errors.empty());
  d.feed(std::string(50, 'x'));  // 100 bytes and no newline: over the 64-byte bound
  REQUIRE(d.errors.size() == 1);
  CHECK(d.errors[0] == "a line over 64 bytes; skipped to its end");
  d.feed(std::string(1000, 'x'));  // still the same line: not counted again
  d.feed("xx\n" R"({"cmd":"NODE_CLUSTER","act":"listening"})" "\n");
  CHECK(d.errors.size() == 1);
  CHECK(d.listens == 1);
  CHECK(d.replies.empty());
}
