/*
 * config_key.c: every configuration key is one row of keys[]: its name,
 * type, field of struct config, bounds, built-in default and one line of
 * help. Parsing, defaults, printing and the documentation helpers all read
 * the same row, so a key cannot be documented one way and parsed another.
 * No I/O here except config_print()'s stream.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/config.h"
#include "relay/config_key.h"

enum ck_type {
	CK_STRING,
	CK_BOOL,
	CK_UINT,
	CK_SIZE,
	CK_DURATION,
	CK_ENDPOINTS,
	CK_CIDRS,
	CK_DURATIONS,
	CK_LOGDEST,
	CK_LOGLEVEL
};

#define CK_EMPTY	0x01	/* may be empty */
#define CK_DOMAIN	0x02	/* a host name */
#define CK_ABSPATH	0x04	/* an absolute path */

#define CK_STRMAX	160	/* a whole "key = value" line stays within inih's 200 */

struct ck {
	const char	*name;
	enum ck_type	 type;
	int		 flags;
	size_t		 off;		/* the field */
	size_t		 noff;		/* a list's count field */
	size_t		 cap;		/* a list's capacity */
	uint64_t	 min, max;	/* numbers, or each item of a list */
	int		 port;		/* endpoint lists: port when none is given */
	const char	*def;
	const char	*help;
};

#define FLD(f)	offsetof(struct config, f), 0, 0
#define LST(f)	offsetof(struct config, f), offsetof(struct config, n##f), \
		(sizeof(((struct config *)0)->f) / sizeof(((struct config *)0)->f[0]))
#define DAY	86400ULL

static const struct ck keys[] = {
	{ "hostname", CK_STRING, CK_EMPTY | CK_DOMAIN, FLD(hostname), 0, 0, 0, "",
	  "name used in the greeting, EHLO and Received; empty = the system's host name" },
	{ "listen", CK_ENDPOINTS, 0, LST(listen), 0, 0, 25, "127.0.0.1:2525",
	  "numeric addresses to accept mail on (port 25 when none is given)" },
	{ "client_networks", CK_CIDRS, CK_EMPTY, LST(client_networks), 0, 0, 0,
	  "127.0.0.0/8 ::1/128", "clients in these networks may relay without AUTH (H5)" },
	{ "smtp_auth", CK_BOOL, 0, FLD(smtp_auth), 0, 0, 0, "no",
	  "offer AUTH (after STARTTLS only); authenticated clients may relay" },
	{ "auth_credentials_file", CK_STRING, CK_EMPTY, FLD(auth_credentials_file), 0, 0, 0, "",
	  "file of user:$crypt-hash lines, needed when smtp_auth = yes" },
	{ "tls_cert_file", CK_STRING, CK_EMPTY, FLD(tls_cert_file), 0, 0, 0, "",
	  "PEM certificate chain for inbound STARTTLS; empty = no STARTTLS offered" },
	{ "tls_key_file", CK_STRING, CK_EMPTY, FLD(tls_key_file), 0, 0, 0, "",
	  "PEM private key of tls_cert_file" },
	{ "message_size_limit", CK_SIZE, 0, FLD(message_size_limit), 1024, 2ULL << 30, 0, "10m",
	  "largest message accepted, advertised with SIZE (H7)" },
	{ "recipient_limit", CK_UINT, 0, FLD(recipient_limit), 100, 100000, 0, "100",
	  "recipients per message; more get 452 4.5.3 (H6: at least 100)" },
	{ "max_connections", CK_UINT, 0, FLD(max_connections), 1, 100000, 0, "1000",
	  "inbound connections at once, all clients together" },
	{ "max_connections_per_client", CK_UINT, 0, FLD(max_connections_per_client), 1, 100000, 0,
	  "100", "inbound connections at once from one client address" },
	{ "max_received_headers", CK_UINT, 0, FLD(max_received_headers), 10, 1000, 0, "50",
	  "a message with more Received headers is refused as a mail loop (H10)" },
	{ "timeout_greeting", CK_DURATION, 0, FLD(timeout_greeting), 1, 3600, 0, "5m",
	  "how long a new client may stay silent before its first command" },
	{ "timeout_command", CK_DURATION, 0, FLD(timeout_command), 1, 3600, 0, "5m",
	  "how long to wait for the next command" },
	{ "timeout_data", CK_DURATION, 0, FLD(timeout_data), 1, 3600, 0, "5m",
	  "how long to wait for the next line of DATA" },
	{ "timeout_tls_handshake", CK_DURATION, 0, FLD(timeout_tls_handshake), 1, 600, 0, "1m",
	  "how long an inbound TLS handshake may take" },
	{ "max_errors", CK_UINT, 0, FLD(max_errors), 1, 1000, 0, "10",
	  "bad commands from a client before the relay says 421 and hangs up" },
	{ "ca_bundle", CK_STRING, CK_EMPTY, FLD(ca_bundle), 0, 0, 0, "",
	  "PEM file of trusted roots for MX and policy servers; empty = the system store" },
	{ "dns_servers", CK_ENDPOINTS, CK_EMPTY, LST(dns_servers), 0, 0, 53, "",
	  "numeric DNS servers (port 53 when none is given); empty = /etc/resolv.conf" },
	{ "delivery_port", CK_UINT, 0, FLD(delivery_port), 1, 65535, 0, "25",
	  "TCP port of the MX hosts mail is delivered to" },
	{ "policy_port", CK_UINT, 0, FLD(policy_port), 1, 65535, 0, "443",
	  "TCP port of the HTTPS servers MTA-STS policies are fetched from" },
	{ "policy_fetch_timeout", CK_DURATION, 0, FLD(policy_fetch_timeout), 1, 60, 0, "1m",
	  "time limit of one policy fetch (RFC 8461 S10: at most 60 s)" },
	{ "policy_recheck_interval", CK_DURATION, 0, FLD(policy_recheck_interval), 60, 7 * DAY, 0,
	  "1h", "how often the TXT record of a cached policy is checked for a new id" },
	{ "policy_txt_recheck", CK_DURATION, 0, FLD(policy_txt_recheck), 1, DAY, 0, "1m",
	  "how long a policy decision is reused before the TXT id is checked again in the "
	  "background, per domain as mail goes there (policy_recheck_interval re-checks "
	  "every cached policy, mail or not)" },
	{ "policy_tempfail_bound", CK_DURATION, 0, FLD(policy_tempfail_bound), 60, 30 * DAY, 0,
	  "1d", "how long a domain whose TXT lookup keeps failing is deferred before it counts as having no policy" },
	{ "policy_fetch_backoff", CK_DURATION, 0, FLD(policy_fetch_backoff), 300, 7 * DAY, 0,
	  "5m", "wait before a policy id whose fetch failed is fetched again (S11: at least 5m)" },
	{ "policy_fetch_concurrency", CK_UINT, 0, FLD(policy_fetch_concurrency), 1, 10000, 0,
	  "32", "policy lookups (TXT query, then the HTTPS fetch) in progress at once; "
	  "the others wait their turn" },
	{ "delivery_concurrency", CK_UINT, 0, FLD(delivery_concurrency), 0, 100000, 0, "100",
	  "deliveries (one message to one domain) in progress at once; 0 = queue only, deliver nothing" },
	{ "delivery_concurrency_per_domain", CK_UINT, 0, FLD(delivery_concurrency_per_domain),
	  1, 100000, 0, "10", "deliveries to one recipient domain in progress at once" },
	{ "delivery_idle_timeout", CK_DURATION, 0, FLD(delivery_idle_timeout), 0, 300, 0, "5s",
	  "how long a connection to an MX host is kept open for the next message; 0 = never" },
	{ "queue_lifetime", CK_DURATION, 0, FLD(queue_lifetime), 1, 90 * DAY, 0, "5d",
	  "how long a message may stay queued before it is bounced" },
	{ "retry_schedule", CK_DURATIONS, 0, LST(retry_schedule), 1, 7 * DAY, 0,
	  "5m 10m 20m 40m 1h 2h 4h", "waits between delivery attempts; the last one repeats" },
	{ "spool_directory", CK_STRING, CK_ABSPATH, FLD(spool_directory), 0, 0, 0,
	  LOCALSTATEDIR "/lib/stsrelay", "directory of the queue and policy cache databases" },
	{ "spool_commit_batch", CK_UINT, 0, FLD(spool_commit_batch), 0, 100000, 0, "0",
	  "most messages made durable by one log flush; 0 = no limit, 1 = one fsync per message" },
	{ "control_socket", CK_STRING, CK_ABSPATH, FLD(control_socket), 0, 0, 0,
	  RUNSTATEDIR "/stsrelay/control.sock", "UNIX socket stsrelayctl talks to" },
	{ "run_as", CK_STRING, CK_EMPTY, FLD(run_as), 0, 0, 0, "stsrelay",
	  "user to switch to when started as root; empty = stay who started it" },
	{ "pid_file", CK_STRING, CK_EMPTY | CK_ABSPATH, FLD(pid_file), 0, 0, 0, "",
	  "file to write the daemon's pid to; empty = none" },
	{ "log_destination", CK_LOGDEST, 0, FLD(log_destination), 0, 0, 0, "stderr",
	  "where logs go: stderr or syslog (facility mail)" },
	{ "log_level", CK_LOGLEVEL, 0, FLD(log_level), 0, 0, 0, "info",
	  "least important messages logged: error, warning, info or debug" },
};

_Static_assert(sizeof(keys) / sizeof(keys[0]) == CONFIG_NKEYS, "CONFIG_NKEYS");

#define FIELD(cfg, k, t)	((t *)(void *)((char *)(cfg) + (k)->off))
#define CFIELD(cfg, k, t)	((const t *)(const void *)((const char *)(cfg) + (k)->off))
#define COUNT(cfg, k)		((size_t *)(void *)((char *)(cfg) + (k)->noff))
#define CCOUNT(cfg, k)		((const size_t *)(const void *)((const char *)(cfg) + (k)->noff))

int
config_key_find(const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static const struct ck *
ck_get(int k)
{
	if (k < 0 || k >= CONFIG_NKEYS)
		fatalx("config_key: no key %d", k);
	return &keys[k];
}

const char *
config_key_name(int k)
{
	return ck_get(k)->name;
}

int
config_key_is_list(int k)
{
	enum ck_type t = ck_get(k)->type;

	return t == CK_ENDPOINTS || t == CK_CIDRS || t == CK_DURATIONS;
}

/* A number with its unit, as config_print() writes it: "10m", "5d". */
static void
ck_format_number(const struct ck *c, uint64_t v, char *buf, size_t len)
{
	static const char units[] = "gmk";
	int i;

	if (c->type == CK_DURATION || c->type == CK_DURATIONS) {
		strutil_format_duration(v, buf, len);
		return;
	}
	if (c->type == CK_SIZE && v != 0)
		for (i = 0; i < 3; i++)
			if (v % (1ULL << (10 * (3 - i))) == 0) {
				snprintf(buf, len, "%llu%c",
				    (unsigned long long)(v >> (10 * (3 - i))), units[i]);
				return;
			}
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* What a key accepts, for error messages and the documentation. */
void
config_key_accepts(int k, char *buf, size_t len)
{
	const struct ck	*c = ck_get(k);
	char		 lo[32], hi[32];

	ck_format_number(c, c->min, lo, sizeof(lo));
	ck_format_number(c, c->max, hi, sizeof(hi));
	switch (c->type) {
	case CK_STRING:
		snprintf(buf, len, "%s of at most %d characters%s",
		    c->flags & CK_ABSPATH ? "an absolute path" :
		    c->flags & CK_DOMAIN ? "a host name" : "a string", CK_STRMAX,
		    c->flags & CK_EMPTY ? ", or nothing" : "");
		break;
	case CK_BOOL:
		snprintf(buf, len, "yes or no");
		break;
	case CK_UINT:
		snprintf(buf, len, "a whole number from %s to %s", lo, hi);
		break;
	case CK_SIZE:
		snprintf(buf, len, "a size from %s to %s (bytes, or a number with k, m or g)",
		    lo, hi);
		break;
	case CK_DURATION:
		snprintf(buf, len, "a duration from %s to %s (seconds, or a number with "
		    "s, m, h, d or w)", lo, hi);
		break;
	case CK_ENDPOINTS:
		snprintf(buf, len, "%sup to %zu numeric addresses like 127.0.0.1:%d or "
		    "[::1]:%d", c->flags & CK_EMPTY ? "nothing, or " : "", c->cap,
		    c->port, c->port);
		break;
	case CK_CIDRS:
		snprintf(buf, len, "%sup to %zu networks like 10.0.0.0/8 or 2001:db8::/32",
		    c->flags & CK_EMPTY ? "nothing, or " : "", c->cap);
		break;
	case CK_DURATIONS:
		snprintf(buf, len, "up to %zu durations from %s to %s like 5m 1h 1d",
		    c->cap, lo, hi);
		break;
	case CK_LOGDEST:
		snprintf(buf, len, "stderr or syslog");
		break;
	case CK_LOGLEVEL:
		snprintf(buf, len, "error, warning, info or debug");
		break;
	}
}

static int
ck_bad(const struct ck *c, const char *v, char *msg, size_t len, const char *why)
{
	char acc[160];

	config_key_accepts((int)(c - keys), acc, sizeof(acc));
	snprintf(msg, len, "%s: \"%.80s\" %s; expected %s", c->name, v, why, acc);
	return -1;
}

static int
ck_set_string(struct config *cfg, const struct ck *c, const char *v, char *msg, size_t len)
{
	char		**field = FIELD(cfg, c, char *);
	const char	 *p;

	if (strlen(v) > CK_STRMAX)
		return ck_bad(c, v, msg, len, "is too long");
	if (*v == '\0' && !(c->flags & CK_EMPTY))
		return ck_bad(c, v, msg, len, "is empty");
	for (p = v; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return ck_bad(c, v, msg, len, "has a control character");
		if ((c->flags & CK_DOMAIN) && !(*p == '-' || *p == '.' ||
		    (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
			return ck_bad(c, v, msg, len, "is not a host name");
	}
	/* inih reads ';' after a blank as a comment: config_print() could not say it */
	if (*v == ';' || strstr(v, " ;") != NULL || strstr(v, "\t;") != NULL)
		return ck_bad(c, v, msg, len, "would read back as a comment");
	if ((c->flags & CK_ABSPATH) && *v != '\0' && *v != '/')
		return ck_bad(c, v, msg, len, "is not an absolute path");
	free(*field);
	*field = xstrdup(v);
	return 0;
}

static int
ck_set_number(struct config *cfg, const struct ck *c, const char *v, char *msg, size_t len)
{
	uint64_t	n;
	int		r;

	if (c->type == CK_SIZE)
		r = strutil_parse_size(v, &n);
	else if (c->type == CK_DURATION)
		r = strutil_parse_duration(v, &n);
	else
		r = strutil_parse_uint(v, &n);
	if (r != 0)
		return ck_bad(c, v, msg, len, c->type == CK_SIZE ? "is not a size" :
		    c->type == CK_DURATION ? "is not a duration" : "is not a number");
	if (n < c->min || n > c->max)
		return ck_bad(c, v, msg, len, "is out of range");
	*FIELD(cfg, c, uint64_t) = n;
	return 0;
}

struct ck_item {
	struct config		*cfg;
	const struct ck		*c;
	const char		*bad;	/* the item that failed */
	const char		*why;
	char			 item[96];
};

static int
ck_add_item(const char *s, void *arg)
{
	struct ck_item	*it = arg;
	const struct ck	*c = it->c;
	size_t		*n = COUNT(it->cfg, c);
	uint64_t	 d;

	strutil_lcpy(it->item, s, sizeof(it->item));
	if (*n >= c->cap) {
		it->why = "is one item too many";
		return -1;
	}
	switch (c->type) {
	case CK_ENDPOINTS:
		if (netaddr_endpoint_parse(s, c->port, &FIELD(it->cfg, c,
		    struct netaddr_endpoint)[*n]) != 0) {
			it->why = "is not a numeric address with an optional port";
			return -1;
		}
		break;
	case CK_CIDRS:
		if (netaddr_cidr_parse(s, &FIELD(it->cfg, c, struct netaddr_cidr)[*n]) != 0) {
			it->why = "is not a network";
			return -1;
		}
		break;
	default:
		if (strutil_parse_duration(s, &d) != 0 || d < c->min || d > c->max) {
			it->why = "is not a duration in range";
			return -1;
		}
		FIELD(it->cfg, c, uint64_t)[*n] = d;
		break;
	}
	(*n)++;
	return 0;
}

static int
ck_set_list(struct config *cfg, const struct ck *c, const char *v, int append,
    char *msg, size_t len)
{
	struct ck_item it;

	memset(&it, 0, sizeof(it));
	it.cfg = cfg;
	it.c = c;
	if (!append)
		*COUNT(cfg, c) = 0;
	if (strutil_split(v, ck_add_item, &it) != 0)
		return ck_bad(c, it.item, msg, len, it.why != NULL ? it.why :
		    "is too long");
	return 0;
}

int
config_key_set(struct config *cfg, int k, const char *v, int append, char *msg, size_t len)
{
	const struct ck	*c = ck_get(k);
	enum log_level	 lvl;

	switch (c->type) {
	case CK_STRING:
		return ck_set_string(cfg, c, v, msg, len);
	case CK_BOOL:
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
			return ck_bad(c, v, msg, len, "is not a yes/no value");
		*FIELD(cfg, c, int) = strcmp(v, "yes") == 0;
		return 0;
	case CK_UINT:
	case CK_SIZE:
	case CK_DURATION:
		return ck_set_number(cfg, c, v, msg, len);
	case CK_ENDPOINTS:
	case CK_CIDRS:
	case CK_DURATIONS:
		return ck_set_list(cfg, c, v, append, msg, len);
	case CK_LOGDEST:
		if (strcmp(v, "stderr") != 0 && strcmp(v, "syslog") != 0)
			return ck_bad(c, v, msg, len, "is not a log destination");
		*FIELD(cfg, c, enum log_dest) = strcmp(v, "syslog") == 0 ?
		    LOG_DEST_SYSLOG : LOG_DEST_STDERR;
		return 0;
	case CK_LOGLEVEL:
		if (log_level_parse(v, &lvl) != 0)
			return ck_bad(c, v, msg, len, "is not a log level");
		*FIELD(cfg, c, enum log_level) = lvl;
		return 0;
	}
	fatalx("config_key_set: bad type %d", c->type);
}

int
config_key_check(const struct config *cfg, int k, char *msg, size_t len)
{
	const struct ck *c = ck_get(k);

	if (config_key_is_list(k) && !(c->flags & CK_EMPTY) && *CCOUNT(cfg, c) == 0)
		return ck_bad(c, "", msg, len, "is empty");
	return 0;
}

void
config_key_defaults(struct config *cfg)
{
	char	msg[256];
	int	k;

	for (k = 0; k < CONFIG_NKEYS; k++)
		if (config_key_set(cfg, k, keys[k].def, 0, msg, sizeof(msg)) != 0)
			fatalx("config_key_defaults: %s", msg);
}

void
config_key_free(struct config *cfg)
{
	int k;

	for (k = 0; k < CONFIG_NKEYS; k++)
		if (keys[k].type == CK_STRING) {
			free(*FIELD(cfg, &keys[k], char *));
			*FIELD(cfg, &keys[k], char *) = NULL;
		}
}

/* One item of a list, or the whole value of any other key. */
static void
ck_format(const struct config *cfg, const struct ck *c, size_t i, char *buf, size_t len)
{
	switch (c->type) {
	case CK_STRING:
		strutil_lcpy(buf, *CFIELD(cfg, c, char *) != NULL ?
		    *CFIELD(cfg, c, char *) : "", len);
		break;
	case CK_BOOL:
		strutil_lcpy(buf, *CFIELD(cfg, c, int) ? "yes" : "no", len);
		break;
	case CK_UINT:
	case CK_SIZE:
	case CK_DURATION:
		ck_format_number(c, *CFIELD(cfg, c, uint64_t), buf, len);
		break;
	case CK_ENDPOINTS:
		netaddr_format((const struct sockaddr *)&CFIELD(cfg, c,
		    struct netaddr_endpoint)[i].ss, buf, len);
		break;
	case CK_CIDRS:
		netaddr_cidr_format(&CFIELD(cfg, c, struct netaddr_cidr)[i], buf, len);
		break;
	case CK_DURATIONS:
		ck_format_number(c, CFIELD(cfg, c, uint64_t)[i], buf, len);
		break;
	case CK_LOGDEST:
		strutil_lcpy(buf, *CFIELD(cfg, c, enum log_dest) == LOG_DEST_SYSLOG ?
		    "syslog" : "stderr", len);
		break;
	case CK_LOGLEVEL:
		strutil_lcpy(buf, log_level_name(*CFIELD(cfg, c, enum log_level)), len);
		break;
	}
}

/* "key = value"; a long list goes on indented continuation lines. */
void
config_print(const struct config *cfg, FILE *fp)
{
	const struct ck	*c;
	char		 item[CK_STRMAX + NETADDR_STRLEN + 64];	/* a whole string value */
	size_t		 i, n, col;
	int		 k;

	for (k = 0; k < CONFIG_NKEYS; k++) {
		c = &keys[k];
		col = (size_t)fprintf(fp, "%s =", c->name);
		n = config_key_is_list(k) ? *CCOUNT(cfg, c) : 1;
		for (i = 0; i < n; i++) {
			ck_format(cfg, c, i, item, sizeof(item));
			if (*item == '\0')
				continue;
			if (i > 0 && col + 1 + strlen(item) > 76) {
				fprintf(fp, "\n\t");
				col = 8;
			} else {
				fputc(' ', fp);
				col++;
			}
			fputs(item, fp);
			col += strlen(item);
		}
		fputc('\n', fp);
	}
}

size_t
config_nkeys(void)
{
	return CONFIG_NKEYS;
}

int
config_keyinfo(size_t i, struct config_keyinfo *ki)
{
	static const char *const types[] = { "string", "yes/no", "number", "size",
	    "duration", "address list", "network list", "duration list",
	    "log destination", "log level" };

	if (i >= CONFIG_NKEYS)
		return -1;
	ki->name = keys[i].name;
	ki->type = types[keys[i].type];
	ki->def = keys[i].def;
	ki->help = keys[i].help;
	config_key_accepts((int)i, ki->accepts, sizeof(ki->accepts));
	return 0;
}
