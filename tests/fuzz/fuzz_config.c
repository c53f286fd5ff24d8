/*
 * fuzz_config.c: any bytes as a configuration file. Either one error line,
 * or a configuration whose config_print() output reads back to the very same
 * text (the round trip the unit tests check on chosen inputs).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char *
print(const struct config *cfg)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		abort();
	config_print(cfg, fp);
	fclose(fp);
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct config	 a, b;
	char		 err[600], *pa, *pb;
	FILE		*fp;

	if (len == 0 || (fp = fmemopen((void *)(uintptr_t)data, len, "r")) == NULL)
		return 0;
	if (config_load_stream(&a, fp, "fuzz.conf", NULL, 0, err, sizeof(err)) != 0) {
		fclose(fp);
		if (strchr(err, '\n') != NULL || strncmp(err, "fuzz.conf", 9) != 0)
			abort();	/* one line, naming the file */
		return 0;
	}
	fclose(fp);
	pa = print(&a);
	if ((fp = fmemopen(pa, strlen(pa), "r")) == NULL)
		abort();
	if (config_load_stream(&b, fp, "printed.conf", NULL, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "printed config does not parse: %s\n%s", err, pa);
		abort();
	}
	fclose(fp);
	pb = print(&b);
	if (strcmp(pa, pb) != 0)
		abort();
	free(pa);
	free(pb);
	config_free(&a);
	config_free(&b);
	return 0;
}
