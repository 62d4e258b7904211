/* vercmp.c: test helper that compares version pairs with lib/vuln, for the
 * system tests that check ferry's orderings against dpkg's.
 *   vercmp [deb|semver] < pairs
 * Reads lines "A<TAB>B" and prints one line per pair: "<", "=", ">" or
 * "error: MESSAGE". */
#include <stdio.h>
#include <string.h>

#include "vuln/semver.h"

int main(int argc, char **argv)
{
	enum vuln_ordering order = VULN_ORDER_DPKG;
	if (argc > 1 && strcmp(argv[1], "semver") == 0)
		order = VULN_ORDER_SEMVER;
	else if (argc > 1 && strcmp(argv[1], "deb") != 0) {
		fprintf(stderr, "usage: vercmp [deb|semver] < pairs\n");
		return 2;
	}
	char line[1024];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		char *tab = strchr(line, '\t');
		if (!tab) {
			puts("error: no tab");
			continue;
		}
		*tab = 0;
		int r = 0;
		ferry_error err = {0};
		if (vuln_version_compare(order, line, tab + 1, &r, &err) < 0)
			printf("error: %s\n", err.msg);
		else
			puts(r < 0 ? "<" : r > 0 ? ">" : "=");
	}
	return 0;
}
