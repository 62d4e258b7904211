/* account.c: publisher accounts and their API tokens. A token is
 * "ferry_" followed by 64 hex digits of 32 random bytes (RAND_bytes); it is
 * shown once and only its SHA-256 is stored. Tokens carry 256 bits of
 * entropy, so a plain hash is enough (no salt or slow hash needed), and a
 * look-up by hash leaks nothing useful through timing. Each token also has a
 * short random public id for listing and revoking. Not here: HTTP. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "store.h"

#define TOKEN_PREFIX "ferry_"
#define TOKEN_BYTES 32
#define TOKEN_LEN (sizeof(TOKEN_PREFIX) - 1 + 2 * TOKEN_BYTES)

bool account_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n < 2 || n > STORE_ACCOUNT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		          (i > 0 && (c == '-' || c == '_' || c == '.'));
		if (!ok)
			return false;
	}
	return true;
}

static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
	str_hex(md, sizeof(md), out);
}

int account_add(struct db *db, const char *name, ferry_error *err)
{
	if (!account_name_valid(name))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "account name \"%s\": use 2 to %d of a-z, 0-9, and '-', '_' "
		                       "or '.' after the first",
		                       name, STORE_ACCOUNT_MAX);
	char now[24];
	snprintf(now, sizeof(now), "%lld", store_now());
	int rc = db_run(db, NULL, err, "INSERT INTO accounts (name, created) VALUES ($1, $2)", name,
	                now);
	if (rc == FERRY_E_EXISTS)
		return ferry_error_set(err, rc, "account %s already exists", name);
	return rc;
}

int token_issue(struct db *db, const char *account, char **token, char id[17], ferry_error *err)
{
	unsigned char raw[TOKEN_BYTES], rid[8];
	char hex[2 * TOKEN_BYTES + 1], hash[65], now[24];
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;

	*token = NULL;
	int rc = db_run(db, &rows, err, "SELECT name FROM accounts WHERE name = $1", account);
	if (rc < 0)
		return rc;
	if (rows.nrows == 0)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "account %s does not exist", account);
	if (RAND_bytes(raw, sizeof(raw)) != 1 || RAND_bytes(rid, sizeof(rid)) != 1)
		return ferry_error_set(err, FERRY_E_INTERNAL, "no random bytes for a token");
	str_hex(raw, sizeof(raw), hex);
	str_hex(rid, sizeof(rid), id);
	char *t = str_dup_printf(TOKEN_PREFIX "%s", hex);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(hex, sizeof(hex));
	if (!t)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	sha256_hex(t, hash);
	snprintf(now, sizeof(now), "%lld", store_now());
	rc = db_run(db, NULL, err,
	            "INSERT INTO tokens (id, hash, account, created) VALUES ($1, $2, $3, $4)", id,
	            hash, account, now);
	if (rc < 0) {
		OPENSSL_clear_free(t, strlen(t));
		return rc;
	}
	*token = t;
	return 0;
}

int token_revoke(struct db *db, const char *account, const char *id, size_t *count,
                 ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	char now[24];
	snprintf(now, sizeof(now), "%lld", store_now());
	int rc = db_run(db, &rows, err, "SELECT name FROM accounts WHERE name = $1", account);
	if (rc < 0)
		return rc;
	if (rows.nrows == 0)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "account %s does not exist", account);
	db_rows_free(&rows);
	if (id)
		rc = db_run(db, &rows, err,
		            "UPDATE tokens SET revoked = $1 WHERE account = $2 AND id = $3 "
		            "AND revoked IS NULL",
		            now, account, id);
	else
		rc = db_run(db, &rows, err,
		            "UPDATE tokens SET revoked = $1 WHERE account = $2 AND revoked IS NULL",
		            now, account);
	if (rc < 0)
		return rc;
	if (count)
		*count = rows.changes;
	if (id && rows.changes == 0)
		return ferry_error_set(err, FERRY_E_NOTFOUND,
		                       "account %s has no active token with id %s", account, id);
	return 0;
}

int token_lookup(struct db *db, const char *token, char account[STORE_ACCOUNT_MAX + 1],
                 ferry_error *err)
{
	size_t n = strlen(token);
	if (n != TOKEN_LEN || !str_has_prefix(token, TOKEN_PREFIX))
		return ferry_error_set(err, FERRY_E_PERM, "malformed token");
	for (size_t i = sizeof(TOKEN_PREFIX) - 1; i < n; i++)
		if (!((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f')))
			return ferry_error_set(err, FERRY_E_PERM, "malformed token");
	char hash[65];
	sha256_hex(token, hash);
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc =
	    db_run(db, &rows, err, "SELECT account, revoked FROM tokens WHERE hash = $1", hash);
	if (rc < 0)
		return rc;
	if (rows.nrows == 0)
		return ferry_error_set(err, FERRY_E_PERM, "unknown token");
	if (db_cell(&rows, 0, 1))
		return ferry_error_set(err, FERRY_E_PERM, "token revoked");
	snprintf(account, STORE_ACCOUNT_MAX + 1, "%s", db_cell(&rows, 0, 0));
	return 0;
}

int account_list(struct db *db, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc =
	    db_exec(db,
	            "SELECT a.name, t.id, t.created, t.revoked FROM accounts a "
	            "LEFT JOIN tokens t ON t.account = a.name ORDER BY a.name, t.created, t.id",
	            NULL, 0, &rows, err);
	if (rc < 0)
		return rc;
	printf("%-24s %-16s %s\n", "Account", "Token", "State");
	for (size_t i = 0; i < rows.nrows; i++) {
		const char *tid = db_cell(&rows, i, 1);
		printf("%-24s %-16s %s\n", db_cell(&rows, i, 0), tid ? tid : "-",
		       !tid                   ? "-"
		       : db_cell(&rows, i, 3) ? "revoked"
		                              : "active");
	}
	return 0;
}
