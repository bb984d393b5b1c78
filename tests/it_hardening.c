/*
 * it_hardening.c - integration tests for what a fault and bad-input
 * campaign found: routing on exactly what is forwarded, log fields that
 * cannot forge lines, bounded work per turn, descriptor exhaustion, tiny
 * chunks, per-host DNS, the drain deadline, SIGHUP, interim responses and
 * the retry hints forwarded to clients.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

/* ------------------------------------------------------------ helpers */

/*
 * A mock and a proxy on a config given as text: every "MOCK" in it is
 * the mock's port. argv_pre (may be NULL) goes in front of the proxy's
 * command (e.g. a shell that lowers a limit first).
 */
static void
custom_env(struct env *e, const char *text, char **argv_pre)
{
	char *cfg = strdup(text), *p;
	char port[16];
	FILE *f;
	char *argv[64];
	int n = 0, i;
	static int seq;

	memset(e, 0, sizeof *e);
	e->mock = start_mock(NULL, NULL, &e->mock_port);
	snprintf(port, sizeof port, "%d", e->mock_port);
	while ((p = strstr(cfg, "MOCK")) != NULL) {
		char *nc = strf("%.*s%s%s", (int)(p - cfg), cfg, port, p + 4);
		free(cfg);
		cfg = nc;
	}
	snprintf(e->cfg, sizeof e->cfg, "%s/hard.%d.%d.json", tmpdir,
	    (int)getpid(), ++seq);
	f = fopen(e->cfg, "w");
	ck_assert_ptr_nonnull(f);
	fputs(cfg, f);
	fclose(f);
	free(cfg);
	for (i = 0; argv_pre && argv_pre[i]; i++)
		argv[n++] = argv_pre[i];
	for (i = 0; i < nwrap; i++)
		argv[n++] = wrap_argv[i];
	argv[n++] = (char *)proxy_bin;
	argv[n++] = "-c";
	argv[n++] = e->cfg;
	argv[n] = NULL;
	e->proxy = spawn("proxy", argv);
	e->port = wait_log_number(e->proxy, "listening on 127.0.0.1:");
}

/* The proxy's log so far (the access log is flushed every 100 ms). */
static char *
proxy_log(struct env *e)
{
	sleep_ms(250);
	return read_file(e->proxy->log, NULL);
}

/* The access line of the request with this id, or NULL. */
static char *
access_line(const char *log, const char *rid)
{
	char *key = strf("access id=%s ", rid);
	const char *at = strstr(log, key);
	const char *end;

	if (at == NULL)
		return NULL;
	end = strchr(at, '\n');
	return strf("%.*s", (int)(end ? end - at : (long)strlen(at)), at);
}

static int
count_str(const char *s, const char *needle)
{
	int n = 0;
	size_t k = strlen(needle);

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += k;
	}
	return n;
}

/* CPU ticks (user + system) the process has used. */
static long
cpu_ticks(pid_t pid)
{
	char path[64], *s, *p;
	long ut = 0, st = 0;
	int field;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	s = read_file(path, NULL);
	if (s == NULL)
		return -1;
	p = strrchr(s, ')');     /* the command name may hold spaces */
	for (field = 2; p && *p && field < 14; p++)
		if (*p == ' ')
			field++;
	if (p)
		sscanf(p, "%ld %ld", &ut, &st);
	free(s);
	return ut + st;
}

#define BASE_CFG \
	"{\"listen\": \"127.0.0.1:0\", \"api_keys\": [\"sk-test\"],\n" \
	" \"providers\": [\n" \
	"  {\"name\": \"oai\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:MOCK/v1\", \"api_key\": \"up-oai\"},\n" \
	"  {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:MOCK\", \"api_key\": \"up-ant\"}"

/* ------------------------------------------------------------ routing */

/* Two "model" keys: routing would read one and the upstream the other. */
START_TEST(t_dup_keys)
{
	struct resp r;

	post("/v1/chat/completions", "{\"model\":\"gpt-4o\",\"model\":\"claude-x\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
	expect_openai_error(&r, 400, "duplicate key \"model\"");
	post("/v1/messages", "{\"model\":\"claude-x\",\"max_tokens\":5,"
	    "\"messages\":[],\"stream\":false,\"stream\":true}", &r);
	expect_anthropic_error(&r, 400, NULL, "duplicate key \"stream\"");
	/* a NUL or a newline inside the name */
	post("/v1/chat/completions", "{\"model\":\"gpt-4o\\u0000claude-x\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
	expect_openai_error(&r, 400, "control characters");
	post("/v1/chat/completions", "{\"model\":\"gpt-4o\\nx\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
	expect_openai_error(&r, 400, "control characters");
}
END_TEST

/* The forwarded body names exactly the routed model, written any way. */
START_TEST(t_forwarded_model)
{
	struct resp r;
	const char *echo;

	post("/v1/chat/completions", "{\"model\":\"renamed\\u002decho\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
	expect_status(&r, 200);
	echo = jstr(r.body, "choices.0.message.content");
	ck_assert_ptr_nonnull(echo);
	ck_assert_msg(strstr(echo, "\"model\":\"gpt-echo-upstream\"") != NULL,
	    "upstream body: %s", echo);
	ck_assert_int_eq(count_str(echo, "\"model\""), 1);
	ck_assert_ptr_null(strstr(echo, "renamed"));
}
END_TEST

/* ------------------------------------------------------------ the log */

/* Client text in a field cannot forge a line or a field; every request
 * has an id, in the answer and the log; one line per request. */
START_TEST(t_log_fields)
{
	struct env e;
	struct resp r;
	char *log, *line;
	const char *rid;

	env_start(&e);
	exchange(e.port, req_text("POST", "/v1/chat/completions", AUTH_CHAT
	    "x-request-id: trace-42\r\n",
	    "{\"model\":\"nope status=200 key=admin\",\"messages\":[]}"), &r);
	expect_status(&r, 404);
	ck_str(resp_hdr(&r, "x-request-id"), "trace-42");
	post_to(e.port, "/v1/chat/completions", chat_body("gpt-4o", 0), &r);
	expect_status(&r, 200);
	rid = resp_hdr(&r, "x-request-id");
	ck_assert_msg(rid && strncmp(rid, "req_", 4) == 0 && strlen(rid) == 28,
	    "generated id %s", rid ? rid : "(none)");
	/* an id that is not a plain token is replaced */
	exchange(e.port, req_text("GET", "/health", "x-request-id: a b\"c\r\n",
	    NULL), &r);
	rid = resp_hdr(&r, "x-request-id");
	ck_assert_msg(rid && strncmp(rid, "req_", 4) == 0, "id %s", rid);

	log = proxy_log(&e);
	line = access_line(log, "trace-42");
	ck_assert_msg(line != NULL, "no access line for trace-42 in:\n%s", log);
	ck_assert_msg(strstr(line, " model=nope\\x20status\\x3d200\\x20key\\x3dadmin ")
	    != NULL, "model field not escaped: %s", line);
	ck_assert_int_eq(count_str(line, " status="), 1);
	ck_assert_msg(strstr(line, " status=404 ") != NULL, "%s", line);
	ck_assert_msg(strstr(line, " method=POST path=/v1/chat/completions ")
	    != NULL, "%s", line);
	ck_assert_msg(strstr(line, " client=127.0.0.1:") != NULL, "%s", line);
	ck_assert_msg(strstr(line, " error=model\\x20'nope") != NULL, "%s", line);
	/* one line per request, failed ones included */
	ck_assert_int_eq(count_str(log, "trace-42"), 1);
	ck_assert_ptr_null(strstr(log, "\nerror status="));
	env_stop(&e);
}
END_TEST

/* ------------------------------------------------------------ fairness */

/*
 * One upstream streaming as fast as it can (40 MB, converted) must not
 * hold up anyone else: /health answers promptly all along.
 */
START_TEST(t_flood_fairness)
{
	struct env e;
	pid_t reader;
	long long worst = 0, t0;
	int probes = 0, st;

	/* the mock takes a moment to build 40 MB: default timeouts */
	custom_env(&e, BASE_CFG "],\n \"models\": {\"claude-*\": \"ant\"}}\n",
	    NULL);
	reader = fork();
	ck_assert_int_ge(reader, 0);
	if (reader == 0) {
		struct client c;
		struct resp r;
		client_open(&c, e.port);
		client_send(&c, req_text("POST", "/v1/chat/completions",
		    AUTH_CHAT, chat_body("claude-flood", 1)));
		if (read_response(&c, &r, 0, 60000 * scale) < 0)
			_exit(2);
		if (!strstr(r.body, "[DONE]"))
			fprintf(stderr, "flood reader: %zu bytes: %.300s\n",
			    r.body_len, r.body);
		_exit(strstr(r.body, "[DONE]") && r.body_len > 30000000 ? 0 : 3);
	}
	sleep_ms(100);
	while (waitpid(reader, &st, WNOHANG) == 0) {
		struct resp r;
		t0 = mono_ms();
		exchange(e.port, req_text("GET", "/health", NULL, NULL), &r);
		expect_status(&r, 200);
		if (mono_ms() - t0 > worst)
			worst = mono_ms() - t0;
		probes++;
		sleep_ms(5);
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "the flood stream did not complete (status %d)", st);
	ck_assert_msg(probes >= 3, "the flood ended too soon to tell (%d probes)",
	    probes);
	ck_assert_msg(worst < 300 * scale, "/health took %lld ms during the flood "
	    "(%d probes)", worst, probes);
	env_stop(&e);
}
END_TEST

/* ------------------------------------------------------------ descriptors */

/*
 * Out of descriptors: the proxy sheds the connection it cannot take, stops
 * accepting for a moment instead of spinning on EMFILE, and serves again
 * once descriptors are free.
 */
START_TEST(t_emfile)
{
	struct env e;
	char *pre[] = { "sh", "-c", "ulimit -n 40 && exec \"$0\" \"$@\"", NULL };
	int fds[80], n = 0, i, shed = 0;
	long c0, c1;
	struct resp r;

	if (nwrap > 0)
		return;   /* valgrind needs descriptors of its own */
	custom_env(&e, BASE_CFG "],\n \"models\": {\"gpt-*\": \"oai\"}}\n", pre);
	for (i = 0; i < 80; i++) {
		fds[n] = tcp_connect(e.port);
		if (fds[n] >= 0)
			n++;
	}
	sleep_ms(300);
	/* the connections it could not keep got a 503 and were closed */
	for (i = 0; i < n; i++) {
		char b[256];
		ssize_t k = recv(fds[i], b, sizeof b - 1, MSG_DONTWAIT);
		if (k > 0) {
			b[k] = 0;
			if (strstr(b, " 503 ") && strstr(b, "too many connections"))
				shed++;
		}
	}
	ck_assert_msg(shed >= 1, "no connection was shed with a 503");
	c0 = cpu_ticks(e.proxy->pid);
	sleep_ms(1000);
	c1 = cpu_ticks(e.proxy->pid);
	ck_assert_msg(c1 - c0 < 30, "the proxy used %ld%% of a CPU while out of "
	    "descriptors", c1 - c0);
	for (i = 0; i < n; i++)
		close(fds[i]);
	sleep_ms(300);
	exchange(e.port, req_text("GET", "/health", NULL, NULL), &r);
	expect_status(&r, 200);
	env_stop(&e);
}
END_TEST

/*
 * A chunked body of 1-byte chunks: the framing never piles up in the
 * input buffer, and a body over the limit is refused at once with 413
 * (the shared config allows 100000 bytes; the header timeout is 500 ms).
 */
START_TEST(t_tiny_chunks)
{
	struct client c;
	struct resp r;
	char *body;
	size_t i, n = 110000, off = 0;
	long long t0;
	static const char head[] = "POST /v1/chat/completions HTTP/1.1\r\n"
	    "Host: x\r\n" AUTH_CHAT "Transfer-Encoding: chunked\r\n\r\n";

	body = malloc(n * 6 + 16);
	for (i = 0; i < n; i++) {
		memcpy(body + off, "1\r\nx\r\n", 6);
		off += 6;
	}
	client_open(&c, shared.port);
	t0 = mono_ms();
	client_send(&c, head);
	/* the proxy may answer and close before all of it is sent */
	for (i = 0; i < off; ) {
		ssize_t w = send(c.fd, body + i, off - i < 65536 ? off - i : 65536,
		    MSG_NOSIGNAL);
		if (w <= 0)
			break;
		i += (size_t)w;
	}
	ck_assert_int_eq(read_response(&c, &r, 0, IO_MS), 0);
	expect_openai_error(&r, 413, "too large");
	ck_assert_msg(mono_ms() - t0 < 450 * scale, "413 took %lld ms",
	    mono_ms() - t0);
	client_close(&c);
}
END_TEST

/* ------------------------------------------------------------ DNS */

/*
 * A lookup that hangs delays only requests to that host; a failed lookup
 * is answered with 502 and cached for a few seconds. The resolver is the
 * tests' own (dnsshim.c, through LD_PRELOAD): no name leaves the machine.
 */
START_TEST(t_dns_per_host)
{
	const char *shim = getenv("DNSSHIM");
	struct env e;
	struct client slow;
	struct resp r;
	char *log, *cfg;
	long long t0;

	if (shim == NULL || *shim == 0)
		return;
	setenv("LD_PRELOAD", shim, 1);
	setenv("ASAN_OPTIONS", "detect_leaks=1:verify_asan_link_order=0", 1);
	cfg = strf(BASE_CFG ",\n"
	    "  {\"name\": \"hangs\", \"type\": \"openai\", \"base_url\": \"http://api.hang.test:MOCK/v1\"},\n"
	    "  {\"name\": \"fails\", \"type\": \"openai\", \"base_url\": \"http://api.fail.test:MOCK/v1\"},\n"
	    "  {\"name\": \"fails2\", \"type\": \"openai\", \"base_url\": \"http://api.fail.test:MOCK/v1\"},\n"
	    "  {\"name\": \"named\", \"type\": \"openai\", \"base_url\": \"http://api.ok.test:MOCK/v1\"}],\n"
	    " \"models\": {\"hang-*\": \"hangs\", \"fail-*\": \"fails\", \"fail2-*\": \"fails2\",\n"
	    "  \"ok-*\": \"named\", \"gpt-*\": \"oai\"},\n"
	    " \"timeouts\": {\"connect_ms\": %d}}\n", 20000 * scale);
	custom_env(&e, cfg, NULL);
	unsetenv("LD_PRELOAD");
	log = read_file(e.proxy->log, NULL);
	if (log == NULL || strstr(log, "dnsshim: loaded") == NULL)
		return;   /* a static binary ignores LD_PRELOAD */

	client_open(&slow, e.port);
	client_send(&slow, req_text("POST", "/v1/chat/completions", AUTH_CHAT,
	    chat_body("hang-1", 0)));
	sleep_ms(100);
	/* another host answers while that lookup hangs */
	t0 = mono_ms();
	post_to(e.port, "/v1/chat/completions", chat_body("ok-text", 0), &r);
	expect_status(&r, 200);
	ck_assert_msg(mono_ms() - t0 < 1000 * scale, "took %lld ms",
	    mono_ms() - t0);
	post_to(e.port, "/v1/chat/completions", chat_body("gpt-4o", 0), &r);
	expect_status(&r, 200);
	/* a failure is a 502 that names the lookup, and is cached (a second
	 * provider on the same host: the first one now cools down) */
	post_to(e.port, "/v1/chat/completions", chat_body("fail-1", 0), &r);
	expect_openai_error(&r, 502, "DNS lookup of api.fail.test failed");
	post_to(e.port, "/v1/chat/completions", chat_body("fail2-1", 0), &r);
	expect_openai_error(&r, 502, "DNS lookup of api.fail.test failed");
	log = proxy_log(&e);
	ck_assert_int_eq(count_str(log, "dnsshim: lookup api.fail.test"), 1);
	ck_assert_int_eq(count_str(log, "dnsshim: lookup api.hang.test"), 1);
	client_close(&slow);
	env_stop(&e);
}
END_TEST

/* ------------------------------------------------------------ signals */

/*
 * Streams still running at the drain deadline end with the format's
 * error event, and the log says they were cut.
 */
START_TEST(t_drain_cut)
{
	struct env e;
	struct client c;
	struct resp r;
	struct chat_acc a;
	char *log;
	int st;
	long long deadline;

	custom_env(&e, BASE_CFG "],\n \"models\": {\"gpt-*\": \"oai\", \"claude-*\": \"ant\"},\n"
	    " \"timeouts\": {\"drain_ms\": 300}}\n", NULL);
	client_open(&c, e.port);
	client_send(&c, req_text("POST", "/v1/chat/completions", AUTH_CHAT
	    "x-request-id: drained\r\n", chat_body("claude-slow", 1)));
	ck_assert_int_eq(read_head(&c, &r, mono_ms() + IO_MS), 0);
	expect_status(&r, 200);
	ck_assert_int_eq(kill(e.proxy->pid, SIGTERM), 0);
	ck_assert_int_eq(read_body(&c, &r, 0, mono_ms() + IO_MS), 0);
	ck_assert_msg(r.complete, "the chunked body was not terminated");
	check_chat_stream(&r, &a);
	ck_assert_msg(a.error != NULL, "no error event at the cut:\n%s", r.body);
	ck_assert_msg(strstr(a.error, "shutting down") != NULL, "%s", a.error);
	ck_assert(!a.done);
	client_close(&c);
	deadline = mono_ms() + 5000LL * scale;
	while (mono_ms() < deadline &&
	    waitpid(e.proxy->pid, &st, WNOHANG) != e.proxy->pid)
		sleep_ms(10);
	e.proxy->pid = 0;
	log = read_file(e.proxy->log, NULL);
	ck_assert_msg(strstr(log, "id=drained ") != NULL, "%s", log);
	ck_assert_msg(strstr(strstr(log, "id=drained "), " cut=1") != NULL,
	    "not logged as cut:\n%s", log);
	proc_stop(e.mock, 2000);
}
END_TEST

/* SIGHUP never kills the process. */
START_TEST(t_sighup)
{
	struct env e;
	struct resp r;
	char *log;

	env_start(&e);
	ck_assert_int_eq(kill(e.proxy->pid, SIGHUP), 0);
	sleep_ms(200);
	post_to(e.port, "/v1/chat/completions", chat_body("gpt-4o", 0), &r);
	expect_status(&r, 200);
	log = proxy_log(&e);
	ck_assert_msg(strstr(log, "SIGHUP") != NULL, "SIGHUP not logged:\n%s",
	    log);
	env_stop(&e);
}
END_TEST

/* ------------------------------------------------------------ protocol */

/* An interim 103 before the answer is skipped, streamed or not. */
START_TEST(t_early_hints)
{
	struct resp r;
	struct chat_acc a;

	post("/v1/chat/completions", chat_body("gpt-earlyhints", 0), &r);
	expect_status(&r, 200);
	ck_assert_ptr_nonnull(jstr(r.body, "choices.0.message.content"));
	post("/v1/chat/completions", chat_body("claude-earlyhints", 1), &r);
	expect_status(&r, 200);
	check_chat_stream(&r, &a);
	ck_assert(a.done);
	ck_assert_ptr_null(a.error);
}
END_TEST

/*
 * A 429 keeps what the SDKs pace their retries with: Retry-After,
 * retry-after-ms, x-should-retry, the rate-limit headers (and their
 * equivalents in the client's format when converted) and the upstream's
 * request id; the proxy's own id is x-request-id.
 */
START_TEST(t_retry_hints)
{
	struct resp r;
	const char *v;

	/* same format */
	post("/v1/chat/completions", chat_body("gpt-error429", 0), &r);
	expect_status(&r, 429);
	ck_str(resp_hdr(&r, "retry-after"), "7");
	ck_str(resp_hdr(&r, "retry-after-ms"), "7000");
	ck_str(resp_hdr(&r, "x-should-retry"), "true");
	ck_str(resp_hdr(&r, "x-ratelimit-limit-requests"), "500");
	ck_str(resp_hdr(&r, "x-ratelimit-remaining-requests"), "0");
	ck_str(resp_hdr(&r, "x-ratelimit-reset-requests"), "7s");
	ck_str(resp_hdr(&r, "x-upstream-request-id"), "req_mockoai429");
	v = resp_hdr(&r, "x-request-id");
	ck_assert_msg(v && strncmp(v, "req_", 4) == 0 &&
	    strcmp(v, "req_mockoai429") != 0, "x-request-id %s", v);
	/* Anthropic upstream, Chat client: the OpenAI names too */
	post("/v1/chat/completions", chat_body("claude-error429", 0), &r);
	expect_status(&r, 429);
	ck_str(resp_hdr(&r, "retry-after"), "7");
	ck_str(resp_hdr(&r, "retry-after-ms"), "7000");
	ck_str(resp_hdr(&r, "request-id"), "req_mockant429");
	ck_str(resp_hdr(&r, "anthropic-ratelimit-requests-remaining"), "0");
	ck_str(resp_hdr(&r, "x-ratelimit-limit-requests"), "50");
	ck_str(resp_hdr(&r, "x-ratelimit-remaining-requests"), "0");
	v = resp_hdr(&r, "x-ratelimit-reset-requests");
	ck_assert_msg(v && (strcmp(v, "7s") == 0 || strcmp(v, "6s") == 0),
	    "reset %s", v ? v : "(none)");
	/* OpenAI upstream, Anthropic client: the Anthropic names too */
	post("/v1/messages", ant_body("a2o-error429", 0), &r);
	expect_status(&r, 429);
	ck_str(resp_hdr(&r, "x-ratelimit-remaining-requests"), "0");
	ck_str(resp_hdr(&r, "anthropic-ratelimit-requests-limit"), "500");
	ck_str(resp_hdr(&r, "anthropic-ratelimit-requests-remaining"), "0");
	v = resp_hdr(&r, "anthropic-ratelimit-requests-reset");
	ck_assert_msg(v && strlen(v) == 20 && v[10] == 'T' && v[19] == 'Z',
	    "reset %s", v ? v : "(none)");
	/* no hop-by-hop or framing header of the upstream's */
	ck_assert_int_eq(count_str(r.head, "Content-Length:") +
	    count_str(r.head, "content-length:"), 1);
}
END_TEST

/*
 * An upstream that refuses the proxy's credential: the client gets a 502
 * that names the provider and the credential's label (never the secret),
 * not a 401 that would look like its own key was wrong; the credential is
 * then out until a reload.
 */
START_TEST(t_upstream_auth)
{
	struct env e;
	struct resp r;
	const char *m;

	env_start(&e);
	post_to(e.port, "/v1/chat/completions", chat_body("gpt-error401", 0), &r);
	expect_openai_error(&r, 502, "the upstream provider 'oai' rejected "
	    "the proxy's credential 'oai#1' (HTTP 401)");
	ck_assert_ptr_null(strstr(r.body, "up-oai"));
	post_to(e.port, "/v1/messages", ant_body("gpt-4o", 0), &r);
	expect_anthropic_error(&r, 502, NULL, "stays disabled until the config "
	    "is reloaded");
	m = jstr(r.body, "error.message");
	ck_assert_msg(m && strstr(m, "rejected the proxy's credential 'oai#1'"),
	    "%s", m);
	ck_assert_ptr_null(strstr(r.body, "up-oai"));
	/* a reload takes it back in */
	ck_assert_int_eq(kill(e.proxy->pid, SIGHUP), 0);
	sleep_ms(300);
	post_to(e.port, "/v1/chat/completions", chat_body("gpt-4o", 0), &r);
	expect_status(&r, 200);
	env_stop(&e);
}
END_TEST

/*
 * The global budget for bytes in flight: a request that would go over it
 * gets a 503 in the client's format with Retry-After; smaller ones pass.
 */
START_TEST(t_memory_budget)
{
	struct env e;
	struct resp r;
	char *big = malloc(300001), *body;

	custom_env(&e, BASE_CFG "],\n \"models\": {\"gpt-*\": \"oai\", \"claude-*\": \"ant\"},\n"
	    " \"limits\": {\"memory_bytes\": 200000, \"body_bytes\": 1000000}}\n", NULL);
	memset(big, 'x', 300000);
	big[300000] = 0;
	body = strf("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"%s\"}]}", big);
	post_to(e.port, "/v1/chat/completions", body, &r);
	expect_openai_error(&r, 503, "memory budget");
	ck_str(resp_hdr(&r, "retry-after"), "1");
	body = strf("{\"model\":\"claude-x\",\"max_tokens\":5,\"messages\":"
	    "[{\"role\":\"user\",\"content\":\"%s\"}]}", big);
	post_to(e.port, "/v1/messages", body, &r);
	expect_anthropic_error(&r, 503, NULL, "memory budget");
	post_to(e.port, "/v1/chat/completions", chat_body("gpt-4o", 0), &r);
	expect_status(&r, 200);
	env_stop(&e);
}
END_TEST

/*
 * A Responses stream passed through and cut mid-way: the client sees one
 * response - the failure carries the same response id, and the sequence
 * numbers go on from the upstream's.
 */
START_TEST(t_responses_cut_passthrough)
{
	struct resp r;
	struct ev *evs;
	int n, i, created = 0, failed = 0;
	long long seq, prev = -1;
	char *id = NULL;

	post("/v1/responses", "{\"model\":\"gpt-rsp-truncate\",\"stream\":true,"
	    "\"input\":\"hi\"}", &r);
	expect_status(&r, 200);
	n = sse_split(r.body, &evs);
	ck_assert_int_gt(n, 2);
	for (i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(evs[i].data);
		seq = jint(evs[i].data, "sequence_number", -1);
		ck_assert_msg(seq == prev + 1, "event %d (%s): sequence_number "
		    "%lld after %lld:\n%s", i, evs[i].event, seq, prev, r.body);
		prev = seq;
		if (evs[i].event && strcmp(evs[i].event, "response.created") == 0) {
			created++;
			id = jstr(evs[i].data, "response.id");
		}
		if (evs[i].event && strcmp(evs[i].event, "response.failed") == 0) {
			failed++;
			ck_assert_msg(id && jstr(evs[i].data, "response.id") &&
			    strcmp(jstr(evs[i].data, "response.id"), id) == 0,
			    "failed response %s, created %s",
			    jstr(evs[i].data, "response.id"), id);
		}
	}
	ck_assert_int_eq(created, 1);
	ck_assert_int_eq(failed, 1);
	ck_str(evs[n - 1].event, "response.failed");
}
END_TEST

/* see itest.h */
void
it_hardening(Suite *s)
{
	TCase *t;

	t = tc(s, "hardening", 1);
	tcase_add_test(t, t_dup_keys);
	tcase_add_test(t, t_forwarded_model);
	tcase_add_test(t, t_tiny_chunks);
	tcase_add_test(t, t_early_hints);
	tcase_add_test(t, t_retry_hints);
	tcase_add_test(t, t_responses_cut_passthrough);

	t = tc(s, "hardening_flood", 0);
	tcase_set_timeout(t, 120 * scale);     /* slow under sanitizers */
	tcase_add_test(t, t_flood_fairness);

	t = tc(s, "hardening_own", 0);
	tcase_add_test(t, t_log_fields);
	tcase_add_test(t, t_emfile);
	tcase_add_test(t, t_dns_per_host);
	tcase_add_test(t, t_drain_cut);
	tcase_add_test(t, t_sighup);
	tcase_add_test(t, t_memory_budget);
	tcase_add_test(t, t_upstream_auth);
}
