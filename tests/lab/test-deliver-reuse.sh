#!/usr/bin/env bash
# Connection reuse with more domains at work than delivery slots: each of 20
# enforce domains has its own MX name (no sharing of connections between
# domains) and 3 queued messages; delivery_concurrency 4, one delivery per
# domain at a time. A group that ends keeps its connection idle, and its
# domain starts its next waiting group on it before the round robin moves
# on (relay/delivery.c schedule_reuse). Without that the round robin came
# back to a domain only after its kept connection had been closed for
# others: one TLS handshake per message (60 here); with it, about one per
# domain (20). The check allows twice that.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_need openssl jq
lab_init
DOMAINS=20
PER=3
lab_many_domains r "$DOMAINS" reuse1 || bail "the lab did not start"

# queue everything with delivery off, interleaved over the domains
lab_relay -o delivery_concurrency=0 || bail "stsrelayd did not start"
n=0
for k in $(seq "$PER"); do
	for i in $(seq "$DOMAINS"); do
		lab_send s@e.test "u$k@r$i.test" >/dev/null 2>&1 && n=$((n + 1))
	done
done
is "$n" $((DOMAINS * PER)) "$((DOMAINS * PER)) messages queued for $DOMAINS domains"
lab_stop relay

lab_relay -o delivery_concurrency=4 -o delivery_concurrency_per_domain=1 \
    -o delivery_idle_timeout=30s || bail "stsrelayd did not restart"
CTL="$top_builddir/stsrelayctl -s $LAB_DIR/relay.sock"
IDX=$LAB_DIR/sink.spool/index
delivered() { [ -f "$IDX" ] && [ "$(wc -l <"$IDX")" -ge $((DOMAINS * PER)) ]; }
lab_wait_until "$LAB_TIMEOUT" delivered
ok $? "every message reached the sink"
hs=$($CTL --json status | jq '.delivery.handshakes')
tt=$($CTL --json status | jq '.delivery.tls_transactions')
is "$tt" $((DOMAINS * PER)) "each over TLS"
[ "$hs" -ge "$DOMAINS" ] && [ "$hs" -le $((2 * DOMAINS)) ]
ok $? "a domain's next messages go over its kept connection: $hs TLS handshakes for $tt messages to $DOMAINS domains (at most $((2 * DOMAINS)); one per message without reuse)"
! grep -v 'verified=yes policy=enforce' "$LAB_DIR/relay.out" | grep -q 'status=sent'
ok $? "S27: every delivery under the enforce policy, verified"
done_testing
