/* SPDX-License-Identifier: Apache-2.0 */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "macro.h"
#include "banned.h"

int parse_int64(const char *s, int64_t *ret) {
	char *end;
	long long v;

	if (isempty(s) || isspace((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	if (errno)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_uint64(const char *s, uint64_t *ret) {
	char *end;
	unsigned long long v;

	if (isempty(s) || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	if (errno)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_int32(const char *s, int32_t *ret) {
	int64_t v;
	int r = parse_int64(s, &v);

	if (r < 0)
		return r;
	if (v < INT32_MIN || v > INT32_MAX)
		return -ERANGE;
	*ret = (int32_t)v;
	return 0;
}

int parse_uint32(const char *s, uint32_t *ret) {
	uint64_t v;
	int r = parse_uint64(s, &v);

	if (r < 0)
		return r;
	if (v > UINT32_MAX)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

int parse_double(const char *s, double *ret) {
	const char *p = s;
	char *end;
	double v;
	bool digits = false;

	if (isempty(s))
		return -EINVAL;
	/* Only plain decimal notation: [+-]digits[.digits][e[+-]digits] */
	if (*p == '+' || *p == '-')
		p++;
	while (isdigit((unsigned char)*p))
		p++, digits = true;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			digits = true;
	if (!digits)
		return -EINVAL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || !isfinite(v))
		return -ERANGE;
	*ret = v;
	return 0;
}

int parse_bool(const char *s) {
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -EINVAL;
}

static const struct {
	const char *suffix;
	uint64_t nsec;
} duration_units[] = {
	/* longest first within each prefix family */
	{ "nanoseconds", 1 },
	{ "nanosecond", 1 },
	{ "nsec", 1 },
	{ "ns", 1 },
	{ "microseconds", NSEC_PER_USEC },
	{ "microsecond", NSEC_PER_USEC },
	{ "usec", NSEC_PER_USEC },
	{ "us", NSEC_PER_USEC },
	{ "µs", NSEC_PER_USEC },
	{ "milliseconds", NSEC_PER_MSEC },
	{ "millisecond", NSEC_PER_MSEC },
	{ "msec", NSEC_PER_MSEC },
	{ "ms", NSEC_PER_MSEC },
	{ "seconds", NSEC_PER_SEC },
	{ "second", NSEC_PER_SEC },
	{ "secs", NSEC_PER_SEC },
	{ "sec", NSEC_PER_SEC },
	{ "s", NSEC_PER_SEC },
	{ "minutes", NSEC_PER_MINUTE },
	{ "minute", NSEC_PER_MINUTE },
	{ "mins", NSEC_PER_MINUTE },
	{ "min", NSEC_PER_MINUTE },
	{ "m", NSEC_PER_MINUTE },
	{ "hours", NSEC_PER_HOUR },
	{ "hour", NSEC_PER_HOUR },
	{ "hrs", NSEC_PER_HOUR },
	{ "hr", NSEC_PER_HOUR },
	{ "h", NSEC_PER_HOUR },
	{ "days", NSEC_PER_DAY },
	{ "day", NSEC_PER_DAY },
	{ "d", NSEC_PER_DAY },
};

static int add_u64(uint64_t *acc, uint64_t v) {
	if (*acc > UINT64_MAX - v)
		return -ERANGE;
	*acc += v;
	return 0;
}

static int mul_u64(uint64_t a, uint64_t b, uint64_t *ret) {
	if (a && b > UINT64_MAX / a)
		return -ERANGE;
	*ret = a * b;
	return 0;
}

int parse_duration(const char *s, uint64_t *ret_nsec) {
	const char *p = s;
	uint64_t total = 0;
	int r;

	if (isempty(s))
		return -EINVAL;

	while (*p) {
		uint64_t whole = 0, frac = 0, frac_div = 1, unit = 0, v;
		size_t ulen = 0;
		bool digits = false;

		while (isdigit((unsigned char)*p)) {
			digits = true;
			if ((r = mul_u64(whole, 10, &whole)) < 0 || (r = add_u64(&whole, (uint64_t)(*p - '0'))) < 0)
				return r;
			p++;
		}
		if (*p == '.') {
			p++;
			while (isdigit((unsigned char)*p)) {
				digits = true;
				if (frac_div <= UINT64_MAX / 100) { /* ignore digits past 1e-18 */
					frac = frac * 10 + (uint64_t)(*p - '0');
					frac_div *= 10;
				}
				p++;
			}
		}
		if (!digits)
			return -EINVAL;
		while (*p == ' ')
			p++;
		for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
			size_t l = strlen(duration_units[i].suffix);
			if (strneq(p, duration_units[i].suffix, l) && !isalpha((unsigned char)p[l])) {
				unit = duration_units[i].nsec;
				ulen = l;
				break;
			}
		}
		if (!unit)
			return -EINVAL;
		p += ulen;
		if ((r = mul_u64(whole, unit, &v)) < 0 || (r = add_u64(&total, v)) < 0)
			return r;
		if (frac) {
			/* frac/frac_div of a unit; unit <= 8.64e13 and frac < 1e18 can
			 * overflow, so go through long double for the fraction only. */
			long double f = (long double)frac * (long double)unit / (long double)frac_div;
			if ((r = add_u64(&total, (uint64_t)(f + 0.5L))) < 0)
				return r;
		}
		if (*p == ' ') {
			while (*p == ' ')
				p++;
			if (!*p)
				return -EINVAL; /* trailing space */
		}
	}
	*ret_nsec = total;
	return 0;
}

static const struct {
	const char *suffix;
	uint64_t factor;
} size_units[] = {
	{ "KiB", UINT64_C(1) << 10 },
	{ "MiB", UINT64_C(1) << 20 },
	{ "GiB", UINT64_C(1) << 30 },
	{ "TiB", UINT64_C(1) << 40 },
	{ "PiB", UINT64_C(1) << 50 },
	{ "EiB", UINT64_C(1) << 60 },
	{ "Ki", UINT64_C(1) << 10 },
	{ "Mi", UINT64_C(1) << 20 },
	{ "Gi", UINT64_C(1) << 30 },
	{ "Ti", UINT64_C(1) << 40 },
	{ "Pi", UINT64_C(1) << 50 },
	{ "Ei", UINT64_C(1) << 60 },
	{ "kB", UINT64_C(1000) },
	{ "KB", UINT64_C(1000) },
	{ "MB", UINT64_C(1000000) },
	{ "GB", UINT64_C(1000000000) },
	{ "TB", UINT64_C(1000000000000) },
	{ "k", UINT64_C(1000) },
	{ "K", UINT64_C(1000) },
	{ "M", UINT64_C(1000000) },
	{ "G", UINT64_C(1000000000) },
	{ "T", UINT64_C(1000000000000) },
	{ "P", UINT64_C(1000000000000000) },
	{ "E", UINT64_C(1000000000000000000) },
	{ "B", 1 },
	{ "", 1 },
};

int parse_size(const char *s, uint64_t *ret_bytes) {
	const char *p = s;
	uint64_t v = 0;
	int r;

	if (isempty(s) || !isdigit((unsigned char)*s))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		if ((r = mul_u64(v, 10, &v)) < 0 || (r = add_u64(&v, (uint64_t)(*p - '0'))) < 0)
			return r;
		p++;
	}
	for (size_t i = 0; i < ELEMENTSOF(size_units); i++)
		if (streq(p, size_units[i].suffix)) {
			if ((r = mul_u64(v, size_units[i].factor, &v)) < 0)
				return r;
			*ret_bytes = v;
			return 0;
		}
	return -EINVAL;
}

char *format_duration(char *buf, size_t len, uint64_t nsec) {
	static const struct {
		const char *suffix;
		uint64_t nsec;
	} parts[] = {
		{ "d", NSEC_PER_DAY }, { "h", NSEC_PER_HOUR },  { "m", NSEC_PER_MINUTE },
		{ "s", NSEC_PER_SEC }, { "ms", NSEC_PER_MSEC }, { "us", NSEC_PER_USEC },
		{ "ns", 1 },
	};
	size_t off = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (nsec == 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	for (size_t i = 0; i < ELEMENTSOF(parts) && nsec; i++) {
		uint64_t n = nsec / parts[i].nsec;
		int w;

		if (!n)
			continue;
		nsec -= n * parts[i].nsec;
		w = snprintf(buf + off, len - off, "%" PRIu64 "%s", n, parts[i].suffix);
		if (w < 0 || (size_t)w >= len - off)
			break;
		off += (size_t)w;
	}
	return buf;
}

char *format_size(char *buf, size_t len, uint64_t bytes) {
	static const char *const suffixes[] = { "Ei", "Pi", "Ti", "Gi", "Mi", "Ki" };

	for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
		unsigned shift = 10 * (unsigned)(ELEMENTSOF(suffixes) - i);
		uint64_t unit = UINT64_C(1) << shift;

		if (bytes && bytes % unit == 0) {
			snprintf(buf, len, "%" PRIu64 "%s", bytes >> shift, suffixes[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%" PRIu64, bytes);
	return buf;
}

int parse_signal(const char *s) {
	const char *name = s;
	uint32_t n;

	if (isempty(s))
		return -EINVAL;
	if (parse_uint32(s, &n) >= 0)
		return n > 0 && n < (uint32_t)NSIG ? (int)n : -EINVAL;
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
		bool min = strncasecmp(name, "RTMIN", 5) == 0;
		int base = min ? SIGRTMIN : SIGRTMAX, sig;

		if (name[5] == '\0')
			return base;
		if ((name[5] != '+' && name[5] != '-') || parse_uint32(name + 6, &n) < 0 || n > 32)
			return -EINVAL;
		sig = name[5] == '+' ? base + (int)n : base - (int)n;
		return sig >= SIGRTMIN && sig <= SIGRTMAX ? sig : -EINVAL;
	}
	for (int i = 1; i < SIGRTMIN; i++) {
		const char *abbrev = sigabbrev_np(i);
		if (abbrev && strcasecmp(abbrev, name) == 0)
			return i;
	}
	return -EINVAL;
}
