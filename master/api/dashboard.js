// Rack's web dashboard. Everything shown is set with textContent or
// attributes, never parsed as HTML, so a log line or an app's output
// cannot inject markup. State comes from /dashboard/events (server-sent
// events: every second, history every 5 s); the log pane follows
// /dashboard/logs?app=NAME.
'use strict';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
let history = {};       // "app/slot" -> [[t, cpu%, rss], ...]
const seenPids = {};    // "app/slot" -> {pid, was}
let actions = false;
let logSource = null;

// A reload of the page counts here, so a test (or a person) can tell a
// live update from a reload.
const loads = Number(sessionStorage.getItem('rack.loads') || 0) + 1;
sessionStorage.setItem('rack.loads', String(loads));
document.documentElement.dataset.pageLoads = String(loads);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function bytes(n) {
  if (!n) return '0 B';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const i = Math.min(u.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  return (n / 1024 ** i).toFixed(i ? 1 : 0) + ' ' + u[i];
}

function duration(s) {
  if (s == null) return '';
  if (s < 60) return s.toFixed(0) + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + String(Math.floor(s % 60)).padStart(2, '0') + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + 'm';
  return Math.floor(s / 86400) + 'd' + Math.floor((s % 86400) / 3600) + 'h';
}

function sparkline(points, index, kind, label) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'spark ' + kind);
  svg.setAttribute('viewBox', '0 0 120 24');
  svg.setAttribute('preserveAspectRatio', 'none');
  const title = document.createElementNS(SVG, 'title');
  title.textContent = label;
  svg.append(title);
  if (points && points.length > 1) {
    const t0 = points[0][0], t1 = points[points.length - 1][0];
    const max = Math.max(...points.map((p) => p[index]), kind === 'cpu' ? 100 : 1);
    const xy = points.map((p) => {
      const x = t1 > t0 ? ((p[0] - t0) / (t1 - t0)) * 120 : 0;
      const y = 23 - (p[index] / max) * 22;
      return x.toFixed(1) + ',' + y.toFixed(1);
    });
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', xy.join(' '));
    svg.append(line);
  }
  return svg;
}

// Reload progress: slots whose ready worker runs the app's generation.
function reloadProgress(app) {
  const done = new Set(app.workers.filter((w) => w.generation === app.generation && w.state === 'ready').map((w) => w.slot));
  return { done: done.size, total: app.instances };
}

function workerRow(app, w) {
  const key = app.name + '/' + w.slot;
  const seen = seenPids[key] || (seenPids[key] = { pid: w.pid, was: null });
  if (w.pid && w.pid !== seen.pid) {
    seen.was = seen.pid;
    seen.pid = w.pid;
  }
  const pts = history[key];
  const pidCell = el('td', { class: 'pid' }, w.pid == null ? '-' : String(w.pid));
  if (seen.was && w.pid === seen.pid) pidCell.append(el('span', { class: 'was' }, '(was ' + seen.was + ')'));
  return el('tr', { 'data-app': app.name, 'data-slot': String(w.slot), 'data-pid': String(w.pid ?? '') },
    el('td', {}, String(w.slot)),
    pidCell,
    el('td', {}, el('span', { class: 'badge s-' + w.state }, w.state)),
    el('td', {}, duration(w.uptime_s)),
    el('td', {}, String(w.restarts)),
    el('td', { class: 'exit' }, w.last_exit || ''),
    el('td', {}, (w.cpu_percent ?? 0).toFixed(1) + '%', sparkline(pts, 1, 'cpu', 'CPU %, last 10 minutes')),
    el('td', {}, bytes(w.rss_bytes), sparkline(pts, 2, 'mem', 'memory, last 10 minutes')));
}

function appCard(app) {
  const head = el('div', { class: 'app-head' },
    el('h2', {}, app.name),
    el('span', { class: 'badge s-' + app.status, 'data-status': app.status }, app.status),
    el('span', { class: 'meta' }, [app.protocol, app.listen, app.instances + ' instance' + (app.instances === 1 ? '' : 's')]
      .filter(Boolean).join(' · ')));
  if (app.reloading) {
    const p = reloadProgress(app);
    const bar = el('div', { class: 'progress', title: 'reload' }, el('div'));
    bar.firstChild.style.width = (p.total ? (100 * p.done) / p.total : 0) + '%';
    head.append(el('span', { class: 'reload' }, 'reload: ' + p.done + '/' + p.total + ' replaced'), bar);
  }
  if (actions) {
    const scale = el('input', { type: 'number', min: 1, value: app.instances, size: 3, title: 'instances' });
    scale.style.width = '4em';
    head.append(el('span', { class: 'actions' },
      el('button', { onclick: () => act(app.name, 'reload') }, 'reload'),
      el('button', { onclick: () => act(app.name, 'restart') }, 'restart'),
      scale, el('button', { onclick: () => act(app.name, 'scale', { instances: scale.value }) }, 'scale')));
  }
  const table = el('table', {}, el('tr', {}, ...['slot', 'pid', 'state', 'uptime', 'restarts', 'last exit', 'CPU', 'memory'].map((h) => el('th', {}, h))));
  for (const w of app.workers) table.append(workerRow(app, w));
  return el('div', { class: 'app', 'data-app': app.name }, head, table);
}

function render(state) {
  if (state.history) history = state.history;
  actions = Boolean(state.actions);
  $('rackd').textContent = 'rackd pid ' + state.rackd.pid + (state.rackd.admin ? ' · ' + state.rackd.admin : '');
  $('mode').textContent = actions ? 'actions enabled' : 'read-only';
  $('token-box').hidden = !actions;
  const apps = $('apps');
  apps.replaceChildren(...state.apps.map(appCard));
  const select = $('log-app');
  const names = state.apps.map((a) => a.name);
  if (select.options.length !== names.length || names.some((n, i) => select.options[i].value !== n)) {
    const current = select.value;
    select.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
    if (names.includes(current)) select.value = current;
    if (!logSource && names.length) followLogs(select.value);
  }
}

function followLogs(app) {
  if (logSource) logSource.close();
  const out = $('log-lines');
  out.replaceChildren();
  $('log-state').textContent = 'following ' + app;
  logSource = new EventSource('/dashboard/logs?app=' + encodeURIComponent(app));
  logSource.addEventListener('line', (e) => {
    const l = JSON.parse(e.data);
    const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    const t = new Date(l.time_ms).toISOString().slice(11, 23);
    out.append(el('div', { class: l.stream }, t + ' [' + l.slot + '] ' + l.line));
    while (out.childNodes.length > 500) out.firstChild.remove();
    if (stick) out.scrollTop = out.scrollHeight;
  });
  logSource.onerror = () => { $('log-state').textContent = 'reconnecting to ' + app + ' logs'; };
  logSource.onopen = () => { $('log-state').textContent = 'following ' + app; };
}

async function act(app, op, body) {
  const token = $('token').value || sessionStorage.getItem('rack.token') || '';
  if ($('token').value) sessionStorage.setItem('rack.token', $('token').value);
  $('action-result').textContent = op + ' ' + app + '…';
  try {
    const r = await fetch('/dashboard/apps/' + encodeURIComponent(app) + '/' + op, {
      method: 'POST', headers: { 'X-Rack-Token': token, 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
    });
    const lines = (await r.text()).trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1] || '{}');
    $('action-result').textContent = op + ' ' + app + ': ' + (r.ok && last.ok !== false ? 'done' : last.error || r.status);
  } catch (e) {
    $('action-result').textContent = op + ' ' + app + ': ' + e;
  }
}

function connect() {
  const events = new EventSource('/dashboard/events');
  events.addEventListener('state', (e) => render(JSON.parse(e.data)));
  events.onopen = () => { $('conn').textContent = 'live'; $('conn').className = 'badge s-online'; };
  events.onerror = () => { $('conn').textContent = 'reconnecting'; $('conn').className = 'badge s-degraded'; };
}

$('log-app').addEventListener('change', (e) => followLogs(e.target.value));
$('token').value = sessionStorage.getItem('rack.token') || '';
connect();
