/*
 * loadgen.c - the benchmark's load generator and scripted upstream (not
 * part of the product; tests/bench.sh drives it).
 *
 *   loadgen rps HOST:PORT PATH BODYFILE CONNS SECONDS
 *       keep-alive POSTs on CONNS connections for SECONDS; prints
 *       "rps=N p50_us=N p99_us=N n=N errors=N" (a chunked answer ends at
 *       its last chunk, so this drives streams too)
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
 *   loadgen hold PORT N MODEL
 *       opens N chat streams for MODEL through PORT (at most HOLD_WINDOW
 *       being opened at once) to an upstream that sends one delta and then
 *       holds the stream (the mock's "hold"); prints "ready N" when every
 *       stream has its first delta ("@0@"), then keeps them open until
 *       killed. The upstream is another process, so the descriptors of N
 *       streams are split between two processes.
 *   loadgen evcpu PORT UPPORT PID STREAMS EVENTS SECONDS
 *       plays the upstream on UPPORT, opens STREAMS chat streams through
 *       PORT, then forwards events one at a time, round robin over the
 *       streams, each written only when the previous one has reached its
 *       client (so every event is one wake-up of the proxy however fast it
 *       is), until EVENTS events or SECONDS seconds; prints "events=N
 *       cpu_ns=N cpu_us_per_event=X wall_us_per_event=X cpu=SOURCE": the
 *       CPU time process PID (the proxy) spent meanwhile, from
 *       /proc/PID/task/<tid>/schedstat (nanoseconds), or /proc/PID/stat
 *       (clock ticks) where schedstat is missing
 *   loadgen ttfd PORT UPPORT CLIENT UPSTREAM MODEL SAMPLES PACE_MS
 *       time to first delta: plays a paced UPSTREAM-format stream on UPPORT
 *       (the opening at once, 20 ms later the delta "@d0@", then "@d1@"
 *       and the end, PACE_MS apart) and reads it as a CLIENT-format client through
 *       PORT (UPPORT itself, with CLIENT = UPSTREAM, is the direct
 *       baseline); a new connection per sample on both sides. Formats:
 *       chat, responses, anthropic, gemini. Prints "samples_us=A,B,...
 *       errors=N": per sample, the time from the upstream's write of the
 *       first delta to the client's read of it, one clock, one process.
 *       An encoder that holds a delta back until the next one arrives
 *       shows up as PACE_MS.
 *   loadgen freeport
 *       prints a free loopback TCP port
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* ------------------------------------------------ hold, evcpu, ttfd */

#define HOLD_WINDOW 256           /* streams being opened at once */
#define HOLD_SECONDS 300          /* give up opening after this */
#define RBUF (64 * 1024)
#define TTFD_GAP_MS 20            /* from the opening to the first delta */

enum fmt { F_CHAT, F_RESP, F_ANTH, F_GEM, F_NONE };
static const char *const fmt_names[] = { "chat", "responses", "anthropic",
	"gemini" };

static enum fmt
fmt_parse(const char *s)
{
	int i;
	for (i = 0; i < 4; i++)
		if (strcmp(s, fmt_names[i]) == 0)
			return (enum fmt)i;
	return F_NONE;
}

/* A streamed request in client format f for model m; returns its length. */
static size_t
client_request(char *out, size_t cap, enum fmt f, const char *m)
{
	char body[1024], path[512];
	const char *extra = "";
	int bl;

	switch (f) {
	case F_RESP:
		snprintf(path, sizeof path, "/v1/responses");
		bl = snprintf(body, sizeof body, "{\"model\":\"%s\",\"stream\":"
		    "true,\"input\":\"hi\"}", m);
		break;
	case F_ANTH:
		snprintf(path, sizeof path, "/v1/messages");
		extra = "anthropic-version: 2023-06-01\r\n";
		bl = snprintf(body, sizeof body, "{\"model\":\"%s\",\"max_tokens\""
		    ":64,\"stream\":true,\"messages\":[{\"role\":\"user\","
		    "\"content\":\"hi\"}]}", m);
		break;
	case F_GEM:
		snprintf(path, sizeof path, "/v1beta/models/%s:"
		    "streamGenerateContent?alt=sse", m);
		bl = snprintf(body, sizeof body, "{\"contents\":[{\"role\":"
		    "\"user\",\"parts\":[{\"text\":\"hi\"}]}]}");
		break;
	default:
		snprintf(path, sizeof path, "/v1/chat/completions");
		bl = snprintf(body, sizeof body, "{\"model\":\"%s\",\"stream\":"
		    "true,\"messages\":[{\"role\":\"user\",\"content\":"
		    "\"hi\"}]}", m);
		break;
	}
	return (size_t)snprintf(out, cap, "POST %s HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nAuthorization: Bearer bench\r\n"
	    "x-api-key: bench\r\n%sContent-Length: %d\r\n\r\n%s", path, extra,
	    bl, body);
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Wait up to ms for fd to be readable; 1 ready, 0 not. */
static int
wait_in(int fd, long long ms)
{
	struct pollfd p;
	p.fd = fd;
	p.events = POLLIN;
	return poll(&p, 1, ms < 0 ? 0 : (int)ms) > 0;
}

/* Complete request at b[0..n)? (Content-Length or chunked.) */
static int
request_complete(const char *b, size_t n)
{
	const char *e = memmem(b, n, "\r\n\r\n", 4), *cl;
	size_t head;

	if (e == NULL)
		return 0;
	head = (size_t)(e + 4 - b);
	cl = strcasestr(b, "content-length:");
	if (cl != NULL && cl < e)
		return n >= head + strtoul(cl + 15, NULL, 10);
	if (strcasestr(b, "transfer-encoding: chunked") != NULL)
		return n >= 5 && memcmp(b + n - 5, "0\r\n\r\n", 5) == 0;
	return 1;
}

/*
 * Accept one upstream connection on lfd and read its request. If the
 * client cfd gets an answer first (the proxy refused), print its first
 * line and fail. Returns the upstream descriptor or -1.
 */
static int
accept_req(int lfd, int cfd, int timeout_ms)
{
	char b[65536];
	size_t have = 0;
	struct pollfd p[2];
	long long end = now_us() + (long long)timeout_ms * 1000;
	int fd, one = 1;

	p[0].fd = lfd;
	p[0].events = POLLIN;
	p[1].fd = cfd;
	p[1].events = POLLIN;
	for (;;) {
		long long left = (end - now_us()) / 1000;
		if (left <= 0 || poll(p, 2, (int)left) <= 0) {
			fprintf(stderr, "loadgen: no upstream request\n");
			return -1;
		}
		if (p[1].revents) {
			ssize_t r = read(cfd, b, sizeof b - 1);
			b[r > 0 ? r : 0] = 0;
			*strchrnul(b, '\r') = 0;
			fprintf(stderr, "loadgen: answered without upstream: %s\n",
			    r > 0 ? b : "(closed)");
			return -1;
		}
		if (p[0].revents)
			break;
	}
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	while (!request_complete(b, have)) {
		ssize_t r;
		if (!wait_in(fd, (end - now_us()) / 1000) ||
		    (r = read(fd, b + have, sizeof b - have - 1)) <= 0) {
			close(fd);
			return -1;
		}
		have += (size_t)r;
		b[have] = 0;
	}
	return fd;
}

/* One SSE event as one HTTP chunk, one write. */
static void
up_event(int fd, const char *ev)
{
	char ch[4096];
	int k = snprintf(ch, sizeof ch, "%zx\r\n%s\r\n", strlen(ev), ev);
	write_all(fd, ch, (size_t)k);
}

static void
up_head(int fd)
{
	static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	    "text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: "
	    "chunked\r\nConnection: close\r\n\r\n";
	write_all(fd, h, sizeof h - 1);
}

/* The opening events of a stream in format f (none for Gemini). */
static void
up_open(int fd, enum fmt f)
{
	static const char resp[] = "{\"id\":\"resp_b\",\"object\":\"response\","
	    "\"created_at\":1700000000,\"status\":\"in_progress\",\"error\":null,"
	    "\"incomplete_details\":null,\"model\":\"m\",\"output\":[],"
	    "\"usage\":null}";
	char ev[2048];

	switch (f) {
	case F_CHAT:
		up_event(fd, "data: {\"id\":\"chatcmpl-b\",\"object\":\"chat."
		    "completion.chunk\",\"created\":1700000000,\"model\":\"m\","
		    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
		    "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}"
		    "]}\n\n");
		break;
	case F_RESP:
		snprintf(ev, sizeof ev, "event: response.created\ndata: "
		    "{\"type\":\"response.created\",\"sequence_number\":0,"
		    "\"response\":%s}\n\nevent: response.in_progress\ndata: "
		    "{\"type\":\"response.in_progress\",\"sequence_number\":1,"
		    "\"response\":%s}\n\n", resp, resp);
		up_event(fd, ev);
		up_event(fd, "event: response.output_item.added\ndata: {\"type\":"
		    "\"response.output_item.added\",\"sequence_number\":2,"
		    "\"output_index\":0,\"item\":{\"id\":\"msg_b\",\"type\":"
		    "\"message\",\"status\":\"in_progress\",\"content\":[],"
		    "\"role\":\"assistant\"}}\n\nevent: response.content_part."
		    "added\ndata: {\"type\":\"response.content_part.added\","
		    "\"sequence_number\":3,\"item_id\":\"msg_b\",\"output_index\":"
		    "0,\"content_index\":0,\"part\":{\"type\":\"output_text\","
		    "\"annotations\":[],\"text\":\"\"}}\n\n");
		break;
	case F_ANTH:
		up_event(fd, "event: message_start\ndata: {\"type\":\"message_"
		    "start\",\"message\":{\"id\":\"msg_b\",\"type\":\"message\","
		    "\"role\":\"assistant\",\"model\":\"m\",\"content\":[],"
		    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":"
		    "{\"input_tokens\":10,\"output_tokens\":1}}}\n\n"
		    "event: content_block_start\ndata: {\"type\":\"content_block_"
		    "start\",\"index\":0,\"content_block\":{\"type\":\"text\","
		    "\"text\":\"\"}}\n\n");
		break;
	default:
		break;
	}
}

/* One text delta (the seq-th event of the stream) in format f. */
static void
up_delta(int fd, enum fmt f, int seq, const char *t)
{
	char ev[2048];

	switch (f) {
	case F_CHAT:
		snprintf(ev, sizeof ev, "data: {\"id\":\"chatcmpl-b\",\"object\":"
		    "\"chat.completion.chunk\",\"created\":1700000000,\"model\":"
		    "\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
		    "\"%s\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n", t);
		break;
	case F_RESP:
		snprintf(ev, sizeof ev, "event: response.output_text.delta\n"
		    "data: {\"type\":\"response.output_text.delta\","
		    "\"sequence_number\":%d,\"item_id\":\"msg_b\","
		    "\"output_index\":0,\"content_index\":0,\"delta\":\"%s\"}"
		    "\n\n", seq + 4, t);
		break;
	case F_ANTH:
		snprintf(ev, sizeof ev, "event: content_block_delta\ndata: "
		    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
		    "{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n", t);
		break;
	default:
		snprintf(ev, sizeof ev, "data: {\"candidates\":[{\"content\":"
		    "{\"parts\":[{\"text\":\"%s\"}],\"role\":\"model\"},"
		    "\"index\":0}],\"modelVersion\":\"m\",\"responseId\":\"b\"}"
		    "\r\n\r\n", t);
		break;
	}
	up_event(fd, ev);
}

/* The end of the stream (after seq events whose text was `all`). */
static void
up_end(int fd, enum fmt f, int seq, const char *all)
{
	char ev[4096];

	switch (f) {
	case F_CHAT:
		up_event(fd, "data: {\"id\":\"chatcmpl-b\",\"object\":\"chat."
		    "completion.chunk\",\"created\":1700000000,\"model\":\"m\","
		    "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
		    "\"finish_reason\":\"stop\"}]}\n\n");
		up_event(fd, "data: {\"id\":\"chatcmpl-b\",\"object\":\"chat."
		    "completion.chunk\",\"created\":1700000000,\"model\":\"m\","
		    "\"choices\":[],\"usage\":{\"prompt_tokens\":10,"
		    "\"completion_tokens\":2,\"total_tokens\":12}}\n\n"
		    "data: [DONE]\n\n");
		break;
	case F_RESP:
		snprintf(ev, sizeof ev, "event: response.output_text.done\n"
		    "data: {\"type\":\"response.output_text.done\","
		    "\"sequence_number\":%d,\"item_id\":\"msg_b\","
		    "\"output_index\":0,\"content_index\":0,\"text\":\"%s\"}\n\n"
		    "event: response.content_part.done\ndata: {\"type\":"
		    "\"response.content_part.done\",\"sequence_number\":%d,"
		    "\"item_id\":\"msg_b\",\"output_index\":0,\"content_index\":0,"
		    "\"part\":{\"type\":\"output_text\",\"annotations\":[],"
		    "\"text\":\"%s\"}}\n\n", seq + 4, all, seq + 5, all);
		up_event(fd, ev);
		snprintf(ev, sizeof ev, "event: response.output_item.done\n"
		    "data: {\"type\":\"response.output_item.done\","
		    "\"sequence_number\":%d,\"output_index\":0,\"item\":{\"id\":"
		    "\"msg_b\",\"type\":\"message\",\"status\":\"completed\","
		    "\"content\":[{\"type\":\"output_text\",\"annotations\":[],"
		    "\"text\":\"%s\"}],\"role\":\"assistant\"}}\n\n"
		    "event: response.completed\ndata: {\"type\":\"response."
		    "completed\",\"sequence_number\":%d,\"response\":{\"id\":"
		    "\"resp_b\",\"object\":\"response\",\"created_at\":1700000000,"
		    "\"status\":\"completed\",\"error\":null,\"incomplete_details\":"
		    "null,\"model\":\"m\",\"output\":[{\"type\":\"message\",\"id\":"
		    "\"msg_b\",\"status\":\"completed\",\"role\":\"assistant\","
		    "\"content\":[{\"type\":\"output_text\",\"text\":\"%s\","
		    "\"annotations\":[]}]}],\"usage\":{\"input_tokens\":10,"
		    "\"output_tokens\":2,\"total_tokens\":12}}}\n\n", seq + 6, all,
		    seq + 7, all);
		up_event(fd, ev);
		break;
	case F_ANTH:
		up_event(fd, "event: content_block_stop\ndata: {\"type\":"
		    "\"content_block_stop\",\"index\":0}\n\n");
		up_event(fd, "event: message_delta\ndata: {\"type\":\"message_"
		    "delta\",\"delta\":{\"stop_reason\":\"end_turn\","
		    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\n"
		    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
		break;
	default:
		up_event(fd, "data: {\"candidates\":[{\"content\":{\"parts\":"
		    "[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":"
		    "\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\""
		    ":10,\"candidatesTokenCount\":2,\"totalTokenCount\":12},"
		    "\"modelVersion\":\"m\",\"responseId\":\"b\"}\r\n\r\n");
		break;
	}
	write_all(fd, "0\r\n\r\n", 5);
}

/* Append what fd has to a rolling buffer (the last RBUF-1 bytes stay). */
static ssize_t
read_more(int fd, char *buf, size_t *have)
{
	ssize_t r;

	if (*have > RBUF / 2) {
		memmove(buf, buf + *have - 64, 64);
		*have = 64;
	}
	r = read(fd, buf + *have, RBUF - *have - 1);
	if (r > 0) {
		*have += (size_t)r;
		buf[*have] = 0;
	}
	return r;
}

/* Did the answer's status line say 200? -1 not yet known. */
static int
status_ok(const char *buf, size_t have)
{
	if (have < 12)
		return -1;
	return memcmp(buf, "HTTP/1.1 200", 12) == 0;
}

static int
cmd_freeport(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		perror("freeport");
		return 1;
	}
	printf("%d\n", ntohs(a.sin_port));
	close(fd);
	return 0;
}

struct pending {
	int fd, ok;               /* the status line said 200: 1, no: 0, -1 */
	size_t have;
	char buf[2048];
};

static int
cmd_hold(char **av)
{
	int port = atoi(av[0]), n = atoi(av[1]), opened = 0, ready = 0, i, np;
	const char *model = av[2];
	struct pending *pd = calloc(HOLD_WINDOW, sizeof *pd);
	struct pollfd p[HOLD_WINDOW];
	int *held = calloc((size_t)n + 1, sizeof *held);
	long long end = now_us() + (long long)HOLD_SECONDS * 1000000;
	char req[2048];
	size_t rl = client_request(req, sizeof req, F_CHAT, model);

	np = 0;
	while (ready < n) {
		while (np < HOLD_WINDOW && opened < n) {
			pd[np].fd = dial(port);
			pd[np].have = 0;
			pd[np].ok = -1;
			write_all(pd[np].fd, req, rl);
			np++;
			opened++;
		}
		for (i = 0; i < np; i++) {
			p[i].fd = pd[i].fd;
			p[i].events = POLLIN;
			p[i].revents = 0;
		}
		if (now_us() > end) {
			fprintf(stderr, "hold: %d of %d streams open after %d s\n",
			    ready, n, HOLD_SECONDS);
			return 1;
		}
		if (poll(p, (nfds_t)np, 100) <= 0)
			continue;
		for (i = np - 1; i >= 0; i--) {
			struct pending *q = &pd[i];
			ssize_t r;
			if (!p[i].revents)
				continue;
			if (q->have > sizeof q->buf / 2) {
				memmove(q->buf, q->buf + q->have - 16, 16);
				q->have = 16;
			}
			r = read(q->fd, q->buf + q->have,
			    sizeof q->buf - q->have - 1);
			if (r > 0) {
				q->have += (size_t)r;
				q->buf[q->have] = 0;
				if (q->ok < 0)
					q->ok = status_ok(q->buf, q->have);
			}
			if (r <= 0 || q->ok == 0) {
				*strchrnul(q->buf, '\r') = 0;
				fprintf(stderr, "hold: a stream failed (%d open): "
				    "%s\n", ready, q->have ? q->buf : "closed");
				return 1;
			}
			if (memmem(q->buf, q->have, "@0@", 3) == NULL)
				continue;
			held[ready++] = q->fd;
			pd[i] = pd[--np];
		}
	}
	printf("ready %d\n", ready);
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

/* CPU time of process pid in ns (all its threads); *src names the source. */
static long long
proc_cpu_ns(int pid, const char **src)
{
	char path[320], line[512];
	DIR *d;
	struct dirent *de;
	long long sum = 0, v;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/task", pid);
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "/proc/%d/task/%.32s/schedstat",
			    pid, de->d_name);
			if ((f = fopen(path, "r")) == NULL)
				continue;
			if (fscanf(f, "%lld", &v) == 1) {
				sum += v;
				found = 1;
			}
			fclose(f);
		}
		closedir(d);
	}
	if (found) {
		*src = "schedstat";
		return sum;
	}
	*src = "stat";
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof line, f) != NULL) {
		/* utime and stime are fields 14 and 15, after "(comm)" */
		char *q = strrchr(line, ')');
		unsigned long long ut = 0, st = 0;
		if (q != NULL && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u "
		    "%*u %*u %*u %llu %llu", &ut, &st) == 2)
			sum = (long long)((ut + st) * (1000000000ULL /
			    (unsigned long long)sysconf(_SC_CLK_TCK)));
	}
	fclose(f);
	return sum;
}

static int
cmd_evcpu(char **av)
{
	int port = atoi(av[0]), upport = atoi(av[1]), pid = atoi(av[2]);
	int ns = atoi(av[3]), events = atoi(av[4]), secs = atoi(av[5]);
	int lfd = listen_on(upport), k, done = 0, seq;
	int *cfd = calloc((size_t)ns, sizeof *cfd);
	int *ufd = calloc((size_t)ns, sizeof *ufd);
	char *buf = malloc(RBUF), req[2048], mark[32];
	size_t rl = client_request(req, sizeof req, F_CHAT, "act-stream"), have;
	long long c0, c1, t0, t1, end;
	const char *src = "?";

	for (k = 0; k < ns; k++) {
		cfd[k] = dial(port);
		write_all(cfd[k], req, rl);
		if ((ufd[k] = accept_req(lfd, cfd[k], 5000)) < 0)
			return 1;
		up_head(ufd[k]);
		send_event(ufd[k], 0, 0);
		have = 0;
		while (memmem(buf, have, "<0>", 3) == NULL)
			if (!wait_in(cfd[k], 5000) ||
			    read_more(cfd[k], buf, &have) <= 0) {
				fprintf(stderr, "evcpu: stream %d failed\n", k);
				return 1;
			}
	}
	c0 = proc_cpu_ns(pid, &src);
	t0 = now_us();
	end = t0 + (long long)secs * 1000000;
	for (seq = 1; seq <= events && now_us() < end; seq++) {
		k = seq % ns;
		snprintf(mark, sizeof mark, "<%d>", seq);
		send_event(ufd[k], seq, 0);
		have = 0;
		while (memmem(buf, have, mark, strlen(mark)) == NULL)
			if (!wait_in(cfd[k], 5000) ||
			    read_more(cfd[k], buf, &have) <= 0) {
				fprintf(stderr, "evcpu: event %d lost\n", seq);
				return 1;
			}
		done++;
	}
	t1 = now_us();
	c1 = proc_cpu_ns(pid, &src);
	for (k = 0; k < ns; k++) {
		send_event(ufd[k], seq, 1);
		close(ufd[k]);
		close(cfd[k]);
	}
	printf("events=%d cpu_ns=%lld cpu_us_per_event=%.2f "
	    "wall_us_per_event=%.1f cpu=%s\n", done, c1 - c0,
	    done ? (double)(c1 - c0) / 1e3 / done : 0,
	    done ? (double)(t1 - t0) / done : 0, src);
	return done > 0 ? 0 : 1;
}

/*
 * One time-to-first-delta sample: returns microseconds, or -1 (the stream
 * failed or the delta never came).
 */
static long long
ttfd_one(int port, int lfd, enum fmt cf, enum fmt uf, const char *model,
    int pace_ms, char *buf)
{
	char req[2048];
	size_t rl = client_request(req, sizeof req, cf, model), have = 0;
	long long t0, next, now, seen = -1, deadline;
	int cfd, ufd, stage = 0, complete = 0;

	cfd = dial(port);
	write_all(cfd, req, rl);
	if ((ufd = accept_req(lfd, cfd, 5000)) < 0) {
		close(cfd);
		return -1;
	}
	up_head(ufd);
	up_open(ufd, uf);
	/* let the opening through, then the first delta */
	deadline = now_us() + (long long)(pace_ms < TTFD_GAP_MS ? pace_ms :
	    TTFD_GAP_MS) * 1000;
	while ((now = now_us()) < deadline)
		if (wait_in(cfd, (deadline - now) / 1000 + 1) &&
		    read_more(cfd, buf, &have) <= 0)
			break;
	t0 = now_us();
	up_delta(ufd, uf, 0, "@d0@ ");
	next = t0 + (long long)pace_ms * 1000;
	deadline = t0 + 2000000;
	for (;;) {
		long long wait;
		now = now_us();
		if (stage < 2 && now >= next) {
			if (stage == 0)
				up_delta(ufd, uf, 1, "@d1@ ");
			else
				up_end(ufd, uf, 2, "@d0@ @d1@ ");
			stage++;
			next += (long long)pace_ms * 1000;
			continue;
		}
		if (now >= deadline)
			break;
		wait = (stage < 2 ? next : deadline) - now;
		if (!wait_in(cfd, wait / 1000 + 1))
			continue;
		if (read_more(cfd, buf, &have) <= 0)
			break;
		now = now_us();
		if (status_ok(buf, have) == 0)
			break;
		if (seen < 0 && memmem(buf, have, "@d0@", 4) != NULL)
			seen = now - t0;
		if (stage == 2 && have >= 7 &&
		    memcmp(buf + have - 7, "\r\n0\r\n\r\n", 7) == 0) {
			complete = 1;
			break;
		}
	}
	if (!complete && status_ok(buf, have) != 1) {
		*strchrnul(buf, '\r') = 0;
		fprintf(stderr, "ttfd %s<-%s: %s\n", fmt_names[cf], fmt_names[uf],
		    have ? buf : "no answer");
	} else if (!complete) {
		fprintf(stderr, "ttfd %s<-%s: stream did not end\n",
		    fmt_names[cf], fmt_names[uf]);
	}
	close(cfd);
	close(ufd);
	return complete ? seen : -1;
}

static int
cmd_ttfd(char **av)
{
	int port = atoi(av[0]), upport = atoi(av[1]), n = atoi(av[5]);
	int pace = atoi(av[6]), i, errors = 0, ok = 0, lfd;
	enum fmt cf = fmt_parse(av[2]), uf = fmt_parse(av[3]);
	char *buf = malloc(RBUF);
	long long t;

	if (cf == F_NONE || uf == F_NONE || n < 1 || pace < 1) {
		fprintf(stderr, "ttfd: formats are chat responses anthropic "
		    "gemini\n");
		return 2;
	}
	lfd = listen_on(upport);
	printf("samples_us=");
	for (i = 0; i < n; i++) {
		t = ttfd_one(port, lfd, cf, uf, av[4], pace, buf);
		if (t < 0)
			errors++;
		else
			printf("%s%lld", ok++ > 0 ? "," : "", t);
		usleep(5000);
	}
	printf(" errors=%d\n", errors);
	return 0;
}

int
main(int ac, char **av)
{
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (ac == 7 && strcmp(av[1], "rps") == 0)
		return cmd_rps(av + 1);
	if (ac == 5 && strcmp(av[1], "streamlat") == 0)
		return cmd_streamlat(av + 1);
	if (ac == 5 && strcmp(av[1], "idle") == 0)
		return cmd_idle(av + 1);
	if (ac == 5 && strcmp(av[1], "hold") == 0)
		return cmd_hold(av + 2);
	if (ac == 8 && strcmp(av[1], "evcpu") == 0)
		return cmd_evcpu(av + 2);
	if (ac == 9 && strcmp(av[1], "ttfd") == 0)
		return cmd_ttfd(av + 2);
	if (ac == 2 && strcmp(av[1], "freeport") == 0)
		return cmd_freeport();
	fprintf(stderr, "usage: see the comment at the top of tests/loadgen.c\n");
	return 2;
}
