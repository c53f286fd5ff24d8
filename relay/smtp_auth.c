/*
 * smtp_auth.c: AUTH PLAIN and AUTH LOGIN (RFC 4954, 4616), offered only
 * over TLS (H3). The password is checked by auth_worker.c off the event
 * loop while the session waits in AUTH_VERIFY. Passwords are wiped after
 * use and never logged.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/base64.h"
#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/auth.h"
#include "relay/auth_worker.h"
#include "relay/config.h"
#include "relay/smtp_session.h"

/* A decoded response: the longest base64 line decodes to this many octets. */
#define AUTH_BUF_MAX	(SMTP_AUTH_RESPONSE_MAX / 4 * 3)

static void
failed(struct smtp_session *s)
{
	free(s->auth_user);
	s->auth_user = NULL;
	smtp_session_transition(s, SMTP_S_HELO);
	smtp_session_reply(s, 535, "5.7.8", "Authentication credentials invalid");
	smtp_cmd_error(s);
}

/* The verdict, on the loop thread; the session is alive (destroy cancels). */
static void
auth_on_verify(void *arg, int ok)
{
	struct smtp_session *s = arg;

	if (s->state != SMTP_S_AUTH_VERIFY)
		fatalx("auth_on_verify: session in state %s", smtp_strstate(s->state));
	s->auth_job = NULL;
	if (ok) {
		s->flags |= SMTP_F_AUTH;
		log_info("%s: sasl_method=%s, sasl_username=%s", s->addr, s->auth_mech,
		    s->auth_user);
		smtp_session_transition(s, SMTP_S_HELO);
		smtp_session_reply(s, 235, "2.7.0", "Authentication successful");
	} else {
		log_info("%s: SASL %s authentication failed", s->addr, s->auth_mech);
		failed(s);
	}
	/* commands that came meanwhile */
	smtp_session_resume(s);
}

/* Hand the check to the threads and wait for auth_on_verify(). */
static void
auth_query_verify(struct smtp_session *s, const char *mech, const char *user,
    const char *pass)
{
	free(s->auth_user);
	s->auth_user = xstrdup(user);
	s->auth_mech = mech;
	s->auth_job = auth_worker_query(s->srv->worker, user, pass, auth_on_verify, s);
	if (s->auth_job == NULL) {
		log_warnx("%s: too many password checks pending, AUTH refused", s->addr);
		free(s->auth_user);
		s->auth_user = NULL;
		smtp_session_transition(s, SMTP_S_HELO);
		smtp_session_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	smtp_session_transition(s, SMTP_S_AUTH_VERIFY);
}

/* Decode one base64 response; on failure reply and return -1. */
static int
decode(struct smtp_session *s, const char *in, unsigned char *out, size_t cap, size_t *len)
{
	if (strcmp(in, "=") == 0) {	/* an empty initial response */
		*len = 0;
		return 0;
	}
	if (base64_decode(in, strlen(in), out, cap, len) == 0)
		return 0;
	explicit_bzero(out, cap);	/* whatever was decoded before the error */
	free(s->auth_user);
	s->auth_user = NULL;
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
	/* fields too long for any account are refused, never cut short */
	if (auth_plain_split(buf, len, user, sizeof(user), pass, sizeof(pass)) != 0) {
		explicit_bzero(buf, len);
		failed(s);
		return;
	}
	auth_query_verify(s, "PLAIN", user, pass);
	explicit_bzero(buf, len);
	explicit_bzero(pass, sizeof(pass));
}

/* AUTH LOGIN: the user name (initial response or first 334). */
static void
login_user(struct smtp_session *s, const char *b64)
{
	unsigned char	buf[AUTH_BUF_MAX];
	size_t		len;

	if (decode(s, b64, buf, sizeof(buf), &len) != 0)
		return;
	if (len == 0 || len >= AUTH_FIELD_MAX || memchr(buf, '\0', len) != NULL) {
		failed(s);
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
	unsigned char	buf[AUTH_BUF_MAX];
	size_t		len;
	char		user[AUTH_FIELD_MAX];

	if (decode(s, b64, buf, sizeof(buf) - 1, &len) != 0)
		return;
	if (len == 0 || len >= AUTH_FIELD_MAX || memchr(buf, '\0', len) != NULL) {
		explicit_bzero(buf, len);
		failed(s);
		return;
	}
	buf[len] = '\0';
	strutil_lcpy(user, s->auth_user != NULL ? s->auth_user : "", sizeof(user));
	auth_query_verify(s, "LOGIN", user, (char *)buf);
	explicit_bzero(buf, len);
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
