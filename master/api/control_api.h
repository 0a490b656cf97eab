// The control API on $RACK_HOME/rackd.sock (DESIGN.md "Control API").
//
//   GET    /v1/ping                       {"ok":true,"pid":..,"version":..}
//   GET    /v1/status                     {"apps":[...]}  (rackctl status --json)
//   GET    /v1/config                     {"apps":[{name,file,config}]}: each app's resolved config as YAML (rackctl save)
//   GET    /v1/metrics                    what /metrics on the admin listener serves (rackctl monit)
//   POST   /v1/start      {"file","only"} start an ecosystem's apps
//   POST   /v1/reload     {"file","only"} apply a changed ecosystem (streams progress)
//   POST   /v1/apps/<app|all>/stop        drain and stop
//   POST   /v1/apps/<app|all>/restart     not graceful
//   POST   /v1/apps/<app|all>/reload      rolling, zero-downtime (streams progress)
//   POST   /v1/apps/<app>/scale {"instances":"3"|"+1"|"-1"}
//   POST   /v1/apps/<app|all>/loglevel {"level":"debug"}
//   GET    /v1/apps/<app>                 rackctl describe: command, env keys, logs, policy, slots
//   DELETE /v1/apps/<app|all>             stop and forget
//   GET    /v1/logs?app=&n=&stream=&follow=1   JSON lines
//   POST   /v1/logs/flush?app=            empty current files
//   POST   /v1/logs/reopen                reopen all files
//   POST   /v1/kill                       stop everything, then rackd exits
//
// Errors are {"error":"..."} with 400 (bad request or config: rackctl exits
// 2), 404 (no such app: exits 1) or 409 (the operation failed: exits 1).
// Streaming answers are chunked JSON lines: {"progress":"..."} then a last
// line {"ok":true} or {"ok":false,"error":"...","slot":N}.
#pragma once

#include "rack/http.h"

namespace rack::master {

class Supervisor;

void serve_control(Supervisor& sup, http::Request& req, http::Responder res);

}  // namespace rack::master
