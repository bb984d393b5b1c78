/*
 * it_accounts.c - subscription accounts end to end: the login commands
 * against the mock authorization servers (tests/mock_oauth.c), the token
 * store on disk, requests through each account kind to the mock upstream
 * (tests/mock_upstream.c, which refuses a request lacking what that
 * kind's client sends), renewal ahead of expiry and on a 401, a refused
 * renewal failing over, a tampered file, and a login made while the proxy
 * runs. Every endpoint is overridden to the loopback mocks through the
 * LLMPROXY_<KIND>_<NAME> variables; nothing here leaves the machine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

struct oauth {
	struct proc *p;
	int port;
};

static int oauth_port;        /* "OAUTH" in a config */

/* The mock authorization server; its Copilot tokens name the upstream
 * mock at upstream_port. Sets the endpoint variables for what this test
 * starts after. */
static void
oauth_start(struct oauth *o, int upstream_port)
{
	char *argv[8], *bin, base[64];
	const char *slash = strrchr(mock_bin, '/');
	int n = 0;

	bin = slash ? strf("%.*smock_oauth", (int)(slash - mock_bin + 1),
	    mock_bin) : strf("mock_oauth");
	argv[n++] = bin;
	argv[n++] = "--upstream-port";
	argv[n++] = strf("%d", upstream_port);
	argv[n] = NULL;
	o->p = spawn("oauth", argv);
	o->port = wait_log_number(o->p, "listening ");
	ck_assert_int_gt(o->port, 0);
	oauth_port = o->port;
	snprintf(base, sizeof base, "http://127.0.0.1:%d", o->port);
	setenv("LLMPROXY_CLAUDE_AUTHORIZE_URL", strf("%s/authorize", base), 1);
	setenv("LLMPROXY_CLAUDE_TOKEN_URL", strf("%s/claude/token", base), 1);
	setenv("LLMPROXY_CODEX_AUTHORIZE_URL", strf("%s/authorize", base), 1);
	setenv("LLMPROXY_CODEX_TOKEN_URL", strf("%s/codex/token", base), 1);
	setenv("LLMPROXY_GEMINI_AUTHORIZE_URL", strf("%s/authorize", base), 1);
	setenv("LLMPROXY_GEMINI_TOKEN_URL", strf("%s/gemini/token", base), 1);
	setenv("LLMPROXY_GEMINI_USER_URL", strf("%s/gemini/userinfo", base), 1);
	setenv("LLMPROXY_GEMINI_CODE_ASSIST_URL",
	    strf("%s/gemini/v1internal", base), 1);
	setenv("LLMPROXY_COPILOT_DEVICE_URL",
	    strf("%s/github/device/code", base), 1);
	setenv("LLMPROXY_COPILOT_TOKEN_URL",
	    strf("%s/github/access_token", base), 1);
	setenv("LLMPROXY_COPILOT_USER_URL", strf("%s/github/user", base), 1);
	setenv("LLMPROXY_COPILOT_EXCHANGE_URL",
	    strf("%s/github/copilot_internal/v2/token", base), 1);
	setenv("LLMPROXY_GEMINI_ONBOARD_POLL_MS", "50", 1);
	/* never a real browser */
	unsetenv("BROWSER");
	unsetenv("DISPLAY");
	unsetenv("WAYLAND_DISPLAY");
}

/* A control request to the mock authorization server. */
static void
oauth_ctl(const struct oauth *o, const char *path)
{
	struct resp r;

	exchange(o->port, req_text("POST", path, NULL, "{}"), &r);
	expect_status(&r, 200);
}

static long long
oauth_stat(const struct oauth *o, const char *path)
{
	struct resp r;

	exchange(o->port, req_text("GET", "/_stats", NULL, NULL), &r);
	expect_status(&r, 200);
	return jint(r.body, path, -1);
}

/* A state directory of the test's own (login and proxy share it). */
static char *
state_dir(const char *tag)
{
	char *sd = strf("%s/st.%d.%s", tmpdir, (int)getpid(), tag);

	setenv("LLMPROXY_STATE_DIR", sd, 1);
	return sd;
}

/* ------------------------------------------------------------ commands */

struct cmd {
	struct proc *p;
	int in;                   /* its stdin, or -1 */
};

/* Start `llmproxy ARGS...` with its stdin on a pipe. */
static void
cmd_start(struct cmd *c, const char *const *args)
{
	char *argv[48];
	int n = 0, i, pfd[2], save;

	for (i = 0; i < nwrap; i++)
		argv[n++] = wrap_argv[i];
	argv[n++] = (char *)proxy_bin;
	for (i = 0; args[i] != NULL && n < 46; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	save = dup(0);
	ck_assert_int_ge(save, 0);
	ck_assert_int_eq(dup2(pfd[0], 0), 0);     /* inherited by the child */
	c->p = spawn(args[0], argv);
	ck_assert_int_eq(dup2(save, 0), 0);
	close(save);
	close(pfd[0]);
	c->in = pfd[1];
}

/* Wait for needle in the command's output; the output so far. */
static char *
cmd_wait_out(struct cmd *c, const char *needle, int ms)
{
	long long end = mono_ms() + (long long)ms * scale;

	for (;;) {
		char *s = read_file(c->p->log, NULL);
		if (s && strstr(s, needle))
			return s;
		free(s);
		if (mono_ms() > end) {
			dump_log(c->p->what, c->p->log);
			ck_abort_msg("%s: no \"%s\" in its output", c->p->what,
			    needle);
		}
		sleep_ms(20);
	}
}

/* Wait for the command to exit: its status; its output in *out. */
static int
cmd_exit(struct cmd *c, int ms, char **out)
{
	long long end = mono_ms() + (long long)ms * scale;
	int st;

	if (c->in >= 0)
		close(c->in);
	c->in = -1;
	for (;;) {
		if (waitpid(c->p->pid, &st, WNOHANG) == c->p->pid)
			break;
		if (mono_ms() > end) {
			dump_log(c->p->what, c->p->log);
			ck_abort_msg("%s did not finish", c->p->what);
		}
		sleep_ms(20);
	}
	c->p->pid = 0;
	*out = read_file(c->p->log, NULL);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run a command to its end: exit status, output in *out. */
static int
cmd_run(const char *const *args, char **out)
{
	struct cmd c;

	cmd_start(&c, args);
	return cmd_exit(&c, 20000, out);
}

/* The authorize URL a login printed ("  http://...authorize?...\n"). */
static char *
login_url(const char *out)
{
	const char *a = strstr(out, "/authorize?"), *e;

	ck_assert_msg(a != NULL, "no authorize URL in:\n%s", out);
	e = strchr(a, '\n');
	ck_assert_ptr_nonnull(e);
	return strf("%.*s", (int)(e - a), a);
}

/* The browser's part: the mock's answer to the authorize URL is a 302 to
 * the callback with code and state; that redirect URL. */
static char *
browser(const struct oauth *o, const char *authorize_path)
{
	struct resp r;
	const char *loc;

	exchange(o->port, req_text("GET", authorize_path, NULL, NULL), &r);
	expect_status(&r, 302);
	loc = resp_hdr(&r, "location");
	ck_assert_ptr_nonnull(loc);
	ck_assert_msg(strstr(loc, "code=") && strstr(loc, "&state="), "%s",
	    loc);
	return strdup(loc);
}

static void
paste(struct cmd *c, const char *line)
{
	char *s = strf("%s\n", line);

	ck_assert_int_eq(write(c->in, s, strlen(s)), (ssize_t)strlen(s));
}

/*
 * Log in an account of kind with label name against the mocks: Claude
 * pastes "code#state", Gemini the redirect URL, Codex goes through the
 * loopback callback (a forged state first, which must be refused), and
 * Copilot through the device flow. The command's output.
 */
static char *
login(const struct oauth *o, const char *kind, const char *name)
{
	struct cmd c;
	char *out, *loc;
	int rc;

	if (strcmp(kind, "copilot") == 0) {
		const char *args[] = { "login", kind, "--name", name,
		    "--no-browser", NULL };
		cmd_start(&c, args);
		rc = cmd_exit(&c, 20000, &out);
	} else if (strcmp(kind, "codex") == 0) {
		const char *args[] = { "login", kind, "--name", name, NULL };
		int cport = closed_port();
		struct resp r;
		const char *q;
		char *path;

		setenv("LLMPROXY_CODEX_CALLBACK_PORT", strf("%d", cport), 1);
		cmd_start(&c, args);
		out = cmd_wait_out(&c, "Waiting for the browser", 10000);
		ck_assert_ptr_nonnull(strstr(out, strf("redirect_uri=http%%3A%%2F"
		    "%%2Flocalhost%%3A%d%%2Fauth%%2Fcallback", cport)));
		loc = browser(o, login_url(out));
		q = strstr(loc, "/auth/callback?");
		ck_assert_msg(q != NULL, "%s", loc);
		/* an answer for another login: refused, still waiting */
		exchange(cport, req_text("GET", "/auth/callback?code=code-x&"
		    "state=forged-state-000000000000", NULL, NULL), &r);
		expect_status(&r, 400);
		path = strf("%s", q);
		exchange(cport, req_text("GET", path, NULL, NULL), &r);
		expect_status(&r, 200);
		ck_assert_ptr_nonnull(strstr(r.body, "Logged in"));
		rc = cmd_exit(&c, 10000, &out);
	} else {
		const char *args[] = { "login", kind, "--name", name,
		    "--no-browser", NULL };
		cmd_start(&c, args);
		out = cmd_wait_out(&c, "paste the code", 10000);
		loc = browser(o, login_url(out));
		if (strcmp(kind, "claude") == 0) {
			/* Claude's page shows code#state */
			char *code = strstr(loc, "code=") + 5;
			char *amp = strchr(code, '&');
			*amp = 0;
			paste(&c, strf("%s#%s", code, amp + 7));
		} else {
			paste(&c, loc);
		}
		rc = cmd_exit(&c, 10000, &out);
	}
	ck_assert_msg(rc == 0, "login %s exited %d:\n%s", kind, rc, out);
	ck_assert_msg(strstr(out, strf("Stored as account \"%s\"", name)) !=
	    NULL, "%s", out);
	return out;
}

/* The bytes of an account file (its mode in *mode). */
static char *
acct_file(const char *sd, const char *label, mode_t *mode, size_t *n)
{
	char *path = strf("%s/accounts/%s.json", sd, label);
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
	*mode = st.st_mode & 07777;
	return read_file(path, n);
}

/* ------------------------------------------------------------ proxy */

/* A proxy on a config with one provider per account kind (pointed at the
 * upstream mock) and the extra providers and models given. */
#define ACCT_CFG(extra_prov, extra_models) \
	"{\"listen\": \"127.0.0.1:0\", \"api_keys\": [\"sk-test\"],\n" \
	" \"admin_key\": \"adm-secret\",\n" \
	" \"providers\": [\n" \
	"  {\"name\": \"claude\", \"type\": \"claude-account\", \"base_url\": \"http://127.0.0.1:MOCK\"},\n" \
	"  {\"name\": \"codex\", \"type\": \"codex-account\", \"base_url\": \"http://127.0.0.1:MOCK/backend-api/codex\"},\n" \
	"  {\"name\": \"gemini\", \"type\": \"gemini-account\", \"base_url\": \"http://127.0.0.1:MOCK\"},\n" \
	"  {\"name\": \"copilot\", \"type\": \"copilot-account\", \"base_url\": \"http://127.0.0.1:MOCK\"}" \
	extra_prov "],\n" \
	" \"models\": {\"c-*\": \"claude\", \"x-*\": \"codex\", \"g-*\": \"gemini\", \"p-*\": \"copilot\"" \
	extra_models "}}\n"

/* The upstream mock first (the Copilot token names it), then the
 * authorization server. */
static void
mocks_start(struct env *e, struct oauth *o)
{
	memset(e, 0, sizeof *e);
	e->mock = start_mock(NULL, NULL, &e->mock_port);
	oauth_start(o, e->mock_port);
}

/* text with every from replaced by to (a new string). */
static char *
subst(const char *text, const char *from, const char *to)
{
	char *out = strdup("");
	const char *p = text, *m;

	while ((m = strstr(p, from)) != NULL) {
		out = strf("%s%.*s%s", out, (int)(m - p), p, to);
		p = m + strlen(from);
	}
	return strf("%s%s", out, p);
}

static void
proxy_start(struct env *e, const char *text)
{
	char *cfg = subst(subst(text, "MOCK", strf("%d", e->mock_port)),
	    "OAUTH", strf("%d", oauth_port));
	snprintf(e->cfg, sizeof e->cfg, "%s/acct.%d.json", tmpdir,
	    (int)getpid());
	{
		FILE *f = fopen(e->cfg, "w");
		ck_assert_ptr_nonnull(f);
		fputs(cfg, f);
		ck_assert_int_eq(fclose(f), 0);
	}
	gw_proxy_start(e);
}

/* Nothing the mocks issued appears in the proxy's log. */
static void
log_has_no_tokens(struct env *e)
{
	char *log = gw_log(e);

	ck_assert_msg(strstr(log, "mockat.") == NULL &&
	    strstr(log, "rt-claude") == NULL && strstr(log, "rt-codex") == NULL &&
	    strstr(log, "rt-gemini") == NULL && strstr(log, "gho_mock") == NULL,
	    "a token in the proxy's log:\n%s", log);
}

/* ------------------------------------------------------------ tests */

/* Each login command end to end, the store on disk, list and remove. */
START_TEST(login_each_kind)
{
	struct oauth o;
	char *sd, *out, *f;
	const char *kinds[] = { "claude", "codex", "gemini", "copilot" };
	const char *names[] = { "cl", "cx", "gm", "cp" };
	const char *who[] = { "claude-user@example.com",
	    "codex-user@example.com", "gemini-user@example.com",
	    "octocat-mock" };
	struct stat st;
	mode_t mode;
	size_t n;
	int i;

	unsetenv("LLMPROXY_SECRET");
	sd = state_dir("login");
	oauth_start(&o, 1);
	for (i = 0; i < 4; i++) {
		out = login(&o, kinds[i], names[i]);
		ck_assert_msg(strstr(out, who[i]) != NULL, "%s", out);
		ck_assert_msg(strstr(out, "account.key") != NULL, "%s", out);
	}
	ck_assert_ptr_nonnull(strstr(out, "WDJB-MJHT"));   /* the user code */
	/* device flow: pending, slow_down (interval 2 s), then the token -
	 * a poll sooner than asked would have been one more slow_down */
	ck_assert_int_eq(oauth_stat(&o, "polls"), 3);
	ck_assert_int_eq(oauth_stat(&o, "copilot_tokens"), 1);

	/* the store: 0700 directory, 0600 files and key, tokens sealed */
	ck_assert_int_eq(stat(strf("%s/accounts", sd), &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(stat(strf("%s/account.key", sd), &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	for (i = 0; i < 4; i++) {
		f = acct_file(sd, names[i], &mode, &n);
		ck_assert_int_eq(mode, 0600);
		ck_assert_msg(strstr(f, "\"sealed\":\"") != NULL, "%s", f);
		ck_assert_msg(strstr(f, "mockat.") == NULL &&
		    strstr(f, "rt-") == NULL && strstr(f, "gho_") == NULL &&
		    strstr(f, "eyJ") == NULL, "a token in plain text:\n%s", f);
		ck_assert_ptr_nonnull(strstr(f, who[i]));
	}
	f = acct_file(sd, "gm", &mode, &n);
	ck_assert_ptr_nonnull(strstr(f, "\"project\":\"mock-project\""));
	f = acct_file(sd, "cx", &mode, &n);
	ck_assert_ptr_nonnull(strstr(f, "\"account_id\":\"mock-account\""));

	{
		const char *args[] = { "accounts", "list", NULL };
		ck_assert_int_eq(cmd_run(args, &out), 0);
		for (i = 0; i < 4; i++)
			ck_assert_msg(strstr(out, names[i]) && strstr(out,
			    who[i]), "%s", out);
	}
	{
		const char *args[] = { "accounts", "remove", "cx", NULL };
		ck_assert_int_eq(cmd_run(args, &out), 0);
		ck_assert_int_ne(stat(strf("%s/accounts/cx.json", sd), &st), 0);
	}
	{
		const char *args[] = { "accounts", "remove", "cx", NULL };
		ck_assert_int_ne(cmd_run(args, &out), 0);
	}
	{
		/* a pasted code of another login is refused */
		const char *args[] = { "login", "claude", "--name", "x",
		    "--no-browser", NULL };
		struct cmd c;
		cmd_start(&c, args);
		out = cmd_wait_out(&c, "paste the code", 10000);
		paste(&c, "code-1#not-the-state");
		ck_assert_int_eq(cmd_exit(&c, 10000, &out), 1);
		ck_assert_msg(strstr(out, "state mismatch") != NULL, "%s", out);
	}
}
END_TEST

/* Each account kind upstream, from each client format, streamed and not. */
START_TEST(requests_each_kind)
{
	struct env e;
	struct oauth o;
	struct resp r;
	const char *models[] = { "c-text", "x-text", "g-text", "p-text" };
	int k, f, s;

	setenv("LLMPROXY_SECRET", "integration-secret-0123456789", 1);
	state_dir("req");
	mocks_start(&e, &o);
	login(&o, "claude", "cl");
	login(&o, "codex", "cx");
	login(&o, "gemini", "gm");
	login(&o, "copilot", "cp");
	proxy_start(&e, ACCT_CFG("", ""));
	for (k = 0; k < 4; k++)
		for (f = 0; f < CF_N; f++)
			for (s = 0; s < 2; s++) {
				char *t;
				cf_do(e.port, (enum cf)f, models[k], s, NULL,
				    NULL, &r);
				ck_assert_msg(r.status == 200, "%s from %s%s: "
				    "%d %s", models[k], cf_name[f], s ?
				    " (stream)" : "", r.status, r.body);
				t = cf_text((enum cf)f, s, &r);
				ck_assert_msg(t != NULL && t[0], "%s from %s: "
				    "no text: %s", models[k], cf_name[f],
				    r.body);
			}
	/* the upstream mock is strict: the same request without what the
	 * kind's client sends is refused */
	{
		char *tok = strf("Authorization: Bearer mockat.claude.1.%lld\r\n"
		    "anthropic-version: 2023-06-01\r\n"
		    "anthropic-beta: oauth-2025-04-20\r\n",
		    (long long)time(NULL) + 3600);
		exchange(e.mock_port, req_text("POST", "/v1/messages?beta=true",
		    tok, "{\"model\":\"c-text\",\"max_tokens\":16,\"messages\":"
		    "[{\"role\":\"user\",\"content\":\"Hello\"}]}"), &r);
		ck_assert_msg(r.status == 400 && strstr(r.body, "Claude Code"),
		    "%d %s", r.status, r.body);
		exchange(e.mock_port, req_text("POST", "/backend-api/codex/"
		    "responses", strf("Authorization: Bearer mockat.codex.1."
		    "%lld\r\nchatgpt-account-id: mock-account\r\n",
		    (long long)time(NULL) + 3600), "{\"model\":\"x-text\","
		    "\"stream\":true,\"store\":false,\"input\":\"Hello\"}"), &r);
		ck_assert_msg(r.status == 400, "%d %s", r.status, r.body);
	}
	/* a token count on Claude goes upstream too */
	exchange(e.port, req_text("POST", "/v1/messages/count_tokens",
	    AUTH_ANT, "{\"model\":\"c-text\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"Hello\"}]}"), &r);
	expect_status(&r, 200);
	ck_assert_int_gt(jint(r.body, "input_tokens", -1), 0);
	log_has_no_tokens(&e);
	ck_assert_int_eq(proc_stop(e.proxy, 10000 * scale), 0);
}
END_TEST

/*
 * A Copilot provider without a base_url sends an account's requests to the
 * API host its token names (endpoints.api: the authorization mock names
 * the upstream mock, on loopback), never to the default host; with a
 * base_url set, the base_url wins (requests_each_kind). The proxy runs on
 * the tests' resolver in strict mode, so a lookup of the default host
 * would be refused, and seen in the log, instead of leaving the machine.
 */
START_TEST(copilot_api_host)
{
	const char *shim = getenv("DNSSHIM");
	struct env e;
	struct oauth o;
	struct resp r;
	char *log, *t;
	int f;

	setenv("LLMPROXY_SECRET", "integration-secret-0123456789", 1);
	state_dir("cphost");
	mocks_start(&e, &o);
	login(&o, "copilot", "cp");
	if (shim != NULL && *shim != 0) {
		setenv("LD_PRELOAD", shim, 1);
		setenv("DNSSHIM_STRICT", "1", 1);
		/* the shim is not built with ASan: load it after the runtime */
		setenv("ASAN_OPTIONS", "detect_leaks=1:"
		    "verify_asan_link_order=0", 1);
	}
	proxy_start(&e, "{\"listen\": \"127.0.0.1:0\", \"api_keys\": "
	    "[\"sk-test\"],\n \"providers\": [{\"name\": \"copilot\", \"type\": "
	    "\"copilot-account\"}],\n \"models\": {\"p-*\": \"copilot\"}}\n");
	unsetenv("LD_PRELOAD");
	unsetenv("DNSSHIM_STRICT");
	for (f = 0; f < CF_N; f++) {
		cf_do(e.port, (enum cf)f, "p-text", f % 2, NULL, NULL, &r);
		ck_assert_msg(r.status == 200, "%s: %d %s", cf_name[f],
		    r.status, r.body);
		t = cf_text((enum cf)f, f % 2, &r);
		ck_assert_msg(t != NULL && t[0], "%s: no text: %s", cf_name[f],
		    r.body);
	}
	log = gw_log(&e);
	ck_assert_msg(strstr(log, "dnsshim: refused") == NULL, "%s", log);
	log_has_no_tokens(&e);
	ck_assert_int_eq(proc_stop(e.proxy, 10000 * scale), 0);
}
END_TEST

/* Renewal ahead of expiry (no request needed), once on a 401, and a
 * refused renewal failing over to the next account. */
START_TEST(refresh_and_failover)
{
	struct env e;
	struct oauth o;
	struct resp r;
	char *acc, *log;

	setenv("LLMPROXY_SECRET", "integration-secret-0123456789", 1);
	state_dir("refresh");
	mocks_start(&e, &o);
	/* b1's refresh token dies; a1's token expires in 20 s; b2 is fine */
	oauth_ctl(&o, "/_ttl?s=20");
	login(&o, "claude", "b1");
	oauth_ctl(&o, "/_revoke");
	login(&o, "claude", "a1");
	oauth_ctl(&o, "/_ttl?s=3600");
	login(&o, "claude", "b2");
	ck_assert_int_eq(oauth_stat(&o, "refresh.claude"), 0);
	proxy_start(&e, ACCT_CFG(",\n"
	    "  {\"name\": \"one\", \"type\": \"claude-account\", \"base_url\": \"http://127.0.0.1:MOCK\", \"accounts\": [\"a1\"]},\n"
	    "  {\"name\": \"two\", \"type\": \"claude-account\", \"base_url\": \"http://127.0.0.1:MOCK\", \"accounts\": [\"b1\", \"b2\"], \"strategy\": \"fill-first\"}",
	    ", \"one-*\": \"one\", \"two-*\": \"two\""));
	/* both near-expiry tokens are renewed before any request */
	ck_assert_msg(gw_wait_log(&e, "account a1: token renewed", 1, 5000),
	    "%s", gw_log(&e));
	ck_assert_msg(gw_wait_log(&e, "account b1: token renewal refused", 1,
	    5000), "%s", gw_log(&e));
	/* a1 is shared by the provider "claude" and "one": renewed once */
	ck_assert_int_eq(oauth_stat(&o, "refresh.claude"), 2);

	/* b1 is out: "two" answers from b2 */
	cf_do(e.port, CF_CHAT, "two-text", 0, NULL, "X-Request-Id: fo-1\r\n",
	    &r);
	ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
	acc = gw_access(&e, "fo-1");
	ck_assert_msg(strstr(acc, "cred=b2") != NULL, "%s", acc);
	exchange(e.port, req_text("GET", "/admin/providers",
	    "Authorization: Bearer adm-secret\r\n", NULL), &r);
	expect_status(&r, 200);
	ck_assert_msg(strstr(r.body, "b1") && strstr(r.body, "renewal "
	    "refused"), "%s", r.body);

	/* the upstream refuses a1's token once: one renewal, one retry */
	cf_do(e.port, CF_ANT, "one-401once", 0, NULL, NULL, &r);
	ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
	ck_assert_int_eq(oauth_stat(&o, "refresh.claude"), 3);
	log = gw_log(&e);
	ck_assert_int_eq(gw_count(log, "account a1: token renewed"), 2);

	/* refused again after the renewal: the 401 stands, a1 is out, and
	 * the answers say which account to look at */
	cf_do(e.port, CF_CHAT, "one-error401", 0, NULL, NULL, &r);
	ck_assert_int_ne(r.status, 200);
	ck_assert_int_eq(oauth_stat(&o, "refresh.claude"), 4);
	cf_do(e.port, CF_CHAT, "one-text", 0, NULL, NULL, &r);
	ck_assert_msg(r.status == 502 && strstr(r.body, "rejected the account "
	    "'a1' (HTTP 401)"), "%d %s", r.status, r.body);
	log_has_no_tokens(&e);
	ck_assert_int_eq(proc_stop(e.proxy, 10000 * scale), 0);
}
END_TEST

/* Requests arriving during one renewal wait for it; one renewal serves
 * them all. */
START_TEST(concurrent_during_refresh)
{
	struct env e;
	struct oauth o;
	struct client c[4];
	struct resp r;
	int i;

	setenv("LLMPROXY_SECRET", "integration-secret-0123456789", 1);
	state_dir("conc");
	mocks_start(&e, &o);
	login(&o, "codex", "cx");
	proxy_start(&e, ACCT_CFG("", ""));
	/* the next token from the upstream is refused, and renewals take
	 * 800 ms: every request meets the same renewal */
	oauth_ctl(&o, "/_delay?ms=800");
	for (i = 0; i < 4; i++) {
		client_open(&c[i], e.port);
		client_send(&c[i], cf_req(CF_CHAT, "x-401once", i & 1, NULL,
		    NULL, -1));
	}
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(read_response(&c[i], &r, 0, IO_MS), 0);
		ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
		client_close(&c[i]);
	}
	ck_assert_int_eq(oauth_stat(&o, "refresh.codex"), 1);
	ck_assert_int_eq(proc_stop(e.proxy, 10000 * scale), 0);
}
END_TEST

/* A tampered file is refused with a clear message, the proxy goes on
 * with the other account; a login made while it runs is picked up. */
START_TEST(tamper_and_pickup)
{
	struct env e;
	struct oauth o;
	struct resp r;
	char *sd, *f, *path, *log;
	mode_t mode;
	size_t n;
	FILE *fp;
	long long end;

	setenv("LLMPROXY_SECRET", "integration-secret-0123456789", 1);
	sd = state_dir("tamper");
	mocks_start(&e, &o);
	login(&o, "claude", "t1");
	login(&o, "claude", "t2");
	/* t1's identity changed: authenticated data, so refused */
	f = acct_file(sd, "t1", &mode, &n);
	replace_all(f, n + 1, "claude-user@", "claude-evil@");
	path = strf("%s/accounts/t1.json", sd);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(f, fp);
	ck_assert_int_eq(fclose(fp), 0);
	proxy_start(&e, ACCT_CFG("", ""));
	ck_assert_msg(gw_wait_log(&e, "account t1: cannot be used: ", 1, 5000),
	    "%s", gw_log(&e));
	log = gw_log(&e);
	ck_assert_msg(strstr(log, "t1.json: authentication failed"), "%s",
	    log);
	cf_do(e.port, CF_CHAT, "c-text", 0, NULL, "X-Request-Id: tp-1\r\n",
	    &r);
	ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
	ck_assert_ptr_nonnull(strstr(gw_access(&e, "tp-1"), "cred=t2"));

	/* no Codex account yet */
	cf_do(e.port, CF_CHAT, "x-text", 0, NULL, NULL, &r);
	ck_assert_int_ne(r.status, 200);
	login(&o, "codex", "late");
	end = mono_ms() + 5000LL * scale;
	for (;;) {
		cf_do(e.port, CF_CHAT, "x-text", 0, NULL, NULL, &r);
		if (r.status == 200 || mono_ms() > end)
			break;
		sleep_ms(100);
	}
	ck_assert_msg(r.status == 200, "%d %s\n%s", r.status, r.body,
	    gw_log(&e));

	/* an account file turned to garbage under the running proxy */
	fp = fopen(strf("%s/accounts/t2.json", sd), "w");
	ck_assert_ptr_nonnull(fp);
	fputs("{\"llmproxy_account\":1,\"kind\":", fp);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_msg(gw_wait_log(&e, "account t2: ", 1, 5000), "%s",
	    gw_log(&e));
	cf_do(e.port, CF_CHAT, "c-text", 0, NULL, NULL, &r);
	ck_assert_int_ne(r.status, 200);
	cf_do(e.port, CF_CHAT, "x-text", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	log_has_no_tokens(&e);
	ck_assert_int_eq(proc_stop(e.proxy, 10000 * scale), 0);
}
END_TEST

/* The credentials the upstream mock saw for model, in order. */
static char *
creds_of(const struct env *e, const char *model)
{
	struct resp r;
	char *out = strdup(""), *m, p[64];
	int i;

	mock_get(e, "/_creds", &r);
	for (i = 0; i < 64; i++) {
		snprintf(p, sizeof p, "requests.%d.model", i);
		if ((m = jstr(r.body, p)) == NULL)
			break;
		if (strcmp(m, model) != 0)
			continue;
		snprintf(p, sizeof p, "requests.%d.cred", i);
		out = strf("%s%s%s", out, *out ? "," : "", jstr(r.body, p));
	}
	return out;
}

/* Token exchange credentials (form-encoded with expires_in, JSON with a
 * JWT's exp), a Claude Code login imported, and accounts sealed under
 * another key. */
START_TEST(exchange_import_wrong_key)
{
	struct env e;
	struct oauth o;
	struct resp r;
	char *path, *out, *c;
	FILE *fp;

	setenv("LLMPROXY_SECRET", "integration-secret-0123456789", 1);
	setenv("TX_TOKEN", "long-lived-token", 1);
	state_dir("tx");
	mocks_start(&e, &o);
	/* Claude Code's own credentials file */
	path = strf("%s/claude-code.%d.json", tmpdir, (int)getpid());
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "{\"claudeAiOauth\":{\"accessToken\":\"mockat.claude.900."
	    "%lld\",\"refreshToken\":\"rt-imported\",\"expiresAt\":%lld000,"
	    "\"scopes\":[\"user:inference\"],\"subscriptionType\":\"max\"}}",
	    (long long)time(NULL) + 7200, (long long)time(NULL) + 7200);
	ck_assert_int_eq(fclose(fp), 0);
	{
		const char *args[] = { "accounts", "import", "claude", "--from",
		    path, "--name", "imp", NULL };
		int rc = cmd_run(args, &out);
		ck_assert_msg(rc == 0, "import: %d %s", rc, out);
	}
	proxy_start(&e, ACCT_CFG(",\n"
	    "  {\"name\": \"txf\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\",\n"
	    "   \"token_exchange\": {\"url\": \"http://127.0.0.1:OAUTH/exchange\", \"token\": \"env:TX_TOKEN\",\n"
	    "     \"fields\": {\"grant_type\": \"urn:ietf:params:oauth:grant-type:jwt-bearer\", \"assertion\": \"{token}\"}}},\n"
	    "  {\"name\": \"txj\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\",\n"
	    "   \"token_exchange\": {\"url\": \"http://127.0.0.1:OAUTH/exchange\", \"token\": \"env:TX_TOKEN\",\n"
	    "     \"format\": \"json\", \"token_field\": \"token\", \"fields\": {\"assertion\": \"{token}\"}}}",
	    ", \"f-*\": \"txf\", \"j-*\": \"txj\""));
	cf_do(e.port, CF_CHAT, "f-text", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	cf_do(e.port, CF_ANT, "f-text", 1, NULL, NULL, &r);
	expect_status(&r, 200);
	cf_do(e.port, CF_CHAT, "j-text", 0, NULL, NULL, &r);
	expect_status(&r, 200);
	/* one exchange each, cached for the next requests */
	ck_assert_int_eq(oauth_stat(&o, "exchange"), 2);
	c = creds_of(&e, "f-text");
	ck_assert_msg(strncmp(c, "mockat.exchange.", 16) == 0 &&
	    strchr(c, ',') && strncmp(strchr(c, ',') + 1, c,
	    (size_t)(strchr(c, ',') - c)) == 0, "%s", c);
	c = creds_of(&e, "j-text");
	ck_assert_msg(strncmp(c, "eyJ", 3) == 0, "%s", c);
	/* the imported login works upstream */
	cf_do(e.port, CF_CHAT, "c-text", 0, NULL, "X-Request-Id: im-1\r\n", &r);
	ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
	ck_assert_ptr_nonnull(strstr(gw_access(&e, "im-1"), "cred=imp"));
	log_has_no_tokens(&e);
	ck_assert_int_eq(proc_stop(e.proxy, 10000 * scale), 0);

	/* the same store under another secret: refused as such */
	setenv("LLMPROXY_SECRET", "another-secret-0123456789", 1);
	proxy_start(&e, ACCT_CFG("", ""));
	ck_assert_msg(gw_wait_log(&e, "account imp: cannot be used: ", 1, 5000),
	    "%s", gw_log(&e));
	ck_assert_ptr_nonnull(strstr(gw_log(&e), "sealed with another key"));
	cf_do(e.port, CF_CHAT, "c-text", 0, NULL, NULL, &r);
	ck_assert_int_ne(r.status, 200);
	ck_assert_int_eq(proc_stop(e.proxy, 10000 * scale), 0);
}
END_TEST

void
it_accounts(Suite *s)
{
	TCase *t = tc(s, "accounts", 0);

	tcase_add_test(t, login_each_kind);
	tcase_add_test(t, requests_each_kind);
	tcase_add_test(t, copilot_api_host);
	tcase_add_test(t, refresh_and_failover);
	tcase_add_test(t, concurrent_during_refresh);
	tcase_add_test(t, tamper_and_pickup);
	tcase_add_test(t, exchange_import_wrong_key);
}
