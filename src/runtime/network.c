/* SPDX-License-Identifier: Apache-2.0 */
#include "network.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/spawn.h"
#include "network-internal.h"
#include "runtime/netns.h"
#include "basic/banned.h"

#define CNI_STDOUT_MAX   (1024 * 1024)
#define CNI_STDERR_TAIL  (16 * 1024)
#define CNI_CACHE_MAX    (4 * 1024 * 1024)
#define CNI_TIMEOUT_MSEC (60 * 1000)
#define CNI_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CNI_CACHE_SUFFIX ".json"
#define PORT_PICK_TRIES  64
#define ALLOC_FILE_MAX   4096

/* The call a plugin gets through its environment. */
struct cni_call {
	const struct network_config *cfg;
	const char *command; /* ADD, DEL, CHECK */
	const char *container_id;
	const char *netns; /* "" when there is none */
	const char *ifname;
};

bool network_container_id_valid(const char *id) {
	/* The CNI spec's rule for container IDs and network names. */
	return netns_name_valid(id) && strlen(id) <= NETWORK_CONTAINER_ID_MAX;
}

static bool bridge_name_valid(const char *s) {
	return netns_name_valid(s) && strlen(s) <= 15;
}

static void config_resolve(const struct network_config *in, struct network_config *out) {
	*out = *in;
	if (isempty(out->name))
		out->name = NETWORK_DEFAULT_NAME;
	if (isempty(out->bridge))
		out->bridge = NETWORK_DEFAULT_BRIDGE;
	if (isempty(out->subnet))
		out->subnet = NETWORK_DEFAULT_SUBNET;
	if (isempty(out->plugin_dir))
		out->plugin_dir = NETWORK_DEFAULT_PLUGIN_DIR;
}

int network_config_validate(const struct network_config *in, struct za_error **reterr) {
	struct network_config cfg;

	config_resolve(in, &cfg);
	if (!network_container_id_valid(cfg.name))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "network name '%s' is invalid; use letters, digits, '_', '.' and '-'", cfg.name);
	if (!bridge_name_valid(cfg.bridge))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "network '%s': bridge name '%s' is invalid; use at most 15 letters, digits, '_', "
		                     "'.' and '-'",
		                     cfg.name, cfg.bridge);
	if (network_subnet_parse(cfg.subnet, NULL, NULL) < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "network '%s': subnet '%s' is invalid; use an IPv4 network like '10.88.0.0/16' "
		                     "(prefix 8 to 30, no host bits)",
		                     cfg.name, cfg.subnet);
	if (isempty(cfg.state_dir) || cfg.state_dir[0] != '/' || isempty(cfg.cache_dir) || cfg.cache_dir[0] != '/' ||
	    cfg.plugin_dir[0] != '/')
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "network '%s': state, cache and plugin directories must be absolute paths",
		                     cfg.name);
	return 0;
}

static char *cache_dir_of(const struct network_config *cfg) {
	return xasprintf("%s/%s", cfg->cache_dir, cfg->name);
}

static char *cache_path_of(const struct network_config *cfg, const char *id) {
	return xasprintf("%s/%s/%s" CNI_CACHE_SUFFIX, cfg->cache_dir, cfg->name, id);
}

static int memfd_new(const char *name, const char *data, size_t len) {
	_cleanup_close_ int fd = memfd_create(name, MFD_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	if (len > 0 && (r = loop_write(fd, data, len)) < 0)
		return r;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	return TAKE_FD(fd);
}

/* The whole of fd (at most cap bytes), or its last cap bytes if tail. */
static int memfd_read(int fd, size_t cap, bool tail, char **ret) {
	struct stat st;
	off_t start = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > cap) {
		if (!tail)
			return -EFBIG;
		start = st.st_size - (off_t)cap;
	}
	if (lseek(fd, start, SEEK_SET) < 0)
		return -errno;
	return read_full_fd(fd, cap, ret, NULL);
}

static int wait_with_timeout(pid_t pid, int timeout_msec, int *ret_status, bool *ret_timed_out) {
	_cleanup_close_ int pfd = pidfd_open(pid, 0);
	struct timespec now;
	int64_t deadline;

	*ret_timed_out = false;
	if (pfd >= 0 && clock_gettime(CLOCK_MONOTONIC, &now) == 0) {
		deadline = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + timeout_msec;
		for (;;) {
			struct pollfd p = { .fd = pfd, .events = POLLIN };
			int64_t left;
			int n;

			(void)clock_gettime(CLOCK_MONOTONIC, &now);
			left = deadline - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
			if (left <= 0) {
				(void)kill(pid, SIGKILL);
				*ret_timed_out = true;
				break;
			}
			n = poll(&p, 1, (int)left);
			if (n < 0 && errno == EINTR)
				continue;
			break; /* exited, or poll failed: a plain wait then */
		}
	}
	return za_wait(pid, ret_status);
}

/* Run one plugin with conf on stdin; the parsed stdout in *ret_result (ADD). */
static int cni_exec(const struct cni_call *c, const json_t *conf, json_t **ret_result, struct za_error **reterr) {
	const char *type = json_string_value(json_object_get(conf, "type"));
	_cleanup_free_ char *path = NULL, *input = NULL, *out = NULL, *err = NULL, *message = NULL;
	_cleanup_close_ int in_fd = -1, out_fd = -1, err_fd = -1;
	_cleanup_strv_free_ char **env = NULL;
	struct za_spawn_opts opts = ZA_SPAWN_OPTS_INIT;
	const char *search = getenv("PATH");
	bool timed_out;
	int r, status, cni_code;
	pid_t pid;

	if (!cni_plugin_type_valid(type))
		return za_error_make(reterr, ZA_ERROR_NETWORK, EINVAL, "invalid cni plugin type '%s'", strempty(type));
	path = xasprintf("%s/%s", c->cfg->plugin_dir, type);
	if (access(path, X_OK) < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, errno,
		                     "cni plugin '%s' not usable in '%s': %m; install containernetworking-plugins",
		                     type, c->cfg->plugin_dir);

	input = json_dumps(conf, JSON_COMPACT);
	if (!input)
		oom();
	if ((in_fd = memfd_new("cni-stdin", input, strlen(input))) < 0 ||
	    (out_fd = memfd_new("cni-stdout", NULL, 0)) < 0 || (err_fd = memfd_new("cni-stderr", NULL, 0)) < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK,
		                     in_fd < 0    ? in_fd
		                     : out_fd < 0 ? out_fd
		                                  : err_fd,
		                     "cni plugin '%s' %s: create its stdio memfds: %m", type, c->command);

	{
		char *vars[] = {
			xasprintf("CNI_COMMAND=%s", c->command),
			xasprintf("CNI_CONTAINERID=%s", c->container_id),
			xasprintf("CNI_NETNS=%s", c->netns),
			xasprintf("CNI_IFNAME=%s", c->ifname),
			xasprintf("CNI_PATH=%s", c->cfg->plugin_dir),
			/* portmap and bridge run iptables from PATH */
			xasprintf("PATH=%s", isempty(search) ? CNI_DEFAULT_PATH : search),
		};

		env = xnew(char *, ELEMENTSOF(vars) + 1);
		for (size_t i = 0; i < ELEMENTSOF(vars); i++)
			env[i] = vars[i];
	}

	opts.stdin_fd = in_fd;
	opts.stdout_fd = out_fd;
	opts.stderr_fd = err_fd;
	opts.envp = env;
	opts.search_path = false;
	r = za_spawn((char *const[]){ path, NULL }, &opts, &pid);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, r, "cni plugin '%s' %s: start '%s': %m", type,
		                     c->command, path);
	r = wait_with_timeout(pid, CNI_TIMEOUT_MSEC, &status, &timed_out);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, r, "cni plugin '%s' %s: wait: %m", type, c->command);
	if (timed_out)
		return za_error_make(reterr, ZA_ERROR_NETWORK, ETIMEDOUT,
		                     "cni plugin '%s' %s did not finish in %d s and was killed; check whether another "
		                     "program holds the xtables lock (/run/xtables.lock)",
		                     type, c->command, CNI_TIMEOUT_MSEC / 1000);

	r = memfd_read(out_fd, CNI_STDOUT_MAX, false, &out);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, r, "cni plugin '%s' %s: read its output: %m", type,
		                     c->command);
	if (status != 0) {
		(void)memfd_read(err_fd, CNI_STDERR_TAIL, true, &err);
		message = cni_failure_message(out, err, status, &cni_code);
		return za_error_make(reterr, ZA_ERROR_NETWORK, cni_code == 11 ? EAGAIN : EIO,
		                     "cni plugin '%s' %s failed: %s", type, c->command, message);
	}
	if (ret_result) {
		json_error_t jerr;
		json_t *j = json_loads(out, JSON_REJECT_DUPLICATES, &jerr);

		if (!json_is_object(j)) {
			json_decref(j);
			return za_error_make(reterr, ZA_ERROR_NETWORK, EBADMSG,
			                     "cni plugin '%s' %s returned no valid result: %s", type, c->command,
			                     j ? "not an object" : jerr.text);
		}
		*ret_result = j;
	}
	log_debug("cni %s %s container %s netns '%s': ok", type, c->command, c->container_id, c->netns);
	return 0;
}

/* DEL every plugin in reverse order; the first error is kept, the rest run. */
static int cni_del_chain(const struct network_config *cfg, const char *id, const char *netns, const json_t *plugins,
                         size_t n, const json_t *result, struct za_error **reterr) {
	const struct cni_call call = { cfg, "DEL", id, netns, NETWORK_IFNAME };
	int ret = 0;

	for (size_t i = MIN(n, json_array_size(plugins)); i > 0; i--) {
		_cleanup_(json_decrefp) json_t *conf = cni_conf_with_prev(json_array_get(plugins, i - 1), result);
		_cleanup_za_error_ struct za_error *e = NULL;
		int r;

		r = cni_exec(&call, conf, NULL, &e);
		if (r < 0 && ret == 0) {
			ret = r;
			if (reterr && !*reterr)
				*reterr = TAKE_PTR(e);
		}
	}
	return ret;
}

int network_check_plugins(const struct network_config *cfg_in, struct za_error **reterr) {
	static const char *const types[] = { "loopback", "bridge", "host-local", "portmap" };
	struct network_config cfg;
	int r;

	r = network_config_validate(cfg_in, reterr);
	if (r < 0)
		return r;
	config_resolve(cfg_in, &cfg);
	for (size_t i = 0; i < ELEMENTSOF(types); i++) {
		const struct cni_call call = { &cfg, "VERSION", "", "", "" };
		_cleanup_(json_decrefp) json_t *conf =
		        json_pack("{s:s, s:s}", "cniVersion", CNI_VERSION, "type", types[i]);
		_cleanup_(json_decrefp) json_t *answer = NULL;

		r = cni_exec(&call, conf, &answer, reterr);
		if (r < 0) {
			if (reterr && *reterr)
				(*reterr)->kind = ZA_ERROR_CONFIGURATION;
			(void)za_error_wrap(reterr, "network '%s'", cfg.name);
			return r;
		}
		if (!cni_version_supported(answer, CNI_VERSION))
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EPROTONOSUPPORT,
			                     "network '%s': cni plugin '%s' in '%s' does not support CNI %s; install "
			                     "containernetworking-plugins 1.0 or newer",
			                     cfg.name, types[i], cfg.plugin_dir, CNI_VERSION);
	}
	return 0;
}

static int lock_network(const struct network_config *cfg, struct za_error **reterr) {
	_cleanup_free_ char *dir = cache_dir_of(cfg), *path = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	r = mkdir_p(dir, 0700);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, r, "network '%s': create '%s': %m", cfg->name, dir);
	r = mkdir_p(cfg->state_dir, 0700);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, r, "network '%s': create '%s': %m", cfg->name,
		                     cfg->state_dir);
	path = xasprintf("%s/.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, errno, "network '%s': lock '%s': %m", cfg->name, path);
	return TAKE_FD(fd);
}

static json_t *cache_load(const struct network_config *cfg, const char *id, int *ret_errno) {
	_cleanup_free_ char *path = cache_path_of(cfg, id), *buf = NULL;
	struct cni_cache_view v;
	json_t *j;
	int r;

	r = read_full_file(path, CNI_CACHE_MAX, &buf, NULL);
	if (r < 0) {
		*ret_errno = r;
		return NULL;
	}
	j = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
	if (!j || cni_cache_view(j, &v) < 0 || !streq(v.container_id, id)) {
		json_decref(j);
		*ret_errno = -EBADMSG;
		return NULL;
	}
	*ret_errno = 0;
	return j;
}

static int cache_store(const struct network_config *cfg, const char *id, const json_t *record) {
	_cleanup_free_ char *path = cache_path_of(cfg, id), *text = json_dumps(record, JSON_INDENT(1) | JSON_SORT_KEYS);

	if (!text)
		oom();
	return write_file_atomic(path, text, strlen(text), 0600);
}

static int strcmp_ptr(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* IDs with a cache entry in cfg's network (cfg resolved). */
static int list_cached(const struct network_config *cfg, char ***ret) {
	_cleanup_free_ char *dir = cache_dir_of(cfg);
	_cleanup_strv_free_ char **ids = NULL;
	DIR *d;
	struct dirent *de;

	d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			return -errno;
	} else {
		while ((de = readdir(d))) {
			size_t n = strlen(de->d_name), sl = strlen(CNI_CACHE_SUFFIX);
			_cleanup_free_ char *id = NULL;

			if (n <= sl || !streq(de->d_name + n - sl, CNI_CACHE_SUFFIX))
				continue;
			id = xstrndup(de->d_name, n - sl);
			if (network_container_id_valid(id))
				strv_push(&ids, id);
		}
		closedir(d);
	}
	if (!ids)
		ids = xnew(char *, 1);
	qsort(ids, strv_length(ids), sizeof(char *), strcmp_ptr);
	*ret = TAKE_PTR(ids);
	return 0;
}

struct fd_set_list {
	int *fds;
	size_t n, alloc;
};

static void fd_set_list_release(struct fd_set_list *l) {
	for (size_t i = 0; i < l->n; i++)
		safe_close(l->fds[i]);
	free(l->fds);
}

/* Bind host_ip:port (0: any) like a listener would, to learn that nothing
 * on the host uses it and, for 0, which port the kernel hands out. */
static int port_bind(const struct network_port_mapping *p, uint16_t port, struct fd_set_list *keep,
                     uint16_t *ret_port) {
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	socklen_t len = sizeof(sa);
	_cleanup_close_ int fd = -1;
	bool tcp = streq(p->protocol, "tcp");
	int one = 1;

	if (inet_pton(AF_INET, p->host_ip, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connections of an earlier user in TIME_WAIT do not make a port busy */
	if (tcp && port != 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	GROW(keep->fds, keep->alloc, keep->n + 1);
	keep->fds[keep->n++] = TAKE_FD(fd);
	*ret_port = ntohs(sa.sin_port);
	return 0;
}

static const char *port_owner(const json_t *records, const struct network_port_mapping *req, size_t n, size_t self,
                              const struct network_port_mapping *p) {
	const json_t *rec;
	size_t i;

	for (i = 0; i < n; i++)
		if (i != self && network_ports_conflict(&req[i], p))
			return "";
	json_array_foreach(
	        records, i,
	        rec) if (cni_plugins_conflict(json_object_get(rec, "plugins"),
	                                      p)) return json_string_value(json_object_get(rec, "containerId"));
	return NULL;
}

static int port_error(struct za_error **reterr, const struct network_port_mapping *p, int r) {
	if (r == -EADDRINUSE)
		return za_error_make(reterr, ZA_ERROR_NETWORK, r,
		                     "host port %u/%s on %s is in use by a program on the host; stop it or choose "
		                     "another host port",
		                     (unsigned)p->host_port, p->protocol, p->host_ip);
	if (r == -EADDRNOTAVAIL)
		return za_error_make(reterr, ZA_ERROR_NETWORK, r,
		                     "host IP '%s' of port mapping %u/%s is not an address of this host", p->host_ip,
		                     (unsigned)p->container_port, p->protocol);
	return za_error_make(reterr, ZA_ERROR_NETWORK, r, "check host port %u/%s on %s: %m", (unsigned)p->host_port,
	                     p->protocol, p->host_ip);
}

/* Fix every host port: explicit ones must be free on the host and not mapped
 * for another container (records: the other cache entries); ephemeral ones
 * are picked by the kernel among those. Called with the network locked. */
static int ports_resolve(const json_t *records, struct network_port_mapping *req, size_t n, struct za_error **reterr) {
	_cleanup_(fd_set_list_release) struct fd_set_list keep = {};
	const char *owner;
	uint16_t port;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (req[i].host_port == 0)
			continue;
		owner = port_owner(records, req, i, i, &req[i]);
		if (owner && !*owner)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "host port %u/%s on %s is mapped twice; map each host port once",
			                     (unsigned)req[i].host_port, req[i].protocol, req[i].host_ip);
		if (owner)
			return za_error_make(
			        reterr, ZA_ERROR_NETWORK, EADDRINUSE,
			        "host port %u/%s on %s is already mapped to container '%s'; choose another "
			        "host port, or 0 for an ephemeral one",
			        (unsigned)req[i].host_port, req[i].protocol, req[i].host_ip, owner);
		r = port_bind(&req[i], req[i].host_port, &keep, &port);
		if (r < 0)
			return port_error(reterr, &req[i], r);
	}
	for (size_t i = 0; i < n; i++) {
		if (req[i].host_port != 0)
			continue;
		for (int t = 0; t < PORT_PICK_TRIES && req[i].host_port == 0; t++) {
			struct network_port_mapping cand = req[i];

			r = port_bind(&req[i], 0, &keep, &port);
			if (r < 0)
				return port_error(reterr, &req[i], r);
			cand.host_port = port;
			if (!port_owner(records, req, n, i, &cand))
				req[i].host_port = port;
		}
		if (req[i].host_port == 0)
			return za_error_make(reterr, ZA_ERROR_NETWORK, EADDRINUSE,
			                     "no free ephemeral host port for %u/%s on %s",
			                     (unsigned)req[i].container_port, req[i].protocol, req[i].host_ip);
	}
	return 0;
}

/* The cache records of every other container of the network. */
static json_t *cache_load_others(const struct network_config *cfg, const char *self) {
	_cleanup_strv_free_ char **ids = NULL;
	json_t *records = json_array();

	if (list_cached(cfg, &ids) < 0)
		return records;
	STRV_FOREACH (id, ids) {
		json_t *rec;
		int r;

		if (streq(*id, self))
			continue;
		rec = cache_load(cfg, *id, &r);
		if (rec)
			json_array_append_new(records, rec);
	}
	return records;
}

void network_attachment_release(struct network_attachment *a) {
	if (!a)
		return;
	free(a->netns_path);
	free(a->ip);
	free(a->gateway);
	free(a->mac);
	free(a->host_ports);
	*a = (struct network_attachment){};
}

static int attach_check_args(const char *id, const char *netns_path, struct za_error **reterr) {
	int r;

	if (!network_container_id_valid(id))
		return za_error_make(
		        reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		        "container ID '%s' is invalid for networking; use letters, digits, '_', '.' and '-' "
		        "(at most %d)",
		        strempty(id), NETWORK_CONTAINER_ID_MAX);
	if (isempty(netns_path) || netns_path[0] != '/')
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "network namespace path '%s' is not absolute",
		                     strempty(netns_path));
	r = netns_is_mounted(netns_path);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, r, "check network namespace '%s': %m", netns_path);
	if (r == 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, ENOENT, "'%s' is not a network namespace", netns_path);
	return 0;
}

int network_attach(const struct network_config *cfg_in, const char *id, const char *netns_path,
                   const struct network_port_mapping *ports, size_t n_ports, struct network_attachment *ret,
                   struct za_error **reterr) {
	_cleanup_(json_decrefp) json_t *lo = NULL, *plugins = NULL, *others = NULL, *record = NULL, *res = NULL;
	_cleanup_free_ struct network_port_mapping *req = NULL;
	_cleanup_free_ char *cache_path = NULL;
	_cleanup_close_ int lock_fd = -1;
	struct network_attachment a = {};
	struct network_config cfg;
	size_t tried = 0;
	int r;

	r = network_config_validate(cfg_in, reterr);
	if (r < 0)
		return r;
	config_resolve(cfg_in, &cfg);
	r = attach_check_args(id, netns_path, reterr);
	if (r < 0)
		goto fail_early;
	req = xnew(struct network_port_mapping, MIN(n_ports, (size_t)NETWORK_PORTS_MAX) + 1);
	r = network_ports_normalize(ports, n_ports, req, reterr);
	if (r < 0)
		goto fail_early;

	lock_fd = lock_network(&cfg, reterr);
	if (lock_fd < 0) {
		r = lock_fd;
		goto fail_early;
	}
	cache_path = cache_path_of(&cfg, id);
	if (access(cache_path, F_OK) == 0) {
		r = za_error_make(reterr, ZA_ERROR_NETWORK, EEXIST, "it is already attached; detach it first");
		goto fail_early;
	}
	others = n_ports > 0 ? cache_load_others(&cfg, id) : json_array();
	r = ports_resolve(others, req, n_ports, reterr);
	if (r < 0)
		goto fail_early;

	lo = cni_conf_loopback(&cfg);
	plugins = json_pack("[o, o]", cni_conf_bridge(&cfg), cni_conf_portmap(&cfg, req, n_ports));
	if (!lo || !plugins)
		oom();
	/* On disk before the first ADD: whatever happens next, DEL can run. */
	record = cni_cache_new(&cfg, id, netns_path, lo, plugins, NULL);
	r = cache_store(&cfg, id, record);
	if (r < 0) {
		r = za_error_make(reterr, ZA_ERROR_NETWORK, r, "write '%s': %m", cache_path);
		goto fail_early;
	}
	lock_fd = safe_close(lock_fd); /* the record now reserves the ports */

	{
		const struct cni_call lo_call = { &cfg, "ADD", id, netns_path, "lo" };
		const struct cni_call call = { &cfg, "ADD", id, netns_path, NETWORK_IFNAME };

		r = cni_exec(&lo_call, lo, NULL, reterr);
		for (; r >= 0 && tried < json_array_size(plugins); tried++) {
			_cleanup_(json_decrefp) json_t *conf = cni_conf_with_prev(json_array_get(plugins, tried), res);
			json_t *next = NULL;

			r = cni_exec(&call, conf, &next, reterr);
			if (r >= 0) {
				json_decref(res);
				res = next;
			}
		}
	}
	if (r >= 0 && cni_result_parse(res, NETWORK_IFNAME, &a) < 0)
		r = za_error_make(reterr, ZA_ERROR_NETWORK, EBADMSG,
		                  "the cni result has no IPv4 address for '%s' in the namespace", NETWORK_IFNAME);
	if (r < 0) {
		_cleanup_za_error_ struct za_error *ignored = NULL;

		/* DEL what was tried (the failed one may have done half its work);
		 * if that fails too, the record stays for a later detach. */
		network_attachment_release(&a);
		if (cni_del_chain(&cfg, id, netns_path, plugins, tried, res, &ignored) >= 0)
			(void)unlink(cache_path);
		else
			log_debug("roll back network of container %s: %s", id, ignored->message);
		goto fail_early;
	}

	json_decref(record);
	record = cni_cache_new(&cfg, id, netns_path, lo, plugins, res);
	if (cache_store(&cfg, id, record) < 0)
		log_debug("could not store the cni result of container %s; DEL will run without it", id);

	a.netns_path = xstrdup(netns_path);
	a.n_ports = n_ports;
	a.host_ports = xnew(uint16_t, MAX(n_ports, (size_t)1));
	for (size_t i = 0; i < n_ports; i++)
		a.host_ports[i] = req[i].host_port;
	log_debug("attached container %s to network %s: %s/%u", id, cfg.name, a.ip, a.prefix_len);
	*ret = a;
	return 0;

fail_early:
	(void)za_error_wrap(reterr, "attach container '%s' to network '%s'", strempty(id), cfg.name);
	return r;
}

int network_detach(const struct network_config *cfg_in, const char *id, const char *netns_path,
                   struct za_error **reterr) {
	_cleanup_(json_decrefp) json_t *record = NULL, *rebuilt = NULL;
	_cleanup_free_ char *cache_path = NULL;
	const json_t *plugins, *result = NULL;
	struct network_config cfg;
	struct cni_cache_view v;
	const char *ns;
	int r;

	r = network_config_validate(cfg_in, reterr);
	if (r < 0)
		return r;
	config_resolve(cfg_in, &cfg);
	if (!network_container_id_valid(id))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "detach container '%s' from network '%s': invalid container ID", strempty(id),
		                     cfg.name);
	cache_path = cache_path_of(&cfg, id);

	record = cache_load(&cfg, id, &r);
	if (record) {
		(void)cni_cache_view(record, &v);
		plugins = v.plugins;
		result = v.result;
		ns = netns_path ? netns_path : v.netns;
	} else {
		/* No (usable) record: the same chain from today's config. portmap
		 * tears down by network name and container ID, but only when it
		 * is given some mapping, hence the placeholder. */
		const struct network_port_mapping placeholder = { 1, 1, "tcp", "0.0.0.0" };

		log_debug("no cni cache for container %s (%s); rebuilding the configs", id, strerror(-r));
		rebuilt = json_pack("[o, o]", cni_conf_bridge(&cfg), cni_conf_portmap(&cfg, &placeholder, 1));
		if (!rebuilt)
			oom();
		plugins = rebuilt;
		ns = strempty(netns_path);
	}
	/* A namespace that is gone (or was never made) cannot be entered: the
	 * plugins then release what lives outside it. */
	if (!isempty(ns) && netns_is_mounted(ns) <= 0)
		ns = "";

	r = cni_del_chain(&cfg, id, ns, plugins, SIZE_MAX, result, reterr);
	if (r < 0) {
		(void)za_error_wrap(reterr, "detach container '%s' from network '%s'", id, cfg.name);
		return r;
	}
	if (unlink(cache_path) < 0 && errno != ENOENT)
		return za_error_make(reterr, ZA_ERROR_NETWORK, errno,
		                     "detach container '%s' from network '%s': remove '%s': %m", id, cfg.name,
		                     cache_path);
	log_debug("detached container %s from network %s", id, cfg.name);
	return 0;
}

int network_list_attached(const struct network_config *cfg_in, char ***ret_container_ids, struct za_error **reterr) {
	struct network_config cfg;
	int r;

	r = network_config_validate(cfg_in, reterr);
	if (r < 0)
		return r;
	config_resolve(cfg_in, &cfg);
	r = list_cached(&cfg, ret_container_ids);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, r, "list containers of network '%s' in '%s': %m",
		                     cfg.name, cfg.cache_dir);
	return 0;
}

void network_allocations_free(struct network_allocation *a, size_t n) {
	for (size_t i = 0; a && i < n; i++) {
		free(a[i].ip);
		free(a[i].container_id);
	}
	free(a);
}

static int allocation_cmp(const void *x, const void *y) {
	const struct network_allocation *a = x, *b = y;
	struct in_addr ia, ib;

	(void)inet_pton(AF_INET, a->ip, &ia);
	(void)inet_pton(AF_INET, b->ip, &ib);
	return ntohl(ia.s_addr) < ntohl(ib.s_addr) ? -1 : ntohl(ia.s_addr) > ntohl(ib.s_addr);
}

int network_list_allocations(const struct network_config *cfg_in, struct network_allocation **ret, size_t *ret_n,
                             struct za_error **reterr) {
	struct network_allocation *list = NULL;
	_cleanup_free_ char *dir = NULL;
	struct network_config cfg;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	DIR *d;
	int r;

	r = network_config_validate(cfg_in, reterr);
	if (r < 0)
		return r;
	config_resolve(cfg_in, &cfg);
	dir = xasprintf("%s/%s", cfg.state_dir, cfg.name);
	d = opendir(dir);
	if (!d && errno != ENOENT)
		return za_error_make(reterr, ZA_ERROR_NETWORK, errno, "list addresses of network '%s' in '%s': %m",
		                     cfg.name, dir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL, *buf = NULL;

		if (!network_ipv4_valid(de->d_name))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (read_full_file(path, ALLOC_FILE_MAX, &buf, NULL) < 0)
			continue; /* released meanwhile */
		buf[strcspn(buf, "\r\n")] = '\0';
		GROW(list, alloc, n + 1);
		list[n++] = (struct network_allocation){ xstrdup(de->d_name), xstrdup(buf) };
	}
	if (d)
		closedir(d);
	if (n > 0)
		qsort(list, n, sizeof(*list), allocation_cmp);
	*ret = list;
	*ret_n = n;
	return 0;
}
