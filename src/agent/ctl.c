/* ctl.c: each package's own socket to ferryd, ROOT/run/ctl/NAME.sock,
 * which ferry-confine binds into the package's sandboxes at
 * /run/ferry-ctl.sock, where `ferry-ctl` finds it (as snapd gives snapctl a
 * way back to it). What comes in on a package's socket is that package's:
 * the package is the socket the connection arrived on, never a name the
 * caller sends, so an app can read and set its own configuration and no
 * other's. The socket belongs to the package's uid, mode 0600, and a peer
 * whose uid is neither the package's nor root's (or ferryd's own) is
 * closed at once.
 *
 * Every request is bounded: CTL_MAX_REQUEST bytes, CTL_TIMEOUT_MS to send it
 * and take the answer, CTL_MAX_CONNS_PER_PKG connections at once on one
 * socket and CTL_MAX_CONNS on all; the keys and values by conf.c's rules.
 * Sockets, connections and requests are served from the main loop without
 * blocking. The protocol is docs/formats/ctl.md.
 *
 * It does not start anything (sandbox.c asks for the socket when it starts
 * a program of the package) and knows nothing of the configure hook. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "conf.h"
#include "ctl.h"
#include "state.h"

struct ctl_listener {
	char name[STATE_NAME_MAX];
	int fd;
	uid_t uid;
	unsigned conns;
};

struct ctl_conn {
	int fd; /* -1: a free slot */
	char name[STATE_NAME_MAX];
	struct buf in;
	char *out;
	size_t out_len, out_off;
	int64_t deadline_ms;
};

struct ctl_server {
	/* guards the listeners, which any thread may add or remove; the
	 * connections are the main thread's alone */
	pthread_mutex_t mu;
	struct ctl_listener *ls;
	size_t n_ls;
	struct ctl_conn conns[CTL_MAX_CONNS];
	int64_t warned_ms;
};

int ctl_init(struct agent *ag, ferry_error *err)
{
	char dir[PATH_MAX];
	if (agent_path(ag, dir, "run/ctl") < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", ag->root);
	int rc = fs_mkdir_p(dir, 0711, err);
	if (rc < 0)
		return rc;
	if (chmod(dir, 0711) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "chmod %s", dir);
	struct ctl_server *c = calloc(1, sizeof(*c));
	if (!c)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	for (size_t i = 0; i < CTL_MAX_CONNS; i++)
		c->conns[i].fd = -1;
	ag->ctl = c;
	return 0;
}

static int sock_path(struct agent *ag, const char *name, char *path, ferry_error *err)
{
	if (agent_path(ag, path, "run/ctl/%s.sock", name) < 0 ||
	    strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s/run/ctl/%s.sock: path too long for a socket", ag->root,
		                       name);
	return 0;
}

static struct ctl_listener *find_listener(struct ctl_server *c, const char *name)
{
	for (size_t i = 0; i < c->n_ls; i++)
		if (strcmp(c->ls[i].name, name) == 0)
			return &c->ls[i];
	return NULL;
}

/* with c->mu held */
static void drop_listener(struct agent *ag, struct ctl_listener *l, bool unlink_file)
{
	struct ctl_server *c = ag->ctl;
	char path[PATH_MAX];
	epoll_ctl(ag->epfd, EPOLL_CTL_DEL, l->fd, NULL);
	close(l->fd);
	if (unlink_file && sock_path(ag, l->name, path, NULL) == 0)
		unlink(path);
	*l = c->ls[--c->n_ls];
}

static int open_listener(struct agent *ag, const char *path, uid_t uid, gid_t gid, int *out,
                         ferry_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "socket");
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    (ag->privileged && chown(path, uid, gid) < 0) || listen(fd, 16) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return ferry_error_errno(err, FERRY_E_IO, e, "listen on %s", path);
	}
	*out = fd;
	return 0;
}

int ctl_socket(struct agent *ag, const char *name, uid_t uid, gid_t gid, char *path,
               ferry_error *err)
{
	struct ctl_server *c = ag->ctl;
	int rc = sock_path(ag, name, path, err);
	if (rc < 0 || !c)
		return rc < 0 ? rc : ferry_error_set(err, FERRY_E_INVALID, "no ctl sockets");
	pthread_mutex_lock(&c->mu);
	struct ctl_listener *l = find_listener(c, name);
	struct stat st;
	/* still there as it was made? (a removed and reinstalled package may
	 * have another uid) */
	if (l && (l->uid != uid || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)))
		drop_listener(ag, l, false);
	else if (l) {
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	struct ctl_listener *ls = reallocarray(c->ls, c->n_ls + 1, sizeof(*ls));
	if (!ls) {
		pthread_mutex_unlock(&c->mu);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	c->ls = ls;
	int fd = -1;
	rc = open_listener(ag, path, uid, gid, &fd, err);
	if (rc == 0) {
		l = &c->ls[c->n_ls++];
		memset(l, 0, sizeof(*l));
		IGNORE_RC(str_copy(l->name, sizeof(l->name), name));
		l->fd = fd;
		l->uid = uid;
		struct epoll_event ev = {.events = EPOLLIN};
		ev.data.u64 = ((uint64_t)CTL_EV_LISTEN << 32) | (uint32_t)fd;
		if (epoll_ctl(ag->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			rc = ferry_error_errno(err, FERRY_E_IO, errno, "epoll");
			drop_listener(ag, l, true);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void ctl_forget(struct agent *ag, const char *name)
{
	struct ctl_server *c = ag->ctl;
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	struct ctl_listener *l = find_listener(c, name);
	if (l)
		drop_listener(ag, l, true);
	pthread_mutex_unlock(&c->mu);
}

/* --- requests -------------------------------------------------------------- */

static void reply_error(struct buf *out, const char *fmt, ...) FERRY_PRINTF(2, 3);
static void reply_error(struct buf *out, const char *fmt, ...)
{
	char msg[FERRY_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_reset(out);
	IGNORE_RC(buf_printf(out, "error\n%s\n", msg));
}

static void answer_get(struct agent *ag, const char *name, char **keys, size_t n, struct buf *out)
{
	ferry_error err;
	json_t *all = NULL;
	if (conf_all(ag->db, name, &all, &err) < 0) {
		reply_error(out, "%s", ferry_error_msg(&err));
		return;
	}
	IGNORE_RC(buf_append_str(out, "ok\n"));
	if (n == 1) {
		json_t *v = json_object_get(all, keys[0]);
		if (v)
			IGNORE_RC(buf_printf(out, "%s\n", json_string_value(v)));
	} else {
		json_t *some = n ? json_object() : json_incref(all);
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_object_get(all, keys[i]);
			if (v)
				json_object_set(some, keys[i], v);
		}
		_cleanup_free_ char *text = json_dumps(some, JSON_INDENT(2) | JSON_SORT_KEYS);
		json_decref(some);
		if (text && buf_printf(out, "%s\n", text) < 0)
			reply_error(out, "the answer is too large");
	}
	json_decref(all);
}

/* words: the request's, verb first (docs/formats/ctl.md) */
static void answer(struct agent *ag, const char *name, char **words, size_t n, struct buf *out)
{
	const char *verb = words[0];
	bool get = strcmp(verb, "get") == 0, set = strcmp(verb, "set") == 0,
	     unset = strcmp(verb, "unset") == 0;
	if (!get && !set && !unset) {
		reply_error(out, "unknown command \"%.64s\" (expected get, set or unset)", verb);
		return;
	}
	char cur[STATE_REV_MAX];
	ferry_error err;
	if (state_current(ag->db, name, cur, &err) < 0) {
		reply_error(out, "%s is not installed", name);
		return;
	}
	if ((set || unset) && n < 2) {
		reply_error(out, "%s: name at least one %s", verb, set ? "key=value" : "key");
		return;
	}
	_cleanup_(json_decrefp) json_t *values = json_object();
	for (size_t i = 1; i < n; i++) {
		const char *eq = set ? strchr(words[i], '=') : NULL;
		if (set && (!eq || eq == words[i])) {
			reply_error(out, "set: expected key=value; got \"%.64s\"", words[i]);
			return;
		}
		char key[CONF_KEY_MAX + 2];
		size_t kl = eq ? (size_t)(eq - words[i]) : strlen(words[i]);
		snprintf(key, sizeof(key), "%.*s",
		         (int)(kl < sizeof(key) - 1 ? kl : sizeof(key) - 1), words[i]);
		json_t *v = set ? json_string(eq + 1) : json_null();
		if (!v) {
			reply_error(out, "set: %s: the value is not UTF-8 text", key);
			return;
		}
		json_object_set_new(values, key, v);
	}
	if (n > 1 && conf_check(verb, values, &err) < 0) {
		reply_error(out, "%s", ferry_error_msg(&err));
		return;
	}
	if (get) {
		answer_get(ag, name, words + 1, n - 1, out);
		return;
	}
	if (conf_apply(ag->db, name, values, &err) < 0 ||
	    conf_write_file(ag, ag->db, name, &err) < 0) {
		reply_error(out, "%s", ferry_error_msg(&err));
		return;
	}
	log_debug("%s: ferry-ctl %s of %zu key%s", name, verb, n - 1, n == 2 ? "" : "s");
	IGNORE_RC(buf_append_str(out, "ok\n"));
}

/* The request is complete: NUL-terminated words, at most CONF_MAX_PAIRS + 1. */
static void handle(struct agent *ag, struct ctl_conn *k, struct buf *out)
{
	char *words[CONF_MAX_PAIRS + 1];
	size_t n = 0;
	const char *data = k->in.data;
	size_t len = k->in.len;
	if (len == 0 || data[len - 1] != '\0') {
		reply_error(out, "malformed request: expected words each ended by a NUL byte");
		return;
	}
	for (size_t off = 0; off < len; off += strlen(data + off) + 1) {
		if (n == ARRAY_SIZE(words)) {
			reply_error(out, "too many words: at most %d keys in one request",
			            CONF_MAX_PAIRS);
			return;
		}
		words[n++] = k->in.data + off;
	}
	answer(ag, k->name, words, n, out);
}

/* --- connections ------------------------------------------------------------ */

static bool warn_now(struct ctl_server *c)
{
	int64_t now = now_ms();
	if (c->warned_ms && now - c->warned_ms < 60000)
		return false;
	c->warned_ms = now;
	return true;
}

static void conn_close(struct agent *ag, struct ctl_conn *k)
{
	struct ctl_server *c = ag->ctl;
	epoll_ctl(ag->epfd, EPOLL_CTL_DEL, k->fd, NULL);
	close(k->fd);
	k->fd = -1;
	buf_free(&k->in);
	free(k->out);
	k->out = NULL;
	pthread_mutex_lock(&c->mu);
	struct ctl_listener *l = find_listener(c, k->name);
	if (l && l->conns > 0)
		l->conns--;
	pthread_mutex_unlock(&c->mu);
}

static void accept_on(struct agent *ag, int lfd)
{
	struct ctl_server *c = ag->ctl;
	pthread_mutex_lock(&c->mu);
	struct ctl_listener *l = NULL;
	for (size_t i = 0; i < c->n_ls; i++)
		if (c->ls[i].fd == lfd)
			l = &c->ls[i];
	for (;;) {
		int fd = l ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK) : -1;
		if (fd < 0 && l && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0)
			break;
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		struct ctl_conn *k = NULL;
		for (size_t i = 0; i < CTL_MAX_CONNS && !k; i++)
			if (c->conns[i].fd < 0)
				k = &c->conns[i];
		bool peer_ok = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 &&
		               (cred.uid == l->uid || cred.uid == 0 || cred.uid == ag->owner_uid);
		if (!peer_ok || !k || l->conns >= CTL_MAX_CONNS_PER_PKG) {
			close(fd);
			if (warn_now(c))
				log_warn("%s: ferry-ctl connection closed: %s", l->name,
				         !peer_ok ? "the peer is not the package's user"
				                  : "too many at once");
			continue;
		}
		k->fd = fd;
		IGNORE_RC(str_copy(k->name, sizeof(k->name), l->name));
		buf_init(&k->in, CTL_MAX_REQUEST);
		k->out = NULL;
		k->out_len = k->out_off = 0;
		k->deadline_ms = now_ms() + CTL_TIMEOUT_MS;
		struct epoll_event ev = {.events = EPOLLIN};
		ev.data.u64 = ((uint64_t)CTL_EV_CONN << 32) | (uint32_t)fd;
		if (epoll_ctl(ag->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			k->fd = -1;
			buf_free(&k->in);
			continue;
		}
		l->conns++;
	}
	pthread_mutex_unlock(&c->mu);
}

/* Write what is left of the answer; close once it is all out. */
static void conn_write(struct agent *ag, struct ctl_conn *k)
{
	while (k->out_off < k->out_len) {
		ssize_t w = send(k->fd, k->out + k->out_off, k->out_len - k->out_off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0)
			break;
		k->out_off += (size_t)w;
	}
	conn_close(ag, k);
}

static void conn_read(struct agent *ag, struct ctl_conn *k)
{
	char chunk[4096];
	bool eof = false, too_big = false;
	for (;;) {
		ssize_t r = recv(k->fd, chunk, sizeof(chunk), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r < 0) {
			conn_close(ag, k);
			return;
		}
		if (r == 0) {
			eof = true;
			break;
		}
		if (buf_append(&k->in, chunk, (size_t)r) < 0) {
			too_big = true;
			break;
		}
	}
	if (!eof && !too_big)
		return;
	struct buf out = BUF_INIT(CTL_MAX_ANSWER);
	if (too_big)
		reply_error(&out, "request larger than %d bytes", CTL_MAX_REQUEST);
	else
		handle(ag, k, &out);
	k->out = buf_steal(&out, &k->out_len);
	k->out_off = 0;
	if (!k->out) {
		conn_close(ag, k);
		return;
	}
	struct epoll_event ev = {.events = EPOLLOUT};
	ev.data.u64 = ((uint64_t)CTL_EV_CONN << 32) | (uint32_t)k->fd;
	epoll_ctl(ag->epfd, EPOLL_CTL_MOD, k->fd, &ev);
	conn_write(ag, k);
}

void ctl_event(struct agent *ag, uint32_t tag, int fd)
{
	struct ctl_server *c = ag->ctl;
	if (!c)
		return;
	if (tag == CTL_EV_LISTEN) {
		accept_on(ag, fd);
		return;
	}
	for (size_t i = 0; i < CTL_MAX_CONNS; i++) {
		struct ctl_conn *k = &c->conns[i];
		if (k->fd != fd)
			continue;
		if (k->out)
			conn_write(ag, k);
		else
			conn_read(ag, k);
		return;
	}
}

int64_t ctl_timers(struct agent *ag)
{
	struct ctl_server *c = ag->ctl;
	int64_t next = -1, now = now_ms();
	for (size_t i = 0; c && i < CTL_MAX_CONNS; i++) {
		struct ctl_conn *k = &c->conns[i];
		if (k->fd < 0)
			continue;
		if (now >= k->deadline_ms) {
			if (warn_now(c))
				log_warn("%s: ferry-ctl connection closed: no request within %d ms",
				         k->name, CTL_TIMEOUT_MS);
			conn_close(ag, k);
			continue;
		}
		if (next < 0 || k->deadline_ms - now < next)
			next = k->deadline_ms - now;
	}
	return next;
}

void ctl_stop(struct agent *ag)
{
	struct ctl_server *c = ag->ctl;
	if (!c)
		return;
	for (size_t i = 0; i < CTL_MAX_CONNS; i++)
		if (c->conns[i].fd >= 0)
			conn_close(ag, &c->conns[i]);
	pthread_mutex_lock(&c->mu);
	while (c->n_ls > 0)
		drop_listener(ag, &c->ls[c->n_ls - 1], true);
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_destroy(&c->mu);
	free(c->ls);
	free(c);
	ag->ctl = NULL;
}
