/*
 * test_config.c - config file loading, every error message with its line,
 * route matching, zero-config from the environment, loopback detection and
 * the allow_open refusal.
 *
 * struct px_config is large (hundreds of KB): tests keep it on the heap.
 * Check forks per test, so setenv() in one test does not leak into another;
 * each environment test still starts from clear_env().
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "route.h"
#include "testutil.h"

static char err[1024];

static struct px_config *
cfg_new(void)
{
	struct px_config *c = px_config_new();

	ck_assert_ptr_nonnull(c);
	return c;
}

/* Parse text from guarded memory (an over-read faults). */
static int
parse(struct px_config *c, const char *text)
{
	struct guard g;
	char *p = guard_copy(&g, text, strlen(text));
	int rc;

	err[0] = 0;
	rc = px_config_parse(c, "t.json", p, strlen(text), err, sizeof err);
	guard_free(&g);
	return rc;
}

static void
clear_env(void)
{
	static const char *vars[] = { "OPENAI_API_KEY", "OPENAI_BASE_URL",
	    "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "GEMINI_API_KEY",
	    "GOOGLE_API_KEY", "GEMINI_BASE_URL", "LLMPROXY_API_KEYS",
	    "LLMPROXY_LISTEN", "LLMPROXY_ALLOW_OPEN", NULL };
	int i;

	for (i = 0; vars[i]; i++)
		unsetenv(vars[i]);
}

static const struct px_provider *
prov(const struct px_config *c, const struct px_target *t)
{
	ck_assert_int_ge(t->provider, 0);
	ck_assert_int_lt(t->provider, c->nproviders);
	return &c->providers[t->provider];
}

/* ------------------------------------------------------------ sample */

static const char sample_fmt[] =
"{\n"
"  \"listen\": \"127.0.0.1:8080\",\n"
"  \"api_keys\": [\"sk-local-1\", {\"name\": \"ci\", \"sha256\": \"%s\"}, "
"{\"name\":\"dev\",\"key\":\"sk-dev\"}],\n"
"  \"allow_open\": false,\n"
"  \"providers\": [\n"
"    {\"name\": \"oai\", \"type\": \"openai\",    \"base_url\": \"https://api.openai.com/v1\", \"api_key\": \"env:OPENAI_API_KEY\"},\n"
"    {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": \"https://api.anthropic.com\", \"api_key\": \"env:ANTHROPIC_API_KEY\"},\n"
"    {\"name\": \"gem\", \"type\": \"gemini\", \"base_url\": \"https://generativelanguage.googleapis.com/v1beta\", \"api_key\": \"env:GEMINI_API_KEY\"},\n"
"    {\"name\": \"local\", \"type\": \"openai\",  \"base_url\": \"http://127.0.0.1:11434/v1\"}\n"
"  ],\n"
"  \"models\": {\n"
"    \"gpt-4o\": \"oai\",\n"
"    \"claude-*\": \"ant\",\n"
"    \"fast\": \"ant/claude-haiku-4-5\",\n"
"    \"llama\": \"local/llama3.1:8b\"\n"
"  },\n"
"  \"ca_file\": \"/etc/ssl/certs/ca-certificates.crt\",\n"
"  \"limits\": {\"header_bytes\": 32768, \"body_bytes\": 33554432, \"connections\": 4096},\n"
"  \"timeouts\": {\"header_ms\": 10000, \"idle_ms\": 60000, \"connect_ms\": 10000, \"first_byte_ms\": 300000, \"stream_idle_ms\": 300000, \"drain_ms\": 30000},\n"
"  \"default_max_tokens\": 32000\n"
"}\n";

static void
sample_text(char *buf, size_t cap)
{
	unsigned char d[32];
	char hex[65];
	int i;

	auth_sha256("sk-ci", 5, d);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02X", d[i]);   /* upper case hex */
	snprintf(buf, cap, sample_fmt, hex);
}

static void
sample_env(void)
{
	clear_env();
	setenv("OPENAI_API_KEY", "sk-openai-secret", 1);
	setenv("ANTHROPIC_API_KEY", "sk-ant-secret", 1);
	setenv("GEMINI_API_KEY", "gem-secret", 1);
}

START_TEST(t_sample)
{
	struct px_config *c = cfg_new();
	const struct px_provider *p;
	const struct px_route *r;
	char text[4096], buf[256];

	sample_env();
	sample_text(text, sizeof text);
	ck_assert_msg(parse(c, text) == 0, "%s", err);
	ck_assert_str_eq(c->path, "t.json");
	ck_assert_str_eq(c->listen, "127.0.0.1:8080");
	ck_assert_int_eq(c->allow_open, 0);

	ck_assert_int_eq(c->nkeys, 3);
	ck_assert_str_eq(c->keys[0].name, "key1");
	ck_assert_str_eq(c->keys[1].name, "ci");
	ck_assert_str_eq(c->keys[2].name, "dev");
	ck_assert_ptr_eq(auth_find(c->keys, 3, "sk-local-1", 10), &c->keys[0]);
	ck_assert_ptr_eq(auth_find(c->keys, 3, "sk-ci", 5), &c->keys[1]);
	ck_assert_ptr_eq(auth_find(c->keys, 3, "sk-dev", 6), &c->keys[2]);
	ck_assert_ptr_null(auth_find(c->keys, 3, "sk-nope", 7));

	ck_assert_int_eq(c->nproviders, 4);
	p = &c->providers[0];
	ck_assert_str_eq(p->name, "oai");
	ck_assert_str_eq(p->type, "openai");
	ck_assert_int_eq(p->fmt, PX_FMT_CHAT);
	ck_assert_int_eq(p->tls, 1);
	ck_assert_str_eq(p->host, "api.openai.com");
	ck_assert_str_eq(p->port, "443");
	ck_assert_str_eq(p->base_path, "/v1");
	ck_assert_str_eq(p->base_url, "https://api.openai.com/v1");
	ck_assert_str_eq(p->api_key, "sk-openai-secret");
	p = &c->providers[1];
	ck_assert_str_eq(p->name, "ant");
	ck_assert_int_eq(p->fmt, PX_FMT_ANTHROPIC);
	ck_assert_str_eq(p->host, "api.anthropic.com");
	ck_assert_str_eq(p->base_path, "");
	ck_assert_str_eq(p->api_key, "sk-ant-secret");
	ck_assert_str_eq(p->anthropic_version, "2023-06-01");
	p = &c->providers[2];
	ck_assert_int_eq(p->fmt, PX_FMT_GEMINI);
	ck_assert_str_eq(p->host, "generativelanguage.googleapis.com");
	ck_assert_str_eq(p->base_path, "/v1beta");
	ck_assert_str_eq(p->api_key, "gem-secret");
	p = &c->providers[3];
	ck_assert_str_eq(p->name, "local");
	ck_assert_int_eq(p->tls, 0);
	ck_assert_str_eq(p->host, "127.0.0.1");
	ck_assert_str_eq(p->port, "11434");
	ck_assert_str_eq(p->base_path, "/v1");
	ck_assert_str_eq(p->api_key, "");

	ck_assert_int_eq(c->nroutes, 4);
	r = px_route_find(c, "gpt-4o", 6);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->ntargets, 1);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "oai");
	ck_assert_str_eq(r->targets[0].model, "");
	ck_assert_int_eq(r->line, 12);
	ck_assert_str_eq(px_target_model(&r->targets[0], "gpt-4o", 6, buf,
	    sizeof buf), "gpt-4o");
	r = px_route_find(c, "claude-sonnet-4-5", 17);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "ant");
	ck_assert_str_eq(px_target_model(&r->targets[0], "claude-sonnet-4-5",
	    17, buf, sizeof buf), "claude-sonnet-4-5");
	r = px_route_find(c, "fast", 4);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "ant");
	ck_assert_str_eq(px_target_model(&r->targets[0], "fast", 4, buf,
	    sizeof buf), "claude-haiku-4-5");
	r = px_route_find(c, "llama", 5);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "local");
	ck_assert_str_eq(r->targets[0].model, "llama3.1:8b");
	ck_assert_ptr_null(px_route_find(c, "gpt-4", 5));
	ck_assert_ptr_null(px_route_find(c, "claude", 6));

	ck_assert_str_eq(c->ca_file, "/etc/ssl/certs/ca-certificates.crt");
	ck_assert_uint_eq(c->header_max, 32768);
	ck_assert_uint_eq(c->body_max, 33554432);
	ck_assert_int_eq(c->max_conns, 4096);
	ck_assert_int_eq(c->header_timeout_ms, 10000);
	ck_assert_int_eq(c->idle_timeout_ms, 60000);
	ck_assert_int_eq(c->connect_timeout_ms, 10000);
	ck_assert_int_eq(c->first_byte_timeout_ms, 300000);
	ck_assert_int_eq(c->stream_idle_timeout_ms, 300000);
	ck_assert_int_eq(c->drain_timeout_ms, 30000);
	ck_assert_int_eq(c->default_max_tokens, 32000);
	px_config_free(c);
}
END_TEST

/* px_config_load reads the same file from disk; errors name the path. */
/* Client keys may come from the environment too, with their limits. */
START_TEST(t_client_key_env)
{
	struct px_config *c = cfg_new();

	clear_env();
	setenv("TEAM_KEY", "sk-from-env", 1);
	ck_assert_msg(parse(c, "{\"api_keys\": [\"env:TEAM_KEY\", {\"name\": "
	    "\"ci\", \"key\": \"env:TEAM_KEY\", \"rpm\": 5, \"models\": "
	    "[\"gpt-*\"]}]}") == 0, "%s", err);
	ck_assert_int_eq(c->nkeys, 2);
	ck_assert_ptr_eq(auth_find(c->keys, 1, "sk-from-env", 11), &c->keys[0]);
	ck_assert_ptr_null(auth_find(c->keys, 1, "env:TEAM_KEY", 12));
	ck_assert_int_eq(c->keys[1].lim.rpm, 5);
	ck_assert(auth_model_allowed(&c->keys[1], "gpt-4o", 6));
	ck_assert(!auth_model_allowed(&c->keys[1], "claude-x", 8));
	unsetenv("TEAM_KEY");
	ck_assert_int_eq(parse(c, "{\"api_keys\": [\"env:TEAM_KEY\"]}"), -1);
	ck_assert_msg(strstr(err, "environment variable TEAM_KEY is not set"),
	    "%s", err);
	px_config_free(c);
}
END_TEST

START_TEST(t_load_file)
{
	struct px_config *c = cfg_new();
	char text[4096], path[] = "/tmp/px_test_configXXXXXX", want[1200];
	FILE *f;
	int fd;

	sample_env();
	sample_text(text, sizeof text);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	ck_assert_msg(px_config_load(c, path, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(c->path, path);
	ck_assert_int_eq(c->nproviders, 4);

	unsetenv("GEMINI_API_KEY");
	ck_assert_int_eq(px_config_load(c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:8: provider \"gem\": environment "
	    "variable GEMINI_API_KEY is not set", path);
	ck_assert_str_eq(err, want);
	unlink(path);

	ck_assert_int_eq(px_config_load(c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: No such file or directory", path);
	ck_assert_str_eq(err, want);
	px_config_free(c);
}
END_TEST

START_TEST(t_print)
{
	struct px_config *c = cfg_new();
	char text[4096], *out = NULL;
	size_t outlen = 0;
	FILE *f;

	sample_env();
	sample_text(text, sizeof text);
	ck_assert_msg(parse(c, text) == 0, "%s", err);
	f = open_memstream(&out, &outlen);
	px_config_print(c, f);
	fclose(f);
	ck_assert_str_eq(out,
	    "provider oai type openai base_url https://api.openai.com/v1 key set\n"
	    "provider ant type anthropic base_url https://api.anthropic.com key set\n"
	    "provider gem type gemini base_url "
	    "https://generativelanguage.googleapis.com/v1beta key set\n"
	    "provider local type openai base_url http://127.0.0.1:11434/v1 key none\n"
	    "route gpt-4o -> oai/gpt-4o\n"
	    "route claude-* -> ant/claude-*\n"
	    "route fast -> ant/claude-haiku-4-5\n"
	    "route llama -> local/llama3.1:8b\n");
	ck_assert_ptr_null(strstr(out, "secret"));
	free(out);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ defaults */

START_TEST(t_defaults)
{
	struct px_config *c = cfg_new();

	clear_env();
	ck_assert_msg(parse(c, "{}") == 0, "%s", err);
	ck_assert_str_eq(c->listen, PX_LISTEN_DEFAULT);
	ck_assert_int_eq(c->nkeys, 0);
	ck_assert_int_eq(c->nproviders, 0);
	ck_assert_int_eq(c->nroutes, 0);
	ck_assert_str_eq(c->ca_file, "");
	ck_assert_uint_eq(c->header_max, PX_HEADER_MAX);
	ck_assert_uint_eq(c->body_max, PX_BODY_MAX);
	ck_assert_int_eq(c->max_conns, PX_MAX_CONNS);
	ck_assert_int_eq(c->header_timeout_ms, PX_HEADER_TIMEOUT_MS);
	ck_assert_int_eq(c->idle_timeout_ms, PX_IDLE_TIMEOUT_MS);
	ck_assert_int_eq(c->connect_timeout_ms, PX_CONNECT_TIMEOUT_MS);
	ck_assert_int_eq(c->first_byte_timeout_ms, PX_FIRST_BYTE_TIMEOUT_MS);
	ck_assert_int_eq(c->stream_idle_timeout_ms, PX_STREAM_IDLE_TIMEOUT_MS);
	ck_assert_int_eq(c->drain_timeout_ms, PX_DRAIN_TIMEOUT_MS);
	ck_assert_int_eq(c->default_max_tokens, PX_DEFAULT_MAX_TOKENS);
	ck_assert_ptr_null(px_route_find(c, "gpt-4o", 6));
	px_config_free(c);
}
END_TEST

START_TEST(t_default_base_urls)
{
	struct px_config *c = cfg_new();

	ck_assert_msg(parse(c,
	    "{\"providers\": [\n"
	    " {\"name\": \"o\", \"type\": \"openai\", \"api_key\": \"k\"},\n"
	    " {\"name\": \"r\", \"type\": \"openai-responses\"},\n"
	    " {\"name\": \"a\", \"type\": \"anthropic\", "
	    "\"anthropic_version\": \"2024-01-01\"},\n"
	    " {\"name\": \"g\", \"type\": \"gemini\"}]}") == 0, "%s", err);
	ck_assert_int_eq(c->nproviders, 4);
	ck_assert_str_eq(c->providers[0].base_url, "https://api.openai.com/v1");
	ck_assert_str_eq(c->providers[0].api_key, "k");
	ck_assert_int_eq(c->providers[1].fmt, PX_FMT_RESPONSES);
	ck_assert_str_eq(c->providers[1].type, "openai-responses");
	ck_assert_str_eq(c->providers[1].base_url, "https://api.openai.com/v1");
	ck_assert_str_eq(c->providers[2].base_url, "https://api.anthropic.com");
	ck_assert_str_eq(c->providers[2].anthropic_version, "2024-01-01");
	ck_assert_str_eq(c->providers[3].base_url,
	    "https://generativelanguage.googleapis.com/v1beta");
	ck_assert_str_eq(c->providers[3].host,
	    "generativelanguage.googleapis.com");
	ck_assert_str_eq(c->providers[3].base_path, "/v1beta");
	px_config_free(c);
}
END_TEST

START_TEST(t_comments_trailing_commas)
{
	struct px_config *c = cfg_new();

	ck_assert_msg(parse(c,
	    "// llmproxy config\n"
	    "{\n"
	    "  /* providers */\n"
	    "  \"providers\": [\n"
	    "    {\"name\": \"p\", \"type\": \"openai\",}, // trailing\n"
	    "  ],\n"
	    "  \"models\": {\"m\": \"p/x\", \"n\": [\"p\",],},\n"
	    "  \"api_keys\": [\"k\",],\n"
	    "}\n") == 0, "%s", err);
	ck_assert_int_eq(c->nproviders, 1);
	ck_assert_int_eq(c->nroutes, 2);
	ck_assert_int_eq(c->routes[0].line, 7);
	ck_assert_int_eq(c->nkeys, 1);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ base_url */

static const struct {
	const char *url;
	int tls;
	const char *host, *port, *path, *stored;
	const char *why;      /* non-NULL: expected error reason */
} urls[] = {
	{ "https://api.openai.com/v1", 1, "api.openai.com", "443", "/v1",
	  "https://api.openai.com/v1", NULL },
	{ "https://api.openai.com/v1/", 1, "api.openai.com", "443", "/v1",
	  "https://api.openai.com/v1", NULL },
	{ "https://api.openai.com//", 1, "api.openai.com", "443", "",
	  "https://api.openai.com", NULL },
	{ "HTTPS://Example.COM", 1, "Example.COM", "443", "",
	  "HTTPS://Example.COM", NULL },
	{ "http://localhost", 0, "localhost", "80", "", "http://localhost",
	  NULL },
	{ "http://127.0.0.1:11434/v1", 0, "127.0.0.1", "11434", "/v1",
	  "http://127.0.0.1:11434/v1", NULL },
	{ "https://host:8443/a/b/c/", 1, "host", "8443", "/a/b/c",
	  "https://host:8443/a/b/c", NULL },
	{ "http://[::1]:8000/v1", 0, "::1", "8000", "/v1",
	  "http://[::1]:8000/v1", NULL },
	{ "https://[2001:db8::1]/x", 1, "2001:db8::1", "443", "/x",
	  "https://[2001:db8::1]/x", NULL },
	{ "http://[fe80::1]", 0, "fe80::1", "80", "", "http://[fe80::1]",
	  NULL },
	{ "ftp://x", 0, 0, 0, 0, 0, "scheme must be http:// or https://" },
	{ "api.openai.com/v1", 0, 0, 0, 0, 0,
	  "scheme must be http:// or https://" },
	{ "https://", 0, 0, 0, 0, 0, "missing host" },
	{ "https:///v1", 0, 0, 0, 0, 0, "missing host" },
	{ "https://:443/v1", 0, 0, 0, 0, 0, "missing host" },
	{ "https://h:0", 0, 0, 0, 0, 0, "bad port" },
	{ "https://h:65536", 0, 0, 0, 0, 0, "bad port" },
	{ "https://h:", 0, 0, 0, 0, 0, "bad port" },
	{ "https://h:12a", 0, 0, 0, 0, 0, "bad port" },
	{ "https://h:000443", 0, 0, 0, 0, 0, "bad port" },
	/* errors echo the URL with its user info masked ("stored") */
	{ "https://user:pw@h/v1", 0, 0, 0, 0, "https://user:***@h/v1", "user info (user:password@) "
	  "is not supported; put the key in \"api_key\" or a header in "
	  "\"headers\"" },
	{ "https://tok@h/v1", 0, 0, 0, 0, "https://***@h/v1", "user info (user:password@) "
	  "is not supported; put the key in \"api_key\" or a header in "
	  "\"headers\"" },
	{ "https://h/v1?x=1", 0, 0, 0, 0, 0, "query or fragment not allowed" },
	{ "https://h/v1#f", 0, 0, 0, 0, 0, "query or fragment not allowed" },
	{ "https://h h/v1", 0, 0, 0, 0, 0,
	  "contains spaces or control characters" },
	{ "https://[::1/v1", 0, 0, 0, 0, 0, "unterminated [IPv6 address]" },
	{ "https://[::1]x/v1", 0, 0, 0, 0, 0, "bad port" },
	{ "https://[zz::1]/v1", 0, 0, 0, 0, 0, "bad IPv6 address" },
	{ "https://::1/v1", 0, 0, 0, 0, 0,
	  "IPv6 address must be in [brackets]" },
	{ "https://h%41/v1", 0, 0, 0, 0, 0, "bad host name" },
};

START_TEST(t_base_url)
{
	struct px_config *c = cfg_new();
	char text[1024], want[1024];

	snprintf(text, sizeof text, "{\"providers\": [{\"name\": \"p\", "
	    "\"type\": \"openai\", \"base_url\": \"%s\"}]}", urls[_i].url);
	if (urls[_i].why == NULL) {
		ck_assert_msg(parse(c, text) == 0, "%s: %s", urls[_i].url, err);
		ck_assert_int_eq(c->providers[0].tls, urls[_i].tls);
		ck_assert_str_eq(c->providers[0].host, urls[_i].host);
		ck_assert_str_eq(c->providers[0].port, urls[_i].port);
		ck_assert_str_eq(c->providers[0].base_path, urls[_i].path);
		ck_assert_str_eq(c->providers[0].base_url, urls[_i].stored);
	} else {
		ck_assert_int_eq(parse(c, text), -1);
		snprintf(want, sizeof want, "t.json:1: provider \"p\": bad "
		    "base_url \"%s\": %s", urls[_i].stored ? urls[_i].stored :
		    urls[_i].url, urls[_i].why);
		ck_assert_ptr_null(strstr(err, ":pw@"));
		ck_assert_str_eq(err, want);
	}
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ routes */

static const char routes_cfg[] =
"{\"providers\": [{\"name\": \"p\", \"type\": \"openai\"},\n"
"                 {\"name\": \"q\", \"type\": \"anthropic\"}],\n"
" \"models\": {\n"
"   \"gpt-*\": \"p\",\n"
"   \"*-mini\": \"q\",\n"
"   \"gpt-4o\": \"q/exact\",\n"
"   \"a*b*c\": \"q/abc\",\n"
"   \"hf\": \"p/meta-llama/Llama-3.1-8B:free\",\n"
"   \"chain\": [\"q/claude-x\", \"p/gpt-y\", \"p\"],\n"
"   \"*\": \"p/default\"\n"
" }}";

static const struct {
	const char *model;
	const char *pattern;     /* route expected */
	const char *provider;
	const char *upstream;    /* px_target_model */
} rcases[] = {
	{ "gpt-4o", "gpt-4o", "q", "exact" },          /* exact beats wildcard */
	{ "gpt-4o-mini", "gpt-*", "p", "gpt-4o-mini" }, /* file order */
	{ "gpt-", "gpt-*", "p", "gpt-" },               /* '*' matches empty */
	{ "o3-mini", "*-mini", "q", "o3-mini" },
	{ "-mini", "*-mini", "q", "-mini" },
	{ "abc", "a*b*c", "q", "abc" },
	{ "axxbyyc", "a*b*c", "q", "abc" },
	{ "abcbc", "a*b*c", "q", "abc" },
	{ "abcd", "*", "p", "default" },
	{ "acb", "*", "p", "default" },
	{ "", "*", "p", "default" },
	{ "hf", "hf", "p", "meta-llama/Llama-3.1-8B:free" },
	{ "HF", "*", "p", "default" },                   /* case-sensitive */
	{ "chain", "chain", "q", "claude-x" },
	{ "gpt-4o ", "gpt-*", "p", "gpt-4o " },
};

START_TEST(t_routes)
{
	struct px_config *c = cfg_new();
	const struct px_route *r;
	const char *m = rcases[_i].model;
	char buf[256];

	ck_assert_msg(parse(c, routes_cfg) == 0, "%s", err);
	r = px_route_find(c, m, strlen(m));
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->pattern, rcases[_i].pattern);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, rcases[_i].provider);
	ck_assert_str_eq(px_target_model(&r->targets[0], m, strlen(m), buf,
	    sizeof buf), rcases[_i].upstream);
	px_config_free(c);
}
END_TEST

START_TEST(t_route_chain)
{
	struct px_config *c = cfg_new();
	const struct px_route *r;
	char buf[256];

	ck_assert_msg(parse(c, routes_cfg) == 0, "%s", err);
	ck_assert_int_eq(c->nroutes, 7);
	r = px_route_find(c, "chain", 5);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->ntargets, 3);
	ck_assert_int_eq(r->line, 9);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "q");
	ck_assert_str_eq(r->targets[0].model, "claude-x");
	ck_assert_str_eq(prov(c, &r->targets[1])->name, "p");
	ck_assert_str_eq(r->targets[1].model, "gpt-y");
	ck_assert_str_eq(prov(c, &r->targets[2])->name, "p");
	ck_assert_str_eq(r->targets[2].model, "");
	ck_assert_str_eq(px_target_model(&r->targets[2], "chain", 5, buf,
	    sizeof buf), "chain");
	/* length-delimited: bytes past n are not part of the name */
	r = px_route_find(c, "chainsaw", 5);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->pattern, "chain");
	/* an embedded NUL does not truncate the comparison */
	r = px_route_find(c, "hf\0x", 4);
	ck_assert_str_eq(r->pattern, "*");
	px_config_free(c);
}
END_TEST

/* An OpenAI provider can name models served by the other OpenAI API. */
START_TEST(t_api_models)
{
	struct px_config *c = cfg_new();
	static const char text[] =
	    "{\"providers\": [\n"
	    "  {\"name\": \"oai\", \"type\": \"openai\", \"responses_models\": [\"o3-pro\", \"gpt-5*-codex\"]},\n"
	    "  {\"name\": \"rsp\", \"type\": \"openai-responses\", \"chat_models\": [\"gpt-4o*\"]},\n"
	    "  {\"name\": \"ant\", \"type\": \"anthropic\"}]}";
	const struct px_provider *oai, *rsp, *ant;
	char buf[1024];
	FILE *f;
	size_t n;

	ck_assert_msg(parse(c, text) == 0, "%s", err);
	oai = &c->providers[0];
	rsp = &c->providers[1];
	ant = &c->providers[2];
	ck_assert_int_eq(oai->napi_models, 2);
	ck_assert_int_eq(px_provider_fmt(oai, "o3-pro"), PX_FMT_RESPONSES);
	ck_assert_int_eq(px_provider_fmt(oai, "gpt-5.1-codex"), PX_FMT_RESPONSES);
	ck_assert_int_eq(px_provider_fmt(oai, "o3-pro-2025"), PX_FMT_CHAT);
	ck_assert_int_eq(px_provider_fmt(oai, "gpt-5.1"), PX_FMT_CHAT);
	ck_assert_int_eq(px_provider_fmt(rsp, "gpt-4o-mini"), PX_FMT_CHAT);
	ck_assert_int_eq(px_provider_fmt(rsp, "gpt-5"), PX_FMT_RESPONSES);
	ck_assert_int_eq(px_provider_fmt(ant, "gpt-4o"), PX_FMT_ANTHROPIC);
	f = fmemopen(buf, sizeof buf, "w");
	px_config_print(c, f);
	n = (size_t)ftell(f);
	fclose(f);
	buf[n < sizeof buf ? n : sizeof buf - 1] = 0;
	ck_assert_msg(strstr(buf, "provider oai uses /responses for o3-pro\n"
	    "provider oai uses /responses for gpt-5*-codex\n"), "%s", buf);
	ck_assert_msg(strstr(buf, "provider rsp uses /chat/completions for gpt-4o*\n"), "%s", buf);
	px_config_free(c);
}
END_TEST

START_TEST(t_route_none)
{
	struct px_config *c = cfg_new();

	ck_assert_msg(parse(c, "{\"providers\": [{\"name\": \"p\", \"type\": "
	    "\"openai\"}], \"models\": {\"a\": \"p\", \"b*\": \"p\", "
	    "\"*x*y*\": \"p\"}}") == 0, "%s", err);
	ck_assert_ptr_null(px_route_find(c, "c", 1));
	ck_assert_ptr_null(px_route_find(c, "", 0));
	ck_assert_ptr_null(px_route_find(c, "ab", 2));
	ck_assert_ptr_null(px_route_find(c, "yx", 2));
	ck_assert_ptr_nonnull(px_route_find(c, "xy", 2));
	ck_assert_ptr_nonnull(px_route_find(c, "1x2y3", 5));
	ck_assert_ptr_nonnull(px_route_find(c, "b", 1));
	ck_assert_ptr_null(px_route_find(c, NULL, 0));
	px_config_free(c);
}
END_TEST

START_TEST(t_target_model_cap)
{
	struct px_target t;
	char buf[8], big[15];

	memset(&t, 0, sizeof t);
	ck_assert_str_eq(px_target_model(&t, "abcdefg", 7, buf, sizeof buf),
	    "abcdefg");
	ck_assert_ptr_null(px_target_model(&t, "abcdefgh", 8, buf, sizeof buf));
	t.model = "upstream-model";
	ck_assert_ptr_null(px_target_model(&t, "a", 1, buf, sizeof buf));
	ck_assert_str_eq(px_target_model(&t, "abc", 3, big, sizeof big),
	    "upstream-model");
}
END_TEST

/* ------------------------------------------------------------ errors */

#define P1 "{\"providers\": [{\"name\": \"p\", \"type\": \"openai\"}],\n"

static const struct {
	const char *text;
	const char *msg;
} ecases[] = {
	/* document shape */
	{ "[1]", "t.json:1: the config must be a JSON object" },
	{ "{\"listen\": \"127.0.0.1:8080\",\n \"lisen\": \"x\"}",
	  "t.json:2: unknown key \"lisen\"" },
	{ "{\"listen\": \"127.0.0.1:1\",\n\n \"listen\": \"127.0.0.1:2\"}",
	  "t.json:3: duplicate key \"listen\"" },
	/* top-level values */
	{ "{\n\"listen\": 8080}", "t.json:2: \"listen\" must be a string" },
	{ "{\"listen\": \"127.0.0.1\"}", "t.json:1: \"listen\": listen address "
	  "\"127.0.0.1\": missing port (use HOST:PORT, :PORT for all interfaces "
	  "or PORT for 127.0.0.1)" },
	{ "{\"listen\": \"::1:8080\"}", "t.json:1: \"listen\": listen address "
	  "\"::1:8080\": IPv6 addresses need brackets, e.g. [::1]:8080" },
	{ "{\"listen\": \"127.0.0.1:99999\"}", "t.json:1: \"listen\": listen "
	  "address \"127.0.0.1:99999\": bad port (a number from 0 to 65535)" },
	{ "{\"allow_open\": \"yes\"}",
	  "t.json:1: \"allow_open\" must be true or false" },
	{ "{\"verbose\": 1}", "t.json:1: \"verbose\" must be true or false" },
	{ "{\"ca_file\": null}", "t.json:1: \"ca_file\" must be a string" },
	{ "{\"default_max_tokens\": 0}",
	  "t.json:1: \"default_max_tokens\" must be a positive integer" },
	{ "{\"default_max_tokens\": 1.5}",
	  "t.json:1: \"default_max_tokens\" must be a positive integer" },
	{ "{\"limits\": []}", "t.json:1: \"limits\" must be an object" },
	{ "{\"limits\": {\n\"header\": 1}}",
	  "t.json:2: unknown key \"header\" in \"limits\"" },
	{ "{\"limits\": {\"header_bytes\": -1}}",
	  "t.json:1: \"limits.header_bytes\" must be a positive integer" },
	{ "{\"limits\": {\"body_bytes\": \"1M\"}}",
	  "t.json:1: \"limits.body_bytes\" must be a positive integer" },
	{ "{\"limits\": {\"connections\": 3000000000}}",
	  "t.json:1: \"limits.connections\" must be a positive integer" },
	{ "{\"timeouts\": 5}", "t.json:1: \"timeouts\" must be an object" },
	{ "{\"timeouts\": {\"idle\": 5}}",
	  "t.json:1: unknown key \"idle\" in \"timeouts\"" },
	{ "{\"timeouts\": {\"idle_ms\": 0}}",
	  "t.json:1: \"timeouts.idle_ms\" must be a positive integer" },
	{ "{\"timeouts\": {\"drain_ms\": true}}",
	  "t.json:1: \"timeouts.drain_ms\" must be a positive integer" },
	/* providers */
	{ "{\"providers\": {}}", "t.json:1: \"providers\" must be an array" },
	{ "{\"providers\": [\n\"oai\"]}",
	  "t.json:2: each provider must be an object" },
	{ "{\"providers\": [\n{\"type\": \"openai\"}]}",
	  "t.json:2: provider needs a \"name\"" },
	{ "{\"providers\": [{\"name\": 1, \"type\": \"openai\"}]}",
	  "t.json:1: provider: \"name\" must be a string" },
	{ "{\"providers\": [{\"name\": \"a/b\", \"type\": \"openai\"}]}",
	  "t.json:1: bad provider name \"a/b\" (must be non-empty, without "
	  "'/', '*' or spaces)" },
	{ "{\"providers\": [{\"name\": \"\", \"type\": \"openai\"}]}",
	  "t.json:1: bad provider name \"\" (must be non-empty, without "
	  "'/', '*' or spaces)" },
	{ "{\"providers\": [\n{\"name\": \"a\", \"type\": \"openai\"},\n"
	  "{\"name\": \"a\", \"type\": \"anthropic\"}]}",
	  "t.json:3: duplicate provider name \"a\"" },
	{ "{\"providers\": [{\"name\": \"a\"}]}",
	  "t.json:1: provider \"a\": missing \"type\" (openai, "
	  "openai-responses, anthropic, gemini, azure, exec, claude-account, "
	  "codex-account, gemini-account or copilot-account)" },
	{ "{\"providers\": [{\"name\": \"a\",\n \"type\": \"opnai\"}]}",
	  "t.json:2: provider \"a\": unknown type \"opnai\" (expected openai, "
	  "openai-responses, anthropic, gemini, azure, exec, claude-account, "
	  "codex-account, gemini-account or copilot-account)" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"exec\"}]}",
	  "t.json:1: provider \"a\": type exec needs a \"command\" (e.g. "
	  "[\"claude\", \"-p\", \"--output-format\", \"stream-json\", "
	  "\"--input-format\", \"stream-json\", \"--verbose\", \"--model\", "
	  "\"{model}\"])" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"exec\",\n"
	  " \"command\": []}]}",
	  "t.json:2: provider \"a\": \"command\" must be a list of 1 to 64 "
	  "strings (the program, then its arguments)" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"exec\",\n"
	  " \"command\": [\"{model}-cli\"]}]}",
	  "t.json:2: provider \"a\": \"command\": the program cannot depend "
	  "on the model (\"{model}\" goes in an argument)" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"exec\",\n"
	  " \"command\": [\"x\"],\n \"base_url\": \"https://x\"}]}",
	  "t.json:3: provider \"a\": \"base_url\" does not apply to type exec "
	  "(a command, not an HTTP API)" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"openai\",\n"
	  " \"timeout_ms\": 5}]}",
	  "t.json:2: provider \"a\": \"timeout_ms\" applies to type exec only" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"exec\",\n"
	  " \"command\": [\"x\"], \"max_parallel\": -1}]}",
	  "t.json:2: provider \"a\": \"max_parallel\" must be an integer "
	  "from 0 (no limit) to 1024" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"exec\",\n"
	  " \"command\": [\"x\"], \"env\": {\"1A\": \"v\"}}]}",
	  "t.json:2: provider \"a\": \"env\": bad variable name \"1A\"" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"exec\",\n"
	  " \"command\": [\"x\"], \"cwd\": \"/nonexistent-px\"}]}",
	  "t.json:2: provider \"a\": \"cwd\" /nonexistent-px is not a "
	  "directory" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"openai\",\n"
	  " \"baseurl\": \"https://x\"}]}",
	  "t.json:2: unknown key \"baseurl\" in provider \"a\"" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"openai\",\n"
	  " \"base_url\": \"ftp://x\"}]}",
	  "t.json:2: provider \"a\": bad base_url \"ftp://x\": scheme must be "
	  "http:// or https://" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"openai\",\n"
	  " \"base_url\": []}]}",
	  "t.json:2: provider \"a\": \"base_url\" must be a string" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"openai\",\n\n"
	  " \"api_key\": \"env:PX_TEST_UNSET_VAR\"}]}",
	  "t.json:3: provider \"a\": environment variable PX_TEST_UNSET_VAR "
	  "is not set" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"openai\",\n"
	  " \"api_key\": \"env:PX_TEST_EMPTY_VAR\"}]}",
	  "t.json:2: provider \"a\": environment variable PX_TEST_EMPTY_VAR "
	  "is not set" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"openai\",\n"
	  " \"api_key\": \"env:PX_TEST_NL_VAR\"}]}",
	  "t.json:2: provider \"a\": environment variable PX_TEST_NL_VAR "
	  "contains control characters" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"openai\",\n"
	  " \"api_key\": \"env:\"}]}",
	  "t.json:2: provider \"a\": \"api_key\": \"env:\" needs a variable "
	  "name" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"openai\",\n"
	  " \"api_key\": \"sk-\\r\\nX-Evil: 1\"}]}",
	  "t.json:2: provider \"a\": \"api_key\" contains control characters" },
	{ "{\"providers\": [{\"name\": \"a\", \"type\": \"anthropic\",\n"
	  " \"anthropic_version\": \"2023-06-01-this-is-far-too-long-x\"}]}",
	  "t.json:2: provider \"a\": \"anthropic_version\" is too long (max 31 "
	  "bytes)" },
	/* models */
	{ P1 "\"models\": [\"p\"]}",
	  "t.json:2: \"models\" must be an object ({\"model\": "
	  "\"provider[/upstream-model]\"})" },
	{ P1 "\"models\": {\n\"m\": \"b\"}}",
	  "t.json:3: model \"m\": unknown provider \"b\"" },
	{ P1 "\"models\": {\"m\": \"b/x\"}}",
	  "t.json:2: model \"m\": unknown provider \"b\"" },
	{ P1 "\"models\": {\"m\": \"p/\"}}",
	  "t.json:2: model \"m\": empty upstream model after \"p/\"" },
	{ P1 "\"models\": {\"m\": \"\"}}",
	  "t.json:2: model \"m\": target must be \"provider\" or "
	  "\"provider/model\"" },
	{ P1 "\"models\": {\"m\": 5}}",
	  "t.json:2: model \"m\": target must be \"provider\" or "
	  "\"provider/model\"" },
	{ P1 "\"models\": {\"m\": {\"provider\": \"p\"}}}",
	  "t.json:2: unknown key \"provider\" in model \"m\"\n"
	  "t.json:2: model \"m\": needs \"target\" or \"targets\"" },
	{ P1 "\"models\": {\"m\": [\"p\",\n null]}}",
	  "t.json:3: model \"m\": target must be \"provider\" or "
	  "\"provider/model\"" },
	{ P1 "\"models\": {\"m\": [\"p\",\n \"z/y\"]}}",
	  "t.json:3: model \"m\": unknown provider \"z\"" },
	{ P1 "\"models\": {\"m\": []}}",
	  "t.json:2: model \"m\": empty target list" },
	{ P1 "\"models\": {\"m\": [\"p\",\"p\",\"p\",\"p\",\"p\",\"p\",\"p\","
	  "\"p\",\n\"p\"]}}",
	  "t.json:3: model \"m\": too many targets (max 8)" },
	{ P1 "\"models\": {\"m\": \"p\",\n\"m\": \"p\"}}",
	  "t.json:3: duplicate model \"m\"" },
	{ P1 "\"models\": {\"\": \"p\"}}", "t.json:2: bad model name \"\"" },
	{ "{\"models\": {\"m\": \"p\"},\n \"providers\": [{\"name\": \"q\", "
	  "\"type\": \"openai\"}]}",
	  "t.json:1: model \"m\": unknown provider \"p\"" },
	/* api_keys */
	{ "{\"api_keys\": \"k\"}", "t.json:1: \"api_keys\" must be an array" },
	{ "{\"api_keys\": [\"a\",\n 7]}",
	  "t.json:2: api_keys[1]: must be a string or {\"name\", \"sha256\" or "
	  "\"key\"}" },
	{ "{\"api_keys\": [\"\"]}", "t.json:1: api_keys[0]: empty key" },
	{ "{\"api_keys\": [{\"key\": \"k\"}]}",
	  "t.json:1: api_keys[0]: missing \"name\"" },
	{ "{\"api_keys\": [{\"name\": \"\", \"key\": \"k\"}]}",
	  "t.json:1: api_keys[0]: \"name\" is empty" },
	{ "{\"api_keys\": [{\"name\": \"n\"}]}",
	  "t.json:1: api key \"n\": needs exactly one of \"sha256\" or \"key\"" },
	{ "{\"api_keys\": [{\"name\": \"n\", \"key\": \"k\", \"sha256\": "
	  "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\""
	  "}]}",
	  "t.json:1: api key \"n\": needs exactly one of \"sha256\" or \"key\"" },
	{ "{\"api_keys\": [{\"name\": \"n\",\n \"sha256\": \"abc\"}]}",
	  "t.json:2: api key \"n\": \"sha256\" must be 64 hex digits" },
	{ "{\"api_keys\": [{\"name\": \"n\", \"sha256\": "
	  "\"za7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\""
	  "}]}",
	  "t.json:1: api key \"n\": \"sha256\" must be 64 hex digits" },
	{ "{\"api_keys\": [{\"name\": \"n\", \"key\": \"\"}]}",
	  "t.json:1: api key \"n\": \"key\" is empty" },
	{ "{\"api_keys\": [{\"name\": \"n\", \"key\": 1}]}",
	  "t.json:1: api key \"n\": \"key\" must be a string" },
	{ "{\"api_keys\": [{\"name\": \"n\", \"hash\": \"x\"}]}",
	  "t.json:1: unknown key \"hash\" in api_keys entry" },
	{ "{\"api_keys\": [{\"name\": \"n\", \"key\": \"a\"},\n"
	  " {\"name\": \"n\", \"key\": \"b\"}]}",
	  "t.json:2: duplicate api key name \"n\"" },
	{ "{\"api_keys\": [\"a\", {\"name\": \"key1\", \"key\": \"b\"}]}",
	  "t.json:1: duplicate api key name \"key1\"" },
	{ "{\"api_keys\": [{\"name\": "
	  "\"0123456789012345678901234567890123456789012345678901234567890123\","
	  " \"key\": \"b\"}]}",
	  "t.json:1: api_keys[0]: \"name\" is too long (max 63 bytes)" },
	/* per-model OpenAI API */
	{ "{\"providers\": [{\"name\": \"p\", \"type\": \"openai\",\n"
	  " \"chat_models\": [\"x\"]}]}",
	  "t.json:2: provider \"p\": \"chat_models\" does not apply to type "
	  "openai (it is the default API)" },
	{ "{\"providers\": [{\"name\": \"p\", \"type\": \"anthropic\",\n"
	  " \"responses_models\": [\"x\"]}]}",
	  "t.json:2: provider \"p\": \"responses_models\" does not apply to "
	  "type anthropic (only OpenAI providers have two APIs)" },
	{ "{\"providers\": [{\"name\": \"p\", \"type\": \"openai\", "
	  "\"responses_models\": \"x\"}]}",
	  "t.json:1: provider \"p\": \"responses_models\" must be a list of "
	  "model names" },
	{ "{\"providers\": [{\"name\": \"p\", \"type\": \"openai-responses\", "
	  "\"chat_models\": [\"a\", \"\"]}]}",
	  "t.json:1: provider \"p\": \"chat_models\": each entry must be a "
	  "non-empty string" },
	/* open proxy refusal */
	{ "{\n\"listen\": \"0.0.0.0:8080\"}",
	  "t.json:2: refusing to listen on 0.0.0.0:8080 without api_keys; "
	  "add api_keys or set \"allow_open\": true" },
	{ "{\"listen\": \"[::]:8080\", \"api_keys\": [], \"allow_open\": false}",
	  "t.json:1: refusing to listen on [::]:8080 without api_keys; "
	  "add api_keys or set \"allow_open\": true" },
};

START_TEST(t_errors)
{
	struct px_config *c = cfg_new();

	unsetenv("PX_TEST_UNSET_VAR");
	setenv("PX_TEST_EMPTY_VAR", "", 1);
	setenv("PX_TEST_NL_VAR", "sk-x\n", 1);
	ck_assert_int_eq(parse(c, ecases[_i].text), -1);
	ck_assert_str_eq(err, ecases[_i].msg);
	px_config_free(c);
}
END_TEST

/* Syntax errors carry the line where the parser stopped. */
static const struct {
	const char *text;
	const char *prefix;
} jcases[] = {
	{ "{\"listen\": }", "t.json:1: invalid JSON: " },
	{ "{\n\"a\": 1,\n\"b\" 2}", "t.json:3: invalid JSON: " },
	{ "{\n\"a\": 1\n", "t.json:3: invalid JSON: " },
	{ "", "t.json:1: invalid JSON: " },
	{ "{} {}", "t.json:1: invalid JSON: " },
	{ "{\"a\": \"\xff\"}", "t.json:1: invalid JSON: " },
};

START_TEST(t_json_errors)
{
	struct px_config *c = cfg_new();
	size_t n = strlen(jcases[_i].prefix);

	ck_assert_int_eq(parse(c, jcases[_i].text), -1);
	ck_assert_msg(strncmp(err, jcases[_i].prefix, n) == 0 && err[n] != 0,
	    "got \"%s\"", err);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ responses_store */

START_TEST(t_rstore)
{
	struct px_config *c = cfg_new();

	clear_env();
	ck_assert_msg(parse(c, "{}") == 0, "%s", err);
	ck_assert_uint_eq(c->rstore_max_bytes, PX_RSTORE_MAX_BYTES);
	ck_assert_uint_eq(c->rstore_max_entries, PX_RSTORE_MAX_ENTRIES);
	ck_assert_int_eq(c->rstore_ttl_s, PX_RSTORE_TTL_S);
	ck_assert_str_eq(c->rstore_dir, "");
	ck_assert_msg(parse(c, "{\"responses_store\": {\"max_bytes\": 1048576,"
	    " \"max_entries\": 10, \"ttl_seconds\": 60,"
	    " \"dir\": \"/var/lib/llmproxy\"}}") == 0, "%s", err);
	ck_assert_uint_eq(c->rstore_max_bytes, 1048576);
	ck_assert_uint_eq(c->rstore_max_entries, 10);
	ck_assert_int_eq(c->rstore_ttl_s, 60);
	ck_assert_str_eq(c->rstore_dir, "/var/lib/llmproxy");
	/* 0 turns the store off; the other keys keep their defaults */
	ck_assert_msg(parse(c, "{\"responses_store\": {\"max_bytes\": 0}}") == 0,
	    "%s", err);
	ck_assert_uint_eq(c->rstore_max_bytes, 0);
	ck_assert_uint_eq(c->rstore_max_entries, PX_RSTORE_MAX_ENTRIES);
	px_config_free(c);
}
END_TEST

static const struct {
	const char *text;
	const char *msg;
} rscases[] = {
	{ "{\"responses_store\": true}",
	  "t.json:1: \"responses_store\" must be an object" },
	{ "{\"responses_store\": {\n\"ttl\": 5}}",
	  "t.json:2: unknown key \"ttl\" in \"responses_store\"" },
	{ "{\"responses_store\": {\"max_bytes\": -1}}",
	  "t.json:1: \"responses_store.max_bytes\" must be a non-negative "
	  "integer" },
	{ "{\"responses_store\": {\"max_bytes\": \"16M\"}}",
	  "t.json:1: \"responses_store.max_bytes\" must be a non-negative "
	  "integer" },
	{ "{\"responses_store\": {\"max_entries\": 0}}",
	  "t.json:1: \"responses_store.max_entries\" must be a positive "
	  "integer" },
	{ "{\"responses_store\": {\"ttl_seconds\": 0}}",
	  "t.json:1: \"responses_store.ttl_seconds\" must be a positive "
	  "integer" },
	{ "{\"responses_store\": {\"ttl_seconds\": 40000000}}",
	  "t.json:1: \"responses_store.ttl_seconds\" must be a positive "
	  "integer" },
	{ "{\"responses_store\": {\"dir\": 5}}",
	  "t.json:1: \"responses_store.dir\" must be a string" },
	{ "{\"responses_store\": {\"dir\": \"\"}}",
	  "t.json:1: \"responses_store.dir\" must not be empty (leave it out "
	  "for a memory-only store)" },
	{ "{\"responses_store\": {\"max_entries\": 1, \"max_entries\": 2}}",
	  "t.json:1: duplicate key \"max_entries\" in \"responses_store\"" },
};

START_TEST(t_rstore_errors)
{
	struct px_config *c = cfg_new();

	ck_assert_int_eq(parse(c, rscases[_i].text), -1);
	ck_assert_str_eq(err, rscases[_i].msg);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ sessions */

START_TEST(t_sessions_cfg)
{
	struct px_config *c = cfg_new();

	clear_env();
	ck_assert_msg(parse(c, "{}") == 0, "%s", err);
	ck_assert_uint_eq(c->ses_max_bytes, 0);          /* off */
	ck_assert_msg(parse(c, "{\"sessions\": {}}") == 0, "%s", err);
	ck_assert_uint_eq(c->ses_max_bytes, PX_SES_CFG_MAX_BYTES);
	ck_assert_uint_eq(c->ses_max_entries, 10000);
	ck_assert_uint_eq(c->ses_max_turns, 200);
	ck_assert_int_eq(c->ses_ttl_s, 86400);
	ck_assert_int_eq(c->ses_persist, 0);
	ck_assert_msg(parse(c, "{\"sessions\": {\"max_bytes\": 1000, "
	    "\"max_entries\": 5, \"max_turns\": 3, \"ttl_seconds\": 60, "
	    "\"persist\": true}}") == 0, "%s", err);
	ck_assert_uint_eq(c->ses_max_bytes, 1000);
	ck_assert_uint_eq(c->ses_max_entries, 5);
	ck_assert_uint_eq(c->ses_max_turns, 3);
	ck_assert_int_eq(c->ses_ttl_s, 60);
	ck_assert_int_eq(c->ses_persist, 1);
	ck_assert_int_eq(parse(c, "{\"sessions\": {\"turns\": 3}}"), -1);
	ck_assert_str_eq(err, "t.json:1: unknown key \"turns\" in \"sessions\"");
	ck_assert_int_eq(parse(c, "{\"sessions\": {\"persist\": 1}}"), -1);
	ck_assert_str_eq(err, "t.json:1: \"sessions.persist\" must be true or "
	    "false");
	ck_assert_int_eq(parse(c, "{\"sessions\": {\"max_turns\": 0}}"), -1);
	ck_assert_int_eq(parse(c, "{\"sessions\": true}"), -1);
	ck_assert_str_eq(err, "t.json:1: \"sessions\" must be an object");
	px_config_free(c);
}
END_TEST

static char *
cat_cfg(const char *a, const char *b)
{
	static char buf[2048];

	snprintf(buf, sizeof buf, "{%s, \"cache\": %s}", a, b);
	return buf;
}

START_TEST(t_cache_cfg)
{
	struct px_config *c = cfg_new();
	static const char prov[] = "\"providers\": [{\"name\": \"o\", "
	    "\"type\": \"openai\", \"base_url\": \"http://127.0.0.1:9/v1\", "
	    "\"api_key\": \"k\"}], \"models\": {\"gpt-*\": \"o\", "
	    "\"docs\": \"o\"}";

	clear_env();
	ck_assert_msg(parse(c, "{}") == 0, "%s", err);
	ck_assert_uint_eq(c->cache_max_bytes, 0);          /* off */
	ck_assert_msg(parse(c, cat_cfg(prov, "{\"routes\": [\"gpt-*\"], "
	    "\"shared\": [\"docs\"], \"ttl_seconds\": 60}")) == 0, "%s",
	    err);
	ck_assert_uint_eq(c->cache_max_bytes, 64u * 1024 * 1024);
	ck_assert_int_eq(c->cache_ttl_s, 60);
	ck_assert_int_eq(c->ncache_routes, 1);
	ck_assert_str_eq(c->cache_routes[0], "gpt-*");
	ck_assert_int_eq(c->ncache_shared, 1);
	ck_assert_str_eq(c->cache_shared[0], "docs");
	ck_assert_int_eq(parse(c, cat_cfg(prov, "{\"routes\": [\"gpt-4\"]}")), -1);
	ck_assert_str_eq(err, "t.json:1: \"cache.routes\": no route \"gpt-4\" "
	    "in \"models\"");
	ck_assert_int_eq(parse(c, cat_cfg(prov, "{\"shared\": 1}")), -1);
	ck_assert_str_eq(err, "t.json:1: \"cache.shared\" must be an array of "
	    "route patterns");
	ck_assert_int_eq(parse(c, "{\"cache\": {\"ttl\": 1}}"), -1);
	ck_assert_str_eq(err, "t.json:1: unknown key \"ttl\" in \"cache\"");
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ allow_open */

START_TEST(t_allow_open)
{
	struct px_config *c = cfg_new();

	ck_assert_msg(parse(c, "{\"listen\": \"0.0.0.0:8080\", "
	    "\"allow_open\": true}") == 0, "%s", err);
	ck_assert_int_eq(c->allow_open, 1);
	ck_assert_msg(parse(c, "{\"listen\": \"0.0.0.0:8080\", "
	    "\"api_keys\": [\"k\"]}") == 0, "%s", err);
	ck_assert_msg(parse(c, "{\"listen\": \"127.0.0.2:0\"}") == 0, "%s",
	    err);
	ck_assert_msg(parse(c, "{\"listen\": \"[::1]:8080\"}") == 0, "%s", err);
	ck_assert_msg(parse(c, "{\"listen\": \"localhost:8080\"}") == 0, "%s",
	    err);
	ck_assert_int_eq(parse(c, "{\"listen\": \":8080\"}"), -1);
	ck_assert_int_eq(parse(c, "{\"listen\": \"192.168.1.5:8080\"}"), -1);
	px_config_free(c);
}
END_TEST

static const struct {
	const char *listen;
	int loop;
} lcases[] = {
	{ "127.0.0.1:8080", 1 },
	{ "127.1.2.3:1", 1 },
	{ "127.255.255.255:65535", 1 },
	{ "localhost:8080", 1 },
	{ "LocalHost:8080", 1 },
	{ "[::1]:8080", 1 },
	{ "[0:0:0:0:0:0:0:1]:8080", 1 },
	{ "[::ffff:127.0.0.1]:8080", 1 },
	{ "127.0.0.1", 1 },
	{ "[::1]", 1 },
	{ "0.0.0.0:8080", 0 },
	{ "[::]:8080", 0 },
	{ ":8080", 0 },
	{ "128.0.0.1:8080", 0 },
	{ "10.0.0.1:8080", 0 },
	{ "[::2]:8080", 0 },
	{ "[::ffff:10.0.0.1]:8080", 0 },
	{ "localhost.evil.com:8080", 0 },
	{ "127.0.0.1.evil.com:8080", 0 },
	{ "::1:8080", 0 },
	{ "[::1:8080", 0 },
	{ "", 0 },
};

START_TEST(t_loopback)
{
	ck_assert_msg(px_listen_is_loopback(lcases[_i].listen) ==
	    lcases[_i].loop, "%s", lcases[_i].listen);
}
END_TEST

/* ------------------------------------------------------------ environment */

START_TEST(t_env_none)
{
	struct px_config *c = cfg_new();

	clear_env();
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), 0);
	ck_assert_int_eq(c->nproviders, 0);
	ck_assert_int_eq(c->nroutes, 0);
	ck_assert_str_eq(c->path, "");
	ck_assert_str_eq(c->listen, PX_LISTEN_DEFAULT);
	ck_assert_ptr_null(px_route_find(c, "gpt-4o", 6));
	px_config_free(c);
}
END_TEST

START_TEST(t_env_all)
{
	struct px_config *c = cfg_new();
	const struct px_route *r;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	clear_env();
	setenv("OPENAI_API_KEY", "sk-o", 1);
	setenv("ANTHROPIC_API_KEY", "sk-a", 1);
	setenv("GEMINI_API_KEY", "g-1", 1);
	setenv("GOOGLE_API_KEY", "g-2", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), 3);
	ck_assert_str_eq(c->providers[0].name, "openai");
	ck_assert_int_eq(c->providers[0].fmt, PX_FMT_CHAT);
	ck_assert_str_eq(c->providers[0].api_key, "sk-o");
	ck_assert_str_eq(c->providers[0].host, "api.openai.com");
	ck_assert_str_eq(c->providers[1].name, "anthropic");
	ck_assert_int_eq(c->providers[1].fmt, PX_FMT_ANTHROPIC);
	ck_assert_str_eq(c->providers[1].anthropic_version, "2023-06-01");
	ck_assert_str_eq(c->providers[2].name, "gemini");
	ck_assert_str_eq(c->providers[2].api_key, "g-1");   /* GEMINI first */
	ck_assert_int_eq(c->providers[2].fmt, PX_FMT_GEMINI);

	r = px_route_find(c, "claude-opus-4", 13);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "anthropic");
	r = px_route_find(c, "gemini-2.5-pro", 14);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "gemini");
	r = px_route_find(c, "gpt-4o", 6);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "openai");
	ck_assert_str_eq(r->targets[0].model, "");

	f = open_memstream(&out, &outlen);
	px_config_print(c, f);
	fclose(f);
	ck_assert_str_eq(out,
	    "provider openai type openai base_url https://api.openai.com/v1 "
	    "key set\n"
	    "provider anthropic type anthropic base_url "
	    "https://api.anthropic.com key set\n"
	    "provider gemini type gemini base_url "
	    "https://generativelanguage.googleapis.com/v1beta key set\n"
	    "route claude-* -> anthropic/claude-*\n"
	    "route gemini-* -> gemini/gemini-*\n"
	    "route * -> openai/*\n");
	free(out);
	px_config_free(c);
}
END_TEST

START_TEST(t_env_google_key)
{
	struct px_config *c = cfg_new();
	const struct px_route *r;

	clear_env();
	setenv("GOOGLE_API_KEY", "g-2", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), 1);
	ck_assert_str_eq(c->providers[0].api_key, "g-2");
	/* only gemini: the catch-all goes there too */
	r = px_route_find(c, "anything", 8);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "gemini");
	ck_assert_int_eq(c->nroutes, 2);
	px_config_free(c);
}
END_TEST

START_TEST(t_env_anthropic_catchall)
{
	struct px_config *c = cfg_new();
	const struct px_route *r;

	clear_env();
	setenv("ANTHROPIC_API_KEY", "sk-a", 1);
	setenv("GEMINI_API_KEY", "g", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), 2);
	r = px_route_find(c, "gpt-4o", 6);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "anthropic");
	r = px_route_find(c, "gemini-x", 8);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "gemini");
	px_config_free(c);
}
END_TEST

/* A keyless local OpenAI-compatible server (ollama, llama.cpp, vLLM). */
START_TEST(t_env_base_url_only)
{
	struct px_config *c = cfg_new();

	clear_env();
	setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1/", 1);
	setenv("ANTHROPIC_API_KEY", "", 1);        /* empty = unset */
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), 1);
	ck_assert_str_eq(c->providers[0].name, "openai");
	ck_assert_str_eq(c->providers[0].api_key, "");
	ck_assert_int_eq(c->providers[0].tls, 0);
	ck_assert_str_eq(c->providers[0].port, "11434");
	ck_assert_str_eq(c->providers[0].base_path, "/v1");
	ck_assert_str_eq(c->providers[0].base_url, "http://127.0.0.1:11434/v1");
	ck_assert_int_eq(c->nroutes, 1);
	ck_assert_str_eq(c->routes[0].pattern, "*");
	px_config_free(c);
}
END_TEST

START_TEST(t_env_bad_url)
{
	struct px_config *c = cfg_new();

	clear_env();
	setenv("ANTHROPIC_BASE_URL", "api.anthropic.com", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), -1);
	ck_assert_str_eq(err, "ANTHROPIC_BASE_URL: bad base_url "
	    "\"api.anthropic.com\": scheme must be http:// or https://");
	px_config_free(c);
}
END_TEST

START_TEST(t_env_keys_listen)
{
	struct px_config *c = cfg_new();

	clear_env();
	setenv("OPENAI_API_KEY", "sk-o", 1);
	setenv("LLMPROXY_API_KEYS", " k1 ,k2,, ,\tk3", 1);
	setenv("LLMPROXY_LISTEN", "0.0.0.0:9000", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), 1);
	ck_assert_str_eq(c->listen, "0.0.0.0:9000");
	ck_assert_int_eq(c->nkeys, 3);
	ck_assert_str_eq(c->keys[0].name, "key1");
	ck_assert_str_eq(c->keys[2].name, "key3");
	ck_assert_ptr_eq(auth_find(c->keys, 3, "k1", 2), &c->keys[0]);
	ck_assert_ptr_eq(auth_find(c->keys, 3, "k2", 2), &c->keys[1]);
	ck_assert_ptr_eq(auth_find(c->keys, 3, "k3", 2), &c->keys[2]);
	ck_assert_ptr_null(auth_find(c->keys, 3, " k1 ", 4));
	px_config_free(c);
}
END_TEST

START_TEST(t_env_open_refused)
{
	struct px_config *c = cfg_new();

	clear_env();
	setenv("LLMPROXY_LISTEN", "0.0.0.0:9000", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), -1);
	ck_assert_str_eq(err, "refusing to listen on 0.0.0.0:9000 without "
	    "api_keys; set LLMPROXY_API_KEYS or LLMPROXY_ALLOW_OPEN=1");
	setenv("LLMPROXY_ALLOW_OPEN", "1", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), 0);
	ck_assert_int_eq(c->allow_open, 1);
	setenv("LLMPROXY_LISTEN", "9000", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), 0);
	ck_assert_str_eq(c->listen, "127.0.0.1:9000");
	setenv("LLMPROXY_LISTEN", "[::1:9000", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), -1);
	ck_assert_str_eq(err, "LLMPROXY_LISTEN: listen address \"[::1:9000\": "
	    "unterminated [IPv6 address]");
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ credentials */

START_TEST(t_creds)
{
	struct px_config *c = cfg_new(), *d = cfg_new();
	const struct px_provider *p;
	unsigned char id[32];
	char buf[128];
	size_t n;

	clear_env();
	setenv("PX_K1", "sk-one", 1);
	setenv("PX_K3", "sk-three", 1);
	ck_assert_msg(parse(c,
	    "{\"providers\": [\n"
	    " {\"name\": \"oai\", \"type\": \"openai\",\n"
	    "  \"api_keys\": [\"env:PX_K1\", \"sk-literal\",\n"
	    "                {\"name\": \"team-a\", \"key\": \"env:PX_K3\"}],\n"
	    "  \"strategy\": \"fill-first\"},\n"
	    " {\"name\": \"one\", \"type\": \"anthropic\", \"api_key\": \"env:PX_K1\"},\n"
	    " {\"name\": \"none\", \"type\": \"gemini\"}]}") == 0, "%s", err);
	p = &c->providers[0];
	ck_assert_int_eq(p->ncreds, 3);
	ck_assert_int_eq(p->strategy, PX_STRAT_FILL_FIRST);
	ck_assert_str_eq(p->creds[0].label, "oai#1");
	ck_assert_str_eq(p->creds[0].secret, "sk-one");
	ck_assert_str_eq(p->creds[1].label, "oai#2");
	ck_assert_str_eq(p->creds[1].secret, "sk-literal");
	ck_assert_str_eq(p->creds[2].label, "team-a");
	ck_assert_str_eq(p->creds[2].secret, "sk-three");
	/* the single-key view is the first credential */
	ck_assert_str_eq(p->api_key, "sk-one");
	/* id = SHA-256(provider name, NUL, secret) */
	memcpy(buf, "oai\0sk-one", 10);
	buf[10] = 0;
	n = 11;
	auth_sha256(buf, n, id);
	ck_assert_mem_eq(p->creds[0].id, id, 32);
	/* the same secret under another provider is another credential */
	p = &c->providers[1];
	ck_assert_int_eq(p->ncreds, 1);
	ck_assert_str_eq(p->creds[0].label, "one#1");
	ck_assert_int_eq(p->strategy, PX_STRAT_ROUND_ROBIN);
	ck_assert_int_ne(memcmp(p->creds[0].id, c->providers[0].creds[0].id,
	    32), 0);
	/* no key: one credential with an empty secret */
	p = &c->providers[2];
	ck_assert_int_eq(p->ncreds, 1);
	ck_assert_str_eq(p->creds[0].secret, "");
	ck_assert_str_eq(p->api_key, "");
	ck_assert_str_eq(p->creds[0].label, "none#1");

	/* stable across loads: the same file gives the same ids */
	ck_assert_msg(parse(d,
	    "{\"providers\": [{\"name\": \"oai\", \"type\": \"openai\", "
	    "\"api_key\": \"sk-literal\"}]}") == 0, "%s", err);
	ck_assert_mem_eq(d->providers[0].creds[0].id,
	    c->providers[0].creds[1].id, 32);
	px_config_free(d);
	px_config_free(c);
}
END_TEST

#define PK "{\"providers\": [{\"name\": \"p\", \"type\": \"openai\",\n"

static const struct {
	const char *text;
	const char *msg;
} credcases[] = {
	{ PK " \"api_key\": \"a\", \"api_keys\": [\"b\"]}]}",
	  "t.json:2: provider \"p\": use either \"api_key\" or \"api_keys\", "
	  "not both" },
	{ PK " \"api_keys\": \"k\"}]}",
	  "t.json:2: provider \"p\": \"api_keys\" must be a list of keys" },
	{ PK " \"api_keys\": []}]}",
	  "t.json:2: provider \"p\": \"api_keys\" is empty (leave it out for "
	  "a provider without a key)" },
	{ PK " \"api_keys\": [\"a\",\n 5]}]}",
	  "t.json:3: provider \"p\": api_keys[1]: must be a key string or "
	  "{\"name\", \"key\"}" },
	{ PK " \"api_keys\": [\"\"]}]}",
	  "t.json:2: provider \"p\": api_keys[0]: \"key\" is empty" },
	{ PK " \"api_keys\": [\"env:PX_TEST_UNSET_VAR\"]}]}",
	  "t.json:2: provider \"p\": api_keys[0]: environment variable "
	  "PX_TEST_UNSET_VAR is not set" },
	{ PK " \"api_keys\": [{\"key\": \"k\"}]}]}",
	  "t.json:2: provider \"p\": api_keys[0]: missing \"name\"" },
	{ PK " \"api_keys\": [{\"name\": \"n\"}]}]}",
	  "t.json:2: provider \"p\": api_keys[0]: missing \"key\"" },
	{ PK " \"api_keys\": [{\"name\": \"a b\", \"key\": \"k\"}]}]}",
	  "t.json:2: provider \"p\": api_keys[0]: bad name \"a b\" (printable, "
	  "without spaces, quotes or backslashes)" },
	{ PK " \"api_keys\": [{\"name\": \"n\", \"key\": \"k\", \"x\": 1}]}]}",
	  "t.json:2: unknown key \"x\" in provider \"p\" api_keys[0]" },
	{ PK " \"api_keys\": [{\"name\": \"n\", \"key\": \"a\"},\n"
	  " {\"name\": \"n\", \"key\": \"b\"}]}]}",
	  "t.json:3: provider \"p\": duplicate key name \"n\"" },
	{ PK " \"api_keys\": [\"a\", {\"name\": \"p#1\", \"key\": \"b\"}]}]}",
	  "t.json:2: provider \"p\": duplicate key name \"p#1\"" },
	{ PK " \"api_keys\": [\"same\",\n \"same\"]}]}",
	  "t.json:3: provider \"p\": api_keys[1] is the same key as "
	  "api_keys[0]" },
	{ PK " \"api_keys\": [\"a\\nb\"]}]}",
	  "t.json:2: provider \"p\": api_keys[0]: \"key\" contains control "
	  "characters" },
	{ PK " \"strategy\": \"random\"}]}",
	  "t.json:2: provider \"p\": \"strategy\" must be \"round-robin\" or "
	  "\"fill-first\"" },
	{ PK " \"strategy\": 1}]}",
	  "t.json:2: provider \"p\": \"strategy\" must be \"round-robin\" or "
	  "\"fill-first\"" },
};

START_TEST(t_cred_errors)
{
	struct px_config *c = cfg_new();

	unsetenv("PX_TEST_UNSET_VAR");
	ck_assert_int_eq(parse(c, credcases[_i].text), -1);
	ck_assert_str_eq(err, credcases[_i].msg);
	ck_assert_int_eq(c->nerrors, 1);
	px_config_free(c);
}
END_TEST

/* PX_MAX_CREDS per provider; the message points at the list. */
START_TEST(t_cred_cap)
{
	struct px_config *c = cfg_new();
	char text[8192];
	size_t n;
	int i;

	n = (size_t)snprintf(text, sizeof text, PK " \"api_keys\": [");
	for (i = 0; i <= PX_MAX_CREDS; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "%s\"k%d\"",
		    i ? "," : "", i);
	snprintf(text + n, sizeof text - n, "]}]}");
	ck_assert_int_eq(parse(c, text), -1);
	snprintf(text, sizeof text, "t.json:2: provider \"p\": too many "
	    "api_keys (max %d)", PX_MAX_CREDS);
	ck_assert_str_eq(err, text);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ headers */

START_TEST(t_headers)
{
	struct px_config *c = cfg_new();
	const struct px_provider *p;

	clear_env();
	setenv("PX_ORG", "org-123", 1);
	ck_assert_msg(parse(c,
	    "{\"providers\": [\n"
	    " {\"name\": \"or\", \"type\": \"openai\", \"api_key\": \"k\",\n"
	    "  \"headers\": {\"HTTP-Referer\": \"https://example.com\",\n"
	    "               \"X-Title\": \"My app\", \"OpenAI-Organization\": "
	    "\"env:PX_ORG\", \"x-tab\": \"a\\tb\", \"x-empty\": \"\"}},\n"
	    " {\"name\": \"basic\", \"type\": \"openai\",\n"
	    "  \"headers\": {\"Authorization\": \"Basic dTpw\"}}]}") == 0,
	    "%s", err);
	p = &c->providers[0];
	ck_assert_int_eq(p->nheaders, 5);
	ck_assert_str_eq(p->headers[0].name, "HTTP-Referer");
	ck_assert_str_eq(p->headers[0].value, "https://example.com");
	ck_assert_str_eq(p->headers[1].name, "X-Title");
	ck_assert_str_eq(p->headers[1].value, "My app");
	ck_assert_str_eq(p->headers[2].name, "OpenAI-Organization");
	ck_assert_str_eq(p->headers[2].value, "org-123");
	ck_assert_str_eq(p->headers[3].value, "a\tb");
	ck_assert_str_eq(p->headers[4].value, "");
	/* a provider without a key may carry its own Authorization */
	p = &c->providers[1];
	ck_assert_int_eq(p->nheaders, 1);
	ck_assert_str_eq(p->headers[0].value, "Basic dTpw");
	px_config_free(c);
}
END_TEST

#define PH(type, rest) "{\"providers\": [{\"name\": \"p\", \"type\": \"" \
    type "\", \"api_key\": \"k\",\n \"headers\": " rest "}]}"

static const struct {
	const char *text;
	const char *msg;
} hcases[] = {
	{ PH("openai", "[]"), "t.json:2: provider \"p\": \"headers\" must be "
	  "an object ({\"Name\": \"value\"})" },
	{ PH("openai", "{\"Bad Name\": \"v\"}"), "t.json:2: provider \"p\": "
	  "bad header name \"Bad Name\" (an HTTP token: letters, digits and "
	  "!#$%&'*+-.^_`|~)" },
	{ PH("openai", "{\"x:y\": \"v\"}"), "t.json:2: provider \"p\": bad "
	  "header name \"x:y\" (an HTTP token: letters, digits and "
	  "!#$%&'*+-.^_`|~)" },
	{ PH("openai", "{\"\": \"v\"}"), "t.json:2: provider \"p\": bad "
	  "header name \"\" (an HTTP token: letters, digits and "
	  "!#$%&'*+-.^_`|~)" },
	{ PH("openai", "{\"Host\": \"evil\"}"), "t.json:2: provider \"p\": "
	  "header \"Host\" is set by the proxy (hop-by-hop, framing or per "
	  "request)" },
	{ PH("openai", "{\"content-length\": \"1\"}"), "t.json:2: provider "
	  "\"p\": header \"content-length\" is set by the proxy (hop-by-hop, "
	  "framing or per request)" },
	{ PH("openai", "{\"Transfer-Encoding\": \"chunked\"}"), "t.json:2: "
	  "provider \"p\": header \"Transfer-Encoding\" is set by the proxy "
	  "(hop-by-hop, framing or per request)" },
	{ PH("openai", "{\"Connection\": \"close\"}"), "t.json:2: provider "
	  "\"p\": header \"Connection\" is set by the proxy (hop-by-hop, "
	  "framing or per request)" },
	{ PH("openai", "{\"Accept-Encoding\": \"gzip\"}"), "t.json:2: provider "
	  "\"p\": header \"Accept-Encoding\" is set by the proxy (hop-by-hop, "
	  "framing or per request)" },
	{ PH("openai", "{\"authorization\": \"Bearer x\"}"), "t.json:2: "
	  "provider \"p\": header \"authorization\" carries the provider's key: "
	  "use \"api_key\" or \"api_keys\"" },
	{ PH("anthropic", "{\"X-Api-Key\": \"x\"}"), "t.json:2: provider "
	  "\"p\": header \"X-Api-Key\" carries the provider's key: use "
	  "\"api_key\" or \"api_keys\"" },
	{ PH("anthropic", "{\"anthropic-version\": \"x\"}"), "t.json:2: "
	  "provider \"p\": header \"anthropic-version\": use "
	  "\"anthropic_version\"" },
	{ PH("openai", "{\"X-A\": \"1\",\n \"x-a\": \"2\"}"), "t.json:3: "
	  "provider \"p\": duplicate header \"x-a\"" },
	{ PH("openai", "{\"X-A\": \"a\\r\\nX-Evil: 1\"}"), "t.json:2: "
	  "provider \"p\": header \"X-A\": \"value\" contains control "
	  "characters" },
	{ PH("openai", "{\"X-A\": \"a\\u0000b\"}"), "t.json:2: provider "
	  "\"p\": header \"X-A\": \"value\" contains control characters" },
	{ PH("openai", "{\"X-A\": 1}"), "t.json:2: provider \"p\": header "
	  "\"X-A\": \"value\" must be a string" },
	{ PH("openai", "{\"X-A\": \"env:PX_TEST_UNSET_VAR\"}"), "t.json:2: "
	  "provider \"p\": header \"X-A\": environment variable "
	  "PX_TEST_UNSET_VAR is not set" },
	{ PH("openai", "{\"a\":\"\",\"b\":\"\",\"c\":\"\",\"d\":\"\",\"e\":\"\","
	  "\"f\":\"\",\"g\":\"\",\"h\":\"\",\"i\":\"\",\"j\":\"\",\"k\":\"\","
	  "\"l\":\"\",\"m\":\"\",\"n\":\"\",\"o\":\"\",\"p\":\"\",\"q\":\"\"}"),
	  "t.json:2: provider \"p\": too many headers (max 16)" },
};

START_TEST(t_header_errors)
{
	struct px_config *c = cfg_new();

	unsetenv("PX_TEST_UNSET_VAR");
	ck_assert_int_eq(parse(c, hcases[_i].text), -1);
	ck_assert_str_eq(err, hcases[_i].msg);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ health_check */

START_TEST(t_health)
{
	struct px_config *c = cfg_new();

	ck_assert_msg(parse(c,
	    "{\"providers\": [\n"
	    " {\"name\": \"a\", \"type\": \"openai\", \"health_check\": "
	    "{\"interval_s\": 30, \"model\": \"gpt-4o-mini\"}},\n"
	    " {\"name\": \"b\", \"type\": \"openai\", \"health_check\": "
	    "{\"model\": \"m\"}},\n"
	    " {\"name\": \"c\", \"type\": \"openai\"}]}") == 0, "%s", err);
	ck_assert_str_eq(c->providers[0].health_model, "gpt-4o-mini");
	ck_assert_int_eq(c->providers[0].health_interval_s, 30);
	ck_assert_str_eq(c->providers[1].health_model, "m");
	ck_assert_int_eq(c->providers[1].health_interval_s,
	    PX_HEALTH_INTERVAL_S);
	ck_assert_ptr_null(c->providers[2].health_model);
	px_config_free(c);
}
END_TEST

#define PHC(rest) "{\"providers\": [{\"name\": \"p\", \"type\": \"openai\",\n" \
    " \"health_check\": " rest "}]}"

static const struct {
	const char *text;
	const char *msg;
} hccases[] = {
	{ PHC("60"), "t.json:2: provider \"p\": \"health_check\" must be an "
	  "object ({\"interval_s\": N, \"model\": \"M\"})" },
	{ PHC("{\"interval_s\": 60}"), "t.json:2: provider \"p\": "
	  "\"health_check\" needs a \"model\" to send its request to" },
	{ PHC("{\"model\": \"m\", \"interval_s\": 0}"), "t.json:2: provider "
	  "\"p\": \"health_check.interval_s\" must be an integer from 1 to "
	  "86400" },
	{ PHC("{\"model\": \"m\", \"interval_s\": 86401}"), "t.json:2: "
	  "provider \"p\": \"health_check.interval_s\" must be an integer from "
	  "1 to 86400" },
	{ PHC("{\"model\": \"\"}"), "t.json:2: provider \"p\": "
	  "\"health_check.model\" is empty" },
	{ PHC("{\"model\": \"m\", \"every\": 5}"), "t.json:2: unknown key "
	  "\"every\" in provider \"p\" health_check" },
};

START_TEST(t_health_errors)
{
	struct px_config *c = cfg_new();

	ck_assert_int_eq(parse(c, hccases[_i].text), -1);
	ck_assert_str_eq(err, hccases[_i].msg);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ azure */

static const char azure_cfg[] =
"{\"providers\": [\n"
" {\"name\": \"az\", \"type\": \"azure\", \"base_url\": "
"\"https://res.openai.azure.com\", \"api_key\": \"k\",\n"
"  \"api_version\": \"2024-10-21\",\n"
"  \"deployments\": {\"gpt-4o\": \"prod-4o\", \"odd\": \"a b/c\"},\n"
"  \"responses_models\": [\"o3*\"]},\n"
" {\"name\": \"v1\", \"type\": \"azure\", \"base_url\": "
"\"https://res.openai.azure.com/\", \"api_version\": \"v1\",\n"
"  \"deployments\": {\"gpt-4o\": \"prod-4o\"}},\n"
" {\"name\": \"nov\", \"type\": \"azure\", \"base_url\": "
"\"https://x.openai.azure.com\"},\n"
" {\"name\": \"oai\", \"type\": \"openai\"}]}";

static const struct {
	int provider;
	const char *model;
	enum px_fmt fmt;
	const char *path;         /* NULL: -1 */
	const char *body;         /* px_provider_deployment */
} azcases[] = {
	{ 0, "gpt-4o", PX_FMT_CHAT,
	  "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21",
	  "prod-4o" },
	{ 0, "gpt-4o-mini", PX_FMT_CHAT,
	  "/openai/deployments/gpt-4o-mini/chat/completions?api-version="
	  "2024-10-21", "gpt-4o-mini" },
	{ 0, "odd", PX_FMT_CHAT,
	  "/openai/deployments/a%20b%2Fc/chat/completions?api-version="
	  "2024-10-21", "a b/c" },
	{ 0, "o3", PX_FMT_RESPONSES, "/openai/responses?api-version=2024-10-21",
	  "o3" },
	{ 0, "gpt-4o", PX_FMT_ANTHROPIC, NULL, "prod-4o" },
	{ 1, "gpt-4o", PX_FMT_CHAT, "/openai/v1/chat/completions", "prod-4o" },
	{ 1, "gpt-4o", PX_FMT_RESPONSES, "/openai/v1/responses", "prod-4o" },
	{ 2, "m", PX_FMT_CHAT, "/openai/v1/chat/completions", "m" },
	{ 3, "gpt-4o", PX_FMT_CHAT, "/chat/completions", "gpt-4o" },
	{ 3, "gpt-4o", PX_FMT_RESPONSES, "/responses", "gpt-4o" },
};

START_TEST(t_azure_path)
{
	struct px_config *c = cfg_new();
	const struct px_provider *p;
	char buf[256];
	int k;

	ck_assert_msg(parse(c, azure_cfg) == 0, "%s", err);
	p = &c->providers[azcases[_i].provider];
	k = px_provider_path(p, azcases[_i].fmt, azcases[_i].model, 0, buf,
	    sizeof buf);
	if (azcases[_i].path == NULL)
		ck_assert_int_eq(k, -1);
	else {
		ck_assert_int_eq(k, (int)strlen(azcases[_i].path));
		ck_assert_str_eq(buf, azcases[_i].path);
		/* every byte of the path is needed: one less does not fit */
		ck_assert_int_eq(px_provider_path(p, azcases[_i].fmt,
		    azcases[_i].model, 0, buf, (size_t)k), -1);
	}
	ck_assert_str_eq(px_provider_deployment(p, azcases[_i].model),
	    azcases[_i].body);
	px_config_free(c);
}
END_TEST

START_TEST(t_azure)
{
	struct px_config *c = cfg_new();
	const struct px_provider *p;
	const char *pre;

	ck_assert_msg(parse(c, azure_cfg) == 0, "%s", err);
	p = &c->providers[0];
	ck_assert_int_eq(p->kind, PX_PT_AZURE);
	ck_assert_str_eq(p->type, "azure");
	ck_assert_int_eq(p->fmt, PX_FMT_CHAT);
	ck_assert_str_eq(p->host, "res.openai.azure.com");
	ck_assert_str_eq(p->base_path, "");
	ck_assert_str_eq(p->api_version, "2024-10-21");
	ck_assert_int_eq(p->ndeployments, 2);
	ck_assert_int_eq(px_provider_fmt(p, "o3-pro"), PX_FMT_RESPONSES);
	ck_assert_int_eq(px_provider_fmt(p, "gpt-4o"), PX_FMT_CHAT);
	ck_assert_str_eq(px_provider_auth(p, &pre), "api-key");
	ck_assert_str_eq(pre, "");
	ck_assert_str_eq(c->providers[1].api_version, "");   /* "v1" */
	ck_assert_str_eq(c->providers[1].base_url,
	    "https://res.openai.azure.com");
	ck_assert_str_eq(c->providers[2].api_version, "");
	ck_assert_str_eq(px_provider_auth(&c->providers[3], &pre),
	    "Authorization");
	ck_assert_str_eq(pre, "Bearer ");
	px_config_free(c);
	c = cfg_new();
	ck_assert_msg(parse(c, "{\"providers\": [{\"name\": \"a\", \"type\": "
	    "\"anthropic\"}, {\"name\": \"g\", \"type\": \"gemini\"}]}") == 0,
	    "%s", err);
	ck_assert_str_eq(px_provider_auth(&c->providers[0], &pre), "x-api-key");
	ck_assert_str_eq(pre, "");
	ck_assert_str_eq(px_provider_auth(&c->providers[1], NULL),
	    "x-goog-api-key");
	px_config_free(c);
}
END_TEST

#define PA(rest) "{\"providers\": [{\"name\": \"a\", \"type\": \"azure\",\n" rest "}]}"

static const struct {
	const char *text;
	const char *msg;
} azerrs[] = {
	{ PA(" \"api_key\": \"k\""), "t.json:1: provider \"a\": type azure "
	  "needs a \"base_url\" (e.g. \"https://NAME.openai.azure.com\")" },
	{ PA(" \"base_url\": \"https://r.openai.azure.com/openai/v1\""),
	  "t.json:2: provider \"a\": azure base_url is the resource URL, e.g. "
	  "\"https://NAME.openai.azure.com\", without a path" },
	{ PA(" \"base_url\": \"https://r\", \"api_version\": \"2024 10\""),
	  "t.json:2: provider \"a\": bad \"api_version\" \"2024 10\" (e.g. "
	  "\"2024-10-21\", or \"v1\")" },
	{ PA(" \"base_url\": \"https://r\", \"api_version\": \"x&y=1\""),
	  "t.json:2: provider \"a\": bad \"api_version\" \"x&y=1\" (e.g. "
	  "\"2024-10-21\", or \"v1\")" },
	{ PA(" \"base_url\": \"https://r\", \"deployments\": [\"x\"]"),
	  "t.json:2: provider \"a\": \"deployments\" must be an object "
	  "({\"model\": \"deployment\"})" },
	{ PA(" \"base_url\": \"https://r\", \"deployments\": {\"m\": \"\"}"),
	  "t.json:2: provider \"a\": \"deployments\" is empty" },
	{ PA(" \"base_url\": \"https://r\", \"deployments\": {\"m\": 1}"),
	  "t.json:2: provider \"a\": \"deployments\" must be a string" },
	{ PA(" \"base_url\": \"https://r\", \"chat_models\": [\"m\"]"),
	  "t.json:2: provider \"a\": \"chat_models\" does not apply to type "
	  "azure (it is the default API)" },
	{ "{\"providers\": [{\"name\": \"o\", \"type\": \"openai\",\n"
	  " \"api_version\": \"2024-10-21\"}]}",
	  "t.json:2: provider \"o\": \"api_version\" applies to type azure "
	  "only" },
	{ "{\"providers\": [{\"name\": \"o\", \"type\": \"openai\",\n"
	  " \"deployments\": {}}]}",
	  "t.json:2: provider \"o\": \"deployments\" applies to type azure "
	  "only" },
};

START_TEST(t_azure_errors)
{
	struct px_config *c = cfg_new();

	ck_assert_int_eq(parse(c, azerrs[_i].text), -1);
	ck_assert_str_eq(err, azerrs[_i].msg);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ route objects */

START_TEST(t_route_obj)
{
	struct px_config *c = cfg_new();
	const struct px_route *r;

	ck_assert_msg(parse(c, "{\"providers\": [{\"name\": \"p\", \"type\": "
	    "\"openai\"}, {\"name\": \"q\", \"type\": \"anthropic\"}],\n"
	    " \"models\": {\n"
	    "  \"plain\": \"p\",\n"
	    "  \"one\": {\"target\": \"q/claude-x\"},\n"
	    "  \"chain\": {\"targets\": [\"q/a\", \"p/b\"], \"retry\": "
	    "{\"max_attempts\": 5}},\n"
	    "  \"quick\": {\"target\": \"p\", \"retry\": {\"budget_ms\": 0, "
	    "\"max_attempts\": 1}}\n"
	    " },\n"
	    " \"retry\": {\"budget_ms\": 10000}}") == 0, "%s", err);
	ck_assert_int_eq(c->retry.max_attempts, PX_RETRY_MAX_ATTEMPTS);
	ck_assert_int_eq(c->retry.budget_ms, 10000);
	r = px_route_find(c, "plain", 5);
	ck_assert_int_eq(r->ntargets, 1);
	ck_assert_int_eq(r->retry.max_attempts, PX_RETRY_MAX_ATTEMPTS);
	ck_assert_int_eq(r->retry.budget_ms, 10000);
	r = px_route_find(c, "one", 3);
	ck_assert_int_eq(r->ntargets, 1);
	ck_assert_str_eq(prov(c, &r->targets[0])->name, "q");
	ck_assert_str_eq(r->targets[0].model, "claude-x");
	ck_assert_int_eq(r->line, 4);
	r = px_route_find(c, "chain", 5);
	ck_assert_int_eq(r->ntargets, 2);
	ck_assert_str_eq(r->targets[1].model, "b");
	ck_assert_int_eq(r->retry.max_attempts, 5);
	ck_assert_int_eq(r->retry.budget_ms, 10000);      /* inherited */
	r = px_route_find(c, "quick", 5);
	ck_assert_int_eq(r->retry.max_attempts, 1);
	ck_assert_int_eq(r->retry.budget_ms, 0);
	px_config_free(c);
}
END_TEST

START_TEST(t_retry_defaults)
{
	struct px_config *c = cfg_new();

	ck_assert_int_eq(PX_RETRY_MAX_ATTEMPTS, 3);
	ck_assert_int_eq(PX_RETRY_BUDGET_MS, 30000);
	ck_assert_msg(parse(c, P1 "\"models\": {\"m\": [\"p\", \"p/x\"]}}") ==
	    0, "%s", err);
	ck_assert_int_eq(c->retry.max_attempts, 3);
	ck_assert_int_eq(c->retry.budget_ms, 30000);
	ck_assert_int_eq(c->routes[0].retry.max_attempts, 3);
	ck_assert_int_eq(c->routes[0].retry.budget_ms, 30000);
	px_config_free(c);
}
END_TEST

static const struct {
	const char *text;
	const char *msg;
} robjerrs[] = {
	{ P1 "\"models\": {\"m\": {\"target\": \"p\", \"targets\": [\"p\"]}}}",
	  "t.json:2: model \"m\": use \"target\" or \"targets\", not both" },
	{ P1 "\"models\": {\"m\": {\"retry\": {}}}}",
	  "t.json:2: model \"m\": needs \"target\" or \"targets\"" },
	{ P1 "\"models\": {\"m\": {\"targets\": \"p\"}}}",
	  "t.json:2: model \"m\": \"targets\" must be a list" },
	{ P1 "\"models\": {\"m\": {\"target\": [\"p\"]}}}",
	  "t.json:2: model \"m\": target must be \"provider\" or "
	  "\"provider/model\"" },
	{ P1 "\"models\": {\"m\": {\"target\": \"p\",\n \"timeout\": 5}}}",
	  "t.json:3: unknown key \"timeout\" in model \"m\"" },
	{ P1 "\"models\": {\"m\": {\"target\": \"p\", \"retry\": 3}}}",
	  "t.json:2: model \"m\": \"retry\" must be an object "
	  "({\"max_attempts\": N, \"budget_ms\": T})" },
	{ P1 "\"models\": {\"m\": {\"target\": \"p\", \"retry\": "
	  "{\"max_attempts\": 0}}}}",
	  "t.json:2: model \"m\": \"retry.max_attempts\" must be an integer "
	  "from 1 to 16" },
	{ P1 "\"models\": {\"m\": {\"target\": \"p\", \"retry\": "
	  "{\"attempts\": 2}}}}",
	  "t.json:2: unknown key \"attempts\" in model \"m\" retry" },
	{ "{\"retry\": {\"max_attempts\": 17}}",
	  "t.json:1: \"retry.max_attempts\" must be an integer from 1 to 16" },
	{ "{\"retry\": {\"budget_ms\": -1}}",
	  "t.json:1: \"retry.budget_ms\" must be a non-negative integer (0 = "
	  "no time limit)" },
	{ "{\"retry\": {\"budget\": 1}}",
	  "t.json:1: unknown key \"budget\" in \"retry\"" },
	{ "{\"retry\": true}",
	  "t.json:1: \"retry\" must be an object ({\"max_attempts\": N, "
	  "\"budget_ms\": T})" },
};

START_TEST(t_route_obj_errors)
{
	struct px_config *c = cfg_new();

	ck_assert_int_eq(parse(c, robjerrs[_i].text), -1);
	ck_assert_str_eq(err, robjerrs[_i].msg);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ top level */

START_TEST(t_toplevel)
{
	struct px_config *c = cfg_new();
	unsigned char d[32];
	char text[1024], hex[65];
	int i;

	clear_env();
	/* defaults */
	ck_assert_msg(parse(c, "{}") == 0, "%s", err);
	ck_assert_str_eq(c->state_dir, "");
	ck_assert_int_eq(c->admin_key.set, 0);
	ck_assert_int_eq(c->metrics_key.set, 0);
	ck_assert_int_eq(c->log_format, PX_LOG_TEXT);
	ck_assert_int_eq(c->memory_max, PX_MEMORY_MAX);
	ck_assert_int_eq(c->memory_max, 1024LL * 1024 * 1024);
	ck_assert_int_eq(c->upstream_idle, PX_UPSTREAM_IDLE);
	ck_assert_int_eq(c->upstream_idle, 1024);
	ck_assert_int_eq(c->heartbeat_ms, PX_HEARTBEAT_MS);
	ck_assert_int_eq(c->heartbeat_ms, 15000);

	setenv("PX_ADMIN", "adm-secret", 1);
	auth_sha256("met-secret", 10, d);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	snprintf(text, sizeof text, "{\"state_dir\": \"/var/lib/llmproxy\",\n"
	    " \"admin_key\": \"env:PX_ADMIN\",\n"
	    " \"metrics_key\": {\"sha256\": \"%s\"},\n"
	    " \"log_format\": \"json\",\n"
	    " \"limits\": {\"memory_bytes\": 268435456, \"upstream_idle\": 0},\n"
	    " \"timeouts\": {\"heartbeat_ms\": 0}}", hex);
	ck_assert_msg(parse(c, text) == 0, "%s", err);
	ck_assert_str_eq(c->state_dir, "/var/lib/llmproxy");
	ck_assert_int_eq(c->admin_key.set, 1);
	ck_assert_ptr_nonnull(auth_find(&c->admin_key.key, 1, "adm-secret",
	    10));
	ck_assert_ptr_null(auth_find(&c->admin_key.key, 1, "env:PX_ADMIN",
	    12));
	ck_assert_str_eq(c->admin_key.key.name, "admin_key");
	ck_assert_int_eq(c->metrics_key.set, 1);
	ck_assert_ptr_nonnull(auth_find(&c->metrics_key.key, 1, "met-secret",
	    10));
	ck_assert_int_eq(c->log_format, PX_LOG_JSON);
	ck_assert_int_eq(c->memory_max, 268435456);
	ck_assert_int_eq(c->upstream_idle, 0);
	ck_assert_int_eq(c->heartbeat_ms, 0);
	/* a literal key */
	ck_assert_msg(parse(c, "{\"admin_key\": \"lit\"}") == 0, "%s", err);
	ck_assert_ptr_nonnull(auth_find(&c->admin_key.key, 1, "lit", 3));
	px_config_free(c);
}
END_TEST

static const struct {
	const char *text;
	const char *msg;
} toperrs[] = {
	{ "{\"state_dir\": 1}", "t.json:1: \"state_dir\" must be a string" },
	{ "{\"state_dir\": \"\"}", "t.json:1: \"state_dir\" must not be empty "
	  "(leave it out for no state on disk)" },
	{ "{\"admin_key\": \"\"}", "t.json:1: \"admin_key\" is empty" },
	{ "{\"admin_key\": 5}", "t.json:1: \"admin_key\" must be a key, "
	  "\"env:NAME\" or {\"sha256\": \"hex\"}" },
	{ "{\"admin_key\": \"env:PX_TEST_UNSET_VAR\"}",
	  "t.json:1: environment variable PX_TEST_UNSET_VAR is not set" },
	{ "{\"metrics_key\": {\"sha256\": \"abc\"}}",
	  "t.json:1: \"metrics_key\": \"sha256\" must be 64 hex digits" },
	{ "{\"metrics_key\": {}}", "t.json:1: \"metrics_key\": needs "
	  "\"sha256\"" },
	{ "{\"metrics_key\": {\"key\": \"x\"}}",
	  "t.json:1: unknown key \"key\" in \"metrics_key\"\n"
	  "t.json:1: \"metrics_key\": needs \"sha256\"" },
	{ "{\"log_format\": \"xml\"}",
	  "t.json:1: \"log_format\" must be \"text\" or \"json\"" },
	{ "{\"limits\": {\"memory_bytes\": 0}}",
	  "t.json:1: \"limits.memory_bytes\" must be a positive integer" },
	{ "{\"limits\": {\"upstream_idle\": -1}}",
	  "t.json:1: \"limits.upstream_idle\" must be a non-negative integer" },
	{ "{\"timeouts\": {\"heartbeat_ms\": -5}}",
	  "t.json:1: \"timeouts.heartbeat_ms\" must be a non-negative "
	  "integer" },
	{ "{\"timeouts\": {\"heartbeat\": 5}}",
	  "t.json:1: unknown key \"heartbeat\" in \"timeouts\"" },
};

START_TEST(t_toplevel_errors)
{
	struct px_config *c = cfg_new();

	unsetenv("PX_TEST_UNSET_VAR");
	ck_assert_int_eq(parse(c, toperrs[_i].text), -1);
	ck_assert_str_eq(err, toperrs[_i].msg);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ all errors */

/* One run reports every error, each at its line, in file order within
 * each section. */
START_TEST(t_all_errors)
{
	struct px_config *c = cfg_new();
	static const char text[] =
	    "{\n"
	    " \"lisen\": 1,\n"                                        /* 2 */
	    " \"timeouts\": {\"idle_ms\": 0, \"connect_ms\": -1},\n"  /* 3 */
	    " \"providers\": [\n"
	    "  {\"name\": \"a\", \"type\": \"openai\", \"api_key\": "
	    "\"env:PX_U1\"},\n"                                       /* 5 */
	    "  {\"name\": \"b\", \"type\": \"openai\",\n"
	    "   \"api_keys\": [\"env:PX_U2\", \"env:PX_U3\"]},\n"     /* 7 */
	    "  {\"name\": \"c\", \"type\": \"opnai\"}\n"              /* 8 */
	    " ],\n"
	    " \"models\": {\n"
	    "  \"x\": \"a\",\n"
	    "  \"y\": \"zz\",\n"                                      /* 12 */
	    "  \"z\": \"c/m\",\n"        /* c has an error: no cascade */
	    "  \"w\": [\"a\", \"yy/m\"]\n"                            /* 14 */
	    " }\n"
	    "}\n";
	static const char *const want[] = {
	    "t.json:2: unknown key \"lisen\"",
	    "t.json:3: \"timeouts.idle_ms\" must be a positive integer",
	    "t.json:3: \"timeouts.connect_ms\" must be a positive integer",
	    "t.json:5: provider \"a\": environment variable PX_U1 is not set",
	    "t.json:7: provider \"b\": api_keys[0]: environment variable PX_U2 "
	    "is not set",
	    "t.json:7: provider \"b\": api_keys[1]: environment variable PX_U3 "
	    "is not set",
	    "t.json:8: provider \"c\": unknown type \"opnai\" (expected openai, "
	    "openai-responses, anthropic, gemini, azure, exec, claude-account, "
	  "codex-account, gemini-account or copilot-account)",
	    "t.json:12: model \"y\": unknown provider \"zz\"",
	    "t.json:14: model \"w\": unknown provider \"yy\"",
	};
	size_t i, n = sizeof want / sizeof want[0];
	char joined[2048];

	unsetenv("PX_U1");
	unsetenv("PX_U2");
	unsetenv("PX_U3");
	ck_assert_int_eq(parse(c, text), -1);
	ck_assert_int_eq(c->nerrors, (int)n);
	joined[0] = 0;
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(c->errors[i], want[i]);
		if (i)
			strcat(joined, "\n");
		strcat(joined, want[i]);
	}
	ck_assert_str_eq(err, joined);

	/* err too small for all: whole lines, then how many are missing */
	err[0] = 0;
	ck_assert_int_eq(px_config_parse(c, "t.json", text, strlen(text), err,
	    120), -1);
	ck_assert_str_eq(err, "t.json:2: unknown key \"lisen\"\n"
	    "t.json:3: \"timeouts.idle_ms\" must be a positive integer\n"
	    "(7 more errors)");

	/* not even the first fits: it is cut at a character boundary and
	 * marked, never replaced by the count alone */
	ck_assert_int_eq(px_config_parse(c, "t.json", text, strlen(text), err,
	    50), -1);
	ck_assert_str_eq(err, "t.json:2: unknown key ...\n(8 more errors)");
	px_config_free(c);
}
END_TEST

/* More errors than PX_CONFIG_MAX_ERRORS: all counted, the first kept. */
START_TEST(t_many_errors)
{
	struct px_config *c = cfg_new();
	char *text = malloc(65536), want[64];
	size_t n;
	int i;

	n = (size_t)snprintf(text, 65536, "{\"models\": {");
	for (i = 0; i < PX_CONFIG_MAX_ERRORS + 10; i++)
		n += (size_t)snprintf(text + n, 65536 - n, "%s\"m%d\": \"nope\"\n",
		    i ? "," : "", i);
	snprintf(text + n, 65536 - n, "}}");
	ck_assert_int_eq(parse(c, text), -1);
	ck_assert_int_eq(c->nerrors, PX_CONFIG_MAX_ERRORS + 10);
	ck_assert_str_eq(c->errors[0], "t.json:1: model \"m0\": unknown "
	    "provider \"nope\"");
	ck_assert_str_eq(c->errors[PX_CONFIG_MAX_ERRORS - 1], "t.json:64: "
	    "model \"m63\": unknown provider \"nope\"");
	/* the 10 not kept are still announced */
	ck_assert_ptr_nonnull(strstr(err, "more errors)"));
	n = 0;
	for (i = 0; err[i]; i++)
		n += err[i] == '\n';
	/* lines shown + the count line = everything */
	snprintf(want, sizeof want, "(%d more errors)",
	    PX_CONFIG_MAX_ERRORS + 10 - (int)n);
	ck_assert_ptr_nonnull(strstr(err, want));
	free(text);
	px_config_free(c);
}
END_TEST

START_TEST(t_env_all_errors)
{
	struct px_config *c = cfg_new();

	clear_env();
	setenv("OPENAI_BASE_URL", "ftp://x", 1);
	setenv("ANTHROPIC_BASE_URL", "https://u:pw@h", 1);
	setenv("GEMINI_API_KEY", "g\n", 1);
	setenv("LLMPROXY_LISTEN", "host", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), -1);
	ck_assert_int_eq(c->nerrors, 4);
	ck_assert_str_eq(err,
	    "OPENAI_BASE_URL: bad base_url \"ftp://x\": scheme must be http:// "
	    "or https://\n"
	    "ANTHROPIC_BASE_URL: bad base_url \"https://u:***@h\": user info "
	    "(user:password@) is not supported; put the key in \"api_key\" or a "
	    "header in \"headers\"\n"
	    "GEMINI_API_KEY: contains control characters or is too long\n"
	    "LLMPROXY_LISTEN: listen address \"host\": missing port (use "
	    "HOST:PORT, :PORT for all interfaces or PORT for 127.0.0.1)");
	/* a valid environment after a broken one: nothing left over */
	clear_env();
	setenv("OPENAI_API_KEY", "sk", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), 1);
	ck_assert_int_eq(c->nerrors, 0);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(c->providers[0].ncreds, 1);
	ck_assert_str_eq(c->providers[0].creds[0].label, "openai#1");
	ck_assert_int_eq(c->routes[0].retry.max_attempts, PX_RETRY_MAX_ATTEMPTS);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ listen */

static const struct {
	const char *in, *out;     /* out NULL: error msg */
	const char *msg;
} lncases[] = {
	{ "8080", "127.0.0.1:8080", NULL },
	{ "0", "127.0.0.1:0", NULL },
	{ ":8080", "0.0.0.0:8080", NULL },
	{ "[::1]:8080", "[::1]:8080", NULL },
	{ "[::]:443", "[::]:443", NULL },
	{ "localhost:1", "localhost:1", NULL },
	{ "10.0.0.1:65535", "10.0.0.1:65535", NULL },
	{ "", NULL, "empty listen address (use HOST:PORT, :PORT for all "
	  "interfaces or PORT for 127.0.0.1)" },
	{ "65536", NULL, "listen address \"65536\": bad port (a number from 0 "
	  "to 65535)" },
	{ ":", NULL, "listen address \":\": bad port (a number from 0 to "
	  "65535)" },
	{ ":http", NULL, "listen address \":http\": bad port (a number from 0 "
	  "to 65535)" },
	{ "host:", NULL, "listen address \"host:\": missing port (use "
	  "HOST:PORT, :PORT for all interfaces or PORT for 127.0.0.1)" },
	{ "host", NULL, "listen address \"host\": missing port (use HOST:PORT, "
	  ":PORT for all interfaces or PORT for 127.0.0.1)" },
	{ "::1:8080", NULL, "listen address \"::1:8080\": IPv6 addresses need "
	  "brackets, e.g. [::1]:8080" },
	{ "[::1", NULL, "listen address \"[::1\": unterminated [IPv6 "
	  "address]" },
	{ "[zz]:80", NULL, "listen address \"[zz]:80\": bad host \"zz\"" },
	{ "a b:80", NULL, "listen address \"a b:80\": bad host \"a b\"" },
	{ "[::1]x", NULL, "listen address \"[::1]x\": bad port (a number from "
	  "0 to 65535)" },
};

START_TEST(t_listen_normalize)
{
	char out[128], msg[256];
	int rc;

	msg[0] = 0;
	rc = px_listen_normalize(lncases[_i].in, out, sizeof out, msg,
	    sizeof msg);
	if (lncases[_i].out != NULL) {
		ck_assert_msg(rc == 0, "%s: %s", lncases[_i].in, msg);
		ck_assert_str_eq(out, lncases[_i].out);
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_str_eq(msg, lncases[_i].msg);
	}
}
END_TEST

/* The config file accepts the same short forms. */
START_TEST(t_listen_config)
{
	struct px_config *c = cfg_new();

	ck_assert_msg(parse(c, "{\"listen\": \"9000\"}") == 0, "%s", err);
	ck_assert_str_eq(c->listen, "127.0.0.1:9000");
	ck_assert_msg(parse(c, "{\"listen\": \":9000\", \"api_keys\": "
	    "[\"k\"]}") == 0, "%s", err);
	ck_assert_str_eq(c->listen, "0.0.0.0:9000");
	ck_assert_int_eq(parse(c, "{\"listen\": \":9000\"}"), -1);
	ck_assert_str_eq(err, "t.json:1: refusing to listen on 0.0.0.0:9000 "
	    "without api_keys; add api_keys or set \"allow_open\": true");
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ redaction */

static const struct {
	const char *in, *out;
} redcases[] = {
	{ "https://user:secret@host/v1", "https://user:***@host/v1" },
	{ "https://user:secret@host", "https://user:***@host" },
	{ "https://tok@host/v1", "https://***@host/v1" },
	{ "http://u:p:q@h:80/x@y", "http://u:***@h:80/x@y" },
	{ "https://a@b:c@host/", "https://a@b:***@host/" },
	{ "https://host/v1?x=a@b", "https://host/v1?x=a@b" },
	{ "https://host/v1", "https://host/v1" },
	{ "u:p@host", "u:***@host" },
	{ "", "" },
};

/* A provider without base_url gets its type's own, and says so (a Copilot
 * account's requests then follow the API host its token names); one set
 * in the file or the environment does not. */
START_TEST(t_base_url_default)
{
	struct px_config *c = cfg_new();

	ck_assert_int_eq(parse(c, "{\"providers\": [\n"
	    " {\"name\": \"cp\", \"type\": \"copilot-account\"},\n"
	    " {\"name\": \"cp2\", \"type\": \"copilot-account\", \"base_url\":"
	    " \"https://api.business.githubcopilot.com\"},\n"
	    " {\"name\": \"o\", \"type\": \"openai\", \"api_key\": \"k\"}],\n"
	    " \"models\": {\"a\": \"cp\", \"b\": \"cp2\", \"c\": \"o\"}}"), 0);
	ck_assert_str_eq(c->providers[0].host, "api.githubcopilot.com");
	ck_assert_int_eq(c->providers[0].base_url_default, 1);
	ck_assert_str_eq(c->providers[1].host,
	    "api.business.githubcopilot.com");
	ck_assert_int_eq(c->providers[1].base_url_default, 0);
	ck_assert_int_eq(c->providers[2].base_url_default, 1);
	px_config_free(c);

	c = cfg_new();
	clear_env();
	setenv("OPENAI_API_KEY", "k", 1);
	setenv("ANTHROPIC_API_KEY", "k", 1);
	setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9", 1);
	ck_assert_int_eq(px_config_from_env(c, err, sizeof err), 2);
	ck_assert_int_eq(c->providers[0].base_url_default, 1);
	ck_assert_int_eq(c->providers[1].base_url_default, 0);
	clear_env();
	px_config_free(c);
}
END_TEST

START_TEST(t_redact)
{
	char buf[128];

	ck_assert_str_eq(px_redact_url(redcases[_i].in, buf, sizeof buf),
	    redcases[_i].out);
}
END_TEST

/* px_config_print with pools, headers, checks, azure and route retry:
 * labels and header names only. */
START_TEST(t_print_gateway)
{
	struct px_config *c = cfg_new();
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	clear_env();
	setenv("PX_K1", "sk-secret-one", 1);
	ck_assert_msg(parse(c,
	    "{\"providers\": [\n"
	    " {\"name\": \"oai\", \"type\": \"openai\", \"api_keys\": "
	    "[\"env:PX_K1\", {\"name\": \"team-b\", \"key\": "
	    "\"sk-secret-two\"}],\n"
	    "  \"headers\": {\"X-Title\": \"secret-title\", \"X-B\": \"v\"},\n"
	    "  \"health_check\": {\"interval_s\": 30, \"model\": \"m\"}},\n"
	    " {\"name\": \"az\", \"type\": \"azure\", \"base_url\": "
	    "\"https://r.openai.azure.com\", \"api_key\": \"sk-secret-3\",\n"
	    "  \"api_version\": \"2024-10-21\", \"deployments\": {\"gpt-4o\": "
	    "\"d1\"}, \"strategy\": \"fill-first\"}],\n"
	    " \"models\": {\"a\": [\"oai\", \"az/gpt-4o\"],\n"
	    "  \"b\": {\"target\": \"oai\", \"retry\": {\"max_attempts\": 1}}}}")
	    == 0, "%s", err);
	f = open_memstream(&out, &outlen);
	px_config_print(c, f);
	fclose(f);
	ck_assert_str_eq(out,
	    "provider oai type openai base_url https://api.openai.com/v1 keys 2 "
	    "round-robin: oai#1, team-b\n"
	    "provider oai headers: X-Title, X-B\n"
	    "provider oai health_check every 30 s with model m\n"
	    "provider az type azure base_url https://r.openai.azure.com key set\n"
	    "provider az api_version 2024-10-21\n"
	    "provider az deployment gpt-4o -> d1\n"
	    "route a -> oai/a, az/gpt-4o\n"
	    "route b -> oai/b (retry 1 attempts, 30000 ms)\n");
	ck_assert_ptr_null(strstr(out, "secret"));
	free(out);
	px_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ diff */

START_TEST(t_diff)
{
	struct px_config *a = cfg_new(), *b = cfg_new();
	char buf[1024], small[40];
	size_t n;

	clear_env();
	ck_assert_msg(parse(a,
	    "{\"api_keys\": [\"k1\", \"k2\", \"k3\"],\n"
	    " \"providers\": [\n"
	    "  {\"name\": \"same\", \"type\": \"openai\", \"api_key\": \"s\"},\n"
	    "  {\"name\": \"gone\", \"type\": \"openai\"},\n"
	    "  {\"name\": \"keys\", \"type\": \"openai\", \"api_keys\": "
	    "[\"x\", \"y\"]},\n"
	    "  {\"name\": \"url\", \"type\": \"openai\", \"headers\": "
	    "{\"X-A\": \"1\"}}],\n"
	    " \"models\": {\"keep\": \"same\", \"drop\": \"gone\", "
	    "\"edit\": \"same/a\"}}") == 0, "%s", err);
	ck_assert_msg(parse(b,
	    "{\"api_keys\": [\"k1\", \"k4\"],\n"
	    " \"timeouts\": {\"idle_ms\": 5},\n"
	    " \"providers\": [\n"
	    "  {\"name\": \"same\", \"type\": \"openai\", \"api_key\": \"s\"},\n"
	    "  {\"name\": \"new\", \"type\": \"anthropic\"},\n"
	    "  {\"name\": \"keys\", \"type\": \"openai\", \"api_keys\": "
	    "[\"y\", \"z\", \"w\"]},\n"
	    "  {\"name\": \"url\", \"type\": \"openai\", \"base_url\": "
	    "\"http://h\", \"headers\": {\"X-A\": \"2\"}}],\n"
	    " \"models\": {\"keep\": \"same\", \"edit\": \"same/b\", "
	    "\"add\": \"new\"}}") == 0, "%s", err);
	n = px_config_diff(a, b, buf, sizeof buf);
	ck_assert_str_eq(buf,
	    "providers added: new; providers removed: gone; "
	    "provider keys changed: credentials +2 -1; "
	    "provider url changed: base_url, headers; "
	    "routes added: add; routes removed: drop; routes changed: edit; "
	    "client keys: 1 added, 2 removed; settings changed: timeouts");
	ck_assert_uint_eq(n, strlen(buf));
	/* header values and keys never appear */
	ck_assert_ptr_null(strstr(buf, "k4"));
	n = px_config_diff(a, a, buf, sizeof buf);
	ck_assert_str_eq(buf, "no changes");
	/* truncated output says so */
	n = px_config_diff(a, b, small, sizeof small);
	ck_assert_uint_eq(n, sizeof small - 1);
	ck_assert_str_eq(small, "providers added: new; providers remo...");
	px_config_free(a);
	px_config_free(b);
}
END_TEST

/* ------------------------------------------------------------ compactness */

/* A loaded config is a few KB plus its content, and several can be held
 * at once; reparsing into the same config frees what it held (ASan checks
 * the leak), and px_config_release empties a static one. */
START_TEST(t_compact)
{
	static struct px_config st;
	struct px_config *c = cfg_new();
	char text[4096];
	int i;

	ck_assert_uint_lt(sizeof(struct px_config), 8192);
	sample_env();
	sample_text(text, sizeof text);
	for (i = 0; i < 3; i++)
		ck_assert_msg(parse(c, text) == 0, "%s", err);
	ck_assert_uint_le(c->arena.total, 64 * 1024);
	px_config_free(c);
	px_config_defaults(&st);
	ck_assert_msg(px_config_parse(&st, "s", text, strlen(text), err,
	    sizeof err) == 0, "%s", err);
	ck_assert_int_eq(st.nproviders, 4);
	px_config_release(&st);
	ck_assert_int_eq(st.nproviders, 0);
	ck_assert_ptr_null(st.arena.head);
	px_config_free(NULL);
}
END_TEST

/* "ca_file_add" (one path or a list) and "models_ttl_seconds". */
START_TEST(t_ca_add_models_ttl)
{
	struct px_config *c = cfg_new(), *d = cfg_new();

	ck_assert_msg(parse(c, "{}") == 0, "%s", err);
	ck_assert_int_eq(c->nca_add, 0);
	ck_assert_int_eq(c->models_ttl_s, PX_MODELS_TTL_S);
	ck_assert_msg(parse(c, "{\"ca_file_add\": \"a.pem\", "
	    "\"models_ttl_seconds\": 0}") == 0, "%s", err);
	ck_assert_int_eq(c->nca_add, 1);
	ck_assert_str_eq(c->ca_add[0], "a.pem");
	ck_assert_int_eq(c->models_ttl_s, 0);
	ck_assert_msg(parse(d, "{\"ca_file_add\": [\"a.pem\", \"b.pem\"]}")
	    == 0, "%s", err);
	ck_assert_int_eq(d->nca_add, 2);
	ck_assert_str_eq(d->ca_add[1], "b.pem");
	ck_assert_int_eq(px_config_same_ca_add(c, d), 0);
	ck_assert_msg(parse(d, "{\"ca_file_add\": [\"a.pem\"]}") == 0, "%s",
	    err);
	ck_assert_int_eq(px_config_same_ca_add(c, d), 1);
	/* every error at once */
	ck_assert_int_eq(parse(c, "{\"ca_file_add\": [\"\", 3], "
	    "\"models_ttl_seconds\": -1}"), -1);
	ck_assert_int_eq(c->nerrors, 3);
	ck_assert_ptr_nonnull(strstr(err, "\"ca_file_add\": an entry is empty"));
	ck_assert_ptr_nonnull(strstr(err, "\"ca_file_add\" must be a string"));
	ck_assert_ptr_nonnull(strstr(err, "\"models_ttl_seconds\" must be a "
	    "non-negative integer"));
	ck_assert_int_eq(parse(c, "{\"ca_file_add\": \"\"}"), -1);
	ck_assert_int_eq(parse(c, "{\"ca_file_add\": [\"1\",\"2\",\"3\","
	    "\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}"), -1);
	ck_assert_ptr_nonnull(strstr(err, "too many files (max 8)"));
	px_config_free(c);
	px_config_free(d);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int nf;

#define LOOP(t, arr) tcase_add_loop_test(tc, t, 0, \
	    (int)(sizeof arr / sizeof arr[0]))
	tcase_add_test(tc, t_sample);
	tcase_add_test(tc, t_load_file);
	tcase_add_test(tc, t_client_key_env);
	tcase_add_test(tc, t_print);
	tcase_add_test(tc, t_defaults);
	tcase_add_test(tc, t_default_base_urls);
	tcase_add_test(tc, t_comments_trailing_commas);
	LOOP(t_base_url, urls);
	LOOP(t_routes, rcases);
	tcase_add_test(tc, t_route_chain);
	tcase_add_test(tc, t_route_none);
	tcase_add_test(tc, t_target_model_cap);
	LOOP(t_errors, ecases);
	LOOP(t_json_errors, jcases);
	tcase_add_test(tc, t_allow_open);
	LOOP(t_loopback, lcases);
	tcase_add_test(tc, t_env_none);
	tcase_add_test(tc, t_env_all);
	tcase_add_test(tc, t_env_google_key);
	tcase_add_test(tc, t_env_anthropic_catchall);
	tcase_add_test(tc, t_env_base_url_only);
	tcase_add_test(tc, t_env_bad_url);
	tcase_add_test(tc, t_api_models);
	tcase_add_test(tc, t_env_keys_listen);
	tcase_add_test(tc, t_env_open_refused);
	tcase_add_test(tc, t_rstore);
	LOOP(t_rstore_errors, rscases);
	tcase_add_test(tc, t_sessions_cfg);
	tcase_add_test(tc, t_cache_cfg);
	tcase_add_test(tc, t_creds);
	LOOP(t_cred_errors, credcases);
	tcase_add_test(tc, t_cred_cap);
	tcase_add_test(tc, t_headers);
	LOOP(t_header_errors, hcases);
	tcase_add_test(tc, t_health);
	LOOP(t_health_errors, hccases);
	tcase_add_test(tc, t_azure);
	LOOP(t_azure_path, azcases);
	LOOP(t_azure_errors, azerrs);
	tcase_add_test(tc, t_route_obj);
	tcase_add_test(tc, t_retry_defaults);
	LOOP(t_route_obj_errors, robjerrs);
	tcase_add_test(tc, t_toplevel);
	LOOP(t_toplevel_errors, toperrs);
	tcase_add_test(tc, t_all_errors);
	tcase_add_test(tc, t_many_errors);
	tcase_add_test(tc, t_env_all_errors);
	LOOP(t_listen_normalize, lncases);
	tcase_add_test(tc, t_listen_config);
	tcase_add_test(tc, t_base_url_default);
	LOOP(t_redact, redcases);
	tcase_add_test(tc, t_print_gateway);
	tcase_add_test(tc, t_diff);
	tcase_add_test(tc, t_compact);
	tcase_add_test(tc, t_ca_add_models_ttl);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
