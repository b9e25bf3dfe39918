/* SPDX-License-Identifier: Apache-2.0 */
/* One file per secret under a directory only root reads. A single mutex
 * serializes every operation: they are rare and short, and it keeps a
 * listing from ever seeing a half-written value or our own temp files.
 * write_file_atomic() writes "NAME.tmp.XXXXXX" beside the file; names that
 * look like that are refused, so such entries are always crash leftovers. */
#include "service/secrets.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/crashpoint.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "spec/envref.h"
#include "basic/banned.h"

struct secrets {
	char *dir;
	int dir_fd;
	pthread_mutex_t lock;
};

static bool is_temp_name(const char *name) {
	size_t n = strlen(name);

	if (n < 11 || !strneq(name + n - 11, ".tmp.", 5))
		return false;
	for (size_t i = n - 6; i < n; i++)
		if (!isalnum((unsigned char)name[i]))
			return false;
	return true;
}

const char *secrets_name_problem(const char *name) {
	size_t n = strlen(name);

	if (n == 0)
		return "a secret name must not be empty";
	if (n > SECRETS_NAME_MAX)
		return "a secret name must be at most 128 bytes";
	if (!envref_valid_secret_name(name, n))
		return "a secret name must match [A-Za-z0-9][A-Za-z0-9_.-]*";
	if (is_temp_name(name))
		return "a secret name must not end like a temporary file ('.tmp.' and 6 letters or digits)";
	return NULL;
}

static int check_name(const char *name, struct za_error **reterr) {
	const char *problem = secrets_name_problem(name);

	if (problem)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid secret name '%s': %s", name,
		                     problem);
	return 0;
}

static void remove_temp_files(struct secrets *s) {
	_cleanup_close_ int fd = -1;
	struct dirent *de;
	DIR *d;

	fd = openat(s->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d)
		return;
	TAKE_FD(fd);
	while ((de = readdir(d)))
		if (is_temp_name(de->d_name) && unlinkat(dirfd(d), de->d_name, 0) < 0)
			log_debug_errno(errno, "cannot remove leftover '%s/%s': %m", s->dir, de->d_name);
	closedir(d);
}

int secrets_new(const char *root_dir, struct secrets **ret, struct za_error **reterr) {
	_cleanup_free_ char *dir = xasprintf("%s/%s", root_dir, SECRETS_DIR_NAME);
	struct secrets *s;
	struct stat st;
	int r, fd;

	r = mkdir_p(dir, 0700);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot create secret directory '%s': %m", dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, errno, "cannot open secret directory '%s': %m",
		                     dir);
	if (fstat(fd, &st) < 0 || ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)) {
		r = -errno;
		safe_close(fd);
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r,
		                     "cannot make secret directory '%s' private (mode 0700): %m", dir);
	}

	s = xnew(struct secrets, 1);
	s->dir = TAKE_PTR(dir);
	s->dir_fd = fd;
	pthread_mutex_init(&s->lock, NULL);
	remove_temp_files(s);
	*ret = s;
	return 0;
}

struct secrets *secrets_free(struct secrets *s) {
	if (!s)
		return NULL;
	safe_close(s->dir_fd);
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
	return NULL;
}

/* Regular files with acceptable names; -errno. */
static int count_secrets(struct secrets *s, size_t *ret) {
	_cleanup_close_ int fd = -1;
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	fd = openat(s->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d)
		return -errno;
	TAKE_FD(fd);
	while ((de = readdir(d)))
		if (!secrets_name_problem(de->d_name) && (de->d_type == DT_REG || de->d_type == DT_UNKNOWN))
			n++;
	closedir(d);
	*ret = n;
	return 0;
}

static int secrets_set_locked(struct secrets *s, const char *name, const void *data, size_t len,
                              struct za_error **reterr) {
	_cleanup_free_ char *path = NULL;
	struct stat st;
	size_t n = 0;
	int r;

	if (fstatat(s->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot set secret '%s': %m", name);
		r = count_secrets(s, &n);
		if (r < 0)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, r,
			                     "cannot set secret '%s': cannot read '%s': %m", name, s->dir);
		if (n >= SECRETS_COUNT_MAX)
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ENOSPC,
			                     "cannot set secret '%s': the agent already stores %d secrets, the limit; "
			                     "remove some first",
			                     name, SECRETS_COUNT_MAX);
	} else if (!S_ISREG(st.st_mode))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EEXIST,
		                     "cannot set secret '%s': '%s/%s' exists and is not a regular file", name, s->dir,
		                     name);

	path = xasprintf("%s/%s", s->dir, name);
	r = write_file_atomic(path, data, len, 0600);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot write secret '%s' to '%s': %m", name, path);
	crashpoint("secret.set.written");
	return 0;
}

int secrets_set(struct secrets *s, const char *name, const void *data, size_t len, struct za_error **reterr) {
	int r;

	r = check_name(name, reterr);
	if (r < 0)
		return r;
	if (len > SECRETS_VALUE_MAX)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EFBIG,
		                     "secret '%s' is %zu bytes, more than the limit of %d bytes (1 MiB)", name, len,
		                     SECRETS_VALUE_MAX);
	pthread_mutex_lock(&s->lock);
	r = secrets_set_locked(s, name, data, len, reterr);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int not_found(const char *name, struct za_error **reterr) {
	return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no such secret '%s'", name);
}

static int secrets_get_locked(struct secrets *s, const char *name, char **ret_data, size_t *ret_len,
                              struct za_error **reterr) {
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	fd = openat(s->dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return not_found(name, reterr);
	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot read secret '%s': %m", name);
	if (fstat(fd, &st) < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot read secret '%s': %m", name);
	if (!S_ISREG(st.st_mode))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EBADF,
		                     "cannot read secret '%s': '%s/%s' is not a regular file", name, s->dir, name);
	r = read_full_fd(fd, SECRETS_VALUE_MAX, ret_data, ret_len);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot read secret '%s' from '%s/%s': %m", name,
		                     s->dir, name);
	return 0;
}

int secrets_get(struct secrets *s, const char *name, char **ret_data, size_t *ret_len, struct za_error **reterr) {
	int r;

	r = check_name(name, reterr);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	r = secrets_get_locked(s, name, ret_data, ret_len, reterr);
	pthread_mutex_unlock(&s->lock);
	return r;
}

void secret_infos_free(struct secret_info *infos, size_t n) {
	for (size_t i = 0; i < n; i++)
		free(infos[i].name);
	free(infos);
}

static int info_compare(const void *a, const void *b) {
	return strcmp(((const struct secret_info *)a)->name, ((const struct secret_info *)b)->name);
}

static int secrets_list_locked(struct secrets *s, struct secret_info **ret, size_t *ret_n, struct za_error **reterr) {
	_cleanup_close_ int fd = -1;
	struct secret_info *infos = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	DIR *d;

	fd = openat(s->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot list secrets in '%s': %m", s->dir);
	d = fdopendir(fd);
	if (!d)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot list secrets in '%s': %m", s->dir);
	TAKE_FD(fd);
	while ((de = readdir(d)) && n < SECRETS_COUNT_MAX) {
		struct stat st;

		if (secrets_name_problem(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		GROW(infos, alloc, n + 1);
		infos[n++] = (struct secret_info){
			.name = xstrdup(de->d_name),
			.size = (uint64_t)st.st_size,
			.updated_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
		};
	}
	closedir(d);
	if (n > 1)
		qsort(infos, n, sizeof(*infos), info_compare);
	*ret = infos;
	*ret_n = n;
	return 0;
}

int secrets_list(struct secrets *s, struct secret_info **ret, size_t *ret_n, struct za_error **reterr) {
	int r;

	pthread_mutex_lock(&s->lock);
	r = secrets_list_locked(s, ret, ret_n, reterr);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int secrets_remove(struct secrets *s, const char *name, struct za_error **reterr) {
	int r;

	r = check_name(name, reterr);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	if (unlinkat(s->dir_fd, name, 0) < 0) {
		if (errno == ENOENT)
			r = not_found(name, reterr);
		else
			r = za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot remove secret '%s' from '%s': %m",
			                  name, s->dir);
	} else if (fsync(s->dir_fd) < 0)
		log_debug_errno(errno, "cannot sync '%s': %m", s->dir);
	pthread_mutex_unlock(&s->lock);
	return r;
}
