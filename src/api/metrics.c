/* SPDX-License-Identifier: Apache-2.0 */
/* The metrics registry and its text rendering.
 *
 * A family keeps its series in an array searched linearly, each series with
 * a hash of its label values so the search compares integers first: the
 * cap (METRICS_SERIES_MAX) keeps that cheap. Label values are stored
 * normalised (cut to METRICS_LABEL_VALUE_MAX bytes, invalid UTF-8 bytes
 * replaced by '?') and looked up the same way, so a value that would render
 * wrongly never reaches the output. */
#include "api/metrics.h"

#include <math.h>

#include "basic/alloc.h"
#include "basic/utf8.h"
#include "basic/banned.h"

struct series {
	char *values[METRICS_LABELS_MAX];
	uint64_t hash;
	double value;      /* counters and gauges */
	uint64_t *buckets; /* histograms: observations per bucket, not cumulative */
	double sum;
	uint64_t count;
};

struct metric_family {
	struct metric_family *next;
	char *name, *help;
	enum metric_type type;
	char *labels[METRICS_LABELS_MAX];
	size_t n_labels;
	double *bounds;
	size_t n_bounds;
	struct series *series;
	size_t n_series, alloc_series;
	uint64_t dropped;
};

struct metrics {
	struct metric_family *first, *last;
};

const double metrics_latency_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	                                   0.1,    0.25,  0.5,    1,     2.5,  5,     10 };
const size_t metrics_latency_buckets_n = ELEMENTSOF(metrics_latency_buckets);

static const char *const metric_type_table[_METRIC_TYPE_MAX] = {
	[METRIC_COUNTER] = "counter",
	[METRIC_GAUGE] = "gauge",
	[METRIC_HISTOGRAM] = "histogram",
};

const char *metric_type_to_string(enum metric_type t) {
	return t >= 0 && t < _METRIC_TYPE_MAX ? metric_type_table[t] : NULL;
}

enum metric_type metric_type_from_string(const char *s) {
	for (int i = 0; s && i < _METRIC_TYPE_MAX; i++)
		if (streq(metric_type_table[i], s))
			return (enum metric_type)i;
	return _METRIC_TYPE_INVALID;
}

/* ---- names and values ---- */

static bool valid_name(const char *s, bool colon) {
	if (isempty(s))
		return false;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
		          (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

static bool value_is_normal(const char *v) {
	size_t n = strlen(v);

	if (n > METRICS_LABEL_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_valid_len((const unsigned char *)v + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

static char *value_normalize(const char *v) {
	size_t n = strlen(v), out = 0;
	char *s = xmalloc(MIN(n, (size_t)METRICS_LABEL_VALUE_MAX) + 1);

	for (size_t i = 0; i < n;) {
		size_t k = utf8_valid_len((const unsigned char *)v + i, n - i);
		if (k == 0) {
			if (out + 1 > METRICS_LABEL_VALUE_MAX)
				break;
			s[out++] = '?';
			i++;
			continue;
		}
		if (out + k > METRICS_LABEL_VALUE_MAX)
			break;
		memcpy(s + out, v + i, k);
		out += k;
		i += k;
	}
	s[out] = '\0';
	return s;
}

static uint64_t values_hash(const char *const *values, size_t n) {
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < n; i++) {
		for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
			h = (h ^ *p) * UINT64_C(1099511628211);
		h = (h ^ 0xff) * UINT64_C(1099511628211);
	}
	return h;
}

/* ---- registry ---- */

struct metrics *metrics_new(void) {
	return xnew(struct metrics, 1);
}

static void series_release(struct series *s, size_t n_labels) {
	for (size_t i = 0; i < n_labels; i++)
		free(s->values[i]);
	free(s->buckets);
}

void metric_family_clear(struct metric_family *f) {
	for (size_t i = 0; i < f->n_series; i++)
		series_release(&f->series[i], f->n_labels);
	f->n_series = 0;
}

static void family_free(struct metric_family *f) {
	metric_family_clear(f);
	free(f->series);
	for (size_t i = 0; i < f->n_labels; i++)
		free(f->labels[i]);
	free(f->bounds);
	free(f->name);
	free(f->help);
	free(f);
}

struct metrics *metrics_free(struct metrics *m) {
	if (!m)
		return NULL;
	while (m->first) {
		struct metric_family *next = m->first->next;
		family_free(m->first);
		m->first = next;
	}
	free(m);
	return NULL;
}

/* values: already normalised, f->n_labels of them. */
static struct series *series_new(struct metric_family *f, const char *const *values, uint64_t hash) {
	struct series *s;

	GROW(f->series, f->alloc_series, f->n_series + 1);
	s = &f->series[f->n_series++];
	*s = (struct series){ .hash = hash };
	for (size_t i = 0; i < f->n_labels; i++)
		s->values[i] = xstrdup(values[i]);
	if (f->type == METRIC_HISTOGRAM)
		s->buckets = xnew(uint64_t, f->n_bounds ? f->n_bounds : 1);
	return s;
}

int metrics_add_family(struct metrics *m, const char *name, const char *help, enum metric_type type,
                       const char *const *label_names, const double *buckets, size_t n_buckets,
                       struct metric_family **ret) {
	struct metric_family *f;
	size_t n = 0;

	if (!valid_name(name, true) || type < 0 || type >= _METRIC_TYPE_MAX)
		return -EINVAL;
	for (const struct metric_family *i = m->first; i; i = i->next)
		if (streq(i->name, name))
			return -EEXIST;
	for (; label_names && label_names[n]; n++) {
		if (n >= METRICS_LABELS_MAX || !valid_name(label_names[n], false) || strneq(label_names[n], "__", 2) ||
		    (type == METRIC_HISTOGRAM && streq(label_names[n], "le")))
			return -EINVAL;
		for (size_t k = 0; k < n; k++)
			if (streq(label_names[k], label_names[n]))
				return -EINVAL;
	}
	if (type == METRIC_HISTOGRAM) {
		if (n_buckets > METRICS_BUCKETS_MAX)
			return -EINVAL;
		for (size_t i = 0; i < n_buckets; i++)
			if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
				return -EINVAL;
	} else if (n_buckets > 0)
		return -EINVAL;

	f = xnew(struct metric_family, 1);
	f->name = xstrdup(name);
	f->help = xstrdup(strempty(help));
	f->type = type;
	f->n_labels = n;
	for (size_t i = 0; i < n; i++)
		f->labels[i] = xstrdup(label_names[i]);
	if (n_buckets > 0) {
		f->bounds = xnew(double, n_buckets);
		memcpy(f->bounds, buckets, n_buckets * sizeof(double));
		f->n_bounds = n_buckets;
	}
	/* A family without labels has its one series from the start: a
	 * counter that never moved still says 0. */
	if (n == 0)
		(void)series_new(f, NULL, values_hash(NULL, 0));
	if (m->last)
		m->last->next = f;
	else
		m->first = f;
	m->last = f;
	if (ret)
		*ret = f;
	return 0;
}

static int series_lookup(struct metric_family *f, const char *const *values, bool create, struct series **ret) {
	char *norm[METRICS_LABELS_MAX] = {};
	const char *const *vals = values;
	size_t n = 0;
	uint64_t h;
	int r = -ENOENT;

	for (; values && values[n]; n++)
		if (n >= f->n_labels)
			return -EINVAL;
	if (n != f->n_labels)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!value_is_normal(values[i])) {
			for (size_t k = 0; k < n; k++)
				norm[k] = value_normalize(values[k]);
			vals = (const char *const *)norm;
			break;
		}

	h = values_hash(vals, n);
	for (size_t i = 0; i < f->n_series; i++) {
		struct series *s = &f->series[i];
		bool same = s->hash == h;
		for (size_t k = 0; same && k < n; k++)
			same = streq(s->values[k], vals[k]);
		if (same) {
			*ret = s;
			r = 0;
			goto out;
		}
	}
	if (!create)
		goto out;
	if (f->n_series >= METRICS_SERIES_MAX) {
		f->dropped++;
		r = -ENOSPC;
		goto out;
	}
	*ret = series_new(f, vals, h);
	r = 0;
out:
	for (size_t k = 0; k < n; k++)
		free(norm[k]);
	return r;
}

int metric_add(struct metric_family *f, double v, const char *const *label_values) {
	struct series *s;
	int r;

	if (f->type == METRIC_HISTOGRAM || isnan(v) || (f->type == METRIC_COUNTER && v < 0))
		return -EINVAL;
	r = series_lookup(f, label_values, true, &s);
	if (r < 0)
		return r;
	s->value += v;
	return 0;
}

int metric_set(struct metric_family *f, double v, const char *const *label_values) {
	struct series *s;
	int r;

	if (f->type == METRIC_HISTOGRAM || isnan(v))
		return -EINVAL;
	r = series_lookup(f, label_values, true, &s);
	if (r < 0)
		return r;
	s->value = v;
	return 0;
}

int metric_observe(struct metric_family *f, double v, const char *const *label_values) {
	struct series *s;
	int r;

	if (f->type != METRIC_HISTOGRAM || isnan(v))
		return -EINVAL;
	r = series_lookup(f, label_values, true, &s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < f->n_bounds; i++)
		if (v <= f->bounds[i]) {
			s->buckets[i]++;
			break;
		}
	s->sum += v;
	s->count++;
	return 0;
}

int metric_get(const struct metric_family *f, const char *const *label_values, double *ret) {
	struct series *s;
	int r;

	if (f->type == METRIC_HISTOGRAM)
		return -EINVAL;
	r = series_lookup((struct metric_family *)f, label_values, false, &s);
	if (r < 0)
		return r;
	*ret = s->value;
	return 0;
}

const char *metric_family_name(const struct metric_family *f) {
	return f->name;
}

size_t metric_family_series(const struct metric_family *f) {
	return f->n_series;
}

size_t metric_family_labels(const struct metric_family *f) {
	return f->n_labels;
}

uint64_t metric_family_dropped(const struct metric_family *f) {
	return f->dropped;
}

struct metric_family *metrics_first(const struct metrics *m) {
	return m->first;
}

struct metric_family *metrics_next(const struct metric_family *f) {
	return f->next;
}

/* ---- rendering ---- */

const char *metrics_format_number(char buf[static METRICS_NUMBER_MAX], double v) {
	if (isnan(v))
		snprintf(buf, METRICS_NUMBER_MAX, "NaN");
	else if (isinf(v))
		snprintf(buf, METRICS_NUMBER_MAX, "%sInf", v > 0 ? "+" : "-");
	else if (v == 0)
		snprintf(buf, METRICS_NUMBER_MAX, "0"); /* not "-0" */
	else if (v == trunc(v) && fabs(v) < 1e15)
		snprintf(buf, METRICS_NUMBER_MAX, "%.0f", v);
	else
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(buf, METRICS_NUMBER_MAX, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	return buf;
}

void metrics_escape_label_value(struct strbuf *out, const char *value) {
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			strbuf_addstr(out, "\\\\");
		else if (*p == '"')
			strbuf_addstr(out, "\\\"");
		else if (*p == '\n')
			strbuf_addstr(out, "\\n");
		else
			strbuf_addch(out, *p);
	}
}

static void escape_help(struct strbuf *out, const char *help) {
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			strbuf_addstr(out, "\\\\");
		else if (*p == '\n')
			strbuf_addstr(out, "\\n");
		else
			strbuf_addch(out, *p);
	}
}

/* name{l1="v1",...,extra_name="extra_value"} value */
static void render_sample(struct strbuf *out, const struct metric_family *f, const char *suffix, const struct series *s,
                          const char *extra_name, const char *extra_value, double v) {
	char num[METRICS_NUMBER_MAX];
	bool braces = f->n_labels > 0 || extra_name;

	strbuf_addstr(out, f->name);
	strbuf_addstr(out, suffix);
	if (braces)
		strbuf_addch(out, '{');
	for (size_t i = 0; i < f->n_labels; i++) {
		strbuf_addf(out, "%s%s=\"", i > 0 ? "," : "", f->labels[i]);
		metrics_escape_label_value(out, s->values[i]);
		strbuf_addch(out, '"');
	}
	if (extra_name) {
		strbuf_addf(out, "%s%s=\"", f->n_labels > 0 ? "," : "", extra_name);
		metrics_escape_label_value(out, extra_value);
		strbuf_addch(out, '"');
	}
	if (braces)
		strbuf_addch(out, '}');
	strbuf_addch(out, ' ');
	strbuf_addstr(out, metrics_format_number(num, v));
	strbuf_addch(out, '\n');
}

static void render_family(struct strbuf *out, const struct metric_family *f) {
	char le[METRICS_NUMBER_MAX];

	strbuf_addf(out, "# HELP %s ", f->name);
	escape_help(out, f->help);
	strbuf_addf(out, "\n# TYPE %s %s\n", f->name, metric_type_to_string(f->type));
	for (size_t i = 0; i < f->n_series; i++) {
		const struct series *s = &f->series[i];
		uint64_t cum = 0;

		if (f->type != METRIC_HISTOGRAM) {
			render_sample(out, f, "", s, NULL, NULL, s->value);
			continue;
		}
		for (size_t b = 0; b < f->n_bounds; b++) {
			cum += s->buckets[b];
			render_sample(out, f, "_bucket", s, "le", metrics_format_number(le, f->bounds[b]), (double)cum);
		}
		render_sample(out, f, "_bucket", s, "le", "+Inf", (double)s->count);
		render_sample(out, f, "_sum", s, NULL, NULL, s->sum);
		render_sample(out, f, "_count", s, NULL, NULL, (double)s->count);
	}
}

void metrics_render(const struct metrics *m, struct strbuf *out) {
	for (const struct metric_family *f = m->first; f; f = f->next)
		render_family(out, f);
}

/* ---- /proc ---- */

int metrics_parse_proc_stat(const char *text, uint64_t *ret_cpu_ticks, uint64_t *ret_start_ticks) {
	/* Fields after the command: 3 state ... 14 utime, 15 stime ... 22 starttime. */
	uint64_t utime = 0, stime = 0, start = 0;
	const char *p = strrchr(text, ')');
	int field = 2;

	if (!p)
		return -EINVAL;
	p++;
	while (field < 22) {
		const char *tok;
		size_t len;

		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			return -EINVAL;
		tok = p;
		len = strcspn(p, " \n");
		p += len;
		field++;
		if (field == 14 || field == 15 || field == 22) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(tok, &end, 10);
			if (errno != 0 || end != tok + len || len == 0 || *tok == '-')
				return -EINVAL;
			if (field == 14)
				utime = v;
			else if (field == 15)
				stime = v;
			else
				start = v;
		}
	}
	*ret_cpu_ticks = utime + stime;
	*ret_start_ticks = start;
	return 0;
}
