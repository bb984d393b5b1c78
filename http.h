/*
 * http.h - incremental HTTP/1.1 parsing (request heads, response heads,
 * chunked bodies). I/O-free; allocation-free; views borrow the input.
 *
 * Return convention for every parser here (picohttpparser's):
 *   >= 0          complete; value = bytes consumed
 *   HTTP_PARTIAL  need more input
 *   HTTP_ERROR    reject (see the error string set by the parser)
 */
#ifndef PX_HTTP_H
#define PX_HTTP_H

#include <stddef.h>
#include <stdint.h>

#ifndef HTTP_MAX_HEADERS
#define HTTP_MAX_HEADERS 64
#endif
#ifndef HTTP_CHUNK_MAX
#define HTTP_CHUNK_MAX ((uint64_t)1 << 40)  /* larger chunk sizes are errors */
#endif

#define HTTP_PARTIAL (-2)
#define HTTP_ERROR   (-1)

struct http_str { const char *p; size_t n; };

/* Views point into the caller's input buffer: valid until it is compacted
 * or overwritten. */
struct http_hdr { struct http_str name, value; };

struct http_req {
	struct http_str method;
	struct http_str target;       /* request-target as sent */
	struct http_str path;         /* target up to '?' (absolute-form:
	                                 its path part, "/" when empty) */
	struct http_str query;        /* after '?', may be empty */
	int minor;                    /* HTTP/1.x */
	struct http_hdr *hdrs;        /* = caller's array */
	size_t nhdrs;
	/* derived from headers */
	int64_t content_length;       /* -1 when absent */
	unsigned chunked:1;           /* Transfer-Encoding: chunked */
	unsigned keep_alive:1;        /* per version + Connection header */
	unsigned expect_continue:1;   /* Expect: 100-continue */
	const char *error;            /* static reason on HTTP_ERROR */
	int error_status;             /* 400, 431, 501 ... on HTTP_ERROR */
};

/*
 * Parse a request head from buf[0..len). hdrs/maxhdrs is caller storage.
 * Enforces: method token, origin-form or absolute-form target, HTTP/1.0 or
 * 1.1, header name tokens, no obs-fold, no NUL/CR/LF in values; rejects
 * request smuggling (Content-Length together with Transfer-Encoding,
 * duplicate or conflicting Content-Length, a Transfer-Encoding other than
 * exactly "chunked", unparseable lengths with overflow checks). Too many
 * headers fails with error_status 431. HTTP/1.1 without Host, or two Host
 * lines, is 400 (RFC 9112 §3.2).
 * Returns the head length including the final CRLFCRLF.
 */
int http_parse_request(const char *buf, size_t len, struct http_req *req,
                       struct http_hdr *hdrs, size_t maxhdrs);

struct http_resp {
	int status;
	int minor;
	struct http_str reason;
	struct http_hdr *hdrs;
	size_t nhdrs;
	int64_t content_length;       /* -1 when absent */
	unsigned chunked:1;
	unsigned keep_alive:1;        /* connection may be reused */
	unsigned no_body:1;           /* 1xx, 204, 304 (or HEAD response) */
	const char *error;
};

/* Parse a response head. Same conventions as http_parse_request. */
int http_parse_response(const char *buf, size_t len, struct http_resp *resp,
                        struct http_hdr *hdrs, size_t maxhdrs);

/*
 * Chunked transfer decoding, streaming and copy-free: each call consumes
 * framing and returns at most one run of payload bytes as a view into the
 * input. Zero-initialise before the first call.
 */
struct http_chunked {
	uint64_t left;                /* payload bytes left in current chunk */
	unsigned char state;
	unsigned char ndigits;
	unsigned char done;           /* terminating chunk and trailers seen */
	unsigned char err;
};

/*
 * Consume from in[0..n). Sets *data and *dlen to payload found (possibly 0
 * bytes). Returns bytes consumed (>= 0), or HTTP_ERROR (bad size, size
 * over HTTP_CHUNK_MAX, bad CRLF). When c->done becomes 1 the body is
 * complete; bytes after it are not consumed.
 */
long http_chunked_feed(struct http_chunked *c, const char *in, size_t n,
                       const char **data, size_t *dlen);

/* Case-insensitive header lookup; NULL when absent. */
const struct http_hdr *http_find(const struct http_hdr *h, size_t n,
                                 const char *name);
int http_str_ieq(struct http_str s, const char *lit);  /* ASCII nocase */
int http_str_eq(struct http_str s, const char *lit);

/* Status line reason phrase for a code ("OK", "Bad Request", ...). */
const char *http_reason(int status);

/*
 * Find a query parameter (already percent-decoded into out, NUL-terminated).
 * Returns length, or -1 when absent / does not fit.
 */
int http_query_param(struct http_str query, const char *name, char *out,
                     size_t cap);

#endif
