/* sink_msg.c: spool one message to a file, digest it, count its oddities. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/lab/sink_msg.h"

int
sink_msg_open(struct sink_msg *m, char *tmppath, uint64_t max)
{
	memset(m, 0, sizeof(*m));
	m->tmppath = tmppath;
	m->max = max;
	m->prev_crlf = 1;
	if (tmppath != NULL && (m->fp = fopen(tmppath, "w")) == NULL) {
		log_warn("%s", tmppath);
		sink_msg_abort(m);
		return -1;
	}
	if ((m->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(m->md, EVP_sha256(), NULL) != 1)
		fatalx("sink_msg_open: no SHA-256");
	return 0;
}

int
sink_msg_line(struct sink_msg *m, const char *line, size_t len)
{
	int	crlf = len >= 2 && line[len - 2] == '\r';
	size_t	i, textlen;

	if (m->prev_crlf && crlf && len == 3 && line[0] == '.')
		return 1;
	if (!crlf)
		m->bare_lf++;
	if (line[0] == '.') {		/* transparency (RFC 5321 4.5.2) */
		line++;
		len--;
	}
	textlen = len - (crlf ? 2 : 1);
	for (i = 0; i < len; i++) {
		if (i < textlen && line[i] == '\r')
			m->bare_cr++;
		if ((unsigned char)line[i] >= 0x80)
			m->eightbit = 1;
	}
	m->prev_crlf = crlf;
	m->size += len;
	if (m->size > m->max)
		m->too_big = 1;
	if (m->too_big)
		return 0;
	if ((m->fp != NULL && fwrite(line, 1, len, m->fp) != len) ||
	    EVP_DigestUpdate(m->md, line, len) != 1) {
		log_warn("%s", m->tmppath);
		m->too_big = 1;
	}
	return 0;
}

int
sink_msg_commit(struct sink_msg *m, const char *path)
{
	unsigned char	dig[EVP_MAX_MD_SIZE];
	unsigned int	diglen = 0, i;
	int		ok;

	ok = (m->fp == NULL || fclose(m->fp) == 0) && !m->too_big;
	m->fp = NULL;
	if (EVP_DigestFinal_ex(m->md, dig, &diglen) != 1 || diglen != 32)
		fatalx("sink_msg_commit: digest failed");
	for (i = 0; i < diglen; i++)
		snprintf(m->sha256 + 2 * i, 3, "%02x", dig[i]);
	if (!ok || (m->tmppath != NULL && rename(m->tmppath, path) == -1)) {
		if (ok)
			log_warn("rename %s", path);
		sink_msg_abort(m);
		return -1;
	}
	free(m->tmppath);
	m->tmppath = NULL;
	sink_msg_abort(m);
	return 0;
}

void
sink_msg_abort(struct sink_msg *m)
{
	if (m->fp != NULL) {
		fclose(m->fp);
		m->fp = NULL;
	}
	if (m->tmppath != NULL) {
		unlink(m->tmppath);
		free(m->tmppath);
		m->tmppath = NULL;
	}
	if (m->md != NULL) {
		EVP_MD_CTX_free(m->md);
		m->md = NULL;
	}
}
