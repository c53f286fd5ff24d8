/* https_conf.c: parse the lab-https configuration file. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strutil.h"
#include "common/xmalloc.h"
#include "tests/lab/https_conf.h"
#include "tests/lab/lab_util.h"

static const char *const https_actions[] = { "answer", "stall", "close" };

const char *
https_conf_straction(enum https_action a)
{
	if ((unsigned)a >= sizeof(https_actions) / sizeof(https_actions[0]))
		return "unknown";
	return https_actions[a];
}

static int
conf_err(char *err, size_t errlen, const char *key, const char *want)
{
	snprintf(err, errlen, "%s: want %s", key, want);
	return -1;
}

static int
read_body(struct https_host *h, const char *path, char *err, size_t errlen)
{
	FILE	*fp;
	size_t	 n;
	char	 buf[8192];

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "body-file %s: %s", path, strerror(errno));
		return -1;
	}
	free(h->body);
	h->body = NULL;
	h->bodylen = 0;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
		if (h->bodylen + n > HTTPS_BODY_MAX) {
			fclose(fp);
			snprintf(err, errlen, "body-file %s: larger than %d bytes", path,
			    HTTPS_BODY_MAX);
			return -1;
		}
		h->body = xreallocarray(h->body, h->bodylen + n, 1);
		memcpy(h->body + h->bodylen, buf, n);
		h->bodylen += n;
	}
	if (ferror(fp)) {
		fclose(fp);
		snprintf(err, errlen, "body-file %s: read error", path);
		return -1;
	}
	fclose(fp);
	return 0;
}

/* "body-line TEXT...": the words joined by one space, then LF. */
static void
add_body_line(struct https_host *h, int argc, char **argv)
{
	size_t	i, n;

	for (i = 0; i < (size_t)argc; i++) {
		n = strlen(argv[i]) + 1;
		h->body = xreallocarray(h->body, h->bodylen + n, 1);
		memcpy(h->body + h->bodylen, argv[i], n - 1);
		h->body[h->bodylen + n - 1] = i + 1 == (size_t)argc ? '\n' : ' ';
		h->bodylen += n;
	}
}

static int
host_key(struct https_conf *c, struct https_host *h, int argc, char **argv,
    char *err, size_t errlen)
{
	const char	*k = argv[0];
	uint64_t	 v;
	size_t		 i;

	if (strcmp(k, "cert") == 0 && argc == 3) {
		h->cert = lab_strs_dup(&c->strs, argv[1]);
		h->key = lab_strs_dup(&c->strs, argv[2]);
	} else if (strcmp(k, "path") == 0 && argc == 2)
		h->path = lab_strs_dup(&c->strs, argv[1]);
	else if (strcmp(k, "status") == 0 && argc == 2) {
		if (strutil_parse_uint(argv[1], &v) == -1 || v < 100 || v > 999)
			return conf_err(err, errlen, k, "a status code 100-999");
		h->status = (int)v;
	} else if (strcmp(k, "content-type") == 0 && argc == 2)
		h->content_type = strcmp(argv[1], "none") == 0 ? NULL :
		    lab_strs_dup(&c->strs, argv[1]);
	else if (strcmp(k, "location") == 0 && argc == 2)
		h->location = lab_strs_dup(&c->strs, argv[1]);
	else if (strcmp(k, "header") == 0 && argc == 2) {
		if (h->nheaders == HTTPS_MAX_HEADERS || strchr(argv[1], ':') == NULL)
			return conf_err(err, errlen, k, "\"Name: value\" (at most 16)");
		h->headers[h->nheaders++] = lab_strs_dup(&c->strs, argv[1]);
	} else if (strcmp(k, "body-file") == 0 && argc == 2)
		return read_body(h, argv[1], err, errlen);
	else if (strcmp(k, "body-line") == 0 && argc >= 2)
		add_body_line(h, argc - 1, argv + 1);
	else if (strcmp(k, "oversize") == 0 && argc == 2) {
		if (strutil_parse_size(argv[1], &h->oversize) == -1 ||
		    h->oversize > HTTPS_BODY_MAX)
			return conf_err(err, errlen, k, "a size up to 64m");
	} else if (strcmp(k, "delay") == 0 && argc == 2) {
		if (strutil_parse_uint(argv[1], &h->delay_ms) == -1 || h->delay_ms > 3600000)
			return conf_err(err, errlen, k, "milliseconds");
	} else if (strcmp(k, "save-body") == 0 && argc == 2)
		h->save_body = lab_strs_dup(&c->strs, argv[1]);
	else if (strcmp(k, "action") == 0 && argc == 2) {
		for (i = 0; i < sizeof(https_actions) / sizeof(https_actions[0]); i++)
			if (strcmp(argv[1], https_actions[i]) == 0)
				break;
		if (i == sizeof(https_actions) / sizeof(https_actions[0]))
			return conf_err(err, errlen, k, "answer, stall or close");
		h->action = (enum https_action)i;
	} else {
		snprintf(err, errlen, "unknown directive or wrong number of words: %s", k);
		return -1;
	}
	return 0;
}

static int
conf_line(void *arg, int argc, char **argv, char *err, size_t errlen)
{
	struct https_conf	*c = arg;
	struct https_host	*h;
	char			*name;
	uint64_t		 v;

	if (strcmp(argv[0], "host") == 0 && argc == 2) {
		if (c->nhosts == HTTPS_MAX_HOSTS)
			return conf_err(err, errlen, "host", "at most 64 sections");
		h = &c->hosts[c->nhosts++];
		memset(h, 0, sizeof(*h));
		name = lab_strs_dup(&c->strs, argv[1]);
		strutil_lower(name);
		h->name = name;
		h->status = 200;
		h->content_type = "text/plain";
		return 0;
	}
	if (c->nhosts > 0)
		return host_key(c, &c->hosts[c->nhosts - 1], argc, argv, err, errlen);
	if (strcmp(argv[0], "listen") == 0 && argc == 2)
		c->listen = lab_strs_dup(&c->strs, argv[1]);
	else if (strcmp(argv[0], "portfile") == 0 && argc == 2)
		c->portfile = lab_strs_dup(&c->strs, argv[1]);
	else if (strcmp(argv[0], "log") == 0 && argc == 2)
		c->log = lab_strs_dup(&c->strs, argv[1]);
	else if (strcmp(argv[0], "cert") == 0 && argc == 3) {
		c->cert = lab_strs_dup(&c->strs, argv[1]);
		c->key = lab_strs_dup(&c->strs, argv[2]);
	} else if (strcmp(argv[0], "stall-accept") == 0 && argc == 2) {
		if (strutil_parse_uint(argv[1], &v) == -1 || v > 1)
			return conf_err(err, errlen, argv[0], "0 or 1");
		c->stall_accept = (int)v;
	} else {
		snprintf(err, errlen, "unknown directive or wrong number of words: %s "
		    "(host sections start with: host NAME)", argv[0]);
		return -1;
	}
	return 0;
}

int
https_conf_load(struct https_conf *c, const char *path, char *err, size_t errlen)
{
	if (lab_conf_read(path, conf_line, c, err, errlen) == -1)
		return -1;
	if (c->cert == NULL) {
		snprintf(err, errlen, "%s: no default certificate (cert CHAIN KEY)", path);
		return -1;
	}
	return 0;
}

void
https_conf_free(struct https_conf *c)
{
	size_t	i;

	for (i = 0; i < c->nhosts; i++)
		free(c->hosts[i].body);
	lab_strs_free(&c->strs);
}

const struct https_host *
https_conf_host(const struct https_conf *c, const char *host)
{
	char	name[256];
	size_t	i, n;

	strutil_lcpy(name, host, sizeof(name));
	if (name[0] != '[' && (n = strcspn(name, ":")) < strlen(name))
		name[n] = '\0';
	n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		name[n - 1] = '\0';
	strutil_lower(name);
	for (i = 0; i < c->nhosts; i++)
		if (strcmp(c->hosts[i].name, name) == 0)
			return &c->hosts[i];
	for (i = 0; i < c->nhosts; i++)
		if (strcmp(c->hosts[i].name, "*") == 0)
			return &c->hosts[i];
	return NULL;
}
