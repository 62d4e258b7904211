/* cmd_inspect.c: `ferry inspect FILE [--json] [--files]`: what a package
 * image holds, read with the image reader (never mounted): name, version,
 * architectures, the file's size, SHA-256 and SHA-512, compression, apps
 * (with their daemon type), hooks, plugs, the components of its SBOM, and
 * with --files every entry (mode, size, path, link target).
 *
 * The image is untrusted: the reader bounds everything, the manifest inside
 * is parsed and validated like any other, the SBOM is read under a size
 * bound, and any damage ends the command with one message and exit 1. It does
 * not verify signatures (images are not signed; the store's metadata is). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "cli.h"
#include "output.h"
#include "crypto/digest.h"
#include "pkg/image.h"
#include "pkg/manifest.h"
#include "pkg/sbom.h"

#define INSPECT_MANIFEST "meta/ferry.yaml"

struct entry {
	char *path;
	mode_t mode;
	uint64_t size;
	char *target;
};

struct listing {
	struct entry *e;
	size_t n, cap;
	uint64_t bytes;
	bool keep; /* keep the entries (--files), else count only */
};

static void inspect_usage(FILE *f)
{
	fprintf(f, "usage: ferry inspect FILE [--json] [--files]\n"
	           "  Show what the package image FILE holds: name, version, hashes, apps,\n"
	           "  hooks, plugs, bundled components; --files lists every entry.\n");
}

static int visit(const struct image_entry *ie, void *ctx)
{
	struct listing *l = ctx;
	if (S_ISREG(ie->mode))
		l->bytes += ie->size;
	if (!l->keep) {
		l->n++;
		return 0;
	}
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		struct entry *ne = realloc(l->e, nc * sizeof(*ne));
		if (!ne)
			return FERRY_E_NOMEM;
		l->e = ne;
		l->cap = nc;
	}
	struct entry *e = &l->e[l->n];
	memset(e, 0, sizeof(*e));
	e->path = strdup(ie->path);
	e->mode = ie->mode;
	e->size = ie->size;
	e->target = ie->target ? strdup(ie->target) : NULL;
	if (!e->path || (ie->target && !e->target)) {
		free(e->path);
		free(e->target);
		return FERRY_E_NOMEM;
	}
	l->n++;
	return 0;
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; l->keep && i < l->n; i++) {
		free(l->e[i].path);
		free(l->e[i].target);
	}
	free(l->e);
}

static void mode_string(mode_t m, char out[11])
{
	out[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : S_ISREG(m) ? '-' : '?';
	const char *rwx = "rwxrwxrwx";
	for (int i = 0; i < 9; i++)
		out[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
	out[10] = '\0';
}

static const char *entry_type(mode_t m)
{
	return S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : S_ISREG(m) ? "file" : "other";
}

/* "NAME" for the app named like its package, else "NAME.APP". */
static void app_id(const struct manifest *m, const struct manifest_app *a, char *out, size_t size)
{
	if (strcmp(a->name, m->name) == 0)
		snprintf(out, size, "%s", m->name);
	else
		snprintf(out, size, "%s.%s", m->name, a->name);
}

/* Every plug name that apps, hooks or the top-level plugs use, once each. */
static size_t collect_plugs(const struct manifest *m, const char **names, size_t max)
{
	size_t n = 0;
#define ADD(s)                                                                                     \
	do {                                                                                       \
		bool seen = false;                                                                 \
		for (size_t k_ = 0; k_ < n; k_++)                                                  \
			if (strcmp(names[k_], (s)) == 0)                                           \
				seen = true;                                                       \
		if (!seen && n < max)                                                              \
			names[n++] = (s);                                                          \
	} while (0)
	for (size_t i = 0; i < m->n_plugs; i++)
		ADD(m->plugs[i].name);
	for (size_t i = 0; i < m->n_apps; i++)
		for (size_t j = 0; j < m->apps[i].n_plugs; j++)
			ADD(m->apps[i].plugs[j]);
	for (int h = 0; h < HOOK__COUNT; h++)
		for (size_t j = 0; m->hooks[h].present && j < m->hooks[h].n_plugs; j++)
			ADD(m->hooks[h].plugs[j]);
#undef ADD
	return n;
}

static const char *plug_interface(const struct manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n_plugs; i++)
		if (strcmp(m->plugs[i].name, name) == 0 && m->plugs[i].interface)
			return m->plugs[i].interface;
	return name;
}

static json_t *strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static int inspect_json(const char *file, const struct crypto_file_digests *dg,
                        const char *compression, const struct manifest *m,
                        const struct sbom_component *comps, size_t n_comps, bool has_sbom,
                        const struct listing *l, bool files)
{
	json_auto_t *o = json_object();
	json_object_set_new(o, "file", json_string(file));
	json_object_set_new(o, "size", json_integer((json_int_t)dg->size));
	json_object_set_new(o, "sha256", json_string(dg->sha256));
	json_object_set_new(o, "sha512", json_string(dg->sha512));
	json_object_set_new(o, "compression", json_string(compression));
	json_object_set_new(o, "name", json_string(m->name));
	json_object_set_new(o, "version", json_string(m->version));
	json_object_set_new(o, "summary", m->summary ? json_string(m->summary) : json_null());
	json_object_set_new(o, "license", m->license ? json_string(m->license) : json_null());
	json_object_set_new(o, "architectures", strv_json(m->architectures, m->n_architectures));
	json_object_set_new(o, "type", json_string(manifest_type_name(m->type)));
	json_object_set_new(o, "base", m->base ? json_string(m->base) : json_null());
	json_object_set_new(o, "confinement",
	                    json_string(manifest_confinement_name(m->confinement)));
	json_object_set_new(o, "grade", json_string(manifest_grade_name(m->grade)));

	json_t *apps = json_array();
	json_object_set_new(o, "apps", apps);
	for (size_t i = 0; i < m->n_apps; i++) {
		const struct manifest_app *a = &m->apps[i];
		char id[128];
		app_id(m, a, id, sizeof(id));
		const char *d = manifest_daemon_name(a->daemon);
		json_array_append_new(apps, json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", a->name,
		                                      "id", id, "command", a->command, "daemon",
		                                      d ? json_string(d) : json_null(), "plugs",
		                                      strv_json(a->plugs, a->n_plugs)));
	}
	json_t *hooks = json_array();
	json_object_set_new(o, "hooks", hooks);
	for (int h = 0; h < HOOK__COUNT; h++)
		if (m->hooks[h].present)
			json_array_append_new(
			    hooks, json_pack("{s:s, s:o}", "name",
			                     manifest_hook_name((enum manifest_hook)h), "plugs",
			                     strv_json(m->hooks[h].plugs, m->hooks[h].n_plugs)));
	const char *plugs[512];
	size_t np = collect_plugs(m, plugs, 512);
	json_t *pj = json_array();
	json_object_set_new(o, "plugs", pj);
	for (size_t i = 0; i < np; i++)
		json_array_append_new(pj, json_pack("{s:s, s:s}", "name", plugs[i], "interface",
		                                    plug_interface(m, plugs[i])));
	json_t *cj = json_array();
	json_object_set_new(o, "sbom", has_sbom ? json_string(SBOM_PATH) : json_null());
	json_object_set_new(o, "components", cj);
	for (size_t i = 0; i < n_comps; i++)
		json_array_append_new(
		    cj,
		    json_pack("{s:s, s:s, s:o, s:o}", "type", comps[i].type, "name", comps[i].name,
		              "version",
		              comps[i].version ? json_string(comps[i].version) : json_null(),
		              "purl", comps[i].purl ? json_string(comps[i].purl) : json_null()));
	json_object_set_new(o, "entries", json_integer((json_int_t)l->n));
	json_object_set_new(o, "content_bytes", json_integer((json_int_t)l->bytes));
	if (files) {
		json_t *fj = json_array();
		json_object_set_new(o, "files", fj);
		for (size_t i = 0; i < l->n; i++) {
			char mode[8];
			snprintf(mode, sizeof(mode), "%04o", (unsigned)(l->e[i].mode & 07777));
			json_t *e = json_pack("{s:s, s:s, s:s, s:I}", "path", l->e[i].path, "type",
			                      entry_type(l->e[i].mode), "mode", mode, "size",
			                      (json_int_t)l->e[i].size);
			if (l->e[i].target)
				json_object_set_new(e, "target", json_string(l->e[i].target));
			json_array_append_new(fj, e);
		}
	}
	if (cli_print_json(o, true) < 0)
		return cli_fail("inspect: out of memory");
	return 0;
}

static void print_human(const char *file, const struct crypto_file_digests *dg,
                        const char *compression, const struct manifest *m,
                        const struct sbom_component *comps, size_t n_comps, bool has_sbom,
                        const struct listing *l, bool files)
{
	printf("name:          %s\n", m->name);
	printf("version:       %s\n", m->version);
	if (m->summary && *m->summary)
		printf("summary:       %s\n", m->summary);
	printf("architectures:");
	for (size_t i = 0; i < m->n_architectures; i++)
		printf(" %s", m->architectures[i]);
	printf("\ntype:          %s\n", manifest_type_name(m->type));
	if (m->type == MANIFEST_TYPE_APP)
		printf("base:          %s\n", m->base ? m->base : "none (the host's root)");
	printf("confinement:   %s\n", manifest_confinement_name(m->confinement));
	printf("grade:         %s\n", manifest_grade_name(m->grade));
	printf("file:          %s\n", file);
	printf("size:          %llu bytes\n", (unsigned long long)dg->size);
	printf("sha256:        %s\n", dg->sha256);
	printf("sha512:        %s\n", dg->sha512);
	printf("compression:   %s\n", compression);
	printf("entries:       %zu (%llu bytes of file content)\n", l->n,
	       (unsigned long long)l->bytes);

	printf("apps:%s\n", m->n_apps ? "" : "          (none)");
	for (size_t i = 0; i < m->n_apps; i++) {
		const struct manifest_app *a = &m->apps[i];
		char id[128];
		app_id(m, a, id, sizeof(id));
		const char *d = manifest_daemon_name(a->daemon);
		printf("  %-20s %s", id, a->command);
		if (d)
			printf("  (daemon: %s)", d);
		printf("\n");
	}
	size_t nh = 0;
	for (int h = 0; h < HOOK__COUNT; h++)
		nh += m->hooks[h].present;
	printf("hooks:%s\n", nh ? "" : "         (none)");
	for (int h = 0; h < HOOK__COUNT; h++)
		if (m->hooks[h].present)
			printf("  %s\n", manifest_hook_name((enum manifest_hook)h));
	const char *plugs[512];
	size_t np = collect_plugs(m, plugs, 512);
	printf("plugs:%s\n", np ? "" : "         (none)");
	for (size_t i = 0; i < np; i++) {
		const char *iface = plug_interface(m, plugs[i]);
		if (strcmp(iface, plugs[i]) == 0)
			printf("  %s\n", plugs[i]);
		else
			printf("  %s (interface %s)\n", plugs[i], iface);
	}
	if (!has_sbom)
		printf("components:    (no %s in this image)\n", SBOM_PATH);
	else
		printf("components:%s\n", n_comps ? "" : "    (none)");
	for (size_t i = 0; i < n_comps; i++)
		printf("  %-24s %-24s %s\n", comps[i].name,
		       comps[i].version ? comps[i].version : "-",
		       comps[i].purl ? comps[i].purl : "");
	if (files) {
		printf("files:\n");
		for (size_t i = 0; i < l->n; i++) {
			char mode[11];
			mode_string(l->e[i].mode, mode);
			printf("  %s %10llu %s", mode, (unsigned long long)l->e[i].size,
			       *l->e[i].path ? l->e[i].path : ".");
			if (l->e[i].target)
				printf(" -> %s", l->e[i].target);
			printf("\n");
		}
	}
}

/* Prefix the message with the file name unless it already starts with it. */
static int fail_on(const char *file, ferry_error *err)
{
	const char *msg = ferry_error_msg(err);
	if (str_has_prefix(msg, file))
		return cli_fail("inspect: %s", msg);
	return cli_fail("inspect: %s: %s", file, msg);
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"files", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool json = false, files = false;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'f':
			files = true;
			break;
		case 'h':
			inspect_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "ferry: inspect: unknown option %s\n", argv[optind - 1]);
			inspect_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "ferry: inspect: %s\n",
		        argc - optind < 1 ? "which file? (ferry inspect FILE)" : "one FILE only");
		inspect_usage(stderr);
		return 2;
	}
	const char *file = argv[optind];
	ferry_error err = {0};
	struct stat st;
	if (stat(file, &st) < 0) {
		ferry_error_errno(&err, FERRY_E_NOTFOUND, errno, "%s", file);
		return fail_on(file, &err);
	}
	if (!S_ISREG(st.st_mode))
		return cli_fail("inspect: %s: not a regular file", file);

	struct image *img = NULL;
	if (image_open(file, &img, &err) < 0)
		return fail_on(file, &err);

	int rc = 1;
	_cleanup_free_ char *yaml = NULL, *sbom = NULL;
	size_t yaml_len = 0, sbom_len = 0;
	struct manifest *m = NULL;
	struct sbom_component *comps = NULL;
	size_t n_comps = 0;
	bool has_sbom = false;
	struct listing l = {.keep = files};
	struct crypto_file_digests dg;

	if (image_read_file(img, INSPECT_MANIFEST, MANIFEST_MAX_BYTES, &yaml, &yaml_len, &err) <
	        0 ||
	    manifest_parse(yaml, yaml_len, INSPECT_MANIFEST, &m, &err) < 0) {
		rc = fail_on(file, &err);
		goto out;
	}
	int r = image_read_file(img, SBOM_PATH, SBOM_MAX_BYTES, &sbom, &sbom_len, &err);
	if (r == FERRY_E_NOTFOUND) {
		ferry_error_clear(&err);
	} else if (r < 0 || sbom_read_components(sbom, sbom_len, &comps, &n_comps, &err) < 0) {
		rc = fail_on(file, &err);
		goto out;
	} else {
		has_sbom = true;
	}
	r = image_walk(img, visit, &l, &err);
	if (r < 0) {
		if (!err.code)
			ferry_error_set(&err, r, "reading the file list: %s", ferry_strerror(r));
		rc = fail_on(file, &err);
		goto out;
	}
	if (crypto_digest_file_all(file, &dg, &err) < 0) {
		rc = fail_on(file, &err);
		goto out;
	}
	const char *compression = image_compression_name(image_get_compression(img));
	if (json)
		rc = inspect_json(file, &dg, compression, m, comps, n_comps, has_sbom, &l, files);
	else {
		print_human(file, &dg, compression, m, comps, n_comps, has_sbom, &l, files);
		rc = 0;
	}
out:
	listing_free(&l);
	sbom_components_free(comps, n_comps);
	manifest_free(m);
	image_close(img);
	return rc;
}
