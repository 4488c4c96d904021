#!/bin/bash
# bench/hubload.sh BUILD_DIR OUT_DIR: jitsu-hub under load, once on SQLite
# and once on PostgreSQL. Run by bench/run.sh (also as `run.sh --hub-only`).
#
# For each backend: a fresh hub directory (jitsu-hub init, a copy of the
# build's binary taken at the start), `jitsu-hub serve` on 127.0.0.1 with
# --max-connections raised for the long-polls and the open-files limit
# raised to its hard limit, then bench/hubload (compiled here) against it
# (see the comment at its top). PostgreSQL is a throw-away cluster in a
# temporary directory, on a Unix socket only, run as `postgres` when we are
# root (initdb refuses root), with its default durability (fsync on), as
# SQLite runs with synchronous=FULL.
#
# Writes OUT_DIR/hub-facts.txt (key=value, keys hub_*; per backend
# hub_<backend>_*), OUT_DIR/hub-<backend>.out/.err (the generator's output)
# and OUT_DIR/hub-<backend>-serve.log (the hub's log, last lines). Exit 0
# when every backend was measured, 1 otherwise (the facts say why).
#
# Knobs: HUB_BACKENDS ("sqlite postgresql"), HUB_ENDPOINTS (10000),
# HUB_WAITERS (2000), HUB_INFLIGHT (64), HUB_RATE (100 approvals/s),
# HUB_STEADY (1000), HUB_BURST (1000), HUB_BURST_INFLIGHT (8).
set -u
. "$(dirname "$0")/common.sh"

BUILD_ARG=${1:?usage: bench/hubload.sh BUILD_DIR OUT_DIR}
OUT=${2:?usage: bench/hubload.sh BUILD_DIR OUT_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD_ARG" 2>/dev/null && pwd) || { echo "hubload: no build directory $BUILD_ARG" >&2; exit 1; }

BACKENDS=${HUB_BACKENDS:-sqlite postgresql}
ENDPOINTS=${HUB_ENDPOINTS:-10000}
WAITERS=${HUB_WAITERS:-2000}
INFLIGHT=${HUB_INFLIGHT:-64}
RATE=${HUB_RATE:-100}
STEADY=${HUB_STEADY:-1000}
BURST=${HUB_BURST:-1000}
BURST_INFLIGHT=${HUB_BURST_INFLIGHT:-8}
GEN_DEADLINE=150 # the generator gives up after this many seconds
PGBIN=${JITSU_PGBIN:-/usr/lib/postgresql/15/bin}
# Long-polls, plus the enrollment connections closing, the approvers, slack.
MAX_CONN=$((WAITERS + INFLIGHT + 64))
NOFILE_NEEDED=$((MAX_CONN + 256))

T='' HPID='' PGPID='' CHILD=''
FACTS=$OUT/hub-facts.txt

log() { printf 'hubload: %s\n' "$*" >&2; }
fact() { printf '%s=%s\n' "$1" "$2" >>"$FACTS"; }


cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	set +e
	[ -n "$CHILD" ] && stop_pid "$CHILD" TERM 15
	[ -n "$HPID" ] && stop_pid "$HPID" TERM 15
	[ -n "$PGPID" ] && stop_pid "$PGPID" INT 15 # fast shutdown
	[ -n "$T" ] && [ -d "$T" ] && rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP


# As the postgres user when root (initdb and postgres refuse root), else as
# the caller. setpriv execs the command itself (runuser would fork and
# stand between us and postgres's signals).
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		exec setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- "$@"
	fi
	exec "$@"
}

mkdir -p "$OUT" || exit 1
: >"$FACTS" || exit 1
T=$(mktemp -d /var/tmp/jitsu-hubbench.XXXXXX) || exit 1
chmod 0755 "$T"

[ -x "$BUILD/hub/jitsu-hub" ] || { log "no $BUILD/hub/jitsu-hub (ninja -C $BUILD)"; exit 1; }
install -m 0755 "$BUILD/hub/jitsu-hub" "$T/jitsu-hub" && "$T/jitsu-hub" --version >/dev/null ||
	{ log "cannot copy jitsu-hub from $BUILD (is a rebuild running?)"; exit 1; }
cc -O2 -std=c11 -Wall -Wextra -o "$T/hubload" "$ROOT/bench/hubload.c" -lssl -lcrypto -ljansson ||
	{ log "cannot compile bench/hubload.c"; exit 1; }

# The hub and the generator inherit this shell's limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] || [ "$NOFILE" -ge "$NOFILE_NEEDED" ] ||
	{ log "open-files limit $NOFILE < $NOFILE_NEEDED (raise the hard limit)"; exit 1; }

ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
fact hub_date "$(date -u '+%Y-%m-%d %H:%M UTC')"
fact hub_commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
fact hub_build "$BUILD_ARG"
fact hub_version "$("$T/jitsu-hub" --version)"
fact hub_nproc "$(nproc)"
fact hub_cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
fact hub_loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
fact hub_ver_mhd "$(ver libmicrohttpd12)"
fact hub_ver_gnutls "$(ver libgnutls30)"
fact hub_ver_sqlite "$(ver libsqlite3-0)"
fact hub_ver_pg "$(ver postgresql-15)"
fact hub_fs "$(findmnt -n -o FSTYPE -T "$T") on $(findmnt -n -o SOURCE -T "$T")"
fact hub_nofile "$NOFILE"
# libmicrohttpd's per-connection pool, as hub/http.h sets it (for the report's
# explanation of the per-connection RSS); empty if the define moved.
fact hub_http_memory_limit "$(sed -n 's/^#define HTTP_MEMORY_LIMIT (\([0-9]*\) \* 1024).*/\1/p' \
	"$ROOT/hub/http.h" 2>/dev/null | head -1)"
fact hub_max_connections "$MAX_CONN"
fact hub_endpoints "$ENDPOINTS"
fact hub_waiters "$WAITERS"
fact hub_inflight "$INFLIGHT"
fact hub_rate "$RATE"
fact hub_steady "$STEADY"
fact hub_burst "$BURST"
fact hub_burst_inflight "$BURST_INFLIGHT"
fact hub_backends "$BACKENDS"

# Starts a throw-away cluster in $T/pg; sets PG_URL. 0 or 1.
pg_start() {
	[ -x "$PGBIN/postgres" ] || { PG_WHY="PostgreSQL is not installed ($PGBIN)"; return 1; }
	if [ "$(id -u)" = 0 ] && ! getent passwd postgres >/dev/null; then
		PG_WHY="no postgres user"
		return 1
	fi
	mkdir -m 0700 "$T/pg"
	[ "$(id -u)" = 0 ] && chown postgres: "$T/pg"
	(cd "$T/pg" && as_pg "$PGBIN/initdb" -D "$T/pg/data" -U postgres --auth=trust -E UTF8 \
		--no-sync --locale=C >"$T/pg/initdb.log" 2>&1) ||
		{ PG_WHY="initdb failed: $(tail -3 "$T/pg/initdb.log")"; return 1; }
	(cd "$T/pg" && as_pg "$PGBIN/postgres" -D "$T/pg/data" -k "$T/pg" \
		-c listen_addresses= -c max_connections=20 >"$T/pg/postgres.log" 2>&1) &
	PGPID=$!
	local _
	for _ in $(seq 1 300); do
		kill -0 "$PGPID" 2>/dev/null || break
		"$PGBIN/pg_isready" -q -h "$T/pg" -U postgres && break
		sleep 0.1
	done
	"$PGBIN/pg_isready" -q -h "$T/pg" -U postgres ||
		{ PG_WHY="postgres did not start: $(tail -3 "$T/pg/postgres.log")"; return 1; }
	(as_pg "$PGBIN/createdb" -h "$T/pg" -U postgres jitsuhub >>"$T/pg/postgres.log" 2>&1) ||
		{ PG_WHY="createdb failed"; return 1; }
	PG_URL="postgresql:///jitsuhub?host=$T/pg&user=postgres"
	fact hub_pg_settings "$("$PGBIN/psql" -h "$T/pg" -U postgres -d jitsuhub -At -c \
		"SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings
		 WHERE name IN ('fsync','synchronous_commit','full_page_writes','shared_buffers','wal_level')" 2>/dev/null)"
	return 0
}

pg_stop() {
	[ -n "$PGPID" ] || return 0
	stop_pid "$PGPID" INT 15
	PGPID=
	rm -rf "$T/pg"
}

# One backend: init, serve, generator, stop. 0 or 1 (reason in the facts).
run_backend() {
	local b=$1 db=$2 dbpid=${3:-}
	local extra=()
	[ -n "$dbpid" ] && extra=(--db-pid "$dbpid")
	local dir=$T/hub-$b
	local initargs=(init --dir "$dir" --listen 127.0.0.1:0)
	[ -n "$db" ] && initargs+=(--db "$db")
	"$T/jitsu-hub" "${initargs[@]}" >"$T/init-$b.out" 2>"$T/init-$b.err" ||
		{ fact "hub_${b}_status" "failed: jitsu-hub init: $(tail -2 "$T/init-$b.err")"; return 1; }
	sed -n 's/^admin-token: //p' "$T/init-$b.out" >"$T/admin-token-$b"
	chmod 0600 "$T/admin-token-$b"
	# The hub's own ceiling for --max-connections, from its refusal of a huge one.
	[ "$b" = sqlite ] && fact hub_max_connections_limit "$("$T/jitsu-hub" serve --dir "$dir" \
		--max-connections 2000000000 2>&1 </dev/null | sed -n 's/.* from 1 to \([0-9]*\).*/\1/p')"
	mkfifo "$T/serve-$b.fifo"
	"$T/jitsu-hub" serve --dir "$dir" --max-connections "$MAX_CONN" \
		>"$T/serve-$b.fifo" 2>"$T/serve-$b.log" </dev/null &
	HPID=$!
	local line=''
	{ read -r -t 30 line <&3; } 3<"$T/serve-$b.fifo"
	case $line in
	"listening: https://127.0.0.1:"*) ;;
	*)
		fact "hub_${b}_status" "failed: the hub did not start: $(tail -2 "$T/serve-$b.log")"
		return 1
		;;
	esac
	local url=${line#listening: }
	log "$b: hub pid $HPID at $url, --max-connections $MAX_CONN, open-files limit $NOFILE"
	run_wait timeout $((GEN_DEADLINE + 30)) "$T/hubload" --url "$url" --cacert "$dir/tls.crt" \
		--admin-token-file "$T/admin-token-$b" --hub-pid "$HPID" --endpoints "$ENDPOINTS" \
		--waiters "$WAITERS" --inflight "$INFLIGHT" --rate "$RATE" --steady "$STEADY" \
		--burst "$BURST" --burst-inflight "$BURST_INFLIGHT" --deadline "$GEN_DEADLINE" \
		"${extra[@]}" >"$OUT/hub-$b.out" 2> >(tee "$OUT/hub-$b.err" >&2)
	local grc=$?
	local alive=1
	kill -0 "$HPID" 2>/dev/null || alive=0
	stop_pid "$HPID" TERM 15
	local hrc=$?
	HPID=
	tail -n 40 "$T/serve-$b.log" >"$OUT/hub-$b-serve.log"
	sed "s/^/hub_${b}_/" "$OUT/hub-$b.out" >>"$FACTS"
	fact "hub_${b}_hub_exit" "$hrc"
	if [ "$alive" = 0 ]; then
		fact "hub_${b}_status" "failed: the hub died under load: $(tail -2 "$T/serve-$b.log")"
		return 1
	fi
	if [ "$grc" -ne 0 ]; then
		fact "hub_${b}_status" "failed: the generator exited $grc: $(grep FAILED "$OUT/hub-$b.err" | tail -1)"
		return 1
	fi
	fact "hub_${b}_status" ok
	return 0
}

FAILED=0
for b in $BACKENDS; do
	case $b in
	sqlite)
		log "sqlite: $ENDPOINTS endpoints, $WAITERS waiting"
		run_backend sqlite "" || FAILED=1
		;;
	postgresql)
		log "postgresql: starting a throw-away cluster"
		PG_WHY=''
		if pg_start; then
			log "postgresql: $ENDPOINTS endpoints, $WAITERS waiting"
			run_backend postgresql "$PG_URL" "$PGPID" || FAILED=1
		else
			fact hub_postgresql_status "not measured: $PG_WHY"
			FAILED=1
		fi
		pg_stop
		;;
	*)
		log "unknown backend $b"
		FAILED=1
		;;
	esac
done
fact hub_loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
exit "$FAILED"
