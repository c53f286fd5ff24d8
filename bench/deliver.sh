#!/usr/bin/env bash
# bench/deliver.sh: end-to-end delivery rate of stsrelayd on the lab.
#
#   bench/deliver.sh [BUILD-DIR]        (default: the source tree; run from it)
#
# N domains, each with an MTA-STS enforce policy (mx: *.d.test) and its own
# MX name mx<i>.d.test, all served by one lab sink with a valid wildcard
# certificate: every message goes over verified TLS 1.3.
#  1. drain: M messages are accepted with delivery off, then the relay is
#     restarted with delivery on; the time until the sink holds all of them
#     gives the delivery rate alone.
#  2. end to end: M messages submitted by 20 clients while the relay
#     delivers; the time from the first submission to the last message at
#     the sink.
# For each: messages/s, messages per TLS handshake (the relay's counters),
# relay CPU per message, relay peak RSS.
#  3. memory: SESSIONS messages, one per connection at once (per-domain
#     limit SESSIONS / DOMAINS), kept idle afterwards: the relay's RSS with
#     them open minus its RSS with the same queue and delivery off, per
#     session (an upper bound: it includes what delivering them left in the
#     heap).
# Environment: DOMAINS (10), MESSAGES (20000), SIZE (2048), CONCURRENCY (100), SINK_RECORD (index),
# PER_DOMAIN (10), SESSIONS (500); PERF=FILE records a perf profile of the relay during the drain
# (PERF_OPTS, default -g, are perf record's options: "--call-graph dwarf" gives call chains
# through libraries built without frame pointers), PERF_SINK=FILE one of the lab sink,
# PERF_E2E=FILE one of the relay during the end-to-end run;
# STRACE=FILE counts the relay's system calls during the drain (strace -c: slows it down).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top}" && pwd)
DOMAINS=${DOMAINS:-10}
MESSAGES=${MESSAGES:-20000}
SIZE=${SIZE:-2048}
CONCURRENCY=${CONCURRENCY:-100}
PER_DOMAIN=${PER_DOMAIN:-10}
SESSIONS=${SESSIONS:-500}
export top_srcdir=$top top_builddir=$build
. "$top/tests/tap.sh"
. "$top/tests/lab/lab.sh"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
LAB_TIMEOUT=600
lab_init
# The sink keeps only its index line (digest, TLS, envelope) per message unless
# SINK_RECORD=full: a file per message and a log line per SMTP line cost it
# more CPU than the relay spends per message (file creation on a file system
# where many files were just deleted, as by the previous run, costs most).
lab_many_domains b "$DOMAINS" bench1 "${SINK_RECORD:-index}" || bail "the lab did not start"

RELAY_OPTS=(-o log_level=${LOG_LEVEL:-warning} -o max_connections=20000 -o max_connections_per_client=20000
    -o delivery_concurrency="$CONCURRENCY" -o delivery_concurrency_per_domain="$PER_DOMAIN")
CTL="$build/stsrelayctl -s $LAB_DIR/relay.sock"
IDX=$LAB_DIR/sink.spool/index

load() { # load MESSAGES: 20 clients spread over the domains, one smtp-load per domain
	local per=$(( $1 / DOMAINS )) i pids=()
	for i in $(seq "$DOMAINS"); do
		"$build/bench/smtp-load" -s "127.0.0.1:$LAB_RELAY_PORT" -c $(( (20 + DOMAINS - 1) / DOMAINS )) \
		    -n "$per" -z "$SIZE" -f bench@e.test -r "u$i@b$i.test" -T 600 \
		    >"$LAB_DIR/load$i.out" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
}
relay_pid() { eval "echo \$LAB_PID_relay"; }
cpu_s() { # utime + stime of pid, in seconds
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}
hwm_kb() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }
rss_kb() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }
count() { [ -f "$IDX" ] && wc -l <"$IDX" || echo 0; }
status_json() { $CTL --json status 2>/dev/null; }
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin)["delivery"]; print(d[sys.argv[1]])' "$1"; }
now() { date +%s.%N; }

# Wait until the sink holds $1 messages; sample RSS and open sessions meanwhile.
# The relay's status is asked once a second only: it counts the queue, and
# asking five times a second cost the relay 6% of its CPU during a drain.
wait_sink() {
	local want=$1 pid=$2 s i=0
	MAXOPEN=0 RSS_AT_MAXOPEN=0
	while [ "$(count)" -lt "$want" ]; do
		if [ $((i++ % 5)) -eq 0 ]; then
			s=$(status_json | jget sessions_open 2>/dev/null || echo 0)
			if [ "${s:-0}" -gt "$MAXOPEN" ]; then MAXOPEN=$s; RSS_AT_MAXOPEN=$(rss_kb "$pid"); fi
		fi
		sleep 0.2
	done
}

lab_cpu() { # CPU seconds of the sink, DNS and policy server together
	awk -v a="$(cpu_s "$LAB_PID_sink")" -v b="$(cpu_s "$LAB_PID_dns")" \
	    -v c="$(cpu_s "$LAB_PID_https")" 'BEGIN { print a + b + c }'
}
report() { # NAME MESSAGES SECONDS PID CPU0
	local st hs tt rate cpu lab
	st=$(status_json)
	hs=$(echo "$st" | jget handshakes)
	tt=$(echo "$st" | jget tls_transactions)
	cpu=$(awk -v a="$(cpu_s "$4")" -v b="$5" 'BEGIN { print a - b }')
	rate=$(awk -v n="$2" -v t="$3" 'BEGIN { printf "%.0f", n / t }')
	lab=$(awk -v a="$(lab_cpu)" -v b="$LAB0" -v n="$2" 'BEGIN { printf "%.0f", (a - b) * 1e6 / n }')
	echo "$1: $2 messages in $(printf '%.2f' "$3") s = $rate msgs/s; TLS handshakes $hs," \
	    "$(awk -v a="$tt" -v b="$hs" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }') msgs/handshake;" \
	    "relay CPU $(awk -v c="$cpu" -v n="$2" 'BEGIN { printf "%.0f", c * 1e6 / n }') us/msg" \
	    "(lab sink+DNS+HTTPS $lab us/msg);" \
	    "peak RSS $(hwm_kb "$4") KiB; at most $MAXOPEN outbound sessions open (RSS then $RSS_AT_MAXOPEN KiB," \
	    "baseline $BASE_RSS KiB)"
}

echo "# $DOMAINS domains, $MESSAGES messages of $SIZE bytes, enforce + verified TLS," \
    "delivery_concurrency=$CONCURRENCY per_domain=$PER_DOMAIN; $(nproc) CPUs;" \
    "sink records ${SINK_RECORD:-index}; $(uptime | sed 's/.*\(load average\)/\1/')"

# 1. drain a full queue
lab_relay "${RELAY_OPTS[@]}" -o delivery_concurrency=0 || bail "stsrelayd did not start"
load "$MESSAGES"
N=$(( MESSAGES / DOMAINS * DOMAINS ))
lab_stop relay
lab_relay "${RELAY_OPTS[@]}" || bail "stsrelayd did not restart"
PID=$(relay_pid)
BASE_RSS=$(rss_kb "$PID")
CPU0=$(cpu_s "$PID")
LAB0=$(lab_cpu)
# shellcheck disable=SC2086
[ -n "${PERF:-}" ] && { perf record -q -F 999 ${PERF_OPTS:--g} -p "$PID" -o "$PERF" 2>/dev/null & PERFPID=$!; }
# shellcheck disable=SC2086
[ -n "${PERF_SINK:-}" ] && { perf record -q -F 999 ${PERF_OPTS:--g} -p "$LAB_PID_sink" -o "$PERF_SINK" \
    2>/dev/null & PERFSINKPID=$!; }
[ -n "${STRACE:-}" ] && { strace -c -f -p "$PID" -o "$STRACE" 2>/dev/null & STRACEPID=$!; sleep 0.5; }
T0=$(now)
wait_sink "$N" "$PID"
T1=$(now)
[ -n "${STRACE:-}" ] && kill -INT "$STRACEPID" && wait "$STRACEPID"
[ -n "${PERF:-}" ] && kill -INT "$PERFPID" && wait "$PERFPID"
[ -n "${PERF_SINK:-}" ] && kill -INT "$PERFSINKPID" && wait "$PERFSINKPID"
report "drain" "$N" "$(awk -v a="$T1" -v b="$T0" 'BEGIN { print a - b }')" "$PID" "$CPU0"
lab_stop relay

# 2. end to end: accept and deliver at once
BASE=$(count)
lab_relay "${RELAY_OPTS[@]}" || bail "stsrelayd did not restart"
PID=$(relay_pid)
BASE_RSS=$(rss_kb "$PID")
CPU0=$(cpu_s "$PID")
LAB0=$(lab_cpu)
# shellcheck disable=SC2086
[ -n "${PERF_E2E:-}" ] && { perf record -q -F 999 ${PERF_OPTS:--g} -p "$PID" -o "$PERF_E2E" 2>/dev/null & PERFPID=$!; }
T0=$(now)
load "$MESSAGES" &
LP=$!
wait_sink $((BASE + N)) "$PID"
T1=$(now)
[ -n "${PERF_E2E:-}" ] && kill -INT "$PERFPID" && wait "$PERFPID"
wait "$LP"
report "end-to-end" "$N" "$(awk -v a="$T1" -v b="$T0" 'BEGIN { print a - b }')" "$PID" "$CPU0"
lab_stop relay

# 3. memory per outbound TLS session: all at once, then kept idle
lab_relay "${RELAY_OPTS[@]}" -o delivery_concurrency=0 || bail "stsrelayd did not restart"
load "$SESSIONS"
N=$(( SESSIONS / DOMAINS * DOMAINS ))
sleep 1
R0=$(rss_kb "$(relay_pid)")	# the same daemon with delivery off, the messages queued
lab_stop relay
BASE=$(count)
lab_relay "${RELAY_OPTS[@]}" -o delivery_concurrency="$N" \
    -o delivery_concurrency_per_domain=$(( SESSIONS / DOMAINS )) -o delivery_idle_timeout=5m ||
    bail "stsrelayd did not restart"
PID=$(relay_pid)
wait_sink $((BASE + N)) "$PID"
sleep 1
st=$(status_json)
OPEN=$(echo "$st" | jget sessions_idle)
R1=$(rss_kb "$PID")
echo "memory: $OPEN idle outbound TLS sessions: RSS $R0 KiB with delivery off, $R1 KiB with them open:" \
    "$(awk -v a="$R1" -v b="$R0" -v n="$OPEN" 'BEGIN { printf "%.1f", (n > 0 ? (a - b) / n : 0) }') KiB per session"
