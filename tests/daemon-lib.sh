# daemon-lib.sh: start and stop a real stsrelayd for a test. Source it after
# tests/tap.sh. Each test gets its own folder, port and control socket; every
# process started here is ended by its pid when the test exits.
#
#   daemon_setup            make $T (temp dir) and $T/stsrelay.conf
#   daemon_start [-o k=v]   start stsrelayd on a free loopback port: $PORT, $DPID
#   daemon_stop             SIGTERM and wait;  daemon_kill: SIGKILL and wait
#   ctl ARGS...             stsrelayctl on the test's control socket
#   wait_for SECONDS CMD... poll CMD until it succeeds or the deadline passes

STSRELAYD=$top_builddir/stsrelayd
STSRELAYCTL=$top_builddir/stsrelayctl
DPID=
T=

daemon_cleanup() {
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -9 "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	[ -n "$T" ] && [ -z "${KEEP_TMP:-}" ] && rm -rf "$T"
}

daemon_setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/stsrelay-test.XXXXXX")
	trap daemon_cleanup EXIT
	cat >"$T/stsrelay.conf" <<CONF
# written by $0
hostname = relay.test
client_networks = 127.0.0.0/8 ::1/128
spool_directory = $T/spool
control_socket = $T/control.sock
run_as =
log_level = info
delivery_concurrency = 0
CONF
}

wait_for() { # wait_for SECONDS CMD...
	local deadline=$(( $(date +%s) + $1 ))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
	return 0
}

port_listening() { # is something listening on 127.0.0.1:$1?
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

daemon_start() {
	local try
	for try in 1 2 3 4 5; do
		PORT=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		port_listening "$PORT" && continue
		"$STSRELAYD" -d -f "$T/stsrelay.conf" -o listen=127.0.0.1:$PORT "$@" \
		    >>"$T/daemon.log" 2>&1 &
		DPID=$!
		if wait_for 20 daemon_ready; then
			return 0
		fi
		kill -0 "$DPID" 2>/dev/null && { kill -9 "$DPID"; wait "$DPID" 2>/dev/null; }
		grep -q 'Address already in use' "$T/daemon.log" || break
	done
	echo "# daemon did not start; its log:"
	sed 's/^/#   /' "$T/daemon.log" | tail -n 20
	DPID=
	return 1
}

daemon_ready() {
	kill -0 "$DPID" 2>/dev/null && port_listening "$PORT" && [ -S "$T/control.sock" ]
}

daemon_stop() {
	[ -n "$DPID" ] || return 0
	kill -TERM "$DPID" 2>/dev/null
	wait "$DPID"
	local rc=$?
	DPID=
	return $rc
}

daemon_kill() {
	[ -n "$DPID" ] || return 0
	kill -KILL "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
}

ctl() {
	"$STSRELAYCTL" -s "$T/control.sock" "$@"
}

# smtp_send: talk SMTP on $PORT with bash alone; one command per argument,
# "DATA:<text>" sends DATA, then the text and the final dot. Prints replies.
smtp_session() {
	exec 4<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	printf '%s' "$1" >&4
	timeout 5 cat <&4
	exec 4>&-
}

# daemon_restart [-o k=v]: start again on the same port (clients reconnect).
daemon_restart() {
	"$STSRELAYD" -d -f "$T/stsrelay.conf" -o listen=127.0.0.1:$PORT "$@" >>"$T/daemon.log" 2>&1 &
	DPID=$!
	wait_for 30 daemon_ready
}
