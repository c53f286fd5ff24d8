#!/usr/bin/env bash
# daemon.sh: the real stsrelayd end to end: configuration errors, acceptance
# (H10: 250 only once stored), stsrelayctl on a live queue, persistence across
# a clean restart and across SIGKILL, relay denial (H5), smuggling refused
# through the whole stack (H2), one daemon per control socket.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/daemon-lib.sh"
command -v swaks >/dev/null || skip_all "swaks is not installed"
[ -x "$STSRELAYD" ] || skip_all "stsrelayd is not built"

daemon_setup

# Configuration checks (stsrelayd -n).
"$STSRELAYD" -n -f "$T/stsrelay.conf" >"$T/n.out" 2>&1
ok $? "stsrelayd -n accepts the test configuration"
grep -q '^hostname = relay.test$' "$T/n.out"
ok $? "stsrelayd -n prints the effective settings"
printf 'hostname = x\nno_such_key = 1\n' >"$T/bad.conf"
"$STSRELAYD" -n -f "$T/bad.conf" >"$T/bad.out" 2>&1
is "$?" 78 "unknown key: exit 78"
grep -q 'bad.conf:2:.*no_such_key' "$T/bad.out"
ok $? "unknown key: the error names file:line and the key"
printf 'recipient_limit = 99\n' >"$T/bad2.conf"
"$STSRELAYD" -n -f "$T/bad2.conf" >/dev/null 2>&1
is "$?" 78 "H6: recipient_limit below 100 is refused"

daemon_start
ok $? "stsrelayd starts"

greeting=$(smtp_session 'QUIT
' | head -n 1)
case "$greeting" in "220 relay.test ESMTP"*) r=0 ;; *) r=1 ;; esac
ok $r "greeting names the host name: $greeting"

queue_ids() { ctl queue list --json | python3 -c '
import json, sys
for m in json.load(sys.stdin)["messages"]: print(m["id"])'; }

swaks --server 127.0.0.1:$PORT --from a@src.test --to b@dst.test,c@dst.test \
    --header "Subject: e2e" >"$T/swaks1.out" 2>&1
ok $? "swaks delivers a message to the relay"
id1=$(sed -n 's/.*250 2.0.0 Ok: queued as \([0-9A-Z]*\).*/\1/p' "$T/swaks1.out")
ok "$([ -n "$id1" ]; echo $?)" "the 250 reply names the queue id ($id1)"
is "$(queue_ids)" "$id1" "H10: the acknowledged message is in the queue"
ctl --json queue list | python3 -c '
import json, sys
m = json.load(sys.stdin)["messages"][0]
assert m["sender"] == "a@src.test", m
assert [r["addr"] for r in m["recipients"]] == ["b@dst.test", "c@dst.test"], m
assert all(r["state"] == "pending" for r in m["recipients"]), m'
ok $? "envelope stored: sender, both recipients pending"
ctl queue cat "$id1" >"$T/cat.out"
head -n 2 "$T/cat.out" | grep -q "by relay.test (stsrelay) with ESMTP id $id1"
ok $? "H10: a Received: header names the relay and the queue id"
grep -q '^Subject: e2e' "$T/cat.out"
ok $? "queue cat shows the stored message"
grep -q "$id1: client=\[127.0.0.1\]" "$T/daemon.log"
ok $? "the log line for the message starts with its queue id"

ctl queue hold "$id1" >/dev/null
ctl queue list | grep -q "^${id1}!"
ok $? "queue hold marks the message with ! like mailq"
ctl queue release "$id1" >/dev/null
ctl queue list | grep -q "^${id1} "
ok $? "queue release clears the mark"
ctl queue hold NOSUCHID >/dev/null 2>&1
is "$?" 1 "queue hold of an unknown id: exit 1"
ctl status | grep -q "listening: 127.0.0.1:$PORT"
ok $? "status names the listener"

# H2 through the whole stack: a smuggled message is refused, nothing stored.
printf 'EHLO t\r\nMAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n' >"$T/smuggle"
printf 'Subject: x\r\n\r\nbody\n.\nMAIL FROM:<evil@src.test>\r\n.\r\nQUIT\r\n' >>"$T/smuggle"
reply=$(smtp_session "$(cat "$T/smuggle")")
echo "$reply" | grep -q '^5[0-9][0-9] 5\.6\.'
ok $? "H2: bare LF before the dot is refused with 5xx 5.6.x"
is "$(queue_ids | wc -l)" 1 "H2: nothing of the smuggled message is stored"

# A clean restart keeps the queue.
daemon_stop
is "$?" 0 "SIGTERM: stsrelayd exits 0"
ctl status >/dev/null 2>"$T/ctl-down.err"
ok "$([ $? -ne 0 ] && grep -q 'is stsrelayd running' "$T/ctl-down.err"; echo $?)" \
    "stsrelayctl says clearly when the daemon is not running"
daemon_start
is "$(queue_ids)" "$id1" "the queue survives a restart"

# SIGKILL right after the 250: the message is there after recovery.
swaks --server 127.0.0.1:$PORT --from a@src.test --to d@dst.test >"$T/swaks2.out" 2>&1
id2=$(sed -n 's/.*250 2.0.0 Ok: queued as \([0-9A-Z]*\).*/\1/p' "$T/swaks2.out")
daemon_kill
daemon_start
queue_ids | grep -qx "$id2"
ok $? "H10: a message acknowledged just before SIGKILL survives recovery"
ctl queue delete "$id2" >/dev/null
queue_ids | grep -qx "$id2"
ok "$([ $? -ne 0 ]; echo $?)" "queue delete removes the message"

# One daemon per control socket.
"$STSRELAYD" -d -f "$T/stsrelay.conf" -o listen=127.0.0.1:$((PORT + 1)) >"$T/second.log" 2>&1
ok "$([ $? -ne 0 ]; echo $?)" "a second daemon on the same control socket refuses to start"
daemon_stop

# H5: a client outside client_networks may not relay.
daemon_start -o client_networks=10.0.0.0/8
swaks --server 127.0.0.1:$PORT --from a@src.test --to e@dst.test >"$T/swaks3.out" 2>&1
grep -Eq '^<\*\* +5[0-9][0-9] 5\.7\.1' "$T/swaks3.out"
ok $? "H5: relay access denied with 5.7.1 outside client_networks"
is "$(queue_ids | wc -l | tr -d ' ')" 1 "H5: nothing queued for the refused client"
daemon_stop

# SIGTERM while a client is in DATA: its message is stored and answered, then
# the session gets 421 and the daemon exits 0 once no session is left.
trap '' PIPE	# a write to a closed session fails, it does not end the test
daemon_start
exec 5<>"/dev/tcp/127.0.0.1/$PORT"
printf 'EHLO t\r\nMAIL FROM:<a@src.test>\r\nRCPT TO:<g@dst.test>\r\nDATA\r\n' >&5
while IFS= read -r -t 5 line <&5; do case "$line" in 354*) break ;; esac; done
printf 'Subject: in flight at shutdown\r\n\r\nbody\r\n' >&5
kill -TERM "$DPID"
wait_for 10 grep -q 'no longer accepting mail' "$T/daemon.log"
ok $? "SIGTERM: the listener stops accepting"
printf '.\r\n' >&5
replies=$(timeout 10 cat <&5)
exec 5>&-
echo "$replies" | grep -q '^250 2.0.0 Ok: queued as'
ok $? "SIGTERM: the message in DATA still gets its 250"
echo "$replies" | grep -q '^421 4.3.2'
ok $? "SIGTERM: then 421 4.3.2 and the session is closed"
wait "$DPID"
is "$?" 0 "SIGTERM: stsrelayd exits 0 once the session is done"
DPID=
daemon_start
ctl queue list | grep -q 'g@dst.test'
ok $? "SIGTERM: the message answered during shutdown is in the queue"
daemon_stop

done_testing
