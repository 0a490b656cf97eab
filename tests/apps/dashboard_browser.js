// Drives Debian's headless chromium over the DevTools protocol for the web
// dashboard's integration test (tests/integration/observe_dashboard_test.cc):
//   node --experimental-websocket dashboard_browser.js URL PROFILE_DIR SCREENSHOT.png APP
// 1. opens URL and waits until the page shows a pid for every worker row;
// 2. SIGKILLs the worker of APP's slot 0 as the page shows it;
// 3. waits, without reloading, until that row shows another pid;
// 4. saves a screenshot.
// Prints one JSON line: {"before": rows, "after": rows, "killed", "pageLoads", "escaped"}.
// Every step has a deadline; chromium is killed on the way out.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const [url, profile, screenshot, app] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const chromium = spawn('/usr/bin/chromium', [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
  '--remote-debugging-port=0', '--remote-allow-origins=*', `--user-data-dir=${profile}`,
  '--window-size=1400,900', 'about:blank',
], { stdio: ['ignore', 'ignore', 'ignore'], detached: true });
const done = (code, out) => {
  try { process.kill(-chromium.pid, 'SIGKILL'); } catch (e) { /* gone */ }
  if (out) console.log(JSON.stringify(out));
  process.exit(code);
};
setTimeout(() => done(2, { error: 'timed out' }), 60000).unref();

async function until(what, fn, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(100);
  }
}

async function main() {
  const portFile = path.join(profile, 'DevToolsActivePort');
  const port = await until('DevToolsActivePort', () => fs.existsSync(portFile) &&
    fs.readFileSync(portFile, 'utf8').split('\n')[0], 20000);
  const targets = await until('a page target', async () => {
    try {
      const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      return list.find((t) => t.type === 'page');
    } catch (e) { return null; }
  }, 20000);
  const ws = new WebSocket(targets.webSocketDebuggerUrl);
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = rej; });
  let id = 0;
  const pending = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
  };
  const call = (method, params = {}) => new Promise((res) => {
    const n = ++id;
    pending.set(n, res);
    ws.send(JSON.stringify({ id: n, method, params }));
  });
  const evaluate = async (expr) => {
    const r = await call('Runtime.evaluate', { expression: expr, returnByValue: true });
    return r.result && r.result.result ? r.result.result.value : undefined;
  };
  const rows = () => evaluate(`[...document.querySelectorAll('tr[data-app]')].map((tr) => ({
      app: tr.dataset.app, slot: Number(tr.dataset.slot), pid: Number(tr.querySelector('td.pid').firstChild.textContent),
      state: tr.querySelector('.badge').textContent }))`);

  await call('Page.enable');
  await call('Page.navigate', { url });
  const before = await until('worker rows with pids', async () => {
    const r = await rows();
    return r && r.length && r.every((w) => w.pid > 0 && w.state === 'ready') ? r : null;
  }, 20000);
  const victim = before.find((w) => w.app === app && w.slot === 0);
  if (!victim) return done(1, { error: `no row for ${app} slot 0`, before });
  process.kill(victim.pid, 'SIGKILL');
  const after = await until('a new pid for the killed slot', async () => {
    const r = await rows();
    const w = r && r.find((x) => x.app === app && x.slot === 0);
    return w && w.pid > 0 && w.pid !== victim.pid && w.state === 'ready' ? r : null;
  }, 20000);
  // Sparklines fill in from rackd's history (every 5 s); let one arrive.
  await sleep(5500);
  const pageLoads = await evaluate('document.documentElement.dataset.pageLoads');
  const was = await evaluate(`(document.querySelector('tr[data-app="${app}"][data-slot="0"] .was') || {}).textContent`);
  const shot = await call('Page.captureScreenshot', { format: 'png' });
  fs.writeFileSync(screenshot, Buffer.from(shot.result.data, 'base64'));
  const logLines = await evaluate(`document.querySelectorAll('#log-lines div').length`);
  const injected = await evaluate(`document.querySelectorAll('#log-lines b, #log-lines img, #log-lines script').length`);
  const logText = await evaluate(`document.getElementById('log-lines').textContent`);
  done(0, { before, after, killed: victim.pid, pageLoads: Number(pageLoads), was, logLines, injected, logText });
}

main().catch((e) => done(1, { error: String(e && e.stack || e) }));
