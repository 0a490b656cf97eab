// rackctl's status table: colours only when asked, widths fitted.
#include <doctest/doctest.h>

#include "status_table.h"

using json = nlohmann::json;
using rack::cli::render_status;
using rack::cli::TableStyle;

namespace {

json one_app(const std::string& name) {
  return json::parse(R"({"apps":[{"name":")" + name + R"(","status":"online","listen":"127.0.0.1:8080","workers":[
    {"slot":0,"pid":42,"state":"ready","restarts":0,"generation":1,"uptime_s":3,"cpu_percent":0,"rss_bytes":1024}]}]})");
}

std::size_t longest_line(const std::string& s) {
  std::size_t best = 0, cur = 0;
  for (unsigned char c : s) {
    if (c == '\n') best = std::max(best, cur), cur = 0;
    else if ((c & 0xC0) != 0x80) ++cur;
  }
  return best;
}

}  // namespace

TEST_CASE("status table: a 64-character name is cut to the terminal's width, plain output is not") {
  std::string name(64, 'a');
  std::string plain = render_status(one_app(name));
  CHECK(plain.find(name) != std::string::npos);
  CHECK(plain.find("\033[") == std::string::npos);
  std::string fitted = render_status(one_app(name), TableStyle{false, 80});
  CHECK(longest_line(fitted) <= 80);
  CHECK(fitted.find("…") != std::string::npos);
  CHECK(fitted.find(name) == std::string::npos);
}

TEST_CASE("status table: colours for status and state when asked, and the columns still line up") {
  std::string colored = render_status(one_app("web"), TableStyle{true, 0});
  CHECK(colored.find("\033[32monline\033[0m") != std::string::npos);
  CHECK(colored.find("\033[32mready\033[0m") != std::string::npos);
  std::string plain = render_status(one_app("web"));
  std::string stripped;
  for (size_t i = 0; i < colored.size(); ++i) {
    if (colored[i] == '\033') i = colored.find('m', i);
    else stripped += colored[i];
  }
  CHECK(stripped == plain);
}
