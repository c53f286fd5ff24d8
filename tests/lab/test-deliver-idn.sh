#!/bin/sh
# Internationalised recipient domains (RFC 6531, RFC 5890/5891, RFC 8461
# 4.1): mail to user@bücher.example is routed by the A-label form
# xn--bcher-kva.example (MX, _mta-sts TXT, the policy host, the policy's mx
# patterns, the TLS report counters) while the envelope keeps the address as
# the client gave it. A next hop without SMTPUTF8 bounces such a message
# 5.6.7 (H8); a domain that is not valid IDNA bounces 5.1.2 with a DSN.
# stsrelayctl policy check takes either form.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_have_relay || skip_all "stsrelayd is not built"
lab_relay_can delivery || skip_all "this stsrelayd does not deliver (stsrelayd -V)"
lab_need swaks openssl python3
LAB_TIMEOUT=${LAB_TIMEOUT_SCENARIO:-30}
lab_init

B=xn--bcher-kva.example		# bücher.example
M=xn--mnchen-3ya.example	# münchen.example: its MX has no SMTPUTF8
UB=$(printf 'b\303\274cher.example')
UM=$(printf 'm\303\274nchen.example')
SNOW=$(printf '\342\230\203.example')
LAB_PKI_NAMES="mx.$B mx.$M mx.back.example"
export LAB_PKI_NAMES
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI
sh "$LAB_SRC/lab-pki.sh" "$P" leaf web-idn valid "mta-sts.$B" "mta-sts.$B" "mta-sts.$M" \
    >/dev/null 2>&1 || bail "cannot issue the policy server's certificate"

cat >"$LAB_DIR/sink.in" <<EOF
hostname mx.$B
cert $P/valid.pem $P/valid.key
listen utf8 127.0.0.60:0
listen noutf8 127.0.0.61:0
hostname mx.$M
smtputf8 no
EOF
lab_sink sink "$LAB_DIR/sink.in" || bail "lab-smtp-sink did not start"

cat >"$LAB_DIR/zone" <<EOF
$B MX 10 mx.$B
mx.$B A 127.0.0.60
_mta-sts.$B TXT "v=STSv1; id=idn1;"
mta-sts.$B A 127.0.0.1
$M MX 10 mx.$M
mx.$M A 127.0.0.61
_mta-sts.$M TXT "v=STSv1; id=idn1;"
mta-sts.$M A 127.0.0.1
back.example MX 10 mx.back.example
mx.back.example A 127.0.0.60
EOF
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"

printf 'version: STSv1\nmode: enforce\nmx: mx.%s\nmax_age: 86400\n' "$B" >"$LAB_DIR/pol-b.txt"
printf 'version: STSv1\nmode: enforce\nmx: *.%s\nmax_age: 86400\n' "$M" >"$LAB_DIR/pol-m.txt"
cat >"$LAB_DIR/https.conf" <<EOF
cert $P/web-idn.pem $P/web-idn.key
host mta-sts.$B
  path /.well-known/mta-sts.txt
  body-file $LAB_DIR/pol-b.txt
host mta-sts.$M
  path /.well-known/mta-sts.txt
  body-file $LAB_DIR/pol-m.txt
EOF
lab_https "$LAB_DIR/https.conf" || bail "lab-https did not start"

lab_relay -o hostname=relay.lab.test || bail "stsrelayd did not start (see $LAB_DIR/relay.out)"
IDX=$LAB_DIR/sink.spool/index
LOG=$LAB_DIR/relay.out
CTL="$top_builddir/stsrelayctl -s $LAB_DIR/relay.sock"

smtp_utf8() { # TO [MAIL-OPTION]: a UTF-8 message from s@back.example
	python3 - "$LAB_RELAY_PORT" "$1" "${2:-SMTPUTF8}" <<'PY'
import smtplib, sys
port, to, opt = sys.argv[1:4]
body = "Subject: gr\u00fc\u00dfe\r\n\r\nbonjour \u00e0 b\u00fccher\r\n"
s = smtplib.SMTP("127.0.0.1", int(port), timeout=20)
s.ehlo("lab.test")
s.sendmail("s@back.example", [to], body.encode("utf-8"), mail_options=[opt] if opt else [])
s.quit()
PY
}
# the relay's line for a recipient (ERE; non-ASCII as the log writes it)
line() { echo "to=<$1>[^ ]* .*status=$2"; }

smtp_utf8 "user@$UB" >"$LAB_DIR/send1.out" 2>&1
ok $? "the listener takes RCPT TO:<user@$UB> under SMTPUTF8"
smtp_utf8 "user@$UM" >"$LAB_DIR/send2.out" 2>&1
ok $? "... and RCPT TO:<user@$UM>"
lab_send s@back.example "ascii@XN--BCHER-KVA.example"
ok $? "an upper case A-label address is taken too"
lab_send s@back.example "bad@xn--garbage.example"
ok $? "an xn-- label that is not valid punycode is taken (DNS decides)"
smtp_utf8 "snow@$SNOW" >"$LAB_DIR/send3.out" 2>&1
ok $? "a domain with a disallowed code point (U+2603) is taken"

# 1: bücher.example over verified TLS, routed by its A-label
lab_wait_grep 'to=<user@b\\xc3\\xbccher\.example>' "$IDX"
ok $? "S1: user@$UB delivered to the MX of $B"
grep 'to=<user@b\\xc3\\xbccher\.example>' "$IDX" |
    grep -q "listener=utf8 .*tls=TLSv1\.[23] .*sni=mx\.$B .*mail_params=\"[^\"]*SMTPUTF8"
ok $? "S25, H8: over TLS to mx.$B (SNI in A-label form), MAIL with SMTPUTF8, the address as given"
lab_wait_grep "$(line "user@$UB" sent)" "$LOG" &&
    grep -E "$(line "user@$UB" sent)" "$LOG" | grep -Eq "verified=yes policy=enforce .*domain=$B"
ok $? "log: to=<user@$UB> verified=yes policy=enforce domain=$B"
grep -q "_mta-sts\.$B" "$LAB_DIR/dns.log" && grep -q "$B.*MX" "$LAB_DIR/dns.log" &&
    ! grep -q "$UB" "$LAB_DIR/dns.log"
ok $? "RFC 8461 4.1: the MX and _mta-sts TXT queries use the A-label, never UTF-8"
grep -q "mta-sts\.$B" "$LAB_DIR/https.log"
ok $? "the policy is fetched from mta-sts.$B"
lab_wait_grep 'to=<ascii@XN--BCHER-KVA\.example>' "$IDX"
ok $? "an upper case A-label recipient goes the same way"

# 2: münchen.example's MX has no SMTPUTF8 (H8)
lab_wait_grep "$(line "user@$UM" bounced)" "$LOG" &&
    grep -E "$(line "user@$UM" bounced)" "$LOG" | grep -q '5\.6\.7'
ok $? "H8: an SMTPUTF8 message to user@$UM via a next hop without SMTPUTF8 bounces 5.6.7"
! grep -q 'listener=noutf8 .*msg=' "$IDX" && ! grep -q 'm\\xc3\\xbcnchen' "$IDX"
ok $? "H8: nothing reached that next hop"
grep -E "$(line "user@$UM" bounced)" "$LOG" | grep -q "domain=$M"
ok $? "log: the A-label domain $M is shown"
lab_wait_until "$LAB_TIMEOUT" sh -c "grep -lF 'Final-Recipient: utf-8; user@$UM' '$LAB_DIR'/sink.spool/*.eml"
gdsn=$(grep -lF "Final-Recipient: utf-8; user@$UM" "$LAB_DIR"/sink.spool/*.eml 2>/dev/null | head -1)
[ -n "$gdsn" ] && grep -q 'report-type=global-delivery-status' "$gdsn" &&
    grep -q '^Content-Type: message/global-delivery-status' "$gdsn" &&
    grep -q '^Content-Type: message/global-headers' "$gdsn" && grep -q '^Status: 5\.6\.7' "$gdsn"
ok $? "RFC 6533: its DSN is global: utf-8 address type, global-delivery-status, global-headers"

# 3: not valid IDNA: 5.1.2 and a DSN, no lookup; an ASCII A-label is left to DNS
lab_wait_grep "$(line "bad@xn--garbage\.example" bounced)" "$LOG" &&
    grep -E "$(line "bad@xn--garbage\.example" bounced)" "$LOG" | grep -q '5\.1\.2 ' &&
    ! grep -E "$(line "bad@xn--garbage\.example" bounced)" "$LOG" | grep -q 'internationalized'
ok $? "RFC 5891 5.3: an ASCII xn-- label is looked up as written; NXDOMAIN bounces 5.1.2"
grep -q 'xn--garbage\.example' "$LAB_DIR/dns.log"
ok $? "... after a DNS query for it"
lab_wait_grep "to=<snow@[^>]*> .*status=bounced" "$LOG" &&
    grep -E "to=<snow@[^>]*> .*status=bounced" "$LOG" | grep -q '5\.1\.2 .*disallowed'
ok $? "RFC 5892: a disallowed code point bounces 5.1.2 ($(grep -Eo 'to=<snow@[^>]*> .*status=bounced \([^)]*\)' "$LOG" | sed 's/.*(//' | head -1))"
! grep -qF "$SNOW" "$LAB_DIR/dns.log" && ! grep -q 'xn--n3h' "$LAB_DIR/dns.log"
ok $? "no DNS query for a name that is not valid IDNA (U+2603 in any form)"
lab_wait_until "$LAB_TIMEOUT" sh -c "grep -l 'Final-Recipient: rfc822; *bad@xn--garbage.example' '$LAB_DIR'/sink.spool/*.eml"
dsn=$(grep -l 'Final-Recipient: rfc822; *bad@xn--garbage.example' "$LAB_DIR"/sink.spool/*.eml 2>/dev/null | head -1)
[ -n "$dsn" ] && grep -q '^Action: failed' "$dsn" && grep -q '^Status: 5\.1\.2' "$dsn"
ok $? "H11: a DSN to the sender: Action failed, Status 5.1.2"
grep -q 'from=<> to=<s@back.example>' "$IDX"
ok $? "H11: the DSN comes from <>"

# 4: the administrator may type either form
$CTL policy check "$UB" >"$LAB_DIR/check.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "policy check $B (asked: $UB)" "$LAB_DIR/check.out" &&
    grep -q 'enforce' "$LAB_DIR/check.out"
ok $? "stsrelayctl policy check $UB: the policy of $B, valid (exit $rc)"
$CTL --json policy check "$B" >"$LAB_DIR/check2.out" 2>&1 &&
    grep -q "\"domain\": *\"$B\"" "$LAB_DIR/check2.out"
ok $? "stsrelayctl policy check $B: the A-label form works as before"
$CTL policy show "$UB" >"$LAB_DIR/show.out" 2>&1 && grep -q "$B" "$LAB_DIR/show.out" &&
    grep -q 'idn1' "$LAB_DIR/show.out"
ok $? "stsrelayctl policy show $UB: the cached record of $B"
! $CTL policy check "$SNOW" >"$LAB_DIR/check3.out" 2>&1 &&
    grep -q 'not a valid domain name.*IDNA' "$LAB_DIR/check3.out"
ok $? "stsrelayctl policy check $SNOW: refused with the IDNA reason"

# 5: RFC 8460 counters under the A-label
$CTL tls counts >"$LAB_DIR/tls.out" 2>&1
grep -Eq "^$B +sts +mx\.$B +success +[1-9]" "$LAB_DIR/tls.out"
ok $? "R2: TLS report counters kept for $B (A-label)"
! grep -q "$UB" "$LAB_DIR/tls.out"
ok $? "R2: never under the U-label"
done_testing
