/* fuzz_manifest.c: manifest_parse() on arbitrary bytes. Beyond not crashing,
 * it checks what the parser promises: a refusal has a one-line printable
 * message that starts with the file name, and an accepted manifest has the
 * required fields, valid names and a non-empty architecture list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/manifest.h"
#include "pkg/name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Does the path have a ".." component? */
static int has_dotdot(const char *p)
{
	for (const char *s = p; (s = strstr(s, "..")) != NULL; s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_error err = {0};
	struct manifest *m = NULL;
	int rc = manifest_parse((const char *)data, size, "fuzz.yaml", &m, &err);

	if (rc < 0) {
		if (m || strncmp(err.msg, "fuzz.yaml", 9) != 0)
			abort();
		for (const unsigned char *p = (const unsigned char *)err.msg; *p; p++)
			if (*p < 0x20 || *p == 0x7f)
				abort();
		return 0;
	}
	if (!m || !pkg_name_valid(m->name) || !m->version || !m->summary ||
	    m->n_architectures == 0 || !m->architectures[0] || m->architectures[m->n_architectures])
		abort();
	for (size_t i = 0; i < m->n_apps; i++)
		if (!pkg_app_name_valid(m->apps[i].name) || !m->apps[i].command ||
		    m->apps[i].command[0] == '/' || has_dotdot(m->apps[i].command))
			abort();
	for (size_t i = 0; i < m->n_plugs; i++)
		if (!m->plugs[i].interface)
			abort();
	manifest_free(m);
	return 0;
}
