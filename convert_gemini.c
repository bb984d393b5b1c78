/*
 * convert_gemini.c - the Gemini generateContent codec
 * (models/{m}:generateContent, :streamGenerateContent?alt=sse).
 *
 * Design. Gemini differs from the other three in ways that shape this file:
 *  - the model is in the URL: decoders leave req->model empty (the server
 *    fills it) and the encoder never writes one;
 *  - turns are only "user" and "model", must alternate and start with a
 *    user turn, and may hold no empty part (WIRE.md §2.2, §6.42, §6.44):
 *    the request encoder opens turns lazily, so adjacent same-role IR
 *    messages merge, messages that yield no part vanish, and a "." user
 *    turn is prepended only when the first turn would be the model's;
 *  - function calls usually carry no id: calls and responses pair by name
 *    and order (§2.5). Requests get stable synthetic ids
 *    "call_<name>_<n>" (n counts calls of that name in the request) so the
 *    pairing survives conversion; responses get fresh random ids so ids
 *    stay unique across a conversation. Ids are never sent upstream;
 *  - thoughtSignature is opaque state on the part that carried it (text,
 *    thought or functionCall). It is kept byte for byte with sig_fmt
 *    PX_FMT_GEMINI and only ever replayed to Gemini (§2.6, §6.17);
 *  - usageMetadata is cumulative on every chunk: the last one wins (§6.23);
 *  - the stream encoder writes each text or thought delta as a chunk of
 *    its own the moment it arrives; only a tool call waits for its end,
 *    since Gemini carries whole calls with an args object (§4.5). The
 *    stream ends with a chunk of its own: parts [{"text":""}] (never []
 *    or no parts, which js-genai's chats take for an invalid turn, Part 2
 *    §4), finishReason and usageMetadata. No `event:` lines, no [DONE]
 *    (§1).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"

/* ------------------------------------------------------------ helpers */





#define NOMEM(e) (px_err_set((e), 413, "request too large"), -1)

/* usageMetadata -> IR usage (WIRE.md §3.3) */
static void
usage_dec(const struct json *u, struct ir_usage *out)
{
	long long p = -1, c = -1, t = -1, tot = -1, tool = -1, cached = -1;

	ir_usage_init(out);
	if (!u || u->type != JSON_OBJECT)
		return;
	json_int(json_get(u, "promptTokenCount"), &p);
	json_int(json_get(u, "candidatesTokenCount"), &c);
	json_int(json_get(u, "thoughtsTokenCount"), &t);
	json_int(json_get(u, "totalTokenCount"), &tot);
	json_int(json_get(u, "toolUsePromptTokenCount"), &tool);
	json_int(json_get(u, "cachedContentTokenCount"), &cached);
	if (p >= 0)
		out->input = p + (tool > 0 ? tool : 0);
	if (c >= 0 || t >= 0)
		out->output = (c > 0 ? c : 0) + (t > 0 ? t : 0);
	else if (tot >= 0 && out->input >= 0)
		out->output = tot > out->input ? tot - out->input : 0;
	if (t >= 0)
		out->reasoning = t;
	if (cached >= 0)
		out->cache_read = cached;
}

static enum ir_stop
finish_map(struct px_str r, int calls)
{
	static const char *const filter[] = {
		"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT",
		"SPII", "LANGUAGE", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
		"IMAGE_RECITATION", "IMAGE_OTHER", "NO_IMAGE", "OTHER", NULL
	};
	int i;

	if (px_str_eq(r, "MAX_TOKENS"))
		return IR_STOP_MAX_TOKENS;
	for (i = 0; filter[i]; i++)
		if (px_str_eq(r, filter[i]))
			return IR_STOP_CONTENT_FILTER;
	if (px_str_eq(r, "MALFORMED_FUNCTION_CALL") ||
	    px_str_eq(r, "UNEXPECTED_TOOL_CALL") ||
	    px_str_eq(r, "TOO_MANY_TOOL_CALLS"))
		return IR_STOP_MALFORMED;
	/* STOP with a function call means "run the tools" (WIRE.md §6.32);
	 * unknown values end normally (§3.2) */
	return calls ? IR_STOP_TOOL_USE : IR_STOP_END;
}

static const char *
finish_name(enum ir_stop st)
{
	switch (st) {
	case IR_STOP_MAX_TOKENS:
	case IR_STOP_CONTEXT:        return "MAX_TOKENS";
	case IR_STOP_CONTENT_FILTER: return "SAFETY";
	case IR_STOP_MALFORMED:      return "MALFORMED_FUNCTION_CALL";
	default:                     return "STOP";
	}
}

/* "call_<name>_<n>" in the arena */
static struct px_str
synth_id(struct px_arena *a, struct px_str name, unsigned n)
{
	struct px_str r = { NULL, 0 };
	char *p = px_arena_alloc(a, name.n + 32);
	int k;

	if (!p)
		return r;
	memcpy(p, "call_", 5);
	if (name.n)
		memcpy(p + 5, name.p, name.n);
	k = snprintf(p + 5 + name.n, 27, "_%u", n);
	r.p = p;
	r.n = 5 + name.n + (size_t)k;
	return r;
}

/* ------------------------------------------------- request: decode */

struct gcall { struct px_str name, id; int answered; };

struct gq {
	struct px_arena *a;
	struct ir_request *req;
	struct px_err *err;
	size_t mcap, pcap, scap;
	struct gcall *calls;
	size_t ncalls, ccap;
	struct px_str pend_sig;       /* signature-only part waiting */
};

static unsigned
name_count(struct gq *q, struct px_str name)
{
	unsigned k = 0;
	size_t i;

	for (i = 0; i < q->ncalls; i++)
		if (px_str_same(q->calls[i].name, name))
			k++;
	return k;
}

static struct gcall *
add_call(struct gq *q, struct px_str name, struct px_str id)
{
	struct gcall *c;

	if (!id.n)
		id = synth_id(q->a, name, name_count(q, name));
	q->calls = px_vgrow(q->a, q->calls, q->ncalls, &q->ccap, sizeof *c);
	if (!q->calls)
		return NULL;
	c = &q->calls[q->ncalls++];
	c->name = name;
	c->id = id;
	return c;
}

static struct ir_msg *
gq_msg(struct gq *q, enum ir_role role, int merge)
{
	struct ir_request *req = q->req;

	if (merge && req->nmsgs && req->msgs[req->nmsgs - 1].role == role)
		return &req->msgs[req->nmsgs - 1];
	req->msgs = px_vgrow(q->a, req->msgs, req->nmsgs, &q->mcap,
	    sizeof *req->msgs);
	if (!req->msgs)
		return NULL;
	q->pcap = 0;
	req->msgs[req->nmsgs].role = role;
	return &req->msgs[req->nmsgs++];
}

static struct ir_part *
gq_part(struct gq *q, struct ir_msg *m, enum ir_part_type t)
{
	struct ir_part *p;

	m->parts = px_vgrow(q->a, m->parts, m->nparts, &q->pcap, sizeof *p);
	if (!m->parts)
		return NULL;
	p = &m->parts[m->nparts++];
	p->type = t;
	if (q->pend_sig.n) {
		/* a signature-only part attaches to the next part (§4.5) */
		p->signature = q->pend_sig;
		p->sig_fmt = PX_FMT_GEMINI;
		q->pend_sig.n = 0;
	}
	return p;
}

/* inlineData / fileData of the part at `at` into p */
static int
media_from(const struct json *pt, const char *at, struct ir_part *p,
           struct px_err *err)
{
	const struct json *d;
	char dat[PX_AT_MAX];

	if ((d = json_get(pt, "inlineData"))) {
		px_at(dat, "%s.inlineData", at);
		if (d->type != JSON_OBJECT)
			return px_field_err(err, dat, NULL, "an object");
		if (px_dec_str(json_get(d, "mimeType"), dat, "mimeType",
		    &p->media_type, err) < 0 ||
		    px_dec_str(json_get(d, "data"), dat, "data", &p->data,
		    err) < 0)
			return -1;
	} else {
		d = json_get(pt, "fileData");
		px_at(dat, "%s.fileData", at);
		if (!d || d->type != JSON_OBJECT)
			return px_field_err(err, dat, NULL, "an object");
		if (px_dec_str(json_get(d, "mimeType"), dat, "mimeType",
		    &p->media_type, err) < 0 ||
		    px_dec_str(json_get(d, "fileUri"), dat, "fileUri", &p->url,
		    err) < 0)
			return -1;
	}
	p->type = px_str_prefix(p->media_type, "image/") ? IR_IMAGE :
	    IR_DOCUMENT;
	return 0;
}

/*
 * functionResponse.response -> result text. {"result": s} / {"output": s}
 * with a string unwrap to s (the usual wrappers, §2.5); {"error": x} sets
 * is_error; anything else travels as compact JSON text.
 */
static int
fresp_content(struct gq *q, const struct json *r, struct ir_part *p)
{
	const struct json *only = NULL;
	struct ir_part *c;

	c = px_zalloc(q->a, sizeof *c);
	if (!c)
		return NOMEM(q->err);
	c->type = IR_TEXT;
	if (r && r->type == JSON_OBJECT && r->len == 1)
		only = r->child;
	if (only && strcmp(only->key, "error") == 0) {
		p->is_error = 1;
		r = only;
		only = NULL;
		if (r->type == JSON_STRING)
			c->text = px_str_json(r);
	} else if (only && only->type == JSON_STRING &&
	    (strcmp(only->key, "result") == 0 ||
	    strcmp(only->key, "output") == 0)) {
		c->text = px_str_json(only);
	}
	if (!c->text.n && r)
		c->text = px_json_compact(q->a, r);
	p->content = c;
	p->ncontent = c->text.n ? 1 : 0;
	return 0;
}

/* The text of a text part (absent or null: none); -1 when not a string. */
static int
part_text(struct gq *q, const struct json *pt, const char *at,
          struct px_str *t)
{
	t->p = NULL;
	t->n = 0;
	return px_dec_str(json_get(pt, "text"), at, "text", t, q->err) < 0 ?
	    -1 : 0;
}

static int
dec_model_part(struct gq *q, struct ir_msg *m, const struct json *pt,
               const char *at)
{
	struct px_str sig = { NULL, 0 }, t, name = { NULL, 0 },
	    id = { NULL, 0 };
	const struct json *fc, *args;
	struct ir_part *p;
	struct gcall *c;
	char fat[PX_AT_MAX];
	int thought = 0;

	if (pt->type != JSON_OBJECT)
		return px_field_err(q->err, at, NULL, "an object");
	if (px_dec_str(json_get(pt, "thoughtSignature"), at,
	    "thoughtSignature", &sig, q->err) < 0 ||
	    px_dec_bool(json_get(pt, "thought"), at, "thought", &thought,
	    q->err) < 0)
		return -1;
	if ((fc = json_get(pt, "functionCall"))) {
		px_at(fat, "%s.functionCall", at);
		if (fc->type != JSON_OBJECT)
			return px_field_err(q->err, fat, NULL, "an object");
		args = json_get(fc, "args");
		if (args && args->type != JSON_OBJECT &&
		    args->type != JSON_NULL)
			return px_field_err(q->err, fat, "args", "an object");
		if (px_dec_str(json_get(fc, "name"), fat, "name", &name,
		    q->err) < 0 ||
		    px_dec_str(json_get(fc, "id"), fat, "id", &id, q->err) < 0)
			return -1;
		if (!(p = gq_part(q, m, IR_TOOL_CALL)))
			return NOMEM(q->err);
		p->name = name;
		if (!(c = add_call(q, p->name, id)))
			return NOMEM(q->err);
		p->id = c->id;
		p->args = args && args->type == JSON_OBJECT ?
		    px_json_compact(q->a, args) : px_str_c("{}");
	} else if (json_get(pt, "text")) {
		if (part_text(q, pt, at, &t) < 0)
			return -1;
		if (t.n == 0) {
			/* signature-only part: not text (§4.5); it belongs
			 * to the part before it, or else the next one */
			if (!sig.n)
				return 0;
			if (m->nparts && !m->parts[m->nparts - 1].signature.n) {
				m->parts[m->nparts - 1].signature = sig;
				m->parts[m->nparts - 1].sig_fmt = PX_FMT_GEMINI;
			} else {
				q->pend_sig = sig;
			}
			return 0;
		}
		if (!(p = gq_part(q, m, thought ? IR_THINKING : IR_TEXT)))
			return NOMEM(q->err);
		p->text = t;
	} else if (json_get(pt, "inlineData") || json_get(pt, "fileData")) {
		if (!(p = gq_part(q, m, IR_IMAGE)))
			return NOMEM(q->err);
		if (media_from(pt, at, p, q->err) < 0)
			return -1;
	} else {
		px_err_set(q->err, 400, "%s: unsupported Gemini part in a model "
		    "turn (only text, thought, functionCall and inline media "
		    "can be converted)", at);
		return -1;
	}
	if (sig.n) {
		p->signature = sig;
		p->sig_fmt = PX_FMT_GEMINI;
	}
	return 0;
}

static int
dec_function_response(struct gq *q, struct ir_msg *m,
                      const struct json *fr, const char *at)
{
	struct px_str name = { NULL, 0 }, id = { NULL, 0 };
	struct ir_part *p;
	char fat[PX_AT_MAX];
	size_t i;

	px_at(fat, "%s.functionResponse", at);
	if (fr->type != JSON_OBJECT)
		return px_field_err(q->err, fat, NULL, "an object");
	if (px_dec_str(json_get(fr, "name"), fat, "name", &name, q->err) < 0 ||
	    px_dec_str(json_get(fr, "id"), fat, "id", &id, q->err) < 0)
		return -1;
	if (!(p = gq_part(q, m, IR_TOOL_RESULT)))
		return NOMEM(q->err);
	/* pair with the first unanswered call of that name (or that id):
	 * WIRE.md §2.5 */
	for (i = 0; i < q->ncalls; i++) {
		struct gcall *c = &q->calls[i];
		if (c->answered)
			continue;
		if (px_str_same(id.n ? c->id : c->name, id.n ? id : name))
			break;
	}
	if (i < q->ncalls) {
		q->calls[i].answered = 1;
		if (!id.n)
			id = q->calls[i].id;
		if (!name.n)
			name = q->calls[i].name;
	} else if (!id.n) {
		struct gcall *c = add_call(q, name, id);
		if (!c)
			return NOMEM(q->err);
		c->answered = 1;
		id = c->id;
	}
	p->id = id;
	p->name = name;
	return fresp_content(q, json_get(fr, "response"), p);
}

/* the parts of the user turn at `at` */
static int
dec_user_turn(struct gq *q, const struct json *parts, const char *at)
{
	const struct json *pt, *fr;
	struct ir_msg *m = NULL;
	struct ir_part *p;
	struct px_str t;
	char pat[PX_AT_MAX];
	size_t i;

	for (pt = parts ? parts->child : NULL, i = 0; pt; pt = pt->next, i++) {
		px_at(pat, "%s.parts[%zu]", at, i);
		if (pt->type != JSON_OBJECT)
			return px_field_err(q->err, pat, NULL, "an object");
		if ((fr = json_get(pt, "functionResponse"))) {
			/* results go to a tool message; text after them in
			 * the same turn follows as a user message (convert.h) */
			if (!(m = gq_msg(q, IR_ROLE_TOOL, m && m->role ==
			    IR_ROLE_TOOL)))
				return NOMEM(q->err);
			if (dec_function_response(q, m, fr, pat) < 0)
				return -1;
			continue;
		}
		if (!(m = gq_msg(q, IR_ROLE_USER, m && m->role ==
		    IR_ROLE_USER)))
			return NOMEM(q->err);
		if (json_get(pt, "text")) {
			if (part_text(q, pt, pat, &t) < 0)
				return -1;
			if (!t.n)
				continue;
			if (!(p = gq_part(q, m, IR_TEXT)))
				return NOMEM(q->err);
			p->text = t;
		} else if (json_get(pt, "inlineData") ||
		    json_get(pt, "fileData")) {
			if (!(p = gq_part(q, m, IR_IMAGE)))
				return NOMEM(q->err);
			if (media_from(pt, pat, p, q->err) < 0)
				return -1;
		} else {
			px_err_set(q->err, 400, "%s: unsupported Gemini part in "
			    "a user turn (text, inlineData, fileData and "
			    "functionResponse can be converted)", pat);
			return -1;
		}
	}
	/* a user message left empty (only empty text) is dropped */
	if (m && m->nparts == 0 && q->req->nmsgs &&
	    &q->req->msgs[q->req->nmsgs - 1] == m)
		q->req->nmsgs--;
	return 0;
}

/*
 * Gemini's legacy `parameters` / `responseSchema` are an OpenAPI subset
 * with upper-case types (OBJECT, NUMBER) and `nullable`: rewrite them as
 * plain JSON Schema so other targets accept them.
 */
static void
oas_to_json(struct jw *w, const struct json *v)
{
	const struct json *m, *c, *ty = NULL;
	int nullable = 0;
	size_t i;
	char buf[32];

	if (v->type == JSON_ARRAY) {
		jw_arr(w);
		for (c = v->child; c; c = c->next)
			oas_to_json(w, c);
		jw_arr_end(w);
		return;
	}
	if (v->type != JSON_OBJECT) {
		jw_value(w, v);
		return;
	}
	json_bool(json_get(v, "nullable"), &nullable);
	jw_obj(w);
	for (m = v->child; m; m = m->next) {
		if (strcmp(m->key, "nullable") == 0 ||
		    strcmp(m->key, "propertyOrdering") == 0)
			continue;
		jw_keyn(w, m->key, m->keylen);
		if (strcmp(m->key, "type") == 0 && m->type == JSON_STRING &&
		    m->n < sizeof buf) {
			ty = m;
			for (i = 0; i < m->n; i++)
				buf[i] = (char)((m->s[i] >= 'A' && m->s[i] <= 'Z') ?
				    m->s[i] + 32 : m->s[i]);
			if (nullable) {
				jw_arr(w);
				jw_str(w, buf, m->n);
				jw_cstr(w, "null");
				jw_arr_end(w);
			} else {
				jw_str(w, buf, m->n);
			}
		} else if (strcmp(m->key, "properties") == 0 &&
		    m->type == JSON_OBJECT) {
			jw_obj(w);
			for (c = m->child; c; c = c->next) {
				jw_keyn(w, c->key, c->keylen);
				oas_to_json(w, c);
			}
			jw_obj_end(w);
		} else if (strcmp(m->key, "enum") == 0 ||
		    strcmp(m->key, "required") == 0 ||
		    strcmp(m->key, "example") == 0 ||
		    strcmp(m->key, "default") == 0) {
			jw_value(w, m);
		} else {
			oas_to_json(w, m);
		}
	}
	(void)ty;
	jw_obj_end(w);
}

static struct px_str
oas_convert(struct px_arena *a, const struct json *v)
{
	struct px_str r = { NULL, 0 };
	struct jw w;

	jw_init(&w, a, v->rawlen * 6 + 64);
	oas_to_json(&w, v);
	if (!w.err) {
		r.p = w.buf;
		r.n = w.len;
	}
	return r;
}

static int
dec_tools(struct gq *q, const struct json *tools)
{
	struct ir_request *req = q->req;
	const struct json *t, *d, *fd, *pm;
	size_t cap = 0, i, j;
	struct ir_tool *tl;
	char at[PX_AT_MAX];

	if (tools->type == JSON_NULL)
		return 0;
	if (tools->type != JSON_ARRAY)
		return px_field_err(q->err, NULL, "tools", "an array");
	for (t = tools->child, i = 0; t; t = t->next, i++) {
		px_at(at, "tools[%zu]", i);
		if (t->type != JSON_OBJECT)
			return px_field_err(q->err, at, NULL, "an object");
		fd = json_get(t, "functionDeclarations");
		if (!fd)
			fd = json_get(t, "function_declarations");
		if (!fd) {
			/* googleSearch, codeExecution, urlContext, ...: raw,
			 * only a Gemini upstream can take them */
			req->tools = px_vgrow(q->a, req->tools, req->ntools, &cap,
			    sizeof *tl);
			if (!req->tools)
				return NOMEM(q->err);
			tl = &req->tools[req->ntools++];
			tl->strict = -1;
			tl->raw_type = t->child ? px_str_c(t->child->key) :
			    px_str_c("unknown");
			tl->raw = px_json_compact(q->a, t);
			tl->hosted = 1;     /* Google runs them */
			continue;
		}
		if (t->len > 1) {
			/* the rest would be lost: one kind of tool per entry */
			px_err_set(q->err, 400, "%s: functionDeclarations cannot "
			    "be converted together with another tool in the "
			    "same entry", at);
			return -1;
		}
		if (fd->type != JSON_ARRAY)
			return px_field_err(q->err, at, fd->key, "an array");
		for (d = fd->child, j = 0; d; d = d->next, j++) {
			px_at(at, "tools[%zu].%s[%zu]", i, fd->key, j);
			if (d->type != JSON_OBJECT)
				return px_field_err(q->err, at, NULL,
				    "an object");
			req->tools = px_vgrow(q->a, req->tools, req->ntools, &cap,
			    sizeof *tl);
			if (!req->tools)
				return NOMEM(q->err);
			tl = &req->tools[req->ntools++];
			tl->strict = -1;
			if (px_dec_str(json_get(d, "name"), at, "name", &tl->name,
			    q->err) < 0 ||
			    px_dec_str(json_get(d, "description"), at,
			    "description", &tl->description, q->err) < 0)
				return -1;
			if ((pm = json_get(d, "parametersJsonSchema")) &&
			    pm->type != JSON_NULL) {
				if (pm->type != JSON_OBJECT)
					return px_field_err(q->err, at,
					    "parametersJsonSchema", "an object");
				tl->parameters = px_json_compact(q->a, pm);
			} else if ((pm = json_get(d, "parameters")) &&
			    pm->type != JSON_NULL) {
				if (pm->type != JSON_OBJECT)
					return px_field_err(q->err, at,
					    "parameters", "an object");
				tl->parameters = oas_convert(q->a, pm);
			}
		}
	}
	return 0;
}

/* 1 when names (an array of strings) holds every function tool */
static int
names_all_tools(const struct ir_request *req, const struct json *names)
{
	const struct json *n;
	size_t i;

	for (i = 0; i < req->ntools; i++) {
		if (req->tools[i].raw_type.n)
			continue;
		for (n = names->child; n; n = n->next)
			if (px_str_same(px_str_json(n), req->tools[i].name))
				break;
		if (!n)
			return 0;
	}
	return 1;
}

static int
dec_tool_config(struct gq *q, const struct json *tc)
{
	static const char *const modes[] = {
		"MODE_UNSPECIFIED", "AUTO", "VALIDATED", "NONE", "ANY", NULL
	};
	static const enum ir_tool_choice vals[] = {
		IR_TC_UNSET, IR_TC_AUTO, IR_TC_AUTO, IR_TC_NONE, IR_TC_REQUIRED
	};
	struct ir_request *req = q->req;
	const char *at = "toolConfig.functionCallingConfig";
	const struct json *fcc, *names, *n;
	int k = 0, rc;

	if (!tc || tc->type == JSON_NULL)
		return 0;
	if (tc->type != JSON_OBJECT)
		return px_field_err(q->err, NULL, "toolConfig", "an object");
	fcc = json_get(tc, "functionCallingConfig");
	if (!fcc || fcc->type == JSON_NULL)
		return 0;
	if (fcc->type != JSON_OBJECT)
		return px_field_err(q->err, at, NULL, "an object");
	rc = px_dec_enum(json_get(fcc, "mode"), at, "mode", modes, &k, q->err);
	if (rc < 0)
		return -1;
	req->tool_choice = vals[k];
	names = json_get(fcc, "allowedFunctionNames");
	if (!names || names->type == JSON_NULL)
		return 0;
	if (names->type != JSON_ARRAY)
		return px_field_err(q->err, at, "allowedFunctionNames",
		    "an array of strings");
	for (n = names->child; n; n = n->next)
		if (n->type != JSON_STRING)
			return px_field_err(q->err, at, "allowedFunctionNames",
			    "an array of strings");
	if (req->tool_choice == IR_TC_REQUIRED && names->len == 1) {
		req->tool_choice = IR_TC_NAMED;
		req->tool_choice_name = px_str_json(names->child);
		return 0;
	}
	/* a subset of the tools has no IR form; all of them is no limit */
	if (!names_all_tools(req, names)) {
		px_err_set(q->err, 400, "%s.allowedFunctionNames cannot be "
		    "converted unless it names one function (with mode ANY) or "
		    "all of them", at);
		return -1;
	}
	return 0;
}

/* thinkingLevel, in either case as Gemini takes it */
static int
dec_level(const struct json *v, const char *at, enum ir_effort *out,
          struct px_err *err)
{
	static const char *const names[] = {
		"MINIMAL", "LOW", "MEDIUM", "HIGH", "THINKING_LEVEL_UNSPECIFIED",
		NULL
	};
	static const enum ir_effort vals[] = {
		IR_EFFORT_MINIMAL, IR_EFFORT_LOW, IR_EFFORT_MEDIUM,
		IR_EFFORT_HIGH, IR_EFFORT_UNSET
	};
	size_t i, k;

	if (!v || v->type == JSON_NULL)
		return 0;
	for (k = 0; v->type == JSON_STRING && names[k]; k++) {
		for (i = 0; i < v->n && names[k][i]; i++)
			if ((v->s[i] >= 'a' && v->s[i] <= 'z' ? v->s[i] - 32 :
			    v->s[i]) != names[k][i])
				break;
		if (i == v->n && !names[k][i]) {
			*out = vals[k];
			return 1;
		}
	}
	return px_field_err(err, at, "thinkingLevel", "'MINIMAL', 'LOW', "
	    "'MEDIUM' or 'HIGH'");
}

static int
dec_thinking(struct gq *q, const struct json *tc, const char *at)
{
	struct ir_request *req = q->req;
	enum ir_effort e = IR_EFFORT_UNSET;
	long long ll = -1;

	if (!tc || tc->type == JSON_NULL)
		return 0;
	if (tc->type != JSON_OBJECT)
		return px_field_err(q->err, at, NULL, "an object");
	if (px_dec_bool(json_get(tc, "includeThoughts"), at, "includeThoughts",
	    &req->include_thoughts, q->err) < 0 ||
	    px_dec_int(json_get(tc, "thinkingBudget"), at, "thinkingBudget",
	    -1, PX_INT_MAX, &ll, q->err) < 0)
		return -1;
	if (ll >= 0) {
		/* -1 (dynamic) stays unset: the target decides */
		req->thinking_budget = ll;
		req->effort = px_budget_effort(ll);
	}
	if (dec_level(json_get(tc, "thinkingLevel"), at, &e, q->err) < 0)
		return -1;
	if (req->effort == IR_EFFORT_UNSET)
		req->effort = e;
	return 0;
}

static int
dec_gencfg(struct gq *q, const struct json *g, const char *at)
{
	static const char *const mimes[] = {
		"text/plain", "application/json", NULL
	};
	struct ir_request *req = q->req;
	const struct json *v, *c, *sc;
	const char *sk;
	size_t i = 0;
	int k = -1, rc;

	if (!g || g->type == JSON_NULL)
		return 0;
	if (g->type != JSON_OBJECT)
		return px_field_err(q->err, NULL, at, "an object");
	if (px_dec_int(json_get(g, "maxOutputTokens"), at, "maxOutputTokens",
	    1, PX_INT_MAX, &req->max_tokens, q->err) < 0 ||
	    px_dec_num(json_get(g, "temperature"), at, "temperature",
	    &req->temperature, q->err) < 0 ||
	    px_dec_num(json_get(g, "topP"), at, "topP", &req->top_p,
	    q->err) < 0 ||
	    px_dec_num(json_get(g, "topK"), at, "topK", &req->top_k,
	    q->err) < 0 ||
	    px_dec_num(json_get(g, "seed"), at, "seed", &req->seed,
	    q->err) < 0 ||
	    px_dec_num(json_get(g, "presencePenalty"), at, "presencePenalty",
	    &req->presence_penalty, q->err) < 0 ||
	    px_dec_num(json_get(g, "frequencyPenalty"), at, "frequencyPenalty",
	    &req->frequency_penalty, q->err) < 0 ||
	    px_dec_int(json_get(g, "candidateCount"), at, "candidateCount", 1,
	    PX_INT_MAX, &req->n, q->err) < 0)
		return -1;
	v = json_get(g, "stopSequences");
	if (v && v->type != JSON_NULL) {
		if (v->type != JSON_ARRAY)
			return px_field_err(q->err, at, "stopSequences",
			    "an array of strings");
		req->stop = px_zalloc(q->a, (v->len + 1) * sizeof *req->stop);
		if (!req->stop)
			return NOMEM(q->err);
		for (c = v->child, i = 0; c; c = c->next) {
			if (c->type != JSON_STRING)
				return px_field_err(q->err, at,
				    "stopSequences", "an array of strings");
			req->stop[i++] = px_str_json(c);
		}
		req->nstop = i;
	}
	rc = px_dec_enum(json_get(g, "responseMimeType"), at,
	    "responseMimeType", mimes, &k, q->err);
	if (rc < 0)
		return -1;
	if (rc > 0)
		req->rf = k == 0 ? IR_RF_TEXT : IR_RF_JSON_OBJECT;
	sk = "responseJsonSchema";
	if (!(sc = json_get(g, sk)) && (sc = json_get(g,
	    "response_json_schema")))
		sk = "response_json_schema";
	else if (!sc && (sc = json_get(g, "responseSchema")))
		sk = "responseSchema";
	if (sc && sc->type != JSON_NULL) {
		if (req->rf != IR_RF_JSON_OBJECT) {
			/* Gemini itself refuses a schema for other types */
			px_err_set(q->err, 400, "%s.%s needs responseMimeType "
			    "'application/json'", at, sk);
			return -1;
		}
		if (sc->type != JSON_OBJECT)
			return px_field_err(q->err, at, sk, "an object");
		req->rf = IR_RF_JSON_SCHEMA;
		req->rf_schema = strcmp(sk, "responseSchema") == 0 ?
		    oas_convert(q->a, sc) : px_json_compact(q->a, sc);
	}
	v = json_get(g, "thinkingConfig");
	return dec_thinking(q, v, strcmp(at, "generationConfig") == 0 ?
	    "generationConfig.thinkingConfig" :
	    "generation_config.thinkingConfig");
}

static int
gm_decode_request(struct px_arena *a, const struct json *root,
                  struct ir_request *req, struct px_err *err)
{
	struct gq q;
	const struct json *v, *c, *pt, *parts;
	struct ir_part *p;
	struct ir_msg *m;
	struct px_str role, t;
	const char *key;
	char at[PX_AT_MAX], pat[PX_AT_MAX];
	size_t i, j;

	memset(&q, 0, sizeof q);
	q.a = a;
	q.req = req;
	q.err = err;
	/* the model is in the URL; tolerate clients that also send it */
	req->model = px_jget(root, "model");
	key = "systemInstruction";
	if (!(v = json_get(root, key)) &&
	    (v = json_get(root, "system_instruction")))
		key = "system_instruction";
	if (v && v->type == JSON_STRING && v->n) {
		req->system = px_zalloc(a, sizeof *req->system);
		if (!req->system)
			return NOMEM(err);
		req->system[0].type = IR_TEXT;
		req->system[0].text = px_str_json(v);
		req->nsystem = 1;
	} else if (v && v->type == JSON_OBJECT) {
		parts = json_get(v, "parts");
		if (parts && parts->type != JSON_ARRAY &&
		    parts->type != JSON_NULL)
			return px_field_err(err, key, "parts", "an array");
		for (pt = parts ? parts->child : NULL, i = 0; pt;
		    pt = pt->next, i++) {
			px_at(pat, "%s.parts[%zu]", key, i);
			if (!json_get(pt, "text"))
				return px_field_err(err, pat, NULL,
				    "a text part");
			if (part_text(&q, pt, pat, &t) < 0)
				return -1;
			if (!t.n)
				continue;
			req->system = px_vgrow(a, req->system, req->nsystem,
			    &q.scap, sizeof *p);
			if (!req->system)
				return NOMEM(err);
			p = &req->system[req->nsystem++];
			p->type = IR_TEXT;
			p->text = t;
		}
	} else if (v && v->type != JSON_NULL && v->type != JSON_STRING) {
		return px_field_err(err, NULL, key, "an object with text parts");
	}
	v = json_get(root, "contents");
	if (v && v->type != JSON_ARRAY) {
		px_err_set(err, 400, "contents must be an array");
		return -1;
	}
	for (c = v ? v->child : NULL, i = 0; c; c = c->next, i++) {
		px_at(at, "contents[%zu]", i);
		if (c->type != JSON_OBJECT)
			return px_field_err(err, at, NULL, "an object");
		role.p = NULL;
		role.n = 0;
		if (px_dec_str(json_get(c, "role"), at, "role", &role, err) < 0)
			return -1;
		parts = json_get(c, "parts");
		if (parts && parts->type != JSON_ARRAY &&
		    parts->type != JSON_NULL)
			return px_field_err(err, at, "parts", "an array");
		if (px_str_eq(role, "model")) {
			if (!(m = gq_msg(&q, IR_ROLE_ASSISTANT, 1)))
				return NOMEM(err);
			for (pt = parts ? parts->child : NULL, j = 0; pt;
			    pt = pt->next, j++)
				if (dec_model_part(&q, m, pt, px_at(pat,
				    "%s.parts[%zu]", at, j)))
					return -1;
			if (m->nparts == 0)
				req->nmsgs--;
			q.pend_sig.n = 0;
		} else if (!role.n || px_str_eq(role, "user") ||
		    px_str_eq(role, "function")) {
			if (dec_user_turn(&q, parts, at))
				return -1;
		} else {
			px_err_set(err, 400, "unsupported role '%.*s' (Gemini "
			    "roles are user and model)",
			    (int)(role.n > 40 ? 40 : role.n), role.p);
			return -1;
		}
	}
	if ((v = json_get(root, "tools")) && dec_tools(&q, v))
		return -1;
	if (dec_tool_config(&q, json_get(root, "toolConfig")) < 0)
		return -1;
	key = "generationConfig";
	if (!(v = json_get(root, key)) &&
	    (v = json_get(root, "generation_config")))
		key = "generation_config";
	return dec_gencfg(&q, v, key);
}

/* ------------------------------------------------- request: encode */

struct genc {
	struct jw *w;
	struct px_arena tmp;
	struct px_err *err;
	int role;                 /* open turn: 0 none, 1 user, 2 model */
};

#define DOT_TURN "{\"role\":\"user\",\"parts\":[{\"text\":\".\"}]}"

/* Make sure a turn of `role` is open; merges adjacent same-role turns. */
static void
turn(struct genc *g, int role)
{
	if (g->role == role)
		return;
	if (g->role) {
		jw_arr_end(g->w);
		jw_obj_end(g->w);
	} else if (role == 2) {
		/* the first content must be the user's (WIRE.md §6.44) */
		jw_raw(g->w, DOT_TURN, sizeof DOT_TURN - 1);
	}
	jw_obj(g->w);
	jw_kcstr(g->w, "role", role == 2 ? "model" : "user");
	jw_key(g->w, "parts");
	jw_arr(g->w);
	g->role = role;
}

static void args_out(struct jw *w, struct px_arena *tmp, struct px_str args);

static void
sig_out(struct jw *w, const struct ir_part *p)
{
	if (p->signature.n && p->sig_fmt == PX_FMT_GEMINI)
		jw_kstr(w, "thoughtSignature", p->signature.p, p->signature.n);
}

static int
media_out(struct genc *g, const struct ir_part *p, int role)
{
	struct px_str mt, data;

	if (p->data.n) {
		turn(g, role);
		jw_obj(g->w);
		jw_key(g->w, "inlineData");
		jw_obj(g->w);
		jw_kstr(g->w, "mimeType", p->media_type.p, p->media_type.n);
		jw_kstr(g->w, "data", p->data.p, p->data.n);
		jw_obj_end(g->w);
		jw_obj_end(g->w);
		return 0;
	}
	if (px_data_url_split(p->url, &mt, &data)) {
		turn(g, role);
		jw_obj(g->w);
		jw_key(g->w, "inlineData");
		jw_obj(g->w);
		jw_kstr(g->w, "mimeType", mt.p, mt.n);
		jw_kstr(g->w, "data", data.p, data.n);
		jw_obj_end(g->w);
		jw_obj_end(g->w);
		return 0;
	}
	if (px_str_prefix(p->url, "gs://") || px_str_prefix(p->url,
	    "https://generativelanguage.googleapis.com/") ||
	    px_str_prefix(p->url, "https://www.youtube.com/") ||
	    px_str_prefix(p->url, "https://youtu.be/")) {
		/* URIs Gemini itself resolves (File API, GCS, YouTube) */
		turn(g, role);
		jw_obj(g->w);
		jw_key(g->w, "fileData");
		jw_obj(g->w);
		if (p->media_type.n)
			jw_kstr(g->w, "mimeType", p->media_type.p,
			    p->media_type.n);
		jw_kstr(g->w, "fileUri", p->url.p, p->url.n);
		jw_obj_end(g->w);
		jw_obj_end(g->w);
		return 0;
	}
	/* Gemini does not fetch arbitrary URLs (WIRE.md §2.3, §6.45); the
	 * proxy does no outbound fetching either: say so */
	px_err_set(g->err, 400, "Gemini cannot fetch %s URLs (%.*s); send "
	    "the %s inline as a base64 data URL",
	    p->type == IR_IMAGE ? "image" : "file",
	    (int)(p->url.n > 100 ? 100 : p->url.n), p->url.p ? p->url.p : "",
	    p->type == IR_IMAGE ? "image" : "file");
	return -1;
}

/* Name of the call `id` answers, from earlier assistant turns. */
static struct px_str
call_name(const struct ir_request *req, size_t upto, struct px_str id)
{
	struct px_str none = { NULL, 0 };
	size_t i, j;

	for (i = upto; i-- > 0;) {
		const struct ir_msg *m = &req->msgs[i];
		for (j = 0; j < m->nparts; j++)
			if (m->parts[j].type == IR_TOOL_CALL &&
			    m->parts[j].id.n == id.n && id.n &&
			    memcmp(m->parts[j].id.p, id.p, id.n) == 0)
				return m->parts[j].name;
	}
	return none;
}

static int
enc_tool_result(struct genc *g, const struct ir_request *req, size_t mi,
                const struct ir_part *p)
{
	struct px_str name = p->name, text = { NULL, 0 };
	struct json *v = NULL;
	size_t i, k = 0;

	if (!name.n)
		name = call_name(req, mi, p->id);   /* backfill (§2.5) */
	for (i = 0; i < p->ncontent; i++)
		if (p->content[i].type == IR_TEXT) {
			text = p->content[i].text;
			k++;
		}
	if (k == 1 && text.n)
		v = json_parse(&g->tmp, text.p, text.n, 0, NULL);
	turn(g, 1);
	jw_obj(g->w);
	jw_key(g->w, "functionResponse");
	jw_obj(g->w);
	jw_kstr(g->w, "name", name.p, name.n);
	jw_key(g->w, "response");
	if (v && v->type == JSON_OBJECT && !p->is_error) {
		/* a JSON object result is already what Gemini wants */
		jw_value(g->w, v);
		goto closed;
	}
	/* anything else is wrapped: response must be an object (§2.5) */
	jw_obj(g->w);
	jw_key(g->w, p->is_error ? "error" : "result");
	if (v && (v->type == JSON_OBJECT || v->type == JSON_ARRAY)) {
		jw_value(g->w, v);
	} else if (k <= 1) {
		jw_str(g->w, text.p ? text.p : "", text.n);
	} else {
		/* several text blocks: one string, newline-joined */
		int first = 1;
		jw_raw(g->w, "\"", 1);
		for (i = 0; i < p->ncontent; i++) {
			if (p->content[i].type != IR_TEXT)
				continue;
			if (!first)
				jw_escaped(g->w, "\n", 1);
			jw_escaped(g->w, p->content[i].text.p,
			    p->content[i].text.n);
			first = 0;
		}
		jw_put(g->w, "\"", 1);
	}
	jw_obj_end(g->w);
closed:
	jw_obj_end(g->w);
	jw_obj_end(g->w);
	/* images cannot live inside functionResponse: siblings in the same
	 * user turn (CLIProxyAPI's approach, WIRE.md §2.5) */
	for (i = 0; i < p->ncontent; i++)
		if ((p->content[i].type == IR_IMAGE ||
		    p->content[i].type == IR_DOCUMENT) &&
		    media_out(g, &p->content[i], 1))
			return -1;
	return 0;
}

static int
enc_contents(struct genc *g, const struct ir_request *req)
{
	size_t i, j;

	jw_key(g->w, "contents");
	jw_arr(g->w);
	for (i = 0; i < req->nmsgs; i++) {
		const struct ir_msg *m = &req->msgs[i];
		int role = m->role == IR_ROLE_ASSISTANT ? 2 : 1;
		for (j = 0; j < m->nparts; j++) {
			const struct ir_part *p = &m->parts[j];
			switch (p->type) {
			case IR_TEXT:
				if (!p->text.n && !(p->signature.n &&
				    p->sig_fmt == PX_FMT_GEMINI))
					break;   /* no empty text (§6.42) */
				turn(g, role);
				jw_obj(g->w);
				jw_kstr(g->w, "text", p->text.p, p->text.n);
				sig_out(g->w, p);
				jw_obj_end(g->w);
				break;
			case IR_THINKING:
				/* only Gemini's own thoughts are replayed; other
				 * providers' reasoning is not Gemini input */
				if (p->sig_fmt != PX_FMT_GEMINI || role != 2 ||
				    (!p->text.n && !p->signature.n))
					break;
				turn(g, role);
				jw_obj(g->w);
				jw_kstr(g->w, "text", p->text.p, p->text.n);
				jw_kbool(g->w, "thought", 1);
				sig_out(g->w, p);
				jw_obj_end(g->w);
				break;
			case IR_IMAGE:
			case IR_DOCUMENT:
				if (media_out(g, p, role))
					return -1;
				break;
			case IR_TOOL_CALL:
				turn(g, 2);
				jw_obj(g->w);
				jw_key(g->w, "functionCall");
				jw_obj(g->w);
				jw_kstr(g->w, "name", p->name.p, p->name.n);
				jw_key(g->w, "args");
				args_out(g->w, &g->tmp, p->args);
				jw_obj_end(g->w);
				sig_out(g->w, p);
				jw_obj_end(g->w);
				break;
			case IR_TOOL_RESULT:
				if (enc_tool_result(g, req, i, p))
					return -1;
				break;
			default:
				break;   /* redacted thinking: no equivalent */
			}
		}
	}
	if (g->role) {
		jw_arr_end(g->w);
		jw_obj_end(g->w);
	}
	jw_arr_end(g->w);
	return 0;
}

static void
schema_out(struct genc *g, struct px_str s, const char *dflt)
{
	struct json *v = s.n ? json_parse(&g->tmp, s.p, s.n, 0, NULL) : NULL;

	if (v)
		px_schema_gemini(g->w, v);
	else
		jw_raw(g->w, dflt, strlen(dflt));
}

static long long
thinking_budget(const struct ir_request *req)
{
	if (req->thinking_budget >= 0)
		return req->thinking_budget;
	if (req->effort != IR_EFFORT_UNSET)
		return px_effort_budget(req->effort);
	return -1;
}

static int
gm_encode_request(const struct ir_request *req, struct px_str model,
                  struct jw *w, struct px_err *err)
{
	struct genc g;
	size_t i, nfn = 0;
	long long budget = thinking_budget(req), max;
	int gc = 0, rc = -1;

	(void)model;            /* in the URL (px_upstream_path) */
	memset(&g, 0, sizeof g);
	g.w = w;
	g.err = err;
	px_arena_init(&g.tmp, 0);
	for (i = 0; i < req->ntools; i++) {
		if (!req->tools[i].raw_type.n) {
			nfn++;
		} else if (req->fmt != PX_FMT_GEMINI) {
			px_err_set(err, 400, "tool type '%.*s' has no Gemini "
			    "equivalent", (int)req->tools[i].raw_type.n,
			    req->tools[i].raw_type.p);
			goto done;
		}
	}
	jw_obj(w);
	if (enc_contents(&g, req))
		goto done;
	if (req->nsystem) {
		jw_key(w, "systemInstruction");
		jw_obj(w);
		jw_key(w, "parts");
		jw_arr(w);
		for (i = 0; i < req->nsystem; i++) {
			if (req->system[i].type != IR_TEXT ||
			    !req->system[i].text.n)
				continue;
			jw_obj(w);
			jw_kstr(w, "text", req->system[i].text.p,
			    req->system[i].text.n);
			jw_obj_end(w);
		}
		jw_arr_end(w);
		jw_obj_end(w);
	}
	if (req->ntools) {
		jw_key(w, "tools");
		jw_arr(w);
		if (nfn) {
			jw_obj(w);
			jw_key(w, "functionDeclarations");
			jw_arr(w);
			for (i = 0; i < req->ntools; i++) {
				const struct ir_tool *t = &req->tools[i];
				if (t->raw_type.n)
					continue;
				jw_obj(w);
				jw_kstr(w, "name", t->name.p, t->name.n);
				if (t->description.n)
					jw_kstr(w, "description",
					    t->description.p, t->description.n);
				/* plain JSON Schema, still cleaned of what
				 * Gemini rejects (WIRE.md §2.4, §6.41) */
				jw_key(w, "parametersJsonSchema");
				schema_out(&g, t->parameters,
				    "{\"type\":\"object\",\"properties\":{}}");
				jw_obj_end(w);
			}
			jw_arr_end(w);
			jw_obj_end(w);
		}
		for (i = 0; i < req->ntools; i++)
			if (req->tools[i].raw_type.n)
				jw_raw(w, req->tools[i].raw.p,
				    req->tools[i].raw.n);
		jw_arr_end(w);
	}
	if (req->tool_choice != IR_TC_UNSET) {
		jw_key(w, "toolConfig");
		jw_obj(w);
		jw_key(w, "functionCallingConfig");
		jw_obj(w);
		jw_kcstr(w, "mode", req->tool_choice == IR_TC_AUTO ? "AUTO" :
		    req->tool_choice == IR_TC_NONE ? "NONE" : "ANY");
		if (req->tool_choice == IR_TC_NAMED) {
			jw_key(w, "allowedFunctionNames");
			jw_arr(w);
			jw_str(w, req->tool_choice_name.p,
			    req->tool_choice_name.n);
			jw_arr_end(w);
		}
		jw_obj_end(w);
		jw_obj_end(w);
	}
#define GC() do { if (!gc) { jw_key(w, "generationConfig"); jw_obj(w); \
	gc = 1; } } while (0)
	if (req->temperature.set) {
		GC();
		jw_key(w, "temperature");
		px_jw_num(w, &req->temperature);
	}
	if (req->top_p.set) {
		GC();
		jw_key(w, "topP");
		px_jw_num(w, &req->top_p);
	}
	if (req->top_k.set) {
		GC();
		jw_key(w, "topK");
		px_jw_num(w, &req->top_k);
	}
	if (req->max_tokens >= 0) {
		max = req->max_tokens;
		/* thoughts count against maxOutputTokens: a visible-answer
		 * limit plus the thinking budget (WIRE.md §6.61). Gemini's own
		 * number already includes it, and so does Anthropic's
		 * max_tokens, which must exceed budget_tokens. */
		if (budget > 0 && req->fmt != PX_FMT_GEMINI &&
		    req->fmt != PX_FMT_ANTHROPIC)
			max += budget;
		GC();
		jw_kint(w, "maxOutputTokens", max);
	}
	if (req->nstop) {
		GC();
		jw_key(w, "stopSequences");
		jw_arr(w);
		for (i = 0; i < req->nstop; i++)
			jw_str(w, req->stop[i].p, req->stop[i].n);
		jw_arr_end(w);
	}
	if (req->n >= 1) {
		GC();
		jw_kint(w, "candidateCount", req->n);
	}
	if (req->seed.set) {
		GC();
		jw_key(w, "seed");
		px_jw_num(w, &req->seed);
	}
	if (req->presence_penalty.set) {
		GC();
		jw_key(w, "presencePenalty");
		px_jw_num(w, &req->presence_penalty);
	}
	if (req->frequency_penalty.set) {
		GC();
		jw_key(w, "frequencyPenalty");
		px_jw_num(w, &req->frequency_penalty);
	}
	if (req->rf == IR_RF_JSON_SCHEMA || req->rf == IR_RF_JSON_OBJECT) {
		GC();
		jw_kcstr(w, "responseMimeType", "application/json");
		if (req->rf == IR_RF_JSON_SCHEMA && req->rf_schema.n) {
			jw_key(w, "responseJsonSchema");
			schema_out(&g, req->rf_schema, "{\"type\":\"object\"}");
		}
	}
	if (budget >= 0 || req->include_thoughts >= 0) {
		/* thinkingBudget (2.5 style) rather than thinkingLevel: the
		 * budget table is the one shared with Anthropic, and Gemini 3
		 * still accepts budgets */
		GC();
		jw_key(w, "thinkingConfig");
		jw_obj(w);
		if (budget >= 0)
			jw_kint(w, "thinkingBudget", budget);
		if (req->include_thoughts >= 0)
			jw_kbool(w, "includeThoughts", req->include_thoughts &&
			    budget != 0);
		jw_obj_end(w);
	}
#undef GC
	if (gc)
		jw_obj_end(w);
	jw_obj_end(w);
	rc = 0;
done:
	px_arena_free(&g.tmp);
	return rc;
}

/* ------------------------------------------------ response: decode */

static int
gm_decode_response(struct px_arena *a, const struct json *root,
                   struct ir_response *resp, struct px_err *err)
{
	const struct json *cand, *pt, *fc;
	struct px_str fr, sig, pend = { NULL, 0 };
	struct ir_part *p;
	size_t cap = 0;
	int calls = 0, thought;

	if (json_get(root, "error")) {
		px_err_set(err, 502, "upstream returned an error object");
		return -1;
	}
	resp->id = px_jget(root, "responseId");
	resp->model = px_jget(root, "modelVersion");
	usage_dec(json_get(root, "usageMetadata"), &resp->usage);
	cand = json_at(json_get(root, "candidates"), 0);
	if (!cand) {
		/* prompt blocked: no candidates at all (WIRE.md §3.2) */
		resp->stop = IR_STOP_CONTENT_FILTER;
		resp->native_stop = px_jget(json_get(root, "promptFeedback"),
		    "blockReason");
		return 0;
	}
	pt = json_get(json_get(cand, "content"), "parts");
	for (pt = pt ? pt->child : NULL; pt; pt = pt->next) {
		sig = px_jget(pt, "thoughtSignature");
		fc = json_get(pt, "functionCall");
		if (!fc && json_get(pt, "text") && !px_jget(pt, "text").n) {
			/* signature-only part: previous part, else next */
			if (sig.n && resp->nparts &&
			    !resp->parts[resp->nparts - 1].signature.n) {
				resp->parts[resp->nparts - 1].signature = sig;
				resp->parts[resp->nparts - 1].sig_fmt =
				    PX_FMT_GEMINI;
			} else if (sig.n) {
				pend = sig;
			}
			continue;
		}
		if (!fc && !json_get(pt, "text"))
			continue;       /* inline media output: no IR form */
		resp->parts = px_vgrow(a, resp->parts, resp->nparts, &cap,
		    sizeof *p);
		if (!resp->parts) {
			px_err_set(err, 502, "response too large");
			return -1;
		}
		p = &resp->parts[resp->nparts++];
		if (fc) {
			const struct json *args = json_get(fc, "args");
			p->type = IR_TOOL_CALL;
			p->name = px_jget(fc, "name");
			p->id = px_jget(fc, "id");
			if (!p->id.n)
				p->id = px_new_id(a, "call_");
			p->args = args && args->type == JSON_OBJECT ?
			    px_json_compact(a, args) : px_str_c("{}");
			calls++;
		} else {
			thought = 0;
			json_bool(json_get(pt, "thought"), &thought);
			p->type = thought ? IR_THINKING : IR_TEXT;
			p->text = px_jget(pt, "text");
		}
		if (!sig.n && pend.n) {
			sig = pend;
			pend.n = 0;
		}
		if (sig.n) {
			p->signature = sig;
			p->sig_fmt = PX_FMT_GEMINI;
		}
	}
	fr = px_jget(cand, "finishReason");
	resp->native_stop = fr;
	resp->stop = finish_map(fr, calls);
	return 0;
}

/* ------------------------------------------------ response: encode */

/* The usageMetadata object (a value: after its key, or a document). */
static void
usage_obj(struct jw *w, const struct ir_usage *u)
{
	long long in = u->input > 0 ? u->input : 0;
	long long out = u->output > 0 ? u->output : 0;
	long long th = u->reasoning > 0 ? u->reasoning : 0;

	jw_obj(w);
	jw_kint(w, "promptTokenCount", in);
	jw_kint(w, "candidatesTokenCount", out > th ? out - th : 0);
	jw_kint(w, "totalTokenCount", in + out);
	if (u->cache_read > 0)
		jw_kint(w, "cachedContentTokenCount", u->cache_read);
	if (th)
		jw_kint(w, "thoughtsTokenCount", th);
	jw_obj_end(w);
}

static void
usage_enc(struct jw *w, const struct ir_usage *u)
{
	jw_key(w, "usageMetadata");
	usage_obj(w, u);
}

/* IR args text -> args object, parsed in tmp (WIRE.md §2.5) */
static void
args_out(struct jw *w, struct px_arena *tmp, struct px_str args)
{
	struct json *v = args.n ? json_parse(tmp, args.p, args.n, 0, NULL) :
	    NULL;

	if (v && v->type == JSON_OBJECT) {
		jw_value(w, v);
		return;
	}
	jw_obj(w);
	if (args.n)
		jw_kstr(w, "_raw", args.p, args.n);
	jw_obj_end(w);
}

/* 1 when part_out() writes something for p */
static int
part_emits(const struct ir_part *p)
{
	if (p->type == IR_TOOL_CALL)
		return 1;
	if (p->type != IR_TEXT && p->type != IR_THINKING)
		return 0;
	return p->text.n || (p->signature.n && p->sig_fmt == PX_FMT_GEMINI);
}

/* One content part for a Gemini client; 0 when there is nothing to send. */
static int
part_out(struct jw *w, struct px_arena *tmp, const struct ir_part *p)
{
	int gsig = p->signature.n && p->sig_fmt == PX_FMT_GEMINI;

	switch (p->type) {
	case IR_TEXT:
	case IR_THINKING:
		if (!p->text.n && !gsig)
			return 0;
		jw_obj(w);
		jw_kstr(w, "text", p->text.p, p->text.n);
		if (p->type == IR_THINKING)
			jw_kbool(w, "thought", 1);
		sig_out(w, p);
		jw_obj_end(w);
		return 1;
	case IR_TOOL_CALL:
		jw_obj(w);
		jw_key(w, "functionCall");
		jw_obj(w);
		if (p->id.n)
			jw_kstr(w, "id", p->id.p, p->id.n);
		jw_kstr(w, "name", p->name.p, p->name.n);
		jw_key(w, "args");
		args_out(w, tmp, p->args);
		jw_obj_end(w);
		sig_out(w, p);
		jw_obj_end(w);
		return 1;
	default:
		return 0;
	}
}

static struct px_str
echo_model(const struct ir_request *req, struct px_str up)
{
	return req && req->model.n ? req->model : up;
}

static int
gm_encode_response(const struct ir_request *req,
                   const struct ir_response *resp, struct jw *w,
                   struct px_err *err)
{
	struct px_arena tmp;
	struct px_str model = echo_model(req, resp->model), id = resp->id;
	size_t i, k = 0;

	(void)err;
	px_arena_init(&tmp, 0);
	if (!id.n)
		id = px_new_id(w->arena ? w->arena : &tmp, "");
	jw_obj(w);
	jw_key(w, "candidates");
	jw_arr(w);
	jw_obj(w);
	jw_key(w, "content");
	jw_obj(w);
	for (i = 0; i < resp->nparts; i++) {
		if (!part_emits(&resp->parts[i]))
			continue;
		/* parts only when there is one: never "parts": [] */
		if (!k++) {
			jw_key(w, "parts");
			jw_arr(w);
		}
		part_out(w, &tmp, &resp->parts[i]);
	}
	if (k)
		jw_arr_end(w);
	jw_kcstr(w, "role", "model");
	jw_obj_end(w);
	jw_kcstr(w, "finishReason", finish_name(resp->stop));
	jw_kint(w, "index", 0);
	jw_obj_end(w);
	jw_arr_end(w);
	if (resp->stop == IR_STOP_CONTENT_FILTER && resp->nparts == 0 &&
	    px_str_eq(resp->native_stop, "PROHIBITED_CONTENT")) {
		jw_key(w, "promptFeedback");
		jw_obj(w);
		jw_kcstr(w, "blockReason", "PROHIBITED_CONTENT");
		jw_obj_end(w);
	}
	usage_enc(w, &resp->usage);
	jw_kstr(w, "modelVersion", model.p, model.n);
	jw_kstr(w, "responseId", id.p, id.n);
	jw_obj_end(w);
	px_arena_free(&tmp);
	return 0;
}

/* ---------------------------------------------------------- errors */

static const struct { int status; const char *name; } rpc_names[] = {
	{ 400, "INVALID_ARGUMENT" }, { 400, "FAILED_PRECONDITION" },
	{ 400, "OUT_OF_RANGE" }, { 401, "UNAUTHENTICATED" },
	{ 403, "PERMISSION_DENIED" }, { 404, "NOT_FOUND" },
	{ 409, "ABORTED" }, { 409, "ALREADY_EXISTS" },
	{ 429, "RESOURCE_EXHAUSTED" }, { 499, "CANCELLED" },
	{ 500, "INTERNAL" }, { 500, "UNKNOWN" }, { 500, "DATA_LOSS" },
	{ 501, "UNIMPLEMENTED" }, { 503, "UNAVAILABLE" },
	{ 504, "DEADLINE_EXCEEDED" }, { 0, NULL }
};

static int
rpc_status(struct px_str name)
{
	int i;

	for (i = 0; rpc_names[i].name; i++)
		if (px_str_eq(name, rpc_names[i].name))
			return rpc_names[i].status;
	return 0;
}

static const char *
rpc_name(int status)
{
	switch (status) {
	case 400: case 413: return "INVALID_ARGUMENT";
	case 401: return "UNAUTHENTICATED";
	case 402: case 403: return "PERMISSION_DENIED";
	case 404: return "NOT_FOUND";
	case 408: case 504: return "DEADLINE_EXCEEDED";
	case 409: return "ABORTED";
	case 429: return "RESOURCE_EXHAUSTED";
	case 501: return "UNIMPLEMENTED";
	case 502: case 503: case 529: return "UNAVAILABLE";
	default: return status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
	}
}

static void
gm_decode_error(const struct json *root, struct ir_error *e)
{
	const struct json *er;
	struct px_str st;
	long long code;
	int s;

	if (root && root->type == JSON_ARRAY)
		root = root->child;      /* array-stream bodies: [{"error":..}] */
	er = json_get(root, "error");
	if (!er || er->type != JSON_OBJECT)
		return;
	e->message = px_jget(er, "message");
	st = px_jget(er, "status");
	e->code = st;
	if (e->status <= 0) {
		if (json_int(json_get(er, "code"), &code) && code >= 400 &&
		    code < 600)
			e->status = (int)code;
		else if ((s = rpc_status(st)))
			e->status = s;
		if (e->status > 0)
			e->kind = px_kind_from_status(e->status);
	}
}

static void
gm_encode_error(const struct ir_error *e, struct jw *out)
{
	int st = px_error_status(PX_FMT_GEMINI, e);
	const char *name = rpc_name(st);

	/* keep Gemini's own status name when it fits the HTTP code */
	if (e->code.n && rpc_status(e->code) == st)
		name = NULL;
	jw_obj(out);
	jw_key(out, "error");
	jw_obj(out);
	jw_kint(out, "code", st);
	jw_kstr(out, "message", e->message.p ? e->message.p : "", e->message.n);
	if (name)
		jw_kcstr(out, "status", name);
	else
		jw_kstr(out, "status", e->code.p, e->code.n);
	jw_obj_end(out);
	jw_obj_end(out);
}

/* ------------------------------------------------- stream: decoder */

struct gd {
	int open;                /* open IR block type + 1, 0 = none */
	int calls, finished;
	struct px_str pend_sig;  /* signature-only part, no block open */
	struct ir_usage usage;   /* latest usageMetadata (cumulative) */
};

static void *
gd_new(struct px_stream *s)
{
	struct gd *d = px_zalloc(s->a, sizeof *d);

	if (d)
		ir_usage_init(&d->usage);
	return d;
}

static void
gev(struct ir_event *e, enum ir_ev_kind k)
{
	memset(e, 0, sizeof *e);
	e->kind = k;
	ir_usage_init(&e->usage);
}

static void
gd_close(struct px_stream *s, struct gd *d)
{
	struct ir_event e;

	if (!d->open)
		return;
	gev(&e, IR_EV_BLOCK_STOP);
	px_emit(s, &e);
	d->open = 0;
}

static void
gd_open(struct px_stream *s, struct gd *d, enum ir_part_type t)
{
	struct ir_event e;

	if (d->open == (int)t + 1)
		return;
	gd_close(s, d);
	gev(&e, IR_EV_BLOCK_START);
	e.block = t;
	px_emit(s, &e);
	d->open = (int)t + 1;
}

static int
gd_feed(struct px_stream *s, void *st, const struct sse_event *sev,
        const struct json *root)
{
	struct gd *d = st;
	const struct json *er, *cand, *pt, *fc, *u;
	struct ir_event e;
	struct px_str sig, t, fr, br;
	long long code;
	int thought;

	(void)sev;
	if (!root)
		return 0;
	if (root->type == JSON_ARRAY)
		root = root->child;
	if (!root || root->type != JSON_OBJECT)
		return 0;
	if ((er = json_get(root, "error"))) {
		/* in-band error (WIRE.md §1): js-genai's own shape */
		gev(&e, IR_EV_ERROR);
		e.err.message = px_jget(er, "message");
		e.err.code = px_jget(er, "status");
		if (json_int(json_get(er, "code"), &code) && code >= 400 &&
		    code < 600)
			e.err.status = (int)code;
		else
			e.err.status = rpc_status(e.err.code) ?
			    rpc_status(e.err.code) : 500;
		e.err.kind = px_kind_from_status(e.err.status);
		px_emit(s, &e);
		return 0;
	}
	if ((u = json_get(root, "usageMetadata")))
		usage_dec(u, &d->usage);   /* cumulative: replace (§6.23) */
	gev(&e, IR_EV_START);
	e.id = px_jget(root, "responseId");
	e.model = px_jget(root, "modelVersion");
	/* the prompt side is known from the first chunk on */
	e.usage.input = d->usage.input;
	e.usage.cache_read = d->usage.cache_read;
	px_emit(s, &e);                 /* later STARTs are dropped */
	cand = json_at(json_get(root, "candidates"), 0);
	pt = json_get(json_get(cand, "content"), "parts");
	for (pt = pt ? pt->child : NULL; pt; pt = pt->next) {
		sig = px_jget(pt, "thoughtSignature");
		if ((fc = json_get(pt, "functionCall"))) {
			/* Gemini sends whole calls: one complete block (§4.5) */
			const struct json *args = json_get(fc, "args");
			gd_close(s, d);
			gev(&e, IR_EV_BLOCK_START);
			e.block = IR_TOOL_CALL;
			e.name = px_jget(fc, "name");
			e.id = px_jget(fc, "id");
			if (!e.id.n)
				e.id = px_new_id(s->a, "call_");
			px_emit(s, &e);
			gev(&e, IR_EV_DELTA);
			e.text = args && args->type == JSON_OBJECT ?
			    px_json_compact(&s->scratch, args) :
			    px_str_c("{}");
			e.signature = sig.n ? sig : d->pend_sig;
			d->pend_sig.n = 0;
			px_emit(s, &e);
			gev(&e, IR_EV_BLOCK_STOP);
			px_emit(s, &e);
			d->calls++;
			continue;
		}
		if (!json_get(pt, "text"))
			continue;        /* inline media output: no IR form */
		t = px_jget(pt, "text");
		if (!t.n) {
			/* signature-only part is not text (§4.5) */
			if (!sig.n)
				continue;
			if (d->open) {
				gev(&e, IR_EV_DELTA);
				e.signature = sig;
				px_emit(s, &e);
			} else {
				d->pend_sig = px_str_dup(s->a, sig.p, sig.n);
			}
			continue;
		}
		thought = 0;
		json_bool(json_get(pt, "thought"), &thought);
		gd_open(s, d, thought ? IR_THINKING : IR_TEXT);
		gev(&e, IR_EV_DELTA);
		e.text = t;
		e.signature = sig.n ? sig : d->pend_sig;
		d->pend_sig.n = 0;
		px_emit(s, &e);
	}
	fr = px_jget(cand, "finishReason");
	br = px_jget(json_get(root, "promptFeedback"), "blockReason");
	if (fr.n || (!cand && br.n)) {
		gd_close(s, d);
		gev(&e, IR_EV_FINISH);
		e.stop = fr.n ? finish_map(fr, d->calls) :
		    IR_STOP_CONTENT_FILTER;
		e.usage = d->usage;
		d->finished = 1;
		px_emit(s, &e);
	}
	return 0;
}

static int
gd_end(struct px_stream *s, void *st)
{
	struct gd *d = st;

	(void)s;
	return d->finished;
}

/* ------------------------------------------------- stream: encoder */

/*
 * One chunk per IR event that has something to show, written when the event
 * arrives: a text or thought delta is a chunk with that one part. Only a
 * tool call waits, for its BLOCK_STOP: Gemini carries whole calls with the
 * arguments as an object (WIRE.md §4.5). FINISH is a chunk of its own,
 * parts [{"text":""}] with finishReason and usageMetadata (the shape Gemini
 * itself ends streams with, and one js-genai's chats keep: a chunk with
 * parts [] or without parts would make them drop the turn, WIRE.md Part 2
 * §4). The constant parts of a chunk are built once per stream.
 */
struct ge {
	int array;               /* JSON-array body instead of SSE */
	int nel;                 /* elements/events written */
	int dead;                /* terminal element written */
	struct px_str tail;      /* ],"role":"model"},"index":0}],"modelVersion":
	                            "..","responseId":".."} */
	struct px_str meta;      /* the "modelVersion":... end of tail */
	/* tool call being assembled */
	struct px_str call_id, call_name, call_sig;
	char *args;
	size_t nargs, cargs;
	int overflow;
	int open;                /* IR block type + 1 */
};

#define GE_HEAD "{\"candidates\":[{\"content\":{\"parts\":["

static void *
ge_new(struct px_stream *s)
{
	struct ge *g = px_zalloc(s->a, sizeof *g);

	if (!g)
		return NULL;
	g->array = s->req && s->req->gemini_array_stream;
	return g;
}

static void
ge_begin(struct px_stream *s, void *st, struct jw *out)
{
	struct ge *g = st;

	(void)s;
	if (g->array)
		jw_put(out, "[", 1);
}

/* g->tail, at the first chunk (START has set id and model). */
static int
ge_tail(struct px_stream *s, struct ge *g, struct jw *out)
{
	struct px_str id;
	struct jw b;
	size_t k;

	if (g->tail.n)
		return 0;
	id = s->id.n ? s->id : px_new_id(s->a, "");
	jw_init(&b, s->a, 0);
	/* role on every chunk: js-genai chats record an empty turn
	 * otherwise (WIRE.md §4.5) */
	jw_puts(&b, "],\"role\":\"model\"},\"index\":0}],");
	k = b.len;
	jw_puts(&b, "\"modelVersion\":\"");
	px_put_esc(&b, echo_model(s->req, s->model));
	jw_puts(&b, "\",\"responseId\":\"");
	px_put_esc(&b, id);
	jw_puts(&b, "\"}");
	g->tail = px_jw_view(&b);
	if (!g->tail.n) {
		out->err = 1;
		return -1;
	}
	g->meta.p = g->tail.p + k;
	g->meta.n = g->tail.n - k;
	return 0;
}

/* Element framing: "data: " ... "\n\n" (data-only events: js-genai drops
 * events with an event: line, WIRE.md Part 2 §4), or array elements joined
 * like Google does ("[" came from senc_begin). */
static void
ge_open_el(struct ge *g, struct jw *out)
{
	if (!g->array)
		jw_put(out, "data: ", 6);
	else if (g->nel)
		jw_put(out, ",\r\n", 3);
}

static void
ge_close_el(struct ge *g, struct jw *out)
{
	if (!g->array)
		jw_put(out, "\n\n", 2);
	g->nel++;
}

static void
ge_error(struct px_stream *s, struct ge *g, const struct ir_error *e,
         struct jw *out)
{
	(void)s;
	ge_open_el(g, out);
	px_jw_doc(out);
	gm_encode_error(e, out);
	ge_close_el(g, out);
	if (g->array)
		jw_put(out, "]", 1);
	g->dead = 1;
}

static void
ge_tool_done(struct px_stream *s, struct ge *g, struct jw *out)
{
	struct px_str a = { g->args, g->nargs };

	if (g->overflow) {
		struct ir_error e;
		memset(&e, 0, sizeof e);
		e.kind = IR_ERR_BAD_GATEWAY;
		e.status = 502;
		e.message = px_str_c("tool call arguments exceed the proxy's "
		    "buffer (PX_STREAM_ARGS_MAX)");
		ge_error(s, g, &e, out);
		return;
	}
	if (ge_tail(s, g, out))
		return;
	ge_open_el(g, out);
	jw_put(out, GE_HEAD, sizeof GE_HEAD - 1);
	px_jw_doc(out);
	jw_obj(out);
	jw_key(out, "functionCall");
	jw_obj(out);
	if (g->call_id.n)
		jw_kstr(out, "id", g->call_id.p, g->call_id.n);
	jw_kstr(out, "name", g->call_name.p, g->call_name.n);
	jw_key(out, "args");
	args_out(out, &s->scratch, a);
	jw_obj_end(out);
	if (g->call_sig.n)
		jw_kstr(out, "thoughtSignature", g->call_sig.p, g->call_sig.n);
	jw_obj_end(out);
	jw_put(out, g->tail.p, g->tail.n);
	ge_close_el(g, out);
}

/* A text or thought part, sent at once. */
static void
ge_text(struct px_stream *s, struct ge *g, const struct ir_event *ev,
        int gsig, struct jw *out)
{
	if (ge_tail(s, g, out))
		return;
	ge_open_el(g, out);
	jw_put(out, GE_HEAD "{\"text\":\"", sizeof GE_HEAD + 8);
	px_put_esc(out, ev->text);
	if (g->open - 1 == IR_THINKING)
		jw_put(out, "\",\"thought\":true", 16);
	else
		jw_put(out, "\"", 1);
	if (gsig) {
		jw_puts(out, ",\"thoughtSignature\":\"");
		px_put_esc(out, ev->signature);
		jw_put(out, "\"", 1);
	}
	jw_put(out, "}", 1);
	jw_put(out, g->tail.p, g->tail.n);
	ge_close_el(g, out);
}

/* The last chunk: finishReason and the final usage, on an empty text
 * part of their own. */
static void
ge_finish(struct px_stream *s, struct ge *g, const struct ir_event *ev,
          struct jw *out)
{
	if (ge_tail(s, g, out))
		return;
	ge_open_el(g, out);
	jw_puts(out, GE_HEAD "{\"text\":\"\"}],\"role\":\"model\"},"
	    "\"finishReason\":\"");
	jw_puts(out, finish_name(ev->stop));
	jw_puts(out, "\",\"index\":0}],\"usageMetadata\":");
	px_jw_doc(out);
	usage_obj(out, &s->usage);
	jw_put(out, ",", 1);
	jw_put(out, g->meta.p, g->meta.n);
	ge_close_el(g, out);
	if (g->array)
		jw_put(out, "]", 1);
	g->dead = 1;
}

static void
ge_event(struct px_stream *s, void *st, const struct ir_event *ev,
         struct jw *out)
{
	struct ge *g = st;
	int gsig = ev->signature.n && s->up == PX_FMT_GEMINI;

	if (g->dead)
		return;
	switch (ev->kind) {
	case IR_EV_START:
	case IR_EV_PING:
		break;
	case IR_EV_BLOCK_START:
		g->open = (int)ev->block + 1;
		if (ev->block == IR_TOOL_CALL) {
			g->call_id = px_str_dup(s->a, ev->id.p, ev->id.n);
			g->call_name = px_str_dup(s->a, ev->name.p, ev->name.n);
			g->call_sig.n = 0;
			g->nargs = 0;
			g->overflow = 0;
		}
		break;
	case IR_EV_DELTA:
		if (g->open - 1 == IR_TOOL_CALL) {
			if (gsig)
				g->call_sig = px_str_dup(s->a, ev->signature.p,
				    ev->signature.n);
			if (!ev->text.n || g->overflow)
				break;
			/* whole arguments are needed: buffer (§4.5) */
			if (g->nargs + ev->text.n > PX_STREAM_ARGS_MAX) {
				g->overflow = 1;
				break;
			}
			if (g->nargs + ev->text.n > g->cargs) {
				size_t nc = g->cargs ? g->cargs * 2 : 1024;
				char *q;
				while (nc < g->nargs + ev->text.n)
					nc *= 2;
				q = px_arena_alloc(s->a, nc);
				if (!q) {
					g->overflow = 1;
					break;
				}
				if (g->nargs)
					memcpy(q, g->args, g->nargs);
				g->args = q;
				g->cargs = nc;
			}
			memcpy(g->args + g->nargs, ev->text.p, ev->text.n);
			g->nargs += ev->text.n;
			break;
		}
		if (g->open - 1 != IR_TEXT && g->open - 1 != IR_THINKING)
			break;
		if (!ev->text.n && !gsig)
			break;
		ge_text(s, g, ev, gsig, out);
		break;
	case IR_EV_BLOCK_STOP:
		if (g->open - 1 == IR_TOOL_CALL)
			ge_tool_done(s, g, out);
		g->open = 0;
		break;
	case IR_EV_FINISH:
		ge_finish(s, g, ev, out);
		break;
	case IR_EV_ERROR:
		ge_error(s, g, &ev->err, out);
		break;
	}
}

/* see convert_int.h */
const struct px_codec px_codec_gemini = {
	PX_FMT_GEMINI,
	gm_decode_request,
	gm_encode_request,
	gm_decode_response,
	gm_encode_response,
	gm_decode_error,
	gm_encode_error,
	gd_new,
	gd_feed,
	gd_end,
	ge_new,
	ge_begin,
	ge_event,
	NULL,
};

/* ------------------------------------ embeddings and converted token counts */

/* Parse a whole body that must be a JSON object; 502 (an upstream answer)
 * or 400 (a client request) on failure. */
static struct json *
gx_parse(struct px_arena *a, const char *body, size_t n, int status,
         struct px_err *err)
{
	struct json_err je;
	struct json *root;

	memset(&je, 0, sizeof je);
	root = json_parse(a, body, n, 0, &je);
	if (!root) {
		px_err_set(err, je.code == JSON_ERR_NOMEM ? 413 : status,
		    "invalid JSON at byte %zu: %s", je.pos,
		    je.msg ? je.msg : "syntax error");
		return NULL;
	}
	if (root->type != JSON_OBJECT) {
		px_err_set(err, status, "body is not a JSON object");
		return NULL;
	}
	return root;
}

/* "models/M" for a model given with or without the prefix. */
static void
gx_model_name(struct jw *w, struct px_str model)
{
	jw_raw(w, "\"", 1);
	if (!px_str_prefix(model, "models/"))
		jw_escaped(w, "models/", 7);
	jw_escaped(w, model.p ? model.p : "", model.p ? model.n : 0);
	jw_put(w, "\"", 1);
}

/* see convert.h */
int
px_embed_gemini_batch(const struct px_embed_req *r)
{
	return r->ninputs != 1;
}

static void
gx_embed_content(struct jw *w, const struct px_embed_req *r, size_t i)
{
	jw_key(w, "content");
	jw_obj(w);
	jw_key(w, "parts");
	jw_arr(w);
	jw_obj(w);
	jw_key(w, "text");
	px_jw_str(w, r->inputs[i]);
	jw_obj_end(w);
	jw_arr_end(w);
	jw_obj_end(w);
	if (r->dimensions > 0)
		jw_kint(w, "outputDimensionality", r->dimensions);
}

/* see convert.h */
int
px_embed_encode_gemini(const struct px_embed_req *r, struct px_str model,
                       struct jw *out, struct px_err *err)
{
	size_t i;

	if (r->tokens || !r->inputs) {
		px_err_set(err, 400, "token id input is not supported for "
		    "Gemini embedding models: send the text as a string or an "
		    "array of strings");
		return -1;
	}
	jw_obj(out);
	if (!px_embed_gemini_batch(r)) {
		gx_embed_content(out, r, 0);
	} else {
		jw_key(out, "requests");
		jw_arr(out);
		for (i = 0; i < r->ninputs; i++) {
			jw_obj(out);
			jw_key(out, "model");
			gx_model_name(out, model);
			gx_embed_content(out, r, i);
			jw_obj_end(out);
		}
		jw_arr_end(out);
	}
	jw_obj_end(out);
	if (out->err) {
		px_err_set(err, 413, "converted request too large");
		return -1;
	}
	return 0;
}

/* Little-endian float32 of each value, base64, as a JSON string. */
static int
gx_embed_base64(struct jw *w, const struct json *vals)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const struct json *v;
	unsigned char q[3];
	char o[4];
	size_t nq = 0;
	uint32_t bits;
	double d;
	float f;
	int k;

	jw_raw(w, "\"", 1);
	for (v = vals->child; v; v = v->next) {
		if (v->type != JSON_NUMBER || !json_num(v, &d))
			return -1;
		/* out-of-range conversion is undefined: saturate to inf */
		if (d > 3.4028234663852886e38)
			f = HUGE_VALF;
		else if (d < -3.4028234663852886e38)
			f = -HUGE_VALF;
		else
			f = (float)d;
		memcpy(&bits, &f, sizeof bits);
		for (k = 0; k < 4; k++) {
			q[nq++] = (unsigned char)(bits >> (8 * k));
			if (nq == 3) {
				o[0] = b64[q[0] >> 2];
				o[1] = b64[((q[0] & 3) << 4) | (q[1] >> 4)];
				o[2] = b64[((q[1] & 15) << 2) | (q[2] >> 6)];
				o[3] = b64[q[2] & 63];
				jw_put(w, o, 4);
				nq = 0;
			}
		}
	}
	if (nq) {
		if (nq == 1)
			q[1] = 0;
		o[0] = b64[q[0] >> 2];
		o[1] = b64[((q[0] & 3) << 4) | (q[1] >> 4)];
		o[2] = nq == 2 ? b64[(q[1] & 15) << 2] : '=';
		o[3] = '=';
		jw_put(w, o, 4);
	}
	jw_put(w, "\"", 1);
	return 0;
}

/* see convert.h */
int
px_embed_decode_gemini(struct px_arena *a, const struct px_embed_req *r,
                       const char *body, size_t n, struct jw *out,
                       long long *tokens, struct px_err *err)
{
	struct json *root, *one, *list, *e, *vals, *um;
	long long t = -1;
	size_t count, i;

	if (tokens)
		*tokens = -1;
	root = gx_parse(a, body, n, 502, err);
	if (!root)
		return -1;
	one = json_get(root, "embedding");
	list = json_get(root, "embeddings");
	if (one && one->type == JSON_OBJECT) {
		count = 1;
		e = one;
	} else if (list && list->type == JSON_ARRAY) {
		count = list->len;
		e = list->child;
	} else {
		px_err_set(err, 502, "upstream embeddings answer has no "
		    "\"embedding\" or \"embeddings\"");
		return -1;
	}
	if (count != r->ninputs) {
		px_err_set(err, 502, "upstream returned %zu embeddings for %zu "
		    "inputs", count, r->ninputs);
		return -1;
	}
	um = json_get(root, "usageMetadata");
	if (!json_int(json_get(um, "promptTokenCount"), &t))
		if (!json_int(json_get(um, "totalTokenCount"), &t))
			t = -1;
	jw_obj(out);
	jw_kcstr(out, "object", "list");
	jw_key(out, "data");
	jw_arr(out);
	for (i = 0; i < count; i++, e = e->next) {
		vals = json_get(e, "values");
		if (!vals || vals->type != JSON_ARRAY) {
			px_err_set(err, 502, "upstream embedding %zu has no "
			    "\"values\" array", i);
			return -1;
		}
		jw_obj(out);
		jw_kcstr(out, "object", "embedding");
		jw_kint(out, "index", (long long)i);
		jw_key(out, "embedding");
		if (r->base64) {
			if (gx_embed_base64(out, vals) < 0)
				goto badval;
		} else {
			const struct json *v;
			jw_arr(out);
			for (v = vals->child; v; v = v->next) {
				if (v->type != JSON_NUMBER)
					goto badval;
				jw_raw(out, v->s, v->n);   /* as written */
			}
			jw_arr_end(out);
		}
		jw_obj_end(out);
	}
	jw_arr_end(out);
	jw_key(out, "model");
	px_jw_str(out, r->model);
	jw_key(out, "usage");
	jw_obj(out);
	jw_kint(out, "prompt_tokens", t < 0 ? 0 : t);
	jw_kint(out, "total_tokens", t < 0 ? 0 : t);
	jw_obj_end(out);
	jw_obj_end(out);
	if (out->err) {
		px_err_set(err, 502, "converted embeddings answer too large");
		return -1;
	}
	if (tokens)
		*tokens = t;
	return 0;
badval:
	px_err_set(err, 502, "upstream embedding %zu has a value that is not "
	    "a number", i);
	return -1;
}

/* see convert.h */
int
px_count_unwrap_gemini(struct px_arena *a, const char *body, size_t n,
                       struct px_str *inner, struct px_err *err)
{
	struct json *root, *g;

	root = gx_parse(a, body, n, 400, err);
	if (!root)
		return -1;
	g = json_get(root, "generateContentRequest");
	if (g && g->type != JSON_NULL) {
		if (g->type != JSON_OBJECT) {
			px_err_set(err, 400, "\"generateContentRequest\" must be "
			    "an object");
			return -1;
		}
		inner->p = g->raw;
		inner->n = g->rawlen;
	} else {
		inner->p = body;
		inner->n = n;
	}
	return 0;
}

/* see convert.h */
int
px_count_request_gemini(struct px_arena *a, const struct ir_request *req,
                        struct px_str model, struct jw *out,
                        struct px_err *err)
{
	struct jw full;
	struct json *root, *m;

	jw_init(&full, a, out->max);
	if (px_encode_request(PX_FMT_GEMINI, req, model, &full, err) < 0)
		return -1;
	root = gx_parse(a, full.buf, full.len, 500, err);
	if (!root)
		return -1;
	jw_obj(out);
	jw_key(out, "generateContentRequest");
	jw_obj(out);
	jw_key(out, "model");
	gx_model_name(out, model);
	for (m = root->child; m; m = m->next)
		if (strcmp(m->key, "model") != 0) {
			jw_keyn(out, m->key, m->keylen);
			jw_raw(out, m->raw, m->rawlen);
		}
	jw_obj_end(out);
	jw_obj_end(out);
	if (out->err) {
		px_err_set(err, 413, "converted request too large");
		return -1;
	}
	return 0;
}

/* see convert.h */
int
px_count_tokens_gemini(struct px_arena *a, const char *body, size_t n,
                       long long *tokens, struct px_err *err)
{
	struct json *root, *t;

	root = gx_parse(a, body, n, 502, err);
	if (!root)
		return -1;
	t = json_get(root, "totalTokens");
	*tokens = 0;
	if (t && !(json_int(t, tokens) && *tokens >= 0)) {
		px_err_set(err, 502, "upstream \"totalTokens\" is not a count");
		return -1;
	}
	return 0;
}

/* ---------------------- Gemini clients' embedContent / batchEmbedContents */

/* The model value "models/M" written raw (no comma logic). */
static void
gx_put_model(struct jw *w, struct px_str model)
{
	jw_put(w, "\"", 1);
	if (!px_str_prefix(model, "models/"))
		jw_put(w, "models/", 7);
	jw_escaped(w, model.p ? model.p : "", model.p ? model.n : 0);
	jw_put(w, "\"", 1);
}

/* Copy body[*pos..m's value) and then the model in place of that value. */
static void
gx_swap_model(struct jw *w, const char *body, size_t *pos,
              const struct json *m, struct px_str model)
{
	size_t off = (size_t)(m->raw - body);

	jw_put(w, body + *pos, off - *pos);
	gx_put_model(w, model);
	*pos = off + m->rawlen;
}

/* see convert.h */
int
px_embed_gemini_rewrite(struct px_arena *a, const char *body, size_t n,
                        int batch, struct px_str model, struct jw *out,
                        struct px_err *err)
{
	struct json *root, *m, *e, *f;
	size_t pos = 0, off;
	int seen;

	root = gx_parse(a, body, n, 400, err);
	if (!root)
		return -1;
	if (batch) {
		e = json_get(root, "requests");
		if (!e || e->type != JSON_ARRAY || e->len == 0) {
			px_err_set(err, 400, "\"requests\" must be a non-empty "
			    "array of EmbedContentRequest objects");
			return -1;
		}
		for (e = e->child; e; e = e->next)
			if (e->type != JSON_OBJECT) {
				px_err_set(err, 400, "\"requests\" must be a "
				    "non-empty array of EmbedContentRequest "
				    "objects");
				return -1;
			}
	}
	/* members in document order, so the copy runs front to back */
	for (m = root->child; m; m = m->next) {
		if (strcmp(m->key, "model") == 0) {
			gx_swap_model(out, body, &pos, m, model);
			continue;
		}
		if (!batch || strcmp(m->key, "requests") != 0 ||
		    m->type != JSON_ARRAY)
			continue;
		for (e = m->child; e; e = e->next) {
			seen = 0;
			for (f = e->child; f; f = f->next)
				if (strcmp(f->key, "model") == 0) {
					gx_swap_model(out, body, &pos, f, model);
					seen = 1;
				}
			if (seen)
				continue;
			/* Gemini wants each request's model, matching the URL */
			off = (size_t)(e->raw - body) + 1;    /* after '{' */
			jw_put(out, body + pos, off - pos);
			jw_put(out, "\"model\":", 8);
			gx_put_model(out, model);
			if (e->len)
				jw_put(out, ",", 1);
			pos = off;
		}
	}
	jw_put(out, body + pos, n - pos);
	if (out->err) {
		px_err_set(err, 413, "converted request too large");
		return -1;
	}
	return 0;
}

/* The text of one EmbedContentRequest: its content's text parts joined. */
static int
gx_embed_text(struct px_arena *a, const struct json *rq, size_t i,
              struct px_str *text, long long *dims, struct px_err *err)
{
	const struct json *c, *parts, *p, *t, *d;
	size_t len = 0;
	char *buf, *q;

	c = json_get(rq, "content");
	parts = json_get(c, "parts");
	if (!c || c->type != JSON_OBJECT || !parts ||
	    parts->type != JSON_ARRAY || parts->len == 0) {
		px_err_set(err, 400, "request %zu: \"content\" must be an "
		    "object with a non-empty \"parts\" array", i);
		return -1;
	}
	for (p = parts->child; p; p = p->next) {
		t = json_get(p, "text");
		if (p->type != JSON_OBJECT || !t || t->type != JSON_STRING) {
			px_err_set(err, 400, "request %zu: only text parts can "
			    "be embedded by this model's upstream (OpenAI "
			    "embeddings take text)", i);
			return -1;
		}
		len += t->n;
	}
	if (parts->len == 1) {
		*text = px_str_json(json_get(parts->child, "text"));
	} else {
		buf = px_arena_alloc(a, len + 1);
		if (!buf) {
			px_err_set(err, 413, "request too large");
			return -1;
		}
		for (q = buf, p = parts->child; p; p = p->next) {
			t = json_get(p, "text");
			memcpy(q, t->s, t->n);
			q += t->n;
		}
		*q = 0;
		text->p = buf;
		text->n = len;
	}
	*dims = -1;
	d = json_get(rq, "outputDimensionality");
	if (d && d->type != JSON_NULL && (!json_int(d, dims) || *dims <= 0 ||
	    *dims > 1000000)) {
		px_err_set(err, 400, "request %zu: \"outputDimensionality\" "
		    "must be a positive integer", i);
		return -1;
	}
	return 0;
}

/* see convert.h */
int
px_embed_decode_gemini_request(struct px_arena *a, const char *body,
                               size_t n, int batch, struct px_str model,
                               struct px_embed_req *r, struct px_err *err)
{
	struct json *root, *list, *e;
	long long dims;
	size_t i;

	memset(r, 0, sizeof *r);
	r->dimensions = -1;
	r->model = model;
	root = gx_parse(a, body, n, 400, err);
	if (!root)
		return -1;
	if (!batch) {
		r->inputs = px_zalloc(a, sizeof *r->inputs);
		if (!r->inputs)
			goto nomem;
		r->ninputs = 1;
		return gx_embed_text(a, root, 0, &r->inputs[0], &r->dimensions,
		    err);
	}
	list = json_get(root, "requests");
	if (!list || list->type != JSON_ARRAY || list->len == 0) {
		px_err_set(err, 400, "\"requests\" must be a non-empty array of "
		    "EmbedContentRequest objects");
		return -1;
	}
	if (list->len > PX_EMBED_INPUTS_MAX) {
		px_err_set(err, 400, "\"requests\" has %zu items; at most %u are "
		    "allowed", list->len, (unsigned)PX_EMBED_INPUTS_MAX);
		return -1;
	}
	r->inputs = px_zalloc(a, list->len * sizeof *r->inputs);
	if (!r->inputs)
		goto nomem;
	for (i = 0, e = list->child; e; e = e->next, i++) {
		if (e->type != JSON_OBJECT) {
			px_err_set(err, 400, "request %zu is not an object", i);
			return -1;
		}
		if (gx_embed_text(a, e, i, &r->inputs[i], &dims, err) < 0)
			return -1;
		/* OpenAI takes one dimensions value for the whole call */
		if (i > 0 && dims != r->dimensions) {
			px_err_set(err, 400, "request %zu: \"outputDimensionality\" "
			    "differs from request 0; this model's upstream takes "
			    "one value for the whole batch", i);
			return -1;
		}
		r->dimensions = dims;
	}
	r->ninputs = list->len;
	return 0;
nomem:
	px_err_set(err, 413, "request too large");
	return -1;
}

/* see convert.h */
int
px_embed_encode_gemini_answer(struct px_arena *a, const struct px_embed_req *r,
                              int batch, const char *body, size_t n,
                              struct jw *out, long long *tokens,
                              struct px_err *err)
{
	const struct json *root, *data, *e, *idx, *emb, *v, **slot;
	long long k, t = -1;
	size_t i, count;

	if (tokens)
		*tokens = -1;
	root = gx_parse(a, body, n, 502, err);
	if (!root)
		return -1;
	data = json_get(root, "data");
	if (!data || data->type != JSON_ARRAY) {
		px_err_set(err, 502, "upstream embeddings answer has no \"data\" "
		    "array");
		return -1;
	}
	count = data->len;
	if (count != r->ninputs || (!batch && count != 1)) {
		px_err_set(err, 502, "upstream returned %zu embeddings for %zu "
		    "inputs", count, r->ninputs);
		return -1;
	}
	slot = px_zalloc(a, count * sizeof *slot + 1);
	if (!slot) {
		px_err_set(err, 502, "out of memory");
		return -1;
	}
	/* place by "index" (position when absent); each exactly once */
	for (i = 0, e = data->child; e; e = e->next, i++) {
		if (e->type != JSON_OBJECT) {
			px_err_set(err, 502, "upstream embedding %zu is not an "
			    "object", i);
			return -1;
		}
		idx = json_get(e, "index");
		k = (long long)i;
		if (idx && !json_int(idx, &k)) {
			px_err_set(err, 502, "upstream embedding %zu has a bad "
			    "\"index\"", i);
			return -1;
		}
		if (k < 0 || (unsigned long long)k >= count || slot[k]) {
			px_err_set(err, 502, "upstream embedding %zu has index "
			    "%lld out of range or repeated", i, k);
			return -1;
		}
		slot[k] = e;
	}
	if (json_int(json_get(json_get(root, "usage"), "prompt_tokens"), &k) &&
	    k >= 0)
		t = k;
	jw_obj(out);
	if (batch) {
		jw_key(out, "embeddings");
		jw_arr(out);
	} else {
		jw_key(out, "embedding");
	}
	for (i = 0; i < count; i++) {
		emb = json_get(slot[i], "embedding");
		if (!emb || emb->type != JSON_ARRAY) {
			/* a base64 string too: the request asked for float */
			px_err_set(err, 502, "upstream embedding %zu has no float "
			    "\"embedding\" array", i);
			return -1;
		}
		jw_obj(out);
		jw_key(out, "values");
		jw_arr(out);
		for (v = emb->child; v; v = v->next) {
			if (v->type != JSON_NUMBER) {
				px_err_set(err, 502, "upstream embedding %zu has a "
				    "value that is not a number", i);
				return -1;
			}
			jw_raw(out, v->s, v->n);   /* as written */
		}
		jw_arr_end(out);
		jw_obj_end(out);
	}
	if (batch)
		jw_arr_end(out);
	jw_obj_end(out);
	if (out->err) {
		px_err_set(err, 502, "converted embeddings answer too large");
		return -1;
	}
	if (tokens)
		*tokens = t;
	return 0;
}
