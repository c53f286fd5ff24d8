#!/bin/sh
# The policy cache seen through stsrelayctl policy check/show/list/flush, with
# the lab's DNS and HTTPS peers changing under the relay: a new id is fetched
# and replaces the policy (S20), a failed refetch keeps the old one (S20,
# S13) and arms the back-off (S11), a TXT SERVFAIL applies the cached policy
# (S13) or, with nothing cached, defers (Ours).
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/lab/lab.sh"
lab_have_relay || skip_all "stsrelayd is not built"
lab_need jq
lab_init
lab_pki || bail "lab-pki.sh failed"
P=$LAB_PKI
sh "$LAB_SRC/lab-pki.sh" "$P" leaf web-all valid mta-sts.idc.test mta-sts.idc.test \
    mta-sts.sf.test mta-sts.sf2.test >/dev/null 2>&1 || bail "cannot issue the certificate"

# zone IDC_ID IDC_WEB SF_TXT: idc.test's id and policy host address, sf.test's TXT line
zone() {
	cat >"$LAB_DIR/zone.new" <<EOF
_mta-sts.idc.test TXT "v=STSv1; id=$1;"
mta-sts.idc.test  A   $2
idc.test          MX  10 mx1.idc.test
mx1.idc.test      A   127.0.0.2
_mta-sts.sf.test  $3
mta-sts.sf.test   A   127.0.0.1
sf.test           MX  10 mx1.sf.test
mx1.sf.test       A   127.0.0.2
_mta-sts.sf2.test FAULT servfail TXT
_mta-sts.sf2.test TXT "v=STSv1; id=never;"
mta-sts.sf2.test  A   127.0.0.1
sf2.test          MX  10 mx1.sf2.test
mx1.sf2.test      A   127.0.0.2
EOF
	mv "$LAB_DIR/zone.new" "$LAB_DIR/zone"
}
NRELOAD=0
reload() {
	zone "$@"
	kill -HUP "$LAB_PID_dns"
	NRELOAD=$((NRELOAD + 1))
	lab_wait_count ' reload entries=' "$LAB_DIR/dns.log" "$NRELOAD" ||
	    bail "lab-dns did not reload its zone"
}
zone a1 127.0.0.1 'TXT "v=STSv1; id=sf1;"'
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"

printf 'version: STSv1\nmode: enforce\nmx: mx1.idc.test\nmax_age: 86400\n' >"$LAB_DIR/idc1.txt"
printf 'version: STSv1\nmode: testing\nmx: *.idc.test\nmax_age: 172800\n' >"$LAB_DIR/idc2.txt"
printf 'version: STSv1\nmode: enforce\nmx: mx1.sf.test\nmax_age: 86400\n' >"$LAB_DIR/sf.txt"
cat >"$LAB_DIR/https1.conf" <<EOF
cert $P/web-all.pem $P/web-all.key
host mta-sts.idc.test
  body-file $LAB_DIR/idc1.txt
host mta-sts.sf.test
  body-file $LAB_DIR/sf.txt
host mta-sts.sf2.test
  body-file $LAB_DIR/sf.txt
EOF
lab_https "$LAB_DIR/https1.conf" https1 || bail "lab-https did not start"
PORT=$LAB_HTTPS_PORT
# a second policy server on 127.0.0.2, same port: where idc.test moves to
cat >"$LAB_DIR/https2.conf" <<EOF
listen 127.0.0.2:$PORT
cert $P/web-all.pem $P/web-all.key
host mta-sts.idc.test
  body-file $LAB_DIR/idc2.txt
EOF
lab_https "$LAB_DIR/https2.conf" https2 || bail "the second lab-https did not start"
LAB_HTTPS_PORT=$PORT
LAB_SINK_PORT=25
lab_relay -o policy_fetch_timeout=2s -o policy_fetch_backoff=10m ||
    bail "stsrelayd did not start (see $LAB_DIR/relay.out)"

CTL="$top_builddir/stsrelayctl"
SOCK=$LAB_DIR/relay.sock
ctl() { OUT=$("$CTL" -s "$SOCK" "$@" 2>&1); RC=$?; }
has() { printf '%s\n' "$1" | grep -qF -- "$2"; }

# the first policy of idc.test
ctl policy check idc.test
is "$RC" 0 "idc.test: first check is valid"
ctl policy show idc.test
is "$RC" 0 "show: exit 0 for a cached domain"
has "$OUT" 'id:         a1' && has "$OUT" 'mode:       enforce' && has "$OUT" 'mx:         mx1.idc.test'
ok $? "show: id, mode and mx of the cached policy"
has "$OUT" 'expires:    ' && has "$OUT" 'fetched:    ' && has "$OUT" 'max_age:    86400 (1d)'
ok $? "show: fetch time, max_age and expiry"
has "$OUT" 'mode: enforce'
ok $? "show: the policy text as fetched"

# S20: a new id is fetched and replaces the cached policy
reload a2 127.0.0.2 'TXT "v=STSv1; id=sf1;"'
ctl policy check idc.test
is "$RC" 0 "S20: new id: the check is valid"
has "$OUT" 'before: id a1, enforce' && has "$OUT" 'after:  id a2, testing'
ok $? "S20: the check shows the old policy replaced by the new one"
lab_wait_grep 'request .*host=mta-sts.idc.test' "$LAB_DIR/https2.log" 2
ok $? "S20: the new policy came from the new server"
ctl policy show IDC.test.
has "$OUT" 'id:         a2' && has "$OUT" 'mode:       testing' && has "$OUT" 'mx:         *.idc.test'
ok $? "S20: show (upper case, trailing dot) gives the new policy"

# S20, S13: a failed refetch keeps the old policy; S11 back-off recorded
reload a3 127.0.0.9 'TXT "v=STSv1; id=sf1;"'
ctl policy check idc.test
is "$RC" 1 "S20: new id, fetch fails: exit 1"
has "$OUT" 'the cached policy id a2 (mode testing) is applied (S13)'
ok $? "S13: the verdict says the cached policy is applied"
has "$OUT" '=> a delivery now applies: testing (cached, id a2)'
ok $? "S13: the engine's answer is the cached policy"
ctl policy show idc.test
has "$OUT" 'id:         a2' && has "$OUT" 'last fail:  id a3'
ok $? "S20: the old policy is kept, the failed id remembered"
has "$OUT" 'back-off:   not fetched again before'
ok $? "S11: show reports the back-off"
J=$("$CTL" -s "$SOCK" --json policy show idc.test)
FT=$(printf '%s' "$J" | jq '.fail_time') FR=$(printf '%s' "$J" | jq '.fail_retry')
is "$((FR - FT))" 600 "S11: the back-off lasts policy_fetch_backoff (10m)"
is "$(printf '%s' "$J" | jq -r '.fail_id + " " + .id + " " + (.backoff|tostring)')" "a3 a2 true" \
    "show --json: fail_id, id, backoff"

# S13: TXT SERVFAIL with a cached policy
ctl policy check sf.test
is "$RC" 0 "sf.test: first check is valid"
reload a3 127.0.0.9 'FAULT servfail TXT'
ctl policy check sf.test
is "$RC" 1 "S13: TXT SERVFAIL: exit 1"
has "$OUT" '1. TXT _mta-sts.sf.test: tempfail'
ok $? "S13: the TXT failure is shown"
has "$OUT" 'the cached policy id sf1 (mode enforce) is applied (S13)'
ok $? "S13: the cached policy is applied"
J=$("$CTL" -s "$SOCK" --json policy check sf.test)
is "$(printf '%s' "$J" | jq -r '.result.source + " " + .result.mode + " " + .verdict')" \
    "cached enforce error" "S13: --json: result from the cache, verdict error"

# Ours: TXT SERVFAIL and nothing cached: defer
ctl policy check sf2.test
is "$RC" 1 "Ours: TXT SERVFAIL, nothing cached: exit 1"
has "$OUT" 'mail to the domain is deferred' && has "$OUT" 'a delivery now applies: tempfail'
ok $? "Ours: the domain is deferred"
! grep -q 'host=mta-sts.sf2.test' "$LAB_DIR/https1.log"
ok $? "Ours: no fetch after a failed TXT lookup"

# list, flush
ctl policy list
is "$RC" 0 "list: exit 0"
has "$OUT" 'idc.test' && has "$OUT" 'sf.test' && has "$OUT" '-- 2 cached policies'
ok $? "list: one line per cached domain"
printf '%s\n' "$OUT" | grep -q '^idc.test  *a2  *testing .*\*\.idc\.test failed id a3 (back-off)'
ok $? "list: id, mode, mx and the failure of idc.test"
is "$("$CTL" -s "$SOCK" --json policy list | jq '.count')" 2 "list --json: count"
ctl policy flush idc.test
is "$RC" 0 "flush: exit 0"
has "$OUT" 'idc.test: 1 cached policy forgotten'
ok $? "flush: says what it did"
ctl policy show idc.test
is "$RC" 1 "flush: show then fails"
has "$OUT" 'no cached policy for idc.test'
ok $? "flush: show says nothing is cached"
ctl policy flush idc.test
is "$RC" 1 "flush: a domain not cached is an error"
ctl policy flush --all
is "$RC" 0 "flush --all: exit 0"
has "$OUT" 'all policies: 1 cached policy forgotten, 1 tempfail period ended'
ok $? "flush --all: counts what it forgot, and ends sf2.test's tempfail period"
ctl policy check sf2.test	# TXT still SERVFAIL: a new period
ctl policy flush sf2.test
has "$OUT" 'sf2.test: 0 cached policies forgotten, 1 tempfail period ended'
ok $? "flush DOMAIN: a tempfail period alone is no cached policy, but ends ($OUT)"
ctl policy list
has "$OUT" 'No cached policies'
ok $? "flush --all: the cache is empty"
ctl policy show
is "$RC" 64 "show without a domain: usage error"

# the two keys of the engine's remaining parameters
CONF=$top_srcdir/etc/stsrelay.conf
"$CTL" -f "$CONF" config >"$LAB_DIR/config.out" 2>&1
grep -qx 'policy_tempfail_bound = 1d' "$LAB_DIR/config.out" &&
    grep -qx 'policy_fetch_backoff = 5m' "$LAB_DIR/config.out"
ok $? "config: policy_tempfail_bound 1d and policy_fetch_backoff 5m by default"
"$CTL" -f "$CONF" -o policy_fetch_backoff=4m config >/dev/null 2>"$LAB_DIR/config.err"
is "$?" 78 "S11: policy_fetch_backoff below 5 minutes is refused"
grep -q 'from 5m' "$LAB_DIR/config.err"
ok $? "S11: the error names the lower bound"
done_testing
