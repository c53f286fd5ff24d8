#!/bin/sh
# Delivery scenarios with a short queue lifetime (queue_lifetime = 2s,
# retry_schedule = 1s): a message that cannot be delivered under its
# domain's enforce policy is retried, then bounced 5.4.7 with a DSN to the
# sender (H11); a message from the null sender is dropped, never bounced.
# A tarpit MX (accepts TCP, never says a word) holds its domain's one
# delivery slot (delivery_concurrency_per_domain = 1) without stalling the
# other domains; after 30 s stuck, its domain keeps only one delivery
# waiting in memory. Also: stsrelayctl status shows the delivery counters.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_have_relay || skip_all "stsrelayd is not built"
lab_relay_can delivery || skip_all "this stsrelayd does not deliver (stsrelayd -V)"
lab_need swaks openssl jq
LAB_TIMEOUT=${LAB_TIMEOUT_SCENARIO:-30}
lab_init
LAB_PKI_NAMES="mx.good.test mx.plain.test mta-sts.good.test mta-sts.enf.test"
export LAB_PKI_NAMES
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI

printf 'cert %s %s\nlisten good 127.0.0.10:0\nhostname mx.good.test\nlisten plain 127.0.0.11:0\nstarttls none\n' \
    "$P/valid.pem" "$P/valid.key" >"$LAB_DIR/sink.in"
lab_sink sink "$LAB_DIR/sink.in" || bail "lab-smtp-sink did not start"
cat >"$LAB_DIR/zone" <<EOF2
mx.good.test A 127.0.0.10
mx.plain.test A 127.0.0.11
good.test MX 10 mx.good.test
slow.test MX 10 mx.slow.test
mx.slow.test A 127.0.0.40
enf.test MX 10 mx.plain.test
_mta-sts.enf.test TXT "v=STSv1; id=e1;"
mta-sts.enf.test A 127.0.0.1
EOF2
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"
printf 'version: STSv1\nmode: enforce\nmx: mx.plain.test\nmax_age: 86400\n' >"$LAB_DIR/enf.txt"
printf 'cert %s %s\nhost mta-sts.enf.test\n  path /.well-known/mta-sts.txt\n  body-file %s\n' \
    "$P/valid.pem" "$P/valid.key" "$LAB_DIR/enf.txt" >"$LAB_DIR/https.conf"
# the tarpit: a TLS server that never starts TLS, on the MX port of 127.0.0.40
printf 'listen 127.0.0.40:%s\nstall-accept 1\ncert %s %s\n' "$LAB_SINK_PORT" "$P/valid.pem" \
    "$P/valid.key" >"$LAB_DIR/tarpit.conf"
lab_https "$LAB_DIR/tarpit.conf" tarpit || bail "the tarpit did not start"
lab_https "$LAB_DIR/https.conf" || bail "lab-https did not start"
lab_relay -o queue_lifetime=2s -o retry_schedule=1s -o hostname=relay.lab.test \
    -o delivery_concurrency=2 -o delivery_concurrency_per_domain=1 ||
    bail "stsrelayd did not start (see $LAB_DIR/relay.out)"
IDX=$LAB_DIR/sink.spool/index
LOG=$LAB_DIR/relay.out
CTL="$top_builddir/stsrelayctl -s $LAB_DIR/relay.sock"

for i in 1 2 3; do lab_send s@good.test "t$i@slow.test" --header "Subject: tarpit $i"; done
lab_wait_grep 'action=stall-accept' "$LAB_DIR/tarpit.log"
ok $? "the relay is held by the tarpit"
lab_send s@good.test fast@good.test --header "Subject: fast"
lab_wait_grep 'to=<fast@good.test>' "$IDX"
ok $? "a domain whose MX never answers does not stall the others"
! grep -q 'slow.test' "$IDX"
ok $? "nothing reached the tarpit's domain"

lab_send s@good.test v@enf.test --header "Subject: expire me"
ok $? "accepted a message for an enforce domain whose MX lacks STARTTLS"
lab_send '<>' w@enf.test --header "Subject: a bounce itself"
ok $? "accepted a message from the null sender"
lab_wait_count 'to=<v@enf.test>.*status=deferred \(4\.7\.4' "$LOG" 2
ok $? "S21 (MTA-STS failures are temporary): deferred 4.7.4 and retried"
lab_wait_grep 'from=<> to=<s@good.test>' "$IDX"
ok $? "H11: after queue_lifetime the DSN is delivered to the sender from <>"
dsn=$(grep -l 'Final-Recipient: rfc822; *v@enf.test' "$LAB_DIR"/sink.spool/*.eml 2>/dev/null | head -1)
[ -n "$dsn" ]
ok $? "the DSN names the recipient (Final-Recipient)"
grep -q 'report-type=delivery-status' "$dsn" && grep -q '^Status: 5\.4\.7' "$dsn" &&
    grep -q '^Action: failed' "$dsn"
ok $? "H11: delivery-status report, Action failed, Status 5.4.7 (lifetime exceeded)"
grep -q '^Reporting-MTA: dns; *relay\.lab\.test' "$dsn" && grep -q '^Last-Attempt-Date: ' "$dsn"
ok $? "H11: Reporting-MTA and Last-Attempt-Date"
grep -q '4\.7\.4' "$dsn"
ok $? "the DSN carries the last reason (4.7.4)"
empty_queue() { ! $CTL --json queue list 2>/dev/null | grep -q '@enf.test'; }
n=0
while ! empty_queue && [ $n -lt 300 ]; do sleep 0.05; n=$((n + 1)); done
empty_queue
ok $? "both messages left the queue"
! grep -q 'Final-Recipient: rfc822; *w@enf.test' "$LAB_DIR"/sink.spool/*.eml
ok $? "H11: the null sender's message is never bounced"
! grep -q 'to=<v@enf.test>\|to=<w@enf.test>' "$IDX"
ok $? "S27: nothing reached the MX without STARTTLS"
$CTL status >"$LAB_DIR/status.out" 2>&1
grep -Eq '^delivery: +[0-9]+ attempts, [0-9]+ delivered, [1-9][0-9]* deferred, [0-9]+ bounced' "$LAB_DIR/status.out" &&
    grep -Eq '^outbound: .*TLS handshakes, [0-9.]+ messages per handshake' "$LAB_DIR/status.out"
ok $? "stsrelayctl status shows the delivery counters"
$CTL --json status | grep -q '"delivery": *{'
ok $? "status --json has the delivery object"
grep -Eq '^policy: +[1-9][0-9]* lookups \([0-9]+ from memory, [0-9]+ from the cache at once, [0-9]+ joined\), [1-9][0-9]* TXT queries \([0-9]+ failed, [0-9]+ with the id unchanged\), [1-9][0-9]* fetches' "$LAB_DIR/status.out"
ok $? "stsrelayctl status shows the policy engine's counters (lookups, TXT queries, fetches)"
$CTL --json status | jq -e '.policy.lookups >= 1 and .policy.fetches >= 1 and .policy.running_max >= 1' >/dev/null
ok $? "status --json has the policy object"
# the tarpit's domain, stuck for 30 s, keeps one delivery waiting (per_domain)
lab_wait_grep 'to=<t[23]@slow.test> .*status=deferred \(4\.4\.5 no delivery to slow.test done' "$LOG" 50
ok $? "a stuck domain keeps only per_domain deliveries waiting, the rest deferred (4.4.5)"
[ "$(grep -Ec 'to=<t[123]@slow.test> .*status=deferred' "$LOG")" -eq 1 ]
ok $? "only the one beyond the limit: the delivery in progress and one waiting stay"

# shutdown with a delivery stuck at the tarpit: prompt, and the message stays
t0=$(date +%s)
lab_stop relay
[ $(( $(date +%s) - t0 )) -le 3 ]
ok $? "SIGTERM with a connection stuck at the tarpit: the relay stops at once"
grep -q 'stsrelayd stopped' "$LOG"
ok $? "a clean stop"
lab_relay -o hostname=relay.lab.test -o delivery_concurrency=0 || bail "stsrelayd did not restart"
$CTL --json queue list >"$LAB_DIR/q2.json" 2>&1
# t3 was deferred (4.4.5) after its 2 s lifetime, so it was bounced
grep -q 't1@slow.test' "$LAB_DIR/q2.json" && grep -q 't2@slow.test' "$LAB_DIR/q2.json"
ok $? "the messages in delivery went back to the queue, never attempted, due again after the restart"
done_testing
