/*
 * replay.c: a main() for fuzz harnesses built without libFuzzer. Runs
 * LLVMFuzzerTestOneInput on every file named on the command line, or every
 * file in each named directory, and prints TAP. Corpora replay in make check:
 * with no argument, a program named fuzz_NAME.t replays
 * $top_srcdir/tests/fuzz/corpus/NAME/.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int n;

static void
run_file(const char *path)
{
	FILE	*f;
	uint8_t	*buf;
	long	 len;

	if ((f = fopen(path, "rb")) == NULL) {
		printf("not ok %d - cannot open %s\n", ++n, path);
		return;
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc(len > 0 ? (size_t)len : 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		printf("not ok %d - cannot read %s\n", ++n, path);
		fclose(f);
		free(buf);
		return;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	printf("ok %d - replay %s\n", ++n, path);
}

int
main(int argc, char **argv)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		 path[4096], corpus[4096], *defargs[3];
	int		 i;

	if (argc == 1) {
		const char	*base = strrchr(argv[0], '/'), *top = getenv("top_srcdir");
		size_t		 len;

		base = base != NULL ? base + 1 : argv[0];
		if (strncmp(base, "fuzz_", 5) == 0)
			base += 5;
		len = strlen(base);
		if (len > 2 && strcmp(base + len - 2, ".t") == 0)
			len -= 2;
		snprintf(corpus, sizeof(corpus), "%s/tests/fuzz/corpus/%.*s",
		    top != NULL ? top : ".", (int)len, base);
		if (stat(corpus, &st) != 0 || !S_ISDIR(st.st_mode)) {
			printf("Bail out! no corpus at %s\n", corpus);
			return 1;
		}
		defargs[0] = argv[0];
		defargs[1] = corpus;
		defargs[2] = NULL;
		argv = defargs;
		argc = 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if ((d = opendir(argv[i])) == NULL)
				continue;
			while ((de = readdir(d)) != NULL) {
				if (de->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
				run_file(path);
			}
			closedir(d);
		} else
			run_file(argv[i]);
	}
	printf("1..%d\n", n);
	return 0;
}
