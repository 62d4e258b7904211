/* cli.h: the verbs of the `ferry` command. Each cmd_* takes the arguments
 * after the verb name (argv[0] is the verb) and returns the process exit
 * status: 0 success, 1 failure, 2 bad usage. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct cli_verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;   /* arguments, e.g. "DIR [-o FILE]" */
	const char *summary; /* one line */
};

/* Print "ferry: MESSAGE" to stderr and return 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the usage of one verb to stderr and return 2. */
int cli_usage(const char *verb);
/* Print the usage of one verb to stdout and return 0 (VERB --help). */
int cli_help(const char *verb);
/* Is arg --help or -h? */
bool cli_is_help(const char *arg);

/* The whole command line, as main() got it. */
extern char **cli_argv;

/* front.c: the path of the program `name` beside this one (or in
 * ../SUBDIR/ from the build tree) into out; -1 when it is not there. */
int cli_sibling(const char *name, const char *subdir, char *out, size_t size);

/* The verbs, one cmd_*.c each. */
int cmd_init(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_base(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_delta(int argc, char **argv);

/* cmd_store.c: the publisher verbs that talk to a store */
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_whoami(int argc, char **argv);
int cmd_register(int argc, char **argv);
int cmd_collaborators(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_release(int argc, char **argv);
int cmd_promote(int argc, char **argv);
int cmd_close(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_revisions(int argc, char **argv);

/* The store of --store URL (or of the login) for a store verb; 0, or the
 * exit status after saying why. */
struct store_client;
int cli_store_open(struct store_client *c, const char *store, bool insecure);

/* cmd_fleet.c: staged rollouts and the device inventory */
int cmd_rollout(int argc, char **argv);
int cmd_devices(int argc, char **argv);
/* release --stages S --stage-wait D --stage-min-ok N into a release body
 * (any may be NULL); 0, or the exit status after saying why */
int cli_rollout_options(const char *stages, const char *wait, const char *min_ok, bool progressive,
                        json_t *body);
/* a rollout (the store's JSON) in a few lines */
void cli_print_rollout(json_t *r);

/* cmd_reports.c: what devices reported */
int cmd_reports(int argc, char **argv);

/* cmd_vulns.c: vulnerability notices and webhooks */
int cmd_vulns(int argc, char **argv);
int cmd_webhooks(int argc, char **argv);
/* cmd_device.c: the device verbs, talking to ferryd */
int cmd_install(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_try(int argc, char **argv);
int cmd_refresh(int argc, char **argv);
int cmd_revert(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_hold(int argc, char **argv);
int cmd_unhold(int argc, char **argv);
int cmd_changes(int argc, char **argv);
int cmd_change(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_services(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_restart(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_disconnect(int argc, char **argv);
int cmd_connections(int argc, char **argv);
