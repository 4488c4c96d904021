#!/bin/sh
# Creates jitsud's privsep system user (default _jitsu) if it is missing:
# the user the unprivileged half of every connection and the hub helper
# run as (jitsud(8), PRIVILEGE SEPARATION). Needs root; idempotent.
# _jitsu is made from contrib/sysusers.d/jitsu.conf by systemd-sysusers
# where there is one (the same entry make install puts in sysusersdir),
# else, and for any other NAME, by useradd with the same settings.
# Usage: scripts/privsep-user.sh [NAME]
set -eu
name=${1:-_jitsu}
getent passwd "$name" >/dev/null && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "privsep-user: user $name is missing (run as root to create it)" >&2
	exit 1
fi
conf=$(cd "$(dirname "$0")/.." && pwd)/contrib/sysusers.d/jitsu.conf
if [ "$name" = _jitsu ] && command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers "$conf"
else
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$name"
fi
if ! getent passwd "$name" >/dev/null; then
	echo "privsep-user: could not create system user $name" >&2
	exit 1
fi
echo "privsep-user: created system user $name" >&2
