/*
 * bench_policy: the cost of an MTA-STS decision through policy_lookup().
 *
 *   bench_policy -d ADDR:PORT -c CA -p PORT [-n DOMAINS] [-N LOOKUPS] [-F TTL]
 *
 * Against a DNS server and policy web servers that publish a policy for
 * each of the domains d1.bench.test ... dDOMAINS.bench.test,
 * usually lab-dns and lab-https (bench/policy.sh sets them up):
 *
 *   1. cold: each domain looked up once, one at a time, policy.db empty:
 *      wall latency p50/p99 and the event loop's CPU time per lookup
 *      (CLOCK_THREAD_CPUTIME_ID: everything runs on this one thread);
 *   2. cached, one domain: LOOKUPS decisions one at a time (latency from
 *      the call to the callback, p50/p99/max), then LOOKUPS issued in
 *      batches of 1000 (decisions per second of one core);
 *   3. cached, every domain in turn: the same.
 * -F TTL turns the engine's front cache on (policy_params.front_ttl_s);
 * without it every cached decision still queries the TXT record.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <db.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "policy/policy.h"

#define BATCH	1000

struct bench {
	struct event_base	*base;
	struct policy		*p;
	char			**domains;
	unsigned		 ndomains;
	unsigned		 nlookups;
	uint64_t		*lat;		/* ns, one per lookup of a phase */
	unsigned		 pending;
	unsigned		 absent;	/* results without a policy */
};

static uint64_t
ns_now(clockid_t c)
{
	struct timespec	ts;

	if (clock_gettime(c, &ts) == -1)
		fatal("clock_gettime");
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
on_result(const struct policy_result *r, void *arg)
{
	struct bench	*b = arg;

	if (r->mode != POLICY_MODE_ENFORCE)
		b->absent++;
	b->pending--;
}

/* One lookup, waited for; its latency in ns. */
static uint64_t
one(struct bench *b, const char *domain)
{
	uint64_t	t0 = ns_now(CLOCK_MONOTONIC);

	b->pending++;
	if (policy_lookup(b->p, domain, on_result, b) == -1)
		fatalx("one: policy_lookup refused %s", domain);
	while (b->pending > 0)
		if (event_base_loop(b->base, EVLOOP_ONCE) == -1)
			fatalx("one: event loop failed");
	return ns_now(CLOCK_MONOTONIC) - t0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, uint64_t *lat, unsigned n)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("%-34s n=%-7u p50=%8.1f us  p99=%8.1f us  max=%9.1f us\n", what, n,
	    lat[n / 2] / 1e3, lat[(size_t)n * 99 / 100] / 1e3, lat[n - 1] / 1e3);
}

static void
phase_cold(struct bench *b)
{
	uint64_t	c0, c1, w0, w1;
	unsigned	i;

	b->absent = 0;
	c0 = ns_now(CLOCK_THREAD_CPUTIME_ID);
	w0 = ns_now(CLOCK_MONOTONIC);
	for (i = 0; i < b->ndomains; i++)
		b->lat[i] = one(b, b->domains[i]);
	w1 = ns_now(CLOCK_MONOTONIC);
	c1 = ns_now(CLOCK_THREAD_CPUTIME_ID);
	report("cold lookup (TXT, A, AAAA, HTTPS)", b->lat, b->ndomains);
	printf("%-34s %.1f us CPU per lookup on the event loop thread "
	    "(%.1f%% of the wall time), %u without a policy\n", "cold lookup CPU",
	    (double)(c1 - c0) / b->ndomains / 1e3, 100.0 * (double)(c1 - c0) /
	    (double)(w1 - w0), b->absent);
}

/* Sequential latency, then batched throughput, over domains[from..to). */
static void
phase_cached(struct bench *b, const char *what, unsigned from, unsigned to)
{
	uint64_t	w0, w1, c0, c1;
	unsigned	i, j, n = b->nlookups, span = to - from;
	char		label[80];

	b->absent = 0;
	w0 = ns_now(CLOCK_MONOTONIC);
	for (i = 0; i < n; i++)
		b->lat[i] = one(b, b->domains[from + i % span]);
	w1 = ns_now(CLOCK_MONOTONIC);
	snprintf(label, sizeof(label), "cached, %s", what);
	report(label, b->lat, n);
	printf("%-34s %.0f decisions/s one at a time\n", label,
	    n / ((double)(w1 - w0) / 1e9));
	w0 = ns_now(CLOCK_MONOTONIC);
	c0 = ns_now(CLOCK_THREAD_CPUTIME_ID);
	for (i = 0; i < n; i += BATCH) {
		for (j = i; j < n && j < i + BATCH; j++) {
			b->pending++;
			if (policy_lookup(b->p, b->domains[from + j % span], on_result,
			    b) == -1)
				fatalx("phase_cached: policy_lookup refused");
		}
		while (b->pending > 0)
			if (event_base_loop(b->base, EVLOOP_ONCE) == -1)
				fatalx("phase_cached: event loop failed");
	}
	c1 = ns_now(CLOCK_THREAD_CPUTIME_ID);
	w1 = ns_now(CLOCK_MONOTONIC);
	printf("%-34s %.0f decisions/s (batches of %d), %.2f us CPU each, "
	    "%u without a policy\n", label, n / ((double)(w1 - w0) / 1e9), BATCH,
	    (double)(c1 - c0) / n / 1e3, b->absent);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: bench_policy -d ADDR:PORT -c CAFILE -p PORT "
	    "[-n DOMAINS] [-N LOOKUPS] [-F TTL]\n");
	exit(64);
}

static DB_ENV *
open_env(char *dir)
{
	DB_ENV	*env;

	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	if (db_env_create(&env, 0) != 0 || env->open(env, dir, DB_CREATE |
	    DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK | DB_INIT_MPOOL | DB_PRIVATE,
	    0600) != 0)
		fatalx("cannot open a Berkeley DB environment in %s", dir);
	return env;
}

static void
print_stats(struct policy *p)
{
	struct policy_stats	st;

	policy_get_stats(p, &st);
	printf("engine counters: lookups=%llu txt_queries=%llu cache_hits=%llu "
	    "front_hits=%llu fetches=%llu fetch_failures=%llu\n",
	    (unsigned long long)st.lookups, (unsigned long long)st.txt_queries,
	    (unsigned long long)st.cache_hits, (unsigned long long)st.front_hits,
	    (unsigned long long)st.fetches, (unsigned long long)st.fetch_failures);
}

int
main(int argc, char **argv)
{
	struct bench		 b;
	struct policy_params	 pp;
	struct netaddr_endpoint	 dns;
	char			 dir[] = "/tmp/bench-policy.XXXXXX", cmd[64];
	DB_ENV			*env;
	unsigned		 i;
	int			 ch;

	memset(&b, 0, sizeof(b));
	memset(&pp, 0, sizeof(pp));
	b.ndomains = 100;
	b.nlookups = 100000;
	while ((ch = getopt(argc, argv, "c:d:F:n:N:p:")) != -1) {
		switch (ch) {
		case 'c':
			pp.cainfo = optarg;
			break;
		case 'd':
			if (netaddr_endpoint_parse(optarg, 53, &dns) == -1)
				usage();
			pp.dns = &dns;
			pp.ndns = 1;
			break;
		case 'F':
			pp.front_ttl_s = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			b.ndomains = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'N':
			b.nlookups = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			pp.policy_port = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (pp.dns == NULL || b.ndomains == 0 || b.nlookups < b.ndomains)
		usage();
	log_init("bench_policy", LOG_DEST_STDERR, LOG_LVL_WARN);
	b.domains = xreallocarray(NULL, b.ndomains, sizeof(*b.domains));
	for (i = 0; i < b.ndomains; i++)
		if (xasprintf(&b.domains[i], "d%u.bench.test", i + 1) == -1)
			fatalx("xasprintf failed");
	b.lat = xreallocarray(NULL, b.nlookups, sizeof(*b.lat));
	if ((b.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	env = open_env(dir);
	pp.fetch_timeout_s = 10;
	pp.front_max = b.ndomains;
	printf("front cache: %s\n", pp.front_ttl_s ? "on" : "off");
	if ((b.p = policy_new(b.base, env, &pp)) == NULL)
		fatalx("policy_new failed");
	phase_cold(&b);
	phase_cached(&b, "one domain", 0, 1);
	phase_cached(&b, "every domain in turn", 0, b.ndomains);
	print_stats(b.p);
	policy_free(b.p);
	env->close(env, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		log_warnx("could not remove %s", dir);
	event_base_free(b.base);
	return 0;
}
