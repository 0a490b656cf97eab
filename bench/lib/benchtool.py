#!/usr/bin/env python3
"""Small timing helpers for bench/run (python3 standard library only).

Each subcommand prints one JSON object (or a plain value) on stdout:

  freeport [N]                       N free TCP ports on 127.0.0.1
  ready  --url U --n N -- CMD...     run CMD; ms until N distinct worker pids
                                     have answered U (GET /whoami)
  recover --url U --kill PID --known P1,P2,...
                                     SIGKILL PID; ms until a pid not in
                                     --known (nor PID) answers U
  scrape --url U --count K           latency of K sequential GETs of U
  wait-tail --file F --needle S      epoch seconds when S shows up at the end of F
  verify-lines --n N FILE...         numbered lines L000000001..N across FILEs
                                     (plain or .gz): found, missing, duplicated
  turns --mode close|ka --turns K --secs S --lua F --threads T --conns C [--rep R]
        --peer NAME=URL[,rackd=PID,admin=ADDR,app=APP] ...
                                     wrk against each peer in turn, K rounds of
                                     S seconds each, in the balanced orders of
                                     balanced_orders() (repetition R picks up
                                     where R-1 left off); one JSON line per peer
"""
import argparse
import gzip
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse


def get(url, timeout=1.0, headers_out=None):
    """One GET on a new connection. Returns (status, body) or None on a socket error.
    The response's headers go into the dict `headers_out` when one is given."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("GET", (u.path or "/") + ("?" + u.query if u.query else ""), headers={"Connection": "close"})
        r = conn.getresponse()
        if headers_out is not None:
            headers_out.update((k.lower(), v) for k, v in r.getheaders())
        return r.status, r.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def whoami(url):
    r = get(url, timeout=0.5)
    if r is None or r[0] != 200:
        return None
    try:
        return int(json.loads(r[1])["pid"])
    except (ValueError, KeyError):
        return None


def cmd_freeport(a):
    socks = []
    for _ in range(a.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def cmd_ready(a):
    # Start the clock before the command: what a user waits for.
    t0 = time.monotonic()
    proc = subprocess.Popen(a.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen, ready_ms = set(), None
    deadline = t0 + a.timeout
    while time.monotonic() < deadline:
        pid = whoami(a.url)
        if pid is not None:
            seen.add(pid)
            if len(seen) >= a.n:
                ready_ms = (time.monotonic() - t0) * 1000
                break
        else:
            time.sleep(0.002)
    rc = proc.wait(timeout=a.timeout)
    cmd_ms = (time.monotonic() - t0) * 1000
    print(json.dumps({"ready_ms": ready_ms, "cmd_ms": round(cmd_ms, 1), "cmd_rc": rc, "pids": sorted(seen)}))


def cmd_recover(a):
    known = {int(p) for p in a.known.split(",") if p} | {a.kill}
    os.kill(a.kill, signal.SIGKILL)
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    failed = 0
    while time.monotonic() < deadline:
        pid = whoami(a.url)
        if pid is None:
            failed += 1
            time.sleep(0.001)
        elif pid not in known:
            print(json.dumps({"recover_ms": round((time.monotonic() - t0) * 1000, 1),
                              "new_pid": pid, "failed_polls": failed}))
            return
    print(json.dumps({"recover_ms": None, "failed_polls": failed}))


def cmd_scrape(a):
    """`count` GETs of the URL, back to back, or `every` seconds apart as
    Prometheus scrapes (a steady scraper: rackd collects ahead of it, and
    X-Rack-Metrics-Age-Ms says how old each answer was)."""
    lat, ages, size, series = [], [], 0, 0
    start = time.monotonic()
    for i in range(a.count):
        if a.every:
            time.sleep(max(0.0, start + i * a.every - time.monotonic()))
        t = time.monotonic()
        hdrs = {}
        r = get(a.url, timeout=10, headers_out=hdrs)
        lat.append((time.monotonic() - t) * 1000)
        if r is None or r[0] != 200:
            print(json.dumps({"error": "scrape failed", "status": r and r[0]}))
            return
        size = len(r[1])
        series = sum(1 for line in r[1].splitlines() if line and not line.startswith(b"#"))
        if "x-rack-metrics-age-ms" in hdrs:
            ages.append(int(hdrs["x-rack-metrics-age-ms"]))
    lat.sort()
    out = {"p50_ms": round(statistics.median(lat), 2), "p90_ms": round(lat[int(0.9 * (len(lat) - 1))], 2),
           "max_ms": round(lat[-1], 2), "bytes": size, "series": series}
    if ages:
        out.update(collected_ahead=sum(1 for x in ages if x > 0), age_ms_max=max(ages))
    print(json.dumps(out))


def cmd_wait_tail(a):
    needle = a.needle.encode()
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        try:
            with open(a.file, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 4096))
                if needle in f.read():
                    print(f"{time.time():.6f}")
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    print("null")


def proc_cpu_us(pid):
    """utime+stime of PID (all its threads), in microseconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000 // os.sysconf("SC_CLK_TCK")


def dispatched(admin, app):
    r = get(f"http://{admin}/metrics", timeout=5)
    if r is None or r[0] != 200:
        return None
    m = re.search(rb'^rack_connections_dispatched_total\{app="' + re.escape(app.encode()) + rb'"\} (\d+)', r[1], re.M)
    return int(m.group(1)) if m else 0


def parse_peer(spec):
    name, _, rest = spec.partition("=")
    url, *opts = rest.split(",")
    peer = {"name": name, "url": url}
    for o in opts:
        k, _, v = o.partition("=")
        peer[k] = v
    return peer


def balanced_orders(n):
    """The rows of a Williams design: orders of n peers in which every peer
    goes first equally often and follows every other peer equally often
    (over n rows, 2n when n is odd). A turn can be helped or hurt by the one
    before it (a cyclic rotation kept the same neighbours, and the peer that
    always followed nginx measured 7% above its own copy that always
    followed Rack)."""
    first, lo, hi = [0], 1, n - 1
    while len(first) < n:
        first.append(lo)
        lo += 1
        if len(first) < n:
            first.append(hi)
            hi -= 1
    rows = [[(f + i) % n for f in first] for i in range(n)]
    return rows + [r[::-1] for r in rows] if n % 2 else rows


def cmd_turns(a):
    """Peers measured in short turns, round after round, so that a slow
    spell of a shared machine (seconds long) falls on all of them alike: the
    same server against itself varied by up to 28% between back-to-back 5 s
    runs here, and by 5–10% as the sum of five 1 s turns."""
    peers = [parse_peer(p) for p in a.peer]
    hdr = ["-H", "Connection: close"] if a.mode == "close" else []
    acc = {p["name"]: {"requests": 0, "duration_s": 0.0, "err_connect": 0, "err_read": 0, "err_write": 0,
                       "err_timeout": 0, "err_status": 0, "p50": [], "p99": [], "turns": []} for p in peers}
    # rackd's CPU time and dispatch counter are read around all the rounds,
    # not around each turn: reading the counter is a /metrics scrape, which
    # costs rackd (and its workers) CPU of its own. rackd idles meanwhile in
    # the other peers' turns.
    before = {p["name"]: (dispatched(p["admin"], p["app"]), proc_cpu_us(p["rackd"])) for p in peers if p.get("rackd")}
    orders = balanced_orders(len(peers))
    for k in range(a.turns):
        for i in orders[(a.rep * a.turns + k) % len(orders)]:
            p = peers[i]
            out = subprocess.run(["wrk", f"-t{a.threads}", f"-c{a.conns}", f"-d{a.secs}s", *hdr,
                                  "-s", a.lua, p["url"]], capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            t = acc[p["name"]]
            for key in ("requests", "duration_s", "err_connect", "err_read", "err_write", "err_timeout", "err_status"):
                t[key] += r[key]
            t["p50"].append(r["lat_p50_ms"])
            t["p99"].append(r["lat_p99_ms"])
            t["turns"].append(round(r["rps"], 1))
    for name, (conns0, cpu0) in before.items():
        p = next(p for p in peers if p["name"] == name)
        acc[name]["rackd_cpu_us"] = proc_cpu_us(p["rackd"]) - cpu0
        conns1 = dispatched(p["admin"], p["app"])
        # A failed read is no count, not zero.
        acc[name]["rackd_conns"] = conns1 - conns0 if conns0 is not None and conns1 is not None else None
    for p in peers:
        t = acc[p["name"]]
        out = {"name": p["name"], "requests": t["requests"], "duration_s": round(t["duration_s"], 3),
               "rps": round(t["requests"] / t["duration_s"], 1) if t["duration_s"] else None,
               **{k: t[k] for k in ("err_connect", "err_read", "err_write", "err_timeout", "err_status")},
               # Percentiles do not add up: the median turn's p50, the worst turn's p99.
               "lat_p50_ms": statistics.median(t["p50"]), "lat_p99_ms": max(t["p99"]),
               "turns_rps": t["turns"]}
        if p.get("rackd"):
            out.update(rackd_cpu_us=t["rackd_cpu_us"], rackd_conns=t["rackd_conns"],
                       rackd_cpu_us_per_conn=t["rackd_cpu_us"] / t["rackd_conns"] if t["rackd_conns"] else None)
        print(json.dumps(out), flush=True)


LINE = re.compile(rb"L(\d{9}) ")


def skew_client(args):
    """One client process of skew_turn: a closed loop of Connection: close
    GETs for `secs`; every `heavy_every`-th is `heavy_path`, starting at
    request `k` of the cycle. Returns (fast ms, heavy ms, errors)."""
    url, heavy_path, heavy_every, k, secs = args
    fast, heavy, errors = [], [], 0
    n = k  # clients start at different points of the cycle
    stop = time.monotonic() + secs
    while time.monotonic() < stop:
        is_heavy = n % heavy_every == 0
        n += 1
        t0 = time.perf_counter()
        r = get(url.rstrip("/") + (heavy_path if is_heavy else "/"), timeout=5.0)
        ms = (time.perf_counter() - t0) * 1000
        if r is None or r[0] != 200:
            errors += 1
        else:
            (heavy if is_heavy else fast).append(ms)
    return fast, heavy, errors


def skew_turn(url, heavy_path, heavy_every, conns, secs):
    """`conns` client processes, each a closed loop (skew_client). Processes,
    not threads: with both workers spinning on a 2-core host, a thread
    holding the GIL is preempted for milliseconds and every other client
    thread waits with it, a delay no dispatcher causes. Returns the
    latencies (ms) of each kind and the error count."""
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(conns) as pool:
        parts = pool.map(skew_client, [(url, heavy_path, heavy_every, k, secs) for k in range(conns)])
    return ([ms for f, _, _ in parts for ms in f], [ms for _, h, _ in parts for ms in h],
            sum(e for _, _, e in parts))


def pct(v, q):
    if not v:
        return None
    v = sorted(v)
    return round(v[min(len(v) - 1, int(q * len(v)))], 2)


def cmd_skew(a):
    """Skewed load against each peer in turns (round after round, so machine
    noise hits all alike): p50/p99 of the fast requests, p99 of the heavy."""
    peers = [parse_peer(p) for p in a.peer]
    acc = {p["name"]: ([], [], 0) for p in peers}
    for rnd in range(a.rounds):
        order = peers[rnd % len(peers):] + peers[:rnd % len(peers)]
        for p in order:
            f, h, e = skew_turn(p["url"], a.heavy_path, a.heavy_every, a.conns, a.secs)
            of, oh, oe = acc[p["name"]]
            acc[p["name"]] = (of + f, oh + h, oe + e)
    for name, (f, h, e) in acc.items():
        print(json.dumps({"peer": name, "fast_n": len(f), "heavy_n": len(h), "errors": e,
                          "fast_p50_ms": pct(f, 0.5), "fast_p99_ms": pct(f, 0.99),
                          "heavy_p99_ms": pct(h, 0.99)}))


def ready_workers(admin, app):
    """(ready, all) workers of APP per GET /v1/status, or None."""
    r = get(f"http://{admin}/v1/status", timeout=1.0)
    if r is None or r[0] != 200:
        return None
    for a in json.loads(r[1]).get("apps", []):
        if a.get("name") == app:
            ws = a.get("workers", [])
            return sum(1 for w in ws if w.get("state") == "ready"), len(ws)
    return None


def cmd_step(a):
    """A step load: wrk phase after phase (CONNS:SECS each; every connection
    waits --think-ms between its requests, so a phase's load is set by its
    connections), while the app's worker count is sampled every --every s.
    Prints one JSON line: each phase's wrk figures and worker counts, and
    the whole timeline [seconds, ready, all]."""
    phases = [tuple(int(x) for x in p.split(":")) for p in a.phases.split(",")]
    env = dict(os.environ, WRK_THINK_MS=str(a.think_ms), BENCH_LIB=os.path.dirname(os.path.abspath(__file__)))
    lua = os.path.join(env["BENCH_LIB"], "wrk_step.lua")
    timeline, out = [], []
    t0 = time.monotonic()
    for conns, secs in phases:
        start = time.monotonic() - t0
        wrk = subprocess.Popen(["wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--timeout", "10s", "-s", lua, a.url],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        while wrk.poll() is None:
            n = ready_workers(a.admin, a.app)
            if n is not None:
                timeline.append([round(time.monotonic() - t0, 2), n[0], n[1]])
            time.sleep(a.every)
        lines = [l for l in wrk.stdout.read().splitlines() if l.startswith("{")]
        r = json.loads(lines[-1]) if lines else {}
        counts = [n for t, n, _ in timeline if t >= start]
        r.update({"conns": conns, "secs": secs, "start_s": round(start, 2),
                  "workers_min": min(counts, default=None), "workers_max": max(counts, default=None),
                  "workers_mean": round(statistics.mean(counts), 2) if counts else None})
        out.append(r)
    print(json.dumps({"phases": out, "timeline": timeline}))


def cmd_verify_lines(a):
    counts = bytearray(a.n + 1)
    found = 0
    for name in a.files:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(name, "rb") as f:
            for line in f:
                m = LINE.search(line)
                if not m:
                    continue
                i = int(m.group(1))
                if 1 <= i <= a.n:
                    found += 1
                    counts[i] = min(counts[i] + 1, 255)
    missing = sum(1 for c in counts[1:] if c == 0)
    duplicated = sum(1 for c in counts[1:] if c > 1)
    print(json.dumps({"expected": a.n, "found": found, "missing": missing,
                      "duplicated": duplicated, "files": len(a.files)}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd_name", required=True)

    s = sub.add_parser("freeport")
    s.add_argument("n", type=int, nargs="?", default=1)
    s.set_defaults(fn=cmd_freeport)

    s = sub.add_parser("ready")
    s.add_argument("--url", required=True)
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--timeout", type=float, default=30)
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_ready)

    s = sub.add_parser("recover")
    s.add_argument("--url", required=True)
    s.add_argument("--kill", type=int, required=True)
    s.add_argument("--known", default="")
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=cmd_recover)

    s = sub.add_parser("scrape")
    s.add_argument("--url", required=True)
    s.add_argument("--count", type=int, default=20)
    s.add_argument("--every", type=float, default=0, help="seconds between scrapes (0: back to back)")
    s.set_defaults(fn=cmd_scrape)

    s = sub.add_parser("turns")
    s.add_argument("--mode", choices=("close", "ka"), required=True)
    s.add_argument("--turns", type=int, default=5)
    s.add_argument("--secs", type=int, default=1)
    s.add_argument("--lua", required=True)
    s.add_argument("--threads", type=int, required=True)
    s.add_argument("--conns", type=int, required=True)
    s.add_argument("--rep", type=int, default=0)
    s.add_argument("--peer", action="append", required=True)
    s.set_defaults(fn=cmd_turns)

    s = sub.add_parser("skew")
    s.add_argument("--heavy-path", default="/spin?ms=10")
    s.add_argument("--heavy-every", type=int, default=10)
    s.add_argument("--conns", type=int, default=4)
    s.add_argument("--secs", type=float, default=3)
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--peer", action="append", required=True)
    s.set_defaults(fn=cmd_skew)

    s = sub.add_parser("step")
    s.add_argument("--url", required=True)
    s.add_argument("--admin", required=True)
    s.add_argument("--app", required=True)
    s.add_argument("--phases", required=True, help="CONNS:SECS,CONNS:SECS,...")
    s.add_argument("--think-ms", type=int, default=40)
    s.add_argument("--every", type=float, default=0.25)
    s.set_defaults(fn=cmd_step)

    s = sub.add_parser("wait-tail")
    s.add_argument("--file", required=True)
    s.add_argument("--needle", required=True)
    s.add_argument("--timeout", type=float, default=120)
    s.set_defaults(fn=cmd_wait_tail)

    s = sub.add_parser("verify-lines")
    s.add_argument("--n", type=int, required=True)
    s.add_argument("files", nargs="+")
    s.set_defaults(fn=cmd_verify_lines)

    a = p.parse_args()
    if getattr(a, "cmd", None) and a.cmd[:1] == ["--"]:
        a.cmd = a.cmd[1:]
    a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
