#!/usr/bin/env python3
"""What `cmake --install` and the Debian package hold, and that the
installed rackctl runs the installed example config.

  install_test.py BUILD_DIR files|start|unit|package

Each check installs BUILD_DIR into a fresh temp prefix: the installed
binaries find the example workers in their lib dir, not in the build tree.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

EXPECTED = [
    "bin/rackctl", "bin/rackd",
    "etc/rack/ecosystem.yaml",
    "lib/rack/rack-hello", "lib/rack/rack-registry",
    "lib/systemd/system/rack.service", "lib/sysusers.d/rack.conf",
    "share/doc/rack/README.md", "share/doc/rack/configuration.md", "share/doc/rack/deploy.md",
    "share/doc/rack/deploy/kubernetes/deployment.yaml",
    "share/doc/rack/deploy/prometheus/prometheus.yml",
    "share/rack/examples/ecosystem.yaml", "share/rack/examples/storage/hello.txt",
    "share/man/man1/rackctl.1", "share/bash-completion/completions/rackctl",
    "share/zsh/vendor-completions/_rackctl",
]


def install(build, prefix):
    subprocess.run(["cmake", "--install", build, "--prefix", prefix], check=True, stdout=subprocess.DEVNULL)


def listing(root):
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


def check_files(build, tmp):
    install(build, tmp)
    have = listing(tmp)
    missing = [f for f in EXPECTED if f not in have]
    assert not missing, f"not installed: {missing}\ninstalled: {have}"
    for exe in ["bin/rackd", "bin/rackctl", "lib/rack/rack-hello", "lib/rack/rack-registry"]:
        assert os.access(os.path.join(tmp, exe), os.X_OK), exe + " is not executable"
    unit = open(os.path.join(tmp, "lib/systemd/system/rack.service")).read()
    assert f"ExecStart={tmp}/bin/rackd --no-daemon {tmp}/etc/rack/ecosystem.yaml" in unit, unit


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read().decode()


def check_start(build, tmp):
    prefix = os.path.join(tmp, "prefix")
    install(build, prefix)
    examples = os.path.join(prefix, "share/rack/examples")
    # The example as installed, on ports the kernel picks (a test must not
    # take 8080 or 9650 from whoever else runs on this machine).
    text = open(os.path.join(examples, "ecosystem.yaml")).read()
    text = text.replace("127.0.0.1:9650", "127.0.0.1:0").replace("127.0.0.1:8080", "127.0.0.1:0")
    assert text.count("127.0.0.1:0") == 2, text
    config = os.path.join(examples, "ecosystem.test.yaml")
    open(config, "w").write(text)
    # PATH without the build tree: the workers must come from lib/rack.
    env = dict(os.environ, RACK_HOME=os.path.join(tmp, "home"), PATH="/usr/bin:/bin")
    rackctl = os.path.join(prefix, "bin/rackctl")
    try:
        r = subprocess.run([rackctl, "start", config], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"rackctl start: {r.returncode}\n{r.stdout}\n{r.stderr}"
        st = json.loads(subprocess.run([rackctl, "status", "--json"], env=env, capture_output=True,
                                       text=True, timeout=30, check=True).stdout)
        app = st["apps"][0]
        assert app["workers"][0]["state"] == "ready", app
        # argv[0] of the workers is the installed example.
        pid = app["workers"][0]["pid"]
        exe = os.readlink(f"/proc/{pid}/exe")
        assert exe == os.path.join(prefix, "lib/rack/rack-registry"), exe
        code, body = get(f"http://{app['listen']}/hello.txt")
        assert code == 200 and body == open(os.path.join(examples, "storage/hello.txt")).read(), body
        code, _ = get(f"http://{st['rackd']['admin']}/health")
        assert code == 200
    finally:
        subprocess.run([rackctl, "kill"], env=env, capture_output=True, timeout=60)


def check_unit(build, tmp):
    install(build, tmp)
    unit = os.path.join(tmp, "lib/systemd/system/rack.service")
    r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), f"verify: {r.returncode}\n{r.stdout}{r.stderr}"
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit], capture_output=True, text=True)
    m = re.search(r"Overall exposure level for rack.service: ([0-9.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    print("exposure", m.group(1))
    assert float(m.group(1)) <= 5.0, r.stdout


def check_package(build, tmp):
    # What scripts/package runs, on this build tree.
    out = os.path.join(tmp, "pkg")
    subprocess.run(["cpack", "-G", "DEB", "-B", out, "-D", "CPACK_INSTALL_PREFIX=/usr"], cwd=build,
                   check=True, stdout=subprocess.DEVNULL)
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    assert len(debs) == 1, debs
    deb = os.path.join(out, debs[0])
    files = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    names = sorted(line.split()[-1].lstrip(".") for line in files.splitlines() if not line.endswith("/"))
    want = ["/usr/" + f for f in EXPECTED if not f.startswith("etc/")] + ["/etc/rack/ecosystem.yaml"]
    missing = [f for f in want if f not in names]
    assert not missing, f"not in the package: {missing}\n{names}"
    stray = [f for f in names if not (f.startswith("/usr/") or f.startswith("/etc/rack/"))]
    assert not stray, f"outside /usr and /etc/rack: {stray}"
    info = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True, text=True, check=True).stdout
    for lib in ["libuv1", "libyaml-cpp", "libprometheus-cpp-core", "libspdlog", "zlib1g", "libc6", "libncursesw6", "libtinfo6"]:
        assert lib in info, f"Depends lacks {lib}: {info}"
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb], capture_output=True, check=True).stdout
    assert b"/etc/rack/ecosystem.yaml" in conffiles
    unit = subprocess.run(["sh", "-c", f"dpkg-deb --fsys-tarfile {deb} | tar -xO ./usr/lib/systemd/system/rack.service"],
                          capture_output=True, text=True, check=True).stdout
    assert "ExecStart=/usr/bin/rackd --no-daemon /etc/rack/ecosystem.yaml" in unit


def main():
    build, what = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="rack-install-")
    try:
        {"files": check_files, "start": check_start, "unit": check_unit, "package": check_package}[what](build, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok", what)


if __name__ == "__main__":
    main()
