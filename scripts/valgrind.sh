#!/bin/sh
# make valgrind: runs jitsud and jitsu-hub under valgrind memcheck for a subset
# of the integration and hub tests, then scans the per-process logs. Any
# memcheck error or any lost block (definitely, indirectly or possibly) fails
# the run, naming the logs. CI runs it after `make check` (.ci/run).
#
# Usage: scripts/valgrind.sh [BUILD_DIR] [LOG_DIR]
#   BUILD_DIR: a non-sanitizer build configured with -Dvalgrind=true (default
#   build-valgrind; see meson.build for why). LOG_DIR: where the
#   vg-PID.log files go (default: a fresh temporary directory, kept).
#
# The harnesses prepend $JITSU_WRAP to the jitsud and `jitsu-hub serve`
# command lines. Forked children (jitsud's connection processes) stay under
# valgrind and write their own vg-PID.log; exec'd commands are not traced
# (--trace-children=no), so a child that execs leaves a log with no summary,
# which is skipped unless it recorded an error before the exec.
# Valgrind cannot survive a failing execve ("EXEC FAILED ... I'm dying"), so
# tests that expect execve to fail (e.g. test_badinput's E2BIG argument) are
# left out of the subset: under valgrind they fail for valgrind's reasons.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-valgrind}
case $build in /*) ;; *) build=$top/$build ;; esac
logs=${2:-$(mktemp -d /tmp/jitsu-valgrind.XXXXXX)}
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
rm -f "$logs"/vg-*.log
if ! grep -q JITSU_VALGRIND_BUILD "$build/build.ninja" 2>/dev/null; then
	echo "valgrind.sh: $build is not configured with -Dvalgrind=true (make valgrind makes one)" >&2
	exit 1
fi
for b in jitsud/jitsud hub/jitsu-hub; do
	if [ ! -x "$build/$b" ]; then
		echo "valgrind.sh: $build/$b is not built" >&2
		exit 1
	fi
done

JITSU_WRAP="valgrind --error-exitcode=99 --leak-check=full"
JITSU_WRAP="$JITSU_WRAP --errors-for-leak-kinds=none"
JITSU_WRAP="$JITSU_WRAP --show-leak-kinds=definite,indirect,possible --track-fds=no --trace-children=no"
JITSU_WRAP="$JITSU_WRAP --num-callers=30 --suppressions=$top/scripts/valgrind.supp"
JITSU_WRAP="$JITSU_WRAP --log-file=$logs/vg-%p.log"
export JITSU_WRAP

cd "$top" || exit 1
status=0
py=${PYTHON:-/usr/bin/python3}
echo "valgrind: integration subset (logs in $logs)"
PYTHONDONTWRITEBYTECODE=1 JITSU_BUILD=$build "$py" -m pytest -q -p no:cacheprovider \
	tests/integration/test_core.py tests/integration/test_mfa.py \
	tests/integration/test_audit_rotation.py || status=1
echo "valgrind: fleet subset on SQLite (central policy and MFA, break-glass)"
PYTHONDONTWRITEBYTECODE=1 JITSU_BUILD=$build "$py" -m pytest -q -p no:cacheprovider -k sqlite \
	tests/integration/test_central_policy.py tests/integration/test_central_mfa.py \
	tests/integration/test_breakglass.py || status=1
echo "valgrind: hub API suite on SQLite"
PYTHONDONTWRITEBYTECODE=1 JITSU_BUILD=$build "$py" -m pytest -q -p no:cacheprovider \
	tests/hub/test_hub_api.py -k sqlite || status=1
[ $status -eq 0 ] || echo "valgrind: some tests failed (see above)" >&2

# Scan: a summary with errors, a lost block in a process that ended on its
# own (one killed by a signal, e.g. the shipper stopped mid-call, may hold
# memory in registers only: its leak report says nothing), or (for a child
# that exec'd and so has no summary) any error record at all.
nlogs=0 nsum=0 bad=""
for f in "$logs"/vg-*.log; do
	[ -f "$f" ] || continue
	nlogs=$((nlogs + 1))
	if grep -q "ERROR SUMMARY:" "$f"; then
		nsum=$((nsum + 1))
		if grep -Eq "ERROR SUMMARY: [1-9]" "$f"; then
			bad="$bad $f"
		elif ! grep -q "Process terminating with default action of signal" "$f" &&
			grep -Eq "(definitely|indirectly|possibly) lost: [1-9]" "$f"; then
			bad="$bad $f"
		fi
	elif grep -Eq "^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and destination|Argument)" "$f"; then
		bad="$bad $f"
	fi
done
echo "valgrind: $nlogs logs, $nsum with a summary (the rest exec'd a command)"
if [ "$nlogs" -eq 0 ]; then
	echo "valgrind: no logs written; was JITSU_WRAP honoured?" >&2
	exit 1
fi
if [ -n "$bad" ]; then
	echo "valgrind: errors or leaks in:" >&2
	for f in $bad; do
		echo "  $f: $(grep -E 'ERROR SUMMARY:|lost: ' "$f" | sed 's/^==[0-9]*== *//' | tr '\n' ' ')" >&2
	done
	exit 1
fi
echo "valgrind: no errors, no leaks"
exit $status
