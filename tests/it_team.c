/*
 * it_team.c - integration tests of the operator's side: every client-key
 * limit (rpm, tpm, parallel, budget, model allow-list, expiry) answered
 * in every client format; keys added, revoked and rotated with
 * `llmproxy keys` while the proxy runs; the usage records against what
 * the mock upstream reported (`llmproxy usage --json`); kill -9 during
 * load and a restart; and Prometheus' own checker on GET /metrics.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

/* ------------------------------------------------------------ helpers */

/* The team config: state in its own directory, one key per limit and
 * client format ("rpm-chat", "tpm-gemini", ...; the key is "sk-" and the
 * name), prices that make the budget keys run out after one request. */
static char *
team_cfg(void)
{
	static const char *const lim[] = {
		"\"rpm\": 2", "\"tpm\": 1000", "\"parallel\": 1",
		"\"budget\": {\"usd\": 0.01, \"per\": \"day\"}",
		"\"models\": [\"gpt-*\"]", "\"expires\": \"2020-01-01\"" };
	static const char *const pre[] = { "rpm", "tpm", "par", "bud", "mod",
	    "exp" };
	static int seq;
	char *keys = strdup("");
	int i, f;

	for (i = 0; i < 6; i++)
		for (f = 0; f < CF_N; f++)
			keys = strf("%s,\n  {\"name\": \"%s-%s\", \"key\": "
			    "\"sk-%s-%s\", %s}", keys, pre[i], cf_name[f], pre[i],
			    cf_name[f], lim[i]);
	return strf("{\"listen\": \"127.0.0.1:0\",\n"
	    " \"state_dir\": \"TMP/team-state.%d.%d\",\n"
	    " \"api_keys\": [\"sk-test\",\n"
	    "  {\"name\": \"team-user\", \"key\": \"sk-team-user\"}%s],\n"
	    " \"providers\": [\n"
	    "  {\"name\": \"oai\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"up-oai\"},\n"
	    "  {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"up-ant\"}],\n"
	    " \"models\": {\"gpt-*\": \"oai\", \"claude-*\": \"ant\", \"bud-*\": \"oai\",\n"
	    "  \"u-*\": \"oai\", \"ua-*\": \"ant\", \"pre-*\": \"oai\", \"load-*\": \"ant\",\n"
	    "  \"fb-*\": [\"ant\", \"oai\"]},\n"
	    " \"prices\": {\"bud-*\": {\"input\": 1000, \"output\": 1000}}\n"
	    "}\n", (int)getpid(), ++seq, keys);
}

static struct env team;

static void
team_start(void)
{
	gw_env(&team, team_cfg());
}

static void
team_stop(void)
{
	env_stop(&team);
}

/* A request that holds its key's limits: a slow stream (about 1.6 s),
 * started, its head read; finish it with hold_end(). */
static void
hold_begin(struct client *c, const char *key, long max_tokens)
{
	struct resp r;

	client_open(c, team.port);
	client_send(c, cf_req(CF_CHAT, "claude-slow", 1, key, NULL,
	    max_tokens));
	ck_assert_int_eq(read_head(c, &r, mono_ms() + IO_MS), 0);
	expect_status(&r, 200);
}

static void
hold_end(struct client *c)
{
	client_close(c);
}

static long
hdr_num(const struct resp *r, const char *name)
{
	const char *v = resp_hdr(r, name);

	ck_assert_msg(v != NULL, "no %s header in:\n%s", name, r->head);
	return strtol(v, NULL, 10);
}

/* An RFC 3339 UTC time ("2025-06-03T00:00:00Z"). */
static void
expect_rfc3339(const char *v)
{
	ck_assert_msg(v && strlen(v) == 20 && v[4] == '-' && v[10] == 'T' &&
	    v[19] == 'Z', "not an RFC 3339 time: %s", v ? v : "(none)");
}

/* The format's rate-limit header family, or none for Gemini. */
static void
expect_rl_headers(enum cf f, const struct resp *r, const char *what,
    long limit)
{
	if (f == CF_GEM) {
		ck_assert_msg(strstr(r->head, "x-ratelimit-") == NULL &&
		    strstr(r->head, "anthropic-ratelimit-") == NULL,
		    "rate-limit headers for a Gemini client:\n%s", r->head);
		return;
	}
	if (f == CF_ANT) {
		ck_assert_int_eq(hdr_num(r, strf("anthropic-ratelimit-%s-limit",
		    what)), limit);
		ck_assert_int_ge(hdr_num(r, strf("anthropic-ratelimit-%s-"
		    "remaining", what)), 0);
		expect_rfc3339(resp_hdr(r, strf("anthropic-ratelimit-%s-reset",
		    what)));
		ck_assert_ptr_null(strstr(r->head, "x-ratelimit-"));
		return;
	}
	ck_assert_int_eq(hdr_num(r, strf("x-ratelimit-limit-%s", what)), limit);
	ck_assert_int_ge(hdr_num(r, strf("x-ratelimit-remaining-%s", what)), 0);
	{
		const char *v = resp_hdr(r, strf("x-ratelimit-reset-%s", what));
		ck_assert_msg(v && v[strlen(v) - 1] == 's', "reset %s", v);
	}
	ck_assert_ptr_null(strstr(r->head, "anthropic-ratelimit-"));
}

/* The error type each format gives a status. */
static void
expect_kind(enum cf f, const struct resp *r, const char *ant, const char *gem)
{
	if (f == CF_ANT)
		ck_str(jstr(r->body, "error.type"), ant);
	else if (f == CF_GEM)
		ck_str(jstr(r->body, "error.status"), gem);
}

/* ------------------------------------------------------------ limits */

/* rpm 2: two requests, then 429 with Retry-After about 30 s and the
 * request headers of the format. */
START_TEST(t_team_rpm)
{
	struct resp r;
	int f, i;

	for (f = 0; f < CF_N; f++) {
		char *key = strf("sk-rpm-%s", cf_name[f]), *msg;
		long ra;

		for (i = 0; i < 2; i++) {
			cf_do(team.port, (enum cf)f, "gpt-4o", i, key, NULL, &r);
			cf_text((enum cf)f, i, &r);
		}
		cf_do(team.port, (enum cf)f, "gpt-4o", 0, key, NULL, &r);
		msg = cf_error((enum cf)f, &r, 429);
		expect_kind((enum cf)f, &r, "rate_limit_error",
		    "RESOURCE_EXHAUSTED");
		ck_assert_msg(strstr(msg, strf("key \"rpm-%s\" may send 2 "
		    "requests per minute", cf_name[f])) != NULL, "%s", msg);
		ra = hdr_num(&r, "retry-after");
		ck_assert_msg(ra >= 20 && ra <= 31, "Retry-After %ld", ra);
		ck_assert_msg(strstr(msg, strf("retry in %ld s", ra)) != NULL,
		    "%s (Retry-After %ld)", msg, ra);
		expect_rl_headers((enum cf)f, &r, "requests", 2);
		if (f != CF_GEM) {
			const char *rem = resp_hdr(&r, f == CF_ANT ?
			    "anthropic-ratelimit-requests-remaining" :
			    "x-ratelimit-remaining-requests");
			ck_str(rem, "0");
		}
		ck_assert_ptr_null(resp_hdr(&r, "x-llmproxy-attempts"));
	}
}
END_TEST

/* tpm 1000: a running request holds its estimate (its size and its
 * max_tokens); one that does not fit is 429 with the token headers. */
START_TEST(t_team_tpm)
{
	struct client h;
	struct resp r;
	int f;

	for (f = 0; f < CF_N; f++) {
		char *key = strf("sk-tpm-%s", cf_name[f]), *msg;
		long ra;

		hold_begin(&h, key, 900);
		exchange(team.port, cf_req((enum cf)f, "gpt-4o", 0, key, NULL,
		    900), &r);
		msg = cf_error((enum cf)f, &r, 429);
		expect_kind((enum cf)f, &r, "rate_limit_error",
		    "RESOURCE_EXHAUSTED");
		ck_assert_msg(strstr(msg, strf("key \"tpm-%s\" may use 1000 "
		    "tokens per minute", cf_name[f])) != NULL, "%s", msg);
		ra = hdr_num(&r, "retry-after");
		ck_assert_msg(ra >= 40 && ra <= 60, "Retry-After %ld", ra);
		expect_rl_headers((enum cf)f, &r, "tokens", 1000);
		if (f != CF_GEM)
			ck_assert_int_lt(hdr_num(&r, f == CF_ANT ?
			    "anthropic-ratelimit-tokens-remaining" :
			    "x-ratelimit-remaining-tokens"), 100);
		/* a small request fits what is left */
		exchange(team.port, cf_req((enum cf)f, "gpt-4o", 0, key, NULL,
		    1), &r);
		cf_text((enum cf)f, 0, &r);
		hold_end(&h);
	}
}
END_TEST

/* parallel 1: a second request while one runs is 429, Retry-After 1; the
 * slot is free again once the first ended. */
START_TEST(t_team_parallel)
{
	struct client h;
	struct resp r;
	long long end;
	int f;

	for (f = 0; f < CF_N; f++) {
		char *key = strf("sk-par-%s", cf_name[f]), *msg;

		hold_begin(&h, key, -1);
		cf_do(team.port, (enum cf)f, "gpt-4o", 1, key, NULL, &r);
		msg = cf_error((enum cf)f, &r, 429);
		expect_kind((enum cf)f, &r, "rate_limit_error",
		    "RESOURCE_EXHAUSTED");
		ck_assert_msg(strstr(msg, strf("key \"par-%s\" may have 1 "
		    "requests in flight", cf_name[f])) != NULL, "%s", msg);
		ck_str(resp_hdr(&r, "retry-after"), "1");
		hold_end(&h);
		end = mono_ms() + 3000LL * scale;
		do {
			sleep_ms(50);
			cf_do(team.port, (enum cf)f, "gpt-4o", 0, key, NULL, &r);
		} while (r.status == 429 && mono_ms() < end);
		cf_text((enum cf)f, 0, &r);
	}
}
END_TEST

/* budget $0.01 a day: the first request spends $0.044 (44 tokens at
 * $1000 per million); the next is 429 saying which budget, how much was
 * spent and when it resets, with Retry-After until then. */
START_TEST(t_team_budget)
{
	struct resp r;
	time_t now;
	long long midnight;
	int f;

	for (f = 0; f < CF_N; f++) {
		char *key = strf("sk-bud-%s", cf_name[f]), *msg;
		char reset[32];
		struct tm tm;
		long ra;

		cf_do(team.port, (enum cf)f, "bud-text", 0, key, NULL, &r);
		cf_text((enum cf)f, 0, &r);
		cf_do(team.port, (enum cf)f, "bud-text", 1, key, NULL, &r);
		msg = cf_error((enum cf)f, &r, 429);
		now = time(NULL);
		midnight = ((long long)now / 86400 + 1) * 86400;
		gmtime_r(&(time_t){ (time_t)midnight }, &tm);
		strftime(reset, sizeof reset, "%Y-%m-%dT%H:%M:%SZ", &tm);
		ck_assert_msg(strstr(msg, strf("budget exhausted: key \"bud-%s\" "
		    "spent $0.04 of its $0.01 daily budget; it resets at %s",
		    cf_name[f], reset)) != NULL, "%s", msg);
		ra = hdr_num(&r, "retry-after");
		ck_assert_msg(ra >= midnight - now - 2 && ra <= midnight - now + 1,
		    "Retry-After %ld, midnight in %lld s", ra, midnight - now);
		expect_kind((enum cf)f, &r, "rate_limit_error",
		    "RESOURCE_EXHAUSTED");
	}
}
END_TEST

/* A model outside the key's allow-list is 403 in the client's format;
 * one inside it is served. */
START_TEST(t_team_models)
{
	struct resp r;
	int f;

	for (f = 0; f < CF_N; f++) {
		char *key = strf("sk-mod-%s", cf_name[f]), *msg;

		cf_do(team.port, (enum cf)f, "claude-x", f % 2, key, NULL, &r);
		msg = cf_error((enum cf)f, &r, 403);
		expect_kind((enum cf)f, &r, "permission_error",
		    "PERMISSION_DENIED");
		ck_assert_msg(strstr(msg, strf("key 'mod-%s' may not use model "
		    "'claude-x'", cf_name[f])) != NULL, "%s", msg);
		ck_assert_ptr_null(resp_hdr(&r, "retry-after"));
		cf_do(team.port, (enum cf)f, "gpt-4o", f % 2, key, NULL, &r);
		cf_text((enum cf)f, f % 2, &r);
	}
}
END_TEST

/* An expired key is 401 in the client's format. */
START_TEST(t_team_expired)
{
	struct resp r;
	int f;

	for (f = 0; f < CF_N; f++) {
		char *msg;

		cf_do(team.port, (enum cf)f, "gpt-4o", 0,
		    strf("sk-exp-%s", cf_name[f]), NULL, &r);
		msg = cf_error((enum cf)f, &r, 401);
		expect_kind((enum cf)f, &r, "authentication_error",
		    "UNAUTHENTICATED");
		ck_assert_msg(strstr(msg, "expired") != NULL, "%s", msg);
		ck_assert_ptr_null(resp_hdr(&r, "retry-after"));
	}
}
END_TEST

/* ------------------------------------------------------------ records */

/* Run `llmproxy ARGS -c CFG`; returns its stdout (stderr to the log). */
static char *
run_cli(const struct env *e, const char *args, int *rc)
{
	char *out = strf("%s/cli.%d.out", tmpdir, (int)getpid());
	char *cmd = strf("'%s' %s -c '%s' > '%s' 2>> '%s/cli.%d.log'",
	    proxy_bin, args, e->cfg, out, tmpdir, (int)getpid());
	int st = system(cmd);
	char *s;

	*rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	s = read_file(out, NULL);
	return s ? s : strdup("");
}

/* One row of `llmproxy usage --json --by BY` (the object), or NULL. */
static char *
usage_row(const char *json, const char *by, const char *name)
{
	int i;

	for (i = 0; i < 256; i++) {
		char *n = jstr(json, strf("rows.%d.%s", i, by));
		if (n == NULL)
			return NULL;
		if (strcmp(n, name) == 0)
			return jraw(json, strf("rows.%d", i));
	}
	return NULL;
}

static char *
usage_json(const struct env *e, const char *by)
{
	int rc;
	char *s = run_cli(e, strf("usage --json --since 2d --by %s", by), &rc);

	ck_assert_msg(rc == 0 && jvalid(s), "llmproxy usage: %d %s", rc, s);
	return s;
}

/* What the mock says about its own answers: input and output tokens. */
struct toks { long long in, out; };

static struct toks
mock_usage(const struct env *e, enum cf up, const char *model, int stream)
{
	struct resp r;
	struct toks t = { -1, -1 };

	if (up == CF_CHAT) {
		exchange(e->mock_port, req_text("POST", "/v1/chat/completions",
		    "Authorization: Bearer up-oai\r\n",
		    chat_body(model, stream)), &r);
		expect_status(&r, 200);
		if (!stream) {
			t.in = jint(r.body, "usage.prompt_tokens", -1);
			t.out = jint(r.body, "usage.completion_tokens", -1);
		} else {
			struct chat_acc a;
			check_chat_stream(&r, &a);
			ck_assert_ptr_nonnull(a.usage);
			t.in = jint(a.usage, "prompt_tokens", -1);
			t.out = jint(a.usage, "completion_tokens", -1);
		}
	} else {
		exchange(e->mock_port, req_text("POST", "/v1/messages",
		    "x-api-key: up-ant\r\nanthropic-version: 2023-06-01\r\n",
		    ant_body(model, stream)), &r);
		expect_status(&r, 200);
		if (!stream) {
			t.in = jint(r.body, "usage.input_tokens", 0) +
			    jint(r.body, "usage.cache_read_input_tokens", 0) +
			    jint(r.body, "usage.cache_creation_input_tokens", 0);
			t.out = jint(r.body, "usage.output_tokens", -1);
		} else {
			struct ev *evs;
			int n = sse_split(r.body, &evs), i;
			for (i = 0; i < n; i++) {
				const char *d = evs[i].data;
				if (strstr(d, "\"message_start\""))
					t.in = jint(d, "message.usage.input_tokens", 0) +
					    jint(d, "message.usage.cache_read_input_tokens", 0) +
					    jint(d, "message.usage.cache_creation_input_tokens", 0);
				if (strstr(d, "\"message_delta\""))
					t.out = jint(d, "usage.output_tokens", -1);
			}
		}
	}
	ck_assert_msg(t.in > 0 && t.out > 0, "the mock reported no usage: %s",
	    r.body);
	return t;
}

/*
 * One usage record per request, with the tokens the mock upstream
 * reported: passthrough and converted, streamed and not, every client
 * format, after a fallback; by model, key and provider.
 */
START_TEST(t_team_usage)
{
	static const struct {
		enum cf client;
		int stream;
		const char *model;
		enum cf up;
		int n;
	} cases[] = {
		{ CF_CHAT, 0, "u-chat", CF_CHAT, 2 },
		{ CF_ANT, 1, "ua-stream", CF_ANT, 1 },
		{ CF_CHAT, 1, "ua-conv", CF_ANT, 3 },
		{ CF_GEM, 0, "u-gem", CF_CHAT, 1 },
		{ CF_RSP, 0, "ua-rsp", CF_ANT, 2 },
		{ CF_RSP, 1, "u-rspstream", CF_CHAT, 1 },
		/* a fallback: the answering provider's tokens */
		{ CF_ANT, 0, "fb-failfirst=1-u", CF_CHAT, 1 },
	};
	struct resp r;
	char *js, *row;
	size_t i;
	int k, total = 0;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		for (k = 0; k < cases[i].n; k++) {
			cf_do(team.port, cases[i].client, cases[i].model,
			    cases[i].stream, "sk-team-user", NULL, &r);
			cf_text(cases[i].client, cases[i].stream, &r);
			total++;
		}
	sleep_ms(300);          /* records are written every 100 ms */
	js = usage_json(&team, "model");
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct toks t = mock_usage(&team, cases[i].up, cases[i].model,
		    cases[i].stream);
		row = usage_row(js, "model", cases[i].model);
		ck_assert_msg(row != NULL, "no row for %s in %s", cases[i].model,
		    js);
		ck_assert_int_eq(jint(row, "requests", -1), cases[i].n);
		ck_assert_int_eq(jint(row, "errors", -1), 0);
		ck_assert_msg(jint(row, "input_tokens", -1) == cases[i].n * t.in &&
		    jint(row, "output_tokens", -1) == cases[i].n * t.out,
		    "%s: %s, the mock said %lld in, %lld out per request",
		    cases[i].model, row, t.in, t.out);
	}
	js = usage_json(&team, "key");
	row = usage_row(js, "key", "team-user");
	ck_assert_msg(row != NULL, "%s", js);
	ck_assert_int_eq(jint(row, "requests", -1), total);
	js = usage_json(&team, "provider");
	ck_assert_msg(usage_row(js, "provider", "ant") != NULL, "%s", js);
}
END_TEST

/*
 * GET /metrics after real traffic (answers, upstream errors, a fallback,
 * streams, limit refusals) is valid for Prometheus' own checker, counts
 * what happened, and holds no secret.
 */
START_TEST(t_team_promtool)
{
	struct resp r;
	char *path, *out;
	int f, rc;

	for (f = 0; f < CF_N; f++) {
		cf_do(team.port, (enum cf)f, "gpt-4o", f % 2, NULL, NULL, &r);
		expect_status(&r, 200);
		cf_do(team.port, (enum cf)f, "claude-error500", 0, NULL, NULL, &r);
		cf_do(team.port, (enum cf)f, "fb-failfirst=1-x", f % 2, NULL, NULL,
		    &r);
		expect_status(&r, 200);
		cf_do(team.port, (enum cf)f, "nope", 0, NULL, NULL, &r);
		cf_do(team.port, (enum cf)f, "claude-x", 0,
		    strf("sk-mod-%s", cf_name[f]), NULL, &r);
	}
	exchange(team.port, req_text("GET", "/metrics", NULL, NULL), &r);
	expect_status(&r, 200);
	ck_assert_msg(strncmp(resp_hdr(&r, "content-type"), "text/plain", 10)
	    == 0, "%s", resp_hdr(&r, "content-type"));
	ck_assert_ptr_null(strstr(r.body, "sk-"));
	ck_assert_ptr_null(strstr(r.body, "up-oai"));
	ck_assert_msg(strstr(r.body, "llmproxy_requests_total{") != NULL &&
	    strstr(r.body, "status_class=\"2xx\"") != NULL &&
	    strstr(r.body, "status_class=\"4xx\"") != NULL &&
	    strstr(r.body, "llmproxy_upstream_failures_total{") != NULL &&
	    strstr(r.body, "llmproxy_credential_state{") != NULL &&
	    strstr(r.body, "llmproxy_time_to_first_byte_seconds_bucket{") != NULL,
	    "%s", r.body);
	/* the rpm test ran first on this proxy */
	ck_assert_msg(strstr(r.body, "llmproxy_ratelimit_rejections_total{"
	    "key=\"rpm-chat\",limit=\"rpm\"} 1\n") != NULL, "%s", r.body);
	path = strf("%s/metrics.%d.txt", tmpdir, (int)getpid());
	{
		FILE *fp = fopen(path, "w");
		ck_assert_ptr_nonnull(fp);
		ck_assert_uint_eq(fwrite(r.body, 1, r.body_len, fp), r.body_len);
		ck_assert_int_eq(fclose(fp), 0);
	}
	ck_assert_msg(system("command -v promtool >/dev/null 2>&1") == 0,
	    "promtool is missing (Debian package prometheus; scripts/deps.sh "
	    "check installs it)");
	rc = system(strf("promtool check metrics < '%s' > '%s.out' 2>&1", path,
	    path));
	out = read_file(strf("%s.out", path), NULL);
	ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0,
	    "promtool check metrics: status %d\n%s", rc, out);
}
END_TEST

/* ------------------------------------------------------------ own proxies */

/* Poll until a request with key gets status (within 3 s). */
static void
until_status(struct env *e, const char *key, const char *model, int status)
{
	struct resp r;
	long long end = mono_ms() + 3000LL * scale;

	for (;;) {
		cf_do(e->port, CF_ANT, model, 0, key, NULL, &r);
		if (r.status == status || mono_ms() > end)
			break;
		sleep_ms(30);
	}
	ck_assert_msg(r.status == status, "key %s: status %d, want %d: %s",
	    key, r.status, status, r.body);
}

/* A key from the command's first output line. */
static char *
cli_key(const char *out)
{
	size_t n = strcspn(out, "\n");

	ck_assert_msg(n > 40 && strncmp(out, "sk-llmp-", 8) == 0,
	    "no key printed: %s", out);
	return strf("%.*s", (int)n, out);
}

/*
 * Keys made, revoked and rotated with `llmproxy keys` while the proxy
 * runs take effect without a restart; their settings too.
 */
START_TEST(t_team_keys_live)
{
	struct env e;
	char *k1, *k2, *k3, *out;
	int rc;

	gw_env(&e, team_cfg());
	out = run_cli(&e, "keys add bob", &rc);
	ck_assert_int_eq(rc, 0);
	k1 = cli_key(out);
	until_status(&e, k1, "gpt-4o", 200);
	out = run_cli(&e, "keys add carol --models claude-*", &rc);
	ck_assert_int_eq(rc, 0);
	k2 = cli_key(out);
	until_status(&e, k2, "claude-x", 200);
	until_status(&e, k2, "gpt-4o", 403);
	out = run_cli(&e, "keys list --json", &rc);
	ck_assert_msg(rc == 0 && strstr(out, "\"bob\"") && strstr(out, "\"carol\"")
	    && strstr(out, k1) == NULL, "%s", out);
	run_cli(&e, "keys revoke bob", &rc);
	ck_assert_int_eq(rc, 0);
	until_status(&e, k1, "gpt-4o", 401);
	until_status(&e, k2, "claude-x", 200);
	out = run_cli(&e, "keys rotate carol", &rc);
	ck_assert_int_eq(rc, 0);
	k3 = cli_key(out);
	until_status(&e, k3, "claude-x", 200);
	until_status(&e, k2, "claude-x", 401);
	until_status(&e, k3, "gpt-4o", 403);    /* same settings */
	/* the config's keys keep working throughout */
	until_status(&e, "sk-test", "gpt-4o", 200);
	ck_assert(gw_wait_log(&e, "keys file changed", 3, 1000));
	env_stop(&e);
}
END_TEST

/* Clients of the kill test: requests in a loop until the proxy dies. */
static int
load_client(int port, int id)
{
	int i;

	for (i = 0; i < 10000; i++) {
		struct client c;
		struct resp r;
		int fd = tcp_connect(port);

		if (fd < 0)
			return 0;
		memset(&c, 0, sizeof c);
		c.fd = fd;
		client_send(&c, cf_req(i % 2 ? CF_CHAT : CF_ANT,
		    strf("load-%d", id), i % 3 == 0, NULL, NULL, -1));
		if (read_response(&c, &r, 0, 5000) < 0) {
			client_close(&c);
			return 0;
		}
		client_close(&c);
	}
	return 0;
}

/*
 * kill -9 while requests are running: the proxy starts again on the same
 * state directory and the records written before the kill are all there
 * (the torn tail, if any, dropped); it goes on recording.
 */
START_TEST(t_team_kill9)
{
	struct env e;
	struct resp r;
	pid_t kids[4];
	struct toks t;
	char *js, *row, *log;
	int i, st;

	gw_env(&e, team_cfg());
	for (i = 0; i < 20; i++) {
		cf_do(e.port, CF_CHAT, "pre-text", 0, NULL, NULL, &r);
		expect_status(&r, 200);
	}
	sleep_ms(400);
	for (i = 0; i < 4; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0)
			_exit(load_client(e.port, i));
	}
	sleep_ms(1000);
	ck_assert_int_eq(kill(e.proxy->pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(e.proxy->pid, &st, 0), e.proxy->pid);
	e.proxy->pid = 0;
	for (i = 0; i < 4; i++)
		waitpid(kids[i], &st, 0);

	gw_proxy_start(&e);
	log = read_file(e.proxy->log, NULL);
	ck_assert_msg(strstr(log, "usage records: ") != NULL, "%s", log);
	t = mock_usage(&e, CF_CHAT, "pre-text", 0);
	js = usage_json(&e, "model");
	row = usage_row(js, "model", "pre-text");
	ck_assert_msg(row != NULL, "%s", js);
	ck_assert_int_eq(jint(row, "requests", -1), 20);
	ck_assert_int_eq(jint(row, "input_tokens", -1), 20 * t.in);
	ck_assert_int_eq(jint(row, "output_tokens", -1), 20 * t.out);
	ck_assert_msg(jint(usage_row(js, "model", "load-0"), "requests", 0) +
	    jint(usage_row(js, "model", "load-1"), "requests", 0) +
	    jint(usage_row(js, "model", "load-2"), "requests", 0) +
	    jint(usage_row(js, "model", "load-3"), "requests", 0) > 0,
	    "no load records before the kill: %s", js);
	/* serving and recording again */
	cf_do(e.port, CF_CHAT, "pre-text", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	sleep_ms(300);
	js = usage_json(&e, "model");
	ck_assert_int_eq(jint(usage_row(js, "model", "pre-text"), "requests",
	    -1), 21);
	env_stop(&e);
}
END_TEST

/* see itest.h */
void
it_team(Suite *s)
{
	TCase *t;

	t = tc(s, "team", 0);
	tcase_add_unchecked_fixture(t, team_start, team_stop);
	tcase_add_test(t, t_team_rpm);
	tcase_add_test(t, t_team_tpm);
	tcase_add_test(t, t_team_parallel);
	tcase_add_test(t, t_team_budget);
	tcase_add_test(t, t_team_models);
	tcase_add_test(t, t_team_expired);
	tcase_add_test(t, t_team_usage);
	tcase_add_test(t, t_team_promtool);

	t = tc(s, "team_own", 0);
	tcase_add_test(t, t_team_keys_live);
	tcase_add_test(t, t_team_kill9);
}
