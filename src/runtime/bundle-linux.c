/* SPDX-License-Identifier: Apache-2.0 */
/* The linux section of config.json, as dockerd fills it for runc. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <linux/magic.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/strbuf.h"
#include "runtime/bundle-internal.h"
#include "runtime/oci-defaults.h"
#include "basic/banned.h"

#define CPU_PERIOD_USEC    100000
#define CPU_QUOTA_MIN_USEC 1000 /* the kernel refuses less */
#define HOST_DEVICES_MAX   4096
#define HOST_DEVICES_DEPTH 8

/* Length of the valid UTF-8 sequence at s (0: invalid), as RFC 3629 has it. */
static size_t utf8_valid_at(const unsigned char *s) {
	size_t n;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, c = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, c = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

json_t *bundle_json_string(const char *s) {
	struct strbuf sb = STRBUF_INIT;
	json_t *j = json_string(strempty(s));

	if (j)
		return j;
	/* not UTF-8: what runc (Go) would make of it, U+FFFD per bad byte */
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_valid_at(p);
		if (n == 0) {
			strbuf_addstr(&sb, "\xef\xbf\xbd");
			p++;
		} else {
			strbuf_add(&sb, p, n);
			p += n;
		}
	}
	j = json_stringn(strbuf_str(&sb), sb.len);
	strbuf_release(&sb);
	return j;
}

json_t *bundle_json_u64(uint64_t v) {
	char buf[64];
	int n;

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	/* A string starting with NUL: no C string a user hands us can be
	 * dumped as "\u0000u64:...", so the marker cannot be forged. */
	buf[0] = '\0';
	n = snprintf(buf + 1, sizeof(buf) - 1, "u64:%" PRIu64, v);
	return json_stringn(buf, (size_t)n + 1);
}

char *bundle_json_dump(const json_t *j) {
	static const char marker[] = "\"\\u0000u64:";
	_cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2));
	struct strbuf sb = STRBUF_INIT;
	const char *p = text, *m;

	if (!text)
		return NULL;
	while ((m = strstr(p, marker))) {
		const char *digits = m + sizeof(marker) - 1;
		size_t n = strspn(digits, "0123456789");

		strbuf_add(&sb, p, (size_t)(m - p));
		strbuf_add(&sb, digits, n);
		p = digits + n + (digits[n] == '"' ? 1 : 0);
	}
	strbuf_addstr(&sb, p);
	return strbuf_detach(&sb, NULL);
}

json_t *bundle_json_load(const char *buf, size_t len, json_error_t *error) {
	static const char big[] = "9223372036854775807";
	struct strbuf sb = STRBUF_INIT;
	bool in_string = false;
	json_t *j;

	/* jansson refuses integers past INT64_MAX: outside strings, such
	 * numbers become the placeholder strings bundle_json_u64() makes */
	for (size_t i = 0; i < len;) {
		size_t n;

		if (in_string) {
			if (buf[i] == '\\' && i + 1 < len) {
				strbuf_add(&sb, buf + i, 2);
				i += 2;
				continue;
			}
			in_string = buf[i] != '"';
			strbuf_addch(&sb, buf[i++]);
			continue;
		}
		if (buf[i] == '"')
			in_string = true;
		if (buf[i] < '0' || buf[i] > '9' || (i > 0 && (buf[i - 1] == '-' || buf[i - 1] == '.'))) {
			strbuf_addch(&sb, buf[i++]);
			continue;
		}
		for (n = 0; i + n < len && buf[i + n] >= '0' && buf[i + n] <= '9';)
			n++;
		if ((n > sizeof(big) - 1 || (n == sizeof(big) - 1 && memcmp(buf + i, big, n) > 0)) &&
		    (i + n >= len || !strchr(".eE", buf[i + n]))) {
			strbuf_addstr(&sb, "\"\\u0000u64:");
			strbuf_add(&sb, buf + i, n);
			strbuf_addch(&sb, '"');
		} else
			strbuf_add(&sb, buf + i, n);
		i += n;
	}
	j = json_loadb(strbuf_str(&sb), sb.len, JSON_ALLOW_NUL, error);
	strbuf_release(&sb);
	return j;
}

json_t *bundle_rlimits(const struct container_config *cfg) {
	json_t *a;

	if (cfg->n_ulimits == 0)
		return NULL;
	a = json_array();
	for (size_t i = 0; i < cfg->n_ulimits; i++) {
		const struct spec_ulimit *u = &cfg->ulimits[i];
		_cleanup_free_ char *type = xasprintf("RLIMIT_%s", u->name);

		for (char *c = type; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		json_array_append_new(a,
		                      json_pack("{s:s, s:o, s:o}", "type", type, "hard",
		                                bundle_json_u64(u->hard < 0 ? UINT64_MAX : (uint64_t)u->hard), "soft",
		                                bundle_json_u64(u->soft < 0 ? UINT64_MAX : (uint64_t)u->soft)));
	}
	return a;
}

static json_t *device_rule(bool allow, const char *type, int64_t major, int64_t minor, const char *access) {
	json_t *r = json_object();

	json_object_set_new(r, "allow", json_boolean(allow));
	if (type)
		json_object_set_new(r, "type", json_string(type));
	if (major >= 0)
		json_object_set_new(r, "major", json_integer(major));
	if (minor >= 0)
		json_object_set_new(r, "minor", json_integer(minor));
	json_object_set_new(r, "access", json_string(access));
	return r;
}

static json_t *device_node(const char *path, const struct stat *st) {
	return json_pack("{s:o, s:s, s:I, s:I, s:I, s:I, s:I}", "path", bundle_json_string(path), "type",
	                 S_ISBLK(st->st_mode) ? "b" : "c", "major", (json_int_t)major(st->st_rdev), "minor",
	                 (json_int_t)minor(st->st_rdev), "fileMode", (json_int_t)(st->st_mode & 07777), "uid",
	                 (json_int_t)st->st_uid, "gid", (json_int_t)st->st_gid);
}

/* Every device node of the host's /dev, as runc's HostDevices lists them
 * for a privileged container (skipping pts, shm, mqueue, fd, console). */
static void host_devices(const char *dir, unsigned depth, json_t *out) {
	static const char *const skip[] = { "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev", NULL };
	_cleanup_strv_free_ char **names = NULL;
	struct dirent *de;
	DIR *d;

	if (depth > HOST_DEVICES_DEPTH || !(d = opendir(dir)))
		return;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			strv_push(&names, de->d_name);
	closedir(d);
	STRV_FOREACH (n, names) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, *n);
		struct stat st;
		bool skipped = false;

		if (json_array_size(out) >= HOST_DEVICES_MAX || lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			for (const char *const *s = skip; *s; s++)
				skipped = skipped || streq(*s, *n);
			if (!skipped)
				host_devices(path, depth + 1, out);
			continue;
		}
		if (streq(*n, "console") || (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)))
			continue;
		json_array_append_new(out, device_node(path, &st));
	}
}

static int add_devices(const struct bundle_options *o, json_t *devices, json_t *rules, struct za_error **reterr) {
	const struct container_config *cfg = o->cfg;

	for (size_t i = 0; i < cfg->n_devices; i++) {
		const struct spec_device *dv = &cfg->devices[i];
		char access[4] = {}, *a = access;
		struct stat st;

		if (!dv->path || dv->path[0] != '/')
			return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL,
			                     "device path '%s' must be absolute", strna(dv->path));
		if (stat(dv->path, &st) < 0)
			return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, errno,
			                     "device '%s' is not available on this host: %m", dv->path);
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
			return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, ENODEV,
			                     "device '%s' is not a character or block device", dv->path);
		json_array_append_new(devices, device_node(dv->path, &st));
		if (dv->read)
			*a++ = 'r';
		if (dv->write)
			*a++ = 'w';
		if (dv->mknod)
			*a++ = 'm';
		if (a != access)
			json_array_append_new(rules, device_rule(true, S_ISBLK(st.st_mode) ? "b" : "c",
			                                         (int64_t)major(st.st_rdev), (int64_t)minor(st.st_rdev),
			                                         access));
	}
	return 0;
}

static bool cgroup2_unified(void) {
	struct statfs fs;
	return statfs("/sys/fs/cgroup", &fs) >= 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

static bool swap_accounting(void) {
	return cgroup2_unified() || access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) >= 0;
}

static int add_resources(const struct bundle_options *o, json_t *res, struct za_error **reterr) {
	const struct spec_resources *r = &o->cfg->resources;
	json_t *mem = json_object(), *cpu = json_object();

	if (r->memory_swap > 0 && r->memory == 0) {
		json_decref(mem);
		json_decref(cpu);
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL,
		                     "resources.memory_swap needs resources.memory: it limits memory plus swap, as in "
		                     "Docker");
	}
	if (r->memory_swap > 0 && r->memory_swap < r->memory) {
		json_decref(mem);
		json_decref(cpu);
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL,
		                     "resources.memory_swap (%" PRIu64 ") must be at least resources.memory (%" PRIu64
		                     "): it limits memory plus swap, as in Docker",
		                     r->memory_swap, r->memory);
	}
	if (r->memory > 0)
		json_object_set_new(mem, "limit", json_integer((json_int_t)MIN(r->memory, (uint64_t)INT64_MAX)));
	if (r->memory_reservation > 0)
		json_object_set_new(mem, "reservation",
		                    json_integer((json_int_t)MIN(r->memory_reservation, (uint64_t)INT64_MAX)));
	if (r->memory_swap > 0)
		json_object_set_new(mem, "swap", json_integer((json_int_t)MIN(r->memory_swap, (uint64_t)INT64_MAX)));
	else if (r->memory > 0 && r->memory <= (uint64_t)INT64_MAX / 2 && swap_accounting())
		/* dockerd's default: as much swap as memory, so the limit
		 * cannot be dodged by swapping without bound */
		json_object_set_new(mem, "swap", json_integer((json_int_t)r->memory * 2));
	if (json_object_size(mem) > 0)
		json_object_set_new(res, "memory", mem);
	else
		json_decref(mem);

	if (r->cpu_shares > 0)
		json_object_set_new(cpu, "shares", json_integer((json_int_t)r->cpu_shares));
	if (r->cpu > 0) {
		double q = round(r->cpu * CPU_PERIOD_USEC);
		json_object_set_new(cpu, "period", json_integer(CPU_PERIOD_USEC));
		json_object_set_new(cpu, "quota",
		                    json_integer(q < CPU_QUOTA_MIN_USEC  ? CPU_QUOTA_MIN_USEC
		                                 : q > (double)INT64_MAX ? INT64_MAX
		                                                         : (json_int_t)q));
	}
	if (!isempty(r->cpuset))
		json_object_set_new(cpu, "cpus", bundle_json_string(r->cpuset));
	if (json_object_size(cpu) > 0)
		json_object_set_new(res, "cpu", cpu);
	else
		json_decref(cpu);

	if (r->pids_limit > 0)
		json_object_set_new(res, "pids", json_pack("{s:I}", "limit", (json_int_t)r->pids_limit));
	return 0;
}

static json_t *namespaces(const struct bundle_options *o) {
	json_t *ns = json_array();

	json_array_append_new(ns, json_pack("{s:s}", "type", "pid"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "ipc"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "uts"));
	json_array_append_new(ns, json_pack("{s:s}", "type", "mount"));
	if (o->cfg->network_mode != SPEC_NETWORK_HOST) {
		json_t *n = json_pack("{s:s}", "type", "network");
		if (o->netns_path)
			json_object_set_new(n, "path", bundle_json_string(o->netns_path));
		json_array_append_new(ns, n);
	}
	/* A cgroup namespace only where the hierarchy is unified: on v1 and
	 * hybrid hosts runc would show the container a partial view. */
	if (cgroup2_unified())
		json_array_append_new(ns, json_pack("{s:s}", "type", "cgroup"));
	return ns;
}

static json_t *strv_json(const char *const *l) {
	json_t *a = json_array();

	for (; l && *l; l++)
		json_array_append_new(a, json_string(*l));
	return a;
}

int bundle_linux(const struct bundle_options *o, char *const *caps, json_t **ret, struct za_error **reterr) {
	const struct container_config *cfg = o->cfg;
	_cleanup_(json_decrefp) json_t *lx = json_object();
	json_t *res = json_object(), *rules = json_array(), *devices = json_array();
	int r;

	json_object_set_new(lx, "namespaces", namespaces(o));
	if (o->cgroup_parent) {
		const char *p = o->cgroup_parent;
		while (*p == '/')
			p++;
		/* absolute: under the hierarchy's root, not the agent's own
		 * cgroup, so containers outlive an agent restart */
		_cleanup_free_ char *path = xasprintf("/%s%s%s", p, *p ? "/" : "", cfg->id);
		json_object_set_new(lx, "cgroupsPath", bundle_json_string(path));
	}

	json_object_set_new(res, "devices", rules);
	json_object_set_new(lx, "resources", res);
	json_object_set_new(lx, "devices", devices);
	if (cfg->privileged) {
		/* dockerd: every host device, and the device cgroup opened */
		json_array_append_new(rules, device_rule(true, NULL, -1, -1, "rwm"));
		host_devices("/dev", 0, devices);
	} else
		for (size_t i = 0; i < oci_default_device_rules_n; i++) {
			const struct oci_device_rule *d = &oci_default_device_rules[i];
			char t[2] = { d->type, 0 };
			json_array_append_new(rules, device_rule(d->allow, t, d->major, d->minor, d->access));
		}
	r = add_devices(o, devices, rules, reterr);
	if (r < 0)
		return r;
	r = add_resources(o, res, reterr);
	if (r < 0)
		return r;

	if (cfg->n_sysctls > 0) {
		json_t *s = json_object();
		json_object_set_new(lx, "sysctl", s);
		for (size_t i = 0; i < cfg->n_sysctls; i++) {
			/* runc refuses these too, less clearly */
			if (cfg->network_mode == SPEC_NETWORK_HOST && strneq(cfg->sysctls[i].key, "net.", 4))
				return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL,
				                     "sysctl '%s' cannot be set with network_mode host: the container "
				                     "shares the host's network namespace",
				                     cfg->sysctls[i].key);
			json_object_set_new(s, cfg->sysctls[i].key, bundle_json_string(cfg->sysctls[i].value));
		}
	}
	if (!cfg->privileged) {
		json_object_set_new(lx, "maskedPaths", strv_json(oci_masked_paths));
		json_object_set_new(lx, "readonlyPaths", strv_json(oci_readonly_paths));
		json_object_set_new(lx, "seccomp", oci_seccomp_default(caps, o->image ? o->image->architecture : NULL));
	}
	*ret = TAKE_PTR(lx);
	return 0;
}
