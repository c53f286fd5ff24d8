/*
 * smtp_client_status.c: the names of the client's TLS modes and outcome
 * kinds, and the status of a recipient or transaction taken from a reply
 * or set locally, formatted for logs and DSNs.
 */
#include <stdio.h>
#include <string.h>

#include "common/strutil.h"
#include "relay/smtp_client.h"
#include "relay/smtp_client_int.h"

const char *
smtpc_mode_name(enum smtpc_tls_mode m)
{
	switch (m) {
	case SMTPC_TLS_PLAINTEXT:
		return "plaintext";
	case SMTPC_TLS_OPPORTUNISTIC:
		return "opportunistic";
	case SMTPC_TLS_TESTING:
		return "testing";
	case SMTPC_TLS_VERIFY:
		return "verify";
	}
	return "?";
}

const char *
smtpc_kind_name(enum smtpc_kind k)
{
	switch (k) {
	case SMTPC_OK:
		return "ok";
	case SMTPC_TEMP:
		return "temporary";
	case SMTPC_PERM:
		return "permanent";
	}
	return "?";
}

void
smtpc_status_set(struct smtpc_status *st, enum smtpc_kind kind, int local, int code,
    const char *enhanced, const char *text)
{
	st->kind = kind;
	st->local = local;
	st->code = code;
	strutil_lcpy(st->enhanced, enhanced, sizeof(st->enhanced));
	strutil_lcpy(st->text, text, sizeof(st->text));
}

void
smtpc_status_reply(struct smtpc_status *st, const struct smtpc_reply *r)
{
	static const char *const dflt[] = { "2.0.0", "2.0.0", "2.0.0", "4.0.0", "5.0.0" };
	enum smtpc_kind	kind;
	int		cls = r->code / 100;

	if (cls == 2)
		kind = SMTPC_OK;
	else if (cls == 5)
		kind = SMTPC_PERM;
	else
		kind = SMTPC_TEMP;
	smtpc_status_set(st, kind, 0, r->code,
	    r->enhanced[0] != '\0' ? r->enhanced : dflt[cls >= 2 && cls <= 5 ? cls - 1 : 3],
	    r->text);
	if (cls == 3)		/* a 3xx where none belongs: not a success */
		strutil_lcpy(st->enhanced, "4.5.0", sizeof(st->enhanced));
}

void
smtpc_status_format(const struct smtpc_status *st, char *buf, size_t len)
{
	if (st->local || st->code == 0)
		snprintf(buf, len, "%s %s", st->enhanced, st->text);
	else
		snprintf(buf, len, "%d %s %s", st->code, st->enhanced, st->text);
}
