/* SPDX-License-Identifier: Apache-2.0 */
/* The health state machine (status x check outcome) and the dispatch of a
 * spec'd check to its probe. The table, with "counted" meaning outside
 * start_grace or after the first success:
 *
 *   status       success              counted failure              failure in grace
 *   UNKNOWN      HEALTHY (became)     CHECKING, or UNHEALTHY at    CHECKING
 *   CHECKING     HEALTHY (became)       retries (became)           CHECKING
 *   HEALTHY      HEALTHY              HEALTHY, or UNHEALTHY at     (never: grace ends
 *   UNHEALTHY    HEALTHY (became)       retries (became)           at the first success)
 *                                     UNHEALTHY (failures + 1)
 */
#include "health.h"

#include <inttypes.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/banned.h"

static const char *const health_status_table[_HEALTH_STATUS_MAX] = {
	[HEALTH_UNKNOWN] = "unknown",
	[HEALTH_CHECKING] = "checking",
	[HEALTH_HEALTHY] = "healthy",
	[HEALTH_UNHEALTHY] = "unhealthy",
};

const char *health_status_to_string(enum health_status s) {
	return (int)s >= 0 && s < _HEALTH_STATUS_MAX ? health_status_table[s] : NULL;
}

enum health_status health_status_from_string(const char *s) {
	for (int i = 0; s && i < _HEALTH_STATUS_MAX; i++)
		if (streq(health_status_table[i], s))
			return (enum health_status)i;
	return _HEALTH_STATUS_INVALID;
}

void health_state_init(struct health_state *s) {
	*s = (struct health_state){ .status = HEALTH_UNKNOWN };
}

void health_state_release(struct health_state *s) {
	free(s->reason);
	free(s->output);
	health_state_init(s);
}

static void replace_text(char **p, const char *text, size_t max) {
	free(*p);
	*p = text ? probe_text_clean(text, strlen(text), max) : NULL;
}

static bool in_grace(const struct health_state *s, const struct spec_health *h, int64_t now_ns, int64_t started_ns) {
	if (s->status != HEALTH_UNKNOWN && s->status != HEALTH_CHECKING)
		return false;
	return now_ns >= started_ns && (uint64_t)(now_ns - started_ns) < h->start_grace_nsec;
}

enum health_transition health_state_record(struct health_state *s, const struct spec_health *h, bool ok,
                                           const char *reason, const char *output, int64_t now_ns, int64_t started_ns) {
	enum health_status old = s->status;
	uint32_t retries = MAX(h->retries, UINT32_C(1));
	bool grace = in_grace(s, h, now_ns, started_ns);

	s->checks++;
	s->last_check_ns = now_ns;
	replace_text(&s->output, output, PROBE_OUTPUT_MAX);
	if (ok) {
		s->failures = 0;
		free(s->reason);
		s->reason = NULL;
		s->status = HEALTH_HEALTHY;
	} else {
		replace_text(&s->reason, isempty(reason) ? "check failed" : reason, HEALTH_REASON_MAX);
		if (grace) {
			s->status = HEALTH_CHECKING;
		} else {
			if (s->failures < UINT32_MAX)
				s->failures++;
			if (s->failures >= retries)
				s->status = HEALTH_UNHEALTHY;
			else if (old == HEALTH_UNKNOWN)
				s->status = HEALTH_CHECKING;
		}
	}
	if (s->status == old)
		return HEALTH_TRANSITION_NONE;
	log_debug("health: %s -> %s (failures %" PRIu32 "/%" PRIu32 "%s)", health_status_to_string(old),
	          health_status_to_string(s->status), s->failures, retries, grace && !ok ? ", in start grace" : "");
	if (s->status == HEALTH_HEALTHY)
		return HEALTH_TRANSITION_BECAME_HEALTHY;
	if (s->status == HEALTH_UNHEALTHY)
		return HEALTH_TRANSITION_BECAME_UNHEALTHY;
	return HEALTH_TRANSITION_NONE;
}

uint64_t health_next_delay_ns(const struct spec_health *h, const struct health_state *s, int64_t now_ns,
                              int64_t started_ns) {
	if (s->checks == 0)
		return 0;
	if (in_grace(s, h, now_ns, started_ns))
		return MIN(h->interval_nsec, HEALTH_START_INTERVAL_NSEC);
	return h->interval_nsec;
}

/* "2024-05-01T12:00:00.123456789Z" */
static json_t *time_to_json(int64_t ns) {
	time_t secs = (time_t)(ns / 1000000000);
	char date[32];
	struct tm tm;

	if (ns <= 0 || !gmtime_r(&secs, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return json_null();
	return json_sprintf("%s.%09" PRId64 "Z", date, ns % 1000000000);
}

int health_state_to_json(const struct health_state *s, json_t **ret) {
	json_t *j;

	j = json_pack("{s:s, s:I, s:s?, s:s?, s:o, s:I}", "status", health_status_to_string(s->status), "failures",
	              (json_int_t)s->failures, "reason", s->reason, "output", s->output, "last_check",
	              time_to_json(s->last_check_ns), "checks", (json_int_t)s->checks);
	if (!j)
		return -ENOMEM;
	*ret = j;
	return 0;
}

int health_probe_run(const struct spec_health_check *check, const struct health_target *t, uint64_t timeout_nsec,
                     const atomic_bool *cancel, struct probe_result *ret) {
	const char *ip = t && !isempty(t->ip) ? t->ip : NULL;

	*ret = (struct probe_result){ .code = -1 };
	switch (check->type) {
	case SPEC_CHECK_NONE:
		return 0;
	case SPEC_CHECK_TCP:
		if (!ip) {
			ret->reason = xstrdup("tcp check: the container has no address");
			return -EADDRNOTAVAIL;
		}
		return probe_tcp(ip, check->port, timeout_nsec, cancel, &ret->reason);
	case SPEC_CHECK_HTTP:
		return probe_http(check->url, ip, check->expect_status, timeout_nsec, cancel, ret);
	case SPEC_CHECK_COMMAND:
		return probe_command(check->command, t ? t->exec : NULL, t ? t->exec_userdata : NULL, timeout_nsec,
		                     ret);
	default:
		ret->reason = xasprintf("unknown check type %d", (int)check->type);
		return -EINVAL;
	}
}
