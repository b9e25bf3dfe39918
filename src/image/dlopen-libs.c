/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl and libarchive on demand, in zlayer-agentd only.
 *
 * The daemon links neither library: this file defines the functions of
 * theirs the agent calls, and the first call of one dlopen()s its library
 * and resolves them all. A daemon that has not transferred an image (nor run
 * an HTTP health check) since it started maps neither, nor the ~30 libraries
 * they pull in (Kerberos, LDAP, libssh2, librtmp, libpsl, libxml2, ICU,
 * libstdc++, ...): 3.9 MiB less resident memory, a third of an idle
 * daemon's (bench/restart.sh). systemd loads its optional libraries so.
 *
 * Our definitions are not exported (the daemon is linked without the
 * libraries, so nothing asks for them), so the libraries' calls among their
 * own functions stay inside them. The compiler checks each definition
 * against the library's header, and the linker names any function the
 * agent comes to use that is missing here ("undefined reference to
 * curl_..."): add it to the lists below. Unit tests and the other programs
 * link the libraries as usual. */
#define CURL_DISABLE_TYPECHECK /* else curl_easy_setopt() is a macro */
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/macro.h"
#include "basic/banned.h"

/* The ABI versions the daemon was built against (stable since 2006 and
 * 2012). */
#define LIBCURL_SONAME    "libcurl.so.4"
#define LIBARCHIVE_SONAME "libarchive.so.13"
#define ARCHIVE_ERROR_MAX 1024
#define MISSING_CURL      "libcurl could not be loaded (see the daemon's log)"
#define MISSING_ARCHIVE   "libarchive could not be loaded (see the daemon's log)"

struct dl_library {
	const char *soname;
	pthread_once_t once;
	void *handle;
	bool ok;
};

static bool dl_open(struct dl_library *l) {
	/* NODELETE: nothing is ever unloaded, whatever the library does at exit */
	l->handle = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	/* No caller can carry this cause: its failure shows as "cannot create
	 * a curl handle", so the reason is logged here, once. */
	if (!l->handle)
		log_error("cannot load %s: %s; image transfers need it: reinstall the package that provides it",
		          l->soname, dlerror());
	return l->handle;
}

static bool dl_sym(struct dl_library *l, const char *name, void **ret) {
	*ret = dlsym(l->handle, name);
	if (!*ret)
		log_error("cannot find %s in %s: %s; the library is older than the agent expects", name, l->soname,
		          dlerror());
	return *ret;
}

/* The lists: return type, name, parameters, arguments, the value returned
 * when the library is missing (only a constructor's matters: nothing else
 * can be reached without its result). */
#define CURL_FUNCTIONS(X)                                                                               \
	X(CURLcode, curl_global_init, (long flags), (flags), CURLE_FAILED_INIT)                         \
	X(CURL *, curl_easy_init, (void), (), NULL)                                                     \
	X(CURLcode, curl_easy_perform, (CURL * h), (h), CURLE_FAILED_INIT)                              \
	X(const char *, curl_easy_strerror, (CURLcode c), (c), MISSING_CURL)                            \
	X(char *, curl_easy_escape, (CURL * h, const char *s, int n), (h, s, n), NULL)                  \
	X(struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s), (l, s), NULL) \
	X(CURLM *, curl_multi_init, (void), (), NULL)                                                   \
	X(CURLMcode, curl_multi_add_handle, (CURLM * m, CURL * h), (m, h), CURLM_INTERNAL_ERROR)        \
	X(CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL * h), (m, h), CURLM_INTERNAL_ERROR)     \
	X(CURLMcode, curl_multi_poll,                                                                   \
	  (CURLM * m, struct curl_waitfd extra[], unsigned int n_extra, int timeout_ms, int *ret),      \
	  (m, extra, n_extra, timeout_ms, ret), CURLM_INTERNAL_ERROR)                                   \
	X(CURLMcode, curl_multi_perform, (CURLM * m, int *running), (m, running), CURLM_INTERNAL_ERROR) \
	X(CURLMcode, curl_multi_cleanup, (CURLM * m), (m), CURLM_INTERNAL_ERROR)                        \
	X(CURLMsg *, curl_multi_info_read, (CURLM * m, int *left), (m, left), NULL)                     \
	X(const char *, curl_multi_strerror, (CURLMcode c), (c), MISSING_CURL)                          \
	X(CURLU *, curl_url, (void), (), NULL)                                                          \
	X(CURLUcode, curl_url_get, (CURLU * u, CURLUPart what, char **part, unsigned int flags),        \
	  (u, what, part, flags), CURLUE_OUT_OF_MEMORY)                                                 \
	X(CURLUcode, curl_url_set, (CURLU * u, CURLUPart what, const char *part, unsigned int flags),   \
	  (u, what, part, flags), CURLUE_OUT_OF_MEMORY)                                                 \
	X(const char *, curl_url_strerror, (CURLUcode c), (c), MISSING_CURL)

#define CURL_VOID_FUNCTIONS(X)                               \
	X(curl_easy_cleanup, (CURL * h), (h))                \
	X(curl_easy_reset, (CURL * h), (h))                  \
	X(curl_free, (void *p), (p))                         \
	X(curl_slist_free_all, (struct curl_slist * l), (l)) \
	X(curl_url_cleanup, (CURLU * u), (u))

#define ARCHIVE_FUNCTIONS(X)                                                                                           \
	X(struct archive *, archive_read_new, (void), (), NULL)                                                        \
	X(int, archive_read_free, (struct archive * a), (a), ARCHIVE_FATAL)                                            \
	X(int, archive_read_support_filter_all, (struct archive * a), (a), ARCHIVE_FATAL)                              \
	X(int, archive_read_support_filter_gzip, (struct archive * a), (a), ARCHIVE_FATAL)                             \
	X(int, archive_read_support_filter_zstd, (struct archive * a), (a), ARCHIVE_FATAL)                             \
	X(int, archive_read_support_format_gnutar, (struct archive * a), (a), ARCHIVE_FATAL)                           \
	X(int, archive_read_support_format_raw, (struct archive * a), (a), ARCHIVE_FATAL)                              \
	X(int, archive_read_support_format_tar, (struct archive * a), (a), ARCHIVE_FATAL)                              \
	X(int, archive_read_open,                                                                                      \
	  (struct archive * a, void *data, archive_open_callback *on_open, archive_read_callback *on_read,             \
	   archive_close_callback *on_close),                                                                          \
	  (a, data, on_open, on_read, on_close), ARCHIVE_FATAL)                                                        \
	X(int, archive_read_open_filename, (struct archive * a, const char *path, size_t block), (a, path, block),     \
	  ARCHIVE_FATAL)                                                                                               \
	X(int, archive_read_next_header, (struct archive * a, struct archive_entry * *e), (a, e), ARCHIVE_FATAL)       \
	X(la_ssize_t, archive_read_data, (struct archive * a, void *buf, size_t n), (a, buf, n), ARCHIVE_FATAL)        \
	X(int, archive_read_data_block, (struct archive * a, const void **buf, size_t *n, la_int64_t *offset),         \
	  (a, buf, n, offset), ARCHIVE_FATAL)                                                                          \
	X(int, archive_read_data_into_fd, (struct archive * a, int fd), (a, fd), ARCHIVE_FATAL)                        \
	X(int, archive_errno, (struct archive * a), (a), ENOSYS)                                                       \
	X(const char *, archive_error_string, (struct archive * a), (a), MISSING_ARCHIVE)                              \
	X(time_t, archive_entry_atime, (struct archive_entry * e), (e), 0)                                             \
	X(int, archive_entry_atime_is_set, (struct archive_entry * e), (e), 0)                                         \
	X(long, archive_entry_atime_nsec, (struct archive_entry * e), (e), 0)                                          \
	X(time_t, archive_entry_mtime, (struct archive_entry * e), (e), 0)                                             \
	X(int, archive_entry_mtime_is_set, (struct archive_entry * e), (e), 0)                                         \
	X(long, archive_entry_mtime_nsec, (struct archive_entry * e), (e), 0)                                          \
	X(__LA_MODE_T, archive_entry_filetype, (struct archive_entry * e), (e), 0)                                     \
	X(__LA_MODE_T, archive_entry_perm, (struct archive_entry * e), (e), 0)                                         \
	X(la_int64_t, archive_entry_uid, (struct archive_entry * e), (e), 0)                                           \
	X(la_int64_t, archive_entry_gid, (struct archive_entry * e), (e), 0)                                           \
	X(la_int64_t, archive_entry_size, (struct archive_entry * e), (e), 0)                                          \
	X(dev_t, archive_entry_rdevmajor, (struct archive_entry * e), (e), 0)                                          \
	X(dev_t, archive_entry_rdevminor, (struct archive_entry * e), (e), 0)                                          \
	X(const char *, archive_entry_pathname, (struct archive_entry * e), (e), NULL)                                 \
	X(const char *, archive_entry_pathname_utf8, (struct archive_entry * e), (e), NULL)                            \
	X(const char *, archive_entry_hardlink, (struct archive_entry * e), (e), NULL)                                 \
	X(const char *, archive_entry_symlink, (struct archive_entry * e), (e), NULL)                                  \
	X(int, archive_entry_xattr_reset, (struct archive_entry * e), (e), 0)                                          \
	X(int, archive_entry_xattr_next, (struct archive_entry * e, const char **name, const void **value, size_t *n), \
	  (e, name, value, n), ARCHIVE_WARN)

#define FIELD(ret, name, params, args, missing) ret(*name) params;
#define VOID_FIELD(name, params, args)          void(*name) params;
/* with l (the library) and f (its struct) in scope */
#define RESOLVE(ret, name, params, args, missing) ok = dl_sym(l, #name, (void **)&f->name) && ok;
#define VOID_RESOLVE(name, params, args)          ok = dl_sym(l, #name, (void **)&f->name) && ok;

/* --- libcurl ----------------------------------------------------------------------------- */

static struct {
	CURL_FUNCTIONS(FIELD)
	CURL_VOID_FUNCTIONS(VOID_FIELD)
	CURLcode (*curl_easy_setopt)(CURL *h, CURLoption option, ...);
	CURLcode (*curl_easy_getinfo)(CURL *h, CURLINFO info, ...);
} curl_fn;

static struct dl_library curl_lib = { .soname = LIBCURL_SONAME, .once = PTHREAD_ONCE_INIT };

static void curl_resolve(void) {
	struct dl_library *l = &curl_lib;
	__typeof__(curl_fn) *f = &curl_fn;
	bool ok = true;

	if (!dl_open(l))
		return;
	CURL_FUNCTIONS(RESOLVE)
	CURL_VOID_FUNCTIONS(VOID_RESOLVE)
	ok = dl_sym(l, "curl_easy_setopt", (void **)&f->curl_easy_setopt) && ok;
	ok = dl_sym(l, "curl_easy_getinfo", (void **)&f->curl_easy_getinfo) && ok;
	l->ok = ok;
}

static bool curl_load(void) {
	(void)pthread_once(&curl_lib.once, curl_resolve);
	return curl_lib.ok;
}

#define CURL_WRAPPER(ret, name, params, args, missing) \
	ret name params {                              \
		if (!curl_load())                      \
			return missing;                \
		return curl_fn.name args;              \
	}
#define CURL_VOID_WRAPPER(name, params, args) \
	void name params {                    \
		if (curl_load())              \
			curl_fn.name args;    \
	}
CURL_FUNCTIONS(CURL_WRAPPER)
CURL_VOID_FUNCTIONS(CURL_VOID_WRAPPER)

/* The one argument after option is a long, an object or function pointer,
 * a curl_off_t or a blob pointer, by the option's number, as libcurl itself
 * reads it. */
CURLcode curl_easy_setopt(CURL *h, CURLoption option, ...) {
	typedef void (*any_function)(void);
	CURLcode r;
	va_list ap;

	if (!curl_load())
		return CURLE_FAILED_INIT;
	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		r = curl_fn.curl_easy_setopt(h, option, va_arg(ap, long));
	else if (option < CURLOPTTYPE_FUNCTIONPOINT)
		r = curl_fn.curl_easy_setopt(h, option, va_arg(ap, void *));
	else if (option < CURLOPTTYPE_OFF_T)
		r = curl_fn.curl_easy_setopt(h, option, va_arg(ap, any_function));
	else if (option < CURLOPTTYPE_BLOB)
		r = curl_fn.curl_easy_setopt(h, option, va_arg(ap, curl_off_t));
	else
		r = curl_fn.curl_easy_setopt(h, option, va_arg(ap, void *));
	va_end(ap);
	return r;
}

/* Every CURLINFO takes a pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...) {
	CURLcode r;
	va_list ap;

	if (!curl_load())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	r = curl_fn.curl_easy_getinfo(h, info, va_arg(ap, void *));
	va_end(ap);
	return r;
}

/* --- libarchive -------------------------------------------------------------------------- */

static struct {
	ARCHIVE_FUNCTIONS(FIELD)
	void (*archive_set_error)(struct archive *a, int err, const char *fmt, ...);
} archive_fn;

static struct dl_library archive_lib = { .soname = LIBARCHIVE_SONAME, .once = PTHREAD_ONCE_INIT };

static void archive_resolve(void) {
	struct dl_library *l = &archive_lib;
	__typeof__(archive_fn) *f = &archive_fn;
	bool ok = true;

	if (!dl_open(l))
		return;
	ARCHIVE_FUNCTIONS(RESOLVE)
	ok = dl_sym(l, "archive_set_error", (void **)&f->archive_set_error) && ok;
	l->ok = ok;
}

static bool archive_load(void) {
	(void)pthread_once(&archive_lib.once, archive_resolve);
	return archive_lib.ok;
}

#define ARCHIVE_WRAPPER(ret, name, params, args, missing) \
	ret name params {                                 \
		if (!archive_load())                      \
			return missing;                   \
		return archive_fn.name args;              \
	}
ARCHIVE_FUNCTIONS(ARCHIVE_WRAPPER)

/* Formatted here: a va_list cannot be passed on to a variadic function. */
void archive_set_error(struct archive *a, int err, const char *fmt, ...) {
	char msg[ARCHIVE_ERROR_MAX];
	va_list ap;

	if (!archive_load())
		return;
	if (!fmt) {
		archive_fn.archive_set_error(a, err, NULL); /* clears the error */
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	archive_fn.archive_set_error(a, err, "%s", msg);
}
