/* dpkg_status.c: splits dpkg's status file into stanzas, keeps the
 * installed ones and reads each with stage_parse_control (see
 * dpkg_status.h). It does not read the file list of a package
 * (var/lib/dpkg/info/NAME.list): elf_check.c does that when it must name a
 * package. */
#include "pkg/dpkg_status.h"

#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"

static int cmp_deb(const void *a, const void *b)
{
	const struct stage_deb *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->arch, y->arch);
}

/* Is the stanza's Status "install ok installed"? */
static bool installed(const char *st, size_t len)
{
	for (const char *p = st; p < st + len;) {
		const char *eol = memchr(p, '\n', (size_t)(st + len - p));
		size_t l = eol ? (size_t)(eol - p) : (size_t)(st + len - p);
		if (l >= 7 && strncmp(p, "Status:", 7) == 0) {
			const char *v = p + 7;
			size_t vl = l - 7;
			while (vl && *v == ' ') {
				v++;
				vl--;
			}
			return vl == 20 && strncmp(v, "install ok installed", 20) == 0;
		}
		p += l + 1;
	}
	return false;
}

int dpkg_status_parse(const char *text, size_t len, struct stage_result *out, ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	if (len > DPKG_STATUS_MAX_BYTES)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: more than %u bytes",
		                       DPKG_STATUS_PATH, DPKG_STATUS_MAX_BYTES);
	if (memchr(text, '\0', len))
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s: a NUL byte", DPKG_STATUS_PATH);
	size_t cap = 0;
	const char *p = text, *end = text + len;
	int rc = 0;
	while (p < end && rc == 0) {
		/* a stanza ends at an empty line */
		const char *q = p;
		while (q < end) {
			const char *eol = memchr(q, '\n', (size_t)(end - q));
			if (!eol) {
				q = end;
				break;
			}
			if (eol == q) /* empty line */
				break;
			q = eol + 1;
		}
		size_t sl = (size_t)(q - p);
		if (sl > 0 && installed(p, sl)) {
			if (out->n >= DPKG_STATUS_MAX_PACKAGES) {
				rc = ferry_error_set(err, FERRY_E_LIMIT,
				                     "%s: more than %d installed packages",
				                     DPKG_STATUS_PATH, DPKG_STATUS_MAX_PACKAGES);
				break;
			}
			if (out->n == cap) {
				size_t nc = cap ? cap * 2 : 256;
				struct stage_deb *nd = realloc(out->debs, nc * sizeof(*nd));
				if (!nd) {
					rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
					break;
				}
				out->debs = nd;
				cap = nc;
			}
			_cleanup_free_ char *stanza = strndup(p, sl);
			struct stage_deb *d = &out->debs[out->n];
			memset(d, 0, sizeof(*d));
			out->n++;
			if (!stanza)
				rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			else if ((rc = stage_parse_control(stanza, d, err)) < 0)
				ferry_error_prefix(err, rc, "%s: package %zu", DPKG_STATUS_PATH,
				                   out->n);
		}
		p = q < end ? q + 1 : end;
	}
	if (rc < 0) {
		stage_result_free(out);
		return rc;
	}
	if (out->n)
		qsort(out->debs, out->n, sizeof(*out->debs), cmp_deb);
	return 0;
}

const struct stage_deb *dpkg_status_find(const struct stage_result *st, const char *name,
                                         const char *arch)
{
	for (size_t i = 0; st && i < st->n; i++) {
		const struct stage_deb *d = &st->debs[i];
		if (strcmp(d->name, name) != 0)
			continue;
		if (!arch || strcmp(d->arch, arch) == 0 || strcmp(d->arch, "all") == 0)
			return d;
	}
	return NULL;
}
