/* SPDX-License-Identifier: Apache-2.0 */
/* Crash points: a fixed table of armed names with reach counters, parsed
 * once; reaching an armed point writes one line to stderr (unbuffered, so
 * it is in the log even though nothing after it runs) and raises SIGKILL. */
#include "basic/crashpoint.h"

#include <signal.h>
#include <stdatomic.h>

#include "basic/alloc.h"
#include "basic/parse.h"
#include "basic/banned.h"

#define CRASHPOINT_MAX      32 /* points armed at once */
#define CRASHPOINT_NAME_MAX 64 /* bytes of a name */
#define CRASHPOINT_SPEC_MAX 4096

struct crashpoint_entry {
	char name[CRASHPOINT_NAME_MAX + 1];
	unsigned nth; /* the reach that kills, from 1 */
	atomic_uint reached;
};

struct crashpoint_set {
	struct crashpoint_entry entries[CRASHPOINT_MAX];
	size_t n;
};

struct crashpoint_set *crashpoint_armed = NULL;

static bool valid_name(const char *s, size_t n) {
	if (n == 0 || n > CRASHPOINT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

int crashpoint_arm(const char *spec) {
	struct crashpoint_set *set, *old = crashpoint_armed;
	const char *p;

	if (isempty(spec)) {
		crashpoint_armed = NULL;
		free(old);
		return 0;
	}
	if (strlen(spec) > CRASHPOINT_SPEC_MAX)
		return -E2BIG;
	set = xnew(struct crashpoint_set, 1);
	for (p = spec; *p;) {
		size_t len = strcspn(p, ","), nlen = len;
		const char *at = memchr(p, '@', len);
		struct crashpoint_entry *e;
		unsigned nth = 1;

		if (at) {
			_cleanup_free_ char *num = xstrndup(at + 1, len - (size_t)(at - p) - 1);
			uint64_t v;
			nlen = (size_t)(at - p);
			if (parse_uint64(num, &v) < 0 || v == 0 || v > 1000000) {
				free(set);
				return -EINVAL;
			}
			nth = (unsigned)v;
		}
		if (!valid_name(p, nlen) || set->n == CRASHPOINT_MAX) {
			int r = set->n == CRASHPOINT_MAX ? -E2BIG : -EINVAL;
			free(set);
			return r;
		}
		e = &set->entries[set->n++];
		memcpy(e->name, p, nlen);
		e->name[nlen] = '\0';
		e->nth = nth;
		atomic_init(&e->reached, 0);
		p += len;
		if (*p == ',')
			p++;
	}
	crashpoint_armed = set;
	free(old);
	return 0;
}

int crashpoint_setup(void) {
	const char *v = getenv(CRASHPOINT_ENV);
	int r;

	if (!v)
		return 0;
	r = crashpoint_arm(v);
	(void)unsetenv(CRASHPOINT_ENV);
	return r;
}

void crashpoint_reached(const char *name) {
	struct crashpoint_set *set = crashpoint_armed;

	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++) {
		struct crashpoint_entry *e = &set->entries[i];
		char line[256];
		int n;

		if (!streq(e->name, name) || atomic_fetch_add(&e->reached, 1) + 1 != e->nth)
			continue;
		n = snprintf(line, sizeof(line), "crash point '%s' reached: killing the daemon (" CRASHPOINT_ENV ")\n",
		             name);
		if (n > 0)
			(void)!write(STDERR_FILENO, line, MIN((size_t)n, sizeof(line) - 1));
		(void)raise(SIGKILL);
		_exit(137); /* not reached */
	}
}
