/*
 * smtp_auth.c: AUTH PLAIN and AUTH LOGIN (RFC 4954, 4616), offered only
 * over TLS (H3). Passwords are wiped after use and never logged.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/auth.h"
#include "relay/config.h"
#include "relay/smtp_session.h"

#define AUTH_BUF_MAX	(3 * AUTH_FIELD_MAX + 8)

static void
auth_result(struct smtp_session *s, const char *mech, const char *user, const char *pass)
{
	if (auth_verify(s->srv->auth, user, pass)) {
		free(s->auth_user);
		s->auth_user = xstrdup(user);
		s->flags |= SMTP_F_AUTH;
		log_info("%s: sasl_method=%s, sasl_username=%s", s->addr, mech, user);
		smtp_session_transition(s, SMTP_S_HELO);
		smtp_session_reply(s, 235, "2.7.0", "Authentication successful");
		return;
	}
	log_info("%s: SASL %s authentication failed", s->addr, mech);
	free(s->auth_user);
	s->auth_user = NULL;
	smtp_session_transition(s, SMTP_S_HELO);
	smtp_session_reply(s, 535, "5.7.8", "Authentication credentials invalid");
	smtp_cmd_error(s);
}

/* Decode one base64 response; on failure reply and return -1. */
static int
decode(struct smtp_session *s, const char *in, unsigned char *out, size_t cap, size_t *len)
{
	if (strcmp(in, "=") == 0) {	/* an empty initial response */
		*len = 0;
		return 0;
	}
	if (auth_b64_decode(in, strlen(in), out, cap, len) == 0)
		return 0;
	smtp_session_transition(s, SMTP_S_HELO);
	smtp_session_reply(s, 501, "5.5.2", "Cannot decode response");
	smtp_cmd_error(s);
	return -1;
}

static void
plain(struct smtp_session *s, const char *b64)
{
	unsigned char	buf[AUTH_BUF_MAX];
	char		user[AUTH_FIELD_MAX], pass[AUTH_FIELD_MAX];
	size_t		len;

	if (decode(s, b64, buf, sizeof(buf), &len) != 0)
		return;
	if (auth_plain_split(buf, len, user, sizeof(user), pass, sizeof(pass)) != 0) {
		explicit_bzero(buf, sizeof(buf));
		smtp_session_transition(s, SMTP_S_HELO);
		smtp_session_reply(s, 535, "5.7.8", "Authentication credentials invalid");
		smtp_cmd_error(s);
		return;
	}
	auth_result(s, "PLAIN", user, pass);
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(pass, sizeof(pass));
}

/* AUTH LOGIN: the user name (initial response or first 334). */
static void
login_user(struct smtp_session *s, const char *b64)
{
	unsigned char	buf[AUTH_FIELD_MAX];
	size_t		len;

	if (decode(s, b64, buf, sizeof(buf) - 1, &len) != 0)
		return;
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		smtp_session_transition(s, SMTP_S_HELO);
		smtp_session_reply(s, 535, "5.7.8", "Authentication credentials invalid");
		smtp_cmd_error(s);
		return;
	}
	buf[len] = '\0';
	free(s->auth_user);
	s->auth_user = xstrdup((char *)buf);
	smtp_session_transition(s, SMTP_S_AUTH_PASS);
	smtp_session_raw(s, "334 UGFzc3dvcmQ6");	/* "Password:" */
}

static void
login_pass(struct smtp_session *s, const char *b64)
{
	unsigned char	buf[AUTH_FIELD_MAX];
	size_t		len;
	char		user[AUTH_FIELD_MAX];

	if (decode(s, b64, buf, sizeof(buf) - 1, &len) != 0)
		return;
	buf[len] = '\0';
	strutil_lcpy(user, s->auth_user != NULL ? s->auth_user : "", sizeof(user));
	if (len == 0 || memchr(buf, '\0', len) != NULL)
		auth_result(s, "LOGIN", "", "");
	else
		auth_result(s, "LOGIN", user, (char *)buf);
	explicit_bzero(buf, sizeof(buf));
}

void
smtp_auth_cmd(struct smtp_session *s, const char *arg)
{
	const char	*ir;
	size_t		 mlen;

	if (s->srv->auth == NULL) {
		smtp_session_reply(s, 503, "5.5.1", "Authentication not enabled");
		smtp_cmd_error(s);
		return;
	}
	if (!(s->flags & SMTP_F_TLS)) {
		smtp_session_reply(s, 538, "5.7.11", "Encryption required for requested "
		    "authentication mechanism");
		smtp_cmd_error(s);
		return;
	}
	if (s->flags & SMTP_F_AUTH) {
		smtp_session_reply(s, 503, "5.5.1", "Already authenticated");
		smtp_cmd_error(s);
		return;
	}
	mlen = strcspn(arg, " ");
	ir = arg[mlen] == ' ' ? arg + mlen + 1 : NULL;
	if (mlen == 5 && strncasecmp(arg, "PLAIN", 5) == 0) {
		if (ir != NULL)
			plain(s, ir);
		else {
			smtp_session_transition(s, SMTP_S_AUTH_PLAIN);
			smtp_session_raw(s, "334 ");
		}
	} else if (mlen == 5 && strncasecmp(arg, "LOGIN", 5) == 0) {
		if (ir != NULL)
			login_user(s, ir);
		else {
			smtp_session_transition(s, SMTP_S_AUTH_USER);
			smtp_session_raw(s, "334 VXNlcm5hbWU6");	/* "Username:" */
		}
	} else {
		smtp_session_reply(s, 504, "5.5.4", "Unrecognized authentication type");
		smtp_cmd_error(s);
	}
}

/* A response line to a 334. */
void
smtp_auth_line(struct smtp_session *s, const char *line)
{
	if (strcmp(line, "*") == 0) {
		free(s->auth_user);
		s->auth_user = NULL;
		smtp_session_transition(s, SMTP_S_HELO);
		smtp_session_reply(s, 501, "5.7.0", "Authentication cancelled");
		return;
	}
	switch (s->state) {
	case SMTP_S_AUTH_PLAIN:
		plain(s, line);
		break;
	case SMTP_S_AUTH_USER:
		login_user(s, line);
		break;
	case SMTP_S_AUTH_PASS:
		login_pass(s, line);
		break;
	default:
		fatalx("smtp_auth_line: in state %s", smtp_strstate(s->state));
	}
}
