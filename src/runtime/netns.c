/* SPDX-License-Identifier: Apache-2.0 */
#include "netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/banned.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

#define NETNS_CHILD_STACK (64 * 1024)

bool netns_name_valid(const char *name) {
	size_t n;

	if (isempty(name))
		return false;
	n = strlen(name);
	if (n > NETNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

int netns_is_mounted(const char *path) {
	_cleanup_close_ int fd = -1;
	struct statfs sfs;
	int type;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	if ((unsigned long)sfs.f_type != (unsigned long)NSFS_MAGIC)
		return 0;
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0)
		return -errno;
	return type == CLONE_NEWNET;
}

/* Runs in the child, which clone() put in a fresh network namespace: pin it
 * by bind-mounting our own namespace file on the target. Only system calls
 * here: the parent may have other threads holding locks. */
static int netns_child(void *arg) {
	if (mount("/proc/self/ns/net", (const char *)arg, "none", MS_BIND, NULL) < 0)
		return errno > 0 && errno < 256 ? errno : EIO;
	return 0;
}

static int netns_pin_new(const char *path) {
	_cleanup_free_ char *stack = NULL;
	int status = 0;
	pid_t pid;

	stack = xmalloc(NETNS_CHILD_STACK);
	/* The stack grows down on every architecture we build for. */
	pid = clone(netns_child, stack + NETNS_CHILD_STACK, CLONE_NEWNET | SIGCHLD, (void *)path);
	if (pid < 0)
		return -errno;
	for (;;) {
		if (waitpid(pid, &status, 0) >= 0)
			break;
		if (errno != EINTR)
			return -errno;
	}
	if (WIFEXITED(status))
		return -WEXITSTATUS(status);
	return -EIO;
}

int netns_create(const char *dir, const char *name, char **ret_path, struct za_error **reterr) {
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (isempty(dir) || dir[0] != '/')
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL,
		                     "create network namespace: directory '%s' is not an absolute path", strempty(dir));
	if (!netns_name_valid(name))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "create network namespace '%s': invalid name; use letters, digits, '_', '.' and "
		                     "'-' (at most %d characters)",
		                     strempty(name), NETNS_NAME_MAX);

	r = mkdir_p(dir, 0755);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, r,
		                     "create network namespace '%s': create directory '%s': %m", name, dir);
	path = xasprintf("%s/%s", dir, name);

	r = netns_is_mounted(path);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, r, "create network namespace '%s': check '%s': %m", name,
		                     path);
	if (r > 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, EEXIST,
		                     "create network namespace '%s': '%s' already exists; remove it first", name, path);

	/* The mount point; a leftover plain file from an interrupted create is
	 * reused as is. */
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0444);
	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, errno, "create network namespace '%s': create '%s': %m",
		                     name, path);
	fd = safe_close(fd);

	r = netns_pin_new(path);
	if (r < 0) {
		(void)unlink(path);
		return za_error_make(
		        reterr, ZA_ERROR_NETWORK, r,
		        "create network namespace '%s': %m; the agent needs CAP_SYS_ADMIN (run it as root)", name);
	}
	log_debug("created network namespace %s", path);
	*ret_path = TAKE_PTR(path);
	return 0;
}

int netns_remove(const char *path) {
	int r = 0;

	if (isempty(path))
		return -EINVAL;
	if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
		r = -errno;
	if (unlink(path) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	return r;
}
