/*
 * cache.c: policy.db, the MTA-STS policy cache in Berkeley DB (S19, S20, S11).
 *
 * Record, all integers big-endian:
 *   u8 version (3) | u8 mode | u64 fetched | u32 max_age | u64 max_age_published
 *   u8 idlen | id | u8 failidlen | fail id | u64 fail_time
 *   u64 txt_fail_since (from version 2) | u64 txt_fail_last (from version 3)
 *   u16 nmx | nmx * (u8 len | pattern) | u32 rawlen | raw
 * Version 2 added txt_fail_since, so a restart keeps how long a domain's TXT
 * lookup has been failing; version 3 added txt_fail_last, the last of those
 * failures, so a period with no failure for a whole tempfail bound is over.
 * Older records are still read: version 1 with neither time, version 2 with
 * txt_fail_last = txt_fail_since (the last failure is not known: the period
 * is over a bound after its start unless a new failure extends it). Every
 * record is written as version 3.
 * Every length is checked against the bytes left and its own bound; mx
 * patterns are re-validated, so a record that decodes is one the policy
 * parser could have produced.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "policy/cache.h"


struct cache {
	DB_ENV	*env;
	DB	*db;
	int	 txn;		/* the environment is transactional */
};

/* --- encoding --- */

struct wbuf {
	uint8_t	*p;
	size_t	 len, cap;
};

static void
put_bytes(struct wbuf *w, const void *data, size_t n)
{
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2;
		w->p = xreallocarray(w->p, w->cap, 1);
	}
	memcpy(w->p + w->len, data, n);
	w->len += n;
}

static void
put_uint(struct wbuf *w, uint64_t v, size_t width)
{
	uint8_t	b[8];
	size_t	i;

	for (i = 0; i < width; i++)
		b[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
	put_bytes(w, b, width);
}

static int
put_str8(struct wbuf *w, const char *s)
{
	size_t	n = strlen(s);

	if (n > 255)
		return -1;
	put_uint(w, n, 1);
	put_bytes(w, s, n);
	return 0;
}

int
cache_encode(const struct cache_entry *e, uint8_t **buf, size_t *len)
{
	struct wbuf	w = { NULL, 0, 0 };
	size_t		i;

	if (e->policy.nmx > STS_POLICY_MAX_MX || e->rawlen > STS_POLICY_MAX_BODY)
		return -1;
	put_uint(&w, CACHE_VERSION, 1);
	put_uint(&w, (uint64_t)e->policy.mode, 1);
	put_uint(&w, e->fetched, 8);
	put_uint(&w, e->policy.max_age, 4);
	put_uint(&w, e->policy.max_age_published, 8);
	if (put_str8(&w, e->id) == -1 || put_str8(&w, e->fail_id) == -1)
		goto out;
	put_uint(&w, e->fail_time, 8);
	put_uint(&w, e->txt_fail_since, 8);
	put_uint(&w, e->txt_fail_last, 8);
	put_uint(&w, e->policy.nmx, 2);
	for (i = 0; i < e->policy.nmx; i++)
		if (put_str8(&w, e->policy.mx[i]) == -1)
			goto out;
	put_uint(&w, e->rawlen, 4);
	put_bytes(&w, e->raw != NULL ? e->raw : "", e->rawlen);
	*buf = w.p;
	*len = w.len;
	return 0;
 out:
	free(w.p);
	return -1;
}

/* --- decoding --- */

struct rbuf {
	const uint8_t	*p;
	size_t		 left;
};

static int
get_uint(struct rbuf *r, size_t width, uint64_t *v)
{
	size_t	i;

	if (r->left < width)
		return -1;
	*v = 0;
	for (i = 0; i < width; i++)
		*v = (*v << 8) | r->p[i];
	r->p += width;
	r->left -= width;
	return 0;
}

/* A length-prefixed (u8) string of at most max octets into out[max + 1]. */
static int
get_str8(struct rbuf *r, char *out, size_t max)
{
	uint64_t	n;

	if (get_uint(r, 1, &n) == -1 || n > max || r->left < n)
		return -1;
	memcpy(out, r->p, n);
	out[n] = '\0';
	if (memchr(out, '\0', n) != NULL)
		return -1;
	r->p += n;
	r->left -= n;
	return 0;
}

static int
decode_header(struct rbuf *r, struct cache_entry *e)
{
	uint64_t	v, mode, maxage;

	if (get_uint(r, 1, &v) == -1 || v < 1 || v > CACHE_VERSION ||
	    get_uint(r, 1, &mode) == -1 || mode > STS_MODE_ENFORCE ||
	    get_uint(r, 8, &e->fetched) == -1 ||
	    get_uint(r, 4, &maxage) == -1 || maxage > STS_POLICY_MAX_AGE_CAP ||
	    get_uint(r, 8, &e->policy.max_age_published) == -1 ||
	    get_str8(r, e->id, STS_TXT_ID_MAX) == -1 ||
	    get_str8(r, e->fail_id, STS_TXT_ID_MAX) == -1 ||
	    get_uint(r, 8, &e->fail_time) == -1 ||
	    (v >= 2 && get_uint(r, 8, &e->txt_fail_since) == -1) ||
	    (v >= 3 && get_uint(r, 8, &e->txt_fail_last) == -1))
		return -1;
	if (v == 2)
		e->txt_fail_last = e->txt_fail_since;
	e->policy.mode = (enum sts_mode)mode;
	e->policy.max_age = (uint32_t)maxage;
	return 0;
}

int
cache_decode(const uint8_t *buf, size_t len, struct cache_entry *e)
{
	struct rbuf	 r = { buf, len };
	char		 pat[256], norm[STS_MX_NAMEBUF];
	uint64_t	 nmx, rawlen, i;

	memset(e, 0, sizeof(*e));
	if (decode_header(&r, e) == -1 || get_uint(&r, 2, &nmx) == -1 ||
	    nmx > STS_POLICY_MAX_MX)
		goto out;
	for (i = 0; i < nmx; i++) {
		if (get_str8(&r, pat, sizeof(pat) - 1) == -1 ||
		    sts_mx_pattern_parse(pat, strlen(pat), norm, sizeof(norm),
		    NULL) == -1 || strcmp(norm, pat) != 0)
			goto out;
		e->policy.mx = xreallocarray(e->policy.mx, e->policy.nmx + 1,
		    sizeof(*e->policy.mx));
		e->policy.mx[e->policy.nmx++] = xstrdup(pat);
	}
	if (get_uint(&r, 4, &rawlen) == -1 || rawlen > STS_POLICY_MAX_BODY ||
	    r.left != rawlen)
		goto out;
	e->raw = xmalloc(rawlen + 1);
	memcpy(e->raw, r.p, rawlen);
	e->raw[rawlen] = '\0';
	e->rawlen = rawlen;
	return 0;
 out:
	cache_entry_free(e);
	return -1;
}

void
cache_entry_free(struct cache_entry *e)
{
	sts_policy_free(&e->policy);
	free(e->raw);
	memset(e, 0, sizeof(*e));
}

int
cache_entry_period_only(const struct cache_entry *e)
{
	return e->id[0] == '\0' && e->fail_id[0] == '\0' && e->txt_fail_since != 0;
}

int
cache_entry_period_over(const struct cache_entry *e, uint64_t now, uint64_t bound)
{
	if (e->txt_fail_since == 0)
		return 1;
	if (now < e->txt_fail_last)
		return 0;
	return now - e->txt_fail_last >= bound;
}

int
cache_entry_fresh(const struct cache_entry *e, uint64_t now)
{
	/* S19: valid while now - fetched < max_age (a clock step back: fresh) */
	if (now < e->fetched)
		return e->policy.max_age > 0;
	return now - e->fetched < e->policy.max_age;
}

/* --- the database --- */

struct cache *
cache_open(DB_ENV *env)
{
	struct cache	*c;
	uint32_t	 envflags = 0, flags = DB_CREATE;
	int		 rc;

	c = xcalloc(1, sizeof(*c));
	if ((rc = env->get_open_flags(env, &envflags)) != 0) {
		log_warnx("cache: get_open_flags: %s", db_strerror(rc));
		free(c);
		return NULL;
	}
	if (envflags & DB_INIT_TXN) {
		flags |= DB_AUTO_COMMIT;
		c->txn = 1;
	}
	c->env = env;
	if ((rc = db_create(&c->db, env, 0)) != 0) {
		log_warnx("cache: db_create: %s", db_strerror(rc));
		free(c);
		return NULL;
	}
	if ((rc = c->db->open(c->db, NULL, CACHE_DBNAME, NULL, DB_BTREE, flags,
	    0600)) != 0) {
		log_warnx("cache: open %s: %s", CACHE_DBNAME, db_strerror(rc));
		c->db->close(c->db, 0);
		free(c);
		return NULL;
	}
	return c;
}

void
cache_close(struct cache *c)
{
	int	rc;

	if (c == NULL)
		return;
	if ((rc = c->db->close(c->db, 0)) != 0)
		log_warnx("cache: close: %s", db_strerror(rc));
	free(c);
}

static void
key_dbt(DBT *k, const char *domain)
{
	memset(k, 0, sizeof(*k));
	k->data = (void *)(uintptr_t)domain;
	k->size = (uint32_t)strlen(domain);
}

int
cache_get(struct cache *c, const char *domain, struct cache_entry *e)
{
	DBT	k, v;
	int	rc;

	memset(e, 0, sizeof(*e));
	key_dbt(&k, domain);
	memset(&v, 0, sizeof(v));
	v.flags = DB_DBT_MALLOC;
	if ((rc = c->db->get(c->db, NULL, &k, &v, 0)) == DB_NOTFOUND)
		return 1;
	if (rc != 0) {
		log_warnx("cache: get %s: %s", domain, db_strerror(rc));
		return -1;
	}
	rc = cache_decode(v.data, v.size, e);
	free(v.data);
	if (rc == -1) {
		log_warnx("cache: %s: corrupt record ignored", domain);
		return -1;
	}
	return 0;
}

/*
 * A put (v) or delete (v NULL) in its own transaction that commits without
 * waiting for the disk: the cache can always be fetched again, and these
 * calls run on the event loop, which must not wait for an fsync.
 */
static int
write_op(struct cache *c, DBT *k, DBT *v)
{
	DB_TXN	*txn = NULL;
	int	 rc, rc2;

	if (c->txn && (rc = c->env->txn_begin(c->env, NULL, &txn,
	    DB_TXN_NOSYNC)) != 0)
		return rc;
	rc = v != NULL ? c->db->put(c->db, txn, k, v, 0) :
	    c->db->del(c->db, txn, k, 0);
	if (txn == NULL)
		return rc;
	if (rc != 0 && rc != DB_NOTFOUND) {
		(void)txn->abort(txn);
		return rc;
	}
	if ((rc2 = txn->commit(txn, 0)) != 0)
		return rc2;
	return rc;
}

int
cache_put(struct cache *c, const char *domain, const struct cache_entry *e)
{
	DBT	 k, v;
	uint8_t	*buf;
	size_t	 len;
	int	 rc;

	if (cache_encode(e, &buf, &len) == -1) {
		log_warnx("cache: %s: entry cannot be encoded", domain);
		return -1;
	}
	key_dbt(&k, domain);
	memset(&v, 0, sizeof(v));
	v.data = buf;
	v.size = (uint32_t)len;
	rc = write_op(c, &k, &v);
	free(buf);
	if (rc != 0) {
		log_warnx("cache: put %s: %s", domain, db_strerror(rc));
		return -1;
	}
	return 0;
}

int
cache_delete(struct cache *c, const char *domain)
{
	DBT	k;
	int	rc;

	key_dbt(&k, domain);
	if ((rc = write_op(c, &k, NULL)) == DB_NOTFOUND)
		return 1;
	if (rc != 0) {
		log_warnx("cache: delete %s: %s", domain, db_strerror(rc));
		return -1;
	}
	return 0;
}

int
cache_iterate(struct cache *c,
    int (*fn)(const char *, const struct cache_entry *, void *), void *arg)
{
	struct cache_entry	 e;
	DBC			*cur;
	DBT			 k, v;
	char			 domain[256];
	int			 rc, ret = 0;

	if ((rc = c->db->cursor(c->db, NULL, &cur, 0)) != 0) {
		log_warnx("cache: cursor: %s", db_strerror(rc));
		return -1;
	}
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.flags = v.flags = DB_DBT_REALLOC;
	while (ret == 0 && (rc = cur->get(cur, &k, &v, DB_NEXT)) == 0) {
		if (k.size == 0 || k.size >= sizeof(domain))
			continue;	/* not a key we write */
		memcpy(domain, k.data, k.size);
		domain[k.size] = '\0';
		if (cache_decode(v.data, v.size, &e) == -1)
			ret = fn(domain, NULL, arg);
		else {
			ret = fn(domain, &e, arg);
			cache_entry_free(&e);
		}
	}
	if (rc != 0 && rc != DB_NOTFOUND) {
		log_warnx("cache: cursor get: %s", db_strerror(rc));
		ret = -1;
	}
	free(k.data);
	free(v.data);
	if ((rc = cur->close(cur)) != 0) {
		log_warnx("cache: cursor close: %s", db_strerror(rc));
		ret = -1;
	}
	return ret;
}
