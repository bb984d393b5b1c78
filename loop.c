/*
 * loop.c - the event loop (see loop.h).
 *
 * The descriptor table is indexed by fd and grows on demand. Each entry
 * keeps the interest the caller asked for and the interest the kernel has,
 * so an unchanged mask costs no system call. Timers form a binary min-heap
 * of pointers; each timer knows its slot, so moving or stopping one is
 * O(log n). Deferred calls are a singly linked FIFO.
 *
 * The backend is private: four functions (init, apply a mask change, wait,
 * free) per kernel interface, picked by the preprocessor.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#if !defined(PX_LOOP_POLL) && !defined(PX_LOOP_EPOLL) && !defined(PX_LOOP_KQUEUE)
#if defined(__linux__)
#define PX_LOOP_EPOLL
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
    defined(__NetBSD__) || defined(__DragonFly__)
#define PX_LOOP_KQUEUE
#else
#define PX_LOOP_POLL
#endif
#endif

#if defined(PX_LOOP_EPOLL)
#include <sys/epoll.h>
#elif defined(PX_LOOP_KQUEUE)
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#else
#include <poll.h>
#endif

struct ev_fd {
	ev_io_fn fn;
	void *ud;
	unsigned char used;       /* registered */
	unsigned char want;       /* interest asked for */
	unsigned char have;       /* interest the kernel has */
#if defined(PX_LOOP_POLL)
	int pidx;                 /* slot in the pollfd array, -1 when none */
#endif
};

struct ev_loop {
	struct ev_fd *fds;
	int nfd_cap;
	int nused;
	struct ev_timer **heap;
	int nheap, heap_cap;
	struct ev_defer *dq_head, *dq_tail;
	long long now;
	int wake[2];              /* self-pipe */
#if defined(PX_LOOP_EPOLL)
	int epfd;
	struct epoll_event evs[EV_MAX_EVENTS];
#elif defined(PX_LOOP_KQUEUE)
	int kq;
	struct kevent evs[EV_MAX_EVENTS];
#else
	struct pollfd *pfds;
	int *pfd_fd;              /* slot -> fd (parallel to pfds) */
	int npfd, pfd_cap;
#endif
};

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
fd_grow(struct ev_loop *l, int fd)
{
	int ncap;
	struct ev_fd *p;

	if (fd < l->nfd_cap)
		return 0;
	ncap = l->nfd_cap ? l->nfd_cap : 64;
	while (ncap <= fd) {
		if (ncap > INT_MAX / 2)
			return -1;
		ncap *= 2;
	}
	p = realloc(l->fds, (size_t)ncap * sizeof *p);
	if (p == NULL)
		return -1;
	memset(p + l->nfd_cap, 0, (size_t)(ncap - l->nfd_cap) * sizeof *p);
#if defined(PX_LOOP_POLL)
	{
		int i;
		for (i = l->nfd_cap; i < ncap; i++)
			p[i].pidx = -1;
	}
#endif
	l->fds = p;
	l->nfd_cap = ncap;
	return 0;
}

/* ------------------------------------------------------------ backends */

#if defined(PX_LOOP_EPOLL)

static int
be_init(struct ev_loop *l)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -1 : 0;
}

static void
be_free(struct ev_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
}

static int
be_apply(struct ev_loop *l, int fd, int from, int to)
{
	struct epoll_event e;
	int op;

	memset(&e, 0, sizeof e);
	e.data.fd = fd;
	if (to & EV_READ)
		e.events |= EPOLLIN;
	if (to & EV_WRITE)
		e.events |= EPOLLOUT;
	if (from == 0)
		op = EPOLL_CTL_ADD;
	else if (to == 0)
		op = EPOLL_CTL_DEL;
	else
		op = EPOLL_CTL_MOD;
	if (epoll_ctl(l->epfd, op, fd, &e) < 0) {
		if (op == EPOLL_CTL_DEL)
			return 0;      /* already closed: nothing to undo */
		return -1;
	}
	return 0;
}

/* Fills ready[] with (fd, events) pairs; returns the count or -1. */
static int
be_wait(struct ev_loop *l, int timeout, int *ready)
{
	int n, i;

	n = epoll_wait(l->epfd, l->evs, EV_MAX_EVENTS, timeout);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < n; i++) {
		unsigned int e = l->evs[i].events;
		int m = 0;

		if (e & EPOLLIN)
			m |= EV_READ;
		if (e & EPOLLOUT)
			m |= EV_WRITE;
		if (e & (EPOLLERR | EPOLLHUP))
			m |= EV_ERROR | EV_READ | EV_WRITE;
		ready[2 * i] = l->evs[i].data.fd;
		ready[2 * i + 1] = m;
	}
	return n;
}

#elif defined(PX_LOOP_KQUEUE)

static int
be_init(struct ev_loop *l)
{
	l->kq = kqueue();
	if (l->kq < 0)
		return -1;
	fcntl(l->kq, F_SETFD, FD_CLOEXEC);
	return 0;
}

static void
be_free(struct ev_loop *l)
{
	if (l->kq >= 0)
		close(l->kq);
}

static int
be_apply(struct ev_loop *l, int fd, int from, int to)
{
	struct kevent ch[2];
	int n = 0;

	if ((from ^ to) & EV_READ) {
		EV_SET(&ch[n], (uintptr_t)fd, EVFILT_READ,
		    (to & EV_READ) ? EV_ADD : EV_DELETE, 0, 0, NULL);
		n++;
	}
	if ((from ^ to) & EV_WRITE) {
		EV_SET(&ch[n], (uintptr_t)fd, EVFILT_WRITE,
		    (to & EV_WRITE) ? EV_ADD : EV_DELETE, 0, 0, NULL);
		n++;
	}
	if (n == 0)
		return 0;
	if (kevent(l->kq, ch, n, NULL, 0, NULL) < 0 && to != 0)
		return -1;
	return 0;
}

static int
be_wait(struct ev_loop *l, int timeout, int *ready)
{
	struct timespec ts, *tp = NULL;
	int n, i, k = 0;

	if (timeout >= 0) {
		ts.tv_sec = timeout / 1000;
		ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
		tp = &ts;
	}
	n = kevent(l->kq, NULL, 0, l->evs, EV_MAX_EVENTS, tp);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	/* one report per filter: merge reports of the same fd */
	for (i = 0; i < n; i++) {
		int fd = (int)l->evs[i].ident, m = 0, j;

		if (l->evs[i].filter == EVFILT_READ)
			m |= EV_READ;
		else if (l->evs[i].filter == EVFILT_WRITE)
			m |= EV_WRITE;
		if (l->evs[i].flags & (EV_EOF | EV_ERROR))
			m |= EV_ERROR;
		for (j = 0; j < k; j++)
			if (ready[2 * j] == fd)
				break;
		if (j < k) {
			ready[2 * j + 1] |= m;
			continue;
		}
		ready[2 * k] = fd;
		ready[2 * k + 1] = m;
		k++;
	}
	return k;
}

#else /* poll */

static int
be_init(struct ev_loop *l)
{
	(void)l;
	return 0;
}

static void
be_free(struct ev_loop *l)
{
	free(l->pfds);
	free(l->pfd_fd);
}

static int
be_apply(struct ev_loop *l, int fd, int from, int to)
{
	struct ev_fd *f = &l->fds[fd];
	short ev = 0;

	(void)from;
	if (to & EV_READ)
		ev |= POLLIN;
	if (to & EV_WRITE)
		ev |= POLLOUT;
	if (to == 0) {
		/* remove: move the last slot into this one */
		int i = f->pidx, last;
		if (i < 0)
			return 0;
		last = l->npfd - 1;
		if (i != last) {
			l->pfds[i] = l->pfds[last];
			l->pfd_fd[i] = l->pfd_fd[last];
			l->fds[l->pfd_fd[i]].pidx = i;
		}
		l->npfd--;
		f->pidx = -1;
		return 0;
	}
	if (f->pidx < 0) {
		if (l->npfd == l->pfd_cap) {
			int nc = l->pfd_cap ? l->pfd_cap * 2 : 64;
			struct pollfd *p = realloc(l->pfds, (size_t)nc * sizeof *p);
			int *q;
			if (p == NULL)
				return -1;
			l->pfds = p;
			q = realloc(l->pfd_fd, (size_t)nc * sizeof *q);
			if (q == NULL)
				return -1;
			l->pfd_fd = q;
			l->pfd_cap = nc;
		}
		f->pidx = l->npfd++;
		l->pfds[f->pidx].fd = fd;
		l->pfd_fd[f->pidx] = fd;
	}
	l->pfds[f->pidx].events = ev;
	l->pfds[f->pidx].revents = 0;
	return 0;
}

static int
be_wait(struct ev_loop *l, int timeout, int *ready)
{
	int n, i, k = 0;

	n = poll(l->pfds, (nfds_t)l->npfd, timeout);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < l->npfd && k < n && k < EV_MAX_EVENTS; i++) {
		short re = l->pfds[i].revents;
		int m = 0;

		if (!re)
			continue;
		if (re & POLLIN)
			m |= EV_READ;
		if (re & POLLOUT)
			m |= EV_WRITE;
		if (re & (POLLERR | POLLHUP | POLLNVAL))
			m |= EV_ERROR | EV_READ | EV_WRITE;
		ready[2 * k] = l->pfds[i].fd;
		ready[2 * k + 1] = m;
		k++;
	}
	return k;
}

#endif

/* ------------------------------------------------------------ loop */

static void
wake_drain(struct ev_loop *l, int fd, int events, void *ud)
{
	char b[64];

	(void)fd;
	(void)events;
	(void)ud;
	while (read(l->wake[0], b, sizeof b) > 0)
		;
}

/* see loop.h */
struct ev_loop *
ev_new(void)
{
	struct ev_loop *l = calloc(1, sizeof *l);
	int i;

	if (l == NULL)
		return NULL;
	l->wake[0] = l->wake[1] = -1;
#if defined(PX_LOOP_EPOLL)
	l->epfd = -1;
#elif defined(PX_LOOP_KQUEUE)
	l->kq = -1;
#endif
	if (be_init(l) < 0 || pipe(l->wake) < 0)
		goto fail;
	for (i = 0; i < 2; i++) {
		fcntl(l->wake[i], F_SETFL, fcntl(l->wake[i], F_GETFL) | O_NONBLOCK);
		fcntl(l->wake[i], F_SETFD, FD_CLOEXEC);
	}
	if (ev_set(l, l->wake[0], EV_READ, wake_drain, NULL) < 0)
		goto fail;
	l->now = mono_ms();
	return l;
fail:
	ev_free(l);
	return NULL;
}

/* see loop.h */
void
ev_free(struct ev_loop *l)
{
	if (l == NULL)
		return;
	if (l->wake[0] >= 0) {
		ev_del(l, l->wake[0]);
		close(l->wake[0]);
		close(l->wake[1]);
	}
	be_free(l);
	free(l->fds);
	free(l->heap);
	free(l);
}

/* see loop.h */
const char *
ev_backend(const struct ev_loop *l)
{
	(void)l;
#if defined(PX_LOOP_EPOLL)
	return "epoll";
#elif defined(PX_LOOP_KQUEUE)
	return "kqueue";
#else
	return "poll";
#endif
}

/* see loop.h */
int
ev_set(struct ev_loop *l, int fd, int mask, ev_io_fn fn, void *ud)
{
	struct ev_fd *f;

	if (fd < 0 || fd_grow(l, fd) < 0) {
		errno = fd < 0 ? EBADF : ENOMEM;
		return -1;
	}
	f = &l->fds[fd];
	if (!f->used) {
		f->used = 1;
		f->have = 0;
		l->nused++;
	}
	f->fn = fn;
	f->ud = ud;
	return ev_mask(l, fd, mask);
}

/* see loop.h */
int
ev_mask(struct ev_loop *l, int fd, int mask)
{
	struct ev_fd *f;

	if (fd < 0 || fd >= l->nfd_cap || !l->fds[fd].used) {
		errno = EBADF;
		return -1;
	}
	f = &l->fds[fd];
	mask &= EV_READ | EV_WRITE;
	f->want = (unsigned char)mask;
	if (mask == f->have)
		return 0;
	if (be_apply(l, fd, f->have, mask) < 0)
		return -1;
	f->have = (unsigned char)mask;
	return 0;
}

/* see loop.h */
void
ev_del(struct ev_loop *l, int fd)
{
	struct ev_fd *f;

	if (fd < 0 || fd >= l->nfd_cap || !l->fds[fd].used)
		return;
	f = &l->fds[fd];
	if (f->have)
		be_apply(l, fd, f->have, 0);
	f->used = 0;
	f->have = f->want = 0;
	f->fn = NULL;
	f->ud = NULL;
	l->nused--;
}

/* ------------------------------------------------------------ timers */

static void
heap_swap(struct ev_loop *l, int i, int j)
{
	struct ev_timer *t = l->heap[i];

	l->heap[i] = l->heap[j];
	l->heap[j] = t;
	l->heap[i]->idx = i;
	l->heap[j]->idx = j;
}

static void
heap_up(struct ev_loop *l, int i)
{
	while (i > 0) {
		int p = (i - 1) / 2;
		if (l->heap[p]->at <= l->heap[i]->at)
			break;
		heap_swap(l, i, p);
		i = p;
	}
}

static void
heap_down(struct ev_loop *l, int i)
{
	for (;;) {
		int a = 2 * i + 1, b = a + 1, m = i;
		if (a < l->nheap && l->heap[a]->at < l->heap[m]->at)
			m = a;
		if (b < l->nheap && l->heap[b]->at < l->heap[m]->at)
			m = b;
		if (m == i)
			break;
		heap_swap(l, i, m);
		i = m;
	}
}

/* see loop.h */
void
ev_timer_init(struct ev_timer *t, ev_timer_fn fn, void *ud)
{
	t->at = 0;
	t->idx = -1;
	t->fn = fn;
	t->ud = ud;
}

/* see loop.h */
void
ev_timer_set(struct ev_loop *l, struct ev_timer *t, long long at)
{
	if (t->idx >= 0) {
		long long old = t->at;
		t->at = at;
		if (at < old)
			heap_up(l, t->idx);
		else if (at > old)
			heap_down(l, t->idx);
		return;
	}
	if (l->nheap == l->heap_cap) {
		int nc = l->heap_cap ? l->heap_cap * 2 : 64;
		struct ev_timer **h = realloc(l->heap, (size_t)nc * sizeof *h);
		if (h == NULL)
			abort();   /* a lost timer would hang a connection */
		l->heap = h;
		l->heap_cap = nc;
	}
	t->at = at;
	t->idx = l->nheap;
	l->heap[l->nheap++] = t;
	heap_up(l, t->idx);
}

/* see loop.h */
void
ev_timer_stop(struct ev_loop *l, struct ev_timer *t)
{
	int i = t->idx, last;

	if (i < 0)
		return;
	last = --l->nheap;
	if (i != last) {
		l->heap[i] = l->heap[last];
		l->heap[i]->idx = i;
		heap_up(l, i);
		heap_down(l, l->heap[i]->idx);
	}
	t->idx = -1;
}

/* ------------------------------------------------------------ deferred */

/* see loop.h */
void
ev_defer_init(struct ev_defer *d, ev_defer_fn fn, void *ud)
{
	d->next = NULL;
	d->queued = 0;
	d->fn = fn;
	d->ud = ud;
}

/* see loop.h */
void
ev_defer(struct ev_loop *l, struct ev_defer *d)
{
	if (d->queued)
		return;
	d->queued = 1;
	d->next = NULL;
	if (l->dq_tail)
		l->dq_tail->next = d;
	else
		l->dq_head = d;
	l->dq_tail = d;
}

/* see loop.h */
void
ev_defer_cancel(struct ev_loop *l, struct ev_defer *d)
{
	struct ev_defer **pp, *prev = NULL;

	if (!d->queued)
		return;
	for (pp = &l->dq_head; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			if (l->dq_tail == d)
				l->dq_tail = prev;
			break;
		}
	}
	d->queued = 0;
	d->next = NULL;
}

/* ------------------------------------------------------------ running */

/* see loop.h */
long long
ev_now(const struct ev_loop *l)
{
	return l->now;
}

/* see loop.h */
long long
ev_update_now(struct ev_loop *l)
{
	l->now = mono_ms();
	return l->now;
}

/* see loop.h */
void
ev_wakeup(struct ev_loop *l)
{
	int saved = errno;
	char b = 1;

	if (l->wake[1] >= 0 && write(l->wake[1], &b, 1) < 0) {
		/* pipe full: the loop is awake anyway */
	}
	errno = saved;
}

/* see loop.h */
int
ev_nfds(const struct ev_loop *l)
{
	return l->nused;
}

/* see loop.h */
int
ev_ntimers(const struct ev_loop *l)
{
	return l->nheap;
}

/* see loop.h */
int
ev_run_once(struct ev_loop *l, int max_ms)
{
	int ready[2 * EV_MAX_EVENTS];
	struct ev_defer *d;
	int n, i, timeout, calls = 0;

	/* deferred calls queued before this turn (new ones wait a turn) */
	d = l->dq_head;
	l->dq_head = l->dq_tail = NULL;
	while (d) {
		struct ev_defer *next = d->next;
		d->queued = 0;
		d->next = NULL;
		d->fn(l, d);
		calls++;
		d = next;
	}

	timeout = max_ms;
	if (l->dq_head)
		timeout = 0;
	else if (l->nheap > 0) {
		long long dt = l->heap[0]->at - mono_ms();
		if (dt < 0)
			dt = 0;
		if (dt > INT_MAX)
			dt = INT_MAX;
		if (timeout < 0 || dt < timeout)
			timeout = (int)dt;
	}
	n = be_wait(l, timeout, ready);
	if (n < 0)
		return -1;
	l->now = mono_ms();
	for (i = 0; i < n; i++) {
		int fd = ready[2 * i], m = ready[2 * i + 1];
		struct ev_fd *f;

		if (fd < 0 || fd >= l->nfd_cap)
			continue;
		f = &l->fds[fd];
		/* a callback earlier in this turn may have paused or
		 * removed it */
		if (!f->used || !f->have)
			continue;
		if (!(m & EV_ERROR))
			m &= f->have;
		if (!m)
			continue;
		f->fn(l, fd, m, f->ud);
		calls++;
	}
	/* due timers; at most as many as were armed when the turn began, so
	 * a callback that re-arms for "now" waits for the next turn */
	for (i = l->nheap; i > 0 && l->nheap > 0 && l->heap[0]->at <= l->now;
	    i--) {
		struct ev_timer *t = l->heap[0];
		ev_timer_stop(l, t);
		t->fn(l, t);
		calls++;
	}
	return calls;
}
