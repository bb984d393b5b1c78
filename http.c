/*
 * http.c - HTTP/1.1 framing: request heads from clients, response heads
 * and chunked bodies from upstreams. I/O-free and allocation-free; every
 * string handed back is a view into the caller's buffer.
 *
 * The parsers re-scan the head from byte 0 on each call and return
 * HTTP_PARTIAL whenever they run out of input, so a valid message cut at
 * any offset is always "need more", never an error. Errors are reported as
 * soon as a byte proves the message malformed, so garbage is rejected
 * before the caller's head-size limit is reached.
 *
 * The rules are stricter than RFC 9112 allows because this is the first
 * hop in front of upstream APIs: wherever two parsers could disagree about
 * where a message ends (request smuggling), we reject instead of guessing.
 * Hence: CRLF only in heads (no bare LF, no bare CR), no obs-fold, no
 * whitespace before the colon, one Content-Length of plain digits, a
 * Transfer-Encoding of exactly "chunked" and never beside Content-Length.
 * The chunked decoder is a byte-driven state machine in a zeroable struct
 * so that TLS records may split the body anywhere, even inside a CRLF.
 */
#include "http.h"

#include <limits.h>
#include <string.h>

/* ---------------------------------------------------------------- chars */

static int
is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

static int
hex_val(unsigned char ch)
{
	if (is_digit(ch))
		return ch - '0';
	ch |= 0x20;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* RFC 9110 §5.6.2 tchar: the only bytes allowed in methods and field names. */
static int
is_tchar(unsigned char ch)
{
	if (is_digit(ch) || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))
		return 1;
	return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* RFC 9110 §5.5 field-vchar / SP / HTAB, obs-text included: what may
 * appear inside a field value or reason phrase. Everything else (CTLs,
 * DEL, and in particular NUL, CR, LF) ends or breaks the line. */
static int
is_text(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static int
is_ows(unsigned char ch)
{
	return ch == ' ' || ch == '\t';
}

static char
lower(char ch)
{
	return (ch >= 'A' && ch <= 'Z') ? (char)(ch + ('a' - 'A')) : ch;
}

/* ---------------------------------------------------------------- views */

/* see http.h */
int
http_str_ieq(struct http_str s, const char *lit)
{
	size_t i;

	for (i = 0; i < s.n; i++)
		if (lit[i] == 0 || lower(s.p[i]) != lower(lit[i]))
			return 0;
	return lit[i] == 0;
}

/* see http.h */
int
http_str_eq(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

/* see http.h */
const struct http_hdr *
http_find(const struct http_hdr *h, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_str_ieq(h[i].name, name))
			return &h[i];
	return NULL;
}

/* Does the comma-separated list `v` (RFC 9110 §5.6.1, "#token") contain
 * `tok`? Empty elements and OWS around commas are allowed. */
static int
list_has(struct http_str v, const char *tok)
{
	size_t i = 0, b, e;
	struct http_str el;

	while (i < v.n) {
		while (i < v.n && (is_ows((unsigned char)v.p[i]) || v.p[i] == ','))
			i++;
		b = i;
		while (i < v.n && v.p[i] != ',')
			i++;
		e = i;
		while (e > b && is_ows((unsigned char)v.p[e - 1]))
			e--;
		el.p = v.p + b;
		el.n = e - b;
		if (el.n && http_str_ieq(el, tok))
			return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- heads */

/* Cursor over the head plus the error to report; status 0 means "none". */
struct cur {
	const char *p, *end;
	const char *err;
	int status;
};

static int
fail(struct cur *c, int status, const char *why)
{
	c->status = status;
	c->err = why;
	return HTTP_ERROR;
}

/*
 * Expect CRLF at the cursor and step over it. RFC 9112 §2.2 lets a
 * recipient accept a bare LF and says a bare CR MUST be rejected or
 * replaced; we reject both, since an upstream or a logging hop that
 * splits lines differently would see different headers.
 */
static int
eat_crlf(struct cur *c)
{
	if (c->p == c->end)
		return HTTP_PARTIAL;
	if (*c->p == '\n')
		return fail(c, 400, "bare LF");
	if (*c->p != '\r')
		return fail(c, 400, "expected CRLF");
	if (c->p + 1 == c->end)
		return HTTP_PARTIAL;
	if (c->p[1] != '\n')
		return fail(c, 400, "bare CR");
	c->p += 2;
	return 0;
}

/* "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3: exactly one digit each). */
static int
parse_version(struct cur *c, int *major, int *minor)
{
	static const char pat[] = "HTTP/#.#";
	size_t i;
	unsigned char ch;

	for (i = 0; i < sizeof(pat) - 1; i++) {
		if (c->p + i == c->end)
			return HTTP_PARTIAL;
		ch = (unsigned char)c->p[i];
		if (pat[i] == '#' ? !is_digit(ch) : ch != (unsigned char)pat[i])
			return fail(c, 400, "malformed HTTP version");
	}
	*major = c->p[5] - '0';
	*minor = c->p[7] - '0';
	c->p += sizeof(pat) - 1;
	return 0;
}

/*
 * Header lines up to and including the empty line. Values are trimmed of
 * OWS on both sides (RFC 9112 §5.1). Storing more than `max` fields is a
 * 431, never a reallocation.
 */
static int
parse_headers(struct cur *c, struct http_hdr *hdrs, size_t max, size_t *nh)
{
	const char *name, *name_end, *val, *val_end;
	unsigned char ch;
	int rc;

	*nh = 0;
	for (;;) {
		if (c->p == c->end)
			return HTTP_PARTIAL;
		ch = (unsigned char)*c->p;
		if (ch == '\r' || ch == '\n')
			return eat_crlf(c);
		/* RFC 9112 §5.2: obs-fold MUST be rejected (or unfolded) by a
		 * server; §2.2: whitespace before the first field line MUST
		 * be rejected too. Both are leading SP/HTAB on a line. */
		if (is_ows(ch))
			return fail(c, 400, "obs-fold or leading whitespace");

		name = c->p;
		while (c->p < c->end && is_tchar((unsigned char)*c->p))
			c->p++;
		if (c->p == c->end)
			return HTTP_PARTIAL;
		ch = (unsigned char)*c->p;
		if (ch != ':') {
			/* RFC 9112 §5.1: whitespace between name and colon
			 * MUST be rejected with 400 ("Host : x" smuggling). */
			if (is_ows(ch))
				return fail(c, 400, "whitespace before colon");
			if (ch == 0)
				return fail(c, 400, "NUL in header");
			return fail(c, 400, "bad header name");
		}
		if (c->p == name)
			return fail(c, 400, "empty header name");
		name_end = c->p++;

		while (c->p < c->end && is_ows((unsigned char)*c->p))
			c->p++;
		val = c->p;
		while (c->p < c->end && is_text((unsigned char)*c->p))
			c->p++;
		if (c->p == c->end)
			return HTTP_PARTIAL;
		/* RFC 9110 §5.5: CR, LF and NUL inside a value MUST be
		 * rejected; other CTLs are invalid field-vchars as well. */
		ch = (unsigned char)*c->p;
		if (ch == 0)
			return fail(c, 400, "NUL in header");
		if (ch != '\r' && ch != '\n')
			return fail(c, 400, "control character in header");
		val_end = c->p;
		while (val_end > val && is_ows((unsigned char)val_end[-1]))
			val_end--;
		if ((rc = eat_crlf(c)) != 0)
			return rc;

		if (*nh >= max)
			return fail(c, 431, "too many headers");
		hdrs[*nh].name.p = name;
		hdrs[*nh].name.n = (size_t)(name_end - name);
		hdrs[*nh].value.p = val;
		hdrs[*nh].value.n = (size_t)(val_end - val);
		(*nh)++;
	}
}

/* Content-Length = 1*DIGIT (RFC 9110 §8.6), overflow-checked into int64.
 * Signs, spaces, and the "1,1" list form some servers fold are refused. */
static int
parse_length(struct http_str s, int64_t *out)
{
	int64_t v = 0;
	size_t i;
	int d;

	if (s.n == 0)
		return -1;
	for (i = 0; i < s.n; i++) {
		if (!is_digit((unsigned char)s.p[i]))
			return -1;
		d = s.p[i] - '0';
		if (v > (INT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* What the headers say about framing and the connection. */
struct framing {
	int64_t cl;
	struct http_str te;
	unsigned has_te:1, conn_close:1, conn_keep:1, expect:1, hosts:2;
};

static int
scan_framing(struct cur *c, const struct http_hdr *h, size_t n,
             struct framing *f)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	f->cl = -1;
	for (i = 0; i < n; i++) {
		if (http_str_ieq(h[i].name, "content-length")) {
			/* RFC 9110 §8.6 would let us fold identical
			 * duplicates; a peer that keeps the last one instead
			 * of the first is exactly the smuggling gap. */
			if (f->cl >= 0)
				return fail(c, 400, "duplicate Content-Length");
			if (parse_length(h[i].value, &f->cl) != 0)
				return fail(c, 400, "bad Content-Length");
		} else if (http_str_ieq(h[i].name, "transfer-encoding")) {
			/* Two TE lines mean a coding list (RFC 9110 §5.3);
			 * we only ever accept a lone "chunked". */
			if (f->has_te)
				return fail(c, 400, "duplicate Transfer-Encoding");
			f->has_te = 1;
			f->te = h[i].value;
		} else if (http_str_ieq(h[i].name, "connection")) {
			if (list_has(h[i].value, "close"))
				f->conn_close = 1;
			if (list_has(h[i].value, "keep-alive"))
				f->conn_keep = 1;
		} else if (http_str_ieq(h[i].name, "expect")) {
			if (http_str_ieq(h[i].value, "100-continue"))
				f->expect = 1;
		} else if (http_str_ieq(h[i].name, "host")) {
			if (f->hosts < 2)
				f->hosts++;
		}
	}
	return 0;
}

/*
 * Framing rules shared by requests and responses, applied only once the
 * head is complete so that truncation never turns into an error.
 */
static int
check_te(struct cur *c, const struct framing *f, int minor)
{
	if (!f->has_te)
		return 0;
	/* RFC 9112 §6.3 (3): TE with CL "ought to be handled as an error";
	 * it is the classic CL.TE / TE.CL smuggling pair. */
	if (f->cl >= 0)
		return fail(c, 400, "Content-Length with Transfer-Encoding");
	/* RFC 9112 §6.1: TE in an HTTP/1.0 message means the framing is
	 * faulty, since 1.0 peers don't know chunked. */
	if (minor == 0)
		return fail(c, 400, "Transfer-Encoding in HTTP/1.0");
	if (f->te.n == 0)
		return fail(c, 400, "empty Transfer-Encoding");
	/* RFC 9112 §6.1: an unknown coding gets 501. "chunked, identity"
	 * and "xchunked" land here: no guessing at what a list means. */
	if (!http_str_ieq(f->te, "chunked"))
		return fail(c, 501, "unsupported Transfer-Encoding");
	return 0;
}

/*
 * Split an absolute-form target (RFC 9112 §3.2.2) into its path and
 * query. Only http and https make sense in front of an HTTP upstream.
 */
static int
split_absolute(struct cur *c, struct http_str t, struct http_str *rest)
{
	static const char *const schemes[] = { "http://", "https://" };
	size_t i, k, sn;
	struct http_str s;

	for (i = 0; i < 2; i++) {
		sn = strlen(schemes[i]);
		if (t.n < sn)
			continue;
		s.p = t.p;
		s.n = sn;
		if (!http_str_ieq(s, schemes[i]))
			continue;
		for (k = sn; k < t.n && t.p[k] != '/' && t.p[k] != '?'; k++)
			;
		if (k == sn)
			return fail(c, 400, "empty authority");
		rest->p = t.p + k;
		rest->n = t.n - k;
		return 0;
	}
	return fail(c, 400, "bad request-target");
}


/* see http.h */
int
http_parse_request(const char *buf, size_t len, struct http_req *req,
                   struct http_hdr *hdrs, size_t maxhdrs)
{
	static const char root[] = "/";
	struct cur c;
	struct framing f;
	struct http_str t, rest;
	const char *q;
	int major = 0, minor = 0, rc;

	memset(req, 0, sizeof(*req));
	req->hdrs = hdrs;
	req->content_length = -1;
	c.p = buf;
	c.end = buf + len;
	c.err = NULL;
	c.status = 0;

	/* RFC 9112 §2.2: a server SHOULD ignore at least one empty line
	 * before the request-line (clients that append CRLF after a body). */
	for (;;) {
		if (c.p == c.end)
			return HTTP_PARTIAL;
		if (*c.p != '\r' && *c.p != '\n')
			break;
		if ((rc = eat_crlf(&c)) != 0)
			goto out;
	}

	/* RFC 9112 §3: method SP request-target SP HTTP-version CRLF, one SP
	 * each; splitting on runs of whitespace is where parsers differ. */
	req->method.p = c.p;
	while (c.p < c.end && is_tchar((unsigned char)*c.p))
		c.p++;
	if (c.p == c.end)
		return HTTP_PARTIAL;
	if (*c.p != ' ' || c.p == req->method.p) {
		rc = fail(&c, 400, "bad method");
		goto out;
	}
	req->method.n = (size_t)(c.p - req->method.p);
	c.p++;

	/* Any visible ASCII; RFC 3986 wants the rest percent-encoded. */
	req->target.p = c.p;
	while (c.p < c.end && (unsigned char)*c.p > 0x20 &&
	    (unsigned char)*c.p < 0x7f)
		c.p++;
	if (c.p == c.end)
		return HTTP_PARTIAL;
	if (*c.p != ' ' || c.p == req->target.p) {
		rc = fail(&c, 400, "bad request-target");
		goto out;
	}
	req->target.n = (size_t)(c.p - req->target.p);
	c.p++;

	if ((rc = parse_version(&c, &major, &minor)) != 0 ||
	    (rc = eat_crlf(&c)) != 0)
		goto out;
	/* RFC 9110 §15.6.6: 505 for a major version we don't speak; the
	 * proxy only frames 1.0 and 1.1, so 1.2+ is refused as well. */
	if (major != 1 || minor > 1) {
		rc = fail(&c, 505, "HTTP version not supported");
		goto out;
	}
	req->minor = minor;

	/* Request-target forms, RFC 9112 §3.2. A fragment is never sent
	 * (§3.2.1 excludes it); authority-form is for CONNECT, which a
	 * proxy in front of a fixed upstream does not tunnel. */
	t = req->target;
	if (memchr(t.p, '#', t.n) != NULL) {
		rc = fail(&c, 400, "fragment in request-target");
		goto out;
	}
	if (t.p[0] == '/') {
		rest = t;
	} else if (t.n == 1 && t.p[0] == '*') {
		/* §3.2.4: asterisk-form is only for server-wide OPTIONS. */
		if (!http_str_eq(req->method, "OPTIONS")) {
			rc = fail(&c, 400, "'*' target without OPTIONS");
			goto out;
		}
		rest.p = t.p + 1;
		rest.n = 0;
		req->path = t;
	} else if ((rc = split_absolute(&c, t, &rest)) != 0) {
		goto out;
	}
	q = memchr(rest.p, '?', rest.n);
	req->query.p = q ? q + 1 : rest.p + rest.n;
	req->query.n = q ? (size_t)(rest.p + rest.n - (q + 1)) : 0;
	if (req->path.p == NULL) {
		req->path.p = rest.p;
		req->path.n = q ? (size_t)(q - rest.p) : rest.n;
		/* §3.2.2: "http://h" and "http://h?x" mean path "/". */
		if (req->path.n == 0) {
			req->path.p = root;
			req->path.n = 1;
		}
	}

	if ((rc = parse_headers(&c, hdrs, maxhdrs, &req->nhdrs)) != 0 ||
	    (rc = scan_framing(&c, hdrs, req->nhdrs, &f)) != 0 ||
	    (rc = check_te(&c, &f, minor)) != 0)
		goto out;
	/* RFC 9112 §3.2: a 1.1 request without Host, or any request with two,
	 * MUST get 400; two Hosts let two hops route the same request apart. */
	if (f.hosts > 1 || (minor == 1 && f.hosts == 0)) {
		rc = fail(&c, 400, f.hosts ? "duplicate Host" : "missing Host");
		goto out;
	}
	if (c.p - buf > INT_MAX) {
		rc = fail(&c, 431, "request head too large");
		goto out;
	}
	req->content_length = f.cl;
	req->chunked = f.has_te;
	req->expect_continue = f.expect;
	/* RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only on the
	 * "keep-alive" opt-in of RFC 2068 §19.7.1. */
	req->keep_alive = minor == 1 ? !f.conn_close : (f.conn_keep && !f.conn_close);
	return (int)(c.p - buf);
out:
	if (rc == HTTP_ERROR) {
		req->error = c.err;
		req->error_status = c.status;
	}
	return rc;
}

/* see http.h */
int
http_parse_response(const char *buf, size_t len, struct http_resp *resp,
                    struct http_hdr *hdrs, size_t maxhdrs)
{
	struct cur c;
	struct framing f;
	int major = 0, minor = 0, rc, i;
	unsigned char ch;

	memset(resp, 0, sizeof(*resp));
	resp->hdrs = hdrs;
	resp->content_length = -1;
	c.p = buf;
	c.end = buf + len;
	c.err = NULL;
	c.status = 0;

	/* status-line = HTTP-version SP status-code SP [ reason ] CRLF
	 * (RFC 9112 §4). */
	if ((rc = parse_version(&c, &major, &minor)) != 0)
		goto out;
	if (major != 1 || minor > 1) {
		rc = fail(&c, 502, "unsupported HTTP version");
		goto out;
	}
	resp->minor = minor;
	if (c.p == c.end)
		return HTTP_PARTIAL;
	if (*c.p++ != ' ') {
		rc = fail(&c, 502, "malformed status line");
		goto out;
	}
	for (i = 0; i < 3; i++) {
		if (c.p == c.end)
			return HTTP_PARTIAL;
		ch = (unsigned char)*c.p++;
		if (!is_digit(ch)) {
			rc = fail(&c, 502, "malformed status code");
			goto out;
		}
		resp->status = resp->status * 10 + (ch - '0');
	}
	/* RFC 9110 §15: codes are 100..599. */
	if (resp->status < 100 || resp->status > 599) {
		rc = fail(&c, 502, "status code out of range");
		goto out;
	}
	if (c.p == c.end)
		return HTTP_PARTIAL;
	/* §4 requires the SP even before an empty reason, but "HTTP/1.1 200"
	 * CRLF is common in the wild and is unambiguous. */
	if (*c.p == ' ')
		c.p++;
	else if (*c.p != '\r' && *c.p != '\n') {
		rc = fail(&c, 502, "malformed status code");
		goto out;
	}
	resp->reason.p = c.p;
	while (c.p < c.end && is_text((unsigned char)*c.p))
		c.p++;
	if (c.p == c.end)
		return HTTP_PARTIAL;
	resp->reason.n = (size_t)(c.p - resp->reason.p);
	if (*c.p != '\r' && *c.p != '\n') {
		rc = fail(&c, 502, "bad reason phrase");
		goto out;
	}
	if ((rc = eat_crlf(&c)) != 0)
		goto out;

	if ((rc = parse_headers(&c, hdrs, maxhdrs, &resp->nhdrs)) != 0 ||
	    (rc = scan_framing(&c, hdrs, resp->nhdrs, &f)) != 0 ||
	    (rc = check_te(&c, &f, minor)) != 0)
		goto out;
	if (c.p - buf > INT_MAX) {
		rc = fail(&c, 502, "response head too large");
		goto out;
	}
	resp->content_length = f.cl;
	resp->chunked = f.has_te;
	/* RFC 9112 §6.3 (1): these never carry content, whatever the
	 * framing headers say (a 304 may repeat the would-be length). */
	resp->no_body = resp->status < 200 || resp->status == 204 ||
	    resp->status == 304;
	resp->keep_alive = minor == 1 ? !f.conn_close : (f.conn_keep && !f.conn_close);
	/* §6.3 (8): no length and not chunked means the body runs to EOF,
	 * so the connection cannot be reused. */
	if (!resp->no_body && !resp->chunked && resp->content_length < 0)
		resp->keep_alive = 0;
	return (int)(c.p - buf);
out:
	if (rc == HTTP_ERROR)
		resp->error = c.err;
	return rc;
}

/* ---------------------------------------------------------------- chunked */

/*
 * chunked-body = *chunk last-chunk trailer-section CRLF (RFC 9112 §7.1).
 * One state per position where a byte boundary may fall. State 0 is the
 * start of a chunk-size line, so a zeroed struct is ready to use.
 */
enum {
	CK_SIZE = 0,    /* hex digits */
	CK_SIZE_WS,     /* BWS after the size, only legal before ';' */
	CK_EXT,         /* chunk-ext, skipped */
	CK_SIZE_LF,     /* CR seen at end of size line */
	CK_DATA,        /* c->left payload bytes to go */
	CK_DATA_CR,     /* CRLF after chunk-data */
	CK_DATA_LF,
	CK_TRL,         /* start of a trailer line, or the final CRLF */
	CK_TRL_LINE,    /* inside a trailer field, skipped */
	CK_TRL_LF,
	CK_END_LF       /* CR of the final empty line seen */
};

/* see http.h */
long
http_chunked_feed(struct http_chunked *c, const char *in, size_t n,
                  const char **data, size_t *dlen)
{
	size_t i = 0, k;
	unsigned char ch;
	int d;

	*data = in;
	*dlen = 0;
	if (c->err)
		return HTTP_ERROR;
	if (n > LONG_MAX)
		n = LONG_MAX;
	while (i < n && !c->done) {
		ch = (unsigned char)in[i];
		switch (c->state) {
		case CK_SIZE:
			if ((d = hex_val(ch)) >= 0) {
				/* §7.1: recipients MUST anticipate large sizes
				 * and guard against overflow; cap before the
				 * multiply so it cannot wrap. */
				if (c->left > (HTTP_CHUNK_MAX - (uint64_t)d) / 16)
					goto fail;
				c->left = c->left * 16 + (uint64_t)d;
				if (c->ndigits < UCHAR_MAX)
					c->ndigits++;
				break;
			}
			if (c->ndigits == 0)        /* 1*HEXDIG */
				goto fail;
			if (ch == ';')
				c->state = CK_EXT;
			else if (is_ows(ch))
				c->state = CK_SIZE_WS;
			else if (ch == '\r')
				c->state = CK_SIZE_LF;
			else if (ch == '\n')        /* §2.2: bare LF MAY be a line end */
				goto size_done;
			else
				goto fail;
			break;
		case CK_SIZE_WS:
			/* §7.1.1: BWS is allowed only ahead of ';'. "5 " CRLF
			 * is a known desync vector, so it is not accepted. */
			if (ch == ';')
				c->state = CK_EXT;
			else if (!is_ows(ch))
				goto fail;
			break;
		case CK_EXT:
			/* §7.1.1: extensions we don't understand MUST be
			 * ignored; their bytes still must not be controls. */
			if (ch == '\r')
				c->state = CK_SIZE_LF;
			else if (ch == '\n')
				goto size_done;
			else if (!is_text(ch))
				goto fail;
			break;
		case CK_SIZE_LF:
			if (ch != '\n')
				goto fail;
		size_done:
			c->ndigits = 0;
			c->state = c->left ? CK_DATA : CK_TRL;
			break;
		case CK_DATA:
			k = n - i;
			if (k > c->left)
				k = (size_t)c->left;
			*data = in + i;
			*dlen = k;
			c->left -= k;
			if (c->left == 0)
				c->state = CK_DATA_CR;
			return (long)(i + k);
		case CK_DATA_CR:
			/* The CRLF after data is where a wrong length shows;
			 * anything else means the sender lied about the size. */
			if (ch == '\r')
				c->state = CK_DATA_LF;
			else if (ch == '\n')
				c->state = CK_SIZE;
			else
				goto fail;
			break;
		case CK_DATA_LF:
			if (ch != '\n')
				goto fail;
			c->state = CK_SIZE;
			break;
		case CK_TRL:
			/* §7.1.2: trailer fields are optional metadata that
			 * we may discard; we forward none of them. */
			if (ch == '\r')
				c->state = CK_END_LF;
			else if (ch == '\n')
				c->done = 1;
			else if (is_text(ch))
				c->state = CK_TRL_LINE;
			else
				goto fail;
			break;
		case CK_TRL_LINE:
			if (ch == '\r')
				c->state = CK_TRL_LF;
			else if (ch == '\n')
				c->state = CK_TRL;
			else if (!is_text(ch))
				goto fail;
			break;
		case CK_TRL_LF:
			if (ch != '\n')
				goto fail;
			c->state = CK_TRL;
			break;
		case CK_END_LF:
			if (ch != '\n')
				goto fail;
			c->done = 1;
			break;
		default:
			goto fail;
		}
		i++;
	}
	return (long)i;
fail:
	c->err = 1;
	return HTTP_ERROR;
}

/* ---------------------------------------------------------------- misc */

/* see http.h */
const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	/* Not IANA-registered: Anthropic's "overloaded_error" status. */
	case 529: return "Site Overloaded";
	}
	/* RFC 9110 §15: an unknown code is understood by its class. */
	switch (status / 100) {
	case 1: return "Informational";
	case 2: return "Success";
	case 3: return "Redirection";
	case 4: return "Client Error";
	case 5: return "Server Error";
	}
	return "Unknown";
}

/*
 * One byte of application/x-www-form-urlencoded (WHATWG URL §5.1): '+' is
 * a space, "%XX" a byte, and a '%' not followed by two hex digits is kept
 * literally rather than rejected, as browsers do.
 */
static unsigned char
form_byte(const char *s, size_t end, size_t *i)
{
	unsigned char ch = (unsigned char)s[*i];
	int hi, lo;

	if (ch == '+') {
		(*i)++;
		return ' ';
	}
	if (ch == '%' && *i + 2 < end &&
	    (hi = hex_val((unsigned char)s[*i + 1])) >= 0 &&
	    (lo = hex_val((unsigned char)s[*i + 2])) >= 0) {
		*i += 3;
		return (unsigned char)(hi * 16 + lo);
	}
	(*i)++;
	return ch;
}

/* see http.h */
int
http_query_param(struct http_str query, const char *name, char *out,
                 size_t cap)
{
	size_t pos = 0, start, eq, end, i, k, o;
	unsigned char b;

	if (cap > (size_t)INT_MAX)
		cap = (size_t)INT_MAX;
	while (pos < query.n) {
		start = pos;
		for (end = start; end < query.n && query.p[end] != '&'; end++)
			;
		pos = end + 1;
		if (end == start)
			continue;
		for (eq = start; eq < end && query.p[eq] != '='; eq++)
			;
		/* Compare the decoded name, so "%62=1" is parameter "b". */
		for (i = start, k = 0; i < eq; k++)
			if (name[k] == 0 ||
			    form_byte(query.p, eq, &i) != (unsigned char)name[k])
				break;
		if (i < eq || name[k] != 0)
			continue;
		/* First match wins; a later duplicate is ignored. */
		if (cap == 0)
			return -1;
		for (i = eq < end ? eq + 1 : end, o = 0; i < end; o++) {
			b = form_byte(query.p, end, &i);
			/* "%00" would silently cut the C string short. */
			if (b == 0 || o + 1 >= cap)
				return -1;
			out[o] = (char)b;
		}
		out[o] = 0;
		return (int)o;
	}
	return -1;
}
