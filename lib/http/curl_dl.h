/* curl_dl.h: libcurl, loaded when first used instead of at program start.
 *
 * libcurl brings some 30 libraries with it (GnuTLS, Kerberos, LDAP, ...),
 * whose loading and constructors cost a few milliseconds at every start of
 * every program that links it, and their pages in every process. Loaded with
 * dlopen(3) on first use, only what talks to a store or a webhook pays.
 *
 * Only lib/http includes this. It includes <curl/curl.h> as it is, with
 * curl's compile-time type checks of curl_easy_setopt and curl_easy_getinfo
 * on: curl_dl.c defines the libcurl functions lib/http calls, with their
 * prototypes from <curl/curl.h>, each forwarding to the function of that
 * name in libcurl.so.4, found the first time any of them is called
 * (thread-safe). When libcurl cannot be loaded, or is older than 7.85 (the
 * options lib/http sets, CURLOPT_PROTOCOLS_STR first), the calls that start
 * something fail (curl_easy_init, curl_url and curl_slist_append return NULL,
 * curl_global_init CURLE_FAILED_INIT) and curl_dl_error() says why; no other
 * call can then be reached. */
#pragma once

#include <curl/curl.h>

#if LIBCURL_VERSION_NUM < 0x075500
#error "libcurl 7.85 or newer is needed (CURLOPT_PROTOCOLS_STR)"
#endif

/* curl_url_get by another name (see curl_dl.c). */
CURLUcode curl_dl_url_get(CURLU *u, CURLUPart part, char **content, unsigned int flags);

/* Why libcurl could not be loaded ("" when it was). */
const char *curl_dl_error(void);
