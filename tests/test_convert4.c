/*
 * test_convert4.c - the Responses and Gemini codecs: golden conversions,
 * stream invariants, split-anywhere feeding, and the Gemini/Responses edge
 * cases of WIRE.md.
 *
 * Golden files live in tests/golden/ and are EXACT expected output, produced
 * with px_set_deterministic(1700000000) so ids and timestamps are stable:
 *   req_<from>_to_<to>__<fixture>.json      request conversions
 *   resp_<from>_to_<to>__<fixture>.json     non-streamed responses
 *   stream_<from>_to_<to>__<fixture>.sse    streams (fed whole; every split
 *                                           offset must give the same bytes)
 *   err_<from>_to_<to>__<fixture>.json      error bodies ("HTTP <n>" first)
 * A conversion that must fail is stored as "ERROR <status>: <message>".
 * PX_GOLDEN_WRITE=1 rewrites them (then review every diff by hand);
 * otherwise a mismatch writes the actual output to build/golden-actual/.
 * Run from the repository root.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert_int.h"
#include "json.h"
#include "sse.h"
#include "testutil.h"

#define FIX  "tests/fixtures/"
#define GOLD "tests/golden/"
#define NOW  1700000000LL

static const char *const fmt_tag[PX_FMT_COUNT] = {
	"chat", "responses", "anthropic", "gemini"
};

/* ------------------------------------------------------------ helpers */

static char *
load(const char *name, size_t *n)
{
	char path[512];
	char *b;

	snprintf(path, sizeof path, FIX "%s", name);
	b = read_file(path, n);
	ck_assert_msg(b != NULL, "cannot read %s", path);
	return b;
}

static void
golden(const char *name, const char *got, size_t n)
{
	char path[512];
	size_t en = 0;
	char *exp;
	FILE *f;

	snprintf(path, sizeof path, GOLD "%s", name);
	if (getenv("PX_GOLDEN_WRITE")) {
		mkdir("tests/golden", 0755);
		f = fopen(path, "wb");
		ck_assert_msg(f != NULL, "cannot write %s", path);
		fwrite(got, 1, n, f);
		fclose(f);
		return;
	}
	exp = read_file(path, &en);
	if (!exp || en != n || memcmp(exp, got, n) != 0) {
		size_t i = 0;
		mkdir("build", 0755);
		mkdir("build/golden-actual", 0755);
		snprintf(path, sizeof path, "build/golden-actual/%s", name);
		f = fopen(path, "wb");
		if (f) {
			fwrite(got, 1, n, f);
			fclose(f);
		}
		while (exp && i < en && i < n && exp[i] == got[i])
			i++;
		free(exp);
		ck_abort_msg("golden %s differs at byte %zu (actual in %s)",
		    name, i, path);
	}
	free(exp);
}

/* A minimal client request in format f (model "client-model"). */
static void
client_req(struct px_arena *a, enum px_fmt f, int stream,
           struct ir_request *req)
{
	static const char *const bodies[PX_FMT_COUNT][2] = {
		{ "{\"model\":\"client-model\",\"messages\":[{\"role\":\"user\","
		  "\"content\":\"hi\"}]}",
		  "{\"model\":\"client-model\",\"messages\":[{\"role\":\"user\","
		  "\"content\":\"hi\"}],\"stream\":true,\"stream_options\":"
		  "{\"include_usage\":true}}" },
		{ "{\"model\":\"client-model\",\"input\":\"hi\"}",
		  "{\"model\":\"client-model\",\"input\":\"hi\",\"stream\":true}" },
		{ "{\"model\":\"client-model\",\"max_tokens\":100,\"messages\":"
		  "[{\"role\":\"user\",\"content\":\"hi\"}]}",
		  "{\"model\":\"client-model\",\"max_tokens\":100,\"messages\":"
		  "[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}" },
		{ "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":"
		  "\"hi\"}]}]}",
		  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":"
		  "\"hi\"}]}]}" },
	};
	const char *b = bodies[f][stream ? 1 : 0];
	struct px_err err;

	ck_assert_int_eq(px_decode_request(f, a, b, strlen(b), req, &err), 0);
	if (f == PX_FMT_GEMINI) {
		req->model = px_str_c("client-model");  /* from the URL */
		req->stream = stream;
	}
}

/* Convert a request fixture; "ERROR <status>: <msg>" on failure. */
static char *
conv_req(enum px_fmt from, enum px_fmt to, const char *body, size_t n,
         size_t *outn)
{
	struct px_arena a;
	struct ir_request req;
	struct px_err err;
	struct jw w;
	char *r;

	px_set_deterministic(NOW);
	px_arena_init(&a, 0);
	memset(&err, 0, sizeof err);
	jw_init(&w, &a, 1u << 24);
	if (px_decode_request(from, &a, body, n, &req, &err) != 0 ||
	    px_encode_request(to, &req, px_str_c("upstream-model"), &w,
	    &err) != 0) {
		r = malloc(300);
		*outn = (size_t)snprintf(r, 300, "ERROR %d: %s\n", err.status,
		    err.msg);
		px_arena_free(&a);
		return r;
	}
	r = malloc(w.len + 2);
	memcpy(r, w.buf, w.len);
	r[w.len] = '\n';
	r[w.len + 1] = 0;
	*outn = w.len + 1;
	px_arena_free(&a);
	return r;
}

static char *
conv_resp(enum px_fmt from, enum px_fmt to, const char *body, size_t n,
          size_t *outn)
{
	struct px_arena a;
	struct ir_request req;
	struct ir_response resp;
	struct px_err err;
	struct jw w;
	char *r;

	px_set_deterministic(NOW);
	px_arena_init(&a, 0);
	memset(&err, 0, sizeof err);
	jw_init(&w, &a, 1u << 24);
	client_req(&a, to, 0, &req);
	if (px_decode_response(from, &a, body, n, &resp, &err) != 0 ||
	    px_encode_response(to, &req, &resp, &w, &err) != 0) {
		r = malloc(300);
		*outn = (size_t)snprintf(r, 300, "ERROR %d: %s\n", err.status,
		    err.msg);
		px_arena_free(&a);
		return r;
	}
	r = malloc(w.len + 2);
	memcpy(r, w.buf, w.len);
	r[w.len] = '\n';
	r[w.len + 1] = 0;
	*outn = w.len + 1;
	px_arena_free(&a);
	return r;
}

/*
 * Run an upstream stream body through px_stream, fed in pieces: [0,split)
 * then the rest (split 0 = whole), or byte by byte when split == (size_t)-1.
 * Returns malloc'd client bytes; *clean = px_stream_end()'s answer.
 */
static char *
conv_stream_ex(enum px_fmt up, enum px_fmt cl, const char *body, size_t n,
               size_t split, int *clean, int array)
{
	struct px_arena a;
	struct ir_request req;
	struct px_stream *s;
	struct sse_parser p;
	struct sse_event ev;
	struct jw w;
	size_t off = 0, end, step;
	long used;
	int got;
	char *r;

	px_set_deterministic(NOW);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 1u << 26);
	client_req(&a, cl, 1, &req);
	req.gemini_array_stream = array;
	s = px_stream_new(&a, up, cl, &req);
	ck_assert_ptr_nonnull(s);
	px_stream_begin(s, &w);
	sse_init(&p);
	while (off < n) {
		if (split == (size_t)-1)
			step = 1;
		else if (split && off < split)
			step = split - off;
		else
			step = n - off;
		end = off + step;
		while (off < end) {
			used = sse_feed(&p, body + off, end - off, &ev, &got);
			ck_assert_int_ge(used, 0);
			off += (size_t)used;
			if (got)
				px_stream_feed(s, &ev, &w);
		}
	}
	*clean = px_stream_end(s, &w);
	sse_free(&p);
	ck_assert_int_eq(w.err, 0);
	r = malloc(w.len + 1);
	memcpy(r, w.buf, w.len);
	r[w.len] = 0;
	px_arena_free(&a);
	return r;
}

static char *
conv_stream(enum px_fmt up, enum px_fmt cl, const char *body, size_t n,
            size_t split, int *clean)
{
	return conv_stream_ex(up, cl, body, n, split, clean, 0);
}

/* ------------------------------------------------ output parsers */

struct evs {
	int n;
	char type[512][64];        /* event: line, "" when absent */
	struct json *data[512];
	struct px_arena a;
};

static void
parse_events(const char *out, struct evs *e)
{
	struct sse_parser p;
	struct sse_event ev;
	size_t off = 0, n = strlen(out);
	long used;
	int got;

	memset(e, 0, sizeof *e);
	px_arena_init(&e->a, 0);
	sse_init(&p);
	while (off < n) {
		used = sse_feed(&p, out + off, n - off, &ev, &got);
		ck_assert_int_gt(used, 0);
		off += (size_t)used;
		if (!got)
			continue;
		ck_assert_int_lt(e->n, 512);
		snprintf(e->type[e->n], 64, "%.*s", (int)ev.event_len,
		    ev.event ? ev.event : "");
		e->data[e->n] = json_parse(&e->a, px_arena_strndup(&e->a,
		    ev.data, ev.data_len), ev.data_len, 0, NULL);
		ck_assert_msg(e->data[e->n] != NULL, "event %d not JSON", e->n);
		e->n++;
	}
	sse_free(&p);
}

static int
jeq(const struct json *v, const char *lit)
{
	const char *s;
	size_t n;

	return json_str(v, &s, &n) && json_eq(s, n, lit);
}

static int
pxeq(struct px_str s, const char *lit)
{
	return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static long long
jint(const struct json *v)
{
	long long x = -1;

	json_int(v, &x);
	return x;
}

/* WIRE.md Part 2 §2 / §5: what Responses SDK helpers and clients need. */
static void
check_responses_stream(const char *out)
{
	struct evs e;
	char ids[64][64];
	int parts[64];
	int i, items = 0, done_items = 0, k;
	const char *s;
	size_t n;
	const struct json *d, *out_arr;

	parse_events(out, &e);
	ck_assert_int_gt(e.n, 1);
	ck_assert_ptr_null(strstr(out, "[DONE]"));
	ck_assert_str_eq(e.type[0], "response.created");
	memset(parts, 0, sizeof parts);
	for (i = 0; i < e.n; i++) {
		d = e.data[i];
		ck_assert_msg(jeq(json_get(d, "type"), e.type[i]),
		    "event %d: event line %s != data.type", i, e.type[i]);
		ck_assert_int_eq(jint(json_get(d, "sequence_number")), i);
		if (strcmp(e.type[i], "response.output_item.added") == 0) {
			ck_assert_int_eq(jint(json_get(d, "output_index")),
			    items);
			ck_assert(json_str(json_get(json_get(d, "item"), "id"),
			    &s, &n) && n > 0);
			snprintf(ids[items], 64, "%.*s", (int)n, s);
			if (jeq(json_get(json_get(d, "item"), "type"),
			    "function_call"))
				ck_assert(json_str(json_get(json_get(d, "item"),
				    "call_id"), &s, &n) && n > 0);
			items++;
		} else if (strcmp(e.type[i], "response.output_item.done") ==
		    0) {
			done_items++;
		} else if (strcmp(e.type[i], "response.content_part.added") ==
		    0) {
			k = (int)jint(json_get(d, "output_index"));
			ck_assert_int_eq(jint(json_get(d, "content_index")),
			    parts[k]);
			parts[k]++;
		}
		if (json_get(d, "item_id")) {
			k = (int)jint(json_get(d, "output_index"));
			ck_assert_int_lt(k, items);
			ck_assert_msg(jeq(json_get(d, "item_id"), ids[k]),
			    "event %d: item_id does not match item %d", i, k);
			if (strcmp(e.type[i], "response.output_text.delta") == 0)
				ck_assert_int_gt(parts[k], 0);
		}
		if (i < e.n - 1)
			ck_assert_msg(strcmp(e.type[i], "response.completed") &&
			    strcmp(e.type[i], "response.incomplete") &&
			    strcmp(e.type[i], "response.failed"),
			    "terminal event before the end");
	}
	i = e.n - 1;
	ck_assert_msg(strcmp(e.type[i], "response.completed") == 0 ||
	    strcmp(e.type[i], "response.incomplete") == 0 ||
	    strcmp(e.type[i], "response.failed") == 0,
	    "last event %s is not terminal", e.type[i]);
	out_arr = json_get(json_get(e.data[i], "response"), "output");
	ck_assert_ptr_nonnull(out_arr);
	ck_assert_int_eq((int)out_arr->len, done_items);
	ck_assert_int_eq(items, done_items);
	px_arena_free(&e.a);
}

/* WIRE.md Part 2 §4 / §5 D. */
static void
check_gemini_stream(const char *out)
{
	struct evs e;
	const struct json *c, *pt, *parts;
	int i;

	ck_assert_ptr_null(strstr(out, "[DONE]"));
	ck_assert_msg(strncmp(out, "event:", 6) != 0 &&
	    !strstr(out, "\nevent:"), "Gemini output has event: lines");
	parse_events(out, &e);
	ck_assert_int_gt(e.n, 0);
	for (i = 0; i < e.n; i++) {
		ck_assert_str_eq(e.type[i], "");
		if (json_get(e.data[i], "error")) {
			ck_assert_int_eq(i, e.n - 1);
			continue;
		}
		c = json_get(json_at(json_get(e.data[i], "candidates"), 0),
		    "content");
		ck_assert_msg(jeq(json_get(c, "role"), "model"),
		    "chunk %d without role model", i);
		parts = json_get(c, "parts");
		if (parts) {
			ck_assert_int_gt((int)parts->len, 0);
			for (pt = parts->child; pt; pt = pt->next)
				ck_assert_int_gt((int)pt->len, 0);
		}
	}
	ck_assert_msg(json_get(e.data[e.n - 1], "error") ||
	    json_get(json_at(json_get(e.data[e.n - 1], "candidates"), 0),
	    "finishReason"), "last Gemini chunk has no finishReason");
	ck_assert_str_eq(out + strlen(out) - 2, "\n\n");
	px_arena_free(&e.a);
}

/* ------------------------------------------------ fixture tables */

struct fx { enum px_fmt f; const char *name; };

static const struct fx req_fx[] = {
	{ PX_FMT_RESPONSES, "responses_request_reasoning" },
	{ PX_FMT_RESPONSES, "responses_request_tools_multiturn" },
	/* Codex 0.169 with its default tools, after a namespaced call */
	{ PX_FMT_RESPONSES, "codex_responses_request_namespace_call" },
	{ PX_FMT_GEMINI, "gemini_request_image_thinking_config" },
	{ PX_FMT_GEMINI, "gemini_request_include_thoughts" },
	{ PX_FMT_GEMINI, "gemini_request_json_schema" },
	{ PX_FMT_GEMINI, "gemini_request_multiturn_function_response" },
	{ PX_FMT_GEMINI, "gemini_request_openapi_schema_types" },
	{ PX_FMT_GEMINI, "gemini_request_parallel_function_responses" },
	{ PX_FMT_GEMINI, "gemini_request_parallel_tools" },
	{ PX_FMT_GEMINI, "gemini_request_system_instruction" },
	{ PX_FMT_GEMINI, "gemini_request_tool_config_any" },
	{ PX_FMT_GEMINI, "gemini_request_tools" },
	/* into Responses and Gemini only */
	{ PX_FMT_CHAT, "openai_chat_request_multiturn_tool_results_image" },
	{ PX_FMT_CHAT, "openai_chat_request_reasoning_json_schema" },
	{ PX_FMT_CHAT, "openai_chat_request_tools_parallel" },
	{ PX_FMT_ANTHROPIC, "anthropic_request_images" },
	{ PX_FMT_ANTHROPIC, "anthropic_request_multiturn_thinking_tool_results" },
	{ PX_FMT_ANTHROPIC, "anthropic_request_tools" },
	{ PX_FMT_ANTHROPIC, "anthropic_count_tokens_request" },
};
#define NREQ ((int)(sizeof req_fx / sizeof req_fx[0]))

static const struct fx resp_fx[] = {
	{ PX_FMT_RESPONSES, "responses_response_function_call" },
	{ PX_FMT_GEMINI, "gemini_response_function_call" },
	{ PX_FMT_GEMINI, "gemini_response_function_call_parallel" },
	{ PX_FMT_GEMINI, "gemini_response_malformed_function_call" },
	{ PX_FMT_GEMINI, "gemini_response_thought_max_tokens" },
	{ PX_FMT_CHAT, "openai_chat_response_text" },
	{ PX_FMT_CHAT, "openai_chat_response_tool_calls" },
	{ PX_FMT_ANTHROPIC, "anthropic_response_text" },
	{ PX_FMT_ANTHROPIC, "anthropic_response_thinking" },
	{ PX_FMT_ANTHROPIC, "anthropic_response_tool_use" },
};
#define NRESP ((int)(sizeof resp_fx / sizeof resp_fx[0]))

static const struct fx stream_fx[] = {
	{ PX_FMT_RESPONSES, "responses_stream_error" },
	{ PX_FMT_RESPONSES, "responses_stream_function_call" },
	{ PX_FMT_RESPONSES, "responses_stream_incomplete" },
	{ PX_FMT_RESPONSES, "responses_stream_reasoning_summary" },
	{ PX_FMT_RESPONSES, "responses_stream_text" },
	{ PX_FMT_GEMINI, "gemini_stream_function_call" },
	{ PX_FMT_GEMINI, "gemini_stream_function_call_parallel" },
	{ PX_FMT_GEMINI, "gemini_stream_max_tokens" },
	{ PX_FMT_GEMINI, "gemini_stream_prompt_blocked" },
	{ PX_FMT_GEMINI, "gemini_stream_text" },
	{ PX_FMT_GEMINI, "gemini_stream_text_after_tool" },
	{ PX_FMT_GEMINI, "gemini_stream_thinking" },
	/* into Responses and Gemini only */
	{ PX_FMT_CHAT, "openai_chat_stream_error_midstream" },
	{ PX_FMT_CHAT, "openai_chat_stream_length" },
	{ PX_FMT_CHAT, "openai_chat_stream_logprobs" },
	{ PX_FMT_CHAT, "openai_chat_stream_n3_json_schema" },
	{ PX_FMT_CHAT, "openai_chat_stream_reasoning_content" },
	{ PX_FMT_CHAT, "openai_chat_stream_reasoning_openrouter" },
	{ PX_FMT_CHAT, "openai_chat_stream_refusal" },
	{ PX_FMT_CHAT, "openai_chat_stream_text" },
	{ PX_FMT_CHAT, "openai_chat_stream_tool_single" },
	{ PX_FMT_CHAT, "openai_chat_stream_tools_parallel" },
	{ PX_FMT_ANTHROPIC, "anthropic_stream_error_overloaded" },
	{ PX_FMT_ANTHROPIC, "anthropic_stream_max_tokens_truncated_tool" },
	{ PX_FMT_ANTHROPIC, "anthropic_stream_stop_sequence_unicode" },
	{ PX_FMT_ANTHROPIC, "anthropic_stream_text" },
	{ PX_FMT_ANTHROPIC, "anthropic_stream_thinking" },
	{ PX_FMT_ANTHROPIC, "anthropic_stream_thinking_parallel_tool_use" },
	{ PX_FMT_ANTHROPIC, "anthropic_stream_tool_use" },
};
#define NSTREAM ((int)(sizeof stream_fx / sizeof stream_fx[0]))

/* targets for a source: ours go everywhere else, chat/anthropic only to
 * the two formats this suite owns */
static int
wanted(enum px_fmt from, enum px_fmt to)
{
	if (from == to)
		return 0;
	if (from == PX_FMT_RESPONSES || from == PX_FMT_GEMINI)
		return 1;
	return to == PX_FMT_RESPONSES || to == PX_FMT_GEMINI;
}

/* ------------------------------------------------ golden tests */

START_TEST(t_golden_requests)
{
	const struct fx *x = &req_fx[_i];
	char file[256], gname[256];
	size_t n, on;
	char *body, *out;
	int t;

	snprintf(file, sizeof file, "%s.json", x->name);
	body = load(file, &n);
	for (t = 0; t < PX_FMT_COUNT; t++) {
		if (!wanted(x->f, (enum px_fmt)t))
			continue;
		out = conv_req(x->f, (enum px_fmt)t, body, n, &on);
		snprintf(gname, sizeof gname, "req_%s_to_%s__%s.json",
		    fmt_tag[x->f], fmt_tag[t], x->name);
		golden(gname, out, on);
		free(out);
	}
	free(body);
}
END_TEST

START_TEST(t_golden_responses)
{
	const struct fx *x = &resp_fx[_i];
	char file[256], gname[256];
	size_t n, on;
	char *body, *out;
	int t;

	snprintf(file, sizeof file, "%s.json", x->name);
	body = load(file, &n);
	for (t = 0; t < PX_FMT_COUNT; t++) {
		if (!wanted(x->f, (enum px_fmt)t))
			continue;
		out = conv_resp(x->f, (enum px_fmt)t, body, n, &on);
		snprintf(gname, sizeof gname, "resp_%s_to_%s__%s.json",
		    fmt_tag[x->f], fmt_tag[t], x->name);
		golden(gname, out, on);
		free(out);
	}
	free(body);
}
END_TEST

START_TEST(t_golden_streams)
{
	const struct fx *x = &stream_fx[_i];
	char file[256], gname[256];
	size_t n, k;
	char *body, *whole, *out;
	int t, clean, c2;

	snprintf(file, sizeof file, "%s.sse", x->name);
	body = load(file, &n);
	for (t = 0; t < PX_FMT_COUNT; t++) {
		if (!wanted(x->f, (enum px_fmt)t))
			continue;
		whole = conv_stream(x->f, (enum px_fmt)t, body, n, 0, &clean);
		snprintf(gname, sizeof gname, "stream_%s_to_%s__%s.sse",
		    fmt_tag[x->f], fmt_tag[t], x->name);
		golden(gname, whole, strlen(whole));
		if (t == PX_FMT_RESPONSES)
			check_responses_stream(whole);
		if (t == PX_FMT_GEMINI)
			check_gemini_stream(whole);
		/* upstream TLS records cut events anywhere (STYLE.md §22) */
		for (k = 1; k < n; k++) {
			out = conv_stream(x->f, (enum px_fmt)t, body, n, k, &c2);
			ck_assert_msg(strcmp(out, whole) == 0,
			    "%s split at %zu differs", gname, k);
			ck_assert_int_eq(c2, clean);
			free(out);
		}
		out = conv_stream(x->f, (enum px_fmt)t, body, n, (size_t)-1,
		    &c2);
		ck_assert_str_eq(out, whole);
		free(out);
		free(whole);
	}
	free(body);
}
END_TEST

/* Cut-off upstream: the client gets its own format's error, never a clean
 * finish (WIRE.md §4.4, §6.38, §6.53). */
START_TEST(t_cutoff)
{
	const struct fx *x = &stream_fx[_i];
	char file[256];
	size_t n, cut;
	char *body, *out;
	int t, clean;
	struct evs e;

	snprintf(file, sizeof file, "%s.sse", x->name);
	body = load(file, &n);
	/* cut just after the first event */
	cut = (size_t)(strstr(body, "\n\n") - body) + 2;
	if (cut >= n)
		cut = n / 2;
	for (t = 0; t < PX_FMT_COUNT; t++) {
		if (!wanted(x->f, (enum px_fmt)t))
			continue;
		out = conv_stream(x->f, (enum px_fmt)t, body, cut, 0, &clean);
		if (strstr(x->name, "prompt_blocked") ||
		    strstr(x->name, "function_call_parallel") ||
		    (strstr(x->name, "gemini_stream_function_call") &&
		    x->f == PX_FMT_GEMINI) ||
		    strstr(x->name, "text_after_tool")) {
			/* one-event streams: the first event is the end */
			free(out);
			continue;
		}
		ck_assert_int_eq(clean, 0);
		if (t == PX_FMT_RESPONSES) {
			check_responses_stream(out);
			parse_events(out, &e);
			ck_assert_str_eq(e.type[e.n - 1], "response.failed");
			ck_assert_str_eq(e.type[e.n - 2], "error");
			px_arena_free(&e.a);
		} else if (t == PX_FMT_GEMINI) {
			check_gemini_stream(out);
			ck_assert_ptr_nonnull(strstr(out, "data: {\"error\":"));
		} else if (t == PX_FMT_ANTHROPIC) {
			ck_assert_ptr_nonnull(strstr(out, "event: error\n"));
		} else {
			ck_assert_ptr_nonnull(strstr(out, "{\"error\":"));
		}
		free(out);
	}
	free(body);
}
END_TEST

/* ------------------------------------------------ Gemini specifics */

static struct ir_response
dec_resp(struct px_arena *a, enum px_fmt f, const char *body)
{
	struct ir_response r;
	struct px_err err;

	ck_assert_int_eq(px_decode_response(f, a, body, strlen(body), &r,
	    &err), 0);
	return r;
}

START_TEST(t_gemini_finish_mapping)
{
	static const struct { const char *fr; enum ir_stop st; } m[] = {
		{ "STOP", IR_STOP_END }, { "MAX_TOKENS", IR_STOP_MAX_TOKENS },
		{ "SAFETY", IR_STOP_CONTENT_FILTER },
		{ "RECITATION", IR_STOP_CONTENT_FILTER },
		{ "BLOCKLIST", IR_STOP_CONTENT_FILTER },
		{ "PROHIBITED_CONTENT", IR_STOP_CONTENT_FILTER },
		{ "SPII", IR_STOP_CONTENT_FILTER },
		{ "IMAGE_SAFETY", IR_STOP_CONTENT_FILTER },
		{ "OTHER", IR_STOP_CONTENT_FILTER },
		{ "MALFORMED_FUNCTION_CALL", IR_STOP_MALFORMED },
		{ "UNEXPECTED_TOOL_CALL", IR_STOP_MALFORMED },
		{ "TOO_MANY_TOOL_CALLS", IR_STOP_MALFORMED },
		{ "SOMETHING_NEW", IR_STOP_END },
	};
	struct px_arena a;
	struct ir_response r;
	char body[256];
	size_t i;

	px_arena_init(&a, 0);
	for (i = 0; i < sizeof m / sizeof m[0]; i++) {
		snprintf(body, sizeof body, "{\"candidates\":[{\"content\":"
		    "{\"parts\":[{\"text\":\"x\"}],\"role\":\"model\"},"
		    "\"finishReason\":\"%s\"}]}", m[i].fr);
		r = dec_resp(&a, PX_FMT_GEMINI, body);
		ck_assert_int_eq(r.stop, m[i].st);
	}
	/* STOP with a function call is tool use (WIRE.md §6.32) */
	r = dec_resp(&a, PX_FMT_GEMINI, "{\"candidates\":[{\"content\":{"
	    "\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{}}}],"
	    "\"role\":\"model\"},\"finishReason\":\"STOP\"}]}");
	ck_assert_int_eq(r.stop, IR_STOP_TOOL_USE);
	ck_assert_int_eq((int)r.nparts, 1);
	ck_assert(r.parts[0].id.n > 0);
	/* prompt blocked: no candidates */
	r = dec_resp(&a, PX_FMT_GEMINI, "{\"promptFeedback\":{\"blockReason\":"
	    "\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":9,"
	    "\"totalTokenCount\":9}}");
	ck_assert_int_eq(r.stop, IR_STOP_CONTENT_FILTER);
	ck_assert_int_eq((int)r.nparts, 0);
	ck_assert_int_eq((int)r.usage.input, 9);
	ck_assert_int_eq((int)r.usage.output, 0);
	px_arena_free(&a);
}
END_TEST

START_TEST(t_gemini_blocked_and_malformed_to_clients)
{
	size_t n, on;
	char *body, *out;

	/* prompt blocked -> chat content_filter, anthropic refusal */
	body = load("gemini_stream_prompt_blocked.sse", &n);
	{
		int clean;
		out = conv_stream(PX_FMT_GEMINI, PX_FMT_CHAT, body, n, 0, &clean);
		ck_assert_int_eq(clean, 1);
		ck_assert_ptr_nonnull(strstr(out,
		    "\"finish_reason\":\"content_filter\""));
		free(out);
		out = conv_stream(PX_FMT_GEMINI, PX_FMT_ANTHROPIC, body, n, 0,
		    &clean);
		ck_assert_ptr_nonnull(strstr(out, "\"stop_reason\":\"refusal\""));
		free(out);
		out = conv_stream(PX_FMT_GEMINI, PX_FMT_RESPONSES, body, n, 0,
		    &clean);
		ck_assert_ptr_nonnull(strstr(out,
		    "\"incomplete_details\":{\"reason\":\"content_filter\"}"));
		free(out);
	}
	free(body);
	body = load("gemini_response_malformed_function_call.json", &n);
	out = conv_resp(PX_FMT_GEMINI, PX_FMT_RESPONSES, body, n, &on);
	ck_assert_ptr_nonnull(strstr(out, "\"status\":\"incomplete\""));
	free(out);
	out = conv_resp(PX_FMT_GEMINI, PX_FMT_ANTHROPIC, body, n, &on);
	ck_assert_ptr_nonnull(strstr(out, "\"stop_reason\":\"end_turn\""));
	free(out);
	free(body);
}
END_TEST

/* thoughtSignature travels byte for byte on the part that carried it,
 * Gemini -> IR -> Gemini (WIRE.md §2.6, §6.17). */
START_TEST(t_gemini_signature_roundtrip)
{
	static const char *const files[] = {
		"gemini_request_multiturn_function_response.json",
		"gemini_request_parallel_function_responses.json",
	};
	struct px_arena a;
	struct json *root, *c, *p;
	size_t n, on, i;
	char *body, *out;
	const char *sig;
	size_t sn;
	int found;

	for (i = 0; i < 2; i++) {
		body = load(files[i], &n);
		out = conv_req(PX_FMT_GEMINI, PX_FMT_GEMINI, body, n, &on);
		px_arena_init(&a, 0);
		root = json_parse(&a, body, n, 0, NULL);
		found = 0;
		for (c = json_get(root, "contents")->child; c; c = c->next)
			for (p = json_get(c, "parts")->child; p; p = p->next)
				if (json_str(json_get(p, "thoughtSignature"),
				    &sig, &sn)) {
					char *needle = malloc(sn + 64);
					snprintf(needle, sn + 64,
					    "\"thoughtSignature\":\"%.*s\"",
					    (int)sn, sig);
					ck_assert_ptr_nonnull(strstr(out, needle));
					free(needle);
					found++;
				}
		ck_assert_int_gt(found, 0);
		/* exactly as many signatures out as in */
		{
			int k = 0;
			const char *q = out;
			while ((q = strstr(q, "thoughtSignature")) != NULL) {
				k++;
				q++;
			}
			ck_assert_int_eq(k, found);
		}
		px_arena_free(&a);
		free(out);
		free(body);
	}
	/* response: only the first parallel call carries one */
	body = load("gemini_response_function_call_parallel.json", &n);
	out = conv_resp(PX_FMT_GEMINI, PX_FMT_GEMINI, body, n, &on);
	ck_assert_ptr_nonnull(strstr(out, "\"thoughtSignature\":\"CtQEAdHtim++"));
	ck_assert_ptr_null(strstr(strstr(out, "\"beep\""),
	    "thoughtSignature"));
	free(out);
	free(body);
	/* signatures never leak to other formats' requests */
	body = load("gemini_request_multiturn_function_response.json", &n);
	for (i = 0; i < PX_FMT_GEMINI; i++) {
		out = conv_req(PX_FMT_GEMINI, (enum px_fmt)i, body, n, &on);
		ck_assert_ptr_null(strstr(out, "CiQBVKhc7gVNlWrmzW9MEk"));
		free(out);
	}
	free(body);
}
END_TEST

START_TEST(t_gemini_stream_signature)
{
	size_t n;
	char *body, *out;
	int clean;

	/* Gemini -> IR -> Gemini stream keeps the signature on its part */
	body = load("gemini_stream_thinking.sse", &n);
	out = conv_stream(PX_FMT_GEMINI, PX_FMT_GEMINI, body, n, 0, &clean);
	ck_assert_int_eq(clean, 1);
	ck_assert_ptr_nonnull(strstr(out, "{\"text\":\".\",\"thoughtSignature\":"
	    "\"CiQBVKhc7mVR0ppWorGqvP5ZTbs1m3HX74l+NLAID7CdB3kyxhYKWQFUqFzu"
	    "syntheticfixturesignaturenotreplayable0000AAAA==\"}"));
	ck_assert_ptr_nonnull(strstr(out, "\"thought\":true"));
	check_gemini_stream(out);
	free(out);
	free(body);
	/* a signature-only part attaches to the open block, not as text */
	{
		static const char s[] =
		    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
		    "\"Hi\"}],\"role\":\"model\"}}]}\r\n\r\n"
		    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
		    "\"\",\"thoughtSignature\":\"U0lH\"}],\"role\":\"model\"},"
		    "\"finishReason\":\"STOP\"}]}\r\n\r\n";
		out = conv_stream(PX_FMT_GEMINI, PX_FMT_GEMINI, s, strlen(s), 0,
		    &clean);
		ck_assert_int_eq(clean, 1);
		ck_assert_ptr_nonnull(strstr(out, "\"thoughtSignature\":\"U0lH\""));
		check_gemini_stream(out);
		free(out);
		out = conv_stream(PX_FMT_GEMINI, PX_FMT_CHAT, s, strlen(s), 0,
		    &clean);
		ck_assert_ptr_null(strstr(out, "U0lH"));
		ck_assert_ptr_nonnull(strstr(out, "\"content\":\"Hi\""));
		free(out);
	}
}
END_TEST

START_TEST(t_gemini_usage_cumulative)
{
	size_t n;
	char *body, *out;
	int clean;

	/* last usageMetadata wins, never summed (WIRE.md §6.23):
	 * 20 prompt, 253 + 260 output, 260 reasoning */
	body = load("gemini_stream_text.sse", &n);
	out = conv_stream(PX_FMT_GEMINI, PX_FMT_CHAT, body, n, 0, &clean);
	ck_assert_ptr_nonnull(strstr(out, "\"prompt_tokens\":20,"
	    "\"completion_tokens\":513,\"total_tokens\":533"));
	ck_assert_ptr_nonnull(strstr(out, "\"reasoning_tokens\":260"));
	free(out);
	out = conv_stream(PX_FMT_GEMINI, PX_FMT_RESPONSES, body, n, 0, &clean);
	ck_assert_ptr_nonnull(strstr(out, "\"usage\":{\"input_tokens\":20,"
	    "\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":"
	    "513,\"output_tokens_details\":{\"reasoning_tokens\":260},"
	    "\"total_tokens\":533}"));
	free(out);
	free(body);
}
END_TEST

START_TEST(t_gemini_schema_cleaning)
{
	size_t n, on;
	char *body, *out;

	body = load("openai_chat_request_tools_parallel.json", &n);
	out = conv_req(PX_FMT_CHAT, PX_FMT_GEMINI, body, n, &on);
	ck_assert_ptr_null(strstr(out, "additionalProperties"));
	ck_assert_ptr_null(strstr(out, "\"strict\""));
	ck_assert_ptr_nonnull(strstr(out, "\"parametersJsonSchema\""));
	free(out);
	free(body);
	body = load("gemini_request_tool_config_any.json", &n);
	out = conv_req(PX_FMT_GEMINI, PX_FMT_GEMINI, body, n, &on);
	ck_assert_ptr_null(strstr(out, "$schema"));
	ck_assert_ptr_null(strstr(out, "additionalProperties"));
	/* property names are data, never dropped */
	ck_assert_ptr_nonnull(strstr(out, "\"firstString\""));
	free(out);
	free(body);
	/* OpenAPI upper-case types become JSON Schema for other targets */
	body = load("gemini_request_openapi_schema_types.json", &n);
	out = conv_req(PX_FMT_GEMINI, PX_FMT_CHAT, body, n, &on);
	ck_assert_ptr_nonnull(strstr(out, "\"type\":\"number\""));
	ck_assert_ptr_null(strstr(out, "NUMBER"));
	free(out);
	free(body);
}
END_TEST

START_TEST(t_gemini_request_rules)
{
	size_t on;
	char *out;
	const char *b;

	/* model-first conversation gets a "." user turn; model from the URL
	 * is not required in the body */
	b = "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":"
	    "\"Hello\"},{\"role\":\"user\",\"content\":\"hi\"},{\"role\":"
	    "\"user\",\"content\":\"again\"},{\"role\":\"assistant\","
	    "\"content\":\"\"}]}";
	out = conv_req(PX_FMT_CHAT, PX_FMT_GEMINI, b, strlen(b), &on);
	ck_assert_str_eq(out, "{\"contents\":[{\"role\":\"user\",\"parts\":"
	    "[{\"text\":\".\"}]},{\"role\":\"model\",\"parts\":[{\"text\":"
	    "\"Hello\"}]},{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"},"
	    "{\"text\":\"again\"}]}]}\n");
	free(out);
	/* remote image URL: Gemini cannot fetch it (WIRE.md §6.45) */
	b = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
	    "{\"type\":\"image_url\",\"image_url\":{\"url\":"
	    "\"https://example.com/a.png\"}}]}]}";
	out = conv_req(PX_FMT_CHAT, PX_FMT_GEMINI, b, strlen(b), &on);
	ck_assert_ptr_nonnull(strstr(out, "ERROR 400: Gemini cannot fetch "
	    "image URLs"));
	free(out);
	/* string tool output wrapped as an object; name backfilled */
	b = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"q\"},{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c1\","
	    "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
	    "\"\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":"
	    "\"sunny\"}],\"max_completion_tokens\":100,\"reasoning_effort\":"
	    "\"low\"}";
	out = conv_req(PX_FMT_CHAT, PX_FMT_GEMINI, b, strlen(b), &on);
	ck_assert_ptr_nonnull(strstr(out, "{\"functionCall\":{\"name\":\"f\","
	    "\"args\":{}}}"));
	ck_assert_ptr_nonnull(strstr(out, "{\"functionResponse\":{\"name\":"
	    "\"f\",\"response\":{\"result\":\"sunny\"}}}"));
	/* visible limit + thinking budget (WIRE.md §6.61) */
	ck_assert_ptr_nonnull(strstr(out, "\"maxOutputTokens\":1124"));
	ck_assert_ptr_nonnull(strstr(out, "\"thinkingBudget\":1024"));
	free(out);
	/* Gemini requests decode without "model" */
	b = "{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}";
	out = conv_req(PX_FMT_GEMINI, PX_FMT_CHAT, b, strlen(b), &on);
	ck_assert_ptr_null(strstr(out, "ERROR"));
	free(out);
}
END_TEST

START_TEST(t_gemini_call_ids)
{
	struct px_arena a;
	struct ir_request req;
	struct px_err err;
	size_t n;
	char *body;

	/* synthesised ids pair calls and responses by name and order */
	body = load("gemini_request_multiturn_function_response.json", &n);
	px_arena_init(&a, 0);
	ck_assert_int_eq(px_decode_request(PX_FMT_GEMINI, &a, body, n, &req,
	    &err), 0);
	ck_assert_int_eq((int)req.model.n, 0);
	ck_assert_int_eq((int)req.nmsgs, 5);
	ck_assert_int_eq(req.msgs[1].parts[0].type, IR_TOOL_CALL);
	ck_assert(pxeq(req.msgs[1].parts[0].id, "call_customDivide_0"));
	ck_assert(pxeq(req.msgs[2].parts[0].id, "call_customDivide_0"));
	ck_assert(pxeq(req.msgs[3].parts[0].id, "call_customDivide_1"));
	ck_assert(pxeq(req.msgs[4].parts[0].id, "call_customDivide_1"));
	ck_assert_int_eq(req.msgs[1].parts[0].sig_fmt, PX_FMT_GEMINI);
	px_arena_free(&a);
	free(body);
}
END_TEST

START_TEST(t_gemini_array_stream)
{
	struct px_arena a;
	struct json *root;
	size_t n;
	char *body, *out;
	int clean;

	body = load("gemini_stream_text.sse", &n);
	out = conv_stream_ex(PX_FMT_GEMINI, PX_FMT_GEMINI, body, n, 0, &clean,
	    1);
	ck_assert_int_eq(out[0], '[');
	ck_assert_int_eq(out[strlen(out) - 1], ']');
	px_arena_init(&a, 0);
	root = json_parse(&a, out, strlen(out), 0, NULL);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(root->type, JSON_ARRAY);
	/* six content chunks as they came, then the finish chunk */
	ck_assert_int_eq((int)root->len, 7);
	ck_assert_ptr_null(json_get(json_at(json_get(json_at(root, 5),
	    "candidates"), 0), "finishReason"));
	ck_assert_ptr_nonnull(json_get(json_at(json_get(json_at(root, 6),
	    "candidates"), 0), "finishReason"));
	px_arena_free(&a);
	free(out);
	free(body);
	/* an error inside an array stream closes the array */
	body = load("openai_chat_stream_error_midstream.sse", &n);
	out = conv_stream_ex(PX_FMT_CHAT, PX_FMT_GEMINI, body, n, 0, &clean, 1);
	px_arena_init(&a, 0);
	root = json_parse(&a, out, strlen(out), 0, NULL);
	ck_assert_ptr_nonnull(root);
	ck_assert_ptr_nonnull(json_get(json_at(root, root->len - 1), "error"));
	px_arena_free(&a);
	free(out);
	free(body);
}
END_TEST

/* ------------------------------------------------ errors */

static char *
conv_err(enum px_fmt from, enum px_fmt to, int status, const char *body,
         size_t n)
{
	struct px_arena a;
	struct ir_error e;
	struct jw w;
	char *r;
	int st;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 1u << 20);
	px_decode_error(from, &a, status, body, n, &e);
	st = px_error_status(to, &e);
	px_encode_error(to, &e, &w);
	r = malloc(w.len + 32);
	snprintf(r, w.len + 32, "HTTP %d\n%.*s\n", st, (int)w.len, w.buf);
	px_arena_free(&a);
	return r;
}

START_TEST(t_errors)
{
	static const struct { enum px_fmt f; const char *name; int st; } ef[] = {
		{ PX_FMT_GEMINI, "gemini_error_400_schema", 400 },
		{ PX_FMT_GEMINI, "gemini_error_404", 404 },
		{ PX_FMT_GEMINI, "gemini_error_429", 429 },
		{ PX_FMT_GEMINI, "gemini_error_503", 503 },
		{ PX_FMT_CHAT, "openai_error_429", 429 },
		{ PX_FMT_CHAT, "openai_error_401", 401 },
		{ PX_FMT_ANTHROPIC, "anthropic_error_529", 529 },
		{ PX_FMT_ANTHROPIC, "anthropic_error_429", 429 },
	};
	char file[256], gname[256];
	size_t i, n;
	char *body, *out;
	int t;

	for (i = 0; i < sizeof ef / sizeof ef[0]; i++) {
		snprintf(file, sizeof file, "%s.json", ef[i].name);
		body = load(file, &n);
		for (t = 0; t < PX_FMT_COUNT; t++) {
			if (!wanted(ef[i].f, (enum px_fmt)t))
				continue;
			out = conv_err(ef[i].f, (enum px_fmt)t, ef[i].st, body, n);
			snprintf(gname, sizeof gname, "err_%s_to_%s__%s.json",
			    fmt_tag[ef[i].f], fmt_tag[t], ef[i].name);
			golden(gname, out, strlen(out));
			free(out);
		}
		free(body);
	}
	/* 529 never reaches a Gemini client: js-genai does not retry it */
	out = conv_err(PX_FMT_ANTHROPIC, PX_FMT_GEMINI, 529,
	    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
	    "\"message\":\"Overloaded\"}}", 75);
	ck_assert_str_eq(out, "HTTP 503\n{\"error\":{\"code\":503,\"message\":"
	    "\"Overloaded\",\"status\":\"UNAVAILABLE\"}}\n");
	free(out);
}
END_TEST

START_TEST(t_gemini_midstream_error)
{
	static const char s[] =
	    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],"
	    "\"role\":\"model\"}}]}\r\n\r\n"
	    "data: {\"error\":{\"code\":503,\"message\":\"The model is "
	    "overloaded.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n";
	char *out;
	int clean;

	out = conv_stream(PX_FMT_GEMINI, PX_FMT_ANTHROPIC, s, strlen(s), 0,
	    &clean);
	ck_assert_int_eq(clean, 0);
	ck_assert_ptr_nonnull(strstr(out, "event: error\n"));
	ck_assert_ptr_nonnull(strstr(out, "The model is overloaded."));
	free(out);
	out = conv_stream(PX_FMT_GEMINI, PX_FMT_RESPONSES, s, strlen(s), 0,
	    &clean);
	check_responses_stream(out);
	ck_assert_ptr_nonnull(strstr(out, "event: response.failed\n"));
	free(out);
	out = conv_stream(PX_FMT_GEMINI, PX_FMT_GEMINI, s, strlen(s), 0,
	    &clean);
	ck_assert_ptr_nonnull(strstr(out, "data: {\"error\":{\"code\":503,"
	    "\"message\":\"The model is overloaded.\",\"status\":"
	    "\"UNAVAILABLE\"}}\n\n"));
	check_gemini_stream(out);
	free(out);
}
END_TEST

/* ------------------------------------------------ Responses specifics */

/* Interleaved parallel calls come out as consecutive blocks (§6.40). */
START_TEST(t_responses_interleaved_calls)
{
	static const char s[] =
	    "event: response.created\ndata: {\"type\":\"response.created\","
	    "\"response\":{\"id\":\"resp_1\",\"model\":\"m\",\"output\":[]},"
	    "\"sequence_number\":0}\n\n"
	    "event: response.output_item.added\ndata: {\"type\":"
	    "\"response.output_item.added\",\"output_index\":0,\"item\":{"
	    "\"id\":\"fc_a\",\"type\":\"function_call\",\"call_id\":\"call_a\","
	    "\"name\":\"fa\",\"arguments\":\"\"}}\n\n"
	    "event: response.output_item.added\ndata: {\"type\":"
	    "\"response.output_item.added\",\"output_index\":1,\"item\":{"
	    "\"id\":\"fc_b\",\"type\":\"function_call\",\"call_id\":\"call_b\","
	    "\"name\":\"fb\",\"arguments\":\"\"}}\n\n"
	    "data: {\"type\":\"response.function_call_arguments.delta\","
	    "\"item_id\":\"fc_b\",\"output_index\":1,\"delta\":\"{\\\"y\\\"\"}\n\n"
	    "data: {\"type\":\"response.function_call_arguments.delta\","
	    "\"item_id\":\"fc_a\",\"output_index\":0,\"delta\":\"{\\\"x\\\":1}\"}"
	    "\n\n"
	    "data: {\"type\":\"response.function_call_arguments.delta\","
	    "\"item_id\":\"fc_b\",\"output_index\":1,\"delta\":\":2}\"}\n\n"
	    "data: {\"type\":\"response.output_item.done\",\"output_index\":1,"
	    "\"item\":{\"id\":\"fc_b\",\"type\":\"function_call\"}}\n\n"
	    "data: {\"type\":\"response.output_item.done\",\"output_index\":0,"
	    "\"item\":{\"id\":\"fc_a\",\"type\":\"function_call\"}}\n\n"
	    "data: {\"type\":\"response.completed\",\"response\":{\"id\":"
	    "\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":5,"
	    "\"output_tokens\":7}}}\n\n";
	char *out;
	const char *a, *b;
	int clean;

	out = conv_stream(PX_FMT_RESPONSES, PX_FMT_ANTHROPIC, s, strlen(s), 0,
	    &clean);
	ck_assert_int_eq(clean, 1);
	a = strstr(out, "\"partial_json\":\"{\\\"x\\\":1}\"");
	b = strstr(out, "\"partial_json\":\"{\\\"y\\\":2}\"");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert(a < b);
	ck_assert_ptr_nonnull(strstr(out, "\"stop_reason\":\"tool_use\""));
	free(out);
	out = conv_stream(PX_FMT_RESPONSES, PX_FMT_GEMINI, s, strlen(s), 0,
	    &clean);
	ck_assert_ptr_nonnull(strstr(out, "{\"functionCall\":{\"id\":\"call_a\","
	    "\"name\":\"fa\",\"args\":{\"x\":1}}}"));
	ck_assert_ptr_nonnull(strstr(out, "{\"functionCall\":{\"id\":\"call_b\","
	    "\"name\":\"fb\",\"args\":{\"y\":2}}}"));
	check_gemini_stream(out);
	free(out);
}
END_TEST

/* Reasoning state (encrypted_content) is carried back to a Responses
 * client; items that arrive whole (no deltas) are not lost. */
START_TEST(t_responses_reasoning_and_backfill)
{
	static const char s[] =
	    "data: {\"type\":\"response.created\",\"response\":{\"id\":"
	    "\"resp_9\",\"model\":\"m\"}}\n\n"
	    "data: {\"type\":\"response.output_item.added\",\"output_index\":0,"
	    "\"item\":{\"id\":\"rs_9\",\"type\":\"reasoning\",\"summary\":[]}}"
	    "\n\n"
	    "data: {\"type\":\"response.output_item.done\",\"output_index\":0,"
	    "\"item\":{\"id\":\"rs_9\",\"type\":\"reasoning\",\"summary\":[],"
	    "\"encrypted_content\":\"ENC9\"}}\n\n"
	    "data: {\"type\":\"response.output_item.added\",\"output_index\":1,"
	    "\"item\":{\"id\":\"msg_9\",\"type\":\"message\",\"role\":"
	    "\"assistant\",\"content\":[]}}\n\n"
	    "data: {\"type\":\"response.output_item.done\",\"output_index\":1,"
	    "\"item\":{\"id\":\"msg_9\",\"type\":\"message\",\"role\":"
	    "\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":"
	    "\"whole\"}]}}\n\n"
	    "data: {\"type\":\"response.completed\",\"response\":{\"id\":"
	    "\"resp_9\",\"status\":\"completed\"}}\n\n";
	char *out;
	int clean;

	out = conv_stream(PX_FMT_RESPONSES, PX_FMT_RESPONSES, s, strlen(s), 0,
	    &clean);
	ck_assert_int_eq(clean, 1);
	check_responses_stream(out);
	ck_assert_ptr_nonnull(strstr(out, "\"encrypted_content\":\"ENC9\""));
	ck_assert_ptr_nonnull(strstr(out, "\"delta\":\"whole\""));
	ck_assert_ptr_nonnull(strstr(out, "event: response.completed\n"));
	free(out);
	/* never to another format's client */
	out = conv_stream(PX_FMT_RESPONSES, PX_FMT_GEMINI, s, strlen(s), 0,
	    &clean);
	ck_assert_ptr_null(strstr(out, "ENC9"));
	ck_assert_ptr_nonnull(strstr(out, "{\"text\":\"whole\"}"));
	check_gemini_stream(out);
	free(out);
}
END_TEST

START_TEST(t_responses_request_rules)
{
	size_t on;
	char *out;
	const char *b;

	/* n > 1 cannot be carried (WIRE.md §6.60) */
	b = "{\"model\":\"m\",\"n\":2,\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"}]}";
	out = conv_req(PX_FMT_CHAT, PX_FMT_RESPONSES, b, strlen(b), &on);
	ck_assert_ptr_nonnull(strstr(out, "ERROR 400"));
	free(out);
	/* foreign call ids never become item ids (§6.36); tool output and
	 * strict default */
	b = "{\"model\":\"m\",\"max_tokens\":10,\"tools\":[{\"name\":\"f\","
	    "\"input_schema\":{\"type\":\"object\"}}],\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":"
	    "[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\","
	    "\"input\":{\"a\":1}}]},{\"role\":\"user\",\"content\":[{\"type\":"
	    "\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"ok\","
	    "\"is_error\":true}]}]}";
	out = conv_req(PX_FMT_ANTHROPIC, PX_FMT_RESPONSES, b, strlen(b), &on);
	ck_assert_ptr_nonnull(strstr(out, "{\"type\":\"function_call\","
	    "\"call_id\":\"toolu_1\",\"name\":\"f\",\"arguments\":"
	    "\"{\\\"a\\\":1}\"}"));
	ck_assert_ptr_nonnull(strstr(out, "{\"type\":\"function_call_output\","
	    "\"call_id\":\"toolu_1\",\"output\":\"Error: ok\"}"));
	ck_assert_ptr_nonnull(strstr(out, "\"strict\":false"));
	free(out);
	/* hosted tools only to a Responses upstream */
	b = "{\"model\":\"m\",\"input\":\"q\",\"tools\":[{\"type\":"
	    "\"web_search\"}]}";
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_GEMINI, b, strlen(b), &on);
	ck_assert_str_eq(out, "{\"contents\":[{\"role\":\"user\",\"parts\":"
	    "[{\"text\":\"q\"}]}]}\n");
	free(out);
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_RESPONSES, b, strlen(b), &on);
	ck_assert_ptr_nonnull(strstr(out, "{\"type\":\"web_search\"}"));
	free(out);
	/* forced hosted tool: a 400 for the others, kept for Responses */
	b = "{\"model\":\"m\",\"input\":\"q\",\"tools\":[{\"type\":"
	    "\"web_search\"},{\"type\":\"function\",\"name\":\"f\"}],"
	    "\"tool_choice\":{\"type\":\"web_search\"}}";
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_ANTHROPIC, b, strlen(b), &on);
	ck_assert_str_eq(out, "ERROR 400: tool_choice forces the hosted tool "
	    "'web_search', which cannot run on the anthropic upstream\n");
	free(out);
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_RESPONSES, b, strlen(b), &on);
	ck_assert_ptr_nonnull(strstr(out, ",\"tool_choice\":{\"type\":"
	    "\"web_search\"}"));
	free(out);
	/* required with nothing but hosted tools left: a 400 too */
	b = "{\"model\":\"m\",\"input\":\"q\",\"tools\":[{\"type\":"
	    "\"web_search\"}],\"tool_choice\":\"required\"}";
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_CHAT, b, strlen(b), &on);
	ck_assert_str_eq(out, "ERROR 400: tool_choice 'required' with only "
	    "hosted tools, which cannot run on the chat upstream\n");
	free(out);
	/* reasoning item replay: rs_ id + encrypted_content survive */
	b = "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"q\"},"
	    "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":"
	    "\"summary_text\",\"text\":\"think\"}],\"encrypted_content\":"
	    "\"ENC\"},{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":"
	    "\"call_1\",\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":"
	    "\"function_call_output\",\"call_id\":\"call_1\",\"output\":"
	    "\"r\"}]}";
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_RESPONSES, b, strlen(b), &on);
	ck_assert_str_eq(out, "{\"model\":\"upstream-model\",\"input\":["
	    "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":"
	    "\"input_text\",\"text\":\"q\"}]},{\"type\":\"reasoning\",\"id\":"
	    "\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":"
	    "\"think\"}],\"encrypted_content\":\"ENC\"},{\"type\":"
	    "\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\","
	    "\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":"
	    "\"function_call_output\",\"call_id\":\"call_1\",\"output\":"
	    "\"r\"}]}\n");
	free(out);
	/* ...but never to another format */
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_ANTHROPIC, b, strlen(b), &on);
	ck_assert_ptr_null(strstr(out, "ENC"));
	free(out);
}
END_TEST

/* ------------------------------------------------ legacy completions */

/*
 * POST /v1/completions is a client-only format (PX_FMT_COMPLETIONS): its
 * requests are converted to each upstream format, upstream answers and
 * streams into text_completion objects. Goldens in tests/golden/completions/.
 */

#define CGOLD "completions/"

static const char *const cmpl_req_body[2] = {
	/* every supported field; refused fields at their harmless values */
	"{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"Write a haiku "
	"about the sea.\\n\",\"max_tokens\":64,\"temperature\":0.7,\"top_p\":"
	"0.9,\"n\":1,\"stop\":[\"\\n\\n\",\"END\"],\"presence_penalty\":0.5,"
	"\"frequency_penalty\":0.25,\"seed\":42,\"user\":\"user-1234\","
	"\"stream\":true,\"stream_options\":{\"include_usage\":true},"
	"\"echo\":false,\"best_of\":1,\"logprobs\":null,\"suffix\":null,"
	"\"logit_bias\":{\"50256\":-100}}",
	/* minimal: a one-string array prompt, one stop string */
	"{\"model\":\"m\",\"prompt\":[\"Once upon a time\"],\"stop\":\".\"}",
};
static const char *const cmpl_req_name[2] = { "all_fields", "minimal" };

static void
cmpl_golden(const char *name, const char *got, size_t n)
{
	char gname[300];

	mkdir("tests/golden/" CGOLD, 0755);
	mkdir("build", 0755);
	mkdir("build/golden-actual", 0755);
	mkdir("build/golden-actual/" CGOLD, 0755);
	snprintf(gname, sizeof gname, CGOLD "%s", name);
	golden(gname, got, n);
}

/* The client's request: model "client-model", streamed or not. */
static void
cmpl_client_req(struct px_arena *a, int stream, int include_usage,
                struct ir_request *req)
{
	char b[256];
	struct px_err err;

	snprintf(b, sizeof b, "{\"model\":\"client-model\",\"prompt\":\"hi\","
	    "\"stream\":%s,\"stream_options\":{\"include_usage\":%s}}",
	    stream ? "true" : "false", include_usage ? "true" : "false");
	ck_assert_int_eq(px_decode_request(PX_FMT_COMPLETIONS, a, b,
	    strlen(b), req, &err), 0);
}

/* Decode a completions request; "ERROR <status>: <msg>" or "OK". */
static char *
cmpl_decode(const char *body, struct ir_request *out_req)
{
	struct px_arena a;
	struct ir_request req;
	struct px_err err;
	char *r = malloc(300);

	px_arena_init(&a, 0);
	memset(&err, 0, sizeof err);
	if (px_decode_request(PX_FMT_COMPLETIONS, &a, body, strlen(body), &req,
	    &err) != 0)
		snprintf(r, 300, "ERROR %d: %s", err.status, err.msg);
	else
		snprintf(r, 300, "OK");
	if (out_req)
		*out_req = req;
	px_arena_free(&a);
	return r;
}

static char *
cmpl_resp(enum px_fmt from, const char *body, size_t n, size_t *outn)
{
	struct px_arena a;
	struct ir_request req;
	struct ir_response resp;
	struct px_err err;
	struct jw w;
	char *r;

	px_set_deterministic(NOW);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 1u << 24);
	cmpl_client_req(&a, 0, 0, &req);
	ck_assert_int_eq(px_decode_response(from, &a, body, n, &resp, &err), 0);
	ck_assert_int_eq(px_encode_response(PX_FMT_COMPLETIONS, &req, &resp, &w,
	    &err), 0);
	r = malloc(w.len + 2);
	memcpy(r, w.buf, w.len);
	r[w.len] = '\n';
	r[w.len + 1] = 0;
	*outn = w.len + 1;
	px_arena_free(&a);
	return r;
}

/* Feed an upstream stream in pieces as conv_stream_ex does, into a
 * completions client that asked for usage or not. */
static char *
cmpl_stream(enum px_fmt up, const char *body, size_t n, size_t split,
            int include_usage, int *clean)
{
	struct px_arena a;
	struct ir_request req;
	struct px_stream *s;
	struct sse_parser p;
	struct sse_event ev;
	struct jw w;
	size_t off = 0, end;
	long used;
	int got;
	char *r;

	px_set_deterministic(NOW);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 1u << 26);
	cmpl_client_req(&a, 1, include_usage, &req);
	s = px_stream_new(&a, up, PX_FMT_COMPLETIONS, &req);
	ck_assert_ptr_nonnull(s);
	px_stream_begin(s, &w);
	sse_init(&p);
	while (off < n) {
		if (split == (size_t)-1)
			end = off + 1;
		else if (split && off < split)
			end = split;
		else
			end = n;
		while (off < end) {
			used = sse_feed(&p, body + off, end - off, &ev, &got);
			ck_assert_int_ge(used, 0);
			off += (size_t)used;
			if (got)
				px_stream_feed(s, &ev, &w);
		}
	}
	*clean = px_stream_end(s, &w);
	sse_free(&p);
	ck_assert_int_eq(w.err, 0);
	r = malloc(w.len + 1);
	memcpy(r, w.buf, w.len);
	r[w.len] = 0;
	px_arena_free(&a);
	return r;
}

struct cmpl_acc {
	char text[8192];
	char finish[32];          /* "" when none */
	int usage;                /* a usage chunk came */
	int done, error;          /* ended with [DONE] / {"error":...} */
};

/* Everything the openai SDK and legacy clients rely on in a completions
 * stream; returns what it carried. */
static void
check_cmpl_stream(const char *out, int include_usage, struct cmpl_acc *acc)
{
	struct sse_parser p;
	struct sse_event ev;
	struct px_arena a;
	struct json *d, *ch;
	size_t off = 0, n = strlen(out), tl = 0, tsn;
	char id[64] = "";
	long used;
	int got, nev = 0;
	const char *s;
	size_t sn;

	memset(acc, 0, sizeof *acc);
	px_arena_init(&a, 0);
	sse_init(&p);
	while (off < n) {
		used = sse_feed(&p, out + off, n - off, &ev, &got);
		ck_assert_int_gt(used, 0);
		off += (size_t)used;
		if (!got)
			continue;
		nev++;
		ck_assert_msg(!acc->done && !acc->error, "event after the end");
		ck_assert_int_eq((int)ev.event_len, 0);
		if (json_eq(ev.data, ev.data_len, "[DONE]")) {
			ck_assert_msg(acc->finish[0], "[DONE] without a finish");
			acc->done = 1;
			continue;
		}
		d = json_parse(&a, px_arena_strndup(&a, ev.data, ev.data_len),
		    ev.data_len, 0, NULL);
		ck_assert_msg(d != NULL, "event %d not JSON", nev);
		if (json_get(d, "error")) {
			ck_assert(json_str(json_get(json_get(d, "error"),
			    "message"), &s, &sn) && sn > 0);
			ck_assert(json_str(json_get(json_get(d, "error"),
			    "type"), &s, &sn) && sn > 0);
			acc->error = 1;
			continue;
		}
		ck_assert(jeq(json_get(d, "object"), "text_completion"));
		ck_assert(jeq(json_get(d, "model"), "client-model"));
		ck_assert_int_eq(jint(json_get(d, "created")), NOW);
		ck_assert(json_str(json_get(d, "id"), &s, &sn));
		ck_assert(sn > 5 && sn < sizeof id && memcmp(s, "cmpl-", 5) == 0);
		if (!id[0])
			memcpy(id, s, sn);
		ck_assert_msg(strlen(id) == sn && memcmp(id, s, sn) == 0,
		    "id changed mid-stream");
		ch = json_get(d, "choices");
		ck_assert_ptr_nonnull(ch);
		ck_assert_int_eq(ch->type, JSON_ARRAY);
		if (ch->len == 0) {
			/* usage chunk: after the finish, only when asked */
			ck_assert(include_usage);
			ck_assert_msg(acc->finish[0], "usage before the finish");
			ck_assert_msg(!acc->usage, "two usage chunks");
			ck_assert_ptr_nonnull(json_get(json_get(d, "usage"),
			    "total_tokens"));
			acc->usage = 1;
			continue;
		}
		ck_assert_int_eq((int)ch->len, 1);
		ck_assert_msg(!acc->finish[0], "chunk after the finish chunk");
		ch = ch->child;
		ck_assert_int_eq(jint(json_get(ch, "index")), 0);
		ck_assert_int_eq(json_get(ch, "logprobs")->type, JSON_NULL);
		ck_assert(json_str(json_get(ch, "text"), &s, &sn));
		ck_assert(tl + sn < sizeof acc->text);
		memcpy(acc->text + tl, s, sn);
		tl += sn;
		tsn = sn;
		ck_assert_ptr_nonnull(json_get(ch, "finish_reason"));
		if (json_str(json_get(ch, "finish_reason"), &s, &sn)) {
			ck_assert_msg(json_eq(s, sn, "stop") ||
			    json_eq(s, sn, "length") ||
			    json_eq(s, sn, "content_filter"),
			    "finish_reason %.*s", (int)sn, s);
			snprintf(acc->finish, sizeof acc->finish, "%.*s",
			    (int)sn, s);
			/* the finish chunk carries no text */
			ck_assert_uint_eq(tsn, 0);
		} else {
			/* a text chunk: never empty, finish_reason null */
			ck_assert_int_eq(json_get(ch, "finish_reason")->type,
			    JSON_NULL);
			ck_assert_uint_gt(tsn, 0);
		}
	}
	sse_free(&p);
	acc->text[tl] = 0;
	ck_assert_msg(acc->done || acc->error, "stream has no end");
	if (acc->done && include_usage)
		ck_assert_msg(acc->usage, "no usage chunk");
	px_arena_free(&a);
}

/* Text and finish_reason the Chat encoder gives for the same upstream
 * stream: the completions stream must carry the same answer. */
static void
chat_text_of(enum px_fmt up, const char *body, size_t n, char *text,
             size_t cap, char *finish, size_t fcap, char *reasoning)
{
	struct px_arena a;
	struct sse_parser p;
	struct sse_event ev;
	struct json *d, *ch;
	char *out;
	size_t off = 0, on, tl = 0, rl = 0;
	long used;
	int got, clean;
	const char *s;
	size_t sn;

	out = conv_stream(up, PX_FMT_CHAT, body, n, 0, &clean);
	on = strlen(out);
	finish[0] = 0;
	px_arena_init(&a, 0);
	sse_init(&p);
	while (off < on) {
		used = sse_feed(&p, out + off, on - off, &ev, &got);
		ck_assert_int_gt(used, 0);
		off += (size_t)used;
		if (!got || json_eq(ev.data, ev.data_len, "[DONE]"))
			continue;
		d = json_parse(&a, px_arena_strndup(&a, ev.data, ev.data_len),
		    ev.data_len, 0, NULL);
		ck_assert_ptr_nonnull(d);
		ch = json_at(json_get(d, "choices"), 0);
		if (json_str(json_get(json_get(ch, "delta"), "content"), &s,
		    &sn)) {
			ck_assert(tl + sn < cap);
			memcpy(text + tl, s, sn);
			tl += sn;
		}
		if (reasoning && json_str(json_get(json_get(ch, "delta"),
		    "reasoning_content"), &s, &sn)) {
			ck_assert(rl + sn < cap);
			memcpy(reasoning + rl, s, sn);
			rl += sn;
		}
		if (json_str(json_get(ch, "finish_reason"), &s, &sn))
			snprintf(finish, fcap, "%.*s", (int)sn, s);
	}
	text[tl] = 0;
	if (reasoning)
		reasoning[rl] = 0;
	sse_free(&p);
	px_arena_free(&a);
	free(out);
}

START_TEST(t_cmpl_golden_requests)
{
	char gname[256];
	size_t on;
	char *out;
	int i, t;

	for (i = 0; i < 2; i++) {
		for (t = 0; t < PX_FMT_COUNT; t++) {
			out = conv_req(PX_FMT_COMPLETIONS, (enum px_fmt)t,
			    cmpl_req_body[i], strlen(cmpl_req_body[i]), &on);
			ck_assert_msg(strncmp(out, "ERROR", 5) != 0, "%s", out);
			snprintf(gname, sizeof gname, "req_completions_to_%s__%s"
			    ".json", fmt_tag[t], cmpl_req_name[i]);
			cmpl_golden(gname, out, on);
			free(out);
		}
	}
}
END_TEST

START_TEST(t_cmpl_decode)
{
	struct px_arena a;
	struct ir_request req;
	struct px_err err;
	const char *b = cmpl_req_body[0];

	px_arena_init(&a, 0);
	ck_assert_int_eq(px_decode_request(PX_FMT_COMPLETIONS, &a, b, strlen(b),
	    &req, &err), 0);
	ck_assert_int_eq(req.fmt, PX_FMT_COMPLETIONS);
	ck_assert(pxeq(req.model, "gpt-3.5-turbo-instruct"));
	ck_assert_int_eq((int)req.nsystem, 0);
	ck_assert_int_eq((int)req.nmsgs, 1);
	ck_assert_int_eq(req.msgs[0].role, IR_ROLE_USER);
	ck_assert_int_eq((int)req.msgs[0].nparts, 1);
	ck_assert_int_eq(req.msgs[0].parts[0].type, IR_TEXT);
	ck_assert(pxeq(req.msgs[0].parts[0].text, "Write a haiku about the "
	    "sea.\n"));
	ck_assert_int_eq((int)req.max_tokens, 64);
	ck_assert(pxeq(req.temperature.raw, "0.7"));
	ck_assert(pxeq(req.top_p.raw, "0.9"));
	ck_assert(pxeq(req.presence_penalty.raw, "0.5"));
	ck_assert(pxeq(req.frequency_penalty.raw, "0.25"));
	ck_assert(pxeq(req.seed.raw, "42"));
	ck_assert_int_eq((int)req.n, 1);
	ck_assert_int_eq((int)req.nstop, 2);
	ck_assert(pxeq(req.stop[0], "\n\n"));
	ck_assert(pxeq(req.stop[1], "END"));
	ck_assert(pxeq(req.user, "user-1234"));
	ck_assert_int_eq(req.stream, 1);
	ck_assert_int_eq(req.include_usage, 1);
	ck_assert_int_eq((int)req.ntools, 0);
	/* no legacy default of 16: an absent max_tokens stays unset */
	b = "{\"model\":\"m\",\"prompt\":\"x\"}";
	ck_assert_int_eq(px_decode_request(PX_FMT_COMPLETIONS, &a, b, strlen(b),
	    &req, &err), 0);
	ck_assert_int_eq((int)req.max_tokens, -1);
	ck_assert_int_eq((int)req.n, -1);
	ck_assert_int_eq(req.stream, 0);
	ck_assert_int_eq(req.include_usage, 0);
	/* client-only: never an upstream */
	{
		struct jw w;
		struct ir_response resp;
		jw_init(&w, &a, 4096);
		memset(&err, 0, sizeof err);
		ck_assert_int_eq(px_encode_request(PX_FMT_COMPLETIONS, &req,
		    px_str_c("m"), &w, &err), -1);
		ck_assert_int_eq(err.status, 400);
		ck_assert_str_eq(err.msg, "format 'completions' is client-only: "
		    "it cannot be sent to an upstream");
		ck_assert_int_eq(px_decode_response(PX_FMT_COMPLETIONS, &a,
		    "{}", 2, &resp, &err), -1);
		ck_assert_ptr_null(px_stream_new(&a, PX_FMT_COMPLETIONS,
		    PX_FMT_CHAT, &req));
		ck_assert_ptr_nonnull(px_stream_new(&a, PX_FMT_CHAT,
		    PX_FMT_COMPLETIONS, &req));
	}
	{
		char path[64];
		ck_assert_int_eq(px_upstream_path(PX_FMT_COMPLETIONS,
		    px_str_c("m"), 0, path, sizeof path), -1);
	}
	ck_assert_str_eq(px_fmt_name(PX_FMT_COMPLETIONS), "completions");
	{
		enum px_fmt f = PX_FMT_CHAT;
		ck_assert(px_fmt_parse("completions", 11, &f) &&
		    f == PX_FMT_COMPLETIONS);
	}
	px_arena_free(&a);
}
END_TEST

/* Each field that a chat answer cannot serve: a 400 naming it. */
START_TEST(t_cmpl_refused)
{
	static const struct { const char *body, *want; } c[] = {
		{ "{\"model\":\"m\",\"prompt\":\"x\",\"suffix\":\"end\"}",
		  "ERROR 400: 'suffix' is not supported on /v1/completions: "
		  "insertion (fill in the middle) cannot be served through a "
		  "chat upstream" },
		{ "{\"model\":\"m\",\"prompt\":\"x\",\"echo\":true}",
		  "ERROR 400: 'echo' is not supported on /v1/completions: the "
		  "prompt cannot be echoed through a chat upstream" },
		{ "{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":0}",
		  "ERROR 400: 'logprobs' is not supported on /v1/completions: "
		  "token log probabilities are not carried by the conversion" },
		{ "{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":5}",
		  "ERROR 400: 'logprobs' is not supported on /v1/completions: "
		  "token log probabilities are not carried by the conversion" },
		{ "{\"model\":\"m\",\"prompt\":\"x\",\"best_of\":3}",
		  "ERROR 400: 'best_of' > 1 is not supported on "
		  "/v1/completions: only one candidate is generated" },
		{ "{\"model\":\"m\",\"prompt\":\"x\",\"n\":2}",
		  "ERROR 400: 'n' > 1 is not supported on /v1/completions: the "
		  "converted answer carries one choice" },
		{ "{\"model\":\"m\",\"prompt\":[1,2,3]}",
		  "ERROR 400: a token-array 'prompt' is not supported on "
		  "/v1/completions: send the prompt as a string" },
		{ "{\"model\":\"m\",\"prompt\":[[1,2],[3]]}",
		  "ERROR 400: a token-array 'prompt' is not supported on "
		  "/v1/completions: send the prompt as a string" },
		{ "{\"model\":\"m\",\"prompt\":[]}",
		  "ERROR 400: a token-array 'prompt' is not supported on "
		  "/v1/completions: send the prompt as a string" },
		{ "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}",
		  "ERROR 400: more than one 'prompt' is not supported on "
		  "/v1/completions: send exactly one prompt string per request" },
		{ "{\"model\":\"m\"}", "ERROR 400: 'prompt' must be a string" },
		{ "{\"model\":\"m\",\"prompt\":null}",
		  "ERROR 400: 'prompt' must be a string" },
		{ "{\"model\":\"m\",\"prompt\":7}",
		  "ERROR 400: 'prompt' must be a string" },
		{ "{\"model\":\"m\",\"prompt\":[null]}",
		  "ERROR 400: more than one 'prompt' is not supported on "
		  "/v1/completions: send exactly one prompt string per request" },
		{ "[\"prompt\"]",
		  "ERROR 400: request body must be a JSON object" },
		{ "{\"model\":\"m\",\"prompt\":\"x\"",
		  "ERROR 400: invalid JSON at byte 25: unexpected end of input" },
		/* harmless values of the same fields are accepted */
		{ "{\"model\":\"m\",\"prompt\":\"x\",\"suffix\":\"\",\"echo\":"
		  "false,\"logprobs\":null,\"best_of\":1,\"n\":1}", "OK" },
		{ "{\"model\":\"m\",\"prompt\":\"\",\"suffix\":null,"
		  "\"best_of\":null,\"echo\":null}", "OK" },
	};
	size_t i;
	char *out;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		out = cmpl_decode(c[i].body, NULL);
		ck_assert_msg(strcmp(out, c[i].want) == 0, "%s\n-> %s\nwant %s",
		    c[i].body, out, c[i].want);
		free(out);
	}
}
END_TEST

START_TEST(t_cmpl_golden_responses)
{
	const struct fx *x = &resp_fx[_i];
	char file[256], gname[256];
	size_t n, on;
	char *body, *out;
	struct px_arena a;
	struct json *r;

	snprintf(file, sizeof file, "%s.json", x->name);
	body = load(file, &n);
	out = cmpl_resp(x->f, body, n, &on);
	snprintf(gname, sizeof gname, "resp_%s_to_completions__%s.json",
	    fmt_tag[x->f], x->name);
	cmpl_golden(gname, out, on);
	/* the shape the SDK's Completion type describes */
	px_arena_init(&a, 0);
	r = json_parse(&a, out, on, 0, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert(jeq(json_get(r, "object"), "text_completion"));
	ck_assert(jeq(json_get(r, "model"), "client-model"));
	ck_assert_int_eq((int)json_get(r, "choices")->len, 1);
	ck_assert_int_eq(json_get(json_at(json_get(r, "choices"), 0),
	    "logprobs")->type, JSON_NULL);
	ck_assert_int_eq(jint(json_get(json_get(r, "usage"), "total_tokens")),
	    jint(json_get(json_get(r, "usage"), "prompt_tokens")) +
	    jint(json_get(json_get(r, "usage"), "completion_tokens")));
	px_arena_free(&a);
	free(out);
	free(body);
}
END_TEST

START_TEST(t_cmpl_response_rules)
{
	size_t n, on;
	char *body, *out;

	/* thinking is not shown, only the answer */
	body = load("anthropic_response_thinking.json", &n);
	out = cmpl_resp(PX_FMT_ANTHROPIC, body, n, &on);
	ck_assert_ptr_null(strstr(out, "reasoning"));
	ck_assert_ptr_nonnull(strstr(out, "\"choices\":[{\"text\":\"27 * 453 = "
	    "12,231\",\"index\":0,\"logprobs\":null,\"finish_reason\":"
	    "\"stop\"}]"));
	free(out);
	free(body);
	/* a cmpl- id is kept; any other becomes a fresh cmpl- id */
	body = "{\"id\":\"cmpl-abc\",\"object\":\"chat.completion\",\"created\":"
	    "5,\"model\":\"u\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
	    "\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"length\"}]}";
	out = cmpl_resp(PX_FMT_CHAT, body, strlen(body), &on);
	ck_assert_str_eq(out, "{\"id\":\"cmpl-abc\",\"object\":"
	    "\"text_completion\",\"created\":5,\"model\":\"client-model\","
	    "\"choices\":[{\"text\":\"ok\",\"index\":0,\"logprobs\":null,"
	    "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":0,"
	    "\"completion_tokens\":0,\"total_tokens\":0}}\n");
	free(out);
	/* refusal -> content_filter; a tool call (never requested) is not
	 * text and does not make the finish "tool_calls" */
	body = "{\"id\":\"x\",\"created\":5,\"model\":\"u\",\"choices\":[{"
	    "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
	    "\"refusal\":\"no\"},\"finish_reason\":\"stop\"}]}";
	out = cmpl_resp(PX_FMT_CHAT, body, strlen(body), &on);
	ck_assert_ptr_nonnull(strstr(out, "{\"text\":\"no\",\"index\":0,"
	    "\"logprobs\":null,\"finish_reason\":\"content_filter\"}"));
	free(out);
	body = "{\"id\":\"x\",\"created\":5,\"model\":\"u\",\"choices\":[{"
	    "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":"
	    "{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":"
	    "\"tool_calls\"}]}";
	out = cmpl_resp(PX_FMT_CHAT, body, strlen(body), &on);
	ck_assert_ptr_nonnull(strstr(out, "{\"text\":\"\",\"index\":0,"
	    "\"logprobs\":null,\"finish_reason\":\"stop\"}"));
	free(out);
}
END_TEST

START_TEST(t_cmpl_golden_streams)
{
	const struct fx *x = &stream_fx[_i];
	char file[256], gname[256], ctext[8192], cfin[32];
	size_t n, k;
	char *body, *whole, *out;
	int clean, c2, iu;
	struct cmpl_acc acc;

	snprintf(file, sizeof file, "%s.sse", x->name);
	body = load(file, &n);
	for (iu = 1; iu >= 0; iu--) {
		whole = cmpl_stream(x->f, body, n, 0, iu, &clean);
		if (iu) {
			snprintf(gname, sizeof gname, "stream_%s_to_completions"
			    "__%s.sse", fmt_tag[x->f], x->name);
			cmpl_golden(gname, whole, strlen(whole));
		}
		check_cmpl_stream(whole, iu, &acc);
		ck_assert_int_eq(acc.done, clean);
		ck_assert_int_eq(acc.error, !clean);
		/* the same answer the Chat encoder carries */
		chat_text_of(x->f, body, n, ctext, sizeof ctext, cfin,
		    sizeof cfin, NULL);
		ck_assert_str_eq(acc.text, ctext);
		if (clean)
			ck_assert_str_eq(acc.finish, strcmp(cfin, "tool_calls")
			    == 0 ? "stop" : cfin);
		/* split at every offset, then byte by byte: same bytes */
		for (k = 1; k < n; k++) {
			out = cmpl_stream(x->f, body, n, k, iu, &c2);
			ck_assert_msg(strcmp(out, whole) == 0,
			    "%s split at %zu differs", x->name, k);
			ck_assert_int_eq(c2, clean);
			free(out);
		}
		out = cmpl_stream(x->f, body, n, (size_t)-1, iu, &c2);
		ck_assert_str_eq(out, whole);
		free(out);
		free(whole);
	}
	free(body);
}
END_TEST

/* Cut after the first event: an in-band OpenAI error, never [DONE]. */
START_TEST(t_cmpl_cutoff)
{
	const struct fx *x = &stream_fx[_i];
	char file[256];
	size_t n, cut;
	char *body, *out;
	const char *end;
	int clean;
	struct cmpl_acc acc;

	snprintf(file, sizeof file, "%s.sse", x->name);
	body = load(file, &n);
	/* just after the first event (Gemini frames end in \r\n\r\n) */
	if ((end = strstr(body, "\r\n\r\n")) != NULL)
		cut = (size_t)(end - body) + 4;
	else if ((end = strstr(body, "\n\n")) != NULL)
		cut = (size_t)(end - body) + 2;
	else
		cut = n / 2;
	out = cmpl_stream(x->f, body, cut, 0, 1, &clean);
	check_cmpl_stream(out, 1, &acc);
	if (clean) {
		/* one-event streams: the first event is the end */
		ck_assert_int_eq(acc.done, 1);
	} else {
		ck_assert_int_eq(acc.error, 1);
		ck_assert_ptr_null(strstr(out, "[DONE]"));
		ck_assert_ptr_nonnull(strstr(out, "data: {\"error\":{"
		    "\"message\":"));
	}
	free(out);
	free(body);
}
END_TEST

START_TEST(t_cmpl_stream_error)
{
	struct px_arena a;
	struct ir_request req;
	struct ir_error e;
	struct px_stream *s;
	struct jw w;
	size_t n;
	char *body, *out;
	int clean;

	/* an upstream error event mid-stream */
	body = load("openai_chat_stream_error_midstream.sse", &n);
	out = cmpl_stream(PX_FMT_CHAT, body, n, 0, 1, &clean);
	ck_assert_int_eq(clean, 0);
	ck_assert_str_eq(out,
	    "data: {\"id\":\"cmpl-000000000000000000000001\",\"object\":"
	    "\"text_completion\",\"created\":1700000000,\"model\":"
	    "\"client-model\",\"choices\":[{\"text\":\"Partial\",\"index\":0,"
	    "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
	    "data: {\"error\":{\"message\":\"The server had an error while "
	    "processing your request. Sorry about that!\",\"type\":"
	    "\"server_error\",\"param\":null,\"code\":null}}\n\n");
	free(out);
	free(body);
	/* a failure the proxy reports (timeout) before any text */
	px_set_deterministic(NOW);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 4096);
	cmpl_client_req(&a, 1, 0, &req);
	s = px_stream_new(&a, PX_FMT_ANTHROPIC, PX_FMT_COMPLETIONS, &req);
	ck_assert_ptr_nonnull(s);
	memset(&e, 0, sizeof e);
	e.status = 504;
	e.kind = IR_ERR_TIMEOUT;
	e.message = px_str_c("upstream timed out");
	px_stream_fail(s, &e, &w);
	ck_assert(px_stream_done(s));
	ck_assert_int_eq(px_stream_end(s, &w), 0);
	ck_assert_str_eq(px_arena_strndup(&a, w.buf, w.len),
	    "data: {\"error\":{\"message\":\"upstream timed out\",\"type\":"
	    "\"timeout_error\",\"param\":null,\"code\":null}}\n\n");
	/* the error body before a stream: OpenAI shape, 529 -> 503 */
	jw_reset(&w);
	e.status = 529;
	e.kind = IR_ERR_OVERLOADED;
	e.message = px_str_c("Overloaded");
	ck_assert_int_eq(px_error_status(PX_FMT_COMPLETIONS, &e), 503);
	px_encode_error(PX_FMT_COMPLETIONS, &e, &w);
	ck_assert_str_eq(px_arena_strndup(&a, w.buf, w.len),
	    "{\"error\":{\"message\":\"Overloaded\",\"type\":\"server_error\","
	    "\"param\":null,\"code\":null}}");
	px_arena_free(&a);
}
END_TEST

/* Thinking never reaches the client, in streams either. */
START_TEST(t_cmpl_stream_thinking_hidden)
{
	static const struct fx th[] = {
		{ PX_FMT_ANTHROPIC, "anthropic_stream_thinking" },
		{ PX_FMT_CHAT, "openai_chat_stream_reasoning_content" },
		{ PX_FMT_GEMINI, "gemini_stream_thinking" },
		{ PX_FMT_RESPONSES, "responses_stream_reasoning_summary" },
	};
	char file[256], ctext[8192], cfin[32], think[8192];
	size_t i, n;
	char *body, *out;
	int clean;
	struct cmpl_acc acc;

	for (i = 0; i < sizeof th / sizeof th[0]; i++) {
		snprintf(file, sizeof file, "%s.sse", th[i].name);
		body = load(file, &n);
		out = cmpl_stream(th[i].f, body, n, 0, 0, &clean);
		ck_assert_int_eq(clean, 1);
		check_cmpl_stream(out, 0, &acc);
		chat_text_of(th[i].f, body, n, ctext, sizeof ctext, cfin,
		    sizeof cfin, think);
		/* the Chat client sees the thinking; this one does not */
		ck_assert_msg(strlen(think) > 0, "%s has no thinking",
		    th[i].name);
		ck_assert_ptr_null(strstr(acc.text, think));
		ck_assert_ptr_null(strstr(out, "reasoning_content"));
		ck_assert_str_eq(acc.text, ctext);
		ck_assert_int_gt((int)strlen(acc.text), 0);
		free(out);
		free(body);
	}
}
END_TEST

/* ------------------------------------------------ tools across formats */

/*
 * A client request (format cf) answered by an upstream body (format uf,
 * an SSE stream when stream): the client's bytes, malloc'd.
 */
static char *
answer(enum px_fmt cf, const char *creq, enum px_fmt uf, const char *ub,
       int stream)
{
	struct px_arena a;
	struct ir_request req;
	struct ir_response resp;
	struct px_stream *s;
	struct sse_parser p;
	struct sse_event ev;
	struct px_err err;
	struct jw w;
	size_t off = 0, n = strlen(ub);
	long used;
	int got;
	char *r;

	px_set_deterministic(NOW);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 1u << 24);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(px_decode_request(cf, &a, creq, strlen(creq), &req,
	    &err), 0);
	if (cf == PX_FMT_GEMINI)
		req.model = px_str_c("client-model");
	if (!stream) {
		ck_assert_int_eq(px_decode_response(uf, &a, ub, n, &resp, &err),
		    0);
		ck_assert_int_eq(px_encode_response(cf, &req, &resp, &w, &err),
		    0);
	} else {
		s = px_stream_new(&a, uf, cf, &req);
		ck_assert_ptr_nonnull(s);
		px_stream_begin(s, &w);
		sse_init(&p);
		while (off < n) {
			used = sse_feed(&p, ub + off, n - off, &ev, &got);
			ck_assert_int_ge(used, 0);
			off += (size_t)used;
			if (got)
				px_stream_feed(s, &ev, &w);
		}
		ck_assert_int_eq(px_stream_end(s, &w), 1);
		sse_free(&p);
	}
	ck_assert_int_eq(w.err, 0);
	r = malloc(w.len + 1);
	memcpy(r, w.buf, w.len);
	r[w.len] = 0;
	px_arena_free(&a);
	return r;
}

#define CUST_REQ \
	"{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"pat" \
	"ch it\"},{\"type\":\"custom_tool_call\",\"id\":\"ctc_1\",\"call_" \
	"id\":\"call_p\",\"name\":\"apply_patch\",\"input\":\"*** Begin P" \
	"atch\\n*** End Patch\\n\"},{\"type\":\"custom_tool_call_output\"" \
	",\"call_id\":\"call_p\",\"output\":\"Done\"}],\"tools\":[{\"type" \
	"\":\"custom\",\"name\":\"apply_patch\",\"description\":\"Apply a" \
	" patch\",\"format\":{\"type\":\"grammar\",\"syntax\":\"lark\",\"" \
	"definition\":\"start: x\"}}]}"
#define ANT_CUST \
	"{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"" \
	"model\":\"c\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu" \
	"_9\",\"name\":\"apply_patch\",\"input\":{\"input\":\"*** Begin P" \
	"atch\\n*** End Patch\\n\"}}],\"stop_reason\":\"tool_use\",\"usag" \
	"e\":{\"input_tokens\":3,\"output_tokens\":4}}"
#define NS_REQ \
	"{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"namespa" \
	"ce\",\"name\":\"multi_agent_v1\",\"description\":\"Sub-agents\"," \
	"\"tools\":[{\"type\":\"function\",\"name\":\"wait_agent\",\"para" \
	"meters\":{\"type\":\"object\",\"properties\":{}}},{\"type\":\"fu" \
	"nction\",\"name\":\"close_agent\"}]},{\"type\":\"web_search\",\"" \
	"external_web_access\":false},{\"type\":\"function\",\"name\":\"e" \
	"xec_command\"}]}"
#define ID50 \
	"call_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHI"
#define ID70 \
	"toolu_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV" \
	"WXYZ012"
#define IDS_REQ \
	"{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"q\"" \
	"},{\"type\":\"function_call\",\"call_id\":\"" \
	ID50 \
	"\",\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":\"function_cal" \
	"l\",\"call_id\":\"call.x:1\",\"name\":\"f\",\"arguments\":\"{}\"" \
	"},{\"type\":\"function_call_output\",\"call_id\":\"" \
	ID50 \
	"\",\"output\":\"a\"},{\"type\":\"function_call_output\",\"call_i" \
	"d\":\"call.x:1\",\"output\":\"b\"}],\"tools\":[{\"type\":\"funct" \
	"ion\",\"name\":\"f\"}]}"
#define IDS_ANT \
	"{\"model\":\"m\",\"max_tokens\":9,\"messages\":[{\"role\":\"user" \
	"\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":[{\"ty" \
	"pe\":\"tool_use\",\"id\":\"" \
	ID70 \
	"\",\"name\":\"f\",\"input\":{}}]},{\"role\":\"user\",\"content\"" \
	":[{\"type\":\"tool_result\",\"tool_use_id\":\"" \
	ID70 \
	"\",\"content\":\"a\"}]}]}"
#define NAME70 \
	"mcp__filesystem_server__read_multiple_files_with_line_numbers_an" \
	"d_more"
#define GEM_NAMES \
	"{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}," \
	"{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"get" \
	".weather\",\"args\":{\"c\":\"x\"}}}]},{\"role\":\"user\",\"parts" \
	"\":[{\"functionResponse\":{\"name\":\"get.weather\",\"response\"" \
	":{\"t\":1}}}]}],\"tools\":[{\"functionDeclarations\":[{\"name\":" \
	"\"get.weather\",\"description\":\"w\"},{\"name\":\"ns:lookup\"}]" \
	"}],\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\"," \
	"\"allowedFunctionNames\":[\"get.weather\"]}}}"
#define CHAT_NAMES \
	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"" \
	"q\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":" \
	"\"" \
	NAME70 \
	"\"}},{\"type\":\"function\",\"function\":{\"name\":\"a.b\"}},{\"" \
	"type\":\"function\",\"function\":{\"name\":\"a_b\"}},{\"type\":" \
	"\"function\",\"function\":{\"name\":\"9lives\"}}],\"tool_choice" \
	"\":{\"type\":\"function\",\"function\":{\"name\":\"" \
	NAME70 \
	"\"}}}"
#define ANT_TU \
	"{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"" \
	"model\":\"c\",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu" \
	"_9\",\"name\":\"%s\",\"input\":{\"c\":\"x\"}}],\"stop_reason\":" \
	"\"tool_use\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}"
#define ANT_TU_SSE \
	"event: message_start\ndata: {\"type\":\"message_start\",\"messag" \
	"e\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant" \
	"\",\"model\":\"c\",\"content\":[],\"usage\":{\"input_tokens\":3," \
	"\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"t" \
	"ype\":\"content_block_start\",\"index\":0,\"content_block\":{\"t" \
	"ype\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"%s\",\"input\":" \
	"{}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_bl" \
	"ock_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\"" \
	",\"partial_json\":\"{\\\"c\\\":\\\"x\\\"}\"}}\n\nevent: content_" \
	"block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}" \
	"\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"de" \
	"lta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens" \
	"\":4}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}" \
	"\n\n"
#define RS_THINK \
	"{\"model\":\"m\",\"reasoning\":{\"effort\":\"high\"},\"input\":[" \
	"{\"role\":\"user\",\"content\":\"q\"},{\"type\":\"reasoning\",\"" \
	"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":" \
	"\"hm\"}],\"encrypted_content\":\"ENC\"},{\"type\":\"function_cal" \
	"l\",\"call_id\":\"call_1\",\"name\":\"f\",\"arguments\":\"{}\"}," \
	"{\"type\":\"function_call_output\",\"call_id\":\"call_1\",\"outp" \
	"ut\":\"r\"}],\"tools\":[{\"type\":\"function\",\"name\":\"f\"}]}"
#define ANT_THINK(sig) \
	"{\"model\":\"m\",\"max_tokens\":9000,\"thinking\":{\"type\":\"en" \
	"abled\",\"budget_tokens\":2048},\"messages\":[{\"role\":\"user\"" \
	",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":[{\"type" \
	"\":\"thinking\",\"thinking\":\"hm\",\"signature\":\"" \
	sig \
	"\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"i" \
	"nput\":{}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_re" \
	"sult\",\"tool_use_id\":\"toolu_1\",\"content\":\"r\"}]}],\"tools" \
	"\":[{\"name\":\"f\",\"input_schema\":{\"type\":\"object\"}}]}"
#define GEM_THINK \
	"{\"generationConfig\":{\"thinkingConfig\":{\"thinkingBudget\":20" \
	"48,\"includeThoughts\":true}},\"contents\":[{\"role\":\"user\"," \
	"\"parts\":[{\"text\":\"q\"}]},{\"role\":\"model\",\"parts\":[{\"" \
	"text\":\"hm\",\"thought\":true},{\"functionCall\":{\"name\":\"f" \
	"\",\"args\":{}},\"thoughtSignature\":\"GSIG\"}]},{\"role\":\"use" \
	"r\",\"parts\":[{\"functionResponse\":{\"name\":\"f\",\"response" \
	"\":{\"r\":1}}}]}],\"tools\":[{\"functionDeclarations\":[{\"name" \
	"\":\"f\"}]}]}"
#define ANT_TU_SSE2 \
	"event: message_start\ndata: {\"type\":\"message_start\",\"messag" \
	"e\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant" \
	"\",\"model\":\"c\",\"content\":[],\"usage\":{\"input_tokens\":3," \
	"\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"t" \
	"ype\":\"content_block_start\",\"index\":0,\"content_block\":{\"t" \
	"ype\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"%s\",\"input\":" \
	"{}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_bl" \
	"ock_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\"" \
	",\"partial_json\":\"{\\\"input\\\":\\\"*** Begin Patch\\\\n\\\"}" \
	"\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_blo" \
	"ck_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":" \
	"\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usa" \
	"ge\":{\"output_tokens\":4}}\n\nevent: message_stop\ndata: {\"typ" \
	"e\":\"message_stop\"}\n\n"

/* A namespaced call as Codex 0.169 routes it: {"name": member, "namespace":
 * ns}; a call named "ns__member" or "ns.member" is "unsupported" to it. */
#define NS_ITEM \
	"{\"id\":\"fc_000000000000000000000002\",\"type\":\"function_call\"," \
	"\"status\":\"completed\",\"arguments\":\"{\\\"targets\\\":[\\\"a\\\"]}\"," \
	"\"call_id\":\"toolu_9\",\"name\":\"wait_agent\",\"namespace\":" \
	"\"multi_agent_v1\"}"

START_TEST(t_codex_namespace_calls)
{
	char b[8192], dropped[64];
	struct px_arena a;
	struct ir_request req;
	struct px_err err;
	size_t n;
	char *fx, *out;

	fx = load("codex_responses_request_namespace_call.json", &n);
	fx = realloc(fx, n + 1);
	fx[n] = 0;
	/* the hosted web_search is what other formats leave out */
	px_arena_init(&a, 0);
	ck_assert_int_eq(px_decode_request(PX_FMT_RESPONSES, &a, fx, n, &req,
	    &err), 0);
	ck_assert_int_eq(px_dropped_tools(PX_FMT_ANTHROPIC, &req, dropped,
	    sizeof dropped), 1);
	ck_assert_str_eq(dropped, "web_search");
	ck_assert_int_eq(px_dropped_tools(PX_FMT_RESPONSES, &req, dropped,
	    sizeof dropped), 0);
	ck_assert_str_eq(dropped, "");
	px_arena_free(&a);
	/* non-streamed, from Anthropic and from Gemini */
	out = answer(PX_FMT_RESPONSES, fx, PX_FMT_ANTHROPIC,
	    "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
	    "\"model\":\"c\",\"content\":[{\"type\":\"tool_use\",\"id\":"
	    "\"toolu_9\",\"name\":\"multi_agent_v1__wait_agent\",\"input\":"
	    "{\"targets\":[\"a\"]}}],\"stop_reason\":\"tool_use\"}", 0);
	ck_assert_msg(strstr(out, "\"output\":[" NS_ITEM "]"), "%s", out);
	free(out);
	out = answer(PX_FMT_RESPONSES, fx, PX_FMT_GEMINI,
	    "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
	    "[{\"functionCall\":{\"id\":\"toolu_9\",\"name\":"
	    "\"multi_agent_v1__wait_agent\",\"args\":{\"targets\":[\"a\"]}}}]},"
	    "\"finishReason\":\"STOP\"}]}", 0);
	ck_assert_msg(strstr(out, "\"output\":[" NS_ITEM "]"), "%s", out);
	free(out);
	/* streamed: output_item.added and .done carry the namespace */
	snprintf(b, sizeof b, ANT_TU_SSE, "multi_agent_v1__wait_agent");
	out = answer(PX_FMT_RESPONSES, fx, PX_FMT_ANTHROPIC, b, 1);
	check_responses_stream(out);
	ck_assert_ptr_nonnull(strstr(out, "\"item\":{\"id\":"
	    "\"fc_000000000000000000000002\",\"type\":\"function_call\","
	    "\"status\":\"in_progress\",\"arguments\":\"\",\"call_id\":"
	    "\"toolu_9\",\"name\":\"wait_agent\",\"namespace\":"
	    "\"multi_agent_v1\"}"));
	ck_assert_ptr_nonnull(strstr(out, "\"item\":{\"id\":"
	    "\"fc_000000000000000000000002\",\"type\":\"function_call\","
	    "\"status\":\"completed\",\"arguments\":\"{\\\"c\\\":"
	    "\\\"x\\\"}\",\"call_id\":\"toolu_9\",\"name\":\"wait_agent\","
	    "\"namespace\":\"multi_agent_v1\"}"));
	free(out);
	/* a plain function of the same request keeps its plain shape */
	snprintf(b, sizeof b, ANT_TU, "exec_command");
	out = answer(PX_FMT_RESPONSES, fx, PX_FMT_ANTHROPIC, b, 0);
	ck_assert_ptr_nonnull(strstr(out, "\"call_id\":\"toolu_9\",\"name\":"
	    "\"exec_command\"}"));
	free(out);
	free(fx);
}
END_TEST

START_TEST(t_namespace_tools)
{
	size_t on;
	char *out;

	/* namespace members flattened, the hosted tool left out */
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_ANTHROPIC,
	    NS_REQ, strlen(NS_REQ), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages\":"
	    "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"h"
	    "i\"}]}],\"tools\":[{\"name\":\"multi_agent_v1__wait_agent\",\"in"
	    "put_schema\":{\"type\":\"object\",\"properties\":{}}},{\"name\":"
	    "\"multi_agent_v1__close_agent\",\"input_schema\":{\"type\":\"obj"
	    "ect\",\"properties\":{}}},{\"name\":\"exec_command\",\"input_sch"
	    "ema\":{\"type\":\"object\",\"properties\":{}}}]}\n");
	free(out);
	/* to Responses: regrouped, the hosted tool kept */
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_RESPONSES,
	    NS_REQ, strlen(NS_REQ), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\","
	    "\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\""
	    ":\"hi\"}]}],\"tools\":[{\"type\":\"namespace\",\"name\":\"multi_"
	    "agent_v1\",\"description\":\"Sub-agents\",\"tools\":[{\"type\":"
	    "\"function\",\"name\":\"wait_agent\",\"parameters\":{\"type\":\""
	    "object\",\"properties\":{}},\"strict\":false},{\"type\":\"functi"
	    "on\",\"name\":\"close_agent\",\"parameters\":{\"type\":\"object"
	    "\",\"properties\":{}},\"strict\":false}]},{\"type\":\"web_search"
	    "\",\"external_web_access\":false},{\"type\":\"function\",\"name"
	    "\":\"exec_command\",\"parameters\":{\"type\":\"object\",\"proper"
	    "ties\":{}},\"strict\":false}]}\n");
	free(out);
}
END_TEST

START_TEST(t_custom_tools)
{
	char b[8192];
	size_t on;
	char *out;

	/* freeform tool -> a function with one string "input"; the grammar goes
	 * into the description */
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_ANTHROPIC,
	    CUST_REQ, strlen(CUST_REQ), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages\":"
	    "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"p"
	    "atch it\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"to"
	    "ol_use\",\"id\":\"call_p\",\"name\":\"apply_patch\",\"input\":{"
	    "\"input\":\"*** Begin Patch\\n*** End Patch\\n\"}}]},{\"role\":"
	    "\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
	    "\"call_p\",\"content\":\"Done\"}]}],\"tools\":[{\"name\":\"apply"
	    "_patch\",\"description\":\"Apply a patch\\n\\nThe input must mat"
	    "ch this lark grammar:\\nstart: x\",\"input_schema\":{\"type\":\""
	    "object\",\"properties\":{\"input\":{\"type\":\"string\",\"descri"
	    "ption\":\"The raw input text\"}},\"required\":[\"input\"],\"addi"
	    "tionalProperties\":false}}]}\n");
	free(out);
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_CHAT,
	    CUST_REQ, strlen(CUST_REQ), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"patch it\"},{\"role\":\"assistant\",\"content\":nu"
	    "ll,\"tool_calls\":[{\"id\":\"call_p\",\"type\":\"function\",\"fu"
	    "nction\":{\"name\":\"apply_patch\",\"arguments\":\"{\\\"input\\"
	    "\":\\\"*** Begin Patch\\\\n*** End Patch\\\\n\\\"}\"}}]},{\"role"
	    "\":\"tool\",\"tool_call_id\":\"call_p\",\"content\":\"Done\"}],"
	    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"apply"
	    "_patch\",\"description\":\"Apply a patch\\n\\nThe input must mat"
	    "ch this lark grammar:\\nstart: x\",\"parameters\":{\"type\":\"ob"
	    "ject\",\"properties\":{\"input\":{\"type\":\"string\",\"descript"
	    "ion\":\"The raw input text\"}},\"required\":[\"input\"],\"additi"
	    "onalProperties\":false}}}]}\n");
	free(out);
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_GEMINI,
	    CUST_REQ, strlen(CUST_REQ), &on);
	ck_assert_str_eq(out,
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"patch i"
	    "t\"}]},{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name"
	    "\":\"apply_patch\",\"args\":{\"input\":\"*** Begin Patch\\n*** E"
	    "nd Patch\\n\"}}}]},{\"role\":\"user\",\"parts\":[{\"functionResp"
	    "onse\":{\"name\":\"apply_patch\",\"response\":{\"result\":\"Done"
	    "\"}}}]}],\"tools\":[{\"functionDeclarations\":[{\"name\":\"apply"
	    "_patch\",\"description\":\"Apply a patch\\n\\nThe input must mat"
	    "ch this lark grammar:\\nstart: x\",\"parametersJsonSchema\":{\"t"
	    "ype\":\"object\",\"properties\":{\"input\":{\"type\":\"string\","
	    "\"description\":\"The raw input text\"}},\"required\":[\"input\""
	    "]}}]}]}\n");
	free(out);
	/* to Responses it stays a custom tool, its calls custom_tool_call items */
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_RESPONSES,
	    CUST_REQ, strlen(CUST_REQ), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\","
	    "\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\""
	    ":\"patch it\"}]},{\"type\":\"custom_tool_call\",\"id\":\"ctc_1\""
	    ",\"call_id\":\"call_p\",\"name\":\"apply_patch\",\"input\":\"***"
	    " Begin Patch\\n*** End Patch\\n\"},{\"type\":\"custom_tool_call_"
	    "output\",\"call_id\":\"call_p\",\"output\":\"Done\"}],\"tools\":"
	    "[{\"type\":\"custom\",\"name\":\"apply_patch\",\"description\":"
	    "\"Apply a patch\",\"format\":{\"type\":\"grammar\",\"syntax\":\""
	    "lark\",\"definition\":\"start: x\"}}]}\n");
	free(out);
	/* a call back to the client: a custom_tool_call with the input text */
	out = answer(PX_FMT_RESPONSES, CUST_REQ, PX_FMT_ANTHROPIC, ANT_CUST, 0);
	ck_assert_str_eq(out,
	    "{\"id\":\"resp_000000000000000000000001\",\"object\":\"response"
	    "\",\"created_at\":1700000000,\"status\":\"completed\",\"error\":"
	    "null,\"incomplete_details\":null,\"max_output_tokens\":null,\"mo"
	    "del\":\"m\",\"output\":[{\"id\":\"ctc_000000000000000000000002\""
	    ",\"type\":\"custom_tool_call\",\"status\":\"completed\",\"call_i"
	    "d\":\"toolu_9\",\"name\":\"apply_patch\",\"input\":\"*** Begin P"
	    "atch\\n*** End Patch\\n\"}],\"parallel_tool_calls\":true,\"previ"
	    "ous_response_id\":null,\"usage\":{\"input_tokens\":3,\"input_tok"
	    "ens_details\":{\"cached_tokens\":0},\"output_tokens\":4,\"output"
	    "_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":7}}");
	free(out);
	/* streamed: the input is sent whole when the call ends */
	snprintf(b, sizeof b, ANT_TU_SSE2, "apply_patch");
	out = answer(PX_FMT_RESPONSES, CUST_REQ, PX_FMT_ANTHROPIC, b, 1);
	ck_assert_str_eq(out,
	    "event: response.created\ndata: {\"type\":\"response.created\",\""
	    "response\":{\"id\":\"resp_000000000000000000000001\",\"object\":"
	    "\"response\",\"created_at\":1700000000,\"status\":\"in_progress"
	    "\",\"error\":null,\"incomplete_details\":null,\"max_output_token"
	    "s\":null,\"model\":\"m\",\"output\":[],\"parallel_tool_calls\":t"
	    "rue,\"previous_response_id\":null,\"usage\":null},\"sequence_num"
	    "ber\":0}\n\nevent: response.in_progress\ndata: {\"type\":\"respo"
	    "nse.in_progress\",\"response\":{\"id\":\"resp_000000000000000000"
	    "000001\",\"object\":\"response\",\"created_at\":1700000000,\"sta"
	    "tus\":\"in_progress\",\"error\":null,\"incomplete_details\":null"
	    ",\"max_output_tokens\":null,\"model\":\"m\",\"output\":[],\"para"
	    "llel_tool_calls\":true,\"previous_response_id\":null,\"usage\":n"
	    "ull},\"sequence_number\":1}\n\nevent: response.output_item.added"
	    "\ndata: {\"type\":\"response.output_item.added\",\"output_index"
	    "\":0,\"item\":{\"id\":\"ctc_000000000000000000000002\",\"type\":"
	    "\"custom_tool_call\",\"status\":\"in_progress\",\"call_id\":\"to"
	    "olu_9\",\"name\":\"apply_patch\",\"input\":\"\"},\"sequence_numb"
	    "er\":2}\n\nevent: response.custom_tool_call_input.delta\ndata: {"
	    "\"type\":\"response.custom_tool_call_input.delta\",\"item_id\":"
	    "\"ctc_000000000000000000000002\",\"output_index\":0,\"delta\":\""
	    "*** Begin Patch\\n\",\"sequence_number\":3}\n\nevent: response.c"
	    "ustom_tool_call_input.done\ndata: {\"type\":\"response.custom_to"
	    "ol_call_input.done\",\"item_id\":\"ctc_000000000000000000000002"
	    "\",\"output_index\":0,\"input\":\"*** Begin Patch\\n\",\"sequenc"
	    "e_number\":4}\n\nevent: response.output_item.done\ndata: {\"type"
	    "\":\"response.output_item.done\",\"output_index\":0,\"item\":{\""
	    "id\":\"ctc_000000000000000000000002\",\"type\":\"custom_tool_cal"
	    "l\",\"status\":\"completed\",\"call_id\":\"toolu_9\",\"name\":\""
	    "apply_patch\",\"input\":\"*** Begin Patch\\n\"},\"sequence_numbe"
	    "r\":5}\n\nevent: response.completed\ndata: {\"type\":\"response."
	    "completed\",\"response\":{\"id\":\"resp_000000000000000000000001"
	    "\",\"object\":\"response\",\"created_at\":1700000000,\"status\":"
	    "\"completed\",\"error\":null,\"incomplete_details\":null,\"max_o"
	    "utput_tokens\":null,\"model\":\"m\",\"output\":[{\"id\":\"ctc_00"
	    "0000000000000000000002\",\"type\":\"custom_tool_call\",\"status"
	    "\":\"completed\",\"call_id\":\"toolu_9\",\"name\":\"apply_patch"
	    "\",\"input\":\"*** Begin Patch\\n\"}],\"parallel_tool_calls\":tr"
	    "ue,\"previous_response_id\":null,\"usage\":{\"input_tokens\":3,"
	    "\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\""
	    ":4,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_to"
	    "kens\":7}},\"sequence_number\":6}\n\n");
	check_responses_stream(out);
	free(out);
}
END_TEST

/* The hash digits in these expectations are FNV-1a 64 of the whole
 * original id or name, computed outside the code under test. */
START_TEST(t_call_ids)
{
	size_t on;
	char *out;

	/* Chat: at most 40 characters, prefix + hash */
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_CHAT,
	    IDS_REQ, strlen(IDS_REQ), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"q\"},{\"role\":\"assistant\",\"content\":null,\"to"
	    "ol_calls\":[{\"id\":\"call_0123456789abcdefgh_8deda99c44888d73\""
	    ",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments"
	    "\":\"{}\"}},{\"id\":\"call.x:1\",\"type\":\"function\",\"functio"
	    "n\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\","
	    "\"tool_call_id\":\"call_0123456789abcdefgh_8deda99c44888d73\",\""
	    "content\":\"a\"},{\"role\":\"tool\",\"tool_call_id\":\"call.x:1"
	    "\",\"content\":\"b\"}],\"tools\":[{\"type\":\"function\",\"funct"
	    "ion\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"prop"
	    "erties\":{}}}}]}\n");
	free(out);
	/* Anthropic: ^[a-zA-Z0-9_-]+$, prefix + hash */
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_ANTHROPIC,
	    IDS_REQ, strlen(IDS_REQ), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages\":"
	    "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q"
	    "\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use"
	    "\",\"id\":\"call_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHI\""
	    ",\"name\":\"f\",\"input\":{}},{\"type\":\"tool_use\",\"id\":\"ca"
	    "ll_x_1_e5809182d043d04c\",\"name\":\"f\",\"input\":{}}]},{\"role"
	    "\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id"
	    "\":\"call_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHI\",\"cont"
	    "ent\":\"a\"},{\"type\":\"tool_result\",\"tool_use_id\":\"call_x_"
	    "1_e5809182d043d04c\",\"content\":\"b\"}]}],\"tools\":[{\"name\":"
	    "\"f\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}}]"
	    "}\n");
	free(out);
	/* Responses takes both as they are */
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_RESPONSES,
	    IDS_REQ, strlen(IDS_REQ), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\","
	    "\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\""
	    ":\"q\"}]},{\"type\":\"function_call\",\"call_id\":\"call_0123456"
	    "789abcdefghijklmnopqrstuvwxyzABCDEFGHI\",\"name\":\"f\",\"argume"
	    "nts\":\"{}\"},{\"type\":\"function_call\",\"call_id\":\"call.x:1"
	    "\",\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":\"function_cal"
	    "l_output\",\"call_id\":\"call_0123456789abcdefghijklmnopqrstuvwx"
	    "yzABCDEFGHI\",\"output\":\"a\"},{\"type\":\"function_call_output"
	    "\",\"call_id\":\"call.x:1\",\"output\":\"b\"}],\"tools\":[{\"typ"
	    "e\":\"function\",\"name\":\"f\",\"parameters\":{\"type\":\"objec"
	    "t\",\"properties\":{}},\"strict\":false}]}\n");
	free(out);
	/* Responses: call_id at most 64 */
	out = conv_req(PX_FMT_ANTHROPIC, PX_FMT_RESPONSES,
	    IDS_ANT, strlen(IDS_ANT), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\","
	    "\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\""
	    ":\"q\"}]},{\"type\":\"function_call\",\"call_id\":\"toolu_012345"
	    "6789abcdefghijklmnopqrstuvwxyzABCDE_d90df66da0fecb89\",\"name\":"
	    "\"f\",\"arguments\":\"{}\"},{\"type\":\"function_call_output\","
	    "\"call_id\":\"toolu_0123456789abcdefghijklmnopqrstuvwxyzABCDE_d9"
	    "0df66da0fecb89\",\"output\":\"a\"}],\"max_output_tokens\":9}\n");
	free(out);
	out = conv_req(PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	    IDS_ANT, strlen(IDS_ANT), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"q\"},{\"role\":\"assistant\",\"content\":null,\"to"
	    "ol_calls\":[{\"id\":\"toolu_0123456789abcdefg_d90df66da0fecb89\""
	    ",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments"
	    "\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"toolu_012345"
	    "6789abcdefg_d90df66da0fecb89\",\"content\":\"a\"}],\"max_complet"
	    "ion_tokens\":9}\n");
	free(out);
}
END_TEST

START_TEST(t_tool_names)
{
	char b[8192];
	size_t on;
	char *out;

	/* Gemini names with . and : for Anthropic (tools, calls, tool_choice) */
	out = conv_req(PX_FMT_GEMINI, PX_FMT_ANTHROPIC,
	    GEM_NAMES, strlen(GEM_NAMES), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages\":"
	    "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q"
	    "\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use"
	    "\",\"id\":\"call_get_weather_0_2dab087e82f97f2d\",\"name\":\"get"
	    "_weather\",\"input\":{\"c\":\"x\"}}]},{\"role\":\"user\",\"conte"
	    "nt\":[{\"type\":\"tool_result\",\"tool_use_id\":\"call_get_weath"
	    "er_0_2dab087e82f97f2d\",\"content\":\"{\\\"t\\\":1}\"}]}],\"tool"
	    "s\":[{\"name\":\"get_weather\",\"description\":\"w\",\"input_sch"
	    "ema\":{\"type\":\"object\",\"properties\":{}}},{\"name\":\"ns_lo"
	    "okup\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}}"
	    "],\"tool_choice\":{\"type\":\"tool\",\"name\":\"get_weather\"}}"
	    "\n");
	free(out);
	/* too long -> cut + hash; a fix that meets another tool's name gets a
	 * hash too */
	out = conv_req(PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	    CHAT_NAMES, strlen(CHAT_NAMES), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages\":"
	    "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q"
	    "\"}]}],\"tools\":[{\"name\":\"mcp__filesystem_server__read_multi"
	    "ple_files_with_line_n_0d1e2f2a\",\"input_schema\":{\"type\":\"ob"
	    "ject\",\"properties\":{}}},{\"name\":\"a_b_0d0b5fae\",\"input_sc"
	    "hema\":{\"type\":\"object\",\"properties\":{}}},{\"name\":\"a_b"
	    "\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}},{\""
	    "name\":\"9lives\",\"input_schema\":{\"type\":\"object\",\"proper"
	    "ties\":{}}}],\"tool_choice\":{\"type\":\"tool\",\"name\":\"mcp__"
	    "filesystem_server__read_multiple_files_with_line_n_0d1e2f2a\"}}"
	    "\n");
	free(out);
	/* Gemini: a name must not start with a digit */
	out = conv_req(PX_FMT_CHAT, PX_FMT_GEMINI,
	    CHAT_NAMES, strlen(CHAT_NAMES), &on);
	ck_assert_str_eq(out,
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]}]"
	    ",\"tools\":[{\"functionDeclarations\":[{\"name\":\"mcp__filesyst"
	    "em_server__read_multiple_files_with_line_n_0d1e2f2a\",\"paramete"
	    "rsJsonSchema\":{\"type\":\"object\",\"properties\":{}}},{\"name"
	    "\":\"a.b\",\"parametersJsonSchema\":{\"type\":\"object\",\"prope"
	    "rties\":{}}},{\"name\":\"a_b\",\"parametersJsonSchema\":{\"type"
	    "\":\"object\",\"properties\":{}}},{\"name\":\"_9lives\",\"parame"
	    "tersJsonSchema\":{\"type\":\"object\",\"properties\":{}}}]}],\"t"
	    "oolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\",\"allow"
	    "edFunctionNames\":[\"mcp__filesystem_server__read_multiple_files"
	    "_with_line_n_0d1e2f2a\"]}}}\n");
	free(out);
	/* the client gets its own names back */
	snprintf(b, sizeof b, ANT_TU, "get_weather");
	out = answer(PX_FMT_GEMINI, GEM_NAMES, PX_FMT_ANTHROPIC, b, 0);
	ck_assert_str_eq(out,
	    "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"i"
	    "d\":\"toolu_9\",\"name\":\"get.weather\",\"args\":{\"c\":\"x\"}}"
	    "}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],"
	    "\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount"
	    "\":4,\"totalTokenCount\":7},\"modelVersion\":\"client-model\",\""
	    "responseId\":\"msg_1\"}");
	free(out);
	snprintf(b, sizeof b, ANT_TU_SSE, "get_weather");
	out = answer(PX_FMT_GEMINI, GEM_NAMES, PX_FMT_ANTHROPIC, b, 1);
	ck_assert_str_eq(out,
	    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall"
	    "\":{\"id\":\"toolu_9\",\"name\":\"get.weather\",\"args\":{\"c\":"
	    "\"x\"}}}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"c"
	    "lient-model\",\"responseId\":\"msg_1\"}\n\n"
	    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],"
	    "\"role\":\"model\"},\"finishReason\":\"STOP\",\"index"
	    "\":0}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTok"
	    "enCount\":4,\"totalTokenCount\":7},\"modelVersion\":\"client-mod"
	    "el\",\"responseId\":\"msg_1\"}\n\n");
	free(out);
	snprintf(b, sizeof b, ANT_TU,
	    "mcp__filesystem_server__read_multiple_files_with_line_n_0d1e2f2a");
	out = answer(PX_FMT_CHAT, CHAT_NAMES, PX_FMT_ANTHROPIC, b, 0);
	ck_assert_str_eq(out,
	    "{\"id\":\"chatcmpl-000000000000000000000001\",\"object\":\"chat."
	    "completion\",\"created\":1700000000,\"model\":\"m\",\"choices\":"
	    "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":nu"
	    "ll,\"tool_calls\":[{\"id\":\"toolu_9\",\"type\":\"function\",\"f"
	    "unction\":{\"name\":\"mcp__filesystem_server__read_multiple_file"
	    "s_with_line_numbers_and_more\",\"arguments\":\"{\\\"c\\\":\\\"x"
	    "\\\"}\"}}],\"refusal\":null},\"logprobs\":null,\"finish_reason\""
	    ":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":3,\"completion_to"
	    "kens\":4,\"total_tokens\":7}}");
	free(out);
	snprintf(b, sizeof b, ANT_TU_SSE,
	    "mcp__filesystem_server__read_multiple_files_with_line_n_0d1e2f2a");
	out = answer(PX_FMT_CHAT, CHAT_NAMES, PX_FMT_ANTHROPIC, b, 1);
	ck_assert_str_eq(out,
	    "data: {\"id\":\"chatcmpl-000000000000000000000001\",\"object\":"
	    "\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\""
	    ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"c"
	    "ontent\":\"\"},\"finish_reason\":null}]}\n\ndata: {\"id\":\"chat"
	    "cmpl-000000000000000000000001\",\"object\":\"chat.completion.chu"
	    "nk\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{\"inde"
	    "x\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"toolu_9\""
	    ",\"type\":\"function\",\"function\":{\"name\":\"mcp__filesystem_"
	    "server__read_multiple_files_with_line_numbers_and_more\",\"argum"
	    "ents\":\"\"}}]},\"finish_reason\":null}]}\n\ndata: {\"id\":\"cha"
	    "tcmpl-000000000000000000000001\",\"object\":\"chat.completion.ch"
	    "unk\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{\"ind"
	    "ex\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"a"
	    "rguments\":\"{\\\"c\\\":\\\"x\\\"}\"}}]},\"finish_reason\":null}"
	    "]}\n\ndata: {\"id\":\"chatcmpl-000000000000000000000001\",\"obje"
	    "ct\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":"
	    "\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
	    "\"tool_calls\"}]}\n\ndata: [DONE]\n\n");
	free(out);
}
END_TEST

START_TEST(t_anthropic_foreign_thinking)
{
	const char *b;
	size_t on;
	char *out;

	/* a prefill (final assistant message) without signed thinking: off
	 * (WIRE.md §6.18) */
	b = "{\"model\":\"m\",\"reasoning_effort\":\"high\",\"messages\":"
	    "[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
	    "\"content\":\"The answer is\"}]}";
	out = conv_req(PX_FMT_CHAT, PX_FMT_ANTHROPIC, b, strlen(b), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages\":"
	    "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
	    "\"q\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
	    "\"text\":\"The answer is\"}]}]}\n");
	free(out);
	/* a final user message: thinking stays on */
	b = "{\"model\":\"m\",\"reasoning_effort\":\"high\",\"messages\":"
	    "[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
	    "\"content\":\"a\"},{\"role\":\"user\",\"content\":\"q2\"}]}";
	out = conv_req(PX_FMT_CHAT, PX_FMT_ANTHROPIC, b, strlen(b), &on);
	ck_assert_ptr_nonnull(strstr(out, ",\"thinking\":{\"type\":\"enabled\","
	    "\"budget_tokens\":4096}}"));
	free(out);

	/* foreign reasoning dropped; the last turn has calls and no signed
	 * thinking: thinking off */
	out = conv_req(PX_FMT_RESPONSES, PX_FMT_ANTHROPIC,
	    RS_THINK, strlen(RS_THINK), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages\":"
	    "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q"
	    "\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use"
	    "\",\"id\":\"call_1\",\"name\":\"f\",\"input\":{}}]},{\"role\":\""
	    "user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\""
	    "call_1\",\"content\":\"r\"}]}],\"tools\":[{\"name\":\"f\",\"inpu"
	    "t_schema\":{\"type\":\"object\",\"properties\":{}}}]}\n");
	free(out);
	/* signed Anthropic thinking replayed, thinking stays on */
	out = conv_req(PX_FMT_ANTHROPIC, PX_FMT_ANTHROPIC,
	    ANT_THINK("SIG"), strlen(ANT_THINK("SIG")), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"max_tokens\":9000,\"messages\":["
	    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q"
	    "\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking"
	    "\",\"thinking\":\"hm\",\"signature\":\"SIG\"},{\"type\":\"tool_u"
	    "se\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}]},{\"role\""
	    ":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\""
	    ":\"toolu_1\",\"content\":\"r\"}]}],\"tools\":[{\"name\":\"f\",\""
	    "input_schema\":{\"type\":\"object\"}}],\"thinking\":{\"type\":\""
	    "enabled\",\"budget_tokens\":2048}}\n");
	free(out);
	/* an empty signature is no signature */
	out = conv_req(PX_FMT_ANTHROPIC, PX_FMT_ANTHROPIC,
	    ANT_THINK(""), strlen(ANT_THINK("")), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"max_tokens\":9000,\"messages\":["
	    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q"
	    "\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use"
	    "\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}]},{\"role\":"
	    "\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
	    "\"toolu_1\",\"content\":\"r\"}]}],\"tools\":[{\"name\":\"f\",\"i"
	    "nput_schema\":{\"type\":\"object\"}}]}\n");
	free(out);
	/* Gemini thoughts and signatures never reach Anthropic */
	out = conv_req(PX_FMT_GEMINI, PX_FMT_ANTHROPIC,
	    GEM_THINK, strlen(GEM_THINK), &on);
	ck_assert_str_eq(out,
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages\":"
	    "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q"
	    "\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use"
	    "\",\"id\":\"call_f_0\",\"name\":\"f\",\"input\":{}}]},{\"role\":"
	    "\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
	    "\"call_f_0\",\"content\":\"{\\\"r\\\":1}\"}]}],\"tools\":[{\"nam"
	    "e\":\"f\",\"input_schema\":{\"type\":\"object\",\"properties\":{"
	    "}}}]}\n");
	free(out);
}
END_TEST

/* ------------------------------------------- tool-call history repair */

/*
 * Chat histories an upstream rejects as they are (WIRE.md §6.12, §6.13,
 * §6.37, §6.43): the target view repairs them for every target. Each
 * expectation lists the chat, responses, anthropic and gemini requests.
 */
#define H_HEAD \
	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
#define H_CALL(id, name) \
	"{\"id\":\"" id "\",\"type\":\"function\",\"function\":{\"name\":" \
	"\"" name "\",\"arguments\":\"{}\"}}"
#define H_CALLS(calls) \
	"{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[" calls "]}"
#define H_RESULT(id, text) \
	",{\"role\":\"tool\",\"tool_call_id\":\"" id "\",\"content\":\"" \
	text "\"}"
#define H_NEXT ",{\"role\":\"user\",\"content\":\"next\"}"
#define H_TOOLS \
	"],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}," \
	"{\"type\":\"function\",\"function\":{\"name\":\"g\"}}]}"

static void
history_expect(enum px_fmt from, const char *body,
               const char *const exp[PX_FMT_COUNT])
{
	size_t on;
	char *out;
	int t;

	for (t = 0; t < PX_FMT_COUNT; t++) {
		out = conv_req(from, (enum px_fmt)t, body, strlen(body), &on);
		ck_assert_msg(strcmp(out, exp[t]) == 0, "to %s:\n%s", fmt_tag[t],
		    out);
		free(out);
	}
}

START_TEST(t_history_missing)
{
	static const char *const e0[PX_FMT_COUNT] = {
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\""
	    ",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"call_a\",\"type\":\"function\",\"fun"
	    "ction\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":\"t"
	    "ool\",\"tool_call_id\":\"call_a\",\"content\":\"Error: No resu"
	    "lt was recorded for this tool call.\"},{\"role\":\"user\",\"co"
	    "ntent\":\"next\"}],\"tools\":[{\"type\":\"function\",\"functio"
	    "n\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"prop"
	    "erties\":{}}}},{\"type\":\"function\",\"function\":{\"name\":"
	    "\"g\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}"
	    "]}\n",
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\""
	    ",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"tex"
	    "t\":\"q\"}]},{\"type\":\"function_call\",\"call_id\":\"call_a"
	    "\",\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":\"function_c"
	    "all_output\",\"call_id\":\"call_a\",\"output\":\"Error: No res"
	    "ult was recorded for this tool call.\"},{\"type\":\"message\","
	    "\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text"
	    "\":\"next\"}]}],\"tools\":[{\"type\":\"function\",\"name\":\"f"
	    "\",\"parameters\":{\"type\":\"object\",\"properties\":{}},\"st"
	    "rict\":false},{\"type\":\"function\",\"name\":\"g\",\"paramete"
	    "rs\":{\"type\":\"object\",\"properties\":{}},\"strict\":false}"
	    "]}\n",
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages"
	    "\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text"
	    "\":\"q\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"t"
	    "ool_use\",\"id\":\"call_a\",\"name\":\"f\",\"input\":{}}]},{\""
	    "role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_"
	    "use_id\":\"call_a\",\"content\":\"No result was recorded for t"
	    "his tool call.\",\"is_error\":true},{\"type\":\"text\",\"text"
	    "\":\"next\"}]}],\"tools\":[{\"name\":\"f\",\"input_schema\":{"
	    "\"type\":\"object\",\"properties\":{}}},{\"name\":\"g\",\"inpu"
	    "t_schema\":{\"type\":\"object\",\"properties\":{}}}]}\n",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	    "},{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
	    "\"f\",\"args\":{}}}]},{\"role\":\"user\",\"parts\":[{\"functio"
	    "nResponse\":{\"name\":\"f\",\"response\":{\"error\":\"No resul"
	    "t was recorded for this tool call.\"}}},{\"text\":\"next\"}]}]"
	    ",\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\",\"param"
	    "etersJsonSchema\":{\"type\":\"object\",\"properties\":{}}},{\""
	    "name\":\"g\",\"parametersJsonSchema\":{\"type\":\"object\",\"p"
	    "roperties\":{}}}]}]}\n"
	};
	static const char *const e1[PX_FMT_COUNT] = {
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\""
	    ",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"call_a\",\"type\":\"function\",\"fun"
	    "ction\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"id\":\"call_"
	    "b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"argum"
	    "ents\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_a"
	    "\",\"content\":\"Error: No result was recorded for this tool c"
	    "all.\"},{\"role\":\"tool\",\"tool_call_id\":\"call_b\",\"conte"
	    "nt\":\"rb\"},{\"role\":\"user\",\"content\":\"next\"}],\"tools"
	    "\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"para"
	    "meters\":{\"type\":\"object\",\"properties\":{}}}},{\"type\":"
	    "\"function\",\"function\":{\"name\":\"g\",\"parameters\":{\"ty"
	    "pe\":\"object\",\"properties\":{}}}}]}\n",
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\""
	    ",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"tex"
	    "t\":\"q\"}]},{\"type\":\"function_call\",\"call_id\":\"call_a"
	    "\",\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":\"function_c"
	    "all\",\"call_id\":\"call_b\",\"name\":\"g\",\"arguments\":\"{}"
	    "\"},{\"type\":\"function_call_output\",\"call_id\":\"call_a\","
	    "\"output\":\"Error: No result was recorded for this tool call."
	    "\"},{\"type\":\"function_call_output\",\"call_id\":\"call_b\","
	    "\"output\":\"rb\"},{\"type\":\"message\",\"role\":\"user\",\"c"
	    "ontent\":[{\"type\":\"input_text\",\"text\":\"next\"}]}],\"too"
	    "ls\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":{\""
	    "type\":\"object\",\"properties\":{}},\"strict\":false},{\"type"
	    "\":\"function\",\"name\":\"g\",\"parameters\":{\"type\":\"obje"
	    "ct\",\"properties\":{}},\"strict\":false}]}\n",
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages"
	    "\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text"
	    "\":\"q\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"t"
	    "ool_use\",\"id\":\"call_a\",\"name\":\"f\",\"input\":{}},{\"ty"
	    "pe\":\"tool_use\",\"id\":\"call_b\",\"name\":\"g\",\"input\":{"
	    "}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\""
	    ",\"tool_use_id\":\"call_a\",\"content\":\"No result was record"
	    "ed for this tool call.\",\"is_error\":true},{\"type\":\"tool_r"
	    "esult\",\"tool_use_id\":\"call_b\",\"content\":\"rb\"},{\"type"
	    "\":\"text\",\"text\":\"next\"}]}],\"tools\":[{\"name\":\"f\","
	    "\"input_schema\":{\"type\":\"object\",\"properties\":{}}},{\"n"
	    "ame\":\"g\",\"input_schema\":{\"type\":\"object\",\"properties"
	    "\":{}}}]}\n",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	    "},{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
	    "\"f\",\"args\":{}}},{\"functionCall\":{\"name\":\"g\",\"args\""
	    ":{}}}]},{\"role\":\"user\",\"parts\":[{\"functionResponse\":{"
	    "\"name\":\"f\",\"response\":{\"error\":\"No result was recorde"
	    "d for this tool call.\"}}},{\"functionResponse\":{\"name\":\"g"
	    "\",\"response\":{\"result\":\"rb\"}}},{\"text\":\"next\"}]}],"
	    "\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\",\"parame"
	    "tersJsonSchema\":{\"type\":\"object\",\"properties\":{}}},{\"n"
	    "ame\":\"g\",\"parametersJsonSchema\":{\"type\":\"object\",\"pr"
	    "operties\":{}}}]}]}\n"
	};

	/* a call without a result: an error placeholder, in a tool message
	 * inserted before the next turn */
	history_expect(PX_FMT_CHAT,
	    H_HEAD H_CALLS(H_CALL("call_a", "f")) H_NEXT H_TOOLS, e0);
	/* one of two parallel calls answered: the placeholder comes first, in
	 * call order */
	history_expect(PX_FMT_CHAT,
	    H_HEAD H_CALLS(H_CALL("call_a", "f") ","
	    H_CALL("call_b", "g")) H_RESULT("call_b", "rb") H_NEXT H_TOOLS, e1);
}
END_TEST

START_TEST(t_history_duplicate)
{
	static const char *const e0[PX_FMT_COUNT] = {
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\""
	    ",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"call_a\",\"type\":\"function\",\"fun"
	    "ction\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":\"t"
	    "ool\",\"tool_call_id\":\"call_a\",\"content\":\"r1\"},{\"role"
	    "\":\"user\",\"content\":\"next\"}],\"tools\":[{\"type\":\"func"
	    "tion\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":"
	    "\"object\",\"properties\":{}}}},{\"type\":\"function\",\"funct"
	    "ion\":{\"name\":\"g\",\"parameters\":{\"type\":\"object\",\"pr"
	    "operties\":{}}}}]}\n",
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\""
	    ",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"tex"
	    "t\":\"q\"}]},{\"type\":\"function_call\",\"call_id\":\"call_a"
	    "\",\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":\"function_c"
	    "all_output\",\"call_id\":\"call_a\",\"output\":\"r1\"},{\"type"
	    "\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"inpu"
	    "t_text\",\"text\":\"next\"}]}],\"tools\":[{\"type\":\"function"
	    "\",\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"proper"
	    "ties\":{}},\"strict\":false},{\"type\":\"function\",\"name\":"
	    "\"g\",\"parameters\":{\"type\":\"object\",\"properties\":{}},"
	    "\"strict\":false}]}\n",
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages"
	    "\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text"
	    "\":\"q\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"t"
	    "ool_use\",\"id\":\"call_a\",\"name\":\"f\",\"input\":{}}]},{\""
	    "role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_"
	    "use_id\":\"call_a\",\"content\":\"r1\"},{\"type\":\"text\",\"t"
	    "ext\":\"next\"}]}],\"tools\":[{\"name\":\"f\",\"input_schema\""
	    ":{\"type\":\"object\",\"properties\":{}}},{\"name\":\"g\",\"in"
	    "put_schema\":{\"type\":\"object\",\"properties\":{}}}]}\n",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	    "},{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
	    "\"f\",\"args\":{}}}]},{\"role\":\"user\",\"parts\":[{\"functio"
	    "nResponse\":{\"name\":\"f\",\"response\":{\"result\":\"r1\"}}}"
	    ",{\"text\":\"next\"}]}],\"tools\":[{\"functionDeclarations\":["
	    "{\"name\":\"f\",\"parametersJsonSchema\":{\"type\":\"object\","
	    "\"properties\":{}}},{\"name\":\"g\",\"parametersJsonSchema\":{"
	    "\"type\":\"object\",\"properties\":{}}}]}]}\n"
	};

	/* two results for one call: the first one stays (WIRE.md §6.13) */
	history_expect(PX_FMT_CHAT,
	    H_HEAD H_CALLS(H_CALL("call_a", "f"))
	    H_RESULT("call_a", "r1") H_RESULT("call_a", "r2") H_NEXT H_TOOLS, e0);
}
END_TEST

START_TEST(t_history_orphan)
{
	static const char *const e0[PX_FMT_COUNT] = {
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\""
	    ",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"call_a\",\"type\":\"function\",\"fun"
	    "ction\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":\"t"
	    "ool\",\"tool_call_id\":\"call_a\",\"content\":\"ra\"},{\"role"
	    "\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Result "
	    "of tool call call_z (g), whose call is not in this conversatio"
	    "n:\"},{\"type\":\"text\",\"text\":\"rz\"}]},{\"role\":\"user\""
	    ",\"content\":\"next\"}],\"tools\":[{\"type\":\"function\",\"fu"
	    "nction\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\","
	    "\"properties\":{}}}},{\"type\":\"function\",\"function\":{\"na"
	    "me\":\"g\",\"parameters\":{\"type\":\"object\",\"properties\":"
	    "{}}}}]}\n",
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\""
	    ",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"tex"
	    "t\":\"q\"}]},{\"type\":\"function_call\",\"call_id\":\"call_a"
	    "\",\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":\"function_c"
	    "all_output\",\"call_id\":\"call_a\",\"output\":\"ra\"},{\"type"
	    "\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"inpu"
	    "t_text\",\"text\":\"Result of tool call call_z (g), whose call"
	    " is not in this conversation:\"},{\"type\":\"input_text\",\"te"
	    "xt\":\"rz\"}]},{\"type\":\"message\",\"role\":\"user\",\"conte"
	    "nt\":[{\"type\":\"input_text\",\"text\":\"next\"}]}],\"tools\""
	    ":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":{\"type"
	    "\":\"object\",\"properties\":{}},\"strict\":false},{\"type\":"
	    "\"function\",\"name\":\"g\",\"parameters\":{\"type\":\"object"
	    "\",\"properties\":{}},\"strict\":false}]}\n",
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages"
	    "\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text"
	    "\":\"q\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"t"
	    "ool_use\",\"id\":\"call_a\",\"name\":\"f\",\"input\":{}}]},{\""
	    "role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_"
	    "use_id\":\"call_a\",\"content\":\"ra\"},{\"type\":\"text\",\"t"
	    "ext\":\"Result of tool call call_z (g), whose call is not in t"
	    "his conversation:\"},{\"type\":\"text\",\"text\":\"rz\"},{\"ty"
	    "pe\":\"text\",\"text\":\"next\"}]}],\"tools\":[{\"name\":\"f\""
	    ",\"input_schema\":{\"type\":\"object\",\"properties\":{}}},{\""
	    "name\":\"g\",\"input_schema\":{\"type\":\"object\",\"propertie"
	    "s\":{}}}]}\n",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	    "},{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
	    "\"f\",\"args\":{}}}]},{\"role\":\"user\",\"parts\":[{\"functio"
	    "nResponse\":{\"name\":\"f\",\"response\":{\"result\":\"ra\"}}}"
	    ",{\"text\":\"Result of tool call call_z (g), whose call is not"
	    " in this conversation:\"},{\"text\":\"rz\"},{\"text\":\"next\""
	    "}]}],\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\",\"p"
	    "arametersJsonSchema\":{\"type\":\"object\",\"properties\":{}}}"
	    ",{\"name\":\"g\",\"parametersJsonSchema\":{\"type\":\"object\""
	    ",\"properties\":{}}}]}]}\n"
	};
	static const char *const e1[PX_FMT_COUNT] = {
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\""
	    ",\"content\":[{\"type\":\"text\",\"text\":\"Result of tool cal"
	    "l call_z, whose call is not in this conversation:\"},{\"type\""
	    ":\"text\",\"text\":\"rz\"}]},{\"role\":\"user\",\"content\":\""
	    "q\"}]}\n",
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\""
	    ",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"tex"
	    "t\":\"Result of tool call call_z, whose call is not in this co"
	    "nversation:\"},{\"type\":\"input_text\",\"text\":\"rz\"}]},{\""
	    "type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\""
	    "input_text\",\"text\":\"q\"}]}]}\n",
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages"
	    "\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text"
	    "\":\"Result of tool call call_z, whose call is not in this con"
	    "versation:\"},{\"type\":\"text\",\"text\":\"rz\"},{\"type\":\""
	    "text\",\"text\":\"q\"}]}]}\n",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Resul"
	    "t of tool call call_z, whose call is not in this conversation:"
	    "\"},{\"text\":\"rz\"},{\"text\":\"q\"}]}]}\n"
	};

	/* a result whose call is not in the turn before it: user text, where
	 * it was, naming the call and its tool */
	history_expect(PX_FMT_CHAT,
	    H_HEAD H_CALLS(H_CALL("call_a", "f"))
	    H_RESULT("call_a", "ra")
	    ",{\"role\":\"tool\",\"tool_call_id\":\"call_z\",\"name\":\"g\","
	    "\"content\":\"rz\"}" H_NEXT H_TOOLS, e0);
	/* before any assistant message, and no tool name known */
	history_expect(PX_FMT_CHAT,
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\","
	    "\"tool_call_id\":\"call_z\",\"content\":\"rz\"},{\"role\":\"user\","
	    "\"content\":\"q\"}]}", e1);
}
END_TEST

START_TEST(t_history_trailing)
{
	static const char *const e0[PX_FMT_COUNT] = {
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\""
	    ",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"call_a\",\"type\":\"function\",\"fun"
	    "ction\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}],\"tools\":[{"
	    "\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameter"
	    "s\":{\"type\":\"object\",\"properties\":{}}}},{\"type\":\"func"
	    "tion\",\"function\":{\"name\":\"g\",\"parameters\":{\"type\":"
	    "\"object\",\"properties\":{}}}}]}\n",
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\""
	    ",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"tex"
	    "t\":\"q\"}]},{\"type\":\"function_call\",\"call_id\":\"call_a"
	    "\",\"name\":\"f\",\"arguments\":\"{}\"}],\"tools\":[{\"type\":"
	    "\"function\",\"name\":\"f\",\"parameters\":{\"type\":\"object"
	    "\",\"properties\":{}},\"strict\":false},{\"type\":\"function\""
	    ",\"name\":\"g\",\"parameters\":{\"type\":\"object\",\"properti"
	    "es\":{}},\"strict\":false}]}\n",
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages"
	    "\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text"
	    "\":\"q\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"t"
	    "ool_use\",\"id\":\"call_a\",\"name\":\"f\",\"input\":{}}]}],\""
	    "tools\":[{\"name\":\"f\",\"input_schema\":{\"type\":\"object\""
	    ",\"properties\":{}}},{\"name\":\"g\",\"input_schema\":{\"type"
	    "\":\"object\",\"properties\":{}}}]}\n",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	    "},{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
	    "\"f\",\"args\":{}}}]}],\"tools\":[{\"functionDeclarations\":[{"
	    "\"name\":\"f\",\"parametersJsonSchema\":{\"type\":\"object\","
	    "\"properties\":{}}},{\"name\":\"g\",\"parametersJsonSchema\":{"
	    "\"type\":\"object\",\"properties\":{}}}]}]}\n"
	};

	/* calls in the last message have no results yet: left alone */
	history_expect(PX_FMT_CHAT,
	    H_HEAD H_CALLS(H_CALL("call_a", "f")) H_TOOLS, e0);
}
END_TEST

START_TEST(t_history_order)
{
	static const char *const e0[PX_FMT_COUNT] = {
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\""
	    ",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"call_a\",\"type\":\"function\",\"fun"
	    "ction\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"id\":\"call_"
	    "b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"argum"
	    "ents\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_b"
	    "\",\"content\":\"rb\"},{\"role\":\"tool\",\"tool_call_id\":\"c"
	    "all_a\",\"content\":\"ra\"},{\"role\":\"user\",\"content\":\"n"
	    "ext\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name"
	    "\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{}"
	    "}}},{\"type\":\"function\",\"function\":{\"name\":\"g\",\"para"
	    "meters\":{\"type\":\"object\",\"properties\":{}}}}]}\n",
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\""
	    ",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"tex"
	    "t\":\"q\"}]},{\"type\":\"function_call\",\"call_id\":\"call_a"
	    "\",\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":\"function_c"
	    "all\",\"call_id\":\"call_b\",\"name\":\"g\",\"arguments\":\"{}"
	    "\"},{\"type\":\"function_call_output\",\"call_id\":\"call_b\","
	    "\"output\":\"rb\"},{\"type\":\"function_call_output\",\"call_i"
	    "d\":\"call_a\",\"output\":\"ra\"},{\"type\":\"message\",\"role"
	    "\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"n"
	    "ext\"}]}],\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"p"
	    "arameters\":{\"type\":\"object\",\"properties\":{}},\"strict\""
	    ":false},{\"type\":\"function\",\"name\":\"g\",\"parameters\":{"
	    "\"type\":\"object\",\"properties\":{}},\"strict\":false}]}\n",
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages"
	    "\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text"
	    "\":\"q\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"t"
	    "ool_use\",\"id\":\"call_a\",\"name\":\"f\",\"input\":{}},{\"ty"
	    "pe\":\"tool_use\",\"id\":\"call_b\",\"name\":\"g\",\"input\":{"
	    "}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\""
	    ",\"tool_use_id\":\"call_b\",\"content\":\"rb\"},{\"type\":\"to"
	    "ol_result\",\"tool_use_id\":\"call_a\",\"content\":\"ra\"},{\""
	    "type\":\"text\",\"text\":\"next\"}]}],\"tools\":[{\"name\":\"f"
	    "\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}},{"
	    "\"name\":\"g\",\"input_schema\":{\"type\":\"object\",\"propert"
	    "ies\":{}}}]}\n",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	    "},{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
	    "\"f\",\"args\":{}}},{\"functionCall\":{\"name\":\"g\",\"args\""
	    ":{}}}]},{\"role\":\"user\",\"parts\":[{\"functionResponse\":{"
	    "\"name\":\"f\",\"response\":{\"result\":\"ra\"}}},{\"functionR"
	    "esponse\":{\"name\":\"g\",\"response\":{\"result\":\"rb\"}}},{"
	    "\"text\":\"next\"}]}],\"tools\":[{\"functionDeclarations\":[{"
	    "\"name\":\"f\",\"parametersJsonSchema\":{\"type\":\"object\","
	    "\"properties\":{}}},{\"name\":\"g\",\"parametersJsonSchema\":{"
	    "\"type\":\"object\",\"properties\":{}}}]}]}\n"
	};

	/* results out of call order: as they are, but for Gemini, which pairs
	 * them by order */
	history_expect(PX_FMT_CHAT,
	    H_HEAD H_CALLS(H_CALL("call_a", "f") ","
	    H_CALL("call_b", "g")) H_RESULT("call_b", "rb")
	    H_RESULT("call_a", "ra") H_NEXT H_TOOLS, e0);
}
END_TEST

START_TEST(t_history_turns)
{
	static const char *const e0[PX_FMT_COUNT] = {
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\""
	    ",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"toolu_a\",\"type\":\"function\",\"fu"
	    "nction\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":\""
	    "tool\",\"tool_call_id\":\"toolu_a\",\"content\":\"Error: No re"
	    "sult was recorded for this tool call.\"},{\"role\":\"assistant"
	    "\",\"content\":\"more\"},{\"role\":\"user\",\"content\":[{\"ty"
	    "pe\":\"text\",\"text\":\"Result of tool call toolu_a (f), whos"
	    "e call is not in this conversation:\"},{\"type\":\"text\",\"te"
	    "xt\":\"ra\"}]}],\"max_completion_tokens\":9}\n",
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"message\""
	    ",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"tex"
	    "t\":\"q\"}]},{\"type\":\"function_call\",\"call_id\":\"toolu_a"
	    "\",\"name\":\"f\",\"arguments\":\"{}\"},{\"type\":\"function_c"
	    "all_output\",\"call_id\":\"toolu_a\",\"output\":\"Error: No re"
	    "sult was recorded for this tool call.\"},{\"type\":\"message\""
	    ",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\""
	    ",\"text\":\"more\"}]},{\"type\":\"message\",\"role\":\"user\","
	    "\"content\":[{\"type\":\"input_text\",\"text\":\"Result of too"
	    "l call toolu_a (f), whose call is not in this conversation:\"}"
	    ",{\"type\":\"input_text\",\"text\":\"ra\"}]}],\"max_output_tok"
	    "ens\":9}\n",
	    "{\"model\":\"upstream-model\",\"max_tokens\":9,\"messages\":[{"
	    "\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q"
	    "\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_us"
	    "e\",\"id\":\"toolu_a\",\"name\":\"f\",\"input\":{}},{\"type\":"
	    "\"text\",\"text\":\"more\"}]},{\"role\":\"user\",\"content\":["
	    "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_a\",\"conten"
	    "t\":\"ra\"}]}]}\n",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]"
	    "},{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
	    "\"f\",\"args\":{}}},{\"text\":\"more\"}]},{\"role\":\"user\","
	    "\"parts\":[{\"functionResponse\":{\"name\":\"f\",\"response\":"
	    "{\"result\":\"ra\"}}}]}],\"generationConfig\":{\"maxOutputToke"
	    "ns\":9}}\n"
	};

	/* two assistant messages are one Anthropic (and Gemini) turn, whose
	 * result may follow the second; Chat and Responses need it right
	 * after the call */
	history_expect(PX_FMT_ANTHROPIC,
	    "{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
	    "{\"role\":"
	    "\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":"
	    "[{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"f\",\"input\":"
	    "{}}]},{\"role\":\"assistant\",\"content\":\"more\"},{\"role\":"
	    "\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
	    "\"toolu_a\",\"content\":\"ra\"}]}]}", e0);
}
END_TEST

START_TEST(t_history_previous_response)
{
	static const char *const e0[PX_FMT_COUNT] = {
	    "{\"model\":\"upstream-model\",\"messages\":[{\"role\":\"user\""
	    ",\"content\":[{\"type\":\"text\",\"text\":\"Result of tool cal"
	    "l call_p, whose call is not in this conversation:\"},{\"type\""
	    ":\"text\",\"text\":\"rp\"}]}]}\n",
	    "{\"model\":\"upstream-model\",\"input\":[{\"type\":\"function_"
	    "call_output\",\"call_id\":\"call_p\",\"output\":\"rp\"}],\"pre"
	    "vious_response_id\":\"resp_1\"}\n",
	    "{\"model\":\"upstream-model\",\"max_tokens\":32000,\"messages"
	    "\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text"
	    "\":\"Result of tool call call_p, whose call is not in this con"
	    "versation:\"},{\"type\":\"text\",\"text\":\"rp\"}]}]}\n",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Resul"
	    "t of tool call call_p, whose call is not in this conversation:"
	    "\"},{\"text\":\"rp\"}]}]}\n"
	};

	/* the call is in the stored response: a Responses upstream takes the
	 * result as it is; any other gets it as text */
	history_expect(PX_FMT_RESPONSES,
	    "{\"model\":\"m\",\"previous_response_id\":\"resp_1\","
	    "\"input\":"
	    "[{\"type\":\"function_call_output\",\"call_id\":\"call_p\","
	    "\"output\":\"rp\"}]}", e0);
}
END_TEST

/* A history that already pairs up goes out exactly as before: the golden
 * of a tool conversation for each target. */
START_TEST(t_history_consistent)
{
	static const struct {
		enum px_fmt from, to;
		const char *fixture;
	} c[] = {
		{ PX_FMT_RESPONSES, PX_FMT_CHAT, "responses_request_tools_multiturn" },
		{ PX_FMT_GEMINI, PX_FMT_RESPONSES,
		  "gemini_request_parallel_function_responses" },
		{ PX_FMT_RESPONSES, PX_FMT_ANTHROPIC,
		  "responses_request_tools_multiturn" },
		{ PX_FMT_RESPONSES, PX_FMT_GEMINI,
		  "responses_request_tools_multiturn" },
	};
	char path[256];
	size_t i, n, on, en;
	char *body, *out, *exp;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		snprintf(path, sizeof path, "%s.json", c[i].fixture);
		body = load(path, &n);
		out = conv_req(c[i].from, c[i].to, body, n, &on);
		snprintf(path, sizeof path, GOLD "req_%s_to_%s__%s.json",
		    fmt_tag[c[i].from], fmt_tag[c[i].to], c[i].fixture);
		exp = read_file(path, &en);
		ck_assert_msg(exp != NULL, "cannot read %s", path);
		ck_assert_msg(on == en && memcmp(out, exp, en) == 0,
		    "%s changed", path);
		ck_assert_ptr_nonnull(strstr(out, c[i].to == PX_FMT_GEMINI ?
		    "functionResponse" : c[i].to == PX_FMT_ANTHROPIC ?
		    "tool_result" : c[i].to == PX_FMT_CHAT ? "tool_call_id" :
		    "function_call_output"));
		free(exp);
		free(out);
		free(body);
	}
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("convert4");
	TCase *tc;

	tc = tcase_create("golden");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, t_golden_requests, 0, NREQ);
	tcase_add_loop_test(tc, t_golden_responses, 0, NRESP);
	tcase_add_loop_test(tc, t_golden_streams, 0, NSTREAM);
	tcase_add_loop_test(tc, t_cutoff, 0, NSTREAM);
	suite_add_tcase(s, tc);

	tc = tcase_create("gemini");
	tcase_add_test(tc, t_gemini_finish_mapping);
	tcase_add_test(tc, t_gemini_blocked_and_malformed_to_clients);
	tcase_add_test(tc, t_gemini_signature_roundtrip);
	tcase_add_test(tc, t_gemini_stream_signature);
	tcase_add_test(tc, t_gemini_usage_cumulative);
	tcase_add_test(tc, t_gemini_schema_cleaning);
	tcase_add_test(tc, t_gemini_request_rules);
	tcase_add_test(tc, t_gemini_call_ids);
	tcase_add_test(tc, t_gemini_array_stream);
	tcase_add_test(tc, t_gemini_midstream_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, t_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("responses");
	tcase_add_test(tc, t_responses_interleaved_calls);
	tcase_add_test(tc, t_responses_request_rules);
	tcase_add_test(tc, t_responses_reasoning_and_backfill);
	suite_add_tcase(s, tc);

	tc = tcase_create("completions");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, t_cmpl_golden_requests);
	tcase_add_test(tc, t_cmpl_decode);
	tcase_add_test(tc, t_cmpl_refused);
	tcase_add_loop_test(tc, t_cmpl_golden_responses, 0, NRESP);
	tcase_add_test(tc, t_cmpl_response_rules);
	tcase_add_loop_test(tc, t_cmpl_golden_streams, 0, NSTREAM);
	tcase_add_loop_test(tc, t_cmpl_cutoff, 0, NSTREAM);
	tcase_add_test(tc, t_cmpl_stream_error);
	tcase_add_test(tc, t_cmpl_stream_thinking_hidden);
	suite_add_tcase(s, tc);

	tc = tcase_create("tools");
	tcase_add_test(tc, t_codex_namespace_calls);
	tcase_add_test(tc, t_namespace_tools);
	tcase_add_test(tc, t_custom_tools);
	tcase_add_test(tc, t_call_ids);
	tcase_add_test(tc, t_tool_names);
	tcase_add_test(tc, t_anthropic_foreign_thinking);
	suite_add_tcase(s, tc);

	tc = tcase_create("history");
	tcase_add_test(tc, t_history_missing);
	tcase_add_test(tc, t_history_duplicate);
	tcase_add_test(tc, t_history_orphan);
	tcase_add_test(tc, t_history_trailing);
	tcase_add_test(tc, t_history_order);
	tcase_add_test(tc, t_history_turns);
	tcase_add_test(tc, t_history_previous_response);
	tcase_add_test(tc, t_history_consistent);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
