#!/bin/sh
# lab.sh: processes are started, waited for with deadlines, and stopped by
# pid when the script exits; the temporary folder goes away.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_init

[ -d "$LAB_DIR" ]
ok $? "lab_init makes a temporary folder"
p=$("$LAB_BIN/lab-port" free)
case $p in [1-9]*) r=0 ;; *) r=1 ;; esac
ok $r "lab-port free gives a port ($p)"
"$LAB_BIN/lab-port" wait "127.0.0.1:$p" 1 2>/dev/null
ok $((1 - $?)) "lab-port wait fails (after its deadline) on a closed port"

# a child lab: starts two peers, records their pids and folder, exits
cat >"$LAB_DIR/child.sh" <<EOF2
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_init
echo "d.test A 127.0.0.1" >"\$LAB_DIR/zone"
lab_dns "\$LAB_DIR/zone" || exit 1
printf 'starttls none\nlisten a 127.0.0.2:0\n' >"\$LAB_DIR/sink.in"
lab_sink sink "\$LAB_DIR/sink.in" || exit 1
"\$LAB_BIN/lab-port" wait "127.0.0.2:\$LAB_SINK_PORT" 5 || exit 1
echo "\$LAB_PID_dns \$LAB_PID_sink" >"$LAB_DIR/child.pids"
echo "\$LAB_DIR" >"$LAB_DIR/child.dir"
echo "\$LAB_SINK_PORT" >"$LAB_DIR/child.port"
EOF2
LAB_KEEP=0 sh "$LAB_DIR/child.sh"
ok $? "a child lab starts lab-dns and lab-smtp-sink and exits"
alive=0
for pid in $(cat "$LAB_DIR/child.pids"); do kill -0 "$pid" 2>/dev/null && alive=$((alive + 1)); done
is "$alive" 0 "every process it started is gone after it exits"
[ ! -e "$(cat "$LAB_DIR/child.dir")" ]
ok $? "its temporary folder is gone"

echo "x" >"$LAB_DIR/f"
lab_wait_file "$LAB_DIR/f" 1
ok $? "lab_wait_file: present file"
lab_wait_file "$LAB_DIR/none" 1
ok $((1 - $?)) "lab_wait_file: gives up at its deadline"
lab_wait_grep '^x$' "$LAB_DIR/f" 1
ok $? "lab_wait_grep: matching line"
lab_wait_grep '^y$' "$LAB_DIR/f" 1
ok $((1 - $?)) "lab_wait_grep: gives up at its deadline"
( sleep 0.2; echo "y" >>"$LAB_DIR/f" ) &
lab_wait_count '^[xy]$' "$LAB_DIR/f" 2 5
ok $? "lab_wait_count: waits for a line written later"
wait

if ! lab_have_relay; then
	lab_relay >/dev/null 2>&1
	is $? 77 "lab_relay without the daemon: 77 (skip)"
	done_testing
	exit
fi
# with the daemon: configuration alone points it at the lab, mail goes in,
# the queue shows it
echo "d.test MX 10 mx1.d.test" >"$LAB_DIR/zone"
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"
printf 'starttls none\nlisten a 127.0.0.2:0\n' >"$LAB_DIR/sink.in"
lab_sink sink "$LAB_DIR/sink.in" || bail "lab-smtp-sink did not start"
lab_pki || bail "lab-pki.sh failed"
lab_relay
ok $? "lab_relay: stsrelayd started on the lab's configuration"
grep -q "dns_servers = 127.0.0.1:$LAB_DNS_PORT" "$LAB_DIR/relay.conf" &&
    grep -q "delivery_port = $LAB_SINK_PORT" "$LAB_DIR/relay.conf"
ok $? "relay.conf: DNS and delivery port of the lab"
lab_send harness@e.test someone@d.test --header "Subject: harness"
ok $? "lab_send: the relay accepts a message"
lab_queue >"$LAB_DIR/queue.json" 2>&1
grep -q 'someone@d.test' "$LAB_DIR/queue.json" || grep -q 'someone@d.test' "$LAB_DIR/sink.spool/index" 2>/dev/null
ok $? "lab_queue: the message is in the queue (or already delivered)"
st=$(lab_rcpt_state someone@d.test)
case $st in pending|deferred|delivered|none) r=0 ;; *) r=1 ;; esac
ok $r "lab_rcpt_state: a known state ($st)"
is "$(lab_rcpt_state nobody@nowhere.test)" none "lab_rcpt_state: none for an unknown recipient"
done_testing
