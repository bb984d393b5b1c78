/*
 * it_streams.c - integration tests for streams as the client sees them:
 * usage asked for on the client's behalf and the usage-only chunk taken out
 * again, token counts of passthrough streams in every format (only the
 * events that can carry them are parsed), and no converted stream holding
 * a delta back on a paced upstream.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

static struct env gem_env;

/* A proxy with one provider of each kind on one mock. */
static void
streams_start(void)
{
	FILE *f;

	memset(&gem_env, 0, sizeof gem_env);
	gem_env.mock = start_mock(NULL, NULL, &gem_env.mock_port);
	snprintf(gem_env.cfg, sizeof gem_env.cfg, "%s/streams.%d.json", tmpdir,
	    (int)getpid());
	f = fopen(gem_env.cfg, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
	    "{\"listen\": \"127.0.0.1:0\", \"api_keys\": [\"sk-test\"],\n"
	    " \"providers\": [\n"
	    "  {\"name\": \"oai\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:%d/v1\", \"api_key\": \"up-oai\"},\n"
	    "  {\"name\": \"rsp\", \"type\": \"openai-responses\", \"base_url\": \"http://127.0.0.1:%d/v1\", \"api_key\": \"up-rsp\"},\n"
	    "  {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:%d\", \"api_key\": \"up-ant\"},\n"
	    "  {\"name\": \"gem\", \"type\": \"gemini\", \"base_url\": \"http://127.0.0.1:%d/v1beta\", \"api_key\": \"up-gem\"}],\n"
	    " \"models\": {\"gpt-*\": \"oai\", \"rsp-*\": \"rsp\", \"claude-*\": \"ant\", \"gemini-*\": \"gem\"}}\n",
	    gem_env.mock_port, gem_env.mock_port, gem_env.mock_port,
	    gem_env.mock_port);
	fclose(f);
	spawn_proxy(&gem_env);
}

static void
streams_stop(void)
{
	env_stop(&gem_env);
}

#define AUTH_GEM "x-goog-api-key: sk-test\r\n"

/* The access line of request id rid (the log is flushed every 100 ms). */
static char *
access_of(const char *rid)
{
	long long end = mono_ms() + 3000LL * scale;

	for (;;) {
		char *log = read_file(gem_env.proxy->log, NULL);
		char *key = strf("access id=%s ", rid);
		char *at = log ? strstr(log, key) : NULL;
		if (at) {
			char *nl = strchr(at, '\n');
			return strf("%.*s", (int)(nl ? nl - at : (long)strlen(at)),
			    at);
		}
		ck_assert_msg(mono_ms() < end, "no access line for %s", rid);
		sleep_ms(50);
	}
}

static void
post_id(const char *path, const char *hdrs, const char *rid,
    const char *body, struct resp *r)
{
	exchange(gem_env.port, req_text("POST", path, strf("%sx-request-id: "
	    "%s\r\n", hdrs, rid), body), r);
}

/*
 * A Chat client that did not ask for usage: the upstream is asked for it
 * (the access log has the counts), and the usage-only chunk is taken out
 * of the stream, which is otherwise the upstream's, byte for byte.
 */
START_TEST(t_chat_usage_strip)
{
	struct resp r, direct, last;
	const char *body = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":"
	    "[{\"role\":\"user\",\"content\":\"hi\"}]}";
	char *want, *at, *line;

	post_id("/v1/chat/completions", AUTH_CHAT, "strip-1", body, &r);
	expect_status(&r, 200);
	/* the upstream was asked for usage */
	exchange(gem_env.mock_port, req_text("GET", "/_last", NULL, NULL), &last);
	ck_assert_msg(strstr(last.body, "\"stream_options\":{\"include_usage\":"
	    "true}") != NULL, "upstream request: %s", last.body);
	/* what the client got: the upstream's stream minus the usage chunk */
	exchange(gem_env.mock_port, req_text("POST", "/v1/chat/completions",
	    NULL, "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":"
	    "{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"}]}"), &direct);
	want = strdup(direct.body);
	at = strstr(want, "\"choices\":[],\"usage\"");
	ck_assert_ptr_nonnull(at);
	{
		char *start = at, *end = strstr(at, "\n\n");
		while (start > want && !(start[-1] == '\n' && start[-2] == '\n'))
			start--;
		memmove(start, end + 2, strlen(end + 2) + 1);
	}
	ck_str(r.body, want);
	line = access_of("strip-1");
	ck_assert_msg(strstr(line, " tokens_in=14 tokens_out=30") != NULL,
	    "%s", line);
}
END_TEST

/* A client that asked for usage gets the chunk, and the body it sent. */
START_TEST(t_chat_usage_kept)
{
	struct resp r, last;

	post_id("/v1/chat/completions", AUTH_CHAT, "kept-1",
	    chat_body("gpt-4o", 1), &r);
	expect_status(&r, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"choices\":[],\"usage\""));
	exchange(gem_env.mock_port, req_text("GET", "/_last", NULL, NULL), &last);
	ck_assert_msg(strstr(last.body, "\"stream_options\":{\"include_usage\":"
	    "true}") && !strstr(last.body, "\"include_usage\":true,"
	    "\"include_usage\""), "%s", last.body);
}
END_TEST

/* Passthrough streams of every format: the counts reach the access log
 * although only the events that can carry them are parsed. */
START_TEST(t_passthrough_usage)
{
	struct resp r;
	char *line;

	post_id("/v1/messages", AUTH_ANT, "pu-ant", ant_body("claude-x", 1), &r);
	expect_status(&r, 200);
	line = access_of("pu-ant");
	ck_assert_msg(strstr(line, " tokens_in=11 tokens_out=6") != NULL, "%s",
	    line);
	post_id("/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
	    AUTH_GEM, "pu-gem", "{\"contents\":[{\"role\":\"user\",\"parts\":"
	    "[{\"text\":\"hi\"}]}]}", &r);
	expect_status(&r, 200);
	line = access_of("pu-gem");
	ck_assert_msg(strstr(line, " tokens_in=20 tokens_out=513") != NULL, "%s",
	    line);
	post_id("/v1/responses", AUTH_CHAT, "pu-rsp", "{\"model\":\"rsp-x\","
	    "\"stream\":true,\"input\":\"hi\"}", &r);
	expect_status(&r, 200);
	line = access_of("pu-rsp");
	ck_assert_msg(strstr(line, " tokens_in=37 ") != NULL, "%s", line);
}
END_TEST

/*
 * Nothing held back: on an upstream that paces its events 200 ms apart,
 * every client format gets its first text as soon as the upstream sent it
 * (well within one pacing interval of the direct arrival), converted from
 * an upstream of another format.
 */
static const struct pace_case {
	const char *path, *hdrs, *body, *needle;
	const char *direct_path, *direct_body, *direct_needle;
} pace_cases[] = {
	/* chat client <- anthropic upstream */
	{ "/v1/chat/completions", AUTH_CHAT,
	  "{\"model\":\"claude-slow\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
	  "Hello",
	  "/v1/messages", "{\"model\":\"claude-slow\",\"stream\":true,\"max_tokens\":5,\"messages\":[]}",
	  "Hello" },
	/* anthropic client <- chat upstream */
	{ "/v1/messages", AUTH_ANT,
	  "{\"model\":\"gpt-slow\",\"stream\":true,\"max_tokens\":50,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
	  "I'm",
	  "/v1/chat/completions", "{\"model\":\"gpt-slow\",\"stream\":true,\"messages\":[]}",
	  "I'm" },
	/* gemini client <- anthropic upstream */
	{ "/v1beta/models/claude-slow:streamGenerateContent?alt=sse", AUTH_GEM,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}",
	  "Hello",
	  "/v1/messages", "{\"model\":\"claude-slow\",\"stream\":true,\"max_tokens\":5,\"messages\":[]}",
	  "Hello" },
	/* gemini client, JSON array stream <- chat upstream */
	{ "/v1beta/models/gpt-slow:streamGenerateContent", AUTH_GEM,
	  "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}",
	  "I'm",
	  "/v1/chat/completions", "{\"model\":\"gpt-slow\",\"stream\":true,\"messages\":[]}",
	  "I'm" },
	/* responses client <- anthropic upstream */
	{ "/v1/responses", AUTH_CHAT,
	  "{\"model\":\"claude-slow\",\"stream\":true,\"input\":\"hi\"}",
	  "Hello",
	  "/v1/messages", "{\"model\":\"claude-slow\",\"stream\":true,\"max_tokens\":5,\"messages\":[]}",
	  "Hello" },
	/* chat client <- gemini upstream */
	{ "/v1/chat/completions", AUTH_CHAT,
	  "{\"model\":\"gemini-slow\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
	  "low!",
	  "/v1beta/models/gemini-slow:streamGenerateContent?alt=sse",
	  "{\"contents\":[]}", "low!" },
};

/* ms from sending the request until needle shows up in the response */
static long long
time_to(int port, const char *path, const char *hdrs, const char *body,
    const char *needle)
{
	struct client c;
	long long t0, deadline;

	client_open(&c, port);
	t0 = mono_ms();
	client_send(&c, req_text("POST", path, hdrs, body));
	deadline = t0 + IO_MS;
	while (!memfind(c.buf ? c.buf : "", c.len, needle))
		ck_assert_msg(client_fill(&c, deadline) > 0, "%s: no '%s' in:\n%s",
		    path, needle, c.buf ? c.buf : "");
	client_close(&c);
	return mono_ms() - t0;
}

START_TEST(t_first_delta_paced)
{
	const struct pace_case *pc = &pace_cases[_i];
	long long direct, proxied;

	direct = time_to(gem_env.mock_port, pc->direct_path, "", pc->direct_body,
	    pc->direct_needle);
	proxied = time_to(gem_env.port, pc->path, pc->hdrs, pc->body,
	    pc->needle);
	/* one pacing interval is 200 ms: a delta held for the next event
	 * would arrive about 200 ms late */
	ck_assert_msg(proxied - direct < 100 * scale, "%s %s: first delta after "
	    "%lld ms through the proxy, %lld ms direct", pc->path, pc->body,
	    proxied, direct);
}
END_TEST

/* see itest.h */
void
it_streams(Suite *s)
{
	TCase *t = tc(s, "streams", 0);

	tcase_add_unchecked_fixture(t, streams_start, streams_stop);
	tcase_add_test(t, t_chat_usage_strip);
	tcase_add_test(t, t_chat_usage_kept);
	tcase_add_test(t, t_passthrough_usage);
	tcase_add_loop_test(t, t_first_delta_paced, 0,
	    (int)(sizeof pace_cases / sizeof pace_cases[0]));
}
