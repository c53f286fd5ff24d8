/* queue_retry.c: retry intervals, jitter and expiry; no I/O, no clock. */
#include "queue/queue_retry.h"

/* Far enough to be "never" and small enough not to overflow a time_t. */
#define TIME_FAR	((time_t)1 << 40)

uint64_t
queue_retry_interval(const uint64_t *sched, size_t n, uint32_t attempts)
{
	uint64_t	v;
	size_t		i;

	if (sched == NULL || n == 0)
		return QUEUE_RETRY_DEFAULT;
	i = attempts == 0 ? 0 : (size_t)attempts - 1;
	if (i >= n)
		i = n - 1;
	v = sched[i];
	if (v > QUEUE_RETRY_MAX)
		v = QUEUE_RETRY_MAX;
	return v == 0 ? 1 : v;
}

static time_t
clamp_time(time_t t)
{
	if (t > TIME_FAR)
		return TIME_FAR;
	if (t < -TIME_FAR)
		return -TIME_FAR;
	return t;
}

time_t
queue_retry_next(time_t now, uint64_t interval, unsigned jitter_pct,
    uint64_t rnd, time_t arrival, uint64_t lifetime)
{
	int64_t	 span, delta = 0;
	time_t	 next, expiry;

	now = clamp_time(now);
	if (interval > QUEUE_RETRY_MAX)
		interval = QUEUE_RETRY_MAX;
	if (jitter_pct > 100)
		jitter_pct = 100;
	/* delta is uniform in [-span, span]. */
	span = (int64_t)(interval * jitter_pct / 100);
	if (span > 0)
		delta = (int64_t)(rnd % (uint64_t)(2 * span + 1)) - span;
	next = now + (time_t)((int64_t)interval + delta);
	if (next <= now)
		next = now + 1;
	if (lifetime != 0) {
		if (lifetime > (uint64_t)TIME_FAR)
			lifetime = (uint64_t)TIME_FAR;
		expiry = clamp_time(arrival) + (time_t)lifetime;
		if (next > expiry)
			next = expiry > now ? expiry : now + 1;
	}
	return next;
}

int
queue_retry_expired(time_t arrival, time_t now, uint64_t lifetime)
{
	if (lifetime == 0)
		return 0;
	if (lifetime > (uint64_t)TIME_FAR)
		lifetime = (uint64_t)TIME_FAR;
	return clamp_time(now) - clamp_time(arrival) >= (time_t)lifetime;
}

uint64_t
queue_retry_rand(uint64_t *state)
{
	if (*state == 0)
		*state = 0x9e3779b97f4a7c15ULL;
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dULL;
}
