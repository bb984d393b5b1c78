/*
 * it_first.c - integration tests of what a new user meets first: the
 * startup message in environment mode (what to set when nothing is
 * configured; the lines to paste into a client after a start), the model
 * lists in each client format (configured names merged with the
 * upstreams' own lists, filtered by a key's allow-list), and https
 * upstreams addressed by IP (IP SANs, the true cause of a failure, trust
 * anchors added to the system's).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

/* ------------------------------------------------------------ starting */

/* Every variable that configures environment mode (see config.c). */
static const char *const env_vars[] = {
	"OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY",
	"ANTHROPIC_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY",
	"GEMINI_BASE_URL", "LLMPROXY_API_KEYS", "LLMPROXY_LISTEN",
	"LLMPROXY_ALLOW_OPEN"
};
#define NENV ((int)(sizeof env_vars / sizeof env_vars[0]))

/* The proxy in environment mode (no -c) on any loopback port. */
static void
env_proxy(struct env *e)
{
	char *argv[48];
	int n = 0, i;

	for (i = 0; i < nwrap; i++)
		argv[n++] = wrap_argv[i];
	argv[n++] = (char *)proxy_bin;
	argv[n++] = "-l";
	argv[n++] = "127.0.0.1:0";
	argv[n] = NULL;
	e->proxy = spawn("proxy", argv);
	e->port = wait_log_number(e->proxy, "listening on 127.0.0.1:");
	ck_assert_int_gt(e->port, 0);
}

static void
env_clear(void)
{
	int i;

	for (i = 0; i < NENV; i++)
		unsetenv(env_vars[i]);
}

/* Nothing configured: the start says every variable to set. */
START_TEST(t_start_nothing_configured)
{
	struct env e;
	char *log;
	int i;

	memset(&e, 0, sizeof e);
	env_clear();
	env_proxy(&e);
	ck_assert(gw_wait_log(&e, "LLMPROXY_ALLOW_OPEN", 1, 3000));
	log = read_file(e.proxy->log, NULL);
	ck_assert_ptr_nonnull(strstr(log, "no providers configured"));
	for (i = 0; i < NENV; i++)
		ck_assert_msg(strstr(log, strf("   %s ", env_vars[i])) != NULL,
		    "the start does not name %s:\n%s", env_vars[i], log);
	/* nothing to point a client at */
	ck_assert_ptr_null(strstr(log, "OPENAI_BASE_URL=http"));
	ck_assert_int_eq(proc_stop(e.proxy, 5000 * scale), 0);
}
END_TEST

/* A start that works: the lines to paste, at the real address, work. */
START_TEST(t_start_client_lines)
{
	struct env e;
	struct resp r;
	char *log, *want;

	memset(&e, 0, sizeof e);
	env_clear();
	e.mock = start_mock(NULL, NULL, &e.mock_port);
	setenv("OPENAI_BASE_URL", strf("http://127.0.0.1:%d/v1", e.mock_port),
	    1);
	env_proxy(&e);
	ck_assert(gw_wait_log(&e, "GOOGLE_GEMINI_BASE_URL=", 1, 3000));
	log = read_file(e.proxy->log, NULL);
	want = strf("  OPENAI_BASE_URL=http://127.0.0.1:%d/v1\n", e.port);
	ck_assert_msg(strstr(log, want) != NULL, "no '%s' in:\n%s", want, log);
	want = strf("  ANTHROPIC_BASE_URL=http://127.0.0.1:%d\n", e.port);
	ck_assert_msg(strstr(log, want) != NULL, "no '%s' in:\n%s", want, log);
	want = strf("  GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:%d ", e.port);
	ck_assert_msg(strstr(log, want) != NULL, "no '%s' in:\n%s", want, log);
	ck_assert_ptr_null(strstr(log, "no providers configured"));
	/* the pasted base URL reaches the provider */
	post_to(e.port, "/v1/chat/completions", chat_body("gpt-4o", 0), &r);
	expect_status(&r, 200);
	ck_assert_int_eq(proc_stop(e.proxy, 5000 * scale), 0);
	proc_stop(e.mock, 5000 * scale);
}
END_TEST

/* ------------------------------------------------------------ models */

/* One provider of each kind on the mock, aliases, wildcards, a dead
 * provider, a key limited to gpt-*. */
static const char models_cfg[] =
    "{\"listen\": \"127.0.0.1:0\",\n"
    " \"api_keys\": [\"sk-test\", {\"name\": \"gptonly\", \"key\": \"sk-gpt\","
    " \"models\": [\"gpt-*\"]}],\n"
    " \"providers\": [\n"
    "  {\"name\": \"oai\", \"type\": \"openai\", \"base_url\": "
    "\"http://127.0.0.1:MOCK/v1\", \"api_key\": \"up-oai\"},\n"
    "  {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": "
    "\"http://127.0.0.1:MOCK\", \"api_key\": \"up-ant\"},\n"
    "  {\"name\": \"gem\", \"type\": \"gemini\", \"base_url\": "
    "\"http://127.0.0.1:MOCK/v1beta\", \"api_key\": \"up-gem\"},\n"
    "  {\"name\": \"dead\", \"type\": \"openai\", \"base_url\": "
    "\"http://127.0.0.1:DEAD/v1\", \"api_key\": \"k\"}],\n"
    " \"models\": {\"my-alias\": \"ant/claude-sonnet-4-5\",\n"
    "   \"gpt-4o-mini\": \"ant\", \"gpt-*\": \"oai\", \"claude-*\": \"ant\",\n"
    "   \"gemini-2.5-pro\": \"oai\", \"gemini-*\": \"gem\", \"x-*\": "
    "\"oai/gpt-4o\", \"*\": \"dead\"}TTL}\n";

static void
models_get(int port, const char *path, const char *hdrs, struct resp *r)
{
	exchange(port, req_text("GET", path, hdrs, NULL), r);
	expect_status(r, 200);
	ck_assert_str_eq(resp_hdr(r, "content-type"), "application/json");
}

static void
models_env(struct env *e, const char *ttl)
{
	char *text = strf("%s", models_cfg), *p;

	p = strstr(text, "DEAD");
	text = strf("%.*s%d%s", (int)(p - text), text, closed_port(), p + 4);
	p = strstr(text, "TTL");
	text = strf("%.*s%s%s", (int)(p - text), text, ttl, p + 3);
	gw_env(e, text);
	ck_assert(gw_wait_log(e, "models: provider oai: 2 upstream model(s)",
	    1, 5000));
	ck_assert(gw_wait_log(e, "models: provider ant: 1 upstream model(s)",
	    1, 5000));
	ck_assert(gw_wait_log(e, "models: provider gem: 2 upstream model(s)",
	    1, 5000));
	ck_assert(gw_wait_log(e, "models: provider dead: no upstream list "
	    "(", 1, 5000));
}

/*
 * The merged list in each shape: the configured exact names (an alias is
 * listed under its own name, by the provider its route names), and the
 * upstream names a wildcard route sends unchanged to the provider that
 * listed them (not gemini-2.5-pro, which an exact route sends to oai and
 * so is listed as oai's; not the names of x-*, which renames).
 */
START_TEST(t_models_merged)
{
	struct env e;
	struct resp r;

	models_env(&e, "");
	models_get(e.port, "/v1/models", AUTH_CHAT, &r);
	ck_str(r.body, "{\"object\":\"list\",\"data\":["
	    "{\"id\":\"claude-sonnet-4-5-20250929\",\"object\":\"model\","
	    "\"created\":0,\"owned_by\":\"ant\"},"
	    "{\"id\":\"gemini-2.5-flash\",\"object\":\"model\",\"created\":0,"
	    "\"owned_by\":\"gem\"},"
	    "{\"id\":\"gemini-2.5-pro\",\"object\":\"model\",\"created\":0,"
	    "\"owned_by\":\"oai\"},"
	    "{\"id\":\"gpt-4o\",\"object\":\"model\",\"created\":0,"
	    "\"owned_by\":\"oai\"},"
	    "{\"id\":\"gpt-4o-mini\",\"object\":\"model\",\"created\":0,"
	    "\"owned_by\":\"ant\"},"
	    "{\"id\":\"my-alias\",\"object\":\"model\",\"created\":0,"
	    "\"owned_by\":\"ant\"}]}");
	/* Anthropic's shape on /v1/models with anthropic-version */
	models_get(e.port, "/v1/models", AUTH_ANT, &r);
	ck_assert_int_eq(jlen(r.body, "data"), 6);
	ck_str(jstr(r.body, "data.0.type"), "model");
	ck_str(jstr(r.body, "data.0.id"), "claude-sonnet-4-5-20250929");
	ck_str(jstr(r.body, "data.5.display_name"), "my-alias");
	ck_str(jraw(r.body, "has_more"), "false");
	ck_str(jstr(r.body, "first_id"), "claude-sonnet-4-5-20250929");
	ck_str(jstr(r.body, "last_id"), "my-alias");
	/* Gemini's on /v1beta/models */
	models_get(e.port, "/v1beta/models", "x-goog-api-key: sk-test\r\n", &r);
	ck_assert_int_eq(jlen(r.body, "models"), 6);
	ck_str(jstr(r.body, "models.1.name"), "models/gemini-2.5-flash");
	ck_str(jstr(r.body, "models.1.displayName"), "gemini-2.5-flash");
	ck_str(jstr(r.body, "models.1.supportedGenerationMethods.0"),
	    "generateContent");
	/* a key with an allow-list sees what it may use */
	models_get(e.port, "/v1/models", "Authorization: Bearer sk-gpt\r\n", &r);
	ck_str(r.body, "{\"object\":\"list\",\"data\":["
	    "{\"id\":\"gpt-4o\",\"object\":\"model\",\"created\":0,"
	    "\"owned_by\":\"oai\"},"
	    "{\"id\":\"gpt-4o-mini\",\"object\":\"model\",\"created\":0,"
	    "\"owned_by\":\"ant\"}]}");
	models_get(e.port, "/v1/models", "x-api-key: sk-gpt\r\n"
	    "anthropic-version: 2023-06-01\r\n", &r);
	ck_str(jstr(r.body, "first_id"), "gpt-4o");
	ck_str(jstr(r.body, "last_id"), "gpt-4o-mini");
	/* a listed name works */
	cf_do(e.port, CF_CHAT, "gemini-2.5-flash", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	env_stop(&e);
}
END_TEST

/* The lists are fetched again when the TTL ran out and on a reload. */
START_TEST(t_models_refresh)
{
	struct env e;
	char *log;
	int n;

	models_env(&e, ",\n \"models_ttl_seconds\": 1");
	ck_assert(gw_wait_log(&e, "models: provider gem: 2 upstream model(s)",
	    3, 6000));
	env_stop(&e);

	models_env(&e, "");
	sleep_ms(1500);
	log = read_file(e.proxy->log, NULL);
	n = gw_count(log, "models: provider oai: 2 upstream model(s)");
	ck_assert_int_eq(n, 1);
	kill(e.proxy->pid, SIGHUP);
	ck_assert(gw_wait_log(&e, "models: provider oai: 2 upstream model(s)",
	    2, 5000));
	env_stop(&e);
}
END_TEST

/* An upstream that never answers its list: the request does not wait. */
START_TEST(t_models_no_wait)
{
	struct env e;
	struct resp r;
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	long long t0;
	int lfd;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	gw_env(&e, strf("{\"listen\": \"127.0.0.1:0\", \"api_keys\": "
	    "[\"sk-test\"],\n \"providers\": [{\"name\": \"mute\", \"type\": "
	    "\"openai\", \"base_url\": \"http://127.0.0.1:%d/v1\"}],\n"
	    " \"timeouts\": {\"first_byte_ms\": 30000},\n"
	    " \"models\": {\"mine\": \"mute\", \"*\": \"mute\"}}\n",
	    ntohs(sa.sin_port)));
	sleep_ms(300);
	t0 = mono_ms();
	models_get(e.port, "/v1/models", AUTH_CHAT, &r);
	ck_assert_int_lt(mono_ms() - t0, 1000 * scale);
	ck_str(r.body, "{\"object\":\"list\",\"data\":[{\"id\":\"mine\","
	    "\"object\":\"model\",\"created\":0,\"owned_by\":\"mute\"}]}");
	env_stop(&e);
	close(lfd);
}
END_TEST

/* ------------------------------------------------------------ TLS on IPs */

/* A proxy on config text (already complete) in e->cfg. */
static void
text_proxy(struct env *e, const char *text)
{
	FILE *f;
	static int seq;

	snprintf(e->cfg, sizeof e->cfg, "%s/first.%d.%d.json", tmpdir,
	    (int)getpid(), ++seq);
	f = fopen(e->cfg, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	gw_proxy_start(e);
}

/*
 * https upstreams addressed by IP: the certificate with IP:127.0.0.1 is
 * accepted, one without an IP SAN is refused naming that, an untrusted one
 * is refused as untrusted; "ca_file_add" adds the test CA to the "system"
 * set ($SSL_CERT_FILE, here an unrelated CA), which stays in force.
 */
START_TEST(t_tls_ip_upstreams)
{
	struct env e, u;
	struct resp r;
	char *log;

	memset(&e, 0, sizeof e);
	e.tls_mock = start_mock("tests/certs/server.pem",
	    "tests/certs/server.key", &e.tls_port);
	e.bad_mock = start_mock("tests/certs/server-wrongname.pem",
	    "tests/certs/server-wrongname.key", &e.bad_port);
	setenv("SSL_CERT_FILE", "tests/certs/other-ca.pem", 1);
	text_proxy(&e, strf("{\"listen\": \"127.0.0.1:0\",\n"
	    " \"providers\": [\n"
	    "  {\"name\": \"ip\", \"type\": \"openai\", \"base_url\": "
	    "\"https://127.0.0.1:%d/v1\", \"api_key\": \"k\"},\n"
	    "  {\"name\": \"noip\", \"type\": \"openai\", \"base_url\": "
	    "\"https://127.0.0.1:%d/v1\", \"api_key\": \"k\"}],\n"
	    " \"models\": {\"gpt-*\": \"ip\", \"noip-*\": \"noip/gpt-4o\"},\n"
	    " \"ca_file_add\": [\"tests/certs/ca.pem\"],\n"
	    " \"retry\": {\"max_attempts\": 1}}\n", e.tls_port, e.bad_port));
	log = read_file(e.proxy->log, NULL);
	ck_assert_msg(strstr(log, "loaded 2 trust anchors from "
	    "tests/certs/other-ca.pem + tests/certs/ca.pem") != NULL, "%s", log);
	post_to(e.port, "/v1/chat/completions", chat_body("gpt-4o", 0), &r);
	expect_status(&r, 200);
	post_to(e.port, "/v1/chat/completions", chat_body("gpt-4o", 1), &r);
	expect_status(&r, 200);
	post_to(e.port, "/v1/chat/completions", chat_body("noip-x", 0), &r);
	expect_openai_error(&r, 502, "certificate not valid for this IP "
	    "address");
	ck_assert_ptr_null(strstr(r.body, "hostname mismatch"));
	proc_stop(e.proxy, 5000 * scale);

	/* without the addition: untrusted, said as such on an IP */
	memset(&u, 0, sizeof u);
	text_proxy(&u, strf("{\"listen\": \"127.0.0.1:0\",\n"
	    " \"providers\": [{\"name\": \"ip\", \"type\": \"openai\", "
	    "\"base_url\": \"https://127.0.0.1:%d/v1\", \"api_key\": \"k\"}],\n"
	    " \"models\": {\"*\": \"ip\"}}\n", e.tls_port));
	post_to(u.port, "/v1/chat/completions", chat_body("gpt-4o", 0), &r);
	expect_openai_error(&r, 502, "certificate not trusted");
	ck_assert_ptr_null(strstr(r.body, "mismatch"));
	proc_stop(u.proxy, 5000 * scale);
	proc_stop(e.tls_mock, 5000 * scale);
	proc_stop(e.bad_mock, 5000 * scale);
	unsetenv("SSL_CERT_FILE");
}
END_TEST

/* A wildcard address in environment mode without keys: refused, saying
 * which variables open it (not a config file's fields). */
START_TEST(t_start_open_refused)
{
	char *argv[8];
	struct proc *p;
	char *log;
	int st;

	env_clear();
	setenv("OPENAI_API_KEY", "sk-x", 1);
	argv[0] = (char *)proxy_bin;
	argv[1] = "-l";
	argv[2] = ":0";
	argv[3] = NULL;
	p = spawn("proxy", argv);
	ck_assert_int_eq(waitpid(p->pid, &st, 0), p->pid);
	p->pid = 0;
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 1);
	log = read_file(p->log, NULL);
	ck_assert_msg(strstr(log, "refusing to listen on 0.0.0.0:0 (not a "
	    "loopback address) without client keys: set LLMPROXY_API_KEYS="
	    "key1,key2, or LLMPROXY_ALLOW_OPEN=1") != NULL, "%s", log);
	ck_assert_ptr_null(strstr(log, "api_keys"));
}
END_TEST

/* see itest.h */
void
it_first(Suite *s)
{
	TCase *t;

	t = tc(s, "first", 0);
	tcase_add_test(t, t_start_nothing_configured);
	tcase_add_test(t, t_start_client_lines);
	tcase_add_test(t, t_start_open_refused);
	tcase_add_test(t, t_tls_ip_upstreams);
	tcase_add_test(t, t_models_merged);
	tcase_add_test(t, t_models_refresh);
	tcase_add_test(t, t_models_no_wait);
}
