/*
 * control_delivery.c: the delivery counters for the status command, and the
 * TLS report counters (tls.counts).
 */
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "queue/queue.h"
#include "relay/control.h"
#include "relay/control_delivery.h"
#include "relay/delivery.h"

json_t *
control_delivery_json(const struct delivery *d)
{
	struct delivery_stats	 st;
	json_t			*o;

	if (d == NULL)
		return NULL;
	delivery_stats(d, &st);
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "attempts", (json_int_t)st.attempts, "delivered", (json_int_t)st.delivered,
	    "deferred", (json_int_t)st.deferred, "bounced", (json_int_t)st.bounced,
	    "messages", (json_int_t)st.messages, "in_flight", (json_int_t)st.in_flight,
	    "groups_active", (json_int_t)st.groups_active,
	    "sessions_open", (json_int_t)st.sessions_open,
	    "sessions_idle", (json_int_t)st.sessions_idle,
	    "connections", (json_int_t)st.connections, "handshakes", (json_int_t)st.handshakes,
	    "transactions", (json_int_t)st.transactions,
	    "tls_transactions", (json_int_t)st.tls_transactions, "reused", (json_int_t)st.reused);
	if (o == NULL)
		fatalx("control_delivery_json: json_pack failed");
	return o;
}

static int
cd_one(const struct queue_tls_entry *e, void *arg)
{
	json_t *a = arg, *o;

	o = json_pack("{s:o, s:s, s:o, s:s, s:I}",
	    "policy_domain", control_json_string(e->policy_domain),
	    "policy_type", queue_tls_strpolicy(e->policy_type),
	    "mx_host", control_json_string(e->mx_host), "result", e->result,
	    "count", (json_int_t)e->count);
	if (o == NULL || json_array_append_new(a, o) != 0)
		fatalx("cd_one: out of memory");
	return 0;
}

static int
cd_valid_day(const char *s)
{
	static const char pat[] = "dddd-dd-dd";
	size_t i;

	if (strlen(s) != sizeof(pat) - 1)
		return 0;
	for (i = 0; pat[i] != '\0'; i++)
		if (pat[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != pat[i])
			return 0;
	return 1;
}

static void
cd_tls_counts(struct control_request *req, const json_t *args, void *arg)
{
	struct queue		*q = arg;
	const char		*day = control_arg_string(args, "id");
	char			 today[QUEUE_TLS_DAY_MAX];
	time_t			 now = time(NULL);
	struct tm		 tm;
	enum queue_status	 st;
	json_t			*a;

	if (day == NULL) {
		if (gmtime_r(&now, &tm) == NULL ||
		    strftime(today, sizeof(today), "%Y-%m-%d", &tm) == 0)
			fatalx("cd_tls_counts: cannot format today");
		day = today;
	} else if (!cd_valid_day(day)) {
		control_reply_error(req, "day: expected YYYY-MM-DD");
		return;
	}
	if ((a = json_array()) == NULL)
		fatalx("cd_tls_counts: out of memory");
	if ((st = queue_tls_list(q, day, cd_one, a)) != QUEUE_OK) {
		json_decref(a);
		control_reply_error(req, "queue: %s", queue_strstatus(st));
		return;
	}
	control_reply(req, json_pack("{s:s, s:o}", "day", day, "counts", a));
}

void
control_delivery_register(struct control *ctl, struct queue *q)
{
	if (control_register(ctl, "tls.counts", cd_tls_counts, q) == -1)
		fatalx("control_delivery_register: tls.counts registered twice");
}
