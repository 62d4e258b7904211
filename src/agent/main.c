/* main.c: ferryd, the device agent. Reads its options and configuration
 * file, prepares the root directory, takes the root's lock, then runs the
 * main loop (one epoll over: signals, the local API, service output, the
 * notify socket; timers through the wait's timeout, so an idle ferryd wakes
 * only for a timer that is due) beside the worker thread that runs changes.
 *
 *   ferryd --root DIR [--socket PATH] [--store URL --trust ROOT_JSON]
 *          [--config FILE] [--log-level LEVEL]
 *
 * The settings (configuration file and options) are config.c's; the one
 * struct agent of the program is this file's, handed to every function that
 * needs it. At first start it also generates the device key (report.c).
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
#include "api.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "config.h"
#include "ctl.h"
#include "report.h"
#include "schedule.h"
#include "services.h"
#include "steps.h"
#include "store.h"
#include "txn.h"

enum ev_type {
	EV_SIGNAL = 1,
	EV_LOG = 2,
	EV_API = 3,
	EV_NOTIFY = 4,
	EV_WAKE = 5,
	EV_CONFINE_LOG = 6, /* ferry-confine's own lines (services.c) */
	                    /* 7 and 8: ctl.h */
};

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

static int make_dirs(struct agent *ag, ferry_error *err)
{
	const struct {
		const char *dir;
		mode_t mode;
	} dirs[] = {{"", 0755},     {"images", 0700}, {"mnt", 0755}, {"data", 0755},
	            {"logs", 0750}, {"run", 0755},    {"tuf", 0755}};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char p[PATH_MAX];
		if (agent_path(ag, p, "%s", dirs[i].dir) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", ag->root);
		int rc = fs_mkdir_p(p, dirs[i].mode, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int open_notify(struct agent *ag, ferry_error *err)
{
	if (agent_path(ag, ag->notify_path, "run/notify.sock") < 0 ||
	    strlen(ag->notify_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s/run/notify.sock: path too long for a socket", ag->root);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "socket");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, ag->notify_path, strlen(ag->notify_path) + 1);
	unlink(ag->notify_path);
	int one = 1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(ag->notify_path, 0666) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		int e = errno;
		close(fd);
		return ferry_error_errno(err, FERRY_E_IO, e, "bind %s", ag->notify_path);
	}
	ag->notify_fd = fd;
	struct epoll_event ev = {.events = EPOLLIN};
	ev.data.u64 = (uint64_t)EV_NOTIFY << 32;
	epoll_ctl(ag->epfd, EPOLL_CTL_ADD, fd, &ev);
	return 0;
}

/* At shutdown (main thread): SIGTERM every service, reap, SIGKILL the rest. */
static void stop_all_services(struct agent *ag)
{
	uint64_t longest = 0;
	for (struct service *s = ag->services; s; s = s->next)
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
			svc_reap(ag);
			bool any = false;
			for (struct service *s = ag->services; s; s = s->next)
				if (s->pid > 0)
					any = true;
			if (!any || now_ms() >= deadline)
				break;
			struct timespec ts = {0, 20 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		for (struct service *s = ag->services; s; s = s->next)
			if (s->pid > 0) {
				log_warn("%s.%s did not stop in time; killing it", s->name, s->app);
				if (s->pgid > 1)
					kill(-s->pgid, SIGKILL);
				kill(s->pid, SIGKILL);
			}
		deadline = now_ms() + 5000;
	}
	for (struct service *s = ag->services; s; s = s->next)
		svc_record_pid(ag, s);
}

/* The device id: from the configuration, else the one generated at first
 * start and kept in state.db. */
static int device_identity(struct agent *ag, ferry_error *err)
{
	_cleanup_free_ char *saved = state_config_get(ag->db, "device-id");
	if (ag->device_id[0]) {
		if (!saved || strcmp(saved, ag->device_id) != 0)
			return state_config_set(ag->db, "device-id", ag->device_id, err);
		return 0;
	}
	if (saved && str_copy(ag->device_id, sizeof(ag->device_id), saved) == 0)
		return 0;
	unsigned char r[16];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return ferry_error_errno(err, FERRY_E_IO, errno, "getrandom");
	str_hex(r, sizeof(r), ag->device_id);
	log_info("device id %s generated", ag->device_id);
	return state_config_set(ag->db, "device-id", ag->device_id, err);
}

/* Main thread: queue an automatic refresh unless one is queued or running. */
static void auto_refresh(struct agent *ag)
{
	json_t *row = NULL;
	if (state_query_row(ag->db, &row, NULL,
	                    "SELECT id FROM changes WHERE kind IN ('refresh-all', 'refresh') AND "
	                    "status IN ('Do', 'Doing')",
	                    NULL) == 0) {
		json_decref(row);
		return;
	}
	json_t *data = json_pack("{s:b, s:[]}", "auto", 1, "names");
	int64_t id = 0;
	ferry_error err;
	if (txn_create(ag, ag->db, "refresh-all", "", "Automatic refresh", data, &id, &err) < 0)
		log_error("automatic refresh: %s", ferry_error_msg(&err));
	else
		txn_wake(ag);
	json_decref(data);
}

static void *worker_main(void *arg)
{
	struct agent *ag = arg;
	txn_worker(ag);
	pthread_mutex_lock(&ag->lock);
	ag->worker_done = true;
	pthread_mutex_unlock(&ag->lock);
	uint64_t one = 1;
	if (write(ag->wake_fd, &one, sizeof(one)) < 0)
		log_warn("wake: %s", strerror(errno));
	return NULL;
}

static int run(struct agent *ag)
{
	int64_t stop_requested = 0;
	for (;;) {
		pthread_mutex_lock(&ag->lock);
		bool done = ag->worker_done;
		int64_t now = now_ms();
		int64_t next = svc_timers(ag, now);
		int64_t api = api_timeout_ms(ag);
		int64_t ctl = ctl_timers(ag);
		if (ctl >= 0 && (api < 0 || ctl < api))
			api = ctl;
		if (ag->refresh_next > 0 && ag->ready && wall_s() >= ag->refresh_next) {
			auto_refresh(ag);
			ag->refresh_next =
			    schedule_next(ag->refresh_timer, ag->device_id, wall_s());
		}
		int64_t refresh_in =
		    ag->refresh_next > 0 ? (ag->refresh_next - wall_s()) * 1000 : -1;
		pthread_mutex_unlock(&ag->lock);
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
		int n = epoll_wait(ag->epfd, evs, 16, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("epoll: %s", strerror(errno));
			return 1;
		}
		pthread_mutex_lock(&ag->lock);
		for (int i = 0; i < n; i++) {
			uint32_t type = (uint32_t)(evs[i].data.u64 >> 32);
			int fd = (int)(uint32_t)evs[i].data.u64;
			switch (type) {
			case EV_SIGNAL: {
				struct signalfd_siginfo si;
				while (read(ag->sigfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGCHLD) {
						svc_reap(ag);
					} else if (!ag->quit) {
						log_info("signal %d: stopping", (int)si.ssi_signo);
						ag->quit = true;
						stop_requested = now_ms();
						pthread_cond_broadcast(&ag->cond);
					}
				}
				break;
			}
			case EV_LOG:
			case EV_CONFINE_LOG:
				svc_log_readable(ag, fd);
				break;
			case EV_NOTIFY:
				svc_notify_readable(ag);
				break;
			case CTL_EV_LISTEN:
			case CTL_EV_CONN:
				ctl_event(ag, type, fd);
				break;
			case EV_WAKE: {
				uint64_t v;
				if (read(ag->wake_fd, &v, sizeof(v)) < 0)
					(void)0;
				break;
			}
			default:
				break;
			}
		}
		api_run(ag);
		if (ag->quit)
			svc_reap(ag); /* the worker may be waiting for a service to stop */
		pthread_mutex_unlock(&ag->lock);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct agent_options o = {0};
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
	if (o.config && config_read(o.config, &o, &config_text, &err) < 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		return 2;
	}
	static struct agent agent;
	struct agent *ag = &agent;
	agent_init(ag);
	ag->txns = &steps_table;
	int status = config_apply(ag, &o, &err);
	if (status != 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		agent_cleanup(ag);
		return status;
	}
	log_setup("ferryd", (enum log_level)ag->log_level, NULL);

	if (make_dirs(ag, &err) < 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		return 1;
	}
	char lockpath[PATH_MAX];
	if (agent_path(ag, lockpath, "run/ferryd.lock") < 0) {
		fprintf(stderr, "ferryd: %s: path too long\n", ag->root);
		return 1;
	}
	_cleanup_close_ int lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "ferryd: %s: another ferryd is using this root (%s)\n", ag->root,
		        strerror(errno));
		return 1;
	}
	char sockdir[sizeof(ag->socket_path)];
	memcpy(sockdir, ag->socket_path, sizeof(sockdir));
	char *slash = strrchr(sockdir, '/');
	if (slash && slash != sockdir) {
		*slash = '\0';
		if (fs_mkdir_p(sockdir, 0755, &err) < 0) {
			fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
			return 1;
		}
	}

	if (agent_path(ag, ag->db_path, "state.db") < 0 ||
	    state_open(ag->db_path, &ag->db, &err) < 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		return 1;
	}
	if (device_identity(ag, &err) < 0 || report_setup(ag, &err) < 0 ||
	    (ag->store_url && store_provision(ag, &err) < 0)) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		return 1;
	}
	if (ag->store_url) {
		ag->refresh_next = schedule_next(ag->refresh_timer, ag->device_id, wall_s());
		log_info("store %s; device %s; next automatic refresh in %lld s (%s)",
		         ag->store_url, ag->device_id, (long long)(ag->refresh_next - wall_s()),
		         ag->refresh_timer);
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

	ag->epfd = epoll_create1(EPOLL_CLOEXEC);
	ag->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	ag->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ag->epfd < 0 || ag->sigfd < 0 || ag->wake_fd < 0) {
		fprintf(stderr, "ferryd: event loop: %s\n", strerror(errno));
		return 1;
	}
	struct epoll_event ev = {.events = EPOLLIN};
	ev.data.u64 = (uint64_t)EV_SIGNAL << 32;
	epoll_ctl(ag->epfd, EPOLL_CTL_ADD, ag->sigfd, &ev);
	ev.data.u64 = (uint64_t)EV_WAKE << 32;
	epoll_ctl(ag->epfd, EPOLL_CTL_ADD, ag->wake_fd, &ev);

	svc_kill_stale(ag);
	if (open_notify(ag, &err) < 0 || ctl_init(ag, &err) < 0 || api_start(ag, &err) < 0) {
		fprintf(stderr, "ferryd: %s\n", ferry_error_msg(&err));
		api_stop(ag);
		return 1;
	}
	log_info("ferryd %s serving %s (root %s, images %s)", FERRY_VERSION, ag->socket_path,
	         ag->root, ag->extract ? "extracted" : "loop-mounted");
	if (ag->confine)
		log_info("apps run confined by %s%s", ag->confine_path,
		         ag->privileged ? "" : " in a user namespace, as ferryd's own user");
	else
		for (int i = 0; i < 3; i++)
			log_error(
			    "CONFINEMENT IS OFF (confinement = off): apps run unconfined, as %s, "
			    "with everything ferryd can reach; for development only",
			    ag->privileged ? "root" : "ferryd's user");

	if (pthread_create(&ag->worker, NULL, worker_main, ag) != 0) {
		fprintf(stderr, "ferryd: cannot start the worker thread\n");
		api_stop(ag);
		return 1;
	}
	if (report_start(ag, &err) < 0)
		log_error("%s", ferry_error_msg(&err)); /* reports wait in the outbox */
	status = run(ag);
	pthread_join(ag->worker, NULL);
	report_stop(ag);
	pthread_mutex_lock(&ag->lock);
	stop_all_services(ag);
	pthread_mutex_unlock(&ag->lock);
	api_stop(ag);
	ctl_stop(ag);
	svc_free_all(ag);
	state_close(ag->db);
	close(ag->notify_fd);
	unlink(ag->notify_path);
	close(ag->sigfd);
	close(ag->wake_fd);
	close(ag->epfd);
	report_cleanup(ag);
	agent_cleanup(ag);
	log_info("stopped");
	return status;
}
