/*
 * account_shape.c - the upstream request of each account kind, and its
 * answer unwrapped (see account.h). I/O-free.
 *
 * A subscription's API is the one its own client speaks, and it checks
 * that it is spoken that way: Anthropic's OAuth tokens work on the
 * Messages endpoint only with the OAuth beta flag and the Claude Code
 * identity as the first system block; the ChatGPT backend takes only
 * streamed, unstored Responses requests with instructions and refuses the
 * token limit and sampling fields; Code Assist wants the Gemini request
 * inside a {model, project, request} envelope and wraps its answers the
 * same way; Copilot wants the editor headers. The body shaping works on
 * the JSON the codecs produced (or the client sent, when the formats
 * match), parsed once and written again member by member, with every
 * member it does not touch copied byte for byte from its source.
 *
 * The header values that pin a client version (user agents, beta lists)
 * are the ones the shared ACCOUNTS.md records; a provider's "headers" in
 * the config replace any of them by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "account.h"
#include "sse.h"

const char px_claude_identity[] =
    "You are Claude Code, Anthropic's official CLI for Claude.";

#define CLAUDE_BETAS "claude-code-20250219,oauth-2025-04-20," \
    "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
#define CLAUDE_COUNT_BETAS "claude-code-20250219,oauth-2025-04-20," \
    "interleaved-thinking-2025-05-14,context-management-2025-06-27," \
    "token-counting-2024-11-01"
#define CLAUDE_UA   "claude-cli/1.0.83 (external, cli)"
#define CODEX_UA    "codex_cli_rs/0.50.0 (Mac OS 26.0.1; arm64) " \
    "Apple_Terminal/464"
#define GEMINI_UA   "GeminiCLI/0.34.0"
#define GEMINI_API_CLIENT "google-genai-sdk/1.41.0 gl-node/v22.19.0"
#define COPILOT_EDITOR "vscode/1.107.0"
#define COPILOT_PLUGIN "copilot-chat/0.35.0"
#define COPILOT_UA     "GitHubCopilotChat/0.35.0"

/* ------------------------------------------------------------ path */

/* see account.h */
int
px_acct_path(const struct px_acct_req *q, enum px_fmt fmt, char *buf,
    size_t cap)
{
	const char *p = NULL;

	switch (q->kind) {
	case PX_ACCT_CLAUDE:
		if (q->op == PX_OP_COUNT)
			p = "/v1/messages/count_tokens?beta=true";
		else if (q->op == PX_OP_GENERATE)
			p = "/v1/messages?beta=true";
		break;
	case PX_ACCT_CODEX:
		if (q->op == PX_OP_GENERATE)
			p = "/responses";
		break;
	case PX_ACCT_GEMINI:
		if (q->op == PX_OP_COUNT)
			p = "/v1internal:countTokens";
		else if (q->op == PX_OP_GENERATE)
			p = q->stream ?
			    "/v1internal:streamGenerateContent?alt=sse" :
			    "/v1internal:generateContent";
		break;
	case PX_ACCT_COPILOT:
		if (q->op == PX_OP_GENERATE)
			p = fmt == PX_FMT_RESPONSES ? "/responses" :
			    "/chat/completions";
		break;
	default:
		break;
	}
	if (p == NULL || strlen(p) + 1 > cap)
		return -1;
	memcpy(buf, p, strlen(p) + 1);
	return (int)strlen(p);
}

/* ------------------------------------------------------------ head */

struct hw {
	struct jw *h;
	int (*skip)(void *, const char *);
	void *ctx;
};

static void
line(struct hw *w, const char *name, const char *v1, const char *v2)
{
	if (w->skip != NULL && w->skip(w->ctx, name))
		return;
	jw_puts(w->h, name);
	jw_puts(w->h, ": ");
	jw_puts(w->h, v1);
	if (v2)
		jw_puts(w->h, v2);
	jw_puts(w->h, "\r\n");
}

/* 1 when the comma-separated list has the item. */
static int
list_has(const char *list, const char *item)
{
	size_t n = strlen(item);
	const char *p = list;

	while (*p) {
		size_t k = strcspn(p, ",");
		const char *a = p, *e = p + k;
		while (a < e && (*a == ' ' || *a == '\t'))
			a++;
		while (e > a && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - a) == n && strncasecmp(a, item, n) == 0)
			return 1;
		p += k;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* see account.h */
void
px_acct_head(const struct px_acct_req *q,
    int (*skip)(void *ctx, const char *name), void *ctx, struct jw *h)
{
	struct hw w = { h, skip, ctx };
	const char *accept = q->stream ? "text/event-stream" :
	    "application/json";
	char buf[2048];

	line(&w, "Authorization", "Bearer ", q->token ? q->token : "");
	switch (q->kind) {
	case PX_ACCT_CLAUDE:
		line(&w, "anthropic-version", q->client_version ?
		    q->client_version : "2023-06-01", NULL);
		if (q->op == PX_OP_COUNT) {
			line(&w, "anthropic-beta", CLAUDE_COUNT_BETAS, NULL);
		} else if (q->client_beta && q->client_beta[0] &&
		    strlen(q->client_beta) < 1500) {
			/* the client's list, with what OAuth needs added */
			snprintf(buf, sizeof buf, "%s%s%s", q->client_beta,
			    list_has(q->client_beta, "claude-code-20250219") ?
			    "" : ",claude-code-20250219",
			    list_has(q->client_beta, "oauth-2025-04-20") ? "" :
			    ",oauth-2025-04-20");
			line(&w, "anthropic-beta", buf, NULL);
		} else {
			line(&w, "anthropic-beta", CLAUDE_BETAS, NULL);
		}
		line(&w, "anthropic-dangerous-direct-browser-access", "true",
		    NULL);
		line(&w, "x-app", "cli", NULL);
		line(&w, "User-Agent", CLAUDE_UA, NULL);
		line(&w, "X-Stainless-Lang", "js", NULL);
		line(&w, "X-Stainless-Package-Version", "0.55.1", NULL);
		line(&w, "X-Stainless-OS", "Linux", NULL);
		line(&w, "X-Stainless-Arch", "x64", NULL);
		line(&w, "X-Stainless-Runtime", "node", NULL);
		line(&w, "X-Stainless-Runtime-Version", "v22.19.0", NULL);
		line(&w, "X-Stainless-Retry-Count", "0", NULL);
		line(&w, "X-Stainless-Timeout", "600", NULL);
		if (q->stream)
			line(&w, "X-Stainless-Helper-Method", "stream", NULL);
		break;
	case PX_ACCT_CODEX:
		accept = "text/event-stream";   /* always streamed */
		if (q->account_id && q->account_id[0])
			line(&w, "chatgpt-account-id", q->account_id, NULL);
		line(&w, "originator", "codex_cli_rs", NULL);
		line(&w, "User-Agent", CODEX_UA, NULL);
		line(&w, "OpenAI-Beta", "responses=experimental", NULL);
		if (q->request_id)
			line(&w, "session_id", q->request_id, NULL);
		break;
	case PX_ACCT_GEMINI:
		snprintf(buf, sizeof buf, GEMINI_UA "/%.200s (linux; x64; "
		    "terminal)", q->model ? q->model : "");
		line(&w, "User-Agent", buf, NULL);
		line(&w, "X-Goog-Api-Client", GEMINI_API_CLIENT, NULL);
		break;
	case PX_ACCT_COPILOT:
		line(&w, "Editor-Version", COPILOT_EDITOR, NULL);
		line(&w, "Editor-Plugin-Version", COPILOT_PLUGIN, NULL);
		line(&w, "User-Agent", COPILOT_UA, NULL);
		line(&w, "Copilot-Integration-Id", "vscode-chat", NULL);
		line(&w, "Openai-Intent", "conversation-panel", NULL);
		line(&w, "X-Github-Api-Version", "2025-04-01", NULL);
		if (q->request_id)
			line(&w, "X-Request-Id", q->request_id, NULL);
		line(&w, "X-Initiator", q->agent ? "agent" : "user", NULL);
		if (q->vision)
			line(&w, "Copilot-Vision-Request", "true", NULL);
		break;
	default:
		break;
	}
	jw_puts(h, "Content-Type: application/json\r\nAccept: ");
	jw_puts(h, accept);
	jw_puts(h, "\r\n");
}

/* ------------------------------------------------------------ body */

static int
key_is(const struct json *m, const char *k)
{
	return json_eq(m->key, m->keylen, k);
}

static void
copy_member(struct jw *w, const struct json *m)
{
	jw_keyn(w, m->key, m->keylen);
	jw_raw(w, m->raw, m->rawlen);
}

/* 1 when text s[0..n) begins with the Claude Code identity. */
static int
has_identity(const char *s, size_t n)
{
	size_t k = sizeof px_claude_identity - 1;

	return n >= k && memcmp(s, px_claude_identity, k) == 0;
}

static void
identity_block(struct jw *w)
{
	jw_obj(w);
	jw_kcstr(w, "type", "text");
	jw_kcstr(w, "text", px_claude_identity);
	jw_obj_end(w);
}

/* "system" with the Claude Code identity first (unless the client is
 * Claude Code, whose own system blocks carry it). */
static void
claude_system(struct jw *w, const struct json *sys)
{
	const struct json *e;
	const char *s;
	size_t n;

	jw_key(w, "system");
	if (sys != NULL && json_str(sys, &s, &n)) {
		if (has_identity(s, n)) {
			jw_raw(w, sys->raw, sys->rawlen);
			return;
		}
		jw_arr(w);
		identity_block(w);
		if (n > 0) {
			jw_obj(w);
			jw_kcstr(w, "type", "text");
			jw_kstr(w, "text", s, n);
			jw_obj_end(w);
		}
		jw_arr_end(w);
		return;
	}
	if (sys != NULL && sys->type == JSON_ARRAY) {
		for (e = sys->child; e; e = e->next)
			if (json_str(json_get(e, "text"), &s, &n) &&
			    has_identity(s, n)) {
				jw_raw(w, sys->raw, sys->rawlen);
				return;
			}
		jw_arr(w);
		identity_block(w);
		for (e = sys->child; e; e = e->next)
			jw_raw(w, e->raw, e->rawlen);
		jw_arr_end(w);
		return;
	}
	jw_arr(w);
	identity_block(w);
	jw_arr_end(w);
}

static void
claude_body(const struct json *root, struct jw *w)
{
	const struct json *m, *sys = json_get(root, "system");
	int done = 0;

	jw_obj(w);
	for (m = root->child; m; m = m->next) {
		if (key_is(m, "system")) {
			if (!done)
				claude_system(w, sys);
			done = 1;
			continue;
		}
		if (key_is(m, "messages") && !done) {
			claude_system(w, NULL);
			done = 1;
		}
		copy_member(w, m);
	}
	if (!done)
		claude_system(w, NULL);
	jw_obj_end(w);
}

/* One input item with role "system" renamed "developer" (the ChatGPT
 * backend takes no system messages in input). */
static void
codex_item(struct jw *w, const struct json *it)
{
	const struct json *m;
	const char *s;
	size_t n;

	if (!json_str(json_get(it, "role"), &s, &n) || !json_eq(s, n, "system")) {
		jw_raw(w, it->raw, it->rawlen);
		return;
	}
	jw_obj(w);
	for (m = it->child; m; m = m->next) {
		if (key_is(m, "role"))
			jw_kcstr(w, "role", "developer");
		else
			copy_member(w, m);
	}
	jw_obj_end(w);
}

static void
codex_body(const struct json *root, struct jw *w)
{
	static const char *const drop[] = { "stream", "store",
	    "max_output_tokens", "max_completion_tokens", "temperature",
	    "top_p", "truncation", "user", "previous_response_id",
	    "prompt_cache_retention", "safety_identifier", "stream_options",
	    NULL };
	const struct json *m, *e;
	const char *s;
	size_t n;
	int i, instr = 0, incl = 0;

	jw_obj(w);
	for (m = root->child; m; m = m->next) {
		for (i = 0; drop[i] && !key_is(m, drop[i]); i++)
			;
		if (drop[i])
			continue;
		if (key_is(m, "service_tier") && (!json_str(m, &s, &n) ||
		    !json_eq(s, n, "priority")))
			continue;
		if (key_is(m, "instructions")) {
			if (!json_str(m, &s, &n))
				continue;        /* null: written below */
			instr = 1;
		}
		if (key_is(m, "include"))
			incl = 1;
		if (key_is(m, "input") && json_str(m, &s, &n)) {
			/* a bare string: one user message */
			jw_key(w, "input");
			jw_arr(w);
			jw_obj(w);
			jw_kcstr(w, "type", "message");
			jw_kcstr(w, "role", "user");
			jw_key(w, "content");
			jw_arr(w);
			jw_obj(w);
			jw_kcstr(w, "type", "input_text");
			jw_kstr(w, "text", s, n);
			jw_obj_end(w);
			jw_arr_end(w);
			jw_obj_end(w);
			jw_arr_end(w);
			continue;
		}
		if (key_is(m, "input") && m->type == JSON_ARRAY) {
			jw_key(w, "input");
			jw_arr(w);
			for (e = m->child; e; e = e->next)
				codex_item(w, e);
			jw_arr_end(w);
			continue;
		}
		copy_member(w, m);
	}
	if (!instr)
		jw_kcstr(w, "instructions", "");
	if (!incl) {
		jw_key(w, "include");
		jw_arr(w);
		jw_cstr(w, "reasoning.encrypted_content");
		jw_arr_end(w);
	}
	jw_kbool(w, "stream", 1);
	jw_kbool(w, "store", 0);
	jw_obj_end(w);
}

/* Code Assist: {model, project, user_prompt_id, request}, or for a count
 * {request: {model: "models/M", contents ...}}. */
static void
gemini_envelope(const struct json *root, const char *body, size_t n,
    const struct px_acct_req *q, struct jw *w)
{
	const struct json *m, *g;
	char mod[300];

	jw_obj(w);
	if (q->op == PX_OP_COUNT) {
		snprintf(mod, sizeof mod, "models/%.250s", q->model ?
		    q->model : "");
		jw_key(w, "request");
		jw_obj(w);
		jw_kcstr(w, "model", mod);
		g = json_get(root, "generateContentRequest");
		for (m = (g ? g : root)->child; m; m = m->next)
			if (!key_is(m, "model"))
				copy_member(w, m);
		jw_obj_end(w);
		jw_obj_end(w);
		return;
	}
	jw_kcstr(w, "model", q->model ? q->model : "");
	jw_kcstr(w, "project", q->project ? q->project : "");
	if (q->request_id)
		jw_kcstr(w, "user_prompt_id", q->request_id);
	jw_key(w, "request");
	jw_raw(w, body, n);
	jw_obj_end(w);
}

/* Copilot: who speaks last (X-Initiator) and whether images go along. */
static void
copilot_scan(const struct json *root, struct px_acct_req *q)
{
	const struct json *list = json_get(root, "messages"), *e, *last = NULL,
	    *c, *p;
	const char *s;
	size_t n;

	if (list == NULL)
		list = json_get(root, "input");
	if (list == NULL || list->type != JSON_ARRAY)
		return;
	for (e = list->child; e; e = e->next) {
		last = e;
		c = json_get(e, "content");
		for (p = c && c->type == JSON_ARRAY ? c->child : NULL; p;
		    p = p->next)
			if (json_str(json_get(p, "type"), &s, &n) &&
			    (json_eq(s, n, "image_url") ||
			    json_eq(s, n, "input_image")))
				q->vision = 1;
	}
	if (last != NULL && (!json_str(json_get(last, "role"), &s, &n) ||
	    !json_eq(s, n, "user")))
		q->agent = 1;
}

/* see account.h */
int
px_acct_body(struct px_acct_req *q, struct px_arena *ar, const char *body,
    size_t n, const char **out, size_t *on)
{
	struct json *root;
	struct jw w;

	q->agent = q->vision = 0;
	root = json_parse(ar, body, n, 0, NULL);
	if (root == NULL || root->type != JSON_OBJECT)
		return -1;
	jw_init(&w, ar, 2 * n + 64 * 1024);
	switch (q->kind) {
	case PX_ACCT_CLAUDE:
		if (q->op != PX_OP_GENERATE) {
			*out = body;
			*on = n;
			return 0;
		}
		claude_body(root, &w);
		break;
	case PX_ACCT_CODEX:
		codex_body(root, &w);
		break;
	case PX_ACCT_GEMINI:
		gemini_envelope(root, body, n, q, &w);
		break;
	case PX_ACCT_COPILOT:
		copilot_scan(root, q);
		*out = body;
		*on = n;
		return 0;
	default:
		return -1;
	}
	if (w.err)
		return -1;
	*out = w.buf;
	*on = w.len;
	return 0;
}

/* ------------------------------------------------------------ answers */

static size_t
ws(const char *p, size_t n, size_t i)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' ||
	    p[i] == '\r'))
		i++;
	return i;
}

/* End of the string starting at p[i] == '"', or 0 when unterminated. */
static size_t
str_end(const char *p, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (p[i] == '\\')
			i++;
		else if (p[i] == '"')
			return i + 1;
	}
	return 0;
}

/* End of the value at p[i] (strings and nesting honoured; the value's
 * own grammar is the codec's to check), or 0. */
static size_t
value_end(const char *p, size_t n, size_t i)
{
	int depth = 0;

	if (i >= n)
		return 0;
	if (p[i] == '"')
		return str_end(p, n, i);
	if (p[i] != '{' && p[i] != '[') {
		while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ']' &&
		    p[i] != ' ' && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
			i++;
		return i;
	}
	for (; i < n; i++) {
		if (p[i] == '"') {
			if ((i = str_end(p, n, i)) == 0)
				return 0;
			i--;
		} else if (p[i] == '{' || p[i] == '[') {
			if (++depth > JSON_MAX_DEPTH)
				return 0;
		} else if (p[i] == '}' || p[i] == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

/* see account.h */
int
px_acct_unwrap(const char *p, size_t n, const char **out, size_t *on)
{
	size_t i = ws(p, n, 0), ke, ve;

	if (i >= n || p[i] != '{')
		return 0;
	i = ws(p, n, i + 1);
	while (i < n && p[i] == '"') {
		size_t ks = i;
		if ((ke = str_end(p, n, i)) == 0)
			return 0;
		i = ws(p, n, ke);
		if (i >= n || p[i] != ':')
			return 0;
		i = ws(p, n, i + 1);
		if ((ve = value_end(p, n, i)) == 0 || ve <= i)
			return 0;
		if (ke - ks == 10 && memcmp(p + ks, "\"response\"", 10) == 0 &&
		    p[i] == '{') {
			*out = p + i;
			*on = ve - i;
			return 1;
		}
		i = ws(p, n, ve);
		if (i < n && p[i] == ',')
			i = ws(p, n, i + 1);
		else
			break;
	}
	return 0;
}

/* The data of one Codex stream event, parsed. */
static int
agg_event(struct px_arena *ar, const char *d, size_t dn,
    const struct json **final, const struct json **items, int *nitems,
    int max, char *err, size_t errcap)
{
	const struct json *root, *r, *e;
	const char *t, *m;
	size_t tn, mn;

	/* the parser's buffer is reused by the next event: items must
	 * outlive it */
	if ((d = px_arena_strndup(ar, d, dn)) == NULL)
		return 0;
	root = json_parse(ar, d, dn, 0, NULL);
	if (root == NULL || root->type != JSON_OBJECT ||
	    (t = json_get_str(root, "type", &tn)) == NULL)
		return 0;
	if (json_eq(t, tn, "response.output_item.done")) {
		if ((e = json_get(root, "item")) != NULL && *nitems < max)
			items[(*nitems)++] = e;
	} else if (json_eq(t, tn, "response.completed") ||
	    json_eq(t, tn, "response.incomplete")) {
		if ((r = json_get(root, "response")) != NULL &&
		    r->type == JSON_OBJECT)
			*final = r;
	} else if (json_eq(t, tn, "response.failed") ||
	    json_eq(t, tn, "error")) {
		r = json_get(root, "response");
		e = json_get(r ? r : root, "error");
		m = json_get_str(e ? e : root, "message", &mn);
		snprintf(err, errcap, "the upstream stream failed: %.*s",
		    m ? (int)(mn > 200 ? 200 : mn) : 13,
		    m ? m : "(no message)");
		return -1;
	}
	return 0;
}

#ifndef PX_ACCT_AGG_ITEMS
#define PX_ACCT_AGG_ITEMS 1024        /* output items kept */
#endif

/* see account.h */
int
px_acct_aggregate(struct px_arena *ar, const char *sse, size_t n,
    struct jw *out, char *err, size_t errcap)
{
	struct sse_parser sp;
	struct sse_event ev;
	const struct json *final = NULL, **items, *m, *o;
	int nitems = 0, got, rc = -1, i;
	long k;

	snprintf(err, errcap, "the upstream stream ended without "
	    "response.completed");
	if ((items = px_arena_alloc(ar, PX_ACCT_AGG_ITEMS *
	    sizeof *items)) == NULL) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	sse_init(&sp);
	while (n > 0) {
		k = sse_feed(&sp, sse, n, &ev, &got);
		if (k < 0) {
			snprintf(err, errcap, "an upstream event is too large");
			goto done;
		}
		sse += k;
		n -= (size_t)k;
		if (!got)
			break;
		if (agg_event(ar, ev.data, ev.data_len, &final, items, &nitems,
		    PX_ACCT_AGG_ITEMS, err, errcap) < 0)
			goto done;
	}
	if (sse_finish(&sp, &ev) && agg_event(ar, ev.data, ev.data_len, &final,
	    items, &nitems, PX_ACCT_AGG_ITEMS, err, errcap) < 0)
		goto done;
	if (final == NULL)
		goto done;
	o = json_get(final, "output");
	if (nitems == 0 || (o != NULL && o->type == JSON_ARRAY && o->len > 0)) {
		jw_raw(out, final->raw, final->rawlen);
	} else {
		/* the backend may leave "output" empty: the items streamed */
		jw_obj(out);
		for (m = final->child; m; m = m->next)
			if (!key_is(m, "output"))
				copy_member(out, m);
		jw_key(out, "output");
		jw_arr(out);
		for (i = 0; i < nitems; i++)
			jw_raw(out, items[i]->raw, items[i]->rawlen);
		jw_arr_end(out);
		jw_obj_end(out);
	}
	if (out->err) {
		snprintf(err, errcap, "the aggregated answer is too large");
		goto done;
	}
	err[0] = 0;
	rc = 0;
done:
	sse_free(&sp);
	return rc;
}
