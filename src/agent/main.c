/* main.c: ferryd, the device agent. Reads its options and configuration
 * file, prepares the root directory, takes the root's lock, then runs the
 * main loop (one epoll over: signals, the local API, service output, the
 * notify socket; timers through the wait's timeout, so an idle ferryd wakes
 * only for a timer that is due) beside the worker thread that runs changes.
 *
 *   ferryd --root DIR [--socket PATH] [--store URL --trust ROOT_JSON]
 *          [--config FILE] [--log-level LEVEL]
 *
 * The configuration file holds `key = value` lines (# comments): root,
 * socket, store, trust, retain (2-20), log-max-size (bytes), images
 * (mount or extract), hook-timeout (pre-/post-refresh, install, configure
 * and remove hooks; default 10m), log-level, device-id (default: generated
 * at first start), refresh-timer (default 00:00~24:00/4, see schedule.c),
 * retries (default 4) and retry-delay (first back-off, default 5s) of
 * network operations, min-free-space (bytes a download leaves free,
 * default 64 MiB), ferry-confine (its path; default: next to ferryd),
 * confinement (on, or off for development only), cgroup-parent (for app
 * cgroups), app-ids (the range of package uids and gids, default
 * 70000-79999). Options on the command line win over the file.
 * At first start it also generates the device key (report.c).
 * Only main() may exit; everything else returns errors. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "report.h"
#include "store.h"

struct agent agent;

enum ev_type { EV_SIGNAL = 1, EV_LOG = 2, EV_API = 3, EV_NOTIFY = 4, EV_WAKE = 5 };

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void agent_wait_ms(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ms < 0)
		ms = 0;
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&agent.cond, &agent.lock, &ts);
}

int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

int agent_path(char *out, const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rel))
		return FERRY_E_LIMIT;
	return str_printf(out, PATH_MAX, "%s/%s", agent.root, rel);
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: ferryd [--root DIR] [--socket PATH] [--store URL --trust ROOT_JSON]\n"
	        "              [--config FILE] [--log-level error|warn|info|debug]\n"
	        "  the device agent: installs, refreshes and supervises packages under DIR\n"
	        "  (default %s), serving the local API on PATH (default %s).\n"
	        "ferryd --version\n",
	        AGENT_DEFAULT_ROOT, AGENT_DEFAULT_SOCKET);
}

struct options {
	const char *root, *socket, *store, *trust, *config, *level, *images;
	const char *retain, *log_max, *hook_timeout;
	const char *device_id, *refresh_timer, *retries, *retry_delay, *min_free;
	const char *confine_path, *confinement, *cgroup_parent, *app_ids;
};

/* key = value lines; unknown keys are errors that name the line. */
static int read_config(const char *path, struct options *o, char **keep, ferry_error *err)
{
	char *text = NULL;
	int rc = fs_read_file(path, 64 * 1024, &text, NULL, err);
	if (rc < 0)
		return rc;
	*keep = text;
	int lineno = 0;
	for (char *line = text, *next; line && *line; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\0')
			continue;
		char *eq = strchr(p, '=');
		if (!eq)
			return ferry_error_set(err, FERRY_E_INVALID, "%s:%d: expected key = value",
			                       path, lineno);
		char *k = p, *v = eq + 1, *ke = eq;
		while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
			ke--;
		*ke = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		char *ve = v + strlen(v);
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
			*--ve = '\0';
		struct {
			const char *key;
			const char **slot;
		} keys[] = {
		    {"root", &o->root},
		    {"socket", &o->socket},
		    {"store", &o->store},
		    {"trust", &o->trust},
		    {"retain", &o->retain},
		    {"log-max-size", &o->log_max},
		    {"images", &o->images},
		    {"log-level", &o->level},
		    {"hook-timeout", &o->hook_timeout},
		    {"device-id", &o->device_id},
		    {"refresh-timer", &o->refresh_timer},
		    {"retries", &o->retries},
		    {"retry-delay", &o->retry_delay},
		    {"min-free-space", &o->min_free},
		    {"ferry-confine", &o->confine_path},
		    {"confinement", &o->confinement},
		    {"cgroup-parent", &o->cgroup_parent},
		    {"app-ids", &o->app_ids},
		};
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
			if (strcmp(k, keys[i].key) == 0) {
				if (!*keys[i].slot) /* the command line wins */
					*keys[i].slot = v;
				known = true;
			}
		if (!known)
			return ferry_error_set(
			    err, FERRY_E_INVALID,
			    "%s:%d: unknown key \"%s\" (expected root, socket, store, trust, "
			    "retain, log-max-size, images, log-level, hook-timeout, device-id, "
			    "refresh-timer, retries, retry-delay, min-free-space, "
			    "ferry-confine, confinement, cgroup-parent, app-ids)",
			    path, lineno, k);
	}
	return 0;
}

static int make_dirs(ferry_error *err)
{
	const struct {
		const char *dir;
		mode_t mode;
	} dirs[] = {{"", 0755},     {"images", 0700}, {"mnt", 0755}, {"data", 0755},
	            {"logs", 0750}, {"run", 0755},    {"tuf", 0755}};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char p[PATH_MAX];
		if (agent_path(p, "%s", dirs[i].dir) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", agent.root);
		int rc = fs_mkdir_p(p, dirs[i].mode, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int open_notify(ferry_error *err)
{
	if (agent_path(agent.notify_path, "run/notify.sock") < 0 ||
	    strlen(agent.notify_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s/run/notify.sock: path too long for a socket",
		                       agent.root);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "socket");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, agent.notify_path, strlen(agent.notify_path) + 1);
	unlink(agent.notify_path);
	int one = 1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(agent.notify_path, 0666) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		int e = errno;
		close(fd);
		return ferry_error_errno(err, FERRY_E_IO, e, "bind %s", agent.notify_path);
	}
	agent.notify_fd = fd;
	struct epoll_event ev = {.events = EPOLLIN};
	ev.data.u64 = (uint64_t)EV_NOTIFY << 32;
	epoll_ctl(agent.epfd, EPOLL_CTL_ADD, fd, &ev);
	return 0;
}

/* At shutdown (main thread): SIGTERM every service, reap, SIGKILL the rest. */
static void stop_all_services(void)
{
	uint64_t longest = 0;
	for (struct service *s = agent.services; s; s = s->next)
		if (s->pid > 0) {
			s->state = SVC_STOPPING;
			if (s->pgid > 1)
				kill(-s->pgid, SIGTERM);
			kill(s->pid, SIGTERM);
			if (s->stop_timeout_ms > longest)
				longest = s->stop_timeout_ms;
		}
	int64_t deadline = now_ms() + (int64_t)longest;
	for (int round = 0; round < 2; round++) {
		for (;;) {
			svc_reap();
			bool any = false;
			for (struct service *s = agent.services; s; s = s->next)
				if (s->pid > 0)
					any = true;
			if (!any || now_ms() >= deadline)
				break;
			struct timespec ts = {0, 20 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		for (struct service *s = agent.services; s; s = s->next)
			if (s->pid > 0) {
				log_warn("%s.%s did not stop in time; killing it", s->name, s->app);
				if (s->pgid > 1)
					kill(-s->pgid, SIGKILL);
				kill(s->pid, SIGKILL);
			}
		deadline = now_ms() + 5000;
	}
	for (struct service *s = agent.services; s; s = s->next)
		svc_record_pid(s);
}

/* The device id: from the configuration, else the one generated at first
 * start and kept in state.db. */
static int device_identity(ferry_error *err)
{
	_cleanup_free_ char *saved = state_config_get(agent.db, "device-id");
	if (agent.device_id[0]) {
		if (!saved || strcmp(saved, agent.device_id) != 0)
			return state_config_set(agent.db, "device-id", agent.device_id, err);
		return 0;
	}
	if (saved && str_copy(agent.device_id, sizeof(agent.device_id), saved) == 0)
		return 0;
	unsigned char r[16];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return ferry_error_errno(err, FERRY_E_IO, errno, "getrandom");
	str_hex(r, sizeof(r), agent.device_id);
	log_info("device id %s generated", agent.device_id);
	return state_config_set(agent.db, "device-id", agent.device_id, err);
}

/* Main thread: queue an automatic refresh unless one is queued or running. */
static void auto_refresh(void)
{
	json_t *row = NULL;
	if (state_query_row(agent.db, &row, NULL,
	                    "SELECT id FROM changes WHERE kind IN ('refresh-all', 'refresh') AND "
	                    "status IN ('Do', 'Doing')",
	                    NULL) == 0) {
		json_decref(row);
		return;
	}
	json_t *data = json_pack("{s:b, s:[]}", "auto", 1, "names");
	int64_t id = 0;
	ferry_error err;
	if (txn_create(agent.db, "refresh-all", "", "Automatic refresh", data, &id, &err) < 0)
		log_error("automatic refresh: %s", ferry_error_msg(&err));
	else
		txn_wake();
	json_decref(data);
}

static void *worker_main(void *arg)
{
	txn_worker(arg);
	pthread_mutex_lock(&agent.lock);
	agent.worker_done = true;
	pthread_mutex_unlock(&agent.lock);
	uint64_t one = 1;
	if (write(agent.wake_fd, &one, sizeof(one)) < 0)
		log_warn("wake: %s", strerror(errno));
	return NULL;
}

static int run(void)
{
	int64_t stop_requested = 0;
	for (;;) {
		pthread_mutex_lock(&agent.lock);
		bool done = agent.worker_done;
		int64_t now = now_ms();
		int64_t next = svc_timers(now);
		int64_t api = api_timeout_ms();
		if (agent.refresh_next > 0 && agent.ready && wall_s() >= agent.refresh_next) {
			auto_refresh();
			agent.refresh_next = schedule_next(agent.refresh_timer, wall_s());
		}
		int64_t refresh_in =
		    agent.refresh_next > 0 ? (agent.refresh_next - wall_s()) * 1000 : -1;
		pthread_mutex_unlock(&agent.lock);
		if (done)
			break;
		int timeout = -1;
		if (next >= 0)
			timeout = (int)(next - now > 0 ? next - now : 0);
		if (refresh_in >= 0 && (timeout < 0 || refresh_in < timeout))
			timeout =
			    (int)(refresh_in > 0 ? (refresh_in > INT32_MAX ? INT32_MAX : refresh_in)
			                         : 0);
		if (api >= 0 && (timeout < 0 || api < timeout))
			timeout = (int)api;
		if (stop_requested && (timeout < 0 || timeout > 200))
			timeout = 200;
		struct epoll_event evs[16];
		int n = epoll_wait(agent.epfd, evs, 16, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("epoll: %s", strerror(errno));
			return 1;
		}
		pthread_mutex_lock(&agent.lock);
		for (int i = 0; i < n; i++) {
			uint32_t type = (uint32_t)(evs[i].data.u64 >> 32);
			int fd = (int)(uint32_t)evs[i].data.u64;
			switch (type) {
			case EV_SIGNAL: {
				struct signalfd_siginfo si;
				while (read(agent.sigfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGCHLD) {
						svc_reap();
					} else if (!agent.quit) {
						log_info("signal %d: stopping", (int)si.ssi_signo);
						agent.quit = true;
						stop_requested = now_ms();
						pthread_cond_broadcast(&agent.cond);
					}
				}
				break;
			}
			case EV_LOG:
				svc_log_readable(fd);
				break;
			case EV_NOTIFY:
				svc_notify_readable();
				break;
			case EV_WAKE: {
				uint64_t v;
				if (read(agent.wake_fd, &v, sizeof(v)) < 0)
					(void)0;
				break;
			}
			default:
				break;
			}
		}
		api_run();
		if (agent.quit)
			svc_reap(); /* the worker may be waiting for a service to stop */
		pthread_mutex_unlock(&agent.lock);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		if (strcmp(a, "--version") == 0) {
			printf("ferryd %s\n", FERRY_VERSION);
			return 0;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--root") == 0) {
			slot = &o.root;
		} else if (strcmp(a, "--socket") == 0) {
			slot = &o.socket;
		} else if (strcmp(a, "--store") == 0) {
			slot = &o.store;
		} else if (strcmp(a, "--trust") == 0) {
			slot = &o.trust;
		} else if (strcmp(a, "--config") == 0) {
			slot = &o.config;
		} else if (strcmp(a, "--log-level") == 0) {
			slot = &o.level;
		} else {
			fprintf(stderr, "ferryd: unknown %s \"%s\"\n",
			        a[0] == '-' ? "option" : "argument", a);
			usage(stderr);
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "ferryd: %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		*slot = argv[++i];
	}

	ferry_error err;
	ferry_error_clear(&err);
	_cleanup_free_ char *config_text = NULL;
	if (o.config && read_config(o.config, &o, &config_text, &err) < 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		return 2;
	}
	int level = o.level ? log_level_parse(o.level) : LOG_LEVEL_INFO;
	if (level < 0) {
		fprintf(stderr,
		        "ferryd: --log-level: expected error, warn, info or debug; got \"%s\"\n",
		        o.level);
		return 2;
	}
	log_setup("ferryd", (enum log_level)level, NULL);
	if ((o.store != NULL) != (o.trust != NULL)) {
		fprintf(stderr, "ferryd: --store and --trust go together: the store's URL and the "
		                "root.json to trust\n");
		return 2;
	}

	agent.privileged = geteuid() == 0;
	agent.owner_uid = getuid();
	agent.retain = AGENT_RETAIN_DEFAULT;
	agent.log_max = AGENT_LOG_MAX_DEFAULT;
	agent.listen_fd = agent.notify_fd = agent.sigfd = agent.epfd = agent.wake_fd = -1;
	if (o.retain) {
		unsigned long long r;
		if (str_to_u64(o.retain, AGENT_RETAIN_MAX, &r) < 0 || r < AGENT_RETAIN_MIN) {
			fprintf(stderr, "ferryd: retain: expected %d to %d; got \"%s\"\n",
			        AGENT_RETAIN_MIN, AGENT_RETAIN_MAX, o.retain);
			return 2;
		}
		agent.retain = (int)r;
	}
	if (o.log_max) {
		unsigned long long v;
		if (str_to_u64(o.log_max, 1ull << 32, &v) < 0 || v < 4096) {
			fprintf(
			    stderr,
			    "ferryd: log-max-size: expected 4096 to 4294967296 bytes; got \"%s\"\n",
			    o.log_max);
			return 2;
		}
		agent.log_max = v;
	}
	agent.hook_timeout_ms = AGENT_HOOK_TIMEOUT_DEFAULT_MS;
	if (o.hook_timeout) {
		unsigned long long ms;
		if (str_parse_duration_ms(o.hook_timeout, 3600ull * 1000, &ms) < 0 || ms == 0) {
			fprintf(stderr,
			        "ferryd: hook-timeout: expected a duration from 1ms to 1h, such as "
			        "30s or 10m; got \"%s\"\n",
			        o.hook_timeout);
			return 2;
		}
		agent.hook_timeout_ms = ms;
	}
	agent.retries = 4;
	agent.retry_delay_ms = 5000;
	agent.min_free = 64ull << 20;
	if (o.retries) {
		unsigned long long v;
		if (str_to_u64(o.retries, 100, &v) < 0 || v < 1) {
			fprintf(stderr, "ferryd: retries: expected 1 to 100; got \"%s\"\n",
			        o.retries);
			return 2;
		}
		agent.retries = (unsigned)v;
	}
	if (o.retry_delay) {
		unsigned long long v;
		if (str_parse_duration_ms(o.retry_delay, 3600ull * 1000, &v) < 0 || v < 10) {
			fprintf(stderr,
			        "ferryd: retry-delay: expected a duration from 10ms to 1h; got "
			        "\"%s\"\n",
			        o.retry_delay);
			return 2;
		}
		agent.retry_delay_ms = v;
	}
	if (o.min_free) {
		unsigned long long v;
		if (str_to_u64(o.min_free, 1ull << 50, &v) < 0) {
			fprintf(stderr,
			        "ferryd: min-free-space: expected a number of bytes; got \"%s\"\n",
			        o.min_free);
			return 2;
		}
		agent.min_free = v;
	}
	agent.refresh_timer = strdup(o.refresh_timer ? o.refresh_timer : "00:00~24:00/4");
	if (schedule_check(agent.refresh_timer, &err) < 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		free(agent.refresh_timer);
		return 2;
	}
	if (o.device_id) {
		size_t l = strlen(o.device_id);
		bool ok = l >= 1 && l < sizeof(agent.device_id);
		for (size_t k = 0; ok && k < l; k++)
			ok = (o.device_id[k] >= 'a' && o.device_id[k] <= 'z') ||
			     (o.device_id[k] >= '0' && o.device_id[k] <= '9') ||
			     o.device_id[k] == '-';
		if (!ok) {
			fprintf(stderr,
			        "ferryd: device-id: expected 1 to 64 of a-z 0-9 -; got \"%s\"\n",
			        o.device_id);
			free(agent.refresh_timer);
			return 2;
		}
		memcpy(agent.device_id, o.device_id, l + 1);
	}
	if (o.images && strcmp(o.images, "extract") != 0 && strcmp(o.images, "mount") != 0) {
		fprintf(stderr, "ferryd: images: expected mount or extract; got \"%s\"\n",
		        o.images);
		return 2;
	}
	agent.extract = o.images ? strcmp(o.images, "extract") == 0 : !agent.privileged;
	if (!agent.extract && !agent.privileged) {
		fprintf(stderr, "ferryd: images = mount needs root; use images = extract\n");
		return 2;
	}

	if (o.confinement && strcmp(o.confinement, "on") != 0 &&
	    strcmp(o.confinement, "off") != 0) {
		fprintf(stderr, "ferryd: confinement: expected on or off; got \"%s\"\n",
		        o.confinement);
		return 2;
	}
	agent.confine = !o.confinement || strcmp(o.confinement, "on") == 0;
	if (agent.confine && sandbox_find_helper(o.confine_path, &err) < 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		return 1;
	}
	agent.app_id_min = AGENT_APP_ID_MIN;
	agent.app_id_max = AGENT_APP_ID_MAX;
	if (o.app_ids) {
		unsigned long long lo = 0, hi = 0;
		const char *dash = strchr(o.app_ids, '-');
		char lo_s[16];
		size_t ll = dash ? (size_t)(dash - o.app_ids) : 0;
		bool ok = dash && ll > 0 && ll < sizeof(lo_s);
		if (ok) {
			memcpy(lo_s, o.app_ids, ll);
			lo_s[ll] = '\0';
			ok = str_to_u64(lo_s, 0xfffffffeull, &lo) == 0 &&
			     str_to_u64(dash + 1, 0xfffffffeull, &hi) == 0 && lo >= 1000 &&
			     lo <= hi;
		}
		if (!ok) {
			fprintf(stderr,
			        "ferryd: app-ids: expected a range of ids such as 70000-79999 "
			        "(from 1000 up); got \"%s\"\n",
			        o.app_ids);
			return 2;
		}
		agent.app_id_min = lo;
		agent.app_id_max = hi;
	}
	if (o.cgroup_parent)
		agent.cgroup_parent = strdup(o.cgroup_parent);

	const char *root = o.root ? o.root : AGENT_DEFAULT_ROOT;
	if (fs_mkdir_p(root, 0755, &err) < 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		return 1;
	}
	char *abs = realpath(root, NULL);
	if (!abs || str_copy(agent.root, sizeof(agent.root), abs) < 0) {
		fprintf(stderr, "ferryd: %s: %s\n", root, abs ? "path too long" : strerror(errno));
		free(abs);
		return 1;
	}
	free(abs);
	const char *sock = o.socket ? o.socket : AGENT_DEFAULT_SOCKET;
	if (str_copy(agent.socket_path, sizeof(agent.socket_path), sock) < 0) {
		fprintf(stderr, "ferryd: %s: socket path too long (at most %zu bytes)\n", sock,
		        sizeof(agent.socket_path) - 1);
		return 2;
	}
	if (o.store) {
		agent.store_url = strdup(o.store);
		agent.trust_path = strdup(o.trust);
	}

	if (make_dirs(&err) < 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		return 1;
	}
	char lockpath[PATH_MAX];
	if (agent_path(lockpath, "run/ferryd.lock") < 0) {
		fprintf(stderr, "ferryd: %s: path too long\n", agent.root);
		return 1;
	}
	_cleanup_close_ int lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "ferryd: %s: another ferryd is using this root (%s)\n", agent.root,
		        strerror(errno));
		return 1;
	}
	char sockdir[sizeof(agent.socket_path)];
	memcpy(sockdir, agent.socket_path, sizeof(sockdir));
	char *slash = strrchr(sockdir, '/');
	if (slash && slash != sockdir) {
		*slash = '\0';
		if (fs_mkdir_p(sockdir, 0755, &err) < 0) {
			fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
			return 1;
		}
	}

	if (agent_path(agent.db_path, "state.db") < 0 ||
	    state_open(agent.db_path, &agent.db, &err) < 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		return 1;
	}
	if (device_identity(&err) < 0 || report_setup(&err) < 0 ||
	    (agent.store_url && store_provision(&err) < 0)) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		return 1;
	}
	if (agent.store_url) {
		agent.refresh_next = schedule_next(agent.refresh_timer, wall_s());
		log_info("store %s; device %s; next automatic refresh in %lld s (%s)",
		         agent.store_url, agent.device_id,
		         (long long)(agent.refresh_next - wall_s()), agent.refresh_timer);
	}

	/* Signals arrive through a descriptor; children get them back to default. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Orphans of a `forking` daemon become ours to supervise. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutex_init(&agent.lock, &ma);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&agent.cond, &ca);

	agent.epfd = epoll_create1(EPOLL_CLOEXEC);
	agent.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	agent.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (agent.epfd < 0 || agent.sigfd < 0 || agent.wake_fd < 0) {
		fprintf(stderr, "ferryd: event loop: %s\n", strerror(errno));
		return 1;
	}
	struct epoll_event ev = {.events = EPOLLIN};
	ev.data.u64 = (uint64_t)EV_SIGNAL << 32;
	epoll_ctl(agent.epfd, EPOLL_CTL_ADD, agent.sigfd, &ev);
	ev.data.u64 = (uint64_t)EV_WAKE << 32;
	epoll_ctl(agent.epfd, EPOLL_CTL_ADD, agent.wake_fd, &ev);

	svc_kill_stale();
	if (open_notify(&err) < 0 || api_start(&err) < 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		api_stop();
		return 1;
	}
	log_info("ferryd %s serving %s (root %s, images %s)", FERRY_VERSION, agent.socket_path,
	         agent.root, agent.extract ? "extracted" : "loop-mounted");
	if (agent.confine)
		log_info("apps run confined by %s%s", agent.confine_path,
		         agent.privileged ? "" : " in a user namespace, as ferryd's own user");
	else
		for (int i = 0; i < 3; i++)
			log_error(
			    "CONFINEMENT IS OFF (confinement = off): apps run unconfined, as %s, "
			    "with everything ferryd can reach; for development only",
			    agent.privileged ? "root" : "ferryd's user");

	if (pthread_create(&agent.worker, NULL, worker_main, NULL) != 0) {
		fprintf(stderr, "ferryd: cannot start the worker thread\n");
		api_stop();
		return 1;
	}
	if (report_start(&err) < 0)
		log_error("%s", ferry_error_msg(&err)); /* reports wait in the outbox */
	int status = run();
	pthread_join(agent.worker, NULL);
	report_stop();
	pthread_mutex_lock(&agent.lock);
	stop_all_services();
	pthread_mutex_unlock(&agent.lock);
	api_stop();
	svc_free_all();
	state_close(agent.db);
	close(agent.notify_fd);
	unlink(agent.notify_path);
	close(agent.sigfd);
	close(agent.wake_fd);
	close(agent.epfd);
	free(agent.store_url);
	free(agent.trust_path);
	free(agent.refresh_timer);
	report_cleanup();
	free(agent.cgroup_parent);
	log_info("stopped");
	return status;
}
