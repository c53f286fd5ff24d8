#!/bin/sh
# Scenario (docs/lab.md, the worked example): a man in the middle strips
# STARTTLS between the relay and the MX of an MTA-STS enforce domain. The
# relay must defer (S27, 4.7.4) and never deliver in plaintext. A second
# enforce domain whose MX is reached directly is the control: it must be
# delivered over verified TLS, so the refusal is not an accident of the lab.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_have_relay || skip_all "stsrelayd is not built"
lab_relay_can delivery || skip_all "this stsrelayd does not deliver yet (stsrelayd -V lists no delivery)"
lab_need swaks openssl
LAB_TIMEOUT=${LAB_TIMEOUT_SCENARIO:-30}
DEFERRED='to=<?victim@d\.test>?.*status=deferred'
lab_init
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI
sh "$LAB_SRC/lab-pki.sh" "$P" leaf web-ok valid mta-sts.ok.test >/dev/null 2>&1 ||
    bail "cannot issue the mta-sts.ok.test certificate"

# the real MX of both domains: a sink with a valid certificate on 127.0.0.3
printf 'hostname mx3.d.test\ncert %s %s\nlisten mx 127.0.0.3:0\n' "$P/valid.pem" "$P/valid.key" \
    >"$LAB_DIR/sink.in"
lab_sink sink "$LAB_DIR/sink.in" || bail "lab-smtp-sink did not start"
PORT=$LAB_SINK_PORT
# d.test's MX address 127.0.0.2 is the attacker, on the same port
lab_mitm mitm "127.0.0.2:$PORT" "127.0.0.3:$PORT" strip || bail "lab-mitm did not start"

cat >"$LAB_DIR/zone" <<EOF2
d.test             MX  10 mx1.d.test
mx1.d.test         A   127.0.0.2
_mta-sts.d.test    TXT "v=STSv1; id=lab1;"
mta-sts.d.test     A   127.0.0.1
ok.test            MX  10 mx3.d.test
mx3.d.test         A   127.0.0.3
_mta-sts.ok.test   TXT "v=STSv1; id=lab1;"
mta-sts.ok.test    A   127.0.0.1
EOF2
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"

printf 'version: STSv1\nmode: enforce\nmx: mx1.d.test\nmax_age: 86400\n' >"$LAB_DIR/d.txt"
printf 'version: STSv1\nmode: enforce\nmx: mx3.d.test\nmax_age: 86400\n' >"$LAB_DIR/ok.txt"
cat >"$LAB_DIR/https.conf" <<EOF2
cert $P/web.pem $P/web.key
host mta-sts.d.test
  path /.well-known/mta-sts.txt
  body-file $LAB_DIR/d.txt
host mta-sts.ok.test
  cert $P/web-ok.pem $P/web-ok.key
  path /.well-known/mta-sts.txt
  body-file $LAB_DIR/ok.txt
EOF2
lab_https "$LAB_DIR/https.conf" || bail "lab-https did not start"

lab_relay || bail "stsrelayd did not start (see $LAB_DIR/relay.out)"
IDX=$LAB_DIR/sink.spool/index

# control: the same kind of domain without an attacker is delivered over TLS
lab_send sender@e.test control@ok.test --header "Subject: control"
ok $? "control: the relay accepts the message"
lab_wait_grep 'to=<control@ok.test>' "$IDX"
ok $? "control: delivered to the real MX"
grep 'to=<control@ok.test>' "$IDX" | grep -q 'tls=TLSv1.[23] .*sni=mx3.d.test ehlo_after_tls=yes mail_plaintext=no'
ok $? "control: over TLS 1.2+, SNI = MX name, EHLO again after TLS, no plaintext MAIL"
lab_wait_grep 'sni=mta-sts.ok.test .*path=/.well-known/mta-sts.txt' "$LAB_DIR/https.log"
ok $? "control: the policy was fetched with SNI mta-sts.ok.test"

# the attack: STARTTLS stripped on the way to d.test's MX
lab_send sender@e.test victim@d.test --header "Subject: attack"
ok $? "attack: the relay accepts the message"
lab_wait_state victim@d.test deferred
ok $? "attack: the relay defers the message (queue state deferred)"
r=$(lab_rcpt_reason victim@d.test)
echo "$r" | grep -q '4\.7\.4' || grep -E "$DEFERRED" "$LAB_DIR/relay.out" | grep -q '4\.7\.4'
ok $? "attack: with 4.7.4, no STARTTLS ($r)"
lab_wait_grep 'action=strip removed STARTTLS' "$LAB_DIR/mitm.log"
ok $? "attack: the relay did meet the attacker"
! grep -q 'C: MAIL FROM' "$LAB_DIR/mitm.log"
ok $? "attack: no MAIL FROM ever crossed the attacker in plaintext"
! grep -q 'to=<victim@d.test>' "$IDX"
ok $? "attack: nothing reached the real MX"
is "$(lab_rcpt_state victim@d.test)" deferred "attack: the message waits in the queue"
done_testing
