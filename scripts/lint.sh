#!/bin/sh
# make lint: clang-format (check only), clang-tidy and cppcheck over the
# project's C sources. Exits non-zero on any finding.
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/corpus/')
status=0

echo "lint: clang-format"
clang-format --dry-run --Werror $files || status=1

echo "lint: clang-tidy"
srcs=$(echo "$files" | tr ' ' '\n' | grep '\.c$')
clang-tidy -quiet -p "$build" $srcs 2>/dev/null | grep -E 'warning:|error:' && status=1

echo "lint: cppcheck"
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	--inline-suppr --suppress=missingIncludeSystem -I include \
	-D__linux__ -D_GNU_SOURCE $srcs || status=1

[ $status -eq 0 ] && echo "lint: clean"
exit $status
