/*
 * test_integration.c - the real llmproxy binary against the mock upstream:
 * conversion in every direction, streams, errors, framing, keep-alive,
 * TLS, embeddings and token counts, the Responses store, legacy
 * completions. The harness (processes, clients, checks) is itest.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
START_TEST(t_chat_passthrough_nonstream)
{
	struct resp r;
	size_t n;
	char *want = fixture("openai_chat_response_text.json", &n);

	post("/v1/chat/completions", chat_body("gpt-4o", 0), &r);
	expect_status(&r, 200);
	ck_assert_uint_eq(r.body_len, n);
	ck_assert_msg(memcmp(r.body, want, n) == 0, "body differs from the fixture:\n%s", r.body);
}
END_TEST

START_TEST(t_chat_passthrough_stream)
{
	struct resp r;
	size_t n;
	char *want = fixture("openai_chat_stream_text.sse", &n);

	post("/v1/chat/completions", chat_body("gpt-4o", 1), &r);
	expect_status(&r, 200);
	ck_assert_msg(r.complete, "stream framing incomplete");
	ck_assert_msg(r.body_len == n && memcmp(r.body, want, n) == 0,
	    "stream differs from the fixture (%zu vs %zu bytes):\n%s", r.body_len, n, r.body);
}
END_TEST

START_TEST(t_anthropic_passthrough_stream)
{
	struct resp r;
	size_t n;
	char *want = fixture("anthropic_stream_text.sse", &n);

	post("/v1/messages", ant_body("claude-sonnet", 1), &r);
	expect_status(&r, 200);
	ck_assert_msg(r.body_len == n && memcmp(r.body, want, n) == 0,
	    "stream differs from the fixture:\n%s", r.body);
}
END_TEST

/* ---------------------------------------------- Chat client -> Anthropic */

START_TEST(t_chat_to_anthropic_nonstream)
{
	struct resp r;
	char *want = jstr(fixture("anthropic_response_text.json", NULL), "content.0.text");

	post("/v1/chat/completions", chat_body("claude-sonnet", 0), &r);
	expect_status(&r, 200);
	ck_assert_msg(jvalid(r.body), "not JSON: %s", r.body);
	ck_str(jstr(r.body, "object"), "chat.completion");
	ck_str(jstr(r.body, "model"), "claude-sonnet");
	ck_assert_int_eq(jlen(r.body, "choices"), 1);
	ck_str(jstr(r.body, "choices.0.message.role"), "assistant");
	ck_str(jstr(r.body, "choices.0.message.content"), want);
	ck_str(jstr(r.body, "choices.0.finish_reason"), "stop");
	/* input 2095 (+0 cache) -> prompt; output 503 */
	ck_assert_int_eq(jint(r.body, "usage.prompt_tokens", -1), 2095);
	ck_assert_int_eq(jint(r.body, "usage.completion_tokens", -1), 503);
	ck_assert_int_eq(jint(r.body, "usage.total_tokens", -1), 2598);
}
END_TEST

START_TEST(t_chat_to_anthropic_stream)
{
	struct resp r;
	struct chat_acc a;
	char *want = fixture_concat("anthropic_stream_text.sse", "content_block_delta", "delta.text");

	post("/v1/chat/completions", chat_body("claude-sonnet", 1), &r);
	check_chat_stream(&r, &a);
	ck_assert_msg(a.done, "no data: [DONE] at the end:\n%s", r.body);
	ck_assert_ptr_null(a.error);
	ck_str(a.content, want);
	ck_str(a.finish, "stop");
	ck_assert_msg(a.usage != NULL, "include_usage asked, no usage chunk:\n%s", r.body);
	ck_assert_int_eq(jint(a.usage, "prompt_tokens", -1), 11);
	ck_assert_int_eq(jint(a.usage, "completion_tokens", -1), 6);
}
END_TEST

START_TEST(t_chat_to_anthropic_tools_stream)
{
	struct resp r;
	struct chat_acc a;
	char *args = fixture_concat("anthropic_stream_tool_use.sse", "content_block_delta", "delta.partial_json");

	post("/v1/chat/completions", chat_body("claude-tools", 1), &r);
	check_chat_stream(&r, &a);
	ck_assert_msg(a.done, "no [DONE]:\n%s", r.body);
	ck_assert_int_eq(a.ntools, 1);
	ck_str(a.tool_id[0], "toolu_01NRLabsLyVHZPKxbKvkfSMn");
	ck_str(a.tool_name[0], "get_weather");
	ck_str(a.tool_args[0], args);
	ck_str(a.content, "I'll check the current weather in Paris for you.");
	ck_str(a.finish, "tool_calls");
}
END_TEST

START_TEST(t_chat_to_anthropic_parallel_tools_stream)
{
	struct resp r;
	struct chat_acc a;
	char *thinking = fixture_concat("anthropic_stream_thinking_parallel_tool_use.sse",
	    "content_block_delta", "delta.thinking");

	post("/v1/chat/completions", chat_body("claude-parallel-tools", 1), &r);
	check_chat_stream(&r, &a);
	ck_assert_msg(a.done, "no [DONE]:\n%s", r.body);
	/* blocks 2 and 3 upstream must be tool calls 0 and 1 */
	ck_assert_int_eq(a.ntools, 2);
	ck_str(a.tool_id[0], "toolu_01A09q90qw90lq917835lq9");
	ck_str(a.tool_id[1], "toolu_01B18r81rx81mr826724mr8");
	ck_assert_msg(jvalid(a.tool_args[0]) && jvalid(a.tool_args[1]),
	    "arguments not JSON: %s / %s", a.tool_args[0], a.tool_args[1]);
	ck_str(a.reasoning, thinking);
	ck_str(a.finish, "tool_calls");
}
END_TEST

START_TEST(t_chat_to_anthropic_thinking_stream)
{
	struct resp r;
	struct chat_acc a;
	char *thinking = fixture_concat("anthropic_stream_thinking.sse", "content_block_delta", "delta.thinking");
	char *text = fixture_concat("anthropic_stream_thinking.sse", "content_block_delta", "delta.text");

	ck_assert_msg(*thinking, "fixture has no thinking");
	post("/v1/chat/completions", chat_body("claude-thinking", 1), &r);
	check_chat_stream(&r, &a);
	ck_assert_msg(a.done, "no [DONE]:\n%s", r.body);
	ck_str(a.reasoning, thinking);
	ck_str(a.content, text);
}
END_TEST

START_TEST(t_chat_to_anthropic_tools_nonstream)
{
	struct resp r;
	char *fx = fixture("anthropic_response_tool_use.json", NULL);
	char *args;
	int i, tool = -1;

	for (i = 0; i < jlen(fx, "content"); i++) {
		char p[32];
		snprintf(p, sizeof p, "content.%d.type", i);
		if (strcmp(jstr(fx, p), "tool_use") == 0)
			tool = i;
	}
	ck_assert_int_ge(tool, 0);
	post("/v1/chat/completions", chat_body("claude-tools", 0), &r);
	expect_status(&r, 200);
	ck_str(jstr(r.body, "choices.0.finish_reason"), "tool_calls");
	ck_assert_int_eq(jlen(r.body, "choices.0.message.tool_calls"), 1);
	ck_str(jstr(r.body, "choices.0.message.tool_calls.0.type"), "function");
	ck_str(jstr(r.body, "choices.0.message.tool_calls.0.id"),
	    jstr(fx, strf("content.%d.id", tool)));
	ck_str(jstr(r.body, "choices.0.message.tool_calls.0.function.name"),
	    jstr(fx, strf("content.%d.name", tool)));
	args = jstr(r.body, "choices.0.message.tool_calls.0.function.arguments");
	ck_assert_msg(args && jvalid(args), "arguments not a JSON string: %s", r.body);
}
END_TEST

/* ---------------------------------------------- Anthropic client -> OpenAI */

START_TEST(t_anthropic_to_openai_nonstream)
{
	struct resp r;
	char *fx = fixture("openai_chat_response_text.json", NULL);

	post("/v1/messages", ant_body("gpt-4o", 0), &r);
	expect_status(&r, 200);
	ck_assert_msg(jvalid(r.body), "not JSON: %s", r.body);
	ck_str(jstr(r.body, "type"), "message");
	ck_str(jstr(r.body, "role"), "assistant");
	ck_str(jstr(r.body, "model"), "gpt-4o");
	ck_assert_int_eq(jlen(r.body, "content"), 1);
	ck_str(jstr(r.body, "content.0.type"), "text");
	ck_str(jstr(r.body, "content.0.text"), jstr(fx, "choices.0.message.content"));
	ck_str(jstr(r.body, "stop_reason"), "end_turn");
	ck_assert_int_eq(jint(r.body, "usage.input_tokens", -1), 14);
	ck_assert_int_eq(jint(r.body, "usage.output_tokens", -1), 30);
}
END_TEST

START_TEST(t_anthropic_to_openai_stream)
{
	struct resp r;
	struct ant_acc a;
	char *want = fixture_concat("openai_chat_stream_text.sse", NULL, "choices.0.delta.content");

	post("/v1/messages", ant_body("gpt-4o", 1), &r);
	check_anthropic_stream(&r, &a);
	ck_assert_msg(a.stopped, "no message_stop at the end:\n%s", r.body);
	ck_assert_int_eq(a.nblocks, 1);
	ck_str(a.btype[0], "text");
	ck_str(a.text, want);
	ck_str(a.stop_reason, "end_turn");
}
END_TEST

START_TEST(t_anthropic_to_openai_tools_stream)
{
	struct resp r;
	struct ant_acc a;
	char *args = fixture_concat("openai_chat_stream_tool_single.sse", NULL,
	    "choices.0.delta.tool_calls.0.function.arguments");

	post("/v1/messages", ant_body("gpt-tools", 1), &r);
	check_anthropic_stream(&r, &a);
	ck_assert_msg(a.stopped, "no message_stop:\n%s", r.body);
	ck_assert_int_ge(a.nblocks, 1);
	ck_str(a.btype[a.nblocks - 1], "tool_use");
	ck_str(a.tool_name[a.nblocks - 1], "get_weather");
	ck_str(a.tool_json[a.nblocks - 1], args);
	ck_str(a.stop_reason, "tool_use");
}
END_TEST

START_TEST(t_anthropic_to_openai_parallel_tools_stream)
{
	struct resp r;
	struct ant_acc a;
	int i, tools = 0;

	post("/v1/messages", ant_body("gpt-parallel-tools", 1), &r);
	check_anthropic_stream(&r, &a);
	ck_assert_msg(a.stopped, "no message_stop:\n%s", r.body);
	for (i = 0; i < a.nblocks; i++)
		tools += strcmp(a.btype[i], "tool_use") == 0;
	ck_assert_int_eq(tools, 2);
	ck_assert_msg(strcmp(a.tool_id[a.nblocks - 1], a.tool_id[a.nblocks - 2]) != 0,
	    "two calls with one id");
	ck_str(a.stop_reason, "tool_use");
}
END_TEST

START_TEST(t_anthropic_to_openai_tools_nonstream)
{
	struct resp r;
	char *fx = fixture("openai_chat_response_tool_calls.json", NULL);
	int n, i, tools = 0;

	post("/v1/messages", ant_body("gpt-tools", 0), &r);
	expect_status(&r, 200);
	ck_str(jstr(r.body, "stop_reason"), "tool_use");
	n = jlen(r.body, "content");
	for (i = 0; i < n; i++) {
		if (strcmp(jstr(r.body, strf("content.%d.type", i)), "tool_use") != 0)
			continue;
		ck_str(jstr(r.body, strf("content.%d.id", i)),
		    jstr(fx, strf("choices.0.message.tool_calls.%d.id", tools)));
		ck_str(jstr(r.body, strf("content.%d.name", i)),
		    jstr(fx, strf("choices.0.message.tool_calls.%d.function.name", tools)));
		ck_assert_msg(*jraw(r.body, strf("content.%d.input", i)) == '{',
		    "tool input is not an object: %s", r.body);
		tools++;
	}
	ck_assert_int_eq(tools, jlen(fx, "choices.0.message.tool_calls"));
}
END_TEST

/* ---------------------------------------------- echo: what went upstream */

/* The upstream request the mock echoed: head lines and body. */
struct echo {
	char *line;        /* "POST /v1/messages" */
	char *headers;     /* "\nname: value\n..." (lower-case names) */
	char *body;
};

static void
split_echo(const char *text, struct echo *e)
{
	const char *nl, *sep;

	ck_assert_ptr_nonnull(text);
	nl = strchr(text, '\n');
	sep = strstr(text, "\n\n");
	ck_assert_msg(nl && sep, "not an echo: %s", text);
	e->line = strf("%.*s", (int)(nl - text), text);
	e->headers = strf("%.*s\n", (int)(sep - nl), nl);
	e->body = strdup(sep + 2);
}

START_TEST(t_echo_chat_to_anthropic)
{
	struct resp r;
	struct echo e;
	char *sys;
	const char *body = "{\"model\":\"claude-echo\",\"messages\":["
	    "{\"role\":\"system\",\"content\":\"Be brief.\"},"
	    "{\"role\":\"user\",\"content\":\"Hi\"}]}";

	post("/v1/chat/completions", body, &r);
	expect_status(&r, 200);
	split_echo(jstr(r.body, "choices.0.message.content"), &e);
	ck_str(e.line, "POST /v1/messages");
	ck_assert_msg(strstr(e.headers, "\nx-api-key: up-ant\n"), "no upstream key: %s", e.headers);
	ck_assert_msg(strstr(e.headers, "\nanthropic-version: 20"), "no anthropic-version: %s", e.headers);
	ck_assert_msg(!strstr(e.headers, "\nauthorization:"), "authorization forwarded: %s", e.headers);
	ck_assert_msg(!strstr(e.headers, "sk-test") && !strstr(e.body, "sk-test"), "client key forwarded");
	ck_assert_msg(jvalid(e.body), "upstream body not JSON: %s", e.body);
	ck_str(jstr(e.body, "model"), "claude-echo");
	ck_assert_msg(jint(e.body, "max_tokens", -1) > 0, "no max_tokens: %s", e.body);
	/* system hoisted out of messages */
	sys = jstr(e.body, "system");
	if (!sys)
		sys = jstr(e.body, "system.0.text");
	ck_str(sys, "Be brief.");
	ck_assert_int_eq(jlen(e.body, "messages"), 1);
	ck_str(jstr(e.body, "messages.0.role"), "user");
	ck_assert_msg(jstr(e.body, "messages.0.content") ?
	    strcmp(jstr(e.body, "messages.0.content"), "Hi") == 0 :
	    strcmp(jstr(e.body, "messages.0.content.0.text"), "Hi") == 0,
	    "user content lost: %s", e.body);
}
END_TEST

START_TEST(t_echo_anthropic_to_chat)
{
	struct resp r;
	struct echo e;
	long long mt;
	const char *body = "{\"model\":\"gpt-echo\",\"max_tokens\":77,"
	    "\"system\":\"Be brief.\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

	post("/v1/messages", body, &r);
	expect_status(&r, 200);
	split_echo(jstr(r.body, "content.0.text"), &e);
	ck_str(e.line, "POST /v1/chat/completions");
	ck_assert_msg(strstr(e.headers, "\nauthorization: Bearer up-oai\n"), "no upstream key: %s", e.headers);
	ck_assert_msg(!strstr(e.headers, "\nx-api-key:"), "x-api-key forwarded: %s", e.headers);
	ck_assert_msg(!strstr(e.headers, "sk-test") && !strstr(e.body, "sk-test"), "client key forwarded");
	ck_assert_msg(jvalid(e.body), "upstream body not JSON: %s", e.body);
	ck_str(jstr(e.body, "model"), "gpt-echo");
	mt = jint(e.body, "max_completion_tokens", jint(e.body, "max_tokens", -1));
	ck_assert_int_eq(mt, 77);
	ck_assert_int_eq(jlen(e.body, "messages"), 2);
	ck_str(jstr(e.body, "messages.0.role"), "system");
	ck_str(jstr(e.body, "messages.0.content"), "Be brief.");
	ck_str(jstr(e.body, "messages.1.role"), "user");
	ck_assert_msg(jstr(e.body, "messages.1.content") ?
	    strcmp(jstr(e.body, "messages.1.content"), "Hi") == 0 :
	    strcmp(jstr(e.body, "messages.1.content.0.text"), "Hi") == 0,
	    "user content lost: %s", e.body);
}
END_TEST

START_TEST(t_echo_passthrough_bytes)
{
	struct resp r;
	struct echo e;
	/* odd spacing and key order must survive untouched */
	const char *body = "{ \"messages\": [ {\"role\":\"user\",\"content\":\"Hi \\u00e9\"} ],\n"
	    "  \"model\" : \"gpt-echo\", \"temperature\": 0.50 }";

	post("/v1/chat/completions", body, &r);
	expect_status(&r, 200);
	split_echo(jstr(r.body, "choices.0.message.content"), &e);
	ck_str(e.line, "POST /v1/chat/completions");
	ck_assert_msg(strstr(e.headers, "\nauthorization: Bearer up-oai\n"), "no upstream key: %s", e.headers);
	ck_assert_msg(!strstr(e.headers, "sk-test"), "client key forwarded");
	ck_str(e.body, body);
}
END_TEST

START_TEST(t_echo_passthrough_model_rewrite)
{
	struct resp r;
	struct echo e;
	const char *body = "{ \"messages\": [ {\"role\":\"user\",\"content\":\"Hi\"} ],\n"
	    "  \"model\" : \"renamed-echo\", \"temperature\": 0.50 }";

	post("/v1/chat/completions", body, &r);
	expect_status(&r, 200);
	split_echo(jstr(r.body, "choices.0.message.content"), &e);
	ck_str(jstr(e.body, "model"), "gpt-echo-upstream");
	/* everything but the model value byte for byte */
	ck_str(e.body, "{ \"messages\": [ {\"role\":\"user\",\"content\":\"Hi\"} ],\n"
	    "  \"model\" : \"gpt-echo-upstream\", \"temperature\": 0.50 }");
}
END_TEST

/* An openai provider sends the models listed in "responses_models" to
 * /v1/responses, converted, and the rest to /v1/chat/completions. */
START_TEST(t_provider_api_per_model)
{
	struct resp r;
	struct echo e;

	post("/v1/chat/completions", "{\"model\":\"gpt-rsp-echo\",\"max_tokens\":50,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
	expect_status(&r, 200);
	split_echo(jstr(r.body, "choices.0.message.content"), &e);
	ck_str(e.line, "POST /v1/responses");
	ck_assert_msg(strstr(e.headers, "\nauthorization: Bearer up-oai\n"), "no upstream key: %s", e.headers);
	ck_str(jstr(e.body, "model"), "gpt-rsp-echo");
	ck_assert_int_eq(jint(e.body, "max_output_tokens", -1), 50);
	ck_str(jstr(e.body, "input.0.role"), "user");
	ck_assert_msg(!jhas(e.body, "messages"), "chat body sent to /v1/responses: %s", e.body);

	/* same provider, a model not in the list: Chat Completions, bytes untouched */
	post("/v1/chat/completions", "{\"model\":\"gpt-echo\",\"messages\":[]}", &r);
	expect_status(&r, 200);
	split_echo(jstr(r.body, "choices.0.message.content"), &e);
	ck_str(e.line, "POST /v1/chat/completions");
	ck_str(e.body, "{\"model\":\"gpt-echo\",\"messages\":[]}");
}
END_TEST

/* Hosted Responses tools (Codex sends web_search) cannot run on another
 * provider: left out of the converted request, and said so in a header. */
START_TEST(t_hosted_tools_dropped)
{
	struct resp r;
	struct echo e;
	static const char fn[] = "{\"type\":\"function\",\"name\":\"get_weather\","
	    "\"parameters\":{\"type\":\"object\",\"properties\":{}}}";

	post("/v1/responses", strf("{\"model\":\"claude-echo\",\"input\":\"hi\","
	    "\"tools\":[%s,{\"type\":\"web_search\",\"external_web_access\":false}]}", fn), &r);
	expect_status(&r, 200);
	ck_str(resp_hdr(&r, "x-llmproxy-dropped-tools"), "web_search");
	split_echo(jstr(r.body, "output.0.content.0.text"), &e);
	ck_str(e.line, "POST /v1/messages");
	ck_assert_int_eq(jlen(e.body, "tools"), 1);
	ck_str(jstr(e.body, "tools.0.name"), "get_weather");

	/* nothing dropped: no header */
	post("/v1/responses", strf("{\"model\":\"claude-echo\",\"input\":\"hi\","
	    "\"tools\":[%s]}", fn), &r);
	expect_status(&r, 200);
	ck_assert_ptr_null(resp_hdr(&r, "x-llmproxy-dropped-tools"));

	/* a forced hosted tool cannot be honoured: 400, nothing sent */
	post("/v1/responses", "{\"model\":\"claude-echo\",\"input\":\"hi\","
	    "\"tools\":[{\"type\":\"web_search\"}],\"tool_choice\":{\"type\":\"web_search\"}}", &r);
	expect_status(&r, 400);
	ck_assert_msg(strstr(jstr(r.body, "error.message"), "web_search"), "%s", r.body);
}
END_TEST

/* ---------------------------------------------- upstream errors */

/*
 * Each case names its own model (the index is appended), since a failing
 * model cools down at the gateway: a second request within the cooldown
 * would get the proxy's own 429/503 instead of the upstream's answer.
 * Cases that take a whole provider out (a refused key, a dead server) run
 * on their own proxy.
 */
static const struct err_case {
	const char *path, *model;
	int stream;
	int status;            /* what the client must see */
	const char *retry_after; /* Retry-After expected, NULL for none: the
	                            upstream's 7 for a 429, else the gateway's
	                            cooldown (1 s) when the answer came from a
	                            candidate that now cools down */
	const char *atype;     /* Anthropic error.type, NULL for OpenAI shape */
	int own;               /* its own proxy */
} err_cases[] = {
	{ "/v1/chat/completions", "gpt-error429",    0, 429, "7", NULL, 0 },
	{ "/v1/chat/completions", "claude-error429", 0, 429, "7", NULL, 0 },
	{ "/v1/chat/completions", "claude-error429", 1, 429, "7", NULL, 0 },
	{ "/v1/messages",         "gpt-error429",    0, 429, "7", "rate_limit_error", 0 },
	{ "/v1/messages",         "claude-error429", 1, 429, "7", "rate_limit_error", 0 },
	{ "/v1/messages",         "claude-error529", 0, 529, "1", "overloaded_error", 0 },
	{ "/v1/messages",         "claude-overloaded", 1, 529, "1", "overloaded_error", 0 },
	{ "/v1/chat/completions", "claude-error529", 0, 503, "1", NULL, 0 },
	{ "/v1/chat/completions", "claude-error529", 1, 503, "1", NULL, 0 },
	{ "/v1/chat/completions", "claude-error500", 0, 500, "1", NULL, 0 },
	{ "/v1/messages",         "gpt-error500",    0, 500, "1", "api_error", 0 },
	{ "/v1/chat/completions", "gpt-error500",    0, 500, "1", NULL, 0 },
	{ "/v1/messages",         "gpt-error400",    0, 400, NULL, "invalid_request_error", 0 },
	{ "/v1/chat/completions", "claude-error400", 0, 400, NULL, NULL, 0 },
	/* the provider refused the proxy's own key: not the client's (502) */
	{ "/v1/messages",         "gpt-error401",    0, 502, NULL, "", 1 },
	/* cut-off non-streamed body, no answer, nobody listening */
	{ "/v1/chat/completions", "claude-truncate", 0, 502, NULL, NULL, 0 },
	{ "/v1/messages",         "gpt-truncate",    0, 502, NULL, "", 0 },
	{ "/v1/chat/completions", "claude-hang",     0, 504, "1", NULL, 0 },
	{ "/v1/messages",         "gpt-hang",        1, 504, "1", "", 0 },
	{ "/v1/chat/completions", "dead-x",          0, 502, "1", NULL, 1 },
	{ "/v1/messages",         "dead-x",          1, 502, "1", "", 1 },
};

START_TEST(t_upstream_error)
{
	const struct err_case *c = &err_cases[_i];
	struct resp r;
	const char *ra;
	char *model = strf("%s-case%d", c->model, _i);
	char *body = strstr(c->path, "/messages") ? ant_body(model, c->stream) :
	    chat_body(model, c->stream);
	struct env e;

	if (c->own) {
		env_start(&e);
		post_to(e.port, c->path, body, &r);
	} else {
		post(c->path, body, &r);
	}
	if (c->atype)
		expect_anthropic_error(&r, c->status, *c->atype ? c->atype : NULL, NULL);
	else
		expect_openai_error(&r, c->status, NULL);
	ra = resp_hdr(&r, "retry-after");
	if (c->retry_after)
		ck_assert_msg(ra && strcmp(ra, c->retry_after) == 0,
		    "%s %s: Retry-After %s, want %s", c->path, model, ra,
		    c->retry_after);
	else
		ck_assert_msg(ra == NULL, "%s %s: Retry-After %s", c->path,
		    model, ra);
	if (c->own)
		env_stop(&e);
}
END_TEST

START_TEST(t_truncate_chat)
{
	/* converted (Anthropic upstream) and passthrough (OpenAI upstream) */
	static const char *const models[] = { "claude-truncate", "gpt-truncate" };
	int i;

	for (i = 0; i < 2; i++) {
		struct resp r;
		struct chat_acc a;
		post("/v1/chat/completions", chat_body(models[i], 1), &r);
		check_chat_stream(&r, &a);
		ck_assert_msg(!a.done, "%s: cut-off stream ended with [DONE]:\n%s", models[i], r.body);
		ck_assert_msg(a.error != NULL, "%s: cut-off stream without an error event:\n%s", models[i], r.body);
		ck_assert_msg(jstr(a.error, "error.message"), "error event without message: %s", a.error);
	}
}
END_TEST

START_TEST(t_truncate_anthropic)
{
	static const char *const models[] = { "gpt-truncate", "claude-truncate" };
	int i;

	for (i = 0; i < 2; i++) {
		struct resp r;
		struct ant_acc a;
		post("/v1/messages", ant_body(models[i], 1), &r);
		check_anthropic_stream(&r, &a);
		ck_assert_msg(!a.stopped, "%s: cut-off stream ended with message_stop", models[i]);
		ck_assert_msg(a.error != NULL, "%s: cut-off stream without event: error:\n%s", models[i], r.body);
		ck_str(jstr(a.error, "type"), "error");
		ck_assert_msg(jstr(a.error, "error.type") && jstr(a.error, "error.message"),
		    "bad error event: %s", a.error);
	}
}
END_TEST

/* An error event inside an upstream stream reaches the client in its shape. */
/*
 * A passthrough stream cut inside an event: the client gets the whole
 * events before the cut, byte for byte, then a clean error event - never
 * half an event. With "split" the upstream bytes also arrive in 1..7 byte
 * pieces, so event boundaries (and CRLF pairs) straddle reads.
 */
START_TEST(t_truncate_midevent_passthrough)
{
	static const char *const chat[] = { "gpt-midevent", "gpt-midevent-split" };
	static const char *const ant[] = { "claude-midevent", "claude-midevent-split" };
	int i;

	for (i = 0; i < 2; i++) {
		struct resp r;
		struct chat_acc a;
		struct ant_acc b;
		size_t n, k;
		char *fx = fixture("openai_chat_stream_text.sse", &n);
		char *err;

		post("/v1/chat/completions", chat_body(chat[i], 1), &r);
		check_chat_stream(&r, &a);     /* every data line is JSON */
		ck_assert_msg(a.error != NULL, "%s: no error event:\n%s", chat[i], r.body);
		err = strstr(r.body, "data: {\"error\"");
		ck_assert_ptr_nonnull(err);
		k = (size_t)(err - r.body);
		ck_assert_msg(k > 0 && k < n && memcmp(r.body, fx, k) == 0 &&
		    (fx[k - 1] == '\n'), "%s: bytes before the error are not whole fixture events:\n%s",
		    chat[i], r.body);

		fx = fixture("anthropic_stream_text.sse", &n);
		post("/v1/messages", ant_body(ant[i], 1), &r);
		check_anthropic_stream(&r, &b);
		ck_assert_msg(b.error != NULL, "%s: no error event:\n%s", ant[i], r.body);
		err = strstr(r.body, "event: error\n");
		ck_assert_ptr_nonnull(err);
		k = (size_t)(err - r.body);
		ck_assert_msg(k > 0 && k < n && memcmp(r.body, fx, k) == 0,
		    "%s: bytes before the error are not whole fixture events:\n%s", ant[i], r.body);
	}
}
END_TEST

START_TEST(t_midstream_error)
{
	struct resp r;
	struct ant_acc b;

	/* (anthropic_stream_error_overloaded.sse cannot be named: the mock
	 * reads "overloaded" in the model name as a 529 request) */
	post("/v1/messages",
	    ant_body("gpt-fixture=openai_chat_stream_error_midstream.sse", 1), &r);
	check_anthropic_stream(&r, &b);
	ck_assert_msg(!b.stopped && b.error, "no event: error at the end:\n%s", r.body);
}
END_TEST

/* ---------------------------------------------- the proxy's own errors */

START_TEST(t_bad_json)
{
	struct resp r;
	const char *body = "{\"model\": \"gpt-4o\", \"messages\": [1 2]}";
	const char *at = strstr(body, "2]");
	char *msg;
	long pos;

	post("/v1/chat/completions", body, &r);
	expect_openai_error(&r, 400, "invalid JSON at byte ");
	msg = jstr(r.body, "error.message");
	pos = strtol(strstr(msg, "at byte ") + 8, NULL, 10);
	ck_assert_msg(labs(pos - (long)(at - body)) <= 1,
	    "error position %ld, the bad byte is at %ld: %s", pos, (long)(at - body), msg);
	post("/v1/messages", "{\"model\":", &r);
	expect_anthropic_error(&r, 400, "invalid_request_error", "invalid JSON at byte ");
}
END_TEST

START_TEST(t_unknown_model)
{
	struct resp r;

	post("/v1/chat/completions", chat_body("llama-unknown", 0), &r);
	expect_openai_error(&r, 404, "llama-unknown");
	ck_assert_msg(strstr(jstr(r.body, "error.message"), "\"models\""),
	    "404 does not say how to configure: %s", r.body);
	post("/v1/messages", ant_body("llama-unknown", 0), &r);
	expect_anthropic_error(&r, 404, "not_found_error", "\"models\"");
}
END_TEST

START_TEST(t_client_keys)
{
	struct resp r;
	char *cb = chat_body("gpt-4o", 0), *ab = ant_body("claude-x", 0);

	/* missing */
	exchange(shared.port, req_text("POST", "/v1/chat/completions", NULL, cb), &r);
	expect_openai_error(&r, 401, NULL);
	exchange(shared.port, req_text("POST", "/v1/messages", "anthropic-version: 2023-06-01\r\n", ab), &r);
	expect_anthropic_error(&r, 401, "authentication_error", NULL);
	/* wrong */
	exchange(shared.port, req_text("POST", "/v1/chat/completions", "Authorization: Bearer sk-nope\r\n", cb), &r);
	expect_openai_error(&r, 401, NULL);
	exchange(shared.port, req_text("POST", "/v1/messages", "x-api-key: sk-nope\r\n", ab), &r);
	expect_anthropic_error(&r, 401, "authentication_error", NULL);
	ck_assert_msg(!strstr(r.body, "sk-nope"), "key echoed back: %s", r.body);
	/* either header works on either path */
	exchange(shared.port, req_text("POST", "/v1/chat/completions", "x-api-key: sk-test\r\n", cb), &r);
	expect_status(&r, 200);
	exchange(shared.port, req_text("POST", "/v1/messages", "Authorization: Bearer sk-test\r\n", ab), &r);
	expect_status(&r, 200);
	/* GET /v1/models needs a key too */
	exchange(shared.port, req_text("GET", "/v1/models", NULL, NULL), &r);
	expect_status(&r, 401);
}
END_TEST

START_TEST(t_method_not_allowed)
{
	struct resp r;

	exchange(shared.port, req_text("GET", "/v1/chat/completions", AUTH_CHAT, NULL), &r);
	expect_status(&r, 405);
	ck_assert_msg(jvalid(r.body), "405 body is not JSON: %s", r.body);
	ck_assert_msg(resp_hdr(&r, "allow") && strstr(resp_hdr(&r, "allow"), "POST"), "no Allow: POST");
}
END_TEST

START_TEST(t_body_too_large)
{
	struct client c;
	struct resp r;

	/* announce 200000 bytes against a 100000 limit: refused from the head */
	client_open(&c, shared.port);
	client_send(&c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" AUTH_CHAT
	    "Content-Type: application/json\r\nContent-Length: 200000\r\n\r\n");
	ck_assert_int_eq(read_response(&c, &r, 0, IO_MS), 0);
	expect_openai_error(&r, 413, NULL);
	client_close(&c);
}
END_TEST

START_TEST(t_headers_too_large)
{
	struct resp r;
	char *pad = malloc(10001);

	memset(pad, 'a', 10000);
	pad[10000] = 0;
	exchange(shared.port, req_text("GET", "/health", strf("X-Pad: %s\r\n", pad), NULL), &r);
	expect_status(&r, 431);
}
END_TEST

START_TEST(t_slowloris)
{
	struct client c;
	struct resp r;
	long long t0 = mono_ms();

	client_open(&c, shared.port);
	client_send(&c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-");
	ck_assert_int_eq(read_response(&c, &r, 0, 3000 * scale), 0);
	expect_openai_error(&r, 408, NULL);
	ck_assert_msg(mono_ms() - t0 >= 450, "408 too early (%lld ms)", mono_ms() - t0);
	/* and the connection is closed */
	ck_assert_int_eq(client_fill(&c, mono_ms() + 2000 * scale), 0);
	client_close(&c);
}
END_TEST

START_TEST(t_slow_body)
{
	struct client c;
	struct resp r;

	/* the head is complete, the body never finishes */
	client_open(&c, shared.port);
	client_send(&c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" AUTH_CHAT
	    "Content-Length: 100\r\n\r\n{\"model\":");
	ck_assert_int_eq(read_response(&c, &r, 0, 3000 * scale), 0);
	expect_status(&r, 408);
	client_close(&c);
}
END_TEST

static const struct smuggle_case {
	const char *name, *head;
} smuggle_cases[] = {
	{ "CL+TE", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" AUTH_CHAT
	    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
	{ "duplicate CL", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" AUTH_CHAT
	    "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}" },
	{ "conflicting CL", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" AUTH_CHAT
	    "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x" },
	{ "TE gzip", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" AUTH_CHAT
	    "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" },
	{ "bad CL", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" AUTH_CHAT
	    "Content-Length: -1\r\n\r\n" },
};

START_TEST(t_smuggling)
{
	const struct smuggle_case *s = &smuggle_cases[_i];
	struct client c;
	struct resp r;

	client_open(&c, shared.port);
	client_send(&c, s->head);
	ck_assert_msg(read_response(&c, &r, 0, IO_MS) == 0, "%s: no response", s->name);
	ck_assert_msg(r.status == 400 || (r.status == 501 && strstr(s->name, "TE")),
	    "%s: status %d", s->name, r.status);
	/* the connection must not be reused after that */
	ck_assert_msg(client_fill(&c, mono_ms() + 2000 * scale) == 0, "%s: connection left open", s->name);
	client_close(&c);
}
END_TEST

START_TEST(t_n_to_anthropic)
{
	struct resp r;
	char *msg;

	post("/v1/chat/completions", "{\"model\":\"claude-x\",\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
	expect_openai_error(&r, 400, NULL);
	msg = jstr(r.body, "error.message");
	ck_assert_msg(strstr(msg, "\"n\"") || strstr(msg, "'n'") || strstr(msg, "n=") ||
	    strstr(msg, "n >") || strstr(msg, "n:") || strstr(msg, " n "),
	    "400 does not name n: %s", msg);
}
END_TEST

/* ---------------------------------------------- HTTP behaviour */

START_TEST(t_keep_alive)
{
	struct client c;
	struct resp r;
	size_t n;
	char *want = fixture("openai_chat_response_text.json", &n);
	int i;

	client_open(&c, shared.port);
	for (i = 0; i < 3; i++) {
		client_send(&c, req_text("POST", "/v1/chat/completions", AUTH_CHAT, chat_body("gpt-4o", 0)));
		ck_assert_int_eq(read_response(&c, &r, 0, IO_MS), 0);
		expect_status(&r, 200);
		ck_assert_msg(!resp_hdr(&r, "connection") || strcasecmp(resp_hdr(&r, "connection"), "close") != 0,
		    "keep-alive request answered with Connection: close");
		ck_assert(r.body_len == n && memcmp(r.body, want, n) == 0);
	}
	/* a stream and then a plain request on the same connection */
	client_send(&c, req_text("POST", "/v1/chat/completions", AUTH_CHAT, chat_body("claude-x", 1)));
	ck_assert_int_eq(read_response(&c, &r, 0, IO_MS), 0);
	ck_assert_msg(strstr(r.body, "data: [DONE]"), "stream: %s", r.body);
	client_send(&c, req_text("GET", "/health", NULL, NULL));
	ck_assert_int_eq(read_response(&c, &r, 0, IO_MS), 0);
	expect_status(&r, 200);
	client_close(&c);
}
END_TEST

START_TEST(t_pipelining)
{
	struct client c;
	struct resp r;
	char *two = strf("%s%s%s",
	    req_text("POST", "/v1/chat/completions", AUTH_CHAT, chat_body("gpt-4o", 0)),
	    req_text("POST", "/v1/chat/completions", AUTH_CHAT, chat_body("claude-x", 0)),
	    req_text("GET", "/health", NULL, NULL));
	char *oai = jstr(fixture("openai_chat_response_text.json", NULL), "choices.0.message.content");
	char *ant = jstr(fixture("anthropic_response_text.json", NULL), "content.0.text");

	client_open(&c, shared.port);
	client_send(&c, two);
	ck_assert_int_eq(read_response(&c, &r, 0, IO_MS), 0);
	expect_status(&r, 200);
	ck_str(jstr(r.body, "choices.0.message.content"), oai);
	ck_assert_int_eq(read_response(&c, &r, 0, IO_MS), 0);
	expect_status(&r, 200);
	ck_str(jstr(r.body, "choices.0.message.content"), ant);
	ck_assert_int_eq(read_response(&c, &r, 0, IO_MS), 0);
	expect_status(&r, 200);
	ck_str(jstr(r.body, "status"), "ok");
	client_close(&c);
}
END_TEST

/* Many requests in one write: every one is answered, in order, without
 * waiting for more input from the client. */
#define NPIPE 200
START_TEST(t_pipelining_many)
{
	struct client c;
	struct resp r;
	char *all = strdup("");
	int i;

	for (i = 0; i < NPIPE; i++)
		all = strf("%s%s", all, req_text(i % 2 ? "GET" : "HEAD", "/health", NULL, NULL));
	client_open(&c, shared.port);
	client_send(&c, all);
	for (i = 0; i < NPIPE; i++) {
		ck_assert_msg(read_response(&c, &r, i % 2 == 0, IO_MS) == 0,
		    "response %d of %d missing", i + 1, NPIPE);
		expect_status(&r, 200);
		ck_assert_uint_eq(r.body_len, i % 2 ? 15 : 0);
	}
	client_close(&c);
}
END_TEST

START_TEST(t_chunked_request)
{
	struct client c;
	struct resp r;
	struct echo e;
	const char *body = "{\"model\":\"gpt-echo\",\"messages\":[{\"role\":\"user\",\"content\":\"chunked!\"}]}";
	size_t n = strlen(body);

	client_open(&c, shared.port);
	client_send(&c, strf("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" AUTH_CHAT
	    "Transfer-Encoding: chunked\r\n\r\n%x;ext=1\r\n%.*s\r\n%x\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n",
	    5, 5, body, 10, 10, body + 5, n - 15, body + 15));
	ck_assert_int_eq(read_response(&c, &r, 0, IO_MS), 0);
	expect_status(&r, 200);
	split_echo(jstr(r.body, "choices.0.message.content"), &e);
	ck_str(e.body, body);
	ck_assert_msg(strstr(e.headers, strf("\ncontent-length: %zu\n", n)), "upstream not sent with Content-Length: %s", e.headers);
	/* the connection is still usable */
	client_send(&c, req_text("GET", "/health", NULL, NULL));
	ck_assert_int_eq(read_response(&c, &r, 0, IO_MS), 0);
	expect_status(&r, 200);
	client_close(&c);
}
END_TEST

START_TEST(t_expect_continue)
{
	struct client c;
	struct resp r;
	const char *body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
	long long deadline = mono_ms() + IO_MS;
	const char *e;

	client_open(&c, shared.port);
	client_send(&c, strf("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" AUTH_CHAT
	    "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n", strlen(body)));
	/* the interim response comes before we send the body */
	while (!(e = memfind(c.buf ? c.buf : "", c.len, "\r\n\r\n")))
		ck_assert_msg(client_fill(&c, deadline) > 0, "no 100 Continue");
	ck_assert_msg(strncmp(c.buf, "HTTP/1.1 100 Continue\r\n", 23) == 0, "got %s", c.buf);
	client_send(&c, body);
	ck_assert_int_eq(read_response(&c, &r, 0, IO_MS), 0);
	expect_status(&r, 200);
	ck_assert(r.got_continue);
	ck_assert_msg(jstr(r.body, "choices.0.message.content"), "body: %s", r.body);
	client_close(&c);
}
END_TEST

START_TEST(t_local_endpoints)
{
	struct resp r;

	exchange(shared.port, req_text("HEAD", "/", NULL, NULL), &r);
	expect_status(&r, 200);
	ck_assert_uint_eq(r.body_len, 0);
	exchange(shared.port, req_text("GET", "/health", NULL, NULL), &r);
	expect_status(&r, 200);
	ck_str(jstr(r.body, "status"), "ok");
	exchange(shared.port, req_text("GET", "/nope", AUTH_CHAT, NULL), &r);
	expect_status(&r, 404);
	ck_assert_msg(jvalid(r.body), "404 body not JSON: %s", r.body);
	exchange(shared.port, req_text("POST", "/health", NULL, "{}"), &r);
	expect_status(&r, 405);
	ck_assert_msg(jvalid(r.body), "405 body not JSON: %s", r.body);
}
END_TEST

START_TEST(t_models_list)
{
	struct resp r;

	exchange(shared.port, req_text("GET", "/v1/models", AUTH_CHAT, NULL), &r);
	expect_status(&r, 200);
	ck_str(jstr(r.body, "object"), "list");
	ck_assert_int_ge(jlen(r.body, "data"), 1);
	ck_str(jstr(r.body, "data.0.id"), "gpt-4o-mini");
	ck_str(jstr(r.body, "data.0.object"), "model");
	exchange(shared.port, req_text("GET", "/v1/models", AUTH_ANT, NULL), &r);
	expect_status(&r, 200);
	ck_assert_int_ge(jlen(r.body, "data"), 1);
	ck_str(jstr(r.body, "data.0.type"), "model");
	ck_str(jstr(r.body, "data.0.id"), "gpt-4o-mini");
	ck_str(jraw(r.body, "has_more"), "false");
	ck_assert_msg(!jhas(r.body, "object"), "OpenAI field in the Anthropic list: %s", r.body);
}
END_TEST

/* ---------------------------------------------- upstream connections */

static char *
mock_stats(int mock_port)
{
	struct resp r;
	exchange(mock_port, req_text("GET", "/_stats", NULL, NULL), &r);
	expect_status(&r, 200);
	return r.body;
}

START_TEST(t_upstream_reuse)
{
	struct env e;
	struct resp r;
	char *st;
	int i;

	env_start(&e);
	for (i = 0; i < 3; i++) {
		post_to(e.port, "/v1/chat/completions", chat_body("gpt-4o", 0), &r);
		expect_status(&r, 200);
	}
	st = mock_stats(e.mock_port);
	ck_assert_msg(jint(st, "requests", -1) == 3, "stats %s", st);
	ck_assert_msg(jint(st, "connections", -1) == 1, "upstream connections not reused: %s", st);
	/* a stream, too, leaves its connection reusable; connections belong
	 * to the server (host, port, TLS), so a second provider on the same
	 * server shares them */
	post_to(e.port, "/v1/chat/completions", chat_body("claude-x", 1), &r);
	expect_status(&r, 200);
	post_to(e.port, "/v1/chat/completions", chat_body("claude-x", 0), &r);
	expect_status(&r, 200);
	st = mock_stats(e.mock_port);
	ck_assert_msg(jint(st, "requests", -1) == 5, "stats %s", st);
	ck_assert_msg(jint(st, "connections", -1) == 1, "upstream connections not reused: %s", st);
}
END_TEST

START_TEST(t_client_disconnect)
{
	struct env e;
	struct client c;
	struct resp r;
	long long deadline;
	char *st = NULL;

	env_start(&e);
	client_open(&c, e.port);
	client_send(&c, req_text("POST", "/v1/chat/completions", AUTH_CHAT, chat_body("claude-slow", 1)));
	deadline = mono_ms() + IO_MS;
	ck_assert_int_eq(read_head(&c, &r, deadline), 0);
	expect_status(&r, 200);
	while (!memfind(c.buf ? c.buf : "", c.len, "\n\n"))
		ck_assert_msg(client_fill(&c, deadline) > 0, "no first event");
	st = mock_stats(e.mock_port);
	ck_assert_msg(jint(st, "open", -1) == 1, "stats during the stream: %s", st);
	client_close(&c);
	deadline = mono_ms() + 1000LL * scale;
	while (mono_ms() < deadline) {
		st = mock_stats(e.mock_port);
		if (jint(st, "open", -1) == 0)
			break;
		sleep_ms(20);
	}
	ck_assert_msg(jint(st, "open", -1) == 0, "upstream still open after the client left: %s", st);
	ck_assert_msg(jint(st, "closed_by_peer", -1) == 1, "stats %s", st);
	/* the proxy is fine afterwards */
	post_to(e.port, "/v1/chat/completions", chat_body("claude-x", 0), &r);
	expect_status(&r, 200);
}
END_TEST

/*
 * Conversion must not depend on how the upstream cut its writes: the "split"
 * run is compared with a plain run whose model name has the same length.
 */
static const struct split_case {
	const char *path, *plain, *split;
} split_cases[] = {
	{ "/v1/chat/completions", "claude-plain", "claude-split" },
	{ "/v1/chat/completions", "claude-parallel-tools-plain", "claude-parallel-tools-split" },
	{ "/v1/chat/completions", "claude-thinking-plain", "claude-thinking-split" },
	{ "/v1/messages", "gpt-plainfast", "gpt-splitfast" },
	{ "/v1/messages", "gpt-tools-plainfast", "gpt-tools-splitfast" },
	{ "/v1/chat/completions", "gpt-plainfast", "gpt-splitfast" },
	{ "/v1/messages", "claude-plain", "claude-split" },
};

/* Timestamps may tick and generated ids differ between the two runs:
 * overwrite the letters and digits that follow key. */
static void
mask_after(char *s, const char *key, char fill)
{
	char *p = s;
	size_t k = strlen(key);
	while ((p = strstr(p, key)) != NULL) {
		p += k;
		while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == '-')
			*p++ = fill;
	}
}

static void
mask_generated(char *s)
{
	mask_after(s, "\"created\":", '0');
	mask_after(s, "\"id\":\"chatcmpl-", 'X');
	mask_after(s, "\"id\":\"msg_", 'X');
}

START_TEST(t_split_stream)
{
	const struct split_case *s = &split_cases[_i];
	struct resp a, b;
	int chat = strstr(s->path, "chat") != NULL;
	char *(*mk)(const char *, int) = chat ? chat_body : ant_body;

	post(s->path, mk(s->plain, 1), &a);
	post(s->path, mk(s->split, 1), &b);
	expect_status(&a, 200);
	expect_status(&b, 200);
	ck_assert(a.complete && b.complete);
	replace_all(b.body, b.body_len, "split", "plain");
	mask_generated(a.body);
	mask_generated(b.body);
	if (a.body_len != b.body_len || strcmp(a.body, b.body) != 0) {
		fprintf(stderr, "--- plain\n%s\n--- split\n%s\n---\n", a.body, b.body);
		ck_abort_msg("%s: split output differs (both on stderr)", s->split);
	}
	if (chat) {
		struct chat_acc acc;
		check_chat_stream(&b, &acc);
		ck_assert(acc.done);
	} else {
		struct ant_acc acc;
		check_anthropic_stream(&b, &acc);
		ck_assert(acc.stopped);
	}
}
END_TEST

/* ---------------------------------------------- TLS upstreams */

static struct env tls_env;          /* ca.pem: tls + wrongname providers */
static struct env tls_env_other;    /* other-ca.pem */

static void
tls_start(void)
{
	memset(&tls_env, 0, sizeof tls_env);
	tls_env.mock = start_mock(NULL, NULL, &tls_env.mock_port);
	tls_env.tls_mock = start_mock("tests/certs/server.pem", "tests/certs/server.key", &tls_env.tls_port);
	tls_env.bad_mock = start_mock("tests/certs/server-wrongname.pem",
	    "tests/certs/server-wrongname.key", &tls_env.bad_port);
	start_proxy(&tls_env, "tests/certs/ca.pem");
	tls_env_other = tls_env;
	tls_env_other.bad_port = 0;
	start_proxy(&tls_env_other, "tests/certs/other-ca.pem");
}

static void
tls_stop(void)
{
	int a = proc_stop(tls_env.proxy, 10000 * scale);
	int b = proc_stop(tls_env_other.proxy, 10000 * scale);
	if (a != 0 || b != 0) {
		fprintf(stderr, "TLS proxies exited with %d / %d\n", a, b);
		dump_log("proxy", tls_env.proxy->log);
		dump_log("proxy", tls_env_other.proxy->log);
		teardown_failed = 1;
	}
	proc_stop(tls_env.mock, 2000);
	proc_stop(tls_env.tls_mock, 2000);
	proc_stop(tls_env.bad_mock, 2000);
}

START_TEST(t_tls_ok)
{
	struct resp r;
	struct chat_acc a;
	char *want = jstr(fixture("anthropic_response_text.json", NULL), "content.0.text");
	int i;

	for (i = 0; i < 2; i++) {   /* the second one reuses the connection */
		post_to(tls_env.port, "/v1/chat/completions", chat_body("tls-x", 0), &r);
		expect_status(&r, 200);
		ck_str(jstr(r.body, "choices.0.message.content"), want);
	}
	post_to(tls_env.port, "/v1/chat/completions", chat_body("tls-split", 1), &r);
	check_chat_stream(&r, &a);
	ck_assert(a.done);
	ck_str(a.content, fixture_concat("anthropic_stream_text.sse", "content_block_delta", "delta.text"));
	ck_assert_int_eq(jint(mock_stats(tls_env.mock_port), "requests", -1), 0);
}
END_TEST

START_TEST(t_tls_wrong_name)
{
	struct resp r;

	post_to(tls_env.port, "/v1/chat/completions", chat_body("wrongname-x", 0), &r);
	expect_openai_error(&r, 502, "hostname mismatch");
	ck_str(resp_hdr(&r, "retry-after"), "1");
	/* the provider now cools down: 503 at once, still saying why */
	post_to(tls_env.port, "/v1/messages", ant_body("wrongname-x", 0), &r);
	expect_anthropic_error(&r, 503, NULL, "hostname mismatch");
	ck_str(resp_hdr(&r, "retry-after"), "1");
}
END_TEST

START_TEST(t_tls_untrusted)
{
	struct resp r;

	post_to(tls_env_other.port, "/v1/chat/completions", chat_body("tls-x", 0), &r);
	expect_openai_error(&r, 502, "not trusted");
	/* plain http providers still work with that config */
	post_to(tls_env_other.port, "/v1/chat/completions", chat_body("gpt-4o", 0), &r);
	expect_status(&r, 200);
}
END_TEST

/* ---------------------------------------------- SIGTERM */

START_TEST(t_sigterm_drain)
{
	struct env e;
	struct client c;
	struct resp r;
	struct chat_acc a;
	long long deadline;
	int fd, refused = 0, st;

	env_start(&e);
	client_open(&c, e.port);
	client_send(&c, req_text("POST", "/v1/chat/completions", AUTH_CHAT, chat_body("claude-slow", 1)));
	deadline = mono_ms() + IO_MS;
	ck_assert_int_eq(read_head(&c, &r, deadline), 0);
	expect_status(&r, 200);
	while (!memfind(c.buf ? c.buf : "", c.len, "\n\n"))
		ck_assert_msg(client_fill(&c, deadline) > 0, "no first event");

	ck_assert_int_eq(kill(e.proxy->pid, SIGTERM), 0);
	/* the listener goes away at once */
	deadline = mono_ms() + 1000LL * scale;
	while (mono_ms() < deadline) {
		fd = tcp_connect(e.port);
		if (fd < 0 && errno == ECONNREFUSED) {
			refused = 1;
			break;
		}
		if (fd >= 0)
			close(fd);
		sleep_ms(20);
	}
	ck_assert_msg(refused, "new connections still accepted after SIGTERM");

	/* the running stream completes */
	ck_assert_int_eq(read_body(&c, &r, 0, mono_ms() + IO_MS), 0);
	check_chat_stream(&r, &a);
	ck_assert_msg(a.done, "stream did not finish after SIGTERM:\n%s", r.body);
	ck_assert_ptr_null(a.error);
	ck_str(a.content, fixture_concat("anthropic_stream_text.sse", "content_block_delta", "delta.text"));
	client_close(&c);

	/* and then the proxy exits 0 */
	deadline = mono_ms() + 5000LL * scale;
	while (mono_ms() < deadline) {
		if (waitpid(e.proxy->pid, &st, WNOHANG) == e.proxy->pid) {
			e.proxy->pid = 0;
			break;
		}
		sleep_ms(10);
	}
	ck_assert_msg(e.proxy->pid == 0, "proxy still running after the drain");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "proxy exit status %d", st);
}
END_TEST

/* ---------------------------------------------- embeddings, token counts */

/*
 * Own environment: the shared config has no Gemini or Responses provider.
 * The mock answers embeddings and counts from what it received (see
 * mock_upstream.c), and GET /_last shows that request.
 */
static struct env emb;

#define AUTH_GEM "x-goog-api-key: sk-test\r\n"

static void
emb_start(void)
{
	FILE *f;

	memset(&emb, 0, sizeof emb);
	emb.mock = start_mock(NULL, NULL, &emb.mock_port);
	snprintf(emb.cfg, sizeof emb.cfg, "%s/config.emb.%d.json", tmpdir,
	    (int)getpid());
	f = fopen(emb.cfg, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
	    "{\"listen\": \"127.0.0.1:0\", \"api_keys\": [\"sk-test\"],\n"
	    " \"providers\": [\n"
	    "  {\"name\": \"oai\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:%d/v1\", \"api_key\": \"up-oai\"},\n"
	    "  {\"name\": \"resp\", \"type\": \"openai-responses\", \"base_url\": \"http://127.0.0.1:%d/v1\", \"api_key\": \"up-resp\"},\n"
	    "  {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:%d\", \"api_key\": \"up-ant\"},\n"
	    "  {\"name\": \"gem\", \"type\": \"gemini\", \"base_url\": \"http://127.0.0.1:%d/v1beta\", \"api_key\": \"up-gem\"}],\n"
	    " \"models\": {\"gpt-*\": \"oai\", \"resp-*\": \"resp\", \"claude-*\": \"ant\",\n"
	    "  \"gemini-*\": \"gem\", \"embed-alias\": \"gem/gemini-embedding-usage-001\",\n"
	    "  \"oai-alias\": \"oai/text-embedding-3-small\"},\n"
	    " \"timeouts\": {\"first_byte_ms\": %d}}\n",
	    emb.mock_port, emb.mock_port, emb.mock_port, emb.mock_port,
	    5000 * scale);
	fclose(f);
	spawn_proxy(&emb);
}

static void
emb_stop(void)
{
	env_stop(&emb);
}

static void
emb_post(const char *path, const char *hdrs, const char *body, struct resp *r)
{
	exchange(emb.port, req_text("POST", path, hdrs, body), r);
}

/* The request the mock received last. */
static void
emb_last(struct echo *e)
{
	struct resp r;

	exchange(emb.mock_port, req_text("GET", "/_last", NULL, NULL), &r);
	expect_status(&r, 200);
	split_echo(r.body, e);
}

/* The mock's vector for input i of length len (its rule, written out
 * independently): value j = (len + i + j) / 4, negative when j % 3 == 1,
 * written "1.250" / "-1.250" / "125e-2". */
static char *
emb_values(size_t len, size_t i, int dims)
{
	char *s = strf("%s", ""), *t;
	int j;

	for (j = 0; j < dims; j++) {
		long long q = (long long)(len + i) + j;
		if (j % 3 == 2)
			t = strf("%s%s%llde-2", s, j ? "," : "", q * 25);
		else
			t = strf("%s%s%s%lld.%02lld0", s, j ? "," : "",
			    j % 3 == 1 ? "-" : "", q / 4, (q % 4) * 25);
		free(s);
		s = t;
	}
	return s;
}

static float
emb_value(size_t len, size_t i, int j)
{
	long long q = (long long)(len + i) + j;
	return (float)(j % 3 == 1 ? -q : q) / 4.0f;
}

/* Standard base64 decode (test side); returns bytes, -1 on bad input. */
static long
b64_decode(const char *s, unsigned char *out, size_t cap)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned v = 0;
	int bits = 0;
	size_t n = 0;

	for (; *s && *s != '='; s++) {
		const char *p = strchr(tab, *s);
		if (!p)
			return -1;
		v = (v << 6) | (unsigned)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return -1;
			out[n++] = (unsigned char)(v >> bits);
		}
	}
	return (long)n;
}

START_TEST(t_embed_gemini_single)
{
	struct resp r;
	struct echo e;
	char *want;

	emb_post("/v1/embeddings", AUTH_CHAT,
	    "{\"model\":\"gemini-emb\",\"input\":\"hello\",\"user\":\"u1\"}", &r);
	expect_status(&r, 200);
	want = strf("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
	    "\"index\":0,\"embedding\":[%s]}],\"model\":\"gemini-emb\","
	    "\"usage\":{\"prompt_tokens\":0,\"total_tokens\":0}}",
	    emb_values(5, 0, 4));
	ck_str(r.body, want);
	emb_last(&e);
	ck_str(e.line, "POST /v1beta/models/gemini-emb:embedContent");
	ck_assert_msg(strstr(e.headers, "\nx-goog-api-key: up-gem\n"), "no upstream key: %s", e.headers);
	ck_assert_msg(!strstr(e.headers, "sk-test"), "client key forwarded");
	ck_str(e.body, "{\"content\":{\"parts\":[{\"text\":\"hello\"}]}}");
}
END_TEST

START_TEST(t_embed_gemini_batch)
{
	struct resp r;
	struct echo e;
	char *want;

	/* alias: upstream model differs; its name has "usage", so the mock
	 * reports usageMetadata (5 + 2 + 3 bytes) */
	emb_post("/v1/embeddings", AUTH_CHAT,
	    "{\"model\":\"embed-alias\",\"input\":[\"hello\",\"hi\",\"abc\"],"
	    "\"dimensions\":5,\"encoding_format\":\"float\"}", &r);
	expect_status(&r, 200);
	want = strf("{\"object\":\"list\",\"data\":["
	    "{\"object\":\"embedding\",\"index\":0,\"embedding\":[%s]},"
	    "{\"object\":\"embedding\",\"index\":1,\"embedding\":[%s]},"
	    "{\"object\":\"embedding\",\"index\":2,\"embedding\":[%s]}],"
	    "\"model\":\"embed-alias\","
	    "\"usage\":{\"prompt_tokens\":10,\"total_tokens\":10}}",
	    emb_values(5, 0, 5), emb_values(2, 1, 5), emb_values(3, 2, 5));
	ck_str(r.body, want);
	emb_last(&e);
	ck_str(e.line, "POST /v1beta/models/gemini-embedding-usage-001:batchEmbedContents");
	ck_str(e.body, "{\"requests\":["
	    "{\"model\":\"models/gemini-embedding-usage-001\",\"content\":{\"parts\":[{\"text\":\"hello\"}]},\"outputDimensionality\":5},"
	    "{\"model\":\"models/gemini-embedding-usage-001\",\"content\":{\"parts\":[{\"text\":\"hi\"}]},\"outputDimensionality\":5},"
	    "{\"model\":\"models/gemini-embedding-usage-001\",\"content\":{\"parts\":[{\"text\":\"abc\"}]},\"outputDimensionality\":5}]}");
}
END_TEST

START_TEST(t_embed_gemini_base64)
{
	struct resp r;
	unsigned char raw[64];
	const char *lens = "\x05\x02";
	int i, j;

	emb_post("/v1/embeddings", AUTH_CHAT,
	    "{\"model\":\"gemini-emb\",\"input\":[\"hello\",\"hi\"],"
	    "\"dimensions\":3,\"encoding_format\":\"base64\"}", &r);
	expect_status(&r, 200);
	ck_assert_int_eq(jlen(r.body, "data"), 2);
	ck_str(jstr(r.body, "object"), "list");
	ck_str(jstr(r.body, "model"), "gemini-emb");
	for (i = 0; i < 2; i++) {
		char path[64];
		char *b64;
		snprintf(path, sizeof path, "data.%d.index", i);
		ck_assert_int_eq(jint(r.body, path, -1), i);
		snprintf(path, sizeof path, "data.%d.embedding", i);
		b64 = jstr(r.body, path);
		ck_assert_msg(b64 != NULL, "no base64 string: %s", r.body);
		ck_assert_int_eq(b64_decode(b64, raw, sizeof raw), 12);
		for (j = 0; j < 3; j++) {
			/* little-endian float32, independent of host order */
			uint32_t bits = (uint32_t)raw[4 * j] |
			    (uint32_t)raw[4 * j + 1] << 8 |
			    (uint32_t)raw[4 * j + 2] << 16 |
			    (uint32_t)raw[4 * j + 3] << 24;
			float f, want = emb_value((size_t)lens[i], (size_t)i, j);
			memcpy(&f, &bits, sizeof f);
			ck_assert_msg(f == want, "input %d value %d: %g, want %g",
			    i, j, (double)f, (double)want);
		}
	}
	/* and the exact text: hello -> 1.25 -1.5 1.75 */
	ck_str(jstr(r.body, "data.0.embedding"), "AACgPwAAwL8AAOA/");
}
END_TEST

START_TEST(t_embed_openai_passthrough)
{
	struct resp r, direct;
	struct echo e;
	/* odd spacing and token-array input survive untouched */
	const char *body = "{ \"input\" : [[1,2,3],[40,50]], \"model\":\"gpt-emb\","
	    " \"encoding_format\":\"float\" , \"dimensions\": 2}";

	emb_post("/v1/embeddings", AUTH_CHAT, body, &r);
	expect_status(&r, 200);
	emb_last(&e);
	ck_str(e.line, "POST /v1/embeddings");
	ck_assert_msg(strstr(e.headers, "\nauthorization: Bearer up-oai\n"), "no upstream key: %s", e.headers);
	ck_str(e.body, body);
	/* the answer is the upstream's, byte for byte */
	exchange(emb.mock_port, req_text("POST", "/v1/embeddings", NULL, body), &direct);
	expect_status(&direct, 200);
	ck_str(r.body, direct.body);
	ck_str(jraw(r.body, "data.1.embedding"), "[2.000,-2.250]");

	/* an alias: only the model value changes */
	emb_post("/v1/embeddings", AUTH_CHAT,
	    "{\"model\" : \"oai-alias\", \"input\": \"x\"}", &r);
	expect_status(&r, 200);
	emb_last(&e);
	ck_str(e.body, "{\"model\" : \"text-embedding-3-small\", \"input\": \"x\"}");
	ck_str(jstr(r.body, "model"), "text-embedding-3-small");

	/* an openai-responses provider has the same /embeddings */
	emb_post("/embeddings", AUTH_CHAT,
	    "{\"model\":\"resp-emb\",\"input\":\"abc\"}", &r);
	expect_status(&r, 200);
	emb_last(&e);
	ck_str(e.line, "POST /v1/embeddings");
	ck_assert_msg(strstr(e.headers, "\nauthorization: Bearer up-resp\n"), "no upstream key: %s", e.headers);
	ck_str(r.body, strf("{\"object\":\"list\",\"data\":[{\"object\":"
	    "\"embedding\",\"index\":0,\"embedding\":[%s]}],\"model\":"
	    "\"resp-emb\",\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}",
	    emb_values(3, 0, 4)));
}
END_TEST

static const struct emb_bad {
	const char *model, *body_rest;
	int status;
	const char *msg;
} emb_bad[] = {
	{ "claude-emb", ",\"input\":\"x\"", 400, "no embeddings API" },
	{ "gemini-emb", ",\"input\":[1,2,3]", 400, "token id input is not supported" },
	{ "gemini-emb", ",\"input\":[[1],[2]]", 400, "token id input is not supported" },
	{ "gemini-emb", "", 400, "missing \"input\"" },
	{ "gemini-emb", ",\"input\":[]", 400, "must not be empty" },
	{ "gemini-emb", ",\"input\":[\"a\",1]", 400, "\"input\" must be" },
	{ "gemini-emb", ",\"input\":{\"a\":1}", 400, "\"input\" must be" },
	{ "gemini-emb", ",\"input\":\"a\",\"encoding_format\":\"int8\"", 400, "encoding_format" },
	{ "gemini-emb", ",\"input\":\"a\",\"dimensions\":0", 400, "dimensions" },
	{ "gemini-emb", ",\"input\":\"a\",\"dimensions\":1.5", 400, "dimensions" },
	{ "nomodel-x", ",\"input\":\"a\"", 404, "not configured" },
};

START_TEST(t_embed_bad_request)
{
	const struct emb_bad *b = &emb_bad[_i];
	struct resp r, st;

	/* nothing reaches the upstream */
	exchange(emb.mock_port, req_text("GET", "/_stats?reset=1", NULL, NULL), &st);
	emb_post("/v1/embeddings", AUTH_CHAT,
	    strf("{\"model\":\"%s\"%s}", b->model, b->body_rest), &r);
	expect_openai_error(&r, b->status, b->msg);
	exchange(emb.mock_port, req_text("GET", "/_stats", NULL, NULL), &st);
	ck_assert_int_eq(jint(st.body, "requests", -1), 0);
}
END_TEST

START_TEST(t_embed_upstream_errors)
{
	struct resp r;

	emb_post("/v1/embeddings", AUTH_CHAT,
	    "{\"model\":\"gemini-error429-e1\",\"input\":\"x\"}", &r);
	expect_openai_error(&r, 429, "quota");
	ck_str(resp_hdr(&r, "retry-after"), "7");
	ck_str(jstr(r.body, "error.type"), "rate_limit_error");
	emb_post("/v1/embeddings", AUTH_CHAT,
	    "{\"model\":\"gemini-error400\",\"input\":[\"x\",\"y\"]}", &r);
	expect_openai_error(&r, 400, NULL);
	emb_post("/v1/embeddings", AUTH_CHAT,
	    "{\"model\":\"gemini-error500\",\"input\":\"x\"}", &r);
	expect_openai_error(&r, 500, "internal error");
	/* passthrough: the OpenAI error as it came */
	emb_post("/v1/embeddings", AUTH_CHAT,
	    "{\"model\":\"gpt-error429-e2\",\"input\":\"x\"}", &r);
	expect_openai_error(&r, 429, NULL);
}
END_TEST

START_TEST(t_embed_too_large)
{
	struct resp r;

	/* 2 x 1,000,000 values at ~19 bytes each: over PX_EMBED_RESP_MAX */
	emb_post("/v1/embeddings", AUTH_CHAT,
	    "{\"model\":\"gemini-emb\",\"input\":[\"a\",\"b\"],"
	    "\"dimensions\":1000000}", &r);
	expect_openai_error(&r, 502, "PX_EMBED_RESP_MAX");
	/* the proxy still serves */
	emb_post("/v1/embeddings", AUTH_CHAT,
	    "{\"model\":\"gemini-emb\",\"input\":\"a\",\"dimensions\":1}", &r);
	expect_status(&r, 200);
	ck_str(jraw(r.body, "data.0.embedding"), "[0.250]");
}
END_TEST

START_TEST(t_count_anthropic_to_gemini)
{
	struct resp r;
	struct echo e;
	char *want;

	emb_post("/v1/messages/count_tokens", AUTH_ANT,
	    "{\"model\":\"gemini-x\",\"system\":\"Be brief.\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]" TOOL_ANT "}", &r);
	expect_status(&r, 200);
	emb_last(&e);
	ck_str(e.line, "POST /v1beta/models/gemini-x:countTokens");
	ck_assert_msg(strstr(e.headers, "\nx-goog-api-key: up-gem\n"), "no upstream key: %s", e.headers);
	ck_str(e.body, "{\"generateContentRequest\":{\"model\":\"models/gemini-x\","
	    "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hello\"}]}],"
	    "\"systemInstruction\":{\"parts\":[{\"text\":\"Be brief.\"}]},"
	    "\"tools\":[{\"functionDeclarations\":[{\"name\":\"get_weather\","
	    "\"parametersJsonSchema\":{\"type\":\"object\",\"properties\":"
	    "{\"location\":{\"type\":\"string\"}}}}]}]}}");
	/* the mock counts the bytes it received */
	want = strf("{\"input_tokens\":%zu}", strlen(e.body));
	ck_str(r.body, want);
	ck_assert_ptr_null(resp_hdr(&r, "x-llmproxy-estimate"));
}
END_TEST

START_TEST(t_count_gemini_to_anthropic)
{
	struct resp r;
	struct echo e;

	emb_post("/v1beta/models/claude-x:countTokens", AUTH_GEM,
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hello\"}]}]}", &r);
	expect_status(&r, 200);
	emb_last(&e);
	ck_str(e.line, "POST /v1/messages/count_tokens");
	ck_assert_msg(strstr(e.headers, "\nx-api-key: up-ant\n"), "no upstream key: %s", e.headers);
	ck_assert_msg(strstr(e.headers, "\nanthropic-version: 20"), "no anthropic-version: %s", e.headers);
	ck_str(e.body, "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\","
	    "\"content\":[{\"type\":\"text\",\"text\":\"Hello\"}]}]}");
	ck_str(r.body, strf("{\"totalTokens\":%zu}", strlen(e.body)));

	/* generateContentRequest form: system and tools kept, generation
	 * options (max_tokens) left out, as count_tokens rejects them */
	emb_post("/v1/models/claude-x:countTokens", AUTH_GEM,
	    "{\"generateContentRequest\":{\"model\":\"models/claude-x\","
	    "\"systemInstruction\":{\"parts\":[{\"text\":\"Sys\"}]},"
	    "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]}],"
	    "\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\",\"parameters\":{\"type\":\"OBJECT\"}}]}],"
	    "\"generationConfig\":{\"maxOutputTokens\":10,\"temperature\":0.5}}}", &r);
	expect_status(&r, 200);
	emb_last(&e);
	ck_str(e.line, "POST /v1/messages/count_tokens");
	ck_assert_msg(jvalid(e.body), "not JSON: %s", e.body);
	ck_str(jstr(e.body, "model"), "claude-x");
	ck_str(jstr(e.body, "system"), "Sys");
	ck_str(jstr(e.body, "messages.0.content.0.text"), "Hi");
	ck_str(jstr(e.body, "tools.0.name"), "f");
	ck_assert_msg(!jhas(e.body, "max_tokens") && !jhas(e.body, "temperature") &&
	    !jhas(e.body, "stream"), "generation options sent to count_tokens: %s", e.body);
	ck_str(r.body, strf("{\"totalTokens\":%zu}", strlen(e.body)));
}
END_TEST

START_TEST(t_count_same_format)
{
	struct resp r;
	struct echo e;
	const char *body = "{\"model\":\"claude-x\", \"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";

	emb_post("/v1/messages/count_tokens", AUTH_ANT, body, &r);
	expect_status(&r, 200);
	emb_last(&e);
	ck_str(e.body, body);   /* passthrough, untouched */
	ck_str(r.body, strf("{\"input_tokens\":%zu}", strlen(body)));
	body = "{\"contents\": [{\"parts\":[{\"text\":\"Hello\"}]}]}";
	emb_post("/v1beta/models/gemini-x:countTokens", AUTH_GEM, body, &r);
	expect_status(&r, 200);
	emb_last(&e);
	ck_str(e.line, "POST /v1beta/models/gemini-x:countTokens");
	ck_str(e.body, body);
	ck_str(r.body, strf("{\"totalTokens\": %zu,\"promptTokensDetails\": []}", strlen(body)));
}
END_TEST

START_TEST(t_count_estimate)
{
	struct resp r, st;
	const char *body;

	exchange(emb.mock_port, req_text("GET", "/_stats?reset=1", NULL, NULL), &st);
	/* 11 bytes of text ("Hello there") -> 3 */
	emb_post("/v1beta/models/gpt-x:countTokens", AUTH_GEM,
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hello there\"}]}]}", &r);
	expect_status(&r, 200);
	ck_str(resp_hdr(&r, "x-llmproxy-estimate"), "true");
	ck_str(r.body, "{\"totalTokens\":3}");
	/* system 4 + text 11 + tool name 11 + schema 61 = 87 bytes -> 22 */
	ck_assert_uint_eq(strlen("{\"type\":\"object\",\"properties\":"
	    "{\"location\":{\"type\":\"string\"}}}"), 61);
	emb_post("/v1/messages/count_tokens", AUTH_ANT,
	    "{\"model\":\"resp-x\",\"system\":\"Sys.\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"Hello there\"}]" TOOL_ANT "}", &r);
	expect_status(&r, 200);
	ck_str(resp_hdr(&r, "x-llmproxy-estimate"), "true");
	ck_str(r.body, "{\"input_tokens\":22,\"note\":\"estimate by llmproxy "
	    "(request text bytes / 4): the upstream for this model has no token "
	    "counting endpoint\"}");
	/* undecodable: raw body bytes */
	body = "{\"model\":\"gpt-x\",\"messages\":5}";
	emb_post("/v1/messages/count_tokens", AUTH_ANT, body, &r);
	expect_status(&r, 200);
	ck_str(r.body, strf("{\"input_tokens\":%zu,\"note\":\"estimate by "
	    "llmproxy (request bytes / 4): the upstream for this model has no "
	    "token counting endpoint\"}", (strlen(body) + 3) / 4));
	exchange(emb.mock_port, req_text("GET", "/_stats", NULL, NULL), &st);
	ck_assert_int_eq(jint(st.body, "requests", -1), 0);
}
END_TEST

START_TEST(t_count_errors)
{
	struct resp r;

	/* Gemini upstream error -> Anthropic shape */
	emb_post("/v1/messages/count_tokens", AUTH_ANT,
	    "{\"model\":\"gemini-error429-c1\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r);
	expect_anthropic_error(&r, 429, "rate_limit_error", "quota");
	ck_str(resp_hdr(&r, "retry-after"), "7");
	/* Anthropic upstream error -> Gemini shape */
	emb_post("/v1beta/models/claude-error500:countTokens", AUTH_GEM,
	    "{\"contents\":[{\"parts\":[{\"text\":\"Hi\"}]}]}", &r);
	expect_status(&r, 500);
	ck_assert_int_eq(jint(r.body, "error.code", -1), 500);
	ck_str(jstr(r.body, "error.status"), "INTERNAL");
	ck_assert_msg(jstr(r.body, "error.message") != NULL, "no message: %s", r.body);
	/* a request that cannot be converted: client's error shape, 400 */
	emb_post("/v1beta/models/claude-x:countTokens", AUTH_GEM,
	    "{\"generateContentRequest\":5}", &r);
	expect_status(&r, 400);
	ck_assert_int_eq(jint(r.body, "error.code", -1), 400);
	emb_post("/v1/messages/count_tokens", AUTH_ANT,
	    "{\"model\":\"gemini-x\",\"messages\":5}", &r);
	expect_anthropic_error(&r, 400, "invalid_request_error", NULL);
}
END_TEST

/* Gemini error shape: {"error":{"code":N,"message":...,"status":...}} */
static void
expect_gemini_error(const struct resp *r, int status, const char *gstatus,
                    const char *msg_part)
{
	char *msg;

	expect_status(r, status);
	ck_assert_msg(jvalid(r->body), "error body is not JSON: %s", r->body);
	ck_assert_int_eq(jint(r->body, "error.code", -1), status);
	if (gstatus)
		ck_str(jstr(r->body, "error.status"), gstatus);
	msg = jstr(r->body, "error.message");
	ck_assert_msg(msg != NULL, "no error.message in %s", r->body);
	if (msg_part)
		ck_assert_msg(strstr(msg, msg_part) != NULL,
		    "error message '%s' lacks '%s'", msg, msg_part);
}

START_TEST(t_gemini_embed_to_openai)
{
	struct resp r;
	struct echo e;

	/* taskType and title have no OpenAI counterpart: dropped */
	emb_post("/v1beta/models/gpt-emb:embedContent", AUTH_GEM,
	    "{\"model\":\"models/gpt-emb\",\"content\":{\"parts\":[{\"text\":"
	    "\"hello\"}]},\"taskType\":\"RETRIEVAL_DOCUMENT\",\"title\":\"T\","
	    "\"outputDimensionality\":3}", &r);
	expect_status(&r, 200);
	ck_str(r.body, strf("{\"embedding\":{\"values\":[%s]}}",
	    emb_values(5, 0, 3)));
	emb_last(&e);
	ck_str(e.line, "POST /v1/embeddings");
	ck_assert_msg(strstr(e.headers, "\nauthorization: Bearer up-oai\n"), "no upstream key: %s", e.headers);
	ck_assert_msg(!strstr(e.headers, "sk-test"), "client key forwarded");
	ck_str(e.body, "{\"model\":\"gpt-emb\",\"input\":\"hello\","
	    "\"encoding_format\":\"float\",\"dimensions\":3}");

	/* batch under /v1, key in the query, an alias; parts joined */
	emb_post("/v1/models/oai-alias:batchEmbedContents?key=sk-test", NULL,
	    "{\"requests\":[{\"model\":\"models/oai-alias\",\"content\":{\"parts\":"
	    "[{\"text\":\"hel\"},{\"text\":\"lo\"}]}},{\"content\":{\"parts\":"
	    "[{\"text\":\"hi\"}]},\"taskType\":\"CLUSTERING\"}]}", &r);
	expect_status(&r, 200);
	ck_str(r.body, strf("{\"embeddings\":[{\"values\":[%s]},{\"values\":[%s]}]}",
	    emb_values(5, 0, 4), emb_values(2, 1, 4)));
	emb_last(&e);
	ck_str(e.line, "POST /v1/embeddings");
	ck_str(e.body, "{\"model\":\"text-embedding-3-small\",\"input\":"
	    "[\"hello\",\"hi\"],\"encoding_format\":\"float\"}");

	/* openai-responses providers have the same /embeddings; a batch of
	 * one stays a list */
	emb_post("/v1beta/models/resp-emb:batchEmbedContents", AUTH_GEM,
	    "{\"requests\":[{\"content\":{\"parts\":[{\"text\":\"abc\"}]},"
	    "\"outputDimensionality\":2}]}", &r);
	expect_status(&r, 200);
	ck_str(r.body, strf("{\"embeddings\":[{\"values\":[%s]}]}",
	    emb_values(3, 0, 2)));
	emb_last(&e);
	ck_str(e.line, "POST /v1/embeddings");
	ck_assert_msg(strstr(e.headers, "\nauthorization: Bearer up-resp\n"), "no upstream key: %s", e.headers);
	ck_str(e.body, "{\"model\":\"resp-emb\",\"input\":[\"abc\"],"
	    "\"encoding_format\":\"float\",\"dimensions\":2}");
}
END_TEST

START_TEST(t_gemini_embed_passthrough)
{
	struct resp r, direct;
	struct echo e;
	const char *single = "{ \"model\": \"models/embed-alias\", \"content\": "
	    "{\"parts\": [{\"text\": \"hello\"}]}, \"taskType\": \"RETRIEVAL_QUERY\","
	    " \"outputDimensionality\": 2 }";
	const char *batch = "{\"requests\": [\n  {\"model\": \"models/embed-alias\","
	    " \"content\": {\"parts\": [{\"text\": \"hello\"}]}, \"title\": \"T\"},\n"
	    "  {\"content\": {\"parts\": [{\"text\": \"hi\"}]}}\n]}";
	const char *sent = "{\"requests\": [\n  {\"model\": "
	    "\"models/gemini-embedding-usage-001\", \"content\": {\"parts\": "
	    "[{\"text\": \"hello\"}]}, \"title\": \"T\"},\n  {\"model\":"
	    "\"models/gemini-embedding-usage-001\",\"content\": {\"parts\": "
	    "[{\"text\": \"hi\"}]}}\n]}";

	/* only the model changes; the answer is the upstream's */
	emb_post("/v1beta/models/embed-alias:embedContent", AUTH_GEM, single, &r);
	expect_status(&r, 200);
	emb_last(&e);
	ck_str(e.line, "POST /v1beta/models/gemini-embedding-usage-001:embedContent");
	ck_assert_msg(strstr(e.headers, "\nx-goog-api-key: up-gem\n"), "no upstream key: %s", e.headers);
	ck_assert_msg(!strstr(e.headers, "sk-test"), "client key forwarded");
	ck_str(e.body, "{ \"model\": \"models/gemini-embedding-usage-001\", "
	    "\"content\": {\"parts\": [{\"text\": \"hello\"}]}, \"taskType\": "
	    "\"RETRIEVAL_QUERY\", \"outputDimensionality\": 2 }");
	exchange(emb.mock_port, req_text("POST",
	    "/v1beta/models/gemini-embedding-usage-001:embedContent", NULL,
	    e.body), &direct);
	expect_status(&direct, 200);
	ck_str(r.body, direct.body);
	ck_str(jraw(r.body, "embedding.values"), strf("[\n      %s\n    ]",
	    "1.250,\n      -1.500"));

	/* batch: every request names the upstream model, as Gemini requires
	 * (the client's own body is refused by the upstream) */
	exchange(emb.mock_port, req_text("POST",
	    "/v1beta/models/gemini-embedding-usage-001:batchEmbedContents", NULL,
	    batch), &direct);
	expect_gemini_error(&direct, 400, "INVALID_ARGUMENT", "must match");
	emb_post("/v1/models/embed-alias:batchEmbedContents", AUTH_GEM, batch, &r);
	expect_status(&r, 200);
	emb_last(&e);
	ck_str(e.line, "POST /v1beta/models/gemini-embedding-usage-001:batchEmbedContents");
	ck_str(e.body, sent);
	exchange(emb.mock_port, req_text("POST",
	    "/v1beta/models/gemini-embedding-usage-001:batchEmbedContents", NULL,
	    sent), &direct);
	expect_status(&direct, 200);
	ck_str(r.body, direct.body);
	ck_assert_int_eq(jlen(r.body, "embeddings"), 2);
	ck_assert_int_eq(jint(r.body, "usageMetadata.promptTokenCount", -1), 7);
}
END_TEST

static const struct gemb_bad {
	const char *path, *body;
	const char *msg;
} gemb_bad[] = {
	{ "/v1beta/models/claude-emb:embedContent",
	  "{\"content\":{\"parts\":[{\"text\":\"x\"}]}}", "no embeddings API" },
	{ "/v1beta/models/claude-emb:batchEmbedContents",
	  "{\"requests\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]}}]}", "no embeddings API" },
	{ "/v1beta/models/gpt-emb:embedContent",
	  "{\"content\":{\"parts\":[{\"inlineData\":{\"mimeType\":\"image/png\","
	  "\"data\":\"AAAA\"}}]}}", "only text parts" },
	{ "/v1beta/models/gpt-emb:batchEmbedContents",
	  "{\"requests\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]}},{\"content\":"
	  "{\"parts\":[{\"fileData\":{\"fileUri\":\"f\"}}]}}]}", "request 1: only text parts" },
	{ "/v1beta/models/gpt-emb:embedContent", "{}", "\"content\" must be" },
	{ "/v1beta/models/gpt-emb:batchEmbedContents",
	  "{\"requests\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
	  "\"outputDimensionality\":4},{\"content\":{\"parts\":[{\"text\":\"b\"}]},"
	  "\"outputDimensionality\":8}]}", "differs from request 0" },
	{ "/v1beta/models/gemini-emb:batchEmbedContents", "{\"requests\":{}}",
	  "\"requests\" must be" },
	{ "/v1beta/models/gemini-emb:batchEmbedContents", "", "invalid JSON at byte 0" },
	{ "/v1beta/models/gemini-emb:embedContent", "[1]", "JSON object" },
};

START_TEST(t_gemini_embed_bad_request)
{
	const struct gemb_bad *b = &gemb_bad[_i];
	struct resp r, st;

	/* Gemini's shape, and nothing reaches the upstream */
	exchange(emb.mock_port, req_text("GET", "/_stats?reset=1", NULL, NULL), &st);
	emb_post(b->path, AUTH_GEM, b->body, &r);
	expect_gemini_error(&r, 400, "INVALID_ARGUMENT", b->msg);
	exchange(emb.mock_port, req_text("GET", "/_stats", NULL, NULL), &st);
	ck_assert_int_eq(jint(st.body, "requests", -1), 0);
}
END_TEST

START_TEST(t_gemini_embed_upstream_errors)
{
	struct resp r;
	const char *one = "{\"content\":{\"parts\":[{\"text\":\"x\"}]}}";

	/* OpenAI errors in Gemini's shape, with the upstream status */
	emb_post("/v1beta/models/gpt-error429-g1:embedContent", AUTH_GEM, one, &r);
	expect_gemini_error(&r, 429, "RESOURCE_EXHAUSTED", "Rate limit");
	ck_str(resp_hdr(&r, "retry-after"), "7");
	emb_post("/v1beta/models/resp-error500:batchEmbedContents", AUTH_GEM,
	    "{\"requests\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]}}]}", &r);
	expect_gemini_error(&r, 500, "INTERNAL", NULL);
	emb_post("/v1beta/models/gpt-error400:embedContent", AUTH_GEM, one, &r);
	expect_gemini_error(&r, 400, "INVALID_ARGUMENT", NULL);
	/* Gemini's own errors as they came */
	emb_post("/v1beta/models/gemini-error429-g2:embedContent", AUTH_GEM, one, &r);
	expect_gemini_error(&r, 429, "RESOURCE_EXHAUSTED", NULL);
	ck_str(resp_hdr(&r, "retry-after"), "7");
	/* unknown model, missing key */
	emb_post("/v1beta/models/nomodel:embedContent", AUTH_GEM, one, &r);
	expect_gemini_error(&r, 404, NULL, "not configured");
	emb_post("/v1beta/models/gpt-emb:embedContent", NULL, one, &r);
	expect_gemini_error(&r, 401, NULL, "missing API key");
	/* the proxy still serves */
	emb_post("/v1beta/models/gpt-emb:embedContent", AUTH_GEM, one, &r);
	expect_status(&r, 200);
	ck_str(r.body, strf("{\"embedding\":{\"values\":[%s]}}", emb_values(1, 0, 4)));
}
END_TEST

/* ---------------------------------------------- Responses store */

/*
 * previous_response_id served by the proxy: a Responses client in front of
 * the anthropic-format mock (echo scenario: the answer text is the upstream
 * request, so the test sees what the upstream received) and in front of an
 * openai-responses upstream. Each test runs its own proxy with its own
 * "responses_store" settings.
 */

static void
rs_proxy(struct env *e, const char *store)
{
	FILE *f;
	static int seq;

	snprintf(e->cfg, sizeof e->cfg, "%s/rs.%d.%d.json", tmpdir,
	    (int)getpid(), ++seq);
	f = fopen(e->cfg, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
	    "{\"listen\": \"127.0.0.1:0\", \"api_keys\": [\"sk-test\"],\n"
	    " \"providers\": [\n"
	    "  {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:%d\", \"api_key\": \"up-ant\"},\n"
	    "  {\"name\": \"rs\", \"type\": \"openai-responses\", \"base_url\": \"http://127.0.0.1:%d/v1\", \"api_key\": \"up-rs\"}],\n"
	    " \"models\": {\"claude-*\": \"ant\", \"rs-*\": \"rs\"}%s%s}\n",
	    e->mock_port, e->mock_port, store ? ",\n \"responses_store\": " : "",
	    store ? store : "");
	fclose(f);
	spawn_proxy(e);
}

static void
rs_env(struct env *e, const char *store)
{
	memset(e, 0, sizeof *e);
	e->mock = start_mock(NULL, NULL, &e->mock_port);
	rs_proxy(e, store);
}

/* The final response object of a Responses answer: the body, or the
 * response of a streamed response.completed event. */
static char *
rs_final(const struct resp *r)
{
	struct ev *evs;
	int n, i;
	char *done = NULL;

	expect_status(r, 200);
	if (r->body[0] == '{')
		return r->body;
	n = sse_split(r->body, &evs);
	for (i = 0; i < n; i++)
		if (evs[i].event && strcmp(evs[i].event, "response.completed") == 0)
			done = jraw(evs[i].data, "response");
	ck_assert_msg(done != NULL, "no response.completed in %s", r->body);
	return done;
}

/* One turn: returns the response object; *id its id. */
static char *
rs_turn(int port, const char *model, int stream, const char *prev,
        const char *input, char **id)
{
	struct resp r;
	char *body, *fin;

	body = strf("{\"model\":\"%s\",\"input\":\"%s\"%s%s%s%s}", model, input,
	    stream ? ",\"stream\":true" : "",
	    prev ? ",\"previous_response_id\":\"" : "", prev ? prev : "",
	    prev ? "\"" : "");
	post_to(port, "/v1/responses", body, &r);
	fin = rs_final(&r);
	*id = jstr(fin, "id");
	ck_assert_msg(*id && strncmp(*id, "resp_", 5) == 0, "no id: %s", fin);
	if (prev)
		ck_str(jstr(fin, "previous_response_id"), prev);
	return fin;
}

static char *
rs_text(const char *fin)
{
	char *t = jstr(fin, "output.0.content.0.text");
	ck_assert_msg(t != NULL, "no output text: %s", fin);
	return t;
}

/* Upstream messages (anthropic echo) must be exactly these user/assistant
 * texts, alternating from a user turn. */
static void
expect_ant_history(const char *fin, const char **texts, int n)
{
	struct echo e;
	int i;

	split_echo(rs_text(fin), &e);
	ck_str(e.line, "POST /v1/messages");
	ck_assert_msg(!jhas(e.body, "previous_response_id"), "id went upstream: %s", e.body);
	ck_assert_int_eq(jlen(e.body, "messages"), n);
	for (i = 0; i < n; i++) {
		ck_str(jstr(e.body, strf("messages.%d.role", i)),
		    i % 2 ? "assistant" : "user");
		ck_str(jstr(e.body, strf("messages.%d.content.0.text", i)), texts[i]);
	}
}

#define RS_NOT_FOUND(id) "{\"error\":{\"message\":\"Previous response with id '" id \
	"' not found.\",\"type\":\"invalid_request_error\",\"param\":" \
	"\"previous_response_id\",\"code\":\"previous_response_not_found\"}}"

START_TEST(t_rs_continue_anthropic)
{
	struct env e;
	struct resp r;
	struct echo e1;
	char *id1, *id2, *f1, *f2;
	const char *want[3];

	rs_env(&e, NULL);
	f1 = rs_turn(e.port, "claude-echo", 0, NULL, "Hello one", &id1);
	split_echo(rs_text(f1), &e1);
	ck_str(jstr(e1.body, "messages.0.content.0.text"), "Hello one");
	/* instructions of an earlier turn are not carried over */
	post_to(e.port, "/v1/responses", strf("{\"model\":\"claude-echo\","
	    "\"instructions\":\"Be brief.\",\"input\":\"Second\","
	    "\"previous_response_id\":\"%s\"}", id1), &r);
	f2 = rs_final(&r);
	id2 = jstr(f2, "id");
	ck_assert_msg(strcmp(id1, id2) != 0, "same id twice: %s", id1);
	ck_str(jstr(f2, "previous_response_id"), id1);
	want[0] = "Hello one";
	want[1] = rs_text(f1);
	want[2] = "Second";
	expect_ant_history(f2, want, 3);
	split_echo(rs_text(f2), &e1);
	ck_str(jstr(e1.body, "system"), "Be brief.");
	/* turn 3 from turn 2 does not get turn 2's instructions */
	f2 = rs_turn(e.port, "claude-echo", 0, id2, "Third", &id1);
	split_echo(rs_text(f2), &e1);
	ck_assert_msg(!jhas(e1.body, "system"), "instructions carried: %s", e1.body);
}
END_TEST

START_TEST(t_rs_continue_stream)
{
	struct env e;
	char *id1, *id2, *f1, *f2, *f3;
	const char *want[5];

	rs_env(&e, NULL);
	f1 = rs_turn(e.port, "claude-echo", 1, NULL, "Streamed one", &id1);
	f2 = rs_turn(e.port, "claude-echo", 1, id1, "Streamed two", &id2);
	want[0] = "Streamed one";
	want[1] = rs_text(f1);
	want[2] = "Streamed two";
	expect_ant_history(f2, want, 3);
	/* a stream's record continues in a non-streamed turn too */
	f3 = rs_turn(e.port, "claude-echo", 0, id2, "Plain three", &id1);
	want[3] = rs_text(f2);
	want[4] = "Plain three";
	expect_ant_history(f3, want, 5);
}
END_TEST

START_TEST(t_rs_chain_three)
{
	struct env e;
	char *id1, *id2, *id3, *f1, *f2, *f3;
	const char *want[5];

	rs_env(&e, NULL);
	f1 = rs_turn(e.port, "claude-echo", 0, NULL, "One", &id1);
	f2 = rs_turn(e.port, "claude-echo", 0, id1, "Two", &id2);
	f3 = rs_turn(e.port, "claude-echo", 0, id2, "Three", &id3);
	want[0] = "One";
	want[1] = rs_text(f1);
	want[2] = "Two";
	want[3] = rs_text(f2);
	want[4] = "Three";
	expect_ant_history(f3, want, 5);
	/* a branch from turn 1 sees only turn 1 */
	f3 = rs_turn(e.port, "claude-echo", 0, id1, "Branch", &id3);
	want[2] = "Branch";
	expect_ant_history(f3, want, 3);
}
END_TEST

START_TEST(t_rs_store_false)
{
	struct env e;
	struct resp r;
	char *id;

	rs_env(&e, NULL);
	post_to(e.port, "/v1/responses", "{\"model\":\"claude-echo\","
	    "\"input\":\"Hi\",\"store\":false}", &r);
	id = jstr(rs_final(&r), "id");
	post_to(e.port, "/v1/responses", strf("{\"model\":\"claude-echo\","
	    "\"input\":\"Again\",\"previous_response_id\":\"%s\"}", id), &r);
	expect_status(&r, 404);
	ck_str(r.body, strf(RS_NOT_FOUND("%s"), id));
	ck_str(resp_hdr(&r, "content-type"), "application/json");
	/* streamed store:false too */
	post_to(e.port, "/v1/responses", "{\"model\":\"claude-echo\","
	    "\"input\":\"Hi\",\"store\":false,\"stream\":true}", &r);
	id = jstr(rs_final(&r), "id");
	exchange(e.port, req_text("GET", strf("/v1/responses/%s", id), AUTH_CHAT,
	    NULL), &r);
	expect_status(&r, 404);
}
END_TEST

START_TEST(t_rs_unknown_id)
{
	struct env e;
	struct resp r;
	struct echo ec;
	char *id1, *f;
	const char *sent = "{\"model\":\"rs-echo\",\"input\":\"Hi\","
	    "\"previous_response_id\":\"resp_upstream_knows\"}";

	rs_env(&e, NULL);
	post_to(e.port, "/v1/responses", "{\"model\":\"claude-echo\",\"input\":"
	    "\"Hi\",\"previous_response_id\":\"resp_nope\"}", &r);
	expect_status(&r, 404);
	ck_str(r.body, RS_NOT_FOUND("resp_nope"));
	/* an openai-responses upstream gets the request unchanged */
	post_to(e.port, "/v1/responses", sent, &r);
	f = rs_final(&r);
	split_echo(rs_text(f), &ec);
	ck_str(ec.line, "POST /v1/responses");
	ck_str(ec.body, sent);
	/* a locally known id (recorded from a passthrough stream): the
	 * upstream gets the whole input instead */
	f = rs_turn(e.port, "rs-echo", 1, NULL, "First", &id1);
	post_to(e.port, "/v1/responses", strf("{\"model\":\"rs-echo\",\"input\":"
	    "\"Next\",\"previous_response_id\":\"%s\"}", id1), &r);
	split_echo(rs_text(rs_final(&r)), &ec);
	ck_assert_msg(!jhas(ec.body, "previous_response_id"), "id forwarded: %s", ec.body);
	ck_assert_int_eq(jlen(ec.body, "input"), 3);
	ck_str(jstr(ec.body, "input.0.content"), "First");
	ck_str(jstr(ec.body, "input.1.role"), "assistant");
	ck_str(jstr(ec.body, "input.1.content.0.text"), rs_text(f));
	ck_str(jstr(ec.body, "input.2.content"), "Next");
}
END_TEST

START_TEST(t_rs_get_delete)
{
	struct env e;
	struct resp r;
	char *id, *body;

	rs_env(&e, NULL);
	post_to(e.port, "/v1/responses", "{\"model\":\"claude-echo\",\"input\":"
	    "\"Keep me\"}", &r);
	body = strdup(rs_final(&r));
	id = jstr(body, "id");
	exchange(e.port, req_text("GET", strf("/v1/responses/%s", id), AUTH_CHAT,
	    NULL), &r);
	expect_status(&r, 200);
	ck_str(r.body, body);
	exchange(e.port, req_text("DELETE", strf("/v1/responses/%s", id),
	    AUTH_CHAT, NULL), &r);
	expect_status(&r, 200);
	ck_str(r.body, strf("{\"id\":\"%s\",\"object\":\"response.deleted\","
	    "\"deleted\":true}", id));
	exchange(e.port, req_text("GET", strf("/v1/responses/%s", id), AUTH_CHAT,
	    NULL), &r);
	expect_status(&r, 404);
	ck_str(r.body, strf("{\"error\":{\"message\":\"Response with id '%s' not "
	    "found.\",\"type\":\"invalid_request_error\",\"param\":null,"
	    "\"code\":null}}", id));
	post_to(e.port, "/v1/responses", strf("{\"model\":\"claude-echo\","
	    "\"input\":\"x\",\"previous_response_id\":\"%s\"}", id), &r);
	expect_status(&r, 404);
	/* the client key is required here as everywhere */
	exchange(e.port, req_text("GET", strf("/v1/responses/%s", id), NULL,
	    NULL), &r);
	expect_status(&r, 401);
}
END_TEST

START_TEST(t_rs_ttl)
{
	struct env e;
	struct resp r;
	char *id;

	rs_env(&e, "{\"ttl_seconds\": 1}");
	rs_turn(e.port, "claude-echo", 0, NULL, "Soon gone", &id);
	sleep_ms(1300);
	post_to(e.port, "/v1/responses", strf("{\"model\":\"claude-echo\","
	    "\"input\":\"x\",\"previous_response_id\":\"%s\"}", id), &r);
	expect_status(&r, 404);
	ck_str(r.body, strf(RS_NOT_FOUND("%s"), id));
}
END_TEST

START_TEST(t_rs_disabled)
{
	struct env e;
	struct resp r;
	char *id;

	rs_env(&e, "{\"max_bytes\": 0}");
	rs_turn(e.port, "claude-echo", 0, NULL, "Not kept", &id);
	post_to(e.port, "/v1/responses", strf("{\"model\":\"claude-echo\","
	    "\"input\":\"x\",\"previous_response_id\":\"%s\"}", id), &r);
	expect_status(&r, 404);
}
END_TEST

START_TEST(t_rs_restart)
{
	struct env e;
	char *id1, *id2, *f1, *f2, *store;
	const char *want[3];
	struct stat sb;

	store = strf("{\"dir\": \"%s/rsdir.%d\"}", tmpdir, (int)getpid());
	rs_env(&e, store);
	f1 = rs_turn(e.port, "claude-echo", 1, NULL, "Before restart", &id1);
	ck_assert_int_eq(proc_stop(e.proxy, 10000 * scale), 0);
	ck_assert_int_eq(stat(strf("%s/rsdir.%d/responses.log", tmpdir,
	    (int)getpid()), &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	rs_proxy(&e, store);
	f2 = rs_turn(e.port, "claude-echo", 0, id1, "After restart", &id2);
	want[0] = "Before restart";
	want[1] = rs_text(f1);
	want[2] = "After restart";
	expect_ant_history(f2, want, 3);
}
END_TEST

/* ---------------------------------------------- legacy completions */

/*
 * POST /v1/completions against each upstream kind: its own environment (one
 * mock, a proxy with openai, openai-responses, anthropic and gemini
 * providers). The expected answer is what a Chat client gets through the
 * proxy for the same model: for "oai" that is the fixture itself
 * (passthrough), for the others the Chat conversion.
 */
static struct env cmpl_env;
static const char *const cmpl_up[4] = { "oai", "rsp", "ant", "gem" };

static void
cmpl_start(void)
{
	FILE *f;
	struct env *e = &cmpl_env;

	memset(e, 0, sizeof *e);
	e->mock = start_mock(NULL, NULL, &e->mock_port);
	snprintf(e->cfg, sizeof e->cfg, "%s/config.cmpl.%d.json", tmpdir,
	    (int)getpid());
	f = fopen(e->cfg, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
	    "{\"listen\": \"127.0.0.1:0\", \"api_keys\": [\"sk-test\"],\n"
	    " \"providers\": [\n"
	    "  {\"name\": \"oai\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:%d/v1\", \"api_key\": \"up-oai\"},\n"
	    "  {\"name\": \"rsp\", \"type\": \"openai-responses\", \"base_url\": \"http://127.0.0.1:%d/v1\", \"api_key\": \"up-rsp\"},\n"
	    "  {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:%d\", \"api_key\": \"up-ant\"},\n"
	    "  {\"name\": \"gem\", \"type\": \"gemini\", \"base_url\": \"http://127.0.0.1:%d/v1beta\", \"api_key\": \"up-gem\"}],\n"
	    " \"models\": {\"oai-*\": \"oai\", \"rsp-*\": \"rsp\", \"ant-*\": \"ant\", \"gem-*\": \"gem\"},\n"
	    " \"timeouts\": {\"header_ms\": 500, \"first_byte_ms\": %d}}\n",
	    e->mock_port, e->mock_port, e->mock_port, e->mock_port,
	    1000 * scale);
	fclose(f);
	spawn_proxy(e);
}

static void
cmpl_stop(void)
{
	env_stop(&cmpl_env);
}

static char *
cmpl_body(const char *model, int stream, const char *extra)
{
	return strf("{\"model\":\"%s\",\"prompt\":\"Say hello\",\"max_tokens\":50%s%s}",
	    model, stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "",
	    extra ? extra : "");
}

static void
cmpl_post(const char *body, struct resp *r)
{
	post_to(cmpl_env.port, "/v1/completions", body, r);
}

/* The answer a Chat client gets for the same model (text, reasoning). */
static void
cmpl_chat_expect(const char *model, int stream, char **text, char **reasoning,
                 char **finish)
{
	struct resp r;
	struct chat_acc a;

	post_to(cmpl_env.port, "/v1/chat/completions", chat_body(model, stream), &r);
	if (stream) {
		check_chat_stream(&r, &a);
		ck_assert_msg(a.done, "chat stream for %s did not finish", model);
		*text = a.content;
		*reasoning = a.reasoning;
		*finish = a.finish;
	} else {
		expect_status(&r, 200);
		*text = jstr(r.body, "choices.0.message.content");
		if (!*text)
			*text = strdup("");
		*reasoning = jstr(r.body, "choices.0.message.reasoning_content");
		*finish = jstr(r.body, "choices.0.finish_reason");
	}
}

struct cmpl_it_acc {
	char *text, *finish, *usage, *error;
	int done;
};

/* A text_completion stream as the openai SDK reads it. */
static void
check_cmpl_stream_it(const struct resp *r, const char *model,
                     struct cmpl_it_acc *a)
{
	struct ev *evs;
	int n, i;
	char *id = NULL;

	memset(a, 0, sizeof *a);
	a->text = strdup("");
	expect_status(r, 200);
	ck_assert_msg(resp_hdr(r, "content-type") &&
	    strncmp(resp_hdr(r, "content-type"), "text/event-stream", 17) == 0,
	    "content-type %s", resp_hdr(r, "content-type"));
	ck_assert_msg(r->complete, "response framing incomplete");
	n = sse_split(r->body, &evs);
	ck_assert_int_gt(n, 0);
	for (i = 0; i < n; i++) {
		const char *d = evs[i].data;
		char *cid, *fr, *t;

		ck_assert_msg(evs[i].event == NULL, "event: line in a completions stream");
		ck_assert_msg(d != NULL, "event without data");
		ck_assert_msg(!a->done && !a->error, "events after the end: %s", d);
		if (strcmp(d, "[DONE]") == 0) {
			ck_assert_msg(a->finish, "[DONE] before a finish_reason");
			a->done = 1;
			continue;
		}
		ck_assert_msg(jvalid(d), "data is not JSON: %s", d);
		if (jhas(d, "error")) {
			ck_assert_msg(jstr(d, "error.message"), "error without message: %s", d);
			a->error = strdup(d);
			continue;
		}
		ck_str(jstr(d, "object"), "text_completion");
		ck_str(jstr(d, "model"), model);
		cid = jstr(d, "id");
		ck_assert_msg(cid && strncmp(cid, "cmpl-", 5) == 0, "id %s", cid);
		if (!id)
			id = cid;
		else
			ck_str(cid, id);
		ck_assert_msg(jint(d, "created", -1) > 0, "no created: %s", d);
		if (jlen(d, "choices") == 0) {
			ck_assert_msg(a->finish && !a->usage, "usage chunk out of place: %s", d);
			a->usage = jraw(d, "usage");
			ck_assert_ptr_nonnull(a->usage);
			continue;
		}
		ck_assert_int_eq(jlen(d, "choices"), 1);
		ck_assert_msg(!a->finish, "chunk after the finish: %s", d);
		ck_assert_int_eq(jint(d, "choices.0.index", -1), 0);
		ck_str(jraw(d, "choices.0.logprobs"), "null");
		t = jstr(d, "choices.0.text");
		ck_assert_msg(t != NULL, "chunk without text: %s", d);
		a->text = strf("%s%s", a->text, t);
		fr = jstr(d, "choices.0.finish_reason");
		if (fr)
			a->finish = fr;
		else
			ck_str(jraw(d, "choices.0.finish_reason"), "null");
	}
}

START_TEST(t_cmpl_text)
{
	struct resp r;
	char *model = strf("%s-text", cmpl_up[_i]);
	char *text, *reasoning, *finish;

	cmpl_chat_expect(model, 0, &text, &reasoning, &finish);
	ck_assert_msg(*text, "%s: the Chat answer has no text", model);
	cmpl_post(cmpl_body(model, 0, NULL), &r);
	expect_status(&r, 200);
	ck_assert_msg(jvalid(r.body), "not JSON: %s", r.body);
	ck_str(jstr(r.body, "object"), "text_completion");
	ck_str(jstr(r.body, "model"), model);
	ck_assert_msg(strncmp(jstr(r.body, "id"), "cmpl-", 5) == 0, "id: %s", r.body);
	ck_assert_int_eq(jlen(r.body, "choices"), 1);
	ck_assert_int_eq(jint(r.body, "choices.0.index", -1), 0);
	ck_str(jraw(r.body, "choices.0.logprobs"), "null");
	ck_str(jstr(r.body, "choices.0.text"), text);
	ck_str(jstr(r.body, "choices.0.finish_reason"), "stop");
	ck_assert_int_eq(jint(r.body, "usage.total_tokens", -1),
	    jint(r.body, "usage.prompt_tokens", -1) +
	    jint(r.body, "usage.completion_tokens", -1));
	ck_assert_msg(jint(r.body, "usage.prompt_tokens", -1) >= 0 &&
	    jint(r.body, "usage.completion_tokens", -1) >= 0, "usage: %s", r.body);
	ck_assert_msg(!jhas(r.body, "choices.0.message"), "chat shape: %s", r.body);
}
END_TEST

START_TEST(t_cmpl_stream)
{
	struct resp r;
	struct cmpl_it_acc a;
	char *model = strf("%s-text", cmpl_up[_i]);
	char *text, *reasoning, *finish;

	cmpl_chat_expect(model, 1, &text, &reasoning, &finish);
	ck_assert_msg(*text, "%s: the Chat stream has no text", model);
	cmpl_post(cmpl_body(model, 1, NULL), &r);
	check_cmpl_stream_it(&r, model, &a);
	ck_assert_msg(a.done && !a.error, "%s: no [DONE]:\n%s", model, r.body);
	ck_str(a.text, text);
	ck_str(a.finish, "stop");
	ck_assert_msg(a.usage && jint(a.usage, "total_tokens", -1) >= 0,
	    "usage chunk: %s", a.usage);
	/* without include_usage: no usage chunk */
	cmpl_post(strf("{\"model\":\"%s\",\"prompt\":\"Say hello\",\"stream\":true}", model), &r);
	check_cmpl_stream_it(&r, model, &a);
	ck_assert_msg(a.done && !a.usage, "%s: usage chunk not asked for:\n%s", model, r.body);
	ck_str(a.text, text);
}
END_TEST

/* Thinking upstreams: the answer text only, streamed and not. */
START_TEST(t_cmpl_thinking)
{
	struct resp r;
	struct cmpl_it_acc a;
	char *model = strf("%s-thinking", cmpl_up[_i]);
	char *text, *reasoning, *finish, *t;

	cmpl_chat_expect(model, 1, &text, &reasoning, &finish);
	ck_assert_msg(*reasoning, "%s: the Chat stream has no reasoning", model);
	cmpl_post(cmpl_body(model, 1, NULL), &r);
	check_cmpl_stream_it(&r, model, &a);
	ck_assert_msg(a.done, "%s: no [DONE]:\n%s", model, r.body);
	ck_str(a.text, text);
	ck_assert_msg(!strstr(r.body, "reasoning_content"), "reasoning leaked: %s", r.body);
	cmpl_chat_expect(model, 0, &text, &reasoning, &finish);
	cmpl_post(cmpl_body(model, 0, NULL), &r);
	expect_status(&r, 200);
	t = jstr(r.body, "choices.0.text");
	ck_str(t, text);
	ck_assert_msg(!reasoning || !*reasoning || !strstr(t, reasoning),
	    "thinking in the text: %s", t);
	ck_assert_msg(!strstr(r.body, "reasoning_content"), "reasoning leaked: %s", r.body);
}
END_TEST

/* What each upstream receives: a one-message chat in its own format. */
START_TEST(t_cmpl_echo)
{
	static const char *const line[4] = {
		"POST /v1/chat/completions", "POST /v1/responses",
		"POST /v1/messages", "POST /v1beta/models/gem-echo:generateContent",
	};
	struct resp r;
	struct echo e;
	char *model = strf("%s-echo", cmpl_up[_i]);

	cmpl_post(strf("{\"model\":\"%s\",\"prompt\":\"Say hello\",\"max_tokens\":50,"
	    "\"temperature\":0.5,\"stop\":[\"END\"]}", model), &r);
	expect_status(&r, 200);
	split_echo(jstr(r.body, "choices.0.text"), &e);
	ck_str(e.line, line[_i]);
	ck_assert_msg(!strstr(e.headers, "sk-test") && !strstr(e.body, "sk-test"),
	    "client key forwarded");
	ck_assert_msg(jvalid(e.body), "upstream body not JSON: %s", e.body);
	ck_assert_msg(!jhas(e.body, "prompt"), "legacy prompt forwarded: %s", e.body);
	switch (_i) {
	case 0:
		ck_assert_msg(strstr(e.headers, "\nauthorization: Bearer up-oai\n"), "%s", e.headers);
		ck_str(jstr(e.body, "model"), model);
		ck_assert_int_eq(jlen(e.body, "messages"), 1);
		ck_str(jstr(e.body, "messages.0.role"), "user");
		ck_str(jstr(e.body, "messages.0.content"), "Say hello");
		ck_assert_int_eq(jint(e.body, "max_completion_tokens", -1), 50);
		ck_str(jraw(e.body, "temperature"), "0.5");
		ck_str(jstr(e.body, "stop.0"), "END");
		break;
	case 1:
		ck_assert_msg(strstr(e.headers, "\nauthorization: Bearer up-rsp\n"), "%s", e.headers);
		ck_str(jstr(e.body, "model"), model);
		ck_str(jstr(e.body, "input.0.role"), "user");
		ck_str(jstr(e.body, "input.0.content.0.text"), "Say hello");
		ck_assert_int_eq(jint(e.body, "max_output_tokens", -1), 50);
		break;
	case 2:
		ck_assert_msg(strstr(e.headers, "\nx-api-key: up-ant\n"), "%s", e.headers);
		ck_str(jstr(e.body, "model"), model);
		ck_str(jstr(e.body, "messages.0.role"), "user");
		ck_str(jstr(e.body, "messages.0.content.0.text"), "Say hello");
		ck_assert_int_eq(jint(e.body, "max_tokens", -1), 50);
		ck_str(jstr(e.body, "stop_sequences.0"), "END");
		break;
	case 3:
		ck_assert_msg(strstr(e.headers, "\nx-goog-api-key: up-gem\n"), "%s", e.headers);
		ck_str(jstr(e.body, "contents.0.role"), "user");
		ck_str(jstr(e.body, "contents.0.parts.0.text"), "Say hello");
		ck_assert_int_eq(jint(e.body, "generationConfig.maxOutputTokens", -1), 50);
		ck_str(jstr(e.body, "generationConfig.stopSequences.0"), "END");
		break;
	}
}
END_TEST

/* Upstream errors keep their status (OpenAI shape); a cut-off stream ends
 * with an in-band error, never [DONE]. */
START_TEST(t_cmpl_upstream_errors)
{
	struct resp r;
	struct cmpl_it_acc a;
	const char *ra;
	int stream;

	for (stream = 0; stream < 2; stream++) {
		cmpl_post(cmpl_body(strf("%s-error429-s%d", cmpl_up[_i], stream),
		    stream, NULL), &r);
		expect_openai_error(&r, 429, NULL);
		ra = resp_hdr(&r, "retry-after");
		ck_assert_msg(ra && strcmp(ra, "7") == 0, "%s: Retry-After %s", cmpl_up[_i], ra);
	}
	cmpl_post(cmpl_body(strf("%s-truncate", cmpl_up[_i]), 1, NULL), &r);
	check_cmpl_stream_it(&r, strf("%s-truncate", cmpl_up[_i]), &a);
	ck_assert_msg(!a.done && a.error, "%s: cut-off stream:\n%s", cmpl_up[_i], r.body);
	ck_assert_msg(!strstr(r.body, "[DONE]"), "[DONE] after a cut-off");
}
END_TEST

/* The proxy's own 400s for what a chat answer cannot serve. */
START_TEST(t_cmpl_refused)
{
	static const struct { const char *extra, *field; } c[] = {
		{ ",\"suffix\":\"tail\"", "'suffix'" },
		{ ",\"echo\":true", "'echo'" },
		{ ",\"logprobs\":2", "'logprobs'" },
		{ ",\"best_of\":2", "'best_of'" },
		{ ",\"n\":3", "'n'" },
	};
	struct resp r;
	size_t i;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		cmpl_post(cmpl_body("oai-echo", 0, c[i].extra), &r);
		expect_openai_error(&r, 400, c[i].field);
		ck_str(jstr(r.body, "error.type"), "invalid_request_error");
	}
	cmpl_post("{\"model\":\"ant-echo\",\"prompt\":[1,2,3]}", &r);
	expect_openai_error(&r, 400, "token-array 'prompt'");
	cmpl_post("{\"model\":\"gem-echo\",\"prompt\":[\"a\",\"b\"]}", &r);
	expect_openai_error(&r, 400, "more than one 'prompt'");
	cmpl_post("{\"model\":\"rsp-echo\"}", &r);
	expect_openai_error(&r, 400, "'prompt' must be a string");
	cmpl_post("{\"model\":\"nobody\",\"prompt\":\"x\"}", &r);
	expect_openai_error(&r, 404, "not configured");
	/* the one-string array is fine, also at /completions */
	exchange(cmpl_env.port, req_text("POST", "/completions", AUTH_CHAT,
	    "{\"model\":\"oai-text\",\"prompt\":[\"x\"]}"), &r);
	expect_status(&r, 200);
	ck_str(jstr(r.body, "object"), "text_completion");
	/* POST only */
	exchange(cmpl_env.port, req_text("GET", "/v1/completions", AUTH_CHAT, NULL), &r);
	expect_status(&r, 405);
}
END_TEST

/* see itest.h */
void
it_core(Suite *s)
{
	TCase *t;

	t = tc(s, "passthrough", 1);
	tcase_add_test(t, t_chat_passthrough_nonstream);
	tcase_add_test(t, t_chat_passthrough_stream);
	tcase_add_test(t, t_anthropic_passthrough_stream);

	t = tc(s, "chat_to_anthropic", 1);
	tcase_add_test(t, t_chat_to_anthropic_nonstream);
	tcase_add_test(t, t_chat_to_anthropic_stream);
	tcase_add_test(t, t_chat_to_anthropic_tools_stream);
	tcase_add_test(t, t_chat_to_anthropic_parallel_tools_stream);
	tcase_add_test(t, t_chat_to_anthropic_thinking_stream);
	tcase_add_test(t, t_chat_to_anthropic_tools_nonstream);

	t = tc(s, "anthropic_to_openai", 1);
	tcase_add_test(t, t_anthropic_to_openai_nonstream);
	tcase_add_test(t, t_anthropic_to_openai_stream);
	tcase_add_test(t, t_anthropic_to_openai_tools_stream);
	tcase_add_test(t, t_anthropic_to_openai_parallel_tools_stream);
	tcase_add_test(t, t_anthropic_to_openai_tools_nonstream);

	t = tc(s, "echo", 1);
	tcase_add_test(t, t_echo_chat_to_anthropic);
	tcase_add_test(t, t_echo_anthropic_to_chat);
	tcase_add_test(t, t_echo_passthrough_bytes);
	tcase_add_test(t, t_echo_passthrough_model_rewrite);
	tcase_add_test(t, t_provider_api_per_model);
	tcase_add_test(t, t_hosted_tools_dropped);

	t = tc(s, "upstream_errors", 1);
	tcase_add_loop_test(t, t_upstream_error, 0, (int)(sizeof err_cases / sizeof err_cases[0]));
	tcase_add_test(t, t_truncate_chat);
	tcase_add_test(t, t_truncate_anthropic);
	tcase_add_test(t, t_midstream_error);
	tcase_add_test(t, t_truncate_midevent_passthrough);

	t = tc(s, "proxy_errors", 1);
	tcase_add_test(t, t_bad_json);
	tcase_add_test(t, t_unknown_model);
	tcase_add_test(t, t_client_keys);
	tcase_add_test(t, t_method_not_allowed);
	tcase_add_test(t, t_body_too_large);
	tcase_add_test(t, t_headers_too_large);
	tcase_add_test(t, t_slowloris);
	tcase_add_test(t, t_slow_body);
	tcase_add_loop_test(t, t_smuggling, 0, (int)(sizeof smuggle_cases / sizeof smuggle_cases[0]));
	tcase_add_test(t, t_n_to_anthropic);

	t = tc(s, "http", 1);
	tcase_add_test(t, t_keep_alive);
	tcase_add_test(t, t_pipelining);
	tcase_add_test(t, t_pipelining_many);
	tcase_add_test(t, t_chunked_request);
	tcase_add_test(t, t_expect_continue);
	tcase_add_test(t, t_local_endpoints);
	tcase_add_test(t, t_models_list);

	t = tc(s, "upstream_conns", 0);
	tcase_add_test(t, t_upstream_reuse);
	tcase_add_test(t, t_client_disconnect);

	t = tc(s, "split", 1);
	tcase_add_loop_test(t, t_split_stream, 0, (int)(sizeof split_cases / sizeof split_cases[0]));

	t = tc(s, "tls", 0);
	tcase_add_unchecked_fixture(t, tls_start, tls_stop);
	tcase_add_test(t, t_tls_ok);
	tcase_add_test(t, t_tls_wrong_name);
	tcase_add_test(t, t_tls_untrusted);

	t = tc(s, "shutdown", 0);
	tcase_add_test(t, t_sigterm_drain);

	t = tc(s, "embeddings_counts", 0);
	tcase_add_unchecked_fixture(t, emb_start, emb_stop);
	tcase_add_test(t, t_embed_gemini_single);
	tcase_add_test(t, t_embed_gemini_batch);
	tcase_add_test(t, t_embed_gemini_base64);
	tcase_add_test(t, t_embed_openai_passthrough);
	tcase_add_loop_test(t, t_embed_bad_request, 0, (int)(sizeof emb_bad / sizeof emb_bad[0]));
	tcase_add_test(t, t_embed_upstream_errors);
	tcase_add_test(t, t_embed_too_large);
	tcase_add_test(t, t_count_anthropic_to_gemini);
	tcase_add_test(t, t_count_gemini_to_anthropic);
	tcase_add_test(t, t_count_same_format);
	tcase_add_test(t, t_count_estimate);
	tcase_add_test(t, t_count_errors);
	tcase_add_test(t, t_gemini_embed_to_openai);
	tcase_add_test(t, t_gemini_embed_passthrough);
	tcase_add_loop_test(t, t_gemini_embed_bad_request, 0, (int)(sizeof gemb_bad / sizeof gemb_bad[0]));
	tcase_add_test(t, t_gemini_embed_upstream_errors);

	t = tc(s, "responses_store", 0);
	tcase_add_test(t, t_rs_continue_anthropic);
	tcase_add_test(t, t_rs_continue_stream);
	tcase_add_test(t, t_rs_chain_three);
	tcase_add_test(t, t_rs_store_false);
	tcase_add_test(t, t_rs_unknown_id);
	tcase_add_test(t, t_rs_get_delete);
	tcase_add_test(t, t_rs_ttl);
	tcase_add_test(t, t_rs_disabled);
	tcase_add_test(t, t_rs_restart);

	t = tc(s, "completions", 0);
	tcase_add_unchecked_fixture(t, cmpl_start, cmpl_stop);
	tcase_add_loop_test(t, t_cmpl_text, 0, 4);
	tcase_add_loop_test(t, t_cmpl_stream, 0, 4);
	tcase_add_loop_test(t, t_cmpl_thinking, 0, 4);
	tcase_add_loop_test(t, t_cmpl_echo, 0, 4);
	tcase_add_loop_test(t, t_cmpl_upstream_errors, 0, 4);
	tcase_add_test(t, t_cmpl_refused);
}

