/* SPDX-License-Identifier: Apache-2.0 */
#include "cli/cli-parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>

#include "basic/alloc.h"
#include "basic/parse.h"
#include "basic/banned.h"

static int port_number(const char *s, bool allow_zero, uint16_t *ret) {
	uint32_t v;

	if (parse_uint32(s, &v) < 0 || v > 65535 || (v == 0 && !allow_zero))
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

static bool ip_valid(const char *s) {
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int cli_parse_port(const char *spec, struct container_port *ret, struct za_error **reterr) {
	_cleanup_free_ char *copy = xstrdup(spec), *ip = NULL;
	char *rest = copy, *slash, *host = NULL, *ctr, *colon;
	const char *proto = "tcp";
	uint16_t hp = 0, cp;

	slash = strrchr(rest, '/');
	if (slash) {
		*slash = '\0';
		proto = slash + 1;
		if (!streq(proto, "tcp") && !streq(proto, "udp"))
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "invalid port mapping '%s': protocol '%s' is not tcp or udp", spec, proto);
	}
	if (rest[0] == '[') {
		char *end = strchr(rest, ']');
		if (!end || end[1] != ':')
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "invalid port mapping '%s': expected [IPV6]:HOST:CONTAINER", spec);
		*end = '\0';
		ip = xstrdup(rest + 1);
		rest = end + 2;
		colon = strchr(rest, ':');
		if (!colon)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "invalid port mapping '%s': expected [IPV6]:HOST:CONTAINER", spec);
		*colon = '\0';
		host = rest;
		ctr = colon + 1;
	} else {
		char *c1 = strchr(rest, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (c2 && strchr(c2 + 1, ':'))
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "invalid port mapping '%s': write an IPv6 address in brackets, "
			                     "[::1]:8080:80",
			                     spec);
		if (c2) {
			*c1 = *c2 = '\0';
			ip = xstrdup(rest);
			host = c1 + 1;
			ctr = c2 + 1;
		} else if (c1) {
			*c1 = '\0';
			host = rest;
			ctr = c1 + 1;
		} else
			ctr = rest;
	}
	if (ip && !ip_valid(ip))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid port mapping '%s': '%s' is not an IP address", spec, ip);
	if (host && !isempty(host) && port_number(host, false, &hp) < 0)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid port mapping '%s': host port '%s' is not a number from 1 to 65535%s",
		                     spec, host, strchr(host, '-') ? " (ranges are not supported)" : "");
	if (port_number(ctr, false, &cp) < 0)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid port mapping '%s': container port '%s' is not a number from 1 to 65535%s",
		                     spec, ctr, strchr(ctr, '-') ? " (ranges are not supported)" : "");
	*ret = (struct container_port){
		.host_port = hp, .container_port = cp, .protocol = xstrdup(proto), .host_ip = TAKE_PTR(ip)
	};
	return 0;
}

static bool name_valid(const char *s) {
	if (!isalnum((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return false;
	return true;
}

int cli_parse_volume(const char *spec, const char *cwd, struct container_mount *ret, struct za_error **reterr) {
	_cleanup_free_ char *copy = xstrdup(spec), *source = NULL;
	char *parts[4] = {}, *p = copy, *target;
	size_t n = 0;
	bool ro = false;
	enum container_mount_type type;

	while (n < ELEMENTSOF(parts)) {
		parts[n++] = p;
		p = strchr(p, ':');
		if (!p)
			break;
		*p++ = '\0';
	}
	if (p || n == 0 || n > 3)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid volume '%s': expected SOURCE:TARGET[:ro]", spec);
	if (n == 3) {
		_cleanup_free_ char *opts = xstrdup(parts[2]);
		for (char *o = opts, *next; o; o = next) {
			next = strchr(o, ',');
			if (next)
				*next++ = '\0';
			if (streq(o, "ro") || streq(o, "readonly"))
				ro = true;
			else if (streq(o, "rw"))
				ro = false;
			else
				return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
				                     "invalid volume '%s': option '%s' is not ro or rw", spec, o);
		}
	}
	target = n == 1 ? parts[0] : parts[1];
	if (target[0] != '/')
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid volume '%s': the target '%s' must be an absolute path", spec, target);
	if (n == 1)
		type = CONTAINER_MOUNT_VOLUME; /* anonymous */
	else if (parts[0][0] == '/') {
		type = CONTAINER_MOUNT_BIND;
		source = xstrdup(parts[0]);
	} else if (streq(parts[0], ".") || streq(parts[0], "..") || strneq(parts[0], "./", 2) ||
	           strneq(parts[0], "../", 3)) {
		if (isempty(cwd) || cwd[0] != '/')
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "invalid volume '%s': cannot resolve a relative path without the "
			                     "current directory",
			                     spec);
		type = CONTAINER_MOUNT_BIND;
		source = xasprintf("%s/%s", streq(cwd, "/") ? "" : cwd, parts[0]);
	} else if (name_valid(parts[0])) {
		type = CONTAINER_MOUNT_VOLUME;
		source = xstrdup(parts[0]);
	} else
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid volume '%s': '%s' is neither an absolute path nor a volume name "
		                     "([a-zA-Z0-9][a-zA-Z0-9_.-]*)",
		                     spec, parts[0]);
	*ret = (struct container_mount){
		.type = type, .source = TAKE_PTR(source), .target = xstrdup(target), .readonly = ro
	};
	return 0;
}

int cli_parse_tmpfs(const char *spec, struct container_mount *ret, struct za_error **reterr) {
	_cleanup_free_ char *copy = xstrdup(spec);
	char *colon = strchr(copy, ':');
	uint64_t size = 0;
	uint32_t mode = 0;

	if (colon) {
		*colon = '\0';
		for (char *o = colon + 1, *next; o; o = next) {
			next = strchr(o, ',');
			if (next)
				*next++ = '\0';
			if (strneq(o, "size=", 5) && cli_parse_memory(o + 5, &size) >= 0 && size > 0)
				continue;
			if (strneq(o, "mode=", 5) && o[5] >= '0' && o[5] <= '7' &&
			    strspn(o + 5, "01234567") == strlen(o + 5) && strlen(o + 5) <= 4) {
				mode = (uint32_t)strtoul(o + 5, NULL, 8);
				continue;
			}
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "invalid tmpfs '%s': option '%s' is not size=SIZE or mode=OCTAL", spec, o);
		}
	}
	if (copy[0] != '/')
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid tmpfs '%s': the target must be an absolute path", spec);
	*ret = (struct container_mount){
		.type = CONTAINER_MOUNT_TMPFS, .target = xstrdup(copy), .tmpfs_size = size, .tmpfs_mode = mode
	};
	return 0;
}

int cli_parse_env(const char *spec, char **ret, struct za_error **reterr) {
	const char *eq = strchr(spec, '='), *v;

	if (spec[0] == '=' || spec[0] == '\0')
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid environment variable '%s': expected NAME=VALUE or NAME", spec);
	if (eq) {
		*ret = xstrdup(spec);
		return 0;
	}
	v = getenv(spec);
	*ret = v ? xasprintf("%s=%s", spec, v) : NULL;
	return 0;
}

int cli_parse_memory(const char *s, uint64_t *ret_bytes) {
	_cleanup_free_ char *num = NULL;
	const char *p = s;
	double v, mult = 1;
	int shift = 0;

	while (isdigit((unsigned char)*p) || *p == '.')
		p++;
	if (p == s)
		return -EINVAL;
	num = xstrndup(s, (size_t)(p - s));
	if (parse_double(num, &v) < 0 || v < 0)
		return -EINVAL;
	if (*p == ' ' && p[1])
		p++;
	if (*p) {
		const char *units = "kmgtp", *u = strchr(units, tolower((unsigned char)*p));
		if (u) {
			shift = (int)(u - units) + 1;
			p++;
			if (*p == 'i' || *p == 'I')
				p++;
		}
		if (*p == 'b' || *p == 'B')
			p++;
		if (*p)
			return -EINVAL;
	}
	for (int i = 0; i < shift; i++)
		mult *= 1024;
	v *= mult;
	if (v >= 18446744073709551615.0)
		return -ERANGE;
	*ret_bytes = (uint64_t)v;
	return 0;
}

char *cli_since_to_query(const char *s, int64_t now_ns) {
	uint64_t d;
	int64_t t;

	if (parse_duration(s, &d) < 0)
		return xstrdup(s);
	t = d > (uint64_t)now_ns ? 0 : now_ns - (int64_t)d;
	return xasprintf("%" PRId64 ".%09" PRId64, t / 1000000000, t % 1000000000);
}

char *cli_human_duration(int64_t ns) {
	double secs = (double)ns / 1e9, hours_f = secs / 3600;
	int64_t s = (int64_t)secs, m = s / 60, h = (int64_t)(hours_f + 0.5);

	if (s < 1)
		return xstrdup("Less than a second");
	if (s == 1)
		return xstrdup("1 second");
	if (s < 60)
		return xasprintf("%" PRId64 " seconds", s);
	if (m == 1)
		return xstrdup("About a minute");
	if (m < 60)
		return xasprintf("%" PRId64 " minutes", m);
	if (h == 1)
		return xstrdup("About an hour");
	if (h < 48)
		return xasprintf("%" PRId64 " hours", h);
	if (h < 24 * 7 * 2)
		return xasprintf("%" PRId64 " days", h / 24);
	if (h < 24 * 30 * 2)
		return xasprintf("%" PRId64 " weeks", h / 24 / 7);
	if (h < 24 * 365 * 2)
		return xasprintf("%" PRId64 " months", h / 24 / 30);
	return xasprintf("%" PRId64 " years", (int64_t)(hours_f / 24 / 365));
}

char *cli_status_text(const char *state, int exit_status, int64_t started_ns, int64_t finished_ns, int64_t now_ns) {
	_cleanup_free_ char *d = NULL;

	if (!state)
		return xstrdup("Unknown");
	if (streq(state, "running")) {
		d = cli_human_duration(started_ns > 0 ? now_ns - started_ns : 0);
		return xasprintf("Up %s", d);
	}
	if (streq(state, "exited")) {
		if (finished_ns <= 0)
			return xasprintf("Exited (%d)", exit_status);
		d = cli_human_duration(now_ns - finished_ns);
		return xasprintf("Exited (%d) %s ago", exit_status, d);
	}
	if (streq(state, "created"))
		return xstrdup("Created");
	if (streq(state, "stopping"))
		return xstrdup("Stopping");
	if (streq(state, "failed"))
		return xstrdup("Failed");
	if (streq(state, "pending"))
		return xstrdup("Pending");
	return xstrdup(state);
}

int cli_exit_status(int exit_code, int signal) {
	if (signal > 0 && signal < 128)
		return 128 + signal;
	return exit_code < 0 || exit_code > 255 ? 255 : exit_code;
}

void cli_format_bytes(char *buf, size_t len, uint64_t b) {
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 "B", b);
	else
		snprintf(buf, len, "%.4g%s", v, units[u]);
}
