/* test_queue_record.c: envelope records, keys and ids (pure code). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_record.h"
#include "tests/tap.h"

static struct queue_msg_info *
sample(void)
{
	static struct queue_rcpt_info r[3] = {
		{ "a@example.test", QUEUE_RCPT_PENDING, 0, "" },
		{ "b@example.test", QUEUE_RCPT_DEFERRED, 3, "451 4.7.5 certificate not trusted" },
		{ "", QUEUE_RCPT_BOUNCED, 7, "550 5.1.1 no such user" },
	};
	static struct queue_msg_info m;

	memset(&m, 0, sizeof(m));
	m.sender = "sender@example.test";
	m.helo = "client.example.test";
	m.client_addr = "192.0.2.1";
	m.auth_user = "";
	m.arrival = 1700000000;
	m.size = 123456789012ULL;
	m.flags = QUEUE_F_8BITMIME | QUEUE_F_SMTPUTF8;
	m.held = 1;
	m.next_attempt = 1700000600;
	m.rcpts = r;
	m.nrcpts = 3;
	return &m;
}

static void
test_roundtrip(void)
{
	struct queue_msg_info	*m = sample(), *d = NULL;
	uint8_t			*rec;
	size_t			 len, i;
	const char		*why = NULL;

	ok(queue_record_encode(m, &rec, &len, &why) == 0, "record: encode");
	ok(queue_record_decode(rec, len, &d, &why) == 0, "record: decode");
	if (d == NULL) {
		free(rec);
		return;
	}
	is_str(d->sender, m->sender, "record: sender survives");
	is_str(d->helo, m->helo, "record: helo survives");
	is_str(d->client_addr, m->client_addr, "record: client addr survives");
	is_str(d->auth_user, "", "record: no auth user is \"\"");
	is_int(d->arrival, m->arrival, "record: arrival survives");
	is_int(d->size, m->size, "record: size survives (> 32 bits)");
	is_int(d->flags, m->flags, "record: flags survive");
	is_int(d->held, 1, "record: held survives");
	is_int(d->next_attempt, m->next_attempt, "record: next attempt survives");
	is_int(d->nrcpts, 3, "record: recipient count survives");
	for (i = 0; i < d->nrcpts && i < 3; i++) {
		is_str(d->rcpts[i].addr, m->rcpts[i].addr, "record: rcpt addr");
		is_int(d->rcpts[i].state, m->rcpts[i].state, "record: rcpt state");
		is_int(d->rcpts[i].attempts, m->rcpts[i].attempts, "record: rcpt attempts");
		is_str(d->rcpts[i].last_reason, m->rcpts[i].last_reason, "record: rcpt reason");
	}
	queue_info_free(d);
	free(rec);
}

/* Every truncation and any trailing byte is refused, never read past. */
static void
test_truncated(void)
{
	struct queue_msg_info	*d;
	uint8_t			*rec, *big;
	size_t			 len, cut, bad = 0;
	const char		*why = NULL;

	if (queue_record_encode(sample(), &rec, &len, &why) != 0)
		return;
	for (cut = 0; cut < len; cut++) {
		/* A copy of exactly cut bytes, so ASan sees any over-read. */
		uint8_t *p = malloc(cut ? cut : 1);

		memcpy(p, rec, cut);
		if (queue_record_decode(p, cut, &d, &why) != -1) {
			queue_info_free(d);
			bad++;
		}
		free(p);
	}
	is_int(bad, 0, "record: every truncated record is refused");
	big = malloc(len + 1);
	memcpy(big, rec, len);
	big[len] = 0;
	ok(queue_record_decode(big, len + 1, &d, &why) == -1,
	    "record: trailing bytes are refused");
	rec[0] = 2;
	ok(queue_record_decode(rec, len, &d, &why) == -1,
	    "record: unknown version is refused");
	free(big);
	free(rec);
}

static void
test_lengths(void)
{
	struct queue_msg_info	*m = sample(), *d;
	uint8_t			*rec;
	size_t			 len, off;
	const char		*why = NULL;
	char			*huge;

	if (queue_record_encode(m, &rec, &len, &why) != 0)
		return;
	/* The sender length field follows the 34-byte fixed header. */
	off = 1 + 4 + 1 + 8 + 8 + 8 + 4;
	rec[off] = 0x7f;
	ok(queue_record_decode(rec, len, &d, &why) == -1,
	    "record: a length larger than the record is refused");
	rec[off] = 0;
	rec[off + 4] = 0;	/* sender's first byte "s" becomes NUL */
	ok(queue_record_decode(rec, len, &d, &why) == -1,
	    "record: NUL inside a string is refused");
	rec[off + 4] = 's';
	rec[off - 4] = 0x7f;	/* recipient count */
	ok(queue_record_decode(rec, len, &d, &why) == -1,
	    "record: a recipient count larger than the record is refused");
	free(rec);

	huge = malloc(QUEUE_RECORD_STRMAX + 2);
	memset(huge, 'x', QUEUE_RECORD_STRMAX + 1);
	huge[QUEUE_RECORD_STRMAX + 1] = '\0';
	m->helo = huge;
	ok(queue_record_encode(m, &rec, &len, &why) == -1,
	    "record: an oversized field is refused at encode");
	free(huge);
}

/* Random damage: decode either refuses or yields a well-formed record. */
static void
test_flips(void)
{
	struct queue_msg_info	*d;
	uint8_t			*rec, *p;
	size_t			 len, i, refused = 0;
	const char		*why = NULL;
	unsigned		 seed = 12345;

	if (queue_record_encode(sample(), &rec, &len, &why) != 0)
		return;
	p = malloc(len);
	for (i = 0; i < 20000; i++) {
		memcpy(p, rec, len);
		seed = seed * 1103515245 + 12345;
		p[(seed >> 8) % len] ^= (uint8_t)(1u << ((seed >> 20) % 8));
		seed = seed * 1103515245 + 12345;
		p[(seed >> 8) % len] = (uint8_t)(seed >> 16);
		if (queue_record_decode(p, len, &d, &why) == -1)
			refused++;
		else
			queue_info_free(d);
	}
	ok(refused > 0, "record: damaged records are refused, without a crash");
	free(p);
	free(rec);
}

static void
test_keys(void)
{
	uint8_t	a[QUEUE_SCHEDKEY_MAX], b[QUEUE_SCHEDKEY_MAX];
	uint8_t	k[QUEUE_BODYKEY_MAX];
	size_t	la, lb, lk;
	time_t	when;
	char	id[QUEUE_ID_MAX];

	la = queue_record_schedkey(255, "ZZZZ", a);
	lb = queue_record_schedkey(256, "0000", b);
	ok(memcmp(a, b, la < lb ? la : lb) < 0,
	    "schedule: an earlier time sorts first whatever the id");
	ok(queue_record_schedkey_parse(b, lb, &when, id) == 0,
	    "schedule: key parses");
	is_int(when, 256, "schedule: time from key");
	is_str(id, "0000", "schedule: id from key");
	ok(queue_record_schedkey_parse(b, 8, &when, id) == -1,
	    "schedule: a key without id is refused");
	lk = queue_record_bodykey("ABC", 0x01020304, k);
	is_int(lk, 8, "body key: id, NUL, 4-byte chunk");
	ok(k[3] == 0 && k[4] == 1 && k[7] == 4, "body key: chunk big-endian");
}

static void
test_ids(void)
{
	char		a[QUEUE_ID_MAX], b[QUEUE_ID_MAX];
	uint64_t	us;

	queue_record_make_id(1700000000123456ULL, 5, a);
	queue_record_make_id(1700000000123456ULL, 6, b);
	is_int(strlen(a), QUEUE_ID_LEN, "ids: fixed length");
	ok(strlen(a) <= 20, "ids: at most 20 characters");
	ok(strcmp(a, b) < 0, "ids: counter orders ids of one microsecond");
	ok(queue_record_id_time(a, &us) == 0 && us == 1700000000123456ULL,
	    "ids: time part decodes");
	ok(queue_record_id_valid(a), "ids: ours are valid");
	ok(!queue_record_id_valid(""), "ids: empty is invalid");
	ok(!queue_record_id_valid("../etc"), "ids: punctuation is invalid");
	ok(!queue_record_id_valid("0123456789012345678901234"),
	    "ids: overlong is invalid");
}

int
main(void)
{
	test_roundtrip();
	test_truncated();
	test_lengths();
	test_flips();
	test_keys();
	test_ids();
	return tap_done();
}
