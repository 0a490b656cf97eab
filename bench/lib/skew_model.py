#!/usr/bin/env python3
"""A model of comparison 9's closed loop, to know what any dispatcher could
reach there: C clients, each sending its next request as soon as the last
one is answered, every 10th one heavy (10 ms of CPU), the others fast; two
single-threaded workers; no cost for the dispatcher itself. Three ways to
choose a worker, each the limit of a real peer:

  random   each request to either worker (SO_REUSEPORT hashes connections)
  shorter  to the worker with fewer requests, waiting or running (nginx
           least_conn, and least-connections by counts alone)
  shared   every request waits in one queue for the first free worker
           (the best a dispatcher can do without reading the requests)

Prints the fast requests' p99 under each, and shared ÷ random, for a few
fast-request costs and round trips around the measured ones.

  python3 bench/lib/skew_model.py [--clients 2,4] [--secs 400]
"""
import argparse
import heapq
import random


def simulate(policy, clients, fast_ms, rtt_ms, heavy_ms=10.0, every=10, secs=400.0, seed=1):
    rng = random.Random(seed)
    events, shared, running, queued = [], [], [None, None], [[], []]
    sent = list(range(clients))  # clients start at different points of the cycle
    fast = []

    def send(c, now):
        heavy = sent[c] % every == 0
        sent[c] += 1
        heapq.heappush(events, (now + rtt_ms / 2, "arrive", (c, heavy, now)))

    def start(w, req, now):
        running[w] = req
        heapq.heappush(events, (now + (heavy_ms if req[1] else fast_ms), "done", w))

    for c in range(clients):
        send(c, 0.0)
    while events:
        now, kind, data = heapq.heappop(events)
        if now > secs * 1000:
            break
        if kind == "arrive":
            if policy == "shared":
                free = [w for w in (0, 1) if running[w] is None]
                if free:
                    start(free[0], data, now)
                else:
                    shared.append(data)
                continue
            if policy == "random":
                w = rng.randrange(2)
            else:
                w = min((0, 1), key=lambda w: (len(queued[w]) + (running[w] is not None), rng.random()))
            if running[w] is None:
                start(w, data, now)
            else:
                queued[w].append(data)
        else:
            c, heavy, t0 = running[data]
            running[data] = None
            if not heavy:
                fast.append(now + rtt_ms / 2 - t0)
            send(c, now + rtt_ms / 2)
            waiting = shared if policy == "shared" else queued[data]
            if waiting:
                start(data, waiting.pop(0), now)
    fast.sort()
    return fast[int(0.99 * len(fast))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", default="2,4")
    ap.add_argument("--secs", type=float, default=400.0)
    a = ap.parse_args()
    print("clients  fast_ms  rtt_ms  random_p99  shorter_p99  shared_p99  shared/random  shorter/random")
    for clients in (int(c) for c in a.clients.split(",")):
        for fast_ms in (0.05, 0.1, 0.25):
            for rtt_ms in (0.2, 0.3, 0.5):
                p = {k: simulate(k, clients, fast_ms, rtt_ms, secs=a.secs) for k in ("random", "shorter", "shared")}
                print(f"{clients:7d}  {fast_ms:7.2f}  {rtt_ms:6.2f}  {p['random']:10.2f}  {p['shorter']:11.2f}  "
                      f"{p['shared']:10.2f}  {p['shared'] / p['random']:13.2f}  {p['shorter'] / p['random']:14.2f}")


if __name__ == "__main__":
    main()
