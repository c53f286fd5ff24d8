/* lab_ev.c: checked libevent calls for the lab programs. */
#include <stddef.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "tests/lab/lab_ev.h"

void
lab_ev_drain(struct evbuffer *buf)
{
	if (evbuffer_drain(buf, evbuffer_get_length(buf)) == -1)
		fatalx("lab_ev_drain: evbuffer_drain failed");
}

void
lab_ev_read_timeout(struct bufferevent *bev, int seconds)
{
	struct timeval	tv = { seconds, 0 };

	if (bufferevent_set_timeouts(bev, seconds > 0 ? &tv : NULL, NULL) == -1)
		fatalx("lab_ev_read_timeout: bufferevent_set_timeouts failed");
}

void
lab_ev_disable_read(struct bufferevent *bev)
{
	if (bufferevent_disable(bev, EV_READ) == -1)
		fatalx("lab_ev_disable_read: bufferevent_disable failed");
}

void
lab_ev_loopexit(struct event_base *base)
{
	if (event_base_loopexit(base, NULL) == -1)
		fatalx("lab_ev_loopexit: event_base_loopexit failed");
}
