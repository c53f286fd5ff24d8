/*
 * policy_fixture.h: what the policy engine tests share: an event loop, the
 * test DNS responder, an s_server policy host with a test CA, policy.db in
 * a temporary Berkeley DB environment, a clock the test moves, and lookups
 * run to completion with a deadline.
 */
#ifndef TESTS_UNIT_POLICY_FIXTURE_H
#define TESTS_UNIT_POLICY_FIXTURE_H

#include <sys/types.h>
#include <stdint.h>

#include <db.h>

#include "common/netaddr.h"
#include "policy/policy.h"
#include "tests/unit/test_fetch_server.h"
#include "tests/unit/test_resolver_dns.h"

#define PFX_ENFORCE	"version: STSv1\nmode: enforce\nmx: mail.d.test\nmax_age: 86400\n"
#define PFX_TESTING	"version: STSv1\nmode: testing\nmx: *.d.test\nmax_age: 600\n"

struct pfx {
	struct event_base	*base;
	struct dns_responder	*dns;
	struct netaddr_endpoint	 ep;		/* the responder's address */
	struct https_lab	 lab;
	pid_t			 srv;		/* s_server, serving <lab>/www */
	int			 port;		/* ... on 127.0.0.1 */
	DB_ENV			*env;
	char			 envdir[128];
	uint64_t		 now;		/* the engine's clock (pfx_clock) */
	int			 pending;	/* callbacks still to come */
};

/*
 * Set up everything for a server certificate naming the space-separated
 * names, serving PFX_ENFORCE. 0; -1 after printing "Bail out!"; 1 when
 * no certificates can be made (no openssl): the caller skips what needs
 * them and ends with tap_done().
 */
int	pfx_setup(struct pfx *, const char *progname, const char *names);
void	pfx_teardown(struct pfx *);
/* Close and reopen the environment (recovering it), as a restart does. */
int	pfx_env_reopen(struct pfx *);

/* Parameters pointing at the fixture: its CA, DNS, port and clock. */
void	pfx_params(struct pfx *, struct policy_params *);
uint64_t pfx_clock(void *);

/* The zone of a policy domain: TXT text, mta-sts.<domain> at addr. */
void	pfx_zone(struct pfx *, const char *domain, const char *txt, const char *addr);
/* How _mta-sts.<domain> TXT is answered from now on. */
void	pfx_txt(struct pfx *, const char *domain, enum dns_behave);
int	pfx_txt_queries(struct pfx *, const char *domain);
/* Fetches started for domain (A queries of mta-sts.<domain>). */
int	pfx_fetches(struct pfx *, const char *domain);
/* The policy text the host serves from now on. */
void	pfx_serve(struct pfx *, const char *text);

/* Run the loop until pending is 0 (30 s deadline). */
void	pfx_run(struct pfx *);
/* Run the loop for about ms milliseconds. */
void	pfx_spin(struct pfx *, unsigned ms);
/* A callback came: one less pending, the loop stops at 0. */
void	pfx_arrived(struct pfx *);

/* What one lookup gave. */
struct pfx_got {
	struct pfx		*fx;
	int			 done;
	char			 domain[256];
	char			 mode[16], source[16], id[40], mx[256];
	char			 type[64], reason[600];
	long			 max_age;
	int			 allow_mail, allow_evil;	/* mail.d.test, mail.evil.test */
	struct policy_result	**keep;	/* if set: policy_result_dup here */
};

void	pfx_on_result(const struct policy_result *, void *);
/* policy_lookup into g (cleared), counted as pending; its return value. */
int	pfx_start(struct pfx *, struct policy *, const char *domain, struct pfx_got *);
/* policy_lookup and run until its callback came. */
void	pfx_lookup(struct pfx *, struct policy *, const char *domain, struct pfx_got *);
/* The same, for policy_check. */
void	pfx_check(struct pfx *, struct policy *, const char *domain, struct pfx_got *);
struct policy_stats pfx_stats(struct policy *);
/* Every re-check behind a stale answer finished? Polls for up to 20 s. */
int	pfx_settle(struct pfx *, struct policy *);

#endif
