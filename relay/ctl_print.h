/*
 * ctl_print.h: stsrelayctl's human-readable forms of the daemon's answers.
 * Each takes an answer with "ok": true; they return 0, or -1 when the answer
 * lacks what it should have (a daemon of another version).
 */
#ifndef RELAY_CTL_PRINT_H
#define RELAY_CTL_PRINT_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Readers of an answer's members: "" / 0 / 0 when missing or of another type. */
const char	*ctl_str(const json_t *, const char *key);
uint64_t	 ctl_int(const json_t *, const char *key);	/* > 0, else 0 */
int		 ctl_true(const json_t *, const char *key);

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

/* The policy answers (relay/ctl_print_policy.c). */
int	ctl_print_policy_check(const json_t *, FILE *);
int	ctl_print_policy_show(const json_t *, FILE *);
int	ctl_print_policy_list(const json_t *, FILE *);
int	ctl_print_policy_flush(const json_t *, FILE *);
/* The exit status a policy check answer asks for: 0 valid, 2 none, 1 error. */
int	ctl_policy_exit(const json_t *);


#endif
