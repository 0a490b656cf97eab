#include "lifecycle/http_probe.h"

#include <cstring>

#include "uv_handle.h"

namespace rack::master {

// One connection attempt. It may outlive the probe (the worker exits while
// a connect is pending): `probe` is cleared then, and the attempt frees
// itself when its handle closes.
struct HttpProbe::Attempt {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  std::string request;
  std::string response;
  HttpProbe* probe;

  void close(bool ok) {
    if (probe) probe->finished(ok);
    probe = nullptr;
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp)))
      uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) { delete static_cast<Attempt*>(h->data); });
  }
};

HttpProbe::HttpProbe(uv_loop_t* loop, config::ListenAddr addr, std::string path, std::function<void()> on_ok)
    : loop_(loop), addr_(std::move(addr)), path_(std::move(path)), on_ok_(std::move(on_ok)) {
  timer_ = new_handle<uv_timer_t>(this);
  uv_timer_init(loop_, timer_);
  uv_timer_start(timer_, [](uv_timer_t* t) {
    if (auto* self = static_cast<HttpProbe*>(t->data)) self->try_once();
  }, 100, 100);
}

HttpProbe::~HttpProbe() {
  close_handle(timer_);
  if (attempt_) attempt_->probe = nullptr;
}

void HttpProbe::try_once() {
  if (attempt_ || done_) return;
  sockaddr_storage ss{};
  std::string host = addr_.host == "0.0.0.0" ? "127.0.0.1" : addr_.host == "::" ? "::1" : addr_.host;
  if (host.find(':') != std::string::npos) uv_ip6_addr(host.c_str(), addr_.port, reinterpret_cast<sockaddr_in6*>(&ss));
  else uv_ip4_addr(host.c_str(), addr_.port, reinterpret_cast<sockaddr_in*>(&ss));
  auto* a = new Attempt{};
  a->probe = this;
  a->request = "GET " + path_ + " HTTP/1.0\r\nHost: " + host + "\r\nUser-Agent: rackd-probe\r\n\r\n";
  uv_tcp_init(loop_, &a->tcp);
  a->tcp.data = a;
  a->connect.data = a;
  attempt_ = a;
  int rc = uv_tcp_connect(&a->connect, &a->tcp, reinterpret_cast<sockaddr*>(&ss), [](uv_connect_t* req, int status) {
    auto* a = static_cast<Attempt*>(req->data);
    if (status != 0 || !a->probe) return a->close(false);
    uv_buf_t buf = uv_buf_init(a->request.data(), a->request.size());
    a->write.data = a;
    uv_write(&a->write, reinterpret_cast<uv_stream_t*>(&a->tcp), &buf, 1, [](uv_write_t* w, int status) {
      auto* a = static_cast<Attempt*>(w->data);
      if (status != 0) return a->close(false);
      uv_read_start(reinterpret_cast<uv_stream_t*>(&a->tcp),
                    [](uv_handle_t*, size_t, uv_buf_t* b) {
                      static char scratch[1024];
                      *b = uv_buf_init(scratch, sizeof scratch);
                    },
                    [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                      auto* a = static_cast<Attempt*>(s->data);
                      if (n > 0) a->response.append(b->base, static_cast<size_t>(n));
                      // "HTTP/1.x 2xx": decided once the status line is in.
                      if (a->response.size() >= 12) return a->close(a->response.compare(9, 1, "2") == 0);
                      if (n < 0) a->close(false);
                    });
    });
  });
  if (rc != 0) a->close(false);
}

void HttpProbe::finished(bool ok) {
  attempt_ = nullptr;
  if (!ok || done_) return;
  done_ = true;
  uv_timer_stop(timer_);
  if (on_ok_) on_ok_();
}

}  // namespace rack::master
