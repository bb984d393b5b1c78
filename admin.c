/*
 * admin.c - the admin API (/admin/api/...) and the admin page (GET /admin).
 *
 * Everything is answered from what the server already holds: the usage
 * module's chart series and spend (usage.h), the limit table (lim_peek),
 * the keys of the config and of the keys file, the gateway's provider
 * state (px_gw_json), the open connections (conn_each), and two things
 * kept here: totals since start and a ring of the last ADMIN_ERRORS
 * requests that failed, both fed by admin_note() once per finished
 * request (a few additions; the ring copies only for an error).
 *
 * Key changes (create, revoke, rotate) go through keys.c's writers, the
 * same locked write-temp-and-rename `llmproxy keys` uses, and then the
 * server reads the keys file again at once (keys_reload_now()): a created
 * key works on the next request, a revoked one fails with 401. The write
 * syncs a small file on the loop; an operator's click can afford that.
 *
 * The page is one HTML document with its CSS and script inline, put
 * together from the strings at the end of this file at the first request.
 * Its Content-Security-Policy allows exactly those two inline blocks (by
 * their SHA-256) and fetches to the proxy itself: nothing external loads.
 * The page holds no data, so it is served without the key (a browser
 * cannot send a bearer header on a navigation); it asks for the key, keeps
 * it in sessionStorage and sends it as `Authorization: Bearer` to the API,
 * never in a URL. Everything under /admin/api/ needs the key.
 *
 * Errors are JSON in the OpenAI shape the proxy uses elsewhere:
 * {"error":{"message":"...","type":"..."}} with the HTTP status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_int.h"

#ifndef ADMIN_ERRORS
#define ADMIN_ERRORS 64               /* failed requests kept for the page */
#endif
#ifndef ADMIN_SEEN_MAX
#define ADMIN_SEEN_MAX 1024           /* key names whose last use is kept
                                         (the first seen); a power of 2 */
#endif
#ifndef ADMIN_BODY_MAX
#define ADMIN_BODY_MAX 16384          /* a create request's body */
#endif
#ifndef ADMIN_JSON_MAX
#define ADMIN_JSON_MAX (8u << 20)     /* one answer */
#endif
#ifndef ADMIN_STREAMS_MAX
#define ADMIN_STREAMS_MAX 1000        /* requests in flight listed */
#endif

/* Every API answer: never cached, never sniffed. */
#define API_HDRS "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"

/* ------------------------------------------------------------ what is kept */

/* Totals since start: the requests that make usage records. */
static struct {
	long long requests, errors, input, output, cost_uusd, unpriced;
} tot;

/* A failed request, as its access line has it (no secrets there). */
struct err_ent {
	long long t_ms, latency_us;
	int status;
	char id[72], method[16], path[128], key[AUTH_NAME_MAX], fmt[16];
	char model[128], provider[64], cred[64], msg[256], attempts[256];
};
static struct err_ent errs[ADMIN_ERRORS];
static unsigned long nerrs;           /* ever; the newest is (nerrs-1) % N */

/* The last use of each key name seen since start (open addressing). */
struct seen {
	char name[AUTH_NAME_MAX];
	long long t_ms;
};
static struct seen seen[ADMIN_SEEN_MAX];
static int seen_idx[2 * ADMIN_SEEN_MAX];  /* slot -> index + 1; 0 empty */
static int nseen;

static unsigned
fnv(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static struct seen *
seen_get(const char *name, int add)
{
	unsigned s = fnv(name) & (2 * ADMIN_SEEN_MAX - 1);
	struct seen *e;

	while (seen_idx[s]) {
		e = &seen[seen_idx[s] - 1];
		if (strcmp(e->name, name) == 0)
			return e;
		s = (s + 1) & (2 * ADMIN_SEEN_MAX - 1);
	}
	if (!add || nseen == ADMIN_SEEN_MAX)
		return NULL;
	e = &seen[nseen++];
	snprintf(e->name, sizeof e->name, "%s", name);
	seen_idx[s] = nseen;
	return e;
}

/* s cut to fit dst[cap] (a cut character is shown as U+FFFD later). */
static void
copy(char *dst, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, s, n);
	dst[n] = 0;
}

/* see proxy_int.h */
void
admin_note(const struct conn *c, long long cost_uusd, long long latency_us)
{
	struct err_ent *e;
	struct seen *k;
	long long now = wall_ms();

	if (c->ep != EP_NONE && c->route) {
		tot.requests++;
		if (c->status == 0 || c->status >= 400)
			tot.errors++;
		if (c->usage.input > 0)
			tot.input += c->usage.input;
		if (c->usage.output > 0)
			tot.output += c->usage.output;
		if (cost_uusd >= 0)
			tot.cost_uusd += cost_uusd;
		else if (c->status / 100 == 2)
			tot.unpriced++;
	}
	if (c->key && (k = seen_get(c->key->name, 1)) != NULL)
		k->t_ms = now;
	if (c->status < 400 && !c->cut)
		return;
	e = &errs[nerrs++ % ADMIN_ERRORS];
	e->t_ms = now;
	e->latency_us = latency_us;
	e->status = c->status;
	copy(e->id, sizeof e->id, c->rid);
	copy(e->method, sizeof e->method, c->method);
	copy(e->path, sizeof e->path, c->path);
	copy(e->key, sizeof e->key, c->key ? c->key->name : NULL);
	copy(e->fmt, sizeof e->fmt, c->ep == EP_NONE ? NULL :
	    px_fmt_name(c->cfmt));
	copy(e->model, sizeof e->model, c->model);
	copy(e->provider, sizeof e->provider, c->prov ? c->prov->name : NULL);
	copy(e->cred, sizeof e->cred, c->cred ? c->cred->label : NULL);
	copy(e->msg, sizeof e->msg, c->cut && !c->errmsg[0] ?
	    "stream cut" : c->errmsg);
	e->attempts[0] = 0;
	if (c->route && c->plan.nattempts > 0)
		px_plan_log_str(&c->plan, e->attempts, sizeof e->attempts);
}

/* ------------------------------------------------------------ JSON bits */

/* "name": string, or null when s is NULL or "". */
static void
kstr_or_null(struct jw *w, const char *k, const char *s)
{
	if (s && *s)
		jw_kcstr(w, k, s);
	else
		jw_knull(w, k);
}

/* "name": RFC 3339 time of unix ms t, or null for 0. */
static void
ktime_ms(struct jw *w, const char *k, long long t)
{
	char b[40];

	if (t > 0)
		jw_kcstr(w, k, px_fmt_rfc3339(t, b, sizeof b));
	else
		jw_knull(w, k);
}

/* "name": micro-USD as an exact decimal number of USD. */
static void
kusd(struct jw *w, const char *k, long long uusd)
{
	char b[40];
	int n;

	if (uusd < 0)
		uusd = 0;
	n = snprintf(b, sizeof b, "%lld.%06lld", uusd / 1000000,
	    uusd % 1000000);
	jw_kraw(w, k, b, (size_t)n);
}

static void
reply(struct conn *c, int status, struct jw *w)
{
	if (w->err) {
		send_error_extra(c, 500, "the answer is too large", API_HDRS);
		return;
	}
	send_body(c, status, "application/json", w->buf, w->len, API_HDRS);
}

static void
fail(struct conn *c, int status, const char *msg)
{
	send_error_extra(c, status, msg, API_HDRS);
}

/* 405 unless the method is one of `allow` ("GET, HEAD, POST"); HEAD goes
 * with GET. Returns 1 when the method may go on. */
static int
method_ok(struct conn *c, const struct http_req *r, const char *allow)
{
	char extra[128], msg[96], m[16];
	const char *p;
	size_t n = r->method.n;

	if (n >= sizeof m)
		n = sizeof m - 1;
	memcpy(m, r->method.p, n);
	m[n] = 0;
	for (p = strstr(allow, m); p; p = strstr(p + 1, m))
		if ((p == allow || p[-1] == ' ') &&
		    (p[n] == 0 || p[n] == ','))
			return 1;
	snprintf(extra, sizeof extra, "Allow: %s\r\n" API_HDRS, allow);
	snprintf(msg, sizeof msg, "method not allowed: use %s", allow);
	send_error_extra(c, 405, msg, extra);
	return 0;
}

/*
 * The query has only parameters named in `names` (NULL-terminated), each
 * at most once. Else answers 400 and returns 0.
 */
static int
query_ok(struct conn *c, struct http_str q, const char *const *names)
{
	char msg[160];
	const char *p = q.p, *end = q.p + q.n, *amp, *eq;
	int i;

	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (!amp)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (!eq)
			eq = amp;
		for (i = 0; names[i]; i++)
			if (strlen(names[i]) == (size_t)(eq - p) &&
			    memcmp(names[i], p, (size_t)(eq - p)) == 0)
				break;
		if (amp > p && names[i] == NULL) {
			snprintf(msg, sizeof msg, "unknown query parameter "
			    "\"%.*s\"", (int)(eq - p > 40 ? 40 : eq - p), p);
			fail(c, 400, msg);
			return 0;
		}
		p = amp + 1;
	}
	return 1;
}

/* ------------------------------------------------------------ walking */

struct walk {
	struct conn **v;              /* requests in flight, newest first */
	int n, cap;
	int total, conns, streams;
};

static void
walk_one(struct conn *c, void *ctx)
{
	struct walk *k = ctx;

	k->conns++;
	if (c->phase != PH_UPSTREAM || !c->t_start_us || c->ep == EP_NONE)
		return;
	k->total++;
	k->streams += c->streaming;
	if (k->n < k->cap)
		k->v[k->n++] = c;
}

/* Walk the connections; v gets up to cap requests in flight (arena). */
static void
walk(struct conn *c, struct walk *k, int cap)
{
	memset(k, 0, sizeof *k);
	k->v = cap > 0 ? px_arena_alloc(&c->arena, (size_t)cap * sizeof *k->v) :
	    NULL;
	k->cap = k->v ? cap : 0;
	conn_each(walk_one, k);
}

/* ------------------------------------------------------------ summary */

static void
api_summary(struct conn *c)
{
	const struct keys_set *ks = keys_file();
	struct met_series *st;
	struct walk k;
	struct jw w;
	long long now = wall_ms(), started = 0;

	st = metrics.start_time ? met_get(metrics.start_time, NULL, NULL) :
	    NULL;
	if (st)
		started = (long long)st->v * 1000;
	walk(c, &k, 0);
	jw_init(&w, &c->arena, ADMIN_JSON_MAX);
	jw_obj(&w);
	jw_kcstr(&w, "version", LLMPROXY_VERSION);
	ktime_ms(&w, "now", now);
	ktime_ms(&w, "started", started);
	jw_kint(&w, "uptime_s", started > 0 ? (now - started) / 1000 : 0);
	jw_kint(&w, "requests", tot.requests);
	jw_kint(&w, "errors", tot.errors);
	jw_kint(&w, "input_tokens", tot.input);
	jw_kint(&w, "output_tokens", tot.output);
	kusd(&w, "cost_usd", tot.cost_uusd);
	jw_kint(&w, "unpriced", tot.unpriced);
	jw_kint(&w, "streams_open", metrics.streams ?
	    (long long)metrics.streams->v : k.streams);
	jw_kint(&w, "in_flight", k.total);
	jw_kint(&w, "connections", k.conns);
	jw_key(&w, "keys");
	jw_obj(&w);
	jw_kint(&w, "config", cfg->nkeys);
	jw_kint(&w, "file", ks ? (long long)ks->n : 0);
	jw_obj_end(&w);
	jw_kint(&w, "providers", cfg->nproviders);
	jw_kbool(&w, "usage_records", usage != NULL);
	jw_kint(&w, "errors_seen", (long long)nerrs);
	jw_obj_end(&w);
	reply(c, 200, &w);
}

/* ------------------------------------------------------------ usage */

static void
api_usage(struct conn *c, const struct http_req *r)
{
	static const char *const names[] = { "by", "bucket", "n", NULL };
	char by[16], bucket[16], nb[16], msg[128], *end;
	int hourly = 1, dim = PX_USAGE_BY_KEY;
	long n;
	struct jw w;

	if (!query_ok(c, r->query, names))
		return;
	if (http_query_param(r->query, "by", by, sizeof by) >= 0) {
		if (strcmp(by, "model") == 0)
			dim = PX_USAGE_BY_MODEL;
		else if (strcmp(by, "key") != 0) {
			fail(c, 400, "by must be \"key\" or \"model\"");
			return;
		}
	}
	if (http_query_param(r->query, "bucket", bucket, sizeof bucket) >= 0) {
		if (strcmp(bucket, "day") == 0)
			hourly = 0;
		else if (strcmp(bucket, "hour") != 0) {
			fail(c, 400, "bucket must be \"hour\" or \"day\"");
			return;
		}
	}
	n = hourly ? 24 : 30;
	if (http_query_param(r->query, "n", nb, sizeof nb) >= 0) {
		n = strtol(nb, &end, 10);
		if (nb[0] < '0' || nb[0] > '9' || *end || n < 1 ||
		    n > (hourly ? PX_USAGE_HOURS : PX_USAGE_DAYS)) {
			snprintf(msg, sizeof msg, "n must be a number of %s "
			    "from 1 to %d", hourly ? "hours" : "days",
			    hourly ? PX_USAGE_HOURS : PX_USAGE_DAYS);
			fail(c, 400, msg);
			return;
		}
	}
	if (usage == NULL) {
		fail(c, 503, "usage records are off (no state directory, or "
		    "\"usage\": {\"enabled\": false})");
		return;
	}
	jw_init(&w, &c->arena, ADMIN_JSON_MAX);
	if (px_usage_chart_json(usage, &w, dim, hourly, (int)n, wall_ms()) < 0) {
		fail(c, 500, "usage chart failed");
		return;
	}
	reply(c, 200, &w);
}

/* ------------------------------------------------------------ keys */

/* The start of the newest bucket with requests of key `name` in a chart
 * (px_usage_chart_json output, parsed), or 0. */
static long long
chart_last(const struct json *ch, const char *name)
{
	const struct json *s, *req, *v;
	long long start = 0, step = 0, x, last = 0;
	const char *nm;
	size_t i, nn;

	json_int(json_get(ch, "start"), &start);
	json_int(json_get(ch, "step_ms"), &step);
	s = json_get(ch, "series");
	for (s = s ? s->child : NULL; s; s = s->next) {
		nm = json_get_str(s, "name", &nn);
		if (nm == NULL || !json_eq(nm, nn, name))
			continue;
		req = json_get(s, "requests");
		for (i = 0, v = req ? req->child : NULL; v; v = v->next, i++)
			if (json_int(v, &x) && x > 0)
				last = start + (long long)i * step;
		break;
	}
	return last;
}

/* Hourly and daily key charts, parsed, for last uses before the start. */
static void
charts_parse(struct conn *c, struct json **hour, struct json **day)
{
	struct jw w;
	int i;

	*hour = *day = NULL;
	if (usage == NULL)
		return;
	for (i = 0; i < 2; i++) {
		jw_init(&w, &c->arena, ADMIN_JSON_MAX);
		if (px_usage_chart_json(usage, &w, PX_USAGE_BY_KEY, i == 0,
		    i == 0 ? PX_USAGE_HOURS : PX_USAGE_DAYS, wall_ms()) < 0 ||
		    w.err)
			continue;
		*(i == 0 ? hour : day) = json_parse(&c->arena, w.buf, w.len, 0,
		    NULL);
	}
}

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* How many of the sorted names v[0..n) are `name`. */
static int
count_name(const char **v, int n, const char *name)
{
	int lo = 0, hi = n, mid, k = 0;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(v[mid], name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo + k < n && strcmp(v[lo + k], name) == 0)
		k++;
	return k;
}

static double
spent(void *ctx, const char *name, long long since)
{
	const struct auth_key *k = ctx;
	long long uu;

	(void)since;
	if (usage == NULL)
		return 0;
	uu = px_usage_spend(usage, name, strlen(name),
	    k->lim.budget_per == AUTH_PER_MONTH ? PX_USAGE_MONTH :
	    PX_USAGE_DAY, wall_ms());
	return uu > 0 ? (double)uu / 1e6 : 0;
}

struct key_ctx {
	long long now;
	const char **busy;            /* key names of requests in flight */
	int nbusy;
	struct json *hour, *day;      /* key charts, for last uses */
};

/* One key as the list has it. */
static void
key_json(struct jw *w, const struct auth_key *k, const char *source,
    const struct key_ctx *x)
{
	struct lim_result r;
	struct lim_req q;
	struct seen *s;
	long long last = 0;
	int exact = 1;

	memset(&q, 0, sizeof q);
	q.spent = spent;
	q.spent_ctx = (void *)k;
	lim_peek(limit_table(), k, x->now, &q, &r);
	jw_obj(w);
	jw_kcstr(w, "name", k->name);
	jw_kcstr(w, "source", source);
	kstr_or_null(w, "prefix", k->prefix);
	ktime_ms(w, "created", k->created * 1000);
	ktime_ms(w, "rotated", k->rotated * 1000);
	jw_key(w, "limits");
	jw_obj(w);
	keys_settings_write(w, &k->lim);
	jw_obj_end(w);
	jw_kbool(w, "expired", auth_key_expired(k, x->now / 1000));
	jw_key(w, "usage");
	jw_obj(w);
	jw_kint(w, "in_flight", count_name(x->busy, x->nbusy, k->name));
	if (k->lim.rpm > 0)
		jw_kint(w, "requests_remaining", r.req_remaining);
	else
		jw_knull(w, "requests_remaining");
	if (k->lim.tpm > 0)
		jw_kint(w, "tokens_remaining", r.tok_remaining);
	else
		jw_knull(w, "tokens_remaining");
	if (usage) {
		kusd(w, "spent_today_usd", px_usage_spend(usage, k->name,
		    strlen(k->name), PX_USAGE_DAY, x->now));
		kusd(w, "spent_month_usd", px_usage_spend(usage, k->name,
		    strlen(k->name), PX_USAGE_MONTH, x->now));
	} else {
		jw_knull(w, "spent_today_usd");
		jw_knull(w, "spent_month_usd");
	}
	if (r.budget_usd > 0) {
		jw_key(w, "budget_spent_usd");
		jw_double(w, r.spent_usd);
		ktime_ms(w, "budget_resets", r.budget_reset * 1000);
	} else {
		jw_knull(w, "budget_spent_usd");
		jw_knull(w, "budget_resets");
	}
	jw_obj_end(w);
	if ((s = seen_get(k->name, 0)) != NULL)
		last = s->t_ms;
	else if ((last = chart_last(x->hour, k->name)) > 0 ||
	    (last = chart_last(x->day, k->name)) > 0)
		exact = 0;
	ktime_ms(w, "last_used", last);
	jw_kbool(w, "last_used_exact", exact || last == 0);
	jw_obj_end(w);
}

static void
key_ctx_init(struct conn *c, struct key_ctx *x, int with_charts)
{
	struct walk k;
	int i, n = 0;

	memset(x, 0, sizeof *x);
	x->now = wall_ms();
	walk(c, &k, ADMIN_STREAMS_MAX * 10);
	x->busy = k.n ? px_arena_alloc(&c->arena, (size_t)k.n *
	    sizeof *x->busy) : NULL;
	for (i = 0; x->busy && i < k.n; i++)
		if (k.v[i]->key)
			x->busy[n++] = k.v[i]->key->name;
	x->nbusy = n;
	if (n > 1)
		qsort(x->busy, (size_t)n, sizeof *x->busy, strp_cmp);
	if (with_charts)
		charts_parse(c, &x->hour, &x->day);
}

static void
api_keys_list(struct conn *c)
{
	const struct keys_set *ks = keys_file();
	struct key_ctx x;
	struct jw w;
	size_t i;
	int need = 0;

	for (i = 0; i < (size_t)cfg->nkeys; i++)
		need |= seen_get(cfg->keys[i].name, 0) == NULL;
	for (i = 0; ks && i < ks->n; i++)
		need |= seen_get(ks->keys[i].name, 0) == NULL;
	key_ctx_init(c, &x, need);
	jw_init(&w, &c->arena, ADMIN_JSON_MAX);
	jw_obj(&w);
	ktime_ms(&w, "now", x.now);
	jw_key(&w, "keys");
	jw_arr(&w);
	for (i = 0; i < (size_t)cfg->nkeys; i++)
		key_json(&w, &cfg->keys[i], "config", &x);
	for (i = 0; ks && i < ks->n; i++)
		key_json(&w, &ks->keys[i], "file", &x);
	jw_arr_end(&w);
	jw_obj_end(&w);
	reply(c, 200, &w);
}

/* A key of the config or the keys file by name, or NULL. */
static const struct auth_key *
key_find(const char *name, const char **source)
{
	const struct keys_set *ks = keys_file();
	size_t i;

	for (i = 0; i < (size_t)cfg->nkeys; i++)
		if (strcmp(cfg->keys[i].name, name) == 0) {
			*source = "config";
			return &cfg->keys[i];
		}
	for (i = 0; ks && i < ks->n; i++)
		if (strcmp(ks->keys[i].name, name) == 0) {
			*source = "file";
			return &ks->keys[i];
		}
	return NULL;
}

static void
wipe(char *p, size_t n)
{
	volatile char *v = p;

	while (n--)
		*v++ = 0;
}

/* The answer to a create or a rotate: the key once, and its entry. */
static void
secret_reply(struct conn *c, int status, const char *name, char *secret)
{
	const struct auth_key *k;
	const char *source = "file";
	struct key_ctx x;
	struct jw w;

	k = key_find(name, &source);
	key_ctx_init(c, &x, 0);
	jw_init(&w, &c->arena, ADMIN_JSON_MAX);
	jw_obj(&w);
	jw_kcstr(&w, "name", name);
	jw_kcstr(&w, "key", secret);
	if (k) {
		jw_key(&w, "entry");
		key_json(&w, k, source, &x);
	}
	jw_obj_end(&w);
	wipe(secret, KEYS_SECRET_SIZE);
	reply(c, status, &w);         /* frees the arena: nothing after */
}

/* The status for a keys.c error code. */
static int
keys_status(int rc)
{
	switch (rc) {
	case KEYS_EINVAL: return 400;
	case KEYS_EEXIST: return 409;
	case KEYS_ENOENT: return 404;
	default:          return 500;
	}
}

static int
state_ok(struct conn *c)
{
	if (state_path()[0])
		return 1;
	fail(c, 503, "no state directory: keys made here could not be "
	    "stored (set \"state_dir\" or LLMPROXY_STATE_DIR)");
	return 0;
}

/* POST /admin/api/keys: the head is in; read the body, then key_create. */
static void
api_keys_post(struct conn *c, const struct http_req *r)
{
	if (!state_ok(c))
		return;
	if (!r->chunked && r->content_length <= 0) {
		admin_body(c, "", 0);
		return;
	}
	if (r->content_length > ADMIN_BODY_MAX) {
		c->keep_alive = 0;
		fail(c, 413, "request body too large");
		return;
	}
	c->admin_body = 1;
	c->chunked_body = r->chunked;
	c->body_len = r->chunked ? 0 : r->content_length;
	if (r->expect_continue && !c->sent_continue) {
		c->sent_continue = 1;
		out_put(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
	c->phase = PH_READ_BODY;
}

/* see proxy_int.h */
void
admin_body(struct conn *c, const char *body, size_t n)
{
	static const char *const mine[] = { "name", NULL };
	char secret[KEYS_SECRET_SIZE], err[512], msg[700], why[160];
	struct auth_limits lim;
	struct keys_err ke;
	struct json_err je;
	struct json *root, *m;
	const char *name = NULL, *src;
	int rc, names = 0;

	c->admin_body = 0;
	if (n > ADMIN_BODY_MAX) {
		fail(c, 413, "request body too large");
		return;
	}
	root = json_parse(&c->arena, body, n, 0, &je);
	if (root == NULL) {
		snprintf(msg, sizeof msg, "invalid JSON at byte %zu: %s", je.pos,
		    je.msg ? je.msg : "syntax error");
		fail(c, 400, msg);
		return;
	}
	if (root->type != JSON_OBJECT) {
		fail(c, 400, "the body must be a JSON object: {\"name\": ..., "
		    "\"models\", \"rpm\", \"tpm\", \"parallel\", \"budget\", "
		    "\"expires\"}");
		return;
	}
	for (m = root->child; m; m = m->next)
		if (json_eq(m->key, m->keylen, "name")) {
			names++;
			if (m->type == JSON_STRING && strlen(m->s) == m->n)
				name = m->s;
		}
	if (names != 1 || name == NULL) {
		fail(c, 400, names > 1 ? "\"name\" is given twice" :
		    "\"name\" (a string) is required");
		return;
	}
	if (!keys_name_ok(name)) {
		fail(c, 400, "a key name is 1 to 63 characters of A-Z a-z 0-9 "
		    ". _ @ -, starting with a letter or digit");
		return;
	}
	if (keys_settings_parse(&lim, root, mine, &ke) < 0) {
		fail(c, 400, ke.msg);
		return;
	}
	if (key_find(name, &src) != NULL && strcmp(src, "config") == 0) {
		snprintf(msg, sizeof msg, "a key named \"%s\" is in the config "
		    "file", name);
		fail(c, 409, msg);
		return;
	}
	rc = keys_create(state_path(), name, &lim, wall_ms() / 1000, secret,
	    err, sizeof err);
	if (rc != KEYS_OK) {
		if (rc == KEYS_EIO)
			px_log("admin: creating key \"%s\": %s", name, err);
		fail(c, keys_status(rc), rc == KEYS_EIO ? "the keys file "
		    "could not be written (see the log)" : err);
		return;
	}
	snprintf(why, sizeof why, "admin: key \"%s\" created", name);
	keys_reload_now(why);
	secret_reply(c, 201, name, secret);
}

/* The name in /admin/api/keys/NAME[/rotate], percent-decoded: 0, or -1
 * when it is not a key name. */
static int
path_name(struct http_str seg, char out[AUTH_NAME_MAX])
{
	size_t i, k = 0;
	int hi, lo;

	for (i = 0; i < seg.n; i++) {
		char ch = seg.p[i];
		if (ch == '%') {
			if (i + 2 >= seg.n)
				return -1;
			hi = seg.p[i + 1];
			lo = seg.p[i + 2];
			hi = hi >= '0' && hi <= '9' ? hi - '0' :
			    (hi | 32) >= 'a' && (hi | 32) <= 'f' ?
			    (hi | 32) - 'a' + 10 : -1;
			lo = lo >= '0' && lo <= '9' ? lo - '0' :
			    (lo | 32) >= 'a' && (lo | 32) <= 'f' ?
			    (lo | 32) - 'a' + 10 : -1;
			if (hi < 0 || lo < 0)
				return -1;
			ch = (char)(hi * 16 + lo);
			i += 2;
		}
		if (k + 1 >= AUTH_NAME_MAX)
			return -1;
		out[k++] = ch;
	}
	out[k] = 0;
	return k == strlen(out) && keys_name_ok(out) ? 0 : -1;
}

/* DELETE /admin/api/keys/NAME and POST /admin/api/keys/NAME/rotate. */
static void
api_key_one(struct conn *c, const struct http_req *r, struct http_str rest)
{
	static const char rot[] = "/rotate";
	char name[AUTH_NAME_MAX], secret[KEYS_SECRET_SIZE], err[512];
	char msg[700], why[160];
	const char *src;
	int rotate = 0, rc;
	struct jw w;

	if (rest.n > sizeof rot - 1 &&
	    memcmp(rest.p + rest.n - (sizeof rot - 1), rot, sizeof rot - 1) == 0) {
		rotate = 1;
		rest.n -= sizeof rot - 1;
	}
	if (memchr(rest.p, '/', rest.n) || path_name(rest, name) < 0) {
		fail(c, rest.n && !memchr(rest.p, '/', rest.n) ? 400 : 404,
		    rest.n && !memchr(rest.p, '/', rest.n) ?
		    "not a key name" : "no such admin endpoint");
		return;
	}
	if (!method_ok(c, r, rotate ? "POST" : "DELETE") || !state_ok(c))
		return;
	if (key_find(name, &src) != NULL && strcmp(src, "config") == 0) {
		snprintf(msg, sizeof msg, "key \"%s\" is in the config file: "
		    "change it there", name);
		fail(c, 409, msg);
		return;
	}
	if (rotate)
		rc = keys_rotate(state_path(), name, wall_ms() / 1000, secret,
		    err, sizeof err);
	else
		rc = keys_revoke(state_path(), name, err, sizeof err);
	if (rc != KEYS_OK) {
		if (rc == KEYS_EIO)
			px_log("admin: %s key \"%s\": %s", rotate ? "rotating" :
			    "revoking", name, err);
		snprintf(msg, sizeof msg, "%s", rc == KEYS_ENOENT ?
		    "no such key in the keys file" : rc == KEYS_EIO ?
		    "the keys file could not be written (see the log)" : err);
		fail(c, keys_status(rc), msg);
		return;
	}
	snprintf(why, sizeof why, "admin: key \"%s\" %s", name,
	    rotate ? "rotated" : "revoked");
	keys_reload_now(why);
	if (rotate) {
		secret_reply(c, 200, name, secret);
		return;
	}
	jw_init(&w, &c->arena, 4096);
	jw_obj(&w);
	jw_kcstr(&w, "name", name);
	jw_kbool(&w, "revoked", 1);
	jw_obj_end(&w);
	reply(c, 200, &w);
}

/* ------------------------------------------------------------ the rest */

static void
api_providers(struct conn *c)
{
	struct jw w;

	jw_init(&w, &c->arena, ADMIN_JSON_MAX);
	px_gw_json(gw, cfg, wall_ms(), &w);
	reply(c, 200, &w);
}

static void
api_streams(struct conn *c)
{
	const struct ir_usage *u;
	struct walk k;
	struct jw w;
	long long now = clock_us();
	int i;

	walk(c, &k, ADMIN_STREAMS_MAX);
	jw_init(&w, &c->arena, ADMIN_JSON_MAX);
	jw_obj(&w);
	ktime_ms(&w, "now", wall_ms());
	jw_kint(&w, "total", k.total);
	jw_key(&w, "streams");
	jw_arr(&w);
	for (i = k.n - 1; i >= 0; i--) {        /* oldest first */
		const struct conn *s = k.v[i];
		u = s->stream ? px_stream_usage(s->stream) : &s->usage;
		jw_obj(&w);
		jw_kcstr(&w, "id", s->rid);
		kstr_or_null(&w, "key", s->key ? s->key->name : NULL);
		jw_kcstr(&w, "model", s->model);
		jw_kcstr(&w, "format", px_fmt_name(s->cfmt));
		kstr_or_null(&w, "provider", s->prov ? s->prov->name : NULL);
		kstr_or_null(&w, "credential", s->cred ? s->cred->label : NULL);
		jw_kbool(&w, "stream", s->req.stream);
		jw_kbool(&w, "streaming", s->streaming);
		jw_kint(&w, "age_ms", (now - s->t_start_us) / 1000);
		if (s->t_first_us)
			jw_kint(&w, "first_byte_ms",
			    (s->t_first_us - s->t_start_us) / 1000);
		else
			jw_knull(&w, "first_byte_ms");
		if (u->input >= 0)
			jw_kint(&w, "input_tokens", u->input);
		else
			jw_knull(&w, "input_tokens");
		if (u->output >= 0)
			jw_kint(&w, "output_tokens", u->output);
		else
			jw_knull(&w, "output_tokens");
		jw_kint(&w, "attempts", s->route ? s->plan.nattempts : 0);
		jw_kcstr(&w, "client", s->addr);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	reply(c, 200, &w);
}

static void
api_errors(struct conn *c)
{
	const struct err_ent *e;
	unsigned long i, n = nerrs < ADMIN_ERRORS ? nerrs : ADMIN_ERRORS;
	struct jw w;

	jw_init(&w, &c->arena, ADMIN_JSON_MAX);
	jw_obj(&w);
	jw_kint(&w, "total", (long long)nerrs);
	jw_key(&w, "errors");
	jw_arr(&w);
	for (i = 0; i < n; i++) {              /* newest first */
		e = &errs[(nerrs - 1 - i) % ADMIN_ERRORS];
		jw_obj(&w);
		ktime_ms(&w, "time", e->t_ms);
		jw_kcstr(&w, "id", e->id);
		jw_kcstr(&w, "method", e->method);
		jw_kcstr(&w, "path", e->path);
		jw_kint(&w, "status", e->status);
		kstr_or_null(&w, "key", e->key);
		kstr_or_null(&w, "format", e->fmt);
		kstr_or_null(&w, "model", e->model);
		kstr_or_null(&w, "provider", e->provider);
		kstr_or_null(&w, "credential", e->cred);
		kstr_or_null(&w, "message", e->msg);
		if (e->latency_us >= 0)
			jw_kint(&w, "latency_ms", e->latency_us / 1000);
		else
			jw_knull(&w, "latency_ms");
		kstr_or_null(&w, "attempts", e->attempts);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	reply(c, 200, &w);
}

/* ------------------------------------------------------------ the page */

/*
 * The page, in five pieces; the CSP names the SHA-256 of the CSS and of
 * the script exactly as they stand here. There is no double quote or
 * backslash inside, so every line reads as it is served.
 */
static const char page_head[] =
	"<!doctype html>\n"
	"<html lang=en>\n"
	"<head>\n"
	"<meta charset=utf-8>\n"
	"<meta name=viewport content='width=device-width,initial-scale=1'>\n"
	"<meta name=referrer content=no-referrer>\n"
	"<title>llmproxy admin</title>\n"
	"<link rel=icon href='data:,'>\n"
	"<style>";

static const char page_css[] =
	":root { --fg: #1d232a; --mute: #667; --bg: #f6f7f9; --card: #fff; --line: #dde1e6;\n"
	"  --ok: #2e7d32; --warn: #b26a00; --bad: #c62828; --accent: #2f5fb3;\n"
	"  font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }\n"
	"@media (prefers-color-scheme: dark) {\n"
	"  :root { --fg: #e6e8eb; --mute: #99a; --bg: #15181c; --card: #1e2227; --line: #333a42; --accent: #7aa7ff; }\n"
	"}\n"
	"body { margin: 0; }\n"
	"header { display: flex; gap: 1em; align-items: center; flex-wrap: wrap; padding: .6em 1.2em;\n"
	"  background: var(--card); border-bottom: 1px solid var(--line); }\n"
	"header h1 { font-size: 1.1em; margin: 0; }\n"
	"header .grow { flex: 1; }\n"
	"main, #login { padding: 1em 1.2em; max-width: 1400px; }\n"
	"section { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6em 1em; margin: 0 0 1em; }\n"
	"h2 { font-size: 1em; margin: .2em 0 .6em; }\n"
	"h3 { font-size: .95em; margin: .4em 0; }\n"
	".mute, figcaption small, .legend { color: var(--mute); }\n"
	".err { color: var(--bad); }\n"
	".cards { display: flex; flex-wrap: wrap; gap: .6em; }\n"
	".card { min-width: 9em; padding: .4em .8em; border: 1px solid var(--line); border-radius: 6px; }\n"
	".card b { display: block; font-size: 1.3em; }\n"
	".charts { display: flex; flex-wrap: wrap; gap: 1em; }\n"
	"figure { margin: 0; flex: 1 1 340px; min-width: 0; }\n"
	"svg.chart { width: 100%; height: auto; display: block; }\n"
	"svg text { fill: var(--mute); font-size: 10px; }\n"
	"svg line { stroke: var(--line); }\n"
	".legend span { margin-right: .8em; white-space: nowrap; }\n"
	".legend svg { vertical-align: middle; margin-right: .2em; }\n"
	"table { border-collapse: collapse; width: 100%; }\n"
	"th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid var(--line); vertical-align: top; }\n"
	"th { font-weight: 600; color: var(--mute); }\n"
	"td.num { text-align: right; font-variant-numeric: tabular-nums; }\n"
	".ok { color: var(--ok); } .cooling, .degraded { color: var(--warn); } .disabled, .down { color: var(--bad); }\n"
	"form.row { display: flex; flex-wrap: wrap; gap: .5em; align-items: end; margin: .4em 0 .8em; }\n"
	"form.row label { display: flex; flex-direction: column; font-size: .85em; color: var(--mute); }\n"
	"input, select, button { font: inherit; padding: .2em .4em; }\n"
	"input[type=number] { width: 6em; }\n"
	"button { cursor: pointer; }\n"
	"#newkey { border: 2px solid var(--accent); border-radius: 6px; padding: .6em; margin-bottom: .8em; }\n"
	"#newkey code { font-size: 1.1em; user-select: all; word-break: break-all; }\n";

static const char page_mid[] =
	"</style>\n"
	"</head>\n"
	"<body>\n"
	"<header>\n"
	"<h1>llmproxy admin <span id=version class=mute></span></h1>\n"
	"<span id=status class='grow mute'></span>\n"
	"<label>Range <select id=range>\n"
	"<option value=24h>24 hours</option><option value=7d>7 days</option>\n"
	"<option value=30d>30 days</option><option value=90d>90 days</option>\n"
	"</select></label>\n"
	"<button id=refresh type=button>Refresh</button>\n"
	"<button id=signout type=button>Sign out</button>\n"
	"</header>\n"
	"<form id=login hidden>\n"
	"<h2>Sign in</h2>\n"
	"<p>The admin key is the config's <code>admin_key</code>. It is kept in this tab only (session storage).</p>\n"
	"<input id=keyin type=password autocomplete=current-password placeholder='admin key' required>\n"
	"<button>Sign in</button>\n"
	"<p id=loginmsg class=err></p>\n"
	"</form>\n"
	"<main id=main hidden>\n"
	"<section><h2>Since start</h2><div id=summary class=cards></div></section>\n"
	"<section><h2>Usage by key</h2><div id=charts-key class=charts></div></section>\n"
	"<section><h2>Usage by model</h2><div id=charts-model class=charts></div></section>\n"
	"<section><h2>Keys</h2>\n"
	"<div id=newkey hidden></div>\n"
	"<form id=create class=row>\n"
	"<label>Name <input id=k-name required pattern='[A-Za-z0-9]([A-Za-z0-9._@]|-){0,62}' placeholder=alice></label>\n"
	"<label>Models <input id=k-models placeholder='gpt-*,claude-*'></label>\n"
	"<label>RPM <input id=k-rpm type=number min=1></label>\n"
	"<label>TPM <input id=k-tpm type=number min=1></label>\n"
	"<label>Parallel <input id=k-parallel type=number min=1></label>\n"
	"<label>Budget USD <input id=k-budget type=number min=0 step=any></label>\n"
	"<label>per <select id=k-per><option>day</option><option>month</option></select></label>\n"
	"<label>Expires <input id=k-expires type=date></label>\n"
	"<button id=k-create>Create key</button>\n"
	"<span id=createmsg class=err></span>\n"
	"</form>\n"
	"<table id=keys></table>\n"
	"</section>\n"
	"<section><h2>Providers</h2><div id=providers></div></section>\n"
	"<section><h2>In flight</h2><table id=streams></table></section>\n"
	"<section><h2>Recent errors</h2><table id=errors></table></section>\n"
	"</main>\n"
	"<script>";

static const char page_js[] =
	"'use strict';\n"
	"// The admin page: reads /admin/api/... with the admin key as a bearer\n"
	"// header and draws what it gets. Text from the proxy only ever goes into\n"
	"// textContent, never into markup.\n"
	"const STORE = 'llmproxy-admin-key';\n"
	"const SVGNS = 'http://www.w3.org/2000/svg';\n"
	"const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',\n"
	"  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#8cd17d', '#bab0ac', '#d37295'];\n"
	"const RANGES = { '24h': ['hour', 24, '24 hours'], '7d': ['hour', 168, '7 days'],\n"
	"  '30d': ['day', 30, '30 days'], '90d': ['day', 90, '90 days'] };\n"
	"const EVERY_MS = 5000;\n"
	"let adminKey = sessionStorage.getItem(STORE) || '';\n"
	"let timer = 0, busy = false, again = false;\n"
	"\n"
	"const $ = (id) => document.getElementById(id);\n"
	"\n"
	"// An element with attributes (on* are listeners) and children.\n"
	"function h(tag, attrs, ...kids) {\n"
	"  const e = document.createElement(tag);\n"
	"  for (const [k, v] of Object.entries(attrs || {})) {\n"
	"    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);\n"
	"    else if (v !== null && v !== undefined) e.setAttribute(k, v);\n"
	"  }\n"
	"  e.append(...kids.flat().filter((k) => k !== null && k !== undefined).map((k) => k instanceof Node ? k : String(k)));\n"
	"  return e;\n"
	"}\n"
	"function svg(tag, attrs, ...kids) {\n"
	"  const e = document.createElementNS(SVGNS, tag);\n"
	"  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);\n"
	"  e.append(...kids);\n"
	"  return e;\n"
	"}\n"
	"\n"
	"// ---------------------------------------------------------------- formats\n"
	"function num(v) {\n"
	"  if (v === null || v === undefined) return '-';\n"
	"  const a = Math.abs(v);\n"
	"  if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';\n"
	"  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';\n"
	"  if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';\n"
	"  return String(Math.round(v * 100) / 100);\n"
	"}\n"
	"function usd(v) {\n"
	"  if (v === null || v === undefined) return '-';\n"
	"  v = Number(v);\n"
	"  return '$' + (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(4));\n"
	"}\n"
	"function dur(ms) {\n"
	"  if (ms === null || ms === undefined) return '-';\n"
	"  const s = Math.floor(ms / 1000);\n"
	"  if (s < 1) return ms + ' ms';\n"
	"  if (s < 120) return s + ' s';\n"
	"  if (s < 7200) return Math.floor(s / 60) + ' min';\n"
	"  if (s < 172800) return Math.floor(s / 3600) + ' h';\n"
	"  return Math.floor(s / 86400) + ' d';\n"
	"}\n"
	"function ago(t) { return t ? dur(Math.max(0, Date.now() - Date.parse(t))) + ' ago' : 'never'; }\n"
	"function until(t) { return t ? 'for ' + dur(Math.max(0, Date.parse(t) - Date.now())) : ''; }\n"
	"function stamp(t) { return t ? new Date(t).toLocaleString() : '-'; }\n"
	"function tick(ms, bucket) {\n"
	"  const d = new Date(ms), p = (x) => String(x).padStart(2, '0');\n"
	"  const day = p(d.getMonth() + 1) + '-' + p(d.getDate());\n"
	"  return bucket === 'hour' ? day + ' ' + p(d.getHours()) + ':00' : day;\n"
	"}\n"
	"\n"
	"// ---------------------------------------------------------------- the API\n"
	"async function api(method, path, body) {\n"
	"  const opt = { method, cache: 'no-store', headers: { authorization: 'Bearer ' + adminKey } };\n"
	"  if (body !== undefined) {\n"
	"    opt.headers['content-type'] = 'application/json';\n"
	"    opt.body = JSON.stringify(body);\n"
	"  }\n"
	"  const res = await fetch('/admin/api/' + path, opt);\n"
	"  const j = await res.json().catch(() => null);\n"
	"  if (res.status === 401) {\n"
	"    signOut(j && j.error ? j.error.message : 'the admin key was refused');\n"
	"    throw new Error('not signed in');\n"
	"  }\n"
	"  if (!res.ok) throw new Error(j && j.error ? j.error.message : res.status + ' ' + res.statusText);\n"
	"  return j;\n"
	"}\n"
	"\n"
	"// ---------------------------------------------------------------- sign in\n"
	"function signOut(msg) {\n"
	"  adminKey = '';\n"
	"  sessionStorage.removeItem(STORE);\n"
	"  clearInterval(timer);\n"
	"  $('main').hidden = true;\n"
	"  $('login').hidden = false;\n"
	"  $('loginmsg').textContent = msg || '';\n"
	"  $('keyin').focus();\n"
	"}\n"
	"function signIn() {\n"
	"  $('login').hidden = true;\n"
	"  $('main').hidden = false;\n"
	"  clearInterval(timer);\n"
	"  timer = setInterval(refresh, EVERY_MS);\n"
	"  refresh();\n"
	"}\n"
	"\n"
	"// ---------------------------------------------------------------- refresh\n"
	"async function refresh() {\n"
	"  if (!adminKey) return;\n"
	"  if (busy) {\n"
	"    again = true;           // once more when this one is done: it may predate a change\n"
	"    return;\n"
	"  }\n"
	"  busy = true;\n"
	"  const [bucket, n, span] = RANGES[$('range').value];\n"
	"  const q = '&bucket=' + bucket + '&n=' + n;\n"
	"  const parts = [\n"
	"    ['summary', drawSummary],\n"
	"    ['usage?by=key' + q, (d) => drawCharts('charts-key', d, n, span)],\n"
	"    ['usage?by=model' + q, (d) => drawCharts('charts-model', d, n, span)],\n"
	"    ['keys', drawKeys],\n"
	"    ['providers', drawProviders],\n"
	"    ['streams', drawStreams],\n"
	"    ['errors', drawErrors],\n"
	"  ];\n"
	"  const got = await Promise.allSettled(parts.map(([p]) => api('GET', p)));\n"
	"  const failed = [];\n"
	"  got.forEach((g, i) => {\n"
	"    if (g.status === 'fulfilled') parts[i][1](g.value);\n"
	"    else failed.push(parts[i][0].split('?')[0] + ': ' + g.reason.message);\n"
	"  });\n"
	"  busy = false;\n"
	"  if (again) {\n"
	"    again = false;\n"
	"    refresh();\n"
	"  }\n"
	"  if (!adminKey) return;\n"
	"  $('status').textContent = failed.length ? failed.join('; ') : 'updated ' + new Date().toLocaleTimeString();\n"
	"  $('status').className = failed.length ? 'grow err' : 'grow mute';\n"
	"  document.body.dataset.refreshed = String(Date.now());\n"
	"}\n"
	"\n"
	"// ---------------------------------------------------------------- summary\n"
	"function drawSummary(d) {\n"
	"  $('version').textContent = d.version;\n"
	"  const card = (label, value, more) => h('div', { class: 'card' }, label, h('b', null, value), h('small', { class: 'mute' }, more || ''));\n"
	"  $('summary').replaceChildren(\n"
	"    card('Requests', num(d.requests), num(d.errors) + ' errors'),\n"
	"    card('Tokens in', num(d.input_tokens)),\n"
	"    card('Tokens out', num(d.output_tokens)),\n"
	"    card('Cost', usd(d.cost_usd), d.unpriced ? d.unpriced + ' unpriced' : ''),\n"
	"    card('Streams open', num(d.streams_open), num(d.in_flight) + ' in flight'),\n"
	"    card('Keys', num(d.keys.config + d.keys.file), d.keys.file + ' from the keys file'),\n"
	"    card('Uptime', dur(d.uptime_s * 1000), 'since ' + stamp(d.started)));\n"
	"}\n"
	"\n"
	"// ---------------------------------------------------------------- charts\n"
	"const METRICS = [['requests', 'Requests', num], ['tokens', 'Tokens', num], ['cost_usd', 'Cost', usd]];\n"
	"\n"
	"function values(s, metric) {\n"
	"  if (metric === 'tokens') return s.input_tokens.map((v, i) => v + s.output_tokens[i]);\n"
	"  return s[metric].map(Number);\n"
	"}\n"
	"\n"
	"function drawCharts(id, d, n, span) {\n"
	"  $(id).replaceChildren(...METRICS.map(([m, title, fmt]) => chart(d, m, title, fmt, n, span)));\n"
	"}\n"
	"\n"
	"// Stacked bars, one colour per series, one bar per bucket.\n"
	"function chart(d, metric, title, fmt, n, span) {\n"
	"  const W = 420, H = 150, L = 46, B = 16, T = 6, R = 4, bucket = d.bucket;\n"
	"  const series = d.series.map((s, i) => ({ name: s.name, color: COLORS[i % COLORS.length], v: values(s, metric) }));\n"
	"  const totals = Array.from({ length: n }, (_, i) => series.reduce((a, s) => a + (s.v[i] || 0), 0));\n"
	"  const max = Math.max(0, ...totals);\n"
	"  const bw = (W - L - R) / n, y = (v) => (H - B) - v / (max || 1) * (H - B - T);\n"
	"  const g = svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': title + ' by ' + d.by },\n"
	"    svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B }),\n"
	"    svg('line', { x1: L, x2: W - R, y1: T, y2: T }),\n"
	"    svg('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, fmt(max)),\n"
	"    svg('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, '0'),\n"
	"    svg('text', { x: L, y: H - 3 }, tick(d.start, bucket)),\n"
	"    svg('text', { x: W - R, y: H - 3, 'text-anchor': 'end' }, tick(d.start + (n - 1) * d.step_ms, bucket)));\n"
	"  for (let i = 0; i < n; i++) {\n"
	"    let base = 0;\n"
	"    for (const s of series) {\n"
	"      const v = s.v[i] || 0;\n"
	"      if (v <= 0) continue;\n"
	"      const t = d.start + i * d.step_ms;\n"
	"      g.append(svg('rect', { x: (L + i * bw + 0.5).toFixed(1), width: Math.max(1, bw - 1).toFixed(1),\n"
	"        y: y(base + v).toFixed(1), height: Math.max(1, y(base) - y(base + v)).toFixed(1), fill: s.color,\n"
	"        'data-series': s.name, 'data-t': t, 'data-v': v },\n"
	"        svg('title', null, (s.name || '(no key)') + ', ' + new Date(t).toLocaleString() + ': ' + fmt(v))));\n"
	"      base += v;\n"
	"    }\n"
	"  }\n"
	"  const sum = (s) => s.v.reduce((a, b) => a + b, 0);\n"
	"  const legend = h('div', { class: 'legend' }, ...series.map((s) => h('span', null,\n"
	"    svg('svg', { width: 10, height: 10 }, svg('rect', { width: 10, height: 10, fill: s.color })),\n"
	"    (s.name || '(no key)') + ' ' + fmt(sum(s)))));\n"
	"  if (!series.length) legend.append('no requests in this range');\n"
	"  const total = totals.reduce((a, b) => a + b, 0);\n"
	"  return h('figure', { 'data-by': d.by, 'data-metric': metric, 'data-total': total },\n"
	"    h('figcaption', null, title + ' ', h('small', null, fmt(total) + ' in ' + span + ', per ' + bucket)), g, legend);\n"
	"}\n"
	"\n"
	"// ---------------------------------------------------------------- keys\n"
	"function limitsText(l) {\n"
	"  const p = [];\n"
	"  if (l.rpm) p.push(l.rpm + ' rpm');\n"
	"  if (l.tpm) p.push(num(l.tpm) + ' tpm');\n"
	"  if (l.parallel) p.push(l.parallel + ' parallel');\n"
	"  if (l.budget) p.push(usd(l.budget.usd) + '/' + l.budget.per);\n"
	"  return p.join(', ') || 'none';\n"
	"}\n"
	"function nowText(u, l) {\n"
	"  const p = [u.in_flight + ' in flight'];\n"
	"  if (l.rpm) p.push(u.requests_remaining + '/' + l.rpm + ' requests left');\n"
	"  if (l.tpm) p.push(num(u.tokens_remaining) + '/' + num(l.tpm) + ' tokens left');\n"
	"  return p.join(', ');\n"
	"}\n"
	"function spendText(u, l) {\n"
	"  let t = usd(u.spent_today_usd) + ' today, ' + usd(u.spent_month_usd) + ' this month';\n"
	"  if (l.budget) t += '; budget ' + usd(u.budget_spent_usd) + ' of ' + usd(l.budget.usd) + ', resets ' + stamp(u.budget_resets);\n"
	"  return t;\n"
	"}\n"
	"\n"
	"function drawKeys(d) {\n"
	"  const head = h('tr', null, ...['Key', 'Source', 'Models', 'Limits', 'Now', 'Spend', 'Last used', 'Created', 'Expires', ''].map((t) => h('th', null, t)));\n"
	"  const rows = d.keys.map((k) => h('tr', { 'data-key': k.name },\n"
	"    h('td', null, h('b', null, k.name), h('br'), h('small', { class: 'mute' }, k.prefix || '')),\n"
	"    h('td', null, k.source),\n"
	"    h('td', null, (k.limits.models || ['*']).join(', ')),\n"
	"    h('td', null, limitsText(k.limits)),\n"
	"    h('td', null, nowText(k.usage, k.limits)),\n"
	"    h('td', null, spendText(k.usage, k.limits)),\n"
	"    h('td', { title: stamp(k.last_used) }, ago(k.last_used)),\n"
	"    h('td', null, stamp(k.created)),\n"
	"    h('td', { class: k.expired ? 'err' : null }, k.limits.expires ? stamp(k.limits.expires) : 'never'),\n"
	"    h('td', null, k.source === 'file' ? [\n"
	"      h('button', { type: 'button', class: 'rotate', onclick: () => rotateKey(k.name) }, 'Rotate'), ' ',\n"
	"      h('button', { type: 'button', class: 'revoke', onclick: () => revokeKey(k.name) }, 'Revoke')] : h('small', { class: 'mute' }, 'in the config file'))));\n"
	"  $('keys').replaceChildren(head, ...rows);\n"
	"  if (!rows.length) $('keys').append(h('tr', null, h('td', { colspan: 10, class: 'mute' }, 'no keys: the proxy is open to every client')));\n"
	"}\n"
	"\n"
	"function showSecret(name, secret, what) {\n"
	"  const box = $('newkey');\n"
	"  box.replaceChildren(h('p', null, 'Key ', h('b', null, name), ' ' + what + '. Copy it now: it is not shown again.'),\n"
	"    h('code', { id: 'secret' }, secret), ' ',\n"
	"    h('button', { type: 'button', onclick: () => navigator.clipboard.writeText(secret).catch(() => {}) }, 'Copy'), ' ',\n"
	"    h('button', { type: 'button', id: 'secret-done', onclick: () => { box.replaceChildren(); box.hidden = true; } }, 'Done'));\n"
	"  box.hidden = false;\n"
	"}\n"
	"\n"
	"async function createKey(e) {\n"
	"  e.preventDefault();\n"
	"  const body = { name: $('k-name').value.trim() };\n"
	"  const models = $('k-models').value.split(',').map((m) => m.trim()).filter(Boolean);\n"
	"  if (models.length) body.models = models;\n"
	"  for (const f of ['rpm', 'tpm', 'parallel']) if ($('k-' + f).value) body[f] = Number($('k-' + f).value);\n"
	"  if ($('k-budget').value) body.budget = { usd: Number($('k-budget').value), per: $('k-per').value };\n"
	"  if ($('k-expires').value) body.expires = $('k-expires').value;\n"
	"  $('createmsg').textContent = '';\n"
	"  try {\n"
	"    const r = await api('POST', 'keys', body);\n"
	"    showSecret(r.name, r.key, 'created');\n"
	"    $('create').reset();\n"
	"  } catch (err) {\n"
	"    $('createmsg').textContent = err.message;\n"
	"  }\n"
	"  refresh();\n"
	"}\n"
	"\n"
	"async function rotateKey(name) {\n"
	"  if (!confirm('Give key ' + name + ' a new secret? The old one stops working at once.')) return;\n"
	"  try {\n"
	"    const r = await api('POST', 'keys/' + encodeURIComponent(name) + '/rotate');\n"
	"    showSecret(r.name, r.key, 'rotated');\n"
	"  } catch (err) {\n"
	"    $('status').textContent = err.message;\n"
	"  }\n"
	"  refresh();\n"
	"}\n"
	"\n"
	"async function revokeKey(name) {\n"
	"  if (!confirm('Revoke key ' + name + '? Requests with it fail at once.')) return;\n"
	"  try {\n"
	"    await api('DELETE', 'keys/' + encodeURIComponent(name));\n"
	"  } catch (err) {\n"
	"    $('status').textContent = err.message;\n"
	"  }\n"
	"  refresh();\n"
	"}\n"
	"\n"
	"// ---------------------------------------------------------------- providers\n"
	"function cooling(list) {\n"
	"  return list.map((c) => (c.model ? c.model + ': ' : '') + c.class + (c.status ? ' ' + c.status : '') + ' ' + until(c.until)).join('; ');\n"
	"}\n"
	"\n"
	"function drawProviders(d) {\n"
	"  $('providers').replaceChildren(...d.providers.map((p) => h('div', { class: 'provider', 'data-provider': p.name },\n"
	"    h('h3', null, p.name + ' ', h('small', { class: 'mute' }, p.type), ' ', h('span', { class: p.state }, p.state)),\n"
	"    p.down ? h('p', { class: 'down' }, 'down: ' + cooling([p.down])) : null,\n"
	"    p.cooling.length ? h('p', { class: 'cooling' }, 'cooling: ' + cooling(p.cooling)) : null,\n"
	"    p.health_check ? h('p', { class: 'mute' }, 'health check every ' + p.health_check.interval_s + ' s with ' + p.health_check.model + ', next ' + stamp(p.health_check.next)) : null,\n"
	"    h('table', null, h('tr', null, ...['Credential', 'State', 'Cooldowns', 'Last success', 'Last error', 'Successes', 'Failures'].map((t) => h('th', null, t))),\n"
	"      ...p.credentials.map((c) => h('tr', null,\n"
	"        h('td', null, c.label),\n"
	"        h('td', { class: c.state }, c.state + (c.disabled ? ' (' + c.disabled.status + ' since ' + stamp(c.disabled.since) + ')' : '')),\n"
	"        h('td', null, cooling(c.cooling) || '-'),\n"
	"        h('td', null, ago(c.last_success)),\n"
	"        h('td', null, c.last_error ? c.last_error.class + ' ' + c.last_error.status + ', ' + ago(c.last_error.at) : '-'),\n"
	"        h('td', { class: 'num' }, c.successes),\n"
	"        h('td', { class: 'num' }, c.failures)))))));\n"
	"}\n"
	"\n"
	"// ---------------------------------------------------------------- streams, errors\n"
	"function table(id, heads, rows, empty) {\n"
	"  $(id).replaceChildren(h('tr', null, ...heads.map((t) => h('th', null, t))), ...rows);\n"
	"  if (!rows.length) $(id).append(h('tr', null, h('td', { colspan: heads.length, class: 'mute' }, empty)));\n"
	"}\n"
	"\n"
	"function drawStreams(d) {\n"
	"  table('streams', ['Request', 'Key', 'Model', 'Format', 'Provider', 'Age', 'Tokens in', 'Tokens out', 'Stream'],\n"
	"    d.streams.map((s) => h('tr', { 'data-id': s.id },\n"
	"      h('td', null, s.id), h('td', null, s.key || '-'), h('td', null, s.model), h('td', null, s.format),\n"
	"      h('td', null, (s.provider || '-') + (s.credential ? ' / ' + s.credential : '')), h('td', { class: 'num' }, dur(s.age_ms)),\n"
	"      h('td', { class: 'num' }, num(s.input_tokens)), h('td', { class: 'num' }, num(s.output_tokens)),\n"
	"      h('td', null, s.streaming ? 'streaming' : s.stream ? 'waiting' : 'no'))),\n"
	"    'nothing in flight');\n"
	"}\n"
	"\n"
	"function drawErrors(d) {\n"
	"  table('errors', ['Time', 'Status', 'Request', 'Key', 'Model', 'Provider', 'Error'],\n"
	"    d.errors.map((e) => h('tr', null,\n"
	"      h('td', null, stamp(e.time)), h('td', { class: 'num' }, e.status),\n"
	"      h('td', null, e.method + ' ' + e.path, h('br'), h('small', { class: 'mute' }, e.id)),\n"
	"      h('td', null, e.key || '-'), h('td', null, e.model || '-'),\n"
	"      h('td', null, (e.provider || '-') + (e.credential ? ' / ' + e.credential : '')),\n"
	"      h('td', null, e.message || '', e.attempts ? h('br') : null, e.attempts ? h('small', { class: 'mute' }, e.attempts) : null))),\n"
	"    'no errors since the proxy started');\n"
	"}\n"
	"\n"
	"// ---------------------------------------------------------------- start\n"
	"$('login').addEventListener('submit', (e) => {\n"
	"  e.preventDefault();\n"
	"  adminKey = $('keyin').value.trim();\n"
	"  $('keyin').value = '';\n"
	"  sessionStorage.setItem(STORE, adminKey);\n"
	"  signIn();\n"
	"});\n"
	"$('signout').addEventListener('click', () => signOut(''));\n"
	"$('refresh').addEventListener('click', refresh);\n"
	"$('range').addEventListener('change', refresh);\n"
	"$('create').addEventListener('submit', createKey);\n"
	"if (adminKey) signIn(); else signOut('');\n";

static const char page_tail[] =
	"</script>\n"
	"</body>\n"
	"</html>\n";

static void
base64(const unsigned char *p, size_t n, char *out)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, k = 0;
	unsigned v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		out[k++] = b64[v >> 18];
		out[k++] = b64[v >> 12 & 63];
		out[k++] = b64[v >> 6 & 63];
		out[k++] = b64[v & 63];
	}
	if (i < n) {
		v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
		out[k++] = b64[v >> 18];
		out[k++] = b64[v >> 12 & 63];
		out[k++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[k++] = '=';
	}
	out[k] = 0;
}

static void
send_page(struct conn *c)
{
	static char page[sizeof page_head + sizeof page_css + sizeof page_mid +
	    sizeof page_js + sizeof page_tail];
	static char hdrs[640];
	static size_t len;
	unsigned char d[32];
	char hc[48], hj[48];

	if (len == 0) {
		auth_sha256(page_css, sizeof page_css - 1, d);
		base64(d, 32, hc);
		auth_sha256(page_js, sizeof page_js - 1, d);
		base64(d, 32, hj);
		snprintf(hdrs, sizeof hdrs, "Content-Security-Policy: "
		    "default-src 'none'; script-src 'sha256-%s'; "
		    "style-src 'sha256-%s'; connect-src 'self'; "
		    "img-src data:; base-uri 'none'; form-action 'none'; "
		    "frame-ancestors 'none'\r\n"
		    "X-Frame-Options: DENY\r\n"
		    "Referrer-Policy: no-referrer\r\n" API_HDRS, hj, hc);
		len = (size_t)snprintf(page, sizeof page, "%s%s%s%s%s",
		    page_head, page_css, page_mid, page_js, page_tail);
	}
	send_body(c, 200, "text/html; charset=utf-8", page, len, hdrs);
}

/* ------------------------------------------------------------ dispatch */

static int
path_is(const struct http_req *r, const char *p)
{
	return http_str_eq(r->path, p);
}

/* see proxy_int.h */
void
admin_handle(struct conn *c, const struct http_req *r, enum admin_auth auth)
{
	static const char *const none[] = { NULL };
	static const char kp[] = "/admin/api/keys/";
	struct http_str rest;

	if (auth == ADMIN_OFF) {
		fail(c, 404, "no admin_key is configured: the admin endpoints "
		    "are off");
		return;
	}
	if (path_is(r, "/admin") || path_is(r, "/admin/")) {
		if (method_ok(c, r, "GET, HEAD"))
			send_page(c);
		return;
	}
	if (auth != ADMIN_KEY_OK) {
		send_error_extra(c, 401, auth == ADMIN_BAD_KEY ?
		    "invalid admin key" : "missing admin key: send "
		    "Authorization: Bearer <admin_key>",
		    "WWW-Authenticate: Bearer realm=\"llmproxy admin\"\r\n"
		    API_HDRS);
		return;
	}
	if (path_is(r, "/admin/api/usage")) {
		if (method_ok(c, r, "GET, HEAD"))
			api_usage(c, r);
		return;
	}
	if (r->path.n > sizeof kp - 1 &&
	    memcmp(r->path.p, kp, sizeof kp - 1) == 0) {
		rest.p = r->path.p + sizeof kp - 1;
		rest.n = r->path.n - (sizeof kp - 1);
		if (query_ok(c, r->query, none))
			api_key_one(c, r, rest);
		return;
	}
	if (!query_ok(c, r->query, none))
		return;
	if (path_is(r, "/admin/api/summary")) {
		if (method_ok(c, r, "GET, HEAD"))
			api_summary(c);
	} else if (path_is(r, "/admin/api/keys")) {
		if (!method_ok(c, r, "GET, HEAD, POST"))
			return;
		if (http_str_eq(r->method, "POST"))
			api_keys_post(c, r);
		else
			api_keys_list(c);
	} else if (path_is(r, "/admin/api/providers") ||
	    path_is(r, "/admin/providers")) {
		if (method_ok(c, r, "GET, HEAD"))
			api_providers(c);
	} else if (path_is(r, "/admin/api/streams")) {
		if (method_ok(c, r, "GET, HEAD"))
			api_streams(c);
	} else if (path_is(r, "/admin/api/errors")) {
		if (method_ok(c, r, "GET, HEAD"))
			api_errors(c);
	} else {
		fail(c, 404, "no such admin endpoint");
	}
}
