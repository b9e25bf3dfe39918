/* SPDX-License-Identifier: Apache-2.0 */
/* Cron expressions for scheduled jobs: parse into bitmasks, test a time,
 * find the next fire time (all UTC). Two dialects, chosen by field count:
 *
 *   5 fields  "min hour dom month dow": Vixie cron. dow 0-7, 0 and 7 are
 *             Sunday; when dom and dow are both restricted (neither field
 *             starts with '*') a day matches if EITHER matches. Seconds = 0.
 *   6/7       "sec min hour dom month dow [year]": the Rust `cron` crate's
 *             dialect that ZLayer uses. Numeric dow 1-7 with 1 = Sunday,
 *             dom and dow must BOTH match, '?' in dom/dow means '*' (and
 *             is rejected with 5 fields), year 1970-2099.
 *
 * Both: '*', lists, ranges, steps (a '/n' after '*' or 'a-b'; 'a/n' runs
 * from a to the field's end), month and day names (JAN or JANUARY, SUN or
 * SUNDAY, case-insensitive, also in ranges; a 5-field range ending in SUN
 * ends at 7, so FRI-SUN works), and the macros @yearly @annually @monthly
 * @weekly @daily @midnight @hourly, which mean their 5-field expansion. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "basic/error.h"

#define CRON_YEAR_MIN 1970
#define CRON_YEAR_MAX 2099

struct cron_expr {
	uint64_t seconds;                    /* bit n = second n (0-59) */
	uint64_t minutes;                    /* 0-59 */
	uint32_t hours;                      /* 0-23 */
	uint32_t dom;                        /* bits 1-31 */
	uint16_t months;                     /* bits 1-12 */
	uint8_t dow;                         /* bits 0-6, 0 = Sunday, normalised in both dialects */
	uint64_t years[3];                   /* bit (y - 1970), 1970-2099; all set when no year field */
	bool dom_restricted, dow_restricted; /* for the Vixie OR rule */
	bool vixie_or;                       /* 5-field dialect and both restricted */
	unsigned nfields;                    /* 5, 6 or 7 (macros count as 5) */
};

/* Parse `s` (surrounding spaces/tabs ignored, fields separated by runs of
 * them). On error returns -EINVAL with an invalid_spec error whose message
 * names the field and the bad value ("minute: value 61 out of range 0-59")
 * but not the expression itself: the caller prefixes that. */
int cron_parse(const char *s, struct cron_expr *ret, struct za_error **reterr);
/* Does the second `t` (UTC) match? */
bool cron_matches(const struct cron_expr *c, time_t t);
/* The smallest matching time > after (UTC). -ENOENT if there is none before
 * the year 2100 (e.g. "0 0 30 2 *", or only years in the past). */
int cron_next(const struct cron_expr *c, time_t after, time_t *ret_next);
