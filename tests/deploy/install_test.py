#!/usr/bin/env python3
"""What `cmake --install` and the Debian package hold, and that the
installed rackctl runs the installed example config.

  install_test.py BUILD_DIR files|start|unit|package|postinst

Each check installs BUILD_DIR into a fresh temp prefix: the installed
binaries find the example workers in their lib dir, not in the build tree.
"""
import json
import os
import re
import shutil
import signal
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
    "share/man/man1/rackctl.1", "share/man/man8/rackd.8", "share/bash-completion/completions/rackctl",
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
    # scripts/package's cpack step, on this build tree (its own build of
    # build/package is the same sources with the tests off).
    out = os.path.join(tmp, "pkg")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "package")
    subprocess.run([script, "--from", build, "--out", out], check=True, stdout=subprocess.DEVNULL)
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
    check_dpkg_install(deb, os.path.join(tmp, "root"))


def check_dpkg_install(deb, root):
    """What `apt-get install ./rack.deb` does, into an empty root: dpkg
    unpacks the files and registers the conffile (as new), and the postinst's user
    (sysusers.d/rack.conf) is created there. Not done: apt resolving
    Depends (the root is empty), and the postinst itself, which dpkg runs
    chrooted into the root (it has no shell) and which calls systemctl."""
    admin = os.path.join(root, "var/lib/dpkg")
    for d in ["info", "updates", "triggers"]:
        os.makedirs(os.path.join(admin, d))
    open(os.path.join(admin, "status"), "w").close()
    r = subprocess.run(["dpkg", "--root=" + root, "--log=/dev/null", "--force-not-root", "--force-depends",
                        "--force-bad-path", "--unpack", deb], capture_output=True, text=True)
    assert r.returncode == 0, f"dpkg --unpack: {r.returncode}\n{r.stdout}{r.stderr}"
    # A conffile waits beside its place as .dpkg-new until `dpkg --configure`
    # moves it there (and a changed one on upgrade asks the admin first).
    for f in ["usr/bin/rackd", "usr/bin/rackctl", "usr/lib/systemd/system/rack.service",
              "etc/rack/ecosystem.yaml.dpkg-new", "usr/share/man/man8/rackd.8", "usr/share/man/man1/rackctl.1"]:
        assert os.path.isfile(os.path.join(root, f)), f + " not unpacked"
    st = subprocess.run(["dpkg", "--root=" + root, "-s", "rack"], capture_output=True, text=True, check=True).stdout
    assert "Status: install ok unpacked" in st, st
    assert "Conffiles:\n /etc/rack/ecosystem.yaml newconffile" in st, st
    # The installed rackd runs (its libraries are the host's).
    r = subprocess.run([os.path.join(root, "usr/bin/rackd"), "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "rackd" in r.stdout, r.stdout + r.stderr
    # The postinst's systemd-sysusers call, on the unpacked root.
    postinst = subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb], capture_output=True, check=True).stdout
    assert b"systemd-sysusers /usr/lib/sysusers.d/rack.conf" in postinst
    r = subprocess.run(["systemd-sysusers", "--root=" + root, os.path.join(root, "usr/lib/sysusers.d/rack.conf")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    passwd = open(os.path.join(root, "etc/passwd")).read()
    assert re.search(r"^rack:x:\d+:\d+:Rack process supervisor:/var/lib/rack:", passwd, re.M), passwd


def postinst_sandbox(tmp):
    """deploy/debian/postinst with /run/systemd/system in `tmp`, and fake
    systemctl and systemd-sysusers first on PATH, which record their calls."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "debian", "postinst")
    text = open(src).read()
    systemd_dir = os.path.join(tmp, "run-systemd-system")
    os.makedirs(systemd_dir)
    assert text.count("/run/systemd/system") == 2, text
    script = os.path.join(tmp, "postinst")
    open(script, "w").write(text.replace("/run/systemd/system", systemd_dir))
    fakes = os.path.join(tmp, "fakes")
    os.makedirs(fakes)
    calls = os.path.join(tmp, "calls")
    fake = {
        "systemctl": """case "$*" in
  "is-active --quiet rack.service") exit "$SERVICE_INACTIVE" ;;
  "show -p MainPID --value rack.service") echo "$SERVICE_PID" ;;
  "show -p Environment --value rack.service") echo "LOG_FORMAT=json RACK_HOME=$SERVICE_HOME RACK_STDOUT_LOGS=off" ;;
esac""",
        "systemd-sysusers": "",
    }
    for name, body in fake.items():
        path = os.path.join(fakes, name)
        open(path, "w").write(f'#!/bin/sh\necho "{name} $*" >> {calls}\n{body}\nexit 0\n')
        os.chmod(path, 0o755)
    return script, fakes, calls


def check_postinst(build, tmp):
    script, fakes, calls = postinst_sandbox(tmp)
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    bindir = os.path.join(build, "bin")
    env = dict(os.environ, RACK_HOME=home, PATH=f"{fakes}:{bindir}:/usr/bin:/bin", SERVICE_INACTIVE="0",
               SERVICE_HOME=home)
    eco = os.path.join(tmp, "eco.yaml")
    open(eco, "w").write("rack:\n  admin: off\napps:\n  - name: bg\n    run: [sleep, '1000']\n    protocol: none\n")
    rackctl = os.path.join(bindir, "rackctl")

    def status():
        r = subprocess.run([rackctl, "status", "--json"], env=env, capture_output=True, text=True, timeout=30, check=True)
        st = json.loads(r.stdout)
        return st["rackd"], [w["pid"] for a in st["apps"] for w in a["workers"]]

    def postinst(*args, **extra):
        open(calls, "w").close()
        r = subprocess.run(["sh", script, *args], env=dict(env, **extra), capture_output=True, text=True, timeout=90)
        assert r.returncode == 0, f"postinst {args}: {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r, open(calls).read()

    try:
        r = subprocess.run([rackctl, "start", eco], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        rackd, workers = status()
        env["SERVICE_PID"] = str(rackd["pid"])
        # A first install, and an upgrade while the service is not active: rackd is left alone.
        for args, extra in [(("configure", ""), {}), (("configure", "0.0.9"), {"SERVICE_INACTIVE": "3"})]:
            out, called = postinst(*args, **extra)
            assert "systemctl daemon-reload" in called, called
            assert status()[0]["upgrades"] == 0, (args, out.stdout, out.stderr)
        # An upgrade with the service running: rackd re-execs in place, same pid and workers.
        out, called = postinst("configure", "0.0.9")
        after, workers_after = status()
        assert after["upgrades"] == 1 and after["pid"] == rackd["pid"], (after, out.stdout, out.stderr)
        assert workers_after == workers, (workers, workers_after)
        assert "rackd upgraded" in out.stdout, out.stdout
        # The new binary refused: the package is configured all the same, and says so.
        refuse = os.path.join(tmp, "refuse")
        open(refuse, "w").write("#!/bin/sh\nexit 1\n")
        os.chmod(refuse, 0o755)
        shutil.copy(refuse, os.path.join(fakes, "rackctl"))
        out, _ = postinst("configure", "0.0.9")
        assert "still runs the previous rackd" in out.stderr, out.stderr
        os.remove(os.path.join(fakes, "rackctl"))
        # No control socket where the unit says: SIGUSR2 to the main pid only.
        sleeper = subprocess.Popen(["sleep", "60"])
        try:
            out, _ = postinst("configure", "0.0.9", SERVICE_HOME=os.path.join(tmp, "elsewhere"), SERVICE_PID=str(sleeper.pid))
            assert sleeper.wait(timeout=10) == -signal.SIGUSR2, "SIGUSR2 did not reach the main pid"
            assert "SIGUSR2" in out.stdout, out.stdout
        finally:
            sleeper.kill()
    finally:
        subprocess.run([rackctl, "kill"], env=env, capture_output=True, timeout=60)


def main():
    build, what = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="rack-install-")
    try:
        {"files": check_files, "start": check_start, "unit": check_unit, "package": check_package,
         "postinst": check_postinst}[what](build, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok", what)


if __name__ == "__main__":
    main()
