/*
 * https_conf.h: the configuration of lab-https (see docs/lab.md). Global
 * directives come first; "host NAME" opens a section that the Host header
 * (for the response) or the SNI name (for the certificate) selects.
 */
#ifndef LAB_HTTPS_CONF_H
#define LAB_HTTPS_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "tests/lab/lab_util.h"

#define HTTPS_MAX_HOSTS		64
#define HTTPS_MAX_HEADERS	16
#define HTTPS_BODY_MAX		(64 * 1024 * 1024)

enum https_action {
	HTTPS_ANSWER = 0,
	HTTPS_STALL,		/* read the request, never answer */
	HTTPS_CLOSE		/* read the request, close without a word */
};

struct https_host {
	const char	*name;		/* lowercase; "*" = every other host */
	const char	*cert;		/* served when SNI = name */
	const char	*key;
	const char	*path;		/* NULL = every path */
	int		 status;
	const char	*content_type;	/* NULL = no Content-Type header */
	const char	*location;
	const char	*headers[HTTPS_MAX_HEADERS];
	size_t		 nheaders;
	char		*body;
	size_t		 bodylen;
	uint64_t	 oversize;	/* pad the body to this many bytes */
	uint64_t	 delay_ms;
	enum https_action action;
	const char	*save_body;	/* folder for request bodies (POST) */
};

struct https_conf {
	const char	*listen;
	const char	*portfile;
	const char	*log;
	const char	*cert;		/* default certificate */
	const char	*key;
	int		 stall_accept;	/* accept TCP, never start TLS */
	struct https_host hosts[HTTPS_MAX_HOSTS];
	size_t		 nhosts;
	struct lab_strs	 strs;		/* every string above but the bodies */
};

int	https_conf_load(struct https_conf *, const char *path, char *err, size_t errlen);
void	https_conf_free(struct https_conf *);
/* The section for a Host value (port and final dot ignored), or NULL. */
const struct https_host *https_conf_host(const struct https_conf *, const char *host);
const char *https_conf_straction(enum https_action);

#endif
