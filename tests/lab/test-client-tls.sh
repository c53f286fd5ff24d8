#!/bin/sh
# The outbound SMTP client (relay/smtp_client.c) against every TLS behaviour
# of the lab's MX hosts, in each mode: what the client reports, and what the
# sink (and the man in the middle) recorded. S24-S28, H4, Ours (4.7.4/4.7.5).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
. "$top_srcdir/tests/lab/test-client-lib.sh"
lab_need openssl
lab_init
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI

cat >"$LAB_DIR/sink.in" <<EOF
hostname mx1.d.test
cert $P/valid.pem $P/valid.key
listen valid 127.0.0.2:0
listen wildcard 127.0.0.3:0
cert $P/wildcard.pem $P/wildcard.key
listen expired 127.0.0.4:0
cert $P/expired.pem $P/expired.key
listen notyet 127.0.0.5:0
cert $P/notyet.pem $P/notyet.key
listen selfsigned 127.0.0.6:0
cert $P/selfsigned.pem $P/selfsigned.key
listen wrongname 127.0.0.7:0
cert $P/wrongname.pem $P/wrongname.key
listen cnonly 127.0.0.8:0
cert $P/cnonly.pem $P/cnonly.key
listen nointer 127.0.0.9:0
cert $P/valid.crt $P/valid.key
listen old 127.0.0.10:0
tls-versions 1.0 1.1
listen none 127.0.0.11:0
starttls none
listen refuse 127.0.0.12:0
starttls refuse
listen abort 127.0.0.13:0
starttls abort
EOF
client_sink "$LAB_DIR/sink.in"

# --- VERIFY (MTA-STS enforce): each failure, its result type and code, nothing sent
check_verify_fail() { # LISTENER ADDR RESULT ENHANCED [drive options]
	_l=$1 _a=$2 _r=$3 _e=$4
	shift 4
	drive "v-$_l" "$_a:$S" verify "$@"
	is "$(get "v-$_l" conn=1 status)/$(get "v-$_l" conn=1 tls_result)/$(get "v-$_l" conn=1 enhanced)" \
	    "temporary/$_r/$_e" "S27 verify, $_l: temporary failure, $_r, $_e"
	! delivered "v-$_l" && no_mail "$_l"
	ok $? "S27/H4 verify, $_l: no MAIL FROM reached the sink"
}
check_verify_fail expired 127.0.0.4 certificate-expired 4.7.5
check_verify_fail notyet 127.0.0.5 certificate-expired 4.7.5
check_verify_fail selfsigned 127.0.0.6 certificate-not-trusted 4.7.5
check_verify_fail wrongname 127.0.0.7 certificate-host-mismatch 4.7.5
check_verify_fail cnonly 127.0.0.8 certificate-host-mismatch 4.7.5
check_verify_fail nointer 127.0.0.9 certificate-not-trusted 4.7.5
check_verify_fail old 127.0.0.10 validation-failure 4.7.5
check_verify_fail none 127.0.0.11 starttls-not-supported 4.7.4
check_verify_fail refuse 127.0.0.12 starttls-not-supported 4.7.4
check_verify_fail abort 127.0.0.13 validation-failure 4.7.5
is "$(get v-old conn=1 retry_plaintext)" no "verify: a failed handshake never asks for plaintext"

drive v-valid "127.0.0.2:$S" verify
is "$(get v-valid conn=1 status)/$(get v-valid conn=1 verified)/$(get v-valid conn=1 tls)" \
    "ok/yes/TLSv1.3" "S24 verify, valid: verified TLS 1.3"
is "$(get v-valid rcpt= kind)/$(get v-valid rcpt= code)" "ok/250" "verify, valid: the recipient is delivered"
is "$(get v-valid conn=1 local_addr)" 127.0.0.1 "R2: the outcome carries our address (sending-mta-ip)"
lab_wait_grep 'to=<v-valid@d.test> .*tls=TLSv1.3 .*sni=mx1.d.test ehlo_after_tls=yes mail_plaintext=no' "$IDX" 5
ok $? "S25/H4: sink record: TLS 1.3, SNI = MX host, EHLO again after TLS, MAIL not in plaintext"

# wildcard: one label, never two (S22/S24)
drive v-wild1 "127.0.0.3:$S" verify -H a.d.test
is "$(get v-wild1 conn=1 status)/$(get v-wild1 conn=1 verified)" "ok/yes" \
    "S24: certificate *.d.test is valid for a.d.test"
lab_wait_grep 'to=<v-wild1@d.test> .*sni=a.d.test' "$IDX" 5
ok $? "S25: SNI is the MX host given (a.d.test)"
drive v-wild2 "127.0.0.3:$S" verify -H a.b.d.test
is "$(get v-wild2 conn=1 status)/$(get v-wild2 conn=1 tls_result)" "temporary/certificate-host-mismatch" \
    "S24: certificate *.d.test is not valid for a.b.d.test"
! delivered v-wild2
ok $? "S24: nothing delivered to a.b.d.test"
drive v-wild3 "127.0.0.3:$S" verify -H d.test
is "$(get v-wild3 conn=1 tls_result)" certificate-host-mismatch "S24: certificate *.d.test is not valid for d.test"
drive v-dot "127.0.0.2:$S" verify -H mx1.d.test.
is "$(get v-dot conn=1 status)/$(get v-dot conn=1 verified)" "ok/yes" \
    "S22: a final dot on the MX host name is ignored"
lab_wait_grep 'to=<v-dot@d.test> .*sni=mx1.d.test ' "$IDX" 5
ok $? "S25: SNI without the final dot"

# --- TESTING (MTA-STS testing): report the violation, deliver anyway (S28)
check_testing_tls() { # LISTENER ADDR RESULT
	drive "t-$1" "$2:$S" testing
	is "$(get "t-$1" conn=1 status)/$(get "t-$1" conn=1 tls_result)/$(get "t-$1" conn=1 verified)" \
	    "ok/$3/no" "S28 testing, $1: $3 reported, session goes on"
	lab_wait_grep "to=<t-$1@d.test> .*tls=TLSv1.3 .*ehlo_after_tls=yes mail_plaintext=no" "$IDX" 5
	ok $? "S28 testing, $1: delivered over (unverified) TLS"
}
check_testing_tls expired 127.0.0.4 certificate-expired
check_testing_tls notyet 127.0.0.5 certificate-expired
check_testing_tls selfsigned 127.0.0.6 certificate-not-trusted
check_testing_tls wrongname 127.0.0.7 certificate-host-mismatch
check_testing_tls cnonly 127.0.0.8 certificate-host-mismatch
check_testing_tls nointer 127.0.0.9 certificate-not-trusted

drive t-valid "127.0.0.2:$S" testing
is "$(get t-valid conn=1 status)/$(get t-valid conn=1 verified)/$(get t-valid conn=1 tls_result)" \
    "ok/yes/none" "testing, valid: verified, no violation"

for l in none:127.0.0.11 refuse:127.0.0.12; do
	n=${l%%:*} a=${l#*:}
	drive "t-$n" "$a:$S" testing
	is "$(get "t-$n" conn=1 status)/$(get "t-$n" conn=1 tls_result)/$(get "t-$n" conn=1 tls)" \
	    "ok/starttls-not-supported/none" "S28 testing, $n: starttls-not-supported reported, plaintext"
	lab_wait_grep "to=<t-$n@d.test> .*tls=none .*mail_plaintext=yes" "$IDX" 5
	ok $? "S28 testing, $n: delivered in plaintext"
done

for l in old:127.0.0.10 abort:127.0.0.13; do
	n=${l%%:*} a=${l#*:}
	drive "t-$n" "$a:$S" testing -R
	is "$(get "t-$n" conn=1 status)/$(get "t-$n" conn=1 tls_result)/$(get "t-$n" conn=1 retry_plaintext)" \
	    "temporary/validation-failure/yes" "Ours testing, $n: handshake failure reported, plaintext retry asked"
	is "$(get "t-$n" conn=2 mode)/$(get "t-$n" conn=2 status)/$(get "t-$n" rcpt= kind)" \
	    "plaintext/ok/ok" "Ours testing, $n: the same MX again without TLS delivers"
	lab_wait_grep "listener=$n .*to=<t-$n@d.test> .*tls=none" "$IDX" 5
	ok $? "Ours testing, $n: the sink recorded it in plaintext"
done

# --- OPPORTUNISTIC (no policy) and PLAINTEXT
drive o-selfsigned "127.0.0.6:$S" opportunistic
is "$(get o-selfsigned conn=1 status)/$(get o-selfsigned conn=1 tls)/$(get o-selfsigned conn=1 verified)" \
    "ok/TLSv1.3/no" "S29 opportunistic: TLS without verification, recorded as not verified"
drive o-valid "127.0.0.2:$S" opportunistic
is "$(get o-valid conn=1 verified)" yes "opportunistic: a good certificate is recorded as verified"
drive o-old "127.0.0.10:$S" opportunistic
is "$(get o-old conn=1 status)/$(get o-old conn=1 retry_plaintext)" "temporary/yes" \
    "opportunistic: handshake failure asks for a plaintext retry"
drive p-valid "127.0.0.2:$S" plaintext
is "$(get p-valid conn=1 status)/$(get p-valid conn=1 tls)/$(get p-valid conn=1 starttls_offered)" \
    "ok/none/yes" "plaintext mode: STARTTLS offered but never used"
lab_wait_grep 'to=<p-valid@d.test> .*tls=none' "$IDX" 5
ok $? "plaintext mode: delivered without TLS"

# --- session resumption on a second connection to the same MX host
drive v-resume "127.0.0.2:$S" verify -C 2
is "$(get v-resume conn=1 resumed)/$(get v-resume conn=2 resumed)/$(get v-resume conn=2 verified)" \
    "no/yes/yes" "TLS session resumed on the second connection, still verified"

# a session from an unverified handshake is never resumed where verification is required
drive tv-resume "127.0.0.6:$S" testing -2 verify -C 2
is "$(get tv-resume conn=1 status)/$(get tv-resume conn=2 status)/$(get tv-resume conn=2 resumed)/$(get tv-resume conn=2 tls_result)" \
    "ok/temporary/no/certificate-not-trusted" \
    "S24: a session cached in testing mode (self-signed) is not resumed in verify mode"
drive vt-resume "127.0.0.2:$S" verify -2 testing -C 2
is "$(get vt-resume conn=2 resumed)/$(get vt-resume conn=2 verified)" "yes/yes" \
    "a verified session may be resumed in testing mode, and stays verified"

# --- the man in the middle (H4, S27)
lab_mitm mitm-strip 127.0.0.20:0 "127.0.0.2:$S" strip || bail "lab-mitm strip did not start"
M=$LAB_MITM_PORT
drive v-strip "127.0.0.20:$M" verify
is "$(get v-strip conn=1 status)/$(get v-strip conn=1 tls_result)/$(get v-strip conn=1 enhanced)" \
    "temporary/starttls-not-supported/4.7.4" "S27: STARTTLS stripped, verify mode defers with 4.7.4"
grep -q 'action=strip' "$LAB_DIR/mitm-strip.log" && ! grep -q 'C: MAIL' "$LAB_DIR/mitm-strip.log"
ok $? "H4: the attacker stripped STARTTLS and saw no plaintext MAIL"
drive t-strip "127.0.0.20:$M" testing
is "$(get t-strip conn=1 status)/$(get t-strip conn=1 tls_result)" "ok/starttls-not-supported" \
    "S28: STARTTLS stripped, testing mode reports it and delivers"

lab_mitm mitm-inject 127.0.0.21:0 "127.0.0.2:$S" inject || bail "lab-mitm inject did not start"
M=$LAB_MITM_PORT
drive v-inject "127.0.0.21:$M" verify
is "$(get v-inject conn=1 status)/$(get v-inject conn=1 tls)/$(get v-inject conn=1 tls_result)" \
    "temporary/none/validation-failure" "H4: plaintext injected after the 220 to STARTTLS aborts the session"
lab_wait_grep 'action=inject' "$LAB_DIR/mitm-inject.log" 5 && ! grep -q 'C: MAIL' "$LAB_DIR/mitm-inject.log"
ok $? "H4: the injection happened and no MAIL crossed the attacker"
! delivered v-inject
ok $? "H4: nothing delivered after the injection"

lab_mitm mitm-refuse 127.0.0.22:0 "127.0.0.2:$S" refuse || bail "lab-mitm refuse did not start"
drive v-mrefuse "127.0.0.22:$LAB_MITM_PORT" verify
is "$(get v-mrefuse conn=1 status)/$(get v-mrefuse conn=1 enhanced)" "temporary/4.7.4" \
    "S27: STARTTLS answered 454 by the attacker: verify mode defers"
done_testing
