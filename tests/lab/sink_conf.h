/*
 * sink_conf.h: the configuration of lab-smtp-sink (see docs/lab.md).
 * Directives before the first "listen" are defaults for every listener;
 * directives after a "listen" apply to that listener only.
 */
#ifndef LAB_SINK_CONF_H
#define LAB_SINK_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "tests/lab/lab_util.h"

#define SINK_MAX_LISTENERS	32
#define SINK_MAX_RULES		32

enum sink_starttls {
	SINK_STARTTLS_OFFER = 0,	/* advertise, 220, handshake */
	SINK_STARTTLS_NONE,		/* do not advertise; 502 if asked */
	SINK_STARTTLS_REFUSE,		/* advertise, answer 454 */
	SINK_STARTTLS_ABORT		/* advertise, 220, close after ClientHello */
};

struct sink_reply {
	int		 code;		/* 0 = the built-in reply */
	const char	*text;
};

struct sink_rule {
	const char	*pattern;	/* fnmatch(3) on the lowercased address */
	struct sink_reply reply;
};

struct sink_lconf {
	const char	*name;
	const char	*addr;		/* "127.0.0.2:0" */
	const char	*hostname;	/* greeting and EHLO name */
	enum sink_starttls starttls;
	const char	*cert;		/* PEM chain: leaf first */
	const char	*key;
	int		 tls_min;	/* TLS1_VERSION...; 0 = library default */
	int		 tls_max;
	int		 eightbitmime;
	int		 smtputf8;
	struct sink_rule rules[SINK_MAX_RULES];
	size_t		 nrules;
	struct sink_reply greeting;
	struct sink_reply data_reply;
	uint64_t	 max_size;
};

struct sink_conf {
	const char	*spool;		/* messages and the index file */
	const char	*log;		/* session events; NULL = none */
	const char	*portfile;	/* the shared port */
	int		 index_only;	/* "record index": no log, no message files */
	struct sink_lconf def;		/* defaults for the next listeners */
	struct sink_lconf l[SINK_MAX_LISTENERS];
	size_t		 nl;
	struct lab_strs	 strs;		/* every string above */
};

/* Read path into conf. On error err holds "file:line: message", -1. */
int	sink_conf_load(struct sink_conf *, const char *path, char *err, size_t errlen);
void	sink_conf_free(struct sink_conf *);
const char *sink_conf_strstarttls(enum sink_starttls);
/* "1.2" -> TLS1_2_VERSION, -1 if unknown */
int	sink_conf_tls_version(const char *);

#endif
