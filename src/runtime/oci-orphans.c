/* SPDX-License-Identifier: Apache-2.0 */
/* At start, off the critical path (the startup trash thread): what belongs
 * to no container the runtime has a record of — runtime state of a stopped
 * container, CNI attachments and host-local addresses, network namespaces,
 * overlay mounts and bundle directories under RUNTIME/containers, and empty
 * cgroups /zlayer/ID. Such remains come from a create or remove cut short
 * by a crash, or a record lost. A container's directory ROOT/containers/ID
 * is made before any of its parts and removed after all of them, so a part
 * whose directory is missing is an orphan; that is checked again right
 * before each removal (a create of that name may have begun meanwhile). A
 * container still running without a record is left alone, and so is a
 * cgroup with processes or one a live shim names (other agents on the node
 * share /zlayer). One info line per orphan removed. */
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "runtime/netns.h"
#include "runtime/oci-internal.h"
#include "basic/banned.h"

#define CGROUP_ROOT      "/sys/fs/cgroup"
#define CGROUP_PARENT    "zlayer"
#define MOUNTINFO_MAX    (16u << 20)
#define CMDLINE_MAX      (64u << 10)
#define ORPHAN_PARTS_MAX 4096 /* per kind: a sweep is bounded, the next start does the rest */

static bool strv_has(char *const *l, const char *s) {
	for (size_t i = 0; l && l[i]; i++)
		if (streq(l[i], s))
			return true;
	return false;
}

static bool known(const struct oci *o, const char *id) {
	_cleanup_free_ char *cdir = oci_container_dir(o, id);
	return access(cdir, F_OK) == 0;
}

/* Names of the subdirectories (or, with files, entries) of dir. */
static void list_names(const char *dir, bool dirs_only, char ***ids) {
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)) && n < ORPHAN_PARTS_MAX) {
		if (!netns_name_valid(de->d_name) || (dirs_only && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		if (!strv_has(*ids, de->d_name)) {
			strv_push(ids, de->d_name);
			n++;
		}
	}
	if (d)
		closedir(d);
}

/* "/a\040b" -> "/a b" */
static char *unescape_octal(const char *s) {
	char *out = xmalloc(strlen(s) + 1), *p = out;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*p++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else
			*p++ = *s;
	}
	*p = '\0';
	return out;
}

/* Mount points under prefix/, latest first (later mounts sit on earlier
 * ones: undone first). */
static char **mounts_under(const char *prefix) {
	_cleanup_free_ char *buf = NULL;
	char **found = NULL, *line, *next;
	size_t plen = strlen(prefix), n;

	if (read_full_file("/proc/self/mountinfo", MOUNTINFO_MAX, &buf, NULL) < 0)
		return NULL;
	for (line = buf; line && *line; line = next) {
		_cleanup_free_ char *field = NULL, *mp = NULL;
		char *f = line;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* the fifth field is the mount point */
		for (int i = 0; i < 4 && f; i++) {
			f = strchr(f, ' ');
			if (f)
				f++;
		}
		if (!f)
			continue;
		field = xstrndup(f, strcspn(f, " "));
		mp = unescape_octal(field);
		if (strneq(mp, prefix, plen) && mp[plen] == '/')
			strv_push(&found, mp);
	}
	n = strv_length(found);
	for (size_t i = 0; i < n / 2; i++) {
		char *t = found[i];
		found[i] = found[n - 1 - i];
		found[n - 1 - i] = t;
	}
	return found;
}

/* Ids named by live shims on this node (`zlayer-shim ... --id ID`): their
 * containers are someone's, recorded or not. */
static char **live_shim_ids(void) {
	char **ids = NULL;
	DIR *d = opendir("/proc");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL, *buf = NULL;
		const char *arg0, *base;
		size_t len;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		path = xasprintf("/proc/%s/cmdline", de->d_name);
		if (read_full_file(path, CMDLINE_MAX, &buf, &len) < 0 || len == 0)
			continue;
		arg0 = buf;
		base = strrchr(arg0, '/') ? strrchr(arg0, '/') + 1 : arg0;
		if (!streq(base, "zlayer-shim"))
			continue;
		for (size_t i = 0; i < len;) {
			const char *a = buf + i;
			size_t alen = strnlen(a, len - i);
			if (streq(a, "--id") && i + alen + 1 < len)
				strv_push(&ids, buf + i + alen + 1);
			i += alen + 1;
		}
	}
	if (d)
		closedir(d);
	return ids;
}

/* Cgroup hierarchies holding our parent: /sys/fs/cgroup itself on a pure
 * cgroup2 host, else each mounted hierarchy under it. */
static char **cgroup_parents(void) {
	_cleanup_free_ char *unified = xasprintf("%s/%s", CGROUP_ROOT, CGROUP_PARENT);
	char **parents = NULL;
	struct statfs fs;
	DIR *d;
	struct dirent *de;

	if (statfs(CGROUP_ROOT, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) {
		strv_push(&parents, unified);
		return parents;
	}
	d = opendir(CGROUP_ROOT);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		struct stat st;

		if (de->d_name[0] == '.' || de->d_type != DT_DIR)
			continue;
		p = xasprintf("%s/%s/%s", CGROUP_ROOT, de->d_name, CGROUP_PARENT);
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			strv_push(&parents, p);
	}
	if (d)
		closedir(d);
	return parents;
}

/* The init pid in the runtime's state.json (runc's layout, which
 * zlayer-wasm keeps), or 0. */
static pid_t state_init_pid(const char *dir) {
	_cleanup_free_ char *path = xasprintf("%s/state.json", dir), *buf = NULL;
	json_int_t pid = 0;
	size_t len;
	json_t *j;

	if (read_full_file(path, 16 << 20, &buf, &len) < 0)
		return 0;
	j = json_loadb(buf, len, 0, NULL);
	pid = json_integer_value(json_object_get(j, "init_process_pid"));
	json_decref(j);
	return pid > 0 && pid <= INT32_MAX ? (pid_t)pid : 0;
}

/* The runtime's state of a stopped container: `delete`, which a runtime
 * refuses for a running one (then --force when its init is gone and the
 * state is merely damaged). 1: removed, 0: none, -EBUSY: it still runs. */
static int sweep_runtime_state(struct oci *o, const char *id) {
	char *args[] = { "delete", (char *)id, NULL }, *force[] = { "delete", "--force", (char *)id, NULL };
	int removed = 0;

	for (int wasm = 0; wasm <= 1; wasm++) {
		struct oci_record rec = { .wasm = wasm };
		_cleanup_free_ char *dir = xasprintf("%s/%s", oci_runtime_root_of(o, &rec), id);

		if (access(dir, F_OK) < 0)
			continue;
		if (oci_runc(o, &rec, "delete", id, args, NULL) < 0 && access(dir, F_OK) == 0) {
			if (oci_pid_alive(state_init_pid(dir)) ||
			    (oci_runc(o, &rec, "delete", id, force, NULL) < 0 && access(dir, F_OK) == 0))
				return -EBUSY;
		}
		log_info("removed the runtime state of container %s, which has no record", id);
		removed = 1;
	}
	return removed;
}

static void sweep_network(struct oci *o, const char *id, bool attached, const struct network_allocation *a,
                          size_t n_alloc) {
	_cleanup_free_ char *ns = xasprintf("%s/netns/%s", o->runtime_dir, id);
	_cleanup_za_error_ struct za_error *err = NULL;
	bool allocated = false;

	for (size_t i = 0; i < n_alloc; i++)
		if (streq(a[i].container_id, id))
			allocated = true;
	if (!attached && !allocated)
		return;
	/* CNI DEL (cached or rebuilt configs): the address, the port rules,
	 * the veth when the namespace is still there */
	if (network_detach(&o->net, id, netns_is_mounted(ns) > 0 ? ns : NULL, &err) >= 0) {
		log_info("released the network attachment of container %s, which has no record", id);
		return;
	}
	log_debug("cni del of orphan %s: %s", id, err ? err->message : "failed");
	for (size_t i = 0; i < n_alloc; i++)
		if (streq(a[i].container_id, id)) {
			_cleanup_free_ char *path = xasprintf("%s/%s/%s", o->net.state_dir, o->net.name, a[i].ip);
			if (unlink(path) == 0)
				log_info("removed the address %s of container %s, which has no record", a[i].ip, id);
		}
	{
		_cleanup_free_ char *cache = xasprintf("%s/%s/%s.json", o->net.cache_dir, o->net.name, id);
		(void)unlink(cache);
	}
}

struct sweep {
	struct network_allocation *allocs;
	size_t n_allocs;
	char **attached, **cg_parents, **shims, **mounts;
};

static void sweep_one(struct oci *o, const char *id, const struct sweep *sw) {
	_cleanup_free_ char *ns = xasprintf("%s/netns/%s", o->runtime_dir, id);
	_cleanup_free_ char *rdir = oci_run_dir(o, id);
	size_t rlen = strlen(rdir);
	struct stat st;

	if (known(o, id))
		return; /* created meanwhile */
	if (sweep_runtime_state(o, id) == -EBUSY) {
		log_warning("container %s runs without a record; leaving it and its parts alone", id);
		return;
	}
	sweep_network(o, id, strv_has(sw->attached, id), sw->allocs, sw->n_allocs);
	if (lstat(ns, &st) == 0) {
		if (!known(o, id) && netns_remove(ns) >= 0)
			log_info("removed the network namespace %s of container %s, which has no record", ns, id);
	}
	STRV_FOREACH (mp, sw->mounts)
		if (strneq(*mp, rdir, rlen) && ((*mp)[rlen] == '/' || (*mp)[rlen] == '\0') && !known(o, id) &&
		    umount2(*mp, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			log_info("unmounted %s of container %s, which has no record", *mp, id);
	if (lstat(rdir, &st) == 0 && !known(o, id)) {
		rm_rf(rdir);
		log_info("removed the bundle directory %s of container %s, which has no record", rdir, id);
	}
	if (strv_has(sw->shims, id))
		return;
	STRV_FOREACH (p, sw->cg_parents) {
		_cleanup_free_ char *cg = xasprintf("%s/%s", *p, id);
		/* rmdir fails on a cgroup with processes or children */
		if (!known(o, id) && rmdir(cg) == 0)
			log_info("removed the cgroup %s of container %s, which has no record", cg, id);
	}
}

void oci_orphans_sweep(struct oci *o) {
	_cleanup_strv_free_ char **ids = NULL;
	_cleanup_free_ char *netns_dir = xasprintf("%s/netns", o->runtime_dir);
	_cleanup_free_ char *containers_dir = xasprintf("%s/containers", o->runtime_dir);
	struct sweep sw = {};
	bool listed = false;

	list_names(netns_dir, false, &ids);
	list_names(containers_dir, true, &ids);
	for (int wasm = 0; wasm <= 1; wasm++) {
		struct oci_record rec = { .wasm = wasm };
		list_names(oci_runtime_root_of(o, &rec), true, &ids);
	}
	if (network_list_attached(&o->net, &sw.attached, NULL) < 0)
		sw.attached = NULL;
	STRV_FOREACH (a, sw.attached)
		if (!strv_has(ids, *a))
			strv_push(&ids, *a);
	if (network_list_allocations(&o->net, &sw.allocs, &sw.n_allocs, NULL) < 0) {
		sw.allocs = NULL;
		sw.n_allocs = 0;
	}
	for (size_t i = 0; i < sw.n_allocs; i++)
		if (network_container_id_valid(sw.allocs[i].container_id) && !strv_has(ids, sw.allocs[i].container_id))
			strv_push(&ids, sw.allocs[i].container_id);
	sw.cg_parents = cgroup_parents();
	STRV_FOREACH (p, sw.cg_parents)
		list_names(*p, true, &ids);

	STRV_FOREACH (id, ids) {
		if (known(o, *id))
			continue;
		if (!listed) {
			/* once, and only when something may be swept */
			_cleanup_free_ char *prefix = xasprintf("%s/containers", o->runtime_dir);
			sw.shims = live_shim_ids();
			sw.mounts = mounts_under(prefix);
			listed = true;
		}
		sweep_one(o, *id, &sw);
	}
	network_allocations_free(sw.allocs, sw.n_allocs);
	strv_free(sw.attached);
	strv_free(sw.cg_parents);
	strv_free(sw.shims);
	strv_free(sw.mounts);
}
