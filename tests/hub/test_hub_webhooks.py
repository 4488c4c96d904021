"""jitsu-hub's webhooks (docs/hub.md, "Webhooks"): a new pending request is
POSTed to every configured URL, retried with backoff, and never holds up
the API. Receivers are small Python HTTP(S) servers on 127.0.0.1. Webhooks
do not touch the database, so these tests run on SQLite only."""
import http.server
import json
import os
import ssl
import subprocess
import threading
import time

import pytest

from conftest import HUB

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


class Receiver:
    """A webhook receiver on 127.0.0.1. Each POST is recorded as (monotonic
    time, path, headers, body) and answered with the next of `statuses`
    (200 once they run out), or, with hang=True, never answered."""

    def __init__(self, statuses=(), hang=False, cert=None, key=None):
        self.posts = []
        self.statuses = list(statuses)
        self.cond = threading.Condition()
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.cond:
                    outer.posts.append((time.monotonic(), self.path, dict(self.headers), body))
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    outer.cond.notify_all()
                if hang:
                    outer.release.wait(60)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.server.server_address[1], path)

    def wait_posts(self, n, timeout=10):
        with self.cond:
            self.cond.wait_for(lambda: len(self.posts) >= n, timeout)
            return list(self.posts)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    """receivers(**kw) -> a started Receiver; all closed afterwards."""
    made = []

    def make(**kw):
        made.append(Receiver(**kw))
        return made[-1]

    yield make
    for r in made:
        r.close()


def wait_log(hub, needle, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in hub.log_text(tail=None):
            return True
        time.sleep(0.1)
    return False


def test_pending_request_is_announced_to_every_webhook(hub_factory, workdir, receivers):
    a, b = receivers(), receivers()
    hub = hub_factory(start=False)
    hub.add_conf("webhook = %s\nwebhook = %s" % (a.url("/services/T0/B0/s3cr3tpath"),
                                                b.url("/b")))
    hub.start()
    _, ep = hub.enroll()
    body = {"user": "alice", "host": "db1.example.org",
            "argv": ["/usr/bin/psql", "-c", "select '<!channel>' & `id`"],
            "binary_sha256": "ab" * 32, "reason": "ticket <42> & co\u00e9",
            "rule": "/etc/jitsu/policy.conf:12", "approvals_needed": 2}
    r = hub.call("POST", "/api/v1/endpoint/requests", body, auth=ep)
    assert r.status == 201, r
    req = r.json
    for rcv, path in ((a, "/services/T0/B0/s3cr3tpath"), (b, "/b")):
        posts = rcv.wait_posts(1)
        assert len(posts) == 1, posts
        _, got_path, headers, raw = posts[0]
        assert got_path == path
        assert headers["Content-Type"] == "application/json"
        j = json.loads(raw)
        assert j["event"] == "request_pending"
        want = {k: req[k] for k in ("id", "endpoint_id", "user", "host", "argv",
                                    "binary_sha256", "reason", "rule", "approvals_needed",
                                    "state", "created_at", "expires_at")}
        assert j["request"] == want
        text = j["text"]
        for part in ("*alice*", "*db1.example.org*", req["id"], "Needs 2 approvals",
                     "ticket &lt;42&gt; &amp; co\u00e9"):
            assert part in text, (part, text)
        # Slack markup from the request is neutralised: no <!channel> ping, no
        # backtick closing the code span
        assert "<" not in text and ">" not in text
        assert "&lt;!channel&gt;" in text and text.count("`") == 2
    # Each delivery is logged once its answer is in: wait for both lines,
    # as either receiver may answer first.
    for rcv in (a, b):
        assert wait_log(hub, "webhook http://127.0.0.1:%d: request %s delivered (try 1)" % (
            rcv.server.server_address[1], req["id"]))
    log = hub.log_text(tail=None)
    assert "s3cr3tpath" not in log  # a webhook URL's path may be a secret


def test_webhook_retried_with_backoff(hub_factory, receivers):
    flaky = receivers(statuses=[500, 500])
    gone = receivers(statuses=[404])
    ignored = receivers()
    hub = hub_factory(start=False)
    hub.add_conf("webhook = " + ignored.url())  # replaced by --webhook
    hub.start("--webhook", flaky.url(), "--webhook", gone.url())
    _, ep = hub.enroll()
    req = hub.submit(ep)
    posts = flaky.wait_posts(3, timeout=10)
    assert len(posts) == 3, posts
    gaps = [posts[1][0] - posts[0][0], posts[2][0] - posts[1][0]]
    # The waits are at least the schedule's (1 s, then 2 s); the upper
    # bounds only catch a schedule gone wrong, with room for a loaded run.
    assert 0.8 <= gaps[0] < 5 and 1.8 <= gaps[1] < 6 and gaps[1] > gaps[0], gaps
    assert posts[0][3] == posts[1][3] == posts[2][3]
    assert json.loads(posts[2][3])["request"]["id"] == req["id"]
    assert wait_log(hub, "request %s delivered (try 3)" % req["id"])
    assert wait_log(hub, "giving up after try 1: HTTP status 404")
    # Stopped, the hub names any delivery it still held: none may be left,
    # and no receiver may have seen more than the counts below.
    hub.stop()
    assert len(flaky.posts) == 3  # done once delivered
    assert len(gone.posts) == 1  # a 4xx other than 408/429 is final
    assert len(ignored.posts) == 0
    log = hub.log_text(tail=None)
    assert "dropped undelivered" not in log
    assert "try 1 of 5 failed (HTTP status 500); next in 1 s" in log
    assert "try 2 of 5 failed (HTTP status 500); next in 2 s" in log
    assert "not delivered, giving up after try 1: HTTP status 404" in log


def test_hanging_webhook_does_not_slow_the_api(hub_factory, receivers):
    stuck = receivers(hang=True)
    hub = hub_factory(start=False)
    hub.add_conf("webhook = %s\nwebhook_queue = 5\nwebhook_timeout = 30" % stuck.url())
    hub.start()
    bob = hub.user("bob", "approver")
    _, ep = hub.enroll()
    slowest = 0
    for i in range(20):
        t = time.monotonic()
        req = hub.submit(ep)
        r = hub.call("POST", "/api/v1/requests/%s/approve" % req["id"], {}, auth=bob)
        assert r.status == 200
        slowest = max(slowest, time.monotonic() - t)
    t = time.monotonic()
    assert hub.call("GET", "/api/v1/health").status == 200
    slowest = max(slowest, time.monotonic() - t)
    # Held by the receiver, each call would take the 30 s webhook timeout.
    assert slowest < 10.0, slowest
    # five held (all on the wire, unanswered), fifteen dropped and logged
    assert len(stuck.wait_posts(5, timeout=5)) == 5
    assert hub.log_text(tail=None).count("queue full (5 deliveries held)") == 15
    t = time.monotonic()
    hub.stop()
    assert time.monotonic() - t < 8
    assert "webhook: stopping: 5 deliveries dropped undelivered" in hub.log_text(tail=None)


def serve_fails(hub, *args):
    r = subprocess.run([HUB, "serve", "--dir", hub.dir] + list(args), capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 1, r
    return r.stderr


def test_webhook_url_policy(hub_factory):
    hub = hub_factory(start=False)
    err = serve_fails(hub, "--webhook", "http://192.0.2.1/hook/s3cr3t")
    assert "only https://, or http:// to a loopback host" in err
    assert "s3cr3t" not in err
    assert "scheme ftp" in serve_fails(hub, "--webhook", "ftp://192.0.2.1/x")
    assert "not an absolute URL" in serve_fails(hub, "--webhook", "hooks.example.org/x")
    assert "control characters" in serve_fails(hub, "--webhook", "https://a/\x01")
    # allowed: https anywhere, http to loopback, http anywhere when asked for
    hub.start("--webhook", "http://192.0.2.1/hook", "--webhook-allow-http",
              "--webhook", "http://[::1]:9/x", "--webhook", "https://hooks.example.org/x")
    assert hub.call("GET", "/api/v1/health").status == 200
    hub.stop()
    hub.add_conf("webhook_ca = /nonexistent/ca.pem\nwebhook = https://hooks.example.org/x")
    assert "webhook_ca /nonexistent/ca.pem" in serve_fails(hub)


def test_https_webhook_verifies_the_certificate(hub_factory, receivers):
    hub = hub_factory(start=False)
    # The hub's own self-signed pair (SAN 127.0.0.1) serves the receiver:
    # not in the system CA store, so refused until webhook_ca names it.
    rcv = receivers(cert=hub.cert, key=os.path.join(hub.dir, "tls.key"))
    hub.add_conf("webhook = %s\nwebhook_tries = 1" % rcv.url())
    hub.start()
    _, ep = hub.enroll()
    first = hub.submit(ep)
    assert wait_log(hub, "request %s not delivered, giving up after try 1" % first["id"])
    assert "certificate" in hub.log_text().rsplit("giving up", 1)[1].splitlines()[0]
    assert rcv.posts == []
    hub.stop()
    hub.add_conf("webhook_ca = " + hub.cert)
    hub.start()
    second = hub.submit(ep)
    posts = rcv.wait_posts(1)
    assert len(posts) == 1 and json.loads(posts[0][3])["request"]["id"] == second["id"]
