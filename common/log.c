/* log.c: logging to stderr (with a timestamp) or to syslog(3). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include "common/log.h"

static const char	*log_progname = "stsrelay";
static enum log_dest	 log_dest = LOG_DEST_STDERR;
static enum log_level	 log_level = LOG_LVL_INFO;
static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "error", "warning", "info", "debug" };
static const int level_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void
log_init(const char *progname, enum log_dest dest, enum log_level level)
{
	if (progname != NULL)
		log_progname = progname;
	log_dest = dest;
	log_level = level;
	if (dest == LOG_DEST_SYSLOG)
		openlog(log_progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	if (strcasecmp(s, "warn") == 0) {
		*out = LOG_LVL_WARN;
		return 0;
	}
	return -1;
}

const char *
log_level_name(enum log_level l)
{
	if ((unsigned)l >= sizeof(level_names) / sizeof(level_names[0]))
		return "unknown";
	return level_names[l];
}

void
log_vlog(enum log_level level, const char *fmt, va_list ap)
{
	char		 msg[4096], ts[64];
	struct timespec	 now;
	struct tm	 tm;
	int		 saved = errno;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_dest == LOG_DEST_SYSLOG) {
		syslog(level_prio[level], "%s", msg);
	} else {
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		pthread_mutex_lock(&log_mtx);
		fprintf(stderr, "%s.%03ldZ %s[%ld]: %s%s%s\n", ts,
		    now.tv_nsec / 1000000, log_progname, (long)getpid(),
		    level <= LOG_LVL_WARN ? level_names[level] : "",
		    level <= LOG_LVL_WARN ? ": " : "", msg);
		fflush(stderr);
		pthread_mutex_unlock(&log_mtx);
	}
	errno = saved;
}

#define LOG_FN(name, level)					\
void								\
name(const char *fmt, ...)					\
{								\
	va_list ap;						\
	va_start(ap, fmt);					\
	log_vlog(level, fmt, ap);				\
	va_end(ap);						\
}

LOG_FN(log_warnx, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void
log_warn(const char *fmt, ...)
{
	char	buf[2048];
	int	saved = errno;
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s", buf, strerror(saved));
	errno = saved;
}

static void
log_emit(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
log_emit(enum log_level level, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(level, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	char	buf[2048];
	int	saved = errno;
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_emit(LOG_LVL_ERR, "fatal: %s: %s", buf, strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	char	buf[2048];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_emit(LOG_LVL_ERR, "fatal: %s", buf);
	abort();
}
