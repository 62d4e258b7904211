/* main.c: ferryd, the device agent. No verb is implemented yet: it prints its usage and
 * exits 2, and claims nothing it does not do. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("ferryd %s\n", FERRY_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: ferryd --version\n  the device agent (not implemented yet)\n");
	if (argc > 1)
		fprintf(stderr, "ferryd: unknown verb \"%s\"\n", argv[1]);
	return 2;
}
