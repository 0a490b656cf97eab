// The registry's error bodies: {"statusCode":404,"error":"Not Found","message":"…"},
// the shape its clients (and the operators' manual) expect.
#pragma once

#include <string_view>

#include <rack/worker.h>

namespace registry {

// Cache-Control: no-store — an error is about this request, not the path.
rack::Response error_response(int status, std::string_view message);

}  // namespace registry
