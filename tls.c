/*
 * tls.c - BearSSL glue: trust anchors from a PEM bundle, and a client
 * engine driven from a non-blocking socket.
 *
 * BearSSL's engine does no I/O itself: it exposes four buffers (records to
 * send/receive, plaintext to send/receive) and a state word saying which of
 * them is usable. Every public call here runs the same "pump": look at the
 * state, move bytes between the socket and the engine until nothing moves,
 * then say why we stopped (TLS_AGAIN: the socket would block; the caller
 * polls for tls_events()). Plaintext is drained before records are read,
 * and records are written before more are read, so the engine never sits on
 * decrypted bytes while the caller sleeps in poll() (tls_pending() covers
 * the case where the caller's buffer was the bottleneck).
 *
 * EOF: a TCP EOF before the handshake completes is TLS_E_EOF; after it, it
 * is reported as a 0 read with t->eof set, because many servers never send
 * close_notify and only the HTTP framing can tell a complete response from
 * a truncated one.
 *
 * Anchors: the bundle is decoded as a stream (4 KB reads through
 * br_pem_decoder), each certificate turned into a trust anchor whose DN and
 * key bytes are appended to one growable blob. Offsets are recorded while the
 * blob may still move and turned into pointers in one pass at the end, so the
 * process-wide set is exactly two allocations, read-only afterwards.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tls.h"

#ifdef MSG_NOSIGNAL
#define TLS_SEND_FLAGS MSG_NOSIGNAL
#else
#define TLS_SEND_FLAGS 0
#endif

/* ------------------------------------------------------------ anchors */

static br_x509_trust_anchor *g_ta;
static size_t g_nta;
static unsigned char *g_blob;
static char g_ca_path[4096];

/* Go's list (crypto/x509/root_linux.go), in its order. */
static const char *const ca_paths[] = {
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
};

struct growbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;                  /* set by an append that could not grow */
};

/* Where one anchor's bytes sit in the blob while the blob can still move. */
struct ta_off {
	size_t dn, dn_len;
	size_t k1, k1_len;        /* RSA n, or EC q */
	size_t k2, k2_len;        /* RSA e */
	int key_type;             /* BR_KEYTYPE_RSA or BR_KEYTYPE_EC */
	int curve;
	unsigned flags;
};

static void
set_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* BearSSL callbacks return void, so failure is recorded in the buffer. */
static void
gb_append(void *ctx, const void *data, size_t len)
{
	struct growbuf *b = ctx;
	size_t ncap;
	unsigned char *np;

	if (b->oom || len == 0)
		return;
	if (len > b->cap - b->len) {
		ncap = b->cap ? b->cap : 4096;
		while (ncap - b->len < len) {
			if (ncap > ((size_t)-1) / 2) {
				b->oom = 1;
				return;
			}
			ncap *= 2;
		}
		np = realloc(b->p, ncap);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

/*
 * Decode one DER certificate into an anchor record. Returns 1 added,
 * 0 skipped (undecodable or unsupported key), -1 out of memory.
 */
static int
der_to_anchor(const unsigned char *der, size_t len, struct growbuf *blob,
    struct ta_off *o)
{
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;
	size_t start = blob->len;

	memset(o, 0, sizeof *o);
	o->dn = start;
	br_x509_decoder_init(&dc, gb_append, blob);
	br_x509_decoder_push(&dc, der, len);
	if (blob->oom)
		return -1;
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL || br_x509_decoder_last_error(&dc) != 0)
		goto skip;
	o->dn_len = blob->len - start;
	o->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	/* pk points into dc, which dies with this frame: copy the key out. */
	switch (pk->key_type) {
	case BR_KEYTYPE_RSA:
		o->key_type = BR_KEYTYPE_RSA;
		o->k1 = blob->len;
		o->k1_len = pk->key.rsa.nlen;
		gb_append(blob, pk->key.rsa.n, pk->key.rsa.nlen);
		o->k2 = blob->len;
		o->k2_len = pk->key.rsa.elen;
		gb_append(blob, pk->key.rsa.e, pk->key.rsa.elen);
		break;
	case BR_KEYTYPE_EC:
		o->key_type = BR_KEYTYPE_EC;
		o->curve = pk->key.ec.curve;
		o->k1 = blob->len;
		o->k1_len = pk->key.ec.qlen;
		gb_append(blob, pk->key.ec.q, pk->key.ec.qlen);
		break;
	default:
		goto skip;
	}
	return blob->oom ? -1 : 1;
skip:
	blob->len = start;
	return 0;
}

struct ca_load {
	struct growbuf der, blob;
	struct ta_off *offs;
	size_t n, cap, skipped;
	int in_obj, want_obj;
	const char *path;
};

/* Handle the decoder event after a push. Returns 0, or -1 with err set. */
static int
pem_event(br_pem_decoder_context *pc, struct ca_load *L, char *err,
    size_t errcap)
{
	const char *name;
	struct ta_off *no;
	int r;

	switch (br_pem_decoder_event(pc)) {
	case BR_PEM_BEGIN_OBJ:
		name = br_pem_decoder_name(pc);
		L->in_obj = 1;
		L->want_obj = strcmp(name, "CERTIFICATE") == 0 ||
		    strcmp(name, "X509 CERTIFICATE") == 0;
		L->der.len = 0;
		br_pem_decoder_setdest(pc, L->want_obj ? gb_append : NULL,
		    L->want_obj ? &L->der : NULL);
		break;
	case BR_PEM_END_OBJ:
		L->in_obj = 0;
		if (!L->want_obj)
			break;
		if (L->der.oom)
			goto oom;
		if (L->n == L->cap) {
			size_t ncap = L->cap ? L->cap * 2 : 64;
			no = realloc(L->offs, ncap * sizeof *no);
			if (no == NULL)
				goto oom;
			L->offs = no;
			L->cap = ncap;
		}
		r = der_to_anchor(L->der.p, L->der.len, &L->blob,
		    &L->offs[L->n]);
		if (r < 0)
			goto oom;
		if (r > 0)
			L->n++;
		else
			L->skipped++;
		L->der.len = 0;
		break;
	case BR_PEM_ERROR:
		set_err(err, errcap, "%s: malformed PEM data", L->path);
		return -1;
	default:
		break;
	}
	return 0;
oom:
	set_err(err, errcap, "%s: out of memory loading certificates",
	    L->path);
	return -1;
}

/* Open the system bundle: $SSL_CERT_FILE, else the first of ca_paths. */
static FILE *
open_system(const char **path, char *err, size_t errcap)
{
	const char *env = getenv("SSL_CERT_FILE");
	FILE *f;
	size_t i;

	if (env != NULL && *env != '\0') {
		*path = env;
		if ((f = fopen(env, "rb")) == NULL)
			set_err(err, errcap, "cannot open CA bundle %s: %s",
			    env, strerror(errno));
		return f;
	}
	for (i = 0; i < sizeof ca_paths / sizeof ca_paths[0]; i++) {
		if ((f = fopen(ca_paths[i], "rb")) != NULL) {
			*path = ca_paths[i];
			return f;
		}
	}
	set_err(err, errcap, "no CA bundle found (tried $SSL_CERT_FILE and "
	    "%s ...); name one explicitly", ca_paths[0]);
	return NULL;
}

/* Append the certificates of one PEM file (f, opened; closed here) to L.
 * Returns 0, or -1 with err set. A file without usable certificates is an
 * error. */
static int
load_file(struct ca_load *L, FILE *f, const char *path, char *err,
    size_t errcap)
{
	br_pem_decoder_context pc;
	unsigned char chunk[4096];
	const unsigned char *p;
	size_t k, len, n0 = L->n;
	int rc = -1, eof = 0;

	L->path = path;
	L->in_obj = 0;
	L->skipped = 0;
	br_pem_decoder_init(&pc);
	for (;;) {
		len = fread(chunk, 1, sizeof chunk, f);
		if (len == 0) {
			if (ferror(f)) {
				set_err(err, errcap, "cannot read %s: %s",
				    path, strerror(errno));
				goto end;
			}
			/* A last line without '\n' still ends the object. */
			chunk[0] = '\n';
			len = 1;
			eof = 1;
		}
		p = chunk;
		k = len;
		while (k > 0) {
			size_t used = br_pem_decoder_push(&pc, p, k);
			p += used;
			k -= used;
			if (pem_event(&pc, L, err, errcap) < 0)
				goto end;
		}
		if (eof)
			break;
	}
	if (L->in_obj) {
		set_err(err, errcap, "%s: unfinished PEM object at end of file",
		    path);
		goto end;
	}
	if (L->n == n0) {
		set_err(err, errcap, "%s: no usable certificates (%zu skipped)",
		    path, L->skipped);
		goto end;
	}
	rc = 0;
end:
	fclose(f);
	return rc;
}

/* see tls.h */
int
tls_load_ca_set(const char *replace, const char *const *add, int nadd,
    char *err, size_t errcap)
{
	struct ca_load L;
	br_x509_trust_anchor *ta = NULL;
	char desc[sizeof g_ca_path];
	const char *path = replace;
	FILE *f;
	size_t i;
	int rc = -1, j;

	memset(&L, 0, sizeof L);
	if (path == NULL || *path == '\0') {
		if ((f = open_system(&path, err, errcap)) == NULL)
			return -1;
	} else if ((f = fopen(path, "rb")) == NULL) {
		set_err(err, errcap, "cannot open CA bundle %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (load_file(&L, f, path, err, errcap) < 0)
		goto end;
	snprintf(desc, sizeof desc, "%s", path);
	for (j = 0; j < nadd; j++) {
		size_t dl = strlen(desc);

		if ((f = fopen(add[j], "rb")) == NULL) {
			set_err(err, errcap, "cannot open CA file %s: %s",
			    add[j], strerror(errno));
			goto end;
		}
		if (load_file(&L, f, add[j], err, errcap) < 0)
			goto end;
		snprintf(desc + dl, sizeof desc - dl, " + %s", add[j]);
	}

	/* The blob no longer moves: turn offsets into pointers. */
	ta = calloc(L.n, sizeof *ta);
	if (ta == NULL) {
		set_err(err, errcap, "%s: out of memory", path);
		goto end;
	}
	for (i = 0; i < L.n; i++) {
		const struct ta_off *o = &L.offs[i];
		ta[i].dn.data = L.blob.p + o->dn;
		ta[i].dn.len = o->dn_len;
		ta[i].flags = o->flags;
		ta[i].pkey.key_type = (unsigned char)o->key_type;
		if (o->key_type == BR_KEYTYPE_RSA) {
			ta[i].pkey.key.rsa.n = L.blob.p + o->k1;
			ta[i].pkey.key.rsa.nlen = o->k1_len;
			ta[i].pkey.key.rsa.e = L.blob.p + o->k2;
			ta[i].pkey.key.rsa.elen = o->k2_len;
		} else {
			ta[i].pkey.key.ec.curve = o->curve;
			ta[i].pkey.key.ec.q = L.blob.p + o->k1;
			ta[i].pkey.key.ec.qlen = o->k1_len;
		}
	}
	/* Replace the previous set (no live connection may still use it). */
	free(g_ta);
	free(g_blob);
	g_ta = ta;
	g_nta = L.n;
	g_blob = L.blob.p;
	L.blob.p = NULL;
	snprintf(g_ca_path, sizeof g_ca_path, "%s", desc);
	rc = (int)L.n;
end:
	free(L.der.p);
	free(L.blob.p);
	free(L.offs);
	return rc;
}

/* see tls.h */
int
tls_load_ca(const char *path, char *err, size_t errcap)
{
	return tls_load_ca_set(path, NULL, 0, err, errcap);
}

/* see tls.h */
const char *
tls_ca_path(void)
{
	return g_ca_path;
}

/* ------------------------------------------------------------ IP SANs */

/*
 * One DER TLV at *p (before end): its tag, and its contents in
 * [*c, *c + *cn). Returns the byte after it, or NULL when malformed (long
 * tags, indefinite or oversized lengths).
 */
static const unsigned char *
der_tlv(const unsigned char *p, const unsigned char *end, unsigned *tag,
    const unsigned char **c, size_t *cn)
{
	size_t len, k;

	if (end - p < 2 || (p[0] & 0x1f) == 0x1f)
		return NULL;
	*tag = p[0];
	len = p[1];
	p += 2;
	if (len & 0x80) {
		k = len & 0x7f;
		if (k == 0 || k > 3 || (size_t)(end - p) < k)
			return NULL;
		for (len = 0; k > 0; k--)
			len = len << 8 | *p++;
	}
	if ((size_t)(end - p) < len)
		return NULL;
	*c = p;
	*cn = len;
	return p + len;
}

/*
 * 1 when the certificate der[0..n) has an iPAddress subjectAltName equal
 * to ip[0..iplen), else 0 (also when it cannot be parsed).
 * Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPT,
 * serial, signature, issuer, validity, subject, spki, [1] OPT, [2] OPT,
 * [3] { SEQUENCE OF Extension } } ... }; Extension ::= SEQUENCE { OID,
 * BOOLEAN OPT, OCTET STRING { GeneralNames } }; iPAddress is [7] IMPLICIT.
 */
static int
cert_has_ip(const unsigned char *der, size_t n, const unsigned char *ip,
    unsigned iplen)
{
	static const unsigned char san_oid[] = { 0x55, 0x1d, 0x11 };
	const unsigned char *p, *end, *c, *q, *qe, *v;
	size_t cn, vn;
	unsigned tag;

	if (der_tlv(der, der + n, &tag, &c, &cn) == NULL || tag != 0x30 ||
	    der_tlv(c, c + cn, &tag, &c, &cn) == NULL || tag != 0x30)
		return 0;
	/* walk the tbsCertificate to [3] */
	for (p = c, end = c + cn; p < end; ) {
		if ((p = der_tlv(p, end, &tag, &c, &cn)) == NULL)
			return 0;
		if (tag == 0xa3)
			break;
	}
	if (tag != 0xa3 || der_tlv(c, c + cn, &tag, &c, &cn) == NULL ||
	    tag != 0x30)
		return 0;
	for (p = c, end = c + cn; p < end; ) {
		/* one Extension */
		if ((p = der_tlv(p, end, &tag, &q, &cn)) == NULL || tag != 0x30)
			return 0;
		qe = q + cn;
		if ((q = der_tlv(q, qe, &tag, &v, &vn)) == NULL || tag != 0x06)
			return 0;
		if (vn != sizeof san_oid || memcmp(v, san_oid, vn) != 0)
			continue;
		if ((q = der_tlv(q, qe, &tag, &v, &vn)) != NULL && tag == 0x01)
			q = der_tlv(q, qe, &tag, &v, &vn);
		if (q == NULL || tag != 0x04 ||
		    der_tlv(v, v + vn, &tag, &v, &vn) == NULL || tag != 0x30)
			return 0;
		for (q = v, qe = v + vn; q < qe; ) {
			if ((q = der_tlv(q, qe, &tag, &v, &vn)) == NULL)
				return 0;
			if (tag == 0x87 && vn == iplen &&
			    memcmp(v, ip, iplen) == 0)
				return 1;
		}
	}
	return 0;
}

#define XW_CONN(ctx) ((struct tls_conn *)(void *)((char *)(ctx) - \
	offsetof(struct tls_conn, xw)))

static void
xw_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct tls_conn *t = XW_CONN(ctx);

	t->ncert = 0;
	t->leaf_len = 0;
	t->leaf_over = 0;
	t->xc.vtable->start_chain(&t->xc.vtable, server_name);
}

static void
xw_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls_conn *t = XW_CONN(ctx);

	t->ncert++;
	t->xc.vtable->start_cert(&t->xc.vtable, length);
}

static void
xw_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct tls_conn *t = XW_CONN(ctx);

	if (t->ncert == 1 && t->iplen > 0) {
		if (len > sizeof t->leaf - t->leaf_len)
			t->leaf_over = 1;
		else {
			memcpy(t->leaf + t->leaf_len, buf, len);
			t->leaf_len += len;
		}
	}
	t->xc.vtable->append(&t->xc.vtable, buf, len);
}

static void
xw_end_cert(const br_x509_class **ctx)
{
	struct tls_conn *t = XW_CONN(ctx);

	t->xc.vtable->end_cert(&t->xc.vtable);
}

/* The chain's own verdict first (not trusted, expired ...); then the IP. */
static unsigned
xw_end_chain(const br_x509_class **ctx)
{
	struct tls_conn *t = XW_CONN(ctx);
	unsigned r = t->xc.vtable->end_chain(&t->xc.vtable);

	if (r != 0 || t->iplen == 0)
		return r;
	if (t->leaf_over || !cert_has_ip(t->leaf, t->leaf_len, t->ip,
	    t->iplen)) {
		t->err = TLS_E_IP_MISMATCH;
		return BR_ERR_X509_BAD_SERVER_NAME;
	}
	return 0;
}

static const br_x509_pkey *
xw_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	const struct tls_conn *t = (const struct tls_conn *)(const void *)
	    ((const char *)ctx - offsetof(struct tls_conn, xw));

	return t->xc.vtable->get_pkey(&t->xc.vtable, usages);
}

static const br_x509_class xw_class = {
	sizeof(const br_x509_class *),
	xw_start_chain, xw_start_cert, xw_append, xw_end_cert, xw_end_chain,
	xw_get_pkey
};

/* ------------------------------------------------------------ engine */

/* Linked into every engine: must outlive the connections (static). */
static const char *alpn_names[] = { "http/1.1" };

/* see tls.h */
int
tls_conn_init(struct tls_conn *t, int fd, const char *host)
{
	t->fd = fd;
	t->err = 0;
	t->eof = 0;
	t->closed = 0;
	t->handshake_done = 0;
	if (g_nta == 0) {
		t->err = BR_ERR_X509_NOT_TRUSTED;
		return -1;
	}
	br_ssl_client_init_full(&t->sc, &t->xc, g_ta, g_nta);
	t->xw = &xw_class;
	br_ssl_engine_set_x509(&t->sc.eng, &t->xw);
	br_ssl_engine_set_buffers_bidi(&t->sc.eng, t->ibuf, sizeof t->ibuf,
	    t->obuf, sizeof t->obuf);
	br_ssl_engine_set_protocol_names(&t->sc.eng, alpn_names, 1);
	/*
	 * A name drives SNI and BearSSL's name check. An IP literal gets
	 * neither (SNI may not carry one, and BearSSL would match it against
	 * DNS names): xw_end_chain() matches it against the iPAddress SANs.
	 */
	t->iplen = 0;
	if (inet_pton(AF_INET, host, t->ip) == 1)
		t->iplen = 4;
	else if (inet_pton(AF_INET6, host, t->ip) == 1)
		t->iplen = 16;
	if (!br_ssl_client_reset(&t->sc, t->iplen ? NULL : host, 0)) {
		t->err = br_ssl_engine_last_error(&t->sc.eng);
		if (t->err == 0)
			t->err = BR_ERR_BAD_STATE;
		return -1;
	}
	return 0;
}

/* Record the engine's terminal state. Returns 0 clean close, -1 error. */
static int
engine_closed(struct tls_conn *t)
{
	int e = br_ssl_engine_last_error(&t->sc.eng);

	t->closed = 1;
	if (t->err == 0)
		t->err = e;
	return t->err == 0 ? 0 : -1;
}

/* One send() of pending records. 1 progress, 0 would block, -1 error. */
static int
do_send(struct tls_conn *t)
{
	br_ssl_engine_context *eng = &t->sc.eng;
	unsigned char *buf;
	size_t len;
	ssize_t n;

	buf = br_ssl_engine_sendrec_buf(eng, &len);
	n = send(t->fd, buf, len, TLS_SEND_FLAGS);
	if (n > 0) {
		br_ssl_engine_sendrec_ack(eng, (size_t)n);
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return 0;
	t->err = TLS_E_IO;
	return -1;
}

/* One recv() into the record buffer. 1 progress (or EOF), 0 would block,
 * -1 error. EOF sets t->eof; before the handshake it is an error. */
static int
do_recv(struct tls_conn *t)
{
	br_ssl_engine_context *eng = &t->sc.eng;
	unsigned char *buf;
	size_t len;
	ssize_t n;

	buf = br_ssl_engine_recvrec_buf(eng, &len);
	n = recv(t->fd, buf, len, 0);
	if (n > 0) {
		br_ssl_engine_recvrec_ack(eng, (size_t)n);
		return 1;
	}
	if (n == 0) {
		t->eof = 1;
		if (!t->handshake_done) {
			t->err = TLS_E_EOF;
			return -1;
		}
		return 1;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	t->err = TLS_E_IO;
	return -1;
}

/*
 * Move records both ways until nothing moves. want_recv: also read records
 * (always during the handshake). Returns 1 if anything moved, 0 if blocked,
 * -1 on error or close (t->err / t->closed tell which).
 */
static int
pump_records(struct tls_conn *t, int want_recv)
{
	br_ssl_engine_context *eng = &t->sc.eng;
	unsigned st;
	int r, progress, any = 0;

	do {
		progress = 0;
		st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED)
			return -1;
		if (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))
			t->handshake_done = 1;
		if (st & BR_SSL_SENDREC) {
			if ((r = do_send(t)) < 0)
				return -1;
			progress |= r;
		}
		if ((st & BR_SSL_RECVREC) && !t->eof &&
		    (want_recv || !t->handshake_done)) {
			if ((r = do_recv(t)) < 0)
				return -1;
			progress |= r;
		}
		any |= progress;
		/* Stop as soon as plaintext shows up: the caller wants it. */
		if (want_recv &&
		    (br_ssl_engine_current_state(eng) & BR_SSL_RECVAPP))
			break;
	} while (progress);
	return any;
}

/*
 * After pump_records() returned -1: either t->err is set (socket error, EOF
 * in the handshake) or the engine is CLOSED, cleanly (clean_value) or not.
 */
static ssize_t
fail_or_close(struct tls_conn *t, int clean_value)
{
	if (t->err == 0 && engine_closed(t) == 0)
		return clean_value;
	return TLS_ERR;
}

/* see tls.h */
ssize_t
tls_write(struct tls_conn *t, const void *buf, size_t n)
{
	return tls_write_part(t, buf, n, 1);
}

/* see tls.h */
ssize_t
tls_write_part(struct tls_conn *t, const void *buf, size_t n, int last)
{
	br_ssl_engine_context *eng = &t->sc.eng;
	unsigned char *dst;
	unsigned st;
	size_t room;

	if (t->err != 0)
		return TLS_ERR;
	if (n == 0)
		return 0;
	for (;;) {
		st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED) {
			/* Writing after the peer's close_notify fails too. */
			engine_closed(t);
			if (t->err == 0)
				t->err = TLS_E_IO;
			return TLS_ERR;
		}
		if (st & BR_SSL_SENDAPP) {
			t->handshake_done = 1;
			dst = br_ssl_engine_sendapp_buf(eng, &room);
			if (room > n)
				room = n;
			memcpy(dst, buf, room);
			br_ssl_engine_sendapp_ack(eng, room);
			/* Whole message queued: make a record now. */
			if (room == n && last)
				br_ssl_engine_flush(eng, 0);
			if (pump_records(t, 0) < 0 && t->err != 0)
				return TLS_ERR;
			return (ssize_t)room;
		}
		/* Handshake (or a full record buffer) first. */
		switch (pump_records(t, 1)) {
		case -1:
			return fail_or_close(t, TLS_ERR);
		case 0:
			return TLS_AGAIN;
		default:
			break;
		}
	}
}

/* see tls.h */
ssize_t
tls_read(struct tls_conn *t, void *buf, size_t n)
{
	br_ssl_engine_context *eng = &t->sc.eng;
	unsigned char *src;
	unsigned st;
	size_t avail;

	if (t->err != 0)
		return TLS_ERR;
	if (n == 0)
		return 0;
	for (;;) {
		st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED)
			return engine_closed(t) == 0 ? 0 : TLS_ERR;
		if (st & BR_SSL_RECVAPP) {
			t->handshake_done = 1;
			src = br_ssl_engine_recvapp_buf(eng, &avail);
			if (avail > n)
				avail = n;
			memcpy(buf, src, avail);
			br_ssl_engine_recvapp_ack(eng, avail);
			/* Acking may make room for an ack/alert to send. */
			if (br_ssl_engine_current_state(eng) & BR_SSL_SENDREC)
				(void)do_send(t);
			return (ssize_t)avail;
		}
		if (t->eof)
			return t->handshake_done && t->err == 0 ? 0 : TLS_ERR;
		switch (pump_records(t, 1)) {
		case -1:
			return fail_or_close(t, 0);
		case 0:
			return TLS_AGAIN;
		default:
			break;
		}
	}
}

/* see tls.h */
int
tls_flush(struct tls_conn *t)
{
	unsigned st;

	if (t->err != 0)
		return TLS_ERR;
	if (pump_records(t, 0) < 0)
		return (int)fail_or_close(t, 0);
	st = br_ssl_engine_current_state(&t->sc.eng);
	return (st & BR_SSL_SENDREC) ? TLS_AGAIN : 0;
}

/* see tls.h */
short
tls_events(const struct tls_conn *t)
{
	unsigned st = br_ssl_engine_current_state(&t->sc.eng);
	short ev = 0;

	if (st & BR_SSL_CLOSED)
		return 0;
	if (st & BR_SSL_SENDREC)
		ev |= POLLOUT;
	if ((st & BR_SSL_RECVREC) && !t->eof)
		ev |= POLLIN;
	return ev;
}

/* see tls.h */
int
tls_pending(const struct tls_conn *t)
{
	return (br_ssl_engine_current_state(&t->sc.eng) & BR_SSL_RECVAPP) != 0;
}

/* see tls.h */
int
tls_ready(const struct tls_conn *t)
{
	unsigned st = br_ssl_engine_current_state(&t->sc.eng);

	return t->handshake_done ||
	    (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP)) != 0;
}

/* see tls.h */
void
tls_close(struct tls_conn *t)
{
	br_ssl_engine_context *eng = &t->sc.eng;

	if (t->err != 0)
		return;
	/* Queues close_notify only if the engine is open and ready. */
	br_ssl_engine_close(eng);
	while ((br_ssl_engine_current_state(eng) & BR_SSL_SENDREC) &&
	    do_send(t) > 0)
		;
}

static const char *
alert_name(int a)
{
	switch (a) {
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 22: return "record_overflow";
	case 40: return "handshake_failure";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 86: return "inappropriate_fallback";
	case 90: return "user_canceled";
	case 100: return "no_renegotiation";
	case 110: return "unsupported_extension";
	case 112: return "unrecognized_name";
	case 120: return "no_application_protocol";
	default: return NULL;
	}
}

static const struct {
	int code;
	const char *msg;
} err_names[] = {
	{ 0, "no error" },
	{ BR_ERR_BAD_PARAM, "bad parameter (BR_ERR_BAD_PARAM)" },
	{ BR_ERR_BAD_STATE, "bad state (BR_ERR_BAD_STATE)" },
	{ BR_ERR_UNSUPPORTED_VERSION,
	  "unsupported TLS version; BearSSL needs TLS 1.0-1.2 "
	  "(BR_ERR_UNSUPPORTED_VERSION)" },
	{ BR_ERR_BAD_VERSION, "bad protocol version (BR_ERR_BAD_VERSION)" },
	{ BR_ERR_BAD_LENGTH, "bad record length (BR_ERR_BAD_LENGTH)" },
	{ BR_ERR_TOO_LARGE, "record too large (BR_ERR_TOO_LARGE)" },
	{ BR_ERR_BAD_MAC, "bad record MAC (BR_ERR_BAD_MAC)" },
	{ BR_ERR_NO_RANDOM, "no entropy source (BR_ERR_NO_RANDOM)" },
	{ BR_ERR_UNKNOWN_TYPE, "unknown record type (BR_ERR_UNKNOWN_TYPE)" },
	{ BR_ERR_UNEXPECTED, "unexpected message (BR_ERR_UNEXPECTED)" },
	{ BR_ERR_BAD_HANDSHAKE, "bad handshake message (BR_ERR_BAD_HANDSHAKE)" },
	{ BR_ERR_BAD_CIPHER_SUITE,
	  "no common cipher suite (BR_ERR_BAD_CIPHER_SUITE)" },
	{ BR_ERR_BAD_SNI, "bad SNI (BR_ERR_BAD_SNI)" },
	{ BR_ERR_BAD_SIGNATURE, "bad handshake signature (BR_ERR_BAD_SIGNATURE)" },
	{ BR_ERR_WRONG_KEY_USAGE, "wrong key usage (BR_ERR_WRONG_KEY_USAGE)" },
	{ BR_ERR_IO, "I/O error (BR_ERR_IO)" },
	{ BR_ERR_X509_TRUNCATED, "truncated certificate (BR_ERR_X509_TRUNCATED)" },
	{ BR_ERR_X509_EMPTY_CHAIN,
	  "server sent no certificate (BR_ERR_X509_EMPTY_CHAIN)" },
	{ BR_ERR_X509_UNSUPPORTED,
	  "unsupported certificate algorithm (BR_ERR_X509_UNSUPPORTED)" },
	{ BR_ERR_X509_WRONG_KEY_TYPE,
	  "wrong certificate key type (BR_ERR_X509_WRONG_KEY_TYPE)" },
	{ BR_ERR_X509_BAD_SIGNATURE,
	  "bad certificate signature (BR_ERR_X509_BAD_SIGNATURE)" },
	{ BR_ERR_X509_TIME_UNKNOWN,
	  "no clock to check certificate validity (BR_ERR_X509_TIME_UNKNOWN)" },
	{ BR_ERR_X509_EXPIRED,
	  "certificate expired or not yet valid (BR_ERR_X509_EXPIRED)" },
	{ BR_ERR_X509_DN_MISMATCH,
	  "certificate chain DN mismatch (BR_ERR_X509_DN_MISMATCH)" },
	{ BR_ERR_X509_BAD_SERVER_NAME,
	  "hostname mismatch (BR_ERR_X509_BAD_SERVER_NAME)" },
	{ BR_ERR_X509_CRITICAL_EXTENSION,
	  "unsupported critical extension (BR_ERR_X509_CRITICAL_EXTENSION)" },
	{ BR_ERR_X509_NOT_CA, "issuer is not a CA (BR_ERR_X509_NOT_CA)" },
	{ BR_ERR_X509_FORBIDDEN_KEY_USAGE,
	  "forbidden key usage (BR_ERR_X509_FORBIDDEN_KEY_USAGE)" },
	{ BR_ERR_X509_WEAK_PUBLIC_KEY,
	  "weak public key (BR_ERR_X509_WEAK_PUBLIC_KEY)" },
	{ BR_ERR_X509_NOT_TRUSTED,
	  "certificate not trusted (BR_ERR_X509_NOT_TRUSTED)" },
	{ TLS_E_IO, "socket error" },
	{ TLS_E_EOF, "connection closed during handshake" },
	{ TLS_E_IP_MISMATCH, "certificate not valid for this IP address "
	  "(no matching iPAddress subjectAltName)" },
};

/* see tls.h */
const char *
tls_strerror(int err, char *buf, size_t cap)
{
	const char *an;
	size_t i;

	if (buf == NULL || cap == 0)
		return "";
	for (i = 0; i < sizeof err_names / sizeof err_names[0]; i++) {
		if (err_names[i].code == err) {
			snprintf(buf, cap, "%s", err_names[i].msg);
			return buf;
		}
	}
	if (err >= BR_ERR_SEND_FATAL_ALERT && err < BR_ERR_SEND_FATAL_ALERT + 256) {
		an = alert_name(err - BR_ERR_SEND_FATAL_ALERT);
		snprintf(buf, cap, "sent alert %d%s%s%s",
		    err - BR_ERR_SEND_FATAL_ALERT, an ? " (" : "",
		    an ? an : "", an ? ")" : "");
	} else if (err >= BR_ERR_RECV_FATAL_ALERT &&
	    err < BR_ERR_SEND_FATAL_ALERT) {
		an = alert_name(err - BR_ERR_RECV_FATAL_ALERT);
		snprintf(buf, cap, "peer alert %d%s%s%s",
		    err - BR_ERR_RECV_FATAL_ALERT, an ? " (" : "",
		    an ? an : "", an ? ")" : "");
	} else if (err >= 32 && err < 64) {
		snprintf(buf, cap, "certificate error %d", err);
	} else {
		snprintf(buf, cap, "TLS error %d", err);
	}
	return buf;
}
