// A plain node http app, unmodified for Rack: it knows nothing of clusters.
const http = require('http');
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/crash') process.exit(3);
  if (url.pathname === '/sleep') {
    setTimeout(() => res.end('slept\n'), Number(url.searchParams.get('ms') || 1000));
    return;
  }
  if (url.pathname === '/whoami') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ pid: process.pid, slot: Number(process.env.NODE_APP_INSTANCE) }));
    return;
  }
  console.log(`${req.method} ${url.pathname}`);
  res.end('hello\n');
});
server.keepAliveTimeout = 5000;
server.listen(process.env.PORT || 3000, () => console.log(`listening pid ${process.pid}`));
if (process.env.WAIT_READY) setTimeout(() => process.send('ready'), 300);
