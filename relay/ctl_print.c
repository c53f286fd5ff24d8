/* ctl_print.c: stsrelayctl's human-readable forms of the daemon's answers. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/strutil.h"
#include "common/base64.h"
#include "common/xmalloc.h"
#include "relay/ctl_print.h"

/* --- the JSON readers the printers share (ctl_print.h) --- */

const char *
ctl_str(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : "";
}

uint64_t
ctl_int(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    (uint64_t)json_integer_value(v) : 0;
}

int
ctl_true(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static void
cp_time(uint64_t t, char *buf, size_t len)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	if (t == 0 || localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%a %b %e %H:%M:%S", &tm) == 0)
		strutil_lcpy(buf, "-", len);
}

/* Write text with CRLF line ends as LF lines. */
static void
cp_lines(const char *p, size_t len, FILE *fp)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
			continue;
		fputc(p[i], fp);
	}
}

/* key or key_base64: the bytes of a text the daemon sent either way. */
static int
cp_text(const json_t *o, const char *key, FILE *fp)
{
	char		 b64key[64];
	unsigned char	*raw;
	size_t		 len;
	json_t		*v;

	if ((v = json_object_get(o, key)) != NULL && json_is_string(v)) {
		cp_lines(json_string_value(v), json_string_length(v), fp);
		return 0;
	}
	snprintf(b64key, sizeof(b64key), "%s_base64", key);
	if ((v = json_object_get(o, b64key)) == NULL || !json_is_string(v))
		return -1;
	raw = xmalloc(json_string_length(v) / 4 * 3 + 1);
	if (base64_decode(json_string_value(v), json_string_length(v), raw,
	    json_string_length(v) / 4 * 3, &len) == -1) {
		free(raw);
		return -1;
	}
	cp_lines((const char *)raw, len, fp);
	free(raw);
	return 0;
}

int
ctl_print_status(const json_t *o, FILE *fp)
{
	const json_t	*q = json_object_get(o, "queue"), *s = json_object_get(o, "sessions");
	const json_t	*l = json_object_get(o, "listen"), *d;
	char		 up[32], since[64];
	size_t		 i;

	if (!json_is_object(q) || !json_is_object(s) || !json_is_array(l))
		return -1;
	strutil_format_duration(ctl_int(o, "uptime"), up, sizeof(up));
	cp_time(ctl_int(o, "started"), since, sizeof(since));
	fprintf(fp, "stsrelayd %s, pid %" PRIu64 ", up %s (since %s)\n", ctl_str(o, "version"),
	    ctl_int(o, "pid"), up, since);
	fprintf(fp, "host name:  %s\n", ctl_str(o, "hostname"));
	fprintf(fp, "listening:");
	for (i = 0; i < json_array_size(l); i++)
		fprintf(fp, " %s", json_string_value(json_array_get(l, i)) != NULL ?
		    json_string_value(json_array_get(l, i)) : "?");
	fprintf(fp, "\nqueue:      %" PRIu64 " messages, %" PRIu64 " recipients pending, "
	    "%" PRIu64 " held, %" PRIu64 " deferred\n", ctl_int(q, "messages"),
	    ctl_int(q, "recipients_pending"), ctl_int(q, "held"), ctl_int(q, "deferred"));
	fprintf(fp, "sessions:   %" PRIu64 " open, %" PRIu64 " since start\n",
	    ctl_int(s, "current"), ctl_int(s, "total"));
	if (json_is_object(d = json_object_get(o, "delivery"))) {
		fprintf(fp, "delivery:   %" PRIu64 " attempts, %" PRIu64 " delivered, %" PRIu64
		    " deferred, %" PRIu64 " bounced, %" PRIu64 " messages in delivery\n",
		    ctl_int(d, "attempts"), ctl_int(d, "delivered"), ctl_int(d, "deferred"),
		    ctl_int(d, "bounced"), ctl_int(d, "in_flight"));
		fprintf(fp, "outbound:   %" PRIu64 " connections open (%" PRIu64 " idle), %" PRIu64
		    " since start, %" PRIu64 " TLS handshakes, %.1f messages per handshake\n",
		    ctl_int(d, "sessions_open"), ctl_int(d, "sessions_idle"),
		    ctl_int(d, "connections"), ctl_int(d, "handshakes"),
		    ctl_int(d, "handshakes") > 0 ? (double)ctl_int(d, "tls_transactions") /
		    (double)ctl_int(d, "handshakes") : 0.0);
	}
	if (json_is_object(d = json_object_get(o, "policy"))) {
		fprintf(fp, "policy:     %" PRIu64 " lookups (%" PRIu64 " from memory, %" PRIu64
		    " from the cache at once, %" PRIu64 " joined), %" PRIu64 " TXT queries (%"
		    PRIu64 " failed, %" PRIu64 " with the id unchanged), %" PRIu64 " fetches (%"
		    PRIu64 " failed, %" PRIu64 " backed off), %" PRIu64 " waited for a slot, at "
		    "most %" PRIu64 " at once\n",
		    ctl_int(d, "lookups"), ctl_int(d, "front_hits"), ctl_int(d, "stale_answers"),
		    ctl_int(d, "coalesced"), ctl_int(d, "txt_queries"), ctl_int(d, "txt_tempfails"),
		    ctl_int(d, "cache_hits"),
		    ctl_int(d, "fetches"), ctl_int(d, "fetch_failures"), ctl_int(d, "backoffs"),
		    ctl_int(d, "queued"), ctl_int(d, "running_max"));
	}
	return 0;
}

static void
cp_rcpts(const json_t *m, FILE *fp)
{
	const json_t	*rs = json_object_get(m, "recipients"), *r;
	size_t		 i;

	for (i = 0; i < json_array_size(rs); i++) {
		r = json_array_get(rs, i);
		fprintf(fp, "    %-9s %3" PRIu64 " %-8s %s", ctl_str(r, "state"),
		    ctl_int(r, "attempts"), ctl_int(r, "attempts") == 1 ? "attempt" : "attempts",
		    ctl_str(r, "addr"));
		if (*ctl_str(r, "last_reason") != '\0')
			fprintf(fp, "  (%s)", ctl_str(r, "last_reason"));
		fputc('\n', fp);
	}
}

int
ctl_print_list(const json_t *o, FILE *fp)
{
	const json_t	*msgs = json_object_get(o, "messages"), *m;
	const char	*sender;
	char		 when[64], id[64];
	uint64_t	 bytes = 0;
	size_t		 i, n;

	if (!json_is_array(msgs))
		return -1;
	if ((n = json_array_size(msgs)) == 0) {
		fprintf(fp, "Mail queue is empty\n");
		return 0;
	}
	fprintf(fp, "-Queue ID-----  --Size-- ----Arrival Time---- -Sender/Recipient-------\n");
	for (i = 0; i < n; i++) {
		m = json_array_get(msgs, i);
		cp_time(ctl_int(m, "arrival"), when, sizeof(when));
		sender = ctl_str(m, "sender");
		snprintf(id, sizeof(id), "%s%s", ctl_str(m, "id"),
		    ctl_true(m, "held") ? "!" : "");
		fprintf(fp, "%-15s %8" PRIu64 " %-20s %s\n", id, ctl_int(m, "size"), when,
		    *sender != '\0' ? sender : "<>");
		cp_rcpts(m, fp);
		bytes += ctl_int(m, "size");
	}
	fprintf(fp, "\n-- %" PRIu64 " KiB in %zu message%s%s\n", (bytes + 1023) / 1024, n,
	    n == 1 ? "" : "s", ctl_true(o, "truncated") ?
	    " (only the first ones are listed)" : "");
	return 0;
}

int
ctl_print_show(const json_t *o, FILE *fp)
{
	char when[64], next[64];

	cp_time(ctl_int(o, "arrival"), when, sizeof(when));
	cp_time(ctl_int(o, "next_attempt"), next, sizeof(next));
	fprintf(fp, "id:           %s%s\n", ctl_str(o, "id"),
	    ctl_true(o, "held") ? " (held)" : "");
	fprintf(fp, "sender:       <%s>\n", ctl_str(o, "sender"));
	fprintf(fp, "arrival:      %s\n", when);
	fprintf(fp, "size:         %" PRIu64 " bytes\n", ctl_int(o, "size"));
	fprintf(fp, "client:       %s (helo %s)\n", ctl_str(o, "client_addr"),
	    ctl_str(o, "helo"));
	if (*ctl_str(o, "auth_user") != '\0')
		fprintf(fp, "auth user:    %s\n", ctl_str(o, "auth_user"));
	fprintf(fp, "body:         %s%s\n", ctl_true(o, "8bitmime") ?
	    "8BITMIME" : "7BIT", ctl_true(o, "smtputf8") ? " SMTPUTF8" : "");
	fprintf(fp, "next attempt: %s\n", next);
	fprintf(fp, "recipients:\n");
	cp_rcpts(o, fp);
	fputc('\n', fp);
	if (cp_text(o, "headers", fp) == -1)
		return -1;
	if (ctl_true(o, "headers_truncated"))
		fprintf(fp, "[headers cut short]\n");
	return 0;
}

int
ctl_print_cat(const json_t *o, FILE *fp)
{
	return cp_text(o, "message", fp);
}

int
ctl_print_done(const json_t *o, const char *verb, FILE *fp)
{
	const char *id = ctl_str(o, "id");

	fprintf(fp, "%s: %s\n", *id != '\0' ? id : "queue", verb);
	return 0;
}

int
ctl_print_tls(const json_t *o, FILE *fp)
{
	const json_t	*a = json_object_get(o, "counts"), *e;
	size_t		 i;

	if (!json_is_array(a))
		return -1;
	fprintf(fp, "TLS report counters of %s (UTC)\n", ctl_str(o, "day"));
	for (i = 0; i < json_array_size(a); i++) {
		e = json_array_get(a, i);
		fprintf(fp, "%-30s %-15s %-30s %-26s %" PRIu64 "\n", ctl_str(e, "policy_domain"),
		    ctl_str(e, "policy_type"), *ctl_str(e, "mx_host") != '\0' ?
		    ctl_str(e, "mx_host") : "-", ctl_str(e, "result"), ctl_int(e, "count"));
	}
	return 0;
}
