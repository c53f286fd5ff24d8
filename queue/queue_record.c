/* queue_record.c: envelope records, db keys and queue ids; no I/O. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"
#include "common/xmalloc.h"
#include "queue/queue_record.h"

/* The fixed part: version, flags, held, arrival, size, next_attempt, nrcpts. */
#define HDR_LEN		(1 + 4 + 1 + 8 + 8 + 8 + 4)
/* The smallest recipient: empty addr, state, attempts, empty reason. */
#define RCPT_MIN	(4 + 1 + 4 + 4)

struct wbuf {
	uint8_t	*p;
	size_t	 len, cap;
};

struct rbuf {
	const uint8_t	*p;
	size_t		 len, off;
};

static void
put_bytes(struct wbuf *w, const void *src, size_t n)
{
	if (w->cap - w->len < n) {
		size_t ncap = w->cap ? w->cap : 256;

		while (ncap - w->len < n)
			ncap *= 2;
		w->p = xreallocarray(w->p, ncap, 1);
		w->cap = ncap;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void
put_u64(struct wbuf *w, uint64_t v)
{
	uint8_t	b[8];
	int	i;

	for (i = 7; i >= 0; i--) {
		b[i] = v & 0xff;
		v >>= 8;
	}
	put_bytes(w, b, sizeof(b));
}

static void
put_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };

	put_bytes(w, b, sizeof(b));
}

static void
put_u8(struct wbuf *w, uint8_t v)
{
	put_bytes(w, &v, 1);
}

static int
put_str(struct wbuf *w, const char *s)
{
	size_t n = s == NULL ? 0 : strlen(s);

	if (n > QUEUE_RECORD_STRMAX)
		return -1;
	put_u32(w, (uint32_t)n);
	put_bytes(w, s == NULL ? "" : s, n);
	return 0;
}

int
queue_record_encode(const struct queue_msg_info *m, uint8_t **out,
    size_t *outlen, const char **why)
{
	struct wbuf	w = { NULL, 0, 0 };
	size_t		i;

	*out = NULL;
	*outlen = 0;
	if (m->nrcpts > QUEUE_RECORD_RCPTMAX) {
		*why = "too many recipients";
		return -1;
	}
	put_u8(&w, QUEUE_RECORD_VERSION);
	put_u32(&w, m->flags);
	put_u8(&w, m->held ? 1 : 0);
	put_u64(&w, (uint64_t)(int64_t)m->arrival);
	put_u64(&w, m->size);
	put_u64(&w, (uint64_t)(int64_t)m->next_attempt);
	put_u32(&w, (uint32_t)m->nrcpts);
	if (put_str(&w, m->sender) == -1 || put_str(&w, m->helo) == -1 ||
	    put_str(&w, m->client_addr) == -1 ||
	    put_str(&w, m->auth_user) == -1) {
		*why = "envelope field too long";
		free(w.p);
		return -1;
	}
	for (i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt_info *r = &m->rcpts[i];

		if (put_str(&w, r->addr) == -1) {
			*why = "recipient too long";
			free(w.p);
			return -1;
		}
		put_u8(&w, (uint8_t)r->state);
		put_u32(&w, r->attempts);
		if (put_str(&w, r->last_reason) == -1) {
			*why = "recipient reason too long";
			free(w.p);
			return -1;
		}
	}
	*out = w.p;
	*outlen = w.len;
	return 0;
}

static int
get_bytes(struct rbuf *r, void *dst, size_t n)
{
	if (r->len - r->off < n)
		return -1;
	memcpy(dst, r->p + r->off, n);
	r->off += n;
	return 0;
}

static int
get_u64(struct rbuf *r, uint64_t *v)
{
	uint8_t	b[8];
	int	i;

	if (get_bytes(r, b, sizeof(b)) == -1)
		return -1;
	*v = 0;
	for (i = 0; i < 8; i++)
		*v = (*v << 8) | b[i];
	return 0;
}

static int
get_u32(struct rbuf *r, uint32_t *v)
{
	uint8_t b[4];

	if (get_bytes(r, b, sizeof(b)) == -1)
		return -1;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
	return 0;
}

static int
get_u8(struct rbuf *r, uint8_t *v)
{
	return get_bytes(r, v, 1);
}

/* A string: the length must fit the bound and the record; no NUL inside. */
static int
get_str(struct rbuf *r, char **s)
{
	uint32_t n;

	if (get_u32(r, &n) == -1 || n > QUEUE_RECORD_STRMAX ||
	    n > r->len - r->off)
		return -1;
	if (memchr(r->p + r->off, '\0', n) != NULL)
		return -1;
	*s = xstrndup((const char *)r->p + r->off, n);
	r->off += n;
	return 0;
}

static int
decode_rcpts(struct rbuf *r, struct queue_msg_info *m, const char **why)
{
	size_t	i;
	uint8_t	st;

	for (i = 0; i < m->nrcpts; i++) {
		struct queue_rcpt_info *rc = &m->rcpts[i];

		if (get_str(r, &rc->addr) == -1 || get_u8(r, &st) == -1 ||
		    get_u32(r, &rc->attempts) == -1 ||
		    get_str(r, &rc->last_reason) == -1) {
			*why = "truncated or oversized recipient";
			return -1;
		}
		if (st > QUEUE_RCPT_BOUNCED) {
			*why = "unknown recipient state";
			return -1;
		}
		rc->state = (enum queue_rcpt_state)st;
	}
	return 0;
}

int
queue_record_decode(const uint8_t *p, size_t len, struct queue_msg_info **out,
    const char **why)
{
	struct rbuf		 r = { p, len, 0 };
	struct queue_msg_info	*m;
	uint8_t			 ver = 0, held = 0;
	uint64_t		 arrival = 0, next = 0;
	uint32_t		 nrcpts = 0;

	*out = NULL;
	if (len < HDR_LEN) {
		*why = "record shorter than its header";
		return -1;
	}
	(void)get_u8(&r, &ver);
	if (ver != QUEUE_RECORD_VERSION) {
		*why = "unknown record version";
		return -1;
	}
	m = xcalloc(1, sizeof(*m));
	(void)get_u32(&r, &m->flags);
	(void)get_u8(&r, &held);
	(void)get_u64(&r, &arrival);
	(void)get_u64(&r, &m->size);
	(void)get_u64(&r, &next);
	(void)get_u32(&r, &nrcpts);
	m->held = held != 0;
	m->arrival = (time_t)(int64_t)arrival;
	m->next_attempt = (time_t)(int64_t)next;
	if (held > 1 || nrcpts > QUEUE_RECORD_RCPTMAX ||
	    nrcpts > (len - HDR_LEN) / RCPT_MIN) {
		*why = held > 1 ? "bad held flag" : "recipient count too large";
		queue_info_free(m);
		return -1;
	}
	m->nrcpts = nrcpts;
	m->rcpts = xcalloc(nrcpts ? nrcpts : 1, sizeof(*m->rcpts));
	if (get_str(&r, &m->sender) == -1 || get_str(&r, &m->helo) == -1 ||
	    get_str(&r, &m->client_addr) == -1 ||
	    get_str(&r, &m->auth_user) == -1) {
		*why = "truncated or oversized envelope field";
		queue_info_free(m);
		return -1;
	}
	if (decode_rcpts(&r, m, why) == -1) {
		queue_info_free(m);
		return -1;
	}
	if (r.off != len) {
		*why = "trailing bytes after the record";
		queue_info_free(m);
		return -1;
	}
	*out = m;
	return 0;
}

void
queue_info_free(struct queue_msg_info *m)
{
	size_t i;

	if (m == NULL)
		return;
	if (m->rcpts != NULL) {
		for (i = 0; i < m->nrcpts; i++) {
			free(m->rcpts[i].addr);
			free(m->rcpts[i].last_reason);
		}
		free(m->rcpts);
	}
	free(m->sender);
	free(m->helo);
	free(m->client_addr);
	free(m->auth_user);
	free(m);
}

size_t
queue_record_bodykey(const char *id, uint32_t chunk,
    uint8_t key[QUEUE_BODYKEY_MAX])
{
	size_t n = strnlen(id, QUEUE_ID_MAX - 1);

	memcpy(key, id, n);
	key[n++] = '\0';
	key[n++] = chunk >> 24;
	key[n++] = (chunk >> 16) & 0xff;
	key[n++] = (chunk >> 8) & 0xff;
	key[n++] = chunk & 0xff;
	return n;
}

size_t
queue_record_schedkey(time_t when, const char *id,
    uint8_t key[QUEUE_SCHEDKEY_MAX])
{
	uint64_t	v;
	size_t		n = strnlen(id, QUEUE_ID_MAX - 1);
	int		i;

	/* Clamp negative times to 0 so that the big-endian order holds. */
	v = when < 0 ? 0 : (uint64_t)when;
	for (i = 7; i >= 0; i--) {
		key[i] = v & 0xff;
		v >>= 8;
	}
	memcpy(key + 8, id, n);
	return 8 + n;
}

int
queue_record_schedkey_parse(const uint8_t *key, size_t len, time_t *when,
    char id[QUEUE_ID_MAX])
{
	uint64_t	v = 0;
	int		i;

	if (len <= 8 || len - 8 >= QUEUE_ID_MAX ||
	    memchr(key + 8, '\0', len - 8) != NULL)
		return -1;
	for (i = 0; i < 8; i++)
		v = (v << 8) | key[i];
	if (v > INT64_MAX)
		return -1;
	*when = (time_t)v;
	memcpy(id, key + 8, len - 8);
	id[len - 8] = '\0';
	return 0;
}

void
queue_record_make_id(uint64_t us, uint32_t ctr, char id[QUEUE_ID_MAX])
{
	strutil_base32(us, id, QUEUE_IDTIME_LEN);
	strutil_base32(ctr, id + QUEUE_IDTIME_LEN, QUEUE_IDCTR_LEN);
}

static int
b32_value(char c)
{
	static const char digits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	const char *p;

	if (c == '\0' || (p = strchr(digits, c)) == NULL)
		return -1;
	return (int)(p - digits);
}

int
queue_record_id_time(const char *id, uint64_t *us)
{
	size_t	i;
	int	v;

	if (strlen(id) != QUEUE_ID_LEN)
		return -1;
	*us = 0;
	for (i = 0; i < QUEUE_ID_LEN; i++) {
		if ((v = b32_value(id[i])) == -1)
			return -1;
		if (i < QUEUE_IDTIME_LEN)
			*us = (*us << 5) | (uint64_t)v;
	}
	return 0;
}

int
queue_record_id_valid(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (i >= QUEUE_ID_MAX - 1 || !isalnum((unsigned char)id[i]))
			return 0;
	return i > 0;
}
