/* test_config.c: the configuration file, -o overrides, defaults and printing. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/netaddr.h"
#include "relay/config.h"
#include "tests/tap.h"

static char	dir[] = "/tmp/test_config.XXXXXX";
static char	path[256];
static int	nfile;

static void	bail_out(void) __attribute__((noreturn));

/* Write a configuration file of its own for each case; returns its path. */
static const char *
write_conf(const char *text)
{
	FILE *fp;

	snprintf(path, sizeof(path), "%s/c%d.conf", dir, nfile++);
	if ((fp = fopen(path, "w")) == NULL || fputs(text, fp) == EOF || fclose(fp) != 0)
		bail_out();
	return path;
}

/* The same for text with NUL bytes in it. */
static const char *
write_conf_bytes(const char *text, size_t len)
{
	FILE *fp;

	snprintf(path, sizeof(path), "%s/c%d.conf", dir, nfile++);
	if ((fp = fopen(path, "w")) == NULL || fwrite(text, 1, len, fp) != len ||
	    fclose(fp) != 0)
		bail_out();
	return path;
}

static void
bail_out(void)
{
	printf("Bail out! cannot write %s\n", path);
	exit(1);
}

/* Load text; return NULL on success or the error (a static buffer). */
static const char *
load(const char *text, char *const *o, size_t no, struct config *cfg)
{
	static char err[600];

	if (config_load(cfg, text != NULL ? write_conf(text) : NULL, o, no, err,
	    sizeof(err)) == 0)
		return NULL;
	return err;
}

/* The error must be "FILE:LINE: KEY..." for the file just written. */
static void
want_error(const char *text, int line, const char *start, const char *name)
{
	struct config	 cfg;
	const char	*err = load(text, NULL, 0, &cfg);
	char		 want[400];

	snprintf(want, sizeof(want), "%s:%d: %s", path, line, start);
	if (err == NULL) {
		ok(0, name);
		diag("loaded fine, want error \"%s\"", want);
		config_free(&cfg);
		return;
	}
	if (!ok(strncmp(err, want, strlen(want)) == 0, name))
		diag("got \"%s\", want it to start with \"%s\"", err, want);
}

static void
want_good(const char *text, const char *name)
{
	struct config	 cfg;
	const char	*err = load(text, NULL, 0, &cfg);

	if (!ok(err == NULL, name))
		diag("got error \"%s\"", err);
	else
		config_free(&cfg);
}

/* A NUL byte must not hide the rest of its line (nor shift the line count). */
static void
test_nul(void)
{
	static const char	t1[] = "client_networks = 10.0.0.0/8\0 192.0.2.0/24\nmax_errors = 5\n";
	char			t2[1200], err[600], want[400];
	struct config		cfg;
	size_t			len;

	if (config_load(&cfg, write_conf_bytes(t1, sizeof(t1) - 1), NULL, 0, err,
	    sizeof(err)) == 0) {
		ok(0, "a NUL byte in a line is refused");
		diag("loaded with %zu client networks", cfg.nclient_networks);
		config_free(&cfg);
	} else {
		snprintf(want, sizeof(want), "%s:1: NUL byte", path);
		if (!ok(strncmp(err, want, strlen(want)) == 0, "a NUL byte in a line is refused"))
			diag("got \"%s\", want it to start with \"%s\"", err, want);
	}
	/* past the line buffer: what follows the NUL must not become a line of its own */
	memset(t2, 0, sizeof(t2));
	len = (size_t)snprintf(t2, sizeof(t2), "max_errors = 5");
	len = 1100;
	memcpy(t2 + len, "x\nlog_level = debug\n", 21);
	len += 21;
	if (config_load(&cfg, write_conf_bytes(t2, len), NULL, 0, err, sizeof(err)) == 0) {
		ok(0, "NUL bytes over a long line are refused");
		config_free(&cfg);
	} else {
		snprintf(want, sizeof(want), "%s:1: ", path);
		if (!ok(strncmp(err, want, strlen(want)) == 0,
		    "NUL bytes over a long line are refused at line 1"))
			diag("got \"%s\"", err);
	}
}

static void
test_defaults(void)
{
	struct config	cfg;
	char		buf[NETADDR_STRLEN];

	ok(load(NULL, NULL, 0, &cfg) == NULL, "defaults load without a file");
	is_int(cfg.nlisten, 1, "default: one listener");
	netaddr_format((struct sockaddr *)&cfg.listen[0].ss, buf, sizeof(buf));
	is_str(buf, "127.0.0.1:2525", "default: listen on loopback only, never a public address");
	is_int(cfg.nclient_networks, 2, "default: two client networks");
	netaddr_cidr_format(&cfg.client_networks[0], buf, sizeof(buf));
	is_str(buf, "127.0.0.0/8", "default: client_networks 127.0.0.0/8");
	netaddr_cidr_format(&cfg.client_networks[1], buf, sizeof(buf));
	is_str(buf, "::1/128", "default: client_networks ::1/128");
	is_int(cfg.smtp_auth, 0, "default: smtp_auth no");
	is_int(cfg.message_size_limit, 10 * 1024 * 1024, "default: message_size_limit 10m");
	is_int(cfg.recipient_limit, 100, "H6: default recipient_limit 100");
	is_int(cfg.max_connections, 1000, "default: max_connections 1000");
	is_int(cfg.max_connections_per_client, 100, "default: max_connections_per_client 100");
	is_int(cfg.max_received_headers, 50, "default: max_received_headers 50");
	is_int(cfg.timeout_greeting, 300, "default: timeout_greeting 5m");
	is_int(cfg.timeout_tls_handshake, 60, "default: timeout_tls_handshake 1m");
	is_int(cfg.max_errors, 10, "default: max_errors 10");
	is_str(cfg.ca_bundle, "", "default: ca_bundle empty = system store");
	is_int(cfg.ndns_servers, 0, "default: no dns_servers = resolv.conf");
	is_int(cfg.delivery_port, 25, "default: delivery_port 25");
	is_int(cfg.policy_port, 443, "default: policy_port 443");
	is_int(cfg.policy_fetch_timeout, 60, "S10: default policy_fetch_timeout 60 s");
	is_int(cfg.policy_recheck_interval, 3600, "default: policy_recheck_interval 1h");
	is_int(cfg.policy_txt_recheck, 60, "default: policy_txt_recheck 1m");
	is_int(cfg.queue_lifetime, 5 * 86400, "default: queue_lifetime 5d");
	is_int(cfg.nretry_schedule, 7, "default: seven retry intervals");
	is_int(cfg.retry_schedule[6], 4 * 3600, "default: last retry interval 4h");
	is_str(cfg.spool_directory, LOCALSTATEDIR "/lib/stsrelay", "default: spool_directory");
	is_str(cfg.control_socket, RUNSTATEDIR "/stsrelay/control.sock", "default: control_socket");
	is_str(cfg.run_as, "stsrelay", "default: run_as stsrelay");
	is_str(cfg.pid_file, "", "default: no pid_file");
	is_int(cfg.log_destination, LOG_DEST_STDERR, "default: log_destination stderr");
	is_int(cfg.log_level, LOG_LVL_INFO, "default: log_level info");
	ok(cfg.hostname != NULL && cfg.hostname[0] != '\0', "default: hostname from gethostname()");
	config_free(&cfg);
}

static void
test_types(void)
{
	static const struct { const char *text; const char *err; const char *name; } t[] = {
		{ "hostname = relay.example.org\n", NULL, "string: host name" },
		{ "hostname = relay example\n", "hostname: \"relay example\" is not a host name",
		  "string: a host name has no blanks" },
		{ "spool_directory = spool\n", "spool_directory: \"spool\" is not an absolute path",
		  "string: spool_directory must be absolute" },
		{ "spool_directory =\n", "spool_directory: \"\" is empty", "string: spool_directory must not be empty" },
		{ "smtp_auth = no\n", NULL, "bool: no" },
		{ "smtp_auth = maybe\n", "smtp_auth: \"maybe\" is not a yes/no value; expected yes or no",
		  "bool: maybe refused" },
		{ "max_errors = 5\n", NULL, "uint: 5" },
		{ "max_errors = 5x\n", "max_errors: \"5x\" is not a number", "uint: junk refused" },
		{ "max_errors = -1\n", "max_errors: \"-1\" is not a number", "uint: sign refused" },
		{ "max_errors = 0\n", "max_errors: \"0\" is out of range", "uint: below minimum" },
		{ "max_errors = 99999999999999999999999\n", "max_errors: ", "uint: overflow refused" },
		{ "message_size_limit = 25m\n", NULL, "size: 25m" },
		{ "message_size_limit = 1048576\n", NULL, "size: bytes" },
		{ "message_size_limit = 10q\n", "message_size_limit: \"10q\" is not a size", "size: bad unit" },
		{ "message_size_limit = 3g\n", "message_size_limit: \"3g\" is out of range", "size: over 2g" },
		{ "timeout_command = 90\n", NULL, "duration: plain seconds" },
		{ "timeout_command = 2m\n", NULL, "duration: 2m" },
		{ "timeout_command = 2y\n", "timeout_command: \"2y\" is not a duration", "duration: bad unit" },
		{ "timeout_command = 2h\n", "timeout_command: \"2h\" is out of range",
		  "duration: over its maximum" },
		{ "log_destination = syslog\n", NULL, "log destination: syslog" },
		{ "log_destination = file\n", "log_destination: \"file\" is not a log destination",
		  "log destination: file refused" },
		{ "log_level = debug\n", NULL, "log level: debug" },
		{ "log_level = loud\n", "log_level: \"loud\" is not a log level", "log level: loud refused" },
		{ "retry_schedule = 1m 5m 1h\n", NULL, "duration list" },
		{ "retry_schedule = 1m 5x\n", "retry_schedule: \"5x\" is not a duration in range",
		  "duration list: bad item named" },
		{ "retry_schedule =\n", "retry_schedule: \"\" is empty", "duration list: empty refused" },
		{ "recipient_limit = 100\n", NULL, "H6: recipient_limit 100 accepted" },
		{ "recipient_limit = 99\n", "recipient_limit: \"99\" is out of range",
		  "H6: recipient_limit 99 refused (at least 100 recipients)" },
		{ "policy_fetch_timeout = 60\n", NULL, "S10: policy_fetch_timeout 60 accepted" },
		{ "policy_fetch_timeout = 61\n", "policy_fetch_timeout: \"61\" is out of range",
		  "S10: policy_fetch_timeout 61 refused (at most 60 s)" },
		{ "policy_fetch_timeout = 2m\n", "policy_fetch_timeout: \"2m\" is out of range",
		  "S10: policy_fetch_timeout 2m refused" },
		{ "delivery_port = 65536\n", "delivery_port: \"65536\" is out of range", "port over 65535 refused" },
		{ "policy_port = 8443\n", NULL, "lab: policy_port 8443" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[256];

		/* A comment first, so the line number must be 2. */
		snprintf(text, sizeof(text), "# case %zu\n%s", i, t[i].text);
		if (t[i].err == NULL)
			want_good(text, t[i].name);
		else
			want_error(text, 2, t[i].err, t[i].name);
	}
}

static void
test_lists(void)
{
	struct config	 cfg;
	const char	*err;
	char		 buf[NETADDR_STRLEN];

	err = load("client_networks = 10.0.0.0/8, 192.168.1.7\n"
	    "\t2001:db8::/32\n"
	    "listen = [::1]:2526\n"
	    "  127.0.0.1\n"
	    "dns_servers = 127.0.0.1:5353 ::1\n", NULL, 0, &cfg);
	if (!ok(err == NULL, "lists: networks with a continuation line, endpoints"))
		diag("%s", err);
	if (err != NULL)
		return;
	is_int(cfg.nclient_networks, 3, "lists: a continuation line appends to the list");
	netaddr_cidr_format(&cfg.client_networks[1], buf, sizeof(buf));
	is_str(buf, "192.168.1.7/32", "lists: a host is a /32 network");
	is_int(cfg.nlisten, 2, "lists: two listeners");
	netaddr_format((struct sockaddr *)&cfg.listen[0].ss, buf, sizeof(buf));
	is_str(buf, "[::1]:2526", "lists: IPv6 listener with a port");
	netaddr_format((struct sockaddr *)&cfg.listen[1].ss, buf, sizeof(buf));
	is_str(buf, "127.0.0.1:25", "lists: listener without a port gets 25");
	netaddr_format((struct sockaddr *)&cfg.dns_servers[1].ss, buf, sizeof(buf));
	is_str(buf, "[::1]:53", "lab: dns server without a port gets 53");
	config_free(&cfg);

	want_good("dns_servers =\n", "lists: empty dns_servers means the system's");
	want_error("listen =\n", 1, "listen: \"\" is empty", "lists: empty listen refused");
	want_error("client_networks = 10.0.0.0/33\n", 1,
	    "client_networks: \"10.0.0.0/33\" is not a network", "lists: bad prefix named");
	want_error("listen = localhost:25\n", 1, "listen: \"localhost:25\" is not a numeric address",
	    "lists: names refused (no DNS while reading the configuration)");
	want_error("dns_servers = 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5\n"
	    "\t127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9\n", 2,
	    "dns_servers: \"127.0.0.9\" is one item too many", "lists: too many items refused");
}

static void
test_file_errors(void)
{
	struct config	cfg;
	char		long_line[300];

	want_error("listen = 127.0.0.1:25\nbogus_key = 1\n", 2, "unknown key \"bogus_key\"",
	    "unknown key refused with its line");
	want_error("max_errors = 5\n\nmax_errors = 6\n", 3,
	    "duplicate key max_errors (first set on line 1)", "duplicate key refused");
	want_error("# a\n[main]\nmax_errors = 5\n", 2, "[main]: sections are not supported",
	    "a [section] line is refused");
	want_error("max_errors = 5\n  6\n", 2, "max_errors takes a single value",
	    "a continuation line is refused for a single value");
	want_error("listen = 127.0.0.1:25\njust words\n", 2, "syntax error: expected key = value",
	    "a line without = is a syntax error");
	want_error("= 5\n", 1, "missing key name", "a line without a key is refused");
	memset(long_line, 'a', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	memcpy(long_line, "hostname = ", 11);
	want_error(long_line, 1, "line too long", "an over-long line is refused, not cut");
	want_good("# only comments\n\n   # indented comment\n; semicolon\n", "comments and blank lines");
	want_good("max_errors=7\r\nlog_level = debug\r\n", "CRLF lines and no blanks around =");

	if (config_load(&cfg, "/nonexistent/stsrelay.conf", NULL, 0, long_line,
	    sizeof(long_line)) == 0)
		ok(0, "missing file refused");
	else
		is_str(long_line, "/nonexistent/stsrelay.conf: cannot open the configuration "
		    "file: No such file or directory", "missing file refused, naming it");
	want_error("smtp_auth = yes\n", 1, "smtp_auth = yes needs auth_credentials_file",
	    "smtp_auth without credentials refused at its line");
	want_error("max_errors = 3\ntls_cert_file = /etc/cert.pem\n", 2,
	    "tls_cert_file and tls_key_file go together", "a certificate without its key refused");
}

static void
test_overrides(void)
{
	struct config	 cfg;
	const char	*err;
	char		*o1[] = { "max_errors=7", " spool_directory = /tmp/x ", "dns_servers=" };
	char		*o2[] = { "recipient_limit=99" };
	char		*o3[] = { "nokey=1" };
	char		*o4[] = { "max_errors" };
	char		*o5[] = { "listen=" };
	char		*o6[] = { "run_as=", "smtp_auth=yes" };

	err = load("max_errors = 5\ndns_servers = 127.0.0.1\n", o1, 3, &cfg);
	if (ok(err == NULL, "overrides: -o replaces what the file says")) {
		is_int(cfg.max_errors, 7, "overrides: max_errors from -o");
		is_str(cfg.spool_directory, "/tmp/x", "overrides: blanks around key and value ignored");
		is_int(cfg.ndns_servers, 0, "overrides: -o dns_servers= empties the list");
		config_free(&cfg);
	} else
		diag("%s", err);
	err = load(NULL, o2, 1, &cfg);
	is_str(err, "-o recipient_limit=99: recipient_limit: \"99\" is out of range; "
	    "expected a whole number from 100 to 100000", "H6: -o recipient_limit=99 refused");
	err = load(NULL, o3, 1, &cfg);
	ok(err != NULL && strncmp(err, "-o nokey=1: unknown key \"nokey\"", 31) == 0,
	    "overrides: unknown key refused");
	err = load(NULL, o4, 1, &cfg);
	is_str(err, "-o max_errors: expected key=value", "overrides: key without = refused");
	err = load(NULL, o5, 1, &cfg);
	ok(err != NULL && strncmp(err, "-o listen=: listen: \"\" is empty", 30) == 0,
	    "overrides: -o listen= refused (a relay needs a listener)");
	err = load(NULL, o6, 2, &cfg);
	ok(err != NULL && strncmp(err, "-o smtp_auth=yes: smtp_auth = yes needs", 39) == 0,
	    "overrides: cross-key check names the -o");
}

static char *
print_to_string(const struct config *cfg)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return NULL;
	config_print(cfg, fp);
	fclose(fp);
	return buf;
}

static void
test_round_trip(void)
{
	struct config	 a, b;
	const char	*err;
	char		*pa, *pb;
	char		*o[] = { "hostname=relay.example.net" };

	err = load("listen = 127.0.0.1:25 10.1.2.3:587 10.1.2.4:587 10.1.2.5:587\n"
	    "  [::1]:2525 10.1.2.6:587 10.1.2.7:587 10.1.2.8:587 10.1.2.9:587\n"
	    "client_networks =\n"
	    "message_size_limit = 1536k\n"
	    "timeout_data = 90\n"
	    "queue_lifetime = 36h\n"
	    "retry_schedule = 1m 90s 1h\n"
	    "smtp_auth = yes\n"
	    "auth_credentials_file = /etc/stsrelay/users\n"
	    "log_level = debug\n"
	    "pid_file = /run/stsrelay.pid\n", o, 1, &a);
	if (!ok(err == NULL, "round trip: a config with every kind of value loads")) {
		diag("%s", err);
		return;
	}
	pa = print_to_string(&a);
	err = load(pa, NULL, 0, &b);
	if (!ok(err == NULL, "round trip: config_print output parses back")) {
		diag("%s", err);
		diag("%s", pa);
	} else {
		pb = print_to_string(&b);
		is_str(pb, pa, "round trip: printing the re-read config gives the same text");
		is_int(b.nlisten, 9, "round trip: a long list wraps onto continuation lines");
		is_int(b.message_size_limit, 1536 * 1024, "round trip: size 1536k");
		is_int(b.retry_schedule[1], 90, "round trip: 90s");
		is_int(b.nclient_networks, 0, "round trip: an empty list stays empty");
		is_str(b.hostname, "relay.example.net", "round trip: override kept");
		ok(strstr(pa, "queue_lifetime = 36h\n") != NULL, "print: durations canonical (36h)");
		ok(strstr(pa, "message_size_limit = 1536k\n") != NULL, "print: sizes with a unit");
		ok(strstr(pa, "client_networks =\n") != NULL, "print: empty list as key =");
		free(pb);
		config_free(&b);
	}
	free(pa);
	config_free(&a);

	/* found by fuzz_config: a value that would read back as a comment */
	want_error("auth_credentials_file =;/etc/users\n", 1,
	    "auth_credentials_file: \";/etc/users\" would read back as a comment",
	    "a string value starting with ';' is refused (it would print as a comment)");
	{
		char		*o7[] = { "pid_file=/run/a ;b" };
		struct config	 c7;

		err = load(NULL, o7, 1, &c7);
		ok(err != NULL && strstr(err, "would read back as a comment") != NULL,
		    "-o with ' ;' in a string value is refused (the file could not say it)");
		if (err == NULL)
			config_free(&c7);
	}

	/* a string of the longest length a key takes (160) prints whole */
	{
		char	 text[300], want[320], path160[161];

		memset(path160, 'p', 160);
		path160[0] = '/';
		path160[160] = '\0';
		snprintf(text, sizeof(text), "pid_file = %s\n", path160);
		snprintf(want, sizeof(want), "\n%s", text);
		if (!ok((err = load(text, NULL, 0, &a)) == NULL, "round trip: a 160-character path loads"))
			diag("%s", err);
		else {
			pa = print_to_string(&a);
			ok(pa != NULL && strstr(pa, want) != NULL,
			    "print: a 160-character value is printed whole, not cut");
			free(pa);
			config_free(&a);
		}
	}

	ok(load(NULL, NULL, 0, &a) == NULL, "round trip: defaults");
	pa = print_to_string(&a);
	ok(load(pa, NULL, 0, &b) == NULL, "round trip: printed defaults parse back");
	pb = print_to_string(&b);
	is_str(pb, pa, "round trip: defaults print the same twice");
	ok(strstr(pa, "policy_fetch_timeout = 1m\n") != NULL, "print: 60 s shown as 1m");
	free(pa);
	free(pb);
	config_free(&a);
	config_free(&b);
}

static void
test_keyinfo(void)
{
	struct config_keyinfo	ki, kj;
	size_t			i, j, dup = 0, nohelp = 0;

	is_int(config_nkeys(), 39, "keys: one per field of struct config");
	for (i = 0; config_keyinfo(i, &ki) == 0; i++) {
		if (ki.help == NULL || ki.help[0] == '\0' || ki.accepts[0] == '\0')
			nohelp++;
		for (j = i + 1; config_keyinfo(j, &kj) == 0; j++)
			if (strcmp(ki.name, kj.name) == 0)
				dup++;
	}
	is_int(i, config_nkeys(), "keys: config_keyinfo walks them all");
	is_int(dup, 0, "keys: names are unique");
	is_int(nohelp, 0, "keys: every key has help and a description of its values");
	config_keyinfo(8, &ki);
	is_str(ki.name, "recipient_limit", "keys: table order follows struct config");
	is_str(ki.accepts, "a whole number from 100 to 100000", "keys: accepts text");
}

/* etc/stsrelay.conf is the default configuration: same values as none. */
static void
test_sample(void)
{
	struct config	 a, b;
	const char	*top = getenv("top_srcdir");
	char		 file[512], err[600], *pa, *pb;

	snprintf(file, sizeof(file), "%s/etc/stsrelay.conf", top != NULL ? top : ".");
	if (!ok(config_load(&a, file, NULL, 0, err, sizeof(err)) == 0,
	    "etc/stsrelay.conf loads")) {
		diag("%s", err);
		return;
	}
	config_load(&b, NULL, NULL, 0, err, sizeof(err));
	pa = print_to_string(&a);
	pb = print_to_string(&b);
	is_str(pa, pb, "etc/stsrelay.conf: every value equals the built-in default");
	free(pa);
	free(pb);
	config_free(&a);
	config_free(&b);
}

/* docs/stsrelay.conf.5 describes every key of the table. */
static void
test_manual(void)
{
	struct config_keyinfo	 ki;
	const char		*top = getenv("top_srcdir");
	char			 file[512], want[128], *text = NULL;
	size_t			 i, len = 0, missing = 0;
	FILE			*fp;

	snprintf(file, sizeof(file), "%s/docs/stsrelay.conf.5", top != NULL ? top : ".");
	if ((fp = fopen(file, "r")) == NULL || getdelim(&text, &len, '\0', fp) < 0) {
		ok(0, "docs/stsrelay.conf.5 is readable");
		return;
	}
	fclose(fp);
	for (i = 0; config_keyinfo(i, &ki) == 0; i++) {
		snprintf(want, sizeof(want), "\n.It Cm %s ", ki.name);
		if (strstr(text, want) == NULL) {
			diag("stsrelay.conf(5) does not describe %s", ki.name);
			missing++;
		}
	}
	is_int(missing, 0, "docs: stsrelay.conf(5) describes every key");
	free(text);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL)
		bail_out();
	test_defaults();
	test_nul();
	test_types();
	test_lists();
	test_file_errors();
	test_overrides();
	test_round_trip();
	test_keyinfo();
	test_sample();
	test_manual();
	while (nfile > 0) {
		snprintf(path, sizeof(path), "%s/c%d.conf", dir, --nfile);
		unlink(path);
	}
	rmdir(dir);
	return tap_done();
}
