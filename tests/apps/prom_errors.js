// A node http app that records prom-client's request histogram the way
// express-prom-bundle and hand-written middlewares do:
// http_request_duration_seconds{method, route, status_code}. No cluster
// code: Rack's preload answers rackd's metrics requests from the default
// registry.
//   ERROR_RATE=r   answers 500 to that fraction of its requests (a bad build)
const http = require('http');
const client = require('prom-client');

const duration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'Request duration in seconds',
  labelNames: ['method', 'route', 'status_code'],
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
});
const errorRate = Number(process.env.ERROR_RATE || 0);
let served = 0;
http.createServer((req, res) => {
  const end = duration.startTimer({ method: req.method, route: '/' });
  served += 1;
  // Exactly that fraction, spread evenly: 0.5 is every other request.
  const fail = Math.floor(served * errorRate) !== Math.floor((served - 1) * errorRate);
  res.statusCode = fail ? 500 : 200;
  res.end(fail ? 'error\n' : JSON.stringify({ pid: process.pid }));
  end({ status_code: res.statusCode });
}).listen(Number(process.env.PORT), () => console.log(`prom_errors listening pid ${process.pid}`));
