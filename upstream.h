/*
 * upstream.h - the HTTP client side of the proxy: DNS, connect, TLS,
 * keep-alive pool, request out, response in. It knows nothing of the
 * client connection that uses it; the owner of a request gets callbacks.
 *
 * A request is started with the request bytes (head and body, built by
 * the caller, borrowed until the request ends) and a target
 * (host, port, TLS). The engine resolves the host off the loop (one
 * resolver thread per host being looked up, so a hanging lookup delays
 * only requests to that host; answers cached for PX_DNS_TTL_MS, failures
 * for PX_DNS_NEG_TTL_MS), connects to each address in turn, runs the TLS
 * handshake through tls.c, writes the request, skips interim (1xx)
 * responses, parses the head and removes the body's framing (chunked,
 * Content-Length or close-delimited), calling:
 *
 *   on_head  once, with the final response head (views valid during the
 *            call only);
 *   on_data  for each run of body bytes (a view valid during the call);
 *   on_end   once when the body ended: complete=1 when the framing says
 *            it was whole, 0 when the connection closed early;
 *   on_error instead of on_end when the request failed (at any point;
 *            after on_head only for framing errors and the idle timeout).
 *
 * After on_end or on_error returns, the request is gone: the owner must
 * drop its pointer. A callback may call up_pause(), up_resume() or
 * up_cancel() on its own request. up_cancel() is silent (no callback).
 *
 * Work per turn of the loop is bounded: at most one read (PX_UP_READ bytes,
 * or one TLS record) per request per turn, so one fast upstream cannot
 * starve the others.
 *
 * A connection taken from the idle pool that fails before any byte of the
 * response arrived (the server closed it while idle) is retried once on a
 * fresh connection, transparently.
 */
#ifndef PX_UPSTREAM_H
#define PX_UPSTREAM_H

#include <stddef.h>
#include "http.h"
#include "loop.h"

#ifndef PX_UP_READ
#define PX_UP_READ      (64 * 1024)  /* shared read buffer: one read */
#endif
#ifndef PX_UP_HEAD_MAX
#define PX_UP_HEAD_MAX  (64 * 1024)  /* upstream response head */
#endif
#ifndef PX_DNS_TTL_MS
#define PX_DNS_TTL_MS     60000      /* answers cached */
#endif
#ifndef PX_DNS_NEG_TTL_MS
#define PX_DNS_NEG_TTL_MS 5000       /* failures cached */
#endif
#ifndef PX_DNS_HOSTS
#define PX_DNS_HOSTS      256        /* cache entries (hosts) */
#endif
#ifndef PX_DNS_ADDRS
#define PX_DNS_ADDRS      8          /* addresses kept per host */
#endif
#ifndef PX_POOL_IDLE_MS
#define PX_POOL_IDLE_MS   30000      /* an idle upstream connection kept */
#endif
#ifndef PX_POOL_MAX
#define PX_POOL_MAX       1024       /* idle upstream connections kept */
#endif

/* Why a request failed (on_error). */
enum up_err {
	UP_E_NONE = 0,
	UP_E_DNS,               /* lookup failed */
	UP_E_CONNECT,           /* every address refused / unreachable */
	UP_E_TLS,               /* handshake or record failure */
	UP_E_CONNECT_TIMEOUT,   /* DNS + TCP + TLS over connect_ms */
	UP_E_SEND,              /* writing the request failed */
	UP_E_CLOSED,            /* closed before a response head */
	UP_E_HEAD,              /* malformed or oversized response head */
	UP_E_FIRST_BYTE_TIMEOUT,/* no head within first_byte_ms */
	UP_E_FRAMING,           /* bad chunked encoding */
	UP_E_IDLE_TIMEOUT,      /* body idle over idle_ms */
	UP_E_NOMEM
};
const char *up_err_name(enum up_err e);   /* "dns", "connect", ... */

struct up_callbacks {
	void (*on_head)(void *ud, const struct http_resp *r);
	void (*on_data)(void *ud, const char *p, size_t n);
	void (*on_end)(void *ud, int complete);
	void (*on_error)(void *ud, enum up_err e, const char *msg);
};

/* Where to connect. The strings are borrowed until the request ends. */
struct up_target {
	const char *host;       /* name or IP literal (no brackets) */
	const char *port;       /* decimal */
	int tls;                /* https: SNI and certificate checks on host */
	const char *label;      /* for messages: "upstream <label>" */
};

struct up_timeouts {
	int connect_ms;         /* DNS + TCP + TLS handshake */
	int first_byte_ms;      /* request written -> response head */
	int idle_ms;            /* between body reads */
};

struct up_engine;
struct up_req;

/* One per loop. Returns NULL when out of memory or no pipe. */
struct up_engine *up_engine_new(struct ev_loop *l);
/* Closes idle connections and abandons lookups in flight (their threads
 * finish on their own). Requests must be gone already. */
void up_engine_free(struct up_engine *e);
/* Idle connections kept at most (0 = none). Takes effect as they return. */
void up_engine_set_pool(struct up_engine *e, int max_idle);

/*
 * Start a request. head[0..hn) is the request head (request line and
 * headers, ending with the blank line) and body[0..bn) the body that
 * follows it (may be empty); both are borrowed until on_end/on_error (or
 * up_cancel), and sent as they are, without being copied. Returns the
 * request, or NULL when out of memory (nothing is called then). The first
 * callback never runs inside up_start(): a failure known at once (a cached
 * DNS failure) is reported on the next turn.
 */
struct up_req *up_start(struct up_engine *e, const struct up_target *t,
                        const struct up_timeouts *to, const char *head,
                        size_t hn, const char *body, size_t bn,
                        const struct up_callbacks *cb, void *ud);

/* Stop reading the response (client backpressure) / read again. */
void up_pause(struct up_req *r);
void up_resume(struct up_req *r);
/* Abandon the request: its connection is closed, no callback follows. */
void up_cancel(struct up_req *r);

/* 1 when the connection came from the idle pool. */
int up_reused(const struct up_req *r);
/* Bytes of response received so far (head included). */
size_t up_received(const struct up_req *r);

/* Idle connections in the pool and lookups in flight (stats, tests). */
int up_pool_size(const struct up_engine *e);
int up_dns_pending(const struct up_engine *e);

/*
 * The TLS failure description for the last on_error of kind UP_E_TLS is in
 * its message ("certificate not trusted", "hostname mismatch", ...).
 */

#endif
