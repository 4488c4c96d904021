#!/bin/sh
# make fuzz: runs every libFuzzer harness of BUILD (built with -Dfuzz=true,
# ASan and UBSan) for SECONDS each, starting from its committed corpus.
# New inputs go to a scratch corpus; crashes are left as crash-* files in
# fuzz-artifacts/ and make the run fail.
set -u
build=${1:?usage: fuzz.sh BUILD SECONDS}
secs=${2:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/fuzz-artifacts
mkdir -p "$out"
status=0
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
	else
		grep -E "^(#[0-9]+|Done)" "$out/$name.log" | tail -1
	fi
	rm -rf "$scratch"
done
exit $status
