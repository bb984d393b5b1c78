/*
 * it_sessions.c - integration tests of what a client's connection keeps
 * across time: heartbeats on quiet streams (each client format's own
 * keep-alive, at event boundaries, the answer unchanged), conversation
 * sessions (X-Session-ID) across client formats and upstream kinds, and
 * the response cache.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

static struct env ses;

#define SES_CFG(hb) strf( \
	"{\"listen\": \"127.0.0.1:0\", \"api_keys\": [\"sk-test\", \"sk-other\"],\n" \
	" \"timeouts\": {\"heartbeat_ms\": %d},\n" \
	" \"sessions\": {\"max_turns\": 4},\n" \
	" \"cache\": {\"routes\": [\"c-*\", \"cs-*\"], \"shared\": [\"cs-*\"]},\n" \
	" \"providers\": [\n" \
	"  {\"name\": \"oai\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"up-oai\"},\n" \
	"  {\"name\": \"rsp\", \"type\": \"openai-responses\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"up-rsp\"},\n" \
	"  {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"up-ant\"},\n" \
	"  {\"name\": \"gem\", \"type\": \"gemini\", \"base_url\": \"http://127.0.0.1:MOCK/v1beta\", \"api_key\": \"up-gem\"}],\n" \
	" \"models\": {\"up-oai-*\": \"oai\", \"up-rsp-*\": \"rsp\", \"up-ant-*\": \"ant\",\n" \
	"  \"up-gem-*\": \"gem\", \"fb-*\": [\"ant\", \"oai\"], \"c-*\": \"ant\",\n" \
	"  \"cs-*\": \"oai\"}}\n", (hb))

static void
ses_start(void)
{
	gw_env(&ses, SES_CFG(100));
}

static void
ses_stop(void)
{
	env_stop(&ses);
}

/* ------------------------------------------------------------ heartbeats */

static const char *const up_name[] = { "up-oai", "up-ant", "up-rsp",
    "up-gem" };

static const char *
hb_text(enum cf f)
{
	return f == CF_ANT ? "event: ping\ndata: {\"type\": \"ping\"}\n\n" :
	    ": keep-alive\n\n";
}

/*
 * The heartbeats in a stream body: each one starts where an event ended
 * (or at the start: a converted Gemini stream has no opening event), they
 * form one run (the upstream's one pause) before at least one event; own
 * more may stand apart (an Anthropic upstream's own ping). Returns how many; *rest is the body
 * without them.
 */
static int
hb_check(enum cf f, const char *body, char **rest, int own)
{
	const char *hb = hb_text(f), *p = body, *at, *last = NULL;
	size_t k = strlen(hb);
	int n = 0;

	*rest = strdup("");
	while ((at = strstr(p, hb)) != NULL) {
		ck_assert_msg(at == body || (at - body >= 2 &&
		    memcmp(at - 2, "\n\n", 2) == 0) || (at - body >= 4 &&
		    memcmp(at - 4, "\r\n\r\n", 4) == 0),
		    "heartbeat inside an event at %ld:\n%.3000s", (long)(at - body),
		    body);
		if (last && at != last)
			ck_assert_msg(own-- > 0, "heartbeats not in one run "
			    "(the upstream paused once):\n%.3000s", body);
		*rest = strf("%s%.*s", *rest, (int)(at - p), p);
		p = last = at + k;
		n++;
	}
	*rest = strf("%s%s", *rest, p);
	if (n)
		ck_assert_msg(*last != 0, "a heartbeat after the last event:\n%.3000s",
		    body);
	return n;
}

/* Every client format against every upstream kind: a stream that pauses
 * 500 ms after its first event gets heartbeats (every 100 ms) there, and
 * the answer is the one the same stream gives without the pause. (An
 * Anthropic upstream's own ping passes through to an Anthropic client.) */
START_TEST(t_hb_formats)
{
	int f, u;

	for (f = 0; f < CF_N; f++) {
		for (u = 0; u < 4; u++) {
			struct resp quick, slow;
			char *rest, *want, *got;
			int n, n0;

			cf_do(ses.port, (enum cf)f, strf("%s-text", up_name[u]), 1,
			    NULL, NULL, &quick);
			want = cf_text((enum cf)f, 1, &quick);
			/* Anthropic's own streams have a ping of theirs */
			n0 = hb_check((enum cf)f, quick.body, &rest, 1);
			ck_assert_int_le(n0, f == CF_ANT ? 1 : 0);
			cf_do(ses.port, (enum cf)f, strf("%s-pause=500",
			    up_name[u]), 1, NULL, NULL, &slow);
			got = cf_text((enum cf)f, 1, &slow);
			ck_assert_msg(strcmp(got, want) == 0, "%s client, %s: "
			    "answer '%s', without the pause '%s'", cf_name[f],
			    up_name[u], got, want);
			n = hb_check((enum cf)f, slow.body, &rest, n0) - n0;
			ck_assert_msg(n >= 2 && n <= 6, "%s client, %s: %d "
			    "heartbeats in a 500 ms pause (every 100 ms):\n%.3000s",
			    cf_name[f], up_name[u], n, slow.body);
			if (f != CF_ANT)
				ck_assert_ptr_null(strstr(slow.body, "ping"));
			else
				ck_assert_ptr_null(strstr(slow.body, ": keep-alive"));
		}
	}
}
END_TEST

/* A stream held for a fallback (its opening events wait for content) is
 * let go at the first heartbeat: the head and the opening events, then
 * the heartbeats; the answer is whole. */
START_TEST(t_hb_held)
{
	struct resp r;
	struct client c;
	char *rest;
	long long t0;

	client_open(&c, ses.port);
	t0 = mono_ms();
	client_send(&c, cf_req(CF_CHAT, "fb-pause=600", 1, NULL, NULL, -1));
	ck_assert_int_eq(read_head(&c, &r, mono_ms() + IO_MS), 0);
	expect_status(&r, 200);
	ck_assert_msg(mono_ms() - t0 < 450, "the head waited %lld ms: the "
	    "held phase outlived the heartbeat", mono_ms() - t0);
	ck_assert_int_eq(read_body(&c, &r, 0, mono_ms() + IO_MS), 0);
	client_close(&c);
	cf_text(CF_CHAT, 1, &r);
	ck_assert_int_ge(hb_check(CF_CHAT, r.body, &rest, 0), 2);
}
END_TEST

/* Non-streamed answers, Gemini's JSON-array streams and heartbeat_ms 0
 * have none. */
START_TEST(t_hb_off)
{
	struct env e;
	struct resp r;
	char *rest;

	cf_do(ses.port, CF_CHAT, "up-oai-pause=400", 0, NULL, NULL, &r);
	cf_text(CF_CHAT, 0, &r);
	ck_assert_ptr_null(strstr(r.body, "keep-alive"));
	/* a Gemini JSON-array stream has no SSE to hide one in */
	exchange(ses.port, req_text("POST", "/v1beta/models/up-oai-pause=400:"
	    "streamGenerateContent", "x-goog-api-key: sk-test\r\n",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":"
	    "\"Hello\"}]}]}"), &r);
	expect_status(&r, 200);
	ck_assert_msg(jvalid(r.body) && r.body[0] == '[', "%s", r.body);
	ck_assert_ptr_null(strstr(r.body, "keep-alive"));
	gw_env(&e, SES_CFG(0));
	cf_do(e.port, CF_ANT, "up-oai-pause=400", 1, NULL, NULL, &r);
	cf_text(CF_ANT, 1, &r);
	ck_assert_int_eq(hb_check(CF_ANT, r.body, &rest, 0), 0);
	cf_do(e.port, CF_CHAT, "up-ant-pause=400", 1, NULL, NULL, &r);
	cf_text(CF_CHAT, 1, &r);
	ck_assert_int_eq(hb_check(CF_CHAT, r.body, &rest, 0), 0);
	env_stop(&e);
}
END_TEST

/* ------------------------------------------------------------ sessions */

/* A request in format f whose user text is text (5 characters, in place
 * of cf_req's "Hello"), with X-Session-ID sid when not NULL. */
static void
ses_do(enum cf f, const char *model, int stream, const char *key,
    const char *sid, const char *text, struct resp *r)
{
	char *q = cf_req(f, model, stream, key, sid ? strf("X-Session-ID: "
	    "%s\r\n", sid) : NULL, -1);

	replace_all(q, strlen(q), "Hello", text);
	exchange(ses.port, q, r);
}

/* The body of the last request the mock got. */
static char *
last_body(void)
{
	struct resp r;
	const char *b;

	mock_get(&ses, "/_last", &r);
	b = strstr(r.body, "\n\n");
	ck_assert_ptr_nonnull(b);
	return strdup(b + 2);
}

/* A piece of an answer's text that must appear in a later request: its
 * first word of 3+ plain letters. */
static char *
word_of(const char *text)
{
	const char *p = text;

	while (*p) {
		size_t n = 0;
		while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' &&
		    p[n] <= 'Z'))
			n++;
		if (n >= 3)
			return strf("%.*s", (int)n, p);
		p += n ? n : 1;
	}
	ck_abort_msg("no word in answer '%s'", text);
	return NULL;
}

/* One conversation across every client format and upstream kind,
 * streamed and not: each turn's request reaches the upstream with every
 * earlier turn (user text and answer) in front, in the next format; the
 * id stays; the oldest turn goes beyond max_turns (4). */
START_TEST(t_ses_chain)
{
	char *id = NULL, *words[8], *texts[8], *body;
	int i, j;

	for (i = 0; i < 6; i++) {
		struct resp r;
		enum cf f = (enum cf)(i % CF_N);
		const char *up = up_name[(i + 1) % 4];
		int stream = i % 2;
		const char *h;

		texts[i] = strf("Tq%dxz", i);
		ses_do(f, strf("%s-text", up), stream, NULL, id, texts[i], &r);
		words[i] = word_of(cf_text(f, stream, &r));
		h = resp_hdr(&r, "x-session-id");
		ck_assert_msg(h && strncmp(h, "ses_", 4) == 0 && strlen(h) == 36,
		    "turn %d: X-Session-ID %s", i, h ? h : "(none)");
		if (id)
			ck_str(h, id);
		else
			id = strdup(h);
		body = last_body();
		ck_assert_msg(strstr(body, texts[i]) != NULL, "%s", body);
		for (j = 0; j < i; j++) {
			int kept = i - j <= 4;
			ck_assert_msg((strstr(body, texts[j]) != NULL) == kept,
			    "turn %d (%s client, %s): turn %d's text %s in:\n%.3000s",
			    i, cf_name[f], up, j, kept ? "missing" : "kept", body);
			if (kept)
				ck_assert_msg(strstr(body, words[j]) != NULL,
				    "turn %d: turn %d's answer (%s) missing in:\n%.3000s",
				    i, j, words[j], body);
		}
	}
}
END_TEST

/* A tool round in a session: the client sends only its tool result (in
 * another format); the upstream gets the call from the history and the
 * result after it, linked by the call's id. */
START_TEST(t_ses_tools)
{
	struct resp r;
	char *id, *call, *name, *body, *q;

	exchange(ses.port, req_text("POST", "/v1/chat/completions",
	    AUTH_CHAT, "{\"model\":\"up-ant-tools\",\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"Weather in Paris?\"}]" TOOL_CHAT "}"), &r);
	expect_status(&r, 200);
	ck_str(jstr(r.body, "choices.0.finish_reason"), "tool_calls");
	call = jstr(r.body, "choices.0.message.tool_calls.0.id");
	name = jstr(r.body, "choices.0.message.tool_calls.0.function.name");
	ck_assert_ptr_nonnull(call);
	id = strdup(resp_hdr(&r, "x-session-id"));
	/* the result alone, from an Anthropic client, to a Chat upstream */
	q = req_text("POST", "/v1/messages", strf(AUTH_ANT "X-Session-ID: "
	    "%s\r\n", id), strf("{\"model\":\"up-oai-text\",\"max_tokens\":"
	    "100,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
	    "\"tool_result\",\"tool_use_id\":\"%s\",\"content\":\"RES-22C\"}]}]"
	    TOOL_ANT "}", call));
	exchange(ses.port, q, &r);
	expect_status(&r, 200);
	ck_str(resp_hdr(&r, "x-session-id"), id);
	body = last_body();
	ck_assert_msg(strstr(body, "Weather in Paris?") != NULL, "%s", body);
	ck_str(jstr(body, "messages.1.role"), "assistant");
	ck_str(jstr(body, "messages.1.tool_calls.0.function.name"), name);
	ck_str(jstr(body, "messages.2.role"), "tool");
	ck_str(jstr(body, "messages.2.tool_call_id"),
	    jstr(body, "messages.1.tool_calls.0.id"));
	ck_assert_msg(strstr(jstr(body, "messages.2.content"), "RES-22C") !=
	    NULL, "%s", body);
}
END_TEST

/* Another key does not see the session (a new id, no history), and can
 * not delete it; its owner can, and the id is then unknown. No header
 * or a malformed one starts a new session. */
START_TEST(t_ses_scope)
{
	struct resp r;
	char *id, *id2, *body;

	ses_do(CF_CHAT, "up-ant-text", 0, NULL, NULL, "Sc1qq", &r);
	expect_status(&r, 200);
	id = strdup(resp_hdr(&r, "x-session-id"));
	ses_do(CF_ANT, "up-oai-text", 1, "sk-other", id, "Sc2qq", &r);
	cf_text(CF_ANT, 1, &r);
	id2 = strdup(resp_hdr(&r, "x-session-id"));
	ck_assert_str_ne(id2, id);
	body = last_body();
	ck_assert_ptr_null(strstr(body, "Sc1qq"));
	exchange(ses.port, req_text("DELETE", strf("/v1/sessions/%s", id),
	    "Authorization: Bearer sk-other\r\n", NULL), &r);
	expect_status(&r, 404);
	exchange(ses.port, req_text("DELETE", strf("/v1/sessions/%s", id),
	    "Authorization: Bearer sk-test\r\n", NULL), &r);
	expect_status(&r, 200);
	ck_str(jstr(r.body, "id"), id);
	ck_assert_int_eq(jhas(r.body, "deleted"), 1);
	exchange(ses.port, req_text("DELETE", strf("/v1/sessions/%s", id),
	    "Authorization: Bearer sk-test\r\n", NULL), &r);
	expect_status(&r, 404);
	ses_do(CF_CHAT, "up-ant-text", 0, NULL, id, "Sc3qq", &r);
	expect_status(&r, 200);
	ck_assert_str_ne(resp_hdr(&r, "x-session-id"), id);
	ck_assert_ptr_null(strstr(last_body(), "Sc1qq"));
	ses_do(CF_CHAT, "up-ant-text", 0, NULL, "bad id!", "Sc4qq", &r);
	expect_status(&r, 200);
	ck_assert_ptr_nonnull(resp_hdr(&r, "x-session-id"));
	/* an upstream error keeps nothing, and its answer has the id */
	ses_do(CF_CHAT, "up-oai-error400", 0, "sk-other", id2, "Sc5qq", &r);
	ck_assert_int_ge(r.status, 400);
	ck_str(resp_hdr(&r, "x-session-id"), id2);
}
END_TEST

/* "persist": true keeps sessions in the state directory across a
 * restart; without it they are gone. */
START_TEST(t_ses_persist)
{
	static const char *const persist[] = { "true", "false" };
	int k;

	for (k = 0; k < 2; k++) {
		struct env e;
		struct resp r;
		char *id;

		gw_env(&e, strf("{\"listen\": \"127.0.0.1:0\", "
		    "\"api_keys\": [\"sk-test\"],\n"
		    " \"state_dir\": \"TMP/ses-state.%d.%d\",\n"
		    " \"sessions\": {\"persist\": %s},\n"
		    " \"providers\": [{\"name\": \"ant\", \"type\": \"anthropic\", "
		    "\"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"a\"}],\n"
		    " \"models\": {\"*\": \"ant\"}}\n", (int)getpid(), k,
		    persist[k]));
		exchange(e.port, cf_req(CF_CHAT, "m-text", 0, NULL, NULL, -1),
		    &r);
		expect_status(&r, 200);
		id = strdup(resp_hdr(&r, "x-session-id"));
		ck_assert_int_eq(proc_stop(e.proxy, 5000 * scale), 0);
		gw_proxy_start(&e);
		exchange(e.port, cf_req(CF_CHAT, "m-text", 0, NULL,
		    strf("X-Session-ID: %s\r\n", id), -1), &r);
		expect_status(&r, 200);
		if (k == 0)
			ck_str(resp_hdr(&r, "x-session-id"), id);
		else
			ck_assert_str_ne(resp_hdr(&r, "x-session-id"), id);
		env_stop(&e);
	}
}
END_TEST

/* ------------------------------------------------------------ cache */

/* Requests the mock has answered so far. */
static long long
mock_requests(void)
{
	struct resp r;

	mock_get(&ses, "/_stats", &r);
	return jint(r.body, "requests", -1);
}

/* One request; how many reached the upstream (0 or 1), the cache header
 * ("-" when none). */
static int
cache_do(enum cf f, const char *model, int stream, const char *key,
    const char *hdrs, struct resp *r, const char **state)
{
	long long n0 = mock_requests();
	const char *h;

	cf_do(ses.port, f, model, stream, key, hdrs, r);
	h = resp_hdr(r, "x-llmproxy-cache");
	*state = h ? h : "-";
	return (int)(mock_requests() - n0);
}

/* A listed route, in every client format, streamed and not: a miss goes
 * upstream, the same request again is a hit that does not, with the
 * same answer (a stream replayed as a stream); another key misses; skip
 * bypasses; streamed and non-streamed answers are apart. */
START_TEST(t_cache_formats)
{
	int f, stream;

	for (f = 0; f < CF_N; f++) {
		for (stream = 0; stream < 2; stream++) {
			struct resp a, b;
			const char *st;
			char *want, *model = strf("c-text-%d-%d", f, stream);

			ck_assert_int_eq(cache_do((enum cf)f, model, stream, NULL,
			    NULL, &a, &st), 1);
			ck_str(st, "miss");
			want = cf_text((enum cf)f, stream, &a);
			ck_assert_int_eq(cache_do((enum cf)f, model, stream, NULL,
			    NULL, &b, &st), 0);
			ck_str(st, "hit");
			ck_str(cf_text((enum cf)f, stream, &b), want);
			if (stream)
				ck_str(resp_hdr(&b, "content-type"),
				    "text/event-stream");
			ck_assert_int_eq(cache_do((enum cf)f, model, stream,
			    "sk-other", NULL, &b, &st), 1);
			ck_str(st, "miss");
			ck_assert_int_eq(cache_do((enum cf)f, model, stream, NULL,
			    "x-llmproxy-cache: skip\r\n", &b, &st), 1);
			ck_str(st, "-");
			ck_str(cf_text((enum cf)f, stream, &b), want);
		}
		/* the other kind of answer is another entry */
		{
			struct resp r;
			const char *st;
			ck_assert_int_eq(cache_do((enum cf)f, strf("c-text-%d-1", f),
			    0, NULL, NULL, &r, &st), 1);
			ck_str(st, "miss");
		}
	}
}
END_TEST

/* A shared route is shared across keys; "use" turns the cache on for a
 * route not listed; errors and cut-off streams are never kept. */
START_TEST(t_cache_rules)
{
	struct resp r;
	const char *st;

	ck_assert_int_eq(cache_do(CF_CHAT, "cs-text", 0, NULL, NULL, &r, &st),
	    1);
	ck_str(st, "miss");
	ck_assert_int_eq(cache_do(CF_ANT, "cs-text", 0, "sk-other", NULL, &r,
	    &st), 1);        /* another format: another upstream body */
	ck_assert_int_eq(cache_do(CF_CHAT, "cs-text", 0, "sk-other", NULL, &r,
	    &st), 0);
	ck_str(st, "hit");
	ck_assert_int_eq(cache_do(CF_RSP, "up-gem-text", 1, NULL, NULL, &r,
	    &st), 1);
	ck_str(st, "-");
	ck_assert_int_eq(cache_do(CF_RSP, "up-gem-text", 1, NULL,
	    "x-llmproxy-cache: use\r\n", &r, &st), 1);
	ck_str(st, "miss");
	ck_assert_int_eq(cache_do(CF_RSP, "up-gem-text", 1, NULL,
	    "x-llmproxy-cache: use\r\n", &r, &st), 0);
	ck_str(st, "hit");
	cf_text(CF_RSP, 1, &r);
	ck_assert_int_eq(cache_do(CF_CHAT, "c-error400", 0, NULL, NULL, &r,
	    &st), 1);
	expect_status(&r, 400);
	ck_assert_int_eq(cache_do(CF_CHAT, "c-error400", 0, NULL, NULL, &r,
	    &st), 1);
	ck_str(st, "miss");
	ck_assert_int_eq(cache_do(CF_ANT, "c-truncate", 1, NULL, NULL, &r,
	    &st), 1);
	ck_assert_int_eq(cache_do(CF_ANT, "c-truncate", 1, NULL, NULL, &r,
	    &st), 1);
	ck_assert_int_eq(cache_do(CF_GEM, "c-errafter", 1, NULL, NULL, &r,
	    &st), 1);
	ck_assert_int_eq(cache_do(CF_GEM, "c-errafter", 1, NULL, NULL, &r,
	    &st), 1);
	ck_str(st, "miss");
	/* a client that goes away mid-stream: nothing is kept */
	{
		struct client cl;
		client_open(&cl, ses.port);
		client_send(&cl, cf_req(CF_CHAT, "c-slow", 1, NULL, NULL, -1));
		ck_assert_int_eq(read_head(&cl, &r, mono_ms() + IO_MS), 0);
		expect_status(&r, 200);
		client_close(&cl);
		sleep_ms(100);
	}
	ck_assert_int_eq(cache_do(CF_CHAT, "c-slow", 1, NULL, NULL, &r, &st),
	    1);
	ck_str(st, "miss");
	cf_text(CF_CHAT, 1, &r);
}
END_TEST

/* The value of the metric line "series V" in a /metrics body, -1 when
 * there is none. */
static double
metric(const char *body, const char *series)
{
	const char *p = body;
	size_t n = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == body || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

static char *
metrics_now(void)
{
	struct resp r;

	exchange(ses.port, req_text("GET", "/metrics", NULL, NULL), &r);
	expect_status(&r, 200);
	return strdup(r.body);
}

#define DELTA(a, b, s) (metric((b), (s)) - (metric((a), (s)) < 0 ? 0 : \
	metric((a), (s))))

/* Sessions and the cache in /metrics: each request on a session format
 * counted as new, continued or unknown; cache lookups as hit or miss; the
 * stores' sizes as gauges. */
START_TEST(t_ses_metrics)
{
	struct resp r;
	const char *st;
	char *m0, *m1, *id;

	m0 = metrics_now();
	ses_do(CF_CHAT, "up-oai-text", 0, NULL, NULL, "Mt1qq", &r);
	expect_status(&r, 200);
	id = strdup(resp_hdr(&r, "x-session-id"));
	ses_do(CF_ANT, "up-ant-text", 1, NULL, id, "Mt2qq", &r);
	cf_text(CF_ANT, 1, &r);
	ck_str(resp_hdr(&r, "x-session-id"), id);
	ses_do(CF_GEM, "up-gem-text", 0, NULL, "ses_not_a_known_one", "Mt3qq",
	    &r);
	expect_status(&r, 200);
	ck_assert_str_ne(resp_hdr(&r, "x-session-id"), "ses_not_a_known_one");
	ck_assert_int_eq(cache_do(CF_CHAT, "cs-metrics", 0, NULL, NULL, &r,
	    &st), 1);
	ck_str(st, "miss");
	ck_assert_int_eq(cache_do(CF_CHAT, "cs-metrics", 0, NULL, NULL, &r,
	    &st), 0);
	ck_str(st, "hit");
	m1 = metrics_now();
	/* the two cache requests are session requests too (no id: new) */
	ck_assert_msg(DELTA(m0, m1, "llmproxy_session_requests_total{result="
	    "\"new\"}") == 3 && DELTA(m0, m1, "llmproxy_session_requests_total"
	    "{result=\"continued\"}") == 1 && DELTA(m0, m1,
	    "llmproxy_session_requests_total{result=\"unknown\"}") == 1,
	    "before:\n%s\nafter:\n%s", m0, m1);
	ck_assert_msg(DELTA(m0, m1, "llmproxy_cache_lookups_total{result="
	    "\"miss\"}") == 1 && DELTA(m0, m1, "llmproxy_cache_lookups_total"
	    "{result=\"hit\"}") == 1, "before:\n%s\nafter:\n%s", m0, m1);
	ck_assert_msg(metric(m1, "llmproxy_sessions") >= 3 &&
	    metric(m1, "llmproxy_session_bytes") > 0 &&
	    metric(m1, "llmproxy_cache_entries") >= 1 &&
	    metric(m1, "llmproxy_cache_bytes") > 0 &&
	    metric(m1, "llmproxy_cache_evictions_total{reason=\"ttl\"}") == 0,
	    "%s", m1);
	free(m0);
	free(m1);
	free(id);
}
END_TEST

void
it_sessions(Suite *s)
{
	TCase *t;

	t = tc(s, "sessions", 0);
	tcase_add_unchecked_fixture(t, ses_start, ses_stop);
	tcase_add_test(t, t_hb_formats);
	tcase_add_test(t, t_hb_held);
	tcase_add_test(t, t_hb_off);
	tcase_add_test(t, t_ses_chain);
	tcase_add_test(t, t_ses_scope);
	tcase_add_test(t, t_ses_tools);
	tcase_add_test(t, t_ses_persist);
	tcase_add_test(t, t_cache_formats);
	tcase_add_test(t, t_cache_rules);
	tcase_add_test(t, t_ses_metrics);
}
