#include <doctest/doctest.h>

#include <string>

#include "rack/json.h"

using namespace rack;

TEST_CASE("json_input: a deep document is refused before it is built and 64 levels are fine") {
  std::string err;
  std::string ok = std::string(64, '[') + std::string(64, ']');
  CHECK(json_input::parse(ok, err));
  std::string deep = std::string(65, '[') + std::string(65, ']');
  CHECK_FALSE(json_input::parse(deep, err));
  CHECK(err == "nested deeper than 64 levels");
  // 90,000 levels: what crashed rackd through dump().
  std::string very = "{\"only\":" + std::string(90000, '[') + std::string(90000, ']') + "}";
  CHECK_FALSE(json_input::parse(very, err));
  // Brackets inside strings do not nest.
  std::string in_string = "[\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"]";
  auto j = json_input::parse(in_string, err);
  REQUIRE(j);
  CHECK((*j)[0].get<std::string>().size() == 2001);
}

TEST_CASE("json_input: errors are values that say where and excerpts are bounded") {
  std::string err;
  CHECK_FALSE(json_input::parse("{\"a\":", err));
  CHECK(err.find("parse error") != std::string::npos);
  CHECK_FALSE(json_input::parse("", err));
  CHECK_FALSE(json_input::parse("\"\xff\"", err));  // not UTF-8: an error, no throw
  auto big = json_input::parse("[\"" + std::string(100000, 'x') + "\"]", err);
  REQUIRE(big);
  CHECK(json_input::excerpt(*big).size() <= 123);
  CHECK(std::string(json_input::type_name(nlohmann::json(1.5))) == "number");
  CHECK(std::string(json_input::type_name(nlohmann::json::array())) == "array");
}
