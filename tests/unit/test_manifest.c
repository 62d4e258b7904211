/* test_manifest.c: lib/pkg/manifest: a full manifest parses into every field;
 * each rule, broken, gives its exact message with line and column; the
 * bounds on size, depth, entries, values and string length hold; anchors,
 * aliases and tags are refused; the `ferry init` template parses, with and
 * without its commented-out fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "pkg/manifest.h"
#include "pkg/name.h"

#include "testutil.h"

#define FILE_NAME "meta/ferry.yaml"
#define BASE "name: ab\nversion: \"1\"\nsummary: s\n"

static struct manifest *parse_ok(const char *yaml)
{
	ferry_error err = {0};
	struct manifest *m = NULL;
	int rc = manifest_parse(yaml, strlen(yaml), FILE_NAME, &m, &err);
	if (rc != 0)
		print_message("unexpected error: %s\nfor:\n%s\n", err.msg, yaml);
	assert_int_equal(rc, 0);
	assert_non_null(m);
	return m;
}

static void expect_code(const char *yaml, size_t len, int code, const char *msg)
{
	ferry_error err = {0};
	struct manifest *m = NULL;
	int rc = manifest_parse(yaml, len, FILE_NAME, &m, &err);
	if (rc != code || strcmp(err.msg, msg) != 0)
		print_message("for:\n%s\ngot:      %d %s\nexpected: %d %s\n", yaml, rc, err.msg,
		              code, msg);
	assert_int_equal(rc, code);
	assert_string_equal(err.msg, msg);
	assert_null(m);
}

static void expect_error(const char *yaml, const char *msg)
{
	expect_code(yaml, strlen(yaml), FERRY_E_INVALID, msg);
}

static const char full_yaml[] =
    "name: web-server\n"
    "version: 1.10\n"
    "summary: A small web server\n"
    "description: |\n"
    "  Serves static files.\n"
    "  Second line.\n"
    "license: (MIT OR Apache-2.0) AND GPL-2.0-only WITH Classpath-exception-2.0\n"
    "architectures: [amd64, arm64]\n"
    "confinement: devmode\n"
    "grade: stable\n"
    "apps:\n"
    "  web:\n"
    "    command: bin/web-server\n"
    "    daemon: notify\n"
    "    restart: always\n"
    "    restart-delay: 500ms\n"
    "    stop-timeout: 1m\n"
    "    plugs: [network, network-bind, data]\n"
    "    environment:\n"
    "      PORT: 8080\n"
    "      LOG_LEVEL: debug\n"
    "      EMPTY:\n"
    "  x:\n"
    "    command: ./bin/x\n"
    "hooks:\n"
    "  install: {}\n"
    "  configure:\n"
    "  pre-refresh:\n"
    "    plugs: [network]\n"
    "  check-health:\n"
    "    plugs: []\n"
    "health:\n"
    "  grace: 2m\n"
    "  timeout: 1h\n"
    "plugs:\n"
    "  data:\n"
    "    interface: content\n"
    "    target: $SNAP_DATA/shared\n"
    "    read-only: yes\n"
    "  net: network\n"
    "  home:\n"
    "slots:\n"
    "  - dbus-svc\n"
    "  - serial-port\n"
    "parts:\n"
    "  deps:\n"
    "    stage-packages: [libssl3, zlib1g=1:1.2.13.dfsg-1, libstdc++6]\n"
    "    prime: [usr/lib/*, -usr/share/doc]\n"
    "  empty: {}\n"
    "components:\n"
    "  - name: left-pad\n"
    "    version: 1.3.0\n"
    "    purl: pkg:npm/left-pad@1.3.0\n"
    "  - {name: \"@scope/vendored\", version: \"2\"}\n";

static void test_full_manifest(void **state)
{
	struct manifest *m = parse_ok(full_yaml);

	assert_string_equal(m->name, "web-server");
	assert_string_equal(m->version, "1.10"); /* the text, not a number */
	assert_string_equal(m->summary, "A small web server");
	assert_string_equal(m->description, "Serves static files.\nSecond line.\n");
	assert_string_equal(m->license,
	                    "(MIT OR Apache-2.0) AND GPL-2.0-only WITH Classpath-exception-2.0");
	assert_int_equal(m->n_architectures, 2);
	assert_string_equal(m->architectures[0], "amd64");
	assert_string_equal(m->architectures[1], "arm64");
	assert_null(m->architectures[2]);
	assert_false(m->architectures_default);
	assert_int_equal(m->confinement, CONFINEMENT_DEVMODE);
	assert_int_equal(m->grade, GRADE_STABLE);

	assert_int_equal(m->n_apps, 2);
	struct manifest_app *web = &m->apps[0];
	assert_string_equal(web->name, "web");
	assert_string_equal(web->command, "bin/web-server");
	assert_int_equal(web->daemon, DAEMON_NOTIFY);
	assert_int_equal(web->restart, RESTART_ALWAYS);
	assert_int_equal(web->restart_delay_ms, 500);
	assert_int_equal(web->stop_timeout_ms, 60000);
	assert_int_equal(web->n_plugs, 3);
	assert_string_equal(web->plugs[0], "network");
	assert_string_equal(web->plugs[2], "data");
	assert_null(web->plugs[3]);
	assert_int_equal(web->n_env, 3);
	assert_string_equal(web->env[0].key, "PORT");
	assert_string_equal(web->env[0].value, "8080");
	assert_string_equal(web->env[1].key, "LOG_LEVEL");
	assert_string_equal(web->env[1].value, "debug");
	assert_string_equal(web->env[2].key, "EMPTY");
	assert_string_equal(web->env[2].value, "");
	struct manifest_app *x = &m->apps[1];
	assert_string_equal(x->name, "x");
	assert_string_equal(x->command, "./bin/x");
	assert_int_equal(x->daemon, DAEMON_NONE);
	assert_int_equal(x->restart, RESTART_ON_FAILURE);
	assert_int_equal(x->restart_delay_ms, 1000);
	assert_int_equal(x->stop_timeout_ms, 10000);
	assert_int_equal(x->n_plugs, 0);
	assert_int_equal(x->n_env, 0);

	assert_true(m->hooks[HOOK_INSTALL].present);
	assert_int_equal(m->hooks[HOOK_INSTALL].n_plugs, 0);
	assert_true(m->hooks[HOOK_CONFIGURE].present);
	assert_true(m->hooks[HOOK_PRE_REFRESH].present);
	assert_int_equal(m->hooks[HOOK_PRE_REFRESH].n_plugs, 1);
	assert_string_equal(m->hooks[HOOK_PRE_REFRESH].plugs[0], "network");
	assert_false(m->hooks[HOOK_POST_REFRESH].present);
	assert_true(m->hooks[HOOK_CHECK_HEALTH].present);
	assert_int_equal(m->hooks[HOOK_CHECK_HEALTH].n_plugs, 0);
	assert_false(m->hooks[HOOK_REMOVE].present);
	assert_int_equal(m->health_grace_ms, 120000);
	assert_int_equal(m->health_timeout_ms, 3600000);

	assert_int_equal(m->n_plugs, 3);
	assert_string_equal(m->plugs[0].name, "data");
	assert_string_equal(m->plugs[0].interface, "content");
	assert_int_equal(m->plugs[0].n_attrs, 2);
	assert_string_equal(m->plugs[0].attrs[0].key, "target");
	assert_string_equal(m->plugs[0].attrs[0].value, "$SNAP_DATA/shared");
	assert_string_equal(m->plugs[0].attrs[1].key, "read-only");
	assert_string_equal(m->plugs[0].attrs[1].value, "yes");
	assert_string_equal(m->plugs[1].name, "net");
	assert_string_equal(m->plugs[1].interface, "network");
	assert_int_equal(m->plugs[1].n_attrs, 0);
	assert_string_equal(m->plugs[2].name, "home");
	assert_string_equal(m->plugs[2].interface, "home");
	assert_int_equal(m->n_slots, 2);
	assert_string_equal(m->slots[0].name, "dbus-svc");
	assert_string_equal(m->slots[0].interface, "dbus-svc");
	assert_string_equal(m->slots[1].name, "serial-port");

	assert_int_equal(m->n_parts, 2);
	assert_string_equal(m->parts[0].name, "deps");
	assert_int_equal(m->parts[0].n_stage_packages, 3);
	assert_string_equal(m->parts[0].stage_packages[1], "zlib1g=1:1.2.13.dfsg-1");
	assert_string_equal(m->parts[0].stage_packages[2], "libstdc++6");
	assert_int_equal(m->parts[0].n_prime, 2);
	assert_string_equal(m->parts[0].prime[0], "usr/lib/*");
	assert_string_equal(m->parts[0].prime[1], "-usr/share/doc");
	assert_string_equal(m->parts[1].name, "empty");
	assert_int_equal(m->parts[1].n_stage_packages, 0);
	assert_null(m->parts[1].stage_packages);

	assert_int_equal(m->n_components, 2);
	assert_string_equal(m->components[0].name, "left-pad");
	assert_string_equal(m->components[0].version, "1.3.0");
	assert_string_equal(m->components[0].purl, "pkg:npm/left-pad@1.3.0");
	assert_string_equal(m->components[1].name, "@scope/vendored");
	assert_string_equal(m->components[1].version, "2");
	assert_null(m->components[1].purl);
	manifest_free(m);
}

static void test_defaults(void **state)
{
	struct manifest *m = parse_ok("# only what is required\n" BASE);
	assert_string_equal(m->name, "ab");
	assert_string_equal(m->version, "1");
	assert_string_equal(m->summary, "s");
	assert_null(m->description);
	assert_null(m->license);
	assert_int_equal(m->n_architectures, 1);
	assert_string_equal(m->architectures[0], manifest_host_architecture());
	assert_null(m->architectures[1]);
	assert_true(m->architectures_default);
	assert_int_equal(m->confinement, CONFINEMENT_STRICT);
	assert_int_equal(m->grade, GRADE_STABLE);
	assert_int_equal(m->n_apps, 0);
	for (int h = 0; h < HOOK__COUNT; h++)
		assert_false(m->hooks[h].present);
	assert_int_equal(m->health_grace_ms, 30000);
	assert_int_equal(m->health_timeout_ms, 30000);
	assert_int_equal(m->n_plugs + m->n_slots + m->n_parts + m->n_components, 0);
	manifest_free(m);

	/* flow style, and keys in any order */
	m = parse_ok("{summary: s, version: v2, name: a1, architectures: [all]}");
	assert_string_equal(m->name, "a1");
	assert_string_equal(m->architectures[0], "all");
	assert_false(m->architectures_default);
	manifest_free(m);

	/* YAML 1.1 booleans and numbers are just text */
	m = parse_ok("name: ab\nversion: 1.0\nsummary: yes\n");
	assert_string_equal(m->version, "1.0");
	assert_string_equal(m->summary, "yes");
	manifest_free(m);
}

/* The shape given in docs/formats/manifest.md, to the column. */
static void test_error_shape(void **state)
{
	expect_error("name: web\n"
	             "version: \"1.0\"\n"
	             "summary: A web server\n"
	             "description: x\n"
	             "license: MIT\n"
	             "confinement: strict\n"
	             "grade: stable\n"
	             "architectures: [amd64]\n"
	             "apps:\n"
	             "  web:\n"
	             "     command: bin/web\n"
	             "     daemon: simpel\n",
	             FILE_NAME
	             ":12:14: apps.web.daemon: expected one of simple, oneshot, notify, forking; "
	             "got \"simpel\"");
	expect_error("name: ab\nversion: 1\nsummry: s\n",
	             FILE_NAME ":3:1: summry: unknown key; did you mean \"summary\"?");
	expect_error(BASE "foo: 1\n", FILE_NAME
	             ":4:1: foo: unknown key; expected one of name, version, summary, "
	             "description, license, architectures, confinement, grade, apps, hooks, "
	             "health, plugs, slots, parts, components, limits, type, base, environment, "
	             "restart-on-configure, base-channel");
	expect_error(BASE "name: cd\n", FILE_NAME ":4:1: name: duplicate key (first at line 1)");
	/* a message is one printable line whatever the input holds */
	expect_error(BASE "\"a\\nb\": 1\n", FILE_NAME
	             ":4:1: \"a\\x0ab\": unknown key; expected one of name, version, summary, "
	             "description, license, architectures, confinement, grade, apps, hooks, "
	             "health, plugs, slots, parts, components, limits, type, base, environment, "
	             "restart-on-configure, base-channel");
	/* the file name is the caller's */
	ferry_error err = {0};
	struct manifest *m = NULL;
	assert_int_equal(manifest_parse("x: 1", 4, "/tmp/p/meta/ferry.yaml", &m, &err),
	                 FERRY_E_INVALID);
	assert_true(str_has_prefix(err.msg, "/tmp/p/meta/ferry.yaml:1:1: x: unknown key"));
}

static void test_bases(void **state)
{
	(void)state;
	struct manifest *m = parse_ok(BASE);
	assert_int_equal(m->type, MANIFEST_TYPE_APP);
	assert_null(m->base);
	manifest_free(m);

	m = parse_ok(BASE "base: debian-13\nparts:\n  p:\n    stage-packages: [jq]\n"
	                  "  q:\n    stage-packages-deps: false\n");
	assert_string_equal(m->base, "debian-13");
	assert_string_equal(manifest_type_name(m->type), "app");
	assert_true(manifest_part_follows_deps(m, &m->parts[0]));
	assert_false(manifest_part_follows_deps(m, &m->parts[1]));
	manifest_free(m);

	/* none is the host's root: no base, no Depends followed unless asked */
	m = parse_ok(BASE "base: none\nparts:\n  p:\n    stage-packages-deps: true\n  q: {}\n");
	assert_null(m->base);
	assert_true(manifest_part_follows_deps(m, &m->parts[0]));
	assert_false(manifest_part_follows_deps(m, &m->parts[1]));
	manifest_free(m);

	m = parse_ok(BASE "type: base\nparts:\n  p:\n    stage-packages: [libc6]\n");
	assert_int_equal(m->type, MANIFEST_TYPE_BASE);
	assert_string_equal(manifest_type_name(m->type), "base");
	manifest_free(m);

	expect_error(BASE "type: bas\n",
	             FILE_NAME ":4:7: type: expected one of app, base; got \"bas\"");
	expect_error(BASE "base: Debian\n",
	             FILE_NAME ":4:7: base: expected a base package name or none: only lowercase "
	                       "letters, digits and hyphens; got \"Debian\"");
	expect_error(BASE "type: base\napps:\n  x:\n    command: bin/x\n",
	             FILE_NAME ":5:1: apps: a base has no apps: apps run in packages of type app "
	                       "that name it with base (type: base)");
	expect_error(BASE "hooks:\n  install: {}\ntype: base\n",
	             FILE_NAME ":4:1: hooks: a base has no hooks (type: base)");
	expect_error(BASE "type: base\nbase: debian-12\n",
	             FILE_NAME ":5:1: base: a base cannot have a base of its own (type: base)");
	m = parse_ok(BASE "base: debian-12\nbase-channel: beta\n");
	assert_string_equal(m->base_channel, "latest/beta");
	manifest_free(m);
	m = parse_ok(BASE "base: debian-12\n");
	assert_null(m->base_channel);
	manifest_free(m);
	expect_error(BASE "base: debian-12\nbase-channel: latest/bogus\n", FILE_NAME
	             ":5:15: base-channel: invalid channel \"latest/bogus\": \"bogus\" is "
	             "not a risk (stable, candidate, beta, edge)");
	expect_error(BASE "base-channel: stable\n",
	             FILE_NAME ":4:15: base-channel: a channel of a base, but the package names no "
	                       "base (base: NAME)");
	expect_error(BASE "type: base\nbase-channel: stable\n",
	             FILE_NAME ":5:1: base-channel: a base has no base-channel: it has no base "
	                       "(type: base)");
	expect_error(BASE "parts:\n  p:\n    stage-packages-deps: no\n",
	             FILE_NAME ":6:26: parts.p.stage-packages-deps: expected one of false, true; "
	                       "got \"no\"");
}

static void test_required_and_types(void **state)
{
	expect_error("name: ab\nversion: 1\n", FILE_NAME ":1:1: summary: required key is missing");
	expect_error("version: 1\nsummary: s\n", FILE_NAME ":1:1: name: required key is missing");
	expect_error("# comment\nname: ab\nsummary: s\n",
	             FILE_NAME ":2:1: version: required key is missing");
	expect_error("name: ab\nversion: 1\nsummary: [a, b]\n",
	             FILE_NAME ":3:10: summary: expected a one-line summary; got a list");
	expect_error("name: ab\nversion: 1\nsummary: ~\n",
	             FILE_NAME ":3:10: summary: expected a one-line summary; got nothing");
	expect_error("name: {a: b}\nversion: 1\nsummary: s\n",
	             FILE_NAME ":1:7: name: expected a package name; got a map");
	expect_error(BASE "apps: [a]\n",
	             FILE_NAME ":4:7: apps: expected a map of app names to apps; got a list");
	expect_error(BASE "architectures: amd64\n", FILE_NAME
	             ":4:16: architectures: expected a list of architectures; got \"amd64\"");
	expect_error(BASE "hooks: [install]\n",
	             FILE_NAME ":4:8: hooks: expected a map of hook names; got a list");
	expect_error(BASE "health: 30s\n",
	             FILE_NAME ":4:9: health: expected a map with grace, timeout, interval, "
	                       "retries and start-period; got \"30s\"");
	expect_error(BASE "components: {name: x}\n",
	             FILE_NAME ":4:13: components: expected a list of components; got a map");
	expect_error(BASE "parts: [a]\n",
	             FILE_NAME ":4:8: parts: expected a map of part names to parts; got a list");
}

static void expect_name_error(const char *name, const char *why, unsigned col)
{
	char yaml[256], msg[512], shown[128];
	snprintf(yaml, sizeof(yaml), "name: %s\nversion: 1\nsummary: s\n", name);
	/* quoted names are shown without their YAML quotes */
	snprintf(shown, sizeof(shown), "%s", name[0] == '"' ? name + 1 : name);
	if (name[0] == '"')
		shown[strlen(shown) - 1] = '\0';
	snprintf(msg, sizeof(msg), FILE_NAME ":1:%u: name: expected a package name: %s; got \"%s\"",
	         col, why, shown);
	expect_error(yaml, msg);
	assert_false(pkg_name_valid(shown));
}

static void test_names(void **state)
{
	expect_name_error("My_App", "only lowercase letters, digits and hyphens", 7);
	expect_name_error("a", "2 to 40 characters", 7);
	expect_name_error("-ab", "no hyphen at the start or end", 7);
	expect_name_error("ab-", "no hyphen at the start or end", 7);
	expect_name_error("a--b", "no two hyphens in a row", 7);
	expect_name_error("\"123\"", "at least one letter", 7);
	expect_name_error("abcdefghij-abcdefghij-abcdefghij-abcdefgh", "2 to 40 characters", 7);
	expect_name_error("\"caf\xc3\xa9\"", "only lowercase letters, digits and hyphens", 7);
}

static void test_version_summary_description(void **state)
{
	const char *why =
	    "expected 1 to 32 letters, digits, \".\", \"+\", \"~\" and \"-\", starting with "
	    "a letter or digit";
	char msg[512];

	snprintf(msg, sizeof(msg), FILE_NAME ":2:10: version: %s; got \"1.0 beta\"", why);
	expect_error("name: ab\nversion: 1.0 beta\nsummary: s\n", msg);
	snprintf(msg, sizeof(msg), FILE_NAME ":2:10: version: %s; got \".1\"", why);
	expect_error("name: ab\nversion: .1\nsummary: s\n", msg);
	snprintf(msg, sizeof(msg), FILE_NAME ":2:10: version: %s; got \"1/2\"", why);
	expect_error("name: ab\nversion: 1/2\nsummary: s\n", msg);
	snprintf(msg, sizeof(msg),
	         FILE_NAME ":2:10: version: %s; got \"123456789012345678901234567890123\"", why);
	expect_error("name: ab\nversion: 123456789012345678901234567890123\nsummary: s\n", msg);
	struct manifest *m =
	    parse_ok("name: ab\nversion: 12345678901234567890123456789012\nsummary: s\n");
	manifest_free(m);
	m = parse_ok("name: ab\nversion: 2.0~rc1+git.3-1\nsummary: s\n");
	manifest_free(m);

	/* summary: 128 characters (not bytes), one line */
	struct buf b = BUF_INIT(8192);
	assert_int_equal(buf_append_str(&b, "name: ab\nversion: 1\nsummary: "), 0);
	for (int i = 0; i < 128; i++)
		assert_int_equal(buf_append_str(&b, "\xc3\xa9"), 0);
	m = parse_ok(b.data);
	assert_int_equal(strlen(m->summary), 256);
	manifest_free(m);
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, "name: ab\nversion: 1\nsummary: "), 0);
	for (int i = 0; i < 129; i++)
		assert_int_equal(buf_append_str(&b, "x"), 0);
	expect_error(b.data, FILE_NAME
	             ":3:10: summary: expected one line of 1 to 128 characters; got "
	             "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"");
	buf_free(&b);
	expect_error("name: ab\nversion: 1\nsummary: \"\"\n", FILE_NAME
	             ":3:10: summary: expected one line of 1 to 128 characters; got an empty "
	             "string");
	expect_error("name: ab\nversion: 1\nsummary: \"two\\nlines\"\n",
	             FILE_NAME ":3:10: summary: expected one line of 1 to 128 characters; got "
	                       "\"two\\x0alines\"");
	expect_error("name: ab\nversion: 1\nsummary: \"a\\0b\"\n",
	             FILE_NAME ":3:10: summary: strings must not contain NUL characters");

	/* description: multi-line, at most 4096 bytes, no control characters */
	m = parse_ok(BASE "description: >\n  folded\n  text\n\n  para\n");
	assert_string_equal(m->description, "folded text\npara\n");
	manifest_free(m);
	expect_error(BASE "description: \"bell\\a\"\n", FILE_NAME
	             ":4:14: description: expected text of at most 4096 bytes without control "
	             "characters; got \"bell\\x07\"");
}

static void expect_license_error(const char *license, const char *why)
{
	char yaml[512], msg[1024];
	snprintf(yaml, sizeof(yaml), BASE "license: %s\n", license);
	snprintf(msg, sizeof(msg),
	         FILE_NAME ":4:10: license: expected an SPDX license expression such as \"MIT\" or "
	                   "\"GPL-2.0-only OR Apache-2.0\" (%s); got \"%s\"",
	         why, license);
	expect_error(yaml, msg);
}

static void test_license(void **state)
{
	static const char *const valid[] = {
	    "MIT",
	    "Apache-2.0 OR MIT",
	    "GPL-2.0+",
	    "(MIT OR Apache-2.0) AND BSD-3-Clause",
	    "GPL-2.0-only WITH Classpath-exception-2.0",
	    "LicenseRef-my-license",
	    "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",
	    "MIT or Apache-2.0",
	    "((MIT))",
	    "MIT AND (LGPL-2.1-or-later OR BSD-3-Clause) AND Zlib",
	};
	for (size_t i = 0; i < ARRAY_SIZE(valid); i++) {
		char yaml[256];
		snprintf(yaml, sizeof(yaml), BASE "license: %s\n", valid[i]);
		struct manifest *m = parse_ok(yaml);
		assert_string_equal(m->license, valid[i]);
		manifest_free(m);
	}
	expect_license_error("MIT OR", "a license is missing after OR");
	expect_license_error("MIT AND", "a license is missing after AND");
	expect_license_error("AND MIT", "a license is missing");
	expect_license_error("(MIT OR Apache-2.0", "a \"(\" is not closed");
	expect_license_error("MIT)", "a \")\" has no matching \"(\"");
	expect_license_error("MIT Apache-2.0", "AND, OR or WITH is missing between licenses");
	expect_license_error("GPL-2.0 WITH", "an exception identifier is missing after WITH");
	expect_license_error("MIT/X11",
	                     "a license identifier has characters other than letters, digits, "
	                     "\"-\" and \".\"");
	expect_license_error("LicenseRef-",
	                     "a license identifier has characters other than letters, "
	                     "digits, \"-\" and \".\"");
	expect_license_error("()", "a license is missing");
	/* parentheses nest at most 16 deep */
	expect_license_error("(((((((((((((((((MIT)))))))))))))))))",
	                     "parentheses nested too deep");
}

static void test_architectures_and_enums(void **state)
{
	expect_error(BASE "architectures: [amd46]\n", FILE_NAME
	             ":4:17: architectures[0]: unknown architecture \"amd46\"; did you mean "
	             "\"amd64\"?");
	expect_error(BASE "architectures: [sparc]\n", FILE_NAME
	             ":4:17: architectures[0]: expected a Debian architecture (all, amd64, "
	             "arm64, armel, armhf, i386, loong64, mips64el, ppc64el, riscv64, s390x); got "
	             "\"sparc\"");
	expect_error(BASE "architectures: [all, amd64]\n", FILE_NAME
	             ":4:17: architectures[0]: \"all\" must be the only architecture when listed");
	expect_error(BASE "architectures: [amd64, amd64]\n", FILE_NAME
	             ":4:24: architectures[1]: \"amd64\" is listed twice (first at line 4)");
	expect_error(BASE "architectures: []\n", FILE_NAME
	             ":4:16: architectures: expected a list of architectures; got an empty list");
	expect_error(BASE "confinement: classic\n", FILE_NAME
	             ":4:14: confinement: expected one of strict, devmode; got \"classic\"");
	expect_error(BASE "grade: beta\n",
	             FILE_NAME ":4:8: grade: expected one of stable, devel; got \"beta\"");
	expect_error(BASE "grade: [stable]\n",
	             FILE_NAME ":4:8: grade: expected one of stable, devel; got a list");

	assert_string_equal(manifest_hook_name(HOOK_CHECK_HEALTH), "check-health");
	assert_string_equal(manifest_hook_name(HOOK_INSTALL), "install");
	assert_null(manifest_hook_name(HOOK__COUNT));
	assert_null(manifest_daemon_name(DAEMON_NONE));
	assert_string_equal(manifest_daemon_name(DAEMON_SIMPLE), "simple");
	assert_string_equal(manifest_daemon_name(DAEMON_FORKING), "forking");
	assert_string_equal(manifest_restart_name(RESTART_ON_FAILURE), "on-failure");
	assert_string_equal(manifest_restart_name(RESTART_NEVER), "never");
	assert_string_equal(manifest_confinement_name(CONFINEMENT_DEVMODE), "devmode");
	assert_string_equal(manifest_grade_name(GRADE_STABLE), "stable");
}

#define CMD_WHY                                                                                    \
	"expected a relative path inside the package, such as bin/server (no leading \"/\", no "   \
	"\"..\"), then its arguments"

static void test_command_words_and_chain(void **state)
{
	(void)state;
	struct manifest *m = parse_ok(
	    BASE "apps:\n  web:\n    command: >-\n      bin/web --port 80 'a b' \"c \\\"d\\\" e\"\n"
	         "      x\\ y '' $FERRY_DATA/f '|'\n"
	         "    command-chain: [bin/env, ./bin/wrap]\n");
	const struct manifest_app *a = &m->apps[0];
	assert_string_equal(a->command, "bin/web");
	assert_int_equal(a->n_args, 8);
	const char *want[] = {"--port", "80", "a b", "c \"d\" e", "x y", "", "$FERRY_DATA/f", "|"};
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(a->args[i], want[i]);
	assert_null(a->args[8]);
	assert_int_equal(a->n_command_chain, 2);
	assert_string_equal(a->command_chain[0], "bin/env");
	assert_string_equal(a->command_chain[1], "./bin/wrap");
	manifest_free(m);

	expect_error(BASE "apps:\n  web:\n    command: \"bin/web 'x\"\n", FILE_NAME
	             ":6:14: apps.web.command: expected a program and its arguments (at "
	             "most 64 words) such as bin/server --port 8080: a single quote is not "
	             "closed; got \"bin/web 'x\"");
	expect_error(BASE "apps:\n  web:\n    command: bin/web > log\n", FILE_NAME
	             ":6:14: apps.web.command: expected a program and its arguments (at "
	             "most 64 words) such as bin/server --port 8080: shell syntax (| & ; < > "
	             "( ) `) is not interpreted: no shell runs the command; quote it to pass "
	             "it as it is, or use a script; got \"bin/web > log\"");
	expect_error(BASE "apps:\n  web:\n    command: \"  \"\n", FILE_NAME
	             ":6:14: apps.web.command: expected a program and its arguments (at "
	             "most 64 words) such as bin/server --port 8080: no command; got \"  \"");
	expect_error(BASE "apps:\n  web:\n    command: /bin/sh -c x\n",
	             FILE_NAME ":6:14: apps.web.command: " CMD_WHY "; got \"/bin/sh -c x\"");
	expect_error(BASE "apps:\n  web:\n    command: bin/web\n    command-chain: [/bin/sh]\n",
	             FILE_NAME ":7:21: apps.web.command-chain[0]: expected a relative path inside "
	                       "the package, such as bin/wrapper (no leading \"/\", no \"..\", no "
	                       "spaces); got \"/bin/sh\"");
	expect_error(BASE "apps:\n  web:\n    command: bin/web\n    command-chain: bin/env\n",
	             FILE_NAME ":7:20: apps.web.command-chain: expected a list of paths; got "
	                       "\"bin/env\"");

	/* the package's environment, for apps and hooks */
	m = parse_ok(BASE "environment:\n  LD_LIBRARY_PATH: $FERRY_PKG/lib\n  A: \"\"\n");
	assert_int_equal(m->n_env, 2);
	assert_string_equal(m->env[0].key, "LD_LIBRARY_PATH");
	assert_string_equal(m->env[0].value, "$FERRY_PKG/lib");
	assert_string_equal(m->env[1].value, "");
	manifest_free(m);
	expect_error(BASE "environment:\n  1A: x\n",
	             FILE_NAME ":5:3: environment.1A: expected a variable name of letters, digits "
	                       "and \"_\" (at most 64, not starting with a digit); got \"1A\"");
}

static void test_apps(void **state)
{
	expect_error(
	    BASE "apps:\n  Web:\n    command: x\n", FILE_NAME
	    ":5:3: apps: expected an app name: only lowercase letters, digits and hyphens; "
	    "got \"Web\"");
	expect_error(BASE "apps:\n  web:\n    daemon: simple\n",
	             FILE_NAME ":6:5: apps.web.command: required key is missing");
	expect_error(BASE "apps:\n  web: {}\n",
	             FILE_NAME ":5:8: apps.web.command: required key is missing");
	expect_error(BASE "apps:\n  web: bin/web\n", FILE_NAME
	             ":5:8: apps.web: expected a map with at least command; got \"bin/web\"");
	expect_error(BASE "apps:\n  web:\n    command: /bin/sh\n",
	             FILE_NAME ":6:14: apps.web.command: " CMD_WHY "; got \"/bin/sh\"");
	expect_error(BASE "apps:\n  web:\n    command: bin/../../etc/x\n",
	             FILE_NAME ":6:14: apps.web.command: " CMD_WHY "; got \"bin/../../etc/x\"");
	expect_error(BASE "apps:\n  web:\n    command: ..\n",
	             FILE_NAME ":6:14: apps.web.command: " CMD_WHY "; got \"..\"");
	expect_error(BASE "apps:\n  web:\n    command: bin//web\n",
	             FILE_NAME ":6:14: apps.web.command: " CMD_WHY "; got \"bin//web\"");
	struct manifest *m = parse_ok(BASE "apps:\n  web:\n    command: bin/a..b\n");
	assert_string_equal(m->apps[0].command, "bin/a..b");
	assert_int_equal(m->apps[0].n_args, 0);
	assert_null(m->apps[0].args[0]);
	assert_null(m->apps[0].command_chain);
	manifest_free(m);

	expect_error(BASE "apps:\n  web:\n    comand: bin/web\n",
	             FILE_NAME ":6:5: apps.web.comand: unknown key; did you mean \"command\"?");
	expect_error(BASE "apps:\n  web:\n    command: bin/web\n    restart: always\n", FILE_NAME
	             ":7:5: apps.web.restart: only allowed for a daemon; add daemon: simple (or "
	             "oneshot, notify, forking)");
	expect_error(BASE "apps:\n  web:\n    stop-timeout: 5s\n    command: bin/web\n", FILE_NAME
	             ":6:5: apps.web.stop-timeout: only allowed for a daemon; add daemon: simple "
	             "(or oneshot, notify, forking)");
	expect_error(
	    BASE
	    "apps:\n  web:\n    command: bin/web\n    daemon: simple\n    restart: sometimes\n",
	    FILE_NAME ":8:14: apps.web.restart: expected one of on-failure, always, never; got "
	              "\"sometimes\"");
	expect_error(BASE "apps:\n  web:\n    command: bin/web\n    environment:\n      1X: a\n",
	             FILE_NAME
	             ":8:7: apps.web.environment.1X: expected a variable name of letters, digits "
	             "and \"_\" (at most 64, not starting with a digit); got \"1X\"");
	expect_error(BASE "apps:\n  web:\n    command: bin/web\n    environment:\n      A: [1]\n",
	             FILE_NAME ":8:10: apps.web.environment.A: expected a string; got a list");
	expect_error(BASE "apps:\n  web:\n    command: bin/web\n    environment: [A=1]\n", FILE_NAME
	             ":7:18: apps.web.environment: expected a map of NAME: value; got a list");
	expect_error(BASE "apps:\n  web:\n    command: bin/web\n    environment: {A: 1, A: 2}\n",
	             FILE_NAME ":7:25: apps.web.environment.A: duplicate key (first at line 7)");
	expect_error(BASE "apps:\n  web:\n    command: bin/web\n    plugs: [Network]\n", FILE_NAME
	             ":7:13: apps.web.plugs[0]: expected a plug name: only lowercase letters, "
	             "digits and hyphens; got \"Network\"");
	expect_error(BASE "apps:\n  web:\n    command: bin/web\n    plugs: network\n", FILE_NAME
	             ":7:12: apps.web.plugs: expected a list of plug names; got \"network\"");
	expect_error(BASE "apps:\n  web:\n    command: bin/a\n  web:\n    command: bin/b\n",
	             FILE_NAME ":7:3: apps.web: duplicate key (first at line 5)");
}

static void test_restart_on_configure(void **state)
{
	(void)state;
	struct manifest *m = parse_ok(BASE "restart-on-configure: true\n"
	                                   "apps:\n"
	                                   "  a: {command: bin/a, daemon: simple}\n"
	                                   "  b: {command: bin/b, daemon: simple, "
	                                   "restart-on-configure: false}\n"
	                                   "  c: {command: bin/c}\n");
	assert_true(manifest_restarts_on_configure(m, &m->apps[0]));
	assert_false(manifest_restarts_on_configure(m, &m->apps[1]));
	assert_false(manifest_restarts_on_configure(m, &m->apps[2]));
	manifest_free(m);
	m = parse_ok(BASE "apps:\n  a: {command: bin/a, daemon: simple}\n"
	                  "  b: {command: bin/b, daemon: notify, restart-on-configure: true}\n");
	assert_false(manifest_restarts_on_configure(m, &m->apps[0]));
	assert_true(manifest_restarts_on_configure(m, &m->apps[1]));
	manifest_free(m);
	expect_error(BASE "restart-on-configure: yes\n", FILE_NAME
	             ":4:23: restart-on-configure: expected one of false, true; got \"yes\"");
	expect_error(BASE "apps:\n  c:\n    command: bin/c\n    restart-on-configure: true\n",
	             FILE_NAME ":7:5: apps.c.restart-on-configure: only allowed for a daemon; add "
	                       "daemon: simple (or oneshot, notify, forking)");
}

static void test_hooks_and_health(void **state)
{
	expect_error(BASE "hooks:\n  check-heath: {}\n", FILE_NAME
	             ":5:3: hooks.check-heath: unknown hook; did you mean \"check-health\"?");
	expect_error(BASE "hooks:\n  upgrade: {}\n", FILE_NAME
	             ":5:3: hooks.upgrade: unknown hook; expected one of install, configure, "
	             "pre-refresh, post-refresh, check-health, remove");
	expect_error(
	    BASE "hooks:\n  install: yes\n", FILE_NAME
	    ":5:12: hooks.install: expected an empty map or a map with plugs; got \"yes\"");
	expect_error(BASE "hooks:\n  install:\n    plug: [network]\n",
	             FILE_NAME ":6:5: hooks.install.plug: unknown key; did you mean \"plugs\"?");
	expect_error(BASE "hooks:\n  remove:\n    plugs: [a]\n", FILE_NAME
	             ":6:13: hooks.remove.plugs[0]: expected a plug name: 2 to 40 characters; got "
	             "\"a\"");

	struct manifest *m = parse_ok(BASE "health:\n  grace: 0s\n  timeout: 1ms\n");
	assert_int_equal(m->health_grace_ms, 0);
	assert_int_equal(m->health_timeout_ms, 1);
	assert_int_equal(m->health_start_period_ms, 0);
	assert_int_equal(m->health_interval_ms, 2000);
	assert_int_equal(m->health_retries, 3);
	manifest_free(m);
	m = parse_ok(BASE "health: {grace: 60m, timeout: 90s}\n");
	assert_int_equal(m->health_grace_ms, 3600000);
	assert_int_equal(m->health_timeout_ms, 90000);
	manifest_free(m);
	m = parse_ok(BASE
	             "health: {start-period: 5s, interval: 500ms, retries: 10, timeout: 1m}\n");
	assert_int_equal(m->health_start_period_ms, 5000);
	assert_int_equal(m->health_interval_ms, 500);
	assert_int_equal(m->health_retries, 10);
	manifest_free(m);
	m = parse_ok(BASE "health: {retries: 0}\n");
	assert_int_equal(m->health_retries, 0);
	manifest_free(m);
	expect_error(BASE "health: {retries: 101}\n", FILE_NAME
	             ":4:19: health.retries: expected a number from 0 to 100; got \"101\"");
	expect_error(BASE "health: {retries: -1}\n", FILE_NAME
	             ":4:19: health.retries: expected a number from 0 to 100; got \"-1\"");
	expect_error(BASE "health: {interval: 0s}\n", FILE_NAME
	             ":4:20: health.interval: expected a duration from 1ms to 1h, such as "
	             "500ms, 30s, 5m or 1h; got \"0s\"");
	expect_error(BASE "health: {start-perod: 1s}\n", FILE_NAME
	             ":4:10: health.start-perod: unknown key; did you mean \"start-period\"?");
	expect_error(BASE "health: {timeout: 1h, retries: 6}\n",
	             FILE_NAME ":4:9: health: start-period + (retries + 1) x timeout + retries x "
	                       "interval may be at most 6h; these make 25212s");
	m = parse_ok(BASE
	             "apps:\n  d:\n    command: d\n    daemon: simple\n    restart-delay: 0ms\n"
	             "    stop-timeout: 1h\n");
	manifest_free(m);
}

static void test_durations(void **state)
{
	struct {
		const char *text;
		uint64_t ms;
	} ok[] = {{"500ms", 500},  {"30s", 30000}, {"5m", 300000},
	          {"1h", 3600000}, {"0ms", 0},     {"3600000ms", 3600000}};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		char yaml[256];
		snprintf(yaml, sizeof(yaml), BASE "health:\n  grace: %s\n", ok[i].text);
		struct manifest *m = parse_ok(yaml);
		assert_int_equal(m->health_grace_ms, ok[i].ms);
		manifest_free(m);
	}
	static const char *const bad[] = {
	    "30 s", "2h", "61m", "3600001ms", "1.5s",
	    "-1s",  "30", "s",   "30sec",     "99999999999999999999999h"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char yaml[256], msg[512];
		snprintf(yaml, sizeof(yaml), BASE "health:\n  grace: %s\n", bad[i]);
		snprintf(msg, sizeof(msg),
		         FILE_NAME
		         ":5:10: health.grace: expected a duration from 0s to 1h, such as 500ms, "
		         "30s, 5m or 1h; got \"%s\"",
		         bad[i]);
		expect_error(yaml, msg);
	}
	expect_error(BASE "health:\n  timeout: 0s\n", FILE_NAME
	             ":5:12: health.timeout: expected a duration from 1ms to 1h, such as 500ms, "
	             "30s, 5m or 1h; got \"0s\"");
	expect_error(BASE "apps:\n  d:\n    command: d\n    daemon: simple\n    stop-timeout: 0s\n",
	             FILE_NAME
	             ":8:19: apps.d.stop-timeout: expected a duration from 1ms to 1h, such as "
	             "500ms, 30s, 5m or 1h; got \"0s\"");
	expect_error(
	    BASE "apps:\n  d:\n    command: d\n    daemon: simple\n    restart-delay: 10\n",
	    FILE_NAME ":8:20: apps.d.restart-delay: expected a duration from 0s to 1h, such as "
	              "500ms, 30s, 5m or 1h; got \"10\"");
	expect_error(BASE "health:\n  grace: [1s]\n", FILE_NAME
	             ":5:10: health.grace: expected a duration from 0s to 1h, such as 500ms, "
	             "30s, 5m or 1h; got a list");
}

static void test_plugs_and_slots(void **state)
{
	expect_error(BASE "plugs: [ab, ab]\n",
	             FILE_NAME ":4:13: plugs[1]: \"ab\" is listed twice (first at line 4)");
	expect_error(BASE "plugs:\n  data:\n    interface: Content\n", FILE_NAME
	             ":6:16: plugs.data.interface: expected an interface name: only lowercase "
	             "letters, digits and hyphens; got \"Content\"");
	expect_error(BASE "plugs:\n  data:\n    read: [a]\n",
	             FILE_NAME ":6:11: plugs.data.read: expected a string; got a list");
	expect_error(BASE "plugs:\n  data:\n    Read: x\n", FILE_NAME
	             ":6:5: plugs.data.Read: expected an attribute name: only lowercase letters, "
	             "digits and hyphens; got \"Read\"");
	expect_error(BASE "plugs: network\n", FILE_NAME
	             ":4:8: plugs: expected a map or a list of plug names; got \"network\"");
	expect_error(BASE "slots:\n  x1: [a]\n", FILE_NAME
	             ":5:7: slots.x1: expected an interface name or a map of attributes; got a "
	             "list");
	expect_error(BASE "slots:\n  Bad: x\n", FILE_NAME
	             ":5:3: slots: expected a slot name: only lowercase letters, digits and "
	             "hyphens; got \"Bad\"");
	expect_error(BASE "slots: [{a: b}]\n",
	             FILE_NAME ":4:9: slots[0]: expected a name; got a map");
	expect_error(BASE "plugs: [ab]\nslots: [ab]\n",
	             FILE_NAME ":5:8: slots: \"ab\" is already the name of a plug");
	expect_error(BASE "plugs:\n  net: Network\n", FILE_NAME
	             ":5:8: plugs.net: expected an interface name: only lowercase letters, digits "
	             "and hyphens; got \"Network\"");
}

static struct manifest *parse_strict_ok(const char *yaml)
{
	ferry_error err = {0};
	struct manifest *m = NULL;
	int rc = manifest_parse_strict(yaml, strlen(yaml), FILE_NAME, MANIFEST_KNOWN_INTERFACES, &m,
	                               &err);
	if (rc != 0)
		print_message("unexpected error: %s\nfor:\n%s\n", err.msg, yaml);
	assert_int_equal(rc, 0);
	return m;
}

static void expect_strict(const char *yaml, const char *msg)
{
	ferry_error err = {0};
	struct manifest *m = NULL;
	int rc = manifest_parse_strict(yaml, strlen(yaml), FILE_NAME, MANIFEST_KNOWN_INTERFACES, &m,
	                               &err);
	assert_int_equal(rc, FERRY_E_INVALID);
	assert_string_equal(err.msg, msg);
	assert_null(m);
	/* the same manifest reads fine where the interfaces are not checked */
	assert_int_equal(manifest_parse(yaml, strlen(yaml), FILE_NAME, &m, &err), 0);
	manifest_free(m);
}

static void test_unknown_interfaces(void **state)
{
	(void)state;
	/* an app's plug that is no top-level plug names its interface */
	expect_strict(BASE "apps:\n  web:\n    command: bin/web\n    plugs: [netwrok-bind]\n",
	              FILE_NAME ":7:13: apps.web.plugs[0]: unknown interface \"netwrok-bind\"; did "
	                        "you mean \"network-bind\"?");
	expect_strict(BASE "hooks:\n  check-health:\n    plugs: [network, hom]\n", FILE_NAME
	              ":6:22: hooks.check-health.plugs[1]: unknown interface \"hom\"; did "
	              "you mean \"home\"?");
	/* a top-level plug, in each form */
	expect_strict(BASE "plugs: [home, cammera]\n",
	              FILE_NAME ":4:15: plugs[1]: unknown interface \"cammera\"; did you mean "
	                        "\"camera\"?");
	expect_strict(BASE "plugs:\n  net: netwerk\n", FILE_NAME
	              ":5:8: plugs.net: unknown interface \"netwerk\"; did you mean \"network\"?");
	expect_strict(BASE "plugs:\n  www:\n    interface: contents\n    target: www\n", FILE_NAME
	              ":6:16: plugs.www.interface: unknown interface \"contents\"; did you mean "
	              "\"content\"?");
	expect_strict(BASE "plugs:\n  gpiio:\n", FILE_NAME
	              ":5:3: plugs.gpiio: unknown interface \"gpiio\"; did you mean \"gpio\"?");
	expect_strict(BASE "plugs:\n  data:\n    target: x\n", FILE_NAME
	              ":5:3: plugs.data: unknown interface \"data\"; expected one of network, "
	              "network-bind, home, removable-media, serial-port, gpio, i2c, spi, camera, "
	              "audio-playback, hardware-observe, system-observe, log-observe, "
	              "mount-observe, network-observe, shutdown, time-control");
	/* a plug the app lists is the top-level one, whatever comes first */
	struct manifest *m =
	    parse_strict_ok(BASE "apps:\n  web:\n    command: bin/web\n    plugs: [www, "
	                         "net]\nplugs:\n  www: content\n  net: network-bind\n");
	assert_string_equal(m->plugs[1].interface, "network-bind");
	manifest_free(m);
	/* slots are not checked: they offer, the device has nothing to grant */
	m = parse_strict_ok(BASE "slots: [status-api]\n");
	manifest_free(m);
	/* only a strict parse checks: a device reads what another ferry packed */
	m = parse_ok(BASE "plugs: [some-future-interface]\n");
	manifest_free(m);
}

static void test_parts_and_components(void **state)
{
	const char *apt = "expected a Debian package as NAME or NAME=VERSION (such as libssl3 or "
	                  "libssl3=3.0.11-1~deb12u2)";
	const char *prime =
	    "expected a relative path or pattern inside the package, \"-\" in front to "
	    "exclude (such as usr/bin/* or -usr/share/doc)";
	static const char *const bad_apt[] = {"libc6:amd64", "x=abc",    "Libfoo", "a",
	                                      "lib ssl",     "libssl3=", "-lib"};
	for (size_t i = 0; i < ARRAY_SIZE(bad_apt); i++) {
		char yaml[256], msg[512];
		snprintf(yaml, sizeof(yaml), BASE "parts:\n  deps:\n    stage-packages: [\"%s\"]\n",
		         bad_apt[i]);
		snprintf(msg, sizeof(msg),
		         FILE_NAME ":6:22: parts.deps.stage-packages[0]: %s; got \"%s\"", apt,
		         bad_apt[i]);
		expect_error(yaml, msg);
	}
	static const char *const bad_prime[] = {"/etc", "-../x", "usr/../..", "a b", "-", ""};
	for (size_t i = 0; i < ARRAY_SIZE(bad_prime); i++) {
		char yaml[256], msg[512];
		snprintf(yaml, sizeof(yaml), BASE "parts:\n  deps:\n    prime: [\"%s\"]\n",
		         bad_prime[i]);
		snprintf(msg, sizeof(msg), FILE_NAME ":6:13: parts.deps.prime[0]: %s; got \"%s\"",
		         prime, bad_prime[i]);
		expect_error(yaml, msg);
	}
	expect_error(BASE "parts:\n  deps:\n    plugin: nil\n", FILE_NAME
	             ":6:5: parts.deps.plugin: unknown key; expected one of stage-packages, prime, "
	             "stage-packages-deps");
	expect_error(
	    BASE "parts:\n  deps:\n    stage-package: [a]\n", FILE_NAME
	    ":6:5: parts.deps.stage-package: unknown key; did you mean \"stage-packages\"?");
	expect_error(
	    BASE "parts:\n  deps:\n    stage-packages: [libssl3, libssl3]\n", FILE_NAME
	    ":6:31: parts.deps.stage-packages[1]: \"libssl3\" is listed twice (first at line "
	    "6)");

	expect_error(BASE "components:\n  - name: x\n",
	             FILE_NAME ":5:5: components[0].version: required key is missing");
	expect_error(BASE "components:\n  - version: 1\n",
	             FILE_NAME ":5:5: components[0].name: required key is missing");
	expect_error(BASE "components:\n  - {name: x, version: 1, purl: npm/x}\n",
	             FILE_NAME ":5:33: components[0].purl: expected a package URL such as "
	                       "pkg:npm/left-pad@1.3.0; got \"npm/x\"");
	expect_error(BASE "components:\n  - {name: a b, version: 1}\n", FILE_NAME
	             ":5:12: components[0].name: expected 1 to 128 printable ASCII characters "
	             "without spaces; got \"a b\"");
	expect_error(
	    BASE "components:\n  - {name: x, version: 1, vendor: y}\n", FILE_NAME
	    ":5:27: components[0].vendor: unknown key; expected one of name, version, purl");
	expect_error(BASE "components: [x]\n", FILE_NAME
	             ":4:14: components[0]: expected a map with name, version and purl; got \"x\"");
}

static void test_limits(void **state)
{
	(void)state;
	struct manifest *m = parse_ok(BASE "limits: {memory: 256M, cpu: 50%, pids: 64}\n"
	                                   "apps:\n  web:\n    command: bin/web\n"
	                                   "    limits: {memory: 1G}\n"
	                                   "  ctl:\n    command: bin/ctl\n");
	assert_int_equal(m->limits.memory, 256ull << 20);
	assert_int_equal(m->limits.cpu_percent, 50);
	assert_int_equal(m->limits.pids, 64);
	struct manifest_limits l = manifest_limits_of(m, &m->apps[0]);
	assert_int_equal(l.memory, 1ull << 30);
	assert_int_equal(l.cpu_percent, 50); /* the package's, where the app says nothing */
	assert_int_equal(l.pids, 64);
	l = manifest_limits_of(m, &m->apps[1]);
	assert_int_equal(l.memory, 256ull << 20);
	l = manifest_limits_of(m, NULL);
	assert_int_equal(l.pids, 64);
	manifest_free(m);
	m = parse_ok(BASE "limits: {memory: \"4194304\", cpu: 200%}\n");
	assert_int_equal(m->limits.memory, 4ull << 20);
	assert_int_equal(m->limits.cpu_percent, 200);
	assert_int_equal(m->limits.pids, 0);
	manifest_free(m);
	m = parse_ok(BASE);
	assert_int_equal(m->limits.memory, 0);
	manifest_free(m);

	expect_error(BASE "limits: {memory: 3M}\n",
	             FILE_NAME ":4:18: limits.memory: expected a size from 4M to 1T, in bytes or "
	                       "with K, M, G or T (powers of 1024), such as 256M; got \"3M\"");
	expect_error(BASE "limits: {memory: 256 M}\n",
	             FILE_NAME ":4:18: limits.memory: expected a size from 4M to 1T, in bytes or "
	                       "with K, M, G or T (powers of 1024), such as 256M; got \"256 M\"");
	expect_error(BASE "limits: {memory: 2T}\n",
	             FILE_NAME ":4:18: limits.memory: expected a size from 4M to 1T, in bytes or "
	                       "with K, M, G or T (powers of 1024), such as 256M; got \"2T\"");
	expect_error(BASE "limits: {cpu: 50}\n",
	             FILE_NAME ":4:15: limits.cpu: expected a percentage of one CPU from 1% to "
	                       "100000%, such as 50% or 200% (two CPUs); got \"50\"");
	expect_error(BASE "limits: {cpu: 0%}\n",
	             FILE_NAME ":4:15: limits.cpu: expected a percentage of one CPU from 1% to "
	                       "100000%, such as 50% or 200% (two CPUs); got \"0%\"");
	expect_error(BASE "limits: {pids: 0}\n", FILE_NAME
	             ":4:16: limits.pids: expected a number of processes and threads from "
	             "1 to 4194304; got \"0\"");
	expect_error(BASE "limits: {pid: 5}\n",
	             FILE_NAME ":4:10: limits.pid: unknown key; did you mean \"pids\"?");
	expect_error(BASE "limits: 5\n",
	             FILE_NAME ":4:9: limits: expected a map with memory, cpu or pids; got \"5\"");
	expect_error(BASE "apps:\n  web:\n    command: bin/web\n    limits: {pids: -1}\n",
	             FILE_NAME ":7:20: apps.web.limits.pids: expected a number of processes and "
	                       "threads from 1 to 4194304; got \"-1\"");
}

static void test_yaml_refusals(void **state)
{
	expect_error(BASE "x: &a [1]\n", FILE_NAME ":4:4: x: anchors are not allowed; got \"&a\"");
	expect_error(BASE "description: *a\n",
	             FILE_NAME ":4:14: description: aliases are not allowed; got \"*a\"");
	/* the classic expansion bomb stops at its first anchor */
	expect_error(
	    "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
	    FILE_NAME ":1:4: a: anchors are not allowed; got \"&a\"");
	expect_error("name: !!str ab\nversion: 1\nsummary: s\n",
	             FILE_NAME ":1:7: name: tags are not allowed; got \"!!str\"");
	expect_error(BASE "apps: !custom {}\n",
	             FILE_NAME ":4:7: apps: tags are not allowed; got \"!custom\"");
	expect_error(BASE "---\nname: x\n", FILE_NAME ":4:1: only one YAML document is allowed");
	expect_error("",
	             FILE_NAME ":1:1: the manifest is empty; expected a map with at least name, "
	                       "version and summary");
	expect_error("# nothing\n",
	             FILE_NAME ":1:1: the manifest is empty; expected a map with at least "
	                       "name, version and summary");
	expect_error("- a\n",
	             FILE_NAME ":1:1: expected a map with at least name, version and summary; got "
	                       "a list");
	expect_error("hello\n",
	             FILE_NAME ":1:1: expected a map with at least name, version and summary; "
	                       "got \"hello\"");
	expect_error("name: [a\n",
	             FILE_NAME ":2:1: name: invalid YAML: did not find expected ',' or ']' "
	                       "(while parsing a flow sequence at line 1)");
	expect_error("? [a]\n: b\n", FILE_NAME ":1:3: keys must be strings; got a list");
	expect_error(BASE "apps:\n  ? {a: b}\n  : c\n",
	             FILE_NAME ":5:5: apps: keys must be strings; got a map");
	expect_error("name: ab\nversion: 1\nsummary: \xff\n",
	             FILE_NAME ":3:10: invalid YAML: invalid leading UTF-8 octet");
	expect_error("name: ab\nversion: 1\nsummary: \"\xc3\xa9\x01\"\n",
	             FILE_NAME ":3:12: invalid YAML: control characters are not allowed");
	/* no data at all is an empty manifest, not a crash */
	ferry_error err = {0};
	struct manifest *m = NULL;
	assert_int_equal(manifest_parse(NULL, 0, FILE_NAME, &m, &err), FERRY_E_INVALID);
	assert_string_equal(err.msg,
	                    FILE_NAME ":1:1: the manifest is empty; expected a map with at "
	                              "least name, version and summary");
	assert_null(m);
	/* a NUL byte in the file ends nothing early: it is refused */
	expect_code("name: ab\0\nversion: 1\nsummary: s\n", 32, FERRY_E_INVALID,
	            FILE_NAME ":1:9: invalid YAML: control characters are not allowed");
}

static void test_bounds(void **state)
{
	struct buf b = BUF_INIT(MANIFEST_MAX_BYTES * 2);
	char msg[256];

	/* size: exactly the limit parses, one byte more is refused unread */
	assert_int_equal(buf_append_str(&b, BASE "#"), 0);
	while (b.len < MANIFEST_MAX_BYTES - 1)
		assert_int_equal(buf_append_str(&b, "x"), 0);
	assert_int_equal(buf_append_str(&b, "\n"), 0);
	assert_int_equal(b.len, MANIFEST_MAX_BYTES);
	struct manifest *m = parse_ok(b.data);
	manifest_free(m);
	assert_int_equal(buf_append_str(&b, "\n"), 0);
	snprintf(msg, sizeof(msg), FILE_NAME ": %u bytes; a manifest may have at most %u",
	         MANIFEST_MAX_BYTES + 1, MANIFEST_MAX_BYTES);
	expect_code(b.data, b.len, FERRY_E_LIMIT, msg);

	/* depth: 16 levels are read (and then fail as the wrong type), 17 are not */
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, BASE "apps: "), 0);
	for (int i = 0; i < 15; i++)
		assert_int_equal(buf_append_str(&b, "["), 0);
	for (int i = 0; i < 15; i++)
		assert_int_equal(buf_append_str(&b, "]"), 0);
	expect_error(b.data,
	             FILE_NAME ":4:7: apps: expected a map of app names to apps; got a list");
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, BASE "apps: "), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(buf_append_str(&b, "["), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(buf_append_str(&b, "]"), 0);
	expect_code(b.data, b.len, FERRY_E_LIMIT,
	            FILE_NAME
	            ":4:22: apps[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nested deeper "
	            "than 16 levels");
	/* and a deep block map the same way, with its path */
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, BASE), 0);
	for (int i = 0; i < 16; i++) {
		for (int k = 0; k < i; k++)
			assert_int_equal(buf_append_str(&b, " "), 0);
		assert_int_equal(buf_printf(&b, "k%d:\n", i), 0);
	}
	for (int k = 0; k < 16; k++)
		assert_int_equal(buf_append_str(&b, " "), 0);
	assert_int_equal(buf_append_str(&b, "leaf: 1\n"), 0);
	expect_code(b.data, b.len, FERRY_E_LIMIT,
	            FILE_NAME
	            ":20:17: k0.k1.k2.k3.k4.k5.k6.k7.k8.k9.k10.k11.k12.k13.k14.k15: nested deeper "
	            "than 16 levels");

	/* entries: 256 in one list are fine, the 257th is refused where it is */
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, BASE "plugs:\n"), 0);
	for (int i = 0; i < 256; i++)
		assert_int_equal(buf_printf(&b, "  - p%03d\n", i), 0);
	m = parse_ok(b.data);
	assert_int_equal(m->n_plugs, 256);
	assert_string_equal(m->plugs[255].name, "p255");
	manifest_free(m);
	assert_int_equal(buf_append_str(&b, "  - p256\n"), 0);
	expect_code(b.data, b.len, FERRY_E_LIMIT,
	            FILE_NAME ":261:5: plugs: more than 256 entries in one list");
	/* the same for a map */
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, BASE "apps:\n  a:\n    command: a\n    environment:\n"),
	                 0);
	for (int i = 0; i < 257; i++)
		assert_int_equal(buf_printf(&b, "      V%d: x\n", i), 0);
	expect_code(b.data, b.len, FERRY_E_LIMIT,
	            FILE_NAME ":264:7: apps.a.environment: more than 256 entries in one map");

	/* values in the whole file */
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, BASE "plugs:\n"), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(buf_printf(&b, "  p%03d:\n", i), 0);
		for (int k = 0; k < 100; k++)
			assert_int_equal(buf_printf(&b, "    a%d: v\n", k), 0);
	}
	/* the root, 4 keys and their values, the plugs map: 9 values; each plug
	 * 202 more: value 16385 is the value of a5 in plug 81 */
	expect_code(b.data, b.len, FERRY_E_LIMIT,
	            FILE_NAME ":8192:9: plugs.p081.a5: more than 16384 values in the file");

	/* strings: 4096 bytes, not one more */
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, BASE "description: "), 0);
	for (int i = 0; i < MANIFEST_STRING_MAX; i++)
		assert_int_equal(buf_append_str(&b, "d"), 0);
	m = parse_ok(b.data);
	assert_int_equal(strlen(m->description), MANIFEST_STRING_MAX);
	manifest_free(m);
	assert_int_equal(buf_append_str(&b, "d"), 0);
	expect_code(b.data, b.len, FERRY_E_LIMIT,
	            FILE_NAME ":4:14: description: string of 4097 bytes; at most 4096 allowed");
	buf_free(&b);
}

/* Remove the "#" of every commented-out field (a "#" line not followed by
 * a space and a word, which is prose). */
static char *uncomment(const char *text)
{
	struct buf b = BUF_INIT(65536);
	const char *line = text;
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
		bool prose = len >= 3 && line[0] == '#' && line[1] == ' ' && line[2] != ' ';
		if (line[0] == '#' && !prose)
			assert_int_equal(buf_append(&b, line + 1, len - 1), 0);
		else
			assert_int_equal(buf_append(&b, line, len), 0);
		line += len;
	}
	return buf_steal(&b, NULL);
}

static void test_template(void **state)
{
	_cleanup_free_ char *text = manifest_template("my-app");
	assert_non_null(text);
	assert_non_null(strstr(text, "\nname: my-app\n"));
	struct manifest *m = parse_ok(text);
	assert_string_equal(m->name, "my-app");
	assert_string_equal(m->version, "0.1");
	assert_string_equal(m->license, "Apache-2.0");
	assert_int_equal(m->n_apps, 1);
	assert_string_equal(m->apps[0].name, "my-app");
	assert_string_equal(m->apps[0].command, "bin/my-app");
	assert_int_equal(m->apps[0].daemon, DAEMON_NONE);
	assert_true(m->architectures_default);
	assert_int_equal(m->grade, GRADE_DEVEL);
	manifest_free(m);

	/* every field the template shows commented out is valid too */
	_cleanup_free_ char *all = uncomment(text);
	assert_non_null(strstr(all, "\n    daemon: simple\n"));
	m = parse_ok(all);
	assert_int_equal(m->apps[0].daemon, DAEMON_SIMPLE);
	assert_int_equal(m->apps[0].n_plugs, 2);
	assert_int_equal(m->apps[0].n_env, 1);
	assert_false(m->architectures_default);
	assert_true(m->hooks[HOOK_CHECK_HEALTH].present);
	assert_true(m->hooks[HOOK_POST_REFRESH].present);
	assert_int_equal(m->n_parts, 1);
	assert_int_equal(m->n_components, 1);
	manifest_free(m);

	assert_null(manifest_template("Bad_Name"));
	assert_null(manifest_template(NULL));
	_cleanup_free_ char *longest =
	    manifest_template("abcdefghij-abcdefghij-abcdefghij-abcdefg");
	m = parse_ok(longest);
	manifest_free(m);
}

static void test_load(void **state)
{
	char path[512];
	ferry_error err = {0};
	struct manifest *m = NULL;

	snprintf(path, sizeof(path), "%s/ferry.yaml", tu_tmpdir);
	assert_int_equal(manifest_load(path, &m, &err), FERRY_E_NOTFOUND);
	assert_null(m);
	assert_non_null(strstr(err.msg, path));

	assert_int_equal(fs_write_atomic(path, full_yaml, strlen(full_yaml), 0644, NULL), 0);
	assert_int_equal(manifest_load(path, &m, &err), 0);
	assert_string_equal(m->name, "web-server");
	manifest_free(m);

	const char *bad = "name: ab\nversion: 1\nsummary: s\ngrade: beta\n";
	assert_int_equal(fs_write_atomic(path, bad, strlen(bad), 0644, NULL), 0);
	m = NULL;
	assert_int_equal(manifest_load(path, &m, &err), FERRY_E_INVALID);
	char expected[512];
	snprintf(expected, sizeof(expected),
	         "%s:4:8: grade: expected one of stable, devel; got \"beta\"", path);
	assert_string_equal(err.msg, expected);

	/* too large: refused by size before parsing */
	struct buf b = BUF_INIT(MANIFEST_MAX_BYTES + 16);
	while (b.len <= MANIFEST_MAX_BYTES)
		assert_int_equal(buf_append_str(&b, "# padding\n"), 0);
	assert_int_equal(fs_write_atomic(path, b.data, b.len, 0644, NULL), 0);
	buf_free(&b);
	assert_int_equal(manifest_load(path, &m, &err), FERRY_E_LIMIT);
	assert_null(m);
	assert_non_null(strstr(err.msg, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_manifest),
	    cmocka_unit_test(test_command_words_and_chain),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_error_shape),
	    cmocka_unit_test(test_required_and_types),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_version_summary_description),
	    cmocka_unit_test(test_license),
	    cmocka_unit_test(test_architectures_and_enums),
	    cmocka_unit_test(test_apps),
	    cmocka_unit_test(test_restart_on_configure),
	    cmocka_unit_test(test_hooks_and_health),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_plugs_and_slots),
	    cmocka_unit_test(test_unknown_interfaces),
	    cmocka_unit_test(test_parts_and_components),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_bases),
	    cmocka_unit_test(test_yaml_refusals),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_template),
	    cmocka_unit_test_setup_teardown(test_load, tu_tmpdir_setup, tu_tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
