/*
 * proxy.c - llmproxy's server: accept, parse, dispatch, answer.
 *
 * Each client connection walks a fixed set of phases: read the request
 * head and body (bounded, timed), route the model to a provider, decode
 * the body into the IR and encode it for the upstream (or pass it through
 * untouched when both sides speak the same format), hand the request to
 * the upstream engine (upstream.c: DNS, connect, TLS, pool), then convert
 * a whole answer or an SSE stream event by event as the engine's callbacks
 * deliver it. Every client-bound event is written as soon as it exists
 * (TCP_NODELAY, one HTTP chunk per event); when the client reads slowly
 * the upstream is paused instead of buffering.
 *
 * The event loop (loop.c) calls back on readiness and timers; nothing here
 * walks every connection. A connection is never freed inside a callback:
 * conn_close() marks it, takes it off the loop and queues it, and the
 * queue is emptied after each turn.
 *
 * Memory: one arena per request (released when the response is done), a
 * bounded input buffer and a bounded output queue per connection, and a
 * global budget for the bytes every request in flight holds (bodies,
 * arenas, answers, queues): a request that would go over it gets a 503.
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
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
#include "log.h"
#include "loop.h"
#include "proxy.h"
#include "sse.h"
#include "store.h"
#include "tls.h"
#include "upstream.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* ------------------------------------------------------------ globals */

static struct ev_loop *loop;
static struct up_engine *upe;
static struct px_config *cfg;
static int listen_fd = -1;
static int spare_fd = -1;        /* kept to shed a connection at EMFILE */
static volatile sig_atomic_t got_term, got_hup;
static int draining;
static long long drain_deadline;
static int verbose;
static struct px_store *rstore;  /* Responses store; NULL when off */
static struct ev_timer tick;     /* log flush, store sweep, drain */
static struct ev_timer accept_pause;
static long long rstore_sweep_at;
static size_t mem_used;          /* bytes held by requests in flight */
static size_t mem_budget;

#define DBG(...) do { if (verbose) px_log(__VA_ARGS__); } while (0)

static long long
clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define now_ms() ev_now(loop)

/* ------------------------------------------------------------ connections */

enum phase {
	PH_READ_HEAD,       /* waiting for / reading a request head */
	PH_READ_BODY,
	PH_UPSTREAM,        /* the upstream engine has the request */
	PH_FLUSH            /* answer queued; flush, then the next request */
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

struct conn {
	int fd;
	unsigned long id;
	struct conn *prev, *next;      /* open connections */
	struct conn *next_closed;      /* reap queue */
	enum phase phase;
	unsigned closing:1, keep_alive:1, head_sent:1, streaming:1,
	         passthrough:1, client_eof:1, close_after:1, resp_chunked:1,
	         is_head:1, sent_continue:1, body_unread:1, read_paused:1,
	         up_paused:1, cut:1;
	struct ev_timer timer;         /* the client-side deadline */
	struct ev_defer defer;         /* go on after an answer was queued */
	char addr[64];                 /* client address, for the log */

	/* client input */
	char *in;
	size_t in_len, in_cap;
	size_t head_len;
	int64_t body_len;              /* CL, or decoded length for chunked */
	int chunked_body;
	struct http_chunked chk;
	char *body;                    /* decoded chunked body (malloc) */
	size_t body_n, body_cap;

	/* client output queue */
	char *out;
	size_t out_len, out_off, out_cap;

	/* per request */
	struct px_arena arena;
	size_t mem;                    /* bytes charged to mem_used */
	enum endpoint ep;
	enum px_fmt cfmt;              /* client format */
	struct ir_request req;
	const char *rbody;             /* request body (in or body) */
	size_t rbody_n;
	struct json *root;             /* the body, parsed once */
	char model[256];               /* requested model */
	char up_model[256];
	char rid[72];                  /* x-request-id */
	char method[16];
	char path[256];
	const struct auth_key *key;
	const struct px_provider *prov;
	int prov_idx;
	enum px_fmt ufmt;              /* upstream format */
	char *dropped;                 /* hosted tools left out ("a,b") */
	char *abeta, *aversion;        /* anthropic headers to forward */
	int gemini_alt_sse;
	struct px_embed_req embed;
	long long t_start_us, t_first_us;
	int status;
	struct ir_usage usage;
	char errmsg[256];              /* for the access line */

	/* upstream */
	struct up_req *up;
	char *ureq;                    /* upstream request head (arena) */
	size_t ureq_len;
	const char *ubody_out;         /* upstream request body (borrowed) */
	size_t ubody_out_n;
	int ustatus;
	char retry_after[32];
	char *fwd;                     /* upstream headers forwarded (arena) */
	char *ubody;                   /* non-streamed answer (malloc) */
	size_t ubody_n, ubody_cap;
	struct sse_parser sse;
	struct px_stream *stream;
	struct jw sout;                /* stream output scratch */
	/* passthrough streams are forwarded up to the last event boundary;
	 * the bytes of an unfinished event wait here (malloc, bounded) */
	char *hold;
	size_t hold_len, hold_cap;
	unsigned char sse_blank, sse_cr;  /* boundary scanner state */

	/* Responses store: what this turn records (arena) */
	int rs_keep;
	struct px_str rs_prev;
	struct px_str rs_input;
};

static struct conn *conn_head;
static struct conn *closed_head;
static int nconns;
static unsigned long next_conn_id = 1;

static void client_update_mask(struct conn *c);
static void client_progress(struct conn *c);
static void finish_request(struct conn *c);

/* ------------------------------------------------------------ memory budget */

static void
mem_release(struct conn *c)
{
	mem_used -= c->mem < mem_used ? c->mem : mem_used;
	c->mem = 0;
}

/* 1 when n more bytes would go over the budget. */
static int
mem_over(size_t n)
{
	return mem_budget > 0 && mem_used + n > mem_budget;
}

/* ------------------------------------------------------------ output */

static int
out_reserve(struct conn *c, size_t n)
{
	size_t need, ncap;
	char *p;

	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
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
	mem_used += ncap - c->out_cap;
	c->out = p;
	c->out_cap = ncap;
	return 0;
}

static void conn_close(struct conn *c);

static void
out_put(struct conn *c, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (out_reserve(c, n) < 0) {
		conn_close(c);
		return;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static size_t
out_pending(const struct conn *c)
{
	return c->out_len - c->out_off;
}

static void
out_free(struct conn *c)
{
	mem_used -= c->out_cap < mem_used ? c->out_cap : mem_used;
	free(c->out);
	c->out = NULL;
	c->out_cap = c->out_len = c->out_off = 0;
}

/* Write what is queued (one send() per call). */
static void
out_flush(struct conn *c)
{
	ssize_t w;

	if (c->closing || c->out_off >= c->out_len)
		goto done;
	w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
	    MSG_NOSIGNAL);
	if (w > 0)
		c->out_off += (size_t)w;
	else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR) {
		conn_close(c);        /* the client went away */
		return;
	}
done:
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->out_cap > 256 * 1024)   /* do not keep a big queue idle */
			out_free(c);
	}
	/* the client caught up: read the upstream again */
	if (c->up && c->up_paused && out_pending(c) <= PX_OUT_HIGH / 2) {
		c->up_paused = 0;
		up_resume(c->up);
	}
	client_update_mask(c);
}

/* Decimal or hex without printf. */
static size_t
fmt_u(char *out, unsigned long long v, int base)
{
	static const char dig[] = "0123456789abcdef";
	char tmp[24];
	size_t k = 0, i = 0;

	do {
		tmp[k++] = dig[v % (unsigned)base];
		v /= (unsigned)base;
	} while (v);
	while (k)
		out[i++] = tmp[--k];
	return i;
}

/* One HTTP chunk (client stream). */
static void
out_chunk(struct conn *c, const char *p, size_t n)
{
	char hdr[24];
	size_t k;

	if (n == 0 || c->closing)
		return;
	if (!c->resp_chunked) {
		out_put(c, p, n);
		return;
	}
	k = fmt_u(hdr, n, 16);
	hdr[k++] = '\r';
	hdr[k++] = '\n';
	if (out_reserve(c, k + n + 2) < 0) {
		conn_close(c);
		return;
	}
	memcpy(c->out + c->out_len, hdr, k);
	memcpy(c->out + c->out_len + k, p, n);
	memcpy(c->out + c->out_len + k + n, "\r\n", 2);
	c->out_len += k + n + 2;
}

static void
out_str(struct conn *c, const char *s)
{
	out_put(c, s, strlen(s));
}

/* ------------------------------------------------------------ access log */

static void
access_log(struct conn *c)
{
	long long lat = c->t_start_us ? clock_us() - c->t_start_us : -1;
	long long fb = c->t_first_us ? c->t_first_us - c->t_start_us : -1;
	struct log_line ln;

	log_begin(&ln, "access");
	log_cstr(&ln, "id", c->rid);
	log_cstr(&ln, "client", c->addr);
	log_cstr(&ln, "method", c->method);
	log_cstr(&ln, "path", c->path);
	log_cstr(&ln, "key", c->key ? c->key->name : NULL);
	log_cstr(&ln, "fmt", c->ep == EP_NONE ? NULL : px_fmt_name(c->cfmt));
	log_cstr(&ln, "model", c->model);
	log_cstr(&ln, "provider", c->prov ? c->prov->name : NULL);
	log_cstr(&ln, "upstream_model", c->up_model);
	log_int(&ln, "status", c->status);
	log_ms(&ln, "latency", lat);
	log_ms(&ln, "first_byte", fb);
	log_int(&ln, "tokens_in", c->usage.input);
	log_int(&ln, "tokens_out", c->usage.output);
	if (c->dropped)
		log_cstr(&ln, "dropped_tools", c->dropped);
	if (c->cut)
		log_cstr(&ln, "cut", "1");
	if (c->errmsg[0])
		log_cstr(&ln, "error", c->errmsg);
	log_end(&ln);
}

/* ------------------------------------------------------------ request ids */

/* splitmix64 over a seeded counter: unique per process, unpredictable
 * enough for a correlation id (not a secret). */
static unsigned long long rid_state;

static void
rid_new(char *out, size_t cap)
{
	static const char b62[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned long long z;
	size_t i, k = 0;
	int round;

	if (cap < 29)
		return;
	memcpy(out, "req_", 4);
	k = 4;
	for (round = 0; round < 2; round++) {
		z = (rid_state += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		for (i = 0; i < 12; i++) {
			out[k++] = b62[z % 62];
			z /= 62;
		}
	}
	out[k] = 0;
}

/* The client's x-request-id when it is a sane token, else a new one. */
static void
rid_take(struct conn *c, const char *v, size_t n)
{
	size_t i;

	if (v && n > 0 && n < 65) {
		for (i = 0; i < n; i++)
			if (!isalnum((unsigned char)v[i]) &&
			    !strchr("._:-", v[i]))
				break;
		if (i == n) {
			memcpy(c->rid, v, n);
			c->rid[n] = 0;
			return;
		}
	}
	rid_new(c->rid, sizeof c->rid);
}

/* ------------------------------------------------------------ responses */

static void
send_head(struct conn *c, int status, const char *ctype, long long clen,
    const char *extra)
{
	char line[64];
	size_t k;

	c->status = status;
	memcpy(line, "HTTP/1.1 ", 9);
	k = 9 + fmt_u(line + 9, (unsigned)status, 10);
	line[k++] = ' ';
	out_put(c, line, k);
	out_str(c, http_reason(status));
	out_put(c, "\r\n", 2);
	if (ctype) {
		out_put(c, "Content-Type: ", 14);
		out_str(c, ctype);
		out_put(c, "\r\n", 2);
	}
	if (clen >= 0) {
		memcpy(line, "Content-Length: ", 16);
		k = 16 + fmt_u(line + 16, (unsigned long long)clen, 10);
		line[k++] = '\r';
		line[k++] = '\n';
		out_put(c, line, k);
	} else if (clen == -1) {
		out_put(c, "Transfer-Encoding: chunked\r\n", 28);
	}
	/* -2: close-delimited (HTTP/1.0 client or Connection: close) */
	if (c->rid[0]) {
		out_put(c, "x-request-id: ", 14);
		out_str(c, c->rid);
		out_put(c, "\r\n", 2);
	}
	if (c->fwd)
		out_str(c, c->fwd);
	if (extra && *extra)
		out_str(c, extra);
	if (c->dropped) {
		out_put(c, "x-llmproxy-dropped-tools: ", 26);
		out_str(c, c->dropped);
		out_put(c, "\r\n", 2);
	}
	if (!c->keep_alive || draining)
		out_put(c, "Connection: close\r\n", 19);
	out_put(c, "\r\n", 2);
	c->head_sent = 1;
	if (!c->t_first_us)
		c->t_first_us = clock_us();
}

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

static void
set_errmsg(struct conn *c, const char *msg)
{
	size_t n = strlen(msg);

	if (n >= sizeof c->errmsg)
		n = sizeof c->errmsg - 1;
	memcpy(c->errmsg, msg, n);
	c->errmsg[n] = 0;
}

/* An error in the client's own format. */
static void
send_error_extra(struct conn *c, int status, const char *msg,
    const char *extra)
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
	set_errmsg(c, msg);
	send_body(c, status, "application/json", w.buf, w.len, extra);
}

static void
send_error(struct conn *c, int status, const char *msg)
{
	send_error_extra(c, status, msg, NULL);
}

/* 405 in the shape of the endpoint family. */
static void
send_405(struct conn *c, const char *allow)
{
	char extra[64];

	snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
	set_errmsg(c, "method not allowed");
	send_body(c, 405, "application/json", "{\"error\":\"method not allowed\"}",
	    30, extra);
}

/* ------------------------------------------------------------ forwarded
 * upstream headers */

/*
 * Which upstream response headers reach the client: request ids and the
 * retry/rate-limit hints the official SDKs pace their retries with. Never
 * hop-by-hop or framing headers. The upstream's x-request-id becomes
 * x-upstream-request-id (x-request-id is the proxy's own id); Anthropic's
 * request-id passes as it is. A converted answer also gets the rate-limit
 * headers of the client's own format where an equivalent exists
 * (anthropic-ratelimit-requests-* <-> x-ratelimit-*-requests, and tokens).
 */
static const char *const fwd_exact[] = {
	"retry-after-ms", "x-should-retry", "request-id",
	NULL
};
static const char *const fwd_prefix[] = {
	"x-ratelimit-", "anthropic-ratelimit-", NULL
};

/* Anthropic name <-> OpenAI name, and whether the value is a reset time. */
static const struct { const char *ant, *oai; int reset; } rl_map[] = {
	{ "anthropic-ratelimit-requests-limit", "x-ratelimit-limit-requests", 0 },
	{ "anthropic-ratelimit-requests-remaining", "x-ratelimit-remaining-requests", 0 },
	{ "anthropic-ratelimit-requests-reset", "x-ratelimit-reset-requests", 1 },
	{ "anthropic-ratelimit-tokens-limit", "x-ratelimit-limit-tokens", 0 },
	{ "anthropic-ratelimit-tokens-remaining", "x-ratelimit-remaining-tokens", 0 },
	{ "anthropic-ratelimit-tokens-reset", "x-ratelimit-reset-tokens", 1 },
};

static int
hdr_safe_value(struct http_str v)
{
	size_t i;

	if (v.n > 512)
		return 0;
	for (i = 0; i < v.n; i++)
		if ((unsigned char)v.p[i] < 0x20 && v.p[i] != '\t')
			return 0;
	return 1;
}

static int
name_prefix(struct http_str n, const char *pre)
{
	size_t k = strlen(pre), i;

	if (n.n <= k)
		return 0;
	for (i = 0; i < k; i++)
		if (tolower((unsigned char)n.p[i]) != pre[i])
			return 0;
	return 1;
}

/* "2026-12-04T13:39:30Z" (or with fraction/offset) -> unix seconds, -1 */
static long long
rfc3339_secs(struct http_str v)
{
	char b[64];
	struct tm tm;
	int y, mo, d, h, mi, s, oh = 0, om = 0, n = 0;
	const char *p;
	long long t;

	if (v.n >= sizeof b)
		return -1;
	memcpy(b, v.p, v.n);
	b[v.n] = 0;
	if (sscanf(b, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s,
	    &n) != 6)
		return -1;
	p = b + n;
	if (*p == '.')
		while (*++p >= '0' && *p <= '9')
			;
	if (*p == '+' || *p == '-') {
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
			return -1;
		if (*p == '-') {
			oh = -oh;
			om = -om;
		}
	} else if (*p != 'Z' && *p != 'z') {
		return -1;
	}
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	t = (long long)timegm(&tm);
	return t - (long long)oh * 3600 - (long long)om * 60;
}

/* OpenAI duration "1s", "6m0s", "20ms", "1h2m3.5s" -> ms, -1 */
static long long
duration_ms(struct http_str v)
{
	long long total = 0;
	size_t i = 0;
	int any = 0;

	while (i < v.n) {
		double num = 0, frac = 0.1;
		int digits = 0;
		while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9') {
			num = num * 10 + (v.p[i++] - '0');
			digits++;
		}
		if (i < v.n && v.p[i] == '.') {
			i++;
			while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9') {
				num += (v.p[i++] - '0') * frac;
				frac /= 10;
				digits++;
			}
		}
		if (!digits || i >= v.n)
			return -1;
		if (v.p[i] == 'h') {
			total += (long long)(num * 3600000);
			i++;
		} else if (v.p[i] == 'm' && i + 1 < v.n && v.p[i + 1] == 's') {
			total += (long long)num;
			i += 2;
		} else if (v.p[i] == 'm') {
			total += (long long)(num * 60000);
			i++;
		} else if (v.p[i] == 's') {
			total += (long long)(num * 1000);
			i++;
		} else {
			return -1;
		}
		any = 1;
	}
	return any ? total : -1;
}

static void
jw_header(struct jw *w, const char *name, size_t nn, const char *val,
    size_t vn)
{
	jw_put(w, name, nn);
	jw_put(w, ": ", 2);
	jw_put(w, val, vn);
	jw_put(w, "\r\n", 2);
}

/* Build c->fwd from the upstream head. */
static void
fwd_headers(struct conn *c, const struct http_resp *r)
{
	struct jw w;
	size_t i, j;
	int same = c->passthrough;

	jw_init(&w, &c->arena, 16384);
	for (i = 0; i < r->nhdrs; i++) {
		struct http_str n = r->hdrs[i].name, v = r->hdrs[i].value;
		int ok = 0;

		if (!hdr_safe_value(v))
			continue;
		if (http_str_ieq(n, "x-request-id")) {
			jw_header(&w, "x-upstream-request-id", 21, v.p, v.n);
			continue;
		}
		for (j = 0; fwd_exact[j] && !ok; j++)
			ok = http_str_ieq(n, fwd_exact[j]);
		for (j = 0; fwd_prefix[j] && !ok; j++)
			ok = name_prefix(n, fwd_prefix[j]);
		if (!ok)
			continue;
		jw_header(&w, n.p, n.n, v.p, v.n);
		if (same)
			continue;
		/* the client format's own name for a rate-limit header */
		for (j = 0; j < sizeof rl_map / sizeof rl_map[0]; j++) {
			int from_ant = http_str_ieq(n, rl_map[j].ant);
			int from_oai = http_str_ieq(n, rl_map[j].oai);
			char val[64];
			size_t vn = 0;

			if (from_ant && c->cfmt != PX_FMT_ANTHROPIC &&
			    c->cfmt != PX_FMT_GEMINI) {
				if (rl_map[j].reset) {
					long long t = rfc3339_secs(v);
					long long d = t - wall_ms() / 1000;
					if (t < 0)
						break;
					vn = (size_t)snprintf(val, sizeof val,
					    "%llds", d < 0 ? 0 : d);
				} else if (v.n < sizeof val) {
					memcpy(val, v.p, v.n);
					vn = v.n;
				}
				if (vn)
					jw_header(&w, rl_map[j].oai,
					    strlen(rl_map[j].oai), val, vn);
				break;
			}
			if (from_oai && c->cfmt == PX_FMT_ANTHROPIC) {
				if (rl_map[j].reset) {
					long long ms = duration_ms(v);
					time_t t;
					struct tm tm;
					if (ms < 0)
						break;
					t = (time_t)((wall_ms() + ms + 999) / 1000);
					gmtime_r(&t, &tm);
					vn = strftime(val, sizeof val,
					    "%Y-%m-%dT%H:%M:%SZ", &tm);
				} else if (v.n < sizeof val) {
					memcpy(val, v.p, v.n);
					vn = v.n;
				}
				if (vn)
					jw_header(&w, rl_map[j].ant,
					    strlen(rl_map[j].ant), val, vn);
				break;
			}
		}
	}
	c->fwd = w.err || w.len == 0 ? NULL : w.buf;
}

/* ------------------------------------------------------------ request cycle */

static void
stream_state_free(struct conn *c)
{
	sse_free(&c->sse);
	memset(&c->sse, 0, sizeof c->sse);
	free(c->hold);
	c->hold = NULL;
	c->hold_len = c->hold_cap = 0;
	c->sse_blank = 1;
	c->sse_cr = 0;
	c->stream = NULL;
}

static void
req_reset(struct conn *c)
{
	if (c->up) {
		up_cancel(c->up);
		c->up = NULL;
	}
	stream_state_free(c);
	px_arena_free(&c->arena);
	px_arena_init(&c->arena, PX_ARENA_MAX);
	free(c->body);
	c->body = NULL;
	c->body_n = c->body_cap = 0;
	free(c->ubody);
	c->ubody = NULL;
	c->ubody_n = c->ubody_cap = 0;
	mem_release(c);
	c->head_len = 0;
	c->body_len = 0;
	c->chunked_body = 0;
	memset(&c->chk, 0, sizeof c->chk);
	c->ep = EP_NONE;
	memset(&c->req, 0, sizeof c->req);
	c->rbody = NULL;
	c->rbody_n = 0;
	c->root = NULL;
	c->model[0] = c->up_model[0] = 0;
	c->rid[0] = 0;
	c->method[0] = c->path[0] = 0;
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
	c->errmsg[0] = 0;
	c->head_sent = c->streaming = c->passthrough = c->resp_chunked = 0;
	c->is_head = c->sent_continue = c->cut = 0;
	c->ureq = NULL;
	c->ureq_len = 0;
	c->ubody_out = NULL;
	c->ubody_out_n = 0;
	c->ustatus = 0;
	c->retry_after[0] = 0;
	c->fwd = NULL;
	c->rs_keep = 0;
	c->rs_prev.p = c->rs_input.p = NULL;
	c->rs_prev.n = c->rs_input.n = 0;
}

static void
set_deadline(struct conn *c, int ms)
{
	ev_timer_set(loop, &c->timer, now_ms() + ms);
}

/* The response to the current request is complete (queued). */
static void
finish_request(struct conn *c)
{
	size_t consumed;

	if (c->t_start_us)
		access_log(c);
	/* drop the request bytes; keep pipelined bytes that follow */
	consumed = c->head_len + (c->chunked_body ? 0 :
	    (size_t)(c->body_len > 0 ? c->body_len : 0));
	if (c->head_len == 0 || consumed > c->in_len)
		consumed = c->in_len;
	if (consumed) {
		memmove(c->in, c->in + consumed, c->in_len - consumed);
		c->in_len -= consumed;
	}
	req_reset(c);
	if (!c->keep_alive || draining || c->body_unread)
		c->close_after = 1;   /* an unread body would be taken for the
		                         next request */
	c->body_unread = 0;
	c->read_paused = 0;
	c->phase = PH_FLUSH;
	set_deadline(c, cfg->idle_timeout_ms);
	client_update_mask(c);
	/* pipelined requests may wait in the buffer: next turn */
	ev_defer(loop, &c->defer);
}

static void
conn_deferred(struct ev_loop *l, struct ev_defer *d)
{
	struct conn *c = d->ud;

	(void)l;
	if (!c->closing)
		client_progress(c);
}

static void client_io(struct ev_loop *l, int fd, int events, void *ud);
static void client_timer(struct ev_loop *l, struct ev_timer *t);

static struct conn *
conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->fd = fd;
	c->id = next_conn_id++;
	c->prov_idx = -1;
	ev_timer_init(&c->timer, client_timer, c);
	ev_defer_init(&c->defer, conn_deferred, c);
	px_arena_init(&c->arena, PX_ARENA_MAX);
	req_reset(c);
	c->phase = PH_READ_HEAD;
	c->keep_alive = 1;
	if (ev_set(loop, fd, EV_READ, client_io, c) < 0) {
		px_arena_free(&c->arena);
		free(c);
		return NULL;
	}
	set_deadline(c, cfg->header_timeout_ms);
	c->next = conn_head;
	if (conn_head)
		conn_head->prev = c;
	conn_head = c;
	nconns++;
	return c;
}

/* Take c off the loop now; it is freed after this turn. */
static void
conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	if (c->phase != PH_READ_HEAD && c->phase != PH_FLUSH && c->t_start_us) {
		if (!c->status)
			c->status = 499;    /* client went away */
		access_log(c);
	}
	if (c->up) {
		up_cancel(c->up);
		c->up = NULL;
	}
	ev_del(loop, c->fd);
	ev_timer_stop(loop, &c->timer);
	ev_defer_cancel(loop, &c->defer);
	c->next_closed = closed_head;
	closed_head = c;
}

static void
conn_free(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		conn_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	nconns--;
	stream_state_free(c);
	px_arena_free(&c->arena);
	free(c->body);
	free(c->ubody);
	mem_release(c);
	mem_used -= c->in_cap < mem_used ? c->in_cap : mem_used;
	free(c->in);
	out_free(c);
	close(c->fd);
	free(c);
}

static void
reap_closed(void)
{
	while (closed_head) {
		struct conn *c = closed_head;
		closed_head = c->next_closed;
		conn_free(c);
	}
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
	set_errmsg(c, msg);
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
	DBG("conn %lu: continued a stored conversation (%zu bytes of history)",
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
		DBG("conn %lu: response not stored (no id, or not a response)",
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
		DBG("conn %lu: terminal event too large or not JSON: not stored", c->id);
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
		send_405(c, "GET, DELETE");
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

static void answer_fail(struct conn *c, int status, const char *fmt, ...);
static void up_begin(struct conn *c);
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
	jw_init(&h, &c->arena, 64 * 1024);
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
	if (h.err)
		return -1;
	c->ureq = h.buf;
	c->ureq_len = h.len;
	c->ubody_out = body;      /* sent after the head, not copied */
	c->ubody_out_n = n;
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
	DBG("conn %lu: embeddings model=%s -> %s/%s%s", c->id, c->model,
	    c->prov->name, c->up_model, c->passthrough ? " (passthrough)" : "");
	up_begin(c);
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
	DBG("conn %lu: gemini %s model=%s -> %s/%s%s", c->id,
	    batch ? "batchEmbedContents" : "embedContent", c->model,
	    c->prov->name, c->up_model, c->passthrough ? " (passthrough)" : "");
	up_begin(c);
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
	DBG("conn %lu: count tokens %s model=%s -> %s/%s", c->id,
	    px_fmt_name(c->cfmt), c->model, c->prov->name, c->up_model);
	up_begin(c);
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
			answer_fail(c, 502, "upstream %s: %s", c->prov->name, perr.msg);
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
			answer_fail(c, 502, "upstream %s: %s", c->prov->name, perr.msg);
			return 1;
		}
	} else if ((c->ep == EP_COUNT_TOKENS || c->ep == EP_GEMINI_COUNT) &&
	    !c->passthrough) {
		jw_init(&w, &c->arena, 4096);
		if (px_count_convert_response(c->ufmt, c->cfmt, &c->arena,
		    body, n, &w, &t, &perr) < 0) {
			answer_fail(c, 502, "upstream %s: %s", c->prov->name, perr.msg);
			return 1;
		}
	} else {
		return 0;
	}
	c->usage.input = t;
	send_body(c, 200, "application/json", w.buf, w.len, extra);
	return 1;
}


/* ------------------------------------------------------------ the request */

/* Recompute what c holds and charge the difference. */
static void
mem_sync(struct conn *c)
{
	size_t now = c->arena.total + c->body_cap + c->ubody_cap;

	if (now >= c->mem)
		mem_used += now - c->mem;
	else
		mem_used -= (c->mem - now) < mem_used ? c->mem - now : mem_used;
	c->mem = now;
}

/* The 503 for a spent memory budget, in the client's format. */
static void
send_busy(struct conn *c)
{
	c->keep_alive = 0;
	send_error_extra(c, 503, "the proxy is at its memory budget for "
	    "requests in flight (limits.memory_bytes): retry shortly",
	    "Retry-After: 1\r\n");
}

/* 1 when a top-level member name appears twice. */
static int
dup_top_key(struct px_arena *a, const struct json *obj, const char **which)
{
	const struct json *m, *p;
	size_t n = obj->len, i, j;
	const struct json **v;

	if (n <= 64) {
		for (m = obj->child; m; m = m->next)
			for (p = obj->child; p != m; p = p->next)
				if (p->keylen == m->keylen &&
				    memcmp(p->key, m->key, m->keylen) == 0) {
					*which = m->key;
					return 1;
				}
		return 0;
	}
	/* many members: sort by (length, bytes) and compare neighbours */
	v = px_arena_alloc(a, n * sizeof *v);
	if (v == NULL)
		return 0;
	for (i = 0, m = obj->child; m && i < n; m = m->next)
		v[i++] = m;
	n = i;
	{       /* Shell sort: no recursion, no allocation */
		size_t gap;
		for (gap = n / 2; gap > 0; gap /= 2)
			for (i = gap; i < n; i++) {
				const struct json *t = v[i];
				for (j = i; j >= gap; j -= gap) {
					const struct json *q = v[j - gap];
					int cmp = q->keylen != t->keylen ?
					    (q->keylen < t->keylen ? -1 : 1) :
					    memcmp(q->key, t->key, t->keylen);
					if (cmp <= 0)
						break;
					v[j] = q;
				}
				v[j] = t;
			}
	}
	for (i = 1; i < n; i++)
		if (v[i]->keylen == v[i - 1]->keylen &&
		    memcmp(v[i]->key, v[i - 1]->key, v[i]->keylen) == 0) {
			*which = v[i]->key;
			return 1;
		}
	return 0;
}

static int
has_ctl(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/*
 * The body with its top-level "model" value replaced by the upstream
 * model: a splice at the value's source bytes (the body was parsed once;
 * everything else stays byte for byte).
 */
static int
splice_model(struct conn *c, const char **body, size_t *n)
{
	struct json *m = json_get(c->root, "model");
	struct jw w;
	size_t pre;

	if (m == NULL || m->raw == NULL)
		return 0;
	pre = (size_t)(m->raw - *body);
	jw_init(&w, &c->arena, *n + strlen(c->up_model) * 6 + 64);
	jw_put(&w, *body, pre);
	jw_str(&w, c->up_model, strlen(c->up_model));
	jw_put(&w, m->raw + m->rawlen, *n - pre - m->rawlen);
	if (w.err)
		return -1;
	*body = w.buf;
	*n = w.len;
	return 0;
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
	const char *um, *dup;
	struct jw w;

	c->rbody = body;
	c->rbody_n = n;
	/* work per request is bounded relative to its size */
	c->arena.cap = PX_ARENA_BASE + PX_ARENA_FACTOR * n;
	if (c->arena.cap > PX_ARENA_MAX)
		c->arena.cap = PX_ARENA_MAX;
	c->req.max_tokens = -1;
	c->req.n = -1;
	c->req.thinking_budget = -1;
	c->req.include_thoughts = -1;
	c->req.parallel_tool_calls = -1;
	c->req.store = -1;
	c->req.rf_strict = -1;

	/* One parse finds the model and stream flag for every path; the
	 * tree is kept for everything after it. */
	if (c->cfmt != PX_FMT_GEMINI || n > 0) {
		root = json_parse(&c->arena, body, n, 0, &jerr);
		if (!root) {
			char msg[200];
			if (jerr.code == JSON_ERR_NOMEM) {
				snprintf(msg, sizeof msg, "request too complex: "
				    "parsing it needs more than %zu bytes of "
				    "working memory", c->arena.cap);
				send_error(c, 413, msg);
				return;
			}
			snprintf(msg, sizeof msg, "invalid JSON at byte %zu: %s",
			    jerr.pos, jerr.msg ? jerr.msg : "syntax error");
			send_error(c, 400, msg);
			return;
		}
		if (root->type != JSON_OBJECT) {
			send_error(c, 400, "request body must be a JSON object");
			return;
		}
		if (dup_top_key(&c->arena, root, &dup)) {
			char msg[200];
			snprintf(msg, sizeof msg, "duplicate key \"%.64s\" in the "
			    "request body", dup);
			send_error(c, 400, msg);
			return;
		}
	}
	c->root = root;
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
		if (has_ctl(m, mn)) {
			send_error(c, 400, "model name contains control "
			    "characters");
			return;
		}
		memcpy(c->model, m, mn);
		c->model[mn] = 0;
		c->req.stream = st && st->type == JSON_TRUE;
	} else {
		c->req.stream = c->ep == EP_GEMINI_STREAM;
	}
	mem_sync(c);
	if (mem_over(0)) {
		send_busy(c);
		return;
	}

	route = px_route_find(cfg, c->model, strlen(c->model));
	if (!route) {
		char msg[1024];
		if (cfg->path[0])
			snprintf(msg, sizeof msg,
			    "model '%s' is not configured: add it to \"models\" "
			    "in %s (e.g. \"%s\": \"<provider>\" or "
			    "\"<provider>/<upstream-model>\")",
			    c->model, cfg->path, c->model);
		else
			snprintf(msg, sizeof msg,
			    "model '%s' is not configured: set OPENAI_API_KEY, "
			    "ANTHROPIC_API_KEY or GEMINI_API_KEY for zero-config "
			    "routing, or start llmproxy with -c FILE",
			    c->model);
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
		if (c->cfmt != PX_FMT_GEMINI &&
		    (strcmp(c->up_model, c->model) != 0 || body != c->rbody)) {
			/* rs_prepare may have rebuilt the body: parse that */
			if (body != c->rbody) {
				c->root = json_parse(&c->arena, body, n, 0, NULL);
				if (c->root == NULL) {
					send_error(c, 413, "request too complex");
					return;
				}
			}
			if (strcmp(c->up_model, c->model) != 0 &&
			    splice_model(c, &body, &n) < 0) {
				send_error(c, 413, "request too large");
				return;
			}
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
	DBG("conn %lu: %s model=%s -> %s/%s%s", c->id, px_fmt_name(c->cfmt),
	    c->model, c->prov->name, c->up_model, c->passthrough ? " (passthrough)" : "");
	up_begin(c);
}

/* Process a complete request head. */
static void
handle_head(struct conn *c, struct http_req *r)
{
	char gmodel[256];
	int is_post;
	size_t an = 0, xn = 0, gn = 0, vn = 0, bn = 0, in = 0;
	const char *a, *x, *g, *v, *b, *idh;
	char qkey[512];
	int qn;
	size_t kn;
	const char *key;

	c->t_start_us = clock_us();
	c->keep_alive = r->keep_alive;
	c->is_head = http_str_eq(r->method, "HEAD");
	snprintf(c->method, sizeof c->method, "%.*s",
	    (int)(r->method.n < sizeof c->method ? r->method.n :
	    sizeof c->method - 1), r->method.p);
	snprintf(c->path, sizeof c->path, "%.*s",
	    (int)(r->path.n < sizeof c->path ? r->path.n : sizeof c->path - 1),
	    r->path.p);
	idh = hdr_val(r, "x-request-id", &in);
	rid_take(c, idh, in);
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
				send_405(c, "GET, HEAD");
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
				send_405(c, "GET");
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
		set_errmsg(c, "method not allowed");
		send_body(c, 405, "application/json", m405, sizeof m405 - 1,
		    "Allow: POST\r\n");
		return;
	}
	if (c->cfmt == PX_FMT_GEMINI) {
		char alt[16];
		if (has_ctl(gmodel, strlen(gmodel))) {
			send_error(c, 400, "model name contains control "
			    "characters");
			return;
		}
		snprintf(c->model, sizeof c->model, "%s", gmodel);
		c->gemini_alt_sse = http_query_param(r->query, "alt", alt, sizeof alt) > 0 &&
		    strcmp(alt, "sse") == 0;
	}
	if (r->content_length > 0 && (size_t)r->content_length > cfg->body_max) {
		c->keep_alive = 0;
		send_error(c, 413, "request body too large");
		return;
	}
	/* admission: the body and its working memory must fit the budget */
	if (mem_over(r->content_length > 0 ? (size_t)r->content_length : 0)) {
		send_busy(c);
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

/* Answer a request head or body that cannot be taken. */
static void
refuse_request(struct conn *c, int status, const char *msg)
{
	c->keep_alive = 0;
	if (!c->t_start_us)
		c->t_start_us = clock_us();
	send_error(c, status, msg);
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
			if (c->in_len > cfg->header_max)
				refuse_request(c, 431, "request header fields too large");
			return;
		}
		if (rc < 0) {
			refuse_request(c, r.error_status ? r.error_status : 400,
			    r.error ? r.error : "bad request");
			return;
		}
		if ((size_t)rc > cfg->header_max) {
			refuse_request(c, 431, "request header fields too large");
			return;
		}
		set_deadline(c, cfg->header_timeout_ms);
		c->head_len = (size_t)rc;
		c->body_unread = r.chunked || r.content_length > 0;
		handle_head(c, &r);   /* header views die here */
		if (c->phase != PH_READ_BODY)
			return;
	}
	if (c->phase == PH_READ_BODY) {
		if (c->chunked_body) {
			/* decoded payload goes to c->body; the framing is
			 * dropped from the input buffer as it is consumed, so
			 * tiny chunks cannot fill it */
			size_t off = c->head_len;
			while (!c->chk.done) {
				const char *d;
				size_t dn;
				long k = http_chunked_feed(&c->chk, c->in + off,
				    c->in_len - off, &d, &dn);
				if (k < 0) {
					refuse_request(c, 400, "bad chunked encoding");
					return;
				}
				if (dn) {
					if (c->body_n + dn > cfg->body_max) {
						refuse_request(c, 413, "request body too large");
						return;
					}
					if (c->body_n + dn > c->body_cap) {
						size_t nc = c->body_cap ? c->body_cap : 4096;
						char *p;
						while (nc < c->body_n + dn)
							nc *= 2;
						if (mem_over(nc - c->body_cap)) {
							send_busy(c);
							return;
						}
						p = realloc(c->body, nc);
						if (!p) {
							conn_close(c);
							return;
						}
						c->body = p;
						c->body_cap = nc;
						mem_sync(c);
					}
					memcpy(c->body + c->body_n, d, dn);
					c->body_n += dn;
				}
				off += (size_t)k;
				if (k == 0 && dn == 0 && !c->chk.done)
					break;
			}
			if (off > c->head_len) {
				memmove(c->in + c->head_len, c->in + off,
				    c->in_len - off);
				c->in_len -= off - c->head_len;
			}
			if (!c->chk.done)
				return;
			c->phase = PH_UPSTREAM;
			c->body_unread = 0;
			handle_request(c, c->body ? c->body : "", c->body_n);
			return;
		}
		if (c->in_len - c->head_len < (size_t)c->body_len)
			return;
		c->phase = PH_UPSTREAM;
		c->body_unread = 0;
		handle_request(c, c->in + c->head_len, (size_t)c->body_len);
	}
}

/* One read from the client (at most the room left in its buffer). */
static void
client_read(struct conn *c)
{
	size_t limit = cfg->header_max + cfg->body_max + 64 * 1024;
	ssize_t r;

	if (c->in_len == c->in_cap) {
		size_t nc = c->in_cap ? c->in_cap * 2 : 4096;
		char *p;
		if (c->in_cap >= limit) {
			/* full and the request is still not complete: the
			 * framing alone overflows the buffer */
			refuse_request(c, 413, "request too large for the input "
			    "buffer");
			return;
		}
		if (nc > limit)
			nc = limit;
		p = realloc(c->in, nc);
		if (!p) {
			conn_close(c);
			return;
		}
		mem_used += nc - c->in_cap;
		c->in = p;
		c->in_cap = nc;
	}
	r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (r > 0) {
		c->in_len += (size_t)r;
		return;
	}
	if (r == 0) {
		c->client_eof = 1;
		return;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return;
	c->client_eof = 1;
}

/* ------------------------------------------------------------ upstream I/O */

static void up_on_head(void *ud, const struct http_resp *r);
static void up_on_data(void *ud, const char *p, size_t n);
static void up_on_end(void *ud, int complete);
static void up_on_error(void *ud, enum up_err e, const char *msg);

static const struct up_callbacks up_cbs = {
	up_on_head, up_on_data, up_on_end, up_on_error
};

/* Hand the built request to the upstream engine. */
static void
up_begin(struct conn *c)
{
	struct up_target t;
	struct up_timeouts to;

	mem_sync(c);
	if (mem_over(0)) {
		send_busy(c);
		return;
	}
	t.host = c->prov->host;
	t.port = c->prov->port;
	t.tls = c->prov->tls;
	t.label = c->prov->name;
	to.connect_ms = cfg->connect_timeout_ms;
	to.first_byte_ms = cfg->first_byte_timeout_ms;
	to.idle_ms = cfg->stream_idle_timeout_ms;
	c->phase = PH_UPSTREAM;
	ev_timer_stop(loop, &c->timer);    /* the engine times the upstream */
	c->up = up_start(upe, &t, &to, c->ureq, c->ureq_len, c->ubody_out,
	    c->ubody_out_n, &up_cbs, c);
	if (c->up == NULL) {
		send_busy(c);
		return;
	}
	client_update_mask(c);
}

/*
 * Tell a streaming client, in its own format, that the stream broke. A
 * converted stream's encoder knows where it is; a passthrough stream was
 * never encoded, so a fresh encoder writes a bare error event.
 */
static void
stream_cutoff(struct conn *c, int status, const char *msg)
{
	struct px_stream *s = c->stream;
	struct ir_error e;

	memset(&e, 0, sizeof e);
	e.status = status;
	e.kind = status == 504 ? IR_ERR_TIMEOUT : status == 503 ?
	    IR_ERR_UNAVAILABLE : IR_ERR_BAD_GATEWAY;
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

/* End a started stream with an in-band error and finish the request. */
static void
stream_abort(struct conn *c, int status, const char *msg)
{
	stream_cutoff(c, status, msg);
	c->cut = 1;
	set_errmsg(c, msg);
	if (c->stream)
		c->usage = *px_stream_usage(c->stream);
	if (c->resp_chunked)
		out_put(c, "0\r\n\r\n", 5);
	else
		c->keep_alive = 0;
	finish_request(c);
	out_flush(c);
}

/* A failure after routing: an in-band error when a stream has started,
 * an error answer when nothing was sent, else just close. */
static void
answer_fail(struct conn *c, int status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->up) {
		up_cancel(c->up);
		c->up = NULL;
	}
	if (c->streaming && c->stream) {
		stream_abort(c, status, msg);
		return;
	}
	if (c->head_sent) {
		set_errmsg(c, msg);
		conn_close(c);
		return;
	}
	send_error(c, status, msg);
	out_flush(c);
}

static void
up_on_error(void *ud, enum up_err e, const char *msg)
{
	struct conn *c = ud;
	int status = 502;

	c->up = NULL;
	if (e == UP_E_FIRST_BYTE_TIMEOUT || e == UP_E_IDLE_TIMEOUT)
		status = 504;
	else if (e == UP_E_NOMEM)
		status = 503;
	answer_fail(c, status, "%s", msg);
}

/* Keep a non-streamed answer (malloc, bounded, charged to the budget). */
static int
ubody_append(struct conn *c, const char *p, size_t n)
{
	if (EP_IS_EMBED(c->ep) && !c->passthrough &&
	    c->ustatus / 100 == 2 && c->ubody_n + n > PX_EMBED_RESP_MAX) {
		answer_fail(c, 502, "upstream %s: embeddings answer larger than %u bytes (PX_EMBED_RESP_MAX): send fewer inputs or fewer dimensions",
		    c->prov->name, (unsigned)PX_EMBED_RESP_MAX);
		return -1;
	}
	if (c->ubody_n + n > PX_RESP_MAX) {
		answer_fail(c, 502, "upstream %s: response body too large",
		    c->prov->name);
		return -1;
	}
	if (c->ubody_n + n > c->ubody_cap) {
		size_t nc = c->ubody_cap ? c->ubody_cap * 2 : 16384;
		char *np;
		while (nc < c->ubody_n + n)
			nc *= 2;
		if (mem_over(nc - c->ubody_cap)) {
			answer_fail(c, 503, "the proxy is at its memory budget "
			    "for requests in flight (limits.memory_bytes)");
			return -1;
		}
		np = realloc(c->ubody, nc);
		if (!np) {
			answer_fail(c, 503, "out of memory");
			return -1;
		}
		c->ubody = np;
		c->ubody_cap = nc;
		mem_sync(c);
	}
	memcpy(c->ubody + c->ubody_n, p, n);
	c->ubody_n += n;
	return 0;
}

static void
up_on_head(void *ud, const struct http_resp *r)
{
	struct conn *c = ud;
	const struct http_hdr *ra, *ct;

	c->ustatus = r->status;
	if (!c->t_first_us)
		c->t_first_us = clock_us();
	ra = http_find(r->hdrs, r->nhdrs, "retry-after");
	if (ra && ra->value.n < sizeof c->retry_after &&
	    hdr_safe_value(ra->value)) {
		memcpy(c->retry_after, ra->value.p, ra->value.n);
		c->retry_after[ra->value.n] = 0;
	}
	fwd_headers(c, r);
	ct = http_find(r->hdrs, r->nhdrs, "content-type");
	c->streaming = r->status == 200 && c->req.stream &&
	    !(ct && ct->value.n >= 16 && memcmp(ct->value.p, "application/json", 16) == 0 &&
	      c->ufmt != PX_FMT_GEMINI);
	if (!c->streaming) {
		if (r->content_length > 0 && (uint64_t)r->content_length <=
		    PX_RESP_MAX && !mem_over((size_t)r->content_length)) {
			c->ubody = malloc((size_t)r->content_length);
			if (c->ubody) {
				c->ubody_cap = (size_t)r->content_length;
				mem_sync(c);
			}
		}
		return;
	}
	{
		const char *ctype = c->cfmt == PX_FMT_GEMINI && c->req.gemini_array_stream ?
		    "application/json" : "text/event-stream";
		c->resp_chunked = c->keep_alive ? 1 : 0;
		send_head(c, 200, ctype, c->resp_chunked ? -1 : -2,
		    "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
		if (!c->resp_chunked)
			c->keep_alive = 0;   /* HTTP/1.0: close-delimited */
	}
	sse_init(&c->sse);
	c->sse_blank = 1;
	c->sse_cr = 0;
	c->hold_len = 0;
	c->stream = px_stream_new(&c->arena, c->ufmt, c->cfmt, &c->req);
	if (!c->stream) {
		answer_fail(c, 500, "out of memory");
		return;
	}
	jw_init(&c->sout, &c->arena, SSE_EVENT_MAX * 2);
	if (!c->passthrough) {
		px_stream_begin(c->stream, &c->sout);
		out_chunk(c, c->sout.buf, c->sout.len);
		jw_reset(&c->sout);
	}
	out_flush(c);
}

/*
 * Length of the prefix of p[0..n) that ends at the last SSE event boundary
 * (a blank line; LF, CRLF or CR line ends, as the SSE spec allows), or 0.
 * The scanner state carries over between calls. Runs of ordinary bytes
 * are skipped with memchr-class scans.
 */
static size_t
sse_boundary(struct conn *c, const char *p, size_t n)
{
	size_t i = 0, end = 0;

	while (i < n) {
		unsigned char ch = (unsigned char)p[i];

		if (ch != '\n' && ch != '\r') {
			/* jump to the next line end */
			const char *lf = memchr(p + i, '\n', n - i);
			const char *cr = memchr(p + i, '\r', (size_t)((lf ? lf : p + n) - (p + i)));
			const char *e = cr ? cr : lf;
			c->sse_blank = 0;
			c->sse_cr = 0;
			if (e == NULL)
				return end;
			i = (size_t)(e - p);
			continue;
		}
		if (ch == '\n' && c->sse_cr) {
			c->sse_cr = 0;          /* LF of a CRLF: already counted */
			if (end == i)
				end = i + 1;    /* keep the pair together */
			i++;
			continue;
		}
		c->sse_cr = ch == '\r';
		if (c->sse_blank)
			end = i + 1;
		c->sse_blank = 1;
		i++;
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
			/* the held head of an event and the rest, as one chunk */
			if (out_reserve(c, c->hold_len + b + 32) < 0)
				return -1;
			if (c->resp_chunked) {
				char hdr[24];
				size_t k = fmt_u(hdr, c->hold_len + b, 16);
				hdr[k++] = '\r';
				hdr[k++] = '\n';
				out_put(c, hdr, k);
				out_put(c, c->hold, c->hold_len);
				out_put(c, p, b);
				out_put(c, "\r\n", 2);
			} else {
				out_put(c, c->hold, c->hold_len);
				out_put(c, p, b);
			}
			c->hold_len = 0;
		} else {
			out_chunk(c, p, b);
		}
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

static void
up_on_data(void *ud, const char *p, size_t n)
{
	struct conn *c = ud;

	if (!c->streaming) {
		ubody_append(c, p, n);
		return;
	}
	if (c->passthrough && pass_through(c, p, n) < 0) {
		answer_fail(c, 502, "upstream %s: SSE event too large", c->prov->name);
		return;
	}
	while (n > 0) {
		struct sse_event ev;
		int got = 0;
		long k = sse_feed(&c->sse, p, n, &ev, &got);
		if (k < 0) {
			answer_fail(c, 502, "upstream %s: SSE event too large",
			    c->prov->name);
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
				answer_fail(c, 502, "converted event too large");
				return;
			}
		}
		if (c->closing)
			return;
	}
	out_flush(c);
	if (!c->closing && c->up && !c->up_paused &&
	    out_pending(c) > PX_OUT_HIGH) {
		c->up_paused = 1;
		up_pause(c->up);
	}
}

/* The stream's upstream body ended: complete or cut short. */
static void
stream_end(struct conn *c, int complete)
{
	int clean;
	struct sse_event ev;

	if (!complete) {
		/* framing says the body was cut short */
		const char *m = "upstream connection closed before the response was complete";
		stream_cutoff(c, 502, m);
		c->cut = 1;
		set_errmsg(c, m);
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
			stream_cutoff(c, 502, "upstream stream ended before completion");
		if (!clean) {
			c->cut = 1;
			set_errmsg(c, "upstream stream ended without its terminal event");
		}
	}
	c->usage = *px_stream_usage(c->stream);
	if (c->resp_chunked)
		out_put(c, "0\r\n\r\n", 5);
	finish_request(c);
	out_flush(c);
}

static void
up_on_end(void *ud, int complete)
{
	struct conn *c = ud;
	int st = c->ustatus;
	char extra[96];
	const char *body;
	size_t n;
	struct jw w;
	struct px_err perr;

	c->up = NULL;
	if (c->streaming) {
		stream_end(c, complete);
		return;
	}
	if (!complete) {
		answer_fail(c, 502, "upstream %s: connection closed before the response was complete",
		    c->prov->name);
		return;
	}
	body = c->ubody ? c->ubody : "";
	n = c->ubody_n;
	/* the answer's working memory is bounded relative to its size too */
	c->arena.cap += PX_ARENA_FACTOR * n;
	if (c->arena.cap > PX_ARENA_MAX)
		c->arena.cap = PX_ARENA_MAX;
	extra[0] = 0;
	if (c->retry_after[0])
		snprintf(extra, sizeof extra, "Retry-After: %s\r\n", c->retry_after);
	if (st < 200 || st >= 300) {
		struct ir_error e;
		int cst;
		char msg[160];
		px_decode_error(c->ufmt, &c->arena, st, body, n, &e);
		cst = px_error_status(c->cfmt, &e);
		snprintf(msg, sizeof msg, "upstream %s answered %d", c->prov->name, st);
		if (c->passthrough && cst == st) {
			set_errmsg(c, msg);
			send_body(c, st, "application/json", body, n, extra);
			out_flush(c);
			return;
		}
		jw_init(&w, &c->arena, n + 4096);
		px_encode_error(c->cfmt, &e, &w);
		set_errmsg(c, msg);
		send_body(c, cst, "application/json", w.buf, w.len, extra);
		out_flush(c);
		return;
	}
	if (embed_count_answer(c, st, body, n, extra)) {
		out_flush(c);
		return;
	}
	if (c->passthrough) {
		/* usage for the log, best effort */
		struct ir_response resp;
		struct px_err e2;
		if (px_decode_response(c->cfmt, &c->arena, body, n, &resp, &e2) == 0)
			c->usage = resp.usage;
		rs_save(c, body, n);
		send_body(c, st, "application/json", body, n, extra);
		out_flush(c);
		return;
	}
	{
		struct ir_response resp;
		if (px_decode_response(c->ufmt, &c->arena, body, n, &resp, &perr) < 0) {
			answer_fail(c, 502, "upstream %s: cannot decode response: %s",
			    c->prov->name, perr.msg);
			return;
		}
		c->usage = resp.usage;
		jw_init(&w, &c->arena, n * 2 + 65536);
		if (px_encode_response(c->cfmt, &c->req, &resp, &w, &perr) < 0 || w.err) {
			answer_fail(c, 502, "cannot encode response: %s", perr.msg);
			return;
		}
		rs_save(c, w.buf, w.len);
		send_body(c, 200, "application/json", w.buf, w.len, extra);
		out_flush(c);
	}
}

/* ------------------------------------------------------------ client I/O */

/* The kernel interest of the client socket. */
static void
client_update_mask(struct conn *c)
{
	int m = 0;

	if (c->closing)
		return;
	if (out_pending(c))
		m |= EV_WRITE;
	if (c->phase != PH_UPSTREAM || !c->read_paused)
		m |= EV_READ;
	ev_mask(loop, c->fd, m);
}

static void
client_timer(struct ev_loop *l, struct ev_timer *t)
{
	struct conn *c = t->ud;

	(void)l;
	switch (c->phase) {
	case PH_READ_HEAD:
		if (c->in_len == 0) {
			conn_close(c);       /* idle keep-alive */
			return;
		}
		/* fallthrough */
	case PH_READ_BODY:
		refuse_request(c, 408, "request timeout: the request was not "
		    "received in time");
		out_flush(c);
		client_progress(c);
		return;
	case PH_FLUSH:
		conn_close(c);
		return;
	case PH_UPSTREAM:
		return;             /* the upstream engine keeps the time */
	}
}

static void
client_io(struct ev_loop *l, int fd, int events, void *ud)
{
	struct conn *c = ud;

	(void)l;
	(void)fd;
	if (events & (EV_READ | EV_ERROR)) {
		if (c->phase != PH_UPSTREAM) {
			client_read(c);
		} else {
			/* mid-request: only look for EOF; pipelined bytes wait
			 * in the kernel (the body in our buffer must not move) */
			char b[1];
			ssize_t r = recv(c->fd, b, 1, MSG_PEEK);
			if (r == 0 || (r < 0 && errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR)) {
				DBG("conn %lu: client closed mid-request", c->id);
				conn_close(c);
				return;
			}
			if (r > 0) {
				c->read_paused = 1;
				client_update_mask(c);
			}
		}
		if (c->closing)
			return;
	}
	if (events & EV_WRITE)
		out_flush(c);
	if (!c->closing)
		client_progress(c);
}

/* After reading or a queued answer: flush, then go on with the next
 * pipelined request or wait. */
static void
client_progress(struct conn *c)
{
	int guard = 0;

	while (!c->closing && guard++ < 64) {
		if (c->phase == PH_FLUSH) {
			if (out_pending(c))
				out_flush(c);
			if (c->closing || out_pending(c))
				break;
			if (c->close_after) {
				conn_close(c);
				return;
			}
			c->phase = PH_READ_HEAD;
			set_deadline(c, c->in_len ? cfg->header_timeout_ms :
			    cfg->idle_timeout_ms);
			if (draining && c->in_len == 0) {
				conn_close(c);
				return;
			}
			if (c->in_len == 0 && c->in_cap > 0) {
				/* idle: keep no input buffer */
				mem_used -= c->in_cap < mem_used ? c->in_cap :
				    mem_used;
				free(c->in);
				c->in = NULL;
				c->in_cap = 0;
			}
		}
		if (c->phase == PH_READ_HEAD || c->phase == PH_READ_BODY) {
			enum phase before = c->phase;
			size_t before_len = c->in_len;
			client_parse(c);
			if (c->closing)
				return;
			if (c->phase == before && c->in_len == before_len) {
				if (c->client_eof) {
					conn_close(c);
					return;
				}
				break;
			}
			continue;
		}
		break;
	}
	client_update_mask(c);
}

/* ------------------------------------------------------------ accept */

static void accept_io(struct ev_loop *l, int fd, int events, void *ud);

static void
accept_resume(struct ev_loop *l, struct ev_timer *t)
{
	(void)t;
	if (listen_fd >= 0)
		ev_mask(l, listen_fd, EV_READ);
}

static void
client_addr(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char h[INET6_ADDRSTRLEN];

	c->addr[0] = 0;
	if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, h, sizeof h);
		snprintf(c->addr, sizeof c->addr, "%s:%d", h, ntohs(s4->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, h, sizeof h);
		snprintf(c->addr, sizeof c->addr, "[%s]:%d", h,
		    ntohs(s6->sin6_port));
	} else {
		snprintf(c->addr, sizeof c->addr, "local");
	}
}

static void
accept_io(struct ev_loop *l, int fd, int events, void *ud)
{
	static const char busy[] =
	    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 58\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{\"error\":{\"message\":\"too many connections\",\"type\":\"busy\"}}";
	int i;

	(void)events;
	(void)ud;
	/* a bounded number per turn: accepting is work too */
	for (i = 0; i < 64; i++) {
		struct conn *c;
		int one = 1;
		int cfd = accept(fd, NULL, NULL);

		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* out of descriptors: shed one connection with
				 * the spare, then stop accepting for a moment
				 * (the listener stays readable: polling it now
				 * would spin) */
				if (spare_fd >= 0) {
					close(spare_fd);
					spare_fd = -1;
					cfd = accept(fd, NULL, NULL);
					if (cfd >= 0) {
						(void)!send(cfd, busy, sizeof busy - 1,
						    MSG_NOSIGNAL);
						close(cfd);
					}
					spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				}
				px_log("accept: %s: pausing new connections for "
				    "100 ms", strerror(errno == 0 ? EMFILE : errno));
				ev_mask(l, fd, 0);
				ev_timer_set(l, &accept_pause, ev_now(l) + 100);
			}
			return;
		}
		if (nconns >= cfg->max_conns) {
			(void)!send(cfd, busy, sizeof busy - 1, MSG_NOSIGNAL);
			close(cfd);
			continue;
		}
		fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK);
		fcntl(cfd, F_SETFD, FD_CLOEXEC);
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c = conn_new(cfd);
		if (!c) {
			close(cfd);
			continue;
		}
		client_addr(c);
	}
}

/* ------------------------------------------------------------ signals, ticks */

static void
handle_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
	if (loop)
		ev_wakeup(loop);   /* async-signal-safe: a write() */
}

/* Streams still running at the drain deadline: end each with its format's
 * error event (a close-delimited body would otherwise look complete). */
static void
drain_cut(void)
{
	struct conn *c, *next;

	for (c = conn_head; c; c = next) {
		next = c->next;
		if (c->closing)
			continue;
		if (c->phase == PH_UPSTREAM && c->streaming && c->stream) {
			if (c->up) {
				up_cancel(c->up);
				c->up = NULL;
			}
			stream_abort(c, 503, "the proxy is shutting down: the "
			    "stream was cut at the drain deadline");
			c->close_after = 1;
			out_flush(c);
		} else if (c->phase == PH_UPSTREAM && !c->head_sent) {
			answer_fail(c, 503, "the proxy is shutting down");
		}
		if (!c->closing)
			conn_close(c);
	}
}

static void
start_drain(void)
{
	struct conn *c, *next;

	draining = 1;
	drain_deadline = now_ms() + cfg->drain_timeout_ms;
	if (listen_fd >= 0) {
		ev_del(loop, listen_fd);
		close(listen_fd);
		listen_fd = -1;
	}
	px_log("SIGTERM: not accepting; draining %d connection(s) for up to %d ms",
	    nconns, cfg->drain_timeout_ms);
	for (c = conn_head; c; c = next) {
		next = c->next;
		if (c->phase == PH_READ_HEAD && c->in_len == 0 && !out_pending(c))
			conn_close(c);
		c->keep_alive = 0;
	}
	ev_timer_set(loop, &tick, now_ms());
}

/* Housekeeping every PX_TICK_MS: the log buffer, the store sweep, the
 * drain deadline. */
static void
on_tick(struct ev_loop *l, struct ev_timer *t)
{
	log_flush();
	if (rstore && ev_now(l) >= rstore_sweep_at) {
		rstore_sweep_at = ev_now(l) + PX_RSTORE_SWEEP_MS;
		px_store_sweep(rstore, wall_ms());
		rstore_log_error();
	}
	if (draining && ev_now(l) >= drain_deadline && nconns > 0) {
		px_log("drain timeout: closing %d connection(s)", nconns);
		drain_cut();
	}
	ev_timer_set(l, t, ev_now(l) + PX_TICK_MS);
}

/* ------------------------------------------------------------ serving */

static int
open_listener(const char *addr)
{
	char host[256], port[16];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, one = 1, rc;

	if (!colon || (size_t)(colon - addr) >= sizeof host) {
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
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

/* Raise the descriptor limit to the hard limit (10k streams need 20k). */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
open_rstore(void)
{
	struct px_store_opts so;
	struct px_store_stats st;
	char path[600], err[512];

	if (cfg->rstore_max_bytes == 0)
		return 0;
	memset(&so, 0, sizeof so);
	so.max_bytes = cfg->rstore_max_bytes;
	so.max_entries = cfg->rstore_max_entries;
	so.ttl_ms = cfg->rstore_ttl_s * 1000;
	if (cfg->rstore_dir[0]) {
		if (mkdir(cfg->rstore_dir, 0700) < 0 && errno != EEXIST) {
			px_log("responses_store.dir %s: %s", cfg->rstore_dir,
			    strerror(errno));
			return -1;
		}
		snprintf(path, sizeof path, "%s/responses.log", cfg->rstore_dir);
		so.path = path;
	}
	rstore = px_store_open(&so, wall_ms(), err, sizeof err);
	if (!rstore) {
		px_log("responses %s", err);
		return -1;
	}
	px_store_stats(rstore, &st);
	px_log("responses store: %zu byte(s), %zu entries, ttl %llds%s%s; %zu response(s) loaded",
	    cfg->rstore_max_bytes, cfg->rstore_max_entries,
	    cfg->rstore_ttl_s, so.path ? ", log " : "",
	    so.path ? so.path : "", st.entries);
	if (st.dropped_tail)
		px_log("responses store: %zu byte(s) of the log were torn or corrupt and dropped",
		    st.dropped_tail);
	return 0;
}

static void
startup_lines(const char *cfile)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char hostb[64] = "?";
	int i, port = 0;

	/* report the real port (":0" picks one; tests use that) */
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
	px_log("llmproxy %s listening on %s:%d (%s; %d provider(s), %d route(s), %s; %s loop)",
	    LLMPROXY_VERSION, hostb, port,
	    cfile ? cfile : "config from environment",
	    cfg->nproviders, cfg->nroutes,
	    cfg->nkeys ? "client keys required" : "no client keys: open to local clients",
	    ev_backend(loop));
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

/* see proxy.h */
int
px_serve(struct px_config *config, const char *cfile, int verb)
{
	struct sigaction sa;
	char err[512];
	int i, https = 0, rc = 0;

	cfg = config;
	verbose = verb | cfg->verbose;
	mem_budget = PX_MEM_BUDGET;
	rid_state = (unsigned long long)wall_ms() * 0x9e3779b97f4a7c15ULL ^
	    (unsigned long long)getpid();
	raise_nofile();
	if (open_rstore() < 0)
		return 1;
	for (i = 0; i < cfg->nproviders; i++)
		https |= cfg->providers[i].tls;
	if (https) {
		int na = tls_load_ca(cfg->ca_file[0] ? cfg->ca_file : NULL, err, sizeof err);
		if (na < 0) {
			px_log("%s", err);
			return 1;
		}
		px_log("loaded %d trust anchors from %s", na, tls_ca_path());
	}
	loop = ev_new();
	if (loop == NULL || (upe = up_engine_new(loop)) == NULL) {
		px_log("cannot start the event loop: %s", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handle_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	listen_fd = open_listener(cfg->listen);
	if (listen_fd < 0)
		return 1;
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ev_set(loop, listen_fd, EV_READ, accept_io, NULL);
	ev_timer_init(&accept_pause, accept_resume, NULL);
	ev_timer_init(&tick, on_tick, NULL);
	ev_timer_set(loop, &tick, ev_now(loop) + PX_TICK_MS);
	startup_lines(cfile);
	log_set_buffered(1);

	for (;;) {
		if (ev_run_once(loop, -1) < 0) {
			px_log("event loop: %s", strerror(errno));
			rc = 1;
			break;
		}
		if (got_hup) {
			got_hup = 0;
			px_log("SIGHUP received: reloading is not available in "
			    "this build; the configuration is unchanged");
		}
		if (got_term && !draining)
			start_drain();
		reap_closed();
		if (draining && (nconns == 0 || now_ms() >= drain_deadline + 1000))
			break;
	}
	/* shut down: every connection, then the engine, then the loop */
	while (conn_head) {
		if (!conn_head->closing)
			conn_close(conn_head);
		reap_closed();
	}
	up_engine_free(upe);
	upe = NULL;
	if (listen_fd >= 0)
		close(listen_fd);
	if (spare_fd >= 0)
		close(spare_fd);
	ev_free(loop);
	loop = NULL;
	px_store_close(rstore);
	rstore = NULL;
	log_set_buffered(0);
	px_log("stopped");
	return rc;
}
