/* log.h: the relay's one logger: stderr or syslog, key=value friendly. */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG
};

enum log_dest {
	LOG_DEST_STDERR = 0,
	LOG_DEST_SYSLOG
};

void	log_init(const char *progname, enum log_dest, enum log_level);
void	log_set_level(enum log_level);
enum log_level log_get_level(void);
int	log_level_parse(const char *, enum log_level *);
const char *log_level_name(enum log_level);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_vlog(enum log_level, const char *, va_list) __attribute__((format(printf, 2, 0)));

/* fatal: log with strerror(errno) and exit; fatalx: broken invariant, no errno. */
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
