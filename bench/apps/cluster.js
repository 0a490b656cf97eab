// node's own cluster module: a primary that forks WORKERS copies of hello.js
// and round-robins connections to them (the default scheduling on Linux).
// SIGTERM or SIGINT stops the workers and the primary.
'use strict';
const cluster = require('cluster');
const path = require('path');

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS || 2);
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('exit', (w, code, signal) => {
    if (!stopping) console.error(`worker ${w.process.pid} died (${signal || code})`);
  });
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 200);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  require(path.join(__dirname, 'hello.js'));
}
