/*
 * test_tls.c - tls.c against a real BearSSL server: the mock upstream run
 * with --tls in child processes (one with the "localhost" certificate, one
 * with a certificate for wrong.example), on loopback only.
 *
 * The client below is the smallest poll() loop that uses tls.h the way
 * proxy.c does: non-blocking connect, tls_write until the request is
 * queued, tls_flush, tls_read until the response is complete or the peer
 * closes, and poll() on tls_events() in between (timeout 0 while
 * tls_pending()). Every loop has a deadline so a bug fails instead of
 * hanging.
 *
 * Run from the repository root (paths tests/certs, tests/fixtures);
 * MOCK_BIN names the mock binary (default build/mock_upstream).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tls.h"

#define CERTS "tests/certs/"

static int port_good, port_wrong;
static pid_t pid_good, pid_wrong;
static struct tls_conn conn;          /* ~40 KB: never on the stack */

/* ------------------------------------------------------------ helpers */

static pid_t
start_mock(const char *cert, const char *key, int *port)
{
	const char *bin = getenv("MOCK_BIN");
	int pfd[2];
	pid_t pid;
	char line[64];
	FILE *f;

	if (bin == NULL || *bin == '\0')
		bin = "build/mock_upstream";
	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(bin, bin, "-l", "127.0.0.1:0", "--tls", cert, key,
		    (char *)NULL);
		fprintf(stderr, "test_tls: cannot run %s: %s\n", bin,
		    strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	if (f == NULL || fgets(line, sizeof line, f) == NULL ||
	    sscanf(line, "listening %d", port) != 1) {
		fprintf(stderr, "test_tls: mock did not start (MOCK_BIN=%s)\n",
		    bin);
		if (pid > 0)
			kill(pid, SIGTERM);
		return -1;
	}
	fclose(f);
	return pid;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
connect_local(int port)
{
	struct sockaddr_in sa;
	struct pollfd p;
	int fd, err = 0;
	socklen_t el = sizeof err;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		ck_assert_int_eq(errno, EINPROGRESS);
		p.fd = fd;
		p.events = POLLOUT;
		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		ck_assert_int_eq(err, 0);
	}
	return fd;
}

struct buf {
	char d[65536];
	size_t n;
};

/* Response complete? Content-Length or the chunked terminator. */
static int
http_done(const struct buf *b)
{
	const char *he, *cl;
	size_t hl;

	he = strstr(b->d, "\r\n\r\n");
	if (he == NULL)
		return 0;
	hl = (size_t)(he - b->d) + 4;
	/* the terminator is a body's: the head may end in "0\r\n\r\n" too */
	if (strstr(b->d, "Transfer-Encoding: chunked") != NULL)
		return b->n >= hl + 5 &&
		    memcmp(b->d + b->n - 5, "0\r\n\r\n", 5) == 0;
	cl = strstr(b->d, "Content-Length: ");
	if (cl != NULL && cl < he)
		return b->n - hl >= (size_t)strtoul(cl + 16, NULL, 10);
	return 0;
}

/*
 * Send req, read the response into b. Returns 1 when http_done(), 0 when
 * the peer closed (clean close or TCP EOF) first, TLS_ERR on failure.
 */
static int
exchange(struct tls_conn *t, const char *req, struct buf *b)
{
	size_t len = strlen(req), off = 0;
	long long deadline = now_ms() + 10000;
	struct pollfd p;
	ssize_t r;

	b->n = 0;
	b->d[0] = '\0';
	while (now_ms() < deadline) {
		while (off < len) {
			r = tls_write(t, req + off, len - off);
			if (r == TLS_ERR)
				return TLS_ERR;
			if (r == TLS_AGAIN)
				break;
			off += (size_t)r;
		}
		if (off == len && tls_flush(t) == TLS_ERR)
			return TLS_ERR;
		for (;;) {
			r = tls_read(t, b->d + b->n, sizeof b->d - 1 - b->n);
			if (r == TLS_ERR)
				return TLS_ERR;
			if (r == 0)
				return 0;
			if (r == TLS_AGAIN)
				break;
			b->n += (size_t)r;
			b->d[b->n] = '\0';
			if (http_done(b))
				return 1;
			ck_assert_uint_lt(b->n, sizeof b->d - 1);
		}
		p.fd = t->fd;
		p.events = tls_events(t);
		p.revents = 0;
		poll(&p, 1, tls_pending(t) ? 0 : 100);
	}
	ck_abort_msg("exchange timed out");
	return TLS_ERR;
}

static void
open_conn(int port, const char *host)
{
	int fd = connect_local(port);

	ck_assert_int_eq(tls_conn_init(&conn, fd, host), 0);
	ck_assert(!tls_ready(&conn));
}

static void
load(const char *file)
{
	char err[256];

	ck_assert_int_ge(tls_load_ca(file, err, sizeof err), 1);
}

/* A streamed POST /v1/messages for model into out. */
static void
post(char *out, size_t cap, const char *model)
{
	char body[128];
	int n;

	n = snprintf(body, sizeof body, "{\"model\":\"%s\",\"stream\":true,"
	    "\"max_tokens\":16,\"messages\":[]}", model);
	snprintf(out, cap, "POST /v1/messages HTTP/1.1\r\nHost: localhost\r\n"
	    "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
	    n, body);
}

static const char get_models[] = "GET /v1/models HTTP/1.1\r\n"
    "Host: localhost\r\nConnection: close\r\n\r\n";

/* ------------------------------------------------------------ tests */

START_TEST(t_handshake_get_models)
{
	struct buf *b = malloc(sizeof *b);
	char msg[128];

	load(CERTS "ca.pem");
	open_conn(port_good, "localhost");
	/* Connection: close makes the mock send close_notify: clean 0. */
	ck_assert_int_ge(exchange(&conn, get_models, b), 0);
	ck_assert(tls_ready(&conn));
	ck_assert_msg(strncmp(b->d, "HTTP/1.1 200 ", 13) == 0, "%s", b->d);
	ck_assert_ptr_nonnull(strstr(b->d, "\"gpt-4o\""));
	ck_assert_int_eq(conn.err, 0);
	ck_assert_str_eq(tls_strerror(conn.err, msg, sizeof msg), "no error");
	tls_close(&conn);
	close(conn.fd);
	free(b);
}
END_TEST

START_TEST(t_keepalive_and_stream)
{
	struct buf *b = malloc(sizeof *b);
	char stream[256];
	static const char models[] = "GET /v1/models HTTP/1.1\r\n"
	    "Host: localhost\r\n\r\n";

	post(stream, sizeof stream, "c-split-text");
	load(CERTS "ca.pem");
	open_conn(port_good, "localhost");
	ck_assert_int_eq(exchange(&conn, models, b), 1);
	ck_assert_ptr_nonnull(strstr(b->d, "gpt-4o"));
	/* Same connection: a split (1..7 byte records) chunked SSE stream. */
	ck_assert_int_eq(exchange(&conn, stream, b), 1);
	ck_assert_ptr_nonnull(strstr(b->d, "text/event-stream"));
	ck_assert_ptr_nonnull(strstr(b->d, "message_stop"));
	tls_close(&conn);
	close(conn.fd);
	free(b);
}
END_TEST

START_TEST(t_eof_without_close_notify)
{
	struct buf *b = malloc(sizeof *b);
	char req[256];

	post(req, sizeof req, "c-truncate");
	load(CERTS "ca.pem");
	open_conn(port_good, "localhost");
	/* The mock cuts the stream and closes TCP without close_notify. */
	ck_assert_int_eq(exchange(&conn, req, b), 0);
	ck_assert(conn.eof);
	ck_assert_int_eq(conn.err, 0);
	ck_assert_ptr_nonnull(strstr(b->d, "message_start"));
	ck_assert_ptr_null(strstr(b->d, "message_stop"));
	close(conn.fd);
	free(b);
}
END_TEST

START_TEST(t_untrusted)
{
	struct buf *b = malloc(sizeof *b);
	char msg[128];

	load(CERTS "other-ca.pem");
	open_conn(port_good, "localhost");
	ck_assert_int_eq(exchange(&conn, get_models, b), TLS_ERR);
	ck_assert_int_eq(conn.err, 62);
	ck_assert_str_eq(tls_strerror(conn.err, msg, sizeof msg),
	    "certificate not trusted (BR_ERR_X509_NOT_TRUSTED)");
	ck_assert(!tls_ready(&conn));
	close(conn.fd);
	free(b);
}
END_TEST

START_TEST(t_wrong_name)
{
	struct buf *b = malloc(sizeof *b);
	char msg[128];

	load(CERTS "ca.pem");
	open_conn(port_wrong, "localhost");
	ck_assert_int_eq(exchange(&conn, get_models, b), TLS_ERR);
	ck_assert_int_eq(conn.err, 56);
	ck_assert_str_eq(tls_strerror(conn.err, msg, sizeof msg),
	    "hostname mismatch (BR_ERR_X509_BAD_SERVER_NAME)");
	close(conn.fd);
	free(b);
}
END_TEST

/* An IP literal must be an iPAddress SAN: wrong.example has none. */
START_TEST(t_ip_literal_checked)
{
	struct buf *b = malloc(sizeof *b);
	char msg[128];

	load(CERTS "ca.pem");
	open_conn(port_wrong, "127.0.0.1");
	ck_assert_int_eq(exchange(&conn, get_models, b), TLS_ERR);
	ck_assert_int_eq(conn.err, TLS_E_IP_MISMATCH);
	ck_assert_str_eq(tls_strerror(conn.err, msg, sizeof msg),
	    "certificate not valid for this IP address (no matching "
	    "iPAddress subjectAltName)");
	ck_assert(!tls_ready(&conn));
	close(conn.fd);
	free(b);
}
END_TEST

/* server.pem has IP:127.0.0.1: an https upstream addressed by IP works. */
START_TEST(t_ip_san)
{
	struct buf *b = malloc(sizeof *b);

	load(CERTS "ca.pem");
	open_conn(port_good, "127.0.0.1");
	ck_assert_int_ge(exchange(&conn, get_models, b), 0);
	ck_assert(tls_ready(&conn));
	ck_assert_msg(strncmp(b->d, "HTTP/1.1 200 ", 13) == 0, "%s", b->d);
	ck_assert_int_eq(conn.err, 0);
	/* and a v6 literal that is not in the certificate is refused */
	tls_close(&conn);
	close(conn.fd);
	open_conn(port_good, "::1");
	ck_assert_int_eq(conn.iplen, 16);
	ck_assert_int_eq(exchange(&conn, get_models, b), TLS_ERR);
	ck_assert_int_eq(conn.err, TLS_E_IP_MISMATCH);
	close(conn.fd);
	free(b);
}
END_TEST

/* Untrusted on an IP: the true cause, not a name mismatch. */
START_TEST(t_ip_untrusted)
{
	struct buf *b = malloc(sizeof *b);
	char msg[128];

	load(CERTS "other-ca.pem");
	open_conn(port_good, "127.0.0.1");
	ck_assert_int_eq(exchange(&conn, get_models, b), TLS_ERR);
	ck_assert_int_eq(conn.err, 62);
	ck_assert_str_eq(tls_strerror(conn.err, msg, sizeof msg),
	    "certificate not trusted (BR_ERR_X509_NOT_TRUSTED)");
	close(conn.fd);
	open_conn(port_wrong, "127.0.0.1");
	ck_assert_int_eq(exchange(&conn, get_models, b), TLS_ERR);
	ck_assert_int_eq(conn.err, 62);
	close(conn.fd);
	free(b);
}
END_TEST

/* Anchors added to the system's (here $SSL_CERT_FILE) keep both. */
START_TEST(t_load_add)
{
	struct buf *b = malloc(sizeof *b);
	const char *add[] = { CERTS "ca.pem" };
	const char *missing[] = { CERTS "does-not-exist.pem" };
	char err[256] = "";

	setenv("SSL_CERT_FILE", CERTS "other-ca.pem", 1);
	ck_assert_int_eq(tls_load_ca_set(NULL, add, 1, err, sizeof err), 2);
	ck_assert_str_eq(tls_ca_path(),
	    CERTS "other-ca.pem + " CERTS "ca.pem");
	open_conn(port_good, "localhost");
	ck_assert_int_ge(exchange(&conn, get_models, b), 0);
	ck_assert_int_eq(conn.err, 0);
	tls_close(&conn);
	close(conn.fd);
	/* without the addition the system set alone does not trust it */
	ck_assert_int_eq(tls_load_ca_set(NULL, NULL, 0, err, sizeof err), 1);
	open_conn(port_good, "localhost");
	ck_assert_int_eq(exchange(&conn, get_models, b), TLS_ERR);
	ck_assert_int_eq(conn.err, 62);
	close(conn.fd);
	/* a replacement with an addition */
	ck_assert_int_eq(tls_load_ca_set(CERTS "ca.pem", add, 1, err,
	    sizeof err), 2);
	/* an addition that cannot be read fails, naming it */
	ck_assert_int_eq(tls_load_ca_set(NULL, missing, 1, err, sizeof err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "does-not-exist.pem"));
	unsetenv("SSL_CERT_FILE");
	free(b);
}
END_TEST

START_TEST(t_load_missing)
{
	char err[256] = "";

	ck_assert_int_eq(tls_load_ca("tests/certs/does-not-exist.pem", err,
	    sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "does-not-exist.pem"));
}
END_TEST

START_TEST(t_load_no_certs)
{
	char err[256] = "";

	/* A PEM file with only a private key, and a file with no PEM. */
	ck_assert_int_eq(tls_load_ca(CERTS "server.key", err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "no usable certificates"));
	err[0] = '\0';
	ck_assert_int_eq(tls_load_ca(CERTS "make-certs.sh", err, sizeof err),
	    -1);
	ck_assert_msg(err[0] != '\0', "no message");
	/* NULL err buffer is allowed. */
	ck_assert_int_eq(tls_load_ca(CERTS "server.key", NULL, 0), -1);
}
END_TEST

static char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *p = malloc(65536);

	ck_assert_ptr_nonnull(f);
	*n = fread(p, 1, 65536, f);
	fclose(f);
	return p;
}

START_TEST(t_load_no_trailing_newline)
{
	char path[] = "/tmp/test_tls_XXXXXX";
	char err[256] = "";
	size_t n1, n2;
	char *a = slurp(CERTS "ca.pem", &n1);
	char *o = slurp(CERTS "other-ca.pem", &n2);
	int fd = mkstemp(path);
	FILE *f;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "wb");
	/* other CA, then our CA with its final newline cut off */
	fwrite(o, 1, n2, f);
	while (n1 > 0 && (a[n1 - 1] == '\n' || a[n1 - 1] == '\r'))
		n1--;
	fwrite(a, 1, n1, f);
	fclose(f);
	ck_assert_int_eq(tls_load_ca(path, err, sizeof err), 2);
	ck_assert_str_eq(tls_ca_path(), path);
	unlink(path);
	free(a);
	free(o);
	/* The loaded set works: our CA is in it. */
	open_conn(port_good, "localhost");
	{
		struct buf *b = malloc(sizeof *b);
		ck_assert_int_ge(exchange(&conn, get_models, b), 0);
		ck_assert_msg(strncmp(b->d, "HTTP/1.1 200 ", 13) == 0, "%s",
		    b->d);
		close(conn.fd);
		free(b);
	}
}
END_TEST

START_TEST(t_load_env_and_system)
{
	char err[256] = "";
	int n;

	setenv("SSL_CERT_FILE", CERTS "ca.pem", 1);
	ck_assert_int_eq(tls_load_ca(NULL, err, sizeof err), 1);
	ck_assert_str_eq(tls_ca_path(), CERTS "ca.pem");
	unsetenv("SSL_CERT_FILE");
	/* The system bundle, when this machine has one. */
	n = tls_load_ca(NULL, err, sizeof err);
	if (n < 0)
		ck_assert_ptr_nonnull(strstr(err, "no CA bundle"));
	else
		ck_assert_int_gt(n, 10);
}
END_TEST

START_TEST(t_strerror)
{
	char b[128];

	ck_assert_str_eq(tls_strerror(54, b, sizeof b),
	    "certificate expired or not yet valid (BR_ERR_X509_EXPIRED)");
	ck_assert_str_eq(tls_strerror(TLS_E_IO, b, sizeof b), "socket error");
	ck_assert_str_eq(tls_strerror(TLS_E_EOF, b, sizeof b),
	    "connection closed during handshake");
	ck_assert_str_eq(tls_strerror(256 + 40, b, sizeof b),
	    "peer alert 40 (handshake_failure)");
	ck_assert_str_eq(tls_strerror(512 + 46, b, sizeof b),
	    "sent alert 46 (certificate_unknown)");
	ck_assert_str_eq(tls_strerror(256 + 7, b, sizeof b), "peer alert 7");
	ck_assert_str_eq(tls_strerror(9999, b, sizeof b), "TLS error 9999");
	ck_assert_str_eq(tls_strerror(62, b, 12), "certificate");
}
END_TEST

START_TEST(t_eof_in_handshake)
{
	struct buf *b = malloc(sizeof *b);
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int lfd, fd, cfd;

	/* A server that accepts and closes at once. */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	load(CERTS "ca.pem");
	fd = connect_local(ntohs(sa.sin_port));
	cfd = accept(lfd, NULL, NULL);
	close(cfd);
	ck_assert_int_eq(tls_conn_init(&conn, fd, "localhost"), 0);
	ck_assert_int_eq(exchange(&conn, get_models, b), TLS_ERR);
	ck_assert_msg(conn.err == TLS_E_EOF || conn.err == TLS_E_IO,
	    "err %d", conn.err);
	close(fd);
	close(lfd);
	free(b);
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_handshake_get_models);
	tcase_add_test(tc, t_keepalive_and_stream);
	tcase_add_test(tc, t_eof_without_close_notify);
	tcase_add_test(tc, t_untrusted);
	tcase_add_test(tc, t_wrong_name);
	tcase_add_test(tc, t_ip_literal_checked);
	tcase_add_test(tc, t_ip_san);
	tcase_add_test(tc, t_ip_untrusted);
	tcase_add_test(tc, t_load_add);
	tcase_add_test(tc, t_load_missing);
	tcase_add_test(tc, t_load_no_certs);
	tcase_add_test(tc, t_load_no_trailing_newline);
	tcase_add_test(tc, t_load_env_and_system);
	tcase_add_test(tc, t_strerror);
	tcase_add_test(tc, t_eof_in_handshake);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	pid_good = start_mock(CERTS "server.pem", CERTS "server.key",
	    &port_good);
	pid_wrong = start_mock(CERTS "server-wrongname.pem",
	    CERTS "server-wrongname.key", &port_wrong);
	if (pid_good < 0 || pid_wrong < 0)
		return 1;
	sr = srunner_create(tls_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	kill(pid_good, SIGTERM);
	kill(pid_wrong, SIGTERM);
	waitpid(pid_good, NULL, 0);
	waitpid(pid_wrong, NULL, 0);
	return failed ? 1 : 0;
}
