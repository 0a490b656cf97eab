// The newconn answer node sends once per connection, read without a JSON
// parse. The accepted line is what node 20 writes (seen with strace).
#include <doctest/doctest.h>

#include "node_channel.h"

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
