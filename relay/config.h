/*
 * config.h: the relay's typed configuration (etc/stsrelay.conf).
 * One flat "key = value" file parsed with inih; every key is described by a
 * row of the table in config.c (name, type, default, bounds, help).
 */
#ifndef RELAY_CONFIG_H
#define RELAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/log.h"
#include "common/netaddr.h"

#define CONFIG_EX_CONFIG	78	/* sysexits EX_CONFIG: bad configuration */
#define CONFIG_MAX_LISTEN	16
#define CONFIG_MAX_NETWORKS	256
#define CONFIG_MAX_DNS		8
#define CONFIG_MAX_RETRY	32

struct config {
	/* identity */
	char			*hostname;		/* myhostname; default gethostname() */

	/* inbound */
	struct netaddr_endpoint	 listen[CONFIG_MAX_LISTEN];
	size_t			 nlisten;		/* default 127.0.0.1:2525 */
	struct netaddr_cidr	 client_networks[CONFIG_MAX_NETWORKS];
	size_t			 nclient_networks;	/* default 127.0.0.0/8 ::1/128 */
	int			 smtp_auth;		/* bool, default no */
	char			*auth_credentials_file;	/* "user:$crypt-hash" lines */
	char			*tls_cert_file;		/* inbound STARTTLS; empty = off */
	char			*tls_key_file;
	uint64_t		 message_size_limit;	/* bytes, default 10m */
	uint64_t		 recipient_limit;	/* default 100, min 100 (H6) */
	uint64_t		 max_connections;	/* global, default 1000 */
	uint64_t		 max_connections_per_client; /* default 100 */
	uint64_t		 max_received_headers;	/* loop detection, default 50 */
	/* per-state timeouts, seconds */
	uint64_t		 timeout_greeting;	/* client silent before first command: 300 */
	uint64_t		 timeout_command;	/* waiting for a command: 300 */
	uint64_t		 timeout_data;		/* waiting for a DATA line: 300 */
	uint64_t		 timeout_tls_handshake;	/* 60 */
	uint64_t		 max_errors;		/* bad commands before 421, default 10 */

	/* outbound and MTA-STS (read by later issues; defaults are the real world's) */
	char			*ca_bundle;		/* PEM file; empty = system store */
	struct netaddr_endpoint	 dns_servers[CONFIG_MAX_DNS];
	size_t			 ndns_servers;		/* 0 = the system's resolv.conf */
	uint64_t		 delivery_port;		/* 25 */
	uint64_t		 policy_port;		/* 443 */
	uint64_t		 policy_fetch_timeout;	/* seconds, default 60, max 60 (S10) */
	uint64_t		 policy_recheck_interval; /* TXT id re-check of cached policy, 1h */
	uint64_t		 policy_txt_recheck;	/* a decision reused before re-check, 1m */
	uint64_t		 policy_tempfail_bound;	/* TXT failing: defer this long (Ours), 1d */
	uint64_t		 policy_fetch_backoff;	/* failed id not fetched again (S11), 5m */
	uint64_t		 policy_fetch_concurrency; /* lookups running at once, 32 */
	uint64_t		 delivery_concurrency;	/* recipient groups in delivery, 100; 0 = off */
	uint64_t		 delivery_concurrency_per_domain; /* ... per domain, 10 */
	uint64_t		 delivery_idle_timeout;	/* seconds an idle connection is kept, 5 */
	uint64_t		 queue_lifetime;	/* seconds, default 5d */
	uint64_t		 retry_schedule[CONFIG_MAX_RETRY]; /* seconds; last repeats */
	size_t			 nretry_schedule;	/* default 5m 10m 20m 40m 1h 2h 4h */

	/* files and process */
	char			*spool_directory;	/* default LOCALSTATEDIR/lib/stsrelay */
	uint64_t		 spool_commit_batch;	/* messages per log flush; 0 = no limit */
	char			*control_socket;	/* default RUNSTATEDIR/stsrelay/control.sock */
	char			*run_as;		/* user to run as when started as root; "" = no change */
	char			*pid_file;		/* "" = none */

	/* logging */
	enum log_dest		 log_destination;	/* stderr | syslog */
	enum log_level		 log_level;		/* error|warning|info|debug */
};

/*
 * Fill defaults, then read path (NULL = defaults only), then apply overrides
 * ("key=value" strings from -o). On error writes one line "file:line: message"
 * into err and returns -1; the caller exits CONFIG_EX_CONFIG.
 */
int	config_load(struct config *, const char *path, char *const *overrides,
	    size_t noverrides, char *err, size_t errlen);
/* The same from an open stream (tests, fuzzing); name is used in errors. */
int	config_load_stream(struct config *, FILE *, const char *name,
	    char *const *overrides, size_t noverrides, char *err, size_t errlen);
void	config_free(struct config *);
/* postconf -n style: every effective setting, "key = value", one a line. */
void	config_print(const struct config *, FILE *);

/* The keys, in table order, for documentation and tests. */
struct config_keyinfo {
	const char	*name;
	const char	*type;		/* "number", "duration", "address list" ... */
	const char	*def;		/* built-in default as written in the file */
	const char	*help;		/* one line */
	char		 accepts[200];	/* "a whole number from 100 to 100000" */
};
size_t	config_nkeys(void);
/* Fills the i-th key's description; -1 when i >= config_nkeys(). */
int	config_keyinfo(size_t, struct config_keyinfo *);

#endif
