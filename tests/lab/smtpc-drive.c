/*
 * smtpc-drive: the outbound SMTP client (relay/smtp_client.h) run by hand
 * or by the lab tests. Connects to one address with a TLS mode, sends
 * messages, and prints every outcome as key=value lines on stdout:
 *
 *   conn=1 relay=mx1.d.test[127.0.0.2]:2525 mode=verify status=ok ...
 *   msg=1 conn=1 mail=ok delivered=1 data_sent=yes repairs=0
 *   rcpt=ok@d.test msg=1 kind=ok code=250 enhanced=2.0.0 text="..."
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "relay/smtp_client.h"

static const char usage_text[] =
"usage: smtpc-drive [-v8uPR] [-m MODE] [-2 MODE] [-H MXHOST] [-c CAFILE] [-n HELO]\n"
"           [-f FROM] [-r RCPT]... [-b BODYFILE] [-s SIZE] [-k MESSAGES]\n"
"           [-C CONNECTIONS] [-t TIMEOUT_MS] [-M SESSIONS] ADDR:PORT\n"
"  -m  plaintext, opportunistic, testing or verify (default verify)\n"
"  -H  the MX host name for SNI and the certificate check (default mx1.d.test)\n"
"  -c  CA bundle (default: the system store)\n"
"  -8  8-bit body (BODY=8BITMIME), -u SMTPUTF8, -s declared size\n"
"  -P  never pipeline; -R reconnect in plaintext when the outcome asks for it\n"
"  -k  messages per connection; -C connections one after another (resumption)\n"
"  -2  the mode of the connections after the first (default: -m)\n"
"  -t  every timeout in ms\n"
"  -M  open N sessions at once, hold them all ready, print the memory they take\n";

struct drive {
	struct event_base	*base;
	struct tls_client	*tls;
	struct smtpc_params	 params;
	struct netaddr_endpoint	 ep;
	const char		*mx;
	enum smtpc_tls_mode	 mode, mode2;	/* first connection, later ones (-2) */
	int			 have_mode2;
	struct smtpc_message	 msg;
	const char		*rcpts[64];
	size_t			 nrcpt;
	const char		*ca, *bodyfile;
	int			 verbose;
	int			 retry;
	int			 nconn, conns;	/* started, wanted */
	int			 nmsg, msgs;	/* sent on this connection, wanted */
	int			 msgno;
	/* -M: sessions held open together to measure their memory */
	struct smtpc_session	**held;
	int			 nheld, nsettled, hold;
	long			 rss_before;
};

/* VmRSS of this process in KiB, or -1 */
static long
rss_kb(void)
{
	FILE	*f;
	char	 line[256];
	long	 kb = -1;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void	drive_on_ready(struct smtpc_session *, const struct smtpc_outcome *, void *);
static void	hold_settled(struct drive *, struct smtpc_session *, const struct smtpc_outcome *);

static void
start(struct drive *d, enum smtpc_tls_mode mode)
{
	d->nconn++;
	d->nmsg = 0;
	smtpc_connect(d->base, d->tls, &d->params, (struct sockaddr *)&d->ep.ss, d->ep.len,
	    d->mx, mode, drive_on_ready, d);
}

static void
print_status(const char *prefix, const struct smtpc_status *st)
{
	printf("%s kind=%s code=%d enhanced=%s local=%s text=\"%s\"\n", prefix,
	    smtpc_kind_name(st->kind), st->code, st->enhanced[0] ? st->enhanced : "-",
	    st->local ? "yes" : "no", st->text);
}

/* An address for one output line: control octets as \xNN. */
static void
printable(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in != '\0' && o + 5 < len; in++) {
		if ((unsigned char)*in < 0x20 || *in == 0x7f)
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", (unsigned char)*in);
		else
			out[o++] = *in;
	}
	out[o] = '\0';
}

static void
next(struct drive *d)
{
	if (d->nconn < d->conns)
		start(d, d->have_mode2 ? d->mode2 : d->mode);
}

static void
drive_on_sent(struct smtpc_session *s, const struct smtpc_result *res, void *arg)
{
	struct drive	*d = arg;
	char		 prefix[400], addr[300];
	size_t		 i;

	d->nmsg++;
	d->msgno++;
	snprintf(prefix, sizeof(prefix), "msg=%d conn=%d delivered=%zu data_sent=%s repairs=%llu "
	    "mail=%s", d->msgno, d->nconn, res->ndelivered, res->data_sent ? "yes" : "no",
	    (unsigned long long)res->repairs, smtpc_kind_name(res->mail.kind));
	print_status(prefix, &res->mail);
	for (i = 0; i < res->nrcpts; i++) {
		printable(res->rcpts[i].rcpt, addr, sizeof(addr));
		snprintf(prefix, sizeof(prefix), "rcpt=%s msg=%d accepted=%s", addr,
		    d->msgno, res->rcpts[i].accepted ? "yes" : "no");
		print_status(prefix, &res->rcpts[i].status);
	}
	fflush(stdout);
	if (d->nmsg < d->msgs && smtpc_usable(s)) {
		if (smtpc_send(s, &d->msg, drive_on_sent, d) == -1)
			printf("error=send-refused\n");
		return;
	}
	if (!smtpc_usable(s))
		printf("conn=%d closed status=\"%s %s\"\n", d->nconn,
		    smtpc_outcome(s)->status.enhanced, smtpc_outcome(s)->status.text);
	smtpc_quit(s);
	next(d);
}

static void
drive_on_ready(struct smtpc_session *s, const struct smtpc_outcome *o, void *arg)
{
	struct drive	*d = arg;
	char		 caps[160], prefix[1200];

	smtpc_caps_format(&o->caps, caps, sizeof(caps));
	snprintf(prefix, sizeof(prefix), "conn=%d relay=%s local_addr=%s mode=%s esmtp=%s starttls_offered=%s "
	    "tls=%s cipher=%s verified=%s resumed=%s tls_result=%s tls_detail=\"%s\" "
	    "retry_plaintext=%s caps=\"%s\" status=%s", d->nconn, o->relay,
	    o->local_addr[0] ? o->local_addr : "-",
	    smtpc_mode_name(o->mode), o->esmtp ? "yes" : "no",
	    o->starttls_offered ? "yes" : "no", o->tls ? o->tls_version : "none",
	    o->tls ? o->tls_cipher : "-", o->verified ? "yes" : "no",
	    o->resumed ? "yes" : "no",
	    o->tls_result == TLS_CLIENT_OK ? "none" : tls_client_result_name(o->tls_result),
	    o->tls_detail, o->retry_plaintext ? "yes" : "no", caps, smtpc_kind_name(o->status.kind));
	if (!d->hold || o->status.kind != SMTPC_OK)
		print_status(prefix, &o->status);
	fflush(stdout);
	if (d->hold) {
		hold_settled(d, s, o);
		return;
	}
	if (o->status.kind != SMTPC_OK) {
		int retry = o->retry_plaintext && d->retry && o->mode != SMTPC_TLS_PLAINTEXT;

		smtpc_free(s);
		if (retry) {
			printf("retry=plaintext conn=%d\n", d->nconn + 1);
			d->conns++;
			start(d, SMTPC_TLS_PLAINTEXT);
		} else
			next(d);
		return;
	}
	if (d->msgs == 0) {
		smtpc_quit(s);
		next(d);
		return;
	}
	if (smtpc_send(s, &d->msg, drive_on_sent, d) == -1)
		printf("error=send-refused\n");
}

/* -M: every session is ready (or failed): measure, then QUIT them all. */
static void
hold_settled(struct drive *d, struct smtpc_session *s, const struct smtpc_outcome *o)
{
	long	rss;
	int	i;

	if (o->status.kind == SMTPC_OK)
		d->held[d->nheld++] = s;
	else
		smtpc_free(s);
	if (++d->nsettled < d->hold)
		return;
	rss = rss_kb();
	printf("memory sessions=%d ready=%d rss_before_kb=%ld rss_after_kb=%ld "
	    "per_session_bytes=%ld\n", d->hold, d->nheld, d->rss_before, rss,
	    d->nheld > 0 ? (rss - d->rss_before) * 1024 / d->nheld : 0);
	fflush(stdout);
	for (i = 0; i < d->nheld; i++)
		smtpc_quit(d->held[i]);
	d->nheld = 0;
}

static int
parse_mode(const char *s, enum smtpc_tls_mode *m)
{
	static const enum smtpc_tls_mode all[] = { SMTPC_TLS_PLAINTEXT,
	    SMTPC_TLS_OPPORTUNISTIC, SMTPC_TLS_TESTING, SMTPC_TLS_VERIFY };
	size_t i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, smtpc_mode_name(all[i])) == 0) {
			*m = all[i];
			return 0;
		}
	return -1;
}

static int
read_body(const char *path, struct evbuffer *b)
{
	FILE	*f;
	char	 buf[8192];
	size_t	 n;

	if (path == NULL)
		return evbuffer_add_printf(b, "Received: from lab by smtpc-drive\r\n"
		    "Subject: smtpc-drive\r\n\r\nhello\r\n") < 0 ? -1 : 0;
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (evbuffer_add(b, buf, n) != 0)
			break;
	fclose(f);
	return 0;
}

/* Options into d; 0, or the exit status for bad usage. */
static int
parse_args(struct drive *d, int argc, char *argv[])
{
	uint64_t	v;
	size_t		i;
	int		ch;

	while ((ch = getopt(argc, argv, "2:8b:C:c:f:H:hk:M:m:n:PRr:s:t:uv")) != -1) {
		switch (ch) {
		case '8': d->msg.flags |= SMTPC_MSG_8BIT; break;
		case 'b': d->bodyfile = optarg; break;
		case 'C': d->conns = atoi(optarg); break;
		case 'c': d->ca = optarg; break;
		case 'f': d->msg.sender = optarg; break;
		case 'H': d->mx = optarg; break;
		case 'k': d->msgs = atoi(optarg); break;
		case 'M': d->hold = atoi(optarg); break;
		case '2':
			d->have_mode2 = 1;
			if (parse_mode(optarg, &d->mode2) == -1) {
				fprintf(stderr, "%s", usage_text);
				return 64;
			}
			break;
		case 'm':
			if (parse_mode(optarg, &d->mode) == -1) {
				fprintf(stderr, "%s", usage_text);
				return 64;
			}
			break;
		case 'n': d->params.helo_name = optarg; break;
		case 'P': d->params.no_pipelining = 1; break;
		case 'R': d->retry = 1; break;
		case 'r':
			if (d->nrcpt < sizeof(d->rcpts) / sizeof(d->rcpts[0]))
				d->rcpts[d->nrcpt++] = optarg;
			break;
		case 's':
			if (strutil_parse_uint(optarg, &v) == -1)
				return 64;
			d->msg.size = v;
			break;
		case 't':
			for (i = 0; i < SMTPC_TO_COUNT; i++)
				d->params.timeout_ms[i] = (uint32_t)atoi(optarg);
			break;
		case 'u': d->msg.flags |= SMTPC_MSG_SMTPUTF8; break;
		case 'v': d->verbose = 1; break;
		case 'h':
			printf("%s", usage_text);
			exit(0);
		default:
			fprintf(stderr, "%s", usage_text);
			return 64;
		}
	}
	if (argc - optind != 1 || netaddr_endpoint_parse(argv[optind], 25, &d->ep) == -1) {
		fprintf(stderr, "%s", usage_text);
		return 64;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct drive	 d;
	char		 err[256];
	size_t		 i;
	int		 ch;

	memset(&d, 0, sizeof(d));
	smtpc_params_default(&d.params);
	d.params.helo_name = "relay.lab.test";
	d.mx = "mx1.d.test";
	d.mode = SMTPC_TLS_VERIFY;
	d.msg.sender = "sender@e.test";
	d.msgs = 1;
	d.conns = 1;
	if ((ch = parse_args(&d, argc, argv)) != 0)
		return ch;
	log_init("smtpc-drive", LOG_DEST_STDERR, d.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (d.nrcpt == 0)
		d.rcpts[d.nrcpt++] = "ok@d.test";
	d.msg.rcpts = d.rcpts;
	d.msg.nrcpts = d.nrcpt;
	if ((d.msg.body = evbuffer_new()) == NULL || read_body(d.bodyfile, d.msg.body) == -1) {
		fprintf(stderr, "smtpc-drive: cannot read %s: %s\n", d.bodyfile, strerror(errno));
		return 66;
	}
	if ((d.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((d.tls = tls_client_new(d.ca, 64, err, sizeof(err))) == NULL) {
		fprintf(stderr, "smtpc-drive: %s\n", err);
		return 78;
	}
	if (d.hold > 0) {
		d.held = calloc((size_t)d.hold, sizeof(*d.held));
		if (d.held == NULL)
			fatal("calloc");
		d.rss_before = rss_kb();
		d.conns = d.hold;
		for (i = 0; i < (size_t)d.hold; i++)
			start(&d, d.mode);
	} else
		start(&d, d.mode);
	if (event_base_dispatch(d.base) == -1)
		fatalx("event_base_dispatch");
	printf("done connections=%d messages=%d cached_sessions=%zu\n", d.nconn, d.msgno,
	    tls_client_cache_size(d.tls));
	tls_client_free(d.tls);
	free(d.held);
	evbuffer_free(d.msg.body);
	event_base_free(d.base);
	return 0;
}
