/*
 * convert_chat.c - OpenAI Chat Completions codec (PX_FMT_CHAT).
 *
 * Requests: system/developer messages before the first other message become
 * ir_request.system; later ones stay IR_ROLE_SYSTEM messages. Consecutive
 * `tool` messages become ONE IR_ROLE_TOOL message (results in order), which
 * is what Anthropic needs (WIRE.md §2.5, §6.11). Tool-call `arguments`
 * strings are parsed and re-serialised compactly; empty or invalid text
 * becomes "{}" so no target ever receives a string input (§6.49).
 * DeepSeek/OpenRouter `reasoning_content` / `reasoning` become THINKING parts.
 *
 * Streams, decoder side: only choice 0 is converted (n > 1 cannot be carried
 * by the other formats). Upstream tool-call `index` k is mapped to IR blocks
 * through a table, never reused as a block index (§6.4, §6.5). The first
 * call streams live; a later call is held (id, name, argument text buffered)
 * until the live call's arguments form a complete JSON value, so calls whose
 * deltas interleave still come out as consecutive blocks (§4.4, §6.40).
 * FINISH is held until [DONE] or EOF because usage arrives after the finish
 * chunk and some upstreams put usage on every chunk (§4.2.5, §6.22).
 * Encoder side: one role delta, tool indexes counted from 0, finish_reason
 * key on every chunk, usage chunk with "choices":[] only on request, [DONE].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"

/* ------------------------------------------------------------ helpers */





/* Tool-call argument text -> compact JSON object text ("{}" if not one). */
static struct px_str
args_norm(struct px_arena *a, const char *p, size_t n)
{
	struct json *v = NULL;
	struct px_str r;

	if (n)
		v = json_parse(a, p, n, 0, NULL);
	if (v && v->type == JSON_OBJECT) {
		r = px_json_compact(a, v);
		if (r.p)
			return r;
	}
	return px_str_c("{}");
}

/* Text of a content value: string, or the text parts of an array joined. */
static struct px_str
content_text(struct px_arena *a, const struct json *c)
{
	const struct json *p;
	size_t total = 0, off = 0;
	char *buf;
	struct px_str t, r = { "", 0 };

	if (!c)
		return r;
	if (c->type == JSON_STRING)
		return px_str_json(c);
	if (c->type != JSON_ARRAY)
		return r;
	for (p = c->child; p; p = p->next) {
		t = px_jget(p, "text");
		if (p->type == JSON_STRING)
			t = px_str_json(p);
		total += t.n;
	}
	buf = px_arena_alloc(a, total + 1);
	if (!buf)
		return r;
	for (p = c->child; p; p = p->next) {
		t = px_jget(p, "text");
		if (p->type == JSON_STRING)
			t = px_str_json(p);
		if (t.n)
			memcpy(buf + off, t.p, t.n);
		off += t.n;
	}
	buf[off] = 0;
	r.p = buf;
	r.n = off;
	return r;
}

static enum ir_stop
finish_parse(struct px_str s)
{
	if (px_str_eq(s, "length"))         return IR_STOP_MAX_TOKENS;
	if (px_str_eq(s, "tool_calls") || px_str_eq(s, "function_call"))
		return IR_STOP_TOOL_USE;
	if (px_str_eq(s, "content_filter")) return IR_STOP_CONTENT_FILTER;
	return IR_STOP_END;   /* "stop" and anything unknown */
}

static const char *
finish_name(enum ir_stop st, int had_tools)
{
	switch (st) {
	case IR_STOP_MAX_TOKENS:
	case IR_STOP_CONTEXT:        return "length";
	case IR_STOP_TOOL_USE:       return "tool_calls";
	case IR_STOP_CONTENT_FILTER: return "content_filter";
	default:
		/* Gemini STOP with function calls must still say tool_calls
		 * (WIRE.md §6.32) */
		return had_tools ? "tool_calls" : "stop";
	}
}

/* ------------------------------------------------------- request decode */

/*
 * Every field read here is carried as sent or refused with a 400 naming it
 * (px_dec_*() in convert.c): a number out of range, a value of the wrong
 * type, an unknown enum value or a content part with no IR form is never
 * clamped, defaulted or skipped. `at` is the path of the value being
 * decoded, for those messages ("messages[2].content[1]").
 */

static const char *const effort_names[] = {
	"none", "minimal", "low", "medium", "high", "xhigh", NULL
};
static const enum ir_effort effort_vals[] = {
	IR_EFFORT_NONE, IR_EFFORT_MINIMAL, IR_EFFORT_LOW, IR_EFFORT_MEDIUM,
	IR_EFFORT_HIGH, IR_EFFORT_XHIGH
};

static int
dec_effort(const struct json *v, const char *at, const char *key,
           enum ir_effort *out, struct px_err *err)
{
	int k, rc;

	rc = px_dec_enum(v, at, key, effort_names, &k, err);
	if (rc > 0)
		*out = effort_vals[k];
	return rc;
}

static int
decode_image(const struct json *img, const char *at, struct ir_part *p,
             struct px_err *err)
{
	struct px_str url = { NULL, 0 };
	const char *key = "image_url";

	if (img && img->type == JSON_OBJECT) {
		key = "image_url.url";
		img = json_get(img, "url");
	}
	if (px_dec_str(img, at, key, &url, err) < 0)
		return -1;
	if (!url.n)
		return px_field_err(err, at, key, "a URL");
	p->type = IR_IMAGE;
	if (!px_data_url_split(url, &p->media_type, &p->data))
		p->url = url;
	return 0;
}

static int
decode_file(const struct json *f, const char *at, struct ir_part *p,
            struct px_err *err)
{
	struct px_str fd = { NULL, 0 }, id = { NULL, 0 };

	if (!f || f->type != JSON_OBJECT)
		return px_field_err(err, at, "file", "an object");
	p->type = IR_DOCUMENT;
	if (px_dec_str(json_get(f, "filename"), at, "file.filename", &p->name,
	    err) < 0 ||
	    px_dec_str(json_get(f, "file_data"), at, "file.file_data", &fd,
	    err) < 0 ||
	    px_dec_str(json_get(f, "file_id"), at, "file.file_id", &id,
	    err) < 0)
		return -1;
	if (!fd.n && !id.n) {
		px_err_set(err, 400, "%s.file needs file_data or file_id", at);
		return -1;
	}
	if (!px_data_url_split(fd, &p->media_type, &p->data))
		p->url = fd.n ? fd : id;
	return 0;
}

/* One content part (a string, or a part object) at `at` into p. */
static int
decode_part(const struct json *e, const char *at, struct ir_part *p,
            struct px_err *err)
{
	struct px_str ty = px_jget(e, "type");
	const char *k;

	if (e->type == JSON_STRING) {
		p->type = IR_TEXT;
		p->text = px_str_json(e);
		return 0;
	}
	if (e->type != JSON_OBJECT)
		return px_field_err(err, at, NULL, "a content part object");
	if (px_str_eq(ty, "text") || px_str_eq(ty, "input_text") ||
	    px_str_eq(ty, "refusal")) {
		k = px_str_eq(ty, "refusal") ? "refusal" : "text";
		p->type = IR_TEXT;
		return px_dec_str(json_get(e, k), at, k, &p->text, err) < 0 ?
		    -1 : 0;
	}
	if (px_str_eq(ty, "image_url"))
		return decode_image(json_get(e, "image_url"), at, p, err);
	if (px_str_eq(ty, "file"))
		return decode_file(json_get(e, "file"), at, p, err);
	/* input_audio etc.: no IR form, and leaving it out would change
	 * the question */
	px_err_set(err, 400, "%s: content part type '%.*s' cannot be converted",
	    at, (int)(ty.n > 40 ? 40 : ty.n), ty.p ? ty.p : "");
	return -1;
}

/*
 * The content (string, array of parts, null or absent) of the message at
 * `at` into parts (room for c->len parts, or 1); the count, or -1.
 * text_only: a system message, where anything but text is refused.
 */
static long
decode_parts(const struct json *c, const char *at, struct ir_part *parts,
             int text_only, struct px_err *err)
{
	const struct json *e;
	char pat[PX_AT_MAX];
	long n = 0;

	if (!c || c->type == JSON_NULL)
		return 0;
	if (c->type == JSON_STRING) {
		parts[0].type = IR_TEXT;
		parts[0].text = px_str_json(c);
		return 1;
	}
	if (c->type != JSON_ARRAY)
		return px_field_err(err, at, "content", "a string or an array "
		    "of content parts");
	for (e = c->child; e; e = e->next, n++) {
		px_at(pat, "%s.content[%ld]", at, n);
		if (decode_part(e, pat, &parts[n], err) < 0)
			return -1;
		if (text_only && parts[n].type != IR_TEXT) {
			px_err_set(err, 400, "%s: a system message can only "
			    "hold text", pat);
			return -1;
		}
	}
	return n;
}

static struct px_str
find_call_name(const struct ir_request *req, struct px_str id)
{
	size_t i, j;
	struct px_str none = { NULL, 0 };

	for (i = req->nmsgs; i-- > 0;) {
		const struct ir_msg *m = &req->msgs[i];
		for (j = 0; j < m->nparts; j++)
			if (m->parts[j].type == IR_TOOL_CALL && id.n &&
			    px_str_same(m->parts[j].id, id))
				return m->parts[j].name;
	}
	return none;
}

/* tool_calls of the assistant message at `at` into p; the count or -1 */
static long
decode_calls(struct px_arena *a, const struct json *tc, const char *at,
             struct ir_part *p, struct px_err *err)
{
	const struct json *t, *fn;
	struct px_str ty, args;
	char cat[PX_AT_MAX];
	long n = 0;

	if (!tc || tc->type == JSON_NULL)
		return 0;
	if (tc->type != JSON_ARRAY)
		return px_field_err(err, at, "tool_calls", "an array");
	for (t = tc->child; t; t = t->next, n++, p++) {
		px_at(cat, "%s.tool_calls[%ld]", at, n);
		ty = px_jget(t, "type");
		fn = json_get(t, "function");
		if (t->type != JSON_OBJECT || (ty.n && !px_str_eq(ty,
		    "function")) || !fn || fn->type != JSON_OBJECT)
			return px_field_err(err, cat, NULL, "a function call "
			    "({\"type\":\"function\",\"function\":{...}})");
		p->type = IR_TOOL_CALL;
		args.p = NULL;
		args.n = 0;
		if (px_dec_str(json_get(t, "id"), cat, "id", &p->id, err) < 0 ||
		    px_dec_str(json_get(fn, "name"), cat, "function.name",
		    &p->name, err) < 0 ||
		    px_dec_str(json_get(fn, "arguments"), cat,
		    "function.arguments", &args, err) < 0)
			return -1;
		p->args = args_norm(a, args.p, args.n);
	}
	return n;
}

static int
decode_messages(struct px_arena *a, const struct json *msgs,
                struct ir_request *req, struct px_err *err)
{
	const struct json *m, *c, *tc, *fc;
	struct ir_msg *im;
	struct ir_part *p;
	struct px_str role, s;
	size_t cap, nsys = 0, i;
	long np, k;
	int seen_other = 0;
	char at[PX_AT_MAX];

	req->msgs = px_zalloc(a, (msgs->len + 1) * sizeof *req->msgs);
	req->system = px_zalloc(a, (msgs->len + 1) * 8 * sizeof *req->system);
	if (!req->msgs || !req->system)
		goto nomem;
	for (m = msgs->child, i = 0; m; m = m->next, i++) {
		px_at(at, "messages[%zu]", i);
		if (m->type != JSON_OBJECT)
			return px_field_err(err, at, NULL, "an object");
		role = px_jget(m, "role");
		c = json_get(m, "content");
		cap = (c && c->type == JSON_ARRAY ? c->len : 1) + 2;
		if (px_str_eq(role, "system") || px_str_eq(role, "developer")) {
			struct ir_part *pp = px_zalloc(a, cap * sizeof *pp);
			if (!pp)
				goto nomem;
			np = decode_parts(c, at, pp, 1, err);
			if (np < 0)
				return -1;
			if (!seen_other) {
				/* leading system/developer text: IR system */
				for (k = 0; k < np && nsys < msgs->len * 8; k++)
					req->system[nsys++] = pp[k];
				continue;
			}
			im = &req->msgs[req->nmsgs++];
			im->role = IR_ROLE_SYSTEM;
			im->parts = pp;
			im->parts[0].type = IR_TEXT;
			im->parts[0].text = content_text(a, c);
			im->nparts = 1;
			continue;
		}
		seen_other = 1;
		if (px_str_eq(role, "tool") || px_str_eq(role, "function")) {
			/* consecutive tool messages -> one IR_ROLE_TOOL message */
			im = req->nmsgs ? &req->msgs[req->nmsgs - 1] : NULL;
			if (!im || im->role != IR_ROLE_TOOL) {
				const struct json *q;
				size_t cnt = 0;
				for (q = m; q; q = q->next) {
					struct px_str r = px_jget(q, "role");
					if (!px_str_eq(r, "tool") && !px_str_eq(r, "function"))
						break;
					cnt++;
				}
				im = &req->msgs[req->nmsgs++];
				im->role = IR_ROLE_TOOL;
				im->parts = px_zalloc(a, cnt * sizeof *im->parts);
				if (!im->parts)
					goto nomem;
			}
			p = &im->parts[im->nparts++];
			p->type = IR_TOOL_RESULT;
			if (px_dec_str(json_get(m, "tool_call_id"), at,
			    "tool_call_id", &p->id, err) < 0 ||
			    px_dec_str(json_get(m, "name"), at, "name", &p->name,
			    err) < 0)
				return -1;
			if (!p->name.n)
				p->name = find_call_name(req, p->id);
			p->content = px_zalloc(a, cap * sizeof *p->content);
			if (!p->content)
				goto nomem;
			np = decode_parts(c, at, p->content, 0, err);
			if (np < 0)
				return -1;
			if (c && c->type == JSON_ARRAY) {
				p->ncontent = (size_t)np;
			} else {
				/* a string (or none): one text part, maybe "" */
				p->content[0].type = IR_TEXT;
				p->content[0].text = content_text(a, c);
				p->ncontent = 1;
			}
			continue;
		}
		im = &req->msgs[req->nmsgs++];
		tc = NULL;
		if (px_str_eq(role, "assistant")) {
			im->role = IR_ROLE_ASSISTANT;
			tc = json_get(m, "tool_calls");
			cap += tc && tc->type == JSON_ARRAY ? tc->len : 0;
			fc = json_get(m, "function_call");
			if (fc && fc->type != JSON_NULL) {
				px_err_set(err, 400, "%s.function_call (legacy "
				    "function calling) cannot be converted; send "
				    "tool_calls", at);
				return -1;
			}
		} else if (px_str_eq(role, "user")) {
			im->role = IR_ROLE_USER;
		} else {
			px_err_set(err, 400, "unsupported message role '%.*s'",
			    (int)(role.n > 40 ? 40 : role.n), role.p ? role.p : "");
			return -1;
		}
		im->parts = px_zalloc(a, cap * sizeof *im->parts);
		if (!im->parts)
			goto nomem;
		np = 0;
		if (im->role == IR_ROLE_ASSISTANT) {
			s.p = NULL;
			s.n = 0;
			if (px_dec_str(json_get(m, "reasoning_content"), at,
			    "reasoning_content", &s, err) < 0)
				return -1;
			if (!s.n && px_dec_str(json_get(m, "reasoning"), at,
			    "reasoning", &s, err) < 0)
				return -1;
			if (s.n) {
				im->parts[np].type = IR_THINKING;
				im->parts[np].text = s;
				im->parts[np].sig_fmt = PX_FMT_CHAT;
				np++;
			}
		}
		k = decode_parts(c, at, im->parts + np, 0, err);
		if (k < 0)
			return -1;
		np += k;
		if (im->role == IR_ROLE_ASSISTANT) {
			s.p = NULL;
			s.n = 0;
			if (px_dec_str(json_get(m, "refusal"), at, "refusal", &s,
			    err) < 0)
				return -1;
			if (s.n) {
				im->parts[np].type = IR_TEXT;
				im->parts[np++].text = s;
			}
		}
		k = decode_calls(a, tc, at, im->parts + np, err);
		if (k < 0)
			return -1;
		im->nparts = (size_t)(np + k);
	}
	req->nsystem = nsys;
	return 0;
nomem:
	px_err_set(err, 413, "request too large");
	return -1;
}

static int
decode_tools(struct px_arena *a, const struct json *tools,
             struct ir_request *req, struct px_err *err)
{
	const struct json *t, *fn, *pa;
	struct ir_tool *it;
	struct px_str ty;
	char at[PX_AT_MAX];
	size_t i;

	if (tools->type != JSON_ARRAY)
		return px_field_err(err, NULL, "tools", "an array");
	req->tools = px_zalloc(a, (tools->len + 1) * sizeof *req->tools);
	if (!req->tools) {
		px_err_set(err, 413, "request too large");
		return -1;
	}
	for (t = tools->child, i = 0; t; t = t->next, i++) {
		px_at(at, "tools[%zu]", i);
		if (t->type != JSON_OBJECT)
			return px_field_err(err, at, NULL, "an object");
		it = &req->tools[req->ntools++];
		it->strict = -1;
		ty = px_jget(t, "type");
		fn = json_get(t, "function");
		if (!px_str_eq(ty, "function")) {
			/* another kind of tool: raw, for its own upstream */
			it->raw_type = ty.n ? ty : px_str_c("unknown");
			it->raw.p = t->raw;
			it->raw.n = t->rawlen;
			it->name = px_jget(t, "name");
			continue;
		}
		if (!fn || fn->type != JSON_OBJECT)
			return px_field_err(err, at, "function", "an object");
		if (px_dec_str(json_get(fn, "name"), at, "function.name",
		    &it->name, err) < 0 ||
		    px_dec_str(json_get(fn, "description"), at,
		    "function.description", &it->description, err) < 0 ||
		    px_dec_bool(json_get(fn, "strict"), at, "function.strict",
		    &it->strict, err) < 0)
			return -1;
		pa = json_get(fn, "parameters");
		if (pa && pa->type == JSON_OBJECT)
			it->parameters = px_json_compact(a, pa);
		else if (pa && pa->type != JSON_NULL)
			return px_field_err(err, at, "function.parameters",
			    "an object");
	}
	return 0;
}

/* Sampling fields Chat and legacy completions share: temperature, top_p,
 * top_k, penalties, seed, stop (string or array) and user. */
static int
chat_sampling(struct px_arena *a, const struct json *root,
              struct ir_request *req, struct px_err *err)
{
	const struct json *v, *o;

	if (px_dec_num(json_get(root, "temperature"), NULL, "temperature",
	    &req->temperature, err) < 0 ||
	    px_dec_num(json_get(root, "top_p"), NULL, "top_p", &req->top_p,
	    err) < 0 ||
	    px_dec_num(json_get(root, "top_k"), NULL, "top_k", &req->top_k,
	    err) < 0 ||
	    px_dec_num(json_get(root, "presence_penalty"), NULL,
	    "presence_penalty", &req->presence_penalty, err) < 0 ||
	    px_dec_num(json_get(root, "frequency_penalty"), NULL,
	    "frequency_penalty", &req->frequency_penalty, err) < 0 ||
	    px_dec_num(json_get(root, "seed"), NULL, "seed", &req->seed,
	    err) < 0 ||
	    px_dec_str(json_get(root, "user"), NULL, "user", &req->user,
	    err) < 0)
		return -1;
	v = json_get(root, "stop");
	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_STRING && v->type != JSON_ARRAY)
		goto bad_stop;
	req->stop = px_zalloc(a, (v->type == JSON_ARRAY ? v->len + 1 : 1) *
	    sizeof *req->stop);
	if (!req->stop) {
		px_err_set(err, 413, "request too large");
		return -1;
	}
	if (v->type == JSON_STRING) {
		req->stop[req->nstop++] = px_str_json(v);
		return 0;
	}
	for (o = v->child; o; o = o->next) {
		if (o->type != JSON_STRING)
			goto bad_stop;
		req->stop[req->nstop++] = px_str_json(o);
	}
	return 0;
bad_stop:
	return px_field_err(err, NULL, "stop", "a string or an array of "
	    "strings");
}

/* stream and stream_options.include_usage (Chat and legacy completions) */
static int
chat_stream(const struct json *root, struct ir_request *req,
            struct px_err *err)
{
	const struct json *v = json_get(root, "stream_options");

	if (px_dec_bool(json_get(root, "stream"), NULL, "stream",
	    &req->stream, err) < 0)
		return -1;
	if (v && v->type != JSON_NULL && v->type != JSON_OBJECT)
		return px_field_err(err, NULL, "stream_options", "an object");
	return px_dec_bool(json_get(v, "include_usage"), "stream_options",
	    "include_usage", &req->include_usage, err) < 0 ? -1 : 0;
}

static int
chat_tool_choice(const struct json *v, struct ir_request *req,
                 struct px_err *err)
{
	static const char *const names[] = { "none", "auto", "required", NULL };
	static const enum ir_tool_choice vals[] = {
		IR_TC_NONE, IR_TC_AUTO, IR_TC_REQUIRED
	};
	const struct json *fn;
	int k;

	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type == JSON_STRING) {
		if (px_dec_enum(v, NULL, "tool_choice", names, &k, err) < 0)
			return -1;
		req->tool_choice = vals[k];
		return 0;
	}
	fn = json_get(v, "function");
	if (v->type != JSON_OBJECT ||
	    !px_str_eq(px_jget(v, "type"), "function") ||
	    !px_jget(fn, "name").n)
		return px_field_err(err, NULL, "tool_choice", "'none', 'auto', "
		    "'required' or {\"type\":\"function\",\"function\":"
		    "{\"name\":...}}");
	req->tool_choice = IR_TC_NAMED;
	req->tool_choice_name = px_jget(fn, "name");
	return 0;
}

static int
chat_response_format(struct px_arena *a, const struct json *v,
                     struct ir_request *req, struct px_err *err)
{
	static const char *const names[] = {
		"text", "json_object", "json_schema", NULL
	};
	static const enum ir_rf vals[] = {
		IR_RF_TEXT, IR_RF_JSON_OBJECT, IR_RF_JSON_SCHEMA
	};
	const struct json *o, *sc;
	int k, rc;

	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_OBJECT)
		return px_field_err(err, NULL, "response_format", "an object");
	rc = px_dec_enum(json_get(v, "type"), "response_format", "type",
	    names, &k, err);
	if (rc == 0)            /* the words px_dec_enum() uses */
		px_field_err(err, "response_format", "type", "'text', "
		    "'json_object' or 'json_schema'");
	if (rc <= 0)
		return -1;
	req->rf = vals[k];
	if (req->rf != IR_RF_JSON_SCHEMA)
		return 0;
	o = json_get(v, "json_schema");
	if (!o || o->type != JSON_OBJECT)
		return px_field_err(err, "response_format", "json_schema",
		    "an object");
	if (px_dec_str(json_get(o, "name"), "response_format.json_schema",
	    "name", &req->rf_name, err) < 0 ||
	    px_dec_bool(json_get(o, "strict"), "response_format.json_schema",
	    "strict", &req->rf_strict, err) < 0)
		return -1;
	sc = json_get(o, "schema");
	if (sc && sc->type == JSON_OBJECT)
		req->rf_schema = px_json_compact(a, sc);
	else if (sc && sc->type != JSON_NULL)
		return px_field_err(err, "response_format.json_schema",
		    "schema", "an object");
	return 0;
}

static int
chat_decode_request(struct px_arena *a, const struct json *root,
                    struct ir_request *req, struct px_err *err)
{
	const struct json *v;
	enum ir_effort e = IR_EFFORT_UNSET;

	req->model = px_jget(root, "model");
	if (chat_stream(root, req, err) < 0)
		return -1;
	v = json_get(root, "messages");
	if (!v || v->type != JSON_ARRAY) {
		px_err_set(err, 400, "'messages' must be an array");
		return -1;
	}
	if (decode_messages(a, v, req, err) != 0)
		return -1;
	v = json_get(root, "tools");
	if (v && v->type != JSON_NULL && decode_tools(a, v, req, err) != 0)
		return -1;
	if (chat_tool_choice(json_get(root, "tool_choice"), req, err) < 0 ||
	    px_dec_bool(json_get(root, "parallel_tool_calls"), NULL,
	    "parallel_tool_calls", &req->parallel_tool_calls, err) < 0)
		return -1;
	/* accept both limits; max_completion_tokens wins (WIRE.md §6.59) */
	if (px_dec_int(json_get(root, "max_tokens"), NULL, "max_tokens", 1,
	    PX_INT_MAX, &req->max_tokens, err) < 0 ||
	    px_dec_int(json_get(root, "max_completion_tokens"), NULL,
	    "max_completion_tokens", 1, PX_INT_MAX, &req->max_tokens, err) < 0)
		return -1;
	if (chat_sampling(a, root, req, err) < 0 ||
	    px_dec_int(json_get(root, "n"), NULL, "n", 1, PX_INT_MAX, &req->n,
	    err) < 0 ||
	    dec_effort(json_get(root, "reasoning_effort"), NULL,
	    "reasoning_effort", &req->effort, err) < 0)
		return -1;
	v = json_get(root, "reasoning");     /* OpenRouter: {"effort"|"max_tokens"} */
	if (v && v->type != JSON_NULL) {
		if (v->type != JSON_OBJECT)
			return px_field_err(err, NULL, "reasoning", "an object");
		if (dec_effort(json_get(v, "effort"), "reasoning", "effort", &e,
		    err) < 0 ||
		    px_dec_int(json_get(v, "max_tokens"), "reasoning",
		    "max_tokens", 0, PX_INT_MAX, &req->thinking_budget, err) < 0)
			return -1;
		if (req->effort == IR_EFFORT_UNSET)
			req->effort = e;
	}
	if (chat_response_format(a, json_get(root, "response_format"), req,
	    err) < 0)
		return -1;
	return px_dec_bool(json_get(root, "store"), NULL, "store", &req->store,
	    err) < 0 ? -1 : 0;
}

/* ------------------------------------------------------- request encode */

/* "data:<media>;base64,<data>" as one JSON string without an arena. */
static void
jw_data_url(struct jw *w, struct px_str media, struct px_str data)
{
	jw_raw(w, "\"data:", 6);
	jw_escaped(w, media.p ? media.p : "", media.n);
	jw_put(w, ";base64,", 8);
	jw_escaped(w, data.p ? data.p : "", data.n);
	jw_put(w, "\"", 1);
}

static void
enc_image_part(struct jw *w, const struct ir_part *p)
{
	jw_obj(w);
	jw_kcstr(w, "type", "image_url");
	jw_key(w, "image_url");
	jw_obj(w);
	jw_key(w, "url");
	if (p->data.n)
		jw_data_url(w, p->media_type, p->data);
	else
		px_jw_str(w, p->url);
	jw_obj_end(w);
	jw_obj_end(w);
}

static void
enc_doc_part(struct jw *w, const struct ir_part *p)
{
	jw_obj(w);
	jw_kcstr(w, "type", "file");
	jw_key(w, "file");
	jw_obj(w);
	if (p->data.n) {
		jw_key(w, "file_data");
		jw_data_url(w, p->media_type, p->data);
	} else if (p->url.n) {
		jw_key(w, "file_id");
		px_jw_str(w, p->url);
	}
	if (p->name.n) {
		jw_key(w, "filename");
		px_jw_str(w, p->name);
	}
	jw_obj_end(w);
	jw_obj_end(w);
}

/* content as a string when it is exactly one text part, else parts */
static void
enc_user_content(struct jw *w, const struct ir_part *parts, size_t n)
{
	size_t i;

	if (n == 1 && parts[0].type == IR_TEXT) {
		px_jw_str(w, parts[0].text);
		return;
	}
	jw_arr(w);
	for (i = 0; i < n; i++) {
		const struct ir_part *p = &parts[i];
		if (p->type == IR_TEXT) {
			jw_obj(w);
			jw_kcstr(w, "type", "text");
			jw_key(w, "text");
			px_jw_str(w, p->text);
			jw_obj_end(w);
		} else if (p->type == IR_IMAGE) {
			enc_image_part(w, p);
		} else if (p->type == IR_DOCUMENT) {
			enc_doc_part(w, p);
		}
	}
	jw_arr_end(w);
}

static void
enc_text_joined(struct jw *w, const struct ir_part *parts, size_t n,
                const char *prefix)
{
	size_t i, cnt = 0;

	/* one string made of several parts: build it inside one JSON string */
	jw_raw(w, "\"", 1);
	if (prefix)
		jw_escaped(w, prefix, strlen(prefix));
	for (i = 0; i < n; i++) {
		if (parts[i].type != IR_TEXT)
			continue;
		if (cnt++)
			jw_put(w, "\\n\\n", 4);
		jw_escaped(w, parts[i].text.p ? parts[i].text.p : "",
		    parts[i].text.n);
	}
	jw_put(w, "\"", 1);
}

/* "tool_calls": [...] from the TOOL_CALL parts, in order (requests and
 * non-streamed responses share the shape). */
static void
enc_tool_calls(struct jw *w, const struct ir_part *parts, size_t n)
{
	size_t i;

	jw_key(w, "tool_calls");
	jw_arr(w);
	for (i = 0; i < n; i++) {
		const struct ir_part *p = &parts[i];
		if (p->type != IR_TOOL_CALL)
			continue;
		jw_obj(w);
		jw_key(w, "id");
		px_jw_str(w, p->id);
		jw_kcstr(w, "type", "function");
		jw_key(w, "function");
		jw_obj(w);
		jw_key(w, "name");
		px_jw_str(w, p->name);
		jw_key(w, "arguments");
		if (p->args.n)
			px_jw_str(w, p->args);
		else
			jw_cstr(w, "{}");
		jw_obj_end(w);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void
enc_assistant(struct jw *w, const struct ir_request *req,
              const struct ir_msg *m)
{
	size_t i, ntext = 0, ncall = 0;
	const struct ir_part *think = NULL;

	for (i = 0; i < m->nparts; i++) {
		if (m->parts[i].type == IR_TEXT)
			ntext++;
		else if (m->parts[i].type == IR_TOOL_CALL)
			ncall++;
		else if (m->parts[i].type == IR_THINKING && !think &&
		    m->parts[i].sig_fmt == PX_FMT_CHAT)
			think = &m->parts[i];
	}
	jw_obj(w);
	jw_kcstr(w, "role", "assistant");
	jw_key(w, "content");
	if (ntext)
		enc_text_joined(w, m->parts, m->nparts, NULL);
	else if (ncall)
		jw_null(w);
	else
		jw_cstr(w, "");
	/* reasoning text goes back only to Chat-style upstreams that produced
	 * it (DeepSeek needs it on tool-call turns, WIRE.md §6.19); OpenAI
	 * itself never sees it because it never sends it */
	if (think) {
		jw_key(w, "reasoning_content");
		px_jw_str(w, think->text);
	}
	if (ncall)
		enc_tool_calls(w, m->parts, m->nparts);
	(void)req;
	jw_obj_end(w);
}

static void
enc_tool_results(struct jw *w, const struct ir_msg *m)
{
	size_t i, j, nimg = 0;

	for (i = 0; i < m->nparts; i++) {
		const struct ir_part *p = &m->parts[i];
		if (p->type != IR_TOOL_RESULT)
			continue;
		jw_obj(w);
		jw_kcstr(w, "role", "tool");
		jw_key(w, "tool_call_id");
		px_jw_str(w, p->id);
		jw_key(w, "content");
		/* no is_error flag in Chat: say it in the text (WIRE.md §2.5) */
		enc_text_joined(w, p->content, p->ncontent,
		    p->is_error ? "Error: " : NULL);
		jw_obj_end(w);
		for (j = 0; j < p->ncontent; j++)
			if (p->content[j].type == IR_IMAGE)
				nimg++;
	}
	if (!nimg)
		return;
	/* tool messages cannot carry images: a follow-up user message does */
	jw_obj(w);
	jw_kcstr(w, "role", "user");
	jw_key(w, "content");
	jw_arr(w);
	for (i = 0; i < m->nparts; i++)
		for (j = 0; j < m->parts[i].ncontent; j++)
			if (m->parts[i].content[j].type == IR_IMAGE)
				enc_image_part(w, &m->parts[i].content[j]);
	jw_arr_end(w);
	jw_obj_end(w);
}

static int
chat_encode_request(const struct ir_request *req, struct px_str model,
                    struct jw *out, struct px_err *err)
{
	size_t i;
	const struct ir_msg *m;
	struct jw *w = out;

	for (i = 0; i < req->ntools; i++) {
		if (req->tools[i].raw_type.n && req->fmt != PX_FMT_CHAT) {
			px_err_set(err, 400, "tool type '%.*s' is not supported by "
			    "Chat Completions upstreams",
			    (int)(req->tools[i].raw_type.n > 64 ? 64 :
			    req->tools[i].raw_type.n), req->tools[i].raw_type.p);
			return -1;
		}
	}
	jw_obj(w);
	jw_key(w, "model");
	px_jw_str(w, model);
	jw_key(w, "messages");
	jw_arr(w);
	if (req->nsystem) {
		jw_obj(w);
		jw_kcstr(w, "role", "system");
		jw_key(w, "content");
		enc_text_joined(w, req->system, req->nsystem, NULL);
		jw_obj_end(w);
	}
	for (i = 0; i < req->nmsgs; i++) {
		m = &req->msgs[i];
		switch (m->role) {
		case IR_ROLE_SYSTEM:
			jw_obj(w);
			jw_kcstr(w, "role", "system");
			jw_key(w, "content");
			enc_text_joined(w, m->parts, m->nparts, NULL);
			jw_obj_end(w);
			break;
		case IR_ROLE_USER:
			if (!m->nparts)
				break;
			jw_obj(w);
			jw_kcstr(w, "role", "user");
			jw_key(w, "content");
			enc_user_content(w, m->parts, m->nparts);
			jw_obj_end(w);
			break;
		case IR_ROLE_ASSISTANT:
			enc_assistant(w, req, m);
			break;
		case IR_ROLE_TOOL:
			enc_tool_results(w, m);
			break;
		}
	}
	jw_arr_end(w);
	if (req->ntools) {
		jw_key(w, "tools");
		jw_arr(w);
		for (i = 0; i < req->ntools; i++) {
			const struct ir_tool *t = &req->tools[i];
			if (t->raw_type.n) {
				jw_raw(w, t->raw.p, t->raw.n);
				continue;
			}
			jw_obj(w);
			jw_kcstr(w, "type", "function");
			jw_key(w, "function");
			jw_obj(w);
			jw_key(w, "name");
			px_jw_str(w, t->name);
			if (t->description.n) {
				jw_key(w, "description");
				px_jw_str(w, t->description);
			}
			jw_key(w, "parameters");
			if (t->parameters.n)
				jw_raw(w, t->parameters.p, t->parameters.n);
			else
				jw_raw(w, "{\"type\":\"object\",\"properties\":{}}", 33);
			if (t->strict >= 0)
				jw_kbool(w, "strict", t->strict);
			jw_obj_end(w);
			jw_obj_end(w);
		}
		jw_arr_end(w);
	}
	switch (req->tool_choice) {
	case IR_TC_AUTO:     jw_kcstr(w, "tool_choice", "auto"); break;
	case IR_TC_NONE:     jw_kcstr(w, "tool_choice", "none"); break;
	case IR_TC_REQUIRED: jw_kcstr(w, "tool_choice", "required"); break;
	case IR_TC_NAMED:
		jw_key(w, "tool_choice");
		jw_obj(w);
		jw_kcstr(w, "type", "function");
		jw_key(w, "function");
		jw_obj(w);
		jw_key(w, "name");
		px_jw_str(w, req->tool_choice_name);
		jw_obj_end(w);
		jw_obj_end(w);
		break;
	default:
		break;
	}
	if (req->parallel_tool_calls >= 0 && req->ntools)
		jw_kbool(w, "parallel_tool_calls", req->parallel_tool_calls);
	if (req->max_tokens >= 0)
		jw_kint(w, "max_completion_tokens", req->max_tokens);
	if (req->temperature.set) {
		jw_key(w, "temperature");
		px_jw_num(w, &req->temperature);
	}
	if (req->top_p.set) {
		jw_key(w, "top_p");
		px_jw_num(w, &req->top_p);
	}
	if (req->top_k.set && req->fmt == PX_FMT_CHAT) {
		/* not an OpenAI field; only echo it for Chat-compatible servers
		 * the client already addressed with it */
		jw_key(w, "top_k");
		px_jw_num(w, &req->top_k);
	}
	if (req->presence_penalty.set) {
		jw_key(w, "presence_penalty");
		px_jw_num(w, &req->presence_penalty);
	}
	if (req->frequency_penalty.set) {
		jw_key(w, "frequency_penalty");
		px_jw_num(w, &req->frequency_penalty);
	}
	if (req->seed.set) {
		jw_key(w, "seed");
		px_jw_num(w, &req->seed);
	}
	if (req->nstop) {
		jw_key(w, "stop");
		jw_arr(w);
		for (i = 0; i < req->nstop; i++)
			px_jw_str(w, req->stop[i]);
		jw_arr_end(w);
	}
	if (req->n >= 0)
		jw_kint(w, "n", req->n);
	if (req->user.n) {
		jw_key(w, "user");
		px_jw_str(w, req->user);
	}
	if (req->effort != IR_EFFORT_UNSET) {
		jw_kcstr(w, "reasoning_effort", px_effort_name(req->effort));
	} else if (req->thinking_budget > 0) {
		/* Anthropic/Gemini budget -> effort (table in convert.c) */
		jw_kcstr(w, "reasoning_effort",
		    px_effort_name(px_budget_effort(req->thinking_budget)));
	}
	switch (req->rf) {
	case IR_RF_TEXT:
		jw_key(w, "response_format");
		jw_obj(w);
		jw_kcstr(w, "type", "text");
		jw_obj_end(w);
		break;
	case IR_RF_JSON_OBJECT:
		jw_key(w, "response_format");
		jw_obj(w);
		jw_kcstr(w, "type", "json_object");
		jw_obj_end(w);
		break;
	case IR_RF_JSON_SCHEMA:
		jw_key(w, "response_format");
		jw_obj(w);
		jw_kcstr(w, "type", "json_schema");
		jw_key(w, "json_schema");
		jw_obj(w);
		jw_key(w, "name");
		if (req->rf_name.n)
			px_jw_str(w, req->rf_name);
		else
			jw_cstr(w, "response");
		if (req->rf_schema.n)
			jw_kraw(w, "schema", req->rf_schema.p, req->rf_schema.n);
		if (req->rf_strict >= 0)
			jw_kbool(w, "strict", req->rf_strict);
		jw_obj_end(w);
		jw_obj_end(w);
		break;
	default:
		break;
	}
	if (req->store >= 0 && req->fmt != PX_FMT_ANTHROPIC &&
	    req->fmt != PX_FMT_GEMINI)
		jw_kbool(w, "store", req->store);
	if (req->stream) {
		jw_kbool(w, "stream", 1);
		/* always ask for usage: it is the only way to learn token counts
		 * from a streamed Chat upstream (WIRE.md §3.3) */
		jw_key(w, "stream_options");
		jw_obj(w);
		jw_kbool(w, "include_usage", 1);
		jw_obj_end(w);
	}
	jw_obj_end(w);
	return 0;
}

/* ------------------------------------------------------ response decode */

static void
decode_usage(const struct json *u, struct ir_usage *us)
{
	long long v;

	if (!u || u->type != JSON_OBJECT)
		return;
	if (json_int(json_get(u, "prompt_tokens"), &v))
		us->input = v;
	if (json_int(json_get(u, "completion_tokens"), &v))
		us->output = v;
	if (json_int(json_get(json_get(u, "prompt_tokens_details"),
	    "cached_tokens"), &v))
		us->cache_read = v;
	if (json_int(json_get(json_get(u, "completion_tokens_details"),
	    "reasoning_tokens"), &v))
		us->reasoning = v;
	/* litellm-style extension carrying Anthropic's cache writes */
	if (json_int(json_get(u, "cache_creation_input_tokens"), &v))
		us->cache_write = v;
}

static int
chat_decode_response(struct px_arena *a, const struct json *root,
                     struct ir_response *resp, struct px_err *err)
{
	const struct json *ch, *msg, *tc, *t, *fn;
	struct px_str s;
	long long ll;
	size_t cap, np = 0;

	resp->id = px_jget(root, "id");
	resp->model = px_jget(root, "model");
	if (json_int(json_get(root, "created"), &ll))
		resp->created = ll;
	ch = json_at(json_get(root, "choices"), 0);
	msg = json_get(ch, "message");
	if (!msg) {
		px_err_set(err, 502, "upstream response has no choices");
		return -1;
	}
	tc = json_get(msg, "tool_calls");
	cap = 4 + (tc && tc->type == JSON_ARRAY ? tc->len : 0);
	resp->parts = px_zalloc(a, cap * sizeof *resp->parts);
	if (!resp->parts) {
		px_err_set(err, 502, "response too large");
		return -1;
	}
	s = px_jget(msg, "reasoning_content");
	if (!s.n)
		s = px_jget(msg, "reasoning");
	if (s.n) {
		resp->parts[np].type = IR_THINKING;
		resp->parts[np].sig_fmt = PX_FMT_CHAT;
		resp->parts[np++].text = s;
	}
	s = content_text(a, json_get(msg, "content"));
	if (s.n) {
		resp->parts[np].type = IR_TEXT;
		resp->parts[np++].text = s;
	}
	s = px_jget(msg, "refusal");
	if (s.n) {
		resp->parts[np].type = IR_TEXT;
		resp->parts[np++].text = s;
	}
	if (tc && tc->type == JSON_ARRAY) {
		for (t = tc->child; t; t = t->next) {
			struct ir_part *p = &resp->parts[np++];
			fn = json_get(t, "function");
			p->type = IR_TOOL_CALL;
			p->id = px_jget(t, "id");
			p->name = px_jget(fn, "name");
			s = px_jget(fn, "arguments");
			p->args = args_norm(a, s.p, s.n);
		}
	}
	resp->nparts = np;
	resp->native_stop = px_jget(ch, "finish_reason");
	resp->stop = finish_parse(resp->native_stop);
	if (px_jget(msg, "refusal").n && resp->stop == IR_STOP_END)
		resp->stop = IR_STOP_CONTENT_FILTER;
	decode_usage(json_get(root, "usage"), &resp->usage);
	return 0;
}

/* ------------------------------------------------------ response encode */

static void
enc_usage(struct jw *w, const struct ir_usage *u)
{
	long long in = u->input > 0 ? u->input : 0;
	long long out = u->output > 0 ? u->output : 0;

	jw_obj(w);
	jw_kint(w, "prompt_tokens", in);
	jw_kint(w, "completion_tokens", out);
	jw_kint(w, "total_tokens", in + out);
	if (u->cache_read >= 0) {
		jw_key(w, "prompt_tokens_details");
		jw_obj(w);
		jw_kint(w, "cached_tokens", u->cache_read);
		jw_obj_end(w);
	}
	if (u->reasoning >= 0) {
		jw_key(w, "completion_tokens_details");
		jw_obj(w);
		jw_kint(w, "reasoning_tokens", u->reasoning);
		jw_obj_end(w);
	}
	jw_obj_end(w);
}

/* the client's model name, else the upstream's */
static struct px_str
client_model(const struct ir_request *req, struct px_str up)
{
	return req && req->model.n ? req->model : up;
}

static void
jw_chat_id(struct jw *w, struct px_str id)
{
	struct px_arena tmp;

	if (id.n > 9 && memcmp(id.p, "chatcmpl-", 9) == 0) {
		px_jw_str(w, id);
		return;
	}
	px_arena_init(&tmp, 0);
	px_jw_str(w, px_new_id(&tmp, "chatcmpl-"));
	px_arena_free(&tmp);
}

static int
chat_encode_response(const struct ir_request *req,
                     const struct ir_response *resp, struct jw *out,
                     struct px_err *err)
{
	struct jw *w = out;
	size_t i, ntext = 0, ncall = 0;
	const struct ir_part *think = NULL;

	for (i = 0; i < resp->nparts; i++) {
		if (resp->parts[i].type == IR_TEXT)
			ntext++;
		else if (resp->parts[i].type == IR_TOOL_CALL)
			ncall++;
		else if (resp->parts[i].type == IR_THINKING && !think)
			think = &resp->parts[i];
	}
	jw_obj(w);
	jw_key(w, "id");
	jw_chat_id(w, resp->id);
	jw_kcstr(w, "object", "chat.completion");
	jw_kint(w, "created", resp->created ? resp->created : px_now());
	jw_key(w, "model");
	px_jw_str(w, client_model(req, resp->model));
	jw_key(w, "choices");
	jw_arr(w);
	jw_obj(w);
	jw_kint(w, "index", 0);
	jw_key(w, "message");
	jw_obj(w);
	jw_kcstr(w, "role", "assistant");
	jw_key(w, "content");
	if (ntext) {
		/* text blocks are joined without separators: they are pieces of
		 * one answer */
		jw_raw(w, "\"", 1);
		for (i = 0; i < resp->nparts; i++)
			if (resp->parts[i].type == IR_TEXT)
				jw_escaped(w, resp->parts[i].text.p ?
				    resp->parts[i].text.p : "", resp->parts[i].text.n);
		jw_put(w, "\"", 1);
	} else {
		jw_null(w);
	}
	if (think) {
		/* DeepSeek-style field: the only place a Chat client can see
		 * thinking (signatures cannot travel, WIRE.md §2.6) */
		jw_key(w, "reasoning_content");
		jw_raw(w, "\"", 1);
		for (i = 0; i < resp->nparts; i++)
			if (resp->parts[i].type == IR_THINKING)
				jw_escaped(w, resp->parts[i].text.p ?
				    resp->parts[i].text.p : "", resp->parts[i].text.n);
		jw_put(w, "\"", 1);
	}
	if (ncall)
		enc_tool_calls(w, resp->parts, resp->nparts);
	jw_knull(w, "refusal");
	jw_obj_end(w);
	jw_knull(w, "logprobs");
	jw_kcstr(w, "finish_reason", finish_name(resp->stop, ncall > 0));
	jw_obj_end(w);
	jw_arr_end(w);
	jw_key(w, "usage");
	enc_usage(w, &resp->usage);
	jw_obj_end(w);
	(void)err;
	return 0;
}

/* ---------------------------------------------------------------- errors */

static enum ir_err_kind
kind_from_type(struct px_str t, enum ir_err_kind dflt)
{
	if (px_str_eq(t, "invalid_request_error"))  return IR_ERR_INVALID;
	if (px_str_eq(t, "authentication_error"))   return IR_ERR_AUTH;
	if (px_str_eq(t, "permission_error") ||
	    px_str_eq(t, "permission_denied"))      return IR_ERR_PERMISSION;
	if (px_str_eq(t, "not_found_error"))        return IR_ERR_NOT_FOUND;
	if (px_str_eq(t, "request_too_large"))      return IR_ERR_TOO_LARGE;
	if (px_str_eq(t, "rate_limit_error") || px_str_eq(t, "rate_limit_exceeded") ||
	    px_str_eq(t, "insufficient_quota") || px_str_eq(t, "tokens"))
		return IR_ERR_RATE_LIMIT;
	if (px_str_eq(t, "server_error") || px_str_eq(t, "api_error"))
		return IR_ERR_SERVER;
	if (px_str_eq(t, "overloaded_error"))       return IR_ERR_OVERLOADED;
	if (px_str_eq(t, "timeout_error"))          return IR_ERR_TIMEOUT;
	return dflt;
}

static void
chat_decode_error(const struct json *root, struct ir_error *e)
{
	const struct json *er, *c;
	long long code;

	if (!root)
		return;
	er = json_get(root, "error");
	if (er && er->type == JSON_STRING) {
		e->message = px_str_json(er);
		return;
	}
	if (!er || er->type != JSON_OBJECT)
		er = root;
	e->message = px_jget(er, "message");
	e->kind = kind_from_type(px_jget(er, "type"), e->kind);
	c = json_get(er, "code");
	if (c && c->type == JSON_STRING)
		e->code = px_str_json(c);
	else if (json_int(c, &code) && code >= 400 && code <= 599 && !e->status)
		e->status = (int)code;   /* Gemini-style numeric code */
	e->param = px_jget(er, "param");
}

static const char *
chat_err_type(enum ir_err_kind k)
{
	switch (k) {
	case IR_ERR_INVALID:    return "invalid_request_error";
	case IR_ERR_AUTH:       return "authentication_error";
	case IR_ERR_PERMISSION: return "permission_error";
	case IR_ERR_NOT_FOUND:  return "not_found_error";
	case IR_ERR_TOO_LARGE:  return "invalid_request_error";
	case IR_ERR_RATE_LIMIT: return "rate_limit_error";
	case IR_ERR_TIMEOUT:    return "timeout_error";
	default:                return "server_error";
	}
}

static void
chat_encode_error(const struct ir_error *e, struct jw *out)
{
	jw_obj(out);
	jw_key(out, "error");
	jw_obj(out);
	jw_key(out, "message");
	px_jw_str(out, e->message);
	jw_kcstr(out, "type", chat_err_type(e->kind));
	jw_key(out, "param");
	if (e->param.n)
		px_jw_str(out, e->param);
	else
		jw_null(out);
	jw_key(out, "code");
	if (e->code.n)
		px_jw_str(out, e->code);
	else if (e->kind == IR_ERR_AUTH)
		jw_cstr(out, "invalid_api_key");
	else if (e->kind == IR_ERR_TOO_LARGE)
		jw_cstr(out, "request_too_large");
	else
		jw_null(out);
	jw_obj_end(out);
	jw_obj_end(out);
}

/* ------------------------------------------------------ stream decoder */

enum cblk { CB_NONE, CB_TEXT, CB_THINK, CB_TOOL };
enum cst { CALL_PENDING, CALL_LIVE, CALL_CLOSED };

struct ccall {
	long long k;                  /* upstream tool_calls[].index */
	struct px_str id, name;
	char *buf;                    /* argument text held while pending */
	size_t len, cap;
	enum cst st;
	/* tiny scanner: is the argument text a complete JSON value yet? */
	int depth;
	unsigned in_str:1, esc:1, began:1, complete:1;
};

struct cdec {
	enum cblk cur;
	struct ccall *calls;
	size_t ncalls, capcalls;
	size_t held;                  /* bytes buffered over all calls */
	int finish_seen, broken;
	enum ir_stop stop;
	struct ir_usage usage;
};

static void
scan_args(struct ccall *c, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !c->complete; i++) {
		char ch = p[i];
		if (c->in_str) {
			if (c->esc)
				c->esc = 0;
			else if (ch == '\\')
				c->esc = 1;
			else if (ch == '"')
				c->in_str = 0;
			continue;
		}
		if (ch == '"') {
			c->in_str = 1;
			c->began = 1;
		} else if (ch == '{' || ch == '[') {
			c->depth++;
			c->began = 1;
		} else if (ch == '}' || ch == ']') {
			if (--c->depth <= 0 && c->began)
				c->complete = 1;
		}
	}
}

static void *
chat_sdec_new(struct px_stream *s)
{
	struct cdec *d = px_zalloc(s->a, sizeof *d);

	if (d) {
		ir_usage_init(&d->usage);
		d->cur = CB_NONE;
	}
	return d;
}

static void
ev_init(struct ir_event *e, enum ir_ev_kind k)
{
	memset(e, 0, sizeof *e);
	e->kind = k;
	ir_usage_init(&e->usage);
}

static void
cdec_close(struct px_stream *s, struct cdec *d)
{
	struct ir_event e;
	size_t i;

	if (d->cur == CB_NONE)
		return;
	if (d->cur == CB_TOOL)
		for (i = 0; i < d->ncalls; i++)
			if (d->calls[i].st == CALL_LIVE)
				d->calls[i].st = CALL_CLOSED;
	ev_init(&e, IR_EV_BLOCK_STOP);
	px_emit(s, &e);
	d->cur = CB_NONE;
}

static void
cdec_open(struct px_stream *s, struct cdec *d, enum cblk b)
{
	struct ir_event e;

	if (d->cur == b)
		return;
	cdec_close(s, d);
	ev_init(&e, IR_EV_BLOCK_START);
	e.block = b == CB_TEXT ? IR_TEXT : IR_THINKING;
	px_emit(s, &e);
	d->cur = b;
}

static void
cdec_delta(struct px_stream *s, struct px_str text, struct px_str sig)
{
	struct ir_event e;

	ev_init(&e, IR_EV_DELTA);
	e.text = text;
	e.signature = sig;
	px_emit(s, &e);
}

/* Open the next pending call once nothing live can still grow. */
static void
cdec_pump(struct px_stream *s, struct cdec *d, int flush_all)
{
	struct ir_event e;
	size_t i;
	struct ccall *live = NULL, *next = NULL;

	for (;;) {
		live = next = NULL;
		for (i = 0; i < d->ncalls; i++) {
			if (d->calls[i].st == CALL_LIVE)
				live = &d->calls[i];
			else if (d->calls[i].st == CALL_PENDING && !next)
				next = &d->calls[i];
		}
		if (!next)
			return;
		if (live && !live->complete && !flush_all)
			return;         /* its arguments may still grow */
		cdec_close(s, d);
		ev_init(&e, IR_EV_BLOCK_START);
		e.block = IR_TOOL_CALL;
		e.id = next->id;
		e.name = next->name;
		px_emit(s, &e);
		d->cur = CB_TOOL;
		next->st = CALL_LIVE;
		if (next->len) {
			struct px_str t = { next->buf, next->len }, z = { NULL, 0 };
			cdec_delta(s, t, z);
		}
	}
}

static struct ccall *
cdec_call(struct px_stream *s, struct cdec *d, long long k,
          struct px_str id, struct px_str name)
{
	struct ccall *c = NULL;
	size_t i;

	for (i = d->ncalls; i-- > 0;) {
		if (d->calls[i].k == k) {
			c = &d->calls[i];
			break;
		}
	}
	/* a new id on a known index is a new call (WIRE.md §6.3, §6.4) */
	if (c && (!id.n || !c->id.n || (c->id.n == id.n &&
	    memcmp(c->id.p, id.p, id.n) == 0))) {
		if (!c->name.n && name.n && c->st == CALL_PENDING)
			c->name = px_str_dup(s->a, name.p, name.n);
		return c;
	}
	if (!id.n && !name.n)
		return NULL;            /* fragment for a call never announced */
	if (d->ncalls == d->capcalls) {
		size_t nc = d->capcalls ? d->capcalls * 2 : 8;
		struct ccall *n2 = px_zalloc(s->a, nc * sizeof *n2);
		if (!n2)
			return NULL;
		if (d->ncalls)
			memcpy(n2, d->calls, d->ncalls * sizeof *n2);
		d->calls = n2;
		d->capcalls = nc;
	}
	c = &d->calls[d->ncalls++];
	memset(c, 0, sizeof *c);
	c->k = k;
	c->st = CALL_PENDING;
	c->id = id.n ? px_str_dup(s->a, id.p, id.n) : px_new_id(s->a, "call_");
	c->name = px_str_dup(s->a, name.p, name.n);
	return c;
}

static int
cdec_hold(struct px_stream *s, struct cdec *d, struct ccall *c,
          struct px_str frag)
{
	if (d->held + frag.n > PX_STREAM_ARGS_MAX)
		return -1;
	if (c->len + frag.n > c->cap) {
		size_t nc = (c->len + frag.n) * 2 + 64;
		char *nb = px_arena_alloc(s->a, nc);
		if (!nb)
			return -1;
		if (c->len)
			memcpy(nb, c->buf, c->len);
		c->buf = nb;
		c->cap = nc;
	}
	memcpy(c->buf + c->len, frag.p, frag.n);
	c->len += frag.n;
	d->held += frag.n;
	return 0;
}

static int
cdec_tools(struct px_stream *s, struct cdec *d, const struct json *tcs)
{
	const struct json *t, *fn;
	struct ccall *c;
	struct px_str frag, z = { NULL, 0 };
	long long k;
	size_t pos = 0;

	for (t = tcs->child; t; t = t->next, pos++) {
		fn = json_get(t, "function");
		if (!json_int(json_get(t, "index"), &k)) {
			/* no index (Gemini compat, WIRE.md §6.2): a new id means a
			 * new call, otherwise continue the latest one */
			if (px_jget(t, "id").n || !d->ncalls)
				k = (long long)(d->ncalls + pos) + 1000000;
			else
				k = d->calls[d->ncalls - 1].k;
		}
		c = cdec_call(s, d, k, px_jget(t, "id"), px_jget(fn, "name"));
		if (!c)
			continue;
		frag = px_jget(fn, "arguments");
		if (frag.n) {
			if (c->st == CALL_LIVE) {
				cdec_delta(s, frag, z);
				scan_args(c, frag.p, frag.n);
			} else if (c->st == CALL_PENDING) {
				if (cdec_hold(s, d, c, frag) != 0)
					return -1;
				scan_args(c, frag.p, frag.n);
			}
			/* CLOSED: more text after a complete value - dropped */
		}
		cdec_pump(s, d, 0);
	}
	return 0;
}

static void
cdec_finish(struct px_stream *s, struct cdec *d)
{
	struct ir_event e;

	cdec_pump(s, d, 1);
	cdec_close(s, d);
	ev_init(&e, IR_EV_FINISH);
	e.stop = d->stop ? d->stop : IR_STOP_END;
	e.usage = d->usage;
	px_emit(s, &e);
}

static int
chat_sdec_feed(struct px_stream *s, void *st, const struct sse_event *ev,
               const struct json *root)
{
	static const struct px_jkey rkeys[] = { PX_JKEY("error"),
	    PX_JKEY("choices"), PX_JKEY("usage") };
	static const struct px_jkey ckeys[] = { PX_JKEY("delta"),
	    PX_JKEY("finish_reason") };
	static const struct px_jkey dkeys[] = { PX_JKEY("reasoning_content"),
	    PX_JKEY("reasoning"), PX_JKEY("reasoning_details"),
	    PX_JKEY("content"), PX_JKEY("refusal"), PX_JKEY("tool_calls") };
	struct cdec *d = st;
	const struct json *ch = NULL, *c, *er, *rm[3], *cm[2], *dm[6];
	struct ir_event e;
	struct px_str t, z = { NULL, 0 };
	long long idx;

	if (!root) {
		if (json_eq(ev->data, ev->data_len, "[DONE]"))
			cdec_finish(s, d);
		return 0;
	}
	/* the keys of every chunk, each object walked once */
	px_jpick(root, rkeys, 3, rm);
	er = rm[0];
	if ((er && er->type != JSON_NULL) ||
	    (ev->event_len && json_eq(ev->event, ev->event_len, "error"))) {
		/* any JSON with an error key is fatal (WIRE.md §1, Part 2 §1) */
		ev_init(&e, IR_EV_ERROR);
		e.err.kind = IR_ERR_SERVER;
		chat_decode_error(root, &e.err);
		if (!e.err.status)
			e.err.status = px_status_from_kind(e.err.kind);
		if (!e.err.message.n)
			e.err.message = px_str_c("upstream stream error");
		px_emit(s, &e);
		return 0;
	}
	if (!s->started) {
		ev_init(&e, IR_EV_START);
		e.id = px_jget(root, "id");
		e.model = px_jget(root, "model");
		px_emit(s, &e);
	}
	c = rm[1];
	if (c && c->type == JSON_ARRAY) {
		for (ch = c->child; ch; ch = ch->next) {
			/* only choice 0 is carried (n > 1 is rejected for the
			 * other formats) */
			if (!json_int(json_get(ch, "index"), &idx) || idx == 0)
				break;
		}
	}
	if (ch) {
		px_jpick(ch, ckeys, 2, cm);
		px_jpick(cm[0], dkeys, 6, dm);
		t = px_str_json(dm[0]);
		if (!t.n)
			t = px_str_json(dm[1]);   /* OpenRouter (§6.20) */
		if (t.n) {
			cdec_open(s, d, CB_THINK);
			cdec_delta(s, t, z);
		}
		/* OpenRouter passes the Anthropic signature in reasoning_details */
		{
			const struct json *rd = dm[2], *r;
			if (rd && rd->type == JSON_ARRAY)
				for (r = rd->child; r; r = r->next) {
					t = px_jget(r, "signature");
					if (t.n && d->cur == CB_THINK)
						cdec_delta(s, z, t);
				}
		}
		t = px_str_json(dm[3]);
		if (t.n) {              /* never open an empty text block (§6.10) */
			cdec_open(s, d, CB_TEXT);
			cdec_delta(s, t, z);
		}
		t = px_str_json(dm[4]);
		if (t.n) {
			cdec_open(s, d, CB_TEXT);
			cdec_delta(s, t, z);
			d->stop = IR_STOP_CONTENT_FILTER;
		}
		c = dm[5];
		if (c && c->type == JSON_ARRAY && cdec_tools(s, d, c) != 0)
			return -1;
		t = px_str_json(cm[1]);
		if (t.n) {              /* "" is not a finish (WIRE.md §6.29) */
			d->finish_seen = 1;
			if (d->stop != IR_STOP_CONTENT_FILTER)
				d->stop = finish_parse(t);
		}
	}
	/* usage replaces (cumulative); it never ends the stream (§6.22) */
	decode_usage(rm[2], &d->usage);
	return 0;
}

static int
chat_sdec_end(struct px_stream *s, void *st)
{
	struct cdec *d = st;

	if (!d->finish_seen)
		return 0;
	/* [DONE] is optional for the SDKs; a finish_reason was seen */
	cdec_finish(s, d);
	return 1;
}

/* ------------------------------------------------------ stream encoder */

/*
 * Every chunk repeats id, object, created and model, and every delta chunk
 * the nesting down to "delta": that prefix is built once, at the first
 * chunk, and copied; a text delta then costs one copy, its escaped text and
 * a constant tail. Bytes are exactly what the jw_* calls would write.
 */
struct cenc {
	struct px_str head;           /* data: {"id":..,"object":..,"created":N,
	                                 "model":".." */
	struct px_str pre;            /* head + ,"choices":[{"index":0,"delta":{ */
	struct px_str tool_pre;       /* "tool_calls":[{"index":K,"function":
	                                 {"arguments":" of the open call */
	int ntools;                   /* tool calls started so far */
	int cur_tool;                 /* index of the open tool call, -1 */
	unsigned role_sent:1;
};

#define CHUNK_END_NULL "},\"finish_reason\":null}]}\n\n"
#define CHUNK_KEY(k) "\"" k "\":\"", sizeof k + 3   /* "k":" and its length */

static void *
chat_senc_new(struct px_stream *s)
{
	struct cenc *c = px_zalloc(s->a, sizeof *c);

	if (c)
		c->cur_tool = -1;
	return c;
}

/* The constant prefixes, at the first chunk (START has set id and model). */
static void
chunk_prefix(struct px_stream *s, struct cenc *c, struct jw *out)
{
	struct px_str id;
	struct jw b;

	if (c->pre.n)
		return;
	if (s->id.n > 9 && memcmp(s->id.p, "chatcmpl-", 9) == 0)
		id = s->id;
	else
		id = px_new_id(s->a, "chatcmpl-");
	jw_init(&b, s->a, 0);
	jw_puts(&b, "data: {\"id\":\"");
	px_put_esc(&b, id);
	jw_puts(&b, "\",\"object\":\"chat.completion.chunk\",\"created\":");
	jw_int(&b, px_now());
	jw_puts(&b, ",\"model\":\"");
	px_put_esc(&b, client_model(s->req, s->model));
	jw_puts(&b, "\"");
	c->head.n = b.len;
	jw_puts(&b, ",\"choices\":[{\"index\":0,\"delta\":{");
	c->pre = px_jw_view(&b);
	c->head.p = c->pre.p;
	if (!c->pre.n)
		out->err = 1;
}

/* A delta chunk whose delta holds one string member: key, then s. */
static void
chunk_str(struct jw *w, const struct cenc *c, const char *key, size_t kn,
          struct px_str s)
{
	jw_put(w, c->pre.p, c->pre.n);
	jw_put(w, key, kn);
	px_put_esc(w, s);
	jw_put(w, "\"" CHUNK_END_NULL, sizeof CHUNK_END_NULL);
}

static void
chat_senc_event(struct px_stream *s, void *st, const struct ir_event *ev,
                struct jw *w)
{
	struct cenc *c = st;
	struct jw b;

	if (ev->kind == IR_EV_ERROR) {
		jw_put(w, "data: ", 6);
		px_jw_doc(w);
		chat_encode_error(&ev->err, w);
		jw_put(w, "\n\n", 2);
		return;
	}
	if (ev->kind == IR_EV_PING)
		return;
	chunk_prefix(s, c, w);
	if (!c->role_sent) {
		/* exactly one role delta, first (WIRE.md §6.55, §6.6) */
		c->role_sent = 1;
		jw_put(w, c->pre.p, c->pre.n);
		jw_puts(w, "\"role\":\"assistant\",\"content\":\"\"" CHUNK_END_NULL);
	}
	switch (ev->kind) {
	case IR_EV_BLOCK_START:
		if (ev->block != IR_TOOL_CALL)
			break;
		/* k counts tool calls, never the block index (WIRE.md §6.5) */
		c->cur_tool = c->ntools++;
		jw_put(w, c->pre.p, c->pre.n);
		jw_puts(w, "\"tool_calls\":[{\"index\":");
		jw_int(w, c->cur_tool);
		jw_puts(w, ",\"id\":\"");
		px_put_esc(w, ev->id.n ? ev->id : px_new_id(s->a, "call_"));
		jw_puts(w, "\",\"type\":\"function\",\"function\":{\"name\":\"");
		px_put_esc(w, ev->name);
		jw_puts(w, "\",\"arguments\":\"\"}}]" CHUNK_END_NULL);
		/* continuation deltas: index + arguments only (§6.6) */
		jw_init(&b, s->a, 0);
		jw_puts(&b, "\"tool_calls\":[{\"index\":");
		jw_int(&b, c->cur_tool);
		jw_puts(&b, ",\"function\":{\"arguments\":\"");
		c->tool_pre = px_jw_view(&b);
		break;
	case IR_EV_DELTA:
		if (!ev->text.n)
			break;          /* signatures cannot travel in Chat */
		if (ev->block == IR_TEXT) {
			chunk_str(w, c, CHUNK_KEY("content"), ev->text);
		} else if (ev->block == IR_THINKING) {
			chunk_str(w, c, CHUNK_KEY("reasoning_content"), ev->text);
		} else if (ev->block == IR_TOOL_CALL && c->cur_tool >= 0) {
			jw_put(w, c->pre.p, c->pre.n);
			jw_put(w, c->tool_pre.p, c->tool_pre.n);
			px_put_esc(w, ev->text);
			jw_puts(w, "\"}}]" CHUNK_END_NULL);
		}
		break;
	case IR_EV_BLOCK_STOP:
		c->cur_tool = -1;
		break;
	case IR_EV_FINISH:
		jw_put(w, c->pre.p, c->pre.n);
		jw_puts(w, "},\"finish_reason\":\"");
		jw_puts(w, finish_name(ev->stop, c->ntools > 0));
		jw_puts(w, "\"}]}\n\n");
		if (s->req && s->req->include_usage) {
			/* usage chunk: "choices":[] not omitted (WIRE.md §6.21) */
			jw_put(w, c->head.p, c->head.n);
			jw_puts(w, ",\"choices\":[],\"usage\":");
			px_jw_doc(w);
			enc_usage(w, &ev->usage);
			jw_put(w, "}\n\n", 3);
		}
		jw_put(w, "data: [DONE]\n\n", 14);
		break;
	default:
		break;
	}
}

/* see convert_int.h */
const struct px_codec px_codec_chat = {
	PX_FMT_CHAT,
	chat_decode_request,
	chat_encode_request,
	chat_decode_response,
	chat_encode_response,
	chat_decode_error,
	chat_encode_error,
	chat_sdec_new,
	chat_sdec_feed,
	chat_sdec_end,
	chat_senc_new,
	NULL,
	chat_senc_event,
	NULL,
};

/* ================================================================
 * OpenAI legacy text completions (PX_FMT_COMPLETIONS): client side only.
 *
 * POST /v1/completions is served by converting it into a one-message chat
 * for whatever upstream the model routes to (an OpenAI upstream gets
 * /chat/completions: the legacy endpoint is never forwarded as is).
 * Requests: `prompt` (a string, or an array holding exactly one string)
 * becomes one user message; sampling fields map one to one; max_tokens is
 * passed only when the client sent it (no legacy default of 16). Fields
 * a chat answer cannot serve faithfully are refused with a 400 naming the
 * field: suffix, echo:true, logprobs, best_of > 1, n > 1 (one choice is
 * all the IR carries: WIRE.md §6.60), token-array and multiple prompts.
 * Responses: "object":"text_completion", the visible answer text in
 * choices[0].text, thinking never shown, finish_reason stop / length /
 * content_filter. Streams: one chunk per text delta, a finish chunk, a
 * usage chunk ("choices":[]) when stream_options.include_usage, then
 * [DONE]; failures mid-stream are `data: {"error":{...}}`, which the
 * OpenAI SDKs raise as APIError, exactly as for Chat.
 * ================================================================ */

static int
cmpl_refuse(struct px_err *err, const char *what, const char *why)
{
	px_err_set(err, 400, "%s is not supported on /v1/completions: %s",
	    what, why);
	return -1;
}

static int
cmpl_decode_request(struct px_arena *a, const struct json *root,
                    struct ir_request *req, struct px_err *err)
{
	const struct json *v;
	struct ir_msg *m;
	long long ll = 1;
	int b = 0;

	req->model = px_jget(root, "model");
	if (chat_stream(root, req, err) < 0)
		return -1;
	/* what a chat answer cannot reproduce: refuse, naming the field */
	v = json_get(root, "suffix");
	if (v && v->type != JSON_NULL && !(v->type == JSON_STRING && v->n == 0))
		return cmpl_refuse(err, "'suffix'", "insertion (fill in the "
		    "middle) cannot be served through a chat upstream");
	if (px_dec_bool(json_get(root, "echo"), NULL, "echo", &b, err) < 0)
		return -1;
	if (b)
		return cmpl_refuse(err, "'echo'", "the prompt cannot be "
		    "echoed through a chat upstream");
	v = json_get(root, "logprobs");
	if (v && v->type != JSON_NULL)
		return cmpl_refuse(err, "'logprobs'", "token log probabilities "
		    "are not carried by the conversion");
	if (px_dec_int(json_get(root, "best_of"), NULL, "best_of", 1,
	    PX_INT_MAX, &ll, err) < 0)
		return -1;
	if (ll > 1)
		return cmpl_refuse(err, "'best_of' > 1", "only one candidate "
		    "is generated");
	if (px_dec_int(json_get(root, "n"), NULL, "n", 1, PX_INT_MAX, &req->n,
	    err) < 0)
		return -1;
	if (req->n > 1)
		return cmpl_refuse(err, "'n' > 1", "the converted answer "
		    "carries one choice");
	v = json_get(root, "prompt");
	if (v && v->type == JSON_ARRAY) {
		if (v->len == 1 && v->child->type == JSON_STRING)
			v = v->child;
		else if (v->len == 0 || v->child->type == JSON_NUMBER ||
		    v->child->type == JSON_ARRAY)
			return cmpl_refuse(err, "a token-array 'prompt'",
			    "send the prompt as a string");
		else
			return cmpl_refuse(err, "more than one 'prompt'",
			    "send exactly one prompt string per request");
	}
	if (!v || v->type != JSON_STRING) {
		px_err_set(err, 400, "'prompt' must be a string");
		return -1;
	}
	/* the prompt: one user message of one text part */
	req->msgs = m = px_zalloc(a, sizeof *m);
	if (!m || !(m->parts = px_zalloc(a, sizeof *m->parts))) {
		px_err_set(err, 413, "request too large");
		return -1;
	}
	req->nmsgs = 1;
	m->role = IR_ROLE_USER;
	m->nparts = 1;
	m->parts[0].type = IR_TEXT;
	m->parts[0].text = px_str_json(v);
	if (px_dec_int(json_get(root, "max_tokens"), NULL, "max_tokens", 1,
	    PX_INT_MAX, &req->max_tokens, err) < 0)
		return -1;
	return chat_sampling(a, root, req, err);
}

/* Legacy finish reasons: stop, length, content_filter (nothing else). */
static const char *
cmpl_finish(enum ir_stop st)
{
	const char *f = finish_name(st, 0);

	return strcmp(f, "tool_calls") == 0 ? "stop" : f;
}

/* "cmpl-..." id: the upstream's when it already is one, else fresh. */
static struct px_str
cmpl_id(struct px_arena *a, struct px_str id)
{
	if (id.n > 5 && memcmp(id.p, "cmpl-", 5) == 0)
		return id;
	return px_new_id(a, "cmpl-");
}

static int
cmpl_encode_response(const struct ir_request *req,
                     const struct ir_response *resp, struct jw *out,
                     struct px_err *err)
{
	struct jw *w = out;
	struct px_arena tmp;
	size_t i;

	px_arena_init(&tmp, 0);
	jw_obj(w);
	jw_key(w, "id");
	px_jw_str(w, cmpl_id(&tmp, resp->id));
	px_arena_free(&tmp);
	jw_kcstr(w, "object", "text_completion");
	jw_kint(w, "created", resp->created ? resp->created : px_now());
	jw_key(w, "model");
	px_jw_str(w, client_model(req, resp->model));
	jw_key(w, "choices");
	jw_arr(w);
	jw_obj(w);
	/* visible text only: thinking is not shown, and no tools were sent */
	jw_key(w, "text");
	jw_raw(w, "\"", 1);
	for (i = 0; i < resp->nparts; i++)
		if (resp->parts[i].type == IR_TEXT)
			jw_escaped(w, resp->parts[i].text.p ?
			    resp->parts[i].text.p : "", resp->parts[i].text.n);
	jw_put(w, "\"", 1);
	jw_kint(w, "index", 0);
	jw_knull(w, "logprobs");
	jw_kcstr(w, "finish_reason", cmpl_finish(resp->stop));
	jw_obj_end(w);
	jw_arr_end(w);
	jw_key(w, "usage");
	enc_usage(w, &resp->usage);
	jw_obj_end(w);
	(void)err;
	return 0;
}

/* As for Chat: the chunk prefix down to "text":" is built once. */
struct cmpl_enc {
	struct px_str head;           /* data: {"id":..,"object":..,"created":N,
	                                 "model":".." */
	struct px_str pre;            /* head + ,"choices":[{"text":" */
};

#define CMPL_END "\",\"index\":0,\"logprobs\":null,\"finish_reason\":"

static void *
cmpl_senc_new(struct px_stream *s)
{
	return px_zalloc(s->a, sizeof(struct cmpl_enc));
}

static void
cmpl_prefix(struct px_stream *s, struct cmpl_enc *c, struct jw *out)
{
	struct jw b;

	if (c->pre.n)
		return;
	jw_init(&b, s->a, 0);
	jw_puts(&b, "data: {\"id\":\"");
	px_put_esc(&b, cmpl_id(s->a, s->id));
	jw_puts(&b, "\",\"object\":\"text_completion\",\"created\":");
	jw_int(&b, px_now());
	jw_puts(&b, ",\"model\":\"");
	px_put_esc(&b, client_model(s->req, s->model));
	jw_puts(&b, "\"");
	c->head.n = b.len;
	jw_puts(&b, ",\"choices\":[{\"text\":\"");
	c->pre = px_jw_view(&b);
	c->head.p = c->pre.p;
	if (!c->pre.n)
		out->err = 1;
}

static void
cmpl_senc_event(struct px_stream *s, void *st, const struct ir_event *ev,
                struct jw *w)
{
	struct cmpl_enc *c = st;

	switch (ev->kind) {
	case IR_EV_DELTA:
		/* answer text only: thinking and (unrequested) tool-call
		 * arguments are not part of a text completion */
		if (ev->block != IR_TEXT || !ev->text.n)
			break;
		cmpl_prefix(s, c, w);
		jw_put(w, c->pre.p, c->pre.n);
		px_put_esc(w, ev->text);
		jw_puts(w, CMPL_END "null}]}\n\n");
		break;
	case IR_EV_FINISH:
		cmpl_prefix(s, c, w);
		jw_put(w, c->pre.p, c->pre.n);
		jw_puts(w, CMPL_END "\"");
		jw_puts(w, cmpl_finish(ev->stop));
		jw_puts(w, "\"}]}\n\n");
		if (s->req && s->req->include_usage) {
			/* "choices":[] not omitted, as for Chat (WIRE.md §6.21) */
			jw_put(w, c->head.p, c->head.n);
			jw_puts(w, ",\"choices\":[],\"usage\":");
			px_jw_doc(w);
			enc_usage(w, &ev->usage);
			jw_put(w, "}\n\n", 3);
		}
		jw_put(w, "data: [DONE]\n\n", 14);
		break;
	case IR_EV_ERROR:
		/* the SDKs raise APIError on any data with an "error" key */
		jw_put(w, "data: ", 6);
		px_jw_doc(w);
		chat_encode_error(&ev->err, w);
		jw_put(w, "\n\n", 2);
		break;
	default:
		break;
	}
}

/* see convert_int.h */
const struct px_codec px_codec_completions = {
	PX_FMT_COMPLETIONS,
	cmpl_decode_request,
	NULL,                   /* never an upstream */
	NULL,
	cmpl_encode_response,
	NULL,
	chat_encode_error,      /* OpenAI error shape */
	NULL,
	NULL,
	NULL,
	cmpl_senc_new,
	NULL,
	cmpl_senc_event,
	NULL,
};
