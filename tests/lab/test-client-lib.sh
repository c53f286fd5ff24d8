# test-client-lib.sh: shell functions shared by the outbound client's lab tests
# (test-client-*.sh). Source after tests/tap.sh and tests/lab/lab.sh.
DRIVE=$top_builddir/tests/lab/smtpc-drive

# client_sink CONF: start the sink; sets S (port), LOG, IDX.
client_sink() {
	[ -x "$DRIVE" ] || bail "smtpc-drive is not built"
	lab_sink sink "$1" || bail "lab-smtp-sink did not start"
	S=$LAB_SINK_PORT
	LOG=$LAB_DIR/sink.log
	IDX=$LAB_DIR/sink.spool/index
}

# drive NAME ADDR MODE [smtpc-drive options]: one run with recipient NAME@d.test
# unless -r is given; outcome lines in $LAB_DIR/NAME.out, log in NAME.err.
drive() {
	_n=$1 _a=$2 _m=$3
	shift 3
	case " $* " in
	*" -r "*) ;;
	*) set -- -r "$_n@d.test" "$@" ;;
	esac
	"$DRIVE" -c "$LAB_PKI/ca-bundle.pem" -m "$_m" -t 5000 "$@" "$_a" \
	    >"$LAB_DIR/$_n.out" 2>"$LAB_DIR/$_n.err"
}

# get NAME PREFIX KEY: KEY's value on the first output line starting with PREFIX
get() {
	grep "^$2" "$LAB_DIR/$1.out" | head -1 | tr ' ' '\n' | sed -n "s/^$3=//p" | head -1
}

# delivered NAME: the sink recorded a message to NAME@d.test
delivered() { grep -q "to=<$1@d.test[ ,>]" "$IDX" 2>/dev/null; }

# no_mail LISTENER: the sink never saw MAIL FROM on LISTENER
no_mail() { ! grep -q "listener=$1 C: MAIL" "$LOG"; }
