/*
 * proxy.c - llmproxy's server: a single-threaded poll() loop.
 *
 * Each client connection walks a fixed set of phases: read the request head
 * and body (bounded, timed), route the model to a provider, decode the body
 * into the IR and encode it for the upstream (or pass it through untouched
 * when both sides speak the same format), connect (DNS runs on a resolver
 * thread so the loop never blocks; TLS through tls.c), send, read the
 * response head, then either convert a whole body or convert an SSE stream
 * event by event. Every client-bound event is written as soon as it exists
 * (TCP_NODELAY, one HTTP chunk per event); when the client is slow we stop
 * reading the upstream instead of buffering (backpressure through poll
 * interest).
 *
 * Memory: one arena per request (released when the response is done), a
 * bounded input buffer and a bounded output queue per connection. Nothing is
 * freed inside a handler: handlers set `closing` and the loop frees after the
 * turn. Timers: every phase has a deadline; the poll timeout is the nearest.
 *
 * Secrets: provider keys go only into upstream request heads; client keys
 * are compared as SHA-256 digests (auth.c). Neither is ever logged.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "convert.h"
#include "http.h"
#include "json.h"
#include "proxy.h"
#include "sse.h"
#include "store.h"
#include "tls.h"

/* ------------------------------------------------------------ globals */

static struct px_config *cfg;
static int listen_fd = -1;
static volatile sig_atomic_t got_term;
static int draining;
static long long drain_deadline;
static int verbose;
static long long now_ms;
static struct px_store *rstore;   /* Responses store; NULL when off */
static long long rstore_sweep_at;

static long long
clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
px_log(const char *fmt, ...)
{
	char buf[2048];
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;
	int n;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	fprintf(stderr, "%s %s\n", ts, buf);
}

#define DBG(...) do { if (verbose) px_log(__VA_ARGS__); } while (0)

/* ------------------------------------------------------------ DNS */

/*
 * getaddrinfo() blocks, so it runs on a resolver thread. Results are cached
 * per provider for PX_DNS_TTL_MS; connections waiting for a provider's
 * lookup sit in PH_RESOLVE and are woken through a self-pipe.
 */
#define DNS_MAX_ADDRS 8

struct dns_entry {
	struct sockaddr_storage addr[DNS_MAX_ADDRS];
	socklen_t alen[DNS_MAX_ADDRS];
	int naddr;
	int err;                  /* getaddrinfo error, 0 ok */
	long long expiry;
	int pending;
	/* request copy for the thread */
	char host[256], port[8];
	int done;                 /* set by the thread, under dns_mu */
	int gen;
};

static struct dns_entry dns_cache[PX_MAX_PROVIDERS];
static pthread_mutex_t dns_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dns_cv = PTHREAD_COND_INITIALIZER;
static int dns_pipe[2] = {-1, -1};
static int dns_queue[PX_MAX_PROVIDERS];
static int dns_qlen;
static int dns_quit;              /* under dns_mu: the thread returns */
static pthread_t dns_th;
static int dns_running;

static void *
dns_thread(void *arg)
{
	(void)arg;
	for (;;) {
		struct addrinfo hints, *res = NULL, *ai;
		struct dns_entry tmp;
		int idx, rc, i;
		char b = 1;

		pthread_mutex_lock(&dns_mu);
		while (dns_qlen == 0 && !dns_quit)
			pthread_cond_wait(&dns_cv, &dns_mu);
		if (dns_quit) {
			pthread_mutex_unlock(&dns_mu);
			return NULL;
		}
		idx = dns_queue[0];
		memmove(dns_queue, dns_queue + 1, (size_t)(--dns_qlen) * sizeof *dns_queue);
		memcpy(tmp.host, dns_cache[idx].host, sizeof tmp.host);
		memcpy(tmp.port, dns_cache[idx].port, sizeof tmp.port);
		pthread_mutex_unlock(&dns_mu);

		memset(&hints, 0, sizeof hints);
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		rc = getaddrinfo(tmp.host, tmp.port, &hints, &res);
		tmp.naddr = 0;
		if (rc == 0) {
			for (ai = res; ai && tmp.naddr < DNS_MAX_ADDRS; ai = ai->ai_next) {
				i = tmp.naddr++;
				memcpy(&tmp.addr[i], ai->ai_addr, ai->ai_addrlen);
				tmp.alen[i] = ai->ai_addrlen;
			}
			freeaddrinfo(res);
		}
		pthread_mutex_lock(&dns_mu);
		memcpy(dns_cache[idx].addr, tmp.addr, sizeof tmp.addr);
		memcpy(dns_cache[idx].alen, tmp.alen, sizeof tmp.alen);
		dns_cache[idx].naddr = tmp.naddr;
		dns_cache[idx].err = rc;
		dns_cache[idx].done = 1;
		pthread_mutex_unlock(&dns_mu);
		if (write(dns_pipe[1], &b, 1) < 0) {
			/* pipe full: the loop is already awake */
		}
	}
	return NULL;
}

static int
dns_start(void)
{
	int i;

	if (pipe(dns_pipe) < 0)
		return -1;
	for (i = 0; i < 2; i++) {
		fcntl(dns_pipe[i], F_SETFL, O_NONBLOCK);
		fcntl(dns_pipe[i], F_SETFD, FD_CLOEXEC);
	}
	if (pthread_create(&dns_th, NULL, dns_thread, NULL) != 0)
		return -1;
	dns_running = 1;
	return 0;
}

/* Stop and join the resolver thread at exit: its per-thread resolver state
 * is only freed when it returns (valgrind: "definitely lost"). A lookup in
 * flight is waited for. */
static void
dns_stop(void)
{
	if (!dns_running)
		return;
	pthread_mutex_lock(&dns_mu);
	dns_quit = 1;
	pthread_cond_signal(&dns_cv);
	pthread_mutex_unlock(&dns_mu);
	pthread_join(dns_th, NULL);
	dns_running = 0;
}

/* Returns 1 when addresses are ready, 0 when a lookup is in flight. */
static int
dns_lookup(int prov)
{
	struct dns_entry *d = &dns_cache[prov];
	const struct px_provider *p = &cfg->providers[prov];
	struct addrinfo hints, *res = NULL;

	if (!d->pending && d->naddr > 0 && d->expiry > now_ms)
		return 1;
	if (d->pending)
		return 0;
	/* numeric hosts need no thread */
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(p->host, p->port, &hints, &res) == 0) {
		d->naddr = 0;
		if (res) {
			memcpy(&d->addr[0], res->ai_addr, res->ai_addrlen);
			d->alen[0] = res->ai_addrlen;
			d->naddr = 1;
		}
		freeaddrinfo(res);
		d->err = 0;
		d->expiry = LLONG_MAX;
		return 1;
	}
	pthread_mutex_lock(&dns_mu);
	snprintf(d->host, sizeof d->host, "%s", p->host);
	snprintf(d->port, sizeof d->port, "%s", p->port);
	d->done = 0;
	d->pending = 1;
	dns_queue[dns_qlen++] = prov;
	pthread_cond_signal(&dns_cv);
	pthread_mutex_unlock(&dns_mu);
	return 0;
}

/* ------------------------------------------------------------ connections */

enum phase {
	PH_READ_HEAD,       /* waiting for / reading a request head */
	PH_READ_BODY,
	PH_RESOLVE,         /* waiting for DNS */
	PH_CONNECT,         /* TCP connect in progress */
	PH_UP_SEND,         /* TLS handshake + sending the request */
	PH_UP_HEAD,         /* reading the upstream response head */
	PH_UP_BODY,         /* reading the upstream body (stream or whole) */
	PH_FLUSH            /* local answer queued; flush then next request */
};

enum endpoint {
	EP_NONE, EP_CHAT, EP_MESSAGES, EP_COUNT_TOKENS, EP_RESPONSES,
	EP_GEMINI_GEN, EP_GEMINI_STREAM, EP_GEMINI_COUNT,
	EP_EMBEDDINGS,            /* OpenAI /v1/embeddings */
	EP_COMPLETIONS,           /* legacy text completions: always converted */
	EP_GEMINI_EMBED, EP_GEMINI_BATCH_EMBED   /* :embedContent, :batch... */
};

/* An embeddings endpoint (OpenAI or Gemini client). */
#define EP_IS_EMBED(e) ((e) == EP_EMBEDDINGS || (e) == EP_GEMINI_EMBED || \
                        (e) == EP_GEMINI_BATCH_EMBED)

struct upconn {
	int fd;
	struct tls_conn *tls;     /* NULL for http:// */
	int prov;
	long long idle_since;
};

struct conn {
	int fd;
	int id;
	enum phase phase;
	unsigned closing:1, keep_alive:1, head_sent:1, streaming:1,
	         passthrough:1, up_reused:1, up_retry:1, client_eof:1,
	         close_after:1, up_done:1, resp_chunked:1, is_head:1,
	         sent_continue:1, body_unread:1;
	long long deadline;       /* ms; 0 = none */

	/* client input */
	char *in;
	size_t in_len, in_cap;
	size_t head_len;
	int64_t body_len;         /* CL, or decoded length for chunked */
	int chunked_body;
	struct http_chunked chk;
	size_t chk_off;           /* bytes of input consumed by the chunked decoder */
	char *body;
	size_t body_n, body_cap;

	/* client output queue */
	char *out;
	size_t out_len, out_off, out_cap;

	/* per request */
	struct px_arena arena;
	enum endpoint ep;
	enum px_fmt cfmt;         /* client format */
	struct ir_request req;
	char model[256];          /* requested model */
	char up_model[256];
	const struct auth_key *key;
	const struct px_provider *prov;
	int prov_idx;
	enum px_fmt ufmt;         /* upstream format (provider, or per model) */
	char *dropped;            /* hosted tools left out by the conversion
	                             ("web_search,file_search"), or NULL */
	char *abeta, *aversion;   /* anthropic headers to forward */
	int gemini_alt_sse;
	struct px_embed_req embed;  /* EP_EMBEDDINGS to a Gemini upstream */
	long long t_start_us, t_first_us;
	int status;
	struct ir_usage usage;

	/* upstream */
	struct upconn up;
	int addr_i;
	char *ureq;               /* upstream request bytes (arena) */
	size_t ureq_len, ureq_off;
	char ubuf[PX_UP_BUF];
	size_t ubuf_len;
	struct http_resp uresp;
	struct http_hdr uhdrs[HTTP_MAX_HEADERS];
	int64_t uleft;            /* CL remaining, -1 when not CL */
	struct http_chunked uchk;
	char retry_after[32];
	char *ubody;              /* non-streamed body */
	size_t ubody_n, ubody_cap;
	struct sse_parser sse;
	struct px_stream *stream;
	struct jw sout;           /* stream output scratch */
	/* passthrough streams are forwarded up to the last event boundary;
	 * the bytes of an unfinished event wait here (malloc, bounded) */
	char *hold;
	size_t hold_len, hold_cap;
	unsigned char sse_blank, sse_cr;  /* boundary scanner state */
	char errmsg[256];

	/* Responses store: what this turn records (arena) */
	int rs_keep;              /* record the response the client gets */
	struct px_str rs_prev;    /* previous_response_id it continued */
	struct px_str rs_input;   /* this turn's input items, JSON array */
};

static struct conn **conns;
static int nconns, conns_cap;
static int next_conn_id = 1;

static struct upconn pool[PX_POOL_MAX];
static int npool;

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void
set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void
up_close(struct upconn *u)
{
	if (u->fd >= 0) {
		if (u->tls)
			tls_close(u->tls);
		close(u->fd);
	}
	free(u->tls);
	u->tls = NULL;
	u->fd = -1;
}

/* Keep an upstream connection for reuse (or close it when the pool is full). */
static void
pool_put(struct upconn *u)
{
	if (u->fd < 0)
		return;
	if (npool == PX_POOL_MAX) {
		up_close(&pool[0]);
		memmove(pool, pool + 1, (size_t)(npool - 1) * sizeof *pool);
		npool--;
	}
	u->idle_since = now_ms;
	pool[npool++] = *u;
	u->fd = -1;
	u->tls = NULL;
}

/* Take a live idle connection to provider prov, or return 0. */
static int
pool_get(int prov, struct upconn *out)
{
	int i;
	char b;

	for (i = npool - 1; i >= 0; i--) {
		struct upconn *u = &pool[i];
		ssize_t r;

		if (u->prov != prov)
			continue;
		/* A readable idle connection is one the server closed (or
		 * that sent garbage): either way not reusable. */
		r = recv(u->fd, &b, 1, MSG_PEEK);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
		    (r > 0 && !u->tls) || now_ms - u->idle_since > PX_POOL_IDLE_MS) {
			if (r > 0 && u->tls && now_ms - u->idle_since <= PX_POOL_IDLE_MS)
				goto keep;   /* TLS may carry a close_notify or ticket */
			up_close(u);
			memmove(pool + i, pool + i + 1, (size_t)(npool - i - 1) * sizeof *pool);
			npool--;
			continue;
		}
keep:
		*out = *u;
		memmove(pool + i, pool + i + 1, (size_t)(npool - i - 1) * sizeof *pool);
		npool--;
		return 1;
	}
	return 0;
}

static void
pool_expire(void)
{
	int i;
	for (i = 0; i < npool; ) {
		if (now_ms - pool[i].idle_since > PX_POOL_IDLE_MS) {
			up_close(&pool[i]);
			memmove(pool + i, pool + i + 1, (size_t)(npool - i - 1) * sizeof *pool);
			npool--;
		} else {
			i++;
		}
	}
}

/* ------------------------------------------------------------ output */

static int
out_reserve(struct conn *c, size_t n)
{
	size_t need, ncap;
	char *p;

	if (c->out_off > 0 && c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
	}
	need = c->out_len + n;
	if (need <= c->out_cap)
		return 0;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		need = c->out_len + n;
		if (need <= c->out_cap)
			return 0;
	}
	if (need > PX_RESP_MAX + 65536)
		return -1;
	ncap = c->out_cap ? c->out_cap : 4096;
	while (ncap < need)
		ncap *= 2;
	p = realloc(c->out, ncap);
	if (!p)
		return -1;
	c->out = p;
	c->out_cap = ncap;
	return 0;
}

static void
out_put(struct conn *c, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (out_reserve(c, n) < 0) {
		c->closing = 1;
		return;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static void
out_printf(struct conn *c, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		out_put(c, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Try to write queued bytes now. */
static void
out_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		    MSG_NOSIGNAL);
		if (w > 0) {
			c->out_off += (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		c->closing = 1;   /* client went away */
		return;
	}
	c->out_off = c->out_len = 0;
	if (c->out_cap > 1024 * 1024) {   /* do not keep a huge buffer idle */
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
}

static size_t
out_pending(const struct conn *c)
{
	return c->out_len - c->out_off;
}

/* One HTTP chunk (client stream). */
static void
out_chunk(struct conn *c, const char *p, size_t n)
{
	char hdr[24];
	int k;

	if (n == 0)
		return;
	if (!c->resp_chunked) {
		out_put(c, p, n);
		return;
	}
	k = snprintf(hdr, sizeof hdr, "%zx\r\n", n);
	out_put(c, hdr, (size_t)k);
	out_put(c, p, n);
	out_put(c, "\r\n", 2);
}

/* ------------------------------------------------------------ access log */

static void
access_log(struct conn *c)
{
	long long lat = c->t_start_us ? clock_us() - c->t_start_us : 0;
	long long fb = c->t_first_us ? c->t_first_us - c->t_start_us : -1;
	char fbs[32];

	if (fb >= 0)
		snprintf(fbs, sizeof fbs, "%.1fms", (double)fb / 1000.0);
	else
		snprintf(fbs, sizeof fbs, "-");
	px_log("access key=%s fmt=%s model=%s provider=%s upstream_model=%s status=%d latency=%.1fms first_byte=%s tokens_in=%lld tokens_out=%lld%s%s",
	    c->key ? c->key->name : "-",
	    c->ep == EP_NONE ? "-" : px_fmt_name(c->cfmt),
	    c->model[0] ? c->model : "-",
	    c->prov ? c->prov->name : "-",
	    c->up_model[0] ? c->up_model : "-",
	    c->status, (double)lat / 1000.0, fbs,
	    c->usage.input, c->usage.output,
	    c->dropped ? " dropped_tools=" : "", c->dropped ? c->dropped : "");
}

/* ------------------------------------------------------------ responses */

static void
send_head(struct conn *c, int status, const char *ctype, long long clen,
          const char *extra)
{
	c->status = status;
	out_printf(c, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
	if (ctype)
		out_printf(c, "Content-Type: %s\r\n", ctype);
	if (clen >= 0)
		out_printf(c, "Content-Length: %lld\r\n", clen);
	else if (clen == -1)
		out_printf(c, "Transfer-Encoding: chunked\r\n");
	/* -2: close-delimited (HTTP/1.0 client or Connection: close) */
	if (extra && *extra)
		out_printf(c, "%s", extra);
	if (c->dropped)
		out_printf(c, "x-llmproxy-dropped-tools: %s\r\n", c->dropped);
	if (!c->keep_alive || draining)
		out_printf(c, "Connection: close\r\n");
	out_printf(c, "\r\n");
	c->head_sent = 1;
	if (!c->t_first_us)
		c->t_first_us = clock_us();
}

static void
finish_request(struct conn *c);

/* Send a complete response with a body and finish the request. */
static void
send_body(struct conn *c, int status, const char *ctype, const char *body,
          size_t n, const char *extra)
{
	send_head(c, status, ctype, (long long)n, extra);
	if (!c->is_head)
		out_put(c, body, n);
	finish_request(c);
}

/* An error in the client's own format. */
static void
send_error(struct conn *c, int status, const char *msg)
{
	char buf[1024];
	struct jw w;
	enum px_fmt f = c->ep == EP_NONE ? PX_FMT_CHAT : c->cfmt;

	jw_init_fixed(&w, buf, sizeof buf);
	px_error_simple(f, status, msg, &w);
	if (w.err) {
		jw_reset(&w);
		px_error_simple(f, status, "error", &w);
	}
	px_log("error status=%d %s", status, msg);
	send_body(c, status, "application/json", w.buf, w.len, NULL);
}

/* ------------------------------------------------------------ request cycle */

static void
req_reset(struct conn *c)
{
	if (c->up.fd >= 0)
		up_close(&c->up);
	sse_free(&c->sse);
	memset(&c->sse, 0, sizeof c->sse);
	free(c->hold);
	c->hold = NULL;
	c->hold_len = c->hold_cap = 0;
	c->sse_blank = 1;
	c->sse_cr = 0;
	px_arena_free(&c->arena);
	px_arena_init(&c->arena, PX_ARENA_MAX);
	free(c->body);
	c->body = NULL;
	c->body_n = c->body_cap = 0;
	c->ubody = NULL;
	c->ubody_n = c->ubody_cap = 0;
	c->stream = NULL;
	c->head_len = 0;
	c->body_len = 0;
	c->chunked_body = 0;
	memset(&c->chk, 0, sizeof c->chk);
	c->chk_off = 0;
	c->ep = EP_NONE;
	memset(&c->req, 0, sizeof c->req);
	c->model[0] = c->up_model[0] = 0;
	c->key = NULL;
	c->prov = NULL;
	c->prov_idx = -1;
	c->abeta = c->aversion = NULL;
	c->dropped = NULL;
	c->gemini_alt_sse = 0;
	memset(&c->embed, 0, sizeof c->embed);
	c->t_start_us = c->t_first_us = 0;
	c->status = 0;
	ir_usage_init(&c->usage);
	c->head_sent = c->streaming = c->passthrough = 0;
	c->up_reused = c->up_retry = c->up_done = c->resp_chunked = 0;
	c->is_head = c->sent_continue = 0;
	c->ureq = NULL;
	c->ureq_len = c->ureq_off = 0;
	c->ubuf_len = 0;
	c->uleft = -1;
	memset(&c->uchk, 0, sizeof c->uchk);
	c->retry_after[0] = 0;
	c->errmsg[0] = 0;
	c->addr_i = 0;
	c->rs_keep = 0;
	c->rs_prev.p = c->rs_input.p = NULL;
	c->rs_prev.n = c->rs_input.n = 0;
}

/* The response to the current request is complete (queued). */
static void
finish_request(struct conn *c)
{
	size_t consumed;

	if (c->t_start_us)
		access_log(c);
	if (c->up.fd >= 0) {
		if (c->up_done && c->uresp.keep_alive && !c->closing)
			pool_put(&c->up);
		else
			up_close(&c->up);
	}
	/* drop the request bytes; keep pipelined bytes that follow */
	consumed = c->head_len + (c->chunked_body ? c->chk_off :
	    (size_t)(c->body_len > 0 ? c->body_len : 0));
	if (c->head_len == 0 || consumed > c->in_len)
		consumed = c->in_len;
	memmove(c->in, c->in + consumed, c->in_len - consumed);
	c->in_len -= consumed;
	req_reset(c);
	if (!c->keep_alive || draining || c->body_unread)
		c->close_after = 1;   /* an unread body would be taken for the
		                         next request */
	c->body_unread = 0;
	c->phase = PH_FLUSH;
	c->deadline = now_ms + cfg->idle_timeout_ms;
}

static struct conn *
conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->fd = fd;
	c->id = next_conn_id++;
	c->up.fd = -1;
	c->prov_idx = -1;
	px_arena_init(&c->arena, PX_ARENA_MAX);
	req_reset(c);
	c->phase = PH_READ_HEAD;
	c->keep_alive = 1;
	c->deadline = now_ms + cfg->header_timeout_ms;
	return c;
}

static void
conn_free(struct conn *c)
{
	if (c->phase != PH_READ_HEAD && c->phase != PH_FLUSH && c->t_start_us) {
		if (!c->status)
			c->status = 499;    /* client went away */
		access_log(c);
	}
	up_close(&c->up);
	free(c->hold);
	sse_free(&c->sse);
	px_arena_free(&c->arena);
	free(c->body);
	free(c->in);
	free(c->out);
	close(c->fd);
	free(c);
}

/* ------------------------------------------------------------ models list */

static void
send_models(struct conn *c, int anthropic_shape, int gemini_shape)
{
	struct jw w;
	int i, first = 1;
	const char *firstid = NULL, *lastid = NULL;

	jw_init(&w, &c->arena, 4u << 20);
	jw_obj(&w);
	if (gemini_shape) {
		jw_key(&w, "models");
	} else if (!anthropic_shape) {
		jw_kcstr(&w, "object", "list");
		jw_key(&w, "data");
	} else {
		jw_key(&w, "data");
	}
	jw_arr(&w);
	for (i = 0; i < cfg->nroutes; i++) {
		const struct px_route *r = &cfg->routes[i];
		const struct px_provider *p = &cfg->providers[r->targets[0].provider];
		if (strchr(r->pattern, '*'))
			continue;
		jw_obj(&w);
		if (gemini_shape) {
			char name[300];
			snprintf(name, sizeof name, "models/%s", r->pattern);
			jw_kcstr(&w, "name", name);
			jw_kcstr(&w, "displayName", r->pattern);
			jw_key(&w, "supportedGenerationMethods");
			jw_arr(&w);
			jw_cstr(&w, "generateContent");
			jw_cstr(&w, "streamGenerateContent");
			jw_cstr(&w, "countTokens");
			jw_arr_end(&w);
		} else if (anthropic_shape) {
			jw_kcstr(&w, "type", "model");
			jw_kcstr(&w, "id", r->pattern);
			jw_kcstr(&w, "display_name", r->pattern);
			jw_kcstr(&w, "created_at", "1970-01-01T00:00:00Z");
			if (first)
				firstid = r->pattern;
			lastid = r->pattern;
		} else {
			jw_kcstr(&w, "id", r->pattern);
			jw_kcstr(&w, "object", "model");
			jw_kint(&w, "created", 0);
			jw_kcstr(&w, "owned_by", p->name);
		}
		jw_obj_end(&w);
		first = 0;
	}
	jw_arr_end(&w);
	if (anthropic_shape) {
		jw_kbool(&w, "has_more", 0);
		if (firstid)
			jw_kcstr(&w, "first_id", firstid);
		else
			jw_knull(&w, "first_id");
		if (lastid)
			jw_kcstr(&w, "last_id", lastid);
		else
			jw_knull(&w, "last_id");
	}
	jw_obj_end(&w);
	if (w.err) {
		send_error(c, 500, "model list too large");
		return;
	}
	send_body(c, 200, "application/json", w.buf, w.len, NULL);
}

/* ------------------------------------------------------------ responses store */

/*
 * previous_response_id served locally (store.c holds the records, the
 * Responses codec builds and walks them). Every response served to a
 * POST /v1/responses client is recorded unless the request said
 * "store": false: converted or passthrough, streamed (from the terminal
 * response.completed / response.incomplete event) or not. A request that
 * continues a stored response gets the stored conversation in front of
 * its input and goes upstream without previous_response_id; an unknown id
 * goes to an openai-responses upstream unchanged (it may know it) and is
 * a 404 for any other. Record writes to the log are plain write() calls
 * from the loop (small and sequential; see store.h).
 */

static long long
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
has_sub(const char *h, size_t hn, const char *lit)
{
	size_t ln = strlen(lit), i;

	for (i = 0; i + ln <= hn; i++)
		if (h[i] == lit[0] && memcmp(h + i, lit, ln) == 0)
			return 1;
	return 0;
}

static void
rstore_log_error(void)
{
	const char *e = rstore ? px_store_error(rstore) : NULL;
	if (e)
		px_log("responses store: %s", e);
}

static int
rs_lookup(void *ctx, const char *id, size_t n, const char **rec, size_t *rn)
{
	return px_store_get(rstore, id, n, *(long long *)ctx, rec, rn);
}

/* The 404 for an unknown previous_response_id, in OpenAI's words. */
static void
rs_not_found(struct conn *c, struct px_str id, const char *what,
             const char *param, const char *code)
{
	char buf[1024], msg[512];
	struct jw w;

	snprintf(msg, sizeof msg, "%s with id '%.*s' not found.", what,
	    (int)(id.n > 300 ? 300 : id.n), id.p);
	jw_init_fixed(&w, buf, sizeof buf);
	jw_obj(&w);
	jw_key(&w, "error");
	jw_obj(&w);
	jw_kcstr(&w, "message", msg);
	jw_kcstr(&w, "type", "invalid_request_error");
	if (param)
		jw_kcstr(&w, "param", param);
	else
		jw_knull(&w, "param");
	if (code)
		jw_kcstr(&w, "code", code);
	else
		jw_knull(&w, "code");
	jw_obj_end(&w);
	jw_obj_end(&w);
	px_log("error status=404 %s not found", what);
	send_body(c, 404, "application/json", w.buf, w.len, NULL);
}

/*
 * Before routing a Responses request upstream: note what to record, and
 * splice a stored conversation into the body. Returns 0 to go on (body
 * and n may have been replaced), -1 when a response was sent.
 */
static int
rs_prepare(struct conn *c, const struct json *root, const char **body,
           size_t *n)
{
	const struct json *st = json_get(root, "store");
	const struct json *pv = json_get(root, "previous_response_id");
	long long now = wall_ms();
	struct px_store_stats sst;
	struct jw w, h;
	int found;

	if (rstore && !(st && st->type == JSON_FALSE)) {
		jw_init(&w, &c->arena, PX_RSTORE_REC_MAX);
		if (px_responses_input_items(json_get(root, "input"), &w) == 0 &&
		    !w.err) {
			c->rs_keep = 1;
			c->rs_input.p = w.buf;
			c->rs_input.n = w.len;
		}
	}
	if (!pv || pv->type != JSON_STRING || pv->n == 0)
		return 0;
	c->rs_prev.p = pv->s;
	c->rs_prev.n = pv->n;
	found = 0;
	if (rstore) {
		px_store_stats(rstore, &sst);
		jw_init(&h, &c->arena, cfg->body_max + PX_RSTORE_REC_MAX);
		found = px_responses_history(&c->arena, rs_lookup, &now,
		    c->rs_prev, sst.entries + 1, &h);
		if (found < 0) {
			send_error(c, 413, "the stored conversation is too large to continue");
			return -1;
		}
	}
	if (!found) {
		if (c->ufmt == PX_FMT_RESPONSES)
			return 0;      /* the upstream may know the id */
		rs_not_found(c, c->rs_prev, "Previous response",
		    "previous_response_id", "previous_response_not_found");
		return -1;
	}
	jw_init(&w, &c->arena, *n + h.len + 65536);
	if (px_responses_with_history(&c->arena, root, h.buf, h.len, &w) < 0 ||
	    w.err) {
		send_error(c, 400, "input must be a string or an array");
		return -1;
	}
	DBG("conn %d: continued a stored conversation (%zu bytes of history)",
	    c->id, h.len);
	*body = w.buf;
	*n = w.len;
	return 0;
}

/* Record the response object the client got (once per request). */
static void
rs_save(struct conn *c, const char *resp, size_t rn)
{
	struct px_arena tmp;
	struct px_str id;
	struct jw w;

	if (!c->rs_keep || !rstore)
		return;
	c->rs_keep = 0;
	if (rn + c->rs_input.n > PX_RSTORE_REC_MAX) {
		px_log("responses store: response not stored: %zu bytes over the %u byte record limit",
		    rn + c->rs_input.n, (unsigned)PX_RSTORE_REC_MAX);
		return;
	}
	/* a scratch arena: the record is copied into the store */
	px_arena_init(&tmp, 4 * (size_t)PX_RSTORE_REC_MAX);
	jw_init(&w, &tmp, PX_RSTORE_REC_MAX + 1024);
	if (px_responses_record(&tmp, resp, rn, c->rs_prev, c->rs_input.p,
	    c->rs_input.n, &w, &id) < 0 || w.err) {
		DBG("conn %d: response not stored (no id, or not a response)",
		    c->id);
	} else if (px_store_put(rstore, id.p, id.n, w.buf, w.len,
	    wall_ms()) < 0) {
		px_log("responses store: response not stored (%zu bytes)",
		    w.len);
	}
	px_arena_free(&tmp);
	rstore_log_error();
}

/* A client-bound Responses stream event: record the terminal one. */
static void
rs_event(struct conn *c, const char *type, size_t tn, const char *data,
         size_t dn)
{
	static const char done[] = "response.completed";
	static const char inc[] = "response.incomplete";
	struct px_arena tmp;
	const struct json *root, *r;

	if (!c->rs_keep)
		return;
	if (tn ? !json_eq(type, tn, done) && !json_eq(type, tn, inc) :
	    !has_sub(data, dn, done) && !has_sub(data, dn, inc))
		return;
	px_arena_init(&tmp, 8 * (size_t)PX_RSTORE_REC_MAX);
	root = json_parse(&tmp, data, dn, 0, NULL);
	r = json_get(root, "response");
	if (r && r->type == JSON_OBJECT) {
		struct px_str ty = { NULL, 0 };
		ty.p = json_get_str(root, "type", &ty.n);
		if (ty.p && (json_eq(ty.p, ty.n, done) || json_eq(ty.p, ty.n, inc)))
			rs_save(c, r->raw, r->rawlen);
	} else if (!root) {
		DBG("conn %d: terminal event too large or not JSON: not stored", c->id);
	}
	px_arena_free(&tmp);
}

/* Converted stream: look for the terminal event among the bytes just
 * encoded for the client (complete SSE events). */
static void
rs_scan(struct conn *c, const char *p, size_t n)
{
	struct sse_parser sp;
	struct sse_event ev;

	if (!c->rs_keep || !n || !px_stream_done(c->stream))
		return;
	sse_init(&sp);
	while (n > 0) {
		int got = 0;
		long k = sse_feed(&sp, p, n, &ev, &got);
		if (k < 0)
			break;
		p += k;
		n -= (size_t)k;
		if (got)
			rs_event(c, ev.event, ev.event_len, ev.data, ev.data_len);
	}
	sse_free(&sp);
}

/* GET or DELETE /v1/responses/{id}. */
static void
rs_local(struct conn *c, const struct http_req *r, struct px_str id)
{
	const char *rec;
	size_t rn;
	long long now = wall_ms();

	c->cfmt = PX_FMT_RESPONSES;
	if (http_str_eq(r->method, "DELETE")) {
		char buf[512];
		struct jw w;
		if (!rstore || !px_store_del(rstore, id.p, id.n, now)) {
			rstore_log_error();
			rs_not_found(c, id, "Response", NULL, NULL);
			return;
		}
		rstore_log_error();
		jw_init_fixed(&w, buf, sizeof buf);
		jw_obj(&w);
		jw_kstr(&w, "id", id.p, id.n);
		jw_kcstr(&w, "object", "response.deleted");
		jw_kbool(&w, "deleted", 1);
		jw_obj_end(&w);
		send_body(c, 200, "application/json", w.buf, w.len, NULL);
		return;
	}
	if (!http_str_eq(r->method, "GET") && !c->is_head) {
		send_body(c, 405, "application/json",
		    "{\"error\":\"method not allowed\"}", 30,
		    "Allow: GET, DELETE\r\n");
		return;
	}
	if (rstore && px_store_get(rstore, id.p, id.n, now, &rec, &rn)) {
		struct px_str resp;
		if (px_responses_record_response(&c->arena, rec, rn, &resp) == 0) {
			send_body(c, 200, "application/json", resp.p, resp.n, NULL);
			return;
		}
	}
	rs_not_found(c, id, "Response", NULL, NULL);
}

/* Drop expired records now and then (lazily they go on access too). */
static void
rstore_sweep(void)
{
	if (!rstore || now_ms < rstore_sweep_at)
		return;
	rstore_sweep_at = now_ms + PX_RSTORE_SWEEP_MS;
	px_store_sweep(rstore, wall_ms());
	rstore_log_error();
}

/* ------------------------------------------------------------ routing */

static const char *
hdr_val(const struct http_req *r, const char *name, size_t *n)
{
	const struct http_hdr *h = http_find(r->hdrs, r->nhdrs, name);
	if (!h)
		return NULL;
	*n = h->value.n;
	return h->value.p;
}

static char *
arena_cstr(struct conn *c, const char *p, size_t n)
{
	return px_arena_strndup(&c->arena, p, n);
}

/* Classify the request target. Returns the endpoint or EP_NONE; sets a
 * status for local answers through *local (200 handled, 404, 405). */
static enum endpoint
classify(struct conn *c, const struct http_req *r, char *gmodel, size_t gcap,
         int *is_post)
{
	struct http_str p = r->path;
	static const char gpre[] = "/v1beta/models/";
	static const char gpre1[] = "/v1/models/";

	*is_post = http_str_eq(r->method, "POST");
	if (http_str_eq(p, "/v1/chat/completions") || http_str_eq(p, "/chat/completions")) {
		c->cfmt = PX_FMT_CHAT;
		return EP_CHAT;
	}
	if (http_str_eq(p, "/v1/messages")) {
		c->cfmt = PX_FMT_ANTHROPIC;
		return EP_MESSAGES;
	}
	if (http_str_eq(p, "/v1/messages/count_tokens")) {
		c->cfmt = PX_FMT_ANTHROPIC;
		return EP_COUNT_TOKENS;
	}
	if (http_str_eq(p, "/v1/responses") || http_str_eq(p, "/responses")) {
		c->cfmt = PX_FMT_RESPONSES;
		return EP_RESPONSES;
	}
	if (http_str_eq(p, "/v1/embeddings") || http_str_eq(p, "/embeddings")) {
		c->cfmt = PX_FMT_CHAT;      /* OpenAI shapes, errors included */
		return EP_EMBEDDINGS;
	}
	if (http_str_eq(p, "/v1/completions") || http_str_eq(p, "/completions")) {
		/* no upstream speaks this format: never passthrough */
		c->cfmt = PX_FMT_COMPLETIONS;
		return EP_COMPLETIONS;
	}
	/* Gemini: /v1beta/models/M:verb, and /v1/models/M:verb (the genai
	 * SDK's default apiVersion) */
	if ((p.n > sizeof gpre - 1 && memcmp(p.p, gpre, sizeof gpre - 1) == 0) ||
	    (p.n > sizeof gpre1 - 1 && memcmp(p.p, gpre1, sizeof gpre1 - 1) == 0 &&
	     memchr(p.p + sizeof gpre1 - 1, ':', p.n - (sizeof gpre1 - 1)))) {
		size_t pl = p.p[3] == 'b' ? sizeof gpre - 1 : sizeof gpre1 - 1;
		const char *m = p.p + pl;
		size_t mn = p.n - pl;
		const char *colon = memchr(m, ':', mn);
		size_t ml;
		struct http_str verb;

		c->cfmt = PX_FMT_GEMINI;
		if (!colon)
			return EP_NONE;
		ml = (size_t)(colon - m);
		if (ml == 0 || ml >= gcap)
			return EP_NONE;
		memcpy(gmodel, m, ml);
		gmodel[ml] = 0;
		verb.p = colon + 1;
		verb.n = mn - ml - 1;
		if (http_str_eq(verb, "generateContent"))
			return EP_GEMINI_GEN;
		if (http_str_eq(verb, "streamGenerateContent"))
			return EP_GEMINI_STREAM;
		if (http_str_eq(verb, "countTokens"))
			return EP_GEMINI_COUNT;
		if (http_str_eq(verb, "embedContent"))
			return EP_GEMINI_EMBED;
		if (http_str_eq(verb, "batchEmbedContents"))
			return EP_GEMINI_BATCH_EMBED;
		return EP_NONE;
	}
	return EP_NONE;
}

/* ------------------------------------------------------------ upstream */

static void up_fail(struct conn *c, int status, const char *fmt, ...);
static void stream_cutoff(struct conn *c, const char *msg);
static void up_start_connect(struct conn *c);
static void up_drive(struct conn *c);

static int embed_path(struct conn *c, char *path, size_t cap);

/* Build the upstream request (head + body) in the arena. */
static int
build_upstream(struct conn *c, const char *body, size_t n)
{
	const struct px_provider *p = c->prov;
	char path[1024];
	struct px_str um = { c->up_model, strlen(c->up_model) };
	int stream = c->req.stream;
	struct jw h;
	int k;

	k = px_upstream_path(c->ufmt, um, stream, path, sizeof path);
	if (k < 0)
		return -1;
	/* token counting has its own upstream path (Anthropic or Gemini) */
	if ((c->ep == EP_COUNT_TOKENS || c->ep == EP_GEMINI_COUNT) &&
	    c->ufmt == PX_FMT_ANTHROPIC) {
		if ((size_t)k + sizeof "/count_tokens" > sizeof path)
			return -1;
		memcpy(path + k, "/count_tokens", sizeof "/count_tokens");
	} else if ((c->ep == EP_COUNT_TOKENS || c->ep == EP_GEMINI_COUNT) &&
	    c->ufmt == PX_FMT_GEMINI) {
		char *v = strrchr(path, ':');
		if (!v || (size_t)(v - path) + sizeof ":countTokens" > sizeof path)
			return -1;
		memcpy(v, ":countTokens", sizeof ":countTokens");
	} else if (EP_IS_EMBED(c->ep)) {
		if (embed_path(c, path, sizeof path) < 0)
			return -1;
	}
	jw_init(&h, &c->arena, 64 * 1024 + n);
	jw_puts(&h, "POST ");
	jw_puts(&h, p->base_path);
	jw_puts(&h, path);
	jw_puts(&h, " HTTP/1.1\r\nHost: ");
	jw_puts(&h, p->host);
	if ((p->tls && strcmp(p->port, "443") != 0) || (!p->tls && strcmp(p->port, "80") != 0)) {
		jw_puts(&h, ":");
		jw_puts(&h, p->port);
	}
	jw_puts(&h, "\r\nUser-Agent: llmproxy/" LLMPROXY_VERSION
	    "\r\nContent-Type: application/json\r\n");
	if (stream)
		jw_puts(&h, "Accept: text/event-stream\r\n");
	else
		jw_puts(&h, "Accept: application/json\r\n");
	switch (c->ufmt) {
	case PX_FMT_ANTHROPIC:
		if (p->api_key[0]) {
			jw_puts(&h, "x-api-key: ");
			jw_puts(&h, p->api_key);
			jw_puts(&h, "\r\n");
		}
		jw_puts(&h, "anthropic-version: ");
		jw_puts(&h, c->aversion ? c->aversion : p->anthropic_version);
		jw_puts(&h, "\r\n");
		if (c->abeta && c->cfmt == PX_FMT_ANTHROPIC) {
			jw_puts(&h, "anthropic-beta: ");
			jw_puts(&h, c->abeta);
			jw_puts(&h, "\r\n");
		}
		break;
	case PX_FMT_GEMINI:
		if (p->api_key[0]) {
			jw_puts(&h, "x-goog-api-key: ");
			jw_puts(&h, p->api_key);
			jw_puts(&h, "\r\n");
		}
		break;
	default:
		if (p->api_key[0]) {
			jw_puts(&h, "Authorization: Bearer ");
			jw_puts(&h, p->api_key);
			jw_puts(&h, "\r\n");
		}
		break;
	}
	{
		char cl[48];
		snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", n);
		jw_puts(&h, cl);
	}
	jw_put(&h, body, n);
	if (h.err)
		return -1;
	c->ureq = h.buf;
	c->ureq_len = h.len;
	c->ureq_off = 0;
	return 0;
}

/*
 * Count tokens locally when the upstream has no endpoint for it: about four
 * bytes per token of the request's text (or of the raw body when the
 * request could not be decoded), clearly marked as an estimate.
 */
static void
count_tokens_estimate(struct conn *c, size_t n, int text)
{
	char buf[256];
	long long est = (long long)(n + 3) / 4;
	int k;

	if (c->cfmt == PX_FMT_GEMINI)
		k = snprintf(buf, sizeof buf, "{\"totalTokens\":%lld}", est);
	else
		k = snprintf(buf, sizeof buf,
		    "{\"input_tokens\":%lld,\"note\":\"estimate by llmproxy (%s / 4): the upstream for this model has no token counting endpoint\"}",
		    est, text ? "request text bytes" : "request bytes");
	c->usage.input = est;
	send_body(c, 200, "application/json", buf, (size_t)k,
	    "x-llmproxy-estimate: true\r\n");
}


/* ------------------------------------------------------------ embeddings,
 * converted token counts */

/* Upstream path of an embeddings request: /embeddings for OpenAI-style
 * upstreams, models/M:embedContent or :batchEmbedContents for Gemini. */
static int
embed_path(struct conn *c, char *path, size_t cap)
{
	struct px_str um = { c->up_model, strlen(c->up_model) };
	const char *verb;
	char *v;

	if (c->ufmt != PX_FMT_GEMINI) {
		if (cap < sizeof "/embeddings")
			return -1;
		memcpy(path, "/embeddings", sizeof "/embeddings");
		return 0;
	}
	if (px_upstream_path(PX_FMT_GEMINI, um, 0, path, cap) < 0)
		return -1;
	if (c->ep == EP_EMBEDDINGS)
		verb = px_embed_gemini_batch(&c->embed) ? ":batchEmbedContents" :
		    ":embedContent";
	else
		verb = c->ep == EP_GEMINI_BATCH_EMBED ? ":batchEmbedContents" :
		    ":embedContent";
	v = strrchr(path, ':');   /* the model segment is percent-encoded */
	if (!v || (size_t)(v - path) + strlen(verb) + 1 > cap)
		return -1;
	memcpy(v, verb, strlen(verb) + 1);
	return 0;
}

/*
 * POST /v1/embeddings, routed like a chat request: OpenAI-style upstreams
 * get the body as it came (model name rewritten), Gemini gets it converted,
 * Anthropic has no embeddings API.
 */
static void
embed_request(struct conn *c, const char *body, size_t n)
{
	struct px_str m = { c->up_model, strlen(c->up_model) };
	struct px_err perr;
	struct jw w;

	c->req.stream = 0;
	c->req.fmt = c->cfmt;
	c->req.model.p = c->model;
	c->req.model.n = strlen(c->model);
	switch (c->ufmt) {
	case PX_FMT_ANTHROPIC: {
		char msg[512];
		snprintf(msg, sizeof msg,
		    "model '%s' is served by provider '%s' (anthropic), which has no embeddings API: route an OpenAI or Gemini embedding model instead",
		    c->model, c->prov->name);
		send_error(c, 400, msg);
		return;
	}
	case PX_FMT_GEMINI:
		if (px_embed_decode_request(&c->arena, body, n, &c->embed,
		    &perr) < 0) {
			send_error(c, perr.status ? perr.status : 400, perr.msg);
			return;
		}
		jw_init(&w, &c->arena, n * 2 + c->embed.ninputs *
		    (m.n + 128) + 65536);
		if (px_embed_encode_gemini(&c->embed, m, &w, &perr) < 0) {
			send_error(c, perr.status ? perr.status : 400, perr.msg);
			return;
		}
		body = w.buf;
		n = w.len;
		break;
	default:
		c->passthrough = 1;
		if (strcmp(c->up_model, c->model) != 0) {
			jw_init(&w, &c->arena, n + 4096);
			if (px_rewrite_model(body, n, m, &w) < 0 || w.err) {
				send_error(c, 400, "request body must be a JSON object");
				return;
			}
			body = w.buf;
			n = w.len;
		}
		break;
	}
	if (build_upstream(c, body, n) < 0) {
		send_error(c, 500, "cannot build upstream request");
		return;
	}
	DBG("conn %d: embeddings model=%s -> %s/%s%s", c->id, c->model,
	    c->prov->name, c->up_model, c->passthrough ? " (passthrough)" : "");
	up_start_connect(c);
}

/*
 * POST models/M:embedContent and :batchEmbedContents from a Gemini client:
 * a Gemini upstream gets the body with its model names set to the upstream
 * model, OpenAI-style upstreams get an /embeddings request and their answer
 * converted back, Anthropic has no embeddings API.
 */
static void
gemini_embed_request(struct conn *c, const char *body, size_t n)
{
	struct px_str m = { c->up_model, strlen(c->up_model) };
	struct px_str cm;
	int batch = c->ep == EP_GEMINI_BATCH_EMBED;
	struct px_err perr;
	struct jw w;

	c->req.stream = 0;
	c->req.fmt = c->cfmt;
	c->req.model.p = c->model;
	c->req.model.n = strlen(c->model);
	memset(&perr, 0, sizeof perr);
	switch (c->ufmt) {
	case PX_FMT_ANTHROPIC: {
		char msg[512];
		snprintf(msg, sizeof msg,
		    "model '%s' is served by provider '%s' (anthropic), which has no embeddings API: route an OpenAI or Gemini embedding model instead",
		    c->model, c->prov->name);
		send_error(c, 400, msg);
		return;
	}
	case PX_FMT_GEMINI:
		c->passthrough = 1;
		jw_init(&w, &c->arena, n + 4096 + PX_EMBED_INPUTS_MAX *
		    (m.n + 32));
		if (px_embed_gemini_rewrite(&c->arena, body, n, batch, m, &w,
		    &perr) < 0) {
			send_error(c, perr.status ? perr.status : 400, perr.msg);
			return;
		}
		break;
	default:
		cm.p = c->model;
		cm.n = strlen(c->model);
		if (px_embed_decode_gemini_request(&c->arena, body, n, batch,
		    cm, &c->embed, &perr) < 0) {
			send_error(c, perr.status ? perr.status : 400, perr.msg);
			return;
		}
		jw_init(&w, &c->arena, n * 2 + m.n + 65536);
		if (px_embed_encode_openai(&c->embed, m, batch, &w, &perr) < 0) {
			send_error(c, perr.status ? perr.status : 400, perr.msg);
			return;
		}
		break;
	}
	if (build_upstream(c, w.buf, w.len) < 0) {
		send_error(c, 500, "cannot build upstream request");
		return;
	}
	DBG("conn %d: gemini %s model=%s -> %s/%s%s", c->id,
	    batch ? "batchEmbedContents" : "embedContent", c->model,
	    c->prov->name, c->up_model, c->passthrough ? " (passthrough)" : "");
	up_start_connect(c);
}

/*
 * Token counting whose upstream speaks another format: Anthropic
 * count_tokens and Gemini countTokens convert to each other; OpenAI-style
 * upstreams have no such endpoint, so the answer is a local estimate.
 */
static void
count_request(struct conn *c, const char *body, size_t n)
{
	struct px_str m = { c->up_model, strlen(c->up_model) };
	struct px_str in = { body, n };
	struct px_err perr;
	struct jw w;
	int rc = 0;

	memset(&perr, 0, sizeof perr);
	if (c->cfmt == PX_FMT_GEMINI)
		rc = px_count_unwrap_gemini(&c->arena, body, n, &in, &perr);
	if (rc == 0)
		rc = px_decode_request(c->cfmt, &c->arena, in.p, in.n, &c->req,
		    &perr);
	c->req.stream = 0;
	if (c->cfmt == PX_FMT_GEMINI) {
		c->req.model.p = c->model;
		c->req.model.n = strlen(c->model);
	}
	if (c->ufmt != PX_FMT_ANTHROPIC && c->ufmt != PX_FMT_GEMINI) {
		if (rc < 0)
			count_tokens_estimate(c, n, 0);
		else
			count_tokens_estimate(c, px_request_text_bytes(&c->req), 1);
		return;
	}
	if (rc < 0) {
		send_error(c, perr.status ? perr.status : 400, perr.msg);
		return;
	}
	jw_init(&w, &c->arena, n * 2 + 65536);
	if (px_count_encode_request(c->ufmt, &c->arena, &c->req, m, &w,
	    &perr) < 0) {
		send_error(c, perr.status ? perr.status : 400, perr.msg);
		return;
	}
	if (build_upstream(c, w.buf, w.len) < 0) {
		send_error(c, 500, "cannot build upstream request");
		return;
	}
	DBG("conn %d: count tokens %s model=%s -> %s/%s", c->id,
	    px_fmt_name(c->cfmt), c->model, c->prov->name, c->up_model);
	up_start_connect(c);
}

/* A successful embeddings or converted count answer; 1 when handled. */
static int
embed_count_answer(struct conn *c, int st, const char *body, size_t n,
                   const char *extra)
{
	struct px_err perr;
	struct jw w;
	long long t = -1;

	if (EP_IS_EMBED(c->ep) && c->passthrough) {
		send_body(c, st, "application/json", body, n, extra);
		return 1;
	}
	if (c->ep == EP_GEMINI_EMBED || c->ep == EP_GEMINI_BATCH_EMBED) {
		jw_init(&w, &c->arena, (size_t)PX_EMBED_RESP_MAX + 65536);
		if (px_embed_encode_gemini_answer(&c->arena, &c->embed,
		    c->ep == EP_GEMINI_BATCH_EMBED, body, n, &w, &t, &perr) < 0) {
			up_fail(c, 502, "upstream %s: %s", c->prov->name, perr.msg);
			return 1;
		}
		c->usage.input = t;
		send_body(c, 200, "application/json", w.buf, w.len, extra);
		return 1;
	}
	if (c->ep == EP_EMBEDDINGS) {
		jw_init(&w, &c->arena, (size_t)PX_EMBED_RESP_MAX +
		    c->embed.ninputs * 64 + 65536);
		if (px_embed_decode_gemini(&c->arena, &c->embed, body, n, &w,
		    &t, &perr) < 0) {
			up_fail(c, 502, "upstream %s: %s", c->prov->name, perr.msg);
			return 1;
		}
	} else if ((c->ep == EP_COUNT_TOKENS || c->ep == EP_GEMINI_COUNT) &&
	    !c->passthrough) {
		jw_init(&w, &c->arena, 4096);
		if (px_count_convert_response(c->ufmt, c->cfmt, &c->arena,
		    body, n, &w, &t, &perr) < 0) {
			up_fail(c, 502, "upstream %s: %s", c->prov->name, perr.msg);
			return 1;
		}
	} else {
		return 0;
	}
	c->usage.input = t;
	send_body(c, 200, "application/json", w.buf, w.len, extra);
	return 1;
}

/* The request is complete (head + body). Route, convert, start upstream. */
static void
handle_request(struct conn *c, const char *body, size_t n)
{
	const struct px_route *route;
	struct px_err perr;
	struct json_err jerr;
	struct json *root = NULL;
	char umbuf[256];
	const char *um;
	struct jw w;
	char *copy;

	/* The IR borrows from the body, and the input buffer may move while a
	 * stream runs (pipelined bytes): keep the body in the arena. */
	copy = px_arena_alloc(&c->arena, n + 1);
	if (!copy) {
		send_error(c, 413, "request too large for the request arena");
		return;
	}
	memcpy(copy, body, n);
	copy[n] = 0;
	body = copy;
	c->req.max_tokens = -1;
	c->req.n = -1;
	c->req.thinking_budget = -1;
	c->req.include_thoughts = -1;
	c->req.parallel_tool_calls = -1;
	c->req.store = -1;
	c->req.rf_strict = -1;

	/* A quick parse finds the model and stream flag for every path. */
	if (c->cfmt != PX_FMT_GEMINI || n > 0) {
		root = json_parse(&c->arena, body, n, 0, &jerr);
		if (!root) {
			char msg[160];
			snprintf(msg, sizeof msg, "invalid JSON at byte %zu: %s",
			    jerr.pos, jerr.msg ? jerr.msg : "syntax error");
			send_error(c, 400, msg);
			return;
		}
		if (root->type != JSON_OBJECT) {
			send_error(c, 400, "request body must be a JSON object");
			return;
		}
	}
	if (c->cfmt != PX_FMT_GEMINI) {
		size_t mn;
		const char *m = json_get_str(root, "model", &mn);
		struct json *st = json_get(root, "stream");
		if (!m || mn == 0) {
			send_error(c, 400, "missing \"model\"");
			return;
		}
		if (mn >= sizeof c->model) {
			send_error(c, 400, "model name too long");
			return;
		}
		memcpy(c->model, m, mn);
		c->model[mn] = 0;
		c->req.stream = st && st->type == JSON_TRUE;
	} else {
		c->req.stream = c->ep == EP_GEMINI_STREAM;
	}

	route = px_route_find(cfg, c->model, strlen(c->model));
	if (!route) {
		char msg[1024];
		snprintf(msg, sizeof msg,
		    "model '%s' is not configured: add it to \"models\" in the config file (e.g. \"%s\": \"<provider>\" or \"<provider>/<upstream-model>\"), or set OPENAI_API_KEY / ANTHROPIC_API_KEY for zero-config routing",
		    c->model, c->model);
		send_error(c, 404, msg);
		return;
	}
	c->prov_idx = route->targets[0].provider;
	c->prov = &cfg->providers[c->prov_idx];
	um = px_target_model(&route->targets[0], c->model, strlen(c->model),
	    umbuf, sizeof umbuf);
	snprintf(c->up_model, sizeof c->up_model, "%s", um);
	c->ufmt = px_provider_fmt(c->prov, c->up_model);
	if (c->ep == EP_RESPONSES && rs_prepare(c, root, &body, &n) < 0)
		return;

	if (c->ep == EP_EMBEDDINGS) {
		embed_request(c, body, n);
		return;
	}
	if (c->ep == EP_GEMINI_EMBED || c->ep == EP_GEMINI_BATCH_EMBED) {
		gemini_embed_request(c, body, n);
		return;
	}
	if (c->ep == EP_COUNT_TOKENS || c->ep == EP_GEMINI_COUNT) {
		if (c->ufmt != c->cfmt) {
			count_request(c, body, n);
			return;
		}
	}

	/* A Gemini client streaming without alt=sse wants a JSON array, which
	 * the upstream (always asked for SSE) does not send: convert. */
	c->passthrough = c->ufmt == c->cfmt &&
	    !(c->cfmt == PX_FMT_GEMINI && c->req.stream && !c->gemini_alt_sse);
	if (c->passthrough) {
		/* Fast path: same format on both sides, bytes untouched but the
		 * model name. */
		c->req.fmt = c->cfmt;
		c->req.model.p = c->model;
		c->req.model.n = strlen(c->model);
		if (c->cfmt != PX_FMT_GEMINI && strcmp(c->up_model, c->model) != 0) {
			struct px_str m = { c->up_model, strlen(c->up_model) };
			jw_init(&w, &c->arena, n + 4096);
			if (px_rewrite_model(body, n, m, &w) < 0 || w.err) {
				send_error(c, 400, "request body must be a JSON object");
				return;
			}
			body = w.buf;
			n = w.len;
		}
	} else {
		struct px_str m = { c->up_model, strlen(c->up_model) };
		if (px_decode_request(c->cfmt, &c->arena, body, n, &c->req, &perr) < 0) {
			send_error(c, perr.status ? perr.status : 400, perr.msg);
			return;
		}
		if (c->cfmt == PX_FMT_GEMINI) {
			c->req.model.p = c->model;
			c->req.model.n = strlen(c->model);
			c->req.stream = c->ep == EP_GEMINI_STREAM;
			c->req.gemini_array_stream = c->req.stream && !c->gemini_alt_sse;
		}
		if (c->req.max_tokens < 0 && cfg->default_max_tokens > 0 &&
		    c->ufmt == PX_FMT_ANTHROPIC)
			c->req.max_tokens = cfg->default_max_tokens;
		jw_init(&w, &c->arena, n * 2 + 65536);
		if (px_encode_request(c->ufmt, &c->req, m, &w, &perr) < 0) {
			send_error(c, perr.status ? perr.status : 400, perr.msg);
			return;
		}
		if (w.err) {
			send_error(c, 413, "converted request too large");
			return;
		}
		body = w.buf;
		n = w.len;
		{
			/* hosted tools (web_search, ...) cannot run on another
			 * provider: said in a header and the access log */
			char dt[256];
			size_t i;
			if (px_dropped_tools(c->ufmt, &c->req, dt, sizeof dt) > 0) {
				for (i = 0; dt[i]; i++)   /* client text: header-safe */
					if (!isalnum((unsigned char)dt[i]) &&
					    !strchr("_.,-", dt[i]))
						dt[i] = '_';
				c->dropped = arena_cstr(c, dt, strlen(dt));
			}
		}
	}
	if (c->cfmt == PX_FMT_GEMINI && c->passthrough)
		c->req.gemini_array_stream = c->req.stream && !c->gemini_alt_sse;
	if (c->rs_prev.n && !c->passthrough)
		c->req.previous_response_id = c->rs_prev;   /* echoed back */

	if (build_upstream(c, body, n) < 0) {
		send_error(c, 500, "cannot build upstream request");
		return;
	}
	DBG("conn %d: %s model=%s -> %s/%s%s", c->id, px_fmt_name(c->cfmt),
	    c->model, c->prov->name, c->up_model, c->passthrough ? " (passthrough)" : "");
	up_start_connect(c);
}

/* Process a complete request head. */
static void
handle_head(struct conn *c, struct http_req *r)
{
	char gmodel[256];
	int is_post;
	size_t an = 0, xn = 0, gn = 0, vn = 0, bn = 0;
	const char *a, *x, *g, *v, *b;
	char qkey[512];
	int qn;
	size_t kn;
	const char *key;

	c->t_start_us = clock_us();
	c->keep_alive = r->keep_alive;
	c->is_head = http_str_eq(r->method, "HEAD");
	gmodel[0] = 0;
	c->ep = classify(c, r, gmodel, sizeof gmodel, &is_post);

	/* Local endpoints that need no key. */
	if (c->ep == EP_NONE) {
		if (http_str_eq(r->path, "/") && (c->is_head || http_str_eq(r->method, "GET"))) {
			send_body(c, 200, "text/plain", "llmproxy\n", 9, NULL);
			return;
		}
		if (http_str_eq(r->path, "/health")) {
			if (!http_str_eq(r->method, "GET") && !c->is_head) {
				send_body(c, 405, "application/json", "{\"error\":\"method not allowed\"}", 30, "Allow: GET, HEAD\r\n");
				return;
			}
			send_body(c, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
			return;
		}
	}

	/* Client key check (every API path). */
	a = hdr_val(r, "authorization", &an);
	x = hdr_val(r, "x-api-key", &xn);
	g = hdr_val(r, "x-goog-api-key", &gn);
	qn = http_query_param(r->query, "key", qkey, sizeof qkey);
	key = auth_presented(a, an, x, xn, g, gn, qn >= 0 ? qkey : NULL,
	    qn >= 0 ? (size_t)qn : 0, &kn);
	if (cfg->nkeys > 0) {
		c->key = key ? auth_find(cfg->keys, (size_t)cfg->nkeys, key, kn) : NULL;
		if (!c->key) {
			send_error(c, 401, key ? "invalid API key" :
			    "missing API key: send Authorization: Bearer <key>, x-api-key or x-goog-api-key");
			return;
		}
	}

	v = hdr_val(r, "anthropic-version", &vn);
	b = hdr_val(r, "anthropic-beta", &bn);
	if (v)
		c->aversion = arena_cstr(c, v, vn);
	if (b)
		c->abeta = arena_cstr(c, b, bn);

	if (c->ep == EP_NONE) {
		int gem = http_str_eq(r->path, "/v1beta/models");
		if (http_str_eq(r->path, "/v1/models") || http_str_eq(r->path, "/models") || gem) {
			if (!http_str_eq(r->method, "GET") && !c->is_head) {
				send_body(c, 405, "application/json", "{\"error\":\"method not allowed\"}", 30, "Allow: GET\r\n");
				return;
			}
			send_models(c, v != NULL && !gem, gem);
			return;
		}
		{
			/* GET / DELETE /v1/responses/{id}: the local store */
			struct http_str p = r->path;
			size_t pl = 0;
			if (p.n > 14 && memcmp(p.p, "/v1/responses/", 14) == 0)
				pl = 14;
			else if (p.n > 11 && memcmp(p.p, "/responses/", 11) == 0)
				pl = 11;
			if (pl && !memchr(p.p + pl, '/', p.n - pl) &&
			    p.n - pl <= PX_STORE_KEY_MAX) {
				struct px_str id = { p.p + pl, p.n - pl };
				rs_local(c, r, id);
				return;
			}
		}
		{
			char msg[300];
			snprintf(msg, sizeof msg, "no such endpoint: %.*s %.*s",
			    (int)(r->method.n > 16 ? 16 : r->method.n), r->method.p,
			    (int)(r->path.n > 200 ? 200 : r->path.n), r->path.p);
			send_error(c, 404, msg);
		}
		return;
	}
	if (!is_post) {
		static const char m405[] =
		    "{\"error\":{\"message\":\"method not allowed: use POST\",\"type\":\"invalid_request_error\"}}";
		send_body(c, 405, "application/json", m405, sizeof m405 - 1,
		    "Allow: POST\r\n");
		return;
	}
	if (c->cfmt == PX_FMT_GEMINI) {
		char alt[16];
		snprintf(c->model, sizeof c->model, "%s", gmodel);
		c->gemini_alt_sse = http_query_param(r->query, "alt", alt, sizeof alt) > 0 &&
		    strcmp(alt, "sse") == 0;
	}
	if (r->content_length > 0 && (size_t)r->content_length > cfg->body_max) {
		c->keep_alive = 0;
		send_error(c, 413, "request body too large");
		return;
	}
	if (!r->chunked && r->content_length < 0) {
		c->body_len = 0;
	} else {
		c->body_len = r->content_length;
	}
	c->chunked_body = r->chunked;
	if (r->expect_continue && !c->sent_continue) {
		c->sent_continue = 1;
		out_put(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
	c->phase = PH_READ_BODY;
}

/* Parse what we have of the request. */
static void
client_parse(struct conn *c)
{
	struct http_hdr hdrs[HTTP_MAX_HEADERS];
	struct http_req r;
	int rc;

	if (c->phase == PH_READ_HEAD) {
		if (c->in_len == 0)
			return;
		memset(&r, 0, sizeof r);
		rc = http_parse_request(c->in, c->in_len, &r, hdrs, HTTP_MAX_HEADERS);
		if (rc == HTTP_PARTIAL) {
			if (c->in_len > cfg->header_max) {
				c->keep_alive = 0;
				c->t_start_us = clock_us();
				send_error(c, 431, "request header fields too large");
			}
			return;
		}
		c->deadline = now_ms + cfg->header_timeout_ms;
		if (rc < 0) {
			c->keep_alive = 0;
			c->t_start_us = clock_us();
			send_error(c, r.error_status ? r.error_status : 400,
			    r.error ? r.error : "bad request");
			return;
		}
		if ((size_t)rc > cfg->header_max) {
			c->keep_alive = 0;
			c->t_start_us = clock_us();
			send_error(c, 431, "request header fields too large");
			return;
		}
		c->head_len = (size_t)rc;
		c->body_unread = r.chunked || r.content_length > 0;
		handle_head(c, &r);   /* header views die here */
		if (c->phase != PH_READ_BODY)
			return;
	}
	if (c->phase == PH_READ_BODY) {
		if (c->chunked_body) {
			while (!c->chk.done) {
				const char *d;
				size_t dn;
				long k = http_chunked_feed(&c->chk, c->in + c->head_len + c->chk_off,
				    c->in_len - c->head_len - c->chk_off, &d, &dn);
				if (k < 0) {
					c->keep_alive = 0;
					send_error(c, 400, "bad chunked encoding");
					return;
				}
				if (k == 0 && dn == 0 && !c->chk.done)
					return;
				c->chk_off += (size_t)k;
				if (dn) {
					if (c->body_n + dn > cfg->body_max) {
						c->keep_alive = 0;
						send_error(c, 413, "request body too large");
						return;
					}
					if (c->body_n + dn > c->body_cap) {
						size_t nc = c->body_cap ? c->body_cap : 4096;
						char *p;
						while (nc < c->body_n + dn)
							nc *= 2;
						p = realloc(c->body, nc);
						if (!p) {
							c->closing = 1;
							return;
						}
						c->body = p;
						c->body_cap = nc;
					}
					memcpy(c->body + c->body_n, d, dn);
					c->body_n += dn;
				}
			}
			c->phase = PH_RESOLVE;
			c->body_unread = 0;
			handle_request(c, c->body ? c->body : "", c->body_n);
			return;
		}
		if (c->in_len - c->head_len < (size_t)c->body_len)
			return;
		c->phase = PH_RESOLVE;
		c->body_unread = 0;
		handle_request(c, c->in + c->head_len, (size_t)c->body_len);
	}
}

static void
client_read(struct conn *c)
{
	for (;;) {
		ssize_t r;
		size_t limit = cfg->header_max + cfg->body_max + 64 * 1024;

		if (c->in_len == c->in_cap) {
			size_t nc = c->in_cap ? c->in_cap * 2 : 8192;
			char *p;
			if (c->in_cap >= limit) {
				/* no room: stop reading until this request is done */
				return;
			}
			if (nc > limit)
				nc = limit;
			p = realloc(c->in, nc);
			if (!p) {
				c->closing = 1;
				return;
			}
			c->in = p;
			c->in_cap = nc;
		}
		r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (r > 0) {
			c->in_len += (size_t)r;
			if (c->phase == PH_READ_HEAD || c->phase == PH_READ_BODY)
				continue;
			return;
		}
		if (r == 0) {
			c->client_eof = 1;
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		c->client_eof = 1;
		return;
	}
}

/* ------------------------------------------------------------ upstream I/O */

static void
up_fail(struct conn *c, int status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	up_close(&c->up);
	if (c->streaming && c->stream) {
		/* mid-stream: in-band error in the client's format */
		struct ir_error e;
		memset(&e, 0, sizeof e);
		e.status = status;
		e.kind = status == 504 ? IR_ERR_TIMEOUT : IR_ERR_BAD_GATEWAY;
		e.message.p = msg;
		e.message.n = strlen(msg);
		if (c->passthrough) {
			stream_cutoff(c, msg);
		} else {
			jw_reset(&c->sout);
			px_stream_fail(c->stream, &e, &c->sout);
			out_chunk(c, c->sout.buf, c->sout.len);
		}
		if (c->resp_chunked)
			out_put(c, "0\r\n\r\n", 5);
		else
			c->keep_alive = 0;
		px_log("upstream failed mid-stream: %s", msg);
		finish_request(c);
		return;
	}
	if (c->head_sent) {
		c->closing = 1;
		return;
	}
	send_error(c, status, msg);
}

static void
up_start_connect(struct conn *c)
{
	c->phase = PH_RESOLVE;
	c->deadline = now_ms + cfg->connect_timeout_ms;
	if (!c->up_retry && pool_get(c->prov_idx, &c->up)) {
		c->up_reused = 1;
		c->phase = PH_UP_SEND;
		c->deadline = now_ms + cfg->first_byte_timeout_ms;
		up_drive(c);
		return;
	}
	if (!dns_lookup(c->prov_idx))
		return;   /* woken by dns_done() */
	c->addr_i = 0;
	c->phase = PH_CONNECT;
	up_drive(c);
}

/* Called after a lookup finished. */
static void
dns_done(void)
{
	char b[64];
	int i;

	while (read(dns_pipe[0], b, sizeof b) > 0)
		;
	pthread_mutex_lock(&dns_mu);
	for (i = 0; i < cfg->nproviders; i++) {
		if (dns_cache[i].pending && dns_cache[i].done) {
			dns_cache[i].pending = 0;
			dns_cache[i].expiry = now_ms + PX_DNS_TTL_MS;
		}
	}
	pthread_mutex_unlock(&dns_mu);
	for (i = 0; i < nconns; i++) {
		struct conn *c = conns[i];
		struct dns_entry *d;
		if (c->phase != PH_RESOLVE || c->closing || c->prov_idx < 0)
			continue;
		d = &dns_cache[c->prov_idx];
		if (d->pending)
			continue;
		if (d->err || d->naddr == 0) {
			d->expiry = 0;
			up_fail(c, 502, "upstream %s: DNS lookup of %s failed: %s",
			    c->prov->name, c->prov->host,
			    d->err ? gai_strerror(d->err) : "no address");
			continue;
		}
		c->addr_i = 0;
		c->phase = PH_CONNECT;
		up_drive(c);
	}
}

static int
tcp_connect_next(struct conn *c)
{
	struct dns_entry *d = &dns_cache[c->prov_idx];

	while (c->addr_i < d->naddr) {
		int fd = socket(d->addr[c->addr_i].ss_family, SOCK_STREAM, 0);
		int rc;
		if (fd < 0)
			return -1;
		set_nonblock(fd);
		set_nodelay(fd);
		rc = connect(fd, (struct sockaddr *)&d->addr[c->addr_i], d->alen[c->addr_i]);
		c->addr_i++;
		if (rc == 0 || errno == EINPROGRESS) {
			c->up.fd = fd;
			c->up.prov = c->prov_idx;
			return 0;
		}
		close(fd);
	}
	return -1;
}

static void
up_send_setup_tls(struct conn *c)
{
	if (!c->prov->tls)
		return;
	c->up.tls = malloc(sizeof *c->up.tls);
	if (!c->up.tls || tls_conn_init(c->up.tls, c->up.fd, c->prov->host) < 0) {
		up_fail(c, 502, "upstream %s: TLS setup failed (no trust anchors loaded?)",
		    c->prov->name);
	}
}

static ssize_t
up_write(struct conn *c, const char *p, size_t n)
{
	ssize_t w;
	if (c->up.tls) {
		w = tls_write(c->up.tls, p, n);
		if (w == TLS_AGAIN)
			return 0;
		return w < 0 ? -1 : w;
	}
	w = send(c->up.fd, p, n, MSG_NOSIGNAL);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	return w;
}

/* >0 bytes, 0 EOF, -2 again, -1 error */
static ssize_t
up_read(struct conn *c, char *p, size_t n)
{
	ssize_t r;
	if (c->up.tls) {
		r = tls_read(c->up.tls, p, n);
		if (r == TLS_AGAIN)
			return -2;
		return r;
	}
	r = recv(c->up.fd, p, n, 0);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return -2;
	return r;
}

static void
tls_fail(struct conn *c)
{
	char eb[160];
	int err = c->up.tls ? c->up.tls->err : 0;
	up_fail(c, 502, "upstream %s: TLS with %s failed: %s", c->prov->name,
	    c->prov->host, tls_strerror(err, eb, sizeof eb));
}

/* Upstream failed before any response byte: retry once on a fresh
 * connection if this one came from the pool (the server may have closed it
 * while idle). */
static int
maybe_retry(struct conn *c)
{
	if (!c->up_reused || c->up_retry || c->ubuf_len > 0)
		return 0;
	up_close(&c->up);
	c->up_reused = 0;
	c->up_retry = 1;
	c->ureq_off = 0;
	up_start_connect(c);
	return 1;
}

static void on_up_head(struct conn *c);
static void on_up_body(struct conn *c, const char *p, size_t n);
static void up_body_end(struct conn *c, int eof);

/* Advance the upstream side as far as it can go without blocking. */
static void
up_drive(struct conn *c)
{
	for (;;) {
		if (c->closing)
			return;
		switch (c->phase) {
		case PH_CONNECT: {
			int err = 0;
			socklen_t el = sizeof err;
			if (c->up.fd < 0) {
				if (tcp_connect_next(c) < 0) {
					up_fail(c, 502, "upstream %s: connect to %s:%s failed: %s",
					    c->prov->name, c->prov->host, c->prov->port, strerror(errno));
					return;
				}
				return;   /* wait for POLLOUT */
			}
			if (getsockopt(c->up.fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
				err = errno;
			if (err == EINPROGRESS || err == EALREADY)
				return;
			if (err) {
				close(c->up.fd);
				c->up.fd = -1;
				if (tcp_connect_next(c) < 0) {
					up_fail(c, 502, "upstream %s: connect to %s:%s failed: %s",
					    c->prov->name, c->prov->host, c->prov->port, strerror(err));
				}
				return;
			}
			/* is it really connected? (poll woke us) */
			{
				struct sockaddr_storage ss;
				socklen_t sl = sizeof ss;
				if (getpeername(c->up.fd, (struct sockaddr *)&ss, &sl) < 0)
					return;
			}
			c->phase = PH_UP_SEND;
			c->deadline = now_ms + cfg->connect_timeout_ms;
			up_send_setup_tls(c);
			if (c->closing || c->phase != PH_UP_SEND)
				return;
			continue;
		}
		case PH_UP_SEND:
			while (c->ureq_off < c->ureq_len) {
				ssize_t w = up_write(c, c->ureq + c->ureq_off, c->ureq_len - c->ureq_off);
				if (w < 0) {
					if (maybe_retry(c))
						return;
					if (c->up.tls && c->up.tls->err && c->up.tls->err != TLS_E_IO)
						tls_fail(c);
					else
						up_fail(c, 502, "upstream %s: send failed: %s",
						    c->prov->name, c->up.tls ? "connection closed" : strerror(errno));
					return;
				}
				if (w == 0)
					return;
				c->ureq_off += (size_t)w;
			}
			if (c->up.tls) {
				int f = tls_flush(c->up.tls);
				if (f == TLS_ERR) {
					tls_fail(c);
					return;
				}
				if (f == TLS_AGAIN)
					return;
			}
			c->phase = PH_UP_HEAD;
			c->deadline = now_ms + cfg->first_byte_timeout_ms;
			continue;
		case PH_UP_HEAD:
		case PH_UP_BODY: {
			ssize_t r;
			/* backpressure: leave upstream bytes in the kernel
			 * (and in TLS records) while the client is behind */
			if (c->phase == PH_UP_BODY && out_pending(c) > PX_OUT_HIGH)
				return;
			if (c->ubuf_len >= sizeof c->ubuf) {
				up_fail(c, 502, "upstream %s: response head too large", c->prov->name);
				return;
			}
			r = up_read(c, c->ubuf + c->ubuf_len, sizeof c->ubuf - c->ubuf_len);
			if (r == -2)
				return;
			if (r < 0) {
				if (c->phase == PH_UP_HEAD && maybe_retry(c))
					return;
				if (c->up.tls && c->up.tls->err && c->up.tls->err != TLS_E_IO &&
				    c->up.tls->err != TLS_E_EOF)
					tls_fail(c);
				else if (c->phase == PH_UP_BODY)
					up_body_end(c, 1);
				else
					up_fail(c, 502, "upstream %s: connection error: %s",
					    c->prov->name, strerror(errno));
				return;
			}
			if (r == 0) {
				if (c->phase == PH_UP_HEAD) {
					if (maybe_retry(c))
						return;
					up_fail(c, 502, "upstream %s closed the connection without a response",
					    c->prov->name);
					return;
				}
				up_body_end(c, 1);
				return;
			}
			if (!c->t_first_us)
				c->t_first_us = clock_us();
			c->deadline = now_ms + cfg->stream_idle_timeout_ms;
			if (c->phase == PH_UP_HEAD) {
				c->ubuf_len += (size_t)r;
				on_up_head(c);
			} else {
				on_up_body(c, c->ubuf, (size_t)r);
			}
			if (c->phase != PH_UP_HEAD && c->phase != PH_UP_BODY)
				return;
			continue;
		}
		default:
			return;
		}
	}
}

/* The upstream response head is (maybe) complete. */
static void
on_up_head(struct conn *c)
{
	int rc;
	const struct http_hdr *ra, *ct;
	size_t rest;

	memset(&c->uresp, 0, sizeof c->uresp);
	rc = http_parse_response(c->ubuf, c->ubuf_len, &c->uresp, c->uhdrs, HTTP_MAX_HEADERS);
	if (rc == HTTP_PARTIAL)
		return;
	if (rc < 0) {
		up_fail(c, 502, "upstream %s: malformed response head (%s)", c->prov->name,
		    c->uresp.error ? c->uresp.error : "parse error");
		return;
	}
	if (c->uresp.status == 100) {
		memmove(c->ubuf, c->ubuf + rc, c->ubuf_len - (size_t)rc);
		c->ubuf_len -= (size_t)rc;
		if (c->ubuf_len)
			on_up_head(c);
		return;
	}
	ra = http_find(c->uhdrs, c->uresp.nhdrs, "retry-after");
	if (ra && ra->value.n < sizeof c->retry_after) {
		memcpy(c->retry_after, ra->value.p, ra->value.n);
		c->retry_after[ra->value.n] = 0;
	}
	ct = http_find(c->uhdrs, c->uresp.nhdrs, "content-type");
	c->uleft = c->uresp.chunked ? -1 : c->uresp.content_length;
	memset(&c->uchk, 0, sizeof c->uchk);
	c->phase = PH_UP_BODY;
	c->streaming = c->uresp.status == 200 && c->req.stream &&
	    !(ct && ct->value.n >= 16 && memcmp(ct->value.p, "application/json", 16) == 0 &&
	      c->ufmt != PX_FMT_GEMINI);
	if (c->streaming) {
		const char *ctype = c->cfmt == PX_FMT_GEMINI && c->req.gemini_array_stream ?
		    "application/json" : "text/event-stream";
		c->resp_chunked = c->keep_alive ? 1 : 0;
		send_head(c, 200, ctype, c->resp_chunked ? -1 : -2,
		    "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
		if (!c->resp_chunked) {
			/* HTTP/1.0 client: close-delimited body */
			c->keep_alive = 0;
		}
		sse_init(&c->sse);
		c->sse_blank = 1;
		c->sse_cr = 0;
		c->hold_len = 0;
		c->stream = px_stream_new(&c->arena, c->ufmt, c->cfmt, &c->req);
		if (!c->stream) {
			up_fail(c, 500, "out of memory");
			return;
		}
		jw_init(&c->sout, &c->arena, SSE_EVENT_MAX * 2);
		if (!c->passthrough) {
			px_stream_begin(c->stream, &c->sout);
			out_chunk(c, c->sout.buf, c->sout.len);
			jw_reset(&c->sout);
		}
	}
	rest = c->ubuf_len - (size_t)rc;
	c->ubuf_len = 0;
	if (rest)
		on_up_body(c, c->ubuf + rc, rest);
	else if (c->uresp.no_body || c->uleft == 0)
		up_body_end(c, 0);
}

/*
 * Length of the prefix of p[0..n) that ends at the last SSE event boundary
 * (a blank line; LF, CRLF or CR line ends, as the SSE spec allows), or 0.
 * The scanner state carries over between calls.
 */
static size_t
sse_boundary(struct conn *c, const char *p, size_t n)
{
	size_t i, end = 0;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && c->sse_cr) {
			c->sse_cr = 0;          /* LF of a CRLF: already counted */
			if (end == i)
				end = i + 1;    /* keep the pair together */
			continue;
		}
		c->sse_cr = p[i] == '\r';
		if (p[i] == '\n' || p[i] == '\r') {
			if (c->sse_blank)
				end = i + 1;
			c->sse_blank = 1;
		} else
			c->sse_blank = 0;
	}
	return end;
}

/*
 * Passthrough: forward whole events only. A client's SSE parser acts on an
 * event at its blank line, so holding the unfinished tail costs no latency;
 * and when the upstream is cut off mid-event, the client gets a clean error
 * event instead of half an event glued to it.
 */
static int
pass_through(struct conn *c, const char *p, size_t n)
{
	size_t b = sse_boundary(c, p, n);

	if (b > 0) {
		if (c->hold_len) {
			out_chunk(c, c->hold, c->hold_len);
			c->hold_len = 0;
		}
		out_chunk(c, p, b);
	}
	p += b;
	n -= b;
	if (n == 0)
		return 0;
	if (c->hold_len + n > c->hold_cap) {
		size_t nc = c->hold_cap ? c->hold_cap : 1024;
		char *np;
		while (nc < c->hold_len + n)
			nc *= 2;
		if (nc > SSE_EVENT_MAX + SSE_FIELD_MAX * 2 + 64)
			return -1;
		if ((np = realloc(c->hold, nc)) == NULL)
			return -1;
		c->hold = np;
		c->hold_cap = nc;
	}
	memcpy(c->hold + c->hold_len, p, n);
	c->hold_len += n;
	return 0;
}

/* Payload bytes of the upstream body (framing removed). */
static void
on_payload(struct conn *c, const char *p, size_t n)
{
	if (c->streaming) {
		if (c->passthrough && pass_through(c, p, n) < 0) {
			up_fail(c, 502, "upstream %s: SSE event too large", c->prov->name);
			return;
		}
		while (n > 0) {
			struct sse_event ev;
			int got = 0;
			long k = sse_feed(&c->sse, p, n, &ev, &got);
			if (k < 0) {
				up_fail(c, 502, "upstream %s: SSE event too large", c->prov->name);
				return;
			}
			p += k;
			n -= (size_t)k;
			if (!got)
				break;
			if (c->passthrough) {
				px_stream_feed(c->stream, &ev, NULL);
				rs_event(c, ev.event, ev.event_len, ev.data,
				    ev.data_len);
			} else {
				jw_reset(&c->sout);
				px_stream_feed(c->stream, &ev, &c->sout);
				out_chunk(c, c->sout.buf, c->sout.len);
				rs_scan(c, c->sout.buf, c->sout.len);
				if (c->sout.err) {
					up_fail(c, 502, "converted event too large");
					return;
				}
			}
		}
		out_flush(c);
		return;
	}
	/* whole body */
	if (EP_IS_EMBED(c->ep) && !c->passthrough &&
	    c->uresp.status / 100 == 2 && c->ubody_n + n > PX_EMBED_RESP_MAX) {
		up_fail(c, 502, "upstream %s: embeddings answer larger than %u bytes (PX_EMBED_RESP_MAX): send fewer inputs or fewer dimensions",
		    c->prov->name, (unsigned)PX_EMBED_RESP_MAX);
		return;
	}
	if (c->ubody_n + n > PX_RESP_MAX) {
		up_fail(c, 502, "upstream %s: response body too large", c->prov->name);
		return;
	}
	if (c->ubody_n + n > c->ubody_cap) {
		size_t nc = c->ubody_cap ? c->ubody_cap * 2 : 16384;
		char *np;
		while (nc < c->ubody_n + n)
			nc *= 2;
		np = px_arena_alloc(&c->arena, nc);
		if (!np) {
			up_fail(c, 502, "out of memory");
			return;
		}
		if (c->ubody_n)
			memcpy(np, c->ubody, c->ubody_n);
		c->ubody = np;
		c->ubody_cap = nc;
	}
	memcpy(c->ubody + c->ubody_n, p, n);
	c->ubody_n += n;
}

static void
on_up_body(struct conn *c, const char *p, size_t n)
{
	while (n > 0 && !c->closing && c->phase == PH_UP_BODY) {
		if (c->uresp.chunked) {
			const char *d;
			size_t dn;
			long k = http_chunked_feed(&c->uchk, p, n, &d, &dn);
			if (k < 0) {
				up_fail(c, 502, "upstream %s: bad chunked encoding", c->prov->name);
				return;
			}
			p += k;
			n -= (size_t)k;
			if (dn)
				on_payload(c, d, dn);
			if (c->uchk.done) {
				up_body_end(c, 0);
				return;
			}
			if (k == 0 && dn == 0)
				return;
		} else if (c->uleft >= 0) {
			size_t take = n < (uint64_t)c->uleft ? n : (size_t)c->uleft;
			on_payload(c, p, take);
			c->uleft -= (int64_t)take;
			p += take;
			n -= take;
			if (c->uleft == 0) {
				up_body_end(c, 0);
				return;
			}
			if (n)
				return;   /* extra bytes after the body: ignore */
		} else {
			on_payload(c, p, n);
			return;
		}
	}
}

/*
 * Tell a streaming client, in its own format, that the upstream stream
 * broke. A converted stream's encoder knows where it is; a passthrough
 * stream was never encoded, so a fresh encoder writes a bare error event.
 */
static void
stream_cutoff(struct conn *c, const char *msg)
{
	struct px_stream *s = c->stream;
	struct ir_error e;

	memset(&e, 0, sizeof e);
	e.status = 502;
	e.kind = IR_ERR_BAD_GATEWAY;
	e.message.p = msg;
	e.message.n = strlen(msg);
	if (!c->passthrough && px_stream_done(s))
		return;   /* the client already has its terminal event */
	if (c->passthrough) {
		if (px_stream_end(s, NULL))
			return;   /* upstream had finished: nothing to add */
		s = px_stream_new(&c->arena, c->cfmt, c->cfmt, &c->req);
		if (!s)
			return;
	}
	jw_reset(&c->sout);
	px_stream_fail(s, &e, &c->sout);
	out_chunk(c, c->sout.buf, c->sout.len);
}

/* The upstream body ended: eof=1 when by connection close. */
static void
up_body_end(struct conn *c, int eof)
{
	int complete = !eof || (!c->uresp.chunked && c->uleft < 0);

	if (c->phase != PH_UP_BODY)
		return;
	c->up_done = !eof && complete;
	if (eof) {
		up_close(&c->up);
		c->uresp.keep_alive = 0;
	}
	if (c->streaming) {
		int clean;
		struct sse_event ev;
		if (!complete) {
			/* framing says the body was cut short */
			stream_cutoff(c, "upstream connection closed before the response was complete");
			px_log("upstream %s: stream cut off", c->prov->name);
		} else {
			if (sse_finish(&c->sse, &ev)) {
				jw_reset(&c->sout);
				px_stream_feed(c->stream, &ev, c->passthrough ? NULL : &c->sout);
				if (!c->passthrough)
					out_chunk(c, c->sout.buf, c->sout.len);
				if (c->passthrough)
					rs_event(c, ev.event, ev.event_len,
					    ev.data, ev.data_len);
				else
					rs_scan(c, c->sout.buf, c->sout.len);
			}
			jw_reset(&c->sout);
			clean = px_stream_end(c->stream, c->passthrough ? NULL : &c->sout);
			if (!c->passthrough)
				out_chunk(c, c->sout.buf, c->sout.len);
			else if (clean && c->hold_len) {
				/* a finished stream's unterminated tail, as sent */
				out_chunk(c, c->hold, c->hold_len);
				c->hold_len = 0;
			}
			if (!c->passthrough)
				rs_scan(c, c->sout.buf, c->sout.len);
			if (!clean && c->passthrough)
				stream_cutoff(c, "upstream stream ended before completion");
			if (!clean)
				px_log("upstream %s: stream ended without its terminal event", c->prov->name);
		}
		c->usage = *px_stream_usage(c->stream);
		if (c->resp_chunked)
			out_put(c, "0\r\n\r\n", 5);
		finish_request(c);
		return;
	}
	if (!complete) {
		up_fail(c, 502, "upstream %s: connection closed before the response was complete",
		    c->prov->name);
		return;
	}
	/* non-streamed: convert status, body */
	{
		int st = c->uresp.status;
		char extra[96];
		const char *body = c->ubody ? c->ubody : "";
		size_t n = c->ubody_n;
		struct jw w;
		struct px_err perr;

		extra[0] = 0;
		if (c->retry_after[0])
			snprintf(extra, sizeof extra, "Retry-After: %s\r\n", c->retry_after);
		if (st < 200 || st >= 300) {
			struct ir_error e;
			int cst;
			px_decode_error(c->ufmt, &c->arena, st, body, n, &e);
			cst = px_error_status(c->cfmt, &e);
			if (c->passthrough && cst == st) {
				send_body(c, st, "application/json", body, n, extra);
				return;
			}
			jw_init(&w, &c->arena, n + 4096);
			px_encode_error(c->cfmt, &e, &w);
			px_log("upstream %s answered %d", c->prov->name, st);
			send_body(c, cst, "application/json", w.buf, w.len, extra);
			return;
		}
		if (embed_count_answer(c, st, body, n, extra))
			return;
		if (c->passthrough) {
			/* usage for the log, best effort */
			struct ir_response resp;
			struct px_err e2;
			if (px_decode_response(c->cfmt, &c->arena, body, n, &resp, &e2) == 0)
				c->usage = resp.usage;
			rs_save(c, body, n);
			send_body(c, st, "application/json", body, n, extra);
			return;
		}
		{
			struct ir_response resp;
			if (px_decode_response(c->ufmt, &c->arena, body, n, &resp, &perr) < 0) {
				up_fail(c, 502, "upstream %s: cannot decode response: %s",
				    c->prov->name, perr.msg);
				return;
			}
			c->usage = resp.usage;
			jw_init(&w, &c->arena, n * 2 + 65536);
			if (px_encode_response(c->cfmt, &c->req, &resp, &w, &perr) < 0 || w.err) {
				up_fail(c, 502, "cannot encode response: %s", perr.msg);
				return;
			}
			rs_save(c, w.buf, w.len);
			send_body(c, 200, "application/json", w.buf, w.len, extra);
		}
	}
}

/* ------------------------------------------------------------ loop */

static void
on_timeout(struct conn *c)
{
	switch (c->phase) {
	case PH_READ_HEAD:
		if (c->in_len == 0) {
			c->closing = 1;      /* idle keep-alive */
			return;
		}
		/* fallthrough */
	case PH_READ_BODY:
		c->keep_alive = 0;
		c->t_start_us = c->t_start_us ? c->t_start_us : clock_us();
		send_error(c, 408, "request timeout: the request was not received in time");
		return;
	case PH_RESOLVE:
	case PH_CONNECT:
		up_fail(c, 502, "upstream %s: connect to %s timed out", c->prov->name,
		    c->prov->host);
		return;
	case PH_UP_SEND:
		if (c->up.tls && !tls_ready(c->up.tls))
			up_fail(c, 502, "upstream %s: TLS handshake with %s timed out",
			    c->prov->name, c->prov->host);
		else
			up_fail(c, 504, "upstream %s: timed out sending the request",
			    c->prov->name);
		return;
	case PH_UP_HEAD:
		up_fail(c, 504, "upstream %s: no response within %d ms", c->prov->name,
		    cfg->first_byte_timeout_ms);
		return;
	case PH_UP_BODY:
		up_fail(c, 504, "upstream %s: stream idle for %d ms", c->prov->name,
		    cfg->stream_idle_timeout_ms);
		return;
	case PH_FLUSH:
		c->closing = 1;
		return;
	}
}

static void
accept_clients(void)
{
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		struct conn *c;
		if (fd < 0)
			return;
		if (nconns >= cfg->max_conns) {
			static const char busy[] =
			    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 58\r\nConnection: close\r\n\r\n{\"error\":{\"message\":\"too many connections\",\"type\":\"busy\"}}";
			(void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
			close(fd);
			continue;
		}
		set_nonblock(fd);
		set_nodelay(fd);
		c = conn_new(fd);
		if (!c) {
			close(fd);
			continue;
		}
		if (nconns == conns_cap) {
			int nc = conns_cap ? conns_cap * 2 : 64;
			struct conn **p = realloc(conns, (size_t)nc * sizeof *p);
			if (!p) {
				conn_free(c);
				continue;
			}
			conns = p;
			conns_cap = nc;
		}
		conns[nconns++] = c;
	}
}

/* After a response was queued: flush, then continue with the next
 * pipelined request or wait. */
static void
client_progress(struct conn *c)
{
	int guard = 0;
	while (!c->closing && guard++ < 64) {
		if (c->phase == PH_FLUSH) {
			out_flush(c);
			if (out_pending(c))
				return;
			if (c->close_after) {
				c->closing = 1;
				return;
			}
			c->phase = PH_READ_HEAD;
			c->deadline = now_ms + (c->in_len ? cfg->header_timeout_ms : cfg->idle_timeout_ms);
			if (draining && c->in_len == 0) {
				c->closing = 1;
				return;
			}
		}
		if (c->phase == PH_READ_HEAD || c->phase == PH_READ_BODY) {
			enum phase before = c->phase;
			size_t before_len = c->in_len;
			if (c->phase == PH_READ_HEAD && c->in_len > 0 && c->deadline > now_ms + cfg->header_timeout_ms)
				c->deadline = now_ms + cfg->header_timeout_ms;
			client_parse(c);
			if (c->phase == before && c->in_len == before_len) {
				if (c->client_eof)
					c->closing = 1;
				return;
			}
			continue;
		}
		return;
	}
}

static void
handle_signal(int sig)
{
	int saved = errno;
	char b = 1;

	(void)sig;
	got_term = 1;
	/* wake poll() even when the signal lands just before it */
	if (dns_pipe[1] >= 0 && write(dns_pipe[1], &b, 1) < 0) {
		/* pipe full: the loop is awake anyway */
	}
	errno = saved;
}

static int
open_listener(const char *addr)
{
	char host[256], port[16];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, one = 1, rc;

	if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host) {
		px_log("bad listen address '%s' (want HOST:PORT)", addr);
		return -1;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	if (host[0] == '[') {
		size_t l = strlen(host);
		memmove(host, host + 1, l);
		if (l >= 2 && host[l - 2] == ']')
			host[l - 2] = 0;
	}
	snprintf(port, sizeof port, "%s", colon + 1);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		px_log("cannot resolve listen address '%s': %s", addr, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		px_log("cannot listen on %s: %s", addr, strerror(errno));
		return -1;
	}
	set_nonblock(fd);
	return fd;
}

static int
run_server(void)
{
	struct pollfd *pfds = NULL;
	int *pmap = NULL;   /* pfd index -> conn index*2 + (0 client, 1 upstream) */
	size_t pcap = 0;

	for (;;) {
		int i, n = 0, timeout = -1, rc;
		long long nearest = LLONG_MAX;
		int want_zero = 0;

		now_ms = clock_ms();
		if (got_term && !draining) {
			draining = 1;
			drain_deadline = now_ms + cfg->drain_timeout_ms;
			if (listen_fd >= 0) {
				close(listen_fd);
				listen_fd = -1;
			}
			px_log("SIGTERM: not accepting; draining %d connection(s) for up to %d ms",
			    nconns, cfg->drain_timeout_ms);
			for (i = 0; i < nconns; i++) {
				struct conn *c = conns[i];
				if (c->phase == PH_READ_HEAD && c->in_len == 0 && !out_pending(c))
					c->closing = 1;
				c->keep_alive = 0;
			}
		}
		/* free closed connections (one place) */
		for (i = 0; i < nconns; ) {
			if (conns[i]->closing) {
				conn_free(conns[i]);
				conns[i] = conns[--nconns];
			} else {
				i++;
			}
		}
		/* checked after the free: the last stream's connection was
		 * closed in this turn, poll() would sleep to the drain deadline */
		if (draining && (nconns == 0 || now_ms >= drain_deadline)) {
			if (nconns)
				px_log("drain timeout: closing %d connection(s)", nconns);
			break;
		}
		pool_expire();
		rstore_sweep();

		if (pcap < (size_t)(2 * nconns + 2 + npool)) {
			pcap = (size_t)(2 * nconns + 2 + npool) * 2;
			pfds = realloc(pfds, pcap * sizeof *pfds);
			pmap = realloc(pmap, pcap * sizeof *pmap);
			if (!pfds || !pmap) {
				px_log("out of memory");
				return 1;
			}
		}
		if (listen_fd >= 0) {
			pfds[n].fd = listen_fd;
			pfds[n].events = POLLIN;
			pmap[n++] = -1;
		}
		pfds[n].fd = dns_pipe[0];
		pfds[n].events = POLLIN;
		pmap[n++] = -2;
		for (i = 0; i < nconns; i++) {
			struct conn *c = conns[i];
			short ev = 0;
			if (c->deadline && c->deadline < nearest)
				nearest = c->deadline;
			/* client socket */
			if (out_pending(c))
				ev |= POLLOUT;
			if (c->phase == PH_READ_HEAD || c->phase == PH_READ_BODY || c->phase == PH_FLUSH)
				ev |= POLLIN;
			else if (c->in_len < c->in_cap ||
			    c->in_cap < cfg->header_max + cfg->body_max + 64 * 1024)
				ev |= POLLIN;   /* notice a client that goes away
				                   mid-stream (not when the input
				                   buffer is full: that would spin) */
			pfds[n].fd = c->fd;
			pfds[n].events = ev;
			pmap[n++] = i * 2;
			/* upstream socket */
			if (c->up.fd >= 0 && (c->phase == PH_CONNECT || c->phase == PH_UP_SEND ||
			    c->phase == PH_UP_HEAD || c->phase == PH_UP_BODY)) {
				short uev = 0;
				if (c->phase == PH_CONNECT) {
					uev = POLLOUT;
				} else if (c->up.tls) {
					uev = tls_events(c->up.tls);
					if (c->phase == PH_UP_BODY && out_pending(c) > PX_OUT_HIGH)
						uev &= (short)~POLLIN;
					else if (tls_pending(c->up.tls))
						want_zero = 1;
					if (c->phase == PH_UP_SEND && !uev)
						uev = POLLOUT;
				} else if (c->phase == PH_UP_SEND) {
					uev = POLLOUT;
				} else if (!(c->phase == PH_UP_BODY && out_pending(c) > PX_OUT_HIGH)) {
					uev = POLLIN;
				}
				pfds[n].fd = c->up.fd;
				pfds[n].events = uev;
				pmap[n++] = i * 2 + 1;
			}
		}
		if (draining && drain_deadline < nearest)
			nearest = drain_deadline;
		if (want_zero)
			timeout = 0;
		else if (nearest != LLONG_MAX)
			timeout = nearest > now_ms ? (int)(nearest - now_ms > 60000 ? 60000 : nearest - now_ms) : 0;
		else
			timeout = npool ? 1000 : rstore ? PX_RSTORE_SWEEP_MS : -1;

		rc = poll(pfds, (nfds_t)n, timeout);
		if (rc < 0 && errno != EINTR) {
			px_log("poll: %s", strerror(errno));
			return 1;
		}
		now_ms = clock_ms();

		for (i = 0; i < n && rc > 0; i++) {
			short re = pfds[i].revents;
			int m = pmap[i];
			struct conn *c;
			if (!re)
				continue;
			if (m == -1) {
				accept_clients();
				continue;
			}
			if (m == -2) {
				dns_done();
				continue;
			}
			c = conns[m / 2];
			if (c->closing)
				continue;
			if (m % 2 == 0) {
				if (re & (POLLIN | POLLHUP | POLLERR)) {
					if (c->phase == PH_READ_HEAD || c->phase == PH_READ_BODY || c->phase == PH_FLUSH) {
						client_read(c);
					} else {
						/* mid-request: only look for EOF; pipelined bytes wait */
						char b[1];
						ssize_t r = recv(c->fd, b, 1, MSG_PEEK);
						if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
							/* the client went away: drop the upstream at once */
							DBG("conn %d: client closed mid-request", c->id);
							c->closing = 1;
							continue;
						} else if (r > 0) {
							client_read(c);
						}
					}
				}
				if (re & POLLOUT)
					out_flush(c);
				if (c->phase == PH_UP_BODY && out_pending(c) <= PX_OUT_HIGH)
					up_drive(c);
				client_progress(c);
			} else {
				if (re & (POLLERR | POLLHUP))
					re |= POLLIN | POLLOUT;
				up_drive(c);
				if (!c->closing)
					out_flush(c);
				client_progress(c);
			}
		}
		/* TLS engines holding plaintext, and deadlines */
		for (i = 0; i < nconns; i++) {
			struct conn *c = conns[i];
			if (c->closing)
				continue;
			if (c->up.fd >= 0 && c->up.tls && tls_pending(c->up.tls) &&
			    (c->phase == PH_UP_HEAD || c->phase == PH_UP_BODY)) {
				up_drive(c);
				out_flush(c);
				client_progress(c);
			}
			if (!c->closing && c->deadline && c->deadline <= now_ms) {
				on_timeout(c);
				out_flush(c);
				client_progress(c);
			}
		}
	}
	free(pfds);
	free(pmap);
	return 0;
}

/* ------------------------------------------------------------ commands */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: llmproxy [-c FILE] [-l ADDR:PORT] [-v]\n"
	    "       llmproxy check-config -c FILE\n"
	    "       llmproxy convert --from FMT --to FMT [--stream] [--response] < in > out\n"
	    "       llmproxy --help | --version\n"
	    "\n"
	    "Any LLM client, any LLM provider: accepts OpenAI Chat Completions,\n"
	    "OpenAI Responses, Anthropic Messages and Gemini requests and forwards\n"
	    "them to OpenAI-compatible, Anthropic or Gemini upstreams, converting\n"
	    "requests, responses and SSE streams.\n"
	    "\n"
	    "  -c FILE       JSON config (comments allowed); without it, providers\n"
	    "                come from OPENAI_API_KEY / ANTHROPIC_API_KEY / GEMINI_API_KEY\n"
	    "  -l ADDR:PORT  listen address (default " PX_LISTEN_DEFAULT ")\n"
	    "  -v            log each connection step\n"
	    "  FMT           chat | responses | anthropic | gemini\n"
	    "                (--from also: completions, the legacy text format;\n"
	    "                --to completions converts responses and streams)\n");
}

static char *
read_all(FILE *f, size_t *n)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	size_t r;

	if (!buf)
		return NULL;
	while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
		len += r;
		if (len == cap) {
			char *p;
			if (cap > (size_t)1 << 30) {
				free(buf);
				return NULL;
			}
			p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return NULL;
			}
			buf = p;
			cap *= 2;
		}
	}
	*n = len;
	return buf;
}

/* llmproxy convert: the conversion core on stdin/stdout. */
static int
cmd_convert(int argc, char **argv)
{
	enum px_fmt from = PX_FMT_COUNT, to = PX_FMT_COUNT;
	int stream = 0, response = 0, i, rc = 1;
	struct px_arena a;
	struct jw w;
	struct px_err err;
	size_t n;
	char *in;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			if (!px_fmt_parse(argv[i + 1], strlen(argv[i + 1]), &from))
				goto bad;
			i++;
		} else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
			if (!px_fmt_parse(argv[i + 1], strlen(argv[i + 1]), &to))
				goto bad;
			i++;
		} else if (strcmp(argv[i], "--stream") == 0) {
			stream = 1;
		} else if (strcmp(argv[i], "--response") == 0) {
			response = 1;
		} else {
			goto bad;
		}
	}
	if (from == PX_FMT_COUNT || to == PX_FMT_COUNT)
		goto bad;
	in = read_all(stdin, &n);
	if (!in) {
		fprintf(stderr, "llmproxy convert: cannot read input\n");
		return 1;
	}
	px_arena_init(&a, 0);
	jw_init(&w, &a, (size_t)1 << 31);
	if (!response) {
		struct ir_request req;
		if (px_decode_request(from, &a, in, n, &req, &err) < 0 ||
		    px_encode_request(to, &req, req.model, &w, &err) < 0) {
			fprintf(stderr, "llmproxy convert: %s\n", err.msg);
			goto out;
		}
		fwrite(w.buf, 1, w.len, stdout);
		fputc('\n', stdout);
		rc = 0;
	} else if (!stream) {
		struct ir_response resp;
		struct ir_request req;
		memset(&req, 0, sizeof req);
		req.fmt = to;
		req.max_tokens = -1;
		req.n = -1;
		if (px_decode_response(from, &a, in, n, &resp, &err) < 0) {
			fprintf(stderr, "llmproxy convert: %s\n", err.msg);
			goto out;
		}
		req.model = resp.model;
		if (px_encode_response(to, &req, &resp, &w, &err) < 0) {
			fprintf(stderr, "llmproxy convert: %s\n", err.msg);
			goto out;
		}
		fwrite(w.buf, 1, w.len, stdout);
		fputc('\n', stdout);
		rc = 0;
	} else {
		struct ir_request req;
		struct px_stream *s;
		struct sse_parser sp;
		struct sse_event ev;
		const char *p = in;
		size_t left = n;
		int got, clean;

		memset(&req, 0, sizeof req);
		req.fmt = to;
		req.stream = 1;
		req.include_usage = 1;
		req.max_tokens = -1;
		req.n = -1;
		req.model = (struct px_str){ "model", 5 };
		s = px_stream_new(&a, from, to, &req);
		if (!s) {
			fprintf(stderr, "llmproxy convert: cannot convert a %s "
			    "stream\n", px_fmt_name(from));
			goto out;
		}
		sse_init(&sp);
		px_stream_begin(s, &w);
		while (left > 0) {
			long k = sse_feed(&sp, p, left, &ev, &got);
			if (k < 0)
				break;
			p += k;
			left -= (size_t)k;
			if (!got)
				break;
			px_stream_feed(s, &ev, &w);
		}
		if (sse_finish(&sp, &ev))
			px_stream_feed(s, &ev, &w);
		clean = px_stream_end(s, &w);
		sse_free(&sp);
		fwrite(w.buf, 1, w.len, stdout);
		rc = clean ? 0 : 3;
	}
out:
	px_arena_free(&a);
	free(in);
	return rc;
bad:
	usage(stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	static struct px_config config;
	const char *cfile = NULL, *listen_arg = NULL;
	char err[512];
	int i, check_only = 0, https = 0, rc;

	if (argc > 1 && strcmp(argv[1], "convert") == 0)
		return cmd_convert(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "check-config") == 0) {
		check_only = 1;
		argv++;
		argc--;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cfile = argv[++i];
		} else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc) {
			listen_arg = argv[++i];
		} else if (strcmp(argv[i], "-v") == 0) {
			verbose = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("llmproxy %s\n", LLMPROXY_VERSION);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	cfg = &config;
	px_config_defaults(cfg);
	if (check_only && !cfile) {
		fprintf(stderr, "llmproxy check-config: -c FILE is required\n");
		return 2;
	}
	if (cfile) {
		if (px_config_load(cfg, cfile, err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	} else {
		if (px_config_from_env(cfg, err, sizeof err) < 0) {
			fprintf(stderr, "llmproxy: %s\n", err);
			return 1;
		}
	}
	if (listen_arg)
		snprintf(cfg->listen, sizeof cfg->listen, "%s", listen_arg);
	if (cfg->nkeys == 0 && !cfg->allow_open && !px_listen_is_loopback(cfg->listen)) {
		fprintf(stderr, "llmproxy: refusing to listen on %s without api_keys; add api_keys or set \"allow_open\": true\n",
		    cfg->listen);
		return 1;
	}
	if (check_only) {
		px_config_print(cfg, stdout);
		printf("config OK\n");
		return 0;
	}
	verbose |= cfg->verbose;

	if (cfg->rstore_max_bytes > 0) {
		struct px_store_opts so;
		struct px_store_stats st;
		char path[600];

		memset(&so, 0, sizeof so);
		so.max_bytes = cfg->rstore_max_bytes;
		so.max_entries = cfg->rstore_max_entries;
		so.ttl_ms = cfg->rstore_ttl_s * 1000;
		if (cfg->rstore_dir[0]) {
			if (mkdir(cfg->rstore_dir, 0700) < 0 && errno != EEXIST) {
				fprintf(stderr, "llmproxy: responses_store.dir %s: %s\n",
				    cfg->rstore_dir, strerror(errno));
				return 1;
			}
			snprintf(path, sizeof path, "%s/responses.log", cfg->rstore_dir);
			so.path = path;
		}
		rstore = px_store_open(&so, wall_ms(), err, sizeof err);
		if (!rstore) {
			fprintf(stderr, "llmproxy: responses %s\n", err);
			return 1;
		}
		px_store_stats(rstore, &st);
		px_log("responses store: %zu byte(s), %zu entries, ttl %llds%s%s; %zu response(s) loaded",
		    cfg->rstore_max_bytes, cfg->rstore_max_entries,
		    cfg->rstore_ttl_s, so.path ? ", log " : "",
		    so.path ? so.path : "", st.entries);
		if (st.dropped_tail)
			px_log("responses store: %zu byte(s) of the log were torn or corrupt and dropped",
			    st.dropped_tail);
	}

	for (i = 0; i < cfg->nproviders; i++)
		https |= cfg->providers[i].tls;
	if (https) {
		int na = tls_load_ca(cfg->ca_file[0] ? cfg->ca_file : NULL, err, sizeof err);
		if (na < 0) {
			fprintf(stderr, "llmproxy: %s\n", err);
			return 1;
		}
		px_log("loaded %d trust anchors from %s", na, tls_ca_path());
	}
	signal(SIGPIPE, SIG_IGN);
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = handle_signal;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	if (dns_start() < 0) {
		fprintf(stderr, "llmproxy: cannot start resolver thread\n");
		return 1;
	}
	listen_fd = open_listener(cfg->listen);
	if (listen_fd < 0)
		return 1;
	{
		/* report the real port (":0" picks one; tests use that) */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		char hostb[64] = "?";
		int port = 0;
		if (getsockname(listen_fd, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
				inet_ntop(AF_INET, &s4->sin_addr, hostb, sizeof hostb);
				port = ntohs(s4->sin_port);
			} else if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
				inet_ntop(AF_INET6, &s6->sin6_addr, hostb, sizeof hostb);
				port = ntohs(s6->sin6_port);
			}
		}
		px_log("llmproxy %s listening on %s:%d (%s; %d provider(s), %d route(s), %s)",
		    LLMPROXY_VERSION, hostb, port,
		    cfile ? cfile : "config from environment",
		    cfg->nproviders, cfg->nroutes,
		    cfg->nkeys ? "client keys required" : "no client keys: open to local clients");
		for (i = 0; i < cfg->nproviders; i++)
			px_log("provider %s: %s %s", cfg->providers[i].name,
			    cfg->providers[i].type, cfg->providers[i].base_url);
		for (i = 0; i < cfg->nroutes; i++) {
			const struct px_route *r = &cfg->routes[i];
			px_log("route %s -> %s%s%s", r->pattern,
			    cfg->providers[r->targets[0].provider].name,
			    r->targets[0].model[0] ? "/" : "", r->targets[0].model);
		}
		if (cfg->nproviders == 0)
			px_log("no providers configured: set OPENAI_API_KEY and/or ANTHROPIC_API_KEY, or pass -c FILE");
	}
	rc = run_server();
	dns_stop();
	for (i = 0; i < nconns; i++)
		conn_free(conns[i]);
	free(conns);
	for (i = 0; i < npool; i++)
		up_close(&pool[i]);
	if (listen_fd >= 0)
		close(listen_fd);
	px_store_close(rstore);
	px_log("stopped");
	return rc;
}
