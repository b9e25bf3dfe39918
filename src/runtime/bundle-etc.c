/* SPDX-License-Identifier: Apache-2.0 */
/* The container's /etc/hosts and /etc/resolv.conf as dockerd writes them,
 * and named/anonymous volumes with Docker's copy-up of the image's content
 * into a new volume. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/strbuf.h"
#include "runtime/bundle-internal.h"
#include "runtime/passwd.h"
#include "basic/banned.h"

#define ETC_MAX_SIZE      (1024u * 1024)
#define COPY_UP_MAX_DEPTH 128
#define COPY_UP_MAX_ITEMS 1000000u
#define SYSTEMD_RESOLV    "/run/systemd/resolve/resolv.conf"

char *bundle_hosts_content(const struct bundle_options *o, const char *hostname) {
	struct strbuf sb = STRBUF_INIT;

	if (o->cfg->network_mode == SPEC_NETWORK_HOST) {
		/* the host's network, the host's names */
		_cleanup_free_ char *host = NULL;
		if (read_full_file(o->host_hosts ?: "/etc/hosts", ETC_MAX_SIZE, &host, NULL) >= 0) {
			strbuf_addstr(&sb, host);
			if (sb.len > 0 && sb.buf[sb.len - 1] != '\n')
				strbuf_addch(&sb, '\n');
		} else
			strbuf_addstr(&sb, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	} else {
		strbuf_addstr(&sb, "127.0.0.1\tlocalhost\n"
		                   "::1\tlocalhost ip6-localhost ip6-loopback\n"
		                   "fe00::0\tip6-localnet\n"
		                   "ff00::0\tip6-mcastprefix\n"
		                   "ff02::1\tip6-allnodes\n"
		                   "ff02::2\tip6-allrouters\n");
	}
	STRV_FOREACH (e, o->cfg->extra_hosts) {
		const char *colon = strchr(*e, ':');
		if (colon)
			strbuf_addf(&sb, "%s\t%.*s\n", colon + 1, (int)(colon - *e), *e);
	}
	if (o->cfg->network_mode != SPEC_NETWORK_HOST)
		strbuf_addf(&sb, "%s\t%s\n", o->ip_address ?: "127.0.0.1", hostname);
	return strbuf_detach(&sb, NULL);
}

static bool nameserver_loopback(const char *ip) {
	_cleanup_free_ char *addr = xstrndup(ip, strcspn(ip, "%"));
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* Split resolv.conf text into its non-loopback nameservers and its other
 * lines (search, options, comments). */
static void resolv_parse(const char *text, bool keep_loopback, char ***nameservers, struct strbuf *other) {
	for (const char *p = text; p && *p;) {
		size_t n = strcspn(p, "\n");
		_cleanup_free_ char *line = xstrndup(p, n);
		char *s = line;

		p += n + (p[n] == '\n');
		while (isspace((unsigned char)*s))
			s++;
		if (strneq(s, "nameserver", 10) && isspace((unsigned char)s[10])) {
			char *ip = s + 10;
			while (isspace((unsigned char)*ip))
				ip++;
			ip[strcspn(ip, " \t#;")] = '\0';
			if (*ip && (keep_loopback || !nameserver_loopback(ip)))
				strv_push(nameservers, ip);
			continue;
		}
		if (*s) {
			strbuf_addstr(other, line);
			strbuf_addch(other, '\n');
		}
	}
}

char *bundle_resolv_content(const struct bundle_options *o) {
	_cleanup_strv_free_ char **ns = NULL;
	_cleanup_free_ char *host = NULL;
	_cleanup_strbuf_ struct strbuf other = STRBUF_INIT;
	struct strbuf sb = STRBUF_INIT;
	bool host_net = o->cfg->network_mode == SPEC_NETWORK_HOST;

	(void)read_full_file(o->host_resolv_conf ?: "/etc/resolv.conf", ETC_MAX_SIZE, &host, NULL);
	if (host_net && !o->cfg->dns && host)
		return xstrdup(host); /* same network namespace: the host's resolvers work as they are */
	resolv_parse(host, host_net, &ns, &other);
	if (!host_net && strv_length(ns) == 0 && !o->host_resolv_conf && !o->cfg->dns) {
		/* systemd-resolved's stub (127.0.0.53) is unreachable from
		 * another netns; its upstream list is what dockerd uses */
		_cleanup_free_ char *upstream = NULL;
		if (read_full_file(SYSTEMD_RESOLV, ETC_MAX_SIZE, &upstream, NULL) >= 0) {
			strbuf_reset(&other);
			resolv_parse(upstream, false, &ns, &other);
		}
	}
	if (o->cfg->dns) {
		strv_free(ns);
		ns = strv_copy(o->cfg->dns);
	}
	if (strv_length(ns) == 0) {
		/* dockerd's last resort */
		strv_push(&ns, "8.8.8.8");
		strv_push(&ns, "8.8.4.4");
	}
	STRV_FOREACH (n, ns)
		strbuf_addf(&sb, "nameserver %s\n", *n);
	strbuf_addstr(&sb, strbuf_str(&other));
	return strbuf_detach(&sb, NULL);
}

bool bundle_volume_name_valid(const char *name) {
	size_t l = name ? strlen(name) : 0;

	if (l == 0 || l > 255 || !isalnum((unsigned char)name[0]))
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

struct copy_up {
	unsigned items;
};

static int copy_attrs(int fd, const struct stat *st) {
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (fchown(fd, st->st_uid, st->st_gid) < 0 || fchmod(fd, st->st_mode & 07777) < 0)
		return -errno;
	(void)futimens(fd, ts);
	return 0;
}

static int copy_file(int sfd, int dfd, const char *name, const struct stat *st) {
	_cleanup_close_ int in = -1, out = -1;
	char buf[65536];
	ssize_t n;

	in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return -errno;
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		int r;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		r = loop_write(out, buf, (size_t)n);
		if (r < 0)
			return r;
	}
	return copy_attrs(out, st);
}

/* Copy the tree below sfd into dfd; nothing is followed, every fd is a
 * child of the one before, so the copy never leaves the rootfs. */
static int copy_tree(struct copy_up *c, int sfd, int dfd, unsigned depth) {
	_cleanup_strv_free_ char **names = NULL;
	struct dirent *de;
	DIR *d;
	int r, fd;

	if (depth > COPY_UP_MAX_DEPTH)
		return -ELOOP;
	fd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		safe_close(fd);
		return r;
	}
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			strv_push(&names, de->d_name);
	closedir(d);

	STRV_FOREACH (n, names) {
		struct stat st;

		if (++c->items > COPY_UP_MAX_ITEMS)
			return -E2BIG;
		if (fstatat(sfd, *n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int s2 = -1, d2 = -1;

			if (mkdirat(dfd, *n, 0700) < 0)
				return -errno;
			s2 = openat(sfd, *n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			d2 = openat(dfd, *n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s2 < 0 || d2 < 0)
				return -errno;
			r = copy_tree(c, s2, d2, depth + 1);
			if (r < 0)
				return r;
			r = copy_attrs(d2, &st);
		} else if (S_ISREG(st.st_mode))
			r = copy_file(sfd, dfd, *n, &st);
		else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t l = readlinkat(sfd, *n, target, sizeof(target) - 1);

			if (l < 0)
				return -errno;
			target[l] = '\0';
			r = symlinkat(target, dfd, *n) < 0 ? -errno : 0;
			if (r >= 0)
				(void)fchownat(dfd, *n, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
		} else
			r = 0; /* devices, fifos, sockets: not carried into a volume */
		if (r < 0)
			return r;
	}
	return 0;
}

static int volume_copy_up(int rootfs_fd, const char *target, const char *data) {
	_cleanup_close_ int src = -1, dst = -1;
	struct copy_up c = {};
	struct stat st;
	int r;

	src = rootfs_open(rootfs_fd, target, O_RDONLY | O_DIRECTORY);
	if (src == -ENOENT || src == -ENOTDIR)
		return 0; /* nothing there in the image */
	if (src < 0)
		return src;
	dst = open(data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dst < 0)
		return -errno;
	if (fstat(src, &st) < 0)
		return -errno;
	r = copy_tree(&c, src, dst, 0);
	if (r < 0)
		return r;
	return copy_attrs(dst, &st);
}

int bundle_volume_create(const char *volumes_dir, const char *name, int rootfs_fd, const char *target,
                         bool *ret_created, struct za_error **reterr) {
	_cleanup_free_ char *dir = xasprintf("%s/%s", volumes_dir, name), *data = xasprintf("%s/_data", dir);
	int r;

	*ret_created = false;
	r = mkdir_p(volumes_dir, 0700);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r, "cannot create the volumes directory '%s': %m",
		                     volumes_dir);
	if (mkdir(dir, 0700) < 0) {
		struct stat st;
		if (errno != EEXIST)
			return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, errno, "cannot create volume '%s': %m",
			                     name);
		if (stat(data, &st) < 0 || !S_ISDIR(st.st_mode))
			return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, ENOTDIR,
			                     "volume '%s' is damaged: '%s' is not a directory", name, data);
		return 0;
	}
	*ret_created = true;
	if (mkdir(data, 0755) < 0) {
		r = -errno;
		rm_rf(dir);
		*ret_created = false;
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r, "cannot create volume '%s': %m", name);
	}
	if (rootfs_fd >= 0 && target) {
		r = volume_copy_up(rootfs_fd, target, data);
		if (r < 0) {
			rm_rf(dir);
			*ret_created = false;
			return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r,
			                     "cannot copy the image's '%s' into new volume '%s': %m", target, name);
		}
	}
	log_debug("volume '%s' created at %s", name, data);
	return 0;
}
