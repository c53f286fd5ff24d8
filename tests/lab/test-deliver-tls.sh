#!/bin/sh
# Delivery scenarios on one lab: the relay delivers only as each domain's
# MTA-STS policy demands (RFC 8461 S21-S29 and the "Ours" rules). One DNS
# zone, one policy server, one sink process with an MX host per TLS
# behaviour, two men in the middle, one relay; every domain is a scenario.
# Everything is submitted first, then each outcome is awaited with a
# deadline (the relay's log, the sink's record, the queue).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_have_relay || skip_all "stsrelayd is not built"
lab_relay_can delivery || skip_all "this stsrelayd does not deliver (stsrelayd -V)"
lab_need swaks openssl python3
LAB_TIMEOUT=${LAB_TIMEOUT_SCENARIO:-30}
lab_init

# MX host names on every standard leaf; the CN-only leaf names the first.
VARIANTS="nostls refuse self expired notyet wrongname cnonly noint tls11 abort"
LAB_PKI_NAMES="mx.cnonly.test mx.good.test mx.nostls.test mx.refuse.test mx.self.test"
LAB_PKI_NAMES="$LAB_PKI_NAMES mx.expired.test mx.notyet.test mx.noint.test mx.tls11.test"
LAB_PKI_NAMES="$LAB_PKI_NAMES mx.abort.test mx.rogue.test mx.alt.test mx.reuse.test"
LAB_PKI_NAMES="$LAB_PKI_NAMES mx.inject.test mx.strip.test mx.dead.test mx.rogue2.test mx.bulk.test"
export LAB_PKI_NAMES
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI
POLICY_DOMAINS="good.test bulk.test fetchfail.test mitmrefuse.test inject.test tstrip.test notinpol.test notinpol2.test tnotinpol.test
  wc.test fallback.test none.test cache.test change.test txtfail.test reuse.test"
for v in $VARIANTS; do POLICY_DOMAINS="$POLICY_DOMAINS $v.test t$v.test"; done
WEBNAMES=
for d in $POLICY_DOMAINS; do WEBNAMES="$WEBNAMES mta-sts.$d"; done
# shellcheck disable=SC2086
sh "$LAB_SRC/lab-pki.sh" "$P" leaf web-all valid mta-sts.good.test $WEBNAMES >/dev/null 2>&1 ||
    bail "cannot issue the policy servers' certificate"

# The MX hosts: one sink, one address each, the shared port.
cat >"$LAB_DIR/sink.in" <<EOF2
hostname mx.lab.test
cert $P/valid.pem $P/valid.key
rcpt temp@* 451 4.2.1 mailbox busy
rcpt gone@* 550 5.1.1 no such user
listen good 127.0.0.10:0
hostname mx.good.test
listen nostls 127.0.0.11:0
starttls none
listen refuse 127.0.0.12:0
starttls refuse
listen self 127.0.0.13:0
cert $P/selfsigned.pem $P/selfsigned.key
listen expired 127.0.0.14:0
cert $P/expired.pem $P/expired.key
listen notyet 127.0.0.15:0
cert $P/notyet.pem $P/notyet.key
listen wrongname 127.0.0.16:0
cert $P/wrongname.pem $P/wrongname.key
listen cnonly 127.0.0.17:0
cert $P/cnonly.pem $P/cnonly.key
listen noint 127.0.0.18:0
cert $P/valid.crt $P/valid.key
listen tls11 127.0.0.19:0
tls-versions 1.0 1.1
listen abort 127.0.0.20:0
starttls abort
listen rogue 127.0.0.21:0
listen wild 127.0.0.22:0
cert $P/wildcard.pem $P/wildcard.key
listen rogue2 127.0.0.23:0
listen alt 127.0.0.24:0
listen reuse 127.0.0.25:0
listen busy 127.0.0.26:0
greeting 421 4.3.2 too busy, try later
listen bulk 127.0.0.28:0
listen no8bit 127.0.0.27:0
8bitmime no
smtputf8 no
EOF2
lab_sink sink "$LAB_DIR/sink.in" || bail "lab-smtp-sink did not start"
PORT=$LAB_SINK_PORT
lab_mitm inject "127.0.0.30:$PORT" "127.0.0.10:$PORT" inject || bail "lab-mitm inject"
lab_mitm strip "127.0.0.31:$PORT" "127.0.0.10:$PORT" strip || bail "lab-mitm strip"
lab_mitm refuse "127.0.0.32:$PORT" "127.0.0.10:$PORT" refuse || bail "lab-mitm refuse"

zone() { # the zone; $1 = 2: the second phase (cache.test and change.test)
	cat <<EOF2
mx.good.test A 127.0.0.10
mx.nostls.test A 127.0.0.11
mx.refuse.test A 127.0.0.12
mx.self.test A 127.0.0.13
mx.expired.test A 127.0.0.14
mx.notyet.test A 127.0.0.15
mx.wrongname.test A 127.0.0.16
mx.cnonly.test A 127.0.0.17
mx.noint.test A 127.0.0.18
mx.tls11.test A 127.0.0.19
mx.abort.test A 127.0.0.20
mx.rogue.test A 127.0.0.21
mail.d.test A 127.0.0.22
a.b.d.test A 127.0.0.23
mx.alt.test A 127.0.0.24
mx.reuse.test A 127.0.0.25
mx.busy.test A 127.0.0.26
mx.no8bit.test A 127.0.0.27
mx.bulk.test A 127.0.0.28
bulk.test MX 10 mx.bulk.test
no8bit.test MX 10 mx.no8bit.test
mx.mitmrefuse.test A 127.0.0.32
mitmrefuse.test MX 10 mx.mitmrefuse.test
txttimeout.test MX 10 mx.good.test
_mta-sts.txttimeout.test FAULT timeout TXT
greet.test MX 10 mx.busy.test
greet.test MX 20 mx.good.test
greet2.test MX 10 mx.busy.test
mx.inject.test A 127.0.0.30
mx.strip.test A 127.0.0.31
mx.dead.test A 127.0.0.99
good.test MX 10 mx.good.test
inject.test MX 10 mx.inject.test
tstrip.test MX 10 mx.strip.test
notinpol.test MX 10 mx.rogue.test
notinpol.test MX 20 mx.good.test
notinpol2.test MX 10 mx.rogue.test
tnotinpol.test MX 10 mx.alt.test
wc.test MX 10 a.b.d.test
wc.test MX 20 mail.d.test
fallback.test MX 5 mx.dead.test
fallback.test MX 10 mx.expired.test
fallback.test MX 20 mx.good.test
nopol.test MX 10 mx.good.test
fetchfail.test MX 10 mx.self.test
nopolself.test MX 10 mx.self.test
nopolplain.test MX 10 mx.nostls.test
nopolabort.test MX 10 mx.abort.test
none.test MX 10 mx.self.test
reuse.test MX 10 mx.reuse.test
txtfail.test MX 10 mx.good.test
_mta-sts.txtfail.test FAULT servfail TXT
nullmx.test MX 0 .
servfail.test FAULT servfail
cache.test MX 10 mx.good.test
EOF2
	for d in $POLICY_DOMAINS; do
		case $d in
		cache.test|change.test) continue ;;
		txtfail.test) ;;
		*) echo "_mta-sts.$d TXT \"v=STSv1; id=lab1;\"" ;;
		esac
		echo "mta-sts.$d A 127.0.0.1"
	done
	for v in $VARIANTS; do
		echo "$v.test MX 10 mx.$v.test"
		echo "t$v.test MX 10 mx.$v.test"
	done
	if [ "${1:-1}" = 1 ]; then
		echo '_mta-sts.cache.test TXT "v=STSv1; id=c1;"'
		echo 'mta-sts.cache.test A 127.0.0.1'
		echo '_mta-sts.change.test TXT "v=STSv1; id=c1;"'
		echo 'mta-sts.change.test A 127.0.0.1'
		echo 'change.test MX 10 mx.good.test'
	else
		# the TXT lookup fails and the policy host is gone: the cached policy applies
		echo '_mta-sts.cache.test FAULT servfail TXT'
		echo 'mta-sts.cache.test A 127.0.0.99'
		# a new policy id naming a new MX, served by the second policy server
		echo '_mta-sts.change.test TXT "v=STSv1; id=c2;"'
		echo 'mta-sts.change.test A 127.83.0.2'
		echo 'change.test MX 10 mx.alt.test'
	fi
}
zone 1 >"$LAB_DIR/zone"
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"

policy() { # DOMAIN MODE MX...
	_d=$1 _m=$2
	shift 2
	{
		printf 'version: STSv1\nmode: %s\n' "$_m"
		for _x in "$@"; do printf 'mx: %s\n' "$_x"; done
		printf 'max_age: 86400\n'
	} >"$LAB_DIR/pol-$_d.txt"
	printf 'host mta-sts.%s\n  path /.well-known/mta-sts.txt\n  body-file %s\n' "$_d" \
	    "$LAB_DIR/pol-$_d.txt" >>"$LAB_DIR/https.conf"
}
echo "cert $P/web-all.pem $P/web-all.key" >"$LAB_DIR/https.conf"
for v in $VARIANTS; do
	policy "$v.test" enforce "mx.$v.test"
	policy "t$v.test" testing "mx.$v.test"
done
for d in good cache reuse txtfail; do policy "$d.test" enforce "mx.$d.test"; done
policy cache.test enforce mx.good.test
policy inject.test enforce mx.inject.test
policy mitmrefuse.test enforce mx.mitmrefuse.test
policy bulk.test enforce mx.bulk.test
policy tstrip.test testing mx.strip.test
policy notinpol.test enforce mx.good.test
policy notinpol2.test enforce mx.good.test
policy tnotinpol.test testing mx.good.test
policy wc.test enforce '*.d.test'
policy fallback.test enforce mx.dead.test mx.expired.test mx.good.test
policy none.test none
# fetchfail.test publishes a TXT record, but its policy server answers 404
printf 'host mta-sts.fetchfail.test\n  path /nothing-here\n' >>"$LAB_DIR/https.conf"
policy change.test enforce mx.good.test
lab_https "$LAB_DIR/https.conf" || bail "lab-https did not start"
# the second policy server, same port on 127.83.0.2 (an address other labs leave alone): change.test's new policy
printf 'version: STSv1\nmode: enforce\nmx: mx.alt.test\nmax_age: 86400\n' >"$LAB_DIR/pol2-change.txt"
printf 'listen 127.83.0.2:%s\ncert %s %s\nhost mta-sts.change.test\n  path /.well-known/mta-sts.txt\n  body-file %s\n' \
    "$LAB_HTTPS_PORT" "$P/web-all.pem" "$P/web-all.key" "$LAB_DIR/pol2-change.txt" >"$LAB_DIR/https2.conf"
lab_https "$LAB_DIR/https2.conf" https2 || bail "the second lab-https did not start"

# policy_txt_recheck=1s: cached decisions are re-checked in the background
# after a second (the default is a minute), for the S20 scenario below.
lab_relay -o hostname=relay.lab.test -o policy_txt_recheck=1s || bail "stsrelayd did not start (see $LAB_DIR/relay.out)"
IDX=$LAB_DIR/sink.spool/index
LOG=$LAB_DIR/relay.out
SLOG=$LAB_DIR/sink.log
CTL="$top_builddir/stsrelayctl -s $LAB_DIR/relay.sock"

send() { # TO [SUBJECT]: from s@good.test, so that DSNs come back to the lab
	lab_send s@good.test "$1" --header "Subject: ${2:-$1}" || echo "# cannot submit to $1" >&2
}
# the relay's line for RCPT with status (ERE)
line() { echo "to=<[^ ]*$1>?[^ ]* .*status=$2"; }
wait_line() { lab_wait_grep "$(line "$1" "$2")" "$LOG"; }
got() { grep -E "$(line "$1" "$2")" "$LOG" | grep -Eq -- "$3"; }
delivered() { lab_wait_grep "to=<$1>" "$IDX"; }
record() { grep "to=<$1>" "$IDX"; }

# Submit everything, then look.
send ok@good.test
for v in $VARIANTS; do send "v@$v.test"; send "v@t$v.test"; done
send v@inject.test; send v@tstrip.test
send v@notinpol.test; send v@notinpol2.test; send v@tnotinpol.test; send v@wc.test
send v@fallback.test
send v@nopol.test; send v@nopolself.test; send v@nopolplain.test; send v@nopolabort.test
send v@greet.test; send v@greet2.test
send v@mitmrefuse.test; send v@txttimeout.test
send v@fetchfail.test; send v@none.test; send v@txtfail.test; send v@nullmx.test; send v@nx.test; send v@servfail.test
send v1@cache.test; send v1@change.test
send ok@good.test,temp@good.test,gone@good.test "per-recipient"
send a3@good.test,b3@nostls.test,c3@tnostls.test "three domains"

# 1: enforce with a valid certificate
delivered ok@good.test
ok $? "enforce, valid certificate: delivered"
record ok@good.test | grep -q 'listener=good .*tls=TLSv1\.[23] .*sni=mx\.good\.test ehlo_after_tls=yes mail_plaintext=no'
ok $? "S25, H4: over TLS 1.2+, SNI = the MX name, EHLO again, no plaintext MAIL"
wait_line ok@good.test sent && got ok@good.test sent 'verified=yes policy=enforce source=(fresh|cached)'
ok $? "log: status=sent verified=yes policy=enforce"
got ok@good.test sent 'relay=mx\.good\.test\[127\.0\.0\.10\]:[0-9]+ delay=[0-9.]+ tls=TLSv1\.[23] cipher=[A-Z0-9_-]+'
ok $? "log: relay, delay, tls and cipher fields"

# 2-11: enforce with each bad TLS variant: deferred with the right code, nothing delivered
want_code() {
	case $1 in
	nostls|refuse) echo '4\.7\.4' ;;
	*) echo '4\.7\.5' ;;
	esac
}
for v in $VARIANTS; do
	wait_line "v@$v.test" deferred && got "v@$v.test" deferred "\($(want_code $v) " &&
	    ! record "v@$v.test" | grep -q .
	ok $? "S27 enforce, $v: deferred ($(want_code $v | tr -d '\\')), nothing delivered"
done
got v@expired.test deferred 'result=certificate-expired'
ok $? "R3: expired certificate logged as certificate-expired"
got v@wrongname.test deferred 'result=certificate-host-mismatch'
ok $? "R3: wrong name logged as certificate-host-mismatch"
got v@cnonly.test deferred 'result=certificate-host-mismatch'
ok $? "S24: a CN-only certificate does not name the host"
got v@self.test deferred 'result=certificate-not-trusted'
ok $? "R3: self-signed logged as certificate-not-trusted"
got v@nostls.test deferred 'result=starttls-not-supported'
ok $? "R3: no STARTTLS logged as starttls-not-supported"

# 12-21: testing mode with the same variants: delivered, the violation logged
for v in $VARIANTS; do
	delivered "v@t$v.test" && wait_line "v@t$v.test" sent &&
	    got "v@t$v.test" sent 'policy=testing .*violation=[a-z-]+'
	ok $? "S28 testing, $v: delivered, violation logged ($(grep -E "$(line "v@t$v.test" sent)" "$LOG" | sed -n 's/.*violation=\([a-z-]*\).*/\1/p' | head -1))"
done
record v@tabort.test | grep -q 'tls=none' && record v@ttls11.test | grep -q 'tls=none'
ok $? "Ours: testing, handshake failure: the same MX again without TLS"
record v@tself.test | grep -q 'tls=TLSv1'
ok $? "S28: testing, bad certificate: delivered over the unverified TLS"

# MITM
wait_line v@inject.test deferred
ok $? "MITM injects plaintext after the 220 to STARTTLS: enforce defers"
! record v@inject.test | grep -q . && ! grep -q 'C: MAIL FROM' "$LAB_DIR/inject.log"
ok $? "H4: no MAIL FROM crossed the injector, nothing delivered"
delivered v@tstrip.test && wait_line v@tstrip.test sent &&
    got v@tstrip.test sent 'violation=starttls-not-supported'
ok $? "S28: testing behind a STARTTLS stripper: delivered, starttls-not-supported logged"

wait_line v@mitmrefuse.test deferred && got v@mitmrefuse.test deferred '\(4\.7\.4 ' &&
    grep -q 'action=refuse' "$LAB_DIR/refuse.log" && ! grep -q 'C: MAIL FROM' "$LAB_DIR/refuse.log"
ok $? "MITM answers STARTTLS with 454: enforce defers 4.7.4, no plaintext MAIL"

# MX matching (S22, Ours)
delivered v@notinpol.test && record v@notinpol.test | grep -q 'listener=good'
ok $? "enforce: the MX the policy names is used"
wait_line v@notinpol2.test deferred && got v@notinpol2.test deferred '\(4\.7\.0 no MX host matches'
ok $? "Ours: no MX matches the policy: deferred 4.7.0"
delivered v@wc.test && record v@wc.test | grep -q 'listener=wild .*sni=mail\.d\.test'
ok $? "S22: *.d.test matches mail.d.test (wildcard certificate)"
! grep -Eq 'listener=(rogue|rogue2) connect' "$SLOG"
ok $? "Ours: MX hosts outside the policy (mx.rogue.test, a.b.d.test) never contacted"
delivered v@tnotinpol.test && wait_line v@tnotinpol.test sent &&
    got v@tnotinpol.test sent 'violation=validation-failure'
ok $? "S28: testing, MX not in the policy: delivered, violation logged"

# S23: candidates in order
delivered v@fallback.test && record v@fallback.test | grep -q 'listener=good'
ok $? "S23: first MX refuses the connection, second has an expired certificate, third delivers"
grep -E 'relay=mx\.dead\.test\[127\.0\.0\.99\]' "$LOG" | grep -q 'failed: 4\.4\.1' &&
    grep -E 'relay=mx\.expired\.test' "$LOG" | grep -q 'failed: 4\.7\.5'
ok $? "S23: the failures of the first two logged (4.4.1, 4.7.5)"

# a 4xx greeting is a session failure: the next MX, or defer
delivered v@greet.test && record v@greet.test | grep -q 'listener=good'
ok $? "S23: a 421 greeting moves on to the next MX"
wait_line v@greet2.test deferred && got v@greet2.test deferred '421'
ok $? "a 421 greeting from the only MX: deferred with its reply"

# no policy, mode none
delivered v@nopol.test && wait_line v@nopol.test sent && got v@nopol.test sent 'tls=TLSv1.* policy=absent'
ok $? "no policy: opportunistic TLS"
delivered v@nopolself.test && record v@nopolself.test | grep -q 'tls=TLSv1'
ok $? "no policy, self-signed: delivered over unverified TLS"
delivered v@nopolplain.test && record v@nopolplain.test | grep -q 'tls=none'
ok $? "no policy, no STARTTLS: delivered in plaintext"
delivered v@nopolabort.test && record v@nopolabort.test | grep -q 'tls=none'
ok $? "no policy, handshake aborted: delivered in plaintext on a new connection"
delivered v@none.test && wait_line v@none.test sent && got v@none.test sent 'policy=none'
ok $? "S29: mode none: delivered as without a policy (self-signed MX)"
delivered v@fetchfail.test && wait_line v@fetchfail.test sent && got v@fetchfail.test sent 'policy=absent'
ok $? "S12: TXT record but the policy fetch fails, nothing cached: delivered as without a policy"

# DNS
wait_line v@txtfail.test deferred && got v@txtfail.test deferred '\(4\.4\.3 '
ok $? "Ours: TXT SERVFAIL with nothing cached: deferred 4.4.3"
wait_line v@servfail.test deferred && got v@servfail.test deferred '\(4\.4\.3 '
ok $? "Ours: DNS failure: deferred 4.4.3"
wait_line v@nullmx.test bounced && got v@nullmx.test bounced '\(5\.1\.10 '
ok $? "S23: null MX: bounced 5.1.10"
wait_line v@nx.test bounced && got v@nx.test bounced '\(5\.1\.2 '
ok $? "NXDOMAIN: bounced 5.1.2"

# H8: the next hop lacks 8BITMIME / SMTPUTF8
smtp_raw() { # FROM TO MAIL-OPTION: an 8-bit UTF-8 message, CRLF lines
	python3 - "$LAB_RELAY_PORT" "$@" <<'PY'
import smtplib, sys
port, frm, to, opt = sys.argv[1:5]
body = "Subject: eight bits\r\n\r\ncaf\u00e9 cr\u00e8me br\u00fbl\u00e9e\r\n"
s = smtplib.SMTP("127.0.0.1", int(port), timeout=20)
s.ehlo("lab.test")
s.sendmail(frm, [to], body.encode("utf-8"), mail_options=[opt])
s.quit()
PY
}
smtp_raw s@good.test e8@no8bit.test BODY=8BITMIME >"$LAB_DIR/raw1.out" 2>&1
smtp_raw s@good.test u8@no8bit.test SMTPUTF8 >"$LAB_DIR/raw2.out" 2>&1
wait_line e8@no8bit.test bounced && got e8@no8bit.test bounced '5\.6\.3'
ok $? "H8: an 8-bit message to a next hop without 8BITMIME is bounced 5.6.3"
wait_line u8@no8bit.test bounced && got u8@no8bit.test bounced '5\.6\.7'
ok $? "H8: an SMTPUTF8 message to a next hop without SMTPUTF8 is bounced 5.6.7"
! grep -Eq 'to=<(e8|u8)@no8bit.test>' "$IDX"
ok $? "H8: neither reached the next hop"

wait_line v@txttimeout.test deferred && got v@txttimeout.test deferred '\(4\.4\.3 '
ok $? "Ours: TXT lookup timing out with nothing cached: deferred 4.4.3"

# per-recipient replies
wait_line temp@good.test deferred && got temp@good.test deferred '451 4\.2\.1'
ok $? "a 4xx to RCPT: that recipient deferred"
wait_line gone@good.test bounced && got gone@good.test bounced '550 5\.1\.1'
ok $? "a 5xx to RCPT: that recipient bounced"
gid=$(grep -E "$(line gone@good.test bounced)" "$LOG" | sed -n 's/.*]: \([0-9A-Z]*\): to=.*/\1/p' | head -1)
[ -n "$gid" ] && lab_wait_grep "queue: id=$gid to=<gone@good.test> status=bounced" "$LOG" &&
    grep -q "$gid: good.test: send -> recheck" "$LOG" && grep -q "$gid: good.test: recheck -> done" "$LOG"
ok $? "S21: before a bounce under a cached policy the policy is checked again (same id: the bounce stands)"
lab_wait_grep 'from=<> to=<s@good.test>' "$IDX"
ok $? "H11: the DSN goes to the sender from <>"
dsn=$(grep -l 'Final-Recipient: rfc822; *gone@good.test' "$LAB_DIR"/sink.spool/*.eml 2>/dev/null | head -1)
[ -n "$dsn" ] && grep -q 'report-type=delivery-status' "$dsn" && grep -q '^Action: failed' "$dsn" &&
    grep -q '^Status: 5\.1\.1' "$dsn" && grep -qi '^Remote-MTA: dns; *mx\.good\.test' "$dsn" &&
    grep -q '^Diagnostic-Code: smtp; *550' "$dsn"
ok $? "H11: its fields: delivery-status report, Action failed, Status 5.1.1, Remote-MTA, Diagnostic-Code"
! grep -l 'Final-Recipient: rfc822; *temp@good.test' "$LAB_DIR"/sink.spool/*.eml >/dev/null 2>&1
ok $? "no DSN for the deferred recipient"

# three domains, three modes, one message
delivered a3@good.test && delivered c3@tnostls.test && wait_line b3@nostls.test deferred
ok $? "one message, 3 domains: enforce delivered, testing delivered, enforce failure deferred"
lab_wait_grep '"b3@nostls.test"' "$LAB_DIR/q.json" 1 >/dev/null 2>&1 || true
$CTL --json queue list >"$LAB_DIR/q.json" 2>&1
grep -q 'b3@nostls.test' "$LAB_DIR/q.json"
ok $? "the message waits in the queue for the deferred domain only"

# second phase: cache, policy change, flush, reuse
delivered v1@cache.test && delivered v1@change.test
ok $? "cache.test and change.test delivered with their first policies"
zone 2 >"$LAB_DIR/zone.new" && mv "$LAB_DIR/zone.new" "$LAB_DIR/zone"
eval "kill -HUP \$LAB_PID_dns"
lab_wait_grep 'reload' "$LAB_DIR/dns.log"
send v2@cache.test; send v2@change.test
delivered v2@cache.test && wait_line v2@cache.test sent && got v2@cache.test sent 'policy=enforce source=cached'
ok $? "S13: TXT lookup and policy host failing: the cached enforce policy applies"
# A decision is never held up by a TXT re-check (docs/policy-cache.md): the
# first message after the change may still go by the cached policy c1 (to
# mx.good.test, which c1 names and which still takes mail; or it is deferred
# when the new MX set is already known, since c1 does not name mx.alt.test).
# The re-check in the background sees id c2 and fetches it (S20); mail after
# that goes by c2. Each flush makes a deferred v2 due again.
new_policy_then_flush() {
	$CTL --json policy show change.test 2>/dev/null | grep -q '"c2"' && return 0
	$CTL queue flush >/dev/null 2>&1
	return 1
}
lab_wait_until 30 new_policy_then_flush
ok $? "S20: the new policy id c2 is fetched and cached in the background"
$CTL queue flush >/dev/null 2>&1
delivered v2@change.test
ok $? "S20: the message sent as the id changed is delivered (under c1 or c2)"
send v3@change.test
delivered v3@change.test && record v3@change.test | grep -q 'listener=alt .*sni=mx\.alt\.test'
ok $? "S20: a new policy id is fetched and its new MX used"

n=$(grep -Ec "$(line v@nostls.test deferred)" "$LOG")
$CTL queue flush >/dev/null 2>&1
lab_wait_count "$(line v@nostls.test deferred)" "$LOG" $((n + 1))
ok $? "queue flush: a deferred message is attempted again at once"

$CTL tls counts >"$LAB_DIR/tls.out" 2>&1
grep -Eq '^good\.test +sts +mx\.good\.test +success +[1-9]' "$LAB_DIR/tls.out" &&
    grep -Eq '^expired\.test +sts +mx\.expired\.test +certificate-expired +[1-9]' "$LAB_DIR/tls.out" &&
    grep -Eq '^nopol\.test +no-policy-found +mx\.good\.test +success +[1-9]' "$LAB_DIR/tls.out" &&
    grep -Eq '^tnostls\.test +sts +mx\.nostls\.test +starttls-not-supported +[1-9]' "$LAB_DIR/tls.out" &&
    grep -Eq '^fetchfail\.test +no-policy-found +- +sts-policy-fetch-error +[1-9]' "$LAB_DIR/tls.out" &&
    grep -Eq '^tabort\.test +sts +mx\.abort\.test +validation-failure +1$' "$LAB_DIR/tls.out"
ok $? "R2: TLS report counters per policy domain, policy type, MX host and result (stsrelayctl tls counts)"
$CTL tls counts 2020-13-x >/dev/null 2>&1
[ $? -ne 0 ]
ok $? "tls counts: a malformed day is refused"

# a busy domain: 200 messages from 10 clients at once
"$top_builddir/bench/smtp-load" -s "127.0.0.1:$LAB_RELAY_PORT" -c 10 -n 200 -z 1024 \
    -f s@good.test -r b@bulk.test -T 60 >"$LAB_DIR/bulk.out" 2>&1
lab_wait_count 'to=<b@bulk.test>' "$IDX" 200
ok $? "a busy enforce domain: 200 messages delivered ($(grep -c 'to=<b@bulk.test>' "$IDX"))"
nb=$(grep -c 'listener=bulk connect' "$SLOG")
[ "$nb" -ge 1 ] && [ "$nb" -le 10 ] && ! grep 'to=<b@bulk.test>' "$IDX" | grep -vq 'tls=TLSv1\.[23] .*sni=mx\.bulk\.test'
ok $? "reuse: over at most delivery_concurrency_per_domain (10) verified TLS connections ($nb)"

for i in 1 2 3; do
	send "r$i@reuse.test"
	delivered "r$i@reuse.test" || break
done
[ "$(grep -c 'listener=reuse connect' "$SLOG")" -eq 1 ] && [ "$(grep -c 'to=<r[123]@reuse.test>' "$IDX")" -eq 3 ]
ok $? "reuse: 3 messages, one after another, over one connection ($(grep -c 'listener=reuse connect' "$SLOG") connections)"
grep 'listener=reuse' "$SLOG" | grep -c 'tls established' | grep -qx 1
ok $? "reuse: one TLS handshake for the three"
done_testing
