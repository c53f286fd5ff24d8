/*
 * control.c: the control socket: listening, clients, framing of JSON lines,
 * dispatch to registered handlers and (possibly late) replies.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/strutil.h"
#include "common/xmalloc.h"
#include "relay/control.h"

struct control_cmd {
	char			*name;
	control_handler		 fn;
	void			*arg;
};

struct control_client {
	struct control		*ctl;
	struct bufferevent	*bev;
	struct event		*resume;	/* read the next request */
	struct control_request	*req;		/* being answered, or NULL */
	int			 closing;	/* close once the output is sent */
	int			 eof;		/* the client has stopped sending */
	struct control_client	*next;
};

struct control_request {
	struct control_client	*client;	/* NULL once the client is gone */
	char			*cmd;
};

struct control {
	struct event_base	*base;
	void			**adopted;	/* freed with the control */
	size_t			 nadopted;
	struct evconnlistener	*listener;
	char			*path;
	int			 made_dir;	/* control_new() created the folder */
	struct control_cmd	*cmds;
	size_t			 ncmds;
	struct control_client	*clients;
	size_t			 nclients;
};

static void	client_process(struct control_client *);

/* Make the socket's folder (0700) if it is missing; keep an existing one. */
static int
control_mkdir(const char *path, int *made, char *err, size_t errlen)
{
	char		dir[sizeof(((struct sockaddr_un *)0)->sun_path)], *slash;
	struct stat	st;

	strutil_lcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) == 0) {
		*made = 1;
		log_info("control: created %s", dir);
		return 0;
	}
	if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	snprintf(err, errlen, "control socket folder %s: %s", dir, strerror(errno));
	return -1;
}

/* A socket file already there: refuse if a daemon answers, else remove it. */
static int
control_clear(const char *path, const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat	st;
	int		fd, r, e;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path,
		    strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	e = errno;
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "%s: another stsrelayd answers on it", path);
		return -1;
	}
	if (e != ECONNREFUSED && e != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "remove stale %s: %s", path, strerror(errno));
		return -1;
	}
	log_info("control: removed stale socket %s", path);
	return 0;
}

static void
client_free(struct control_client *c)
{
	struct control_client **pp;

	for (pp = &c->ctl->clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->ctl->nclients--;
	if (c->req != NULL)
		c->req->client = NULL;	/* its late reply goes nowhere */
	event_free(c->resume);
	bufferevent_free(c->bev);
	free(c);
}

/* Queue one JSON line; frees obj. */
static void
client_send(struct control_client *c, json_t *obj)
{
	char *s;

	if ((s = json_dumps(obj, JSON_COMPACT)) == NULL)
		fatalx("client_send: json_dumps failed");
	if (evbuffer_add(bufferevent_get_output(c->bev), s, strlen(s)) != 0 ||
	    evbuffer_add(bufferevent_get_output(c->bev), "\n", 1) != 0) {
		log_warnx("control: cannot queue a reply");
		c->closing = 1;
	}
	free(s);
	json_decref(obj);
}

static void
request_free(struct control_request *req)
{
	free(req->cmd);
	free(req);
}

/* The one way a request ends: answer it (if anyone listens) and free it. */
static void
request_done(struct control_request *req, json_t *answer)
{
	struct control_client *c = req->client;

	request_free(req);
	if (c == NULL) {
		json_decref(answer);
		return;
	}
	c->req = NULL;
	client_send(c, answer);
	if (!c->closing)
		event_active(c->resume, EV_READ, 0);
}

void
control_reply(struct control_request *req, json_t *result)
{
	json_t *answer = json_object();

	if (answer == NULL || json_object_set_new(answer, "ok", json_true()) != 0)
		fatalx("control_reply: out of memory");
	if (result != NULL) {
		if (json_is_object(result) && json_object_update(answer, result) != 0)
			fatalx("control_reply: out of memory");
		json_decref(result);
	}
	json_object_set_new(answer, "ok", json_true());
	request_done(req, answer);
}

void
control_reply_error(struct control_request *req, const char *fmt, ...)
{
	json_t	*answer;
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((answer = json_pack("{s:b, s:s}", "ok", 0, "error", msg)) == NULL)
		answer = json_pack("{s:b, s:s}", "ok", 0, "error", "(unprintable error)");
	request_done(req, answer);
}

const char *
control_request_cmd(const struct control_request *req)
{
	return req->cmd;
}

const char *
control_arg_string(const json_t *args, const char *key)
{
	json_t *v = json_object_get(args, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

size_t
control_nclients(const struct control *ctl)
{
	return ctl->nclients;
}

/* An answer that ends the connection: the client broke the protocol. */
static void
client_fail(struct control_client *c, const char *msg)
{
	log_warnx("control: %s", msg);
	client_send(c, json_pack("{s:b, s:s}", "ok", 0, "error", msg));
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
}

static void
client_dispatch(struct control_client *c, const char *line, size_t len)
{
	struct control_request	*req;
	json_t			*obj;
	json_error_t		 jerr;
	const char		*cmd;
	size_t			 i;

	req = xcalloc(1, sizeof(*req));
	req->client = c;
	c->req = req;
	if ((obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		req->cmd = xstrdup("");
		control_reply_error(req, "bad request: not JSON: %s", jerr.text);
		return;
	}
	if (!json_is_object(obj) || (cmd = control_arg_string(obj, "cmd")) == NULL) {
		req->cmd = xstrdup("");
		control_reply_error(req, "bad request: expected an object with a \"cmd\" string");
		json_decref(obj);
		return;
	}
	req->cmd = xstrdup(cmd);
	for (i = 0; i < c->ctl->ncmds; i++)
		if (strcmp(c->ctl->cmds[i].name, cmd) == 0)
			break;
	if (i == c->ctl->ncmds)
		control_reply_error(req, "unknown command: %.100s", cmd);
	else {
		log_debug("control: %s", cmd);
		c->ctl->cmds[i].fn(req, obj, c->ctl->cmds[i].arg);
	}
	json_decref(obj);
}

/*
 * Take complete lines one at a time while nothing is being answered; stop
 * reading while a request is pending, so that answers keep their order.
 * May free the client.
 */
static void
client_process(struct control_client *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	char		*line;
	size_t		 len;
	int		 full = 0;

	/* a client that does not read its answers gets no more (resumed in client_on_write) */
	while (c->req == NULL && !c->closing &&
	    !(full = evbuffer_get_length(bufferevent_get_output(c->bev)) > CONTROL_MAX_OUTPUT)) {
		if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) == NULL) {
			if (evbuffer_get_length(in) > CONTROL_MAX_REQUEST)
				client_fail(c, "request too large");
			break;
		}
		if (len > CONTROL_MAX_REQUEST)
			client_fail(c, "request too large");
		else if (len > 0)
			client_dispatch(c, line, len);
		free(line);
	}
	if (c->req != NULL || c->closing || c->eof || full)
		bufferevent_disable(c->bev, EV_READ);
	if (c->req == NULL && c->eof && !full)
		c->closing = 1;
	if (c->closing && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_free(c);
}

static void
client_on_read(struct bufferevent *bev, void *arg)
{
	client_process(arg);
}

static void
client_on_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct control_client *c = arg;

	if (c->req != NULL || c->closing)
		return;
	if (!c->eof && bufferevent_enable(c->bev, EV_READ) != 0)
		log_warnx("control: cannot read from a client");
	client_process(c);
}

static void
client_on_write(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;

	if (c->closing)
		client_free(c);
	else if (c->req == NULL)
		event_active(c->resume, EV_READ, 0);	/* the answers are taken: read on */
}

static void
client_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *c = arg;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		/* A half-closed client still gets its answers. */
		c->eof = 1;
		client_process(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info("control: client timed out");
	else if (what & BEV_EVENT_ERROR)
		log_info("control: client: %s", strerror(EVUTIL_SOCKET_ERROR()));
	client_free(c);
}

/* Only root and the daemon's own user may steer it. */
static int
client_allowed(evutil_socket_t fd)
{
	struct ucred	cred;
	socklen_t	len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("control: SO_PEERCRED");
		return 0;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		log_warnx("control: refused a client running as uid %u", (unsigned)cred.uid);
		return 0;
	}
	return 1;
}

static void
control_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	static const char	 busy[] = "{\"ok\":false,\"error\":\"too many control connections\"}\n";
	static const char	 denied[] = "{\"ok\":false,\"error\":\"permission denied\"}\n";
	struct control		*ctl = arg;
	struct control_client	*c;
	struct timeval		 rtv = { CONTROL_IDLE_TIMEOUT, 0 }, wtv = { 30, 0 };

	if (!client_allowed(fd) || ctl->nclients >= CONTROL_MAX_CLIENTS) {
		if (ctl->nclients >= CONTROL_MAX_CLIENTS)
			log_warnx("control: too many clients");
		if (send(fd, ctl->nclients >= CONTROL_MAX_CLIENTS ? busy : denied,
		    ctl->nclients >= CONTROL_MAX_CLIENTS ? sizeof(busy) - 1 :
		    sizeof(denied) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
			log_debug("control: send: %s", strerror(errno));
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->ctl = ctl;
	if ((c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS)) == NULL ||
	    (c->resume = event_new(ctl->base, -1, 0, client_on_resume, c)) == NULL)
		fatalx("control_on_accept: out of memory");
	bufferevent_setcb(c->bev, client_on_read, client_on_write, client_on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONTROL_MAX_REQUEST + 2);
	bufferevent_set_timeouts(c->bev, &rtv, &wtv);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0)
		fatalx("control_on_accept: bufferevent_enable");
	c->next = ctl->clients;
	ctl->clients = c;
	ctl->nclients++;
}

static void
control_on_listen_error(struct evconnlistener *l, void *arg)
{
	log_warnx("control: accept: %s", strerror(EVUTIL_SOCKET_ERROR()));
}

static int
control_bind(const char *path, int *made, char *err, size_t errlen)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strutil_lcpy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a UNIX socket", path);
		return -1;
	}
	if (control_mkdir(path, made, err, errlen) == -1 || control_clear(path, &sun, err, errlen) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (chmod(path, 0600) == -1) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

static void
control_help(struct control_request *req, const json_t *args, void *arg)
{
	struct control	*ctl = arg;
	json_t		*cmds = json_array();
	size_t		 i;

	for (i = 0; i < ctl->ncmds; i++)
		json_array_append_new(cmds, json_string(ctl->cmds[i].name));
	control_reply(req, json_pack("{s:o}", "commands", cmds));
}

struct control *
control_new(struct event_base *base, const char *path, char *err, size_t errlen)
{
	struct control	*ctl;
	int		 fd, made = 0;

	if ((fd = control_bind(path, &made, err, errlen)) == -1)
		return NULL;
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->made_dir = made;
	ctl->base = base;
	ctl->path = xstrdup(path);
	if ((ctl->listener = evconnlistener_new(base, control_on_accept, ctl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16, fd)) == NULL) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		free(ctl->path);
		free(ctl);
		return NULL;
	}
	evconnlistener_set_error_cb(ctl->listener, control_on_listen_error);
	control_register(ctl, "help", control_help, ctl);
	log_info("control: listening on %s", path);
	return ctl;
}

void
control_free(struct control *ctl)
{
	size_t i;

	if (ctl == NULL)
		return;
	while (ctl->clients != NULL)
		client_free(ctl->clients);
	evconnlistener_free(ctl->listener);
	if (unlink(ctl->path) == -1 && errno != ENOENT)
		log_warn("control: unlink %s", ctl->path);
	for (i = 0; i < ctl->ncmds; i++)
		free(ctl->cmds[i].name);
	for (i = 0; i < ctl->nadopted; i++)
		free(ctl->adopted[i]);
	free(ctl->adopted);
	free(ctl->cmds);
	free(ctl->path);
	free(ctl);
}

int
control_chown(struct control *ctl, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	char *slash;

	if (chown(ctl->path, uid, gid) == -1) {
		snprintf(err, errlen, "chown %s: %s", ctl->path, strerror(errno));
		return -1;
	}
	if (!ctl->made_dir || (slash = strrchr(ctl->path, '/')) == NULL || slash == ctl->path)
		return 0;
	*slash = '\0';
	if (chown(ctl->path, uid, gid) == -1) {
		snprintf(err, errlen, "chown %s: %s", ctl->path, strerror(errno));
		*slash = '/';
		return -1;
	}
	*slash = '/';
	return 0;
}

int
control_register(struct control *ctl, const char *cmd, control_handler fn, void *arg)
{
	size_t i;

	for (i = 0; i < ctl->ncmds; i++)
		if (strcmp(ctl->cmds[i].name, cmd) == 0)
			return -1;
	ctl->cmds = xreallocarray(ctl->cmds, ctl->ncmds + 1, sizeof(*ctl->cmds));
	ctl->cmds[ctl->ncmds].name = xstrdup(cmd);
	ctl->cmds[ctl->ncmds].fn = fn;
	ctl->cmds[ctl->ncmds].arg = arg;
	ctl->ncmds++;
	return 0;
}

void
control_adopt(struct control *ctl, void *p)
{
	ctl->adopted = xreallocarray(ctl->adopted, ctl->nadopted + 1, sizeof(*ctl->adopted));
	ctl->adopted[ctl->nadopted++] = p;
}

json_t *
control_json_string(const char *s)
{
	json_t	*j;
	char	*copy, *p;

	if (s == NULL)
		s = "";
	if ((j = json_string(s)) != NULL)
		return j;
	copy = xstrdup(s);
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	if ((j = json_string(copy)) == NULL)
		fatalx("control_json_string: out of memory");
	free(copy);
	return j;
}
