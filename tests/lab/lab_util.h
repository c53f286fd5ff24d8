/*
 * lab_util.h: what every lab program shares: listening sockets on loopback
 * (port 0 = pick one, written to a port file), the record file tests read,
 * the configuration line reader and printable escaping for logs.
 */
#ifndef LAB_UTIL_H
#define LAB_UTIL_H

#include <stdarg.h>
#include <stddef.h>

#define LAB_LINE_MAX	4096	/* longest configuration line */
#define LAB_ARGS_MAX	64	/* most words on one configuration line */

struct netaddr_endpoint;

/* Numeric "addr:port" like netaddr_endpoint_parse, port 0 allowed. 0 or -1. */
int	lab_endpoint(const char *, struct netaddr_endpoint *);
void	lab_set_port(struct netaddr_endpoint *, int);

/*
 * Bind "addr:port" (numeric; port 0 = any free port) for SOCK_STREAM (and
 * listen) or SOCK_DGRAM. When port is not -1 it overrides the port of spec.
 * Returns a non-blocking close-on-exec descriptor and the bound port in
 * *bound, or -1 with errno set.
 */
int	lab_listen(const char *spec, int socktype, int port, int *bound);

/* Write "PORT\n" to path atomically (tests poll for the file). 0 or -1. */
int	lab_write_port(const char *path, int port);

/*
 * The record file: one line per event, each written with one write(2) on an
 * O_APPEND descriptor, so a test polling it never sees half a line.
 * A NULL path gives a record that writes nowhere.
 */
struct lab_rec;
struct lab_rec	*lab_rec_open(const char *path);
void	lab_rec(struct lab_rec *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	lab_rec_close(struct lab_rec *);

/*
 * Split a line into words in place: blanks separate, "..." quotes (with \"
 * and \\ inside) keep blanks, '#' outside quotes starts a comment.
 * Returns the number of words, or -1 (unterminated quote, too many words).
 */
int	lab_split(char *line, char **argv, int maxargs);

/*
 * Read a configuration file line by line, calling fn with the words of each
 * non-empty line. Lines over LAB_LINE_MAX are an error. On error (from the
 * reader or from fn, which writes its own message) err holds
 * "file:line: message" and -1 is returned.
 */
typedef int (*lab_conf_fn)(void *arg, int argc, char **argv, char *err, size_t errlen);
int	lab_conf_read(const char *path, lab_conf_fn fn, void *arg, char *err, size_t errlen);

/* A pool of strings freed together: configuration values shared by copies. */
struct lab_strs {
	char	**v;
	size_t	  n;
};
char	*lab_strs_dup(struct lab_strs *, const char *);
void	 lab_strs_free(struct lab_strs *);

/* Copy len bytes as printable ASCII: \r \n \t \\ \" and \xNN escapes. */
void	lab_escape(const void *in, size_t len, char *out, size_t outlen);

/* Parse a port number 0..65535. 0 or -1. */
int	lab_parse_port(const char *, int *);

/* The -h text and exit status 0 (asked for) or 64 (usage error). */
void	lab_usage(const char *text, int status) __attribute__((noreturn));

#endif
