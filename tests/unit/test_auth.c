/* test_auth.c: SASL PLAIN, the credentials file, checks off the loop. */
#include <sys/stat.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/strutil.h"
#include "relay/auth.h"
#include "relay/auth_worker.h"
#include "tests/tap.h"

static char	dir[] = "/tmp/test_auth.XXXXXX";

static void
test_plain(void)
{
	static const struct { const char *in; size_t len; int rc; const char *user, *pass; } t[] = {
		{ "\0alice\0s3cret", 13, 0, "alice", "s3cret" },
		{ "alice\0alice\0s3cret", 18, 0, "alice", "s3cret" },
		{ "bob\0alice\0s3cret", 16, -1, "", "" },
		{ "\0\0s3cret", 8, -1, "", "" },
		{ "\0alice\0", 7, -1, "", "" },
		{ "\0alice", 6, -1, "", "" },
		{ "\0alice\0s3\0cret", 14, -1, "", "" },
		{ "", 0, -1, "", "" },
	};
	char	user[AUTH_FIELD_MAX], pass[AUTH_FIELD_MAX], name[100];
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "SASL PLAIN case %zu: %s", i, t[i].rc ? "refused" : "split");
		if (t[i].rc == 0)
			ok(auth_plain_split((const unsigned char *)t[i].in, t[i].len, user,
			    sizeof(user), pass, sizeof(pass)) == 0 && strcmp(user, t[i].user) == 0 &&
			    strcmp(pass, t[i].pass) == 0, name);
		else
			is_int(auth_plain_split((const unsigned char *)t[i].in, t[i].len, user,
			    sizeof(user), pass, sizeof(pass)), -1, name);
	}
}

static const char *
write_file(const char *name, const char *text, mode_t mode)
{
	static char	path[256];
	FILE		*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF || fclose(f) != 0 ||
	    chmod(path, mode) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	return path;
}

/* "$6$" hash from `openssl passwd -6`, as an administrator makes one. */
static void
openssl_hash(const char *pw, char *out, size_t len)
{
	char	cmd[256];
	FILE	*p;

	snprintf(cmd, sizeof(cmd), "openssl passwd -6 -salt testsalt '%s'", pw);
	if ((p = popen(cmd, "r")) == NULL || fgets(out, (int)len, p) == NULL) {
		printf("Bail out! openssl passwd failed\n");
		exit(1);
	}
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
}

static void
test_file(void)
{
	struct auth	*a;
	char		 sha[200], yes[200], text[600], err[300];
	const char	*path, *y;

	openssl_hash("s3cret", sha, sizeof(sha));
	ok(strncmp(sha, "$6$", 3) == 0, "openssl passwd -6 gives a $6$ hash");
	y = crypt("hunter2", crypt_gensalt("$y$", 0, NULL, 0));
	ok(y != NULL && strncmp(y, "$y$", 3) == 0, "libxcrypt makes a $y$ hash");
	snprintf(yes, sizeof(yes), "%s", y != NULL ? y : "");
	snprintf(text, sizeof(text), "# users\n\nalice:%s\nbob:%s\n", sha, yes);

	path = write_file("good", text, 0600);
	a = auth_load(path, err, sizeof(err));
	ok(a != NULL, "mode 600 file with $6$ and $y$ hashes loads");
	if (a == NULL)
		diag("%s", err);
	else {
		is_int(auth_count(a), 2, "two users");
		ok(auth_verify(a, "alice", "s3cret"), "sha512-crypt password verifies");
		ok(!auth_verify(a, "alice", "s3cret "), "wrong password refused");
		ok(auth_verify(a, "bob", "hunter2"), "yescrypt password verifies");
		ok(!auth_verify(a, "bob", "s3cret"), "another user's password refused");
		ok(!auth_verify(a, "carol", "s3cret"), "unknown user refused");
		ok(!auth_verify(a, "", ""), "empty user refused");
		auth_free(a);
	}

	path = write_file("open", text, 0640);
	ok(auth_load(path, err, sizeof(err)) == NULL && strstr(err, path) != NULL &&
	    strstr(err, "group or others") != NULL, "group-readable file refused, naming it");
	path = write_file("world", text, 0604);
	ok(auth_load(path, err, sizeof(err)) == NULL, "world-readable file refused");

	snprintf(text, sizeof(text), "alice:%s\nbroken line\n", sha);
	path = write_file("bad1", text, 0600);
	ok(auth_load(path, err, sizeof(err)) == NULL && strstr(err, ":2: malformed") != NULL,
	    "malformed line refused with file:line");
	diag("%s", err);
	path = write_file("bad2", "alice:plaintext\n", 0600);
	ok(auth_load(path, err, sizeof(err)) == NULL && strstr(err, ":1:") != NULL,
	    "a plaintext password instead of a hash refused");
	snprintf(text, sizeof(text), "alice:%s\nalice:%s", sha, sha);
	path = write_file("bad3", text, 0600);
	ok(auth_load(path, err, sizeof(err)) == NULL && strstr(err, "duplicate") != NULL,
	    "duplicate user refused (last line without newline)");
	snprintf(text, sizeof(text), ":%s\n", sha);
	path = write_file("bad4", text, 0600);
	ok(auth_load(path, err, sizeof(err)) == NULL, "empty user name refused");
	snprintf(err, sizeof(err), "%s/missing", dir);
	ok(auth_load(err, text, sizeof(text)) == NULL, "missing file refused");
}

/* Microseconds of the slowest of the faster two of three checks. */
static uint64_t
verify_us(const struct auth *a, const char *user)
{
	struct timespec	t0, t1;
	uint64_t	us[3], tmp;
	int		i, j;

	for (i = 0; i < 3; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		(void)auth_verify(a, user, "not the password");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		us[i] = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000 +
		    (uint64_t)(t1.tv_nsec / 1000) - (uint64_t)(t0.tv_nsec / 1000);
	}
	for (i = 0; i < 3; i++)
		for (j = i + 1; j < 3; j++)
			if (us[j] < us[i]) {
				tmp = us[i];
				us[i] = us[j];
				us[j] = tmp;
			}
	return us[1];
}

/*
 * An unknown user must cost what a known one does, or the time of a 535
 * tells which user names exist: with only yescrypt users, the check of an
 * unknown name was a cheap sha512-crypt.
 */
static void
test_timing(void)
{
	struct auth	*a;
	char		 text[300], err[300];
	const char	*y;
	uint64_t	 known, unknown;

	y = crypt("hunter2", crypt_gensalt("$y$", 0, NULL, 0));
	if (y == NULL) {
		ok(0, "libxcrypt makes a $y$ hash");
		return;
	}
	snprintf(text, sizeof(text), "bob:%s\n", y);
	if ((a = auth_load(write_file("timing", text, 0600), err, sizeof(err))) == NULL) {
		ok(0, "credentials for the timing test load");
		diag("%s", err);
		return;
	}
	known = verify_us(a, "bob");
	unknown = verify_us(a, "nobody");
	ok(unknown * 3 >= known, "user enumeration: an unknown user costs as much as a known one");
	diag("known user %llu us, unknown user %llu us", (unsigned long long)known,
	    (unsigned long long)unknown);
	ok(!auth_verify(a, "nobody", "hunter2"), "an unknown user with a known user's password "
	    "is refused");
	auth_free(a);
}

struct verdicts {
	int	n;
	int	ok[8];
};

static void
on_verify(void *arg, int ok)
{
	struct verdicts *v = arg;

	if (v->n < 8)
		v->ok[v->n] = ok;
	v->n++;
}

/* Run the loop until the worker has nothing pending (or 5 s pass). */
static void
drain(struct event_base *base, struct auth_worker *w)
{
	struct timeval	tv = { 0, 10000 };
	uint64_t	t0 = strutil_now_ms();

	while (auth_worker_pending(w) != 0 && strutil_now_ms() - t0 < 5000) {
		if (event_base_loopexit(base, &tv) != 0 ||
		    event_base_loop(base, 0) == -1)
			break;
	}
}

static void
test_worker(void)
{
	struct event_base	*base;
	struct auth_worker	*w;
	struct auth		*a;
	struct auth_job		*j;
	struct verdicts		 v = { 0, { 0 } }, gone = { 0, { 0 } };
	char			 sha[200], text[300], err[300];

	if (evthread_use_pthreads() != 0 || (base = event_base_new()) == NULL) {
		printf("Bail out! libevent\n");
		exit(1);
	}
	openssl_hash("s3cret", sha, sizeof(sha));
	snprintf(text, sizeof(text), "alice:%s\n", sha);
	if ((a = auth_load(write_file("worker", text, 0600), err, sizeof(err))) == NULL) {
		printf("Bail out! %s\n", err);
		exit(1);
	}
	w = auth_worker_new(base, a, 1, 3);
	auth_worker_hold(w, 1);
	ok(auth_worker_query(w, "alice", "s3cret", on_verify, &v) != NULL, "check queued");
	ok(auth_worker_query(w, "alice", "wrong", on_verify, &v) != NULL, "second check queued");
	j = auth_worker_query(w, "alice", "s3cret", on_verify, &gone);
	ok(j != NULL, "third check queued (the limit)");
	ok(auth_worker_query(w, "alice", "s3cret", on_verify, &gone) == NULL,
	    "a fourth is refused: the queue is bounded");
	is_int(auth_worker_pending(w), 3, "three pending");
	auth_worker_cancel(w, j);
	is_int(auth_worker_pending(w), 2, "a cancelled queued check is dropped at once");
	is_int(v.n, 0, "no verdict while held, none from inside query");
	auth_worker_hold(w, 0);
	drain(base, w);
	ok(v.n == 2 && v.ok[0] == 1 && v.ok[1] == 0, "verdicts in order: right, then wrong password");
	j = auth_worker_query(w, "alice", "s3cret", on_verify, &gone);
	ok(j != NULL, "check queued, then its caller leaves");
	auth_worker_cancel(w, j);	/* queued or running: either way no callback */
	drain(base, w);
	is_int(gone.n, 0, "a cancelled check never calls back");
	is_int(auth_worker_pending(w), 0, "nothing pending");
	auth_worker_hold(w, 1);
	ok(auth_worker_query(w, "alice", "s3cret", on_verify, &gone) != NULL, "a check left queued");
	auth_worker_free(w);
	is_int(gone.n, 0, "freeing the worker drops what is queued, without calling back");
	auth_free(a);
	event_base_free(base);
}

int
main(void)
{
	char cmd[300];

	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	test_plain();
	test_file();
	test_timing();
	test_worker();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("cannot remove %s", dir);
	return tap_done();
}
