/*
 * smtp_client_data.c: dot-stuffing and line-end repair of an outgoing
 * message body (H2). Runs of ordinary octets are copied in one piece.
 */
#include <string.h>

#include <event2/buffer.h>

#include "relay/smtp_client_data.h"

void
smtpc_data_init(struct smtpc_data *d)
{
	memset(d, 0, sizeof(*d));
	d->bol = 1;
}

uint64_t
smtpc_data_repairs(const struct smtpc_data *d)
{
	return d->bare_cr + d->bare_lf + d->nul + (d->no_final_eol ? 1 : 0);
}

static int
put(struct smtpc_data *d, struct evbuffer *out, const void *p, size_t len)
{
	if (len == 0)
		return 0;
	d->out += len;
	return evbuffer_add(out, p, len);
}

static int
eol(struct smtpc_data *d, struct evbuffer *out)
{
	d->bol = 1;
	return put(d, out, "\r\n", 2);
}

/* The length of a run of octets that need no care, at most len. */
static size_t
plain_run(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			break;
	return i;
}

int
smtpc_data_encode(struct smtpc_data *d, const void *buf, size_t len, struct evbuffer *out)
{
	const unsigned char	*p = buf;
	size_t			 i = 0, n;

	d->in += len;
	while (i < len) {
		if (d->cr) {
			d->cr = 0;
			if (p[i] == '\n') {
				i++;
				if (eol(d, out) == -1)
					return -1;
				continue;
			}
			d->bare_cr++;
			if (eol(d, out) == -1)
				return -1;
		}
		if (p[i] == '\r') {
			d->cr = 1;
			i++;
			continue;
		}
		if (p[i] == '\n') {
			d->bare_lf++;
			i++;
			if (eol(d, out) == -1)
				return -1;
			continue;
		}
		if (p[i] == '\0') {
			/* dropped; a line "\0." still starts with the dot */
			d->nul++;
			i++;
			continue;
		}
		if (d->bol && p[i] == '.') {
			d->stuffed++;
			if (put(d, out, ".", 1) == -1)
				return -1;
		}
		d->bol = 0;
		n = plain_run(p + i, len - i);
		if (put(d, out, p + i, n) == -1)
			return -1;
		i += n;
	}
	return 0;
}

int
smtpc_data_finish(struct smtpc_data *d, struct evbuffer *out)
{
	if (d->cr) {
		d->cr = 0;
		d->bare_cr++;
		if (eol(d, out) == -1)
			return -1;
	}
	if (!d->bol) {
		d->no_final_eol = 1;
		if (eol(d, out) == -1)
			return -1;
	}
	return put(d, out, ".\r\n", 3);
}
