"""A throw-away PostgreSQL cluster for jitsu-hub's tests.

initdb and postgres refuse to run as root, so as root the cluster runs as
the `postgres` user; otherwise as the caller. It lives in a fresh temporary
directory, listens only on a Unix socket there (no TCP port at all), and is
stopped and removed afterwards.

As a module (tests/hub/conftest.py): Cluster().create_db() gives a libpq URL
of a fresh, empty database.

As a wrapper (meson test): `python3 pgcluster.py -- CMD ARGS...` runs CMD
with JITSU_HUB_PG_URL set to a fresh database and exits with its status;
77 (meson's "skipped") when PostgreSQL is not installed.

A missing PostgreSQL is a skip only where nothing promised it: with
JITSU_REQUIRE_PG=1 (set by `make check`, which installs PostgreSQL) it is a
failure, so the PostgreSQL half of the suite can never vanish silently.
JITSU_PGBIN names the directory of the server binaries (and psql).
"""
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PGBIN = os.environ.get("JITSU_PGBIN", "/usr/lib/postgresql/15/bin")
START_TIMEOUT = 60


def missing():
    """None when the server binaries (and, as root, the postgres user) exist;
    else one line saying what is missing."""
    if not os.access(os.path.join(PGBIN, "postgres"), os.X_OK):
        return "PostgreSQL is not installed (no %s/postgres)" % PGBIN
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "PostgreSQL is not installed (no user postgres)"
    return None


def available():
    return missing() is None


def required():
    """True when a missing PostgreSQL must fail the run instead of skipping
    its half: JITSU_REQUIRE_PG=1, as `make check` sets it."""
    return os.environ.get("JITSU_REQUIRE_PG") == "1"


def cluster_fixture():
    """The body of both suites' pg_cluster fixtures (a generator, used with
    `yield from`): a running Cluster, stopped afterwards; a skip when the
    server binaries are missing, a failure if JITSU_REQUIRE_PG=1."""
    import pytest  # here: the meson wrapper runs this module without pytest
    why = missing()
    if why and required():
        pytest.fail("%s, and JITSU_REQUIRE_PG=1 requires it" % why, pytrace=False)
    if why:
        pytest.skip(why)
    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


class Cluster:
    """One cluster: initdb, start, create databases, stop, remove."""

    _names = itertools.count(1)

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="jitsu-hub-pg-")
        self.proc = None
        self.as_user = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        try:
            self._initdb()
            self._start()
        except BaseException:
            self.stop()
            raise

    def _run(self, args):
        subprocess.run(args, check=True, cwd=self.dir, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, **self.as_user)

    def _initdb(self):
        self._run([os.path.join(PGBIN, "initdb"), "-D", os.path.join(self.dir, "data"),
                   "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync",
                   "--locale=C"])

    def _start(self):
        log = open(os.path.join(self.dir, "postgres.log"), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(PGBIN, "postgres"), "-D", os.path.join(self.dir, "data"),
             "-k", self.dir, "-c", "listen_addresses=", "-c", "fsync=off",
             "-c", "full_page_writes=off", "-c", "max_connections=50"],
            cwd=self.dir, stdout=log, stderr=log, **self.as_user)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited: " + self.log_tail())
            ready = subprocess.run([os.path.join(PGBIN, "pg_isready"), "-q", "-h", self.dir,
                                    "-U", "postgres"])
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not start: " + self.log_tail())

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "postgres.log"), "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def create_db(self):
        """Creates an empty database; returns its libpq URL."""
        name = "hub%d_%d" % (os.getpid(), next(self._names))
        self._run([os.path.join(PGBIN, "createdb"), "-h", self.dir, "-U", "postgres", name])
        return "postgresql:///%s?host=%s&user=postgres" % (name, self.dir)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    if len(argv) < 3 or argv[1] != "--":
        print("usage: pgcluster.py -- CMD ARGS...", file=sys.stderr)
        return 2
    why = missing()
    if why and required():
        print("pgcluster: %s, and JITSU_REQUIRE_PG=1 requires it" % why, file=sys.stderr)
        return 1
    if why:
        print("pgcluster: %s; skipped" % why, file=sys.stderr)
        return 77
    # meson's timeout sends SIGTERM: still stop and remove the cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cluster = Cluster()
    try:
        env = dict(os.environ, JITSU_HUB_PG_URL=cluster.create_db())
        return subprocess.run(argv[2:], env=env).returncode
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
