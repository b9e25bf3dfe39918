/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation wrappers that abort on out-of-memory: the one place where the
 * agent gives up instead of returning an error (STYLE.md, Errors). */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "macro.h"

_noreturn_ void oom(void);
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grow *p (holding *alloc elements of size sz) to hold at least `need`. */
void *xgrow(void *p, size_t *alloc, size_t need, size_t sz);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);
char **strv_copy(char *const *l);
/* Append a copy of s to the NULL-terminated *l. */
void strv_push(char ***l, const char *s);

#define xnew(type, n)          ((type *)xcalloc((n), sizeof(type)))
#define GROW(arr, alloc, need) ((arr) = xgrow((arr), &(alloc), (need), sizeof(*(arr))))
