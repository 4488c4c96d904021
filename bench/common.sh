# bench/common.sh: shell helpers shared by bench/run.sh and bench/hubload.sh
# (sourced, so `wait` applies to the caller's own children). Both scripts
# keep the pid of the command they wait for in CHILD, so that their exit
# trap can stop it.

# stop_pid PID [SIGNAL [GRACE]]: signals PID (TERM), waits up to GRACE
# seconds (5), then kills it, and reaps it.
stop_pid() {
	local pid=$1 sig=${2:-TERM} grace=${3:-5}
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -"$sig" "$pid" 2>/dev/null
	timeout "$grace" tail --pid="$pid" -f /dev/null 2>/dev/null
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# Runs a command in the background and waits, so a signal reaches the trap
# at once instead of after the command. Returns the command's status.
run_wait() {
	"$@" &
	CHILD=$!
	wait "$CHILD"
	local rc=$?
	CHILD=
	return $rc
}
