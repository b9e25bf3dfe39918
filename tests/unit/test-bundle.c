/* SPDX-License-Identifier: Apache-2.0 */
/* Golden-ish checks of config.json: every mapping from the image config and
 * the container settings, parsed back with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "runtime/bundle-internal.h"
#include "runtime/bundle.h"
#include "runtime/oci-defaults.h"

struct fixture {
	char *dir, *rootfs, *bundle, *volumes, *cdi, *resolv, *hosts;
	char *cdi_dirs[2];
	struct container_config cfg;
	struct oci_image_config image;
	struct bundle_options o;
	json_t *config;
};

/* Formatted strings that live until the test's teardown. */
static char *tmp_strings[256];
static size_t n_tmp;

_printf_(1, 2) static const char *tmpf(const char *fmt, ...) {
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	assert_true(n_tmp < ELEMENTSOF(tmp_strings));
	tmp_strings[n_tmp++] = s;
	return s;
}

static void write_at(const char *root, const char *rel, const char *text) {
	_cleanup_free_ char *path = xasprintf("%s/%s", root, rel);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static char **strv(const char *first, ...) {
	char **l = xnew(char *, 1);
	va_list ap;

	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		strv_push(&l, s);
	va_end(ap);
	return l;
}

static int setup(void **state) {
	struct fixture *f = xnew(struct fixture, 1);
	char tmpl[] = "/tmp/test-bundle-XXXXXX";
	_cleanup_free_ char *etc = NULL, *data = NULL;

	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	f->rootfs = xasprintf("%s/rootfs", f->dir);
	f->bundle = xasprintf("%s/containers/web-rep-0/bundle", f->dir);
	f->volumes = xasprintf("%s/volumes", f->dir);
	f->cdi = xasprintf("%s/cdi", f->dir);
	f->resolv = xasprintf("%s/host-resolv.conf", f->dir);
	f->hosts = xasprintf("%s/host-hosts", f->dir);
	etc = xasprintf("%s/etc", f->rootfs);
	data = xasprintf("%s/data/sub", f->rootfs);
	assert_int_equal(mkdir_p(etc, 0755), 0);
	assert_int_equal(mkdir_p(data, 0755), 0);
	assert_int_equal(mkdir(f->cdi, 0755), 0);
	write_at(f->rootfs, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
	write_at(f->rootfs, "etc/group", "root:x:0:\nstaff:x:50:app\n");
	write_at(f->rootfs, "data/hello.txt", "from the image\n");
	write_at(f->rootfs, "data/sub/deep.txt", "deep\n");
	write_at(f->dir, "host-resolv.conf",
	         "# host\nnameserver 127.0.0.53\nnameserver ::1\nsearch example.com\noptions ndots:2\n");
	write_at(f->dir, "host-hosts", "127.0.0.1 localhost\n10.1.1.1 hostbox\n");

	f->cdi_dirs[0] = f->cdi;
	f->cfg.id = xstrdup("web-rep-0");
	f->cfg.image = xstrdup("busybox:1.36");
	f->cfg.network_mode = SPEC_NETWORK_BRIDGE;
	f->image.entrypoint = strv("/docker-entrypoint.sh", NULL);
	f->image.cmd = strv("nginx", "-g", "daemon off;", NULL);
	f->image.env = strv("PATH=/usr/local/bin:/usr/bin:/bin", "NGINX_VERSION=1.25", NULL);
	f->o = (struct bundle_options){
		.bundle_dir = f->bundle,
		.rootfs = f->rootfs,
		.image = &f->image,
		.cfg = &f->cfg,
		.volumes_dir = f->volumes,
		.host_resolv_conf = f->resolv,
		.host_hosts = f->hosts,
		.cdi_dirs = f->cdi_dirs,
	};
	*state = f;
	return 0;
}

static int teardown(void **state) {
	struct fixture *f = *state;

	while (n_tmp > 0)
		free(tmp_strings[--n_tmp]);
	json_decref(f->config);
	container_config_release(&f->cfg);
	oci_image_config_release(&f->image);
	rm_rf(f->dir);
	free(f->dir);
	free(f->rootfs);
	free(f->bundle);
	free(f->volumes);
	free(f->cdi);
	free(f->resolv);
	free(f->hosts);
	free(f);
	return 0;
}

static char *read_bundle_file(struct fixture *f, const char *name) {
	_cleanup_free_ char *path = xasprintf("%s/%s", f->bundle, name);
	char *buf = NULL;

	assert_int_equal(read_full_file(path, 1 << 24, &buf, NULL), 0);
	return buf;
}

/* Write the bundle and parse config.json back. */
static json_t *generate(struct fixture *f) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *text = NULL;
	json_error_t e;
	int r;

	r = bundle_write(&f->o, &err);
	if (r < 0)
		fail_msg("bundle_write: %s", err->message);
	text = read_bundle_file(f, "config.json");
	json_decref(f->config);
	f->config = bundle_json_load(text, strlen(text), &e);
	if (!f->config)
		fail_msg("config.json does not parse: %s", e.text);
	return f->config;
}

static void expect_failure(struct fixture *f, enum za_error_kind kind, const char *message) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct stat st;

	assert_true(bundle_write(&f->o, &err) < 0);
	assert_non_null(err);
	assert_int_equal(err->kind, kind);
	if (message && !strstr(err->message, message))
		fail_msg("'%s' does not contain '%s'", err->message, message);
	/* a failed create leaves no bundle behind */
	assert_int_equal(stat(f->bundle, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static json_t *get(json_t *j, const char *path) {
	_cleanup_free_ char *copy = xstrdup(path);

	for (char *k = copy, *dot; k && j; k = dot) {
		dot = strchr(k, '.');
		if (dot)
			*dot++ = '\0';
		j = json_is_array(j) ? json_array_get(j, (size_t)strtoul(k, NULL, 10)) : json_object_get(j, k);
	}
	return j;
}

static const char *gets(json_t *j, const char *path) {
	const char *s = json_string_value(get(j, path));
	if (!s)
		fail_msg("no string at %s", path);
	return s;
}

static json_int_t geti(json_t *j, const char *path) {
	json_t *v = get(j, path);
	if (!json_is_integer(v))
		fail_msg("no integer at %s", path);
	return json_integer_value(v);
}

static bool array_has(json_t *a, const char *s) {
	json_t *v;
	size_t i;

	json_array_foreach(a, i, v) if (json_is_string(v) && streq(json_string_value(v), s)) return true;
	return false;
}

static json_t *find_mount(json_t *config, const char *dest) {
	json_t *m;
	size_t i;

	json_array_foreach(get(config, "mounts"), i, m) if (streq(gets(m, "destination"), dest)) return m;
	return NULL;
}

static size_t find_mount_index(json_t *config, const char *dest) {
	json_t *m;
	size_t i;

	json_array_foreach(get(config, "mounts"), i, m) if (streq(gets(m, "destination"), dest)) return i;
	fail_msg("no mount at %s", dest);
	return 0;
}

static void assert_strv_json(json_t *a, const char *const *want) {
	size_t n = 0;

	for (; want[n]; n++) {
		assert_non_null(json_array_get(a, n));
		assert_string_equal(json_string_value(json_array_get(a, n)), want[n]);
	}
	assert_int_equal(json_array_size(a), n);
}

static void test_args(void **state) {
	struct fixture *f = *state;
	const struct {
		const char *const *ep, *const *args, *const *img_ep, *const *img_cmd, *const *want;
	} cases[] = {
		/* nothing set: image Entrypoint + Cmd */
		{ NULL, NULL, (const char *const[]){ "/ep", NULL }, (const char *const[]){ "c1", "c2", NULL },
		  (const char *const[]){ "/ep", "c1", "c2", NULL } },
		/* args replace Cmd and keep Entrypoint */
		{ NULL, (const char *const[]){ "a", NULL }, (const char *const[]){ "/ep", NULL },
		  (const char *const[]){ "c1", NULL }, (const char *const[]){ "/ep", "a", NULL } },
		/* entrypoint override drops Cmd */
		{ (const char *const[]){ "/x", NULL }, NULL, (const char *const[]){ "/ep", NULL },
		  (const char *const[]){ "c1", NULL }, (const char *const[]){ "/x", NULL } },
		/* ... unless args are given */
		{ (const char *const[]){ "/x", NULL }, (const char *const[]){ "a", "b", NULL },
		  (const char *const[]){ "/ep", NULL }, (const char *const[]){ "c1", NULL },
		  (const char *const[]){ "/x", "a", "b", NULL } },
		/* an empty entrypoint clears both */
		{ (const char *const[]){ NULL }, (const char *const[]){ "sh", NULL },
		  (const char *const[]){ "/ep", NULL }, (const char *const[]){ "c1", NULL },
		  (const char *const[]){ "sh", NULL } },
		/* Cmd only */
		{ NULL, NULL, NULL, (const char *const[]){ "sh", NULL }, (const char *const[]){ "sh", NULL } },
		/* nothing at all */
		{ NULL, NULL, NULL, NULL, NULL },
		{ (const char *const[]){ NULL }, NULL, (const char *const[]){ "/ep", NULL },
		  (const char *const[]){ "c1", NULL }, NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct container_config cfg = { .entrypoint = (char **)cases[i].ep, .args = (char **)cases[i].args };
		struct oci_image_config img = { .entrypoint = (char **)cases[i].img_ep,
			                        .cmd = (char **)cases[i].img_cmd };
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_strv_free_ char **got = NULL;

		if (!cases[i].want) {
			assert_int_equal(bundle_resolve_args(&img, &cfg, &got, &err), -EINVAL);
			assert_string_equal(err->message,
			                    "no command: the image has no Entrypoint or Cmd and the spec sets none");
			continue;
		}
		assert_int_equal(bundle_resolve_args(&img, &cfg, &got, NULL), 0);
		assert_int_equal(strv_length(got), strv_length((char **)cases[i].want));
		for (size_t k = 0; cases[i].want[k]; k++)
			assert_string_equal(got[k], cases[i].want[k]);
	}
	/* the empty command through bundle_write leaves nothing */
	strv_free(f->image.entrypoint);
	strv_free(f->image.cmd);
	f->image.entrypoint = f->image.cmd = NULL;
	expect_failure(f, ZA_ERROR_CREATE_FAILED, "no command: the image has no Entrypoint or Cmd");
}

static void test_defaults(void **state) {
	struct fixture *f = *state;
	json_t *c = generate(f), *caps, *seccomp, *names, *rule, *m;
	_cleanup_free_ char *hostname = read_bundle_file(f, "hostname");
	_cleanup_free_ char *resolv = read_bundle_file(f, "resolv.conf"), *hosts = read_bundle_file(f, "hosts");
	struct statfs fs;
	struct stat st;
	size_t i, n_clone = 0, n_personality = 0;
	bool socket_rule = false, clone3_enosys = false;

	assert_string_equal(gets(c, "ociVersion"), "1.0.2");
	assert_string_equal(gets(c, "root.path"), f->rootfs);
	assert_true(json_is_false(get(c, "root.readonly")));
	assert_string_equal(gets(c, "hostname"), "web-rep-0");
	assert_string_equal(hostname, "web-rep-0\n");

	/* process */
	assert_true(json_is_false(get(c, "process.terminal")));
	assert_int_equal(geti(c, "process.user.uid"), 0);
	assert_int_equal(geti(c, "process.user.gid"), 0);
	assert_int_equal(json_array_size(get(c, "process.user.additionalGids")), 1);
	assert_strv_json(get(c, "process.args"),
	                 (const char *const[]){ "/docker-entrypoint.sh", "nginx", "-g", "daemon off;", NULL });
	assert_strv_json(get(c, "process.env"),
	                 (const char *const[]){ "PATH=/usr/local/bin:/usr/bin:/bin", "NGINX_VERSION=1.25",
	                                        "HOSTNAME=web-rep-0", NULL });
	assert_string_equal(gets(c, "process.cwd"), "/");
	caps = get(c, "process.capabilities");
	assert_strv_json(get(caps, "bounding"), oci_default_capabilities);
	assert_strv_json(get(caps, "effective"), oci_default_capabilities);
	assert_strv_json(get(caps, "permitted"), oci_default_capabilities);
	assert_int_equal(json_array_size(get(caps, "bounding")), 14);
	assert_null(get(caps, "inheritable"));
	assert_null(get(caps, "ambient"));
	assert_true(json_is_true(get(c, "process.noNewPrivileges")));
	assert_null(get(c, "process.rlimits"));
	assert_null(get(c, "process.oomScoreAdj"));

	/* mounts: Docker's, then the etc files */
	static const char *const dests[] = { "/proc",         "/dev",      "/dev/pts",       "/dev/shm",
		                             "/dev/mqueue",   "/sys",      "/sys/fs/cgroup", "/etc/resolv.conf",
		                             "/etc/hostname", "/etc/hosts" };
	assert_int_equal(json_array_size(get(c, "mounts")), ELEMENTSOF(dests));
	for (i = 0; i < ELEMENTSOF(dests); i++)
		assert_string_equal(gets(c, tmpf("mounts.%zu.destination", i)), dests[i]);
	assert_true(array_has(get(find_mount(c, "/dev/shm"), "options"), "size=65536k"));
	assert_true(array_has(get(find_mount(c, "/sys"), "options"), "ro"));
	assert_true(array_has(get(find_mount(c, "/sys/fs/cgroup"), "options"), "ro"));
	m = find_mount(c, "/etc/resolv.conf");
	assert_string_equal(gets(m, "type"), "bind");
	assert_string_equal(gets(m, "source"), tmpf("%s/resolv.conf", f->bundle));
	assert_strv_json(get(m, "options"), (const char *const[]){ "rbind", "rprivate", NULL });

	/* etc files */
	assert_string_equal(resolv, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n# host\nsearch example.com\noptions "
	                            "ndots:2\n");
	assert_non_null(strstr(hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
	assert_non_null(strstr(hosts, "\n127.0.0.1\tweb-rep-0\n"));

	/* namespaces: a new empty netns without a path; cgroup only on v2 */
	assert_string_equal(gets(c, "linux.namespaces.0.type"), "pid");
	assert_string_equal(gets(c, "linux.namespaces.4.type"), "network");
	assert_null(get(c, "linux.namespaces.4.path"));
	assert_true(statfs("/sys/fs/cgroup", &fs) == 0);
	assert_int_equal(json_array_size(get(c, "linux.namespaces")), fs.f_type == CGROUP2_SUPER_MAGIC ? 6 : 5);
	assert_null(get(c, "linux.cgroupsPath"));

	/* masked and read-only paths, device rules */
	assert_int_equal(json_array_size(get(c, "linux.maskedPaths")), 12);
	assert_true(array_has(get(c, "linux.maskedPaths"), "/proc/kcore"));
	assert_strv_json(get(c, "linux.readonlyPaths"),
	                 (const char *const[]){ "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
	                                        "/proc/sysrq-trigger", NULL });
	assert_true(json_is_false(get(c, "linux.resources.devices.0.allow")));
	assert_string_equal(gets(c, "linux.resources.devices.0.access"), "rwm");
	assert_string_equal(gets(c, "linux.resources.devices.0.type"), "a");
	assert_int_equal(json_array_size(get(c, "linux.resources.devices")), 8);
	assert_int_equal(json_array_size(get(c, "linux.devices")), 0);
	assert_null(get(c, "linux.resources.memory"));

	/* seccomp: Docker's default profile for the 14 capabilities */
	seccomp = get(c, "linux.seccomp");
	assert_string_equal(gets(seccomp, "defaultAction"), "SCMP_ACT_ERRNO");
	assert_int_equal(geti(seccomp, "defaultErrnoRet"), 1);
#if defined(__x86_64__)
	/* the image is amd64: no 32-bit compat syscalls */
	assert_strv_json(get(seccomp, "architectures"), (const char *const[]){ "SCMP_ARCH_X86_64", NULL });
	assert_true(array_has(get(seccomp, "syscalls.0.names"), "read"));
#endif
	names = get(seccomp, "syscalls.0.names");
	assert_true(json_array_size(names) > 250);
	assert_string_equal(gets(seccomp, "syscalls.0.action"), "SCMP_ACT_ALLOW");
	json_array_foreach(get(seccomp, "syscalls"), i, rule) {
		json_t *rn = get(rule, "names");
		/* nothing that needs CAP_SYS_ADMIN */
		assert_false(array_has(rn, "mount"));
		assert_false(array_has(rn, "unshare"));
		if (array_has(rn, "clone") && get(rule, "args")) {
			n_clone++;
			assert_string_equal(gets(rule, "args.0.op"), "SCMP_CMP_MASKED_EQ");
			assert_int_equal(geti(rule, "args.0.value"), 2114060288);
		}
		if (array_has(rn, "personality"))
			n_personality++;
		if (array_has(rn, "socket")) {
			socket_rule = true;
			assert_string_equal(gets(rule, "args.0.op"), "SCMP_CMP_NE");
			assert_int_equal(geti(rule, "args.0.value"), 40);
		}
		if (array_has(rn, "clone3")) {
			clone3_enosys = true;
			assert_string_equal(gets(rule, "action"), "SCMP_ACT_ERRNO");
			assert_int_equal(geti(rule, "errnoRet"), ENOSYS);
		}
		if (array_has(rn, "chroot"))
			assert_string_equal(gets(rule, "action"), "SCMP_ACT_ALLOW"); /* CAP_SYS_CHROOT is a default */
	}
	assert_int_equal(n_clone, 1);
	assert_int_equal(n_personality, 5);
	assert_true(socket_rule);
	assert_true(clone3_enosys);

	/* files: the directory private, config.json not world readable */
	assert_int_equal(stat(f->bundle, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(tmpf("%s/config.json", f->bundle), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_env_cwd_user(void **state) {
	struct fixture *f = *state;
	json_t *c;

	strv_push(&f->image.env, "HOSTNAME=from-image");
	strv_push(&f->image.env, "FOO=image");
	f->cfg.env = strv("FOO=spec", "BAR=1", NULL);
	f->cfg.tty = true;
	f->cfg.hostname = xstrdup("web");
	f->image.working_dir = xstrdup("/app");
	f->image.user = xstrdup("app");
	c = generate(f);
	/* image < PATH (kept), HOSTNAME, TERM < the spec */
	assert_strv_json(get(c, "process.env"),
	                 (const char *const[]){ "PATH=/usr/local/bin:/usr/bin:/bin", "NGINX_VERSION=1.25",
	                                        "HOSTNAME=web", "FOO=spec", "TERM=xterm", "BAR=1", NULL });
	assert_true(json_is_true(get(c, "process.terminal")));
	assert_string_equal(gets(c, "hostname"), "web");
	assert_string_equal(gets(c, "process.cwd"), "/app");
	assert_int_equal(geti(c, "process.user.uid"), 1000);
	assert_int_equal(geti(c, "process.user.gid"), 1000);
	assert_int_equal(json_array_size(get(c, "process.user.additionalGids")), 2);
	assert_int_equal(geti(c, "process.user.additionalGids.1"), 50);
	rm_rf(f->bundle);

	/* the spec overrides the image; a relative workdir is made absolute */
	f->cfg.user = xstrdup("1234:5678");
	f->cfg.workdir = xstrdup("rel/dir");
	strv_free(f->image.env);
	f->image.env = NULL;
	c = generate(f);
	assert_string_equal(gets(c, "process.cwd"), "/rel/dir");
	assert_int_equal(geti(c, "process.user.uid"), 1234);
	assert_int_equal(geti(c, "process.user.gid"), 5678);
	assert_string_equal(gets(c, "process.env.0"),
	                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	rm_rf(f->bundle);

	free(f->cfg.user);
	f->cfg.user = xstrdup("ghost");
	expect_failure(f, ZA_ERROR_CREATE_FAILED, "user 'ghost' not found in the image's /etc/passwd");
}

static void test_caps(void **state) {
	struct fixture *f = *state;
	_cleanup_strv_free_ char **all = oci_all_capabilities();
	json_t *c, *b, *rule;
	size_t i;
	bool mount_allowed = false, clone_filtered = false;

	f->cfg.cap_add = strv("NET_ADMIN", "cap_sys_admin", "CAP_CHOWN", NULL);
	f->cfg.cap_drop = strv("CAP_CHOWN", "MKNOD", NULL);
	c = generate(f);
	b = get(c, "process.capabilities.bounding");
	/* 14 - MKNOD (CHOWN dropped then added back) + NET_ADMIN + SYS_ADMIN */
	assert_int_equal(json_array_size(b), 15);
	assert_true(array_has(b, "CAP_NET_ADMIN"));
	assert_true(array_has(b, "CAP_SYS_ADMIN"));
	assert_true(array_has(b, "CAP_CHOWN"));
	assert_false(array_has(b, "CAP_MKNOD"));
	/* CAP_SYS_ADMIN opens the conditional seccomp rules */
	json_array_foreach(get(c, "linux.seccomp.syscalls"), i, rule) {
		mount_allowed = mount_allowed || array_has(get(rule, "names"), "mount");
		clone_filtered = clone_filtered || (array_has(get(rule, "names"), "clone") && get(rule, "args"));
	}
	assert_true(mount_allowed);
	assert_false(clone_filtered);
	rm_rf(f->bundle);

	strv_free(f->cfg.cap_add);
	strv_free(f->cfg.cap_drop);
	f->cfg.cap_add = strv("ALL", NULL);
	f->cfg.cap_drop = strv("SYS_MODULE", NULL);
	c = generate(f);
	assert_int_equal(json_array_size(get(c, "process.capabilities.bounding")), strv_length(all) - 1);
	assert_false(array_has(get(c, "process.capabilities.bounding"), "CAP_SYS_MODULE"));
	assert_non_null(get(c, "linux.seccomp")); /* ALL is not privileged */
	rm_rf(f->bundle);

	strv_free(f->cfg.cap_add);
	strv_free(f->cfg.cap_drop);
	f->cfg.cap_add = strv("NET_BIND_SERVICE", NULL);
	f->cfg.cap_drop = strv("all", NULL);
	c = generate(f);
	assert_strv_json(get(c, "process.capabilities.effective"),
	                 (const char *const[]){ "CAP_NET_BIND_SERVICE", NULL });
	rm_rf(f->bundle);

	strv_free(f->cfg.cap_add);
	f->cfg.cap_add = strv("CAP_TELEPATHY", NULL);
	expect_failure(f, ZA_ERROR_CREATE_FAILED, "unknown capability 'CAP_TELEPATHY' in cap_add");
}

static void test_privileged(void **state) {
	struct fixture *f = *state;
	_cleanup_strv_free_ char **all = oci_all_capabilities();
	json_t *c;

	f->cfg.privileged = true;
	f->cfg.cap_drop = strv("ALL", NULL); /* privileged wins, as in Docker */
	c = generate(f);
	assert_int_equal(json_array_size(get(c, "process.capabilities.bounding")), strv_length(all));
	assert_null(get(c, "linux.seccomp"));
	assert_null(get(c, "linux.maskedPaths"));
	assert_null(get(c, "linux.readonlyPaths"));
	assert_true(json_is_false(get(c, "process.noNewPrivileges")));
	assert_int_equal(json_array_size(get(c, "linux.resources.devices")), 1);
	assert_true(json_is_true(get(c, "linux.resources.devices.0.allow")));
	assert_null(get(c, "linux.resources.devices.0.type"));
	assert_string_equal(gets(c, "linux.resources.devices.0.access"), "rwm");
	assert_true(json_array_size(get(c, "linux.devices")) > 3); /* the host's /dev */
	assert_true(array_has(get(find_mount(c, "/sys"), "options"), "rw"));
	assert_true(array_has(get(find_mount(c, "/sys/fs/cgroup"), "options"), "rw"));
}

static void test_resources(void **state) {
	struct fixture *f = *state;
	json_t *c;

	f->cfg.resources = (struct spec_resources){
		.cpu = 1.5,
		.memory = 256u << 20,
		.memory_swap = 512u << 20,
		.memory_reservation = 128u << 20,
		.cpu_shares = 512,
		.pids_limit = 100,
		.cpuset = xstrdup("0-1"),
		.has_oom_score_adj = true,
		.oom_score_adj = 500,
	};
	f->o.cgroup_parent = "zlayer";
	c = generate(f);
	assert_int_equal(geti(c, "linux.resources.cpu.period"), 100000);
	assert_int_equal(geti(c, "linux.resources.cpu.quota"), 150000);
	assert_int_equal(geti(c, "linux.resources.cpu.shares"), 512);
	assert_string_equal(gets(c, "linux.resources.cpu.cpus"), "0-1");
	assert_int_equal(geti(c, "linux.resources.memory.limit"), 256 << 20);
	assert_int_equal(geti(c, "linux.resources.memory.swap"), 512 << 20);
	assert_int_equal(geti(c, "linux.resources.memory.reservation"), 128 << 20);
	assert_int_equal(geti(c, "linux.resources.pids.limit"), 100);
	assert_int_equal(geti(c, "process.oomScoreAdj"), 500);
	assert_string_equal(gets(c, "linux.cgroupsPath"), "/zlayer/web-rep-0");
	rm_rf(f->bundle);

	f->cfg.resources.cpu = 0.001; /* below the kernel's 1 ms minimum */
	f->cfg.resources.memory_swap = 0;
	c = generate(f);
	assert_int_equal(geti(c, "linux.resources.cpu.quota"), 1000);
	/* no swap limit given: Docker's, as much swap as memory */
	if (access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0)
		assert_int_equal(geti(c, "linux.resources.memory.swap"), 512 << 20);
	rm_rf(f->bundle);

	f->cfg.resources.memory_swap = 64u << 20;
	expect_failure(f, ZA_ERROR_CREATE_FAILED, "resources.memory_swap (67108864) must be at least resources.memory");
	f->cfg.resources.memory = 0;
	expect_failure(f, ZA_ERROR_CREATE_FAILED, "resources.memory_swap needs resources.memory");
}

static void test_ulimits_sysctls_devices(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *text = NULL;
	json_t *c;

	f->cfg.ulimits = xnew(struct spec_ulimit, 2);
	f->cfg.ulimits[0] = (struct spec_ulimit){ xstrdup("nofile"), 1024, 2048 };
	f->cfg.ulimits[1] = (struct spec_ulimit){ xstrdup("core"), -1, -1 };
	f->cfg.n_ulimits = 2;
	f->cfg.sysctls = xnew(struct spec_kv, 1);
	f->cfg.sysctls[0] = (struct spec_kv){ xstrdup("net.ipv4.ip_unprivileged_port_start"), xstrdup("0") };
	f->cfg.n_sysctls = 1;
	f->cfg.devices = xnew(struct spec_device, 1);
	f->cfg.devices[0] = (struct spec_device){ .path = xstrdup("/dev/null"), .read = true, .write = true };
	f->cfg.n_devices = 1;
	c = generate(f);
	assert_string_equal(gets(c, "process.rlimits.0.type"), "RLIMIT_NOFILE");
	assert_int_equal(geti(c, "process.rlimits.0.soft"), 1024);
	assert_int_equal(geti(c, "process.rlimits.0.hard"), 2048);
	assert_string_equal(gets(c, "process.rlimits.1.type"), "RLIMIT_CORE");
	/* unlimited is RLIM_INFINITY as a bare uint64, as runc reads it */
	text = read_bundle_file(f, "config.json");
	assert_non_null(strstr(text, "\"hard\": 18446744073709551615"));
	assert_non_null(strstr(text, "\"soft\": 18446744073709551615"));
	assert_string_equal(
	        json_string_value(json_object_get(get(c, "linux.sysctl"), "net.ipv4.ip_unprivileged_port_start")), "0");
	/* devices: the host node's numbers, and a cgroup rule with the access asked for */
	assert_string_equal(gets(c, "linux.devices.0.path"), "/dev/null");
	assert_string_equal(gets(c, "linux.devices.0.type"), "c");
	assert_int_equal(geti(c, "linux.devices.0.major"), 1);
	assert_int_equal(geti(c, "linux.devices.0.minor"), 3);
	assert_int_equal(geti(c, "linux.devices.0.fileMode"), 0666);
	assert_true(json_is_true(get(c, "linux.resources.devices.8.allow")));
	assert_int_equal(geti(c, "linux.resources.devices.8.major"), 1);
	assert_string_equal(gets(c, "linux.resources.devices.8.access"), "rw");
	rm_rf(f->bundle);

	free(f->cfg.devices[0].path);
	f->cfg.devices[0].path = xstrdup("/dev/nonexistent-zlayer");
	expect_failure(f, ZA_ERROR_CREATE_FAILED, "device '/dev/nonexistent-zlayer' is not available on this host");
}

static void add_mount(struct container_config *cfg, enum container_mount_type type, const char *source,
                      const char *target, bool ro) {
	cfg->mounts = xrealloc(cfg->mounts, (cfg->n_mounts + 1) * sizeof(struct container_mount));
	cfg->mounts[cfg->n_mounts++] = (struct container_mount){
		.type = type,
		.source = source ? xstrdup(source) : NULL,
		.target = xstrdup(target),
		.readonly = ro,
	};
}

static void test_mounts(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *copied = NULL;
	json_t *c, *m;
	struct stat st;

	add_mount(&f->cfg, CONTAINER_MOUNT_BIND, f->dir, "/srv/data/nested", true);
	add_mount(&f->cfg, CONTAINER_MOUNT_VOLUME, "data", "/data", false);
	add_mount(&f->cfg, CONTAINER_MOUNT_VOLUME, "web-rep-0-anon-0", "/srv", false);
	add_mount(&f->cfg, CONTAINER_MOUNT_TMPFS, NULL, "/tmp", false);
	f->cfg.mounts[3].tmpfs_size = 64u << 20;
	f->cfg.mounts[3].tmpfs_mode = 0700;
	add_mount(&f->cfg, CONTAINER_MOUNT_TMPFS, NULL, "/dev/shm", false);
	c = generate(f);

	/* the user's /dev/shm replaces Docker's */
	assert_string_equal(gets(find_mount(c, "/dev/shm"), "type"), "tmpfs");
	assert_false(array_has(get(find_mount(c, "/dev/shm"), "options"), "size=65536k"));
	assert_int_equal(json_array_size(get(c, "mounts")), 9 + 5);
	/* parents before children, otherwise in order */
	assert_true(find_mount_index(c, "/srv") < find_mount_index(c, "/srv/data/nested"));
	assert_true(find_mount_index(c, "/data") < find_mount_index(c, "/srv"));
	assert_true(find_mount_index(c, "/etc/hosts") < find_mount_index(c, "/data"));

	m = find_mount(c, "/srv/data/nested");
	assert_string_equal(gets(m, "type"), "bind");
	assert_string_equal(gets(m, "source"), f->dir);
	assert_strv_json(get(m, "options"), (const char *const[]){ "rbind", "rprivate", "ro", NULL });
	m = find_mount(c, "/data");
	assert_string_equal(gets(m, "source"), tmpf("%s/data/_data", f->volumes));
	assert_strv_json(get(m, "options"), (const char *const[]){ "rbind", "rprivate", NULL });
	m = find_mount(c, "/tmp");
	assert_strv_json(get(m, "options"),
	                 (const char *const[]){ "nosuid", "nodev", "noexec", "rw", "mode=700", "size=67108864", NULL });
	assert_true(array_has(get(find_mount(c, "/dev/shm"), "options"), "mode=1777"));

	/* new volumes exist, with the image's content copied up */
	assert_int_equal(stat(tmpf("%s/web-rep-0-anon-0/_data", f->volumes), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(read_full_file(tmpf("%s/data/_data/hello.txt", f->volumes), 1024, &copied, NULL), 0);
	assert_string_equal(copied, "from the image\n");
	assert_int_equal(stat(tmpf("%s/data/_data/sub/deep.txt", f->volumes), &st), 0);
	assert_int_equal(stat(tmpf("%s/data/_data", f->volumes), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	rm_rf(f->bundle);

	/* an existing volume keeps its content */
	assert_int_equal(unlink(tmpf("%s/data/_data/hello.txt", f->volumes)), 0);
	write_at(f->volumes, "data/_data/mine.txt", "mine\n");
	generate(f);
	assert_int_equal(stat(tmpf("%s/data/_data/hello.txt", f->volumes), &st), -1);
	assert_int_equal(stat(tmpf("%s/data/_data/mine.txt", f->volumes), &st), 0);
}

static void test_failure_leaves_nothing(void **state) {
	struct fixture *f = *state;
	struct stat st;

	/* a missing bind source: caught before anything is written */
	add_mount(&f->cfg, CONTAINER_MOUNT_VOLUME, "fresh", "/data", false);
	add_mount(&f->cfg, CONTAINER_MOUNT_BIND, "/nonexistent/zlayer", "/mnt", false);
	expect_failure(f, ZA_ERROR_CREATE_FAILED, "bind source '/nonexistent/zlayer' for '/mnt' is not usable");
	assert_int_equal(stat(tmpf("%s/fresh", f->volumes), &st), -1);

	/* a failure while writing: the bundle directory and the new volume go */
	free(f->cfg.mounts[1].source);
	f->cfg.mounts[1].source = xstrdup(f->dir);
	f->o.hosts_file = tmpf("%s/no/such/dir/hosts", f->dir);
	expect_failure(f, ZA_ERROR_CREATE_FAILED, "cannot write");
	assert_int_equal(stat(tmpf("%s/fresh", f->volumes), &st), -1);

	/* a bundle directory that existed stays, without files */
	assert_int_equal(mkdir_p(f->bundle, 0700), 0);
	{
		_cleanup_za_error_ struct za_error *err = NULL;
		assert_true(bundle_write(&f->o, &err) < 0);
	}
	assert_int_equal(stat(f->bundle, &st), 0);
	assert_int_equal(stat(tmpf("%s/config.json", f->bundle), &st), -1);
	assert_int_equal(stat(tmpf("%s/resolv.conf", f->bundle), &st), -1);
	assert_int_equal(stat(tmpf("%s/fresh", f->volumes), &st), -1);
}

static void test_network_files(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *hosts = NULL, *resolv = NULL, *hostname = NULL;
	char host[256] = {};
	json_t *c;

	f->cfg.extra_hosts = strv("db:10.0.0.5", "v6:fd00::1", NULL);
	f->cfg.dns = strv("1.1.1.1", "9.9.9.9", NULL);
	f->o.ip_address = "10.88.0.2";
	f->o.netns_path = "/run/zlayer/netns/web-rep-0";
	c = generate(f);
	assert_string_equal(gets(c, "linux.namespaces.4.path"), "/run/zlayer/netns/web-rep-0");
	hosts = read_bundle_file(f, "hosts");
	assert_non_null(strstr(hosts, "ff02::2\tip6-allrouters\n10.0.0.5\tdb\nfd00::1\tv6\n10.88.0.2\tweb-rep-0\n"));
	resolv = read_bundle_file(f, "resolv.conf");
	assert_string_equal(resolv,
	                    "nameserver 1.1.1.1\nnameserver 9.9.9.9\n# host\nsearch example.com\noptions ndots:2\n");
	rm_rf(f->bundle);
	free(hosts);
	free(resolv);

	/* host network: no netns, the host's name and files */
	f->cfg.network_mode = SPEC_NETWORK_HOST;
	strv_free(f->cfg.dns);
	f->cfg.dns = NULL;
	strv_free(f->cfg.extra_hosts);
	f->cfg.extra_hosts = NULL;
	c = generate(f);
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	for (size_t i = 0; i < json_array_size(get(c, "linux.namespaces")); i++)
		assert_string_not_equal(gets(c, tmpf("linux.namespaces.%zu.type", i)), "network");
	assert_string_equal(gets(c, "hostname"), host);
	hostname = read_bundle_file(f, "hostname");
	assert_string_equal(hostname, tmpf("%s\n", host));
	hosts = read_bundle_file(f, "hosts");
	assert_string_equal(hosts, "127.0.0.1 localhost\n10.1.1.1 hostbox\n");
	resolv = read_bundle_file(f, "resolv.conf");
	assert_string_equal(resolv, "# host\nnameserver 127.0.0.53\nnameserver ::1\nsearch example.com\noptions "
	                            "ndots:2\n");
}

static void test_readonly_labels_paths(void **state) {
	struct fixture *f = *state;
	json_t *c;

	f->cfg.read_only_rootfs = true;
	f->cfg.labels = strv("app=web", "tier=front", NULL);
	f->o.resolv_conf = tmpf("%s/elsewhere-resolv.conf", f->dir);
	c = generate(f);
	assert_true(json_is_true(get(c, "root.readonly")));
	assert_strv_json(get(find_mount(c, "/etc/hosts"), "options"),
	                 (const char *const[]){ "rbind", "rprivate", "ro", NULL });
	assert_string_equal(gets(find_mount(c, "/etc/resolv.conf"), "source"), f->o.resolv_conf);
	assert_string_equal(gets(c, "annotations.app"), "web");
	assert_string_equal(gets(c, "annotations.tier"), "front");
}

static void test_gpu(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *pipe = NULL;
	struct bundle_info info = {};
	json_t *c;

	f->cfg.resources.gpu = (struct spec_gpu){ .count = 1, .vendor = SPEC_GPU_VENDOR_NVIDIA };
	expect_failure(f, ZA_ERROR_GPU_UNAVAILABLE, "1 'nvidia.com/gpu' requested but no CDI spec in");

	write_at(f->cdi, "nvidia.json",
	         "{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": [{\"name\": \"0\", "
	         "\"containerEdits\": {\"env\": [\"NVIDIA_VISIBLE_DEVICES=0\"], \"deviceNodes\": [{\"path\": "
	         "\"/dev/nvidia0\", \"hostPath\": \"/dev/null\"}]}}]}");
	pipe = xasprintf("%s/mps-pipe", f->dir);
	f->cfg.resources.gpu.sharing = SPEC_GPU_SHARING_MPS;
	f->cfg.resources.gpu.mps_pipe_dir = xstrdup(pipe);
	expect_failure(f, ZA_ERROR_GPU_SHARING_UNAVAILABLE, tmpf("the MPS pipe directory '%s'", pipe));

	f->cfg.resources.gpu.sharing = SPEC_GPU_SHARING_EXCLUSIVE;
	f->o.ret_info = &info;
	c = generate(f);
	assert_true(array_has(get(c, "process.env"), "NVIDIA_VISIBLE_DEVICES=0"));
	assert_string_equal(gets(c, "linux.devices.0.path"), "/dev/nvidia0");
	assert_string_equal(info.gpu_devices[0], "nvidia.com/gpu=0");
	bundle_info_release(&info);
}

static void test_info_and_exec(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *process = NULL;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct bundle_info info = {};
	char *argv[] = { "sh", "-c", "id", NULL };
	json_t *p;

	f->image.stop_signal = xstrdup("SIGQUIT");
	f->cfg.user = xstrdup("app");
	f->cfg.ulimits = xnew(struct spec_ulimit, 1);
	f->cfg.ulimits[0] = (struct spec_ulimit){ xstrdup("nofile"), -1, -1 };
	f->cfg.n_ulimits = 1;
	add_mount(&f->cfg, CONTAINER_MOUNT_VOLUME, "made-here", "/data", false);
	f->o.ret_info = &info;
	generate(f);
	assert_int_equal(info.stop_signal, SIGQUIT);
	assert_int_equal(info.uid, 1000);
	assert_string_equal(info.args[0], "/docker-entrypoint.sh");
	assert_string_equal(info.cwd, "/");
	assert_string_equal(info.hostname, "web-rep-0");
	assert_string_equal(info.volumes_created[0], "made-here");
	bundle_info_release(&info);

	/* the exec process keeps env, user and limits (RLIM_INFINITY included) */
	assert_int_equal(bundle_exec_process(f->bundle, &(struct bundle_exec_options){ .argv = argv, .tty = true },
	                                     &process, NULL),
	                 0);
	assert_non_null(strstr(process, "18446744073709551615"));
	p = bundle_json_load(process, strlen(process), NULL);
	assert_non_null(p);
	assert_strv_json(get(p, "args"), (const char *const[]){ "sh", "-c", "id", NULL });
	assert_true(json_is_true(get(p, "terminal")));
	assert_int_equal(geti(p, "user.uid"), 1000);
	assert_true(array_has(get(p, "env"), "HOSTNAME=web-rep-0"));
	assert_int_equal(json_array_size(get(p, "capabilities.bounding")), 14);
	json_decref(p);

	assert_true(bundle_exec_process(f->dir, &(struct bundle_exec_options){ .argv = argv }, &process, &err) < 0);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);
}

/* exec -e/-w/-u: env entries replace or add, cwd and user override;
 * the user is resolved in the bundle's rootfs. */
static void test_exec_overrides(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *process = NULL;
	_cleanup_za_error_ struct za_error *err = NULL;
	char *argv[] = { "id", NULL }, *env[] = { "HOSTNAME=other", "NEW=1=2", NULL };
	json_t *p;

	generate(f);
	assert_int_equal(bundle_exec_process(f->bundle,
	                                     &(struct bundle_exec_options){
	                                             .argv = argv, .env = env, .cwd = "/tmp", .user = "app:staff" },
	                                     &process, NULL),
	                 0);
	p = bundle_json_load(process, strlen(process), NULL);
	assert_non_null(p);
	assert_true(array_has(get(p, "env"), "HOSTNAME=other"));
	assert_false(array_has(get(p, "env"), "HOSTNAME=web-rep-0"));
	assert_true(array_has(get(p, "env"), "NEW=1=2"));
	assert_string_equal(gets(p, "cwd"), "/tmp");
	assert_int_equal(geti(p, "user.uid"), 1000);
	assert_int_equal(geti(p, "user.gid"), 50);
	assert_false(json_is_true(get(p, "terminal")));
	json_decref(p);
	free(TAKE_PTR(process));

	assert_int_equal(bundle_exec_process(f->bundle, &(struct bundle_exec_options){ .argv = argv, .user = "0" },
	                                     &process, NULL),
	                 0);
	p = bundle_json_load(process, strlen(process), NULL);
	assert_int_equal(geti(p, "user.uid"), 0);
	json_decref(p);

	/* the request's mistakes are invalid_spec */
	assert_true(bundle_exec_process(f->bundle, &(struct bundle_exec_options){ .argv = argv, .user = "ghost" },
	                                &process, &err) < 0);
	assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
	assert_non_null(strstr(err->message, "exec user: user 'ghost' not found"));
	err = za_error_free(err);
	assert_true(bundle_exec_process(f->bundle, &(struct bundle_exec_options){ .argv = argv, .cwd = "tmp" },
	                                &process, &err) < 0);
	assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
	err = za_error_free(err);
	assert_true(bundle_exec_process(f->bundle,
	                                &(struct bundle_exec_options){ .argv = argv, .env = (char *[]){ "X", NULL } },
	                                &process, &err) < 0);
	assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
}

static void test_seccomp_architectures(void **state) {
	char *caps[] = { "CAP_CHOWN", NULL };
	json_t *a, *b;

	a = oci_seccomp_default(caps, "amd64");
	b = oci_seccomp_default(caps, "386");
#if defined(__x86_64__)
	assert_strv_json(json_object_get(a, "architectures"), (const char *const[]){ "SCMP_ARCH_X86_64", NULL });
	assert_strv_json(json_object_get(b, "architectures"),
	                 (const char *const[]){ "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", NULL });
#endif
	json_decref(a);
	json_decref(b);
}

static void test_from_service(void **state) {
	static const char yaml[] =
	        "version: v1\n"
	        "deployment: shop\n"
	        "services:\n"
	        "  web:\n"
	        "    image: { name: \"busybox:1.36\" }\n"
	        "    command: { entrypoint: [\"/bin/sh\"], args: [\"-c\", \"sleep 1\"], workdir: /w }\n"
	        "    env: { A: \"1\", B: \"$E:HOME\" }\n"
	        "    resources: { cpu: 0.5, memory: 64Mi, cpuset: \"0\" }\n"
	        "    storage:\n"
	        "      - { type: bind, source: /srv, target: /srv, readonly: true }\n"
	        "      - { type: named, name: data, target: /data }\n"
	        "      - { type: anonymous, target: /cache }\n"
	        "      - { type: tmpfs, target: /tmp, size: 16Mi, mode: \"0700\" }\n"
	        "    port_mappings: [{ host_port: 8080, container_port: 80 }]\n"
	        "    devices: [{ path: /dev/fuse }]\n"
	        "    ulimits: { nofile: { soft: 10, hard: 20 } }\n"
	        "    sysctls: { net.core.somaxconn: \"1024\" }\n"
	        "    cap_add: [NET_ADMIN]\n"
	        "    user: \"1000\"\n"
	        "    labels: { tier: front }\n"
	        "    read_only_root_fs: true\n"
	        "    network_mode: host\n";
	_cleanup_(spec_deployment_freep) struct spec_deployment *d = NULL;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct container_config c = {};
	_cleanup_free_ char *id = container_replica_id("web", 3);

	assert_string_equal(id, "web-rep-3");
	if (spec_load_string("t.yaml", yaml, strlen(yaml), &d, NULL, &err) < 0)
		fail_msg("spec: %s", err->message);
	assert_int_equal(container_config_from_service(&d->services[0], 2, &c, NULL), 0);
	assert_string_equal(c.id, "web-rep-2");
	assert_string_equal(c.image, "busybox:1.36");
	assert_string_equal(c.entrypoint[0], "/bin/sh");
	assert_string_equal(c.args[1], "sleep 1");
	assert_string_equal(c.workdir, "/w");
	assert_int_equal(strv_length(c.env), 2);
	assert_string_equal(c.env[1], "B=$E:HOME"); /* resolved later by the caller */
	assert_string_equal(c.resources.cpuset, "0");
	assert_int_equal(c.resources.memory, 64 << 20);
	assert_int_equal(c.n_mounts, 4);
	assert_int_equal(c.mounts[0].type, CONTAINER_MOUNT_BIND);
	assert_true(c.mounts[0].readonly);
	assert_int_equal(c.mounts[1].type, CONTAINER_MOUNT_VOLUME);
	assert_string_equal(c.mounts[1].source, "data");
	assert_int_equal(c.mounts[2].type, CONTAINER_MOUNT_VOLUME);
	assert_string_equal(c.mounts[2].source, "web-rep-2-anon-0");
	assert_int_equal(c.mounts[3].type, CONTAINER_MOUNT_TMPFS);
	assert_int_equal(c.mounts[3].tmpfs_size, 16 << 20);
	assert_int_equal(c.mounts[3].tmpfs_mode, 0700);
	assert_int_equal(c.n_ports, 1);
	assert_string_equal(c.ports[0].protocol, "tcp");
	assert_int_equal(c.n_devices, 1);
	assert_true(c.devices[0].read && c.devices[0].write && !c.devices[0].mknod);
	assert_int_equal(c.ulimits[0].hard, 20);
	assert_string_equal(c.sysctls[0].key, "net.core.somaxconn");
	assert_string_equal(c.cap_add[0], "CAP_NET_ADMIN");
	assert_string_equal(c.user, "1000");
	assert_string_equal(c.labels[0], "tier=front");
	assert_true(c.read_only_rootfs);
	assert_int_equal(c.network_mode, SPEC_NETWORK_HOST);
	assert_int_equal(c.stop_signal, SIGTERM);
	assert_int_equal(c.log_max_size, 100u << 20);
	container_config_release(&c);
	assert_null(c.id);
}

static void test_odd_input(void **state) {
	struct fixture *f = *state;
	json_t *c;

	/* not UTF-8: kept, with U+FFFD, rather than silently dropped */
	f->cfg.args = strv("caf\xe9", NULL);
	/* an unresolved "NAME" is dropped, as docker run drops it */
	f->cfg.env = strv("UNSET", "=novalue", "OK=1", NULL);
	c = generate(f);
	assert_strv_json(get(c, "process.args"),
	                 (const char *const[]){ "/docker-entrypoint.sh", "caf\xef\xbf\xbd", NULL });
	assert_false(array_has(get(c, "process.env"), "UNSET"));
	assert_false(array_has(get(c, "process.env"), "=novalue"));
	assert_true(array_has(get(c, "process.env"), "OK=1"));
	rm_rf(f->bundle);

	/* net.* sysctls need the container's own network namespace */
	f->cfg.network_mode = SPEC_NETWORK_HOST;
	f->cfg.sysctls = xnew(struct spec_kv, 1);
	f->cfg.sysctls[0] = (struct spec_kv){ xstrdup("net.core.somaxconn"), xstrdup("1024") };
	f->cfg.n_sysctls = 1;
	expect_failure(f, ZA_ERROR_CREATE_FAILED, "sysctl 'net.core.somaxconn' cannot be set with network_mode host");

	/* a relative mount target */
	f->cfg.network_mode = SPEC_NETWORK_BRIDGE;
	add_mount(&f->cfg, CONTAINER_MOUNT_TMPFS, NULL, "relative", false);
	expect_failure(f, ZA_ERROR_CREATE_FAILED, "mount target 'relative' must be an absolute path");
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_cwd_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_privileged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ulimits_sysctls_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_labels_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_info_and_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_input, setup, teardown),
		cmocka_unit_test(test_from_service),
		cmocka_unit_test(test_seccomp_architectures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
