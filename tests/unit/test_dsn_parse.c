/* test_dsn_parse.c: see test_dsn_parse.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"
#include "tests/unit/test_dsn_parse.h"

int
dp_lines_ok(const char *p, size_t len, const char **why)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r') {
			if (i + 1 >= len || p[i + 1] != '\n') {
				*why = "bare CR";
				return -1;
			}
			i++;
			col = 0;
			continue;
		}
		if (p[i] == '\n') {
			*why = "bare LF";
			return -1;
		}
		if (++col > 998) {
			*why = "line over 998 octets";
			return -1;
		}
	}
	if (col != 0) {
		*why = "last line without CRLF";
		return -1;
	}
	return 0;
}

/* Split s at the first empty line: *head and *body are copies. */
static void
split_head(const char *s, size_t len, char **head, char **body)
{
	const char *e = memmem(s, len, "\r\n\r\n", 4);

	if (e == NULL) {
		*head = xstrndup(s, len);
		*body = xstrdup("");
		return;
	}
	*head = xstrndup(s, (size_t)(e - s) + 2);
	*body = xstrndup(e + 4, len - (size_t)(e - s) - 4);
}

const char *
dp_field(const char *block, const char *name)
{
	static char	 val[8192];
	const char	*p = block, *eol;
	size_t		 n = strlen(name), vl = 0, l;

	while (*p != '\0') {
		eol = strstr(p, "\r\n");
		if (eol == NULL)
			eol = p + strlen(p);
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			for (;;) {
				l = (size_t)(eol - p);
				if (vl + l >= sizeof(val))
					return NULL;
				memcpy(val + vl, p, l);
				vl += l;
				if (*eol == '\0' || (eol[2] != ' ' &&
				    eol[2] != '\t'))
					break;
				/* Unfold: the CRLF goes, the space stays. */
				p = eol + 2;
				eol = strstr(p, "\r\n");
				if (eol == NULL)
					eol = p + strlen(p);
			}
			val[vl] = '\0';
			return val;
		}
		p = *eol != '\0' ? eol + 2 : eol;
	}
	return NULL;
}

static void
split_blocks(struct dp_msg *m, const char *s)
{
	const char	*e;

	while (*s != '\0' && m->nblocks < DP_BLOCKS_MAX) {
		e = strstr(s, "\r\n\r\n");
		if (e == NULL) {
			m->blocks[m->nblocks++] = xstrdup(s);
			return;
		}
		m->blocks[m->nblocks++] = xstrndup(s, (size_t)(e - s) + 2);
		s = e + 4;
	}
}

int
dp_parse(const char *s, size_t len, struct dp_msg *m)
{
	char		*body, delim[160];
	const char	*ct, *b, *p, *next, *q;
	size_t		 dl;

	memset(m, 0, sizeof(*m));
	split_head(s, len, &m->headers, &body);
	if ((ct = dp_field(m->headers, "Content-Type")) == NULL ||
	    (b = strstr(ct, "boundary=\"")) == NULL ||
	    (q = strchr(b + 10, '"')) == NULL ||
	    (size_t)(q - b - 10) >= sizeof(m->boundary)) {
		free(body);
		return -1;
	}
	memcpy(m->boundary, b + 10, (size_t)(q - b - 10));
	m->boundary[q - b - 10] = '\0';
	dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", m->boundary);
	p = strstr(body, delim);
	while (p != NULL && m->nparts < DP_PARTS_MAX) {
		p += dl;
		if (strncmp(p, "--", 2) == 0) {
			m->closed = 1;
			break;
		}
		if (strncmp(p, "\r\n", 2) != 0)
			break;
		p += 2;
		next = strstr(p, delim);
		if (next == NULL)
			break;
		split_head(p, (size_t)(next - p), &m->parts[m->nparts].headers,
		    &m->parts[m->nparts].body);
		m->nparts++;
		p = next;
	}
	free(body);
	if (dp_part(m, "message/delivery-status") != NULL)
		split_blocks(m, dp_part(m, "message/delivery-status")->body);
	else if (dp_part(m, "message/global-delivery-status") != NULL)	/* RFC 6533 */
		split_blocks(m, dp_part(m, "message/global-delivery-status")->body);
	return 0;
}

const struct dp_part *
dp_part(const struct dp_msg *m, const char *type)
{
	const char	*ct;
	size_t		 i;

	for (i = 0; i < m->nparts; i++)
		if ((ct = dp_field(m->parts[i].headers, "Content-Type")) !=
		    NULL && strncasecmp(ct, type, strlen(type)) == 0)
			return &m->parts[i];
	return NULL;
}

void
dp_free(struct dp_msg *m)
{
	size_t i;

	free(m->headers);
	for (i = 0; i < m->nparts; i++) {
		free(m->parts[i].headers);
		free(m->parts[i].body);
	}
	for (i = 0; i < m->nblocks; i++)
		free(m->blocks[i]);
	memset(m, 0, sizeof(*m));
}
