// An express app with prom-client metrics, as people run them under PM2.
const express = require('express');
const client = require('prom-client');

// Apps written for node's own cluster module construct an AggregatorRegistry
// in every process, which makes prom-client answer the cluster's metrics
// requests itself; apps written for PM2 do not (Rack's preload answers).
if (process.env.AGGREGATOR) new client.AggregatorRegistry();

const hits = new client.Counter({ name: 'express_hits_total', help: 'Requests to /', labelNames: ['route'] });
const app = express();
app.get('/', (req, res) => {
  hits.inc({ route: '/' });
  res.json({ pid: process.pid, slot: Number(process.env.NODE_APP_INSTANCE) });
});
app.get('/crash', () => process.exit(4));
app.listen(Number(process.env.PORT), () => console.log(`express listening pid ${process.pid}`));
