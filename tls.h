/*
 * tls.h - BearSSL glue for upstream (client) connections, driven from a
 * non-blocking poll() loop, and loading of the CA bundle into trust anchors.
 *
 * The API mirrors read()/write() on a non-blocking socket: tls_read() and
 * tls_write() run the engine and the socket I/O it needs, and never block.
 * tls_events() says what to poll for. Certificate verification is never
 * disabled.
 */
#ifndef PX_TLS_H
#define PX_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <bearssl.h>

#define TLS_AGAIN  (-2)   /* nothing can happen until poll() says so */
#define TLS_ERR    (-1)   /* connection failed; see tls_strerror() */

/*
 * Load trust anchors from a PEM bundle. path NULL: $SSL_CERT_FILE, then the
 * usual system locations (Debian, Fedora/RHEL, OpenSUSE, Alpine, ...).
 * Anchors are process-wide and read-only after loading. Returns the number
 * of anchors (> 0), or -1 with a message in err (no file, unreadable, or zero
 * certificates). Calling again replaces the previous set.
 */
int tls_load_ca(const char *path, char *err, size_t errcap);
/*
 * The same with added anchors: the base set is replace's bundle, or the
 * system's as above when replace is NULL or "", then every file of
 * add[0..nadd) is appended (each must hold at least one usable
 * certificate). Returns the number of anchors, or -1 with a message.
 */
int tls_load_ca_set(const char *replace, const char *const *add, int nadd,
                    char *err, size_t errcap);
/* Path actually loaded (for the startup line), or "" */
const char *tls_ca_path(void);

/*
 * Output records: the proxy sends small requests, so a smaller output
 * buffer only cuts a large request into more records. The input buffer
 * must hold the largest record a server may send.
 */
/* The leaf certificate is kept (to match an IP host against its iPAddress
 * SANs) up to this size; a larger one cannot match an IP host. */
#ifndef TLS_LEAF_MAX
#define TLS_LEAF_MAX 8192
#endif

#ifndef TLS_OBUF_SIZE
#define TLS_OBUF_SIZE (4096 + 85)
#endif

/* ~28 KB; allocate it, never on the stack. */
struct tls_conn {
	br_ssl_client_context sc;
	br_x509_minimal_context xc;
	unsigned char ibuf[BR_SSL_BUFSIZE_INPUT];
	unsigned char obuf[TLS_OBUF_SIZE];
	int fd;
	int err;                  /* BearSSL error, or TLS_E_* below */
	unsigned eof:1, closed:1, handshake_done:1;
	/* The X.509 engine of the handshake: xc, wrapped to match an IP host
	 * against the leaf's iPAddress SANs (BearSSL matches DNS names only) */
	const br_x509_class *xw;
	unsigned char ip[16];
	unsigned iplen;           /* 4 or 16: host is an IP literal; 0: a name */
	unsigned ncert;           /* certificates of the chain seen so far */
	size_t leaf_len;          /* bytes of the leaf in leaf[] */
	int leaf_over;            /* the leaf did not fit */
	unsigned char leaf[TLS_LEAF_MAX];
};

#define TLS_E_IO   1001        /* socket error (errno-level) */
#define TLS_E_EOF  1002        /* TCP EOF without close_notify */
#define TLS_E_IP_MISMATCH 1003 /* trusted, but no iPAddress SAN is the IP */

/*
 * Initialise for a new connection on fd to host. A name drives SNI and
 * BearSSL's name check (DNS SANs). An IP literal (v4 or v6, no brackets)
 * sends no SNI and must equal an iPAddress SAN of the trusted leaf
 * (TLS_E_IP_MISMATCH otherwise); a chain that is not trusted fails with its
 * own error first. Returns 0, or -1 (e.g. no anchors, no entropy). */
int tls_conn_init(struct tls_conn *t, int fd, const char *host);

/*
 * Queue up to n plaintext bytes and push records to the socket.
 * Returns bytes accepted (> 0), TLS_AGAIN, or TLS_ERR.
 * After the whole message is queued the engine is flushed.
 */
ssize_t tls_write(struct tls_conn *t, const void *buf, size_t n);
/* The same, but the engine is flushed after the last byte only when
 * `last` is set (a message written in several parts). */
ssize_t tls_write_part(struct tls_conn *t, const void *buf, size_t n,
                       int last);

/*
 * Read up to n plaintext bytes. Returns > 0 bytes, 0 on a clean close
 * (close_notify) or TCP EOF (t->eof set; the HTTP framing decides whether
 * the body was complete), TLS_AGAIN, or TLS_ERR.
 */
ssize_t tls_read(struct tls_conn *t, void *buf, size_t n);

/* Move pending records to the socket (after tls_write or when POLLOUT). */
int tls_flush(struct tls_conn *t);   /* 0, TLS_AGAIN, TLS_ERR */

/* poll() events the engine waits for (POLLIN, POLLOUT or both). */
short tls_events(const struct tls_conn *t);

/* 1 when decrypted bytes are already buffered: poll with timeout 0. */
int tls_pending(const struct tls_conn *t);

/* 1 once the handshake completed. */
int tls_ready(const struct tls_conn *t);

/* Send close_notify (best effort, non-blocking). */
void tls_close(struct tls_conn *t);

/* Human description: "certificate not trusted (BearSSL error 62)",
 * "certificate not valid for this IP address ...",
 * "hostname mismatch (56)", "certificate expired (54)", "peer alert N" ... */
const char *tls_strerror(int err, char *buf, size_t cap);

#endif
