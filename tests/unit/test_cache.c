/* test_cache.c: policy.db, the policy cache (S19, S20, S11). */
#include <stdlib.h>
#include <string.h>

#include <db.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "policy/cache.h"
#include "tests/tap.h"

static char	dir[] = "/tmp/test_cache.XXXXXX";

static DB_ENV *
env_open(void)
{
	DB_ENV	*env;

	if (db_env_create(&env, 0) != 0)
		return NULL;
	if (env->open(env, dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK |
	    DB_INIT_MPOOL | DB_RECOVER, 0600) != 0) {
		env->close(env, 0);
		return NULL;
	}
	return env;
}

static void
make_entry(struct cache_entry *e, const char *id, uint64_t fetched)
{
	static const char text[] = "version: STSv1\nmode: enforce\nmx: mail.d.test\n"
	    "mx: *.d.test\nmax_age: 86400\n";

	memset(e, 0, sizeof(*e));
	if (sts_policy_parse(text, sizeof(text) - 1, &e->policy, NULL, 0) == -1)
		abort();
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->fetched = fetched;
	e->raw = xstrdup(text);
	e->rawlen = sizeof(text) - 1;
	snprintf(e->fail_id, sizeof(e->fail_id), "failedid");
	e->fail_time = 1700000123;
}

static int
count_cb(const char *domain, const struct cache_entry *e, void *arg)
{
	char	*seen = arg;

	snprintf(seen + strlen(seen), 256 - strlen(seen), "%s%s:%s", seen[0] ? "," : "",
	    domain, e != NULL ? e->id : "CORRUPT");
	return 0;
}

static void
test_codec(void)
{
	struct cache_entry	 e, d;
	uint8_t			*buf, *copy;
	size_t			 len, i;
	int			 bad = 0;

	make_entry(&e, "id1", 1700000000);
	ok(cache_encode(&e, &buf, &len) == 0, "encode");
	ok(cache_decode(buf, len, &d) == 0, "decode");
	ok(strcmp(d.id, "id1") == 0 && d.fetched == 1700000000 &&
	    d.policy.mode == STS_MODE_ENFORCE && d.policy.max_age == 86400 &&
	    d.policy.nmx == 2 && strcmp(d.policy.mx[1], "*.d.test") == 0 &&
	    d.rawlen == e.rawlen && memcmp(d.raw, e.raw, e.rawlen) == 0 &&
	    strcmp(d.fail_id, "failedid") == 0 && d.fail_time == 1700000123,
	    "S19: id, fetch time, max_age, mode, mx, raw text, S11 failure kept");
	cache_entry_free(&d);
	for (i = 0; i < len; i++)
		if (cache_decode(buf, i, &d) != -1)
			bad++;
	is_int(bad, 0, "every truncated record is refused");
	copy = xmalloc(len + 1);
	memcpy(copy, buf, len);
	copy[len] = 'x';
	ok(cache_decode(copy, len + 1, &d) == -1, "trailing bytes refused");
	copy[0] = 0x7f;
	ok(cache_decode(copy, len, &d) == -1, "unknown record version refused");
	memcpy(copy, buf, len);
	copy[1] = 7;
	ok(cache_decode(copy, len, &d) == -1, "unknown mode refused");
	memcpy(copy, buf, len);
	copy[10] = 0xff;	/* max_age high byte */
	ok(cache_decode(copy, len, &d) == -1, "max_age above the cap refused");
	for (i = 0; i < len; i++) {	/* flip each byte: never a crash */
		memcpy(copy, buf, len);
		copy[i] ^= 0x5a;
		if (cache_decode(copy, len, &d) == 0)
			cache_entry_free(&d);
	}
	ok(1, "every one-byte corruption decoded or refused without a crash");
	free(copy);
	free(buf);
	cache_entry_free(&e);
}

static void
test_fresh(void)
{
	struct cache_entry	e;

	make_entry(&e, "x", 1000);
	ok(cache_entry_fresh(&e, 1000), "S19: fresh right after the fetch");
	ok(cache_entry_fresh(&e, 1000 + 86399), "S19: fresh while now - fetched < max_age");
	ok(!cache_entry_fresh(&e, 1000 + 86400), "S19: expired at max_age");
	e.policy.max_age = 0;
	ok(!cache_entry_fresh(&e, 1000), "Ours: max_age 0 is never fresh in the cache");
	cache_entry_free(&e);
}

static void
test_db(void)
{
	struct cache_entry	 e, got;
	struct cache		*c;
	DB_ENV			*env;
	DB			*raw;
	DBT			 k, v;
	char			 seen[256] = "";

	if ((env = env_open()) == NULL || (c = cache_open(env)) == NULL) {
		ok(0, "open environment and cache");
		return;
	}
	ok(1, "open environment and cache");
	is_int(cache_get(c, "d.test", &got), 1, "not found before put");
	make_entry(&e, "id1", 1700000000);
	is_int(cache_put(c, "d.test", &e), 0, "put");
	is_int(cache_get(c, "d.test", &got), 0, "get");
	is_str(got.id, "id1", "  id read back");
	cache_entry_free(&got);
	snprintf(e.id, sizeof(e.id), "id2");
	e.policy.mode = STS_MODE_NONE;
	is_int(cache_put(c, "d.test", &e), 0, "S20: replace (even with mode none)");
	cache_get(c, "d.test", &got);
	ok(strcmp(got.id, "id2") == 0 && got.policy.mode == STS_MODE_NONE, "  replaced");
	cache_entry_free(&got);
	is_int(cache_put(c, "a.test", &e), 0, "second domain");
	/* a corrupt record written behind the cache's back */
	db_create(&raw, env, 0);
	raw->open(raw, NULL, CACHE_DBNAME, NULL, DB_BTREE, DB_AUTO_COMMIT, 0);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = "b.test";
	k.size = 6;
	v.data = "\001\002garbage";
	v.size = 10;
	raw->put(raw, NULL, &k, &v, 0);
	raw->close(raw, 0);
	is_int(cache_get(c, "b.test", &got), -1, "corrupt record: an error, no crash");
	is_int(cache_iterate(c, count_cb, seen), 0, "iterate");
	is_str(seen, "a.test:id2,b.test:CORRUPT,d.test:id2",
	    "iterate in key order, corrupt records flagged");
	is_int(cache_delete(c, "b.test"), 0, "delete");
	is_int(cache_delete(c, "b.test"), 1, "delete again: not found");
	cache_close(c);
	env->close(env, 0);
	/* reopen: still there */
	env = env_open();
	c = cache_open(env);
	is_int(cache_get(c, "a.test", &got), 0, "records survive a reopen");
	cache_entry_free(&got);
	cache_close(c);
	env->close(env, 0);
	cache_entry_free(&e);
}

/* An environment without transactions (a tool's private copy) works too. */
static void
test_plain_env(void)
{
	struct cache_entry	 e, got;
	struct cache		*c;
	DB_ENV			*env;
	char			 sub[160], cmd[200];

	snprintf(sub, sizeof(sub), "%s/plain", dir);
	snprintf(cmd, sizeof(cmd), "mkdir %s", sub);
	if (system(cmd) != 0 || db_env_create(&env, 0) != 0 ||
	    env->open(env, sub, DB_CREATE | DB_INIT_MPOOL, 0600) != 0 ||
	    (c = cache_open(env)) == NULL) {
		ok(0, "non-transactional environment");
		return;
	}
	make_entry(&e, "p1", 5);
	ok(cache_put(c, "p.test", &e) == 0 && cache_get(c, "p.test", &got) == 0 &&
	    strcmp(got.id, "p1") == 0, "non-transactional environment: put and get");
	cache_entry_free(&got);
	is_int(cache_delete(c, "p.test"), 0, "non-transactional environment: delete");
	cache_close(c);
	env->close(env, 0);
	cache_entry_free(&e);
}

int
main(void)
{
	char	cmd[128];

	log_init("test_cache", LOG_DEST_STDERR, LOG_LVL_ERR);
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	test_codec();
	test_fresh();
	test_db();
	test_plain_env();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return tap_done();
}
