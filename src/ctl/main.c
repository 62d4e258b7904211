/* main.c: ferry-ctl, run by a package's apps and hooks inside their sandbox
 * to read and set the package's configuration through ferryd:
 *
 *   ferry-ctl get [KEY...]       one key: its value; none: every key as JSON;
 *                                several: those that are set, as JSON
 *   ferry-ctl set KEY=VALUE...
 *   ferry-ctl unset KEY...
 *
 * It connects to the package's own socket, /run/ferry-ctl.sock in the
 * sandbox ($FERRY_CTL_SOCKET when set: a package run without confinement),
 * sends its words and prints the answer (docs/formats/ctl.md). It says
 * nothing about which package it is: ferryd knows from the socket. It uses
 * the C library alone and is linked statically where the build allows, so
 * that it runs in any sandbox whatever its root file system. It checks
 * nothing ferryd checks again: the rules are ferryd's. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_SOCKET "/run/ferry-ctl.sock"
#define REQUEST_MAX (16 * 1024)
#define ANSWER_MAX (8 * 1024 * 1024)
#define TIMEOUT_S 30

/* Test builds (AddressSanitizer): the leak check at exit stops the world
 * with ptrace, which the sandbox's seccomp filter denies. Unused otherwise. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

static void usage(FILE *out)
{
	fputs("usage: ferry-ctl get [KEY...]\n"
	      "       ferry-ctl set KEY=VALUE...\n"
	      "       ferry-ctl unset KEY...\n"
	      "  read or change this package's configuration (inside its sandbox)\n",
	      out);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ferry-ctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("ferry-ctl %s\n", FERRY_VERSION);
		return 0;
	}
	static char req[REQUEST_MAX];
	size_t len = 0;
	for (int i = 1; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;
		if (l > sizeof(req) - len)
			return fail("the request is larger than %d bytes", REQUEST_MAX);
		memcpy(req + len, argv[i], l);
		len += l;
	}
	const char *path = getenv("FERRY_CTL_SOCKET");
	if (!path || !*path)
		path = CTL_SOCKET;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail("%s: path too long for a socket", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = TIMEOUT_S};
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return fail("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		return fail("cannot reach ferryd at %s: %s (ferry-ctl works inside a "
		            "package's sandbox)",
		            path, strerror(errno));
	}
	if (send_all(fd, req, len) < 0 || shutdown(fd, SHUT_WR) < 0)
		return fail("send: %s", strerror(errno));
	char *ans = malloc(ANSWER_MAX + 1);
	size_t n = 0;
	if (!ans)
		return fail("out of memory");
	for (;;) {
		ssize_t r = recv(fd, ans + n, ANSWER_MAX - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail("no answer from ferryd: %s", strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == ANSWER_MAX)
			return fail("the answer is larger than %d bytes", ANSWER_MAX);
	}
	close(fd);
	ans[n] = '\0';
	char *body = strchr(ans, '\n');
	if (!body)
		return fail("ferryd closed the connection without an answer");
	*body++ = '\0';
	size_t blen = n - (size_t)(body - ans);
	if (strcmp(ans, "ok") == 0) {
		fwrite(body, 1, blen, stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	fputs("ferry-ctl: ", stderr);
	fwrite(body, 1, blen, stderr);
	return 1;
}
