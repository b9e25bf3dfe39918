/* SPDX-License-Identifier: Apache-2.0 */
/* The exit monitor of the OCI runtime: one thread learns of every container's
 * exit the moment its shim records it (inotify on the shim's state dir sees
 * exit.json renamed into place), or the moment a shim dies without recording
 * one (pidfds on the shim and on the init). Each exit goes once to the
 * runtime's exit handler and wakes whoever waits in oci_monitor_wait(); no
 * caller polls for exits. */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "runtime/oci-internal.h"
#include "shim/shim-protocol.h"
#include "basic/banned.h"

enum {
	TOKEN_INOTIFY = 1,
	TOKEN_STOP = 2,
	TOKEN_FIRST = 16, /* entries: token * 2 (shim) and token * 2 + 1 (init) */
};

struct watch_entry {
	char *id;
	uint64_t token;
	int wd;
	int shim_pidfd, init_pidfd;
	bool shim_dead, init_dead;
	bool exited;
	uint64_t runs; /* bumped each time it starts again */
	struct wait_outcome outcome;
	struct watch_entry *next;
};

struct oci_monitor {
	struct oci *oci;
	struct runtime *rt;
	int epfd, inofd, stopfd;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	uint64_t next_token;
	struct watch_entry *entries;
};

static int64_t mono_ns(void) {
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int pidfd_for(pid_t pid) {
	if (pid <= 0)
		return -ESRCH;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : fd;
}

static void entry_close(struct oci_monitor *m, struct watch_entry *e) {
	if (e->wd >= 0)
		(void)inotify_rm_watch(m->inofd, e->wd);
	if (e->shim_pidfd >= 0) {
		(void)epoll_ctl(m->epfd, EPOLL_CTL_DEL, e->shim_pidfd, NULL);
		safe_close(e->shim_pidfd);
	}
	if (e->init_pidfd >= 0) {
		(void)epoll_ctl(m->epfd, EPOLL_CTL_DEL, e->init_pidfd, NULL);
		safe_close(e->init_pidfd);
	}
	e->wd = e->shim_pidfd = e->init_pidfd = -1;
}

static void entry_free(struct oci_monitor *m, struct watch_entry *e) {
	entry_close(m, e);
	free(e->id);
	free(e);
}

static struct watch_entry *entry_find(struct oci_monitor *m, const char *id) {
	for (struct watch_entry *e = m->entries; e; e = e->next)
		if (streq(e->id, id))
			return e;
	return NULL;
}

/* Under the lock. True when the exit became known just now: the caller then
 * tells the handler (outside the lock). */
static bool entry_settle(struct oci_monitor *m, struct watch_entry *e) {
	if (e->exited)
		return false;
	if (oci_read_exit(m->oci, e->id, &e->outcome) >= 0)
		e->exited = true;
	else if (e->shim_dead && e->init_dead) {
		e->outcome = (struct wait_outcome){ .reason = EXIT_REASON_RUNTIME_ERROR, .exit_code = 255 };
		e->exited = true;
	}
	if (!e->exited)
		return false;
	/* Nothing more to learn: keep the entry (waiters, WAIT_REMOVED) but not
	 * its descriptors. */
	entry_close(m, e);
	pthread_cond_broadcast(&m->cond);
	return true;
}

static void notify(struct oci_monitor *m, const char *id, const struct wait_outcome *w) {
	log_debug("container %s exited (%s, code %d)", id, exit_reason_to_string(w->reason), w->exit_code);
	runtime_notify_exit(m->rt, id, w);
}

static void settle_and_notify(struct oci_monitor *m, struct watch_entry *e) {
	_cleanup_free_ char *id = NULL;
	struct wait_outcome w;

	if (!entry_settle(m, e))
		return;
	id = xstrdup(e->id);
	w = e->outcome;
	pthread_mutex_unlock(&m->lock);
	notify(m, id, &w);
	pthread_mutex_lock(&m->lock);
}

static void handle_inotify(struct oci_monitor *m) {
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(m->inofd, buf, sizeof(buf))) > 0) {
		int wds[64];
		size_t nw = 0;

		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			if (ev->len > 0 && streq(ev->name, SHIM_FILE_EXIT) && nw < ELEMENTSOF(wds))
				wds[nw++] = ev->wd;
			p += sizeof(struct inotify_event) + ev->len;
		}
		pthread_mutex_lock(&m->lock);
		for (size_t i = 0; i < nw; i++)
			for (struct watch_entry *e = m->entries; e; e = e->next)
				if (e->wd == wds[i]) {
					settle_and_notify(m, e);
					break;
				}
		pthread_mutex_unlock(&m->lock);
	}
}

static void handle_pidfd(struct oci_monitor *m, uint64_t token) {
	pthread_mutex_lock(&m->lock);
	for (struct watch_entry *e = m->entries; e; e = e->next) {
		if (e->token != token / 2)
			continue;
		if (token % 2 == 0) {
			e->shim_dead = true;
			if (e->shim_pidfd >= 0) {
				(void)epoll_ctl(m->epfd, EPOLL_CTL_DEL, e->shim_pidfd, NULL);
				e->shim_pidfd = safe_close(e->shim_pidfd);
			}
		} else {
			e->init_dead = true;
			if (e->init_pidfd >= 0) {
				(void)epoll_ctl(m->epfd, EPOLL_CTL_DEL, e->init_pidfd, NULL);
				e->init_pidfd = safe_close(e->init_pidfd);
			}
		}
		settle_and_notify(m, e);
		break;
	}
	pthread_mutex_unlock(&m->lock);
}

static void *monitor_thread(void *p) {
	struct oci_monitor *m = p;
	struct epoll_event evs[32];

	for (;;) {
		int n = epoll_wait(m->epfd, evs, ELEMENTSOF(evs), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warning("container exit monitor stopped: epoll_wait: %m");
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			uint64_t t = evs[i].data.u64;
			if (t == TOKEN_STOP)
				return NULL;
			if (t == TOKEN_INOTIFY)
				handle_inotify(m);
			else
				handle_pidfd(m, t);
		}
	}
}

int oci_monitor_new(struct oci *o, struct runtime *rt, struct oci_monitor **ret) {
	struct oci_monitor *m = xnew(struct oci_monitor, 1);
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	m->oci = o;
	m->rt = rt;
	m->next_token = TOKEN_FIRST;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	m->inofd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	m->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->epfd < 0 || m->inofd < 0 || m->stopfd < 0) {
		r = -errno;
		goto fail;
	}
	ev.data.u64 = TOKEN_INOTIFY;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->inofd, &ev) < 0) {
		r = -errno;
		goto fail;
	}
	ev.data.u64 = TOKEN_STOP;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->stopfd, &ev) < 0) {
		r = -errno;
		goto fail;
	}
	r = -pthread_create(&m->thread, NULL, monitor_thread, m);
	if (r < 0)
		goto fail;
	m->running = true;
	*ret = m;
	return 0;
fail:
	oci_monitor_free(m);
	return r;
}

struct oci_monitor *oci_monitor_free(struct oci_monitor *m) {
	if (!m)
		return NULL;
	if (m->running) {
		(void)eventfd_write(m->stopfd, 1);
		(void)pthread_join(m->thread, NULL);
	}
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_cond_broadcast(&m->cond);
	while (m->entries) {
		struct watch_entry *e = m->entries;
		m->entries = e->next;
		entry_free(m, e);
	}
	pthread_mutex_unlock(&m->lock);
	safe_close(m->epfd);
	safe_close(m->inofd);
	safe_close(m->stopfd);
	/* Waiters still blocked would use freed memory: the runtime is freed
	 * only after the daemon's worker threads are gone. */
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}

static void add_pidfd(struct oci_monitor *m, int fd, uint64_t token) {
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = token };

	if (fd >= 0 && epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		log_debug("cannot watch pidfd: %m");
}

void oci_monitor_watch(struct oci_monitor *m, const char *id, pid_t shim_pid, pid_t init_pid) {
	_cleanup_free_ char *rdir = oci_run_dir(m->oci, id), *state = xasprintf("%s/state", rdir);
	struct watch_entry *e;
	int fd;

	pthread_mutex_lock(&m->lock);
	e = entry_find(m, id);
	if (e && !e->exited) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	if (e) {
		/* started again: the same entry (waiters for its removal keep
		 * waiting), watched anew */
		entry_close(m, e);
		e->exited = e->shim_dead = e->init_dead = false;
		e->runs++;
		e->token = m->next_token++;
	} else {
		e = xnew(struct watch_entry, 1);
		e->id = xstrdup(id);
		e->token = m->next_token++;
		e->next = m->entries;
		m->entries = e;
	}
	e->wd = inotify_add_watch(m->inofd, state, IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR);
	e->shim_pidfd = e->init_pidfd = -1;
	fd = pidfd_for(shim_pid);
	if (fd >= 0)
		e->shim_pidfd = fd;
	else
		e->shim_dead = true;
	fd = pidfd_for(init_pid);
	if (fd >= 0)
		e->init_pidfd = fd;
	else
		e->init_dead = true;
	add_pidfd(m, e->shim_pidfd, e->token * 2);
	add_pidfd(m, e->init_pidfd, e->token * 2 + 1);
	/* It may have exited before the watches were in place. A pidfd of a
	 * process that is already gone polls readable too. */
	settle_and_notify(m, e);
	pthread_mutex_unlock(&m->lock);
}

void oci_monitor_forget(struct oci_monitor *m, const char *id) {
	pthread_mutex_lock(&m->lock);
	for (struct watch_entry **p = &m->entries; *p; p = &(*p)->next)
		if (streq((*p)->id, id)) {
			struct watch_entry *e = *p;
			*p = e->next;
			entry_free(m, e);
			break;
		}
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

int oci_monitor_wait(struct oci_monitor *m, const char *id, int64_t timeout_ns, struct wait_outcome *ret) {
	int64_t deadline = timeout_ns == INT64_MAX ? INT64_MAX : mono_ns() + timeout_ns;
	struct timespec ts = { .tv_sec = deadline / 1000000000LL, .tv_nsec = deadline % 1000000000LL };
	int r;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		struct watch_entry *e = entry_find(m, id);
		if (m->stopping) {
			r = -ECANCELED;
			break;
		}
		if (!e) {
			r = -ENOENT;
			break;
		}
		if (e->exited) {
			*ret = e->outcome;
			r = 1;
			break;
		}
		if (deadline == INT64_MAX)
			pthread_cond_wait(&m->cond, &m->lock);
		else if (pthread_cond_timedwait(&m->cond, &m->lock, &ts) == ETIMEDOUT) {
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int oci_monitor_wait_next(struct oci_monitor *m, const char *id, struct wait_outcome *ret) {
	struct watch_entry *e;
	uint64_t runs;
	int r;

	pthread_mutex_lock(&m->lock);
	e = entry_find(m, id);
	runs = e ? e->runs : 0;
	for (;;) {
		e = entry_find(m, id);
		if (m->stopping || !e) {
			r = m->stopping ? -ECANCELED : -ENOENT;
			break;
		}
		if (e->exited && e->runs != runs) {
			*ret = e->outcome;
			r = 1;
			break;
		}
		pthread_cond_wait(&m->cond, &m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int oci_monitor_wait_gone(struct oci_monitor *m, const char *id) {
	int r = 0;

	pthread_mutex_lock(&m->lock);
	while (entry_find(m, id) && !m->stopping)
		pthread_cond_wait(&m->cond, &m->lock);
	if (m->stopping)
		r = -ECANCELED;
	pthread_mutex_unlock(&m->lock);
	return r;
}
