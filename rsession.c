/*
 * rsession.c - conversation sessions (X-Session-ID) served by the proxy:
 * the glue between a request and session.c's store.
 *
 * With the store on ("sessions" in the config), every generation request
 * (Chat, Messages, Responses, Gemini generateContent and its stream) is
 * in a session: the one its X-Session-ID names when that session is known
 * under the request's client key, else a new one. The request is then
 * always converted through the IR (never passed through as it came): the
 * session's history is put in front of its messages. When the answer is
 * complete (non-streamed, or a stream that finished), the request's own
 * messages and the answer are appended as one turn. A stream's answer is
 * gathered by a second converter into the Responses shape, whose terminal
 * event carries the whole response; an error or a broken stream appends
 * nothing. Every answer to such a request, errors included, carries
 * X-Session-ID.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy_int.h"

struct px_ses *sessions;
static long long ses_sweep_at;

/* The client key's scope: its digest in hex ("" without keys). */
static struct px_str
scope_of(const struct conn *c, char buf[65])
{
	struct px_str s;

	s.n = key_scope(c, buf);
	s.p = buf;
	return s;
}

static void
new_id(struct conn *c)
{
	unsigned char rnd[16];
	size_t i;

	if (getentropy(rnd, sizeof rnd) < 0) {
		/* no entropy source: a unique, if guessable, id */
		long long t = clock_us();
		for (i = 0; i < sizeof rnd; i++)
			rnd[i] = (unsigned char)((t >> (i % 8 * 8)) ^ c->id ^
			    (i * 37u));
	}
	px_ses_new_id(rnd, c->ses_id);
}

/* see proxy_int.h */
void
sx_take(struct conn *c, const char *v, size_t n)
{
	c->ses_in[0] = 0;
	if (v && px_ses_id_ok(v, n)) {
		memcpy(c->ses_in, v, n);
		c->ses_in[n] = 0;
	}
}

/* see proxy_int.h */
void
sx_prepare(struct conn *c)
{
	char sb[65];
	struct px_str sc = scope_of(c, sb);

	c->ses_on = 0;
	c->ses_id[0] = 0;
	c->ses_nhist = 0;
	c->ses_hist = NULL;
	c->ses_acc = NULL;
	if (!sessions || (c->ep != EP_CHAT && c->ep != EP_MESSAGES &&
	    c->ep != EP_RESPONSES && c->ep != EP_GEMINI_GEN &&
	    c->ep != EP_GEMINI_STREAM))
		return;
	c->ses_on = 1;
	if (c->ses_in[0] && px_ses_get(sessions, c->ses_in, strlen(c->ses_in),
	    sc, wall_ms(), &c->arena, &c->ses_hist, &c->ses_nhist)) {
		snprintf(c->ses_id, sizeof c->ses_id, "%s", c->ses_in);
		DBG("conn %lu: session %s: %zu message(s) of history", c->id,
		    c->ses_id, c->ses_nhist);
		px_metrics_session(&metrics, "continued");
		return;
	}
	px_metrics_session(&metrics, c->ses_in[0] ? "unknown" : "new");
	c->ses_hist = NULL;
	c->ses_nhist = 0;
	new_id(c);
}

/* see proxy_int.h */
int
sx_apply(struct conn *c)
{
	struct ir_msg *m;
	size_t n = c->ses_nhist + c->req.nmsgs;

	if (!c->ses_on || c->ses_nhist == 0)
		return 0;
	m = px_arena_alloc(&c->arena, n * sizeof *m);
	if (!m)
		return -1;
	memcpy(m, c->ses_hist, c->ses_nhist * sizeof *m);
	if (c->req.nmsgs)
		memcpy(m + c->ses_nhist, c->req.msgs, c->req.nmsgs * sizeof *m);
	c->req.msgs = m;
	c->req.nmsgs = n;
	c->ses_nhist_in = c->ses_nhist;   /* in front of req.msgs now */
	return 0;
}

/* see proxy_int.h */
void
sx_save(struct conn *c, const struct ir_part *ans, size_t nans)
{
	char sb[65];
	struct px_str sc = scope_of(c, sb);
	struct px_arena tmp;
	size_t skip = c->ses_nhist_in;

	if (!c->ses_on || !sessions || !c->ses_id[0] || !c->ir_ok)
		return;
	c->ses_on = 0;          /* once */
	if (skip > c->req.nmsgs)
		skip = c->req.nmsgs;
	px_arena_init(&tmp, 0);
	if (px_ses_append(sessions, c->ses_id, strlen(c->ses_id), sc,
	    wall_ms(), c->req.msgs + skip, c->req.nmsgs - skip, ans, nans,
	    &tmp) < 0)
		px_log("sessions: turn of %s not kept (bounds)", c->ses_id);
	px_arena_free(&tmp);
}

/* see proxy_int.h */
void
sx_stream_begin(struct conn *c)
{
	c->ses_acc = NULL;
	if (!c->ses_on || !c->ir_ok)
		return;
	c->ses_acc = px_stream_new(&c->arena, c->ufmt, PX_FMT_RESPONSES,
	    &c->req);
	jw_init(&c->ses_w, &c->arena, 2 * (size_t)PX_SES_MAX_SESSION_BYTES);
}

/* The terminal Responses event in p[0..n): its response, decoded, saved. */
static void
acc_done(struct conn *c, const char *p, size_t n)
{
	struct sse_parser sp;
	struct sse_event ev;

	sse_init(&sp);
	while (n > 0) {
		int got = 0;
		long k = sse_feed(&sp, p, n, &ev, &got);
		const struct json *root, *r;
		struct ir_response resp;
		struct px_err perr;
		if (k < 0)
			break;
		p += k;
		n -= (size_t)k;
		if (!got)
			break;
		if (!json_eq(ev.event, ev.event_len, "response.completed") &&
		    !json_eq(ev.event, ev.event_len, "response.incomplete"))
			continue;
		root = json_parse(&c->arena, ev.data, ev.data_len, 0, NULL);
		r = json_get(root, "response");
		if (r && r->type == JSON_OBJECT && px_decode_response(
		    PX_FMT_RESPONSES, &c->arena, r->raw, r->rawlen, &resp,
		    &perr) == 0)
			sx_save(c, resp.parts, resp.nparts);
	}
	sse_free(&sp);
}

/* see proxy_int.h */
void
sx_stream_event(struct conn *c, const struct sse_event *ev)
{
	if (!c->ses_acc)
		return;
	jw_reset(&c->ses_w);
	px_stream_feed(c->ses_acc, ev, &c->ses_w);
	if (px_stream_error(c->ses_acc, NULL)) {
		c->ses_acc = NULL;        /* a failed answer is not kept */
		return;
	}
	if (px_stream_done(c->ses_acc) && !c->ses_w.err) {
		acc_done(c, c->ses_w.buf, c->ses_w.len);
		c->ses_acc = NULL;
	}
}

/* see proxy_int.h */
void
sx_stream_end(struct conn *c, int complete)
{
	if (!c->ses_acc)
		return;
	jw_reset(&c->ses_w);
	if (complete && px_stream_end(c->ses_acc, &c->ses_w) &&
	    !px_stream_error(c->ses_acc, NULL) && !c->ses_w.err)
		acc_done(c, c->ses_w.buf, c->ses_w.len);
	c->ses_acc = NULL;
}

/* see proxy_int.h */
void
sx_local(struct conn *c, const struct http_req *r, struct px_str id)
{
	char sb[65];
	struct px_str sc = scope_of(c, sb);

	if (!http_str_eq(r->method, "DELETE")) {
		send_405(c, "DELETE");
		return;
	}
	if (!sessions || !px_ses_del(sessions, id.p, id.n, sc, wall_ms())) {
		char msg[200];
		snprintf(msg, sizeof msg, "Session with id '%.*s' not found.",
		    (int)(id.n > 100 ? 100 : id.n), id.p);
		send_error(c, 404, msg);
		return;
	}
	send_deleted(c, id, "session.deleted");
}

/* see proxy_int.h */
void
sx_metrics(void)
{
	struct px_store_stats st;

	if (!sessions)
		return;
	px_store_stats(px_ses_store(sessions), &st);
	px_metrics_store(&metrics, PX_MET_SESSIONS, st.entries, st.bytes,
	    st.evicted, st.expired);
}

/* see proxy_int.h */
int
sx_open(void)
{
	struct px_ses_opts o;
	char path[1200], err[512];

	if (cfg->ses_max_bytes == 0)
		return 0;
	memset(&o, 0, sizeof o);
	o.store.max_bytes = cfg->ses_max_bytes;
	o.store.max_entries = cfg->ses_max_entries;
	o.store.ttl_ms = cfg->ses_ttl_s * 1000;
	o.max_turns = cfg->ses_max_turns;
	o.max_session_bytes = PX_SES_MAX_SESSION_BYTES;
	if (cfg->ses_persist && state_path()[0]) {
		snprintf(path, sizeof path, "%s/sessions.log", state_path());
		o.store.path = path;
	} else if (cfg->ses_persist) {
		px_log("sessions: no state directory: kept in memory only");
	}
	sessions = px_ses_open(&o, wall_ms(), err, sizeof err);
	if (!sessions) {
		px_log("sessions: %s", err);
		return -1;
	}
	px_log("sessions: %zu byte(s), %zu session(s), %zu turn(s) each, "
	    "ttl %llds%s%s", cfg->ses_max_bytes, cfg->ses_max_entries,
	    cfg->ses_max_turns, cfg->ses_ttl_s, o.store.path ? ", log " : "",
	    o.store.path ? o.store.path : "");
	return 0;
}

/* see proxy_int.h */
void
sx_sweep(void)
{
	const char *e;

	if (!sessions || now_ms() < ses_sweep_at)
		return;
	ses_sweep_at = now_ms() + PX_RSTORE_SWEEP_MS;
	px_store_sweep(px_ses_store(sessions), wall_ms());
	if ((e = px_store_error(px_ses_store(sessions))) != NULL)
		px_log("sessions: %s", e);
}

/* see proxy_int.h */
void
sx_close(void)
{
	px_ses_close(sessions);
	sessions = NULL;
}
