// A plain node http app, unmodified for Rack: it knows nothing of clusters.
//   GET /block?ms=n   busy-waits n ms (its event loop reads nothing meanwhile)
//   GET /close-server server.close(): the process stays, serving nothing new
//   WAIT_READY=ms     process.send('ready') that long after listening
//   DGRAM=1           bind a UDP socket first (Rack refuses it: ENOTSUP)
//   SECOND_PORT=n     a second http server on another port (refused too)
//   rackctl loglevel  prints "loglevel <level> LOG_LEVEL=<env>" (Rack's preload event)
//   LOG_MESSAGES=1    logs every message process.on('message') gets
const http = require('http');
if (process.env.LOG_MESSAGES) process.on('message', (m) => console.log(`message: ${JSON.stringify(m)}`));
if (process.env.DGRAM) {
  const dgram = require('dgram');
  const sock = dgram.createSocket('udp4');
  sock.on('error', (err) => console.log(`dgram: ${err.code}`));
  sock.on('listening', () => console.log('dgram: listening'));
  sock.bind(0, '127.0.0.1');
}
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/crash') process.exit(3);
  if (url.pathname === '/close-server') {
    server.close();
    res.end('closed\n');
    return;
  }
  if (url.pathname === '/block') {
    // Blocks the event loop: nothing else is read, the cluster channel included.
    const until = Date.now() + Number(url.searchParams.get('ms') || 1000);
    while (Date.now() < until);
    res.end('blocked\n');
    return;
  }
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
process.on('rack:loglevel', (level) => console.log(`loglevel ${level} LOG_LEVEL=${process.env.LOG_LEVEL}`));
server.keepAliveTimeout = 5000;
server.listen(process.env.PORT || 3000, () => {
  console.log(`listening pid ${process.pid}`);
  if (process.env.WAIT_READY) setTimeout(() => process.send('ready'), Number(process.env.WAIT_READY));
  if (process.env.SECOND_PORT) {
    const second = http.createServer((req, res) => res.end('second\n'));
    second.on('error', (err) => console.log(`second server: ${err.code}`));
    second.listen(Number(process.env.SECOND_PORT), () => console.log('second server: listening'));
  }
});
