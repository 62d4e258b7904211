/* repo.h: the TUF repository writer (what the store publishes and devices
 * read): root, targets, snapshot and timestamp, one hashed bin role per
 * slice of the package name space, and one targets role per package.
 *
 * Delegations
 *   targets    delegates to 16^D bins (D = bin_digits, 1..3), all signed by
 *              the same online "bins" keys, with plain TUF path patterns:
 *                bin-ab   paths [PATTERN], PATTERN = "ab*" + "/" + "*" + "/" + "*"
 *                         (the bin's D hex digits, then any name and file)
 *   bin-ab     delegates to each package whose name hashes into it:
 *                pkg-NAME paths ["abcd/NAME/" + "*"], terminating
 *   pkg-NAME   lists the package's targets (images, channel map, deltas).
 *              Its keys are the repository's online package keys by
 *              default, or keys of its own (a publisher's, later).
 * A package's target paths are HHHH/NAME/FILE, where HHHH is the first 4
 * hex digits of SHA-256(NAME): all of a package's files fall into one bin,
 * whatever their names, and the bin of a package can be found without any
 * metadata (tuf_repo_target_path). Every delegation is terminating, so a
 * look-up visits exactly targets -> one bin -> one package role. Only spec
 * 1.0 features are used (no TAP 15 succinct bins: those hash the whole
 * target path, which would scatter one package's files over many bins).
 *
 * Consistent snapshots: metadata is written as VERSION.ROLE.json (root,
 * snapshot, targets, bins, packages) and timestamp.json; every target file is
 * stored as DIR/HASH.NAME once per hash algorithm listed for it. Every
 * commit bumps the version of each role it changed, and of snapshot and
 * timestamp.
 *
 * On disk (DIR):
 *   repo.json                   settings (expiries, bin digits, key type,
 *                               default package keys); written by ferry
 *   lock                        flock'd while a writer has the repo open
 *   keys/KEYID.pem              private keys (PKCS#8, 0600, dir 0700); any
 *                               key may be moved away (offline) and brought
 *                               back when its role must be signed
 *   published/metadata/         what clients fetch as the metadata URL
 *   published/targets/          what clients fetch as the target base URL
 * The published tree is the state: versions come from timestamp.json ->
 * snapshot -> each role. A commit writes target files and lower roles first,
 * syncs the file system, then the new snapshot, then the new root (if any),
 * then timestamp.json last (atomic rename): a reader sees the old or the new
 * repository, never a file that points at a missing one. Old versions are
 * kept (clients in the middle of an update may still fetch them).
 *
 * Not here: parsing or verifying metadata for a client (the updater), HTTP,
 * pruning old versions, signing by keys held outside keys/ (a publisher's
 * signatures over its own role are a later addition). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "base/error.h"
#include "crypto/key.h"

enum tuf_repo_kind {
	TUF_REPO_ROOT = 0,
	TUF_REPO_TARGETS = 1,
	TUF_REPO_SNAPSHOT = 2,
	TUF_REPO_TIMESTAMP = 3,
	TUF_REPO_BINS = 4,     /* every bin-XX role; their keys are shared */
	TUF_REPO_PACKAGES = 5, /* every pkg-NAME role; default keys are shared */
};
#define TUF_REPO_KIND_COUNT 6

struct tuf_repo_config {
	/* seconds from signing to expiry, per kind */
	long long expires_s[TUF_REPO_KIND_COUNT];
	/* keys generated at init, and the threshold, per kind */
	unsigned nkeys[TUF_REPO_KIND_COUNT];
	unsigned threshold[TUF_REPO_KIND_COUNT];
	unsigned bin_digits; /* 1..3: 16, 256 or 4096 bins */
	enum crypto_key_type key_type;
	bool sha512; /* list sha512 besides sha256 for targets */
};

/* Defaults: expiry root 365 days, targets 90, snapshot 7, timestamp 1, bins
 * 90, packages 90; one ed25519 key per kind, threshold 1; 256 bins; sha256. */
void tuf_repo_config_default(struct tuf_repo_config *cfg);

/* Name of a kind ("root", ..., "bins", "packages"), and back (-1 if none). */
const char *tuf_repo_kind_name(enum tuf_repo_kind kind);
int tuf_repo_kind_from_name(const char *name);

/* Package names: [a-z0-9][a-z0-9-]*, at most 64 bytes. Target file names:
 * [A-Za-z0-9._+~-], not starting with a dot, at most 128 bytes. */
#define TUF_REPO_NAME_MAX 64
#define TUF_REPO_FILE_MAX 128
bool tuf_repo_package_name_valid(const char *name);
bool tuf_repo_file_name_valid(const char *name);

/* The TUF target path of FILE of package NAME: "HHHH/NAME/FILE". */
int tuf_repo_target_path(const char *package, const char *file, char *out, size_t size,
			 ferry_error *err) FERRY_WUR;
/* The role name of a package: "pkg-NAME". */
int tuf_repo_package_role(const char *package, char *out, size_t size, ferry_error *err) FERRY_WUR;

/* Create a repository in dir (which must not exist or be empty): keys, the
 * bins, and version 1 of every top-level role. */
int tuf_repo_init(const char *dir, const struct tuf_repo_config *cfg, ferry_error *err) FERRY_WUR;

struct tuf_repo;

/* Open for writing: takes the repository's lock (FERRY_E_BUSY when another
 * writer holds it), reads settings, root, timestamp and snapshot. */
int tuf_repo_open(const char *dir, struct tuf_repo **out, ferry_error *err) FERRY_WUR;
/* Release the lock; edits not committed are lost. NULL is fine. */
void tuf_repo_close(struct tuf_repo *repo);

/* Publish every edit made since open or the last commit (see the order
 * above). After a failed commit, close the repository: its state in memory
 * is no longer what is on disk. */
int tuf_repo_commit(struct tuf_repo *repo, ferry_error *err) FERRY_WUR;

/* A role of its own for a package, delegated from its bin. keys NULL: the
 * repository's default package keys (threshold ignored). Otherwise n public
 * keys and a threshold (1..n). FERRY_E_EXISTS if the package has a role. */
int tuf_repo_add_package(struct tuf_repo *repo, const char *package,
			 struct crypto_key *const *keys, size_t n, unsigned threshold,
			 ferry_error *err) FERRY_WUR;

/* Does the package have a role? */
int tuf_repo_has_package(struct tuf_repo *repo, const char *package, bool *out,
			 ferry_error *err) FERRY_WUR;

/* Add or replace target FILE of a package with len bytes of data, stored in
 * the published tree under each hash. custom: optional object, copied into
 * the target's "custom" field. */
int tuf_repo_add_target(struct tuf_repo *repo, const char *package, const char *file,
			const void *data, size_t len, const json_t *custom,
			ferry_error *err) FERRY_WUR;
/* The same, reading the content from a file (bounded to 64 GiB). */
int tuf_repo_add_target_file(struct tuf_repo *repo, const char *package, const char *file,
			     const char *src_path, const json_t *custom, ferry_error *err) FERRY_WUR;
/* Remove a target from a package's role (its stored files stay: older
 * snapshots may name them). FERRY_E_NOTFOUND if it is not listed. */
int tuf_repo_remove_target(struct tuf_repo *repo, const char *package, const char *file,
			   ferry_error *err) FERRY_WUR;

/* Replace the keys of a role with n public keys and a threshold.
 * role: "root", "targets", "snapshot", "timestamp", "bins" (all bins),
 * "packages" (the default package keys, for every package that uses them),
 * or a package name (that package's role only).
 * Root: the next root is signed by the threshold of the old root keys and of
 * the new ones (the client's N -> N+1 chain); both sets must be in keys/.
 * Keys without a private half can be set for packages (a publisher's); the
 * writer then cannot sign that role. */
int tuf_repo_set_keys(struct tuf_repo *repo, const char *role, struct crypto_key *const *keys,
		      size_t n, unsigned threshold, ferry_error *err) FERRY_WUR;

/* Generate n new keys of the repository's key type into keys/ and make them
 * the role's keys (tuf_repo_set_keys). */
int tuf_repo_rotate_keys(struct tuf_repo *repo, const char *role, size_t n, unsigned threshold,
			 ferry_error *err) FERRY_WUR;

/* Re-sign (new version, new expiry) at the next commit: the timestamp and
 * the snapshot when they expire within the next within_s seconds; with
 * all, every role of the repository that does (root included: its keys must
 * then be present). *count (optional) receives the number of roles marked.
 * The store's periodic job calls this and commits. */
int tuf_repo_resign_expiring(struct tuf_repo *repo, long long within_s, bool all, size_t *count,
			     ferry_error *err) FERRY_WUR;

/* Mark a role (a top-level name, "bin-XX", "pkg-NAME" or a package name)
 * changed, so that the next commit bumps its version and re-signs it.
 * expires: 0 for the usual expiry, else the exact expiry time to sign
 * (tests use a past time to make expired metadata). */
int tuf_repo_touch(struct tuf_repo *repo, const char *role, time_t expires,
		   ferry_error *err) FERRY_WUR;

/* The current version of a role (0 if it has none yet). */
int tuf_repo_version(struct tuf_repo *repo, const char *role, long long *out,
		     ferry_error *err) FERRY_WUR;
