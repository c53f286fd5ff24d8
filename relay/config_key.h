/*
 * config_key.h: the table of configuration keys behind config.c. Private to
 * the configuration: the rest of the relay reads struct config (config.h).
 */
#ifndef RELAY_CONFIG_KEY_H
#define RELAY_CONFIG_KEY_H

#include <stddef.h>

struct config;

#define CONFIG_NKEYS	39	/* rows of the table; checked at compile time */

/* Index of the key, or -1. */
int		 config_key_find(const char *);
const char	*config_key_name(int);
int		 config_key_is_list(int);
/*
 * Parse value into the key's field: replace it, or for a list append to it
 * (an indented continuation line). On error writes one message naming the
 * key and what it accepts, and returns -1.
 */
int		 config_key_set(struct config *, int, const char *value, int append,
		    char *msg, size_t msglen);
/* Checks that need the whole value (a list that must not be empty). */
int		 config_key_check(const struct config *, int, char *msg, size_t msglen);
/* What the key accepts, in words, for messages and documentation. */
void		 config_key_accepts(int, char *, size_t);
/* Every field set to its built-in default. */
void		 config_key_defaults(struct config *);
void		 config_key_free(struct config *);

#endif
