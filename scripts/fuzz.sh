#!/bin/sh
# make fuzz: runs every libFuzzer harness of BUILD (built with -Dfuzz=true,
# ASan and UBSan) for SECONDS each, starting from its committed corpus.
# New inputs go to a scratch corpus; crashes are left as crash-* files in
# fuzz-artifacts/ and make the run fail. So does a UBSan report (UBSan
# only prints by default: halt_on_error makes it a crash libFuzzer saves),
# and so does a run in which fewer harnesses ran to the end than there are
# tests/fuzz/fuzz-*.c sources (a harness missing from the build, or one
# that exits without fuzzing, must not pass as a clean run).
set -u
build=${1:?usage: fuzz.sh BUILD SECONDS}
secs=${2:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/fuzz-artifacts
mkdir -p "$out"
# Ours last, so that they win over anything inherited.
UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}abort_on_error=1"
export UBSAN_OPTIONS ASAN_OPTIONS
expected=0
for src in "$top"/tests/fuzz/fuzz-*.c; do
	[ -f "$src" ] && expected=$((expected + 1))
done
status=0
ran=0
for h in "$build"/tests/fuzz/fuzz-*; do
	[ -f "$h" ] && [ -x "$h" ] || continue
	name=${h##*/fuzz-}
	scratch=$(mktemp -d)
	cp -r "$top/tests/fuzz/corpus/$name/." "$scratch/" 2>/dev/null
	echo "fuzz: $name for ${secs}s"
	if ! "$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$out/$name-" "$scratch" >"$out/$name.log" 2>&1; then
		echo "fuzz: $name FAILED: see $out/$name.log and $out/$name-crash-*" >&2
		status=1
		ran=$((ran + 1))
	elif grep -q "runtime error:" "$out/$name.log"; then
		echo "fuzz: $name FAILED: UBSan report in $out/$name.log" >&2
		status=1
		ran=$((ran + 1))
	elif grep -q "^Done [0-9]* runs" "$out/$name.log"; then
		grep -E "^(#[0-9]+|Done)" "$out/$name.log" | tail -1
		ran=$((ran + 1))
	else
		echo "fuzz: $name did not fuzz: see $out/$name.log" >&2
		status=1
	fi
	rm -rf "$scratch"
done
if [ "$ran" -lt "$expected" ]; then
	echo "fuzz: $ran of $expected harnesses ran (tests/fuzz/fuzz-*.c): is $build a -Dfuzz=true build?" >&2
	status=1
fi
exit $status
