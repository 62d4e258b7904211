/* vulns_schema.h: the tables of vulnerability notices (schema version 2),
 * kept apart from schema.c's version 1 so that the SQL sits next to the code
 * that uses it (vulns*.c, webhooks.c). Included by schema.c only.
 *
 * Tables (version 2)
 *   advisories           OSV records by id: canonical JSON, its SHA-256,
 *                        modified and withdrawn times, which import last
 *                        changed it
 *   advisory_packages    (family, name) each live record names in an
 *                        affected entry: "Debian"/"openssl", "npm"/"lodash"
 *   vuln_sources         one row per `ferry-store vulns import`: path, times,
 *                        counts
 *   revision_components  the purls of each revision's SBOM with the
 *                        (family, name) advisories know them by
 *   vuln_indexed         revisions whose SBOM was read into the above
 *   vuln_state           per package, the channel map generation and next
 *                        revision its findings were last evaluated at (the
 *                        watch compares them with packages')
 *   vuln_findings        one row per (package, revision, component,
 *                        advisory) while it holds on a released revision;
 *                        cleared rows stay as the history
 *   webhooks             per package (package set) or per account (account
 *                        set): URL and the secret, encrypted (webhooks.c)
 *   webhook_deliveries   each notice sent or to send, with its attempts */
#pragma once

#define V2_VULNS(serial)                                                                           \
	"CREATE TABLE advisories (id TEXT PRIMARY KEY, modified BIGINT NOT NULL,"                  \
	"  digest TEXT NOT NULL, withdrawn BIGINT, record TEXT NOT NULL, source BIGINT,"           \
	"  imported BIGINT NOT NULL, updated BIGINT NOT NULL);"                                    \
	"CREATE TABLE advisory_packages (advisory TEXT NOT NULL REFERENCES advisories(id),"        \
	"  family TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (family, name, advisory));"       \
	"CREATE INDEX advisory_packages_advisory ON advisory_packages(advisory);"                  \
	"CREATE TABLE vuln_sources (id " serial ", path TEXT NOT NULL,"                            \
	"  started BIGINT NOT NULL, finished BIGINT, files BIGINT NOT NULL DEFAULT 0,"             \
	"  records BIGINT NOT NULL DEFAULT 0, added BIGINT NOT NULL DEFAULT 0,"                    \
	"  replaced BIGINT NOT NULL DEFAULT 0, unchanged BIGINT NOT NULL DEFAULT 0,"               \
	"  older BIGINT NOT NULL DEFAULT 0, withdrawn BIGINT NOT NULL DEFAULT 0,"                  \
	"  rejected BIGINT NOT NULL DEFAULT 0, error TEXT);"                                       \
	"CREATE TABLE revision_components (package TEXT NOT NULL, revision BIGINT NOT NULL,"       \
	"  purl TEXT NOT NULL, family TEXT NOT NULL, name TEXT NOT NULL,"                          \
	"  PRIMARY KEY (package, revision, purl));"                                                \
	"CREATE INDEX revision_components_key ON revision_components(family, name);"               \
	"CREATE TABLE vuln_indexed (package TEXT NOT NULL, revision BIGINT NOT NULL,"              \
	"  components BIGINT NOT NULL, skipped BIGINT NOT NULL, indexed BIGINT NOT NULL,"          \
	"  PRIMARY KEY (package, revision));"                                                      \
	"CREATE TABLE vuln_state (package TEXT PRIMARY KEY, map_gen BIGINT NOT NULL,"              \
	"  next_revision BIGINT NOT NULL, scanned BIGINT NOT NULL);"                               \
	"CREATE TABLE vuln_findings (id " serial ", package TEXT NOT NULL,"                        \
	"  revision BIGINT NOT NULL, component TEXT NOT NULL, purl TEXT NOT NULL,"                 \
	"  advisory TEXT NOT NULL, family TEXT NOT NULL, source TEXT NOT NULL,"                    \
	"  detail TEXT NOT NULL, first_seen BIGINT NOT NULL, cleared BIGINT,"                      \
	"  cleared_reason TEXT);"                                                                  \
	"CREATE UNIQUE INDEX vuln_findings_open ON vuln_findings(package, revision, purl,"         \
	"  advisory) WHERE cleared IS NULL;"                                                       \
	"CREATE INDEX vuln_findings_package ON vuln_findings(package, cleared);"                   \
	"CREATE INDEX vuln_findings_key ON vuln_findings(family, source) WHERE cleared IS NULL;"   \
	"CREATE TABLE webhooks (id TEXT PRIMARY KEY, package TEXT REFERENCES packages(name),"      \
	"  account TEXT REFERENCES accounts(name), url TEXT NOT NULL, secret TEXT NOT NULL,"       \
	"  created BIGINT NOT NULL, created_by TEXT NOT NULL, removed BIGINT);"                    \
	"CREATE INDEX webhooks_package ON webhooks(package);"                                      \
	"CREATE INDEX webhooks_account ON webhooks(account);"                                      \
	"CREATE TABLE webhook_deliveries (id " serial ", webhook TEXT NOT NULL,"                   \
	"  package TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL,"                        \
	"  created BIGINT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, last_attempt BIGINT,"      \
	"  next_attempt BIGINT, status TEXT NOT NULL DEFAULT 'pending', response BIGINT,"          \
	"  error TEXT);"                                                                           \
	"CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook, id);"
