/*
 * ctl_print.h: stsrelayctl's human-readable forms of the daemon's answers.
 * Each takes an answer with "ok": true; they return 0, or -1 when the answer
 * lacks what it should have (a daemon of another version).
 */
#ifndef RELAY_CTL_PRINT_H
#define RELAY_CTL_PRINT_H

#include <stdio.h>

#include <jansson.h>

int	ctl_print_status(const json_t *, FILE *);
/* mailq-like: one line per message, one indented line per recipient. */
int	ctl_print_list(const json_t *, FILE *);
int	ctl_print_show(const json_t *, FILE *);
/* tls counts: one line per counter. */
int	ctl_print_tls(const json_t *, FILE *);
/* The stored message with CRLF turned into LF (base64 decoded if need be). */
int	ctl_print_cat(const json_t *, FILE *);
/* "ID: held" and the like; verb names what was done. */
int	ctl_print_done(const json_t *, const char *verb, FILE *);

/* Decode base64 into a new buffer; -1 on bad input. */
int	ctl_unbase64(const char *, unsigned char **, size_t *);

#endif
