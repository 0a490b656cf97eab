#!/usr/bin/env python3
"""Writes docs/BENCHMARKS.md (and the chart's data) from bench/out/results.jsonl.

  report.py --results bench/out/results.jsonl --machine bench/out/machine.json \
            --out docs/BENCHMARKS.md --chart-data bench/out/throughput.dat

Every figure is the median over the repetitions; the raw values follow in
parentheses. A comparison that did not run (or was skipped) says so.
"""
import argparse
import json
import math
import os
import re
import statistics
from collections import defaultdict

# The report's section number(s) of each comparison (bench/cases/*.sh).
SECTION = {"dispatch": {1, 2}, "node": {3}, "reload": {4}, "logs": {5}, "footprint": {6}, "recovery": {7},
           "scrape": {8}, "skew": {9}, "monit": {10}, "upgrade": {11}, "scale": {12}, "autoscale": {13}}


class Results:
    def __init__(self, path):
        self.rows = defaultdict(list)  # (group, name) -> [record, ...] in rep order
        self.skips = {}                # "group" or "group.part" -> reason
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line)
                if "skip" in r:
                    self.skips[r["group"]] = r["skip"]
                else:
                    self.rows[(r["group"], r["name"])].append(r)

    def has(self, group, name=None):
        return any(g == group and (name is None or n == name) for g, n in self.rows)

    def values(self, group, name, field):
        return [r[field] for r in self.rows.get((group, name), []) if r.get(field) is not None]

    def med(self, group, name, field):
        v = self.values(group, name, field)
        return statistics.median(v) if v else None

    def paired(self, group, a, b, field):
        """a ÷ b in each repetition that measured both, in rep order. The
        peers of one repetition run back to back, seconds apart, so a
        machine that is slower in one repetition than in another slows
        both sides of that repetition's ratio alike. `b` may be a list of
        peers measuring the same thing (a baseline run twice): their mean."""
        names = b if isinstance(b, (list, tuple)) else [b]
        per_rep = defaultdict(list)
        for name in names:
            for r in self.rows.get((group, name), []):
                if r.get(field):
                    per_rep[r["rep"]].append(r[field])
        bs = {rep: sum(v) / len(v) for rep, v in per_rep.items() if len(v) == len(names)}
        return [r[field] / bs[r["rep"]] for r in self.rows.get((group, a), [])
                if r.get(field) is not None and r["rep"] in bs]

    def paired_med(self, group, a, b, field):
        v = self.paired(group, a, b, field)
        return statistics.median(v) if v else None

    def total(self, group, name, field):
        v = self.values(group, name, field)
        return sum(v) if v else None


def num(x, digits=0):
    if x is None:
        return "—"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def raw(vals, digits=0):
    return "(" + ", ".join(num(v, digits) for v in vals) + ")" if len(vals) > 1 else ""


def cell(res, group, name, field, digits=0):
    """Median, then every repetition's value."""
    m = res.med(group, name, field)
    if m is None:
        return "—"
    return f"{num(m, digits)} {raw(res.values(group, name, field), digits)}".strip()


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def times(r):
    return "—" if r is None else f"{r:.2f}×"


def paired_times(res, group, a, b, field, target=None):
    """The headline ratio: the median of the per-repetition ratios, then
    each repetition's. Returns (text, median). A ratio that rounds to its
    target from below is shown with one more digit, so that the verdict
    beside it does not look wrong."""
    m = res.paired_med(group, a, b, field)
    head = times(m)
    if m is not None and target is not None and m < target and round(m, 2) >= target:
        head = f"{math.floor(m * 1000) / 1000:.3f}×"  # truncated: 0.8996 is 0.899, not 0.900
    return f"{head} {raw(res.paired(group, a, b, field), 2)}".strip(), m


def verdict(value, target, higher_is_better=True):
    if value is None:
        return "not measured"
    ok = value >= target if higher_is_better else value <= target
    return "✅ meets" if ok else "❌ misses"


def summary(res):
    """Rows of the headline table: (#, what, measured, target, verdict)."""
    rows = []
    d = "dispatch"
    # SO_REUSEPORT is measured twice (see the noise floor below): Rack is
    # compared with the mean of both.
    base = {m: [f"{m}.reuseport"] + ([f"{m}.reuseport-again"] if res.has(d, f"{m}.reuseport-again") else [])
            for m in ("close", "ka")}
    t, r = paired_times(res, d, "close.rack", base["close"], "rps", 0.9)
    rows.append(("1", "Connection: close, 2 workers: Rack ÷ SO_REUSEPORT (conn/s)", t, "≥ 0.9×", verdict(r, 0.9)))
    t, _ = paired_times(res, d, "close.rack", "close.nginx", "rps")
    rows.append(("1", "Connection: close, 2 workers: Rack ÷ nginx (conn/s)", t, "—", "reference"))
    c = res.med(d, "close.rack", "rackd_cpu_us_per_conn")
    rows.append(("1", "rackd CPU per dispatched connection", f"{num(c, 1)} µs", "—", "regression guard"))
    t, r = paired_times(res, d, "ka.rack", base["ka"], "rps", 0.97)
    rows.append(("2", "Keep-alive, 2 workers: Rack ÷ SO_REUSEPORT (req/s)", t, "≥ 0.97×", verdict(r, 0.97)))
    for mode, label in (("close", "Connection: close"), ("ka", "keep-alive")):
        if res.has(d, f"{mode}.reuseport-again"):
            t, _ = paired_times(res, d, f"{mode}.reuseport-again", f"{mode}.reuseport", "rps")
            rows.append(("1, 2", f"Noise floor, {label}: SO_REUSEPORT ÷ itself", t, "—", "the same server twice"))

    n = "node"
    if "node.rack-node" in res.skips or not res.has(n, "close.rack-node"):
        why = res.skips.get("node.rack-node", "did not run")
        rows.append(("3", "Node app, Connection: close: Rack ÷ PM2 cluster", "skipped", "≥ 2×", why))
    else:
        t, r = paired_times(res, n, "close.rack-node", "close.pm2", "rps", 2)
        rows.append(("3", "Node app, Connection: close: Rack ÷ PM2 cluster", t, "≥ 2×", verdict(r, 2)))
        t, _ = paired_times(res, n, "ka.rack-node", "ka.pm2", "rps")
        rows.append(("3", "Node app, keep-alive: Rack ÷ PM2 cluster", t, "—", "reference"))
        c = res.med(n, "close.rack-node", "rackd_cpu_us_per_conn")
        if c is not None:
            rows.append(("3", "rackd CPU per connection dispatched to node", f"{num(c, 1)} µs", "—", "regression guard"))

    g = "reload"
    for mode, label in (("ka", "keep-alive"), ("close", "Connection: close")):
        f = res.total(g, f"{mode}.rack", "failed")
        p = res.total(g, f"{mode}.pm2", "failed")
        reloads = res.total(g, f"{mode}.rack", "reloads")
        rows.append(("4", f"Failed requests during {num(reloads)} reloads of 4 workers, {label}: Rack (PM2)",
                     f"{num(f)} ({num(p)})", "0", verdict(f, 0, higher_is_better=False)))
        n = res.total(g, f"{mode}.rack-node", "failed")
        if n is not None:
            rows.append(("4", f"… the same with the Node app under Rack `protocol: node` (PM2)",
                         f"{num(n)} ({num(p)})", "0", verdict(n, 0, higher_is_better=False)))

    t, r = paired_times(res, "logs", "rack", "pipe", "lines_per_s", 0.8)
    rows.append(("5", "Log capture, rotated + gzip: Rack ÷ plain pipe (lines/s)", t, "≥ 0.8×", verdict(r, 0.8)))
    lost = res.total("logs", "rack", "lost")
    rows.append(("5", "Log lines lost by Rack (all repetitions)", num(lost), "0", verdict(lost, 0, False)))
    t, _ = paired_times(res, "logs", "rack", "pm2", "lines_per_s")
    rows.append(("5", "Log capture: Rack ÷ PM2 (lines/s)", t, "—", "reference"))

    rss = res.med("footprint", "rack", "supervisor_rss_kb")
    pm2 = res.med("footprint", "pm2", "supervisor_rss_kb")
    mb = rss / 1024 if rss is not None else None
    rows.append(("6", "Supervisor RSS, 2 apps × 4 workers: rackd (PM2 daemon)",
                 f"{num(mb, 1)} MiB ({num(pm2 / 1024 if pm2 else None, 1)} MiB)", "≤ 10 MiB",
                 verdict(mb, 10, higher_is_better=False)))

    rv = "recovery"
    for field, label in (("kill9_ms", "kill -9 until a new worker serves"),
                         ("cold_start_ms", "start (daemon not running) until 2 workers serve"),
                         ("warm_start_ms", "start (daemon running) until 2 workers serve")):
        a, b = res.med(rv, "rack", field), res.med(rv, "pm2", field)
        rows.append(("7", f"{label[0].upper() + label[1:]}: Rack (PM2)",
                     f"{num(a)} ms ({num(b)} ms)", "—", f"{num(ratio(b, a), 1)}× faster" if a and b else "—"))
    r = res.med(rv, "rack", "kill9_over_cold_start")
    rows.append(("7", "kill -9 until a new worker serves ÷ a fresh start (no daemon), same repetition: Rack",
                 times(r), "≤ 2×", verdict(r, 2, higher_is_better=False)))

    p50 = res.med("scrape", "rack", "p50_ms")
    series = res.med("scrape", "rack", "series")
    note = res.skips.get("scrape.series", "")
    cpu = res.med("scrape", "rack", "rackd_cpu_ms_per_scrape")
    rows.append(("8", f"GET /metrics p50 (rackd CPU per scrape), 16 workers ({num(series)} series merged)",
                 f"{num(p50, 1)} ms ({num(cpu, 1)} ms)", "—",
                 "partly skipped: see 8" if note else "measured"))
    rows.append(("8", "rackd CPU per scrape, 16 workers", f"{num(cpu, 2)} ms", "≤ 2 ms",
                 verdict(cpu, 2, higher_is_better=False)))
    t, r = paired_times(res, "scrape", "steady", "static-steady", "p50_ms", 3)
    rows.append(("8", "GET /metrics p50, scraped 1 s apart (as Prometheus) ÷ rack-registry serving the same bytes "
                 "as a file, scraped 1 s apart", t, "≤ 3×", verdict(r, 3, higher_is_better=False)))
    t, r = paired_times(res, "scrape", "rack", "static", "p50_ms")
    rows.append(("8", "GET /metrics p50, back-to-back scrapes (each collected when it comes) ÷ the same file", t, "—",
                 "reference"))
    stale = res.values("scrape", "big", "stale_workers_max")
    stale = max(stale) if stale else None
    rows.append(("8", "64 workers × 5,000 series: workers not answered inside the 200 ms deadline, worst scrape",
                 num(stale), "0", verdict(stale, 0, higher_is_better=False)))

    lc, rp = res.med("skew", "least-conn", "fast_p99_ms"), res.med("skew", "reuseport", "fast_p99_ms")
    r = ratio(lc, rp)
    rows.append(("9", "Skewed load (10% CPU-heavy), 2 clients on 2 workers: p99 of the fast requests, "
                 "least-connections ÷ SO_REUSEPORT",
                 f"{num(r, 2)}× ({num(lc, 1)} ms vs {num(rp, 1)} ms)", "≤ 0.5×",
                 verdict(r, 0.5, higher_is_better=False)))
    lc, rp = res.med("skew4", "least-conn", "fast_p99_ms"), res.med("skew4", "reuseport", "fast_p99_ms")
    if lc and rp:
        rows.append(("9", "… 4 clients on 2 workers (both spinning much of the time; an ideal shared queue, "
                     "modelled, gives 0.46–0.49×)", f"{num(ratio(lc, rp), 2)}× ({num(lc, 1)} ms vs {num(rp, 1)} ms)",
                     "—", "reference"))
    a, b = res.med("monit", "rack", "monit_cpu_percent"), res.med("monit", "pm2", "monit_cpu_percent")
    rows.append(("10", "Idle CPU of the terminal dashboard, 2 apps × 4 workers: `rackctl monit` (`pm2 monit`)",
                 f"{num(a, 2)}% ({num(b, 1)}%)", "≈ 1%", verdict(a, 1.5, higher_is_better=False)))
    if a and b:
        rows.append(("10", "… `pm2 monit` ÷ `rackctl monit` CPU, same run", f"{num(b / a, 0)}×", "—", "reference"))
    g = "upgrade"
    for mode, label in (("ka", "keep-alive"), ("close", "Connection: close")):
        f = res.total(g, f"{mode}.rack", "failed")
        if f is None:
            continue
        p = res.total(g, f"{mode}.pm2", "failed")
        ups = res.total(g, f"{mode}.rack", "upgrades")
        rows.append(("11", f"Failed requests during {num(ups)} upgrades of rackd, {label}: Rack (PM2 `pm2 update`)",
                     f"{num(f)} ({num(p)})", "0", verdict(f, 0, higher_is_better=False)))
    pauses = [x for r in res.rows.get((g, "close.rack"), []) + res.rows.get((g, "ka.rack"), [])
              for x in r["paused_ms"] if x is not None]
    steps = [r["reload_step_ms"] for r in res.rows.get((g, "close.rack"), []) + res.rows.get((g, "ka.rack"), [])
             if r.get("reload_step_ms") is not None]
    if pauses and steps:
        longest, step = max(pauses), statistics.median(steps)
        rows.append(("11", "Longest pause in dispatch during an upgrade ÷ one reload step", f"{num(longest, 1)} ms ÷ "
                     f"{num(step)} ms", "≤ 1×", verdict(step / longest if longest else None, 1)))
    w = res.med("scale", "w400", "workers")
    if w is not None:
        rss, st, idle = (res.med("scale", "w400", f) for f in ("rss_kb", "status_ms", "idle_cpu_percent"))
        n = f"{num(w)} workers ({num(res.med('scale', 'w400', 'apps'))} apps)"
        rows.append(("12", f"rackd RSS with {n}", f"{num(rss / 1024, 1)} MiB", "≤ 32 MiB",
                     verdict(rss / 1024, 32, higher_is_better=False)))
        rows.append(("12", f"`rackctl status` with {n}, median", f"{num(st, 1)} ms", "≤ 50 ms",
                     verdict(st, 50, higher_is_better=False)))
        rows.append(("12", f"rackd idle CPU with {n}", f"{num(idle, 2)}%", "≤ 1%",
                     verdict(idle, 1, higher_is_better=False)))
    auto, fixed = high_phase(res, "auto"), high_phase(res, "fixed")
    if auto and fixed:
        rows.append(("13", "Step load, high phase p99: `instances: {min: 1, max: 4}` (fixed `instances: 1`)",
                     f"{num(auto['lat_p99_ms'], 1)} ms ({num(fixed['lat_p99_ms'], 1)} ms)", "—",
                     f"fixed ÷ autoscaled {times(ratio(fixed['lat_p99_ms'], auto['lat_p99_ms']))}; "
                     f"{auto['workers_min']}–{auto['workers_max']} workers"))
    return rows


def high_phase(res, app):
    """The phase with the most connections of the autoscale run of `app`."""
    rows = res.rows.get(("autoscale", app))
    if not rows:
        return None
    return max(rows[0]["phases"], key=lambda p: p["conns"])


def chart_data(res, path):
    """Peers' throughput for gnuplot: label, close req/s, keep-alive req/s."""
    peers = [("dispatch", "rack", "Rack"), ("dispatch", "reuseport", "SO_REUSEPORT"),
             ("dispatch", "nginx", "nginx"), ("node", "rack-node", "Rack (node)"),
             ("node", "pm2", "PM2 cluster"), ("node", "node-cluster", "node cluster"),
             ("node", "node-alone", "1 node")]
    with open(path, "w") as f:
        f.write("# label close_rps keepalive_rps\n")
        for group, name, label in peers:
            c, k = res.med(group, f"close.{name}", "rps"), res.med(group, f"ka.{name}", "rps")
            if c is None and k is None:
                continue
            f.write(f'"{label}" {c or 0:.0f} {k or 0:.0f}\n')


def section_dispatch(res, reps):
    g = "dispatch"
    if not res.has(g):
        return ["Did not run."]
    out = ["Same rack-hello binary behind rackd and listening by itself; nginx answers from its config. "
           "Each peer runs in one session of its own (rackd with its workers; both SO_REUSEPORT workers "
           "together; nginx's master with its workers): with `kernel.sched_autogroup_enabled=1` the scheduler "
           "shares the CPU per session, so a baseline worker alone in a session would get more CPU than the "
           "same worker under any supervisor (earlier runs did that, and showed Rack at 0.63× close, 0.83× "
           "keep-alive). The groups of a run are in `bench/out/run/dispatch/autogroups.txt`.", "",
           "| peer | close: conn/s | close: p99 ms | keep-alive: req/s | keep-alive: p99 ms | errors |",
           "|---|---|---|---|---|---|"]
    for name, label in (("rack", "Rack, round-robin"), ("reuseport", "rack-hello ×2, SO_REUSEPORT"),
                        ("nginx", "nginx, 2 workers"), ("reuseport-again", "the same SO_REUSEPORT workers, again")):
        if not res.has(g, f"close.{name}"):
            continue
        errs = sum((res.total(g, f"{m}.{name}", k) or 0) for m in ("close", "ka")
                   for k in ("err_connect", "err_read", "err_write", "err_timeout", "err_status"))
        out.append(f"| {label} | {cell(res, g, 'close.' + name, 'rps')} | {cell(res, g, 'close.' + name, 'lat_p99_ms', 1)} "
                   f"| {cell(res, g, 'ka.' + name, 'rps')} | {cell(res, g, 'ka.' + name, 'lat_p99_ms', 1)} | {errs} |")
    out += ["", f"rackd CPU time per dispatched connection (utime+stime from /proc/<rackd>/stat over the "
                f"close runs ÷ `rack_connections_dispatched_total`): **{cell(res, g, 'close.rack', 'rackd_cpu_us_per_conn', 1)} µs**; "
                f"during keep-alive runs rackd used {cell(res, g, 'ka.rack', 'rackd_cpu_us')} µs of CPU in total "
                f"(it only sees the {cell(res, g, 'ka.rack', 'rackd_conns')} connections wrk opens)."]
    return out


def section_node(res):
    g = "node"
    out = []
    if "node.rack-node" in res.skips:
        out += [f"**Rack's part skipped:** {res.skips['node.rack-node']}. It runs by itself once "
                "`protocol: node` serves the app (bench/cases/node.sh checks on every run).", ""]
    if not res.has(g):
        return out + ["Did not run."]
    out += ["| peer | close: conn/s | close: p99 ms | keep-alive: req/s | keep-alive: p99 ms |", "|---|---|---|---|---|"]
    for name, label in (("rack-node", "Rack `protocol: node`, 2 workers"), ("pm2", "PM2 cluster mode, 2 workers"),
                        ("node-cluster", "node cluster module, 2 workers"), ("node-alone", "one node process (reference)")):
        if res.has(g, f"close.{name}"):
            out.append(f"| {label} | {cell(res, g, 'close.' + name, 'rps')} | {cell(res, g, 'close.' + name, 'lat_p99_ms', 1)} "
                       f"| {cell(res, g, 'ka.' + name, 'rps')} | {cell(res, g, 'ka.' + name, 'lat_p99_ms', 1)} |")
    if res.values(g, "close.rack-node", "rackd_cpu_us_per_conn"):
        out += ["", "rackd CPU time per dispatched connection to the node workers (measured as in comparison 1): "
                f"**{cell(res, g, 'close.rack-node', 'rackd_cpu_us_per_conn', 1)} µs**. node answers every "
                "connection with a message of its own, which wakes rackd, where a rack worker's Ack covers "
                "all the connections of one read."]
    return out


def error_kinds(rows):
    """wrk's error counts summed over the repetitions: "connect 3, timeout 1" or "none"."""
    kinds = {k: sum(r[f"err_{k}"] for r in rows) for k in ("connect", "read", "write", "timeout", "status")}
    return ", ".join(f"{k} {v}" for k, v in kinds.items() if v) or "none"


def section_reload(res, reloads):
    g = "reload"
    out = []
    if "reload.rack-node" in res.skips:
        out += [f"Rack with the node app skipped: {res.skips['reload.rack-node']}.", ""]
    if not res.has(g):
        return out + ["Did not run."]
    out += [f"wrk (same settings) runs through {reloads} consecutive reloads per repetition; failed = wrk socket "
            "errors (connect/read/write/timeout) + non-2xx responses, per repetition.", "",
            "| peer | load | failed requests | of requests | error kinds (sum) | reload wall time, ms (median) |",
            "|---|---|---|---|---|---|"]
    for name, label in (("rack", "Rack, rack-hello ×4"), ("rack-node", "Rack, hello.js ×4 (`protocol: node`)"),
                        ("pm2", "PM2 cluster, hello.js ×4")):
        for mode, mlabel in (("ka", "keep-alive"), ("close", "close")):
            rows = res.rows.get((g, f"{mode}.{name}"))
            if not rows:
                continue
            kinds = error_kinds(rows)
            times = [t for r in rows for t in r["reload_ms"]]
            out.append(f"| {label} | {mlabel} | {', '.join(str(r['failed']) for r in rows)} "
                       f"| {', '.join(num(r['requests']) for r in rows)} | {kinds} "
                       f"| {num(statistics.median(times)) if times else '—'} {raw(times)} |")
    out += ["", "PM2's reload time includes its CLI's start-up (a node process), as a user waits for it; "
            "`rackctl reload` returns when the last old worker has been told to drain."]
    return out


def section_upgrade(res):
    g = "upgrade"
    if not res.has(g):
        return ["Did not run."]
    out = ["wrk runs through consecutive upgrades per repetition: Rack's `rackctl upgrade --binary` onto "
           "alternating copies of rackd, PM2's `pm2 update`. Failed = wrk socket errors + non-2xx; paused = "
           "rackd.last_upgrade.paused_ms (from the start of the exec step, before the state is written, to the new image's first loop turn).", "",
           "| peer | load | failed requests | of requests | error kinds (sum) | pause per upgrade, ms | one reload step, ms |",
           "|---|---|---|---|---|---|---|"]
    for name, label in (("rack", "Rack, rack-hello ×4"), ("pm2", "PM2 cluster, hello.js ×4")):
        for mode, mlabel in (("ka", "keep-alive"), ("close", "close")):
            rows = res.rows.get((g, f"{mode}.{name}"))
            if not rows:
                continue
            kinds = error_kinds(rows)
            pauses = [x for r in rows for x in r["paused_ms"] if x is not None]
            steps = [r["reload_step_ms"] for r in rows if r.get("reload_step_ms") is not None]
            out.append(f"| {label} | {mlabel} | {', '.join(str(r['failed']) for r in rows)} "
                       f"| {', '.join(num(r['requests']) for r in rows)} | {kinds} "
                       f"| {', '.join(num(x, 1) for x in pauses) or '—'} "
                       f"| {num(statistics.median(steps)) if steps else '—'} |")
    return out


def section_logs(res, lines):
    g = "logs"
    if not res.has(g):
        return ["Did not run."]
    out = [f"{num(lines)} lines of 72 bytes from the same producer (`bench/apps/lines.c`). Each measurement "
           "lasts well under a second, so on a shared machine the repetitions spread widely (see the raw "
           "values; the plain pipe alone spreads as much, and longer runs spread no less); more repetitions "
           "(`RATIO_REPS=9 bench/run --only logs`) narrow the median. Rack compresses "
           "rotated files while it captures, on a `SCHED_IDLE` thread (with nice 19, as logrotate runs, the "
           "compression took a CPU from the producer: nice weighs a thread only within its own autogroup).", "",
           "| path | lines/s | seconds | lost | duplicated | files checked |", "|---|---|---|---|---|---|"]
    for name, label in (("pipe", "`lines \\| cat > file`"),
                        ("rack", "Rack, `protocol: none`, max_size 8M, compress, keep 100"),
                        ("pm2", "PM2 fork mode, `interpreter: none`, one file")):
        if res.has(g, name):
            out.append(f"| {label} | {cell(res, g, name, 'lines_per_s')} | {cell(res, g, name, 'seconds', 2)} "
                       f"| {res.total(g, name, 'missing')} | {res.total(g, name, 'duplicated')} | {cell(res, g, name, 'files')} |")
    out += ["", "Rack's lines were counted across the current file and every rotated `.gz` after compression "
            "finished; PM2 does not rotate (pm2-logrotate is a separate module that copies and truncates)."]
    return out


def section_footprint(res):
    g = "footprint"
    if not res.has(g):
        return ["Did not run."]
    return ["| supervisor | daemon RSS, KiB | workers | workers' RSS, KiB (total) |", "|---|---|---|---|",
            f"| rackd (rack-hello ×4 ×2) | {cell(res, g, 'rack', 'supervisor_rss_kb')} | 8 | {cell(res, g, 'rack', 'workers_rss_kb')} |",
            f"| PM2 God daemon (hello.js ×4 ×2, cluster) | {cell(res, g, 'pm2', 'supervisor_rss_kb')} | 8 | {cell(res, g, 'pm2', 'workers_rss_kb')} |",
            "", "Measured from VmRSS after each app served a second of Connection: close load. "
                "The workers differ (C++ vs Node.js): their column is for scale only."]


def section_recovery(res):
    g = "recovery"
    if not res.has(g):
        return ["Did not run."]
    out = ["| | Rack, ms | PM2, ms |", "|---|---|---|"]
    for field, label in (("kill9_ms", "kill -9 of a worker → a new pid answers"),
                         ("cold_start_ms", "`start` with no daemon → both workers answered"),
                         ("cold_cmd_ms", "… the `start` command itself returned"),
                         ("warm_start_ms", "`start` with the daemon running → both workers answered"),
                         ("warm_cmd_ms", "… the `start` command itself returned")):
        out.append(f"| {label} | {cell(res, g, 'rack', field, 1)} | {cell(res, g, 'pm2', field, 1)} |")
    out.append(f"| kill -9 → serving ÷ `start` with no daemon, per repetition | {cell(res, g, 'rack', 'kill9_over_cold_start', 2)} "
               f"| {cell(res, g, 'pm2', 'kill9_over_cold_start', 2)} |")
    out += ["", "The killed worker had served for 1.2 s (past `min_uptime`): both restart it at once; "
                "Rack's backoff is only for repeated quick exits (docs/states.md). "
                "rack-hello vs hello.js: PM2's times include node's own start-up."]
    return out


def section_scrape(res):
    g = "scrape"
    out = []
    if "scrape.series" in res.skips:
        out += [f"**1,000 series per worker skipped:** {res.skips['scrape.series']}.", ""]
    if not res.has(g):
        return out + ["Did not run."]
    per_worker = res.med(g, 'rack', 'series_per_worker')
    out += ["| answered by | workers | series per worker | series in the answer | bytes | p50 ms | p90 ms | max ms "
            "| rackd CPU ms per scrape |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| rackd, merged | {num(res.med(g, 'rack', 'workers'))} "
            f"| {num(per_worker) if per_worker else 'rack-hello defaults'} "
            f"| {cell(res, g, 'rack', 'series')} | {cell(res, g, 'rack', 'bytes')} | {cell(res, g, 'rack', 'p50_ms', 1)} "
            f"| {cell(res, g, 'rack', 'p90_ms', 1)} | {cell(res, g, 'rack', 'max_ms', 1)} "
            f"| {cell(res, g, 'rack', 'rackd_cpu_ms_per_scrape', 2)} |",
            f"| rackd, a steady scraper 1 s apart ({cell(res, g, 'steady', 'collected_ahead')} collected ahead, "
            f"oldest {cell(res, g, 'steady', 'age_ms_max')} ms) | {num(res.med(g, 'rack', 'workers'))} "
            f"| {num(per_worker) if per_worker else 'rack-hello defaults'} "
            f"| {cell(res, g, 'steady', 'series')} | {cell(res, g, 'steady', 'bytes')} | {cell(res, g, 'steady', 'p50_ms', 1)} "
            f"| {cell(res, g, 'steady', 'p90_ms', 1)} | {cell(res, g, 'steady', 'max_ms', 1)} | — |",
            f"| rack-registry, the same file, scraped 1 s apart | — | — | {cell(res, g, 'static-steady', 'series')} "
            f"| {cell(res, g, 'static-steady', 'bytes')} | {cell(res, g, 'static-steady', 'p50_ms', 1)} "
            f"| {cell(res, g, 'static-steady', 'p90_ms', 1)} | {cell(res, g, 'static-steady', 'max_ms', 1)} | — |",
            f"| rack-registry, the same bytes as a file | — | — | {cell(res, g, 'static', 'series')} "
            f"| {cell(res, g, 'static', 'bytes')} | {cell(res, g, 'static', 'p50_ms', 1)} "
            f"| {cell(res, g, 'static', 'p90_ms', 1)} | {cell(res, g, 'static', 'max_ms', 1)} | — |",
            "",
            "All are scraped the same way (GETs on new connections, Python's http.client), in the same "
            "repetition: the first and the file back to back, the steady scraper and the file once more 1 s apart, as "
            "Prometheus scrapes (scrape_interval: 1s); a scrape after a second of idling costs more than one right "
            "after another, so each is compared with the file scraped the same way. From its fourth scrape on rackd knows the cadence and collects just before "
            "each scrape comes (metrics/scrape_cadence.h; the answer is at most 250 ms old, X-Rack-Metrics-Age-Ms); "
            "its first three scrapes are collected when they come and are in its figures. "
            "The back-to-back figure includes asking every worker for its registry and "
            "waiting for the answers: the workers serialize their registries in parallel with each other. "
            "rackd CPU per scrape is its CPU over the scrapes less its CPU over as long a time without "
            "scrapes right after (its per-worker /proc sampling runs either way); with that included: "
            f"{cell(res, g, 'rack', 'rackd_cpu_ms_per_scrape_raw', 2)} ms."]
    if res.has(g, "big"):
        out += ["", "64 workers × 5,000 series (after one warm-up scrape that parses every text in full):", "",
                "| scrapes | bytes | p50 ms | max ms | stale workers, worst scrape | collection ms, worst | "
                "deadline ms | rackd CPU ms per scrape |",
                "|---|---|---|---|---|---|---|---|",
                f"| {cell(res, g, 'big', 'scrapes')} | {cell(res, g, 'big', 'bytes')} | {cell(res, g, 'big', 'p50_ms', 1)} "
                f"| {cell(res, g, 'big', 'max_ms', 1)} | {cell(res, g, 'big', 'stale_workers_max')} "
                f"| {cell(res, g, 'big', 'collect_ms_max', 1)} | {num(res.med(g, 'big', 'deadline_ms'))} "
                f"| {cell(res, g, 'big', 'rackd_cpu_ms_per_scrape', 1)} |"]
    return out


def section_skew(res):
    g = "skew"
    if not res.has(g):
        return ["Did not run."]
    out = ["Client processes (not threads: with both workers spinning on this 2-core host, a thread holding "
           "Python's GIL is preempted for milliseconds and every other client thread waits with it), each a closed "
           "loop of `Connection: close` requests; every 10th is `/spin?ms=10` (10 ms of busy loop in the worker), "
           "the others `/`. 2 workers per peer; the peers take turns of 3 s, 3 rounds in rotating order. A fast "
           "request sent to a worker that is spinning waits for the spin to end, so the p99 of the fast requests "
           "shows how well a peer steers around busy workers. nginx proxies (`least_conn`) to two rack-hello on "
           "their own ports, which adds a hop to every request.", "",
           "Two loads. With 2 clients there is always a worker free of a spin for the balancer to find. With 4, "
           "both workers spin at once much of the time and a fast request must wait for one of them whoever "
           "dispatches it: `bench/lib/skew_model.py`, a model of this closed loop, puts an ideal shared queue "
           "(every request to the first free worker) at 0.46–0.49× random choice, and choosing the shorter queue "
           "(nginx) at 0.51–0.52×."]
    for group, title in (("skew", "2 clients"), (g + "4", "4 clients")):
        if not res.has(group):
            continue
        out += ["", f"**{title}**", "", "| peer | fast requests | fast p50 ms | fast p99 ms | heavy p99 ms | errors |",
                "|---|---|---|---|---|---|"]
        for peer, label in (("least-conn", "Rack least-connections"), ("round-robin", "Rack round-robin"),
                            ("reuseport", "SO_REUSEPORT"), ("nginx", "nginx least_conn")):
            out.append(f"| {label} | {cell(res, group, peer, 'fast_n')} | {cell(res, group, peer, 'fast_p50_ms', 2)} "
                       f"| {cell(res, group, peer, 'fast_p99_ms', 2)} | {cell(res, group, peer, 'heavy_p99_ms', 1)} "
                       f"| {cell(res, group, peer, 'errors')} |")
    return out


def section_monit(res):
    g = "monit"
    if "monit" in res.skips:
        return [f"Skipped: {res.skips['monit']}."]
    if not res.has(g):
        return ["Did not run."]
    secs = res.med(g, "rack", "secs")
    out = ["| dashboard | its CPU, % of one core | the daemon's CPU meanwhile, % |", "|---|---|---|",
           f"| `rackctl monit` (ncurses) | {cell(res, g, 'rack', 'monit_cpu_percent', 2)} "
           f"| rackd {cell(res, g, 'rack', 'daemon_cpu_percent', 2)} |"]
    if res.has(g, "pm2"):
        out.append(f"| `pm2 monit` (blessed) | {cell(res, g, 'pm2', 'monit_cpu_percent', 2)} "
                   f"| PM2 God daemon {cell(res, g, 'pm2', 'daemon_cpu_percent', 2)} |")
    out += ["", f"Both dashboards open at once in detached tmux sessions of 120×40, for {num(secs)} s, with no "
                "load on the apps: utime+stime of the dashboard process and of its daemon over that window "
                "(/proc/PID/stat). `rackctl monit` asks rackd for its status and the selected app's log tail "
                "once a second and for /metrics every other second, and sleeps in poll() in between."]
    return out


def numbers(text):
    """The comparison numbers a heading ("## 1 and 2. ...") or a summary
    row's first cell ("1, 2") names."""
    return {int(n) for n in re.findall(r"\d+", text)}


def blocks(lines):
    """Splits a report at its "## " headings: [(heading or None, [lines])]."""
    out = [(None, [])]
    for line in lines:
        if line.startswith("## "):
            out.append((line, []))
        else:
            out[-1][1].append(line)
    return out


def earlier_notes(head, fresh):
    """The report's head with each earlier partial run's note naming only
    the sections it still holds: those in `fresh` come from this run now,
    and a note left with none goes."""
    out = []
    for line in head:
        got = re.match(r"(> \*\*Partial run .*\*\* sections )([\d, ]+)( and their summary rows .*)", line)
        if got:
            left = sorted(numbers(got.group(2)) - fresh)
            if not left:
                if out and out[-1] == "":
                    out.pop()
                continue
            line = got.group(1) + ", ".join(map(str, left)) + got.group(3)
        out.append(line)
    return out


def splice(new, old_path, ran, m):
    """A partial run (--only) rewrites only what it measured: the sections
    and summary rows of the comparisons in `ran` come from `new`, the others
    stay as they were in the report at old_path (from an earlier run)."""
    if not os.path.exists(old_path):
        return new
    with open(old_path) as f:
        old = f.read().splitlines()
    fresh = set().union(*(SECTION.get(c, set()) for c in ran))
    old_blocks = {h: body for h, body in blocks(old) if h}
    old_by_num = {frozenset(numbers(h.split(".")[0])): body for h, body in old_blocks.items() if h[3:4].isdigit()}
    when = re.search(r"run of `bench/run` \(([^,]+),", "\n".join(old))
    out = []
    old_head = earlier_notes(blocks(old)[0][1], fresh)  # with the notes of earlier partial runs
    while old_head and old_head[-1] == "":
        old_head.pop()
    for h, body in blocks(new):
        if h is None:
            # The header and the machine describe the run most sections come from.
            note = (f"> **Partial run (`--only {','.join(ran)}`, {m['date']}, Rack {m['rack_commit']}, load average "
                    f"{m['load_start']:.1f} at start, {m.get('load_end', float('nan')):.1f} at end):** sections "
                    f"{', '.join(map(str, sorted(fresh)))} and their summary rows are from that run; the others, "
                    f"the text above and the machine below are from the run of "
                    f"{when.group(1) if when else 'an earlier date'}.")
            out += old_head + ["", note, ""]
            continue
        if h == "## Machine" and h in old_blocks:
            out += [h] + old_blocks[h]
            continue
        out.append(h)
        if h == "## Summary":
            out += summary_rows(body, old_blocks.get(h, []), fresh)
            continue
        nums = frozenset(numbers(h.split(".")[0])) if h[3:4].isdigit() else frozenset()
        keep = nums and not (nums & fresh) and nums in old_by_num
        out += old_by_num[nums] if keep else body
    return out


def summary_rows(new_body, old_body, fresh):
    """The summary table: this run's rows for `fresh` comparisons, the old
    report's for the rest, in comparison order."""
    def rows(body):
        return [line for line in body if line.startswith("| ") and line[2:3].isdigit()]
    new_rows = [r for r in rows(new_body) if numbers(r.split("|")[1]) & fresh]
    old_rows = [r for r in rows(old_body) if not numbers(r.split("|")[1]) & fresh]
    # By the highest number a row names: "1, 2" rows stay after row 2.
    merged = sorted(new_rows + old_rows, key=lambda r: max(numbers(r.split("|")[1])))
    first = next(i for i, line in enumerate(new_body) if line.startswith("| ") and line[2:3].isdigit()) \
        if rows(new_body) else len(new_body)
    rest = [line for line in new_body[first:] if not (line.startswith("| ") and line[2:3].isdigit())]
    return new_body[:first] + merged + rest


def section_scale(res):
    g = "scale"
    sizes = sorted((r[0]["workers"], name) for (grp, name), r in res.rows.items() if grp == g)
    if not sizes:
        return ["Did not run."]
    out = ["One rackd, idle rack-hello workers (`protocol: rack`, one listener per app): 5 apps × 2, 25 × 4 and "
           "100 × 4. RSS is rackd's VmRSS once every worker is ready; `rackctl status` is the wall time of the "
           "command (its own start-up included), the median of 7 runs; idle CPU is rackd's utime+stime over "
           "the window with no requests (a ping to each worker every 2.5 s (its Pong, and a Load report only when its load changed), /proc sampled once a second and descriptors counted every 10 s); "
           "reload is `rackctl reload all` (every app at once, each one slot at a time) ÷ workers. One "
           "measurement per size, on a shared machine: other engineers' builds and tests ran meanwhile.", "",
           "| workers | apps | rackd RSS, MiB | status, ms (runs) | idle CPU, % (window) | reload, ms per worker "
           "| start until all ready, s | rackd fds (soft limit) |",
           "|---|---|---|---|---|---|---|---|"]
    for _, name in sizes:
        r = res.rows[(g, name)][0]
        out.append(f"| {r['workers']} | {r['apps']} | {num(r['rss_kb'] / 1024, 1)} "
                   f"| {num(r['status_ms'], 1)} ({', '.join(num(x, 0) for x in r['status_runs_ms'])}) "
                   f"| {num(r['idle_cpu_percent'], 2)} ({r['idle_secs']} s) | {num(r['reload_ms_per_worker'], 1)} "
                   f"| {num(r['start_ms'] / 1000, 1)} | {r['fds']} ({r['nofile']}) |")
    if len(sizes) > 1:
        lo, hi = res.rows[(g, sizes[0][1])][0], res.rows[(g, sizes[-1][1])][0]
        k = hi["workers"] / lo["workers"]
        out += ["", f"Growth from {lo['workers']} to {hi['workers']} workers ({num(k)}× the workers):", "",
                "| cost | per worker added | growth |", "|---|---|---|"]
        for field, label, unit, digits in (("rss_kb", "rackd RSS", "KiB", 1), ("status_ms", "`rackctl status`", "ms", 3),
                                           ("idle_cpu_percent", "idle CPU", "% of a core", 4),
                                           ("reload_ms", "`rackctl reload all`", "ms", 1)):
            d = (hi[field] - lo[field]) / (hi["workers"] - lo["workers"])
            out.append(f"| {label} | {num(d, digits)} {unit} | {times(ratio(hi[field], lo[field]))} |")
    return out


def section_autoscale(res):
    g = "autoscale"
    if not res.has(g):
        return ["Did not run."]
    out = ["wrk (1 thread) against rack-hello's `/spin?ms=10` (10 ms of CPU per request); every connection waits "
           "40 ms after each response (wrk `delay()`), so a phase's load is set by its connections: 2 want about a "
           "third of a core, 8 about 1.6 cores. `auto` is `instances: {min: 1, max: 4}` with `scale: {busy: 0.7, "
           "up_after: 2s, cooldown: 4s}` (shorter than the defaults, 3 s and 30 s, to fit phases of 10 s); `fixed` "
           "is `instances: 1`; both under the same rackd, one after the other. Ready workers sampled every 250 ms "
           "from `GET /v1/status`. One run on 2 shared cores.", "",
           "| app | phase | connections | req/s | p50 ms | p99 ms | ready workers (min–max, mean) |",
           "|---|---|---|---|---|---|---|"]
    for app in ("auto", "fixed"):
        rows = res.rows.get((g, app))
        if not rows:
            continue
        for i, p in enumerate(rows[0]["phases"]):
            out.append(f"| {app} | {i + 1} ({num(p['start_s'])}–{num(p['start_s'] + p['secs'])} s) | {p['conns']} "
                       f"| {num(p.get('rps'))} | {num(p.get('lat_p50_ms'), 1)} | {num(p.get('lat_p99_ms'), 1)} "
                       f"| {p['workers_min']}–{p['workers_max']}, {num(p['workers_mean'], 1)} |")
    rows = res.rows.get((g, "auto"))
    if rows:
        out += ["", "Ready workers of `auto` over time (one character per second: the count at that second's "
                "last sample):", "", "```", timeline_strip(rows[0]["timeline"]), "```"]
    return out


def timeline_strip(timeline):
    """"1111122333..." : per second, the last sampled ready count."""
    per_s = {}
    for t, ready, _ in timeline:
        per_s[int(t)] = ready
    if not per_s:
        return "(no samples)"
    secs = range(max(per_s) + 1)
    last, chars = "?", []
    for s_ in secs:
        last = str(per_s[s_]) if s_ in per_s else last
        chars.append(last)
    ruler = "".join("|" if s_ % 10 == 0 else " " for s_ in secs)
    return "".join(chars) + "\n" + ruler + "  (| every 10 s)"


def write_report(res, m, path, ran=None):
    mode = m.get("mode", "full")
    L = ["# Benchmarks", "",
         "<!-- Generated by bench/run: edit bench/lib/report.py, not this file. -->", "",
         f"Rack against the tools people run today, side by side in one run of `bench/run` "
         f"({m['date']}, {mode} run: {m.get('runtime_s', '?')} s of measuring, after the build). "
         "Absolute numbers drift on a shared machine; **the ratios, measured in the same run with the peers taking "
         f"turns, are what we quote.** Every figure is the median of the repetitions "
         f"({m.get('ratio_reps', m['reps'])} for comparisons 1, 2, 3 and 5, {m['reps']} for the others); the raw values "
         "follow in parentheses. A ratio is the median of the per-repetition ratios: within one repetition the peers "
         "run back to back, seconds apart, so a slow spell of the machine weighs on both sides of that repetition's "
         "ratio; the medians of the sections' tables, divided, can differ from it. The HTTP peers (comparisons 1, 2 "
         "and 3) take turns of 1 s: a repetition is 5 rounds in which each peer runs once, in a different order "
         "every round, and a peer's figure is its requests over its 5 turns (p50: the median turn's; p99: the "
         "worst turn's). The orders form a balanced (Williams) "
         "design: every peer goes first, and follows every other peer, equally often. The same server measured "
         "against itself this way differs by 5–10% per repetition (the noise floor rows); in back-to-back 5 s runs "
         "it differed by up to 28%. Comparison 1 measures the SO_REUSEPORT workers twice, as two peers: the run shows its own noise "
         "floor, and Rack is compared with the mean of the two.", ""]
    if mode != "full":
        L += ["> **Smoke run (`--quick`): one short repetition each, Rack and the native baselines only "
              "(PM2 and the plain node peers are left out). Do not quote these numbers.**", ""]
    L += ["## Summary", "", "| # | comparison | measured | target | |", "|---|---|---|---|---|"]
    L += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in summary(res)]
    L += ["", "![Throughput of each peer, Connection: close and keep-alive](bench-throughput.svg)", ""]

    v = m["versions"]
    L += ["## Machine", "",
          f"- {m['nproc']} CPUs: {m['cpu']} ({m['virtualization']} guest), {m['mem_gib']} GiB RAM",
          f"- {m['os']}, Linux {m['kernel']}",
          f"- load average (1 min) at start {m['load_start']:.1f}, at end {m.get('load_end', float('nan')):.1f}: "
          "the machine is shared, so other work competed with every peer alike",
          f"- Rack {m['rack_commit']} (RelWithDebInfo, gcc {v['gcc']}); wrk {v['wrk']}; nginx {v['nginx']}; "
          f"node {v['node']}; PM2 {v['pm2']} (npm, local to bench/.deps)",
          f"- load generator: `{m['wrk']}` per turn for every HTTP peer (one wrk thread and 32 connections: on 2 cores the "
          "servers and the client share the CPUs; more wrk threads would only take cores from the servers), "
          "`-H 'Connection: close'` for the new-connection-per-request runs; everything on 127.0.0.1", ""]

    L += ["## How to re-run", "", "```sh",
          "bench/run            # everything (installs wrk, nginx-light, nodejs, npm, gnuplot-nox, jq if missing;",
          "                     # PM2 into bench/.deps; builds Rack; rewrites this file and bench-throughput.svg)",
          "bench/run --quick    # smoke run, under a minute",
          "bench/run --only dispatch,logs --no-build   # some comparisons (their sections are rewritten, the rest kept)",
          "RATIO_REPS=9 DURATION=10 bench/run         # more repetitions, 10 turns of 1 s per peer in each",
          "```", "",
          "Raw results (one JSON object per measurement) are in `bench/out/results.jsonl`; every process the "
          "run starts (rackd, PM2, nginx, node, rack-hello) is stopped at the end, also on Ctrl-C.", ""]

    L += ["## 1 and 2. Connection dispatch and keep-alive throughput, 2 workers", ""] + section_dispatch(res, m["reps"])
    L += ["", "## 3. Node.js app: Rack `protocol: node` vs PM2 cluster vs node cluster", ""] + section_node(res)
    L += ["", "## 4. Failed requests during reloads under load", ""] + section_reload(res, m.get("reloads", "?"))
    L += ["", "## 5. Log capture", ""] + section_logs(res, m.get("log_lines", 0))
    L += ["", "## 6. Footprint, 2 apps × 4 workers", ""] + section_footprint(res)
    L += ["", "## 7. Latency to recover, 2 workers", ""] + section_recovery(res)
    L += ["", "## 8. Scrape: merged /metrics on the admin listener", ""] + section_scrape(res)
    L += ["", "## 9. Skewed load: least-connections against busy workers", ""] + section_skew(res)
    L += ["", "## 10. Idle CPU of the terminal dashboard", ""] + section_monit(res)
    L += ["", "## 11. Upgrading the supervisor under load", ""] + section_upgrade(res)
    L += ["", "## 12. Scale: rackd's costs as workers grow", ""] + section_scale(res)
    L += ["", "## 13. Autoscaling under a step load", ""] + section_autoscale(res)
    if ran:
        L = splice(L, path, ran, m)
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--machine", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--chart-data", required=True)
    p.add_argument("--only", help="comparisons that ran (comma-separated): the report's other sections are kept")
    a = p.parse_args()
    res = Results(a.results)
    with open(a.machine) as f:
        m = json.load(f)
    write_report(res, m, a.out, a.only.split(",") if a.only else None)
    chart_data(res, a.chart_data)


if __name__ == "__main__":
    main()
