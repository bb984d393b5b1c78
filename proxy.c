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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "models.h"
#include "proxy_int.h"
#include "tls.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* ------------------------------------------------------------ globals */

struct ev_loop *loop;
struct up_engine *upe;
struct px_gw *gw;
struct px_config *cfg;           /* the current config */
int draining;
int verbose;
size_t mem_used;                 /* bytes held by requests in flight */
size_t mem_budget;
struct px_metrics metrics;
struct px_usage *usage;          /* NULL: no usage records */

static char state_dir[512];      /* "" = nothing persisted */
static struct lim_table *limits; /* the keys' limits */
static struct keyset *cur_keys;  /* the keys file's keys */
static struct keyset *old_keys;  /* replaced sets still in use */
static struct keys_stamp keys_stamp;
static int metrics_ok;

static struct cfg_ref *cur_ref;  /* the current config's reference */
static struct px_config *first_cfg; /* the one main() loaded (and frees) */
static struct cfg_ref *old_refs; /* replaced ones still in use */
static const char *cfg_file;     /* NULL: from the environment */
static int listen_fd = -1;
static int spare_fd = -1;        /* kept to shed a connection at EMFILE */
static volatile sig_atomic_t got_term, got_hup;
static long long drain_deadline;
static struct ev_timer tick;     /* log flush, store sweep, drain, reload */
static struct ev_timer accept_pause;

/* see proxy_int.h */
long long
clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* see proxy_int.h */
long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ configs */

/* see proxy_int.h */
struct cfg_ref *
cfg_hold(void)
{
	cur_ref->refs++;
	return cur_ref;
}

/* see proxy_int.h */
void
cfg_drop(struct cfg_ref *r)
{
	struct cfg_ref **pp;

	if (r == NULL || --r->refs > 0 || r == cur_ref)
		return;
	for (pp = &old_refs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	if (r->cfg != first_cfg)       /* main()'s own */
		px_config_free(r->cfg);
	free(r);
}

static void
keyset_drop(struct keyset *k)
{
	struct keyset **pp;

	if (k == NULL || --k->refs > 0 || k == cur_keys)
		return;
	for (pp = &old_keys; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	keys_free(&k->ks);
	free(k);
}

/* Read the keys file again (at start, and when it changed). A file that
 * does not parse is refused with its message; the keys in force stay. */
static void
keys_reload(const char *why)
{
	struct keyset *k, *old;
	char err[512];
	const char *dup;

	if (state_dir[0] == 0)
		return;
	k = calloc(1, sizeof *k);
	if (k == NULL)
		return;
	if (keys_load(&k->ks, state_dir, err, sizeof err) < 0) {
		px_log("%s: %s; the keys in force stay", why, err);
		free(k);
		return;
	}
	if ((dup = keys_dup_name(&k->ks, cfg->keys, (size_t)cfg->nkeys)))
		px_log("%s: key name \"%s\" is both in the config and the keys "
		    "file: they share limits and usage records", why, dup);
	old = cur_keys;
	cur_keys = k;
	if (old != NULL) {
		px_log("%s: %zu key(s) in the keys file (%zu before)", why,
		    k->ks.n, old->ks.n);
		if (old->refs == 0) {
			keys_free(&old->ks);
			free(old);
		} else {
			old->next = old_keys;
			old_keys = old;
		}
	} else if (k->ks.n > 0) {
		px_log("%zu client key(s) from %s/keys.json", k->ks.n, state_dir);
	}
}

/* see proxy_int.h */
void
keys_reload_now(const char *why)
{
	if (state_dir[0] == 0)
		return;
	keys_changed(state_dir, &keys_stamp);   /* no second reload on the tick */
	keys_reload(why);
}

/* see proxy_int.h */
const char *
state_path(void)
{
	return state_dir;
}

/* see proxy_int.h */
struct lim_table *
limit_table(void)
{
	return limits;
}

/* see proxy_int.h */
const struct keys_set *
keys_file(void)
{
	return cur_keys ? &cur_keys->ks : NULL;
}

static struct conn *conn_head;
static struct conn *closed_head;
static int nconns;
static unsigned long next_conn_id = 1;

static void client_update_mask(struct conn *c);
static void client_progress(struct conn *c);
static int admit(struct conn *c);

/* ------------------------------------------------------------ memory budget */

static void
mem_release(struct conn *c)
{
	mem_used -= c->mem < mem_used ? c->mem : mem_used;
	c->mem = 0;
}

/* 1 when n more bytes would go over the budget. */
/* see proxy_int.h */
int
mem_over(size_t n)
{
	return mem_budget > 0 && mem_used + n > mem_budget;
}

/* ------------------------------------------------------------ output */

/* see proxy_int.h */
int
out_reserve(struct conn *c, size_t n)
{
	size_t need, ncap;
	char *p;

	if (c->out_off > 0 && c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		c->out_mark = 0;
	}
	need = c->out_len + n;
	if (need <= c->out_cap)
		return 0;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_mark = c->out_mark > c->out_off ? c->out_mark - c->out_off : 0;
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


/* see proxy_int.h */
void
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

/* see proxy_int.h */
size_t
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
/* see proxy_int.h */
void
out_flush(struct conn *c)
{
	/* a held stream's bytes (from out_mark on) wait: see relay.c */
	size_t end = c->holding ? c->out_mark : c->out_len;
	ssize_t w;

	if (c->closing)
		return;
	if (c->out_off < end) {
		w = send(c->fd, c->out + c->out_off, end - c->out_off,
		    MSG_NOSIGNAL);
		if (w > 0)
			c->out_off += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			conn_close(c);        /* the client went away */
			return;
		}
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = c->out_mark = 0;
		if (c->out_cap > 256 * 1024)   /* do not keep a big queue idle */
			out_free(c);
	}
	/* the client caught up: read the upstream again */
	if (c->up && c->up_paused && out_pending(c) <= PX_OUT_HIGH / 2) {
		c->up_paused = 0;
		up_resume(c->up);
	}
	if (c->ex && c->up_paused && out_pending(c) <= PX_OUT_HIGH / 2)
		relay_exec_resume(c);
	client_update_mask(c);
}

/* Decimal or hex without printf. */
/* see proxy_int.h */
size_t
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
/* see proxy_int.h */
void
out_chunk_now(struct conn *c, const char *p, size_t n)
{
	char hdr[24];
	struct iovec iov[3];
	struct msghdr mh;
	size_t k = 0, total, sent, skip;
	ssize_t w;
	int i;

	if (n == 0 || c->closing)
		return;
	c->last_out = now_ms();
	if (c->holding || out_pending(c) > 0) {
		out_chunk(c, p, n);     /* behind queued bytes: queue too */
		return;
	}
	if (c->resp_chunked) {
		k = fmt_u(hdr, n, 16);
		hdr[k++] = '\r';
		hdr[k++] = '\n';
	}
	iov[0].iov_base = hdr;
	iov[0].iov_len = k;
	iov[1].iov_base = (void *)p;
	iov[1].iov_len = n;
	iov[2].iov_base = (void *)"\r\n";
	iov[2].iov_len = c->resp_chunked ? 2 : 0;
	total = k + n + iov[2].iov_len;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 3;
	w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	if (w < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			conn_close(c);
			return;
		}
		w = 0;
	}
	sent = (size_t)w;
	if (sent == total)
		return;
	/* queue what the socket did not take */
	for (i = 0, skip = sent; i < 3; i++) {
		size_t len = iov[i].iov_len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		out_put(c, (const char *)iov[i].iov_base + skip, len - skip);
		skip = 0;
	}
	client_update_mask(c);
}

/* see proxy_int.h */
void
out_chunk(struct conn *c, const char *p, size_t n)
{
	char hdr[24];
	size_t k;

	if (n == 0 || c->closing)
		return;
	c->last_out = now_ms();
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

static struct px_str
pstr(const char *s)
{
	struct px_str r;

	r.p = s ? s : "";
	r.n = s ? strlen(s) : 0;
	return r;
}

/*
 * The request is over (answered, or the client went away): one access
 * line, one usage record, the metrics, and the key's limits settled and
 * released.
 */
static void
request_done(struct conn *c)
{
	long long lat = c->t_start_us ? clock_us() - c->t_start_us : -1;
	long long fb = c->t_first_us ? c->t_first_us - c->t_start_us : -1;
	long long now = wall_ms(), cost = -1;
	const char *fmt = c->ep == EP_NONE ? NULL : px_fmt_name(c->cfmt);
	int attempts = c->route ? c->plan.nattempts : 0;
	struct log_line ln;

	if (c->stream_counted) {
		c->stream_counted = 0;
		if (metrics_ok)
			met_add(metrics.streams, -1);
	}
	if (c->ep != EP_NONE && c->route) {
		struct px_usage_rec r;

		if (usage) {
			memset(&r, 0, sizeof r);
			r.t_ms = now - (lat > 0 ? lat / 1000 : 0);
			r.key = pstr(c->key ? c->key->name : NULL);
			r.fmt = pstr(fmt);
			r.model = pstr(c->model);
			r.provider = pstr(c->prov ? c->prov->name : NULL);
			r.cred = pstr(c->cred ? c->cred->label : NULL);
			r.upstream_model = pstr(c->up_model);
			r.status = c->status;
			r.tok = c->usage;
			r.latency_ms = lat >= 0 ? lat / 1000 : -1;
			r.ttfb_ms = fb >= 0 ? fb / 1000 : -1;
			r.attempts = attempts;
			cost = px_usage_add(usage, &r, now);
		}
		if (metrics_ok) {
			struct px_metrics_req m;
			memset(&m, 0, sizeof m);
			m.client_format = fmt;
			m.model = c->model;
			m.provider = c->prov ? c->prov->name : NULL;
			m.status = c->status;
			m.input_tokens = c->usage.input;
			m.output_tokens = c->usage.output;
			m.cost_usd = cost >= 0 ? (double)cost / 1e6 : -1;
			m.total_s = lat >= 0 ? (double)lat / 1e6 : -1;
			m.ttfb_s = fb >= 0 ? (double)fb / 1e6 : -1;
			m.overhead_s = -1;
			px_metrics_request(&metrics, &m);
		}
	}
	if (c->lhold.slot) {
		long long tok = -1;
		if (c->usage.input >= 0 || c->usage.output >= 0)
			tok = (c->usage.input > 0 ? c->usage.input : 0) +
			    (c->usage.output > 0 ? c->usage.output : 0);
		if (tok >= 0)
			lim_settle(limits, &c->lhold, tok, now);
		lim_release(limits, &c->lhold, now);
	}
	log_begin(&ln, "access");
	log_cstr(&ln, "id", c->rid);
	log_cstr(&ln, "client", c->addr);
	log_cstr(&ln, "method", c->method);
	log_cstr(&ln, "path", c->path);
	log_cstr(&ln, "key", c->key ? c->key->name : NULL);
	log_cstr(&ln, "fmt", fmt);
	log_cstr(&ln, "model", c->model);
	log_cstr(&ln, "provider", c->prov ? c->prov->name : NULL);
	log_cstr(&ln, "cred", c->cred ? c->cred->label : NULL);
	log_cstr(&ln, "upstream_model", c->up_model);
	log_int(&ln, "status", c->status);
	log_ms(&ln, "latency", lat);
	log_ms(&ln, "first_byte", fb);
	log_int(&ln, "tokens_in", c->usage.input);
	log_int(&ln, "tokens_out", c->usage.output);
	if (cost >= 0)
		log_int(&ln, "cost_uusd", cost);
	if (attempts > 0) {
		char at[512];
		px_plan_log_str(&c->plan, at, sizeof at);
		log_cstr(&ln, "attempts", at);
	}
	if (c->dropped)
		log_cstr(&ln, "dropped_tools", c->dropped);
	if (c->cut)
		log_cstr(&ln, "cut", "1");
	if (c->cache_state == CX_HIT)
		log_cstr(&ln, "cache", "hit");
	if (c->ses_id[0])
		log_cstr(&ln, "session", c->ses_id);
	if (c->errmsg[0])
		log_cstr(&ln, "error", c->errmsg);
	log_end(&ln);
	admin_note(c, cost, lat);
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

/* see proxy_int.h */
void
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
	if (c->cache_state == CX_HIT)
		out_put(c, "x-llmproxy-cache: hit\r\n", 23);
	else if (c->cache_state != CX_NONE)
		out_put(c, "x-llmproxy-cache: miss\r\n", 24);
	if (c->ses_id[0]) {
		out_put(c, "X-Session-ID: ", 14);
		out_str(c, c->ses_id);
		out_put(c, "\r\n", 2);
	}
	if (c->dropped) {
		out_put(c, "x-llmproxy-dropped-tools: ", 26);
		out_str(c, c->dropped);
		out_put(c, "\r\n", 2);
	}
	if (c->route && c->plan.nattempts > 1) {
		/* the answer needed a fallback: how many tries (no names) */
		memcpy(line, "x-llmproxy-attempts: ", 21);
		k = 21 + fmt_u(line + 21, (unsigned)c->plan.nattempts, 10);
		line[k++] = '\r';
		line[k++] = '\n';
		out_put(c, line, k);
	}
	if (!c->keep_alive || draining)
		out_put(c, "Connection: close\r\n", 19);
	out_put(c, "\r\n", 2);
	c->head_sent = 1;
	if (!c->t_first_us)
		c->t_first_us = clock_us();
}

/* Send a complete response with a body and finish the request. */
/* see proxy_int.h */
void
send_body(struct conn *c, int status, const char *ctype, const char *body,
    size_t n, const char *extra)
{
	send_head(c, status, ctype, (long long)n, extra);
	if (!c->is_head)
		out_put(c, body, n);
	finish_request(c);
}

/* see proxy_int.h */
void
set_errmsg(struct conn *c, const char *msg)
{
	size_t n = strlen(msg);

	if (n >= sizeof c->errmsg)
		n = sizeof c->errmsg - 1;
	memcpy(c->errmsg, msg, n);
	c->errmsg[n] = 0;
}

/* An error in the client's own format. */
/* see proxy_int.h */
void
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

/* see proxy_int.h */
void
send_error(struct conn *c, int status, const char *msg)
{
	send_error_extra(c, status, msg, NULL);
}

/* 405 in the shape of the endpoint family. */
/* see proxy_int.h */
void
send_405(struct conn *c, const char *allow)
{
	char extra[64];

	snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
	set_errmsg(c, "method not allowed");
	send_body(c, 405, "application/json", "{\"error\":\"method not allowed\"}",
	    30, extra);
}

/* see proxy_int.h */
void
send_deleted(struct conn *c, struct px_str id, const char *object)
{
	char buf[512];
	struct jw w;

	jw_init_fixed(&w, buf, sizeof buf);
	jw_obj(&w);
	jw_kstr(&w, "id", id.p, id.n);
	jw_kcstr(&w, "object", object);
	jw_kbool(&w, "deleted", 1);
	jw_obj_end(&w);
	send_body(c, 200, "application/json", w.buf, w.len, NULL);
}

/* see proxy_int.h */
size_t
key_scope(const struct conn *c, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	out[0] = 0;
	if (!c->key)
		return 0;
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[c->key->sha256[i] >> 4];
		out[2 * i + 1] = hex[c->key->sha256[i] & 15];
	}
	out[64] = 0;
	return 64;
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
	relay_exec_stop(c);
	stream_state_free(c);
	cx_done(c);
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
	c->ses_id[0] = c->ses_in[0] = 0;
	c->ses_on = 0;
	c->ses_acc = NULL;
	c->ses_nhist = c->ses_nhist_in = 0;
	c->cache_hdr = 0;
	c->cache_state = CX_NONE;
	c->method[0] = c->path[0] = 0;
	c->key = NULL;
	c->route = NULL;
	c->plan.nattempts = 0;
	c->prov = NULL;
	c->cred = NULL;
	c->xbody = NULL;
	c->xbody_n = 0;
	c->ir_ok = c->holding = c->att_err = c->att_keep = 0;
	c->kept_status = 0;
	c->kept_body = c->kept_fwd = NULL;
	c->kept_n = 0;
	c->kept_msg[0] = 0;
	c->out_mark = 0;
	c->abeta = c->aversion = NULL;
	c->dropped = NULL;
	c->gemini_alt_sse = 0;
	cfg_drop(c->cref);
	c->cref = NULL;
	keyset_drop(c->kref);
	c->kref = NULL;
	if (c->lhold.slot)
		lim_release(limits, &c->lhold, wall_ms());
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
	c->admin_body = 0;
}

static void
set_deadline(struct conn *c, int ms)
{
	ev_timer_set(loop, &c->timer, now_ms() + ms);
}

/* The response to the current request is complete (queued). */
/* see proxy_int.h */
void
finish_request(struct conn *c)
{
	size_t consumed;

	if (c->t_start_us)
		request_done(c);
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
	/* write now: most answers go whole, and the descriptor is then
	 * never switched to wait for writability and back */
	out_flush(c);
	if (c->closing)
		return;
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
/* see proxy_int.h */
void
conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	if (c->phase != PH_READ_HEAD && c->phase != PH_FLUSH && c->t_start_us) {
		if (!c->status)
			c->status = 499;    /* client went away */
		request_done(c);
	}
	if (c->up) {
		up_cancel(c->up);
		c->up = NULL;
	}
	relay_exec_stop(c);
	acct_forget(c);
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
	cfg_drop(c->cref);
	keyset_drop(c->kref);
	if (c->lhold.slot)
		lim_release(limits, &c->lhold, wall_ms());
	stream_state_free(c);
	cx_done(c);
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

/* see proxy_int.h */
void
conn_each(void (*fn)(struct conn *c, void *ctx), void *ctx)
{
	struct conn *c;

	for (c = conn_head; c; c = c->next)
		if (!c->closing)
			fn(c, ctx);
}

/* ------------------------------------------------------------ models list */

/*
 * The upstreams' own model lists, one cache entry per provider (by its id,
 * so an entry survives a reload that keeps the provider). Each list is
 * fetched off the request path, on the loop through the upstream engine:
 * at start (the first tick), after every reload, and when models_ttl_s
 * ran out (after a failure, again within PX_MODELS_RETRY_MS). A request
 * for the list never waits: it gets what is cached, merged with the
 * configured names (models.h).
 */
#ifndef PX_MODELS_PROVIDERS
#define PX_MODELS_PROVIDERS 64        /* providers whose list is kept */
#endif
#ifndef PX_MODELS_RETRY_MS
#define PX_MODELS_RETRY_MS  60000     /* after a failed fetch */
#endif

struct mfetch;

struct mcache {
	unsigned char id[32];         /* the provider's id; unused: all 0 */
	int used;
	struct px_models list;
	int have;                     /* list holds a fetched answer */
	long long next_ms;            /* next fetch due (wall clock) */
	struct mfetch *f;             /* the fetch in flight */
};

struct mfetch {
	struct mcache *m;
	struct up_req *up;
	struct cfg_ref *cref;
	const struct px_provider *p;  /* in cref's config */
	struct px_arena arena;        /* the request */
	char *body;                   /* the answer (malloc) */
	size_t n, cap;
	int status, over;
};

static struct mcache mcache[PX_MODELS_PROVIDERS];

static void
mf_free(struct mfetch *f)
{
	if (f->up)
		up_cancel(f->up);
	if (f->m)
		f->m->f = NULL;
	px_arena_free(&f->arena);
	cfg_drop(f->cref);
	free(f->body);
	free(f);
}

static void
mf_done(struct mfetch *f, const char *why)
{
	struct mcache *m = f->m;
	long long now = wall_ms();
	struct px_models l;
	long long retry = PX_MODELS_RETRY_MS;

	if (why == NULL && f->status / 100 != 2)
		why = "answered with an error status";
	if (why == NULL && f->over)
		why = "answer too large";
	if (why == NULL && px_models_parse(f->p->kind, f->body, f->n, &l) < 0)
		why = "answer is not a model list";
	if (cfg->models_ttl_s * 1000LL < retry)
		retry = cfg->models_ttl_s * 1000LL;
	if (why != NULL) {
		px_log("models: provider %s: no upstream list (%s%s%.0d)",
		    f->p->name, why, f->status ? ": HTTP " : "", f->status);
		m->next_ms = now + retry;
	} else {
		px_models_free(&m->list);
		m->list = l;
		m->have = 1;
		m->next_ms = now + cfg->models_ttl_s * 1000LL;
		px_log("models: provider %s: %d upstream model(s)",
		    f->p->name, l.n);
	}
	f->up = NULL;
	mf_free(f);
}

static void
mf_head(void *ud, const struct http_resp *r)
{
	struct mfetch *f = ud;

	f->status = r->status;
}

static void
mf_data(void *ud, const char *p, size_t n)
{
	struct mfetch *f = ud;
	char *nb;
	size_t ncap;

	if (f->over || n == 0)
		return;
	if (n > PX_MODELS_BODY_MAX - f->n) {
		f->over = 1;
		return;
	}
	if (n > f->cap - f->n) {
		ncap = f->cap ? f->cap : 16384;
		while (ncap - f->n < n)
			ncap *= 2;
		if ((nb = realloc(f->body, ncap)) == NULL) {
			f->over = 1;
			return;
		}
		f->body = nb;
		f->cap = ncap;
	}
	memcpy(f->body + f->n, p, n);
	f->n += n;
}

static void
mf_end(void *ud, int complete)
{
	struct mfetch *f = ud;

	f->up = NULL;
	mf_done(f, complete ? NULL : "answer cut short");
}

static void
mf_error(void *ud, enum up_err e, const char *msg)
{
	struct mfetch *f = ud;

	f->up = NULL;
	mf_done(f, msg && *msg ? msg : up_err_name(e));
}

static const struct up_callbacks mf_cbs = { mf_head, mf_data, mf_end,
    mf_error };

/* GET provider p's list into m. */
static void
mf_start(struct mcache *m, const struct px_provider *p)
{
	struct mfetch *f = calloc(1, sizeof *f);
	struct up_target t;
	struct up_timeouts to;
	struct jw head;
	int i;

	if (f == NULL)
		return;
	px_arena_init(&f->arena, 1u << 16);
	f->m = m;
	f->cref = cfg_hold();
	f->p = p;
	m->f = f;
	jw_init(&head, &f->arena, 1u << 16);
	head_start(&head, "GET", p->host, p->port, p->tls, p->base_path,
	    px_models_path(p->kind));
	jw_puts(&head, "User-Agent: llmproxy/" LLMPROXY_VERSION
	    " (model list)\r\nAccept: application/json\r\n");
	head_auth(&head, p, p->api_key);
	if (p->kind == PX_PT_ANTHROPIC) {
		jw_puts(&head, "anthropic-version: ");
		jw_puts(&head, p->anthropic_version);
		jw_puts(&head, "\r\n");
	}
	for (i = 0; i < p->nheaders; i++) {
		jw_puts(&head, p->headers[i].name);
		jw_puts(&head, ": ");
		jw_puts(&head, p->headers[i].value);
		jw_puts(&head, "\r\n");
	}
	jw_puts(&head, "\r\n");
	if (head.err) {
		mf_free(f);
		return;
	}
	t.host = p->host;
	t.port = p->port;
	t.tls = p->tls;
	t.label = p->name;
	to.connect_ms = cfg->connect_timeout_ms;
	to.first_byte_ms = cfg->first_byte_timeout_ms;
	to.idle_ms = cfg->stream_idle_timeout_ms;
	f->up = up_start(upe, &t, &to, head.buf, head.len, NULL, 0, &mf_cbs, f);
	if (f->up == NULL)
		mf_free(f);
}

static struct mcache *
mc_find(const unsigned char *id)
{
	int i;

	for (i = 0; i < PX_MODELS_PROVIDERS; i++)
		if (mcache[i].used && memcmp(mcache[i].id, id, 32) == 0)
			return &mcache[i];
	return NULL;
}

/* Start the fetches that are due (on the tick). */
static void
models_tick(long long now)
{
	struct mcache *m;
	int i, j;

	if (cfg->models_ttl_s <= 0)
		return;
	for (i = 0; i < cfg->nproviders; i++) {
		const struct px_provider *p = &cfg->providers[i];
		if (px_models_path(p->kind) == NULL)
			continue;
		if ((m = mc_find(p->id)) == NULL) {
			for (j = 0; j < PX_MODELS_PROVIDERS && mcache[j].used;
			    j++)
				;
			if (j == PX_MODELS_PROVIDERS)
				continue;
			m = &mcache[j];
			memset(m, 0, sizeof *m);
			m->used = 1;
			memcpy(m->id, p->id, 32);
		}
		if (m->f == NULL && now >= m->next_ms)
			mf_start(m, p);
	}
}

/* A new config: lists of providers it lacks go, the others are fetched
 * again (fetches in flight restart on the new config). */
static void
models_reload(void)
{
	int i, j, keep;

	for (i = 0; i < PX_MODELS_PROVIDERS; i++) {
		struct mcache *m = &mcache[i];
		if (!m->used)
			continue;
		if (m->f)
			mf_free(m->f);
		for (keep = 0, j = 0; j < cfg->nproviders && !keep; j++)
			keep = memcmp(cfg->providers[j].id, m->id, 32) == 0;
		m->next_ms = 0;
		if (!keep || cfg->models_ttl_s <= 0) {
			px_models_free(&m->list);
			memset(m, 0, sizeof *m);
		}
	}
}

static void
models_shutdown(void)
{
	int i;

	for (i = 0; i < PX_MODELS_PROVIDERS; i++) {
		if (mcache[i].f)
			mf_free(mcache[i].f);
		px_models_free(&mcache[i].list);
		memset(&mcache[i], 0, sizeof mcache[i]);
	}
}

static void
send_models(struct conn *c, enum px_models_shape shape)
{
	const struct px_models **lists;
	struct mcache *m;
	struct jw w;
	int i;

	lists = px_arena_alloc(&c->arena, (size_t)(cfg->nproviders + 1) *
	    sizeof *lists);
	if (lists == NULL) {
		send_error(c, 500, "out of memory");
		return;
	}
	for (i = 0; i < cfg->nproviders; i++) {
		m = mc_find(cfg->providers[i].id);
		lists[i] = m != NULL && m->have ? &m->list : NULL;
	}
	jw_init(&w, &c->arena, 8u << 20);
	if (px_models_write(cfg, lists, c->key, shape, &c->arena, &w) < 0) {
		send_error(c, 500, "model list too large");
		return;
	}
	send_body(c, 200, "application/json", w.buf, w.len, NULL);
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

/* ------------------------------------------------------------ the request */

/* Recompute what c holds and charge the difference. */
/* see proxy_int.h */
void
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
/* see proxy_int.h */
void
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

/* see proxy_int.h */
int
has_ctl(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/* The request is complete (head + body). Route, convert, start upstream. */
static void
handle_request(struct conn *c, const char *body, size_t n)
{
	struct json_err jerr;
	struct json *root = NULL;
	const char *dup;

	if (c->admin_body) {
		admin_body(c, body, n);
		return;
	}
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

	c->route = px_route_find(c->cref->cfg, c->model, strlen(c->model));
	if (!c->route) {
		char msg[1400];
		if (c->cref->cfg->path[0])
			snprintf(msg, sizeof msg,
			    "model '%s' is not configured: add it to \"models\" "
			    "in %s (e.g. \"%s\": \"<provider>\" or "
			    "\"<provider>/<upstream-model>\")",
			    c->model, c->cref->cfg->path, c->model);
		else
			snprintf(msg, sizeof msg,
			    "model '%s' is not configured: set OPENAI_API_KEY, "
			    "ANTHROPIC_API_KEY or GEMINI_API_KEY for zero-config "
			    "routing, or start llmproxy with -c FILE",
			    c->model);
		send_error(c, 404, msg);
		return;
	}
	if (admit(c) < 0)
		return;
	sx_prepare(c);
	relay_start(c);
}

/* ------------------------------------------------------------ metrics, admin */

/* 1 when the client connected from a loopback address. */
static int
from_loopback(const struct conn *c)
{
	return strncmp(c->addr, "127.", 4) == 0 ||
	    strncmp(c->addr, "[::1]", 5) == 0 ||
	    strncmp(c->addr, "[::ffff:127.", 12) == 0;
}

/* 1 when key[0..n) is the configured secret. */
static int
secret_ok(const struct px_secret_key *k, const char *key, size_t n)
{
	return k->set && key && auth_find(&k->key, 1, key, n) != NULL;
}

/* GET /metrics: Prometheus text format. Loopback clients, the admin key
 * or the metrics key. */
static void
send_metrics(struct conn *c, const struct http_req *r, const char *key,
    size_t kn)
{
	size_t n;
	char *buf;
	int i, j;

	if (!http_str_eq(r->method, "GET") && !c->is_head) {
		send_405(c, "GET");
		return;
	}
	if (!from_loopback(c) && !secret_ok(&cfg->admin_key, key, kn) &&
	    !secret_ok(&cfg->metrics_key, key, kn)) {
		send_error(c, 401, "metrics need the admin key or the metrics "
		    "key (or a loopback client)");
		return;
	}
	if (!metrics_ok) {
		send_error(c, 503, "metrics are not available");
		return;
	}
	/* credential states, read from the gateway now */
	for (i = 0; i < cfg->nproviders; i++) {
		const struct px_provider *p = &cfg->providers[i];
		for (j = 0; j < p->ncreds; j++) {
			struct px_cred_info ci;
			enum met_cred_state st = MET_CRED_OK;
			if (px_gw_cred_info(gw, cfg, i, j, wall_ms(), &ci) == 0) {
				if (ci.state == PX_CRED_DISABLED)
					st = MET_CRED_DISABLED;
				else if (ci.state == PX_CRED_COOLING)
					st = MET_CRED_COOLING_DOWN;
			}
			px_metrics_credential(&metrics, p->name, p->creds[j].label,
			    st);
		}
	}
	cx_metrics();
	sx_metrics();
	n = met_render(metrics.reg, NULL, 0);
	buf = px_arena_alloc(&c->arena, n + 1);
	if (buf == NULL) {
		send_error(c, 503, "out of memory");
		return;
	}
	met_render(metrics.reg, buf, n + 1);
	send_body(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, n,
	    NULL);
}

/* /admin...: the admin key (config "admin_key"); admin.c answers. */
static void
admin_request(struct conn *c, const struct http_req *r, const char *key,
    size_t kn)
{
	admin_handle(c, r, !cfg->admin_key.set ? ADMIN_OFF : key == NULL ?
	    ADMIN_NO_KEY : secret_ok(&cfg->admin_key, key, kn) ? ADMIN_KEY_OK :
	    ADMIN_BAD_KEY);
}

/* ------------------------------------------------------------ admission */

/* The output a request may produce, for the token estimate. */
static long long
req_max_output(const struct conn *c)
{
	static const char *const names[] = { "max_tokens",
	    "max_completion_tokens", "max_output_tokens", NULL };
	const struct json *v;
	long long mt;
	int i;

	for (i = 0; names[i]; i++)
		if ((v = json_get(c->root, names[i])) != NULL &&
		    json_int(v, &mt))
			return mt;
	if ((v = json_get(json_get(c->root, "generationConfig"),
	    "maxOutputTokens")) != NULL && json_int(v, &mt))
		return mt;
	return c->cref->cfg->default_max_tokens;
}

/* What a key spent in its budget period, from the usage records. */
static double
key_spent(void *ctx, const char *name, long long since)
{
	const struct conn *c = ctx;
	long long uu;

	(void)since;
	if (usage == NULL)
		return 0;
	uu = px_usage_spend(usage, name, strlen(name),
	    c->key->lim.budget_per == AUTH_PER_MONTH ? PX_USAGE_MONTH :
	    PX_USAGE_DAY, wall_ms());
	return uu > 0 ? (double)uu / 1e6 : 0;
}

/*
 * The key may use this model and is within its limits: else a 403 or a
 * 429 (with Retry-After and the format's rate-limit headers). Returns 0
 * to go on, -1 when answered.
 */
static int
admit(struct conn *c)
{
	struct lim_req q;
	struct lim_result res;
	char msg[400], hdrs[512];
	enum lim_style style;

	if (c->key == NULL)
		return 0;
	if (!auth_model_allowed(c->key, c->model, strlen(c->model))) {
		snprintf(msg, sizeof msg, "key '%s' may not use model '%.200s'",
		    c->key->name, c->model);
		send_error(c, 403, msg);
		return -1;
	}
	q.est_tokens = lim_estimate(c->rbody_n, req_max_output(c));
	q.spent = key_spent;
	q.spent_ctx = c;
	if (lim_admit(limits, c->key, wall_ms(), &q, &c->lhold, &res) ==
	    LIM_OK)
		return 0;
	style = c->cfmt == PX_FMT_ANTHROPIC ? LIM_HDR_ANTHROPIC :
	    c->cfmt == PX_FMT_GEMINI ? LIM_HDR_NONE : LIM_HDR_OPENAI;
	lim_message(&res, c->key->name, msg, sizeof msg);
	lim_headers(&res, style, wall_ms(), hdrs, sizeof hdrs);
	if (metrics_ok)
		px_metrics_rejected(&metrics, c->key->name,
		    lim_which_name(res.refused));
	send_error_extra(c, 429, msg, hdrs);
	return -1;
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
	c->cref = cfg_hold();       /* the request runs on this config */
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
	idh = hdr_val(r, "x-session-id", &in);
	sx_take(c, idh, in);
	idh = hdr_val(r, "x-llmproxy-cache", &in);
	cx_take(c, idh, in);
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
	if (c->ep == EP_NONE && http_str_eq(r->path, "/metrics")) {
		send_metrics(c, r, key, kn);
		return;
	}
	if (c->ep == EP_NONE && r->path.n >= 6 &&
	    memcmp(r->path.p, "/admin", 6) == 0) {
		admin_request(c, r, key, kn);
		return;
	}
	if (cfg->nkeys > 0 || (cur_keys && cur_keys->ks.n > 0)) {
		c->key = key ? auth_find(cfg->keys, (size_t)cfg->nkeys, key, kn) : NULL;
		if (!c->key && key && cur_keys &&
		    (c->key = auth_find(cur_keys->ks.keys, cur_keys->ks.n, key,
		    kn)) != NULL) {
			c->kref = cur_keys;
			cur_keys->refs++;
		}
		if (!c->key) {
			send_error(c, 401, key ? "invalid API key" :
			    "missing API key: send Authorization: Bearer <key>, x-api-key or x-goog-api-key");
			return;
		}
		if (auth_key_expired(c->key, wall_ms() / 1000)) {
			send_error(c, 401, "this API key has expired");
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
			send_models(c, gem ? PX_MS_GEMINI : v != NULL ?
			    PX_MS_ANTHROPIC : PX_MS_OPENAI);
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
			if (p.n > 13 && memcmp(p.p, "/v1/sessions/", 13) == 0 &&
			    !memchr(p.p + 13, '/', p.n - 13)) {
				struct px_str id = { p.p + 13, p.n - 13 };
				sx_local(c, r, id);
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

/* ------------------------------------------------------------ client I/O */

/* The kernel interest of the client socket. */
static void
client_update_mask(struct conn *c)
{
	int m = 0;

	if (c->closing)
		return;
	if ((c->holding ? c->out_mark : c->out_len) > c->out_off)
		m |= EV_WRITE;          /* something that may go now */
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
		/* the upstream engine keeps the time; this timer only
		 * paces heartbeats on quiet streams */
		relay_heartbeat(c);
		return;
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
		if (c->phase == PH_UPSTREAM)
			relay_cut(c, 503, c->streaming ? "the proxy is shutting "
			    "down: the stream was cut at the drain deadline" :
			    "the proxy is shutting down");
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

/* ------------------------------------------------------------ reload */

static struct stat cfg_stat;      /* the config file when last loaded */
static long long cfg_seen_at;     /* a change first seen (debounce) */

/*
 * Load the config file again. A config that does not validate is refused
 * with its errors in the log and the old one stays; otherwise requests in
 * flight finish on the config they started with and new ones use the new
 * one. The listen address and ca_file take effect at the next start.
 */
static void
reload(const char *why)
{
	struct px_config *n;
	struct cfg_ref *r, *old;
	char err[4096], diff[2048];
	int i;

	if (cfg_file == NULL) {
		px_log("%s: configured from the environment: nothing to reload",
		    why);
		return;
	}
	stat(cfg_file, &cfg_stat);
	n = px_config_new();
	r = calloc(1, sizeof *r);
	if (n == NULL || r == NULL) {
		px_log("%s: out of memory; the configuration is unchanged", why);
		px_config_free(n);
		free(r);
		return;
	}
	if (px_config_load(n, cfg_file, err, sizeof err) < 0) {
		px_log("%s: %s has %d error(s); the old configuration stays in "
		    "force", why, cfg_file, n->nerrors);
		for (i = 0; i < n->nerrors && i < PX_CONFIG_MAX_ERRORS; i++)
			px_log("%s", n->errors[i]);
		px_config_free(n);
		free(r);
		return;
	}
	if (acct_bind(n, why) < 0) {
		px_log("%s: the old configuration stays in force", why);
		px_config_free(n);
		free(r);
		return;
	}
	if (strcmp(n->listen, cfg->listen) != 0) {
		px_log("%s: a new listen address (%s) takes effect at the next "
		    "start", why, n->listen);
		snprintf(n->listen, sizeof n->listen, "%s", cfg->listen);
	}
	if (strcmp(n->ca_file, cfg->ca_file) != 0 ||
	    !px_config_same_ca_add(n, cfg))
		px_log("%s: a new ca_file or ca_file_add takes effect at the next "
		    "start", why);
	px_config_diff(cfg, n, diff, sizeof diff);
	px_log("%s: reloaded %s: %s", why, cfg_file, diff);
	r->cfg = n;
	old = cur_ref;
	cur_ref = r;
	cfg = n;
	px_gw_reload(gw, n, wall_ms());
	relay_health_reset();
	models_reload();
	if (usage)
		px_usage_set_prices(usage, n->prices);
	acct_sync(n);
	up_engine_set_pool(upe, n->upstream_idle);
	mem_budget = (size_t)n->memory_max;
	log_set_format(n->log_format == PX_LOG_JSON ? LOG_JSON : LOG_TEXT);
	verbose = verbose || n->verbose;
	if (old->refs == 0) {
		if (old->cfg != first_cfg)
			px_config_free(old->cfg);
		free(old);
	} else {
		old->next = old_refs;
		old_refs = old;
	}
}

/* The config file changed on disk (checked on the tick, debounced: the
 * change must be a PX_RELOAD_SETTLE_MS old). */
static void
reload_check(long long now)
{
	struct stat st;

	if (cfg_file == NULL || stat(cfg_file, &st) < 0)
		return;
	if (st.st_mtim.tv_sec == cfg_stat.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == cfg_stat.st_mtim.tv_nsec &&
	    st.st_size == cfg_stat.st_size && st.st_ino == cfg_stat.st_ino) {
		cfg_seen_at = 0;
		return;
	}
	if (cfg_seen_at == 0) {
		cfg_seen_at = now;
		return;
	}
	if (now - cfg_seen_at < PX_RELOAD_SETTLE_MS)
		return;
	cfg_seen_at = 0;
	reload("config file changed");
}

/* Housekeeping every PX_TICK_MS: the log buffer, the store sweep, health
 * checks, the config file, the drain deadline. */
static void
on_tick(struct ev_loop *l, struct ev_timer *t)
{
	log_flush();
	rs_sweep();
	sx_sweep();
	cx_sweep();
	if (usage && px_usage_flush_due(usage, wall_ms()) == 0 &&
	    px_usage_flush(usage, wall_ms()) < 0)
		px_log("usage records: %s", px_usage_error(usage));
	if (!draining) {
		relay_health(wall_ms());
		models_tick(wall_ms());
		reload_check(ev_now(l));
		if (state_dir[0] && keys_changed(state_dir, &keys_stamp))
			keys_reload("keys file changed");
		if (acct_tick(ev_now(l)))
			reload("accounts changed");
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

/*
 * What a user pastes into a client's environment: the base URL of each
 * client format at the real address (a wildcard address is reached on
 * loopback).
 */
static void
client_lines(int family, const char *host, int port)
{
	char base[96];

	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	if (family == AF_INET6)
		snprintf(base, sizeof base, "http://[%s]:%d", host, port);
	else
		snprintf(base, sizeof base, "http://%s:%d", host, port);
	px_log("point clients here (with %s):",
	    cfg->nkeys ? "one of the client keys as their API key" :
	    "any API key");
	px_log("  OPENAI_BASE_URL=%s/v1", base);
	px_log("  ANTHROPIC_BASE_URL=%s", base);
	px_log("  GOOGLE_GEMINI_BASE_URL=%s  (google-genai SDKs: "
	    "http_options base_url)", base);
}

static void
startup_lines(const char *cfile)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char hostb[64] = "?";
	int i, port = 0;

	/* report the real port (":0" picks one; tests use that) */
	memset(&ss, 0, sizeof ss);
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
		    cfg->providers[i].type, cfg->providers[i].kind ==
		    PX_PT_EXEC ? cfg->providers[i].exec_argv[0] :
		    cfg->providers[i].base_url);
	for (i = 0; i < cfg->nroutes; i++) {
		const struct px_route *r = &cfg->routes[i];
		px_log("route %s -> %s%s%s", r->pattern,
		    cfg->providers[r->targets[0].provider].name,
		    r->targets[0].model[0] ? "/" : "", r->targets[0].model);
	}
	if (cfg->nproviders == 0 && cfile == NULL) {
		const struct px_envvar *v;

		px_log("no providers configured: every request will fail. "
		    "Set one of these and start again, or pass -c FILE:");
		for (v = px_env_vars; v->name != NULL; v++)
			if (v->group == PX_ENV_PROVIDER)
				px_log("  %-20s %s", v->name, v->what);
		px_log("and optionally:");
		for (v = px_env_vars; v->name != NULL; v++)
			if (v->group == PX_ENV_SERVER)
				px_log("  %-20s %s", v->name, v->what);
	} else if (cfg->nproviders == 0) {
		px_log("no providers configured in %s: add \"providers\" "
		    "and \"models\"", cfile);
	} else
		client_lines(ss.ss_family, hostb, port);
}

/*
 * The state directory and what lives there: the keys file, the usage
 * records. Without a state directory (none configured and no home) the
 * proxy runs without them; a configured one that cannot be used is an
 * error.
 */
static int
state_open(void)
{
	char err[512];
	const char *src = NULL;

	limits = lim_new();
	if (limits == NULL || px_metrics_init(&metrics, LLMPROXY_VERSION,
	    (double)(wall_ms() / 1000)) < 0) {
		px_log("out of memory");
		return -1;
	}
	metrics_ok = 1;
	if (px_state_dir(cfg->state_dir[0] ? cfg->state_dir : NULL, state_dir,
	    sizeof state_dir, &src, err, sizeof err) < 0) {
		state_dir[0] = 0;
		if (cfg->state_dir[0]) {
			px_log("state_dir: %s", err);
			return -1;
		}
		px_log("no state directory (%s): no keys file, no usage records",
		    err);
		return 0;
	}
	px_log("state directory %s (from %s)", state_dir, src);
	keys_changed(state_dir, &keys_stamp);
	keys_reload("keys file");
	if (cfg->usage_enabled) {
		struct px_usage_opts uo;
		struct px_usage_stats us;
		char path[600];

		snprintf(path, sizeof path, "%s/%s", state_dir, PX_USAGE_FILE);
		memset(&uo, 0, sizeof uo);
		uo.path = path;
		uo.retain_days = cfg->usage_retain_days;
		uo.prices = cfg->prices;
		usage = px_usage_open(&uo, wall_ms(), err, sizeof err);
		if (usage == NULL) {
			px_log("usage records: %s", err);
			return -1;
		}
		px_usage_stats(usage, &us);
		px_log("usage records: %s (%lu request(s), %lu daily total(s))",
		    path, us.records, us.day_records);
		if (us.dropped)
			px_log("usage records: %zu byte(s) of a torn or corrupt "
			    "tail were dropped", us.dropped);
	}
	return 0;
}

static void
state_close(void)
{
	if (usage) {
		px_usage_close(usage, wall_ms());
		usage = NULL;
	}
	if (cur_keys) {
		keys_free(&cur_keys->ks);
		free(cur_keys);
		cur_keys = NULL;
	}
	while (old_keys) {
		struct keyset *k = old_keys;
		old_keys = k->next;
		keys_free(&k->ks);
		free(k);
	}
	lim_free(limits);
	limits = NULL;
	if (metrics_ok)
		px_metrics_free(&metrics);
	metrics_ok = 0;
}

/* see proxy.h */
int
px_serve(struct px_config *config, const char *cfile, int verb)
{
	struct sigaction sa;
	char err[512];
	int i, https = 0, rc = 0;

	cfg = config;
	first_cfg = config;
	cfg_file = cfile;
	if (cfile)
		stat(cfile, &cfg_stat);
	cur_ref = calloc(1, sizeof *cur_ref);
	gw = px_gw_new();
	if (cur_ref == NULL || gw == NULL) {
		px_log("out of memory");
		return 1;
	}
	cur_ref->cfg = cfg;
	px_gw_reload(gw, cfg, wall_ms());
	verbose = verb | cfg->verbose;
	mem_budget = cfg->memory_max > 0 ? (size_t)cfg->memory_max :
	    PX_MEM_BUDGET;
	log_set_format(cfg->log_format == PX_LOG_JSON ? LOG_JSON : LOG_TEXT);
	rid_state = (unsigned long long)wall_ms() * 0x9e3779b97f4a7c15ULL ^
	    (unsigned long long)getpid();
	raise_nofile();
	if (rs_open() < 0)
		return 1;
	if (state_open() < 0)
		return 1;
	if (sx_open() < 0)
		return 1;
	if (cx_open() < 0)
		return 1;
	/* account and token exchange renewals mostly go to https too */
	for (i = 0; i < cfg->nproviders; i++)
		https |= cfg->providers[i].tls || cfg->providers[i].tx ||
		    cfg->providers[i].kind >= PX_PT_CLAUDE_ACCOUNT;
	if (https) {
		const char *add[PX_MAX_CA_ADD];
		int na;

		for (i = 0; i < cfg->nca_add; i++)
			add[i] = cfg->ca_add[i];
		na = tls_load_ca_set(cfg->ca_file[0] ? cfg->ca_file : NULL,
		    add, cfg->nca_add, err, sizeof err);
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
	up_engine_set_pool(upe, cfg->upstream_idle);
	acct_sync(cfg);
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
			if (!draining)
				reload("SIGHUP");
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
	if (listen_fd >= 0)
		close(listen_fd);
	if (spare_fd >= 0)
		close(spare_fd);
	relay_shutdown();
	models_shutdown();
	acct_shutdown();
	state_close();
	up_engine_free(upe);
	upe = NULL;
	ev_free(loop);
	loop = NULL;
	rs_close();
	sx_close();
	cx_close();
	px_gw_free(gw);
	gw = NULL;
	/* the config main() loaded is main()'s to free */
	while (old_refs) {
		struct cfg_ref *r = old_refs;
		old_refs = r->next;
		if (r->cfg != config)
			px_config_free(r->cfg);
		free(r);
	}
	if (cur_ref && cur_ref->cfg != config)
		px_config_free(cur_ref->cfg);
	free(cur_ref);
	cur_ref = NULL;
	log_set_buffered(0);
	px_log("stopped");
	return rc;
}
