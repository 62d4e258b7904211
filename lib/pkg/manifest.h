/* manifest.h: the package manifest, meta/ferry.yaml, parsed with libyaml into
 * plain structs, validated completely (every error names file:line:column, the
 * field path and what was expected; unknown keys are errors, with a
 * did-you-mean), with size and depth bounded. The field reference is
 * docs/formats/manifest.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "pkg/name.h"

#define MANIFEST_MAX_BYTES (256u * 1024) /* the file itself */
#define MANIFEST_MAX_DEPTH 16            /* YAML nesting */
#define MANIFEST_MAX_ITEMS 256           /* entries of any one list or map */
#define MANIFEST_NAME_MIN PKG_NAME_MIN   /* names: pkg/name.h */
#define MANIFEST_NAME_MAX PKG_NAME_MAX
#define MANIFEST_VERSION_MAX 32
#define MANIFEST_SUMMARY_MAX 128
#define MANIFEST_DESCRIPTION_MAX 4096
#define MANIFEST_STRING_MAX 4096 /* any one YAML scalar, in bytes */
#define MANIFEST_MAX_NODES 16384 /* YAML nodes in the whole file */
#define MANIFEST_LICENSE_MAX 256
#define MANIFEST_DURATION_MAX_MS (3600ull * 1000) /* 1h, for every duration */
#define MANIFEST_COMMAND_WORDS_MAX 64             /* words of an app's command */
#define MANIFEST_CHAIN_MAX 16                     /* entries of an app's command-chain */
#define MANIFEST_HEALTH_RETRIES_MAX 100
#define MANIFEST_HEALTH_TOTAL_MAX_MS (6 * MANIFEST_DURATION_MAX_MS) /* the whole check */

enum manifest_confinement { CONFINEMENT_STRICT = 0, CONFINEMENT_DEVMODE };
/* app: programs to run (the default); base: a root file system that apps
 * name with `base:` (no apps, hooks or base of its own). */
enum manifest_type { MANIFEST_TYPE_APP = 0, MANIFEST_TYPE_BASE };
enum manifest_grade { GRADE_STABLE = 0, GRADE_DEVEL };
enum manifest_daemon {
	DAEMON_NONE = 0,
	DAEMON_SIMPLE,
	DAEMON_ONESHOT,
	DAEMON_NOTIFY,
	DAEMON_FORKING
};
enum manifest_restart { RESTART_ON_FAILURE = 0, RESTART_ALWAYS, RESTART_NEVER };

/* hooks, in the order of enum manifest_hook */
enum manifest_hook {
	HOOK_INSTALL = 0,
	HOOK_CONFIGURE,
	HOOK_PRE_REFRESH,
	HOOK_POST_REFRESH,
	HOOK_CHECK_HEALTH,
	HOOK_REMOVE,
	HOOK__COUNT,
};

/* Resource limits (`limits:` of the package or of an app); 0: none. The app's
 * own keys win over the package's (manifest_limits_of()). */
#define MANIFEST_MEMORY_MIN (4ull << 20) /* 4M */
#define MANIFEST_MEMORY_MAX (1ull << 40) /* 1T */
#define MANIFEST_CPU_MAX 100000ull       /* percent of one CPU */
#define MANIFEST_PIDS_MAX 4194304ull
struct manifest_limits {
	uint64_t memory;      /* bytes */
	uint64_t cpu_percent; /* of one CPU: 50, 200 */
	uint64_t pids;
};

struct manifest_env {
	char *key;
	char *value;
};

struct manifest_app {
	char *name;
	char *command;          /* the program: relative to the package root */
	char **args;            /* the command's other words, NULL-terminated, never NULL */
	size_t n_args;          /* (quotes removed; $FERRY_* are expanded when it runs) */
	char **command_chain;   /* relative paths run before it, each exec'ing the */
	size_t n_command_chain; /* rest; NULL when none */
	enum manifest_daemon daemon;
	enum manifest_restart restart;
	uint64_t restart_delay_ms; /* default 1 s */
	uint64_t stop_timeout_ms;  /* default 10 s */
	char **plugs;              /* NULL-terminated */
	size_t n_plugs;
	struct manifest_env *env;
	size_t n_env;
	struct manifest_limits limits;
	bool restart_on_configure;     /* daemons only; see */
	bool restart_on_configure_set; /* manifest_restarts_on_configure() */
};

struct manifest_hook_def {
	bool present;
	char **plugs; /* NULL-terminated; may be NULL */
	size_t n_plugs;
};

/* A plug or slot: its name and the interface it uses (default: the name),
 * with the remaining attributes kept as key/value strings. */
struct manifest_plug {
	char *name;
	char *interface;
	struct manifest_env *attrs;
	size_t n_attrs;
};

struct manifest_part {
	char *name;
	char **stage_packages; /* "NAME" or "NAME=VERSION", as apt takes them */
	size_t n_stage_packages;
	char **prime; /* filters: "usr/bin/tool*", "-usr/share/doc" */
	size_t n_prime;
	/* stage-packages-deps: 1 follow Depends, 0 do not, -1 not written
	 * (manifest_part_follows_deps() decides) */
	int stage_deps;
};

struct manifest_component {
	char *name;
	char *version;
	char *purl; /* may be NULL */
};

struct manifest {
	char *name;
	char *version;
	char *summary;
	char *description;
	char *license;        /* SPDX expression */
	char **architectures; /* NULL-terminated, never empty: when the
	                       * manifest has none, { manifest_host_architecture() } */
	size_t n_architectures;
	bool architectures_default; /* true when the manifest named none */
	enum manifest_type type;
	char *base; /* the base's package name; NULL: none (the host's root) */
	/* the channel a device installs the base from when it is missing
	 * (TRACK/RISK[/BRANCH], normalised); NULL: latest/stable */
	char *base_channel;
	enum manifest_confinement confinement;
	enum manifest_grade grade;
	struct manifest_app *apps;
	size_t n_apps;
	struct manifest_hook_def hooks[HOOK__COUNT];
	/* health: the check-health hook runs after start-period, for at most
	 * timeout, again after interval when it fails, at most retries more
	 * times; every daemon stays up for at least grace */
	uint64_t health_grace_ms;        /* default 30 s */
	uint64_t health_timeout_ms;      /* default 30 s */
	uint64_t health_start_period_ms; /* default 0 */
	uint64_t health_interval_ms;     /* default 2 s */
	unsigned health_retries;         /* default 3 */
	struct manifest_env *env;        /* every app's and hook's; an app's own wins */
	size_t n_env;
	struct manifest_plug *plugs;
	size_t n_plugs;
	struct manifest_plug *slots;
	size_t n_slots;
	struct manifest_part *parts;
	size_t n_parts;
	struct manifest_component *components;
	size_t n_components;
	struct manifest_limits limits; /* the package's; apps may override each key */
	bool restart_on_configure;     /* its daemons restart when `ferry set` changes a value */
};

/* Parse and validate len bytes of YAML. filename is used in messages only.
 * On success *out is a new manifest for manifest_free(). */
int manifest_parse(const char *data, size_t len, const char *filename, struct manifest **out,
                   ferry_error *err) FERRY_WUR;

/* Read (bounded by MANIFEST_MAX_BYTES) and parse a file. */
int manifest_load(const char *path, struct manifest **out, ferry_error *err) FERRY_WUR;

/* Checks beyond the format, for the one who writes the manifest (`ferry
 * pack`), not for those who read a packed one (a device, the store): it may
 * come from a ferry that knows other interfaces. */
enum manifest_strict {
	MANIFEST_KNOWN_INTERFACES = 1u << 0, /* a plug names an interface of
	                                      * pkg/interface_names.h */
};

/* manifest_parse and manifest_load with enum manifest_strict flags. */
int manifest_parse_strict(const char *data, size_t len, const char *filename, unsigned strict,
                          struct manifest **out, ferry_error *err) FERRY_WUR;
int manifest_load_strict(const char *path, unsigned strict, struct manifest **out,
                         ferry_error *err) FERRY_WUR;

void manifest_free(struct manifest *m);

/* The limits of an app (NULL: the package's, for hooks): its own keys, else
 * the package's. */
struct manifest_limits manifest_limits_of(const struct manifest *m, const struct manifest_app *a);

/* Does daemon a restart after `ferry set` changed the configuration? Its own
 * restart-on-configure, else the package's (default false); never an app
 * that is not a daemon. */
bool manifest_restarts_on_configure(const struct manifest *m, const struct manifest_app *a);

const char *manifest_hook_name(enum manifest_hook h);     /* "check-health" */
const char *manifest_daemon_name(enum manifest_daemon d); /* "simple", NULL for NONE */
const char *manifest_restart_name(enum manifest_restart r);
const char *manifest_confinement_name(enum manifest_confinement c); /* "strict" */
const char *manifest_grade_name(enum manifest_grade g);             /* "stable" */
const char *manifest_type_name(enum manifest_type t);               /* "app", "base" */

/* Does pack follow the Depends of this part's stage-packages? As written,
 * else yes for an app on a base and no for one on the host's root. */
bool manifest_part_follows_deps(const struct manifest *m, const struct manifest_part *p);

/* The Debian name of the architecture this ferry was built for ("amd64",
 * "arm64", ...): what `dpkg --print-architecture` says on a native system. */
const char *manifest_host_architecture(void);

/* The commented starting manifest that `ferry init` writes, for a package
 * called name (which must pass pkg_name_valid; NULL otherwise, or when
 * out of memory). Its one app is called name too. free() the result. */
char *manifest_template(const char *name);
