/*
 * it_gateway.c - integration tests of the gateway: credential pools
 * (round-robin and fill-first), fallback chains across formats, streams
 * that fail before their first byte (retried) and after it (an error
 * event, no retry), every candidate cooling down, answers that are never
 * retried, the attempts in the answer and the access log, keys disabled
 * by 401/403 until a reload, reloads (SIGHUP under load, a changed file,
 * a broken file), the admin view of providers, provider headers, Azure,
 * and active health checks.
 *
 * The mock upstream is scripted by the model name: kNNN=CRED answers NNN
 * to one credential, failfirst=N fails the first N requests for a model,
 * errbefore / errafter make a stream fail in-band before / after its
 * content (see mock_upstream.c). Its GET /_creds says which credential
 * each request carried.
 *
 * Also the helpers the team tests share (declared in itest.h): a proxy on
 * a config given as text, requests and answers in each client format.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

/* ------------------------------------------------------------ helpers */

const char *const cf_name[CF_N] = { "chat", "anthropic", "responses",
    "gemini" };

/* text with every "MOCK" replaced by the mock's port and every "TMP" by
 * the test's temp dir */
static char *
cfg_subst(const struct env *e, const char *text)
{
	char *cfg = strdup(text), *p, port[16];

	snprintf(port, sizeof port, "%d", e->mock_port);
	while ((p = strstr(cfg, "MOCK")) != NULL) {
		char *nc = strf("%.*s%s%s", (int)(p - cfg), cfg, port, p + 4);
		free(cfg);
		cfg = nc;
	}
	while ((p = strstr(cfg, "TMP")) != NULL) {
		char *nc = strf("%.*s%s%s", (int)(p - cfg), cfg, tmpdir, p + 3);
		free(cfg);
		cfg = nc;
	}
	return cfg;
}

/* see itest.h */
void
gw_config_write(struct env *e, const char *text)
{
	char *cfg = cfg_subst(e, text), *tmp = strf("%s.new", e->cfg);
	FILE *f = fopen(tmp, "w");

	ck_assert_ptr_nonnull(f);
	fputs(cfg, f);
	ck_assert_int_eq(fclose(f), 0);
	/* a rename, the way editors and config tools replace a file */
	ck_assert_int_eq(rename(tmp, e->cfg), 0);
	free(cfg);
	free(tmp);
}

/* see itest.h */
void
gw_proxy_start(struct env *e)
{
	char *argv[48];
	int n = 0, i;

	for (i = 0; i < nwrap; i++)
		argv[n++] = wrap_argv[i];
	argv[n++] = (char *)proxy_bin;
	argv[n++] = "-c";
	argv[n++] = e->cfg;
	argv[n] = NULL;
	e->proxy = spawn("proxy", argv);
	e->port = wait_log_number(e->proxy, "listening on 127.0.0.1:");
	ck_assert_int_gt(e->port, 0);
}

/* see itest.h */
void
gw_env(struct env *e, const char *text)
{
	static int seq;

	memset(e, 0, sizeof *e);
	e->mock = start_mock(NULL, NULL, &e->mock_port);
	snprintf(e->cfg, sizeof e->cfg, "%s/gw.%d.%d.json", tmpdir,
	    (int)getpid(), ++seq);
	gw_config_write(e, text);
	gw_proxy_start(e);
}

/* see itest.h */
char *
gw_log(struct env *e)
{
	sleep_ms(250 * scale);      /* the access log is flushed every 100 ms */
	return read_file(e->proxy->log, NULL);
}

/* see itest.h */
int
gw_count(const char *s, const char *needle)
{
	int n = 0;
	size_t k = strlen(needle);

	while (s && (s = strstr(s, needle)) != NULL) {
		n++;
		s += k;
	}
	return n;
}

/* see itest.h */
int
gw_wait_log(struct env *e, const char *needle, int count, int ms)
{
	long long end = mono_ms() + (long long)ms * scale;

	for (;;) {
		char *s = read_file(e->proxy->log, NULL);
		int n = gw_count(s, needle);
		free(s);
		if (n >= count)
			return 1;
		if (mono_ms() > end)
			return 0;
		sleep_ms(20);
	}
}

/* see itest.h */
char *
gw_access(struct env *e, const char *rid)
{
	char *key = strf("access id=%s ", rid);
	long long end = mono_ms() + 3000LL * scale;

	for (;;) {
		char *log = read_file(e->proxy->log, NULL);
		const char *at = log ? strstr(log, key) : NULL;
		if (at) {
			const char *nl = strchr(at, '\n');
			return strf("%.*s", (int)(nl ? nl - at :
			    (long)strlen(at)), at);
		}
		free(log);
		ck_assert_msg(mono_ms() < end, "no access line for %s", rid);
		sleep_ms(20);
	}
}

/* The value of field name in an access line (up to the next space). */
static char *
field(const char *line, const char *name)
{
	char *key = strf(" %s=", name);
	const char *at = strstr(line, key);
	size_t n;

	if (at == NULL)
		return NULL;
	at += strlen(key);
	n = strcspn(at, " \n");
	return strf("%.*s", (int)n, at);
}

/* see itest.h */
char *
cf_req(enum cf f, const char *model, int stream, const char *key,
    const char *hdrs, long max_tokens)
{
	char mt[64];
	const char *k = key ? key : "sk-test", *h = hdrs ? hdrs : "";

	mt[0] = 0;
	switch (f) {
	case CF_CHAT:
		if (max_tokens >= 0)
			snprintf(mt, sizeof mt, ",\"max_tokens\":%ld",
			    max_tokens);
		return req_text("POST", "/v1/chat/completions",
		    strf("Authorization: Bearer %s\r\n%s", k, h),
		    strf("{\"model\":\"%s\",\"messages\":[{\"role\":\"user\","
		    "\"content\":\"Hello\"}]%s%s}", model, mt, stream ?
		    ",\"stream\":true,\"stream_options\":{\"include_usage\":"
		    "true}" : ""));
	case CF_ANT:
		return req_text("POST", "/v1/messages",
		    strf("x-api-key: %s\r\nanthropic-version: 2023-06-01\r\n%s",
		    k, h), strf("{\"model\":\"%s\",\"max_tokens\":%ld,"
		    "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]%s}",
		    model, max_tokens >= 0 ? max_tokens : 256L,
		    stream ? ",\"stream\":true" : ""));
	case CF_RSP:
		if (max_tokens >= 0)
			snprintf(mt, sizeof mt, ",\"max_output_tokens\":%ld",
			    max_tokens);
		return req_text("POST", "/v1/responses",
		    strf("Authorization: Bearer %s\r\n%s", k, h),
		    strf("{\"model\":\"%s\",\"input\":\"Hello\"%s%s}", model,
		    mt, stream ? ",\"stream\":true" : ""));
	default:
		if (max_tokens >= 0)
			snprintf(mt, sizeof mt, ",\"generationConfig\":{"
			    "\"maxOutputTokens\":%ld}", max_tokens);
		return req_text("POST", strf("/v1beta/models/%s:%s", model,
		    stream ? "streamGenerateContent?alt=sse" :
		    "generateContent"),
		    strf("x-goog-api-key: %s\r\n%s", k, h),
		    strf("{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":"
		    "\"Hello\"}]}]%s}", mt));
	}
}

/* see itest.h */
void
cf_do(int port, enum cf f, const char *model, int stream, const char *key,
    const char *hdrs, struct resp *r)
{
	exchange(port, cf_req(f, model, stream, key, hdrs, -1), r);
}

/* The events of a Responses stream: types in order, text deltas. */
static int
rsp_events(const struct resp *r, char **text, char **last, char **last_data)
{
	struct ev *evs;
	int n, i;

	*text = strdup("");
	n = sse_split(r->body, &evs);
	ck_assert_int_gt(n, 0);
	for (i = 0; i < n; i++) {
		char *t;
		ck_assert_msg(evs[i].event && evs[i].data && jvalid(evs[i].data),
		    "Responses event %d: %s / %s", i, evs[i].event,
		    evs[i].data);
		t = jstr(evs[i].data, "type");
		ck_assert_msg(t && strcmp(t, evs[i].event) == 0,
		    "event: %s but type %s", evs[i].event, t);
		if (i == 0)
			ck_str(t, "response.created");
		if (strcmp(t, "response.output_text.delta") == 0)
			*text = strf("%s%s", *text, jstr(evs[i].data, "delta"));
	}
	*last = evs[n - 1].event;
	*last_data = evs[n - 1].data;
	return n;
}

/* Gemini SSE chunks: text (thoughts left out); *err the data of an error
 * chunk (then the last one); *finish the last chunk's finishReason. */
static void
gem_events(const struct resp *r, char **text, char **err, char **finish)
{
	struct ev *evs;
	int n, i, k;

	*text = strdup("");
	*err = *finish = NULL;
	n = sse_split(r->body, &evs);
	ck_assert_int_gt(n, 0);
	for (i = 0; i < n; i++) {
		const char *d = evs[i].data;
		ck_assert_msg(d && jvalid(d), "Gemini chunk %d: %s", i, d);
		if (jhas(d, "error")) {
			ck_assert_msg(i == n - 1, "chunks after an error chunk");
			*err = strdup(d);
			break;
		}
		for (k = 0; k < 16; k++) {
			char p[64];
			snprintf(p, sizeof p, "candidates.0.content.parts.%d", k);
			if (!jhas(d, p))
				break;
			snprintf(p, sizeof p, "candidates.0.content.parts.%d.thought",
			    k);
			if (jhas(d, p))
				continue;
			snprintf(p, sizeof p, "candidates.0.content.parts.%d.text",
			    k);
			if (jstr(d, p))
				*text = strf("%s%s", *text, jstr(d, p));
		}
		if (jstr(d, "candidates.0.finishReason"))
			*finish = jstr(d, "candidates.0.finishReason");
	}
}

/* see itest.h */
char *
cf_text(enum cf f, int stream, const struct resp *r)
{
	char *text = NULL, *last, *ld, *err, *fin;
	int i;

	expect_status(r, 200);
	if (stream && f == CF_CHAT) {
		struct chat_acc a;
		check_chat_stream(r, &a);
		ck_assert_msg(a.error == NULL, "error event: %s", a.error);
		ck_assert_msg(a.done && a.finish, "no finish / [DONE]:\n%s",
		    r->body);
		return a.content;
	}
	if (stream && f == CF_ANT) {
		struct ant_acc a;
		check_anthropic_stream(r, &a);
		ck_assert_msg(a.error == NULL, "error event: %s", a.error);
		ck_assert_msg(a.stopped, "no message_stop:\n%s", r->body);
		return a.text;
	}
	if (stream && f == CF_RSP) {
		ck_assert_msg(r->complete, "framing incomplete");
		rsp_events(r, &text, &last, &ld);
		ck_assert_msg(strcmp(last, "response.completed") == 0,
		    "last Responses event %s: %s", last, ld);
		ck_assert_msg(strstr(r->body, "event: error") == NULL &&
		    strstr(r->body, "response.failed") == NULL, "%s", r->body);
		return text;
	}
	if (stream) {
		ck_assert_msg(r->complete, "framing incomplete");
		gem_events(r, &text, &err, &fin);
		ck_assert_msg(err == NULL, "error chunk %s", err);
		ck_assert_msg(fin != NULL, "no finishReason:\n%s", r->body);
		return text;
	}
	ck_assert_msg(jvalid(r->body), "not JSON: %s", r->body);
	switch (f) {
	case CF_CHAT:
		ck_str(jstr(r->body, "object"), "chat.completion");
		ck_assert_ptr_nonnull(jstr(r->body, "choices.0.finish_reason"));
		return jstr(r->body, "choices.0.message.content");
	case CF_ANT:
		ck_str(jstr(r->body, "type"), "message");
		ck_assert_ptr_nonnull(jstr(r->body, "stop_reason"));
		text = strdup("");
		for (i = 0; i < 8; i++) {
			char p[32];
			snprintf(p, sizeof p, "content.%d.type", i);
			if (!jstr(r->body, p))
				break;
			if (strcmp(jstr(r->body, p), "text") == 0) {
				snprintf(p, sizeof p, "content.%d.text", i);
				text = strf("%s%s", text, jstr(r->body, p));
			}
		}
		return text;
	case CF_RSP:
		ck_str(jstr(r->body, "object"), "response");
		ck_str(jstr(r->body, "status"), "completed");
		for (i = 0; i < 8; i++) {
			char p[48];
			snprintf(p, sizeof p, "output.%d.type", i);
			if (!jstr(r->body, p))
				break;
			if (strcmp(jstr(r->body, p), "message") == 0) {
				snprintf(p, sizeof p, "output.%d.content.0.text", i);
				return jstr(r->body, p);
			}
		}
		ck_abort_msg("no message output: %s", r->body);
		return NULL;
	default:
		ck_assert_ptr_nonnull(jstr(r->body, "candidates.0.finishReason"));
		text = strdup("");
		for (i = 0; i < 8; i++) {
			char p[64];
			snprintf(p, sizeof p, "candidates.0.content.parts.%d", i);
			if (!jhas(r->body, p))
				break;
			snprintf(p, sizeof p, "candidates.0.content.parts.%d.thought",
			    i);
			if (jhas(r->body, p))
				continue;
			snprintf(p, sizeof p, "candidates.0.content.parts.%d.text",
			    i);
			if (jstr(r->body, p))
				text = strf("%s%s", text, jstr(r->body, p));
		}
		return text;
	}
}

/* see itest.h */
char *
cf_error(enum cf f, const struct resp *r, int status)
{
	if (f == CF_CHAT || f == CF_RSP) {
		expect_openai_error(r, status, NULL);
		return jstr(r->body, "error.message");
	}
	if (f == CF_ANT) {
		expect_anthropic_error(r, status, NULL, NULL);
		return jstr(r->body, "error.message");
	}
	expect_status(r, status);
	ck_assert_msg(jvalid(r->body), "not JSON: %s", r->body);
	ck_assert_msg(jint(r->body, "error.code", -1) == status,
	    "Gemini error.code: %s", r->body);
	ck_assert_msg(jstr(r->body, "error.status") != NULL, "%s", r->body);
	ck_assert_ptr_nonnull(jstr(r->body, "error.message"));
	return jstr(r->body, "error.message");
}

/* see itest.h */
char *
cf_stream_error(enum cf f, const struct resp *r, char **partial)
{
	char *text, *last, *ld, *err, *fin;

	expect_status(r, 200);
	ck_assert_msg(r->complete, "framing incomplete");
	if (f == CF_CHAT) {
		struct chat_acc a;
		check_chat_stream(r, &a);
		ck_assert_msg(a.error != NULL && !a.done,
		    "no error event at the end:\n%s", r->body);
		*partial = a.content;
		return a.error;
	}
	if (f == CF_ANT) {
		struct ant_acc a;
		check_anthropic_stream(r, &a);
		ck_assert_msg(a.error != NULL && !a.stopped,
		    "no error event at the end:\n%s", r->body);
		*partial = a.text;
		return a.error;
	}
	if (f == CF_RSP) {
		rsp_events(r, &text, &last, &ld);
		ck_assert_msg(strcmp(last, "error") == 0 ||
		    strcmp(last, "response.failed") == 0,
		    "last Responses event %s:\n%s", last, r->body);
		ck_assert_msg(strstr(r->body, "response.completed") == NULL,
		    "%s", r->body);
		*partial = text;
		return ld;
	}
	gem_events(r, &text, &err, &fin);
	ck_assert_msg(err != NULL, "no error chunk:\n%s", r->body);
	*partial = text;
	return err;
}

/* see itest.h */
void
mock_get(const struct env *e, const char *path, struct resp *r)
{
	exchange(e->mock_port, req_text("GET", path, NULL, NULL), r);
	expect_status(r, 200);
}

/* Credentials the mock saw for requests naming model, in order, as
 * "c1,c2,...". */
static char *
mock_creds(const struct env *e, const char *model)
{
	struct resp r;
	char *out = strdup(""), p[64];
	int i;

	mock_get(e, "/_creds", &r);
	for (i = 0; i < 64; i++) {
		char *m, *c;
		snprintf(p, sizeof p, "requests.%d.model", i);
		if ((m = jstr(r.body, p)) == NULL)
			break;
		if (strcmp(m, model) != 0)
			continue;
		snprintf(p, sizeof p, "requests.%d.cred", i);
		c = jstr(r.body, p);
		out = strf("%s%s%s", out, *out ? "," : "", c);
	}
	return out;
}

/* The expected answer text of the mock's text fixtures. */
static char *
oai_text(int stream)
{
	return stream ? fixture_concat("openai_chat_stream_text.sse", NULL,
	    "choices.0.delta.content") :
	    jstr(fixture("openai_chat_response_text.json", NULL),
	    "choices.0.message.content");
}

static char *
ant_text(int stream)
{
	return stream ? fixture_concat("anthropic_stream_text.sse",
	    "content_block_delta", "delta.text") :
	    jstr(fixture("anthropic_response_text.json", NULL),
	    "content.0.text");
}

/* No provider name or credential in what the client got. */
static void
no_names(const struct resp *r, const char *const *secrets)
{
	ck_assert_msg(strstr(r->head, "prov-") == NULL,
	    "a provider name in the head:\n%s", r->head);
	ck_assert_msg(strstr(r->body, "prov-") == NULL,
	    "a provider name in the body:\n%s", r->body);
	for (; secrets && *secrets; secrets++)
		ck_assert_msg(strstr(r->head, *secrets) == NULL,
		    "credential %s in the head:\n%s", *secrets, r->head);
}

/* ------------------------------------------------------------ the shared
 * gateway */

#define GW_CFG \
	"{\"listen\": \"127.0.0.1:0\", \"api_keys\": [\"sk-test\"],\n" \
	" \"admin_key\": \"adm-secret\",\n" \
	" \"providers\": [\n" \
	"  {\"name\": \"prov-ant\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"antk\"},\n" \
	"  {\"name\": \"prov-oai\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"oaik\"},\n" \
	"  {\"name\": \"prov-gem\", \"type\": \"gemini\", \"base_url\": \"http://127.0.0.1:MOCK/v1beta\", \"api_key\": \"gemk\"},\n" \
	"  {\"name\": \"prov-rsp\", \"type\": \"openai-responses\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"rspk\"},\n" \
	"  {\"name\": \"prov-rr\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:MOCK\",\n" \
	"   \"api_keys\": [\"rrk1\", \"rrk2\", \"rrk3\"]},\n" \
	"  {\"name\": \"prov-ff\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\",\n" \
	"   \"api_keys\": [\"ffk1\", {\"name\": \"ff-second\", \"key\": \"ffk2\"}, \"ffk3\"], \"strategy\": \"fill-first\"},\n" \
	"  {\"name\": \"prov-cool\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_keys\": [\"coolk1\", \"coolk2\"]},\n" \
	"  {\"name\": \"prov-ca\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"cak\"},\n" \
	"  {\"name\": \"prov-cb\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"cbk\"},\n" \
	"  {\"name\": \"prov-hdr\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"hdrk\",\n" \
	"   \"headers\": {\"HTTP-Referer\": \"https://example.com/app\", \"X-Title\": \"env:GW_TITLE\"}},\n" \
	"  {\"name\": \"prov-az\", \"type\": \"azure\", \"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"azk\",\n" \
	"   \"api_version\": \"2024-10-21\", \"deployments\": {\"az-echo\": \"dep-echo\", \"az-rsp-echo\": \"dep-rsp-echo\"},\n" \
	"   \"responses_models\": [\"az-rsp-*\"]},\n" \
	"  {\"name\": \"prov-az1\", \"type\": \"azure\", \"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"az1k\",\n" \
	"   \"responses_models\": [\"az1-rsp-*\"]},\n" \
	"  {\"name\": \"prov-dead\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:DEAD\", \"api_key\": \"deadk\"}\n" \
	" ],\n" \
	" \"models\": {\n" \
	"  \"rr-*\": \"prov-rr\", \"ff-*\": \"prov-ff\",\n" \
	"  \"a2o-*\": [\"prov-ant\", \"prov-oai\"], \"g2a-*\": [\"prov-gem\", \"prov-ant\"],\n" \
	"  \"eb-ant-*\": [\"prov-ant\", \"prov-oai\"], \"eb-oai-*\": [\"prov-oai\", \"prov-ant\"],\n" \
	"  \"eb-rsp-*\": [\"prov-rsp\", \"prov-ant\"], \"eb-gem-*\": [\"prov-gem\", \"prov-oai\"],\n" \
	"  \"cool-*\": \"prov-cool\",\n" \
	"  \"two-*\": [\"prov-ca/two-k429=cak-ra=30\", \"prov-cb/two-k429=cbk-ra=5\"],\n" \
	"  \"bad-*\": [\"prov-ant\", \"prov-oai\"],\n" \
	"  \"hdr-*\": \"prov-hdr\", \"az-*\": \"prov-az\", \"az1-*\": \"prov-az1\",\n" \
	"  \"to-*\": [\"prov-ant\", \"prov-oai\"], \"dead-*\": [\"prov-dead\", \"prov-oai\"]\n" \
	" },\n" \
	" \"timeouts\": {\"first_byte_ms\": FIRSTBYTE}}\n"

static struct env gw;

static void
gw_start(void)
{
	char *cfg = strdup(GW_CFG), *p;

	setenv("GW_TITLE", "title-from-env", 1);
	p = strstr(cfg, "DEAD");
	cfg = strf("%.*s%d%s", (int)(p - cfg), cfg, closed_port(), p + 4);
	p = strstr(cfg, "FIRSTBYTE");
	cfg = strf("%.*s%d%s", (int)(p - cfg), cfg, 800 * scale, p + 9);
	gw_env(&gw, cfg);
}

static void
gw_stop(void)
{
	env_stop(&gw);
}

/* A request with an id, for its access line. */
static void
gw_do(enum cf f, const char *model, int stream, const char *rid,
    struct resp *r)
{
	cf_do(gw.port, f, model, stream, NULL,
	    rid ? strf("x-request-id: %s\r\n", rid) : NULL, r);
}

/* ------------------------------------------------------------ pools */

/*
 * Round-robin: each request starts at the next key, in the pool's order.
 * A 429 with Retry-After on the first key moves on to the second (the
 * answer says 2 attempts); that key then cools for that model only, and
 * the next request for it does not try it. A rate-limit error event
 * before any content does the same.
 */
START_TEST(t_gw_round_robin)
{
	static const char *const keys[] = { "rrk1", "rrk2", "rrk3" };
	struct resp r;
	char *seen, *m, *line, *want;
	int first = -1, i, k;

	for (i = 0; i < 3; i++) {
		m = strf("rr-plain-%d", i);
		gw_do(CF_ANT, m, 0, NULL, &r);
		ck_assert_str_eq(cf_text(CF_ANT, 0, &r), ant_text(0));
		ck_assert_ptr_null(resp_hdr(&r, "x-llmproxy-attempts"));
		seen = mock_creds(&gw, m);
		for (k = 0; k < 3; k++)
			if (strcmp(seen, keys[k]) == 0)
				break;
		ck_assert_msg(k < 3, "request %d: keys %s", i, seen);
		if (first < 0)
			first = k;
		ck_assert_msg(k == (first + i) % 3, "request %d used %s, want "
		    "%s (round-robin from %s)", i, seen, keys[(first + i) % 3],
		    keys[first]);
	}
	/* the next request starts at keys[first]: make that one answer 429 */
	k = first;
	m = strf("rr-k429=%s-x", keys[k]);
	gw_do(CF_CHAT, m, 0, "rr-429", &r);
	ck_assert_str_eq(cf_text(CF_CHAT, 0, &r), ant_text(0));
	ck_str(resp_hdr(&r, "x-llmproxy-attempts"), "2");
	ck_assert_ptr_null(resp_hdr(&r, "retry-after"));
	ck_str(mock_creds(&gw, m), strf("%s,%s", keys[k], keys[(k + 1) % 3]));
	line = gw_access(&gw, "rr-429");
	want = strf("prov-rr/prov-rr#%d\\x3d429,prov-rr/prov-rr#%d\\x3dok",
	    k + 1, (k + 1) % 3 + 1);
	ck_assert_msg(strcmp(field(line, "attempts"), want) == 0,
	    "attempts: %s, want %s", line, want);
	ck_str(field(line, "cred"), strf("prov-rr#%d", (k + 1) % 3 + 1));
	ck_str(field(line, "status"), "200");
	/* keys[k] cools for this model: the next request (which would start
	 * at keys[k+1]) rotates past it to keys[k+2], and the one after that
	 * (starting at keys[k+2]... or keys[k]) never tries keys[k] */
	gw_do(CF_CHAT, m, 0, NULL, &r);
	expect_status(&r, 200);
	gw_do(CF_CHAT, m, 0, NULL, &r);
	expect_status(&r, 200);
	gw_do(CF_CHAT, m, 0, NULL, &r);
	expect_status(&r, 200);
	ck_assert_ptr_null(resp_hdr(&r, "x-llmproxy-attempts"));
	seen = mock_creds(&gw, m);
	ck_assert_msg(gw_count(seen, keys[k]) == 1, "the cooling key was "
	    "tried again: %s", seen);
	/* ... but other models still use it (three requests: every key) */
	seen = strdup("");
	for (i = 0; i < 3; i++) {
		gw_do(CF_ANT, strf("rr-other-%d", i), 0, NULL, &r);
		seen = strf("%s,%s", seen, mock_creds(&gw, strf("rr-other-%d",
		    i)));
	}
	ck_assert_msg(gw_count(seen, keys[k]) == 1, "%s", seen);
	/* a rate-limit error event before any content: the next key */
	m = strf("rr-failfirst=1-errbefore-ratelimited");
	gw_do(CF_ANT, m, 1, "rr-ev429", &r);
	ck_assert_str_eq(cf_text(CF_ANT, 1, &r), ant_text(1));
	ck_str(resp_hdr(&r, "x-llmproxy-attempts"), "2");
	line = gw_access(&gw, "rr-ev429");
	ck_assert_msg(strstr(line, "\\x3devent429,prov-rr/") != NULL, "%s",
	    line);
	seen = mock_creds(&gw, m);
	ck_assert_msg(strlen(seen) == 9 && strncmp(seen, seen + 5, 4) != 0,
	    "two different keys: %s", seen);
}
END_TEST

/*
 * Fill-first: the first key until it cools down, then the next; a
 * cooldown is per model, so other models keep using the first key.
 */
START_TEST(t_gw_fill_first)
{
	struct resp r;
	char *line;

	gw_do(CF_CHAT, "ff-plain", 0, NULL, &r);
	expect_status(&r, 200);
	gw_do(CF_RSP, "ff-plain", 0, NULL, &r);
	expect_status(&r, 200);
	ck_str(mock_creds(&gw, "ff-plain"), "ffk1,ffk1");
	gw_do(CF_GEM, "ff-k429=ffk1", 0, "ff-1", &r);
	ck_assert_str_eq(cf_text(CF_GEM, 0, &r), oai_text(0));
	ck_str(resp_hdr(&r, "x-llmproxy-attempts"), "2");
	line = gw_access(&gw, "ff-1");
	ck_str(field(line, "attempts"),
	    "prov-ff/prov-ff#1\\x3d429,prov-ff/ff-second\\x3dok");
	ck_str(field(line, "cred"), "ff-second");
	gw_do(CF_GEM, "ff-k429=ffk1", 0, "ff-2", &r);
	expect_status(&r, 200);
	ck_assert_ptr_null(resp_hdr(&r, "x-llmproxy-attempts"));
	ck_str(field(gw_access(&gw, "ff-2"), "attempts"),
	    "prov-ff/ff-second\\x3dok");
	ck_str(mock_creds(&gw, "ff-k429=ffk1"), "ffk1,ffk2,ffk2");
	gw_do(CF_CHAT, "ff-plain", 0, NULL, &r);
	ck_str(mock_creds(&gw, "ff-plain"), "ffk1,ffk1,ffk1");
}
END_TEST

/* ------------------------------------------------------------ fallback */

/*
 * A provider answering 503 hands the request to the next target, which
 * speaks another format (Anthropic then OpenAI; Gemini then Anthropic):
 * every client format, streamed and not, gets a normal answer in its own
 * format, x-llmproxy-attempts: 2, and no provider name or key anywhere.
 */
START_TEST(t_gw_fallback_formats)
{
	static const char *const secrets[] = { "antk", "oaik", "gemk", NULL };
	struct resp r;
	int f, stream, chain;

	for (chain = 0; chain < 2; chain++)
	for (f = 0; f < CF_N; f++)
	for (stream = 0; stream < 2; stream++) {
		const char *first = chain ? "gemk" : "antk";
		char *m = strf("%s-k503=%s-%s%d", chain ? "g2a" : "a2o", first,
		    cf_name[f], stream);
		char *rid = strf("fb-%d-%d-%d", chain, f, stream), *line, *want;

		gw_do((enum cf)f, m, stream, rid, &r);
		ck_assert_msg(r.status == 200, "%s, %s, stream %d: %d %s", m,
		    cf_name[f], stream, r.status, r.body);
		ck_assert_str_eq(cf_text((enum cf)f, stream, &r), chain ?
		    ant_text(stream) : oai_text(stream));
		ck_str(resp_hdr(&r, "x-llmproxy-attempts"), "2");
		no_names(&r, secrets);
		ck_str(mock_creds(&gw, m), chain ? "gemk,antk" : "antk,oaik");
		line = gw_access(&gw, rid);
		want = chain ? "prov-gem/prov-gem#1\\x3d503,prov-ant/prov-ant#1\\x3dok" :
		    "prov-ant/prov-ant#1\\x3d503,prov-oai/prov-oai#1\\x3dok";
		ck_assert_msg(strcmp(field(line, "attempts"), want) == 0,
		    "%s", line);
		ck_str(field(line, "provider"), chain ? "prov-ant" : "prov-oai");
		ck_str(field(line, "status"), "200");
	}
}
END_TEST

/*
 * A stream whose upstream fails in-band before any content (an error
 * event after message_start / the role chunk / response.created, or a
 * Gemini error chunk) is retried at the next target: the client sees one
 * normal stream (one message_start, one role chunk), with the attempts
 * header. Every upstream format's error event, every client format.
 */
START_TEST(t_gw_stream_fail_before)
{
	static const char *const up[] = { "ant", "oai", "rsp", "gem" };
	static const char *const ev[] = { "event529", "event500", "event500",
	    "event503" };
	struct resp r;
	int u, f;

	for (u = 0; u < 4; u++)
	for (f = 0; f < CF_N; f++) {
		char *m = strf("eb-%s-failfirst=1-errbefore-%s", up[u],
		    cf_name[f]);
		char *rid = strf("eb-%d-%d", u, f), *line;
		const char *next = u == 0 || u == 3 ? "oai" : "ant";

		gw_do((enum cf)f, m, 1, rid, &r);
		ck_assert_msg(r.status == 200, "%s: %d %s", m, r.status, r.body);
		ck_assert_str_eq(cf_text((enum cf)f, 1, &r),
		    *next == 'o' ? oai_text(1) : ant_text(1));
		ck_str(resp_hdr(&r, "x-llmproxy-attempts"), "2");
		/* one opening (check_*_stream count message_start and the
		 * role chunk) */
		if (f == CF_RSP)
			ck_assert_int_eq(gw_count(r.body,
			    "event: response.created"), 1);
		line = gw_access(&gw, rid);
		ck_assert_msg(strstr(field(line, "attempts"), strf("prov-%s#1\\x3d%s,prov-%s/",
		    up[u], ev[u], next)) != NULL, "%s", line);
		ck_assert_ptr_null(strstr(line, " cut=1"));
		ck_assert_ptr_null(strstr(line, " error="));
	}
}
END_TEST

/*
 * Once content reached the client nothing is retried: the stream ends
 * with the error event in the client's format, and the next target is
 * never asked.
 */
START_TEST(t_gw_stream_fail_after)
{
	static const char *const up[] = { "ant", "oai", "rsp", "gem" };
	struct resp r;
	int u, f;

	for (u = 0; u < 4; u++)
	for (f = 0; f < CF_N; f++) {
		char *m = strf("eb-%s-errafter-%s", up[u], cf_name[f]);
		char *rid = strf("ea-%d-%d", u, f), *partial, *err, *line;

		gw_do((enum cf)f, m, 1, rid, &r);
		err = cf_stream_error((enum cf)f, &r, &partial);
		ck_assert_str_eq(partial, "Hello! This is the mock upstream.");
		ck_assert_ptr_nonnull(err);
		ck_assert_ptr_null(resp_hdr(&r, "x-llmproxy-attempts"));
		ck_str(mock_creds(&gw, m), strf("%sk", up[u]));
		line = gw_access(&gw, rid);
		ck_str(field(line, "attempts"), strf("prov-%s/prov-%s#1\\x3dok",
		    up[u], up[u]));
		ck_assert_msg(strstr(line, " error=") != NULL, "%s", line);
	}
}
END_TEST

/*
 * No response head within first_byte_ms: the next target (the provider
 * cools for that model only). A provider that refuses connections: the
 * next target, and it is down for every model (skipped at once).
 */
START_TEST(t_gw_timeout_connect)
{
	struct resp r;
	char *line;
	long long t0;

	t0 = mono_ms();
	gw_do(CF_CHAT, "to-failfirst=1-hang", 1, "to-1", &r);
	ck_assert_str_eq(cf_text(CF_CHAT, 1, &r), oai_text(1));
	ck_assert_msg(mono_ms() - t0 >= 700 * scale, "answered in %lld ms",
	    mono_ms() - t0);
	ck_str(resp_hdr(&r, "x-llmproxy-attempts"), "2");
	line = gw_access(&gw, "to-1");
	ck_str(field(line, "attempts"),
	    "prov-ant/prov-ant#1\\x3dtimeout,prov-oai/prov-oai#1\\x3dok");
	/* that model cools on prov-ant, another does not */
	gw_do(CF_ANT, "to-failfirst=1-hang", 0, NULL, &r);
	ck_assert_ptr_null(resp_hdr(&r, "x-llmproxy-attempts"));
	ck_str(mock_creds(&gw, "to-failfirst=1-hang"), "antk,oaik,oaik");
	gw_do(CF_ANT, "to-other", 0, NULL, &r);
	ck_assert_str_eq(cf_text(CF_ANT, 0, &r), ant_text(0));
	ck_str(mock_creds(&gw, "to-other"), "antk");

	gw_do(CF_GEM, "dead-1", 0, "dead-1", &r);
	ck_assert_str_eq(cf_text(CF_GEM, 0, &r), oai_text(0));
	ck_str(resp_hdr(&r, "x-llmproxy-attempts"), "2");
	ck_str(field(gw_access(&gw, "dead-1"), "attempts"),
	    "prov-dead/prov-dead#1\\x3dconnect,prov-oai/prov-oai#1\\x3dok");
	gw_do(CF_RSP, "dead-2", 1, "dead-2", &r);
	ck_assert_str_eq(cf_text(CF_RSP, 1, &r), oai_text(1));
	ck_assert_ptr_null(resp_hdr(&r, "x-llmproxy-attempts"));
	ck_str(field(gw_access(&gw, "dead-2"), "attempts"),
	    "prov-oai/prov-oai#1\\x3dok");
}
END_TEST

/* ------------------------------------------------------------ cooling */

/*
 * Every key of the provider answers 429: the client gets the upstream's
 * 429 in its own format with Retry-After from the keys' cooldowns; the
 * next request tries nothing and gets a 429 with the time left.
 */
START_TEST(t_gw_all_cooling)
{
	struct resp r;
	int f;

	for (f = 0; f < CF_N; f++) {
		int ra = 11 + f;
		char *m = strf("cool-k429=coolk1-k429=coolk2-ra=%d-%s", ra,
		    cf_name[f]), *msg, *seen;
		long v;

		gw_do((enum cf)f, m, 0, NULL, &r);
		cf_error((enum cf)f, &r, 429);
		ck_str(resp_hdr(&r, "retry-after"), strf("%d", ra));
		if (f == CF_ANT)
			ck_str(jstr(r.body, "error.type"), "rate_limit_error");
		if (f == CF_GEM)
			ck_str(jstr(r.body, "error.status"), "RESOURCE_EXHAUSTED");
		ck_str(resp_hdr(&r, "x-llmproxy-attempts"), "2");
		seen = mock_creds(&gw, m);
		ck_assert_msg(strcmp(seen, "coolk1,coolk2") == 0 ||
		    strcmp(seen, "coolk2,coolk1") == 0, "%s", seen);
		/* nothing is tried now */
		sleep_ms(1100);
		gw_do((enum cf)f, m, 1, NULL, &r);
		msg = cf_error((enum cf)f, &r, 429);
		ck_assert_msg(strstr(msg, "rate limited") != NULL, "%s", msg);
		v = strtol(resp_hdr(&r, "retry-after") ?
		    resp_hdr(&r, "retry-after") : "0", NULL, 10);
		ck_assert_msg(v >= ra - 3 && v <= ra, "Retry-After %ld, want "
		    "%d", v, ra - 1);
		ck_assert_int_eq(gw_count(mock_creds(&gw, m), ","), 1);
		ck_assert_ptr_null(strstr(r.head, "coolk"));
	}
}
END_TEST

/*
 * Two providers cooling for different times (30 s, then 5 s): Retry-After
 * is the sooner one, and the hints forwarded from the kept answer (the
 * first) do not say otherwise: retry-after-ms, which the SDKs read first,
 * says the same time.
 */
START_TEST(t_gw_soonest_retry_after)
{
	struct resp r;
	const char *ms;
	long ra;
	int f;

	for (f = 0; f < CF_N; f++) {
		gw_do((enum cf)f, "two-x", 0, NULL, &r);
		cf_error((enum cf)f, &r, 429);
		ra = atol(resp_hdr(&r, "retry-after") ? resp_hdr(&r,
		    "retry-after") : "0");
		ck_assert_msg(f == 0 ? ra == 5 : ra >= 3 && ra <= 5,
		    "%s: Retry-After %ld", cf_name[f], ra);
		ms = resp_hdr(&r, "retry-after-ms");
		ck_assert_msg(ms && atol(ms) == ra * 1000, "%s: retry-after-ms "
		    "%s with Retry-After %ld", cf_name[f], ms, ra);
		ck_assert_int_eq(gw_count(r.head, "etry-after-ms"), 1);
	}
	ck_str(mock_creds(&gw, "two-k429=cak-ra=30"), "cak");
	ck_str(mock_creds(&gw, "two-k429=cbk-ra=5"), "cbk");
}
END_TEST

/* A 400 is the client's: answered at once, never retried. */
START_TEST(t_gw_400_not_retried)
{
	struct resp r;
	int f;

	for (f = 0; f < CF_N; f++) {
		char *m = strf("bad-error400-%s", cf_name[f]);
		char *rid = strf("bad-%d", f);

		gw_do((enum cf)f, m, f % 2, rid, &r);
		cf_error((enum cf)f, &r, 400);
		ck_assert_ptr_null(resp_hdr(&r, "x-llmproxy-attempts"));
		ck_str(mock_creds(&gw, m), "antk");
		ck_str(field(gw_access(&gw, rid), "attempts"),
		    "prov-ant/prov-ant#1\\x3d400");
	}
	/* and the provider did not cool down for it */
	gw_do(CF_CHAT, "bad-error400-chat", 0, NULL, &r);
	ck_str(mock_creds(&gw, "bad-error400-chat"), "antk,antk");
}
END_TEST

/* ------------------------------------------------------------ shaping */

/* Provider headers reach the upstream (env: values resolved); the
 * client's key does not. */
START_TEST(t_gw_headers)
{
	struct resp r;
	char *echo;
	int stream;

	for (stream = 0; stream < 2; stream++) {
		gw_do(CF_ANT, "hdr-echo", stream, NULL, &r);
		echo = cf_text(CF_ANT, stream, &r);
		ck_assert_msg(strncmp(echo, "POST /v1/chat/completions\n", 26) == 0,
		    "%s", echo);
		ck_assert_msg(strstr(echo, "\nhttp-referer: https://example.com/app\n")
		    != NULL, "%s", echo);
		ck_assert_msg(strstr(echo, "\nx-title: title-from-env\n") != NULL,
		    "%s", echo);
		ck_assert_msg(strstr(echo, "\nauthorization: Bearer hdrk\n") != NULL,
		    "%s", echo);
		ck_assert_ptr_null(strstr(echo, "sk-test"));
	}
}
END_TEST

/*
 * Azure: deployment paths with api-version (chat; responses for the
 * responses_models), the /openai/v1/ paths without one; the key in
 * api-key, never Authorization; the deployment as the body's model.
 */
START_TEST(t_gw_azure)
{
	struct resp r;
	char *echo;
	int stream;

	for (stream = 0; stream < 2; stream++) {
		gw_do(CF_ANT, "az-echo", stream, NULL, &r);
		echo = cf_text(CF_ANT, stream, &r);
		ck_assert_msg(strncmp(echo, "POST /openai/deployments/dep-echo/"
		    "chat/completions?api-version=2024-10-21\n", 72) == 0,
		    "%s", echo);
		ck_assert_msg(strstr(echo, "\napi-key: azk\n") != NULL, "%s", echo);
		ck_assert_ptr_null(strstr(echo, "\nauthorization:"));
		ck_assert_msg(strstr(echo, "\"model\":\"dep-echo\"") != NULL, "%s",
		    echo);
	}
	gw_do(CF_CHAT, "az-rsp-echo", 0, NULL, &r);
	echo = cf_text(CF_CHAT, 0, &r);
	ck_assert_msg(strncmp(echo, "POST /openai/responses?api-version="
	    "2024-10-21\n", 46) == 0, "%s", echo);
	ck_assert_msg(strstr(echo, "\"model\":\"dep-rsp-echo\"") != NULL, "%s",
	    echo);
	ck_assert_msg(strstr(echo, "\napi-key: azk\n") != NULL, "%s", echo);
	/* the v1 form: no api_version */
	gw_do(CF_GEM, "az1-echo", 0, NULL, &r);
	echo = cf_text(CF_GEM, 0, &r);
	ck_assert_msg(strncmp(echo, "POST /openai/v1/chat/completions\n", 33) == 0,
	    "%s", echo);
	ck_assert_msg(strstr(echo, "\napi-key: az1k\n") != NULL, "%s", echo);
	ck_assert_msg(strstr(echo, "\"model\":\"az1-echo\"") != NULL, "%s", echo);
	gw_do(CF_RSP, "az1-rsp-echo", 1, NULL, &r);
	echo = cf_text(CF_RSP, 1, &r);
	ck_assert_msg(strncmp(echo, "POST /openai/v1/responses\n", 26) == 0,
	    "%s", echo);
	ck_assert_msg(strstr(echo, "\napi-key: az1k\n") != NULL, "%s", echo);
}
END_TEST

/* ------------------------------------------------------------ own proxies */

#define OWN_CFG_HEAD \
	"{\"listen\": \"127.0.0.1:0\", \"api_keys\": [\"sk-test\"],\n" \
	" \"admin_key\": \"adm-secret\",\n"

/* The admin view of providers, as JSON. */
static char *
admin_providers(struct env *e)
{
	struct resp r;

	exchange(e->port, req_text("GET", "/admin/providers",
	    "Authorization: Bearer adm-secret\r\n", NULL), &r);
	expect_status(&r, 200);
	ck_assert_msg(jvalid(r.body), "not JSON: %s", r.body);
	return r.body;
}

/* The credential object with this label in the admin view, or NULL. */
static char *
admin_cred(const char *view, const char *label)
{
	int p, c;

	for (p = 0; p < 16; p++)
		for (c = 0; c < 8; c++) {
			char *path = strf("providers.%d.credentials.%d", p, c);
			char *l = jstr(view, strf("%s.label", path));
			if (l && strcmp(l, label) == 0)
				return jraw(view, path);
		}
	return NULL;
}

static char *
admin_prov(const char *view, const char *name)
{
	int p;

	for (p = 0; p < 16; p++) {
		char *n = jstr(view, strf("providers.%d.name", p));
		if (n && strcmp(n, name) == 0)
			return jraw(view, strf("providers.%d", p));
	}
	return NULL;
}

/*
 * GET /admin/providers needs the admin key; it shows a key cooling down
 * after a 429 (model, until, status) and keys disabled by 401 and 403
 * (status, since), never a secret. A disabled key is skipped for every
 * model until the config is reloaded; then it is tried again.
 */
START_TEST(t_gw_admin_disable)
{
	struct env e;
	struct resp r;
	char *v, *c;

	gw_env(&e, OWN_CFG_HEAD
	    " \"providers\": [\n"
	    "  {\"name\": \"prov-d\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\",\n"
	    "   \"api_keys\": [\"dk1\", {\"name\": \"d-two\", \"key\": \"dk2\"}, \"dk3\"], \"strategy\": \"fill-first\"},\n"
	    "  {\"name\": \"prov-e\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:MOCK\",\n"
	    "   \"api_keys\": [\"ek1\", \"ek2\"], \"strategy\": \"fill-first\"},\n"
	    "  {\"name\": \"prov-s\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"sk1\"}],\n"
	    " \"models\": {\"d-*\": \"prov-d\", \"e-*\": \"prov-e\", \"s-*\": \"prov-s\"}}\n");
	exchange(e.port, req_text("GET", "/admin/providers", NULL, NULL), &r);
	expect_openai_error(&r, 401, "missing admin key");
	exchange(e.port, req_text("GET", "/admin/providers",
	    "Authorization: Bearer sk-test\r\n", NULL), &r);
	expect_openai_error(&r, 401, "invalid admin key");
	v = admin_providers(&e);
	ck_str(jstr(admin_cred(v, "prov-d#1"), "state"), "ok");
	ck_str(jstr(admin_prov(v, "prov-d"), "state"), "ok");

	/* 401 on dk1: dk2 answers; dk1 is out for every model */
	cf_do(e.port, CF_CHAT, "d-k401=dk1", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	ck_str(resp_hdr(&r, "x-llmproxy-attempts"), "2");
	cf_do(e.port, CF_CHAT, "d-other", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	ck_str(mock_creds(&e, "d-other"), "dk2");
	/* 429 on dk2 for one model: it cools for that model */
	cf_do(e.port, CF_ANT, "d-k429=dk2", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	ck_str(mock_creds(&e, "d-k429=dk2"), "dk2,dk3");
	/* 403 on ek1 */
	cf_do(e.port, CF_GEM, "e-k403=ek1", 1, NULL, NULL, &r);
	expect_status(&r, 200);
	ck_str(mock_creds(&e, "e-k403=ek1"), "ek1,ek2");

	v = admin_providers(&e);
	ck_assert_ptr_null(strstr(v, "dk1"));
	ck_assert_ptr_null(strstr(v, "ek1\""));
	c = admin_cred(v, "prov-d#1");
	ck_assert_msg(c != NULL, "%s", v);
	ck_str(jstr(c, "state"), "disabled");
	ck_assert_int_eq(jint(c, "disabled.status", 0), 401);
	ck_assert_ptr_nonnull(jstr(c, "disabled.since"));
	ck_str(jstr(c, "last_error.class"), "http");
	ck_assert_int_eq(jint(c, "last_error.status", 0), 401);
	c = admin_cred(v, "d-two");
	ck_assert_msg(c != NULL, "%s", v);
	ck_str(jstr(c, "state"), "cooling");
	ck_str(jstr(c, "cooling.0.model"), "d-k429=dk2");
	ck_assert_int_eq(jint(c, "cooling.0.status", 0), 429);
	ck_assert_ptr_nonnull(jstr(c, "cooling.0.until"));
	ck_assert_ptr_nonnull(jstr(c, "last_success"));
	c = admin_cred(v, "prov-e#1");
	ck_str(jstr(c, "state"), "disabled");
	ck_assert_int_eq(jint(c, "disabled.status", 0), 403);
	ck_str(jstr(admin_cred(v, "prov-e#2"), "state"), "ok");

	/* a provider's only key refused: a 502 naming the provider (the
	 * proxy's credential, not the client's key), then a 502 that says
	 * the key stays disabled (nothing to wait for, no Retry-After) */
	cf_do(e.port, CF_CHAT, "s-k401=sk1", 0, NULL, NULL, &r);
	cf_error(CF_CHAT, &r, 502);
	cf_do(e.port, CF_ANT, "s-other", 0, NULL, NULL, &r);
	ck_assert_msg(strstr(cf_error(CF_ANT, &r, 502), "disabled until the "
	    "config is reloaded") != NULL, "%s", r.body);
	ck_assert_ptr_null(resp_hdr(&r, "retry-after"));
	ck_str(mock_creds(&e, "s-other"), "");

	/* a reload (the same file) gives the disabled keys another chance */
	ck_assert_int_eq(kill(e.proxy->pid, SIGHUP), 0);
	ck_assert(gw_wait_log(&e, "SIGHUP: reloaded", 1, 3000));
	cf_do(e.port, CF_CHAT, "d-after", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	ck_str(mock_creds(&e, "d-after"), "dk1");
	v = admin_providers(&e);
	ck_str(jstr(admin_cred(v, "prov-d#1"), "state"), "ok");
	ck_str(jstr(admin_cred(v, "prov-e#1"), "state"), "ok");
	cf_do(e.port, CF_ANT, "s-other", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	/* the cooldown of an unchanged key survives the reload */
	ck_str(jstr(admin_cred(v, "d-two"), "state"), "cooling");
	env_stop(&e);
}
END_TEST

#define RL_V1 OWN_CFG_HEAD \
	" \"providers\": [\n" \
	"  {\"name\": \"prov-a\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"ak\"}],\n" \
	" \"models\": {\"rl-*\": \"prov-a\"}}\n"
#define RL_V2 \
	"{\"listen\": \"127.0.0.1:0\", \"api_keys\": [\"sk-test\", \"sk-v2\"],\n" \
	" \"admin_key\": \"adm-secret\",\n" \
	" \"providers\": [\n" \
	"  {\"name\": \"prov-b\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"bk\"}],\n" \
	" \"models\": {\"rl-*\": \"prov-b\", \"v2only-*\": \"prov-b\"}}\n"

/* One client of the reload test: n slow streams in a row, each checked
 * whole. Exit status: 0, or the number of the stream that failed. */
static int
rl_client(int port, int id, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct client c;
		struct resp r;
		char *m = strf("rl-slow-%d-%d", id, i);

		client_open(&c, port);
		client_send(&c, cf_req(i % 2 ? CF_CHAT : CF_ANT, m, 1, NULL,
		    NULL, -1));
		if (read_response(&c, &r, 0, 20000 * scale) < 0 ||
		    r.status != 200 || !r.complete ||
		    (i % 2 ? strstr(r.body, "[DONE]") == NULL :
		    strstr(r.body, "event: message_stop") == NULL) ||
		    strstr(r.body, "error") != NULL) {
			fprintf(stderr, "reload client %d stream %d: %d %s\n",
			    id, i, r.status, r.body);
			return i + 1;
		}
		client_close(&c);
	}
	return 0;
}

/*
 * A reload under load: clients keep slow streams running while the
 * config is rewritten (the provider they started on removed, then back)
 * and SIGHUP is sent, several times. Every stream completes; after each
 * reload new requests see the new routes and the new client keys.
 */
START_TEST(t_gw_reload_under_load)
{
	struct env e;
	pid_t kids[6];
	struct resp r;
	int i, st, reloads = 0;
	char *log;

	gw_env(&e, RL_V1);
	for (i = 0; i < 6; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0)
			_exit(rl_client(e.port, i, 3));
	}
	sleep_ms(300);
	for (i = 0; i < 6; i++) {
		int v2 = i % 2 == 0;
		gw_config_write(&e, v2 ? RL_V2 : RL_V1);
		ck_assert_int_eq(kill(e.proxy->pid, SIGHUP), 0);
		reloads++;
		ck_assert_msg(gw_wait_log(&e, "SIGHUP: reloaded", reloads, 3000),
		    "reload %d not logged", reloads);
		cf_do(e.port, CF_CHAT, strf("v2only-%d", i), 0, NULL, NULL, &r);
		if (v2) {
			expect_status(&r, 200);
			ck_str(mock_creds(&e, strf("v2only-%d", i)), "bk");
		} else {
			cf_error(CF_CHAT, &r, 404);
		}
		cf_do(e.port, CF_ANT, strf("rl-key-%d", i), 0, "sk-v2", NULL, &r);
		expect_status(&r, v2 ? 200 : 401);
		cf_do(e.port, CF_ANT, strf("rl-new-%d", i), 0, NULL, NULL, &r);
		expect_status(&r, 200);
		ck_str(mock_creds(&e, strf("rl-new-%d", i)), v2 ? "bk" : "ak");
		sleep_ms(400);
	}
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "reload client %d failed (status %d)", i, st);
	}
	log = gw_log(&e);
	ck_assert_int_eq(gw_count(log, " status=200 "), 6 * 3 + 6 + 3 + 3);
	ck_assert_int_eq(gw_count(log, " cut=1"), 0);
	ck_assert_msg(strstr(log, "providers") != NULL, "no diff logged");
	env_stop(&e);
}
END_TEST

/* A changed config file is picked up without a signal. */
START_TEST(t_gw_file_change)
{
	struct env e;
	struct resp r;
	long long end;

	gw_env(&e, RL_V1);
	cf_do(e.port, CF_CHAT, "v2only-x", 0, NULL, NULL, &r);
	cf_error(CF_CHAT, &r, 404);
	sleep_ms(1100);          /* a new mtime even on coarse clocks */
	gw_config_write(&e, RL_V2);
	end = mono_ms() + 5000LL * scale;
	for (;;) {
		cf_do(e.port, CF_CHAT, "v2only-x", 0, NULL, NULL, &r);
		if (r.status == 200 || mono_ms() > end)
			break;
		sleep_ms(50);
	}
	expect_status(&r, 200);
	ck_assert(gw_wait_log(&e, "config file changed: reloaded", 1, 1000));
	/* written in place (same inode), too */
	{
		char *cfg = cfg_subst(&e, RL_V1);
		FILE *f = fopen(e.cfg, "w");
		ck_assert_ptr_nonnull(f);
		fputs(cfg, f);
		fclose(f);
	}
	end = mono_ms() + 5000LL * scale;
	for (;;) {
		cf_do(e.port, CF_CHAT, "v2only-y", 0, NULL, NULL, &r);
		if (r.status == 404 || mono_ms() > end)
			break;
		sleep_ms(50);
	}
	cf_error(CF_CHAT, &r, 404);
	env_stop(&e);
}
END_TEST

/*
 * A config that does not validate is refused: the errors are logged as
 * file:line: message, and the old config stays in force.
 */
START_TEST(t_gw_broken_reload)
{
	struct env e;
	struct resp r;
	char *log, *want;

	gw_env(&e, RL_V1);
	gw_config_write(&e, OWN_CFG_HEAD
	    " \"providers\": [\n"
	    "  {\"name\": \"prov-b\", \"type\": \"opnai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\"}],\n"
	    " \"models\": {\"rl-*\": \"prov-b\", \"v2only-*\": \"prov-b\"},\n"
	    " \"retry\": {\"max_attempts\": 99}}\n");
	ck_assert_int_eq(kill(e.proxy->pid, SIGHUP), 0);
	ck_assert(gw_wait_log(&e, "the old configuration stays in force", 1,
	    3000));
	log = gw_log(&e);
	want = strf("%s:4: provider \"prov-b\": unknown type \"opnai\"", e.cfg);
	ck_assert_msg(strstr(log, want) != NULL, "no '%s' in:\n%s", want, log);
	ck_assert_msg(strstr(log, strf("%s:6: ", e.cfg)) != NULL,
	    "the second error (line 6) not logged:\n%s", log);
	ck_assert_msg(strstr(log, "SIGHUP: reloaded") == NULL, "%s", log);
	cf_do(e.port, CF_ANT, "rl-still", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	ck_str(mock_creds(&e, "rl-still"), "ak");
	cf_do(e.port, CF_CHAT, "v2only-x", 0, NULL, NULL, &r);
	cf_error(CF_CHAT, &r, 404);
	/* fixed: taken */
	gw_config_write(&e, RL_V2);
	ck_assert_int_eq(kill(e.proxy->pid, SIGHUP), 0);
	ck_assert(gw_wait_log(&e, "SIGHUP: reloaded", 1, 3000));
	cf_do(e.port, CF_CHAT, "v2only-x", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	env_stop(&e);
}
END_TEST

/*
 * Active health checks: a provider whose check fails is down before any
 * client meets it (requests go straight to the next target, one
 * attempt), and comes back once its check passes again (the failing
 * checks ask for 30 s: only a passing check ends that early).
 */
START_TEST(t_gw_health_check)
{
	struct env e;
	struct resp r;
	long long end;
	char *v;

	gw_env(&e, OWN_CFG_HEAD
	    " \"providers\": [\n"
	    "  {\"name\": \"prov-h\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"hk\",\n"
	    "   \"health_check\": {\"interval_s\": 1, \"model\": \"probe-failfirst=3-ra=30\"}},\n"
	    "  {\"name\": \"prov-i\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"ik\"}],\n"
	    " \"models\": {\"h-*\": [\"prov-h\", \"prov-i\"]}}\n");
	/* the first check fails at once */
	end = mono_ms() + 3000LL * scale;
	for (;;) {
		v = admin_providers(&e);
		if (strcmp(jstr(admin_prov(v, "prov-h"), "state"), "down") == 0 ||
		    mono_ms() > end)
			break;
		sleep_ms(20);
	}
	ck_assert_msg(strcmp(jstr(admin_prov(v, "prov-h"), "state"), "down")
	    == 0, "%s", v);
	ck_assert_int_eq(jint(admin_prov(v, "prov-h"), "down.status", 0), 503);
	ck_assert_int_eq(jint(admin_prov(v, "prov-h"),
	    "health_check.interval_s", 0), 1);
	ck_str(jstr(admin_prov(v, "prov-h"), "health_check.model"),
	    "probe-failfirst=3-ra=30");
	cf_do(e.port, CF_CHAT, "h-first", 0, NULL, NULL, &r);
	ck_assert_str_eq(cf_text(CF_CHAT, 0, &r), ant_text(0));
	ck_assert_ptr_null(resp_hdr(&r, "x-llmproxy-attempts"));
	ck_str(mock_creds(&e, "h-first"), "ik");
	ck_assert_msg(strstr(mock_creds(&e, "probe-failfirst=3-ra=30"), "hk") != NULL,
	    "no check was sent");
	/* the fourth check passes: the provider is back */
	end = mono_ms() + 8000LL * scale;
	for (;;) {
		v = admin_providers(&e);
		if (strcmp(jstr(admin_prov(v, "prov-h"), "state"), "ok") == 0 ||
		    mono_ms() > end)
			break;
		sleep_ms(50);
	}
	ck_assert_msg(strcmp(jstr(admin_prov(v, "prov-h"), "state"), "ok") == 0,
	    "%s", v);
	ck_assert_msg(gw_count(mock_creds(&e, "probe-failfirst=3-ra=30"),
	    "hk") >= 4, "checks: %s; %s", mock_creds(&e,
	    "probe-failfirst=3-ra=30"), v);
	cf_do(e.port, CF_CHAT, "h-later", 0, NULL, NULL, &r);
	ck_assert_str_eq(cf_text(CF_CHAT, 0, &r), oai_text(0));
	ck_str(mock_creds(&e, "h-later"), "hk");
	env_stop(&e);
}
END_TEST

#define HC_V1 OWN_CFG_HEAD \
	" \"providers\": [\n" \
	"  {\"name\": \"prov-h\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"hk\",\n" \
	"   \"health_check\": {\"interval_s\": 60, \"model\": \"probe-ok\"}}],\n" \
	" \"models\": {\"h-*\": \"prov-h\"}}\n"
#define HC_V2 OWN_CFG_HEAD \
	" \"providers\": [\n" \
	"  {\"name\": \"prov-h\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"hk\",\n" \
	"   \"health_check\": {\"interval_s\": 60, \"model\": \"probe-ok\"}},\n" \
	"  {\"name\": \"prov-j\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"jk\",\n" \
	"   \"health_check\": {\"interval_s\": 1, \"model\": \"probe-error500\"}}],\n" \
	" \"models\": {\"h-*\": [\"prov-j\", \"prov-h\"]}}\n"

/*
 * A provider (and its check) added by a reload is checked at once, not
 * when the checks of the old config were next due.
 */
START_TEST(t_gw_health_reload)
{
	struct env e;
	struct resp r;
	long long end;
	char *v = NULL;

	gw_env(&e, HC_V1);
	end = mono_ms() + 3000LL * scale;
	while (strcmp(mock_creds(&e, "probe-ok"), "hk") != 0 &&
	    mono_ms() < end)
		sleep_ms(20);
	ck_str(mock_creds(&e, "probe-ok"), "hk");
	gw_config_write(&e, HC_V2);
	ck_assert_int_eq(kill(e.proxy->pid, SIGHUP), 0);
	ck_assert(gw_wait_log(&e, "SIGHUP: reloaded", 1, 3000));
	end = mono_ms() + 3000LL * scale;
	for (;;) {
		v = admin_providers(&e);
		if (strcmp(jstr(admin_prov(v, "prov-j"), "state"), "down") == 0 ||
		    mono_ms() > end)
			break;
		sleep_ms(50);
	}
	ck_assert_msg(strcmp(jstr(admin_prov(v, "prov-j"), "state"), "down")
	    == 0, "the new provider was not checked after the reload: %s", v);
	ck_assert_int_ge(gw_count(mock_creds(&e, "probe-error500"), "jk"), 1);
	cf_do(e.port, CF_CHAT, "h-x", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	ck_str(mock_creds(&e, "h-x"), "hk");
	env_stop(&e);
}
END_TEST

/* see itest.h */
void
it_gateway(Suite *s)
{
	TCase *t;

	t = tc(s, "gateway", 0);
	tcase_add_unchecked_fixture(t, gw_start, gw_stop);
	tcase_add_test(t, t_gw_round_robin);
	tcase_add_test(t, t_gw_fill_first);
	tcase_add_test(t, t_gw_fallback_formats);
	tcase_add_test(t, t_gw_stream_fail_before);
	tcase_add_test(t, t_gw_stream_fail_after);
	tcase_add_test(t, t_gw_timeout_connect);
	tcase_add_test(t, t_gw_all_cooling);
	tcase_add_test(t, t_gw_soonest_retry_after);
	tcase_add_test(t, t_gw_400_not_retried);
	tcase_add_test(t, t_gw_headers);
	tcase_add_test(t, t_gw_azure);

	t = tc(s, "gateway_own", 0);
	tcase_add_test(t, t_gw_admin_disable);
	tcase_add_test(t, t_gw_reload_under_load);
	tcase_add_test(t, t_gw_file_change);
	tcase_add_test(t, t_gw_broken_reload);
	tcase_add_test(t, t_gw_health_check);
	tcase_add_test(t, t_gw_health_reload);
}
