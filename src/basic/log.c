/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <stdarg.h>
#include <time.h>

#include "strbuf.h"
#include "banned.h"

static int max_level = LOG_NOTICE;
static enum log_format format = LOG_FORMAT_TEXT;
static const char *log_ident = "zlayer-agent";

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "error",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static const char *const format_names[_LOG_FORMAT_MAX] = {
	[LOG_FORMAT_TEXT] = "text",
	[LOG_FORMAT_JSON] = "json",
};

const char *log_level_to_string(int level) {
	if (level < 0 || level >= (int)ELEMENTSOF(level_names))
		return NULL;
	return level_names[level];
}

int log_level_from_string(const char *s) {
	if (!s)
		return -EINVAL;
	for (int i = 0; i < (int)ELEMENTSOF(level_names); i++)
		if (streq(level_names[i], s))
			return i;
	if (streq(s, "warn"))
		return LOG_WARNING;
	return -EINVAL;
}

const char *log_format_to_string(enum log_format f) {
	return f >= 0 && f < _LOG_FORMAT_MAX ? format_names[f] : NULL;
}

enum log_format log_format_from_string(const char *s) {
	for (int i = 0; s && i < _LOG_FORMAT_MAX; i++)
		if (streq(format_names[i], s))
			return (enum log_format)i;
	return _LOG_FORMAT_INVALID;
}

void log_set_max_level(int level) {
	max_level = level;
}

int log_get_max_level(void) {
	return max_level;
}

void log_set_format(enum log_format f) {
	format = f;
}

void log_setup(const char *ident) {
	const char *e;
	int l;

	if (ident)
		log_ident = ident;
	e = getenv("ZLAYER_LOG_LEVEL");
	if (e && (l = log_level_from_string(e)) >= 0)
		max_level = l;
	e = getenv("ZLAYER_LOG_FORMAT");
	if (e && log_format_from_string(e) >= 0)
		format = log_format_from_string(e);
}

int log_internal(int level, int error, const char *func, const char *fmt, ...) {
	_cleanup_strbuf_ struct strbuf msg = STRBUF_INIT, line = STRBUF_INIT;
	int saved = errno;
	va_list ap;

	error = abs(error);
	errno = error; /* %m */
	va_start(ap, fmt);
	strbuf_vaddf(&msg, fmt, ap);
	va_end(ap);

	if (format == LOG_FORMAT_JSON) {
		struct timespec ts;
		struct tm tm;
		char when[64];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		strbuf_addf(&line, "{\"time\":\"%s.%06ldZ\",\"level\":\"%s\",\"ident\":", when, ts.tv_nsec / 1000,
		            log_level_to_string(level));
		strbuf_add_json_string(&line, log_ident);
		strbuf_addstr(&line, ",\"msg\":");
		strbuf_add_json_string(&line, strbuf_str(&msg));
		if (max_level >= LOG_DEBUG) {
			strbuf_addstr(&line, ",\"func\":");
			strbuf_add_json_string(&line, func);
		}
		if (error)
			strbuf_addf(&line, ",\"errno\":%d", error);
		strbuf_addstr(&line, "}\n");
	} else {
		strbuf_addf(&line, "%s: ", log_ident);
		if (level <= LOG_WARNING)
			strbuf_addf(&line, "%s: ", level <= LOG_ERR ? "error" : "warning");
		if (max_level >= LOG_DEBUG)
			strbuf_addf(&line, "(%s) ", func);
		strbuf_addstr(&line, strbuf_str(&msg));
		strbuf_addch(&line, '\n');
	}
	/* One write per line, so lines from several processes do not interleave. */
	(void)!write(STDERR_FILENO, line.buf, line.len);
	errno = saved;
	return -error;
}
