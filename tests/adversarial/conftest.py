"""Adversarial tests for jitsu: attacks taken from real CVEs and known bug
classes, run against a real jitsud as real throw-away users.

This reuses the integration harness (tests/integration/conftest.py: users,
Daemon, daemon_factory, run_as, jitsu) without copying it: that file is
loaded under its own module name and its names are re-exported here, so the
test files can `from conftest import ...` as the integration tests do.
"""
import importlib.util
import json
import os
import socket
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
IT = os.path.join(os.path.dirname(HERE), "integration")
if IT not in sys.path:
    sys.path.append(IT)  # for rawproto; appended so this conftest stays "conftest"

_spec = importlib.util.spec_from_file_location("jitsu_it_conftest", os.path.join(IT, "conftest.py"))
_it = importlib.util.module_from_spec(_spec)
sys.modules["jitsu_it_conftest"] = _it
_spec.loader.exec_module(_it)

# Fixtures and helpers, re-exported (pytest collects fixtures from this module).
users = _it.users
workdir = _it.workdir
daemon_factory = _it.daemon_factory
Daemon = _it.Daemon
JITSU, JITSUD, JITSUCTL, BUILD, TOP = _it.JITSU, _it.JITSUD, _it.JITSUCTL, _it.BUILD, _it.TOP
jitsu, run_as, user_ids, policy_text = _it.jitsu, _it.run_as, _it.user_ids, _it.policy_text
poll_until = _it.poll_until
PRIVSEP_USER = _it.PRIVSEP_USER
SLOW, WRAP = _it.SLOW, _it.WRAP
pytest_sessionstart = _it.pytest_sessionstart

import rawproto as rp  # noqa: E402  (needs the path above)

EXIT_DENIED = 1
EXIT_NOEXEC = 126


def connect(users, daemon, who="alice", timeout=5.0):
    uid, gid, extra = user_ids(users[who])
    return rp.connect_as(daemon.socket, uid, gid, extra, timeout=timeout)


audit_records = _it.audit_trail
assert_verify_ok = _it.assert_verify_ok
assert_safe_after = _it.assert_safe_after
assert_refusal_recorded = _it.assert_refusal_recorded


def unmet(why):
    """A precondition this machine does not meet: a skip, or a failure where
    every case must run (JITSU_REQUIRE_ALL=1, as `make integration` and
    `make asan` set: CI is Debian 12 on x86_64, as root)."""
    if os.environ.get("JITSU_REQUIRE_ALL") == "1":
        pytest.fail("JITSU_REQUIRE_ALL=1 and this case cannot run: " + why)
    pytest.skip(why)


def one_line_error(stderr):
    """A refusal is one clear line on stderr."""
    lines = stderr.decode(errors="replace").strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jitsu:"), stderr
    return lines[0]
