// rackd's own listeners: the control socket (rackctl, the control API)
// and the admin listener (/metrics, /health, /v1/status, the dashboard).
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "api/control_api.h"
#include "api/dashboard.h"
#include "api/http_limits.h"
#include "api/reply.h"
#include "metrics/endpoint.h"
#include "supervisor.h"

namespace rack::master {

// ---- admin listener (/metrics, /health, /v1/status) ---------------------------

void Supervisor::make_admin() {
  admin_http_ = std::make_unique<http::Server>(
      loop_, [this](http::Request& req, http::Responder res) { serve_admin(req, std::move(res)); },
      api::listener_limits(api::kMaxAdminConnections));
  admin_ = std::make_unique<Listener>(loop_, [this](int fd) { admin_http_->adopt(fd); });
  admin_->reserve_share("admin listener", 1);
}

// The first start decides the admin listener: the file's rack.admin, else
// $RACK_ADMIN, else the default. False (with `error`) when it cannot bind.
bool Supervisor::decide_admin(const config::RackSection& from_file, std::string& error) {
  config::RackSection rack = from_file;
  if (opt_.admin && rack.admin_at.line == 0) {  // unset in the file
    rack.admin = *opt_.admin;
    rack.admin_at = config::Location{"RACK_ADMIN", 0, 0, ""};
  }
  std::string why;
  if (rack.admin && open_admin(rack, why) != 0) {
    error = rack.admin_at.str() + ": " + why;
    return false;
  }
  admin_decided_ = true;
  return true;
}

int Supervisor::open_admin(const config::RackSection& rack, std::string& error) {
  const config::ListenAddr& addr = *rack.admin;
  make_admin();
  int rc = admin_->bind(addr, error);
  if (rc != 0) {
    admin_.reset();
    admin_http_.reset();
  } else {
    dashboard_ = std::make_unique<Dashboard>(*this, rack.admin_token);
    spdlog::info("admin listener on {} (dashboard at /, {})", admin_->bound_address(),
                 rack.admin_token.empty() ? "read-only" : "actions need rack.admin_token");
  }
  return rc;
}

void Supervisor::serve_metrics(http::Responder res) { metrics_->serve(std::move(res)); }

std::string Supervisor::admin_address() const { return admin_ ? admin_->bound_address() : ""; }

void Supervisor::serve_admin(http::Request& req, http::Responder res) {
  if (dashboard_ && dashboard_->serve(req, res)) return;
  if (req.method != "GET" && req.method != "HEAD") {
    res.send(http::Response::json(405, R"({"error":"method not allowed"})"));
    return;
  }
  int code = 200;
  if (req.path == "/health") {
    std::string body = health(code, true);
    res.send(http::Response::json(code, body));
  } else if (req.path == "/health/live") {
    std::string body = liveness(code);
    res.send(http::Response::json(code, body));
  } else if (req.path.rfind("/health/", 0) == 0) {
    std::string name = req.path.substr(8);
    if (std::string bad = api::app_name_error(name); !bad.empty()) return res.send(api::error(400, bad));
    std::string body = app_health(name, code);
    res.send(http::Response::json(code, body));
  } else if (req.path == "/v1/status") {
    res.send(http::Response::json(200, status().dump()));
  } else if (req.path == "/metrics") {
    serve_metrics(std::move(res));
  } else {
    res.send(http::Response::json(404, R"({"error":"not found"})"));
  }
}

int Supervisor::open_control(std::string& error) {
  make_control();
  return control_->bind_unix(opt_.home + "/rackd.sock", error);
}

void Supervisor::make_control() {
  control_http_ = std::make_unique<http::Server>(
      loop_, [this](http::Request& req, http::Responder res) { serve_control(*this, req, std::move(res)); },
      api::listener_limits(api::kMaxControlConnections));
  // Peers of another uid get a 403 from a server of their own, after their
  // request has been read (answering before reading would race with their
  // write and could reach them as a reset instead).
  refuse_http_ = std::make_unique<http::Server>(
      loop_,
      [](http::Request&, http::Responder res) {
        http::Response r = http::Response::error(403, "rackd belongs to another user; refused");
        r.set("Connection", "close");
        res.send(std::move(r));
      },
      api::listener_limits(api::kMaxRefusedPeers));
  control_ = std::make_unique<Listener>(loop_, [this](int fd) {
    long uid = Listener::peer_uid(fd);
    if (uid != static_cast<long>(::getuid())) {
      spdlog::warn("control socket: refused a peer with uid {}", uid);
      refuse_http_->adopt(fd);
      return;
    }
    control_http_->adopt(fd);
  });
  control_->reserve_share("control socket", 2);
}

}  // namespace rack::master
