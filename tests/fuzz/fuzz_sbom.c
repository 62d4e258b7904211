/* fuzz_sbom.c: what ferry inspect does with the SBOM of an untrusted image
 * (sbom_read_components), and the apt/dpkg output parsers of stage-packages
 * (stage_parse_control, stage_parse_print_uris), on arbitrary bytes. Beyond
 * not crashing: a refusal has a message and gives nothing back; an accepted
 * SBOM has a type and a name for every component. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/sbom.h"
#include "pkg/stage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_error err = {0};
	struct sbom_component *c = NULL;
	size_t n = 0;

	if (sbom_read_components((const char *)data, size, &c, &n, &err) < 0) {
		if (c || n || !err.msg[0])
			abort();
	} else {
		for (size_t i = 0; i < n; i++)
			if (!c[i].type || !c[i].name)
				abort();
		sbom_components_free(c, n);
	}

	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct stage_deb d = {0};
	if (stage_parse_control(text, &d, NULL) == 0 &&
	    (!d.name || !d.version || !d.arch || !d.source || !d.source_version))
		abort();
	free(d.name);
	free(d.version);
	free(d.arch);
	free(d.source);
	free(d.source_version);
	char *file = NULL, *sha = NULL;
	if (stage_parse_print_uris(text, &file, &sha, NULL) == 0) {
		if (strchr(file, '/') || strlen(sha) != 64)
			abort();
	} else if (file || sha) {
		abort();
	}
	free(file);
	free(sha);
	free(text);
	return 0;
}
