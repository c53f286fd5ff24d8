#!/usr/bin/env bash
# bench/accept.sh: durable acceptance rate of stsrelayd.
#
#   bench/accept.sh [BUILD-DIR]        (default _build; run from the source tree)
#
# 1. 4 KiB messages from 50 concurrent clients, group commit (the default):
#    messages/s durably accepted, daemon CPU seconds, peak RSS.
# 2. The same with one log flush (fsync) per message, as the baseline.
# 3. 5,000 idle sessions after EHLO: daemon memory per session.
# Environment: MESSAGES (default 20000), BASELINE_MESSAGES (3000), CLIENTS (50),
# SIZE (4096), IDLE (5000).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/_build}" && pwd)
MESSAGES=${MESSAGES:-20000}
BASELINE_MESSAGES=${BASELINE_MESSAGES:-3000}
CLIENTS=${CLIENTS:-50}
SIZE=${SIZE:-4096}
IDLE=${IDLE:-5000}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

T=$(mktemp -d "${TMPDIR:-/tmp}/stsrelay-bench.XXXXXX")
DPID=
cleanup() {
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

start() { # start NAME [-o k=v ...]
	local name=$1; shift
	PORT=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
	rm -rf "$T/$name"; mkdir -p "$T/$name"
	"$build/stsrelayd" -d -f "$top/etc/stsrelay.conf" -o listen=127.0.0.1:$PORT \
	    -o spool_directory="$T/$name/spool" -o control_socket="$T/$name/ctl.sock" \
	    -o run_as= -o log_level=warning -o max_connections=20000 \
	    -o max_connections_per_client=20000 "$@" 2>"$T/$name/log" &
	DPID=$!
	local i
	for i in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && [ -S "$T/$name/ctl.sock" ] && return 0
		sleep 0.05
	done
	echo "stsrelayd did not start:"; cat "$T/$name/log"; exit 1
}

stop() {
	kill -TERM "$DPID"; wait "$DPID" || true; DPID=
}

cpu_seconds() { # utime+stime of $DPID in seconds
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$DPID/stat"
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$DPID/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$DPID/status"; }

run_load() { # run_load NAME COUNT [-o ...]: prints one result line
	local name=$1 n=$2; shift 2
	start "$name" "$@"
	local c0 out c1
	c0=$(cpu_seconds)
	out=$("$build/bench/smtp-load" -s 127.0.0.1:$PORT -c "$CLIENTS" -n "$n" -z "$SIZE" -T 600)
	c1=$(cpu_seconds)
	printf '%-14s %s cpu_s=%s cpu_us_per_msg=%s peak_rss_kib=%s\n' "$name" "$out" \
	    "$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}')" \
	    "$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')" \
	    "$(hwm_kib)"
	stop
}

echo "# bench/accept: messages of $SIZE bytes from $CLIENTS clients; $(nproc) cores; $(uname -r)"
run_load group-commit "$MESSAGES"
run_load fsync-each "$BASELINE_MESSAGES" -o spool_commit_batch=1

start idle
before=$(rss_kib)
"$build/bench/smtp-load" -s 127.0.0.1:$PORT -i "$IDLE" -T 15 >"$T/idle.out" 2>&1 &
lpid=$!
for i in $(seq 300); do grep -q 'idle sessions open' "$T/idle.out" && break; sleep 0.05; done
sleep 1
after=$(rss_kib)
echo "idle           sessions=$IDLE rss_before_kib=$before rss_after_kib=$after" \
    "per_session_bytes=$(( (after - before) * 1024 / IDLE ))"
kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null || true
stop
