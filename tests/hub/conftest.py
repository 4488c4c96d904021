"""Harness for jitsu-hub's API tests: a real hub over TLS on loopback.

Every test that takes the `hub` fixture runs twice, once on SQLite and once
on PostgreSQL (a throw-away cluster, tests/hub/pgcluster.py, started once
per session; a fresh database per test). The hub listens on 127.0.0.1 with
port 0 and reports the port it got on its "listening:" line; clients pin
its self-signed certificate as their only CA (ssl cafile).

JITSU_BUILD names the build directory whose jitsu-hub is tested (default
build/ at the top of the checkout), so the same suite runs on the normal and
the sanitizer builds.
"""
import json
import os
import selectors
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pgcluster  # noqa: E402

TOP = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("JITSU_BUILD", os.path.join(TOP, "build")))
HUB = os.path.join(BUILD, "hub", "jitsu-hub")
# Opt-in: a command prepended to `jitsu-hub serve` (scripts/valgrind.sh sets
# it to valgrind); waits are stretched when it is set.
WRAP = shlex.split(os.environ.get("JITSU_WRAP", ""))
SLOW = 10 if WRAP else 1
START_TIMEOUT = 20 * SLOW


class Reply:
    """An HTTP answer: status and parsed JSON body (None if not JSON)."""

    def __init__(self, status, raw):
        self.status = status
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    @property
    def code(self):
        """The stable error code of an error answer."""
        return (self.json or {}).get("error", {}).get("code")

    def __repr__(self):
        return "Reply(%d, %r)" % (self.status, self.raw[:300])


class Hub:
    """One jitsu-hub: init once, then start/stop/restart `serve`."""

    def __init__(self, workdir, db=None):
        self.dir = os.path.join(workdir, "hub")
        self.db = db
        self.proc = None
        self.url = None
        self.serve_args = []
        args = [HUB, "init", "--dir", self.dir, "--listen", "127.0.0.1:0"]
        if db:
            args += ["--db", db]
        out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60)
        self.init_out = out.stdout
        self.info = dict(line.split(": ", 1) for line in out.stdout.splitlines())
        self.admin_token = self.info["admin-token"]
        self.cert = os.path.join(self.dir, "tls.crt")
        self.ctx = ssl.create_default_context(cafile=self.cert)

    @classmethod
    def copy_of(cls, other, workdir, name):
        """Another hub with other's settings (so its database and TLS pair),
        in workdir/name: a second `serve` for the same database."""
        h = cls.__new__(cls)
        h.dir = os.path.join(workdir, name)
        os.mkdir(h.dir, 0o700)
        shutil.copy2(os.path.join(other.dir, "hub.conf"), h.dir)
        for attr in ("db", "init_out", "info", "admin_token", "cert", "ctx"):
            setattr(h, attr, getattr(other, attr))
        h.proc = h.url = None
        h.serve_args = []
        return h

    def add_conf(self, text):
        """Appends lines to hub.conf (read by the next start)."""
        with open(os.path.join(self.dir, "hub.conf"), "a") as f:
            f.write(text.rstrip("\n") + "\n")

    def start(self, *args):
        return self.launch(*args).wait_listening()

    def launch(self, *args):
        """Starts `serve` without waiting for it (wait_listening() does)."""
        self.serve_args = list(args)
        self.log = open(os.path.join(self.dir, "serve.log"), "ab")
        self.proc = subprocess.Popen([*WRAP, HUB, "serve", "--dir", self.dir] + self.serve_args,
                                     stdout=subprocess.PIPE, stderr=self.log)
        return self

    def wait_listening(self):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            if sel.select(0.2):
                chunk = os.read(self.proc.stdout.fileno(), 256)
                if not chunk:
                    break
                line += chunk
        sel.close()
        if not line.startswith(b"listening: "):
            self.stop(check=False)
            raise RuntimeError("jitsu-hub did not start: %r\n%s" % (line, self.log_text()))
        self.url = line.decode().split(": ", 1)[1].strip()
        self.host, port = self.url[len("https://"):].rsplit(":", 1)
        self.port = int(port)
        return self

    def stop(self, check=True):
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    raise AssertionError("jitsu-hub did not stop on SIGTERM")
        rc = self.proc.returncode
        self.proc.stdout.close()
        self.log.close()
        self.proc = None
        if check and rc != 0:
            raise AssertionError("jitsu-hub exited %d:\n%s" % (rc, self.log_text()))

    def restart(self):
        self.stop()
        return self.start(*self.serve_args)

    def log_text(self, tail=4000):
        """The end of serve's log (all of it with tail=None)."""
        try:
            with open(os.path.join(self.dir, "serve.log"), "rb") as f:
                return f.read()[-tail if tail else 0:].decode(errors="replace")
        except OSError:
            return ""

    # ---- HTTP ----

    def call(self, method, path, body=None, auth=None, raw=None, headers=None, timeout=30):
        """One request; returns a Reply (errors too, never raises on HTTP status)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", auth)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as r:
                return Reply(r.status, r.read())
        except urllib.error.HTTPError as e:
            return Reply(e.code, e.read())

    # ---- conveniences built on the API ----

    def admin(self):
        return "Bearer " + self.admin_token

    def user(self, name, role):
        """Creates a user; returns its Authorization header value."""
        r = self.call("POST", "/api/v1/users", {"name": name, "role": role}, auth=self.admin())
        assert r.status == 201, r
        return "Bearer " + r.json["token"]

    def enrollment_token(self, ttl=None):
        body = {} if ttl is None else {"ttl": ttl}
        r = self.call("POST", "/api/v1/enrollment-tokens", body, auth=self.admin())
        assert r.status == 201, r
        return r.json["token"]

    def enroll(self, hostname="db1.example.org", token=None):
        """Enrolls an endpoint; returns (endpoint_id, Authorization value)."""
        token = token or self.enrollment_token()
        r = self.call("POST", "/api/v1/enroll", enroll_body(token, hostname))
        assert r.status == 201, r
        return r.json["endpoint_id"], "Endpoint %s:%s" % (r.json["endpoint_id"],
                                                          r.json["credential"])

    def submit(self, endpoint_auth, user="alice", needed=1, argv=None):
        body = {
            "user": user, "host": "db1.example.org",
            "argv": argv or ["/usr/bin/systemctl", "restart", "postgresql"],
            "binary_sha256": "ab" * 32, "reason": "ticket 42",
            "rule": "/etc/jitsu/policy.conf:12", "approvals_needed": needed,
        }
        r = self.call("POST", "/api/v1/endpoint/requests", body, auth=endpoint_auth)
        assert r.status == 201, r
        return r.json


class Waiter(threading.Thread):
    """A long-poll in the background: GET ...?wait=S; .reply and .done_at."""

    def __init__(self, hub, auth, request_id, wait=30):
        super().__init__(daemon=True)
        self.args = (hub, auth, request_id, wait)
        self.reply = None
        self.done_at = None

    def run(self):
        hub, auth, rid, wait = self.args
        self.reply = hub.call("GET", "/api/v1/endpoint/requests/%s?wait=%d" % (rid, wait),
                              auth=auth, timeout=wait + 30)
        self.done_at = time.monotonic()


def start_waiter(hub, auth, rid, wait=30):
    w = Waiter(hub, auth, rid, wait)
    w.start()
    time.sleep(0.5)  # let it reach the hub and suspend
    assert w.is_alive(), "the long-poll answered before any decision: %r" % w.reply
    return w


def enroll_body(token, hostname="db1.example.org"):
    return {"token": token, "hostname": hostname, "machine_id": "0123456789abcdef" * 2,
            "os": "Debian GNU/Linux 12 (bookworm)", "kernel": "6.1.0-18-amd64",
            "agent_version": "0.1.0"}


@pytest.fixture(scope="session")
def pg_cluster():
    yield from pgcluster.cluster_fixture()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


@pytest.fixture
def db_url(backend, request):
    """None for SQLite (the hub's default file), a fresh database for PostgreSQL."""
    if backend == "sqlite":
        return None
    return request.getfixturevalue("pg_cluster").create_db()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="jitsu-hub-test-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def hub_factory(workdir, db_url):
    """hub_factory(*serve_args) -> a started Hub; stopped (exit 0 checked)
    afterwards. hub_factory(start=False): initialised only, so that a test
    can add to hub.conf first."""
    hubs = []

    def make(*args, start=True):
        assert not hubs, "one hub per test"
        h = Hub(workdir, db_url)
        hubs.append(h)
        return h.start(*args) if start else h

    yield make
    for h in hubs:
        h.stop()


@pytest.fixture
def hub(hub_factory):
    return hub_factory()
