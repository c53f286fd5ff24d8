/* control_status.c: the "status" command: version, uptime, listeners, counts. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "queue/queue.h"
#include "relay/config.h"
#include "relay/control.h"
#include "relay/control_status.h"

struct cs {
	const struct config	*cfg;
	struct queue		*q;
	void			(*sessions)(void *, uint64_t *, uint64_t *);
	json_t			*(*more)(void *);
	void			*arg;
	uint64_t		 start_ms;	/* monotonic */
	time_t			 started;	/* wall clock */
};

static json_t *
cs_listeners(const struct config *cfg)
{
	json_t	*a = json_array();
	char	 buf[NETADDR_STRLEN];
	size_t	 i;

	if (a == NULL)
		fatalx("cs_listeners: out of memory");
	for (i = 0; i < cfg->nlisten; i++) {
		netaddr_format((const struct sockaddr *)&cfg->listen[i].ss, buf, sizeof(buf));
		json_array_append_new(a, json_string(buf));
	}
	return a;
}

static void
cs_status(struct control_request *req, const json_t *args, void *arg)
{
	struct cs		*cs = arg;
	struct queue_counts	 qc;
	enum queue_status	 st;
	uint64_t		 now = 0, total = 0;
	json_t			*o, *d;

	if ((st = queue_counts(cs->q, &qc)) != QUEUE_OK) {
		control_reply_error(req, "queue: %s", queue_strstatus(st));
		return;
	}
	if (cs->sessions != NULL)
		cs->sessions(cs->arg, &now, &total);
	o = json_pack("{s:s, s:I, s:I, s:I, s:s, s:o, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I}}",
	    "version", PACKAGE_VERSION, "pid", (json_int_t)getpid(),
	    "started", (json_int_t)cs->started,
	    "uptime", (json_int_t)((strutil_now_ms() - cs->start_ms) / 1000),
	    "hostname", cs->cfg->hostname != NULL ? cs->cfg->hostname : "",
	    "listen", cs_listeners(cs->cfg),
	    "queue", "messages", (json_int_t)qc.messages,
	    "recipients_pending", (json_int_t)qc.recipients_pending,
	    "held", (json_int_t)qc.held, "deferred", (json_int_t)qc.deferred,
	    "sessions", "current", (json_int_t)now, "total", (json_int_t)total);
	if (o == NULL)
		fatalx("cs_status: json_pack failed");
	if (cs->more != NULL && (d = cs->more(cs->arg)) != NULL) {
		if (json_object_update(o, d) == -1)
			fatalx("cs_status: json_object_update failed");
		json_decref(d);
	}
	control_reply(req, o);
}

void
control_status_register(struct control *ctl, const struct config *cfg, struct queue *q,
    void (*sessions)(void *, uint64_t *, uint64_t *), void *arg)
{
	control_status_register_ext(ctl, cfg, q, sessions, NULL, arg);
}

void
control_status_register_ext(struct control *ctl, const struct config *cfg, struct queue *q,
    void (*sessions)(void *, uint64_t *, uint64_t *), json_t *(*more)(void *), void *arg)
{
	struct cs *cs = xcalloc(1, sizeof(*cs));

	cs->more = more;
	cs->cfg = cfg;
	cs->q = q;
	cs->sessions = sessions;
	cs->arg = arg;
	cs->start_ms = strutil_now_ms();
	cs->started = time(NULL);
	if (control_register(ctl, "status", cs_status, cs) == -1)
		fatalx("control_status_register: status registered twice");
	control_adopt(ctl, cs);
}
