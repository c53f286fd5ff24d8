# lab.sh: the scenario harness of the downgrade lab (docs/lab.md).
# Source it after tests/tap.sh:
#	. "$top_srcdir/tests/tap.sh"
#	. "$top_srcdir/tests/lab/lab.sh"
#	lab_init
# Everything lives in $LAB_DIR (a fresh temporary folder). Every process the
# harness starts is stopped by pid when the script exits; $LAB_DIR is removed
# unless LAB_KEEP=1 (then its path is printed). A sanitizer report in the
# output of any program fails the test. Waiting is always polling with
# a deadline, never a sleep taken as proof.

: "${top_srcdir:=.}"
: "${top_builddir:=.}"
LAB_BIN=${LAB_BIN:-$top_builddir/tests/lab}
LAB_SRC=${LAB_SRC:-$top_srcdir/tests/lab}
LAB_TIMEOUT=${LAB_TIMEOUT:-15}
LAB_PIDS=

# lab_init: make $LAB_DIR and arrange the cleanup.
lab_init() {
	LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/stsrelay-lab.XXXXXX") || bail "mktemp failed"
	trap lab_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# lab_cleanup: TERM every started pid, wait (bounded), KILL what is left.
lab_cleanup() {
	# the relay first: its connections close before the lab's servers exit
	_r=${LAB_PID_relay:-}
	if [ -n "$_r" ] && kill -TERM "$_r" 2>/dev/null; then
		_n=0
		while kill -0 "$_r" 2>/dev/null && [ $_n -lt 100 ]; do
			sleep 0.05
			_n=$((_n + 1))
		done
	fi
	for _p in $LAB_PIDS; do kill -TERM "$_p" 2>/dev/null; done
	_n=0
	for _p in $LAB_PIDS; do
		while kill -0 "$_p" 2>/dev/null && [ $_n -lt 100 ]; do
			sleep 0.05
			_n=$((_n + 1))
		done
		kill -KILL "$_p" 2>/dev/null
	done
	wait 2>/dev/null
	# a sanitizer build reports on the programs' stderr: make it fail the test
	_bad=0
	for _f in "$LAB_DIR"/*.out; do
		grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$_f" 2>/dev/null || continue
		echo "# sanitizer report in $(basename "$_f"):"
		sed -n '1,60s/^/# /p' "$_f"
		_bad=1
	done
	if [ "${LAB_KEEP:-0}" = 1 ]; then
		echo "# lab kept in $LAB_DIR" >&2
	else
		rm -rf "$LAB_DIR"
	fi
	[ $_bad -eq 0 ] || exit 1
}

# lab_need TOOL...: skip the whole test when a client tool is missing.
lab_need() {
	for _t in "$@"; do
		command -v "$_t" >/dev/null 2>&1 || skip_all "$_t is not installed"
	done
}

# lab_spawn NAME CMD...: run CMD in the background, output in $LAB_DIR/NAME.out.
lab_spawn() {
	_name=$1
	shift
	"$@" >"$LAB_DIR/$_name.out" 2>&1 &
	LAB_PIDS="$LAB_PIDS $!"
	eval "LAB_PID_$(echo "$_name" | tr -c 'A-Za-z0-9_\n' _)=$!"
}

# lab_stop NAME: stop one process started by lab_spawn and wait for it.
lab_stop() {
	eval "_p=\${LAB_PID_$(echo "$1" | tr -c 'A-Za-z0-9_\n' _):-}"
	[ -n "$_p" ] || return 1
	kill -TERM "$_p" 2>/dev/null
	wait "$_p" 2>/dev/null
	return 0
}

# lab_wait_file FILE [SECONDS]: until FILE exists and is not empty.
lab_wait_file() {
	_n=$(( ${2:-$LAB_TIMEOUT} * 20 ))
	while [ ! -s "$1" ]; do
		[ $_n -gt 0 ] || return 1
		sleep 0.05
		_n=$((_n - 1))
	done
	return 0
}

# lab_wait_grep ERE FILE [SECONDS]: until a line of FILE matches.
lab_wait_grep() {
	_n=$(( ${3:-$LAB_TIMEOUT} * 20 ))
	while ! grep -Eq -- "$1" "$2" 2>/dev/null; do
		[ $_n -gt 0 ] || return 1
		sleep 0.05
		_n=$((_n - 1))
	done
	return 0
}

# lab_wait_count ERE FILE N [SECONDS]: until at least N lines match.
lab_wait_count() {
	_n=$(( ${4:-$LAB_TIMEOUT} * 20 ))
	while [ "$(grep -Ec -- "$1" "$2" 2>/dev/null || true)" -lt "$3" ]; do
		[ $_n -gt 0 ] || return 1
		sleep 0.05
		_n=$((_n - 1))
	done
	return 0
}

# lab_port_of NAME: the port a lab program wrote to $LAB_DIR/NAME.port.
lab_port_of() {
	lab_wait_file "$LAB_DIR/$1.port" || { cat "$LAB_DIR/$1.out" >&2; return 1; }
	cat "$LAB_DIR/$1.port"
}

# lab_pki: the test PKI in $LAB_PKI ($LAB_DIR/pki); trust $LAB_PKI/ca-bundle.pem.
lab_pki() {
	LAB_PKI=$LAB_DIR/pki
	sh "$LAB_SRC/lab-pki.sh" "$LAB_PKI" >"$LAB_DIR/pki.out" 2>&1 ||
	    { cat "$LAB_DIR/pki.out" >&2; return 1; }
}

# lab_many_domains PREFIX N ID [RECORD]: N enforce domains PREFIX1.test ..
# PREFIXN.test, each with its own MX name mxI.d.test at the one sink on
# 127.0.0.10 (the wildcard certificate of lab_pki, which this runs), TXT id
# ID, and one policy host for all (mx: *.d.test). Starts the sink (RECORD:
# full, the default, or index), lab-dns and lab-https.
lab_many_domains() {
	_p=$1 _n=$2 _id=$3 _rec=${4:-full} _names=
	LAB_PKI_NAMES="mx.d.test" lab_pki || return 1
	for _i in $(seq "$_n"); do _names="$_names mta-sts.$_p$_i.test"; done
	# shellcheck disable=SC2086
	sh "$LAB_SRC/lab-pki.sh" "$LAB_PKI" leaf web-all valid "mta-sts.${_p}1.test" $_names \
	    >/dev/null 2>&1 || return 1
	printf 'record %s\ncert %s %s\nhostname mx.d.test\nlisten mx 127.0.0.10:0\n' "$_rec" \
	    "$LAB_PKI/wildcard.pem" "$LAB_PKI/wildcard.key" >"$LAB_DIR/sink.in"
	lab_sink sink "$LAB_DIR/sink.in" || return 1
	for _i in $(seq "$_n"); do
		echo "$_p$_i.test MX 10 mx$_i.d.test"
		echo "mx$_i.d.test A 127.0.0.10"
		echo "_mta-sts.$_p$_i.test TXT \"v=STSv1; id=$_id;\""
		echo "mta-sts.$_p$_i.test A 127.0.0.1"
	done >"$LAB_DIR/zone"
	lab_dns "$LAB_DIR/zone" || return 1
	printf 'version: STSv1\nmode: enforce\nmx: *.d.test\nmax_age: 86400\n' >"$LAB_DIR/pol.txt"
	printf 'cert %s %s\nhost *\n  path /.well-known/mta-sts.txt\n  body-file %s\n' \
	    "$LAB_PKI/web-all.pem" "$LAB_PKI/web-all.key" "$LAB_DIR/pol.txt" >"$LAB_DIR/https.conf"
	lab_https "$LAB_DIR/https.conf"
}

# lab_dns ZONEFILE [NAME]: start lab-dns; sets LAB_DNS_PORT; log $LAB_DIR/NAME.log.
lab_dns() {
	_name=${2:-dns}
	lab_spawn "$_name" "$LAB_BIN/lab-dns" -z "$1" -p "$LAB_DIR/$_name.port" \
	    -q "$LAB_DIR/$_name.log"
	LAB_DNS_PORT=$(lab_port_of "$_name") || return 1
}

# lab_https CONF [NAME]: start lab-https; sets LAB_HTTPS_PORT; log $LAB_DIR/NAME.log.
lab_https() {
	_name=${2:-https}
	lab_spawn "$_name" "$LAB_BIN/lab-https" -f "$1" -p "$LAB_DIR/$_name.port" \
	    -L "$LAB_DIR/$_name.log"
	LAB_HTTPS_PORT=$(lab_port_of "$_name") || return 1
}

# lab_sink NAME CONF: start lab-smtp-sink with CONF (listeners and behaviour);
# the spool is $LAB_DIR/NAME.spool (index: NAME.spool/index), events in
# $LAB_DIR/NAME.log. Sets LAB_SINK_PORT (the shared port).
lab_sink() {
	{
		echo "spool $LAB_DIR/$1.spool"
		echo "log $LAB_DIR/$1.log"
		echo "portfile $LAB_DIR/$1.port"
		cat "$2"
	} >"$LAB_DIR/$1.conf"
	lab_spawn "$1" "$LAB_BIN/lab-smtp-sink" -f "$LAB_DIR/$1.conf"
	LAB_SINK_PORT=$(lab_port_of "$1") || return 1
}

# lab_mitm NAME LISTEN UPSTREAM MODE [ARGS...]: start lab-mitm; sets LAB_MITM_PORT.
lab_mitm() {
	_name=$1 _listen=$2 _up=$3 _mode=$4
	shift 4
	lab_spawn "$_name" "$LAB_BIN/lab-mitm" -l "$_listen" -u "$_up" -m "$_mode" \
	    -p "$LAB_DIR/$_name.port" -L "$LAB_DIR/$_name.log" "$@"
	LAB_MITM_PORT=$(lab_port_of "$_name") || return 1
}

# lab_have_relay: is the daemon built?
lab_have_relay() {
	[ -x "$top_builddir/stsrelayd" ] && [ -x "$top_builddir/stsrelayctl" ]
}

# lab_relay_can FEATURE: does this stsrelayd list FEATURE in stsrelayd -V?
lab_relay_can() {
	lab_have_relay && "$top_builddir/stsrelayd" -V | grep -q "^features:.* $1\( \|$\)"
}

# lab_relay [-o key=value]...: start stsrelayd in the foreground, pointed at the
# lab by configuration only (DNS, CA bundle, ports). Needs LAB_DNS_PORT,
# LAB_PKI and LAB_SINK_PORT (delivery port); LAB_HTTPS_PORT when set. Sets
# LAB_RELAY_PORT; stderr in $LAB_DIR/relay.out; control socket $LAB_DIR/relay.sock.
lab_relay() {
	lab_have_relay || return 77
	LAB_RELAY_PORT=$("$LAB_BIN/lab-port" free) || return 1
	mkdir -p "$LAB_DIR/relay.spool"
	cat >"$LAB_DIR/relay.conf" <<EOF
listen = 127.0.0.1:$LAB_RELAY_PORT
client_networks = 127.0.0.0/8
spool_directory = $LAB_DIR/relay.spool
control_socket = $LAB_DIR/relay.sock
run_as =
dns_servers = 127.0.0.1:$LAB_DNS_PORT
ca_bundle = $LAB_PKI/ca-bundle.pem
delivery_port = $LAB_SINK_PORT
policy_port = ${LAB_HTTPS_PORT:-443}
log_level = debug
EOF
	lab_spawn relay "$top_builddir/stsrelayd" -d -f "$LAB_DIR/relay.conf" "$@"
	"$LAB_BIN/lab-port" wait "127.0.0.1:$LAB_RELAY_PORT" "$LAB_TIMEOUT" ||
	    { cat "$LAB_DIR/relay.out" >&2; return 1; }
}

# lab_send FROM TO [swaks options...]: submit one message to the relay.
# The swaks transcript goes to $LAB_DIR/send.out; returns swaks's status.
lab_send() {
	_from=$1 _to=$2
	shift 2
	swaks --server "127.0.0.1:$LAB_RELAY_PORT" --from "$_from" --to "$_to" \
	    --timeout 20 "$@" >"$LAB_DIR/send.out" 2>&1
}

# lab_queue: the relay's queue as JSON on stdout.
lab_queue() {
	"$top_builddir/stsrelayctl" -s "$LAB_DIR/relay.sock" --json queue list
}

# lab_wait_until SECONDS CMD...: run CMD every 100 ms until it succeeds.
lab_wait_until() {
	_n=$(( $1 * 10 ))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $_n -gt 0 ] || return 1
		sleep 0.1
		_n=$((_n - 1))
	done
	return 0
}

# lab_rcpt_state ADDR: the recipient's state in the relay's queue (pending,
# deferred, delivered, bounced), or "none" when no queued message has it.
lab_rcpt_state() {
	_s=$(lab_queue 2>/dev/null | grep -o "\"addr\":\"$1\",\"state\":\"[a-z]*\"" |
	    sed 's/.*"state":"\([a-z]*\)"/\1/' | head -1)
	echo "${_s:-none}"
}

# lab_rcpt_reason ADDR: the last delivery failure recorded for the recipient.
lab_rcpt_reason() {
	lab_queue 2>/dev/null | grep -o "\"addr\":\"$1\",[^}]*" |
	    sed -n 's/.*"last_reason":"\([^"]*\)".*/\1/p' | head -1
}

# lab_wait_state ADDR STATE [SECONDS]: until the recipient is in STATE.
lab_wait_state() {
	lab_wait_until "${3:-$LAB_TIMEOUT}" lab_is_state "$1" "$2"
}
lab_is_state() { [ "$(lab_rcpt_state "$1")" = "$2" ]; }
