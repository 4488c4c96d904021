#!/bin/bash
# bench/run.sh BUILD_DIR: jitsu against sudo, doas and s6-sudo, then
# jitsu-hub under load (bench/hubload.sh); writes docs/benchmarks.md and
# keeps the raw figures in bench/results/.
#
# bench/run.sh --hub-only BUILD_DIR: only the jitsu-hub part; rewrites only
# the "## jitsu-hub" section of docs/benchmarks.md. Needs neither root nor
# the peers (as root, PostgreSQL runs as the postgres user).
#
# Run as root (make bench does). Everything it sets up is temporary and is
# undone on exit, whatever the exit: the bench user, /etc/sudoers.d/<file>,
# /etc/doas.conf (backed up and restored, or removed if there was none),
# jitsud, s6-ipcserver and every process of the bench user.
#
# Targets are reported, not enforced. The exit status is non-zero only when
# something could not be set up or measured.
#
# Latency is measured in BENCH_ROUNDS hyperfine rounds (default 3) of
# BENCH_RUNS runs per command each (default 334, at least 300 in all), so a
# change in background load lands on every command alike; the report pools
# the rounds. Other knobs: BENCH_TP_SECONDS (default 10), BENCH_TP_WORKERS
# (default 16). The hub part has its own knobs (HUB_*, bench/hubload.sh).
set -u
. "$(dirname "$0")/common.sh"

HUB_ONLY=0
if [ "${1:-}" = --hub-only ]; then
	HUB_ONLY=1
	shift
fi
BUILD_ARG=${1:?usage: bench/run.sh [--hub-only] BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD_ARG" 2>/dev/null && pwd) || { echo "bench: no build directory $BUILD_ARG" >&2; exit 1; }

BENCH_USER=jitsubench
PRIVSEP_USER=jitsubenchps # jitsud --privsep-user for this run
RUNS=${BENCH_RUNS:-334}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=20
TP_SECONDS=${BENCH_TP_SECONDS:-10}
TP_WORKERS=${BENCH_TP_WORKERS:-16}
TP_GRACE=5
FLOOR_SECONDS=5
SUDOERS_FILE=/etc/sudoers.d/jitsubench-bench
DOAS_CONF=/etc/doas.conf
RESULTS=$ROOT/bench/results
DOC=$ROOT/docs/benchmarks.md

BUILD_JITSUD=$BUILD/jitsud/jitsud
BUILD_JITSU=$BUILD/jitsu/jitsu

T='' JPID='' S6PID='' NPID='' CHILD=''
USER_CREATED=0 PRIVSEP_CREATED=0 SUDOERS_WRITTEN=0 DOAS_STATE=untouched SUDO_TS_EXISTED=1

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# Stops a process we started: SIGTERM, up to 5 s, then SIGKILL; reaps it.

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	set +e
	[ -n "$CHILD" ] && stop_pid "$CHILD"
	[ -n "$NPID" ] && stop_pid "$NPID"
	[ -n "$JPID" ] && stop_pid "$JPID"
	[ -n "$S6PID" ] && stop_pid "$S6PID"
	if [ "$USER_CREATED" = 1 ]; then
		# Every process of the bench user was started by this script.
		local pids
		pids=$(ps -o pid= -u "$BENCH_USER" -U "$BENCH_USER" 2>/dev/null)
		# shellcheck disable=SC2086
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
		for pid in $pids; do timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null; done
		userdel "$BENCH_USER" || log "could not remove user $BENCH_USER"
		getent group "$BENCH_USER" >/dev/null && groupdel "$BENCH_USER"
	fi
	if [ "$PRIVSEP_CREATED" = 1 ]; then
		userdel "$PRIVSEP_USER" || log "could not remove user $PRIVSEP_USER"
		getent group "$PRIVSEP_USER" >/dev/null && groupdel "$PRIVSEP_USER"
	fi
	[ "$SUDO_TS_EXISTED" = 0 ] && rm -f "/run/sudo/ts/$BENCH_USER"
	[ "$SUDOERS_WRITTEN" = 1 ] && rm -f "$SUDOERS_FILE"
	case $DOAS_STATE in
	created) rm -f "$DOAS_CONF" ;;
	replaced) cp -p "$T/doas.conf.orig" "$DOAS_CONF" || log "could not restore $DOAS_CONF (copy in $T)" ;;
	esac
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "$DOAS_STATE" = replaced ] && ! cmp -s "$T/doas.conf.orig" "$DOAS_CONF"; then
			log "keeping $T: it holds the original $DOAS_CONF"
		else
			rm -rf "$T"
		fi
	fi
	[ "$rc" -ne 0 ] && log "exit status $rc; system restored"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP


# Runs a command as the bench user: no terminal (own session, stdin on
# /dev/null), a small fixed environment, in a directory of its own.
as_user() {
	(cd "$T/work" && exec setsid -w runuser -u "$BENCH_USER" -- \
		env -i PATH=/usr/bin:/bin HOME="$T/work" LANG=C.UTF-8 \
		USER="$BENCH_USER" LOGNAME="$BENCH_USER" "$@" </dev/null)
}

# Reads NAME's value in kB from /proc/PID/status.
proc_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# jitsu-hub under load into $T/hub; keeps its raw output in $RESULTS.
# 0 if every backend was measured.
hub_bench() {
	log "jitsu-hub: bench/hubload.sh (SQLite, then PostgreSQL)"
	mkdir -p "$T/hub" "$RESULTS"
	# hubload.sh bounds itself (the generator's deadline); timeout is the backstop.
	run_wait timeout 600 "$ROOT/bench/hubload.sh" "$BUILD_ARG" "$T/hub"
	local rc=$?
	rm -f "$RESULTS"/hub-*
	cp "$T/hub"/hub-* "$RESULTS/" 2>/dev/null
	[ -s "$T/hub/hub-facts.txt" ] || { log "jitsu-hub: no figures (status $rc)"; return 1; }
	[ $rc -eq 0 ] || log "jitsu-hub: not every backend was measured (status $rc)"
	return $rc
}

if [ "$HUB_ONLY" = 1 ]; then
	for tool in python3 cc timeout; do
		command -v "$tool" >/dev/null || die "$tool not found"
	done
	T=$(mktemp -d /var/tmp/jitsubench.XXXXXX) || die "mktemp"
	hub_bench
	HUB_RC=$?
	[ -s "$T/hub/hub-facts.txt" ] || die "jitsu-hub could not be measured"
	if ! grep -q '^hub_[a-z]*_status=ok$' "$T/hub/hub-facts.txt"; then
		die "jitsu-hub could not be measured on any backend: $(grep '_status=' "$T/hub/hub-facts.txt" | paste -sd' ')"
	fi
	mkdir -p "$(dirname "$DOC")"
	python3 "$ROOT/bench/report.py" --hub-only "$T/hub/hub-facts.txt" "$DOC" >/dev/null ||
		die "cannot write the jitsu-hub section of $DOC"
	log "wrote the jitsu-hub section of $DOC; raw figures in $RESULTS/hub-*"
	[ "$HUB_RC" -eq 0 ] || die "jitsu-hub: not every backend was measured (see $DOC)"
	exit 0
fi

# ---------------------------------------------------------------- checks
[ "$(id -u)" = 0 ] || die "must run as root"
[ "$ROUNDS" -ge 1 ] 2>/dev/null && [ "$((RUNS * ROUNDS))" -ge 300 ] 2>/dev/null ||
	die "BENCH_RUNS x BENCH_ROUNDS must be at least 300"
for tool in hyperfine sudo doas s6-ipcserver s6-sudo s6-sudod python3 cc runuser setsid \
	useradd userdel visudo timeout; do
	command -v "$tool" >/dev/null || die "$tool not found (make bench installs the peers)"
done
[ -x "$BUILD_JITSUD" ] && [ -x "$BUILD_JITSU" ] || die "no jitsud/jitsu in $BUILD (ninja -C $BUILD)"
getent passwd "$BENCH_USER" >/dev/null && die "user $BENCH_USER exists already: remove it first"
getent group "$BENCH_USER" >/dev/null && die "group $BENCH_USER exists already: remove it first"
[ -e "$SUDOERS_FILE" ] && die "$SUDOERS_FILE exists already: remove it first"
grep -Eq '^[@#]includedir[[:space:]]+/etc/sudoers.d' /etc/sudoers ||
	die "/etc/sudoers does not include /etc/sudoers.d"

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at start: $LOADAVG_START"

# ------------------------------------------------------- temporary world
# /var/tmp rather than /tmp: on disk like /var/lib/jitsu, where /tmp may be tmpfs.
T=$(mktemp -d /var/tmp/jitsubench.XXXXXX) || die "mktemp"
chmod 0755 "$T"
mkdir -m 0755 "$T/bin" "$T/work"

# A snapshot of the two binaries: a rebuild of the tree during the run must
# not swap them under the bench (they link no library from the build tree).
JITSUD=$T/bin/jitsud
JITSU=$T/bin/jitsu
install -m 0755 "$BUILD_JITSUD" "$JITSUD" && install -m 0755 "$BUILD_JITSU" "$JITSU" &&
	"$JITSUD" -V >/dev/null && "$JITSU" -V >/dev/null ||
	die "cannot copy jitsud and jitsu from $BUILD (is a rebuild running?)"

for prog in loadgen appendfloor; do
	cc -O2 -std=c11 -Wall -Wextra -o "$T/bin/$prog" "$ROOT/bench/$prog.c" ||
		die "cannot compile bench/$prog.c"
done

useradd -M -d /nonexistent -s /usr/sbin/nologin -c "jitsu bench (temporary)" "$BENCH_USER" ||
	die "useradd $BENCH_USER"
USER_CREATED=1
useradd --system --no-create-home --shell /usr/sbin/nologin "$PRIVSEP_USER" ||
	die "useradd $PRIVSEP_USER"
PRIVSEP_CREATED=1
chown "$BENCH_USER:" "$T/work"
[ -e "/run/sudo/ts/$BENCH_USER" ] || SUDO_TS_EXISTED=0

# sudo: one file in /etc/sudoers.d, checked before it goes in.
printf '%s ALL=(root) NOPASSWD: /usr/bin/true\n' "$BENCH_USER" >"$T/sudoers"
visudo -cqf "$T/sudoers" || die "sudoers fragment does not parse"
install -o root -g root -m 0440 "$T/sudoers" "$SUDOERS_FILE" || die "cannot write $SUDOERS_FILE"
SUDOERS_WRITTEN=1

# doas: reads only /etc/doas.conf; back it up first. doas compares 'cmd'
# with the command as typed, so 'true'.
if [ -e "$DOAS_CONF" ] || [ -L "$DOAS_CONF" ]; then
	cp -p "$DOAS_CONF" "$T/doas.conf.orig" || die "cannot back up $DOAS_CONF"
	DOAS_STATE=replaced
else
	DOAS_STATE=created
fi
printf 'permit nopass %s as root cmd true\n' "$BENCH_USER" >"$T/doas.conf"
install -o root -g root -m 0400 "$T/doas.conf" "$DOAS_CONF" || die "cannot write $DOAS_CONF"

# s6-sudo: s6-ipcserver as root on a temporary socket, s6-sudod runs true.
# -1 writes a newline to stdout once the socket is listening.
mkfifo "$T/s6.fifo"
s6-ipcserver -1 -c 64 -C 64 -a 0777 "$T/s6.sock" s6-sudod /usr/bin/true \
	>"$T/s6.fifo" 2>"$T/s6-ipcserver.log" &
S6PID=$!
{
	read -r -t 10 _ <&3 || die "s6-ipcserver did not become ready: $(cat "$T/s6-ipcserver.log")"
} 3<"$T/s6.fifo"

# jitsud: root-owned 0644 policy, socket in the 0755 temporary directory,
# readiness by sd_notify on an abstract socket.
printf 'permit %s as root cmd /usr/bin/true\n' "$BENCH_USER" >"$T/policy.conf"
chown root:root "$T/policy.conf" && chmod 0644 "$T/policy.conf"
"$JITSUD" -t -c "$T/policy.conf" >/dev/null || die "jitsud rejects the bench policy"
SOCK=$T/jitsud.sock
NOTIFY_NAME=jitsubench-notify-$$
mkfifo "$T/notify.fifo"
python3 "$ROOT/bench/notify_wait.py" "$NOTIFY_NAME" 20 >"$T/notify.fifo" &
NPID=$!
exec 3<"$T/notify.fifo"
read -r -t 10 line <&3 && [ "$line" = listening ] || die "notify listener did not start"
NOTIFY_SOCKET=@$NOTIFY_NAME "$JITSUD" -f -c "$T/policy.conf" -S "$SOCK" -d "$T/state" \
	--privsep-user "$PRIVSEP_USER" </dev/null >"$T/jitsud.log" 2>&1 &
JPID=$!
read -r -t 25 line <&3
exec 3<&-
wait "$NPID" 2>/dev/null
NPID=
[ "$line" = READY ] && kill -0 "$JPID" 2>/dev/null ||
	die "jitsud did not become ready: $(cat "$T/jitsud.log")"
RSS_IDLE=$(proc_kb "$JPID" VmRSS)
RSS_IDLE_ANON=$(proc_kb "$JPID" RssAnon)
RSS_IDLE_FILE=$(proc_kb "$JPID" RssFile)
log "jitsud ready (pid $JPID), idle VmRSS ${RSS_IDLE} kB"

# ----------------------------------------------------------- sanity
# Each contender must succeed once as the bench user before it is timed.
declare -a NAMES=("/bin/true" "jitsu client start (-V)" "jitsu true" "s6-sudo" "doas -n true" "sudo -n true")
declare -a CMDS=("/bin/true" "'$JITSU' -V" "'$JITSU' -S '$SOCK' true" "s6-sudo '$T/s6.sock'" "doas -n true" "sudo -n true")
check() {
	local name=$1
	shift
	local out
	out=$(as_user "$@" 2>&1) || die "'$name' fails as $BENCH_USER: $out"
}
check "/bin/true" /bin/true
check "jitsu true" "$JITSU" -S "$SOCK" true
check "s6-sudo" s6-sudo "$T/s6.sock"
check "doas -n true" doas -n true
check "sudo -n true" sudo -n true
# The policy is in force: anything but true is refused.
as_user "$JITSU" -S "$SOCK" id >/dev/null 2>&1 && die "jitsud permitted 'id': wrong policy in force"

# ----------------------------------------------------------- latency
LATENCY_JSON=()
for round in $(seq 1 "$ROUNDS"); do
	log "latency round $round/$ROUNDS: hyperfine -N, $WARMUP warm-up + $RUNS runs of each of ${#CMDS[@]} commands"
	json=$T/work/latency-$round.json
	HF_ARGS=(-N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$json")
	for i in "${!CMDS[@]}"; do
		HF_ARGS+=(-n "${NAMES[$i]}" "${CMDS[$i]}")
	done
	run_wait as_user timeout 240 hyperfine "${HF_ARGS[@]}" >&2 || die "hyperfine failed"
	[ -s "$json" ] || die "hyperfine wrote no JSON"
	LATENCY_JSON+=("$json")
done
RSS_AFTER_LATENCY=$(proc_kb "$JPID" VmRSS)

# -------------------------------------------------------- throughput
declare -A TP
tp() {
	local key=$1 name=$2
	shift 2
	log "throughput: $name, $TP_WORKERS clients x ${TP_SECONDS} s"
	local out
	# loadgen bounds itself (deadline + grace); timeout is the backstop.
	run_wait as_user timeout $((TP_SECONDS + TP_GRACE + 20)) \
		"$T/bin/loadgen" -j "$TP_WORKERS" -t "$TP_SECONDS" -g "$TP_GRACE" -- "$@" >"$T/tp.out"
	local rc=$?
	out=$(cat "$T/tp.out")
	log "  $out"
	[ $rc -eq 0 ] || die "throughput of '$name' could not be measured (loadgen status $rc: $out)"
	TP[$key]=$out
	printf '%s: %s\n' "$name" "$out" >>"$T/throughput.txt"
}
tp tp_true "/bin/true" /bin/true
tp tp_jitsu "jitsu true" "$JITSU" -S "$SOCK" true
tp tp_s6 "s6-sudo" s6-sudo "$T/s6.sock"
tp tp_doas "doas -n true" doas -n true
tp tp_sudo "sudo -n true" sudo -n true

# Let jitsud reap the last sessions before reading its memory.
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ -z "$(ps -o pid= --ppid "$JPID")" ] && break
	timeout 0.2 tail --pid="$JPID" -f /dev/null
done
RSS_AFTER=$(proc_kb "$JPID" VmRSS)
HWM_AFTER=$(proc_kb "$JPID" VmHWM)

# Raw append floor: write + fdatasync beside the state directory.
STATE_FS="$(findmnt -n -o FSTYPE -T "$T/state") on $(findmnt -n -o SOURCE -T "$T/state")"
log "append floor: write+fdatasync for ${FLOOR_SECONDS} s on $STATE_FS"
FLOOR=$("$T/bin/appendfloor" "$T/floor.log" "$FLOOR_SECONDS") || die "append floor: $FLOOR"
log "  $FLOOR"
printf 'append floor: %s\n' "$FLOOR" >>"$T/throughput.txt"

kill -0 "$JPID" 2>/dev/null || die "jitsud died during the bench: $(tail -5 "$T/jitsud.log")"

# ------------------------------------------------------------- jitsu-hub
hub_bench
HUB_RC=$?
HUB_REPORT=()
[ -s "$T/hub/hub-facts.txt" ] && HUB_REPORT=(--hub "$T/hub/hub-facts.txt")

# ------------------------------------------------------------ report
# The shared libraries a binary loads, by file name.
libs() { ldd "$1" | awk '$1 !~ /^linux-vdso|^\/lib64\/ld-linux/ {print $1}' | paste -sd' '; }
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
buildtype=$(python3 -c 'import json,sys
for o in json.load(open(sys.argv[1])):
    if o["name"] == "buildtype": print(o["value"])' "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null)
if [ -S /dev/log ]; then
	syslog="/dev/log present: sudo and doas log each run through syslog; jitsud logs to stderr (-f), kept in a file"
else
	syslog="no syslog daemon (/dev/log absent), so sudo's and doas's syslog calls fail at once; jitsud logs to stderr (-f), kept in a file"
fi
FACTS=$T/facts.txt
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc=$(nproc)"
	echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "kernel=$(uname -r)"
	echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "loadavg_start=$LOADAVG_START"
	echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "jitsu_version=$("$JITSU" -V)"
	echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "build=$BUILD_ARG"
	echo "buildtype=${buildtype:-unknown}"
	echo "ver_sudo=$(ver sudo)"
	echo "ver_opendoas=$(ver opendoas)"
	echo "ver_s6=$(ver s6)"
	echo "ver_hyperfine=$(ver hyperfine)"
	echo "state_fs=$STATE_FS"
	echo "jitsu_libs=$(libs "$JITSU")"
	echo "jitsud_libs=$(libs "$JITSUD")"
	echo "syslog=$syslog"
	echo "warmup=$WARMUP"
	echo "runs=$RUNS"
	echo "rounds=$ROUNDS"
	echo "tp_workers=$TP_WORKERS"
	echo "tp_seconds=$TP_SECONDS"
	for k in tp_true tp_jitsu tp_s6 tp_doas tp_sudo; do echo "$k=${TP[$k]}"; done
	echo "append_floor=$FLOOR"
	echo "append_line_bytes=$(printf '{"seq":0,"user":"jitsubench","cmd":"/usr/bin/true"}\n' | wc -c)"
	echo "rss_idle_kb=$RSS_IDLE"
	echo "rss_idle_anon_kb=$RSS_IDLE_ANON"
	echo "rss_idle_file_kb=$RSS_IDLE_FILE"
	echo "rss_after_latency_kb=$RSS_AFTER_LATENCY"
	echo "rss_after_kb=$RSS_AFTER"
	echo "hwm_after_kb=$HWM_AFTER"
} >"$FACTS"

mkdir -p "$RESULTS"
rm -f "$RESULTS"/latency*.json
cp "${LATENCY_JSON[@]}" "$RESULTS/"
cp "$T/throughput.txt" "$RESULTS/throughput.txt"
cp "$FACTS" "$RESULTS/facts.txt"
cp "$T/jitsud.log" "$RESULTS/jitsud.log"
python3 "$ROOT/bench/report.py" "${HUB_REPORT[@]}" "$FACTS" "$T/benchmarks.md" \
	"$RESULTS"/latency-*.json || die "cannot write the report"
mkdir -p "$(dirname "$DOC")"
cp "$T/benchmarks.md" "$DOC" || die "cannot write $DOC"
log "wrote $DOC; raw figures in $RESULTS"
[ "$HUB_RC" -eq 0 ] || die "jitsu-hub could not be measured on every backend (see $DOC)"
