#!/bin/sh
# Creates jitsud's privsep system user (default _jitsu) if it is missing:
# the user the unprivileged half of every connection and the hub helper
# run as (jitsud(8), PRIVILEGE SEPARATION). Needs root; idempotent.
# Usage: scripts/privsep-user.sh [NAME]
set -eu
name=${1:-_jitsu}
getent passwd "$name" >/dev/null && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "privsep-user: user $name is missing (run as root to create it)" >&2
	exit 1
fi
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$name"
echo "privsep-user: created system user $name" >&2
