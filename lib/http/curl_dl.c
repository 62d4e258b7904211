/* curl_dl.c: libcurl loaded on first use (curl_dl.h). */
#include "http/curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

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
static CURLUcode no_url_get(const CURLU *u, CURLUPart part, char **content, unsigned int flags)
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

static const struct curl_dl missing = {
    no_global_init,  no_easy_init,     no_easy_setopt,  no_easy_perform,   no_easy_getinfo,
    no_easy_cleanup, no_easy_strerror, no_slist_append, no_slist_free_all, no_url,
    no_url_set,      no_url_get,       no_url_cleanup,  no_free,
};

static struct curl_dl table;
static const struct curl_dl *active = &missing;
static char why[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define SONAME "libcurl.so.4"

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
	};
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *p = dlsym(h, syms[i].name);
		if (!p) {
			snprintf(why, sizeof(why), "%s has no %s: libcurl 7.80 or newer is needed",
			         SONAME, syms[i].name);
			dlclose(h);
			return;
		}
		*syms[i].slot = p;
	}
	active = &table; /* handle kept: libcurl stays loaded */
}

const struct curl_dl *curl_dl(void)
{
	pthread_once(&once, load);
	return active;
}

const char *curl_dl_error(void)
{
	curl_dl();
	return why;
}
