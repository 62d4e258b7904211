/* triplet.c: Debian architecture -> multiarch triplet (see triplet.h). */
#include "pkg/triplet.h"

#include <string.h>

const char *triplet_for_arch(const char *arch)
{
	static const char *const map[][2] = {
	    {"amd64", "x86_64-linux-gnu"},
	    {"arm64", "aarch64-linux-gnu"},
	    {"armhf", "arm-linux-gnueabihf"},
	    {"armel", "arm-linux-gnueabi"},
	    {"i386", "i386-linux-gnu"},
	    {"ppc64el", "powerpc64le-linux-gnu"},
	    {"riscv64", "riscv64-linux-gnu"},
	    {"s390x", "s390x-linux-gnu"},
	    {"mips64el", "mips64el-linux-gnuabi64"},
	    {"loong64", "loongarch64-linux-gnu"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i][0], arch) == 0)
			return map[i][1];
	return "unknown-linux-gnu";
}
