#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "rack/logging.h"

TEST_CASE("logging: JSON lines stay valid whatever the message contains") {
  std::string path = "/tmp/rack-logging-test-" + std::to_string(::getpid()) + ".log";
  rack::log::Options o;
  o.format = rack::log::Format::Json;
  o.file = path;
  o.name = "t";
  rack::log::init(o);
  std::string nasty = "quote\" backslash\\ newline\n tab\t ctl\x01 del\x7f bad-utf8\xff\xfe end";
  spdlog::info("{}", nasty);
  spdlog::warn("plain");
  spdlog::default_logger()->flush();
  std::ifstream f(path);
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_MESSAGE(!j.is_discarded(), line);
    REQUIRE(j.contains("time"));
    // RFC 3339 UTC with milliseconds, the shape log shippers parse.
    CHECK_MESSAGE(std::regex_match(j["time"].get<std::string>(),
                                   std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")), line);
    CHECK(j.contains("level"));
    if (n == 0) CHECK(j["msg"].get<std::string>().find("quote\" backslash\\ newline\n tab") == 0);
    ++n;
  }
  CHECK(n == 2);
  std::remove(path.c_str());
  rack::log::init({});
}

TEST_CASE("logging: LOG_LEVEL and LOG_FORMAT are validated, not silently ignored") {
  setenv("LOG_LEVEL", "fatal", 1);
  CHECK(rack::log::options_from_env(false).level == spdlog::level::critical);
  setenv("LOG_LEVEL", "verbose", 1);
  CHECK_THROWS_WITH_AS(rack::log::options_from_env(false), doctest::Contains("LOG_LEVEL"), std::invalid_argument);
  unsetenv("LOG_LEVEL");
  setenv("LOG_FORMAT", "xml", 1);
  CHECK_THROWS_AS(rack::log::options_from_env(false), std::invalid_argument);
  setenv("LOG_FORMAT", "json", 1);
  CHECK(rack::log::options_from_env(false).format == rack::log::Format::Json);
  unsetenv("LOG_FORMAT");
  CHECK(rack::log::options_from_env(true).format == rack::log::Format::Json);
  for (auto l : {"trace", "debug", "info", "warn", "error", "fatal"}) CHECK(rack::log::parse_level(l).has_value());
}

TEST_CASE("logging: rackd.log and its rotations are 0600 whatever the umask") {
  std::string path = "/tmp/rack-logging-mode-" + std::to_string(::getpid()) + ".log";
  std::string rotated = "/tmp/rack-logging-mode-" + std::to_string(::getpid()) + ".1.log";
  mode_t old = ::umask(022);
  rack::log::Options o;
  o.file = path;
  o.name = "t";
  o.max_file_bytes = 1000;
  o.keep_files = 2;
  rack::log::init(o);
  for (int i = 0; i < 50; ++i) spdlog::info("line {} of some length to fill a small file", i);
  spdlog::default_logger()->flush();
  struct stat cur, rot;
  REQUIRE(::stat(path.c_str(), &cur) == 0);
  REQUIRE(::stat(rotated.c_str(), &rot) == 0);  // it did rotate
  CHECK((cur.st_mode & 0777) == 0600);
  CHECK((rot.st_mode & 0777) == 0600);
  rack::log::init({});
  ::umask(old);
  std::remove(path.c_str());
  std::remove(rotated.c_str());
  std::remove(("/tmp/rack-logging-mode-" + std::to_string(::getpid()) + ".2.log").c_str());
}
