/*
 * mock_upstream.c - a scriptable stand-in for the OpenAI, Anthropic and
 * Gemini APIs, for the integration tests, the SDK end-to-end tests and the
 * benchmark.
 *
 * One process, one poll() loop, non-blocking sockets: the benchmark holds
 * ~1000 idle streams and thousands of requests per second, which rules out
 * fork-per-connection. Each connection owns an input buffer (requests are
 * parsed only once complete: Content-Length or chunked), and an output
 * buffer cut into "pieces", each with a delay relative to the end of the
 * previous one. Every delivery trick is expressed with pieces: "slow" = one
 * SSE event per piece, 200 ms apart; "split" = pieces of 1..7 bytes forced
 * to cut inside UTF-8 characters, between \r and \n and inside "data:";
 * "truncate" = send part, then close without the terminal event;
 * "midevent" = the same, cut inside the next event's JSON. Over TLS
 * each piece is flushed as its own record, so the splits survive encryption.
 *
 * The behaviour is chosen by the model name (request body "model", or the
 * Gemini path segment), so a test scripts the upstream just by naming a
 * model; see usage() for the list. Responses replay the recorded fixtures in
 * tests/fixtures where one fits, and are synthesised otherwise (echo, text
 * for shapes without a text fixture). Bodies are scanned with a tiny
 * top-level-only JSON scanner: the mock must not depend on the code it tests.
 *
 * It is a test tool: allocation failure aborts.
 */
#include <arpa/inet.h>
#include <ctype.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define REQ_MAX        (64u << 20)   /* biggest request we buffer */
#define HEAD_MAX       (64u << 10)
#define MAX_HDRS       100
#define SLOW_MS        200
#define RETRY_AFTER    7             /* seconds; ra=N for another */

enum fmt { F_CHAT, F_RESP, F_ANTH, F_GEM };

/* ------------------------------------------------------------ utilities */

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "mock_upstream: out of memory\n");
		abort();
	}
	return p;
}

struct sb {
	char *p;
	size_t len, cap;
};

static void
sb_grow(struct sb *b, size_t add)
{
	size_t ncap;

	if (b->cap - b->len >= add + 1)
		return;
	ncap = b->cap ? b->cap : 256;
	while (ncap - b->len < add + 1)
		ncap *= 2;
	b->p = xrealloc(b->p, ncap);
	b->cap = ncap;
}

static void
sb_put(struct sb *b, const void *s, size_t n)
{
	sb_grow(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_puts(struct sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Append s[0..n) as a JSON string literal, quotes included. */
static void
sb_json_str(struct sb *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;
	unsigned char ch;
	char e[7];

	sb_put(b, "\"", 1);
	for (i = 0; i < n; i++) {
		ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			e[0] = '\\';
			e[1] = (char)ch;
			sb_put(b, e, 2);
		} else if (ch == '\n') {
			sb_put(b, "\\n", 2);
		} else if (ch == '\r') {
			sb_put(b, "\\r", 2);
		} else if (ch == '\t') {
			sb_put(b, "\\t", 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			memcpy(e, "\\u00", 4);
			e[4] = hex[ch >> 4];
			e[5] = hex[ch & 15];
			sb_put(b, e, 6);
		} else {
			sb_put(b, s + i, 1);
		}
	}
	sb_put(b, "\"", 1);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
ci_eq(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);

	return an == bn && strncasecmp(a, b, an) == 0;
}

/* memmem without relying on _GNU_SOURCE */
static const char *
find(const char *h, size_t hn, const char *needle)
{
	size_t nn = strlen(needle), i;

	if (nn > hn)
		return NULL;
	for (i = 0; i + nn <= hn; i++)
		if (h[i] == needle[0] && memcmp(h + i, needle, nn) == 0)
			return h + i;
	return NULL;
}

/* ------------------------------------------------------------ options */

static const char *opt_fixtures = "tests/fixtures";
static const char *opt_key;          /* --require-key */
static int opt_close_delimited;
static int opt_split_delay = 1;      /* ms between split pieces */
static int opt_quiet;

/* ------------------------------------------------------------ fixtures */

struct fixture {
	char name[96];
	char *data;
	size_t len;
};
static struct fixture fixtures[128];
static size_t nfixtures;

/* Load (once) and return a fixture file, or NULL. */
static const struct fixture *
fixture(const char *name)
{
	struct fixture *f;
	char path[1024];
	FILE *fp;
	long n;
	size_t i;

	if (strchr(name, '/') != NULL || strlen(name) >= sizeof f->name)
		return NULL;
	for (i = 0; i < nfixtures; i++)
		if (strcmp(fixtures[i].name, name) == 0)
			return &fixtures[i];
	if (nfixtures == sizeof fixtures / sizeof fixtures[0])
		return NULL;
	snprintf(path, sizeof path, "%s/%s", opt_fixtures, name);
	fp = fopen(path, "rb");
	if (fp == NULL) {
		fprintf(stderr, "mock_upstream: cannot open %s: %s\n", path,
		    strerror(errno));
		return NULL;
	}
	f = &fixtures[nfixtures];
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	f->data = xrealloc(NULL, (size_t)(n > 0 ? n : 0) + 1);
	f->len = fread(f->data, 1, (size_t)(n > 0 ? n : 0), fp);
	f->data[f->len] = '\0';
	fclose(fp);
	snprintf(f->name, sizeof f->name, "%s", name);
	nfixtures++;
	return f;
}

/* ------------------------------------------------------------ JSON scan */

/* Skip whitespace; returns new index. */
static size_t
js_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
	    s[i] == '\r'))
		i++;
	return i;
}

/* Index just past the string starting at s[i] == '"', or n. */
static size_t
js_str_end(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return n;
}

/* Index just past the value starting at s[i]. */
static size_t
js_skip(const char *s, size_t n, size_t i)
{
	int depth = 0;

	if (i >= n)
		return n;
	if (s[i] == '"')
		return js_str_end(s, n, i);
	if (s[i] != '{' && s[i] != '[') {
		while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' &&
		    s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
			i++;
		return i;
	}
	while (i < n) {
		if (s[i] == '"') {
			i = js_str_end(s, n, i);
			continue;
		}
		if (s[i] == '{' || s[i] == '[')
			depth++;
		else if (s[i] == '}' || s[i] == ']')
			if (--depth == 0)
				return i + 1;
		i++;
	}
	return n;
}

/* Raw text of a top-level member's value, or NULL. */
static const char *
js_member(const char *s, size_t n, const char *key, size_t *vlen)
{
	size_t i = js_ws(s, n, 0), ks, ke, vs;

	if (i >= n || s[i] != '{')
		return NULL;
	i++;
	for (;;) {
		i = js_ws(s, n, i);
		if (i >= n || s[i] != '"')
			return NULL;
		ks = i + 1;
		i = js_str_end(s, n, i);
		ke = i - 1;
		i = js_ws(s, n, i);
		if (i >= n || s[i] != ':')
			return NULL;
		vs = js_ws(s, n, i + 1);
		i = js_skip(s, n, vs);
		if (ke - ks == strlen(key) && memcmp(s + ks, key, ke - ks) == 0) {
			*vlen = i - vs;
			return s + vs;
		}
		i = js_ws(s, n, i);
		if (i >= n || s[i] != ',')
			return NULL;
		i++;
	}
}

/* ------------------------------------------------------------ TLS (server) */

static br_x509_certificate *srv_chain;
static size_t srv_chain_len;
static int srv_key_type;              /* 0 = no TLS */
static br_ec_private_key srv_ec;
static br_rsa_private_key srv_rsa;
static br_skey_decoder_context srv_skey;   /* owns the key bytes */
static const char *srv_alpn[] = { "http/1.1" };

struct pem_obj {
	char name[128];
	struct sb der;
};

static void
pem_append(void *ctx, const void *data, size_t len)
{
	sb_put(ctx, data, len);
}

/* Decode every PEM object of a file; returns the count, -1 on error. */
static int
pem_read_all(const char *path, struct pem_obj *objs, int max)
{
	br_pem_decoder_context pc;
	FILE *fp;
	unsigned char buf[4096];
	const unsigned char *p;
	size_t n, k;
	int cnt = 0, in = 0, eof = 0;

	fp = fopen(path, "rb");
	if (fp == NULL) {
		fprintf(stderr, "mock_upstream: %s: %s\n", path, strerror(errno));
		return -1;
	}
	br_pem_decoder_init(&pc);
	while (!eof) {
		n = fread(buf, 1, sizeof buf, fp);
		if (n == 0) {
			buf[0] = '\n';
			n = 1;
			eof = 1;
		}
		p = buf;
		while (n > 0) {
			k = br_pem_decoder_push(&pc, p, n);
			p += k;
			n -= k;
			switch (br_pem_decoder_event(&pc)) {
			case BR_PEM_BEGIN_OBJ:
				if (cnt == max)
					goto fail;
				memset(&objs[cnt], 0, sizeof objs[cnt]);
				snprintf(objs[cnt].name, sizeof objs[cnt].name,
				    "%s", br_pem_decoder_name(&pc));
				br_pem_decoder_setdest(&pc, pem_append,
				    &objs[cnt].der);
				in = 1;
				break;
			case BR_PEM_END_OBJ:
				cnt++;
				in = 0;
				break;
			case BR_PEM_ERROR:
				goto fail;
			default:
				break;
			}
		}
	}
	fclose(fp);
	if (in)
		return -1;
	return cnt;
fail:
	fclose(fp);
	fprintf(stderr, "mock_upstream: %s: bad PEM\n", path);
	return -1;
}

static int
tls_setup(const char *cert, const char *key)
{
	struct pem_obj objs[16];
	int n, i;

	n = pem_read_all(cert, objs, 16);
	if (n <= 0)
		return -1;
	srv_chain = xrealloc(NULL, (size_t)n * sizeof *srv_chain);
	for (i = 0; i < n; i++) {
		if (strstr(objs[i].name, "CERTIFICATE") == NULL)
			continue;
		srv_chain[srv_chain_len].data = (unsigned char *)objs[i].der.p;
		srv_chain[srv_chain_len].data_len = objs[i].der.len;
		srv_chain_len++;
	}
	if (srv_chain_len == 0) {
		fprintf(stderr, "mock_upstream: %s: no certificate\n", cert);
		return -1;
	}
	n = pem_read_all(key, objs, 16);
	if (n <= 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (strstr(objs[i].name, "PRIVATE KEY") == NULL)
			continue;
		br_skey_decoder_init(&srv_skey);
		br_skey_decoder_push(&srv_skey, objs[i].der.p, objs[i].der.len);
		if (br_skey_decoder_last_error(&srv_skey) != 0)
			continue;
		srv_key_type = br_skey_decoder_key_type(&srv_skey);
		if (srv_key_type == BR_KEYTYPE_EC)
			srv_ec = *br_skey_decoder_get_ec(&srv_skey);
		else if (srv_key_type == BR_KEYTYPE_RSA)
			srv_rsa = *br_skey_decoder_get_rsa(&srv_skey);
		break;
	}
	if (srv_key_type == 0) {
		fprintf(stderr, "mock_upstream: %s: no usable private key\n",
		    key);
		return -1;
	}
	return 0;
}

struct srv_tls {
	br_ssl_server_context sc;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* ------------------------------------------------------------ connections */

struct piece {
	size_t end;           /* out offset where this piece ends */
	unsigned delay_ms;    /* wait after the previous piece */
};

struct conn {
	int fd;
	struct srv_tls *tls;
	struct sb in;
	struct sb out;
	size_t out_sent;
	struct piece *pc;
	size_t npc, pc_cap, pc_cur;
	long long ready_at;
	unsigned counted:1;       /* served an API request (for /_stats) */
	unsigned peer_eof:1;
	unsigned dead:1;          /* close now */
	unsigned by_peer:1;       /* closed because of the peer */
	unsigned hang:1;
	unsigned close_after:1;   /* graceful close when output is done */
	unsigned abort_after:1;   /* abrupt close (no close_notify) */
	unsigned shutting:1;      /* TLS close_notify queued */
	unsigned sent_continue:1;
};

static struct conn **conns;
static size_t nconns, conns_cap;
static unsigned long long st_requests, st_connections, st_closed_by_peer;
static long long st_open;
static unsigned rng_state = 12345u;

static unsigned
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void
piece_add(struct conn *c, unsigned delay_ms)
{
	if (c->npc > 0 && c->pc[c->npc - 1].end == c->out.len)
		return;
	if (c->npc == c->pc_cap) {
		c->pc_cap = c->pc_cap ? c->pc_cap * 2 : 16;
		c->pc = xrealloc(c->pc, c->pc_cap * sizeof *c->pc);
	}
	c->pc[c->npc].end = c->out.len;
	c->pc[c->npc].delay_ms = delay_ms;
	if (c->npc == c->pc_cur)
		c->ready_at = now_ms() + delay_ms;
	c->npc++;
}

/* A cut before out[i] that a parser is likely to get wrong. */
static int
awkward(const unsigned char *s, size_t i)
{
	if (s[i - 1] == '\r' && s[i] == '\n')
		return 1;
	if (i >= 2 && s[i - 2] == 'd' && s[i - 1] == 'a' && s[i] == 't')
		return 1;
	if (s[i - 1] >= 0xc0 && (s[i] & 0xc0) == 0x80)
		return 1;
	return 0;
}

/* Re-cut pieces from index first on into 1..7 byte pieces. */
static void
split_pieces(struct conn *c, size_t first, unsigned delay)
{
	struct piece *old;
	size_t nold, i, pos, start, next;
	const unsigned char *s = (const unsigned char *)c->out.p;

	nold = c->npc - first;
	old = xrealloc(NULL, (nold ? nold : 1) * sizeof *old);
	memcpy(old, c->pc + first, nold * sizeof *old);
	start = first ? c->pc[first - 1].end : 0;
	c->npc = first;
	for (i = 0; i < nold; i++) {
		unsigned d = old[i].delay_ms;
		next = start + 1 + rng() % 7;
		for (pos = start + 1; pos <= old[i].end; pos++) {
			if (pos == old[i].end || pos == next ||
			    awkward(s, pos)) {
				size_t save = c->out.len;
				c->out.len = pos;
				piece_add(c, d);
				c->out.len = save;
				d = delay;
				next = pos + 1 + rng() % 7;
			}
		}
		start = old[i].end;
	}
	free(old);
}

static void
conn_reset_out(struct conn *c)
{
	c->out.len = 0;
	c->out_sent = 0;
	c->npc = 0;
	c->pc_cur = 0;
}

/* Bytes of the current piece that may be sent now. */
static size_t
out_avail(struct conn *c, long long now, const char **p)
{
	if (c->pc_cur >= c->npc || now < c->ready_at)
		return 0;
	*p = c->out.p + c->out_sent;
	return c->pc[c->pc_cur].end - c->out_sent;
}

/* Returns 1 when a piece boundary was reached. */
static int
out_advance(struct conn *c, size_t n, long long now)
{
	c->out_sent += n;
	if (c->out_sent < c->pc[c->pc_cur].end)
		return 0;
	c->pc_cur++;
	if (c->pc_cur < c->npc)
		c->ready_at = now + c->pc[c->pc_cur].delay_ms;
	return 1;
}

/* ------------------------------------------------------------ requests */

struct hdr {
	const char *name, *value;
	size_t nlen, vlen;
};

struct req {
	const char *method, *target;
	size_t mlen, tlen;
	int http10;
	struct hdr h[MAX_HDRS];
	size_t nh;
	const char *body;
	size_t blen;
	char *body_owned;         /* decoded chunked body */
	size_t consumed;          /* bytes of c->in this request used */
};

static const struct hdr *
req_hdr(const struct req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nh; i++)
		if (ci_eq(r->h[i].name, r->h[i].nlen, name))
			return &r->h[i];
	return NULL;
}

/* Decode a chunked body at s[0..n). Returns bytes used, -2 partial, -1 bad. */
static long
dechunk(const char *s, size_t n, struct sb *out)
{
	size_t i = 0, sz;
	int digits;
	const char *eol;

	for (;;) {
		sz = 0;
		digits = 0;
		while (i < n && isxdigit((unsigned char)s[i])) {
			int d = isdigit((unsigned char)s[i]) ? s[i] - '0' :
			    (tolower((unsigned char)s[i]) - 'a' + 10);
			if (sz > (REQ_MAX >> 4))
				return -1;
			sz = sz * 16 + (size_t)d;
			digits++;
			i++;
		}
		if (i >= n)
			return -2;
		if (digits == 0)
			return -1;
		eol = find(s + i, n - i, "\r\n");
		if (eol == NULL)
			return n - i > 1024 ? -1 : -2;
		i = (size_t)(eol - s) + 2;
		if (sz == 0) {
			/* trailers, then the empty line */
			for (;;) {
				eol = find(s + i, n - i, "\r\n");
				if (eol == NULL)
					return -2;
				if (eol == s + i)
					return (long)(i + 2);
				i = (size_t)(eol - s) + 2;
			}
		}
		if (n - i < sz + 2)
			return -2;
		sb_put(out, s + i, sz);
		i += sz;
		if (s[i] != '\r' || s[i + 1] != '\n')
			return -1;
		i += 2;
	}
}

/*
 * Parse one request from c->in. Returns 1 complete, 0 need more, -1 bad.
 * Sends "100 Continue" when asked to and the body is not there yet.
 */
static int
parse_request(struct conn *c, struct req *r)
{
	const char *s = c->in.p, *he, *p, *e, *colon;
	size_t n = c->in.len, hlen;
	const struct hdr *h;
	long used;

	memset(r, 0, sizeof *r);
	if (n == 0)
		return 0;
	he = find(s, n, "\r\n\r\n");
	if (he == NULL)
		return n > HEAD_MAX ? -1 : 0;
	hlen = (size_t)(he - s) + 4;
	/* request line */
	e = find(s, hlen, "\r\n");
	p = memchr(s, ' ', (size_t)(e - s));
	if (p == NULL)
		return -1;
	r->method = s;
	r->mlen = (size_t)(p - s);
	r->target = p + 1;
	p = memchr(r->target, ' ', (size_t)(e - r->target));
	if (p == NULL)
		return -1;
	r->tlen = (size_t)(p - r->target);
	r->http10 = (size_t)(e - p) >= 9 && memcmp(p + 1, "HTTP/1.0", 8) == 0;
	/* headers */
	p = e + 2;
	while (p < he + 2) {
		e = find(p, (size_t)(he + 2 - p), "\r\n");
		if (e == NULL || r->nh == MAX_HDRS)
			return -1;
		colon = memchr(p, ':', (size_t)(e - p));
		if (colon == NULL)
			return -1;
		r->h[r->nh].name = p;
		r->h[r->nh].nlen = (size_t)(colon - p);
		colon++;
		while (colon < e && (*colon == ' ' || *colon == '\t'))
			colon++;
		r->h[r->nh].value = colon;
		r->h[r->nh].vlen = (size_t)(e - colon);
		while (r->h[r->nh].vlen > 0 &&
		    (colon[r->h[r->nh].vlen - 1] == ' ' ||
		    colon[r->h[r->nh].vlen - 1] == '\t'))
			r->h[r->nh].vlen--;
		r->nh++;
		p = e + 2;
	}
	/* body */
	h = req_hdr(r, "transfer-encoding");
	if (h != NULL && find(h->value, h->vlen, "chunked") != NULL) {
		struct sb body = { 0 };
		used = dechunk(s + hlen, n - hlen, &body);
		if (used == -1) {
			free(body.p);
			return -1;
		}
		if (used == -2) {
			free(body.p);
			goto partial;
		}
		r->body_owned = body.p;
		r->body = body.p ? body.p : "";
		r->blen = body.len;
		r->consumed = hlen + (size_t)used;
		return 1;
	}
	h = req_hdr(r, "content-length");
	if (h != NULL) {
		size_t cl = 0, i;
		for (i = 0; i < h->vlen; i++) {
			if (!isdigit((unsigned char)h->value[i]) || cl > REQ_MAX)
				return -1;
			cl = cl * 10 + (size_t)(h->value[i] - '0');
		}
		if (cl > REQ_MAX)
			return -1;
		if (n - hlen < cl)
			goto partial;
		r->body = s + hlen;
		r->blen = cl;
	} else {
		r->body = s + hlen;
		r->blen = 0;
	}
	r->consumed = hlen + r->blen;
	return 1;
partial:
	h = req_hdr(r, "expect");
	if (h != NULL && ci_eq(h->value, h->vlen, "100-continue") &&
	    !c->sent_continue && c->npc == c->pc_cur) {
		conn_reset_out(c);
		sb_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
		piece_add(c, 0);
		c->sent_continue = 1;
	}
	return 0;
}

/* ------------------------------------------------------------ responses */

struct scen {
	enum fmt fmt;
	int stream;
	char model[256];          /* as sent */
	char lc[256];             /* lower case, for matching */
	unsigned slow:1, split:1, splitfast:1, truncate:1, midevent:1,
	         earlyhints:1, hold:1, burst:1;
	unsigned pass:1;          /* failfirst=N used up: no failure words */
	unsigned errbefore:1, errafter:1, ratelimited:1, rspfailed:1;
	int ra;                   /* seconds a 429 asks to wait (ra=N) */
	unsigned ra_set:1;        /* ra=N given: 5xx answers carry it too */
	char cred[128];           /* the credential the request carried */
};

/*
 * Headers every answer carries, as the real APIs send them: a request id
 * and rate-limit figures in the format's own names (the 429s make the
 * reset the Retry-After). "earlyhints" puts a 103 interim response first.
 */
static void
std_head(struct sb *o, const struct scen *s, int status)
{
	if (s == NULL)
		return;
	if (s->earlyhints)
		sb_puts(o, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; "
		    "rel=preload\r\n\r\n");
}

static void
std_headers(struct sb *o, const struct scen *s, int status)
{
	int limited = status == 429;

	if (s == NULL)
		return;
	if (s->fmt == F_ANTH) {
		char t[32];
		time_t now = time(NULL) + (limited ? s->ra : 60);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
		sb_printf(o, "request-id: req_mockant%d\r\n"
		    "anthropic-ratelimit-requests-limit: 50\r\n"
		    "anthropic-ratelimit-requests-remaining: %d\r\n"
		    "anthropic-ratelimit-requests-reset: %s\r\n"
		    "anthropic-ratelimit-input-tokens-limit: 40000\r\n",
		    status, limited ? 0 : 49, t);
	} else if (s->fmt == F_CHAT || s->fmt == F_RESP) {
		char reset[32];
		if (limited)
			snprintf(reset, sizeof reset, "%ds", s->ra);
		else
			snprintf(reset, sizeof reset, "120ms");
		sb_printf(o, "x-request-id: req_mockoai%d\r\n"
		    "x-ratelimit-limit-requests: 500\r\n"
		    "x-ratelimit-remaining-requests: %d\r\n"
		    "x-ratelimit-reset-requests: %s\r\n",
		    status, limited ? 0 : 499, reset);
	}
	if (limited)
		sb_printf(o, "retry-after-ms: %d\r\nx-should-retry: true\r\n",
		    s->ra * 1000);
}

static int
has(const struct scen *s, const char *w)
{
	return strstr(s->lc, w) != NULL;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 529: return "Site Overloaded";
	default: return "Unknown";
	}
}

/*
 * Queue a complete non-streamed response. Handles slow/split/truncate and
 * the connection's keep-alive state.
 */
static int wrap_ca;
static void ca_wrap_json(struct sb *o, const char *body, size_t n);
static void ca_wrap_sse(struct sb *o, const char *sse, size_t n);

static void
send_body(struct conn *c, const struct scen *s, int status,
    const char *ctype, const char *extra, const char *body, size_t blen)
{
	size_t first = c->npc, cut;
	struct sb w = { 0 };

	if (wrap_ca && status / 100 == 2) {
		wrap_ca = 0;
		ca_wrap_json(&w, body, blen);
		send_body(c, s, status, ctype, extra, w.p, w.len);
		free(w.p);
		return;
	}

	std_head(&c->out, s, status);
	if (s != NULL && s->earlyhints)
		piece_add(c, 0);
	sb_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%s", status, reason(status), ctype,
	    blen, extra ? extra : "");
	std_headers(&c->out, s, status);
	sb_printf(&c->out, "%s\r\n", c->close_after ? "Connection: close\r\n" :
	    "");
	if (s != NULL && s->truncate) {
		cut = blen / 2;
		sb_put(&c->out, body, cut);
		c->abort_after = 1;
	} else {
		sb_put(&c->out, body, blen);
	}
	piece_add(c, s != NULL && s->slow ? SLOW_MS : 0);
	if (s != NULL && s->split)
		split_pieces(c, first, s->splitfast ? 0 :
		    (unsigned)opt_split_delay);
}

static void
send_json(struct conn *c, const struct scen *s, int status, const char *extra,
    const char *body, size_t blen)
{
	send_body(c, s, status, "application/json", extra, body, blen);
}

/* Length of the SSE event at s[0..n) including its blank line, or n. */
static size_t
sse_event_len(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++) {
		if (s[i] == '\n' && s[i + 1] == '\n')
			return i + 2;
		if (i + 3 < n && memcmp(s + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	}
	return n;
}

/* Queue a streamed response whose SSE body is sse[0..n). */
static void
send_stream(struct conn *c, const struct scen *s, const char *sse, size_t n)
{
	size_t first = c->npc, off, ev, nev = 0, sent = 0, limit;
	int chunked = !opt_close_delimited;
	struct sb w = { 0 };

	if (wrap_ca) {
		wrap_ca = 0;
		ca_wrap_sse(&w, sse, n);
		send_stream(c, s, w.p, w.len);
		free(w.p);
		return;
	}

	for (off = 0; off < n; off += sse_event_len(sse + off, n - off))
		nev++;
	limit = s->truncate ? (nev > 1 ? nev / 2 : 1) : nev;
	std_head(&c->out, s, 200);
	if (s->earlyhints)
		piece_add(c, 0);
	sb_printf(&c->out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream"
	    "\r\nCache-Control: no-cache\r\n%s",
	    chunked ? "Transfer-Encoding: chunked\r\n" : "");
	std_headers(&c->out, s, 200);
	sb_printf(&c->out, "%s\r\n",
	    (!chunked || c->close_after) ? "Connection: close\r\n" : "");
	if (!chunked)
		c->close_after = 1;
	if (!s->burst)
		piece_add(c, 0);
	for (off = 0; off < n && sent < limit; off += ev, sent++) {
		ev = sse_event_len(sse + off, n - off);
		if (chunked)
			sb_printf(&c->out, "%zx\r\n", ev);
		sb_put(&c->out, sse + off, ev);
		if (chunked)
			sb_puts(&c->out, "\r\n");
		if (!s->burst)
			piece_add(c, s->slow && sent > 0 ? SLOW_MS : 0);
	}
	if (s->midevent && off < n) {
		/* and half of the next event, cut inside its JSON */
		ev = sse_event_len(sse + off, n - off) / 2;
		if (chunked)
			sb_printf(&c->out, "%zx\r\n", ev);
		sb_put(&c->out, sse + off, ev);
		if (chunked)
			sb_puts(&c->out, "\r\n");
		piece_add(c, 0);
	}
	if (s->burst && (s->truncate || !chunked))
		piece_add(c, 0);      /* else the end joins the piece */
	if (s->truncate) {
		c->abort_after = 1;
	} else if (s->hold) {
		c->hang = 1;          /* no end: the stream stays open */
	} else if (chunked) {
		sb_puts(&c->out, "0\r\n\r\n");
		piece_add(c, 0);
	}
	if (s->split)
		split_pieces(c, first, s->splitfast ? 0 :
		    (unsigned)opt_split_delay);
}

/* Error body in the format's real shape. */
static void
send_error(struct conn *c, const struct scen *s, int status)
{
	const struct fixture *f = NULL;
	const char *extra = NULL, *body = NULL;
	int st = status;

	char ra[48];

	switch (status) {
	case 429:
		snprintf(ra, sizeof ra, "Retry-After: %d\r\n", s->ra);
		extra = ra;
		f = fixture(s->fmt == F_ANTH ? "anthropic_error_429.json" :
		    s->fmt == F_GEM ? "gemini_error_429.json" :
		    "openai_error_429.json");
		break;
	case 529:
		if (s->fmt == F_ANTH) {
			f = fixture("anthropic_error_529.json");
		} else if (s->fmt == F_GEM) {
			st = 503;
			f = fixture("gemini_error_503.json");
		} else {
			st = 503;
			body = "{\"error\":{\"message\":\"The engine is currently "
			    "overloaded, please try again later\",\"type\":"
			    "\"server_error\",\"param\":null,\"code\":null}}";
		}
		break;
	case 400:
		f = fixture(s->fmt == F_ANTH ? "anthropic_error_400.json" :
		    s->fmt == F_GEM ? "gemini_error_400_schema.json" :
		    "openai_error_400_context_length.json");
		break;
	case 401:
		if (s->fmt == F_ANTH)
			body = "{\"type\":\"error\",\"error\":{\"type\":"
			    "\"authentication_error\",\"message\":"
			    "\"invalid x-api-key\"}}";
		else if (s->fmt == F_GEM)
			body = "{\"error\":{\"code\":401,\"message\":\"API key "
			    "not valid. Please pass a valid API key.\","
			    "\"status\":\"UNAUTHENTICATED\"}}";
		else
			f = fixture("openai_error_401.json");
		break;
	case 403:
		if (s->fmt == F_ANTH)
			body = "{\"type\":\"error\",\"error\":{\"type\":"
			    "\"permission_error\",\"message\":\"Your API key "
			    "does not have permission to use the specified "
			    "resource.\"}}";
		else if (s->fmt == F_GEM)
			body = "{\"error\":{\"code\":403,\"message\":\"Method "
			    "doesn't allow unregistered callers.\",\"status\":"
			    "\"PERMISSION_DENIED\"}}";
		else
			body = "{\"error\":{\"message\":\"You are not allowed "
			    "to sample from this model\",\"type\":"
			    "\"invalid_request_error\",\"param\":null,\"code\":"
			    "\"model_not_found\"}}";
		break;
	case 503:
		if (s->fmt == F_GEM)
			f = fixture("gemini_error_503.json");
		else if (s->fmt == F_ANTH)
			body = "{\"type\":\"error\",\"error\":{\"type\":"
			    "\"api_error\",\"message\":\"Service "
			    "unavailable\"}}";
		else
			body = "{\"error\":{\"message\":\"The engine is "
			    "currently overloaded, please try again later\","
			    "\"type\":\"server_error\",\"param\":null,\"code\":"
			    "null}}";
		break;
	default:
		/* 500, and any other status a kNNN= word asks for */
		st = status >= 500 && status < 600 ? status : 500;
		if (s->fmt == F_ANTH)
			body = "{\"type\":\"error\",\"error\":{\"type\":"
			    "\"api_error\",\"message\":\"Internal server "
			    "error\"}}";
		else if (s->fmt == F_GEM)
			body = "{\"error\":{\"code\":500,\"message\":\"An "
			    "internal error has occurred.\",\"status\":"
			    "\"INTERNAL\"}}";
		else
			body = "{\"error\":{\"message\":\"The server had an "
			    "error while processing your request. Sorry about "
			    "that!\",\"type\":\"server_error\",\"param\":null,"
			    "\"code\":null}}";
		break;
	}
	if (s->ra_set && st >= 500) {
		snprintf(ra, sizeof ra, "Retry-After: %d\r\n", s->ra);
		extra = ra;
	}
	if (f != NULL)
		send_json(c, s, st, extra, f->data, f->len);
	else if (body != NULL)
		send_json(c, s, st, extra, body, strlen(body));
	else
		send_json(c, s, 500, NULL, "{}", 2);
}

/* Non-streamed text answer (optionally with thinking) in the format. */
static void
gen_text(struct sb *b, const struct scen *s, const char *t, size_t tn,
    int thinking)
{
	static const char think[] = "Let me think about this step by step.";
	const char *m = s->model;

	switch (s->fmt) {
	case F_CHAT:
		sb_puts(b, "{\"id\":\"chatcmpl-mock\",\"object\":"
		    "\"chat.completion\",\"created\":1700000000,\"model\":");
		sb_json_str(b, m, strlen(m));
		sb_puts(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":"
		    "\"assistant\",\"content\":");
		sb_json_str(b, t, tn);
		if (thinking) {
			sb_puts(b, ",\"reasoning_content\":");
			sb_json_str(b, think, strlen(think));
		}
		sb_puts(b, ",\"refusal\":null},\"logprobs\":null,"
		    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":"
		    "10,\"completion_tokens\":5,\"total_tokens\":15}}");
		break;
	case F_RESP:
		sb_puts(b, "{\"id\":\"resp_mock\",\"object\":\"response\","
		    "\"created_at\":1700000000,\"status\":\"completed\","
		    "\"error\":null,\"incomplete_details\":null,\"model\":");
		sb_json_str(b, m, strlen(m));
		sb_puts(b, ",\"output\":[");
		if (thinking) {
			sb_puts(b, "{\"type\":\"reasoning\",\"id\":\"rs_mock\","
			    "\"summary\":[{\"type\":\"summary_text\",\"text\":");
			sb_json_str(b, think, strlen(think));
			sb_puts(b, "}]},");
		}
		sb_puts(b, "{\"type\":\"message\",\"id\":\"msg_mock\","
		    "\"status\":\"completed\",\"role\":\"assistant\","
		    "\"content\":[{\"type\":\"output_text\",\"text\":");
		sb_json_str(b, t, tn);
		sb_puts(b, ",\"annotations\":[]}]}],\"parallel_tool_calls\":"
		    "true,\"usage\":{\"input_tokens\":10,\"input_tokens_details\":"
		    "{\"cached_tokens\":0},\"output_tokens\":5,"
		    "\"output_tokens_details\":{\"reasoning_tokens\":0},"
		    "\"total_tokens\":15}}");
		break;
	case F_ANTH:
		sb_puts(b, "{\"id\":\"msg_mock\",\"type\":\"message\",\"role\":"
		    "\"assistant\",\"model\":");
		sb_json_str(b, m, strlen(m));
		sb_puts(b, ",\"content\":[");
		if (thinking) {
			sb_puts(b, "{\"type\":\"thinking\",\"thinking\":");
			sb_json_str(b, think, strlen(think));
			sb_puts(b, ",\"signature\":\"bW9jaw==\"},");
		}
		sb_puts(b, "{\"type\":\"text\",\"text\":");
		sb_json_str(b, t, tn);
		sb_puts(b, "}],\"stop_reason\":\"end_turn\",\"stop_sequence\":"
		    "null,\"usage\":{\"input_tokens\":10,\"output_tokens\":5}}");
		break;
	case F_GEM:
		sb_puts(b, "{\"candidates\":[{\"content\":{\"parts\":[");
		if (thinking) {
			sb_puts(b, "{\"text\":");
			sb_json_str(b, think, strlen(think));
			sb_puts(b, ",\"thought\":true},");
		}
		sb_puts(b, "{\"text\":");
		sb_json_str(b, t, tn);
		sb_puts(b, "}],\"role\":\"model\"},\"finishReason\":\"STOP\","
		    "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":10,"
		    "\"candidatesTokenCount\":5,\"totalTokenCount\":15},"
		    "\"modelVersion\":");
		sb_json_str(b, m, strlen(m));
		sb_puts(b, ",\"responseId\":\"mock\"}");
		break;
	}
}

static void
sse_ev(struct sb *b, const char *name, struct sb *data)
{
	if (name != NULL)
		sb_printf(b, "event: %s\n", name);
	sb_puts(b, "data: ");
	sb_put(b, data->p, data->len);
	sb_puts(b, "\n\n");
	data->len = 0;
}

/* Streamed text answer (one delta) in the format. */
static void
gen_text_stream(struct sb *b, const struct scen *s, const char *t, size_t tn)
{
	struct sb d = { 0 };
	const char *m = s->model;
	int seq = 0;

	switch (s->fmt) {
	case F_CHAT:
		{
			static const char *const tail[] = {
			    ",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
			    "\"assistant\",\"content\":\"\",\"refusal\":null},"
			    "\"logprobs\":null,\"finish_reason\":null}]}",
			    NULL,
			    ",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":"
			    "null,\"finish_reason\":\"stop\"}]}",
			    ",\"choices\":[],\"usage\":{\"prompt_tokens\":10,"
			    "\"completion_tokens\":5,\"total_tokens\":15}}" };
			size_t i;
			for (i = 0; i < 4; i++) {
				sb_puts(&d, "{\"id\":\"chatcmpl-mock\",\"object\":"
				    "\"chat.completion.chunk\",\"created\":"
				    "1700000000,\"model\":");
				sb_json_str(&d, m, strlen(m));
				if (tail[i] != NULL) {
					sb_puts(&d, tail[i]);
				} else {
					sb_puts(&d, ",\"choices\":[{\"index\":0,"
					    "\"delta\":{\"content\":");
					sb_json_str(&d, t, tn);
					sb_puts(&d, "},\"logprobs\":null,"
					    "\"finish_reason\":null}]}");
				}
				sse_ev(b, NULL, &d);
			}
			sb_puts(b, "data: [DONE]\n\n");
		}
		break;
	case F_RESP:
		{
			struct sb r = { 0 };
			sb_puts(&r, "{\"id\":\"resp_mock\",\"object\":\"response\","
			    "\"created_at\":1700000000,\"status\":\"in_progress\","
			    "\"error\":null,\"incomplete_details\":null,"
			    "\"model\":");
			sb_json_str(&r, m, strlen(m));
			sb_puts(&r, ",\"output\":[],\"usage\":null}");
			sb_printf(&d, "{\"type\":\"response.created\","
			    "\"sequence_number\":%d,\"response\":%s}", seq++, r.p);
			sse_ev(b, "response.created", &d);
			sb_printf(&d, "{\"type\":\"response.in_progress\","
			    "\"sequence_number\":%d,\"response\":%s}", seq++, r.p);
			sse_ev(b, "response.in_progress", &d);
			sb_printf(&d, "{\"type\":\"response.output_item.added\","
			    "\"sequence_number\":%d,\"output_index\":0,\"item\":"
			    "{\"id\":\"msg_mock\",\"type\":\"message\",\"status\":"
			    "\"in_progress\",\"content\":[],\"role\":"
			    "\"assistant\"}}", seq++);
			sse_ev(b, "response.output_item.added", &d);
			sb_printf(&d, "{\"type\":\"response.content_part.added\","
			    "\"sequence_number\":%d,\"item_id\":\"msg_mock\","
			    "\"output_index\":0,\"content_index\":0,\"part\":"
			    "{\"type\":\"output_text\",\"annotations\":[],"
			    "\"text\":\"\"}}", seq++);
			sse_ev(b, "response.content_part.added", &d);
			sb_printf(&d, "{\"type\":\"response.output_text.delta\","
			    "\"sequence_number\":%d,\"item_id\":\"msg_mock\","
			    "\"output_index\":0,\"content_index\":0,\"delta\":",
			    seq++);
			sb_json_str(&d, t, tn);
			sb_puts(&d, "}");
			sse_ev(b, "response.output_text.delta", &d);
			sb_printf(&d, "{\"type\":\"response.output_text.done\","
			    "\"sequence_number\":%d,\"item_id\":\"msg_mock\","
			    "\"output_index\":0,\"content_index\":0,\"text\":",
			    seq++);
			sb_json_str(&d, t, tn);
			sb_puts(&d, "}");
			sse_ev(b, "response.output_text.done", &d);
			sb_printf(&d, "{\"type\":\"response.content_part.done\","
			    "\"sequence_number\":%d,\"item_id\":\"msg_mock\","
			    "\"output_index\":0,\"content_index\":0,\"part\":"
			    "{\"type\":\"output_text\",\"annotations\":[],"
			    "\"text\":", seq++);
			sb_json_str(&d, t, tn);
			sb_puts(&d, "}}");
			sse_ev(b, "response.content_part.done", &d);
			sb_printf(&d, "{\"type\":\"response.output_item.done\","
			    "\"sequence_number\":%d,\"output_index\":0,\"item\":"
			    "{\"id\":\"msg_mock\",\"type\":\"message\",\"status\":"
			    "\"completed\",\"content\":[{\"type\":\"output_text\","
			    "\"annotations\":[],\"text\":", seq++);
			sb_json_str(&d, t, tn);
			sb_puts(&d, "}],\"role\":\"assistant\"}}");
			sse_ev(b, "response.output_item.done", &d);
			r.len = 0;
			gen_text(&r, s, t, tn, 0);
			sb_printf(&d, "{\"type\":\"response.completed\","
			    "\"sequence_number\":%d,\"response\":%s}", seq++, r.p);
			sse_ev(b, "response.completed", &d);
			free(r.p);
		}
		break;
	case F_ANTH:
		sb_puts(&d, "{\"type\":\"message_start\",\"message\":{\"id\":"
		    "\"msg_mock\",\"type\":\"message\",\"role\":\"assistant\","
		    "\"model\":");
		sb_json_str(&d, m, strlen(m));
		sb_puts(&d, ",\"content\":[],\"stop_reason\":null,"
		    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,"
		    "\"output_tokens\":1}}}");
		sse_ev(b, "message_start", &d);
		sb_puts(&d, "{\"type\":\"content_block_start\",\"index\":0,"
		    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
		sse_ev(b, "content_block_start", &d);
		sb_puts(&d, "{\"type\": \"ping\"}");
		sse_ev(b, "ping", &d);
		sb_puts(&d, "{\"type\":\"content_block_delta\",\"index\":0,"
		    "\"delta\":{\"type\":\"text_delta\",\"text\":");
		sb_json_str(&d, t, tn);
		sb_puts(&d, "}}");
		sse_ev(b, "content_block_delta", &d);
		sb_puts(&d, "{\"type\":\"content_block_stop\",\"index\":0}");
		sse_ev(b, "content_block_stop", &d);
		sb_puts(&d, "{\"type\":\"message_delta\",\"delta\":{"
		    "\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
		    "\"usage\":{\"output_tokens\":5}}");
		sse_ev(b, "message_delta", &d);
		sb_puts(&d, "{\"type\":\"message_stop\"}");
		sse_ev(b, "message_stop", &d);
		break;
	case F_GEM:
		/* Gemini frames events with CRLF CRLF. */
		sb_puts(b, "data: ");
		gen_text(b, s, t, tn, 0);
		sb_puts(b, "\r\n\r\n");
		break;
	}
	free(d.p);
}

/* Fixture for (format, stream, kind); NULL = synthesise text. */
static const char *
pick_fixture(const struct scen *s)
{
	int tools = has(s, "tool"), par = has(s, "parallel");
	int think = has(s, "thinking");

	switch (s->fmt) {
	case F_CHAT:
		if (s->stream)
			return tools ? (par ? "openai_chat_stream_tools_parallel.sse" :
			    "openai_chat_stream_tool_single.sse") :
			    think ? "openai_chat_stream_reasoning_content.sse" :
			    "openai_chat_stream_text.sse";
		return tools ? "openai_chat_response_tool_calls.json" :
		    think ? NULL : "openai_chat_response_text.json";
	case F_RESP:
		if (s->stream)
			return tools ? "responses_stream_function_call.sse" :
			    think ? "responses_stream_reasoning_summary.sse" :
			    "responses_stream_text.sse";
		return tools ? "responses_response_function_call.json" : NULL;
	case F_ANTH:
		if (s->stream)
			return tools ? (par ?
			    "anthropic_stream_thinking_parallel_tool_use.sse" :
			    "anthropic_stream_tool_use.sse") :
			    think ? "anthropic_stream_thinking.sse" :
			    "anthropic_stream_text.sse";
		return tools ? "anthropic_response_tool_use.json" :
		    think ? "anthropic_response_thinking.json" :
		    "anthropic_response_text.json";
	case F_GEM:
		if (s->stream)
			return tools ? (par ?
			    "gemini_stream_function_call_parallel.sse" :
			    "gemini_stream_function_call.sse") :
			    think ? "gemini_stream_thinking.sse" :
			    "gemini_stream_text.sse";
		return tools ? (par ?
		    "gemini_response_function_call_parallel.json" :
		    "gemini_response_function_call.json") : NULL;
	}
	return NULL;
}

/* ------------------------------------------------------------ structured */

/*
 * "structured": the request must carry a JSON schema for the answer in the
 * upstream's own place, with properties "city" and "temperature_c":
 *   chat       response_format {type:"json_schema", json_schema:{name, schema}}
 *   responses  text.format {type:"json_schema", name, schema}
 *   anthropic  output_config.format {type:"json_schema", schema}
 *   gemini     generationConfig {responseMimeType:"application/json",
 *              responseJsonSchema | responseSchema}
 * Then the answer is the fixed object STRUCT_ANSWER as text (streamed or
 * not); otherwise a 400 in the format's error shape that names what is
 * missing.
 */
#define STRUCT_ANSWER "{\"city\":\"Paris\",\"temperature_c\":21}"

/* Value at a dotted path of members ("a.b.c") of the object s, or NULL. */
static const char *
js_path(const char *s, size_t n, const char *path, size_t *vlen)
{
	char key[64];
	const char *dot;
	size_t k;

	while (s != NULL) {
		dot = strchr(path, '.');
		k = dot ? (size_t)(dot - path) : strlen(path);
		if (k >= sizeof key)
			return NULL;
		memcpy(key, path, k);
		key[k] = '\0';
		s = js_member(s, n, key, &n);
		if (dot == NULL)
			break;
		path = dot + 1;
	}
	*vlen = n;
	return s;
}

/* Is the value at path the JSON string lit? */
static int
js_path_is(const char *s, size_t n, const char *path, const char *lit)
{
	size_t vlen, ll = strlen(lit);
	const char *v = js_path(s, n, path, &vlen);

	return v != NULL && vlen == ll + 2 && v[0] == '"' &&
	    memcmp(v + 1, lit, ll) == 0;
}

/* Is the value at path a non-empty JSON string? */
static int
js_path_str(const char *s, size_t n, const char *path)
{
	size_t vlen;
	const char *v = js_path(s, n, path, &vlen);

	return v != NULL && vlen > 2 && v[0] == '"';
}

/*
 * Check the request body r[0..n) for the schema; returns NULL when it is
 * there, or what is wrong (written to buf).
 */
static const char *
structured_check(enum fmt fmt, const char *r, size_t n, char *buf, size_t bsz)
{
	const char *obj, *sc, *where, *ty, *tyval, *name = NULL;
	size_t olen, slen;

	switch (fmt) {
	case F_CHAT:
		where = "response_format";
		ty = "type";
		tyval = "json_schema";
		name = "json_schema.name";
		sc = "json_schema.schema";
		break;
	case F_RESP:
		where = "text.format";
		ty = "type";
		tyval = "json_schema";
		name = "name";
		sc = "schema";
		break;
	case F_ANTH:
		where = "output_config.format";
		ty = "type";
		tyval = "json_schema";
		sc = "schema";
		break;
	default:
		where = "generationConfig";
		ty = "responseMimeType";
		tyval = "application/json";
		sc = "responseJsonSchema";
		break;
	}
	obj = js_path(r, n, where, &olen);
	if (obj == NULL || obj[0] != '{') {
		snprintf(buf, bsz, "mock structured: the request has no %s "
		    "object", where);
		return buf;
	}
	if (!js_path_is(obj, olen, ty, tyval)) {
		snprintf(buf, bsz, "mock structured: %s.%s is not \"%s\"",
		    where, ty, tyval);
		return buf;
	}
	if (name != NULL && !js_path_str(obj, olen, name)) {
		snprintf(buf, bsz, "mock structured: %s.%s is not a non-empty "
		    "string", where, name);
		return buf;
	}
	if (fmt == F_GEM && js_path(obj, olen, sc, &slen) == NULL &&
	    js_path(obj, olen, "responseSchema", &slen) != NULL)
		sc = "responseSchema";      /* the OpenAPI-subset form */
	obj = js_path(obj, olen, sc, &slen);
	if (obj == NULL || obj[0] != '{') {
		snprintf(buf, bsz, "mock structured: %s.%s is not a schema "
		    "object", where, sc);
		return buf;
	}
	if (js_path(obj, slen, "properties.city", &olen) == NULL ||
	    js_path(obj, slen, "properties.temperature_c", &olen) == NULL) {
		snprintf(buf, bsz, "mock structured: %s.%s.properties lacks "
		    "\"city\" or \"temperature_c\"", where, sc);
		return buf;
	}
	return NULL;
}

/* A 400 with message msg in the format's error shape. */
static void
send_bad_request(struct conn *c, const struct scen *s, const char *msg)
{
	struct sb b = { 0 };

	switch (s->fmt) {
	case F_ANTH:
		sb_puts(&b, "{\"type\":\"error\",\"error\":{\"type\":"
		    "\"invalid_request_error\",\"message\":");
		sb_json_str(&b, msg, strlen(msg));
		sb_puts(&b, "}}");
		break;
	case F_GEM:
		sb_puts(&b, "{\"error\":{\"code\":400,\"message\":");
		sb_json_str(&b, msg, strlen(msg));
		sb_puts(&b, ",\"status\":\"INVALID_ARGUMENT\"}}");
		break;
	default:
		sb_puts(&b, "{\"error\":{\"message\":");
		sb_json_str(&b, msg, strlen(msg));
		sb_puts(&b, ",\"type\":\"invalid_request_error\",\"param\":"
		    "null,\"code\":null}}");
		break;
	}
	send_json(c, NULL, 400, NULL, b.p, b.len);
	free(b.p);
}

static void
send_structured(struct conn *c, const struct scen *s, const struct req *r)
{
	char msg[256];
	struct sb b = { 0 };

	if (structured_check(s->fmt, r->body, r->blen, msg, sizeof msg)) {
		send_bad_request(c, s, msg);
		return;
	}
	if (s->stream) {
		gen_text_stream(&b, s, STRUCT_ANSWER, sizeof STRUCT_ANSWER - 1);
		send_stream(c, s, b.p, b.len);
	} else {
		gen_text(&b, s, STRUCT_ANSWER, sizeof STRUCT_ANSWER - 1, 0);
		send_json(c, s, 200, NULL, b.p, b.len);
	}
	free(b.p);
}

/* ------------------------------------------------------------ roundtrip */

/*
 * "roundtrip": a tool round trip for agents with a shell tool (Codex's
 * exec_command). While the request carries no tool result the answer is a
 * call RT_TOOL(RT_ARGS); once it carries one, the answer is the text
 * RT_SEEN when the command's output (RT_OUTPUT, which the command line
 * itself does not contain) came back, RT_MISSING otherwise.
 */
#define RT_TOOL    "exec_command"
#define RT_ARGS    "{\"cmd\":\"echo mock-$((6*7))\"}"
#define RT_OUTPUT  "mock-42"
#define RT_SEEN    "Round trip done: the tool output came back."
#define RT_MISSING "Round trip broken: no tool output in the request."
#define RT_CALL_ID "call_mock_rt1"

/* Does the request body carry a tool result, in the format's own shape? */
static int
rt_has_result(enum fmt fmt, const struct req *r)
{
	static const char *const mark[] = {
		[F_CHAT] = "\"tool_call_id\"",
		[F_RESP] = "\"function_call_output\"",
		[F_ANTH] = "\"tool_result\"",
		[F_GEM] = "\"functionResponse\"",
	};

	return find(r->body, r->blen, mark[fmt]) != NULL;
}

/* The call RT_TOOL(RT_ARGS), streamed or not, in the format. */
static void
gen_call(struct sb *b, const struct scen *s)
{
	static const char args[] = RT_ARGS;
	struct sb d = { 0 }, resp = { 0 };
	const char *m = s->model;
	int seq = 0;

	switch (s->fmt) {
	case F_CHAT:
		if (!s->stream) {
			sb_puts(b, "{\"id\":\"chatcmpl-mock\",\"object\":"
			    "\"chat.completion\",\"created\":1700000000,"
			    "\"model\":");
			sb_json_str(b, m, strlen(m));
			sb_puts(b, ",\"choices\":[{\"index\":0,\"message\":{"
			    "\"role\":\"assistant\",\"content\":null,"
			    "\"tool_calls\":[{\"id\":\"" RT_CALL_ID "\",\"type\":"
			    "\"function\",\"function\":{\"name\":\"" RT_TOOL
			    "\",\"arguments\":");
			sb_json_str(b, args, sizeof args - 1);
			sb_puts(b, "}}]},\"finish_reason\":\"tool_calls\"}],"
			    "\"usage\":{\"prompt_tokens\":10,"
			    "\"completion_tokens\":5,\"total_tokens\":15}}");
			break;
		}
#define CHUNK "{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\"," \
	    "\"created\":1700000000,\"model\":\"mock\",\"choices\":[{\"index\":0,"
		sb_puts(&d, CHUNK "\"delta\":{\"role\":\"assistant\",\"content\":"
		    "null,\"tool_calls\":[{\"index\":0,\"id\":\"" RT_CALL_ID
		    "\",\"type\":\"function\",\"function\":{\"name\":\""
		    RT_TOOL "\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}");
		sse_ev(b, NULL, &d);
		sb_puts(&d, CHUNK "\"delta\":{\"tool_calls\":[{\"index\":0,"
		    "\"function\":{\"arguments\":");
		sb_json_str(&d, args, sizeof args - 1);
		sb_puts(&d, "}}]},\"finish_reason\":null}]}");
		sse_ev(b, NULL, &d);
		sb_puts(&d, CHUNK "\"delta\":{},\"finish_reason\":\"tool_calls\"}]}");
		sse_ev(b, NULL, &d);
#undef CHUNK
		sb_puts(b, "data: [DONE]\n\n");
		break;
	case F_RESP:
		sb_puts(&resp, "{\"id\":\"resp_mock\",\"object\":\"response\","
		    "\"created_at\":1700000000,\"status\":\"completed\","
		    "\"error\":null,\"incomplete_details\":null,\"model\":");
		sb_json_str(&resp, m, strlen(m));
		sb_puts(&resp, ",\"output\":[{\"type\":\"function_call\",\"id\":"
		    "\"fc_mock\",\"call_id\":\"" RT_CALL_ID "\",\"name\":\""
		    RT_TOOL "\",\"arguments\":");
		sb_json_str(&resp, args, sizeof args - 1);
		sb_puts(&resp, ",\"status\":\"completed\"}],\"usage\":{"
		    "\"input_tokens\":10,\"output_tokens\":5,\"total_tokens\":"
		    "15}}");
		if (!s->stream) {
			sb_put(b, resp.p, resp.len);
			break;
		}
		sb_printf(&d, "{\"type\":\"response.created\",\"sequence_number\""
		    ":%d,\"response\":{\"id\":\"resp_mock\",\"object\":"
		    "\"response\",\"created_at\":1700000000,\"status\":"
		    "\"in_progress\",\"model\":\"mock\",\"output\":[]}}", seq++);
		sse_ev(b, "response.created", &d);
		sb_printf(&d, "{\"type\":\"response.output_item.added\","
		    "\"sequence_number\":%d,\"output_index\":0,\"item\":{\"type\":"
		    "\"function_call\",\"id\":\"fc_mock\",\"call_id\":\""
		    RT_CALL_ID "\",\"name\":\"" RT_TOOL "\",\"arguments\":\"\","
		    "\"status\":\"in_progress\"}}", seq++);
		sse_ev(b, "response.output_item.added", &d);
		sb_printf(&d, "{\"type\":\"response.function_call_arguments.delta\","
		    "\"sequence_number\":%d,\"item_id\":\"fc_mock\","
		    "\"output_index\":0,\"delta\":", seq++);
		sb_json_str(&d, args, sizeof args - 1);
		sb_puts(&d, "}");
		sse_ev(b, "response.function_call_arguments.delta", &d);
		sb_printf(&d, "{\"type\":\"response.function_call_arguments.done\","
		    "\"sequence_number\":%d,\"item_id\":\"fc_mock\","
		    "\"output_index\":0,\"arguments\":", seq++);
		sb_json_str(&d, args, sizeof args - 1);
		sb_puts(&d, "}");
		sse_ev(b, "response.function_call_arguments.done", &d);
		sb_printf(&d, "{\"type\":\"response.output_item.done\","
		    "\"sequence_number\":%d,\"output_index\":0,\"item\":{\"type\":"
		    "\"function_call\",\"id\":\"fc_mock\",\"call_id\":\""
		    RT_CALL_ID "\",\"name\":\"" RT_TOOL "\",\"arguments\":", seq++);
		sb_json_str(&d, args, sizeof args - 1);
		sb_puts(&d, ",\"status\":\"completed\"}}");
		sse_ev(b, "response.output_item.done", &d);
		sb_printf(&d, "{\"type\":\"response.completed\",\"sequence_number\""
		    ":%d,\"response\":%s}", seq++, resp.p);
		sse_ev(b, "response.completed", &d);
		break;
	case F_ANTH:
		if (!s->stream) {
			sb_puts(b, "{\"id\":\"msg_mock\",\"type\":\"message\","
			    "\"role\":\"assistant\",\"model\":");
			sb_json_str(b, m, strlen(m));
			sb_puts(b, ",\"content\":[{\"type\":\"tool_use\",\"id\":"
			    "\"toolu_mock_rt1\",\"name\":\"" RT_TOOL "\",\"input\":"
			    RT_ARGS "}],\"stop_reason\":\"tool_use\","
			    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,"
			    "\"output_tokens\":5}}");
			break;
		}
		sb_puts(&d, "{\"type\":\"message_start\",\"message\":{\"id\":"
		    "\"msg_mock\",\"type\":\"message\",\"role\":\"assistant\","
		    "\"model\":");
		sb_json_str(&d, m, strlen(m));
		sb_puts(&d, ",\"content\":[],\"stop_reason\":null,"
		    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,"
		    "\"output_tokens\":1}}}");
		sse_ev(b, "message_start", &d);
		sb_puts(&d, "{\"type\":\"content_block_start\",\"index\":0,"
		    "\"content_block\":{\"type\":\"tool_use\",\"id\":"
		    "\"toolu_mock_rt1\",\"name\":\"" RT_TOOL "\",\"input\":{}}}");
		sse_ev(b, "content_block_start", &d);
		sb_puts(&d, "{\"type\":\"content_block_delta\",\"index\":0,"
		    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":");
		sb_json_str(&d, args, sizeof args - 1);
		sb_puts(&d, "}}");
		sse_ev(b, "content_block_delta", &d);
		sb_puts(&d, "{\"type\":\"content_block_stop\",\"index\":0}");
		sse_ev(b, "content_block_stop", &d);
		sb_puts(&d, "{\"type\":\"message_delta\",\"delta\":{"
		    "\"stop_reason\":\"tool_use\",\"stop_sequence\":null},"
		    "\"usage\":{\"output_tokens\":5}}");
		sse_ev(b, "message_delta", &d);
		sb_puts(&d, "{\"type\":\"message_stop\"}");
		sse_ev(b, "message_stop", &d);
		break;
	case F_GEM:
		if (s->stream)
			sb_puts(b, "data: ");
		sb_puts(b, "{\"candidates\":[{\"content\":{\"parts\":[{"
		    "\"functionCall\":{\"name\":\"" RT_TOOL "\",\"args\":"
		    RT_ARGS "}}],\"role\":\"model\"},\"finishReason\":\"STOP\","
		    "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":10,"
		    "\"candidatesTokenCount\":5,\"totalTokenCount\":15},"
		    "\"modelVersion\":");
		sb_json_str(b, m, strlen(m));
		sb_puts(b, "}");
		if (s->stream)
			sb_puts(b, "\r\n\r\n");
		break;
	}
	free(d.p);
	free(resp.p);
}

static void
send_roundtrip(struct conn *c, const struct scen *s, const struct req *r)
{
	struct sb b = { 0 };
	const char *t;

	if (rt_has_result(s->fmt, r)) {
		t = find(r->body, r->blen, RT_OUTPUT) ? RT_SEEN : RT_MISSING;
		if (s->stream)
			gen_text_stream(&b, s, t, strlen(t));
		else
			gen_text(&b, s, t, strlen(t), 0);
	} else {
		gen_call(&b, s);
	}
	if (s->stream)
		send_stream(c, s, b.p, b.len);
	else
		send_json(c, s, 200, NULL, b.p, b.len);
	free(b.p);
}

/* The echo text: request line, every header (name lower-cased), body. */
static void
echo_text(struct sb *t, const struct req *r)
{
	size_t i, k;

	sb_put(t, r->method, r->mlen);
	sb_puts(t, " ");
	sb_put(t, r->target, r->tlen);
	sb_puts(t, "\n");
	for (i = 0; i < r->nh; i++) {
		for (k = 0; k < r->h[i].nlen; k++) {
			char ch = (char)tolower((unsigned char)r->h[i].name[k]);
			sb_put(t, &ch, 1);
		}
		sb_puts(t, ": ");
		sb_put(t, r->h[i].value, r->h[i].vlen);
		sb_puts(t, "\n");
	}
	sb_puts(t, "\n");
	sb_put(t, r->body, r->blen);
}

/* The API key the request carried, in any of the four places. */
static int
key_ok(const struct req *r)
{
	const struct hdr *h;
	const char *q, *e;
	size_t kl = strlen(opt_key);

	if ((h = req_hdr(r, "authorization")) != NULL && h->vlen == kl + 7 &&
	    strncasecmp(h->value, "Bearer ", 7) == 0 &&
	    memcmp(h->value + 7, opt_key, kl) == 0)
		return 1;
	if ((h = req_hdr(r, "x-api-key")) != NULL && h->vlen == kl &&
	    memcmp(h->value, opt_key, kl) == 0)
		return 1;
	if ((h = req_hdr(r, "x-goog-api-key")) != NULL && h->vlen == kl &&
	    memcmp(h->value, opt_key, kl) == 0)
		return 1;
	q = memchr(r->target, '?', r->tlen);
	while (q != NULL) {
		q++;
		e = memchr(q, '&', (size_t)(r->target + r->tlen - q));
		if (e == NULL)
			e = r->target + r->tlen;
		if ((size_t)(e - q) == kl + 4 && memcmp(q, "key=", 4) == 0 &&
		    memcmp(q + 4, opt_key, kl) == 0)
			return 1;
		q = e < r->target + r->tlen ? e : NULL;
	}
	return 0;
}

static void scripts_reset(void);

static void
send_stats(struct conn *c, const struct req *r)
{
	char buf[256];
	int n;

	n = snprintf(buf, sizeof buf, "{\"requests\":%llu,\"connections\":%llu,"
	    "\"open\":%lld,\"closed_by_peer\":%llu}", st_requests,
	    st_connections, st_open, st_closed_by_peer);
	if (find(r->target, r->tlen, "reset=1") != NULL) {
		st_requests = 0;
		st_connections = 0;
		st_closed_by_peer = 0;
		scripts_reset();
	}
	send_json(c, NULL, 200, NULL, buf, (size_t)n);
}

/* The list endpoints, each kind's real shape. Anthropic's (a request
 * with anthropic-version) needs x-api-key and Gemini's a key (header or
 * ?key=), as the real ones do. */
static void
send_models(struct conn *c, const struct req *r, enum fmt fmt)
{
	const char *b;

	if (fmt == F_GEM && req_hdr(r, "x-goog-api-key") == NULL &&
	    (memchr(r->target, '?', r->tlen) == NULL ||
	    find(r->target, r->tlen, "key=") == NULL)) {
		b = "{\"error\":{\"code\":403,\"message\":\"Method doesn't "
		    "allow unregistered callers (callers without established "
		    "identity). Please use API Key or other form of API "
		    "consumer identity to call this API.\",\"status\":"
		    "\"PERMISSION_DENIED\"}}";
		send_json(c, NULL, 403, NULL, b, strlen(b));
		return;
	}
	if (fmt != F_GEM && req_hdr(r, "anthropic-version") != NULL &&
	    req_hdr(r, "x-api-key") == NULL) {
		b = "{\"type\":\"error\",\"error\":{\"type\":"
		    "\"authentication_error\",\"message\":\"x-api-key header "
		    "is required\"}}";
		send_json(c, NULL, 401, NULL, b, strlen(b));
		return;
	}
	if (fmt == F_GEM)
		b = "{\"models\":[{\"name\":\"models/gemini-2.5-flash\","
		    "\"version\":\"001\",\"displayName\":\"Gemini 2.5 Flash\","
		    "\"inputTokenLimit\":1048576,\"outputTokenLimit\":65536,"
		    "\"supportedGenerationMethods\":[\"generateContent\","
		    "\"countTokens\"]},{\"name\":\"models/gemini-2.5-pro\","
		    "\"version\":\"001\",\"displayName\":\"Gemini 2.5 Pro\","
		    "\"supportedGenerationMethods\":[\"generateContent\","
		    "\"countTokens\"]}]}";
	else if (req_hdr(r, "anthropic-version") != NULL)
		b = "{\"data\":[{\"type\":\"model\",\"id\":"
		    "\"claude-sonnet-4-5-20250929\",\"display_name\":"
		    "\"Claude Sonnet 4.5\",\"created_at\":"
		    "\"2025-09-29T00:00:00Z\"}],\"has_more\":false,\"first_id\":"
		    "\"claude-sonnet-4-5-20250929\",\"last_id\":"
		    "\"claude-sonnet-4-5-20250929\"}";
	else
		b = "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o\","
		    "\"object\":\"model\",\"created\":1715367049,\"owned_by\":"
		    "\"system\"},{\"id\":\"gpt-4o-mini\",\"object\":\"model\","
		    "\"created\":1721172741,\"owned_by\":\"system\"}]}";
	send_json(c, NULL, 200, NULL, b, strlen(b));
}

static int
path_is(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* ------------------------------------------------ embeddings, token counts */

/* The last API request, as echo_text() writes it, for GET /_last. */
static struct sb last_req;

/* Next element of the JSON array s[0..n): start with *i = 0; 1 and the
 * element's raw text, 0 at the end. */
static int
js_elem(const char *s, size_t n, size_t *i, const char **v, size_t *vlen)
{
	size_t k = *i, e;

	if (k == 0) {
		k = js_ws(s, n, 0);
		if (k >= n || s[k] != '[')
			return 0;
		k++;
	}
	k = js_ws(s, n, k);
	if (k < n && s[k] == ',')
		k = js_ws(s, n, k + 1);
	if (k >= n || s[k] == ']')
		return 0;
	e = js_skip(s, n, k);
	*v = s + k;
	*vlen = e - k;
	*i = e;
	return 1;
}

/* The "length" of one input: bytes between the quotes of a string, else
 * the raw text's length (token arrays). */
static size_t
embed_len(const char *v, size_t vlen)
{
	if (vlen >= 2 && v[0] == '"')
		return vlen - 2;
	return vlen;
}

/*
 * Vector of input i with length L: value j is (L + i + j) / 4, negative when
 * j % 3 == 1, written as "1.250" (j % 3 == 0), "-1.250" (1) or "125e-2"
 * (2), so a converter that reformats numbers is caught.
 */
static void
embed_values(struct sb *b, size_t len, size_t i, long dims, const char *sep)
{
	long j;
	long long q;

	for (j = 0; j < dims; j++) {
		q = (long long)len + (long long)i + j;
		if (j > 0)
			sb_puts(b, ",");
		sb_puts(b, sep);
		if (j % 3 == 2)
			sb_printf(b, "%llde-2", q * 25);
		else
			sb_printf(b, "%s%lld.%02lld0", j % 3 == 1 ? "-" : "",
			    q / 4, (q % 4) * 25);
	}
}

static long
embed_dims(const char *body, size_t blen, const char *key)
{
	size_t vlen;
	const char *v = js_member(body, blen, key, &vlen);
	long d = v != NULL ? strtol(v, NULL, 10) : 0;

	return d > 0 && d <= 4000000 ? d : 4;
}

/* Gemini content {"parts":[{"text":...}]}: length of the first text. */
static size_t
embed_gem_len(const char *req, size_t rlen)
{
	const char *c, *p, *e, *t;
	size_t cl, pl, el, tl, i = 0;

	c = js_member(req, rlen, "content", &cl);
	p = c ? js_member(c, cl, "parts", &pl) : NULL;
	if (p == NULL || !js_elem(p, pl, &i, &e, &el))
		return 0;
	t = js_member(e, el, "text", &tl);
	return t ? embed_len(t, tl) : 0;
}

/* kind 1: OpenAI /v1/embeddings; 2: Gemini :embedContent; 3: Gemini
 * :batchEmbedContents. */
static void
send_embeddings(struct conn *c, const struct scen *s, const struct req *r,
    int kind)
{
	struct sb b = { 0 };
	const char *in, *e;
	size_t inlen, elen, i = 0, k, total = 0;
	long dims;
	int one;

	if (kind == 1) {
		dims = embed_dims(r->body, r->blen, "dimensions");
		in = js_member(r->body, r->blen, "input", &inlen);
		sb_puts(&b, "{\"object\":\"list\",\"data\":[");
		/* a string or one token array is a single input */
		one = in != NULL && (in[0] != '[' || (inlen > 2 &&
		    in[js_ws(in, inlen - 1, 1)] != '"' &&
		    in[js_ws(in, inlen - 1, 1)] != '['));
		for (k = 0; in != NULL; k++) {
			size_t len;
			if (one) {
				if (k > 0)
					break;
				len = embed_len(in, inlen);
			} else {
				if (!js_elem(in, inlen, &i, &e, &elen))
					break;
				len = embed_len(e, elen);
			}
			total += len;
			sb_printf(&b, "%s{\"object\":\"embedding\",\"index\":"
			    "%zu,\"embedding\":[", k ? "," : "", k);
			embed_values(&b, len, k, dims, "");
			sb_puts(&b, "]}");
		}
		sb_puts(&b, "],\"model\":");
		sb_json_str(&b, s->model, strlen(s->model));
		sb_printf(&b, ",\"usage\":{\"prompt_tokens\":%zu,"
		    "\"total_tokens\":%zu}}", total, total);
	} else if (kind == 2) {
		dims = embed_dims(r->body, r->blen, "outputDimensionality");
		total = embed_gem_len(r->body, r->blen);
		sb_puts(&b, "{\n  \"embedding\": {\n    \"values\": [");
		embed_values(&b, total, 0, dims, "\n      ");
		sb_puts(&b, "\n    ]\n  }");
	} else {
		in = js_member(r->body, r->blen, "requests", &inlen);
		/* like Gemini: each request names the URL's model */
		for (k = 0; in != NULL && js_elem(in, inlen, &i, &e, &elen);
		    k++) {
			size_t ml = strlen(s->model), mlen = 0;
			const char *m = js_member(e, elen, "model", &mlen);
			if (m == NULL || mlen != ml + 9 ||
			    memcmp(m, "\"models/", 8) != 0 ||
			    memcmp(m + 8, s->model, ml) != 0) {
				static const char msg[] = "{\n  \"error\": {\n"
				    "    \"code\": 400,\n    \"message\": \"* "
				    "BatchEmbedContentsRequest.requests: the model "
				    "of each request must match the model in the "
				    "URL\",\n    \"status\": \"INVALID_ARGUMENT\"\n"
				    "  }\n}\n";
				send_json(c, s, 400, NULL, msg, sizeof msg - 1);
				free(b.p);
				return;
			}
		}
		i = 0;
		sb_puts(&b, "{\n  \"embeddings\": [");
		for (k = 0; in != NULL && js_elem(in, inlen, &i, &e, &elen);
		    k++) {
			size_t len = embed_gem_len(e, elen);
			total += len;
			dims = embed_dims(e, elen, "outputDimensionality");
			sb_printf(&b, "%s\n    {\n      \"values\": [",
			    k ? "," : "");
			embed_values(&b, len, k, dims, "\n        ");
			sb_puts(&b, "\n      ]\n    }");
		}
		sb_puts(&b, "\n  ]");
	}
	if (kind != 1 && has(s, "usage"))
		sb_printf(&b, ",\n  \"usageMetadata\": {\"promptTokenCount\": "
		    "%zu, \"totalTokenCount\": %zu}", total, total);
	if (kind != 1)
		sb_puts(&b, "\n}\n");
	send_json(c, s, 200, NULL, b.p, b.len);
	free(b.p);
}

/*
 * "flood": a stream of FLOOD_EVENTS text deltas of 1 KiB each, sent as
 * fast as the reader takes them (about 40 MB of SSE): one upstream that
 * could keep the proxy busy on its own.
 */
#define FLOOD_EVENTS 32768
static void
gen_flood(struct sb *b, const struct scen *s)
{
	char t[1024];
	int i;

	memset(t, 'x', sizeof t);
	for (i = 0; i < (int)sizeof t; i += 64)
		t[i] = ' ';
	if (s->fmt == F_CHAT) {
		for (i = 0; i < FLOOD_EVENTS; i++) {
			sb_puts(b, "data: {\"id\":\"chatcmpl-flood\",\"object\":"
			    "\"chat.completion.chunk\",\"created\":1700000000,"
			    "\"model\":\"flood\",\"choices\":[{\"index\":0,"
			    "\"delta\":{\"content\":\"");
			sb_put(b, t, sizeof t);
			sb_puts(b, "\"},\"finish_reason\":null}]}\n\n");
		}
		sb_puts(b, "data: {\"id\":\"chatcmpl-flood\",\"object\":"
		    "\"chat.completion.chunk\",\"created\":1700000000,\"model\":"
		    "\"flood\",\"choices\":[{\"index\":0,\"delta\":{},"
		    "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
		return;
	}
	sb_puts(b, "event: message_start\ndata: {\"type\":\"message_start\","
	    "\"message\":{\"id\":\"msg_flood\",\"type\":\"message\",\"role\":"
	    "\"assistant\",\"model\":\"flood\",\"content\":[],\"stop_reason\":"
	    "null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,"
	    "\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: "
	    "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
	    "{\"type\":\"text\",\"text\":\"\"}}\n\n");
	for (i = 0; i < FLOOD_EVENTS; i++) {
		sb_puts(b, "event: content_block_delta\ndata: {\"type\":"
		    "\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
		    "\"text_delta\",\"text\":\"");
		sb_put(b, t, sizeof t);
		sb_puts(b, "\"}}\n\n");
	}
	sb_puts(b, "event: content_block_stop\ndata: {\"type\":"
	    "\"content_block_stop\",\"index\":0}\n\nevent: message_delta\n"
	    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
	    "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":"
	    "32768}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}"
	    "\n\n");
}

/* ------------------------------------------------------------ scripting
 *
 * Words with a value script the answer per credential and per request:
 *   kNNN=CRED    answer status NNN (429 with Retry-After, 401, 403, 500,
 *                503, 529, ...) when the request's credential is CRED
 *                (letters, digits, '_' and '.'); several may be given
 *   failfirst=N  the first N requests naming this exact model fail (in the
 *                way the other words say, else 503); later ones succeed,
 *                every failure word ignored
 *   ra=N         a 429 asks to wait N seconds (Retry-After, retry-after-ms,
 *                the rate-limit reset headers) instead of 7; 5xx answers
 *                carry Retry-After: N too
 * The credential is the request's Bearer token, x-api-key, x-goog-api-key,
 * api-key (Azure) or ?key=. GET /_creds lists the credential and model of
 * the last CREDS_LOG requests, oldest first.
 */
#define FF_MAX    256
#define CREDS_LOG 64

static struct {
	char model[256];
	unsigned n;
} ff[FF_MAX];
static size_t nff;

static struct {
	char cred[64];
	char model[96];
} creds[CREDS_LOG];
static size_t ncreds;                 /* total logged (ring position) */

static void
scripts_reset(void)
{
	nff = 0;
	ncreds = 0;
}

/* Where word w starts a word of the model name (start, or after a
 * character that is not a letter or digit), or NULL. */
static const char *
word_at(const char *m, const char *w)
{
	const char *p;

	for (p = m; (p = strstr(p, w)) != NULL; p++)
		if (p == m || !isalnum((unsigned char)p[-1]))
			return p;
	return NULL;
}

/* The number after word w ("failfirst=", "ra="), or -1. */
static long
word_num(const struct scen *s, const char *w)
{
	const char *p = word_at(s->model, w);

	if (p == NULL || !isdigit((unsigned char)p[strlen(w)]))
		return -1;
	return strtol(p + strlen(w), NULL, 10);
}

/* The status of the first kNNN=CRED word naming this request's
 * credential, or 0. */
static int
cred_status(const struct scen *s)
{
	const char *p, *v;
	size_t k;

	for (p = s->model; (p = strchr(p, 'k')) != NULL; p++) {
		if ((p != s->model && isalnum((unsigned char)p[-1])) ||
		    !isdigit((unsigned char)p[1]) ||
		    !isdigit((unsigned char)p[2]) ||
		    !isdigit((unsigned char)p[3]) || p[4] != '=')
			continue;
		v = p + 5;
		for (k = 0; isalnum((unsigned char)v[k]) || v[k] == '_' ||
		    v[k] == '.'; k++)
			;
		if (k > 0 && strlen(s->cred) == k && memcmp(s->cred, v, k) == 0)
			return (p[1] - '0') * 100 + (p[2] - '0') * 10 +
			    (p[3] - '0');
	}
	return 0;
}

/* Requests seen so far naming this exact model (this one counted). */
static unsigned
ff_next(const char *model)
{
	size_t i;

	for (i = 0; i < nff; i++)
		if (strcmp(ff[i].model, model) == 0)
			return ff[i].n++;
	if (nff == FF_MAX)
		return ~0u;          /* table full: the request passes */
	snprintf(ff[nff].model, sizeof ff[nff].model, "%s", model);
	ff[nff].n = 1;
	nff++;
	return 0;
}

/* The credential the request carried, in any of its places, or "". */
static void
req_cred(const struct req *r, char *out, size_t cap)
{
	const struct hdr *h;
	const char *q, *e, *v = NULL;
	size_t n = 0;

	if ((h = req_hdr(r, "authorization")) != NULL && h->vlen > 7 &&
	    strncasecmp(h->value, "Bearer ", 7) == 0) {
		v = h->value + 7;
		n = h->vlen - 7;
	} else if ((h = req_hdr(r, "x-api-key")) != NULL ||
	    (h = req_hdr(r, "x-goog-api-key")) != NULL ||
	    (h = req_hdr(r, "api-key")) != NULL) {
		v = h->value;
		n = h->vlen;
	} else if ((q = memchr(r->target, '?', r->tlen)) != NULL) {
		while (q != NULL) {
			q++;
			e = memchr(q, '&', (size_t)(r->target + r->tlen - q));
			if (e == NULL)
				e = r->target + r->tlen;
			if ((size_t)(e - q) > 4 && memcmp(q, "key=", 4) == 0) {
				v = q + 4;
				n = (size_t)(e - v);
				break;
			}
			q = e < r->target + r->tlen ? e : NULL;
		}
	}
	if (n >= cap)
		n = cap - 1;
	if (v != NULL)
		memcpy(out, v, n);
	out[n] = '\0';
}

static void
creds_log(const struct scen *s)
{
	size_t i = ncreds++ % CREDS_LOG;

	snprintf(creds[i].cred, sizeof creds[i].cred, "%.63s", s->cred);
	snprintf(creds[i].model, sizeof creds[i].model, "%.95s", s->model);
}

static void
send_creds(struct conn *c, const struct req *r)
{
	struct sb b = { 0 };
	size_t i, first = ncreds > CREDS_LOG ? ncreds - CREDS_LOG : 0;

	sb_puts(&b, "{\"requests\":[");
	for (i = first; i < ncreds; i++) {
		sb_puts(&b, i > first ? ",{\"cred\":" : "{\"cred\":");
		sb_json_str(&b, creds[i % CREDS_LOG].cred,
		    strlen(creds[i % CREDS_LOG].cred));
		sb_puts(&b, ",\"model\":");
		sb_json_str(&b, creds[i % CREDS_LOG].model,
		    strlen(creds[i % CREDS_LOG].model));
		sb_puts(&b, "}");
	}
	sb_puts(&b, "]}");
	if (find(r->target, r->tlen, "reset=1") != NULL)
		ncreds = 0;
	send_json(c, NULL, 200, NULL, b.p, b.len);
	free(b.p);
}

/* Any word that makes this request fail (for failfirst=N). */
static int
fail_word(const struct scen *s)
{
	static const char *const w[] = { "hang", "error429", "error529",
	    "overloaded", "error500", "error400", "error401", "errbefore",
	    "errafter", "truncate", "midevent", NULL };
	int i;

	if (cred_status(s))
		return 1;
	for (i = 0; w[i]; i++)
		if (has(s, w[i]))
			return 1;
	return 0;
}

/*
 * "errbefore" / "errafter": a stream that fails in-band, before any
 * content (after the opening events: message_start, the role chunk,
 * response.created) or after some text. The error is the format's own:
 * Anthropic event: error (overloaded_error; rate_limit_error with
 * "ratelimited"), Chat data: {"error":...} (server_error;
 * rate_limit_exceeded), Responses event: error then response.failed
 * (only response.failed with "rspfailed"), Gemini an error chunk (503
 * UNAVAILABLE; 429 RESOURCE_EXHAUSTED).
 */
static void
gen_err_stream(struct sb *b, const struct scen *s, int after)
{
	static const char txt[] = "Hello! This is the mock upstream.";
	struct sb d = { 0 };
	const char *m = s->model;
	int rl = s->ratelimited, seq = 0;
	const char *code = rl ? "rate_limit_exceeded" : "server_error";
	const char *msg = rl ? "Rate limit reached for requests" :
	    "The server is overloaded, please try again later.";

	switch (s->fmt) {
	case F_CHAT:
		sb_puts(&d, "{\"id\":\"chatcmpl-mock\",\"object\":"
		    "\"chat.completion.chunk\",\"created\":1700000000,"
		    "\"model\":");
		sb_json_str(&d, m, strlen(m));
		sb_puts(&d, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
		    "\"assistant\",\"content\":\"\",\"refusal\":null},"
		    "\"logprobs\":null,\"finish_reason\":null}]}");
		sse_ev(b, NULL, &d);
		if (after) {
			sb_puts(&d, "{\"id\":\"chatcmpl-mock\",\"object\":"
			    "\"chat.completion.chunk\",\"created\":1700000000,"
			    "\"model\":");
			sb_json_str(&d, m, strlen(m));
			sb_puts(&d, ",\"choices\":[{\"index\":0,\"delta\":{"
			    "\"content\":");
			sb_json_str(&d, txt, sizeof txt - 1);
			sb_puts(&d, "},\"logprobs\":null,\"finish_reason\":"
			    "null}]}");
			sse_ev(b, NULL, &d);
		}
		sb_printf(&d, "{\"error\":{\"message\":\"%s\",\"type\":\"%s\","
		    "\"param\":null,\"code\":%s}}", msg, rl ? "requests" :
		    "server_error", rl ? "\"rate_limit_exceeded\"" : "null");
		sse_ev(b, NULL, &d);
		break;
	case F_RESP:
		sb_printf(&d, "{\"type\":\"response.created\",\"sequence_number\""
		    ":%d,\"response\":{\"id\":\"resp_mock\",\"object\":"
		    "\"response\",\"created_at\":1700000000,\"status\":"
		    "\"in_progress\",\"error\":null,\"model\":", seq++);
		sb_json_str(&d, m, strlen(m));
		sb_puts(&d, ",\"output\":[],\"usage\":null}}");
		sse_ev(b, "response.created", &d);
		if (after) {
			sb_printf(&d, "{\"type\":\"response.output_item.added\","
			    "\"sequence_number\":%d,\"output_index\":0,\"item\":"
			    "{\"id\":\"msg_mock\",\"type\":\"message\",\"status\":"
			    "\"in_progress\",\"content\":[],\"role\":"
			    "\"assistant\"}}", seq++);
			sse_ev(b, "response.output_item.added", &d);
			sb_printf(&d, "{\"type\":\"response.content_part.added\","
			    "\"sequence_number\":%d,\"item_id\":\"msg_mock\","
			    "\"output_index\":0,\"content_index\":0,\"part\":"
			    "{\"type\":\"output_text\",\"annotations\":[],"
			    "\"text\":\"\"}}", seq++);
			sse_ev(b, "response.content_part.added", &d);
			sb_printf(&d, "{\"type\":\"response.output_text.delta\","
			    "\"sequence_number\":%d,\"item_id\":\"msg_mock\","
			    "\"output_index\":0,\"content_index\":0,\"delta\":",
			    seq++);
			sb_json_str(&d, txt, sizeof txt - 1);
			sb_puts(&d, "}");
			sse_ev(b, "response.output_text.delta", &d);
		}
		if (!s->rspfailed) {
			sb_printf(&d, "{\"type\":\"error\",\"code\":\"%s\","
			    "\"message\":\"%s\",\"param\":null,"
			    "\"sequence_number\":%d}", code, msg, seq++);
			sse_ev(b, "error", &d);
		}
		sb_printf(&d, "{\"type\":\"response.failed\",\"sequence_number\":"
		    "%d,\"response\":{\"id\":\"resp_mock\",\"object\":"
		    "\"response\",\"created_at\":1700000000,\"status\":"
		    "\"failed\",\"error\":{\"code\":\"%s\",\"message\":\"%s\"},"
		    "\"incomplete_details\":null,\"model\":", seq++, code, msg);
		sb_json_str(&d, m, strlen(m));
		sb_puts(&d, ",\"output\":[],\"usage\":null}}");
		sse_ev(b, "response.failed", &d);
		break;
	case F_ANTH:
		sb_puts(&d, "{\"type\":\"message_start\",\"message\":{\"id\":"
		    "\"msg_mock\",\"type\":\"message\",\"role\":\"assistant\","
		    "\"model\":");
		sb_json_str(&d, m, strlen(m));
		sb_puts(&d, ",\"content\":[],\"stop_reason\":null,"
		    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,"
		    "\"output_tokens\":1}}}");
		sse_ev(b, "message_start", &d);
		sb_puts(&d, "{\"type\": \"ping\"}");
		sse_ev(b, "ping", &d);
		if (after) {
			sb_puts(&d, "{\"type\":\"content_block_start\",\"index\":0,"
			    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
			sse_ev(b, "content_block_start", &d);
			sb_puts(&d, "{\"type\":\"content_block_delta\",\"index\":0,"
			    "\"delta\":{\"type\":\"text_delta\",\"text\":");
			sb_json_str(&d, txt, sizeof txt - 1);
			sb_puts(&d, "}}");
			sse_ev(b, "content_block_delta", &d);
		}
		sb_printf(&d, "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
		    "\"message\":\"%s\"}}", rl ? "rate_limit_error" :
		    "overloaded_error", rl ? "Rate limited" : "Overloaded");
		sse_ev(b, "error", &d);
		break;
	case F_GEM:
		if (after) {
			sb_puts(b, "data: {\"candidates\":[{\"content\":{\"parts\":"
			    "[{\"text\":");
			sb_json_str(b, txt, sizeof txt - 1);
			sb_puts(b, "}],\"role\":\"model\"},\"index\":0}],"
			    "\"modelVersion\":");
			sb_json_str(b, m, strlen(m));
			sb_puts(b, "}\r\n\r\n");
		}
		sb_printf(b, "data: {\"error\":{\"code\":%d,\"message\":\"%s\","
		    "\"status\":\"%s\"}}\r\n\r\n", rl ? 429 : 503, rl ?
		    "Resource has been exhausted (e.g. check quota)." :
		    "The model is overloaded. Please try again later.",
		    rl ? "RESOURCE_EXHAUSTED" : "UNAVAILABLE");
		break;
	}
	free(d.p);
}

/* Decode %XX in place (a Gemini model taken from the path). */
static void
pct_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '%' && isxdigit((unsigned char)s[1]) &&
		    isxdigit((unsigned char)s[2])) {
			char h[3] = { s[1], s[2], 0 };
			*o++ = (char)strtol(h, NULL, 16);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/*
 * "deltasN": a text stream of N short deltas ("@0@ ", "@1@ ", ...; N is
 * 64 when no number follows) in the request's format, the benchmark's
 * stream: head, events and end in one write, as a server sends a canned
 * file ("slow": one event every SLOW_MS instead). "hold": the same
 * stream's opening and first delta, then the connection stays open
 * without another byte (the benchmark's open streams). gen_deltas()
 * writes the opening and n deltas, and the end when `end` is set.
 */
#define DELTAS_DEFAULT 64
#define DELTAS_MAX     100000
static void
gen_deltas(struct sb *b, const struct scen *s, int n, int end)
{
	struct sb d = { 0 }, all = { 0 }, r = { 0 };
	const char *m = s->model;
	char t[32];
	int i, k, seq = 0;

	switch (s->fmt) {
	case F_CHAT:
		sb_puts(&d, "{\"id\":\"chatcmpl-mock\",\"object\":"
		    "\"chat.completion.chunk\",\"created\":1700000000,"
		    "\"model\":");
		sb_json_str(&d, m, strlen(m));
		sb_puts(&d, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
		    "\"assistant\",\"content\":\"\",\"refusal\":null},"
		    "\"logprobs\":null,\"finish_reason\":null}]}");
		sse_ev(b, NULL, &d);
		break;
	case F_RESP:
		sb_puts(&r, "{\"id\":\"resp_mock\",\"object\":\"response\","
		    "\"created_at\":1700000000,\"status\":\"in_progress\","
		    "\"error\":null,\"incomplete_details\":null,\"model\":");
		sb_json_str(&r, m, strlen(m));
		sb_puts(&r, ",\"output\":[],\"usage\":null}");
		sb_printf(&d, "{\"type\":\"response.created\","
		    "\"sequence_number\":%d,\"response\":%s}", seq++, r.p);
		sse_ev(b, "response.created", &d);
		sb_printf(&d, "{\"type\":\"response.in_progress\","
		    "\"sequence_number\":%d,\"response\":%s}", seq++, r.p);
		sse_ev(b, "response.in_progress", &d);
		sb_printf(&d, "{\"type\":\"response.output_item.added\","
		    "\"sequence_number\":%d,\"output_index\":0,\"item\":"
		    "{\"id\":\"msg_mock\",\"type\":\"message\",\"status\":"
		    "\"in_progress\",\"content\":[],\"role\":\"assistant\"}}",
		    seq++);
		sse_ev(b, "response.output_item.added", &d);
		sb_printf(&d, "{\"type\":\"response.content_part.added\","
		    "\"sequence_number\":%d,\"item_id\":\"msg_mock\","
		    "\"output_index\":0,\"content_index\":0,\"part\":"
		    "{\"type\":\"output_text\",\"annotations\":[],"
		    "\"text\":\"\"}}", seq++);
		sse_ev(b, "response.content_part.added", &d);
		break;
	case F_ANTH:
		sb_puts(&d, "{\"type\":\"message_start\",\"message\":{\"id\":"
		    "\"msg_mock\",\"type\":\"message\",\"role\":\"assistant\","
		    "\"model\":");
		sb_json_str(&d, m, strlen(m));
		sb_puts(&d, ",\"content\":[],\"stop_reason\":null,"
		    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,"
		    "\"output_tokens\":1}}}");
		sse_ev(b, "message_start", &d);
		sb_puts(&d, "{\"type\":\"content_block_start\",\"index\":0,"
		    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
		sse_ev(b, "content_block_start", &d);
		break;
	case F_GEM:
		break;
	}
	for (i = 0; i < n; i++) {
		k = snprintf(t, sizeof t, "@%d@ ", i);
		sb_put(&all, t, (size_t)k);
		switch (s->fmt) {
		case F_CHAT:
			sb_puts(&d, "{\"id\":\"chatcmpl-mock\",\"object\":"
			    "\"chat.completion.chunk\",\"created\":1700000000,"
			    "\"model\":");
			sb_json_str(&d, m, strlen(m));
			sb_printf(&d, ",\"choices\":[{\"index\":0,\"delta\":"
			    "{\"content\":\"%s\"},\"logprobs\":null,"
			    "\"finish_reason\":null}]}", t);
			sse_ev(b, NULL, &d);
			break;
		case F_RESP:
			sb_printf(&d, "{\"type\":\"response.output_text.delta\","
			    "\"sequence_number\":%d,\"item_id\":\"msg_mock\","
			    "\"output_index\":0,\"content_index\":0,\"delta\":"
			    "\"%s\"}", seq++, t);
			sse_ev(b, "response.output_text.delta", &d);
			break;
		case F_ANTH:
			sb_printf(&d, "{\"type\":\"content_block_delta\","
			    "\"index\":0,\"delta\":{\"type\":\"text_delta\","
			    "\"text\":\"%s\"}}", t);
			sse_ev(b, "content_block_delta", &d);
			break;
		case F_GEM:
			/* Gemini frames events with CRLF CRLF */
			sb_printf(b, "data: {\"candidates\":[{\"content\":"
			    "{\"parts\":[{\"text\":\"%s\"}],\"role\":\"model\"},"
			    "\"index\":0}],\"usageMetadata\":{"
			    "\"promptTokenCount\":10,\"totalTokenCount\":10},"
			    "\"modelVersion\":", t);
			sb_json_str(b, m, strlen(m));
			sb_puts(b, ",\"responseId\":\"mock\"}\r\n\r\n");
			break;
		}
	}
	if (!end)
		goto done;
	switch (s->fmt) {
	case F_CHAT:
		sb_puts(&d, "{\"id\":\"chatcmpl-mock\",\"object\":"
		    "\"chat.completion.chunk\",\"created\":1700000000,"
		    "\"model\":");
		sb_json_str(&d, m, strlen(m));
		sb_puts(&d, ",\"choices\":[{\"index\":0,\"delta\":{},"
		    "\"logprobs\":null,\"finish_reason\":\"stop\"}]}");
		sse_ev(b, NULL, &d);
		sb_puts(b, "data: [DONE]\n\n");
		break;
	case F_RESP:
		sb_printf(&d, "{\"type\":\"response.output_text.done\","
		    "\"sequence_number\":%d,\"item_id\":\"msg_mock\","
		    "\"output_index\":0,\"content_index\":0,\"text\":", seq++);
		sb_json_str(&d, all.p ? all.p : "", all.len);
		sb_puts(&d, "}");
		sse_ev(b, "response.output_text.done", &d);
		sb_printf(&d, "{\"type\":\"response.content_part.done\","
		    "\"sequence_number\":%d,\"item_id\":\"msg_mock\","
		    "\"output_index\":0,\"content_index\":0,\"part\":"
		    "{\"type\":\"output_text\",\"annotations\":[],\"text\":",
		    seq++);
		sb_json_str(&d, all.p ? all.p : "", all.len);
		sb_puts(&d, "}}");
		sse_ev(b, "response.content_part.done", &d);
		sb_printf(&d, "{\"type\":\"response.output_item.done\","
		    "\"sequence_number\":%d,\"output_index\":0,\"item\":"
		    "{\"id\":\"msg_mock\",\"type\":\"message\",\"status\":"
		    "\"completed\",\"content\":[{\"type\":\"output_text\","
		    "\"annotations\":[],\"text\":", seq++);
		sb_json_str(&d, all.p ? all.p : "", all.len);
		sb_puts(&d, "}],\"role\":\"assistant\"}}");
		sse_ev(b, "response.output_item.done", &d);
		r.len = 0;
		gen_text(&r, s, all.p ? all.p : "", all.len, 0);
		sb_printf(&d, "{\"type\":\"response.completed\","
		    "\"sequence_number\":%d,\"response\":%s}", seq++, r.p);
		sse_ev(b, "response.completed", &d);
		break;
	case F_ANTH:
		sb_puts(&d, "{\"type\":\"content_block_stop\",\"index\":0}");
		sse_ev(b, "content_block_stop", &d);
		sb_printf(&d, "{\"type\":\"message_delta\",\"delta\":{"
		    "\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
		    "\"usage\":{\"output_tokens\":%d}}", n);
		sse_ev(b, "message_delta", &d);
		sb_puts(&d, "{\"type\":\"message_stop\"}");
		sse_ev(b, "message_stop", &d);
		break;
	case F_GEM:
		sb_printf(b, "data: {\"candidates\":[{\"content\":{\"parts\":"
		    "[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":"
		    "\"STOP\",\"index\":0}],\"usageMetadata\":{"
		    "\"promptTokenCount\":10,\"candidatesTokenCount\":%d,"
		    "\"totalTokenCount\":%d},\"modelVersion\":", n, n + 10);
		sb_json_str(b, m, strlen(m));
		sb_puts(b, ",\"responseId\":\"mock\"}\r\n\r\n");
		break;
	}
done:
	free(d.p);
	free(all.p);
	free(r.p);
}

/* Build the response to one complete request into c->out. */
/* ------------------------------------------------ subscription accounts */

/*
 * The upstreams of subscription accounts, as strict as the real ones about
 * what makes a request theirs. A request is an account request when its
 * bearer token is one the mock authorization server (mock_oauth.c) issued:
 * "mockat.<kind>.<serial>.<expiry, unix s>". Each kind's upstream refuses
 * the request when the token is expired or of another kind (401), or when
 * it lacks what its client always sends (400 naming what is missing):
 *   claude   POST /v1/messages?beta=true: anthropic-beta with
 *            oauth-2025-04-20, anthropic-version, x-app: cli, a claude-cli
 *            user agent, no x-api-key, the Claude Code identity as the
 *            first system block
 *   codex    POST .../codex/responses: chatgpt-account-id "mock-account",
 *            originator, a codex_cli_rs user agent; stream true, store
 *            false, instructions present, no max_output_tokens/temperature
 *   gemini   POST /v1internal:generateContent|streamGenerateContent|
 *            countTokens: a GeminiCLI user agent, x-goog-api-client, the
 *            {model, project "mock-project", request{contents}} envelope;
 *            answers wrapped as {"response": ..., "traceId"}
 *   copilot  POST /chat/completions: Editor-Version, Editor-Plugin-Version,
 *            Copilot-Integration-Id, a Copilot token (not the GitHub one)
 * then answers like the plain API (the model name picks the scenario).
 * Extra model words: usagelimit (codex: 429 usage_limit_reached with
 * resets_in_seconds 3600), quota (gemini: 429 RESOURCE_EXHAUSTED with a
 * RetryInfo of 3600 s), 401once (the first token seen is refused for good,
 * any later one works: a refresh on 401 must follow).
 */
/* wrap_ca (declared above send_body): this answer is Code Assist's */
static char refused_tok[256];           /* 401once */

enum { AK_NONE = 0, AK_CLAUDE, AK_CODEX, AK_GEMINI, AK_COPILOT };

/* The kind of a mock account token, and whether it is still valid. */
static int
acct_token(const struct req *r, int *expired, char *tok, size_t cap)
{
	const struct hdr *h = req_hdr(r, "authorization");
	static const char *const kinds[] = { "", "claude", "codex", "gemini",
	    "copilot" };
	const char *v, *dot;
	size_t n, k;
	int i;

	*expired = 0;
	if (h == NULL || h->vlen < 7 + 7 || strncasecmp(h->value, "Bearer ", 7))
		return AK_NONE;
	v = h->value + 7;
	n = h->vlen - 7;
	snprintf(tok, cap, "%.*s", (int)n, v);
	if (n < 7 || memcmp(v, "mockat.", 7) != 0)
		return AK_NONE;
	for (i = 1; i <= 4; i++) {
		k = strlen(kinds[i]);
		if (n > 7 + k && memcmp(v + 7, kinds[i], k) == 0 &&
		    v[7 + k] == '.')
			break;
	}
	if (i > 4)
		return AK_NONE;
	dot = memchr(v + 8 + k, '.', n - 8 - k);
	if (dot == NULL || atoll(dot + 1) <= (long long)time(NULL))
		*expired = 1;
	return i;
}

static int
hdr_is(const struct req *r, const char *name, const char *prefix)
{
	const struct hdr *h = req_hdr(r, name);

	return h != NULL && h->vlen >= strlen(prefix) &&
	    strncasecmp(h->value, prefix, strlen(prefix)) == 0;
}

static int
hdr_has(const struct req *r, const char *name, const char *item)
{
	const struct hdr *h = req_hdr(r, name);

	return h != NULL && find(h->value, h->vlen, item) != NULL;
}

static void
acct_refuse(struct conn *c, enum fmt fmt, int status, const char *msg)
{
	struct sb b = { 0 };

	if (fmt == F_ANTH)
		sb_printf(&b, "{\"type\":\"error\",\"error\":{\"type\":"
		    "\"%s\",\"message\":\"%s\"}}", status == 401 ?
		    "authentication_error" : "invalid_request_error", msg);
	else if (fmt == F_GEM)
		sb_printf(&b, "{\"error\":{\"code\":%d,\"message\":\"%s\","
		    "\"status\":\"%s\"}}", status, msg, status == 401 ?
		    "UNAUTHENTICATED" : "INVALID_ARGUMENT");
	else if (fmt == F_RESP)
		sb_printf(&b, "{\"detail\":\"%s\"}", msg);
	else
		sb_printf(&b, "{\"error\":{\"message\":\"%s\",\"type\":"
		    "\"invalid_request_error\"}}", msg);
	send_json(c, NULL, status, NULL, b.p, b.len);
	free(b.p);
}

/* The first text of a Claude body's "system" (string or blocks). */
static int
claude_identity(const struct req *r)
{
	static const char id[] = "\"You are Claude Code, Anthropic's official "
	    "CLI for Claude.\"";
	const char *v;
	size_t n, i;

	v = js_member(r->body, r->blen, "system", &n);
	if (v == NULL)
		return 0;
	i = js_ws(v, n, 0);
	if (i < n && v[i] == '"')
		return n - i >= sizeof id - 2 && memcmp(v + i, id,
		    sizeof id - 2) == 0;
	if (i >= n || v[i] != '[')
		return 0;
	i = js_ws(v, n, i + 1);
	v = js_member(v + i, n - i, "text", &n);
	return v != NULL && n == sizeof id - 1 && memcmp(v, id, n) == 0;
}

/*
 * An account request? 0: no; 1: refused (answered); 2: checked, to be
 * served as *fmt with *rr (Code Assist: the inner request) and, for Code
 * Assist, the model in *gm.
 */
static int
acct_route(struct conn *c, const struct req *r, struct req *rr,
    const char *path, size_t plen, enum fmt *fmt, const char **gm,
    size_t *gmlen, int *gem_stream, int *count)
{
	char tok[256];
	int expired, kind = acct_token(r, &expired, tok, sizeof tok);
	const char *v, *q = memchr(r->target, '?', r->tlen);
	size_t n;

	wrap_ca = 0;
	if (kind == AK_NONE)
		return 0;
	*rr = *r;
	if (kind == AK_CLAUDE) {
		*fmt = F_ANTH;
		if (!path_is(path, plen, "/v1/messages") &&
		    !path_is(path, plen, "/v1/messages/count_tokens"))
			return 0;
		*count = path_is(path, plen, "/v1/messages/count_tokens");
		if (expired)
			acct_refuse(c, *fmt, 401, "OAuth token has expired.");
		else if (q == NULL || find(q, (size_t)(r->target + r->tlen - q),
		    "beta=true") == NULL)
			acct_refuse(c, *fmt, 400, "missing ?beta=true");
		else if (!hdr_has(r, "anthropic-beta", "oauth-2025-04-20"))
			acct_refuse(c, *fmt, 401, "OAuth authentication is "
			    "currently not supported.");
		else if (req_hdr(r, "anthropic-version") == NULL)
			acct_refuse(c, *fmt, 400, "missing anthropic-version");
		else if (!hdr_is(r, "x-app", "cli") ||
		    !hdr_is(r, "user-agent", "claude-cli/"))
			acct_refuse(c, *fmt, 400, "missing the Claude Code "
			    "headers (x-app, user-agent)");
		else if (req_hdr(r, "x-api-key") != NULL)
			acct_refuse(c, *fmt, 400, "x-api-key and OAuth together");
		else if (!*count && !claude_identity(r))
			acct_refuse(c, *fmt, 400, "This credential is only "
			    "authorized for use with Claude Code and cannot be "
			    "used for other API requests.");
		else
			return 2;
		return 1;
	}
	if (kind == AK_CODEX) {
		*fmt = F_RESP;
		if (plen < 16 || memcmp(path + plen - 16, "/codex/responses",
		    16) != 0)
			return 0;
		v = js_member(r->body, r->blen, "stream", &n);
		if (expired)
			acct_refuse(c, *fmt, 401, "token expired");
		else if (!hdr_is(r, "chatgpt-account-id", "mock-account"))
			acct_refuse(c, *fmt, 400, "missing chatgpt-account-id");
		else if (req_hdr(r, "originator") == NULL ||
		    !hdr_is(r, "user-agent", "codex_cli_rs/"))
			acct_refuse(c, *fmt, 400, "missing originator/user-agent");
		else if (v == NULL || n != 4 || memcmp(v, "true", 4) != 0)
			acct_refuse(c, *fmt, 400, "Stream must be set to true");
		else if ((v = js_member(r->body, r->blen, "store", &n)) ==
		    NULL || n != 5 || memcmp(v, "false", 5) != 0)
			acct_refuse(c, *fmt, 400, "Store must be set to false");
		else if (js_member(r->body, r->blen, "instructions", &n) == NULL)
			acct_refuse(c, *fmt, 400, "Instructions are required");
		else if (js_member(r->body, r->blen, "max_output_tokens", &n) ||
		    js_member(r->body, r->blen, "temperature", &n))
			acct_refuse(c, *fmt, 400, "Unsupported parameter");
		else
			return 2;
		return 1;
	}
	if (kind == AK_GEMINI) {
		*fmt = F_GEM;
		if (plen < 12 || memcmp(path, "/v1internal:", 12) != 0)
			return 0;
		*gem_stream = path_is(path, plen,
		    "/v1internal:streamGenerateContent");
		*count = path_is(path, plen, "/v1internal:countTokens");
		if (!*gem_stream && !*count &&
		    !path_is(path, plen, "/v1internal:generateContent"))
			return 0;
		if (expired) {
			acct_refuse(c, *fmt, 401, "Request had invalid "
			    "authentication credentials.");
			return 1;
		}
		if (!hdr_is(r, "user-agent", "GeminiCLI/") ||
		    req_hdr(r, "x-goog-api-client") == NULL) {
			acct_refuse(c, *fmt, 400, "missing the Gemini CLI headers");
			return 1;
		}
		v = js_member(r->body, r->blen, "request", &n);
		if (v == NULL || n < 2 || v[0] != '{' ||
		    js_member(v, n, "contents", &n) == NULL) {
			acct_refuse(c, *fmt, 400, "missing request.contents");
			return 1;
		}
		v = js_member(r->body, r->blen, "request", &n);
		rr->body = v;
		rr->blen = n;
		if (*count) {
			/* the model is inside the request: models/NAME */
			*gm = js_member(v, n, "model", gmlen);
			if (*gm == NULL || *gmlen < 10 ||
			    memcmp(*gm, "\"models/", 8) != 0) {
				acct_refuse(c, *fmt, 400, "missing request.model");
				return 1;
			}
			*gm += 8;
			*gmlen -= 9;
			return 2;
		}
		if ((v = js_member(r->body, r->blen, "project", &n)) == NULL ||
		    n != 14 || memcmp(v, "\"mock-project\"", 14) != 0) {
			acct_refuse(c, *fmt, 400, "missing or wrong project");
			return 1;
		}
		*gm = js_member(r->body, r->blen, "model", gmlen);
		if (*gm == NULL || *gmlen < 3 || **gm != '"') {
			acct_refuse(c, *fmt, 400, "missing model");
			return 1;
		}
		(*gm)++;
		*gmlen -= 2;
		wrap_ca = 1;
		return 2;
	}
	*fmt = F_CHAT;
	if (!path_is(path, plen, "/chat/completions"))
		return 0;
	if (expired)
		acct_refuse(c, *fmt, 401, "token expired");
	else if (req_hdr(r, "editor-version") == NULL ||
	    req_hdr(r, "editor-plugin-version") == NULL ||
	    !hdr_is(r, "copilot-integration-id", "vscode-chat"))
		acct_refuse(c, *fmt, 400, "missing the editor headers");
	else
		return 2;
	return 1;
}

/* The account scenarios (see above); 1 when answered. */
static int
acct_scenario(struct conn *c, const struct req *r, const struct scen *s)
{
	char tok[256];
	int expired;

	acct_token(r, &expired, tok, sizeof tok);
	if (has(s, "401once")) {
		if (refused_tok[0] == 0)
			snprintf(refused_tok, sizeof refused_tok, "%s", tok);
		if (strcmp(refused_tok, tok) == 0) {
			wrap_ca = 0;
			acct_refuse(c, s->fmt, 401, "token revoked");
			return 1;
		}
	}
	if (has(s, "usagelimit") && s->fmt == F_RESP) {
		static const char b[] = "{\"error\":{\"type\":"
		    "\"usage_limit_reached\",\"message\":\"The usage limit "
		    "has been reached\",\"plan_type\":\"plus\","
		    "\"resets_in_seconds\":3600}}";
		send_json(c, NULL, 429, NULL, b, sizeof b - 1);
		return 1;
	}
	if (has(s, "quota") && s->fmt == F_GEM) {
		static const char b[] = "{\"error\":{\"code\":429,\"message\":"
		    "\"You have exhausted your capacity on this model.\","
		    "\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":"
		    "\"type.googleapis.com/google.rpc.RetryInfo\","
		    "\"retryDelay\":\"3600s\"}]}}";
		wrap_ca = 0;
		send_json(c, NULL, 429, NULL, b, sizeof b - 1);
		return 1;
	}
	return 0;
}

/* Code Assist's envelope around an answer, and around each stream event. */
static void
ca_wrap_json(struct sb *o, const char *body, size_t n)
{
	sb_puts(o, "{\"response\":");
	sb_put(o, body, n);
	sb_puts(o, ",\"traceId\":\"mock-trace\"}");
}

static void
ca_wrap_sse(struct sb *o, const char *sse, size_t n)
{
	size_t i = 0, e;

	while (i < n) {
		for (e = i; e < n && sse[e] != '\n'; e++)
			;
		if (e - i > 6 && memcmp(sse + i, "data: ", 6) == 0) {
			size_t vn = e - i - 6;
			if (vn > 0 && sse[i + 6 + vn - 1] == '\r')
				vn--;
			sb_puts(o, "data: ");
			ca_wrap_json(o, sse + i + 6, vn);
			sb_puts(o, "\r");
		} else {
			sb_put(o, sse + i, e - i);
		}
		if (e < n)
			sb_puts(o, "\n");
		i = e + 1;
	}
}

static void
handle(struct conn *c, const struct req *r)
{
	struct scen s;
	struct sb t = { 0 }, b = { 0 };
	const char *path = r->target, *q, *v, *fx;
	size_t plen, vlen;
	const struct fixture *f;
	const struct hdr *h;
	int post = r->mlen == 4 && memcmp(r->method, "POST", 4) == 0;
	int gem_stream = 0, count_tokens = 0, embed = 0, i, kst, acct;
	const char *gm = NULL, *dep = NULL;
	size_t gmlen = 0, deplen = 0;
	long ffn;
	struct req acct_rr;

	memset(&s, 0, sizeof s);
	s.ra = RETRY_AFTER;
	wrap_ca = 0;
	q = memchr(path, '?', r->tlen);
	plen = q ? (size_t)(q - path) : r->tlen;
	h = req_hdr(r, "connection");
	if (r->http10 ? (h == NULL || !ci_eq(h->value, h->vlen, "keep-alive")) :
	    (h != NULL && ci_eq(h->value, h->vlen, "close")))
		c->close_after = 1;

	if (path_is(path, plen, "/_stats")) {
		send_stats(c, r);
		return;
	}
	if (path_is(path, plen, "/_creds")) {
		send_creds(c, r);
		return;
	}
	if (path_is(path, plen, "/_last")) {
		send_body(c, NULL, 200, "text/plain", NULL,
		    last_req.p ? last_req.p : "", last_req.len);
		return;
	}
	/* The model lists: not API requests (the proxy fetches them in the
	 * background), so neither /_last nor /_stats sees them. */
	if (!post && (path_is(path, plen, "/v1/models") ||
	    path_is(path, plen, "/models"))) {
		send_models(c, r, F_CHAT);
		return;
	}
	if (!post && (path_is(path, plen, "/v1beta/models") ||
	    path_is(path, plen, "/v1/models/") ||
	    path_is(path, plen, "/v1beta/models/"))) {
		send_models(c, r, F_GEM);
		return;
	}
	last_req.len = 0;
	echo_text(&last_req, r);
	st_requests++;
	if (!c->counted) {
		c->counted = 1;
		st_connections++;
		st_open++;
	}

	/* A subscription account's upstream? */
	acct = acct_route(c, r, &acct_rr, path, plen, &s.fmt, &gm, &gmlen,
	    &gem_stream, &count_tokens);
	if (acct == 1)
		return;
	if (acct == 2) {
		r = &acct_rr;
		goto model;
	}

	/* Route: which API shape is this? */
	if (post && (path_is(path, plen, "/v1/chat/completions") ||
	    path_is(path, plen, "/chat/completions")))
		s.fmt = F_CHAT;
	else if (post && (path_is(path, plen, "/v1/responses") ||
	    path_is(path, plen, "/responses")))
		s.fmt = F_RESP;
	else if (post && (path_is(path, plen, "/openai/v1/chat/completions") ||
	    path_is(path, plen, "/openai/v1/responses")))
		/* Azure OpenAI, the v1 form (no api-version) */
		s.fmt = path[plen - 1] == 's' && path[plen - 2] == 'e' ?
		    F_RESP : F_CHAT;
	else if (post && plen > 20 &&
	    memcmp(path, "/openai/deployments/", 20) == 0) {
		/* Azure OpenAI: /openai/deployments/{d}/chat/completions
		 * ?api-version=...; the deployment names the model when the
		 * body does not */
		const char *slash;
		dep = path + 20;
		slash = memchr(dep, '/', (size_t)(path + plen - dep));
		if (slash == NULL || !path_is(slash, (size_t)(path + plen -
		    slash), "/chat/completions") || q == NULL ||
		    find(q, (size_t)(r->target + r->tlen - q),
		    "api-version=") == NULL)
			goto notfound;
		deplen = (size_t)(slash - dep);
		s.fmt = F_CHAT;
	} else if (post && path_is(path, plen, "/openai/responses")) {
		if (q == NULL || find(q, (size_t)(r->target + r->tlen - q),
		    "api-version=") == NULL)
			goto notfound;
		s.fmt = F_RESP;
	}
	else if (post && path_is(path, plen, "/v1/messages"))
		s.fmt = F_ANTH;
	else if (post && (path_is(path, plen, "/v1/embeddings") ||
	    path_is(path, plen, "/embeddings"))) {
		s.fmt = F_CHAT;
		embed = 1;
	}
	else if (post && path_is(path, plen, "/v1/messages/count_tokens")) {
		s.fmt = F_ANTH;
		count_tokens = 1;
	} else if (post && plen > 15 &&
	    (memcmp(path, "/v1beta/models/", 15) == 0 ||
	    memcmp(path, "/v1/models/", 11) == 0)) {
		const char *colon;
		s.fmt = F_GEM;
		gm = path + (path[3] == 'b' ? 15 : 11);
		colon = memchr(gm, ':', (size_t)(path + plen - gm));
		if (colon == NULL)
			goto notfound;
		gmlen = (size_t)(colon - gm);
		if (path_is(colon, (size_t)(path + plen - colon),
		    ":streamGenerateContent"))
			gem_stream = 1;
		else if (path_is(colon, (size_t)(path + plen - colon),
		    ":countTokens"))
			count_tokens = 1;
		else if (path_is(colon, (size_t)(path + plen - colon),
		    ":embedContent"))
			embed = 2;
		else if (path_is(colon, (size_t)(path + plen - colon),
		    ":batchEmbedContents"))
			embed = 3;
		else if (!path_is(colon, (size_t)(path + plen - colon),
		    ":generateContent"))
			goto notfound;
	} else {
		goto notfound;
	}

model:
	/* Model and stream flag. */
	if (s.fmt == F_GEM) {
		snprintf(s.model, sizeof s.model, "%.*s", (int)gmlen, gm);
		pct_decode(s.model);
		s.stream = gem_stream;
	} else {
		v = js_member(r->body, r->blen, "model", &vlen);
		if (v != NULL && vlen >= 2 && v[0] == '"')
			snprintf(s.model, sizeof s.model, "%.*s",
			    (int)(vlen - 2), v + 1);
		else if (dep != NULL)
			snprintf(s.model, sizeof s.model, "%.*s", (int)deplen,
			    dep);
		v = js_member(r->body, r->blen, "stream", &vlen);
		s.stream = v != NULL && vlen == 4 && memcmp(v, "true", 4) == 0;
	}
	for (i = 0; s.model[i] != '\0'; i++)
		s.lc[i] = (char)tolower((unsigned char)s.model[i]);
	s.lc[i] = '\0';
	s.slow = has(&s, "slow");
	s.split = has(&s, "split");
	s.splitfast = has(&s, "splitfast");
	s.truncate = has(&s, "truncate");
	s.midevent = has(&s, "midevent");
	s.truncate |= s.midevent;
	s.earlyhints = has(&s, "earlyhints");
	s.errbefore = has(&s, "errbefore");
	s.errafter = has(&s, "errafter");
	s.ratelimited = has(&s, "ratelimited");
	s.rspfailed = has(&s, "rspfailed");
	if (word_num(&s, "ra=") > 0 && word_num(&s, "ra=") < 100000) {
		s.ra = (int)word_num(&s, "ra=");
		s.ra_set = 1;
	}
	req_cred(r, s.cred, sizeof s.cred);
	creds_log(&s);
	ffn = word_num(&s, "failfirst=");
	if (ffn >= 0 && ff_next(s.model) >= (unsigned long)ffn) {
		s.pass = 1;
		s.truncate = s.midevent = 0;
	}

	if (acct && acct_scenario(c, r, &s))
		return;
	if (opt_key != NULL && !acct && !key_ok(r)) {
		send_error(c, &s, 401);
		return;
	}
	if (s.pass)
		goto answer;
	if ((kst = cred_status(&s)) != 0) {
		send_error(c, &s, kst);
		return;
	}
	if (ffn >= 0 && !fail_word(&s)) {
		send_error(c, &s, 503);
		return;
	}
	if (has(&s, "hang")) {
		c->hang = 1;
		return;
	}
	if (has(&s, "error429")) {
		send_error(c, &s, 429);
		return;
	}
	if (has(&s, "error529") || has(&s, "overloaded")) {
		send_error(c, &s, 529);
		return;
	}
	if (has(&s, "error500")) {
		send_error(c, &s, 500);
		return;
	}
	if (has(&s, "error400")) {
		send_error(c, &s, 400);
		return;
	}
	if (has(&s, "error401")) {
		send_error(c, &s, 401);
		return;
	}
	if ((s.errbefore || s.errafter) && !count_tokens && !embed) {
		if (s.stream) {
			gen_err_stream(&b, &s, s.errafter);
			send_stream(c, &s, b.p, b.len);
			goto end;
		}
		if (s.errbefore) {
			/* not streamed: the failure is a status */
			send_error(c, &s, s.ratelimited ? 429 : 529);
			return;
		}
	}
answer:
	if (count_tokens) {
		/* the count is the request body's length in bytes */
		char ct[96];
		int k = snprintf(ct, sizeof ct, s.fmt == F_GEM ?
		    "{\"totalTokens\": %zu,\"promptTokensDetails\": []}" :
		    "{\"input_tokens\":%zu}", r->blen);
		send_json(c, &s, 200, NULL, ct, (size_t)k);
		return;
	}
	if (embed) {
		send_embeddings(c, &s, r, embed);
		return;
	}

	/* fixture=NAME replays any fixture file verbatim. */
	fx = strstr(s.model, "fixture=");
	if (fx != NULL) {
		char name[96];
		size_t k = 0;
		/* The name runs to the first character not in a file name,
		 * so modifiers may follow: "fixture=x.sse-split". */
		for (fx += 8; k + 1 < sizeof name && (isalnum((unsigned char)
		    fx[k]) || fx[k] == '_' || fx[k] == '.'); k++)
			name[k] = fx[k];
		name[k] = '\0';
		f = fixture(name);
		if (f == NULL)
			goto notfound;
		if (strstr(f->name, ".sse") != NULL)
			send_stream(c, &s, f->data, f->len);
		else
			send_json(c, &s, 200, NULL, f->data, f->len);
		return;
	}
	if ((has(&s, "deltas") || has(&s, "hold")) && s.stream) {
		int n = DELTAS_DEFAULT;
		const char *dn = strstr(s.lc, "deltas");
		s.hold = !has(&s, "deltas");
		s.burst = !s.hold && !s.slow;
		if (s.hold)
			n = 1;
		else if (isdigit((unsigned char)dn[6]))
			n = atoi(dn + 6);
		if (n < 1 || n > DELTAS_MAX)
			n = DELTAS_DEFAULT;
		gen_deltas(&b, &s, n, !s.hold);
		send_stream(c, &s, b.p, b.len);
		goto end;
	}
	if (has(&s, "flood") && s.stream &&
	    (s.fmt == F_CHAT || s.fmt == F_ANTH)) {
		gen_flood(&b, &s);
		send_stream(c, &s, b.p, b.len);
		goto end;
	}
	if (has(&s, "roundtrip")) {
		send_roundtrip(c, &s, r);
		goto end;
	}
	if (has(&s, "structured")) {
		send_structured(c, &s, r);
		goto end;
	}
	if (has(&s, "echo")) {
		echo_text(&t, r);
		if (s.stream) {
			gen_text_stream(&b, &s, t.p, t.len);
			send_stream(c, &s, b.p, b.len);
		} else {
			gen_text(&b, &s, t.p, t.len, 0);
			send_json(c, &s, 200, NULL, b.p, b.len);
		}
		goto end;
	}
	fx = pick_fixture(&s);
	f = fx ? fixture(fx) : NULL;
	if (f != NULL) {
		if (s.stream)
			send_stream(c, &s, f->data, f->len);
		else
			send_json(c, &s, 200, NULL, f->data, f->len);
		goto end;
	}
	{
		static const char txt[] = "Hello! This is the mock upstream.";
		if (s.stream) {
			gen_text_stream(&b, &s, txt, sizeof txt - 1);
			send_stream(c, &s, b.p, b.len);
		} else {
			gen_text(&b, &s, txt, sizeof txt - 1,
			    has(&s, "thinking"));
			send_json(c, &s, 200, NULL, b.p, b.len);
		}
	}
	goto end;
notfound:
	{
		static const char nf[] = "{\"error\":{\"message\":\"mock: no "
		    "such endpoint\",\"type\":\"invalid_request_error\"}}";
		send_json(c, NULL, 404, NULL, nf, sizeof nf - 1);
	}
end:
	free(t.p);
	free(b.p);
}

/* ------------------------------------------------------------ I/O */

static void
conn_free(struct conn *c)
{
	if (c->counted) {
		st_open--;
		if (c->by_peer)
			st_closed_by_peer++;
	}
	close(c->fd);
	free(c->tls);
	free(c->in.p);
	free(c->out.p);
	free(c->pc);
	free(c);
}

static void
in_append(struct conn *c, const void *p, size_t n)
{
	if (c->in.len + n > REQ_MAX + HEAD_MAX) {
		c->dead = 1;
		return;
	}
	sb_put(&c->in, p, n);
}

/* Plain socket: read what is there, write what is due. Returns progress. */
static int
plain_io(struct conn *c, long long now)
{
	char buf[16384];
	const char *p;
	size_t avail;
	ssize_t n;
	int progress = 0;

	while (!c->peer_eof && !c->dead) {
		n = recv(c->fd, buf, sizeof buf, 0);
		if (n > 0) {
			in_append(c, buf, (size_t)n);
			progress = 1;
			if ((size_t)n < sizeof buf)
				break;
			continue;
		}
		if (n == 0) {
			c->peer_eof = 1;
			progress = 1;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			c->dead = 1;
			c->by_peer = 1;
		}
		break;
	}
	while (!c->dead && (avail = out_avail(c, now, &p)) > 0) {
		n = send(c->fd, p, avail, MSG_NOSIGNAL);
		if (n > 0) {
			out_advance(c, (size_t)n, now);
			progress = 1;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			c->dead = 1;
			c->by_peer = 1;
		}
		break;
	}
	return progress;
}

/* TLS: the engine pump (plaintext in, plaintext out, records). */
static int
tls_io(struct conn *c, long long now)
{
	br_ssl_engine_context *eng = &c->tls->sc.eng;
	unsigned char *buf;
	const char *p;
	size_t len, avail;
	ssize_t n;
	unsigned st;
	int progress, any = 0;

	do {
		progress = 0;
		st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED) {
			c->dead = 1;
			if (!c->shutting)
				c->by_peer = 1;
			return 1;
		}
		if (st & BR_SSL_RECVAPP) {
			buf = br_ssl_engine_recvapp_buf(eng, &len);
			in_append(c, buf, len);
			br_ssl_engine_recvapp_ack(eng, len);
			progress = 1;
		}
		if ((st & BR_SSL_SENDAPP) && !c->shutting &&
		    (avail = out_avail(c, now, &p)) > 0) {
			buf = br_ssl_engine_sendapp_buf(eng, &len);
			if (len > avail)
				len = avail;
			memcpy(buf, p, len);
			br_ssl_engine_sendapp_ack(eng, len);
			/* One record per piece keeps the splits. */
			if (out_advance(c, len, now))
				br_ssl_engine_flush(eng, 0);
			progress = 1;
		}
		if (st & BR_SSL_SENDREC) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			n = send(c->fd, buf, len, MSG_NOSIGNAL);
			if (n > 0) {
				br_ssl_engine_sendrec_ack(eng, (size_t)n);
				progress = 1;
			} else if (n < 0 && errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR) {
				c->dead = 1;
				c->by_peer = 1;
				return 1;
			}
		}
		if ((st & BR_SSL_RECVREC) && !c->peer_eof) {
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			n = recv(c->fd, buf, len, 0);
			if (n > 0) {
				br_ssl_engine_recvrec_ack(eng, (size_t)n);
				progress = 1;
			} else if (n == 0) {
				c->peer_eof = 1;
				progress = 1;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				c->dead = 1;
				c->by_peer = 1;
				return 1;
			}
		}
		any |= progress;
	} while (progress && !c->dead);
	return any;
}

/* Parse and answer complete requests while no response is in flight. */
static int
process(struct conn *c)
{
	struct req r;
	int rc, progress = 0;

	while (!c->hang && !c->dead && c->pc_cur == c->npc &&
	    !c->close_after && !c->abort_after) {
		conn_reset_out(c);
		rc = parse_request(c, &r);
		if (rc == 0)
			break;
		if (rc < 0) {
			static const char bad[] = "HTTP/1.1 400 Bad Request\r\n"
			    "Content-Length: 0\r\nConnection: close\r\n\r\n";
			sb_puts(&c->out, bad);
			piece_add(c, 0);
			c->close_after = 1;
			c->in.len = 0;
			return 1;
		}
		c->sent_continue = 0;
		handle(c, &r);
		free(r.body_owned);
		memmove(c->in.p, c->in.p + r.consumed, c->in.len - r.consumed);
		c->in.len -= r.consumed;
		progress = 1;
	}
	return progress;
}

/* Run one connection until it blocks. */
static void
conn_run(struct conn *c)
{
	long long now;
	int progress, rounds = 0;

	do {
		now = now_ms();
		progress = c->tls ? tls_io(c, now) : plain_io(c, now);
		progress |= process(c);
		if (c->dead)
			return;
		/* Output done: honour the close mode. */
		if (c->pc_cur == c->npc && (c->close_after || c->abort_after)) {
			if (c->abort_after || !c->tls) {
				c->dead = 1;
				return;
			}
			if (!c->shutting) {
				c->shutting = 1;
				br_ssl_engine_close(&c->tls->sc.eng);
				progress = 1;
			} else if (!(br_ssl_engine_current_state(
			    &c->tls->sc.eng) & BR_SSL_SENDREC)) {
				c->dead = 1;
				return;
			}
		}
		if (c->peer_eof) {
			/*
			 * The client went away. HTTP clients do not half-close,
			 * and the tests count exactly this ("open" drops at
			 * once when the proxy drops its upstream connection).
			 */
			c->dead = 1;
			c->by_peer = 1;
			return;
		}
	} while (progress && ++rounds < 64);
}

static short
conn_events(const struct conn *c, long long now, int *timeout)
{
	short ev = 0;
	long long wait;

	if (c->pc_cur < c->npc) {
		wait = c->ready_at - now;
		if (wait > 0) {
			if (*timeout < 0 || wait < *timeout)
				*timeout = (int)wait;
		} else if (!c->tls) {
			ev |= POLLOUT;
		}
	}
	if (c->tls) {
		unsigned st = br_ssl_engine_current_state(&c->tls->sc.eng);
		if (st & BR_SSL_SENDREC)
			ev |= POLLOUT;
		if ((st & BR_SSL_RECVREC) && !c->peer_eof)
			ev |= POLLIN;
		if ((st & BR_SSL_SENDAPP) && c->pc_cur < c->npc &&
		    c->ready_at <= now)
			*timeout = 0;
	} else if (!c->peer_eof) {
		ev |= POLLIN;
	}
	return ev;
}

static struct conn *
conn_new(int fd)
{
	struct conn *c;
	int one = 1;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c = xrealloc(NULL, sizeof *c);
	memset(c, 0, sizeof *c);
	c->fd = fd;
	if (srv_key_type != 0) {
		c->tls = xrealloc(NULL, sizeof *c->tls);
		if (srv_key_type == BR_KEYTYPE_EC)
			br_ssl_server_init_full_ec(&c->tls->sc, srv_chain,
			    srv_chain_len, BR_KEYTYPE_EC, &srv_ec);
		else
			br_ssl_server_init_full_rsa(&c->tls->sc, srv_chain,
			    srv_chain_len, &srv_rsa);
		br_ssl_engine_set_buffer(&c->tls->sc.eng, c->tls->iobuf,
		    sizeof c->tls->iobuf, 1);
		br_ssl_engine_set_protocol_names(&c->tls->sc.eng, srv_alpn, 1);
		if (!br_ssl_server_reset(&c->tls->sc)) {
			fprintf(stderr, "mock_upstream: TLS reset failed\n");
			close(fd);
			free(c->tls);
			free(c);
			return NULL;
		}
	}
	if (nconns == conns_cap) {
		conns_cap = conns_cap ? conns_cap * 2 : 64;
		conns = xrealloc(conns, conns_cap * sizeof *conns);
	}
	conns[nconns++] = c;
	return c;
}

/* ------------------------------------------------------------ main */

static void
usage(void)
{
	fprintf(stderr,
"usage: mock_upstream [-l 127.0.0.1:PORT] [--tls CERT KEY] [--fixtures DIR]\n"
"                     [--require-key K] [--close-delimited] [--split-delay MS]\n"
"Prints \"listening PORT\" first (PORT 0 picks a free port).\n"
"Endpoints: POST /v1/chat/completions /v1/responses /v1/messages\n"
"  /v1/messages/count_tokens /v1beta/models/M:generateContent\n"
"  /v1beta/models/M:streamGenerateContent :countTokens :embedContent\n"
"  :batchEmbedContents /v1/embeddings; GET /v1/models /v1beta/models;\n"
"  GET /_stats[?reset=1] (the reset also clears the failfirst counts and\n"
"  /_creds); GET /_last (the last API request, echoed); GET /_creds\n"
"  (credential and model of the last 64 requests).\n"
"  Azure OpenAI: /openai/deployments/D/chat/completions?api-version=V,\n"
"  /openai/responses?api-version=V, /openai/v1/chat/completions,\n"
"  /openai/v1/responses.\n"
"Token counts answer the request body's length in bytes; embeddings are\n"
"  (L + i + j) / 4 for input i of length L, value j (word usage: Gemini\n"
"  embeddings report usageMetadata).\n"
"Model name words: text (default) tools parallel thinking echo hang\n"
"  error429 error529|overloaded error500 error400 error401\n"
"  slow split splitfast truncate midevent (truncate inside an event)\n"
"  fixture=FILE earlyhints (a 103 before the answer)\n"
"  flood (a chat or anthropic stream of 32768 1 KiB deltas, no pauses)\n"
"  deltasN (a stream of N short deltas \"@0@ \"... in one write; N=64 by\n"
"  default) hold (that stream's opening and first delta, then held open)\n"
"  structured (needs a JSON schema with city, temperature_c in the request)\n"
"  roundtrip (calls exec_command until the request has a tool result)\n"
"  errbefore errafter (a stream's error event before / after content;\n"
"  not streamed, errbefore is a 529/503) ratelimited (... a rate-limit\n"
"  error instead of overloaded) rspfailed (Responses: response.failed\n"
"  without the error event before it)\n"
"Scripted words: kNNN=CRED (status NNN when the request's credential is\n"
"  CRED) failfirst=N (the first N requests for this model fail, then\n"
"  every failure word is ignored) ra=N (a 429's Retry-After, default 7;\n"
"  5xx answers get it too)\n"
"Subscription account upstreams (a bearer token from mock_oauth): see the\n"
"  comment above acct_route(); words usagelimit, quota, 401once.\n");
}

int
main(int argc, char **argv)
{
	const char *listen_at = "127.0.0.1:0";
	char host[64];
	const char *colon;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct pollfd *pfd = NULL;
	size_t pfd_cap = 0, i, j;
	struct rlimit rl;
	int lfd, one = 1, port, timeout;
	long long now;

	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "-l") == 0 && i + 1 < (size_t)argc) {
			listen_at = argv[++i];
		} else if (strcmp(argv[i], "--tls") == 0 && i + 2 < (size_t)argc) {
			if (tls_setup(argv[i + 1], argv[i + 2]) < 0)
				return 1;
			i += 2;
		} else if (strcmp(argv[i], "--fixtures") == 0 &&
		    i + 1 < (size_t)argc) {
			opt_fixtures = argv[++i];
		} else if (strcmp(argv[i], "--require-key") == 0 &&
		    i + 1 < (size_t)argc) {
			opt_key = argv[++i];
		} else if (strcmp(argv[i], "--close-delimited") == 0) {
			opt_close_delimited = 1;
		} else if (strcmp(argv[i], "--split-delay") == 0 &&
		    i + 1 < (size_t)argc) {
			opt_split_delay = atoi(argv[++i]);
		} else if (strcmp(argv[i], "-q") == 0) {
			opt_quiet = 1;
		} else {
			usage();
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	/* -l HOST:PORT, HOST may be [v6] */
	colon = strrchr(listen_at, ':');
	if (colon == NULL || (size_t)(colon - listen_at) >= sizeof host) {
		usage();
		return 2;
	}
	if (listen_at[0] == '[')
		snprintf(host, sizeof host, "%.*s",
		    (int)(colon - listen_at - 2), listen_at + 1);
	else
		snprintf(host, sizeof host, "%.*s", (int)(colon - listen_at),
		    listen_at);
	port = atoi(colon + 1);
	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr)
	    == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		fprintf(stderr, "mock_upstream: bad address %s\n", host);
		return 2;
	}
	lfd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (lfd < 0) {
		perror("socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(lfd, (struct sockaddr *)&ss, sl) < 0 ||
	    listen(lfd, 4096) < 0) {
		perror("mock_upstream: bind/listen");
		return 1;
	}
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	sl = sizeof ss;
	getsockname(lfd, (struct sockaddr *)&ss, &sl);
	port = ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	printf("listening %d\n", port);
	fflush(stdout);

	for (;;) {
		if (pfd_cap < nconns + 1) {
			pfd_cap = (nconns + 1) * 2;
			pfd = xrealloc(pfd, pfd_cap * sizeof *pfd);
		}
		now = now_ms();
		timeout = -1;
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		for (i = 0; i < nconns; i++) {
			pfd[i + 1].fd = conns[i]->fd;
			pfd[i + 1].events = conn_events(conns[i], now, &timeout);
			pfd[i + 1].revents = 0;
		}
		if (poll(pfd, nconns + 1, timeout) < 0 && errno != EINTR) {
			perror("poll");
			return 1;
		}
		now = now_ms();
		for (i = 0; i < nconns; i++) {
			struct conn *c = conns[i];
			if (pfd[i + 1].revents != 0 ||
			    (c->pc_cur < c->npc && c->ready_at <= now) ||
			    (c->tls && (br_ssl_engine_current_state(
			    &c->tls->sc.eng) & BR_SSL_RECVAPP)))
				conn_run(c);
		}
		if (pfd[0].revents & POLLIN) {
			for (i = 0; i < 256; i++) {
				struct conn *c;
				int fd = accept(lfd, NULL, NULL);
				if (fd < 0)
					break;
				if ((c = conn_new(fd)) != NULL)
					conn_run(c);
			}
		}
		/* Free in one place, after the callbacks. */
		for (i = j = 0; i < nconns; i++) {
			if (conns[i]->dead)
				conn_free(conns[i]);
			else
				conns[j++] = conns[i];
		}
		nconns = j;
	}
}
