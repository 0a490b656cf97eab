// Socket activation: accept on the inherited fd 3 (LISTEN_FDS=1).
const http = require('http');
if (process.env.LISTEN_FDS !== '1' || Number(process.env.LISTEN_PID) !== process.pid) {
  console.error('not socket-activated: LISTEN_FDS/LISTEN_PID missing or wrong');
  process.exit(2);
}
const server = http.createServer((req, res) => res.end(`inherit ${process.pid}\n`));
server.listen({ fd: 3 }, () => console.log(`accepting on fd 3 (${process.env.LISTEN_FDNAMES})`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
