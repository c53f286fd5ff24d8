/*
 * fetch.c: libcurl multi on libevent for the MTA-STS policy fetch (S6-S10).
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
 * to wake it (CURLMOPT_TIMERFUNCTION); we call curl_multi_socket_action and
 * collect finished transfers with curl_multi_info_read.
 */
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "policy/fetch.h"

#define FETCH_TIMEOUT_MAX	60	/* S10 */

struct transfer {
	TAILQ_ENTRY(transfer)	 entry;
	struct fetcher		*f;
	CURL			*easy;
	struct curl_slist	*resolve;
	char			 url[300];
	char			*body;
	size_t			 len;
	int			 too_big;
	char			 errbuf[CURL_ERROR_SIZE];
	fetch_on_policy		 cb;
	void			*arg;
};

struct fetcher {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	char			*cainfo;
	unsigned		 port;
	unsigned		 timeout_s;
	TAILQ_HEAD(, transfer)	 transfers;
};

static size_t
fetch_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct transfer	*t = arg;
	size_t		 n = size * nmemb;

	/* S10: a hard cap, checked before the body is complete */
	if (n > STS_POLICY_MAX_BODY - t->len) {
		t->too_big = 1;
		return 0;	/* aborts the transfer: CURLE_WRITE_ERROR */
	}
	memcpy(t->body + t->len, data, n);
	t->len += n;
	t->body[t->len] = '\0';
	return n;
}

static void
transfer_free(struct transfer *t)
{
	if (t->easy != NULL) {
		curl_multi_remove_handle(t->f->multi, t->easy);
		curl_easy_cleanup(t->easy);
	}
	curl_slist_free_all(t->resolve);
	free(t->body);
	free(t);
}

/* The transfer is done: classify, check the media type, parse, report. */
static void
transfer_finish(struct transfer *t, CURLcode code)
{
	struct fetch_outcome	 o;
	struct sts_policy	 pol;
	char			*ct = NULL, perr[256];
	long			 http = 0;

	memset(&o, 0, sizeof(o));
	memset(&pol, 0, sizeof(pol));
	if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &http) != CURLE_OK)
		http = 0;
	if (curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK)
		ct = NULL;
	o.url = t->url;
	o.http_status = http;
	o.content_type = ct;
	o.size = t->len;
	o.curl_error = code == CURLE_OK ? "" :
	    t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(code);
	o.status = fetch_check_classify((int)code, http, t->too_big, &o.reason);
	if (o.status == FETCH_OK && !fetch_check_content_type(ct)) {
		o.status = FETCH_POLICY_INVALID;	/* S9, Ours */
		o.reason = "Content-Type is not text/plain (S9)";
	}
	if (o.status == FETCH_OK) {
		if (sts_policy_parse(t->body, t->len, &pol, perr, sizeof(perr)) == -1) {
			o.status = FETCH_POLICY_INVALID;	/* S17 */
			o.reason = perr;
		} else {
			o.policy = &pol;
			o.body = t->body;
		}
	}
	log_debug("fetch: %s: %s http=%ld type=%s size=%zu%s%s", t->url,
	    o.status == FETCH_OK ? "ok" : fetch_check_result_type(o.status), http,
	    ct != NULL ? ct : "-", t->len, o.status == FETCH_OK ? "" : " ",
	    o.status == FETCH_OK ? "" : o.reason);
	TAILQ_REMOVE(&t->f->transfers, t, entry);
	t->cb(&o, t->arg);
	sts_policy_free(&pol);
	transfer_free(t);
}

static void
fetch_check_done(struct fetcher *f)
{
	struct transfer	*t;
	CURLMsg		*msg;
	int		 left;

	while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		t = NULL;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&t) != CURLE_OK || t == NULL)
			fatalx("fetch_check_done: transfer without its context");
		transfer_finish(t, msg->data.result);
	}
}

static void
fetch_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fetcher	*f = arg;
	int		 running;

	if (curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running) != CURLM_OK)
		log_warnx("fetch: curl_multi_socket_action failed");
	fetch_check_done(f);
}

static void
fetch_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct fetcher	*f = arg;
	int		 running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	if (curl_multi_socket_action(f->multi, fd, flags, &running) != CURLM_OK)
		log_warnx("fetch: curl_multi_socket_action failed");
	fetch_check_done(f);
}

/* CURLMOPT_TIMERFUNCTION: only arm the timer; never act from here. */
static int
fetch_on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct fetcher	*f = arg;
	struct timeval	 tv;

	if (timeout_ms < 0) {
		evtimer_del(f->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(f->timer, &tv) == -1 ? -1 : 0;
}

/* CURLMOPT_SOCKETFUNCTION: one event per socket, kept with curl_multi_assign. */
static int
fetch_on_curl_socket(CURL *easy, curl_socket_t s, int what, void *arg,
    void *sockp)
{
	struct fetcher	*f = arg;
	struct event	*ev = sockp;
	short		 flags;

	if (ev != NULL) {
		event_free(ev);
		ev = NULL;
	}
	if (what == CURL_POLL_REMOVE) {
		curl_multi_assign(f->multi, s, NULL);
		return 0;
	}
	flags = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if ((ev = event_new(f->base, s, flags, fetch_on_io, f)) == NULL ||
	    event_add(ev, NULL) == -1) {
		log_warnx("fetch: cannot watch a socket");
		if (ev != NULL)
			event_free(ev);
		curl_multi_assign(f->multi, s, NULL);
		return -1;
	}
	curl_multi_assign(f->multi, s, ev);
	return 0;
}

/* "mta-sts.d.test:443:127.0.0.1,[::1]" for CURLOPT_RESOLVE. */
static int
build_resolve(struct transfer *t, const char *host, unsigned port,
    const struct sockaddr_storage *addrs, size_t naddrs)
{
	char	 entry[1200], a[NETADDR_STRLEN];
	size_t	 i, len;

	len = (size_t)snprintf(entry, sizeof(entry), "%s:%u:", host, port);
	for (i = 0; i < naddrs && i < 16; i++) {
		netaddr_format_host((const struct sockaddr *)&addrs[i], a, sizeof(a));
		len += (size_t)snprintf(entry + len, sizeof(entry) - len,
		    addrs[i].ss_family == AF_INET6 ? "%s[%s]" : "%s%s",
		    i > 0 ? "," : "", a);
		if (len >= sizeof(entry))
			return -1;
	}
	if ((t->resolve = curl_slist_append(NULL, entry)) == NULL)
		return -1;
	return 0;
}

#define SETOPT(t, opt, val) (curl_easy_setopt((t)->easy, (opt), (val)) != CURLE_OK)

static int
transfer_setup(struct fetcher *f, struct transfer *t)
{
	long	tmo = (long)f->timeout_s * 1000;

	if (SETOPT(t, CURLOPT_URL, t->url) ||
	    SETOPT(t, CURLOPT_PROTOCOLS_STR, "https") ||
	    SETOPT(t, CURLOPT_FOLLOWLOCATION, 0L) ||		/* S8 */
	    SETOPT(t, CURLOPT_RESOLVE, t->resolve) ||
	    SETOPT(t, CURLOPT_SSL_VERIFYPEER, 1L) ||		/* S7 */
	    SETOPT(t, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    SETOPT(t, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) ||
	    SETOPT(t, CURLOPT_TIMEOUT_MS, tmo) ||		/* S10 */
	    SETOPT(t, CURLOPT_CONNECTTIMEOUT_MS, tmo) ||
	    SETOPT(t, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)STS_POLICY_MAX_BODY) ||
	    SETOPT(t, CURLOPT_WRITEFUNCTION, fetch_on_body) ||
	    SETOPT(t, CURLOPT_WRITEDATA, t) ||
	    SETOPT(t, CURLOPT_ERRORBUFFER, t->errbuf) ||
	    SETOPT(t, CURLOPT_PRIVATE, (char *)t) ||
	    SETOPT(t, CURLOPT_NOSIGNAL, 1L) ||
	    SETOPT(t, CURLOPT_FRESH_CONNECT, 1L) ||
	    SETOPT(t, CURLOPT_FORBID_REUSE, 1L) ||
	    SETOPT(t, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION))
		return -1;
	if (f->cainfo != NULL && SETOPT(t, CURLOPT_CAINFO, f->cainfo))
		return -1;
	return 0;
}

int
fetch_query_policy(struct fetcher *f, const char *domain,
    const struct sockaddr_storage *addrs, size_t naddrs, fetch_on_policy cb,
    void *arg)
{
	struct transfer	*t;
	char		 host[300];
	unsigned	 port = f->port;

	if (naddrs == 0 || cb == NULL ||
	    fetch_check_host(domain, host, sizeof(host)) == -1) {
		log_warnx("fetch: %s: no address or bad name", domain);
		return -1;
	}
	t = xcalloc(1, sizeof(*t));
	t->f = f;
	t->cb = cb;
	t->arg = arg;
	t->body = xmalloc(STS_POLICY_MAX_BODY + 1);
	t->body[0] = '\0';
	if (fetch_check_url(domain, port, t->url, sizeof(t->url)) == -1 ||
	    build_resolve(t, host, port, addrs, naddrs) == -1 ||
	    (t->easy = curl_easy_init()) == NULL || transfer_setup(f, t) == -1) {
		log_warnx("fetch: %s: cannot set up the transfer", domain);
		transfer_free(t);
		return -1;
	}
	if (curl_multi_add_handle(f->multi, t->easy) != CURLM_OK) {
		log_warnx("fetch: %s: curl_multi_add_handle failed", domain);
		curl_easy_cleanup(t->easy);
		t->easy = NULL;
		transfer_free(t);
		return -1;
	}
	TAILQ_INSERT_TAIL(&f->transfers, t, entry);
	return 0;
}

struct fetcher *
fetch_new(struct event_base *base, const struct fetch_params *p)
{
	struct fetcher	*f;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("fetch: curl_global_init failed");
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->base = base;
	f->port = p->port == 0 ? 443 : p->port;
	f->timeout_s = p->timeout_s == 0 || p->timeout_s > FETCH_TIMEOUT_MAX ?
	    FETCH_TIMEOUT_MAX : p->timeout_s;
	/* NULL or "" (the configuration's "empty = system store"): system */
	f->cainfo = p->cainfo != NULL && p->cainfo[0] != '\0' ?
	    xstrdup(p->cainfo) : NULL;
	TAILQ_INIT(&f->transfers);
	if ((f->timer = evtimer_new(base, fetch_on_timer, f)) == NULL)
		fatalx("fetch_new: evtimer_new failed");
	if ((f->multi = curl_multi_init()) == NULL ||
	    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION,
	    fetch_on_curl_socket) != CURLM_OK ||
	    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f) != CURLM_OK ||
	    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION,
	    fetch_on_curl_timer) != CURLM_OK ||
	    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f) != CURLM_OK) {
		log_warnx("fetch: cannot set up libcurl multi");
		fetch_free(f);
		return NULL;
	}
	return f;
}

void
fetch_free(struct fetcher *f)
{
	struct transfer	*t;

	if (f == NULL)
		return;
	while ((t = TAILQ_FIRST(&f->transfers)) != NULL) {
		TAILQ_REMOVE(&f->transfers, t, entry);
		transfer_free(t);	/* removing the handle closes its sockets */
	}
	if (f->multi != NULL)
		curl_multi_cleanup(f->multi);
	event_free(f->timer);
	free(f->cainfo);
	free(f);
	curl_global_cleanup();
}
