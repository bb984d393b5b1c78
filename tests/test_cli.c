/*
 * test_cli.c - command-line upstreams (PX_FMT_CLI): the JSON-lines framer,
 * the stream-json decoder for every client format, the non-streamed
 * aggregation and the conversation as the command's input.
 *
 * The recorded outputs are tests/fixtures/claude_cli_*.jsonl (Claude Code
 * 2.1.329 against the mock upstream, see SOURCES.md). Golden files in
 * tests/golden/cli/ are EXACT expected output (px_set_deterministic):
 *   stream_cli_to_<client>__<fixture>.sse   streams (every split offset of
 *                                           the output must give the same
 *                                           bytes)
 *   resp_cli_to_<client>__<fixture>.json    non-streamed answers
 *   req_<client>_to_cli__<name>.jsonl       the command's input
 * A conversion that must fail is stored as "ERROR <status>: <message>".
 * PX_GOLDEN_WRITE=1 rewrites them (then review every diff by hand);
 * otherwise a mismatch writes the actual output to build/golden-actual/.
 * Run from the repository root.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert_int.h"
#include "json.h"
#include "sse.h"
#include "testutil.h"

#define FIX  "tests/fixtures/"
#define GOLD "tests/golden/cli/"
#define NOW  1700000000LL

static const char *const fixtures[] = {
	"claude_cli_stream_text",
	"claude_cli_stream_text_partial",
	"claude_cli_stream_thinking_partial",
	"claude_cli_stream_tools",
	"claude_cli_stream_tools_partial",
	"claude_cli_stream_bash_max_turns",
	"claude_cli_stream_retry_then_text",
	"claude_cli_stream_error_api400",
	"claude_cli_stream_error_not_logged_in",
};
#define NFIX (int)(sizeof fixtures / sizeof fixtures[0])

/* client formats, with the Gemini JSON-array stream as its own */
static const struct { const char *tag; enum px_fmt f; int array; } clients[] = {
	{ "chat", PX_FMT_CHAT, 0 },
	{ "responses", PX_FMT_RESPONSES, 0 },
	{ "anthropic", PX_FMT_ANTHROPIC, 0 },
	{ "gemini", PX_FMT_GEMINI, 0 },
	{ "gemini_array", PX_FMT_GEMINI, 1 },
	{ "completions", PX_FMT_COMPLETIONS, 0 },
};
#define NCL (int)(sizeof clients / sizeof clients[0])

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
	size_t en = 0, i = 0;
	char *exp;
	FILE *f;

	snprintf(path, sizeof path, GOLD "%s", name);
	if (getenv("PX_GOLDEN_WRITE")) {
		mkdir("tests/golden", 0755);
		mkdir(GOLD, 0755);
		f = fopen(path, "wb");
		ck_assert_msg(f != NULL, "cannot write %s", path);
		fwrite(got, 1, n, f);
		fclose(f);
		return;
	}
	exp = read_file(path, &en);
	if (!exp || en != n || memcmp(exp, got, n) != 0) {
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
	const char *b;
	struct px_err err;

	switch (f) {
	case PX_FMT_CHAT:
		b = stream ? "{\"model\":\"client-model\",\"messages\":[{\"role\":"
		    "\"user\",\"content\":\"hi\"}],\"stream\":true,"
		    "\"stream_options\":{\"include_usage\":true}}" :
		    "{\"model\":\"client-model\",\"messages\":[{\"role\":"
		    "\"user\",\"content\":\"hi\"}]}";
		break;
	case PX_FMT_RESPONSES:
		b = stream ? "{\"model\":\"client-model\",\"input\":\"hi\","
		    "\"stream\":true}" :
		    "{\"model\":\"client-model\",\"input\":\"hi\"}";
		break;
	case PX_FMT_ANTHROPIC:
		b = stream ? "{\"model\":\"client-model\",\"max_tokens\":100,"
		    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
		    "\"stream\":true}" :
		    "{\"model\":\"client-model\",\"max_tokens\":100,"
		    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
		break;
	case PX_FMT_GEMINI:
		b = "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":"
		    "\"hi\"}]}]}";
		break;
	default:
		b = stream ? "{\"model\":\"client-model\",\"prompt\":\"hi\","
		    "\"stream\":true}" :
		    "{\"model\":\"client-model\",\"prompt\":\"hi\"}";
		break;
	}
	ck_assert_int_eq(px_decode_request(f, a, b, strlen(b), req, &err), 0);
	if (f == PX_FMT_GEMINI) {
		req->model = px_str_c("client-model");
		req->stream = stream;
	}
}

/* Lines of body through the framer, fed [0,split) then the rest (0 =
 * whole; (size_t)-1 = byte by byte), into a stream for client c. */
static char *
conv_stream(int c, const char *body, size_t n, size_t split, int *clean,
            struct ir_usage *usage)
{
	struct px_arena a;
	struct ir_request req;
	struct px_stream *s;
	struct px_jsonl jl;
	struct px_str line;
	struct sse_event ev;
	struct jw w;
	size_t off = 0, end, step;
	long used;
	int got;
	char *r;

	px_set_deterministic(NOW);
	px_arena_init(&a, 0);
	memset(&jl, 0, sizeof jl);
	memset(&ev, 0, sizeof ev);
	ev.event = ev.id = "";
	jw_init(&w, &a, 1u << 26);
	client_req(&a, clients[c].f, 1, &req);
	req.gemini_array_stream = clients[c].array;
	s = px_stream_new(&a, PX_FMT_CLI, clients[c].f, &req);
	ck_assert_ptr_nonnull(s);
	px_stream_begin(s, &w);
	while (off < n) {
		if (split == (size_t)-1)
			step = 1;
		else if (split && off < split)
			step = split - off;
		else
			step = n - off;
		end = off + step;
		while (off < end) {
			used = px_jsonl_feed(&jl, body + off, end - off, &line,
			    &got);
			ck_assert_int_ge(used, 0);
			off += (size_t)used;
			if (got == PX_JSONL_LINE && px_cli_line(line.p, line.n)) {
				ev.data = line.p;
				ev.data_len = line.n;
				px_stream_feed(s, &ev, &w);
			}
		}
	}
	if (px_jsonl_finish(&jl, &line) == PX_JSONL_LINE &&
	    px_cli_line(line.p, line.n)) {
		ev.data = line.p;
		ev.data_len = line.n;
		px_stream_feed(s, &ev, &w);
	}
	*clean = px_stream_end(s, &w);
	if (usage)
		*usage = *px_stream_usage(s);
	px_jsonl_free(&jl);
	ck_assert_int_eq(w.err, 0);
	r = malloc(w.len + 1);
	memcpy(r, w.buf, w.len);
	r[w.len] = 0;
	px_arena_free(&a);
	return r;
}

static char *
conv_resp(enum px_fmt to, const char *body, size_t n, size_t *outn)
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
	if (px_decode_response(PX_FMT_CLI, &a, body, n, &resp, &err) != 0 ||
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

/* A request in format from, as the command's input (or "ERROR ..."). */
static char *
conv_req(enum px_fmt from, const char *body, size_t n, size_t *outn,
         char *dropped, size_t dcap)
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
	if (dropped)
		dropped[0] = 0;
	if (px_decode_request(from, &a, body, n, &req, &err) != 0 ||
	    px_encode_request(PX_FMT_CLI, &req, px_str_c("sonnet"), &w,
	    &err) != 0) {
		r = malloc(300);
		*outn = (size_t)snprintf(r, 300, "ERROR %d: %s\n", err.status,
		    err.msg);
		px_arena_free(&a);
		return r;
	}
	if (dropped)
		px_dropped_tools(PX_FMT_CLI, &req, dropped, dcap);
	r = malloc(w.len + 1);
	memcpy(r, w.buf, w.len);
	r[w.len] = 0;
	*outn = w.len;
	px_arena_free(&a);
	return r;
}

/* ------------------------------------------------------------ framer */

/* Lines of in, framed from pieces of `step` bytes (0 = whole), joined
 * with '|' (an over-long line as "LONG(<head>)"). */
static char *
frame(const char *in, size_t n, size_t step)
{
	struct px_jsonl jl;
	struct px_str l;
	size_t off = 0, end;
	char *out = calloc(1, 2 * n + 64);
	long used;
	int got, k;

	memset(&jl, 0, sizeof jl);
	while (off < n) {
		end = step ? (off + step < n ? off + step : n) : n;
		while (off < end) {
			used = px_jsonl_feed(&jl, in + off, end - off, &l, &got);
			ck_assert_int_ge(used, 1);
			off += (size_t)used;
			if (got == PX_JSONL_LINE)
				sprintf(out + strlen(out), "%.*s|", (int)l.n, l.p);
			else if (got == PX_JSONL_LONG)
				sprintf(out + strlen(out), "LONG(%.*s)|",
				    (int)(l.n > 8 ? 8 : l.n), l.p);
		}
	}
	k = px_jsonl_finish(&jl, &l);
	if (k == PX_JSONL_LINE)
		sprintf(out + strlen(out), "%.*s|", (int)l.n, l.p);
	else if (k == PX_JSONL_LONG)
		sprintf(out + strlen(out), "LONG(%.*s)|", (int)(l.n > 8 ? 8 :
		    l.n), l.p);
	px_jsonl_free(&jl);
	return out;
}

static const struct { const char *in, *want; } frame_cases[] = {
	{ "", "" },
	{ "a\n", "a|" },
	{ "a\nb\n", "a|b|" },
	{ "a\r\nb\r\n", "a|b|" },
	{ "a\nb", "a|b|" },                /* unterminated tail */
	{ "\n\n", "||" },                  /* empty lines are lines */
	{ "{\"x\":\"\xc3\xa9\"}\n", "{\"x\":\"\xc3\xa9\"}|" },
	{ "a\rb\n", "a\rb|" },             /* a lone CR is a byte */
};

START_TEST(t_frame)
{
	const char *in = frame_cases[_i].in;
	size_t n = strlen(in), k;
	struct guard g;
	char *got, *p;

	p = guard_copy(&g, in, n);
	for (k = 0; k <= n; k++) {
		got = frame(p, n, k);
		ck_assert_msg(strcmp(got, frame_cases[_i].want) == 0,
		    "case %d step %zu: got '%s'", _i, k, got);
		free(got);
	}
	guard_free(&g);
}
END_TEST

/* A line over PX_JSONL_LINE_MAX is reported once, with its head, and
 * the lines around it survive; the buffer never grows past the bound. */
START_TEST(t_frame_long)
{
	size_t big = PX_JSONL_LINE_MAX + 100, n = big + 16, k;
	static const size_t steps[] = { 0, 1 << 16, 4096, 1000003 };
	char *in = malloc(n), *got;

	memcpy(in, "ok\n", 3);
	memset(in + 3, 'x', big);
	memcpy(in + 3, "{\"type\"", 7);
	memcpy(in + 3 + big, "\nafter\n", 7);
	n = 3 + big + 7;
	for (k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		got = frame(in, n, steps[k]);
		ck_assert_msg(strcmp(got, "ok|LONG({\"type\"x)|after|") == 0,
		    "step %zu: %.80s", steps[k], got);
		free(got);
	}
	/* unterminated at the end */
	got = frame(in, 3 + big, 1 << 16);
	ck_assert_str_eq(got, "ok|LONG({\"type\"x)|");
	free(got);
	free(in);
}
END_TEST

START_TEST(t_cli_line)
{
	ck_assert_int_eq(px_cli_line("{}", 2), 1);
	ck_assert_int_eq(px_cli_line("  \t{\"a\":1}", 10), 1);
	ck_assert_int_eq(px_cli_line("", 0), 0);
	ck_assert_int_eq(px_cli_line("   ", 3), 0);
	ck_assert_int_eq(px_cli_line("Debugger attached.", 18), 0);
	ck_assert_int_eq(px_cli_line("[1,2]", 5), 0);
}
END_TEST

/* Every fixture frames to the same lines whole and byte by byte (every
 * split offset is in t_golden_streams, through the whole conversion). */
START_TEST(t_frame_fixtures)
{
	size_t n;
	char *body = NULL, name[128], *whole, *one;

	snprintf(name, sizeof name, "%s.jsonl", fixtures[_i]);
	body = load(name, &n);
	whole = frame(body, n, 0);
	one = frame(body, n, 1);
	ck_assert_str_eq(one, whole);
	ck_assert_int_gt((int)strlen(whole), 0);
	free(one);
	free(whole);
	free(body);
}
END_TEST

/* ------------------------------------------------------------ streams */

START_TEST(t_golden_streams)
{
	char file[256], gname[256], *body, *whole, *out;
	size_t n, k;
	int c, clean, c2;

	snprintf(file, sizeof file, "%s.jsonl", fixtures[_i]);
	body = load(file, &n);
	for (c = 0; c < NCL; c++) {
		whole = conv_stream(c, body, n, 0, &clean, NULL);
		snprintf(gname, sizeof gname, "stream_cli_to_%s__%s.sse",
		    clients[c].tag, fixtures[_i]);
		golden(gname, whole, strlen(whole));
		out = conv_stream(c, body, n, (size_t)-1, &c2, NULL);
		ck_assert_msg(strcmp(out, whole) == 0, "%s byte by byte "
		    "differs", gname);
		ck_assert_int_eq(c2, clean);
		free(out);
		/* every split offset (the output's reads end anywhere) */
		for (k = 1; k < n; k += c == 0 ? 1 : 7) {
			out = conv_stream(c, body, n, k, &c2, NULL);
			ck_assert_msg(strcmp(out, whole) == 0,
			    "%s split at %zu differs", gname, k);
			free(out);
		}
		free(whole);
	}
	free(body);
}
END_TEST

START_TEST(t_golden_responses)
{
	char file[256], gname[256], *body, *out;
	size_t n, on;
	int c;

	snprintf(file, sizeof file, "%s.jsonl", fixtures[_i]);
	body = load(file, &n);
	for (c = 0; c < NCL; c++) {
		if (clients[c].array)
			continue;
		out = conv_resp(clients[c].f, body, n, &on);
		snprintf(gname, sizeof gname, "resp_cli_to_%s__%s.json",
		    clients[c].tag, fixtures[_i]);
		golden(gname, out, on);
		free(out);
	}
	free(body);
}
END_TEST

/* What the decoder makes of the recordings, asserted directly. */
START_TEST(t_stream_facts)
{
	char *body, *out;
	size_t n;
	int clean;
	struct ir_usage u;

	/* text: the answer, usage from the result (cache included), cost */
	body = load("claude_cli_stream_text.jsonl", &n);
	out = conv_stream(0, body, n, 0, &clean, &u);
	ck_assert_int_eq(clean, 1);
	ck_assert_ptr_nonnull(strstr(out, "\"content\":\"Hello there!\""));
	ck_assert_ptr_nonnull(strstr(out, "\"finish_reason\":\"stop\""));
	ck_assert_ptr_nonnull(strstr(out, "data: [DONE]"));
	ck_assert_int_eq(u.input, 11);
	ck_assert_int_eq(u.output, 6);
	ck_assert_int_eq(u.cost_uusd, 164);
	/* nothing of the system line (tools, paths) reaches the client */
	ck_assert_ptr_null(strstr(out, "/home/user"));
	free(out);
	free(body);

	/* partial messages: the deltas, not the whole message twice */
	body = load("claude_cli_stream_text_partial.jsonl", &n);
	out = conv_stream(0, body, n, 0, &clean, NULL);
	ck_assert_ptr_nonnull(strstr(out, "\"content\":\"Hello\""));
	ck_assert_ptr_nonnull(strstr(out, "\"content\":\" there\""));
	ck_assert_ptr_null(strstr(out, "Hello there!"));
	free(out);
	free(body);

	/* the command's tool call is text; its tool result is not shown */
	body = load("claude_cli_stream_tools.jsonl", &n);
	out = conv_stream(2, body, n, 0, &clean, &u);
	ck_assert_int_eq(clean, 1);
	ck_assert_ptr_nonnull(strstr(out, "[tool: exec_command {\\\"cmd\\\":"
	    "\\\"echo mock-$((6*7))\\\"}]"));
	ck_assert_ptr_nonnull(strstr(out, "\"text\":\"\\n\\n\"}}\n\n"
	    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	    "\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":"
	    "\"Round trip broken"));
	ck_assert_ptr_null(strstr(out, "tool_use_error"));
	ck_assert_ptr_null(strstr(out, "\"type\":\"tool_use\""));
	ck_assert_ptr_nonnull(strstr(out, "\"stop_reason\":\"end_turn\""));
	ck_assert_int_eq(u.input, 20);
	ck_assert_int_eq(u.cost_uusd, 280);
	free(out);
	free(body);

	/* the command's turn limit: its answer so far, cut short */
	body = load("claude_cli_stream_bash_max_turns.jsonl", &n);
	out = conv_stream(0, body, n, 0, &clean, NULL);
	ck_assert_int_eq(clean, 1);
	ck_assert_ptr_nonnull(strstr(out, "\"finish_reason\":\"length\""));
	ck_assert_ptr_nonnull(strstr(out, "[tool: Bash {\\\"command\\\":"
	    "\\\"echo hello-from-bash\\\""));
	ck_assert_ptr_null(strstr(out, "hello-from-bash\\\",\\\"stderr"));
	free(out);
	free(body);

	/* retries of the command's own are not the client's business */
	body = load("claude_cli_stream_retry_then_text.jsonl", &n);
	out = conv_stream(0, body, n, 0, &clean, NULL);
	ck_assert_int_eq(clean, 1);
	ck_assert_ptr_nonnull(strstr(out, "Hello there!"));
	free(out);
	free(body);

	/* thinking as reasoning, the signature kept for Anthropic clients */
	body = load("claude_cli_stream_thinking_partial.jsonl", &n);
	out = conv_stream(0, body, n, 0, &clean, NULL);
	ck_assert_ptr_nonnull(strstr(out, "\"reasoning_content\":\"Let me"));
	free(out);
	out = conv_stream(2, body, n, 0, &clean, NULL);
	ck_assert_ptr_nonnull(strstr(out, "\"type\":\"signature_delta\""));
	free(out);
	free(body);
}
END_TEST

/* Error results: an in-band error with the command's message and the
 * status its API answered; non-streamed: the same status and message. */
START_TEST(t_errors)
{
	struct px_arena a;
	struct ir_request req;
	struct ir_response resp;
	struct px_stream *s;
	struct px_err err;
	struct sse_event ev;
	struct jw w;
	enum ir_err_kind kind;
	struct px_str m;
	char *body;
	size_t n;
	const char *p, *nl;

	px_set_deterministic(NOW);
	body = load("claude_cli_stream_error_api400.jsonl", &n);
	px_arena_init(&a, 0);
	ck_assert_int_eq(px_decode_response(PX_FMT_CLI, &a, body, n, &resp,
	    &err), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.msg, "API Error: 400 due to tool use "
	    "concurrency issues.");
	/* streamed: the API error dressed as a message is not content */
	client_req(&a, PX_FMT_ANTHROPIC, 1, &req);
	s = px_stream_new(&a, PX_FMT_CLI, PX_FMT_ANTHROPIC, &req);
	jw_init(&w, &a, 0);
	memset(&ev, 0, sizeof ev);
	ev.event = ev.id = "";
	for (p = body; p < body + n; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(body + n - p));
		ck_assert_ptr_nonnull(nl);
		ev.data = p;
		ev.data_len = (size_t)(nl - p);
		px_stream_feed(s, &ev, &w);
		ck_assert_int_eq(px_stream_content(s), 0);
	}
	ck_assert_int_eq(px_stream_error(s, &kind), 400);
	ck_assert_int_eq(kind, IR_ERR_INVALID);
	m = px_stream_error_msg(s);
	ck_assert(px_str_eq(m, "API Error: 400 due to tool use concurrency "
	    "issues."));
	ck_assert_ptr_nonnull(strstr(w.buf, "event: error"));
	ck_assert_ptr_null(strstr(w.buf, "content_block"));
	ck_assert_int_eq(px_stream_end(s, &w), 0);
	px_arena_free(&a);
	free(body);

	/* not logged in: no status of an API, so 502 */
	body = load("claude_cli_stream_error_not_logged_in.jsonl", &n);
	px_arena_init(&a, 0);
	ck_assert_int_eq(px_decode_response(PX_FMT_CLI, &a, body, n, &resp,
	    &err), -1);
	ck_assert_int_eq(err.status, 502);
	ck_assert_str_eq(err.msg, "Not logged in \xc2\xb7 Please run /login");
	px_arena_free(&a);
	free(body);
}
END_TEST

/* Outputs that are not what the dialect promises. */
START_TEST(t_bad_outputs)
{
	static const struct { const char *out; int status; const char *msg; } c[] = {
		/* no result line: cut off */
		{ "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":"
		  "\"text\",\"text\":\"hi\"}]}}\n", 502,
		  "the command's output ended without a result" },
		/* a line that starts like JSON and is not */
		{ "{\"type\":\"assistant\",\n", 502,
		  "the command wrote a malformed line (invalid JSON at byte "
		  "20: unexpected end of input)" },
		/* noise before and after is skipped */
		{ "Debugger attached.\n{\"type\":\"result\",\"subtype\":"
		  "\"success\",\"is_error\":false,\"result\":\"ok\"}\nbye\n", 0,
		  NULL },
		/* an error subtype without is_error, errors[] as message */
		{ "{\"type\":\"result\",\"subtype\":\"error_during_execution\","
		  "\"errors\":[\"boom\",\"bang\"]}\n", 502, "boom; bang" },
		/* an error without any message */
		{ "{\"type\":\"result\",\"subtype\":\"error_during_execution\"}\n",
		  502, "the command failed (error_during_execution)" },
		/* a rate limit the command gave up on */
		{ "{\"type\":\"result\",\"is_error\":true,\"api_error_status\":"
		  "429,\"result\":\"API Error: 429\"}\n", 429, "API Error: 429" },
		/* the command's own credentials: not the client's 401 */
		{ "{\"type\":\"result\",\"is_error\":true,\"api_error_status\":"
		  "401,\"result\":\"API Error: 401\"}\n", 502, "API Error: 401" },
	};
	struct px_arena a;
	struct ir_response resp;
	struct px_err err;
	size_t i;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		px_arena_init(&a, 0);
		memset(&err, 0, sizeof err);
		if (c[i].status == 0) {
			ck_assert_int_eq(px_decode_response(PX_FMT_CLI, &a,
			    c[i].out, strlen(c[i].out), &resp, &err), 0);
			ck_assert_int_eq(resp.nparts, 1);
			ck_assert(px_str_eq(resp.parts[0].text, "ok"));
		} else {
			ck_assert_int_eq(px_decode_response(PX_FMT_CLI, &a,
			    c[i].out, strlen(c[i].out), &resp, &err), -1);
			ck_assert_int_eq(err.status, c[i].status);
			ck_assert_msg(strcmp(err.msg, c[i].msg) == 0,
			    "case %zu: %s", i, err.msg);
		}
		px_arena_free(&a);
	}
}
END_TEST

/* A tool call's input is cut at PX_CLI_TOOL_TEXT_MAX, on a character. */
START_TEST(t_tool_text_cut)
{
	struct px_arena a;
	struct ir_response resp;
	struct px_err err;
	char *out, *p;
	size_t n, i, k;

	n = PX_CLI_TOOL_TEXT_MAX * 3 + 512;
	out = malloc(n);
	p = out;
	p += sprintf(p, "{\"type\":\"assistant\",\"message\":{\"content\":"
	    "[{\"type\":\"tool_use\",\"name\":\"Write\",\"input\":"
	    "{\"content\":\"");
	/* "é" (2 bytes) throughout: every cut point may fall inside one */
	for (i = 0; i < PX_CLI_TOOL_TEXT_MAX; i++) {
		*p++ = '\xc3';
		*p++ = '\xa9';
	}
	p += sprintf(p, "\"}}]}}\n{\"type\":\"result\",\"subtype\":"
	    "\"success\",\"result\":\"\"}\n");
	px_arena_init(&a, 0);
	ck_assert_int_eq(px_decode_response(PX_FMT_CLI, &a, out,
	    (size_t)(p - out), &resp, &err), 0);
	ck_assert_int_eq(resp.nparts, 1);
	k = resp.parts[0].text.n;
	ck_assert_uint_le(k, PX_CLI_TOOL_TEXT_MAX + 32);
	ck_assert_mem_eq(resp.parts[0].text.p, "[tool: Write {\"content\":\"",
	    25);
	ck_assert_mem_eq(resp.parts[0].text.p + k - 4, "...]", 4);
	/* whole characters only */
	ck_assert_int_eq(((unsigned char)resp.parts[0].text.p[k - 5] & 0xc0),
	    0x80);
	ck_assert_int_eq((unsigned char)resp.parts[0].text.p[k - 6], 0xc3);
	px_arena_free(&a);
	free(out);
}
END_TEST

/* ------------------------------------------------------------ requests */

static const struct { const char *name; enum px_fmt f; const char *file,
    *body; } req_cases[] = {
	{ "single", PX_FMT_CHAT, NULL,
	  "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
	  "\"content\":\"say hi\"}],\"temperature\":0.2,\"max_tokens\":50}" },
	{ "system", PX_FMT_CHAT, NULL,
	  "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\","
	  "\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
	  "[{\"type\":\"text\",\"text\":\"What is in it?\"},{\"type\":"
	  "\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,"
	  "iVBORw0KGgo=\"}}]}]}" },
	{ "history", PX_FMT_CHAT, NULL,
	  "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"developer\","
	  "\"content\":\"You are terse.\"},{\"role\":\"user\",\"content\":"
	  "\"Weather in Paris?\"},{\"role\":\"assistant\",\"content\":null,"
	  "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
	  "\"function\":{\"name\":\"get_weather\",\"arguments\":"
	  "\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},{\"role\":\"tool\","
	  "\"tool_call_id\":\"call_1\",\"content\":\"18C, sunny\"},"
	  "{\"role\":\"assistant\",\"content\":\"18C and sunny.\"},"
	  "{\"role\":\"user\",\"content\":\"And tomorrow?\"}],"
	  "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
	  "\"get_weather\",\"parameters\":{\"type\":\"object\"}}}]}" },
	{ "ends_with_tool_result", PX_FMT_CHAT, NULL,
	  "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "\"Weather?\"},{\"role\":\"assistant\",\"tool_calls\":[{\"id\":"
	  "\"call_9\",\"type\":\"function\",\"function\":{\"name\":\"w\","
	  "\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":"
	  "\"call_9\",\"content\":\"rain\"}]}" },
	{ "multiturn_thinking_tool_results", PX_FMT_ANTHROPIC,
	  "anthropic_request_multiturn_thinking_tool_results.json", NULL },
	{ "images", PX_FMT_ANTHROPIC, "anthropic_request_images.json", NULL },
	{ "tools", PX_FMT_ANTHROPIC, "anthropic_request_tools.json", NULL },
	{ "tools_multiturn", PX_FMT_RESPONSES,
	  "responses_request_tools_multiturn.json", NULL },
	{ "system_instruction", PX_FMT_GEMINI,
	  "gemini_request_system_instruction.json", NULL },
	{ "multiturn_tool_results_image", PX_FMT_CHAT,
	  "openai_chat_request_multiturn_tool_results_image.json", NULL },
	/* refused: what a command cannot carry */
	{ "refuse_n", PX_FMT_CHAT, NULL,
	  "{\"model\":\"m\",\"n\":2,\"messages\":[{\"role\":\"user\","
	  "\"content\":\"hi\"}]}" },
	{ "refuse_schema", PX_FMT_CHAT,
	  "openai_chat_request_reasoning_json_schema.json", NULL },
	{ "refuse_tool_choice", PX_FMT_CHAT, NULL,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "\"hi\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
	  "\"f\",\"parameters\":{\"type\":\"object\"}}}],\"tool_choice\":"
	  "\"required\"}" },
	{ "refuse_file_id", PX_FMT_ANTHROPIC, NULL,
	  "{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":"
	  "\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":"
	  "\"file\",\"file_id\":\"file_011\"}}]}]}" },
	{ "refuse_empty", PX_FMT_CHAT, NULL,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	  "\"\"}]}" },
};
#define NREQ (int)(sizeof req_cases / sizeof req_cases[0])

static const char *const fmt_tag[] = {
	"chat", "responses", "anthropic", "gemini"
};

START_TEST(t_golden_requests)
{
	char gname[256], *body, *out, file[256];
	size_t n, on;
	struct px_arena a;
	struct json *root;

	if (req_cases[_i].file) {
		snprintf(file, sizeof file, "%s", req_cases[_i].file);
		body = load(file, &n);
	} else {
		body = strdup(req_cases[_i].body);
		n = strlen(body);
	}
	out = conv_req(req_cases[_i].f, body, n, &on, NULL, 0);
	snprintf(gname, sizeof gname, "req_%s_to_cli__%s.jsonl",
	    fmt_tag[req_cases[_i].f], req_cases[_i].name);
	golden(gname, out, on);
	if (strncmp(out, "ERROR ", 6) != 0) {
		/* one line, one JSON object: the user message */
		ck_assert_int_eq(out[on - 1], '\n');
		ck_assert_ptr_eq(memchr(out, '\n', on), out + on - 1);
		px_arena_init(&a, 0);
		root = json_parse(&a, out, on, 0, NULL);
		ck_assert_ptr_nonnull(root);
		ck_assert(px_str_eq(px_jget(root, "type"), "user"));
		ck_assert(px_str_eq(px_jget(json_get(root, "message"), "role"),
		    "user"));
		ck_assert_int_ge((int)json_get(json_get(root, "message"),
		    "content")->len, 1);
		px_arena_free(&a);
	} else {
		ck_assert_int_eq(atoi(out + 6), 400);
	}
	free(out);
	free(body);
}
END_TEST

/* The client's tools are named as dropped (header and log); the
 * transcript keeps names and ids as the client wrote them. */
START_TEST(t_dropped_tools)
{
	char *out, dropped[256];
	size_t on;
	const char *b = req_cases[2].body;

	out = conv_req(PX_FMT_CHAT, b, strlen(b), &on, dropped,
	    sizeof dropped);
	ck_assert_str_eq(dropped, "get_weather");
	ck_assert_ptr_nonnull(strstr(out, "<tool_call id=\\\"call_1\\\" "
	    "name=\\\"get_weather\\\">{\\\"city\\\":\\\"Paris\\\"}"
	    "</tool_call>"));
	free(out);
}
END_TEST

/* ------------------------------------------------------------ misc */

/* PX_FMT_CLI is an upstream only: as a client it fails cleanly. */
START_TEST(t_not_a_client)
{
	struct px_arena a;
	struct ir_request req;
	struct ir_response resp;
	struct px_err err;
	struct jw w;
	enum px_fmt f;

	px_arena_init(&a, 0);
	ck_assert_int_eq(px_decode_request(PX_FMT_CLI, &a, "{}", 2, &req,
	    &err), -1);
	memset(&resp, 0, sizeof resp);
	jw_init(&w, &a, 0);
	ck_assert_int_eq(px_encode_response(PX_FMT_CLI, &req, &resp, &w,
	    &err), -1);
	ck_assert_ptr_null(px_stream_new(&a, PX_FMT_CHAT, PX_FMT_CLI, &req));
	ck_assert_str_eq(px_fmt_name(PX_FMT_CLI), "cli");
	ck_assert_int_eq(px_fmt_parse("cli", 3, &f), 1);
	ck_assert_int_eq(f, PX_FMT_CLI);
	px_arena_free(&a);
}
END_TEST

/* Embeddings cannot go to a command; token counts are estimated. */
START_TEST(t_operations)
{
	struct px_arena a;
	struct px_op o;
	struct px_err err;
	struct jw w;
	const char *eb = "{\"model\":\"m\",\"input\":\"hi\"}";
	const char *cb = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hello there\"}]}";

	px_arena_init(&a, 0);
	jw_init(&w, &a, 0);
	px_op_init(&o, PX_OP_EMBED, PX_FMT_CHAT, PX_FMT_CLI, px_str_c("m"));
	ck_assert_int_eq(px_op_request(&o, &a, eb, strlen(eb), px_str_c("s"),
	    &w, &err), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_ptr_nonnull(strstr(err.msg, "no embeddings"));
	px_op_init(&o, PX_OP_COUNT, PX_FMT_ANTHROPIC, PX_FMT_CLI,
	    px_str_c("m"));
	ck_assert_int_eq(px_op_request(&o, &a, cb, strlen(cb), px_str_c("s"),
	    &w, &err), 0);
	ck_assert_int_eq(o.estimate, 1);
	px_arena_free(&a);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("cli");
	TCase *t = tcase_create("framer");

	tcase_set_timeout(t, 60);
	tcase_add_loop_test(t, t_frame, 0, (int)(sizeof frame_cases /
	    sizeof frame_cases[0]));
	tcase_add_test(t, t_frame_long);
	tcase_add_test(t, t_cli_line);
	tcase_add_loop_test(t, t_frame_fixtures, 0, NFIX);
	suite_add_tcase(s, t);

	t = tcase_create("decode");
	tcase_set_timeout(t, 300);
	tcase_add_loop_test(t, t_golden_streams, 0, NFIX);
	tcase_add_loop_test(t, t_golden_responses, 0, NFIX);
	tcase_add_test(t, t_stream_facts);
	tcase_add_test(t, t_errors);
	tcase_add_test(t, t_bad_outputs);
	tcase_add_test(t, t_tool_text_cut);
	suite_add_tcase(s, t);

	t = tcase_create("encode");
	tcase_set_timeout(t, 60);      /* sanitizers on a busy machine */
	tcase_add_loop_test(t, t_golden_requests, 0, NREQ);
	tcase_add_test(t, t_dropped_tools);
	tcase_add_test(t, t_not_a_client);
	tcase_add_test(t, t_operations);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
