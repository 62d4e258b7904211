/* main.c: ferry-store, the store. No verb is implemented yet: it prints its usage and
 * exits 2, and claims nothing it does not do. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("ferry-store %s\n", FERRY_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: ferry-store --version\n  the store (not implemented yet)\n");
	if (argc > 1)
		fprintf(stderr, "ferry-store: unknown verb \"%s\"\n", argv[1]);
	return 2;
}
