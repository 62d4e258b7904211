/* opts.c: the option loop the `ferry` verbs share (opts.h): flags and
 * options with a value in any order among the arguments, "--" to end them,
 * and the same messages for every verb. It does not check values: each verb
 * checks its own after the loop. */
#include "opts.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_opt *find_opt(const struct cli_opt *opts, const char *a)
{
	for (; opts->name; opts++)
		if (strcmp(a, opts->name) == 0 || (opts->alias && strcmp(a, opts->alias) == 0))
			return opts;
	return NULL;
}

int cli_parse_opts(int argc, char **argv, const char *verb, const struct cli_opt *opts, char **args,
                   int max, int *nargs)
{
	bool options = true;
	*nargs = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (options && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0))
			return cli_usage(verb);
		if (options && strcmp(a, "--") == 0) {
			options = false;
			continue;
		}
		if (options && a[0] == '-' && a[1] != '\0') {
			const struct cli_opt *o = find_opt(opts, a);
			if (!o) {
				fprintf(stderr, "ferry %s: unknown option %s\n", verb, a);
				return cli_usage(verb);
			}
			if (o->flag) {
				*o->flag = true;
				continue;
			}
			if (i + 1 >= argc) {
				fprintf(stderr, "ferry %s: %s needs a value\n", verb, a);
				return cli_usage(verb);
			}
			*o->value = argv[++i];
			continue;
		}
		if (*nargs >= max) {
			fprintf(stderr, "ferry %s: too many arguments\n", verb);
			return 2;
		}
		args[(*nargs)++] = argv[i];
	}
	return 0;
}
