"""jitsud's audit rotation and retention options, end to end."""
import os
import re
import subprocess

from conftest import JITSUCTL, JITSUD, jitsu


def test_rotation_and_retention(users, daemon_factory):
    d = daemon_factory("permit {alice} as root\n", extra=("--audit-rotate", "64k", "--audit-keep", "2"))
    # Each elevation writes four records of a few hundred bytes: 150 of
    # them fill several 64 KiB files.
    long_arg = "x" * 200
    for _ in range(150):
        assert jitsu(users["alice"], ["true", long_arg], d).returncode == 0
    adir = os.path.join(d.state, "audit")
    rotated = sorted(f for f in os.listdir(adir) if re.fullmatch(r"audit-\d{20}\.log", f))
    assert 1 <= len(rotated) <= 2, os.listdir(adir)
    for f in rotated + ["audit.log"]:
        st = os.stat(os.path.join(adir, f))
        assert st.st_size <= 64 * 1024 + 4096
        assert st.st_mode & 0o777 == 0o600 and st.st_uid == 0
    assert os.stat(adir).st_mode & 0o777 == 0o700
    r = subprocess.run([JITSUCTL, "-d", d.state, "audit", "verify"], capture_output=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(b"OK ")


def test_bad_audit_options_refused(users, daemon_factory):
    for opt in (("--audit-rotate", "1k"), ("--audit-rotate", "12Q"), ("--audit-keep", "-3")):
        r = subprocess.run([JITSUD, *opt], capture_output=True)
        assert r.returncode == 1 and b"bad --audit" in r.stderr
