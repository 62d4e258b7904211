/* stage_parse.c: the pure part of stage-packages: the checks on package
 * specs and Debian names, the prime filters, and reading what apt-get
 * download --print-uris, dpkg-deb -f and /etc/os-release say. It runs no
 * program and touches no tree beyond reading os-release; stage.c runs apt and
 * dpkg-deb and merges what they unpack. */
#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "pkg/stage.h"
#include "pkg/stage_int.h"

/* ---- checks on names ---------------------------------------------------- */

/* Debian policy 5.6.1: [a-z0-9][a-z0-9+.-]+ */
static bool valid_deb_name(const char *s, size_t len)
{
	if (len < 2 || len > 128 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return false;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(islower(c) || isdigit(c) || c == '+' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Debian policy 5.6.12: [epoch:]upstream[-revision], from [A-Za-z0-9.+~:-],
 * starting with a digit. */
static bool valid_deb_version(const char *s)
{
	size_t len = strlen(s);
	if (len < 1 || len > 128 || !isdigit((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '.' || c == '+' || c == '~' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

bool stage_valid_deb_arch(const char *s)
{
	size_t len = strlen(s);
	if (len < 1 || len > 32)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(islower(c) || isdigit(c) || c == '-'))
			return false;
	}
	return true;
}

bool stage_valid_spec(const char *spec)
{
	if (!spec || strlen(spec) > SPEC_MAX)
		return false;
	const char *eq = strchr(spec, '=');
	size_t nlen = eq ? (size_t)(eq - spec) : strlen(spec);
	if (!valid_deb_name(spec, nlen))
		return false;
	return !eq || valid_deb_version(eq + 1);
}

/* ---- prime filters ------------------------------------------------------ */

/* Does pattern match path or one of its parent directories? */
bool stage_filter_matches(const char *pattern, const char *path)
{
	char pat[PATH_MAX_LEN], p[PATH_MAX_LEN];
	if (str_copy(pat, sizeof(pat), pattern) < 0 || str_copy(p, sizeof(p), path) < 0)
		return false;
	size_t pl = strlen(pat);
	while (pl > 1 && pat[pl - 1] == '/')
		pat[--pl] = '\0';
	if (fnmatch(pat, p, FNM_PATHNAME) == 0)
		return true;
	for (size_t i = strlen(p); i > 0; i--)
		if (p[i - 1] == '/') {
			p[i - 1] = '\0';
			if (fnmatch(pat, p, FNM_PATHNAME) == 0)
				return true;
		}
	return false;
}

bool stage_prime_keep(char *const *filters, size_t n, const char *path)
{
	bool any_include = false, included = false;
	for (size_t i = 0; i < n; i++) {
		const char *f = filters[i];
		if (f[0] == '-') {
			if (stage_filter_matches(f + 1, path))
				return false;
		} else {
			any_include = true;
			if (!included && stage_filter_matches(f, path))
				included = true;
		}
	}
	return !any_include || included;
}

/* ---- parsing apt and dpkg output ---------------------------------------- */

char *stage_dup_span(const char *s, size_t len)
{
	char *r = malloc(len + 1);
	if (r) {
		memcpy(r, s, len);
		r[len] = '\0';
	}
	return r;
}

int stage_parse_control(const char *text, struct stage_deb *d, ferry_error *err)
{
	const char *p = text;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		if (colon) {
			size_t klen = (size_t)(colon - p);
			const char *v = colon + 1;
			while (v < p + len && (*v == ' ' || *v == '\t'))
				v++;
			size_t vlen = (size_t)(p + len - v);
			while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\r'))
				vlen--;
			char **slot = NULL;
			if (klen == 7 && strncmp(p, "Package", 7) == 0)
				slot = &d->name;
			else if (klen == 7 && strncmp(p, "Version", 7) == 0)
				slot = &d->version;
			else if (klen == 12 && strncmp(p, "Architecture", 12) == 0)
				slot = &d->arch;
			if (slot) {
				free(*slot);
				if (!(*slot = stage_dup_span(v, vlen)))
					return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			} else if (klen == 6 && strncmp(p, "Source", 6) == 0) {
				/* "name" or "name (version)" */
				const char *sp = memchr(v, ' ', vlen);
				size_t nlen = sp ? (size_t)(sp - v) : vlen;
				free(d->source);
				free(d->source_version);
				d->source = stage_dup_span(v, nlen);
				d->source_version = NULL;
				if (!d->source)
					return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
				if (sp) {
					const char *o = memchr(sp, '(', (size_t)(v + vlen - sp));
					const char *c =
					    o ? memchr(o, ')', (size_t)(v + vlen - o)) : NULL;
					if (!o || !c || c <= o + 1)
						return ferry_error_set(
						    err, FERRY_E_INVALID,
						    "Source: expected \"name (version)\"");
					if (!(d->source_version =
					          stage_dup_span(o + 1, (size_t)(c - o - 1))))
						return ferry_error_set(err, FERRY_E_NOMEM,
						                       "out of memory");
				}
			}
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	if (!d->name || !valid_deb_name(d->name, strlen(d->name)))
		return ferry_error_set(err, FERRY_E_INVALID, "control: no valid Package field");
	if (!d->version || !valid_deb_version(d->version))
		return ferry_error_set(err, FERRY_E_INVALID, "control: no valid Version field");
	if (!d->arch || !stage_valid_deb_arch(d->arch))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "control: no valid Architecture field");
	if (d->source && !valid_deb_name(d->source, strlen(d->source)))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "control: Source \"%s\" is not a package name", d->source);
	if (d->source_version && !valid_deb_version(d->source_version))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "control: Source version \"%s\" is not valid",
		                       d->source_version);
	if (!d->source && !(d->source = strdup(d->name)))
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	if (!d->source_version && !(d->source_version = strdup(d->version)))
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	return 0;
}

int stage_parse_print_uris(const char *line, char **filename, char **sha256, ferry_error *err)
{
	*filename = NULL;
	*sha256 = NULL;
	if (line[0] != '\'')
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "apt-get --print-uris: unexpected line \"%.80s\"", line);
	const char *q = strchr(line + 1, '\'');
	if (!q || q[1] != ' ')
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "apt-get --print-uris: unexpected line \"%.80s\"", line);
	const char *f = q + 2;
	const char *fe = strchr(f, ' ');
	if (!fe)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "apt-get --print-uris: no file name in \"%.80s\"", line);
	const char *sz = fe + 1;
	const char *sze = strchr(sz, ' ');
	if (!sze)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "apt-get --print-uris: no size in \"%.80s\"", line);
	const char *h = sze + 1;
	if (!str_has_prefix(h, "SHA256:"))
		return ferry_error_set(
		    err, FERRY_E_VERIFY,
		    "apt-get --print-uris: no SHA256 for the package in \"%.120s\"", line);
	h += 7;
	size_t hl = strspn(h, "0123456789abcdef");
	if (hl != 64 || (h[hl] != '\0' && h[hl] != ' ' && h[hl] != '\n'))
		return ferry_error_set(err, FERRY_E_VERIFY,
		                       "apt-get --print-uris: bad SHA256 in \"%.120s\"", line);
	size_t fl = (size_t)(fe - f);
	/* a file name inside our download folder: no slash, not . or .., ends .deb */
	if (fl < 5 || fl > 255 || memchr(f, '/', fl) || f[0] == '.' ||
	    strncmp(fe - 4, ".deb", 4) != 0)
		return ferry_error_set(err, FERRY_E_UNSAFE,
		                       "apt-get --print-uris: bad file name in \"%.120s\"", line);
	*filename = stage_dup_span(f, fl);
	*sha256 = stage_dup_span(h, 64);
	if (!*filename || !*sha256) {
		free(*filename);
		free(*sha256);
		*filename = *sha256 = NULL;
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	return 0;
}

int stage_distro(const char *path, char *vendor, size_t vendor_size, char *distro,
                 size_t distro_size)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	char id[64] = "", ver[64] = "";

	if (vendor_size)
		vendor[0] = '\0';
	if (distro_size)
		distro[0] = '\0';
	if (!path)
		path = fs_exists("/etc/os-release") ? "/etc/os-release" : "/usr/lib/os-release";
	if (fs_read_file(path, 64 * 1024, &text, &len, NULL) < 0)
		return 0;
	for (char *line = text; line && *line;) {
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		char *target = NULL;
		size_t tsize = 0;
		if (str_has_prefix(line, "ID=")) {
			target = id;
			tsize = sizeof(id);
			line += 3;
		} else if (str_has_prefix(line, "VERSION_ID=")) {
			target = ver;
			tsize = sizeof(ver);
			line += 11;
		}
		if (target) {
			size_t n = 0;
			for (const char *c = line; *c && n + 1 < tsize; c++)
				if (isalnum((unsigned char)*c) || *c == '.' || *c == '-' ||
				    *c == '_')
					target[n++] = (char)tolower((unsigned char)*c);
			target[n] = '\0';
		}
		line = eol ? eol + 1 : NULL;
	}
	if (id[0] && str_copy(vendor, vendor_size, id) < 0)
		vendor[0] = '\0';
	if (id[0] && ver[0] && str_printf(distro, distro_size, "%s-%s", id, ver) < 0)
		distro[0] = '\0';
	return 0;
}

int stage_parse_deb_filename(const char *file, char **spec, char **arch)
{
	*spec = *arch = NULL;
	const char *u1 = strchr(file, '_');
	const char *u2 = u1 ? strchr(u1 + 1, '_') : NULL;
	const char *dot = u2 ? strstr(u2, ".deb") : NULL;
	if (!u1 || !u2 || !dot || dot[4] || u1 == file || u2 == u1 + 1 || dot == u2 + 1)
		return FERRY_E_INVALID;
	char version[SPEC_MAX];
	size_t o = 0;
	for (const char *p = u1 + 1; p < u2; p++) {
		if (o + 1 >= sizeof(version))
			return FERRY_E_LIMIT;
		if (p + 2 < u2 && p[0] == '%' && p[1] == '3' && (p[2] == 'a' || p[2] == 'A')) {
			version[o++] = ':';
			p += 2;
		} else {
			version[o++] = *p;
		}
	}
	version[o] = '\0';
	*spec = str_dup_printf("%.*s=%s", (int)(u1 - file), file, version);
	*arch = stage_dup_span(u2 + 1, (size_t)(dot - u2 - 1));
	if (!*spec || !*arch || !stage_valid_spec(*spec) || !stage_valid_deb_arch(*arch)) {
		free(*spec);
		free(*arch);
		*spec = *arch = NULL;
		return FERRY_E_INVALID;
	}
	return 0;
}
