/* SPDX-License-Identifier: Apache-2.0 */
#include "cron.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <strings.h>

#include "basic/error.h"
#include "basic/macro.h"
#include "basic/banned.h"

enum cron_field {
	CRON_SECOND,
	CRON_MINUTE,
	CRON_HOUR,
	CRON_DOM,
	CRON_MONTH,
	CRON_DOW,
	CRON_YEAR,
	_CRON_FIELD_MAX,
};

static const char *const cron_field_names[_CRON_FIELD_MAX] = {
	[CRON_SECOND] = "second", [CRON_MINUTE] = "minute",   [CRON_HOUR] = "hour", [CRON_DOM] = "day-of-month",
	[CRON_MONTH] = "month",   [CRON_DOW] = "day-of-week", [CRON_YEAR] = "year",
};

/* Enough bits for the widest field (years 1970-2099), indexed by value - base. */
#define CRON_SET_WORDS 3

/* How one field is read in one dialect. */
struct cron_field_ctx {
	enum cron_field field;
	const char *name;
	unsigned min, max;           /* accepted numeric values */
	unsigned star_min, star_max; /* what '*' (and 'a/n' as upper end) covers */
	unsigned base;               /* value stored at bit 0 */
	bool vixie;                  /* 5-field dialect */
};

struct cron_name {
	const char *name;
	unsigned value;
};

static const struct cron_name month_names[] = {
	{ "jan", 1 },      { "january", 1 }, { "feb", 2 },       { "february", 2 }, { "mar", 3 },       { "march", 3 },
	{ "apr", 4 },      { "april", 4 },   { "may", 5 },       { "jun", 6 },      { "june", 6 },      { "jul", 7 },
	{ "july", 7 },     { "aug", 8 },     { "august", 8 },    { "sep", 9 },      { "september", 9 }, { "oct", 10 },
	{ "october", 10 }, { "nov", 11 },    { "november", 11 }, { "dec", 12 },     { "december", 12 },
};

/* Value 0 = Sunday; the 6/7-field dialect adds one. */
static const struct cron_name day_names[] = {
	{ "sun", 0 },      { "sunday", 0 }, { "mon", 1 },       { "monday", 1 }, { "tue", 2 },      { "tues", 2 },
	{ "tuesday", 2 },  { "wed", 3 },    { "wednesday", 3 }, { "thu", 4 },    { "thur", 4 },     { "thurs", 4 },
	{ "thursday", 4 }, { "fri", 5 },    { "friday", 5 },    { "sat", 6 },    { "saturday", 6 },
};

struct cron_macro {
	const char *name;
	const char *expansion;
};

static const struct cron_macro cron_macros[] = {
	{ "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

static bool is_blank(char c) {
	return c == ' ' || c == '\t';
}

/* The Vixie rule looks at the first character only, so a stepped '*' still
 * counts as unrestricted. */
static bool is_star(char c) {
	return c == '*' || c == '?';
}

static void set_add_range(uint64_t set[static CRON_SET_WORDS], unsigned lo, unsigned hi, unsigned step) {
	for (unsigned v = lo; v <= hi; v += step)
		set[v / 64] |= UINT64_C(1) << (v % 64);
}

static bool all_digits(const char *p, size_t n) {
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)p[i]))
			return false;
	return n > 0;
}

static bool all_alpha(const char *p, size_t n) {
	for (size_t i = 0; i < n; i++)
		if (!isalpha((unsigned char)p[i]))
			return false;
	return n > 0;
}

/* Digits only, at most 9 of them so the value fits; bigger is "too big". */
static bool parse_small_uint(const char *p, size_t n, unsigned *ret) {
	unsigned v = 0;

	if (!all_digits(p, n) || n > 9)
		return false;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(p[i] - '0');
	*ret = v;
	return true;
}

static bool lookup_name(const struct cron_name *table, size_t n_table, const char *p, size_t n, unsigned *ret) {
	for (size_t i = 0; i < n_table; i++)
		if (strlen(table[i].name) == n && strncasecmp(table[i].name, p, n) == 0) {
			*ret = table[i].value;
			return true;
		}
	return false;
}

/* One number or name. `range_end`: SUN closing a 5-field range is 7, so
 * FRI-SUN works there as it reads. */
static int parse_value(const struct cron_field_ctx *f, const char *p, size_t n, bool range_end, unsigned *ret,
                       struct za_error **reterr) {
	unsigned v;

	if (all_digits(p, n)) {
		bool ok = parse_small_uint(p, n, &v);

		if (!ok || v < f->min || v > f->max)
			/* 0 is Sunday in 5-field cron but not here: say so. */
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "%s: value %.*s out of range %u-%u%s", f->name, (int)n, p, f->min, f->max,
			                     ok && v == 0 && f->field == CRON_DOW && !f->vixie
			                             ? " (with 6 or 7 fields 1 is Sunday; use 1 or SUN)"
			                             : "");
		*ret = v;
		return 0;
	}

	if (all_alpha(p, n) && (f->field == CRON_MONTH || f->field == CRON_DOW)) {
		bool found = f->field == CRON_MONTH ? lookup_name(month_names, ELEMENTSOF(month_names), p, n, &v)
		                                    : lookup_name(day_names, ELEMENTSOF(day_names), p, n, &v);
		if (!found)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "%s: unknown name '%.*s'", f->name,
			                     (int)n, p);
		if (f->field == CRON_DOW) {
			if (!f->vixie)
				v += 1;
			else if (range_end && v == 0)
				v = 7;
		}
		*ret = v;
		return 0;
	}

	return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "%s: invalid value '%.*s'", f->name, (int)n, p);
}

/* One list item: '*', '?', 'a', 'a-b', each optionally with '/step'. */
static int parse_item(const struct cron_field_ctx *f, const char *p, size_t n, uint64_t set[static CRON_SET_WORDS],
                      struct za_error **reterr) {
	const char *slash = memchr(p, '/', n);
	size_t base_len = slash ? (size_t)(slash - p) : n;
	unsigned lo, hi, step = 1;
	int r;

	if (slash) {
		const char *s = slash + 1;
		size_t sn = n - base_len - 1;
		unsigned span = f->max - f->min + 1;

		if (!all_digits(s, sn))
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "%s: invalid step '%.*s'", f->name,
			                     (int)sn, s);
		if (!parse_small_uint(s, sn, &step) || step > span)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "%s: step %.*s out of range 1-%u",
			                     f->name, (int)sn, s, span);
		if (step == 0)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "%s: step 0 is invalid", f->name);
	}

	if (base_len == 1 && (p[0] == '*' || p[0] == '?')) {
		if (p[0] == '?' && f->field != CRON_DOM && f->field != CRON_DOW)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "%s: '?' is only allowed in day-of-month and day-of-week", f->name);
		if (p[0] == '?' && f->vixie)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "%s: '?' is only allowed with 6 or 7 fields", f->name);
		lo = f->star_min;
		hi = f->star_max;
	} else {
		const char *dash = memchr(p, '-', base_len);

		if (base_len == 0)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "%s: invalid value '%.*s'", f->name,
			                     (int)n, p);
		if (dash) {
			size_t lo_len = (size_t)(dash - p), hi_len = base_len - lo_len - 1;

			if (lo_len == 0 || hi_len == 0 || memchr(dash + 1, '-', hi_len))
				return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "%s: invalid range '%.*s'",
				                     f->name, (int)base_len, p);
			r = parse_value(f, p, lo_len, false, &lo, reterr);
			if (r < 0)
				return r;
			r = parse_value(f, dash + 1, hi_len, true, &hi, reterr);
			if (r < 0)
				return r;
			if (lo > hi)
				return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
				                     "%s: range %.*s is reversed", f->name, (int)base_len, p);
		} else {
			r = parse_value(f, p, base_len, false, &lo, reterr);
			if (r < 0)
				return r;
			/* 'a/n' runs from a to the end of the field. */
			hi = slash ? MAX(lo, f->star_max) : lo;
		}
	}

	set_add_range(set, lo - f->base, hi - f->base, step);
	return 0;
}

static int parse_field(const struct cron_field_ctx *f, const char *p, size_t n, uint64_t set[static CRON_SET_WORDS],
                       struct za_error **reterr) {
	const char *end = p + n;

	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
		int r;

		if (len == 0)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "%s: empty list item", f->name);
		r = parse_item(f, p, len, set, reterr);
		if (r < 0)
			return r;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static struct cron_field_ctx field_ctx(enum cron_field field, bool vixie) {
	struct cron_field_ctx f = { .field = field, .name = cron_field_names[field], .vixie = vixie };

	switch (field) {
	case CRON_SECOND:
	case CRON_MINUTE:
		f.max = 59;
		break;
	case CRON_HOUR:
		f.max = 23;
		break;
	case CRON_DOM:
		f.min = 1;
		f.max = 31;
		break;
	case CRON_MONTH:
		f.min = 1;
		f.max = 12;
		break;
	case CRON_DOW:
		/* Vixie: 0-7 with 7 = Sunday, but '*' means 0-6; cron crate: 1-7. */
		f.min = vixie ? 0 : 1;
		f.max = 7;
		f.star_min = f.min;
		f.star_max = vixie ? 6 : 7;
		return f;
	case CRON_YEAR:
		f.min = CRON_YEAR_MIN;
		f.max = CRON_YEAR_MAX;
		f.base = CRON_YEAR_MIN;
		break;
	default:
		break;
	}
	f.star_min = f.min;
	f.star_max = f.max;
	return f;
}

/* Split on runs of blanks; at most `max` fields are recorded, all counted. */
static unsigned split_fields(const char *s, const char *fields[], size_t lens[], unsigned max) {
	unsigned n = 0;

	for (;;) {
		size_t len;

		while (is_blank(*s))
			s++;
		if (!*s)
			return n;
		for (len = 0; s[len] && !is_blank(s[len]); len++)
			;
		if (n < max) {
			fields[n] = s;
			lens[n] = len;
		}
		if (n < UINT_MAX)
			n++;
		s += len;
	}
}

int cron_parse(const char *s, struct cron_expr *ret, struct za_error **reterr) {
	/* Slot i holds field i of the 7-field form; a 5-field form starts at minute. */
	const char *fields[7];
	size_t lens[7];
	uint64_t sets[_CRON_FIELD_MAX][CRON_SET_WORDS] = {};
	struct cron_expr c = {};
	unsigned n, first;
	bool vixie;

	n = split_fields(strempty(s), fields, lens, ELEMENTSOF(fields));

	if (n >= 1 && fields[0][0] == '@') {
		if (n > 1)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "macro '%.*s' takes no fields, got %u more", (int)lens[0], fields[0],
			                     n - 1);
		for (size_t i = 0; i < ELEMENTSOF(cron_macros); i++)
			if (strlen(cron_macros[i].name) == lens[0] &&
			    strncasecmp(cron_macros[i].name, fields[0], lens[0]) == 0)
				return cron_parse(cron_macros[i].expansion, ret, reterr);
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "unknown macro '%.*s'", (int)lens[0],
		                     fields[0]);
	}

	if (n < 5 || n > 7)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "expected 5, 6 or 7 fields, got %u", n);

	vixie = n == 5;
	first = vixie ? CRON_MINUTE : CRON_SECOND;
	for (unsigned i = 0; i < n; i++) {
		enum cron_field field = (enum cron_field)(first + i);
		struct cron_field_ctx f = field_ctx(field, vixie);
		int r;

		r = parse_field(&f, fields[i], lens[i], sets[field], reterr);
		if (r < 0)
			return r;
	}

	if (vixie)
		sets[CRON_SECOND][0] = 1;
	if (n < 7)
		set_add_range(sets[CRON_YEAR], 0, CRON_YEAR_MAX - CRON_YEAR_MIN, 1);

	c.seconds = sets[CRON_SECOND][0];
	c.minutes = sets[CRON_MINUTE][0];
	c.hours = (uint32_t)sets[CRON_HOUR][0];
	c.dom = (uint32_t)sets[CRON_DOM][0];
	c.months = (uint16_t)sets[CRON_MONTH][0];
	if (vixie) /* 7 is Sunday too */
		c.dow = (uint8_t)((sets[CRON_DOW][0] & 0x7f) | ((sets[CRON_DOW][0] >> 7) & 1));
	else /* 1 = Sunday ... 7 = Saturday */
		c.dow = (uint8_t)((sets[CRON_DOW][0] >> 1) & 0x7f);
	memcpy(c.years, sets[CRON_YEAR], sizeof(c.years));

	c.dom_restricted = !is_star(fields[CRON_DOM - first][0]);
	c.dow_restricted = !is_star(fields[CRON_DOW - first][0]);
	c.vixie_or = vixie && c.dom_restricted && c.dow_restricted;
	c.nfields = vixie ? 5 : n;

	*ret = c;
	return 0;
}

/* Calendar arithmetic on the proleptic Gregorian calendar, UTC only. */

static bool is_leap(int y) {
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m) {
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* 0 = Sunday. */
static int weekday(int y, int m, int d) {
	static const int t[12] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };
	if (m < 3)
		y -= 1;
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

/* Days since 1970-01-01 (Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d) {
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool year_matches(const struct cron_expr *c, int y) {
	unsigned i;

	if (y < CRON_YEAR_MIN || y > CRON_YEAR_MAX)
		return false;
	i = (unsigned)(y - CRON_YEAR_MIN);
	return (c->years[i / 64] >> (i % 64)) & 1;
}

static bool day_matches(const struct cron_expr *c, int y, int m, int d) {
	bool dom_ok = (c->dom >> d) & 1, dow_ok = (c->dow >> weekday(y, m, d)) & 1;

	return c->vixie_or ? dom_ok || dow_ok : dom_ok && dow_ok;
}

bool cron_matches(const struct cron_expr *c, time_t t) {
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return false;
	return year_matches(c, tm.tm_year + 1900) && ((c->months >> (tm.tm_mon + 1)) & 1) &&
	       day_matches(c, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) && ((c->hours >> tm.tm_hour) & 1) &&
	       ((c->minutes >> tm.tm_min) & 1) && tm.tm_sec < 60 && ((c->seconds >> tm.tm_sec) & 1);
}

/* The first set bit >= from and <= last, or -1. */
static int next_bit(uint64_t mask, int from, int last) {
	uint64_t m;
	int i;

	if (from > last || from >= 64)
		return -1;
	m = mask & (~UINT64_C(0) << from);
	if (!m)
		return -1;
	i = __builtin_ctzll(m);
	return i <= last ? i : -1;
}

enum { T_YEAR, T_MONTH, T_DAY, T_HOUR, T_MINUTE, T_SECOND, _T_MAX };

static int tfield_min(int level) {
	return level == T_MONTH || level == T_DAY ? 1 : 0;
}

static int tfield_max(const int v[_T_MAX], int level) {
	switch (level) {
	case T_MONTH:
		return 12;
	case T_DAY:
		return days_in_month(v[T_YEAR], v[T_MONTH]);
	case T_HOUR:
		return 23;
	default:
		return 59;
	}
}

/* Set field `level` to `value` (or, with -1, carry into the field above)
 * and reset every field below it to its first value. */
static void tfield_set(int v[_T_MAX], int level, int value) {
	for (int l = level + 1; l < _T_MAX; l++)
		v[l] = tfield_min(l);
	if (value >= 0) {
		v[level] = value;
		return;
	}
	v[level] = tfield_min(level);
	for (int l = level - 1; l >= 0; l--) {
		v[l]++;
		if (l == T_YEAR || v[l] <= tfield_max(v, l))
			return;
		v[l] = tfield_min(l);
	}
}

int cron_next(const struct cron_expr *c, time_t after, time_t *ret_next) {
	const int64_t end = days_from_civil(CRON_YEAR_MAX + 1, 1, 1) * 86400;
	int v[_T_MAX];
	struct tm tm;
	time_t start;

	if ((int64_t)after >= end - 1)
		return -ENOENT;
	start = after < 0 ? 0 : after + 1;
	if (!gmtime_r(&start, &tm))
		return -ENOENT;
	v[T_YEAR] = tm.tm_year + 1900;
	v[T_MONTH] = tm.tm_mon + 1;
	v[T_DAY] = tm.tm_mday;
	v[T_HOUR] = tm.tm_hour;
	v[T_MINUTE] = tm.tm_min;
	v[T_SECOND] = MIN(tm.tm_sec, 59);

	/* Each step moves to the next candidate of the highest mismatching
	 * field, so the loop runs at most once per day until 2100, usually far
	 * less. */
	for (;;) {
		int n;

		if (v[T_YEAR] > CRON_YEAR_MAX)
			return -ENOENT;
		if (!year_matches(c, v[T_YEAR])) {
			int y = v[T_YEAR] + 1;
			while (y <= CRON_YEAR_MAX && !year_matches(c, y))
				y++;
			tfield_set(v, T_YEAR, y);
			continue;
		}
		if (!((c->months >> v[T_MONTH]) & 1)) {
			tfield_set(v, T_MONTH, next_bit(c->months, v[T_MONTH] + 1, 12));
			continue;
		}
		if (!day_matches(c, v[T_YEAR], v[T_MONTH], v[T_DAY])) {
			n = v[T_DAY] + 1;
			tfield_set(v, T_DAY, n <= days_in_month(v[T_YEAR], v[T_MONTH]) ? n : -1);
			continue;
		}
		if (!((c->hours >> v[T_HOUR]) & 1)) {
			tfield_set(v, T_HOUR, next_bit(c->hours, v[T_HOUR] + 1, 23));
			continue;
		}
		if (!((c->minutes >> v[T_MINUTE]) & 1)) {
			tfield_set(v, T_MINUTE, next_bit(c->minutes, v[T_MINUTE] + 1, 59));
			continue;
		}
		if (!((c->seconds >> v[T_SECOND]) & 1)) {
			tfield_set(v, T_SECOND, next_bit(c->seconds, v[T_SECOND] + 1, 59));
			continue;
		}
		break;
	}

	*ret_next = (time_t)(days_from_civil(v[T_YEAR], v[T_MONTH], v[T_DAY]) * 86400 + v[T_HOUR] * 3600 +
	                     v[T_MINUTE] * 60 + v[T_SECOND]);
	return 0;
}
