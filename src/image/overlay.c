/* SPDX-License-Identifier: Apache-2.0 */
/* overlayfs mounts for container root filesystems. The new mount API takes
 * one "lowerdir+" per layer, so deep images are not limited by mount(2)'s
 * one-page option string; fsconfig() also tells why a mount failed through
 * the context's message log, which goes into the error. */
#include "image/overlay.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/strbuf.h"
#include "basic/banned.h"

#define KIND               ZA_ERROR_CREATE_FAILED
#define FSCONFIG_VALUE_MAX 256 /* fsconfig() copies at most 255 bytes of a string */
#define UMOUNT_TRIES       20
#define UMOUNT_WAIT_NS     (50 * 1000 * 1000)

/* The last error the kernel logged on an fs context, "" if none. */
static void fs_context_message(int fsfd, char *buf, size_t size) {
	char line[512];
	ssize_t n;

	buf[0] = 0;
	while ((n = read(fsfd, line, sizeof(line) - 1)) > 0) {
		line[n] = 0;
		if (n > 2 && line[0] == 'e' && line[1] == ' ')
			(void)snprintf(buf, size, "%s", line + 2);
	}
}

static int fs_context_error(int fsfd, struct za_error **reterr, const char *target, const char *what, int code) {
	char msg[512];

	fs_context_message(fsfd, msg, sizeof(msg));
	errno = code;
	if (msg[0])
		return za_error_make(reterr, KIND, code, "mount overlay at '%s': %s: %s", target, what, msg);
	return za_error_make(reterr, KIND, code, "mount overlay at '%s': %s: %m", target, what);
}

/* 1: mounted; 0: the kernel lacks fsopen or lowerdir+, use mount(2). */
static int mount_fsconfig(char *const *lowers, const char *upper, const char *work, const char *target,
                          struct za_error **reterr) {
	_cleanup_close_ int fsfd = -1, mfd = -1;

	fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fsfd < 0) {
		if (errno == ENOSYS)
			return 0;
		if (errno == ENODEV)
			return za_error_make(reterr, ZA_ERROR_UNSUPPORTED, errno,
			                     "mount overlay at '%s': the kernel has no overlayfs (load the 'overlay' "
			                     "module)",
			                     target);
		return za_error_make(reterr, KIND, errno, "mount overlay at '%s': fsopen: %m", target);
	}
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "overlay", 0) < 0)
		return fs_context_error(fsfd, reterr, target, "source", errno);
	for (size_t i = 0; lowers[i]; i++)
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) < 0) {
			if (i == 0 && errno == EINVAL) { /* before Linux 6.8 */
				log_debug("overlayfs lacks 'lowerdir+', falling back to mount(2)");
				return 0;
			}
			_cleanup_free_ char *what = xasprintf("lower directory '%s'", lowers[i]);
			return fs_context_error(fsfd, reterr, target, what, errno);
		}
	if (upper) {
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0)
			return fs_context_error(fsfd, reterr, target, "upper directory", errno);
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", work, 0) < 0)
			return fs_context_error(fsfd, reterr, target, "work directory", errno);
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return fs_context_error(fsfd, reterr, target, "create", errno);
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
	if (mfd < 0)
		return fs_context_error(fsfd, reterr, target, "fsmount", errno);
	if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return za_error_make(reterr, KIND, errno, "mount overlay at '%s': move_mount: %m", target);
	return 1;
}

/* overlayfs splits options at ',' and lowerdir at ':'; '\' escapes both. */
static void add_escaped(struct strbuf *sb, const char *s) {
	for (; *s; s++) {
		if (*s == ',' || *s == ':' || *s == '\\')
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *s);
	}
}

static int mount_legacy(char *const *lowers, const char *upper, const char *work, const char *target,
                        struct za_error **reterr) {
	_cleanup_strbuf_ struct strbuf opts = STRBUF_INIT;
	long page = sysconf(_SC_PAGESIZE);

	strbuf_addstr(&opts, "lowerdir=");
	for (size_t i = 0; lowers[i]; i++) {
		if (i > 0)
			strbuf_addch(&opts, ':');
		add_escaped(&opts, lowers[i]);
	}
	if (upper) {
		strbuf_addstr(&opts, ",upperdir=");
		add_escaped(&opts, upper);
		strbuf_addstr(&opts, ",workdir=");
		add_escaped(&opts, work);
	}
	if (page <= 0)
		page = 4096;
	/* mount(2) copies one page of options; the rest would be cut off. */
	if (opts.len >= (size_t)page)
		return za_error_make(reterr, ZA_ERROR_UNSUPPORTED, E2BIG,
		                     "mount overlay at '%s': the options for %zu layers take %zu bytes, more than the "
		                     "%ld mount(2) accepts, and the kernel lacks 'lowerdir+' (use Linux 6.8 or newer, "
		                     "or an image with fewer layers)",
		                     target, strv_length(lowers), opts.len, page);
	if (mount("overlay", target, "overlay", 0, strbuf_str(&opts)) < 0)
		return za_error_make(reterr, KIND, errno, "mount overlay at '%s': %m", target);
	return 0;
}

/* overlayfs wants two lowers without an upper: one is a read-only bind. */
static int mount_bind_ro(const char *lower, const char *target, struct za_error **reterr) {
	if (mount(lower, target, NULL, MS_BIND, NULL) < 0)
		return za_error_make(reterr, KIND, errno, "mount '%s' read-only at '%s': %m", lower, target);
	if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
		int r = za_error_make(reterr, KIND, errno, "mount '%s' read-only at '%s': remount: %m", lower, target);
		(void)umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW);
		return r;
	}
	return 0;
}

int overlay_mount(char *const *lowers, const char *upper, const char *work, const char *target,
                  struct za_error **reterr) {
	bool long_path = false;
	int r;

	if (strv_length(lowers) == 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "mount overlay at '%s': no lower directory",
		                     target);
	if (!upper != !work)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL,
		                     "mount overlay at '%s': upper and work directories go together", target);
	STRV_FOREACH (l, (char **)lowers) {
		if ((*l)[0] != '/')
			return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL,
			                     "mount overlay at '%s': lower directory '%s' is not absolute", target, *l);
		if (strlen(*l) >= FSCONFIG_VALUE_MAX)
			long_path = true;
	}
	if (upper) {
		r = mkdir_p(upper, 0755);
		if (r < 0)
			return za_error_make(reterr, KIND, r, "mount overlay at '%s': create upper directory '%s': %m",
			                     target, upper);
		r = mkdir_p(work, 0700);
		if (r < 0)
			return za_error_make(reterr, KIND, r, "mount overlay at '%s': create work directory '%s': %m",
			                     target, work);
		if (strlen(upper) >= FSCONFIG_VALUE_MAX || strlen(work) >= FSCONFIG_VALUE_MAX)
			long_path = true;
	}
	if (!upper && !lowers[1])
		return mount_bind_ro(lowers[0], target, reterr);
	if (!long_path) {
		r = mount_fsconfig(lowers, upper, work, target, reterr);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	return mount_legacy(lowers, upper, work, target, reterr);
}

int overlay_umount(const char *target, struct za_error **reterr) {
	for (int i = 0; i < UMOUNT_TRIES; i++) {
		if (umount2(target, UMOUNT_NOFOLLOW) >= 0)
			return 0;
		if (errno == EINVAL || errno == ENOENT) /* not mounted */
			return 0;
		if (errno != EBUSY)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "unmount '%s': %m", target);
		(void)nanosleep(&(struct timespec){ .tv_nsec = UMOUNT_WAIT_NS }, NULL);
	}
	log_debug("'%s' still busy after %d tries, detaching it", target, UMOUNT_TRIES);
	if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) >= 0 || errno == EINVAL || errno == ENOENT)
		return 0;
	return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "unmount '%s': %m", target);
}
