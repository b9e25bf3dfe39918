/* SPDX-License-Identifier: Apache-2.0 */
#include "alloc.h"

#include <stdint.h>
#include <stdio.h>

#include "banned.h"

void oom(void) {
	static const char msg[] = "zlayer-agent: out of memory\n";
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	abort();
}

void *xmalloc(size_t n) {
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t nmemb, size_t size) {
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n) {
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom();
	return q;
}

void *xgrow(void *p, size_t *alloc, size_t need, size_t sz) {
	size_t n;

	if (need <= *alloc)
		return p;
	n = *alloc ? *alloc : 4;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			oom();
		n *= 2;
	}
	if (n > SIZE_MAX / sz)
		oom();
	p = xrealloc(p, n * sz);
	*alloc = n;
	return p;
}

char *xstrdup(const char *s) {
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n) {
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

char *xvasprintf(const char *fmt, va_list ap) {
	char *p;
	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...) {
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

char **strv_copy(char *const *l) {
	size_t n = strv_length(l);
	char **r = xnew(char *, n + 1);

	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(l[i]);
	return r;
}

void strv_push(char ***l, const char *s) {
	size_t n = strv_length(*l);

	*l = xrealloc(*l, (n + 2) * sizeof(char *));
	(*l)[n] = xstrdup(s);
	(*l)[n + 1] = NULL;
}
