/*
 * test_convert.c - Check suite for the conversion core (convert.c,
 * convert_chat.c, convert_anthropic.c).
 *
 * Golden files in tests/golden/ hold the exact expected output of each
 * fixture conversion (byte-exact compare, with px_set_deterministic() so
 * ids and timestamps are fixed). They were reviewed by hand against WIRE.md;
 * PX_UPDATE_GOLDEN=1 rewrites them (review the diff before committing).
 * Streams are fed through the real sse.c parser, whole and split at every
 * byte offset, and must give identical output; every stream is also checked
 * for the client-side invariants of WIRE.md Part 2 §5.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"
#include "testutil.h"

#define FIX "tests/fixtures/"
#define GOLD "tests/golden/chat_anthropic/"

static const char *chat_client =
    "{\"model\":\"client-model\",\"stream\":true,"
    "\"stream_options\":{\"include_usage\":true},\"messages\":[]}";
static const char *anth_client =
    "{\"model\":\"client-model\",\"max_tokens\":64,\"stream\":true,"
    "\"messages\":[]}";

struct buf { char *p; size_t n; };

static struct buf
out_copy(const struct jw *w)
{
	struct buf b;

	b.p = malloc(w->len + 1);
	ck_assert_ptr_nonnull(b.p);
	memcpy(b.p, w->buf, w->len);
	b.p[w->len] = 0;
	b.n = w->len;
	return b;
}

static void
golden_check(const char *name, const struct buf *got)
{
	char path[256];
	size_t n;
	char *want;

	snprintf(path, sizeof path, GOLD "%s", name);
	if (getenv("PX_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "wb");
		ck_assert_ptr_nonnull(f);
		fwrite(got->p, 1, got->n, f);
		fclose(f);
		return;
	}
	want = read_file(path, &n);
	ck_assert_msg(want != NULL, "missing golden %s", path);
	ck_assert_msg(n == got->n && memcmp(want, got->p, n) == 0,
	    "golden %s differs:\n--- want\n%s\n--- got\n%s", name, want, got->p);
	free(want);
}

static enum px_fmt
fmt_of(const char *name)
{
	return strncmp(name, "anthropic", 9) == 0 ? PX_FMT_ANTHROPIC : PX_FMT_CHAT;
}

/* ------------------------------------------------------------ requests */

static struct buf
conv_request(const char *fixture, enum px_fmt from, enum px_fmt to)
{
	struct px_arena a;
	struct jw w;
	struct ir_request req;
	struct px_err err;
	struct guard g;
	struct buf b;
	size_t n;
	char *src = read_file(fixture, &n);
	char *body;

	ck_assert_ptr_nonnull(src);
	body = guard_copy(&g, src, n);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_decode_request(from, &a, body, n, &req, &err), 0);
	ck_assert_int_eq(px_encode_request(to, &req, req.model, &w, &err), 0);
	ck_assert_int_eq(w.err, 0);
	b = out_copy(&w);
	px_arena_free(&a);
	guard_free(&g);
	free(src);
	return b;
}

static const char *const req_cases[][2] = {
	{ "openai_chat_request_multiturn_tool_results_image", "req_chat2anth_multiturn.json" },
	{ "openai_chat_request_tools_parallel", "req_chat2anth_tools_parallel.json" },
	{ "openai_chat_request_reasoning_json_schema", "req_chat2anth_reasoning_schema.json" },
	{ "anthropic_request_tools", "req_anth2chat_tools.json" },
	{ "anthropic_request_images", "req_anth2chat_images.json" },
	{ "anthropic_request_multiturn_thinking_tool_results", "req_anth2chat_thinking.json" },
	{ "anthropic_request_multiturn_thinking_tool_results", "req_anth2anth_thinking.json" },
};
#define NREQ (sizeof req_cases / sizeof req_cases[0])

START_TEST(t_request_golden)
{
	char path[256];
	enum px_fmt from, to;
	struct buf b;

	snprintf(path, sizeof path, FIX "%s.json", req_cases[_i][0]);
	from = fmt_of(req_cases[_i][0]);
	to = strstr(req_cases[_i][1], "2anth") ? PX_FMT_ANTHROPIC : PX_FMT_CHAT;
	px_set_deterministic(1700000000);
	b = conv_request(path, from, to);
	golden_check(req_cases[_i][1], &b);
	free(b.p);
}
END_TEST

START_TEST(t_signature_exact)
{
	/* the signature bytes of the fixture reappear unchanged */
	const char *sig = "\"signature\":\"EqQBCkYIBxgCKkD0c3ludGhldGljLWZpeHR1cmUt"
	    "c2lnbmF0dXJlLW5vdC1hLXJlYWwtb25lLWRvLW5vdC1yZXBsYXktdG8tYXBpEgxzeW50"
	    "aGV0aWNfc2lnGgxmaXh0dXJlX29ubHkiMHN5bnRoZXRpYyBzaWduYXR1cmUgZm9yIHBy"
	    "b3h5IGNvbmZvcm1hbmNlIHRlc3Rz\"";
	struct buf b = conv_request(FIX "anthropic_request_multiturn_thinking_tool_results.json",
	    PX_FMT_ANTHROPIC, PX_FMT_ANTHROPIC);

	ck_assert_ptr_nonnull(strstr(b.p, sig));
	free(b.p);
	/* ... but never to Chat */
	b = conv_request(FIX "anthropic_request_multiturn_thinking_tool_results.json",
	    PX_FMT_ANTHROPIC, PX_FMT_CHAT);
	ck_assert_ptr_null(strstr(b.p, "signature"));
	free(b.p);
}
END_TEST

static int
conv_str(enum px_fmt from, enum px_fmt to, const char *body, char *out,
         size_t cap, struct px_err *err)
{
	struct px_arena a;
	struct jw w;
	struct ir_request req;
	int rc;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	memset(err, 0, sizeof *err);
	rc = px_decode_request(from, &a, body, strlen(body), &req, err);
	if (rc == 0)
		rc = px_encode_request(to, &req, req.model, &w, err);
	if (rc == 0) {
		ck_assert_uint_lt(w.len, cap);
		memcpy(out, w.buf, w.len);
		out[w.len] = 0;
	}
	px_arena_free(&a);
	return rc;
}

START_TEST(t_n_gt_1)
{
	struct px_err err;
	char out[4096];

	ck_assert_int_eq(conv_str(PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	    "{\"model\":\"m\",\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
	    out, sizeof out, &err), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.msg, "n > 1 is not supported by Anthropic upstreams");
}
END_TEST

START_TEST(t_malformed_json)
{
	struct px_err err;
	char out[256];

	ck_assert_int_eq(conv_str(PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	    "{\"model\": \"m\", \"messages\" []}", out, sizeof out, &err), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_msg(strncmp(err.msg, "invalid JSON at byte 26: ", 25) == 0,
	    "got %s", err.msg);
	ck_assert_int_eq(conv_str(PX_FMT_ANTHROPIC, PX_FMT_CHAT, "[1,2]", out,
	    sizeof out, &err), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.msg, "request body must be a JSON object");
}
END_TEST

START_TEST(t_request_rules)
{
	struct px_err err;
	char out[8192];

	/* no parameters -> empty object schema; empty/invalid arguments -> {};
	 * mid-conversation system -> wrapped user text; temperature as sent
	 * (outside Anthropic's 0..1: Anthropic's own 400, never a clamp);
	 * required -> any; parallel false -> disable_parallel_tool_use */
	ck_assert_int_eq(conv_str(PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	    "{\"model\":\"m\",\"temperature\":1.7,\"stop\":\"X\","
	    "\"parallel_tool_calls\":false,\"tool_choice\":\"required\","
	    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
	    "{\"role\":\"system\",\"content\":\"be nice\"},"
	    "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"call.1\","
	    "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]},"
	    "{\"role\":\"tool\",\"tool_call_id\":\"call.1\",\"content\":\"ok\"}]}",
	    out, sizeof out, &err), 0);
	ck_assert_str_eq(out,
	    "{\"model\":\"m\",\"max_tokens\":32000,\"messages\":["
	    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
	    "{\"type\":\"text\",\"text\":\"<system>be nice</system>\"}]},"
	    "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":"
	    "\"call_1_5574499a7450a3c2\",\"name\":\"f\",\"input\":{}}]},"
	    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
	    "\"call_1_5574499a7450a3c2\","
	    "\"content\":\"ok\"}]}],"
	    "\"tools\":[{\"name\":\"f\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}}],"
	    "\"tool_choice\":{\"type\":\"any\",\"disable_parallel_tool_use\":true},"
	    "\"stop_sequences\":[\"X\"],\"temperature\":1.7}");
	/* thinking + forced tool: auto, temperature dropped, max raised */
	ck_assert_int_eq(conv_str(PX_FMT_CHAT, PX_FMT_ANTHROPIC,
	    "{\"model\":\"m\",\"reasoning_effort\":\"high\",\"max_tokens\":1000,"
	    "\"temperature\":0.3,\"tool_choice\":\"required\","
	    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}}],"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}",
	    out, sizeof out, &err), 0);
	ck_assert_str_eq(out,
	    "{\"model\":\"m\",\"max_tokens\":5096,\"messages\":[{\"role\":\"user\","
	    "\"content\":[{\"type\":\"text\",\"text\":\"a\"}]}],"
	    "\"tools\":[{\"name\":\"f\",\"input_schema\":{\"type\":\"object\"}}],"
	    "\"tool_choice\":{\"type\":\"auto\"},"
	    "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":4096}}");
	/* a server tool Anthropic runs is left out for another format... */
	ck_assert_int_eq(conv_str(PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	    "{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"type\":\"web_search_20250305\","
	    "\"name\":\"web_search\"}],\"tool_choice\":{\"type\":\"auto\"},"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}",
	    out, sizeof out, &err), 0);
	ck_assert_str_eq(out, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"a\"}],\"max_completion_tokens\":5}");
	/* ...unless tool_choice forces it */
	ck_assert_int_eq(conv_str(PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	    "{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"type\":\"web_search_20250305\","
	    "\"name\":\"web_search\"}],\"tool_choice\":{\"type\":\"tool\",\"name\":"
	    "\"web_search\"},\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}",
	    out, sizeof out, &err), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.msg, "tool_choice forces the hosted tool "
	    "'web_search_20250305', which cannot run on the chat upstream");
	/* a client-run non-function tool still cannot be converted */
	ck_assert_int_eq(conv_str(PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	    "{\"model\":\"m\",\"max_tokens\":5,\"tools\":[{\"type\":\"bash_20250124\","
	    "\"name\":\"bash\"}],\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}",
	    out, sizeof out, &err), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_ptr_nonnull(strstr(err.msg, "bash_20250124"));
	/* Anthropic budget -> effort; output_config.format -> response_format */
	ck_assert_int_eq(conv_str(PX_FMT_ANTHROPIC, PX_FMT_CHAT,
	    "{\"model\":\"m\",\"max_tokens\":5000,\"thinking\":{\"type\":\"enabled\","
	    "\"budget_tokens\":2000},\"metadata\":{\"user_id\":\"u\"},"
	    "\"output_config\":{\"format\":{\"type\":\"json_schema\",\"schema\":{\"type\":\"object\"}}},"
	    "\"tool_choice\":{\"type\":\"tool\",\"name\":\"f\"},"
	    "\"tools\":[{\"name\":\"f\",\"input_schema\":{\"type\":\"object\"}}],"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}",
	    out, sizeof out, &err), 0);
	ck_assert_str_eq(out,
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
	    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
	    "\"parameters\":{\"type\":\"object\"}}}],"
	    "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}},"
	    "\"max_completion_tokens\":5000,\"user\":\"u\",\"reasoning_effort\":\"medium\","
	    "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"response\","
	    "\"schema\":{\"type\":\"object\"}}}}");
}
END_TEST

/* ----------------------------------------------------------- responses */

static const char *const resp_cases[][2] = {
	{ "anthropic_response_text", "resp_anth2chat_text.json" },
	{ "anthropic_response_thinking", "resp_anth2chat_thinking.json" },
	{ "anthropic_response_tool_use", "resp_anth2chat_tool_use.json" },
	{ "openai_chat_response_text", "resp_chat2anth_text.json" },
	{ "openai_chat_response_tool_calls", "resp_chat2anth_tool_calls.json" },
};
#define NRESP (sizeof resp_cases / sizeof resp_cases[0])

START_TEST(t_response_golden)
{
	char path[256];
	struct px_arena a;
	struct jw w;
	struct ir_request req;
	struct ir_response resp;
	struct px_err err;
	enum px_fmt from = fmt_of(resp_cases[_i][0]);
	enum px_fmt to = from == PX_FMT_CHAT ? PX_FMT_ANTHROPIC : PX_FMT_CHAT;
	size_t n;
	char *src;
	struct buf b;

	px_set_deterministic(1700000000);
	snprintf(path, sizeof path, FIX "%s.json", resp_cases[_i][0]);
	src = read_file(path, &n);
	ck_assert_ptr_nonnull(src);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_decode_request(to, &a, to == PX_FMT_CHAT ? chat_client :
	    anth_client, strlen(to == PX_FMT_CHAT ? chat_client : anth_client),
	    &req, &err), 0);
	ck_assert_int_eq(px_decode_response(from, &a, src, n, &resp, &err), 0);
	ck_assert_int_eq(px_encode_response(to, &req, &resp, &w, &err), 0);
	b = out_copy(&w);
	golden_check(resp_cases[_i][1], &b);
	free(b.p);
	px_arena_free(&a);
	free(src);
}
END_TEST

/* -------------------------------------------------------------- errors */

static const char *const err_cases[][2] = {
	{ "openai_error_400_context_length", "400" },
	{ "openai_error_401", "401" },
	{ "openai_error_429", "429" },
	{ "anthropic_error_400", "400" },
	{ "anthropic_error_429", "429" },
	{ "anthropic_error_529", "529" },
};
#define NERR (sizeof err_cases / sizeof err_cases[0])

START_TEST(t_error_golden)
{
	char path[256], name[128];
	struct px_arena a;
	struct jw w;
	struct ir_error e;
	size_t n;
	char *src;
	struct buf b;
	enum px_fmt from = fmt_of(err_cases[_i][0]), to;
	int st = atoi(err_cases[_i][1]);

	snprintf(path, sizeof path, FIX "%s.json", err_cases[_i][0]);
	src = read_file(path, &n);
	ck_assert_ptr_nonnull(src);
	for (to = PX_FMT_CHAT; to <= PX_FMT_ANTHROPIC; to += 2) {
		px_arena_init(&a, 0);
		jw_init(&w, &a, 0);
		px_decode_error(from, &a, st, src, n, &e);
		ck_assert_int_eq(e.status, st);
		ck_assert_uint_gt(e.message.n, 0);
		px_encode_error(to, &e, &w);
		b = out_copy(&w);
		snprintf(name, sizeof name, "err_%s_to_%s.json", err_cases[_i][0],
		    px_fmt_name(to));
		golden_check(name, &b);
		/* 529 stays only for Anthropic clients (WIRE.md §5) */
		ck_assert_int_eq(px_error_status(to, &e),
		    st == 529 && to != PX_FMT_ANTHROPIC ? 503 : st);
		free(b.p);
		px_arena_free(&a);
	}
	free(src);
}
END_TEST

START_TEST(t_error_nonjson)
{
	struct px_arena a;
	struct jw w;
	struct ir_error e;
	const char *body = "<html>Bad Gateway</html>\n";

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	px_decode_error(PX_FMT_ANTHROPIC, &a, 502, body, strlen(body), &e);
	ck_assert_int_eq(e.status, 502);
	px_encode_error(PX_FMT_CHAT, &e, &w);
	ck_assert_int_eq(w.len, strlen("{\"error\":{\"message\":\"<html>Bad Gateway</html>\","
	    "\"type\":\"server_error\",\"param\":null,\"code\":null}}"));
	ck_assert(memcmp(w.buf, "{\"error\":{\"message\":\"<html>Bad Gateway</html>\","
	    "\"type\":\"server_error\",\"param\":null,\"code\":null}}", w.len) == 0);
	jw_reset(&w);
	px_error_simple(PX_FMT_ANTHROPIC, 401, "bad key", &w);
	{
		const char *want = "{\"type\":\"error\",\"error\":{\"type\":"
		    "\"authentication_error\",\"message\":\"bad key\"}}";
		ck_assert(w.len == strlen(want) && memcmp(w.buf, want, w.len) == 0);
	}
	px_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------- streams */

/*
 * Feed src through sse.c in pieces: split == 0 whole, else first piece of
 * `split` bytes then the rest. `cut` > 0 truncates the input first.
 */
static struct buf
run_stream(enum px_fmt up, enum px_fmt client, const char *src, size_t n,
           size_t split, int *end_rc)
{
	struct px_arena a;
	struct jw w;
	struct ir_request req;
	struct px_err err;
	struct px_stream *s;
	struct sse_parser p;
	struct sse_event ev;
	struct buf b;
	size_t piece[2], k, off;
	int got;
	long c;
	const char *cr = client == PX_FMT_CHAT ? chat_client : anth_client;

	px_set_deterministic(1700000000);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_decode_request(client, &a, cr, strlen(cr), &req, &err), 0);
	s = px_stream_new(&a, up, client, &req);
	ck_assert_ptr_nonnull(s);
	px_stream_begin(s, &w);
	sse_init(&p);
	piece[0] = split ? split : n;
	piece[1] = n - piece[0];
	for (k = 0, off = 0; k < 2; k++) {
		struct guard g;
		const char *in = guard_copy(&g, src + off, piece[k]);
		size_t used = 0;
		while (used < piece[k]) {
			c = sse_feed(&p, in + used, piece[k] - used, &ev, &got);
			ck_assert_int_ge(c, 0);
			used += (size_t)c;
			if (got)
				px_stream_feed(s, &ev, &w);
			if (c == 0 && !got)
				break;
		}
		guard_free(&g);
		off += piece[k];
	}
	if (sse_finish(&p, &ev))
		px_stream_feed(s, &ev, &w);
	*end_rc = px_stream_end(s, &w);
	ck_assert(px_stream_done(s));
	ck_assert_int_eq(w.err, 0);
	b = out_copy(&w);
	sse_free(&p);
	px_arena_free(&a);
	return b;
}

static const char *const stream_fixtures[] = {
	"openai_chat_stream_error_midstream",
	"openai_chat_stream_length",
	"openai_chat_stream_logprobs",
	"openai_chat_stream_n3_json_schema",
	"openai_chat_stream_reasoning_content",
	"openai_chat_stream_reasoning_openrouter",
	"openai_chat_stream_refusal",
	"openai_chat_stream_text",
	"openai_chat_stream_tool_single",
	"openai_chat_stream_tools_parallel",
	"anthropic_stream_error_overloaded",
	"anthropic_stream_max_tokens_truncated_tool",
	"anthropic_stream_stop_sequence_unicode",
	"anthropic_stream_text",
	"anthropic_stream_thinking",
	"anthropic_stream_thinking_parallel_tool_use",
	"anthropic_stream_tool_use",
};
#define NSTREAM (sizeof stream_fixtures / sizeof stream_fixtures[0])

/* Streams whose whole output is compared with a golden file. */
static int
stream_has_golden(const char *name)
{
	return strcmp(name, "openai_chat_stream_text") == 0 ||
	    strcmp(name, "openai_chat_stream_tools_parallel") == 0 ||
	    strcmp(name, "openai_chat_stream_reasoning_openrouter") == 0 ||
	    strcmp(name, "anthropic_stream_text") == 0 ||
	    strcmp(name, "anthropic_stream_tool_use") == 0 ||
	    strcmp(name, "anthropic_stream_thinking_parallel_tool_use") == 0;
}

/* Chat client invariants (WIRE.md Part 2 §5 A). */
static void
check_chat_stream(const struct buf *b, int is_error)
{
	struct px_arena a;
	const char *p = b->p, *e;
	int roles = 0, next_tool = 0, finishes = 0, done = 0;

	px_arena_init(&a, 0);
	while (*p) {
		ck_assert_msg(strncmp(p, "data: ", 6) == 0, "bad frame at %s", p);
		p += 6;
		e = strstr(p, "\n\n");
		ck_assert_ptr_nonnull(e);
		ck_assert_int_eq(done, 0);      /* nothing after [DONE] */
		if ((size_t)(e - p) == 6 && memcmp(p, "[DONE]", 6) == 0) {
			done = 1;
		} else {
			struct json *j = json_parse(&a, p, (size_t)(e - p), 0, NULL);
			struct json *ch, *d, *tc, *t;
			long long idx;
			ck_assert_ptr_nonnull(j);
			if (json_get(j, "error")) {
				ck_assert(is_error);
				ck_assert_str_eq(e + 2, "");
				break;
			}
			{
				size_t on = 0;
				const char *o = json_get_str(j, "object", &on);
				ck_assert(o && json_eq(o, on, "chat.completion.chunk"));
			}
			ch = json_get(j, "choices");
			ck_assert_ptr_nonnull(ch);
			if (ch->len == 0) {
				ck_assert_ptr_nonnull(json_get(j, "usage"));
			} else {
				ck_assert_ptr_nonnull(json_get(ch->child, "finish_reason"));
				if (json_get(ch->child, "finish_reason")->type != JSON_NULL)
					finishes++;
				d = json_get(ch->child, "delta");
				if (json_get(d, "role"))
					roles++;
				tc = json_get(d, "tool_calls");
				for (t = tc ? tc->child : NULL; t; t = t->next) {
					ck_assert(json_int(json_get(t, "index"), &idx));
					if (json_get(t, "id")) {
						ck_assert_int_eq(idx, next_tool);
						next_tool++;
						ck_assert_ptr_nonnull(json_get(t, "type"));
					} else {
						ck_assert_int_eq(idx, next_tool - 1);
						ck_assert_ptr_null(json_get(json_get(t, "function"), "name"));
					}
				}
			}
		}
		p = e + 2;
	}
	ck_assert_int_eq(roles, 1);
	if (!is_error) {
		ck_assert_int_eq(done, 1);
		ck_assert_int_eq(finishes, 1);
	}
	px_arena_free(&a);
}

/* Anthropic client invariants: event line == type, block grammar. */
static void
check_anth_stream(const struct buf *b, int is_error)
{
	struct px_arena a;
	const char *p = b->p, *nl, *e;
	char ev[64];
	int started = 0, open = -1, next = 0, delta = 0, stopped = 0, err = 0;

	px_arena_init(&a, 0);
	while (*p) {
		struct json *j;
		long long idx = -1;
		ck_assert_int_eq(stopped, 0);
		ck_assert_int_eq(err, 0);
		ck_assert_msg(strncmp(p, "event: ", 7) == 0, "no event line: %s", p);
		nl = strchr(p, '\n');
		ck_assert_uint_lt((size_t)(nl - p - 7), sizeof ev);
		memcpy(ev, p + 7, (size_t)(nl - p - 7));
		ev[nl - p - 7] = 0;
		p = nl + 1;
		ck_assert(strncmp(p, "data: ", 6) == 0);
		p += 6;
		e = strstr(p, "\n\n");
		j = json_parse(&a, p, (size_t)(e - p), 0, NULL);
		ck_assert_ptr_nonnull(j);
		ck_assert(json_eq(json_get_str(j, "type", NULL), strlen(ev), ev));
		json_int(json_get(j, "index"), &idx);
		if (!strcmp(ev, "message_start")) {
			ck_assert_int_eq(started, 0);
			started = 1;
		} else if (!strcmp(ev, "content_block_start")) {
			ck_assert(started && open < 0 && idx == next);
			open = (int)idx;
			next++;
		} else if (!strcmp(ev, "content_block_delta")) {
			ck_assert(open >= 0 && idx == open);
		} else if (!strcmp(ev, "content_block_stop")) {
			ck_assert(open >= 0 && idx == open);
			open = -1;
		} else if (!strcmp(ev, "message_delta")) {
			ck_assert(open < 0 && !delta && started);
			ck_assert_ptr_nonnull(json_get(json_get(j, "usage"), "output_tokens"));
			delta = 1;
		} else if (!strcmp(ev, "message_stop")) {
			ck_assert(delta);
			stopped = 1;
		} else if (!strcmp(ev, "error")) {
			err = 1;
		} else {
			ck_assert_str_eq(ev, "ping");
		}
		p = e + 2;
	}
	ck_assert(is_error ? err : stopped);
	px_arena_free(&a);
}

START_TEST(t_stream_fixture)
{
	const char *name = stream_fixtures[_i / 2];
	enum px_fmt up = fmt_of(name);
	enum px_fmt client = (_i % 2) ? PX_FMT_ANTHROPIC : PX_FMT_CHAT;
	char path[256], gname[160];
	size_t n, k;
	char *src;
	struct buf whole, part;
	int rc, rc2, is_error = strstr(name, "error") != NULL;

	snprintf(path, sizeof path, FIX "%s.sse", name);
	src = read_file(path, &n);
	ck_assert_ptr_nonnull(src);
	whole = run_stream(up, client, src, n, 0, &rc);
	ck_assert_int_eq(rc, is_error ? 0 : 1);
	if (client == PX_FMT_CHAT)
		check_chat_stream(&whole, is_error);
	else
		check_anth_stream(&whole, is_error);
	if (stream_has_golden(name)) {
		snprintf(gname, sizeof gname, "stream_%s_to_%s.sse", name,
		    px_fmt_name(client));
		golden_check(gname, &whole);
	}
	for (k = 1; k < n; k++) {
		part = run_stream(up, client, src, n, k, &rc2);
		ck_assert_int_eq(rc2, rc);
		ck_assert_msg(part.n == whole.n && memcmp(part.p, whole.p, whole.n) == 0,
		    "%s split at %zu differs", name, k);
		free(part.p);
	}
	free(whole.p);
	free(src);
}
END_TEST

/* Truncate before the terminal event: the client must get an error. */
START_TEST(t_stream_cutoff)
{
	const char *name = stream_fixtures[_i / 2];
	enum px_fmt up = fmt_of(name);
	enum px_fmt client = (_i % 2) ? PX_FMT_ANTHROPIC : PX_FMT_CHAT;
	char path[256];
	size_t n, cut;
	char *src, *t;
	struct buf b;
	int rc;

	if (strstr(name, "error"))
		return;
	snprintf(path, sizeof path, FIX "%s.sse", name);
	src = read_file(path, &n);
	ck_assert_ptr_nonnull(src);
	if (up == PX_FMT_ANTHROPIC)
		t = strstr(src, "event: message_stop");
	else {
		/* before the chunk carrying finish_reason */
		t = strstr(src, "\"finish_reason\":\"");
		while (t > src && !(t[-1] == '\n' && t[0] == 'd'))
			t--;
	}
	ck_assert_ptr_nonnull(t);
	cut = (size_t)(t - src);
	b = run_stream(up, client, src, cut, 0, &rc);
	ck_assert_int_eq(rc, 0);
	if (client == PX_FMT_CHAT) {
		const char *tail = "data: {\"error\":{\"message\":\"upstream stream ended "
		    "before completion\",\"type\":\"server_error\",\"param\":null,"
		    "\"code\":null}}\n\n";
		ck_assert_uint_ge(b.n, strlen(tail));
		ck_assert_str_eq(b.p + b.n - strlen(tail), tail);
		ck_assert_ptr_null(strstr(b.p, "[DONE]"));
		check_chat_stream(&b, 1);
	} else {
		const char *tail = "event: error\ndata: {\"type\":\"error\",\"error\":"
		    "{\"type\":\"api_error\",\"message\":\"upstream stream ended before "
		    "completion\"}}\n\n";
		ck_assert_uint_ge(b.n, strlen(tail));
		ck_assert_str_eq(b.p + b.n - strlen(tail), tail);
		ck_assert_ptr_null(strstr(b.p, "message_stop"));
		check_anth_stream(&b, 1);
	}
	free(b.p);
	free(src);
}
END_TEST

/* Interleaved parallel Chat tool calls come out as consecutive blocks. */
START_TEST(t_stream_interleaved_tools)
{
	const char *src =
	    "data: {\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},\"finish_reason\":null}]}\n\n"
	    "data: {\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}}]},\"finish_reason\":null}]}\n\n"
	    "data: {\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"y\\\":\"}}]},\"finish_reason\":null}]}\n\n"
	    "data: {\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},\"finish_reason\":null}]}\n\n"
	    "data: {\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"2}\"}}]},\"finish_reason\":null}]}\n\n"
	    "data: {\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
	    "data: [DONE]\n\n";
	const char *want =
	    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_000000000000000000000001\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"client-model\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":0}}}\n\n"
	    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"f\",\"input\":{}}}\n\n"
	    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"x\\\"\"}}\n\n"
	    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\":1}\"}}\n\n"
	    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
	    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"b\",\"name\":\"g\",\"input\":{}}}\n\n"
	    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"y\\\":\"}}\n\n"
	    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"2}\"}}\n\n"
	    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
	    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":0}}\n\n"
	    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
	struct buf b;
	int rc;

	b = run_stream(PX_FMT_CHAT, PX_FMT_ANTHROPIC, src, strlen(src), 0, &rc);
	ck_assert_int_eq(rc, 1);
	ck_assert_str_eq(b.p, want);
	free(b.p);
}
END_TEST

/* Observe-only mode: no output, still tracks usage and completion. */
START_TEST(t_stream_observe)
{
	struct px_arena a;
	struct ir_request req;
	struct px_err err;
	struct px_stream *s;
	struct sse_parser p;
	struct sse_event ev;
	size_t n = 0, off = 0;
	int got;
	long c;
	char *src = read_file(FIX "anthropic_stream_text.sse", &n);

	px_arena_init(&a, 0);
	ck_assert_int_eq(px_decode_request(PX_FMT_ANTHROPIC, &a, anth_client,
	    strlen(anth_client), &req, &err), 0);
	s = px_stream_new(&a, PX_FMT_ANTHROPIC, PX_FMT_ANTHROPIC, &req);
	sse_init(&p);
	while (off < n) {
		c = sse_feed(&p, src + off, n - off, &ev, &got);
		ck_assert_int_gt(c, 0);
		off += (size_t)c;
		if (got)
			ck_assert_int_eq(px_stream_feed(s, &ev, NULL), 0);
	}
	ck_assert_int_eq(px_stream_end(s, NULL), 1);
	ck_assert_int_gt(px_stream_usage(s)->output, 0);
	sse_free(&p);
	px_arena_free(&a);
	free(src);
}
END_TEST

/* --------------------------------------------------------------- misc */

START_TEST(t_rewrite_model)
{
	const char *body = "{ \"messages\" : [ {\"model\":\"inner\"} ],\n"
	    "  \"model\" : \"gpt-4o\" , \"x\":1 }";
	const char *want = "{ \"messages\" : [ {\"model\":\"inner\"} ],\n"
	    "  \"model\" : \"my\\\"model\" , \"x\":1 }";
	struct px_arena a;
	struct jw w;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_rewrite_model(body, strlen(body), px_str_c("my\"model"),
	    &w), 0);
	ck_assert_uint_eq(w.len, strlen(want));
	ck_assert(memcmp(w.buf, want, w.len) == 0);
	jw_reset(&w);
	ck_assert_int_eq(px_rewrite_model("{\"a\":1}", 7, px_str_c("m"), &w), 0);
	ck_assert(w.len == 7 && memcmp(w.buf, "{\"a\":1}", 7) == 0);
	jw_reset(&w);
	ck_assert_int_eq(px_rewrite_model("[1]", 3, px_str_c("m"), &w), -1);
	px_arena_free(&a);
}
END_TEST

START_TEST(t_paths_and_tables)
{
	char buf[128];
	enum px_fmt f;

	ck_assert_int_eq(px_upstream_path(PX_FMT_CHAT, px_str_c("m"), 1, buf, sizeof buf), 17);
	ck_assert_str_eq(buf, "/chat/completions");
	px_upstream_path(PX_FMT_ANTHROPIC, px_str_c("m"), 0, buf, sizeof buf);
	ck_assert_str_eq(buf, "/v1/messages");
	px_upstream_path(PX_FMT_RESPONSES, px_str_c("m"), 0, buf, sizeof buf);
	ck_assert_str_eq(buf, "/responses");
	px_upstream_path(PX_FMT_GEMINI, px_str_c("gemini-2.5-flash"), 1, buf, sizeof buf);
	ck_assert_str_eq(buf, "/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
	px_upstream_path(PX_FMT_GEMINI, px_str_c("models/g x"), 0, buf, sizeof buf);
	ck_assert_str_eq(buf, "/models/g%20x:generateContent");
	ck_assert_int_eq(px_upstream_path(PX_FMT_GEMINI, px_str_c("gemini"), 0, buf, 10), -1);
	ck_assert(px_fmt_parse("openai", 6, &f) && f == PX_FMT_CHAT);
	ck_assert(px_fmt_parse("anthropic", 9, &f) && f == PX_FMT_ANTHROPIC);
	ck_assert(!px_fmt_parse("claude", 6, &f));
	ck_assert_int_eq(px_effort_budget(IR_EFFORT_MINIMAL), 512);
	ck_assert_int_eq(px_effort_budget(IR_EFFORT_XHIGH), 8192);
	ck_assert_int_eq(px_budget_effort(0), IR_EFFORT_NONE);
	ck_assert_int_eq(px_budget_effort(1024), IR_EFFORT_LOW);
	ck_assert_int_eq(px_budget_effort(8192), IR_EFFORT_MEDIUM);
	ck_assert_int_eq(px_budget_effort(8193), IR_EFFORT_HIGH);
	ck_assert_str_eq(px_effort_name(IR_EFFORT_XHIGH), "xhigh");
}
END_TEST

START_TEST(t_schema_gemini)
{
	const char *in = "{\"$schema\":\"x\",\"type\":\"object\",\"title\":\"T\","
	    "\"additionalProperties\":false,\"properties\":{\"default\":{\"type\":"
	    "\"string\",\"default\":\"a\",\"const\":\"a\"},\"n\":{\"type\":\"integer\","
	    "\"exclusiveMinimum\":0,\"minimum\":1}},\"$defs\":{},\"required\":[\"n\"]}";
	const char *want = "{\"type\":\"object\",\"title\":\"T\",\"properties\":"
	    "{\"default\":{\"type\":\"string\",\"enum\":[\"a\"]},\"n\":{\"type\":"
	    "\"integer\",\"minimum\":1}},\"required\":[\"n\"]}";
	struct px_arena a;
	struct jw w;
	struct json *j;

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	j = json_parse(&a, in, strlen(in), 0, NULL);
	px_schema_gemini(&w, j);
	ck_assert_uint_eq(w.len, strlen(want));
	ck_assert(memcmp(w.buf, want, w.len) == 0);
	px_arena_free(&a);
}
END_TEST

START_TEST(t_data_url)
{
	struct px_str m, d, u;
	struct px_arena a;

	ck_assert(px_data_url_split(px_str_c("data:image/png;base64,AAAA"), &m, &d));
	ck_assert(px_str_eq(m, "image/png") && px_str_eq(d, "AAAA"));
	ck_assert(!px_data_url_split(px_str_c("https://x/y.png"), &m, &d));
	ck_assert(!px_data_url_split(px_str_c("data:text/plain,hi"), &m, &d));
	px_arena_init(&a, 0);
	u = px_data_url_make(&a, m, d);
	ck_assert(px_str_eq(u, "data:image/png;base64,AAAA"));
	px_set_deterministic(1700000000);
	ck_assert(px_str_eq(px_new_id(&a, "msg_"), "msg_000000000000000000000001"));
	ck_assert_int_eq(px_now(), 1700000000);
	px_arena_free(&a);
}
END_TEST

static Suite *
convert_suite(void)
{
	Suite *s = suite_create("convert");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, t_request_golden, 0, (int)NREQ);
	tcase_add_test(tc, t_signature_exact);
	tcase_add_test(tc, t_n_gt_1);
	tcase_add_test(tc, t_malformed_json);
	tcase_add_test(tc, t_request_rules);
	tcase_add_loop_test(tc, t_response_golden, 0, (int)NRESP);
	tcase_add_loop_test(tc, t_error_golden, 0, (int)NERR);
	tcase_add_test(tc, t_error_nonjson);
	tcase_add_loop_test(tc, t_stream_fixture, 0, (int)NSTREAM * 2);
	tcase_add_loop_test(tc, t_stream_cutoff, 0, (int)NSTREAM * 2);
	tcase_add_test(tc, t_stream_interleaved_tools);
	tcase_add_test(tc, t_stream_observe);
	tcase_add_test(tc, t_rewrite_model);
	tcase_add_test(tc, t_paths_and_tables);
	tcase_add_test(tc, t_schema_gemini);
	tcase_add_test(tc, t_data_url);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(convert_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
