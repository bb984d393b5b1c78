/*
 * test_stream.c - converted streams hold nothing back.
 *
 * Every recorded upstream stream in tests/fixtures (each *.sse file; the
 * name's prefix says its format) is converted for every client format:
 * Chat, Responses, Anthropic, Gemini (SSE and JSON array) and legacy
 * completions. The stream is fed one upstream SSE event at a time, and the
 * client bytes written while event k was fed must already hold every text
 * event k delivered - answer text, thinking, tool-call argument fragments -
 * as the JSON string value the client reads it from (e.g. Chat
 * "content":"<text>", Gemini {"text":"<text>"). An encoder that holds a
 * delta back until a later event fails here; so does one that writes half
 * an event: what is written after event k must be whole SSE events (whole
 * array elements for a Gemini array stream).
 *
 * What a client format legitimately waits for is not required: Gemini
 * clients get a tool call when its arguments are complete (Gemini carries
 * arguments as one object), and completions clients see only answer text.
 * The texts each upstream event carries are read here from the fixture's
 * JSON, independently of the decoders. Run from the repository root.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_int.h"
#include "json.h"
#include "sse.h"
#include "testutil.h"

#define FIX "tests/fixtures/"
#define NOW 1700000000LL
#define MAXFX 128

/* ------------------------------------------------------------ fixtures */

static char fx_name[MAXFX][128];
static enum px_fmt fx_fmt[MAXFX];
static int nfx;

static int
cmp_name(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* The upstream format a fixture's name says; -1 for none. */
static int
fixture_fmt(const char *name)
{
	if (strncmp(name, "openai_chat_", 12) == 0)
		return PX_FMT_CHAT;
	if (strncmp(name, "responses_", 10) == 0)
		return PX_FMT_RESPONSES;
	if (strncmp(name, "anthropic_", 10) == 0)
		return PX_FMT_ANTHROPIC;
	if (strncmp(name, "gemini_", 7) == 0)
		return PX_FMT_GEMINI;
	return -1;
}

static void
scan_fixtures(void)
{
	DIR *d = opendir(FIX);
	struct dirent *de;
	size_t n;
	int i;

	if (!d) {
		fprintf(stderr, "cannot open " FIX " (run from the repository "
		    "root)\n");
		exit(1);
	}
	while ((de = readdir(d)) != NULL && nfx < MAXFX) {
		n = strlen(de->d_name);
		if (n < 5 || n >= sizeof fx_name[0] ||
		    strcmp(de->d_name + n - 4, ".sse") != 0)
			continue;
		memcpy(fx_name[nfx++], de->d_name, n + 1);
	}
	closedir(d);
	qsort(fx_name, (size_t)nfx, sizeof fx_name[0], cmp_name);
	for (i = 0; i < nfx; i++)
		fx_fmt[i] = (enum px_fmt)fixture_fmt(fx_name[i]);
}

/* ------------------------------------------------------------ clients */

enum kind { K_TEXT, K_THINK, K_ARGS };

struct client {
	const char *tag;
	enum px_fmt f;
	int array;                    /* Gemini JSON-array stream */
	const char *body;             /* the client's request */
	const char *key[3];           /* per kind: what precedes the text in
	                                 the client's bytes; NULL = the client
	                                 does not get it at once */
	const char *after[3];         /* what follows the text */
};

static const struct client clients[] = {
	{ "chat", PX_FMT_CHAT, 0,
	  "{\"model\":\"client-model\",\"messages\":[{\"role\":\"user\","
	  "\"content\":\"hi\"}],\"stream\":true,\"stream_options\":"
	  "{\"include_usage\":true}}",
	  { "\"content\":\"", "\"reasoning_content\":\"", "\"arguments\":\"" },
	  { "\"}", "\"}", "\"}" } },
	{ "responses", PX_FMT_RESPONSES, 0,
	  "{\"model\":\"client-model\",\"input\":\"hi\",\"stream\":true}",
	  { "\"delta\":\"", "\"delta\":\"", "\"delta\":\"" },
	  { "\",", "\",", "\"," } },
	{ "anthropic", PX_FMT_ANTHROPIC, 0,
	  "{\"model\":\"client-model\",\"max_tokens\":100,\"messages\":"
	  "[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}",
	  { "\"text\":\"", "\"thinking\":\"", "\"partial_json\":\"" },
	  { "\"}}", "\"}}", "\"}}" } },
	{ "gemini", PX_FMT_GEMINI, 0,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}",
	  { "{\"text\":\"", "{\"text\":\"", NULL },
	  { "\"", "\",\"thought\":true", NULL } },
	{ "gemini-array", PX_FMT_GEMINI, 1,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}",
	  { "{\"text\":\"", "{\"text\":\"", NULL },
	  { "\"", "\",\"thought\":true", NULL } },
	{ "completions", PX_FMT_COMPLETIONS, 0,
	  "{\"model\":\"client-model\",\"prompt\":\"hi\",\"stream\":true,"
	  "\"stream_options\":{\"include_usage\":true}}",
	  { "\"text\":\"", NULL, NULL },
	  { "\",\"index\":0", NULL, NULL } },
};
#define NCLIENT ((int)(sizeof clients / sizeof clients[0]))

/* ------------------------------------------- texts of an upstream event */

#define MAXT 64

struct texts {
	int n;
	enum kind kind[MAXT];
	struct px_str s[MAXT];        /* decoded text (scratch arena) */
};

static void
add(struct texts *t, enum kind k, struct px_str s)
{
	if (!s.n)
		return;                 /* empty strings carry nothing */
	ck_assert_int_lt(t->n, MAXT);
	t->kind[t->n] = k;
	t->s[t->n++] = s;
}

static int
type_is(const struct json *root, const struct sse_event *ev, const char *t)
{
	struct px_str ty = px_jget(root, "type");

	if (!ty.n) {
		ty.p = ev->event;
		ty.n = ev->event_len;
	}
	return px_str_eq(ty, t);
}

/* The texts one upstream event delivers, read from its JSON. */
static void
upstream_texts(enum px_fmt up, const struct sse_event *ev,
               const struct json *root, struct texts *t)
{
	const struct json *c, *d, *p;
	struct px_str s;
	long long idx;
	int b;

	t->n = 0;
	if (!root || root->type != JSON_OBJECT)
		return;
	switch (up) {
	case PX_FMT_CHAT:
		/* choice 0 only: n > 1 cannot be carried (WIRE.md §6.60) */
		c = json_get(root, "choices");
		for (c = c ? c->child : NULL; c; c = c->next)
			if (!json_int(json_get(c, "index"), &idx) || idx == 0)
				break;
		d = json_get(c, "delta");
		s = px_jget(d, "reasoning_content");
		add(t, K_THINK, s.n ? s : px_jget(d, "reasoning"));
		add(t, K_TEXT, px_jget(d, "content"));
		add(t, K_TEXT, px_jget(d, "refusal"));
		p = json_get(d, "tool_calls");
		for (p = p ? p->child : NULL; p; p = p->next)
			add(t, K_ARGS, px_jget(json_get(p, "function"),
			    "arguments"));
		break;
	case PX_FMT_ANTHROPIC:
		if (!type_is(root, ev, "content_block_delta"))
			break;
		d = json_get(root, "delta");
		add(t, K_TEXT, px_jget(d, "text"));
		add(t, K_THINK, px_jget(d, "thinking"));
		add(t, K_ARGS, px_jget(d, "partial_json"));
		break;
	case PX_FMT_RESPONSES:
		s = px_jget(root, "delta");
		if (type_is(root, ev, "response.output_text.delta") ||
		    type_is(root, ev, "response.refusal.delta"))
			add(t, K_TEXT, s);
		else if (type_is(root, ev,
		    "response.reasoning_summary_text.delta") ||
		    type_is(root, ev, "response.reasoning_text.delta"))
			add(t, K_THINK, s);
		else if (type_is(root, ev,
		    "response.function_call_arguments.delta"))
			add(t, K_ARGS, s);
		break;
	case PX_FMT_GEMINI:
		/* function calls come whole, args as an object: no fragment
		 * to look for */
		c = json_at(json_get(root, "candidates"), 0);
		p = json_get(json_get(c, "content"), "parts");
		for (p = p ? p->child : NULL; p; p = p->next) {
			b = 0;
			json_bool(json_get(p, "thought"), &b);
			add(t, b ? K_THINK : K_TEXT, px_jget(p, "text"));
		}
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------ the check */

/* Does hay[0..n) contain key + escaped(s) + after? */
static int
has_text(const char *hay, size_t n, const char *key, struct px_str s,
         const char *after)
{
	char buf[8192];
	struct jw w;
	size_t k;

	jw_init_fixed(&w, buf, sizeof buf);
	jw_puts(&w, key);
	jw_escaped(&w, s.p, s.n);
	jw_puts(&w, after);
	ck_assert_int_eq(w.err, 0);
	for (k = 0; k + w.len <= n; k++)
		if (memcmp(hay + k, buf, w.len) == 0)
			return 1;
	return 0;
}

/* What was written after an event is whole: SSE events end with a blank
 * line; a Gemini array so far is valid JSON once closed. */
static void
check_whole(const struct client *c, const struct jw *w, size_t from,
            const char *where)
{
	struct px_arena a;
	char *doc;
	size_t n = w->len;

	if (n == from)
		return;
	if (!c->array) {
		ck_assert_msg(n - from >= 2 && memcmp(w->buf + n - 2, "\n\n",
		    2) == 0, "%s: output does not end with a whole event",
		    where);
		return;
	}
	doc = malloc(n + 2);
	memcpy(doc, w->buf, n);
	if (doc[n - 1] != ']')
		doc[n++] = ']';
	px_arena_init(&a, 0);
	ck_assert_msg(json_parse(&a, doc, n, 0, NULL) != NULL,
	    "%s: array stream is not whole elements", where);
	px_arena_free(&a);
	free(doc);
}

/*
 * Convert fixture `name` (format up) for client c one event at a time.
 * Returns the number of texts checked.
 */
static int
live_one(enum px_fmt up, const struct client *c, const char *name)
{
	struct px_arena a, ta;
	struct ir_request req;
	struct px_err err;
	struct px_stream *s;
	struct sse_parser p;
	struct sse_event ev;
	struct texts t;
	struct json *root;
	struct jw w;
	char path[256], where[320];
	size_t n, off = 0, before;
	long used;
	int got, k, evno = 0, checked = 0, last = 0;
	char *body;

	snprintf(path, sizeof path, FIX "%s", name);
	body = read_file(path, &n);
	ck_assert_msg(body != NULL, "cannot read %s", path);
	px_set_deterministic(NOW);
	px_arena_init(&a, 0);
	jw_init(&w, &a, 1u << 26);
	ck_assert_int_eq(px_decode_request(c->f, &a, c->body, strlen(c->body),
	    &req, &err), 0);
	if (c->f == PX_FMT_GEMINI) {
		req.model = px_str_c("client-model");   /* from the URL */
		req.stream = 1;
	}
	req.gemini_array_stream = c->array;
	s = px_stream_new(&a, up, c->f, &req);
	ck_assert_ptr_nonnull(s);
	px_stream_begin(s, &w);
	sse_init(&p);
	while (!last) {
		used = sse_feed(&p, body + off, n - off, &ev, &got);
		ck_assert_int_ge(used, 0);
		off += (size_t)used;
		if (!got) {
			if (off < n && used > 0)
				continue;
			/* end of input: a last event without its blank line */
			if (!sse_finish(&p, &ev))
				break;
			last = 1;
		}
		evno++;
		px_arena_init(&ta, 0);
		root = ev.data_len ? json_parse(&ta, ev.data, ev.data_len, 0,
		    NULL) : NULL;
		upstream_texts(up, &ev, root, &t);
		before = w.len;
		px_stream_feed(s, &ev, &w);
		ck_assert_int_eq(w.err, 0);
		snprintf(where, sizeof where, "%s -> %s, event %d", name,
		    c->tag, evno);
		check_whole(c, &w, before, where);
		for (k = 0; k < t.n; k++) {
			if (!c->key[t.kind[k]])
				continue;
			ck_assert_msg(has_text(w.buf + before, w.len - before,
			    c->key[t.kind[k]], t.s[k], c->after[t.kind[k]]),
			    "%s: the client has not got \"%.*s\" yet (held "
			    "back)", where, (int)t.s[k].n, t.s[k].p);
			checked++;
		}
		px_arena_free(&ta);
	}
	before = w.len;
	px_stream_end(s, &w);
	snprintf(where, sizeof where, "%s -> %s, end", name, c->tag);
	check_whole(c, &w, before, where);
	ck_assert(px_stream_done(s));
	sse_free(&p);
	px_arena_free(&a);
	free(body);
	return checked;
}

/* Iteration i: upstream format i / NCLIENT, client i % NCLIENT, over every
 * fixture of that upstream format. */
START_TEST(t_stream_nothing_held_back)
{
	enum px_fmt up = (enum px_fmt)(_i / NCLIENT);
	const struct client *c = &clients[_i % NCLIENT];
	int i, files = 0, checked = 0;

	for (i = 0; i < nfx; i++) {
		if (fx_fmt[i] != up)
			continue;
		files++;
		checked += live_one(up, c, fx_name[i]);
	}
	ck_assert_msg(files > 0, "no %s fixtures", px_fmt_name(up));
	/* every pair has texts it must pass on at once: the test can fail */
	ck_assert_msg(checked > 0, "%s -> %s: no text checked",
	    px_fmt_name(up), c->tag);
}
END_TEST

/* The extractor and the needle are strict enough to fail: a text written
 * one event late, or into another field, is not found. */
START_TEST(t_stream_check_can_fail)
{
	static const char out[] =
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":"
	    "\"Hello\"},\"finish_reason\":null}]}\n\n";
	struct px_str hello = { "Hello", 5 }, hel = { "Hel", 3 },
	    quote = { "a\"b", 3 };

	ck_assert(has_text(out, sizeof out - 1, clients[0].key[K_TEXT], hello,
	    clients[0].after[K_TEXT]));
	/* a prefix of the text is not the text */
	ck_assert(!has_text(out, sizeof out - 1, clients[0].key[K_TEXT], hel,
	    clients[0].after[K_TEXT]));
	/* the same text as reasoning is another field */
	ck_assert(!has_text(out, sizeof out - 1, clients[0].key[K_THINK],
	    hello, clients[0].after[K_THINK]));
	/* nothing written for the event */
	ck_assert(!has_text(out, 0, clients[0].key[K_TEXT], hello,
	    clients[0].after[K_TEXT]));
	/* texts are looked for in the client's JSON string encoding */
	ck_assert(has_text("{\"text\":\"a\\\"b\"}", 14, clients[3].key[K_TEXT],
	    quote, clients[3].after[K_TEXT]));
}
END_TEST

static Suite *
stream_suite(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("live");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, t_stream_nothing_held_back, 0,
	    PX_FMT_COUNT * NCLIENT);
	tcase_add_test(tc, t_stream_check_can_fail);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	scan_fixtures();
	sr = srunner_create(stream_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
