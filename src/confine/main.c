/* main.c: ferry-confine, starts one app process inside its sandbox. No verb is implemented yet: it prints its usage and
 * exits 2, and claims nothing it does not do. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("ferry-confine %s\n", FERRY_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: ferry-confine --version\n  starts one app process inside its sandbox (not implemented yet)\n");
	if (argc > 1)
		fprintf(stderr, "ferry-confine: unknown verb \"%s\"\n", argv[1]);
	return 2;
}
