#!/usr/bin/env bash
# bench/policy.sh: what an MTA-STS decision costs (bench/bench_policy.c).
#
#   bench/policy.sh [BUILD-DIR]        (default: the source tree; run from it)
#
# Starts the lab's DNS (lab-dns) and policy web server (lab-https) with a
# test CA, publishing an enforce policy for d1.bench.test ... dN.bench.test,
# then runs bench_policy against them: cold lookups (TXT, A/AAAA, HTTPS
# fetch, store) with the event loop's CPU time per lookup, and cached
# decisions (latency p50/p99, decisions per second on one core) for one
# domain and for all of them in turn; first without the engine's front cache
# of decisions, then with it.
# Environment: DOMAINS (default 100), LOOKUPS (200000), BENCH_WRAP (a command
# to run bench_policy under, e.g. "perf record -g -o perf.data").
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top}" && pwd)
DOMAINS=${DOMAINS:-100}
LOOKUPS=${LOOKUPS:-200000}
export top_srcdir=$top top_builddir=$build LAB_KEEP=${LAB_KEEP:-0}
. "$top/tests/tap.sh"
. "$top/tests/lab/lab.sh"
lab_init
lab_pki || bail "lab-pki.sh failed"
names=
for i in $(seq "$DOMAINS"); do names="$names mta-sts.d$i.bench.test"; done
# shellcheck disable=SC2086
sh "$LAB_SRC/lab-pki.sh" "$LAB_PKI" leaf web-bench valid mta-sts.d1.bench.test $names \
    >/dev/null 2>&1 || bail "cannot issue the policy hosts' certificate"
for i in $(seq "$DOMAINS"); do
	echo "_mta-sts.d$i.bench.test TXT \"v=STSv1; id=bench$i;\""
	echo "mta-sts.d$i.bench.test A 127.0.0.1"
done >"$LAB_DIR/zone"
lab_dns "$LAB_DIR/zone" || bail "lab-dns did not start"
printf 'version: STSv1\nmode: enforce\nmx: *.bench.test\nmax_age: 86400\n' >"$LAB_DIR/p.txt"
cat >"$LAB_DIR/https.conf" <<EOT
cert $LAB_PKI/web-bench.pem $LAB_PKI/web-bench.key
host *
  body-file $LAB_DIR/p.txt
EOT
lab_https "$LAB_DIR/https.conf" || bail "lab-https did not start"
echo "# $(nproc) CPUs, $DOMAINS domains, $LOOKUPS cached lookups per phase"
# without the front cache (every decision asks lab-dns for the TXT id), then
# with it (the daemon's setting: 60 s)
${BENCH_WRAP:-} "$build/bench/bench_policy" -d "127.0.0.1:$LAB_DNS_PORT" -c "$LAB_PKI/ca-bundle.pem" \
    -p "$LAB_HTTPS_PORT" -n "$DOMAINS" -N "$LOOKUPS"
echo
${BENCH_WRAP:-} "$build/bench/bench_policy" -d "127.0.0.1:$LAB_DNS_PORT" -c "$LAB_PKI/ca-bundle.pem" \
    -p "$LAB_HTTPS_PORT" -n "$DOMAINS" -N "$LOOKUPS" -F 60
