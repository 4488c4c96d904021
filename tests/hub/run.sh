#!/bin/sh
# Runs jitsu-hub's API suite (tests/hub/test_hub_api.py, SQLite and
# PostgreSQL) against a build directory. The unit tests (cmocka, suite
# 'hub') run with `meson test`; this is the integration half.
#
# Usage: tests/hub/run.sh [BUILD_DIR] [pytest args...]
#   BUILD_DIR defaults to $JITSU_BUILD, else build (relative to the checkout).
# Needs root only for the PostgreSQL half (initdb runs as user postgres);
# without PostgreSQL those tests are skipped, or fail with JITSU_REQUIRE_PG=1.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${JITSU_BUILD:-build}
if [ $# -gt 0 ]; then
	build=$1
	shift
fi
case $build in /*) ;; *) build=$top/$build ;; esac
if [ ! -x "$build/hub/jitsu-hub" ]; then
	echo "run.sh: $build/hub/jitsu-hub is not built" >&2
	exit 1
fi
cd "$top"
PYTHONDONTWRITEBYTECODE=1 JITSU_BUILD=$build exec "${PYTHON:-/usr/bin/python3}" -m pytest -q -p no:cacheprovider \
	tests/hub "$@"
