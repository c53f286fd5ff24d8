#!/bin/sh
# S21 end to end: before a permanent failure under a cached policy stands,
# the relay looks the policy up again, past its cache of decisions.
#
# s21.test moves its mail: its cached enforce policy (id a1) names
# mx-old.s21.test, which now answers 550 for bad@s21.test; meanwhile DNS
# publishes id a2 (and mx-new.s21.test as a second MX), and the policy host
# moves to a server whose policy names mx-new.s21.test. The 550 under a1
# must not bounce: the relay sees a2, defers, and the retry delivers to
# mx-new. same.test is the control: the same 550 under an unchanged id
# bounces, with a DSN to the sender. nofetch.test publishes a new id whose
# policy host does not answer: the cached policy stays in force (S13), but
# the 550 under it must not bounce either: deferred.
#
# The relay keeps decisions in memory for an hour here
# (policy_txt_recheck=1h): the re-check must not be answered from there.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_have_relay || skip_all "stsrelayd is not built"
lab_relay_can delivery || skip_all "this stsrelayd does not deliver (stsrelayd -V)"
lab_need swaks openssl
LAB_TIMEOUT=${LAB_TIMEOUT_SCENARIO:-30}
lab_init
LAB_PKI_NAMES="mx-old.s21.test mx-new.s21.test mta-sts.s21.test mta-sts.same.test mta-sts.nofetch.test"
export LAB_PKI_NAMES
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI

# the old MX refuses bad@*, the new one takes everything (and the DSNs)
cat >"$LAB_DIR/sink.in" <<EOF2
cert $P/valid.pem $P/valid.key
listen old 127.0.0.60:0
hostname mx-old.s21.test
rcpt bad@* 550 5.1.1 no such user here
listen new 127.0.0.61:0
hostname mx-new.s21.test
EOF2
lab_sink sink "$LAB_DIR/sink.in" || bail "lab-smtp-sink did not start"

zone() { # $1 = 2: after the move
	cat <<EOF2
mx-old.s21.test A 127.0.0.60
mx-new.s21.test A 127.0.0.61
back.test MX 10 mx-new.s21.test
same.test MX 10 mx-old.s21.test
_mta-sts.same.test TXT "v=STSv1; id=b1;"
mta-sts.same.test A 127.0.0.1
s21.test MX 10 mx-old.s21.test
nofetch.test MX 10 mx-old.s21.test
EOF2
	if [ "${1:-1}" = 1 ]; then
		echo '_mta-sts.s21.test TXT "v=STSv1; id=a1;"'
		echo 'mta-sts.s21.test A 127.0.0.1'
		echo '_mta-sts.nofetch.test TXT "v=STSv1; id=c1;"'
		echo 'mta-sts.nofetch.test A 127.0.0.1'
	else
		echo 's21.test MX 20 mx-new.s21.test'
		echo '_mta-sts.s21.test TXT "v=STSv1; id=a2;"'
		echo 'mta-sts.s21.test A 127.83.0.21'
		echo '_mta-sts.nofetch.test TXT "v=STSv1; id=c2;"'
		echo 'mta-sts.nofetch.test A 127.83.0.99'	# nothing listens there
	fi
}
zone 1 >"$LAB_DIR/zone"
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"

policy() { # FILE MX: an enforce policy naming MX
	printf 'version: STSv1\nmode: enforce\nmx: %s\nmax_age: 86400\n' "$2" >"$1"
}
policy "$LAB_DIR/s21-a1.txt" mx-old.s21.test
policy "$LAB_DIR/s21-a2.txt" mx-new.s21.test
policy "$LAB_DIR/same-b1.txt" mx-old.s21.test
{
	echo "cert $P/valid.pem $P/valid.key"
	printf 'host mta-sts.s21.test\n  path /.well-known/mta-sts.txt\n  body-file %s\n' \
	    "$LAB_DIR/s21-a1.txt"
	printf 'host mta-sts.same.test\n  path /.well-known/mta-sts.txt\n  body-file %s\n' \
	    "$LAB_DIR/same-b1.txt"
	printf 'host mta-sts.nofetch.test\n  path /.well-known/mta-sts.txt\n  body-file %s\n' \
	    "$LAB_DIR/same-b1.txt"
} >"$LAB_DIR/https.conf"
lab_https "$LAB_DIR/https.conf" || bail "lab-https did not start"
# the policy host after the move: same port, 127.83.0.21
printf 'listen 127.83.0.21:%s\ncert %s %s\nhost mta-sts.s21.test\n  path /.well-known/mta-sts.txt\n  body-file %s\n' \
    "$LAB_HTTPS_PORT" "$P/valid.pem" "$P/valid.key" "$LAB_DIR/s21-a2.txt" >"$LAB_DIR/https2.conf"
lab_https "$LAB_DIR/https2.conf" https2 || bail "the second lab-https did not start"

lab_relay -o hostname=relay.lab.test -o retry_schedule=1s -o policy_txt_recheck=1h ||
    bail "stsrelayd did not start (see $LAB_DIR/relay.out)"
IDX=$LAB_DIR/sink.spool/index
LOG=$LAB_DIR/relay.out
SLOG=$LAB_DIR/sink.log

send() { # TO
	lab_send s@back.test "$1" --header "Subject: $1" || echo "# cannot submit to $1" >&2
}
record() { grep "to=<$1>" "$IDX"; }
line() { echo "to=<$1>[^ ]* .*status=$2"; }
# the queue id of the relay's first log line for RCPT
qid() { grep -E "to=<$1>" "$LOG" | sed -n 's/.*]: \([0-9A-Z]*\): to=.*/\1/p' | head -1; }

# 1: both policies fetched and cached, both domains deliver to mx-old
send warm@s21.test
send warm@same.test
send warm@nofetch.test
lab_wait_grep 'to=<warm@s21.test>' "$IDX" && lab_wait_grep 'to=<warm@same.test>' "$IDX" &&
    lab_wait_grep 'to=<warm@nofetch.test>' "$IDX" &&
    record warm@s21.test | grep -q 'listener=old' && record warm@same.test | grep -q 'listener=old'
ok $? "before the move: the domains deliver to mx-old under their first policies"

# 2: the move: new id, new MX listed, new policy host
zone 2 >"$LAB_DIR/zone.new" && mv "$LAB_DIR/zone.new" "$LAB_DIR/zone"
eval "kill -HUP \$LAB_PID_dns"
lab_wait_grep 'reload' "$LAB_DIR/dns.log"
ok $? "DNS now publishes id a2 for s21.test"

send bad@s21.test
send bad@same.test
send bad@nofetch.test

# 3: the id really changed: no bounce, delivered to mx-new
lab_wait_grep 'S21: the MTA-STS policy of s21.test changed \(id a1 -> a2\): deferring instead of bouncing' "$LOG"
ok $? "S21: the 550 under the cached policy a1 makes the relay look again: id a2, logged"
grep -q 'listener=old .*RCPT TO:<bad@s21.test>' "$SLOG" ||
    grep -Eq 'listener=old .*bad@s21.test.*550' "$SLOG"
ok $? "S21: the first attempt went to mx-old (cached policy a1) and met the 550"
lab_wait_grep "$(line bad@s21.test deferred)" "$LOG" &&
    grep -aE "$(line bad@s21.test deferred)" "$LOG" |
    grep -q 'relay=mx-old\.s21\.test\[127\.0\.0\.60\] policy=enforce id=a2 status=deferred (4\.7\.0 MTA-STS policy changed, will retry: 550 5\.1\.1'
ok $? "S21: logged as deferred 4.7.0 with the 550 it replaced and the MX that said it"
lab_wait_grep 'to=<bad@s21.test>' "$IDX" && record bad@s21.test | grep -q 'listener=new .*sni=mx-new\.s21\.test'
ok $? "S21: the retry goes by policy a2 and delivers to mx-new"
lab_wait_grep "$(line bad@s21.test sent)" "$LOG" &&
    grep -E "$(line bad@s21.test sent)" "$LOG" | grep -q 'relay=mx-new\.s21\.test.* policy=enforce'
ok $? "S21: logged as sent to mx-new under enforce"
! grep -Eq "queue: id=[0-9A-Z]+ to=<bad@s21.test> status=bounced" "$LOG" &&
    ! grep -l 'Final-Recipient: rfc822; *bad@s21.test' "$LAB_DIR"/sink.spool/*.eml >/dev/null 2>&1
ok $? "S21: the queue never bounced it, no DSN for bad@s21.test"
! grep -Eq "$(line bad@s21.test bounced)" "$LOG"
ok $? "S21: the delivery log never says bounced for it (the 5xx line waited for the re-check)"
grep -q 'policy=enforce' "$LAB_DIR/https2.log" 2>/dev/null ||
    grep -q 'path=/.well-known/mta-sts.txt' "$LAB_DIR/https2.log"
ok $? "S21: policy a2 was fetched from the new policy host"

# 4: control: same.test's id did not change: the bounce stands, with a DSN
lab_wait_grep "$(line bad@same.test bounced)" "$LOG" &&
    grep -E "$(line bad@same.test bounced)" "$LOG" | grep -q '550 5\.1\.1'
ok $? "S21 control: same id b1: bad@same.test bounced with the 550"
id=$(qid bad@same.test)
[ -n "$id" ] && grep -q "$id: same.test: send -> recheck" "$LOG" &&
    grep -q "$id: same.test: recheck -> done" "$LOG"
ok $? "S21 control: the policy was looked up again before the bounce stood"
! grep -q 'S21: the MTA-STS policy of same.test changed' "$LOG"
ok $? "S21 control: no change logged for same.test"
id=$(qid bad@same.test)
[ "$(grep -E "$(line bad@same.test bounced)" "$LOG" | grep -vc 'queue: ')" -eq 1 ] &&
    [ "$(grep -n "$id: same.test: send -> recheck" "$LOG" | cut -d: -f1)" -lt \
      "$(grep -nE "$(line bad@same.test bounced)" "$LOG" | grep -v 'queue: ' | cut -d: -f1 | head -1)" ]
ok $? "S21 control: one bounce line for it, logged after the re-check decided"
lab_wait_grep 'from=<> to=<s@back.test>' "$IDX"
ok $? "H11: a DSN goes to the sender from <>"
dsn=
lab_wait_until "$LAB_TIMEOUT" sh -c "grep -l 'Final-Recipient: rfc822; *bad@same.test' '$LAB_DIR'/sink.spool/*.eml"
dsn=$(grep -l 'Final-Recipient: rfc822; *bad@same.test' "$LAB_DIR"/sink.spool/*.eml 2>/dev/null | head -1)
[ -n "$dsn" ] && grep -q '^Action: failed' "$dsn" && grep -q '^Status: 5\.1\.1' "$dsn"
ok $? "H11: the DSN for bad@same.test: Action failed, Status 5.1.1"
[ "$(grep -c 'to=<bad@same.test>' "$IDX")" -eq 0 ]
ok $? "S21 control: bad@same.test was never delivered"

# 5: a new id whose policy cannot be fetched: the cached one applies, the 550 defers
lab_wait_grep 'S21: the MTA-STS policy of nofetch.test changed \(id c1 -> c2, not fetched yet\): deferring instead of bouncing' "$LOG"
ok $? "S21: TXT publishes c2, its policy host does not answer: the re-check sees c2, logged"
lab_wait_grep "$(line bad@nofetch.test deferred)" "$LOG" &&
    grep -E "$(line bad@nofetch.test deferred)" "$LOG" | grep -q '4\.7\.0 MTA-STS policy changed, will retry: 550 5\.1\.1'
ok $? "S21: deferred 4.7.0 with the 550, not bounced under the superseded policy c1"
! grep -Eq "$(line bad@nofetch.test bounced)" "$LOG" &&
    ! grep -l 'Final-Recipient: rfc822; *bad@nofetch.test' "$LAB_DIR"/sink.spool/*.eml >/dev/null 2>&1
ok $? "S21: no bounce, no DSN for bad@nofetch.test"
done_testing
