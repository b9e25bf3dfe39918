/* SPDX-License-Identifier: Apache-2.0 */
/* Process-wide logging to stderr, as text or JSON lines. Levels are syslog's.
 * %m in formats expands to strerror of the error passed to *_errno calls.
 * Configured from ZLAYER_LOG_LEVEL and ZLAYER_LOG_FORMAT by log_setup(). */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
	_LOG_FORMAT_MAX,
	_LOG_FORMAT_INVALID = -1,
};

void log_setup(const char *ident);
void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_format(enum log_format format);
/* "error", "warning", "notice", "info", "debug" -> LOG_*; -EINVAL otherwise */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);
const char *log_format_to_string(enum log_format f);
enum log_format log_format_from_string(const char *s);

/* Returns -abs(error) (or 0 when error is 0) so callers can `return log_...`. */
int log_internal(int level, int error, const char *func, const char *fmt, ...) _printf_(4, 5);

#define log_full_errno(level, error, ...)                                                                 \
	({                                                                                                \
		int _l_ = (level), _e_ = (error);                                                         \
		(log_get_max_level() >= _l_) ? log_internal(_l_, _e_, __func__, __VA_ARGS__) : -abs(_e_); \
	})
#define log_full(level, ...) (void)log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...)            log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)             log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)           log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...)          log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)            log_full(LOG_ERR, __VA_ARGS__)
#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)
