"""The audit trail end to end: a real jitsud writes it, jitsuctl checks it.

Every test reads the log twice: through the product (`jitsuctl audit verify`
and `show --json`) and through an independent reader written here from
docs/audit-format.md alone (hash chain, lossless strings, canonical form),
so a bug shared by the writer and the product's verifier still shows.

Synchronisation is on sd_notify READY (conftest), on lines the commands
print, and on conditions polled with a deadline; never on a fixed sleep.
"""
import base64
import concurrent.futures
import errno
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import JITSU, JITSUCTL, JITSUD, PRIVSEP_USER, Daemon, jitsu, user_ids

POLICY = """
permit {alice} as root
permit {alice} as {bob} cmd /usr/bin/id
deny {alice} cmd /usr/bin/passwd
permit reason {carol} cmd /usr/bin/true
permit {carol} cmd /usr/bin/echo
"""
# Line numbers of the rules above in the policy file (it starts with "\n").
LINE_ROOT, LINE_AS_BOB, LINE_DENY = 2, 3, 4

SH = os.path.realpath("/usr/bin/sh")
ZERO = "0" * 64
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
OK_RE = re.compile(r"^OK (\d+) records, (\d+) seals$")
BAD_RE = re.compile(r"^BAD seq (\d+): ")
TAIL_LEN = len(',"hash":"') + 64 + 2


# ---- an independent reader of the format --------------------------------

def _no_dups(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "duplicate keys in %r" % keys
    return dict(pairs)


def _ucase(b):
    """JSON escapes normalised where the format leaves a choice: the case of
    \\uXXXX hex digits, and DEL (0x7f) raw or escaped."""
    b = re.sub(rb"\\u[0-9a-fA-F]{4}", lambda m: m.group(0).lower(), b)
    return b.replace(b"\\u007f", b"\x7f")


def chain(data, prev=bytes(32), first_seq=1):
    """Checks log bytes as docs/audit-format.md specifies; returns the
    records (dicts) in order. Fails the test on the first problem."""
    assert data == b"" or data.endswith(b"\n"), "log does not end with a newline"
    recs = []
    for n, line in enumerate(data.split(b"\n")[:-1]):
        assert all(0x20 <= c <= 0x7f for c in line), "line %d is not printable ASCII" % n
        head, tail = line[:-TAIL_LEN], line[-TAIL_LEN:]
        assert tail.startswith(b',"hash":"') and tail.endswith(b'"}'), line
        rec = json.loads(line, object_pairs_hook=_no_dups)
        assert list(rec)[-1] == "hash"
        body = [k for k in rec if k != "hash"]
        assert body == sorted(body), "keys not sorted: %r" % body
        # Canonical: re-dumping compactly with sorted keys gives the bytes
        # (up to the case of \uXXXX hex digits, which the format leaves open).
        again = json.dumps(rec, separators=(",", ":"), ensure_ascii=True).encode()
        assert _ucase(again) == _ucase(line), line
        assert bytes.fromhex(rec["prev"]) == prev, "seq %s: prev" % rec.get("seq")
        h = hashlib.sha256(prev + head + b"}").digest()
        assert h.hex() == rec["hash"], "seq %s: hash" % rec.get("seq")
        assert rec["v"] == 1
        assert rec["seq"] == first_seq + n, "seq %s at line %d" % (rec["seq"], n)
        assert TIME_RE.match(rec["time"]), rec["time"]
        assert re.match(r"^[a-z0-9_]{1,32}$", rec["event"])
        prev = h
        recs.append(rec)
    return recs


def log_files(state):
    """The trail's files in chain order: rotated ones by name, then audit.log."""
    d = os.path.join(state, "audit")
    rotated = sorted(f for f in os.listdir(d) if re.match(r"^audit-\d{20}\.log$", f))
    return [os.path.join(d, f) for f in rotated + ["audit.log"]]


def read_log(state):
    data = b""
    for f in log_files(state):
        with open(f, "rb") as fh:
            data += fh.read()
    return data


def records(state):
    return chain(read_log(state))


def dec(v):
    """A lossless string: a JSON string (valid UTF-8, no NUL) or {"b64": ...}
    only for bytes that are not (canonical base64)."""
    if isinstance(v, str):
        assert "\0" not in v
        return v.encode("utf-8")  # a lone surrogate would raise here
    assert isinstance(v, dict) and list(v) == ["b64"], v
    b = base64.b64decode(v["b64"], validate=True)
    assert base64.b64encode(b).decode() == v["b64"], "non-canonical base64"
    try:
        b.decode("utf-8")
        assert b"\0" in b, "valid UTF-8 written as b64: %r" % b
    except UnicodeDecodeError:
        pass
    return b


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ctl(state, *args, input=None, timeout=60):
    return subprocess.run([JITSUCTL, "-d", state, "audit", *args], capture_output=True,
                          input=input, timeout=timeout)


def verify_ok(state, *keys):
    """Runs jitsuctl audit verify; asserts OK; returns (records, seals, out)."""
    args = []
    for k in keys:
        args += ["--key", k]
    r = ctl(state, "verify", *args)
    out = r.stdout.decode()
    assert r.returncode == 0, (out, r.stderr)
    m = OK_RE.match(out.splitlines()[0])
    assert m, out
    return int(m.group(1)), int(m.group(2)), out


def verify_bad(state):
    """Runs verify on a damaged trail; returns the bad seq it names."""
    r = ctl(state, "verify")
    out = r.stdout.decode()
    assert r.returncode == 1, (r.returncode, out, r.stderr)
    m = BAD_RE.match(out)
    assert m, out
    return int(m.group(1)), out


def of(recs, event, **match):
    return [r for r in recs if r["event"] == event and all(r.get(k) == v for k, v in match.items())]


def live_records(state):
    """The records while jitsud may be appending: complete lines only."""
    data = read_log(state)
    return chain(data[:data.rfind(b"\n") + 1])


def wait_records(state, pred, timeout=20):
    """Polls the trail until pred(records) holds; returns the records. The
    exit record is written after the client is told, so the client's own
    exit does not mean the record is in yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            recs = live_records(state)
        except (AssertionError, OSError, ValueError):
            # A rotation between listing and reading the files: read again,
            # but a trail that stays bad fails the test.
            if time.monotonic() > deadline:
                raise
        else:
            if pred(recs):
                return recs
            assert time.monotonic() < deadline, "trail never satisfied the condition: %r" % [
                (r["seq"], r["event"]) for r in recs[-8:]]
        time.sleep(0.01)


def exits(n):
    return lambda recs: len(of(recs, "exit")) >= n


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory(POLICY)


def uid_of(user):
    return user_ids(user)[0]


# ---- 1. records are on disk before the command runs ------------------------

def test_records_written_before_exec(users, daemon):
    log = os.path.join(daemon.state, "audit", "audit.log")
    script = "echo PID:$$; cat %s" % log
    r = jitsu(users["alice"], ["sh", "-c", script], daemon)
    assert r.returncode == 0, r.stderr
    first, _, printed = r.stdout.partition(b"\n")
    m = re.match(rb"^PID:(\d+)$", first)
    assert m, r.stdout
    pid = int(m.group(1))
    # What the command itself saw: a whole, valid chain ending in its start.
    seen = chain(printed)
    last = seen[-1]
    assert last["event"] == "start" and last["pid"] == pid, last
    req = of(seen, "request", argv=["sh", "-c", script])
    assert len(req) == 1
    client = req[0]["client_pid"]
    dec_ = of(seen, "decision", client_pid=client)
    assert len(dec_) == 1 and dec_[0]["decision"] == "permit"
    assert req[0]["seq"] < dec_[0]["seq"] < last["seq"]
    assert last["client_pid"] == client
    assert not of(seen, "exit")
    # Afterwards the exit follows, and what the command saw is a prefix.
    after = wait_records(daemon.state, lambda rs: of(rs, "exit", pid=pid))
    assert after[:len(seen)] == seen
    ex = of(after, "exit", pid=pid)
    assert len(ex) == 1 and ex[0]["status"] == 0 and "signal" not in ex[0]


# ---- 1. the members of request, decision, start and exit ------------------

def test_request_decision_exit_fields(users, daemon, workdir):
    alice = users["alice"]
    reason = 'ticket 42: "quoted" \\ and\nnewline'
    r = jitsu(alice, ["-r", reason, "sh", "-c", "exit 3"], daemon, cwd=workdir)
    assert r.returncode == 3, r.stderr
    r = jitsu(alice, ["sh", "-c", "kill -TERM $$"], daemon)
    assert r.returncode == 128 + signal.SIGTERM
    r = jitsu(alice, ["-u", users["bob"], "id", "-un"], daemon)
    assert r.returncode == 0 and r.stdout.decode().strip() == users["bob"], r.stderr
    r = jitsu(alice, ["passwd", "-S", "root"], daemon)
    assert r.returncode == 1
    r = jitsu(users["bob"], ["id"], daemon)  # no rule at all
    assert r.returncode == 1

    recs = wait_records(daemon.state, exits(3))
    with open(daemon.policy, "rb") as f:
        policy_sha = hashlib.sha256(f.read()).hexdigest()
    machine_id = open("/etc/machine-id").read().strip()
    for rec in recs:
        assert rec["host"] == socket.gethostname()
        assert rec["machine_id"] == machine_id
    assert recs[0]["prev"] == ZERO and recs[0]["event"] == "daemon_start"
    assert recs[0]["policy_sha256"] == policy_sha

    # exit 3, with a reason, from workdir
    req = of(recs, "request", argv=["sh", "-c", "exit 3"])
    assert len(req) == 1
    req = req[0]
    assert dec(req["user"]) == alice.encode() and req["uid"] == uid_of(alice)
    assert req["target"] == "root" and req["cwd"] == workdir and req["tty"] == ""
    assert dec(req["reason"]) == reason.encode()
    client = req["client_pid"]
    d = of(recs, "decision", client_pid=client)
    assert len(d) == 1
    d = d[0]
    assert d["decision"] == "permit"
    assert d["rule"] == "%s:%d" % (daemon.policy, LINE_ROOT)
    assert d["binary"] == SH and d["binary_sha256"] == sha256_file(SH)
    assert d["policy_sha256"] == policy_sha
    assert d["user"] == alice and d["uid"] == uid_of(alice)
    st = of(recs, "start", client_pid=client)
    assert len(st) == 1 and st[0]["binary"] == SH and st[0]["target"] == "root"
    ex = of(recs, "exit", client_pid=client)
    assert len(ex) == 1 and ex[0]["pid"] == st[0]["pid"]
    assert ex[0]["status"] == 3 and "signal" not in ex[0]
    assert isinstance(ex[0]["duration_us"], int) and ex[0]["duration_us"] >= 0
    assert req["seq"] < d["seq"] < st[0]["seq"] < ex[0]["seq"]

    # killed by SIGTERM: signal, not status; no reason given: ""
    req = of(recs, "request", argv=["sh", "-c", "kill -TERM $$"])
    assert len(req) == 1 and req[0]["reason"] == "" and req[0]["cwd"] == "/"
    ex = of(recs, "exit", client_pid=req[0]["client_pid"])
    assert len(ex) == 1 and ex[0]["signal"] == signal.SIGTERM and "status" not in ex[0]

    # another target
    req = of(recs, "request", argv=["id", "-un"])
    assert len(req) == 1 and req[0]["target"] == users["bob"]
    d = of(recs, "decision", client_pid=req[0]["client_pid"])
    assert d[0]["rule"] == "%s:%d" % (daemon.policy, LINE_AS_BOB)
    assert d[0]["binary"] == "/usr/bin/id"
    assert d[0]["binary_sha256"] == sha256_file("/usr/bin/id")
    st = of(recs, "start", client_pid=req[0]["client_pid"])
    assert len(st) == 1 and st[0]["target"] == users["bob"]

    # a deny rule: the rule that denied; no start, no exit
    req = of(recs, "request", argv=["passwd", "-S", "root"])
    assert len(req) == 1
    c = req[0]["client_pid"]
    d = of(recs, "decision", client_pid=c)
    assert len(d) == 1 and d[0]["decision"] == "deny"
    assert d[0]["rule"] == "%s:%d" % (daemon.policy, LINE_DENY)
    assert d[0]["binary"] == "/usr/bin/passwd"
    assert d[0]["binary_sha256"] == sha256_file("/usr/bin/passwd")
    assert not of(recs, "start", client_pid=c) and not of(recs, "exit", client_pid=c)

    # no rule: deny without a rule
    req = of(recs, "request", user=users["bob"])
    assert len(req) == 1 and req[0]["argv"] == ["id"]
    d = of(recs, "decision", client_pid=req[0]["client_pid"])
    assert len(d) == 1 and d[0]["decision"] == "deny" and "rule" not in d[0]


def test_decision_follows_its_request(users, daemon, workdir):
    # docs/audit-format.md: the request's members are in the request record
    # just before the decision, from the same client_pid.
    r = jitsu(users["alice"], ["-r", "why", "passwd", "-S", "root"], daemon, cwd=workdir)
    assert r.returncode == 1
    recs = live_records(daemon.state)
    req = of(recs, "request", argv=["passwd", "-S", "root"])[0]
    d = of(recs, "decision", client_pid=req["client_pid"])[0]
    assert d["seq"] == req["seq"] + 1
    assert req["cwd"] == workdir and req["reason"] == "why" and req["target"] == "root"


def test_decision_has_binary(users, daemon):
    r = jitsu(users["alice"], ["id", "-u"], daemon)
    assert r.returncode == 0
    recs = live_records(daemon.state)
    req = of(recs, "request", argv=["id", "-u"])[0]
    d = of(recs, "decision", client_pid=req["client_pid"])[0]
    assert d.get("binary") == "/usr/bin/id"
    assert d.get("binary_sha256") == sha256_file("/usr/bin/id")
    assert "binary" not in req


def test_daemon_records_have_version(users, daemon):
    daemon.reload()
    daemon.stop()
    recs = records(daemon.state)
    for ev in ("daemon_start", "policy_reload", "daemon_stop"):
        (rec,) = of(recs, ev)
        assert rec["policy_sha256"] == sha256_file(daemon.policy)
        assert isinstance(rec.get("version"), str) and rec["version"], (ev, rec)


# ---- 2. verify after a mix of permits, denials and refusals ---------------

def _mixed_traffic(users, d):
    """Permits, denials and refusals; None: any non-zero status."""
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    for user, args, want in [
        (alice, ["true"], 0),
        (alice, ["passwd", "-S", "root"], 1),            # deny rule
        (bob, ["id"], 1),                                 # no rule
        (carol, ["true"], 1),                             # permit, then refused: no reason
        (carol, ["-r", "ticket 1", "true"], 0),
        (alice, ["no-such-command-jitsu"], 127),          # refused before a decision
        (alice, ["-u", "nosuchuser-jitsu", "id"], None),  # unknown target
        (alice, ["sh", "-c", "exit 7"], 7),
    ]:
        r = jitsu(user, args, d)
        if want is None:
            assert r.returncode != 0, (args, r.stderr)
        else:
            assert r.returncode == want, (args, r.stderr)


def test_verify_after_mixed_traffic(users, daemon_factory):
    d = daemon_factory(POLICY, start=False)
    # Sealing key first, as an administrator would.
    r = ctl(d.state, "setup")
    assert r.returncode == 0, r.stderr
    m = re.match(r"^verification-key: ([0-9a-f]{96})\n$", r.stdout.decode())
    assert m, r.stdout
    key = m.group(1)
    assert key.encode() not in r.stderr
    d.start()
    _mixed_traffic(users, d)
    recs = wait_records(d.state, exits(3))
    assert recs[0]["event"] == "key_setup" and recs[1]["event"] == "daemon_start"
    carol_refused = of(recs, "refused", user=users["carol"])
    assert len(carol_refused) == 1 and "reason is required" in carol_refused[0]["why"]
    assert len(of(recs, "decision", decision="refused")) == 2  # not found, unknown target

    # while the daemon runs
    n, seals, out = verify_ok(d.state)
    assert n == len(recs) and seals == 0
    n, seals, out = verify_ok(d.state, key)
    assert n == len(recs)
    assert "not sealed yet" in out

    # after a clean stop: daemon_stop, then a seal that --key checks
    d.stop()
    recs = records(d.state)
    assert [r["event"] for r in recs[-2:]] == ["daemon_stop", "seal"]
    n, seals, out = verify_ok(d.state, key)
    assert (n, seals) == (len(recs), 1)
    n, seals, out = verify_ok(d.state)
    assert "seals not checked" in out
    # The key can come from stdin too.
    r = ctl(d.state, "verify", "--key", "-", input=(key + "\n").encode())
    assert r.returncode == 0 and OK_RE.match(r.stdout.decode().splitlines()[0]), r.stdout

    # A mistyped key is reported as such; another trail's key fails the seal.
    typo = key[:10] + ("0" if key[10] != "0" else "1") + key[11:]
    r = ctl(d.state, "verify", "--key", typo)
    assert r.returncode == 1 and r.stdout == b"", r.stdout
    assert b"checksum is wrong" in r.stderr, r.stderr
    other = os.path.join(d.dir, "other-state")
    r = ctl(other, "setup")
    assert r.returncode == 0
    other_key = r.stdout.decode().split()[1]
    r = ctl(d.state, "verify", "--key", other_key)
    assert r.returncode == 1
    m = BAD_RE.match(r.stdout.decode())
    assert m and int(m.group(1)) == recs[-1]["seq"], r.stdout


def test_verify_without_setup(users, daemon):
    _mixed_traffic(users, daemon)
    wait_records(daemon.state, exits(3))
    daemon.stop()
    recs = records(daemon.state)
    n, seals, _ = verify_ok(daemon.state)
    assert (n, seals) == (len(recs), 0)
    assert [r["event"] for r in recs[-1:]] == ["daemon_stop"]


# ---- 3. tampering with a real, daemon-written log -------------------------

def _tamper_setup(users, daemon):
    for i in range(3):
        r = jitsu(users["alice"], ["sh", "-c", "exit %d" % i], daemon)
        assert r.returncode == i
    assert jitsu(users["bob"], ["id"], daemon).returncode == 1
    wait_records(daemon.state, exits(3))
    daemon.stop()
    path = os.path.join(daemon.state, "audit", "audit.log")
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")[:-1]
    assert len(lines) >= 12
    n, _, _ = verify_ok(daemon.state)
    assert n == len(lines)
    return path, lines


def _write(path, lines):
    with open(path, "wb") as f:
        f.write(b"".join(l + b"\n" for l in lines))


def _flip_in_user(line):
    """Flips one bit of the first letter of the user name: still JSON."""
    i = line.index(b'"user":"') + len(b'"user":"')
    return line[:i] + bytes([line[i] ^ 0x01]) + line[i + 1:]


@pytest.mark.parametrize("how", ["flip", "flip_hash", "delete", "swap", "rechain", "truncate_head"])
def test_tamper_detected(users, daemon, how):
    path, lines = _tamper_setup(users, daemon)
    seqs = [json.loads(l)["seq"] for l in lines]
    assert seqs == list(range(1, len(lines) + 1))
    # an old record: the second request (seq >= 3), not the last lines
    k = [i for i, l in enumerate(lines) if b'"event":"request"' in l][1]
    assert 2 <= k < len(lines) - 4
    seq = k + 1
    if how == "flip":
        lines[k] = _flip_in_user(lines[k])
        want = seq
    elif how == "flip_hash":  # the stored hash itself
        i = len(lines[k]) - 5
        lines[k] = lines[k][:i] + (b"0" if lines[k][i:i + 1] != b"0" else b"1") + lines[k][i + 1:]
        want = seq
    elif how == "delete":
        del lines[k]
        want = seq
    elif how == "swap":
        lines[k], lines[k + 1] = lines[k + 1], lines[k]
        want = seq
    elif how == "rechain":
        # Change a record and fix its own hash, as someone without the
        # later records' cooperation would: the next link breaks.
        t = _flip_in_user(lines[k])
        head = t[:-TAIL_LEN]
        prev = bytes.fromhex(json.loads(t)["prev"])
        h = hashlib.sha256(prev + head + b"}").hexdigest().encode()
        lines[k] = head + b',"hash":"' + h + b'"}'
        chain(b"".join(l + b"\n" for l in lines[:k + 1]))  # a valid prefix
        want = seq + 1
    elif how == "truncate_head":  # the first records gone, no rotate record
        del lines[:2]
        want = 2
    _write(path, lines)
    bad, out = verify_bad(daemon.state)
    assert bad == want, out


def _rechain(lines, k):
    """Rewrites every link from line k on, as root without the key can."""
    prev = bytes.fromhex(json.loads(lines[k])["prev"])
    for i in range(k, len(lines)):
        old_prev = json.loads(lines[i])["prev"].encode()
        line = lines[i].replace(b'"prev":"' + old_prev + b'"', b'"prev":"' + prev.hex().encode()
                                + b'"')
        head = line[:-TAIL_LEN]
        h = hashlib.sha256(prev + head + b"}").digest()
        lines[i] = head + b',"hash":"' + h.hex().encode() + b'"}'
        prev = h
    return lines


def test_rechained_trail_caught_by_seal(users, daemon_factory):
    """Changing an old record and recomputing the whole chain after it
    fools a chain-only verify (the documented limit), not the sealed one."""
    d = daemon_factory(POLICY, start=False)
    r = ctl(d.state, "setup")
    assert r.returncode == 0, r.stderr
    key = r.stdout.decode().split()[1]
    d.start()
    _tamper_setup(users, d)  # stops the daemon: the last record is a seal
    path = os.path.join(d.state, "audit", "audit.log")
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")[:-1]
    seal_seq = json.loads(lines[-1])["seq"]
    assert json.loads(lines[-1])["event"] == "seal"
    k = [i for i, l in enumerate(lines) if b'"event":"request"' in l][0]
    lines[k] = _flip_in_user(lines[k])
    _write(path, _rechain(lines, k))
    records(d.state)  # a perfectly good chain
    verify_ok(d.state)
    r = ctl(d.state, "verify", "--key", key)
    assert r.returncode == 1, r.stdout
    m = BAD_RE.match(r.stdout.decode())
    assert m and int(m.group(1)) == seal_seq, r.stdout
    assert b"seal does not match" in r.stdout


# ---- 4. argv edge cases survive exactly -----------------------------------

ODD_ARGS = [
    b"line one\nline two",
    b"",
    b"tab\there",
    b"'single' \"double\" `back`",
    b"trailing backslash\\",
    b"\\",
    b"\xff\xfe",
    b"ok\xffthen",
    b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",   # valid UTF-8
    b"\xed\xa0\x80",                                 # an encoded surrogate: not UTF-8
    b"\xc0\xaf",                                     # overlong '/': not UTF-8
    b"\x1b[31mred\x1b[0m\x07",
    b"del\x7f",
    b'{"b64":"AAAA"}',
    b"--",
    b"-r",
]


def test_argv_round_trip(users, daemon):
    argv = [b"true"] + ODD_ARGS
    reason = b"why:\n\"\\\xff"
    r = jitsu(users["alice"], [b"-r", reason] + argv, daemon)
    assert r.returncode == 0, r.stderr

    recs = wait_records(daemon.state, exits(1))
    reqs = of(recs, "request")
    assert len(reqs) == 1
    got = [dec(v) for v in reqs[0]["argv"]]
    assert got == argv
    assert dec(reqs[0]["reason"]) == reason
    # b64 exactly for the bytes that are not UTF-8
    for sent, stored in zip(argv, reqs[0]["argv"]):
        try:
            sent.decode("utf-8")
            assert isinstance(stored, str), (sent, stored)
        except UnicodeDecodeError:
            assert stored == {"b64": base64.b64encode(sent).decode()}, (sent, stored)

    # show --json prints the stored lines, one per record
    r = ctl(daemon.state, "show", "--json")
    assert r.returncode == 0, r.stderr
    assert r.stdout == read_log(daemon.state)
    shown = [json.loads(l) for l in r.stdout.splitlines()]
    assert [dec(v) for v in of(shown, "request")[0]["argv"]] == argv

    # the human view escapes everything outside printable ASCII
    r = ctl(daemon.state, "show")
    assert r.returncode == 0, r.stderr
    assert all(0x20 <= c < 0x7f or c == 0x0a for c in r.stdout), r.stdout
    assert len(r.stdout.splitlines()) == len(recs)
    r = ctl(daemon.state, "show", "--json", "--user", users["alice"])
    assert r.returncode == 0
    assert {json.loads(l)["event"] for l in r.stdout.splitlines()} == \
        {"request", "decision", "start", "exit"}
    verify_ok(daemon.state)


def test_long_argv_round_trip(users, daemon):
    argv = [b"true"] + [bytes([i % 256 or 1]) * 7 + b"\n" for i in range(1, 300)]
    r = jitsu(users["alice"], argv, daemon)
    assert r.returncode == 0, r.stderr
    req = of(wait_records(daemon.state, exits(1)), "request")
    assert [dec(v) for v in req[0]["argv"]] == argv
    verify_ok(daemon.state)


# ---- 5. a full file system: fail closed, then recover ----------------------

@pytest.fixture
def tmpfs_state(workdir):
    path = os.path.join(workdir, "state-tmpfs")
    os.mkdir(path, 0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", path],
                   check=True)
    try:
        yield path
    finally:
        # jitsud's spare processes leave shortly after it stops.
        deadline = time.monotonic() + 10
        while subprocess.run(["umount", path], stderr=subprocess.DEVNULL).returncode != 0:
            if time.monotonic() > deadline:
                subprocess.run(["umount", "-l", path], check=True)
                break
            time.sleep(0.05)


def _fill(path):
    """Writes path until the file system says ENOSPC; returns its size."""
    chunk = b"\0" * 4096
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
        for n in (1024, 64, 1):  # whatever is left of a page
            try:
                while True:
                    f.write(chunk[:n])
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    return os.path.getsize(path)


def test_full_filesystem_fails_closed(users, workdir, tmpfs_state):
    d = Daemon(workdir, POLICY)
    d.state = tmpfs_state
    try:
        d.start()
        alice = users["alice"]
        assert jitsu(alice, ["true"], d).returncode == 0
        filler = os.path.join(tmpfs_state, "filler")
        assert _fill(filler) > 0
        # audit.log may still have room in its last page; each elevation
        # needs ~1.5 KiB, so within a few attempts one must be refused.
        ran = refused = 0
        for i in range(8):
            marker = os.path.join(workdir, "marker-%d" % i)
            r = jitsu(alice, ["touch", marker], d)
            if r.returncode == 0:
                assert os.path.exists(marker)
                ran += 1
                continue
            assert b"audit trail unavailable" in r.stderr, r.stderr
            assert not os.path.exists(marker), "a command ran without its audit record"
            refused += 1
            if refused == 3:
                break
        assert refused == 3, "no elevation refused on a full file system"
        # every command that ran has its start record; the trail is intact
        recs = live_records(tmpfs_state)
        assert len(of(recs, "start")) == 1 + ran
        verify_ok(tmpfs_state)
        # A plain `true` is refused too, with the same reason.
        r = jitsu(alice, ["true"], d)
        assert r.returncode != 0 and b"audit trail unavailable" in r.stderr
        assert d.proc.poll() is None, "jitsud died on a full file system"

        os.unlink(filler)
        marker = os.path.join(workdir, "marker-after")
        r = jitsu(alice, ["touch", marker], d)
        assert r.returncode == 0, r.stderr
        assert os.path.exists(marker)
        recs = live_records(tmpfs_state)
        assert len(of(recs, "start")) == 2 + ran
        last = of(recs, "start")[-1]
        recs = wait_records(tmpfs_state, lambda rs: of(rs, "exit", pid=last["pid"],
                                                      client_pid=last["client_pid"]))
        verify_ok(tmpfs_state)
    finally:
        d.stop()
    verify_ok(tmpfs_state)


# ---- 6. a crash in the middle of many elevations ---------------------------

def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return None


def _exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


def _daemon_processes(cmdline):
    """Our jitsud's processes: the same image and the same command line
    (which names this test's own socket). Zombies have no command line."""
    exe = os.path.realpath(JITSUD)
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            pid = int(e)
            if _cmdline(pid) == cmdline and _exe(pid) == exe:
                out.append(pid)
    return out


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _crash(d):
    """Crashes jitsud at one instant. SIGSTOPs the main process, then walks
    its process tree (connection processes, monitors, commands not yet
    exec'd: the same image and command line) stopping each as found, until
    a walk finds no new one; then SIGKILLs them all, each by its pid.
    Killing one by one instead would let busy sessions finish meanwhile."""
    main = d.proc.pid
    cmdline = _cmdline(main)
    assert cmdline and d.socket.encode() in cmdline
    os.kill(main, signal.SIGSTOP)
    stopped = {main}
    deadline = time.monotonic() + 20
    quiet = 0
    while quiet < 2:  # two walks in a row without a new process
        assert time.monotonic() < deadline, "jitsud keeps forking while stopped"
        new, todo = 0, [main]
        while todo:
            for c in _children(todo.pop()):
                if c not in stopped and _cmdline(c) == cmdline:
                    try:
                        os.kill(c, signal.SIGSTOP)
                    except ProcessLookupError:
                        continue
                    stopped.add(c)
                    new += 1
                if c in stopped:
                    todo.append(c)
        quiet = quiet + 1 if not new else 0
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    d.proc.wait(timeout=10)
    while _daemon_processes(cmdline):  # zombies have no command line
        assert time.monotonic() < deadline, "jitsud processes survive SIGKILL"
        time.sleep(0.01)
    d.logf.close()
    d.notify.close()
    return cmdline, len(stopped)


def _pids(out):
    return [int(m) for m in re.findall(rb"^run:(\d+)$", out, re.M)]


def test_crash_mid_flight_keeps_acknowledged_records(users, daemon):
    """SIGKILL of the whole daemon while ~200 elevations run: after a
    restart the trail verifies, and every command that ran (its client
    printed run:PID) has its start record."""
    total, workers, kill_after, held = 200, 16, 40, 4
    done = threading.Condition()
    state = {"ran": 0}
    results = []
    uid, gid, extra = user_ids(users["alice"])
    env = {"JITSU_SOCKET": daemon.socket, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

    def one(_):
        r = jitsu(users["alice"], ["sh", "-c", "echo run:$$"], daemon, timeout=60)
        with done:
            results.append(r)
            if _pids(r.stdout):
                state["ran"] += 1
            done.notify_all()

    # A few sessions are surely in flight at the crash: their commands wait
    # for a line on stdin, after saying they run.
    holders = []
    try:
        for _ in range(held):
            p = subprocess.Popen([JITSU, "sh", "-c", "echo run:$$; read x"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, user=uid,
                                 group=gid, extra_groups=extra, env=env)
            line = p.stdout.readline()
            holders.append((p, line))
            assert _pids(line), line

        ex = concurrent.futures.ThreadPoolExecutor(workers)
        try:
            futs = [ex.submit(one, i) for i in range(total)]
            with done:
                assert done.wait_for(lambda: state["ran"] >= kill_after or len(results) == total,
                                     timeout=120), "elevations did not progress"
            cmdline, killed = _crash(daemon)
            for f in futs:
                f.result(timeout=120)
        finally:
            ex.shutdown(wait=True)
    finally:
        for p, line in holders:
            try:
                out, err = p.communicate(b"", timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
            results.append(subprocess.CompletedProcess(p.args, p.returncode, line + out, err))
    assert not _daemon_processes(cmdline)

    acked = set()
    for r in results:
        acked.update(_pids(r.stdout))
    assert len(acked) >= kill_after + held
    # Clients that were connected when jitsud died (not merely refused a
    # connection afterwards): the crash hit sessions in flight.
    cut = [r for r in results if r.returncode != 0 and b"cannot reach jitsud" not in r.stderr]
    assert len(cut) >= held, "the crash hit no session in flight"
    assert killed > 1, "only the main process was killed"

    daemon.start()  # same state dir; READY means the trail was reopened
    n, _, out = verify_ok(daemon.state)
    recs = records(daemon.state)
    assert n == len(recs)
    for rec in of(recs, "recovered"):
        assert rec["dropped_bytes"] > 0 and rec["file"] == "audit.log"
    assert of(recs, "daemon_start")[-1]["seq"] > max(r["seq"] for r in of(recs, "start"))
    started = {r["pid"] for r in of(recs, "start")}
    missing = acked - started
    assert not missing, "commands ran without a start record: %r" % sorted(missing)
    # and the restarted daemon works
    r = jitsu(users["alice"], ["sh", "-c", "echo run:$$"], daemon)
    assert r.returncode == 0, r.stderr
    (pid,) = _pids(r.stdout)
    restart = of(recs, "daemon_start")[-1]["seq"]
    recs = wait_records(daemon.state, lambda rs: [e for e in of(rs, "exit", pid=pid)
                                                  if e["seq"] > restart])
    assert [s for s in of(recs, "start", pid=pid) if s["seq"] > restart]
    verify_ok(daemon.state)


# ---- 7. concurrency: contiguous seqs, nothing lost -------------------------

def test_parallel_elevations_contiguous(users, daemon):
    """100 elevations at once, while another process (jitsuctl) sets up the
    sealing key and verify runs again and again: one contiguous chain."""
    total, workers = 100, 20
    done = threading.Event()
    verdicts = []

    def one(i):
        if i == total // 2:
            r = ctl(daemon.state, "setup")
            assert r.returncode == 0, r.stderr
            verdicts.append(("key", r.stdout.decode().split()[1]))
        return jitsu(users["alice"], ["sh", "-c", "echo run:$$"], daemon, timeout=60)

    def verifier():
        while not done.is_set():
            r = ctl(daemon.state, "verify")
            verdicts.append((r.returncode, r.stdout.decode()))

    vt = threading.Thread(target=verifier)
    vt.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            results = list(ex.map(one, range(total)))
    finally:
        done.set()
        vt.join(timeout=60)
    checks = [v for v in verdicts if v[0] != "key"]
    assert checks and all(rc == 0 and OK_RE.match(out.splitlines()[0]) for rc, out in checks), [
        v for v in checks if v[0] != 0][:3]
    (key,) = [v[1] for v in verdicts if v[0] == "key"]
    for r in results:
        assert r.returncode == 0, r.stderr
    pids = [p for r in results for p in _pids(r.stdout)]
    assert len(pids) == total

    recs = wait_records(daemon.state, exits(total))  # checks seq == 1..n, the chain
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    n, _, _ = verify_ok(daemon.state)
    assert n == len(recs)
    starts = of(recs, "start")
    assert len(starts) == total
    assert sorted(r["pid"] for r in starts) == sorted(pids)
    assert len(of(recs, "request")) == total
    assert len(of(recs, "decision", decision="permit")) == total
    assert len(of(recs, "exit", status=0)) == total
    assert len(of(recs, "key_setup")) == 1
    verify_ok(daemon.state, key)
    # per session: request < decision < start < exit
    for s in starts:
        c = s["client_pid"]
        req = [r for r in of(recs, "request", client_pid=c) if r["seq"] < s["seq"]][-1]
        dcs = [r for r in of(recs, "decision", client_pid=c) if r["seq"] < s["seq"]][-1]
        ex_ = [r for r in of(recs, "exit", pid=s["pid"], client_pid=c) if r["seq"] > s["seq"]]
        assert ex_ and ex_[0]["status"] == 0
        assert req["seq"] < dcs["seq"] < s["seq"] < ex_[0]["seq"]


# ---- more: recovery, fail closed on damage, reloads, epoch seals ----------

TORN = {
    "no_newline": b'{"argv":["tor',
    "not_json": b'{"argv":["torn"\n',
    "zeros": b"\0" * 37,
}


@pytest.mark.parametrize("when", ["restart", "live"])
@pytest.mark.parametrize("torn", sorted(TORN))
def test_torn_tail_recovered(users, daemon, torn, when):
    assert jitsu(users["alice"], ["true"], daemon).returncode == 0
    wait_records(daemon.state, exits(1))
    if when == "restart":
        daemon.stop()
    path = os.path.join(daemon.state, "audit", "audit.log")
    good = records(daemon.state)
    with open(path, "ab") as f:
        f.write(TORN[torn])
    if when == "restart":
        daemon.start()
    marker = os.path.join(daemon.dir, "marker")
    r = jitsu(users["alice"], ["touch", marker], daemon)
    assert r.returncode == 0, r.stderr
    recs = wait_records(daemon.state, exits(2))
    assert recs[:len(good)] == good
    rec = recs[len(good)]
    assert rec["event"] == "recovered", rec
    assert rec["dropped_bytes"] == len(TORN[torn]) and rec["file"] == "audit.log"
    assert recs[len(good) + 1]["event"] == ("daemon_start" if when == "restart" else "request")
    verify_ok(daemon.state)


@pytest.mark.parametrize("damage", ["alien_line", "flipped_last"])
def test_damaged_last_record_fails_closed(users, daemon, damage):
    """A last line that is whole JSON but not a valid record is not a crash
    artefact: nothing may run until an administrator looks."""
    assert jitsu(users["alice"], ["true"], daemon).returncode == 0
    recs = wait_records(daemon.state, exits(1))
    path = os.path.join(daemon.state, "audit", "audit.log")
    with open(path, "rb") as f:
        orig = f.read()
    if damage == "alien_line":
        bad = orig + b'{"x":1}\n'
        bad_seq = len(recs) + 1
    else:
        lines = orig.split(b"\n")[:-1]
        lines[-1] = _flip_in_user(lines[-1])
        bad = b"".join(l + b"\n" for l in lines)
        bad_seq = len(recs)
    with open(path, "wb") as f:
        f.write(bad)
    marker = os.path.join(daemon.dir, "marker")
    r = jitsu(users["alice"], ["touch", marker], daemon)
    assert r.returncode != 0
    assert b"audit trail unavailable" in r.stderr, r.stderr
    assert not os.path.exists(marker), "a command ran without its audit record"
    got, out = verify_bad(daemon.state)
    assert got == bad_seq, out
    daemon.stop()
    with open(path, "rb") as f:
        assert f.read() == bad, "the damage was cut off or written over"
    # A new daemon refuses to start on it.
    p = subprocess.Popen([JITSUD, "-f", "-c", daemon.policy, "-S", daemon.socket + "2",
                          "-d", daemon.state, "--privsep-user", PRIVSEP_USER], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    try:
        out, _ = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 0, out
    assert b"damaged" in out and b"refusing to start" in out, out
    # Put back as it was, all is well again.
    with open(path, "wb") as f:
        f.write(orig)
    daemon.start()
    assert jitsu(users["alice"], ["touch", marker], daemon).returncode == 0
    assert os.path.exists(marker)
    wait_records(daemon.state, exits(2))
    verify_ok(daemon.state)


def test_policy_reload_recorded(users, daemon):
    """Every decision names the policy in force (by hash and file:line),
    also right after a reload, when spare processes of the old policy must
    be gone; a failed reload is recorded and keeps the old hash."""
    alice = users["alice"]
    for i in range(6):
        text = "#\n" * i + "permit {alice} as root\n"
        daemon.write_policy(text)
        daemon.reload()
        sha = sha256_file(daemon.policy)
        r = jitsu(alice, ["sh", "-c", "exit %d" % i], daemon)
        assert r.returncode == i, r.stderr
        recs = live_records(daemon.state)
        (rl,) = [x for x in of(recs, "policy_reload")][-1:]
        assert rl["result"] == "ok" and rl["policy_sha256"] == sha
        (req,) = of(recs, "request", argv=["sh", "-c", "exit %d" % i])
        (dcs,) = of(recs, "decision", client_pid=req["client_pid"])
        assert dcs["seq"] > rl["seq"]
        assert dcs["policy_sha256"] == sha, "decision made with an old policy"
        assert dcs["rule"] == "%s:%d" % (daemon.policy, i + 1)
    good = sha256_file(daemon.policy)
    daemon.write_policy("permit {alice} as root\nnot a rule\n")
    daemon.reload()
    r = jitsu(alice, ["sh", "-c", "exit 9"], daemon)
    assert r.returncode == 9
    recs = wait_records(daemon.state, exits(7))
    rl = of(recs, "policy_reload")[-1]
    assert rl["result"] == "failed" and rl["policy_sha256"] == good
    (req,) = of(recs, "request", argv=["sh", "-c", "exit 9"])
    (dcs,) = of(recs, "decision", client_pid=req["client_pid"])
    assert dcs["policy_sha256"] == good
    verify_ok(daemon.state)


def _evolve(k):
    return hashlib.sha256(b"jitsu-audit-evolve-v1" + k).digest()


def test_epoch_seals_independently_checked(users, daemon_factory):
    """With a 10 s epoch, jitsud seals at the boundary on its own and moves
    the key on. Every seal is checked here from the verification key alone,
    as docs/audit-format.md describes, and by jitsuctl."""
    import hmac
    d = daemon_factory(POLICY, start=False)
    r = ctl(d.state, "setup", "--interval", "10")
    assert r.returncode == 0, r.stderr
    vkey = bytes.fromhex(r.stdout.decode().split()[1])
    seed, start = vkey[:32], int.from_bytes(vkey[32:40], "big")
    interval = int.from_bytes(vkey[40:44], "big")
    assert interval == 10
    assert vkey[44:] == hashlib.sha256(b"jitsu-audit-vkey-v1" + vkey[:44]).digest()[:4]
    kid = hashlib.sha256(b"jitsu-audit-kid-v1" + vkey[:44]).digest()[:8].hex()
    d.start()
    assert jitsu(users["alice"], ["true"], d).returncode == 0
    # The daemon's timer seals epoch 0 once it is over (<= 10 s from setup).
    recs = wait_records(d.state, lambda rs: of(rs, "seal"), timeout=30)
    seal = of(recs, "seal")[0]
    assert seal["epoch"] == 0 and seal["kid"] == kid
    assert jitsu(users["alice"], ["true"], d).returncode == 0
    wait_records(d.state, exits(2))
    d.stop()
    recs = records(d.state)
    seals = of(recs, "seal")
    assert len(seals) >= 2 and recs[-1]["event"] == "seal"
    by_seq = {r["seq"]: r for r in recs}
    for s in seals:
        k = seed
        for _ in range(s["epoch"] + 1):
            k = _evolve(k)
        msg = (b"jitsu-audit-seal-v1" + s["epoch"].to_bytes(8, "big") +
               s["seq"].to_bytes(8, "big") + bytes.fromhex(by_seq[s["seq"] - 1]["hash"]) +
               s["kid"].encode())
        assert hmac.new(k, msg, hashlib.sha256).hexdigest() == s["mac"], s
    # seal.key holds only the current epoch's key, derived forward
    kpath = os.path.join(d.state, "audit", "seal.key")
    assert os.stat(kpath).st_mode & 0o777 == 0o600
    magic, kstart, kint, kepoch, kkid, khex = open(kpath).read().split()
    assert (magic, int(kstart), int(kint), kkid) == ("jitsu-audit-seal-v1", start, 10, kid)
    k = seed
    for _ in range(int(kepoch) + 1):
        k = _evolve(k)
    assert int(kepoch) >= 1 and khex == k.hex()
    n, nseals, out = verify_ok(d.state, vkey.hex())
    assert (n, nseals) == (len(recs), len(seals))
    assert "not sealed" not in out


@pytest.mark.parametrize("how", ["drop_middle", "drop_oldest", "misname"])
def test_rotated_file_tampering_detected(users, daemon_factory, how):
    d = daemon_factory(POLICY, extra=("--audit-rotate", "64k"))
    adir = os.path.join(d.state, "audit")
    big = "x" * 2000

    def rotated():
        return sorted(f for f in os.listdir(adir) if re.match(r"^audit-\d{20}\.log$", f))

    n = 0
    while len(rotated()) < 3:
        assert n < 400, "no rotation after %d elevations" % n
        assert jitsu(users["alice"], ["true", big], d).returncode == 0
        n += 1
    wait_records(d.state, exits(n))
    d.stop()
    recs = records(d.state)  # the chain across all files, here too
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    assert len(of(recs, "rotate")) == len(rotated())
    verify_ok(d.state)
    files = rotated()
    first = [int(f[6:26]) for f in files]
    if how == "drop_middle":
        os.unlink(os.path.join(adir, files[1]))
        want = first[1]
    elif how == "drop_oldest":  # retention is off: nothing may be missing
        os.unlink(os.path.join(adir, files[0]))
        want = 1
    else:
        os.rename(os.path.join(adir, files[1]),
                  os.path.join(adir, "audit-%020d.log" % (first[1] + 1)))
        want = first[1]
    bad, out = verify_bad(d.state)
    assert bad == want, out


def test_commands_inherit_no_audit_files(users, daemon):
    """The command holds no descriptor of the trail. (Without a terminal its
    parent is jitsud's connection process itself; with one, the monitor,
    which closes everything it inherited: see test_tty.py.)"""
    script = ('for p in $$; do for f in /proc/$p/fd/*; do '
              'echo "$p $(readlink $f)"; done; done; echo done')
    r = jitsu(users["alice"], ["sh", "-c", script], daemon)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out.endswith("done\n")
    links = [l.split(" ", 1)[1] for l in out.splitlines()[:-1]]
    assert links, out
    state = os.path.realpath(daemon.state)
    leaked = [l for l in links if l.startswith(state)]
    assert not leaked, leaked


def test_tty_recorded(users, daemon):
    """The request names the user's terminal; the command gets another."""
    master, slave = os.openpty()
    tty = os.ttyname(slave)
    uid, gid, extra = user_ids(users["alice"])
    try:
        p = subprocess.Popen([JITSU, "sh", "-c", "echo TTY:$(tty)"], stdin=slave, stdout=slave,
                             stderr=slave, user=uid, group=gid, extra_groups=extra,
                             env={"JITSU_SOCKET": daemon.socket, "PATH": "/usr/bin:/bin",
                                  "LANG": "C.UTF-8", "TERM": "xterm"},
                             start_new_session=True)
        os.close(slave)
        slave = -1
        out = b""
        deadline = time.monotonic() + 20
        while not (re.search(rb"TTY:\S+\r?\n", out) and p.poll() is not None):
            assert time.monotonic() < deadline, out
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    out += os.read(master, 4096)
                except OSError:
                    break
        assert p.wait(timeout=10) == 0, out
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    inner = re.search(rb"TTY:(\S+)", out).group(1).decode()
    assert inner.startswith("/dev/pts/") and inner != tty
    recs = wait_records(daemon.state, exits(1))
    (req,) = of(recs, "request")
    assert req["tty"] == tty


@pytest.fixture
def odd_dir():
    d = b"/usr/local/lib/jitsu-audit-test-%d" % os.getpid()
    os.makedirs(d)
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_paths_round_trip(users, daemon, workdir, odd_dir):
    """cwd and binary are bytes too: newlines, quotes, invalid UTF-8."""
    prog = odd_dir + b"/odd\nname \xff\"q\\"
    with open(prog, "wb") as f:
        f.write(b"#!/bin/sh\necho ran\n")
    os.chmod(prog, 0o755)
    cwd = os.path.join(os.fsencode(workdir), b"cwd\n\xfe 'x'")
    os.mkdir(cwd)
    os.chmod(cwd, 0o755)
    r = jitsu(users["alice"], [prog, b"arg"], daemon, cwd=cwd)
    assert r.returncode == 0 and r.stdout == b"ran\n", r.stderr
    recs = wait_records(daemon.state, exits(1))
    (req,) = of(recs, "request")
    assert [dec(v) for v in req["argv"]] == [prog, b"arg"]
    assert dec(req["cwd"]) == cwd
    assert req["cwd"] == {"b64": base64.b64encode(cwd).decode()}
    (dcs,) = of(recs, "decision")
    assert dcs["decision"] == "permit"
    assert dec(dcs["binary"]) == prog
    assert dcs["binary_sha256"] == hashlib.sha256(b"#!/bin/sh\necho ran\n").hexdigest()
    (st,) = of(recs, "start")
    assert dec(st["binary"]) == prog
    verify_ok(daemon.state)
