// A node app with prom-client's default metrics (nodejs_*, process_*), as
// most prom-client apps have them.
//   GET /        200        GET /fail   500        GET /crash   exit 5
const http = require('http');
const client = require('prom-client');
client.collectDefaultMetrics();
const requests = new client.Counter({ name: 'app_requests_total', help: 'Requests.', labelNames: ['code'] });
http.createServer((req, res) => {
  if (req.url === '/crash') process.exit(5);
  const code = req.url === '/fail' ? 500 : 200;
  requests.inc({ code: String(code) });
  res.statusCode = code;
  res.end(`${process.pid}\n`);
}).listen(Number(process.env.PORT));
