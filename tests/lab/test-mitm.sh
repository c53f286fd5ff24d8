#!/bin/sh
# lab-mitm's behaviours observed with swaks between the client and a sink.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_need swaks openssl
lab_init
lab_pki || bail "lab-pki.sh failed"
cat >"$LAB_DIR/sink.in" <<EOF2
hostname mx1.d.test
cert $LAB_PKI/valid.pem $LAB_PKI/valid.key
listen mx1 127.0.0.2:0
EOF2
lab_sink sink "$LAB_DIR/sink.in" || bail "lab-smtp-sink did not start"
UP=127.0.0.2:$LAB_SINK_PORT
IDX=$LAB_DIR/sink.spool/index
for mode in pass strip refuse inject inject-server; do
	lab_mitm "mitm-$mode" 127.0.0.20:0 "$UP" "$mode" || bail "lab-mitm $mode did not start"
done
port() { cat "$LAB_DIR/mitm-$1.port"; }
send() { # MODE SUBJECT [swaks options]
	_m=$1 _s=$2
	shift 2
	swaks --server "127.0.0.20:$(port "$_m")" --from a@e.test --to b@d.test \
	    --tls-sni mx1.d.test --header "Subject: $_s" --timeout 10 "$@" >"$LAB_DIR/$_m.swaks" 2>&1
}

send pass via-pass -tls
lab_wait_grep 'to=<b@d.test> .*tls=TLSv1.[23] .*mail_plaintext=no' "$IDX" 5
ok $? "pass: delivered over TLS through the MITM"
grep -q 'tls: relaying the handshake' "$LAB_DIR/mitm-pass.log" &&
    ! grep -q 'C: MAIL FROM' "$LAB_DIR/mitm-pass.log"
ok $? "pass: the MITM saw STARTTLS and no plaintext MAIL"

send strip via-strip -tls
grep -q 'Host did not advertise STARTTLS' "$LAB_DIR/strip.swaks"
ok $? "strip: the client sees no STARTTLS (swaks -tls gives up)"
grep -q 'action=strip removed STARTTLS' "$LAB_DIR/mitm-strip.log"
ok $? "strip: logged"
grep -q 'listener=mx1 S: 250 STARTTLS' "$LAB_DIR/sink.log"
ok $? "strip: the sink did offer STARTTLS"
n=$(grep -c 'mail_plaintext=yes' "$IDX")
send strip via-strip-opportunistic --tls-optional
lab_wait_count 'mail_plaintext=yes' "$IDX" $((n + 1)) 5
ok $? "strip: an opportunistic client then delivers in plaintext (the attack the relay must refuse)"
grep -q 'C: MAIL FROM:<a@e.test>' "$LAB_DIR/mitm-strip.log"
ok $? "strip: the MITM log shows MAIL in plaintext"

n=$(grep -c 'C: STARTTLS' "$LAB_DIR/sink.log")
send refuse via-refuse -tls
grep -q '<\*\* 454 4.7.0' "$LAB_DIR/refuse.swaks"
ok $? "refuse: 454 to STARTTLS"
grep -q 'action=refuse answered STARTTLS with 454' "$LAB_DIR/mitm-refuse.log"
ok $? "refuse: logged"
lab_wait_grep 'closing: client closed' "$LAB_DIR/mitm-refuse.log" 5
is "$(grep -c 'C: STARTTLS' "$LAB_DIR/sink.log")" "$n" "refuse: STARTTLS never reached the sink"

send inject via-inject -tls
grep -q 'injected by lab-mitm' "$LAB_DIR/inject.swaks"
ok $? "inject: the client received the injected line"
grep -q 'action=inject sent "250 2.0.0 injected by lab-mitm" to the client after the 220' "$LAB_DIR/mitm-inject.log"
ok $? "inject: logged"

send inject-server via-inject-server -tls
lab_wait_grep 'discarded=6 bytes of plaintext sent after STARTTLS' "$LAB_DIR/sink.log" 5
ok $? "inject-server: the sink received (and discarded) the injected RSET"
grep -q 'action=inject-server sent "RSET" to upstream' "$LAB_DIR/mitm-inject-server.log"
ok $? "inject-server: logged"

"$LAB_BIN/lab-mitm" -h | grep -q "usage: lab-mitm"
ok $? "-h prints the usage"
"$LAB_BIN/lab-mitm" -l 127.0.0.1:0 -u "$UP" -m sometimes 2>/dev/null
is $? 64 "unknown mode: exit 64"
done_testing
