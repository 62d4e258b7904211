/* cmd_import.c: `ferry import FILE.snap [-o DIR] [--base-map SNAPBASE=BASE[,...]]
 * [--json]`: a package directory from a .snap made by `snap pack`. The
 * snap's squashfs is read with the package image reader (bounded, never
 * mounted) and extracted to DIR (default ./NAME); meta/ferry.yaml is
 * written from meta/snap.yaml (pkg/manifest_snap.h says what maps to
 * what), hooks ferry has no use for are removed, and what could not be
 * carried over is listed. The result is a tree for `ferry pack`, to be
 * checked by its publisher: nothing is packed or published here. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "cli.h"
#include "opts.h"
#include "output.h"
#include "pkg/image.h"
#include "pkg/manifest.h"
#include "pkg/manifest_snap.h"

#define IMPORT_MAX_HOOKS 64
#define IMPORT_MAX_BASE_MAPS 16

struct hook_files {
	char *names[IMPORT_MAX_HOOKS + 1];
	size_t n;
};

static void hook_files_free(struct hook_files *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->names[i]);
}

/* The files in meta/hooks/: snapd runs a hook that is there whether
 * snap.yaml names it or not. */
static int visit_hook(const struct image_entry *e, void *ctx)
{
	struct hook_files *h = ctx;
	if (e->depth != 3 || !S_ISREG(e->mode) || !str_has_prefix(e->path, "meta/hooks/"))
		return 0;
	if (h->n >= IMPORT_MAX_HOOKS)
		return 1; /* stops the walk */
	h->names[h->n] = strdup(e->path + strlen("meta/hooks/"));
	return h->names[h->n++] ? 0 : 2;
}

/* image_extract leaves a read-only tree; a package directory is the
 * publisher's to edit. */
static int make_writable(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)f;
	if (type == FTW_SL)
		return 0;
	mode_t mode = type == FTW_D || (st->st_mode & 0111) ? 0755 : 0644;
	return chmod(path, mode) < 0 ? -1 : 0;
}

static void print_text(json_t *info, const char *dir)
{
	printf("Imported %s %s into %s\n", cli_json_str(info, "name", ""),
	       cli_json_str(info, "version", ""), dir);
	json_t *lost = json_object_get(info, "not-carried");
	if (json_array_size(lost)) {
		printf("Not carried over:\n");
		size_t i;
		json_t *l;
		json_array_foreach(lost, i, l)
		    printf("  %s: %s\n", cli_json_str(l, "what", ""), cli_json_str(l, "why", ""));
	}
	printf("Check %s/meta/ferry.yaml, then: ferry pack %s\n", dir, dir);
}

int cmd_import(int argc, char **argv)
{
	const char *out_dir = NULL, *base_maps = NULL;
	bool json = false;
	char *args[2];
	int nargs = 0;
	const struct cli_opt opts[] = {
	    {"--output", "-o", NULL, &out_dir},
	    {"--base-map", NULL, NULL, &base_maps},
	    {"--json", NULL, &json, NULL},
	    {NULL, NULL, NULL, NULL},
	};
	int rc = cli_parse_opts(argc, argv, "import", opts, args, 2, &nargs);
	if (rc)
		return rc;
	if (nargs != 1)
		return cli_usage("import");
	const char *file = args[0];
	/* --base-map core22=debian-12[,core24=debian-13] */
	_cleanup_free_ char *maps = base_maps ? strdup(base_maps) : NULL;
	const char *map[IMPORT_MAX_BASE_MAPS];
	size_t nmap = 0;
	for (char *save = NULL, *m = maps ? strtok_r(maps, ",", &save) : NULL; m;
	     m = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(m, '=');
		if (!eq || eq == m || !eq[1] || nmap == IMPORT_MAX_BASE_MAPS)
			return cli_fail(
			    "import: --base-map: expected SNAPBASE=BASE (such as "
			    "core22=debian-12), at most %d, separated by commas; got \"%s\"",
			    IMPORT_MAX_BASE_MAPS, m);
		map[nmap++] = m;
	}
	struct image *img = NULL;
	ferry_error err = {0};
	if (image_open(file, &img, &err) < 0)
		return cli_fail("import: %s", ferry_error_msg(&err));
	struct hook_files hooks = {0};
	_cleanup_free_ char *yaml = NULL, *manifest = NULL;
	json_t *info = NULL;
	size_t len = 0;
	rc = image_read_file(img, "meta/snap.yaml", MANIFEST_MAX_BYTES, &yaml, &len, &err);
	if (rc == FERRY_E_NOTFOUND)
		rc = ferry_error_set(&err, rc,
		                     "%s: no meta/snap.yaml: not a snap made by snap pack", file);
	if (rc == 0)
		rc = image_walk(img, visit_hook, &hooks, &err);
	if (rc > 0)
		rc = rc == 1 ? ferry_error_set(&err, FERRY_E_LIMIT, "%s: more than %d hooks", file,
		                               IMPORT_MAX_HOOKS)
		             : ferry_error_set(&err, FERRY_E_NOMEM, "out of memory");
	struct snap_import_opts o = {
	    .hook_files = (const char *const *)hooks.names, .base_map = map, .n_base_map = nmap};
	if (rc == 0)
		rc = manifest_from_snap(yaml, len, "meta/snap.yaml", &o, &manifest, &info, &err);
	hook_files_free(&hooks);
	char dir[4096];
	if (rc == 0 && str_printf(dir, sizeof(dir), "%s",
	                          out_dir ? out_dir : cli_json_str(info, "name", "")) < 0)
		rc = ferry_error_set(&err, FERRY_E_LIMIT, "-o: path too long");
	if (rc == 0 && (rc = image_extract(img, dir, &err)) < 0)
		rc = ferry_error_prefix(&err, rc, "%s", dir);
	image_close(img);
	if (rc < 0) {
		json_decref(info);
		return cli_fail("import: %s", ferry_error_msg(&err));
	}
	char path[4200];
	if (nftw(dir, make_writable, 32, FTW_PHYS) != 0)
		rc = ferry_error_errno(&err, FERRY_E_IO, errno, "%s: chmod", dir);
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(info, "dropped-hooks"), i, h)
	{
		snprintf(path, sizeof(path), "%s/meta/hooks/%s", dir, json_string_value(h));
		if (rc == 0 && unlink(path) < 0)
			rc = ferry_error_errno(&err, FERRY_E_IO, errno, "%s", path);
	}
	snprintf(path, sizeof(path), "%s/meta/ferry.yaml", dir);
	if (rc == 0)
		rc = fs_write_atomic(path, manifest, strlen(manifest), 0644, &err);
	if (rc < 0) {
		json_decref(info);
		return cli_fail("import: %s", ferry_error_msg(&err));
	}
	json_object_set_new(info, "directory", json_string(dir));
	if (json)
		cli_print_json(info, false);
	else
		print_text(info, dir);
	json_decref(info);
	return 0;
}
