/*
 * rstore.c - previous_response_id served by the proxy (store.c holds the
 * records, the Responses codec builds and walks them).
 *
 * Every response served to a POST /v1/responses client is recorded unless
 * the request said "store": false: converted or passthrough, streamed
 * (from the terminal response.completed / response.incomplete event) or
 * not. A request that continues a stored response gets the stored
 * conversation in front of its input and goes upstream without
 * previous_response_id; an unknown id goes to an openai-responses
 * upstream unchanged (it may know it) and is a 404 for any other. Record
 * writes to the log are plain write() calls from the loop (small and
 * sequential; see store.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proxy_int.h"

struct px_store *rstore;
static long long rstore_sweep_at;




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
/* see proxy_int.h */
int
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
/* see proxy_int.h */
void
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
/* see proxy_int.h */
void
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
/* see proxy_int.h */
void
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
/* see proxy_int.h */
void
rs_local(struct conn *c, const struct http_req *r, struct px_str id)
{
	const char *rec;
	size_t rn;
	long long now = wall_ms();

	c->cfmt = PX_FMT_RESPONSES;
	if (http_str_eq(r->method, "DELETE")) {
		if (!rstore || !px_store_del(rstore, id.p, id.n, now)) {
			rstore_log_error();
			rs_not_found(c, id, "Response", NULL, NULL);
			return;
		}
		rstore_log_error();
		send_deleted(c, id, "response.deleted");
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


/* see proxy_int.h */
int
rs_open(void)
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


/* see proxy_int.h */
void
rs_sweep(void)
{
	if (!rstore || now_ms() < rstore_sweep_at)
		return;
	rstore_sweep_at = now_ms() + PX_RSTORE_SWEEP_MS;
	px_store_sweep(rstore, wall_ms());
	rstore_log_error();
}

/* see proxy_int.h */
void
rs_close(void)
{
	px_store_close(rstore);
	rstore = NULL;
}
