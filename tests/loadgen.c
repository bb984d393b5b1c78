/*
 * loadgen.c - the benchmark's load generator (not part of the product).
 *
 *   loadgen rps HOST:PORT PATH BODYFILE CONNS SECONDS
 *       keep-alive POSTs on CONNS connections for SECONDS; prints
 *       "rps=N p50_us=N p99_us=N n=N errors=N"
 *   loadgen streamlat PORT UPPORT COUNT
 *       plays the upstream itself on UPPORT (an OpenAI-format SSE stream of
 *       COUNT events, 2 ms apart, each stamped with a sequence number) and
 *       the client through PORT (the proxy, or UPPORT itself for the
 *       baseline); prints "ev_p50_us=N ev_p99_us=N" - the time from the
 *       upstream's write of an event to its arrival at the client, one
 *       clock, one process
 *   loadgen idle PORT UPPORT N
 *       plays the upstream on UPPORT (answers each stream with one event,
 *       then holds it open) and opens N streams through PORT; prints
 *       "ready" when all have their first event, then sleeps until killed
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
dial(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int
listen_on(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
		perror("listen");
		exit(1);
	}
	return fd;
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static long long
pct(long long *v, size_t n, double p)
{
	size_t i;
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_ll);
	i = (size_t)(p * (double)(n - 1));
	return v[i];
}

/* Length of a complete HTTP response at the start of buf, or 0. Handles
 * Content-Length and chunked. */
static size_t
resp_complete(const char *buf, size_t len)
{
	const char *e = NULL, *cl;
	size_t i, head, body;
	for (i = 3; i < len; i++)
		if (buf[i - 3] == '\r' && buf[i - 2] == '\n' && buf[i - 1] == '\r' && buf[i] == '\n') {
			e = buf + i + 1;
			break;
		}
	if (!e)
		return 0;
	head = (size_t)(e - buf);
	cl = strstr(buf, "Content-Length: ");
	if (!cl || cl > e)
		cl = strstr(buf, "content-length: ");
	if (cl && cl < e) {
		body = (size_t)strtoul(cl + 16, NULL, 10);
		return len >= head + body ? head + body : 0;
	}
	/* chunked: look for the terminator */
	for (i = head; i + 4 < len + 1; i++)
		if (memcmp(buf + i, "0\r\n\r\n", 5) == 0 && (i == head || buf[i - 1] == '\n'))
			return i + 5;
	return 0;
}

static int
cmd_rps(char **av)
{
	char host[64];
	int port, conns = atoi(av[4]), secs = atoi(av[5]), i;
	FILE *f = fopen(av[3], "rb");
	char body[65536], req[70000];
	size_t bl, rl;
	struct pollfd *p;
	long long *t0, *lat, end, start;
	size_t nlat = 0, cap = 1 << 22, *have;
	char **buf;
	long errors = 0;

	if (sscanf(av[1], "%63[^:]:%d", host, &port) != 2 || !f)
		return 2;
	bl = fread(body, 1, sizeof body, f);
	fclose(f);
	rl = (size_t)snprintf(req, sizeof req,
	    "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer bench\r\nx-api-key: bench\r\nanthropic-version: 2023-06-01\r\nContent-Length: %zu\r\n\r\n",
	    av[2], host, bl);
	memcpy(req + rl, body, bl);
	rl += bl;
	p = calloc((size_t)conns, sizeof *p);
	t0 = calloc((size_t)conns, sizeof *t0);
	have = calloc((size_t)conns, sizeof *have);
	buf = calloc((size_t)conns, sizeof *buf);
	lat = malloc(cap * sizeof *lat);
	start = now_us();
	end = start + (long long)secs * 1000000;
	for (i = 0; i < conns; i++) {
		p[i].fd = dial(port);
		p[i].events = POLLIN;
		buf[i] = malloc(1 << 20);
		t0[i] = now_us();
		if (write(p[i].fd, req, rl) != (ssize_t)rl)
			errors++;
	}
	while (now_us() < end) {
		if (poll(p, (nfds_t)conns, 100) <= 0)
			continue;
		for (i = 0; i < conns; i++) {
			ssize_t r;
			size_t done;
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(p[i].fd, buf[i] + have[i], (1 << 20) - have[i] - 1);
			if (r <= 0) {
				errors++;
				close(p[i].fd);
				p[i].fd = dial(port);
				have[i] = 0;
				t0[i] = now_us();
				(void)!write(p[i].fd, req, rl);
				continue;
			}
			have[i] += (size_t)r;
			buf[i][have[i]] = 0;
			done = resp_complete(buf[i], have[i]);
			if (!done)
				continue;
			if (strncmp(buf[i], "HTTP/1.1 200", 12) != 0)
				errors++;
			if (nlat < cap)
				lat[nlat++] = now_us() - t0[i];
			memmove(buf[i], buf[i] + done, have[i] - done);
			have[i] -= done;
			t0[i] = now_us();
			if (write(p[i].fd, req, rl) != (ssize_t)rl)
				errors++;
		}
	}
	printf("rps=%.0f p50_us=%lld p99_us=%lld n=%zu errors=%ld\n",
	    (double)nlat / ((double)(now_us() - start) / 1e6),
	    pct(lat, nlat, 0.50), pct(lat, nlat, 0.99), nlat, errors);
	return 0;
}

static const char stream_req[] =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    "Authorization: Bearer bench\r\nContent-Length: %zu\r\n\r\n%s";
static const char stream_body[] =
    "{\"model\":\"bench-stream\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static void
send_stream_request(int fd)
{
	char req[1024];
	int n = snprintf(req, sizeof req, stream_req, strlen(stream_body), stream_body);
	(void)!write(fd, req, (size_t)n);
}

/* Accept one upstream connection and read its request head+body. */
static int
accept_upstream(int lfd)
{
	char b[65536];
	size_t have = 0;
	int fd = accept(lfd, NULL, NULL), one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	for (;;) {
		ssize_t r = read(fd, b + have, sizeof b - have - 1);
		char *e, *cl;
		if (r <= 0)
			return -1;
		have += (size_t)r;
		b[have] = 0;
		e = strstr(b, "\r\n\r\n");
		if (!e)
			continue;
		cl = strcasestr(b, "content-length:");
		if (!cl || (size_t)(e + 4 - b) + strtoul(cl + 15, NULL, 10) <= have)
			break;
	}
	{
		static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
		(void)!write(fd, h, sizeof h - 1);
	}
	return fd;
}

static void
send_event(int fd, int seq, int last)
{
	char ev[512], ch[600];
	int n, k;
	if (last)
		n = snprintf(ev, sizeof ev,
		    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
	else
		n = snprintf(ev, sizeof ev,
		    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{%s\"content\":\"<%d>\"},\"finish_reason\":null}]}\n\n",
		    seq == 0 ? "\"role\":\"assistant\"," : "", seq);
	k = snprintf(ch, sizeof ch, "%x\r\n%s\r\n%s", n, ev, last ? "0\r\n\r\n" : "");
	(void)!write(fd, ch, (size_t)k);
}

static int
cmd_streamlat(char **av)
{
	int port = atoi(av[1]), upport = atoi(av[2]), count = atoi(av[3]);
	int lfd = listen_on(upport), cfd, ufd, seq, found = 0;
	long long *sent = calloc((size_t)count + 1, sizeof *sent);
	long long *lat = calloc((size_t)count + 1, sizeof *lat);
	char buf[1 << 16];
	size_t have = 0, nlat = 0;
	int next_seen = 0;

	cfd = dial(port);
	send_stream_request(cfd);
	ufd = accept_upstream(lfd);   /* direct: the client is the "proxy" */
	if (port == upport) {
		/* baseline: our own client is connected to our listener; the
		 * accepted socket is the upstream side and cfd the client */
	}
	for (seq = 0; seq < count; seq++) {
		long long t_end;
		sent[seq] = now_us();
		send_event(ufd, seq, 0);
		/* read until this event's marker arrives */
		t_end = now_us() + 1000000;
		while (next_seen <= seq && now_us() < t_end) {
			char mark[32];
			ssize_t r = read(cfd, buf + have, sizeof buf - have - 1);
			long long t = now_us();
			if (r <= 0)
				break;
			have += (size_t)r;
			buf[have] = 0;
			for (;;) {
				char *m;
				snprintf(mark, sizeof mark, "<%d>", next_seen);
				m = strstr(buf, mark);
				if (!m)
					break;
				lat[nlat++] = t - sent[next_seen];
				next_seen++;
				found++;
				memmove(buf, m + strlen(mark), have - (size_t)(m + strlen(mark) - buf) + 1);
				have = strlen(buf);
			}
		}
		usleep(2000);
	}
	send_event(ufd, count, 1);
	printf("ev_p50_us=%lld ev_p99_us=%lld events=%d\n", pct(lat, nlat, 0.5),
	    pct(lat, nlat, 0.99), found);
	return found == count ? 0 : 1;
}

static int
cmd_idle(char **av)
{
	int port = atoi(av[1]), upport = atoi(av[2]), n = atoi(av[3]), i;
	int lfd = listen_on(upport);
	int *cfd = calloc((size_t)n, sizeof *cfd), *ufd = calloc((size_t)n, sizeof *ufd);
	char b[4096];

	for (i = 0; i < n; i++) {
		cfd[i] = dial(port);
		send_stream_request(cfd[i]);
		ufd[i] = accept_upstream(lfd);
		send_event(ufd[i], 0, 0);
		if (read(cfd[i], b, sizeof b) <= 0) {
			fprintf(stderr, "stream %d failed\n", i);
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

int
main(int ac, char **av)
{
	signal(SIGPIPE, SIG_IGN);
	if (ac == 7 && strcmp(av[1], "rps") == 0)
		return cmd_rps(av + 1);
	if (ac == 5 && strcmp(av[1], "streamlat") == 0)
		return cmd_streamlat(av + 1);
	if (ac == 5 && strcmp(av[1], "idle") == 0)
		return cmd_idle(av + 1);
	fprintf(stderr, "usage: see the comment at the top of tests/loadgen.c\n");
	return 2;
}
