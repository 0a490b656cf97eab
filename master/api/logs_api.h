// GET /v1/logs?app=&n=&stream=&follow=1: the last n lines of an app's (or
// every app's) logs as JSON lines, and with follow=1 every line after them
// until the client leaves. Files are read on the thread pool: dispatch
// never waits for `rackctl logs`.
#pragma once

#include "rack/http.h"

namespace rack::master {

class Supervisor;

namespace api {

void serve_logs(Supervisor& sup, http::Request& req, http::Responder res);

}  // namespace api
}  // namespace rack::master
