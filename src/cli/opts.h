/* opts.h: the option loop the `ferry` verbs share (those not on getopt). */
#pragma once

#include <stdbool.h>

/* One option a verb takes: a flag (flag set) or an option with a value, the
 * next argument (value set). The table ends with a zeroed entry. */
struct cli_opt {
	const char *name;   /* "--json" */
	const char *alias;  /* "-n", or NULL */
	bool *flag;         /* set to true when given */
	const char **value; /* receives the value when given */
};

/* Parse argv[1..argc) of verb: the options in opts, anywhere; "--" ends the
 * options; the other arguments into args (at most max, counted in *nargs).
 * Returns 0, or the exit status 2 after saying why on standard error:
 * --help or -h (the usage), an unknown option, a missing value, too many
 * arguments. */
int cli_parse_opts(int argc, char **argv, const char *verb, const struct cli_opt *opts, char **args,
                   int max, int *nargs);
