/*
 * it_admin.c - integration tests of the admin API (/admin/api/...) and
 * the admin page's headers: who may call it, the exact shape of every
 * answer after the proxy served known requests to the mock, keys made,
 * rotated and revoked through it taking effect at once, and bad input.
 *
 * Answers are compared whole after norm(): times become "T", request ids
 * "RID", and the few members that depend on the clock or the scheduler
 * (named per call) become N; everything else is byte-exact.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define ADMIN_KEY  "adm-0123456789"
#define AUTH_ADMIN "Authorization: Bearer " ADMIN_KEY "\r\n"

/* ------------------------------------------------------------ helpers */

/*
 * A mock and a proxy whose config has an admin key (when admin != 0) and
 * a price for every model: $1 per million input (cached or not) and $2
 * per million output tokens, so a request costs input + 2 * output
 * micro-dollars.
 */
static void
admin_env(struct env *e, int admin)
{
	char *argv[16];
	FILE *f;
	int n = 0, i;
	static int seq;

	memset(e, 0, sizeof *e);
	e->mock = start_mock(NULL, NULL, &e->mock_port);
	snprintf(e->cfg, sizeof e->cfg, "%s/admin.%d.%d.json", tmpdir,
	    (int)getpid(), ++seq);
	f = fopen(e->cfg, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "{\"listen\": \"127.0.0.1:0\", \"api_keys\": [\"sk-test\"],\n"
	    "%s"
	    " \"providers\": [\n"
	    "  {\"name\": \"oai\", \"type\": \"openai\", \"base_url\": "
	    "\"http://127.0.0.1:%d/v1\", \"api_key\": \"up-oai\"},\n"
	    "  {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": "
	    "\"http://127.0.0.1:%d\", \"api_key\": \"up-ant\"}],\n"
	    " \"models\": {\"gpt-*\": \"oai\", \"claude-*\": \"ant\"},\n"
	    " \"prices\": {\"*\": {\"input\": 1, \"output\": 2, "
	    "\"cache_read\": 1, \"cache_write\": 1}}}\n",
	    admin ? " \"admin_key\": \"" ADMIN_KEY "\",\n" : "",
	    e->mock_port, e->mock_port);
	fclose(f);
	for (i = 0; i < nwrap; i++)
		argv[n++] = wrap_argv[i];
	argv[n++] = (char *)proxy_bin;
	argv[n++] = "-c";
	argv[n++] = e->cfg;
	argv[n] = NULL;
	e->proxy = spawn("proxy", argv);
	e->port = wait_log_number(e->proxy, "listening on 127.0.0.1:");
}

static void
areq(struct env *e, const char *method, const char *path, const char *body,
    struct resp *r)
{
	exchange(e->port, req_text(method, path, AUTH_ADMIN, body), r);
}

static void
aget(struct env *e, const char *path, struct resp *r)
{
	areq(e, "GET", path, NULL, r);
}

/* A chat request with key `key` for model; returns the status. */
static int
chat_as(struct env *e, const char *key, const char *model, struct resp *r)
{
	exchange(e->port, req_text("POST", "/v1/chat/completions",
	    strf("Authorization: Bearer %s\r\n", key), chat_body(model, 0)), r);
	return r->status;
}

/* An admin error: status, JSON, error.message containing part. */
static void
expect_admin_error(const struct resp *r, int status, const char *part)
{
	char *msg;

	ck_assert_msg(r->status == status, "status %d, want %d: %s",
	    r->status, status, r->body);
	ck_str(resp_hdr(r, "content-type"), "application/json");
	ck_str(resp_hdr(r, "cache-control"), "no-store");
	msg = jstr(r->body, "error.message");
	ck_assert_msg(msg != NULL, "no error.message in %s", r->body);
	ck_assert_msg(strstr(msg, part) != NULL, "error '%s' lacks '%s'", msg,
	    part);
}

static int
is_time(const char *s, size_t n)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	if (n != sizeof pat - 1)
		return 0;
	for (i = 0; i < n; i++)
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return 0;
	return 1;
}

/*
 * json with every RFC 3339 time string as "T", every 28-character
 * "req_..." id as "RID", and the value of every member named in nums
 * (NULL-terminated; may be NULL) as N. Strings are copied as they are.
 */
static char *
norm(const char *json, const char *const *nums)
{
	size_t n = strlen(json), k = 0, i = 0, j, ks;
	char *out = malloc(n + 1);
	int m;

	while (i < n) {
		if (json[i] != '"') {
			out[k++] = json[i++];
			continue;
		}
		for (j = i + 1; j < n && json[j] != '"'; j++)
			if (json[j] == '\\')
				j++;
		/* json[i..j] is one string with its quotes */
		ks = k;
		if (is_time(json + i + 1, j - i - 1)) {
			memcpy(out + k, "\"T\"", 3);
			k += 3;
		} else if (j - i - 1 == 28 && strncmp(json + i + 1, "req_", 4) == 0) {
			memcpy(out + k, "\"RID\"", 5);
			k += 5;
		} else {
			memcpy(out + k, json + i, j - i + 1);
			k += j - i + 1;
		}
		i = j + 1;
		if (i >= n || json[i] != ':' || nums == NULL)
			continue;
		/* a member name: out[ks + 1 .. k - 1) */
		for (m = 0; nums[m]; m++)
			if (strlen(nums[m]) == k - ks - 2 &&
			    memcmp(out + ks + 1, nums[m], k - ks - 2) == 0)
				break;
		if (nums[m] == NULL)
			continue;
		out[k++] = ':';
		out[k++] = 'N';
		i++;
		while (i < n && strchr("-0123456789.eE+", json[i]))
			i++;
	}
	out[k] = 0;
	return out;
}

/* Compare an answer, normalised, with the expected text. */
static void
expect_json(const struct resp *r, const char *want, const char *const *nums)
{
	char *got;

	ck_assert_msg(r->status == 200 || r->status == 201,
	    "status %d: %s", r->status, r->body);
	ck_str(resp_hdr(r, "content-type"), "application/json");
	got = norm(r->body, nums);
	ck_assert_msg(strcmp(got, want) == 0, "\n got: %s\nwant: %s", got,
	    want);
}

/* "%lld.%06lld" of micro-dollars */
static char *
usd(long long uusd)
{
	return strf("%lld.%06lld", uusd / 1000000, uusd % 1000000);
}

/* The current hour, unix ms (the chart's last bucket). */
static long long
hour_now(void)
{
	return (long long)time(NULL) / 3600 * 3600000;
}

/* ------------------------------------------------------------ who may call */

START_TEST(t_admin_auth)
{
	static const char *const paths[] = { "/admin/api/summary",
	    "/admin/api/usage", "/admin/api/keys", "/admin/api/keys/x",
	    "/admin/api/keys/x/rotate", "/admin/api/providers",
	    "/admin/providers", "/admin/api/streams", "/admin/api/errors",
	    "/admin/api/nope", NULL };
	struct env e;
	struct resp r;
	int i;

	/* no admin_key configured: everything under /admin is off */
	admin_env(&e, 0);
	aget(&e, "/admin/api/summary", &r);
	expect_admin_error(&r, 404, "no admin_key is configured");
	exchange(e.port, req_text("GET", "/admin", NULL, NULL), &r);
	ck_assert_int_eq(r.status, 404);
	env_stop(&e);

	admin_env(&e, 1);
	for (i = 0; paths[i]; i++) {
		exchange(e.port, req_text("GET", paths[i], NULL, NULL), &r);
		expect_admin_error(&r, 401, "missing admin key");
		ck_str(resp_hdr(&r, "www-authenticate"),
		    "Bearer realm=\"llmproxy admin\"");
		exchange(e.port, req_text("GET", paths[i],
		    "Authorization: Bearer adm-wrong\r\n", NULL), &r);
		expect_admin_error(&r, 401, "invalid admin key");
		/* a client key is not an admin key */
		exchange(e.port, req_text("DELETE", paths[i], AUTH_CHAT, NULL),
		    &r);
		expect_admin_error(&r, 401, "invalid admin key");
	}
	aget(&e, "/admin/api/summary", &r);
	ck_assert_int_eq(r.status, 200);
	/* the admin key is not a client key */
	ck_assert_int_eq(chat_as(&e, ADMIN_KEY, "gpt-4o", &r), 401);
	aget(&e, "/admin/api/nope", &r);
	expect_admin_error(&r, 404, "no such admin endpoint");
	env_stop(&e);
}
END_TEST

/* The page: no data in it, so no key needed; a CSP that loads nothing
 * from elsewhere. */
START_TEST(t_admin_page)
{
	struct env e;
	struct resp r;
	const char *csp;
	char *p, *s;

	admin_env(&e, 1);
	exchange(e.port, req_text("GET", "/admin", NULL, NULL), &r);
	ck_assert_int_eq(r.status, 200);
	ck_str(resp_hdr(&r, "content-type"), "text/html; charset=utf-8");
	ck_str(resp_hdr(&r, "x-frame-options"), "DENY");
	ck_str(resp_hdr(&r, "referrer-policy"), "no-referrer");
	ck_str(resp_hdr(&r, "x-content-type-options"), "nosniff");
	csp = resp_hdr(&r, "content-security-policy");
	ck_assert_ptr_nonnull(csp);
	/* exactly this policy, with two 44-character base64 digests */
	s = strdup(csp);
	ck_assert_int_eq(strncmp(s, "default-src 'none'; script-src 'sha256-",
	    39), 0);
	p = s + 39 + 44;
	ck_assert_int_eq(strncmp(p, "'; style-src 'sha256-", 21), 0);
	p += 21 + 44;
	ck_str(p, "'; connect-src 'self'; img-src data:; base-uri 'none'; "
	    "form-action 'none'; frame-ancestors 'none'");
	/* one inline style, one inline script, nothing fetched */
	ck_assert_ptr_nonnull(strstr(r.body, "<style>"));
	ck_assert_ptr_nonnull(strstr(r.body, "<script>"));
	ck_assert_ptr_null(strstr(r.body, " src="));
	ck_assert_ptr_null(strstr(r.body, "stylesheet"));
	ck_assert_ptr_null(strstr(r.body, "https:"));
	p = strstr(r.body, "http:");
	ck_assert_msg(p && strncmp(p, "http://www.w3.org/2000/svg'", 27) == 0 &&
	    strstr(p + 1, "http:") == NULL, "a URL other than the SVG "
	    "namespace in the page");
	/* the key goes in a header, from session storage */
	ck_assert_ptr_nonnull(strstr(r.body, "sessionStorage"));
	ck_assert_ptr_nonnull(strstr(r.body, "authorization: 'Bearer '"));
	ck_assert_ptr_null(strstr(r.body, "?key="));
	exchange(e.port, req_text("HEAD", "/admin/", NULL, NULL), &r);
	ck_assert_int_eq(r.status, 200);
	exchange(e.port, req_text("POST", "/admin", NULL, "{}"), &r);
	expect_admin_error(&r, 405, "use GET, HEAD");
	ck_str(resp_hdr(&r, "allow"), "GET, HEAD");
	env_stop(&e);
}
END_TEST

/* ------------------------------------------------------------ shapes */

/*
 * Known traffic, then every read endpoint compared whole: three chat
 * requests and one Anthropic request answered by the mock, one 429 from
 * the mock, one request with a bad key.
 */
START_TEST(t_admin_shapes)
{
	static const char *const sum_nums[] = { "uptime_s", "connections",
	    NULL };
	static const char *const start_nums[] = { "start", NULL };
	struct env e;
	struct resp r;
	long long ci = 0, co = 0, ai, ao, cost, hour;
	char *want, *h3;
	int i;

	admin_env(&e, 1);
	hour = hour_now();
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(chat_as(&e, "sk-test", "gpt-4o", &r), 200);
		ci += jint(r.body, "usage.prompt_tokens", -1);
		co += jint(r.body, "usage.completion_tokens", -1);
	}
	post_to(e.port, "/v1/messages", ant_body("claude-x", 0), &r);
	expect_status(&r, 200);
	ai = jint(r.body, "usage.input_tokens", -1);
	ao = jint(r.body, "usage.output_tokens", -1);
	ck_assert_msg(ci > 0 && co > 0 && ai > 0 && ao > 0, "usage %lld %lld "
	    "%lld %lld", ci, co, ai, ao);
	ck_assert_int_eq(chat_as(&e, "sk-test", "gpt-error429", &r), 429);
	ck_assert_int_eq(chat_as(&e, "sk-nope", "gpt-4o", &r), 401);
	cost = ci + 2 * co + ai + 2 * ao;

	aget(&e, "/admin/api/summary", &r);
	want = strf("{\"version\":\"0.2.0\",\"now\":\"T\",\"started\":\"T\","
	    "\"uptime_s\":N,\"requests\":5,\"errors\":1,\"input_tokens\":%lld,"
	    "\"output_tokens\":%lld,\"cost_usd\":%s,\"unpriced\":0,"
	    "\"streams_open\":0,\"in_flight\":0,\"connections\":N,"
	    "\"keys\":{\"config\":1,\"file\":0},\"providers\":2,"
	    "\"usage_records\":true,\"errors_seen\":2}", ci + ai, co + ao,
	    usd(cost));
	expect_json(&r, want, sum_nums);

	/* per key, per hour: the 429 is a request and an error */
	aget(&e, "/admin/api/usage?by=key&bucket=hour&n=3", &r);
	if (hour_now() == hour) {
		ck_assert_int_eq(jint(r.body, "start", 0), hour - 2 * 3600000);
		want = strf("{\"by\":\"key\",\"bucket\":\"hour\",\"start\":N,"
		    "\"step_ms\":3600000,\"series\":[{\"name\":\"key1\","
		    "\"requests\":[0,0,5],\"errors\":[0,0,1],"
		    "\"input_tokens\":[0,0,%lld],\"output_tokens\":[0,0,%lld],"
		    "\"cost_usd\":[0.000000,0.000000,%s]}]}", ci + ai, co + ao,
		    usd(cost));
		expect_json(&r, want, start_nums);
	}
	/* per model, one day: names sorted */
	aget(&e, "/admin/api/usage?by=model&bucket=day&n=1", &r);
	ck_assert_int_eq(jint(r.body, "start", 0),
	    (long long)time(NULL) / 86400 * 86400000);
	want = strf("{\"by\":\"model\",\"bucket\":\"day\",\"start\":N,"
	    "\"step_ms\":86400000,\"series\":["
	    "{\"name\":\"claude-x\",\"requests\":[1],\"errors\":[0],"
	    "\"input_tokens\":[%lld],\"output_tokens\":[%lld],"
	    "\"cost_usd\":[%s]},"
	    "{\"name\":\"gpt-4o\",\"requests\":[3],\"errors\":[0],"
	    "\"input_tokens\":[%lld],\"output_tokens\":[%lld],"
	    "\"cost_usd\":[%s]},"
	    "{\"name\":\"gpt-error429\",\"requests\":[1],\"errors\":[1],"
	    "\"input_tokens\":[0],\"output_tokens\":[0],"
	    "\"cost_usd\":[0.000000]}]}",
	    ai, ao, usd(ai + 2 * ao), ci, co, usd(ci + 2 * co));
	expect_json(&r, want, start_nums);
	/* the defaults: per key, 24 hours */
	aget(&e, "/admin/api/usage", &r);
	ck_assert_int_eq(jlen(r.body, "series.0.requests"), 24);
	h3 = jraw(r.body, "by");
	ck_str(h3, "\"key\"");

	aget(&e, "/admin/api/keys", &r);
	want = strf("{\"now\":\"T\",\"keys\":[{\"name\":\"key1\","
	    "\"source\":\"config\",\"prefix\":null,\"created\":null,"
	    "\"rotated\":null,\"limits\":{},\"expired\":false,"
	    "\"usage\":{\"in_flight\":0,\"requests_remaining\":null,"
	    "\"tokens_remaining\":null,\"spent_today_usd\":%s,"
	    "\"spent_month_usd\":%s,\"budget_spent_usd\":null,"
	    "\"budget_resets\":null},\"last_used\":\"T\","
	    "\"last_used_exact\":true}]}", usd(cost), usd(cost));
	expect_json(&r, want, NULL);

	/* the 429 cooled gpt-error429 on oai's one credential for the
	 * mock's Retry-After: the provider is degraded */
	aget(&e, "/admin/api/providers", &r);
	want = strf("{\"providers\":["
	    "{\"name\":\"oai\",\"type\":\"openai\",\"state\":\"degraded\","
	    "\"down\":null,\"cooling\":[],\"health_check\":null,"
	    "\"credentials\":[{\"label\":\"oai#1\",\"state\":\"cooling\","
	    "\"disabled\":null,\"cooling\":[{\"model\":\"gpt-error429\","
	    "\"until\":\"T\",\"class\":\"http\",\"status\":429}],"
	    "\"last_success\":\"T\",\"last_error\":{\"class\":\"http\","
	    "\"status\":429,\"at\":\"T\"},\"successes\":3,\"failures\":1}]},"
	    "{\"name\":\"ant\",\"type\":\"anthropic\",\"state\":\"ok\","
	    "\"down\":null,\"cooling\":[],\"health_check\":null,"
	    "\"credentials\":[{\"label\":\"ant#1\",\"state\":\"ok\","
	    "\"disabled\":null,\"cooling\":[],\"last_success\":\"T\","
	    "\"last_error\":null,\"successes\":1,\"failures\":0}]}]}");
	expect_json(&r, want, NULL);
	/* the old path answers the same */
	aget(&e, "/admin/providers", &r);
	expect_json(&r, want, NULL);

	aget(&e, "/admin/api/streams", &r);
	expect_json(&r, "{\"now\":\"T\",\"total\":0,\"streams\":[]}", NULL);

	/* newest first; the message as the access line has it */
	aget(&e, "/admin/api/errors", &r);
	want = strf("{\"total\":2,\"errors\":["
	    "{\"time\":\"T\",\"id\":\"RID\",\"method\":\"POST\","
	    "\"path\":\"/v1/chat/completions\",\"status\":401,\"key\":null,"
	    "\"format\":\"chat\",\"model\":null,\"provider\":null,"
	    "\"credential\":null,\"message\":\"invalid API key\","
	    "\"latency_ms\":N,\"attempts\":null},"
	    "{\"time\":\"T\",\"id\":\"RID\",\"method\":\"POST\","
	    "\"path\":\"/v1/chat/completions\",\"status\":429,"
	    "\"key\":\"key1\",\"format\":\"chat\",\"model\":\"gpt-error429\","
	    "\"provider\":\"oai\",\"credential\":\"oai#1\",\"message\":%s,"
	    "\"latency_ms\":N,\"attempts\":%s}]}",
	    jraw(r.body, "errors.1.message"), jraw(r.body, "errors.1.attempts"));
	{
		static const char *const lat[] = { "latency_ms", NULL };
		expect_json(&r, want, lat);
	}
	ck_assert_ptr_nonnull(jstr(r.body, "errors.1.message"));
	ck_assert_ptr_nonnull(jstr(r.body, "errors.1.attempts"));
	ck_assert_ptr_nonnull(strstr(jstr(r.body, "errors.1.attempts"), "429"));
	env_stop(&e);
}
END_TEST

/* A stream in flight: key, model, age and the tokens the upstream has
 * reported so far. */
START_TEST(t_admin_streams)
{
	static const char *const nums[] = { "age_ms", "first_byte_ms", NULL };
	struct env e;
	struct client c;
	struct resp r, sr;
	char *want;
	long long deadline;

	admin_env(&e, 1);
	client_open(&c, e.port);
	client_send(&c, req_text("POST", "/v1/chat/completions", AUTH_CHAT,
	    chat_body("claude-slow", 1)));
	deadline = mono_ms() + IO_MS;
	ck_assert_int_eq(read_head(&c, &r, deadline), 0);
	ck_assert_int_eq(r.status, 200);
	while (!memfind(c.buf, c.len, "data:"))
		ck_assert_int_gt(client_fill(&c, deadline), 0);
	sleep_ms(50);
	aget(&e, "/admin/api/streams", &sr);
	/* Anthropic's message_start: 11 tokens in, 1 out so far */
	want = strf("{\"now\":\"T\",\"total\":1,\"streams\":[{\"id\":\"RID\","
	    "\"key\":\"key1\",\"model\":\"claude-slow\",\"format\":\"chat\","
	    "\"provider\":\"ant\",\"credential\":\"ant#1\",\"stream\":true,"
	    "\"streaming\":true,\"age_ms\":N,\"first_byte_ms\":N,"
	    "\"input_tokens\":11,\"output_tokens\":1,\"attempts\":1,"
	    "\"client\":\"127.0.0.1:%s\"}]}",
	    strchr(jstr(sr.body, "streams.0.client"), ':') + 1);
	expect_json(&sr, want, nums);
	ck_assert_int_ge(jint(sr.body, "streams.0.age_ms", -1), 50);
	ck_assert_int_eq(jint(sr.body, "streams.0.age_ms", -1) >=
	    jint(sr.body, "streams.0.first_byte_ms", -1), 1);
	aget(&e, "/admin/api/summary", &sr);
	ck_assert_int_eq(jint(sr.body, "streams_open", -1), 1);
	ck_assert_int_eq(jint(sr.body, "in_flight", -1), 1);
	ck_assert_int_eq(read_body(&c, &r, 0, deadline), 0);
	client_close(&c);
	aget(&e, "/admin/api/streams", &sr);
	expect_json(&sr, "{\"now\":\"T\",\"total\":0,\"streams\":[]}", NULL);
	aget(&e, "/admin/api/summary", &sr);
	ck_assert_int_eq(jint(sr.body, "streams_open", -1), 0);
	ck_assert_int_eq(jint(sr.body, "output_tokens", -1), 6);
	env_stop(&e);
}
END_TEST

/* ------------------------------------------------------------ keys */

/* Create -> works at once -> rotate -> revoke, with the keys file. */
START_TEST(t_admin_keys)
{
	static const char *const nums[] = { "start", NULL };
	struct env e;
	struct resp r;
	char *k1, *k2, *file, *want, *path;
	struct stat st;

	admin_env(&e, 1);
	areq(&e, "POST", "/admin/api/keys", "{\"name\":\"ci\",\"models\":"
	    "[\"gpt-*\"],\"rpm\":2,\"tpm\":100000,\"parallel\":3,\"budget\":"
	    "{\"usd\":2.5,\"per\":\"month\"},\"expires\":\"2999-01-01\"}", &r);
	ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
	k1 = jstr(r.body, "key");
	ck_assert_msg(k1 && strlen(k1) == 51 && strncmp(k1, "sk-llmp-", 8) == 0,
	    "key %s", k1 ? k1 : "(none)");
	want = strf("{\"name\":\"ci\",\"key\":\"%s\",\"entry\":{\"name\":\"ci\","
	    "\"source\":\"file\",\"prefix\":\"%.12s\",\"created\":\"T\","
	    "\"rotated\":null,\"limits\":{\"models\":[\"gpt-*\"],\"rpm\":2,"
	    "\"tpm\":100000,\"parallel\":3,\"budget\":{\"usd\":2.5,"
	    "\"per\":\"month\"},\"expires\":\"T\"},\"expired\":false,"
	    "\"usage\":{\"in_flight\":0,\"requests_remaining\":2,"
	    "\"tokens_remaining\":100000,\"spent_today_usd\":0.000000,"
	    "\"spent_month_usd\":0.000000,\"budget_spent_usd\":0,"
	    "\"budget_resets\":\"T\"},\"last_used\":null,"
	    "\"last_used_exact\":true}}", k1, k1);
	expect_json(&r, want, NULL);
	ck_str(jstr(r.body, "entry.limits.expires"), "2999-01-01T00:00:00Z");
	/* the keys file (in the state dir spawn() gave the proxy) has its
	 * digest, never the key */
	{
		char *log = read_file(e.proxy->log, NULL);
		char *at = strstr(log, "state directory ");
		ck_assert_ptr_nonnull(at);
		at += 16;
		path = strf("%.*s/keys.json", (int)strcspn(at, " "), at);
	}
	file = read_file(path, NULL);
	ck_assert_ptr_nonnull(file);
	ck_assert_ptr_null(strstr(file, k1 + 12));
	ck_assert_ptr_nonnull(strstr(file, "\"name\":\"ci\""));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	/* works at once; its allow-list and its rpm hold */
	ck_assert_int_eq(chat_as(&e, k1, "gpt-4o", &r), 200);
	ck_assert_int_eq(chat_as(&e, k1, "claude-x", &r), 403);
	ck_assert_int_eq(chat_as(&e, k1, "gpt-4o", &r), 200);
	ck_assert_int_eq(chat_as(&e, k1, "gpt-4o", &r), 429);
	aget(&e, "/admin/api/keys", &r);
	ck_str(jstr(r.body, "keys.1.name"), "ci");
	ck_assert_int_eq(jint(r.body, "keys.1.usage.requests_remaining", -1), 0);
	ck_assert_ptr_nonnull(jstr(r.body, "keys.1.last_used"));
	/* its own series in the chart: the 403 and the 429 are requests
	 * and errors */
	aget(&e, "/admin/api/usage?by=key&n=1", &r);
	want = strf("{\"by\":\"key\",\"bucket\":\"hour\",\"start\":N,"
	    "\"step_ms\":3600000,\"series\":[{\"name\":\"ci\",\"requests\":[4],"
	    "\"errors\":[2],\"input_tokens\":[28],\"output_tokens\":[60],"
	    "\"cost_usd\":[0.000148]}]}");
	expect_json(&r, want, nums);

	/* rotate: the old secret fails at once, the new one works */
	areq(&e, "POST", "/admin/api/keys/ci/rotate", NULL, &r);
	ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
	k2 = jstr(r.body, "key");
	ck_assert_msg(k2 && strlen(k2) == 51 && strcmp(k1, k2) != 0, "rotated");
	ck_assert_ptr_nonnull(jstr(r.body, "entry.rotated"));
	ck_str(jstr(r.body, "entry.prefix"), strf("%.12s", k2));
	ck_assert_int_eq(chat_as(&e, k1, "gpt-4o", &r), 401);
	/* same name, same buckets: still out of requests */
	ck_assert_int_eq(chat_as(&e, k2, "gpt-4o", &r), 429);

	/* revoke: fails at once */
	areq(&e, "DELETE", "/admin/api/keys/ci", NULL, &r);
	expect_json(&r, "{\"name\":\"ci\",\"revoked\":true}", NULL);
	ck_assert_int_eq(chat_as(&e, k2, "gpt-4o", &r), 401);
	aget(&e, "/admin/api/keys", &r);
	ck_assert_int_eq(jlen(r.body, "keys"), 1);
	areq(&e, "DELETE", "/admin/api/keys/ci", NULL, &r);
	expect_admin_error(&r, 404, "no such key");

	/* a key without limits; an escaped name in the path */
	areq(&e, "POST", "/admin/api/keys", "{\"name\":\"bob@example\"}", &r);
	ck_assert_int_eq(r.status, 201);
	k1 = jstr(r.body, "key");
	ck_assert_int_eq(chat_as(&e, k1, "claude-x", &r), 200);
	areq(&e, "POST", "/admin/api/keys/bob%40example/rotate", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(chat_as(&e, jstr(r.body, "key"), "claude-x", &r), 200);
	areq(&e, "DELETE", "/admin/api/keys/bob%40example", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	/* the config's key was never touched */
	ck_assert_int_eq(chat_as(&e, "sk-test", "gpt-4o", &r), 200);
	file = read_file(path, NULL);
	ck_assert_ptr_null(strstr(file, "\"name\""));
	env_stop(&e);
}
END_TEST

/* A body sent chunked, and with Expect: 100-continue. */
START_TEST(t_admin_keys_framing)
{
	struct env e;
	struct resp r;
	static const char body[] = "{\"name\":\"chunky\"}";

	admin_env(&e, 1);
	exchange(e.port, strf("POST /admin/api/keys HTTP/1.1\r\nHost: x\r\n"
	    AUTH_ADMIN "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\n{\"nam\r\n%zx\r\n%s\r\n0\r\n\r\n", sizeof body - 6,
	    body + 5), &r);
	ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
	ck_str(jstr(r.body, "name"), "chunky");
	exchange(e.port, strf("POST /admin/api/keys HTTP/1.1\r\nHost: x\r\n"
	    AUTH_ADMIN "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n%s",
	    strlen("{\"name\":\"eager\"}"), "{\"name\":\"eager\"}"), &r);
	ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
	ck_assert_int_eq(r.got_continue, 1);
	ck_assert_int_eq(chat_as(&e, jstr(r.body, "key"), "gpt-4o", &r), 200);
	env_stop(&e);
}
END_TEST

/* Bad input: 400/404/405/409/413 with a message, nothing changed. */
START_TEST(t_admin_bad_input)
{
	static const struct {
		const char *method, *path, *body;
		int status;
		const char *msg;
	} cases[] = {
		{ "POST", "/admin/api/keys", "{\"name\":", 400, "invalid JSON at byte 8" },
		{ "POST", "/admin/api/keys", "[1]", 400, "must be a JSON object" },
		{ "POST", "/admin/api/keys", NULL, 400, "invalid JSON" },
		{ "POST", "/admin/api/keys", "{}", 400, "\"name\" (a string) is required" },
		{ "POST", "/admin/api/keys", "{\"name\":7}", 400, "\"name\" (a string) is required" },
		{ "POST", "/admin/api/keys", "{\"name\":\"a\",\"name\":\"b\"}", 400, "\"name\" is given twice" },
		{ "POST", "/admin/api/keys", "{\"name\":\"-x\"}", 400, "a key name is 1 to 63" },
		{ "POST", "/admin/api/keys", "{\"name\":\"a b\"}", 400, "a key name is 1 to 63" },
		{ "POST", "/admin/api/keys", "{\"name\":\"a\\u0000b\"}", 400, "\"name\" (a string) is required" },
		{ "POST", "/admin/api/keys", "{\"name\":\"a\",\"rpm\":0}", 400, "\"rpm\" must be a positive integer" },
		{ "POST", "/admin/api/keys", "{\"name\":\"a\",\"rpm\":1.5}", 400, "\"rpm\"" },
		{ "POST", "/admin/api/keys", "{\"name\":\"a\",\"budget\":{\"usd\":1}}", 400, "per" },
		{ "POST", "/admin/api/keys", "{\"name\":\"a\",\"expires\":\"soon\"}", 400, "expires" },
		{ "POST", "/admin/api/keys", "{\"name\":\"a\",\"models\":[]}", 400, "models" },
		{ "POST", "/admin/api/keys", "{\"name\":\"a\",\"key\":\"sk-mine\"}", 400, "key" },
		{ "POST", "/admin/api/keys", "{\"name\":\"a\",\"rpm\":1,\"rpm\":2}", 400, "rpm" },
		{ "POST", "/admin/api/keys", "{\"name\":\"key1\"}", 409, "a key named \"key1\" is in the config file" },
		{ "POST", "/admin/api/keys", "{\"name\":\"dup\"}", 409, "dup" },
		{ "DELETE", "/admin/api/keys/key1", NULL, 409, "key \"key1\" is in the config file" },
		{ "POST", "/admin/api/keys/key1/rotate", NULL, 409, "in the config file" },
		{ "DELETE", "/admin/api/keys/nobody", NULL, 404, "no such key" },
		{ "POST", "/admin/api/keys/nobody/rotate", NULL, 404, "no such key" },
		{ "DELETE", "/admin/api/keys/a%20b", NULL, 400, "not a key name" },
		{ "DELETE", "/admin/api/keys/a%2", NULL, 400, "not a key name" },
		{ "DELETE", "/admin/api/keys/a%00b", NULL, 400, "not a key name" },
		{ "DELETE", "/admin/api/keys/a/b", NULL, 404, "no such admin endpoint" },
		{ "POST", "/admin/api/keys/dup/rotate?x=1", NULL, 400, "unknown query parameter \"x\"" },
		{ "GET", "/admin/api/keys/dup", NULL, 405, "use DELETE" },
		{ "GET", "/admin/api/keys/dup/rotate", NULL, 405, "use POST" },
		{ "PUT", "/admin/api/keys", "{}", 405, "use GET, HEAD, POST" },
		{ "DELETE", "/admin/api/summary", NULL, 405, "use GET, HEAD" },
		{ "POST", "/admin/api/usage", "{}", 405, "use GET, HEAD" },
		{ "POST", "/admin/api/providers", "{}", 405, "use GET, HEAD" },
		{ "POST", "/admin/api/streams", "{}", 405, "use GET, HEAD" },
		{ "POST", "/admin/api/errors", "{}", 405, "use GET, HEAD" },
		{ "GET", "/admin/api/summary?verbose=1", NULL, 400, "unknown query parameter \"verbose\"" },
		{ "GET", "/admin/api/usage?by=provider", NULL, 400, "by must be \"key\" or \"model\"" },
		{ "GET", "/admin/api/usage?bucket=week", NULL, 400, "bucket must be \"hour\" or \"day\"" },
		{ "GET", "/admin/api/usage?n=0", NULL, 400, "n must be a number of hours from 1 to 168" },
		{ "GET", "/admin/api/usage?n=169", NULL, 400, "from 1 to 168" },
		{ "GET", "/admin/api/usage?bucket=day&n=91", NULL, 400, "n must be a number of days from 1 to 90" },
		{ "GET", "/admin/api/usage?n=+5", NULL, 400, "n must be" },
		{ "GET", "/admin/api/usage?n=5x", NULL, 400, "n must be" },
		{ "GET", "/admin/api/usage?step=1", NULL, 400, "unknown query parameter \"step\"" },
	};
	struct env e;
	struct resp r;
	char *before, *after;
	size_t i;

	admin_env(&e, 1);
	areq(&e, "POST", "/admin/api/keys", "{\"name\":\"dup\"}", &r);
	ck_assert_int_eq(r.status, 201);
	aget(&e, "/admin/api/keys", &r);
	before = strdup(r.body);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		areq(&e, cases[i].method, cases[i].path, cases[i].body, &r);
		ck_assert_msg(r.status == cases[i].status, "%s %s %s: %d %s",
		    cases[i].method, cases[i].path, cases[i].body ?
		    cases[i].body : "", r.status, r.body);
		expect_admin_error(&r, cases[i].status, cases[i].msg);
		if (r.status == 405)
			ck_assert_ptr_nonnull(resp_hdr(&r, "allow"));
	}
	/* too large a body: refused before it is read */
	{
		char *big = malloc(20000);
		memset(big, ' ', 19999);
		big[19999] = 0;
		big[0] = '{';
		big[19998] = '}';
		areq(&e, "POST", "/admin/api/keys", big, &r);
		expect_admin_error(&r, 413, "request body too large");
	}
	aget(&e, "/admin/api/keys", &r);
	after = r.body;
	ck_assert_msg(strcmp(norm(before, NULL), norm(after, NULL)) == 0,
	    "keys changed:\n%s\n%s", before, after);
	env_stop(&e);
}
END_TEST

/* Last use after a restart: from the usage records, to the hour. */
START_TEST(t_admin_last_used_restart)
{
	struct env e;
	struct resp r;
	char *sd, *key;
	long long hour;

	sd = strf("%s/state.lastused.%d", tmpdir, (int)getpid());
	setenv("LLMPROXY_STATE_DIR", sd, 1);
	admin_env(&e, 1);
	areq(&e, "POST", "/admin/api/keys", "{\"name\":\"night\"}", &r);
	ck_assert_int_eq(r.status, 201);
	key = jstr(r.body, "key");
	hour = hour_now();
	ck_assert_int_eq(chat_as(&e, key, "gpt-4o", &r), 200);
	aget(&e, "/admin/api/keys", &r);
	ck_assert_int_eq(jint(r.body, "keys.1.last_used_exact", -1), -1);
	ck_str(jraw(r.body, "keys.1.last_used_exact"), "true");
	env_stop(&e);

	admin_env(&e, 1);
	aget(&e, "/admin/api/keys", &r);
	ck_str(jstr(r.body, "keys.1.name"), "night");
	ck_str(jraw(r.body, "keys.1.last_used_exact"), "false");
	if (hour_now() == hour) {
		char t[32];
		time_t s = (time_t)(hour / 1000);
		strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", gmtime(&s));
		ck_str(jstr(r.body, "keys.1.last_used"), t);
	}
	/* and the config key, never used: null, exact */
	ck_assert_ptr_null(jstr(r.body, "keys.0.last_used"));
	ck_str(jraw(r.body, "keys.0.last_used"), "null");
	/* its spend survived too */
	ck_assert_int_eq(chat_as(&e, key, "gpt-4o", &r), 200);
	aget(&e, "/admin/api/keys", &r);
	ck_str(jraw(r.body, "keys.1.last_used_exact"), "true");
	env_stop(&e);
	unsetenv("LLMPROXY_STATE_DIR");
}
END_TEST

/* see itest.h */
void
it_admin(Suite *s)
{
	TCase *t;

	t = tc(s, "admin", 0);
	tcase_add_test(t, t_admin_auth);
	tcase_add_test(t, t_admin_page);
	tcase_add_test(t, t_admin_shapes);
	tcase_add_test(t, t_admin_streams);
	tcase_add_test(t, t_admin_keys);
	tcase_add_test(t, t_admin_keys_framing);
	tcase_add_test(t, t_admin_bad_input);
	tcase_add_test(t, t_admin_last_used_restart);
}
