/* curl_dl.c: libcurl loaded on first use (curl_dl.h).
 *
 * How curl's type checks stay on. <curl/curl.h> (typecheck-gcc.h) wraps
 * curl_easy_setopt and curl_easy_getinfo in macros that check each option's
 * argument at compile time and then call the function by its own name. So
 * the names must stay functions: this file defines curl_easy_setopt and the
 * few others lib/http calls, with the exact prototypes <curl/curl.h>
 * declares, and each calls the function of the same name in libcurl.so.4
 * through a table of pointers filled by dlsym. (Renaming the calls to the
 * pointers with #define, as before, would have to replace curl's macros and
 * lose their checks; typed per-option helpers would repeat curl's list of
 * option types.) The program links no libcurl, so these definitions are the
 * only ones it sees; libcurl, opened RTLD_LOCAL, keeps calling its own.
 * gcc reports the checks' findings from inside the system header unless
 * macro tokens are located where the macro is used: this file and http.c are
 * built with -ftrack-macro-expansion=0 (lib/http/meson.build), and a wrong
 * argument type is then an error under -Werror.
 *
 * curl_easy_setopt takes its argument through "...": it is read back with
 * the type the option's number says (curl's own rule: CURLOPTTYPE_LONG,
 * OBJECTPOINT, FUNCTIONPOINT, OFF_T, BLOB ranges) and passed on as that
 * type. curl_easy_getinfo's argument is always a pointer. curl_url_get
 * alone goes by a name of its own, curl_dl_url_get: its handle became const
 * in newer headers, so no one definition matches every <curl/curl.h> (and
 * curl's type checks do not cover it).
 *
 * Not here: anything about HTTP (http.c). */
#include "http/curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SONAME "libcurl.so.4"
#define NEED_VERSION 0x075500 /* 7.85.0: CURLOPT_PROTOCOLS_STR */

struct curl_dl {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *h);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *u, CURLUPart part, const char *content, unsigned int flags);
	CURLUcode (*url_get)(CURLU *u, CURLUPart part, char **content, unsigned int flags);
	void (*url_cleanup)(CURLU *u);
	void (*free)(void *p);
	curl_version_info_data *(*version_info)(CURLversion v);
};

/* Stand-ins when libcurl is missing: every way into libcurl starts with one
 * of the first four, which fail; the rest are never reached then, but are
 * safe to call. */
static CURLcode no_global_init(long flags)
{
	(void)flags;
	return CURLE_FAILED_INIT;
}
static CURL *no_easy_init(void)
{
	return NULL;
}
static struct curl_slist *no_slist_append(struct curl_slist *list, const char *s)
{
	(void)list;
	(void)s;
	return NULL;
}
static CURLU *no_url(void)
{
	return NULL;
}
static CURLcode no_easy_setopt(CURL *h, CURLoption opt, ...)
{
	(void)h;
	(void)opt;
	return CURLE_FAILED_INIT;
}
static CURLcode no_easy_perform(CURL *h)
{
	(void)h;
	return CURLE_FAILED_INIT;
}
static CURLcode no_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	(void)h;
	(void)info;
	return CURLE_FAILED_INIT;
}
static void no_easy_cleanup(CURL *h)
{
	(void)h;
}
static const char *no_easy_strerror(CURLcode code)
{
	(void)code;
	return "libcurl is not available";
}
static void no_slist_free_all(struct curl_slist *list)
{
	(void)list;
}
static CURLUcode no_url_set(CURLU *u, CURLUPart part, const char *content, unsigned int flags)
{
	(void)u, (void)part, (void)content, (void)flags;
	return CURLUE_OUT_OF_MEMORY;
}
static CURLUcode no_url_get(CURLU *u, CURLUPart part, char **content, unsigned int flags)
{
	(void)u, (void)part, (void)content, (void)flags;
	return CURLUE_OUT_OF_MEMORY;
}
static void no_url_cleanup(CURLU *u)
{
	(void)u;
}
static void no_free(void *p)
{
	(void)p;
}
static curl_version_info_data *no_version_info(CURLversion v)
{
	(void)v;
	return NULL;
}

static const struct curl_dl missing = {
    no_global_init,  no_easy_init,     no_easy_setopt,  no_easy_perform,   no_easy_getinfo,
    no_easy_cleanup, no_easy_strerror, no_slist_append, no_slist_free_all, no_url,
    no_url_set,      no_url_get,       no_url_cleanup,  no_free,           no_version_info,
};

static struct curl_dl table;
static const struct curl_dl *active = &missing;
static char why[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	void *h = dlopen(SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(why, sizeof(why), "cannot load %s: %s", SONAME, e ? e : "unknown error");
		return;
	}
	/* Each name and where its pointer goes; POSIX guarantees that a data
	 * pointer from dlsym converts to a function pointer. */
	struct {
		const char *name;
		void **slot;
	} syms[] = {
	    {"curl_global_init", (void **)&table.global_init},
	    {"curl_easy_init", (void **)&table.easy_init},
	    {"curl_easy_setopt", (void **)&table.easy_setopt},
	    {"curl_easy_perform", (void **)&table.easy_perform},
	    {"curl_easy_getinfo", (void **)&table.easy_getinfo},
	    {"curl_easy_cleanup", (void **)&table.easy_cleanup},
	    {"curl_easy_strerror", (void **)&table.easy_strerror},
	    {"curl_slist_append", (void **)&table.slist_append},
	    {"curl_slist_free_all", (void **)&table.slist_free_all},
	    {"curl_url", (void **)&table.url},
	    {"curl_url_set", (void **)&table.url_set},
	    {"curl_url_get", (void **)&table.url_get},
	    {"curl_url_cleanup", (void **)&table.url_cleanup},
	    {"curl_free", (void **)&table.free},
	    {"curl_version_info", (void **)&table.version_info},
	};
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *p = dlsym(h, syms[i].name);
		if (!p) {
			snprintf(why, sizeof(why), "%s has no %s: libcurl 7.85 or newer is needed",
			         SONAME, syms[i].name);
			dlclose(h);
			return;
		}
		*syms[i].slot = p;
	}
	const curl_version_info_data *v = table.version_info(CURLVERSION_NOW);
	if (!v || v->version_num < NEED_VERSION) {
		snprintf(why, sizeof(why), "%s is libcurl %s: 7.85 or newer is needed", SONAME,
		         v && v->version ? v->version : "of unknown version");
		dlclose(h);
		return;
	}
	active = &table; /* handle kept: libcurl stays loaded */
}

static const struct curl_dl *curl_dl(void)
{
	pthread_once(&once, load);
	return active;
}

const char *curl_dl_error(void)
{
	curl_dl();
	return why;
}

/* The functions <curl/curl.h> declares, by their names (the parentheses
 * keep curl's function-like macros from expanding here). */

CURLcode(curl_global_init)(long flags)
{
	return curl_dl()->global_init(flags);
}

CURL *(curl_easy_init)(void)
{
	return curl_dl()->easy_init();
}

CURLcode(curl_easy_setopt)(CURL *h, CURLoption opt, ...)
{
	va_list ap;
	va_start(ap, opt);
	CURLcode rc;
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = curl_dl()->easy_setopt(h, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = curl_dl()->easy_setopt(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = curl_dl()->easy_setopt(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = curl_dl()->easy_setopt(h, opt, va_arg(ap, curl_off_t));
	else
		rc = curl_dl()->easy_setopt(h, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode(curl_easy_perform)(CURL *h)
{
	return curl_dl()->easy_perform(h);
}

CURLcode(curl_easy_getinfo)(CURL *h, CURLINFO info, ...)
{
	va_list ap;
	va_start(ap, info);
	CURLcode rc = curl_dl()->easy_getinfo(h, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

void(curl_easy_cleanup)(CURL *h)
{
	curl_dl()->easy_cleanup(h);
}

const char *(curl_easy_strerror)(CURLcode code)
{
	return curl_dl()->easy_strerror(code);
}

struct curl_slist *(curl_slist_append)(struct curl_slist *list, const char *s)
{
	return curl_dl()->slist_append(list, s);
}

void(curl_slist_free_all)(struct curl_slist *list)
{
	curl_dl()->slist_free_all(list);
}

CURLU *(curl_url)(void)
{
	return curl_dl()->url();
}

CURLUcode(curl_url_set)(CURLU *u, CURLUPart part, const char *content, unsigned int flags)
{
	return curl_dl()->url_set(u, part, content, flags);
}

CURLUcode curl_dl_url_get(CURLU *u, CURLUPart part, char **content, unsigned int flags)
{
	return curl_dl()->url_get(u, part, content, flags);
}

void(curl_url_cleanup)(CURLU *u)
{
	curl_dl()->url_cleanup(u);
}

void(curl_free)(void *p)
{
	curl_dl()->free(p);
}
