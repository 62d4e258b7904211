/* fuzz_elf.c: the ELF reader pack runs on every file it ships and on the
 * libraries of a base (elf_parse), dpkg's status database of a base image
 * (dpkg_status_parse) and apt's sources files (apt_sources_parse), on
 * arbitrary bytes. Beyond not crashing: a refusal has a message and leaves
 * nothing behind; an accepted file's counts stay within their bounds and
 * every string is there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/apt.h"
#include "pkg/dpkg_status.h"
#include "pkg/elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_error err = {0};
	struct elf_info info;

	if (elf_parse(data, size, "fuzz", &info, &err) < 0) {
		if (!err.msg[0] || info.needed || info.verneed || info.verdef || info.soname)
			abort();
	} else {
		if (info.n_needed > ELF_MAX_NEEDED || info.n_verneed > ELF_MAX_VERSIONS ||
		    info.n_verdef > ELF_MAX_VERSIONS)
			abort();
		for (size_t i = 0; i < info.n_needed; i++)
			if (!info.needed[i] || strlen(info.needed[i]) >= ELF_MAX_STRING)
				abort();
		for (size_t i = 0; i < info.n_verneed; i++)
			if (!info.verneed[i].file || !info.verneed[i].version)
				abort();
		(void)elf_defines(&info, "GLIBC_2.2.5");
		elf_info_free(&info);
	}

	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct stage_result st;
	memset(&err, 0, sizeof(err));
	if (dpkg_status_parse(text, size, &st, &err) < 0) {
		if (!err.msg[0] || st.debs || st.n)
			abort();
	} else {
		for (size_t i = 0; i < st.n; i++)
			if (!st.debs[i].name || !st.debs[i].version || !st.debs[i].arch ||
			    !st.debs[i].source)
				abort();
		(void)dpkg_status_find(&st, "libc6", "amd64");
		stage_result_free(&st);
	}
	struct apt_mirrors m;
	for (int d822 = 0; d822 < 2; d822++) {
		memset(&m, 0, sizeof(m));
		apt_sources_parse(text, d822, "bookworm", &m);
		if (strnlen(m.archive, sizeof(m.archive)) == sizeof(m.archive))
			abort();
	}
	free(text);
	return 0;
}
