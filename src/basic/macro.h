/* SPDX-License-Identifier: Apache-2.0 */
/* Small language helpers shared by every module: cleanup attributes,
 * ownership transfer, string equality, array sizes. No allocation here. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f)         __attribute__((cleanup(f)))
#define _printf_(a, b)       __attribute__((format(printf, a, b)))
#define _unused_             __attribute__((unused))
#define _noreturn_           __attribute__((noreturn))
#define _fallthrough_        __attribute__((fallthrough))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _likely_(x)          __builtin_expect(!!(x), 1)
#define _unlikely_(x)        __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x)   (sizeof(x) / sizeof((x)[0]))
#define streq(a, b)     (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)
#define MIN(a, b)       ((a) < (b) ? (a) : (b))
#define MAX(a, b)       ((a) > (b) ? (a) : (b))

/* Hand ownership of a pointer or fd to the caller and disarm the cleanup. */
#define TAKE_PTR(p)                         \
	({                                  \
		__typeof__(p) *_pp_ = &(p); \
		__typeof__(p) _p_ = *_pp_;  \
		*_pp_ = NULL;               \
		_p_;                        \
	})
#define TAKE_FD(fd)                 \
	({                          \
		int *_pfd_ = &(fd); \
		int _fd_ = *_pfd_;  \
		*_pfd_ = -1;        \
		_fd_;               \
	})

static inline void freep(void *p) {
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd) {
	if (fd >= 0) {
		int saved = errno;
		(void)close(fd);
		errno = saved;
	}
	return -1;
}
static inline void closep(int *fd) {
	safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline FILE *safe_fclose(FILE *f) {
	if (f)
		(void)fclose(f);
	return NULL;
}
static inline void fclosep(FILE **f) {
	safe_fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Define `funcp(type *)` that calls `func` on a non-NULL handle, for use as
 * _cleanup_(funcp) with library handles (curl, archive, sqlite, json). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
	static inline void func##p(type *p) {   \
		if (*p)                         \
			func(*p);               \
	}

/* A NULL-terminated array of strings. */
static inline size_t strv_length(char *const *l) {
	size_t n = 0;
	if (l)
		while (l[n])
			n++;
	return n;
}
static inline char **strv_free(char **l) {
	if (l) {
		for (char **i = l; *i; i++)
			free(*i);
		free(l);
	}
	return NULL;
}
static inline void strv_freep(char ***l) {
	strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
#define STRV_FOREACH(s, l)  for (char **s = (l); s && *s; s++)

static inline bool isempty(const char *s) {
	return !s || !*s;
}
static inline const char *strempty(const char *s) {
	return s ? s : "";
}
static inline const char *strna(const char *s) {
	return s ? s : "n/a";
}
