/*
 * smtp_client_data.c: dot-stuffing and line-end repair of an outgoing
 * message body (H2). Runs of ordinary octets are copied in one piece.
 */
#include <stdint.h>
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

/*
 * Encode into dst, which has room for 2 * len + 2 octets: each input octet
 * gives at most two (a bare CR or LF becomes CRLF, a dot at the start of a
 * line gets another), and a CR left from the previous call its CRLF.
 * Returns the octets written.
 */
static size_t
encode(struct smtpc_data *d, const unsigned char *p, size_t len, unsigned char *dst)
{
	size_t i = 0, w = 0, n;

	while (i < len) {
		if (d->cr) {
			d->cr = 0;
			if (p[i] != '\n')
				d->bare_cr++;
			else
				i++;
			dst[w++] = '\r';
			dst[w++] = '\n';
			d->bol = 1;
			continue;
		}
		if (p[i] == '\r') {
			d->cr = 1;
			i++;
			continue;
		}
		if (p[i] == '\n') {
			d->bare_lf++;
			i++;
			dst[w++] = '\r';
			dst[w++] = '\n';
			d->bol = 1;
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
			dst[w++] = '.';
		}
		d->bol = 0;
		n = plain_run(p + i, len - i);
		memcpy(dst + w, p + i, n);
		w += n;
		i += n;
	}
	return w;
}

/* Written straight into the output buffer's free space: no copy per line. */
int
smtpc_data_encode(struct smtpc_data *d, const void *buf, size_t len, struct evbuffer *out)
{
	struct evbuffer_iovec	v;
	size_t			w;

	d->in += len;
	if (len == 0)
		return 0;
	if (len > (SIZE_MAX - 2) / 2 ||
	    evbuffer_reserve_space(out, (ev_ssize_t)(2 * len + 2), &v, 1) != 1)
		return -1;
	w = encode(d, buf, len, v.iov_base);
	d->out += w;
	v.iov_len = w;
	return evbuffer_commit_space(out, &v, 1);
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
