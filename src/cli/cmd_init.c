/* cmd_init.c: `ferry init [DIR]`: writes DIR/meta/ferry.yaml, a commented
 * starting manifest (manifest_template), creating DIR and DIR/meta when they
 * are missing. The package name comes from DIR's base name, lower-cased with
 * "_", "." and spaces turned into "-", when that gives a valid name, else
 * "my-app". An existing manifest is never overwritten: the file is created
 * with O_EXCL, so even a race with another writer cannot replace it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "cli.h"
#include "pkg/manifest.h"
#include "pkg/name.h"

#define INIT_DEFAULT_NAME "my-app"

/* The name for a package in dir: its base name made lower-case, with "_",
 * "." and spaces as "-", if that is a valid name. */
static void init_name(const char *dir, char *out, size_t size)
{
	_cleanup_free_ char *real = realpath(dir, NULL);
	const char *base = real ? strrchr(real, '/') : NULL;
	char name[MANIFEST_NAME_MAX + 2];
	size_t n = 0;

	snprintf(out, size, "%s", INIT_DEFAULT_NAME);
	if (!base || !base[1])
		return;
	for (const char *p = base + 1; *p; p++) {
		if (n + 1 >= sizeof(name))
			return;
		char ch = *p;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		else if (ch == '_' || ch == '.' || ch == ' ')
			ch = '-';
		name[n++] = ch;
	}
	name[n] = '\0';
	if (pkg_name_valid(name))
		snprintf(out, size, "%s", name);
}

int cmd_init(int argc, char **argv)
{
	const char *dir = NULL;
	ferry_error err = {0};
	struct stat st;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i]))
			return cli_help("init");
		if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--") != 0) {
			fprintf(stderr, "ferry: init: unknown option %s\n", argv[i]);
			return cli_usage("init");
		}
		if (strcmp(argv[i], "--") == 0 && i + 1 < argc)
			i++;
		if (dir) {
			fprintf(stderr,
			        "ferry: init: one directory at most; got \"%s\" and \"%s\"\n", dir,
			        argv[i]);
			return cli_usage("init");
		}
		dir = argv[i];
	}
	if (!dir)
		dir = ".";
	if (!*dir)
		return cli_fail("init: the directory name is empty");

	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return cli_fail("init: %s: not a directory", dir);
	} else if (errno != ENOENT) {
		return cli_fail("init: %s: %s", dir, strerror(errno));
	}

	_cleanup_free_ char *meta =
	    strcmp(dir, ".") == 0 ? strdup("meta") : str_dup_printf("%s/meta", dir);
	_cleanup_free_ char *path = meta ? str_dup_printf("%s/ferry.yaml", meta) : NULL;
	if (!path)
		return cli_fail("init: out of memory");
	if (fs_mkdir_p(meta, 0755, &err) < 0)
		return cli_fail("init: %s", ferry_error_msg(&err));

	char name[MANIFEST_NAME_MAX + 1];
	init_name(dir, name, sizeof(name));
	_cleanup_free_ char *text = manifest_template(name);
	if (!text)
		return cli_fail("init: out of memory");

	/* What we write must be what pack accepts. */
	struct manifest *m = NULL;
	if (manifest_parse(text, strlen(text), path, &m, &err) < 0)
		return cli_fail("init: internal error: the template does not parse: %s",
		                ferry_error_msg(&err));
	manifest_free(m);

	_cleanup_close_ int fd =
	    open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return cli_fail("init: %s already exists; not overwriting it", path);
		return cli_fail("init: create %s: %s", path, strerror(errno));
	}
	if (fs_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		int saved = errno;
		unlink(path);
		return cli_fail("init: write %s: %s", path, strerror(saved));
	}
	if (close(steal_fd(&fd)) < 0) {
		int saved = errno;
		unlink(path);
		return cli_fail("init: write %s: %s", path, strerror(saved));
	}
	if (fs_fsync_parent(path, &err) < 0)
		return cli_fail("init: %s", ferry_error_msg(&err));

	printf("wrote %s for the package \"%s\"; edit it, then run: ferry pack %s\n", path, name,
	       dir);
	return 0;
}
