/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus metrics: a registry of counter, gauge and histogram families,
 * each with fixed label names and at most METRICS_SERIES_MAX label sets (a
 * new set past the cap is dropped and counted, so an outsider cannot make it
 * grow), rendered in the text exposition format 0.0.4. It owns its families
 * and their series. Loop thread only; no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/strbuf.h"

#define METRICS_LABELS_MAX      4
#define METRICS_SERIES_MAX      1000 /* label sets per family */
#define METRICS_BUCKETS_MAX     32
#define METRICS_LABEL_VALUE_MAX 256 /* longer label values are cut (at a UTF-8 boundary) */

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
	_METRIC_TYPE_MAX,
	_METRIC_TYPE_INVALID = -1,
};
const char *metric_type_to_string(enum metric_type t);
enum metric_type metric_type_from_string(const char *s);

struct metrics;
struct metric_family;

/* Label values in the family's label order, NULL-terminated:
 * metric_add(f, 1, METRIC_LABELS("web", "api")). NULL for no labels. */
#define METRIC_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

struct metrics *metrics_new(void);
struct metrics *metrics_free(struct metrics *m);
static inline void metrics_freep(struct metrics **m) {
	*m = metrics_free(*m);
}

/* A new family, rendered in the order of creation. label_names is
 * NULL-terminated (NULL: none); buckets (histograms only) are finite and
 * strictly increasing upper bounds, +Inf is implied. -EINVAL for a bad name
 * or label name, too many labels or bad buckets, -EEXIST for a name taken. */
int metrics_add_family(struct metrics *m, const char *name, const char *help, enum metric_type type,
                       const char *const *label_names, const double *buckets, size_t n_buckets,
                       struct metric_family **ret);
/* The standard HTTP-latency-like buckets, 0.0005 s .. 10 s. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_buckets_n;

/* Counters go up by v >= 0; gauges go up or down; metric_set serves gauges
 * and counters mirrored from elsewhere (process CPU time); histograms
 * observe. -EINVAL for the wrong type, the wrong number of label values, a
 * negative counter increment or NaN; -ENOSPC when the family is at
 * METRICS_SERIES_MAX and the label set is new (counted in dropped). */
int metric_add(struct metric_family *f, double v, const char *const *label_values);
int metric_set(struct metric_family *f, double v, const char *const *label_values);
int metric_observe(struct metric_family *f, double v, const char *const *label_values);
/* Forget every series (for gauges recomputed at each scrape). */
void metric_family_clear(struct metric_family *f);

const char *metric_family_name(const struct metric_family *f);
size_t metric_family_series(const struct metric_family *f);
size_t metric_family_labels(const struct metric_family *f);
uint64_t metric_family_dropped(const struct metric_family *f);
/* The families in creation order: for (f = metrics_first(m); f; f = metrics_next(f)). */
struct metric_family *metrics_first(const struct metrics *m);
struct metric_family *metrics_next(const struct metric_family *f);
/* The current value of a counter or gauge series; -ENOENT when it has none. */
int metric_get(const struct metric_family *f, const char *const *label_values, double *ret);

/* Append every family (HELP, TYPE, then its series) to out. */
void metrics_render(const struct metrics *m, struct strbuf *out);

/* Helpers of the renderer, for tests: a number as Prometheus parses it
 * ("+Inf", "NaN", integers without exponent below 1e15, else the shortest
 * %g that reads back the same), and a label value escaped (\\, \", \n). */
#define METRICS_NUMBER_MAX 32
const char *metrics_format_number(char buf[static METRICS_NUMBER_MAX], double v);
void metrics_escape_label_value(struct strbuf *out, const char *value);

/* /proc/self/stat: CPU time (utime + stime, clock ticks) and start time
 * (clock ticks after boot). The command name may hold spaces and ')'. */
int metrics_parse_proc_stat(const char *text, uint64_t *ret_cpu_ticks, uint64_t *ret_start_ticks);
