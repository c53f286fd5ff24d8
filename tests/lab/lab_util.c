/* lab_util.c: sockets, record files and configuration lines for the lab. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "tests/lab/lab_util.h"

struct lab_rec {
	int	fd;
};

int
lab_endpoint(const char *spec, struct netaddr_endpoint *ep)
{
	char	buf[NETADDR_STRLEN + 8];
	size_t	n = strlen(spec);
	int	zero = 0;

	/* netaddr refuses port 0, which here means "pick one" */
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, spec, n + 1);
	if (n >= 2 && strcmp(buf + n - 2, ":0") == 0) {
		buf[n - 1] = '1';
		zero = 1;
	}
	if (netaddr_endpoint_parse(buf, 0, ep) == -1)
		return -1;
	if (zero)
		lab_set_port(ep, 0);
	return 0;
}

void
lab_set_port(struct netaddr_endpoint *ep, int port)
{
	if (ep->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ep->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&ep->ss)->sin6_port = htons(port);
}

int
lab_listen(const char *spec, int socktype, int port, int *bound)
{
	struct netaddr_endpoint	ep;
	struct sockaddr_storage	ss;
	socklen_t		sslen = sizeof(ss);
	int			fd, on = 1, saved;

	if (lab_endpoint(spec, &ep) == -1) {
		errno = EINVAL;
		return -1;
	}
	if (port != -1)
		lab_set_port(&ep, port);
	fd = socket(ep.ss.ss_family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (socktype == SOCK_STREAM &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ep.ss, ep.len) == -1)
		goto fail;
	if (socktype == SOCK_STREAM && listen(fd, 128) == -1)
		goto fail;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
		goto fail;
	*bound = netaddr_port((struct sockaddr *)&ss);
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
lab_write_port(const char *path, int port)
{
	char	*tmp;
	FILE	*fp;
	int	 rv = -1;

	xasprintf(&tmp, "%s.tmp", path);
	if ((fp = fopen(tmp, "w")) == NULL) {
		log_warn("%s", tmp);
		free(tmp);
		return -1;
	}
	if (fprintf(fp, "%d\n", port) < 0)
		log_warn("%s", tmp);
	else if (fclose(fp) == EOF)
		log_warn("%s", tmp);
	else if (rename(tmp, path) == -1)
		log_warn("rename %s", path);
	else
		rv = 0;
	if (rv == -1)
		unlink(tmp);
	free(tmp);
	return rv;
}

struct lab_rec *
lab_rec_open(const char *path)
{
	struct lab_rec	*r = xcalloc(1, sizeof(*r));

	r->fd = -1;
	if (path != NULL &&
	    (r->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) == -1)
		fatal("open %s", path);
	return r;
}

void
lab_rec(struct lab_rec *r, const char *fmt, ...)
{
	char		 line[8192];
	struct timespec	 now;
	struct tm	 tm;
	size_t		 n;
	ssize_t		 w;
	va_list		 ap;

	if (r == NULL || r->fd == -1)
		return;
	if (clock_gettime(CLOCK_REALTIME, &now) == -1 || gmtime_r(&now.tv_sec, &tm) == NULL)
		fatal("lab_rec: no clock");
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - n, ".%03ldZ ", now.tv_nsec / 1000000);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	n = strlen(line);
	line[n++] = '\n';
	w = write(r->fd, line, n);
	if (w == -1 || (size_t)w != n)
		log_warn("record file: short write");
}

void
lab_rec_close(struct lab_rec *r)
{
	if (r == NULL)
		return;
	if (r->fd != -1)
		close(r->fd);
	free(r);
}

static int
split_quoted(char **pp, char **word)
{
	char	*src = *pp + 1, *dst = *pp + 1;

	*word = dst;
	for (;;) {
		if (*src == '\0')
			return -1;
		if (*src == '"')
			break;
		if (*src == '\\' && (src[1] == '"' || src[1] == '\\'))
			src++;
		*dst++ = *src++;
	}
	*dst = '\0';
	*pp = src + 1;
	return 0;
}

int
lab_split(char *line, char **argv, int maxargs)
{
	char	*p = line;
	int	 argc = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p == '\0' || *p == '#')
			return argc;
		if (argc == maxargs)
			return -1;
		if (*p == '"') {
			if (split_quoted(&p, &argv[argc]) == -1)
				return -1;
			argc++;
			if (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
				return -1;
			if (*p != '\0')
				p++;
			continue;
		}
		argv[argc++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			p++;
		if (*p == '\0')
			return argc;
		*p++ = '\0';
	}
}

int
lab_conf_read(const char *path, lab_conf_fn fn, void *arg, char *err, size_t errlen)
{
	char	 line[LAB_LINE_MAX + 2], msg[512], *argv[LAB_ARGS_MAX];
	FILE	*fp;
	int	 lineno = 0, argc, rv = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			snprintf(err, errlen, "%s:%d: line longer than %d bytes",
			    path, lineno, LAB_LINE_MAX);
			rv = -1;
			break;
		}
		if ((argc = lab_split(line, argv, LAB_ARGS_MAX)) == -1) {
			snprintf(err, errlen, "%s:%d: unterminated quote or more "
			    "than %d words", path, lineno, LAB_ARGS_MAX);
			rv = -1;
			break;
		}
		if (argc == 0)
			continue;
		msg[0] = '\0';
		if (fn(arg, argc, argv, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			rv = -1;
			break;
		}
	}
	if (rv == 0 && ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		rv = -1;
	}
	fclose(fp);
	return rv;
}

char *
lab_strs_dup(struct lab_strs *pool, const char *s)
{
	pool->v = xreallocarray(pool->v, pool->n + 1, sizeof(*pool->v));
	return pool->v[pool->n++] = xstrdup(s);
}

void
lab_strs_free(struct lab_strs *pool)
{
	size_t	i;

	for (i = 0; i < pool->n; i++)
		free(pool->v[i]);
	free(pool->v);
	pool->v = NULL;
	pool->n = 0;
}

void
lab_escape(const void *in, size_t len, char *out, size_t outlen)
{
	const unsigned char	*s = in;
	size_t			 i, o = 0, n;
	char			 tmp[5];

	if (outlen == 0)
		return;
	for (i = 0; i < len; i++) {
		if (s[i] == '\r')
			memcpy(tmp, "\\r", 3);
		else if (s[i] == '\n')
			memcpy(tmp, "\\n", 3);
		else if (s[i] == '\t')
			memcpy(tmp, "\\t", 3);
		else if (s[i] == '\\' || s[i] == '"')
			snprintf(tmp, sizeof(tmp), "\\%c", s[i]);
		else if (s[i] < 0x20 || s[i] >= 0x7f)
			snprintf(tmp, sizeof(tmp), "\\x%02x", s[i]);
		else {
			tmp[0] = (char)s[i];
			tmp[1] = '\0';
		}
		n = strlen(tmp);
		if (o + n + 1 > outlen)
			break;
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
}

int
lab_parse_port(const char *s, int *port)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

void
lab_usage(const char *text, int status)
{
	fputs(text, status == 0 ? stdout : stderr);
	exit(status);
}
