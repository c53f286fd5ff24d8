#!/usr/bin/env bash
# bench/accept.sh: durable acceptance rate of stsrelayd.
#
#   bench/accept.sh [BUILD-DIR]        (default _build; run from the source tree)
#
# 1. 4 KiB messages from 50 concurrent clients, group commit (the default):
#    messages/s durably accepted, daemon CPU seconds, peak RSS.
# 2. The same with one log flush (fsync) per message, as the baseline.
# 3. The group-commit run again with each client count in CURVE (default
#    "100 200"): with one message in flight per client, the rate is about
#    clients / time per message, so the curve shows what is latency and what
#    is not.
# 4. 5,000 idle sessions after EHLO: daemon memory per session.
# Each load line ends with the client-side latency (MAIL sent to 250 read,
# 50th and 99th percentile, in ms), the rate between the first and the last
# 250 (steady_rate) and the daemon's CPU split into user and system time.
# With RUNS=n each load runs n times, interleaved, and a median line follows.
# The first line gives the sync latency of the spool's file system (dd with
# oflag=dsync), which bounds every durable commit.
# Environment: MESSAGES (default 20000), BASELINE_MESSAGES (3000), CLIENTS (50),
# SIZE (4096), IDLE (5000), CURVE ("100 200"), RUNS (1).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/_build}" && pwd)
MESSAGES=${MESSAGES:-20000}
BASELINE_MESSAGES=${BASELINE_MESSAGES:-3000}
CLIENTS=${CLIENTS:-50}
SIZE=${SIZE:-4096}
IDLE=${IDLE:-5000}
CURVE=${CURVE-100 200}
RUNS=${RUNS:-1}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

T=$(mktemp -d "${TMPDIR:-/tmp}/stsrelay-bench.XXXXXX")
DPID=
cleanup() {
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

start() { # start NAME [-o k=v ...]
	local name=$1 try i; shift
	for try in 1 2 3 4 5; do
		PORT=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		rm -rf "$T/$name"; mkdir -p "$T/$name"
		"$build/stsrelayd" -d -f "$top/etc/stsrelay.conf" -o listen=127.0.0.1:$PORT \
		    -o spool_directory="$T/$name/spool" -o control_socket="$T/$name/ctl.sock" \
		    -o run_as= -o log_level=warning -o max_connections=20000 \
		    -o max_connections_per_client=20000 "$@" 2>"$T/$name/log" &
		DPID=$!
		for i in $(seq 200); do
			kill -0 "$DPID" 2>/dev/null || break	# the port was taken: next
			(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && [ -S "$T/$name/ctl.sock" ] && return 0
			sleep 0.05
		done
		kill -0 "$DPID" 2>/dev/null && kill -9 "$DPID"	# up but not answering
		wait "$DPID" 2>/dev/null || true; DPID=
		grep -q 'Address already in use' "$T/$name/log" || break
	done
	echo "stsrelayd did not start:"; cat "$T/$name/log"; exit 1
}

stop() {
	kill -TERM "$DPID"; wait "$DPID" || true; DPID=
}

cpu_seconds() { # "utime+stime utime stime" of $DPID in seconds
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz, $14 / hz, $15 / hz}' "/proc/$DPID/stat"
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$DPID/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$DPID/status"; }

run_load() { # run_load NAME COUNT CLIENTS [-o ...]: prints one result line
	local name=$1 n=$2 clients=$3; shift 3
	start "$name" "$@"
	local c0 c1 out lat
	c0=$(cpu_seconds)
	out=$("$build/bench/smtp-load" -s 127.0.0.1:$PORT -c "$clients" -n "$n" -z "$SIZE" -T 600 -L)
	c1=$(cpu_seconds)
	lat=$(sed -n 2p <<<"$out")
	printf '%-14s %s cpu_s=%s cpu_us_per_msg=%s peak_rss_kib=%s clients=%s %s\n' "$name" \
	    "$(sed -n 1p <<<"$out")" \
	    "$(awk -v a="${c0%% *}" -v b="${c1%% *}" 'BEGIN {printf "%.2f", b - a}')" \
	    "$(awk -v a="${c0%% *}" -v b="${c1%% *}" -v n="$n" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')" \
	    "$(hwm_kib)" "$clients" \
	    "$(awk -v l="$lat" -v a="$c0" -v b="$c1" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		for (i = split(l, f, " "); i > 1; i--) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
		printf "lat_p50_ms=%.1f lat_p99_ms=%.1f steady_rate=%s cpu_user_s=%.2f cpu_sys_s=%.2f",
		    v["msg_p50"] / 1000, v["msg_p99"] / 1000, v["steady_rate"], y[2] - x[2], y[3] - x[3] }')" \
	    | tee -a "$T/results"
	stop
}

median_of() { # median_of NAME: median rate of NAME's result lines
	grep "^$1 " "$T/results" | sed 's/.* rate=\([0-9]*\).*/\1/' | sort -n |
	    awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}

echo "# bench/accept: messages of $SIZE bytes from $CLIENTS clients; $(nproc) cores; $(uname -r);" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
dd if=/dev/zero of="$T/dsync" bs=4k count=200 oflag=dsync 2>&1 | awk -v f="$T" '/copied/ {
	s = $(NF - 3) + 0; printf "# disk: 200 x 4 KiB written with O_DSYNC in %s: %.2f ms per synchronous write\n", f, s * 1000 / 200 }'
rm -f "$T/dsync"
: >"$T/results"
names="group-commit fsync-each"
for r in $(seq "$RUNS"); do
	run_load group-commit "$MESSAGES" "$CLIENTS"
	run_load fsync-each "$BASELINE_MESSAGES" "$CLIENTS" -o spool_commit_batch=1
	for c in $CURVE; do
		run_load "group-c$c" "$MESSAGES" "$c"
	done
done
for c in $CURVE; do names="$names group-c$c"; done
if [ "$RUNS" -gt 1 ]; then
	for nm in $names; do
		echo "median         $nm rate=$(median_of "$nm") runs=$RUNS"
	done
fi
if [ -n "$(median_of group-commit)" ] && [ "$(median_of fsync-each)" -gt 0 ]; then
	echo "ratio          group-commit/fsync-each=$(awk -v a="$(median_of group-commit)" \
	    -v b="$(median_of fsync-each)" 'BEGIN {printf "%.1f", a / b}')"
fi

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
