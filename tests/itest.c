/*
 * itest.c - the integration harness: the real llmproxy binary against the
 * mock upstream, driven by the test files (test_integration.c,
 * it_hardening.c, it_admin.c, ...), which add their TCases to one suite.
 *
 *   LLMPROXY_BIN=build/llmproxy MOCK_BIN=build/mock_upstream \
 *       build/test_integration
 *
 * Run from the repository root (fixtures and certificates are read from
 * tests/). LLMPROXY_WRAP="valgrind ..." is split on spaces and put in front
 * of the proxy's argv; every wait is then scaled up.
 *
 * Each TCase starts one environment (a plain mock + a proxy routing to it)
 * in an unchecked fixture, shared by its forked tests; tests that look at
 * connection counts or signal the proxy start their own. Every process
 * writes its output to a temp dir; when a TCase had failures, the logs
 * written meanwhile are printed (and the dir is kept). The HTTP client is
 * a few raw-socket helpers so the tests see exactly the bytes the proxy
 * wrote.
 *
 * Tests run in forked children (CK_FORK) and leak freely: the child exits.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

/* ------------------------------------------------------------ settings */

const char *proxy_bin, *mock_bin;
char *wrap_argv[32];
int nwrap;
int scale = 1;
static pid_t main_pid;            /* the runner (tests run in children) */               /* wait multiplier (valgrind: 10) */
char tmpdir[256];
int teardown_failed;         /* shared env did not stop cleanly */



long long
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* malloc'd printf */
char *
strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* Replace every occurrence of from by to (same length) in s[0..n). */
void
replace_all(char *s, size_t n, const char *from, const char *to)
{
	size_t k = strlen(from), i;

	ck_assert_uint_eq(k, strlen(to));
	for (i = 0; i + k <= n; i++)
		if (memcmp(s + i, from, k) == 0)
			memcpy(s + i, to, k);
}

char *
fixture(const char *name, size_t *n)
{
	char path[512];
	char *p;

	snprintf(path, sizeof path, "tests/fixtures/%s", name);
	p = read_file(path, n);
	ck_assert_msg(p != NULL, "cannot read %s", path);
	return p;
}

/* ------------------------------------------------------------ processes */


struct proc procs[256];   /* every process a run starts (the shared
                            * fixtures of every case add theirs) */
int nprocs;
SRunner *runner;
int case_failed_before;
time_t case_started;

/* Print the last bytes of a log file to stderr. */
void
dump_log(const char *what, const char *path)
{
	size_t n;
	char *s = read_file(path, &n);
	size_t from;

	if (!s)
		return;
	from = n > 6000 ? n - 6000 : 0;
	fprintf(stderr, "----- %s (%s), last %zu bytes:\n%s\n-----\n", what,
	    path, n - from, s + from);
	free(s);
}

/*
 * A failed test exits with _exit() (no atexit, no teardown), so the logs
 * are shown by the unchecked teardown of its TCase, which runs in the
 * parent: every log written while the TCase ran.
 */
void
case_begin(void)
{
	case_failed_before = srunner_ntests_failed(runner);
	case_started = time(NULL);
}

void
case_end(void)
{
	DIR *d;
	struct dirent *de;

	if (srunner_ntests_failed(runner) == case_failed_before)
		return;
	d = opendir(tmpdir);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[600];
		struct stat st;
		size_t k = strlen(de->d_name);
		if (k < 5 || strcmp(de->d_name + k - 4, ".log") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", tmpdir, de->d_name);
		if (stat(path, &st) == 0 && st.st_mtime >= case_started - 1)
			dump_log(de->d_name, path);
	}
	closedir(d);
}

/* atexit: a test child kills what it started (its children also get
 * SIGKILL from PR_SET_PDEATHSIG when it dies by _exit). */
void
at_exit_cleanup(void)
{
	int i;

	for (i = 0; i < nprocs; i++) {
		if (procs[i].owner == getpid() && procs[i].pid > 0) {
			kill(procs[i].pid, SIGKILL);
			waitpid(procs[i].pid, NULL, 0);
			procs[i].pid = 0;
		}
	}
}

/* Start argv[] with stdout+stderr to a fresh log file. */
struct proc *
spawn(const char *what, char **argv)
{
	struct proc *p;
	pid_t pid;
	int fd;

	ck_assert_int_lt(nprocs, (int)(sizeof procs / sizeof procs[0]));
	p = &procs[nprocs++];
	memset(p, 0, sizeof *p);
	snprintf(p->what, sizeof p->what, "%s", what);
	snprintf(p->log, sizeof p->log, "%s/%s.%d.%d.log", tmpdir, what,
	    (int)getpid(), nprocs);
	fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* every process gets a state directory of its own in the
		 * test's temp dir (never the user's), unless the test set one */
		if (getenv("LLMPROXY_STATE_DIR") == NULL) {
			char sd[400];
			snprintf(sd, sizeof sd, "%s/state.%d.%d", tmpdir,
			    (int)getpid(), nprocs);
			setenv("LLMPROXY_STATE_DIR", sd, 1);
		}
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	p->pid = pid;
	p->owner = getpid();
	return p;
}

/* Wait until the log contains prefix; return the number after it. */
int
wait_log_number(struct proc *p, const char *prefix)
{
	long long end = mono_ms() + 10000LL * scale;

	while (mono_ms() < end) {
		char *s = read_file(p->log, NULL);
		char *at = s ? strstr(s, prefix) : NULL;
		int st;

		if (at) {
			int v = atoi(at + strlen(prefix));
			free(s);
			return v;
		}
		free(s);
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			dump_log(p->what, p->log);
			ck_abort_msg("%s exited before it was ready", p->what);
		}
		sleep_ms(10);
	}
	dump_log(p->what, p->log);
	ck_abort_msg("%s: no \"%s\" in its output", p->what, prefix);
	return -1;
}

/* Stop with SIGTERM; returns the exit status (or -1 after SIGKILL). */
int
proc_stop(struct proc *p, int timeout_ms)
{
	long long end = mono_ms() + timeout_ms;
	int st;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	while (mono_ms() < end) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		sleep_ms(10);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
	return -1;
}

struct proc *
start_mock(const char *tlscert, const char *tlskey, int *port)
{
	char *argv[12];
	int n = 0;
	struct proc *p;

	argv[n++] = (char *)mock_bin;
	argv[n++] = "-l";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--fixtures";
	argv[n++] = "tests/fixtures";
	if (tlscert) {
		argv[n++] = "--tls";
		argv[n++] = (char *)tlscert;
		argv[n++] = (char *)tlskey;
	}
	argv[n] = NULL;
	p = spawn(tlscert ? "mock-tls" : "mock", argv);
	*port = wait_log_number(p, "listening ");
	ck_assert_int_gt(*port, 0);
	return p;
}


struct env shared;         /* per TCase, see shared_start() */

/* A port nothing listens on (bound, then closed). */
int
closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

void
write_config(struct env *e, const char *ca)
{
	FILE *f;
	static int seq;

	snprintf(e->cfg, sizeof e->cfg, "%s/config.%d.%d.json", tmpdir,
	    (int)getpid(), ++seq);
	f = fopen(e->cfg, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
	    "{\n"
	    "  \"listen\": \"127.0.0.1:0\",\n"
	    "  \"api_keys\": [\"sk-test\"],\n"
	    "  \"providers\": [\n"
	    "    {\"name\": \"oai\", \"type\": \"openai\", \"base_url\": \"http://127.0.0.1:%d/v1\", \"api_key\": \"up-oai\",\n"
	    "     \"responses_models\": [\"gpt-rsp-*\"]},\n"
	    "    {\"name\": \"ant\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:%d\", \"api_key\": \"up-ant\"},\n"
	    "    {\"name\": \"dead\", \"type\": \"anthropic\", \"base_url\": \"http://127.0.0.1:%d\", \"api_key\": \"k\"}",
	    e->mock_port, e->mock_port, closed_port());
	if (e->tls_port)
		fprintf(f, ",\n    {\"name\": \"tls\", \"type\": \"anthropic\", \"base_url\": \"https://localhost:%d\", \"api_key\": \"k\"}",
		    e->tls_port);
	if (e->bad_port)
		fprintf(f, ",\n    {\"name\": \"wrongname\", \"type\": \"anthropic\", \"base_url\": \"https://localhost:%d\", \"api_key\": \"k\"}",
		    e->bad_port);
	fprintf(f,
	    "\n  ],\n"
	    "  \"models\": {\n"
	    "    \"gpt-4o-mini\": \"oai\",\n"
	    "    \"renamed-echo\": \"oai/gpt-echo-upstream\",\n"
	    "    \"gpt-*\": \"oai\", \"claude-*\": \"ant\",\n"
	    "    \"o2a-*\": \"ant\", \"a2o-*\": \"oai\", \"dead-*\": \"dead\"%s%s\n"
	    "  },\n"
	    "  \"ca_file\": \"%s\",\n"
	    /* no background model-list fetches: these tests count the
	     * mock's requests and the log's lines (it_first.c tests them) */
	    "  \"models_ttl_seconds\": 0,\n"
	    "  \"timeouts\": {\"header_ms\": 500, \"first_byte_ms\": %d},\n"
	    "  \"limits\": {\"body_bytes\": 100000, \"header_bytes\": 8192}\n"
	    "}\n",
	    e->tls_port ? ",\n    \"tls-*\": \"tls\"" : "",
	    e->bad_port ? ",\n    \"wrongname-*\": \"wrongname\"" : "",
	    ca ? ca : "tests/certs/ca.pem", 1000 * scale);
	fclose(f);
}

/* Start the proxy on the config file e->cfg (any free port). */
void
spawn_proxy(struct env *e)
{
	char *argv[48];
	int n = 0, i;

	for (i = 0; i < nwrap; i++)
		argv[n++] = wrap_argv[i];
	argv[n++] = (char *)proxy_bin;
	argv[n++] = "-c";
	argv[n++] = e->cfg;
	argv[n++] = "-l";
	argv[n++] = "127.0.0.1:0";
	argv[n] = NULL;
	e->proxy = spawn("proxy", argv);
	e->port = wait_log_number(e->proxy, "listening on 127.0.0.1:");
	ck_assert_int_gt(e->port, 0);
}

void
start_proxy(struct env *e, const char *ca)
{
	write_config(e, ca);
	spawn_proxy(e);
}

/* A plain mock and a proxy in front of it. */
void
env_start(struct env *e)
{
	memset(e, 0, sizeof *e);
	e->mock = start_mock(NULL, NULL, &e->mock_port);
	start_proxy(e, NULL);
}

/* Unchecked fixture (runs in the parent): the shared environment. */
void
shared_start(void)
{
	env_start(&shared);
}

/* Stop a test environment: the proxy must exit 0 after SIGTERM. */
void
env_stop(struct env *e)
{
	int rc = proc_stop(e->proxy, 10000 * scale);

	proc_stop(e->mock, 2000);
	if (rc != 0) {
		fprintf(stderr, "proxy: exit status %d after SIGTERM\n", rc);
		dump_log("proxy", e->proxy->log);
		/* in a test (a forked child) the test fails; in a fixture
		 * (the parent) the run does */
		if (getpid() != main_pid)
			ck_abort_msg("proxy: exit status %d after SIGTERM", rc);
		teardown_failed = 1;
	}
}

void
shared_stop(void)
{
	env_stop(&shared);
}

/* ------------------------------------------------------------ client */



int
tcp_connect(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

void
client_open(struct client *c, int port)
{
	memset(c, 0, sizeof *c);
	c->fd = tcp_connect(port);
	ck_assert_msg(c->fd >= 0, "connect to 127.0.0.1:%d: %s", port,
	    strerror(errno));
}

void
client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

void
send_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		ck_assert_msg(w > 0, "send: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

void
client_send(struct client *c, const char *s)
{
	send_all(c->fd, s, strlen(s));
}

/* Read more bytes, waiting until the absolute deadline. 1 got bytes,
 * 0 EOF, -1 timeout / error. */
int
client_fill(struct client *c, long long deadline)
{
	struct pollfd pfd;
	ssize_t r;
	long long left;

	if (c->eof)
		return 0;
	if (c->cap - c->len < 65536) {
		c->cap = c->cap ? c->cap * 2 : 131072;
		c->buf = realloc(c->buf, c->cap + 1);
		ck_assert_ptr_nonnull(c->buf);
	}
	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			return -1;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			c->eof = 1;
			return 0;
		}
		c->len += (size_t)r;
		c->buf[c->len] = 0;
		return 1;
	}
}

void
client_consume(struct client *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	if (c->buf)
		c->buf[c->len] = 0;
}

const char *
memfind(const char *h, size_t hn, const char *needle)
{
	size_t k = strlen(needle), i;
	for (i = 0; i + k <= hn; i++)
		if (memcmp(h + i, needle, k) == 0)
			return h + i;
	return NULL;
}

/* Make sure n bytes are buffered. */
int
client_need(struct client *c, size_t n, long long deadline)
{
	while (c->len < n)
		if (client_fill(c, deadline) <= 0)
			return -1;
	return 0;
}

/* Find "\r\n" in the buffer from off, reading more as needed. */
const char *
client_line(struct client *c, size_t off, long long deadline)
{
	const char *e;
	while (!(e = memfind(c->buf ? c->buf + off : "", c->len > off ? c->len - off : 0, "\r\n")))
		if (client_fill(c, deadline) <= 0)
			return NULL;
	return e;
}

const char *
resp_hdr(const struct resp *r, const char *name)
{
	int i;
	for (i = 0; i < r->nh; i++)
		if (strcasecmp(r->hname[i], name) == 0)
			return r->hval[i];
	return NULL;
}

void
body_append(struct resp *r, const char *p, size_t n)
{
	if (r->body_len + n + 1 > r->body_cap) {
		size_t nc = r->body_cap ? r->body_cap : 4096;
		while (nc < r->body_len + n + 1)
			nc *= 2;
		r->body = realloc(r->body, nc);
		ck_assert_ptr_nonnull(r->body);
		r->body_cap = nc;
	}
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	r->body[r->body_len] = 0;
}

/* Read only the response head (1xx are noted and skipped). 0 ok, -1 no
 * head before the deadline / EOF. */
int
read_head(struct client *c, struct resp *r, long long deadline)
{
	const char *e;
	char *line, *save = NULL;
	size_t hl;

	memset(r, 0, sizeof *r);
	r->body = calloc(1, 1);
	for (;;) {
		while (!(e = memfind(c->buf ? c->buf : "", c->len, "\r\n\r\n")))
			if (client_fill(c, deadline) <= 0)
				return -1;
		hl = (size_t)(e - c->buf) + 4;
		if (hl >= 13 && memcmp(c->buf, "HTTP/1.1 1", 10) == 0) {
			r->got_continue = memcmp(c->buf, "HTTP/1.1 100", 12) == 0;
			client_consume(c, hl);
			continue;
		}
		break;
	}
	r->head = malloc(hl + 1);
	memcpy(r->head, c->buf, hl);
	r->head[hl] = 0;
	client_consume(c, hl);
	ck_assert_msg(strncmp(r->head, "HTTP/1.", 7) == 0, "bad status line: %s", r->head);
	r->status = atoi(r->head + 9);
	{
		/* parse headers into name/value views of a copy */
		char *copy = strdup(r->head);
		line = strtok_r(copy, "\r\n", &save);   /* status line */
		while ((line = strtok_r(NULL, "\r\n", &save)) != NULL && r->nh < 64) {
			char *colon = strchr(line, ':');
			if (!colon)
				continue;
			*colon = 0;
			colon++;
			while (*colon == ' ' || *colon == '\t')
				colon++;
			r->hname[r->nh] = line;
			r->hval[r->nh] = colon;
			r->nh++;
		}
	}
	return 0;
}

/* Read the rest of a response whose head is in r. */
int
read_body(struct client *c, struct resp *r, int head_request, long long deadline)
{
	const char *te = resp_hdr(r, "transfer-encoding");
	const char *cl = resp_hdr(r, "content-length");

	r->chunked = te && strcasecmp(te, "chunked") == 0;
	if (head_request || r->status == 204 || r->status == 304 ||
	    (r->status >= 100 && r->status < 200)) {
		r->complete = 1;
		return 0;
	}
	if (r->chunked) {
		for (;;) {
			const char *e = client_line(c, 0, deadline);
			unsigned long sz;
			size_t hl;
			if (!e)
				return -1;
			sz = strtoul(c->buf, NULL, 16);
			hl = (size_t)(e - c->buf) + 2;
			if (sz == 0) {
				/* trailers: lines until an empty one */
				client_consume(c, hl);
				for (;;) {
					e = client_line(c, 0, deadline);
					if (!e)
						return -1;
					hl = (size_t)(e - c->buf) + 2;
					client_consume(c, hl);
					if (hl == 2)
						break;
				}
				r->complete = 1;
				return 0;
			}
			if (client_need(c, hl + sz + 2, deadline) < 0)
				return -1;
			ck_assert_msg(memcmp(c->buf + hl + sz, "\r\n", 2) == 0,
			    "chunk not followed by CRLF");
			body_append(r, c->buf + hl, sz);
			client_consume(c, hl + sz + 2);
		}
	}
	if (cl) {
		size_t n = (size_t)strtoull(cl, NULL, 10);
		if (client_need(c, n, deadline) < 0) {
			body_append(r, c->buf ? c->buf : "", c->len);
			client_consume(c, c->len);
			return -1;
		}
		body_append(r, c->buf, n);
		client_consume(c, n);
		r->complete = 1;
		return 0;
	}
	/* close-delimited */
	for (;;) {
		int k = client_fill(c, deadline);
		if (k < 0)
			return -1;
		if (k == 0)
			break;
	}
	body_append(r, c->buf ? c->buf : "", c->len);
	client_consume(c, c->len);
	r->complete = 1;
	return 0;
}

int
read_response(struct client *c, struct resp *r, int head_request, int ms)
{
	long long deadline = mono_ms() + ms;
	if (read_head(c, r, deadline) < 0)
		return -1;
	return read_body(c, r, head_request, deadline);
}

/* Build a request: method, path, extra header lines, optional body. */
char *
req_text(const char *method, const char *path, const char *hdrs,
         const char *body)
{
	if (!body)
		return strf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n",
		    method, path, hdrs ? hdrs : "");
	return strf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, hdrs ? hdrs : "", strlen(body), body);
}

/* One request on a fresh connection; the response must arrive whole. */
void
exchange(int port, const char *raw, struct resp *r)
{
	struct client c;
	int head = strncmp(raw, "HEAD ", 5) == 0;

	client_open(&c, port);
	client_send(&c, raw);
	ck_assert_msg(read_response(&c, r, head, IO_MS) == 0,
	    "no complete response to:\n%.300s\n(got status %d, %zu body bytes)",
	    raw, r->status, r->body_len);
	client_close(&c);
}

/* POST with the usual client key for the path (chat or messages). */
void
post_to(int port, const char *path, const char *body, struct resp *r)
{
	const char *auth = strstr(path, "/messages") ? AUTH_ANT : AUTH_CHAT;
	exchange(port, req_text("POST", path, auth, body), r);
}

void
post(const char *path, const char *body, struct resp *r)
{
	post_to(shared.port, path, body, r);
}


char *
chat_body(const char *model, int stream)
{
	return strf("{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]%s%s}",
	    model, stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "",
	    strstr(model, "tool") ? TOOL_CHAT : "");
}

char *
ant_body(const char *model, int stream)
{
	return strf("{\"model\":\"%s\",\"max_tokens\":256,\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]%s%s}",
	    model, stream ? ",\"stream\":true" : "",
	    strstr(model, "tool") ? TOOL_ANT : "");
}

/* ------------------------------------------------------------ mini JSON */

/*
 * Just enough JSON to look values up by path ("choices.0.delta.role"): the
 * tests must not depend on the json.c under test.
 */
const char *
jws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

/* End of the value at p, or NULL if malformed. */
const char *
jskip(const char *p)
{
	p = jws(p);
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && !*++p)
				return NULL;
		return *p ? p + 1 : NULL;
	}
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = jws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				p = jskip(p);           /* key */
				if (!p || *(p = jws(p)) != ':')
					return NULL;
				p++;
			}
			p = jskip(p);
			if (!p)
				return NULL;
			p = jws(p);
			if (*p == ',') {
				p = jws(p + 1);
				continue;
			}
			return *p == close ? p + 1 : NULL;
		}
	}
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		while (*p && strchr("+-0123456789.eE", *p))
			p++;
		return p;
	}
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	return NULL;
}

/* Value at path inside json: *vs..*ve. 1 found, 0 not. */
int
jfind(const char *json, const char *path, const char **vs, const char **ve)
{
	const char *p = jws(json);
	char seg[128];

	while (*path) {
		size_t k = strcspn(path, ".");
		int found = 0;
		if (k >= sizeof seg)
			return 0;
		memcpy(seg, path, k);
		seg[k] = 0;
		path += k;
		if (*path == '.')
			path++;
		if (*p == '{') {
			p = jws(p + 1);
			while (*p == '"') {
				const char *ks = p + 1, *ke = jskip(p);
				if (!ke)
					return 0;
				p = jws(ke);
				if (*p != ':')
					return 0;
				p = jws(p + 1);
				if ((size_t)(ke - 1 - ks) == strlen(seg) &&
				    memcmp(ks, seg, strlen(seg)) == 0) {
					found = 1;
					break;
				}
				p = jskip(p);
				if (!p)
					return 0;
				p = jws(p);
				if (*p == ',')
					p = jws(p + 1);
			}
		} else if (*p == '[' && seg[0] >= '0' && seg[0] <= '9') {
			int idx = atoi(seg), i = 0;
			p = jws(p + 1);
			while (*p && *p != ']') {
				if (i == idx) {
					found = 1;
					break;
				}
				p = jskip(p);
				if (!p)
					return 0;
				p = jws(p);
				if (*p == ',')
					p = jws(p + 1);
				i++;
			}
		}
		if (!found)
			return 0;
	}
	*vs = p;
	*ve = jskip(p);
	return *ve != NULL;
}

int
jhas(const char *json, const char *path)
{
	const char *s, *e;
	return json && jfind(json, path, &s, &e);
}

/* Raw text of the value ("null", "3", "\"x\"", "{...}"), malloc'd, or NULL. */
char *
jraw(const char *json, const char *path)
{
	const char *s, *e;
	if (!json || !jfind(json, path, &s, &e))
		return NULL;
	return strf("%.*s", (int)(e - s), s);
}

void
put_utf8(char **o, unsigned long cp)
{
	unsigned char *u = (unsigned char *)*o;
	if (cp < 0x80) {
		*u++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*u++ = (unsigned char)(0xC0 | (cp >> 6));
		*u++ = (unsigned char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*u++ = (unsigned char)(0xE0 | (cp >> 12));
		*u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		*u++ = (unsigned char)(0x80 | (cp & 0x3F));
	} else {
		*u++ = (unsigned char)(0xF0 | (cp >> 18));
		*u++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		*u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		*u++ = (unsigned char)(0x80 | (cp & 0x3F));
	}
	*o = (char *)u;
}

/* Decoded string value, malloc'd, or NULL when absent / not a string. */
char *
jstr(const char *json, const char *path)
{
	const char *s, *e, *p;
	char *out, *o;

	if (!json || !jfind(json, path, &s, &e) || *s != '"')
		return NULL;
	out = o = malloc((size_t)(e - s) + 1);
	for (p = s + 1; p < e - 1; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'r': *o++ = '\r'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'u': {
			unsigned long cp = strtoul(strf("%.4s", p + 1), NULL, 16);
			p += 4;
			if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' && p[2] == 'u') {
				unsigned long lo = strtoul(strf("%.4s", p + 3), NULL, 16);
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			}
			put_utf8(&o, cp);
			break;
		}
		default: *o++ = *p; break;
		}
	}
	*o = 0;
	return out;
}

long long
jint(const char *json, const char *path, long long dflt)
{
	const char *s, *e;
	if (!json || !jfind(json, path, &s, &e) || !(*s == '-' || (*s >= '0' && *s <= '9')))
		return dflt;
	return strtoll(s, NULL, 10);
}

/* Number of elements of the array at path, -1 if not an array. */
int
jlen(const char *json, const char *path)
{
	const char *s, *e, *p;
	int n = 0;

	if (!json || !jfind(json, path, &s, &e) || *s != '[')
		return -1;
	p = jws(s + 1);
	while (*p && *p != ']') {
		p = jskip(p);
		if (!p)
			return -1;
		n++;
		p = jws(p);
		if (*p == ',')
			p = jws(p + 1);
	}
	return n;
}

/* Whole text is one valid JSON value. */
int
jvalid(const char *json)
{
	const char *e = jskip(json);
	return e && *jws(e) == 0;
}

/* String equality that prints both sides on failure. */

/* ------------------------------------------------------------ SSE */


/* Split an SSE body into events (comments skipped). Returns the count. */
int
sse_split(const char *body, struct ev **out)
{
	struct ev *evs = NULL;
	int n = 0, cap = 0;
	const char *p = body;

	while (*p) {
		const char *end1 = strstr(p, "\n\n"), *end2 = strstr(p, "\r\n\r\n");
		const char *end;
		size_t sep;
		char *block, *line, *save = NULL;
		struct ev e = { NULL, NULL };

		if (end2 && (!end1 || end2 < end1)) {
			end = end2;
			sep = 4;
		} else if (end1) {
			end = end1;
			sep = 2;
		} else {
			end = p + strlen(p);
			sep = 0;
		}
		block = strf("%.*s", (int)(end - p), p);
		for (line = strtok_r(block, "\r\n", &save); line;
		    line = strtok_r(NULL, "\r\n", &save)) {
			if (strncmp(line, "event:", 6) == 0) {
				e.event = strdup(line + 6 + (line[6] == ' '));
			} else if (strncmp(line, "data:", 5) == 0) {
				const char *d = line + 5 + (line[5] == ' ');
				e.data = e.data ? strf("%s\n%s", e.data, d) : strdup(d);
			}
		}
		if (e.event || e.data) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				evs = realloc(evs, (size_t)cap * sizeof *evs);
			}
			evs[n++] = e;
		}
		p = end + sep;
		if (sep == 0)
			break;
	}
	*out = evs;
	return n;
}

/* Text accumulated from an SSE fixture: every data JSON value at path
 * (e.g. "delta.text") of events whose data.type equals type (NULL: any). */
char *
fixture_concat(const char *name, const char *type, const char *path)
{
	struct ev *evs;
	int n, i;
	char *acc = strdup("");
	char *body = fixture(name, NULL);

	n = sse_split(body, &evs);
	for (i = 0; i < n; i++) {
		char *t, *v;
		if (!evs[i].data)
			continue;
		t = jstr(evs[i].data, "type");
		if (type && (!t || strcmp(t, type) != 0))
			continue;
		v = jstr(evs[i].data, path);
		if (v)
			acc = strf("%s%s", acc, v);
	}
	return acc;
}

/* ------------------------------------------------------------ checks */

void
expect_status(const struct resp *r, int status)
{
	ck_assert_msg(r->status == status, "status %d, want %d; body: %.600s",
	    r->status, status, r->body);
}

/* OpenAI error shape: {"error":{"message":...,"type":...}} */
void
expect_openai_error(const struct resp *r, int status, const char *msg_part)
{
	char *msg;
	expect_status(r, status);
	ck_assert_msg(jvalid(r->body), "error body is not JSON: %s", r->body);
	msg = jstr(r->body, "error.message");
	ck_assert_msg(msg != NULL, "no error.message in %s", r->body);
	ck_assert_msg(!jhas(r->body, "type"), "Anthropic-style top-level type in an OpenAI error: %s", r->body);
	if (msg_part)
		ck_assert_msg(strstr(msg, msg_part) != NULL,
		    "error message '%s' lacks '%s'", msg, msg_part);
}

/* Anthropic error shape: {"type":"error","error":{"type":...,"message":...}} */
void
expect_anthropic_error(const struct resp *r, int status, const char *etype,
                       const char *msg_part)
{
	char *msg;
	expect_status(r, status);
	ck_assert_msg(jvalid(r->body), "error body is not JSON: %s", r->body);
	ck_str(jstr(r->body, "type"), "error");
	msg = jstr(r->body, "error.message");
	ck_assert_msg(msg != NULL, "no error.message in %s", r->body);
	if (etype)
		ck_str(jstr(r->body, "error.type"), etype);
	if (msg_part)
		ck_assert_msg(strstr(msg, msg_part) != NULL,
		    "error message '%s' lacks '%s'", msg, msg_part);
}

/*
 * A Chat Completions stream as the SDK accumulators need it (WIRE.md
 * Part 2 §1, §5 A). Returns the accumulated text, and through the out
 * parameters the reasoning text, the finish reason and the usage chunk.
 */

void
check_chat_stream(const struct resp *r, struct chat_acc *a)
{
	struct ev *evs;
	int n, i, roles = 0, nchunks = 0;
	char *id = NULL;

	memset(a, 0, sizeof *a);
	a->content = strdup("");
	a->reasoning = strdup("");
	expect_status(r, 200);
	ck_assert_msg(resp_hdr(r, "content-type") &&
	    strncmp(resp_hdr(r, "content-type"), "text/event-stream", 17) == 0,
	    "content-type %s", resp_hdr(r, "content-type"));
	ck_assert_msg(r->complete, "response framing incomplete");
	n = sse_split(r->body, &evs);
	ck_assert_int_gt(n, 0);
	for (i = 0; i < n; i++) {
		const char *d = evs[i].data;
		char *cid, *fr;
		int nc, k;

		ck_assert_msg(evs[i].event == NULL, "chat stream has an event: line (%s)", evs[i].event);
		ck_assert_msg(d != NULL, "event without data");
		if (strcmp(d, "[DONE]") == 0) {
			ck_assert_msg(i == n - 1, "events after [DONE]");
			a->done = 1;
			break;
		}
		ck_assert_msg(jvalid(d), "data is not JSON: %s", d);
		if (jhas(d, "error")) {
			ck_assert_msg(i == n - 1, "events after an error event");
			a->error = strdup(d);
			break;
		}
		nchunks++;
		ck_str(jstr(d, "object"), "chat.completion.chunk");
		cid = jstr(d, "id");
		ck_assert_msg(cid && *cid, "chunk without id: %s", d);
		if (!id)
			id = cid;
		else
			ck_assert_msg(strcmp(id, cid) == 0, "id changed: %s then %s", id, cid);
		nc = jlen(d, "choices");
		ck_assert_msg(nc >= 0, "chunk without a choices array: %s", d);
		if (nc == 0) {
			ck_assert_msg(jhas(d, "usage"), "empty choices without usage: %s", d);
			a->usage = jraw(d, "usage");
			continue;
		}
		ck_assert_int_eq(jint(d, "choices.0.index", -1), 0);
		ck_assert_msg(jhas(d, "choices.0.finish_reason"), "finish_reason key missing: %s", d);
		if (jstr(d, "choices.0.delta.role")) {
			ck_str(jstr(d, "choices.0.delta.role"), "assistant");
			ck_assert_msg(nchunks == 1, "role not on the first chunk");
			roles++;
		}
		if (jstr(d, "choices.0.delta.content"))
			a->content = strf("%s%s", a->content, jstr(d, "choices.0.delta.content"));
		if (jstr(d, "choices.0.delta.reasoning_content"))
			a->reasoning = strf("%s%s", a->reasoning, jstr(d, "choices.0.delta.reasoning_content"));
		fr = jstr(d, "choices.0.finish_reason");
		if (fr) {
			ck_assert_msg(a->finish == NULL, "two finish chunks");
			a->finish = fr;
		}
		k = jlen(d, "choices.0.delta.tool_calls");
		if (k > 0) {
			int j;
			for (j = 0; j < k; j++) {
				char p[96];
				long long idx;
				snprintf(p, sizeof p, "choices.0.delta.tool_calls.%d.index", j);
				idx = jint(d, p, -1);
				ck_assert_msg(idx >= 0 && idx < 8, "tool call index %lld: %s", idx, d);
				snprintf(p, sizeof p, "choices.0.delta.tool_calls.%d", j);
				{
					char *tc = jraw(d, p);
					if (idx == a->ntools) {
						/* first delta of a new call: id, type, name */
						a->tool_id[idx] = jstr(tc, "id");
						a->tool_name[idx] = jstr(tc, "function.name");
						ck_assert_msg(a->tool_id[idx] && a->tool_name[idx],
						    "first tool delta without id/name: %s", tc);
						ck_str(jstr(tc, "type"), "function");
						a->tool_args[idx] = strdup("");
						a->ntools++;
					} else {
						ck_assert_msg(idx < a->ntools, "tool index gap: %lld after %d", idx, a->ntools);
						ck_assert_msg(!jhas(tc, "id") && !jhas(tc, "type") &&
						    !jhas(tc, "function.name"),
						    "id/type/name repeated on a later delta: %s", tc);
					}
					if (jstr(tc, "function.arguments"))
						a->tool_args[idx] = strf("%s%s", a->tool_args[idx],
						    jstr(tc, "function.arguments"));
				}
			}
		}
	}
	ck_assert_msg(roles == 1, "%d role deltas", roles);
}

/*
 * An Anthropic Messages stream: the block grammar of WIRE.md §4.1.
 */

void
check_anthropic_stream(const struct resp *r, struct ant_acc *a)
{
	struct ev *evs;
	int n, i, open = -1, got_delta = 0;

	memset(a, 0, sizeof *a);
	a->text = strdup("");
	a->thinking = strdup("");
	expect_status(r, 200);
	ck_assert_msg(r->complete, "response framing incomplete");
	n = sse_split(r->body, &evs);
	ck_assert_int_gt(n, 0);
	for (i = 0; i < n; i++) {
		const char *ev = evs[i].event, *d = evs[i].data;
		char *type;
		ck_assert_msg(ev != NULL, "Anthropic event without event: line (data %s)", d);
		ck_assert_msg(d && jvalid(d), "event %s: data not JSON: %s", ev, d);
		type = jstr(d, "type");
		ck_assert_msg(type && strcmp(type, ev) == 0, "event: %s but data.type %s", ev, type);
		if (i == 0 && strcmp(ev, "error") != 0)
			ck_str(ev, "message_start");
		ck_assert_msg(!a->stopped, "event after message_stop");
		if (strcmp(ev, "error") == 0) {
			ck_assert_msg(i == n - 1, "events after error");
			a->error = strdup(d);
			break;
		}
		if (strcmp(ev, "ping") == 0)
			continue;
		if (strcmp(ev, "message_start") == 0) {
			ck_assert_int_eq(i, 0);
			ck_str(jstr(d, "message.role"), "assistant");
			ck_assert_int_eq(jlen(d, "message.content"), 0);
			ck_assert_msg(jhas(d, "message.usage"), "message_start without usage");
			a->in_tokens = jint(d, "message.usage.input_tokens", -1);
		} else if (strcmp(ev, "content_block_start") == 0) {
			long long idx = jint(d, "index", -1);
			ck_assert_msg(open < 0, "block %lld started while %d open", idx, open);
			ck_assert_msg(idx == a->nblocks && idx < 16, "block index %lld, want %d", idx, a->nblocks);
			a->btype[idx] = jstr(d, "content_block.type");
			ck_assert_ptr_nonnull(a->btype[idx]);
			if (strcmp(a->btype[idx], "tool_use") == 0) {
				a->tool_id[idx] = jstr(d, "content_block.id");
				a->tool_name[idx] = jstr(d, "content_block.name");
				ck_assert_msg(a->tool_id[idx] && *a->tool_id[idx] && a->tool_name[idx],
				    "tool_use start without id/name: %s", d);
				a->tool_json[idx] = strdup("");
			}
			open = (int)idx;
			got_delta = 0;
			a->nblocks++;
		} else if (strcmp(ev, "content_block_delta") == 0) {
			char *dt = jstr(d, "delta.type");
			ck_assert_int_eq(jint(d, "index", -1), open);
			ck_assert_ptr_nonnull(dt);
			if (strcmp(dt, "text_delta") == 0) {
				ck_str(a->btype[open], "text");
				a->text = strf("%s%s", a->text, jstr(d, "delta.text"));
				got_delta = 1;
			} else if (strcmp(dt, "thinking_delta") == 0) {
				ck_str(a->btype[open], "thinking");
				a->thinking = strf("%s%s", a->thinking, jstr(d, "delta.thinking"));
			} else if (strcmp(dt, "input_json_delta") == 0) {
				ck_str(a->btype[open], "tool_use");
				a->tool_json[open] = strf("%s%s", a->tool_json[open], jstr(d, "delta.partial_json"));
			}
		} else if (strcmp(ev, "content_block_stop") == 0) {
			ck_assert_int_eq(jint(d, "index", -1), open);
			if (strcmp(a->btype[open], "text") == 0)
				ck_assert_msg(got_delta, "empty text block %d", open);
			open = -1;
		} else if (strcmp(ev, "message_delta") == 0) {
			ck_assert_msg(open < 0, "message_delta while block %d open", open);
			ck_assert_msg(a->stop_reason == NULL, "two message_delta events");
			a->stop_reason = jstr(d, "delta.stop_reason");
			ck_assert_msg(a->stop_reason, "message_delta without stop_reason: %s", d);
			a->out_tokens = jint(d, "usage.output_tokens", -1);
			ck_assert_msg(a->out_tokens >= 0, "message_delta without usage.output_tokens: %s", d);
		} else if (strcmp(ev, "message_stop") == 0) {
			ck_assert_msg(a->stop_reason, "message_stop before message_delta");
			a->stopped = 1;
		} else {
			ck_abort_msg("unexpected event %s", ev);
		}
	}
	for (i = 0; i < a->nblocks; i++)
		if (a->tool_json[i])
			ck_assert_msg(jvalid(a->tool_json[i]), "tool input fragments do not form JSON: %s", a->tool_json[i]);
}

/* ============================================================ tests */

/* ---------------------------------------------- passthrough (Chat->OpenAI) */

TCase *
tc(Suite *s, const char *name, int with_shared)
{
	TCase *t = tcase_create(name);
	tcase_set_timeout(t, CK_TIMEOUT);
	tcase_add_unchecked_fixture(t, case_begin, case_end);
	if (with_shared)
		tcase_add_unchecked_fixture(t, shared_start, shared_stop);
	suite_add_tcase(s, t);
	return t;
}


/*
 * The harness allocates freely (strings per request, never freed); leak
 * checking is for the proxy and the mock, which run as their own
 * processes with their own LeakSanitizer. Turn it off for this binary only.
 */
int __lsan_is_turned_off(void);
int
__lsan_is_turned_off(void)
{
	return 1;
}

int
main(void)
{
	SRunner *sr;
	int failed;
	const char *wrap = getenv("LLMPROXY_WRAP");

	main_pid = getpid();
	proxy_bin = getenv("LLMPROXY_BIN");
	mock_bin = getenv("MOCK_BIN");
	if (!proxy_bin || !mock_bin) {
		fprintf(stderr, "test_integration: set LLMPROXY_BIN and MOCK_BIN\n");
		return 2;
	}
	if (wrap && *wrap) {
		char *w = strdup(wrap), *tok, *save = NULL;
		for (tok = strtok_r(w, " ", &save); tok && nwrap < 31;
		    tok = strtok_r(NULL, " ", &save))
			wrap_argv[nwrap++] = tok;
		scale = 10;
	}
	snprintf(tmpdir, sizeof tmpdir, "%s/llmproxy-it.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	atexit(at_exit_cleanup);

	{
		Suite *s = suite_create("integration");
		it_core(s);
		it_hardening(s);
		it_streams(s);
		it_gateway(s);
		it_team(s);
		it_admin(s);
		it_first(s);
		it_accounts(s);
		it_sessions(s);
		it_exec(s);
		sr = srunner_create(s);
	}
	runner = sr;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	if (!failed && !teardown_failed) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	} else {
		fprintf(stderr, "logs kept in %s\n", tmpdir);
	}
	return failed || teardown_failed ? 1 : 0;
}
