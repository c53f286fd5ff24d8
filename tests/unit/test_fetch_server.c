/* test_fetch_server.c: the test policy web server (see the header). */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/test_fetch_server.h"

int
https_lab_free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd, port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return -1;
	}
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
can_connect(int port)
{
	struct sockaddr_in	sin;
	int			fd, r;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return r == 0;
}

int
https_lab_setup(struct https_lab *lab, const char *names)
{
	char	 cmd[3072], san[1024] = "subjectAltName=", *copy, *tok, *save;

	memset(lab, 0, sizeof(*lab));
	snprintf(lab->dir, sizeof(lab->dir), "/tmp/test_https.XXXXXX");
	if (mkdtemp(lab->dir) == NULL)
		return -1;
	snprintf(lab->cafile, sizeof(lab->cafile), "%s/ca.pem", lab->dir);
	snprintf(lab->othercafile, sizeof(lab->othercafile), "%s/other.pem", lab->dir);
	copy = strdup(names);
	for (tok = strtok_r(copy, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save))
		snprintf(san + strlen(san), sizeof(san) - strlen(san), "%sDNS:%s",
		    san[15] != '\0' ? "," : "", tok);
	free(copy);
	snprintf(cmd, sizeof(cmd), "(cd %s && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout other.key -out other.pem -days 2 -subj /CN=other-ca && "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout srv.key -out srv.csr -subj /CN=policy-server && "
	    "echo '%s' > ext && "
	    "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	    "-days 2 -extfile ext -out srv.pem) >/dev/null 2>&1", lab->dir, san);
	return system(cmd) == 0 ? 0 : -1;
}

int
https_lab_write(struct https_lab *lab, const char *docroot, const char *text,
    size_t len)
{
	char	 path[256];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", lab->dir, docroot);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/.well-known", lab->dir, docroot);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/.well-known/mta-sts.txt", lab->dir, docroot);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	if (fwrite(text, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

pid_t
https_lab_serve(struct https_lab *lab, const char *docroot, int port)
{
	char		 accept[64], root[256];
	pid_t		 pid;
	struct timespec	 ts = { 0, 20 * 1000 * 1000 };
	int		 i;

	snprintf(accept, sizeof(accept), "127.0.0.1:%d", port);
	snprintf(root, sizeof(root), "%s/%s", lab->dir, docroot);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if (chdir(root) == -1 || freopen("/dev/null", "w", stdout) == NULL ||
		    freopen("/dev/null", "w", stderr) == NULL)
			_exit(127);
		execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert",
		    "../srv.pem", "-key", "../srv.key", "-WWW", "-quiet", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {		/* poll, up to 10 s */
		if (can_connect(port))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		nanosleep(&ts, NULL);
	}
	https_lab_stop(pid);
	return -1;
}

void
https_lab_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

void
https_lab_cleanup(struct https_lab *lab)
{
	char	cmd[128];

	if (lab->dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", lab->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", lab->dir);
}
