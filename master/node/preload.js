// Rack's preload for `protocol: node` workers. rackd compiles this file into
// itself, writes it to $RACK_HOME/node/preload.js and starts every node
// worker with NODE_OPTIONS="--require <that file>" (in front of any
// NODE_OPTIONS of the app's own), so the app itself stays unmodified. It does
// what node's cluster worker does not do well enough on its own:
//
// 1. Drain without failing a request. On a reload or stop rackd sends the
//    stop signal, which this preload turns into the cluster's `disconnect`
//    (4. below); node closes the worker's servers, and node >= 19's
//    server.close() destroys every connection with no request in progress:
//    idle keep-alive connections, and connections rackd handed over a moment
//    ago whose first request is not read yet. A client that sent a request
//    on such a connection as it was destroyed sees a reset, not an answer.
//    While the worker drains, this preload keeps those connections: each
//    one's next response says `Connection: close` and ends it, and one that
//    stays silent for the server's keepAliveTimeout is closed then (the
//    same race any keep-alive server has). rackd's kill_timeout still bounds
//    the whole drain.
//
// 2. Answer prom-client's cluster metrics request: rackd asks every node
//    worker with prom-client's own message ({type:
//    'prom-client:getMetricsReq', requestId}). prom-client answers it only
//    in apps that construct an AggregatorRegistry; this preload answers for
//    the others, from prom-client's default registry when the app loaded
//    prom-client, with no metrics when it did not.
//
// 3. Report event-loop lag, for every app, prom-client or not: the
//    rack_event_loop_lag_seconds gauge a rack worker reports (how late a
//    500 ms timer fired), added to every metrics answer the worker sends.
//
// 4. Send one message per connection instead of two. For every connection
//    the primary hands over, node's child_process sends {cmd:
//    'NODE_HANDLE_ACK'} before the cluster's own {ack, accepted} answer.
//    node's own primary needs it (it sends the next handle only after
//    it); rackd does not (it pipelines handles and waits for the answer,
//    which carries the same news), so the worker skips it: one
//    JSON.stringify and one write(2) less per connection in the worker,
//    one line and often one wakeup less in rackd.
//
// 6. Answer rackd's heartbeat (at the end of this file).
'use strict';

const cluster = require('cluster');
const http = require('http');
const https = require('https');
const net = require('net');

const kConnections = Symbol('rack.connections');
const kDraining = Symbol('rack.draining');

function draining() {
  return Boolean(cluster.isWorker && cluster.worker && cluster.worker.exitedAfterDisconnect);
}

function track(server, connectionEvent) {
  if (server[kConnections]) return;
  const sockets = new Set();
  server[kConnections] = sockets;
  server.prependListener(connectionEvent, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.prependListener('request', (req, res) => {
    if (server[kDraining]) res.shouldKeepAlive = false;
  });
}

function drain(server) {
  server[kDraining] = true;
  const idleFor = server.keepAliveTimeout > 0 ? server.keepAliveTimeout : 5000;
  for (const socket of server[kConnections] || []) {
    const res = socket._httpMessage;
    if (res) {
      // A response in progress: make it the connection's last.
      if (!res.headersSent) res.shouldKeepAlive = false;
    } else {
      // Between requests, or before the first one: the next request is
      // answered (with Connection: close); silence ends it.
      socket.setTimeout(idleFor, () => socket.destroy());
    }
  }
}

for (const [Server, connectionEvent] of [[http.Server, 'connection'], [https.Server, 'secureConnection']]) {
  const proto = Server.prototype;
  const listen = proto.listen || net.Server.prototype.listen;
  proto.listen = function rackListen(...args) {
    track(this, connectionEvent);
    return listen.apply(this, args);
  };
  const closeIdle = proto.closeIdleConnections;
  if (typeof closeIdle === 'function') {
    proto.closeIdleConnections = function rackCloseIdleConnections() {
      if (draining() && this[kConnections]) return drain(this);
      return closeIdle.call(this);
    };
  }
}

if (cluster.isWorker && typeof process._send === 'function') {
  // child_process calls target._send({ cmd: 'NODE_HANDLE_ACK' }, null, true)
  // through the property (lib/internal/child_process.js, setupChannel), so
  // wrapping it here takes effect; rackd ignores that message anyway.
  const send = process._send;
  process._send = function rackSend(message, handle, ...rest) {
    if (handle == null && message !== null && typeof message === 'object' && message.cmd === 'NODE_HANDLE_ACK') {
      return true;
    }
    return Reflect.apply(send, this, [message, handle, ...rest]);
  };
}

if (cluster.isWorker) {
  // prom-client answers by itself only once the app has constructed an
  // AggregatorRegistry (what apps written for node's cluster module do);
  // apps written for PM2 never do. So: leave the request to prom-client's
  // own listener when there is one, answer from the app's prom-client
  // default registry when it is loaded without one, and with no metrics
  // when the app does not use prom-client.
  const promClientAnswers = () => process.listeners('message').some((f) => String(f).includes('GET_METRICS_REQ'));
  const loadedPromClient = () => {
    const key = Object.keys(require.cache).find((p) => /[\\/]prom-client[\\/]index\.js$/.test(p));
    return key ? require.cache[key].exports : null;
  };
  // Answers leave in the order they were asked for: rackd takes a lower
  // counter than the last report as a reset, so an older snapshot must
  // never arrive after a newer one.
  let answers = Promise.resolve();
  const answer = (requestId, snapshot) => {
    answers = answers
      .then(snapshot)
      .then((metrics) => ({ metrics }), (error) => ({ error: String(error && error.message) }))
      .then((reply) => new Promise((resolve) => {
        if (!process.connected) return resolve();
        process.send({ type: 'prom-client:getMetricsRes', requestId, ...reply }, () => resolve());
      }));
    return answers;
  };
  const defaultRegistry = () => {
    const promClient = loadedPromClient();
    if (!promClient || !promClient.register) return Promise.resolve([]);
    return Promise.resolve(promClient.register.getMetricsAsJSON()).then((metrics) => [metrics]);
  };
  // The lag of the last 500 ms tick; unref'd, so it never keeps a worker alive.
  let lagSeconds = 0;
  const { performance } = require('perf_hooks');
  let due = performance.now() + 500;
  setInterval(() => {
    const now = performance.now();
    lagSeconds = Math.max(0, now - due) / 1000;
    due = now + 500;
  }, 500).unref();
  const lagMetric = () => ({
    name: 'rack_event_loop_lag_seconds', help: 'How late the worker\'s 500 ms loop timer fired.',
    type: 'gauge', aggregator: 'max', values: [{ value: lagSeconds, labels: {} }],
  });
  // Whoever answers (prom-client's own listener or the one below), the
  // answer goes out through process.send: the lag joins it there.
  const send = process.send;
  process.send = function rackSendMetrics(message, ...rest) {
    if (message && message.type === 'prom-client:getMetricsRes' && Array.isArray(message.metrics)) {
      message = { ...message, metrics: [...message.metrics, [lagMetric()]] };
    }
    return Reflect.apply(send, this, [message, ...rest]);
  };
  process.on('message', (message) => {
    if (!message || message.type !== 'prom-client:getMetricsReq' || promClientAnswers()) return;
    answer(message.requestId, defaultRegistry);
  });

  // 4. Stop like PM2, drain like node's cluster. rackd asks a worker to
  //    stop with its stop signal (RACK_STOP_SIGNAL, SIGINT by default, as
  //    PM2 sends), so the app's process.on('SIGINT') cleanup runs. This
  //    listener makes the same signal start the cluster's graceful
  //    disconnect, so an app with no handler of its own drains instead of
  //    dying with requests in flight (node's default for SIGINT).
  //
  // 5. The final metrics snapshot. What the worker counted while draining
  //    would be lost if the channel closed first: before the disconnect
  //    (all servers closed) or a process.exit() in a stopping worker, the
  //    preload sends one last snapshot (requestId 0) and only then lets go.
  let stopping = false;
  const stopSignal = process.env.RACK_STOP_SIGNAL;
  if (stopSignal && /^SIG[A-Z0-9]+$/.test(stopSignal)) {
    process.on(stopSignal, () => {
      stopping = true;
      const worker = cluster.worker;
      if (worker && !worker.exitedAfterDisconnect && process.connected) worker.disconnect();
    });
  }
  process.on('message', (message) => {
    if (message === 'shutdown') stopping = true;
  });
  const leaving = () => stopping || draining();
  let finalSent = null;
  const sendFinal = () => {
    if (!finalSent) {
      const timeout = new Promise((resolve) => setTimeout(resolve, 1000).unref());
      finalSent = Promise.race([answer(0, defaultRegistry), timeout]);
    }
    return finalSent;
  };
  const disconnect = process.disconnect;
  process.disconnect = function rackDisconnect(...args) {
    if (!leaving() || !process.connected || !loadedPromClient()) return Reflect.apply(disconnect, this, args);
    sendFinal().then(() => {
      if (process.connected) Reflect.apply(disconnect, this, args);
    });
  };
  const exit = process.exit;
  let exiting = false;
  process.exit = function rackExit(code) {
    if (exiting || !leaving() || !process.connected || !loadedPromClient()) return Reflect.apply(exit, this, [code]);
    // The exit happens once the snapshot is written (at most 1 s); code
    // after exit() in the same function still runs meanwhile.
    exiting = true;
    if (code !== undefined) process.exitCode = code;
    sendFinal().then(() => Reflect.apply(exit, this, [code]));
  };
}

// 6. rackctl loglevel: rackd sends {type: 'rack:loglevel', level}. The
//    preload sets process.env.LOG_LEVEL and emits a process event, for
//    the app's logger to follow:
//      process.on('rack:loglevel', (level) => { logger.level = level; });
//
// 7. Load reports for dispatch: least-connections (rackd then starts the
//    worker with RACK_LOAD_REPORTS=1). The preload counts the connections
//    the worker holds, over all its TCP servers ('connection' in, the
//    socket's 'close' out), and reports {type: 'rack:load', active,
//    received} when that changed, at most once per loop turn. `received`
//    lets rackd add the connections it handed over since (load_count.h).
if (cluster.isWorker) {
  process.on('message', (message) => {
    if (!message || message.type !== 'rack:loglevel' || typeof message.level !== 'string') return;
    process.env.LOG_LEVEL = message.level;
    process.emit('rack:loglevel', message.level);
  });
}

if (cluster.isWorker && process.env.RACK_LOAD_REPORTS === '1') {
  const kCounted = Symbol('rack.load');
  let active = 0;
  let received = 0;
  let pending = false;
  const report = () => {
    pending = false;
    if (process.connected) process.send({ type: 'rack:load', active, received });
  };
  const changed = () => {
    if (pending) return;
    pending = true;
    setImmediate(report);
  };
  const count = (server) => {
    if (server[kCounted]) return;
    server[kCounted] = true;
    server.on('connection', (socket) => {
      active += 1;
      received += 1;
      changed();
      socket.once('close', () => {
        active -= 1;
        changed();
      });
    });
  };
  for (const Server of [net.Server, http.Server, https.Server]) {
    const proto = Server.prototype;
    const listen = proto.listen;
    proto.listen = function rackCountListen(...args) {
      count(this);
      return listen.apply(this, args);
    };
  }
}

// 8. Heartbeat. rackd pings every node worker with {cmd: 'NODE_RACK_PING',
//    seq}; the answer comes from this event loop, so a loop stuck in a
//    busy-wait or a long synchronous call stops answering and rackd
//    replaces the worker after heartbeat_timeout, as it does a rack worker.
//    node hands NODE_-prefixed messages to 'internalMessage', never to the
//    app's process.on('message'). The answer sent as this file loads tells
//    rackd that this worker answers pings at all (a runtime that ignores
//    the preload is never taken for stuck).
if (typeof process.send === 'function') {
  process.on('internalMessage', (message) => {
    if (message && message.cmd === 'NODE_RACK_PING' && process.connected) {
      process.send({ cmd: 'NODE_RACK_PONG', seq: message.seq });
    }
  });
  process.send({ cmd: 'NODE_RACK_PONG', seq: 0 });
}
