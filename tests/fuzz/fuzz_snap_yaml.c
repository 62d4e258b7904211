/* fuzz_snap_yaml.c: manifest_from_snap() (ferry import) on arbitrary bytes.
 * Beyond not crashing: a refusal has a one-line printable message that
 * starts with the file name; an accepted snap.yaml gives a manifest that is
 * itself well-formed YAML with the same name, version and apps (read back
 * by the same function: nothing from the input became a key of its own). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/manifest_snap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_error err = {0};
	char *yaml = NULL;
	json_t *info = NULL;
	static const char *const hooks[] = {"install", "connect-plug-x", NULL};
	static const char *const map[] = {"core22=debian-12"};
	struct snap_import_opts o = {.hook_files = hooks, .base_map = map, .n_base_map = 1};
	int rc = manifest_from_snap((const char *)data, size, "snap.yaml", &o, &yaml, &info, &err);
	if (rc < 0) {
		if (yaml || info || strncmp(err.msg, "snap.yaml", 9) != 0)
			abort();
		for (const unsigned char *p = (const unsigned char *)err.msg; *p; p++)
			if (*p < 0x20 || *p == 0x7f)
				abort();
		return 0;
	}
	if (!yaml || !info || !json_is_array(json_object_get(info, "not-carried")))
		abort();
	char *again = NULL;
	json_t *info2 = NULL;
	if (manifest_from_snap(yaml, strlen(yaml), "snap.yaml", NULL, &again, &info2, &err) < 0 ||
	    !json_equal(json_object_get(info, "name"), json_object_get(info2, "name")) ||
	    !json_equal(json_object_get(info, "version"), json_object_get(info2, "version")) ||
	    !json_equal(json_object_get(info, "apps"), json_object_get(info2, "apps")))
		abort();
	free(again);
	json_decref(info2);
	free(yaml);
	json_decref(info);
	return 0;
}
