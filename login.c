/*
 * login.c - `llmproxy login ...` and `llmproxy accounts ...` (see
 * login.h): the OAuth flows of account_flow.c driven with the blocking
 * client (httpc.c), a loopback callback server for the browser flows, and
 * the token store (account.c).
 *
 * The callback server listens on the loopback port the vendor's own
 * client registered (Claude 54545, Codex 1455, Gemini 8085; overridable
 * for tests), answers exactly one request for the callback path that
 * carries the expected state, and stops. A request with another state is
 * refused and the login goes on waiting: a page on the same machine cannot
 * end a login by guessing the port. The authorization code is useless
 * without the PKCE verifier, which never leaves this process.
 *
 * Output: what the user must do (the URL, the device code) and the result
 * go to stdout; errors to stderr. Tokens are never printed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "config.h"
#include "http.h"
#include "httpc.h"
#include "login.h"
#include "route.h"
#include "store.h"

static const char *const kind_titles[PX_ACCT_NKINDS] = {
	"Claude", "ChatGPT (Codex)", "Gemini (Code Assist)", "GitHub Copilot"
};

struct opts {
	const char *state_dir;       /* --state-dir */
	const char *cfile;           /* -c */
	const char *name;            /* --name */
	const char *project;         /* --project */
	const char *from;            /* --from */
	int no_browser, json;
	char ca[512];                /* the config's ca_file */
	char sd[PX_STATE_DIR_MAX];   /* resolved state directory */
	char dir[PX_STATE_DIR_MAX + 32];
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long long ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static const char *
env_get(const char *name)
{
	return getenv(name);
}

/* The state directory (and the config's ca_file) from the options, then
 * the accounts directory in it. */
static int
resolve_store(struct opts *o)
{
	const char *configured = o->state_dir;
	struct px_config *c = NULL;
	char err[4096];

	if (o->cfile != NULL) {
		if ((c = px_config_new()) == NULL ||
		    px_config_load(c, o->cfile, err, sizeof err) < 0) {
			fprintf(stderr, "llmproxy: %s\n", c ? err : "out of memory");
			px_config_free(c);
			return -1;
		}
		if (configured == NULL && c->state_dir[0])
			configured = c->state_dir;
		snprintf(o->ca, sizeof o->ca, "%s", c->ca_file);
	}
	if (px_state_dir(configured, o->sd, sizeof o->sd, NULL, err,
	    sizeof err) < 0 ||
	    px_acct_dir(o->sd, o->dir, sizeof o->dir, err, sizeof err) < 0) {
		fprintf(stderr, "llmproxy: %s\n", err);
		px_config_free(c);
		return -1;
	}
	px_config_free(c);
	return 0;
}

/* Parse the common options from argv[i...]; the rest must be none. */
static int
parse_opts(int argc, char **argv, int i, struct opts *o)
{
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
			o->state_dir = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			o->cfile = argv[++i];
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			o->name = argv[++i];
		else if (strcmp(argv[i], "--project") == 0 && i + 1 < argc)
			o->project = argv[++i];
		else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			o->from = argv[++i];
		else if (strcmp(argv[i], "--no-browser") == 0)
			o->no_browser = 1;
		else if (strcmp(argv[i], "--json") == 0)
			o->json = 1;
		else
			return -1;
	}
	return 0;
}

/* One request and its answer; -1 (message printed) when no answer. */
static int
call(const struct opts *o, const struct px_hreq *r, struct px_hresp *a,
    const char *what)
{
	char err[512];

	if (px_http(r, o->ca[0] ? o->ca : NULL, 0, a, err, sizeof err) < 0) {
		fprintf(stderr, "llmproxy: %s: %s\n", what, err);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ browser */

/* Start a browser on url when there is a display (or $BROWSER); never
 * waits for it. */
static void
open_browser(const char *url)
{
	const char *b = getenv("BROWSER");
	pid_t pid;
	int fd;

#ifdef __APPLE__
	if (b == NULL || !b[0])
		b = "open";
#else
	if ((b == NULL || !b[0]) && (getenv("DISPLAY") ||
	    getenv("WAYLAND_DISPLAY")))
		b = "xdg-open";
#endif
	if (b == NULL || !b[0])
		return;
	pid = fork();
	if (pid != 0)
		return;
	setsid();
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execlp(b, b, url, (char *)NULL);
	_exit(127);
}

/* Listen on the loopback port (IPv4, and IPv6 when it has one). */
static int
listen_loopback(int port, int fds[2])
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	int one = 1;

	fds[0] = fds[1] = -1;
	memset(&s4, 0, sizeof s4);
	s4.sin_family = AF_INET;
	s4.sin_port = htons((uint16_t)port);
	s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0)
		return -1;
	setsockopt(fds[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fds[0], (struct sockaddr *)&s4, sizeof s4) < 0 ||
	    listen(fds[0], 16) < 0) {
		close(fds[0]);
		fds[0] = -1;
		return -1;
	}
	memset(&s6, 0, sizeof s6);
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons((uint16_t)port);
	s6.sin6_addr = in6addr_loopback;
	fds[1] = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[1] >= 0) {
		setsockopt(fds[1], IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
		setsockopt(fds[1], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fds[1], (struct sockaddr *)&s6, sizeof s6) < 0 ||
		    listen(fds[1], 16) < 0) {
			close(fds[1]);
			fds[1] = -1;
		}
	}
	return 0;
}

static void
reply(int fd, int status, const char *title, const char *text)
{
	char buf[2048];
	int n;

	n = snprintf(buf, sizeof buf, "<!doctype html><html><head><meta "
	    "charset=\"utf-8\"><title>llmproxy</title></head><body><h1>%s</h1>"
	    "<p>%s</p></body></html>\n", title, text);
	dprintf(fd, "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8"
	    "\r\nContent-Length: %d\r\nCache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n", status, http_reason(status), n);
	if (write(fd, buf, (size_t)n) < 0)
		return;
}

/* Read one request head from a callback connection (2 s, 16 KB). */
static int
read_head(int fd, char *buf, size_t cap, size_t *n)
{
	struct pollfd p;
	long long end = now_ms() + 2000;
	ssize_t r;

	*n = 0;
	while (*n < cap - 1) {
		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, (int)(end - now_ms())) <= 0)
			return -1;
		r = read(fd, buf + *n, cap - 1 - *n);
		if (r <= 0)
			return -1;
		*n += (size_t)r;
		buf[*n] = 0;
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return 0;
	}
	return -1;
}

/*
 * Wait for the browser's redirect to the callback: the code, once a
 * request for ep's callback path carries the expected state. 0, -1 (timed
 * out or failed), -2 (the provider sent an error: in code).
 */
static int
wait_callback(const struct px_acct_ep *ep, int fds[2], const char *state,
    char *code, size_t ccap)
{
	long long end = now_ms() + PX_LOGIN_TIMEOUT_S * 1000LL;
	struct pollfd p[2];
	struct http_req rq;
	struct http_hdr hdrs[HTTP_MAX_HEADERS];
	char buf[16384], st[256], target[8192];
	size_t n;
	int i, fd, k;

	for (;;) {
		long long left = end - now_ms();
		if (left <= 0) {
			fprintf(stderr, "llmproxy: no answer from the browser "
			    "within %d s\n", PX_LOGIN_TIMEOUT_S);
			return -1;
		}
		for (i = 0; i < 2; i++) {
			p[i].fd = fds[i];
			p[i].events = POLLIN;
			p[i].revents = 0;
		}
		if (poll(p, 2, left > 1000 ? 1000 : (int)left) <= 0)
			continue;
		for (i = 0; i < 2; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			if ((fd = accept(fds[i], NULL, NULL)) < 0)
				continue;
			if (read_head(fd, buf, sizeof buf, &n) < 0 ||
			    http_parse_request(buf, n, &rq, hdrs,
			    HTTP_MAX_HEADERS) < 0) {
				close(fd);
				continue;
			}
			if (!http_str_eq(rq.path, ep->redirect_path)) {
				reply(fd, 404, "Not found", "This is llmproxy's "
				    "login callback.");
				close(fd);
				continue;
			}
			snprintf(target, sizeof target, "?%.*s",
			    (int)rq.query.n, rq.query.p);
			k = px_oauth_parse_code(target, strlen(target), code,
			    ccap, st, sizeof st);
			if (k == -2) {
				reply(fd, 400, "Login failed", "The provider "
				    "refused the login; see the terminal.");
				close(fd);
				return -2;
			}
			if (k < 0 || strcmp(st, state) != 0) {
				reply(fd, 400, "Login failed", "This answer does "
				    "not belong to the login in progress.");
				close(fd);
				fprintf(stderr, "llmproxy: a callback with a "
				    "wrong or missing state was refused; still "
				    "waiting\n");
				continue;
			}
			reply(fd, 200, "Logged in", "You can close this window "
			    "and go back to the terminal.");
			close(fd);
			return 0;
		}
	}
}

/* A line from stdin (the pasted code or URL). */
static int
read_paste(char *buf, size_t cap)
{
	size_t n;

	fflush(stdout);
	if (fgets(buf, (int)cap, stdin) == NULL)
		return -1;
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	return n > 0 ? 0 : -1;
}

/* ------------------------------------------------------------ flows */

static int
token_step(const struct opts *o, struct px_account *a,
    const struct px_hreq *r, const char *what)
{
	struct px_hresp h;
	struct px_tok_result res;

	if (call(o, r, &h, what) < 0)
		return -1;
	px_oauth_token_answer(a, h.status, h.body, h.n, now_ms(), &res);
	px_hresp_free(&h);
	if (res.v != PX_TOK_OK) {
		fprintf(stderr, "llmproxy: %s failed: %s\n", what, res.msg);
		return -1;
	}
	return 0;
}

static int
user_step(const struct opts *o, const struct px_acct_ep *ep,
    struct px_account *a)
{
	struct px_arena ar;
	struct px_hreq r;
	struct px_hresp h;
	struct px_tok_result res;
	int rc = -1;

	px_arena_init(&ar, 0);
	if (px_user_request(ep, a, &ar, &r) < 0 ||
	    call(o, &r, &h, "reading the account's identity") < 0)
		goto done;
	px_user_answer(a, h.status, h.body, h.n, &res);
	px_hresp_free(&h);
	if (res.v != PX_TOK_OK) {
		fprintf(stderr, "llmproxy: reading the account's identity "
		    "failed: %s\n", res.msg);
		goto done;
	}
	rc = 0;
done:
	px_arena_free(&ar);
	return rc;
}

/* Gemini: find the Code Assist project, onboarding the account when it
 * has none (as the Gemini CLI does). */
static int
onboard(const struct opts *o, const struct px_acct_ep *ep,
    struct px_account *a)
{
	struct px_onboard ob;
	struct px_arena ar;
	struct px_hreq r;
	struct px_hresp h;
	struct px_tok_result res;
	const char *pv = getenv("LLMPROXY_GEMINI_ONBOARD_POLL_MS");
	long long poll_ms = pv ? atoll(pv) : 5000;
	int rc = -1;

	memset(&ob, 0, sizeof ob);
	if (o->project)
		snprintf(ob.project, sizeof ob.project, "%s", o->project);
	px_arena_init(&ar, 0);
	while (ob.step != PX_OB_DONE) {
		if (ob.polls > 120) {
			fprintf(stderr, "llmproxy: Code Assist onboarding did "
			    "not finish\n");
			goto done;
		}
		if (ob.step == PX_OB_ONBOARD && ob.polls > 0)
			sleep_ms(poll_ms);
		if (px_onboard_request(ep, &ob, a, &ar, &r) < 0 ||
		    call(o, &r, &h, ob.step == PX_OB_LOAD ?
		    "loadCodeAssist" : "onboardUser") < 0)
			goto done;
		px_onboard_answer(&ob, h.status, h.body, h.n, &res);
		px_hresp_free(&h);
		if (res.v == PX_TOK_DENIED || res.v == PX_TOK_RETRY) {
			fprintf(stderr, "llmproxy: Code Assist setup failed: "
			    "%s\n", res.msg);
			goto done;
		}
	}
	snprintf(a->project, sizeof a->project, "%s", ob.project);
	rc = 0;
done:
	px_arena_free(&ar);
	return rc;
}

/* Claude, Codex, Gemini: the browser flow. */
static int
login_browser(const struct opts *o, const struct px_acct_ep *ep,
    struct px_account *a)
{
	char verifier[129], challenge[44], state[44], url[PX_URL_MAX];
	char code[2048], st[256], line[8192];
	struct px_arena ar;
	struct px_hreq r;
	int fds[2] = { -1, -1 }, k, rc = -1;

	if (px_pkce_new(verifier, challenge) < 0 || px_oauth_state(state) < 0) {
		fprintf(stderr, "llmproxy: no random bytes\n");
		return -1;
	}
	if (px_oauth_authorize_url(ep, state, challenge, url, sizeof url) < 0) {
		fprintf(stderr, "llmproxy: cannot build the login URL\n");
		return -1;
	}
	if (!o->no_browser && listen_loopback(ep->port, fds) < 0) {
		fprintf(stderr, "llmproxy: cannot listen on localhost:%d for the "
		    "login callback (%s); use --no-browser to paste the code "
		    "instead\n", ep->port, strerror(errno));
		return -1;
	}
	printf("To log in to %s, open this URL in a browser:\n\n  %s\n\n",
	    kind_titles[a->kind], url);
	if (o->no_browser) {
		printf("After logging in, paste the code shown%s, or the whole "
		    "URL of the page the browser ended on:\n",
		    a->kind == PX_ACCT_CLAUDE ? " (code#state)" : "");
		if (read_paste(line, sizeof line) < 0) {
			fprintf(stderr, "llmproxy: nothing was pasted\n");
			return -1;
		}
		k = px_oauth_parse_code(line, strlen(line), code, sizeof code,
		    st, sizeof st);
		if (k == -2) {
			fprintf(stderr, "llmproxy: the provider refused the login "
			    "(%s)\n", code);
			return -1;
		}
		if (k < 0) {
			fprintf(stderr, "llmproxy: no authorization code in what "
			    "was pasted\n");
			return -1;
		}
		if (st[0] && strcmp(st, state) != 0) {
			fprintf(stderr, "llmproxy: the pasted code belongs to "
			    "another login (state mismatch); start again\n");
			return -1;
		}
	} else {
		printf("Waiting for the browser on %s ...\n", ep->redirect);
		fflush(stdout);
		open_browser(url);
		k = wait_callback(ep, fds, state, code, sizeof code);
		close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		if (k == -2) {
			fprintf(stderr, "llmproxy: the provider refused the login "
			    "(%s)\n", code);
			return -1;
		}
		if (k < 0)
			return -1;
	}
	px_arena_init(&ar, 0);
	if (px_oauth_code_request(ep, code, verifier, state, &ar, &r) < 0) {
		fprintf(stderr, "llmproxy: cannot build the token request\n");
		goto done;
	}
	if (token_step(o, a, &r, "the token exchange") < 0)
		goto done;
	if (a->kind == PX_ACCT_GEMINI) {
		if (a->identity[0] == 0 && user_step(o, ep, a) < 0)
			goto done;
		if (onboard(o, ep, a) < 0)
			goto done;
	}
	rc = 0;
done:
	px_arena_free(&ar);
	return rc;
}

/* Copilot: GitHub's device flow, then a Copilot token. */
static int
login_device(const struct opts *o, const struct px_acct_ep *ep,
    struct px_account *a)
{
	struct px_device d;
	struct px_arena ar;
	struct px_hreq r;
	struct px_hresp h;
	struct px_tok_result res;
	int fails = 0, rc = -1;

	px_arena_init(&ar, 0);
	if (px_device_code_request(ep, &ar, &r) < 0 ||
	    call(o, &r, &h, "the device code request") < 0)
		goto done;
	px_device_code_answer(&d, h.status, h.body, h.n, now_ms(), &res);
	px_hresp_free(&h);
	if (res.v != PX_TOK_OK) {
		fprintf(stderr, "llmproxy: the device code request failed: %s\n",
		    res.msg);
		goto done;
	}
	printf("To log in to GitHub Copilot, open %s and enter the code\n\n"
	    "  %s\n\nWaiting for the authorisation ...\n", d.verify_uri,
	    d.user_code);
	fflush(stdout);
	if (!o->no_browser)
		open_browser(d.verify_uri);
	for (;;) {
		if (now_ms() >= d.deadline) {
			fprintf(stderr, "llmproxy: the device code expired "
			    "before it was entered\n");
			goto done;
		}
		sleep_ms(d.interval_ms);
		if (px_device_poll_request(ep, &d, &ar, &r) < 0)
			goto done;
		if (call(o, &r, &h, "polling for the authorisation") < 0) {
			if (++fails > 5)
				goto done;
			continue;
		}
		px_device_poll_answer(&d, a, h.status, h.body, h.n, now_ms(),
		    &res);
		px_hresp_free(&h);
		if (res.v == PX_TOK_OK)
			break;
		if (res.v == PX_TOK_PENDING || res.v == PX_TOK_SLOW_DOWN)
			continue;
		if (res.v == PX_TOK_RETRY && ++fails <= 5)
			continue;
		fprintf(stderr, "llmproxy: the device login failed: %s\n",
		    res.msg);
		goto done;
	}
	if (user_step(o, ep, a) < 0)
		goto done;
	if (px_oauth_refresh_request(ep, a, &ar, &r) < 0 ||
	    token_step(o, a, &r, "getting a Copilot token") < 0)
		goto done;
	rc = 0;
done:
	px_arena_free(&ar);
	return rc;
}

/* Pick the label, keep what a re-login of the same account keeps, seal
 * and store; print the result. */
static int
store_account(const struct opts *o, struct px_account *a, const char *how)
{
	struct px_account old;
	unsigned char key[32];
	const char *ksrc;
	char err[512], exp[40];
	int rc;

	if (o->name) {
		if (!px_acct_label_ok(o->name)) {
			fprintf(stderr, "llmproxy: bad --name \"%s\": 1 to %d of "
			    "A-Z a-z 0-9 . _ @ + -, not starting with . or -\n",
			    o->name, PX_ACCT_LABEL_MAX - 1);
			return -1;
		}
		snprintf(a->label, sizeof a->label, "%s", o->name);
	} else {
		px_acct_default_label(a, a->label, sizeof a->label);
	}
	rc = px_acct_key(o->sd, 1, key, &ksrc, err, sizeof err);
	if (rc != PX_ACCT_OK) {
		fprintf(stderr, "llmproxy: %s\n", err);
		return -1;
	}
	px_acct_init(&old, a->kind);
	rc = px_acct_load(o->dir, key, a->label, &old, err, sizeof err);
	if (rc == PX_ACCT_OK && old.kind != a->kind) {
		fprintf(stderr, "llmproxy: account \"%s\" is a %s account: "
		    "choose another --name, or remove it first\n", a->label,
		    px_acct_kind_name(old.kind));
		px_acct_clear(&old);
		return -1;
	}
	if (rc == PX_ACCT_OK && old.created > 0)
		a->created = old.created;
	px_acct_clear(&old);
	if (a->created == 0)
		a->created = now_ms();
	if (a->refreshed == 0)
		a->refreshed = now_ms();
	if (px_acct_save(o->dir, key, a, err, sizeof err) != PX_ACCT_OK) {
		fprintf(stderr, "llmproxy: %s\n", err);
		return -1;
	}
	printf("%s %s%s%s%s%s.\n", how, kind_titles[a->kind],
	    a->identity[0] ? " as " : "", a->identity,
	    a->account_id[0] && a->kind == PX_ACCT_CODEX ? ", account " : "",
	    a->kind == PX_ACCT_CODEX ? a->account_id : "");
	if (a->project[0])
		printf("Code Assist project: %s\n", a->project);
	if (a->plan[0])
		printf("Plan: %s\n", a->plan);
	if (a->expires > 0)
		printf("Access token valid until %s (renewed automatically).\n",
		    px_fmt_rfc3339(a->expires, exp, sizeof exp));
	printf("Stored as account \"%s\" in %s/%s.json (tokens encrypted with "
	    "the key from %s).\n", a->label, o->dir, a->label, ksrc);
	printf("Use it with a provider of type \"%s-account\"; a running "
	    "proxy picks it up by itself.\n", px_acct_kind_name(a->kind));
	return 0;
}

/* see login.h */
int
px_login_cmd(int argc, char **argv)
{
	struct opts o;
	struct px_acct_ep ep;
	struct px_account a;
	enum px_acct_kind k;
	int rc;

	memset(&o, 0, sizeof o);
	if (argc < 2 || px_acct_kind_parse(argv[1], &k) < 0 ||
	    parse_opts(argc, argv, 2, &o) < 0) {
		fprintf(stderr, "usage: llmproxy login claude|codex|gemini|copilot "
		    "[--name LABEL] [--no-browser] [--project ID]\n"
		    "                      [--state-dir DIR | -c FILE]\n");
		return 2;
	}
	if (o.project && k != PX_ACCT_GEMINI) {
		fprintf(stderr, "llmproxy: --project is for gemini\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (resolve_store(&o) < 0)
		return 1;
	px_acct_ep_init(&ep, k, env_get);
	px_acct_init(&a, k);
	rc = k == PX_ACCT_COPILOT ? login_device(&o, &ep, &a) :
	    login_browser(&o, &ep, &a);
	if (rc == 0)
		rc = store_account(&o, &a, "Logged in to");
	px_acct_clear(&a);
	return rc == 0 ? 0 : 1;
}

/* ------------------------------------------------------------ accounts */

static int
cmd_list(struct opts *o)
{
	struct px_acct_entry *e;
	struct px_account full;
	unsigned char key[32];
	char err[512], exp[40], state[700];
	int n, i, have_key, rc;
	long long now = now_ms();

	if ((e = calloc(PX_ACCT_MAX, sizeof *e)) == NULL)
		return 1;
	n = px_acct_list(o->dir, e, PX_ACCT_MAX, err, sizeof err);
	if (n < 0) {
		fprintf(stderr, "llmproxy: %s\n", err);
		free(e);
		return 1;
	}
	if (n > PX_ACCT_MAX)
		n = PX_ACCT_MAX;
	have_key = px_acct_key(o->sd, 0, key, NULL, err, sizeof err) ==
	    PX_ACCT_OK;
	if (o->json)
		printf("[");
	else if (n == 0)
		printf("no accounts in %s (llmproxy login ...)\n", o->dir);
	else
		printf("%-32s %-8s %-32s %-21s %s\n", "LABEL", "KIND",
		    "IDENTITY", "EXPIRES", "STATE");
	for (i = 0; i < n; i++) {
		const struct px_account *a = &e[i].a;
		if (e[i].rc != PX_ACCT_OK) {
			snprintf(state, sizeof state, "unreadable: %s", e[i].why);
		} else if (!have_key) {
			snprintf(state, sizeof state, "no key: %.600s", err);
		} else {
			px_acct_init(&full, a->kind);
			rc = px_acct_load(o->dir, key, a->label, &full, state,
			    sizeof state);
			if (rc == PX_ACCT_OK)
				snprintf(state, sizeof state, "%s",
				    px_acct_fresh(&full, now) ? "ok" :
				    full.refresh ? "expired (renewed when used)" :
				    "expired: log in again");
			else {
				char tmp[sizeof state];
				snprintf(tmp, sizeof tmp, "unreadable: %.600s",
				    state);
				memcpy(state, tmp, sizeof state);
			}
			px_acct_clear(&full);
		}
		if (a->expires > 0)
			px_fmt_rfc3339(a->expires, exp, sizeof exp);
		else
			snprintf(exp, sizeof exp, "-");
		if (o->json) {
			struct px_arena ar;
			struct jw w;
			px_arena_init(&ar, 0);
			jw_init(&w, &ar, 0);
			jw_obj(&w);
			jw_kcstr(&w, "label", a->label);
			jw_kcstr(&w, "kind", e[i].rc == PX_ACCT_OK ?
			    px_acct_kind_name(a->kind) : "");
			jw_kcstr(&w, "identity", a->identity);
			jw_kcstr(&w, "account_id", a->account_id);
			jw_kcstr(&w, "plan", a->plan);
			jw_kcstr(&w, "project", a->project);
			if (a->expires > 0)
				jw_kcstr(&w, "expires", exp);
			else
				jw_knull(&w, "expires");
			jw_kcstr(&w, "state", state);
			jw_obj_end(&w);
			printf("%s%s", i ? "," : "", w.buf);
			px_arena_free(&ar);
		} else {
			printf("%-32s %-8s %-32s %-21s %s\n", a->label,
			    e[i].rc == PX_ACCT_OK ? px_acct_kind_name(a->kind) :
			    "?", a->identity[0] ? a->identity : "-", exp, state);
		}
	}
	if (o->json)
		printf("]\n");
	free(e);
	return 0;
}

static char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (f == NULL)
		return NULL;
	buf = malloc(PX_ACCT_ANSWER_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		return NULL;
	}
	*n = fread(buf, 1, PX_ACCT_ANSWER_MAX + 1, f);
	fclose(f);
	if (*n > PX_ACCT_ANSWER_MAX) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[*n] = 0;
	return buf;
}

static int
cmd_import(struct opts *o, enum px_acct_kind k)
{
	static const char *const dflt[PX_ACCT_NKINDS] = {
		".claude/.credentials.json", ".codex/auth.json",
		".gemini/oauth_creds.json",
		".config/github-copilot/apps.json" };
	struct px_account a;
	char path[4096], err[512];
	const char *home = getenv("HOME");
	char *text;
	size_t n;
	int rc = 1;

	if (o->from)
		snprintf(path, sizeof path, "%s", o->from);
	else if (k == PX_ACCT_CODEX && getenv("CODEX_HOME"))
		snprintf(path, sizeof path, "%s/auth.json", getenv("CODEX_HOME"));
	else
		snprintf(path, sizeof path, "%s/%s", home ? home : ".", dflt[k]);
	if ((text = slurp(path, &n)) == NULL) {
		fprintf(stderr, "llmproxy: %s: %s\n", path, strerror(errno));
		return 1;
	}
	px_acct_init(&a, k);
	if (px_acct_import(&a, text, n, now_ms(), err, sizeof err) < 0) {
		fprintf(stderr, "llmproxy: %s: %s\n", path, err);
		goto done;
	}
	if (k == PX_ACCT_COPILOT || k == PX_ACCT_GEMINI) {
		/* what the file lacks: an identity, the Copilot token, the
		 * Code Assist project */
		struct px_acct_ep ep;
		struct px_arena ar;
		struct px_hreq r;
		px_acct_ep_init(&ep, k, env_get);
		if (k == PX_ACCT_COPILOT) {
			px_arena_init(&ar, 0);
			if (px_oauth_refresh_request(&ep, &a, &ar, &r) < 0 ||
			    token_step(o, &a, &r, "getting a Copilot token") <
			    0) {
				px_arena_free(&ar);
				goto done;
			}
			px_arena_free(&ar);
			if (a.identity[0] == 0 && user_step(o, &ep, &a) < 0)
				goto done;
		} else {
			if (!px_acct_fresh(&a, now_ms())) {
				px_arena_init(&ar, 0);
				if (px_oauth_refresh_request(&ep, &a, &ar,
				    &r) < 0 || token_step(o, &a, &r,
				    "renewing the token") < 0) {
					px_arena_free(&ar);
					goto done;
				}
				px_arena_free(&ar);
			}
			if (a.identity[0] == 0 && user_step(o, &ep, &a) < 0)
				goto done;
			if (onboard(o, &ep, &a) < 0)
				goto done;
		}
	}
	if (store_account(o, &a, "Imported") == 0)
		rc = 0;
done:
	px_acct_clear(&a);
	if (text) {
		memset(text, 0, n);
		free(text);
	}
	return rc;
}

/* see login.h */
int
px_accounts_cmd(int argc, char **argv)
{
	struct opts o;
	enum px_acct_kind k;
	char err[512];
	int rc;

	memset(&o, 0, sizeof o);
	if (argc >= 2 && strcmp(argv[1], "list") == 0) {
		if (parse_opts(argc, argv, 2, &o) < 0 || o.name || o.from ||
		    o.project)
			goto usage;
		if (resolve_store(&o) < 0)
			return 1;
		return cmd_list(&o);
	}
	if (argc >= 3 && strcmp(argv[1], "remove") == 0) {
		if (parse_opts(argc, argv, 3, &o) < 0 || o.name || o.from ||
		    o.project || o.json)
			goto usage;
		if (resolve_store(&o) < 0)
			return 1;
		rc = px_acct_remove(o.dir, argv[2], err, sizeof err);
		if (rc != PX_ACCT_OK) {
			fprintf(stderr, "llmproxy: %s\n", err);
			return 1;
		}
		printf("Removed account \"%s\"; a running proxy stops using it "
		    "by itself.\n", argv[2]);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "import") == 0 &&
	    px_acct_kind_parse(argv[2], &k) == 0) {
		if (parse_opts(argc, argv, 3, &o) < 0 || o.json || o.project)
			goto usage;
		signal(SIGPIPE, SIG_IGN);
		if (resolve_store(&o) < 0)
			return 1;
		return cmd_import(&o, k);
	}
usage:
	fprintf(stderr, "usage: llmproxy accounts list [--json]\n"
	    "       llmproxy accounts remove LABEL\n"
	    "       llmproxy accounts import claude|codex|gemini|copilot "
	    "[--from FILE] [--name LABEL]\n"
	    "       (each with [--state-dir DIR | -c FILE])\n");
	return 2;
}
