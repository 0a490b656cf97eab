// An Express app written for PM2 (the docs/node.md migration example), run
// by Rack unchanged: prom-client metrics aggregated by the cluster primary,
// cleanup on SIGINT, process.send('ready') once its resources are up.
const cluster = require('cluster');
const fs = require('fs');
const http = require('http');
const client = require('prom-client');

if (cluster.isPrimary) {
  // Under node's own cluster module this process forks the workers and
  // serves their merged metrics; under PM2 and Rack it never runs
  // (NODE_UNIQUE_ID makes every process a worker; Rack merges the metrics).
  const aggregator = new client.AggregatorRegistry();
  for (let i = 0; i < 2; i++) cluster.fork();
  http.createServer(async (req, res) => res.end(await aggregator.clusterMetrics())).listen(9999);
} else {
  const express = require('express');
  const requests = new client.Counter({ name: 'app_requests_total', help: 'Requests served', labelNames: ['route'] });
  const app = express();
  app.get('/', (req, res) => {
    requests.inc({ route: '/' });
    res.json({ pid: process.pid, greeting: process.env.GREETING || 'hello', port: process.env.PORT });
  });
  // The "database pool": opened before ready, closed by the SIGINT hook.
  const pool = { open: true };
  const server = app.listen(Number(process.env.PORT) || 3000, () => {
    if (process.send) process.send('ready');
  });
  process.on('SIGINT', () => {
    server.close(() => {
      pool.open = false;
      if (process.env.CLEANUP_DIR) fs.writeFileSync(`${process.env.CLEANUP_DIR}/closed.${process.pid}`, 'pool closed\n');
      process.exit(0);
    });
  });
}
