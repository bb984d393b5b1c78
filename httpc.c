/*
 * httpc.c - the commands' blocking HTTP client (see httpc.h): one request
 * at a time on a private event loop and upstream engine, run until the
 * request's callbacks say it ended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "loop.h"
#include "tls.h"
#include "upstream.h"

static struct ev_loop *hloop;
static struct up_engine *heng;
static int anchors;

struct call {
	struct px_hresp *out;
	int done, failed, toobig;
	char msg[256];
};

static void
c_head(void *ud, const struct http_resp *r)
{
	struct call *c = ud;
	const struct http_hdr *h = http_find(r->hdrs, r->nhdrs, "retry-after");

	c->out->status = r->status;
	if (h && h->value.n < sizeof c->out->retry_after) {
		memcpy(c->out->retry_after, h->value.p, h->value.n);
		c->out->retry_after[h->value.n] = 0;
	}
}

static void
c_data(void *ud, const char *p, size_t n)
{
	struct call *c = ud;
	char *nb;

	if (c->toobig)
		return;
	if (c->out->n + n > PX_ACCT_ANSWER_MAX) {
		c->toobig = 1;
		return;
	}
	if ((nb = realloc(c->out->body, c->out->n + n + 1)) == NULL) {
		c->toobig = 1;
		return;
	}
	c->out->body = nb;
	memcpy(nb + c->out->n, p, n);
	c->out->n += n;
	nb[c->out->n] = 0;
}

static void
c_end(void *ud, int complete)
{
	struct call *c = ud;

	c->done = 1;
	if (!complete) {
		c->failed = 1;
		snprintf(c->msg, sizeof c->msg, "the connection closed before "
		    "the answer was complete");
	}
}

static void
c_error(void *ud, enum up_err e, const char *msg)
{
	struct call *c = ud;

	c->done = 1;
	c->failed = 1;
	snprintf(c->msg, sizeof c->msg, "%s", msg);
	(void)e;
}

static const struct up_callbacks cbs = { c_head, c_data, c_end, c_error };

/* see httpc.h */
void
px_hresp_free(struct px_hresp *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* see httpc.h */
int
px_http(const struct px_hreq *r, const char *ca_file, int timeout_ms,
    struct px_hresp *out, char *err, size_t errcap)
{
	struct px_arena ar;
	struct px_url u;
	struct up_target t;
	struct up_timeouts to;
	struct up_req *rq;
	struct call c;
	struct jw head;
	long long end;
	int rc = -1;

	memset(out, 0, sizeof *out);
	memset(&c, 0, sizeof c);
	c.out = out;
	if (timeout_ms <= 0)
		timeout_ms = PX_HTTPC_TIMEOUT_MS;
	px_arena_init(&ar, 0);
	jw_init(&head, &ar, 64 * 1024);
	if (px_hreq_head(r, &u, &head) < 0) {
		snprintf(err, errcap, "bad URL %.300s", r->url);
		goto done;
	}
	if (hloop == NULL && ((hloop = ev_new()) == NULL ||
	    (heng = up_engine_new(hloop)) == NULL)) {
		snprintf(err, errcap, "cannot start an event loop");
		goto done;
	}
	if (u.tls && !anchors) {
		if (tls_load_ca(ca_file, err, errcap) < 0)
			goto done;
		anchors = 1;
	}
	up_engine_set_pool(heng, 0);
	t.host = u.host;
	t.port = u.port;
	t.tls = u.tls;
	t.label = u.host;
	to.connect_ms = timeout_ms < 10000 ? timeout_ms : 10000;
	to.first_byte_ms = timeout_ms;
	to.idle_ms = timeout_ms;
	rq = up_start(heng, &t, &to, head.buf, head.len, r->body, r->body_n,
	    &cbs, &c);
	if (rq == NULL) {
		snprintf(err, errcap, "out of memory");
		goto done;
	}
	end = ev_update_now(hloop) + timeout_ms;
	while (!c.done) {
		if (ev_update_now(hloop) >= end) {
			up_cancel(rq);
			snprintf(err, errcap, "%s: no answer within %d ms",
			    u.host, timeout_ms);
			goto done;
		}
		if (ev_run_once(hloop, 100) < 0) {
			up_cancel(rq);
			snprintf(err, errcap, "event loop failed");
			goto done;
		}
	}
	if (c.failed) {
		snprintf(err, errcap, "%s: %s", u.host, c.msg);
		goto done;
	}
	if (c.toobig) {
		snprintf(err, errcap, "%s: the answer is larger than %u bytes",
		    u.host, (unsigned)PX_ACCT_ANSWER_MAX);
		goto done;
	}
	if (out->body == NULL && (out->body = calloc(1, 1)) == NULL) {
		snprintf(err, errcap, "out of memory");
		goto done;
	}
	rc = 0;
done:
	if (rc < 0)
		px_hresp_free(out);
	px_arena_free(&ar);
	return rc;
}
