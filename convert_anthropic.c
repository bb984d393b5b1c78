/*
 * convert_anthropic.c - Anthropic Messages codec (PX_FMT_ANTHROPIC).
 *
 * Requests in: a user turn holding tool_result blocks becomes an
 * IR_ROLE_TOOL message (the results, in order) followed by an IR_ROLE_USER
 * message with the rest, the canonical IR shape. Thinking blocks keep their
 * text and signature strings exactly and are tagged sig_fmt=ANTHROPIC.
 *
 * Requests out (to an Anthropic upstream), the decisions to know about:
 *   - consecutive same-role IR messages are merged into one turn, so tool
 *     results and the next user text share ONE user turn (WIRE.md §6.11);
 *   - a system message in mid-conversation becomes a user text block
 *     "<system>...</system>" (no Anthropic equivalent, §6.50);
 *   - thinking/redacted blocks are replayed only when they came from an
 *     Anthropic source with a signature (foreign signatures are rejected,
 *     §6.16); other reasoning text is dropped;
 *   - thinking on => temperature, top_p and top_k are dropped and a forced
 *     tool_choice is downgraded to auto (§6.47); max_tokens is raised to
 *     budget + the client's allowance when it is not above the budget
 *     (§6.48); without thinking, temperature goes as the client wrote it
 *     (outside 0..1 Anthropic answers 400; it is never clamped) and top_p
 *     is dropped when temperature is also set (§6.46);
 *   - tool ids are sanitised to ^[a-zA-Z0-9_-]+$ the same way everywhere
 *     (requests and streams; bad bytes -> '_' plus a hash of the whole id,
 *     px_call_id_fix()), so a call and its result still match (§6.34);
 *   - thinking on, but the last assistant turn has tool calls and no signed
 *     Anthropic thinking (history from another format): thinking is off
 *     for that request (WIRE.md §2.6), instead of a certain 400.
 * Streams: the encoder defers a text block's start until it has text, so an
 * empty text block is never emitted (§6.10), and keeps a thinking block's
 * signature for a signature_delta right before the block's stop (§4.1);
 * every delta goes out when it arrives. The decoder renumbers blocks and
 * skips server-tool blocks it cannot represent.
 */
#include <stdio.h>
#include <string.h>

#include "convert_int.h"





/* JSON kept as text in the IR, compacted: one SSE data line, and the
 * client's pretty-printing does not travel */
static struct px_str
raw_of(struct px_arena *a, const struct json *v)
{
	struct px_str r = { NULL, 0 };

	if (v)
		r = px_json_compact(a, v);
	return r;
}

/* Tool ids must match ^[a-zA-Z0-9_-]+$ (WIRE.md §6.34): px_call_id_fix(). */
static void
jw_tool_id(struct jw *w, struct px_str id)
{
	char buf[PX_FIX_MAX];

	if (!id.n) {
		jw_cstr(w, "toolu_missing");
		return;
	}
	px_jw_str(w, px_call_id_fix(PX_FMT_ANTHROPIC, id, buf));
}

/* args must reach Anthropic as an object (WIRE.md §6.49) */
static void
jw_input(struct jw *w, struct px_str args)
{
	size_t b = 0, e = args.n;

	while (b < e && (args.p[b] == ' ' || args.p[b] == '\n' ||
	    args.p[b] == '\t' || args.p[b] == '\r'))
		b++;
	while (e > b && (args.p[e - 1] == ' ' || args.p[e - 1] == '\n' ||
	    args.p[e - 1] == '\t' || args.p[e - 1] == '\r'))
		e--;
	if (e - b >= 2 && args.p[b] == '{' && args.p[e - 1] == '}')
		jw_raw(w, args.p + b, e - b);
	else
		jw_raw(w, "{}", 2);
}

static struct px_str
args_of(struct px_arena *a, const struct json *input)
{
	struct px_str r;

	if (input && input->type == JSON_OBJECT) {
		r = px_json_compact(a, input);
		if (r.p)
			return r;
	}
	return px_str_c("{}");
}

static enum ir_stop
stop_parse(struct px_str s)
{
	if (px_str_eq(s, "max_tokens"))       return IR_STOP_MAX_TOKENS;
	if (px_str_eq(s, "stop_sequence"))    return IR_STOP_STOP_SEQUENCE;
	if (px_str_eq(s, "tool_use"))         return IR_STOP_TOOL_USE;
	if (px_str_eq(s, "refusal"))          return IR_STOP_CONTENT_FILTER;
	if (px_str_eq(s, "pause_turn"))       return IR_STOP_PAUSE;
	if (px_str_eq(s, "model_context_window_exceeded"))
		return IR_STOP_CONTEXT;
	return IR_STOP_END;
}

static const char *
stop_name(enum ir_stop st, int had_tools)
{
	switch (st) {
	case IR_STOP_STOP_SEQUENCE:  return "stop_sequence";
	case IR_STOP_MAX_TOKENS:     return "max_tokens";
	case IR_STOP_TOOL_USE:       return "tool_use";
	case IR_STOP_CONTENT_FILTER: return "refusal";
	case IR_STOP_PAUSE:          return "pause_turn";
	case IR_STOP_CONTEXT:        return "model_context_window_exceeded";
	default:
		return had_tools ? "tool_use" : "end_turn";
	}
}

/* Anthropic usage -> IR: input INCLUDES cache (WIRE.md §3.3, §6.25). */
static void
decode_usage(const struct json *u, struct ir_usage *us,
             long long *cr, long long *cw)
{
	long long in = -1, v;

	if (!u || u->type != JSON_OBJECT)
		return;
	if (json_int(json_get(u, "cache_read_input_tokens"), &v))
		*cr = v;
	if (json_int(json_get(u, "cache_creation_input_tokens"), &v))
		*cw = v;
	if (json_int(json_get(u, "input_tokens"), &in)) {
		us->input = in + (*cr > 0 ? *cr : 0) + (*cw > 0 ? *cw : 0);
		us->cache_read = *cr;
		us->cache_write = *cw;
	}
	if (json_int(json_get(u, "output_tokens"), &v))
		us->output = v;
}

/* ------------------------------------------------------- request decode */

/*
 * Every field read here is carried as sent or refused with a 400 naming it
 * (px_dec_*() in convert.c), never clamped, defaulted or skipped; `at` is
 * the path of the block being decoded ("messages[2].content[0]").
 */

#define NOMEM(e) (px_err_set((e), 413, "request too large"), -1)

static int
decode_source(const struct json *src, const char *at, struct ir_part *p,
              struct px_err *err)
{
	struct px_str ty = px_jget(src, "type");
	char sat[PX_AT_MAX];

	px_at(sat, "%s.source", at);
	if (!src || src->type != JSON_OBJECT)
		return px_field_err(err, sat, NULL, "an object");
	if (px_str_eq(ty, "base64"))
		return px_dec_str(json_get(src, "media_type"), sat,
		    "media_type", &p->media_type, err) < 0 ||
		    px_dec_str(json_get(src, "data"), sat, "data", &p->data,
		    err) < 0 ? -1 : 0;
	if (px_str_eq(ty, "url"))
		return px_dec_str(json_get(src, "url"), sat, "url", &p->url,
		    err) < 0 ? -1 : 0;
	if (px_str_eq(ty, "text"))
		return px_dec_str(json_get(src, "media_type"), sat,
		    "media_type", &p->media_type, err) < 0 ||
		    px_dec_str(json_get(src, "data"), sat, "data", &p->text,
		    err) < 0 ? -1 : 0;
	if (px_str_eq(ty, "file"))
		return px_dec_str(json_get(src, "file_id"), sat, "file_id",
		    &p->url, err) < 0 ? -1 : 0;
	px_err_set(err, 400, "%s: source type '%.*s' cannot be converted", sat,
	    (int)(ty.n > 40 ? 40 : ty.n), ty.p ? ty.p : "");
	return -1;
}

/* One content block other than tool_result, at `at`, into p. */
static int
decode_block(struct px_arena *a, const struct json *b, const char *at,
             struct ir_part *p, struct px_err *err)
{
	struct px_str ty = px_jget(b, "type");
	const struct json *in;

	if (b->type == JSON_STRING) {
		p->type = IR_TEXT;
		p->text = px_str_json(b);
		return 0;
	}
	if (b->type != JSON_OBJECT)
		return px_field_err(err, at, NULL, "a content block object");
	p->cache_control = raw_of(a, json_get(b, "cache_control"));
	if (px_str_eq(ty, "text")) {
		p->type = IR_TEXT;
		return px_dec_str(json_get(b, "text"), at, "text", &p->text,
		    err) < 0 ? -1 : 0;
	}
	if (px_str_eq(ty, "image")) {
		p->type = IR_IMAGE;
		return decode_source(json_get(b, "source"), at, p, err);
	}
	if (px_str_eq(ty, "document")) {
		p->type = IR_DOCUMENT;
		if (px_dec_str(json_get(b, "title"), at, "title", &p->name,
		    err) < 0)
			return -1;
		return decode_source(json_get(b, "source"), at, p, err);
	}
	if (px_str_eq(ty, "thinking")) {
		p->type = IR_THINKING;
		p->sig_fmt = PX_FMT_ANTHROPIC;
		return px_dec_str(json_get(b, "thinking"), at, "thinking",
		    &p->text, err) < 0 ||
		    px_dec_str(json_get(b, "signature"), at, "signature",
		    &p->signature, err) < 0 ? -1 : 0;
	}
	if (px_str_eq(ty, "redacted_thinking")) {
		p->type = IR_REDACTED;
		p->sig_fmt = PX_FMT_ANTHROPIC;
		return px_dec_str(json_get(b, "data"), at, "data", &p->data,
		    err) < 0 ? -1 : 0;
	}
	if (px_str_eq(ty, "tool_use")) {
		p->type = IR_TOOL_CALL;
		if (px_dec_str(json_get(b, "id"), at, "id", &p->id, err) < 0 ||
		    px_dec_str(json_get(b, "name"), at, "name", &p->name,
		    err) < 0)
			return -1;
		in = json_get(b, "input");
		if (in && in->type != JSON_OBJECT && in->type != JSON_NULL)
			return px_field_err(err, at, "input", "an object");
		p->args = args_of(a, in);
		return 0;
	}
	/* server tool blocks, search results, ...: no IR form, and leaving
	 * them out would change the conversation */
	px_err_set(err, 400, "%s: block type '%.*s' cannot be converted", at,
	    (int)(ty.n > 40 ? 40 : ty.n), ty.p ? ty.p : "");
	return -1;
}

static int
decode_tool_result(struct px_arena *a, const struct json *b, const char *at,
                   struct ir_part *p, struct px_err *err)
{
	const struct json *c = json_get(b, "content"), *e;
	char cat[PX_AT_MAX];
	size_t i;

	p->type = IR_TOOL_RESULT;
	p->cache_control = raw_of(a, json_get(b, "cache_control"));
	if (px_dec_str(json_get(b, "tool_use_id"), at, "tool_use_id", &p->id,
	    err) < 0 ||
	    px_dec_bool(json_get(b, "is_error"), at, "is_error", &p->is_error,
	    err) < 0)
		return -1;
	if (c && c->type == JSON_ARRAY) {
		p->content = px_zalloc(a, (c->len + 1) * sizeof *p->content);
		if (!p->content)
			return NOMEM(err);
		for (e = c->child, i = 0; e; e = e->next, i++) {
			px_at(cat, "%s.content[%zu]", at, i);
			if (px_str_eq(px_jget(e, "type"), "tool_result"))
				return px_field_err(err, cat, NULL, "a text, "
				    "image or document block");
			if (decode_block(a, e, cat, &p->content[p->ncontent],
			    err) < 0)
				return -1;
			p->ncontent++;
		}
	} else if (c && c->type == JSON_STRING) {
		p->content = px_zalloc(a, sizeof *p->content);
		if (!p->content)
			return NOMEM(err);
		p->content[0].type = IR_TEXT;
		p->content[0].text = px_str_json(c);
		p->ncontent = 1;
	} else if (c && c->type != JSON_NULL) {
		return px_field_err(err, at, "content", "a string or an array "
		    "of content blocks");
	}
	return 0;
}

static struct px_str
call_name(const struct ir_request *req, struct px_str id)
{
	size_t i, j;
	struct px_str none = { NULL, 0 };

	for (i = req->nmsgs; i-- > 0;)
		for (j = 0; j < req->msgs[i].nparts; j++) {
			const struct ir_part *p = &req->msgs[i].parts[j];
			if (p->type == IR_TOOL_CALL && id.n &&
			    px_str_same(p->id, id))
				return p->name;
		}
	return none;
}

static int
decode_messages(struct px_arena *a, const struct json *msgs,
                struct ir_request *req, struct px_err *err)
{
	const struct json *m, *c, *b;
	struct ir_msg *im;
	struct px_str role;
	enum ir_role r, want;
	char at[PX_AT_MAX], bat[PX_AT_MAX];
	size_t i, j;
	int is_tr;

	/* a user turn can split into alternating TOOL/USER runs: bound it by
	 * the number of blocks */
	size_t cap = 1;
	for (m = msgs->child; m; m = m->next) {
		c = json_get(m, "content");
		cap += 1 + (c && c->type == JSON_ARRAY ? c->len : 0);
	}
	req->msgs = px_zalloc(a, cap * sizeof *req->msgs);
	if (!req->msgs)
		return NOMEM(err);
	for (m = msgs->child, i = 0; m; m = m->next, i++) {
		px_at(at, "messages[%zu]", i);
		if (m->type != JSON_OBJECT)
			return px_field_err(err, at, NULL, "an object");
		role = px_jget(m, "role");
		if (px_str_eq(role, "user"))
			r = IR_ROLE_USER;
		else if (px_str_eq(role, "assistant"))
			r = IR_ROLE_ASSISTANT;
		else if (px_str_eq(role, "system"))
			/* Claude Code sends role "system" inside messages
			 * (WIRE.md §2.2, edge 50): keep it in place as a
			 * system message; each encoder places it */
			r = IR_ROLE_SYSTEM;
		else {
			px_err_set(err, 400, "messages: unexpected role '%.*s'",
			    (int)(role.n > 40 ? 40 : role.n), role.p ? role.p : "");
			return -1;
		}
		c = json_get(m, "content");
		if (c && c->type == JSON_STRING) {
			im = &req->msgs[req->nmsgs++];
			im->role = r;
			im->parts = px_zalloc(a, sizeof *im->parts);
			if (!im->parts)
				return NOMEM(err);
			im->parts[0].type = IR_TEXT;
			im->parts[0].text = px_str_json(c);
			im->nparts = 1;
			continue;
		}
		if (!c || c->type != JSON_ARRAY)
			return px_field_err(err, at, "content", "a string or an "
			    "array of content blocks");
		im = NULL;
		for (b = c->child, j = 0; b; b = b->next, j++) {
			px_at(bat, "%s.content[%zu]", at, j);
			is_tr = px_str_eq(px_jget(b, "type"), "tool_result");
			if (is_tr && r != IR_ROLE_USER) {
				px_err_set(err, 400, "%s: a tool_result block "
				    "belongs in a user message", bat);
				return -1;
			}
			want = is_tr ? IR_ROLE_TOOL : r;
			if (!im || im->role != want) {
				im = &req->msgs[req->nmsgs++];
				im->role = want;
				im->parts = px_zalloc(a, c->len * sizeof *im->parts);
				if (!im->parts)
					return NOMEM(err);
			}
			if (is_tr) {
				struct ir_part *p = &im->parts[im->nparts];
				if (decode_tool_result(a, b, bat, p, err) != 0)
					return -1;
				p->name = call_name(req, p->id);
			} else if (decode_block(a, b, bat, &im->parts[im->nparts],
			    err) != 0) {
				return -1;
			}
			im->nparts++;
		}
	}
	return 0;
}

static int
decode_system(struct px_arena *a, const struct json *v,
              struct ir_request *req, struct px_err *err)
{
	const struct json *t;
	char at[PX_AT_MAX];
	size_t i;

	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type == JSON_STRING) {
		req->system = px_zalloc(a, sizeof *req->system);
		if (!req->system)
			return NOMEM(err);
		req->system[0].type = IR_TEXT;
		req->system[0].text = px_str_json(v);
		req->nsystem = 1;
		return 0;
	}
	if (v->type != JSON_ARRAY)
		return px_field_err(err, NULL, "system", "a string or an array "
		    "of text blocks");
	req->system = px_zalloc(a, (v->len + 1) * sizeof *req->system);
	if (!req->system)
		return NOMEM(err);
	for (t = v->child, i = 0; t; t = t->next, i++) {
		struct ir_part *p = &req->system[req->nsystem];
		px_at(at, "system[%zu]", i);
		if (!px_str_eq(px_jget(t, "type"), "text"))
			return px_field_err(err, at, NULL, "a text block");
		p->type = IR_TEXT;
		if (px_dec_str(json_get(t, "text"), at, "text", &p->text,
		    err) < 0)
			return -1;
		p->cache_control = raw_of(a, json_get(t, "cache_control"));
		req->nsystem++;
	}
	return 0;
}

static int
decode_tools(struct px_arena *a, const struct json *v,
             struct ir_request *req, struct px_err *err)
{
	const struct json *t, *sc;
	struct px_str s;
	char at[PX_AT_MAX];
	size_t i;

	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_ARRAY)
		return px_field_err(err, NULL, "tools", "an array");
	req->tools = px_zalloc(a, (v->len + 1) * sizeof *req->tools);
	if (!req->tools)
		return NOMEM(err);
	for (t = v->child, i = 0; t; t = t->next, i++) {
		struct ir_tool *it = &req->tools[req->ntools++];
		px_at(at, "tools[%zu]", i);
		if (t->type != JSON_OBJECT)
			return px_field_err(err, at, NULL, "an object");
		s = px_jget(t, "type");
		it->strict = -1;
		if (px_dec_str(json_get(t, "name"), at, "name", &it->name,
		    err) < 0)
			return -1;
		if (s.n && !px_str_eq(s, "custom")) {
			/* server tools (web_search_..., bash_...) */
			it->raw_type = s;
			it->raw = raw_of(a, t);
			/* server tools Anthropic runs; bash and the
			 * editor run on the client */
			it->hosted = px_str_prefix(s, "web_search") ||
			    px_str_prefix(s, "web_fetch") ||
			    px_str_prefix(s, "code_execution");
			continue;
		}
		if (px_dec_str(json_get(t, "description"), at, "description",
		    &it->description, err) < 0 ||
		    px_dec_bool(json_get(t, "strict"), at, "strict", &it->strict,
		    err) < 0)
			return -1;
		sc = json_get(t, "input_schema");
		if (sc && sc->type != JSON_OBJECT && sc->type != JSON_NULL)
			return px_field_err(err, at, "input_schema",
			    "an object");
		if (sc && sc->type == JSON_OBJECT)
			it->parameters = raw_of(a, sc);
	}
	return 0;
}

static int
decode_tool_choice(const struct json *v, struct ir_request *req,
                   struct px_err *err)
{
	static const char *const names[] = {
		"auto", "any", "none", "tool", NULL
	};
	static const enum ir_tool_choice vals[] = {
		IR_TC_AUTO, IR_TC_REQUIRED, IR_TC_NONE, IR_TC_NAMED
	};
	int k, rc, b;

	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_OBJECT)
		return px_field_err(err, NULL, "tool_choice", "an object");
	rc = px_dec_enum(json_get(v, "type"), "tool_choice", "type", names, &k,
	    err);
	if (rc == 0)            /* the words px_dec_enum() uses */
		px_field_err(err, "tool_choice", "type", "'auto', 'any', "
		    "'none' or 'tool'");
	if (rc <= 0)
		return -1;
	req->tool_choice = vals[k];
	if (req->tool_choice == IR_TC_NAMED) {
		if (px_dec_str(json_get(v, "name"), "tool_choice", "name",
		    &req->tool_choice_name, err) < 0)
			return -1;
		if (!req->tool_choice_name.n)
			return px_field_err(err, "tool_choice", "name",
			    "a tool name");
	}
	rc = px_dec_bool(json_get(v, "disable_parallel_tool_use"),
	    "tool_choice", "disable_parallel_tool_use", &b, err);
	if (rc > 0)
		req->parallel_tool_calls = !b;
	return rc < 0 ? -1 : 0;
}

static int
decode_thinking(struct px_arena *a, const struct json *root,
                struct ir_request *req, struct px_err *err)
{
	static const char *const types[] = {
		"enabled", "disabled", "adaptive", NULL
	};
	static const char *const efforts[] = {
		"low", "medium", "high", "max", NULL
	};
	static const enum ir_effort effort_vals[] = {
		IR_EFFORT_LOW, IR_EFFORT_MEDIUM, IR_EFFORT_HIGH, IR_EFFORT_XHIGH
	};
	const struct json *v, *o, *sc;
	int k, rc;

	v = json_get(root, "thinking");
	if (v && v->type != JSON_NULL && v->type != JSON_OBJECT)
		return px_field_err(err, NULL, "thinking", "an object");
	rc = px_dec_enum(json_get(v, "type"), "thinking", "type", types, &k,
	    err);
	if (rc < 0)
		return -1;
	if (rc == 0 && v && v->type == JSON_OBJECT)
		return px_field_err(err, "thinking", "type", "'enabled', "
		    "'disabled' or 'adaptive'");
	if (rc > 0 && k == 0) {
		/* required with "enabled": no budget is made up */
		rc = px_dec_int(json_get(v, "budget_tokens"), "thinking",
		    "budget_tokens", 1, PX_INT_MAX, &req->thinking_budget, err);
		if (rc == 0)
			px_field_err(err, "thinking", "budget_tokens", "an "
			    "integer between 1 and 2^53");
		if (rc <= 0)
			return -1;
		req->effort = px_budget_effort(req->thinking_budget);
	} else if (rc > 0 && k == 1) {
		req->thinking_budget = 0;
		req->effort = IR_EFFORT_NONE;
	} else if (rc > 0) {
		req->effort = IR_EFFORT_MEDIUM;
	}
	o = json_get(root, "output_config");
	if (o && o->type != JSON_NULL && o->type != JSON_OBJECT)
		return px_field_err(err, NULL, "output_config", "an object");
	rc = px_dec_enum(json_get(o, "effort"), "output_config", "effort",
	    efforts, &k, err);
	if (rc < 0)
		return -1;
	if (rc > 0 && req->effort != IR_EFFORT_NONE)
		req->effort = effort_vals[k];
	if (json_get(o, "format"))
		v = json_get(o, "format");
	else
		v = json_get(root, "output_format");   /* beta name */
	if (!v || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_OBJECT ||
	    !px_str_eq(px_jget(v, "type"), "json_schema"))
		return px_field_err(err, NULL, json_get(o, "format") ?
		    "output_config.format" : "output_format",
		    "{\"type\":\"json_schema\",\"schema\":{...}}");
	sc = json_get(v, "schema");
	if (!sc || sc->type != JSON_OBJECT)
		return px_field_err(err, NULL, json_get(o, "format") ?
		    "output_config.format.schema" : "output_format.schema",
		    "an object");
	req->rf = IR_RF_JSON_SCHEMA;
	req->rf_schema = raw_of(a, sc);
	return 0;
}

static int
anth_decode_request(struct px_arena *a, const struct json *root,
                    struct ir_request *req, struct px_err *err)
{
	const struct json *v, *t;
	size_t i;

	req->model = px_jget(root, "model");
	if (px_dec_bool(json_get(root, "stream"), NULL, "stream", &req->stream,
	    err) < 0 ||
	    px_dec_int(json_get(root, "max_tokens"), NULL, "max_tokens", 1,
	    PX_INT_MAX, &req->max_tokens, err) < 0 ||
	    decode_system(a, json_get(root, "system"), req, err) < 0)
		return -1;
	v = json_get(root, "messages");
	if (!v || v->type != JSON_ARRAY) {
		px_err_set(err, 400, "'messages' must be an array");
		return -1;
	}
	if (decode_messages(a, v, req, err) != 0 ||
	    decode_tools(a, json_get(root, "tools"), req, err) != 0 ||
	    decode_tool_choice(json_get(root, "tool_choice"), req, err) != 0)
		return -1;
	v = json_get(root, "stop_sequences");
	if (v && v->type != JSON_NULL) {
		if (v->type != JSON_ARRAY)
			return px_field_err(err, NULL, "stop_sequences",
			    "an array of strings");
		req->stop = px_zalloc(a, (v->len + 1) * sizeof *req->stop);
		if (!req->stop)
			return NOMEM(err);
		for (t = v->child, i = 0; t; t = t->next, i++)
			if (t->type != JSON_STRING)
				return px_field_err(err, NULL, "stop_sequences",
				    "an array of strings");
			else
				req->stop[req->nstop++] = px_str_json(t);
	}
	if (px_dec_num(json_get(root, "temperature"), NULL, "temperature",
	    &req->temperature, err) < 0 ||
	    px_dec_num(json_get(root, "top_p"), NULL, "top_p", &req->top_p,
	    err) < 0 ||
	    px_dec_num(json_get(root, "top_k"), NULL, "top_k", &req->top_k,
	    err) < 0)
		return -1;
	v = json_get(root, "metadata");
	if (v && v->type != JSON_NULL && v->type != JSON_OBJECT)
		return px_field_err(err, NULL, "metadata", "an object");
	if (px_dec_str(json_get(v, "user_id"), "metadata", "user_id",
	    &req->user, err) < 0)
		return -1;
	return decode_thinking(a, root, req, err);
}

/* ------------------------------------------------------- request encode */

static void
jw_cache(struct jw *w, const struct ir_part *p)
{
	if (p->cache_control.n)
		jw_kraw(w, "cache_control", p->cache_control.p, p->cache_control.n);
}

static void
enc_source_block(struct jw *w, const struct ir_part *p)
{
	jw_obj(w);
	jw_kcstr(w, "type", p->type == IR_IMAGE ? "image" : "document");
	jw_key(w, "source");
	jw_obj(w);
	if (p->data.n) {
		jw_kcstr(w, "type", "base64");
		jw_key(w, "media_type");
		px_jw_str(w, p->media_type);
		jw_key(w, "data");
		px_jw_str(w, p->data);
	} else if (p->type == IR_DOCUMENT && p->text.n) {
		jw_kcstr(w, "type", "text");
		jw_kcstr(w, "media_type", "text/plain");
		jw_key(w, "data");
		px_jw_str(w, p->text);
	} else {
		jw_kcstr(w, "type", "url");
		jw_key(w, "url");
		px_jw_str(w, p->url);
	}
	jw_obj_end(w);
	if (p->type == IR_DOCUMENT && p->name.n) {
		jw_key(w, "title");
		px_jw_str(w, p->name);
	}
	jw_cache(w, p);
	jw_obj_end(w);
}

static void
enc_text_block(struct jw *w, struct px_str text, const struct ir_part *p)
{
	jw_obj(w);
	jw_kcstr(w, "type", "text");
	jw_key(w, "text");
	px_jw_str(w, text);
	if (p)
		jw_cache(w, p);
	jw_obj_end(w);
}

/* Write one part as a block; returns whether anything was written. */
static int
enc_block(struct jw *w, const struct ir_part *p, int dry)
{
	switch (p->type) {
	case IR_TEXT:
		if (!p->text.n)
			return 0;       /* empty text blocks are rejected (§6.10) */
		if (!dry)
			enc_text_block(w, p->text, p);
		return 1;
	case IR_IMAGE:
	case IR_DOCUMENT:
		if (!p->data.n && !p->url.n && !p->text.n)
			return 0;
		if (!dry)
			enc_source_block(w, p);
		return 1;
	case IR_THINKING:
		/* replay only Anthropic's own signed thinking, bytes as received
		 * (WIRE.md §2.6, §6.14, §6.16) */
		if (p->sig_fmt != PX_FMT_ANTHROPIC || !p->signature.n)
			return 0;
		if (!dry) {
			jw_obj(w);
			jw_kcstr(w, "type", "thinking");
			jw_key(w, "thinking");
			px_jw_str(w, p->text);
			jw_key(w, "signature");
			px_jw_str(w, p->signature);
			jw_obj_end(w);
		}
		return 1;
	case IR_REDACTED:
		if (p->sig_fmt != PX_FMT_ANTHROPIC || !p->data.n)
			return 0;
		if (!dry) {
			jw_obj(w);
			jw_kcstr(w, "type", "redacted_thinking");
			jw_key(w, "data");
			px_jw_str(w, p->data);
			jw_obj_end(w);
		}
		return 1;
	case IR_TOOL_CALL:
		if (!dry) {
			jw_obj(w);
			jw_kcstr(w, "type", "tool_use");
			jw_key(w, "id");
			jw_tool_id(w, p->id);
			jw_key(w, "name");
			px_jw_str(w, p->name);
			jw_key(w, "input");
			jw_input(w, p->args);
			jw_cache(w, p);
			jw_obj_end(w);
		}
		return 1;
	case IR_TOOL_RESULT: {
		size_t j, nout = 0;
		const struct ir_part *only = NULL;
		if (dry)
			return 1;
		jw_obj(w);
		jw_kcstr(w, "type", "tool_result");
		jw_key(w, "tool_use_id");
		jw_tool_id(w, p->id);
		for (j = 0; j < p->ncontent; j++)
			if (enc_block(w, &p->content[j], 1)) {
				nout++;
				only = &p->content[j];
			}
		if (nout == 1 && only->type == IR_TEXT && !only->cache_control.n) {
			jw_key(w, "content");
			px_jw_str(w, only->text);
		} else if (nout) {
			jw_key(w, "content");
			jw_arr(w);
			for (j = 0; j < p->ncontent; j++)
				enc_block(w, &p->content[j], 0);
			jw_arr_end(w);
		}
		if (p->is_error)
			jw_kbool(w, "is_error", 1);
		jw_cache(w, p);
		jw_obj_end(w);
		return 1;
	}
	}
	return 0;
}

static int
is_dup_result(const struct ir_msg *m, size_t j)
{
	size_t i;
	const struct px_str id = m->parts[j].id;

	/* one result per call id: keep the first (WIRE.md §6.13) */
	for (i = 0; i < j; i++)
		if (m->parts[i].type == IR_TOOL_RESULT && m->parts[i].id.n == id.n &&
		    (id.n == 0 || memcmp(m->parts[i].id.p, id.p, id.n) == 0))
			return 1;
	return 0;
}

static int
msg_blocks(struct jw *w, const struct ir_msg *m, int dry)
{
	size_t j;
	int n = 0;

	if (m->role == IR_ROLE_SYSTEM) {
		/* mid-conversation system text: wrapped user text (§6.50) */
		for (j = 0; j < m->nparts; j++) {
			if (m->parts[j].type != IR_TEXT || !m->parts[j].text.n)
				continue;
			n++;
			if (dry)
				continue;
			jw_obj(w);
			jw_kcstr(w, "type", "text");
			jw_key(w, "text");
			jw_raw(w, "\"<system>", 9);
			jw_escaped(w, m->parts[j].text.p, m->parts[j].text.n);
			jw_put(w, "</system>\"", 10);
			jw_obj_end(w);
		}
		return n;
	}
	if (m->role == IR_ROLE_ASSISTANT) {
		/* thinking first: Anthropic requires the turn to start with it */
		for (j = 0; j < m->nparts; j++)
			if (m->parts[j].type == IR_THINKING ||
			    m->parts[j].type == IR_REDACTED)
				n += enc_block(w, &m->parts[j], dry);
		for (j = 0; j < m->nparts; j++)
			if (m->parts[j].type != IR_THINKING &&
			    m->parts[j].type != IR_REDACTED)
				n += enc_block(w, &m->parts[j], dry);
		return n;
	}
	for (j = 0; j < m->nparts; j++) {
		if (m->parts[j].type == IR_TOOL_RESULT && is_dup_result(m, j))
			continue;
		n += enc_block(w, &m->parts[j], dry);
	}
	return n;
}

/*
 * With thinking on, Anthropic wants the final assistant turn, when it holds
 * tool calls, to start with its signed thinking ("Expected `thinking` or
 * `redacted_thinking`, but found `tool_use`"). History from another format
 * (or unsigned) has none to give: 1 when the last assistant turn - the run
 * of assistant messages that become one turn - has calls and no replayable
 * thinking block. A final assistant message (a prefill) needs one too
 * (WIRE.md §6.18).
 */
static int
lost_thinking(const struct ir_request *req)
{
	size_t i, j, k;
	int calls = 0;

	for (k = req->nmsgs; k > 0; k--)
		if (req->msgs[k - 1].role == IR_ROLE_ASSISTANT)
			break;
	if (k && k == req->nmsgs)
		calls = 1;              /* prefill: same rule */
	for (i = k; i > 0 && req->msgs[i - 1].role == IR_ROLE_ASSISTANT; i--)
		for (j = 0; j < req->msgs[i - 1].nparts; j++) {
			const struct ir_part *p = &req->msgs[i - 1].parts[j];
			if ((p->type == IR_THINKING || p->type == IR_REDACTED) &&
			    enc_block(NULL, p, 1))
				return 0;
			if (p->type == IR_TOOL_CALL)
				calls = 1;
		}
	return calls;
}

static int
anth_encode_request(const struct ir_request *req, struct px_str model,
                    struct jw *out, struct px_err *err)
{
	struct jw *w = out;
	size_t i;
	long long budget = -1, maxt;
	int open = -1, role, thinking;
	enum ir_tool_choice tc = req->tool_choice;

	if (req->n > 1) {
		px_err_set(err, 400, "n > 1 is not supported by Anthropic upstreams");
		return -1;
	}
	for (i = 0; i < req->ntools; i++) {
		if (req->tools[i].raw_type.n && req->fmt != PX_FMT_ANTHROPIC) {
			px_err_set(err, 400, "tool type '%.*s' is not supported by "
			    "Anthropic upstreams",
			    (int)(req->tools[i].raw_type.n > 64 ? 64 :
			    req->tools[i].raw_type.n), req->tools[i].raw_type.p);
			return -1;
		}
	}
	/* thinking budget: Anthropic's own number, else from the effort table */
	if (req->thinking_budget > 0)
		budget = req->thinking_budget;
	else if (req->thinking_budget != 0 && req->effort != IR_EFFORT_UNSET &&
	    req->effort != IR_EFFORT_NONE)
		budget = px_effort_budget(req->effort);
	if (budget > 0 && budget < 1024)
		budget = 1024;          /* Anthropic minimum (WIRE.md §2.6) */
	/* the history lost the signed thinking of the turn in progress:
	 * thinking off for this request rather than a certain 400
	 * (WIRE.md §2.6, "disable thinking on turns whose history lost
	 * them") */
	if (budget > 0 && lost_thinking(req))
		budget = -1;
	thinking = budget > 0;
	maxt = req->max_tokens > 0 ? req->max_tokens : PX_DEFAULT_MAX_TOKENS;
	if (thinking && maxt <= budget)
		maxt = budget + maxt;   /* budget + visible allowance (§6.48) */
	if (thinking && (tc == IR_TC_REQUIRED || tc == IR_TC_NAMED))
		tc = IR_TC_AUTO;        /* forced tool use + thinking (§6.47) */

	jw_obj(w);
	jw_key(w, "model");
	px_jw_str(w, model);
	jw_kint(w, "max_tokens", maxt);
	if (req->nsystem) {
		int blocks = req->nsystem > 1;
		for (i = 0; i < req->nsystem; i++)
			if (req->system[i].cache_control.n)
				blocks = 1;
		jw_key(w, "system");
		if (!blocks) {
			px_jw_str(w, req->system[0].text);
		} else {
			jw_arr(w);
			for (i = 0; i < req->nsystem; i++)
				if (req->system[i].text.n)
					enc_text_block(w, req->system[i].text,
					    &req->system[i]);
			jw_arr_end(w);
		}
	}
	jw_key(w, "messages");
	jw_arr(w);
	for (i = 0; i < req->nmsgs; i++) {
		const struct ir_msg *m = &req->msgs[i];
		if (!msg_blocks(w, m, 1))
			continue;       /* never an empty turn */
		role = m->role == IR_ROLE_ASSISTANT;
		if (open != role) {
			/* merge consecutive same-role turns into one */
			if (open >= 0) {
				jw_arr_end(w);
				jw_obj_end(w);
			}
			jw_obj(w);
			jw_kcstr(w, "role", role ? "assistant" : "user");
			jw_key(w, "content");
			jw_arr(w);
			open = role;
		}
		msg_blocks(w, m, 0);
	}
	if (open >= 0) {
		jw_arr_end(w);
		jw_obj_end(w);
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
			jw_key(w, "name");
			px_jw_str(w, t->name);
			if (t->description.n) {
				jw_key(w, "description");
				px_jw_str(w, t->description);
			}
			jw_key(w, "input_schema");
			if (t->parameters.n)
				jw_raw(w, t->parameters.p, t->parameters.n);
			else        /* input_schema is required (WIRE.md §2.4) */
				jw_raw(w, "{\"type\":\"object\",\"properties\":{}}", 33);
			if (t->strict == 1)
				jw_kbool(w, "strict", 1);
			jw_obj_end(w);
		}
		jw_arr_end(w);
		if (tc != IR_TC_UNSET || req->parallel_tool_calls == 0) {
			jw_key(w, "tool_choice");
			jw_obj(w);
			switch (tc) {
			case IR_TC_NONE:     jw_kcstr(w, "type", "none"); break;
			case IR_TC_REQUIRED: jw_kcstr(w, "type", "any"); break;
			case IR_TC_NAMED:
				jw_kcstr(w, "type", "tool");
				jw_key(w, "name");
				px_jw_str(w, req->tool_choice_name);
				break;
			default:             jw_kcstr(w, "type", "auto"); break;
			}
			if (req->parallel_tool_calls == 0 && tc != IR_TC_NONE)
				jw_kbool(w, "disable_parallel_tool_use", 1);
			jw_obj_end(w);
		}
	}
	if (req->nstop) {
		jw_key(w, "stop_sequences");    /* always an array (§6.58) */
		jw_arr(w);
		for (i = 0; i < req->nstop; i++)
			px_jw_str(w, req->stop[i]);
		jw_arr_end(w);
	}
	if (!thinking) {
		/* sampling knobs are not allowed with thinking */
		/* as the client wrote it: a value outside Anthropic's 0..1
		 * gets Anthropic's own 400, never a quiet 1 */
		if (req->temperature.set) {
			jw_key(w, "temperature");
			px_jw_num(w, &req->temperature);
		}
		if (req->top_p.set && (!req->temperature.set ||
		    req->fmt == PX_FMT_ANTHROPIC)) {
			jw_key(w, "top_p");
			px_jw_num(w, &req->top_p);
		}
		if (req->top_k.set) {
			jw_key(w, "top_k");
			px_jw_num(w, &req->top_k);
		}
	}
	if (req->user.n) {
		jw_key(w, "metadata");
		jw_obj(w);
		jw_key(w, "user_id");
		px_jw_str(w, req->user);
		jw_obj_end(w);
	}
	if (thinking) {
		jw_key(w, "thinking");
		jw_obj(w);
		jw_kcstr(w, "type", "enabled");
		jw_kint(w, "budget_tokens", budget);
		jw_obj_end(w);
	} else if (req->fmt == PX_FMT_ANTHROPIC && req->thinking_budget == 0) {
		jw_key(w, "thinking");
		jw_obj(w);
		jw_kcstr(w, "type", "disabled");
		jw_obj_end(w);
	}
	if (req->rf == IR_RF_JSON_SCHEMA || req->rf == IR_RF_JSON_OBJECT) {
		jw_key(w, "output_config");
		jw_obj(w);
		jw_key(w, "format");
		jw_obj(w);
		jw_kcstr(w, "type", "json_schema");
		jw_key(w, "schema");
		if (req->rf == IR_RF_JSON_SCHEMA && req->rf_schema.n)
			jw_raw(w, req->rf_schema.p, req->rf_schema.n);
		else    /* json_object: any object */
			jw_raw(w, "{\"type\":\"object\"}", 17);
		jw_obj_end(w);
		jw_obj_end(w);
	}
	if (req->stream)
		jw_kbool(w, "stream", 1);
	jw_obj_end(w);
	return 0;
}

/* ------------------------------------------------------ response decode */

static int
anth_decode_response(struct px_arena *a, const struct json *root,
                     struct ir_response *resp, struct px_err *err)
{
	const struct json *c = json_get(root, "content"), *b;
	long long cr = -1, cw = -1;

	if (!c || c->type != JSON_ARRAY) {
		px_err_set(err, 502, "upstream response has no content");
		return -1;
	}
	resp->id = px_jget(root, "id");
	resp->model = px_jget(root, "model");
	resp->parts = px_zalloc(a, (c->len + 1) * sizeof *resp->parts);
	if (!resp->parts) {
		px_err_set(err, 502, "response too large");
		return -1;
	}
	/* blocks with no IR form (server tools) are left out of answers */
	for (b = c->child; b; b = b->next)
		if (decode_block(a, b, "content", &resp->parts[resp->nparts],
		    NULL) == 0)
			resp->nparts++;
		else
			memset(&resp->parts[resp->nparts], 0,
			    sizeof resp->parts[0]);
	resp->native_stop = px_jget(root, "stop_reason");
	resp->stop = stop_parse(resp->native_stop);
	resp->stop_sequence = px_jget(root, "stop_sequence");
	decode_usage(json_get(root, "usage"), &resp->usage, &cr, &cw);
	return 0;
}

/* ------------------------------------------------------ response encode */

static void
jw_msg_id(struct jw *w, struct px_arena *a, struct px_str id)
{
	struct px_arena tmp;

	if (id.n > 4 && memcmp(id.p, "msg_", 4) == 0) {
		px_jw_str(w, id);
		return;
	}
	if (a) {
		px_jw_str(w, px_new_id(a, "msg_"));
		return;
	}
	px_arena_init(&tmp, 0);
	px_jw_str(w, px_new_id(&tmp, "msg_"));
	px_arena_free(&tmp);
}

/* IR usage -> Anthropic: input_tokens EXCLUDES cache (WIRE.md §3.3). */
static void
enc_usage_fields(struct jw *w, const struct ir_usage *u, int with_input)
{
	long long cr = u->cache_read > 0 ? u->cache_read : 0;
	long long cw = u->cache_write > 0 ? u->cache_write : 0;
	long long in = u->input > 0 ? u->input - cr - cw : 0;

	if (in < 0)
		in = 0;
	if (with_input) {
		jw_kint(w, "input_tokens", in);
		jw_kint(w, "cache_creation_input_tokens", cw);
		jw_kint(w, "cache_read_input_tokens", cr);
	}
	jw_kint(w, "output_tokens", u->output > 0 ? u->output : 0);
}

static int
anth_encode_response(const struct ir_request *req,
                     const struct ir_response *resp, struct jw *out,
                     struct px_err *err)
{
	struct jw *w = out;
	size_t i;
	int ncall = 0;

	jw_obj(w);
	jw_key(w, "id");
	jw_msg_id(w, NULL, resp->id);
	jw_kcstr(w, "type", "message");
	jw_kcstr(w, "role", "assistant");
	jw_key(w, "model");
	px_jw_str(w, req && req->model.n ? req->model : resp->model);
	jw_key(w, "content");
	jw_arr(w);
	for (i = 0; i < resp->nparts; i++) {
		const struct ir_part *p = &resp->parts[i];
		if (p->type == IR_THINKING) {
			/* reasoning from any upstream is shown; its signature only
			 * when it is Anthropic's own */
			jw_obj(w);
			jw_kcstr(w, "type", "thinking");
			jw_key(w, "thinking");
			px_jw_str(w, p->text);
			jw_key(w, "signature");
			if (p->sig_fmt == PX_FMT_ANTHROPIC)
				px_jw_str(w, p->signature);
			else
				jw_cstr(w, "");
			jw_obj_end(w);
			continue;
		}
		if (p->type == IR_TOOL_CALL)
			ncall++;
		enc_block(w, p, 0);
	}
	jw_arr_end(w);
	jw_kcstr(w, "stop_reason", stop_name(resp->stop, ncall > 0));
	jw_key(w, "stop_sequence");
	if (resp->stop_sequence.n)
		px_jw_str(w, resp->stop_sequence);
	else
		jw_null(w);
	jw_key(w, "usage");
	jw_obj(w);
	enc_usage_fields(w, &resp->usage, 1);
	jw_obj_end(w);
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
	if (px_str_eq(t, "permission_error") || px_str_eq(t, "billing_error"))
		return IR_ERR_PERMISSION;
	if (px_str_eq(t, "not_found_error"))        return IR_ERR_NOT_FOUND;
	if (px_str_eq(t, "request_too_large"))      return IR_ERR_TOO_LARGE;
	if (px_str_eq(t, "rate_limit_error"))       return IR_ERR_RATE_LIMIT;
	if (px_str_eq(t, "api_error") || px_str_eq(t, "server_error"))
		return IR_ERR_SERVER;
	if (px_str_eq(t, "overloaded_error"))       return IR_ERR_OVERLOADED;
	if (px_str_eq(t, "timeout_error"))          return IR_ERR_TIMEOUT;
	return dflt;
}

static void
anth_decode_error(const struct json *root, struct ir_error *e)
{
	const struct json *er;

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
	e->code = px_jget(er, "code");
}

static const char *
anth_err_type(enum ir_err_kind k)
{
	switch (k) {
	case IR_ERR_INVALID:     return "invalid_request_error";
	case IR_ERR_AUTH:        return "authentication_error";
	case IR_ERR_PERMISSION:  return "permission_error";
	case IR_ERR_NOT_FOUND:   return "not_found_error";
	case IR_ERR_TOO_LARGE:   return "request_too_large";
	case IR_ERR_RATE_LIMIT:  return "rate_limit_error";
	case IR_ERR_UNAVAILABLE:
	case IR_ERR_OVERLOADED:  return "overloaded_error";
	case IR_ERR_TIMEOUT:     return "timeout_error";
	default:                 return "api_error";
	}
}

static void
anth_encode_error(const struct ir_error *e, struct jw *out)
{
	jw_obj(out);
	jw_kcstr(out, "type", "error");
	jw_key(out, "error");
	jw_obj(out);
	jw_kcstr(out, "type", anth_err_type(e->kind));
	jw_key(out, "message");
	px_jw_str(out, e->message);
	jw_obj_end(out);
	jw_obj_end(out);
}

/* ------------------------------------------------------ stream decoder */

struct adec {
	long long open_up;            /* upstream index of the open block, -1 */
	int skipping;                 /* inside a block we do not carry */
	int stopped;                  /* message_stop seen */
	enum ir_stop stop;
	struct px_str stop_seq;
	struct ir_usage usage;
	long long cr, cw;
};

static void *
anth_sdec_new(struct px_stream *s)
{
	struct adec *d = px_zalloc(s->a, sizeof *d);

	if (d) {
		d->open_up = -1;
		d->cr = d->cw = -1;
		ir_usage_init(&d->usage);
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

static int
anth_sdec_feed(struct px_stream *s, void *st, const struct sse_event *ev,
               const struct json *root)
{
	struct adec *d = st;
	struct ir_event e;
	struct px_str ty, dt;
	const struct json *cb, *de;
	long long idx = -1;

	if (!root)
		return 0;               /* [DONE] or empty: not Anthropic's */
	ty = px_jget(root, "type");
	if (!ty.n && ev->event_len) {
		ty.p = ev->event;
		ty.n = ev->event_len;
	}
	json_int(json_get(root, "index"), &idx);
	if (px_str_eq(ty, "message_start")) {
		const struct json *m = json_get(root, "message");
		ev_init(&e, IR_EV_START);
		e.id = px_jget(m, "id");
		e.model = px_jget(m, "model");
		decode_usage(json_get(m, "usage"), &d->usage, &d->cr, &d->cw);
		e.usage = d->usage;
		px_emit(s, &e);
	} else if (px_str_eq(ty, "content_block_start")) {
		cb = json_get(root, "content_block");
		dt = px_jget(cb, "type");
		ev_init(&e, IR_EV_BLOCK_START);
		d->skipping = 0;
		d->open_up = idx;
		if (px_str_eq(dt, "text")) {
			e.block = IR_TEXT;
		} else if (px_str_eq(dt, "thinking")) {
			e.block = IR_THINKING;
		} else if (px_str_eq(dt, "redacted_thinking")) {
			/* the opaque payload travels in `signature` */
			e.block = IR_REDACTED;
			e.signature = px_jget(cb, "data");
		} else if (px_str_eq(dt, "tool_use")) {
			e.block = IR_TOOL_CALL;
			e.id = px_jget(cb, "id");
			e.name = px_jget(cb, "name");
		} else {
			d->skipping = 1;    /* server_tool_use, web_search results */
			return 0;
		}
		px_emit(s, &e);
		/* a start that already carries content (rare) */
		if (e.block == IR_TEXT && px_jget(cb, "text").n) {
			ev_init(&e, IR_EV_DELTA);
			e.text = px_jget(cb, "text");
			px_emit(s, &e);
		} else if (e.block == IR_TOOL_CALL) {
			const struct json *in = json_get(cb, "input");
			if (in && in->type == JSON_OBJECT && in->len) {
				ev_init(&e, IR_EV_DELTA);
				e.text = px_json_compact(&s->scratch, in);
				px_emit(s, &e);
			}
		}
	} else if (px_str_eq(ty, "content_block_delta")) {
		if (d->skipping || idx != d->open_up)
			return 0;       /* delta for a block we do not have */
		de = json_get(root, "delta");
		dt = px_jget(de, "type");
		ev_init(&e, IR_EV_DELTA);
		if (px_str_eq(dt, "text_delta"))
			e.text = px_jget(de, "text");
		else if (px_str_eq(dt, "thinking_delta"))
			e.text = px_jget(de, "thinking");
		else if (px_str_eq(dt, "input_json_delta"))
			e.text = px_jget(de, "partial_json");
		else if (px_str_eq(dt, "signature_delta"))
			e.signature = px_jget(de, "signature");
		if (e.text.n || e.signature.n)
			px_emit(s, &e);
	} else if (px_str_eq(ty, "content_block_stop")) {
		if (d->skipping || idx != d->open_up) {
			d->skipping = 0;
			return 0;
		}
		ev_init(&e, IR_EV_BLOCK_STOP);
		px_emit(s, &e);
		d->open_up = -1;
	} else if (px_str_eq(ty, "message_delta")) {
		de = json_get(root, "delta");
		dt = px_jget(de, "stop_reason");
		if (dt.n)
			d->stop = stop_parse(dt);
		dt = px_jget(de, "stop_sequence");
		if (dt.n)
			d->stop_seq = px_str_dup(s->a, dt.p, dt.n);
		/* cumulative: overwrite, never add (WIRE.md §3.3) */
		decode_usage(json_get(root, "usage"), &d->usage, &d->cr, &d->cw);
	} else if (px_str_eq(ty, "message_stop")) {
		ev_init(&e, IR_EV_FINISH);
		e.stop = d->stop ? d->stop : IR_STOP_END;
		e.stop_sequence = d->stop_seq;
		e.usage = d->usage;
		d->stopped = 1;
		px_emit(s, &e);
	} else if (px_str_eq(ty, "ping")) {
		ev_init(&e, IR_EV_PING);
		px_emit(s, &e);
	} else if (px_str_eq(ty, "error")) {
		ev_init(&e, IR_EV_ERROR);
		e.err.kind = IR_ERR_SERVER;
		anth_decode_error(root, &e.err);
		e.err.status = px_status_from_kind(e.err.kind);
		if (!e.err.message.n)
			e.err.message = px_str_c("upstream stream error");
		px_emit(s, &e);
	}
	return 0;
}

static int
anth_sdec_end(struct px_stream *s, void *st)
{
	struct adec *d = st;

	(void)s;
	return d->stopped;      /* no message_stop: cut off */
}

/* ------------------------------------------------------ stream encoder */

struct aenc {
	struct px_str sig;            /* pending signature of the open block */
	int next;                     /* next client block index */
	int open;                     /* client index of the open block, -1 */
	int text_pending;             /* IR text block started, not yet sent */
	int ncalls;
	/* the open block's content_block_delta event up to its string's
	 * opening quote, built once per block: a delta is then a copy, its
	 * escaped text and "}}\n\n" */
	struct jw pw;
	struct px_str pre;
};

static void *
anth_senc_new(struct px_stream *s)
{
	struct aenc *c = px_zalloc(s->a, sizeof *c);

	if (c) {
		c->open = -1;
		jw_init(&c->pw, s->a, 1024);
	}
	return c;
}

static void
delta_prefix(struct aenc *c, enum ir_part_type block)
{
	jw_reset(&c->pw);
	jw_puts(&c->pw, "event: content_block_delta\ndata: {\"type\":"
	    "\"content_block_delta\",\"index\":");
	jw_int(&c->pw, c->open);
	jw_puts(&c->pw, block == IR_TEXT ?
	    ",\"delta\":{\"type\":\"text_delta\",\"text\":\"" :
	    block == IR_THINKING ?
	    ",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"" :
	    ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"");
	c->pre = px_jw_view(&c->pw);
}

static void
ev_begin(struct jw *w, const char *type)
{
	jw_puts(w, "event: ");
	jw_puts(w, type);
	jw_puts(w, "\ndata: ");
	px_jw_doc(w);
	jw_obj(w);
	jw_kcstr(w, "type", type);
}

static void
ev_end(struct jw *w)
{
	jw_obj_end(w);
	jw_put(w, "\n\n", 2);
}

static void
block_start_text(struct aenc *c, struct jw *w)
{
	c->open = c->next++;
	c->text_pending = 0;
	ev_begin(w, "content_block_start");
	jw_kint(w, "index", c->open);
	jw_key(w, "content_block");
	jw_obj(w);
	jw_kcstr(w, "type", "text");
	jw_kcstr(w, "text", "");
	jw_obj_end(w);
	ev_end(w);
	delta_prefix(c, IR_TEXT);
}

static void
anth_senc_event(struct px_stream *s, void *st, const struct ir_event *ev,
                struct jw *w)
{
	struct aenc *c = st;

	switch (ev->kind) {
	case IR_EV_START:
		/* message_start must carry content [], stop_reason null and
		 * usage (WIRE.md §4.1, §6.54) */
		ev_begin(w, "message_start");
		jw_key(w, "message");
		jw_obj(w);
		jw_key(w, "id");
		jw_msg_id(w, s->a, ev->id);
		jw_kcstr(w, "type", "message");
		jw_kcstr(w, "role", "assistant");
		jw_key(w, "model");
		px_jw_str(w, s->req && s->req->model.n ? s->req->model : ev->model);
		jw_key(w, "content");
		jw_arr(w);
		jw_arr_end(w);
		jw_knull(w, "stop_reason");
		jw_knull(w, "stop_sequence");
		jw_key(w, "usage");
		jw_obj(w);
		enc_usage_fields(w, &ev->usage, 1);
		jw_obj_end(w);
		jw_obj_end(w);
		ev_end(w);
		break;
	case IR_EV_BLOCK_START:
		c->sig.n = 0;
		if (ev->block == IR_TEXT) {
			c->text_pending = 1;    /* wait for text (§6.10) */
			break;
		}
		c->open = c->next++;
		ev_begin(w, "content_block_start");
		jw_kint(w, "index", c->open);
		jw_key(w, "content_block");
		jw_obj(w);
		if (ev->block == IR_THINKING) {
			jw_kcstr(w, "type", "thinking");
			jw_kcstr(w, "thinking", "");
			jw_kcstr(w, "signature", "");
		} else if (ev->block == IR_REDACTED) {
			jw_kcstr(w, "type", "redacted_thinking");
			jw_key(w, "data");
			px_jw_str(w, ev->signature);
		} else {
			c->ncalls++;
			jw_kcstr(w, "type", "tool_use");
			jw_key(w, "id");
			jw_tool_id(w, ev->id);
			jw_key(w, "name");
			px_jw_str(w, ev->name);
			jw_key(w, "input");
			jw_obj(w);
			jw_obj_end(w);
		}
		jw_obj_end(w);
		ev_end(w);
		delta_prefix(c, ev->block);
		break;
	case IR_EV_DELTA:
		if (ev->block == IR_TEXT && c->text_pending) {
			if (!ev->text.n)
				break;
			block_start_text(c, w);
		}
		if (c->open < 0)
			break;
		if (ev->signature.n && ev->block == IR_THINKING)
			/* sent once, right before the stop; the last one wins */
			c->sig = px_str_dup(s->a, ev->signature.p, ev->signature.n);
		if (!ev->text.n || ev->block == IR_REDACTED)
			break;
		if (!c->pre.n) {
			w->err = 1;
			break;
		}
		jw_put(w, c->pre.p, c->pre.n);
		px_put_esc(w, ev->text);
		jw_put(w, "\"}}\n\n", 5);
		break;
	case IR_EV_BLOCK_STOP:
		if (c->text_pending) {
			c->text_pending = 0;    /* empty text block: never sent */
			break;
		}
		if (c->open < 0)
			break;
		if (c->sig.n) {
			ev_begin(w, "content_block_delta");
			jw_kint(w, "index", c->open);
			jw_key(w, "delta");
			jw_obj(w);
			jw_kcstr(w, "type", "signature_delta");
			jw_key(w, "signature");
			px_jw_str(w, c->sig);
			jw_obj_end(w);
			ev_end(w);
			c->sig.n = 0;
		}
		ev_begin(w, "content_block_stop");
		jw_kint(w, "index", c->open);
		ev_end(w);
		c->open = -1;
		break;
	case IR_EV_FINISH:
		ev_begin(w, "message_delta");
		jw_key(w, "delta");
		jw_obj(w);
		jw_kcstr(w, "stop_reason", stop_name(ev->stop, c->ncalls > 0));
		jw_key(w, "stop_sequence");
		if (ev->stop_sequence.n && ev->stop == IR_STOP_STOP_SEQUENCE)
			px_jw_str(w, ev->stop_sequence);
		else
			jw_null(w);
		jw_obj_end(w);
		jw_key(w, "usage");
		jw_obj(w);
		enc_usage_fields(w, &ev->usage, ev->usage.input >= 0);
		jw_obj_end(w);
		ev_end(w);
		ev_begin(w, "message_stop");
		ev_end(w);
		break;
	case IR_EV_ERROR:
		jw_puts(w, "event: error\ndata: ");
		px_jw_doc(w);
		anth_encode_error(&ev->err, w);
		jw_put(w, "\n\n", 2);
		break;
	case IR_EV_PING:
		ev_begin(w, "ping");
		ev_end(w);
		break;
	}
}

/* see convert_int.h */
const struct px_codec px_codec_anthropic = {
	PX_FMT_ANTHROPIC,
	anth_decode_request,
	anth_encode_request,
	anth_decode_response,
	anth_encode_response,
	anth_decode_error,
	anth_encode_error,
	anth_sdec_new,
	anth_sdec_feed,
	anth_sdec_end,
	anth_senc_new,
	NULL,
	anth_senc_event,
	NULL,
};

/* ------------------------------------ embeddings and converted token counts */

static struct json *
ax_parse(struct px_arena *a, const char *body, size_t n, int status,
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

/* see convert.h */
int
px_count_request_anthropic(struct px_arena *a, const struct ir_request *req,
                           struct px_str model, struct jw *out,
                           struct px_err *err)
{
	static const char *const keep[] = {
		"model", "system", "messages", "tools", "tool_choice", "thinking"
	};
	struct jw full;
	struct json *root, *m;
	size_t i;

	jw_init(&full, a, out->max);
	if (px_encode_request(PX_FMT_ANTHROPIC, req, model, &full, err) < 0)
		return -1;
	root = ax_parse(a, full.buf, full.len, 500, err);
	if (!root)
		return -1;
	jw_obj(out);
	for (i = 0; i < sizeof keep / sizeof keep[0]; i++) {
		m = json_get(root, keep[i]);
		if (m) {
			jw_key(out, keep[i]);
			jw_raw(out, m->raw, m->rawlen);
		}
	}
	jw_obj_end(out);
	if (out->err) {
		px_err_set(err, 413, "converted request too large");
		return -1;
	}
	return 0;
}

/* see convert.h */
int
px_count_tokens_anthropic(struct px_arena *a, const char *body, size_t n,
                          long long *tokens, struct px_err *err)
{
	struct json *root;

	root = ax_parse(a, body, n, 502, err);
	if (!root)
		return -1;
	if (!json_int(json_get(root, "input_tokens"), tokens) || *tokens < 0) {
		px_err_set(err, 502, "upstream count has no \"input_tokens\"");
		return -1;
	}
	return 0;
}
