#!/bin/sh
# Delivery error paths an administrator meets, end to end:
#  - a message deleted (stsrelayctl queue delete) while its delivery is
#    under way: at send time its body is gone from the spool; the relay logs
#    why, sends nothing (no half message), drops the results, does not try
#    again and does not bounce;
#  - the SMTP client refusing a message before MAIL FROM: larger than the
#    next hop's SIZE: bounced 5.3.4 with a DSN, nothing sent;
#  - the relay stays up throughout.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_have_relay || skip_all "stsrelayd is not built"
lab_relay_can delivery || skip_all "this stsrelayd does not deliver (stsrelayd -V)"
lab_need swaks openssl
LAB_TIMEOUT=${LAB_TIMEOUT_SCENARIO:-30}
lab_init
LAB_PKI_NAMES="mx.ok.test mx.gone.test mx.small.test mta-sts.gone.test"
export LAB_PKI_NAMES
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI

cat >"$LAB_DIR/sink.in" <<EOF2
cert $P/valid.pem $P/valid.key
listen ok 127.0.0.70:0
hostname mx.ok.test
listen gone 127.0.0.71:0
hostname mx.gone.test
listen small 127.0.0.72:0
hostname mx.small.test
max-size 2k
EOF2
lab_sink sink "$LAB_DIR/sink.in" || bail "lab-smtp-sink did not start"
cat >"$LAB_DIR/zone" <<EOF2
mx.ok.test A 127.0.0.70
mx.gone.test A 127.0.0.71
mx.small.test A 127.0.0.72
back.test MX 10 mx.ok.test
gone.test MX 10 mx.gone.test
_mta-sts.gone.test TXT "v=STSv1; id=g1;"
mta-sts.gone.test A 127.0.0.1
small.test MX 10 mx.small.test
EOF2
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"
# gone.test's policy comes slowly: time to delete the message meanwhile
printf 'version: STSv1\nmode: enforce\nmx: mx.gone.test\nmax_age: 86400\n' >"$LAB_DIR/gone.txt"
printf 'cert %s %s\nhost mta-sts.gone.test\n  path /.well-known/mta-sts.txt\n  body-file %s\n  delay 6000\n' \
    "$P/valid.pem" "$P/valid.key" "$LAB_DIR/gone.txt" >"$LAB_DIR/https.conf"
lab_https "$LAB_DIR/https.conf" || bail "lab-https did not start"
lab_relay -o hostname=relay.lab.test -o retry_schedule=1s ||
    bail "stsrelayd did not start (see $LAB_DIR/relay.out)"
IDX=$LAB_DIR/sink.spool/index
LOG=$LAB_DIR/relay.out
SLOG=$LAB_DIR/sink.log
CTL="$top_builddir/stsrelayctl -s $LAB_DIR/relay.sock"
relay_alive() { eval "kill -0 \$LAB_PID_relay" 2>/dev/null; }

# 1: deleted while the policy fetch is under way
lab_send s@back.test v@gone.test --header "Subject: deleted in flight" ||
    echo "# cannot submit to v@gone.test" >&2
id=$($CTL --json queue list 2>/dev/null | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
lab_wait_grep 'host=mta-sts.gone.test' "$LAB_DIR/https.log"
ok $? "the delivery of v@gone.test is under way (its policy is being fetched)"
[ -n "$id" ] && $CTL queue delete "$id" >"$LAB_DIR/delete.out" 2>&1
ok $? "stsrelayctl queue delete $id while it is in flight"
lab_wait_grep "queue: id=$id deleted during delivery, results dropped" "$LOG"
ok $? "the results of the vanished message are dropped (logged)"
grep -q "$id: cannot read the body" "$LOG" &&
    grep -E "$id: to=<v@gone.test>.*status=deferred \(4\.3\.0 cannot read the message from the spool\)" "$LOG" | grep -q .
ok $? "the attempt logs why: the body cannot be read from the spool (4.3.0)"
! grep -q 'to=<v@gone.test>' "$IDX" && ! grep -q 'MAIL FROM:<s@back.test>' "$SLOG"
ok $? "nothing was sent: no MAIL FROM reached mx.gone.test, no (half) message"
! grep -q "cannot record the attempt" "$LOG"
ok $? "no misleading warning about recording the attempt"
# a second message to the same domain as a marker: once it is delivered,
# the vanished one had every chance to be tried again
lab_send s@back.test w@gone.test --header "Subject: after" ||
    echo "# cannot submit to w@gone.test" >&2
lab_wait_grep 'to=<w@gone.test>' "$IDX"
ok $? "the next message to the same domain is delivered"
[ "$(grep -c "$id: cannot read the body" "$LOG")" -eq 1 ] &&
    [ "$(grep -c "to=<v@gone.test>" "$LOG")" -eq 1 ]
ok $? "the vanished message was tried once, never again (no loop)"
! grep -l 'Final-Recipient: rfc822; *v@gone.test' "$LAB_DIR"/sink.spool/*.eml >/dev/null 2>&1
ok $? "no DSN for a deleted message"
[ "$(lab_rcpt_state v@gone.test)" = none ]
ok $? "the queue no longer holds it"

# 2: larger than the next hop's SIZE: the client refuses before MAIL FROM
head -c 6000 /dev/zero | tr '\0' 'x' | fold -w 70 >"$LAB_DIR/big.txt"
lab_send s@back.test big@small.test --header "Subject: too big" --body "$LAB_DIR/big.txt" ||
    echo "# cannot submit to big@small.test" >&2
lab_wait_grep 'to=<big@small.test>.*status=bounced' "$LOG" &&
    grep -E 'to=<big@small.test>.*status=bounced' "$LOG" | grep -q '5\.3\.4 message larger than the server accepts'
ok $? "SIZE 2048 at the next hop, a 6 kB message: bounced 5.3.4"
grep -q 'refused before sending: 5.3.4' "$LOG" && ! grep -q 'to=<big@small.test>' "$IDX" &&
    ! grep 'listener=small' "$SLOG" | grep -q 'MAIL FROM'
ok $? "the client refused it before MAIL FROM: nothing sent"
lab_wait_until "$LAB_TIMEOUT" sh -c "grep -l 'Final-Recipient: rfc822; *big@small.test' '$LAB_DIR'/sink.spool/*.eml"
dsn=$(grep -l 'Final-Recipient: rfc822; *big@small.test' "$LAB_DIR"/sink.spool/*.eml 2>/dev/null | head -1)
[ -n "$dsn" ] && grep -q '^Status: 5\.3\.4' "$dsn"
ok $? "H11: the sender gets a DSN with Status 5.3.4"

relay_alive
ok $? "the relay is still running"
done_testing
