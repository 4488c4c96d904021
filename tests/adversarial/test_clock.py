"""The wall clock stepping while a session runs.

A time namespace (unshare --time, CLONE_NEWTIME) offsets only
CLOCK_MONOTONIC and CLOCK_BOOTTIME, never CLOCK_REALTIME, and stepping the
host's clock (date -s) would disturb everything else on a shared test
machine. So jitsud alone is given a clock of its own: libfaketime is
preloaded into it (Daemon's env; nothing in jitsu knows), re-reading an
offset from a file on every call (FAKETIME_NO_CACHE), with the monotonic
clock left real (DONT_FAKE_MONOTONIC), which is exactly what an NTP step
or an admin's `date -s` does to a running daemon. The commands jitsud runs
get a rebuilt environment, so the preload stops at jitsud and its
monitors.

What a step must not do: end a running session, stretch or cut its time
box (CLOCK_MONOTONIC in jitsud/session.c), lose or garble its exit record,
or break the trail's chain. What it must do: later decisions use the new
wall time (the `hours` rule is evaluated per request).

Not asserted, because it does not hold: with a sealing key (`jitsuctl
audit setup`), a forward step advances the forward-secure key to the
stepped epoch and erases the earlier keys, so once the clock is set right
again the next seals carry an epoch in the future, and the records they
cover are older than their epoch; `verify --key` reports both (the chain
itself, verify without --key, stays intact). See "Known gaps" in
docs/threat-model.md.
"""
import os
import signal
import subprocess
import time

import pytest

from conftest import (JITSUD, assert_verify_ok, audit_records, jitsu, one_line_error,
                      poll_until)
from test_faults import kill_client, read_until, spawn

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
WAIT = "echo ready; while [ ! -e %s ]; do sleep 0.05; done; exit 0"
STEP = 12 * 3600


def asan_runtime():
    """[libasan's path] when jitsud is a sanitizer build: ASan insists on
    coming first in the preload list."""
    out = subprocess.run(["ldd", JITSUD], capture_output=True, text=True).stdout
    return [l.split("=>")[1].split()[0] for l in out.splitlines()
            if "libasan.so" in l and "=>" in l]


class Clock:
    """jitsud's wall clock: an offset in a file libfaketime reads."""

    def __init__(self, workdir):
        self.path = os.path.join(workdir, "faketime")
        self.set(0)
        self.env = {"LD_PRELOAD": " ".join(asan_runtime() + [LIBFAKETIME]),
                    "FAKETIME_TIMESTAMP_FILE": self.path, "FAKETIME_NO_CACHE": "1",
                    "DONT_FAKE_MONOTONIC": "1"}

    def set(self, seconds):
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            f.write("%+ds\n" % seconds)
        os.chmod(tmp, 0o644)  # monitors read it too, as the target user
        os.rename(tmp, self.path)


@pytest.fixture
def clock(workdir):
    if not os.path.exists(LIBFAKETIME):
        pytest.skip("libfaketime is not installed (scripts/install-deps.sh check)")
    return Clock(workdir)


def hours_around_now():
    """A two-hour `hours` window around the real local time; twelve hours
    later (or earlier) it is outside."""
    now = time.localtime()
    m = now.tm_hour * 60 + now.tm_min
    s, e = (m - 60) % 1440, (m + 60) % 1440
    return "%02d:%02d-%02d:%02d" % (s // 60, s % 60, e // 60, e % 60)


def session_records(d):
    recs = audit_records(d)
    return ([x for x in recs if x["event"] == "start"], [x for x in recs if x["event"] == "exit"])


def test_clock_step_forward_keeps_the_session(users, daemon_factory, clock, workdir):
    """The wall clock jumps 12 h ahead while a command permitted by an
    `hours` rule with a 10-minute time box runs. The session must go on
    (a box kept in wall time would have expired at once), the command's
    own exit must be recorded with its real duration, new requests must be
    judged by the new time (now outside the hours: denied), and the trail
    must verify."""
    d = daemon_factory("permit hours %s for 10m {alice} as root\n" % hours_around_now(),
                       env=clock.env)
    release = os.path.join(workdir, "release")
    p = spawn(users["alice"], ["sh", "-c", WAIT % release], d)
    t0 = time.monotonic()
    read_until(p.stdout, b"ready\n")
    clock.set(STEP)
    # The daemon has seen the step once a new request is out of hours.
    r = jitsu(users["alice"], ["true"], d)
    assert r.returncode == 1 and r.stdout == b"", (r.returncode, r.stderr)
    one_line_error(r.stderr)
    assert p.poll() is None, "the session ended when the clock stepped"
    with open(release, "w"):
        pass
    assert p.wait(20) == 0
    took = time.monotonic() - t0
    kill_client(p)
    starts, exits = poll_until(lambda: session_records(d)[1] and session_records(d), 10,
                               "the exit record")
    assert len(starts) == 1 and [x["pid"] for x in exits] == [starts[0]["pid"]]
    assert exits[0]["status"] == 0, exits
    assert exits[0]["duration_us"] <= took * 1e6 + 1e6, (exits[0], took)
    # The records carry the stepped wall time: the exit is 12 h "later".
    t_start = time.mktime(time.strptime(starts[0]["time"][:19], "%Y-%m-%dT%H:%M:%S"))
    t_exit = time.mktime(time.strptime(exits[0]["time"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert STEP - 60 < t_exit - t_start < STEP + 60, (starts[0]["time"], exits[0]["time"])
    assert_verify_ok(d)


def test_clock_step_back_does_not_stretch_the_time_box(users, daemon_factory, clock, workdir):
    """The wall clock jumps 12 h back right after a command with a
    3-second time box started (someone resetting the date to keep a root
    shell open past its box). The box must still end it about 3 s later
    (SIGTERM to the command, the exit recorded), and the trail, whose
    later records now carry earlier times, must still verify."""
    d = daemon_factory("permit for 3s {alice} as root\n", env=clock.env)
    never = os.path.join(workdir, "never")
    p = spawn(users["alice"], ["sh", "-c", WAIT % never], d)
    read_until(p.stdout, b"ready\n")
    t0 = time.monotonic()
    clock.set(-STEP)
    try:
        code = p.wait(20)
    except Exception:
        kill_client(p)
        raise
    took = time.monotonic() - t0
    err = p.stderr.read()
    kill_client(p)
    assert code == 128 + signal.SIGTERM, (code, err)
    assert took < 10, took
    starts, exits = poll_until(lambda: session_records(d)[1] and session_records(d), 10,
                               "the exit record")
    assert exits[0]["pid"] == starts[0]["pid"] and exits[0]["signal"] == signal.SIGTERM, exits
    assert exits[0]["time"] < starts[0]["time"], (starts[0]["time"], exits[0]["time"])
    assert_verify_ok(d)
    # And the daemon serves on, in its new (earlier) time.
    r = jitsu(users["alice"], ["true"], d)
    assert r.returncode == 0, r.stderr
