/*
 * convert_responses.c - the OpenAI Responses API codec (POST /v1/responses).
 *
 * Design. Responses is item-oriented: a conversation is a flat list of typed
 * items (message, function_call, function_call_output, reasoning) instead of
 * role-tagged messages. Decoding folds consecutive assistant-side items
 * (reasoning, assistant message, function_call) into ONE IR assistant
 * message and consecutive function_call_output items into one IR tool
 * message, which is what Anthropic and Gemini need (WIRE.md §2.5). Item ids
 * travel in ir_part.item_id so a Responses round trip keeps fc_/rs_ ids;
 * ids from other formats are never put in `id` (it must start with "fc",
 * WIRE.md §6.36) - fresh ones are minted in responses, omitted in requests.
 *
 * Tools: a namespace tool (Codex's sub-agent tools) becomes one IR function
 * per member named "<ns>__<member>"; calls going back to a Responses client
 * carry {"name": member, "namespace": ns} again, which is how Codex routes
 * them. A custom (freeform) tool becomes a function with one string
 * parameter "input"; its calls go back as custom_tool_call items with the
 * input text, and custom_tool_call(_output) input items come in as plain
 * calls and results. Every other non-function type is hosted: passed raw to
 * a Responses upstream, left out for the others (convert.c).
 *
 * Reasoning: each summary part becomes one IR_THINKING part; the item's
 * encrypted_content rides as the signature of the item's last part with
 * sig_fmt PX_FMT_RESPONSES, and is only ever replayed to Responses.
 *
 * Streams. The decoder serialises items by output_index: the lowest
 * unfinished item streams live, later ones (interleaved parallel function
 * calls, WIRE.md §4.4 / §6.40) are buffered and replayed when their turn
 * comes, so the IR has one block open at a time. The encoder produces the
 * full event grammar the SDK helpers check (WIRE.md Part 2 §2):
 * response.created first, content_part.added before deltas, *.done events
 * with full text, a terminal event whose output holds every item, an
 * `event:` line equal to data.type and sequence_number 0,1,2,...
 * No [DONE] is ever written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"

/* ------------------------------------------------------------ helpers */





/*
 * Tool-call arguments arrive as a JSON string; the IR wants object text.
 * Objects are kept byte for byte; empty text becomes {}; anything else is
 * wrapped as {"_raw": "..."} so targets that need an object (Anthropic
 * input, Gemini args) never receive a string (WIRE.md §2.5, §6.49).
 */
static struct px_str
norm_args(struct px_arena *a, struct px_str s)
{
	struct px_str r = { "{}", 2 };
	struct json *v;
	struct jw w;
	size_t i;

	for (i = 0; i < s.n; i++)
		if (s.p[i] != ' ' && s.p[i] != '\n' && s.p[i] != '\r' &&
		    s.p[i] != '\t')
			break;
	if (i == s.n)
		return r;
	v = json_parse(a, s.p, s.n, 0, NULL);
	if (v && v->type == JSON_OBJECT) {
		r.p = v->raw;
		r.n = v->rawlen;
		return r;
	}
	jw_init(&w, a, s.n * 6 + 32);
	jw_obj(&w);
	jw_kstr(&w, "_raw", s.p, s.n);
	jw_obj_end(&w);
	if (!w.err) {
		r.p = w.buf;
		r.n = w.len;
	}
	return r;
}

/* Write texts of `parts` (TEXT only) joined by sep as one JSON string. */
static void
jw_join_text(struct jw *w, const struct ir_part *parts, size_t n,
             const char *sep, const char *prefix)
{
	size_t i;
	int first = 1;

	jw_raw(w, "\"", 1);
	if (prefix)
		jw_escaped(w, prefix, strlen(prefix));
	for (i = 0; i < n; i++) {
		if (parts[i].type != IR_TEXT)
			continue;
		if (!first)
			jw_escaped(w, sep, strlen(sep));
		jw_escaped(w, parts[i].text.p, parts[i].text.n);
		first = 0;
	}
	jw_put(w, "\"", 1);
}

/* "<ns>__<name>": a namespace member as a plain function name */
static struct px_str
ns_join(struct px_arena *a, struct px_str ns, struct px_str name)
{
	struct px_str r = name;
	size_t k = sizeof PX_NS_SEP - 1;
	char *q;

	if (!ns.n)
		return name;
	q = px_arena_alloc(a, ns.n + k + name.n + 1);
	if (!q)
		return r;
	memcpy(q, ns.p, ns.n);
	memcpy(q + ns.n, PX_NS_SEP, k);
	if (name.n)
		memcpy(q + ns.n + k, name.p, name.n);
	r.p = q;
	r.n = ns.n + k + name.n;
	return r;
}

/* A freeform tool's input as the IR's object arguments {"input": "..."} */
static struct px_str
custom_args(struct px_arena *a, struct px_str input)
{
	struct px_str r = { "{\"input\":\"\"}", 11 };
	struct jw w;

	jw_init(&w, a, input.n * 6 + 32);
	jw_obj(&w);
	jw_kstr(&w, "input", input.p ? input.p : "", input.n);
	jw_obj_end(&w);
	if (!w.err) {
		r.p = w.buf;
		r.n = w.len;
	}
	return r;
}

/* A custom tool's grammar has no place in a function schema: it is told
 * to the model in the description instead. */
static struct px_str
custom_desc(struct px_arena *a, const struct json *t)
{
	const struct json *f = json_get(t, "format");
	struct px_str d = px_jget(t, "description");
	struct px_str syn = px_jget(f, "syntax");
	struct px_str def = px_jget(f, "definition");
	struct jw w;

	if (!px_str_eq(px_jget(f, "type"), "grammar") || !def.n)
		return d;
	jw_init(&w, a, d.n + syn.n + def.n + 64);
	if (d.n) {
		jw_put(&w, d.p, d.n);
		jw_puts(&w, "\n\n");
	}
	jw_puts(&w, "The input must match this ");
	if (syn.n) {
		jw_put(&w, syn.p, syn.n);
		jw_puts(&w, " ");
	}
	jw_puts(&w, "grammar:\n");
	jw_put(&w, def.p, def.n);
	if (w.err)
		return d;
	d.p = w.buf;
	d.n = w.len;
	return d;
}

#define CUSTOM_SCHEMA "{\"type\":\"object\",\"properties\":{\"input\":" \
	"{\"type\":\"string\",\"description\":\"The raw input text\"}}," \
	"\"required\":[\"input\"],\"additionalProperties\":false}"

/*
 * A custom tool's input from the IR arguments {"input": "..."}: the string
 * written as JSON. A model that put the text elsewhere still gets its only
 * string member, else the argument text itself.
 */
static void
jw_custom_input(struct jw *w, struct px_str args)
{
	struct px_arena tmp;
	const struct json *v, *c, *only = NULL;
	int nstr = 0;

	px_arena_init(&tmp, 0);
	v = args.n ? json_parse(&tmp, args.p, args.n, 0, NULL) : NULL;
	if (v && v->type == JSON_OBJECT) {
		c = json_get(v, "input");
		if (c && c->type == JSON_STRING) {
			only = c;
			nstr = 1;
		} else {
			for (c = v->child; c; c = c->next)
				if (c->type == JSON_STRING) {
					only = c;
					nstr++;
				}
		}
	}
	if (nstr == 1)
		jw_str(w, only->s, only->n);
	else if (v && v->type == JSON_OBJECT && !v->child)
		jw_str(w, "", 0);
	else
		px_jw_str(w, args);
	px_arena_free(&tmp);
}

/* The tool a call in the request history went to, by call id. */
static const struct ir_tool *
call_tool(const struct ir_request *req, struct px_str id)
{
	size_t i, j;

	for (i = 0; id.n && i < req->nmsgs; i++)
		for (j = 0; j < req->msgs[i].nparts; j++) {
			const struct ir_part *p = &req->msgs[i].parts[j];
			if (p->type == IR_TOOL_CALL && p->id.n == id.n &&
			    memcmp(p->id.p, id.p, id.n) == 0)
				return px_tool_find(req, p->name);
		}
	return NULL;
}

/* ------------------------------------------------- request: decode */

/*
 * Every field read here is carried as sent or refused with a 400 naming it
 * (px_dec_*() in convert.c), never clamped, defaulted or skipped; `at` is
 * the path of the item or part being decoded ("input[3].content[0]").
 */

struct rq {
	struct px_arena *a;
	struct ir_request *req;
	size_t mcap, pcap, scap;
	struct px_err *err;
};

static struct ir_msg *
rq_msg(struct rq *b, enum ir_role role, int merge)
{
	struct ir_request *req = b->req;
	struct ir_msg *m;

	if (merge && req->nmsgs && req->msgs[req->nmsgs - 1].role == role)
		return &req->msgs[req->nmsgs - 1];
	req->msgs = px_vgrow(b->a, req->msgs, req->nmsgs, &b->mcap, sizeof *m);
	if (!req->msgs)
		return NULL;
	m = &req->msgs[req->nmsgs++];
	m->role = role;
	b->pcap = 0;
	return m;
}

static struct ir_part *
rq_part(struct rq *b, struct ir_msg *m, enum ir_part_type t)
{
	struct ir_part *p;

	m->parts = px_vgrow(b->a, m->parts, m->nparts, &b->pcap, sizeof *p);
	if (!m->parts)
		return NULL;
	p = &m->parts[m->nparts++];
	p->type = t;
	return p;
}

static struct ir_part *
rq_sys(struct rq *b)
{
	struct ir_request *req = b->req;
	struct ir_part *p;

	req->system = px_vgrow(b->a, req->system, req->nsystem, &b->scap,
	    sizeof *p);
	if (!req->system)
		return NULL;
	p = &req->system[req->nsystem++];
	p->type = IR_TEXT;
	return p;
}

#define NOMEM(b) (px_err_set((b)->err, 413, "request too large"), -1)

/* input_image / input_file at `at` -> IMAGE / DOCUMENT (fields into p) */
static int
media_part(struct rq *b, const struct json *c, const char *at,
           struct ir_part *p, int image)
{
	struct px_str url = { NULL, 0 }, fd = { NULL, 0 };
	const struct json *iu;

	if (json_get(c, "file_id") && json_get(c, "file_id")->type !=
	    JSON_NULL) {
		px_err_set(b->err, 400, "%s with file_id is not supported: the "
		    "proxy has no access to OpenAI file storage; send the data "
		    "inline", image ? "input_image" : "input_file");
		return -1;
	}
	if (image) {
		p->type = IR_IMAGE;
		iu = json_get(c, "image_url");
		if (iu && iu->type == JSON_OBJECT) {
			/* lenient: the chat shape {"url": ...} */
			if (px_dec_str(json_get(iu, "url"), at, "image_url.url",
			    &url, b->err) < 0)
				return -1;
		} else if (px_dec_str(iu, at, "image_url", &url, b->err) < 0) {
			return -1;
		}
		if (!url.n)
			return px_field_err(b->err, at, "image_url", "a URL");
		if (!px_data_url_split(url, &p->media_type, &p->data))
			p->url = url;
		return 0;
	}
	p->type = IR_DOCUMENT;
	if (px_dec_str(json_get(c, "filename"), at, "filename", &p->name,
	    b->err) < 0 ||
	    px_dec_str(json_get(c, "file_data"), at, "file_data", &fd,
	    b->err) < 0 ||
	    px_dec_str(json_get(c, "file_url"), at, "file_url", &url,
	    b->err) < 0)
		return -1;
	if (fd.n) {
		if (!px_data_url_split(fd, &p->media_type, &p->data)) {
			/* bare base64: the API takes it with a filename; PDF
			 * is the only type it accepts that way */
			p->media_type = px_str_c("application/pdf");
			p->data = fd;
		}
	} else if (url.n) {
		p->url = url;
	} else {
		px_err_set(b->err, 400, "%s needs file_data or file_url", at);
		return -1;
	}
	return 0;
}

/* Content parts of a message item or of function_call_output.output
 * (`at` names that field). */
static int
content_parts(struct rq *b, const struct json *content, const char *at,
              struct ir_part **out, size_t *nout, size_t *cap)
{
	const struct json *c;
	struct ir_part *p;
	struct px_str t, ty;
	char pat[PX_AT_MAX];
	size_t i;
	const char *k;

	if (content->type == JSON_STRING) {
		if (content->n == 0)
			return 0;
		*out = px_vgrow(b->a, *out, *nout, cap, sizeof **out);
		if (!*out)
			return NOMEM(b);
		p = &(*out)[(*nout)++];
		p->type = IR_TEXT;
		p->text = px_str_json(content);
		return 0;
	}
	if (content->type != JSON_ARRAY)
		return px_field_err(b->err, at, NULL, "a string or an array of "
		    "content parts");
	for (c = content->child, i = 0; c; c = c->next, i++) {
		px_at(pat, "%s[%zu]", at, i);
		if (c->type != JSON_OBJECT)
			return px_field_err(b->err, pat, NULL, "an object");
		ty = px_jget(c, "type");
		if (px_str_eq(ty, "input_text") || px_str_eq(ty, "output_text") ||
		    px_str_eq(ty, "text") || px_str_eq(ty, "refusal") ||
		    px_str_eq(ty, "summary_text")) {
			k = px_str_eq(ty, "refusal") ? "refusal" : "text";
			t.p = NULL;
			t.n = 0;
			if (px_dec_str(json_get(c, k), pat, k, &t, b->err) < 0)
				return -1;
			if (!t.n)
				continue;   /* no empty text parts (§6.10) */
			*out = px_vgrow(b->a, *out, *nout, cap, sizeof **out);
			if (!*out)
				return NOMEM(b);
			p = &(*out)[(*nout)++];
			p->type = IR_TEXT;
			p->text = t;
		} else if (px_str_eq(ty, "input_image") ||
		    px_str_eq(ty, "input_file")) {
			*out = px_vgrow(b->a, *out, *nout, cap, sizeof **out);
			if (!*out)
				return NOMEM(b);
			p = &(*out)[(*nout)++];
			if (media_part(b, c, pat, p, px_str_eq(ty,
			    "input_image")))
				return -1;
		} else {
			px_err_set(b->err, 400, "%s: content part type '%.*s' "
			    "cannot be converted", pat,
			    (int)(ty.n > 40 ? 40 : ty.n), ty.p ? ty.p : "");
			return -1;
		}
	}
	return 0;
}

static int
dec_message(struct rq *b, const struct json *it, const char *at)
{
	struct px_str role = { NULL, 0 };
	const struct json *content = json_get(it, "content");
	struct ir_msg *m;
	struct ir_part *tmp = NULL;
	size_t n = 0, cap = 0, i;
	enum ir_role r;
	char cat[PX_AT_MAX];

	if (px_dec_str(json_get(it, "role"), at, "role", &role, b->err) < 0)
		return -1;
	if (!content)
		return px_field_err(b->err, at, "content", "a string or an "
		    "array of content parts");
	if (content_parts(b, content, px_at(cat, "%s.content", at), &tmp, &n,
	    &cap))
		return -1;
	if (px_str_eq(role, "system") || px_str_eq(role, "developer")) {
		/* leading system/developer text joins instructions; later
		 * ones stay in place as IR system messages (WIRE.md §2.2) */
		for (i = 0; i < n; i++)
			if (tmp[i].type != IR_TEXT) {
				px_err_set(b->err, 400, "%s: a %.*s message can "
				    "only hold text", cat, (int)role.n, role.p);
				return -1;
			}
		if (b->req->nmsgs == 0) {
			for (i = 0; i < n; i++) {
				struct ir_part *sp;
				if (!(sp = rq_sys(b)))
					return NOMEM(b);
				*sp = tmp[i];
			}
			return 0;
		}
		r = IR_ROLE_SYSTEM;
	} else if (px_str_eq(role, "assistant")) {
		r = IR_ROLE_ASSISTANT;
	} else if (px_str_eq(role, "user") || !role.n) {
		r = IR_ROLE_USER;
	} else {
		px_err_set(b->err, 400, "unsupported message role '%.*s'",
		    (int)(role.n > 40 ? 40 : role.n), role.p);
		return -1;
	}
	if (n == 0)
		return 0;
	/* assistant items fold together (reasoning + message + calls) */
	if (!(m = rq_msg(b, r, r == IR_ROLE_ASSISTANT)))
		return NOMEM(b);
	for (i = 0; i < n; i++) {
		struct ir_part *p = rq_part(b, m, tmp[i].type);
		if (!p)
			return NOMEM(b);
		*p = tmp[i];
	}
	return 0;
}

/* call_id (else the item id), id and name of a call item */
static int
dec_call_ids(struct rq *b, const struct json *it, const char *at,
             struct ir_part *p)
{
	if (px_dec_str(json_get(it, "call_id"), at, "call_id", &p->id,
	    b->err) < 0 ||
	    px_dec_str(json_get(it, "id"), at, "id", &p->item_id, b->err) < 0 ||
	    px_dec_str(json_get(it, "name"), at, "name", &p->name, b->err) < 0)
		return -1;
	if (!p->id.n)
		p->id = p->item_id;
	return 0;
}

static int
dec_item(struct rq *b, const struct json *it, const char *at)
{
	struct px_str ty = px_jget(it, "type"), s = { NULL, 0 };
	struct ir_msg *m;
	struct ir_part *p;
	const struct json *c, *out, *sum;
	char cat[PX_AT_MAX];
	size_t i;

	if (it->type != JSON_OBJECT)
		return px_field_err(b->err, at, NULL, "an object");
	if (px_dec_str(json_get(it, "type"), at, "type", &ty, b->err) < 0)
		return -1;
	if (!ty.n || px_str_eq(ty, "message"))
		return dec_message(b, it, at);
	if (px_str_eq(ty, "function_call")) {
		if (!(m = rq_msg(b, IR_ROLE_ASSISTANT, 1)) ||
		    !(p = rq_part(b, m, IR_TOOL_CALL)))
			return NOMEM(b);
		if (dec_call_ids(b, it, at, p) < 0 ||
		    px_dec_str(json_get(it, "namespace"), at, "namespace", &s,
		    b->err) < 0)
			return -1;
		p->name = ns_join(b->a, s, p->name);
		s.p = NULL;
		s.n = 0;
		if (px_dec_str(json_get(it, "arguments"), at, "arguments", &s,
		    b->err) < 0)
			return -1;
		p->args = norm_args(b->a, s);
		return 0;
	}
	if (px_str_eq(ty, "custom_tool_call")) {
		if (!(m = rq_msg(b, IR_ROLE_ASSISTANT, 1)) ||
		    !(p = rq_part(b, m, IR_TOOL_CALL)))
			return NOMEM(b);
		if (dec_call_ids(b, it, at, p) < 0 ||
		    px_dec_str(json_get(it, "input"), at, "input", &s,
		    b->err) < 0)
			return -1;
		p->args = custom_args(b->a, s);
		return 0;
	}
	if (px_str_eq(ty, "function_call_output") ||
	    px_str_eq(ty, "custom_tool_call_output")) {
		size_t cap = 0;
		if (!(m = rq_msg(b, IR_ROLE_TOOL, 1)) ||
		    !(p = rq_part(b, m, IR_TOOL_RESULT)))
			return NOMEM(b);
		if (px_dec_str(json_get(it, "call_id"), at, "call_id", &p->id,
		    b->err) < 0)
			return -1;
		out = json_get(it, "output");
		if (out && out->type != JSON_NULL && content_parts(b, out,
		    px_at(cat, "%s.output", at), &p->content, &p->ncontent,
		    &cap))
			return -1;
		return 0;
	}
	if (px_str_eq(ty, "reasoning")) {
		struct px_str enc = { NULL, 0 }, id = { NULL, 0 };
		struct ir_part *last = NULL;
		if (!(m = rq_msg(b, IR_ROLE_ASSISTANT, 1)))
			return NOMEM(b);
		sum = json_get(it, "summary");
		if (px_dec_str(json_get(it, "encrypted_content"), at,
		    "encrypted_content", &enc, b->err) < 0 ||
		    px_dec_str(json_get(it, "id"), at, "id", &id, b->err) < 0)
			return -1;
		if (sum && sum->type != JSON_NULL && sum->type != JSON_ARRAY)
			return px_field_err(b->err, at, "summary", "an array");
		for (c = sum ? sum->child : NULL, i = 0; c; c = c->next, i++) {
			px_at(cat, "%s.summary[%zu]", at, i);
			if (c->type != JSON_OBJECT)
				return px_field_err(b->err, cat, NULL,
				    "an object");
			if (!(p = rq_part(b, m, IR_THINKING)))
				return NOMEM(b);
			if (px_dec_str(json_get(c, "text"), cat, "text",
			    &p->text, b->err) < 0)
				return -1;
			p->item_id = id;
			p->sig_fmt = PX_FMT_RESPONSES;
			last = p;
		}
		if (enc.n || !last) {
			if (!last) {
				if (!(last = rq_part(b, m, IR_THINKING)))
					return NOMEM(b);
				last->item_id = id;
			}
			last->signature = enc;
			last->sig_fmt = PX_FMT_RESPONSES;
		}
		return 0;
	}
	if (px_str_eq(ty, "item_reference")) {
		px_err_set(b->err, 400, "item_reference needs the upstream's "
		    "stored state and cannot be converted; send the items");
		return -1;
	}
	px_err_set(b->err, 400, "%s: input item type '%.*s' cannot be "
	    "converted", at, (int)(ty.n > 40 ? 40 : ty.n), ty.p);
	return -1;
}

static int
dec_function_tool(struct rq *b, const struct json *t, const char *at,
                  struct ir_tool *tl)
{
	const struct json *pm;

	if (t->type != JSON_OBJECT)
		return px_field_err(b->err, at, NULL, "an object");
	if (px_dec_str(json_get(t, "name"), at, "name", &tl->name,
	    b->err) < 0 ||
	    px_dec_str(json_get(t, "description"), at, "description",
	    &tl->description, b->err) < 0 ||
	    px_dec_bool(json_get(t, "strict"), at, "strict", &tl->strict,
	    b->err) < 0)
		return -1;
	pm = json_get(t, "parameters");
	if (pm && pm->type == JSON_OBJECT)
		tl->parameters = px_json_compact(b->a, pm);
	else if (pm && pm->type != JSON_NULL)
		return px_field_err(b->err, at, "parameters", "an object");
	return 0;
}

/*
 * Tools. Function tools map 1:1. A namespace tool (Codex's sub-agent tools)
 * becomes one function per member named "<ns>__<member>"; a custom
 * (freeform) tool becomes a function with one string parameter "input".
 * Both map back on the way out (their calls carry `namespace`, or are
 * custom_tool_call items). Every other type is a hosted tool: kept raw for
 * a Responses upstream, left out for the others.
 */
static int
dec_tools(struct rq *b, const struct json *tools)
{
	const struct json *t, *m, *mem;
	struct ir_request *req = b->req;
	struct ir_tool *tl;
	struct px_str ty, ns, nsd;
	char at[PX_AT_MAX];
	size_t n = 0, i, j;

	if (tools->type == JSON_NULL)
		return 0;
	if (tools->type != JSON_ARRAY)
		return px_field_err(b->err, NULL, "tools", "an array");
	for (t = tools->child; t; t = t->next) {
		mem = json_get(t, "tools");
		if (px_str_eq(px_jget(t, "type"), "namespace") && mem &&
		    mem->type == JSON_ARRAY)
			n += mem->len;
		else
			n++;
	}
	req->tools = px_zalloc(b->a, (n ? n : 1) * sizeof *tl);
	if (!req->tools)
		return NOMEM(b);
	for (t = tools->child, i = 0; t; t = t->next, i++) {
		px_at(at, "tools[%zu]", i);
		if (t->type != JSON_OBJECT)
			return px_field_err(b->err, at, NULL, "an object");
		ty = px_jget(t, "type");
		if (px_str_eq(ty, "namespace")) {
			mem = json_get(t, "tools");
			ns.n = nsd.n = 0;
			ns.p = nsd.p = NULL;
			if (!mem || mem->type != JSON_ARRAY)
				return px_field_err(b->err, at, "tools",
				    "an array");
			if (px_dec_str(json_get(t, "name"), at, "name", &ns,
			    b->err) < 0 ||
			    px_dec_str(json_get(t, "description"), at,
			    "description", &nsd, b->err) < 0)
				return -1;
			for (m = mem->child, j = 0; m; m = m->next, j++) {
				tl = &req->tools[req->ntools++];
				tl->strict = -1;
				if (dec_function_tool(b, m, px_at(at,
				    "tools[%zu].tools[%zu]", i, j), tl) < 0)
					return -1;
				tl->ns = ns;
				tl->ns_name = tl->name;
				tl->ns_description = nsd;
				tl->name = ns_join(b->a, ns, tl->name);
			}
			continue;
		}
		tl = &req->tools[req->ntools++];
		tl->strict = -1;
		if (px_str_eq(ty, "function")) {
			if (dec_function_tool(b, t, at, tl) < 0)
				return -1;
		} else if (px_str_eq(ty, "custom")) {
			tl->custom = 1;
			if (px_dec_str(json_get(t, "name"), at, "name",
			    &tl->name, b->err) < 0)
				return -1;
			tl->description = custom_desc(b->a, t);
			tl->parameters = px_str_c(CUSTOM_SCHEMA);
			tl->raw = px_json_compact(b->a, t);
		} else {
			/* hosted tools (web_search, file_search, ...) travel
			 * raw; only a Responses upstream can take them */
			tl->raw_type = ty.n ? ty : px_str_c("unknown");
			tl->raw = px_json_compact(b->a, t);
			tl->name = px_jget(t, "name");
			tl->hosted = 1;
		}
	}
	return 0;
}

static const char *const effort_names[] = {
	"none", "minimal", "low", "medium", "high", "xhigh", NULL
};
static const enum ir_effort effort_vals[] = {
	IR_EFFORT_NONE, IR_EFFORT_MINIMAL, IR_EFFORT_LOW, IR_EFFORT_MEDIUM,
	IR_EFFORT_HIGH, IR_EFFORT_XHIGH
};

static int
rs_tool_choice(struct px_arena *a, const struct json *v,
               struct ir_request *req, struct px_err *err)
{
	static const char *const names[] = { "auto", "none", "required", NULL };
	static const enum ir_tool_choice vals[] = {
		IR_TC_AUTO, IR_TC_NONE, IR_TC_REQUIRED
	};
	struct px_str s, ns = { NULL, 0 }, name = { NULL, 0 };
	int k;

	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type == JSON_STRING) {
		if (px_dec_enum(v, NULL, "tool_choice", names, &k, err) < 0)
			return -1;
		req->tool_choice = vals[k];
		return 0;
	}
	if (v->type != JSON_OBJECT)
		return px_field_err(err, NULL, "tool_choice", "a string or an "
		    "object");
	s = px_jget(v, "type");
	if (px_str_eq(s, "function") || px_str_eq(s, "custom")) {
		if (px_dec_str(json_get(v, "namespace"), "tool_choice",
		    "namespace", &ns, err) < 0 ||
		    px_dec_str(json_get(v, "name"), "tool_choice", "name", &name,
		    err) < 0)
			return -1;
		if (!name.n)
			return px_field_err(err, "tool_choice", "name",
			    "a tool name");
		req->tool_choice = IR_TC_NAMED;
		req->tool_choice_name = ns_join(a, ns, name);
		return 0;
	}
	if (!s.n)
		return px_field_err(err, "tool_choice", "type", "a string");
	if (px_str_eq(s, "allowed_tools")) {
		/* a subset of the tools, which no other format can say */
		px_err_set(err, 400, "tool_choice type 'allowed_tools' cannot "
		    "be converted");
		return -1;
	}
	/* forces a hosted tool (web_search, mcp, ...) */
	req->tool_choice_hosted = s;
	req->tool_choice_raw = px_json_compact(a, v);
	return 0;
}

static int
rs_text_format(struct px_arena *a, const struct json *v,
               struct ir_request *req, struct px_err *err)
{
	static const char *const names[] = {
		"text", "json_object", "json_schema", NULL
	};
	static const enum ir_rf vals[] = {
		IR_RF_TEXT, IR_RF_JSON_OBJECT, IR_RF_JSON_SCHEMA
	};
	const struct json *f, *sc;
	int k, rc;

	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_OBJECT)
		return px_field_err(err, NULL, "text", "an object");
	f = json_get(v, "format");
	if (!f || f->type == JSON_NULL)
		return 0;
	if (f->type != JSON_OBJECT)
		return px_field_err(err, "text", "format", "an object");
	rc = px_dec_enum(json_get(f, "type"), "text.format", "type", names,
	    &k, err);
	if (rc == 0)            /* the words px_dec_enum() uses */
		px_field_err(err, "text.format", "type", "'text', "
		    "'json_object' or 'json_schema'");
	if (rc <= 0)
		return -1;
	req->rf = vals[k];
	if (req->rf != IR_RF_JSON_SCHEMA)
		return 0;
	if (px_dec_str(json_get(f, "name"), "text.format", "name",
	    &req->rf_name, err) < 0 ||
	    px_dec_bool(json_get(f, "strict"), "text.format", "strict",
	    &req->rf_strict, err) < 0)
		return -1;
	sc = json_get(f, "schema");
	if (sc && sc->type == JSON_OBJECT)
		req->rf_schema = px_json_compact(a, sc);
	else if (sc && sc->type != JSON_NULL)
		return px_field_err(err, "text.format", "schema", "an object");
	return 0;
}

static int
rs_decode_request(struct px_arena *a, const struct json *root,
                  struct ir_request *req, struct px_err *err)
{
	struct rq b;
	const struct json *v, *it;
	struct ir_part *p;
	struct ir_msg *m;
	struct px_str s = { NULL, 0 };
	char at[PX_AT_MAX];
	size_t i;
	int k, rc;

	memset(&b, 0, sizeof b);
	b.a = a;
	b.req = req;
	b.err = err;
	req->model = px_jget(root, "model");
	if (px_dec_bool(json_get(root, "stream"), NULL, "stream", &req->stream,
	    err) < 0 ||
	    px_dec_str(json_get(root, "instructions"), NULL, "instructions", &s,
	    err) < 0)
		return -1;
	if (s.n) {
		if (!(p = rq_sys(&b)))
			return NOMEM(&b);
		p->text = s;
	}
	v = json_get(root, "input");
	if (v && v->type == JSON_STRING) {
		if (!(m = rq_msg(&b, IR_ROLE_USER, 0)) ||
		    !(p = rq_part(&b, m, IR_TEXT)))
			return NOMEM(&b);
		p->text = px_str_json(v);
	} else if (v && v->type == JSON_ARRAY) {
		for (it = v->child, i = 0; it; it = it->next, i++)
			if (dec_item(&b, it, px_at(at, "input[%zu]", i)))
				return -1;
	} else if (v && v->type != JSON_NULL) {
		px_err_set(err, 400, "input must be a string or an array");
		return -1;
	}
	if ((v = json_get(root, "tools")) && dec_tools(&b, v))
		return -1;
	if (rs_tool_choice(a, json_get(root, "tool_choice"), req, err) < 0 ||
	    px_dec_bool(json_get(root, "parallel_tool_calls"), NULL,
	    "parallel_tool_calls", &req->parallel_tool_calls, err) < 0 ||
	    px_dec_int(json_get(root, "max_output_tokens"), NULL,
	    "max_output_tokens", 1, PX_INT_MAX, &req->max_tokens, err) < 0 ||
	    px_dec_num(json_get(root, "temperature"), NULL, "temperature",
	    &req->temperature, err) < 0 ||
	    px_dec_num(json_get(root, "top_p"), NULL, "top_p", &req->top_p,
	    err) < 0 ||
	    px_dec_str(json_get(root, "user"), NULL, "user", &req->user,
	    err) < 0 ||
	    px_dec_bool(json_get(root, "store"), NULL, "store", &req->store,
	    err) < 0 ||
	    px_dec_str(json_get(root, "previous_response_id"), NULL,
	    "previous_response_id", &req->previous_response_id, err) < 0)
		return -1;
	v = json_get(root, "reasoning");
	if (v && v->type != JSON_NULL) {
		if (v->type != JSON_OBJECT)
			return px_field_err(err, NULL, "reasoning", "an object");
		rc = px_dec_enum(json_get(v, "effort"), "reasoning", "effort",
		    effort_names, &k, err);
		if (rc < 0)
			return -1;
		if (rc > 0)
			req->effort = effort_vals[k];
		s.p = NULL;
		s.n = 0;
		if (px_dec_str(json_get(v, "summary"), "reasoning", "summary",
		    &s, err) < 0)
			return -1;
		/* asking for a summary is asking to see the thoughts */
		if (s.n && !px_str_eq(s, "none"))
			req->include_thoughts = 1;
	}
	return rs_text_format(a, json_get(root, "text"), req, err);
}

/* ------------------------------------------------- request: encode */

static void
enc_media(struct jw *w, const struct ir_part *p)
{
	jw_obj(w);
	if (p->type == IR_IMAGE) {
		jw_kcstr(w, "type", "input_image");
		jw_key(w, "image_url");
		if (p->data.n) {
			/* data URL built in place: no arena needed here */
			jw_raw(w, "\"data:", 6);
			jw_escaped(w, p->media_type.p, p->media_type.n);
			jw_put(w, ";base64,", 8);
			jw_escaped(w, p->data.p, p->data.n);
			jw_put(w, "\"", 1);
		} else {
			jw_str(w, p->url.p, p->url.n);
		}
		jw_kcstr(w, "detail", "auto");
	} else {
		jw_kcstr(w, "type", "input_file");
		if (p->data.n) {
			if (p->name.n)
				jw_kstr(w, "filename", p->name.p, p->name.n);
			else
				jw_kcstr(w, "filename", "document.pdf");
			jw_key(w, "file_data");
			jw_raw(w, "\"data:", 6);
			jw_escaped(w, p->media_type.p, p->media_type.n);
			jw_put(w, ";base64,", 8);
			jw_escaped(w, p->data.p, p->data.n);
			jw_put(w, "\"", 1);
		} else {
			jw_kstr(w, "file_url", p->url.p, p->url.n);
		}
	}
	jw_obj_end(w);
}

/* input_text / media parts of a message or a tool output, in order;
 * empty text is skipped (it is not a part anywhere). */
static void
enc_input_parts(struct jw *w, const struct ir_part *parts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct ir_part *p = &parts[i];
		if (p->type == IR_TEXT && p->text.n) {
			jw_obj(w);
			jw_kcstr(w, "type", "input_text");
			jw_kstr(w, "text", p->text.p, p->text.n);
			jw_obj_end(w);
		} else if (p->type == IR_IMAGE || p->type == IR_DOCUMENT) {
			enc_media(w, p);
		}
	}
}

/* A user/system message item; nothing when no part can be carried. */
static void
enc_user_item(struct jw *w, const struct ir_msg *m, const char *role)
{
	size_t i, k = 0;

	for (i = 0; i < m->nparts; i++)
		if ((m->parts[i].type == IR_TEXT && m->parts[i].text.n) ||
		    m->parts[i].type == IR_IMAGE ||
		    m->parts[i].type == IR_DOCUMENT)
			k++;
	if (!k)
		return;
	jw_obj(w);
	jw_kcstr(w, "type", "message");
	jw_kcstr(w, "role", role);
	jw_key(w, "content");
	jw_arr(w);
	enc_input_parts(w, m->parts, m->nparts);
	jw_arr_end(w);
	jw_obj_end(w);
}

/* Tool result output: a string when it is all text, else a part list. */
static void
enc_tool_output(struct jw *w, const struct ir_part *p)
{
	size_t i;
	int media = 0;

	for (i = 0; i < p->ncontent; i++)
		if (p->content[i].type == IR_IMAGE ||
		    p->content[i].type == IR_DOCUMENT)
			media = 1;
	jw_key(w, "output");
	if (!media) {
		/* no is_error flag in Responses: say it in the text (§2.5) */
		jw_join_text(w, p->content, p->ncontent, "\n",
		    p->is_error ? "Error: " : NULL);
		return;
	}
	jw_arr(w);
	if (p->is_error) {
		jw_obj(w);
		jw_kcstr(w, "type", "input_text");
		jw_kcstr(w, "text", "Error:");
		jw_obj_end(w);
	}
	enc_input_parts(w, p->content, p->ncontent);
	jw_arr_end(w);
}

static void
enc_assistant(struct jw *w, const struct ir_request *req,
              const struct ir_msg *m)
{
	const struct ir_tool *t;

	size_t i, j;

	for (i = 0; i < m->nparts; i = j) {
		const struct ir_part *p = &m->parts[i];
		j = i + 1;
		switch (p->type) {
		case IR_TEXT:
			/* a run of text parts is one assistant message item */
			while (j < m->nparts && m->parts[j].type == IR_TEXT)
				j++;
			jw_obj(w);
			jw_kcstr(w, "type", "message");
			jw_kcstr(w, "role", "assistant");
			jw_key(w, "content");
			jw_arr(w);
			for (; i < j; i++) {
				if (!m->parts[i].text.n)
					continue;
				jw_obj(w);
				jw_kcstr(w, "type", "output_text");
				jw_kstr(w, "text", m->parts[i].text.p,
				    m->parts[i].text.n);
				jw_obj_end(w);
			}
			jw_arr_end(w);
			jw_obj_end(w);
			break;
		case IR_THINKING:
			/* only reasoning produced by Responses can be replayed:
			 * it needs its rs_ id and encrypted_content; other
			 * providers' thoughts are dropped (WIRE.md §2.6) */
			if (p->sig_fmt != PX_FMT_RESPONSES || !p->item_id.n)
				break;
			while (j < m->nparts && m->parts[j].type == IR_THINKING &&
			    m->parts[j].sig_fmt == PX_FMT_RESPONSES &&
			    m->parts[j].item_id.n == p->item_id.n &&
			    memcmp(m->parts[j].item_id.p, p->item_id.p,
			    p->item_id.n) == 0)
				j++;
			jw_obj(w);
			jw_kcstr(w, "type", "reasoning");
			jw_kstr(w, "id", p->item_id.p, p->item_id.n);
			jw_key(w, "summary");
			jw_arr(w);
			for (; i < j; i++) {
				if (!m->parts[i].text.n)
					continue;
				jw_obj(w);
				jw_kcstr(w, "type", "summary_text");
				jw_kstr(w, "text", m->parts[i].text.p,
				    m->parts[i].text.n);
				jw_obj_end(w);
			}
			jw_arr_end(w);
			if (m->parts[j - 1].signature.n)
				jw_kstr(w, "encrypted_content",
				    m->parts[j - 1].signature.p,
				    m->parts[j - 1].signature.n);
			jw_obj_end(w);
			break;
		case IR_TOOL_CALL:
			t = px_tool_find(req, p->name);
			jw_obj(w);
			if (t && t->custom) {
				jw_kcstr(w, "type", "custom_tool_call");
				if (px_str_prefix(p->item_id, "ctc"))
					jw_kstr(w, "id", p->item_id.p,
					    p->item_id.n);
				jw_kstr(w, "call_id", p->id.p, p->id.n);
				jw_kstr(w, "name", p->name.p, p->name.n);
				jw_key(w, "input");
				jw_custom_input(w, p->args);
				jw_obj_end(w);
				break;
			}
			jw_kcstr(w, "type", "function_call");
			/* item ids must start with "fc" (WIRE.md §6.36):
			 * omitted when the call came from elsewhere */
			if (px_str_prefix(p->item_id, "fc"))
				jw_kstr(w, "id", p->item_id.p, p->item_id.n);
			jw_kstr(w, "call_id", p->id.p, p->id.n);
			if (t && t->ns.n) {
				jw_kstr(w, "name", t->ns_name.p, t->ns_name.n);
				jw_kstr(w, "namespace", t->ns.p, t->ns.n);
			} else {
				jw_kstr(w, "name", p->name.p, p->name.n);
			}
			if (p->args.n)
				jw_kstr(w, "arguments", p->args.p, p->args.n);
			else
				jw_kcstr(w, "arguments", "{}");
			jw_obj_end(w);
			break;
		default:
			break;          /* redacted thinking etc.: no equivalent */
		}
	}
}

static int
same_ns(const struct ir_tool *a, const struct ir_tool *b)
{
	return a->ns.n && a->ns.n == b->ns.n &&
	    memcmp(a->ns.p, b->ns.p, a->ns.n) == 0;
}

#define EMPTY_SCHEMA "{\"type\":\"object\",\"properties\":{}}"
#define OBJ_SCHEMA "{\"type\":\"object\"}"

static int
rs_encode_request(const struct ir_request *req, struct px_str model,
                  struct jw *w, struct px_err *err)
{
	size_t i, j;
	enum ir_effort eff;
	const struct ir_tool *tc;

	if (req->n > 1) {
		/* WIRE.md §6.60: never answer n>1 with one choice */
		px_err_set(err, 400, "n > 1 is not supported by the Responses "
		    "API upstream");
		return -1;
	}
	for (i = 0; i < req->ntools; i++)
		if (req->tools[i].raw_type.n && req->fmt != PX_FMT_RESPONSES) {
			px_err_set(err, 400, "tool type '%.*s' cannot be "
			    "converted for a Responses upstream",
			    (int)req->tools[i].raw_type.n,
			    req->tools[i].raw_type.p);
			return -1;
		}
	jw_obj(w);
	jw_kstr(w, "model", model.p, model.n);
	if (req->nsystem) {
		jw_key(w, "instructions");
		jw_join_text(w, req->system, req->nsystem, "\n\n", NULL);
	}
	jw_key(w, "input");
	jw_arr(w);
	for (i = 0; i < req->nmsgs; i++) {
		const struct ir_msg *m = &req->msgs[i];
		switch (m->role) {
		case IR_ROLE_SYSTEM:
			enc_user_item(w, m, "system");
			break;
		case IR_ROLE_USER:
			enc_user_item(w, m, "user");
			break;
		case IR_ROLE_ASSISTANT:
			enc_assistant(w, req, m);
			break;
		case IR_ROLE_TOOL:
			for (j = 0; j < m->nparts; j++) {
				const struct ir_part *p = &m->parts[j];
				const struct ir_tool *ct;
				if (p->type != IR_TOOL_RESULT)
					continue;
				ct = call_tool(req, p->id);
				jw_obj(w);
				jw_kcstr(w, "type", ct && ct->custom ?
				    "custom_tool_call_output" :
				    "function_call_output");
				jw_kstr(w, "call_id", p->id.p, p->id.n);
				enc_tool_output(w, p);
				jw_obj_end(w);
			}
			break;
		}
	}
	jw_arr_end(w);
	if (req->ntools) {
		jw_key(w, "tools");
		jw_arr(w);
		for (i = 0; i < req->ntools; i++) {
			const struct ir_tool *t = &req->tools[i];
			if (t->raw_type.n || (t->custom && t->raw.n)) {
				jw_raw(w, t->raw.p, t->raw.n);
				continue;
			}
			if (t->ns.n && (i == 0 || !same_ns(&req->tools[i - 1],
			    t))) {
				/* members of one namespace: regrouped */
				jw_obj(w);
				jw_kcstr(w, "type", "namespace");
				jw_kstr(w, "name", t->ns.p, t->ns.n);
				if (t->ns_description.n)
					jw_kstr(w, "description",
					    t->ns_description.p,
					    t->ns_description.n);
				jw_key(w, "tools");
				jw_arr(w);
			}
			jw_obj(w);
			jw_kcstr(w, "type", "function");
			if (t->ns.n)
				jw_kstr(w, "name", t->ns_name.p, t->ns_name.n);
			else
				jw_kstr(w, "name", t->name.p, t->name.n);
			if (t->description.n)
				jw_kstr(w, "description", t->description.p,
				    t->description.n);
			if (t->parameters.n)
				jw_kraw(w, "parameters", t->parameters.p,
				    t->parameters.n);
			else
				jw_kraw(w, "parameters", EMPTY_SCHEMA,
				    sizeof EMPTY_SCHEMA - 1);
			/* Responses defaults strict to true, which rejects
			 * ordinary schemas: say false unless asked */
			jw_kbool(w, "strict", t->strict == 1);
			jw_obj_end(w);
			if (t->ns.n && (i + 1 == req->ntools ||
			    !same_ns(&req->tools[i + 1], t))) {
				jw_arr_end(w);
				jw_obj_end(w);
			}
		}
		jw_arr_end(w);
	}
	switch (req->tool_choice) {
	case IR_TC_AUTO:     jw_kcstr(w, "tool_choice", "auto"); break;
	case IR_TC_NONE:     jw_kcstr(w, "tool_choice", "none"); break;
	case IR_TC_REQUIRED: jw_kcstr(w, "tool_choice", "required"); break;
	case IR_TC_NAMED:
		tc = px_tool_find(req, req->tool_choice_name);
		jw_key(w, "tool_choice");
		jw_obj(w);
		jw_kcstr(w, "type", tc && tc->custom ? "custom" : "function");
		if (tc && tc->ns.n) {
			jw_kstr(w, "name", tc->ns_name.p, tc->ns_name.n);
			jw_kstr(w, "namespace", tc->ns.p, tc->ns.n);
		} else {
			jw_kstr(w, "name", req->tool_choice_name.p,
			    req->tool_choice_name.n);
		}
		jw_obj_end(w);
		break;
	default:
		if (req->tool_choice_raw.n && req->ntools)
			jw_kraw(w, "tool_choice", req->tool_choice_raw.p,
			    req->tool_choice_raw.n);
		break;
	}
	if (req->parallel_tool_calls >= 0)
		jw_kbool(w, "parallel_tool_calls", req->parallel_tool_calls);
	if (req->max_tokens >= 0)
		jw_kint(w, "max_output_tokens", req->max_tokens);
	if (req->temperature.set) {
		jw_key(w, "temperature");
		px_jw_num(w, &req->temperature);
	}
	if (req->top_p.set) {
		jw_key(w, "top_p");
		px_jw_num(w, &req->top_p);
	}
	eff = req->effort;
	if (eff == IR_EFFORT_UNSET && req->thinking_budget >= 0)
		eff = px_budget_effort(req->thinking_budget);
	if (eff != IR_EFFORT_UNSET) {
		jw_key(w, "reasoning");
		jw_obj(w);
		jw_kcstr(w, "effort", px_effort_name(eff));
		if (req->include_thoughts == 1 && eff != IR_EFFORT_NONE)
			jw_kcstr(w, "summary", "auto");
		jw_obj_end(w);
		if (eff != IR_EFFORT_NONE) {
			/* stateless replay of reasoning needs the encrypted
			 * state back (WIRE.md §2.6) */
			jw_key(w, "include");
			jw_arr(w);
			jw_cstr(w, "reasoning.encrypted_content");
			jw_arr_end(w);
		}
	}
	if (req->rf == IR_RF_JSON_SCHEMA || req->rf == IR_RF_JSON_OBJECT ||
	    req->rf == IR_RF_TEXT) {
		jw_key(w, "text");
		jw_obj(w);
		jw_key(w, "format");
		jw_obj(w);
		if (req->rf == IR_RF_JSON_SCHEMA) {
			jw_kcstr(w, "type", "json_schema");
			if (req->rf_name.n)
				jw_kstr(w, "name", req->rf_name.p,
				    req->rf_name.n);
			else
				jw_kcstr(w, "name", "response");
			if (req->rf_schema.n)
				jw_kraw(w, "schema", req->rf_schema.p,
				    req->rf_schema.n);
			else
				jw_kraw(w, "schema", OBJ_SCHEMA,
				    sizeof OBJ_SCHEMA - 1);
			if (req->rf_strict >= 0)
				jw_kbool(w, "strict", req->rf_strict);
		} else {
			jw_kcstr(w, "type", req->rf == IR_RF_JSON_OBJECT ?
			    "json_object" : "text");
		}
		jw_obj_end(w);
		jw_obj_end(w);
	}
	if (req->user.n)
		jw_kstr(w, "user", req->user.p, req->user.n);
	if (req->store >= 0)
		jw_kbool(w, "store", req->store);
	if (req->previous_response_id.n)
		jw_kstr(w, "previous_response_id", req->previous_response_id.p,
		    req->previous_response_id.n);
	if (req->stream)
		jw_kbool(w, "stream", 1);
	jw_obj_end(w);
	return 0;
}

/* ------------------------------------------------ response: decode */

static void
usage_dec(const struct json *u, struct ir_usage *out)
{
	long long v;

	ir_usage_init(out);
	if (!u || u->type != JSON_OBJECT)
		return;
	if (json_int(json_get(u, "input_tokens"), &v))
		out->input = v;
	if (json_int(json_get(u, "output_tokens"), &v))
		out->output = v;
	if (json_int(json_get(json_get(u, "input_tokens_details"),
	    "cached_tokens"), &v))
		out->cache_read = v;
	if (json_int(json_get(json_get(u, "output_tokens_details"),
	    "reasoning_tokens"), &v))
		out->reasoning = v;
}

static enum ir_stop
incomplete_stop(const struct json *resp)
{
	struct px_str r = px_jget(json_get(resp, "incomplete_details"),
	    "reason");

	if (px_str_eq(r, "content_filter"))
		return IR_STOP_CONTENT_FILTER;
	return IR_STOP_MAX_TOKENS;
}

static int
rs_decode_response(struct px_arena *a, const struct json *root,
                   struct ir_response *resp, struct px_err *err)
{
	const struct json *out, *it, *c, *e;
	struct px_str ty, st, s;
	size_t cap = 0;
	struct ir_part *p;
	long long ll;
	int calls = 0;

	/* a failed response is an upstream error, not an answer */
	st = px_jget(root, "status");
	if (px_str_eq(st, "failed") || (json_get(root, "error") &&
	    json_get(root, "error")->type == JSON_OBJECT &&
	    !json_get(root, "output"))) {
		e = json_get(root, "error");
		s = px_jget(e, "message");
		px_err_set(err, 502, "upstream response failed: %.*s",
		    (int)(s.n > 200 ? 200 : s.n), s.p ? s.p : "");
		return -1;
	}
	resp->id = px_jget(root, "id");
	resp->model = px_jget(root, "model");
	if (json_int(json_get(root, "created_at"), &ll))
		resp->created = ll;
	out = json_get(root, "output");
	for (it = out ? out->child : NULL; it; it = it->next) {
		ty = px_jget(it, "type");
		if (px_str_eq(ty, "message")) {
			const struct json *ct = json_get(it, "content");
			for (c = ct ? ct->child : NULL; c; c = c->next) {
				struct px_str ctype = px_jget(c, "type");
				s = px_jget(c, px_str_eq(ctype, "refusal") ?
				    "refusal" : "text");
				if (!s.n)
					continue;
				resp->parts = px_vgrow(a, resp->parts,
				    resp->nparts, &cap, sizeof *p);
				if (!resp->parts)
					goto nomem;
				p = &resp->parts[resp->nparts++];
				p->type = IR_TEXT;
				p->text = s;
			}
		} else if (px_str_eq(ty, "function_call")) {
			resp->parts = px_vgrow(a, resp->parts, resp->nparts, &cap,
			    sizeof *p);
			if (!resp->parts)
				goto nomem;
			p = &resp->parts[resp->nparts++];
			p->type = IR_TOOL_CALL;
			p->id = px_jget(it, "call_id");
			p->item_id = px_jget(it, "id");
			p->name = px_jget(it, "name");
			p->args = norm_args(a, px_jget(it, "arguments"));
			calls++;
		} else if (px_str_eq(ty, "reasoning")) {
			const struct json *sm = json_get(it, "summary");
			struct ir_part *last = NULL;
			for (c = sm ? sm->child : NULL; c; c = c->next) {
				resp->parts = px_vgrow(a, resp->parts,
				    resp->nparts, &cap, sizeof *p);
				if (!resp->parts)
					goto nomem;
				p = &resp->parts[resp->nparts++];
				p->type = IR_THINKING;
				p->text = px_jget(c, "text");
				p->item_id = px_jget(it, "id");
				p->sig_fmt = PX_FMT_RESPONSES;
				last = p;
			}
			s = px_jget(it, "encrypted_content");
			if (s.n) {
				if (!last) {
					resp->parts = px_vgrow(a, resp->parts,
					    resp->nparts, &cap, sizeof *p);
					if (!resp->parts)
						goto nomem;
					last = &resp->parts[resp->nparts++];
					last->type = IR_THINKING;
					last->item_id = px_jget(it, "id");
				}
				last->signature = s;
				last->sig_fmt = PX_FMT_RESPONSES;
			}
		}
		/* hosted-tool items (web_search_call, ...) have no IR form */
	}
	resp->native_stop = st;
	if (px_str_eq(st, "incomplete"))
		resp->stop = incomplete_stop(root);
	else
		resp->stop = calls ? IR_STOP_TOOL_USE : IR_STOP_END;
	usage_dec(json_get(root, "usage"), &resp->usage);
	return 0;
nomem:
	px_err_set(err, 502, "response too large");
	return -1;
}

/* ------------------------------------------------ response: encode */

static const char *
stop_status(enum ir_stop st, const char **reason)
{
	*reason = NULL;
	switch (st) {
	case IR_STOP_MAX_TOKENS:
	case IR_STOP_CONTEXT:
		*reason = "max_output_tokens";
		return "incomplete";
	case IR_STOP_CONTENT_FILTER:
		*reason = "content_filter";
		return "incomplete";
	case IR_STOP_PAUSE:
	case IR_STOP_MALFORMED:
		/* WIRE.md §3.2: pause_turn and Gemini's malformed calls are
		 * "incomplete"; the SDK types have no reason for them */
		return "incomplete";
	default:
		return "completed";
	}
}

static void
usage_enc(struct jw *w, const struct ir_usage *u)
{
	long long in = u->input > 0 ? u->input : 0;
	long long out = u->output > 0 ? u->output : 0;

	jw_key(w, "usage");
	jw_obj(w);
	jw_kint(w, "input_tokens", in);
	jw_key(w, "input_tokens_details");
	jw_obj(w);
	jw_kint(w, "cached_tokens", u->cache_read > 0 ? u->cache_read : 0);
	jw_obj_end(w);
	jw_kint(w, "output_tokens", out);
	/* always present: clients read it unconditionally (WIRE.md §3.3) */
	jw_key(w, "output_tokens_details");
	jw_obj(w);
	jw_kint(w, "reasoning_tokens", u->reasoning > 0 ? u->reasoning : 0);
	jw_obj_end(w);
	jw_kint(w, "total_tokens", in + out);
	jw_obj_end(w);
}

/* Response id for a Responses client: an upstream resp_ id is kept,
 * anything else gets a fresh one (as the Chat codec does with chatcmpl-) */
static struct px_str
resp_id(struct px_arena *a, struct px_str up)
{
	if (px_str_prefix(up, "resp_"))
		return up;
	return px_new_id(a, "resp_");
}

/*
 * Envelope shared by the non-streamed body and every stream event that
 * carries the whole response. Writes up to and including the opening of
 * "output": [ ; close with resp_tail().
 */
static void
resp_head(struct jw *w, const struct ir_request *req, struct px_str id,
          long long created, struct px_str model, const char *status,
          const char *reason, const struct ir_error *e)
{
	jw_obj(w);
	jw_kstr(w, "id", id.p, id.n);
	jw_kcstr(w, "object", "response");
	jw_kint(w, "created_at", created);
	jw_kcstr(w, "status", status);
	if (e) {
		jw_key(w, "error");
		jw_obj(w);
		if (e->code.n)
			jw_kstr(w, "code", e->code.p, e->code.n);
		else
			jw_kcstr(w, "code", e->kind == IR_ERR_RATE_LIMIT ?
			    "rate_limit_exceeded" : "server_error");
		jw_kstr(w, "message", e->message.p, e->message.n);
		jw_obj_end(w);
	} else {
		jw_knull(w, "error");
	}
	if (reason) {
		jw_key(w, "incomplete_details");
		jw_obj(w);
		jw_kcstr(w, "reason", reason);
		jw_obj_end(w);
	} else {
		jw_knull(w, "incomplete_details");
	}
	if (req && req->max_tokens >= 0)
		jw_kint(w, "max_output_tokens", req->max_tokens);
	else
		jw_knull(w, "max_output_tokens");
	jw_kstr(w, "model", model.p, model.n);
	jw_key(w, "output");
	jw_arr(w);
}

static void
resp_tail(struct jw *w, const struct ir_request *req,
          const struct ir_usage *u)
{
	jw_arr_end(w);
	jw_kbool(w, "parallel_tool_calls", !req ||
	    req->parallel_tool_calls != 0);
	if (req && req->previous_response_id.n)
		jw_kstr(w, "previous_response_id", req->previous_response_id.p,
		    req->previous_response_id.n);
	else
		jw_knull(w, "previous_response_id");
	if (u)
		usage_enc(w, u);
	else
		jw_knull(w, "usage");
	jw_obj_end(w);
}

static struct px_str
echo_model(const struct ir_request *req, struct px_str up)
{
	/* echo the name the client asked for (WIRE.md §3.1) */
	return req && req->model.n ? req->model : up;
}

static void
item_message(struct jw *w, struct px_str id, const char *status,
             const struct ir_part *parts, size_t n)
{
	size_t i;

	jw_obj(w);
	jw_kstr(w, "id", id.p, id.n);
	jw_kcstr(w, "type", "message");
	jw_kcstr(w, "status", status);
	jw_key(w, "content");
	jw_arr(w);
	for (i = 0; i < n; i++) {
		jw_obj(w);
		jw_kcstr(w, "type", "output_text");
		jw_key(w, "annotations");
		jw_arr(w);
		jw_arr_end(w);
		jw_key(w, "logprobs");
		jw_arr(w);
		jw_arr_end(w);
		jw_kstr(w, "text", parts[i].text.p, parts[i].text.n);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_kcstr(w, "role", "assistant");
	jw_obj_end(w);
}

/*
 * A call item as the client declared the tool: a custom tool's call is a
 * custom_tool_call with its input text; a namespace member's call names
 * the member and its namespace, which is how Codex routes it.
 */
static void
item_call(struct jw *w, struct px_str id, const char *status,
          struct px_str call_id, struct px_str name, struct px_str args,
          const struct ir_tool *t)
{
	jw_obj(w);
	jw_kstr(w, "id", id.p, id.n);
	if (t && t->custom) {
		jw_kcstr(w, "type", "custom_tool_call");
		jw_kcstr(w, "status", status);
		jw_kstr(w, "call_id", call_id.p, call_id.n);
		jw_kstr(w, "name", name.p, name.n);
		jw_key(w, "input");
		jw_custom_input(w, args);
		jw_obj_end(w);
		return;
	}
	jw_kcstr(w, "type", "function_call");
	jw_kcstr(w, "status", status);
	if (args.n)
		jw_kstr(w, "arguments", args.p, args.n);
	else
		jw_kcstr(w, "arguments", "");
	jw_kstr(w, "call_id", call_id.p, call_id.n);
	if (t && t->ns.n) {
		jw_kstr(w, "name", t->ns_name.p, t->ns_name.n);
		jw_kstr(w, "namespace", t->ns.p, t->ns.n);
	} else {
		jw_kstr(w, "name", name.p, name.n);
	}
	jw_obj_end(w);
}

/* item id prefix of a call item */
static const char *
call_prefix(const struct ir_tool *t)
{
	return t && t->custom ? "ctc_" : "fc_";
}

static int
rs_encode_response(const struct ir_request *req,
                   const struct ir_response *resp, struct jw *w,
                   struct px_err *err)
{
	struct px_arena *a = w->arena;
	const char *reason, *status = stop_status(resp->stop, &reason);
	struct px_arena tmp;
	struct px_str rid;
	size_t i, j;

	/* ids are minted in the output arena, or a local one */
	px_arena_init(&tmp, 0);
	if (!a)
		a = &tmp;
	resp_head(w, req, resp_id(a, resp->id), resp->created ? resp->created :
	    px_now(), echo_model(req, resp->model), status, reason, NULL);
	for (i = 0; i < resp->nparts; i = j) {
		const struct ir_part *p = &resp->parts[i];
		j = i + 1;
		if (p->type == IR_TEXT) {
			while (j < resp->nparts && resp->parts[j].type == IR_TEXT)
				j++;
			item_message(w, px_new_id(a, "msg_"), "completed",
			    p, j - i);
		} else if (p->type == IR_THINKING) {
			int own = p->sig_fmt == PX_FMT_RESPONSES &&
			    px_str_prefix(p->item_id, "rs_");
			while (j < resp->nparts &&
			    resp->parts[j].type == IR_THINKING &&
			    (!own || (resp->parts[j].item_id.n == p->item_id.n &&
			    memcmp(resp->parts[j].item_id.p, p->item_id.p,
			    p->item_id.n) == 0)))
				j++;
			rid = own ? p->item_id : px_new_id(a, "rs_");
			jw_obj(w);
			jw_kstr(w, "id", rid.p, rid.n);
			jw_kcstr(w, "type", "reasoning");
			jw_key(w, "summary");
			jw_arr(w);
			for (; i < j; i++) {
				if (!resp->parts[i].text.n)
					continue;
				jw_obj(w);
				jw_kcstr(w, "type", "summary_text");
				jw_kstr(w, "text", resp->parts[i].text.p,
				    resp->parts[i].text.n);
				jw_obj_end(w);
			}
			jw_arr_end(w);
			/* replay state only where it came from (§2.6) */
			if (own && resp->parts[j - 1].signature.n)
				jw_kstr(w, "encrypted_content",
				    resp->parts[j - 1].signature.p,
				    resp->parts[j - 1].signature.n);
			jw_obj_end(w);
		} else if (p->type == IR_TOOL_CALL) {
			const struct ir_tool *t = px_tool_find(req, p->name);
			const char *pfx = call_prefix(t);
			struct px_str fid = px_str_prefix(p->item_id, pfx) ?
			    p->item_id : px_new_id(a, pfx);
			item_call(w, fid, "completed", p->id.n ? p->id :
			    px_new_id(a, "call_"), p->name, p->args.n ?
			    p->args : px_str_c("{}"), t);
		}
	}
	resp_tail(w, req, &resp->usage);
	px_arena_free(&tmp);
	(void)err;
	return 0;
}

/* ---------------------------------------------------------- errors */

/* Same wire shape as Chat Completions (WIRE.md §5): one implementation. */
static void
rs_decode_error(const struct json *root, struct ir_error *e)
{
	px_codec_chat.decode_error(root, e);
}

static void
rs_encode_error(const struct ir_error *e, struct jw *out)
{
	px_codec_chat.encode_error(e, out);
}

/* ------------------------------------------------- stream: decoder */

struct gbuf { char *p; size_t n, cap; };

static int
gbuf_add(struct px_arena *a, struct gbuf *b, const char *s, size_t n)
{
	char *q;
	size_t nc;

	if (!n)
		return 0;
	if (b->n + n > PX_STREAM_ARGS_MAX)
		return -1;
	if (b->n + n > b->cap) {
		nc = b->cap ? b->cap * 2 : 256;
		while (nc < b->n + n)
			nc *= 2;
		q = px_arena_alloc(a, nc);
		if (!q)
			return -1;
		if (b->n)
			memcpy(q, b->p, b->n);
		b->p = q;
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	return 0;
}

enum { IT_NONE, IT_MSG, IT_CALL, IT_REASON, IT_OTHER };

struct rd_item {
	int type;
	unsigned added:1, done:1, current:1, opened:1;
	struct px_str id, call_id, name, sig;
	struct gbuf pend;         /* content not yet handed to px_emit */
	size_t total;             /* content bytes seen (pending + emitted) */
	long summary_index;       /* last reasoning summary part seen */
};

struct rd {
	struct rd_item *items;
	size_t nitems, cap;
	size_t cur;               /* output_index streaming live */
	int calls, terminal;
	long long seq;            /* the last sequence_number seen, -1 none */
	long long created;        /* response.created_at, 0 unknown */
};

static void *
rd_new(struct px_stream *s)
{
	struct rd *d = px_zalloc(s->a, sizeof(struct rd));

	if (d)
		d->seq = -1;
	return d;
}

static struct rd_item *
rd_slot(struct px_stream *s, struct rd *d, long idx)
{
	if (idx < 0 || idx > 4096)
		return NULL;     /* bounded: no sane response has more items */
	while (d->nitems <= (size_t)idx) {
		d->items = px_vgrow(s->a, d->items, d->nitems, &d->cap,
		    sizeof *d->items);
		if (!d->items)
			return NULL;
		d->nitems++;
	}
	return &d->items[idx];
}

static void
ev_init(struct ir_event *e, enum ir_ev_kind k)
{
	memset(e, 0, sizeof *e);
	e->kind = k;
	ir_usage_init(&e->usage);
}

static enum ir_part_type
item_block(int type)
{
	return type == IT_CALL ? IR_TOOL_CALL : type == IT_REASON ?
	    IR_THINKING : IR_TEXT;
}

static void
rd_open(struct px_stream *s, struct rd_item *it)
{
	struct ir_event e;

	if (it->opened || it->type == IT_OTHER || it->type == IT_NONE)
		return;
	ev_init(&e, IR_EV_BLOCK_START);
	e.block = item_block(it->type);
	if (it->type == IT_CALL) {
		e.id = it->call_id.n ? it->call_id : it->id;
		e.name = it->name;
	}
	px_emit(s, &e);
	it->opened = 1;
}

static void
rd_text(struct px_stream *s, struct rd_item *it, const char *p, size_t n)
{
	struct ir_event e;

	if (!n)
		return;
	rd_open(s, it);
	ev_init(&e, IR_EV_DELTA);
	e.text.p = p;
	e.text.n = n;
	px_emit(s, &e);
}

/* Content for item `it`: live when it is current, else buffered. */
static int
rd_content(struct px_stream *s, struct rd_item *it, const char *p, size_t n)
{
	if (!n)
		return 0;
	it->total += n;
	if (it->current) {
		rd_text(s, it, p, n);
		return 0;
	}
	return gbuf_add(s->a, &it->pend, p, n);
}

static void
rd_become_current(struct px_stream *s, struct rd_item *it)
{
	it->current = 1;
	if (it->type == IT_CALL)
		rd_open(s, it);      /* a call is a block even without args */
	if (it->pend.n)
		rd_text(s, it, it->pend.p, it->pend.n);
	it->pend.n = 0;
}

static void
rd_finish_item(struct px_stream *s, struct rd_item *it)
{
	struct ir_event e;

	if (it->sig.n) {
		/* reasoning state with no summary still needs its block */
		rd_open(s, it);
		ev_init(&e, IR_EV_DELTA);
		e.signature = it->sig;
		px_emit(s, &e);
	}
	if (it->opened) {
		ev_init(&e, IR_EV_BLOCK_STOP);
		px_emit(s, &e);
	}
	it->current = 0;
}

/* After item `cur` finished: move on through items already complete. */
static void
rd_advance(struct px_stream *s, struct rd *d, int flush_all)
{
	struct rd_item *it;

	while (d->cur < d->nitems) {
		it = &d->items[d->cur];
		if (!it->added) {
			if (!flush_all)
				return;
			d->cur++;
			continue;
		}
		if (!it->current)
			rd_become_current(s, it);
		if (!it->done && !flush_all)
			return;
		rd_finish_item(s, it);
		d->cur++;
	}
}

static int
rd_item_type(struct px_str ty)
{
	if (px_str_eq(ty, "message"))
		return IT_MSG;
	if (px_str_eq(ty, "function_call"))
		return IT_CALL;
	if (px_str_eq(ty, "reasoning"))
		return IT_REASON;
	return IT_OTHER;
}

/* Whole content of a finished item, used when no deltas were streamed. */
static int
rd_item_backfill(struct px_stream *s, struct rd_item *it,
                 const struct json *item)
{
	const struct json *c, *arr;
	struct px_str t;
	int rc = 0;

	if (it->total)
		return 0;
	if (it->type == IT_CALL) {
		t = px_jget(item, "arguments");
		return rd_content(s, it, t.p, t.n);
	}
	arr = json_get(item, it->type == IT_MSG ? "content" : "summary");
	for (c = arr ? arr->child : NULL; c; c = c->next) {
		t = px_jget(c, "text");
		if (!t.n)
			t = px_jget(c, "refusal");
		if (it->total && t.n)
			rc |= rd_content(s, it, "\n\n", 2);
		rc |= rd_content(s, it, t.p, t.n);
	}
	return rc;
}

static struct rd_item *
rd_event_item(struct px_stream *s, struct rd *d, const struct json *root)
{
	long long oi;
	struct rd_item *it;

	if (!json_int(json_get(root, "output_index"), &oi))
		return NULL;
	it = rd_slot(s, d, (long)oi);
	return it && it->added ? it : NULL;
}

static void
rd_error(struct px_stream *s, const struct json *obj, int status)
{
	struct ir_event e;
	struct px_str code;

	ev_init(&e, IR_EV_ERROR);
	code = px_jget(obj, "code");
	e.err.message = px_jget(obj, "message");
	e.err.code = code;
	e.err.param = px_jget(obj, "param");
	if (px_str_eq(code, "rate_limit_exceeded") ||
	    px_str_eq(code, "insufficient_quota"))
		e.err.kind = IR_ERR_RATE_LIMIT;
	else if (px_str_eq(code, "invalid_prompt") ||
	    px_str_eq(code, "context_length_exceeded"))
		e.err.kind = IR_ERR_INVALID;
	else
		e.err.kind = IR_ERR_SERVER;
	e.err.status = status ? status : px_status_from_kind(e.err.kind);
	if (!e.err.message.n)
		e.err.message = px_str_c("upstream response failed");
	px_emit(s, &e);
}

static int
rd_feed(struct px_stream *s, void *st, const struct sse_event *sev,
        const struct json *root)
{
	struct rd *d = st;
	struct rd_item *it;
	struct ir_event e;
	struct px_str ty, t;
	const struct json *r, *item;
	long long ll;

	if (!root)
		return 0;               /* [DONE] or keep-alive text */
	if (json_int(json_get(root, "sequence_number"), &ll))
		d->seq = ll;
	ty = px_jget(root, "type");
	if (!ty.n) {
		ty.p = sev->event;
		ty.n = sev->event_len;
	}
	if (json_get(root, "error") && !ty.n) {
		rd_error(s, json_get(root, "error"), 0);
		return 0;
	}
	if (px_str_eq(ty, "response.created") ||
	    px_str_eq(ty, "response.in_progress")) {
		r = json_get(root, "response");
		if (json_int(json_get(r, "created_at"), &ll))
			d->created = ll;
		ev_init(&e, IR_EV_START);
		e.id = px_jget(r, "id");
		e.model = px_jget(r, "model");
		px_emit(s, &e);
		return 0;
	}
	if (px_str_eq(ty, "response.output_item.added")) {
		if (!json_int(json_get(root, "output_index"), &ll) ||
		    !(it = rd_slot(s, d, (long)ll)))
			return -1;
		item = json_get(root, "item");
		it->added = 1;
		it->type = rd_item_type(px_jget(item, "type"));
		it->id = px_str_dup(s->a, px_jget(item, "id").p,
		    px_jget(item, "id").n);
		it->call_id = px_str_dup(s->a, px_jget(item, "call_id").p,
		    px_jget(item, "call_id").n);
		it->name = px_str_dup(s->a, px_jget(item, "name").p,
		    px_jget(item, "name").n);
		it->summary_index = -1;
		if (it->type == IT_CALL)
			d->calls++;
		if ((size_t)ll == d->cur)
			rd_become_current(s, it);
		return 0;
	}
	if (px_str_eq(ty, "response.output_text.delta") ||
	    px_str_eq(ty, "response.refusal.delta") ||
	    px_str_eq(ty, "response.function_call_arguments.delta") ||
	    px_str_eq(ty, "response.reasoning_text.delta")) {
		if (!(it = rd_event_item(s, d, root)))
			return 0;
		t = px_jget(root, "delta");
		return rd_content(s, it, t.p, t.n);
	}
	if (px_str_eq(ty, "response.reasoning_summary_text.delta")) {
		if (!(it = rd_event_item(s, d, root)))
			return 0;
		json_int(json_get(root, "summary_index"), &ll);
		/* summary parts become one thinking block, paragraph-joined */
		if (it->total && ll != it->summary_index &&
		    rd_content(s, it, "\n\n", 2))
			return -1;
		it->summary_index = (long)ll;
		t = px_jget(root, "delta");
		return rd_content(s, it, t.p, t.n);
	}
	if (px_str_eq(ty, "response.output_text.done") ||
	    px_str_eq(ty, "response.function_call_arguments.done") ||
	    px_str_eq(ty, "response.reasoning_summary_text.done")) {
		/* full text again: only used if no delta carried it */
		if (!(it = rd_event_item(s, d, root)) || it->total)
			return 0;
		t = px_jget(root, px_str_eq(ty,
		    "response.function_call_arguments.done") ? "arguments" :
		    "text");
		return rd_content(s, it, t.p, t.n);
	}
	if (px_str_eq(ty, "response.output_item.done")) {
		if (!(it = rd_event_item(s, d, root)))
			return 0;
		item = json_get(root, "item");
		if (rd_item_backfill(s, it, item))
			return -1;
		t = px_jget(item, "encrypted_content");
		if (t.n && it->type == IT_REASON)
			it->sig = px_str_dup(s->a, t.p, t.n);
		it->done = 1;
		rd_advance(s, d, 0);
		return 0;
	}
	if (px_str_eq(ty, "response.completed") ||
	    px_str_eq(ty, "response.incomplete")) {
		r = json_get(root, "response");
		rd_advance(s, d, 1);
		ev_init(&e, IR_EV_FINISH);
		if (px_str_eq(ty, "response.incomplete"))
			e.stop = incomplete_stop(r);
		else
			e.stop = d->calls ? IR_STOP_TOOL_USE : IR_STOP_END;
		usage_dec(json_get(r, "usage"), &e.usage);
		d->terminal = 1;
		px_emit(s, &e);
		return 0;
	}
	if (px_str_eq(ty, "response.failed")) {
		r = json_get(root, "response");
		d->terminal = 1;
		rd_error(s, json_get(r, "error"), 0);
		return 0;
	}
	if (px_str_eq(ty, "error")) {
		d->terminal = 1;
		rd_error(s, root, 0);
		return 0;
	}
	/* content_part.*, *_part.added/done, annotations, in-progress
	 * notices of hosted tools: nothing the IR needs */
	return 0;
}

static int
rd_end(struct px_stream *s, void *st)
{
	struct rd *d = st;

	(void)s;
	return d->terminal;
}

/* ------------------------------------------------- stream: encoder */

struct re_item {
	struct px_str json;        /* finished item, serialised */
};

struct re {
	long long seq;
	struct px_str id, model;
	long long created;
	int started;
	/* current item */
	int open;                  /* IR block type + 1, 0 = none */
	int skip;                  /* block with no Responses form */
	int part_open;             /* content/summary part announced */
	long oidx;                 /* output_index of the current item */
	struct px_str item_id, call_id, name;
	const struct ir_tool *tool;  /* the current call's tool, if known */
	struct gbuf text, sig;
	struct re_item *items;
	size_t nitems, cap;
	struct jw ev;              /* one event's JSON, reused */
	/* the current item's delta event up to the delta string's opening
	 * quote, built once per item: a delta is then a copy, its escaped
	 * text, a constant tail and the sequence number */
	struct jw pw;
	struct px_str pre;
};

static void *
re_new(struct px_stream *s)
{
	struct re *r = px_zalloc(s->a, sizeof *r);

	if (!r)
		return NULL;
	jw_init(&r->ev, s->a, (size_t)SSE_EVENT_MAX * 4u);
	jw_init(&r->pw, s->a, 1024);
	r->oidx = -1;
	return r;
}

/*
 * Continue a Responses stream whose earlier events were the upstream's own
 * (passed through untouched): what this encoder writes next carries the
 * same response id and the next sequence number, so a client sees one
 * response (see px_stream_fail_passthrough).
 */
static void
re_resume(struct px_stream *s, void *st, const struct px_stream *from)
{
	struct re *r = st;
	const struct rd *d = from->dec == &px_codec_responses ? from->dec_st :
	    NULL;

	if (!from->started)
		return;                 /* nothing went out: start afresh */
	r->started = 1;
	r->id = px_str_dup(s->a, from->id.p, from->id.n);
	r->model = echo_model(s->req, from->model);
	r->created = d && d->created ? d->created : px_now();
	r->seq = d && d->seq >= 0 ? d->seq + 1 : 0;
}

/* r->pre for the item just added (block type b). */
static void
re_delta_prefix(struct re *r, enum ir_part_type b)
{
	const char *type = b == IR_TEXT ? "response.output_text.delta" :
	    b == IR_THINKING ? "response.reasoning_summary_text.delta" :
	    "response.function_call_arguments.delta";

	jw_reset(&r->pw);
	jw_puts(&r->pw, "event: ");
	jw_puts(&r->pw, type);
	jw_puts(&r->pw, "\ndata: {\"type\":\"");
	jw_puts(&r->pw, type);
	jw_puts(&r->pw, "\",\"item_id\":\"");
	px_put_esc(&r->pw, r->item_id);
	jw_puts(&r->pw, "\",\"output_index\":");
	jw_int(&r->pw, r->oidx);
	if (b == IR_TEXT)
		jw_puts(&r->pw, ",\"content_index\":0");
	else if (b == IR_THINKING)
		jw_puts(&r->pw, ",\"summary_index\":0");
	jw_puts(&r->pw, ",\"delta\":\"");
	r->pre = px_jw_view(&r->pw);
}

/* Start an event: its JSON goes to r->ev, framed by re_end(). */
static void
re_begin(struct re *r, const char *type)
{
	jw_reset(&r->ev);
	jw_obj(&r->ev);
	jw_kcstr(&r->ev, "type", type);
}

static void
re_end(struct re *r, struct jw *out, const char *type)
{
	jw_kint(&r->ev, "sequence_number", r->seq++);
	jw_obj_end(&r->ev);
	jw_puts(out, "event: ");
	jw_puts(out, type);
	jw_puts(out, "\ndata: ");
	if (r->ev.err)
		out->err = 1;
	else
		jw_put(out, r->ev.buf, r->ev.len);
	jw_puts(out, "\n\n");
}

static void
re_whole(struct px_stream *s, struct re *r, struct jw *out, const char *type,
         const char *status, const char *reason, const struct ir_error *err,
         int with_usage)
{
	size_t i;

	re_begin(r, type);
	jw_key(&r->ev, "response");
	resp_head(&r->ev, s->req, r->id, r->created, r->model, status, reason,
	    err);
	for (i = 0; i < r->nitems; i++)
		jw_raw(&r->ev, r->items[i].json.p, r->items[i].json.n);
	resp_tail(&r->ev, s->req, with_usage ? &s->usage : NULL);
	re_end(r, out, type);
}

static void
re_start(struct px_stream *s, struct re *r, struct jw *out)
{
	if (r->started)
		return;
	r->started = 1;
	r->id = resp_id(s->a, s->id);
	r->model = echo_model(s->req, s->model);
	r->created = px_now();
	re_whole(s, r, out, "response.created", "in_progress", NULL, NULL, 0);
	re_whole(s, r, out, "response.in_progress", "in_progress", NULL, NULL,
	    0);
}

/* item_id + output_index (+ content_index) common to item events */
static void
re_ref(struct re *r, const char *idxkey)
{
	jw_kstr(&r->ev, "item_id", r->item_id.p, r->item_id.n);
	jw_kint(&r->ev, "output_index", r->oidx);
	if (idxkey)
		jw_kint(&r->ev, idxkey, 0);
}

/* Serialise the current item (final form) into the arena. */
static struct px_str
re_item_json(struct px_stream *s, struct re *r, const char *status)
{
	struct px_str res = { NULL, 0 };
	struct ir_part tp;
	struct jw w;

	jw_init(&w, s->a, r->text.n * 6 + r->sig.n * 6 + 1024);
	if (r->open - 1 == IR_TEXT) {
		memset(&tp, 0, sizeof tp);
		tp.text.p = r->text.p;
		tp.text.n = r->text.n;
		item_message(&w, r->item_id, status, &tp, 1);
	} else if (r->open - 1 == IR_TOOL_CALL) {
		struct px_str args = { r->text.p, r->text.n };
		item_call(&w, r->item_id, status, r->call_id, r->name, args,
		    r->tool);
	} else {
		jw_obj(&w);
		jw_kstr(&w, "id", r->item_id.p, r->item_id.n);
		jw_kcstr(&w, "type", "reasoning");
		jw_key(&w, "summary");
		jw_arr(&w);
		if (r->part_open) {
			jw_obj(&w);
			jw_kcstr(&w, "type", "summary_text");
			jw_kstr(&w, "text", r->text.p, r->text.n);
			jw_obj_end(&w);
		}
		jw_arr_end(&w);
		if (r->sig.n)
			jw_kstr(&w, "encrypted_content", r->sig.p, r->sig.n);
		jw_obj_end(&w);
	}
	if (!w.err) {
		res.p = w.buf;
		res.n = w.len;
	}
	return res;
}

#define PART_TEXT0 \
	"{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":\"\"}"
#define PART_SUM0 "{\"type\":\"summary_text\",\"text\":\"\"}"

static void
re_part_added(struct re *r, struct jw *out)
{
	if (r->part_open)
		return;
	r->part_open = 1;
	if (r->open - 1 == IR_TEXT) {
		re_begin(r, "response.content_part.added");
		re_ref(r, "content_index");
		jw_key(&r->ev, "part");
		jw_raw(&r->ev, PART_TEXT0, sizeof PART_TEXT0 - 1);
		re_end(r, out, "response.content_part.added");
	} else if (r->open - 1 == IR_THINKING) {
		re_begin(r, "response.reasoning_summary_part.added");
		re_ref(r, "summary_index");
		jw_key(&r->ev, "part");
		jw_raw(&r->ev, PART_SUM0, sizeof PART_SUM0 - 1);
		re_end(r, out, "response.reasoning_summary_part.added");
	}
}

static void
re_block_start(struct px_stream *s, struct re *r, const struct ir_event *ev,
               struct jw *out)
{
	r->open = (int)ev->block + 1;
	r->tool = NULL;
	r->skip = 0;
	r->part_open = 0;
	r->text.n = 0;
	r->sig.n = 0;
	if (ev->block == IR_REDACTED) {
		/* opaque Anthropic state: no Responses item can hold it */
		r->skip = 1;
		return;
	}
	r->oidx++;
	re_begin(r, "response.output_item.added");
	jw_kint(&r->ev, "output_index", r->oidx);
	jw_key(&r->ev, "item");
	jw_obj(&r->ev);
	if (ev->block == IR_TOOL_CALL) {
		r->tool = px_tool_find(s->req, ev->name);
		r->item_id = px_new_id(s->a, call_prefix(r->tool));
		r->call_id = ev->id.n ? px_str_dup(s->a, ev->id.p, ev->id.n) :
		    px_new_id(s->a, "call_");
		r->name = px_str_dup(s->a, ev->name.p, ev->name.n);
		jw_kstr(&r->ev, "id", r->item_id.p, r->item_id.n);
		if (r->tool && r->tool->custom) {
			jw_kcstr(&r->ev, "type", "custom_tool_call");
			jw_kcstr(&r->ev, "status", "in_progress");
			jw_kstr(&r->ev, "call_id", r->call_id.p, r->call_id.n);
			jw_kstr(&r->ev, "name", r->name.p, r->name.n);
			jw_kcstr(&r->ev, "input", "");
		} else {
			jw_kcstr(&r->ev, "type", "function_call");
			jw_kcstr(&r->ev, "status", "in_progress");
			jw_kcstr(&r->ev, "arguments", "");
			jw_kstr(&r->ev, "call_id", r->call_id.p,
			    r->call_id.n);
			if (r->tool && r->tool->ns.n) {
				jw_kstr(&r->ev, "name", r->tool->ns_name.p,
				    r->tool->ns_name.n);
				jw_kstr(&r->ev, "namespace", r->tool->ns.p,
				    r->tool->ns.n);
			} else {
				jw_kstr(&r->ev, "name", r->name.p, r->name.n);
			}
		}
	} else if (ev->block == IR_THINKING) {
		r->item_id = px_new_id(s->a, "rs_");
		jw_kstr(&r->ev, "id", r->item_id.p, r->item_id.n);
		jw_kcstr(&r->ev, "type", "reasoning");
		jw_key(&r->ev, "summary");
		jw_arr(&r->ev);
		jw_arr_end(&r->ev);
	} else {
		r->item_id = px_new_id(s->a, "msg_");
		jw_kstr(&r->ev, "id", r->item_id.p, r->item_id.n);
		jw_kcstr(&r->ev, "type", "message");
		jw_kcstr(&r->ev, "status", "in_progress");
		jw_key(&r->ev, "content");
		jw_arr(&r->ev);
		jw_arr_end(&r->ev);
		jw_kcstr(&r->ev, "role", "assistant");
	}
	jw_obj_end(&r->ev);
	re_end(r, out, "response.output_item.added");
	re_delta_prefix(r, ev->block);
	/* the SDK helpers need the part before any delta (WIRE.md §6.39) */
	if (ev->block == IR_TEXT)
		re_part_added(r, out);
}

static void
re_delta(struct px_stream *s, struct re *r, const struct ir_event *ev,
         struct jw *out)
{
	const char *tail;

	if (r->skip || !r->open)
		return;
	if (ev->signature.n && r->open - 1 == IR_THINKING &&
	    s->up == PX_FMT_RESPONSES) {
		/* encrypted_content is only meaningful to Responses */
		r->sig.n = 0;
		gbuf_add(s->a, &r->sig, ev->signature.p, ev->signature.n);
	}
	if (!ev->text.n)
		return;
	if (gbuf_add(s->a, &r->text, ev->text.p, ev->text.n))
		out->err = 1;
	switch (r->open - 1) {
	case IR_TEXT:
		tail = "\",\"logprobs\":[],\"sequence_number\":";
		break;
	case IR_THINKING:
		re_part_added(r, out);
		tail = "\",\"sequence_number\":";
		break;
	case IR_TOOL_CALL:
		if (r->tool && r->tool->custom)
			return;     /* the input string sits inside the JSON
			               arguments: sent whole at the stop */
		tail = "\",\"sequence_number\":";
		break;
	default:
		return;
	}
	if (!r->pre.n) {
		out->err = 1;
		return;
	}
	jw_put(out, r->pre.p, r->pre.n);
	px_put_esc(out, ev->text);
	jw_puts(out, tail);
	jw_int(out, r->seq++);
	jw_put(out, "}\n\n", 3);
}

static void
re_block_stop(struct px_stream *s, struct re *r, struct jw *out,
              const char *status)
{
	struct re_item *ri;
	struct px_str item;

	if (r->skip || !r->open) {
		r->open = 0;
		return;
	}
	switch (r->open - 1) {
	case IR_TEXT:
		re_begin(r, "response.output_text.done");
		re_ref(r, "content_index");
		jw_kstr(&r->ev, "text", r->text.p, r->text.n);
		jw_key(&r->ev, "logprobs");
		jw_arr(&r->ev);
		jw_arr_end(&r->ev);
		re_end(r, out, "response.output_text.done");
		re_begin(r, "response.content_part.done");
		re_ref(r, "content_index");
		jw_key(&r->ev, "part");
		jw_obj(&r->ev);
		jw_kcstr(&r->ev, "type", "output_text");
		jw_key(&r->ev, "annotations");
		jw_arr(&r->ev);
		jw_arr_end(&r->ev);
		jw_key(&r->ev, "logprobs");
		jw_arr(&r->ev);
		jw_arr_end(&r->ev);
		jw_kstr(&r->ev, "text", r->text.p, r->text.n);
		jw_obj_end(&r->ev);
		re_end(r, out, "response.content_part.done");
		break;
	case IR_THINKING:
		if (!r->part_open)
			break;
		re_begin(r, "response.reasoning_summary_text.done");
		re_ref(r, "summary_index");
		jw_kstr(&r->ev, "text", r->text.p, r->text.n);
		re_end(r, out, "response.reasoning_summary_text.done");
		re_begin(r, "response.reasoning_summary_part.done");
		re_ref(r, "summary_index");
		jw_key(&r->ev, "part");
		jw_obj(&r->ev);
		jw_kcstr(&r->ev, "type", "summary_text");
		jw_kstr(&r->ev, "text", r->text.p, r->text.n);
		jw_obj_end(&r->ev);
		re_end(r, out, "response.reasoning_summary_part.done");
		break;
	case IR_TOOL_CALL:
		if (r->tool && r->tool->custom) {
			struct px_str args = { r->text.p, r->text.n };
			re_begin(r, "response.custom_tool_call_input.delta");
			re_ref(r, NULL);
			jw_key(&r->ev, "delta");
			jw_custom_input(&r->ev, args);
			re_end(r, out, "response.custom_tool_call_input.delta");
			re_begin(r, "response.custom_tool_call_input.done");
			re_ref(r, NULL);
			jw_key(&r->ev, "input");
			jw_custom_input(&r->ev, args);
			re_end(r, out, "response.custom_tool_call_input.done");
			break;
		}
		if (!r->text.n) {
			/* no arguments streamed: "{}" keeps them valid JSON
			 * for clients that parse the concatenation */
			re_begin(r, "response.function_call_arguments.delta");
			re_ref(r, NULL);
			jw_kcstr(&r->ev, "delta", "{}");
			re_end(r, out, "response.function_call_arguments.delta");
			gbuf_add(s->a, &r->text, "{}", 2);
		}
		re_begin(r, "response.function_call_arguments.done");
		re_ref(r, NULL);
		jw_kstr(&r->ev, "arguments", r->text.p, r->text.n);
		re_end(r, out, "response.function_call_arguments.done");
		break;
	default:
		break;
	}
	item = re_item_json(s, r, status);
	re_begin(r, "response.output_item.done");
	jw_kint(&r->ev, "output_index", r->oidx);
	jw_key(&r->ev, "item");
	jw_raw(&r->ev, item.p, item.n);
	re_end(r, out, "response.output_item.done");
	r->items = px_vgrow(s->a, r->items, r->nitems, &r->cap, sizeof *ri);
	if (!r->items) {
		out->err = 1;
		r->nitems = 0;
	} else {
		r->items[r->nitems++].json = item;
	}
	r->open = 0;
}

static void
re_event(struct px_stream *s, void *st, const struct ir_event *ev,
         struct jw *out)
{
	struct re *r = st;
	const char *reason, *status;
	struct ir_error err;

	switch (ev->kind) {
	case IR_EV_START:
		re_start(s, r, out);
		break;
	case IR_EV_BLOCK_START:
		re_start(s, r, out);
		re_block_start(s, r, ev, out);
		break;
	case IR_EV_DELTA:
		re_delta(s, r, ev, out);
		break;
	case IR_EV_BLOCK_STOP:
		re_block_stop(s, r, out, "completed");
		break;
	case IR_EV_FINISH:
		re_start(s, r, out);
		status = stop_status(ev->stop, &reason);
		re_whole(s, r, out, strcmp(status, "completed") == 0 ?
		    "response.completed" : "response.incomplete", status,
		    reason, NULL, 1);
		break;
	case IR_EV_ERROR:
		/* error event, then response.failed as the terminal event
		 * (WIRE.md §1, §4.4) */
		re_start(s, r, out);
		/* close the item in flight so the failed response still
		 * holds what was streamed */
		if (r->open)
			re_block_stop(s, r, out, "incomplete");
		err = ev->err;
		if (!err.message.n)
			err.message = px_str_c("upstream error");
		re_begin(r, "error");
		if (err.code.n)
			jw_kstr(&r->ev, "code", err.code.p, err.code.n);
		else
			jw_kcstr(&r->ev, "code", err.kind == IR_ERR_RATE_LIMIT ?
			    "rate_limit_exceeded" : err.kind == IR_ERR_INVALID ?
			    "invalid_request_error" : "server_error");
		jw_kstr(&r->ev, "message", err.message.p, err.message.n);
		if (err.param.n)
			jw_kstr(&r->ev, "param", err.param.p, err.param.n);
		else
			jw_knull(&r->ev, "param");
		re_end(r, out, "error");
		re_whole(s, r, out, "response.failed", "failed", NULL, &err, 1);
		break;
	case IR_EV_PING:
		break;
	}
}

/* see convert_int.h */
const struct px_codec px_codec_responses = {
	PX_FMT_RESPONSES,
	rs_decode_request,
	rs_encode_request,
	rs_decode_response,
	rs_encode_response,
	rs_decode_error,
	rs_encode_error,
	rd_new,
	rd_feed,
	rd_end,
	re_new,
	NULL,
	re_event,
	re_resume,
};

/* ------------------------------------------- stored conversation state */

/*
 * previous_response_id served by the proxy itself: each turn is recorded
 * as {"id":..,"previous_response_id":..|null,"input":[..],"response":{..}}
 * and a continued conversation is the records' input and output items,
 * oldest first, in front of the new request's input. See convert.h.
 */

/* see convert.h */
int
px_responses_input_items(const struct json *input, struct jw *out)
{
	const struct json *it;

	jw_arr(out);
	if (input && input->type == JSON_STRING) {
		jw_obj(out);
		jw_kcstr(out, "type", "message");
		jw_kcstr(out, "role", "user");
		jw_kraw(out, "content", input->raw, input->rawlen);
		jw_obj_end(out);
	} else if (input && input->type == JSON_ARRAY) {
		for (it = input->child; it; it = it->next)
			jw_raw(out, it->raw, it->rawlen);
	} else if (input && input->type != JSON_NULL) {
		return -1;
	}
	jw_arr_end(out);
	return 0;
}

/* see convert.h */
int
px_responses_record(struct px_arena *a, const char *resp, size_t rn,
                    struct px_str prev, const char *input, size_t in_n,
                    struct jw *out, struct px_str *id)
{
	const struct json *root = json_parse(a, resp, rn, 0, NULL);
	const struct json *iv = json_get(root, "id");

	if (!root || root->type != JSON_OBJECT || !iv ||
	    iv->type != JSON_STRING || iv->n == 0)
		return -1;
	*id = px_str_json(iv);
	if (prev.n == id->n && memcmp(prev.p, id->p, prev.n) == 0)
		return -1;      /* a turn cannot continue itself */
	jw_obj(out);
	jw_kstr(out, "id", id->p, id->n);
	if (prev.n)
		jw_kstr(out, "previous_response_id", prev.p, prev.n);
	else
		jw_knull(out, "previous_response_id");
	jw_kraw(out, "input", input, in_n);
	jw_kraw(out, "response", resp, rn);
	jw_obj_end(out);
	return out->err ? -1 : 0;
}

/* see convert.h */
int
px_responses_record_response(struct px_arena *a, const char *rec, size_t n,
                             struct px_str *resp)
{
	const struct json *root = json_parse(a, rec, n, 0, NULL);
	const struct json *r = json_get(root, "response");

	if (!r || r->type != JSON_OBJECT)
		return -1;
	resp->p = r->raw;
	resp->n = r->rawlen;
	return 0;
}

/* see convert.h */
int
px_responses_history(struct px_arena *a, px_rs_lookup get, void *ctx,
                     struct px_str id, size_t max_turns, struct jw *out)
{
	const struct json **turns = NULL;
	size_t n = 0, cap = 0, i;
	const struct json *it;

	while (id.n) {
		const char *rec;
		size_t rn;
		const struct json *root, *in, *resp, *prev;

		if (n >= max_turns)
			return 0;      /* a cycle, or longer than allowed */
		if (!get(ctx, id.p, id.n, &rec, &rn))
			return 0;      /* unknown, expired or a broken chain */
		root = json_parse(a, rec, rn, 0, NULL);
		in = json_get(root, "input");
		resp = json_get(root, "response");
		if (!in || in->type != JSON_ARRAY || !resp ||
		    resp->type != JSON_OBJECT)
			return 0;      /* not a record: treated as unknown */
		turns = px_vgrow(a, turns, n, &cap, sizeof *turns);
		if (!turns)
			return -1;
		turns[n++] = root;
		prev = json_get(root, "previous_response_id");
		id = prev && prev->type == JSON_STRING ? px_str_json(prev) :
		    (struct px_str){ NULL, 0 };
	}
	jw_arr(out);
	for (i = n; i-- > 0; ) {
		const struct json *out_items;
		for (it = json_get(turns[i], "input")->child; it; it = it->next)
			jw_raw(out, it->raw, it->rawlen);
		out_items = json_get(json_get(turns[i], "response"), "output");
		if (out_items && out_items->type == JSON_ARRAY)
			for (it = out_items->child; it; it = it->next)
				jw_raw(out, it->raw, it->rawlen);
	}
	jw_arr_end(out);
	return out->err ? -1 : 1;
}

/* see convert.h */
int
px_responses_with_history(struct px_arena *a, const struct json *root,
                          const char *hist, size_t hn, struct jw *out)
{
	const struct json *m, *in = json_get(root, "input"), *it;
	const struct json *h;

	if (!root || root->type != JSON_OBJECT)
		return -1;
	if (in && in->type != JSON_STRING && in->type != JSON_ARRAY &&
	    in->type != JSON_NULL)
		return -1;
	h = json_parse(a, hist, hn, 0, NULL);
	if (!h || h->type != JSON_ARRAY)
		return -1;
	jw_obj(out);
	for (m = root->child; m; m = m->next) {
		if (json_eq(m->key, m->keylen, "previous_response_id"))
			continue;
		if (json_eq(m->key, m->keylen, "input"))
			continue;
		jw_keyn(out, m->key, m->keylen);
		jw_raw(out, m->raw, m->rawlen);
	}
	/* the whole conversation, after the other members so "input"
	 * appears once whatever the original order */
	jw_key(out, "input");
	jw_arr(out);
	for (it = h->child; it; it = it->next)
		jw_raw(out, it->raw, it->rawlen);
	if (in && in->type == JSON_STRING) {
		jw_obj(out);
		jw_kcstr(out, "type", "message");
		jw_kcstr(out, "role", "user");
		jw_kraw(out, "content", in->raw, in->rawlen);
		jw_obj_end(out);
	} else if (in && in->type == JSON_ARRAY) {
		for (it = in->child; it; it = it->next)
			jw_raw(out, it->raw, it->rawlen);
	}
	jw_arr_end(out);
	jw_obj_end(out);
	return out->err ? -1 : 0;
}
