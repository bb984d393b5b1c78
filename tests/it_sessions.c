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
	" \"providers\": [\n" \
	"  {\"name\": \"oai\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"up-oai\"},\n" \
	"  {\"name\": \"rsp\", \"type\": \"openai-responses\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"up-rsp\"},\n" \
	"  {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"up-ant\"},\n" \
	"  {\"name\": \"gem\", \"type\": \"gemini\", \"base_url\": \"http://127.0.0.1:MOCK/v1beta\", \"api_key\": \"up-gem\"}],\n" \
	" \"models\": {\"up-oai-*\": \"oai\", \"up-rsp-*\": \"rsp\", \"up-ant-*\": \"ant\",\n" \
	"  \"up-gem-*\": \"gem\", \"fb-*\": [\"ant\", \"oai\"]}}\n", (hb))

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

void
it_sessions(Suite *s)
{
	TCase *t;

	t = tc(s, "sessions", 0);
	tcase_add_unchecked_fixture(t, ses_start, ses_stop);
	tcase_add_test(t, t_hb_formats);
	tcase_add_test(t, t_hb_held);
	tcase_add_test(t, t_hb_off);
}
