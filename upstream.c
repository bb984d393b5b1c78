/*
 * upstream.c - the HTTP client engine (see upstream.h).
 *
 * A request walks RESOLVE -> CONNECT -> SEND -> HEAD -> BODY. Its socket
 * lives in a struct up_conn, which goes back to the idle pool when a
 * response ended cleanly on a keep-alive connection. Idle connections stay
 * registered for reading: a server that closes one (or sends anything) is
 * noticed at once and the connection dropped, so a pooled connection is
 * rarely stale; when it is, the request is retried once on a new one.
 *
 * DNS: getaddrinfo() blocks, so each host being looked up gets a detached
 * thread. The thread fills its job and pushes it onto a finished list,
 * then writes a byte to the engine's pipe; the loop takes the list and
 * wakes the requests waiting for that host. The list, its mutex and the
 * pipe belong to a small shared block that outlives the engine while a
 * thread still runs (the last one out frees it), so a lookup that hangs
 * past shutdown never touches freed memory. IP literals need no thread.
 *
 * Reads go into one buffer shared by every request (PX_UP_READ bytes);
 * only a response head split across reads is copied, into a per-request
 * buffer that exists until the head is complete.
 *
 * Timers: one per request. The idle timeout is checked lazily: each read
 * stores the time, and the timer, when it fires, re-arms itself if there
 * was activity meanwhile, so a busy stream costs no heap operation per read.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tls.h"
#include "upstream.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* ------------------------------------------------------------ types */

struct dns_host;

enum up_phase { UP_RESOLVE, UP_CONNECT, UP_SEND, UP_HEAD, UP_BODY, UP_DONE };

struct up_conn {
	int fd;
	struct tls_conn *tls;
	char key[300];            /* host \n port \n tls */
	long long idle_since;
	struct up_engine *e;
	struct up_conn *prev, *next;   /* pool list (oldest first) */
};

struct up_req {
	struct up_engine *e;
	struct up_conn *c;
	enum up_phase phase;
	struct up_target t;
	char key[300];
	struct up_timeouts to;
	const char *out[2];       /* head, body */
	size_t out_len[2], out_off;   /* out_off counts across both */
	struct up_callbacks cb;
	void *ud;
	struct ev_timer timer;
	struct ev_defer defer;
	long long last_read;      /* BODY: for the lazy idle timer */
	/* addresses copied from the DNS entry when connecting */
	struct sockaddr_storage *addrs;
	socklen_t *alens;
	int naddr, addr_i;
	int last_errno;
	struct dns_host *waiting; /* RESOLVE: the entry we wait for */
	struct up_req *wnext;     /* next waiter of the same entry */
	/* response */
	char *hbuf;               /* head bytes split across reads */
	size_t hlen, hcap;
	size_t received;
	int64_t left;             /* Content-Length left, -1 otherwise */
	struct http_chunked chk;
	unsigned chunked:1, close_delim:1, keep_alive:1, reused:1,
	         retried:1, paused:1, cancelled:1, dead:1, starting:1;
	int in_cb;
	enum up_err pending_err;  /* reported from the deferred call */
	char pending_msg[256];
};

struct dns_job {
	char host[256], port[8];
	struct sockaddr_storage addr[PX_DNS_ADDRS];
	socklen_t alen[PX_DNS_ADDRS];
	int naddr, err;
	struct dns_host *h;       /* identity only: compared, never read by the
	                             thread */
	struct dns_shared *sh;
	struct dns_job *next;
};

/* Shared with resolver threads; freed by the last of engine and threads. */
struct dns_shared {
	pthread_mutex_t mu;
	struct dns_job *done;     /* finished jobs */
	int refs;                 /* engine + running threads */
	int orphaned;             /* engine gone */
	int pipe[2];
};

struct dns_host {
	char host[256], port[8];
	struct sockaddr_storage addr[PX_DNS_ADDRS];
	socklen_t alen[PX_DNS_ADDRS];
	int naddr, err;
	long long expiry;         /* 0 = never looked up */
	int pending;
	struct up_req *waiters;
	long long last_use;
};

struct up_engine {
	struct ev_loop *loop;
	struct dns_shared *sh;
	struct dns_host *hosts;
	int nhosts;
	int npending;
	struct up_conn *pool_head, *pool_tail;
	int npool, pool_max;
	struct ev_timer pool_timer;
	char rbuf[PX_UP_READ];
};

/* ------------------------------------------------------------ helpers */

static const char *const err_names[] = {
	"none", "dns", "connect", "tls", "connect_timeout", "send", "closed",
	"bad_head", "first_byte_timeout", "framing", "idle_timeout", "nomem"
};

/* see upstream.h */
const char *
up_err_name(enum up_err e)
{
	if ((unsigned)e < sizeof err_names / sizeof err_names[0])
		return err_names[e];
	return "unknown";
}

static void
set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void
make_key(char *key, size_t cap, const struct up_target *t)
{
	snprintf(key, cap, "%s\n%s\n%d", t->host, t->port, t->tls ? 1 : 0);
}

static void
conn_close(struct up_engine *e, struct up_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0) {
		ev_del(e->loop, c->fd);
		if (c->tls)
			tls_close(c->tls);
		close(c->fd);
	}
	free(c->tls);
	free(c);
}

static void req_io(struct ev_loop *l, int fd, int events, void *ud);
static void req_step(struct up_req *r);
static void req_timer(struct ev_loop *l, struct ev_timer *t);
static void req_deferred(struct ev_loop *l, struct ev_defer *d);

/* The kernel interest a request needs now. */
static int
req_mask(const struct up_req *r)
{
	struct up_conn *c = r->c;
	short te;
	int m = 0;

	if (c == NULL || c->fd < 0)
		return 0;
	switch (r->phase) {
	case UP_CONNECT:
		return EV_WRITE;
	case UP_SEND:
		if (c->tls) {
			te = tls_events(c->tls);
			if (te & POLLIN)
				m |= EV_READ;
			if (te & POLLOUT)
				m |= EV_WRITE;
			return m ? m : EV_WRITE;
		}
		return EV_WRITE;
	case UP_HEAD:
	case UP_BODY:
		if (r->paused)
			return 0;
		if (c->tls) {
			te = tls_events(c->tls);
			if (te & POLLOUT)
				m |= EV_WRITE;
		}
		return m | EV_READ;
	default:
		return 0;
	}
}

static void
req_update_mask(struct up_req *r)
{
	if (r->c && r->c->fd >= 0)
		ev_mask(r->e->loop, r->c->fd, req_mask(r));
}

/* Free the request (its connection must already be dealt with). */
static void
req_free(struct up_req *r)
{
	struct up_engine *e = r->e;

	ev_timer_stop(e->loop, &r->timer);
	ev_defer_cancel(e->loop, &r->defer);
	if (r->waiting) {
		struct up_req **pp;
		for (pp = &r->waiting->waiters; *pp; pp = &(*pp)->wnext)
			if (*pp == r) {
				*pp = r->wnext;
				break;
			}
		r->waiting = NULL;
	}
	free(r->hbuf);
	free(r->addrs);
	free(r->alens);
	free(r);
}

/* End of a callback: free the request if it was cancelled meanwhile. */
static int
cb_leave(struct up_req *r)
{
	if (--r->in_cb == 0 && r->dead) {
		req_free(r);
		return 1;
	}
	return r->dead;
}

static void req_fail_later(struct up_req *r, enum up_err err, const char *msg);

/* Report a failure and finish the request (on the next turn when it
 * happens inside up_start()). */
static void
req_fail(struct up_req *r, enum up_err err, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	conn_close(r->e, r->c);
	r->c = NULL;
	if (r->starting) {
		req_fail_later(r, err, msg);
		return;
	}
	r->phase = UP_DONE;
	ev_timer_stop(r->e->loop, &r->timer);
	r->dead = 1;
	r->in_cb++;
	if (r->cb.on_error && !r->cancelled)
		r->cb.on_error(r->ud, err, msg);
	cb_leave(r);
}

/* Fail on the next turn (errors found inside up_start). */
static void
req_fail_later(struct up_req *r, enum up_err err, const char *msg)
{
	size_t n = strlen(msg);

	if (n >= sizeof r->pending_msg)
		n = sizeof r->pending_msg - 1;
	r->pending_err = err;
	memcpy(r->pending_msg, msg, n);
	r->pending_msg[n] = 0;
	ev_defer(r->e->loop, &r->defer);
}

/* ------------------------------------------------------------ pool */

static void
pool_unlink(struct up_engine *e, struct up_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		e->pool_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		e->pool_tail = c->prev;
	c->prev = c->next = NULL;
	e->npool--;
}

/* An idle connection became readable: the server closed it or sent
 * something unsolicited. Either way it is not reusable (TLS may carry a
 * session ticket: let the engine take it and look again). */
static void
pool_io(struct ev_loop *l, int fd, int events, void *ud)
{
	struct up_conn *c = ud;
	struct up_engine *e = c->e;
	char b[256];

	(void)l;
	(void)fd;
	(void)events;
	if (c->tls) {
		ssize_t k = tls_read(c->tls, b, sizeof b);
		if (k == TLS_AGAIN) {
			ev_mask(e->loop, c->fd, (tls_events(c->tls) & POLLOUT) ?
			    EV_READ | EV_WRITE : EV_READ);
			return;
		}
	}
	pool_unlink(e, c);
	conn_close(e, c);
}

static void
pool_sweep(struct ev_loop *l, struct ev_timer *t)
{
	struct up_engine *e = t->ud;
	long long now = ev_now(l);

	while (e->pool_head && now - e->pool_head->idle_since >= PX_POOL_IDLE_MS) {
		struct up_conn *c = e->pool_head;
		pool_unlink(e, c);
		conn_close(e, c);
	}
	if (e->pool_head)
		ev_timer_set(l, &e->pool_timer,
		    e->pool_head->idle_since + PX_POOL_IDLE_MS);
}

static void
pool_put(struct up_engine *e, struct up_conn *c)
{
	if (e->pool_max <= 0) {
		conn_close(e, c);
		return;
	}
	if (e->npool >= e->pool_max) {
		struct up_conn *old = e->pool_head;
		pool_unlink(e, old);
		conn_close(e, old);
	}
	c->idle_since = ev_now(e->loop);
	c->prev = e->pool_tail;
	c->next = NULL;
	if (e->pool_tail)
		e->pool_tail->next = c;
	else
		e->pool_head = c;
	e->pool_tail = c;
	e->npool++;
	ev_set(e->loop, c->fd, EV_READ, pool_io, c);
	if (!ev_timer_armed(&e->pool_timer))
		ev_timer_set(e->loop, &e->pool_timer,
		    c->idle_since + PX_POOL_IDLE_MS);
}

/* Newest idle connection with this key, or NULL. */
static struct up_conn *
pool_get(struct up_engine *e, const char *key)
{
	struct up_conn *c;

	for (c = e->pool_tail; c; c = c->prev) {
		if (strcmp(c->key, key) == 0) {
			pool_unlink(e, c);
			return c;
		}
	}
	return NULL;
}

/* see upstream.h */
void
up_engine_set_pool(struct up_engine *e, int max_idle)
{
	e->pool_max = max_idle < 0 ? 0 : max_idle;
	while (e->npool > e->pool_max) {
		struct up_conn *c = e->pool_head;
		pool_unlink(e, c);
		conn_close(e, c);
	}
}

/* see upstream.h */
int
up_pool_size(const struct up_engine *e)
{
	return e->npool;
}

/* ------------------------------------------------------------ DNS */

static void
shared_unref(struct dns_shared *sh)
{
	struct dns_job *j;
	int last;

	pthread_mutex_lock(&sh->mu);
	last = --sh->refs == 0;
	pthread_mutex_unlock(&sh->mu);
	if (!last)
		return;
	while ((j = sh->done) != NULL) {
		sh->done = j->next;
		free(j);
	}
	close(sh->pipe[0]);
	close(sh->pipe[1]);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
}

static void *
dns_thread(void *arg)
{
	struct dns_job *j = arg;
	struct dns_shared *sh = j->sh;
	struct addrinfo hints, *res = NULL, *ai;
	char b = 1;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	j->err = getaddrinfo(j->host, j->port, &hints, &res);
	j->naddr = 0;
	if (j->err == 0) {
		for (ai = res; ai && j->naddr < PX_DNS_ADDRS; ai = ai->ai_next) {
			if (ai->ai_addrlen > sizeof j->addr[0])
				continue;
			memcpy(&j->addr[j->naddr], ai->ai_addr, ai->ai_addrlen);
			j->alen[j->naddr] = ai->ai_addrlen;
			j->naddr++;
		}
		freeaddrinfo(res);
	}
	pthread_mutex_lock(&sh->mu);
	j->next = sh->done;
	sh->done = j;
	if (!sh->orphaned && write(sh->pipe[1], &b, 1) < 0) {
		/* pipe full: the loop is awake already */
	}
	pthread_mutex_unlock(&sh->mu);
	shared_unref(sh);
	return NULL;
}

static struct dns_host *
dns_find(struct up_engine *e, const char *host, const char *port)
{
	int i, victim = -1;
	struct dns_host *h;

	for (i = 0; i < e->nhosts; i++) {
		h = &e->hosts[i];
		if (strcmp(h->host, host) == 0 && strcmp(h->port, port) == 0)
			return h;
	}
	if (e->nhosts < PX_DNS_HOSTS) {
		h = &e->hosts[e->nhosts++];
	} else {
		/* evict the least recently used entry nobody waits for */
		for (i = 0; i < e->nhosts; i++) {
			h = &e->hosts[i];
			if (h->pending || h->waiters)
				continue;
			if (victim < 0 || h->last_use < e->hosts[victim].last_use)
				victim = i;
		}
		if (victim < 0)
			return NULL;
		h = &e->hosts[victim];
	}
	memset(h, 0, sizeof *h);
	snprintf(h->host, sizeof h->host, "%s", host);
	snprintf(h->port, sizeof h->port, "%s", port);
	return h;
}

static void req_connect_next(struct up_req *r);

/* Copy the entry's addresses into the request and start connecting. */
static void
req_use_addrs(struct up_req *r, const struct dns_host *h)
{
	r->addrs = malloc((size_t)h->naddr * sizeof *r->addrs);
	r->alens = malloc((size_t)h->naddr * sizeof *r->alens);
	if (r->addrs == NULL || r->alens == NULL) {
		req_fail(r, UP_E_NOMEM, "upstream %s: out of memory", r->t.label);
		return;
	}
	memcpy(r->addrs, h->addr, (size_t)h->naddr * sizeof *r->addrs);
	memcpy(r->alens, h->alen, (size_t)h->naddr * sizeof *r->alens);
	r->naddr = h->naddr;
	r->addr_i = 0;
	r->phase = UP_CONNECT;
	req_connect_next(r);
}

static void
dns_fail_msg(struct up_req *r, const struct dns_host *h, char *msg, size_t cap)
{
	snprintf(msg, cap, "upstream %s: DNS lookup of %s failed: %s",
	    r->t.label, h->host, h->err ? gai_strerror(h->err) : "no address");
}

/* Lookups finished: update the cache, wake the waiters. */
static void
dns_io(struct ev_loop *l, int fd, int events, void *ud)
{
	struct up_engine *e = ud;
	struct dns_job *list, *j;
	char b[64];

	(void)fd;
	(void)events;
	while (read(e->sh->pipe[0], b, sizeof b) > 0)
		;
	pthread_mutex_lock(&e->sh->mu);
	list = e->sh->done;
	e->sh->done = NULL;
	pthread_mutex_unlock(&e->sh->mu);
	while ((j = list) != NULL) {
		struct dns_host *h = NULL;
		struct up_req *w;
		int i;

		list = j->next;
		for (i = 0; i < e->nhosts; i++)
			if (&e->hosts[i] == j->h && e->hosts[i].pending &&
			    strcmp(e->hosts[i].host, j->host) == 0)
				h = &e->hosts[i];
		if (h == NULL) {
			free(j);
			continue;
		}
		e->npending--;
		h->pending = 0;
		h->err = j->err;
		h->naddr = j->naddr;
		memcpy(h->addr, j->addr, sizeof h->addr);
		memcpy(h->alen, j->alen, sizeof h->alen);
		h->expiry = ev_now(l) + (h->err || h->naddr == 0 ?
		    PX_DNS_NEG_TTL_MS : PX_DNS_TTL_MS);
		free(j);
		while ((w = h->waiters) != NULL) {
			h->waiters = w->wnext;
			w->wnext = NULL;
			w->waiting = NULL;
			if (h->err || h->naddr == 0) {
				char msg[512];
				dns_fail_msg(w, h, msg, sizeof msg);
				req_fail(w, UP_E_DNS, "%s", msg);
			} else {
				req_use_addrs(w, h);
			}
		}
	}
}

/* see upstream.h */
int
up_dns_pending(const struct up_engine *e)
{
	return e->npending;
}

/* Resolve r's host: at once for literals and cached answers, else on a
 * thread (r waits in the entry's list). */
static void
req_resolve(struct up_req *r)
{
	struct up_engine *e = r->e;
	struct addrinfo hints, *res = NULL;
	struct dns_host *h;
	struct dns_job *j;
	pthread_attr_t attr;
	pthread_t th;
	long long now = ev_now(e->loop);

	r->phase = UP_RESOLVE;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(r->t.host, r->t.port, &hints, &res) == 0 && res) {
		struct dns_host lit;
		memset(&lit, 0, sizeof lit);
		if (res->ai_addrlen <= sizeof lit.addr[0]) {
			memcpy(&lit.addr[0], res->ai_addr, res->ai_addrlen);
			lit.alen[0] = res->ai_addrlen;
			lit.naddr = 1;
		}
		freeaddrinfo(res);
		req_use_addrs(r, &lit);
		return;
	}
	h = dns_find(e, r->t.host, r->t.port);
	if (h == NULL) {
		req_fail_later(r, UP_E_DNS, "DNS cache full");
		return;
	}
	h->last_use = now;
	if (!h->pending && h->expiry > now) {
		if (h->err || h->naddr == 0) {
			char msg[512];
			dns_fail_msg(r, h, msg, sizeof msg);
			req_fail_later(r, UP_E_DNS, msg);
			return;
		}
		req_use_addrs(r, h);
		return;
	}
	r->waiting = h;
	r->wnext = h->waiters;
	h->waiters = r;
	if (h->pending)
		return;
	j = calloc(1, sizeof *j);
	if (j == NULL) {
		req_fail_later(r, UP_E_NOMEM, "out of memory");
		return;
	}
	snprintf(j->host, sizeof j->host, "%s", h->host);
	snprintf(j->port, sizeof j->port, "%s", h->port);
	j->h = h;
	j->sh = e->sh;
	pthread_mutex_lock(&e->sh->mu);
	e->sh->refs++;
	pthread_mutex_unlock(&e->sh->mu);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&th, &attr, dns_thread, j) != 0) {
		pthread_attr_destroy(&attr);
		free(j);
		shared_unref(e->sh);
		req_fail_later(r, UP_E_DNS, "cannot start a resolver thread");
		return;
	}
	pthread_attr_destroy(&attr);
	h->pending = 1;
	e->npending++;
}

/* ------------------------------------------------------------ connect */

static void
req_connect_next(struct up_req *r)
{
	struct up_engine *e = r->e;

	while (r->addr_i < r->naddr) {
		struct sockaddr_storage *sa = &r->addrs[r->addr_i];
		int fd = socket(sa->ss_family, SOCK_STREAM, 0), one = 1, rc;

		r->addr_i++;
		if (fd < 0) {
			r->last_errno = errno;
			continue;
		}
		set_nonblock(fd);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		rc = connect(fd, (struct sockaddr *)sa, r->alens[r->addr_i - 1]);
		if (rc == 0 || errno == EINPROGRESS) {
			r->c = calloc(1, sizeof *r->c);
			if (r->c == NULL) {
				close(fd);
				req_fail(r, UP_E_NOMEM, "out of memory");
				return;
			}
			r->c->fd = fd;
			r->c->e = e;
			memcpy(r->c->key, r->key, sizeof r->key);
			r->phase = UP_CONNECT;
			if (ev_set(e->loop, fd, EV_WRITE, req_io, r) < 0) {
				req_fail(r, UP_E_NOMEM, "upstream %s: cannot watch "
				    "the socket", r->t.label);
				return;
			}
			return;
		}
		r->last_errno = errno;
		close(fd);
	}
	req_fail(r, UP_E_CONNECT, "upstream %s: connect to %s:%s failed: %s",
	    r->t.label, r->t.host, r->t.port, strerror(r->last_errno ?
	    r->last_errno : ECONNREFUSED));
}

/* Connected: set up TLS (if any) and start sending. */
static void
req_connected(struct up_req *r)
{
	r->phase = UP_SEND;
	if (r->t.tls) {
		r->c->tls = malloc(sizeof *r->c->tls);
		if (r->c->tls == NULL ||
		    tls_conn_init(r->c->tls, r->c->fd, r->t.host) < 0) {
			char eb[160];
			int err = r->c->tls ? r->c->tls->err : 0;
			req_fail(r, UP_E_TLS, "upstream %s: TLS setup failed: %s",
			    r->t.label, err ? tls_strerror(err, eb, sizeof eb) :
			    "out of memory");
			return;
		}
	}
}

/* ------------------------------------------------------------ retry */

/* A pooled connection failed before any response byte: try once more on
 * a new one. Returns 1 when retrying. */
static int
maybe_retry(struct up_req *r)
{
	if (!r->reused || r->retried || r->received > 0)
		return 0;
	conn_close(r->e, r->c);
	r->c = NULL;
	r->reused = 0;
	r->retried = 1;
	r->out_off = 0;
	ev_timer_set(r->e->loop, &r->timer, ev_now(r->e->loop) + r->to.connect_ms);
	req_resolve(r);
	return 1;
}

static void
tls_failure(struct up_req *r, const char *what)
{
	char eb[160];
	int err = r->c && r->c->tls ? r->c->tls->err : 0;

	req_fail(r, UP_E_TLS, "upstream %s: TLS %s%s failed: %s", r->t.label,
	    what, r->t.host, tls_strerror(err, eb, sizeof eb));
}

/* ------------------------------------------------------------ I/O */

/* Write from the request's two parts at offset off. Plain sockets get
 * both parts in one sendmsg(); TLS queues the head without making a record
 * of it alone. Returns bytes written, 0 would block, -1 error. */
static ssize_t
req_write(struct up_req *r, struct up_conn *c)
{
	int part = r->out_off >= r->out_len[0];
	size_t off = part ? r->out_off - r->out_len[0] : r->out_off;
	ssize_t w;

	if (c->tls) {
		int last = part == 1 || r->out_len[1] == 0;
		w = tls_write_part(c->tls, r->out[part] + off,
		    r->out_len[part] - off, last);
		if (w == TLS_AGAIN)
			return 0;
		return w < 0 ? -1 : w;
	}
	{
		struct iovec iov[2];
		struct msghdr mh;
		int k = 0;

		iov[k].iov_base = (void *)(r->out[part] + off);
		iov[k++].iov_len = r->out_len[part] - off;
		if (part == 0 && r->out_len[1] > 0) {
			iov[k].iov_base = (void *)r->out[1];
			iov[k++].iov_len = r->out_len[1];
		}
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)k;
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	}
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	return w;
}

/* >0 bytes, 0 EOF, -2 again, -1 error */
static ssize_t
c_read(struct up_conn *c, char *p, size_t n)
{
	ssize_t k;

	if (c->tls) {
		k = tls_read(c->tls, p, n);
		if (k == TLS_AGAIN)
			return -2;
		return k;
	}
	k = recv(c->fd, p, n, 0);
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return -2;
	return k;
}

/* The body is over: hand the connection back or close it, then tell. */
static void
req_end(struct up_req *r, int complete)
{
	struct up_engine *e = r->e;
	struct up_conn *c = r->c;

	r->c = NULL;
	r->phase = UP_DONE;
	ev_timer_stop(e->loop, &r->timer);
	if (c) {
		if (complete && r->keep_alive && !r->close_delim && !r->cancelled &&
		    !(c->tls && (c->tls->eof || c->tls->err)))
			pool_put(e, c);
		else
			conn_close(e, c);
	}
	r->dead = 1;
	r->in_cb++;
	if (r->cb.on_end && !r->cancelled)
		r->cb.on_end(r->ud, complete);
	cb_leave(r);
}

/* Body bytes (framing included). Returns -1 when the request ended or was
 * cancelled inside a callback (r may be freed: do not touch it). */
static int
req_body(struct up_req *r, char *p, size_t n)
{
	while (n > 0 && r->phase == UP_BODY) {
		if (r->chunked) {
			/*
			 * The chunks decoded from one read go to the client
			 * side as one piece: their data is moved down over
			 * the chunk framing in the read buffer (it never
			 * outgrows what was read), so a read of many small
			 * chunks costs one callback and one write, not one
			 * each.
			 */
			char *start = p, *w = p;
			const char *d;
			size_t dn;
			int bad = 0;
			long k;

			while (n > 0 && !r->chk.done) {
				k = http_chunked_feed(&r->chk, p, n, &d, &dn);
				if (k < 0) {
					bad = 1;
					break;
				}
				if (dn) {
					if (d != w)
						memmove(w, d, dn);
					w += dn;
				}
				p += k;
				n -= (size_t)k;
				if (k == 0 && dn == 0)
					break;
			}
			if (w > start) {
				r->in_cb++;
				r->cb.on_data(r->ud, start, (size_t)(w - start));
				if (cb_leave(r))
					return -1;
			}
			if (bad) {
				req_fail(r, UP_E_FRAMING, "upstream %s: bad chunked "
				    "encoding", r->t.label);
				return -1;
			}
			if (r->chk.done) {
				req_end(r, 1);
				return -1;
			}
			break;
		} else if (r->left >= 0) {
			size_t take = (uint64_t)n < (uint64_t)r->left ? n :
			    (size_t)r->left;
			r->left -= (int64_t)take;
			if (take) {
				r->in_cb++;
				r->cb.on_data(r->ud, p, take);
				if (cb_leave(r))
					return -1;
			}
			if (r->left == 0) {
				req_end(r, 1);
				return -1;
			}
			break;        /* bytes after the body: ignored */
		} else {
			r->in_cb++;
			r->cb.on_data(r->ud, p, n);
			if (cb_leave(r))
				return -1;
			break;
		}
	}
	return r->phase == UP_BODY ? 0 : -1;
}

/* Parse a head from p[0..n). Returns bytes of the head consumed (> 0),
 * 0 when more is needed, -1 when the request ended. */
static long
req_head(struct up_req *r, const char *p, size_t n)
{
	struct http_hdr hdrs[HTTP_MAX_HEADERS];
	struct http_resp resp;
	int rc;

	memset(&resp, 0, sizeof resp);
	rc = http_parse_response(p, n, &resp, hdrs, HTTP_MAX_HEADERS);
	if (rc == HTTP_PARTIAL) {
		if (n > PX_UP_HEAD_MAX) {
			req_fail(r, UP_E_HEAD, "upstream %s: response head too "
			    "large", r->t.label);
			return -1;
		}
		return 0;
	}
	if (rc < 0) {
		req_fail(r, UP_E_HEAD, "upstream %s: malformed response head "
		    "(%s)", r->t.label, resp.error ? resp.error : "parse error");
		return -1;
	}
	if (resp.status >= 100 && resp.status < 200) {
		if (resp.status == 101) {
			req_fail(r, UP_E_HEAD, "upstream %s: unexpected 101 "
			    "Switching Protocols", r->t.label);
			return -1;
		}
		return rc;            /* interim: skip, read the next head */
	}
	r->phase = UP_BODY;
	r->keep_alive = resp.keep_alive;
	r->chunked = resp.chunked;
	r->left = resp.chunked ? -1 : resp.content_length;
	r->close_delim = !resp.chunked && resp.content_length < 0 &&
	    !resp.no_body;
	memset(&r->chk, 0, sizeof r->chk);
	r->last_read = ev_now(r->e->loop);
	ev_timer_set(r->e->loop, &r->timer, r->last_read + r->to.idle_ms);
	r->in_cb++;
	r->cb.on_head(r->ud, &resp);
	if (cb_leave(r))
		return -1;
	if (r->phase == UP_BODY && (resp.no_body || r->left == 0)) {
		req_end(r, 1);
		return -1;
	}
	return r->phase == UP_BODY ? rc : -1;
}

/* Bytes read in HEAD or BODY phase. */
static void
req_input(struct up_req *r, char *p, size_t n)
{
	r->received += n;
	while (n > 0 && r->phase == UP_HEAD) {
		long k;

		if (r->hlen > 0) {
			/* continue a split head in hbuf */
			size_t take = n;
			if (r->hlen + take > r->hcap) {
				size_t nc = r->hcap ? r->hcap : 4096;
				char *q;
				while (nc < r->hlen + take)
					nc *= 2;
				if (nc > PX_UP_HEAD_MAX * 2)
					nc = PX_UP_HEAD_MAX * 2;
				if (r->hlen + take > nc)
					take = nc - r->hlen;
				if ((q = realloc(r->hbuf, nc)) == NULL) {
					req_fail(r, UP_E_NOMEM, "out of memory");
					return;
				}
				r->hbuf = q;
				r->hcap = nc;
			}
			memcpy(r->hbuf + r->hlen, p, take);
			r->hlen += take;
			k = req_head(r, r->hbuf, r->hlen);
			if (k < 0)
				return;
			if (k == 0) {
				if (take < n) {
					req_fail(r, UP_E_HEAD, "upstream %s: "
					    "response head too large",
					    r->t.label);
					return;
				}
				return;
			}
			/* bytes of hbuf after the head came from p */
			{
				size_t before = r->hlen - take;   /* old bytes */
				size_t used_new = (size_t)k - before;
				free(r->hbuf);
				r->hbuf = NULL;
				r->hlen = r->hcap = 0;
				p += used_new;
				n -= used_new;
			}
			continue;
		}
		k = req_head(r, p, n);
		if (k < 0)
			return;
		if (k == 0) {
			/* keep the partial head */
			r->hbuf = malloc(n > 4096 ? n : 4096);
			if (r->hbuf == NULL) {
				req_fail(r, UP_E_NOMEM, "out of memory");
				return;
			}
			r->hcap = n > 4096 ? n : 4096;
			memcpy(r->hbuf, p, n);
			r->hlen = n;
			return;
		}
		p += k;
		n -= (size_t)k;
	}
	if (n > 0 && r->phase == UP_BODY)
		req_body(r, p, n);
}

/* EOF or read error while reading the response. */
static void
req_eof(struct up_req *r, int error)
{
	if (r->phase == UP_HEAD) {
		if (maybe_retry(r))
			return;
		if (error && r->c && r->c->tls && r->c->tls->err &&
		    r->c->tls->err != TLS_E_IO && r->c->tls->err != TLS_E_EOF) {
			tls_failure(r, "with ");
			return;
		}
		req_fail(r, UP_E_CLOSED, "upstream %s closed the connection "
		    "without a response", r->t.label);
		return;
	}
	if (error && r->c && r->c->tls && r->c->tls->err &&
	    r->c->tls->err != TLS_E_IO && r->c->tls->err != TLS_E_EOF) {
		tls_failure(r, "with ");
		return;
	}
	/* body ended by close: whole only when close-delimited */
	if (r->c) {
		conn_close(r->e, r->c);
		r->c = NULL;
	}
	req_end(r, r->close_delim);
}

/* Advance as far as possible without blocking (bounded: one read). */
static void
req_step(struct up_req *r)
{
	struct up_conn *c;

	for (;;) {
		c = r->c;
		if (r->dead || c == NULL)
			return;
		switch (r->phase) {
		case UP_CONNECT: {
			int err = 0;
			socklen_t el = sizeof err;
			struct sockaddr_storage ss;
			socklen_t sl = sizeof ss;

			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
				err = errno;
			if (err == EINPROGRESS || err == EALREADY)
				return;
			if (err == 0 && getpeername(c->fd, (struct sockaddr *)&ss,
			    &sl) < 0)
				err = errno == ENOTCONN ? ECONNREFUSED : errno;
			if (err) {
				conn_close(r->e, c);
				r->c = NULL;
				r->last_errno = err;
				req_connect_next(r);
				return;
			}
			req_connected(r);
			continue;
		}
		case UP_SEND:
			while (r->out_off < r->out_len[0] + r->out_len[1]) {
				ssize_t w = req_write(r, c);
				if (w < 0) {
					if (maybe_retry(r))
						return;
					if (c->tls && c->tls->err &&
					    c->tls->err != TLS_E_IO) {
						tls_failure(r, "with ");
						return;
					}
					req_fail(r, UP_E_SEND, "upstream %s: send "
					    "failed: %s", r->t.label, c->tls ?
					    "connection closed" : strerror(errno));
					return;
				}
				if (w == 0) {
					req_update_mask(r);
					return;
				}
				r->out_off += (size_t)w;
			}
			if (c->tls) {
				int f = tls_flush(c->tls);
				if (f == TLS_ERR) {
					tls_failure(r, "with ");
					return;
				}
				if (f == TLS_AGAIN) {
					req_update_mask(r);
					return;
				}
			}
			r->phase = UP_HEAD;
			ev_timer_set(r->e->loop, &r->timer,
			    ev_now(r->e->loop) + r->to.first_byte_ms);
			req_update_mask(r);
			return;       /* wait for the answer */
		case UP_HEAD:
		case UP_BODY: {
			ssize_t k;

			if (r->paused) {
				req_update_mask(r);
				return;
			}
			k = c_read(c, r->e->rbuf, sizeof r->e->rbuf);
			if (k == -2) {
				req_update_mask(r);
				return;
			}
			if (k <= 0) {
				req_eof(r, k < 0);
				return;
			}
			if (r->phase == UP_BODY)
				r->last_read = ev_now(r->e->loop);
			req_input(r, r->e->rbuf, (size_t)k);
			if (r->dead || r->c == NULL)
				return;
			/* TLS may hold more plaintext: next turn */
			if (r->c->tls && tls_pending(r->c->tls) && !r->paused)
				ev_defer(r->e->loop, &r->defer);
			req_update_mask(r);
			return;
		}
		default:
			return;
		}
	}
}

/* Loop entry points hold the request (in_cb) so that a callback that
 * ends or cancels it cannot free it under req_step's feet. */
static void
req_io(struct ev_loop *l, int fd, int events, void *ud)
{
	struct up_req *r = ud;

	(void)l;
	(void)fd;
	(void)events;
	r->in_cb++;
	req_step(r);
	cb_leave(r);
}

static void
req_deferred(struct ev_loop *l, struct ev_defer *d)
{
	struct up_req *r = d->ud;

	(void)l;
	if (r->pending_err) {
		enum up_err e = r->pending_err;
		r->pending_err = UP_E_NONE;
		req_fail(r, e, "%s", r->pending_msg);
		return;
	}
	r->in_cb++;
	req_step(r);
	cb_leave(r);
}

static void
req_timer(struct ev_loop *l, struct ev_timer *t)
{
	struct up_req *r = t->ud;
	long long now = ev_now(l);

	switch (r->phase) {
	case UP_RESOLVE:
	case UP_CONNECT:
		req_fail(r, UP_E_CONNECT_TIMEOUT, "upstream %s: connect to %s "
		    "timed out", r->t.label, r->t.host);
		return;
	case UP_SEND:
		if (r->c && r->c->tls && !tls_ready(r->c->tls))
			req_fail(r, UP_E_CONNECT_TIMEOUT, "upstream %s: TLS "
			    "handshake with %s timed out", r->t.label, r->t.host);
		else
			req_fail(r, UP_E_FIRST_BYTE_TIMEOUT, "upstream %s: timed "
			    "out sending the request", r->t.label);
		return;
	case UP_HEAD:
		req_fail(r, UP_E_FIRST_BYTE_TIMEOUT, "upstream %s: no response "
		    "within %d ms", r->t.label, r->to.first_byte_ms);
		return;
	case UP_BODY:
		if (now - r->last_read < r->to.idle_ms) {
			ev_timer_set(l, t, r->last_read + r->to.idle_ms);
			return;
		}
		if (r->paused) {
			/* the client is behind, not the upstream */
			ev_timer_set(l, t, now + r->to.idle_ms);
			return;
		}
		req_fail(r, UP_E_IDLE_TIMEOUT, "upstream %s: stream idle for %d "
		    "ms", r->t.label, r->to.idle_ms);
		return;
	default:
		return;
	}
}

/* ------------------------------------------------------------ API */

/* see upstream.h */
struct up_engine *
up_engine_new(struct ev_loop *l)
{
	struct up_engine *e = calloc(1, sizeof *e);
	struct dns_shared *sh;
	int i;

	if (e == NULL)
		return NULL;
	e->loop = l;
	e->pool_max = PX_POOL_MAX;
	ev_timer_init(&e->pool_timer, pool_sweep, e);
	e->hosts = calloc(PX_DNS_HOSTS, sizeof *e->hosts);
	sh = calloc(1, sizeof *sh);
	if (e->hosts == NULL || sh == NULL)
		goto fail;
	if (pipe(sh->pipe) < 0) {
		free(sh);
		sh = NULL;
		goto fail;
	}
	for (i = 0; i < 2; i++)
		set_nonblock(sh->pipe[i]);
	pthread_mutex_init(&sh->mu, NULL);
	sh->refs = 1;
	e->sh = sh;
	if (ev_set(l, sh->pipe[0], EV_READ, dns_io, e) < 0)
		goto fail;
	return e;
fail:
	if (sh) {
		close(sh->pipe[0]);
		close(sh->pipe[1]);
		pthread_mutex_destroy(&sh->mu);
		free(sh);
		e->sh = NULL;
	}
	free(e->hosts);
	free(e);
	return NULL;
}

/* see upstream.h */
void
up_engine_free(struct up_engine *e)
{
	if (e == NULL)
		return;
	while (e->pool_head) {
		struct up_conn *c = e->pool_head;
		pool_unlink(e, c);
		conn_close(e, c);
	}
	ev_timer_stop(e->loop, &e->pool_timer);
	ev_del(e->loop, e->sh->pipe[0]);
	pthread_mutex_lock(&e->sh->mu);
	e->sh->orphaned = 1;
	pthread_mutex_unlock(&e->sh->mu);
	shared_unref(e->sh);
	free(e->hosts);
	free(e);
}

/* see upstream.h */
struct up_req *
up_start(struct up_engine *e, const struct up_target *t,
    const struct up_timeouts *to, const char *head, size_t hn,
    const char *body, size_t bn, const struct up_callbacks *cb, void *ud)
{
	struct up_req *r = calloc(1, sizeof *r);
	struct up_conn *c;

	if (r == NULL)
		return NULL;
	r->e = e;
	r->t = *t;
	if (r->t.label == NULL)
		r->t.label = t->host;
	r->to = *to;
	r->out[0] = head;
	r->out_len[0] = hn;
	r->out[1] = body;
	r->out_len[1] = body ? bn : 0;
	r->cb = *cb;
	r->ud = ud;
	r->left = -1;
	ev_timer_init(&r->timer, req_timer, r);
	ev_defer_init(&r->defer, req_deferred, r);
	make_key(r->key, sizeof r->key, t);
	c = pool_get(e, r->key);
	if (c != NULL) {
		r->c = c;
		r->reused = 1;
		r->phase = UP_SEND;
		/* the idle connection waits for reads; the deferred call
		 * writes without asking for writability first (a close seen
		 * before then fails the write, which retries) */
		ev_set(e->loop, c->fd, EV_READ, req_io, r);
		ev_timer_set(e->loop, &r->timer, ev_now(e->loop) +
		    r->to.first_byte_ms);
		ev_defer(e->loop, &r->defer);    /* write on the next turn */
		return r;
	}
	ev_timer_set(e->loop, &r->timer, ev_now(e->loop) + r->to.connect_ms);
	/* failures found now are reported on the next turn */
	r->starting = 1;
	req_resolve(r);
	r->starting = 0;
	return r;
}

/* see upstream.h */
void
up_pause(struct up_req *r)
{
	if (r->paused)
		return;
	r->paused = 1;
	req_update_mask(r);
}

/* see upstream.h */
void
up_resume(struct up_req *r)
{
	if (!r->paused)
		return;
	r->paused = 0;
	req_update_mask(r);
	if (r->c && r->c->tls && tls_pending(r->c->tls))
		ev_defer(r->e->loop, &r->defer);
}

/* see upstream.h */
void
up_cancel(struct up_req *r)
{
	if (r == NULL)
		return;
	r->cancelled = 1;
	conn_close(r->e, r->c);
	r->c = NULL;
	r->phase = UP_DONE;
	if (r->in_cb > 0) {
		r->dead = 1;
		ev_timer_stop(r->e->loop, &r->timer);
		ev_defer_cancel(r->e->loop, &r->defer);
		return;
	}
	req_free(r);
}

/* see upstream.h */
int
up_reused(const struct up_req *r)
{
	return r->reused;
}

/* see upstream.h */
size_t
up_received(const struct up_req *r)
{
	return r->received;
}
