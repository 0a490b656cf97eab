// An express app with prom-client metrics, as people run them under PM2.
const express = require('express');
const client = require('prom-client');

const hits = new client.Counter({ name: 'express_hits_total', help: 'Requests to /', labelNames: ['route'] });
const app = express();
app.get('/', (req, res) => {
  hits.inc({ route: '/' });
  res.json({ pid: process.pid, slot: Number(process.env.NODE_APP_INSTANCE) });
});
app.get('/crash', () => process.exit(4));
app.listen(Number(process.env.PORT), () => console.log(`express listening pid ${process.pid}`));
