/* test_retry.c: retry intervals, jitter and expiry (queue/queue_retry.c). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "queue/queue_retry.h"
#include "tests/tap.h"

static const uint64_t sched[] = { 300, 600, 1200, 2400, 3600 };

static void
test_interval(void)
{
	static const struct {
		uint32_t	attempts;
		uint64_t	want;
		const char	*name;
	} t[] = {
		{ 0, 300, "retry: no attempt yet counts as the first" },
		{ 1, 300, "retry: after attempt 1, the first entry" },
		{ 2, 600, "retry: after attempt 2, the second entry" },
		{ 5, 3600, "retry: after attempt 5, the last entry" },
		{ 6, 3600, "retry: the last entry repeats" },
		{ UINT32_MAX, 3600, "retry: a huge attempt count repeats the last" },
	};
	static const uint64_t zero[] = { 0 }, huge[] = { UINT64_MAX };
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(queue_retry_interval(sched, 5, t[i].attempts), t[i].want,
		    t[i].name);
	is_int(queue_retry_interval(NULL, 0, 3), QUEUE_RETRY_DEFAULT,
	    "retry: an empty schedule gives the default");
	is_int(queue_retry_interval(zero, 1, 1), 1,
	    "retry: a 0 s interval is raised to 1 s (no busy retry)");
	is_int(queue_retry_interval(huge, 1, 1), QUEUE_RETRY_MAX,
	    "retry: an interval is capped");
}

static void
test_next(void)
{
	static const struct {
		time_t		now;
		uint64_t	interval;
		unsigned	pct;
		uint64_t	rnd;
		time_t		arrival;
		uint64_t	lifetime;
		time_t		want;
		const char	*name;
	} t[] = {
		{ 1000, 300, 0, 12345, 1000, 0, 1300,
		    "retry: no jitter, now + interval" },
		/* span 30: rnd % 61 - 30 */
		{ 1000, 300, 10, 0, 1000, 0, 1270, "retry: jitter at -10%" },
		{ 1000, 300, 10, 60, 1000, 0, 1330, "retry: jitter at +10%" },
		{ 1000, 300, 10, 30, 1000, 0, 1300, "retry: jitter 0 in the middle" },
		{ 1000, 300, 10, 61, 1000, 0, 1270, "retry: jitter wraps modulo 61" },
		{ 1000, 5, 10, 7, 1000, 0, 1005,
		    "retry: jitter of a short interval rounds to 0" },
		{ 1000, 1, 100, 0, 1000, 0, 1001,
		    "retry: never earlier than now + 1" },
		{ 1000, 3600, 0, 0, 0, 2000, 2000,
		    "Ours 5.4.7: the last attempt is pulled in to the expiry time" },
		{ 1000, 3600, 0, 0, 0, 1000, 1001,
		    "Ours 5.4.7: expired already, next is now + 1" },
		{ 1000, 300, 0, 0, 0, 86400, 1300,
		    "retry: far from expiry, the interval stands" },
		{ 1000, 300, 0, 0, 0, 0, 1300, "retry: lifetime 0 never expires" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(queue_retry_next(t[i].now, t[i].interval, t[i].pct,
		    t[i].rnd, t[i].arrival, t[i].lifetime), t[i].want,
		    t[i].name);
}

static void
test_jitter_range(void)
{
	uint64_t	state = 42, lo = UINT64_MAX, hi = 0;
	time_t		v;
	int		i, in = 1;

	for (i = 0; i < 10000; i++) {
		v = queue_retry_next(0, 1000, QUEUE_RETRY_JITTER_PCT,
		    queue_retry_rand(&state), 0, 0);
		if (v < 900 || v > 1100)
			in = 0;
		if ((uint64_t)v < lo)
			lo = (uint64_t)v;
		if ((uint64_t)v > hi)
			hi = (uint64_t)v;
	}
	ok(in, "retry: jitter stays within +-10%");
	ok(lo <= 905 && hi >= 1095, "retry: jitter covers the range");
}

static void
test_rand(void)
{
	uint64_t a = 7, b = 7, z = 0;
	int same = 1, i;

	for (i = 0; i < 100; i++)
		if (queue_retry_rand(&a) != queue_retry_rand(&b))
			same = 0;
	ok(same, "retry: the same seed gives the same jitter");
	(void)queue_retry_rand(&z);
	ok(z != 0, "retry: a zero state is replaced");
}

static void
test_expired(void)
{
	static const struct {
		time_t		arrival, now;
		uint64_t	lifetime;
		int		want;
		const char	*name;
	} t[] = {
		{ 1000, 1000 + 432000 - 1, 432000, 0,
		    "Ours 5.4.7: one second before the lifetime, not expired" },
		{ 1000, 1000 + 432000, 432000, 1,
		    "Ours 5.4.7: at the lifetime, expired" },
		{ 1000, 999999999, 0, 0, "Ours 5.4.7: lifetime 0 never expires" },
		{ 5000, 1000, 10, 0,
		    "Ours 5.4.7: a clock behind the arrival does not expire" },
		{ 0, 100, UINT64_MAX, 0, "Ours 5.4.7: a huge lifetime, no overflow" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(queue_retry_expired(t[i].arrival, t[i].now,
		    t[i].lifetime), t[i].want, t[i].name);
}

int
main(void)
{
	test_interval();
	test_next();
	test_jitter_range();
	test_rand();
	test_expired();
	return tap_done();
}
