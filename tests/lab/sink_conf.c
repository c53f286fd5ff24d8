/* sink_conf.c: parse the lab-smtp-sink configuration file. */
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strutil.h"
#include "tests/lab/lab_util.h"
#include "tests/lab/sink_conf.h"

static const char *const starttls_names[] = { "offer", "none", "refuse", "abort" };

const char *
sink_conf_strstarttls(enum sink_starttls m)
{
	if ((unsigned)m >= sizeof(starttls_names) / sizeof(starttls_names[0]))
		return "unknown";
	return starttls_names[m];
}

int
sink_conf_tls_version(const char *s)
{
	if (strcmp(s, "1.0") == 0)
		return TLS1_VERSION;
	if (strcmp(s, "1.1") == 0)
		return TLS1_1_VERSION;
	if (strcmp(s, "1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(s, "1.3") == 0)
		return TLS1_3_VERSION;
	return -1;
}

static int
parse_bool(const char *s, int *out)
{
	if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0) {
		*out = 1;
		return 0;
	}
	if (strcasecmp(s, "no") == 0 || strcasecmp(s, "off") == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

/* "CODE [TEXT...]": the code 200..599, the words joined with one space. */
static int
parse_reply(struct sink_conf *c, int argc, char **argv, struct sink_reply *r)
{
	char	buf[LAB_LINE_MAX];
	int	i;

	if (argc < 1 || strlen(argv[0]) != 3 || argv[0][0] < '2' || argv[0][0] > '5' ||
	    argv[0][1] < '0' || argv[0][1] > '9' || argv[0][2] < '0' || argv[0][2] > '9')
		return -1;
	r->code = atoi(argv[0]);
	buf[0] = '\0';
	for (i = 1; i < argc; i++) {
		if (i > 1)
			strutil_lcat(buf, " ", sizeof(buf));
		strutil_lcat(buf, argv[i], sizeof(buf));
	}
	r->text = lab_strs_dup(&c->strs, buf);
	return 0;
}

static int
want(char *err, size_t errlen, const char *key, const char *what)
{
	snprintf(err, errlen, "%s: want %s", key, what);
	return -1;
}

static int
parse_listener_key(struct sink_conf *c, struct sink_lconf *l, int argc, char **argv,
    char *err, size_t errlen)
{
	const char	*k = argv[0];
	size_t		 i;

	if (strcmp(k, "hostname") == 0 && argc == 2)
		l->hostname = lab_strs_dup(&c->strs, argv[1]);
	else if (strcmp(k, "starttls") == 0 && argc == 2) {
		for (i = 0; i < sizeof(starttls_names) / sizeof(starttls_names[0]); i++)
			if (strcmp(argv[1], starttls_names[i]) == 0)
				break;
		if (i == sizeof(starttls_names) / sizeof(starttls_names[0])) {
			snprintf(err, errlen, "starttls: want offer, none, refuse or abort");
			return -1;
		}
		l->starttls = (enum sink_starttls)i;
	} else if (strcmp(k, "cert") == 0 && argc == 3) {
		l->cert = lab_strs_dup(&c->strs, argv[1]);
		l->key = lab_strs_dup(&c->strs, argv[2]);
	} else if (strcmp(k, "tls-versions") == 0 && argc == 3) {
		l->tls_min = sink_conf_tls_version(argv[1]);
		l->tls_max = sink_conf_tls_version(argv[2]);
		if (l->tls_min == -1 || l->tls_max == -1 || l->tls_min > l->tls_max) {
			snprintf(err, errlen, "tls-versions: want MIN MAX from 1.0 1.1 1.2 1.3");
			return -1;
		}
	} else if (strcmp(k, "8bitmime") == 0 && argc == 2) {
		if (parse_bool(argv[1], &l->eightbitmime) == -1)
			return want(err, errlen, k, "yes or no");
	} else if (strcmp(k, "smtputf8") == 0 && argc == 2) {
		if (parse_bool(argv[1], &l->smtputf8) == -1)
			return want(err, errlen, k, "yes or no");
	} else if (strcmp(k, "rcpt") == 0 && argc >= 3) {
		if (l->nrules == SINK_MAX_RULES) {
			snprintf(err, errlen, "more than %d rcpt rules", SINK_MAX_RULES);
			return -1;
		}
		l->rules[l->nrules].pattern = lab_strs_dup(&c->strs, argv[1]);
		if (parse_reply(c, argc - 2, argv + 2, &l->rules[l->nrules].reply) == -1)
			return want(err, errlen, k, "a reply code 200-599 and its text");
		l->nrules++;
	} else if (strcmp(k, "greeting") == 0 && argc >= 2) {
		if (parse_reply(c, argc - 1, argv + 1, &l->greeting) == -1)
			return want(err, errlen, k, "a reply code 200-599 and its text");
	} else if (strcmp(k, "data-reply") == 0 && argc >= 2) {
		if (parse_reply(c, argc - 1, argv + 1, &l->data_reply) == -1)
			return want(err, errlen, k, "a reply code 200-599 and its text");
	} else if (strcmp(k, "max-size") == 0 && argc == 2) {
		if (strutil_parse_size(argv[1], &l->max_size) == -1 || l->max_size == 0) {
			snprintf(err, errlen, "max-size: want a size such as 10m");
			return -1;
		}
	} else {
		snprintf(err, errlen, "unknown directive or wrong number of words: %s", k);
		return -1;
	}
	return 0;
}

static int
conf_line(void *arg, int argc, char **argv, char *err, size_t errlen)
{
	struct sink_conf	*c = arg;
	struct sink_lconf	*l;

	if (strcmp(argv[0], "spool") == 0 && argc == 2)
		c->spool = lab_strs_dup(&c->strs, argv[1]);
	else if (strcmp(argv[0], "log") == 0 && argc == 2)
		c->log = lab_strs_dup(&c->strs, argv[1]);
	else if (strcmp(argv[0], "portfile") == 0 && argc == 2)
		c->portfile = lab_strs_dup(&c->strs, argv[1]);
	else if (strcmp(argv[0], "record") == 0 && argc == 2 &&
	    (strcmp(argv[1], "full") == 0 || strcmp(argv[1], "index") == 0))
		c->index_only = strcmp(argv[1], "index") == 0;
	else if (strcmp(argv[0], "listen") == 0 && argc == 3) {
		if (c->nl == SINK_MAX_LISTENERS) {
			snprintf(err, errlen, "more than %d listeners", SINK_MAX_LISTENERS);
			return -1;
		}
		l = &c->l[c->nl++];
		*l = c->def;
		l->name = lab_strs_dup(&c->strs, argv[1]);
		l->addr = lab_strs_dup(&c->strs, argv[2]);
	} else
		return parse_listener_key(c, c->nl == 0 ? &c->def : &c->l[c->nl - 1],
		    argc, argv, err, errlen);
	return 0;
}

void
sink_conf_free(struct sink_conf *c)
{
	lab_strs_free(&c->strs);
}

int
sink_conf_load(struct sink_conf *c, const char *path, char *err, size_t errlen)
{
	size_t	i;

	memset(c, 0, sizeof(*c));
	c->def.hostname = "mx.lab.test";
	c->def.eightbitmime = 1;
	c->def.smtputf8 = 1;
	c->def.max_size = 32 * 1024 * 1024;
	if (lab_conf_read(path, conf_line, c, err, errlen) == -1)
		return -1;
	if (c->spool == NULL) {
		snprintf(err, errlen, "%s: no spool directory (spool DIR)", path);
		return -1;
	}
	if (c->nl == 0) {
		snprintf(err, errlen, "%s: no listener (listen NAME ADDR:PORT)", path);
		return -1;
	}
	for (i = 0; i < c->nl; i++)
		if (c->l[i].starttls == SINK_STARTTLS_OFFER && c->l[i].cert == NULL) {
			snprintf(err, errlen, "%s: listener %s: starttls %s needs cert",
			    path, c->l[i].name, sink_conf_strstarttls(c->l[i].starttls));
			return -1;
		}
	return 0;
}
