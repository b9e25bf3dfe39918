/* SPDX-License-Identifier: Apache-2.0 */
/* WASI preview 1 poll_oneoff (clock and fd readiness subscriptions over one
 * ppoll()) and the sock_* calls on socket fds the guest was handed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/macro.h"
#include "runtime/wasm/wasi-internal.h"
#include "basic/banned.h"

static uint64_t clock_now_ns(clockid_t c) {
	struct timespec ts;

	if (clock_gettime(c, &ts) < 0 || ts.tv_sec < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t add_sat(uint64_t a, uint64_t b) {
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

struct sub {
	uint64_t userdata;
	uint8_t type;
	uint16_t error;    /* decided without waiting: bad fd, bad clock */
	bool ready;        /* the event is due now */
	uint64_t nbytes;   /* fd events */
	uint16_t flags;    /* fd events: hangup */
	uint64_t deadline; /* clock events, CLOCK_MONOTONIC ns */
	int pollidx;       /* fd events waited on: index into the pollfds, or -1 */
};

/* A clock subscription as a monotonic deadline. */
static void sub_clock(struct sub *s, const uint8_t *p) {
	uint32_t id = wasi_get_u32(p + 16);
	uint64_t timeout = wasi_get_u64(p + 24);
	uint16_t flags = wasi_get_u16(p + 40);
	uint64_t mono = clock_now_ns(CLOCK_MONOTONIC);

	switch (id) {
	case WASI_CLOCK_MONOTONIC:
		s->deadline = (flags & WASI_SUBCLOCK_ABSTIME) ? timeout : add_sat(mono, timeout);
		break;
	case WASI_CLOCK_REALTIME:
		if (flags & WASI_SUBCLOCK_ABSTIME) {
			uint64_t real = clock_now_ns(CLOCK_REALTIME);
			s->deadline = timeout <= real ? mono : add_sat(mono, timeout - real);
		} else
			s->deadline = add_sat(mono, timeout);
		break;
	default: /* cputime clocks cannot be slept on */
		s->error = WASI_EINVAL;
		s->ready = true;
		break;
	}
}

static void sub_fd(wasi_ctx *ctx, struct sub *s, const uint8_t *p, struct pollfd *pfds, nfds_t *npfds) {
	struct wasi_fd *f;
	struct stat st;
	uint32_t e = wasi_fd_lookup(ctx, wasi_get_u32(p + 16), WASI_RIGHT_POLL_FD_READWRITE, &f);

	if (e) {
		s->error = (uint16_t)e;
		s->ready = true;
		return;
	}
	/* Regular files are always ready: what is left to read, nothing to wait for. */
	if (f->filetype == WASI_FILETYPE_REGULAR_FILE) {
		s->ready = true;
		if (s->type == WASI_EVENTTYPE_FD_READ && fstat(f->host, &st) == 0) {
			off_t pos = lseek(f->host, 0, SEEK_CUR);
			if (pos >= 0 && st.st_size > pos)
				s->nbytes = (uint64_t)(st.st_size - pos);
		}
		return;
	}
	s->pollidx = (int)*npfds;
	pfds[(*npfds)++] = (struct pollfd){
		.fd = f->host,
		.events = s->type == WASI_EVENTTYPE_FD_READ ? POLLIN : POLLOUT,
	};
}

static void sub_polled(struct sub *s, const struct pollfd *pfd) {
	int avail;

	if (!pfd->revents)
		return;
	s->ready = true;
	if (pfd->revents & POLLNVAL) {
		s->error = WASI_EBADF;
		return;
	}
	if (pfd->revents & POLLHUP)
		s->flags |= WASI_EVENT_FD_READWRITE_HANGUP;
	if (s->type == WASI_EVENTTYPE_FD_READ && ioctl(pfd->fd, FIONREAD, &avail) == 0 && avail > 0)
		s->nbytes = (uint64_t)avail;
	if ((pfd->revents & POLLERR) && !(pfd->revents & (POLLIN | POLLOUT | POLLHUP)))
		s->error = WASI_EIO;
}

uint32_t WASI_IMPORT(poll_oneoff)(wasi_ctx *ctx, uint32_t in, uint32_t out, uint32_t nsubscriptions, uint32_t ret) {
	_cleanup_free_ struct sub *subs = NULL;
	_cleanup_free_ struct pollfd *pfds = NULL;
	const uint8_t *pin;
	uint8_t *pout, *pret;
	uint64_t earliest = UINT64_MAX;
	nfds_t npfds = 0;
	bool any_ready = false;
	uint32_t n = 0;

	if (nsubscriptions == 0 || nsubscriptions > WASI_MAX_SUBSCRIPTIONS)
		return WASI_EINVAL;
	pin = wasi_mem(ctx, in, (uint64_t)nsubscriptions * WASI_SUBSCRIPTION_SIZE);
	pout = wasi_mem(ctx, out, (uint64_t)nsubscriptions * WASI_EVENT_SIZE);
	pret = wasi_mem(ctx, ret, 4);
	if (!pin || !pout || !pret)
		return WASI_EFAULT;

	subs = xnew(struct sub, nsubscriptions);
	pfds = xnew(struct pollfd, nsubscriptions);
	for (uint32_t i = 0; i < nsubscriptions; i++) {
		const uint8_t *p = pin + (size_t)i * WASI_SUBSCRIPTION_SIZE;
		struct sub *s = &subs[i];

		*s = (struct sub){ .userdata = wasi_get_u64(p), .type = p[8], .pollidx = -1 };
		switch (s->type) {
		case WASI_EVENTTYPE_CLOCK:
			sub_clock(s, p);
			if (!s->ready)
				earliest = MIN(earliest, s->deadline);
			break;
		case WASI_EVENTTYPE_FD_READ:
		case WASI_EVENTTYPE_FD_WRITE:
			sub_fd(ctx, s, p, pfds, &npfds);
			break;
		default:
			return WASI_EINVAL;
		}
		any_ready |= s->ready;
	}

	for (;;) {
		struct timespec ts, *tsp = NULL;
		uint64_t now = clock_now_ns(CLOCK_MONOTONIC);
		bool fired = any_ready;
		int r;

		if (any_ready)
			ts = (struct timespec){ 0, 0 }, tsp = &ts;
		else if (earliest != UINT64_MAX) {
			uint64_t left = earliest > now ? earliest - now : 0;
			ts = (struct timespec){ .tv_sec = (time_t)MIN(left / 1000000000u, (uint64_t)INT32_MAX),
				                .tv_nsec = (long)(left % 1000000000u) };
			tsp = &ts;
		}
		r = ppoll(pfds, npfds, tsp, NULL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return wasi_errno_from(errno);
		}
		now = clock_now_ns(CLOCK_MONOTONIC);
		for (uint32_t i = 0; i < nsubscriptions; i++) {
			struct sub *s = &subs[i];

			if (s->pollidx >= 0)
				sub_polled(s, &pfds[s->pollidx]);
			else if (s->type == WASI_EVENTTYPE_CLOCK && !s->ready && s->deadline <= now)
				s->ready = true;
			fired |= s->ready;
		}
		if (fired)
			break;
	}

	for (uint32_t i = 0; i < nsubscriptions; i++) {
		const struct sub *s = &subs[i];
		uint8_t *p = pout + (size_t)n * WASI_EVENT_SIZE;

		if (!s->ready)
			continue;
		memset(p, 0, WASI_EVENT_SIZE);
		wasi_put_u64(p + 0, s->userdata);
		wasi_put_u16(p + 8, s->error);
		wasi_put_u8(p + 10, s->type);
		if (s->type != WASI_EVENTTYPE_CLOCK) {
			wasi_put_u64(p + 16, s->nbytes);
			wasi_put_u16(p + 24, s->flags);
		}
		n++;
	}
	wasi_put_u32(pret, n);
	return WASI_ESUCCESS;
}

/* A socket fd: EBADF when closed, ENOTSOCK when something else. */
static uint32_t sock_lookup(wasi_ctx *ctx, uint32_t fd, uint64_t need, struct wasi_fd **ret) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, 0, &f);

	if (e)
		return e;
	if (f->filetype != WASI_FILETYPE_SOCKET_STREAM && f->filetype != WASI_FILETYPE_SOCKET_DGRAM)
		return WASI_ENOTSOCK;
	return wasi_fd_lookup(ctx, fd, need, ret);
}

uint32_t WASI_IMPORT(sock_accept)(wasi_ctx *ctx, uint32_t fd, uint32_t flags, uint32_t ret) {
	struct wasi_fd *f;
	uint32_t e = sock_lookup(ctx, fd, WASI_RIGHT_SOCK_ACCEPT, &f);
	uint32_t newfd;
	uint8_t *pret;
	int host;

	if (e)
		return e;
	if (flags & ~(uint32_t)WASI_FDFLAG_NONBLOCK)
		return WASI_EINVAL;
	pret = wasi_mem(ctx, ret, 4);
	if (!pret)
		return WASI_EFAULT;
	do
		host = accept4(f->host, NULL, NULL,
		               SOCK_CLOEXEC | ((flags & WASI_FDFLAG_NONBLOCK) ? SOCK_NONBLOCK : 0));
	while (host < 0 && errno == EINTR);
	if (host < 0)
		return wasi_errno_from(errno);
	e = wasi_fd_insert(ctx, host, WASI_FILETYPE_SOCKET_STREAM, (uint16_t)flags,
	                   WASI_RIGHTS_SOCKET_BASE & ~WASI_RIGHT_SOCK_ACCEPT, 0, &newfd);
	if (e)
		return e;
	wasi_put_u32(pret, newfd);
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(sock_recv)(wasi_ctx *ctx, uint32_t fd, uint32_t ri_data, uint32_t ri_data_len, uint32_t ri_flags,
                                uint32_t ret_datalen, uint32_t ret_flags) {
	_cleanup_free_ struct iovec *v = NULL;
	struct wasi_fd *f;
	uint32_t e = sock_lookup(ctx, fd, WASI_RIGHT_FD_READ, &f);
	uint8_t *plen, *pflags;
	struct msghdr msg = {};
	ssize_t n;
	int nv, mflags = 0;

	if (e)
		return e;
	if (ri_flags & ~(uint32_t)(WASI_RIFLAG_RECV_PEEK | WASI_RIFLAG_RECV_WAITALL))
		return WASI_EINVAL;
	e = wasi_iovecs_get(ctx, ri_data, ri_data_len, &v, &nv);
	if (e)
		return e;
	plen = wasi_mem(ctx, ret_datalen, 4);
	pflags = wasi_mem(ctx, ret_flags, 2);
	if (!plen || !pflags)
		return WASI_EFAULT;
	if (ri_flags & WASI_RIFLAG_RECV_PEEK)
		mflags |= MSG_PEEK;
	if (ri_flags & WASI_RIFLAG_RECV_WAITALL)
		mflags |= MSG_WAITALL;
	msg.msg_iov = v;
	msg.msg_iovlen = (size_t)nv;
	do
		n = recvmsg(f->host, &msg, mflags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return wasi_errno_from(errno);
	wasi_put_u32(plen, (uint32_t)n);
	wasi_put_u16(pflags, (msg.msg_flags & MSG_TRUNC) ? WASI_ROFLAG_RECV_DATA_TRUNCATED : 0);
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(sock_send)(wasi_ctx *ctx, uint32_t fd, uint32_t si_data, uint32_t si_data_len, uint32_t si_flags,
                                uint32_t ret) {
	_cleanup_free_ struct iovec *v = NULL;
	struct wasi_fd *f;
	uint32_t e = sock_lookup(ctx, fd, WASI_RIGHT_FD_WRITE, &f);
	struct msghdr msg = {};
	uint8_t *pret;
	ssize_t n;
	int nv;

	if (e)
		return e;
	if (si_flags != 0) /* no siflags are defined */
		return WASI_EINVAL;
	e = wasi_iovecs_get(ctx, si_data, si_data_len, &v, &nv);
	if (e)
		return e;
	pret = wasi_mem(ctx, ret, 4);
	if (!pret)
		return WASI_EFAULT;
	msg.msg_iov = v;
	msg.msg_iovlen = (size_t)nv;
	do
		n = sendmsg(f->host, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return wasi_errno_from(errno);
	wasi_put_u32(pret, (uint32_t)n);
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(sock_shutdown)(wasi_ctx *ctx, uint32_t fd, uint32_t how) {
	struct wasi_fd *f;
	uint32_t e = sock_lookup(ctx, fd, WASI_RIGHT_SOCK_SHUTDOWN, &f);
	int h;

	if (e)
		return e;
	switch (how) {
	case WASI_SDFLAG_RD:
		h = SHUT_RD;
		break;
	case WASI_SDFLAG_WR:
		h = SHUT_WR;
		break;
	case WASI_SDFLAG_RD | WASI_SDFLAG_WR:
		h = SHUT_RDWR;
		break;
	default:
		return WASI_EINVAL;
	}
	return shutdown(f->host, h) < 0 ? wasi_errno_from(errno) : WASI_ESUCCESS;
}
