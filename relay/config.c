/*
 * config.c: the relay's configuration, one flat file of "key = value" lines.
 *
 * inih splits the file into lines, comments and key/value pairs; everything
 * else is ours: every key is one row of cfg_keys[] (name, type, field,
 * bounds, default, help), and the same row parses the default, the file,
 * -o overrides, and formats the value back for config_print().
 *
 * inih reads through cfg_read() so that we know the physical line number of
 * every pair, can refuse [section] and over-long lines, and can tell an
 * indented continuation line (allowed for lists only) from a duplicate key.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <ini.h>

#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/config.h"
#include "relay/config_key.h"

#define CFG_READ_MAX	1024	/* physical line buffer; inih's own limit is lower */

struct cfg_ctx {
	struct config	*cfg;
	FILE		*fp;
	const char	*file;
	int		 lineno;		/* physical line inih is parsing */
	int		 indented;		/* that line starts with blanks */
	int		 lastkey;		/* key of the previous pair, -1 */
	int		 line[CONFIG_NKEYS];	/* where each key was set in the file */
	const char	*ovr[CONFIG_NKEYS];	/* or which -o set it */
	int		 errline;		/* first error: line (0 = none) */
	char		 errmsg[512];
};

static void cfg_error(struct cfg_ctx *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static void cfg_setmsg(struct cfg_ctx *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* The message, replacing any (may truncate: messages are one line). */
static void
cfg_setmsg(struct cfg_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->errmsg, sizeof(ctx->errmsg), fmt, ap);
	va_end(ap);
}

/* Record the first error only: later ones are usually its consequences. */
static void
cfg_error(struct cfg_ctx *ctx, int line, const char *fmt, ...)
{
	va_list ap;

	if (ctx->errline != 0)
		return;
	ctx->errline = line;
	va_start(ap, fmt);
	vsnprintf(ctx->errmsg, sizeof(ctx->errmsg), fmt, ap);
	va_end(ap);
}

/*
 * inih's reader: one physical line at a time, so ctx->lineno is the line of
 * the pair the handler sees next. Lines inih cannot take whole (its buffer
 * is num bytes) and [section] lines are refused here and handed on empty.
 */
static char *
cfg_read(char *str, int num, void *stream)
{
	struct cfg_ctx	*ctx = stream;
	char		 buf[CFG_READ_MAX];
	const char	*p;
	size_t		 len = 0;
	int		 c, nul = 0;

	/* by octets, not fgets(): a NUL must not hide the rest of its line */
	while ((c = getc(ctx->fp)) != EOF && c != '\n') {
		if (c == '\0')
			nul = 1;
		if (len < sizeof(buf) - 1)
			buf[len] = (char)c;
		len++;
	}
	if (c == EOF && ferror(ctx->fp)) {
		cfg_error(ctx, ctx->lineno + 1, "read error: %s", strerror(errno));
		return NULL;
	}
	if (c == EOF && len == 0)
		return NULL;
	ctx->lineno++;
	buf[len < sizeof(buf) - 1 ? len : sizeof(buf) - 1] = '\0';
	if (len > 0 && len < sizeof(buf) && buf[len - 1] == '\r')
		buf[--len] = '\0';
	str[0] = '\0';
	if (nul) {
		cfg_error(ctx, ctx->lineno, "NUL byte in the line");
		return str;
	}
	if (num < 4 || len > (size_t)num - 4) {
		cfg_error(ctx, ctx->lineno, "line too long (at most %d characters; "
		    "continue a list on indented lines)", num - 4);
		return str;
	}
	for (p = buf; *p == ' ' || *p == '\t'; p++)
		;
	/* Indented, it may continue a list of IPv6 addresses: [::1]:25 */
	if (*p == '[' && (p == buf || ctx->lastkey == -1)) {
		cfg_error(ctx, ctx->lineno, "%s: sections are not supported, the file "
		    "is one flat list of key = value lines", p);
		return str;
	}
	ctx->indented = p != buf && *p != '\0';
	strutil_lcpy(str, buf, (size_t)num);
	return str;
}

static int
cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_ctx	*ctx = user;
	char		 msg[400];
	int		 k, append = 0;

	if (*section != '\0') {
		/* cfg_read() refuses [section] lines; this is in case one slipped by. */
		cfg_error(ctx, ctx->lineno, "[%.64s]: sections are not supported", section);
		return 0;
	}
	if (*name == '\0') {
		cfg_error(ctx, ctx->lineno, "missing key name before '='");
		return 0;
	}
	if ((k = config_key_find(name)) == -1) {
		cfg_error(ctx, ctx->lineno, "unknown key \"%.64s\" (see stsrelay.conf(5) "
		    "for the list)", name);
		ctx->lastkey = -1;
		return 0;
	}
	if (ctx->indented && ctx->lastkey == k) {
		if (!config_key_is_list(k)) {
			cfg_error(ctx, ctx->lineno, "%s takes a single value; only lists "
			    "continue on indented lines", name);
			return 0;
		}
		append = 1;
	} else if (ctx->line[k] != 0) {
		cfg_error(ctx, ctx->lineno, "duplicate key %s (first set on line %d)",
		    name, ctx->line[k]);
		ctx->lastkey = -1;
		return 0;
	} else
		ctx->line[k] = ctx->lineno;
	ctx->lastkey = k;
	if (config_key_set(ctx->cfg, k, value, append, msg, sizeof(msg)) == -1) {
		cfg_error(ctx, ctx->lineno, "%s", msg);
		return 0;
	}
	return 1;
}

/* Parse an open file; name is what errors call it. */
static int
cfg_parse_stream(struct cfg_ctx *ctx, FILE *fp, const char *name)
{
	char	msg[sizeof(ctx->errmsg)];
	int	ret;

	ctx->fp = fp;
	ctx->file = name;
	ctx->lastkey = -1;
	ret = ini_parse_stream(cfg_read, ctx, cfg_handler, ctx);
	ctx->fp = NULL;
	if (ret > 0 && (ctx->errline == 0 || ret < ctx->errline)) {
		ctx->errline = ret;
		cfg_setmsg(ctx, "syntax error: expected key = value (a # starts a comment line)");
	} else if (ret < 0 && ctx->errline == 0) {
		ctx->errline = 1;
		cfg_setmsg(ctx, "cannot parse: out of memory");
	}
	if (ctx->errline != 0) {
		strutil_lcpy(msg, ctx->errmsg, sizeof(msg));
		cfg_setmsg(ctx, "%s:%d: %s", name, ctx->errline, msg);
		return -1;
	}
	return 0;
}

/* "-o key=value": replaces what the file said. The last -o of a key wins. */
static int
cfg_override(struct cfg_ctx *ctx, const char *o)
{
	char		 key[64], msg[400], *val;
	const char	*eq, *v;
	size_t		 klen;
	int		 k, r;

	if ((eq = strchr(o, '=')) == NULL) {
		cfg_setmsg(ctx, "-o %.100s: expected key=value", o);
		return -1;
	}
	while (*o == ' ' || *o == '\t')
		o++;
	for (klen = (size_t)(eq - o); klen > 0 && (o[klen - 1] == ' ' || o[klen - 1] == '\t'); klen--)
		;
	if (klen >= sizeof(key))
		klen = sizeof(key) - 1;
	memcpy(key, o, klen);
	key[klen] = '\0';
	if ((k = config_key_find(key)) == -1) {
		cfg_setmsg(ctx, "-o %.100s: unknown key "
		    "\"%s\" (see stsrelay.conf(5))", o, key);
		return -1;
	}
	for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
		;
	val = xstrdup(v);
	for (klen = strlen(val); klen > 0 && (val[klen - 1] == ' ' || val[klen - 1] == '\t'); klen--)
		val[klen - 1] = '\0';
	r = config_key_set(ctx->cfg, k, val, 0, msg, sizeof(msg));
	free(val);
	if (r == -1) {
		cfg_setmsg(ctx, "-o %.100s: %s", o, msg);
		return -1;
	}
	ctx->ovr[k] = o;
	return 0;
}

/* Where a key got its value, to name it in an error about two keys. */
static void
cfg_where(const struct cfg_ctx *ctx, int k, char *buf, size_t len)
{
	if (ctx->ovr[k] != NULL)
		snprintf(buf, len, "-o %.100s", ctx->ovr[k]);
	else if (ctx->line[k] != 0)
		snprintf(buf, len, "%s:%d", ctx->file, ctx->line[k]);
	else
		snprintf(buf, len, "default %s", config_key_name(k));
}

/* Rules that span keys; run once everything is read. */
static int
cfg_check(struct cfg_ctx *ctx)
{
	struct config	*cfg = ctx->cfg;
	char		 where[160];
	int		 k;

	char		 msg[400];

	for (k = 0; k < CONFIG_NKEYS; k++)
		if (config_key_check(cfg, k, msg, sizeof(msg)) == -1) {
			cfg_where(ctx, k, where, sizeof(where));
			cfg_setmsg(ctx, "%s: %s", where, msg);
			return -1;
		}
	if (cfg->smtp_auth && cfg->auth_credentials_file[0] == '\0') {
		cfg_where(ctx, k = config_key_find("smtp_auth"), where, sizeof(where));
		cfg_setmsg(ctx, "%s: smtp_auth = yes needs "
		    "auth_credentials_file (a file of user:$crypt-hash lines)", where);
		return -1;
	}
	if ((cfg->tls_cert_file[0] == '\0') != (cfg->tls_key_file[0] == '\0')) {
		k = config_key_find(cfg->tls_cert_file[0] != '\0' ? "tls_cert_file" : "tls_key_file");
		cfg_where(ctx, k, where, sizeof(where));
		cfg_setmsg(ctx, "%s: tls_cert_file and "
		    "tls_key_file go together: set both or neither", where);
		return -1;
	}
	if (strlen(cfg->control_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		cfg_where(ctx, k = config_key_find("control_socket"), where, sizeof(where));
		cfg_setmsg(ctx, "%s: control_socket is too "
		    "long for a UNIX socket (at most %zu characters)", where,
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -1;
	}
	return 0;
}

static void
cfg_default_hostname(struct config *cfg)
{
	char name[256];

	if (cfg->hostname[0] != '\0')
		return;
	if (gethostname(name, sizeof(name)) != 0 || name[0] == '\0')
		strutil_lcpy(name, "localhost", sizeof(name));
	name[sizeof(name) - 1] = '\0';
	free(cfg->hostname);
	cfg->hostname = xstrdup(name);
}

/* Defaults, then the file (fp may be NULL), then the overrides, then checks. */
static int
cfg_load(struct config *cfg, FILE *fp, const char *name, char *const *overrides,
    size_t noverrides, char *err, size_t errlen)
{
	struct cfg_ctx	*ctx;
	size_t		 i;
	int		 ret = -1;

	memset(cfg, 0, sizeof(*cfg));
	config_key_defaults(cfg);
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->cfg = cfg;
	ctx->lastkey = -1;
	if (fp != NULL && cfg_parse_stream(ctx, fp, name) == -1)
		goto out;
	for (i = 0; i < noverrides; i++)
		if (cfg_override(ctx, overrides[i]) == -1)
			goto out;
	if (cfg_check(ctx) == -1)
		goto out;
	cfg_default_hostname(cfg);
	ret = 0;
 out:
	if (ret == -1) {
		strutil_lcpy(err, ctx->errmsg, errlen);
		config_free(cfg);
	}
	free(ctx);
	return ret;
}

int
config_load(struct config *cfg, const char *path, char *const *overrides,
    size_t noverrides, char *err, size_t errlen)
{
	FILE	*fp = NULL;
	int	 ret;

	if (path != NULL && (fp = fopen(path, "r")) == NULL) {
		memset(cfg, 0, sizeof(*cfg));
		snprintf(err, errlen, "%s: cannot open the configuration file: %s", path,
		    strerror(errno));
		return -1;
	}
	ret = cfg_load(cfg, fp, path, overrides, noverrides, err, errlen);
	if (fp != NULL && fclose(fp) != 0 && ret == 0) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		config_free(cfg);
		return -1;
	}
	return ret;
}

int
config_load_stream(struct config *cfg, FILE *fp, const char *name, char *const *overrides,
    size_t noverrides, char *err, size_t errlen)
{
	return cfg_load(cfg, fp, name, overrides, noverrides, err, errlen);
}

void
config_free(struct config *cfg)
{
	config_key_free(cfg);
}
