/*
 * auth.h: SMTP AUTH (RFC 4954) support: the credentials file ("user:hash"
 * lines, hash a crypt(3) string such as $y$ yescrypt or $6$ sha512-crypt),
 * base64, and the SASL PLAIN message (RFC 4616). Passwords never reach logs.
 */
#ifndef RELAY_AUTH_H
#define RELAY_AUTH_H

#include <stddef.h>

#define AUTH_FIELD_MAX	256	/* user name or password incl. NUL */

struct auth;

/*
 * Load the credentials file. Refuses a file that group or others may read
 * or write, and malformed lines, with "file:line: reason" in err.
 */
struct auth	*auth_load(const char *path, char *err, size_t errlen);
void		 auth_free(struct auth *);
size_t		 auth_count(const struct auth *);
/* 1 when user exists and pass matches its hash, else 0. */
int		 auth_verify(const struct auth *, const char *user, const char *pass);

/*
 * SASL PLAIN: [authzid] NUL authcid NUL passwd. An authzid other than empty
 * or the authcid is refused (no proxy authorization). Returns 0 or -1.
 */
int		 auth_plain_split(const unsigned char *, size_t, char *user, size_t ulen,
		    char *pass, size_t plen);

#endif
