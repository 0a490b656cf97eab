#!/usr/bin/env python3
"""Describes the machine and the run for docs/BENCHMARKS.md (JSON on stdout).

  machine.py --mode full --reps 3 --duration 5 --wrk "wrk -t1 -c32 -d5s"
  machine.py --finish machine.json --runtime 600     (adds the end-of-run load)
"""
import argparse
import json
import os
import platform
import re
import subprocess
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=ROOT)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def mem_gib():
    with open("/proc/meminfo") as f:
        kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    return round(kb / 1024 / 1024, 1)


def first_match(pattern, text):
    m = re.search(pattern, text)
    return m.group(1) if m else "?"


def describe(a):
    pm2 = os.path.join(ROOT, "bench/.deps/node_modules/pm2/package.json")
    try:
        pm2_version = json.load(open(pm2))["version"]
    except OSError:
        pm2_version = "?"
    commit = run("git", "rev-parse", "--short", "HEAD")
    dirty = bool(run("git", "status", "--porcelain", "--untracked-files=no"))
    virt = first_match(r"Hypervisor vendor:\s+(\S+)", run("lscpu"))
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "virtualization": virt,
        "mem_gib": mem_gib(),
        "kernel": platform.release(),
        "os": first_match(r'PRETTY_NAME="([^"]+)"', open("/etc/os-release").read()),
        "load_start": os.getloadavg()[0],
        "rack_commit": commit + ("+uncommitted changes" if dirty else ""),
        "versions": {
            "wrk": first_match(r"wrk (\S+)", run("wrk", "-v")),
            "nginx": first_match(r"nginx/(\S+)", run("nginx", "-v")),
            "node": run("node", "--version"),
            "pm2": pm2_version,
            "gcc": first_match(r"\) (\S+)", run("gcc", "--version")),
        },
        "mode": a.mode,
        "reps": a.reps,
        "duration_s": a.duration,
        "wrk": a.wrk,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode")
    p.add_argument("--reps", type=int)
    p.add_argument("--duration", type=int)
    p.add_argument("--wrk")
    p.add_argument("--finish")
    p.add_argument("--runtime", type=int)
    a = p.parse_args()
    if a.finish:
        with open(a.finish) as f:
            m = json.load(f)
        m["load_end"] = os.getloadavg()[0]
        m["runtime_s"] = a.runtime
        with open(a.finish, "w") as f:
            json.dump(m, f)
    else:
        print(json.dumps(describe(a)))


if __name__ == "__main__":
    main()
