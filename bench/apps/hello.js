// The Node.js app of the benchmarks: a plain `http` hello, unmodified for
// any supervisor. The same file runs alone, under node's cluster module
// (cluster.js), under PM2 cluster mode and under Rack `protocol: node`.
//
//   GET /whoami  {"pid":…}  (the recovery and start-up benchmarks poll it)
//   GET /spin?ms=N  "spun\n" after N ms of busy loop (CPU-heavy requests)
//   GET *        "hello\n"
//
// SIGINT (what PM2 sends on reload) closes the server and exits once the
// in-flight requests are done: the graceful app PM2's docs ask for, so that
// the reload benchmark measures the supervisor and not a careless app.
'use strict';
const http = require('http');

const server = http.createServer((req, res) => {
  if (req.url === '/whoami') {
    res.setHeader('Content-Type', 'application/json');
    res.end(`{"pid":${process.pid}}\n`);
    return;
  }
  if (req.url.startsWith('/spin?')) {
    const ms = Math.min(Number(new URL(req.url, 'http://x').searchParams.get('ms')) || 0, 60000);
    const until = Date.now() + ms;
    while (Date.now() < until) { /* busy: the loop is held as by real work */ }
    res.setHeader('Content-Type', 'text/plain');
    res.end('spun\n');
    return;
  }
  res.setHeader('Content-Type', 'text/plain');
  res.end('hello\n');
});
server.keepAliveTimeout = 5000;
server.listen(Number(process.env.PORT || 3000), '127.0.0.1');

process.on('SIGINT', () => {
  server.close(() => process.exit(0));  // node >= 19 also closes idle keep-alive sockets
  setTimeout(() => process.exit(0), 3000).unref();
});
