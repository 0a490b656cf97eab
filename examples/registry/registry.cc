#include "registry.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "caching.h"
#include "client_ip.h"
#include "compression.h"
#include "errors.h"
#include "file_response.h"
#include "file_stream.h"
#include "offload.h"

namespace registry {

namespace {

rack::Response auth_error(const AuthResult& a) {
  rack::Response r = error_response(a.status, a.message);
  if (a.status == 401) r.set("WWW-Authenticate", "Bearer realm=\"rack-registry\"");
  return r;
}

// Errors of a write, as the client should see them.
int write_status(int err) {
  switch (err) {
    case EISDIR:
    case ENOTDIR:
    case ELOOP:
    case EXDEV:
    case EEXIST:
    case ENOTEMPTY: return 409;
    case ENOSPC:
    case EDQUOT: return 507;
    case ENOENT: return 503;  // the storage itself is gone: /health says so too
    default: return 500;
  }
}

std::string write_message(int err, const StoragePath& path) {
  switch (err) {
    case EISDIR: return path.display() + " is a directory";
    case ENOTDIR: return "a parent of " + path.display() + " is a file";
    case ELOOP: return path.display() + " goes through a symbolic link";
    case EXDEV: return path.display() + " is on another file system than the storage's .tmp";
    case ENOSPC:
    case EDQUOT: return "no space left in the storage";
    case ENOENT: return "the storage directory is unavailable";
    default: return "cannot write " + path.display() + ": " + errno_text(err);
  }
}

prometheus::Counter& counter(prometheus::Registry& r, const std::string& name, const std::string& help,
                             const prometheus::Labels& labels = {}) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add(labels);
}

std::string storage_check_error(int err) { return "Storage health check failed: " + errno_text(err); }

}  // namespace

Registry::Registry(rack::App& app, Options options, std::unique_ptr<Auth> auth,
                   std::unique_ptr<rack::SharedTable> table)
    : app_(app),
      options_(std::move(options)),
      auth_(std::move(auth)),
      table_(std::move(table)),
      limiter_(*table_, options_.rate_limit),
      storage_(std::make_shared<const Storage>(options_.storage)),
      rate_limited_(counter(app.metrics(), "registry_rate_limited_requests_total",
                            "Requests refused with 429 because their client was over the rate limit.")),
      limiter_degraded_(counter(app.metrics(), "registry_rate_limiter_errors_total",
                                "Requests let through because the shared rate-limit table was unusable.")),
      sent_bytes_(prometheus::BuildCounter()
                      .Name("registry_sent_bytes_total")
                      .Help("File body bytes sent, after Content-Encoding.")
                      .Register(app.metrics())),
      published_created_(counter(app.metrics(), "registry_publishes_total", "Files published with PUT.",
                                 {{"result", "created"}})),
      published_replaced_(counter(app.metrics(), "registry_publishes_total", "Files published with PUT.",
                                  {{"result", "replaced"}})),
      deleted_(counter(app.metrics(), "registry_deletes_total", "Files removed with DELETE.")) {}

void Registry::install() {
  auto self = shared_from_this();
  app_.get("/", limited(&Registry::index));
  app_.get("/health", [self](rack::Request& req, rack::Responder res) { self->health(req, std::move(res)); });
  // The same check in rackd's GET /health, as "<app>:storage".
  app_.health_check("storage", [loop = app_.loop(), storage = storage_](rack::App::HealthDone done) {
    offload(loop, [storage] { return storage->check(); }, [done](int err) {
      done(err == 0 ? "" : storage_check_error(err));
    });
  });
  // With metrics_path: /metrics the runtime answers with the merged metrics
  // of every worker (its route is added after ours, so we must not add one).
  const char* merged = std::getenv("RACK_METRICS_PATH");
  if (!(app_.info().supervised && merged && std::strcmp(merged, "/metrics") == 0)) {
    if (app_.info().supervised)
      spdlog::warn("/metrics shows this worker only: set `metrics_path: /metrics` on the app in the ecosystem file "
                   "to serve the metrics of all its workers merged");
    app_.get("/metrics", [self](rack::Request& req, rack::Responder res) { self->metrics(req, std::move(res)); });
  }
  app_.get("/*", limited(&Registry::get_file));
  app_.put("/*", limited(&Registry::put_file));
  app_.del("/*", limited(&Registry::delete_file));
  app_.post("/*", limited(&Registry::not_allowed));
  app_.patch("/*", limited(&Registry::not_allowed));

  offload(
      app_.loop(), [storage = storage_] { return storage->sweep_temp_files(); },
      [](std::size_t removed) {
        if (removed > 0) spdlog::info("removed {} unfinished upload(s) left by workers that died", removed);
      });
}

rack::Handler Registry::limited(void (Registry::*handler)(rack::Request&, rack::Responder)) {
  return [self = shared_from_this(), handler](rack::Request& req, rack::Responder res) {
    if (!self->admit(req, res)) return;
    ((*self).*handler)(req, std::move(res));
  };
}

bool Registry::admit(rack::Request& req, rack::Responder& res) {
  // From here on the request (and its log line) names the real client.
  std::string client = client_ip(req.peer_ip, req.headers, options_.trusted);
  if (client != req.peer_ip) req.peer_ip = client;
  RateLimiter::Decision d = limiter_.check(rate_limit_key(client));
  if (d.degraded) {
    limiter_degraded_.Increment();
    if (limiter_degraded_.Value() == 1) spdlog::error("the rate-limit table's lock is unusable: not limiting");
  }
  if (d.allowed) return true;
  rate_limited_.Increment();
  res.send(too_many_requests(d));
  return false;
}

// ---- routes ------------------------------------------------------------------

void Registry::index(rack::Request&, rack::Responder res) {
  nlohmann::ordered_json j = {{"service", "rack-registry"},
                      {"files", "GET /<path>"},
                      {"publish", auth_ ? "PUT /<path> with x-registry-token" : "disabled (read-only)"},
                      {"health", "/health"},
                      {"metrics", "/metrics"},
                      {"worker", {{"slot", app_.info().slot}, {"pid", app_.info().pid}}}};
  rack::Response r = rack::Response::json(200, j.dump() + "\n");
  r.set("Cache-Control", "no-store");
  res.send(std::move(r));
}

void Registry::health(rack::Request&, rack::Responder res) {
  offload(app_.loop(), [storage = storage_] { return storage->check(); }, [res](int err) mutable {
    nlohmann::ordered_json storage = {{"status", "ok"}};
    if (err != 0) storage = {{"status", "error"}, {"error", storage_check_error(err)}};
    nlohmann::ordered_json body = {{"status", err == 0 ? "ok" : "error"}, {"checks", {{"storage", storage}}}};
    rack::Response r = rack::Response::json(err == 0 ? 200 : 503, body.dump());
    r.set("Cache-Control", "no-store");
    res.send(std::move(r));
  });
}

void Registry::metrics(rack::Request&, rack::Responder res) {
  rack::Response r = rack::Response::text(200, app_.metrics_text());
  r.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  r.set("Cache-Control", "no-store");
  res.send(std::move(r));
}

void Registry::not_allowed(rack::Request& req, rack::Responder res) {
  rack::Response r = error_response(405, req.method + " is not supported: use GET, HEAD, PUT or DELETE");
  r.set("Allow", "GET, HEAD, PUT, DELETE");
  res.send(std::move(r));
}

void Registry::get_file(rack::Request& req, rack::Responder res) {
  PathCheck pc = parse_request_path(req.path);
  if (pc.kind == PathKind::Invalid) return res.send(error_response(400, pc.message));
  if (pc.kind == PathKind::Hidden) return res.send(error_response(404, "no file at " + pc.path.display()));
  if (AuthResult a = authorize(auth_.get(), req.headers, Right::Read); a.status != 0) return res.send(auth_error(a));

  FileQuery q{std::move(pc.path), std::string(req.header("If-None-Match")), negotiate(req.header("Accept-Encoding")),
              req.method == "HEAD"};
  bool head = q.head;
  auto self = shared_from_this();
  offload(
      app_.loop(), [storage = storage_, q = std::move(q)] { return plan_file_response(*storage, q); },
      [self, res, head](FilePlan p) mutable {
        if (p.status >= 400) {
          if (p.status >= 500) spdlog::error("{}", p.message);
          return res.send(error_response(p.status, p.message));
        }
        const char* encoding = p.coding == Coding::Identity ? "identity" : coding_name(p.coding);
        prometheus::Counter& sent = self->sent_bytes_.Add({{"encoding", encoding}});
        if (p.fd >= 0)
          return FileStream::start(self->app_.loop(), std::move(res), p.fd, p.size, p.coding, std::move(p.headers),
                                   head, &sent);
        if (!head) sent.Increment(static_cast<double>(p.body.size()));
        res.send(rack::Response{p.status, std::move(p.headers), std::move(p.body)});
      });
}

void Registry::put_file(rack::Request& req, rack::Responder res) {
  PathCheck pc = parse_request_path(req.path);
  if (pc.kind != PathKind::File) return res.send(error_response(400, pc.message));
  AuthResult a = authorize(auth_.get(), req.headers, Right::Write);
  if (a.status != 0) return res.send(auth_error(a));

  auto self = shared_from_this();
  offload(
      app_.loop(),
      [storage = storage_, path = pc.path, body = std::move(req.body)] { return storage->publish(path, body); },
      [self, res, path = pc.path, who = a.token->name, location = req.path](Storage::Published p) mutable {
        if (p.error != 0) {
          int status = write_status(p.error);
          if (status >= 500)
            spdlog::error("PUT {} by {}: {} failed: {}", path.display(), who, p.step, errno_text(p.error));
          return res.send(error_response(status, write_message(p.error, path)));
        }
        (p.created ? self->published_created_ : self->published_replaced_).Increment();
        spdlog::info("published {} ({} bytes) for token \"{}\"", path.display(), p.st.st_size, who);
        std::string etag = etag_for(p.st);
        nlohmann::ordered_json body = {{"path", path.display()}, {"size", p.st.st_size}, {"etag", etag}};
        rack::Response r = rack::Response::json(p.created ? 201 : 200, body.dump() + "\n");
        r.set("ETag", etag);
        r.set("Cache-Control", "no-store");
        if (p.created) r.set("Location", location);
        res.send(std::move(r));
      });
}

void Registry::delete_file(rack::Request& req, rack::Responder res) {
  PathCheck pc = parse_request_path(req.path);
  if (pc.kind == PathKind::Invalid) return res.send(error_response(400, pc.message));
  if (pc.kind == PathKind::Hidden) return res.send(error_response(404, "no file at " + pc.path.display()));
  AuthResult a = authorize(auth_.get(), req.headers, Right::Write);
  if (a.status != 0) return res.send(auth_error(a));

  auto self = shared_from_this();
  offload(
      app_.loop(), [storage = storage_, path = pc.path] { return storage->remove(path); },
      [self, res, path = pc.path, who = a.token->name](int err) mutable {
        if (err == ENOENT) return res.send(error_response(404, "no file at " + path.display()));
        if (err != 0) {
          int status = write_status(err);
          if (status >= 500) spdlog::error("DELETE {} by {}: {}", path.display(), who, errno_text(err));
          return res.send(error_response(status, write_message(err, path)));
        }
        self->deleted_.Increment();
        spdlog::info("deleted {} for token \"{}\"", path.display(), who);
        rack::Response r{204, {{"Cache-Control", "no-store"}}, ""};
        res.send(std::move(r));
      });
}

}  // namespace registry
