/*
 * relay.c - the upstream half of a request: the candidates of its route
 * (route.c decides; this file drives), the request built for each one in
 * the wire format that upstream speaks, the engine's callbacks
 * (upstream.c), and the answer or stream converted back for the client.
 *
 * A failed attempt moves on to the next candidate as long as no byte of
 * the answer has reached the client. A stream's opening events (message
 * start, role chunk) are held while another candidate could still take
 * over, until the first content or an error event arrives: an upstream
 * that fails in-band before any content is retried like one that failed
 * with a status. The client's body is decoded into the IR at most once,
 * and only when a candidate speaks another format.
 *
 * The most informative failure is kept (its status, body and headers) and
 * answered, in the client's format, when every candidate failed or is
 * cooling down; Retry-After then says when the first one is available.
 *
 * A quiet stream gets heartbeats (relay_heartbeat()); an attempt whose
 * answer is in the response cache (rcache.c) is replayed through the
 * engine's callbacks instead of going upstream (cache_replay()).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "account.h"
#include "proxy_int.h"

static void attempt_next(struct conn *c);
static void answer_fail(struct conn *c, int status, const char *fmt, ...);
static const char *lastfail_route(const struct conn *c);
static void exec_begin(struct conn *c, const char *body, size_t n);
static int acct_build(struct conn *c, enum px_acct_kind k, const char *body,
    size_t n);
static void lastfail_set(const char *prov, const char *msg);
static void attempt_keep(struct conn *c, int status, const char *body,
    size_t n, const char *msg);

static char *
arena_cstr(struct conn *c, const char *p, size_t n)
{
	return px_arena_strndup(&c->arena, p, n);
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
					int64_t t;
					long long d;
					if (px_parse_rfc3339(v.p, v.n, &t) < 0)
						break;
					d = (long long)(t / 1000 - wall_ms() / 1000);
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
					int64_t ms;
					if (px_parse_duration(v.p, v.n, &ms) < 0)
						break;
					px_fmt_rfc3339((wall_ms() + ms + 999) /
					    1000 * 1000, val, sizeof val);
					vn = strlen(val);
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

/* ------------------------------------------------------------ the request
 * for one candidate */

static enum px_op_kind
op_kind(const struct conn *c)
{
	switch (c->ep) {
	case EP_COUNT_TOKENS:
	case EP_GEMINI_COUNT:
		return PX_OP_COUNT;
	case EP_EMBEDDINGS:
	case EP_GEMINI_EMBED:
		return PX_OP_EMBED;
	case EP_GEMINI_BATCH_EMBED:
		return PX_OP_EMBED_BATCH;
	default:
		return PX_OP_GENERATE;
	}
}

/* see proxy_int.h */
void
head_start(struct jw *h, const char *method, const char *host,
    const char *port, int tls, const char *base_path, const char *path)
{
	jw_puts(h, method);
	jw_puts(h, " ");
	jw_puts(h, base_path);
	jw_puts(h, path);
	jw_puts(h, " HTTP/1.1\r\nHost: ");
	jw_puts(h, host);
	if (strcmp(port, tls ? "443" : "80") != 0) {
		jw_puts(h, ":");
		jw_puts(h, port);
	}
	jw_puts(h, "\r\n");
}

/* see proxy_int.h */
void
head_auth(struct jw *h, const struct px_provider *p, const char *secret)
{
	const char *prefix, *name = px_provider_auth(p, &prefix);

	if (secret == NULL || secret[0] == 0 || name == NULL)
		return;
	jw_puts(h, name);
	jw_puts(h, ": ");
	jw_puts(h, prefix);
	jw_puts(h, secret);
	jw_puts(h, "\r\n");
}

/* An answer's retry hints (Retry-After, the rate-limit headers) into o. */
static void
outcome_headers(struct px_outcome *o, const struct http_resp *r)
{
	size_t i;

	for (i = 0; i < r->nhdrs; i++)
		px_outcome_header(o, r->hdrs[i].name.p, r->hdrs[i].name.n,
		    r->hdrs[i].value.p, r->hdrs[i].value.n);
}

/* The end of an upstream request head: the provider's own "headers",
 * Content-Length and the blank line. */
static void
head_end(struct jw *h, const struct px_provider *p, size_t n)
{
	char cl[48];
	int i;

	for (i = 0; i < p->nheaders; i++) {
		jw_puts(h, p->headers[i].name);
		jw_puts(h, ": ");
		jw_puts(h, p->headers[i].value);
		jw_puts(h, "\r\n");
	}
	snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", n);
	jw_puts(h, cl);
}

/* Request head for the current candidate in the arena; the body follows
 * it unchanged (borrowed, not copied). */
static int
build_upstream(struct conn *c, const char *body, size_t n)
{
	const struct px_provider *p = c->prov;
	char path[1024];
	struct px_str um = { c->up_model, strlen(c->up_model) };
	int stream = c->req.stream, k;
	enum px_acct_kind ak;
	struct jw h;

	c->where.host = p->host;
	c->where.port = p->port;
	c->where.base_path = p->base_path;
	c->where.tls = p->tls;
	if (px_acct_kind_of(p, &ak) == 0)
		return acct_build(c, ak, body, n);
	if (op_kind(c) != PX_OP_GENERATE)
		k = px_op_path(&c->op, um, path, sizeof path);
	else
		k = px_provider_path(p, c->ufmt, c->up_model, stream, path,
		    sizeof path);
	if (k < 0)
		return -1;
	jw_init(&h, &c->arena, 64 * 1024);
	head_start(&h, "POST", p->host, p->port, p->tls, p->base_path, path);
	jw_puts(&h, "User-Agent: llmproxy/" LLMPROXY_VERSION
	    "\r\nContent-Type: application/json\r\n");
	jw_puts(&h, stream ? "Accept: text/event-stream\r\n" :
	    "Accept: application/json\r\n");
	head_auth(&h, p, c->cred == NULL ? NULL :
	    c->cred->src == PX_CRED_EXCHANGE ? acct_token(c) :
	    c->cred->secret);
	if (c->ufmt == PX_FMT_ANTHROPIC) {
		jw_puts(&h, "anthropic-version: ");
		jw_puts(&h, c->aversion ? c->aversion : p->anthropic_version);
		jw_puts(&h, "\r\n");
		if (c->abeta && c->cfmt == PX_FMT_ANTHROPIC) {
			jw_puts(&h, "anthropic-beta: ");
			jw_puts(&h, c->abeta);
			jw_puts(&h, "\r\n");
		}
	}
	head_end(&h, p, n);
	if (h.err)
		return -1;
	c->ureq = h.buf;
	c->ureq_len = h.len;
	c->ubody_out = body;
	c->ubody_out_n = n;
	return 0;
}

/*
 * A same-format body as the client sent it, but for what the proxy must
 * change, spliced at the source bytes of the parsed tree (the body was
 * parsed once; everything else stays byte for byte):
 *   - the top-level "model" value, when the upstream model differs;
 *   - a Chat stream whose client did not ask for usage gets
 *     "stream_options": {"include_usage": true} (usage records need the
 *     counts); the usage-only chunk is then taken out of what the client
 *     gets (c->strip_usage).
 * Returns 0 (body and n may be replaced), or -1 (too large).
 */
static int
passthrough_body(struct conn *c, const char **body, size_t *n)
{
	struct json *m = json_get(c->root, "model"), *so = NULL, *iu = NULL;
	const char *model = c->att.body_model;
	int set_model = c->cfmt != PX_FMT_GEMINI && m && m->raw &&
	    strcmp(model, c->model) != 0;
	int ask_usage = 0;
	size_t cut_a = 0, cut_b = 0;         /* stream_options value */
	struct jw w;

	c->strip_usage = 0;
	if (c->cfmt == PX_FMT_CHAT && c->req.stream) {
		so = json_get(c->root, "stream_options");
		iu = so ? json_get(so, "include_usage") : NULL;
		ask_usage = !(iu && iu->type == JSON_TRUE) &&
		    (so == NULL || so->type == JSON_OBJECT);
	}
	if (!set_model && !ask_usage)
		return 0;
	jw_init(&w, &c->arena, *n + strlen(model) * 6 + 256);
	if (ask_usage && so) {
		cut_a = (size_t)(so->raw - *body);
		cut_b = cut_a + so->rawlen;
	}
	/* the edits, in body order: the model value and stream_options */
	{
		size_t at = 0, mo = set_model ? (size_t)(m->raw - *body) : 0;
		int model_first = set_model && (!ask_usage || !so || mo < cut_a);

		if (ask_usage && !so) {
			/* insert after the opening brace */
			size_t ob = (size_t)(c->root->raw - *body) + 1;
			if (set_model && mo < ob)
				return -1;       /* cannot happen */
			jw_put(&w, *body, ob);
			jw_puts(&w, "\"stream_options\":{\"include_usage\":true}");
			if (c->root->len > 0)
				jw_put(&w, ",", 1);
			at = ob;
		}
		if (model_first) {
			jw_put(&w, *body + at, mo - at);
			jw_str(&w, model, strlen(model));
			at = mo + m->rawlen;
		}
		if (ask_usage && so) {
			const struct json *e;
			jw_put(&w, *body + at, cut_a - at);
			jw_put(&w, "{", 1);
			for (e = so->child; e; e = e->next) {
				if (e->keylen == 13 &&
				    memcmp(e->key, "include_usage", 13) == 0)
					continue;
				jw_str(&w, e->key, e->keylen);
				jw_put(&w, ":", 1);
				jw_put(&w, e->raw, e->rawlen);
				jw_put(&w, ",", 1);
			}
			jw_puts(&w, "\"include_usage\":true}");
			at = cut_b;
		}
		if (set_model && !model_first) {
			jw_put(&w, *body + at, mo - at);
			jw_str(&w, model, strlen(model));
			at = mo + m->rawlen;
		}
		jw_put(&w, *body + at, *n - at);
	}
	if (w.err)
		return -1;
	c->strip_usage = ask_usage;
	*body = w.buf;
	*n = w.len;
	return 0;
}

/* A local answer for a token count no upstream can give. */
static void
answer_estimate(struct conn *c)
{
	char buf[256];
	struct jw w;
	long long t;

	jw_init_fixed(&w, buf, sizeof buf);
	px_op_estimate(&c->op, &w, &t);
	c->usage.input = t;
	send_body(c, 200, "application/json", w.buf, w.len,
	    "x-llmproxy-estimate: true\r\n");
	out_flush(c);
}

/*
 * The body for the current candidate: the client's bytes when it speaks
 * the same format (the model name set), else encoded from the IR, which
 * is decoded at most once per request. Returns 0 built, -1 answered
 * (an error that is the client's, or a local estimate).
 */
static int
attempt_body(struct conn *c, const char **bodyp, size_t *np)
{
	const char *body = c->xbody;
	size_t n = c->xbody_n;
	struct px_str m = { c->up_model, strlen(c->up_model) };
	struct px_err perr;
	struct jw w;

	c->passthrough = 0;
	c->dropped = NULL;
	if (op_kind(c) != PX_OP_GENERATE) {
		struct px_str cm = { c->model, strlen(c->model) };
		px_op_init(&c->op, op_kind(c), c->cfmt, c->ufmt, cm);
		jw_init(&w, &c->arena, 4 * n + PX_EMBED_INPUTS_MAX *
		    (m.n + 160) + 65536);
		if (px_op_request(&c->op, &c->arena, body, n, m, &w, &perr) < 0) {
			send_error(c, perr.status ? perr.status : 400, perr.msg);
			out_flush(c);
			return -1;
		}
		if (c->op.estimate) {
			answer_estimate(c);
			return -1;
		}
		c->passthrough = c->op.passthrough;
		*bodyp = w.buf;
		*np = w.len;
		return 0;
	}
	/* A Gemini client streaming without alt=sse wants a JSON array, which
	 * the upstream (always asked for SSE) does not send: convert. */
	c->passthrough = c->ufmt == c->cfmt && !c->ses_on &&
	    !(c->cfmt == PX_FMT_GEMINI && c->req.stream && !c->gemini_alt_sse);
	if (c->passthrough) {
		c->req.gemini_array_stream = c->cfmt == PX_FMT_GEMINI &&
		    c->req.stream && !c->gemini_alt_sse;
		if (passthrough_body(c, &body, &n) < 0) {
			send_error(c, 413, "request too large");
			out_flush(c);
			return -1;
		}
		*bodyp = body;
		*np = n;
		return 0;
	}
	if (!c->ir_ok) {
		struct ir_request r = c->req;
		if (px_decode_request(c->cfmt, &c->arena, body, n, &c->req,
		    &perr) < 0) {
			send_error(c, perr.status ? perr.status : 400, perr.msg);
			out_flush(c);
			return -1;
		}
		if (c->cfmt == PX_FMT_GEMINI) {
			c->req.model = r.model;
			c->req.stream = r.stream;
			c->req.gemini_array_stream = c->req.stream &&
			    !c->gemini_alt_sse;
		}
		if (c->rs_prev.n)
			c->req.previous_response_id = c->rs_prev; /* echoed */
		if (sx_apply(c) < 0) {
			send_error(c, 503, "out of memory");
			out_flush(c);
			return -1;
		}
		c->ir_ok = 1;
	}
	{
		long long mt = c->req.max_tokens;
		struct px_str bm = { c->att.body_model, strlen(c->att.body_model) };
		if (mt < 0 && cfg->default_max_tokens > 0 &&
		    c->ufmt == PX_FMT_ANTHROPIC)
			c->req.max_tokens = c->cref->cfg->default_max_tokens;
		jw_init(&w, &c->arena, n * 2 + 65536);
		if (px_encode_request(c->ufmt, &c->req, bm, &w, &perr) < 0) {
			c->req.max_tokens = mt;
			send_error(c, perr.status ? perr.status : 400, perr.msg);
			out_flush(c);
			return -1;
		}
		c->req.max_tokens = mt;
		if (w.err) {
			send_error(c, 413, "converted request too large");
			out_flush(c);
			return -1;
		}
	}
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
	*bodyp = w.buf;
	*np = w.len;
	return 0;
}

/* ------------------------------------------------------------ accounts
 *
 * Subscription accounts (account providers) and token exchanges: the
 * request each account kind requires and its answer unwrapped, built by
 * account_shape.c; the tokens come from acctsrv.c. The generic relay
 * reaches these through one-line call sites.
 */

/* A provider "headers" entry of that name replaces the account kind's
 * own header (version-pinned values can be changed in the config). */
static int
acct_skip(void *ctx, const char *name)
{
	const struct px_provider *p = ctx;
	int i;

	for (i = 0; i < p->nheaders; i++)
		if (strcasecmp(p->headers[i].name, name) == 0)
			return 1;
	return 0;
}

/*
 * A Copilot account's requests go to the API host its token names
 * (endpoints.api: individual, business and enterprise plans each have
 * their own) unless the config set the provider's base_url. Only https,
 * or http to a loopback address (a local test server), is followed.
 */
static void
acct_where(struct conn *c, const struct px_account *a)
{
	struct px_url u;
	size_t bl;
	char *bp;

	if (c->prov->kind != PX_PT_COPILOT_ACCOUNT ||
	    !c->prov->base_url_default || a == NULL || !a->api_base[0] ||
	    px_url_parse(a->api_base, &u) < 0 ||
	    (!u.tls && !px_host_is_loopback(u.host)) || u.path[0] != '/')
		return;
	bl = strcspn(u.path, "?#");
	while (bl > 0 && u.path[bl - 1] == '/')
		bl--;
	if ((bp = px_arena_strndup(&c->arena, u.path, bl)) == NULL ||
	    (c->where.host = px_arena_strndup(&c->arena, u.host,
	    strlen(u.host))) == NULL ||
	    (c->where.port = px_arena_strndup(&c->arena, u.port,
	    strlen(u.port))) == NULL) {
		c->where.host = c->prov->host;    /* out of memory: as set */
		c->where.port = c->prov->port;
		return;
	}
	c->where.base_path = bp;
	c->where.tls = u.tls;
}

/* build_upstream() for an account provider: its path, headers and body. */
static int
acct_build(struct conn *c, enum px_acct_kind k, const char *body, size_t n)
{
	const struct px_provider *p = c->prov;
	const struct px_account *a = acct_account(c);
	struct px_acct_req q;
	char path[1024];
	const char *ob;
	size_t on;
	struct jw h;

	memset(&q, 0, sizeof q);
	q.kind = k;
	q.token = acct_token(c);
	q.account_id = a ? a->account_id : NULL;
	q.project = a ? a->project : NULL;
	q.model = c->up_model;
	q.stream = c->req.stream;
	q.op = op_kind(c);
	q.client_beta = c->cfmt == PX_FMT_ANTHROPIC ? c->abeta : NULL;
	q.client_version = c->aversion;
	q.request_id = c->rid;
	if (px_acct_path(&q, c->ufmt, path, sizeof path) < 0 ||
	    px_acct_body(&q, &c->arena, body, n, &ob, &on) < 0)
		return -1;
	c->acct_agg = k == PX_ACCT_CODEX && !c->req.stream;
	c->acct_sse = k == PX_ACCT_GEMINI && c->req.stream &&
	    q.op == PX_OP_GENERATE;
	acct_where(c, a);
	jw_init(&h, &c->arena, 64 * 1024);
	head_start(&h, "POST", c->where.host, c->where.port, c->where.tls,
	    c->where.base_path, path);
	px_acct_head(&q, acct_skip, (void *)p, &h);
	head_end(&h, p, on);
	if (h.err)
		return -1;
	c->ureq = h.buf;
	c->ureq_len = h.len;
	c->ubody_out = ob;
	c->ubody_out_n = on;
	return 0;
}

/* The candidate's run-time credential has no usable token: a failed
 * attempt (401: the gateway disables it; acctsrv.c enables it again when
 * a renewal works), kept as "no usable token" for the final answer. */
static void
acct_unusable(struct conn *c)
{
	struct px_outcome o;
	char msg[256];

	snprintf(msg, sizeof msg, "upstream %s: credential %s has no usable "
	    "token (see the proxy's log)", c->prov->name, c->cred->label);
	lastfail_set(c->prov->name, msg);
	px_outcome_init(&o, PX_OUT_HTTP, 401);
	px_gw_report(gw, &c->plan, &c->att, &o, wall_ms());
	if (px_plan_keep(&c->plan, &c->att))
		attempt_keep(c, 503, NULL, 0, msg);
	DBG("conn %lu: %s: trying the next", c->id, msg);
}

/* A quota answer whose reset time is in its body (Codex usage limits,
 * Gemini RetryInfo): 1 when c's provider says so; the 429 is then
 * reported once the body is in (acct_quota_report). */
static int
acct_quota_defer(struct conn *c, int status)
{
	enum px_acct_kind k;

	if (status != 429 || px_acct_kind_of(c->prov, &k) < 0 ||
	    (k != PX_ACCT_CODEX && k != PX_ACCT_GEMINI))
		return 0;
	c->acct_q = 1;
	return 1;
}

static void
acct_quota_report(struct conn *c, const char *body, size_t n)
{
	struct px_outcome o;
	enum px_acct_kind k;
	long long at;

	c->acct_q = 0;
	px_outcome_init(&o, PX_OUT_HTTP, c->ustatus);
	if (c->retry_after[0])
		px_outcome_header(&o, "retry-after", 11, c->retry_after,
		    strlen(c->retry_after));
	if (body != NULL && px_acct_kind_of(c->prov, &k) == 0 &&
	    (at = px_acct_quota_reset(k, c->ustatus, body, n, wall_ms())) > 0)
		o.reset_at = at;
	px_gw_report(gw, &c->plan, &c->att, &o, wall_ms());
	c->att_keep = px_plan_keep(&c->plan, &c->att);
}

/* A 2xx answer of an account upstream, as its format's own: Codex's
 * stream aggregated, Code Assist's envelope taken off. -1 when answered
 * (the stream failed). */
static int
acct_answer(struct conn *c, const char **body, size_t *n)
{
	enum px_acct_kind k;
	char err[256];
	struct jw w;

	if (px_acct_kind_of(c->prov, &k) < 0)
		return 0;
	if (k == PX_ACCT_CODEX && c->acct_agg && op_kind(c) == PX_OP_GENERATE) {
		jw_init(&w, &c->arena, *n + 65536);
		if (px_acct_aggregate(&c->arena, *body, *n, &w, err,
		    sizeof err) < 0) {
			answer_fail(c, 502, "upstream %s: %s", c->prov->name, err);
			return -1;
		}
		*body = w.buf;
		*n = w.len;
	} else if (k == PX_ACCT_GEMINI) {
		px_acct_unwrap(*body, *n, body, n);
	}
	return 0;
}

/* Code Assist stream events carry {"response": event}: the event. */
static void
acct_event(struct conn *c, struct sse_event *ev)
{
	if (c->acct_sse)
		px_acct_unwrap(ev->data, ev->data_len, &ev->data, &ev->data_len);
}

/* ... and a Gemini client of Code Assist gets the events re-framed
 * (appended to c->sout, which the caller writes). */
static void
acct_pass_event(struct conn *c, const struct sse_event *ev)
{
	jw_puts(&c->sout, "data: ");
	jw_put(&c->sout, ev->data, ev->data_len);
	jw_puts(&c->sout, "\r\n\r\n");
}

/* ------------------------------------------------------------ attempts */

static void up_on_head(void *ud, const struct http_resp *r);
static void up_on_data(void *ud, const char *p, size_t n);
static void up_on_end(void *ud, int complete);
static void up_on_error(void *ud, enum up_err e, const char *msg);

static const struct up_callbacks up_cbs = {
	up_on_head, up_on_data, up_on_end, up_on_error
};

/* Forget what the last attempt left: its answer, stream and headers. */
static void
attempt_reset(struct conn *c)
{
	if (c->up) {
		up_cancel(c->up);
		c->up = NULL;
	}
	relay_exec_stop(c);
	sse_free(&c->sse);
	memset(&c->sse, 0, sizeof c->sse);
	c->hold_len = 0;
	c->sse_blank = 1;
	c->sse_cr = 0;
	c->stream = NULL;
	c->streaming = 0;
	c->holding = 0;
	c->resp_chunked = 0;
	c->head_sent = 0;
	c->att_err = c->att_keep = 0;
	c->ustatus = 0;
	c->retry_after[0] = 0;
	c->fwd = NULL;
	c->ubody_n = 0;
	c->t_first_us = 0;
	c->usage.input = c->usage.output = -1;
	if (c->up_paused)
		c->up_paused = 0;
	/* bytes of the held head and opening events go */
	if (c->out_len > c->out_mark)
		c->out_len = c->out_mark > c->out_off ? c->out_mark : c->out_off;
}

/*
 * A cached answer (rcache.c) replayed through the engine's callbacks, as
 * if the upstream had answered 200 with it: it is converted (or passed
 * through) like a live answer, a stream as a stream.
 */
static void
cache_replay(struct conn *c, const char *p, size_t n)
{
	struct http_hdr h;
	struct http_resp r;
	const char *ct = c->req.stream ? "text/event-stream" :
	    "application/json";

	memset(&r, 0, sizeof r);
	r.status = 200;
	r.content_length = c->req.stream ? -1 : (int64_t)n;
	h.name.p = "content-type";
	h.name.n = 12;
	h.value.p = ct;
	h.value.n = strlen(ct);
	r.hdrs = &h;
	r.nhdrs = 1;
	c->out_mark = c->out_len;
	up_on_head(c, &r);
	if (c->closing || c->phase != PH_UPSTREAM)
		return;
	up_on_data(c, p, n);
	if (c->closing || c->phase != PH_UPSTREAM)
		return;
	up_on_end(c, 1);
}

/* Hand the built request to the upstream engine. */
static void
up_begin(struct conn *c)
{
	struct up_target t;
	struct up_timeouts to;
	const struct px_config *rc = c->cref->cfg;
	const char *cp;
	size_t cn;

	mem_sync(c);
	if (mem_over(0)) {
		send_busy(c);
		out_flush(c);
		return;
	}
	if (op_kind(c) == PX_OP_GENERATE && cx_lookup(c, &cp, &cn)) {
		cache_replay(c, cp, cn);
		return;
	}
	t.host = c->where.host;
	t.port = c->where.port;
	t.tls = c->where.tls;
	t.label = c->prov->name;
	to.connect_ms = rc->connect_timeout_ms;
	to.first_byte_ms = rc->first_byte_timeout_ms;
	to.idle_ms = rc->stream_idle_timeout_ms;
	c->out_mark = c->out_len;
	c->up = up_start(upe, &t, &to, c->ureq, c->ureq_len, c->ubody_out,
	    c->ubody_out_n, &up_cbs, c);
	if (c->up == NULL) {
		send_busy(c);
		out_flush(c);
	}
}

/*
 * Forwarded headers without retry-after-ms (arena; NULL when none are
 * left): a kept failure's own hint may say another time than the
 * Retry-After computed from every candidate, and the SDKs read
 * retry-after-ms first.
 */
static char *
fwd_without_retry_ms(struct conn *c, char *fwd)
{
	const char *p, *nl;
	char *out;
	size_t n = 0;

	if (fwd == NULL || (out = px_arena_alloc(&c->arena,
	    strlen(fwd) + 1)) == NULL)
		return fwd;
	for (p = fwd; (nl = strstr(p, "\r\n")) != NULL; p = nl + 2) {
		if (strncasecmp(p, "retry-after-ms:", 15) == 0)
			continue;
		memcpy(out + n, p, (size_t)(nl + 2 - p));
		n += (size_t)(nl + 2 - p);
	}
	out[n] = 0;
	return n ? out : NULL;
}

/* The answer when no candidate succeeded: the most informative failure
 * in the client's format, with Retry-After at the soonest candidate. */
static void
answer_exhausted(struct conn *c)
{
	struct px_plan_result res;
	long long now = wall_ms(), ra;
	char extra[96];
	int status;

	px_plan_result(&c->plan, now, &res);
	ra = px_retry_after_s(res.retry_at, now);
	extra[0] = 0;
	if (ra > 0)
		snprintf(extra, sizeof extra, "Retry-After: %lld\r\n"
		    "retry-after-ms: %lld\r\n", ra, ra * 1000);
	else if (c->kept_body && c->retry_after[0])
		snprintf(extra, sizeof extra, "Retry-After: %s\r\n",
		    c->retry_after);
	if (res.best >= 0 && c->kept_body &&
	    (c->kept_status == 401 || c->kept_status == 403)) {
		/* the provider refused the proxy's own credential: not the
		 * client's key (a 401 would make clients ask their user to
		 * log in again), so a 502 that names the provider */
		struct ir_error e;
		char msg[800];

		px_decode_error(c->kept_fmt, &c->arena, c->kept_status,
		    c->kept_body, c->kept_n, &e);
		snprintf(msg, sizeof msg, "%s%s%.*s", c->kept_msg,
		    e.message.n ? ": " : "", (int)(e.message.n > 300 ? 300 :
		    e.message.n), e.message.p ? e.message.p : "");
		send_error_extra(c, 502, msg, extra);
	} else if (res.best >= 0 && c->kept_body) {
		/* an upstream's own error answer, converted */
		struct ir_error e;
		struct jw w;
		char msg[160];

		px_decode_error(c->kept_fmt, &c->arena, c->kept_status,
		    c->kept_body, c->kept_n, &e);
		status = px_error_status(c->cfmt, &e);
		jw_init(&w, &c->arena, c->kept_n + 4096);
		px_encode_error(c->cfmt, &e, &w);
		c->fwd = ra > 0 ? fwd_without_retry_ms(c, c->kept_fwd) :
		    c->kept_fwd;
		snprintf(msg, sizeof msg, "every candidate failed; the last "
		    "informative answer was %d", c->kept_status);
		set_errmsg(c, msg);
		send_body(c, status, "application/json", w.buf, w.len, extra);
	} else if (res.best >= 0 && c->kept_msg[0]) {
		/* no upstream answered: the failure itself (502, 504) */
		send_error_extra(c, c->kept_status ? c->kept_status : 502,
		    c->kept_msg, extra);
	} else {
		char msg[900];
		const char *why = lastfail_route(c);
		/* nothing to wait for (no Retry-After): every credential is
		 * disabled until the config is reloaded */
		int dead = res.retry_at == 0;
		snprintf(msg, sizeof msg, "no upstream is available for model "
		    "'%.200s': %s%s%s", c->model, dead ? "every candidate's "
		    "credential was refused by its provider and stays disabled "
		    "until the config is reloaded (an account: until it "
		    "logs in again)" : res.status == 429 ?
		    "every candidate is rate limited" :
		    "every candidate is cooling down after failures",
		    why ? "; the last failure: " : "", why ? why : "");
		send_error_extra(c, dead ? 502 : res.status ? res.status : 503,
		    msg, extra);
	}
	out_flush(c);
}

/*
 * The last failure of each provider (by name), so an answer given while
 * every candidate cools down can still say what went wrong (a bad
 * certificate, a DNS failure) instead of only "cooling down".
 */
static struct {
	char name[64];
	char msg[400];
	long long at;
} lastfail[PX_MAX_PROVIDERS];

static void
lastfail_set(const char *prov, const char *msg)
{
	int i, slot = 0;

	for (i = 0; i < PX_MAX_PROVIDERS; i++) {
		if (strcmp(lastfail[i].name, prov) == 0) {
			slot = i;
			break;
		}
		if (lastfail[i].at < lastfail[slot].at)
			slot = i;     /* the oldest, if the name is new */
	}
	snprintf(lastfail[slot].name, sizeof lastfail[slot].name, "%s", prov);
	snprintf(lastfail[slot].msg, sizeof lastfail[slot].msg, "%s", msg);
	lastfail[slot].at = wall_ms();
}

/* The most recent failure among the route's providers, or NULL. */
static const char *
lastfail_route(const struct conn *c)
{
	const struct px_config *rc = c->cref->cfg;
	const char *best = NULL;
	long long at = 0;
	int t, i;

	for (t = 0; t < c->route->ntargets; t++) {
		const char *name = rc->providers[c->route->targets[t].provider].name;
		for (i = 0; i < PX_MAX_PROVIDERS; i++)
			if (lastfail[i].at > at &&
			    strcmp(lastfail[i].name, name) == 0) {
				at = lastfail[i].at;
				best = lastfail[i].msg;
			}
	}
	return best;
}

/* Keep this attempt's failure as the one to answer with (the plan said
 * it is the most informative so far). body may be NULL (no answer). */
static void
attempt_keep(struct conn *c, int status, const char *body, size_t n,
    const char *msg)
{
	c->kept_status = status;
	c->kept_fmt = c->ufmt;
	c->kept_fwd = c->fwd;
	c->kept_body = NULL;
	c->kept_n = 0;
	if (body) {
		c->kept_body = px_arena_strndup(&c->arena, body, n);
		c->kept_n = c->kept_body ? n : 0;
	}
	snprintf(c->kept_msg, sizeof c->kept_msg, "%s", msg ? msg : "");
}

/* Build and send the current candidate's request. 0: sent, or answered
 * (the client's own error, a local estimate); 1: this candidate cannot
 * carry it, try the next. */
static int
attempt_send(struct conn *c)
{
	const char *body;
	size_t n;

	if (attempt_body(c, &body, &n) < 0)
		return 0;
	if (c->prov->kind == PX_PT_EXEC) {
		exec_begin(c, body, n);
		return 0;
	}
	if (build_upstream(c, body, n) < 0) {
		/* this provider cannot carry the request (a path for an
		 * operation it does not speak): the next one */
		struct px_outcome o;
		px_outcome_init(&o, PX_OUT_HTTP, 501);
		if (px_gw_report(gw, &c->plan, &c->att, &o, wall_ms()) ==
		    PX_ANSWER) {
			send_error(c, 501, "this provider cannot serve this "
			    "endpoint");
			out_flush(c);
			return 0;
		}
		return 1;
	}
	DBG("conn %lu: %s model=%s -> %s/%s%s (attempt %d)", c->id,
	    px_fmt_name(c->cfmt), c->model, c->prov->name, c->up_model,
	    c->passthrough ? " (passthrough)" : "", c->att.n);
	up_begin(c);
	return 0;
}

/* Try the next candidate, or answer when there is none. */
static void
attempt_next(struct conn *c)
{
	for (;;) {
		attempt_reset(c);
		if (!px_plan_next(gw, &c->plan, wall_ms(), &c->att)) {
			answer_exhausted(c);
			return;
		}
		c->prov = c->att.p;
		c->cred = c->att.k;
		c->ufmt = c->att.fmt;
		c->acct_retried = 0;
		snprintf(c->up_model, sizeof c->up_model, "%s", c->att.model);
		if (c->cred->src != PX_CRED_KEY) {
			/* a token obtained at run time (acctsrv.c) */
			enum acct_ready ar = acct_ready(c);
			if (ar == ACCT_WAIT)
				return;          /* relay_resume() goes on */
			if (ar == ACCT_FAIL) {
				acct_unusable(c);
				continue;
			}
		}
		if (attempt_send(c) == 0)
			return;
	}
}

/* see proxy_int.h */
void
relay_resume(struct conn *c, int ok)
{
	if (c->closing)
		return;
	attempt_reset(c);
	if (ok) {
		enum acct_ready ar = acct_ready(c);
		if (ar == ACCT_WAIT)
			return;
		if (ar == ACCT_GO && attempt_send(c) == 0)
			return;
		if (ar == ACCT_FAIL)
			acct_unusable(c);
	} else {
		acct_unusable(c);
	}
	attempt_next(c);
}

/* see proxy_int.h */
void
relay_start(struct conn *c)
{
	const struct px_config *rc = c->cref->cfg;
	const struct px_provider *first;

	c->xbody = c->rbody;
	c->xbody_n = c->rbody_n;
	c->req.fmt = c->cfmt;
	c->req.model.p = c->model;
	c->req.model.n = strlen(c->model);
	if (px_plan_init(&c->plan, rc, c->route, c->model, strlen(c->model),
	    wall_ms()) < 0) {
		send_error(c, 400, "model name too long");
		out_flush(c);
		return;
	}
	/* the store decides on the first candidate's format (an unknown
	 * previous_response_id goes on only to a Responses upstream) */
	first = &rc->providers[c->route->targets[0].provider];
	c->ufmt = px_provider_fmt(first, c->route->targets[0].model[0] ?
	    c->route->targets[0].model : c->model);
	if (c->ep == EP_RESPONSES &&
	    rs_prepare(c, c->root, &c->xbody, &c->xbody_n) < 0) {
		out_flush(c);
		return;
	}
	if (c->xbody != c->rbody) {
		/* the store rebuilt the body: the tree must be of these bytes */
		c->root = json_parse(&c->arena, c->xbody, c->xbody_n, 0, NULL);
		if (c->root == NULL) {
			send_error(c, 413, "request too complex");
			out_flush(c);
			return;
		}
	}
	attempt_next(c);
}

/* One attempt's outcome in the metrics (a fixed word, never a message). */
static void
count_attempt(struct conn *c, enum px_out_class cls, int status)
{
	const char *why = NULL;

	if (c->cache_state == CX_HIT)
		return;             /* no upstream was asked */
	if (cls == PX_OUT_HTTP || cls == PX_OUT_OK)
		why = status / 100 == 2 ? NULL : status == 429 ? "status_429" :
		    status >= 500 ? "status_5xx" : "status_4xx";
	else
		why = px_out_class_name(cls);
	px_metrics_attempt(&metrics, c->prov->name, why);
}

static enum px_out_class
err_class(enum up_err e)
{
	switch (e) {
	case UP_E_DNS:
		return PX_OUT_DNS;
	case UP_E_TLS:
		return PX_OUT_TLS;
	case UP_E_FIRST_BYTE_TIMEOUT:
		return PX_OUT_TIMEOUT;
	default:
		return PX_OUT_CONNECT;
	}
}

/*
 * An attempt failed before any byte of its answer reached the client
 * (body/n: its error answer, or NULL; msg: what failed). Returns 1 when
 * the next candidate took over, 0 when the failure is to be answered
 * (the client's own error, or a credential that is not pooled).
 */
static int
attempt_retry(struct conn *c, const struct px_outcome *o, int status,
    const char *body, size_t n, const char *msg)
{
	lastfail_set(c->prov->name, msg);
	if (px_gw_report(gw, &c->plan, &c->att, o, wall_ms()) == PX_ANSWER)
		return 0;
	if (px_plan_keep(&c->plan, &c->att))
		attempt_keep(c, status, body, n, msg);
	DBG("conn %lu: attempt %d on %s failed (%s %d): trying the next",
	    c->id, c->att.n, c->prov->name, px_out_class_name(o->cls), status);
	attempt_next(c);
	return 1;
}

/* ------------------------------------------------------------ answers and streams */

/*
 * Tell a streaming client, in its own format, that the stream broke. A
 * converted stream's encoder knows where it is; a passthrough stream was
 * never encoded: the error continues the upstream's own stream.
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
	jw_reset(&c->sout);
	if (c->passthrough) {
		if (px_stream_error(s, NULL))
			return;   /* the upstream's own error event went
			             through: it is the terminal event */
		if (px_stream_end(s, NULL))
			return;   /* upstream had finished: nothing to add */
		/* the error continues the upstream's own stream */
		px_stream_fail_passthrough(&c->arena, s, &e, &c->sout);
	} else {
		px_stream_fail(s, &e, &c->sout);
	}
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

/* Keep a non-streamed answer (malloc, bounded, charged to the budget). */
static int
ubody_append(struct conn *c, const char *p, size_t n)
{
	if (op_kind(c) == PX_OP_EMBED && !c->passthrough &&
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

/*
 * Bytes of p[0..n) up to and including the blank line that ends the first
 * SSE event (LF, CRLF or CR line ends, as the SSE spec allows), or 0 when
 * no event ends in p. The scanner's state carries over between calls, so
 * an event may span reads. Runs of ordinary bytes are skipped with
 * memchr-class scans.
 */
static size_t
event_end(struct conn *c, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char ch = (unsigned char)p[i];

		if (ch != '\n' && ch != '\r') {
			/* jump to the next line end */
			const char *lf = memchr(p + i, '\n', n - i);
			const char *cr = memchr(p + i, '\r',
			    (size_t)((lf ? lf : p + n) - (p + i)));
			const char *e = cr ? cr : lf;
			c->sse_blank = 0;
			c->sse_cr = 0;
			if (e == NULL)
				return 0;
			i = (size_t)(e - p);
			continue;
		}
		if (ch == '\n' && c->sse_cr) {
			c->sse_cr = 0;          /* LF of a CRLF: already counted */
			i++;
			continue;
		}
		c->sse_cr = ch == '\r';
		if (c->sse_blank) {
			/* a blank line: the event ends here (with the LF of a
			 * CRLF pair when it is in p) */
			i++;
			if (c->sse_cr && i < n && p[i] == '\n') {
				c->sse_cr = 0;
				i++;
			}
			c->sse_blank = 1;
			return i;
		}
		c->sse_blank = 1;
		i++;
	}
	return 0;
}

/* How common a byte is in JSON event data (higher: more common; a..z by
 * their frequency in English; 0 for upper case, digits, '_', brackets):
 * the rarest byte of a literal is the one to look for. */
static const unsigned char byte_rank[256] = {
	['"'] = 100, [':'] = 90, [','] = 90, [' '] = 90, ['a'] = 58,
	['b'] = 41, ['c'] = 49, ['d'] = 50, ['e'] = 60, ['f'] = 46,
	['g'] = 44, ['h'] = 52, ['i'] = 56, ['j'] = 37, ['k'] = 39,
	['l'] = 51, ['m'] = 47, ['n'] = 55, ['o'] = 57, ['p'] = 45,
	['q'] = 36, ['r'] = 53, ['s'] = 54, ['t'] = 59, ['u'] = 48,
	['v'] = 40, ['w'] = 43, ['x'] = 38, ['y'] = 42, ['z'] = 35
};

/* The first lit[0..ln) in h[0..hn), or NULL (memmem is not in C11 or
 * POSIX 2008). The scan looks for the literal's rarest byte: JSON has a
 * quote every few bytes, and most literals here start with one. */
static const char *
find(const char *h, size_t hn, const char *lit, size_t ln)
{
	const char *e = h + hn, *q;
	size_t a = 0, i;

	if (ln == 0 || hn < ln)
		return NULL;
	for (i = 1; i < ln; i++)
		if (byte_rank[(unsigned char)lit[i]] <
		    byte_rank[(unsigned char)lit[a]])
			a = i;
	for (q = h + a; (q = memchr(q, lit[a], (size_t)(e - q) -
	    (ln - 1 - a))) != NULL; q++) {
		if (memcmp(q - a, lit, ln) == 0)
			return q - a;
		if ((size_t)(e - q) <= ln - a)
			break;
	}
	return NULL;
}

/* 1 when p[0..n) holds `"key":` followed by an object (not null). */
static int
has_object_member(const char *p, size_t n, const char *key)
{
	size_t k = strlen(key);
	const char *q = p, *e = p + n;

	while ((q = find(q, (size_t)(e - q), key, k)) != NULL) {
		q += k;
		while (q < e && (*q == ' ' || *q == '\t'))
			q++;
		if (q < e && *q == ':') {
			q++;
			while (q < e && (*q == ' ' || *q == '\t'))
				q++;
			if (q < e && *q == '{')
				return 1;
		}
	}
	return 0;
}

#define HAS(lit) (find(ev, n, lit, sizeof lit - 1) != NULL)

/*
 * Whether a passthrough event must go to the observer: the ones that can
 * carry usage, the end of the stream or an error. The others are forwarded
 * without being parsed. Responses streams are observed whole (the Responses
 * store and a cut stream's continuation need every sequence number), and so
 * is every stream while it is held.
 */
static int
observe_event(const struct conn *c, const char *ev, size_t n)
{
	if (c->holding || c->ufmt == PX_FMT_RESPONSES)
		return 1;
	switch (c->ufmt) {
	case PX_FMT_CHAT:
		return HAS("[DONE]") || HAS("\"finish_reason\":\"") ||
		    HAS("\"error\"") || has_object_member(ev, n, "\"usage\"");
	case PX_FMT_ANTHROPIC:
		return HAS("message_start") || HAS("message_delta") ||
		    HAS("message_stop") || HAS("error");
	case PX_FMT_GEMINI:
		return HAS("finishReason") || HAS("\"error\"");
	default:
		return 1;
	}
}

/* The Chat usage-only chunk ("choices":[] and a usage object): taken out
 * when the proxy asked for usage on the client's behalf. */
static int
usage_only_chunk(struct conn *c, const char *ev, size_t n)
{
	const char *d;
	struct json *root;
	size_t dn;

	if (!has_object_member(ev, n, "\"usage\"") || !HAS("\"choices\""))
		return 0;
	d = find(ev, n, "data:", 5);
	if (d == NULL)
		return 0;
	d += 5;
	dn = n - (size_t)(d - ev);
	root = json_parse(&c->arena, d, dn, 0, NULL);
	if (root == NULL) {
		/* trailing blank lines: parse the line alone */
		const char *nl = memchr(d, '\n', dn);
		if (nl)
			root = json_parse(&c->arena, d, (size_t)(nl - d), 0, NULL);
	}
	return root && json_get(root, "choices") &&
	    json_get(root, "choices")->type == JSON_ARRAY &&
	    json_get(root, "choices")->len == 0 &&
	    json_get(root, "usage") &&
	    json_get(root, "usage")->type == JSON_OBJECT;
}

#undef HAS

static int held_stream(struct conn *c);
static int hold_add(struct conn *c, const char *p, size_t n);

/* Hand one whole passthrough event to the observer (usage, the end, the
 * store). Returns 1 when a held stream moved on to another candidate. */
static int
observe(struct conn *c, const char *ev, size_t n)
{
	while (n > 0) {
		struct sse_event e;
		int got = 0;
		long k = sse_feed(&c->sse, ev, n, &e, &got);
		if (k < 0)
			return 0;
		ev += k;
		n -= (size_t)k;
		if (!got)
			break;
		px_stream_feed(c->stream, &e, NULL);
		rs_event(c, e.event, e.event_len, e.data, e.data_len);
	}
	return c->holding && held_stream(c);
}

/* Forward run[0..n) (whole events) as one chunk. */
static void
forward(struct conn *c, const char *run, size_t n)
{
	if (n)
		out_chunk_now(c, run, n);
}

/*
 * Passthrough: forward whole events only, byte for byte. A client's SSE
 * parser acts on an event at its blank line, so holding an unfinished tail
 * costs no latency; and when the upstream is cut off mid-event, the client
 * gets a clean error event instead of half an event glued to it. Returns
 * -1 when an event grows past the bound.
 */
static int
pass_events(struct conn *c, const char *p, size_t n)
{
	const char *run;
	size_t e;

	/* finish the event begun in an earlier read */
	if (c->hold_len) {
		e = event_end(c, p, n);
		if (e == 0)
			goto keep;
		if (hold_add(c, p, e) < 0)
			return -1;
		p += e;
		n -= e;
		e = c->hold_len;
		c->hold_len = 0;
		if (observe_event(c, c->hold, e) && observe(c, c->hold, e))
			return 0;
		if (!(c->strip_usage && usage_only_chunk(c, c->hold, e)))
			forward(c, c->hold, e);
	}
	/* whole events in p, forwarded in runs without a copy */
	run = p;
	while (n > 0 && (e = event_end(c, p, n)) > 0) {
		if (observe_event(c, p, e) && observe(c, p, e))
			return 0;
		if (c->strip_usage && usage_only_chunk(c, p, e)) {
			forward(c, run, (size_t)(p - run));
			run = p + e;
		}
		p += e;
		n -= e;
	}
	forward(c, run, (size_t)(p - run));
keep:
	return n ? hold_add(c, p, n) : 0;
}

/* Keep bytes of an unfinished event (bounded). */
static int
hold_add(struct conn *c, const char *p, size_t n)
{
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
			acct_event(c, &ev);
			if (c->passthrough && c->acct_sse)
				acct_pass_event(c, &ev);
			px_stream_feed(c->stream, &ev, c->passthrough ? NULL : &c->sout);
			sx_stream_event(c, &ev);
			if (!c->passthrough || c->acct_sse)
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
	sx_stream_end(c, complete && !c->cut);
	if (complete && !c->cut && !px_stream_error(c->stream, NULL))
		cx_store(c, 1, NULL, 0);
	c->usage = *px_stream_usage(c->stream);
	if (c->resp_chunked)
		out_put(c, "0\r\n\r\n", 5);
	finish_request(c);
	out_flush(c);
}


/* ------------------------------------------------------------ engine
 * callbacks */

/* While held, a stream's bytes stay queued (see out_flush): let go. */
static void
release_hold(struct conn *c)
{
	if (!c->holding)
		return;
	c->holding = 0;
	out_flush(c);
}

static void
up_on_error(void *ud, enum up_err e, const char *msg)
{
	struct conn *c = ud;
	int status = 502;
	struct px_outcome o;

	c->up = NULL;
	if (e == UP_E_FIRST_BYTE_TIMEOUT || e == UP_E_IDLE_TIMEOUT)
		status = 504;
	else if (e == UP_E_NOMEM)
		status = 503;
	if (c->ustatus == 0 || (c->streaming && c->holding)) {
		/* nothing reached the client: another candidate may serve */
		px_outcome_init(&o, c->ustatus ? PX_OUT_CONNECT : err_class(e), 0);
		count_attempt(c, o.cls, 0);
		if (attempt_retry(c, &o, status, NULL, 0, msg))
			return;
		c->holding = 0;
	}
	answer_fail(c, status, "%s", msg);
}

static void
up_on_head(void *ud, const struct http_resp *r)
{
	struct conn *c = ud;
	const struct http_hdr *ra, *ct;
	struct px_outcome o;

	c->ustatus = r->status;
	if (!c->t_first_us)
		c->t_first_us = clock_us();
	if (r->status == 401 && c->cred->src != PX_CRED_KEY && acct_on_401(c))
		return;     /* renewing the token, then again (acctsrv.c) */
	ra = http_find(r->hdrs, r->nhdrs, "retry-after");
	if (ra && ra->value.n < sizeof c->retry_after &&
	    hdr_safe_value(ra->value)) {
		memcpy(c->retry_after, ra->value.p, ra->value.n);
		c->retry_after[ra->value.n] = 0;
	}
	fwd_headers(c, r);
	count_attempt(c, PX_OUT_HTTP, r->status);
	/* what the gateway makes of it (headers are valid only now) */
	px_outcome_init(&o, r->status / 100 == 2 ? PX_OUT_OK : PX_OUT_HTTP,
	    r->status);
	outcome_headers(&o, r);
	if (r->status / 100 != 2) {
		char lf[400];
		if ((r->status == 401 || r->status == 403) && c->cred &&
		    c->cred->src == PX_CRED_ACCOUNT)
			snprintf(lf, sizeof lf, "the upstream provider '%s' "
			    "rejected the account '%s' (HTTP %d): check what "
			    "its subscription includes, or log in again with "
			    "llmproxy login", c->prov->name, c->cred->label,
			    r->status);
		else if ((r->status == 401 || r->status == 403) && c->cred &&
		    c->cred->src == PX_CRED_EXCHANGE)
			snprintf(lf, sizeof lf, "the upstream provider '%s' "
			    "rejected the token exchanged for credential '%s' "
			    "(HTTP %d): check the provider's token_exchange",
			    c->prov->name, c->cred->label, r->status);
		else if (r->status == 401 || r->status == 403)
			snprintf(lf, sizeof lf, "the upstream provider '%s' "
			    "rejected the proxy's credential '%s' (HTTP %d): fix "
			    "that provider's key in the proxy's configuration",
			    c->prov->name, c->cred ? c->cred->label : "-",
			    r->status);
		else
			snprintf(lf, sizeof lf, "upstream %s answered %d",
			    c->prov->name, r->status);
		lastfail_set(c->prov->name, lf);
		if (acct_quota_defer(c, r->status)) {
			/* the reset time is in the body: reported at its end */
			c->att_err = 1;
		} else if (px_gw_report(gw, &c->plan, &c->att, &o,
		    wall_ms()) == PX_RETRY) {
			/* read the error only when it may be answered later */
			c->att_err = 1;
			c->att_keep = px_plan_keep(&c->plan, &c->att);
			if (!c->att_keep) {
				DBG("conn %lu: attempt %d on %s answered %d: "
				    "trying the next", c->id, c->att.n,
				    c->prov->name, r->status);
				attempt_next(c);
				return;
			}
		}
	}
	ct = http_find(r->hdrs, r->nhdrs, "content-type");
	c->streaming = r->status == 200 && c->req.stream && !c->att_err &&
	    !(ct && ct->value.n >= 16 && memcmp(ct->value.p, "application/json", 16) == 0 &&
	      c->ufmt != PX_FMT_GEMINI);
	if (r->status / 100 == 2) {
		/* a stream's opening events wait for the first content (or an
		 * error event) while another candidate could still take over */
		c->holding = c->streaming &&
		    c->plan.nattempts < c->plan.max_attempts;
		if (!c->holding)
			px_gw_report(gw, &c->plan, &c->att, &o, wall_ms());
	}
	if (!c->streaming) {
		if (r->content_length > 0 && (uint64_t)r->content_length <=
		    PX_RESP_MAX && !mem_over((size_t)r->content_length) &&
		    (size_t)r->content_length > c->ubody_cap) {
			char *p = realloc(c->ubody, (size_t)r->content_length);
			if (p) {
				c->ubody = p;
				c->ubody_cap = (size_t)r->content_length;
				mem_sync(c);
			}
		}
		return;
	}
	{
		const char *ctype = c->cfmt == PX_FMT_GEMINI && c->req.gemini_array_stream ?
		    "application/json" : "text/event-stream";
		char extra[96];
		c->resp_chunked = c->keep_alive ? 1 : 0;
		snprintf(extra, sizeof extra, "Cache-Control: no-cache\r\n"
		    "X-Accel-Buffering: no\r\n");
		send_head(c, 200, ctype, c->resp_chunked ? -1 : -2, extra);
		if (!c->resp_chunked)
			c->keep_alive = 0;   /* HTTP/1.0: close-delimited */
		if (!c->stream_counted) {
			c->stream_counted = 1;
			met_add(metrics.streams, 1);
		}
	}
	sse_init(&c->sse);
	c->sse_blank = 1;
	c->sse_cr = 0;
	c->hold_len = 0;
	c->stream = px_stream_new(&c->arena, c->ufmt, c->cfmt, &c->req);
	if (!c->stream) {
		c->holding = 0;
		answer_fail(c, 500, "out of memory");
		return;
	}
	jw_init(&c->sout, &c->arena, SSE_EVENT_MAX * 2);
	sx_stream_begin(c);
	if (!c->passthrough) {
		px_stream_begin(c->stream, &c->sout);
		out_chunk(c, c->sout.buf, c->sout.len);
		jw_reset(&c->sout);
	}
	c->last_out = now_ms();
	if (c->cref->cfg->heartbeat_ms > 0)
		ev_timer_set(loop, &c->timer, now_ms() +
		    c->cref->cfg->heartbeat_ms);
	out_flush(c);
}

/*
 * The keep-alive a client in format f ignores: Anthropic's own ping event,
 * an SSE comment for the others; NULL for a Gemini JSON-array stream (no
 * SSE framing to hide it in).
 */
static const char *
heartbeat_bytes(const struct conn *c)
{
	if (c->cfmt == PX_FMT_ANTHROPIC)
		return "event: ping\ndata: {\"type\": \"ping\"}\n\n";
	if (c->cfmt == PX_FMT_GEMINI && c->req.gemini_array_stream)
		return NULL;
	return ": keep-alive\n\n";
}

/*
 * Heartbeats. Only a stream whose head the client may get has them: before
 * the upstream's head nothing is sent (an error could still be answered
 * with its own status, and another candidate could serve). A held stream
 * (see up_on_head) is let go when its first heartbeat is due: the client
 * gets the head and the opening events, and the request stays with this
 * candidate; so holding lasts at most heartbeat_ms. Bytes out of the
 * stream between heartbeats push the next one back (c->last_out, set by
 * out_chunk()); the client always sits at an event boundary there, since
 * only whole events are written.
 */
/* see proxy_int.h */
void
relay_heartbeat(struct conn *c)
{
	int hb = c->cref ? c->cref->cfg->heartbeat_ms : 0;
	const char *ka;
	long long due;

	if (hb <= 0 || c->closing || !c->streaming || !c->stream ||
	    (ka = heartbeat_bytes(c)) == NULL)
		return;
	due = c->last_out + hb;
	if (now_ms() < due) {
		ev_timer_set(loop, &c->timer, due);
		return;
	}
	if (c->holding) {
		struct px_outcome o;
		DBG("conn %lu: no content after %d ms: the stream is let go",
		    c->id, hb);
		px_outcome_init(&o, PX_OUT_OK, 200);
		px_gw_report(gw, &c->plan, &c->att, &o, wall_ms());
		release_hold(c);
		if (c->closing)
			return;
	}
	out_chunk_now(c, ka, strlen(ka));
	if (c->closing)
		return;
	ev_timer_set(loop, &c->timer, now_ms() + hb);
}

/* A held stream: an error event before any content hands the request to
 * the next candidate; the first content lets the stream go. Returns 1
 * when the request moved on (c's stream state is gone). */
static int
held_stream(struct conn *c)
{
	enum ir_err_kind kind;
	int st = px_stream_error(c->stream, &kind);
	struct px_outcome o;

	if (st) {
		char msg[160];
		snprintf(msg, sizeof msg, "upstream %s: error event %d before "
		    "any content", c->prov->name, st);
		px_outcome_init(&o, PX_OUT_STREAM_ERROR, st);
		count_attempt(c, PX_OUT_STREAM_ERROR, st);
		if (attempt_retry(c, &o, st, NULL, 0, msg))
			return 1;
		release_hold(c);
		return 0;
	}
	if (px_stream_content(c->stream)) {
		px_outcome_init(&o, PX_OUT_OK, 200);
		px_gw_report(gw, &c->plan, &c->att, &o, wall_ms());
		release_hold(c);
	}
	return 0;
}

static void
up_on_data(void *ud, const char *p, size_t n)
{
	struct conn *c = ud;
	struct px_stream *st;

	if (!c->streaming) {
		ubody_append(c, p, n);
		return;
	}
	cx_record(c, p, n);
	st = c->stream;
	if (c->passthrough && !c->acct_sse) {
		if (pass_events(c, p, n) < 0) {
			answer_fail(c, 502, "upstream %s: SSE event too large",
			    c->prov->name);
			return;
		}
		if (c->stream != st || c->closing)
			return;          /* moved on to another candidate */
	} else {
		/* the events of one read are converted into one buffer and
		 * written with one system call */
		jw_reset(&c->sout);
		while (n > 0) {
			struct sse_event ev;
			int got = 0;
			size_t before = c->sout.len;
			long k = sse_feed(&c->sse, p, n, &ev, &got);
			if (k < 0) {
				answer_fail(c, 502, "upstream %s: SSE event too "
				    "large", c->prov->name);
				return;
			}
			p += k;
			n -= (size_t)k;
			if (!got)
				break;
			acct_event(c, &ev);
			if (c->passthrough) {
				/* Code Assist to a Gemini client: re-framed */
				acct_pass_event(c, &ev);
				px_stream_feed(c->stream, &ev, NULL);
				rs_event(c, ev.event, ev.event_len, ev.data,
				    ev.data_len);
			} else {
				px_stream_feed(c->stream, &ev, &c->sout);
				rs_scan(c, c->sout.buf + before,
				    c->sout.len - before);
			}
			sx_stream_event(c, &ev);
			if (c->sout.err) {
				answer_fail(c, 502, "converted event too large");
				return;
			}
			if (c->holding) {
				/* held: its bytes queue, so an error event before
				 * any content can still hand over */
				out_chunk(c, c->sout.buf, c->sout.len);
				jw_reset(&c->sout);
				if (held_stream(c))
					return;
			}
		}
		if (c->sout.len)
			out_chunk_now(c, c->sout.buf, c->sout.len);
	}
	if (c->closing)
		return;
	out_flush(c);
	if (!c->closing && c->up && !c->up_paused && !c->holding &&
	    out_pending(c) > PX_OUT_HIGH) {
		c->up_paused = 1;
		up_pause(c->up);
	}
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
	if (c->acct_q) {
		/* a 429 whose reset time is in its body (acct_quota_defer) */
		acct_quota_report(c, complete ? c->ubody : NULL, c->ubody_n);
		if (!complete) {
			char m[160];
			snprintf(m, sizeof m, "upstream %s answered %d",
			    c->prov->name, st);
			if (c->att_keep)
				attempt_keep(c, st, NULL, 0, m);
			attempt_next(c);
			return;
		}
	}
	if (c->streaming) {
		if (c->holding) {
			if (!complete || !px_stream_done(c->stream)) {
				/* cut before any content: another candidate */
				struct px_outcome o;
				px_outcome_init(&o, PX_OUT_CONNECT, 0);
				if (attempt_retry(c, &o, 502, NULL, 0, "upstream "
				    "stream ended before any content"))
					return;
			} else if (!px_stream_error(c->stream, NULL)) {
				struct px_outcome o;
				px_outcome_init(&o, PX_OUT_OK, 200);
				px_gw_report(gw, &c->plan, &c->att, &o, wall_ms());
			}
			c->holding = 0;
		}
		stream_end(c, complete);
		return;
	}
	if (!complete) {
		if (c->att_err) {
			struct px_outcome o;
			px_outcome_init(&o, PX_OUT_CONNECT, 0);
			if (attempt_retry(c, &o, 502, NULL, 0, "upstream "
			    "closed the connection mid-answer"))
				return;
		}
		answer_fail(c, 502, "upstream %s: connection closed before the response was complete",
		    c->prov->name);
		return;
	}
	body = c->ubody ? c->ubody : "";
	n = c->ubody_n;
	if (c->att_err) {
		/* a failure to keep; the gateway already chose to go on */
		char msg[400];
		if (st == 401 || st == 403)
			snprintf(msg, sizeof msg, "the upstream provider '%s' "
			    "rejected the proxy's credential '%s' (HTTP %d): fix "
			    "that provider's key in the proxy's configuration",
			    c->prov->name, c->cred ? c->cred->label : "-", st);
		else
			snprintf(msg, sizeof msg, "upstream %s answered %d",
			    c->prov->name, st);
		if (c->att_keep)
			attempt_keep(c, st, body, n, msg);
		attempt_next(c);
		return;
	}
	if (st / 100 == 2 && acct_answer(c, &body, &n) < 0)
		return;
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
		set_errmsg(c, msg);
		if (c->passthrough && cst == st) {
			send_body(c, st, "application/json", body, n, extra);
			out_flush(c);
			return;
		}
		jw_init(&w, &c->arena, n + 4096);
		px_encode_error(c->cfmt, &e, &w);
		send_body(c, cst, "application/json", w.buf, w.len, extra);
		out_flush(c);
		return;
	}
	if (op_kind(c) != PX_OP_GENERATE) {
		long long t = -1;
		if (c->passthrough) {
			send_body(c, st, "application/json", body, n, extra);
			out_flush(c);
			return;
		}
		jw_init(&w, &c->arena, (size_t)PX_EMBED_RESP_MAX +
		    c->op.embed.ninputs * 64 + 65536);
		if (px_op_answer(&c->op, &c->arena, body, n, &w, &t, &perr) < 0) {
			answer_fail(c, 502, "upstream %s: %s", c->prov->name,
			    perr.msg);
			return;
		}
		c->usage.input = t;
		send_body(c, 200, "application/json", w.buf, w.len, extra);
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
		cx_store(c, 0, body, n);
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
		sx_save(c, resp.parts, resp.nparts);
		cx_store(c, 0, body, n);
		send_body(c, 200, "application/json", w.buf, w.len, extra);
		out_flush(c);
	}
}

/* see proxy_int.h */
void
relay_cut(struct conn *c, int status, const char *msg)
{
	acct_forget(c);
	if (c->up) {
		up_cancel(c->up);
		c->up = NULL;
	}
	if (c->streaming && c->stream && !c->holding) {
		stream_abort(c, status, msg);
		c->close_after = 1;
		out_flush(c);
	} else if (!c->head_sent || c->holding) {
		c->holding = 0;
		attempt_reset(c);
		send_error(c, status, msg);
		c->close_after = 1;
		out_flush(c);
	}
}

/* ------------------------------------------------------------ exec
 * providers */

/*
 * An exec provider is a candidate like any other: its attempt is a run of
 * its command (exec.c) with the conversation (attempt_body(), in the cli
 * format) on standard input, and its output lines go through the cli
 * stream decoder. What differs from HTTP:
 *   - no response head: the first output line stands for a 200;
 *   - a stream is always held until its first content (not only while
 *     another candidate could take over): a command that fails before
 *     saying anything (not logged in, an API error it gave up on) gets an
 *     HTTP error in the client's format, not a 200 with an error event;
 *   - a non-streamed answer is observed line by line (px_stream with no
 *     output): an error result ends it at once, and the result line
 *     completes it, without waiting for the process to exit;
 *   - the answer ends at the result line; the process is then given a
 *     moment to exit on its own (ex_close(.., 1)); in every other case
 *     (failure, client gone, next candidate, shutdown) its group is
 *     killed;
 *   - outcomes for the gateway: cannot run = connect failure (the
 *     provider cools), exits or dies before the result = 502, timeout =
 *     504, every process busy = 429 with a one-second hint, an error
 *     result = the status it stands for (px_stream_error()).
 * The command's standard error goes to the log (exec.c), never to the
 * client; messages name the exit status instead.
 */
static struct ex_engine *exe;

static void ex_on_line(void *ud, const char *p, size_t n);
static int ex_on_long(void *ud, const char *head, size_t n);
static void ex_on_exit(void *ud, const struct ex_end *e);

static const struct ex_callbacks ex_cbs = { ex_on_line, ex_on_long,
    ex_on_exit };

/* see proxy_int.h */
void
relay_exec_stop(struct conn *c)
{
	if (c->ex) {
		ex_close(c->ex, 0);
		c->ex = NULL;
	}
}

/* see proxy_int.h */
void
relay_exec_resume(struct conn *c)
{
	if (c->ex && c->up_paused) {
		c->up_paused = 0;
		ex_resume(c->ex);
	}
}

static void
exec_shutdown(void)
{
	ex_engine_free(exe);
	exe = NULL;
}

/* A model name that becomes an argument: not an option, no controls. */
static int
exec_model_ok(const char *m)
{
	size_t i, n = strlen(m);

	if (n == 0 || m[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)m[i] < 0x20 || m[i] == 0x7f)
			return 0;
	return 1;
}

/* arg with every "{model}" replaced, in the arena */
static char *
exec_arg(struct conn *c, const char *arg)
{
	struct jw w;
	const char *p = arg, *q;

	if (strstr(arg, "{model}") == NULL)
		return (char *)arg;
	jw_init(&w, &c->arena, 0);
	while ((q = strstr(p, "{model}")) != NULL) {
		jw_put(&w, p, (size_t)(q - p));
		jw_puts(&w, c->up_model);
		p = q + 7;
	}
	jw_puts(&w, p);
	return w.err ? NULL : w.buf;
}

/* Run the current candidate's command with body (the conversation, in
 * the arena) on its standard input. */
static void
exec_begin(struct conn *c, const char *body, size_t n)
{
	const struct px_provider *p = c->prov;
	struct ex_spec s;
	char **argv;
	int i;

	if (!exec_model_ok(c->up_model)) {
		send_error(c, 400, "this model name cannot be passed to a "
		    "command (it starts with '-' or holds control characters)");
		out_flush(c);
		return;
	}
	mem_sync(c);
	if (mem_over(0) || (exe == NULL && (exe = ex_engine_new(loop)) ==
	    NULL)) {
		send_busy(c);
		out_flush(c);
		return;
	}
	argv = px_arena_alloc(&c->arena, ((size_t)p->exec_argc + 1) *
	    sizeof *argv);
	for (i = 0; argv && i < p->exec_argc; i++)
		if ((argv[i] = exec_arg(c, p->exec_argv[i])) == NULL)
			argv = NULL;
	if (argv == NULL) {
		send_error(c, 413, "request too large");
		out_flush(c);
		return;
	}
	argv[p->exec_argc] = NULL;
	memset(&s, 0, sizeof s);
	s.argv = argv;
	s.cwd = p->exec_cwd;
	s.env = (char *const *)p->exec_env;
	s.in = body;
	s.in_n = n;
	s.label = p->name;
	s.pool = p->name;
	s.max_parallel = p->exec_max_parallel;
	s.timeout_ms = p->exec_timeout_ms;
	DBG("conn %lu: %s model=%s -> %s/%s (exec, attempt %d)", c->id,
	    px_fmt_name(c->cfmt), c->model, p->name, c->up_model, c->att.n);
	c->out_mark = c->out_len;
	c->ex = ex_start(exe, &s, &ex_cbs, c);
	if (c->ex == NULL) {
		send_busy(c);
		out_flush(c);
	}
}

/* The first output line: what a 200 head is to HTTP. -1 when answered. */
static int
exec_head(struct conn *c)
{
	c->ustatus = 200;
	if (!c->t_first_us)
		c->t_first_us = clock_us();
	count_attempt(c, PX_OUT_HTTP, 200);
	c->streaming = c->req.stream;
	c->stream = px_stream_new(&c->arena, PX_FMT_CLI, c->cfmt, &c->req);
	if (c->stream == NULL) {
		answer_fail(c, 500, "out of memory");
		return -1;
	}
	if (!c->streaming)
		return 0;
	/* held until the first content: see the top of this section */
	c->holding = 1;
	c->resp_chunked = c->keep_alive ? 1 : 0;
	send_head(c, 200, c->cfmt == PX_FMT_GEMINI &&
	    c->req.gemini_array_stream ? "application/json" :
	    "text/event-stream", c->resp_chunked ? -1 : -2,
	    "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
	if (!c->resp_chunked)
		c->keep_alive = 0;
	if (!c->stream_counted) {
		c->stream_counted = 1;
		met_add(metrics.streams, 1);
	}
	jw_init(&c->sout, &c->arena, SSE_EVENT_MAX * 2);
	px_stream_begin(c->stream, &c->sout);
	out_chunk(c, c->sout.buf, c->sout.len);
	jw_reset(&c->sout);
	return 0;
}

/*
 * The command failed before its answer reached the client (status, msg):
 * the next candidate, or this failure answered as an HTTP error in the
 * client's format (held stream bytes dropped).
 */
static void
exec_failed(struct conn *c, const struct px_outcome *o, int status,
    const char *msg)
{
	count_attempt(c, o->cls, o->status);
	if (attempt_retry(c, o, status, NULL, 0, msg))
		return;
	attempt_reset(c);
	set_errmsg(c, msg);
	send_error(c, status, msg);
	out_flush(c);
}

/* An error result before any content: its status and message. */
static void
exec_error_result(struct conn *c)
{
	struct px_outcome o;
	struct px_str m = px_stream_error_msg(c->stream);
	char msg[256];
	int st = px_stream_error(c->stream, NULL);

	snprintf(msg, sizeof msg, "upstream %s: %.*s", c->prov->name,
	    (int)(m.n > 200 ? 200 : m.n), m.p);
	px_outcome_init(&o, PX_OUT_STREAM_ERROR, st);
	exec_failed(c, &o, st, msg);
}

/* The answer is complete (the result line): the non-streamed answer in
 * the client's format. */
static void
exec_answer(struct conn *c)
{
	struct ir_response resp;
	struct px_outcome o;
	struct px_err perr;
	struct jw w;

	ex_close(c->ex, 1);
	c->ex = NULL;
	memset(&perr, 0, sizeof perr);
	if (px_decode_response(PX_FMT_CLI, &c->arena, c->ubody ? c->ubody :
	    "", c->ubody_n, &resp, &perr) < 0) {
		answer_fail(c, perr.status ? perr.status : 502,
		    "upstream %s: %s", c->prov->name, perr.msg);
		return;
	}
	px_outcome_init(&o, PX_OUT_OK, 200);
	px_gw_report(gw, &c->plan, &c->att, &o, wall_ms());
	c->usage = resp.usage;
	jw_init(&w, &c->arena, c->ubody_n * 2 + 65536);
	if (px_encode_response(c->cfmt, &c->req, &resp, &w, &perr) < 0 ||
	    w.err) {
		answer_fail(c, 502, "cannot encode response: %s", perr.msg);
		return;
	}
	rs_save(c, w.buf, w.len);
	send_body(c, 200, "application/json", w.buf, w.len, NULL);
	out_flush(c);
}

/* The stream is done: finished (the result line) or failed in-band
 * after its content began. */
static void
exec_stream_done(struct conn *c)
{
	if (px_stream_error(c->stream, NULL)) {
		struct px_str m = px_stream_error_msg(c->stream);
		char msg[256];
		snprintf(msg, sizeof msg, "upstream %s: %.*s", c->prov->name,
		    (int)(m.n > 200 ? 200 : m.n), m.p);
		relay_exec_stop(c);
		c->cut = 1;
		set_errmsg(c, msg);
	} else {
		ex_close(c->ex, 1);
		c->ex = NULL;
	}
	stream_end(c, 1);
}

/* A held stream: an error before content is answered as an error; the
 * first content lets the stream go. 1 when the request moved on. */
static int
exec_held(struct conn *c)
{
	struct px_outcome o;

	if (px_stream_error(c->stream, NULL)) {
		exec_error_result(c);
		return 1;
	}
	if (px_stream_content(c->stream)) {
		px_outcome_init(&o, PX_OUT_OK, 200);
		px_gw_report(gw, &c->plan, &c->att, &o, wall_ms());
		release_hold(c);
	}
	return 0;
}

/* 1 for a user line of Claude Code (a tool result, {"type":"user",...}):
 * the decoder skips them, so the non-streamed answer does not keep them. */
static int
exec_user_line(const char *p, size_t n)
{
	return n >= 14 && memcmp(p, "{\"type\":\"user\"", 14) == 0;
}

static void
ex_on_line(void *ud, const char *p, size_t n)
{
	struct conn *c = ud;
	struct sse_event ev;

	if (c->closing)
		return;
	if (!px_cli_line(p, n)) {
		DBG("conn %lu: %s wrote a line that is not JSON (skipped): "
		    "%.60s", c->id, c->prov->name, p);
		return;
	}
	if (!c->ustatus && exec_head(c) < 0)
		return;
	memset(&ev, 0, sizeof ev);
	ev.event = ev.id = "";
	ev.data = p;
	ev.data_len = n;
	if (!c->streaming) {
		/* observe, and keep the line for px_decode_response() */
		px_stream_feed(c->stream, &ev, NULL);
		if (px_stream_error(c->stream, NULL)) {
			exec_error_result(c);
			return;
		}
		if (!exec_user_line(p, n) && (ubody_append(c, p, n) < 0 ||
		    ubody_append(c, "\n", 1) < 0))
			return;
		if (px_stream_done(c->stream))
			exec_answer(c);
		return;
	}
	jw_reset(&c->sout);
	px_stream_feed(c->stream, &ev, &c->sout);
	out_chunk(c, c->sout.buf, c->sout.len);
	rs_scan(c, c->sout.buf, c->sout.len);
	if (c->sout.err) {
		answer_fail(c, 502, "converted event too large");
		return;
	}
	if (c->closing)
		return;
	if (c->holding && exec_held(c))
		return;
	if (px_stream_done(c->stream)) {
		exec_stream_done(c);
		return;
	}
	out_flush(c);
	if (!c->closing && c->ex && !c->up_paused && !c->holding &&
	    out_pending(c) > PX_OUT_HIGH) {
		c->up_paused = 1;
		ex_pause(c->ex);
	}
}

/* An output line over the limit: a tool result of the command's can be
 * skipped (the decoder does not read them); anything else ends the run. */
static int
ex_on_long(void *ud, const char *head, size_t n)
{
	struct conn *c = ud;

	if (exec_user_line(head, n)) {
		px_log("exec %s: skipped a tool-result line longer than %u "
		    "bytes", c->prov->name, (unsigned)PX_JSONL_LINE_MAX);
		return 0;
	}
	return -1;
}

/* The run ended before the answer was complete. */
static void
ex_on_exit(void *ud, const struct ex_end *e)
{
	struct conn *c = ud;
	struct px_outcome o;
	char msg[256];
	int status = 502;
	enum px_out_class cls = PX_OUT_HTTP;

	c->ex = NULL;
	if (c->closing)
		return;
	switch (e->why) {
	case EX_SPAWN:
		cls = PX_OUT_CONNECT;
		snprintf(msg, sizeof msg, "upstream %s: %s", c->prov->name,
		    e->msg);
		break;
	case EX_EXITED:
	case EX_SIGNALED:
		if (e->why == EX_EXITED && e->code == 127 && e->lines == 0) {
			/* not found or not executable, as a shell says it
			 * (and as posix_spawn reports it where it cannot
			 * tell the parent, e.g. under valgrind) */
			cls = PX_OUT_CONNECT;
			snprintf(msg, sizeof msg, "upstream %s: cannot run "
			    "'%.80s': not found or not executable (exit status "
			    "127)", c->prov->name, c->prov->exec_argc > 0 ?
			    c->prov->exec_argv[0] : "?");
			break;
		}
		snprintf(msg, sizeof msg, "upstream %s: the command %s %s "
		    "(its standard error is in the proxy's log)",
		    c->prov->name, e->msg, e->lines ? "before its answer was "
		    "complete" : "without answering");
		break;
	case EX_TIMEOUT:
		status = 504;
		cls = PX_OUT_TIMEOUT;
		snprintf(msg, sizeof msg, "upstream %s: the command did not "
		    "answer within %d ms (timeout_ms)", c->prov->name,
		    c->prov->exec_timeout_ms);
		break;
	case EX_BUSY:
		status = 429;
		snprintf(msg, sizeof msg, "upstream %s: %s", c->prov->name,
		    e->msg);
		break;
	case EX_NOMEM:
		status = 503;
		snprintf(msg, sizeof msg, "upstream %s: %s", c->prov->name,
		    e->msg);
		break;
	default:
		snprintf(msg, sizeof msg, "upstream %s: %s", c->prov->name,
		    e->msg);
		break;
	}
	if (c->streaming && !c->holding) {
		/* the client has content already: an in-band error */
		stream_abort(c, status, msg);
		return;
	}
	px_outcome_init(&o, cls, cls == PX_OUT_HTTP ? status : 0);
	if (e->why == EX_BUSY)
		px_outcome_header(&o, "retry-after", 11, "1", 1);
	exec_failed(c, &o, status, msg);
}

/* ------------------------------------------------------------ health checks */

/*
 * Active checks (a provider's "health_check"): a one-token request on a
 * timer, off the request path, whose outcome goes to the gateway like a
 * client request's, so a failing provider cools down before a client hits
 * it and comes back when it answers again. Only the response head
 * matters: the check is cancelled once it arrives.
 */
struct hcheck {
	struct px_plan plan;
	struct px_attempt att;
	struct up_req *up;
	struct px_arena arena;
	struct cfg_ref *cref;
	struct hcheck *prev, *next;
};

static struct hcheck *checks;
static long long health_next;

static void
hc_free(struct hcheck *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		checks = h->next;
	if (h->next)
		h->next->prev = h->prev;
	if (h->up)
		up_cancel(h->up);
	px_arena_free(&h->arena);
	cfg_drop(h->cref);
	free(h);
}

/* Report a check's outcome; r (may be NULL) gives the answer's retry
 * hints (Retry-After and the rate-limit headers), as for a request. */
static void
hc_report(struct hcheck *h, enum px_out_class cls, int status,
    const struct http_resp *r)
{
	struct px_outcome o;

	px_outcome_init(&o, cls, status);
	if (r != NULL)
		outcome_headers(&o, r);
	px_gw_report(gw, &h->plan, &h->att, &o, wall_ms());
	DBG("health check of %s: %s %d", h->att.p->name,
	    px_out_class_name(cls), status);
}

static void
hc_head(void *ud, const struct http_resp *r)
{
	struct hcheck *h = ud;

	hc_report(h, r->status / 100 == 2 ? PX_OUT_OK : PX_OUT_HTTP, r->status,
	    r);
	up_cancel(h->up);
	h->up = NULL;
	hc_free(h);
}

static void
hc_data(void *ud, const char *p, size_t n)
{
	(void)ud;
	(void)p;
	(void)n;
}

static void
hc_end(void *ud, int complete)
{
	struct hcheck *h = ud;

	(void)complete;
	h->up = NULL;
	hc_free(h);
}

static void
hc_error(void *ud, enum up_err e, const char *msg)
{
	struct hcheck *h = ud;

	(void)msg;
	h->up = NULL;
	hc_report(h, err_class(e), 0, NULL);
	hc_free(h);
}

static const struct up_callbacks hc_cbs = { hc_head, hc_data, hc_end, hc_error };

/* Send the check for h->att: "ping", at most one token. */
static void
hc_start(struct hcheck *h)
{
	const struct px_provider *p = h->att.p;
	const struct px_config *rc = h->cref->cfg;
	struct ir_request req;
	struct ir_msg msg;
	struct ir_part part;
	struct px_str m = { h->att.body_model, strlen(h->att.body_model) };
	struct px_err perr;
	struct up_target t;
	struct up_timeouts to;
	struct jw body, head;
	char path[1024];

	memset(&req, 0, sizeof req);
	memset(&msg, 0, sizeof msg);
	memset(&part, 0, sizeof part);
	part.type = IR_TEXT;
	part.text.p = "ping";
	part.text.n = 4;
	msg.role = IR_ROLE_USER;
	msg.parts = &part;
	msg.nparts = 1;
	req.fmt = h->att.fmt;
	req.model = m;
	req.msgs = &msg;
	req.nmsgs = 1;
	req.max_tokens = 1;
	req.n = -1;
	req.thinking_budget = -1;
	req.include_thoughts = -1;
	req.parallel_tool_calls = -1;
	req.store = -1;
	req.rf_strict = -1;
	jw_init(&body, &h->arena, 65536);
	jw_init(&head, &h->arena, 65536);
	if (px_encode_request(h->att.fmt, &req, m, &body, &perr) < 0 ||
	    px_provider_path(p, h->att.fmt, h->att.model, 0, path,
	    sizeof path) < 0) {
		hc_free(h);
		return;
	}
	head_start(&head, "POST", p->host, p->port, p->tls, p->base_path,
	    path);
	jw_puts(&head, "User-Agent: llmproxy/" LLMPROXY_VERSION
	    " (health check)\r\nContent-Type: application/json\r\n"
	    "Accept: application/json\r\n");
	head_auth(&head, p, h->att.k ? h->att.k->secret : NULL);
	if (h->att.fmt == PX_FMT_ANTHROPIC) {
		jw_puts(&head, "anthropic-version: ");
		jw_puts(&head, p->anthropic_version);
		jw_puts(&head, "\r\n");
	}
	head_end(&head, p, body.len);
	if (head.err || body.err) {
		hc_free(h);
		return;
	}
	t.host = p->host;
	t.port = p->port;
	t.tls = p->tls;
	t.label = p->name;
	to.connect_ms = rc->connect_timeout_ms;
	to.first_byte_ms = rc->first_byte_timeout_ms;
	to.idle_ms = rc->stream_idle_timeout_ms;
	h->up = up_start(upe, &t, &to, head.buf, head.len, body.buf, body.len,
	    &hc_cbs, h);
	if (h->up == NULL)
		hc_free(h);
}

/* see proxy_int.h */
long long
relay_health(long long now)
{
	long long next = 0;

	if (health_next && now < health_next)
		return health_next;
	for (;;) {
		struct hcheck *h = calloc(1, sizeof *h);
		int64_t nx = 0;
		if (h == NULL)
			break;
		if (!px_gw_health_due(gw, cfg, now, &h->plan, &h->att, &nx)) {
			free(h);
			next = nx;
			break;
		}
		px_arena_init(&h->arena, 1u << 20);
		h->cref = cfg_hold();
		h->next = checks;
		if (checks)
			checks->prev = h;
		checks = h;
		hc_start(h);
	}
	health_next = next;
	return next;
}

/* see proxy_int.h */
void
relay_health_reset(void)
{
	health_next = 0;
}

/* see proxy_int.h */
void
relay_shutdown(void)
{
	while (checks)
		hc_free(checks);
	exec_shutdown();
}
