#!/bin/sh
# make run: a jitsu-hub on SQLite and a jitsud enrolled into it, all under
# ./run in the checkout, on loopback only; nothing is written to /etc.
# jitsud runs in the foreground; Ctrl-C stops both.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
run=$top/run
port=${JITSU_RUN_PORT:-8443}
hub=https://127.0.0.1:$port

[ "$(id -u)" -eq 0 ] || { echo "make run: run as root (jitsud must be root)" >&2; exit 1; }
mkdir -p "$run"
chmod 755 "$run"
# jitsud's privsep user, as `make install` creates it (a system user).
"$top/scripts/privsep-user.sh" _jitsu

# The policy: the example, plus a rule that needs an approval.
if [ ! -f "$run/policy.conf" ]; then
	cp "$top/examples/policy.conf" "$run/policy.conf"
	cat >>"$run/policy.conf" <<'POLICY'

# make run: restarting services needs someone else's approval on the hub.
permit approval :sudo as root cmd /usr/bin/systemctl
POLICY
fi
chown root:root "$run/policy.conf"
chmod 644 "$run/policy.conf"

# The hub, initialised once; its admin token stays in run/hub-init.txt (0600).
if [ ! -d "$run/hub" ]; then
	umask 077
	"$build/hub/jitsu-hub" init --dir "$run/hub" --listen "127.0.0.1:$port" >"$run/hub-init.txt"
	umask 022
fi
admin=$(sed -n 's/^admin-token: //p' "$run/hub-init.txt")
fp=$(sed -n 's/^fingerprint: //p' "$run/hub-init.txt")
"$build/hub/jitsu-hub" serve --dir "$run/hub" >"$run/hub.log" 2>&1 &
hubpid=$!
trap 'kill $hubpid 2>/dev/null' EXIT INT TERM
i=0
until curl -fsk "$hub/api/v1/health" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "make run: the hub did not start; see $run/hub.log" >&2; exit 1; }
	kill -0 $hubpid 2>/dev/null || { echo "make run: the hub exited; see $run/hub.log" >&2; exit 1; }
	sleep 0.1
done

api() { # METHOD PATH [BODY]: an admin call; prints the JSON answer
	curl -fsk -X "$1" -H "Authorization: Bearer $admin" -H "Content-Type: application/json" \
		${3:+-d "$3"} "$hub$2"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# Enroll this machine's jitsud once, and make an approver account.
if [ ! -f "$run/state/hub.conf" ]; then
	token=$(api POST /api/v1/enrollment-tokens '{"ttl":600}' | field token)
	"$build/jitsud/jitsud" -d "$run/state" --enroll "$hub" "$token" --fingerprint "$fp"
fi
if [ ! -f "$run/approver.token" ]; then
	umask 077
	api POST /api/v1/users '{"name":"approver","role":"approver"}' | field token >"$run/approver.token"
	umask 022
fi

cat <<EOT

jitsu is running: jitsud on $run/jitsud.sock, jitsu-hub on $hub (log: $run/hub.log).
As a member of the sudo group (the policy is $run/policy.conf):

  export JITSU_SOCKET=$run/jitsud.sock
  $build/jitsu/jitsu -r "trying jitsu" id          # permitted with a reason
  $build/jitsu/jitsu systemctl status cron          # waits for an approval

Approve it from another terminal, as root:

  export JITSU_HUB_URL=$hub JITSU_HUB_FINGERPRINT=$fp
  export JITSU_HUB_TOKEN=\$(cat $run/approver.token)
  $build/jitsuctl/jitsuctl requests --pending
  $build/jitsuctl/jitsuctl approve ID --note ok

The audit trail: $build/jitsuctl/jitsuctl -d $run/state audit show
Ctrl-C stops jitsud and the hub.

EOT
"$build/jitsud/jitsud" -f -c "$run/policy.conf" -S "$run/jitsud.sock" -d "$run/state"
