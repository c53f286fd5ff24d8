/*
 * main.c: stsrelayd. Reads the configuration, binds the listeners as root,
 * drops privileges for good, opens the spool, and runs one event loop for
 * every session. The only file with process-wide state.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "policy/policy.h"
#include "queue/queue.h"
#include "relay/config.h"
#include "relay/control.h"
#include "relay/control_delivery.h"
#include "relay/control_policy.h"
#include "relay/control_queue.h"
#include "relay/control_status.h"
#include "relay/delivery.h"
#include "relay/smtp_server.h"
#include "relay/tls_client.h"

#define MAX_OVERRIDES	64
#define SHUTDOWN_GRACE_MS 10000	/* sessions finishing their transaction */
#define DRAIN_POLL_MS	100
#define TLS_CACHE_HOSTS	1024	/* MX hosts whose TLS sessions are kept for resumption */
/*
 * What this build does, for scripts and the lab's scenarios (stsrelayd -V):
 * a scenario that needs outbound delivery skips until "delivery" is listed.
 */
#define RELAY_FEATURES	" accept spool control starttls auth delivery"

struct relay {
	struct config		 cfg;
	struct event_base	*base;
	struct smtp_server	*smtp;
	struct queue		*queue;
	struct control		*control;
	struct policy		*policy;
	struct tls_client	*tls;
	struct delivery		*delivery;
	struct event		*ev_term, *ev_int, *ev_hup;
	int			 stopping;
	struct event		*ev_drain;	/* shutdown: waits for sessions */
	uint64_t		 drain_deadline; /* ms, monotonic */
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: stsrelayd [-dnV] [-f file] [-o key=value] ...\n"
	    "  -d            log to standard error (whatever log_destination says)\n"
	    "  -f file       configuration file (default %s/stsrelay.conf)\n"
	    "  -n            check the configuration, print every effective setting, exit\n"
	    "  -o key=value  override a setting of the file (may be repeated)\n"
	    "  -v            log at debug level\n"
	    "  -V            print the version and exit\n", SYSCONFDIR);
	exit(64);
}

/* Create dir (and missing parents) with mode, owned by uid/gid when given. */
static int
make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, int chown_it)
{
	char	 buf[4096], *p;

	if (strutil_lcpy(buf, path, sizeof(buf)) >= sizeof(buf)) {
		log_warnx("%s: path too long", path);
		return -1;
	}
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST) {
			log_warn("mkdir %s", buf);
			return -1;
		}
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", buf);
		return -1;
	}
	if (chown_it && chown(buf, uid, gid) == -1) {
		log_warn("chown %s", buf);
		return -1;
	}
	return 0;
}

static char *
dir_of(const char *path)
{
	char *d = xstrdup(path), *slash = strrchr(d, '/');

	if (slash == NULL)
		strcpy(d, ".");
	else if (slash == d)
		slash[1] = '\0';
	else
		*slash = '\0';
	return d;
}

/*
 * Started as root: make the spool and control socket folders ours, then give
 * up root for good. Started as anyone else: run as that user.
 */
static int
drop_privileges(const struct config *cfg)
{
	struct passwd	*pw;
	char		*ctldir;
	int		 rc;

	if (geteuid() != 0 || cfg->run_as == NULL || cfg->run_as[0] == '\0') {
		if (geteuid() == 0)
			log_warnx("running as root: set run_as to an unprivileged user");
		if (make_dir(cfg->spool_directory, 0700, 0, 0, 0) == -1)
			return -1;
		ctldir = dir_of(cfg->control_socket);
		rc = make_dir(ctldir, 0750, 0, 0, 0);
		free(ctldir);
		return rc;
	}
	errno = 0;
	if ((pw = getpwnam(cfg->run_as)) == NULL) {
		log_warnx("run_as: no such user: %s", cfg->run_as);
		return -1;
	}
	if (make_dir(cfg->spool_directory, 0700, pw->pw_uid, pw->pw_gid, 1) == -1)
		return -1;
	ctldir = dir_of(cfg->control_socket);
	rc = make_dir(ctldir, 0750, pw->pw_uid, pw->pw_gid, 1);
	free(ctldir);
	if (rc == -1)
		return -1;
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		log_warn("cannot switch to user %s", cfg->run_as);
		return -1;
	}
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("drop_privileges: root could be regained");
	log_info("running as user %s (uid %ld)", cfg->run_as, (long)pw->pw_uid);
	return 0;
}

static int
write_pid_file(const char *path)
{
	FILE *f;

	if (path == NULL || path[0] == '\0')
		return 0;
	if ((f = fopen(path, "w")) == NULL) {
		log_warn("pid_file %s", path);
		return -1;
	}
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0) {
		log_warn("pid_file %s", path);
		return -1;
	}
	return 0;
}

/*
 * Shutdown, after the listener stopped accepting: sessions in a transaction
 * get their reply (the message is stored first) and then 421; the loop ends
 * once none is left, or after SHUTDOWN_GRACE_MS.
 */
static void
relay_on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct relay			*r = arg;
	struct smtp_server_stats	 st;
	struct timeval			 tv = { 0, DRAIN_POLL_MS * 1000 };

	smtp_server_stats(r->smtp, &st);
	if (st.sessions_now == 0) {
		event_base_loopexit(r->base, NULL);
		return;
	}
	if (strutil_now_ms() >= r->drain_deadline) {
		log_warnx("%llu sessions still open after %d s: closing them",
		    (unsigned long long)st.sessions_now, SHUTDOWN_GRACE_MS / 1000);
		event_base_loopexit(r->base, NULL);
		return;
	}
	if (evtimer_add(r->ev_drain, &tv) == -1)
		fatalx("relay_on_drain: evtimer_add failed");
}

static void
relay_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct relay *r = arg;

	if (sig == SIGHUP) {
		log_info("SIGHUP: configuration reload is not supported; restart stsrelayd to apply changes");
		return;
	}
	if (r->stopping) {
		log_info("second signal %d: stopping now", (int)sig);
		event_base_loopbreak(r->base);
		return;
	}
	r->stopping = 1;
	log_info("signal %d: no longer accepting mail, shutting down", (int)sig);
	smtp_server_stop(r->smtp);
	r->drain_deadline = strutil_now_ms() + SHUTDOWN_GRACE_MS;
	if ((r->ev_drain = evtimer_new(r->base, relay_on_drain, r)) == NULL)
		fatalx("relay_on_signal: evtimer_new failed");
	relay_on_drain(-1, 0, r);
}

static void
relay_sessions(void *arg, uint64_t *now, uint64_t *total)
{
	struct relay			*r = arg;
	struct smtp_server_stats	 st;

	smtp_server_stats(r->smtp, &st);
	*now = st.sessions_now;
	*total = st.sessions_total;
}

/* The policy engine, the outbound TLS context and the orchestrator. */
static int
relay_start_delivery(struct relay *r)
{
	const struct config	*c = &r->cfg;
	struct policy_params	 pp;
	struct delivery_params	 dp;
	char			 err[512];

	control_policy_params(c, &pp);
	if ((r->policy = policy_new(r->base, queue_dbenv(r->queue), &pp)) == NULL) {
		log_warnx("cannot start the MTA-STS policy engine");
		return -1;
	}
	control_policy_register(r->control, r->policy);
	r->tls = tls_client_new(c->ca_bundle != NULL && c->ca_bundle[0] != '\0' ?
	    c->ca_bundle : NULL, TLS_CACHE_HOSTS, err, sizeof(err));
	if (r->tls == NULL) {
		log_warnx("outbound TLS: %s", err);
		return -1;
	}
	if (c->delivery_concurrency == 0) {
		log_info("delivery is off (delivery_concurrency = 0): mail stays queued");
		return 0;
	}
	memset(&dp, 0, sizeof(dp));
	dp.helo_name = c->hostname;
	dp.port = (unsigned)c->delivery_port;
	dp.concurrency = (size_t)c->delivery_concurrency;
	dp.per_domain = (size_t)c->delivery_concurrency_per_domain;
	dp.idle_ms = (unsigned)(c->delivery_idle_timeout * 1000);
	r->delivery = delivery_new(r->base, r->queue, r->policy, r->tls, &dp);
	return 0;
}

/* The status command's "delivery" and "policy" objects. */
static json_t *
relay_status_more(void *arg)
{
	struct relay	*r = arg;
	json_t		*o, *d;

	if ((o = json_object()) == NULL)
		fatalx("relay_status_more: out of memory");
	if ((d = control_delivery_json(r->delivery)) != NULL)
		json_object_set_new(o, "delivery", d);
	if (r->policy != NULL)
		json_object_set_new(o, "policy", control_policy_json(r->policy));
	return o;
}

static int
relay_start(struct relay *r)
{
	struct queue_params	qp;
	char			err[512];

	if ((r->smtp = smtp_server_new(r->base, &r->cfg, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		return -1;
	}
	if (drop_privileges(&r->cfg) == -1 || write_pid_file(r->cfg.pid_file) == -1)
		return -1;
	memset(&qp, 0, sizeof(qp));
	qp.dir = r->cfg.spool_directory;
	qp.lifetime = r->cfg.queue_lifetime;
	qp.retry = r->cfg.retry_schedule;
	qp.nretry = r->cfg.nretry_schedule;
	if ((r->queue = queue_open(r->base, &qp, err, sizeof(err))) == NULL) {
		log_warnx("spool %s: %s", r->cfg.spool_directory, err);
		return -1;
	}
	queue_set_batch_max(r->queue, (size_t)r->cfg.spool_commit_batch);
	if (r->cfg.hostname != NULL && r->cfg.hostname[0] != '\0')
		queue_set_hostname(r->queue, r->cfg.hostname);
	if ((r->control = control_new(r->base, r->cfg.control_socket, err, sizeof(err))) == NULL) {
		log_warnx("control socket %s: %s", r->cfg.control_socket, err);
		return -1;
	}
	control_queue_register(r->control, r->queue);
	control_delivery_register(r->control, r->queue);
	control_status_register_ext(r->control, &r->cfg, r->queue, relay_sessions,
	    relay_status_more, r);
	smtp_server_start(r->smtp, r->queue);
	return relay_start_delivery(r);
}

static void
relay_signals(struct relay *r)
{
	signal(SIGPIPE, SIG_IGN);
	r->ev_term = evsignal_new(r->base, SIGTERM, relay_on_signal, r);
	r->ev_int = evsignal_new(r->base, SIGINT, relay_on_signal, r);
	r->ev_hup = evsignal_new(r->base, SIGHUP, relay_on_signal, r);
	if (r->ev_term == NULL || r->ev_int == NULL || r->ev_hup == NULL ||
	    evsignal_add(r->ev_term, NULL) == -1 || evsignal_add(r->ev_int, NULL) == -1 ||
	    evsignal_add(r->ev_hup, NULL) == -1)
		fatalx("relay_signals: cannot install signal events");
}

static void
relay_free(struct relay *r)
{
	if (r->smtp != NULL)
		smtp_server_free(r->smtp);
	if (r->control != NULL)
		control_free(r->control);
	/* messages in delivery go back to the queue; policy.db closes before the spool */
	if (r->delivery != NULL)
		delivery_free(r->delivery);
	if (r->policy != NULL)
		policy_free(r->policy);
	if (r->tls != NULL)
		tls_client_free(r->tls);
	if (r->queue != NULL)
		queue_close(r->queue);
	if (r->ev_drain != NULL)
		event_free(r->ev_drain);
	if (r->ev_term != NULL)
		event_free(r->ev_term);
	if (r->ev_int != NULL)
		event_free(r->ev_int);
	if (r->ev_hup != NULL)
		event_free(r->ev_hup);
	if (r->base != NULL)
		event_base_free(r->base);
	if (r->cfg.pid_file != NULL && r->cfg.pid_file[0] != '\0')
		unlink(r->cfg.pid_file);
	config_free(&r->cfg);
}

int
main(int argc, char **argv)
{
	struct relay	 r;
	const char	*file = SYSCONFDIR "/stsrelay.conf";
	char		*overrides[MAX_OVERRIDES], err[1024];
	size_t		 noverrides = 0;
	int		 ch, check = 0, to_stderr = 0, verbose = 0, rc = 1;

	memset(&r, 0, sizeof(r));
	while ((ch = getopt(argc, argv, "df:hno:vV")) != -1) {
		switch (ch) {
		case 'd':
			to_stderr = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'o':
			if (noverrides == MAX_OVERRIDES) {
				fprintf(stderr, "stsrelayd: more than %d -o options\n", MAX_OVERRIDES);
				exit(64);
			}
			overrides[noverrides++] = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			printf("stsrelayd %s\nfeatures:%s\n", PACKAGE_VERSION, RELAY_FEATURES);
			exit(0);
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (config_load(&r.cfg, file, overrides, noverrides, err, sizeof(err)) == -1) {
		fprintf(stderr, "stsrelayd: %s\n", err);
		exit(CONFIG_EX_CONFIG);
	}
	if (check) {
		config_print(&r.cfg, stdout);
		config_free(&r.cfg);
		exit(0);
	}
	log_init("stsrelayd", to_stderr ? LOG_DEST_STDERR : r.cfg.log_destination,
	    verbose ? LOG_LVL_DEBUG : r.cfg.log_level);
	if (evthread_use_pthreads() == -1)
		fatalx("main: libevent has no pthreads support");
	if ((r.base = event_base_new()) == NULL)
		fatalx("main: event_base_new failed");
	relay_signals(&r);
	if (relay_start(&r) == 0) {
		log_info("stsrelayd %s started, hostname %s", PACKAGE_VERSION, r.cfg.hostname);
		if (event_base_dispatch(r.base) == -1)
			log_warnx("event loop failed");
		else
			rc = 0;
		log_info("stsrelayd stopped");
	}
	relay_free(&r);
	return rc;
}
