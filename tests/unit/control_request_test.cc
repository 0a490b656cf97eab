// The control API's routing and request checks, before the Supervisor
// (api/control_request.h).
#include <doctest/doctest.h>

#include <string>
#include <variant>

#include "api/control_request.h"

using namespace rack::master;
using api::Route;

namespace {

std::variant<api::ControlRequest, rack::http::Response> parse(std::string method, std::string path,
                                                                std::string body = "", std::string query = "") {
  rack::http::Request req;
  req.method = std::move(method);
  req.path = std::move(path);
  req.query = std::move(query);
  req.body = std::move(body);
  return api::parse_control_request(req);
}

// The status and body of an error answer, "" when the request passed.
std::string refused(const std::variant<api::ControlRequest, rack::http::Response>& r) {
  if (auto* res = std::get_if<rack::http::Response>(&r)) return std::to_string(res->status) + " " + res->body;
  return "";
}

}  // namespace

TEST_CASE("control request: routes, with the fields each one reads") {
  auto r = parse("POST", "/v1/reload", R"({"file":"/e.yaml","only":"web","canary":true,"watch":"30s"})");
  REQUIRE(refused(r) == "");
  auto& req = std::get<api::ControlRequest>(r);
  CHECK(req.route == Route::Reload);
  CHECK(req.file == "/e.yaml");
  CHECK(req.only == "web");
  CHECK(req.reload.canary == ReloadOptions::Canary::On);
  CHECK(req.reload.watch == std::chrono::seconds(30));

  auto op = parse("POST", "/v1/apps/web/scale", R"({"instances":"+1"})");
  REQUIRE(refused(op) == "");
  CHECK(std::get<api::ControlRequest>(op).route == Route::AppOp);
  CHECK(std::get<api::ControlRequest>(op).target == "web");
  CHECK(std::get<api::ControlRequest>(op).op == "scale");
  CHECK(std::get<api::ControlRequest>(parse("DELETE", "/v1/apps/all")).route == Route::AppDelete);
  CHECK(std::get<api::ControlRequest>(parse("GET", "/v1/ping")).route == Route::Ping);
  CHECK(std::get<api::ControlRequest>(parse("POST", "/v1/logs/flush", "", "app=web")).log_app == "web");
  CHECK(api::answers_while_shutting_down(Route::Status));
  CHECK_FALSE(api::answers_while_shutting_down(Route::Start));
}

TEST_CASE("control request: bad requests get 400 or 404 naming what was wrong") {
  CHECK(refused(parse("POST", "/v1/start", "{")).rfind("400 {\"error\":\"body is not usable JSON", 0) == 0);
  CHECK(refused(parse("POST", "/v1/start", "[1]")) == R"(400 {"error":"body: expected a JSON object, got array"})");
  CHECK(refused(parse("POST", "/v1/start", "{}")).find("body must name the ecosystem file") != std::string::npos);
  CHECK(refused(parse("POST", "/v1/start", R"({"file":7})")) ==
        R"(400 {"error":"file: expected a path (a string), got number 7"})");
  CHECK(refused(parse("POST", "/v1/start", R"({"file":"/a\u0000b"})")).find("NUL") != std::string::npos);
  CHECK(refused(parse("POST", "/v1/start", R"({"file":"/e.yaml","only":[1]})")) ==
        R"(400 {"error":"only: expected an app name (a string), got array"})");
  CHECK(refused(parse("POST", "/v1/reload", R"({"file":"/e.yaml","canary":false,"watch":"1s"})"))
            .find("watch applies to canary reloads") != std::string::npos);
  CHECK(refused(parse("POST", "/v1/upgrade", R"({"binary":{}})")).find("binary: expected a path") != std::string::npos);
  CHECK(refused(parse("POST", "/v1/logs/flush", "", "app=../x")).rfind("400", 0) == 0);
  CHECK(refused(parse("GET", "/v1/apps/web%00")).find("NUL") != std::string::npos);
  CHECK(refused(parse("GET", "/v1/apps/we b")).rfind("400", 0) == 0);
  CHECK(refused(parse("PUT", "/v1/apps/web")) == R"(404 {"error":"no such endpoint: PUT /v1/apps/web"})");
  CHECK(refused(parse("GET", "/v1/start")).rfind("404", 0) == 0);
  // 90,000 levels deep used to crash rackd through dump(): refused by depth.
  std::string deep = R"({"file":"/e.yaml","only":)" + std::string(90000, '[') + std::string(90000, ']') + "}";
  CHECK(refused(parse("POST", "/v1/start", deep)).rfind("400", 0) == 0);
}
