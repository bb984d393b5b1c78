/*
 * it_exec.c - integration tests of exec providers: the real proxy runs
 * tests/fake_claude.sh (a POSIX sh stand-in for Claude Code's stream-json
 * mode that replays the recorded outputs in tests/fixtures, or misbehaves
 * as its model argument says) and every client format gets the answer,
 * streamed and not; a command that exits early, writes garbage, reports an
 * error, is not installed, hangs past its timeout or floods its standard
 * error; the process group killed when the client goes away, on timeout
 * and at shutdown, and nothing left unreaped; routes with a wildcard and a
 * fallback to an HTTP provider.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "itest.h"

static struct env ex;
static char fake[PATH_MAX];     /* absolute path of tests/fake_claude.sh */
static char fdir[400];          /* FAKE_DIR: what the fake leaves behind */

/* providers: "cli" (the fake), "short" (the fake with a 800 ms timeout),
 * "missing" and "absent" (not on PATH), "gone" (an absolute path that
 * does not exist), "oai" (the mock, over HTTP) */
static char *
exec_cfg(const char *extra)
{
	return strf("{\"listen\": \"127.0.0.1:0\",\n"
	    " \"api_keys\": [\"sk-test\"],\n"
	    " \"state_dir\": \"TMP/exec-state.%d\",\n"
	    " \"timeouts\": {\"drain_ms\": 300}%s,\n"
	    " \"providers\": [\n"
	    "  {\"name\": \"cli\", \"type\": \"exec\", \"command\": [\"%s\", "
	    "\"{model}\"], \"env\": {\"FAKE_DIR\": \"%s\"}, \"timeout_ms\": "
	    "20000, \"max_parallel\": 8},\n"
	    "  {\"name\": \"short\", \"type\": \"exec\", \"command\": [\"%s\", "
	    "\"{model}\"], \"env\": {\"FAKE_DIR\": \"%s\"}, \"timeout_ms\": "
	    "800},\n"
	    "  {\"name\": \"missing\", \"type\": \"exec\", \"command\": "
	    "[\"llmproxy-no-such-command\", \"-p\"]},\n"
	    "  {\"name\": \"absent\", \"type\": \"exec\", \"command\": "
	    "[\"llmproxy-no-such-command\", \"-p\"]},\n"
	    "  {\"name\": \"gone\", \"type\": \"exec\", \"command\": "
	    "[\"/nonexistent/claude\", \"-p\"]},\n"
	    "  {\"name\": \"oai\", \"type\": \"openai\", \"base_url\": "
	    "\"http://127.0.0.1:MOCK/v1\", \"api_key\": \"up-oai\"}],\n"
	    " \"models\": {\"gpt-4o\": \"cli/text_partial\",\n"
	    "  \"short-hang\": \"short/hang\", \"short-silent\": "
	    "\"short/hang-silent\",\n"
	    "  \"miss\": \"missing/x\", \"gone\": \"gone/x\",\n"
	    "  \"fb-exec\": [\"absent/x\", \"oai/gpt-4o\"],\n"
	    "  \"*\": \"cli\"}\n"
	    "}\n", (int)getpid(), extra, fake, fdir, fake, fdir);
}

static void
exec_paths(void)
{
	ck_assert_ptr_nonnull(realpath("tests/fake_claude.sh", fake));
	snprintf(fdir, sizeof fdir, "%s/fake.%d", tmpdir, (int)getpid());
	mkdir(fdir, 0700);
}

static void
exec_start(void)
{
	exec_paths();
	gw_env(&ex, exec_cfg(""));
}

static void
exec_stop(void)
{
	env_stop(&ex);
}

/* What the fake left in FAKE_DIR for this mode ("pid", "child",
 * "stdin"), waiting up to ms for it; NULL if it never came. */
static char *
fake_file(const char *what, const char *mode, int ms)
{
	char *path = strf("%s/%s.%s", fdir, what, mode);
	long long end = mono_ms() + (long long)ms * scale;
	char *s;

	for (;;) {
		s = read_file(path, NULL);
		if (s && *s)
			break;
		free(s);
		s = NULL;
		if (mono_ms() > end)
			break;
		sleep_ms(10);
	}
	free(path);
	return s;
}

static pid_t
fake_pid(const char *what, const char *mode)
{
	char *s = fake_file(what, mode, 5000);
	pid_t p;

	ck_assert_msg(s != NULL, "the fake left no %s.%s", what, mode);
	p = (pid_t)strtol(s, NULL, 10);
	free(s);
	ck_assert_int_gt(p, 1);
	return p;
}

static void
fake_forget(const char *mode)
{
	unlink(strf("%s/pid.%s", fdir, mode));
	unlink(strf("%s/child.%s", fdir, mode));
	unlink(strf("%s/stdin.%s", fdir, mode));
}

/* The process state letter from /proc/pid/stat, or 0 when it is gone
 * (read with fgets: /proc files have no size for read_file()). */
static char
proc_state(pid_t p)
{
	char path[64], buf[512];
	const char *q;
	FILE *f;
	char st = 0;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof buf, f) != NULL &&
	    (q = strrchr(buf, ')')) != NULL && q[1] == ' ')
		st = q[2];
	fclose(f);
	ck_assert_msg(st != 0, "cannot read %s", path);
	return st;
}

/* The command (reaped by the proxy: gone) and its child (killed with its
 * group: gone, or a zombie its new parent has not reaped yet) within ms. */
static void
expect_gone(pid_t leader, pid_t child, int ms)
{
	long long end = mono_ms() + (long long)ms * scale;
	char sl, sc;

	for (;;) {
		sl = proc_state(leader);
		sc = child ? proc_state(child) : 0;
		if (sl == 0 && (sc == 0 || sc == 'Z'))
			return;
		ck_assert_msg(mono_ms() < end, "still there after %d ms: "
		    "command %d (state %c), its child %d (state %c)", ms,
		    (int)leader, sl ? sl : '-', (int)child, sc ? sc : '-');
		sleep_ms(20);
	}
}

/* ------------------------------------------------------------ answers */

/* Every client format, streamed and not, through a route (gpt-4o ->
 * cli/text_partial) and through the wildcard (the model name becomes the
 * command's argument): the fixture's text. */
START_TEST(t_exec_formats)
{
	static const char *const models[] = { "gpt-4o", "text",
	    "slow-text_partial", "noisy-thinking_partial" };
	enum cf f = (enum cf)(_i % CF_N);
	int stream = (_i / CF_N) % 2;
	const char *m = models[_i / (CF_N * 2)];
	struct resp r;

	cf_do(ex.port, f, m, stream, NULL, NULL, &r);
	if (strcmp(m, "noisy-thinking_partial") == 0)
		ck_assert_ptr_nonnull(strstr(cf_text(f, stream, &r),
		    "27 * 453 = 12,231"));
	else
		ck_str(cf_text(f, stream, &r), "Hello there!");
	ck_assert_msg(strstr(r.body, "fake-session") == NULL &&
	    strstr(r.body, "stderr") == NULL, "%s", r.body);
}
END_TEST

/* The conversation reaches the command's standard input as one
 * stream-json user line, and nothing else. */
START_TEST(t_exec_stdin)
{
	struct resp r;
	char *in;

	fake_forget("text");
	cf_do(ex.port, CF_ANT, "text", 0, NULL, NULL, &r);
	ck_str(cf_text(CF_ANT, 0, &r), "Hello there!");
	in = fake_file("stdin", "text", 2000);
	ck_str(in, "{\"type\":\"user\",\"message\":{\"role\":\"user\","
	    "\"content\":[{\"type\":\"text\",\"text\":\"Hello\"}]}}\n");
	free(in);
	/* a system prompt and history: one transcript */
	fake_forget("text");
	exchange(ex.port, req_text("POST", "/v1/chat/completions", AUTH_CHAT,
	    "{\"model\":\"text\",\"messages\":[{\"role\":\"system\",\"content\":"
	    "\"Be brief.\"},{\"role\":\"user\",\"content\":\"One\"},{\"role\":"
	    "\"assistant\",\"content\":\"Two\"},{\"role\":\"user\",\"content\":"
	    "\"Three\"}]}"), &r);
	ck_str(cf_text(CF_CHAT, 0, &r), "Hello there!");
	in = fake_file("stdin", "text", 2000);
	ck_assert_ptr_nonnull(in);
	ck_assert_msg(gw_count(in, "\n") == 1 && in[strlen(in) - 1] == '\n',
	    "one line: %s", in);
	ck_assert_msg(strstr(in, "Be brief.") && strstr(in, "One") &&
	    strstr(in, "Two") && strstr(in, "Three"), "%s", in);
	ck_assert_ptr_nonnull(strstr(in, "{\"type\":\"text\",\"text\":"
	    "\"Three\"}]}}\n"));
	free(in);
}
END_TEST

/* The command's own tool calls as text; usage in the answer. */
START_TEST(t_exec_tools_usage)
{
	struct resp r;
	char *t;

	cf_do(ex.port, CF_CHAT, "tools", 0, NULL, NULL, &r);
	t = cf_text(CF_CHAT, 0, &r);
	ck_str(t, "[tool: exec_command {\"cmd\":\"echo mock-$((6*7))\"}]\n\n"
	    "Round trip broken: no tool output in the request.");
	ck_assert_int_eq(jint(r.body, "usage.prompt_tokens", -1), 20);
	ck_assert_int_eq(jint(r.body, "usage.completion_tokens", -1), 10);
	ck_str(jstr(r.body, "choices.0.finish_reason"), "stop");
	/* no price for the model: the cost the command reported
	 * (total_cost_usd 0.00028) */
	exchange(ex.port, req_text("GET", "/metrics", NULL, NULL), &r);
	expect_status(&r, 200);
	ck_assert_msg(strstr(r.body, "llmproxy_cost_usd_total{provider=\"cli\","
	    "model=\"tools\"} 0.00028\n") != NULL, "%s", r.body);
	cf_do(ex.port, CF_CHAT, "tools", 0, NULL, NULL, &r);
	/* streamed, the same text */
	cf_do(ex.port, CF_CHAT, "slow-tools_partial", 1, NULL, NULL, &r);
	ck_assert_ptr_nonnull(strstr(cf_text(CF_CHAT, 1, &r), "[tool: "));
}
END_TEST

/* A paced command's stream reaches the client as it goes: the first
 * content well before the end. */
START_TEST(t_exec_paced)
{
	struct client c;
	struct resp r;
	long long t0, t_first;
	char *body;

	client_open(&c, ex.port);
	t0 = mono_ms();
	client_send(&c, cf_req(CF_CHAT, "slow-bash_max_turns", 1, NULL, NULL,
	    -1));
	ck_assert_int_eq(read_head(&c, &r, mono_ms() + IO_MS), 0);
	expect_status(&r, 200);
	while (strstr(c.buf ? c.buf : "", "\"content\":\"I") == NULL)
		ck_assert_int_gt(client_fill(&c, mono_ms() + IO_MS), 0);
	t_first = mono_ms() - t0;
	ck_assert_int_eq(read_body(&c, &r, 0, mono_ms() + IO_MS), 0);
	client_close(&c);
	/* 30 lines, 50 ms each */
	ck_assert_msg(t_first < 1000 && mono_ms() - t0 >= 1400,
	    "first content after %lld ms, all after %lld ms", t_first,
	    mono_ms() - t0);
	body = r.body;
	ck_assert_ptr_nonnull(strstr(body, "hello-from-bash"));
	ck_assert_ptr_nonnull(strstr(body, "\"finish_reason\":\"length\""));
	ck_assert_ptr_nonnull(strstr(body, "data: [DONE]"));
}
END_TEST

/* A client that does not read: the command's output waits in its pipe
 * (the proxy stops reading past PX_OUT_HIGH queued bytes) and none of it
 * is lost once the client reads again. */
START_TEST(t_exec_slow_client)
{
	static const char d64[] = "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef";
	struct client c;
	struct resp r;

	client_open(&c, ex.port);
	client_send(&c, cf_req(CF_CHAT, "flood", 1, NULL, NULL, -1));
	ck_assert_int_eq(read_head(&c, &r, mono_ms() + IO_MS), 0);
	expect_status(&r, 200);
	sleep_ms(1000);
	ck_assert_int_eq(read_body(&c, &r, 0, mono_ms() + 4 * IO_MS), 0);
	client_close(&c);
	/* counted, not joined (check_chat_stream() would join 20000
	 * deltas one by one) */
	ck_assert_int_eq(gw_count(r.body, strf("{\"content\":\"%s\"}", d64)),
	    20000);
	ck_assert_int_eq(gw_count(r.body, "\"finish_reason\":\"stop\""), 1);
	ck_assert_ptr_null(strstr(r.body, "\"error\""));
	ck_assert_msg(r.body_len > 14 && strcmp(r.body + r.body_len - 14,
	    "data: [DONE]\n\n") == 0, "no [DONE] at the end");
}
END_TEST

/* ------------------------------------------------------------ failures */

/* A command that exits before its result: 502 in every format, streamed
 * or not (the stream is held until content, so it is an HTTP error); its
 * standard error in the log, never in the answer. Each request its own
 * model ("early.N"): a failure cools the provider for its model, and the
 * next request for it gets 503 with the failure (t_exec_bad). */
START_TEST(t_exec_early)
{
	enum cf f = (enum cf)(_i % CF_N);
	int stream = _i / CF_N;
	struct resp r;
	char *msg;

	cf_do(ex.port, f, strf("early.%d", _i), stream, NULL, NULL, &r);
	msg = cf_error(f, &r, 502);
	ck_assert_msg(strstr(msg, "exited with status 3") != NULL, "%s", msg);
	ck_assert_msg(strstr(r.body, "giving up") == NULL, "%s", r.body);
	ck_assert(gw_wait_log(&ex, "fake_claude: giving up early", 1, 3000));
}
END_TEST

/* Garbage on standard output, an error result, a command not installed
 * (on PATH and by path). */
START_TEST(t_exec_bad)
{
	struct resp r;
	char *msg;

	cf_do(ex.port, CF_CHAT, "garbage", 0, NULL, NULL, &r);
	cf_error(CF_CHAT, &r, 502);
	cf_do(ex.port, CF_GEM, "garbage.1", 1, NULL, NULL, &r);
	cf_error(CF_GEM, &r, 502);
	/* the provider cools for that model: 503 with the last failure */
	cf_do(ex.port, CF_CHAT, "garbage", 0, NULL, NULL, &r);
	msg = cf_error(CF_CHAT, &r, 503);
	ck_assert_msg(strstr(msg, "cooling down") && strstr(msg, "upstream "
	    "cli: "), "%s", msg);
	ck_assert_ptr_nonnull(resp_hdr(&r, "retry-after"));

	cf_do(ex.port, CF_ANT, "error_not_logged_in", 1, NULL, NULL, &r);
	msg = cf_error(CF_ANT, &r, 502);
	ck_assert_msg(strstr(msg, "Not logged in") != NULL, "%s", msg);
	cf_do(ex.port, CF_RSP, "error_api400", 0, NULL, NULL, &r);
	msg = cf_error(CF_RSP, &r, 400);
	ck_assert_msg(strstr(msg, "tool use concurrency") != NULL, "%s", msg);

	cf_do(ex.port, CF_CHAT, "miss", 0, NULL, NULL, &r);
	msg = cf_error(CF_CHAT, &r, 502);
	ck_assert_msg(strstr(msg, "cannot run 'llmproxy-no-such-command'") !=
	    NULL, "%s", msg);
	cf_do(ex.port, CF_ANT, "gone", 1, NULL, NULL, &r);
	msg = cf_error(CF_ANT, &r, 502);
	ck_assert_msg(strstr(msg, "/nonexistent/claude") != NULL, "%s", msg);
}
END_TEST

/* Standard error is logged, bounded, and kept from the client. */
START_TEST(t_exec_stderr)
{
	struct resp r;
	char *log;
	int n;

	cf_do(ex.port, CF_CHAT, "fail-stderr", 0, NULL, NULL, &r);
	cf_error(CF_CHAT, &r, 502);
	ck_assert(strstr(r.body, "stderr line") == NULL);
	ck_assert(gw_wait_log(&ex, "stderr line 0 of", 1, 3000));
	log = gw_log(&ex);
	n = gw_count(log, "of a command that fails");
	/* 2000 lines of about 50 bytes; at most 16 KiB logged */
	ck_assert_msg(n > 100 && n < 400, "%d stderr lines logged", n);
	free(log);
}
END_TEST

/* A fallback route: the command is not installed (the provider is then
 * down, as after a refused connection), the HTTP provider answers. */
START_TEST(t_exec_fallback)
{
	struct resp r;
	enum cf f;

	for (f = 0; f < CF_N; f++) {
		cf_do(ex.port, f, "fb-exec", f % 2, NULL, NULL, &r);
		cf_text(f, f % 2, &r);
		if (f == 0)
			ck_str(resp_hdr(&r, "x-llmproxy-attempts"), "2");
	}
	ck_assert_msg(strstr(gw_log(&ex), "attempts=absent/absent#1"
	    "\\x3dconnect,oai/oai#1\\x3dok") != NULL, "no fallback logged");
}
END_TEST

/* ------------------------------------------------------------ ending */

/* timeout_ms: 504, the group killed, the command reaped. */
START_TEST(t_exec_timeout)
{
	static const char *const mode[] = { "hang", "hang-silent" };
	static const char *const model[] = { "short-hang", "short-silent" };
	struct resp r;
	long long t0;
	pid_t p, ch;
	char *msg;

	fake_forget(mode[_i]);
	t0 = mono_ms();
	cf_do(ex.port, _i ? CF_GEM : CF_CHAT, model[_i], _i, NULL, NULL, &r);
	msg = cf_error(_i ? CF_GEM : CF_CHAT, &r, 504);
	ck_assert_msg(strstr(msg, "800 ms") != NULL, "%s", msg);
	ck_assert_msg(mono_ms() - t0 >= 750 && mono_ms() - t0 < 3000 * scale,
	    "answered after %lld ms", mono_ms() - t0);
	p = fake_pid("pid", mode[_i]);
	ch = fake_pid("child", mode[_i]);
	expect_gone(p, ch, 3000);
}
END_TEST

/* The client goes away: before the first content (held), and in the
 * middle of a stream (its text out, the command still running). */
START_TEST(t_exec_disconnect)
{
	struct client c;
	struct resp r;
	pid_t p, ch = 0;
	const char *mode = _i ? "stall-text_partial" : "hang";

	fake_forget(mode);
	client_open(&c, ex.port);
	client_send(&c, cf_req(_i ? CF_ANT : CF_RSP, mode, 1, NULL, NULL, -1));
	p = fake_pid("pid", mode);
	if (_i) {
		ck_assert_int_eq(read_head(&c, &r, mono_ms() + IO_MS), 0);
		expect_status(&r, 200);
		while (strstr(c.buf ? c.buf : "", "Hello") == NULL)
			ck_assert_int_gt(client_fill(&c, mono_ms() + IO_MS), 0);
	} else {
		sleep_ms(100);
	}
	ch = fake_pid("child", mode);
	client_close(&c);
	expect_gone(p, ch, 3000);
	/* the proxy goes on */
	cf_do(ex.port, CF_CHAT, "text", 0, NULL, NULL, &r);
	ck_str(cf_text(CF_CHAT, 0, &r), "Hello there!");
}
END_TEST

/* Shutdown with a command still running: it is killed, and the proxy
 * exits cleanly. */
START_TEST(t_exec_shutdown)
{
	struct env e;
	struct client c;
	pid_t p, ch;
	int rc;

	exec_paths();
	fake_forget("hang");
	gw_env(&e, exec_cfg(""));
	client_open(&c, e.port);
	client_send(&c, cf_req(CF_CHAT, "hang", 0, NULL, NULL, -1));
	p = fake_pid("pid", "hang");
	ch = fake_pid("child", "hang");
	rc = proc_stop(e.proxy, 10000 * scale);
	ck_assert_msg(rc == 0, "proxy exit status %d", rc);
	expect_gone(p, ch, 1000);
	client_close(&c);
	proc_stop(e.mock, 2000);
}
END_TEST

/* max_parallel 1: a second request waits for the first command (about
 * 600 ms) to end, then runs; both answer. */
START_TEST(t_exec_parallel)
{
	struct env e;
	struct client c1, c2;
	struct resp r1, r2;
	long long t0;
	char *cfg;

	exec_paths();
	cfg = exec_cfg("");
	replace_all(cfg, strlen(cfg), "\"max_parallel\": 8",
	    "\"max_parallel\": 1");
	gw_env(&e, cfg);
	client_open(&c1, e.port);
	client_open(&c2, e.port);
	t0 = mono_ms();
	client_send(&c1, cf_req(CF_CHAT, "slow-text_partial", 0, NULL, NULL,
	    -1));
	sleep_ms(100);
	client_send(&c2, cf_req(CF_CHAT, "text", 0, NULL, NULL, -1));
	ck_assert_int_eq(read_response(&c2, &r2, 0, IO_MS), 0);
	ck_assert_msg(mono_ms() - t0 >= 550, "the second answered after %lld "
	    "ms, without waiting", mono_ms() - t0);
	ck_assert_int_eq(read_response(&c1, &r1, 0, IO_MS), 0);
	ck_str(cf_text(CF_CHAT, 0, &r1), "Hello there!");
	ck_str(cf_text(CF_CHAT, 0, &r2), "Hello there!");
	client_close(&c1);
	client_close(&c2);
	env_stop(&e);
}
END_TEST

void
it_exec(Suite *s)
{
	TCase *t;

	t = tc(s, "exec", 0);
	tcase_add_unchecked_fixture(t, exec_start, exec_stop);
	tcase_add_loop_test(t, t_exec_formats, 0, CF_N * 2 * 4);
	tcase_add_test(t, t_exec_stdin);
	tcase_add_test(t, t_exec_tools_usage);
	tcase_add_test(t, t_exec_paced);
	tcase_add_test(t, t_exec_slow_client);
	tcase_add_loop_test(t, t_exec_early, 0, CF_N * 2);
	tcase_add_test(t, t_exec_bad);
	tcase_add_test(t, t_exec_stderr);
	tcase_add_test(t, t_exec_fallback);
	tcase_add_loop_test(t, t_exec_timeout, 0, 2);
	tcase_add_loop_test(t, t_exec_disconnect, 0, 2);

	t = tc(s, "exec_own", 0);
	tcase_add_test(t, t_exec_shutdown);
	tcase_add_test(t, t_exec_parallel);
}
