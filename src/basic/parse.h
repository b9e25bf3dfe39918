/* SPDX-License-Identifier: Apache-2.0 */
/* Strict parsers for numbers, booleans, durations ("1h30m", "500ms") and
 * sizes ("512Mi"): the whole string must match, no surrounding space.
 * All return 0 on success, -EINVAL for bad syntax, -ERANGE for overflow. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NSEC_PER_USEC   UINT64_C(1000)
#define NSEC_PER_MSEC   UINT64_C(1000000)
#define NSEC_PER_SEC    UINT64_C(1000000000)
#define NSEC_PER_MINUTE (UINT64_C(60) * NSEC_PER_SEC)
#define NSEC_PER_HOUR   (UINT64_C(60) * NSEC_PER_MINUTE)
#define NSEC_PER_DAY    (UINT64_C(24) * NSEC_PER_HOUR)

int parse_int64(const char *s, int64_t *ret);
int parse_uint64(const char *s, uint64_t *ret);
int parse_int32(const char *s, int32_t *ret);
int parse_uint32(const char *s, uint32_t *ret);
/* Finite decimal number; no hex, inf or nan. */
int parse_double(const char *s, double *ret);
/* true/false, yes/no, on/off, 1/0 -> 1/0; -EINVAL otherwise. */
int parse_bool(const char *s);

/* A signal: "SIGTERM", "term", "15", "SIGRTMIN+3"; the number or -EINVAL. */
int parse_signal(const char *s);

/* One or more <number>[.<fraction>]<unit> parts, optionally separated by
 * spaces; units ns, us, ms, s, m, h, d and their long forms (sec, min,
 * hours, ...). "1h30m" -> 5400 s. A bare number without unit is -EINVAL. */
int parse_duration(const char *s, uint64_t *ret_nsec);
/* Bytes: a plain integer, a binary suffix Ki Mi Gi Ti Pi Ei (also KiB...),
 * or a decimal one k K M G T P E (also kB, MB...). "512Mi" -> 536870912. */
int parse_size(const char *s, uint64_t *ret_bytes);

/* Shortest exact rendering: 5400 s -> "1h30m", 0 -> "0s". */
char *format_duration(char *buf, size_t len, uint64_t nsec);
/* Exact binary rendering when possible: 536870912 -> "512Mi", else bytes. */
char *format_size(char *buf, size_t len, uint64_t bytes);

#define FORMAT_DURATION_MAX 64
#define FORMAT_SIZE_MAX     32
