/* curl_dl.h: libcurl, loaded when first used instead of at program start.
 *
 * libcurl brings some 30 libraries with it (GnuTLS, Kerberos, LDAP, ...),
 * whose loading and constructors cost a few milliseconds at every start of
 * every program that links it, and their pages in every process. Loaded with
 * dlopen(3) on first use, only what talks to a store or a webhook pays.
 *
 * Include this instead of <curl/curl.h>: the libcurl calls below then go
 * through a table of pointers, filled from libcurl.so.4 the first time any
 * of them is made (thread-safe). When libcurl cannot be loaded, the calls
 * that start something fail (curl_easy_init, curl_url and curl_slist_append
 * return NULL, curl_global_init CURLE_FAILED_INIT) and curl_dl_error() says
 * why; no other call can then be reached. */
#pragma once

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

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
	CURLUcode (*url_get)(const CURLU *u, CURLUPart part, char **content, unsigned int flags);
	void (*url_cleanup)(CURLU *u);
	void (*free)(void *p);
};

/* The table, filled on first use. */
const struct curl_dl *curl_dl(void);

/* Why libcurl could not be loaded ("" when it was). */
const char *curl_dl_error(void);

#define curl_global_init (curl_dl()->global_init)
#define curl_easy_init (curl_dl()->easy_init)
#undef curl_easy_setopt
#define curl_easy_setopt (curl_dl()->easy_setopt)
#define curl_easy_perform (curl_dl()->easy_perform)
#undef curl_easy_getinfo
#define curl_easy_getinfo (curl_dl()->easy_getinfo)
#define curl_easy_cleanup (curl_dl()->easy_cleanup)
#define curl_easy_strerror (curl_dl()->easy_strerror)
#define curl_slist_append (curl_dl()->slist_append)
#define curl_slist_free_all (curl_dl()->slist_free_all)
#define curl_url (curl_dl()->url)
#define curl_url_set (curl_dl()->url_set)
#define curl_url_get (curl_dl()->url_get)
#define curl_url_cleanup (curl_dl()->url_cleanup)
#define curl_free (curl_dl()->free)
