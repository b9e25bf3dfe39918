/* SPDX-License-Identifier: Apache-2.0 */
/* favordynmods on the cgroup2 superblock: see cgroup-host.h for why. The
 * reconfiguration goes through fspick()/fsconfig(), which changes the
 * superblock's options only (a mount(MS_REMOUNT) would also reset the
 * mount's own flags). cgroup2 applies the whole option set on reconfigure,
 * so the options it has now are passed again with the new one. */
#include "runtime/cgroup-host.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "basic/alloc.h"
#include "basic/macro.h"
#include "basic/strbuf.h"
#include "basic/banned.h"

#define MOUNTINFO_LINE_MAX 8192

/* Flags cgroup2 accepts on reconfigure; anything else in the super options
 * ("rw", "seclabel") is not ours to repeat. */
static const char *const cgroup2_flags[] = {
	"nsdelegate", "memory_localevents", "memory_recursiveprot", "memory_hugetlb_accounting", "pids_localevents",
};

/* The first cgroup2 mount: its mount point and super options. */
static int find_cgroup2(char **ret_path, char **ret_options) {
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[MOUNTINFO_LINE_MAX];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - "), *mnt, *fstype, *source, *opts, *save = NULL;
		unsigned field = 0;

		if (!sep)
			continue;
		*sep = '\0';
		mnt = NULL;
		for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save))
			if (++field == 5)
				mnt = t;
		save = NULL;
		fstype = strtok_r(sep + 3, " ", &save);
		source = fstype ? strtok_r(NULL, " ", &save) : NULL;
		opts = source ? strtok_r(NULL, " \n", &save) : NULL;
		if (!mnt || !fstype || !opts || !streq(fstype, "cgroup2"))
			continue;
		*ret_path = xstrdup(mnt);
		*ret_options = xstrdup(opts);
		return 0;
	}
	return -ENOENT;
}

static bool has_option(const char *options, const char *name) {
	size_t n = strlen(name);

	for (const char *p = options; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strneq(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

int cgroup_host_favor_dynmods(char **ret_path) {
	_cleanup_free_ char *path = NULL, *options = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	r = find_cgroup2(&path, &options);
	if (r < 0)
		return r;
	if (has_option(options, "favordynmods"))
		return 0;

	fd = fspick(AT_FDCWD, path, FSPICK_CLOEXEC | FSPICK_NO_AUTOMOUNT);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(cgroup2_flags); i++)
		if (has_option(options, cgroup2_flags[i]) &&
		    fsconfig(fd, FSCONFIG_SET_FLAG, cgroup2_flags[i], NULL, 0) < 0)
			return -errno;
	if (fsconfig(fd, FSCONFIG_SET_FLAG, "favordynmods", NULL, 0) < 0)
		return -errno;
	if (fsconfig(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0)
		return -errno;
	*ret_path = TAKE_PTR(path);
	return 1;
}
