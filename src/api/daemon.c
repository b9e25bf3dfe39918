/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon process: directories, single-instance locks, store, API
 * socket, signal handling, and the queue through which other threads hand
 * work to the loop thread.
 *
 * Shutdown on SIGTERM/SIGINT: stop accepting and remove the socket, run the
 * STOP hooks, wait (at most DAEMON_SHUTDOWN_GRACE_SEC) for requests in
 * flight, leave the loop, run the EXIT hooks, then tear down. A second
 * signal skips the wait. */
#include "api/daemon.h"
#include "api/containers.h"
#include "api/images.h"
#include "runtime/oci.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "api/server.h"
#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "store/store.h"
#include "basic/banned.h"

#define DRAIN_CHECK_USEC (50 * 1000)
/* Worker threads come in bursts (a deploy of 100 replicas runs 100 at once).
 * glibc gives each concurrent thread its own arena, up to 8 per CPU, and
 * keeps what they free: +4 MiB resident for good after such a burst
 * (bench/restart.sh). Two arenas do for threads that mostly wait, and a
 * while after work comes back to the loop, what is free goes back too. */
#define MALLOC_ARENAS   2
#define TRIM_DELAY_USEC (5 * 1000 * 1000)

struct daemon_post_item {
	struct daemon_post_item *next;
	void (*fn)(void *userdata);
	void *userdata;
};

struct daemon_hook_entry {
	struct daemon_hook_entry *next;
	daemon_hook_fn fn;
	void *userdata;
};

/* ---- work from other threads ---- */

void daemon_post(struct daemon *d, void (*fn)(void *userdata), void *userdata) {
	struct daemon_post_item *item = xnew(struct daemon_post_item, 1);
	uint64_t one = 1;

	item->fn = fn;
	item->userdata = userdata;
	pthread_mutex_lock(&d->post_lock);
	if (d->post_tail)
		d->post_tail->next = item;
	else
		d->post_head = item;
	d->post_tail = item;
	pthread_mutex_unlock(&d->post_lock);
	/* The counter cannot overflow in practice; EAGAIN would mean it is
	 * already readable, which is all we need. */
	(void)!write(d->post_fd, &one, sizeof(one));
}

static void daemon_run_posted(struct daemon *d) {
	struct daemon_post_item *item;

	for (;;) {
		pthread_mutex_lock(&d->post_lock);
		item = d->post_head;
		d->post_head = NULL;
		d->post_tail = NULL;
		pthread_mutex_unlock(&d->post_lock);
		if (!item)
			return;
		while (item) {
			struct daemon_post_item *next = item->next;
			item->fn(item->userdata);
			free(item);
			item = next;
		}
	}
}

static int on_trim(sd_event_source *es, uint64_t usec, void *userdata) {
	(void)malloc_trim(0);
	return 0;
}

/* At most one trim per TRIM_DELAY_USEC, and none while nothing happens. */
static void daemon_arm_trim(struct daemon *d) {
	uint64_t now;

	if (d->trim_source && sd_event_source_get_enabled(d->trim_source, NULL) > 0)
		return;
	if (sd_event_now(d->event, CLOCK_MONOTONIC, &now) < 0)
		return;
	if (!d->trim_source)
		(void)sd_event_add_time(d->event, &d->trim_source, CLOCK_MONOTONIC, now + TRIM_DELAY_USEC, 0, on_trim,
		                        d);
	else if (sd_event_source_set_time(d->trim_source, now + TRIM_DELAY_USEC) >= 0)
		(void)sd_event_source_set_enabled(d->trim_source, SD_EVENT_ONESHOT);
}

static int on_post(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
	uint64_t n;

	(void)!read(fd, &n, sizeof(n));
	daemon_run_posted(userdata);
	daemon_arm_trim(userdata);
	return 0;
}

/* ---- hooks ---- */

void daemon_add_hook(struct daemon *d, enum daemon_hook hook, daemon_hook_fn fn, void *userdata) {
	struct daemon_hook_entry **p, *e = xnew(struct daemon_hook_entry, 1);

	e->fn = fn;
	e->userdata = userdata;
	for (p = &d->hooks[hook]; *p; p = &(*p)->next)
		;
	*p = e;
}

static void hooks_free(struct daemon_hook_entry *e) {
	while (e) {
		struct daemon_hook_entry *next = e->next;
		free(e);
		e = next;
	}
}

static void daemon_run_hooks(struct daemon *d, enum daemon_hook hook) {
	struct daemon_hook_entry *e = d->hooks[hook];

	d->hooks[hook] = NULL; /* each hook runs once */
	while (e) {
		struct daemon_hook_entry *next = e->next;
		e->fn(d, e->userdata);
		free(e);
		e = next;
	}
}

/* ---- systemd's notify socket ---- */

/* $NOTIFY_SOCKET and the watchdog's variables are for this process alone,
 * yet every child inherits the environment, and `runc run --detach` with
 * NOTIFY_SOCKET set passes systemd's protocol through and waits for the
 * container itself to send READY=1, which a plain one never does: every
 * start would hang. So the daemon takes them out of its environment before
 * any thread or child exists and speaks the protocol itself. */
static void notify_take_env(struct daemon *d) {
	const char *p = getenv("NOTIFY_SOCKET");
	uint64_t usec = 0;

	if (sd_watchdog_enabled(false, &usec) > 0)
		d->watchdog_usec = usec;
	d->notify_socket = p ? xstrdup(p) : NULL;
	(void)unsetenv("NOTIFY_SOCKET");
	(void)unsetenv("WATCHDOG_USEC");
	(void)unsetenv("WATCHDOG_PID");
}

static void daemon_notify(struct daemon *d, const char *text) {
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	size_t n = d->notify_socket ? strlen(d->notify_socket) : 0;

	/* a path or an abstract name ("@name"), as sd_notify() takes them */
	if (n < 2 || n >= sizeof(sa.sun_path) || (d->notify_socket[0] != '/' && d->notify_socket[0] != '@'))
		return;
	memcpy(sa.sun_path, d->notify_socket, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	                     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		log_debug_errno(errno, "cannot notify '%s': %m", d->notify_socket);
}

static int on_watchdog(sd_event_source *es, uint64_t usec, void *userdata) {
	struct daemon *d = userdata;

	daemon_notify(d, "WATCHDOG=1");
	(void)sd_event_source_set_time(es, usec + d->watchdog_usec / 2);
	return sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
}

/* ---- shutdown ---- */

static int on_drain(sd_event_source *es, uint64_t usec, void *userdata) {
	struct daemon *d = userdata;
	unsigned n = d->api ? api_server_requests_in_flight(d->api) : 0;
	uint64_t now = usec;

	if (n == 0)
		return sd_event_exit(d->event, 0);
	(void)sd_event_now(d->event, CLOCK_MONOTONIC, &now);
	if (now >= d->stop_deadline) {
		log_warning("%u request%s still running after %d s; closing them", n, n == 1 ? "" : "s",
		            DAEMON_SHUTDOWN_GRACE_SEC);
		return sd_event_exit(d->event, 0);
	}
	(void)sd_event_source_set_time(es, now + DRAIN_CHECK_USEC);
	return sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
}

void daemon_stop(struct daemon *d) {
	uint64_t now = 0;

	if (d->stopping)
		return;
	d->stopping = true;
	daemon_notify(d, "STOPPING=1");
	if (d->api)
		api_server_stop_accepting(d->api);
	if (d->socket_path)
		(void)unlink(d->socket_path);
	daemon_run_hooks(d, DAEMON_HOOK_STOP);

	(void)sd_event_now(d->event, CLOCK_MONOTONIC, &now);
	d->stop_deadline = now + (uint64_t)DAEMON_SHUTDOWN_GRACE_SEC * 1000000;
	if (sd_event_add_time(d->event, &d->drain_source, CLOCK_MONOTONIC, now, 1000, on_drain, d) < 0)
		(void)sd_event_exit(d->event, 0);
}

static int on_signal(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata) {
	struct daemon *d = userdata;

	if (d->stopping) {
		log_notice("received SIG%s again, stopping now", strna(sigabbrev_np((int)si->ssi_signo)));
		return sd_event_exit(d->event, 0);
	}
	log_notice("received SIG%s, stopping", strna(sigabbrev_np((int)si->ssi_signo)));
	daemon_stop(d);
	return 0;
}

/* ---- start-up ---- */

static int make_dir(const char *what, const char *path, mode_t mode, struct za_error **reterr) {
	struct stat st;
	int r;

	r = mkdir_p(path, mode);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot create %s '%s': %m", what, path);
	if (stat(path, &st) < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, errno, "cannot use %s '%s': %m", what, path);
	if (!S_ISDIR(st.st_mode))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ENOTDIR, "%s '%s' is not a directory", what, path);
	if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
		log_debug_errno(errno, "cannot set mode %04o on '%s': %m", (unsigned)mode, path);
	return 0;
}

/* One daemon per directory: an exclusive flock held for the process's life,
 * with our pid in the file so the next one can say who holds it. */
static int take_lock(const char *dir, const char *what, int *ret_fd, struct za_error **reterr) {
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, DAEMON_LOCK_NAME);
	_cleanup_close_ int fd = -1;
	char pid[32];
	int r, n;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, errno, "cannot open lock file '%s': %m", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (r != -EWOULDBLOCK)
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot lock '%s': %m", path);
		n = (int)pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EBUSY,
		                     "another zlayer-agent daemon (pid %s) is already running with %s '%s'; stop it "
		                     "first or use another directory",
		                     isempty(pid) ? "unknown" : pid, what, dir);
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_debug_errno(errno, "cannot write pid to '%s': %m", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int setup_signals(struct daemon *d, struct za_error **reterr) {
	sigset_t mask;
	int r;

	/* Blocked before any thread starts, so every thread inherits it and
	 * only the signalfd sees these. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	r = -pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (r >= 0)
		r = sd_event_add_signal(d->event, &d->sigterm_source, SIGTERM, on_signal, d);
	if (r >= 0)
		r = sd_event_add_signal(d->event, &d->sigint_source, SIGINT, on_signal, d);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot watch signals: %m");
	(void)signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* The optional TCP listener: its token first (made on first use), then
 * the socket. */
static int setup_tcp(struct daemon *d, struct za_error **reterr) {
	const struct daemon_config *cfg = d->config;
	char *token = NULL;
	bool created = false, loopback = false;
	int fd, r;

	if (!cfg->listen)
		return 0;
	r = api_token_load(cfg->token_file, true, &token, &created, reterr);
	if (r < 0)
		return r;
	fd = api_listen_tcp(cfg->listen, &d->tcp_address, &loopback, reterr);
	r = fd < 0 ? fd : api_server_add_listener(d->api, fd, token, reterr);
	explicit_bzero(token, strlen(token));
	free(token);
	if (r < 0)
		return r;
	if (created)
		log_notice("generated an API token in '%s' (mode 0600)", cfg->token_file);
	if (!loopback)
		log_warning("the API listens on %s, not a loopback address, over plain HTTP: the token and every "
		            "request cross the network unencrypted; put a TLS proxy or an SSH tunnel in front",
		            d->tcp_address);
	log_notice("API listening on tcp://%s (bearer token in '%s')", d->tcp_address, cfg->token_file);
	return 0;
}

int daemon_new(const struct daemon_config *cfg, struct daemon **ret, struct za_error **reterr) {
	_cleanup_(daemon_freep) struct daemon *d = NULL;
	int r, fd;

	d = xnew(struct daemon, 1);
	d->config = cfg;
	d->lock_fd = d->root_lock_fd = d->post_fd = -1;
	pthread_mutex_init(&d->post_lock, NULL);

	notify_take_env(d);
	(void)mallopt(M_ARENA_MAX, MALLOC_ARENAS);
	r = sd_event_new(&d->event);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot create event loop: %m");
	if (d->watchdog_usec > 0 && sd_event_add_time_relative(d->event, &d->watchdog_source, CLOCK_MONOTONIC,
	                                                       d->watchdog_usec / 2, 0, on_watchdog, d) < 0)
		log_warning("cannot arm the systemd watchdog");

	r = make_dir("runtime directory", cfg->runtime_dir, 0755, reterr);
	if (r >= 0)
		r = take_lock(cfg->runtime_dir, "runtime directory", &d->lock_fd, reterr);
	if (r >= 0)
		r = make_dir("root directory", cfg->root_dir, 0700, reterr);
	if (r >= 0)
		r = take_lock(cfg->root_dir, "root directory", &d->root_lock_fd, reterr);
	if (r < 0)
		return r;

	r = store_open(cfg->root_dir, &d->store, reterr);
	if (r < 0)
		return r;

	r = setup_signals(d, reterr);
	if (r < 0)
		return r;

	d->post_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->post_fd < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot create eventfd: %m");
	r = sd_event_add_io(d->event, &d->post_source, d->post_fd, EPOLLIN, on_post, d);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot watch eventfd: %m");

	d->socket_path = daemon_config_socket_path(cfg);
	fd = api_listen_unix(d->socket_path, 0660, cfg->socket_group_set ? cfg->socket_group : (gid_t)-1, reterr);
	if (fd < 0) {
		free(d->socket_path);
		d->socket_path = NULL; /* not ours to remove */
		return fd;
	}
	r = api_server_new(d->event, fd, &d->api, reterr);
	if (r >= 0)
		r = setup_tcp(d, reterr);
	if (r < 0)
		return r;

	r = api_images_register(d);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot set up the image endpoints: %m");

	{
		struct oci_runtime_options ro = {
			.root_dir = cfg->root_dir,
			.runtime_dir = cfg->runtime_dir,
			.content = images_content(d->images),
			/* testing aid: the sanitizer build of the daemon with the
			 * ordinary static shim (see scripts/check) */
			.shim_path = getenv("ZLAYER_SHIM"),
			.keep_cgroup_options = cfg->keep_cgroup_options,
		};
		r = oci_runtime_new(&ro, &d->runtime, reterr);
		if (r < 0)
			return r;
	}
	r = api_containers_register(d, d->runtime);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot set up the container endpoints: %m");
	r = api_secrets_register(d, reterr);
	if (r < 0)
		return r;
	r = api_deployments_register(d, reterr);
	if (r < 0)
		return r;
	r = api_metrics_register(d, reterr);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(d);
	return 0;
}

int daemon_loop(struct daemon *d, struct za_error **reterr) {
	int r;

	if (d->tcp_address)
		log_notice("zlayer-agent daemon ready on %s and tcp://%s", d->socket_path, d->tcp_address);
	else
		log_notice("zlayer-agent daemon ready on %s", d->socket_path);
	{
		_cleanup_free_ char *m = xasprintf("READY=1\nSTATUS=listening on %s", d->socket_path);
		daemon_notify(d, m);
	}
	r = sd_event_loop(d->event);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "event loop failed: %m");
	return 0;
}

struct daemon *daemon_free(struct daemon *d) {
	if (!d)
		return NULL;
	if (!d->stopping)
		daemon_run_hooks(d, DAEMON_HOOK_STOP);
	daemon_run_hooks(d, DAEMON_HOOK_EXIT);
	if (d->post_fd >= 0)
		daemon_run_posted(d);
	for (int h = 0; h < _DAEMON_HOOK_MAX; h++)
		hooks_free(d->hooks[h]);
	d->api = api_server_free(d->api);
	if (d->runtime) {
		d->runtime->ops->free(d->runtime); /* containers keep running: they belong to their shims */
		d->runtime = NULL;
	}
	if (d->socket_path)
		(void)unlink(d->socket_path);
	d->store = store_free(d->store);
	sd_event_source_disable_unref(d->post_source);
	sd_event_source_disable_unref(d->sigterm_source);
	sd_event_source_disable_unref(d->sigint_source);
	sd_event_source_disable_unref(d->drain_source);
	sd_event_source_disable_unref(d->watchdog_source);
	sd_event_source_disable_unref(d->trim_source);
	sd_event_unref(d->event);
	safe_close(d->post_fd);
	safe_close(d->lock_fd);
	safe_close(d->root_lock_fd);
	pthread_mutex_destroy(&d->post_lock);
	free(d->socket_path);
	free(d->tcp_address);
	free(d->notify_socket);
	free(d);
	return NULL;
}

int daemon_run(const struct daemon_config *cfg, struct za_error **reterr) {
	_cleanup_(daemon_freep) struct daemon *d = NULL;
	int r;

	r = daemon_new(cfg, &d, reterr);
	if (r < 0)
		return r;
	return daemon_loop(d, reterr);
}
