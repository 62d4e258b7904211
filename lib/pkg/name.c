/* name.c: the package-name grammar (see name.h and docs/formats/manifest.md,
 * "Names"). Pure: no state, no allocation. It does not know where a name
 * comes from; callers phrase their own messages around pkg_name_problem(). */
#include "pkg/name.h"

#include <string.h>

const char *pkg_name_problem(const char *s, size_t min)
{
	size_t len = strlen(s);
	bool letter = false;

	if (len < min || len > PKG_NAME_MAX)
		return min == 1 ? "1 to 40 characters" : "2 to 40 characters";
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (ch >= 'a' && ch <= 'z')
			letter = true;
		else if (!(ch >= '0' && ch <= '9') && ch != '-')
			return "only lowercase letters, digits and hyphens";
	}
	if (s[0] == '-' || s[len - 1] == '-')
		return "no hyphen at the start or end";
	if (strstr(s, "--"))
		return "no two hyphens in a row";
	if (!letter)
		return "at least one letter";
	return NULL;
}

bool pkg_name_valid(const char *name)
{
	return name && !pkg_name_problem(name, PKG_NAME_MIN);
}

bool pkg_app_name_valid(const char *name)
{
	return name && !pkg_name_problem(name, PKG_APP_NAME_MIN);
}
