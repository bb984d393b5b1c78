/*
 * convert.c - the IR driver: codec table, one-shot entry points, the stream
 * driver with its grammar guard, and the helpers every codec shares.
 *
 * Design. Each wire format is a codec (convert_int.h) that only knows how to
 * get in and out of the IR; this file owns everything that must behave the
 * same whatever the pair of formats is:
 *   - JSON parsing and the "invalid JSON at byte N" message, so a bad body
 *     gives the same 400 whichever endpoint it hit;
 *   - request/response defaults (-1 = unset) before a decoder runs;
 *   - the stream grammar START (BLOCK_START DELTA* BLOCK_STOP)* FINISH.
 *     px_emit() is the single choke point between a stream decoder and a
 *     stream encoder: it renumbers blocks, closes a forgotten block, drops
 *     anything after the terminal event and merges usage, so an encoder can
 *     trust what it is given (WIRE.md §4.1) and a sloppy upstream cannot
 *     make us emit an invalid client stream;
 *   - the cut-off rule: an upstream that stops before its terminal event
 *     yields an in-band error, never a clean finish (WIRE.md §6.53);
 *   - the effort <-> thinking-budget table (the one place it lives);
 *   - the request as each target takes it (target_view()): hosted tools of
 *     another format left out, tool names and call ids rewritten to the
 *     target's rules, and the client's own tool names restored in answers
 *     and streams going back (px_encode_response(), px_emit());
 *   - a tool-call history every upstream accepts (history_repair()): each
 *     call of a turn that is not the last message gets exactly one result
 *     right after it, in call order, a missing one an error placeholder; a
 *     repeated result is dropped and an orphan result becomes user text
 *     (WIRE.md §6.12, §6.13, §6.37, §6.43). Both views copy only when
 *     something changes.
 * Per-event parsing uses a scratch arena freed after each upstream event,
 * so memory for a long stream stays bounded by its largest event.
 */
#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "convert_int.h"

/* scratch arena cap: a few times the largest SSE event we accept */
#define PX_SCRATCH_CAP ((size_t)SSE_EVENT_MAX * 8u + (1u << 20))

static long long det_now;          /* 0 = real clock */
static unsigned long long id_ctr;  /* deterministic id counter */
static unsigned long long rng_s;   /* xorshift state for ids */

/* ------------------------------------------------------------ formats */

static const char *const fmt_names[PX_FMT_COUNT] = {
	"chat", "responses", "anthropic", "gemini"
};

/* see convert.h */
const char *
px_fmt_name(enum px_fmt f)
{
	if (f == PX_FMT_COMPLETIONS)
		return "completions";
	if (f == PX_FMT_CLI)
		return "cli";
	if ((int)f < 0 || f >= PX_FMT_COUNT)
		return "unknown";
	return fmt_names[f];
}

/* see convert.h */
int
px_fmt_parse(const char *s, size_t n, enum px_fmt *out)
{
	int i;

	for (i = 0; i < PX_FMT_COUNT; i++) {
		if (json_eq(s, n, fmt_names[i])) {
			*out = (enum px_fmt)i;
			return 1;
		}
	}
	if (json_eq(s, n, "openai")) {
		*out = PX_FMT_CHAT;
		return 1;
	}
	if (json_eq(s, n, "completions")) {
		*out = PX_FMT_COMPLETIONS;
		return 1;
	}
	if (json_eq(s, n, "cli")) {
		*out = PX_FMT_CLI;
		return 1;
	}
	return 0;
}

/* see convert_int.h */
const struct px_codec *
px_codec(enum px_fmt f)
{
	switch (f) {
	case PX_FMT_CHAT:      return &px_codec_chat;
	case PX_FMT_RESPONSES: return &px_codec_responses;
	case PX_FMT_ANTHROPIC: return &px_codec_anthropic;
	case PX_FMT_GEMINI:    return &px_codec_gemini;
	case PX_FMT_COMPLETIONS: return &px_codec_completions;
	case PX_FMT_CLI:       return &px_codec_cli;
	default:               return NULL;
	}
}

/* see convert.h */
void
ir_usage_init(struct ir_usage *u)
{
	u->input = u->output = u->cache_read = u->cache_write = -1;
	u->reasoning = -1;
	u->cost_uusd = -1;
}

/* ------------------------------------------------------------ helpers */

/* see convert_int.h */
struct px_str
px_str_c(const char *s)
{
	struct px_str r;

	r.p = s;
	r.n = s ? strlen(s) : 0;
	return r;
}

/* see convert_int.h */
struct px_str
px_str_json(const struct json *v)
{
	struct px_str r = { NULL, 0 };

	if (v && v->type == JSON_STRING) {
		r.p = v->s;
		r.n = v->n;
	}
	return r;
}

/* see convert_int.h */
struct px_str
px_str_dup(struct px_arena *a, const char *p, size_t n)
{
	struct px_str r = { NULL, 0 };
	char *d;

	d = px_arena_strndup(a, p ? p : "", p ? n : 0);
	if (d) {
		r.p = d;
		r.n = p ? n : 0;
	}
	return r;
}

/* see convert_int.h */
int
px_str_same(struct px_str a, struct px_str b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* see convert_int.h */
int
px_str_eq(struct px_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

/* see convert_int.h */
void
px_err_set(struct px_err *e, int status, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	e->status = status;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
}

/* see convert_int.h */
int
px_data_url_split(struct px_str url, struct px_str *media, struct px_str *data)
{
	size_t i, comma, semi;

	if (url.n < 5 || memcmp(url.p, "data:", 5) != 0)
		return 0;
	for (comma = 5; comma < url.n && url.p[comma] != ','; comma++)
		;
	if (comma == url.n)
		return 0;
	/* header must end in ";base64": the IR carries base64 only */
	if (comma - 5 < 7 || memcmp(url.p + comma - 7, ";base64", 7) != 0)
		return 0;
	for (semi = 5; semi < comma && url.p[semi] != ';'; semi++)
		;
	for (i = 5; i < semi; i++)
		if (url.p[i] == ' ' || url.p[i] == '"')
			return 0;
	media->p = url.p + 5;
	media->n = semi - 5;
	data->p = url.p + comma + 1;
	data->n = url.n - comma - 1;
	return 1;
}

/* see convert_int.h */
struct px_str
px_data_url_make(struct px_arena *a, struct px_str media, struct px_str data)
{
	struct px_str r = { NULL, 0 };
	size_t n = 5 + media.n + 8 + data.n;
	char *p = px_arena_alloc(a, n + 1);

	if (!p)
		return r;
	memcpy(p, "data:", 5);
	if (media.n)
		memcpy(p + 5, media.p, media.n);
	memcpy(p + 5 + media.n, ";base64,", 8);
	if (data.n)
		memcpy(p + 13 + media.n, data.p, data.n);
	p[n] = 0;
	r.p = p;
	r.n = n;
	return r;
}

/* see convert.h */
void
px_set_deterministic(long long now)
{
	det_now = now;
	id_ctr = 0;
}

/* see convert_int.h */
long long
px_now(void)
{
	return det_now ? det_now : (long long)time(NULL);
}

static unsigned long long
rng_next(void)
{
	if (rng_s == 0) {
		rng_s = (unsigned long long)time(NULL) * 0x9E3779B97F4A7C15ull ^
		    ((unsigned long long)getpid() << 32) ^
		    (unsigned long long)(size_t)&rng_s;
		if (rng_s == 0)
			rng_s = 0x2545F4914F6CDD1Dull;
	}
	rng_s ^= rng_s << 13;
	rng_s ^= rng_s >> 7;
	rng_s ^= rng_s << 17;
	return rng_s * 0x2545F4914F6CDD1Dull;
}

/* see convert_int.h */
struct px_str
px_new_id(struct px_arena *a, const char *prefix)
{
	static const char alnum[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	struct px_str r = { NULL, 0 };
	size_t pl = strlen(prefix), i;
	char *p = px_arena_alloc(a, pl + 25);

	if (!p)
		return r;
	memcpy(p, prefix, pl);
	if (det_now) {
		/* tests: "<prefix>000...0001", "<prefix>000...0002", ... */
		unsigned long long c = ++id_ctr;
		for (i = 24; i-- > 0; c /= 10)
			p[pl + i] = (char)('0' + c % 10);
	} else {
		for (i = 0; i < 24; i++)
			p[pl + i] = alnum[rng_next() % 62];
	}
	p[pl + 24] = 0;
	r.p = p;
	r.n = pl + 24;
	return r;
}

/* see convert_int.h */
void *
px_zalloc(struct px_arena *a, size_t n)
{
	void *p = px_arena_alloc(a, n ? n : 1);

	if (p)
		memset(p, 0, n ? n : 1);
	return p;
}

/* see convert_int.h */
struct px_str
px_json_compact(struct px_arena *a, const struct json *v)
{
	struct px_str r = { NULL, 0 };
	struct jw w;

	if (!v)
		return r;
	/* re-escaping can grow a string at most 6x (\u00XX) */
	jw_init(&w, a, v->rawlen * 6 + 64);
	jw_value(&w, v);
	if (w.err)
		return r;
	r.p = w.buf;
	r.n = w.len;
	return r;
}

/* see convert_int.h */
enum ir_err_kind
px_kind_from_status(int status)
{
	switch (status) {
	case 400: return IR_ERR_INVALID;
	case 401: return IR_ERR_AUTH;
	case 402: return IR_ERR_PERMISSION;
	case 403: return IR_ERR_PERMISSION;
	case 404: return IR_ERR_NOT_FOUND;
	case 408: return IR_ERR_TIMEOUT;
	case 413: return IR_ERR_TOO_LARGE;
	case 429: return IR_ERR_RATE_LIMIT;
	case 502: return IR_ERR_BAD_GATEWAY;
	case 503: return IR_ERR_UNAVAILABLE;
	case 504: return IR_ERR_TIMEOUT;
	case 529: return IR_ERR_OVERLOADED;
	default:
		return status >= 500 ? IR_ERR_SERVER : IR_ERR_INVALID;
	}
}

/* see convert_int.h */
int
px_status_from_kind(enum ir_err_kind k)
{
	switch (k) {
	case IR_ERR_INVALID:     return 400;
	case IR_ERR_AUTH:        return 401;
	case IR_ERR_PERMISSION:  return 403;
	case IR_ERR_NOT_FOUND:   return 404;
	case IR_ERR_TOO_LARGE:   return 413;
	case IR_ERR_RATE_LIMIT:  return 429;
	case IR_ERR_SERVER:      return 500;
	case IR_ERR_BAD_GATEWAY: return 502;
	case IR_ERR_UNAVAILABLE: return 503;
	case IR_ERR_TIMEOUT:     return 504;
	case IR_ERR_OVERLOADED:  return 529;
	}
	return 500;
}

/* see convert_int.h */
void
px_jw_num(struct jw *w, const struct ir_num *n)
{
	if (n->raw.n)
		jw_raw(w, n->raw.p, n->raw.n);
	else
		jw_double(w, n->v);
}

/* Keywords Gemini's schema parser rejects (WIRE.md §2.4, §6.41). */
static int
gemini_drop_key(const char *k)
{
	static const char *const drop[] = {
		"$schema", "additionalProperties", "$ref", "$defs", "$id",
		"$comment", "definitions", "exclusiveMinimum", "exclusiveMaximum",
		"examples", "default", "patternProperties",
		"unevaluatedProperties", "strict", NULL
	};
	int i;

	for (i = 0; drop[i]; i++)
		if (strcmp(k, drop[i]) == 0)
			return 1;
	return 0;
}

/* see convert_int.h */
void
px_schema_gemini(struct jw *w, const struct json *schema)
{
	const struct json *m, *c;

	if (!schema)
		return;
	if (schema->type != JSON_OBJECT) {
		jw_value(w, schema);
		return;
	}
	jw_obj(w);
	for (m = schema->child; m; m = m->next) {
		if (gemini_drop_key(m->key))
			continue;
		if (strcmp(m->key, "const") == 0) {
			/* const is unknown to Gemini; enum [v] means the same */
			jw_key(w, "enum");
			jw_arr(w);
			jw_value(w, m);
			jw_arr_end(w);
		} else if (strcmp(m->key, "properties") == 0 &&
		    m->type == JSON_OBJECT) {
			/* property NAMES are data, not keywords: keep them all */
			jw_key(w, "properties");
			jw_obj(w);
			for (c = m->child; c; c = c->next) {
				jw_keyn(w, c->key, c->keylen);
				px_schema_gemini(w, c);
			}
			jw_obj_end(w);
		} else if ((strcmp(m->key, "anyOf") == 0 ||
		    strcmp(m->key, "oneOf") == 0 ||
		    strcmp(m->key, "allOf") == 0 ||
		    strcmp(m->key, "prefixItems") == 0) &&
		    m->type == JSON_ARRAY) {
			jw_keyn(w, m->key, m->keylen);
			jw_arr(w);
			for (c = m->child; c; c = c->next)
				px_schema_gemini(w, c);
			jw_arr_end(w);
		} else if (strcmp(m->key, "items") == 0 ||
		    strcmp(m->key, "not") == 0) {
			jw_keyn(w, m->key, m->keylen);
			if (m->type == JSON_ARRAY) {
				jw_arr(w);
				for (c = m->child; c; c = c->next)
					px_schema_gemini(w, c);
				jw_arr_end(w);
			} else {
				px_schema_gemini(w, m);
			}
		} else {
			jw_keyn(w, m->key, m->keylen);
			jw_value(w, m);
		}
	}
	jw_obj_end(w);
}

/* ------------------------------------------------------- effort table */

/* see convert.h */
long long
px_effort_budget(enum ir_effort e)
{
	switch (e) {
	case IR_EFFORT_NONE:    return 0;
	case IR_EFFORT_MINIMAL: return 512;
	case IR_EFFORT_LOW:     return 1024;
	case IR_EFFORT_MEDIUM:  return 2048;
	case IR_EFFORT_HIGH:    return 4096;
	case IR_EFFORT_XHIGH:   return 8192;
	default:                return -1;
	}
}

/* see convert.h */
enum ir_effort
px_budget_effort(long long budget)
{
	if (budget < 0)
		return IR_EFFORT_UNSET;   /* e.g. Gemini -1 = dynamic */
	if (budget == 0)
		return IR_EFFORT_NONE;
	if (budget <= 1024)
		return IR_EFFORT_LOW;
	if (budget <= 8192)
		return IR_EFFORT_MEDIUM;
	return IR_EFFORT_HIGH;
}

/* see convert.h; "" for IR_EFFORT_UNSET so callers never get NULL */
const char *
px_effort_name(enum ir_effort e)
{
	switch (e) {
	case IR_EFFORT_NONE:    return "none";
	case IR_EFFORT_MINIMAL: return "minimal";
	case IR_EFFORT_LOW:     return "low";
	case IR_EFFORT_MEDIUM:  return "medium";
	case IR_EFFORT_HIGH:    return "high";
	case IR_EFFORT_XHIGH:   return "xhigh";
	default:                return "";
	}
}

/* ------------------------------------------------------ one-shot API */

static struct json *
parse_body(struct px_arena *a, const char *body, size_t n, struct px_err *err)
{
	struct json_err je;
	struct json *root;

	memset(&je, 0, sizeof je);
	root = json_parse(a, body, n, 0, &je);
	if (!root) {
		if (je.code == JSON_ERR_NOMEM)
			px_err_set(err, 413, "request too large to parse");
		else
			px_err_set(err, 400, "invalid JSON at byte %zu: %s",
			    je.pos, je.msg ? je.msg : "syntax error");
		return NULL;
	}
	if (root->type != JSON_OBJECT) {
		px_err_set(err, 400, "request body must be a JSON object");
		return NULL;
	}
	return root;
}

static void
request_defaults(struct ir_request *req, enum px_fmt f)
{
	memset(req, 0, sizeof *req);
	req->fmt = f;
	req->parallel_tool_calls = -1;
	req->max_tokens = -1;
	req->n = -1;
	req->thinking_budget = -1;
	req->include_thoughts = -1;
	req->rf_strict = -1;
	req->store = -1;
}

static void
response_defaults(struct ir_response *resp)
{
	memset(resp, 0, sizeof *resp);
	ir_usage_init(&resp->usage);
}

/* see convert.h */
int
px_decode_request(enum px_fmt f, struct px_arena *a, const char *body,
                  size_t n, struct ir_request *req, struct px_err *err)
{
	const struct px_codec *c = px_codec(f);
	struct json *root;

	request_defaults(req, f);
	if (!c || !c->decode_request) {
		px_err_set(err, 400, "unknown format");
		return -1;
	}
	root = parse_body(a, body, n, err);
	if (!root)
		return -1;
	if (c->decode_request(a, root, req, err) != 0)
		return -1;
	req->fmt = f;
	return 0;
}

static int encode_request_view(const struct px_codec *c, enum px_fmt f,
    const struct ir_request *req, struct px_str model, struct jw *out,
    struct px_err *err);
static struct ir_part *client_names(const struct ir_request *req,
    const struct ir_response *resp, struct px_arena *a);

/* see convert.h */
int
px_encode_request(enum px_fmt f, const struct ir_request *req,
                  struct px_str model, struct jw *out, struct px_err *err)
{
	const struct px_codec *c = px_codec(f);

	if (!c) {
		px_err_set(err, 400, "unknown format");
		return -1;
	}
	if (!c->encode_request) {
		px_err_set(err, 400, "format '%s' is client-only: it cannot be "
		    "sent to an upstream", px_fmt_name(f));
		return -1;
	}
	if (encode_request_view(c, f, req, model, out, err) != 0)
		return -1;
	if (out->err) {
		px_err_set(err, 413, "converted request too large");
		return -1;
	}
	return 0;
}

/* see convert.h */
int
px_decode_response(enum px_fmt f, struct px_arena *a, const char *body,
                   size_t n, struct ir_response *resp, struct px_err *err)
{
	const struct px_codec *c = px_codec(f);
	struct json *root;

	response_defaults(resp);
	if (f == PX_FMT_CLI)
		return px_cli_decode_response(a, body, n, resp, err);
	if (!c || !c->decode_response) {
		px_err_set(err, 502, "unknown upstream format");
		return -1;
	}
	root = parse_body(a, body, n, err);
	if (!root) {
		/* a broken upstream body is the upstream's fault, not the client's */
		if (err)
			err->status = 502;
		return -1;
	}
	return c->decode_response(a, root, resp, err) == 0 ? 0 : -1;
}

/* see convert.h */
int
px_encode_response(enum px_fmt f, const struct ir_request *req,
                   const struct ir_response *resp, struct jw *out,
                   struct px_err *err)
{
	const struct px_codec *c = px_codec(f);
	struct ir_response cr;
	struct px_arena tmp;
	int rc;

	if (!c || !c->encode_response) {
		px_err_set(err, 500, "unknown format");
		return -1;
	}
	px_arena_init(&tmp, 0);
	cr = *resp;
	cr.parts = client_names(req, resp, &tmp);
	if (!cr.parts)
		cr.parts = resp->parts;
	rc = c->encode_response(req, &cr, out, err);
	px_arena_free(&tmp);
	if (rc != 0)
		return -1;
	if (out->err) {
		px_err_set(err, 502, "converted response too large");
		return -1;
	}
	return 0;
}

/* see convert.h */
void
px_decode_error(enum px_fmt f, struct px_arena *a, int status,
                const char *body, size_t n, struct ir_error *e)
{
	const struct px_codec *c = px_codec(f);
	struct json *root = NULL;
	size_t b = 0, end = n;
	char buf[64];

	memset(e, 0, sizeof *e);
	e->status = status;
	e->kind = px_kind_from_status(status);
	if (body && n)
		root = json_parse(a, body, n, 0, NULL);
	if (root && root->type != JSON_OBJECT && root->type != JSON_ARRAY)
		root = NULL;
	if (c && c->decode_error)
		c->decode_error(root, e);
	/* the upstream's HTTP status wins over whatever the body claims */
	if (status > 0) {
		e->status = status;
		e->kind = px_kind_from_status(status);
	}
	if (!root && body && n) {
		/* non-JSON body (HTML error page, plain text): it is the message */
		while (b < end && (body[b] == ' ' || body[b] == '\n' ||
		    body[b] == '\r' || body[b] == '\t'))
			b++;
		while (end > b && (body[end - 1] == ' ' || body[end - 1] == '\n' ||
		    body[end - 1] == '\r' || body[end - 1] == '\t'))
			end--;
		if (end - b > 1024)
			end = b + 1024;
		e->message = px_str_dup(a, body + b, end - b);
	}
	if (!e->message.n) {
		snprintf(buf, sizeof buf, "upstream returned HTTP %d", status);
		e->message = px_str_dup(a, buf, strlen(buf));
	}
}

/* see convert.h */
int
px_error_status(enum px_fmt f, const struct ir_error *e)
{
	int st = e->status > 0 ? e->status : px_status_from_kind(e->kind);

	/* 529 is Anthropic's; other SDKs do not know it (js-genai never retries
	 * it): WIRE.md §5, §6.52 */
	if (st == 529 && f != PX_FMT_ANTHROPIC)
		return 503;
	return st;
}

/* see convert.h */
void
px_encode_error(enum px_fmt f, const struct ir_error *e, struct jw *out)
{
	const struct px_codec *c = px_codec(f);

	if (c)
		c->encode_error(e, out);
}

/* see convert.h */
void
px_error_simple(enum px_fmt f, int status, const char *msg, struct jw *out)
{
	struct ir_error e;

	memset(&e, 0, sizeof e);
	e.status = status;
	e.kind = px_kind_from_status(status);
	e.message = px_str_c(msg);
	px_encode_error(f, &e, out);
}

/* see convert.h */
int
px_upstream_path(enum px_fmt f, struct px_str model, int stream,
                 char *buf, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *fixed = NULL, *tail;
	size_t len = 0, i, tl;
	unsigned char ch;

	switch (f) {
	case PX_FMT_CHAT:      fixed = "/chat/completions"; break;
	case PX_FMT_RESPONSES: fixed = "/responses"; break;
	case PX_FMT_ANTHROPIC: fixed = "/v1/messages"; break;
	case PX_FMT_GEMINI:    break;
	default:               return -1;
	}
	if (fixed) {
		len = strlen(fixed);
		if (len + 1 > cap)
			return -1;
		memcpy(buf, fixed, len + 1);
		return (int)len;
	}
	/* Gemini: the model is a path segment; accept "models/x" too */
	if (model.n > 7 && memcmp(model.p, "models/", 7) == 0) {
		model.p += 7;
		model.n -= 7;
	}
	if (cap < 9)
		return -1;
	memcpy(buf, "/models/", 8);
	len = 8;
	for (i = 0; i < model.n; i++) {
		ch = (unsigned char)model.p[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == '~') {
			if (len + 1 >= cap)
				return -1;
			buf[len++] = (char)ch;
		} else {
			if (len + 3 >= cap)
				return -1;
			buf[len++] = '%';
			buf[len++] = hex[ch >> 4];
			buf[len++] = hex[ch & 15];
		}
	}
	tail = stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
	tl = strlen(tail);
	if (len + tl + 1 > cap)
		return -1;
	memcpy(buf + len, tail, tl + 1);
	return (int)(len + tl);
}

/* see convert.h */
int
px_rewrite_model(const char *body, size_t n, struct px_str model,
                 struct jw *out)
{
	struct px_arena tmp;
	struct json *root, *m;
	size_t pos = 0, off;
	int rc = -1;

	px_arena_init(&tmp, 0);
	root = json_parse(&tmp, body, n, 0, NULL);
	if (!root || root->type != JSON_OBJECT)
		goto done;
	/* every top-level "model" member (duplicates included: parsers differ
	 * on which one wins); nothing else is touched */
	for (m = root->child; m; m = m->next) {
		if (strcmp(m->key, "model") != 0)
			continue;
		off = (size_t)(m->raw - body);
		jw_put(out, body + pos, off - pos);
		jw_put(out, "\"", 1);
		jw_escaped(out, model.p, model.n);
		jw_put(out, "\"", 1);
		pos = off + m->rawlen;
	}
	jw_put(out, body + pos, n - pos);
	rc = 0;
done:
	px_arena_free(&tmp);
	return rc;
}

/* --------------------------------------------------------- streaming */

/*
 * The public struct has no room for the open block's type, so the driver
 * allocates this wrapper and keeps it here; DELTA and BLOCK_STOP events then
 * always carry the right `block` for encoders.
 */
struct px_stream_x {
	struct px_stream s;
	enum ir_part_type open;
};
#define OPEN_TYPE(s) (((struct px_stream_x *)(void *)(s))->open)

/* see convert.h */
struct px_stream *
px_stream_new(struct px_arena *a, enum px_fmt up, enum px_fmt client,
              const struct ir_request *req)
{
	struct px_stream_x *x;
	struct px_stream *s;

	if (!px_codec(up) || !px_codec(up)->sdec_new || !px_codec(client) ||
	    !px_codec(client)->senc_new)
		return NULL;
	x = px_zalloc(a, sizeof *x);
	if (!x)
		return NULL;
	s = &x->s;
	s->up = up;
	s->client = client;
	s->req = req;
	s->a = a;
	px_arena_init(&s->scratch, PX_SCRATCH_CAP);
	s->dec = px_codec(up);
	s->enc = px_codec(client);
	ir_usage_init(&s->usage);
	s->dec_st = s->dec->sdec_new(s);
	s->enc_st = s->enc->senc_new(s);
	if (!s->dec_st || !s->enc_st)
		return NULL;
	return s;
}

static void
usage_merge(struct ir_usage *dst, const struct ir_usage *src)
{
	/* usage is cumulative: the latest reported value replaces, never adds
	 * (WIRE.md §3.3, §6.23) */
	if (src->input >= 0)       dst->input = src->input;
	if (src->output >= 0)      dst->output = src->output;
	if (src->cache_read >= 0)  dst->cache_read = src->cache_read;
	if (src->cache_write >= 0) dst->cache_write = src->cache_write;
	if (src->reasoning >= 0)   dst->reasoning = src->reasoning;
	if (src->cost_uusd >= 0)   dst->cost_uusd = src->cost_uusd;
}

static void
enc_call(struct px_stream *s, const struct ir_event *ev)
{
	if (s->out)
		s->enc->senc_event(s, s->enc_st, ev, s->out);
}


/* see convert_int.h */
void
px_emit(struct px_stream *s, const struct ir_event *ev)
{
	struct ir_event e;

	if (s->finished || s->failed)
		return;                 /* nothing after the terminal event */
	e = *ev;
	if (!s->started && e.kind != IR_EV_START && e.kind != IR_EV_ERROR) {
		struct ir_event st;
		memset(&st, 0, sizeof st);
		st.kind = IR_EV_START;
		ir_usage_init(&st.usage);
		px_emit(s, &st);
	}
	switch (e.kind) {
	case IR_EV_START:
		if (s->started)
			return;         /* a second message_start is dropped (§6.9) */
		s->started = 1;
		if (e.id.n)
			s->id = px_str_dup(s->a, e.id.p, e.id.n);
		if (e.model.n)
			s->model = px_str_dup(s->a, e.model.p, e.model.n);
		usage_merge(&s->usage, &e.usage);
		e.usage = s->usage;
		break;
	case IR_EV_BLOCK_START:
		if (s->block_open) {
			struct ir_event c;
			memset(&c, 0, sizeof c);
			c.kind = IR_EV_BLOCK_STOP;
			c.index = s->next_index - 1;
			c.block = OPEN_TYPE(s);
			ir_usage_init(&c.usage);
			enc_call(s, &c);
		}
		e.index = s->next_index++;
		s->block_open = 1;
		OPEN_TYPE(s) = e.block;
		if (e.block == IR_TOOL_CALL)    /* the client's own name */
			e.name = px_tool_name_client(s->req, e.name);
		break;
	case IR_EV_DELTA:
		if (!s->block_open)
			return;         /* delta for no block: drop it */
		e.index = s->next_index - 1;
		e.block = OPEN_TYPE(s);
		break;
	case IR_EV_BLOCK_STOP:
		if (!s->block_open)
			return;
		e.index = s->next_index - 1;
		e.block = OPEN_TYPE(s);
		s->block_open = 0;
		break;
	case IR_EV_FINISH:
		if (s->block_open) {
			struct ir_event c;
			memset(&c, 0, sizeof c);
			c.kind = IR_EV_BLOCK_STOP;
			c.index = s->next_index - 1;
			c.block = OPEN_TYPE(s);
			ir_usage_init(&c.usage);
			enc_call(s, &c);
			s->block_open = 0;
		}
		usage_merge(&s->usage, &e.usage);
		e.usage = s->usage;
		if (e.stop == IR_STOP_UNSET)
			e.stop = IR_STOP_END;
		s->stop = e.stop;
		s->finished = 1;
		break;
	case IR_EV_ERROR:
		s->failed = 1;
		s->block_open = 0;
		s->err_status = e.err.status;
		s->err_kind = e.err.kind;
		s->err_msg = px_str_dup(s->a, e.err.message.p,
		    e.err.message.n > 1024 ? 1024 : e.err.message.n);
		break;
	case IR_EV_PING:
		break;
	}
	enc_call(s, &e);
}

static void
emit_error(struct px_stream *s, enum ir_err_kind kind, int status,
           const char *msg)
{
	struct ir_event e;

	memset(&e, 0, sizeof e);
	e.kind = IR_EV_ERROR;
	ir_usage_init(&e.usage);
	e.err.kind = kind;
	e.err.status = status;
	e.err.message = px_str_c(msg);
	px_emit(s, &e);
}

/* see convert.h */
int
px_stream_feed(struct px_stream *s, const struct sse_event *ev,
               struct jw *out)
{
	struct json *root = NULL;
	int rc;

	if (s->failed)
		return -1;
	if (s->finished)
		return 0;               /* e.g. [DONE] after the finish: ignore */
	s->out = out;
	if (ev->data_len > 0 && !json_eq(ev->data, ev->data_len, "[DONE]")) {
		root = json_parse(&s->scratch, ev->data, ev->data_len, 0, NULL);
		if (!root) {
			emit_error(s, IR_ERR_BAD_GATEWAY, 502,
			    "upstream sent a malformed stream event");
			goto done;
		}
	}
	rc = s->dec->sdec_feed(s, s->dec_st, ev, root);
	if (rc < 0 && !s->failed)
		emit_error(s, IR_ERR_BAD_GATEWAY, 502,
		    "upstream stream could not be converted");
done:
	px_arena_free(&s->scratch);
	s->out = NULL;
	return s->failed ? -1 : 0;
}

/* see convert.h */
int
px_stream_end(struct px_stream *s, struct jw *out)
{
	int ok;

	if (s->failed)
		return 0;
	if (s->finished)
		return 1;
	s->out = out;
	ok = s->dec->sdec_end(s, s->dec_st);
	if (ok && !s->finished) {
		/* the decoder says the upstream finished but owed no event:
		 * close properly with what we know */
		struct ir_event e;
		memset(&e, 0, sizeof e);
		e.kind = IR_EV_FINISH;
		e.stop = s->stop;
		ir_usage_init(&e.usage);
		px_emit(s, &e);
	}
	if (!s->finished && !s->failed)
		/* cut off: in-band error, never a clean finish (WIRE.md §4.2.6,
		 * §6.53) */
		emit_error(s, IR_ERR_BAD_GATEWAY, 502,
		    "upstream stream ended before completion");
	px_arena_free(&s->scratch);
	s->out = NULL;
	return s->finished && !s->failed;
}

/* see convert.h */
void
px_stream_fail(struct px_stream *s, const struct ir_error *e,
               struct jw *out)
{
	struct ir_event ev;

	if (s->finished || s->failed)
		return;
	s->out = out;
	memset(&ev, 0, sizeof ev);
	ev.kind = IR_EV_ERROR;
	ir_usage_init(&ev.usage);
	ev.err = *e;
	px_emit(s, &ev);
	s->out = NULL;
}

/* see convert.h */
void
px_stream_begin(struct px_stream *s, struct jw *out)
{
	if (out && s->enc->senc_begin)
		s->enc->senc_begin(s, s->enc_st, out);
}

/* see convert.h */
int
px_stream_done(const struct px_stream *s)
{
	return s->finished || s->failed;
}

/* see convert.h */
const struct ir_usage *
px_stream_usage(const struct px_stream *s)
{
	return &s->usage;
}

/* see convert.h */
void
px_stream_fail_passthrough(struct px_arena *a, struct px_stream *s,
    const struct ir_error *e, struct jw *out)
{
	struct px_stream *c;

	if (s->finished)
		return;                 /* the upstream had finished */
	c = px_stream_new(a, s->client, s->client, s->req);
	if (c == NULL)
		return;
	if (c->enc->senc_resume)
		c->enc->senc_resume(c, c->enc_st, s);
	px_stream_fail(c, e, out);
}

/* see convert.h */
int
px_stream_content(const struct px_stream *s)
{
	return s->next_index > 0 || s->block_open;
}

/* see convert.h */
int
px_stream_error(const struct px_stream *s, enum ir_err_kind *kind)
{
	if (!s->failed)
		return 0;
	if (kind)
		*kind = s->err_kind;
	return s->err_status ? s->err_status : px_status_from_kind(s->err_kind);
}

/* see convert.h */
struct px_str
px_stream_error_msg(const struct px_stream *s)
{
	struct px_str r = { "", 0 };

	if (s->failed && s->err_msg.p)
		r = s->err_msg;
	return r;
}

/* ------------------------------------------------------------ codec helpers */

/* see convert_int.h */
struct px_str
px_jget(const struct json *o, const char *k)
{
	return px_str_json(json_get(o, k));
}

/* see convert_int.h */
void
px_jpick(const struct json *o, const struct px_jkey *keys, int n,
    const struct json **out)
{
	const struct json *m;
	int i, left = n;

	for (i = 0; i < n; i++)
		out[i] = NULL;
	if (o == NULL || o->type != JSON_OBJECT)
		return;
	for (m = o->child; m != NULL && left > 0; m = m->next)
		for (i = 0; i < n; i++)
			if (m->keylen == keys[i].n && out[i] == NULL &&
			    (m->keylen == 0 || (m->key[0] == keys[i].k[0] &&
			    memcmp(m->key, keys[i].k, m->keylen) == 0))) {
				out[i] = m;
				left--;
				break;
			}
}

/* see convert_int.h */
void
px_jw_str(struct jw *w, struct px_str s)
{
	jw_str(w, s.p ? s.p : "", s.p ? s.n : 0);
}

/* see convert_int.h */
void
px_jw_doc(struct jw *w)
{
	w->need_comma[w->depth] = 0;
	w->after_key = 0;
}

/* see convert_int.h */
void
px_put_esc(struct jw *w, struct px_str s)
{
	if (s.n)
		jw_escaped(w, s.p, s.n);
}

/* see convert_int.h */
struct px_str
px_jw_view(const struct jw *w)
{
	struct px_str v = { NULL, 0 };

	if (!w->err && w->buf) {
		v.p = w->buf;
		v.n = w->len;
	}
	return v;
}

/* see convert_int.h */
int
px_str_prefix(struct px_str s, const char *pfx)
{
	size_t n = strlen(pfx);

	return s.n >= n && (n == 0 || memcmp(s.p, pfx, n) == 0);
}

/* see convert_int.h */
int
px_num_of(const struct json *v, struct ir_num *out)
{
	double d;

	if (!v || v->type != JSON_NUMBER || !json_num(v, &d))
		return 0;
	out->set = 1;
	out->v = d;
	out->raw.p = v->s;
	out->raw.n = v->n;
	return 1;
}

/* see convert_int.h */
int
px_get_num(const struct json *o, const char *k, struct ir_num *n)
{
	return px_num_of(json_get(o, k), n);
}

/* ------------------------------------------------ request field checks */

/*
 * The decoders' rule for every field they read: carried as the client sent
 * it, or refused with a 400 that names the field; never clamped, defaulted
 * or dropped. Absent and null both mean "not set" (the APIs' own meaning).
 */

/* see convert_int.h */
char *
px_at(char *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(at, PX_AT_MAX, fmt, ap);
	va_end(ap);
	return at;
}

/* see convert_int.h */
int
px_field_err(struct px_err *err, const char *at, const char *key,
             const char *what)
{
	px_err_set(err, 400, "%s%s%s must be %s", at ? at : "",
	    at && key ? "." : "", key ? key : "", what);
	return -1;
}

/* see convert_int.h */
int
px_dec_bool(const struct json *v, const char *at, const char *key, int *out,
            struct px_err *err)
{
	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_TRUE && v->type != JSON_FALSE)
		return px_field_err(err, at, key, "a boolean");
	*out = v->type == JSON_TRUE;
	return 1;
}

/* see convert_int.h */
int
px_dec_str(const struct json *v, const char *at, const char *key,
           struct px_str *out, struct px_err *err)
{
	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_STRING)
		return px_field_err(err, at, key, "a string");
	*out = px_str_json(v);
	return 1;
}

/* see convert_int.h */
int
px_dec_num(const struct json *v, const char *at, const char *key,
           struct ir_num *out, struct px_err *err)
{
	struct ir_num n;

	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_NUMBER || !px_num_of(v, &n))
		return px_field_err(err, at, key, "a number");
	/* 1e999: the text could travel, but no upstream reads it as the
	 * number the client meant, and nothing here can compare it */
	if (n.v > DBL_MAX || n.v < -DBL_MAX)
		return px_field_err(err, at, key, "a number within the range of "
		    "a double");
	*out = n;
	return 1;
}

/* see convert_int.h */
int
px_dec_int(const struct json *v, const char *at, const char *key,
           long long lo, long long hi, long long *out, struct px_err *err)
{
	char what[64];
	long long ll;

	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type == JSON_NUMBER && json_int(v, &ll) && ll >= lo && ll <= hi) {
		*out = ll;
		return 1;
	}
	if (hi == PX_INT_MAX)
		snprintf(what, sizeof what, "an integer between %lld and 2^53",
		    lo);
	else
		snprintf(what, sizeof what, "an integer between %lld and %lld",
		    lo, hi);
	return px_field_err(err, at, key, what);
}

/* see convert_int.h */
int
px_dec_enum(const struct json *v, const char *at, const char *key,
            const char *const *names, int *out, struct px_err *err)
{
	char list[160];
	size_t n = 0;
	int i;

	if (!v || v->type == JSON_NULL)
		return 0;
	for (i = 0; v->type == JSON_STRING && names[i]; i++)
		if (json_eq(v->s, v->n, names[i])) {
			*out = i;
			return 1;
		}
	/* "'a', 'b' or 'c'" */
	list[0] = 0;
	for (i = 0; names[i] && n < sizeof list; i++)
		n += (size_t)snprintf(list + n, sizeof list - n, "%s'%s'",
		    i == 0 ? "" : names[i + 1] ? ", " : " or ", names[i]);
	return px_field_err(err, at, key, list);
}

/* see convert_int.h */
void *
px_vgrow(struct px_arena *a, void *p, size_t n, size_t *cap, size_t sz)
{
	size_t nc;
	void *q;

	if (n < *cap)
		return p;
	nc = *cap ? *cap * 2 : 4;
	q = px_arena_alloc(a, nc * sz);
	if (!q)
		return NULL;
	if (n)
		memcpy(q, p, n * sz);
	memset((char *)q + n * sz, 0, (nc - n) * sz);
	*cap = nc;
	return q;
}

/* ------------------------------------ embeddings and converted token counts */

/* An array of integers (a token id list); 1 if it is one. */
static int
embed_token_list(const struct json *v)
{
	const struct json *e;
	long long t;

	if (!v || v->type != JSON_ARRAY)
		return 0;
	for (e = v->child; e; e = e->next)
		if (e->type != JSON_NUMBER || !json_int(e, &t))
			return 0;
	return 1;
}

/* see convert.h */
int
px_embed_decode_request(struct px_arena *a, const char *body, size_t n,
                        struct px_embed_req *r, struct px_err *err)
{
	struct json *root, *in, *e, *v;
	size_t i;

	memset(r, 0, sizeof *r);
	r->dimensions = -1;
	root = parse_body(a, body, n, err);
	if (!root)
		return -1;
	r->model = px_jget(root, "model");
	if (!PX_STR_SET(r->model)) {
		px_err_set(err, 400, "missing \"model\"");
		return -1;
	}
	in = json_get(root, "input");
	if (!in || in->type == JSON_NULL) {
		px_err_set(err, 400, "missing \"input\"");
		return -1;
	}
	if (in->type == JSON_STRING) {
		r->inputs = px_zalloc(a, sizeof *r->inputs);
		if (!r->inputs)
			goto nomem;
		r->inputs[0] = px_str_json(in);
		r->ninputs = 1;
	} else if (in->type == JSON_ARRAY) {
		if (in->len == 0) {
			px_err_set(err, 400, "\"input\" must not be empty");
			return -1;
		}
		if (in->len > PX_EMBED_INPUTS_MAX) {
			px_err_set(err, 400, "\"input\" has %zu items; at most %u "
			    "are allowed", in->len, (unsigned)PX_EMBED_INPUTS_MAX);
			return -1;
		}
		if (in->child->type == JSON_NUMBER) {
			/* one token list */
			if (!embed_token_list(in))
				goto badinput;
			r->tokens = 1;
			r->ninputs = 1;
		} else if (in->child->type == JSON_ARRAY) {
			/* several token lists */
			for (e = in->child; e; e = e->next)
				if (!embed_token_list(e) || e->len == 0)
					goto badinput;
			r->tokens = 1;
			r->ninputs = in->len;
		} else {
			r->inputs = px_zalloc(a, in->len * sizeof *r->inputs);
			if (!r->inputs)
				goto nomem;
			for (i = 0, e = in->child; e; e = e->next, i++) {
				if (e->type != JSON_STRING)
					goto badinput;
				r->inputs[i] = px_str_json(e);
			}
			r->ninputs = in->len;
		}
	} else {
		goto badinput;
	}
	v = json_get(root, "encoding_format");
	if (v && v->type != JSON_NULL) {
		if (v->type == JSON_STRING && json_eq(v->s, v->n, "base64"))
			r->base64 = 1;
		else if (!(v->type == JSON_STRING && json_eq(v->s, v->n, "float"))) {
			px_err_set(err, 400, "\"encoding_format\" must be "
			    "\"float\" or \"base64\"");
			return -1;
		}
	}
	v = json_get(root, "dimensions");
	if (v && v->type != JSON_NULL) {
		if (!json_int(v, &r->dimensions) || r->dimensions <= 0 ||
		    r->dimensions > 1000000) {
			px_err_set(err, 400, "\"dimensions\" must be a positive "
			    "integer");
			return -1;
		}
	}
	return 0;
badinput:
	px_err_set(err, 400, "\"input\" must be a string, an array of "
	    "strings, an array of token ids or an array of token id arrays");
	return -1;
nomem:
	px_err_set(err, 413, "request too large");
	return -1;
}

/* see convert.h */
int
px_count_encode_request(enum px_fmt f, struct px_arena *a,
                        const struct ir_request *req, struct px_str model,
                        struct jw *out, struct px_err *err)
{
	switch (f) {
	case PX_FMT_ANTHROPIC:
		return px_count_request_anthropic(a, req, model, out, err);
	case PX_FMT_GEMINI:
		return px_count_request_gemini(a, req, model, out, err);
	default:
		px_err_set(err, 400, "%s has no token counting endpoint",
		    px_fmt_name(f));
		return -1;
	}
}

/* see convert.h */
int
px_count_convert_response(enum px_fmt up, enum px_fmt client,
                          struct px_arena *a, const char *body, size_t n,
                          struct jw *out, long long *tokens,
                          struct px_err *err)
{
	long long t;
	int rc;

	if (up == PX_FMT_ANTHROPIC)
		rc = px_count_tokens_anthropic(a, body, n, &t, err);
	else if (up == PX_FMT_GEMINI)
		rc = px_count_tokens_gemini(a, body, n, &t, err);
	else {
		px_err_set(err, 502, "%s has no token counting endpoint",
		    px_fmt_name(up));
		rc = -1;
	}
	if (rc < 0)
		return -1;
	jw_obj(out);
	if (client == PX_FMT_GEMINI)
		jw_kint(out, "totalTokens", t);
	else
		jw_kint(out, "input_tokens", t);
	jw_obj_end(out);
	if (tokens)
		*tokens = t;
	return out->err ? -1 : 0;
}

static size_t
part_text_bytes(const struct ir_part *p)
{
	size_t n = p->text.n + p->args.n + p->name.n, i;

	for (i = 0; i < p->ncontent; i++)
		n += part_text_bytes(&p->content[i]);
	return n;
}

/* see convert.h */
size_t
px_request_text_bytes(const struct ir_request *req)
{
	size_t n = 0, i, j;

	for (i = 0; i < req->nsystem; i++)
		n += part_text_bytes(&req->system[i]);
	for (i = 0; i < req->nmsgs; i++)
		for (j = 0; j < req->msgs[i].nparts; j++)
			n += part_text_bytes(&req->msgs[i].parts[j]);
	for (i = 0; i < req->ntools; i++)
		n += req->tools[i].name.n + req->tools[i].description.n +
		    req->tools[i].parameters.n + (req->tools[i].raw_type.n ?
		    req->tools[i].raw.n : 0);
	return n + req->rf_schema.n;
}

/* see convert.h */
int
px_embed_encode_openai(const struct px_embed_req *r, struct px_str model,
                       int array, struct jw *out, struct px_err *err)
{
	size_t i;

	if (r->tokens || !r->inputs || r->ninputs == 0) {
		px_err_set(err, 400, "no text to embed");
		return -1;
	}
	jw_obj(out);
	jw_key(out, "model");
	px_jw_str(out, model);
	jw_key(out, "input");
	if (!array && r->ninputs == 1) {
		px_jw_str(out, r->inputs[0]);
	} else {
		jw_arr(out);
		for (i = 0; i < r->ninputs; i++)
			px_jw_str(out, r->inputs[i]);
		jw_arr_end(out);
	}
	/* always float: the answer's numbers are copied as written */
	jw_kcstr(out, "encoding_format", "float");
	if (r->dimensions > 0)
		jw_kint(out, "dimensions", r->dimensions);
	jw_obj_end(out);
	if (out->err) {
		px_err_set(err, 413, "converted request too large");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------- names and ids */

static unsigned long long
fnv1a(struct px_str s)
{
	unsigned long long h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < s.n; i++) {
		h ^= (unsigned char)s.p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int
name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
c_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* character allowed in a tool name / call id for target f */
static int
name_char(enum px_fmt f, char c)
{
	if (c_alnum(c) || c == '_' || c == '-')
		return 1;
	return f == PX_FMT_GEMINI && (c == '.' || c == ':');
}

static int
name_ok(enum px_fmt f, struct px_str s)
{
	size_t i;

	if (s.n < 1 || s.n > 64)
		return 0;
	if (f == PX_FMT_GEMINI && !name_start(s.p[0]))
		return 0;
	for (i = 0; i < s.n; i++)
		if (!name_char(f, s.p[i]))
			return 0;
	return 1;
}

/* "<keep bytes of buf>_<hex digits of hash(whole)>" */
static struct px_str
hash_tail(char *buf, size_t keep, struct px_str whole, int digits)
{
	static const char hx[] = "0123456789abcdef";
	unsigned long long h = fnv1a(whole);
	struct px_str r;
	int i;

	buf[keep] = '_';
	for (i = 0; i < digits; i++)
		buf[keep + 1 + i] = hx[(h >> (4 * (digits - 1 - i))) & 15];
	r.p = buf;
	r.n = keep + 1 + (size_t)digits;
	return r;
}

/* bad characters -> '_' (Gemini: '_' first unless a letter or '_');
 * at most 65 bytes, so "too long" is still visible */
static struct px_str
name_plain(enum px_fmt f, struct px_str name, char *buf)
{
	struct px_str r;
	size_t i, n = 0;

	if (f == PX_FMT_GEMINI && !name_start(name.p[0]))
		buf[n++] = '_';
	for (i = 0; i < name.n && n < 65; i++)
		buf[n++] = name_char(f, name.p[i]) ? name.p[i] : '_';
	r.p = buf;
	r.n = n;
	return r;
}

/* see convert_int.h */
struct px_str
px_tool_name_fix(enum px_fmt f, const struct ir_request *req,
                 struct px_str name, char *buf)
{
	char other[PX_FIX_MAX];
	struct px_str r, t;
	size_t i;

	/* a command reads names as transcript text: any name goes */
	if (!name.n || f == PX_FMT_CLI || name_ok(f, name))
		return name;
	r = name_plain(f, name, buf);
	if (r.n > 64)
		return hash_tail(buf, 55, name, 8);
	/* a fixed name must not take another tool's name, nor the name
	 * another tool's fix gives: then both carry a hash */
	for (i = 0; req && i < req->ntools; i++) {
		t = req->tools[i].name;
		if (!t.n || px_str_same(t, name))
			continue;
		if (px_str_same(t, r) || (!name_ok(f, t) &&
		    px_str_same(name_plain(f, t, other), r)))
			return hash_tail(buf, r.n > 55 ? 55 : r.n, name, 8);
	}
	return r;
}

/* see convert_int.h */
struct px_str
px_call_id_fix(enum px_fmt f, struct px_str id, char *buf)
{
	size_t i, keep;

	switch (f) {
	case PX_FMT_CHAT:
		/* OpenAI Chat: at most 40 characters (WIRE.md §2.5) */
		if (id.n <= 40)
			return id;
		memcpy(buf, id.p, 23);
		return hash_tail(buf, 23, id, 16);
	case PX_FMT_RESPONSES:
		if (id.n <= 64)             /* call_id at most 64 */
			return id;
		memcpy(buf, id.p, 47);
		return hash_tail(buf, 47, id, 16);
	case PX_FMT_ANTHROPIC:
		/* ^[a-zA-Z0-9_-]+$ (WIRE.md §2.5, §6.34) */
		for (i = 0; i < id.n; i++)
			if (!name_char(PX_FMT_CHAT, id.p[i]))
				break;
		if (i == id.n)
			return id;
		keep = id.n < 47 ? id.n : 47;
		for (i = 0; i < keep; i++)
			buf[i] = name_char(PX_FMT_CHAT, id.p[i]) ? id.p[i] : '_';
		return hash_tail(buf, keep, id, 16);
	default:
		return id;
	}
}

/* see convert_int.h */
const struct ir_tool *
px_tool_find(const struct ir_request *req, struct px_str name)
{
	size_t i;

	for (i = 0; req && name.n && i < req->ntools; i++)
		if (!req->tools[i].hosted && px_str_same(req->tools[i].name, name))
			return &req->tools[i];
	return NULL;
}

/* see convert_int.h */
struct px_str
px_tool_name_client(const struct ir_request *req, struct px_str name)
{
	static const enum px_fmt tg[] = { PX_FMT_CHAT, PX_FMT_GEMINI };
	char buf[PX_FIX_MAX];
	size_t i, k;

	if (!req || !name.n || px_tool_find(req, name))
		return name;
	/* Chat, Responses and Anthropic share one rule */
	for (i = 0; i < req->ntools; i++) {
		const struct ir_tool *t = &req->tools[i];
		if (t->hosted)
			continue;
		for (k = 0; k < sizeof tg / sizeof tg[0]; k++)
			if (px_str_same(px_tool_name_fix(tg[k], req, t->name, buf),
			    name))
				return t->name;
	}
	return name;
}

/* ----------------------------------- requests as a target takes them */

static int
drops(enum px_fmt f, const struct ir_request *req, const struct ir_tool *t)
{
	return t->hosted && f != req->fmt;
}

/* see convert.h */
int
px_dropped_tools(enum px_fmt f, const struct ir_request *req, char *buf,
                 size_t cap)
{
	size_t i, len = 0, k;
	int n = 0;

	if (cap)
		buf[0] = '\0';
	for (i = 0; i < req->ntools; i++) {
		const struct ir_tool *t = &req->tools[i];
		/* a command takes no tools at all: function tools by name */
		struct px_str nm = t->raw_type.n || f != PX_FMT_CLI ?
		    t->raw_type : t->name;
		if (!drops(f, req, t) && f != PX_FMT_CLI)
			continue;
		for (k = 0; k < nm.n && len + 2 < cap; k++) {
			if (k == 0 && n)
				buf[len++] = ',';
			buf[len++] = nm.p[k];
		}
		if (cap)
			buf[len] = '\0';
		n++;
	}
	return n;
}

/* a name or id the target needs rewritten: its copy in a, else s */
static struct px_str
fix_name(struct px_arena *a, enum px_fmt f, const struct ir_request *req,
         struct px_str s, int *changed)
{
	char buf[PX_FIX_MAX];
	struct px_str r = px_tool_name_fix(f, req, s, buf);

	if (r.p == s.p)
		return s;
	*changed = 1;
	return a ? px_str_dup(a, r.p, r.n) : s;
}

static struct px_str
fix_id(struct px_arena *a, enum px_fmt f, struct px_str s, int *changed)
{
	char buf[PX_FIX_MAX];
	struct px_str r = px_call_id_fix(f, s, buf);

	if (r.p == s.p)
		return s;
	*changed = 1;
	return a ? px_str_dup(a, r.p, r.n) : s;
}

/*
 * The request as target f takes it: hosted tools of another format left
 * out, tool names and call ids rewritten (see px_dropped_tools()). With a
 * == NULL only reports (1) whether anything changes; else fills *cp from a,
 * sharing everything that does not change. Checks that a forced tool_choice
 * does not need a dropped tool.
 */
static int
target_view(enum px_fmt f, const struct ir_request *req, struct px_arena *a,
            struct ir_request *cp, struct px_err *err)
{
	size_t i, j, nt = 0, nfn = 0;
	int ch = 0, mch;
	const struct ir_tool *t;

	for (i = 0; i < req->ntools; i++) {
		t = &req->tools[i];
		if (!drops(f, req, t)) {
			nfn++;
			continue;
		}
		ch = 1;
		if (req->tool_choice == IR_TC_NAMED &&
		    px_str_same(t->name, req->tool_choice_name))
			goto forced;
	}
	if (f != req->fmt && req->tool_choice_hosted.n) {
		px_err_set(err, 400, "tool_choice forces the hosted tool '%.*s', "
		    "which cannot run on the %s upstream",
		    (int)(req->tool_choice_hosted.n > 64 ? 64 :
		    req->tool_choice_hosted.n), req->tool_choice_hosted.p,
		    px_fmt_name(f));
		return -1;
	}
	if (ch && !nfn && req->tool_choice == IR_TC_REQUIRED) {
		px_err_set(err, 400, "tool_choice 'required' with only hosted "
		    "tools, which cannot run on the %s upstream", px_fmt_name(f));
		return -1;
	}
	if (a) {
		*cp = *req;
		cp->tools = px_zalloc(a, (nfn ? nfn : 1) * sizeof *cp->tools);
		if (!cp->tools)
			goto nomem;
	}
	for (i = 0; i < req->ntools; i++) {
		t = &req->tools[i];
		if (drops(f, req, t))
			continue;
		if (a) {
			cp->tools[nt] = *t;
			cp->tools[nt].name = fix_name(a, f, req, t->name, &ch);
		} else {
			fix_name(NULL, f, req, t->name, &ch);
		}
		nt++;
	}
	if (a) {
		cp->ntools = nt;
		if (!nt) {
			cp->tool_choice = IR_TC_UNSET;
			cp->parallel_tool_calls = -1;
		}
		cp->tool_choice_name = fix_name(a, f, req,
		    req->tool_choice_name, &ch);
		cp->msgs = px_zalloc(a, (req->nmsgs ? req->nmsgs : 1) *
		    sizeof *cp->msgs);
		if (!cp->msgs)
			goto nomem;
	} else {
		fix_name(NULL, f, req, req->tool_choice_name, &ch);
	}
	for (i = 0; i < req->nmsgs; i++) {
		const struct ir_msg *m = &req->msgs[i];
		struct ir_part *ps = NULL;
		if (a)
			cp->msgs[i] = *m;
		mch = 0;
		for (j = 0; j < m->nparts; j++) {
			const struct ir_part *p = &m->parts[j];
			if (p->type != IR_TOOL_CALL && p->type != IR_TOOL_RESULT)
				continue;
			fix_name(NULL, f, req, p->name, &mch);
			fix_id(NULL, f, p->id, &mch);
		}
		if (!mch)
			continue;
		ch = 1;
		if (!a)
			return 1;
		ps = px_zalloc(a, m->nparts * sizeof *ps);
		if (!ps)
			goto nomem;
		memcpy(ps, m->parts, m->nparts * sizeof *ps);
		for (j = 0; j < m->nparts; j++) {
			if (ps[j].type != IR_TOOL_CALL &&
			    ps[j].type != IR_TOOL_RESULT)
				continue;
			ps[j].name = fix_name(a, f, req, ps[j].name, &mch);
			ps[j].id = fix_id(a, f, ps[j].id, &mch);
		}
		cp->msgs[i].parts = ps;
	}
	return ch;
forced:
	px_err_set(err, 400, "tool_choice forces the hosted tool '%.*s', which "
	    "cannot run on the %s upstream", (int)(t->raw_type.n > 64 ? 64 :
	    t->raw_type.n), t->raw_type.p, px_fmt_name(f));
	return -1;
nomem:
	px_err_set(err, 413, "converted request too large");
	return -1;
}

/* ------------------------------------------- tool-call history repair */

/*
 * Upstreams reject a tool-call history that does not pair up (WIRE.md
 * §2.5, §6.12, §6.13, §6.37, §6.43): every call of an assistant turn that
 * is not the last message needs exactly one result in the tool message(s)
 * right after it. The messages are cut into windows: an assistant turn and
 * the run of other messages up to the next assistant message (the first
 * window may have no turn). A window is repaired on its own:
 *   - each call gets the first result for its id found in the run, moved
 *     into one tool message right after the turn, in call order; a call
 *     without one gets HIST_MISSING as an error result;
 *   - a further result for an answered id is dropped (the first one wins);
 *   - a result whose call is not in the turn (an orphan) becomes a user
 *     message where it was: an HIST_ORPHAN line, then its content.
 * A turn is one assistant message, or for Anthropic and Gemini, which join
 * them, a run of them. A turn that ends the conversation is left alone, and
 * so are results before the first assistant message of a Responses request
 * with previous_response_id (their calls are stored upstream). Work is
 * linear in the messages; matching inside a window is quadratic only when
 * its results are out of call order.
 */
#define HIST_MISSING "No result was recorded for this tool call."
#define HIST_ORPHAN  "whose call is not in this conversation:"

struct hwin {
	size_t t0, t1, r1;            /* turn [t0,t1), run [t1,r1) */
};

/* parts of one type in msgs [m, end), one at a time */
struct hcur {
	const struct ir_request *req;
	size_t m, j, end;
	enum ir_part_type type;
};

static void
hcur_init(struct hcur *c, const struct ir_request *req, size_t m, size_t end,
          enum ir_part_type type)
{
	c->req = req;
	c->m = m;
	c->j = 0;
	c->end = end;
	c->type = type;
}

static const struct ir_part *
hcur_next(struct hcur *c)
{
	const struct ir_msg *m;

	while (c->m < c->end) {
		m = &c->req->msgs[c->m];
		while (c->j < m->nparts)
			if (m->parts[c->j++].type == c->type)
				return &m->parts[c->j - 1];
		c->m++;
		c->j = 0;
	}
	return NULL;
}

/* the window starting at message i */
static void
hwin_at(enum px_fmt f, const struct ir_request *req, size_t i,
        struct hwin *w)
{
	const struct ir_msg *ms = req->msgs;

	w->t0 = w->t1 = i;
	if (i < req->nmsgs && ms[i].role == IR_ROLE_ASSISTANT) {
		w->t1++;
		if (f == PX_FMT_ANTHROPIC || f == PX_FMT_GEMINI)
			while (w->t1 < req->nmsgs &&
			    ms[w->t1].role == IR_ROLE_ASSISTANT)
				w->t1++;
	}
	w->r1 = w->t1;
	while (w->r1 < req->nmsgs && ms[w->r1].role != IR_ROLE_ASSISTANT)
		w->r1++;
}

/* calls in the turn (or results in msgs [m, end)) with this id */
static size_t
hcount(const struct ir_request *req, size_t m, size_t end,
       enum ir_part_type type, struct px_str id)
{
	struct hcur c;
	const struct ir_part *p;
	size_t n = 0;

	hcur_init(&c, req, m, end, type);
	while ((p = hcur_next(&c)))
		n += px_str_same(p->id, id);
	return n;
}

/* 1 when the window needs repair */
static int
hwin_broken(enum px_fmt f, const struct ir_request *req,
            const struct hwin *w)
{
	struct hcur cc, rc;
	const struct ir_part *c, *r;
	size_t l1 = w->t1, nc = 0, nr = 0;
	int inorder = 1;

	if (w->t0 == 0 && w->t1 == 0 && f == PX_FMT_RESPONSES &&
	    req->previous_response_id.n)
		return 0;
	while (l1 < w->r1 && req->msgs[l1].role == IR_ROLE_TOOL)
		l1++;
	/* results past the leading tool messages are out of place */
	hcur_init(&rc, req, l1, w->r1, IR_TOOL_RESULT);
	if (hcur_next(&rc))
		return 1;
	hcur_init(&cc, req, w->t0, w->t1, IR_TOOL_CALL);
	hcur_init(&rc, req, w->t1, l1, IR_TOOL_RESULT);
	for (;;) {
		c = hcur_next(&cc);
		r = hcur_next(&rc);
		if (!c || !r)
			break;
		nc++;
		nr++;
		if (!px_str_same(c->id, r->id))
			inorder = 0;
	}
	if (c) {
		if (w->t1 == req->nmsgs)
			return 0;       /* the last message: left alone */
		return 1;               /* a call without a result */
	}
	if (r)
		return 1;               /* more results than calls */
	if (inorder)
		return 0;
	if (f == PX_FMT_GEMINI)
		return 1;               /* Gemini pairs them by order */
	/* the same ids, each as often, in another order */
	hcur_init(&cc, req, w->t0, w->t1, IR_TOOL_CALL);
	while ((c = hcur_next(&cc)))
		if (hcount(req, w->t0, w->t1, IR_TOOL_CALL, c->id) !=
		    hcount(req, w->t1, l1, IR_TOOL_RESULT, c->id))
			return 1;
	return 0;
}

/* 1 when some window of the history needs repair for target f */
static int
history_broken(enum px_fmt f, const struct ir_request *req)
{
	struct hwin w;
	size_t i;

	for (i = 0; i < req->nmsgs; i = w.r1) {
		hwin_at(f, req, i, &w);
		if (hwin_broken(f, req, &w))
			return 1;
	}
	return 0;
}

/* p may be NULL when k is 0 (an unset px_str): memcpy must not see it */
static void
hcat(char *b, size_t *n, const char *p, size_t k)
{
	if (k == 0)
		return;
	memcpy(b + *n, p, k);
	*n += k;
}

/* an orphan result as a user message: a line naming it, then its content */
static int
orphan_msg(struct px_arena *a, const struct ir_part *r, struct ir_msg *m)
{
	char *b = px_zalloc(a, r->id.n + r->name.n + 128);
	struct ir_part *ps = px_zalloc(a, (r->ncontent + 1) * sizeof *ps);
	size_t n = 0;

	if (!b || !ps)
		return -1;
	if (r->is_error)
		hcat(b, &n, "Error result", 12);
	else
		hcat(b, &n, "Result", 6);
	hcat(b, &n, " of tool call ", 14);
	hcat(b, &n, r->id.p, r->id.n);
	if (r->name.n) {
		hcat(b, &n, " (", 2);
		hcat(b, &n, r->name.p, r->name.n);
		hcat(b, &n, ")", 1);
	}
	hcat(b, &n, ", " HIST_ORPHAN, sizeof HIST_ORPHAN + 1);
	ps[0].type = IR_TEXT;
	ps[0].text.p = b;
	ps[0].text.n = n;
	if (r->ncontent)
		memcpy(ps + 1, r->content, r->ncontent * sizeof *ps);
	m->role = IR_ROLE_USER;
	m->parts = ps;
	m->nparts = r->ncontent + 1;
	return 0;
}

/* window w rebuilt into out[*no...]; -1 when a runs out */
static int
hwin_repair(const struct ir_request *req, const struct hwin *w,
            struct px_arena *a, struct ir_part **missing, struct ir_msg *out,
            size_t *no)
{
	struct hcur cc, rc;
	const struct ir_part *c, *r;
	struct ir_msg *tm;
	unsigned char *used;
	size_t i, j, k, nc, nres;

	for (i = w->t0; i < w->t1; i++)
		out[(*no)++] = req->msgs[i];
	nc = 0;
	hcur_init(&cc, req, w->t0, w->t1, IR_TOOL_CALL);
	while (hcur_next(&cc))
		nc++;
	nres = 0;
	hcur_init(&rc, req, w->t1, w->r1, IR_TOOL_RESULT);
	while (hcur_next(&rc))
		nres++;
	used = px_zalloc(a, nres ? nres : 1);
	if (!used)
		return -1;
	if (nc) {
		/* one result per call, in call order */
		tm = &out[(*no)++];
		tm->role = IR_ROLE_TOOL;
		tm->parts = px_zalloc(a, nc * sizeof *tm->parts);
		if (!tm->parts)
			return -1;
		hcur_init(&cc, req, w->t0, w->t1, IR_TOOL_CALL);
		while ((c = hcur_next(&cc))) {
			struct ir_part *p = &tm->parts[tm->nparts++];
			hcur_init(&rc, req, w->t1, w->r1, IR_TOOL_RESULT);
			for (k = 0; (r = hcur_next(&rc)); k++)
				if (!used[k] && px_str_same(r->id, c->id))
					break;
			if (r) {
				used[k] = 1;
				*p = *r;
				continue;
			}
			if (!*missing) {
				*missing = px_zalloc(a, sizeof **missing);
				if (!*missing)
					return -1;
				(*missing)->type = IR_TEXT;
				(*missing)->text = px_str_c(HIST_MISSING);
			}
			p->type = IR_TOOL_RESULT;
			p->id = c->id;
			p->name = c->name;
			p->content = *missing;
			p->ncontent = 1;
			p->is_error = 1;
		}
	}
	/* the rest of the run in order: results moved out, repeats dropped,
	 * orphans turned into user messages */
	for (i = w->t1, k = 0; i < w->r1; i++) {
		const struct ir_msg *m = &req->msgs[i];
		if (m->role != IR_ROLE_TOOL) {
			out[(*no)++] = *m;
			continue;
		}
		for (j = 0; j < m->nparts; j++) {
			r = &m->parts[j];
			if (r->type != IR_TOOL_RESULT) {
				/* not canonical; kept as user content */
				out[*no].role = IR_ROLE_USER;
				out[*no].parts = (struct ir_part *)r;
				out[(*no)++].nparts = 1;
				continue;
			}
			if (used[k++] ||
			    hcount(req, w->t0, w->t1, IR_TOOL_CALL, r->id))
				continue;
			if (orphan_msg(a, r, &out[(*no)++]) != 0)
				return -1;
		}
	}
	return 0;
}

/*
 * req's history repaired for target f into *cp (a shallow copy of req
 * whose message list comes from a, sharing every message that does not
 * change). 0, or -1 when a runs out.
 */
static int
history_repair(enum px_fmt f, const struct ir_request *req,
               struct px_arena *a, struct ir_request *cp)
{
	struct ir_part *missing = NULL;
	struct hwin w;
	size_t i, cap = 1, no = 0;

	/* at most one tool message added per turn, one user message per
	 * orphan result */
	for (i = 0; i < req->nmsgs; i++)
		cap += 1 + (req->msgs[i].role == IR_ROLE_ASSISTANT) +
		    (req->msgs[i].role == IR_ROLE_TOOL ?
		    req->msgs[i].nparts : 0);
	*cp = *req;
	cp->msgs = px_zalloc(a, cap * sizeof *cp->msgs);
	if (!cp->msgs)
		return -1;
	for (i = 0; i < req->nmsgs; i = w.r1) {
		hwin_at(f, req, i, &w);
		if (!hwin_broken(f, req, &w)) {
			memcpy(cp->msgs + no, req->msgs + w.t0,
			    (w.r1 - w.t0) * sizeof *cp->msgs);
			no += w.r1 - w.t0;
			continue;
		}
		if (hwin_repair(req, &w, a, &missing, cp->msgs, &no) != 0)
			return -1;
	}
	cp->nmsgs = no;
	return 0;
}

static int
encode_request_view(const struct px_codec *c, enum px_fmt f,
                    const struct ir_request *req, struct px_str model,
                    struct jw *out, struct px_err *err)
{
	struct px_arena tmp;
	struct ir_request cp, fixed;
	const struct ir_request *src;
	int rc, broken;

	rc = target_view(f, req, NULL, NULL, err);
	if (rc < 0)
		return -1;
	broken = history_broken(f, req);
	if (rc == 0 && !broken)
		return c->encode_request(req, model, out, err);
	/* the view lives only while the encoder writes out */
	px_arena_init(&tmp, 0);
	src = req;
	if (broken) {
		if (history_repair(f, req, &tmp, &fixed) != 0) {
			px_err_set(err, 413, "converted request too large");
			px_arena_free(&tmp);
			return -1;
		}
		src = &fixed;
	}
	if (rc > 0) {
		rc = target_view(f, src, &tmp, &cp, err);
		src = &cp;
	}
	if (rc >= 0)
		rc = c->encode_request(src, model, out, err);
	px_arena_free(&tmp);
	return rc < 0 ? -1 : rc;
}

/*
 * Tool calls going back to the client carry the client's own names (an
 * upstream only knew the rewritten ones). parts is NULL when nothing
 * changes, else a copy from a.
 */
static struct ir_part *
client_names(const struct ir_request *req, const struct ir_response *resp,
             struct px_arena *a)
{
	struct ir_part *ps = NULL;
	struct px_str n;
	size_t i;

	for (i = 0; i < resp->nparts; i++) {
		if (resp->parts[i].type != IR_TOOL_CALL)
			continue;
		n = px_tool_name_client(req, resp->parts[i].name);
		if (n.p == resp->parts[i].name.p)
			continue;
		if (!ps) {
			ps = px_zalloc(a, resp->nparts * sizeof *ps);
			if (!ps)
				return NULL;
			memcpy(ps, resp->parts, resp->nparts * sizeof *ps);
		}
		ps[i].name = n;
	}
	return ps;
}

/* ------------------------------------------------ endpoint operations */

/* see convert.h */
void
px_op_init(struct px_op *o, enum px_op_kind kind, enum px_fmt client,
    enum px_fmt up, struct px_str client_model)
{
	memset(o, 0, sizeof *o);
	o->kind = kind;
	o->client = client;
	o->up = up;
	o->model = client_model;
	o->req.max_tokens = -1;
	o->req.n = -1;
	o->req.thinking_budget = -1;
	o->req.include_thoughts = -1;
	o->req.parallel_tool_calls = -1;
	o->req.store = -1;
	o->req.rf_strict = -1;
}

static int
op_count_request(struct px_op *o, struct px_arena *a, const char *body,
    size_t n, struct px_str m, struct jw *out, struct px_err *err)
{
	struct px_str in = { body, n };
	int rc = 0;

	if (o->up == o->client) {
		/* same format: the body as sent, the model set (Gemini names
		 * it in the path) */
		o->passthrough = 1;
		if (o->up == PX_FMT_GEMINI) {
			jw_put(out, body, n);
			return 0;
		}
		if (px_rewrite_model(body, n, m, out) < 0) {
			px_err_set(err, 400, "request body must be a JSON object");
			return -1;
		}
		return 0;
	}
	if (o->client == PX_FMT_GEMINI)
		rc = px_count_unwrap_gemini(a, body, n, &in, err);
	if (rc == 0)
		rc = px_decode_request(o->client, a, in.p, in.n, &o->req, err);
	o->req.stream = 0;
	if (o->client == PX_FMT_GEMINI)
		o->req.model = o->model;
	if (o->up != PX_FMT_ANTHROPIC && o->up != PX_FMT_GEMINI) {
		o->estimate = 1;
		o->est_text = rc == 0;
		o->est_bytes = rc == 0 ? px_request_text_bytes(&o->req) : n;
		return 0;
	}
	if (rc < 0)
		return -1;
	return px_count_encode_request(o->up, a, &o->req, m, out, err);
}

static int
op_embed_request(struct px_op *o, struct px_arena *a, const char *body,
    size_t n, struct px_str m, struct jw *out, struct px_err *err)
{
	int batch = o->kind == PX_OP_EMBED_BATCH;

	if (o->up == PX_FMT_CLI) {
		px_err_set(err, 400, "model '%.*s' is routed to a command "
		    "(exec provider), which has no embeddings: route an OpenAI or "
		    "Gemini embedding model instead", (int)(o->model.n > 200 ?
		    200 : o->model.n), o->model.p);
		return -1;
	}
	if (o->up == PX_FMT_ANTHROPIC) {
		px_err_set(err, 400, "model '%.*s' is routed to an Anthropic "
		    "upstream, which has no embeddings API: route an OpenAI or "
		    "Gemini embedding model instead", (int)(o->model.n > 200 ?
		    200 : o->model.n), o->model.p);
		return -1;
	}
	if (o->client == PX_FMT_GEMINI) {
		if (o->up == PX_FMT_GEMINI) {
			o->passthrough = 1;
			return px_embed_gemini_rewrite(a, body, n, batch, m, out,
			    err);
		}
		if (px_embed_decode_gemini_request(a, body, n, batch, o->model,
		    &o->embed, err) < 0)
			return -1;
		return px_embed_encode_openai(&o->embed, m, batch, out, err);
	}
	/* an OpenAI embeddings client */
	if (o->up == PX_FMT_GEMINI) {
		if (px_embed_decode_request(a, body, n, &o->embed, err) < 0)
			return -1;
		return px_embed_encode_gemini(&o->embed, m, out, err);
	}
	o->passthrough = 1;
	if (px_rewrite_model(body, n, m, out) < 0) {
		px_err_set(err, 400, "request body must be a JSON object");
		return -1;
	}
	return 0;
}

/* see convert.h */
int
px_op_request(struct px_op *o, struct px_arena *a, const char *body,
    size_t n, struct px_str m, struct jw *out, struct px_err *err)
{
	int rc;

	memset(err, 0, sizeof *err);
	if (o->kind == PX_OP_COUNT)
		rc = op_count_request(o, a, body, n, m, out, err);
	else if (o->kind == PX_OP_EMBED || o->kind == PX_OP_EMBED_BATCH)
		rc = op_embed_request(o, a, body, n, m, out, err);
	else {
		px_err_set(err, 400, "not an endpoint operation");
		return -1;
	}
	if (rc == 0 && out->err) {
		px_err_set(err, 413, "converted request too large");
		return -1;
	}
	if (rc < 0 && err->status == 0)
		err->status = 400;
	return rc;
}

/* see convert.h */
int
px_op_path(const struct px_op *o, struct px_str m, char *buf, size_t cap)
{
	const char *verb = NULL;
	int k;
	char *v;

	if (o->up != PX_FMT_GEMINI) {
		if (o->kind == PX_OP_COUNT) {
			k = px_upstream_path(o->up, m, 0, buf, cap);
			if (k < 0 || (size_t)k + sizeof "/count_tokens" > cap)
				return -1;
			memcpy(buf + k, "/count_tokens", sizeof "/count_tokens");
			return k + (int)sizeof "/count_tokens" - 1;
		}
		if (cap < sizeof "/embeddings")
			return -1;
		memcpy(buf, "/embeddings", sizeof "/embeddings");
		return (int)sizeof "/embeddings" - 1;
	}
	if (px_upstream_path(PX_FMT_GEMINI, m, 0, buf, cap) < 0)
		return -1;
	if (o->kind == PX_OP_COUNT)
		verb = ":countTokens";
	else if (o->kind == PX_OP_EMBED_BATCH)
		verb = ":batchEmbedContents";
	else if (o->client == PX_FMT_GEMINI)
		verb = ":embedContent";
	else
		verb = px_embed_gemini_batch(&o->embed) ? ":batchEmbedContents" :
		    ":embedContent";
	v = strrchr(buf, ':');   /* the model segment is percent-encoded */
	if (v == NULL || (size_t)(v - buf) + strlen(verb) + 1 > cap)
		return -1;
	memcpy(v, verb, strlen(verb) + 1);
	return (int)strlen(buf);
}

/* see convert.h */
int
px_op_answer(const struct px_op *o, struct px_arena *a, const char *body,
    size_t n, struct jw *out, long long *tokens, struct px_err *err)
{
	int batch = o->kind == PX_OP_EMBED_BATCH;

	memset(err, 0, sizeof *err);
	*tokens = -1;
	if (o->kind == PX_OP_COUNT)
		return px_count_convert_response(o->up, o->client, a, body, n,
		    out, tokens, err);
	if (o->client == PX_FMT_GEMINI)
		return px_embed_encode_gemini_answer(a, &o->embed, batch, body,
		    n, out, tokens, err);
	return px_embed_decode_gemini(a, &o->embed, body, n, out, tokens, err);
}

/* see convert.h */
void
px_op_estimate(const struct px_op *o, struct jw *out, long long *tokens)
{
	char buf[256];
	long long est = (long long)(o->est_bytes + 3) / 4;
	int k;

	if (o->client == PX_FMT_GEMINI)
		k = snprintf(buf, sizeof buf, "{\"totalTokens\":%lld}", est);
	else
		k = snprintf(buf, sizeof buf,
		    "{\"input_tokens\":%lld,\"note\":\"estimate by llmproxy (%s / 4): the upstream for this model has no token counting endpoint\"}",
		    est, o->est_text ? "request text bytes" : "request bytes");
	jw_put(out, buf, (size_t)k);
	*tokens = est;
}
