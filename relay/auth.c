/* auth.c: credentials file, base64 and SASL PLAIN for SMTP AUTH. */
#include <sys/stat.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/xmalloc.h"
#include "relay/auth.h"

struct auth_entry {
	char	*user;
	char	*hash;
};

struct auth {
	struct auth_entry	*v;
	size_t			 n;
};

/* Used for unknown users when the file has no user at all. */
static const char dummy_setting[] = "$6$rounds=5000$stsrelaydummysal$";

static int
hash_ok(const char *h)
{
	size_t len = strlen(h);

	if (len < 13 || h[0] != '$')
		return 0;
	return strncmp(h, "$y$", 3) == 0 || strncmp(h, "$6$", 3) == 0 ||
	    strncmp(h, "$5$", 3) == 0 || strncmp(h, "$2b$", 4) == 0 ||
	    strncmp(h, "$gy$", 4) == 0 || strncmp(h, "$7$", 3) == 0;
}

static int
user_ok(const char *u)
{
	size_t len = strlen(u), i;

	if (len == 0 || len >= AUTH_FIELD_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
			return 0;
	return 1;
}

static const struct auth_entry *
find(const struct auth *a, const char *user)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].user, user) == 0)
			return &a->v[i];
	return NULL;
}

/* One line of the file; 0, or -1 with err filled. */
static int
add_line(struct auth *a, char *line, const char *path, unsigned lineno,
    char *err, size_t errlen)
{
	char	*colon, *nl;

	if ((nl = strchr(line, '\n')) != NULL)
		*nl = '\0';
	if ((nl = strchr(line, '\r')) != NULL && nl[1] == '\0')
		*nl = '\0';
	if (line[0] == '\0' || line[0] == '#')
		return 0;
	if ((colon = strchr(line, ':')) == NULL) {
		snprintf(err, errlen, "%s:%u: malformed line, want user:$crypt-hash", path, lineno);
		return -1;
	}
	*colon = '\0';
	if (!user_ok(line)) {
		snprintf(err, errlen, "%s:%u: bad user name", path, lineno);
		return -1;
	}
	if (!hash_ok(colon + 1) || strchr(colon + 1, ':') != NULL) {
		snprintf(err, errlen, "%s:%u: malformed hash for %s (want a crypt(3) "
		    "string such as $y$... or $6$...)", path, lineno, line);
		return -1;
	}
	if (find(a, line) != NULL) {
		snprintf(err, errlen, "%s:%u: duplicate user %s", path, lineno, line);
		return -1;
	}
	a->v = xreallocarray(a->v, a->n + 1, sizeof(*a->v));
	a->v[a->n].user = xstrdup(line);
	a->v[a->n].hash = xstrdup(colon + 1);
	a->n++;
	return 0;
}

struct auth *
auth_load(const char *path, char *err, size_t errlen)
{
	struct auth	*a;
	struct stat	 st;
	FILE		*f;
	char		 line[1024];
	unsigned	 lineno = 0;
	int		 fd, failed = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "%s: group or others may access it (mode %03o); "
		    "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		close(fd);
		return NULL;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line too long", path, lineno);
			failed = 1;
			break;
		}
		if ((failed = add_line(a, line, path, lineno, err, errlen)) != 0)
			break;
	}
	explicit_bzero(line, sizeof(line));
	if (!failed && ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		failed = 1;
	}
	if (failed) {
		fclose(f);
		auth_free(a);
		return NULL;
	}
	fclose(f);
	return a;
}

void
auth_free(struct auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++) {
		free(a->v[i].user);
		explicit_bzero(a->v[i].hash, strlen(a->v[i].hash));
		free(a->v[i].hash);
	}
	free(a->v);
	free(a);
}

size_t
auth_count(const struct auth *a)
{
	return a->n;
}

int
auth_verify(const struct auth *a, const char *user, const char *pass)
{
	const struct auth_entry	*e = find(a, user);
	struct crypt_data	*cd;
	const char		*setting;
	char			*h;
	int			 match = 0;

	/*
	 * An unknown user is hashed with a real user's setting (same method,
	 * cost and salt length), so that the time of the answer does not tell
	 * which names exist; the result never counts (e == NULL).
	 */
	if (e != NULL)
		setting = e->hash;
	else
		setting = a->n > 0 ? a->v[0].hash : dummy_setting;
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_r(pass, setting, cd);
	if (e != NULL && h != NULL && h[0] == '$' && strlen(h) == strlen(e->hash) &&
	    CRYPTO_memcmp(h, e->hash, strlen(h)) == 0)
		match = 1;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return match;
}

int
auth_plain_split(const unsigned char *buf, size_t len, char *user, size_t ulen,
    char *pass, size_t plen)
{
	const unsigned char	*z1, *z2;
	size_t			 zlen, alen, plen_in;

	if ((z1 = memchr(buf, '\0', len)) == NULL)
		return -1;
	zlen = (size_t)(z1 - buf);
	if ((z2 = memchr(z1 + 1, '\0', len - zlen - 1)) == NULL)
		return -1;
	alen = (size_t)(z2 - z1 - 1);
	plen_in = len - zlen - alen - 2;
	if (alen == 0 || alen >= ulen || plen_in == 0 || plen_in >= plen)
		return -1;
	if (memchr(z2 + 1, '\0', plen_in) != NULL)
		return -1;
	if (zlen != 0 && (zlen != alen || memcmp(buf, z1 + 1, alen) != 0))
		return -1;
	memcpy(user, z1 + 1, alen);
	user[alen] = '\0';
	memcpy(pass, z2 + 1, plen_in);
	pass[plen_in] = '\0';
	return 0;
}
