/*
 * fuzz_idna.c: any bytes as a recipient domain (common/idna.c). Either -1
 * with a reason and an empty result, or an A-label form that is ASCII, lower
 * case, at most 253 characters with labels of at most 63, and that converts
 * to itself again (what delivery groups by is stable).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/idna.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_form(const char *s)
{
	size_t	len = strlen(s), label = 0, i;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len > IDNA_NAME_MAX)
		abort();
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80 || (s[i] >= 'A' && s[i] <= 'Z'))
			abort();
		label = s[i] == '.' ? 0 : label + 1;
		if (label > IDNA_LABEL_MAX)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*in, out[256], again[256];
	const char	*err = NULL;

	if ((in = malloc(size + 1)) == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (idna_to_alabel(in, out, sizeof(out), &err) == -1) {
		if (err == NULL || out[0] != '\0')
			abort();
	} else {
		check_form(out);
		if (idna_to_alabel(out, again, sizeof(again), &err) == -1 ||
		    strcmp(out, again) != 0)
			abort();
	}
	free(in);
	return 0;
}
