"""Helpers for test_hub_flow.py: a real jitsu-hub, jitsuctl's hub commands,
jitsud enrollment, and a jitsu client waiting in the background.

The hub listens on 127.0.0.1 with port 0 and reports its URL on its
"listening:" line (read with a deadline, never a sleep). Its database is
SQLite in its directory, or a PostgreSQL database from the throw-away
cluster of tests/hub/pgcluster.py (loaded from there, not copied).
"""
import importlib.util
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BUILD, JITSU, JITSUCTL, JITSUD, PRIVSEP_USER, SLOW, TOP, WRAP, user_ids

HUB = os.path.join(BUILD, "hub", "jitsu-hub")
START_TIMEOUT = 20
WAITING = rb"waiting for approval: request ([0-9a-f]{16})"


def _load_pgcluster():
    spec = importlib.util.spec_from_file_location(
        "hubflow_pgcluster", os.path.join(TOP, "tests", "hub", "pgcluster.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pgcluster = _load_pgcluster()


def _init(path, db=None):
    """jitsu-hub init; returns its "key: value" lines as a dict."""
    args = [HUB, "init", "--dir", path, "--listen", "127.0.0.1:0"]
    if db:
        args += ["--db", db]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60)
    return dict(line.split(": ", 1) for line in out.stdout.splitlines())


def tls_pair(path):
    """A fresh key and self-signed certificate (made by jitsu-hub init in
    path); returns (cert file, key file, SHA-256 fingerprint)."""
    info = _init(path)
    return (os.path.join(path, "tls.crt"), os.path.join(path, "tls.key"),
            info["fingerprint"])


class FlowHub:
    """One jitsu-hub: init once, then start/stop `serve` (same port on restarts)."""

    def __init__(self, path, db=None):
        self.dir = path
        self.db = db
        self.info = _init(path, db)
        self.fingerprint = self.info["fingerprint"]
        self.admin_token = self.info["admin-token"]
        self.cert = os.path.join(path, "tls.crt")
        self.proc = None
        self.url = None
        self.port = 0

    def start(self, *extra):
        """jitsu-hub serve [extra...]; returns once it said "listening:"."""
        self.log = open(os.path.join(self.dir, "serve.log"), "ab")
        self.proc = subprocess.Popen(
            [*WRAP, HUB, "serve", "--dir", self.dir, "--listen", "127.0.0.1:%d" % self.port,
             *extra],
            stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
        line = b""
        deadline = time.monotonic() + START_TIMEOUT * SLOW
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n") and time.monotonic() < deadline:
                if sel.select(0.2):
                    chunk = os.read(self.proc.stdout.fileno(), 256)
                    if not chunk:
                        break
                    line += chunk
        if not line.startswith(b"listening: "):
            self.stop()
            raise AssertionError("jitsu-hub did not start: %r\n%s" % (line, self.log_text()))
        self.url = line.decode().split(": ", 1)[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def stop(self):
        """SIGTERM and wait; returns the exit status (None if not running)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc.stdout.close()
        self.log.close()
        self.proc = None
        return rc

    def replace_cert(self):
        """Swaps in a fresh key and certificate (as an attacker's hub would
        present); returns the new fingerprint. Stop the hub first."""
        other = self.dir + "-other"
        info = _init(other)
        for name in ("tls.crt", "tls.key"):
            shutil.copyfile(os.path.join(other, name), os.path.join(self.dir, name))
        shutil.rmtree(other, ignore_errors=True)
        return info["fingerprint"]

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "serve.log"), "rb") as f:
                return f.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""


class Ctl:
    """jitsuctl hub ..., as root, against one hub; the default config file is
    replaced by an empty one so the machine's own cannot interfere."""

    def __init__(self, hub, workdir):
        self.hub = hub
        self.conf = os.path.join(workdir, "jitsuctl-empty.conf")
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)

    def env(self, token=None, fingerprint=None):
        e = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "JITSU_HUB_URL": self.hub.url,
             "JITSU_HUB_TOKEN": token or self.hub.admin_token}
        e["JITSU_HUB_FINGERPRINT"] = fingerprint or self.hub.fingerprint
        return e

    def run(self, *args, token=None, fingerprint=None, env=None, text=True, conf=True,
            timeout=30):
        """Runs jitsuctl hub ARGS; returns the CompletedProcess."""
        e = env if env is not None else self.env(token, fingerprint)
        cmd = [JITSUCTL, "hub"] + (["--config", self.conf] if conf else []) + list(args)
        return subprocess.run(cmd, env=e, capture_output=True, text=text, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r

    def json(self, *args, **kw):
        return json.loads(self.ok("--json", *args, **kw).stdout)

    def request(self, rid):
        """The hub's view of one request (as the admin)."""
        found = [q for q in self.json("requests")["requests"] if q["id"] == rid]
        assert len(found) == 1, (rid, found)
        return found[0]

    def wait_state(self, rid, state, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            q = self.request(rid)
            if q["state"] == state:
                return q
            assert time.monotonic() < deadline, "request %s is %s, not %s" % (
                rid, q["state"], state)
            time.sleep(0.05)

    def add_user(self, name, role):
        """jitsuctl hub admins add; returns the new user's token."""
        r = self.ok("admins", "add", name, "--role", role)
        token = r.stdout.strip()
        assert re.fullmatch(r"jhu_[0-9a-f]{16}_[0-9a-f]{64}", token), r.stdout
        return token

    def enrollment_token(self, *args):
        r = self.ok("token", "create", *args)
        token = r.stdout.strip()
        assert re.fullmatch(r"jhe_[0-9a-f]{16}_[0-9a-f]{64}", token), r.stdout
        return token


def enroll(hub, state, token, fingerprint=None, pin=True):
    """jitsud -d STATE --enroll URL TOKEN [--fingerprint FP], without a
    controlling terminal (its own session), so it can never prompt. Its
    network steps run as the test's privsep user (the hub fixture makes
    sure it exists)."""
    cmd = [JITSUD, "-d", state, "--privsep-user", PRIVSEP_USER, "--enroll", hub.url, token]
    if pin:
        cmd += ["--fingerprint", fingerprint or hub.fingerprint]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, start_new_session=True)


class Client:
    """jitsu ARGS as a user, in the background, without a terminal; its
    stderr is read as it arrives. stdin: subprocess.DEVNULL, or PIPE for a
    client that is given answers."""

    def __init__(self, user, args, daemon, stdin=subprocess.DEVNULL):
        uid, gid, extra = user_ids(user)
        self.p = subprocess.Popen(
            [JITSU, *args], user=uid, group=gid, extra_groups=extra,
            env={"JITSU_SOCKET": daemon.socket, "LANG": "C.UTF-8",
                 "PATH": "/usr/local/bin:/usr/bin:/bin"},
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        self.err = b""
        self.out = b""

    def expect(self, regex, timeout=15):
        """Reads stderr until regex matches; returns the match."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.p.stderr, selectors.EVENT_READ)
            while True:
                m = re.search(regex, self.err)
                if m:
                    return m
                left = deadline - time.monotonic()
                assert left > 0, "no %r on stderr in %ss: %r" % (regex, timeout, self.err)
                if sel.select(left):
                    chunk = os.read(self.p.stderr.fileno(), 4096)
                    assert chunk, "client exited (%s) without %r: %r" % (
                        self.p.wait(), regex, self.err)
                    self.err += chunk

    def request_id(self):
        return self.expect(WAITING).group(1).decode()

    def finish(self, timeout=15):
        """Waits for the exit; returns (status, stdout, all of stderr)."""
        out, err = self.p.communicate(timeout=timeout)
        self.out += out
        self.err += err
        return self.p.returncode, self.out, self.err

    def still_waiting(self, grace=0.5):
        """True if the client does not end within grace seconds."""
        try:
            self.p.wait(grace)
        except subprocess.TimeoutExpired:
            return True
        return False

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.communicate()


def audit_records(state):
    """jitsuctl -d STATE audit show --json, parsed."""
    r = subprocess.run([JITSUCTL, "-d", state, "audit", "show", "--json"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


# ---- fixtures: a real hub on each backend; test modules import them ----

@pytest.fixture(scope="module")
def pg_cluster():
    yield from pgcluster.cluster_fixture()


@pytest.fixture(params=["sqlite", "postgresql"])
def hub(request, workdir, users):
    """A FlowHub on SQLite, and again on PostgreSQL (skipped only when its
    server binaries are missing, and then a failure with JITSU_REQUIRE_PG=1)."""
    db = None
    if request.param == "postgresql":
        db = request.getfixturevalue("pg_cluster").create_db()
    h = FlowHub(os.path.join(workdir, "hub"), db).start()
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture
def ctl(hub, workdir):
    return Ctl(hub, workdir)
