#!/bin/sh
# Scenario: one lab, thirteen downgrades, one control. Each domain has its own
# MTA-STS policy and its own "MX host" on 127.0.0.x (all on one port); the
# relay must deliver only where the policy is satisfied (S24-S27) and only
# fall back to plaintext where the policy allows it (testing, S28; none).
# Outcomes are read from the lab (the sink's index and logs) and from the
# relay's queue, never from the relay's own log wording.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_have_relay || skip_all "stsrelayd is not built"
lab_relay_can delivery || skip_all "this stsrelayd does not deliver yet (stsrelayd -V lists no delivery)"
lab_need swaks openssl
LAB_TIMEOUT=${LAB_TIMEOUT_SCENARIO:-60}
lab_init

# certificates: the MX names mx.d.test, mx1..mx13.d.test; one web certificate
# for every mta-sts.<domain>
LAB_PKI_NAMES="mx.d.test mx1.d.test mx2.d.test mx3.d.test mx4.d.test mx5.d.test mx6.d.test
mx7.d.test mx8.d.test mx9.d.test mx10.d.test mx11.d.test mx12.d.test mx13.d.test mta-sts.d.test"
export LAB_PKI_NAMES
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI
DOMAINS="ctl exp nyv ss wn cn ni old ref inj tst nop nomatch nostls"
webs=
for d in $DOMAINS; do webs="$webs mta-sts.$d.test"; done
# shellcheck disable=SC2086
sh "$LAB_SRC/lab-pki.sh" "$P" leaf webs valid mta-sts.ctl.test $webs >/dev/null 2>&1 ||
    bail "cannot issue the web certificate"

# domain  MX name      address      what the MX does                        expected
# ctl     mx1.d.test   127.0.0.31   valid certificate                       delivered over TLS
# exp     mx2.d.test   127.0.0.32   expired certificate                     deferred
# nyv     mx3.d.test   127.0.0.33   not yet valid                           deferred
# ss      mx4.d.test   127.0.0.34   self-signed                             deferred
# wn      mx5.d.test   127.0.0.35   wrong name                              deferred
# cn      mx.d.test    127.0.0.36   CN only, no subjectAltName (S24)        deferred
# ni      mx6.d.test   127.0.0.37   leaf without its intermediate           deferred
# old     mx7.d.test   127.0.0.38   TLS 1.0/1.1 only (S26)                  deferred
# ref     mx8.d.test   127.0.0.39   MITM answers STARTTLS with 454          deferred
# inj     mx9.d.test   127.0.0.40   MITM injects plaintext after 220 (H4)   deferred
# tst     mx10.d.test  127.0.0.41   MITM strips STARTTLS, mode testing      delivered in plaintext
# nop     mx11.d.test  127.0.0.42   MITM strips STARTTLS, no policy at all  delivered in plaintext
# nomatch mx12.d.test  127.0.0.43   MX not named by the enforce policy      deferred, never contacted
# nostls  mx13.d.test  127.0.0.44   no STARTTLS offered                     deferred
cat >"$LAB_DIR/sink.in" <<EOF
cert $P/valid.pem $P/valid.key
listen ctl 127.0.0.31:0
listen exp 127.0.0.32:0
cert $P/expired.pem $P/expired.key
listen nyv 127.0.0.33:0
cert $P/notyet.pem $P/notyet.key
listen ss 127.0.0.34:0
cert $P/selfsigned.pem $P/selfsigned.key
listen wn 127.0.0.35:0
cert $P/wrongname.pem $P/wrongname.key
listen cn 127.0.0.36:0
cert $P/cnonly.pem $P/cnonly.key
listen ni 127.0.0.37:0
cert $P/valid.crt $P/valid.key
listen old 127.0.0.38:0
tls-versions 1.0 1.1
listen nomatch 127.0.0.43:0
listen nostls 127.0.0.44:0
starttls none
listen real 127.0.0.49:0
EOF
lab_sink sink "$LAB_DIR/sink.in" || bail "lab-smtp-sink did not start"
PORT=$LAB_SINK_PORT
REAL=127.0.0.49:$PORT
lab_mitm ref "127.0.0.39:$PORT" "$REAL" refuse || bail "lab-mitm refuse did not start"
lab_mitm inj "127.0.0.40:$PORT" "$REAL" inject || bail "lab-mitm inject did not start"
lab_mitm tst "127.0.0.41:$PORT" "$REAL" strip || bail "lab-mitm strip did not start"
lab_mitm nop "127.0.0.42:$PORT" "$REAL" strip || bail "lab-mitm strip did not start"

: >"$LAB_DIR/zone"
: >"$LAB_DIR/https.conf"
echo "cert $P/webs.pem $P/webs.key" >>"$LAB_DIR/https.conf"
n=0
mxof() { # DOMAIN -> its MX name
	case $1 in
	ctl) echo mx1.d.test ;; exp) echo mx2.d.test ;; nyv) echo mx3.d.test ;;
	ss) echo mx4.d.test ;; wn) echo mx5.d.test ;; cn) echo mx.d.test ;;
	ni) echo mx6.d.test ;; old) echo mx7.d.test ;; ref) echo mx8.d.test ;;
	inj) echo mx9.d.test ;; tst) echo mx10.d.test ;; nop) echo mx11.d.test ;;
	nomatch) echo mx12.d.test ;; nostls) echo mx13.d.test ;;
	esac
}
for d in $DOMAINS; do
	mx=$(mxof "$d")
	addr=127.0.0.$((31 + n))
	n=$((n + 1))
	mode=enforce
	pmx=$mx
	[ "$d" = tst ] && mode=testing
	[ "$d" = nomatch ] && pmx=elsewhere.d.test
	{
		echo "$d.test MX 10 $mx"
		echo "$mx A $addr"
		echo "mta-sts.$d.test A 127.0.0.1"
		[ "$d" = nop ] || echo "_mta-sts.$d.test TXT \"v=STSv1; id=lab$d;\""
	} >>"$LAB_DIR/zone"
	printf 'version: STSv1\nmode: %s\nmx: %s\nmax_age: 86400\n' "$mode" "$pmx" >"$LAB_DIR/$d.txt"
	printf 'host mta-sts.%s.test\n  path /.well-known/mta-sts.txt\n  body-file %s\n' \
	    "$d" "$LAB_DIR/$d.txt" >>"$LAB_DIR/https.conf"
done
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"
lab_https "$LAB_DIR/https.conf" || bail "lab-https did not start"
lab_relay || bail "stsrelayd did not start (see $LAB_DIR/relay.out)"
IDX=$LAB_DIR/sink.spool/index

for d in $DOMAINS; do
	lab_send sender@e.test "victim@$d.test" --header "Subject: $d" ||
	    diag "the relay did not accept victim@$d.test: $(tail -3 "$LAB_DIR/send.out")"
done

# the control: delivered over verified TLS
lab_wait_grep 'to=<victim@ctl.test>' "$IDX"
ok $? "ctl: valid certificate, delivered"
grep 'to=<victim@ctl.test>' "$IDX" | grep -q 'tls=TLSv1.[23] .*sni=mx1.d.test ehlo_after_tls=yes mail_plaintext=no'
ok $? "ctl: over TLS 1.2+, SNI = MX name, EHLO again, no plaintext MAIL"

deferred() { # DOMAIN WHY
	lab_wait_state "victim@$1.test" deferred
	ok $? "$1: $2: deferred"
	! grep -q "to=<victim@$1.test>" "$IDX"
	ok $? "$1: nothing delivered"
}
deferred exp "expired certificate"
deferred nyv "certificate not yet valid"
deferred ss "self-signed certificate"
deferred wn "certificate for another name"
deferred cn "CN-only certificate (S24)"
deferred ni "missing intermediate"
deferred old "TLS below 1.2 (S26)"
deferred ref "454 to STARTTLS"
deferred inj "plaintext injected after the 220 (H4)"
deferred nostls "no STARTTLS (S27)"
! grep -q 'C: MAIL FROM:<sender@e.test>' "$LAB_DIR/ref.log"
ok $? "ref: no plaintext MAIL crossed the attacker"
deferred nomatch "MX not in the policy"
! grep -q 'listener=nomatch connect' "$LAB_DIR/sink.log"
ok $? "nomatch: the relay never even connected (ours)"
for l in exp nyv ss wn cn ni; do
	grep -q "listener=$l tls established" "$LAB_DIR/sink.log" &&
	    diag "$l: a TLS session completed (the relay should refuse in the handshake)"
done

# where the policy allows it, plaintext is the expected fallback
lab_wait_grep 'to=<victim@tst.test>.* mail_plaintext=yes' "$IDX"
ok $? "tst: mode testing, STARTTLS stripped: delivered anyway (S28)"
lab_wait_grep 'to=<victim@nop.test>.* mail_plaintext=yes' "$IDX"
ok $? "nop: no policy, STARTTLS stripped: delivered in plaintext (opportunistic)"
done_testing
